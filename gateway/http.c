/* http.c: the webhook request's lifecycle on libmicrohttpd.
 *
 * The request path reads top-down below: accept (admin routes, connection
 * limit, route, receiver, method, global rate limit, key URL), read the body
 * (bounded, before a deadline that conns.c enforces), authenticate, the
 * receiver's rate limit, normalize, publish (the connection is suspended, no
 * server thread waits) and answer once the last delivery report resumed it.
 * All of it runs on the worker thread that owns the connection (workers.c),
 * which also runs Kafka's delivery reports: a report of its own request
 * resumes it in the same pass, one of another worker's wakes that worker.
 * Events Kafka did not acknowledge in time go to the spool (202 "spooled");
 * without room in the spool the answer is 503. While the spool holds
 * events, new events go behind them so that order holds.
 *
 * All per-request state hangs off struct gw_http_req and is freed in the
 * request-completed callback. The configuration is a reference-counted
 * generation that SIGHUP replaces. Metrics per receiver are metrics.c's, the
 * certificate tls.c's, the connection list and slow-client reaper conns.c's,
 * the token buckets ratelimit.c's, the event loops workers.c's. Every
 * answered request is recorded for the console (deliveries.c); its routes
 * (console.c) are served on a separate admin_listen only. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "budget.h"
#include "conns.h"
#include "console.h"
#include "deliveries.h"
#include "framing.h"
#include "gateway.h"
#include "hookbus/arena.h"
#include "hookbus/format.h"
#include "hookbus/log.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "metrics.h"
#include "ratelimit.h"
#include "replay.h"
#include "request_span.h"
#include "tls.h"
#include "workers.h"

#define WEBHOOK_PREFIX "/webhooks/"
#define CONN_RESERVE 16               /* connections over max_connections answered 503 */
#define BODY_PREALLOC_MAX (64 * 1024) /* bytes reserved up front from Content-Length */
/* An announced body over the limit, without Expect: 100-continue, is read
 * and discarded up to this many bytes before the 413, so that the sender
 * reads the answer instead of a TCP reset; past it the 413 comes at once
 * and the connection closes. */
#define DISCARD_MAX (8L * 1024 * 1024)
#define PREAUTH_FULL                                                                               \
    "too many unauthenticated request bodies in flight "                                           \
    "(limits.unauthenticated_body_bytes)"
#define ARENA_STACK_BYTES (24 * 1024) /* the normalize arena's first chunk: a ~4 KB push */
/* libmicrohttpd's connection memory is this many times max_header_bytes:
 * a request head over the limit but within it reaches the gateway, which
 * answers the JSON 431; past it libmicrohttpd answers its own (HTML). */
#define HEAD_POOL_FACTOR 2

/* One configuration generation: requests hold a reference for their whole
 * life, so SIGHUP swaps the receiver table without touching requests in
 * flight. */
struct gw_gen {
    struct gw_config cfg;
    atomic_int refs;
    struct gw_bucket global;
    struct gw_bucket *buckets;            /* per receiver, same index as cfg.receivers */
    struct gw_receiver_metrics *rmetrics; /* each receiver's ->metrics */
};

struct gw_server {
    struct gw_gen *_Atomic gen; /* read under gen_lock, swapped by reload */
    pthread_mutex_t gen_lock;
    struct gw_producer *producer;
    struct gw_spool *spool;
    struct hb_metrics *metrics;
    struct gw_workers *workers; /* the webhooks listener's event loops */
    struct MHD_Daemon *admin;   /* a separate admin_listen's, on its own threads */
    bool tls, separate_admin;
    bool self_signed; /* the served certificate was generated at start */
    long max_connections;
    long max_header_bytes;    /* request line + headers: 431 past it */
    struct gw_budget preauth; /* body bytes held before authentication */
    struct gw_conns *conns;   /* the webhooks listener's connections */
    struct hb_histogram *publish_seconds;
    struct hb_gauge *connections;
    struct hb_counter *reloads_ok, *reloads_failed;
    struct gw_deliveries *deliveries; /* the console's record */
    struct gw_replay *replays;        /* Standard Webhooks deliveries answered 2xx */
    struct hb_otlp *otlp;             /* span export, NULL: off */
    /* Shutdown (gw_server_drain): requests between suspending their
     * connection and the last delivery report, and the flag that stops new
     * ones (libmicrohttpd aborts when stopped with a connection suspended). */
    atomic_int publishing;
    atomic_bool draining;
};

enum req_state { RS_BODY, RS_WAIT, RS_DONE };

struct slot {
    struct gw_delivery base; /* first: the producer calls base.done */
    struct gw_http_req *req;
    size_t index;
    const char *topic;
    bool failed;
    int partition; /* where Kafka put it, for the console */
    long long offset;
};

struct gw_http_req {
    struct gw_server *srv;
    struct gw_gen *gen;
    const struct gw_config *cfg; /* &gen->cfg */
    const struct gw_receiver *rcv;
    struct MHD_Connection *conn;
    struct gw_worker *worker; /* the loop that owns conn (workers.c) */
    _Atomic int state;
    struct hb_buf body;
    bool too_large, key_route, authentic, over_budget;
    const char *refused; /* credentials refused from the headers: the reason */
    long long held;      /* bytes taken from srv->preauth */
    char remote[64];
    int64_t start_ms, produce_ms;
    struct gw_request greq;
    struct gw_ctx ctx;
    struct slot *slots;
    atomic_int remaining;
    pthread_mutex_t lock;
    bool failed;    /* a delivery failed (under lock) */
    bool permanent; /* Kafka refused one for good (under lock) */
    char *error;    /* its first error, NULL on ENOMEM (under lock) */
};
/* Over ~1000 bytes glibc serves the request's calloc from its large bins,
 * which consolidates the fast bins on every request. */
_Static_assert(sizeof(struct gw_http_req) <= 1000,
               "struct gw_http_req: keep it a small-bin allocation");

/* The request path, in the order it runs. */
static enum MHD_Result begin(struct gw_server *srv, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls);
static enum MHD_Result process(struct gw_http_req *r);
static enum MHD_Result publish(struct gw_http_req *r);
static void on_delivery(struct gw_delivery *d, const char *error, bool permanent, const char *topic,
                        int partition, long long offset);
static enum MHD_Result answer(struct gw_http_req *r);
static enum MHD_Result spool_and_answer(struct gw_http_req *r, struct hb_event *const *events,
                                        size_t n, const char *why);
static enum MHD_Result accepted(struct gw_http_req *r, size_t spooled);
static enum MHD_Result finish(struct gw_http_req *r, unsigned status, const char *msg,
                              const char *retry_after);
/* Helpers. */
static enum MHD_Result serve_admin(struct gw_server *srv, struct MHD_Connection *conn,
                                   const char *url, const char *method, bool *handled);
