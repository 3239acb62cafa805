/* framing.c: request framing checks (see framing.h). RFC 9112 section 6:
 * a message with both Transfer-Encoding and Content-Length is a smuggling
 * attempt or a broken intermediary, differing or repeated Content-Length
 * fields are an error, and a server that does not understand a transfer
 * coding answers 501. */
#include "framing.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

/* A decimal Content-Length into *out (-1 past 2^63 - 1); *over when it
 * exceeds max. */
static bool parse_length(const char *s, long long max, long long *out, bool *over)
{
    unsigned long long v = 0;
    bool huge = false;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (huge || v > ((unsigned long long)LLONG_MAX - d) / 10)
            huge = true;
        else
            v = v * 10 + d;
    }
    *out = huge ? -1 : (long long)v;
    *over = huge || (long long)v > max;
    return true;
}

/* True when the Transfer-Encoding values name exactly one coding, chunked. */
static bool only_chunked(const char *const *te, size_t n)
{
    size_t codings = 0;
    bool chunked = false;
    for (size_t i = 0; i < n; i++) {
        const char *p = te[i];
        while (*p) {
            p += strspn(p, " \t,");
            size_t len = strcspn(p, ",");
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            if (len) {
                codings++;
                chunked = len == 7 && strncasecmp(p, "chunked", 7) == 0;
            }
            p += strcspn(p, ",");
        }
    }
    return codings == 1 && chunked;
}

void gw_framing_check(const struct gw_framing_in *in, long long max_body, struct gw_framing *out)
{
    *out = (struct gw_framing){.length = -1};
    bool over;
    if (in->overflow || in->ncl > 1) {
        *out = (struct gw_framing){400, "more than one Content-Length", -1, false};
    } else if (in->ncl && in->nte) {
        *out = (struct gw_framing){400, "both Content-Length and Transfer-Encoding", -1, false};
    } else if (in->nte) {
        if (!only_chunked(in->te, in->nte))
            *out = (struct gw_framing){501, "transfer coding not supported (only chunked)", -1,
                                       false};
        else
            out->chunked = true;
    } else if (in->ncl) {
        if (!parse_length(in->cl[0], max_body, &out->length, &over))
            *out = (struct gw_framing){400, "invalid Content-Length", -1, false};
        else if (over)
            *out = (struct gw_framing){413, "request body over limits.max_body_bytes", out->length,
                                       false};
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t gw_url_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo)) {
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}
