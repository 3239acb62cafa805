/* consumer.c: the consumer runtime (hookbus/consumer.h).
 *
 * One thread (the caller of hb_consumer_run) owns Kafka and all bookkeeping:
 * it polls the group, decodes, filters, deduplicates, feeds the debounce
 * windows, hands ready jobs to the workers, takes their results back, retries
 * or dead-letters, and commits. Workers only call app->act. So the dedup
 * table, the debounce windows, the per-partition offsets and the items need
 * no lock; the mutex guards the ready and done queues only.
 *
 * Assignment is eager (range/roundrobin): a revoke takes every partition, so
 * the runtime finishes running actions (bounded by drain_timeout), abandons
 * work not started (the next owner re-reads it from the committed offset),
 * commits, and starts afresh on the next assignment. A generation number
 * tells results that come back after that from current ones. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "consumer_sched.h"
#include "consumer_span.h"
#include "hookbus/consumer.h"
#include "hookbus/event_lookup.h"
#include "hookbus/fault.h"
#include "hookbus/filter.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define DEDUP_MAX_IDS 200000
#define POLL_MAX_MS 100
#define LAG_EVERY_MS 5000
#define READY_CACHE_MS 2000
#define CANCEL_WAIT_MS 5000 /* after app->cancel */
#define REWIND_PAUSE_MS 50  /* after a message could not be taken in */
#define SEEK_TIMEOUT_MS 5000
#define ITEM_OVERHEAD 1024 /* per held message: attributes, item, librdkafka's op */
#define TRIM_AFTER_BYTES (256 * 1024)
#define HOLD_MS 2000        /* see hold_bytes */
#define FOLDED_OVERHEAD 256 /* per folded message: the item, its id and key */

/* One consumed message while it is being handled. Once the application
 * folded its event (app->fold), rkm and ev are NULL and the item keeps only
 * what the commit and a dead letter need: offset, id, key. */
struct item {
    rd_kafka_message_t *rkm;
    struct hb_event *ev; /* NULL: undecodable, or folded */
    int64_t offset;
    char *id;          /* folded: the event id */
    char *key;         /* folded: the message key (key_len bytes) */
    char *traceparent; /* folded: the event's traceparent, NULL: none */
    size_t key_len;
    size_t part; /* index into c->parts */
    unsigned gen;
    int attempts;      /* for the dead-letter headers */
    size_t bytes;      /* charged to c->inflight_bytes */
    char *error;       /* why it is dead-lettered */
    uint64_t recent;   /* its entry in c->recent (the console) */
    struct item *next; /* dead-letter retry list */
};

/* One action: a debounce window, or one event without a key. items are
 * every message it covers; events those not folded, evitem[i] the index in
 * items of events[i]. */
struct job {
    struct job *next;
    char *key; /* NULL: no debounce key */
    struct item **items;
    const struct hb_event **events;
    size_t *evitem;
    size_t n, nev;
    void *acc; /* the application's fold of the window, NULL: none */
    int attempt;
    int64_t not_before;
    long retry_after_ms; /* the application's wish for the next backoff */
    unsigned gen;
    struct hb_recent *recent; /* for hb_batch_note */
    enum hb_act result;
    char err[512];
};

struct part {
    char *topic;
    int32_t partition;
    struct hb_offsets off;
    struct hb_gauge *lag;
};

struct hb_consumer {
    const struct hb_consumer_config *cfg;
    const struct hb_consumer_app *app;
    void *ud;
    struct hb_metrics *metrics;
    bool own_metrics;
    bool closed; /* rd_kafka_consumer_close ran (hb_consumer_run's end) */
    char *brokers;
    rd_kafka_t *rk, *dlq;
    rd_kafka_queue_t *cq; /* the consumer queue, to wake the poll */
    struct hb_admin *admin;
    struct hb_otlp *otlp;     /* NULL: no span export */
    struct hb_recent *recent; /* the console's record (written by the main thread) */

    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    struct job *ready_head, *ready_tail, *done_head, *done_tail;
    int running; /* jobs inside act */
    bool quit;   /* workers exit */
    pthread_t *workers;
    int nworkers;

    /* main thread only */
    struct job *delayed; /* retries waiting for their backoff */
    struct item *dl_retry;
    int64_t dl_retry_at;
    struct hb_debounce *deb;
    struct hb_dedup *dedup;
    struct part *parts;
    size_t nparts;
    unsigned gen;
    long inflight;
    size_t inflight_bytes, trim_at; /* trim_at: malloc_trim once idle again (0: no) */
    int64_t hold_since;             /* over max_in_flight_bytes since (0: not) */
    bool paused, draining;
    int64_t lag_at;
    unsigned int seed;

    atomic_bool stop, joined, reachable;
    atomic_bool closing; /* hb_consumer_run is in rd_kafka_consumer_close */
    atomic_llong reachable_at;

    struct hb_counter *m_consumed, *m_filtered, *m_dedup, *m_acted, *m_retried, *m_dead,
        *m_undecodable, *m_actions, *m_exhausted, *m_dropped, *m_folded;
    struct hb_gauge *m_inflight, *m_inflight_bytes;
    struct hb_histogram *m_latency;
};

long hb_backoff_ms(long initial_ms, long max_ms, int attempt, double jitter01)
{
    long d = initial_ms;
    for (int i = 2; i < attempt && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    if (jitter01 < 0)
        jitter01 = 0;
    if (jitter01 >= 1)
        jitter01 = 0.999999;
    return d / 2 + (long)((double)(d - d / 2) * jitter01);
}

/* ---- items and jobs ---- */

static void item_free(struct hb_consumer *c, struct item *it)
{
    if (!it)
        return;
    hb_event_free(it->ev);
    if (it->rkm)
        rd_kafka_message_destroy(it->rkm);
    free(it->id);
    free(it->key);
    free(it->traceparent);
    free(it->error);
    c->inflight_bytes -= it->bytes;
    free(it);
    c->inflight--;
}

static void item_drop_cb(void *item, void *ud)
{
    item_free(ud, item);
}

static void acc_free(void *acc, void *ud)
{
    struct hb_consumer *c = ud;
    if (acc && c->app->fold_free)
        c->app->fold_free(c->ud, acc);
}

static void job_free(struct hb_consumer *c, struct job *j)
{
    if (!j)
        return;
    acc_free(j->acc, c);
    free(j->key);
    free(j->items);
    free(j->events);
    free(j->evitem);
    free(j);
}

/* Frees a job and, unless they were handed on, its items. */
static void job_abandon(struct hb_consumer *c, struct job *j)
{
    for (size_t i = 0; i < j->n; i++)
        item_free(c, j->items[i]);
    job_free(c, j);
}

static struct job *job_new(char *key, struct item **items, size_t n, unsigned gen)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->events = calloc(n, sizeof(*j->events));
    j->evitem = calloc(n, sizeof(*j->evitem));
    if (!j->events || !j->evitem) {
        free(j->events);
        free(j->evitem);
        free(j);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!items[i]->ev)
            continue; /* folded */
        j->evitem[j->nev] = i;
        j->events[j->nev++] = items[i]->ev;
    }
    j->key = key;
    j->items = items;
    j->n = n;
    j->attempt = 1;
    j->gen = gen;
    return j;
}

