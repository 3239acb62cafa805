/* consumer_config.c: the configuration every consumer shares (DESIGN
 * section 5), declared once as a field table (defaults, HOOKBUS_* overrides,
 * bounds), plus kafka.topics, kafka.properties and filter. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/consumer.h"
#include "hookbus/filter.h"
#include "hookbus/util.h"

#define F(...) HB_FIELD(struct hb_consumer_config, __VA_ARGS__)

static const struct hb_field consumer_fields[] = {
    F("kafka.brokers", HB_F_STRING, brokers, "localhost:9092", 0, 0,
      "bootstrap list; @FILE reads it from a file; `embedded` reads "
      "kafka.embedded_bootstrap_file"),
    F("kafka.group", HB_F_STRING, group, "", 0, 0, "consumer group (default: the program name)"),
    F("kafka.topics", HB_F_LIST, topics, "[hookbus.git, hookbus.image, hookbus.other]", 0, 0,
      "topics to read (HOOKBUS_KAFKA_TOPICS: comma-separated)"),
    F("kafka.properties", HB_F_MAP, kafka_props, "{}", 0, 0,
      "librdkafka consumer properties, e.g. {security.protocol: ssl}"),
    F("kafka.embedded_bootstrap_file", HB_F_STRING, embedded_bootstrap_file, "", 0, 0,
      "the bootstrap file a gateway with kafka.brokers: embedded writes"),
    F("filter", HB_F_LIST, filter, "[]", 0, 0,
      "CloudEvents Subscriptions API filters (exact, prefix, suffix, all, any, not, sql); "
      "all must match; []: every event"),
    F("dedup_window", HB_F_DURATION, dedup_window_ms, "10m", 0, 7L * 24 * 3600 * 1000,
      "act once per event id (source + id) within this window; 0: off"),
    F("debounce", HB_F_DURATION, debounce_ms, "0", 0, 3600 * 1000,
      "events for the same key within this window cause one action"),
    F("retry.max_attempts", HB_F_INT, retry_max_attempts, "8", 1, 1000,
      "attempts before an event is dead-lettered"),
    F("retry.initial_backoff", HB_F_DURATION, retry_initial_backoff_ms, "500ms", 1, 3600 * 1000,
      "wait before the first retry"),
    F("retry.max_backoff", HB_F_DURATION, retry_max_backoff_ms, "60s", 1, 24L * 3600 * 1000,
      "longest wait between retries"),
    F("dead_letter_topic", HB_F_STRING, dead_letter_topic, "hookbus.dlq", 0, 0,
      "where undecodable and failed events go (\"\": log and skip)"),
    F("admin_listen", HB_F_STRING, admin_listen, "127.0.0.1:9090", 0, 0,
      "/healthz, /readyz, /metrics (\"\": off)"),
    F("concurrency", HB_F_INT, concurrency, "4", 1, 256, "actions running at once"),
    F("max_in_flight", HB_F_INT, max_in_flight, "1000", 1, 1000000,
      "messages held before consumption pauses"),
    F("drain_timeout", HB_F_DURATION, drain_timeout_ms, "30s", 0, 3600 * 1000,
      "on SIGTERM or rebalance, how long running actions may take to finish"),
    F("max_in_flight_bytes", HB_F_INT, max_in_flight_bytes, "16777216", 1024, 1L << 40,
      "bytes of messages held (raw and decoded) before consumption pauses"),
    F("recent_events", HB_F_INT, recent_events, "200", 0, 100000,
      "recent events and their decisions shown at /api/v1/events and /ui/ (0: none)"),
    F("admin.token", HB_F_STRING, admin_token_ref, "", 0, 0,
      "secret reference of the bearer token for /api/ and /ui/ (without one they are served "
      "on a loopback admin_listen only)"),
};

void hb_consumer_config_help(FILE *out)
{
    hb_config_help(out, "", "", consumer_fields, HB_ARRAY_LEN(consumer_fields));
    hb_otlp_config_help(out);
}

static const char *const default_topics[] = {"hookbus.git", "hookbus.image", "hookbus.other"};

static int add_topic(struct hb_consumer_config *c, const char *t, size_t len)
{
    char **nt = realloc(c->topics, (c->ntopics + 1) * sizeof(*nt));
    if (!nt)
        return -1;
    c->topics = nt;
    if (!(nt[c->ntopics] = hb_strndup(t, len)))
        return -1;
    c->ntopics++;
    return 0;
}

/* kafka.topics: a list, or HOOKBUS_KAFKA_TOPICS as a comma-separated list. */
static int load_topics(const struct hb_config *cfg, struct hb_consumer_config *c, char *err,
                       size_t errlen)
{
    const char *env = getenv("HOOKBUS_KAFKA_TOPICS");
    const struct hb_node *n = hb_node_path(cfg->root, "kafka.topics");
    if (env && *env) {
        for (const char *p = env; *p;) {
            size_t len = strcspn(p, ",");
            if (len && add_topic(c, p, len) < 0)
                return hb_config_error(cfg, NULL, err, errlen, "out of memory");
            p += len + (p[len] == ',');
        }
    } else if (n) {
        if (n->type != HB_NODE_SEQ || !n->n)
            return hb_config_error(cfg, n, err, errlen,
                                   "kafka.topics: must be a non-empty list of topic names");
        for (size_t i = 0; i < n->n; i++) {
            const struct hb_node *t = &n->items[i];
            ((struct hb_node *)t)->used = true;
            if (t->type != HB_NODE_SCALAR || !*t->value)
                return hb_config_error(cfg, t, err, errlen, "kafka.topics: must be topic names");
            if (add_topic(c, t->value, strlen(t->value)) < 0)
                return hb_config_error(cfg, t, err, errlen, "out of memory");
        }
    }
    if (!c->ntopics)
        for (size_t i = 0; i < HB_ARRAY_LEN(default_topics); i++)
            if (add_topic(c, default_topics[i], strlen(default_topics[i])) < 0)
                return hb_config_error(cfg, NULL, err, errlen, "out of memory");
    return 0;
}