static bool parse_route(const char *url, char *name, size_t nlen, char *key, size_t klen);
static enum MHD_Result rate_limited(struct gw_server *srv, struct gw_bucket *bucket,
                                    const struct gw_receiver *rcv, struct MHD_Connection *conn,
                                    bool *limited);
static enum MHD_Result refuse_auth(struct gw_http_req *r, const char *reason);
static void record(struct gw_http_req *r, unsigned status, const char *reason);
static void request_plumbing(struct gw_http_req *r, const char *ct);
static void remote_addr(struct MHD_Connection *conn, char *out, size_t outlen);
static void framing_of(struct MHD_Connection *conn, long long max_body, struct gw_framing *f);
static size_t head_bytes(struct MHD_Connection *conn, const char *url, const char *method);
static int authenticate_headers(struct gw_http_req *r, long long len);
static bool hold(struct gw_http_req *r, size_t n);
static void release(struct gw_http_req *r);
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               const char *body, const char *retry_after);
static enum MHD_Result respond_msg(struct MHD_Connection *conn, unsigned status, const char *msg,
                                   const char *retry_after);
static enum MHD_Result answer_handshake(struct gw_server *srv, struct MHD_Connection *conn,
                                        const struct gw_receiver *rcv);
static struct gw_gen *gen_acquire(struct gw_server *srv);
static void gen_release(struct gw_gen *g);

/* ---- the request path ---- */

