/* workers.c: the webhooks listener's event loops, one thread per worker.
 *
 * Each worker owns a libmicrohttpd daemon in external epoll mode, on its own
 * dup() of the listening socket, and waits in one epoll set for three fds:
 * the daemon's epoll fd (its connections and listening socket), the worker's
 * wake/stop eventfd, and the producer's delivery-report eventfd. That last
 * one is in every worker's set with EPOLLEXCLUSIVE: one worker wakes, runs
 * the waiting reports (the request path's on_delivery resumes each answered
 * connection), then lets its daemon run. A request is thus parsed,
 * produced, acknowledged and answered on one thread when its report lands
 * on its own worker, without a write or a wake-up; one that lands on another
 * worker (or on the thread of a final flush) is resumed from there
 * (MHD_resume_connection is thread-safe) and its owner woken through its
 * wake fd: in external mode libmicrohttpd has no inter-thread channel of
 * its own. No thread waits for Kafka.
 *
 * Everything done to a daemon happens on its worker's thread, quiesce
 * included; the other threads only set flags and write the wake fd. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hookbus/log.h"
#include "hookbus/util.h"
#include "workers.h"

/* What woke the loop (epoll_event.data.u32). */
enum { EV_DAEMON, EV_WAKE, EV_REPORTS };

struct gw_worker {
    struct gw_workers *ws;
    struct MHD_Daemon *daemon;
    int ep, wake; /* the loop's epoll set; its wake/stop eventfd */
    pthread_t thread;
    bool running, quiesced;
    bool again;     /* run the daemon again first: a resume here, a close (closed_some) */
    unsigned conns; /* the daemon's connections after its last run */
    /* Per other worker, the connections of it this one resumed in the
     * batch of reports it runs: the first wakes that worker at once, any
     * later ones once more when the batch is over (not once per request). */
    unsigned *owed;
    size_t nowed;
};

struct gw_workers {
    struct gw_producer *producer;
    int reports_fd; /* the producer's, while taken; -1 otherwise */
    atomic_bool stop, quiesce;
    pthread_mutex_t lock; /* nquiesced, and the cond gw_workers_quiesce waits on */
    pthread_cond_t cond;
    size_t nquiesced;
    size_t n;
    struct gw_worker w[];
};

static _Thread_local struct gw_worker *self; /* the worker running on this thread */

static void wake(struct gw_worker *w)
{
    uint64_t one = 1;
    ssize_t put = write(w->wake, &one, sizeof(one));
    (void)put; /* EAGAIN only when the counter is full: already awake */
}

struct gw_worker *gw_worker_self(void)
{
    return self;
}

void gw_worker_resumed(struct gw_worker *w)
{
    if (!w) /* not a worker's connection: nothing to wake */
        return;
    if (w == self) {
        w->again = true;
    } else if (self) {
        size_t i = (size_t)(w - self->ws->w);
        if (self->owed[i]++ == 0) {
            self->nowed++;
            wake(w);
        }
    } else {
        wake(w); /* the final flush, or the poll thread: no batch to wait for */
    }
}

/* Wakes again the workers that this batch of reports resumed more
 * connections of after their first wake-up. */
static void pay_wakes(struct gw_worker *w)
{
    for (size_t i = 0; w->nowed && i < w->ws->n; i++)
        if (w->owed[i]) {
            if (w->owed[i] > 1)
                wake(&w->ws->w[i]);
            w->owed[i] = 0;
            w->nowed--;
        }
}

/* Stops this worker's daemon from accepting; counted for gw_workers_quiesce. */
static void quiesce_self(struct gw_worker *w)
{
    MHD_socket fd = MHD_quiesce_daemon(w->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd); /* this worker's dup; the socket closes with the last one */
    w->quiesced = true;
    pthread_mutex_lock(&w->ws->lock);
    w->ws->nquiesced++;
    pthread_cond_broadcast(&w->ws->cond);
    pthread_mutex_unlock(&w->ws->lock);
}

/* True when the daemon has fewer connections than after its previous run.
 * libmicrohttpd takes its listening socket out of its epoll set at its
 * connection limit and puts it back only at the start of a run: after a
 * close, one more run before waiting, or a connection waiting in the
 * backlog would wait for some other event of this worker. */
static bool closed_some(struct gw_worker *w)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->daemon,
                                                         MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    unsigned now = di ? di->num_connections : 0;
    bool fewer = now < w->conns;
    w->conns = now;
    return fewer;
}

/* The loop: wait (as long as the daemon's next connection timeout allows),
 * run the delivery reports if they woke us, then the daemon. */
