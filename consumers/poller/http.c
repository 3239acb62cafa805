/* http.c: the poller's HTTP requests (registries, chart repositories), polite
 * per host: a token bucket of `host_requests_per_minute`, and a 429 answered
 * with Retry-After makes every request to that host wait that long. Bodies
 * are bounded by `max_response_bytes`. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hookbus/log.h"
#include "hookbus/util.h"
#include "poller.h"

#define PL_HEADER_MAX 4096 /* one kept response header */
#define PL_429_TRIES 3

long pl_retry_after_ms(const char *v, long long now_epoch)
{
    long secs;
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    if (hb_parse_long(v, 0, 86400L * 365, &secs) == 0)
        return secs * 1000;
    time_t t = curl_getdate(v, NULL);
    if (t < 0)
        return -1;
    return t <= now_epoch ? 0 : (long)(t - now_epoch) * 1000;
}

long pl_host_take(struct pl_host *h, long per_minute, int64_t now_ms)
{
    double cap = per_minute; /* a minute's worth may go at once */
    if (h->refill_ms == 0) {
        h->tokens = cap;
        h->refill_ms = now_ms;
    }
    h->tokens += (double)(now_ms - h->refill_ms) * per_minute / 60000.0;
    if (h->tokens > cap)
        h->tokens = cap;
    h->refill_ms = now_ms;
    if (h->tokens >= 1.0) {
        h->tokens -= 1.0;
        return 0;
    }
    long wait = (long)((1.0 - h->tokens) * 60000.0 / per_minute) + 1;
    return wait;
}

static struct pl_host *host_of(struct pl_http *h, const char *url)
{
    char name[256] = "";
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
            snprintf(name, sizeof(name), "%s:%s", host, port);
        else
            snprintf(name, sizeof(name), "%s", host);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    hb_str_lower(name);
    for (struct pl_host *p = h->hosts; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    struct pl_host *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    hb_strlcpy(p->name, name, sizeof(p->name));
    char esc[300], labels[320];
    if (h->metrics && hb_metrics_label_escape(name, esc, sizeof(esc)) == 0) {
        snprintf(labels, sizeof(labels), "host=\"%s\"", esc);
        p->m_waits = hb_metrics_counter(h->metrics, "hookbus_poller_rate_limit_waits_total",
                                        "Waits for a host's request budget or its Retry-After",
                                        labels);
    }
    p->next = h->hosts;
    h->hosts = p;
    return p;
}

void pl_http_free(struct pl_http *h)
{
    struct pl_host *p = h->hosts;
    while (p) {
        struct pl_host *n = p->next;
        free(p);
        p = n;
    }
    h->hosts = NULL;
}

void pl_http_resp_free(struct pl_http_resp *r)
{
    free(r->body);
    free(r->content_type);
    free(r->www_authenticate);
    free(r->link);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

struct collect {
    struct pl_http_resp *r;
    char *retry_after;
};

/* Keeps the few response headers the sources need (the last of each). */
static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct collect *c = arg;
    size_t len = size * n;
    const char *colon = memchr(buf, ':', len);
    if (!colon || len > PL_HEADER_MAX)
        return len;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = len - klen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    char **slot = NULL;
    if (klen == 12 && strncasecmp(buf, "Content-Type", 12) == 0)
        slot = &c->r->content_type;
    else if (klen == 16 && strncasecmp(buf, "WWW-Authenticate", 16) == 0)
        slot = &c->r->www_authenticate;
    else if (klen == 4 && strncasecmp(buf, "Link", 4) == 0)
        slot = &c->r->link;
    else if (klen == 21 && strncasecmp(buf, "Docker-Content-Digest", 21) == 0)
        slot = &c->r->digest;
    else if (klen == 11 && strncasecmp(buf, "Retry-After", 11) == 0)
        slot = &c->retry_after;
    if (slot) {
        free(*slot);
        *slot = hb_strndup(v, vlen);
    }
    return len;
}

/* Appends to the bounded body; over max_response_bytes fails the transfer. */
static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
    return hb_buf_append(arg, data, size * n) == 0 ? size * n : 0;
}

/* Waits until host p may take a request; false when stopping. */
static bool wait_turn(struct pl_http *h, struct pl_host *p)
{
    for (;;) {
        int64_t now = hb_mono_ms();
        long wait = 0;
        if (p->blocked_until > now)
            wait = (long)(p->blocked_until - now);
        else if ((wait = pl_host_take(p, h->per_minute, now)) == 0)
            return true;
        hb_counter_add(p->m_waits, 1);
        HB_LOG(HB_LOG_DEBUG, "waiting for the host's budget", HB_S("host", p->name),
               HB_I("ms", wait));
        if (!h->sleep(h->sleep_arg, wait))
            return false;
    }
}

/* One transfer into r (any status). 0, or -1 with err. */
static int transfer(struct pl_http *h, const char *url, const struct pl_http_opts *o,
                    struct pl_http_resp *r, char **retry_after, char *err, size_t errlen)
{
    int rc = -1;
    struct hb_buf body;
    struct curl_slist *hdrs = NULL;
    char line[4200];
    struct collect c = {.r = r};
    hb_buf_init(&body, (size_t)h->max_body);
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (o->accept) {
        snprintf(line, sizeof(line), "Accept: %s", o->accept);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (o->bearer) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", o->bearer);
        hdrs = curl_slist_append(hdrs, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Chart indexes move (GitHub Pages, object stores); credentials stay with
     * the first host (libcurl drops them, and a custom Authorization header,
     * on a redirect to another one). */
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "hookbus-poller/" HB_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    if (o->user) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, o->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, o->password ? o->password : "");
    }
    if (o->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->head)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &c);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s",
                 cc == CURLE_WRITE_ERROR ? "response larger than max_response_bytes"
                                         : curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    r->body_len = body.len;
    if (!(r->body = hb_buf_steal(&body))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
done:
    *retry_after = c.retry_after;
    if (rc < 0)
        pl_http_resp_free(r);
    hb_buf_free(&body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    return rc;
}

int pl_http_do(struct pl_http *h, const char *url, const struct pl_http_opts *o,
               struct pl_http_resp *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct pl_host *p = host_of(h, url);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int attempt = 1;; attempt++) {
        char *ra = NULL;
        if (!wait_turn(h, p)) {
            snprintf(err, errlen, "stopping");
            return -1;
        }
        if (transfer(h, url, o, r, &ra, err, errlen) < 0) {
            free(ra);
            return -1;
        }
        if (r->status != 429) {
            free(ra);
            return 0;
        }
        long wait = pl_retry_after_ms(ra, (long long)time(NULL));
        free(ra);
        if (wait < 0)
            wait = 1000L << (attempt - 1); /* no Retry-After: 1 s, 2 s, 4 s */
        p->blocked_until = hb_mono_ms() + wait;
        HB_LOG(HB_LOG_INFO, "rate limited", HB_S("host", p->name), HB_I("retry_after_ms", wait));
        if (attempt >= PL_429_TRIES || wait > h->max_wait_ms) {
            snprintf(err, errlen, "HTTP 429 from %s (retry after %ld ms)", p->name, wait);
            pl_http_resp_free(r);
            return -1;
        }
        pl_http_resp_free(r);
    }
}