/* libmicrohttpd's access handler: called when the headers are complete
 * (begin), once per body chunk, once when the body is complete (process) and
 * again when the last delivery report resumed the connection (answer). */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct gw_server *srv = cls;
    struct gw_http_req *r = *con_cls;
    if (!r)
        return begin(srv, conn, url, method, con_cls);
    if (atomic_load(&r->state) == RS_DONE)
        return answer(r);
    if (atomic_load(&r->state) == RS_WAIT)
        return MHD_YES;
    if (*upload_data_size) {
        /* Over the limit: keep nothing more. libmicrohttpd cannot answer in
         * the middle of an upload, so the rest is discarded (memory stays
         * bounded, time by the request deadline) and 413 follows. */
        if (!r->too_large && !r->over_budget && !r->refused && !hold(r, *upload_data_size)) {
            r->over_budget = true;
            hb_buf_free(&r->body);
        }
        if (!r->too_large && !r->over_budget && !r->refused &&
            hb_buf_append(&r->body, upload_data, *upload_data_size) < 0) {
            r->too_large = true;
            hb_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    gw_conns_deadline(srv->conns, conn, false); /* the body is in: the gateway holds it now */
    return process(r);
}

/* The first call for a request (headers complete): route, limits, key. */
static enum MHD_Result begin(struct gw_server *srv, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    char name[80], key[96];
    bool handled, limited;
    if (!srv->separate_admin) {
        enum MHD_Result res = serve_admin(srv, conn, url, method, &handled);
        if (handled)
            return res;
    }
    if (head_bytes(conn, url, method) > (size_t)srv->max_header_bytes) {
        gw_metrics_request(srv->metrics, NULL, 431);
        return respond_msg(conn, 431, "request line and headers over limits.max_header_bytes",
                           NULL);
    }
    if (!gw_conns_admit(srv->conns, conn)) {
        gw_metrics_request(srv->metrics, NULL, 503);
        return respond_msg(conn, 503,
                           "too many connections from this address "
                           "(limits.max_connections_per_ip)",
                           "1");
    }
    if (gw_conns_count(srv->conns) > srv->max_connections) {
        gw_metrics_request(srv->metrics, NULL, 503);
        return respond_msg(conn, 503, "too many connections (limits.max_connections)", "1");
    }
    if (!parse_route(url, name, sizeof(name), key, sizeof(key))) {
        gw_metrics_request(srv->metrics, NULL, 404);
        return respond_msg(conn, 404, "not found", NULL);
    }
    struct gw_gen *g = gen_acquire(srv);
    const struct gw_receiver *rcv = gw_config_find_receiver(&g->cfg, name);
    enum MHD_Result res;
    if (!rcv) {
        gw_metrics_request(srv->metrics, NULL, 404);
        res = respond_msg(conn, 404, "unknown receiver", NULL);
        goto release;
    }
    bool handshake = strcmp(method, "OPTIONS") == 0 && rcv->type->allowed_origin;
    if (strcmp(method, "POST") != 0 && !handshake) {
        gw_metrics_request(srv->metrics, rcv, 405);
        res = respond_msg(conn, 405, "method not allowed: use POST", NULL);
        goto release;
    }
    res = rate_limited(srv, &g->global, rcv, conn, &limited);
    if (limited)
        goto release;
    if (handshake) {
        res = answer_handshake(srv, conn, rcv);
        goto release;
    }
    struct gw_http_req *r = calloc(1, sizeof(*r));
    if (!r) {
        res = MHD_NO;
        goto release;
    }
    r->srv = srv;
    r->gen = g; /* the request's reference now */
    r->cfg = &g->cfg;
    r->rcv = rcv;
    r->conn = conn;
    r->worker = gw_worker_self();
    r->start_ms = hb_mono_ms();
    pthread_mutex_init(&r->lock, NULL);
    hb_buf_init(&r->body, (size_t)r->cfg->max_body_bytes);
    remote_addr(conn, r->remote, sizeof(r->remote));
    *con_cls = r;
    struct gw_framing f;
    framing_of(conn, r->cfg->max_body_bytes, &f);
    if (f.status == 413) {
        r->too_large = true;
        const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
        if (expect || f.length < 0 || f.length > DISCARD_MAX)
            return finish(r, 413, f.message, NULL);
        return MHD_YES; /* discarded as it arrives, then 413 */
    }
    if (f.status)
        return finish(r, f.status, f.message, NULL);
    long long len = f.length;
    if (key[0]) {
        if (!gw_key_valid(rcv, key))
            return refuse_auth(r, "invalid key in URL");
        r->key_route = true;
    }
    if (authenticate_headers(r, len) < 0)
        return refuse_auth(r, r->refused);
    if (len > 0 && !hold(r, (size_t)len))
        return finish(r, 503, PREAUTH_FULL, "1");
    /* One allocation for the announced body instead of a doubling per chunk;
     * capped, so a Content-Length without its bytes holds little memory. */
    if (len > 0)
        hb_buf_reserve(&r->body, (size_t)(len < BODY_PREALLOC_MAX ? len : BODY_PREALLOC_MAX));
    return MHD_YES;
release:
    gen_release(g);
    return res;
}

/* Splits /webhooks/{name}[/{key}]; false when the path has another shape. */
static bool parse_route(const char *url, char *name, size_t nlen, char *key, size_t klen)
{
    if (!hb_str_has_prefix(url, WEBHOOK_PREFIX))
        return false;
    const char *p = url + strlen(WEBHOOK_PREFIX);
    size_t n = strcspn(p, "/");
    if (!n || n >= nlen)
        return false;
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    key[0] = '\0';
    if (*p == '/' && p[1]) {
        p++;
        size_t k = strcspn(p, "/");
        if (k >= klen || p[k])
            return false;
        memcpy(key, p, k);
        key[k] = '\0';
    } else if (*p == '/' && !p[1]) {
        return true;
    } else if (*p) {
        return false;
    }
    return true;
}

/* The body is complete: authenticates, takes the receiver's token,
 * normalizes and publishes. */
static enum MHD_Result process(struct gw_http_req *r)
{
    char ct[128];
    const char *reason = "invalid";
    if (r->refused)
        return refuse_auth(r, r->refused);
    if (r->too_large)
        return finish(r, 413, "request body over limits.max_body_bytes", NULL);
    if (r->over_budget)
        return finish(r, 503, PREAUTH_FULL, "1");
    gw_media_type(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type"), ct,
                  sizeof(ct));
    request_plumbing(r, ct);
    gw_metrics_add(r->srv->metrics, r->rcv, GW_METRIC_BYTES, r->body.len);
    if (!r->authentic && gw_authenticate(r->rcv, &r->greq, &reason) < 0)
        return refuse_auth(r, reason);
    if (gw_replay_check(r->srv->replays, r->rcv, &r->greq))
        return refuse_auth(r, "webhook-id and webhook-timestamp already accepted (replay)");
    r->authentic = true;
    release(r); /* authentic: its body no longer counts against the budget */
    bool limited;
    enum MHD_Result res = rate_limited(r->srv, &r->gen->buckets[r->rcv - r->gen->cfg.receivers],
                                       r->rcv, r->conn, &limited);
    if (limited)
        return res;
    struct gw_ctx *ctx = &r->ctx;
    *ctx = (struct gw_ctx){.rcv = r->rcv, .req = &r->greq};
    hb_now_rfc3339(ctx->time);
    /* The body's cJSON trees live and die in normalize: one arena for all
     * their nodes. What outlives it (events, ids) is on the heap. */
    char mem[ARENA_STACK_BYTES];
    struct hb_arena arena = {0};
    hb_arena_enter(&arena, mem, sizeof(mem));
    gw_normalize(ctx);
    hb_arena_leave();
    /* ct is on this stack frame: nothing after it may read the media type
     * (the delivery record, written when the answer goes out, did). */
    r->greq.content_type = NULL;
    /* Events win over "not acted on": a push whose tag deletion is skipped
     * still publishes its other changes. Any other status discards them. */
    if (ctx->status == 200 && ctx->nevents)
        ctx->status = 0;
    if (ctx->status == 200 && ctx->reply) {
        HB_LOG(HB_LOG_INFO, "handshake answered", HB_S("receiver", r->rcv->name),
               HB_S("reason", ctx->message));
        gw_metrics_request(r->srv->metrics, r->rcv, 200);
        return respond(r->conn, 200, "application/json", ctx->reply, NULL);
    }
    if (ctx->status) {
        if (ctx->status == 200)
            HB_LOG(HB_LOG_INFO, "request not acted on", HB_S("receiver", r->rcv->name),
                   HB_S("delivery", ctx->delivery_id), HB_S("reason", ctx->message));
        return finish(r, (unsigned)ctx->status, ctx->message, NULL);
    }
    if (!ctx->nevents)
        return finish(r, 200, "nothing to publish", NULL);
    gw_ctx_finish(ctx);
    return publish(r);
}

/* Takes a token from bucket, or answers 429 with Retry-After (*limited). The
 * global bucket is taken when the headers arrive, before any work; a
 * receiver's only once the request proved authentic, so that an
 * unauthenticated flood cannot spend a sender's tokens. */
static enum MHD_Result rate_limited(struct gw_server *srv, struct gw_bucket *bucket,
                                    const struct gw_receiver *rcv, struct MHD_Connection *conn,
                                    bool *limited)
{
    long retry = 1;
    char ra[32];
    *limited = !gw_bucket_take(bucket, &retry);
    if (!*limited)
        return MHD_YES;
    snprintf(ra, sizeof(ra), "%ld", retry);
    gw_metrics_request(srv->metrics, rcv, 429);
    HB_LOG(HB_LOG_INFO, "request rate limited", HB_S("receiver", rcv->name),
           HB_I("retry_after_s", retry));
    return respond_msg(conn, 429, "rate limited", ra);
}

/* 401 with an audit log line (the reason is logged, never answered). */
static enum MHD_Result refuse_auth(struct gw_http_req *r, const char *reason)
{
    gw_metrics_add(r->srv->metrics, r->rcv, GW_METRIC_AUTH_FAILURES, 1);
    HB_LOG(HB_LOG_WARN, "authentication failed", HB_S("audit", "401"),
           HB_S("receiver", r->rcv->name), HB_S("remote", r->remote), HB_S("reason", reason));
    gw_metrics_request(r->srv->metrics, r->rcv, 401);
    record(r, 401, "authentication failed");
    return respond_msg(r->conn, 401, "authentication failed", NULL);
}

/* Encodes every event once and produces them; suspends the connection until
 * the last delivery report. While the spool holds events, these go behind
 * them (spooled, never encoded for Kafka). */
static enum MHD_Result publish(struct gw_http_req *r)
{
    struct gw_server *srv = r->srv;
    struct gw_ctx *ctx = &r->ctx;
    char err[256];
    enum MHD_Result res;
    size_t encoded = 0;
    if (srv->spool && gw_spool_pending(srv->spool))
        return spool_and_answer(r, ctx->events, ctx->nevents,
                                "earlier events are waiting in the spool");
    struct hb_kafka_msg *msgs = calloc(ctx->nevents, sizeof(*msgs));
    r->slots = calloc(ctx->nevents, sizeof(*r->slots));
    if (!msgs || !r->slots) {
        res = finish(r, 500, "out of memory", NULL);
        goto out;
    }
    for (; encoded < ctx->nevents; encoded++) {
        size_t i = encoded;
        if (hb_kafka_encode(ctx->events[i], r->cfg->format, &msgs[i], err, sizeof(err)) < 0) {
            res = finish(r, 400, err, NULL);
            goto out;
        }
        if (gw_producer_check_size(srv->producer, &msgs[i], err, sizeof(err)) < 0) {
            encoded++;
            res = finish(r, 413, err, NULL);
            goto out;
        }
        r->slots[i] = (struct slot){
            {on_delivery}, r,  i, gw_config_topic(r->cfg, hb_event_get(ctx->events[i], "type")),
            false,         -1, -1};
    }
    atomic_fetch_add(&srv->publishing, 1); /* before the check: see gw_server_drain */
    if (atomic_load(&srv->draining)) {
        atomic_fetch_sub(&srv->publishing, 1);
        res = finish(r, 503, "shutting down", "1");
        goto out;
    }
    atomic_store(&r->remaining, (int)ctx->nevents);
    atomic_store(&r->state, RS_WAIT);
    r->produce_ms = hb_mono_ms();
    MHD_suspend_connection(r->conn);
    for (size_t i = 0; i < ctx->nevents; i++)
        gw_producer_send(srv->producer, r->slots[i].topic, &msgs[i], &r->slots[i].base);
    res = MHD_YES;
out:
    for (size_t i = 0; msgs && i < encoded; i++)
        hb_kafka_msg_clear(&msgs[i]);
    free(msgs);
    return res;
}

/* One event's delivery report, on whichever thread serves the reports
 * (usually a worker of workers.c, often the request's own); the last one
 * resumes the connection for answer. */
static void on_delivery(struct gw_delivery *d, const char *error, bool permanent, const char *topic,
                        int partition, long long offset)
{
    struct slot *s = (struct slot *)d;
    struct gw_http_req *r = s->req;
    struct hb_event *ev = r->ctx.events[s->index];
    char trace_id[HB_TRACE_ID_HEX + 1];
    if (error) {
        s->failed = true;
        pthread_mutex_lock(&r->lock);
        if (permanent && !r->permanent) { /* answered as such, never spooled */
            r->permanent = true;
            free(r->error);
            r->error = strdup(error);
        }
        if (!r->failed) {
            r->failed = true;
            if (!r->error)
                r->error = strdup(error);
        }
        pthread_mutex_unlock(&r->lock);
        HB_LOG(HB_LOG_WARN, "event not acknowledged by kafka", HB_S("receiver", r->rcv->name),
               HB_S("id", hb_event_get(ev, "id")), HB_S("topic", topic), HB_S("error", error),
               HB_S("trace_id", hb_trace_id_of(ev, trace_id)));
    } else {
        s->partition = partition;
        s->offset = offset;
        int64_t ms = hb_mono_ms() - r->produce_ms;
        gw_metrics_add(r->srv->metrics, r->rcv, GW_METRIC_PUBLISHED, 1);
        hb_histogram_observe(r->srv->publish_seconds, (double)ms / 1000.0);
        HB_LOG(HB_LOG_INFO, "event published", HB_S("receiver", r->rcv->name),
               HB_S("id", hb_event_get(ev, "id")), HB_S("type", hb_event_get(ev, "type")),
               HB_S("repo", hb_event_get(ev, "repo")), HB_S("delivery", r->ctx.delivery_id),
               HB_S("topic", topic), HB_I("partition", partition), HB_I("offset", offset),
               HB_I("latency_ms", ms), HB_S("trace_id", hb_trace_id_of(ev, trace_id)));
    }
    if (atomic_fetch_sub(&r->remaining, 1) == 1) {
        struct gw_server *srv = r->srv; /* r may be answered and freed once resumed */
        struct gw_worker *w = r->worker;
        atomic_store(&r->state, RS_DONE);
        MHD_resume_connection(r->conn);
        gw_worker_resumed(w);
        atomic_fetch_sub(&srv->publishing, 1);
    }
}

/* The answer once every delivery report is in: 202, an error when Kafka
 * refused an event for good (a spooled copy would never be delivered), or
 * the events Kafka did not acknowledge go to the spool. */
static enum MHD_Result answer(struct gw_http_req *r)
{
    char why[224];
    if (!r->failed)
        return accepted(r, 0);
    if (r->permanent) {
        const char *e = r->error ? r->error : "out of memory";
        snprintf(why, sizeof(why), "kafka refused the event for good: %s", e);
        return finish(r, strstr(e, "too large") ? 413 : 502, why, NULL);
    }
    snprintf(why, sizeof(why), "kafka did not acknowledge: %s",
             r->error ? r->error : "out of memory");
    struct hb_event **failed = calloc(r->ctx.nevents, sizeof(*failed));
    if (!failed)
        return finish(r, 500, "out of memory", NULL);
    size_t n = 0;
    for (size_t i = 0; i < r->ctx.nevents; i++)
        if (r->slots[i].failed)
            failed[n++] = r->ctx.events[i];
    enum MHD_Result res = spool_and_answer(r, failed, n, why);
    free(failed);
    return res;
}

/* Writes events[0, n) to the spool, all or nothing, and answers: 202
 * "spooled", 503 without room, 400 for an event no format can encode. */
static enum MHD_Result spool_and_answer(struct gw_http_req *r, struct hb_event *const *events,
                                        size_t n, const char *why)
{
    char err[256], msg[320], trace_id[HB_TRACE_ID_HEX + 1];
    if (!r->srv->spool) {
        snprintf(msg, sizeof(msg), "not durable: %s; spool disabled", why);
        return finish(r, 503, msg, "5");
    }
    int rc = gw_spool_events(r->srv->spool, r->cfg, r->rcv->name, events, n, err, sizeof(err));
    if (rc == GW_SPOOL_INVALID)
        return finish(r, 400, err, NULL);
    if (rc == GW_SPOOL_TOO_LARGE)
        return finish(r, 413, err, NULL);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "not durable: %s; %s", why, err);
        return finish(r, 503, msg, rc == GW_SPOOL_FULL ? "30" : "5");
    }
    for (size_t i = 0; i < n; i++)
        HB_LOG(HB_LOG_INFO, "event spooled", HB_S("receiver", r->rcv->name),
               HB_S("id", hb_event_get(events[i], "id")),
               HB_S("repo", hb_event_get(events[i], "repo")), HB_S("reason", why),
               HB_S("trace_id", hb_trace_id_of(events[i], trace_id)));
    return accepted(r, n);
}

