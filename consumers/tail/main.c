/* main.c: hookbus-tail, the debugging tool: reads hookbus topics as a
 * consumer group (or from the beginning), decodes binary, structured and avro
 * events, optionally filters them with CESQL, and prints them. Also evaluates
 * a CESQL expression offline (--eval). */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hookbus/cesql.h"
#include "hookbus/cli.h"
#include "hookbus/config.h"
#include "hookbus/event_lookup.h"
#include "hookbus/format.h"
#include "hookbus/kafka.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define MAX_TOPICS 32

struct tail_opts {
    const char *brokers, *group, *output, *filter_sql, *eval, *event_file;
    const char *topics[MAX_TOPICS];
    int ntopics;
    bool from_beginning;
    long count;
    long idle_exit_ms; /* 0: run until a signal */
};

/* The keys tail takes from any hookbus config file (every other key is
 * ignored: tail reads a subset of a consumer's or the gateway's config).
 * Flags beat the file; HOOKBUS_KAFKA_BROKERS is the last resort. */
struct tail_config {
    char *brokers, *group;
};

static const struct hb_field tail_fields[] = {
    {"kafka.brokers", HB_F_STRING, offsetof(struct tail_config, brokers), NULL, 0, 0,
     "bootstrap list (--brokers; else HOOKBUS_KAFKA_BROKERS); @FILE reads it from a file"},
    {"kafka.group", HB_F_STRING, offsetof(struct tail_config, group), NULL, 0, 0,
     "consumer group (--group; default: a new one per run)"},
    {"kafka.topics", HB_F_LIST, 0, "[hookbus.git, hookbus.image, hookbus.other]", 0, 0,
     "topics to read (--topic), or the gateway's map {git: ..., image: ..., other: ...}"},
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hookbus-tail [--config FILE] [options]\n"
            "       hookbus-tail --eval EXPR [--event FILE]\n"
            "\n"
            "Prints hookbus events from Kafka.\n"
            "\n"
            "  --brokers LIST        bootstrap servers (config kafka.brokers; @FILE reads it)\n"
            "  --topic NAME          topic to read (repeatable; config kafka.topics)\n"
            "  --group ID            consumer group (default: a new one per run)\n"
            "  --from-beginning      start at the oldest message\n"
            "  --count N             exit after printing N events\n"
            "  --output text|json    one line per event (json: structured CloudEvent)\n"
            "  --filter-sql EXPR     print only events matching a CESQL expression\n"
            "  --idle-exit DURATION  exit when nothing arrives for this long\n"
            "  --eval EXPR           evaluate CESQL against --event FILE (structured JSON)\n"
            "  --check-config        load the --config file, then exit\n"
            "  --log-level, --log-format, --version, --help\n"
            "\n"
            "keys read from a --config file (any hookbus config; other keys are ignored):\n");
    hb_config_help(out, "", NULL, tail_fields, HB_ARRAY_LEN(tail_fields));
}

/* Reads "@file" values (the embedded cluster's bootstrap file). */
static char *resolve_brokers(const char *v)
{
    if (v[0] != '@')
        return strdup(v);
    FILE *f = fopen(v + 1, "r");
    char line[1024];
    if (!f)
        return NULL;
    char *r = fgets(line, sizeof(line), f) ? strdup(line) : NULL;
    fclose(f);
    if (r)
        r[strcspn(r, "\r\n")] = '\0';
    return r;
}

/* --eval: prints the result as JSON, or "error: kind: message" (exit 1). */
static int do_eval(const struct tail_opts *o)
{
    char err[512];
    size_t pos;
    struct hb_event *ev = NULL;
    if (o->event_file) {
        size_t len;
        char *text = hb_read_file(o->event_file, 16 << 20, &len, err, sizeof(err));
        if (!text) {
            fprintf(stderr, "hookbus-tail: %s\n", err);
            return 2;
        }
        int r = hb_event_from_json(text, len, &ev, err, sizeof(err));
        free(text);
        if (r < 0) {
            fprintf(stderr, "hookbus-tail: %s: %s\n", o->event_file, err);
            return 2;
        }
    }
    struct hb_cesql_expr *e = hb_cesql_parse(o->eval, err, sizeof(err), &pos);
    if (!e) {
        printf("error: parse: %s\n", err);
        hb_event_free(ev);
        return 1;
    }
    struct hb_event empty = {0};
    struct hb_cesql_result res;
    enum hb_cesql_error k = hb_cesql_eval(e, hb_event_lookup, ev ? ev : &empty, &res, err,
                                          sizeof(err));
    int rc = 0;
    if (k != HB_CESQL_OK) {
        printf("error: %s: %s\n", hb_cesql_error_kind(k), err);
        rc = 1;
    } else if (res.v.type == HB_CESQL_BOOLEAN) {
        printf("%s\n", res.v.b ? "true" : "false");
    } else if (res.v.type == HB_CESQL_INTEGER) {
        printf("%d\n", (int)res.v.i);
    } else {
        cJSON *s = cJSON_CreateString(res.v.s ? res.v.s : "");
        char *out = cJSON_PrintUnformatted(s);
        printf("%s\n", out ? out : "\"\"");
        free(out);
        cJSON_Delete(s);
    }
    hb_cesql_result_free(&res);
    hb_cesql_free(e);
    hb_event_free(ev);
    return rc;
}

