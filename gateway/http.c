/* http.c: the gateway's HTTP(S) server on libmicrohttpd.
 *
 * A webhook request is rate limited, read to its end (bounded, before a
 * deadline), authenticated, normalized into events and produced to Kafka; the
 * connection is then suspended (no server thread waits) and resumed by the
 * last delivery report. Events Kafka did not acknowledge in time go to the
 * spool (202 "spooled"); without room in the spool the answer is 503. While
 * the spool holds events, new events go behind them so that order holds.
 * All per-request state hangs off struct gw_http_req and is freed in the
 * request-completed callback. The configuration is a reference-counted
 * generation that SIGHUP replaces. */
#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway.h"
#include "hookbus/arena.h"
#include "hookbus/crypto.h"
#include "hookbus/format.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define WEBHOOK_PREFIX "/webhooks/"
#define CONN_RESERVE 16   /* connections over max_connections answered 503 */
#define REAPER_TICK_MS 200
#define BODY_PREALLOC_MAX (64 * 1024) /* bytes reserved up front from Content-Length */
#define ARENA_STACK_BYTES (24 * 1024) /* the normalize arena's first chunk: a ~4 KB push */

/* A token bucket: rate tokens a second, at most burst. */
struct gw_bucket {
    pthread_mutex_t lock;
    double tokens;
    int64_t last_ms;
    long rate, burst;
};

/* A certificate and key as GnuTLS serves them. Replaced on SIGHUP; retired
 * ones are kept until the server stops (a handshake may still use them). */
struct gw_cert {
    gnutls_pcert_st pcerts[16];
    unsigned npcerts;
    gnutls_privkey_t key;
    struct gw_cert *older;
};

/* One configuration generation: requests hold a reference for their whole
 * life, so SIGHUP swaps the receiver table without touching requests in
 * flight. */
struct gw_gen {
    struct gw_config cfg;
    atomic_int refs;
    struct gw_bucket global;
    struct gw_bucket *buckets; /* per receiver, same index as cfg.receivers */
    struct gw_receiver_metrics *rmetrics; /* each receiver's ->metrics */
};

/* One accepted connection (the socket context): the deadline by which the
 * request being read must be complete (slow-loris), 0 while the gateway
 * itself holds the request. */
struct gw_conn {
    struct gw_conn *prev, *next;
    int fd;
    _Atomic int_least64_t deadline_ms;
};

struct gw_server {
    struct gw_gen *_Atomic gen; /* read under gen_lock, swapped by reload */
    pthread_mutex_t gen_lock;
    struct gw_producer *producer;
    struct gw_spool *spool;
    struct hb_metrics *metrics;
    struct MHD_Daemon *daemon, *admin;
    bool tls, separate_admin;
    long max_connections, request_timeout_ms;
    struct hb_histogram *publish_seconds;
    struct hb_gauge *connections;
    struct hb_counter *cut, *reloads_ok, *reloads_failed;
    /* connection tracking */
    pthread_mutex_t conn_lock;
    struct gw_conn *conns;
    atomic_long nconns;
    pthread_t reaper;
    bool reaper_running;
    atomic_bool stop;
};

/* GnuTLS's certificate callback has no user pointer: the certificate being
 * served is the one piece of process-wide state (one server per process). */
static struct gw_cert *_Atomic current_cert;

enum req_state { RS_BODY, RS_WAIT, RS_DONE };

struct slot {
    struct gw_delivery base; /* first: the producer calls base.done */
    struct gw_http_req *req;
    size_t index;
    const char *topic;
    bool failed;
};

struct gw_http_req {
    struct gw_server *srv;
    struct gw_gen *gen;
    const struct gw_config *cfg; /* &gen->cfg */
    const struct gw_receiver *rcv;
    struct MHD_Connection *conn;
    _Atomic int state;
    struct hb_buf body;
    bool too_large, key_route;
    char remote[64];
    int64_t start_ms, produce_ms;
    struct gw_request greq;
    struct gw_ctx ctx;
    struct slot *slots;
    atomic_int remaining;
    pthread_mutex_t lock;
    bool failed; /* a delivery failed (under lock) */
    char *error; /* its first error, NULL on ENOMEM (under lock) */
};
/* Over ~1000 bytes glibc serves the request's calloc from its large bins,
 * which consolidates the fast bins on every request. */
_Static_assert(sizeof(struct gw_http_req) <= 1000,
               "struct gw_http_req: keep it a small-bin allocation");

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               const char *body, const char *retry_after)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
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

