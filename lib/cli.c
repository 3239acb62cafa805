/* cli.c: shared command-line parsing, logging setup and signal handling. */
#include "hookbus/cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/log.h"

/* Takes the value of --opt VALUE or --opt=VALUE. */
static int take(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "error: %s needs a value\n", name);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

int hb_cli_parse(int argc, char **argv, struct hb_cli *cli)
{
    memset(cli, 0, sizeof(*cli));
    cli->rest = calloc((size_t)argc + 1, sizeof(char *));
    if (!cli->rest)
        return -1;
    for (int i = 1; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cli->help = true;
            continue;
        }
        if (strcmp(argv[i], "--version") == 0) {
            cli->version = true;
            continue;
        }
        if ((r = take(argc, argv, &i, "--config", &cli->config)) ||
            (r = take(argc, argv, &i, "--log-level", &cli->log_level)) ||
            (r = take(argc, argv, &i, "--log-format", &cli->log_format))) {
            if (r < 0)
                return -1;
            continue;
        }
        cli->rest[cli->nrest++] = argv[i];
    }
    if (!cli->config)
        cli->config = getenv("HOOKBUS_CONFIG");
    return 0;
}

void hb_cli_free(struct hb_cli *cli)
{
    free(cli->rest);
    cli->rest = NULL;
}

int hb_cli_setup_logging(const struct hb_cli *cli)
{
    enum hb_log_level level = HB_LOG_INFO;
    enum hb_log_format format = hb_log_default_format();
    const char *l = cli->log_level ? cli->log_level : getenv("HOOKBUS_LOG_LEVEL");
    const char *f = cli->log_format ? cli->log_format : getenv("HOOKBUS_LOG_FORMAT");
    if (l && hb_log_level_parse(l, &level) < 0) {
        fprintf(stderr, "error: --log-level must be debug, info, warn or error\n");
        return -1;
    }
    if (f && hb_log_format_parse(f, &format) < 0) {
        fprintf(stderr, "error: --log-format must be text or json\n");
        return -1;
    }
    hb_log_setup(level, format);
    return 0;
}

static sigset_t signal_set(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

void hb_cli_block_signals(void)
{
    sigset_t set = signal_set();
    /* A background job of a non-interactive shell starts with SIGINT ignored;
     * an ignored signal never reaches sigwait, so restore the defaults. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int hb_cli_wait_signal(void)
{
    sigset_t set = signal_set();
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}
