/* admin.c: the admin listener of the consumers: /healthz (the process
 * runs), /readyz (the caller's readiness callback), /metrics (Prometheus
 * text from the metrics registry) and the console: GET /api/v1/events
 * (recent events and their decisions, recent.c) and /ui/ (the page). The
 * console needs "Authorization: Bearer <admin.token>"; without a token it
 * is served only when the listener is bound to loopback. */
#include "admin.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "hookbus/crypto.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

struct hb_admin {
    struct MHD_Daemon *d;
    struct hb_metrics *metrics;
    hb_admin_ready_fn ready;
    void *ud;
    int port;
    struct hb_admin_console console;
    bool loopback;
};

#define EVENTS_LIMIT_MAX 100000

static const char page_csp[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (strncmp(type, "text/html", 9) == 0)
        MHD_add_response_header(r, "Content-Security-Policy", page_csp);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"hookbus\"");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* True with the configured bearer token (constant-time comparison). */
static bool authorized(const struct hb_admin *a, struct MHD_Connection *conn)
{
    const struct hb_secret *t = a->console.token;
    if (!t || !t->len)
        return a->loopback;
    const char *b = hb_bearer_token(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    return b && hb_ct_equal(b, strlen(b), t->value, t->len);
}

/* /ui/ and /api/v1/events (GET or HEAD). */
static enum MHD_Result serve_console(struct hb_admin *a, struct MHD_Connection *conn,
                                     const char *url)
{
    if (!a->console.recent)
        return reply(conn, 404, "text/plain", "not found\n");
    bool ok = authorized(a, conn);
    if (hb_str_has_prefix(url, "/ui"))
        return reply(conn, ok ? 200 : 401, "text/html; charset=utf-8", hb_events_html);
    if (!ok) {
        HB_LOG(HB_LOG_WARN, "console request refused", HB_S("audit", "401"), HB_S("path", url));
        return reply(conn, 401, "application/json",
                     a->console.token && a->console.token->len
                         ? "{\"error\":\"a valid Authorization: Bearer <admin.token> is required\"}"
                         : "{\"error\":\"set admin.token: admin_listen is not loopback\"}");
    }
    if (strcmp(url, "/api/v1/events") != 0) {
        char *s = hb_str_has_prefix(url, "/api/v1/") && a->console.api
                      ? a->console.api(a->console.api_ud, url + strlen("/api/v1/"))
                      : NULL;
        enum MHD_Result r = s ? reply(conn, 200, "application/json", s)
                              : reply(conn, 404, "application/json", "{\"error\":\"not found\"}");
        free(s);
        return r;
    }
    long limit = 200;
    const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (l && *l && hb_parse_long(l, 1, EVENTS_LIMIT_MAX, &limit) < 0)
        return reply(conn, 400, "application/json",
                     "{\"error\":\"limit: a number from 1 to 100000\"}");
    char *s = hb_recent_list(a->console.recent,
                             MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "decision"),
                             limit);
    enum MHD_Result r = s ? reply(conn, 200, "application/json", s)
                          : reply(conn, 500, "application/json", "{\"error\":\"out of memory\"}");
    cJSON_free(s);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    struct hb_admin *a = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (*upload_data_size) { /* admin endpoints take no body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, 405, "text/plain", "method not allowed\n");
    if (strcmp(url, "/healthz") == 0)
        return reply(conn, 200, "application/json", "{\"status\":\"ok\"}");
    if (strcmp(url, "/readyz") == 0) {
        char why[160] = "", body[256];
        bool ok = !a->ready || a->ready(a->ud, why, sizeof(why));
        if (ok)
            return reply(conn, 200, "application/json", "{\"ready\":true}");
        /* why is our own fixed text, never user data: no JSON escaping needed */
        snprintf(body, sizeof(body), "{\"ready\":false,\"reason\":\"%s\"}", why);
        return reply(conn, 503, "application/json", body);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = hb_metrics_render(a->metrics);
        enum MHD_Result r = text
                                ? reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text)
                                : reply(conn, 500, "text/plain", "out of memory\n");
        free(text);
        return r;
    }
    if (strcmp(url, "/ui") == 0 || strcmp(url, "/ui/") == 0 || hb_str_has_prefix(url, "/api/"))
        return serve_console(a, conn, url);
    return reply(conn, 404, "text/plain", "not found\n");
}

/* "host:port" or "[v6]:port" -> a numeric address for MHD to bind. */
static int resolve(const char *addr, struct addrinfo **out, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
        snprintf(err, errlen, "admin_listen '%s' must be host:port", addr);
        return -1;
    }
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0)
        hb_strlcpy(host, "127.0.0.1", sizeof(host));
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    int r = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, colon + 1, &hints, out);
    if (r) {
        snprintf(err, errlen, "admin_listen '%s': %s", addr, gai_strerror(r));
        return -1;
    }
    return 0;
}

/* True when sa is a loopback address (127/8, ::1). */
static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *x = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(x);
    }
    return false;
}

struct hb_admin *hb_admin_start(const char *addr, struct hb_metrics *metrics,
                                hb_admin_ready_fn ready, void *ud,
                                const struct hb_admin_console *console, char *err, size_t errlen)
{
    struct addrinfo *ai = NULL;
    struct hb_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (resolve(addr, &ai, err, errlen) < 0)
        goto fail;
    a->metrics = metrics;
    a->ready = ready;
    a->ud = ud;
    if (console)
        a->console = *console;
    a->loopback = is_loopback(ai->ai_addr);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, a, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_CONNECTION_TIMEOUT, 10U,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!a->d) {
        snprintf(err, errlen, "cannot listen on %s (admin_listen)", addr);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : 0;
    HB_LOG(HB_LOG_INFO, "listening", HB_S("what", "admin"), HB_S("address", addr),
           HB_I("port", a->port));
    return a;
fail:
    free(a);
    return NULL;
}

int hb_admin_port(const struct hb_admin *a)
{
    return a->port;
}

void hb_admin_stop(struct hb_admin *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->d);
    free(a);
}
