/* loop.c: the poll thread. It first reads the state topic to its end (what
 * each source showed when last polled, by this or another replica), then
 * polls each source when it is due: list, compare with what was seen,
 * publish the events of the difference, then the new state. A source seen
 * for the first time gives no events, only its state. Errors back off
 * exponentially; a source with recent webhook events waits webhook_interval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/consumer.h"
#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_STATE_RETRY_MS 2000
#define PL_FIRST_POLL_SPREAD_MS 1000 /* first polls spread over this */

long pl_next_wait_ms(const struct pl_conf *c, int failures, int64_t last_webhook, int64_t now,
                     double jitter01)
{
    if (failures > 0)
        return hb_backoff_ms(1000, c->interval_ms, failures + 1, jitter01);
    long d = c->interval_ms;
    if (last_webhook > 0 && now - last_webhook < c->webhook_interval_ms &&
        c->webhook_interval_ms > d)
        d = c->webhook_interval_ms;
    return (long)((double)d * (0.9 + 0.2 * jitter01));
}

static double rand01(struct pl_poller *p)
{
    return (double)rand_r(&p->seed) / ((double)RAND_MAX + 1.0);
}

/* Sleeps up to ms; false when the poller stops. */
static bool pl_sleep(void *arg, long ms)
{
    struct pl_poller *p = arg;
    struct timespec ts;
    hb_realtime_after_ms(ms, &ts);
    pthread_mutex_lock(&p->lock);
    while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
        ;
    bool go = !p->stop;
    pthread_mutex_unlock(&p->lock);
    return go;
}

static bool stopping(struct pl_poller *p)
{
    pthread_mutex_lock(&p->lock);
    bool s = p->stop;
    pthread_mutex_unlock(&p->lock);
    return s;
}

static void state_record(void *arg, const char *key, const char *value, size_t len)
{
    struct pl_poller *p = arg;
    for (size_t i = 0; i < p->nsources; i++) {
        struct pl_source *s = &p->sources[i];
        if (strcmp(s->key, key) != 0)
            continue;
        pl_snapshot_free(&s->seen);
        s->known = false;
        if (value && pl_snapshot_decode(value, len, &s->seen) == 0)
            s->known = true;
        else if (value)
            HB_LOG(HB_LOG_WARN, "state record ignored (malformed)", HB_S("source", key));
    }
}

static int list_source(struct pl_poller *p, struct pl_source *s, struct pl_snapshot *cur,
                       char *err, size_t errlen)
{
    switch (s->kind) {
    case PL_GIT:
        return pl_git_list(s, p->conf.request_timeout_ms, cur, err, errlen);
    case PL_IMAGE:
        return pl_oci_list(s, &p->http, cur, err, errlen);
    case PL_CHART:
        return pl_helm_list(s, &p->http, cur, err, errlen);
    }
    return -1;
}

/* One poll of s. 0, or -1 with err (s is then retried with backoff and its
 * seen snapshot is kept, so the change is found again). */
static int poll_source(struct pl_poller *p, struct pl_source *s, char *err, size_t errlen)
{
    struct pl_snapshot cur = {0};
    struct hb_event **evs = NULL;
    size_t nev = 0;
    char now[32];
    int rc = -1;
    hb_counter_add(p->m_polls, 1);
    if (list_source(p, s, &cur, err, errlen) < 0)
        goto done;
    hb_now_rfc3339(now);
    const struct pl_source_desc d = {.kind = s->kind, .url = s->event_url, .provider = "poller",
                                     .receiver = p->conf.name, .source = p->source_attr};
    if (s->known && pl_diff(&d, &s->seen, &cur, now, &evs, &nev, err, errlen) < 0)
        goto done;
    if (nev && pl_kafka_publish(p->kafka, evs, nev, err, errlen) < 0)
        goto done;
    hb_counter_add(p->m_changes, nev);
    for (size_t i = 0; i < nev; i++)
        HB_LOG(HB_LOG_INFO, "change published", HB_S("type", hb_event_get(evs[i], "type")),
               HB_S("subject", hb_event_get(evs[i], "subject")),
               HB_S("id", hb_event_get(evs[i], "id")));
    if (!s->known || !pl_snapshot_equal(&s->seen, &cur)) {
        char *state = pl_snapshot_encode(&cur, s->kind, s->url);
        char serr[256];
        /* The events are out: a state not written only means a restart finds
         * them again, under the same ids. */
        if (!state || pl_kafka_put_state(p->kafka, s->key, state, serr, sizeof(serr)) < 0) {
            hb_counter_add(p->m_state_errors, 1);
            HB_LOG(HB_LOG_WARN, "state not written", HB_S("source", s->key),
                   HB_S("error", state ? serr : "out of memory"));
        }
        free(state);
        if (!s->known)
            HB_LOG(HB_LOG_INFO, "source first seen", HB_S("source", s->key),
                   HB_I("items", cur.n));
    }
    pl_snapshot_free(&s->seen);
    s->seen = cur;
    memset(&cur, 0, sizeof(cur));
    s->known = true;
    rc = 0;
done:
    for (size_t i = 0; i < nev; i++)
        hb_event_free(evs[i]);
    free(evs);
    pl_snapshot_free(&cur);
    return rc;
}