/* The 202 body: {"accepted": n, "ids": [...]}, plus "status": "spooled" and
 * "spooled": k when k of the events wait in the spool. */
static enum MHD_Result accepted(struct gw_http_req *r, size_t spooled)
{
    char mem[2048];
    struct hb_arena arena = {0};
    bool own = hb_arena_enter_if_none(&arena, mem, sizeof(mem));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "accepted", (double)r->ctx.nevents);
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < r->ctx.nevents; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(hb_event_get(r->ctx.events[i], "id")));
    if (spooled) { /* the direct answer stays {"accepted", "ids"} */
        cJSON_AddStringToObject(o, "status", "spooled");
        cJSON_AddNumberToObject(o, "spooled", (double)spooled);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    gw_metrics_request(r->srv->metrics, r->rcv, 202);
    record(r, 202, spooled ? "spooled" : "published");
    enum MHD_Result res = respond(r->conn, 202, "application/json", s ? s : "{}", NULL);
    cJSON_free(s);
    if (own)
        hb_arena_leave();
    return res;
}

/* Any other answer to a routed request: counted, logged when refused. */
static enum MHD_Result finish(struct gw_http_req *r, unsigned status, const char *msg,
                              const char *retry_after)
{
    gw_metrics_request(r->srv->metrics, r->rcv, status);
    if (status >= 400 && r->rcv)
        HB_LOG(status >= 500 ? HB_LOG_WARN : HB_LOG_INFO, "request rejected",
               HB_S("receiver", r->rcv->name), HB_I("status", status), HB_S("reason", msg),
               HB_S("remote", r->remote));
    record(r, status, msg);
    return respond_msg(r->conn, status, msg, retry_after);
}

