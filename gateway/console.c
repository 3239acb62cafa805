/* console.c: the console's routes on the admin listener (never on the
 * webhook listener):
 *
 *   GET  /ui/                                  the page (static, no data in it)
 *   GET  /api/v1/receivers                     configured receiver names
 *   GET  /api/v1/deliveries?receiver=&status=&limit=
 *   GET  /api/v1/deliveries/{id}
 *   POST /api/v1/deliveries/{id}/redeliver     normalize the kept body again
 *                                              and publish the same ids
 *
 * With admin.token set, every route needs "Authorization: Bearer <token>"
 * (compared in constant time); /ui/ without it answers 401 with the page,
 * which asks for the token and keeps it in the tab's session storage. The
 * data is JSON; the page inserts it as text only. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console.h"
#include "hookbus/arena.h"
#include "hookbus/crypto.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define API "/api/v1/"
#define LIST_DEFAULT 100
#define LIST_MAX 100000
#define ARENA_BYTES (24 * 1024)
#define REDELIVER_GRACE_MS 2000 /* beyond delivery_timeout_ms, for the last reports */

static const char page_csp[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             const char *body, bool page)
{
    struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                               MHD_RESPMEM_MUST_COPY);
    if (!res)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(res, "Referrer-Policy", "no-referrer");
    if (page)
        MHD_add_response_header(res, "Content-Security-Policy", page_csp);
    if (status == 401)
        MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hookbus\"");
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, char *json)
{
    enum MHD_Result r = reply(conn, status, "application/json", json ? json : "{}", false);
    cJSON_free(json);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return send_json(conn, status, s);
}

/* True when the request carries the configured bearer token (or none is
 * configured: a loopback-only admin_listen). */
static bool authorized(const struct gw_config *cfg, struct MHD_Connection *conn)
{
    if (!cfg->admin_token.len)
        return true;
    const char *t = hb_bearer_token(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    return t && hb_ct_equal(t, strlen(t), cfg->admin_token.value, cfg->admin_token.len);
}

/* ---- redelivery ---- */

/* The kept headers stand in for the connection's. */
static const char *replay_header(const struct gw_request *req, const char *name)
{
    const struct gw_delivery_replay *rp = req->conn;
    for (size_t i = 0; i < rp->nheaders; i++)
        if (strcasecmp(rp->names[i], name) == 0)
            return rp->values[i];
    return NULL;
}

static void replay_each_header(const struct gw_request *req,
                               void (*fn)(void *arg, const char *name, const char *value),
                               void *arg)
{
    const struct gw_delivery_replay *rp = req->conn;
    for (size_t i = 0; i < rp->nheaders; i++)
        fn(arg, rp->names[i], rp->values[i]);
}

/* The delivery reports of one redelivery. Reference-counted: one per
 * message plus the waiting thread, so a report after the wait gave up
 * frees nothing in use. */
struct batch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int remaining, refs;
    struct report {
        struct gw_delivery base; /* first: the producer calls base.done */
        struct batch *b;
        char *error;
        bool done;
        int partition;
        long long offset;
    } * reports;
};

static void batch_unref(struct batch *b)
{
    pthread_mutex_lock(&b->lock);
    int refs = --b->refs;
    pthread_mutex_unlock(&b->lock);
    if (refs)
        return;
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
}

static void on_report(struct gw_delivery *d, const char *error, bool permanent, const char *topic,
                      int partition, long long offset)
{
    (void)permanent;
    (void)topic;
    struct report *r = (struct report *)d;
    struct batch *b = r->b;
    pthread_mutex_lock(&b->lock);
    r->error = error ? strdup(error) : NULL;
    r->done = !error;
    r->partition = partition;
    r->offset = offset;
    if (--b->remaining == 0)
        pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    batch_unref(b);
}

/* Produces ctx's events and waits for their reports (deadline: the
 * delivery timeout). Fills ev[] with where each went; the events Kafka did
 * not acknowledge go to the spool. 0, or -1 with err (nothing durable). */