static const char *item_topic(const struct hb_consumer *c, const struct item *it)
{
    if (it->rkm)
        return rd_kafka_topic_name(it->rkm->rkt);
    return it->gen == c->gen && it->part < c->nparts ? c->parts[it->part].topic : "";
}

static const char *item_id(const struct item *it)
{
    const char *id = it->ev ? hb_event_get(it->ev, "id") : it->id;
    return id ? id : "-";
}

/* The application folded the item's event into its window's summary: keeps
 * the offset, the event id and the message key, frees the message and the
 * event, and gives back their bytes. Without memory for the copies the item
 * stays whole (its event then also reaches act: an application's fold must
 * tolerate seeing an event again, as at-least-once delivery does anyway). */
static void item_fold(struct hb_consumer *c, struct item *it)
{
    const rd_kafka_message_t *m = it->rkm;
    char *id = strdup(item_id(it));
    char *key = m->key_len ? malloc(m->key_len) : NULL;
    if (!id || (m->key_len && !key)) {
        free(id);
        free(key);
        return;
    }
    if (m->key_len)
        memcpy(key, m->key, m->key_len);
    it->id = id;
    it->key = key;
    it->key_len = m->key_len;
    const char *tp = hb_event_get(it->ev, "traceparent");
    it->traceparent = tp ? strdup(tp) : NULL; /* without memory: the action starts a trace */
    hb_event_free(it->ev);
    it->ev = NULL;
    rd_kafka_message_destroy(it->rkm);
    it->rkm = NULL;
    hb_counter_add(c->m_folded, 1);
    size_t left = FOLDED_OVERHEAD + strlen(id) + it->key_len +
                  (it->traceparent ? strlen(it->traceparent) : 0);
    if (left < it->bytes) {
        c->inflight_bytes -= it->bytes - left;
        it->bytes = left;
    }
}

/* The message is fully handled: its offset may be committed once every
 * earlier one of its partition is. Frees the item. */
static void item_complete(struct hb_consumer *c, struct item *it)
{
    if (it->gen == c->gen && it->part < c->nparts)
        hb_offsets_done(&c->parts[it->part].off, it->offset);
    item_free(c, it);
}

/* ---- partitions ---- */

static size_t part_index(struct hb_consumer *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0)
            return i;
    struct part *np = realloc(c->parts, (c->nparts + 1) * sizeof(*np));
    if (!np)
        return SIZE_MAX;
    c->parts = np;
    struct part *p = &np[c->nparts];
    memset(p, 0, sizeof(*p));
    if (!(p->topic = strdup(topic)))
        return SIZE_MAX;
    p->partition = partition;
    hb_offsets_init(&p->off);
    char labels[256], esc[200];
    if (hb_metrics_label_escape(topic, esc, sizeof(esc)) == 0 &&
        hb_snprintf(labels, sizeof(labels), "topic=\"%s\",partition=\"%d\"", esc, (int)partition) ==
            0)
        p->lag = hb_metrics_gauge(c->metrics, "hookbus_consumer_lag",
                                  "Messages not yet handled (high watermark - committable "
                                  "offset)",
                                  labels);
    return c->nparts++;
}

static void parts_clear(struct hb_consumer *c)
{
    for (size_t i = 0; i < c->nparts; i++) {
        if (c->parts[i].lag)
            hb_gauge_set(c->parts[i].lag, 0);
        hb_offsets_clear(&c->parts[i].off);
        free(c->parts[i].topic);
    }
    free(c->parts);
    c->parts = NULL;
    c->nparts = 0;
}

/* Commits every partition whose committable offset moved (all = every
 * partition with a position, synchronously: revoke and shutdown). */
static void commit(struct hb_consumer *c, bool all)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->nparts + 1);
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = &c->parts[i];
        int64_t o = hb_offsets_committable(&p->off);
        if (o < 0 && all)
            o = p->off.committed;
        if (o < 0)
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = o;
        hb_offsets_committed(&p->off, o);
    }
    if (l->cnt) /* offset_commit_cb reports failures; a later commit covers them */
        rd_kafka_commit(c->rk, l, all ? 0 : 1);
    rd_kafka_topic_partition_list_destroy(l);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        HB_LOG(HB_LOG_WARN, "offset commit failed", HB_S("error", rd_kafka_err2str(err)));
}

/* ---- dead letters ---- */

static void dl_retry_later(struct hb_consumer *c, struct item *it)
{
    it->next = c->dl_retry;
    c->dl_retry = it;
    c->dl_retry_at = hb_mono_ms() + 1000;
}

/* Produces the original message plus hookbus_error, hookbus_attempts and
 * hookbus_consumer to the dead-letter topic; the item completes on the
 * delivery report. Without a dead-letter topic it is logged and skipped. */
