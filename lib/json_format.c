/* json_format.c: the CloudEvents JSON event format, encode and decode. */
#include "hookbus/format.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

/* cJSON neither checks the encoding nor stops at a NUL inside a string (it
 * truncates the value there): neither may pass as JSON (found by fuzzing, as
 * the control characters). cJSON also takes any control character for
 * whitespace (and inside strings); RFC 8259 allows only tab, newline and
 * carriage return, and only between tokens. Such text would reach consumers
 * as invalid JSON. One pass: 8 printable ASCII bytes at a time (no high bit,
 * none below 0x20; a borrow only ever flags a byte after one below 0x20),
 * byte by byte otherwise, and the UTF-8 check only when a byte needs it. */
static bool ws_outside_strings(const unsigned char *p, size_t n);

static bool json_bytes_ok(const unsigned char *p, size_t n)
{
    bool ascii = true, ws = false;
    size_t i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!((w | (w - 0x2020202020202020ULL)) & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = p[i++];
        if (c >= 0x80)
            ascii = false;
        else if (c < 0x20) {
            if (c != '\t' && c != '\n' && c != '\r')
                return false;
            ws = true;
        }
    }
    return (!ws || ws_outside_strings(p, n)) && (ascii || hb_utf8_valid(p, n));
}

/* Tab, newline and carriage return are JSON only between tokens: inside a
 * string they must be escaped, though cJSON takes them raw. Refusing them
 * there also means a raw newline in accepted JSON is always whitespace, so
 * a JSON line may turn it into a space (hb_event_to_json_line). Walked only
 * for text that has such a byte at all. */
static bool ws_outside_strings(const unsigned char *p, size_t n)
{
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '\\') {
            i++; /* the escaped byte, whatever it is */
        } else if (c == '"') {
            in_string = false;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            return false;
        }
    }
    return true;
}

/* True if the text has the escape \u0000 (a backslash that is itself not
 * escaped, then u0000). It is valid JSON, but cJSON ends the string there:
 * "refs/heads/main\u0000evil" would be taken as "refs/heads/main", so
 * such text is refused rather than silently cut. */
static bool json_has_nul_escape(const char *buf, size_t len)
{
    /* From backslash to backslash (rare in webhook JSON, and memchr is fast):
     * a run of an odd count escapes what follows it. */
    const char *p = buf, *end = buf + len;
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        const char *run = p;
        while (p < end && *p == '\\')
            p++;
        if ((p - run) % 2 == 1 && end - p >= 5 && memcmp(p, "u0000", 5) == 0)
            return true;
    }
    return false;
}

void *hb_json_parse(const char *buf, size_t len)
{
    const char *end = NULL;
    if (!json_bytes_ok((const unsigned char *)buf, len) || json_has_nul_escape(buf, len))
        return NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (!v)
        return NULL;
    for (; end && end < buf + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            cJSON_Delete(v);
            return NULL;
        }
    }
    return v;
}

static bool json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Adds the event's data to obj: JSON data that parses goes in verbatim as a
 * raw JSON value (no re-serialization, so large integers and the sender's
 * spelling survive), other data as base64. */
static int add_data(cJSON *obj, const struct hb_event *ev)
{
    if (!ev->data)
        return 0;
    /* The decoder takes the value's span: whitespace around it would be lost,
     * so such data goes as base64 to stay byte for byte (found by fuzzing). */
    bool padded = ev->data_len &&
                  (json_space(ev->data[0]) || json_space(ev->data[ev->data_len - 1]));
    if (!padded && hb_content_type_is_json(hb_event_get(ev, "datacontenttype"))) {
        cJSON *parsed = (cJSON *)hb_json_parse((const char *)ev->data, ev->data_len);
        /* "data": null reads back as no data: the bytes "null" go as base64. */
        bool as_json = parsed && !cJSON_IsNull(parsed);
        cJSON_Delete(parsed);
        if (as_json) {
            char *text = hb_strndup((const char *)ev->data, ev->data_len);
            if (!text)
                return -1;
            cJSON *raw = cJSON_CreateRaw(text);
            free(text);
            return raw && cJSON_AddItemToObject(obj, "data", raw) ? 0 : -1;
        }
    }
    char *b64 = hb_base64_encode(ev->data, ev->data_len);
    if (!b64)
        return -1;
    cJSON *s = cJSON_AddStringToObject(obj, "data_base64", b64);
    free(b64);
    return s ? 0 : -1;
}