/* Hands the answered request to the console's record: headers and body
 * only once authentic, each event with where Kafka put it (no topic when
 * it was spooled or not published). */
static void record(struct gw_http_req *r, unsigned status, const char *reason)
{
    struct gw_delivery_event evs[16], *ev = evs;
    size_t n = status == 202 ? r->ctx.nevents : 0;
    if (status >= 200 && status < 300 && r->authentic) /* a replay of it is refused */
        gw_replay_note(r->srv->replays, r->rcv, &r->greq);
    if (n > HB_ARRAY_LEN(evs) && !(ev = calloc(n, sizeof(*ev))))
        n = 0, ev = evs;
    for (size_t i = 0; i < n; i++) {
        const struct slot *s = r->slots ? &r->slots[i] : NULL;
        const struct hb_event *e = r->ctx.events[i];
        bool placed = s && !s->failed && s->partition >= 0;
        ev[i] = (struct gw_delivery_event){hb_event_get(e, "id"),      hb_event_get(e, "type"),
                                           hb_event_get(e, "subject"), placed ? s->topic : NULL,
                                           placed ? s->partition : -1, placed ? s->offset : -1};
    }
    struct gw_delivery_info info = {.rcv = r->rcv,
                                    .req = r->greq.header ? &r->greq : NULL,
                                    .ctx = &r->ctx,
                                    .remote = r->remote,
                                    .key_route = r->key_route,
                                    .authentic = r->authentic,
                                    .status = status,
                                    .reason = reason,
                                    .latency_ms = hb_mono_ms() - r->start_ms,
                                    .events = ev,
                                    .nevents = n,
                                    .body_buf = &r->body};
    gw_deliveries_record(r->srv->deliveries, &info);
    if (!r->body.p) { /* the record took the body */
        r->greq.body = (const unsigned char *)"";
        r->greq.body_len = 0;
    }
    if (ev != evs)
        free(ev);
    if (r->srv->otlp) /* span export on: the header is looked up only then */
        gw_request_span_export(
            r->srv->otlp,
            &(struct gw_request_span){
                r->rcv->name, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent"),
                &r->ctx, status, reason, n, r->start_ms, r->remote});
}

/* The request is over (answered, or the connection closed): frees its
 * state and arms the deadline of the next request on the connection. */
static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct gw_server *srv = cls;
    (void)toe;
    if (srv->conns)
        gw_conns_deadline(srv->conns, conn, true); /* keep-alive: the next request's deadline */
    struct gw_http_req *r = *con_cls;
    if (!r)
        return;
    release(r);
    hb_buf_free(&r->body);
    gw_ctx_clear(&r->ctx);
    free(r->slots);
    free(r->error);
    pthread_mutex_destroy(&r->lock);
    gen_release(r->gen);
    free(r);
    *con_cls = NULL;
}

/* ---- request plumbing: what receivers see of the request ---- */

static const char *req_header(const struct gw_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct each_ctx {
    void (*fn)(void *, const char *, const char *);
    void *arg;
};

static enum MHD_Result each_cb(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    struct each_ctx *e = cls;
    e->fn(e->arg, k, v ? v : "");
    return MHD_YES;
}

static void req_each_header(const struct gw_request *req,
                            void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    struct each_ctx e = {fn, arg};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, each_cb, &e);
}

/* Fills r->greq for the receivers; ct (the media type) must outlive it. */
static void request_plumbing(struct gw_http_req *r, const char *ct)
{
    r->greq = (struct gw_request){.method = "POST",
                                  .remote = r->remote,
                                  .content_type = ct,
                                  .body = (const unsigned char *)(r->body.p ? r->body.p : ""),
                                  .body_len = r->body.len,
                                  .key_route = r->key_route,
                                  .header = req_header,
                                  .each_header = req_each_header,
                                  .conn = r->conn};
}

/* Authenticates r from its headers when they carry the whole credential
 * (a token, a bearer token, a key route): authentic then, its body takes no
 * budget. A credential refused: -1 when the 401 goes out at once (the
 * sender waits for 100 Continue, or announced a body over
 * BODY_PREALLOC_MAX, or a chunked one: never read); else 0, and the small
 * body already on its way is discarded as it arrives, then 401, so that the
 * sender reads the answer instead of a TCP reset. r->refused is the reason
 * either way. Signatures over the body are checked once it is in. */
static int authenticate_headers(struct gw_http_req *r, long long len)
{
    const char *reason = "invalid";
    request_plumbing(r, "");
    int rc = gw_authenticate_headers(r->rcv, &r->greq, &reason);
    r->authentic = rc == GW_AUTH_OK;
    if (rc != GW_AUTH_REFUSED) {
        /* Filled again once the body is in: until then the console's
         * record of an early answer (413, 503) has no request to keep. */
        memset(&r->greq, 0, sizeof(r->greq));
        return 0;
    }
    r->refused = reason;
    const char *expect = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Expect");
    return expect || len < 0 || len > BODY_PREALLOC_MAX ? -1 : 0;
}

/* Takes budget for the body bytes of r beyond what it holds already, up to
 * body.len + n (a request authenticated from its headers takes none). */
static bool hold(struct gw_http_req *r, size_t n)
{
    long long need = (long long)(r->body.len + n) - r->held;
    if (r->key_route || r->authentic || need <= 0)
        return true;
    if (!gw_budget_take(&r->srv->preauth, need))
        return false;
    r->held += need;
    return true;
}

static void release(struct gw_http_req *r)
{
    if (r->held)
        gw_budget_give(&r->srv->preauth, r->held);
    r->held = 0;
}

/* Gathers the Content-Length and Transfer-Encoding fields for framing.c. */
static enum MHD_Result collect_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    struct gw_framing_in *in = cls;
    bool cl = strcasecmp(key, "Content-Length") == 0;
    if (!cl && strcasecmp(key, "Transfer-Encoding") != 0)
        return MHD_YES;
    size_t *n = cl ? &in->ncl : &in->nte;
    if (*n == GW_FRAMING_MAX_FIELDS) {
        in->overflow = true;
        return MHD_YES;
    }
    (cl ? in->cl : in->te)[(*n)++] = value ? value : "";
    return MHD_YES;
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/* The size of the request head as sent, less optional whitespace: request
 * line and header fields. */