/* receiver="NAME" and, when code is not 0, ,code="CODE". */
static void receiver_labels(char *out, size_t outlen, const char *receiver, unsigned code)
{
    char esc[96];
    if (hb_metrics_label_escape(receiver, esc, sizeof(esc)) < 0)
        hb_strlcpy(esc, "?", sizeof(esc));
    if (code)
        snprintf(out, outlen, "receiver=\"%s\",code=\"%u\"", esc, code);
    else
        snprintf(out, outlen, "receiver=\"%s\"", esc);
}

void gw_metrics_count_receiver(struct hb_metrics *m, const char *receiver, const char *metric,
                               const char *help, uint64_t n)
{
    char labels[160];
    receiver_labels(labels, sizeof(labels), receiver, 0);
    hb_counter_add(hb_metrics_counter(m, metric, help, labels), n);
}

/* A receiver's counters, looked up by name and labels on first use (so
 * /metrics shows only series that counted something) instead of on every
 * request. Hangs off struct gw_receiver in its configuration generation; the
 * series belong to the registry and outlive every generation. Two threads
 * may both miss: the registry hands both the same series. */
enum rm_counter { RM_PUBLISHED, RM_BYTES, RM_AUTH_FAILURES, RM_NAMED };
static const struct {
    const char *name, *help;
} rm_named[RM_NAMED] = {
    [RM_PUBLISHED] = {"hookbus_gateway_events_published_total", "Events acknowledged by Kafka"},
    [RM_BYTES] = {"hookbus_gateway_request_bytes_total", "Request body bytes received"},
    [RM_AUTH_FAILURES] = {"hookbus_gateway_auth_failures_total",
                          "Requests refused as unauthenticated"},
};
/* The codes a receiver's route answers; any other is looked up each time. */
static const unsigned rm_codes[] = {200, 202, 400, 401, 403, 405, 413, 415, 429, 500, 503};
#define RM_NCODES (sizeof(rm_codes) / sizeof(rm_codes[0]))

struct gw_receiver_metrics {
    _Atomic(struct hb_counter *) named[RM_NAMED];
    _Atomic(struct hb_counter *) requests[RM_NCODES]; /* same index as rm_codes */
};

/* Adds n to the counter cached in *slot (NULL: none), which is the series
 * metric{labels}. */
static void cached_add(_Atomic(struct hb_counter *) *slot, struct hb_metrics *m,
                       const char *metric, const char *help, const char *receiver,
                       unsigned code, uint64_t n)
{
    struct hb_counter *c = slot ? atomic_load_explicit(slot, memory_order_acquire) : NULL;
    if (!c) {
        char labels[160];
        receiver_labels(labels, sizeof(labels), receiver, code);
        c = hb_metrics_counter(m, metric, help, labels);
        if (slot)
            atomic_store_explicit(slot, c, memory_order_release);
    }
    hb_counter_add(c, n);
}

static void rm_add(struct gw_server *srv, const struct gw_receiver *rcv, enum rm_counter which,
                   uint64_t n)
{
    cached_add(rcv->metrics ? &rcv->metrics->named[which] : NULL, srv->metrics,
               rm_named[which].name, rm_named[which].help, rcv->name, 0, n);
}

/* rcv NULL: a request that matched no receiver (receiver="-"). */
static void count_request(struct gw_server *srv, const struct gw_receiver *rcv, unsigned status)
{
    _Atomic(struct hb_counter *) *slot = NULL;
    for (size_t i = 0; rcv && rcv->metrics && i < RM_NCODES; i++)
        if (rm_codes[i] == status) {
            slot = &rcv->metrics->requests[i];
            break;
        }
    cached_add(slot, srv->metrics, "hookbus_gateway_requests_total",
               "Webhook requests by receiver and status", rcv ? rcv->name : "-", status, 1);
}

static enum MHD_Result finish(struct gw_http_req *r, unsigned status, const char *msg,
                              const char *retry_after)
{
    count_request(r->srv, r->rcv, status);
    if (status >= 400 && r->rcv)
        HB_LOG(status >= 500 ? HB_LOG_WARN : HB_LOG_INFO, "request rejected",
               HB_S("receiver", r->rcv->name), HB_I("status", status), HB_S("reason", msg),
               HB_S("remote", r->remote));
    return respond_msg(r->conn, status, msg, retry_after);
}

/* ---- configuration generations ---- */

static void bucket_init(struct gw_bucket *b, const struct gw_rate *rate)
{
    pthread_mutex_init(&b->lock, NULL);
    b->rate = rate->per_second;
    b->burst = rate->burst > 0 ? rate->burst : rate->per_second;
    b->tokens = (double)b->burst;
    b->last_ms = hb_mono_ms();
}