static void *loop_main(void *arg)
{
    struct pl_poller *p = arg;
    char err[512];
    while (!stopping(p)) {
        if (pl_kafka_ensure_state_topic(p->kafka, err, sizeof(err)) < 0)
            HB_LOG(HB_LOG_WARN, "state topic not created", HB_S("error", err));
        if (pl_kafka_read_state(p->kafka, p->brokers, &p->props, state_record, p, err,
                                sizeof(err)) == 0)
            break;
        HB_LOG(HB_LOG_WARN, "state topic not read; retrying", HB_S("error", err));
        pl_sleep(p, PL_STATE_RETRY_MS);
    }
    atomic_store(&p->ready, true);
    int64_t start = hb_mono_ms();
    for (size_t i = 0; i < p->nsources; i++)
        p->sources[i].next_due = start + (int64_t)(rand01(p) * PL_FIRST_POLL_SPREAD_MS);
    while (!stopping(p) && p->nsources) {
        struct pl_source *s = &p->sources[0];
        for (size_t i = 1; i < p->nsources; i++)
            if (p->sources[i].next_due < s->next_due)
                s = &p->sources[i];
        int64_t now = hb_mono_ms();
        if (s->next_due > now) {
            pl_sleep(p, (long)(s->next_due - now));
            continue; /* a stop, or the earliest is due now */
        }
        if (poll_source(p, s, err, sizeof(err)) < 0) {
            if (stopping(p))
                break;
            s->failures++;
            hb_counter_add(p->m_errors, 1);
            HB_LOG(HB_LOG_WARN, "poll failed", HB_S("source", s->key), HB_S("error", err),
                   HB_I("failures", s->failures));
        } else {
            s->failures = 0;
        }
        now = hb_mono_ms();
        long wait = pl_next_wait_ms(&p->conf, s->failures, atomic_load(&s->last_webhook), now,
                                    rand01(p));
        s->next_due = now + wait;
        HB_LOG(HB_LOG_DEBUG, "polled", HB_S("source", s->key), HB_I("failures", s->failures),
               HB_I("next_ms", wait));
    }
    return NULL;
}

void pl_loop_webhook_seen(struct pl_poller *p, const char *repo, const char *kind)
{
    bool git = strcmp(kind, "git") == 0;
    for (size_t i = 0; i < p->nsources; i++) {
        struct pl_source *s = &p->sources[i];
        if ((s->kind == PL_GIT) == git && strcmp(s->id, repo) == 0)
            atomic_store(&s->last_webhook, hb_mono_ms());
    }
}

int pl_loop_start(struct pl_poller *p, struct hb_metrics *m, char *err, size_t errlen)
{
    p->m_polls = hb_metrics_counter(m, "hookbus_poller_polls_total", "Polls of a source", NULL);
    p->m_changes = hb_metrics_counter(m, "hookbus_poller_changes_total",
                                      "Changes found and published as events", NULL);
    p->m_errors = hb_metrics_counter(m, "hookbus_poller_errors_total",
                                     "Polls that failed (listing or publishing)", NULL);
    p->m_state_errors = hb_metrics_counter(m, "hookbus_poller_state_errors_total",
                                           "State records not written", NULL);
    p->m_sources = hb_metrics_gauge(m, "hookbus_poller_sources", "Sources polled", NULL);
    hb_gauge_set(p->m_sources, (int64_t)p->nsources);
    p->http.metrics = m;
    p->http.sleep = pl_sleep;
    p->http.sleep_arg = p;
    if (!(p->kafka = pl_kafka_new(p->brokers, &p->props, p->conf.state_topic, p->conf.git_topic,
                                  p->conf.image_topic, err, errlen)))
        return -1;
    if (pthread_create(&p->thread, NULL, loop_main, p) != 0) {
        snprintf(err, errlen, "cannot start the poll thread");
        return -1;
    }
    p->started = true;
    return 0;
}

void pl_loop_stop(struct pl_poller *p)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started)
        pthread_join(p->thread, NULL);
    p->started = false;
}
