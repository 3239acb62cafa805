/* config.c: the gateway configuration (DESIGN section 3), declared once as
 * field tables that give defaults, HOOKBUS_* overrides, errors and the key
 * list of --help (gw_config_help). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "hookbus/util.h"

#define F(...) HB_FIELD(struct gw_config, __VA_ARGS__)

static const struct hb_field gw_fields[] = {
    F("listen", HB_F_STRING, listen, "0.0.0.0:8080", 0, 0, "address:port to serve webhooks on"),
    F("admin_listen", HB_F_STRING, admin_listen, "", 0, 0, "separate health/metrics listener"),
    F("public_url", HB_F_STRING, public_url, "", 0, 0, "external base URL, for `urls`"),
    F("tls.enabled", HB_F_BOOL, tls_enabled, "true", 0, 0, "serve HTTPS"),
    F("tls.cert_file", HB_F_STRING, tls_cert_file, "", 0, 0, "PEM certificate chain"),
    F("tls.key_file", HB_F_STRING, tls_key_file, "", 0, 0, "PEM private key"),
    F("tls.min_version", HB_F_STRING, tls_min_version, "1.2", 0, 0, "1.2 or 1.3"),
    F("kafka.brokers", HB_F_STRING, kafka_brokers, "localhost:9092", 0, 0,
      "bootstrap list, or `embedded`"),
    F("kafka.format", HB_F_STRING, kafka_format, "binary", 0, 0, "binary | structured | avro"),
    F("kafka.embedded_bootstrap_file", HB_F_STRING, kafka_embedded_bootstrap_file, "", 0, 0,
      "where to write the embedded cluster's bootstrap list"),
    F("kafka.embedded_partitions", HB_F_INT, kafka_embedded_partitions, "3", 1, 64,
      "partitions of each topic of the embedded cluster"),
    F("kafka.topics.git", HB_F_STRING, topic_git, "hookbus.git", 0, 0, "git.* events"),
    F("kafka.topics.image", HB_F_STRING, topic_image, "hookbus.image", 0, 0,
      "image.push and chart.push events"),
    F("kafka.topics.other", HB_F_STRING, topic_other, "hookbus.other", 0, 0, "other events"),
    F("kafka.properties", HB_F_MAP, kafka_props, "{}", 0, 0,
      "librdkafka producer properties, e.g. {security.protocol: ssl}"),
    F("delivery_timeout_ms", HB_F_INT, delivery_timeout_ms, "5000", 100, 300000,
      "answer 503 when Kafka has not acknowledged within this time"),
    F("spool.dir", HB_F_STRING, spool_dir, "", 0, 0,
      "where events Kafka did not acknowledge wait (\"\": no spool, 503 instead)"),
    F("spool.max_bytes", HB_F_INT, spool_max_bytes, "1073741824", 4096, 0x7fffffffffffL,
      "spool size cap; over it: 503"),
    F("limits.max_body_bytes", HB_F_INT, max_body_bytes, "2097152", 1024, 64L << 20,
      "largest accepted request body"),
    F("limits.requests_per_second", HB_F_INT, rate.per_second, "0", 0, 1000000,
      "webhook requests a second, all receivers (0: unlimited); over it: 429"),
    F("limits.burst", HB_F_INT, rate.burst, "0", 0, 1000000,
      "requests allowed at once above the rate (0: requests_per_second)"),
    F("limits.max_header_bytes", HB_F_INT, max_header_bytes, "16384", 8192, 1L << 24,
      "request line and headers (libmicrohttpd connection memory)"),
    F("limits.max_connections", HB_F_INT, max_connections, "1024", 1, 1000000,
      "concurrent connections"),
    F("limits.request_timeout_ms", HB_F_INT, request_timeout_ms, "10000", 1000, 3600000,
      "a request must arrive completely within this time (slow clients are cut off)"),
    F("limits.header_timeout_ms", HB_F_INT, header_timeout_ms, "2000", 100, 3600000,
      "a new connection's request line and headers must arrive within this time "
      "(slow-header floods are cut off)"),
    F("limits.unauthenticated_body_bytes", HB_F_INT, unauth_body_bytes, "67108864", 0, 1L << 40,
      "body bytes held at once, all connections, for requests not authenticated yet (0: "
      "unlimited); past it: 503 + Retry-After"),
    F("limits.max_connections_per_ip", HB_F_INT, max_connections_per_ip, "32", 0, 1000000,
      "concurrent connections from one remote address (0: unlimited); past it: 503"),
    F("limits.replay_cache_entries", HB_F_INT, replay_cache_entries, "65536", 0, 1L << 24,
      "Standard Webhooks deliveries remembered within their timestamp tolerance, so that a "
      "replay is 401 (0: off; full: the oldest is dropped)"),
    F("threads", HB_F_INT, threads, "0", 0, 256, "HTTP threads (0: one per core)"),
    F("admin.token", HB_F_STRING, admin_token_ref, "", 0, 0,
      "secret reference of the console's bearer token (required when admin_listen is not "
      "loopback)"),
    F("deliveries.keep", HB_F_INT, deliveries_keep, "200", 0, 100000,
      "recent deliveries the console keeps per receiver (0: none)"),
    F("deliveries.max_body_bytes", HB_F_INT, deliveries_max_body, "65536", 0, 64L << 20,
      "largest authentic body kept for redelivery (larger: kept without body)"),
    F("receivers", HB_F_LIST, receivers, "[]", 0, 0,
      "the senders accepted, one entry each (keys below)"),
};

/* One `receivers:` entry's common keys, bound into a scratch struct and
 * checked by load_receiver (no environment overrides: entries are a list). */
