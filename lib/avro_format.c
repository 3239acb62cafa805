/* avro_format.c: the CloudEvents Avro event format (CloudEvents v1.0.2,
 * schemas/cloudevent.avsc): the Avro binary encoding of one
 * io.cloudevents.AvroCloudEvent record, the value of a Kafka message with
 * content-type application/cloudevents+avro. No object container, no schema
 * registry prefix.
 *
 * Attributes go in the `attribute` map: Integer as int, Boolean as boolean,
 * Binary as bytes, every other type as string. A decoded string attribute gets
 * the spec type of its name back (time: Timestamp, ...).
 *
 * Data: bytes, unless the datacontenttype is JSON and the data parses as JSON;
 * then the JSON value itself is written with the schema's union branches. The
 * v1.0.2 schema cannot hold every JSON value directly (a top-level object member
 * cannot be an array, arrays only hold AvroCloudEventData records), so we use
 * one fixed convention, documented in schemas/README.md:
 *   - data:  null, boolean, double, string as such; object -> map (members as
 *            V1); array -> array of AvroCloudEventData (items as R).
 *   - V1 (top-level member): null, boolean, double, string as such; object and
 *            array -> AvroCloudEventData (as R).
 *   - R (AvroCloudEventData): an object is {"value": its members (as V2)}; any
 *            other value, and an object whose only member is "$value", is
 *            boxed as {"value": {"$value": v (as V2)}}.
 *   - V2 (member of R): null, boolean, double, string as such; object -> map of
 *            AvroCloudEventData (members as R); array -> array of
 *            AvroCloudEventData (items as R).
 * Decoding inverts this and returns compact JSON text (cJSON_PrintUnformatted).
 *
 * Decoding takes untrusted bytes: before avro-c sees them a bounded scanner
 * checks the whole encoding against the schema (lengths within the input,
 * union indices, depth, attribute and node counts, UTF-8 strings without NUL,
 * nothing after the record), so avro-c never allocates from a bogus length or
 * recurses without bound. */
#include "hookbus/kafka.h"

#include <avro.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"
#include "hookbus/util.h"

#define AVRO_MAX_INPUT (16u * 1024u * 1024u) /* largest value we decode (or encode) */
#define AVRO_MAX_DEPTH 64                    /* nested JSON containers in data */
#define AVRO_MAX_NODES (1u << 18)            /* JSON values in data: ~70 MB in avro-c */
#define BOX_KEY "$value"

/* The CloudEvents v1.0.2 Avro schema, the same text as schemas/cloudevent.avsc
 * (tests/e2e/test_schemas.py checks that they are equal). */
static const char schema_json[] =
    "{\n"
    "  \"namespace\":\"io.cloudevents\",\n"
    "  \"type\":\"record\",\n"
    "  \"name\":\"AvroCloudEvent\",\n"
    "  \"version\":\"1.0\",\n"
    "  \"doc\":\"Avro Event Format for CloudEvents\",\n"
    "  \"fields\":[\n"
    "    {\n"
    "      \"name\":\"attribute\",\n"
    "      \"type\":{\n"
    "        \"type\":\"map\",\n"
    "        \"values\":[\n"
    "          \"null\",\n"
    "          \"boolean\",\n"
    "          \"int\",\n"
    "          \"string\",\n"
    "          \"bytes\"\n"
    "        ]\n"
    "      }\n"
    "    },\n"
    "    {\n"
    "      \"name\": \"data\",\n"
    "      \"type\": [\n"
    "        \"bytes\",\n"
    "        \"null\",\n"
    "        \"boolean\",\n"
    "        {\n"
    "          \"type\": \"map\",\n"
    "          \"values\": [\n"
    "            \"null\",\n"
    "            \"boolean\",\n"
    "            {\n"
    "              \"type\": \"record\",\n"
    "              \"name\": \"AvroCloudEventData\",\n"
    "              \"doc\": \"Representation of a JSON Value\",\n"
    "              \"fields\": [\n"
    "                {\n"
    "                  \"name\": \"value\",\n"
    "                  \"type\": {\n"
    "                    \"type\": \"map\",\n"
    "                    \"values\": [\n"
    "                      \"null\",\n"
    "                      \"boolean\",\n"
    "                      { \"type\": \"map\", \"values\": \"AvroCloudEventData\" },\n"
    "                      { \"type\": \"array\", \"items\": \"AvroCloudEventData\" },\n"
    "                      \"double\",\n"
    "                      \"string\"\n"
    "                    ]\n"
    "                  }\n"
    "                }\n"
    "              ]\n"
    "            },\n"
    "            \"double\",\n"
    "            \"string\"\n"
    "          ]\n"
    "        },\n"
    "        { \"type\": \"array\", \"items\": \"AvroCloudEventData\" },\n"
    "        \"double\",\n"
    "        \"string\"\n"
    "      ]\n"
    "    }\n"
    "  ]\n"
    "}\n";

