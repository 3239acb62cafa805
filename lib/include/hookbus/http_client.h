/* hookbus/http_client.h: the one way consumers POST to a peer (hookbus-http,
 * hookbus-image-updater, your own): a request on a pooled libcurl handle, the
 * reply's start kept (bounded), the status classified into done / retry /
 * dead letter by one rule, and the peer's Retry-After parsed once.
 *
 *     struct hb_http_request req = {.url = url, .headers = hl, .body = body,
 *                                   .bodylen = len, .timeout_ms = 10000};
 *     struct hb_http_result res;
 *     enum hb_act r = hb_http_post(&pool, &req, &res);
 *     if (r == HB_ACT_RETRY)
 *         hb_batch_set_retry_after(batch, res.retry_after_ms);
 */
#ifndef HOOKBUS_HTTP_CLIENT_H
#define HOOKBUS_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "hookbus/consumer.h"
#include "hookbus/curl_pool.h"

#define HB_HTTP_REPLY_MAX 512                /* bytes of the reply body kept */
#define HB_HTTP_RETRY_AFTER_MAX_MS 86400000L /* a Retry-After is taken up to a day */

struct hb_http_request {
    const char *url;                  /* http:// or https:// only */
    const struct curl_slist *headers; /* complete lines; NULL: none */
    const char *body;
    size_t bodylen;
    const char *user_agent;    /* NULL: libcurl sends none */
    long timeout_ms;           /* whole request; 0: no limit */
    long connect_timeout_ms;   /* 0: timeout_ms */
    const char *ca_file;       /* NULL or "": the system store */
    bool insecure_skip_verify; /* testing only */
    /* W3C trace context sent as the traceparent / tracestate headers (the
     * action's span, hookbus/trace.h); NULL: not sent. */
    const char *traceparent;
    const char *tracestate;
};

struct hb_http_result {
    long status;         /* the HTTP status, 0 when no response came */
    int curl_code;       /* CURLcode of the transfer */
    long retry_after_ms; /* the reply's Retry-After (0: none); see hb_http_retry_after_ms */
    long ms;             /* how long the request took */
    char reply[HB_HTTP_REPLY_MAX + 1]; /* the reply body's start, on one line */
    char error[CURL_ERROR_SIZE];       /* curl's message when curl_code != CURLE_OK */
};

/* POSTs req on a handle taken from pool (and handed back, so connections and
 * TLS sessions are reused) and fills *res. Returns hb_http_classify of the
 * outcome. Never blocks longer than req's timeouts. */
enum hb_act hb_http_post(struct hb_curl_pool *pool, const struct hb_http_request *req,
                         struct hb_http_result *res);

/* The one rule: a transport failure (curl_code != CURLE_OK: refused, timed
 * out, TLS) and 408, 429 and 500-599 are worth retrying; 2xx is done; any
 * other status (1xx, 3xx, the rest of 4xx, anything outside 100-599) will not
 * change by retrying: dead letter. */
enum hb_act hb_http_classify(long status, int curl_code);

/* A Retry-After value (RFC 9110 section 10.2.3): delay-seconds or an
 * HTTP-date, relative to now. Returns milliseconds, at most
 * HB_HTTP_RETRY_AFTER_MAX_MS; 0 for NULL, a date in the past or a value that
 * is neither. The consumer runtime caps it again at retry.max_backoff. */
long hb_http_retry_after_ms(const char *value, time_t now);

#endif
