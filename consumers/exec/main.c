/* main.c: hookbus-exec runs a command per event (DESIGN section 5): the
 * event(s) as structured JSON on stdin, attributes as HOOKBUS_CE_<NAME>
 * environment variables; exit 0 = done, 75 (EX_TEMPFAIL) = retry, anything
 * else = dead letter. Debounced by an attribute (debounce_key, default repo). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hookbus/consumer.h"
#include "hookbus/format.h"
#include "hookbus/log.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "run.h"

#define EXIT_RETRY 75 /* sysexits.h EX_TEMPFAIL */

extern char **environ;

struct exec_app {
    char **argv; /* NULL-terminated */
    size_t argc;
    long timeout_ms;
    char *debounce_key;
    /* The cancel eventfd of every running command (see exec_cancel). */
    pthread_mutex_t mu;
    int *running;
    size_t nrunning, cap;
};

static const struct hb_field exec_fields[] = {
    {"command", HB_F_LIST, offsetof(struct exec_app, argv), NULL, 0, 0,
     "required: [program, arg, ...] run per action (no shell); the event JSON on stdin, "
     "attributes as HOOKBUS_CE_<NAME>; exit 0: done, 75: retry, other: dead letter"},
    {"timeout", HB_F_DURATION, offsetof(struct exec_app, timeout_ms), "5m", 0, 24L * 3600 * 1000,
     "longest run of the command (0: no limit)"},
    {"debounce_key", HB_F_STRING, offsetof(struct exec_app, debounce_key), "repo", 0, 0,
     "attribute whose value groups events for debounce (\"\": none)"},
};

