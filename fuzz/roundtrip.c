/* roundtrip.c: decode(encode(ev)) keeps what the format can carry. */
#include "roundtrip.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"
#include "hookbus/kafka.h"

/* Whether an attribute's type survives mode. Spec attributes are typed by
 * name in every mode; extension types are carried only by the formats that
 * have them (JSON: integer, boolean; Avro: those and bytes). */
static bool type_kept(const struct hb_attr *a, enum hb_ce_mode mode)
{
    if (hb_attr_spec_type(a->name) != HB_ATTR_STRING)
        return true;
    switch (a->type) {
    case HB_ATTR_INTEGER:
    case HB_ATTR_BOOLEAN: return mode != HB_CE_BINARY;
    case HB_ATTR_BINARY: return mode == HB_CE_AVRO;
    default: return mode == HB_CE_BINARY || a->type == HB_ATTR_STRING;
    }
}

/* True when an object anywhere in j repeats a member name (JSON leaves the
 * meaning open; an Avro map keeps one of them). */
static bool duplicate_names(const cJSON *j)
{
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next) {
        if (duplicate_names(c))
            return true;
        for (const cJSON *d = c->next; cJSON_IsObject(j) && d; d = d->next)
            if (strcmp(c->string, d->string) == 0)
                return true;
    }
    return false;
}

/* Avro carries JSON data as a JSON value (re-serialized compactly,
 * lib/avro_format.c); every other mode byte for byte. */
static bool same_data(const struct hb_event *a, const struct hb_event *b, enum hb_ce_mode mode)
{
    /* Avro's null data branch is JSON null and "no data" at once (by design,
     * schemas/README.md). */
    if (mode == HB_CE_AVRO && a->data && !b->data && a->data_len == 4 &&
        memcmp(a->data, "null", 4) == 0 &&
        hb_content_type_is_json(hb_event_get(a, "datacontenttype")))
        return true;
    if (!a->data != !b->data)
        return false;
    if (!a->data)
        return true;
    if (a->data_len == b->data_len && memcmp(a->data, b->data, a->data_len) == 0)
        return true;
    if (mode != HB_CE_AVRO || !hb_content_type_is_json(hb_event_get(a, "datacontenttype")))
        return false;
    cJSON *ja = hb_json_parse((const char *)a->data, a->data_len);
    cJSON *jb = hb_json_parse((const char *)b->data, b->data_len);
    bool same = ja && jb && (cJSON_Compare(ja, jb, true) || duplicate_names(ja));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return same;
}

static void fail(const char *what, enum hb_ce_mode mode, const char *detail)
{
    fprintf(stderr, "round trip (%s): %s%s%s\n", hb_ce_mode_name(mode), what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

void fuzz_check_roundtrip(const struct hb_event *ev)
{
    char err[256];
    if (hb_event_validate(ev, err, sizeof(err)) < 0)
        fail("a decoded event does not validate", HB_CE_BINARY, err);
    for (int i = HB_CE_BINARY; i <= HB_CE_AVRO; i++) {
        enum hb_ce_mode mode = (enum hb_ce_mode)i, got;
        struct hb_kafka_msg msg = {0};
        struct hb_event *back = NULL;
        if (hb_kafka_encode(ev, mode, &msg, err, sizeof(err)) < 0)
            fail("encode", mode, err);
        if (hb_kafka_decode(msg.value, msg.value_len, msg.key, msg.key_len, msg.headers, &back,
                            &got, err, sizeof(err)) < 0)
            fail("decode", mode, err);
        if (got != mode)
            fail("detected another mode", mode, hb_ce_mode_name(got));
        if (back->nattrs != ev->nattrs)
            fail("attribute count", mode, NULL);
        for (size_t k = 0; k < ev->nattrs; k++) {
            const struct hb_attr *a = &ev->attrs[k], *b = hb_event_find(back, a->name);
            if (!b || strcmp(a->value, b->value) != 0)
                fail("attribute value", mode, a->name);
            if (type_kept(a, mode) && a->type != b->type)
                fail("attribute type", mode, a->name);
        }
        if (!same_data(ev, back, mode)) {
            fprintf(stderr, "data: %zu bytes [%.*s] came back as %zu bytes [%.*s]\n", ev->data_len,
                    (int)(ev->data_len > 200 ? 200 : ev->data_len),
                    ev->data ? (const char *)ev->data : "", back->data_len,
                    (int)(back->data_len > 200 ? 200 : back->data_len),
                    back->data ? (const char *)back->data : "");
            fail("data", mode, NULL);
        }
        hb_event_free(back);
        hb_kafka_msg_clear(&msg);
    }
}

void fuzz_check_decoded(int rc, struct hb_event *ev)
{
    if (rc == 0) {
        fuzz_check_roundtrip(ev);
        hb_event_free(ev);
    }
}
