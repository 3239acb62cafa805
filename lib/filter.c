/* filter.c: CloudEvents Subscriptions API filter dialects (exact, prefix,
 * suffix, all, any, not, sql) built from JSON into an immutable tree. */
#include "hookbus/filter.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest attribute name accepted in exact / prefix / suffix. */
#define MAX_ATTR_NAME 64

enum filter_kind { K_EXACT, K_PREFIX, K_SUFFIX, K_ALL, K_ANY, K_NOT, K_SQL };

static const char *const dialects[] = {"exact", "prefix", "suffix", "all", "any", "not", "sql"};

struct hb_filter {
    enum filter_kind kind;
    size_t n;      /* attributes (exact / prefix / suffix) or kids (all / any / not) */
    char **names;  /* lowercase attribute names */
    char **values; /* the values they are compared with */
    struct hb_filter **kids;
    struct hb_cesql_expr *sql;
};

void hb_filter_free(struct hb_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        if (f->names)
            free(f->names[i]);
        if (f->values)
            free(f->values[i]);
        if (f->kids)
            hb_filter_free(f->kids[i]);
    }
    free(f->names);
    free(f->values);
    free(f->kids);
    hb_cesql_free(f->sql);
    free(f);
}

/* Formats the error message "<path>: <what>". Always returns NULL. */
__attribute__((format(printf, 4, 5))) static struct hb_filter *
set_err(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    if (!err || errlen == 0)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, msg);
    return NULL;
}

/* Formats the path of a nested filter, for messages; long paths are cut. */
__attribute__((format(printf, 3, 4))) static void sub_path(char *dst, size_t n, const char *fmt,
                                                           ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* The canonical string of a filter value: strings as they are, integral
 * numbers in decimal, booleans as true/false. NULL for anything else. */
static char *value_string(const cJSON *v)
{
    char buf[32];

    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsBool(v))
        return strdup(cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
        v->valuedouble >= INT32_MIN && v->valuedouble <= INT32_MAX) {
        snprintf(buf, sizeof(buf), "%" PRId32, (int32_t)v->valuedouble);
        return strdup(buf);
    }
    return NULL;
}

/* Lowercase copy of an attribute name; NULL when it is not [A-Za-z0-9]+ of
 * at most MAX_ATTR_NAME characters (the CloudEvents naming rule). */