/* Branch indices of the attribute value union. */
enum { ATTR_NULL, ATTR_BOOLEAN, ATTR_INT, ATTR_STRING, ATTR_BYTES, ATTR_NBRANCHES };

/* Where a JSON value sits in the schema: the three unions and the record. */
enum slot { SLOT_DATA, SLOT_V1, SLOT_V2, SLOT_R };

/* Branch indices of the three unions that hold JSON values; -1 = no such
 * branch. `record` is where objects and arrays go when the union has no
 * map/array of its own (V1); map_child / array_child say what the elements of
 * the map and array branches are. */
struct union_desc {
    int bytes, null, boolean, map, array, record, dbl, string, nbranches;
    enum slot map_child, array_child;
};

static const struct union_desc unions[] = {
    [SLOT_DATA] = {0, 1, 2, 3, 4, -1, 5, 6, 7, SLOT_V1, SLOT_R},
    [SLOT_V1] = {-1, 0, 1, -1, -1, 2, 3, 4, 5, SLOT_R, SLOT_R},
    [SLOT_V2] = {-1, 0, 1, 2, 3, -1, 4, 5, 6, SLOT_R, SLOT_R},
};

static pthread_once_t schema_once = PTHREAD_ONCE_INIT;
static avro_schema_t schema;
static avro_value_iface_t *schema_iface;
static char schema_error[256];

/* Parses the embedded schema once per process (pthread_once). The schema and
 * its generic class live until exit; avro-c reference counts atomically, so
 * values can be created from several threads at once. */
static void schema_init(void)
{
    if (avro_schema_from_json_length(schema_json, sizeof(schema_json) - 1, &schema) != 0) {
        snprintf(schema_error, sizeof(schema_error), "avro schema: %s", avro_strerror());
        schema = NULL;
        return;
    }
    schema_iface = avro_generic_class_from_schema(schema);
    if (!schema_iface)
        snprintf(schema_error, sizeof(schema_error), "avro class: %s", avro_strerror());
}

/* The generic class of the event schema, or NULL with err. */
static avro_value_iface_t *get_iface(char *err, size_t errlen)
{
    pthread_once(&schema_once, schema_init);
    if (!schema_iface)
        snprintf(err, errlen, "%s", schema_error[0] ? schema_error : "avro schema unavailable");
    return schema_iface;
}

/* Formats an avro-c failure: "<what>: <avro_strerror()>". Always -1. */
static int avro_fail(char *err, size_t errlen, const char *what)
{
    const char *detail = avro_strerror();
    snprintf(err, errlen, "avro: %s%s%s", what, detail && *detail ? ": " : "",
             detail ? detail : "");
    return -1;
}

/* ---- Encoding ---------------------------------------------------------- */

static bool json_text_valid(const char *s)
{
    return !s || hb_utf8_valid(s, strlen(s));
}

/* True when a JSON tree stays within AVRO_MAX_DEPTH nested containers and
 * *nodes (counted down) values, and every string and member name is UTF-8
 * (cJSON does not check; JSON text that is not UTF-8 stays bytes), i.e. when
 * the decoder will accept it back. */
static bool json_within_limits(const cJSON *j, int depth, size_t *nodes)
{
    if (*nodes == 0)
        return false;
    (*nodes)--;
    if (!json_text_valid(j->string) || (cJSON_IsString(j) && !json_text_valid(j->valuestring)))
        return false;
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
        return true;
    if (depth >= AVRO_MAX_DEPTH)
        return false;
    for (const cJSON *c = j->child; c; c = c->next)
        if (!json_within_limits(c, depth + 1, nodes))
            return false;
    return true;
}

