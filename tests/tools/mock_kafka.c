/* mock_kafka.c: the Kafka of every test: a librdkafka mock cluster (a real
 * Kafka wire-protocol broker) on loopback. Prints the bootstrap list as the
 * first line of stdout and runs until SIGTERM/SIGINT.
 *
 *   mock-kafka [--brokers N] [--partitions P] [--topic NAME]...
 *
 * Topics named with --topic are created up front (consumers do not
 * auto-create); others are created by the first producer that uses them.
 *
 * Control commands on stdin, one per line, for failure tests:
 *   down ID | up ID      take broker ID down / bring it back
 *   topic NAME P         create a topic with P partitions
 *   errors API CODE N    the next N requests of Kafka API key API (any
 *                        broker) fail with error code CODE */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hookbus/kafka.h"
#include "hookbus/util.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Handles one control line; answers "ok" or "error: ..." on stdout. */
static void control(struct hb_mock_cluster *m, char *line)
{
    long id, parts;
    char *sp;
    rd_kafka_mock_cluster_t *mc = hb_mock_cluster_handle(m);
    line[strcspn(line, "\r\n")] = '\0';
    if (hb_str_has_prefix(line, "down ") && hb_parse_long(line + 5, 0, INT_MAX, &id) == 0) {
        printf(rd_kafka_mock_broker_set_down(mc, (int32_t)id) ? "error: no such broker\n" : "ok\n");
    } else if (hb_str_has_prefix(line, "up ") && hb_parse_long(line + 3, 0, INT_MAX, &id) == 0) {
        printf(rd_kafka_mock_broker_set_up(mc, (int32_t)id) ? "error: no such broker\n" : "ok\n");
    } else if (hb_str_has_prefix(line, "topic ") && (sp = strchr(line + 6, ' ')) != NULL &&
               sp > line + 6 && hb_parse_long(sp + 1, 1, INT_MAX, &parts) == 0) {
        *sp = '\0'; /* "topic NAME PARTITIONS" */
        printf(hb_mock_cluster_create_topic(m, line + 6, (int)parts) ? "error: cannot create\n"
                                                                     : "ok\n");
    } else if (hb_str_has_prefix(line, "errors ")) {
        long api, code, n;
        char *a = line + 7, *c = strchr(a, ' '), *k = c ? strchr(c + 1, ' ') : NULL;
        if (c)
            *c++ = '\0';
        if (k)
            *k++ = '\0';
        if (!k || hb_parse_long(a, 0, INT16_MAX, &api) < 0 ||
            hb_parse_long(c, INT16_MIN, INT16_MAX, &code) < 0 ||
            hb_parse_long(k, 1, 10000, &n) < 0) {
            printf("error: errors API CODE N\n");
        } else {
            for (long i = 0; i < n; i++)
                rd_kafka_mock_push_request_errors(mc, (int16_t)api, 1, (rd_kafka_resp_err_t)code);
            printf("ok\n");
        }
    } else if (line[0]) {
        printf("error: unknown command\n");
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long brokers = 1, partitions = 3;
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
            if (hb_parse_long(argv[++i], 1, 16, &brokers) < 0)
                goto usage;
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            if (hb_parse_long(argv[++i], 1, 256, &partitions) < 0)
                goto usage;
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            i++;
        } else {
            goto usage;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    struct hb_mock_cluster *m = hb_mock_cluster_start((int)brokers, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "mock-kafka: %s\n", err);
        return 1;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
            hb_mock_cluster_create_topic(m, argv[++i], (int)partitions);
    printf("%s\n", hb_mock_cluster_bootstraps(m));
    fflush(stdout);
    char line[512];
    bool stdin_open = true;
    while (!stop) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = stdin_open ? poll(&pfd, 1, 200) : (usleep(200000), 0);
        if (r > 0) {
            if (!fgets(line, sizeof(line), stdin))
                stdin_open = false; /* EOF: keep running until a signal */
            else
                control(m, line);
        }
    }
    hb_mock_cluster_stop(m);
    return 0;
usage:
    fprintf(stderr, "usage: mock-kafka [--brokers N] [--partitions P] [--topic NAME]...\n");
    return 2;
}