static int publish(const struct gw_console_env *env, const struct gw_ctx *ctx,
                   struct gw_delivery_event *ev, size_t *spooled, char *err, size_t errlen)
{
    int rc = -1;
    size_t n = ctx->nevents, encoded = 0;
    bool sent = false;
    struct hb_kafka_msg *msgs = calloc(n, sizeof(*msgs));
    struct batch *b = calloc(1, sizeof(*b) + n * sizeof(struct report));
    struct hb_event **failed = calloc(n, sizeof(*failed));
    if (!msgs || !b || !failed) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    b->reports = (struct report *)(b + 1);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    for (; encoded < n; encoded++) {
        size_t i = encoded;
        if (hb_kafka_encode(ctx->events[i], env->cfg->format, &msgs[i], err, errlen) < 0)
            goto fail;
        ev[i].topic = gw_config_topic(env->cfg, ev[i].type);
        b->reports[i] = (struct report){{on_report}, b, NULL, false, -1, -1};
    }
    /* gw_producer_send reports every message exactly once, even unqueued. */
    b->remaining = (int)n;
    b->refs = (int)n + 1;
    sent = true;
    for (size_t i = 0; i < n; i++)
        gw_producer_send(env->producer, ev[i].topic, &msgs[i], &b->reports[i].base);
    struct timespec until;
    hb_realtime_after_ms(env->cfg->delivery_timeout_ms + REDELIVER_GRACE_MS, &until);
    pthread_mutex_lock(&b->lock);
    while (b->remaining > 0)
        if (pthread_cond_timedwait(&b->cond, &b->lock, &until) != 0)
            break;
    size_t nfailed = 0;
    for (size_t i = 0; i < n; i++) {
        struct report *r = &b->reports[i];
        if (r->done) {
            ev[i].partition = r->partition;
            ev[i].offset = r->offset;
        } else {
            failed[nfailed++] = ctx->events[i];
            ev[i].topic = NULL;
            if (r->error)
                snprintf(err, errlen, "kafka did not acknowledge: %s", r->error);
            else
                snprintf(err, errlen, "kafka did not acknowledge in time");
        }
        free(r->error);
        r->error = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    *spooled = 0;
    rc = 0;
    if (nfailed) {
        char why[256];
        hb_strlcpy(why, err, sizeof(why));
        if (!env->spool || gw_spool_events(env->spool, env->cfg, ctx->rcv->name, failed, nfailed,
                                           err, errlen) < 0) {
            if (!env->spool)
                snprintf(err, errlen, "not durable: %s; spool disabled", why);
            rc = -1;
        } else {
            *spooled = nfailed;
        }
    }
fail:
    for (size_t i = 0; msgs && i < encoded; i++)
        hb_kafka_msg_clear(&msgs[i]);
    free(msgs);
    free(failed);
    if (sent) {
        batch_unref(b);
    } else if (b) { /* nothing sent: no report will come */
        if (b->reports) {
            pthread_mutex_destroy(&b->lock);
            pthread_cond_destroy(&b->cond);
        }
        free(b);
    }
    return rc;
}

/* POST /api/v1/deliveries/{id}/redeliver. */
static enum MHD_Result redeliver(const struct gw_console_env *env, struct MHD_Connection *conn,
                                 unsigned long long id)
{
    char err[320], msg[400];
    struct gw_delivery_replay rp;
    struct gw_delivery_event *ev = NULL;
    enum MHD_Result res;
    int64_t start = hb_mono_ms();
    int rc = gw_deliveries_replay(env->deliveries, id, &rp);
    if (rc == -1)
        return send_error(conn, 404, "no such delivery (deliveries.keep holds the latest)");
    if (rc == -2)
        return send_error(conn, 409,
                          "this delivery's body was not kept (not authentic, or over "
                          "deliveries.max_body_bytes)");
    const struct gw_receiver *rcv = gw_config_find_receiver(env->cfg, rp.receiver);
    if (!rcv) {
        gw_delivery_replay_clear(&rp);
        return send_error(conn, 409, "the receiver is no longer configured");
    }
    struct gw_request req = {.method = "POST",
                             .remote = "console",
                             .content_type = rp.content_type,
                             .body = rp.body,
                             .body_len = rp.body_len,
                             .key_route = rp.key_route,
                             .header = replay_header,
                             .each_header = replay_each_header,
                             .conn = &rp};
    struct gw_ctx ctx = {.rcv = rcv, .req = &req};
    hb_now_rfc3339(ctx.time);
    {
        char mem[ARENA_BYTES];
        struct hb_arena arena = {0};
        hb_arena_enter(&arena, mem, sizeof(mem));
        gw_normalize(&ctx);
        hb_arena_leave();
    }
    if (ctx.status == 200 && ctx.nevents)
        ctx.status = 0;
    if (ctx.status || !ctx.nevents) {
        snprintf(msg, sizeof(msg), "normalize produced no event: %s",
                 ctx.status ? ctx.message : "nothing to publish");
        res = send_error(conn, 409, msg);
        goto out;
    }
    gw_ctx_finish(&ctx);
    ev = calloc(ctx.nevents, sizeof(*ev));
    if (!ev) {
        res = send_error(conn, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ctx.nevents; i++)
        ev[i] = (struct gw_delivery_event){hb_event_get(ctx.events[i], "id"),
                                           hb_event_get(ctx.events[i], "type"),
                                           hb_event_get(ctx.events[i], "subject"),
                                           NULL,
                                           -1,
                                           -1};
    size_t spooled = 0;
    rc = publish(env, &ctx, ev, &spooled, err, sizeof(err));
    snprintf(msg, sizeof(msg), "redelivery of delivery %llu%s%s", id, rc < 0 ? ": " : "",
             rc < 0 ? err : "");
    struct gw_delivery_info info = {.rcv = rcv,
                                    .req = &req,
                                    .ctx = &ctx,
                                    .remote = "console",
                                    .key_route = rp.key_route,
                                    .authentic = true,
                                    .status = rc < 0 ? 503 : 202,
                                    .reason = msg,
                                    .latency_ms = hb_mono_ms() - start,
                                    .events = ev,
                                    .nevents = ctx.nevents};
    gw_deliveries_record(env->deliveries, &info);
    HB_LOG(HB_LOG_INFO, "delivery redelivered", HB_S("receiver", rcv->name),
           HB_S("delivery", ctx.delivery_id), HB_I("events", (long long)ctx.nevents),
           HB_I("spooled", (long long)spooled), HB_S("error", rc < 0 ? err : NULL));
    if (rc < 0) {
        res = send_error(conn, 503, err);
        goto out;
    }
    cJSON *o = cJSON_CreateObject();
    char ids[32];
    snprintf(ids, sizeof(ids), "%llu", id);
    cJSON_AddStringToObject(o, "redelivered", ids);
    cJSON_AddNumberToObject(o, "accepted", (double)ctx.nevents);
    if (spooled)
        cJSON_AddNumberToObject(o, "spooled", (double)spooled);
    cJSON *arr = cJSON_AddArrayToObject(o, "events");
    cJSON *idarr = cJSON_AddArrayToObject(o, "ids");
    for (size_t i = 0; i < ctx.nevents; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", ev[i].id);
        cJSON_AddItemToArray(idarr, cJSON_CreateString(ev[i].id));
        if (ev[i].topic) {
            cJSON_AddStringToObject(x, "topic", ev[i].topic);
            cJSON_AddNumberToObject(x, "partition", ev[i].partition);
            cJSON_AddNumberToObject(x, "offset", (double)ev[i].offset);
        }
        cJSON_AddItemToArray(arr, x);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    res = send_json(conn, 202, s);
out:
    free(ev);
    gw_ctx_clear(&ctx);
    gw_delivery_replay_clear(&rp);
    return res;
}

/* ---- routes ---- */

static enum MHD_Result receivers(const struct gw_console_env *env, struct MHD_Connection *conn)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < env->cfg->nreceivers; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", env->cfg->receivers[i].name);
        cJSON_AddStringToObject(o, "type", env->cfg->receivers[i].type->type);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return send_json(conn, 200, s);
}

static enum MHD_Result list(const struct gw_console_env *env, struct MHD_Connection *conn)
{
    long limit = LIST_DEFAULT;
    const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (l && *l && hb_parse_long(l, 1, LIST_MAX, &limit) < 0)
        return send_error(conn, 400, "limit: a number from 1 to 100000");
    char *s = gw_deliveries_list(
        env->deliveries, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "receiver"),
        MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status"), limit);
    return s ? send_json(conn, 200, s) : send_error(conn, 500, "out of memory");
}

/* "123" or "123/redeliver" after /api/v1/deliveries/: the id and *action. */
static bool parse_id(const char *s, unsigned long long *id, const char **action)
{
    const char *end;
    if (hb_parse_ull(s, &end, id) < 0 || end == s || !*id)
        return false;
    if (!*end) {
        *action = "";
        return true;
    }
    if (*end != '/')
        return false;
    *action = end + 1;
    return true;
}

enum MHD_Result gw_console_serve(const struct gw_console_env *env, struct MHD_Connection *conn,
                                 const char *url, const char *method, bool *handled)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    *handled = true;
    if (strcmp(url, "/ui") == 0 || strcmp(url, "/ui/") == 0 || strcmp(url, "/ui/index.html") == 0) {
        if (!get)
            return send_error(conn, 405, "method not allowed");
        return reply(conn, authorized(env->cfg, conn) ? 200 : 401, "text/html; charset=utf-8",
                     gw_console_html, true);
    }
    if (!hb_str_has_prefix(url, "/api/")) {
        *handled = false;
        return MHD_NO;
    }
    if (!authorized(env->cfg, conn)) {
        HB_LOG(HB_LOG_WARN, "console request refused", HB_S("audit", "401"), HB_S("path", url));
        return send_error(conn, 401, "a valid Authorization: Bearer <admin.token> is required");
    }
    if (strcmp(url, API "receivers") == 0)
        return get ? receivers(env, conn) : send_error(conn, 405, "method not allowed");
    if (strcmp(url, API "deliveries") == 0)
        return get ? list(env, conn) : send_error(conn, 405, "method not allowed");
    unsigned long long id;
    const char *action;
    if (hb_str_has_prefix(url, API "deliveries/") &&
        parse_id(url + strlen(API "deliveries/"), &id, &action)) {
        if (!*action) {
            if (!get)
                return send_error(conn, 405, "method not allowed");
            char *s = gw_deliveries_get(env->deliveries, id);
            return s ? send_json(conn, 200, s) : send_error(conn, 404, "no such delivery");
        }
        if (strcmp(action, "redeliver") == 0)
            return post ? redeliver(env, conn, id) : send_error(conn, 405, "use POST");
    }
    return send_error(conn, 404, "not found");
}
