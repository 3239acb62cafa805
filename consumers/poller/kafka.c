/* kafka.c: the poller's Kafka side. One producer (idempotent, acks=all, as
 * the gateway's) publishes the events and the state records; the state
 * topic (compacted, key = source, value = its last snapshot) is read whole
 * at start by a consumer of its own that assigns every partition from the
 * beginning (no group offsets: the whole topic is the state). Only the
 * poll thread produces and flushes, so delivery reports run on it. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_FLUSH_MS 30000 /* how long a publish waits for Kafka's acknowledgements */
#define PL_STATE_READ_MS 60000

struct pl_kafka {
    rd_kafka_t *rk;
    char *state_topic, *git_topic, *image_topic;
    atomic_bool up;
};

/* What one publish waits for. */
struct pending {
    size_t left;
    int failed;
    char err[256];
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct pl_kafka *k = opaque;
    struct pending *p = m->_private;
    if (m->err) {
        if (!p->failed++)
            snprintf(p->err, sizeof(p->err), "%s", rd_kafka_err2str(m->err));
    } else {
        atomic_store(&k->up, true);
    }
    p->left--;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct pl_kafka *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&k->up, false);
    HB_LOG(HB_LOG_WARN, "kafka error", HB_S("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)),
           HB_S("reason", reason));
}

void pl_kafka_free(struct pl_kafka *k)
{
    if (!k)
        return;
    if (k->rk) {
        rd_kafka_flush(k->rk, 5000);
        rd_kafka_destroy(k->rk);
    }
    free(k->state_topic);
    free(k->git_topic);
    free(k->image_topic);
    free(k);
}

struct pl_kafka *pl_kafka_new(const char *brokers, const struct hb_kv_list *props,
                              const char *state_topic, const char *git_topic,
                              const char *image_topic, char *err, size_t errlen)
{
    struct pl_kafka *k = calloc(1, sizeof(*k));
    rd_kafka_conf_t *conf = NULL;
    if (!k || !(k->state_topic = strdup(state_topic)) || !(k->git_topic = strdup(git_topic)) ||
        !(k->image_topic = strdup(image_topic))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(conf = hb_kafka_conf_new(brokers, NULL, err, errlen)))
        goto fail;
    if (rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "acks", "all", err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, errlen) != RD_KAFKA_CONF_OK)
        goto fail;
    if (hb_kafka_conf_apply(conf, props, err, errlen) < 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, k);
    if (!(k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)))
        goto fail;
    return k;
fail:
    if (conf && !(k && k->rk))
        rd_kafka_conf_destroy(conf);
    pl_kafka_free(k);
    return NULL;
}

bool pl_kafka_up(struct pl_kafka *k)
{
    return atomic_load(&k->up);
}

/* 1 when the state topic exists, 0 when not, -1 when Kafka did not say.
 * Asks for every topic: a request naming the topic could auto-create it
 * (not compacted) on a broker that allows that. */
static int state_topic_exists(struct pl_kafka *k)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(k->rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR || !md)
        return -1;
    int found = 0;
    for (int i = 0; i < md->topic_cnt && !found; i++)
        found = strcmp(md->topics[i].topic, k->state_topic) == 0;
    rd_kafka_metadata_destroy(md);
    return found;
}

int pl_kafka_ensure_state_topic(struct pl_kafka *k, char *err, size_t errlen)
{
    int rc = -1;
    char e[256];
    int exists = state_topic_exists(k);
    if (exists < 0) {
        snprintf(err, errlen, "state topic: no metadata from Kafka");
        return -1;
    }
    if (exists)
        return 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(k->state_topic, 1, -1, e, sizeof(e));
    rd_kafka_event_t *ev = NULL;
    if (!q || !nt) {
        snprintf(err, errlen, "state topic: %s", nt ? "out of memory" : e);
        goto done;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(k->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (opt)
        rd_kafka_AdminOptions_set_request_timeout(opt, 5000, e, sizeof(e));
    rd_kafka_CreateTopics(k->rk, &nt, 1, opt, q);
    ev = rd_kafka_queue_poll(q, 10000);
    if (opt)
        rd_kafka_AdminOptions_destroy(opt);
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (!res || rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "state topic not created: %s",
                 ev ? rd_kafka_event_error_string(ev) : "no answer from Kafka");
        goto done;
    }
    size_t n;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
    rd_kafka_resp_err_t te = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        snprintf(err, errlen, "state topic %s: %s", k->state_topic,
                 rd_kafka_topic_result_error_string(tr[0]));
        goto done;
    }
    if (te == RD_KAFKA_RESP_ERR_NO_ERROR)
        HB_LOG(HB_LOG_INFO, "state topic created", HB_S("topic", k->state_topic));
    rc = 0;
done:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (q)
        rd_kafka_queue_destroy(q);
    return rc;
}