static void *worker_main(void *arg)
{
    struct gw_worker *w = arg;
    struct gw_workers *ws = w->ws;
    struct epoll_event ev[4];
    self = w;
    pthread_setname_np(pthread_self(), "gw-http"); /* what ps -L and /proc show */
    while (!atomic_load(&ws->stop)) {
        if (atomic_load(&ws->quiesce) && !w->quiesced)
            quiesce_self(w);
        MHD_UNSIGNED_LONG_LONG left;
        int timeout = -1;
        if (w->again)
            timeout = 0;
        else if (MHD_get_timeout(w->daemon, &left) == MHD_YES)
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        int n = epoll_wait(w->ep, ev, (int)HB_ARRAY_LEN(ev), timeout);
        if (n < 0 && errno != EINTR) {
            HB_LOG(HB_LOG_ERROR, "http worker: epoll_wait failed",
                   HB_S("error", HB_STRERROR(errno)));
            break;
        }
        bool reports = false;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == EV_REPORTS) {
                reports = true;
            } else if (ev[i].data.u32 == EV_WAKE) {
                uint64_t v;
                ssize_t got = read(w->wake, &v, sizeof(v));
                (void)got;
            }
        }
        if (reports)
            gw_producer_serve_reports(ws->producer);
        pay_wakes(w);
        w->again = false; /* resumed before this run: it takes them */
        MHD_run(w->daemon);
        pay_wakes(w); /* none expected: reports run above only */
        if (closed_some(w))
            w->again = true;
    }
    if (!w->quiesced) /* a loop that broke off accepts no more */
        quiesce_self(w);
    return NULL;
}

static int watch(int ep, int fd, uint32_t events, uint32_t tag)
{
    struct epoll_event e = {.events = events, .data.u32 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

/* The worker's epoll set and wake fd. 0, or -1 with err. */
static int worker_init(struct gw_worker *w, char *err, size_t errlen)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!di || w->ep < 0 || w->wake < 0 || watch(w->ep, di->epoll_fd, EPOLLIN, EV_DAEMON) < 0 ||
        watch(w->ep, w->wake, EPOLLIN, EV_WAKE) < 0 ||
        watch(w->ep, w->ws->reports_fd, EPOLLIN | EPOLLEXCLUSIVE, EV_REPORTS) < 0) {
        snprintf(err, errlen, "http worker: %s",
                 di ? HB_STRERROR(errno) : "no epoll fd (not in MHD_USE_EPOLL mode)");
        return -1;
    }
    return 0;
}

struct gw_workers *gw_workers_start(struct MHD_Daemon *const *daemons, size_t n,
                                    struct gw_producer *producer, char *err, size_t errlen)
{
    struct gw_workers *ws = calloc(1, sizeof(*ws) + n * sizeof(ws->w[0]));
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        for (size_t i = 0; i < n; i++)
            MHD_stop_daemon(daemons[i]);
        return NULL;
    }
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->cond, NULL);
    ws->producer = producer;
    ws->n = n;
    ws->reports_fd = -1;
    for (size_t i = 0; i < n; i++)
        ws->w[i] = (struct gw_worker){.ws = ws, .daemon = daemons[i], .ep = -1, .wake = -1};
    for (size_t i = 0; i < n; i++)
        if (!(ws->w[i].owed = calloc(n, sizeof(*ws->w[i].owed)))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    /* From here the workers run the reports: any already waiting left the
     * fd readable, so the first worker to wait serves them at once. */
    ws->reports_fd = gw_producer_reports_take(producer);
    for (size_t i = 0; i < n; i++)
        if (worker_init(&ws->w[i], err, errlen) < 0)
            goto fail;
    for (size_t i = 0; i < n; i++) {
        if (pthread_create(&ws->w[i].thread, NULL, worker_main, &ws->w[i]) != 0) {
            snprintf(err, errlen, "cannot start an http worker thread");
            goto fail;
        }
        ws->w[i].running = true;
    }
    return ws;
fail:
    gw_workers_stop(ws);
    return NULL;
}

void gw_workers_quiesce(struct gw_workers *ws)
{
    if (!ws)
        return;
    size_t running = 0;
    for (size_t i = 0; i < ws->n; i++)
        running += ws->w[i].running;
    atomic_store(&ws->quiesce, true);
    for (size_t i = 0; i < ws->n; i++)
        wake(&ws->w[i]);
    pthread_mutex_lock(&ws->lock);
    while (ws->nquiesced < running)
        pthread_cond_wait(&ws->cond, &ws->lock);
    pthread_mutex_unlock(&ws->lock);
}

void gw_workers_stop(struct gw_workers *ws)
{
    if (!ws)
        return;
    atomic_store(&ws->stop, true);
    for (size_t i = 0; i < ws->n; i++)
        if (ws->w[i].running) {
            wake(&ws->w[i]);
            pthread_join(ws->w[i].thread, NULL);
        }
    /* The loops are over: the daemons are this thread's now. */
    for (size_t i = 0; i < ws->n; i++) {
        struct gw_worker *w = &ws->w[i];
        if (w->daemon)
            MHD_stop_daemon(w->daemon);
        if (w->ep >= 0)
            close(w->ep);
        if (w->wake >= 0)
            close(w->wake);
        free(w->owed);
    }
    if (ws->reports_fd >= 0)
        gw_producer_reports_give_back(ws->producer);
    pthread_mutex_destroy(&ws->lock);
    pthread_cond_destroy(&ws->cond);
    free(ws);
}
