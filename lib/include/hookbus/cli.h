/* hookbus/cli.h: the command-line conventions every binary shares
 * (DESIGN section 2): --config, --help, --version, --log-level, --log-format. */
#ifndef HOOKBUS_CLI_H
#define HOOKBUS_CLI_H

#include <stdbool.h>

struct hb_cli {
    const char *config;
    const char *log_level, *log_format;
    bool help, version;
    /* Arguments that are not common options, in order. */
    char **rest;
    int nrest;
};

/* Parses argv. Unknown options starting with "--" are kept in rest for the
 * binary to handle. Returns 0, or -1 after printing an error. */
int hb_cli_parse(int argc, char **argv, struct hb_cli *cli);
void hb_cli_free(struct hb_cli *cli);
/* Applies --log-level/--log-format, then HOOKBUS_LOG_LEVEL/FORMAT (flags beat
 * env). Returns 0 or -1 after printing an error. */
int hb_cli_setup_logging(const struct hb_cli *cli);
/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call before any
 * thread starts) so that hb_cli_wait_signal can take them. */
void hb_cli_block_signals(void);
/* Waits for SIGINT/SIGTERM (returns the signal) or SIGHUP (returns SIGHUP). */
int hb_cli_wait_signal(void);

#endif
