/* topics.c: `hookbus-gateway topics`: creates the configured topics (and any
 * named with --topic) on a cluster whose brokers do not auto-create them.
 * Topics that exist already are left as they are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "hookbus/util.h"

#define GW_TOPICS_MAX (3 + GW_TOPICS_EXTRA_MAX) /* the configured ones and --topic */

/* Parses the command's flags: --partitions N, --replication-factor N,
 * --topic NAME (repeatable), --timeout MS. 0, or -1 with err. */
static int parse_args(int argc, char **argv, struct gw_topics_opts *o, char *err, size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            snprintf(err, errlen, "%s: unknown argument, or its value is missing", a);
            return -1;
        }
        if (strcmp(a, "--partitions") == 0) {
            if (hb_parse_long(v, 1, 10000, &o->partitions) < 0)
                goto bad;
        } else if (strcmp(a, "--replication-factor") == 0) {
            if (hb_parse_long(v, -1, 32, &o->replication_factor) < 0 || o->replication_factor == 0)
                goto bad;
        } else if (strcmp(a, "--timeout") == 0) {
            if (hb_parse_long(v, 1000, 600000, &o->timeout_ms) < 0)
                goto bad;
        } else if (strcmp(a, "--topic") == 0) {
            if (o->nextra >= GW_TOPICS_EXTRA_MAX) {
                snprintf(err, errlen, "--topic: at most %d", GW_TOPICS_EXTRA_MAX);
                return -1;
            }
            o->extra[o->nextra++] = v;
        } else {
            snprintf(err, errlen, "%s: unknown argument", a);
            return -1;
        }
        i++;
        continue;
    bad:
        snprintf(err, errlen, "%s: invalid value '%s'", a, v);
        return -1;
    }
    return 0;
}

int gw_topics_main(const struct gw_config *cfg, int argc, char **argv)
{
    char err[512] = "";
    struct gw_topics_opts o = {.partitions = 3, .replication_factor = -1, .timeout_ms = 30000};
    const char *names[GW_TOPICS_MAX];
    rd_kafka_NewTopic_t *nt[GW_TOPICS_MAX] = {0};
    size_t n = 0;
    int rc = 1;
    rd_kafka_t *rk = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;

    if (parse_args(argc, argv, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "hookbus-gateway topics: %s\n", err);
        return 2;
    }
    if (strcmp(cfg->kafka_brokers, "embedded") == 0) {
        fprintf(stderr, "hookbus-gateway topics: kafka.brokers is 'embedded': nothing to create\n");
        return 2;
    }
    names[n++] = cfg->topic_git;
    names[n++] = cfg->topic_image;
    names[n++] = cfg->topic_other;
    for (size_t i = 0; i < o.nextra; i++)
        names[n++] = o.extra[i];
    for (size_t i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], (int)o.partitions, (int)o.replication_factor, err,
                                      sizeof(err));
        if (!nt[i]) { /* before any client exists: nothing else logs */
            fprintf(stderr, "hookbus-gateway topics: %s: %s\n", names[i], err);
            err[0] = '\0';
            goto fail;
        }
    }
    rd_kafka_conf_t *conf = hb_kafka_conf_new(cfg->kafka_brokers, &cfg->kafka_props, err,
                                              sizeof(err));
    if (!conf)
        goto fail;
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (rd_kafka_AdminOptions_set_request_timeout(opts, (int)o.timeout_ms, err, sizeof(err)) ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, (int)o.timeout_ms, err, sizeof(err)))
        goto fail;
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    ev = rd_kafka_queue_poll(q, (int)o.timeout_ms + 5000);
    if (!ev) {
        snprintf(err, sizeof(err), "no answer from %s within %ld ms", cfg->kafka_brokers,
                 o.timeout_ms);
        goto fail;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, sizeof(err), "%s", rd_kafka_event_error_string(ev));
        goto fail;
    }
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
        rd_kafka_event_CreateTopics_result(ev), &cnt);
    rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        const char *name = rd_kafka_topic_result_name(res[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("created\t%s\n", name);
        } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            printf("exists\t%s\n", name);
        } else {
            const char *msg = rd_kafka_topic_result_error_string(res[i]);
            fprintf(stderr, "hookbus-gateway topics: %s: %s\n", name,
                    msg ? msg : rd_kafka_err2str(e));
            rc = 1;
        }
    }
    err[0] = '\0';
    goto out;
fail:
    rc = 1;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (rk)
        rd_kafka_destroy(rk);
    for (size_t i = 0; i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    if (rc && err[0]) /* after rd_kafka_destroy's own log lines: the last word */
        fprintf(stderr, "hookbus-gateway topics: %s\n", err);
    return rc;
}