/* True when an object must be boxed in an AvroCloudEventData record because
 * its only member is named like the box. */
static bool object_needs_box(const cJSON *j)
{
    return j->child && !j->child->next && j->child->string &&
           strcmp(j->child->string, BOX_KEY) == 0;
}

static int encode_json(const cJSON *j, avro_value_t *dst, enum slot slot, int depth);

/* Writes j into an AvroCloudEventData record (see the file comment). */
static int encode_record(const cJSON *j, avro_value_t *rec, int depth)
{
    avro_value_t map, child;
    if (avro_value_get_by_index(rec, 0, &map, NULL) != 0)
        return -1;
    if (!cJSON_IsObject(j) || object_needs_box(j)) {
        if (avro_value_add(&map, BOX_KEY, &child, NULL, NULL) != 0)
            return -1;
        return encode_json(j, &child, SLOT_V2, depth);
    }
    for (const cJSON *c = j->child; c; c = c->next) {
        if (avro_value_add(&map, c->string, &child, NULL, NULL) != 0 ||
            encode_json(c, &child, SLOT_V2, depth + 1) != 0)
            return -1;
    }
    return 0;
}

/* Writes the JSON value j into dst, a value of the given slot. depth counts
 * the containers above j. 0 or -1 (avro-c error). */
static int encode_json(const cJSON *j, avro_value_t *dst, enum slot slot, int depth)
{
    avro_value_t br, child;
    if (slot == SLOT_R)
        return encode_record(j, dst, depth);
    const struct union_desc *u = &unions[slot];
    if (cJSON_IsNull(j))
        return avro_value_set_branch(dst, u->null, &br) || avro_value_set_null(&br) ? -1 : 0;
    if (cJSON_IsBool(j))
        return avro_value_set_branch(dst, u->boolean, &br) ||
                       avro_value_set_boolean(&br, cJSON_IsTrue(j))
                   ? -1
                   : 0;
    if (cJSON_IsNumber(j))
        return avro_value_set_branch(dst, u->dbl, &br) || avro_value_set_double(&br, j->valuedouble)
                   ? -1
                   : 0;
    if (cJSON_IsString(j))
        return avro_value_set_branch(dst, u->string, &br) ||
                       avro_value_set_string_len(&br, j->valuestring, strlen(j->valuestring) + 1)
                   ? -1
                   : 0;
    if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
        return -1; /* cJSON_Raw / invalid: never produced by the parser */
    if (u->record >= 0) {
        if (avro_value_set_branch(dst, u->record, &br) != 0)
            return -1;
        return encode_record(j, &br, depth);
    }
    bool obj = cJSON_IsObject(j);
    if (avro_value_set_branch(dst, obj ? u->map : u->array, &br) != 0)
        return -1;
    for (const cJSON *c = j->child; c; c = c->next) {
        int r = obj ? avro_value_add(&br, c->string, &child, NULL, NULL)
                    : avro_value_append(&br, &child, NULL);
        if (r != 0 || encode_json(c, &child, obj ? u->map_child : u->array_child, depth + 1))
            return -1;
    }
    return 0;
}

/* Parses data as one JSON text (nothing but whitespace after it) that the
 * decoder would accept back. NULL when it is not such JSON. Caller frees. */