static void dead_letter(struct hb_consumer *c, struct item *it)
{
    const rd_kafka_message_t *m = it->rkm;
    const char *id = item_id(it);
    int32_t partition = it->part < c->nparts ? c->parts[it->part].partition : -1;
    if (m)
        partition = m->partition;
    if (!c->dlq) {
        HB_LOG(HB_LOG_ERROR, "event failed; no dead_letter_topic, skipped",
               HB_S("topic", item_topic(c, it)), HB_I("partition", partition),
               HB_I("offset", it->offset), HB_S("id", id),
               HB_S("error", it->error ? it->error : ""));
        item_complete(c, it);
        return;
    }
    rd_kafka_headers_t *src = NULL, *h;
    if (m && rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR && src)
        h = rd_kafka_headers_copy(src);
    else
        h = rd_kafka_headers_new(8);
    char attempts[16], num[32];
    snprintf(attempts, sizeof(attempts), "%d", it->attempts);
    rd_kafka_header_add(h, "hookbus_error", -1, it->error ? it->error : "", -1);
    rd_kafka_header_add(h, "hookbus_attempts", -1, attempts, -1);
    rd_kafka_header_add(h, "hookbus_consumer", -1, c->app->name, -1);
    if (!m) { /* folded: a record naming the message, to be read again from its topic */
        rd_kafka_header_add(h, "hookbus_source_topic", -1, item_topic(c, it), -1);
        snprintf(num, sizeof(num), "%d", (int)partition);
        rd_kafka_header_add(h, "hookbus_source_partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)it->offset);
        rd_kafka_header_add(h, "hookbus_source_offset", -1, num, -1);
        rd_kafka_header_add(h, "hookbus_event_id", -1, id, -1);
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        c->dlq, RD_KAFKA_V_TOPIC(c->cfg->dead_letter_topic),
        RD_KAFKA_V_KEY(m ? m->key : it->key, m ? m->key_len : it->key_len),
        RD_KAFKA_V_VALUE(m ? m->payload : NULL, m ? m->len : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(it),
        RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        HB_LOG(HB_LOG_WARN, "dead-letter produce failed; will retry",
               HB_S("error", rd_kafka_err2str(e)));
        dl_retry_later(c, it);
        return;
    }
    HB_LOG(HB_LOG_WARN, "event dead-lettered", HB_S("topic", item_topic(c, it)),
           HB_I("partition", partition), HB_I("offset", it->offset), HB_S("id", id),
           HB_B("folded", m == NULL), HB_I("attempts", it->attempts),
           HB_S("error", it->error ? it->error : ""),
           HB_S("dead_letter_topic", c->cfg->dead_letter_topic));
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct hb_consumer *c = opaque;
    struct item *it = m->_private;
    (void)rk;
    if (!it)
        return;
    if (m->err) {
        HB_LOG(HB_LOG_WARN, "dead-letter delivery failed; will retry",
               HB_S("error", rd_kafka_err2str(m->err)));
        dl_retry_later(c, it);
        return;
    }
    hb_counter_add(c->m_dead, 1);
    item_complete(c, it);
}

static void dl_retry_run(struct hb_consumer *c, int64_t now)
{
    if (!c->dl_retry || now < c->dl_retry_at)
        return;
    struct item *l = c->dl_retry;
    c->dl_retry = NULL;
    while (l) {
        struct item *next = l->next;
        dead_letter(c, l);
        l = next;
    }
}

static void dead_letter_job(struct hb_consumer *c, struct job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        struct item *it = j->items[i];
        it->attempts = j->attempt;
        free(it->error);
        it->error = strdup(j->err[0] ? j->err : "action failed");
        hb_recent_update(c->recent, it->recent, "dead_lettered", j->attempt, it->error);
        dead_letter(c, it);
    }
    job_free(c, j);
}

/* ---- workers ---- */

static void enqueue_ready(struct hb_consumer *c, struct job *j)
{
    j->recent = c->recent;
    pthread_mutex_lock(&c->mu);
    j->next = NULL;
    if (c->ready_tail)
        c->ready_tail->next = j;
    else
        c->ready_head = j;
    c->ready_tail = j;
    pthread_cond_signal(&c->work_cv);
    pthread_mutex_unlock(&c->mu);
}

/* The ring has its own lock; the item handles are read-only while act runs. */
void hb_batch_note(const struct hb_batch *b, size_t i, const char *text)
{
    struct job *j = b ? b->runtime : NULL;
    if (j && i < j->nev)
        hb_recent_note(j->recent, j->items[j->evitem[i]]->recent, text);
}

int hb_consumer_key_repo(void *ud, const struct hb_event *ev, char *out, size_t outlen)
{
    (void)ud;
    const char *repo = hb_event_get(ev, "repo");
    if (!repo || !repo[0])
        return -1;
    return hb_strlcpy(out, repo, outlen);
}

/* The job is the worker's alone while act runs: no lock needed. */
void hb_batch_set_retry_after(const struct hb_batch *b, long ms)
{
    struct job *j = b ? b->runtime : NULL;
    if (j)
        j->retry_after_ms = ms > 0 ? ms : 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The action's span: a child of the newest message's trace context, folded
 * or not; a new trace when it has none. */
static int job_trace(const struct job *j, struct hb_trace *out)
{
    const struct item *it = j->n ? j->items[j->n - 1] : NULL;
    struct hb_trace in;
    if (it && !it->ev && it->traceparent && hb_trace_parse(it->traceparent, &in) == 0)
        return hb_trace_child(&in, out);
    return hb_trace_action(it ? it->ev : NULL, out);
}

static void *worker_main(void *arg)
{
    struct hb_consumer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->ready_head && !c->quit)
            pthread_cond_wait(&c->work_cv, &c->mu);
        if (c->quit)
            break;
        struct job *j = c->ready_head;
        c->ready_head = j->next;
        if (!c->ready_head)
            c->ready_tail = NULL;
        c->running++;
        pthread_mutex_unlock(&c->mu);

        /* The application may lose readiness (e.g. its watch broke): wait,
         * and on shutdown hand the job back untried. */
        bool ready = true;
        while (c->app->ready && !(ready = c->app->ready(c->ud)) && !atomic_load(&c->stop))
            sleep_ms(100);
        j->err[0] = '\0';
        if (ready) {
            struct hb_trace span;
            bool traced = job_trace(j, &span) == 0;
            struct hb_batch b = {.events = (const struct hb_event *const *)j->events,
                                 .n = j->nev,
                                 .folded = j->acc,
                                 .nfolded = j->n - j->nev,
                                 .key = j->key ? j->key : "",
                                 .attempt = j->attempt,
                                 .runtime = j,
                                 .trace = traced ? &span : NULL};
            j->retry_after_ms = 0;
            int64_t t0 = hb_mono_ms(), start_ns = hb_unix_ns();
            j->result = c->app->act(c->ud, &b, j->err, sizeof(j->err));
            hb_histogram_observe(c->m_latency, (double)(hb_mono_ms() - t0) / 1000.0);
            hb_counter_add(c->m_actions, 1);
            hb_consumer_span_export(c->otlp, c->app->name, &b, start_ns, j->result, j->err);
        } else {
            j->result = HB_ACT_RETRY;
            snprintf(j->err, sizeof(j->err), "application not ready");
        }

        pthread_mutex_lock(&c->mu);
        c->running--;
        j->next = NULL;
        if (c->done_tail)
            c->done_tail->next = j;
        else
            c->done_head = j;
        c->done_tail = j;
        pthread_cond_broadcast(&c->done_cv);
        if (c->cq)
            rd_kafka_queue_yield(c->cq);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- the main thread's scheduling ---- */

static void release_key(struct hb_consumer *c, const struct job *j)
{
    if (j->key && j->gen == c->gen)
        hb_debounce_release(c->deb, j->key);
}

/* Takes the results the workers produced. */
static void process_done(struct hb_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    struct job *l = c->done_head;
    c->done_head = c->done_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (l) {
        struct job *j = l;
        l = l->next;
        const char *id = item_id(j->items[j->n - 1]);
        if (j->gen != c->gen) { /* partitions were revoked meanwhile */
            HB_LOG(HB_LOG_WARN, "action finished after its partitions were revoked", HB_S("id", id),
                   HB_S("result", j->result == HB_ACT_DONE ? "done" : "failed"));
            job_abandon(c, j);
            continue;
        }
        if (j->result == HB_ACT_DONE) {
            hb_counter_add(c->m_acted, j->n);
            HB_LOG(HB_LOG_DEBUG, "acted", HB_S("id", id), HB_S("key", j->key ? j->key : ""),
                   HB_I("events", j->n), HB_I("attempt", j->attempt));
            release_key(c, j);
            for (size_t i = 0; i < j->n; i++) {
                hb_recent_update(c->recent, j->items[i]->recent, "acted", j->attempt, NULL);
                item_complete(c, j->items[i]);
            }
            job_free(c, j);
        } else if (j->result == HB_ACT_RETRY && j->attempt < c->cfg->retry_max_attempts) {
            if (c->draining) { /* hand back: the next owner tries again */
                job_abandon(c, j);
                continue;
            }
            double jitter = (double)rand_r(&c->seed) / ((double)RAND_MAX + 1.0);
            long wait = hb_backoff_ms(c->cfg->retry_initial_backoff_ms,
                                      c->cfg->retry_max_backoff_ms, j->attempt + 1, jitter);
            if (j->retry_after_ms > wait) /* the peer's Retry-After, within our cap */
                wait = j->retry_after_ms < c->cfg->retry_max_backoff_ms
                           ? j->retry_after_ms
                           : c->cfg->retry_max_backoff_ms;
            HB_LOG(HB_LOG_INFO, "action failed; will retry", HB_S("id", id),
                   HB_S("key", j->key ? j->key : ""), HB_I("attempt", j->attempt),
                   HB_I("backoff_ms", wait), HB_S("error", j->err));
            hb_counter_add(c->m_retried, 1);
            for (size_t i = 0; i < j->n; i++)
                hb_recent_update(c->recent, j->items[i]->recent, "retrying", j->attempt,
                                 j->err[0] ? j->err : "action failed");
            j->attempt++;
            j->not_before = hb_mono_ms() + wait;
            j->next = c->delayed; /* the key stays busy through the backoff */
            c->delayed = j;
        } else {
            if (j->result == HB_ACT_RETRY && !j->err[0])
                snprintf(j->err, sizeof(j->err), "retries exhausted");
            hb_counter_add(j->result == HB_ACT_RETRY ? c->m_exhausted : c->m_dropped, j->n);
            release_key(c, j);
            dead_letter_job(c, j);
        }
    }
}

/* Moves due retries and closed debounce windows to the workers. Returns the
 * milliseconds until the next one is due (at most POLL_MAX_MS). */
static long schedule(struct hb_consumer *c)
{
    int64_t now = hb_mono_ms();
    long next = POLL_MAX_MS;
    for (struct job **pp = &c->delayed; *pp;) {
        struct job *j = *pp;
        if (j->not_before <= now) {
            *pp = j->next;
            enqueue_ready(c, j);
        } else {
            if (j->not_before - now < next)
                next = (long)(j->not_before - now);
            pp = &j->next;
        }
    }
    struct hb_dwin w;
    while (hb_debounce_take(c->deb, now, &w)) {
        struct job *j = job_new(w.key, (struct item **)w.items, w.n, c->gen);
        if (j)
            j->acc = w.acc;
        if (!j) { /* out of memory: hand the window back to Kafka */
            HB_LOG(HB_LOG_ERROR, "out of memory scheduling an action");
            acc_free(w.acc, c);
            for (size_t i = 0; i < w.n; i++)
                item_free(c, w.items[i]);
            hb_debounce_release(c->deb, w.key);
            free(w.key);
            free(w.items);
            continue;
        }
        enqueue_ready(c, j);
    }
    long d = hb_debounce_next_ms(c->deb, now);
    if (d >= 0 && d < next)
        next = d;
    return next;
}

/* ---- consuming ---- */

/* A message the runtime could not take in (no memory for its bookkeeping):
 * its offset is not tracked, so later offsets of the partition could commit
 * past it. Seeks the partition back to it instead (librdkafka drops what it
 * had fetched after it) and gives the allocator a moment; the message comes
 * again. If even the seek fails, the consumer stops without committing
 * further: a restart reads from the last commit, which is before it. */
static void rewind_to(struct hb_consumer *c, rd_kafka_message_t *m)
{
    bool ok = false;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (l) {
        rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset =
            m->offset;
        rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, SEEK_TIMEOUT_MS);
        ok = !e && !l->elems[0].err;
        if (e)
            rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(l);
    }
    HB_LOG(HB_LOG_ERROR,
           ok ? "cannot take a message in (out of memory): reading it again"
              : "cannot take a message in nor seek back to it: stopping",
           HB_S("topic", rd_kafka_topic_name(m->rkt)), HB_I("partition", m->partition),
           HB_I("offset", m->offset));
    rd_kafka_message_destroy(m);
    if (!ok)
        atomic_store(&c->stop, true);
    else
        sleep_ms(REWIND_PAUSE_MS);
}

/* Records it in the console's ring with its first decision. */
static uint64_t recent_add(struct hb_consumer *c, const struct item *it, const char *decision)
{
    return hb_recent_add(c->recent, it->ev, item_topic(c, it), it->rkm->partition, it->offset,
                         decision);
}

/* Offers the event of it, just queued in the window of key, to the
 * application's fold (burst folding, see hookbus/consumer.h). */
static void fold(struct hb_consumer *c, const char *key, struct item *it)
{
    char note[1024] = "";
    void **acc = c->app->fold ? hb_debounce_acc(c->deb, key) : NULL;
    if (!acc || c->app->fold(c->ud, acc, it->ev, note, sizeof(note)) < 0)
        return;
    if (note[0])
        hb_recent_note(c->recent, it->recent, note);
    item_fold(c, it);
}

/* Takes one message in: decode, filter, dedup, then a job (or the debounce
 * window). Returns false when the message could not be taken in and the
 * partition was rewound to it: the caller then stops this poll burst. */
static bool handle_message(struct hb_consumer *c, rd_kafka_message_t *m)
{
    char err[512], key[512];
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            HB_LOG(HB_LOG_WARN, "consume error", HB_S("error", rd_kafka_message_errstr(m)));
        rd_kafka_message_destroy(m);
        return true;
    }
    size_t part = part_index(c, rd_kafka_topic_name(m->rkt), m->partition);
    if (part == SIZE_MAX) {
        rewind_to(c, m);
        return false;
    }
    struct hb_offsets *off = &c->parts[part].off;
    if (off->n && m->offset <= hb_offsets_last(off)) {
        /* already taken in (a fetch from before a seek back): not again */
        rd_kafka_message_destroy(m);
        return true;
    }
    struct item *it = hb_fault("consumer.take") ? NULL : calloc(1, sizeof(*it));
    if (!it || hb_offsets_push(off, m->offset) < 0) {
        free(it);
        rewind_to(c, m);
        return false;
    }
    it->rkm = m;
    it->offset = m->offset;
    it->gen = c->gen;
    it->part = part;
    c->inflight++;
    /* the raw message, its decoded copy (charged below) and bookkeeping */
    it->bytes = m->len + m->key_len + ITEM_OVERHEAD;
    c->inflight_bytes += it->bytes;
    hb_counter_add(c->m_consumed, 1);
    enum hb_ce_mode mode;
    int dr = hb_kafka_decode_message(m, &it->ev, &mode, err, sizeof(err));
    if (it->ev) {
        c->inflight_bytes += it->ev->data_len;
        it->bytes += it->ev->data_len;
    }
    if (dr < 0) {
        hb_counter_add(c->m_undecodable, 1);
        size_t n = strlen("undecodable: ") + strlen(err) + 1;
        if ((it->error = malloc(n)))
            snprintf(it->error, n, "undecodable: %s", err);
        it->recent = recent_add(c, it, "dead_lettered");
        hb_recent_update(c->recent, it->recent, "dead_lettered", 0, it->error);
        dead_letter(c, it);
        return true;
    }
    if (c->cfg->filter && !hb_filter_match(c->cfg->filter, hb_event_lookup, it->ev)) {
        hb_counter_add(c->m_filtered, 1);
        recent_add(c, it, "filtered");
        item_complete(c, it);
        return true;
    }
    if (c->dedup) {
        char idk[HB_EVENT_MAX_ATTR_VALUE * 2 + 2];
        snprintf(idk, sizeof(idk), "%s\n%s", hb_event_get(it->ev, "source"),
                 hb_event_get(it->ev, "id"));
        if (hb_dedup_seen(c->dedup, idk, hb_mono_ms())) {
            hb_counter_add(c->m_dedup, 1);
            HB_LOG(HB_LOG_DEBUG, "duplicate event skipped", HB_S("id", hb_event_get(it->ev, "id")));
            recent_add(c, it, "deduplicated");
            item_complete(c, it);
            return true;
        }
    }
    /* recorded first: the item may be acted on (and freed) once handed over */
    it->recent = recent_add(c, it, "queued");
    if (c->app->key && c->app->key(c->ud, it->ev, key, sizeof(key)) == 0 &&
        hb_debounce_add(c->deb, key, it, hb_mono_ms()) == 0) {
        hb_recent_update(c->recent, it->recent, "debounced", 0, NULL);
        fold(c, key, it);
        return true;
    }
    /* no key: a job of its own, at once */
    struct item **one = malloc(sizeof(*one));
    struct job *j = NULL;
    if (one) {
        one[0] = it;
        j = job_new(NULL, one, 1, c->gen);
    }
    if (!j) {
        free(one);
        item_free(c, it); /* not committed: re-read after a restart */
        return true;
    }
    enqueue_ready(c, j);
    return true;
}

