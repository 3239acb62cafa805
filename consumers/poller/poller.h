/* poller.h: hookbus-poller's pieces and how they meet.
 *
 *   main.c      configuration, the consumer runtime (it reads the event topics
 *               to learn which sources had webhooks), start / stop
 *   loop.c      the poll thread: state first, then each source when due (a
 *               Git listing runs in a thread of its own, so a slow or hung
 *               Git server does not hold the others)
 *   git.c       a Git remote's refs (libgit2 ls-remote, no clone)
 *   oci.c       an OCI registry repository's tags and their digests
 *   helm.c      the versions of one chart of a Helm HTTP repository
 *   http.c      HTTP requests with per-host politeness (budget, 429)
 *   snapshot.c  what a source showed, its state record, and the events
 *               a change between two snapshots gives
 *   kafka.c     the state topic (read at start, one record per source) and
 *               publishing events
 */
#ifndef PL_POLLER_H
#define PL_POLLER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hookbus/config.h"
#include "hookbus/event.h"
#include "hookbus/kafka.h"
#include "hookbus/metrics.h"
#include "hookbus/regex.h"
#include "hookbus/tag_rules.h"
#include "hookbus/repo.h"
#include "hookbus/secret.h"

#define PL_MAX_ITEMS 100000 /* refs, tags or versions one source may list */

enum pl_kind { PL_GIT = 0, PL_IMAGE, PL_CHART };

/* ---- snapshot.c ---- */

/* One thing a source lists: a ref (refs/heads/main) with its commit, an image
 * tag with its manifest digest, a chart version with its archive digest ("" when the
 * index has none). */
struct pl_item {
    char *name, *value;
    bool chart; /* oci.c: an OCI artifact whose config is a Helm chart's (not in the state) */
};

/* Everything a source listed at one poll, sorted by name. */
struct pl_snapshot {
    struct pl_item *items;
    size_t n, cap;
};

/* Adds a copy of name/value. 0, or -1 when out of memory or over
 * PL_MAX_ITEMS. */
int pl_snapshot_add(struct pl_snapshot *s, const char *name, const char *value);
/* Sorts by name (call once filled, before pl_snapshot_get / pl_diff); a
 * name given twice keeps one of its values. */
void pl_snapshot_sort(struct pl_snapshot *s);
const char *pl_snapshot_get(const struct pl_snapshot *s, const char *name);
/* Drops the items keep(arg, name) refuses, keeping the order. */
void pl_snapshot_filter(struct pl_snapshot *s, bool (*keep)(const void *arg, const char *name),
                        const void *arg);
bool pl_snapshot_equal(const struct pl_snapshot *a, const struct pl_snapshot *b);
void pl_snapshot_free(struct pl_snapshot *s);
/* The state record's value: {"v":1,"kind":"git","url":...,"items":{name:value}}.
 * Caller frees; NULL when out of memory. */
char *pl_snapshot_encode(const struct pl_snapshot *s, enum pl_kind kind, const char *url);
/* Parses a state record value into s (sorted). 0, or -1 when malformed. */
int pl_snapshot_decode(const char *json, size_t len, struct pl_snapshot *s);

/* A source as the events name it. */
struct pl_source_desc {
    enum pl_kind kind;
    const char *url;      /* data.repository.urls[0] and the canonical id's input */
    const char *provider; /* "poller" */
    const char *receiver; /* the poller's name */
    const char *source;   /* /pollers/<name> */
};

/* The deterministic event id of one change: the first 32 hex digits of the
 * SHA-256 of "<repo>\n<name>\n<value>" (repo the canonical id, name the ref,
 * tag or version, value the commit or digest, "deleted" for a deleted
 * branch). A restart or a second replica finds the same change under the
 * same id, so deduplicating consumers act once. out[33]. */
void pl_event_id(const char *repo, const char *name, const char *value, char out[33]);

/* The events from old to cur: git.push per new or moved branch (and per
 * deleted branch, deleted: true), git.tag per new or moved tag, image.push
 * per new or moved tag, chart.push per new version. Appends to *evs / *nev
 * (caller frees every event and the array). 0, or -1 with err. */
int pl_diff(const struct pl_source_desc *d, const struct pl_snapshot *old,
            const struct pl_snapshot *cur, const char *time, struct hb_event ***evs, size_t *nev,
            char *err, size_t errlen);

/* ---- http.c ---- */

/* Per-host politeness: a token bucket of requests per minute, and the time a
 * 429 / Retry-After asked us to wait until. */
struct pl_host {
    char name[256];
    double tokens;
    int64_t refill_ms;     /* last refill */
    int64_t blocked_until; /* monotonic ms; 0: not blocked */
    struct hb_counter *m_waits;
    struct pl_host *next;
};

