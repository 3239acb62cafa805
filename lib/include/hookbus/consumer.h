/* hookbus/consumer.h: the consumer runtime (DESIGN section 5), shared by every
 * hookbus consumer binary and by users' own consumers.
 *
 * The runtime owns the Kafka consumer group, decoding (binary, structured and
 * avro events, detected per message), the `filter:` rules, deduplication by
 * event id, debouncing by a key the application supplies, retries with
 * exponential backoff and jitter, the dead-letter topic, in-order offset
 * commits, the admin listener (/healthz, /readyz, /metrics) and signals.
 * An application supplies one callback that acts on an event.
 *
 * Delivery guarantee: at least once. A message's offset is committed only
 * after it was acted on (HB_ACT_DONE), filtered out, recognised as a
 * duplicate, or dead-lettered, and only once every earlier message of its
 * partition is too, so a crash re-delivers and never skips.
 *
 * The smallest consumer:
 *
 *     static enum hb_act act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
 *     {
 *         printf("%s\n", hb_event_get(b->events[b->n - 1], "subject"));
 *         return HB_ACT_DONE;
 *     }
 *     int main(int argc, char **argv)
 *     {
 *         static const struct hb_consumer_app app = {.name = "my-consumer", .act = act};
 *         return hb_consumer_main(argc, argv, &app);
 *     }
 */
#ifndef HOOKBUS_CONSUMER_H
#define HOOKBUS_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hookbus/config.h"
#include "hookbus/event.h"
#include "hookbus/kafka.h"
#include "hookbus/metrics.h"
#include "hookbus/otlp.h"
#include "hookbus/secret.h"

/* What an action callback returns. */
enum hb_act {
    HB_ACT_DONE = 0, /* acted on: the offsets may be committed */
    HB_ACT_RETRY,    /* transient failure: try again after a backoff, up to
                        retry.max_attempts, then dead-letter */
    HB_ACT_DROP,     /* permanent failure: dead-letter now (with err) */
};

/* The events one action covers: with a debounce window, every event that
 * arrived for the same key inside it (oldest first); else exactly one.
 * With a fold callback, the window's events that were folded are not in
 * events[] (n counts the others, possibly 0): folded is the application's
 * summary of them and nfolded their number. */
struct hb_batch {
    const struct hb_event *const *events;
    size_t n;
    const char *key; /* the debounce key, "" when the app gives none */
    int attempt;     /* 1 for the first try */
    void *runtime;   /* the runtime's own; see hb_batch_set_retry_after */
    /* The action's span (a child of the newest event's trace context, folded
     * or not, or a new trace), which the runtime exports with
     * tracing.otlp_endpoint; NULL when the runtime made none (use
     * hb_batch_trace). */
    const struct hb_trace *trace;
    /* Added with burst folding (append-only). The same summary on every try
     * of the window: act may keep its own progress in it (what an earlier
     * try already did). NULL when nothing was folded. */
    void *folded;
    size_t nfolded;
};

/* A key callback for hb_consumer_app: the event's repo attribute (no repo:
 * -1, the event is acted on alone). */
int hb_consumer_key_repo(void *ud, const struct hb_event *ev, char *out, size_t outlen);

/* The action's span into out: b->trace, or else hb_trace_action of the
 * newest event. Actions pass it on (traceparent headers, TRACEPARENT) so
 * the exported span is the parent of what the target records. 0 or -1. */
int hb_batch_trace(const struct hb_batch *b, struct hb_trace *out);

/* Called from act before it returns HB_ACT_RETRY: the peer asked to wait ms
 * milliseconds (an HTTP Retry-After, see hb_http_retry_after_ms). The next
 * try then waits at least that, capped at retry.max_backoff; without a call
 * (or with ms <= 0) the usual backoff applies. Each try starts without one. */
void hb_batch_set_retry_after(const struct hb_batch *b, long ms);

/* Called from act: what the application decided about event i of the batch
 * (one line, e.g. "refresh ns/a; skip ns/b (branch_mismatch)"), shown as the
 * event's `detail` by the admin listener's /api/v1/events. Replaces an
 * earlier note; text is copied (at most 1024 bytes). */
