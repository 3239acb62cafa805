/* kafka_client.c: librdkafka configuration helpers and the embedded mock
 * cluster (kafka.brokers: embedded, tests/tools/mock-kafka). */
#include "hookbus/kafka.h"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/log.h"
#include "hookbus/util.h"

void hb_kv_list_free(struct hb_kv_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->keys[i]);
        free(l->values[i]);
    }
    free(l->keys);
    free(l->values);
    memset(l, 0, sizeof(*l));
}

int hb_kv_list_add(struct hb_kv_list *l, const char *k, const char *v)
{
    char **nk = realloc(l->keys, (l->n + 1) * sizeof(char *));
    if (!nk)
        return -1;
    l->keys = nk;
    char **nv = realloc(l->values, (l->n + 1) * sizeof(char *));
    if (!nv)
        return -1;
    l->values = nv;
    l->keys[l->n] = strdup(k);
    l->values[l->n] = strdup(v);
    if (!l->keys[l->n] || !l->values[l->n]) {
        free(l->keys[l->n]);
        free(l->values[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

/* librdkafka's log lines, through our logger (errors as warnings, the rest
 * at debug). */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 4)
        HB_LOG(HB_LOG_WARN, "librdkafka", HB_S("facility", fac), HB_S("detail", buf));
    else
        HB_LOG(HB_LOG_DEBUG, "librdkafka", HB_S("facility", fac), HB_S("detail", buf));
}

int hb_kafka_conf_apply(rd_kafka_conf_t *conf, const struct hb_kv_list *props, char *err,
                        size_t errlen)
{
    for (size_t i = 0; props && i < props->n; i++) {
        char e[256];
        if (rd_kafka_conf_set(conf, props->keys[i], props->values[i], e, sizeof(e)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka.properties.%s: %s", props->keys[i], e);
            return -1;
        }
    }
    return 0;
}

rd_kafka_conf_t *hb_kafka_conf_new(const char *brokers, const struct hb_kv_list *props, char *err,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, errlen) != RD_KAFKA_CONF_OK)
        goto fail;
    if (hb_kafka_conf_apply(conf, props, err, errlen) < 0)
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* A few events in flight is all a webhook consumer needs: what it does not
 * prefetch it reads on the next fetch, a round trip later. A message larger
 * than these limits is still fetched whole (the broker returns the first
 * record batch of a fetch whatever its size). */
static const char *const consumer_defaults[][2] = {
    {"queued.max.messages.kbytes", "1024"},  /* librdkafka: 65536 */
    {"queued.min.messages", "100"},          /* per partition; librdkafka: 100000 */
    {"fetch.max.bytes", "1048576"},          /* librdkafka: 52428800 */
    {"max.partition.fetch.bytes", "262144"}, /* librdkafka: 1048576 */
};

int hb_kafka_consumer_defaults(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(consumer_defaults); i++)
        if (rd_kafka_conf_set(conf, consumer_defaults[i][0], consumer_defaults[i][1], err,
                              errlen) != RD_KAFKA_CONF_OK)
            return -1;
    return 0;
}

static long conf_long(rd_kafka_conf_t *conf, const char *name)
{
    char v[64];
    size_t vl = sizeof(v);
    long n;
    if (rd_kafka_conf_get(conf, name, v, &vl) != RD_KAFKA_CONF_OK ||
        hb_parse_long(v, 0, 0x7fffffffffffffffL, &n) < 0)
        return -1;
    return n;
}

int hb_kafka_consumer_fit(rd_kafka_conf_t *conf, const struct hb_kv_list *props, char *err,
                          size_t errlen)
{
    for (size_t i = 0; props && i < props->n; i++)
        if (strcmp(props->keys[i], "fetch.max.bytes") == 0)
            return 0;
    long msg = conf_long(conf, "message.max.bytes"), fetch = conf_long(conf, "fetch.max.bytes");
    if (msg <= fetch)
        return 0;
    char v[32];
    snprintf(v, sizeof(v), "%ld", msg);
    return rd_kafka_conf_set(conf, "fetch.max.bytes", v, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

struct hb_mock_cluster {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int brokers;
};

struct hb_mock_cluster *hb_mock_cluster_start(int brokers, char *err, size_t errlen)
{
    struct hb_mock_cluster *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the cluster; keep it quiet. */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    m->brokers = brokers;
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        snprintf(err, errlen, "cannot start the mock Kafka cluster");
        goto fail;
    }
    return m;
fail:
    if (m->rk)
        rd_kafka_destroy(m->rk);
    free(m);
    return NULL;
}

const char *hb_mock_cluster_bootstraps(const struct hb_mock_cluster *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->mc);
}

int hb_mock_cluster_create_topic(struct hb_mock_cluster *m, const char *topic, int partitions)
{
    int rf = m->brokers < 3 ? m->brokers : 3;
    return rd_kafka_mock_topic_create(m->mc, topic, partitions, rf) ? -1 : 0;
}

void *hb_mock_cluster_handle(struct hb_mock_cluster *m)
{
    return m->mc;
}

void hb_mock_cluster_stop(struct hb_mock_cluster *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}
