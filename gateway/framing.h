/* framing.h: the request framing checks libmicrohttpd 0.9.75 lets through
 * (request smuggling grounds), and the URL unescaper. Pure functions. */
#ifndef GW_FRAMING_H
#define GW_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#define GW_FRAMING_MAX_FIELDS 16 /* Content-Length / Transfer-Encoding fields kept */

/* The framing fields of one request, as received. */
struct gw_framing_in {
    const char *cl[GW_FRAMING_MAX_FIELDS]; /* Content-Length values */
    size_t ncl;
    const char *te[GW_FRAMING_MAX_FIELDS]; /* Transfer-Encoding values */
    size_t nte;
    bool overflow; /* more fields than kept */
};

struct gw_framing {
    unsigned status;     /* 0: acceptable; else the answer (400, 413, 501) */
    const char *message; /* why, for the error body */
    long long length;    /* Content-Length, -1 when none or past 2^63 - 1 */
    bool chunked;
};

/* Checks the framing against max_body: both Content-Length and
 * Transfer-Encoding, or two Content-Length fields: 400; a Content-Length
 * that is not a decimal number: 400; one beyond max_body (including past
 * 2^63): 413; a transfer coding other than exactly "chunked": 501. */
void gw_framing_check(const struct gw_framing_in *in, long long max_body, struct gw_framing *out);

/* Percent-decodes s in place (libmicrohttpd's unescape callback) except
 * "%00", which stays as written: a NUL would cut the route short
 * ("/webhooks/gh%00x" must not be receiver "gh"). Returns the new length. */
size_t gw_url_unescape(char *s);

#endif
