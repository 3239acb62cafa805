/* http.c: the gateway's HTTP(S) server on libmicrohttpd.
 *
 * A webhook request is read to its end (bounded), authenticated, normalized
 * into events and produced to Kafka; the connection is then suspended (no
 * server thread waits) and resumed by the last delivery report, which decides
 * between 202 and 503. All per-request state hangs off struct gw_http_req and
 * is freed in the request-completed callback. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "hookbus/format.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define WEBHOOK_PREFIX "/webhooks/"

struct gw_server {
    const struct gw_config *cfg;
    struct gw_producer *producer;
    struct hb_metrics *metrics;
    struct MHD_Daemon *daemon, *admin;
    char *cert_pem, *key_pem;
    struct hb_histogram *publish_seconds;
    struct hb_counter *events_published;
};

enum req_state { RS_BODY, RS_WAIT, RS_DONE };

struct slot {
    struct gw_http_req *req;
    size_t index;
    const char *topic;
};

struct gw_http_req {
    struct gw_server *srv;
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
    char error[160]; /* first delivery error */
};

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
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

/* A JSON body {"<key>": msg} (error for 4xx/5xx, message otherwise). */
static enum MHD_Result respond_msg(struct MHD_Connection *conn, unsigned status, const char *msg,
                                   const char *retry_after)
{
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
    free(s);
    return r;
}

static void count_request(struct gw_server *srv, const char *receiver, unsigned status)
{
    char labels[160], esc[96];
    if (hb_metrics_label_escape(receiver, esc, sizeof(esc)) < 0)
        hb_strlcpy(esc, "?", sizeof(esc));
    snprintf(labels, sizeof(labels), "receiver=\"%s\",code=\"%u\"", esc, status);
    hb_counter_add(hb_metrics_counter(srv->metrics, "hookbus_gateway_requests_total",
                                      "Webhook requests by receiver and status", labels),
                   1);
}

static void count_receiver(struct gw_server *srv, const char *name, const char *metric,
                           const char *help, uint64_t n)
{
    char labels[128], esc[96];
    if (hb_metrics_label_escape(name, esc, sizeof(esc)) < 0)
        return;
    snprintf(labels, sizeof(labels), "receiver=\"%s\"", esc);
    hb_counter_add(hb_metrics_counter(srv->metrics, metric, help, labels), n);
}

static enum MHD_Result finish(struct gw_http_req *r, unsigned status, const char *msg,
                              const char *retry_after)
{
    count_request(r->srv, r->rcv ? r->rcv->name : "-", status);
    if (status >= 400 && r->rcv)
        HB_LOG(status >= 500 ? HB_LOG_WARN : HB_LOG_INFO, "request rejected",
               HB_S("receiver", r->rcv->name), HB_I("status", status), HB_S("reason", msg),
               HB_S("remote", r->remote));
    return respond_msg(r->conn, status, msg, retry_after);
}

/* ---- health ---- */