struct pl_http {
    struct pl_host *hosts;
    long per_minute; /* requests per host per minute */
    long timeout_ms;
    long max_body;    /* response bodies larger than this fail */
    long max_wait_ms; /* longest Retry-After waited for inside one poll */
    struct hb_metrics *metrics;
    /* Interruptible sleep: returns false when the program stops. */
    bool (*sleep)(void *arg, long ms);
    void *sleep_arg;
};

struct pl_http_opts {
    const char *user, *password; /* basic credentials, or NULL */
    const char *bearer;          /* Authorization: Bearer, or NULL */
    const char *accept;          /* Accept header, or NULL */
    bool head;                   /* HEAD instead of GET */
    bool insecure;               /* do not verify the TLS certificate */
};

struct pl_http_resp {
    long status;
    char *body; /* NUL-terminated */
    size_t body_len;
    char *content_type, *www_authenticate, *link, *digest; /* headers, or NULL */
};

void pl_http_resp_free(struct pl_http_resp *r);
/* One request, after waiting for the host's budget and any Retry-After;
 * a 429 is waited for (Retry-After, up to max_wait_ms) and retried up to
 * three times. 0 with *r (any status), or -1 with err (transport error,
 * body over max_body, still 429, stopping). */
int pl_http_do(struct pl_http *h, const char *url, const struct pl_http_opts *o,
               struct pl_http_resp *r, char *err, size_t errlen);
void pl_http_free(struct pl_http *h);
/* A Retry-After value (delta seconds or an HTTP date) in ms from now; -1
 * when absent or malformed. now_epoch: the current time in seconds. */
long pl_retry_after_ms(const char *v, long long now_epoch);
/* Takes a token of host h's bucket at now_ms: 0 when there was one, else the
 * ms until the next one (nothing taken). */
long pl_host_take(struct pl_host *h, long per_minute, int64_t now_ms);

/* ---- sources ---- */

struct pl_source {
    enum pl_kind kind;
    char *url;                    /* as configured */
    char *chart;                  /* chart name (PL_CHART) */
    char *event_url;              /* the URL events carry: url, or chart repo url/name */
    char id[HB_REPO_ID_MAX];      /* canonical repository id */
    char key[HB_REPO_ID_MAX + 8]; /* state record key: "<kind>:<id>" */
    char *user;
    struct hb_secret password, token;
    char *ssh_key_file, *ssh_user, *ssh_host_key_sha256;
    struct hb_secret ssh_passphrase;
    bool plain_http, insecure_skip_verify;
    struct hb_regex *tags; /* `tags:`: the tags / versions tracked; NULL: all */
    /* Discovered from Warehouses: the Kargo credential type of its
     * repository ("git", "image", "helm"), and the namespaces (projects)
     * whose Warehouses name it, where its credentials are looked for. Under
     * the poller's lock. NULL / 0 for configured sources. */
    const char *cred_type;
    char **cred_ns;
    size_t ncred_ns;
    /* Discovered: the tag rules of the Warehouse subscriptions naming it
     * (borrowed from discover.c's compiled objects), and how many of its
     * references want every tag (an ImageUpdater, a branch or chart
     * subscription, rules that did not compile). A tag is tracked when some
     * reference wants it. Under the poller's lock. */
    const struct hb_tag_rules **rules;
    size_t nrules;
    int unfiltered;
    /* loop.c */
    int refs;               /* discovered: objects naming it; 0: gone */
    struct pl_source *next; /* discovered ones are a list */
    struct pl_snapshot seen;
    bool known;       /* seen holds a snapshot (state or a poll) */
    int64_t next_due; /* monotonic ms */
    int failures;
    atomic_llong last_webhook;  /* monotonic ms of the last webhook event, 0 none */
    struct pl_listing *listing; /* loop.c: a Git listing in progress, under the lock */
    char *bearer_cache;         /* oci.c: the last registry token */
};

const char *pl_kind_name(enum pl_kind k);
/* Fills s's url, chart, event_url, id and key for a source of kind at url
 * (chart: the chart's name). 0, or -1 with err. */
int pl_source_identify(struct pl_source *s, enum pl_kind kind, const char *url, const char *chart,
                       char *err, size_t errlen);
void pl_source_clear(struct pl_source *s);
/* Whether s tracks name: a tag (refs/tags/<tag> of a Git source, an image
 * tag, a chart version) its `tags:` pattern matches and, discovered, that
 * some naming subscription's tag rules let through; or any branch. A match
 * that exceeds the regex limits counts as a match (never dropped silently).
 * A discovered source's: under the poller's lock. */