/* Takes one token. true, or false with *retry_s (whole seconds until one is
 * available). A bucket with rate 0 never limits. */
static bool bucket_take(struct gw_bucket *b, long *retry_s)
{
    if (b->rate <= 0)
        return true;
    pthread_mutex_lock(&b->lock);
    int64_t now = hb_mono_ms();
    b->tokens += (double)(now - b->last_ms) * (double)b->rate / 1000.0;
    if (b->tokens > (double)b->burst)
        b->tokens = (double)b->burst;
    b->last_ms = now;
    bool ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_s = (long)ceil((1.0 - b->tokens) / (double)b->rate);
    pthread_mutex_unlock(&b->lock);
    if (!ok && *retry_s < 1)
        *retry_s = 1;
    return ok;
}

/* Wraps cfg (moved into the generation; *cfg is zeroed). NULL on ENOMEM. */
static struct gw_gen *gen_new(struct gw_config *cfg)
{
    struct gw_gen *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    size_t n = cfg->nreceivers ? cfg->nreceivers : 1;
    g->buckets = calloc(n, sizeof(*g->buckets));
    g->rmetrics = calloc(n, sizeof(*g->rmetrics));
    if (!g->buckets || !g->rmetrics) {
        free(g->buckets);
        free(g->rmetrics);
        free(g);
        return NULL;
    }
    g->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    atomic_init(&g->refs, 1);
    bucket_init(&g->global, &g->cfg.rate);
    for (size_t i = 0; i < g->cfg.nreceivers; i++) {
        bucket_init(&g->buckets[i], &g->cfg.receiver_rates[i]);
        g->cfg.receivers[i].metrics = &g->rmetrics[i];
    }
    return g;
}

static void gen_release(struct gw_gen *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&g->global.lock);
    for (size_t i = 0; i < g->cfg.nreceivers; i++)
        pthread_mutex_destroy(&g->buckets[i].lock);
    free(g->buckets);
    gw_config_free(&g->cfg);
    free(g->rmetrics);
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

/* ---- health ---- */

/* Ready: the configured topics exist, and Kafka answers or the spool can
 * take what it does not. why is also set (and true returned, "degraded")
 * when answers may come from the spool: Kafka unreachable, or its latest
 * delivery failed (e.g. fewer in-sync replicas than min.insync.replicas). */
static bool ready(struct gw_server *srv, char *why, size_t whylen)
{
    if (gw_producer_topic_problem(srv->producer, why, whylen) < 0)
        return false;
    bool up = gw_producer_ready(srv->producer);
    if (up && gw_producer_last_error(srv->producer, why, whylen) == 0)
        return true;
    if (!up)
        hb_strlcpy(why, "kafka unreachable", whylen);
    if (srv->spool && !gw_spool_full(srv->spool))
        return true;
    if (up) /* Kafka answers, if slowly or failing: still worth sending to */
        return true;
    hb_strlcpy(why,
               srv->spool ? "kafka unreachable and spool full" : "kafka unreachable, spool disabled",
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
        hb_gauge_set(srv->connections, atomic_load(&srv->nconns));
        char *text = hb_metrics_render(srv->metrics);
        enum MHD_Result r = respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8",
                                    text ? text : "", NULL);
        free(text);
        return r;
    }
    *handled = false;
    return MHD_NO;
}

static enum MHD_Result admin_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    bool handled;
    enum MHD_Result r = serve_admin(cls, conn, url, method, &handled);
    return handled ? r : respond_msg(conn, 404, "not found", NULL);
}

/* ---- connections: count, deadline, slow-loris reaper ---- */

static struct gw_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The next request on this connection must be complete within the timeout
 * (0: the gateway holds the request, no deadline). */
static void conn_deadline(struct gw_server *srv, struct MHD_Connection *conn, bool arm)
{
    struct gw_conn *c = conn_of(conn);
    if (c)
        atomic_store(&c->deadline_ms, arm ? hb_mono_ms() + srv->request_timeout_ms : 0);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct gw_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct gw_conn *c = calloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c)
            return;
        c->fd = ci ? ci->connect_fd : -1;
        atomic_init(&c->deadline_ms, hb_mono_ms() + srv->request_timeout_ms);
        pthread_mutex_lock(&srv->conn_lock);
        c->next = srv->conns;
        if (c->next)
            c->next->prev = c;
        srv->conns = c;
        pthread_mutex_unlock(&srv->conn_lock);
        atomic_fetch_add(&srv->nconns, 1);
        *socket_context = c;
        return;
    }
    struct gw_conn *c = *socket_context;
    if (!c)
        return;
    /* Unlinked before libmicrohttpd closes the socket: the reaper never
     * touches a closed (or reused) descriptor. */
    pthread_mutex_lock(&srv->conn_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&srv->conn_lock);
    atomic_fetch_sub(&srv->nconns, 1);
    free(c);
    *socket_context = NULL;
}

