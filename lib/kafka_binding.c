/* kafka_binding.c: the CloudEvents Kafka protocol binding: binary and
 * structured content modes (and avro values), encode and decode with mode
 * detection per message. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"
#include "hookbus/kafka.h"
#include "hookbus/util.h"

#define CE_PREFIX "ce_"

const char *hb_ce_mode_name(enum hb_ce_mode m)
{
    switch (m) {
    case HB_CE_BINARY: return "binary";
    case HB_CE_STRUCTURED: return "structured";
    case HB_CE_AVRO: return "avro";
    }
    return "?";
}

int hb_ce_mode_parse(const char *s, enum hb_ce_mode *out)
{
    for (int m = HB_CE_BINARY; m <= HB_CE_AVRO; m++) {
        if (strcmp(s, hb_ce_mode_name((enum hb_ce_mode)m)) == 0) {
            *out = (enum hb_ce_mode)m;
            return 0;
        }
    }
    return -1;
}

void hb_kafka_msg_clear(struct hb_kafka_msg *m)
{
    free(m->key);
    free(m->value);
    if (m->headers)
        rd_kafka_headers_destroy(m->headers);
    memset(m, 0, sizeof(*m));
}

int hb_kafka_encode(const struct hb_event *ev, enum hb_ce_mode mode, struct hb_kafka_msg *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (hb_event_validate(ev, err, errlen) < 0)
        return -1;
    out->headers = rd_kafka_headers_new(ev->nattrs + 1);
    const char *pk = hb_event_get(ev, "partitionkey");
    if (pk) {
        out->key = strdup(pk);
        out->key_len = strlen(pk);
        if (!out->key)
            goto nomem;
    }
    if (mode == HB_CE_BINARY) {
        char hname[sizeof(CE_PREFIX) + HB_EVENT_MAX_ATTR_NAME];
        memcpy(hname, CE_PREFIX, sizeof(CE_PREFIX) - 1);
        for (size_t i = 0; i < ev->nattrs; i++) {
            const struct hb_attr *a = &ev->attrs[i];
            rd_kafka_resp_err_t e;
            if (strcmp(a->name, "datacontenttype") == 0) {
                e = rd_kafka_header_add(out->headers, "content-type", -1, a->value, -1);
            } else { /* a valid name: at most HB_EVENT_MAX_ATTR_NAME bytes */
                size_t n = strlen(a->name);
                memcpy(hname + sizeof(CE_PREFIX) - 1, a->name, n);
                e = rd_kafka_header_add(out->headers, hname, (ssize_t)(sizeof(CE_PREFIX) - 1 + n),
                                        a->value, -1);
            }
            if (e)
                goto nomem;
        }
        if (ev->data) {
            out->value = malloc(ev->data_len ? ev->data_len : 1);
            if (!out->value)
                goto nomem;
            memcpy(out->value, ev->data, ev->data_len);
            out->value_len = ev->data_len;
        }
        return 0;
    }
    if (mode == HB_CE_STRUCTURED) {
        char *json = hb_event_to_json(ev);
        if (!json)
            goto nomem;
        out->value = json;
        out->value_len = strlen(json);
        rd_kafka_header_add(out->headers, "content-type", -1, HB_CT_CE_JSON "; charset=UTF-8", -1);
        return 0;
    }
    if (hb_avro_encode(ev, &out->value, &out->value_len, err, errlen) < 0)
        goto fail;
    rd_kafka_header_add(out->headers, "content-type", -1, HB_CT_CE_AVRO, -1);
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    hb_kafka_msg_clear(out);
    return -1;
}

/* Copies a header value into a NUL-terminated string; NULL if it contains NUL
 * or is too long. */
static char *header_str(const void *v, size_t n)
{
    if (n > HB_EVENT_MAX_ATTR_VALUE || (v && memchr(v, '\0', n)))
        return NULL;
    return hb_strndup(v ? v : "", n);
}

/* Finds the last header named name (case-insensitively) and returns a copy. */
static char *find_header(const rd_kafka_headers_t *h, const char *name)
{
    const char *hn;
    const void *v;
    size_t n;
    char *found = NULL;
    for (size_t i = 0; h && rd_kafka_header_get_all(h, i, &hn, &v, &n) == 0; i++) {
        if (strcasecmp(hn, name) == 0) {
            free(found);
            found = header_str(v, n);
        }
    }
    return found;
}

static int decode_binary(const void *value, size_t len, const rd_kafka_headers_t *h,
                         struct hb_event **out, char *err, size_t errlen)
{
    struct hb_event *ev = hb_event_new();
    const char *hn;
    const void *v;
    size_t n;
    char name[72];
    if (!ev)
        goto nomem;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &hn, &v, &n) == 0; i++) {
        const char *attr;
        if (strncasecmp(hn, CE_PREFIX, 3) == 0) {
            attr = hn + 3;
        } else if (strcasecmp(hn, "content-type") == 0) {
            attr = "datacontenttype";
        } else {
            continue;
        }
        if (hb_strlcpy(name, attr, sizeof(name)) < 0 || !hb_attr_name_valid(hb_str_lower(name))) {
            snprintf(err, errlen, "invalid CloudEvents header '%.80s'", hn);
            goto fail;
        }
        char *s = header_str(v, n);
        if (!s) {
            snprintf(err, errlen, "header '%s' is too long or holds a NUL byte", hn);
            goto fail;
        }
        int r = hb_event_set(ev, name, s);
        free(s);
        if (r < 0) {
            snprintf(err, errlen, "too many attributes");
            goto fail;
        }
    }
    if (value && hb_event_set_data(ev, value, len) < 0)
        goto nomem;
    if (hb_event_check(ev, err, errlen) < 0)
        goto fail;
    *out = ev;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    hb_event_free(ev);
    return -1;
}

int hb_kafka_decode(const void *value, size_t value_len, const void *key, size_t key_len,
                    const rd_kafka_headers_t *headers, struct hb_event **out, enum hb_ce_mode *mode,
                    char *err, size_t errlen)
{
    (void)key;
    (void)key_len;
    *out = NULL;
    char *ct = find_header(headers, "content-type");
    char *spec = find_header(headers, CE_PREFIX "specversion");
    int r = -1;
    if (ct && strncasecmp(ct, "application/cloudevents", 23) == 0) {
        char *lower = hb_str_lower(ct);
        if (hb_str_has_prefix(lower, HB_CT_CE_AVRO)) {
            *mode = HB_CE_AVRO;
            r = hb_avro_decode(value, value_len, out, err, errlen);
        } else if (hb_str_has_prefix(lower, HB_CT_CE_JSON)) {
            *mode = HB_CE_STRUCTURED;
            r = hb_event_from_json(value ? value : "", value_len, out, err, errlen);
        } else {
            snprintf(err, errlen, "unsupported CloudEvents content type '%.100s'", ct);
        }
    } else if (spec) {
        *mode = HB_CE_BINARY;
        r = decode_binary(value, value_len, headers, out, err, errlen);
    } else {
        snprintf(err, errlen,
                 "not a CloudEvent: no ce_specversion header and no "
                 "application/cloudevents content-type");
    }
    free(ct);
    free(spec);
    return r;
}

int hb_kafka_decode_message(const rd_kafka_message_t *rkm, struct hb_event **out,
                            enum hb_ce_mode *mode, char *err, size_t errlen)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    return hb_kafka_decode(rkm->payload, rkm->len, rkm->key, rkm->key_len, h, out, mode, err,
                           errlen);
}