static void exec_destroy(void *ud)
{
    struct exec_app *a = ud;
    if (!a)
        return;
    for (size_t i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    hb_config_fields_free(exec_fields, HB_ARRAY_LEN(exec_fields), a);
    free(a->running);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static int exec_configure(const struct hb_config *cfg, void **ud, char *err, size_t errlen)
{
    struct exec_app *a = calloc(1, sizeof(*a));
    if (!a)
        return hb_config_error(cfg, NULL, err, errlen, "out of memory");
    *ud = a;
    pthread_mutex_init(&a->mu, NULL);
    if (hb_config_bind(cfg, NULL, "", exec_fields, HB_ARRAY_LEN(exec_fields), a, err, errlen) < 0)
        return -1;
    const struct hb_node *n = hb_node_get(cfg->root, "command");
    if (!n || n->type != HB_NODE_SEQ || !n->n)
        return hb_config_error(cfg, n, err, errlen,
                               "command: required, a list: [program, arg, ...] (no shell)");
    if (!(a->argv = calloc(n->n + 1, sizeof(char *))))
        return hb_config_error(cfg, n, err, errlen, "out of memory");
    for (size_t i = 0; i < n->n; i++) {
        const struct hb_node *s = &n->items[i];
        ((struct hb_node *)s)->used = true;
        if (s->type != HB_NODE_SCALAR || (i == 0 && !*s->value))
            return hb_config_error(cfg, s, err, errlen, "command[%zu]: must be a string", i);
        if (!(a->argv[i] = strdup(s->value)))
            return hb_config_error(cfg, s, err, errlen, "out of memory");
        a->argc++;
    }
    return 0;
}

static int exec_key(void *ud, const struct hb_event *ev, char *out, size_t outlen)
{
    const struct exec_app *a = ud;
    const char *v = *a->debounce_key ? hb_event_get(ev, a->debounce_key) : NULL;
    if (!v || hb_strlcpy(out, v, outlen) < 0)
        return -1;
    return 0;
}

/* HOOKBUS_CE_<NAME>=value for every attribute of ev, then HOOKBUS_* run
 * details and the command's trace context (TRACEPARENT: span, a child of
 * the event's; TRACESTATE: the event's, when span has a parent), then the
 * inherited environment without those entries. */
static char **build_env(const struct hb_batch *b, const struct hb_trace *span)
{
    const struct hb_event *ev = b->events[b->n - 1];
    size_t ninh = 0;
    while (environ[ninh])
        ninh++;
    char **env = calloc(ev->nattrs + ninh + 6, sizeof(char *));
    size_t n = 0;
    if (!env)
        return NULL;
    for (size_t i = 0; i < ev->nattrs; i++) {
        const struct hb_attr *at = &ev->attrs[i];
        size_t len = strlen("HOOKBUS_CE_") + strlen(at->name) + 1 + strlen(at->value) + 1;
        char *s = malloc(len);
        if (!s)
            goto fail;
        snprintf(s, len, "HOOKBUS_CE_%s=%s", at->name, at->value);
        for (char *p = s + strlen("HOOKBUS_CE_"); *p != '='; p++)
            *p = (char)toupper((unsigned char)*p);
        env[n++] = s;
    }
    char extra[5][HB_TRACESTATE_MAX + 32], tp[HB_TRACEPARENT_SIZE];
    size_t nextra = 3;
    const char *state = span && span->parent_id[0] ? hb_event_get(ev, "tracestate") : NULL;
    snprintf(extra[0], sizeof(extra[0]), "HOOKBUS_ATTEMPT=%d", b->attempt);
    snprintf(extra[1], sizeof(extra[1]), "HOOKBUS_EVENTS=%zu", b->n);
    snprintf(extra[2], sizeof(extra[2]), "HOOKBUS_DEBOUNCE_KEY=%s", b->key);
    if (span) {
        hb_trace_format(span, tp);
        snprintf(extra[nextra++], sizeof(extra[0]), "TRACEPARENT=%s", tp);
    }
    if (state && hb_snprintf(extra[nextra], sizeof(extra[0]), "TRACESTATE=%s", state) == 0)
        nextra++;
    for (size_t i = 0; i < nextra; i++)
        if (!(env[n++] = strdup(extra[i])))
            goto fail;
    for (size_t i = 0; i < ninh; i++) {
        if (hb_str_has_prefix(environ[i], "HOOKBUS_CE_") ||
            hb_str_has_prefix(environ[i], "HOOKBUS_ATTEMPT=") ||
            hb_str_has_prefix(environ[i], "HOOKBUS_EVENTS=") ||
            hb_str_has_prefix(environ[i], "HOOKBUS_DEBOUNCE_KEY=") ||
            hb_str_has_prefix(environ[i], "TRACEPARENT=") ||
            hb_str_has_prefix(environ[i], "TRACESTATE="))
            continue;
        if (!(env[n++] = strdup(environ[i])))
            goto fail;
    }
    return env;
fail:
    for (size_t i = 0; i < n; i++)
        free(env[i]);
    free(env);
    return NULL;
}

static void free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* stdin: one structured JSON event per line, oldest first (one line
 * without debounce). */
static char *build_input(const struct hb_batch *b, size_t *len)
{
    struct hb_buf buf;
    hb_buf_init(&buf, (size_t)256 << 20);
    for (size_t i = 0; i < b->n; i++) {
        char *json = hb_event_to_json_line(b->events[i]);
        int r = json ? hb_buf_puts(&buf, json) : -1;
        free(json);
        if (r < 0 || hb_buf_puts(&buf, "\n") < 0) {
            hb_buf_free(&buf);
            return NULL;
        }
    }
    *len = buf.len;
    return hb_buf_steal(&buf);
}

/* Registers a running command's cancel fd; 0 or -1 (ENOMEM). */
static int running_add(struct exec_app *a, int fd)
{
    int r = 0;
    pthread_mutex_lock(&a->mu);
    if (a->nrunning == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 8;
        int *n = realloc(a->running, nc * sizeof(*n));
        if (n) {
            a->running = n;
            a->cap = nc;
        } else {
            r = -1;
        }
    }
    if (r == 0)
        a->running[a->nrunning++] = fd;
    pthread_mutex_unlock(&a->mu);
    return r;
}

static void running_remove(struct exec_app *a, int fd)
{
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nrunning; i++)
        if (a->running[i] == fd) {
            a->running[i] = a->running[--a->nrunning];
            break;
        }
    pthread_mutex_unlock(&a->mu);
}

/* drain_timeout expired: stop the commands running now (their process
 * groups get SIGTERM, then SIGKILL); their events are handed back. */
static void exec_cancel(void *ud)
{
    struct exec_app *a = ud;
    uint64_t one = 1;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nrunning; i++)
        if (write(a->running[i], &one, sizeof(one)) < 0)
            HB_LOG(HB_LOG_WARN, "cannot cancel a command", HB_S("error", HB_STRERROR(errno)));
    pthread_mutex_unlock(&a->mu);
}

