/* hookbus/format.h: CloudEvents JSON event format (structured mode). */
#ifndef HOOKBUS_FORMAT_H
#define HOOKBUS_FORMAT_H

#include <stddef.h>

#include "hookbus/event.h"

#define HB_CT_CE_JSON "application/cloudevents+json"
#define HB_CT_CE_BATCH "application/cloudevents-batch+json"
#define HB_CT_CE_AVRO "application/cloudevents+avro"

/* Parses buf[len] as exactly one JSON value with nothing but whitespace after
 * it (cJSON_ParseWithLength alone ignores trailing bytes), in UTF-8 without
 * NUL bytes (RFC 8259 section 8.1) and without the escape \u0000 (cJSON would
 * cut the string there). Returns a cJSON * (caller deletes), NULL if it is
 * not such a value. */
void *hb_json_parse(const char *buf, size_t len);

/* Encodes as a JSON object: Integer and Boolean attributes as JSON numbers and
 * booleans, others as strings. JSON data (per datacontenttype) that parses
 * goes in "data" verbatim; other data as "data_base64". Caller frees (free();
 * so not inside an arena of hookbus/arena.h). NULL on ENOMEM. */
char *hb_event_to_json(const struct hb_event *ev);

/* hb_event_to_json on one line, for JSON-lines output (hookbus-tail, the
 * stdin of hookbus-exec): the line breaks of pretty-printed JSON data become
 * spaces, which leaves the same JSON value. Caller frees (free()). */
char *hb_event_to_json_line(const struct hb_event *ev);

/* Decodes one structured event from buf[len] and validates it. JSON "data" is
 * kept as its JSON text, byte for byte (hb_event_from_cjson, which has no
 * text, keeps the compact re-print), a JSON string as its text, "data_base64"
 * as the decoded bytes. Returns 0 and *out (caller frees), or -1 with err. */
int hb_event_from_json(const char *buf, size_t len, struct hb_event **out, char *err,
                       size_t errlen);

/* The same from an already parsed cJSON object (const cJSON *). */
int hb_event_from_cjson(const void *obj, struct hb_event **out, char *err, size_t errlen);

#endif