/* Cuts connections whose request is not complete by its deadline (headers
 * or body trickled byte by byte keep libmicrohttpd's idle timeout from
 * firing); the event loop then sees the socket closed and cleans up. */
static void *reaper_main(void *arg)
{
    struct gw_server *srv = arg;
    while (!atomic_load(&srv->stop)) {
        struct timespec ts = {0, REAPER_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
        int64_t now = hb_mono_ms();
        pthread_mutex_lock(&srv->conn_lock);
        for (struct gw_conn *c = srv->conns; c; c = c->next) {
            int64_t d = atomic_load(&c->deadline_ms);
            if (d && now > d && c->fd >= 0) {
                atomic_store(&c->deadline_ms, 0);
                shutdown(c->fd, SHUT_RDWR);
                hb_counter_add(srv->cut, 1);
                HB_LOG(HB_LOG_INFO, "connection cut: request not complete within "
                                    "limits.request_timeout_ms",
                       HB_I("timeout_ms", srv->request_timeout_ms));
            }
        }
        pthread_mutex_unlock(&srv->conn_lock);
    }
    return NULL;
}

/* ---- request plumbing ---- */

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

static void remote_addr(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    hb_strlcpy(out, "?", outlen);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

/* The media type of Content-Type, lowercase, without parameters. */
static void media_type(const char *ct, char *out, size_t outlen)
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

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct gw_server *srv = cls;
    (void)toe;
    conn_deadline(srv, conn, true); /* keep-alive: the next request's deadline */
    struct gw_http_req *r = *con_cls;
    if (!r)
        return;
    hb_buf_free(&r->body);
    gw_ctx_clear(&r->ctx);
    free(r->slots);
    free(r->error);
    pthread_mutex_destroy(&r->lock);
    gen_release(r->gen);
    free(r);
    *con_cls = NULL;
}

/* ---- delivery ---- */

static void on_delivery(struct gw_delivery *d, const char *error, bool permanent,
                        const char *topic, int partition, long long offset)
{
    /* A permanent error is spooled too: replay sets such a record aside. */
    (void)permanent;
    struct slot *s = (struct slot *)d;
    struct gw_http_req *r = s->req;
    struct hb_event *ev = r->ctx.events[s->index];
    if (error) {
        s->failed = true;
        pthread_mutex_lock(&r->lock);
        if (!r->failed) {
            r->failed = true;
            r->error = strdup(error);
        }
        pthread_mutex_unlock(&r->lock);
        HB_LOG(HB_LOG_WARN, "event not acknowledged by kafka", HB_S("receiver", r->rcv->name),
               HB_S("id", hb_event_get(ev, "id")), HB_S("topic", topic), HB_S("error", error));
    } else {
        int64_t ms = hb_mono_ms() - r->produce_ms;
        rm_add(r->srv, r->rcv, RM_PUBLISHED, 1);
        hb_histogram_observe(r->srv->publish_seconds, (double)ms / 1000.0);
        HB_LOG(HB_LOG_INFO, "event published", HB_S("receiver", r->rcv->name),
               HB_S("id", hb_event_get(ev, "id")), HB_S("type", hb_event_get(ev, "type")),
               HB_S("repo", hb_event_get(ev, "repo")), HB_S("delivery", r->ctx.delivery_id),
               HB_S("topic", topic), HB_I("partition", partition), HB_I("offset", offset),
               HB_I("latency_ms", ms));
    }
    if (atomic_fetch_sub(&r->remaining, 1) == 1) {
        atomic_store(&r->state, RS_DONE);
        MHD_resume_connection(r->conn);
    }
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
    count_request(r->srv, r->rcv, 202);
    enum MHD_Result res = respond(r->conn, 202, "application/json", s ? s : "{}", NULL);
    cJSON_free(s);
    if (own)
        hb_arena_leave();
    return res;
}

/* Writes the events selected by `all` or by a failed slot to the spool,
 * all or nothing, and answers: 202 "spooled", or 503 without room. */
static enum MHD_Result spool_and_answer(struct gw_http_req *r, bool all, const char *why)
{
    struct gw_server *srv = r->srv;
    char err[256], msg[320];
    struct hb_buf buf;
    size_t n = 0;
    int rc = -1;
    if (!srv->spool) {
        snprintf(msg, sizeof(msg), "not durable: %s; spool disabled", why);
        return finish(r, 503, msg, "5");
    }
    hb_buf_init(&buf, (size_t)GW_SPOOL_MAX_RECORD * 4);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    snprintf(err, sizeof(err), "cannot encode an event for the spool");
    for (size_t i = 0; i < r->ctx.nevents; i++) {
        struct hb_kafka_msg m;
        struct hb_event *ev = r->ctx.events[i];
        if (!all && !r->slots[i].failed)
            continue;
        if (hb_kafka_encode(ev, r->cfg->format, &m, err, sizeof(err)) < 0)
            goto out;
        int e = gw_spool_record_encode(&buf, now, r->rcv->name, hb_event_get(ev, "id"),
                                       gw_config_topic(r->cfg, hb_event_get(ev, "type")), &m);
        hb_kafka_msg_clear(&m);
        if (e < 0)
            goto out;
        n++;
    }
    rc = gw_spool_append(srv->spool, buf.p, buf.len, n, now, err, sizeof(err));
out:
    hb_buf_free(&buf);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "not durable: %s; %s", why, err);
        return finish(r, 503, msg, rc == GW_SPOOL_FULL ? "30" : "5");
    }
    for (size_t i = 0; i < r->ctx.nevents; i++)
        if (all || r->slots[i].failed)
            HB_LOG(HB_LOG_INFO, "event spooled", HB_S("receiver", r->rcv->name),
                   HB_S("id", hb_event_get(r->ctx.events[i], "id")),
                   HB_S("repo", hb_event_get(r->ctx.events[i], "repo")), HB_S("reason", why));
    return accepted(r, n);
}

