/* conns.c: the webhooks listener's open connections and the slow-client
 * reaper.
 *
 * Every accepted connection is in a list with the deadline by which the
 * request being read must be complete: its headers within the header
 * timeout (a flood of clients trickling headers holds slots only that
 * long), then the whole request within the request timeout. A connection
 * past the per-address limit is answered 503 at accept and cut shortly
 * after. Headers or a body trickled byte by
 * byte keep libmicrohttpd's idle timeout from firing; the reaper thread
 * shuts such a connection down, and the event loop then sees the socket
 * closed and cleans up. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conns.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define REAPER_TICK_MS 100
/* A connection past the per-address limit is answered this at once (plain
 * HTTP; over TLS it is just closed) and cut after OVER_LIMIT_MS: it must not
 * hold a slot that a legitimate sender needs. */
#define OVER_LIMIT_MS 100
#define OVER_IP_BODY                                                                               \
    "{\"error\":\"too many connections from this address (limits.max_connections_per_ip)\"}"
_Static_assert(sizeof(OVER_IP_BODY) - 1 == 82, "Content-Length below");
static const char over_ip_answer[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Retry-After: 1\r\nConnection: close\r\nContent-Length: 82\r\n\r\n" OVER_IP_BODY;

/* One accepted connection (the socket context): its deadline, 0 while the
 * gateway itself holds the request. */
struct gw_conn {
    struct gw_conn *prev, *next;
    int fd;
    _Atomic int_least64_t deadline_ms;
    int_least64_t start_ms; /* the current request's first byte was awaited from here */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool over_ip; /* past limits.max_connections_per_ip */
};

struct gw_conns {
    pthread_mutex_t lock;
    struct gw_conn *head;
    atomic_long n;
    long request_timeout_ms, header_timeout_ms, per_ip;
    bool tls;
    struct hb_counter *cut, *refused_ip;
    pthread_t reaper;
    bool reaper_running;
    atomic_bool stop;
};

static void *reaper_main(void *arg);

struct gw_conns *gw_conns_new(long request_timeout_ms, long header_timeout_ms, long per_ip,
                              bool tls, struct hb_metrics *metrics, char *err, size_t errlen)
{
    struct gw_conns *cs = calloc(1, sizeof(*cs));
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cs->lock, NULL);
    cs->request_timeout_ms = request_timeout_ms;
    cs->header_timeout_ms = header_timeout_ms < request_timeout_ms ? header_timeout_ms
                                                                   : request_timeout_ms;
    cs->per_ip = per_ip;
    cs->tls = tls;
    cs->cut = hb_metrics_counter(metrics, "hookbus_gateway_connections_cut_total",
                                 "Connections cut for not completing a request in time", NULL);
    cs->refused_ip = hb_metrics_counter(metrics, "hookbus_gateway_connections_over_ip_limit_total",
                                        "Connections past limits.max_connections_per_ip", NULL);
    if (pthread_create(&cs->reaper, NULL, reaper_main, cs) != 0) {
        snprintf(err, errlen, "cannot start the connection reaper thread");
        gw_conns_free(cs);
        return NULL;
    }
    cs->reaper_running = true;
    return cs;
}

void gw_conns_free(struct gw_conns *cs)
{
    if (!cs)
        return;
    if (cs->reaper_running) {
        atomic_store(&cs->stop, true);
        pthread_join(cs->reaper, NULL);
    }
    /* The daemon is stopped: every connection reported its close. */
    while (cs->head) {
        struct gw_conn *c = cs->head;
        cs->head = c->next;
        free(c);
    }
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}

long gw_conns_count(struct gw_conns *cs)
{
    return atomic_load(&cs->n);
}

/* Same remote address (the port aside). */
static bool same_address(const struct gw_conn *a, const struct gw_conn *b)
{
    if (a->addr.ss_family != b->addr.ss_family)
        return false;
    if (a->addr.ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)&a->addr)->sin_addr,
                      &((const struct sockaddr_in *)&b->addr)->sin_addr,
                      sizeof(struct in_addr)) == 0;
    if (a->addr.ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->addr)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return false;
}