struct receiver_keys {
    char *name, *type, *token_header;
    bool insecure_no_auth, include_original;
};

#define R(key, type, member, def, help)                                                            \
    {                                                                                              \
        key, type, offsetof(struct receiver_keys, member), def, 0, 0, help                         \
    }

static const struct hb_field receiver_fields[] = {
    R("name", HB_F_STRING, name, NULL,
      "required: [a-z0-9-], at most 63; the URL is /webhooks/NAME"),
    R("type", HB_F_STRING, type, NULL, "required: the sender's type (list below)"),
    {"secrets", HB_F_LIST, 0, NULL, 0, 0,
     "secret references (env:NAME, file:/path, literal:VALUE); several: rotation"},
    R("token_header", HB_F_STRING, token_header, NULL,
      "token senders: the header holding the secret, in place of the type's own"),
    R("insecure_no_auth", HB_F_BOOL, insecure_no_auth, "false",
      "accept unauthenticated requests (no secrets needed)"),
    R("include_original", HB_F_BOOL, include_original, "false",
      "add the sender's payload to each event's data as `original`"),
    {"rate_limit", HB_F_MAP, 0, NULL, 0, 0,
     "requests a second for this receiver: N, or {requests_per_second: N, burst: B}"},
};

static void help_line(void *out, const char *line)
{
    hb_config_help_text(out, line);
}

void gw_config_help(FILE *out)
{
    char types[512], text[1024];
    hb_config_help(out, "", "", gw_fields, HB_ARRAY_LEN(gw_fields));
    hb_otlp_config_help(out);
    hb_config_help(out, "receivers[].", NULL, receiver_fields, HB_ARRAY_LEN(receiver_fields));
    gw_receiver_types_list(types, sizeof(types));
    snprintf(text, sizeof(text),
             "receivers[].type is one of: %s. These types take options of their own, "
             "keys of the receiver's entry (README, \"Connect your senders\"):",
             types);
    hb_config_help_text(out, text);
    gw_receiver_options_help(help_line, out);
}

static const struct hb_field rate_fields[] = {
    {"requests_per_second", HB_F_INT, offsetof(struct gw_rate, per_second), "0", 0, 1000000,
     "requests a second for this receiver"},
    {"burst", HB_F_INT, offsetof(struct gw_rate, burst), "0", 0, 1000000, "burst"},
};

/* rate_limit: N, or {requests_per_second: N, burst: B}. */
static int load_rate_limit(const struct hb_config *hc, const struct hb_node *node, const char *name,
                           struct gw_rate *rate, char *err, size_t errlen)
{
    const struct hb_node *n = hb_node_get(node, "rate_limit");
    if (!n)
        return 0;
    if (n->type == HB_NODE_MAP)
        return hb_config_bind(hc, n, NULL, rate_fields, HB_ARRAY_LEN(rate_fields), rate, err,
                              errlen);
    if (n->type != HB_NODE_SCALAR || hb_parse_long(n->value, 0, 1000000, &rate->per_second) < 0)
        return hb_config_error(hc, n, err, errlen,
                               "receivers[%s].rate_limit: a number of requests a second, or "
                               "{requests_per_second: N, burst: B}",
                               name);
    return 0;
}

