/* hookbus/http_binding.h: pieces of the CloudEvents HTTP protocol binding
 * for consumers that forward events over HTTP (hookbus-http and users' own):
 * binary-mode header values, and bodies rendered from a template. */
#ifndef HOOKBUS_HTTP_BINDING_H
#define HOOKBUS_HTTP_BINDING_H

#include <stddef.h>

#include "hookbus/event.h"
#include "hookbus/util.h"

/* Appends v percent-encoded as the HTTP binding wants for ce- header values:
 * space, '"', '%' and every byte outside printable US-ASCII become %XX
 * (UTF-8 bytes each). 0, or -1 when out is full. */
int hb_http_header_encode(const char *v, struct hb_buf *out);

/* Renders a body template: "${name}" is the attribute name, "${data.a.b}"
 * the field a.b of the event's JSON data (array items by index: data.x.0);
 * strings are inserted JSON-escaped (without quotes), other JSON values as
 * their compact JSON text, missing values as nothing. "$$" is a literal '$'.
 * Returns the body (caller frees), or NULL with err (an unterminated
 * placeholder, or the body exceeding max bytes). */
char *hb_template_render(const char *tmpl, const struct hb_event *ev, size_t max, char *err,
                         size_t errlen);
/* Checks a template's syntax (for configuration errors). 0, or -1 with err. */
int hb_template_check(const char *tmpl, char *err, size_t errlen);

#endif
