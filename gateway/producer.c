/* producer.c: the gateway's Kafka producer: idempotent, acks=all, its
 * delivery reports, and a health thread that tells /readyz whether a broker
 * answers and whether the configured topics exist and have a leader.
 *
 * Delivery reports: librdkafka writes to an eventfd when reports arrive on
 * its main queue (io events). While the HTTP workers run, they hold that fd
 * in their event loops and run the reports themselves
 * (gw_producer_serve_reports), so a request is answered on the thread that
 * owns its connection. Before they start (the spool's replay begins first)
 * and after they stop, a poll thread of this file runs them instead:
 * gw_producer_reports_take stops it, gw_producer_reports_give_back starts it
 * again. Either way each report runs exactly once (rd_kafka_poll pops it).
 *
 * Messages are produced on topic handles, never by name: a handle created
 * at start (and on reload for a new topic name) makes librdkafka ask for the
 * topic's metadata at once, so the first webhook does not wait for the next
 * topic scan (up to topic.metadata.refresh.interval.ms). Handles are kept in
 * an append-only table that senders read without a lock.
 *
 * The producer id: an idempotent producer sends nothing before the cluster
 * gave it one (InitProducerId). A broker that has no block of ids yet
 * answers "coordinator load in progress" and librdkafka asks again 500 ms
 * later, so on a fresh cluster the first webhooks after a start waited half
 * a second; a cluster that refuses the producer an id (authorization)
 * never gives one. librdkafka says which state it is in only in its
 * statistics, so they are on (every statistics.interval.ms, 1 s by default
 * here) and /readyz waits for the first id. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gateway.h"
#include "hookbus/fault.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define GW_NTOPICS 3     /* configured topics: git, image, other */
#define GW_TOPICS_MAX 64 /* handles kept: the configured ones of every reload */

/* One topic handle and what the health thread last learned about it. */
struct gw_topic {
    rd_kafka_topic_t *rkt;
    atomic_bool missing; /* the cluster said it does not exist (auto-creation off) */
    atomic_bool known;   /* metadata was seen with a leader for every partition */
    int unknown;         /* consecutive "unknown topic" answers (health thread) */
};

struct gw_producer {
    rd_kafka_t *rk;
    size_t max_msg; /* message.max.bytes as librdkafka took it */
    pthread_t poller, health;
    bool polling;          /* the poll thread runs (new, take, give_back, free: main thread) */
    atomic_bool poll_stop; /* asks the poll thread to end */
    int reports_fd;        /* eventfd: librdkafka writes when reports arrive */
    bool reports_late;     /* tests (fault injection): reports wait for the workers */
    atomic_bool stop, ready;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct hb_counter *delivery_errors;
    struct hb_gauge *reachable; /* what the health thread last saw: 1 or 0 */
    /* Topic handles, appended under topics_lock and published by ntopics
     * (release); readers scan [0, ntopics) without a lock. cur: the
     * indexes of the current configuration's topics (git, image, other). */
    struct gw_topic topics[GW_TOPICS_MAX];
    atomic_size_t ntopics;
    pthread_mutex_t topics_lock;
    atomic_int cur[GW_NTOPICS];
    atomic_bool checked; /* the health thread had a first cluster answer (or none in 2 s) */
    /* The error of the latest delivery report (0: it was acknowledged), so
     * /readyz can say why answers come from the spool. */
    atomic_int last_error;
    /* The producer id (see the top): assigned once, or no statistics to
     * tell (statistics.interval.ms 0 in kafka.properties). pid_state: the
     * idempotence state of the latest statistics (under lock). */
    atomic_bool pid_assigned;
    char pid_state[32];
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

/* librdkafka's statistics: read until the producer id is assigned. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    struct gw_producer *p = opaque;
    if (atomic_load(&p->pid_assigned))
        return 0; /* librdkafka frees json */
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(root, "eos");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(eos, "idemp_state");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(eos, "producer_id");
    if (cJSON_IsString(state)) {
        pthread_mutex_lock(&p->lock);
        hb_strlcpy(p->pid_state, state->valuestring, sizeof(p->pid_state));
        pthread_mutex_unlock(&p->lock);
        if (strcmp(state->valuestring, "Assigned") == 0) {
            atomic_store(&p->pid_assigned, true);
            HB_LOG(HB_LOG_INFO, "kafka producer id assigned",
                   HB_I("producer_id", cJSON_IsNumber(id) ? (long long)id->valuedouble : -1));
        }
    }
    cJSON_Delete(root);
    return 0;
}