char *hb_event_to_json(const struct hb_event *ev)
{
    char *out = NULL;
    cJSON *obj = cJSON_CreateObject();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < ev->nattrs; i++) {
        const struct hb_attr *a = &ev->attrs[i];
        cJSON *item;
        long n;
        if (a->type == HB_ATTR_INTEGER &&
            hb_parse_long(a->value, -2147483648L, 2147483647L, &n) == 0)
            item = cJSON_CreateNumber((double)n);
        else if (a->type == HB_ATTR_BOOLEAN)
            item = cJSON_CreateBool(strcmp(a->value, "true") == 0);
        else
            item = cJSON_CreateString(a->value);
        if (!item || !cJSON_AddItemToObject(obj, a->name, item)) {
            cJSON_Delete(item);
            goto done;
        }
    }
    if (add_data(obj, ev) == 0)
        out = cJSON_PrintUnformatted(obj);
done:
    cJSON_Delete(obj);
    return out;
}

char *hb_event_to_json_line(const struct hb_event *ev)
{
    char *json = hb_event_to_json(ev);
    /* JSON data goes in verbatim and may be pretty-printed; its raw line
     * breaks are whitespace between tokens (hb_json_parse refuses them in
     * strings), so a space keeps the same JSON on one line. */
    for (char *p = json; p && *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return json;
}

/* Converts one JSON member to an attribute. Numbers must be integral int32. */
static int set_attr(struct hb_event *ev, const cJSON *it, char *err, size_t errlen)
{
    char num[32];
    if (!hb_attr_name_valid(it->string)) {
        snprintf(err, errlen, "invalid attribute name '%.64s'", it->string);
        return -1;
    }
    if (cJSON_IsNull(it))
        return 0;
    if (cJSON_IsString(it)) {
        if (hb_event_set(ev, it->string, it->valuestring) < 0)
            goto bad;
        return 0;
    }
    if (cJSON_IsBool(it)) {
        if (hb_event_set_typed(ev, it->string, cJSON_IsTrue(it) ? "true" : "false",
                               HB_ATTR_BOOLEAN) < 0)
            goto bad;
        return 0;
    }
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        /* Range first: converting an out-of-range double is undefined. */
        if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != (double)(long)d) {
            snprintf(err, errlen, "attribute '%s' is not a 32-bit integer", it->string);
            return -1;
        }
        snprintf(num, sizeof(num), "%ld", (long)d);
        if (hb_event_set_typed(ev, it->string, num, HB_ATTR_INTEGER) < 0)
            goto bad;
        return 0;
    }
    snprintf(err, errlen, "attribute '%s' must be a string, number or boolean", it->string);
    return -1;
bad:
    snprintf(err, errlen, "attribute '%s' is too long or there are too many attributes",
             it->string);
    return -1;
}

