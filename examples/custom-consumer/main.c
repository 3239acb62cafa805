/* main.c: a complete custom hookbus consumer, built against the installed
 * library (see the Makefile: pkg-config hookbus).
 *
 * It appends one line per action to the file named by its own config key
 * `output`: "<debounce key> <number of events> <newest event id> <type>".
 * The runtime (hookbus/consumer.h) does the rest: the consumer group,
 * decoding, the `filter:` rules, dedup, debounce by the key below, retries
 * and the dead-letter topic, offset commits, /healthz /readyz /metrics,
 * --check-config and signals. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hookbus/consumer.h>

struct example {
    char *output;
};

/* Reads our own key; every key the runtime does not know must be marked
 * used, or the configuration is rejected as having an unknown key. */
static int configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    const struct hb_node *n = hb_node_get(cfg->root, "output");
    struct example *ex;
    if (!n || n->type != HB_NODE_SCALAR || !*n->value)
        return hb_config_error(cfg, n, err, errlen, "output: required, a file name");
    if (!(ex = calloc(1, sizeof(*ex))) || !(ex->output = strdup(n->value))) {
        free(ex);
        return hb_config_error(cfg, n, err, errlen, "out of memory");
    }
    *ud = ex;
    return 0;
}

/* Events of the same repository inside `debounce` make one action. */
static int key(void *ud, const struct hb_event *ev, char *out, size_t outlen)
{
    const char *repo = hb_event_get(ev, "repo");
    (void)ud;
    if (!repo || (size_t)snprintf(out, outlen, "%s", repo) >= outlen)
        return -1; /* no key: acted on alone */
    return 0;
}

static enum hb_act act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    const struct example *ex = ud;
    const struct hb_event *newest = b->events[b->n - 1];
    FILE *f = fopen(ex->output, "a");
    if (!f) { /* perhaps a full disk: try again later, then dead-letter */
        snprintf(err, errlen, "%s: %s", ex->output, strerror(errno));
        return HB_ACT_RETRY;
    }
    fprintf(f, "%s %zu %s %s\n", *b->key ? b->key : "-", b->n, hb_event_get(newest, "id"),
            hb_event_get(newest, "type"));
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", ex->output, strerror(errno));
        return HB_ACT_RETRY;
    }
    return HB_ACT_DONE;
}

static void destroy(void *ud)
{
    struct example *ex = ud;
    if (ex)
        free(ex->output);
    free(ex);
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "example-consumer",
        .help = "example-consumer keys:\n  output: FILE   where to append one line per action\n",
        .configure = configure,
        .key = key,
        .act = act,
        .destroy = destroy,
    };
    return hb_consumer_main(argc, argv, &app);
}