void hb_batch_note(const struct hb_batch *b, size_t i, const char *text);

/* Common consumer configuration (DESIGN section 5), loaded by
 * hb_consumer_config_load from the top-level keys of one table in
 * consumer_config.c (kafka.*, filter, dedup_window, debounce, retry.*,
 * dead_letter_topic, admin_listen, concurrency, max_in_flight*,
 * drain_timeout), which `--help` prints with types, bounds and defaults.
 * Every scalar can be overridden by HOOKBUS_* variables. */
struct hb_consumer_config {
    char *brokers, *group;
    char **topics;
    size_t ntopics;
    struct hb_kv_list kafka_props;
    char *embedded_bootstrap_file;
    struct hb_filter *filter; /* NULL: every event */
    long dedup_window_ms;     /* 0: no dedup */
    long debounce_ms;         /* 0: act on each event at once */
    long retry_max_attempts;
    long retry_initial_backoff_ms, retry_max_backoff_ms;
    char *dead_letter_topic; /* "" or NULL: exhausted events are logged and skipped */
    char *admin_listen;      /* "" : no admin listener */
    long concurrency;
    /* Added with the implementation (append-only): */
    long max_in_flight;           /* messages held before consumption pauses (1000) */
    long drain_timeout_ms;        /* SIGTERM / revoke: wait this long for running actions (30s) */
    long max_in_flight_bytes;     /* bytes of messages held before consumption pauses (16 MiB) */
    long recent_events;           /* events the console remembers (200) */
    char *admin_token_ref;        /* admin.token: secret reference, "" none */
    struct hb_secret admin_token; /* its value (len 0: none) */
    /* tracing.*: the export of the action spans (hookbus/otlp.h) */
    struct hb_otlp_config tracing;
};

/* Loads the common keys from cfg; name gives the default group. Keys it does
 * not know are left unmarked for the application (see
 * hb_config_check_unused). 0, or -1 with "FILE:LINE: key: problem". */
int hb_consumer_config_load(const struct hb_config *cfg, const char *name,
                            struct hb_consumer_config *out, char *err, size_t errlen);
void hb_consumer_config_free(struct hb_consumer_config *c);
/* Writes the common keys' --help entries (hb_config_help of their table). */
void hb_consumer_config_help(FILE *out);
/* kafka.brokers resolved: "@FILE" and `embedded` (kafka.embedded_bootstrap_file)
 * read the bootstrap list from the file's first line. Caller frees; NULL with err. */
char *hb_consumer_brokers(const struct hb_consumer_config *c, char *err, size_t errlen);

/* An application: the callbacks the runtime drives. Only name and act are
 * required. Callbacks may run on several runtime threads at once (up to
 * `concurrency`), never twice at once for the same debounce key. */