static bool over_bytes(const struct hb_consumer *c)
{
    return c->inflight_bytes >= (size_t)c->cfg->max_in_flight_bytes;
}

static bool over_limit(const struct hb_consumer *c)
{
    return c->inflight >= c->cfg->max_in_flight || over_bytes(c);
}

/* Over max_in_flight_bytes the runtime first just stops taking messages from
 * librdkafka (whose own queue is bounded by queued.max.messages.kbytes) for
 * up to HOLD_MS: most bursts are worked off by then, and a pause costs more
 * (librdkafka drops what it prefetched and, measured with 2.0, fetches
 * again only about a second after the resume). Not polling also delays a
 * rebalance callback, hence the bound. Returns true while holding. */
static bool hold_bytes(struct hb_consumer *c, int64_t now)
{
    if (!over_bytes(c))
        c->hold_since = 0;
    else if (!c->hold_since)
        c->hold_since = now;
    return c->hold_since && !c->paused && now - c->hold_since < HOLD_MS;
}

/* Waits up to ms for a worker's result: the loop's sleep while it does not
 * poll Kafka. */
static void wait_done(struct hb_consumer *c, long ms)
{
    pthread_mutex_lock(&c->mu);
    if (!c->done_head && !atomic_load(&c->stop)) {
        struct timespec ts;
        hb_realtime_after_ms(ms, &ts);
        pthread_cond_timedwait(&c->done_cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Pauses consumption while too many messages are held, or too many bytes
 * for longer than HOLD_MS; resumes when both are down to half. */
static void flow_control(struct hb_consumer *c)
{
    bool held_out = c->hold_since && hb_mono_ms() - c->hold_since >= HOLD_MS;
    bool want = c->paused ? c->inflight > c->cfg->max_in_flight / 2 ||
                                c->inflight_bytes > (size_t)c->cfg->max_in_flight_bytes / 2
                          : c->inflight >= c->cfg->max_in_flight || (over_bytes(c) && held_out);
    if (want == c->paused)
        return;
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(c->rk, &a) || !a)
        return;
    if (want)
        rd_kafka_pause_partitions(c->rk, a);
    else
        rd_kafka_resume_partitions(c->rk, a);
    rd_kafka_topic_partition_list_destroy(a);
    c->paused = want;
    HB_LOG(HB_LOG_INFO, want ? "consumption paused" : "consumption resumed",
           HB_I("in_flight", c->inflight));
}

/* After a burst, once nothing is held any more, hands the heap's free pages
 * back to the system: a consumer sits idle most of its life, and without
 * this it kept the burst's peak resident. */
static void trim_when_idle(struct hb_consumer *c)
{
    if (c->inflight_bytes > c->trim_at)
        c->trim_at = c->inflight_bytes;
    if (c->inflight || c->trim_at < TRIM_AFTER_BYTES)
        return;
    malloc_trim(0);
    c->trim_at = 0;
}

static void update_lag(struct hb_consumer *c)
{
    int64_t now = hb_mono_ms();
    if (now - c->lag_at < LAG_EVERY_MS)
        return;
    c->lag_at = now;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->nparts + 1);
    for (size_t i = 0; i < c->nparts; i++)
        rd_kafka_topic_partition_list_add(l, c->parts[i].topic, c->parts[i].partition);
    rd_kafka_position(c->rk, l); /* the next offset to fetch, when nothing is pending */
    for (size_t i = 0; i < c->nparts; i++) {
        struct part *p = &c->parts[i];
        int64_t lo, hi, pos = p->off.n ? p->off.off[p->off.head] : l->elems[i].offset;
        if (!p->lag || rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi))
            continue;
        if (pos < 0) /* nothing fetched yet: everything up to the high watermark waits */
            pos = p->off.committed >= 0 ? p->off.committed : lo;
        if (hi >= pos)
            hb_gauge_set(p->lag, hi - pos);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Abandons work not started: ready jobs, retries waiting for their backoff,
 * open debounce windows. Their messages are not committed: the next owner
 * (or this consumer after a restart) reads them again. */
static void abandon_queued(struct hb_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    struct job *l = c->ready_head;
    c->ready_head = c->ready_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (l) {
        struct job *j = l;
        l = l->next;
        job_abandon(c, j);
    }
    while (c->delayed) {
        struct job *j = c->delayed;
        c->delayed = j->next;
        job_abandon(c, j);
    }
    hb_debounce_clear(c->deb, item_drop_cb, c);
}

/* Dead letters that could not be produced: not committed, read again later. */
static void drop_dl_retry(struct hb_consumer *c)
{
    while (c->dl_retry) {
        struct item *it = c->dl_retry;
        c->dl_retry = it->next;
        item_free(c, it);
    }
}

/* Takes results until no action runs or the deadline passes; returns how
 * many still run. */
static int wait_running(struct hb_consumer *c, int64_t deadline)
{
    int running;
    for (;;) {
        process_done(c);
        pthread_mutex_lock(&c->mu);
        running = c->running;
        if (running && !c->done_head && hb_mono_ms() < deadline) {
            struct timespec ts;
            hb_realtime_after_ms(50, &ts);
            pthread_cond_timedwait(&c->done_cv, &c->mu, &ts);
        }
        bool more = c->done_head != NULL;
        pthread_mutex_unlock(&c->mu);
        if (!more && (!running || hb_mono_ms() >= deadline))
            return running;
    }
}

/* Finishes running actions (bounded by drain_timeout, then app->cancel),
 * abandons work not started, waits for dead-letter deliveries, commits what
 * is done and resets the bookkeeping. Used on revoke and on shutdown. */
static void drain(struct hb_consumer *c, const char *why)
{
    int64_t deadline = hb_mono_ms() + c->cfg->drain_timeout_ms;
    c->draining = true;
    abandon_queued(c);
    pthread_mutex_lock(&c->mu);
    int running = c->running;
    pthread_mutex_unlock(&c->mu);
    HB_LOG(HB_LOG_INFO, "draining", HB_S("reason", why), HB_I("running", running));
    running = wait_running(c, deadline);
    if (running && c->app->cancel) {
        HB_LOG(HB_LOG_WARN, "drain_timeout expired: cancelling running actions",
               HB_I("running", running));
        c->app->cancel(c->ud);
        running = wait_running(c, hb_mono_ms() + CANCEL_WAIT_MS);
    }
    if (running)
        HB_LOG(HB_LOG_WARN,
               "actions still running after drain_timeout; their events will be "
               "acted on again by the next owner",
               HB_I("running", running));
    if (c->dlq) {
        int64_t left = deadline - hb_mono_ms();
        rd_kafka_flush(c->dlq, left > 1000 ? (int)left : 1000);
        rd_kafka_poll(c->dlq, 0);
    }
    drop_dl_retry(c);
    if (c->nparts)
        commit(c, true);
    parts_clear(c);
    if (c->dedup) { /* abandoned events come back: they must not look like duplicates */
        hb_dedup_free(c->dedup);
        c->dedup = hb_dedup_new(c->cfg->dedup_window_ms, DEDUP_MAX_IDS);
    }
    c->gen++;
    c->paused = false;
    c->draining = false;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct hb_consumer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        HB_LOG(HB_LOG_INFO, "partitions assigned", HB_I("count", parts->cnt));
        for (int i = 0; i < parts->cnt; i++)
            HB_LOG(HB_LOG_DEBUG, "partition assigned", HB_S("topic", parts->elems[i].topic),
                   HB_I("partition", parts->elems[i].partition));
        rd_kafka_assign(rk, parts);
        for (int i = 0; i < parts->cnt; i++) /* so that lag shows before any message */
            part_index(c, parts->elems[i].topic, parts->elems[i].partition);
        c->lag_at = 0;
        atomic_store(&c->joined, true);
    } else {
        HB_LOG(HB_LOG_INFO, "partitions revoked", HB_I("count", parts->cnt));
        drain(c, "partitions revoked");
        rd_kafka_assign(rk, NULL);
        atomic_store(&c->joined, false);
    }
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct hb_consumer *c = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        atomic_store(&c->reachable, false);
    HB_LOG(HB_LOG_WARN, "kafka error", HB_S("error", rd_kafka_err2name(err)),
           HB_S("reason", reason));
}

/* ---- readiness ---- */

bool hb_consumer_ready(const struct hb_consumer *cc)
{
    struct hb_consumer *c = (struct hb_consumer *)cc; /* only the cache changes */
    if (!c->rk || !atomic_load(&c->joined))
        return false;
    int64_t now = hb_mono_ms();
    if (now - atomic_load(&c->reachable_at) > READY_CACHE_MS) {
        const struct rd_kafka_metadata *md = NULL;
        bool up = rd_kafka_metadata(c->rk, 0, NULL, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (md)
            rd_kafka_metadata_destroy(md);
        atomic_store(&c->reachable, up);
        atomic_store(&c->reachable_at, now);
    }
    return atomic_load(&c->reachable);
}

static bool admin_ready(void *ud, char *why, size_t whylen)
{
    struct hb_consumer *c = ud;
    if (c->app->ready && !c->app->ready(c->ud)) { /* first: the group waits for it */
        snprintf(why, whylen, "application not ready");
        return false;
    }
    if (!atomic_load(&c->joined)) {
        snprintf(why, whylen, "consumer group not joined");
        return false;
    }
    if (!hb_consumer_ready(c)) {
        snprintf(why, whylen, "kafka unreachable");
        return false;
    }
    return true;
}

/* ---- lifecycle ---- */

static rd_kafka_conf_t *consumer_conf(struct hb_consumer *c, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = hb_kafka_conf_new(c->brokers, NULL, err, errlen);
    if (!conf)
        return NULL;
    static const char *const defaults[][2] = {
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "range,roundrobin"},
    };
    /* The runtime's guarantees depend on these: they beat kafka.properties. */
    static const char *const forced[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; i < HB_ARRAY_LEN(defaults); i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, errlen))
            goto fail;
    if (hb_kafka_consumer_defaults(conf, err, errlen) < 0)
        goto fail;
    if (hb_kafka_conf_apply(conf, &c->cfg->kafka_props, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < HB_ARRAY_LEN(forced); i++)
        if (rd_kafka_conf_set(conf, forced[i][0], forced[i][1], err, errlen))
            goto fail;
    if (hb_kafka_consumer_fit(conf, &c->cfg->kafka_props, err, errlen) < 0)
        goto fail;
    char v[256];
    size_t vl = sizeof(v);
    if (rd_kafka_conf_get(conf, "partition.assignment.strategy", v, &vl) == RD_KAFKA_CONF_OK &&
        strstr(v, "cooperative")) {
        snprintf(err, errlen,
                 "kafka.properties.partition.assignment.strategy: the runtime "
                 "needs an eager strategy (range, roundrobin)");
        goto fail;
    }
    if (rd_kafka_conf_set(conf, "group.id", c->cfg->group, err, errlen))
        goto fail;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static rd_kafka_t *dlq_producer(struct hb_consumer *c, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = hb_kafka_conf_new(c->brokers, NULL, err, errlen);
    if (!conf)
        return NULL;
    if (rd_kafka_conf_set(conf, "acks", "all", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* The runtime's counters, declared once. */
#define COUNTER(member, name, help)                                                                \
    {                                                                                              \
        offsetof(struct hb_consumer, member), name, help                                           \
    }
static const struct {
    size_t off;
    const char *name, *help;
} counters[] = {
    COUNTER(m_consumed, "hookbus_consumer_consumed_total", "Messages read from Kafka"),
    COUNTER(m_filtered, "hookbus_consumer_filtered_total", "Events the filter rejected"),
    COUNTER(m_dedup, "hookbus_consumer_deduplicated_total",
            "Events skipped as duplicates within dedup_window"),
    COUNTER(m_acted, "hookbus_consumer_acted_total", "Events acted on successfully"),
    COUNTER(m_actions, "hookbus_consumer_actions_total",
            "Action attempts (one per debounce window and try)"),
    COUNTER(m_retried, "hookbus_consumer_retried_total", "Actions scheduled for a retry"),
    COUNTER(m_dead, "hookbus_consumer_dead_lettered_total",
            "Messages written to the dead-letter topic"),
    COUNTER(m_undecodable, "hookbus_consumer_undecodable_total",
            "Messages that are not CloudEvents"),
    COUNTER(m_folded, "hookbus_consumer_folded_total",
            "Events folded into their debounce window's summary (message freed before the action)"),
};

static void make_metrics(struct hb_consumer *c)
{
    static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1,     2.5,  5,     10,   30,  60,   300};
    for (size_t i = 0; i < HB_ARRAY_LEN(counters); i++)
        *(struct hb_counter **)((char *)c + counters[i].off) = hb_metrics_counter(
            c->metrics, counters[i].name, counters[i].help, NULL);
    /* Given up on, whether a dead-letter topic then takes them or not. */
    static const char failed_help[] =
        "Events given up on (then dead-lettered, or skipped without a dead_letter_topic)";
    c->m_exhausted = hb_metrics_counter(c->metrics, "hookbus_consumer_failed_total", failed_help,
                                        "reason=\"retries_exhausted\"");
    c->m_dropped = hb_metrics_counter(c->metrics, "hookbus_consumer_failed_total", failed_help,
                                      "reason=\"permanent\"");
    c->m_inflight = hb_metrics_gauge(c->metrics, "hookbus_consumer_in_flight",
                                     "Messages consumed and not yet handled", NULL);
    c->m_inflight_bytes = hb_metrics_gauge(c->metrics, "hookbus_consumer_in_flight_bytes",
                                           "Bytes of the messages held (raw and decoded)", NULL);
    c->m_latency = hb_metrics_histogram(c->metrics, "hookbus_consumer_act_duration_seconds",
                                        "Duration of one action attempt", NULL, buckets,
                                        HB_ARRAY_LEN(buckets));
}

struct hb_consumer *hb_consumer_new(const struct hb_consumer_config *cfg,
                                    const struct hb_consumer_app *app, void *ud,
                                    struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct hb_consumer *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!app || !app->name || !app->act) {
        snprintf(err, errlen, "the application needs a name and an act callback");
        free(c);
        return NULL;
    }
    c->cfg = cfg;
    c->app = app;
    c->ud = ud;
    c->metrics = metrics;
    if (!metrics) {
        c->metrics = hb_metrics_new();
        c->own_metrics = true;
    }
    c->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)c;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work_cv, NULL);
    pthread_cond_init(&c->done_cv, NULL);
    make_metrics(c);
    c->deb = hb_debounce_new(cfg->debounce_ms);
    if (c->deb)
        hb_debounce_set_acc_free(c->deb, acc_free, c);
    if (cfg->dedup_window_ms > 0)
        c->dedup = hb_dedup_new(cfg->dedup_window_ms, DEDUP_MAX_IDS);
    if (!c->metrics || !c->deb || (cfg->dedup_window_ms > 0 && !c->dedup)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(c->brokers = hb_consumer_brokers(cfg, err, errlen)))
        goto fail;
    if (hb_otlp_start(&cfg->tracing, app->name, c->metrics, &c->otlp, err, errlen) < 0)
        goto fail;
    rd_kafka_conf_t *conf = consumer_conf(c, err, errlen);
    if (!conf)
        goto fail;
    if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen))) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->cq = rd_kafka_queue_get_consumer(c->rk);
    if (cfg->dead_letter_topic && *cfg->dead_letter_topic &&
        !(c->dlq = dlq_producer(c, err, errlen)))
        goto fail;
    if (!(c->recent = hb_recent_new(cfg->recent_events))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct hb_admin_console console = {c->recent, &cfg->admin_token, app->api, ud};
    if (cfg->admin_listen && *cfg->admin_listen &&
        !(c->admin = hb_admin_start(cfg->admin_listen, c->metrics, admin_ready, c, &console, err,
                                    errlen)))
        goto fail;
    return c;
fail:
    hb_consumer_free(c);
    return NULL;
}