static int receiver_name_valid(const char *s)
{
    if (!*s || strlen(s) > 63)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

static void receiver_free(struct gw_receiver *r)
{
    if (r->type && r->type->destroy)
        r->type->destroy(r);
    gw_receiver_hmac_keys_free(r);
    for (size_t i = 0; i < r->nsecrets; i++)
        hb_secret_clear(&r->secrets[i]);
    free(r->secrets);
    free(r->name);
    free(r->token_header);
    free(r->repository);
}

/* The keys of receiver_fields (and secrets) of one `receivers:` entry into r.
 * 0, or -1 with err. */
static int load_common_keys(const struct hb_config *hc, const struct hb_node *node,
                            const struct gw_config *cfg, struct gw_receiver *r, char *err,
                            size_t errlen)
{
    struct receiver_keys k = {0};
    const struct hb_node *n;
    char types[512];
    int rc = -1;
    if (hb_config_bind(hc, node, NULL, receiver_fields, HB_ARRAY_LEN(receiver_fields), &k, err,
                       errlen) < 0)
        goto fail;
    n = hb_node_get(node, "name");
    if (!k.name || !receiver_name_valid(k.name)) {
        hb_config_error(hc, n ? n : node, err, errlen,
                        "receivers.name: required, [a-z0-9-], at most 63 characters");
        goto fail;
    }
    r->name = k.name;
    k.name = NULL;
    for (size_t i = 0; i < cfg->nreceivers; i++) {
        if (strcmp(cfg->receivers[i].name, r->name) == 0) {
            hb_config_error(hc, n, err, errlen, "receivers.name: '%s' is not unique", r->name);
            goto fail;
        }
    }
    gw_receiver_types_list(types, sizeof(types));
    if (!k.type || !(r->type = gw_receiver_type_find(k.type))) {
        n = hb_node_get(node, "type");
        hb_config_error(hc, n ? n : node, err, errlen, "receivers[%s].type: must be one of: %s",
                        r->name, types);
        goto fail;
    }
    n = hb_node_get(node, "secrets");
    if (n) {
        if (n->type != HB_NODE_SEQ) {
            hb_config_error(hc, n, err, errlen,
                            "receivers[%s].secrets: must be a list of secret references", r->name);
            goto fail;
        }
        r->secrets = calloc(n->n ? n->n : 1, sizeof(struct hb_secret));
        if (!r->secrets) {
            hb_config_error(hc, n, err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n->n; i++) {
            char e[256];
            const struct hb_node *s = &n->items[i];
            ((struct hb_node *)s)->used = true;
            if (s->type != HB_NODE_SCALAR ||
                hb_secret_resolve(s->value, &r->secrets[r->nsecrets], e, sizeof(e)) < 0) {
                hb_config_error(hc, s, err, errlen, "receivers[%s].secrets: %s", r->name,
                                s->type == HB_NODE_SCALAR ? e : "must be a string");
                goto fail;
            }
            r->nsecrets++;
        }
        if (gw_receiver_hmac_keys(r) < 0) {
            hb_config_error(hc, n, err, errlen, "out of memory");
            goto fail;
        }
    }
    if (k.token_header && *k.token_header) {
        r->token_header = k.token_header;
        k.token_header = NULL;
    }
    r->insecure_no_auth = k.insecure_no_auth;
    r->include_original = k.include_original;
    rc = 0;
fail:
    hb_config_fields_free(receiver_fields, HB_ARRAY_LEN(receiver_fields), &k);
    return rc;
}

/* Reads one `receivers:` entry. */
static int load_receiver(const struct hb_config *hc, const struct hb_node *node,
                         struct gw_config *cfg, struct gw_receiver *r, char *err, size_t errlen)
{
    if (node->type != HB_NODE_MAP)
        return hb_config_error(hc, node, err, errlen, "receivers: each entry must be a mapping");
    if (load_common_keys(hc, node, cfg, r, err, errlen) < 0)
        return -1;
    if (r->type->configure && r->type->configure(r, hc, node, err, errlen) < 0)
        return -1;
    if (!r->nsecrets && !r->insecure_no_auth && !r->own_auth)
        return hb_config_error(hc, node, err, errlen,
                               "receivers[%s]: no secrets; set secrets, or insecure_no_auth: "
                               "true to accept unauthenticated requests",
                               r->name);
    if (load_rate_limit(hc, node, r->name, &cfg->receiver_rates[cfg->nreceivers], err, errlen) < 0)
        return -1;
    return 0;
}

/* True when addr ("host:port") only listens on the loopback interface. */
static bool loopback_only(const char *addr)
{
    static const char *const hosts[] = {"127.", "localhost:", "[::1]:"};
    for (size_t i = 0; i < HB_ARRAY_LEN(hosts); i++)
        if (hb_str_has_prefix(addr, hosts[i]))
            return true;
    return false;
}

/* admin.token: resolved here; a console reachable from other hosts needs one. */
static int load_admin(const struct hb_config *hc, struct gw_config *cfg, char *err, size_t errlen)
{
    char e[256];
    const struct hb_node *n = hb_node_path(hc->root, "admin.token");
    if (*cfg->admin_token_ref) {
        if (hb_secret_resolve(cfg->admin_token_ref, &cfg->admin_token, e, sizeof(e)) < 0)
            return hb_config_error(hc, n, err, errlen, "admin.token: %s", e);
        if (!cfg->admin_token.len)
            return hb_config_error(hc, n, err, errlen, "admin.token: the secret is empty");
        return 0;
    }
    if (*cfg->admin_listen && !loopback_only(cfg->admin_listen))
        return hb_config_error(hc, hb_node_path(hc->root, "admin_listen"), err, errlen,
                               "admin_listen %s is not loopback: set admin.token (the console "
                               "and its API need a bearer token)",
                               cfg->admin_listen);
    return 0;
}

int gw_config_load(const char *file, struct gw_config *cfg, char *err, size_t errlen)
{
    struct hb_config hc;
    memset(cfg, 0, sizeof(*cfg));
    if (hb_config_load(file, &hc, err, errlen) < 0)
        return -1;
    if (hb_config_bind(&hc, NULL, "", gw_fields, HB_ARRAY_LEN(gw_fields), cfg, err, errlen) < 0)
        goto fail;
    if (hb_ce_mode_parse(cfg->kafka_format, &cfg->format) < 0) {
        hb_config_error(&hc, hb_node_path(hc.root, "kafka.format"), err, errlen,
                        "kafka.format: must be binary, structured or avro");
        goto fail;
    }
    if (strcmp(cfg->tls_min_version, "1.2") != 0 && strcmp(cfg->tls_min_version, "1.3") != 0) {
        hb_config_error(&hc, hb_node_path(hc.root, "tls.min_version"), err, errlen,
                        "tls.min_version: must be 1.2 or 1.3");
        goto fail;
    }
    if (!*cfg->tls_cert_file != !*cfg->tls_key_file) {
        hb_config_error(&hc, hb_node_path(hc.root, "tls"), err, errlen,
                        "tls: set both cert_file and key_file, or neither");
        goto fail;
    }
    const struct hb_node *props = hb_node_path(hc.root, "kafka.properties");
    if (props) {
        if (props->type != HB_NODE_MAP) {
            hb_config_error(&hc, props, err, errlen, "kafka.properties: must be a mapping");
            goto fail;
        }
        hb_node_mark_used(props);
        for (size_t i = 0; i < props->n; i++) {
            if (props->items[i].type != HB_NODE_SCALAR) {
                hb_config_error(&hc, &props->items[i], err, errlen,
                                "kafka.properties.%s: must be a scalar", props->items[i].key);
                goto fail;
            }
            hb_kv_list_add(&cfg->kafka_props, props->items[i].key, props->items[i].value);
        }
    }
    const struct hb_node *recv = hb_node_get(hc.root, "receivers");
    if (recv) {
        if (recv->type != HB_NODE_SEQ) {
            hb_config_error(&hc, recv, err, errlen, "receivers: must be a list");
            goto fail;
        }
        cfg->receivers = calloc(recv->n ? recv->n : 1, sizeof(struct gw_receiver));
        cfg->receiver_rates = calloc(recv->n ? recv->n : 1, sizeof(struct gw_rate));
        if (!cfg->receivers || !cfg->receiver_rates)
            goto fail;
        for (size_t i = 0; i < recv->n; i++) {
            ((struct hb_node *)&recv->items[i])->used = true;
            int rc = load_receiver(&hc, &recv->items[i], cfg, &cfg->receivers[i], err, errlen);
            cfg->nreceivers++;
            if (rc < 0)
                goto fail;
        }
    }
    if (load_admin(&hc, cfg, err, errlen) < 0)
        goto fail;
    if (hb_otlp_config_load(&hc, &cfg->tracing, err, errlen) < 0)
        goto fail;
    if (hb_config_check_unused(&hc, err, errlen) < 0)
        goto fail;
    hb_config_free(&hc);
    return 0;
fail:
    hb_config_free(&hc);
    gw_config_free(cfg);
    return -1;
}

void gw_config_free(struct gw_config *cfg)
{
    for (size_t i = 0; i < cfg->nreceivers; i++)
        receiver_free(&cfg->receivers[i]);
    free(cfg->receivers);
    free(cfg->receiver_rates);
    hb_kv_list_free(&cfg->kafka_props);
    hb_secret_clear(&cfg->admin_token);
    hb_otlp_config_free(&cfg->tracing);
    hb_config_fields_free(gw_fields, HB_ARRAY_LEN(gw_fields), cfg);
    memset(cfg, 0, sizeof(*cfg));
}

const struct gw_receiver *gw_config_find_receiver(const struct gw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nreceivers; i++)
        if (strcmp(cfg->receivers[i].name, name) == 0)
            return &cfg->receivers[i];
    return NULL;
}

const char *gw_config_topic(const struct gw_config *cfg, const char *type)
{
    const char *c = gw_topic_class(type);
    if (strcmp(c, "git") == 0)
        return cfg->topic_git;
    if (strcmp(c, "image") == 0)
        return cfg->topic_image;
    return cfg->topic_other;
}