int pl_kafka_read_state(struct pl_kafka *k, const char *brokers, const struct hb_kv_list *props,
                        void (*fn)(void *arg, const char *key, const char *value, size_t len),
                        void *arg, char *err, size_t errlen)
{
    int rc = -1;
    rd_kafka_t *c = NULL;
    rd_kafka_topic_t *t = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t *hi = NULL;
    rd_kafka_conf_t *conf = hb_kafka_conf_new(brokers, props, err, errlen);
    if (!conf)
        goto done;
    if (rd_kafka_conf_set(conf, "group.id", "hookbus-poller-state", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, errlen) ||
        !(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen))) {
        rd_kafka_conf_destroy(conf);
        goto done;
    }
    t = rd_kafka_topic_new(c, k->state_topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(c, 0, t, &md, 10000);
    if (e || !md || md->topic_cnt != 1) {
        snprintf(err, errlen, "state topic metadata: %s", rd_kafka_err2str(e));
        goto done;
    }
    const struct rd_kafka_metadata_topic *mt = &md->topics[0];
    if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rc = 0; /* no state yet */
        goto done;
    }
    if (mt->err) {
        snprintf(err, errlen, "state topic: %s", rd_kafka_err2str(mt->err));
        goto done;
    }
    parts = rd_kafka_topic_partition_list_new(mt->partition_cnt);
    hi = calloc((size_t)mt->partition_cnt + 1, sizeof(*hi));
    if (!parts || !hi) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    int left = 0;
    for (int i = 0; i < mt->partition_cnt; i++) {
        int32_t p = mt->partitions[i].id;
        int64_t lo = 0, h = 0;
        if (p < 0 || p >= mt->partition_cnt) /* ids are 0..n-1 */
            continue;
        e = rd_kafka_query_watermark_offsets(c, k->state_topic, p, &lo, &h, 10000);
        if (e) {
            snprintf(err, errlen, "state topic offsets: %s", rd_kafka_err2str(e));
            goto done;
        }
        hi[p] = h;
        if (h > lo) {
            rd_kafka_topic_partition_list_add(parts, k->state_topic, p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            left++;
        }
    }
    if (!left) {
        rc = 0;
        goto done;
    }
    if ((e = rd_kafka_assign(c, parts))) {
        snprintf(err, errlen, "state topic assign: %s", rd_kafka_err2str(e));
        goto done;
    }
    int64_t deadline = hb_mono_ms() + PL_STATE_READ_MS;
    long records = 0;
    while (left > 0) {
        if (hb_mono_ms() > deadline) {
            snprintf(err, errlen, "state topic: not read to its end within %d s",
                     PL_STATE_READ_MS / 1000);
            goto done;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        int32_t p = m->partition;
        bool in = p >= 0 && p < mt->partition_cnt && hi[p] >= 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (in) {
                hi[p] = -1;
                left--;
            }
        } else if (m->err) {
            snprintf(err, errlen, "state topic: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            goto done;
        } else if (in) {
            char key[HB_REPO_ID_MAX + 8];
            if (m->key && m->key_len < sizeof(key)) {
                memcpy(key, m->key, m->key_len);
                key[m->key_len] = '\0';
                fn(arg, key, m->payload, m->payload ? m->len : 0);
                records++;
            }
            if (m->offset + 1 >= hi[p]) {
                hi[p] = -1;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    HB_LOG(HB_LOG_INFO, "state read", HB_S("topic", k->state_topic), HB_I("records", records));
    rc = 0;
done:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    free(hi);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    if (c) {
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
    return rc;
}

/* Waits for every report of p; 0, or -1 with err. */
static int wait_acks(struct pl_kafka *k, struct pending *p, char *err, size_t errlen)
{
    int64_t deadline = hb_mono_ms() + PL_FLUSH_MS;
    while (p->left > 0 && hb_mono_ms() < deadline)
        rd_kafka_poll(k->rk, 100);
    if (p->left > 0) {
        /* The reports still come later and write into p: wait them out. */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        while (p->left > 0)
            rd_kafka_poll(k->rk, 100);
        snprintf(err, errlen, "Kafka did not acknowledge within %d s", PL_FLUSH_MS / 1000);
        return -1;
    }
    if (p->failed) {
        snprintf(err, errlen, "%s", p->err);
        return -1;
    }
    return 0;
}

static int produce(struct pl_kafka *k, const char *topic, const char *key, size_t key_len,
                   const void *value, size_t value_len, rd_kafka_headers_t *headers,
                   struct pending *p, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    if (e) {
        snprintf(err, errlen, "produce to %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    p->left++;
    return 0;
}

int pl_kafka_publish(struct pl_kafka *k, struct hb_event *const *evs, size_t n, char *err,
                     size_t errlen)
{
    struct pending p = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct hb_kafka_msg m = {0};
        const char *type = hb_event_get(evs[i], "type");
        const char *topic = hb_str_has_prefix(type, "dev.hookbus.git.") ? k->git_topic
                                                                        : k->image_topic;
        if (hb_kafka_encode(evs[i], HB_CE_BINARY, &m, err, errlen) < 0) {
            rc = -1;
            break;
        }
        rc = produce(k, topic, m.key, m.key_len, m.value, m.value_len, m.headers, &p, err, errlen);
        if (rc == 0)
            m.headers = NULL; /* owned by librdkafka now */
        hb_kafka_msg_clear(&m);
    }
    char werr[256];
    int wrc = wait_acks(k, &p, werr, sizeof(werr));
    if (rc == 0 && wrc < 0) {
        snprintf(err, errlen, "%s", werr);
        rc = -1;
    }
    return rc;
}

int pl_kafka_put_state(struct pl_kafka *k, const char *key, const char *value, char *err,
                       size_t errlen)
{
    struct pending p = {0};
    if (produce(k, k->state_topic, key, strlen(key), value, strlen(value), NULL, &p, err, errlen) <
        0)
        return -1;
    return wait_acks(k, &p, err, errlen);
}
