/* event.c: the CloudEvents v1.0 event model: attributes, data, validation. */
#include "hookbus/event.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

static const struct {
    const char *name;
    enum hb_attr_type type;
} spec_attrs[] = {
    {"specversion", HB_ATTR_STRING},     {"id", HB_ATTR_STRING},
    {"source", HB_ATTR_URI_REF},         {"type", HB_ATTR_STRING},
    {"datacontenttype", HB_ATTR_STRING}, {"dataschema", HB_ATTR_URI},
    {"subject", HB_ATTR_STRING},         {"time", HB_ATTR_TIMESTAMP},
};
/* Indexes into spec_attrs: the first SPEC_REQUIRED are required. */
enum { SPEC_SPECVERSION = 0, SPEC_REQUIRED = 4, SPEC_DATACONTENTTYPE = 4, SPEC_SUBJECT = 6 };

/* The index of name in spec_attrs, or -1 for an extension. */
static int spec_index(const char *name)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(spec_attrs); i++)
        if (name[0] == spec_attrs[i].name[0] && strcmp(spec_attrs[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int attr_problem(const struct hb_attr *a, int spec, char *err, size_t errlen);

/* True when a checked event stays valid with a (just set): the attribute
 * alone is checked, not the whole event again. */
static bool still_valid(const struct hb_attr *a)
{
    char ignored[8];
    int si = spec_index(a->name);
    if (attr_problem(a, si, ignored, sizeof(ignored)) < 0)
        return false;
    if (si >= 0 && si < SPEC_REQUIRED && !*a->value)
        return false;
    return si != SPEC_SPECVERSION || strcmp(a->value, "1.0") == 0;
}

enum hb_attr_type hb_attr_spec_type(const char *name)
{
    int i = spec_index(name);
    return i < 0 ? HB_ATTR_STRING : spec_attrs[i].type;
}

const char *hb_attr_type_name(enum hb_attr_type t)
{
    static const char *const names[] = {"String", "Integer",       "Boolean",  "Binary",
                                        "URI",    "URI-reference", "Timestamp"};
    return (unsigned)t < HB_ARRAY_LEN(names) ? names[t] : "?";
}

struct hb_event *hb_event_new(void)
{
    return calloc(1, sizeof(struct hb_event));
}

void hb_event_free(struct hb_event *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < ev->nattrs; i++)
        free(ev->attrs[i].name); /* the value is in the same block */
    free(ev->attrs);
    free(ev->data);
    free(ev);
}

struct hb_event *hb_event_dup(const struct hb_event *ev)
{
    struct hb_event *n = hb_event_new();
    if (!n)
        return NULL;
    for (size_t i = 0; i < ev->nattrs; i++)
        if (hb_event_set_typed(n, ev->attrs[i].name, ev->attrs[i].value, ev->attrs[i].type) < 0)
            goto fail;
    if (ev->data && hb_event_set_data(n, ev->data, ev->data_len) < 0)
        goto fail;
    n->checked = ev->checked;
    return n;
fail:
    hb_event_free(n);
    return NULL;
}

bool hb_attr_name_valid(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return n >= 1 && n <= HB_EVENT_MAX_ATTR_NAME;
}

const struct hb_attr *hb_event_find(const struct hb_event *ev, const char *name)
{
    /* The first byte before a call: names mostly differ there, and every
     * set and get walks the attributes. */
    for (size_t i = 0; i < ev->nattrs; i++)
        if (ev->attrs[i].name[0] == name[0] && strcmp(ev->attrs[i].name, name) == 0)
            return &ev->attrs[i];
    return NULL;
}

const char *hb_event_get(const struct hb_event *ev, const char *name)
{
    const struct hb_attr *a = hb_event_find(ev, name);
    return a ? a->value : NULL;
}

int hb_event_set_typed(struct hb_event *ev, const char *name, const char *value,
                       enum hb_attr_type type)
{
    if (!hb_attr_name_valid(name) || !value)
        return -1;
    size_t vlen = strlen(value), nlen = strlen(name);
    if (vlen > HB_EVENT_MAX_ATTR_VALUE)
        return -1;
    struct hb_attr *a = (struct hb_attr *)hb_event_find(ev, name);
    if (!a && ev->nattrs >= HB_EVENT_MAX_ATTRS)
        return -1;
    if (!a && ev->nattrs == ev->cap) {
        size_t ncap = ev->cap ? ev->cap * 2 : 16;
        struct hb_attr *na = realloc(ev->attrs, ncap * sizeof(*na));
        if (!na)
            return -1;
        ev->attrs = na;
        ev->cap = ncap;
    }
    /* Name and value in one block ("name\0value\0"), freed through name. */
    char *block = malloc(nlen + vlen + 2);
    if (!block)
        return -1;
    memcpy(block, name, nlen + 1);
    memcpy(block + nlen + 1, value, vlen + 1);
    if (a)
        free(a->name);
    else
        a = &ev->attrs[ev->nattrs++];
    *a = (struct hb_attr){.name = block, .value = block + nlen + 1, .type = type};
    ev->checked = ev->checked && still_valid(a);
    return 0;
}

int hb_event_set(struct hb_event *ev, const char *name, const char *value)
{
    return hb_event_set_typed(ev, name, value, hb_attr_spec_type(name));
}

int hb_event_unset(struct hb_event *ev, const char *name)
{
    for (size_t i = 0; i < ev->nattrs; i++) {
        if (strcmp(ev->attrs[i].name, name) == 0) {
            free(ev->attrs[i].name);
            memmove(&ev->attrs[i], &ev->attrs[i + 1], (ev->nattrs - i - 1) * sizeof(ev->attrs[0]));
            ev->nattrs--;
            int si = spec_index(name);
            if (si >= 0 && si < SPEC_REQUIRED)
                ev->checked = false;
            return 0;
        }
    }
    return -1;
}

int hb_event_set_data(struct hb_event *ev, const void *data, size_t len)
{
    unsigned char *d = NULL;
    if (data) {
        d = malloc(len + 1);
        if (!d)
            return -1;
        memcpy(d, data, len);
        d[len] = '\0'; /* convenience for text data; not part of data_len */
    }
    free(ev->data);
    ev->data = d;
    ev->data_len = data ? len : 0;
    return 0;
}

bool hb_content_type_is_json(const char *ct)
{
    if (!ct || !*ct)
        return true;
    size_t n = strcspn(ct, ";");
    while (n && isspace((unsigned char)ct[n - 1]))
        n--;
    char mt[128];
    if (n >= sizeof(mt))
        return false;
    memcpy(mt, ct, n);
    mt[n] = '\0';
    hb_str_lower(mt);
    return strcmp(mt, "application/json") == 0 || strcmp(mt, "text/json") == 0 ||
           hb_str_has_suffix(mt, "+json");
}

/* Valid UTF-8 without control characters (the CloudEvents String type). */
static bool valid_string(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (*p & 0x3f);
        }
        static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
        /* Overlong forms, beyond Unicode, surrogates, C1 controls and the
         * noncharacters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF) are disallowed. */
        if (cp < min[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp <= 0x9f) || (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
            return false;
    }
    return true;
}

/* The integer part of a JSON number, optionally negative: no '+', no
 * leading zeros (RFC 7159 section 6). */
static bool valid_integer(const char *s)
{
    long v;
    const char *d = s[0] == '-' ? s + 1 : s;
    return hb_parse_long(s, -2147483647L - 1, 2147483647L, &v) == 0 &&
           isdigit((unsigned char)d[0]) && !(d[0] == '0' && d[1] != '\0');
}

static bool valid_uri(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return false;
    const char *p = s;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    return *p == ':' && valid_string(s) && !strpbrk(s, " \t");
}

static bool valid_uri_ref(const char *s)
{
    return *s && valid_string(s) && !strpbrk(s, " \t");
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* RFC 3339 date-time: 2024-01-02T03:04:05[.frac](Z|+hh:mm|-hh:mm). */
static bool valid_timestamp(const char *s)
{
    if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2) ||
        s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return false;
    int mon = (s[5] - '0') * 10 + s[6] - '0', day = (s[8] - '0') * 10 + s[9] - '0';
    int hh = (s[11] - '0') * 10 + s[12] - '0', mm = (s[14] - '0') * 10 + s[15] - '0';
    int ss = (s[17] - '0') * 10 + s[18] - '0';
    int year = ((s[0] - '0') * 10 + s[1] - '0') * 100 + (s[2] - '0') * 10 + s[3] - '0';
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hh > 23 || mm > 59 || ss > 60)
        return false;
    if (mon == 2 && day == 29 && (year % 4 != 0 || (year % 100 == 0 && year % 400 != 0)))
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    /* time-numoffset: hour 00-23, minute 00-59 (RFC 3339 section 5.6). */
    return (*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
           p[6] == '\0' && (p[1] - '0') * 10 + p[2] - '0' <= 23 && p[4] <= '5';
}

static bool valid_value(const char *v, enum hb_attr_type t)
{
    switch (t) {
    case HB_ATTR_STRING: return valid_string(v);
    case HB_ATTR_INTEGER: return valid_integer(v);
    case HB_ATTR_BOOLEAN: return strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
    case HB_ATTR_BINARY: {
        size_t n;
        unsigned char *d = hb_base64_decode(v, strlen(v), &n);
        free(d);
        return d != NULL;
    }
    case HB_ATTR_URI: return valid_uri(v);
    case HB_ATTR_URI_REF: return valid_uri_ref(v);
    case HB_ATTR_TIMESTAMP: return valid_timestamp(v);
    }
    return false;
}

bool hb_attr_value_valid(const char *value, enum hb_attr_type type)
{
    return value && valid_value(value, type);
}

/* What is wrong with attribute a (spec: its index in spec_attrs, or -1),
 * in err; 0 when nothing. */
static int attr_problem(const struct hb_attr *a, int spec, char *err, size_t errlen)
{
    if (!hb_attr_name_valid(a->name)) {
        snprintf(err, errlen, "invalid attribute name '%.64s'", a->name);
        return -1;
    }
    if (a->name[0] == 'd' &&
        (strcmp(a->name, "data") == 0 || strcmp(a->name, "data_base64") == 0)) {
        snprintf(err, errlen, "'%s' is reserved and cannot be an attribute", a->name);
        return -1;
    }
    enum hb_attr_type t = spec >= 0 ? spec_attrs[spec].type : a->type;
    if (spec >= 0 && a->type != t && a->type != HB_ATTR_STRING) {
        snprintf(err, errlen, "attribute '%s' must be of type %s", a->name, hb_attr_type_name(t));
        return -1;
    }
    if (!valid_value(a->value, t)) {
        snprintf(err, errlen, "attribute '%s' is not a valid %s", a->name, hb_attr_type_name(t));
        return -1;
    }
    if (spec == SPEC_SUBJECT && !*a->value) {
        snprintf(err, errlen, "attribute 'subject' must not be empty");
        return -1;
    }
    if (spec == SPEC_DATACONTENTTYPE && !strchr(a->value, '/')) {
        snprintf(err, errlen, "attribute 'datacontenttype' is not a media type");
        return -1;
    }
    return 0;
}

int hb_event_validate(const struct hb_event *ev, char *err, size_t errlen)
{
    if (ev->checked)
        return 0;
    /* One pass over the attributes; the messages in the order of the
     * checks: required ones first, then the first bad attribute. */
    const char *spec[HB_ARRAY_LEN(spec_attrs)] = {0};
    size_t bad = ev->nattrs;
    int bad_spec = -1;
    char ignored[8];
    for (size_t i = 0; i < ev->nattrs; i++) {
        int si = spec_index(ev->attrs[i].name);
        if (si >= 0)
            spec[si] = ev->attrs[i].value;
        if (bad == ev->nattrs && attr_problem(&ev->attrs[i], si, ignored, sizeof(ignored)) < 0) {
            bad = i;
            bad_spec = si;
        }
    }
    for (size_t i = 0; i < SPEC_REQUIRED; i++) {
        if (!spec[i] || !*spec[i]) {
            snprintf(err, errlen, "required attribute '%s' is missing or empty",
                     spec_attrs[i].name);
            return -1;
        }
    }
    if (strcmp(spec[SPEC_SPECVERSION], "1.0") != 0) {
        snprintf(err, errlen, "unsupported specversion '%.16s' (want 1.0)", spec[SPEC_SPECVERSION]);
        return -1;
    }
    if (bad < ev->nattrs)
        return attr_problem(&ev->attrs[bad], bad_spec, err, errlen);
    return 0;
}

int hb_event_check(struct hb_event *ev, char *err, size_t errlen)
{
    if (hb_event_validate(ev, err, errlen) < 0)
        return -1;
    ev->checked = true;
    return 0;
}