static enum MHD_Result serve_admin(struct gw_server *srv, struct MHD_Connection *conn,
                                   const char *url, const char *method, bool *handled)
{
    *handled = true;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/healthz") == 0)
        return get ? respond(conn, 200, "application/json", "{\"status\":\"ok\"}", NULL)
                   : respond_msg(conn, 405, "method not allowed", NULL);
    if (strcmp(url, "/readyz") == 0) {
        if (!get)
            return respond_msg(conn, 405, "method not allowed", NULL);
        return gw_producer_ready(srv->producer)
                   ? respond(conn, 200, "application/json", "{\"ready\":true}", NULL)
                   : respond(conn, 503, "application/json",
                             "{\"ready\":false,\"error\":\"kafka unreachable\"}", "5");
    }
    if (strcmp(url, "/metrics") == 0) {
        if (!get)
            return respond_msg(conn, 405, "method not allowed", NULL);
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
    (void)cls;
    (void)conn;
    (void)toe;
    struct gw_http_req *r = *con_cls;
    if (!r)
        return;
    hb_buf_free(&r->body);
    gw_ctx_clear(&r->ctx);
    free(r->slots);
    pthread_mutex_destroy(&r->lock);
    free(r);
    *con_cls = NULL;
}

/* ---- delivery ---- */

void gw_server_on_delivery(void *opaque, const char *error, const char *topic, int partition,
                           long long offset)
{
    struct slot *s = opaque;
    struct gw_http_req *r = s->req;
    struct hb_event *ev = r->ctx.events[s->index];
    if (error) {
        pthread_mutex_lock(&r->lock);
        if (!r->error[0])
            snprintf(r->error, sizeof(r->error), "%s", error);
        pthread_mutex_unlock(&r->lock);
        HB_LOG(HB_LOG_WARN, "event not acknowledged by kafka", HB_S("receiver", r->rcv->name),
               HB_S("id", hb_event_get(ev, "id")), HB_S("topic", topic), HB_S("error", error));
    } else {
        int64_t ms = hb_mono_ms() - r->produce_ms;
        hb_counter_add(r->srv->events_published, 1);
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

/* Encodes and produces every event; suspends the connection until the last
 * delivery report. */
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
        if (hb_kafka_encode(ctx->events[i], srv->cfg->format, &msgs[i], err, sizeof(err)) < 0) {
            for (size_t j = 0; j < i; j++)
                hb_kafka_msg_clear(&msgs[j]);
            free(msgs);
            return finish(r, 400, err, NULL);
        }
        r->slots[i] = (struct slot){r, i, gw_config_topic(srv->cfg, hb_event_get(ctx->events[i],
                                                                                  "type"))};
    }
    atomic_store(&r->remaining, (int)ctx->nevents);
    atomic_store(&r->state, RS_WAIT);
    r->produce_ms = hb_mono_ms();
    MHD_suspend_connection(r->conn);
    for (size_t i = 0; i < ctx->nevents; i++) {
        if (gw_producer_send(srv->producer, r->slots[i].topic, &msgs[i], &r->slots[i], err,
                             sizeof(err)) < 0)
            gw_server_on_delivery(&r->slots[i], err, r->slots[i].topic, -1, -1);
        hb_kafka_msg_clear(&msgs[i]);
    }
    free(msgs);
    return MHD_YES;
}

/* Authenticates, normalizes and publishes a complete request. */
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
    count_receiver(r->srv, r->rcv->name, "hookbus_gateway_request_bytes_total",
                   "Request body bytes received", r->body.len);
    if (gw_authenticate(r->rcv, &r->greq, &reason) < 0) {
        count_receiver(r->srv, r->rcv->name, "hookbus_gateway_auth_failures_total",
                       "Requests refused as unauthenticated", 1);
        HB_LOG(HB_LOG_WARN, "authentication failed", HB_S("audit", "401"),
               HB_S("receiver", r->rcv->name), HB_S("remote", r->remote), HB_S("reason", reason));
        count_request(r->srv, r->rcv->name, 401);
        return respond_msg(r->conn, 401, "authentication failed", NULL);
    }
    struct gw_ctx *ctx = &r->ctx;
    *ctx = (struct gw_ctx){.rcv = r->rcv, .req = &r->greq};
    hb_now_rfc3339(ctx->time);
    r->rcv->type->normalize(ctx);
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

/* The answer once every delivery report is in. */
static enum MHD_Result answer(struct gw_http_req *r)
{
    if (r->error[0]) {
        char msg[256];
        snprintf(msg, sizeof(msg), "not durable: kafka did not acknowledge: %s", r->error);
        return finish(r, 503, msg, "5");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "accepted", (double)r->ctx.nevents);
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < r->ctx.nevents; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(hb_event_get(r->ctx.events[i], "id")));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    count_request(r->srv, r->rcv->name, 202);
    enum MHD_Result res = respond(r->conn, 202, "application/json", s ? s : "{}", NULL);
    free(s);
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

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct gw_server *srv = cls;
    struct gw_http_req *r = *con_cls;
    if (!r) {
        char name[80], key[96];
        if (!srv->cfg->admin_listen[0]) {
            bool handled;
            enum MHD_Result res = serve_admin(srv, conn, url, method, &handled);
            if (handled)
                return res;
        }
        if (!parse_route(url, name, sizeof(name), key, sizeof(key))) {
            count_request(srv, "-", 404);
            return respond_msg(conn, 404, "not found", NULL);
        }
        const struct gw_receiver *rcv = gw_config_find_receiver(srv->cfg, name);
        if (!rcv) {
            count_request(srv, "-", 404);
            return respond_msg(conn, 404, "unknown receiver", NULL);
        }
        if (strcmp(method, "POST") != 0) {
            count_request(srv, rcv->name, 405);
            return respond_msg(conn, 405, "method not allowed: use POST", NULL);
        }
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->srv = srv;
        r->rcv = rcv;
        r->conn = conn;
        r->start_ms = hb_mono_ms();
        pthread_mutex_init(&r->lock, NULL);
        hb_buf_init(&r->body, (size_t)srv->cfg->max_body_bytes);
        remote_addr(conn, r->remote, sizeof(r->remote));
        *con_cls = r;
        if (key[0]) {
            if (!gw_key_valid(rcv, key)) {
                count_receiver(srv, rcv->name, "hookbus_gateway_auth_failures_total",
                               "Requests refused as unauthenticated", 1);
                HB_LOG(HB_LOG_WARN, "authentication failed", HB_S("audit", "401"),
                       HB_S("receiver", rcv->name), HB_S("remote", r->remote),
                       HB_S("reason", "invalid key in URL"));
                count_request(srv, rcv->name, 401);
                return respond_msg(conn, 401, "authentication failed", NULL);
            }
            r->key_route = true;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        long len;
        if (cl && hb_parse_long(cl, 0, 0x7fffffffffffffffL, &len) == 0 &&
            len > srv->cfg->max_body_bytes) {
            r->too_large = true;
            return finish(r, 413, "request body over limits.max_body_bytes", NULL);
        }
        return MHD_YES;
    }
    if (atomic_load(&r->state) == RS_DONE)
        return answer(r);
    if (atomic_load(&r->state) == RS_WAIT)
        return MHD_YES;
    if (*upload_data_size) {
        /* Over the limit: keep nothing more. libmicrohttpd cannot answer in
         * the middle of an upload, so the rest is discarded (memory stays
         * bounded, time by the connection timeout) and 413 follows. */
        if (!r->too_large && hb_buf_append(&r->body, upload_data, *upload_data_size) < 0) {
            r->too_large = true;
            hb_buf_free(&r->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
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

static struct MHD_Daemon *start_daemon(struct gw_server *srv, const char *addr, bool tls,
                                       MHD_AccessHandlerCallback cb, const char *what, char *err,
                                       size_t errlen)
{
    int port;
    int fd = gw_listen_socket(addr, &port, err, errlen);
    if (fd < 0)
        return NULL;
    long threads = srv->cfg->threads ? srv->cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_USE_ITC;
    if (tls)
        flags |= MHD_USE_TLS;
    const char *prio = strcmp(srv->cfg->tls_min_version, "1.3") == 0
                           ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                           : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, cb, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)srv->cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)((srv->cfg->request_timeout_ms + 999) / 1000), MHD_OPTION_NOTIFY_COMPLETED,
        request_completed, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_ARRAY,
        tls_opts, MHD_OPTION_END);
    if (!d) {
        close(fd);
        snprintf(err, errlen, "cannot start the %s HTTP server on %s", what, addr);
        return NULL;
    }
    HB_LOG(HB_LOG_INFO, "listening", HB_S("what", what), HB_S("address", addr),
           HB_I("port", port), HB_B("tls", tls), HB_I("threads", threads));
    return d;
}

struct gw_server *gw_server_start(const struct gw_config *cfg, struct gw_producer *producer,
                                  struct hb_metrics *metrics, char *err, size_t errlen)
{
    static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,   0.25,   0.5,   1,    2.5,   5};
    struct gw_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->cfg = cfg;
    srv->producer = producer;
    srv->metrics = metrics;
    srv->events_published = hb_metrics_counter(metrics, "hookbus_gateway_events_published_total",
                                               "Events acknowledged by Kafka", NULL);
    srv->publish_seconds = hb_metrics_histogram(
        metrics, "hookbus_gateway_publish_seconds", "Time from produce to Kafka acknowledgement",
        NULL, buckets, HB_ARRAY_LEN(buckets));
    if (cfg->tls_enabled) {
        if (cfg->tls_cert_file[0]) {
            size_t n;
            srv->cert_pem = hb_read_file(cfg->tls_cert_file, 1 << 20, &n, err, errlen);
            srv->key_pem = srv->cert_pem ? hb_read_file(cfg->tls_key_file, 1 << 20, &n, err,
                                                        errlen)
                                         : NULL;
            if (!srv->key_pem)
                goto fail;
        } else {
            if (gw_tls_self_signed(&srv->cert_pem, &srv->key_pem, err, errlen) < 0)
                goto fail;
            HB_LOG(HB_LOG_WARN, "TLS: no tls.cert_file configured, serving a SELF-SIGNED "
                                "certificate generated at start (development only)");
        }
    }
    srv->daemon = start_daemon(srv, cfg->listen, cfg->tls_enabled, handler, "webhooks", err,
                               errlen);
    if (!srv->daemon)
        goto fail;
    if (cfg->admin_listen[0]) {
        srv->admin = start_daemon(srv, cfg->admin_listen, false, admin_handler, "admin", err,
                                  errlen);
        if (!srv->admin)
            goto fail;
    }
    return srv;
fail:
    gw_server_stop(srv);
    return NULL;
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
    free(s->cert_pem);
    if (s->key_pem) {
        memset(s->key_pem, 0, strlen(s->key_pem));
        free(s->key_pem);
    }
    free(s);
}
