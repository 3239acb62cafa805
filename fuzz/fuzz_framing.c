/* fuzz_framing.c: the request framing checks and the URL unescaper.
 *
 * Input: a request line (its target is unescaped), headers (every
 * Content-Length and Transfer-Encoding field goes to the check), an empty
 * line, and a body that is ignored. Checks the invariants: a verdict is one
 * of 0, 400, 413, 501 with a message; an accepted Content-Length is within
 * the limit; the unescaped target is no longer than the original and has
 * no NUL before its end. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"
#include "harness.h"

#define MAX_BODY 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_msg m;
    struct gw_framing_in in = {0};
    struct gw_framing f;
    if (fuzz_msg_parse(data, size, true, &m) < 0)
        return 0;
    for (size_t i = 0; i < m.nheaders; i++) {
        bool cl = strcasecmp(m.names[i], "Content-Length") == 0;
        if (!cl && strcasecmp(m.names[i], "Transfer-Encoding") != 0)
            continue;
        size_t *n = cl ? &in.ncl : &in.nte;
        if (*n == GW_FRAMING_MAX_FIELDS)
            in.overflow = true;
        else
            (cl ? in.cl : in.te)[(*n)++] = m.values[i];
    }
    gw_framing_check(&in, MAX_BODY, &f);
    if ((f.status != 0 && f.status != 400 && f.status != 413 && f.status != 501) ||
        (f.status && !f.message) || (!f.status && f.length > MAX_BODY) ||
        (!f.status && in.ncl + in.nte > 1 && !f.chunked))
        abort();
    if (m.first) {
        size_t before = strlen(m.first);
        size_t after = gw_url_unescape(m.first);
        if (after > before || strlen(m.first) != after)
            abort();
    }
    fuzz_msg_free(&m);
    return 0;
}