static enum hb_act exec_act(void *ud, const struct hb_batch *b, char *err, size_t errlen)
{
    struct exec_app *a = ud;
    const char *id = hb_event_get(b->events[b->n - 1], "id");
    size_t inlen = 0;
    struct exec_result res = {0};
    /* The command is the action's span: a child of the newest event's. */
    struct hb_trace span;
    bool traced = hb_batch_trace(b, &span) == 0;
    const char *trace_id = traced ? span.trace_id : "";
    char **env = build_env(b, traced ? &span : NULL);
    char *input = env ? build_input(b, &inlen) : NULL;
    if (!input) {
        free_env(env);
        snprintf(err, errlen, "out of memory");
        return HB_ACT_RETRY;
    }
    int cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cancel_fd >= 0 && running_add(a, cancel_fd) < 0) {
        close(cancel_fd);
        cancel_fd = -1;
    }
    int64_t t0 = hb_mono_ms();
    exec_run(a->argv, env, input, inlen, a->timeout_ms, cancel_fd, id, &res, err, errlen);
    if (cancel_fd >= 0) {
        running_remove(a, cancel_fd);
        close(cancel_fd);
    }
    free(input);
    free_env(env);
    long ms = (long)(hb_mono_ms() - t0);
    const char *sep = res.tail[0] ? ": " : "";
    switch (res.outcome) {
    case EXEC_EXITED:
        HB_LOG(res.code ? HB_LOG_WARN : HB_LOG_INFO, "command finished", HB_S("id", id),
               HB_S("key", b->key), HB_I("events", b->n), HB_I("attempt", b->attempt),
               HB_I("exit", res.code), HB_I("ms", ms), HB_S("trace_id", trace_id));
        if (res.code == 0)
            return HB_ACT_DONE;
        snprintf(err, errlen, "exit status %d%s%s", res.code, sep, res.tail);
        return res.code == EXIT_RETRY ? HB_ACT_RETRY : HB_ACT_DROP;
    case EXEC_SIGNALED: /* e.g. the OOM killer: worth another try */
        snprintf(err, errlen, "killed by signal %d%s%s", res.code, sep, res.tail);
        break;
    case EXEC_CANCELLED:
        snprintf(err, errlen, "cancelled at shutdown or rebalance%s%s", sep, res.tail);
        break;
    case EXEC_TIMED_OUT:
        snprintf(err, errlen, "timed out after %ld ms%s%s", a->timeout_ms, sep, res.tail);
        break;
    case EXEC_FAILED: /* a missing program will not appear by retrying; EAGAIN may pass */
        HB_LOG(HB_LOG_ERROR, "command failed to start", HB_S("id", id), HB_S("error", err),
               HB_S("trace_id", trace_id));
        if (res.code == ENOENT || res.code == EACCES || res.code == ENOEXEC)
            return HB_ACT_DROP;
        return HB_ACT_RETRY;
    }
    HB_LOG(HB_LOG_WARN, "command failed", HB_S("id", id), HB_S("error", err), HB_I("ms", ms),
           HB_S("trace_id", trace_id));
    return HB_ACT_RETRY;
}

int main(int argc, char **argv)
{
    static const struct hb_consumer_app app = {
        .name = "hookbus-exec",
        .configure = exec_configure,
        .key = exec_key,
        .act = exec_act,
        .destroy = exec_destroy,
        .cancel = exec_cancel,
        .fields = exec_fields,
        .nfields = HB_ARRAY_LEN(exec_fields),
    };
    return hb_consumer_main(argc, argv, &app);
}
