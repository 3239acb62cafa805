/* consumer_main.c: hb_consumer_main, the whole program of a consumer binary:
 * command line, configuration (common keys + the application's), logging,
 * signals, the runtime. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/cli.h"
#include "hookbus/consumer.h"
#include "hookbus/fault.h"
#include "hookbus/log.h"

/* --help: the flags, then every key from the tables that parse them (the
 * common table and the application's). */
static void usage(FILE *out, const struct hb_consumer_app *app)
{
    fprintf(out,
            "usage: %s [--config FILE] [options]\n"
            "\n"
            "A hookbus consumer: reads CloudEvents from Kafka as a consumer group and acts\n"
            "on each (filter, dedup_window, debounce, retry, dead_letter_topic).\n"
            "\n"
            "options:\n"
            "  --config FILE       YAML configuration (or HOOKBUS_CONFIG)\n"
            "  --check-config      load and validate the configuration, then exit\n"
            "  --log-level LEVEL   debug | info | warn | error (or HOOKBUS_LOG_LEVEL)\n"
            "  --log-format FMT    text | json (default: text on a terminal)\n"
            "  --version, --help\n",
            app->name);
    if (app->help)
        fprintf(out, "%s", app->help);
    fprintf(out, "\nkeys (type, bounds, default; env: the HOOKBUS_* variable that overrides "
                 "it):\n");
    hb_consumer_config_help(out);
    const char *prefix = app->fields_prefix ? app->fields_prefix : "";
    if (app->shared_fields)
        hb_config_help(out, app->fields_prefix, prefix, app->shared_fields, app->nshared_fields);
    if (app->fields)
        hb_config_help(out, app->fields_prefix, prefix, app->fields, app->nfields);
}

struct sig_ctx {
    struct hb_consumer *c;
};

/* Takes SIGTERM/SIGINT (stop) and SIGHUP (ignored) for the whole process;
 * the other threads inherit the blocked mask. */
static void *signal_main(void *arg)
{
    struct sig_ctx *s = arg;
    for (;;) {
        int sig = hb_cli_wait_signal();
        if (sig == SIGHUP) {
            HB_LOG(HB_LOG_INFO, "SIGHUP ignored: restart to apply configuration changes");
            continue;
        }
        HB_LOG(HB_LOG_INFO, "shutting down", HB_S("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
        hb_consumer_stop(s->c);
        return NULL;
    }
}

/* Loads the common and the application's configuration. 0, or -1 with err. */
static int configure(const char *file, const struct hb_consumer_app *app,
                     struct hb_consumer_config *cc, void **ud, bool *have_ud, char *err,
                     size_t errlen)
{
    struct hb_config hc;
    int rc = -1;
    if (hb_config_load(file, &hc, err, errlen) < 0)
        return -1;
    if (hb_consumer_config_load(&hc, app->name, cc, err, errlen) < 0)
        goto out;
    if (app->configure) {
        int r = app->configure(&hc, ud, err, errlen);
        *have_ud = *ud != NULL; /* destroy runs even after a failed configure */
        if (r < 0)
            goto out;
    }
    if (hb_config_check_unused(&hc, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    hb_config_free(&hc);
    return rc;
}

int hb_consumer_main(int argc, char **argv, const struct hb_consumer_app *app)
{
    struct hb_cli cli;
    struct hb_consumer_config cc = {0};
    struct hb_metrics *metrics = NULL;
    struct hb_consumer *c = NULL;
    char err[1024];
    void *ud = NULL;
    bool check = false, have_ud = false, started = false;
    int rc = 2;
    if (hb_cli_parse(argc, argv, &cli) < 0)
        return 2;
    if (cli.help || cli.version) {
        if (cli.help)
            usage(stdout, app);
        else
            printf("%s %s%s\n", app->name, HB_VERSION, HB_FAULT_BUILD ? " (fault injection)" : "");
        hb_cli_free(&cli);
        return 0;
    }
    for (int i = 0; i < cli.nrest; i++) {
        if (strcmp(cli.rest[i], "--check-config") == 0) {
            check = true;
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", app->name, cli.rest[i]);
            usage(stderr, app);
            goto out;
        }
    }
    if (hb_cli_setup_logging(&cli) < 0)
        goto out;
    if (configure(cli.config, app, &cc, &ud, &have_ud, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: config error: %s\n", app->name, err);
        goto out;
    }
    if (check) {
        printf("%s: configuration OK\n", cli.config ? cli.config : "(defaults)");
        rc = 0;
        goto out;
    }
    rc = 1;
    signal(SIGPIPE, SIG_IGN); /* a peer or child closing a pipe is an error, not an exit */
    hb_cli_block_signals();   /* before any thread starts */
    metrics = hb_metrics_new();
    if (!metrics || !(c = hb_consumer_new(&cc, app, ud, metrics, err, sizeof(err)))) {
        HB_LOG(HB_LOG_ERROR, "cannot start", HB_S("error", metrics ? err : "out of memory"));
        goto out;
    }
    if (app->start && app->start(ud, metrics, err, sizeof(err)) < 0) {
        HB_LOG(HB_LOG_ERROR, "cannot start", HB_S("error", err));
        goto out;
    }
    started = true;
    struct sig_ctx sc = {c};
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_main, &sc)) {
        HB_LOG(HB_LOG_ERROR, "cannot start the signal thread");
        goto out;
    }
    int r = hb_consumer_run(c);
    if (r < 0) /* a fatal error: wake the signal thread to let it end */
        pthread_kill(sig_thread, SIGTERM);
    pthread_join(sig_thread, NULL);
    rc = r < 0 ? 1 : 0;
    HB_LOG(rc ? HB_LOG_ERROR : HB_LOG_INFO, "stopped", HB_S("name", app->name));
out:
    if (started && app->stop)
        app->stop(ud);
    hb_consumer_free(c);
    if (have_ud && app->destroy)
        app->destroy(ud);
    hb_metrics_free(metrics);
    hb_consumer_config_free(&cc);
    hb_cli_free(&cli);
    return rc;
}