static cJSON *parse_json_data(const struct hb_event *ev)
{
    cJSON *j = hb_json_parse((const char *)ev->data, ev->data_len);
    size_t nodes = AVRO_MAX_NODES;
    if (j && !json_within_limits(j, 0, &nodes)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Writes the event's data into the record's data union: null without data,
 * the JSON value for JSON data, else bytes. 0, or -1 with err. */
static int encode_data(const struct hb_event *ev, avro_value_t *data, char *err, size_t errlen)
{
    avro_value_t br;
    int r;
    if (!ev->data) {
        r = avro_value_set_branch(data, unions[SLOT_DATA].null, &br) || avro_value_set_null(&br);
    } else {
        cJSON *j = NULL;
        if (hb_content_type_is_json(hb_event_get(ev, "datacontenttype")))
            j = parse_json_data(ev);
        if (j)
            r = encode_json(j, data, SLOT_DATA, 0);
        else
            r = avro_value_set_branch(data, unions[SLOT_DATA].bytes, &br) ||
                avro_value_set_bytes(&br, ev->data, ev->data_len);
        cJSON_Delete(j);
    }
    return r ? avro_fail(err, errlen, "cannot set data") : 0;
}

/* Adds one attribute to the attribute map with the Avro type of its
 * CloudEvents type. 0, or -1 with err (avro-c failure or a value that is not
 * valid for its type). */
static int encode_attr(const struct hb_attr *a, avro_value_t *map, char *err, size_t errlen)
{
    avro_value_t u, br;
    unsigned char *bin = NULL;
    const char *invalid = NULL; /* the type the value fails to be */
    int r = -1;
    long n;
    size_t len;
    if (avro_value_add(map, a->name, &u, NULL, NULL) != 0)
        goto done;
    switch (a->type) {
    case HB_ATTR_INTEGER:
        if (hb_parse_long(a->value, INT32_MIN, INT32_MAX, &n) != 0) {
            invalid = "Integer";
            goto done;
        }
        r = avro_value_set_branch(&u, ATTR_INT, &br) || avro_value_set_int(&br, (int32_t)n);
        break;
    case HB_ATTR_BOOLEAN:
        if (strcmp(a->value, "true") != 0 && strcmp(a->value, "false") != 0) {
            invalid = "Boolean";
            goto done;
        }
        r = avro_value_set_branch(&u, ATTR_BOOLEAN, &br) ||
            avro_value_set_boolean(&br, strcmp(a->value, "true") == 0);
        break;
    case HB_ATTR_BINARY:
        if (!(bin = hb_base64_decode(a->value, strlen(a->value), &len))) {
            invalid = "Binary (base64)";
            goto done;
        }
        r = avro_value_set_branch(&u, ATTR_BYTES, &br) || avro_value_set_bytes(&br, bin, len);
        break;
    default:
        r = avro_value_set_branch(&u, ATTR_STRING, &br) ||
            avro_value_set_string_len(&br, a->value, strlen(a->value) + 1);
        break;
    }
done:
    free(bin);
    if (invalid) {
        snprintf(err, errlen, "attribute '%s' is not a valid %s", a->name, invalid);
        return -1;
    }
    return r ? avro_fail(err, errlen, "cannot set attribute") : 0;
}

int hb_avro_encode(const struct hb_event *ev, void **out, size_t *outlen, char *err, size_t errlen)
{
    avro_value_iface_t *iface = get_iface(err, errlen);
    avro_value_t rec, field;
    avro_writer_t w = NULL;
    bool have_rec = false;
    char *buf = NULL;
    size_t size = 0;
    int rc = -1;
    *out = NULL;
    *outlen = 0;
    if (!iface)
        return -1;
    if (avro_generic_value_new(iface, &rec) != 0) {
        avro_fail(err, errlen, "cannot create record");
        goto done;
    }
    have_rec = true;
    if (avro_value_get_by_index(&rec, 0, &field, NULL) != 0) {
        avro_fail(err, errlen, "no attribute field");
        goto done;
    }
    for (size_t i = 0; i < ev->nattrs; i++)
        if (encode_attr(&ev->attrs[i], &field, err, errlen) != 0)
            goto done;
    if (avro_value_get_by_index(&rec, 1, &field, NULL) != 0) {
        avro_fail(err, errlen, "no data field");
        goto done;
    }
    if (encode_data(ev, &field, err, errlen) != 0)
        goto done;
    if (avro_value_sizeof(&rec, &size) != 0) {
        avro_fail(err, errlen, "cannot size record");
        goto done;
    }
    if (size > AVRO_MAX_INPUT) {
        snprintf(err, errlen, "avro event of %zu bytes exceeds the %u byte limit", size,
                 AVRO_MAX_INPUT);
        goto done;
    }
    buf = malloc(size ? size : 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    w = avro_writer_memory(buf, (int64_t)size);
    if (!w) {
        avro_fail(err, errlen, "cannot create writer");
        goto done;
    }
    if (avro_value_write(w, &rec) != 0 || avro_writer_tell(w) != (int64_t)size) {
        avro_fail(err, errlen, "cannot write record");
        goto done;
    }
    *out = buf;
    *outlen = size;
    buf = NULL;
    rc = 0;
done:
    if (w)
        avro_writer_free(w);
    if (have_rec)
        avro_value_decref(&rec);
    free(buf);
    return rc;
}

/* ---- Scanning untrusted input ------------------------------------------ */

/* A bounded walk over the Avro binary encoding of the event schema. */
struct scanner {
    const unsigned char *p, *start, *end;
    size_t nodes; /* JSON values seen in data */
    char *err;
    size_t errlen;
};

/* Records why the input is malformed. Always -1. */
static int scan_fail(struct scanner *s, const char *why)
{
    snprintf(s->err, s->errlen, "malformed avro event: %s at byte %zu", why,
             (size_t)(s->p - s->start));
    return -1;
}

/* Reads a zig-zag varint long (at most 10 bytes, no overflow). */
static int scan_long(struct scanner *s, int64_t *out)
{
    uint64_t u = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (s->p >= s->end)
            return scan_fail(s, "truncated number");
        unsigned b = *s->p++;
        if (shift == 63 && b > 1)
            return scan_fail(s, "number overflows 64 bits");
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
            return 0;
        }
    }
    return scan_fail(s, "number overflows 64 bits");
}

/* Reads a union branch index in [0, n). */
static int scan_branch(struct scanner *s, int n, int *out)
{
    int64_t v;
    if (scan_long(s, &v) != 0)
        return -1;
    if (v < 0 || v >= n)
        return scan_fail(s, "union branch out of range");
    *out = (int)v;
    return 0;
}

/* Skips a bytes or string value whose length must fit in the input; strings
 * must be UTF-8 without NUL. */
static int scan_bytes(struct scanner *s, bool text)
{
    int64_t len;
    if (scan_long(s, &len) != 0)
        return -1;
    if (len < 0 || (uint64_t)len > (uint64_t)(s->end - s->p))
        return scan_fail(s, "length beyond the end of the input");
    if (text && !hb_utf8_valid(s->p, (size_t)len))
        return scan_fail(s, "string is not UTF-8 or contains NUL");
    s->p += len;
    return 0;
}

/* Reads the item count of the next map or array block (0 = end). Every item
 * of every map and array in this schema takes at least one byte, which bounds
 * the count by what is left. */
static int scan_block(struct scanner *s, int64_t *count)
{
    int64_t size;
    if (scan_long(s, count) != 0)
        return -1;
    if (*count < 0) {
        if (*count == INT64_MIN)
            return scan_fail(s, "bad block count");
        *count = -*count;
        if (scan_long(s, &size) != 0)
            return -1;
        if (size < 0)
            return scan_fail(s, "bad block size");
    }
    if ((uint64_t)*count > (uint64_t)(s->end - s->p))
        return scan_fail(s, "block count beyond the end of the input");
    return 0;
}

static int scan_slot(struct scanner *s, enum slot slot, int depth);
static int scan_value(struct scanner *s, enum slot slot, int depth);

/* Scans a map (keys are strings) or an array whose items are of slot child,
 * the container itself being at depth. */
static int scan_container(struct scanner *s, bool map, enum slot child, int depth)
{
    int64_t count;
    if (depth >= AVRO_MAX_DEPTH)
        return scan_fail(s, "data nested too deeply");
    for (;;) {
        if (scan_block(s, &count) != 0)
            return -1;
        if (count == 0)
            return 0;
        for (int64_t i = 0; i < count; i++)
            if ((map && scan_bytes(s, true) != 0) || scan_slot(s, child, depth + 1) != 0)
                return -1;
    }
}

/* Scans an AvroCloudEventData record at depth: a map of V2 values, one level
 * down for an object's members, at the same level for a box's "$value" (so
 * that the depth counted here is the JSON depth the encoder checked). */
static int scan_record(struct scanner *s, int depth)
{
    int64_t count, total = 0;
    for (;;) {
        if (scan_block(s, &count) != 0)
            return -1;
        if (count == 0)
            break;
        total += count;
        for (int64_t i = 0; i < count; i++) {
            const unsigned char *key = s->p;
            if (scan_bytes(s, true) != 0)
                return -1;
            /* key[0] is the varint length of "$value": zig-zag 6 = 12 */
            bool box = s->p - key == 7 && key[0] == 12 && memcmp(key + 1, BOX_KEY, 6) == 0;
            if (!box && depth >= AVRO_MAX_DEPTH)
                return scan_fail(s, "data nested too deeply");
            if ((box ? scan_value(s, SLOT_V2, depth) : scan_slot(s, SLOT_V2, depth + 1)) != 0)
                return -1;
        }
    }
    if (total == 0 && depth >= AVRO_MAX_DEPTH)
        return scan_fail(s, "data nested too deeply");
    return 0;
}

/* Scans one JSON value of the given slot, counting it: the count is the
 * number of JSON values, as json_within_limits counts them. */
static int scan_slot(struct scanner *s, enum slot slot, int depth)
{
    if (++s->nodes > AVRO_MAX_NODES)
        return scan_fail(s, "too many values in data");
    return scan_value(s, slot, depth);
}

/* Scans one JSON value of the given slot without counting it (a box's
 * content is the value its record stands for); depth counts containers
 * above it. */
static int scan_value(struct scanner *s, enum slot slot, int depth)
{
    int b;
    if (slot == SLOT_R)
        return scan_record(s, depth);
    const struct union_desc *u = &unions[slot];
    if (scan_branch(s, u->nbranches, &b) != 0)
        return -1;
    if (b == u->null)
        return 0;
    if (b == u->boolean) {
        if (s->p >= s->end || *s->p > 1)
            return scan_fail(s, "bad boolean");
        s->p++;
        return 0;
    }
    if (b == u->dbl) {
        if (s->end - s->p < 8)
            return scan_fail(s, "truncated double");
        s->p += 8;
        return 0;
    }
    if (b == u->string)
        return scan_bytes(s, true);
    if (b == u->bytes)
        return scan_bytes(s, false);
    if (b == u->record)
        return scan_record(s, depth);
    if (b == u->map)
        return scan_container(s, true, u->map_child, depth);
    return scan_container(s, false, u->array_child, depth);
}

/* Checks that buf[len] is exactly one event record that avro-c can read
 * safely. 0, or -1 with err. */
static int scan_event(const void *buf, size_t len, char *err, size_t errlen)
{
    struct scanner s = {.p = buf,
                        .start = buf,
                        .end = (const unsigned char *)buf + len,
                        .err = err,
                        .errlen = errlen};
    int64_t count, nattrs = 0;
    int b;
    for (;;) {
        if (scan_block(&s, &count) != 0)
            return -1;
        if (count == 0)
            break;
        nattrs += count;
        if (nattrs > HB_EVENT_MAX_ATTRS) {
            snprintf(err, errlen, "avro event has more than %d attributes", HB_EVENT_MAX_ATTRS);
            return -1;
        }
        for (int64_t i = 0; i < count; i++) {
            if (scan_bytes(&s, true) != 0 || scan_branch(&s, ATTR_NBRANCHES, &b) != 0)
                return -1;
            if (b == ATTR_BOOLEAN) {
                if (s.p >= s.end || *s.p > 1)
                    return scan_fail(&s, "bad boolean");
                s.p++;
            } else if (b == ATTR_INT) {
                int64_t v;
                if (scan_long(&s, &v) != 0)
                    return -1;
                if (v < INT32_MIN || v > INT32_MAX)
                    return scan_fail(&s, "int out of range");
            } else if (b == ATTR_STRING || b == ATTR_BYTES) {
                if (scan_bytes(&s, b == ATTR_STRING) != 0)
                    return -1;
            }
        }
    }
    if (scan_slot(&s, SLOT_DATA, 0) != 0)
        return -1;
    if (s.p != s.end)
        return scan_fail(&s, "trailing bytes after the event");
    return 0;
}

/* ---- Decoding ---------------------------------------------------------- */

static cJSON *decode_json(avro_value_t *v, enum slot slot, int depth);

/* Builds the JSON value of an AvroCloudEventData record (unboxing boxes). */
static cJSON *decode_record(avro_value_t *rec, int depth)
{
    avro_value_t map, child;
    const char *key = NULL;
    size_t n;
    cJSON *obj = NULL;
    if (avro_value_get_by_index(rec, 0, &map, NULL) != 0 || avro_value_get_size(&map, &n) != 0)
        return NULL;
    if (n == 1) {
        if (avro_value_get_by_index(&map, 0, &child, &key) != 0)
            return NULL;
        if (strcmp(key, BOX_KEY) == 0)
            return decode_json(&child, SLOT_V2, depth);
    }
    if (depth >= AVRO_MAX_DEPTH || !(obj = cJSON_CreateObject()))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *item = NULL;
        if (avro_value_get_by_index(&map, i, &child, &key) != 0 ||
            !(item = decode_json(&child, SLOT_V2, depth + 1)) ||
            !cJSON_AddItemToObject(obj, key, item)) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            return NULL;
        }
    }
    return obj;
}

