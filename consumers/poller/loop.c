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
    while (!p->stop && !p->kick && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
        ;
    p->kick = false;
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

static bool stopping_cb(void *arg)
{
    return stopping(arg);
}

int pl_source_identify(struct pl_source *s, enum pl_kind kind, const char *url, const char *chart,
                       char *err, size_t errlen)
{
    s->kind = kind;
    if (!(s->url = strdup(url)) || (chart && !(s->chart = strdup(chart)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* The URL events carry, and the canonical id the state and the webhook
     * events are keyed by. A chart of an HTTP repository is <url>/<name>, as
     * Kargo's chart subscriptions are matched (README, hookbus-kargo). */
    if (kind == PL_CHART) {
        size_t ul = strlen(url);
        while (ul && url[ul - 1] == '/')
            ul--;
        struct hb_buf b;
        hb_buf_init(&b, 2048);
        if (hb_buf_printf(&b, "%.*s/%s", (int)ul, url, chart ? chart : "") < 0) {
            hb_buf_free(&b);
            snprintf(err, errlen, "URL too long");
            return -1;
        }
        s->event_url = hb_buf_steal(&b);
    } else {
        s->event_url = strdup(url);
    }
    if (!s->event_url) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = kind == PL_GIT ? hb_repo_git_id(s->event_url, s->id, sizeof(s->id))
                            : hb_repo_image_id(s->event_url, s->id, sizeof(s->id));
    if (rc < 0) {
        snprintf(err, errlen, "'%.300s' is not a %s repository", url, pl_kind_name(kind));
        return -1;
    }
    snprintf(s->key, sizeof(s->key), "%s:%s", pl_kind_name(kind), s->id);
    return 0;
}

void pl_source_clear(struct pl_source *s)
{
    free(s->url);
    free(s->chart);
    free(s->event_url);
    free(s->user);
    hb_secret_clear(&s->password);
    hb_secret_clear(&s->token);
    free(s->ssh_key_file);
    free(s->ssh_user);
    free(s->ssh_host_key_sha256);
    hb_secret_clear(&s->ssh_passphrase);
    pl_snapshot_free(&s->seen);
    free(s->bearer_cache);
    hb_regex_free(s->tags);
    for (size_t i = 0; i < s->ncred_ns; i++)
        free(s->cred_ns[i]);
    free(s->cred_ns);
    free(s->rules);
}

/* Adds ns to the namespaces s's credentials are looked for in. Under p->lock. */
static void add_cred_ns(struct pl_source *s, const char *ns)
{
    for (size_t i = 0; i < s->ncred_ns; i++)
        if (strcmp(s->cred_ns[i], ns) == 0)
            return;
    char **n = realloc(s->cred_ns, (s->ncred_ns + 1) * sizeof(*n));
    if (!n)
        return;
    s->cred_ns = n;
    if ((n[s->ncred_ns] = strdup(ns)))
        s->ncred_ns++;
}

/* One more reference on s wants the tags rules let through (NULL: all).
 * Under p->lock. */
static void add_rules(struct pl_source *s, const struct hb_tag_rules *rules)
{
    const struct hb_tag_rules **n = NULL;
    if (rules && (n = realloc(s->rules, (s->nrules + 1) * sizeof(*n)))) {
        s->rules = n;
        n[s->nrules++] = rules;
    } else {
        s->unfiltered++; /* out of memory: every tag rather than too few */
    }
}

static void remove_rules(struct pl_source *s, const struct hb_tag_rules *rules)
{
    for (size_t i = 0; rules && i < s->nrules; i++)
        if (s->rules[i] == rules) {
            s->rules[i] = s->rules[--s->nrules];
            return;
        }
    if (s->unfiltered > 0)
        s->unfiltered--;
}

bool pl_source_wants(const void *arg, const char *name)
{
    const struct pl_source *s = arg;
    if (s->kind == PL_GIT) {
        if (!hb_str_has_prefix(name, "refs/tags/"))
            return true; /* branches are not filtered */
        name += strlen("refs/tags/");
    }
    if (s->tags && hb_regex_search(s->tags, name) == 0)
        return false;
    if (s->unfiltered || !s->nrules)
        return true;
    for (size_t i = 0; i < s->nrules; i++)
        if (!hb_tag_rules_check(s->rules[i], name))
            return true;
    return false;
}

/* Sets s->seen from a state record value. */
static void take_state(struct pl_source *s, const char *value, size_t len)
{
    pl_snapshot_free(&s->seen);
    s->known = false;
    if (value && pl_snapshot_decode(value, len, &s->seen) == 0)
        s->known = true;
    else if (value)
        HB_LOG(HB_LOG_WARN, "state record ignored (malformed)", HB_S("source", s->key));
}

/* A record of the state topic: applied to its configured source, and kept
 * (the latest per key) for a source discovered later. */
static void state_record(void *arg, const char *key, const char *value, size_t len)
{
    struct pl_poller *p = arg;
    for (size_t i = 0; i < p->nsources; i++)
        if (strcmp(p->sources[i].key, key) == 0) {
            take_state(&p->sources[i], value, len);
            return;
        }
    if (!p->discovery)
        return;
    pthread_mutex_lock(&p->lock);
    struct pl_stored *st = p->stored;
    while (st && strcmp(st->key, key) != 0)
        st = st->next;
    if (!st && (st = calloc(1, sizeof(*st)))) {
        if ((st->key = strdup(key))) {
            st->next = p->stored;
            p->stored = st;
        } else {
            free(st);
            st = NULL;
        }
    }
    if (st) {
        free(st->value);
        st->value = value ? hb_strndup(value, len) : NULL;
        st->len = st->value ? len : 0;
    }
    pthread_mutex_unlock(&p->lock);
}

/* The rest of a poll of s once it listed cur (taken): the events of the
 * change published, then the state written. 0, or -1 with err (s is then
 * retried with backoff and its seen snapshot is kept, so the change is
 * found again). */
static int finish_poll(struct pl_poller *p, struct pl_source *s, struct pl_snapshot *listed,
                       char *err, size_t errlen)
{
    struct pl_snapshot cur = *listed;
    struct hb_event **evs = NULL;
    size_t nev = 0;
    char now[32];
    int rc = -1;
    memset(listed, 0, sizeof(*listed));
    /* Tags outside the source's `tags:`, or a discovered one's tag rules,
     * are neither published nor kept; nor is a tag the rules stopped
     * tracking reported deleted. */
    pthread_mutex_lock(&p->lock);
    pl_snapshot_filter(&cur, pl_source_wants, s);
    if (s->known)
        pl_snapshot_filter(&s->seen, pl_source_wants, s);
    pthread_mutex_unlock(&p->lock);
    hb_now_rfc3339(now);
    const struct pl_source_desc d = {.kind = s->kind,
                                     .url = s->event_url,
                                     .provider = "poller",
                                     .receiver = p->conf.name,
                                     .source = p->source_attr};
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
            HB_LOG(HB_LOG_INFO, "source first seen", HB_S("source", s->key), HB_I("items", cur.n));
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

/* A Git listing running in its own thread: git.c's child process does the
 * work, the thread waits for it (up to git_timeout), then hands the result
 * to the poll thread, which finishes the poll. */
struct pl_listing {
    struct pl_poller *p;
    struct pl_source *s;
    struct pl_git_run run;
    pthread_t thread;
    bool done; /* under the poller's lock */
    int rc;
    struct pl_snapshot snap;
    char err[512];
};

static void *listing_main(void *arg)
{
    struct pl_listing *l = arg;
    int rc = pl_git_list(l->s, &l->run, &l->snap, l->err, sizeof(l->err));
    pthread_mutex_lock(&l->p->lock);
    l->rc = rc;
    l->done = true;
    l->p->kick = true; /* the poll thread finishes it */
    pthread_cond_broadcast(&l->p->cond);
    pthread_mutex_unlock(&l->p->lock);
    return NULL;
}

/* Starts the listing of Git source s. 0, or -1 with err. */
static int start_listing(struct pl_poller *p, struct pl_source *s, char *err, size_t errlen)
{
    struct pl_listing *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->p = p;
    l->s = s;
    l->run = p->git;
    pthread_mutex_lock(&p->lock);
    if (pthread_create(&l->thread, NULL, listing_main, l) != 0) {
        pthread_mutex_unlock(&p->lock);
        free(l);
        snprintf(err, errlen, "cannot start a Git listing thread");
        return -1;
    }
    s->listing = l;
    p->nlistings++;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Waits for l's thread and frees l (its source's pointer is cleared). */
static void end_listing(struct pl_poller *p, struct pl_listing *l)
{
    pthread_join(l->thread, NULL);
    pthread_mutex_lock(&p->lock);
    l->s->listing = NULL;
    p->nlistings--;
    pthread_mutex_unlock(&p->lock);
    pl_snapshot_free(&l->snap);
    free(l);
}

/* Starts a poll of s: a Git source's listing goes to its own thread
 * (*started: finished later, from the listing), the others are polled here.
 * 0, or -1 with err. */
static int poll_source(struct pl_poller *p, struct pl_source *s, bool *started, char *err,
                       size_t errlen)
{
    struct pl_snapshot cur = {0};
    *started = false;
    hb_counter_add(p->m_polls, 1);
    if (p->discovery)
        pl_discovery_credentials(p, s); /* a discovered source's, from Kargo's Secrets */
    if (s->kind == PL_GIT) {
        if (start_listing(p, s, err, errlen) < 0)
            return -1;
        *started = true;
        return 0;
    }
    int rc = s->kind == PL_IMAGE ? pl_oci_list(s, &p->http, &cur, err, errlen)
                                 : pl_helm_list(s, &p->http, &cur, err, errlen);
    if (rc < 0) {
        pl_snapshot_free(&cur);
        return -1;
    }
    return finish_poll(p, s, &cur, err, errlen);
}

/* A finished Git listing, or NULL. Under p->lock. */
static struct pl_listing *finished_listing(struct pl_poller *p)
{
    for (size_t i = 0; i < p->nsources; i++)
        if (p->sources[i].listing && p->sources[i].listing->done)
            return p->sources[i].listing;
    for (struct pl_source *s = p->discovered; s; s = s->next)
        if (s->listing && s->listing->done)
            return s->listing;
    return NULL;
}

/* The source due first, configured or discovered, among those not being
 * listed (and no Git source when PL_MAX_GIT_LISTINGS are); frees the
 * discovered sources no object names any more (only this thread frees
 * them, and it polls none right now). Under p->lock. */
static struct pl_source *next_source(struct pl_poller *p)
{
    struct pl_source *best = NULL;
    bool git_ok = p->nlistings < PL_MAX_GIT_LISTINGS;
    for (size_t i = 0; i < p->nsources; i++) {
        struct pl_source *s = &p->sources[i];
        if (!s->listing && (git_ok || s->kind != PL_GIT) && (!best || s->next_due < best->next_due))
            best = s;
    }
    struct pl_source **pp = &p->discovered;
    while (*pp) {
        struct pl_source *s = *pp;
        if (s->refs == 0 && !s->listing) {
            *pp = s->next;
            HB_LOG(HB_LOG_INFO, "source dropped", HB_S("source", s->key));
            hb_gauge_add(p->m_sources, -1);
            pl_source_clear(s);
            free(s);
            continue;
        }
        if (!s->listing && (git_ok || s->kind != PL_GIT) && (!best || s->next_due < best->next_due))
            best = s;
        pp = &s->next;
    }
    return best;
}

/* At stop: waits for every listing still running (each sees the stop and
 * kills its child within a fraction of a second). */
static void end_all_listings(struct pl_poller *p)
{
    for (;;) {
        struct pl_listing *l = NULL;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; !l && i < p->nsources; i++)
            l = p->sources[i].listing;
        for (struct pl_source *s = p->discovered; !l && s; s = s->next)
            l = s->listing;
        pthread_mutex_unlock(&p->lock);
        if (!l)
            return;
        end_listing(p, l);
    }
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
    /* Discovered sources find their state from here on. */
    if (p->discovery && !stopping(p) && pl_discovery_start(p, p->metrics, err, sizeof(err)) < 0)
        HB_LOG(HB_LOG_ERROR, "discovery not started", HB_S("error", err));
    atomic_store(&p->ready, true);
    int64_t start = hb_mono_ms();
    for (size_t i = 0; i < p->nsources; i++)
        p->sources[i].next_due = start + (int64_t)(rand01(p) * PL_FIRST_POLL_SPREAD_MS);
    while (!stopping(p)) {
        pthread_mutex_lock(&p->lock);
        struct pl_listing *l = finished_listing(p);
        struct pl_source *s = l ? l->s : next_source(p);
        pthread_mutex_unlock(&p->lock);
        int64_t now = hb_mono_ms();
        int rc;
        bool timeout = false;
        if (l) { /* a Git listing is back: the rest of its poll */
            timeout = l->run.timed_out;
            rc = l->rc;
            if (rc < 0)
                snprintf(err, sizeof(err), "%s", l->err);
            else
                rc = finish_poll(p, s, &l->snap, err, sizeof(err));
            end_listing(p, l);
        } else if (!s || s->next_due > now) {
            pl_sleep(p, s ? (long)(s->next_due - now) : 60000);
            continue; /* a stop, a new source, a listing back, or the earliest is due now */
        } else {
            bool started;
            rc = poll_source(p, s, &started, err, sizeof(err));
            if (started)
                continue; /* finished when its listing is back */
        }
        if (rc < 0) {
            if (stopping(p))
                break;
            s->failures++;
            hb_counter_add(timeout ? p->m_timeouts : p->m_errors, 1);
            HB_LOG(HB_LOG_WARN, "poll failed", HB_S("source", s->key), HB_S("error", err),
                   HB_S("reason", timeout ? "timeout" : "error"), HB_I("failures", s->failures));
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
    end_all_listings(p);
    return NULL;
}

void pl_loop_webhook_seen(struct pl_poller *p, const char *repo, const char *kind)
{
    bool git = strcmp(kind, "git") == 0;
    int64_t now = hb_mono_ms();
    for (size_t i = 0; i < p->nsources; i++) {
        struct pl_source *s = &p->sources[i];
        if ((s->kind == PL_GIT) == git && strcmp(s->id, repo) == 0)
            atomic_store(&s->last_webhook, now);
    }
    pthread_mutex_lock(&p->lock);
    for (struct pl_source *s = p->discovered; s; s = s->next)
        if ((s->kind == PL_GIT) == git && strcmp(s->id, repo) == 0)
            atomic_store(&s->last_webhook, now);
    pthread_mutex_unlock(&p->lock);
}

int pl_loop_ref(struct pl_poller *p, enum pl_kind kind, const char *url, const char *chart,
                const char *ns, const char *cred_type, const struct hb_tag_rules *rules, char *key,
                size_t keylen)
{
    struct pl_source *n = calloc(1, sizeof(*n));
    char err[400];
    if (!n)
        return -1;
    if (pl_source_identify(n, kind, url, chart, err, sizeof(err)) < 0 ||
        hb_strlcpy(key, n->key, keylen) < 0) {
        HB_LOG(HB_LOG_WARN, "discovered source ignored", HB_S("url", url), HB_S("reason", err));
        pl_source_clear(n);
        free(n);
        return -1;
    }
    struct hb_image_ref ref;
    if (kind == PL_IMAGE && hb_repo_image_parse(n->url, &ref) == 0)
        for (size_t i = 0; i < p->nplain; i++)
            n->plain_http |= strcmp(p->plain_http_registries[i], ref.registry) == 0;
    for (size_t i = 0; i < p->nsources; i++)
        if (strcmp(p->sources[i].key, n->key) == 0) { /* configured: it wins */
            pl_source_clear(n);
            free(n);
            return 0;
        }
    pthread_mutex_lock(&p->lock);
    for (struct pl_source *s = p->discovered; s; s = s->next)
        if (strcmp(s->key, n->key) == 0) {
            s->refs++;
            add_rules(s, rules);
            if (ns && cred_type) {
                s->cred_type = cred_type;
                add_cred_ns(s, ns);
            }
            pthread_mutex_unlock(&p->lock);
            pl_source_clear(n);
            free(n);
            return 0;
        }
    n->refs = 1;
    add_rules(n, rules);
    if (ns && cred_type) {
        n->cred_type = cred_type;
        add_cred_ns(n, ns);
    }
    n->next_due = hb_mono_ms() + (int64_t)(rand01(p) * PL_FIRST_POLL_SPREAD_MS);
    for (struct pl_stored *st = p->stored; st; st = st->next)
        if (strcmp(st->key, n->key) == 0)
            take_state(n, st->value, st->len);
    n->next = p->discovered;
    p->discovered = n;
    hb_gauge_add(p->m_sources, 1);
    p->kick = true;
    pthread_cond_broadcast(&p->cond);
    HB_LOG(HB_LOG_INFO, "source discovered", HB_S("source", n->key), HB_B("state", n->known));
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void pl_loop_unref(struct pl_poller *p, const char *key, const struct hb_tag_rules *rules)
{
    pthread_mutex_lock(&p->lock);
    for (struct pl_source *s = p->discovered; s; s = s->next)
        if (strcmp(s->key, key) == 0 && s->refs > 0) {
            s->refs--;
            remove_rules(s, rules);
            break;
        }
    pthread_mutex_unlock(&p->lock);
}

void pl_loop_free_discovered(struct pl_poller *p)
{
    while (p->discovered) {
        struct pl_source *s = p->discovered;
        p->discovered = s->next;
        pl_source_clear(s);
        free(s);
    }
    while (p->stored) {
        struct pl_stored *st = p->stored;
        p->stored = st->next;
        free(st->key);
        free(st->value);
        free(st);
    }
}

int pl_loop_start(struct pl_poller *p, struct hb_metrics *m, char *err, size_t errlen)
{
    p->m_polls = hb_metrics_counter(m, "hookbus_poller_polls_total", "Polls of a source", NULL);
    p->m_changes = hb_metrics_counter(m, "hookbus_poller_changes_total",
                                      "Changes found and published as events", NULL);
    p->m_errors = hb_metrics_counter(m, "hookbus_poller_errors_total",
                                     "Polls that failed (listing or publishing)",
                                     "reason=\"error\"");
    p->m_timeouts = hb_metrics_counter(m, "hookbus_poller_errors_total",
                                       "Polls that failed (listing or publishing)",
                                       "reason=\"timeout\"");
    p->m_state_errors = hb_metrics_counter(m, "hookbus_poller_state_errors_total",
                                           "State records not written", NULL);
    p->m_sources = hb_metrics_gauge(m, "hookbus_poller_sources", "Sources polled", NULL);
    hb_gauge_set(p->m_sources, (int64_t)p->nsources);
    p->metrics = m;
    p->http.metrics = m;
    p->http.sleep = pl_sleep;
    p->http.sleep_arg = p;
    p->git.exe = "/proc/self/exe";
    p->git.timeout_ms = p->conf.git_timeout_ms;
    p->git.max_bytes = p->conf.max_response_bytes;
    p->git.stopping = stopping_cb;
    p->git.arg = p;
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
