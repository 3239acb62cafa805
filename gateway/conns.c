/* conns.c: the webhooks listener's open connections and the slow-client
 * reaper.
 *
 * Every accepted connection is in a list with the deadline by which the
 * request being read must be complete. Headers or a body trickled byte by
 * byte keep libmicrohttpd's idle timeout from firing; the reaper thread
 * shuts such a connection down, and the event loop then sees the socket
 * closed and cleans up. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "conns.h"
#include "hookbus/log.h"
#include "hookbus/util.h"

#define REAPER_TICK_MS 200

/* One accepted connection (the socket context): its deadline, 0 while the
 * gateway itself holds the request. */
struct gw_conn {
    struct gw_conn *prev, *next;
    int fd;
    _Atomic int_least64_t deadline_ms;
};

struct gw_conns {
    pthread_mutex_t lock;
    struct gw_conn *head;
    atomic_long n;
    long request_timeout_ms;
    struct hb_counter *cut;
    pthread_t reaper;
    bool reaper_running;
    atomic_bool stop;
};

static void *reaper_main(void *arg);

struct gw_conns *gw_conns_new(long request_timeout_ms, struct hb_metrics *metrics, char *err,
                              size_t errlen)
{
    struct gw_conns *cs = calloc(1, sizeof(*cs));
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cs->lock, NULL);
    cs->request_timeout_ms = request_timeout_ms;
    cs->cut = hb_metrics_counter(metrics, "hookbus_gateway_connections_cut_total",
                                 "Connections cut for not completing a request in time", NULL);
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

void gw_conns_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    struct gw_conns *cs = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct gw_conn *c = calloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!c)
            return;
        c->fd = ci ? ci->connect_fd : -1;
        atomic_init(&c->deadline_ms, hb_mono_ms() + cs->request_timeout_ms);
        pthread_mutex_lock(&cs->lock);
        c->next = cs->head;
        if (c->next)
            c->next->prev = c;
        cs->head = c;
        pthread_mutex_unlock(&cs->lock);
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
    atomic_fetch_sub(&cs->n, 1);
    free(c);
    *socket_context = NULL;
}

void gw_conns_deadline(struct gw_conns *cs, struct MHD_Connection *conn, bool arm)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct gw_conn *c = ci ? ci->socket_context : NULL;
    if (c)
        atomic_store(&c->deadline_ms, arm ? hb_mono_ms() + cs->request_timeout_ms : 0);
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
                HB_LOG(HB_LOG_INFO, "connection cut: request not complete within "
                                    "limits.request_timeout_ms",
                       HB_I("timeout_ms", cs->request_timeout_ms));
            }
        }
        pthread_mutex_unlock(&cs->lock);
    }
    return NULL;
}
