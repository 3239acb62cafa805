/* log.c: leveled key=value / JSON-lines logging to stderr. */
#include "hookbus/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hookbus/util.h"

static atomic_int log_level = HB_LOG_INFO;
static atomic_int log_format = -1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* One value is cut at this many bytes (at a UTF-8 boundary) so that a line
 * always fits the line buffer below; a cut value ends with "...". */
#define LOG_MAX_VALUE 8192
#define LOG_MAX_LINE (64 * 1024)

void hb_log_setup(enum hb_log_level level, enum hb_log_format format)
{
    atomic_store(&log_level, (int)level);
    atomic_store(&log_format, (int)format);
}

enum hb_log_format hb_log_default_format(void)
{
    return isatty(STDERR_FILENO) ? HB_LOG_TEXT : HB_LOG_JSON;
}

int hb_log_level_parse(const char *s, enum hb_log_level *out)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum hb_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = HB_LOG_WARN;
        return 0;
    }
    return -1;
}

int hb_log_format_parse(const char *s, enum hb_log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = HB_LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = HB_LOG_JSON;
    else
        return -1;
    return 0;
}

bool hb_log_enabled(enum hb_log_level level)
{
    return (int)level >= atomic_load(&log_level);
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Text values are quoted when they hold spaces, quotes, '=' or controls. */
static void text_value(struct hb_buf *b, const char *v)
{
    bool quote = !*v;
    for (const char *p = v; *p && !quote; p++)
        quote = *p == ' ' || *p == '"' || *p == '=' || *p == '\\' || is_ctl((unsigned char)*p);
    if (!quote) {
        hb_buf_puts(b, v);
        return;
    }
    hb_buf_puts(b, "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            hb_buf_printf(b, "\\%c", *p);
        else if (is_ctl((unsigned char)*p))
            hb_buf_printf(b, "\\x%02x", (unsigned char)*p);
        else
            hb_buf_append(b, p, 1);
    }
    hb_buf_puts(b, "\"");
}

/* The length of v cut to LOG_MAX_VALUE without splitting a UTF-8 sequence. */
static size_t cut_len(const char *v, bool *cut)
{
    size_t n = strnlen(v, LOG_MAX_VALUE + 1);
    *cut = n > LOG_MAX_VALUE;
    if (!*cut)
        return n;
    n = LOG_MAX_VALUE;
    while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* A copy of v bounded by cut_len, or v itself when it fits (*tmp NULL). */
static const char *bounded(const char *v, char **tmp)
{
    bool cut;
    size_t n = cut_len(v, &cut);
    *tmp = NULL;
    if (!cut)
        return v;
    *tmp = malloc(n + 4);
    if (!*tmp)
        return "";
    memcpy(*tmp, v, n);
    memcpy(*tmp + n, "...", 4);
    return *tmp;
}

/* A number as cJSON prints one: integers exactly, others with the fewest
 * digits that read back the same; null when not finite. */
static int json_num(struct hb_buf *b, double d)
{
    char tmp[32];
    if (!isfinite(d))
        return hb_buf_puts(b, "null");
    snprintf(tmp, sizeof(tmp), "%1.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof(tmp), "%1.17g", d);
    return hb_buf_puts(b, tmp);
}

/* v in decimal (printf's "%lld" without its cost: a published event's line
 * has three numbers). */
static int put_int(struct hb_buf *b, long long v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return hb_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void hb_log_emit(enum hb_log_level level, const char *msg, ...)
{
    char ts[32];
    struct hb_buf b;
    va_list ap;
    int fmt = atomic_load(&log_format);
    if (fmt < 0)
        fmt = hb_log_default_format();
    hb_now_rfc3339(ts);
    hb_buf_init(&b, LOG_MAX_LINE);
    hb_buf_reserve(&b, 1024); /* most lines: one allocation */
    const char *lname = level_names[(unsigned)level < 4 ? level : 3];
    va_start(ap, msg);
    if (fmt == HB_LOG_JSON) {
        /* Written directly: a cJSON tree printed afterwards was most of a
         * log line's cost, and the gateway writes one per event. */
        /* One append per statement: the operands of | have no order. */
        int bad = hb_buf_puts(&b, "{\"time\":");
        bad |= hb_buf_json_str(&b, ts);
        bad |= hb_buf_puts(&b, ",\"level\":");
        bad |= hb_buf_json_str(&b, lname);
        bad |= hb_buf_puts(&b, ",\"msg\":");
        bad |= hb_buf_json_str(&b, msg);
        for (struct hb_kv kv = va_arg(ap, struct hb_kv); kv.k; kv = va_arg(ap, struct hb_kv)) {
            bad |= hb_buf_append(&b, ",", 1);
            bad |= hb_buf_json_str(&b, kv.k);
            bad |= hb_buf_append(&b, ":", 1);
            if (kv.kind == 's') {
                char *tmp;
                bad |= hb_buf_json_str(&b, bounded(kv.s ? kv.s : "", &tmp));
                free(tmp);
            } else if (kv.kind == 'b') {
                bad |= hb_buf_puts(&b, kv.i ? "true" : "false");
            } else if (kv.kind == 'f') {
                bad |= json_num(&b, kv.f);
            } else {
                bad |= put_int(&b, kv.i);
            }
        }
        /* Many long values can exceed the line cap: say so rather than
         * write a cut line. */
        if ((bad | hb_buf_append(&b, "}", 1)) != 0) {
            hb_buf_free(&b);
            hb_buf_init(&b, LOG_MAX_LINE);
            hb_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"truncated\":true}", ts, lname);
        }
    } else {
        hb_buf_printf(&b, "%s %-5s %s", ts, lname, msg);
        for (struct hb_kv kv = va_arg(ap, struct hb_kv); kv.k; kv = va_arg(ap, struct hb_kv)) {
            hb_buf_printf(&b, " %s=", kv.k);
            if (kv.kind == 's') {
                char *tmp;
                text_value(&b, bounded(kv.s ? kv.s : "", &tmp));
                free(tmp);
            } else if (kv.kind == 'b')
                hb_buf_puts(&b, kv.i ? "true" : "false");
            else if (kv.kind == 'f')
                hb_buf_printf(&b, "%g", kv.f);
            else
                put_int(&b, kv.i);
        }
    }
    va_end(ap);
    /* The newline goes in the same write(2) even when the line hit its cap. */
    struct iovec iov[2] = {{b.p ? b.p : "", b.len}, {"\n", 1}};
    ssize_t w = writev(STDERR_FILENO, iov, 2);
    (void)w;
    hb_buf_free(&b);
}
