/* hookbus/event.h: the CloudEvents v1.0 event model.
 *
 * An event is an ordered list of context attributes plus optional data bytes.
 * Every attribute value is kept in its canonical string form (the form the
 * Kafka binary binding and HTTP headers use) together with its CloudEvents
 * type, so that formats that carry types (JSON, Avro) and the CESQL evaluator
 * can recover it: Integer "42", Boolean "true"/"false", Binary as base64. */
#ifndef HOOKBUS_EVENT_H
#define HOOKBUS_EVENT_H

#include <stdbool.h>
#include <stddef.h>

enum hb_attr_type {
    HB_ATTR_STRING = 0,
    HB_ATTR_INTEGER, /* signed 32-bit, decimal */
    HB_ATTR_BOOLEAN, /* "true" | "false" */
    HB_ATTR_BINARY,  /* base64 */
    HB_ATTR_URI,
    HB_ATTR_URI_REF,
    HB_ATTR_TIMESTAMP, /* RFC 3339 */
};

struct hb_attr {
    char *name; /* one allocation holds both: free(name) frees value too */
    char *value;
    enum hb_attr_type type;
};

struct hb_event {
    struct hb_attr *attrs;
    size_t nattrs, cap;
    unsigned char *data; /* NULL when the event has no data */
    size_t data_len;
    /* hb_event_check passed and the event is still valid: a set checks
     * only the attribute set, an unset only whether it was a required one
     * (event.c keeps it: change attributes only through the functions below). */
    bool checked;
};

/* Limits that bound what a decoder accepts from the network. */
#define HB_EVENT_MAX_ATTRS 64
#define HB_EVENT_MAX_ATTR_NAME 64 /* bytes: the spec asks receivers for at least 20 */
#define HB_EVENT_MAX_ATTR_VALUE 4096

struct hb_event *hb_event_new(void);
void hb_event_free(struct hb_event *ev);
/* Deep copy, NULL on allocation failure. */
struct hb_event *hb_event_dup(const struct hb_event *ev);

/* The spec type of a known attribute (id: String, source: URI-reference,
 * time: Timestamp, ...); HB_ATTR_STRING for extensions. */
enum hb_attr_type hb_attr_spec_type(const char *name);
const char *hb_attr_type_name(enum hb_attr_type t);

/* Sets (replaces) an attribute. hb_event_set uses the spec type of the name
 * (String for extensions). Values are copied. Returns 0, or -1 on a bad name,
 * a value over HB_EVENT_MAX_ATTR_VALUE, too many attributes or ENOMEM. */
int hb_event_set(struct hb_event *ev, const char *name, const char *value);
int hb_event_set_typed(struct hb_event *ev, const char *name, const char *value,
                       enum hb_attr_type type);
int hb_event_unset(struct hb_event *ev, const char *name);
/* The value, or NULL when the attribute is not set. Borrowed. */
const char *hb_event_get(const struct hb_event *ev, const char *name);
const struct hb_attr *hb_event_find(const struct hb_event *ev, const char *name);

/* Sets the data (copied); data == NULL removes it. 0 or -1 (ENOMEM). */
int hb_event_set_data(struct hb_event *ev, const void *data, size_t len);

/* Attribute names: lowercase a-z and 0-9 only, 1..20 characters recommended;
 * we accept up to 64 (the spec says SHOULD for 20). */
bool hb_attr_name_valid(const char *name);
/* True when value is a valid value of type (String: UTF-8 without control
 * characters; Integer, URI, Timestamp, ... per the CloudEvents type system). */
bool hb_attr_value_valid(const char *value, enum hb_attr_type type);
/* Checks required attributes (specversion 1.0, id, source, type non-empty),
 * every name, and every value against its type. 0 or -1 with a message. */
int hb_event_validate(const struct hb_event *ev, char *err, size_t errlen);
/* hb_event_validate, remembered: while the event stays valid (later sets
 * are checked one attribute at a time), the next validation (an encoder's)
 * costs nothing. For who builds or decodes ev. */
int hb_event_check(struct hb_event *ev, char *err, size_t errlen);

/* True when the datacontenttype says JSON (absent, application/json,
 * text/json, or any type with a +json suffix), parameters ignored. */
bool hb_content_type_is_json(const char *content_type);

#endif