/* Encodes and produces every event; suspends the connection until the last
 * delivery report. While the spool holds events, these go behind them. */
static enum MHD_Result publish(struct gw_http_req *r)
{
    struct gw_server *srv = r->srv;
    struct gw_ctx *ctx = &r->ctx;
    char err[256];
    struct hb_kafka_msg *msgs = calloc(ctx->nevents, sizeof(*msgs));
    r->slots = calloc(ctx->nevents, sizeof(*r->slots));
    if (!msgs || !r->slots) {
        free(msgs);
        return finish(r, 500, "out of memory", NULL);
    }
    for (size_t i = 0; i < ctx->nevents; i++) {
        if (hb_kafka_encode(ctx->events[i], r->cfg->format, &msgs[i], err, sizeof(err)) < 0) {
            for (size_t j = 0; j < i; j++)
                hb_kafka_msg_clear(&msgs[j]);
            free(msgs);
            return finish(r, 400, err, NULL);
        }
        r->slots[i] = (struct slot){{on_delivery}, r, i,
                                    gw_config_topic(r->cfg, hb_event_get(ctx->events[i], "type")),
                                    false};
    }
    if (srv->spool && gw_spool_pending(srv->spool)) {
        for (size_t i = 0; i < ctx->nevents; i++)
            hb_kafka_msg_clear(&msgs[i]);
        free(msgs);
        return spool_and_answer(r, true, "earlier events are waiting in the spool");
    }
    atomic_store(&r->remaining, (int)ctx->nevents);
    atomic_store(&r->state, RS_WAIT);
    r->produce_ms = hb_mono_ms();
    MHD_suspend_connection(r->conn);
    for (size_t i = 0; i < ctx->nevents; i++) {
        gw_producer_send(srv->producer, r->slots[i].topic, &msgs[i], &r->slots[i].base);
        hb_kafka_msg_clear(&msgs[i]);
    }
    free(msgs);
    return MHD_YES;
}

/* Authenticates, normalizes and publishes a complete request. */
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
    *limited = !bucket_take(bucket, &retry);
    if (!*limited)
        return MHD_YES;
    snprintf(ra, sizeof(ra), "%ld", retry);
    count_request(srv, rcv, 429);
    HB_LOG(HB_LOG_INFO, "request rate limited", HB_S("receiver", rcv->name),
           HB_I("retry_after_s", retry));
    return respond_msg(conn, 429, "rate limited", ra);
}