void gw_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    struct gw_conns *cs = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct gw_conn *c = calloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c)
            return;
        c->fd = ci ? ci->connect_fd : -1;
        c->addrlen = sizeof(c->addr);
        if (c->fd < 0 || getpeername(c->fd, (struct sockaddr *)&c->addr, &c->addrlen) < 0)
            c->addrlen = 0;
        c->start_ms = hb_mono_ms();
        pthread_mutex_lock(&cs->lock);
        long same = 0;
        for (struct gw_conn *o = cs->head; o && cs->per_ip && c->addrlen; o = o->next)
            same += !o->over_ip && same_address(o, c);
        c->over_ip = cs->per_ip && same >= cs->per_ip;
        atomic_init(&c->deadline_ms,
                    c->start_ms + (c->over_ip ? OVER_LIMIT_MS : cs->header_timeout_ms));
        c->next = cs->head;
        if (c->next)
            c->next->prev = c;
        cs->head = c;
        pthread_mutex_unlock(&cs->lock);
        if (c->over_ip) {
            hb_counter_add(cs->refused_ip, 1);
            /* Not counted in n: it is on its way out and must not make
             * max_connections refuse a legitimate sender. */
            *socket_context = c;
            if (!cs->tls &&
                send(c->fd, over_ip_answer, sizeof(over_ip_answer) - 1,
                     MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(over_ip_answer) - 1)
                shutdown(c->fd, SHUT_WR);
            return;
        }
        atomic_fetch_add(&cs->n, 1);
        *socket_context = c;
        return;
    }
    struct gw_conn *c = *socket_context;
    if (!c)
        return;
    /* Unlinked before libmicrohttpd closes the socket: the reaper never
     * touches a closed (or reused) descriptor. */
    pthread_mutex_lock(&cs->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&cs->lock);
    if (!c->over_ip)
        atomic_fetch_sub(&cs->n, 1);
    free(c);
    *socket_context = NULL;
}

static struct gw_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void gw_conns_deadline(struct gw_conns *cs, struct MHD_Connection *conn, bool arm)
{
    struct gw_conn *c = conn_of(conn);
    if (!c)
        return;
    /* A kept-alive connection's next request keeps the whole request
     * timeout for its headers: clients reuse idle connections. */
    c->start_ms = hb_mono_ms();
    atomic_store(&c->deadline_ms, arm ? c->start_ms + cs->request_timeout_ms : 0);
}

bool gw_conns_admit(struct gw_conns *cs, struct MHD_Connection *conn)
{
    struct gw_conn *c = conn_of(conn);
    if (!c)
        return true;
    if (atomic_load(&c->deadline_ms))
        atomic_store(&c->deadline_ms, c->start_ms + cs->request_timeout_ms);
    return !c->over_ip;
}

/* Cuts connections whose request is not complete by its deadline. */
static void *reaper_main(void *arg)
{
    struct gw_conns *cs = arg;
    while (!atomic_load(&cs->stop)) {
        struct timespec ts = {0, REAPER_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
        int64_t now = hb_mono_ms();
        pthread_mutex_lock(&cs->lock);
        for (struct gw_conn *c = cs->head; c; c = c->next) {
            int64_t d = atomic_load(&c->deadline_ms);
            if (d && now > d && c->fd >= 0) {
                atomic_store(&c->deadline_ms, 0);
                shutdown(c->fd, SHUT_RDWR);
                hb_counter_add(cs->cut, 1);
                HB_LOG(HB_LOG_INFO,
                       "connection cut: request not complete within "
                       "limits.header_timeout_ms / limits.request_timeout_ms",
                       HB_I("timeout_ms", cs->request_timeout_ms),
                       HB_I("header_timeout_ms", cs->header_timeout_ms));
            }
        }
        pthread_mutex_unlock(&cs->lock);
    }
    return NULL;
}