bool pl_source_wants(const void *s, const char *name);

/* git.c: how a Git listing runs: in a child process (this program, exe,
 * with PL_GIT_CHILD_FLAG), killed after timeout_ms or when stopping(arg). */
#define PL_GIT_CHILD_FLAG "--git-ls-remote"
struct pl_git_run {
    const char *exe; /* "/proc/self/exe" */
    long timeout_ms; /* poller.git_timeout */
    long max_bytes;  /* the largest answer read */
    bool (*stopping)(void *arg);
    void *arg;
    bool timed_out; /* out: the listing hit timeout_ms */
};
#define PL_MAX_GIT_LISTINGS 16 /* Git listings in progress at once */
/* The child's side: reads the request on stdin, writes the answer on
 * stdout. Its exit status. */
int pl_git_child_main(void);

/* git.c / oci.c / helm.c: list what a source shows now into s (sorted).
 * 0, or -1 with err (the source is retried with backoff). */
int pl_git_list(struct pl_source *src, struct pl_git_run *run, struct pl_snapshot *s, char *err,
                size_t errlen);
int pl_oci_list(struct pl_source *src, struct pl_http *h, struct pl_snapshot *s, char *err,
                size_t errlen);
int pl_helm_list(struct pl_source *src, struct pl_http *h, struct pl_snapshot *s, char *err,
                 size_t errlen);
/* helm.c: the versions (and digests) of chart `name` in an index.yaml text. */
int pl_helm_parse_index(const char *yaml, size_t len, const char *name, struct pl_snapshot *s,
                        char *err, size_t errlen);
/* oci.c: parses a Bearer challenge (WWW-Authenticate) into realm, service and
 * scope (each "" when absent). 0, or -1 when it is not a Bearer challenge. */
int pl_oci_parse_challenge(const char *h, char *realm, size_t rlen, char *service, size_t slen,
                           char *scope, size_t sclen);
/* oci.c: the URL of a Link: <...>; rel="next" header, resolved against base
 * (scheme://host); 0, or -1 when there is none. */
int pl_oci_next_link(const char *link, const char *base, char *out, size_t outlen);

/* ---- loop.c ---- */

/* The `poller:` section. */
struct pl_conf {
    char *name, *state_topic, *git_topic, *image_topic;
    long interval_ms, webhook_interval_ms, request_timeout_ms, max_response_bytes;
    long host_requests_per_minute, max_retry_wait_ms, git_timeout_ms;
    bool discover_kargo, discover_image_updater, discover_kargo_credentials;
    bool discover_image_updater_annotations;
};

/* A state record read at start, kept for sources discovered later. */
struct pl_stored {
    char *key, *value;
    size_t len;
    struct pl_stored *next;
};

struct pl_discovery;

struct pl_poller {
    struct pl_conf conf;
    struct pl_source *sources; /* configured */
    size_t nsources;
    struct pl_source *discovered;   /* under lock; freed by the poll thread only */
    struct pl_stored *stored;       /* under lock */
    struct pl_discovery *discovery; /* NULL: no discovery */
    char **plain_http_registries;   /* discover.plain_http_registries */
    size_t nplain;
    char **shared_ns; /* discover.kargo_shared_namespaces: searched after a Warehouse's own */
    size_t nshared;
    char source_attr[128];   /* /pollers/<name> */
    char *brokers;           /* resolved kafka.brokers */
    struct hb_kv_list props; /* kafka.properties */
    struct pl_kafka *kafka;
    struct pl_http http;
    pthread_t thread;
    bool started;
    size_t nlistings; /* Git listings in progress, under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    bool kick;         /* a source was discovered: pick again */
    atomic_bool ready; /* the state topic was read */
    struct hb_metrics *metrics;
    unsigned int seed; /* jitter */
    struct pl_git_run git;
    struct hb_counter *m_polls, *m_changes, *m_errors, *m_timeouts, *m_state_errors;
    struct hb_gauge *m_sources;
};

/* A discovered source named by one more object (discover.c): created on the
 * first reference unless a configured source has its key. ns and cred_type
 * (a Warehouse's namespace and its Kargo credential type; NULL for objects
 * whose credentials are not Kargo's) say where its credentials are. rules:
 * the tags this reference wants (borrowed until pl_loop_unref), NULL for
 * all. Returns the key into key[keylen] (what pl_loop_unref takes), or -1
 * when the URL is not a repository of its kind. */
int pl_loop_ref(struct pl_poller *p, enum pl_kind kind, const char *url, const char *chart,
                const char *ns, const char *cred_type, const struct hb_tag_rules *rules, char *key,
                size_t keylen);