static enum MHD_Result process(struct gw_http_req *r)
{
    char ct[128];
    const char *reason = "invalid";
    if (r->too_large)
        return finish(r, 413, "request body over limits.max_body_bytes", NULL);
    media_type(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type"), ct,
               sizeof(ct));
    r->greq = (struct gw_request){.method = "POST", .remote = r->remote, .content_type = ct,
                                  .body = (const unsigned char *)(r->body.p ? r->body.p : ""),
                                  .body_len = r->body.len, .key_route = r->key_route,
                                  .header = req_header, .each_header = req_each_header,
                                  .conn = r->conn};
    rm_add(r->srv, r->rcv, RM_BYTES, r->body.len);
    if (gw_authenticate(r->rcv, &r->greq, &reason) < 0) {
        rm_add(r->srv, r->rcv, RM_AUTH_FAILURES, 1);
        HB_LOG(HB_LOG_WARN, "authentication failed", HB_S("audit", "401"),
               HB_S("receiver", r->rcv->name), HB_S("remote", r->remote), HB_S("reason", reason));
        count_request(r->srv, r->rcv, 401);
        return respond_msg(r->conn, 401, "authentication failed", NULL);
    }
    bool limited;
    enum MHD_Result res = rate_limited(
        r->srv, &r->gen->buckets[r->rcv - r->gen->cfg.receivers], r->rcv, r->conn, &limited);
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
    r->rcv->type->normalize(ctx);
    cJSON_Delete(ctx->original);
    ctx->original = NULL;
    hb_arena_leave();
    /* ct is on this stack frame: nothing below reads ctx->req->content_type. */
    /* Events win over "not acted on": a push whose tag deletion is skipped
     * still publishes its other changes. Any other status discards them. */
    if (ctx->status == 200 && ctx->nevents)
        ctx->status = 0;
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

/* The answer once every delivery report is in: 202, or the spool decides. */
static enum MHD_Result answer(struct gw_http_req *r)
{
    if (r->failed) {
        char why[224];
        snprintf(why, sizeof(why), "kafka did not acknowledge: %s",
                 r->error ? r->error : "out of memory");
        return spool_and_answer(r, false, why);
    }
    return accepted(r, 0);
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
    if (atomic_load(&srv->nconns) > srv->max_connections) {
        count_request(srv, NULL, 503);
        return respond_msg(conn, 503, "too many connections (limits.max_connections)", "1");
    }
    if (!parse_route(url, name, sizeof(name), key, sizeof(key))) {
        count_request(srv, NULL, 404);
        return respond_msg(conn, 404, "not found", NULL);
    }
    struct gw_gen *g = gen_acquire(srv);
    const struct gw_receiver *rcv = gw_config_find_receiver(&g->cfg, name);
    enum MHD_Result res;
    if (!rcv) {
        count_request(srv, NULL, 404);
        res = respond_msg(conn, 404, "unknown receiver", NULL);
        goto release;
    }
    if (strcmp(method, "POST") != 0) {
        count_request(srv, rcv, 405);
        res = respond_msg(conn, 405, "method not allowed: use POST", NULL);
        goto release;
    }
    res = rate_limited(srv, &g->global, rcv, conn, &limited);
    if (limited)
        goto release;
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
    r->start_ms = hb_mono_ms();
    pthread_mutex_init(&r->lock, NULL);
    hb_buf_init(&r->body, (size_t)r->cfg->max_body_bytes);
    remote_addr(conn, r->remote, sizeof(r->remote));
    *con_cls = r;
    if (key[0]) {
        if (!gw_key_valid(rcv, key)) {
            rm_add(srv, rcv, RM_AUTH_FAILURES, 1);
            HB_LOG(HB_LOG_WARN, "authentication failed", HB_S("audit", "401"),
                   HB_S("receiver", rcv->name), HB_S("remote", r->remote),
                   HB_S("reason", "invalid key in URL"));
            count_request(srv, rcv, 401);
            return respond_msg(conn, 401, "authentication failed", NULL);
        }
        r->key_route = true;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    long len = 0;
    if (cl && hb_parse_long(cl, 0, 0x7fffffffffffffffL, &len) < 0)
        len = 0;
    if (len > r->cfg->max_body_bytes) {
        r->too_large = true;
        return finish(r, 413, "request body over limits.max_body_bytes", NULL);
    }
    /* One allocation for the announced body instead of a doubling per chunk;
     * capped, so a Content-Length without its bytes holds little memory. */
    if (len > 0)
        hb_buf_reserve(&r->body, (size_t)(len < BODY_PREALLOC_MAX ? len : BODY_PREALLOC_MAX));
    return MHD_YES;
release:
    gen_release(g);
    return res;
}

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
        if (!r->too_large && hb_buf_append(&r->body, upload_data, *upload_data_size) < 0) {
            r->too_large = true;
            hb_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    conn_deadline(srv, conn, false); /* the body is in: the gateway holds it now */
    return process(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    HB_LOG(HB_LOG_DEBUG, "http", HB_S("detail", buf));
}

/* ---- TLS certificates ---- */

static void cert_free(struct gw_cert *c)
{
    while (c) {
        struct gw_cert *o = c->older;
        for (unsigned i = 0; i < c->npcerts; i++)
            gnutls_pcert_deinit(&c->pcerts[i]);
        if (c->key)
            gnutls_privkey_deinit(c->key);
        free(c);
        c = o;
    }
}

/* Loads the configured certificate (or generates a self-signed one) and
 * checks that the key matches. NULL with err. */
static struct gw_cert *cert_load(const struct gw_config *cfg, char *err, size_t errlen)
{
    char *cert_pem = NULL, *key_pem = NULL;
    size_t clen = 0, klen = 0;
    struct gw_cert *c = calloc(1, sizeof(*c));
    gnutls_certificate_credentials_t check = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cfg->tls_cert_file[0]) {
        cert_pem = hb_read_file(cfg->tls_cert_file, 1 << 20, &clen, err, errlen);
        key_pem = cert_pem ? hb_read_file(cfg->tls_key_file, 1 << 20, &klen, err, errlen) : NULL;
        if (!key_pem)
            goto fail;
    } else {
        if (gw_tls_self_signed(&cert_pem, &key_pem, err, errlen) < 0)
            goto fail;
        clen = strlen(cert_pem);
        klen = strlen(key_pem);
    }
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)clen};
    gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)klen};
    int e;
    c->npcerts = HB_ARRAY_LEN(c->pcerts);
    if ((e = gnutls_certificate_allocate_credentials(&check)) < 0 ||
        (e = gnutls_certificate_set_x509_key_mem2(check, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL,
                                                  0)) < 0 ||
        (e = gnutls_pcert_list_import_x509_raw(c->pcerts, &c->npcerts, &cd,
                                               GNUTLS_X509_FMT_PEM, 0)) < 0) {
        c->npcerts = 0;
        goto tls_fail;
    }
    if ((e = gnutls_privkey_init(&c->key)) < 0 ||
        (e = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
        goto tls_fail;
    gnutls_certificate_free_credentials(check);
    free(cert_pem);
    memset(key_pem, 0, klen);
    free(key_pem);
    /* The fingerprint lets clients pin a self-signed certificate. */
    char fp[65];
    hb_sha256_hex2(c->pcerts[0].cert.data, c->pcerts[0].cert.size, "", 0, fp);
    if (cfg->tls_cert_file[0])
        HB_LOG(HB_LOG_INFO, "TLS certificate loaded", HB_S("file", cfg->tls_cert_file),
               HB_S("fingerprint_sha256", fp));
    else
        HB_LOG(HB_LOG_WARN, "TLS: no tls.cert_file configured, serving a SELF-SIGNED "
                            "certificate generated at start (development only)",
               HB_S("fingerprint_sha256", fp));
    return c;
tls_fail:
    snprintf(err, errlen, "TLS certificate %s: %s",
             cfg->tls_cert_file[0] ? cfg->tls_cert_file : "(self-signed)", gnutls_strerror(e));
fail:
    if (check)
        gnutls_certificate_free_credentials(check);
    free(cert_pem);
    if (key_pem) {
        memset(key_pem, 0, klen);
        free(key_pem);
    }
    cert_free(c);
    return NULL;
}

/* GnuTLS asks which certificate to present: the current one. */
static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *pkey)
{
    (void)session;
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct gw_cert *c = atomic_load(&current_cert);
    if (!c)
        return -1;
    *pcert = c->pcerts;
    *pcert_length = c->npcerts;
    *pkey = c->key;
    return 0;
}