/* Builds the JSON value of v, a value of the given slot. NULL on an avro-c
 * error, ENOMEM or too deep nesting (the scanner has ruled out the latter). */
static cJSON *decode_json(avro_value_t *v, enum slot slot, int depth)
{
    avro_value_t br, child;
    int disc, bval;
    double d;
    const char *str, *key;
    size_t n;
    if (slot == SLOT_R)
        return decode_record(v, depth);
    const struct union_desc *u = &unions[slot];
    if (avro_value_get_discriminant(v, &disc) != 0 || avro_value_get_current_branch(v, &br) != 0)
        return NULL;
    if (disc == u->null)
        return cJSON_CreateNull();
    if (disc == u->boolean)
        return avro_value_get_boolean(&br, &bval) ? NULL : cJSON_CreateBool(bval);
    if (disc == u->dbl)
        return avro_value_get_double(&br, &d) ? NULL : cJSON_CreateNumber(d);
    if (disc == u->string)
        return avro_value_get_string(&br, &str, &n) ? NULL : cJSON_CreateString(str);
    if (disc == u->record)
        return decode_record(&br, depth);
    if (disc != u->map && disc != u->array)
        return NULL; /* bytes: handled by the caller */
    bool map = disc == u->map;
    cJSON *c = map ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!c || depth >= AVRO_MAX_DEPTH || avro_value_get_size(&br, &n) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        key = NULL;
        if (avro_value_get_by_index(&br, i, &child, &key) != 0)
            goto fail;
        cJSON *item = decode_json(&child, map ? u->map_child : u->array_child, depth + 1);
        if (!item)
            goto fail;
        if (!(map ? cJSON_AddItemToObject(c, key, item) : cJSON_AddItemToArray(c, item))) {
            cJSON_Delete(item);
            goto fail;
        }
    }
    return c;
