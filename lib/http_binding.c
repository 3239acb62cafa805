/* http_binding.c: CloudEvents HTTP binding helpers: percent-encoded header
 * values and template bodies (see hookbus/http_binding.h). */
#include "hookbus/http_binding.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/format.h"

int hb_http_header_encode(const char *v, struct hb_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p > 0x20 && *p < 0x7f && *p != '"' && *p != '%') {
            if (hb_buf_append(out, p, 1) < 0)
                return -1;
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (hb_buf_append(out, e, 3) < 0)
                return -1;
        }
    }
    return 0;
}

/* The length of the placeholder name starting at s (after "${"), or -1. */
static long placeholder_len(const char *s)
{
    const char *end = strchr(s, '}');
    if (!end || end == s || memchr(s, '{', (size_t)(end - s)) || end - s > 256)
        return -1;
    return end - s;
}

int hb_template_check(const char *tmpl, char *err, size_t errlen)
{
    for (const char *p = tmpl; (p = strchr(p, '$'));) {
        if (p[1] == '$') {
            p += 2;
        } else if (p[1] == '{') {
            long n = placeholder_len(p + 2);
            if (n < 0) {
                snprintf(err, errlen, "unterminated or empty placeholder at offset %ld",
                         (long)(p - tmpl));
                return -1;
            }
            p += 2 + n + 1;
        } else {
            p++;
        }
    }
    return 0;
}

/* Appends s JSON-escaped, without the quotes. */
static int append_escaped(struct hb_buf *b, const char *s)
{
    char *q = NULL;
    cJSON *str = cJSON_CreateString(s);
    if (str)
        q = cJSON_PrintUnformatted(str);
    cJSON_Delete(str);
    if (!q)
        return -1;
    size_t n = strlen(q);
    int r = hb_buf_append(b, q + 1, n - 2);
    cJSON_free(q);
    return r;
}

/* Walks data.a.b (objects by key, arrays by index). */
static const cJSON *data_field(const cJSON *root, const char *path, size_t len)
{
    const cJSON *cur = root;
    char name[257];
    while (cur && len) {
        size_t n = 0;
        while (n < len && path[n] != '.')
            n++;
        if (n >= sizeof(name))
            return NULL;
        memcpy(name, path, n);
        name[n] = '\0';
        if (cJSON_IsArray(cur)) {
            char *end;
            long i = strtol(name, &end, 10);
            cur = *name && !*end && i >= 0 ? cJSON_GetArrayItem(cur, (int)i) : NULL;
        } else {
            cur = cJSON_GetObjectItemCaseSensitive(cur, name);
        }
        path += n;
        len -= n;
        if (len) { /* skip the dot */
            path++;
            len--;
        }
    }
    return cur;
}

static int append_value(struct hb_buf *b, const struct hb_event *ev, cJSON **data, bool *parsed,
                        const char *name, size_t n)
{
    char attr[257];
    if (n >= 5 && memcmp(name, "data.", 5) == 0) {
        if (!*parsed) {
            *parsed = true;
            if (ev->data && hb_content_type_is_json(hb_event_get(ev, "datacontenttype")))
                *data = hb_json_parse((const char *)ev->data, ev->data_len);
        }
        const cJSON *v = *data ? data_field(*data, name + 5, n - 5) : NULL;
        if (!v || cJSON_IsNull(v))
            return 0;
        if (cJSON_IsString(v))
            return append_escaped(b, v->valuestring);
        char *text = cJSON_PrintUnformatted(v);
        int r = text ? append_escaped(b, text) : -1;
        cJSON_free(text);
        return r;
    }
    if (n >= sizeof(attr))
        return 0;
    memcpy(attr, name, n);
    attr[n] = '\0';
    const char *v = hb_event_get(ev, attr);
    return v ? append_escaped(b, v) : 0;
}

char *hb_template_render(const char *tmpl, const struct hb_event *ev, size_t max, char *err,
                         size_t errlen)
{
    struct hb_buf b;
    cJSON *data = NULL;
    bool parsed = false;
    const char *p = tmpl;
    if (hb_template_check(tmpl, err, errlen) < 0)
        return NULL;
    hb_buf_init(&b, max);
    for (;;) {
        const char *d = strchr(p, '$');
        if (!d) {
            if (hb_buf_puts(&b, p) < 0)
                goto full;
            break;
        }
        if (hb_buf_append(&b, p, (size_t)(d - p)) < 0)
            goto full;
        if (d[1] == '$') {
            if (hb_buf_append(&b, "$", 1) < 0)
                goto full;
            p = d + 2;
        } else if (d[1] == '{') {
            long n = placeholder_len(d + 2);
            if (append_value(&b, ev, &data, &parsed, d + 2, (size_t)n) < 0)
                goto full;
            p = d + 2 + n + 1;
        } else {
            if (hb_buf_append(&b, "$", 1) < 0)
                goto full;
            p = d + 1;
        }
    }
    cJSON_Delete(data);
    return hb_buf_steal(&b);
full:
    cJSON_Delete(data);
    hb_buf_free(&b);
    snprintf(err, errlen, "the rendered body exceeds %zu bytes", max);
    return NULL;
}