static char *attr_name(const char *name)
{
    size_t len = strlen(name);
    char *s;

    if (len == 0 || len > MAX_ATTR_NAME)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9')))
            return NULL;
    s = strdup(name);
    for (size_t i = 0; s && i < len; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
    return s;
}

static struct hb_filter *build(const cJSON *spec, int depth, const char *path, char *err,
                               size_t errlen);

/* exact / prefix / suffix: an object of attribute name -> value. */
static int build_attrs(struct hb_filter *f, const cJSON *obj, const char *path, char *err,
                       size_t errlen)
{
    size_t n = (size_t)cJSON_GetArraySize(obj), i = 0;
    const cJSON *it;

    if (!cJSON_IsObject(obj) || n == 0) {
        set_err(err, errlen, path, "must be a non-empty object of attribute names and values");
        return -1;
    }
    f->names = calloc(n, sizeof(*f->names));
    f->values = calloc(n, sizeof(*f->values));
    if (!f->names || !f->values) {
        set_err(err, errlen, path, "out of memory");
        return -1;
    }
    cJSON_ArrayForEach (it, obj) {
        f->n = ++i;
        f->names[i - 1] = attr_name(it->string ? it->string : "");
        if (!f->names[i - 1]) {
            set_err(err, errlen, path, "invalid attribute name '%.64s' (letters and digits only)",
                    it->string ? it->string : "");
            return -1;
        }
        f->values[i - 1] = value_string(it);
        if (!f->values[i - 1]) {
            set_err(err, errlen, path, "the value of '%s' must be a string", f->names[i - 1]);
            return -1;
        }
    }
    return 0;
}

/* all / any: a non-empty array of filters; not: one filter. */
static int build_kids(struct hb_filter *f, const cJSON *v, int depth, const char *path, char *err,
                      size_t errlen)
{
    char sub[256];
    size_t n;

    if (f->kind == K_NOT) {
        if (!cJSON_IsObject(v)) {
            set_err(err, errlen, path, "must be a filter object");
            return -1;
        }
        n = 1;
    } else {
        n = (size_t)cJSON_GetArraySize(v);
        if (!cJSON_IsArray(v) || n == 0) {
            set_err(err, errlen, path, "must be a non-empty array of filters");
            return -1;
        }
    }
    f->kids = calloc(n, sizeof(*f->kids));
    if (!f->kids) {
        set_err(err, errlen, path, "out of memory");
        return -1;
    }
    const cJSON *kid = f->kind == K_NOT ? v : v->child;
    for (size_t i = 0; i < n && kid; i++, kid = kid->next) {
        if (f->kind == K_NOT)
            sub_path(sub, sizeof(sub), "%s", path);
        else
            sub_path(sub, sizeof(sub), "%s[%zu]", path, i);
        f->n = i + 1;
        f->kids[i] = build(kid, depth + 1, sub, err, errlen);
        if (!f->kids[i])
            return -1;
    }
    return 0;
}

/* Builds one filter object: exactly one dialect key. */
static struct hb_filter *build(const cJSON *spec, int depth, const char *path, char *err,
                               size_t errlen)
{
    struct hb_filter *f = NULL;
    const cJSON *v;
    char sub[256], msg[256];
    size_t k;

    if (depth > HB_FILTER_MAX_DEPTH)
        return set_err(err, errlen, path, "filters nested deeper than %d levels",
                       HB_FILTER_MAX_DEPTH);
    if (!cJSON_IsObject(spec) || cJSON_GetArraySize(spec) != 1)
        return set_err(err, errlen, path,
                       "a filter must be an object with exactly one of exact, prefix, suffix, "
                       "all, any, not, sql");
    v = spec->child;
    for (k = 0; k < sizeof(dialects) / sizeof(dialects[0]); k++)
        if (v->string && strcmp(v->string, dialects[k]) == 0)
            break;
    if (k == sizeof(dialects) / sizeof(dialects[0]))
        return set_err(err, errlen, path,
                       "unknown filter dialect '%.64s' (exact, prefix, suffix, all, any, not, sql)",
                       v->string ? v->string : "");
    sub_path(sub, sizeof(sub), "%s.%s", path, dialects[k]);
    f = calloc(1, sizeof(*f));
    if (!f)
        return set_err(err, errlen, path, "out of memory");
    f->kind = (enum filter_kind)k;
    switch (f->kind) {
    case K_EXACT:
    case K_PREFIX:
    case K_SUFFIX:
        if (build_attrs(f, v, sub, err, errlen) < 0)
            goto fail;
        break;
    case K_ALL:
    case K_ANY:
    case K_NOT:
        if (build_kids(f, v, depth, sub, err, errlen) < 0)
            goto fail;
        break;
    case K_SQL:
        if (!cJSON_IsString(v)) {
            set_err(err, errlen, sub, "must be a string holding a CESQL expression");
            goto fail;
        }
        f->sql = hb_cesql_parse(v->valuestring, msg, sizeof(msg), NULL);
        if (!f->sql) {
            set_err(err, errlen, sub, "%s", msg);
            goto fail;
        }
        break;
    }
    return f;
fail:
    hb_filter_free(f);
    return NULL;
}

struct hb_filter *hb_filter_new(const cJSON *spec, char *err, size_t errlen)
{
    struct hb_filter *f = NULL;
    char sub[32];
    size_t n;

    if (err && errlen > 0)
        err[0] = '\0';
    if (!cJSON_IsArray(spec))
        return build(spec, 1, "filter", err, errlen);
    n = (size_t)cJSON_GetArraySize(spec);
    f = calloc(1, sizeof(*f));
    if (!f || (n > 0 && !(f->kids = calloc(n, sizeof(*f->kids))))) {
        set_err(err, errlen, "filter", "out of memory");
        goto fail;
    }
    f->kind = K_ALL;
    const cJSON *kid = spec->child;
    for (size_t i = 0; i < n && kid; i++, kid = kid->next) {
        sub_path(sub, sizeof(sub), "filter[%zu]", i);
        f->n = i + 1;
        f->kids[i] = build(kid, 1, sub, err, errlen);
        if (!f->kids[i])
            goto fail;
    }
    return f;
fail:
    hb_filter_free(f);
    return NULL;
}

/* The attribute's value as a string (canonical form for Integer and Boolean);
 * NULL when the attribute is missing. buf holds integers. */
static const char *attr_string(hb_cesql_lookup_fn lookup, void *ctx, const char *name, char buf[16])
{
    struct hb_cesql_value v;

    if (!lookup || lookup(ctx, name, &v) != 0)
        return NULL;
    switch (v.type) {
    case HB_CESQL_STRING: return v.s ? v.s : "";
    case HB_CESQL_BOOLEAN: return v.b ? "true" : "false";
    case HB_CESQL_INTEGER: snprintf(buf, 16, "%" PRId32, v.i); return buf;
    }
    return NULL;
}

/* exact / prefix / suffix: every listed attribute exists and compares. */
static bool match_attrs(const struct hb_filter *f, hb_cesql_lookup_fn lookup, void *ctx)
{
    char buf[16];

    for (size_t i = 0; i < f->n; i++) {
        const char *have = attr_string(lookup, ctx, f->names[i], buf);
        const char *want = f->values[i];
        size_t hl, wl;
        if (!have)
            return false;
        hl = strlen(have);
        wl = strlen(want);
        if (f->kind == K_EXACT && strcmp(have, want) != 0)
            return false;
        if (f->kind == K_PREFIX && (hl < wl || memcmp(have, want, wl) != 0))
            return false;
        if (f->kind == K_SUFFIX && (hl < wl || memcmp(have + hl - wl, want, wl) != 0))
            return false;
    }
    return true;
}

bool hb_filter_match(const struct hb_filter *f, hb_cesql_lookup_fn lookup, void *ctx)
{
    if (!f)
        return true;
    switch (f->kind) {
    case K_EXACT:
    case K_PREFIX:
    case K_SUFFIX: return match_attrs(f, lookup, ctx);
    case K_ALL:
        for (size_t i = 0; i < f->n; i++)
            if (!hb_filter_match(f->kids[i], lookup, ctx))
                return false;
        return true;
    case K_ANY:
        for (size_t i = 0; i < f->n; i++)
            if (hb_filter_match(f->kids[i], lookup, ctx))
                return true;
        return false;
    case K_NOT: return !hb_filter_match(f->kids[0], lookup, ctx);
    case K_SQL: return hb_cesql_matches(f->sql, lookup, ctx);
    }
    return false;
}
