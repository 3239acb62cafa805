/* main.c: a complete custom hookbus consumer, built against the installed
 * library (see the Makefile: pkg-config hookbus).
 *
 * It appends one line per action to the file named by its own config key
 * `output`: "<debounce key> <number of events> <newest event id> <type>".
 * The runtime (hookbus/consumer.h) does the rest: the consumer group,
 * decoding, the `filter:` rules, dedup, debounce by the key below, retries
 * and the dead-letter topic, offset commits, /healthz /readyz /metrics,
 * --check-config and signals. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hookbus/consumer.h>

struct example {
    char *output;
};

/* Our own keys, declared once: hb_config_bind reads them (defaults, bounds,
 * HOOKBUS_OUTPUT from the environment) and --help lists them (app.fields).
 * A key the program never reads is rejected as unknown. */
static const struct hb_field fields[] = {
    {"output", HB_F_STRING, offsetof(struct example, output), "", 0, 0,
     "required: the file to append one line per action to"},
};

static int configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    struct example *ex = calloc(1, sizeof(*ex));
    if (!ex)
        return hb_config_error(cfg, NULL, err, errlen, "out of memory");
    *ud = ex; /* destroy runs even when configure fails */
    if (hb_config_bind(cfg, NULL, "", fields, sizeof(fields) / sizeof(fields[0]), ex, err,
                       errlen) < 0)
        return -1;
    if (!*ex->output)
        return hb_config_error(cfg, hb_node_get(cfg->root, "output"), err, errlen,
                               "output: required, a file name");
    return 0;
}

/* Events of the same repository inside `debounce` make one action (written
 * out to show the callback; hb_consumer_key_repo is the same, ready-made). */
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
        /* A peer that says when to come back (an HTTP Retry-After, see
         * hookbus/http_client.h) would be honoured with
         * hb_batch_set_retry_after(b, ms); without it the backoff applies. */
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
        hb_config_fields_free(fields, sizeof(fields) / sizeof(fields[0]), ex);
    free(ex);
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "example-consumer",
        .configure = configure,
        .key = key,
        .act = act,
        .destroy = destroy,
        .fields = fields,
        .nfields = sizeof(fields) / sizeof(fields[0]),
    };
    return hb_consumer_main(argc, argv, &app);
}
