/* secret.c: resolving secret references; values are wiped when released. */
#include "hookbus/secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

int hb_secret_ref_valid(const char *ref)
{
    return hb_str_has_prefix(ref, "env:") || hb_str_has_prefix(ref, "file:") ||
           hb_str_has_prefix(ref, "literal:");
}

/* file: secrets drop one trailing newline (CRLF too), as written by editors
 * and `echo`. */
static int read_file(const char *path, struct hb_secret *out, char *err, size_t errlen)
{
    char e[256];
    size_t n;
    char *buf = hb_read_file(path, HB_SECRET_MAX, &n, e, sizeof(e));
    if (!buf) {
        snprintf(err, errlen, "secret file %s", e);
        return -1;
    }
    if (n && buf[n - 1] == '\n')
        n--;
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    out->value = buf;
    out->len = n;
    return 0;
}

int hb_secret_resolve(const char *ref, struct hb_secret *out, char *err, size_t errlen)
{
    const char *v;
    out->value = NULL;
    out->len = 0;
    if (hb_str_has_prefix(ref, "env:")) {
        v = getenv(ref + 4);
        if (!v) {
            snprintf(err, errlen, "secret env:%s: environment variable not set", ref + 4);
            return -1;
        }
    } else if (hb_str_has_prefix(ref, "file:")) {
        if (read_file(ref + 5, out, err, errlen) < 0)
            return -1;
        goto check;
    } else if (hb_str_has_prefix(ref, "literal:")) {
        v = ref + 8;
    } else {
        snprintf(err, errlen,
                 "a secret must be a reference: env:NAME, file:/path or "
                 "literal:VALUE (development only)");
        return -1;
    }
    if (strlen(v) > HB_SECRET_MAX) {
        snprintf(err, errlen, "secret is larger than 64 KiB");
        return -1;
    }
    out->value = strdup(v);
    out->len = strlen(v);
    if (!out->value) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
check:
    if (out->len == 0) {
        snprintf(err, errlen, "secret %.*s resolves to an empty value", (int)strcspn(ref, ":"),
                 ref);
        hb_secret_clear(out);
        return -1;
    }
    return 0;
}

void hb_secret_clear(struct hb_secret *s)
{
    if (s->value) {
        OPENSSL_cleanse(s->value, s->len);
        free(s->value);
    }
    s->value = NULL;
    s->len = 0;
}