void hb_consumer_stop(struct hb_consumer *c)
{
    /* Wake the poll first, then set the flag: hb_consumer_run closes the
     * consumer once it sees the flag, and rd_kafka_consumer_close forwards
     * this queue to its own, so a yield arriving during the close would end
     * the close at once ("Timed out") and leave rd_kafka_destroy waiting for
     * a group that never finishes leaving. A yield that finds no waiter is
     * taken by the next poll, which then sees the flag. */
    if (c->cq)
        rd_kafka_queue_yield(c->cq);
    if (hb_fault("consumer.stop_late")) /* tests: give the close a chance to start */
        for (int i = 0; i < 50 && !atomic_load(&c->closing); i++)
            sleep_ms(10);
    atomic_store(&c->stop, true);
}

int hb_consumer_run(struct hb_consumer *c)
{
    int rc = -1;
    rd_kafka_resp_err_t ce;
    long n = c->cfg->concurrency > 0 ? c->cfg->concurrency : 1;
    c->workers = calloc((size_t)n, sizeof(pthread_t));
    if (!c->workers)
        return -1;
    for (; c->nworkers < n; c->nworkers++)
        if (pthread_create(&c->workers[c->nworkers], NULL, worker_main, c)) {
            HB_LOG(HB_LOG_ERROR, "cannot start worker threads");
            goto out;
        }
    /* No message is handed to act before the application is ready. */
    while (c->app->ready && !c->app->ready(c->ud) && !atomic_load(&c->stop))
        sleep_ms(100);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)c->cfg->ntopics);
    for (size_t i = 0; i < c->cfg->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, c->cfg->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        HB_LOG(HB_LOG_ERROR, "subscribe failed", HB_S("error", rd_kafka_err2str(e)));
        goto out;
    }
    HB_LOG(HB_LOG_INFO, "consumer started", HB_S("name", c->app->name),
           HB_S("group", c->cfg->group), HB_S("brokers", c->brokers),
           HB_I("topics", c->cfg->ntopics), HB_I("concurrency", n),
           HB_I("debounce_ms", c->cfg->debounce_ms));
    long wait = POLL_MAX_MS;
    while (!atomic_load(&c->stop)) {
        /* a burst of up to 500 messages, then the bookkeeping below */
        rd_kafka_message_t *m = NULL;
        if (hold_bytes(c, hb_mono_ms()))
            wait_done(c, wait);
        else
            m = rd_kafka_consumer_poll(c->rk, (int)wait);
        for (int i = 1; m; i++) {
            bool taken = handle_message(c, m);
            m = taken && i < 500 && !over_limit(c) ? rd_kafka_consumer_poll(c->rk, 0) : NULL;
        }
        if (c->dlq)
            rd_kafka_poll(c->dlq, 0);
        process_done(c);
        dl_retry_run(c, hb_mono_ms());
        wait = schedule(c);
        commit(c, false);
        flow_control(c);
        hb_gauge_set(c->m_inflight, c->inflight);
        hb_gauge_set(c->m_inflight_bytes, (double)c->inflight_bytes);
        update_lag(c);
        trim_when_idle(c);
    }
    HB_LOG(HB_LOG_INFO, "consumer stopping");
    rc = 0;
