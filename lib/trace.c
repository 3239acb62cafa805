/* trace.c: W3C Trace Context: parsing and formatting traceparent, checking
 * tracestate, drawing span ids. */
#include "hookbus/trace.h"

#include <stdio.h>
#include <string.h>

#include "hookbus/crypto.h"
#include "hookbus/util.h"

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

static unsigned hex_val(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

int hb_trace_parse(const char *tp, struct hb_trace *out)
{
    if (!tp)
        return -1;
    size_t len = strnlen(tp, HB_TRACEPARENT_MAX + 1);
    /* version "-" trace-id "-" parent-id "-" flags: the layout of every
     * version; a future version may append "-" and more fields. */
    if (len < HB_TRACEPARENT_LEN || len > HB_TRACEPARENT_MAX)
        return -1;
    if (!lower_hex(tp, 2) || tp[2] != '-' || !lower_hex(tp + 3, 32) || tp[35] != '-' ||
        !lower_hex(tp + 36, 16) || tp[52] != '-' || !lower_hex(tp + 53, 2))
        return -1;
    if (strncmp(tp, "ff", 2) == 0)
        return -1;
    if (strncmp(tp, "00", 2) == 0 ? len != HB_TRACEPARENT_LEN
                                  : len > HB_TRACEPARENT_LEN && tp[HB_TRACEPARENT_LEN] != '-')
        return -1;
    if (all_zero(tp + 3, 32) || all_zero(tp + 36, 16))
        return -1;
    memcpy(out->trace_id, tp + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, tp + 36, 16);
    out->span_id[16] = '\0';
    out->parent_id[0] = '\0';
    out->flags = hex_val(tp[53]) << 4 | hex_val(tp[54]);
    /* Of a future version only the flags version 00 knows are kept. */
    if (strncmp(tp, "00", 2) != 0)
        out->flags &= HB_TRACE_SAMPLED;
    return 0;
}

/* key = simple-key / tenant "@" system: lcalpha first (a tenant id may
 * start with a digit), then lcalpha, digit, _ - * /; a simple key of at most
 * 256 characters, tenant at most 241, system at most 14. */
static bool key_valid(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    size_t tenant = at ? (size_t)(at - k) : n;
    if (n == 0 || n > 256 + (at ? 1 + 14 : 0) || tenant == 0)
        return false;
    if (at && (n - tenant - 1 == 0 || n - tenant - 1 > 14 || tenant > 241 ||
               memchr(at + 1, '@', n - tenant - 1)))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        bool first = i == 0 || (at && k + i == at + 1);
        if (k + i == at)
            continue;
        /* A tenant id may start with a digit; a simple key or system id not. */
        bool digit_ok = !first || (at && i == 0);
        bool ok = (c >= 'a' && c <= 'z') || (digit_ok && c >= '0' && c <= '9') ||
                  (!first && (c == '_' || c == '-' || c == '*' || c == '/'));
        if (!ok)
            return false;
    }
    return true;
}

/* value: 1 to 256 printable ASCII characters but ',' and '=', not ending in
 * a space. */
static bool value_valid(const char *v, size_t n)
{
    if (n == 0 || n > 256 || v[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
            return false;
    return true;
}

bool hb_tracestate_valid(const char *ts)
{
    if (!ts)
        return false;
    size_t len = strnlen(ts, HB_TRACESTATE_MAX + 1);
    if (len > HB_TRACESTATE_MAX)
        return false;
    size_t members = 0;
    const char *p = ts, *end = ts + len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a < b) {
            const char *eq = memchr(a, '=', (size_t)(b - a));
            if (!eq || !key_valid(a, (size_t)(eq - a)) ||
                !value_valid(eq + 1, (size_t)(b - eq - 1)) || ++members > HB_TRACESTATE_MEMBERS)
                return false;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return members > 0;
}

/* A random non-zero id of n bytes as hex. */
static int random_id(size_t n, char *out)
{
    for (int tries = 0; tries < 4; tries++)
        if (hb_random_hex(n, out) == 0 && !all_zero(out, 2 * n))
            return 0;
    return -1;
}

int hb_trace_new(struct hb_trace *out)
{
    if (random_id(16, out->trace_id) < 0 || random_id(8, out->span_id) < 0)
        return -1;
    out->parent_id[0] = '\0';
    out->flags = HB_TRACE_SAMPLED;
    return 0;
}

int hb_trace_child(const struct hb_trace *parent, struct hb_trace *out)
{
    struct hb_trace t;
    if (random_id(8, t.span_id) < 0)
        return -1;
    memcpy(t.trace_id, parent->trace_id, sizeof(t.trace_id));
    memcpy(t.parent_id, parent->span_id, sizeof(t.parent_id));
    t.flags = parent->flags;
    *out = t;
    return 0;
}

void hb_trace_format(const struct hb_trace *t, char out[HB_TRACEPARENT_SIZE])
{
    snprintf(out, HB_TRACEPARENT_SIZE, "00-%.32s-%.16s-%02x", t->trace_id, t->span_id,
             t->flags & 0xffu);
}

const char *hb_trace_id_of(const struct hb_event *ev, char out[HB_TRACE_ID_HEX + 1])
{
    struct hb_trace t;
    out[0] = '\0';
    if (ev && hb_trace_parse(hb_event_get(ev, "traceparent"), &t) == 0)
        memcpy(out, t.trace_id, HB_TRACE_ID_HEX + 1);
    return out;
}

int hb_trace_action(const struct hb_event *ev, struct hb_trace *out)
{
    struct hb_trace in;
    if (ev && hb_trace_parse(hb_event_get(ev, "traceparent"), &in) == 0)
        return hb_trace_child(&in, out);
    return hb_trace_new(out);
}