/* ---- daemons ---- */

static struct MHD_Daemon *start_daemon(struct gw_server *srv, const struct gw_config *cfg,
                                       const char *addr, bool webhooks, char *err, size_t errlen)
{
    int port;
    int fd = gw_listen_socket(addr, &port, err, errlen);
    if (fd < 0)
        return NULL;
    long threads = cfg->threads ? cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    bool tls = webhooks && srv->tls;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_USE_ITC;
    if (tls)
        flags |= MHD_USE_TLS;
    const char *prio = strcmp(cfg->tls_min_version, "1.3") == 0
                           ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                           : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    struct MHD_OptionItem opts[] = {
        {tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0, (void *)cert_callback},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem tracking[] = {
        {webhooks ? MHD_OPTION_NOTIFY_CONNECTION : MHD_OPTION_END, (intptr_t)notify_connection,
         srv},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, webhooks ? handler : admin_handler, srv, MHD_OPTION_LISTEN_SOCKET,
        fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections + CONN_RESERVE), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)((cfg->request_timeout_ms + 999) / 1000), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->max_header_bytes, MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_ARRAY, tracking, MHD_OPTION_ARRAY,
        opts, MHD_OPTION_END);
    if (!d) {
        close(fd);
        snprintf(err, errlen, "cannot start the %s HTTP server on %s",
                 webhooks ? "webhooks" : "admin", addr);
        return NULL;
    }
    HB_LOG(HB_LOG_INFO, "listening", HB_S("what", webhooks ? "webhooks" : "admin"),
           HB_S("address", addr), HB_I("port", port), HB_B("tls", tls), HB_I("threads", threads));
    return d;
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
    pthread_mutex_init(&srv->conn_lock, NULL);
    srv->producer = producer;
    srv->spool = spool;
    srv->metrics = metrics;
    srv->tls = cfg->tls_enabled;
    srv->separate_admin = cfg->admin_listen[0] != '\0';
    srv->max_connections = cfg->max_connections;
    srv->request_timeout_ms = cfg->request_timeout_ms;
    srv->publish_seconds = hb_metrics_histogram(
        metrics, "hookbus_gateway_publish_seconds", "Time from produce to Kafka acknowledgement",
        NULL, buckets, HB_ARRAY_LEN(buckets));
    srv->connections = hb_metrics_gauge(metrics, "hookbus_gateway_connections",
                                        "Open webhook connections", NULL);
    srv->cut = hb_metrics_counter(metrics, "hookbus_gateway_connections_cut_total",
                                  "Connections cut for not completing a request in time", NULL);
    srv->reloads_ok = hb_metrics_counter(metrics, "hookbus_gateway_config_reloads_total",
                                         "SIGHUP reloads by result", "result=\"ok\"");
    srv->reloads_failed = hb_metrics_counter(metrics, "hookbus_gateway_config_reloads_total",
                                             "SIGHUP reloads by result", "result=\"refused\"");
    if (srv->tls) {
        struct gw_cert *c = cert_load(cfg, err, errlen);
        if (!c)
            goto fail;
        atomic_store(&current_cert, c);
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
    srv->daemon = start_daemon(srv, &g->cfg, g->cfg.listen, true, err, errlen);
    if (!srv->daemon)
        goto fail;
    if (srv->separate_admin) {
        srv->admin = start_daemon(srv, &g->cfg, g->cfg.admin_listen, false, err, errlen);
        if (!srv->admin)
            goto fail;
    }
    if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
        snprintf(err, errlen, "cannot start the connection reaper thread");
        goto fail;
    }
    srv->reaper_running = true;
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
        a->max_header_bytes != b->max_header_bytes)
        HB_LOG(HB_LOG_WARN, "reload: delivery_timeout_ms, spool.max_bytes, threads and "
                            "limits.max_connections/request_timeout_ms/max_header_bytes "
                            "need a restart to apply");
}