static int load_properties(const struct hb_config *cfg, struct hb_consumer_config *c, char *err,
                           size_t errlen)
{
    const struct hb_node *props = hb_node_path(cfg->root, "kafka.properties");
    if (!props)
        return 0;
    if (props->type != HB_NODE_MAP)
        return hb_config_error(cfg, props, err, errlen, "kafka.properties: must be a mapping");
    hb_node_mark_used(props);
    for (size_t i = 0; i < props->n; i++) {
        const struct hb_node *p = &props->items[i];
        if (p->type != HB_NODE_SCALAR)
            return hb_config_error(cfg, p, err, errlen, "kafka.properties.%s: must be a scalar",
                                   p->key);
        if (hb_kv_list_add(&c->kafka_props, p->key, p->value) < 0)
            return hb_config_error(cfg, p, err, errlen, "out of memory");
    }
    return 0;
}

static int load_filter(const struct hb_config *cfg, struct hb_consumer_config *c, char *err,
                       size_t errlen)
{
    char e[512];
    const struct hb_node *n = hb_node_get(cfg->root, "filter");
    if (!n)
        return 0;
    hb_node_mark_used(n);
    cJSON *spec = hb_node_to_cjson(n);
    if (!spec)
        return hb_config_error(cfg, n, err, errlen, "filter: out of memory");
    c->filter = hb_filter_new(spec, e, sizeof(e));
    cJSON_Delete(spec);
    if (!c->filter) /* e names the place: "filter[1].any[0].sql: parse error at column 7" */
        return hb_config_error(cfg, n, err, errlen, "%s%s",
                               hb_str_has_prefix(e, "filter") ? "" : "filter: ", e);
    return 0;
}

int hb_consumer_config_load(const struct hb_config *cfg, const char *name,
                            struct hb_consumer_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (hb_config_bind(cfg, NULL, "", consumer_fields, HB_ARRAY_LEN(consumer_fields), out, err,
                       errlen) < 0)
        goto fail;
    if (hb_otlp_config_load(cfg, &out->tracing, err, errlen) < 0)
        goto fail;
    if (!*out->group) {
        free(out->group);
        if (!(out->group = strdup(name && *name ? name : "hookbus-consumer")))
            goto fail;
    }
    if (strcmp(out->brokers, "embedded") == 0 && !*out->embedded_bootstrap_file) {
        hb_config_error(cfg, hb_node_path(cfg->root, "kafka.brokers"), err, errlen,
                        "kafka.brokers: `embedded` needs kafka.embedded_bootstrap_file (the file "
                        "the gateway writes)");
        goto fail;
    }
    if (out->retry_max_backoff_ms < out->retry_initial_backoff_ms) {
        hb_config_error(cfg, hb_node_path(cfg->root, "retry.max_backoff"), err, errlen,
                        "retry.max_backoff: must not be shorter than retry.initial_backoff");
        goto fail;
    }
    if (load_topics(cfg, out, err, errlen) < 0 || load_properties(cfg, out, err, errlen) < 0 ||
        load_filter(cfg, out, err, errlen) < 0)
        goto fail;
    if (*out->admin_token_ref) {
        char e[256];
        int rc = hb_secret_resolve(out->admin_token_ref, &out->admin_token, e, sizeof(e));
        if (rc < 0 || !out->admin_token.len) {
            hb_config_error(cfg, hb_node_path(cfg->root, "admin.token"), err, errlen,
                            "admin.token: %s", rc < 0 ? e : "the secret is empty");
            goto fail;
        }
    }
    return 0;
fail:
    hb_consumer_config_free(out);
    return -1;
}

void hb_consumer_config_free(struct hb_consumer_config *c)
{
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    hb_kv_list_free(&c->kafka_props);
    hb_filter_free(c->filter);
    hb_secret_clear(&c->admin_token);
    hb_otlp_config_free(&c->tracing);
    hb_config_fields_free(consumer_fields, HB_ARRAY_LEN(consumer_fields), c);
    memset(c, 0, sizeof(*c));
}

/* Resolves kafka.brokers: "@FILE" and `embedded` read the bootstrap list
 * from a file (its first line). Caller frees. NULL with err. */
char *hb_consumer_brokers(const struct hb_consumer_config *c, char *err, size_t errlen)
{
    const char *file = NULL;
    if (c->brokers[0] == '@')
        file = c->brokers + 1;
    else if (strcmp(c->brokers, "embedded") == 0)
        file = c->embedded_bootstrap_file;
    if (!file)
        return strdup(c->brokers);
    size_t len;
    char *text = hb_read_file(file, 64 * 1024, &len, err, errlen);
    if (!text)
        return NULL;
    text[strcspn(text, "\r\n")] = '\0';
    if (!*text) {
        snprintf(err, errlen, "%s: no bootstrap list in the file", file);
        free(text);
        return NULL;
    }
    return text;
}