fail:
    cJSON_Delete(c);
    return NULL;
}

/* Restores one attribute from its union value. Null attributes are skipped
 * (as in the JSON format). 0, or -1 with err. */
static int decode_attr(struct hb_event *ev, const char *name, avro_value_t *u, char *err,
                       size_t errlen)
{
    avro_value_t br;
    int disc, r = -1, bval;
    int32_t ival;
    const void *bytes;
    const char *str;
    char num[16];
    char *b64 = NULL;
    size_t n;
    if (avro_value_get_discriminant(u, &disc) != 0 || avro_value_get_current_branch(u, &br) != 0)
        return avro_fail(err, errlen, "cannot read attribute");
    switch (disc) {
    case ATTR_NULL: return 0;
    case ATTR_BOOLEAN:
        if (avro_value_get_boolean(&br, &bval) != 0)
            return avro_fail(err, errlen, "cannot read attribute");
        r = hb_event_set_typed(ev, name, bval ? "true" : "false", HB_ATTR_BOOLEAN);
        break;
    case ATTR_INT:
        if (avro_value_get_int(&br, &ival) != 0)
            return avro_fail(err, errlen, "cannot read attribute");
        snprintf(num, sizeof(num), "%" PRId32, ival);
        r = hb_event_set_typed(ev, name, num, HB_ATTR_INTEGER);
        break;
    case ATTR_STRING:
        if (avro_value_get_string(&br, &str, &n) != 0)
            return avro_fail(err, errlen, "cannot read attribute");
        r = hb_event_set(ev, name, str);
        break;
    case ATTR_BYTES:
        if (avro_value_get_bytes(&br, &bytes, &n) != 0)
            return avro_fail(err, errlen, "cannot read attribute");
        if (n > HB_EVENT_MAX_ATTR_VALUE) /* base64 would be longer than the limit anyway */
            break;
        b64 = hb_base64_encode(bytes, n);
        r = b64 ? hb_event_set_typed(ev, name, b64, HB_ATTR_BINARY) : -1;
        free(b64);
        break;
    default: snprintf(err, errlen, "avro: bad attribute branch %d", disc); return -1;
    }
    if (r != 0)
        snprintf(err, errlen, "attribute '%.64s' is invalid, too long, or there are too many",
                 name);
    return r;
}

