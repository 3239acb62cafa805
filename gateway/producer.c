/* producer.c: the gateway's Kafka producer: idempotent, acks=all, a poll
 * thread that runs delivery reports, and a health thread that tells /readyz
 * whether a broker answers. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

struct gw_producer {
    rd_kafka_t *rk;
    size_t max_msg; /* message.max.bytes as librdkafka took it */
    pthread_t poller, health;
    atomic_bool stop, ready;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct hb_counter *delivery_errors;
};

/* Errors that the same message meets again however often it is retried. */
static bool permanent_error(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return true;
    default:
        return false;
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct gw_producer *p = opaque;
    const char *e = m->err ? rd_kafka_err2str(m->err) : NULL;
    if (m->err)
        hb_counter_add(p->delivery_errors, 1);
    else
        atomic_store(&p->ready, true);
    struct gw_delivery *d = m->_private;
    d->done(d, e, m->err && permanent_error(m->err), rd_kafka_topic_name(m->rkt), m->partition,
            (long long)m->offset);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct gw_producer *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&p->ready, false);
    HB_LOG(err == RD_KAFKA_RESP_ERR__FATAL ? HB_LOG_ERROR : HB_LOG_WARN, "kafka error",
           HB_S("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)), HB_S("reason", reason));
}

static void *poll_main(void *arg)
{
    struct gw_producer *p = arg;
    while (!atomic_load(&p->stop))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

/* Asks for cluster metadata every 2 s; /readyz follows the answer. */
static void *health_main(void *arg)
{
    struct gw_producer *p = arg;
    while (!atomic_load(&p->stop)) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, NULL, &md, 2000);
        bool up = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (up != atomic_exchange(&p->ready, up))
            HB_LOG(up ? HB_LOG_INFO : HB_LOG_WARN, up ? "kafka reachable" : "kafka unreachable");
        pthread_mutex_lock(&p->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 2;
        if (!atomic_load(&p->stop))
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

struct gw_producer *gw_producer_new(const struct gw_config *cfg, const char *brokers,
                                    struct hb_metrics *metrics, char *err, size_t errlen)
{
    char num[32];
    struct gw_producer *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->delivery_errors = hb_metrics_counter(metrics, "hookbus_gateway_kafka_delivery_errors_total",
                                            "Messages Kafka did not acknowledge", NULL);
    rd_kafka_conf_t *conf = hb_kafka_conf_new(brokers, &cfg->kafka_props, err, errlen);
    if (!conf)
        goto fail;
    snprintf(num, sizeof(num), "%ld", cfg->delivery_timeout_ms);
    /* Durability is not negotiable: these beat kafka.properties. */
    if (rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "acks", "all", err, errlen) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", num, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* A webhook waits for its acknowledgement, so batching time is latency:
     * librdkafka's 5 ms default linger dominated p50/p99 in bench/. 1 ms
     * unless kafka.properties says otherwise (0 loses batching under load). */
    bool linger_set = false;
    for (size_t i = 0; i < cfg->kafka_props.n; i++)
        linger_set |= strcmp(cfg->kafka_props.keys[i], "linger.ms") == 0 ||
                      strcmp(cfg->kafka_props.keys[i], "queue.buffering.max.ms") == 0;
    if (!linger_set && rd_kafka_conf_set(conf, "linger.ms", "1", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    char val[32];
    size_t vlen = sizeof(val);
    long mm;
    if (rd_kafka_conf_get(rd_kafka_conf(p->rk), "message.max.bytes", val, &vlen) !=
            RD_KAFKA_CONF_OK ||
        hb_parse_long(val, 1, LONG_MAX, &mm) < 0) {
        snprintf(err, errlen, "cannot read kafka message.max.bytes");
        goto fail;
    }
    p->max_msg = (size_t)mm;
    if (pthread_create(&p->poller, NULL, poll_main, p) != 0) {
        snprintf(err, errlen, "cannot start the producer thread");
        goto fail;
    }
    if (pthread_create(&p->health, NULL, health_main, p) != 0) {
        atomic_store(&p->stop, true);
        pthread_join(p->poller, NULL);
        snprintf(err, errlen, "cannot start the health thread");
        goto fail;
    }
    return p;
fail:
    if (p->rk)
        rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    return NULL;
}

int gw_producer_send(struct gw_producer *p, const char *topic, struct hb_kafka_msg *msg,
                     struct gw_delivery *d)
{
    rd_kafka_headers_t *h = msg->headers;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(msg->key, msg->key_len),
        RD_KAFKA_V_VALUE(msg->value, msg->value_len), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e) {
        hb_counter_add(p->delivery_errors, 1);
        d->done(d, rd_kafka_err2str(e), permanent_error(e), topic, -1, -1);
        return -1;
    }
    msg->headers = NULL; /* owned by librdkafka now */
    return 0;
}

/* Room kept for the record's framing (lengths, attributes, timestamp) and
 * the batch header a broker counts against its own limit. */
#define RECORD_OVERHEAD 512

int gw_producer_check_size(const struct gw_producer *p, const struct hb_kafka_msg *msg,
                           char *err, size_t errlen)
{
    size_t n = msg->key_len + msg->value_len + RECORD_OVERHEAD;
    size_t nh = msg->headers ? rd_kafka_header_cnt(msg->headers) : 0;
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        const void *val;
        size_t vlen;
        if (!rd_kafka_header_get_all(msg->headers, i, &name, &val, &vlen))
            n += strlen(name) + vlen + 10; /* two varint lengths */
    }
    if (n <= p->max_msg)
        return 0;
    snprintf(err, errlen, "event too large for kafka: about %zu bytes encoded, over "
             "message.max.bytes %zu (include_original doubles an event's size)",
             n, p->max_msg);
    return -1;
}

bool gw_producer_ready(struct gw_producer *p)
{
    return atomic_load(&p->ready);
}

int gw_producer_flush(struct gw_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return rd_kafka_outq_len(p->rk);
}

void gw_producer_free(struct gw_producer *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_mutex_lock(&p->lock);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->poller, NULL);
    pthread_join(p->health, NULL);
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