int gw_server_reload(struct gw_server *s, struct gw_config *cfg, char *err, size_t errlen)
{
    struct gw_cert *c = NULL;
    struct gw_gen *old = gen_acquire(s);
    log_restart_only(&old->cfg, cfg);
    gen_release(old);
    if (s->tls && cfg->tls_enabled) {
        c = cert_load(cfg, err, errlen);
        if (!c) {
            hb_counter_add(s->reloads_failed, 1);
            return -1;
        }
    }
    struct gw_gen *g = gen_new(cfg);
    if (!g) {
        cert_free(c);
        snprintf(err, errlen, "out of memory");
        hb_counter_add(s->reloads_failed, 1);
        return -1;
    }
    if (c) {
        c->older = atomic_load(&current_cert);
        atomic_store(&current_cert, c);
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

void gw_server_quiesce(struct gw_server *s)
{
    if (s && s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void gw_server_stop(struct gw_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->admin)
        MHD_stop_daemon(s->admin);
    if (s->reaper_running) {
        atomic_store(&s->stop, true);
        pthread_join(s->reaper, NULL);
    }
    gen_release(atomic_load(&s->gen));
    cert_free(atomic_exchange(&current_cert, NULL));
    pthread_mutex_destroy(&s->gen_lock);
    pthread_mutex_destroy(&s->conn_lock);
    free(s);
}