static size_t head_bytes(struct MHD_Connection *conn, const char *url, const char *method)
{
    size_t n = strlen(method) + 1 + strlen(url) + sizeof(" HTTP/1.1\r\n") - 1 + 2;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_bytes, &n);
    return n;
}

static void framing_of(struct MHD_Connection *conn, long long max_body, struct gw_framing *f)
{
    struct gw_framing_in in = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_framing, &in);
    gw_framing_check(&in, max_body, f);
}

/* libmicrohttpd's URL unescaper: framing.c's, which keeps "%00". */
static size_t unescape_url(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return gw_url_unescape(s);
}

static void remote_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    hb_strlcpy(out, "?", outlen);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outlen);
}

/* The media type of Content-Type, lowercase, without parameters. */
void gw_media_type(const char *ct, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!ct)
        return;
    while (*ct == ' ')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, ct, n);
    out[n] = '\0';
    hb_str_lower(out);
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               const char *body, const char *retry_after)
{
    struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                               MHD_RESPMEM_MUST_COPY);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (retry_after)
        MHD_add_response_header(res, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "POST");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE || status == MHD_HTTP_TOO_MANY_REQUESTS)
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

/* OPTIONS of the CloudEvents webhook abuse protection (Event Grid's
 * CloudEvents schema): 200 with WebHook-Allowed-Origin when the receiver
 * type allows WebHook-Request-Origin, else 400. Nothing is published, so it
 * needs no credential (the sender cannot add one to it). */
static enum MHD_Result answer_handshake(struct gw_server *srv, struct MHD_Connection *conn,
                                        const struct gw_receiver *rcv)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     "WebHook-Request-Origin");
    const char *allowed = origin ? rcv->type->allowed_origin(rcv, origin) : NULL;
    if (!allowed) {
        gw_metrics_request(srv->metrics, rcv, 400);
        return respond_msg(conn, 400, "OPTIONS needs an allowed WebHook-Request-Origin", NULL);
    }
    struct MHD_Response *res = MHD_create_response_from_buffer(0, (void *)"",
                                                               MHD_RESPMEM_PERSISTENT);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, "WebHook-Allowed-Origin", allowed);
    MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "POST, OPTIONS");
    gw_metrics_request(srv->metrics, rcv, 200);
    enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, res);
    MHD_destroy_response(res);
    return r;
}

/* A JSON body {"<key>": msg} (error for 4xx/5xx, message otherwise). */
static enum MHD_Result respond_msg(struct MHD_Connection *conn, unsigned status, const char *msg,
                                   const char *retry_after)
{
    char mem[2048];
    struct hb_arena arena = {0};
    bool own = hb_arena_enter_if_none(&arena, mem, sizeof(mem));
    cJSON *o = cJSON_CreateObject();
    if (status >= 400) {
        cJSON_AddStringToObject(o, "error", msg);
    } else {
        cJSON_AddStringToObject(o, "status", "ignored");
        cJSON_AddStringToObject(o, "message", msg);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    enum MHD_Result r = respond(conn, status, "application/json", s ? s : "{}", retry_after);
    cJSON_free(s);
    if (own)
        hb_arena_leave();
    return r;
}

/* ---- health and metrics ---- */

/* Ready: the configured topics exist, nothing waits in a spool that cannot
 * write (new events queue behind it), and Kafka answers or the spool can
 * take what it does not. why is also set (and true returned, "degraded")
 * when answers may come from the spool: Kafka unreachable, or its latest
 * delivery failed (e.g. fewer in-sync replicas than min.insync.replicas). */
static bool ready(struct gw_server *srv, char *why, size_t whylen)
{
    if (gw_producer_topic_problem(srv->producer, why, whylen) < 0)
        return false;
    /* Kafka answers but would take nothing yet: the first webhooks would
     * wait for the id (an unreachable Kafka is the spool's case below). */
    if (gw_producer_ready(srv->producer) && gw_producer_pid_problem(srv->producer, why, whylen) < 0)
        return false;
    if (srv->spool && gw_spool_full(srv->spool) && gw_spool_pending(srv->spool)) {
        hb_strlcpy(why, "spool cannot take a record (full, or its disk is)", whylen);
        return false;
    }
    bool up = gw_producer_ready(srv->producer);
    if (up && gw_producer_last_error(srv->producer, why, whylen) == 0)
        return true;
    if (!up)
        hb_strlcpy(why, "kafka unreachable", whylen);
    if (srv->spool && !gw_spool_full(srv->spool))
        return true;
    if (up) /* Kafka answers, if slowly or failing: still worth sending to */
        return true;
    hb_strlcpy(
        why, srv->spool ? "kafka unreachable and spool full" : "kafka unreachable, spool disabled",
        whylen);
    return false;
}

static enum MHD_Result serve_admin(struct gw_server *srv, struct MHD_Connection *conn,
                                   const char *url, const char *method, bool *handled)
{
    *handled = true;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/healthz") == 0)
        return get ? respond(conn, 200, "application/json", "{\"status\":\"ok\"}", NULL)
                   : respond_msg(conn, 405, "method not allowed", NULL);
    if (strcmp(url, "/readyz") == 0) {
        char why[300], body[360];
        if (!get)
            return respond_msg(conn, 405, "method not allowed", NULL);
        why[0] = '\0';
        if (ready(srv, why, sizeof(why))) {
            if (!why[0])
                return respond(conn, 200, "application/json", "{\"ready\":true}", NULL);
            snprintf(body, sizeof(body), "{\"ready\":true,\"degraded\":\"%s\"}", why);
            return respond(conn, 200, "application/json", body, NULL);
        }
        snprintf(body, sizeof(body), "{\"ready\":false,\"error\":\"%s\"}", why);
        return respond(conn, 503, "application/json", body, "5");
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get)
            return respond_msg(conn, 405, "method not allowed", NULL);
        if (srv->spool)
            gw_spool_update_metrics(srv->spool);
        hb_gauge_set(srv->connections, gw_conns_count(srv->conns));
        char *text = hb_metrics_render(srv->metrics);
        enum MHD_Result r = respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                                    text ? text : "", NULL);
        free(text);
        return r;
    }
    *handled = false;
    return MHD_NO;
}

/* The access handler of a separate admin_listen. */
static enum MHD_Result admin_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    struct gw_server *srv = cls;
    bool handled;
    enum MHD_Result r = serve_admin(srv, conn, url, method, &handled);
    if (handled)
        return r;
    struct gw_gen *g = gen_acquire(srv);
    struct gw_console_env env = {srv->deliveries, srv->producer, srv->spool, &g->cfg};
    r = gw_console_serve(&env, conn, url, method, &handled);
    gen_release(g);
    return handled ? r : respond_msg(conn, 404, "not found", NULL);
}

