/* hookbus/secret.h: secret references "env:NAME", "file:/path", "literal:VALUE". */
#ifndef HOOKBUS_SECRET_H
#define HOOKBUS_SECRET_H

#include <stddef.h>

#define HB_SECRET_MAX 65536

struct hb_secret {
    char *value; /* NUL-terminated; may hold other bytes from a file */
    size_t len;
};

/* Resolves a reference. file: drops one trailing newline. Errors name the
 * reference kind and variable or path, never the value. 0 or -1. */
int hb_secret_resolve(const char *ref, struct hb_secret *out, char *err, size_t errlen);
/* Wipes and frees the value. */
void hb_secret_clear(struct hb_secret *s);
/* True when ref has a known scheme (for config validation). */
int hb_secret_ref_valid(const char *ref);

#endif
