/* main.c: hookbus-gateway: command line, startup, signals, shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "hookbus/arena.h"
#include "hookbus/cli.h"
#include "hookbus/crypto.h"
#include "hookbus/fault.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

/* --help: flags and commands, then every key from the tables that parse them. */
static void usage(FILE *out)
{
    fprintf(out, "usage: hookbus-gateway [--config FILE] [options] [command]\n"
                 "\n"
                 "Accepts webhooks from Git hosts and registries, normalizes them into\n"
                 "CloudEvents and publishes them to Kafka.\n"
                 "\n"
                 "commands:\n"
                 "  (none)           run the gateway\n"
                 "  urls             print every receiver's webhook URL (and key URL)\n"
                 "  topics [--partitions N] [--replication-factor N] [--topic NAME]...\n"
                 "                   create kafka.topics (and each NAME, e.g. hookbus.dlq) on the\n"
                 "                   cluster; default 3 partitions and the brokers' replication\n"
                 "                   factor; existing topics are left as they are\n"
                 "\n"
                 "options:\n"
                 "  --config FILE       YAML configuration (or HOOKBUS_CONFIG)\n"
                 "  --check-config      load and validate the configuration, then exit\n"
                 "  --log-level LEVEL   debug | info | warn | error (or HOOKBUS_LOG_LEVEL)\n"
                 "  --log-format FMT    text | json (default: text on a terminal)\n"
                 "  --version, --help\n"
                 "\n"
                 "SIGHUP reloads the configuration, secrets and TLS certificate; SIGTERM stops.\n"
                 "\n"
                 "keys (type, bounds, default; env: the HOOKBUS_* variable that overrides it):\n");
    gw_config_help(out);
}