struct hb_consumer_app {
    const char *name; /* "hookbus-exec": default group, hookbus_consumer header, logs */
    const char *help; /* extra --help text (flags of its own; keys go in fields) */
    /* Reads the application's own keys from cfg (mark them used) into *ud.
     * 0, or -1 with "FILE:LINE: key: problem" (the binary exits 2). When it
     * set *ud, destroy(*ud) is called even after a failure. */
    int (*configure)(const struct hb_config *cfg, void **ud, char *err, size_t errlen);
    /* Starts background work (e.g. a watch) after configuration; metrics is
     * the registry /metrics renders. 0, or -1 with err (exit 1). */
    int (*start)(void *ud, struct hb_metrics *metrics, char *err, size_t errlen);
    /* False while the application cannot act yet (/readyz, and no message is
     * handed to act until it is true). NULL: always ready. */
    bool (*ready)(void *ud);
    /* The debounce key of an event into out[outlen]. 0, or -1: no key, the
     * event is acted on alone. NULL: no debouncing. */
    int (*key)(void *ud, const struct hb_event *ev, char *out, size_t outlen);
    /* (hb_consumer_key_repo is the usual one: one window per repository.) */
    /* Acts on a batch. On HB_ACT_RETRY / HB_ACT_DROP writes why into err
     * (it goes into logs and the hookbus_error dead-letter header). */
    enum hb_act (*act)(void *ud, const struct hb_batch *b, char *err, size_t errlen);
    /* Stops background work before destroy (after the last act returned). */
    void (*stop)(void *ud);
    void (*destroy)(void *ud);
    /* Added with the implementation (append-only). Called when drain_timeout
     * expired (SIGTERM or a revoke) while actions still run: make the acts
     * running now return soon (their events are handed back, not committed).
     * May run on any thread. NULL: the runtime waits for them. */
    void (*cancel)(void *ud);
    /* The application's config table, the one configure hands to
     * hb_config_bind: --help lists its keys (hb_config_help). fields_prefix
     * is the section configure binds it under, also the HOOKBUS_* prefix
     * ("kargo." for the kargo: section; NULL: top-level keys). */
    const struct hb_field *fields;
    size_t nfields;
    const char *fields_prefix;
    /* A second table bound under the same section, for keys a library binds
     * for the application (hb_kube_section_fields of hookbus/kube_consumer.h). */
    const struct hb_field *shared_fields;
    size_t nshared_fields;
    /* The application's own console data: GET /api/v1/<path> on the admin
     * listener (same token rule as /api/v1/events) answers the JSON text it
     * returns (malloc'd, the runtime frees it), 404 when NULL. Runs on the
     * admin listener's thread. NULL: none. */
    char *(*api)(void *ud, const char *path);
    /* Burst folding (NULL: none). Called on the runtime's main thread as an
     * event with a debounce key joins its open window: fold what act will
     * need of ev into *acc, the window's summary (NULL for its first event;
     * fold allocates it). Returns 0 when folded: the runtime then frees the
     * event and its Kafka message at once and keeps only its offset (still
     * committed only after the action that covers it is done), and note, when
     * not empty, becomes the event's console detail. -1: not folded, the
     * event stays in the batch's events[]. Must not block (no I/O): it runs
     * between polls. fold_free frees a summary (after the window's last try,
     * or when it is abandoned on a revoke or shutdown). A folded event has no
     * message to dead-letter: when its window is given up, the dead-letter
     * topic gets a record naming it (its key, no value, headers
     * hookbus_source_topic / _partition / _offset and hookbus_event_id) to
     * be read again from its topic. */
    int (*fold)(void *ud, void **acc, const struct hb_event *ev, char *note, size_t notelen);
    void (*fold_free)(void *ud, void *acc);
};

/* The whole program: common flags (--config, --help, --version, --log-level,
 * --log-format, --check-config), configuration, signals (SIGTERM/SIGINT:
 * finish in-flight actions, commit, exit 0), the admin listener, and the
 * consume loop. Returns the process exit status (0, 1 runtime error,
 * 2 usage or configuration error). */
int hb_consumer_main(int argc, char **argv, const struct hb_consumer_app *app);

/* The same pieces for programs that drive the runtime themselves. */
struct hb_consumer;
/* Creates the runtime (does not connect yet) and starts the admin listener.
 * cfg and app must outlive it; ud is passed to the callbacks; metrics NULL:
 * a registry of its own. NULL with err. */
struct hb_consumer *hb_consumer_new(const struct hb_consumer_config *cfg,
                                    const struct hb_consumer_app *app, void *ud,
                                    struct hb_metrics *metrics, char *err, size_t errlen);
/* Consumes until hb_consumer_stop; then finishes or hands back in-flight
 * work and commits what is done. 0, or -1 on a fatal error. */
int hb_consumer_run(struct hb_consumer *c);
/* Asks hb_consumer_run to return. Safe from any thread. */
void hb_consumer_stop(struct hb_consumer *c);
/* True when the group is joined and Kafka is reachable. */
bool hb_consumer_ready(const struct hb_consumer *c);
void hb_consumer_free(struct hb_consumer *c);

/* The retry schedule: the backoff before attempt `attempt` (2 = the first
 * retry). With d = min(max, initial * 2^(attempt-2)) it returns
 * d/2 + d/2 * jitter01 ("equal jitter", jitter01 in [0, 1)), so the wait
 * never collapses to zero and retries of many events spread out. */
long hb_backoff_ms(long initial_ms, long max_ms, int attempt, double jitter01);

#endif
