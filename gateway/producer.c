/* producer.c: the gateway's Kafka producer: idempotent, acks=all, a poll
 * thread that runs delivery reports, and a health thread that tells /readyz
 * whether a broker answers and whether the configured topics exist. */
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

#define GW_NTOPICS 3

struct gw_producer {
    rd_kafka_t *rk;
    size_t max_msg; /* message.max.bytes as librdkafka took it */
    pthread_t poller, health;
    atomic_bool stop, ready;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct hb_counter *delivery_errors;
    struct hb_gauge *reachable; /* what the health thread last saw: 1 or 0 */
    /* The configured topics (git, image, other) and whether the cluster said
     * the topic does not exist at the last check (auto-creation off). */
    rd_kafka_topic_t *rkts[GW_NTOPICS];
    atomic_bool missing[GW_NTOPICS];
    int unknown[GW_NTOPICS]; /* consecutive "unknown topic" answers (health thread) */
    /* The error of the latest delivery report (0: it was acknowledged), so
     * /readyz can say why answers come from the spool. */
    atomic_int last_error;
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
    case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
    default: return false;
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct gw_producer *p = opaque;
    const char *e = m->err ? rd_kafka_err2str(m->err) : NULL;
    atomic_store(&p->last_error, (int)m->err);
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

/* Asks the cluster about topic i; records (and logs, on a change) whether it
 * exists. A topic the brokers would auto-create is created by this request,
 * as the first message would. Unanswered requests change nothing. */
static void check_topic(struct gw_producer *p, size_t i)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, p->rkts[i], &md, 2000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->topic_cnt == 1) {
        rd_kafka_resp_err_t te = md->topics[0].err;
        /* Two answers in a row (2 s apart): a topic created a moment ago
         * may not be in every broker's metadata yet. */
        p->unknown[i] = te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? p->unknown[i] + 1 : 0;
        bool missing = p->unknown[i] >= 2;
        if (missing != atomic_exchange(&p->missing[i], missing)) {
            if (missing)
                HB_LOG(HB_LOG_ERROR, "kafka topic does not exist (auto-creation is off?)",
                       HB_S("topic", rd_kafka_topic_name(p->rkts[i])),
                       HB_S("fix", "hookbus-gateway --config FILE topics"));
            else
                HB_LOG(HB_LOG_INFO, "kafka topic exists",
                       HB_S("topic", rd_kafka_topic_name(p->rkts[i])));
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
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
        hb_gauge_set(p->reachable, up ? 1 : 0);
        if (up != atomic_exchange(&p->ready, up))
            HB_LOG(up ? HB_LOG_INFO : HB_LOG_WARN, up ? "kafka reachable" : "kafka unreachable");
        for (size_t i = 0; up && i < GW_NTOPICS && !atomic_load(&p->stop); i++)
            check_topic(p, i);
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
    p->reachable = hb_metrics_gauge(metrics, "hookbus_gateway_kafka_reachable",
                                    "1 when a broker answered the last metadata request (every "
                                    "2 s), else 0",
                                    NULL);
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
    const char *topics[GW_NTOPICS] = {cfg->topic_git, cfg->topic_image, cfg->topic_other};
    for (size_t i = 0; i < GW_NTOPICS; i++) {
        p->rkts[i] = rd_kafka_topic_new(p->rk, topics[i], NULL);
        if (!p->rkts[i]) {
            snprintf(err, errlen, "topic %s: %s", topics[i],
                     rd_kafka_err2str(rd_kafka_last_error()));
            goto fail;
        }
    }
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
    for (size_t i = 0; i < GW_NTOPICS; i++)
        if (p->rkts[i])
            rd_kafka_topic_destroy(p->rkts[i]);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    return NULL;
}

/* The index of a configured topic that the cluster said does not exist, or -1. */
static int missing_topic(struct gw_producer *p, const char *topic)
{
    for (size_t i = 0; i < GW_NTOPICS; i++)
        if (atomic_load(&p->missing[i]) && strcmp(rd_kafka_topic_name(p->rkts[i]), topic) == 0)
            return (int)i;
    return -1;
}

int gw_producer_send(struct gw_producer *p, const char *topic, struct hb_kafka_msg *msg,
                     struct gw_delivery *d)
{
    /* Not worth queueing: librdkafka would hold it until message.timeout.ms.
     * Not permanent either: the topic may be created, and a spooled event is
     * then replayed. */
    if (missing_topic(p, topic) >= 0) {
        hb_counter_add(p->delivery_errors, 1);
        d->done(d, "topic does not exist", false, topic, -1, -1);
        return -1;
    }
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

int gw_producer_check_size(const struct gw_producer *p, const struct hb_kafka_msg *msg, char *err,
                           size_t errlen)
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
    snprintf(err, errlen,
             "event too large for kafka: about %zu bytes encoded, over "
             "message.max.bytes %zu (include_original doubles an event's size)",
             n, p->max_msg);
    return -1;
}

bool gw_producer_ready(struct gw_producer *p)
{
    return atomic_load(&p->ready);
}

int gw_producer_last_error(struct gw_producer *p, char *why, size_t whylen)
{
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)atomic_load(&p->last_error);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    /* librdkafka's fixed texts: no quotes or backslashes to escape. */
    snprintf(why, whylen, "last delivery failed: %s (%s)", rd_kafka_err2name(e),
             rd_kafka_err2str(e));
    for (char *c = why; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '?';
    return -1;
}

int gw_producer_topic_problem(struct gw_producer *p, char *why, size_t whylen)
{
    for (size_t i = 0; i < GW_NTOPICS; i++) {
        if (!atomic_load(&p->missing[i]))
            continue;
        /* Named in a JSON body: only the characters Kafka allows in a name. */
        char name[250];
        hb_strlcpy(name, rd_kafka_topic_name(p->rkts[i]), sizeof(name));
        for (char *c = name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
                *c = '?';
        snprintf(why, whylen, "kafka topic %s does not exist", name);
        return -1;
    }
    return 0;
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
    for (size_t i = 0; i < GW_NTOPICS; i++)
        rd_kafka_topic_destroy(p->rkts[i]);
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