/* ---- configuration generations ---- */

/* Wraps cfg (moved into the generation; *cfg is zeroed). NULL on ENOMEM. */
static struct gw_gen *gen_new(struct gw_config *cfg)
{
    struct gw_gen *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    size_t n = cfg->nreceivers ? cfg->nreceivers : 1;
    g->buckets = calloc(n, sizeof(*g->buckets));
    g->rmetrics = gw_metrics_receivers_new(n);
    if (!g->buckets || !g->rmetrics) {
        free(g->buckets);
        gw_metrics_receivers_free(g->rmetrics);
        free(g);
        return NULL;
    }
    g->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    atomic_init(&g->refs, 1);
    gw_bucket_init(&g->global, &g->cfg.rate);
    for (size_t i = 0; i < g->cfg.nreceivers; i++) {
        gw_bucket_init(&g->buckets[i], &g->cfg.receiver_rates[i]);
        g->cfg.receivers[i].metrics = gw_metrics_receiver_at(g->rmetrics, i);
    }
    return g;
}

static void gen_release(struct gw_gen *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    gw_bucket_destroy(&g->global);
    for (size_t i = 0; i < g->cfg.nreceivers; i++)
        gw_bucket_destroy(&g->buckets[i]);
    free(g->buckets);
    gw_config_free(&g->cfg);
    gw_metrics_receivers_free(g->rmetrics);
    free(g);
}

static struct gw_gen *gen_acquire(struct gw_server *srv)
{
    pthread_mutex_lock(&srv->gen_lock);
    struct gw_gen *g = atomic_load(&srv->gen);
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&srv->gen_lock);
    return g;
}

/* ---- the server: daemons, start, reload, stop ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    HB_LOG(HB_LOG_DEBUG, "http", HB_S("detail", buf));
}

/* The threads to serve with: cfg's, or one per core. */
static long thread_count(const struct gw_config *cfg)
{
    long threads = cfg->threads ? cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return threads < 1 ? 1 : threads;
}

/* One libmicrohttpd daemon on listening socket fd (taken, closed on
 * failure): the webhooks listener's (external epoll mode: a worker of
 * workers.c runs it) or the admin listener's (its own pool of threads),
 * accepting up to limit connections. NULL on failure. */
static struct MHD_Daemon *new_daemon(struct gw_server *srv, const struct gw_config *cfg, int fd,
                                     bool webhooks, long threads, long limit)
{
    bool tls = webhooks && srv->tls;
    /* The webhooks daemons get no inter-thread channel (libmicrohttpd drops
     * MHD_USE_ITC in external mode): gw_worker_resumed wakes their loops. */
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    flags |= webhooks ? MHD_USE_EPOLL : MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC;
    if (tls)
        flags |= MHD_USE_TLS;
    const char *prio = strcmp(cfg->tls_min_version, "1.3") == 0
                           ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                           : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    struct MHD_OptionItem opts[] = {
        {tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0, (void *)gw_tls_cert_callback},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem by_role[] = {
        webhooks ? (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)gw_conns_notify,
                                           srv->conns}
                 : (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, webhooks ? handler : admin_handler, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)((cfg->request_timeout_ms + 999) / 1000), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->max_header_bytes * HEAD_POOL_FACTOR, MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL, MHD_OPTION_ARRAY, by_role,
        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d)
        close(fd);
    return d;
}

/* The webhooks listener: one daemon per worker thread, each on its own
 * dup() of one listening socket, the connection limit split between them
 * as libmicrohttpd's own thread pool does. 0, or -1 with err. */
static int start_webhooks(struct gw_server *srv, const struct gw_config *cfg, char *err,
                          size_t errlen)
{
    int port;
    int fd = gw_listen_socket(cfg->listen, &port, err, errlen);
    if (fd < 0)
        return -1;
    long limit = cfg->max_connections + CONN_RESERVE;
    long threads = thread_count(cfg);
    if (threads > limit)
        threads = limit;
    struct MHD_Daemon **d = calloc((size_t)threads, sizeof(*d));
    long started = 0;
    if (!d) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (; started < threads; started++) {
        int dfd = started + 1 < threads ? dup(fd) : fd; /* the last one takes fd itself */
        long share = limit / threads + (started < limit % threads);
        if (dfd < 0 || !(d[started] = new_daemon(srv, cfg, dfd, true, 1, share)))
            break;
    }
    if (started < threads) {
        if (started + 1 < threads)
            close(fd);
        for (long i = 0; i < started; i++)
            MHD_stop_daemon(d[i]);
        free(d);
        snprintf(err, errlen, "cannot start the webhooks HTTP server on %s", cfg->listen);
        return -1;
    }
    srv->workers = gw_workers_start(d, (size_t)threads, srv->producer, err, errlen);
    free(d);
    if (!srv->workers)
        return -1;
    HB_LOG(HB_LOG_INFO, "listening", HB_S("what", "webhooks"), HB_S("address", cfg->listen),
           HB_I("port", port), HB_B("tls", srv->tls), HB_I("threads", threads));
    return 0;
}

static int start_admin(struct gw_server *srv, const struct gw_config *cfg, char *err, size_t errlen)
{
    int port;
    int fd = gw_listen_socket(cfg->admin_listen, &port, err, errlen);
    if (fd < 0)
        return -1;
    long threads = thread_count(cfg);
    srv->admin = new_daemon(srv, cfg, fd, false, threads, cfg->max_connections + CONN_RESERVE);
    if (!srv->admin) {
        snprintf(err, errlen, "cannot start the admin HTTP server on %s", cfg->admin_listen);
        return -1;
    }
    HB_LOG(HB_LOG_INFO, "listening", HB_S("what", "admin"), HB_S("address", cfg->admin_listen),
           HB_I("port", port), HB_B("tls", false), HB_I("threads", threads));
    return 0;
}