static void print_event(const struct tail_opts *o, const rd_kafka_message_t *m,
                        const struct hb_event *ev, enum hb_ce_mode mode)
{
    if (strcmp(o->output, "json") == 0) {
        char *json = hb_event_to_json_line(ev);
        printf("%s\n", json ? json : "{}");
        free(json);
    } else {
        const char *subject = hb_event_get(ev, "subject");
        printf("%s %s %s id=%s topic=%s partition=%d offset=%lld format=%s\n",
               hb_event_get(ev, "time") ? hb_event_get(ev, "time") : "-", hb_event_get(ev, "type"),
               subject ? subject : hb_event_get(ev, "source"), hb_event_get(ev, "id"),
               rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset,
               hb_ce_mode_name(mode));
    }
    fflush(stdout);
}

/* Consumes until stop, --count or --idle-exit. */
static int do_tail(const struct tail_opts *o)
{
    char err[512], group[96];
    int rc = 1;
    long printed = 0;
    struct hb_cesql_expr *filter = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_t *rk = NULL;
    if (o->filter_sql && !(filter = hb_cesql_parse(o->filter_sql, err, sizeof(err), NULL))) {
        fprintf(stderr, "hookbus-tail: --filter-sql: %s\n", err);
        return 2;
    }
    char *brokers = resolve_brokers(o->brokers);
    if (!brokers) {
        fprintf(stderr, "hookbus-tail: cannot read brokers from %s\n", o->brokers);
        goto out;
    }
    if (o->group)
        hb_strlcpy(group, o->group, sizeof(group));
    else
        snprintf(group, sizeof(group), "hookbus-tail-%ld-%ld", (long)getpid(), (long)time(NULL));
    rd_kafka_conf_t *conf = hb_kafka_conf_new(brokers, NULL, err, sizeof(err));
    if (!conf || hb_kafka_consumer_defaults(conf, err, sizeof(err)) < 0 ||
        hb_kafka_consumer_fit(conf, NULL, err, sizeof(err)) < 0 ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", o->from_beginning ? "earliest" : "latest", err,
                          sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", o->group ? "true" : "false", err,
                          sizeof(err))) {
        fprintf(stderr, "hookbus-tail: %s\n", err);
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto out;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "hookbus-tail: %s\n", err);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_poll_set_consumer(rk);
    subs = rd_kafka_topic_partition_list_new(o->ntopics);
    for (int i = 0; i < o->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, o->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subs);
    if (e) {
        fprintf(stderr, "hookbus-tail: subscribe: %s\n", rd_kafka_err2str(e));
        goto out;
    }
    HB_LOG(HB_LOG_INFO, "hookbus-tail reading", HB_S("brokers", brokers), HB_S("group", group),
           HB_I("topics", o->ntopics));
    int64_t last = hb_mono_ms();
    rc = 0;
    while (!stop && (!o->count || printed < o->count)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (o->idle_exit_ms && hb_mono_ms() - last > o->idle_exit_ms)
                break;
            continue;
        }
        last = hb_mono_ms();
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                HB_LOG(HB_LOG_WARN, "consume error", HB_S("error", rd_kafka_message_errstr(m)));
            rd_kafka_message_destroy(m);
            continue;
        }
        struct hb_event *ev = NULL;
        enum hb_ce_mode mode = HB_CE_BINARY;
        if (hb_kafka_decode_message(m, &ev, &mode, err, sizeof(err)) < 0) {
            HB_LOG(HB_LOG_WARN, "undecodable message", HB_S("topic", rd_kafka_topic_name(m->rkt)),
                   HB_I("partition", m->partition), HB_I("offset", m->offset), HB_S("error", err));
        } else if (!filter || hb_cesql_matches(filter, hb_event_lookup, ev)) {
            print_event(o, m, ev, mode);
            printed++;
        }
        hb_event_free(ev);
        rd_kafka_message_destroy(m);
    }
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    free(brokers);
    hb_cesql_free(filter);
    return rc;
}