/* Runs delivery reports while no HTTP worker does (see the top). */
static void *poll_main(void *arg)
{
    struct gw_producer *p = arg;
    pthread_setname_np(pthread_self(), "gw-reports");      /* gone while the workers run them */
    while (p->reports_late && !atomic_load(&p->poll_stop)) /* tests: a thread never scheduled */
        usleep(1000);
    while (!atomic_load(&p->poll_stop))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

static int start_polling(struct gw_producer *p)
{
    atomic_store(&p->poll_stop, false);
    if (pthread_create(&p->poller, NULL, poll_main, p) != 0)
        return -1;
    p->polling = true;
    return 0;
}

static void stop_polling(struct gw_producer *p)
{
    if (!p->polling)
        return;
    atomic_store(&p->poll_stop, true);
    rd_kafka_yield(p->rk); /* ends a rd_kafka_poll waiting on an empty queue */
    pthread_join(p->poller, NULL);
    p->polling = false;
}

/* How many elements librdkafka's main queue holds (reports, errors). */
static size_t main_queue_len(struct gw_producer *p)
{
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(p->rk);
    size_t n = rd_kafka_queue_length(q);
    rd_kafka_queue_destroy(q);
    return n;
}

/* Makes librdkafka write to p->reports_fd when its main queue (delivery
 * reports, errors) gets an element after having been served; fd -1 stops it. */
static void reports_io_event(struct gw_producer *p, int fd)
{
    static const uint64_t one = 1; /* what an eventfd takes */
    rd_kafka_queue_t *q = rd_kafka_queue_get_main(p->rk);
    rd_kafka_queue_io_event_enable(q, fd, fd < 0 ? NULL : &one, fd < 0 ? 0 : sizeof(one));
    rd_kafka_queue_destroy(q);
}

/* Asks the cluster about topic t; records (and logs, on a change) whether it
 * exists and whether every partition has a leader. A topic the brokers
 * would auto-create is created by this request, as the first message would.
 * Unanswered requests change nothing. */
static void check_topic(struct gw_topic *t, rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t->rkt, &md, 2000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->topic_cnt == 1) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[0];
        /* Two answers in a row (2 s apart): a topic created a moment ago
         * may not be in every broker's metadata yet. */
        t->unknown = mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? t->unknown + 1 : 0;
        bool led = mt->err == RD_KAFKA_RESP_ERR_NO_ERROR && mt->partition_cnt > 0;
        for (int i = 0; led && i < mt->partition_cnt; i++)
            led = mt->partitions[i].leader >= 0;
        if (led) /* once: /readyz waits for the first, a failover later is not this */
            atomic_store(&t->known, true);
        bool missing = t->unknown >= 2;
        if (missing != atomic_exchange(&t->missing, missing)) {
            if (missing)
                HB_LOG(HB_LOG_ERROR, "kafka topic does not exist (auto-creation is off?)",
                       HB_S("topic", rd_kafka_topic_name(t->rkt)),
                       HB_S("fix", "hookbus-gateway --config FILE topics"));
            else
                HB_LOG(HB_LOG_INFO, "kafka topic exists",
                       HB_S("topic", rd_kafka_topic_name(t->rkt)));
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
}

/* The handle of the current configuration's topic i (0 git, 1 image, 2 other). */
static struct gw_topic *cur_topic(struct gw_producer *p, size_t i)
{
    return &p->topics[atomic_load(&p->cur[i])];
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
        /* The cluster answered or not: /readyz is past "starting" either way
         * (the topic checks below can each wait 2 s when Kafka just left). */
        atomic_store(&p->checked, true);
        for (size_t i = 0; up && i < GW_NTOPICS && !atomic_load(&p->stop); i++)
            check_topic(cur_topic(p, i), p->rk);
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

/* Whether kafka.properties names key. */
static bool prop_set(const struct gw_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->kafka_props.n; i++)
        if (strcmp(cfg->kafka_props.keys[i], key) == 0)
            return true;
    return false;
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
    pthread_mutex_init(&p->topics_lock, NULL);
    p->reports_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->reports_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", HB_STRERROR(errno));
        goto fail;
    }
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
    bool linger_set = prop_set(cfg, "linger.ms") || prop_set(cfg, "queue.buffering.max.ms");
    if (!linger_set && rd_kafka_conf_set(conf, "linger.ms", "1", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* The producer id's state (see the top), unless kafka.properties sets
     * the interval: 1 s is librdkafka's granularity. */
    if (!prop_set(cfg, "statistics.interval.ms") &&
        rd_kafka_conf_set(conf, "statistics.interval.ms", "1000", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    hb_strlcpy(p->pid_state, "Init", sizeof(p->pid_state));
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
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
    vlen = sizeof(val);
    if (rd_kafka_conf_get(rd_kafka_conf(p->rk), "statistics.interval.ms", val, &vlen) ==
            RD_KAFKA_CONF_OK &&
        strcmp(val, "0") == 0)
        atomic_store(&p->pid_assigned, true); /* no statistics: nothing would tell */
    if (gw_producer_use_topics(p, cfg, err, errlen) < 0)
        goto fail;
    /* Tests: reports queued before librdkafka is told to announce them (an
     * unreachable broker's errors come that early) and not served before the
     * workers take over; see gw_producer_reports_take. */
    p->reports_late = hb_fault("producer.reports_late");
    for (int i = 0; p->reports_late && i < 2000 && !main_queue_len(p); i++)
        usleep(1000);
    reports_io_event(p, p->reports_fd);
    if (start_polling(p) < 0) {
        snprintf(err, errlen, "cannot start the producer thread");
        goto fail;
    }
    if (pthread_create(&p->health, NULL, health_main, p) != 0) {
        stop_polling(p);
        snprintf(err, errlen, "cannot start the health thread");
        goto fail;
    }
    return p;
fail:
    for (size_t i = 0; i < atomic_load(&p->ntopics); i++)
        rd_kafka_topic_destroy(p->topics[i].rkt);
    if (p->rk) {
        reports_io_event(p, -1);
        rd_kafka_destroy(p->rk);
    }
    if (p->reports_fd >= 0)
        close(p->reports_fd);
    pthread_mutex_destroy(&p->topics_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    return NULL;
}

/* The index of topic's handle, or -1 (lock-free: entries below ntopics
 * never change). */
static int find_topic(struct gw_producer *p, const char *topic)
{
    size_t n = atomic_load_explicit(&p->ntopics, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_kafka_topic_name(p->topics[i].rkt), topic) == 0)
            return (int)i;
    return -1;
}

/* The index of topic's handle, created (and its metadata asked for) when
 * new; -1 with err when the table is full or librdkafka refuses the name. */
static int topic_handle(struct gw_producer *p, const char *topic, char *err, size_t errlen)
{
    int i = find_topic(p, topic);
    if (i >= 0)
        return i;
    pthread_mutex_lock(&p->topics_lock);
    i = find_topic(p, topic); /* another thread may have created it meanwhile */
    size_t n = atomic_load(&p->ntopics);
    if (i < 0 && n == GW_TOPICS_MAX) {
        snprintf(err, errlen, "more than %d kafka topics", GW_TOPICS_MAX);
    } else if (i < 0) {
        struct gw_topic *t = &p->topics[n];
        t->rkt = rd_kafka_topic_new(p->rk, topic, NULL);
        if (t->rkt) {
            atomic_init(&t->missing, false);
            atomic_init(&t->known, false);
            t->unknown = 0;
            i = (int)n;
            atomic_store_explicit(&p->ntopics, n + 1, memory_order_release);
        } else {
            snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        }
    }
    pthread_mutex_unlock(&p->topics_lock);
    return i;
}

int gw_producer_use_topics(struct gw_producer *p, const struct gw_config *cfg, char *err,
                           size_t errlen)
{
    const char *names[GW_NTOPICS] = {cfg->topic_git, cfg->topic_image, cfg->topic_other};
    int idx[GW_NTOPICS];
    for (size_t i = 0; i < GW_NTOPICS; i++)
        if ((idx[i] = topic_handle(p, names[i], err, errlen)) < 0)
            return -1;
    bool changed = false;
    for (size_t i = 0; i < GW_NTOPICS; i++)
        changed |= atomic_exchange(&p->cur[i], idx[i]) != idx[i];
    if (changed) { /* the health thread checks the new ones now, not in 2 s */
        pthread_mutex_lock(&p->lock);
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
    return 0;
}

int gw_producer_send(struct gw_producer *p, const char *topic, struct hb_kafka_msg *msg,
                     struct gw_delivery *d)
{
    char err[128];
    int ti = topic_handle(p, topic, err, sizeof(err));
    if (ti < 0) {
        hb_counter_add(p->delivery_errors, 1);
        d->done(d, err, false, topic, -1, -1);
        return -1;
    }
    struct gw_topic *t = &p->topics[ti];
    /* Not worth queueing: librdkafka would hold it until message.timeout.ms.
     * Not permanent either: the topic may be created, and a spooled event is
     * then replayed. */
    if (atomic_load(&t->missing)) {
        hb_counter_add(p->delivery_errors, 1);
        d->done(d, "topic does not exist", false, topic, -1, -1);
        return -1;
    }
    rd_kafka_headers_t *h = msg->headers;
    /* The value is handed over (RD_KAFKA_MSG_F_FREE: librdkafka frees it
     * with free() once delivered), the key copied. */
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_KEY(msg->key, msg->key_len),
        RD_KAFKA_V_VALUE(msg->value, msg->value_len), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e) {
        hb_counter_add(p->delivery_errors, 1);
        d->done(d, rd_kafka_err2str(e), permanent_error(e), topic, -1, -1);
        return -1;
    }
    msg->headers = NULL; /* owned by librdkafka now, and the value */
    msg->value = NULL;
    msg->value_len = 0;
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

/* Topic names in a JSON body: only the characters Kafka allows in a name. */
static void safe_name(const struct gw_topic *t, char *name, size_t len)
{
    hb_strlcpy(name, rd_kafka_topic_name(t->rkt), len);
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            *c = '?';
}

int gw_producer_topic_problem(struct gw_producer *p, char *why, size_t whylen)
{
    char name[250];
    if (!atomic_load(&p->checked)) {
        hb_strlcpy(why, "starting: waiting for kafka metadata", whylen);
        return -1;
    }
    for (size_t i = 0; i < GW_NTOPICS; i++) {
        struct gw_topic *t = cur_topic(p, i);
        if (atomic_load(&t->missing)) {
            safe_name(t, name, sizeof(name));
            snprintf(why, whylen, "kafka topic %s does not exist", name);
            return -1;
        }
    }
    /* Unreachable or failing Kafka is the spool's case (ready, degraded),
     * not this. */
    bool answering = atomic_load(&p->ready) && atomic_load(&p->last_error) == 0;
    for (size_t i = 0; answering && i < GW_NTOPICS; i++) {
        struct gw_topic *t = cur_topic(p, i);
        if (!atomic_load(&t->known)) {
            safe_name(t, name, sizeof(name));
            snprintf(why, whylen, "kafka topic %s: no metadata with a leader yet", name);
            return -1;
        }
    }
    return 0;
}

int gw_producer_pid_problem(struct gw_producer *p, char *why, size_t whylen)
{
    if (atomic_load(&p->pid_assigned))
        return 0;
    char state[sizeof(p->pid_state)];
    pthread_mutex_lock(&p->lock);
    memcpy(state, p->pid_state, sizeof(state));
    pthread_mutex_unlock(&p->lock);
    for (char *c = state; *c; c++) /* librdkafka's names: letters only */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            *c = '?';
    snprintf(why, whylen,
             "kafka has not given the idempotent producer its id yet (librdkafka state %s)", state);
    return -1;
}

int gw_producer_reports_take(struct gw_producer *p)
{
    stop_polling(p);
    /* One wake of our own. librdkafka writes the fd only when its queue goes
     * from empty to one element, and not again until the queue is served:
     * reports queued before the io event was enabled, or left by the poll
     * thread when it stopped, would otherwise wait unannounced, and every
     * later one behind them (a gateway started with Kafka down answered
     * nothing). The first worker serves them; from then on each serve that
     * empties the queue re-arms the announcement. */
    static const uint64_t one = 1;
    ssize_t put = write(p->reports_fd, &one, sizeof(one));
    (void)put; /* EAGAIN only with the counter full: readable anyway */
    return p->reports_fd;
}

void gw_producer_reports_give_back(struct gw_producer *p)
{
    if (!p->polling && start_polling(p) < 0)
        HB_LOG(HB_LOG_ERROR, "cannot restart the producer thread: delivery reports now run "
                             "only in the final flush");
}

int gw_producer_serve_reports(struct gw_producer *p)
{
    uint64_t n;
    int served = 0, k;
    /* Read first: a report that arrives while the queue is served below
     * writes the fd again, so it is never left unannounced. */
    ssize_t got = read(p->reports_fd, &n, sizeof(n));
    (void)got; /* EAGAIN: another worker read it; the queue is served anyway */
    while ((k = rd_kafka_poll(p->rk, 0)) > 0)
        served += k;
    return served;
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
    stop_polling(p);
    pthread_join(p->health, NULL);
    for (size_t i = 0; i < atomic_load(&p->ntopics); i++)
        rd_kafka_topic_destroy(p->topics[i].rkt);
    reports_io_event(p, -1);
    rd_kafka_destroy(p->rk);
    close(p->reports_fd);
    pthread_mutex_destroy(&p->topics_lock);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