/* One object fewer names it (rules: as given to pl_loop_ref); at none the
 * poll thread drops it. */
void pl_loop_unref(struct pl_poller *p, const char *key, const struct hb_tag_rules *rules);
void pl_loop_free_discovered(struct pl_poller *p);

/* ---- discover.c ---- */

/* discover.kargo / image_updater: the `kube:` section (hookbus/kube_consumer.h
 * keys). 0 or -1 with err. */
int pl_discovery_configure(struct pl_poller *p, const struct hb_config *cfg, bool kargo,
                           bool image_updater, bool iu_annotations, char *err, size_t errlen);
/* Sets the user name and password of discovered source s from the Kargo
 * credential Secrets of its namespaces (poller.discover.kargo_credentials):
 * a Secret labelled kargo.akuity.io/cred-type: <s's type> whose repoURL is
 * s's repository, else the first (by name) whose repoURLIsRegex pattern
 * matches its URL; none clears them. Called by the poll thread before each
 * poll of s, so a rotated Secret is used from the next poll on. */
void pl_discovery_credentials(struct pl_poller *p, struct pl_source *s);
/* The repository of an ImageUpdater imageName ("ghcr.io/a/b:~1.0",
 * "host:5000/app@sha256:..."): without the version constraint or digest.
 * 0, or -1 when empty or too long. */
int pl_image_name_repo(const char *image_name, char *out, size_t outlen);
/* Calls fn(arg, repo) for each image of an Image Updater 0.x image-list
 * annotation ("[alias=]image[:constraint], ..."): the image without its
 * alias, version constraint or digest. Returns the number of entries
 * skipped (empty or too long). */
int pl_image_list_each(const char *list, void (*fn)(void *arg, const char *repo), void *arg);
/* Starts the list + watch of Warehouses and / or ImageUpdaters. 0 or -1. */
int pl_discovery_start(struct pl_poller *p, struct hb_metrics *m, char *err, size_t errlen);
bool pl_discovery_ready(struct pl_poller *p);
/* Stops the watch and releases every Warehouse (their sources unref'd). */
void pl_discovery_free(struct pl_poller *p);

/* Starts the poll thread (reads the state topic, then polls). 0 or -1. */
int pl_loop_start(struct pl_poller *p, struct hb_metrics *m, char *err, size_t errlen);
/* Stops it (interrupts waits; a request in progress finishes first). */
void pl_loop_stop(struct pl_poller *p);
/* A webhook event for repository id `repo` of kind `kind` ("git", "image",
 * "chart"): its sources are polled at webhook_interval for a while. */
void pl_loop_webhook_seen(struct pl_poller *p, const char *repo, const char *kind);
/* The wait before poll n+1 of a source: interval, or webhook_interval when a
 * webhook event came within webhook_interval, times a jitter in [0.9, 1.1)
 * (jitter01 in [0, 1)); after `failures` consecutive errors, exponential
 * backoff from 1 s up to the interval instead. */
long pl_next_wait_ms(const struct pl_conf *c, int failures, int64_t last_webhook, int64_t now,
                     double jitter01);

/* ---- kafka.c ---- */

struct pl_kafka;
/* A producer (idempotent, acks=all) on brokers with the user's properties. */
struct pl_kafka *pl_kafka_new(const char *brokers, const struct hb_kv_list *props,
                              const char *state_topic, const char *git_topic,
                              const char *image_topic, char *err, size_t errlen);
void pl_kafka_free(struct pl_kafka *k);
/* Creates the state topic (compacted) when missing. 0, or -1 with err. */
int pl_kafka_ensure_state_topic(struct pl_kafka *k, char *err, size_t errlen);
/* Reads the whole state topic (every partition up to its end at the time of
 * the call) and calls fn(arg, key, value, len) for each record in order; a
 * tombstone has value NULL. 0, or -1 with err. */
int pl_kafka_read_state(struct pl_kafka *k, const char *brokers, const struct hb_kv_list *props,
                        void (*fn)(void *arg, const char *key, const char *value, size_t len),
                        void *arg, char *err, size_t errlen);
/* Publishes the events (binary mode; git.* to the git topic, image and chart
 * pushes to the image topic) and waits until Kafka acknowledged every one.
 * 0, or -1 with err. */
int pl_kafka_publish(struct pl_kafka *k, struct hb_event *const *evs, size_t n, char *err,
                     size_t errlen);
/* Writes one state record and waits for its acknowledgement. 0 or -1. */
int pl_kafka_put_state(struct pl_kafka *k, const char *key, const char *value, char *err,
                       size_t errlen);
/* True while a broker answers (the last publish or metadata request). */
bool pl_kafka_up(struct pl_kafka *k);

#endif