/* Restores the event's data from the record's data union: bytes as such, a
 * string as its text for non-JSON content types, any other value as compact
 * JSON text. 0, or -1 with err. */
static int decode_data(struct hb_event *ev, avro_value_t *data, char *err, size_t errlen)
{
    const struct union_desc *u = &unions[SLOT_DATA];
    avro_value_t br;
    const void *bytes;
    const char *str;
    size_t n;
    int disc;
    if (avro_value_get_discriminant(data, &disc) != 0 ||
        avro_value_get_current_branch(data, &br) != 0)
        return avro_fail(err, errlen, "cannot read data");
    if (disc == u->null)
        return 0;
    bool text_data = disc == u->string &&
                     !hb_content_type_is_json(hb_event_get(ev, "datacontenttype"));
    if (disc == u->bytes || text_data) {
        if (text_data) {
            if (avro_value_get_string(&br, &str, &n) != 0)
                return avro_fail(err, errlen, "cannot read data");
            bytes = str;
            n = n ? n - 1 : 0; /* the size avro-c gives includes the NUL */
        } else if (avro_value_get_bytes(&br, &bytes, &n) != 0) {
            return avro_fail(err, errlen, "cannot read data");
        }
        if (hb_event_set_data(ev, bytes, n) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    cJSON *j = decode_json(data, SLOT_DATA, 0);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    int rc = text && hb_event_set_data(ev, text, strlen(text)) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "%s",
                 j ? "out of memory" : "avro: cannot convert data to JSON (too deep or ENOMEM)");
    cJSON_free(text);
    cJSON_Delete(j);
    return rc;
}

int hb_avro_decode(const void *buf, size_t len, struct hb_event **out, char *err, size_t errlen)
{
    avro_value_iface_t *iface = get_iface(err, errlen);
    avro_value_t rec, field, child;
    avro_reader_t rd = NULL;
    struct hb_event *ev = NULL;
    bool have_rec = false;
    const char *name;
    size_t n;
    int rc = -1;
    *out = NULL;
    if (!iface)
        return -1;
    if (len > AVRO_MAX_INPUT) {
        snprintf(err, errlen, "avro event of %zu bytes exceeds the %u byte limit", len,
                 AVRO_MAX_INPUT);
        return -1;
    }
    if (!buf) {
        snprintf(err, errlen, "malformed avro event: no input");
        return -1;
    }
    if (scan_event(buf, len, err, errlen) != 0)
        return -1;
    if (avro_generic_value_new(iface, &rec) != 0) {
        avro_fail(err, errlen, "cannot create record");
        goto done;
    }
    have_rec = true;
    rd = avro_reader_memory(buf, (int64_t)len);
    if (!rd) {
        avro_fail(err, errlen, "cannot create reader");
        goto done;
    }
    if (avro_value_read(rd, &rec) != 0) {
        avro_fail(err, errlen, "cannot read event");
        goto done;
    }
    if (!(ev = hb_event_new())) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (avro_value_get_by_index(&rec, 0, &field, NULL) != 0 ||
        avro_value_get_size(&field, &n) != 0) {
        avro_fail(err, errlen, "cannot read attributes");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (avro_value_get_by_index(&field, i, &child, &name) != 0) {
            avro_fail(err, errlen, "cannot read attribute");
            goto done;
        }
        if (decode_attr(ev, name, &child, err, errlen) != 0)
            goto done;
    }
    if (avro_value_get_by_index(&rec, 1, &field, NULL) != 0) {
        avro_fail(err, errlen, "cannot read data");
        goto done;
    }
    if (decode_data(ev, &field, err, errlen) != 0 || hb_event_check(ev, err, errlen) != 0)
        goto done;
    *out = ev;
    ev = NULL;
    rc = 0;
done:
    hb_event_free(ev);
    if (rd)
        avro_reader_free(rd);
    if (have_rec)
        avro_value_decref(&rec);
    return rc;
}
