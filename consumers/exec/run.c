/* run.c: spawns and supervises one command of hookbus-exec (see run.h).
 *
 * posix_spawn with a fresh process group, default signal dispositions and an
 * empty signal mask (the consumer's threads block SIGTERM and SIGINT for
 * sigwait, and a child must not inherit that), only fds 0-2 open. One poll
 * loop feeds stdin, collects output and watches the child through a pidfd,
 * so a child that never reads its input or never exits cannot block a
 * worker beyond the timeout. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hookbus/log.h"
#include "hookbus/util.h"

#define MAX_OUTPUT (64 * 1024)
#define KILL_GRACE_MS 2000

/* Output of the child, logged line by line with the event id. */
struct out_log {
    const char *id;
    char line[1024];
    size_t len, total;
    bool truncated;
    char *tail;
    size_t tailsz;
};

static void out_flush(struct out_log *o)
{
    if (!o->len)
        return;
    o->line[o->len] = '\0';
    hb_strlcpy(o->tail, o->line, o->tailsz);
    if (o->total <= MAX_OUTPUT)
        HB_LOG(HB_LOG_INFO, "command output", HB_S("id", o->id), HB_S("line", o->line));
    else if (!o->truncated) {
        o->truncated = true;
        HB_LOG(HB_LOG_WARN, "command output truncated in the log", HB_S("id", o->id));
    }
    o->len = 0;
}

static void out_add(struct out_log *o, const char *p, size_t n)
{
    o->total += n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || o->len == sizeof(o->line) - 1) {
            out_flush(o);
            if (p[i] == '\n')
                continue;
        }
        o->line[o->len++] = p[i];
    }
}

/* Reads what is available; false at end of file or on an error. */
static bool out_read(int fd, struct out_log *o)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r > 0) {
            out_add(o, buf, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 && errno == EAGAIN;
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int spawn(char *const argv[], char *const envp[], int in_fd, int out_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int r;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    r = posix_spawnp(pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return r;
}

void exec_run(char *const argv[], char *const envp[], const void *input, size_t inlen,
              long timeout_ms, int cancel_fd, const char *log_id, struct exec_result *res,
              char *err, size_t errlen)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, pidfd = -1;
    pid_t pid = -1;
    size_t written = 0;
    struct out_log o = {.id = log_id, .tail = res->tail, .tailsz = sizeof(res->tail)};
    memset(res, 0, sizeof(*res));
    res->outcome = EXEC_FAILED;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        res->code = errno;
        snprintf(err, errlen, "pipe: %s", HB_STRERROR(errno));
        goto out;
    }
    int r = spawn(argv, envp, in[0], out[1], &pid);
    if (r) {
        snprintf(err, errlen, "cannot run %s: %s", argv[0], HB_STRERROR(r));
        res->code = r;
        pid = -1;
        goto out;
    }
    close_fd(&in[0]);
    close_fd(&out[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    pidfd = pidfd_open(pid, 0);
    if (!inlen)
        close_fd(&in[1]);

    int64_t start = hb_mono_ms(), kill_at = -1;
    bool exited = false;
    int status = 0;
    bool stopping = false; /* timed out or cancelled: SIGTERM sent */
    while (!exited) {
        struct pollfd pf[4];
        nfds_t n = 0;
        int ip = -1, op = -1, pp = -1, cp = -1;
        if (in[1] >= 0)
            pf[ip = (int)n++] = (struct pollfd){.fd = in[1], .events = POLLOUT};
        if (out[0] >= 0)
            pf[op = (int)n++] = (struct pollfd){.fd = out[0], .events = POLLIN};
        if (pidfd >= 0)
            pf[pp = (int)n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        if (cancel_fd >= 0 && !stopping)
            pf[cp = (int)n++] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
        int64_t now = hb_mono_ms();
        long wait = pidfd >= 0 ? -1 : 20; /* without a pidfd: poll waitpid */
        if (!stopping && timeout_ms > 0) {
            long left = (long)(start + timeout_ms - now);
            if (left <= 0) {
                res->outcome = EXEC_TIMED_OUT;
                stopping = true;
                kill(-pid, SIGTERM);
                kill_at = now + KILL_GRACE_MS;
                continue;
            }
            wait = wait < 0 || left < wait ? left : wait;
        } else if (kill_at >= 0) {
            long left = (long)(kill_at - now);
            if (left <= 0) {
                kill(-pid, SIGKILL);
                kill_at = -1;
                continue;
            }
            wait = wait < 0 || left < wait ? left : wait;
        }
        if (poll(pf, n, (int)wait) < 0 && errno != EINTR)
            break;
        if (ip >= 0 && pf[ip].revents) {
            ssize_t w = write(in[1], (const char *)input + written, inlen - written);
            if (w > 0)
                written += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == inlen)
                close_fd(&in[1]); /* done, or the child closed its stdin (EPIPE) */
        }
        if (op >= 0 && pf[op].revents && !out_read(out[0], &o))
            close_fd(&out[0]);
        if (cp >= 0 && pf[cp].revents) {
            res->outcome = EXEC_CANCELLED;
            stopping = true;
            kill(-pid, SIGTERM);
            kill_at = hb_mono_ms() + KILL_GRACE_MS;
        }
        if (pp < 0 || pf[pp].revents)
            exited = waitpid(pid, &status, WNOHANG) == pid;
    }
    if (!exited) { /* poll failed: make sure the child is gone and reaped */
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (out[0] >= 0) /* what is left; a background grandchild may keep the pipe open */
        out_read(out[0], &o);
    out_flush(&o);
    if (!stopping) {
        if (WIFEXITED(status)) {
            res->outcome = EXEC_EXITED;
            res->code = WEXITSTATUS(status);
        } else {
            res->outcome = EXEC_SIGNALED;
            res->code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        }
    } else {
        kill(-pid, SIGKILL); /* leftovers of the group */
    }
out:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&pidfd);
}