struct gw_server *gw_server_start(struct gw_config *cfg, struct gw_producer *producer,
                                  struct gw_spool *spool, struct hb_metrics *metrics, char *err,
                                  size_t errlen)
{
    static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,   0.25,   0.5,   1,    2.5,   5};
    struct gw_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&srv->gen_lock, NULL);
    srv->producer = producer;
    srv->spool = spool;
    srv->metrics = metrics;
    srv->tls = cfg->tls_enabled;
    srv->separate_admin = cfg->admin_listen[0] != '\0';
    srv->max_connections = cfg->max_connections;
    srv->max_header_bytes = cfg->max_header_bytes;
    srv->deliveries = gw_deliveries_new(cfg->deliveries_keep, cfg->deliveries_max_body);
    if (!srv->deliveries) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    gw_budget_init(&srv->preauth, cfg->unauth_body_bytes, metrics);
    srv->replays = gw_replay_new((size_t)cfg->replay_cache_entries, metrics);
    if (cfg->replay_cache_entries && !srv->replays) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (hb_otlp_start(&cfg->tracing, "hookbus-gateway", metrics, &srv->otlp, err, errlen) < 0)
        goto fail;
    srv->publish_seconds = hb_metrics_histogram(metrics, "hookbus_gateway_publish_seconds",
                                                "Time from produce to Kafka acknowledgement", NULL,
                                                buckets, HB_ARRAY_LEN(buckets));
    srv->connections = hb_metrics_gauge(metrics, "hookbus_gateway_connections",
                                        "Open webhook connections", NULL);
    srv->conns = gw_conns_new(cfg->request_timeout_ms, cfg->header_timeout_ms,
                              cfg->max_connections_per_ip, srv->tls, metrics, err, errlen);
    if (!srv->conns)
        goto fail;
    srv->reloads_ok = hb_metrics_counter(metrics, "hookbus_gateway_config_reloads_total",
                                         "SIGHUP reloads by result", "result=\"ok\"");
    srv->reloads_failed = hb_metrics_counter(metrics, "hookbus_gateway_config_reloads_total",
                                             "SIGHUP reloads by result", "result=\"refused\"");
    if (srv->tls) {
        struct gw_cert *c = gw_tls_cert_load(cfg, err, errlen);
        srv->self_signed = !cfg->tls_cert_file[0];
        if (!c)
            goto fail;
        gw_tls_cert_install(c);
    }
    /* The generation exists before the first connection can arrive: a
     * request right after "listening" (a readiness probe, a fast sender)
     * takes its reference from it. cfg moves into it here. */
    struct gw_gen *g = gen_new(cfg);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    atomic_store(&srv->gen, g);
    if (start_webhooks(srv, &g->cfg, err, errlen) < 0)
        goto fail;
    if (srv->separate_admin && start_admin(srv, &g->cfg, err, errlen) < 0)
        goto fail;
    return srv;
fail:
    gw_server_stop(srv);
    return NULL;
}

/* Logs each setting that differs and needs a restart to apply. */
static void log_restart_only(const struct gw_config *a, const struct gw_config *b)
{
    static const struct {
        const char *key;
        size_t off;
        bool str;
    } keys[] = {
        {"listen", offsetof(struct gw_config, listen), true},
        {"admin_listen", offsetof(struct gw_config, admin_listen), true},
        {"tls.enabled", offsetof(struct gw_config, tls_enabled), false},
        {"tls.min_version", offsetof(struct gw_config, tls_min_version), true},
        {"kafka.brokers", offsetof(struct gw_config, kafka_brokers), true},
        {"spool.dir", offsetof(struct gw_config, spool_dir), true},
    };
    for (size_t i = 0; i < HB_ARRAY_LEN(keys); i++) {
        const char *pa = (const char *)a + keys[i].off, *pb = (const char *)b + keys[i].off;
        bool differs = keys[i].str ? strcmp(*(char *const *)pa, *(char *const *)pb) != 0
                                   : *(const bool *)pa != *(const bool *)pb;
        if (differs)
            HB_LOG(HB_LOG_WARN, "reload: setting changed but needs a restart to apply",
                   HB_S("key", keys[i].key));
    }
    if (a->delivery_timeout_ms != b->delivery_timeout_ms ||
        a->spool_max_bytes != b->spool_max_bytes || a->max_connections != b->max_connections ||
        a->request_timeout_ms != b->request_timeout_ms || a->threads != b->threads ||
        a->max_header_bytes != b->max_header_bytes ||
        a->header_timeout_ms != b->header_timeout_ms ||
        a->max_connections_per_ip != b->max_connections_per_ip ||
        a->replay_cache_entries != b->replay_cache_entries)
        HB_LOG(HB_LOG_WARN, "reload: delivery_timeout_ms, spool.max_bytes, threads and "
                            "limits.max_connections/request_timeout_ms/max_header_bytes/"
                            "header_timeout_ms/max_connections_per_ip/replay_cache_entries "
                            "need a restart to apply");
}

int gw_server_reload(struct gw_server *s, struct gw_config *cfg, char *err, size_t errlen)
{
    struct gw_cert *c = NULL;
    struct gw_gen *old = gen_acquire(s);
    log_restart_only(&old->cfg, cfg);
    gen_release(old);
    /* A generated certificate stays: senders pin its fingerprint. */
    bool generated = !cfg->tls_cert_file[0]; /* read now: gen_new takes *cfg */
    bool keep = s->self_signed && generated;
    if (s->tls && cfg->tls_enabled && !keep) {
        c = gw_tls_cert_load(cfg, err, errlen);
        if (!c) {
            hb_counter_add(s->reloads_failed, 1);
            return -1;
        }
    }
    struct gw_gen *g = gen_new(cfg);
    if (!g) {
        gw_tls_cert_free(c);
        snprintf(err, errlen, "out of memory");
        hb_counter_add(s->reloads_failed, 1);
        return -1;
    }
    if (c) {
        gw_tls_cert_install(c);
        s->self_signed = generated;
    }
    pthread_mutex_lock(&s->gen_lock);
    old = atomic_exchange(&s->gen, g);
    pthread_mutex_unlock(&s->gen_lock);
    gen_release(old);
    hb_counter_add(s->reloads_ok, 1);
    HB_LOG(HB_LOG_INFO, "configuration reloaded", HB_I("receivers", g->cfg.nreceivers),
           HB_B("certificate", c != NULL));
    return 0;
}

void gw_server_reload_refused(struct gw_server *s)
{
    hb_counter_add(s->reloads_failed, 1);
}

void gw_server_quiesce(struct gw_server *s)
{
    if (s)
        gw_workers_quiesce(s->workers);
}

int gw_server_drain(struct gw_server *s, int timeout_ms)
{
    if (!s)
        return 0;
    atomic_store(&s->draining, true);
    int64_t until = hb_mono_ms() + timeout_ms;
    while (atomic_load(&s->publishing) > 0 && hb_mono_ms() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&s->publishing);
}

void gw_server_stop(struct gw_server *s)
{
    if (!s)
        return;
    gw_workers_stop(s->workers); /* the delivery reports go back to the producer's thread */
    if (s->admin)
        MHD_stop_daemon(s->admin);
    gw_conns_free(s->conns);
    hb_otlp_stop(s->otlp); /* after the daemons: no request is left to add a span */
    gw_deliveries_free(s->deliveries);
    gw_replay_free(s->replays);
    gen_release(atomic_load(&s->gen));
    gw_tls_cert_clear();
    pthread_mutex_destroy(&s->gen_lock);
    free(s);
}
