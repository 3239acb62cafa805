/* cloudevents.c: any CloudEvent over HTTP (binary mode ce-* headers,
 * structured application/cloudevents+json, or a batch), validated and passed
 * through. The gateway sets the `receiver` extension (and `provider` when the
 * event has none) so consumers can always tell where an event came in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

#define MAX_BATCH 1000

struct hdr_walk {
    struct hb_event *ev;
    const char *error;
};

static void binary_header(void *arg, const char *name, const char *value)
{
    struct hdr_walk *w = arg;
    char attr[72];
    if (w->error || strncasecmp(name, "ce-", 3) != 0)
        return;
    if (hb_strlcpy(attr, name + 3, sizeof(attr)) < 0 || !hb_attr_name_valid(hb_str_lower(attr))) {
        w->error = "invalid ce- header name";
        return;
    }
    char *dec = gw_pct_decode(value);
    if (!dec || hb_event_set(w->ev, attr, dec) < 0)
        w->error = "ce- header value too long, or too many attributes";
    free(dec);
}

/* Stamps receiver/provider/partitionkey and hands the event to ctx. */
static int accept_event(struct gw_ctx *ctx, struct hb_event *ev)
{
    char err[256];
    if (hb_event_set(ev, "receiver", ctx->rcv->name) < 0 ||
        (!hb_event_get(ev, "provider") && hb_event_set(ev, "provider", "cloudevents") < 0)) {
        hb_event_free(ev);
        gw_bad_request(ctx, "too many attributes");
        return -1;
    }
    if (!hb_event_get(ev, "partitionkey")) {
        const char *pk = hb_event_get(ev, "repo");
        hb_event_set(ev, "partitionkey", pk ? pk : hb_event_get(ev, "source"));
    }
    if (hb_event_check(ev, err, sizeof(err)) < 0) {
        hb_event_free(ev);
        gw_bad_request(ctx, "invalid CloudEvent: %s", err);
        return -1;
    }
    return gw_ctx_add_event(ctx, ev);
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The data of a binary-mode request: the body, except that JSON data loses
 * the whitespace around its value (a trailing newline, say). The value is the
 * same JSON; with the whitespace, structured mode could only carry the bytes
 * as data_base64, and the CloudEvents SDKs then hand consumers bytes instead
 * of the JSON value they get in binary mode. */
static void binary_data(const char *ct, const char *body, size_t len, size_t *off, size_t *n)
{
    size_t a = 0, b = len;
    *off = 0;
    *n = len;
    if (!ct || !hb_content_type_is_json(ct))
        return;
    while (a < b && json_space(body[a]))
        a++;
    while (b > a && json_space(body[b - 1]))
        b--;
    if (a == 0 && b == len)
        return;
    cJSON *v = (cJSON *)hb_json_parse(body + a, b - a);
    if (v && !cJSON_IsNull(v)) {
        *off = a;
        *n = b - a;
    }
    cJSON_Delete(v);
}

static void cloudevents_normalize(struct gw_ctx *ctx)
{
    const struct gw_request *req = ctx->req;
    char err[256];
    struct hb_event *ev = NULL;
    if (strcmp(req->content_type, HB_CT_CE_JSON) == 0) {
        if (hb_event_from_json((const char *)req->body, req->body_len, &ev, err, sizeof(err)) < 0)
            gw_bad_request(ctx, "invalid CloudEvent: %s", err);
        else
            accept_event(ctx, ev);
        return;
    }
    if (strcmp(req->content_type, HB_CT_CE_BATCH) == 0) {
        cJSON *arr = hb_json_parse((const char *)req->body, req->body_len);
        if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > MAX_BATCH) {
            gw_bad_request(ctx, "a batch must be a JSON array of at most %d events", MAX_BATCH);
        } else {
            const cJSON *it;
            cJSON_ArrayForEach (it, arr) {
                if (hb_event_from_cjson(it, &ev, err, sizeof(err)) < 0) {
                    gw_bad_request(ctx, "invalid CloudEvent in batch: %s", err);
                    break;
                }
                if (accept_event(ctx, ev) < 0)
                    break;
            }
            if (!ctx->status && !ctx->nevents)
                gw_ignore(ctx, "empty batch");
        }
        cJSON_Delete(arr);
        return;
    }
    /* HTTP binding: an application/cloudevents... content type is structured
     * mode in some event format; only JSON is supported. Taken as binary, its
     * datacontenttype would make Kafka consumers misread the message. */
    if (hb_str_has_prefix(req->content_type, "application/cloudevents")) {
        gw_set_status(ctx, 415, "unsupported CloudEvents event format '%.64s' (want %s)",
                      req->content_type, HB_CT_CE_JSON);
        return;
    }
    if (!req->header(req, "ce-specversion")) {
        gw_set_status(ctx, 415,
                      "not a CloudEvent: no ce-specversion header and content type "
                      "'%.64s' is not application/cloudevents+json",
                      req->content_type);
        return;
    }
    struct hdr_walk w = {.ev = hb_event_new()};
    if (!w.ev) {
        gw_set_status(ctx, 500, "out of memory");
        return;
    }
    req->each_header(req, binary_header, &w);
    const char *ct = req->header(req, "Content-Type");
    if (!w.error && ct && hb_event_set(w.ev, "datacontenttype", ct) < 0)
        w.error = "content type too long";
    size_t off, n;
    binary_data(ct, (const char *)req->body, req->body_len, &off, &n);
    if (!w.error && n && hb_event_set_data(w.ev, (const char *)req->body + off, n) < 0)
        w.error = "out of memory";
    if (w.error) {
        hb_event_free(w.ev);
        gw_bad_request(ctx, "%s", w.error);
        return;
    }
    accept_event(ctx, w.ev);
}

const struct gw_receiver_type gw_receiver_cloudevents = {
    .type = "cloudevents",
    .provider = "cloudevents",
    .normalize = cloudevents_normalize,
};