/* Takes kafka.brokers / kafka.topics / kafka.group from a config file. */
static int load_config(const char *file, struct tail_opts *o, struct hb_config *hc,
                       struct tail_config *tc, char *err, size_t errlen)
{
    if (hb_config_load(file, hc, err, errlen) < 0)
        return -1;
    hb_node_mark_used(hc->root); /* tail reads a subset of any consumer's config */
    if (hb_config_bind(hc, NULL, NULL, tail_fields, HB_ARRAY_LEN(tail_fields), tc, err, errlen) < 0)
        return -1;
    if (tc->brokers && !o->brokers)
        o->brokers = tc->brokers;
    if (tc->group && !o->group)
        o->group = tc->group;
    const struct hb_node *n = hb_node_path(hc->root, "kafka.topics");
    if (n && !o->ntopics) {
        if (n->type == HB_NODE_SEQ) {
            for (size_t i = 0; i < n->n && o->ntopics < MAX_TOPICS; i++)
                if (n->items[i].type == HB_NODE_SCALAR)
                    o->topics[o->ntopics++] = n->items[i].value;
        } else if (n->type == HB_NODE_MAP) { /* the gateway's topics: {git: ..., ...} */
            for (size_t i = 0; i < n->n && o->ntopics < MAX_TOPICS; i++)
                if (n->items[i].type == HB_NODE_SCALAR)
                    o->topics[o->ntopics++] = n->items[i].value;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct hb_cli cli;
    struct tail_opts o = {.output = "text"};
    struct hb_config hc = {0};
    struct tail_config tc = {0};
    char err[512];
    int rc = 2;
    const char *idle = NULL, *count = NULL;
    bool check_config = false;
    if (hb_cli_parse(argc, argv, &cli) < 0)
        return 2;
    if (cli.help || cli.version) {
        if (cli.help)
            usage(stdout);
        else
            printf("hookbus-tail %s\n", HB_VERSION);
        hb_cli_free(&cli);
        return 0;
    }
    for (int i = 0; i < cli.nrest; i++) {
        const char *a = cli.rest[i];
        const char *next = i + 1 < cli.nrest ? cli.rest[i + 1] : NULL;
#define TAKE(flag, dst)                                                                            \
    if (strcmp(a, flag) == 0) {                                                                    \
        if (!next) {                                                                               \
            fprintf(stderr, "hookbus-tail: %s needs a value\n", flag);                             \
            goto out;                                                                              \
        }                                                                                          \
        dst = next;                                                                                \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        TAKE("--brokers", o.brokers)
        TAKE("--group", o.group)
        TAKE("--output", o.output)
        TAKE("--filter-sql", o.filter_sql)
        TAKE("--eval", o.eval)
        TAKE("--event", o.event_file)
        TAKE("--count", count)
        TAKE("--idle-exit", idle)
#undef TAKE
        if (strcmp(a, "--topic") == 0 && next && o.ntopics < MAX_TOPICS) {
            o.topics[o.ntopics++] = next;
            i++;
        } else if (strcmp(a, "--from-beginning") == 0) {
            o.from_beginning = true;
        } else if (strcmp(a, "--check-config") == 0) {
            check_config = true;
        } else {
            fprintf(stderr, "hookbus-tail: unknown argument '%s'\n", a);
            usage(stderr);
            goto out;
        }
    }
    if (hb_cli_setup_logging(&cli) < 0)
        goto out;
    if (strcmp(o.output, "text") != 0 && strcmp(o.output, "json") != 0) {
        fprintf(stderr, "hookbus-tail: --output must be text or json\n");
        goto out;
    }
    if (count && hb_parse_long(count, 1, 1L << 40, &o.count) < 0) {
        fprintf(stderr, "hookbus-tail: --count must be a positive integer\n");
        goto out;
    }
    if (idle && hb_parse_duration_ms(idle, &o.idle_exit_ms) < 0) {
        fprintf(stderr, "hookbus-tail: --idle-exit must be a duration such as 10s\n");
        goto out;
    }
    if (o.eval) {
        rc = do_eval(&o);
        goto out;
    }
    if (cli.config && load_config(cli.config, &o, &hc, &tc, err, sizeof(err)) < 0) {
        fprintf(stderr, "hookbus-tail: config error: %s\n", err);
        goto out;
    }
    if (check_config) {
        if (!cli.config) {
            fprintf(stderr, "hookbus-tail: --check-config needs --config FILE\n");
            goto out;
        }
        printf("%s: OK\n", cli.config);
        rc = 0;
        goto out;
    }
    if (!o.brokers)
        o.brokers = getenv("HOOKBUS_KAFKA_BROKERS");
    if (!o.brokers) {
        fprintf(stderr, "hookbus-tail: no brokers: use --brokers or kafka.brokers\n");
        goto out;
    }
    if (!o.ntopics) {
        o.topics[o.ntopics++] = "hookbus.git";
        o.topics[o.ntopics++] = "hookbus.image";
        o.topics[o.ntopics++] = "hookbus.other";
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = do_tail(&o);
out:
    hb_config_fields_free(tail_fields, HB_ARRAY_LEN(tail_fields), &tc);
    hb_config_free(&hc);
    hb_cli_free(&cli);
    return rc;
}
