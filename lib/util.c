/* util.c: bounded buffers, parsing and encoding helpers shared by every binary. */
#include "hookbus/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void hb_buf_init(struct hb_buf *b, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

/* Makes room for n more bytes plus the NUL, doubling up to max+1. */
int hb_buf_reserve(struct hb_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return -1;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    char *np = realloc(b->p, ncap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = ncap;
    return 0;
}

int hb_buf_append(struct hb_buf *b, const void *data, size_t n)
{
    if (hb_buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int hb_buf_puts(struct hb_buf *b, const char *s)
{
    return hb_buf_append(b, s, strlen(s));
}

/* The escape of c in a JSON string ("" when it needs none) into esc[7]. */
/* The bytes c takes inside a JSON string: 1, 2 (\" \\ \n ...) or 6 (\u001f). */
static size_t json_escaped_len(unsigned char c)
{
    if (c >= 0x20)
        return c == '"' || c == '\\' ? 2 : 1;
    return c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' ? 2 : 6;
}

/* Writes the escape of c (a byte json_escaped_len counts over 1) at o;
 * returns its length. */
static size_t json_escape(unsigned char c, char *o)
{
    static const char hex[] = "0123456789abcdef";
    char short_form = c == '"'    ? '"'
                      : c == '\\' ? '\\'
                      : c == '\b' ? 'b'
                      : c == '\f' ? 'f'
                      : c == '\n' ? 'n'
                      : c == '\r' ? 'r'
                      : c == '\t' ? 't'
                                  : 0;
    o[0] = '\\';
    if (short_form) {
        o[1] = short_form;
        return 2;
    }
    memcpy(o + 1, "u00", 3);
    o[4] = hex[c >> 4];
    o[5] = hex[c & 15];
    return 6;
}

int hb_buf_json_str(struct hb_buf *b, const char *s)
{
    /* The exact length first: one reservation, then the bytes in place,
     * runs of plain bytes copied at once. */
    size_t n = 2;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += json_escaped_len(*p);
    if (hb_buf_reserve(b, n) < 0)
        return -1;
    char *o = b->p + b->len;
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s;
    for (;;) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (!*p)
            break;
        o += json_escape(*p++, o);
    }
    *o++ = '"';
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int hb_buf_printf(struct hb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hb_buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *hb_buf_steal(struct hb_buf *b)
{
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void hb_buf_free(struct hb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int hb_snprintf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(dst, n, fmt, ap);
    va_end(ap);
    return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

int hb_strlcpy(char *dst, const char *src, size_t n)
{
    size_t l = strlen(src);
    if (n == 0)
        return -1;
    if (l >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, l + 1);
    return 0;
}

char *hb_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

bool hb_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *hb_bearer_token(const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    return t;
}

bool hb_str_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *hb_str_one_line(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return s;
}

size_t hb_buf_write_prefix(char *data, size_t size, size_t nmemb, void *buf)
{
    struct hb_buf *b = buf;
    size_t n = size * nmemb, room = b->max > b->len ? b->max - b->len : 0;
    hb_buf_append(b, data, n < room ? n : room);
    return n;
}

char *hb_str_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

int hb_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int hb_parse_ull(const char *s, const char **end, unsigned long long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *e = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno)
        return -1;
    *out = v;
    *end = e;
    return 0;
}

const char *hb_strerror(int e, char *buf, size_t len)
{
    const char *s = strerror_r(e, buf, len);
    return s ? s : "unknown error";
}

int hb_parse_duration_ms(const char *s, long *out_ms)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || v < 0)
        return -1;
    long mul;
    if (!*end || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mul = 3600 * 1000;
    else
        return -1;
    if (v > LONG_MAX / mul)
        return -1;
    *out_ms = v * mul;
    return 0;
}

int hb_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < HB_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

void hb_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long hb_hex_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax)
{
    if (inlen % 2 || inlen / 2 > outmax)
        return -1;
    for (size_t i = 0; i < inlen; i += 2) {
        int hi = hexval((unsigned char)in[i]), lo = hexval((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(inlen / 2);
}

char *hb_base64_encode(const unsigned char *in, size_t n)
{
    if (n > (size_t)INT_MAX / 2)
        return NULL;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

unsigned char *hb_base64_decode(const char *in, size_t inlen, size_t *outlen)
{
    if (inlen > (size_t)INT_MAX / 2)
        return NULL;
    /* Normalise: URL-safe alphabet to standard, restore padding. */
    char *tmp = malloc(inlen + 4);
    unsigned char *out = NULL;
    if (!tmp)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '=')
            break;
        else if (!isalnum((unsigned char)c) && c != '+' && c != '/')
            goto fail;
        tmp[n++] = c;
    }
    /* Only '=' may follow the first '=', and only as many as complete the
     * last quantum ("Zg==", not "Zg=" or "Zm9v="). */
    const char *eq = memchr(in, '=', inlen);
    if (eq) {
        size_t rest = inlen - (size_t)(eq - in);
        for (size_t i = 0; i < rest; i++)
            if (eq[i] != '=')
                goto fail;
        if (rest > 2 || (n + rest) % 4 != 0)
            goto fail;
    }
    if (n % 4 == 1)
        goto fail;
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        tmp[n++] = '=';
    out = malloc(n / 4 * 3 + 1);
    if (!out)
        goto fail;
    int r = n ? EVP_DecodeBlock(out, (unsigned char *)tmp, (int)n) : 0;
    if (r < 0)
        goto fail;
    *outlen = (size_t)r - pad;
    out[*outlen] = '\0';
    free(tmp);
    return out;
fail:
    free(tmp);
    free(out);
    return NULL;
}

/* The seconds part is formatted once per second and thread: a request
 * takes the time three times (acceptance, log lines, the delivery record)
 * and gmtime_r + strftime each time was ~2 % of the gateway's CPU. */
static __thread time_t now_sec = -1;
static __thread char now_text[24];
static __thread size_t now_len;

void hb_now_rfc3339(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != now_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        now_len = strftime(now_text, sizeof(now_text), "%Y-%m-%dT%H:%M:%S", &tm);
        now_sec = ts.tv_sec;
    }
    memcpy(out, now_text, now_len);
    int ms = (int)(ts.tv_nsec / 1000000);
    out[now_len] = '.';
    out[now_len + 1] = (char)('0' + ms / 100);
    out[now_len + 2] = (char)('0' + ms / 10 % 10);
    out[now_len + 3] = (char)('0' + ms % 10);
    out[now_len + 4] = 'Z';
    out[now_len + 5] = '\0';
}

void hb_realtime_after_ms(long ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int64_t hb_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Percent-decodes [s, s+n) with '+' as space into a new string; NULL when a
 * '%' is not followed by two hex digits. */
static char *form_decode(const char *s, size_t n, size_t *outlen)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

char *hb_form_get(const char *body, size_t len, const char *key, size_t *outlen)
{
    size_t klen = strlen(key);
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + i, '=', end - i);
        if (eq && (size_t)(eq - (body + i)) == klen && memcmp(body + i, key, klen) == 0) {
            size_t vs = (size_t)(eq - body) + 1;
            return form_decode(body + vs, end - vs, outlen);
        }
        i = end + 1;
    }
    return NULL;
}

int hb_write_file_atomic(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[4096];
    if (hb_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) < 0) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, HB_STRERROR(errno));
        if (f)
            fclose(f);
        unlink(tmp);
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, HB_STRERROR(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

char *hb_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, HB_STRERROR(errno));
        return NULL;
    }
    struct hb_buf b;
    char chunk[4096];
    size_t n;
    const char *why = NULL;
    hb_buf_init(&b, max);
    while (!why && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (hb_buf_append(&b, chunk, n) < 0)
            why = "too large";
    if (!why && ferror(f))
        why = "read error";
    fclose(f);
    OPENSSL_cleanse(chunk, sizeof(chunk));
    if (why) {
        snprintf(err, errlen, "%s: %s (at most %zu bytes)", path, why, max);
        if (b.p)
            OPENSSL_cleanse(b.p, b.cap);
        hb_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return hb_buf_steal(&b);
}

uint32_t hb_fnv1a(uint32_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

bool hb_utf8_valid(const void *buf, size_t n)
{
    const unsigned char *p = buf;
    size_t i = 0;
    while (i < n) {
        /* Webhook bodies are mostly ASCII: skip 8 such bytes at a time (no
         * byte with the high bit set, none zero). */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ULL) ||
                ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
                break;
            i += 8;
        }
        if (i == n)
            break;
        unsigned c = p[i];
        size_t extra;
        uint32_t cp, min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}