/* `urls`: one line per receiver with the signed route and the key route. */
static int print_urls(const struct gw_config *cfg)
{
    char base[512];
    if (cfg->public_url[0]) {
        hb_strlcpy(base, cfg->public_url, sizeof(base));
    } else {
        const char *colon = strrchr(cfg->listen, ':');
        snprintf(base, sizeof(base), "%s://localhost:%s", cfg->tls_enabled ? "https" : "http",
                 colon ? colon + 1 : "8080");
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = '\0';
    for (size_t i = 0; i < cfg->nreceivers; i++) {
        const struct gw_receiver *r = &cfg->receivers[i];
        printf("%s\t%s\t%s/webhooks/%s\n", r->name, r->type->type, base, r->name);
        if (r->nsecrets) {
            char key[65];
            hb_sha256_hex2(r->name, strlen(r->name), r->secrets[0].value, r->secrets[0].len, key);
            printf("%s\t%s\t%s/webhooks/%s/%s\n", r->name, "key-route", base, r->name, key);
        }
    }
    return 0;
}

/* SIGHUP: loads the configuration again and hands it to the server; an
 * invalid one is refused and the running one stays. */
static void reload(const char *file, struct gw_server *server, struct gw_producer *producer)
{
    struct gw_config cfg;
    char err[1024];
    HB_LOG(HB_LOG_INFO, "SIGHUP: reloading the configuration", HB_S("file", file ? file : "-"));
    if (gw_config_load(file, &cfg, err, sizeof(err)) < 0) {
        HB_LOG(HB_LOG_ERROR, "reload refused: invalid configuration; the running one stays",
               HB_S("error", err));
        gw_server_reload_refused(server);
        return;
    }
    /* New topic names get their handles (and metadata) before any request
     * of the new configuration can produce to them. */
    if (gw_producer_use_topics(producer, &cfg, err, sizeof(err)) < 0) {
        HB_LOG(HB_LOG_ERROR, "reload refused; the running configuration stays", HB_S("error", err));
        gw_server_reload_refused(server);
    } else if (gw_server_reload(server, &cfg, err, sizeof(err)) < 0)
        HB_LOG(HB_LOG_ERROR, "reload refused; the running configuration stays", HB_S("error", err));
    gw_config_free(&cfg);
}

static int run(const char *file, struct gw_config *cfg)
{
    char err[512];
    int rc = 1;
    struct hb_mock_cluster *mock = NULL;
    struct gw_producer *producer = NULL;
    struct gw_server *server = NULL;
    struct gw_spool *spool = NULL;
    struct hb_metrics *metrics = hb_metrics_new();
    long flush_ms = cfg->delivery_timeout_ms + 1000;
    size_t nreceivers = cfg->nreceivers;
    enum hb_ce_mode format = cfg->format;
    const char *brokers = cfg->kafka_brokers;

    hb_cli_block_signals();
    if (strcmp(brokers, "embedded") == 0) {
        mock = hb_mock_cluster_start(1, err, sizeof(err));
        if (!mock)
            goto out;
        brokers = hb_mock_cluster_bootstraps(mock);
        const char *topics[] = {cfg->topic_git, cfg->topic_image, cfg->topic_other};
        for (size_t i = 0; i < HB_ARRAY_LEN(topics); i++)
            hb_mock_cluster_create_topic(mock, topics[i], (int)cfg->kafka_embedded_partitions);
        HB_LOG(HB_LOG_WARN, "kafka: EMBEDDED mock cluster (development only, not durable)",
               HB_S("bootstrap", brokers));
        if (cfg->kafka_embedded_bootstrap_file[0] &&
            hb_write_file_atomic(cfg->kafka_embedded_bootstrap_file, brokers, err, sizeof(err)) < 0)
            goto out;
    }
    if (cfg->spool_dir[0]) {
        spool = gw_spool_open(cfg->spool_dir, cfg->spool_max_bytes, metrics, err, sizeof(err));
        if (!spool)
            goto out;
    } else {
        HB_LOG(HB_LOG_WARN, "spool disabled (spool.dir is empty): requests get 503 when Kafka "
                            "does not acknowledge in time");
    }
    producer = gw_producer_new(cfg, brokers, metrics, err, sizeof(err));
    if (!producer)
        goto out;
    if (spool && gw_spool_start_replay(spool, producer, err, sizeof(err)) < 0)
        goto out;
    server = gw_server_start(cfg, producer, spool, metrics, err, sizeof(err));
    if (!server)
        goto out;
    HB_LOG(HB_LOG_INFO, "hookbus-gateway started", HB_S("version", HB_VERSION),
           HB_I("receivers", nreceivers), HB_S("format", hb_ce_mode_name(format)),
           HB_B("spool", spool != NULL));
    for (;;) {
        int sig = hb_cli_wait_signal();
        if (sig == SIGHUP) {
            reload(file, server, producer);
            continue;
        }
        HB_LOG(HB_LOG_INFO, "shutting down", HB_S("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
        break;
    }
    gw_server_quiesce(server);
    gw_spool_stop_replay(spool);
    /* Keep-alive connections still send requests after the quiesce: the
     * flush alone could end before one of them suspends to wait for Kafka. */
    if (gw_server_drain(server, (int)flush_ms))
        HB_LOG(HB_LOG_WARN, "requests still waiting for kafka at exit");
    int left = gw_producer_flush(producer, (int)flush_ms);
    if (left)
        HB_LOG(HB_LOG_WARN, "messages still unacknowledged at exit", HB_I("count", left));
    rc = 0;
out:
    if (rc)
        HB_LOG(HB_LOG_ERROR, "cannot start", HB_S("error", err));
    gw_server_stop(server);
    gw_spool_stop_replay(spool);
    gw_producer_free(producer);
    gw_spool_close(spool);
    hb_mock_cluster_stop(mock);
    hb_metrics_free(metrics);
    return rc;
}

int main(int argc, char **argv)
{
    struct hb_cli cli;
    struct gw_config cfg;
    char err[1024];
    bool check = false, urls = false;
    int rc = 2, topics_at = -1;
    hb_json_arena_install(); /* before any thread: cJSON's hooks are process-wide */
    if (hb_cli_parse(argc, argv, &cli) < 0)
        return 2;
    if (cli.help) {
        usage(stdout);
        rc = 0;
        goto out_cli;
    }
    if (cli.version) {
        printf("hookbus-gateway %s%s\n", HB_VERSION, HB_FAULT_BUILD ? " (fault injection)" : "");
        rc = 0;
        goto out_cli;
    }
    for (int i = 0; i < cli.nrest; i++) {
        if (strcmp(cli.rest[i], "--check-config") == 0) {
            check = true;
        } else if (strcmp(cli.rest[i], "urls") == 0) {
            urls = true;
        } else if (strcmp(cli.rest[i], "topics") == 0) {
            topics_at = i + 1; /* the rest are its flags */
            break;
        } else {
            fprintf(stderr, "error: unknown argument '%s'\n", cli.rest[i]);
            usage(stderr);
            goto out_cli;
        }
    }
    if (hb_cli_setup_logging(&cli) < 0)
        goto out_cli;
    if (gw_config_load(cli.config, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "hookbus-gateway: config error: %s\n", err);
        goto out_cli;
    }
    if (check) {
        printf("%s: OK (%zu receivers)\n", cli.config ? cli.config : "(defaults)", cfg.nreceivers);
        rc = 0;
    } else if (urls) {
        rc = print_urls(&cfg);
    } else if (topics_at >= 0) {
        rc = gw_topics_main(&cfg, cli.nrest - topics_at, cli.rest + topics_at);
    } else {
        rc = run(cli.config, &cfg);
    }
    gw_config_free(&cfg);
out_cli:
    hb_cli_free(&cli);
    return rc;
}