out:
    /* The revoke this triggers drains and commits inside the rebalance
     * callback, where the group generation is still valid; the drain after
     * it only frees what an unassigned consumer still held. */
    atomic_store(&c->closing, true);
    ce = rd_kafka_consumer_close(c->rk);
    c->closed = true;
    if (ce)
        HB_LOG(HB_LOG_WARN, "consumer close", HB_S("error", rd_kafka_err2str(ce)));
    drain(c, "shutdown");
    pthread_mutex_lock(&c->mu);
    c->quit = true;
    pthread_cond_broadcast(&c->work_cv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);
    c->nworkers = 0;
    process_done(c); /* results of actions that outlived the drain */
    hb_gauge_set(c->m_inflight, c->inflight);
    return rc;
}

void hb_consumer_free(struct hb_consumer *c)
{
    if (!c)
        return;
    hb_admin_stop(c->admin);
    hb_recent_free(c->recent);
    if (c->dlq) {
        rd_kafka_flush(c->dlq, 5000);
        rd_kafka_poll(c->dlq, 0);
        rd_kafka_destroy(c->dlq);
    }
    drop_dl_retry(c);
    if (c->deb)
        abandon_queued(c);
    hb_debounce_free(c->deb, NULL, NULL);
    if (c->cq)
        rd_kafka_queue_destroy(c->cq);
    /* Closed already: librdkafka 2.0's rd_kafka_destroy would close again and,
     * against Apache Kafka after a revoke that cancelled an action, wait
     * forever for a group termination that has happened (seen in
     * test_consumer_exec's SIGTERM test on real Kafka). */
    if (c->rk)
        rd_kafka_destroy_flags(c->rk, c->closed ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
    parts_clear(c);
    hb_dedup_free(c->dedup);
    hb_otlp_stop(c->otlp); /* the workers are gone: no span comes after this */
    free(c->workers);
    free(c->brokers);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->work_cv);
    pthread_cond_destroy(&c->done_cv);
    if (c->own_metrics)
        hb_metrics_free(c->metrics);
    free(c);
}