int hb_event_from_cjson(const void *vobj, struct hb_event **out, char *err, size_t errlen)
{
    const cJSON *obj = vobj;
    struct hb_event *ev = NULL;
    char *text = NULL;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "a structured CloudEvent must be a JSON object");
        return -1;
    }
    ev = hb_event_new();
    if (!ev)
        goto nomem;
    const cJSON *data = NULL, *data_b64 = NULL;
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (strcmp(it->string, "data") == 0) {
            data = it;
        } else if (strcmp(it->string, "data_base64") == 0) {
            data_b64 = it;
        } else if (set_attr(ev, it, err, errlen) < 0) {
            goto fail;
        }
    }
    if (data && data_b64) {
        snprintf(err, errlen, "'data' and 'data_base64' are mutually exclusive");
        goto fail;
    }
    if (data_b64 && !cJSON_IsNull(data_b64)) {
        size_t n;
        unsigned char *bytes;
        if (!cJSON_IsString(data_b64) ||
            !(bytes = hb_base64_decode(data_b64->valuestring, strlen(data_b64->valuestring), &n))) {
            snprintf(err, errlen, "'data_base64' is not valid base64");
            goto fail;
        }
        int r = hb_event_set_data(ev, bytes, n);
        free(bytes);
        if (r < 0)
            goto nomem;
    } else if (data && !cJSON_IsNull(data)) {
        /* text is cJSON's (cJSON_free): this runs inside the gateway's arena. */
        const char *bytes = data->valuestring;
        if (!cJSON_IsString(data) || hb_content_type_is_json(hb_event_get(ev, "datacontenttype")))
            bytes = text = cJSON_PrintUnformatted(data);
        if (!bytes || hb_event_set_data(ev, bytes, strlen(bytes)) < 0)
            goto nomem;
    }
    if (hb_event_check(ev, err, errlen) < 0)
        goto fail;
    cJSON_free(text);
    *out = ev;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    cJSON_free(text);
    hb_event_free(ev);
    return -1;
}

/* A small scanner over JSON text that cJSON has already accepted, used to
 * find where a member's value starts and ends so that JSON data can be kept
 * byte for byte (cJSON would re-print numbers as doubles). Every step is
 * bounds-checked anyway; NULL means "not found / not as expected". */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    size_t depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* The span of the last top-level member spelled exactly "key" (no escapes). */
static const char *member_span(const char *buf, size_t len, const char *key, size_t *vlen)
{
    const char *p = skip_ws(buf, buf + len), *end = buf + len, *found = NULL;
    size_t klen = strlen(key);
    if (p >= end || *p != '{')
        return NULL;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *k = p + 1, *after = skip_string(p, end);
        if (!after)
            return NULL;
        bool match = (size_t)(after - 1 - k) == klen && memcmp(k, key, klen) == 0;
        p = skip_ws(after, end);
        if (p >= end || *p != ':')
            return NULL;
        const char *v = skip_ws(p + 1, end), *vend = skip_value(v, end);
        if (!vend)
            return NULL;
        if (match) {
            found = v;
            *vlen = (size_t)(vend - v);
        }
        p = skip_ws(vend, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return found;
}

int hb_event_from_json(const char *buf, size_t len, struct hb_event **out, char *err, size_t errlen)
{
    cJSON *obj = (cJSON *)hb_json_parse(buf, len);
    if (!obj) {
        snprintf(err, errlen, "malformed JSON");
        return -1;
    }
    int r = hb_event_from_cjson(obj, out, err, errlen);
    /* JSON data: keep the sender's bytes rather than cJSON's re-print. */
    const cJSON *data = NULL; /* the last "data", as hb_event_from_cjson takes it */
    for (const cJSON *it = r == 0 ? obj->child : NULL; it; it = it->next)
        if (strcmp(it->string, "data") == 0)
            data = it;
    if (r == 0 && data && !cJSON_IsNull(data) &&
        !(cJSON_IsString(data) &&
          !hb_content_type_is_json(hb_event_get(*out, "datacontenttype")))) {
        size_t vlen = 0;
        const char *v = member_span(buf, len, "data", &vlen);
        if (v && hb_event_set_data(*out, v, vlen) < 0) {
            hb_event_free(*out);
            *out = NULL;
            snprintf(err, errlen, "out of memory");
            r = -1;
        }
    }
    cJSON_Delete(obj);
    return r;
}
