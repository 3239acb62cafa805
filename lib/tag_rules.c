/* tag_rules.c: a Kargo subscription's tag rules (hookbus/tag_rules.h). */
#include "hookbus/tag_rules.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

/* Appends one compiled regex to *list. 0, or -1 with err. */
static int push_regex(const char *field, const char *pattern, struct hb_regex ***list, size_t *n,
                      char *err, size_t errlen)
{
    char why[256];
    struct hb_regex *re = NULL;
    struct hb_regex **grown;
    if (*n >= HB_TAG_RULES_MAX) {
        (void)hb_snprintf(err, errlen, "%s: too many patterns", field);
        return -1;
    }
    if (!(re = hb_regex_new(pattern, why, sizeof(why)))) {
        (void)hb_snprintf(err, errlen, "%s: %s", field, why);
        return -1;
    }
    if (!(grown = realloc(*list, (*n + 1) * sizeof(**list)))) {
        hb_regex_free(re);
        (void)hb_snprintf(err, errlen, "%s: out of memory", field);
        return -1;
    }
    *list = grown;
    (*list)[(*n)++] = re;
    return 0;
}

/* The string list obj[field] into *list (non-strings skipped). */
static int add_regex_list(const cJSON *obj, const char *field, struct hb_regex ***list, size_t *n,
                          char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    const cJSON *item;
    if (!cJSON_IsArray(v))
        return 0;
    cJSON_ArrayForEach (item, v) {
        if (cJSON_IsString(item) && push_regex(field, item->valuestring, list, n, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int add_exact_list(const cJSON *obj, const char *field, struct hb_tag_rules *r, char *err,
                          size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    const cJSON *item;
    if (!cJSON_IsArray(v))
        return 0;
    int count = cJSON_GetArraySize(v);
    if (count > HB_TAG_RULES_MAX) {
        (void)hb_snprintf(err, errlen, "%s: too many tags", field);
        return -1;
    }
    if (!(r->ignore_exact = calloc((size_t)count + 1, sizeof(char *)))) {
        (void)hb_snprintf(err, errlen, "%s: out of memory", field);
        return -1;
    }
    cJSON_ArrayForEach (item, v) {
        if (!cJSON_IsString(item))
            continue;
        if (!(r->ignore_exact[r->nignore_exact] = strdup(item->valuestring))) {
            (void)hb_snprintf(err, errlen, "%s: out of memory", field);
            return -1;
        }
        r->nignore_exact++;
    }
    return 0;
}

int hb_tag_rules_compile(const void *json, struct hb_tag_rules *r, char *err, size_t errlen)
{
    const cJSON *o = json;
    memset(r, 0, sizeof(*r));
    if (add_regex_list(o, "allowTagsRegexes", &r->allow, &r->nallow, err, errlen) < 0)
        return -1;
    const char *one = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "allowTags"));
    if (one && one[0] && push_regex("allowTags", one, &r->allow, &r->nallow, err, errlen) < 0)
        return -1;
    if (add_regex_list(o, "ignoreTagsRegexes", &r->ignore, &r->nignore, err, errlen) < 0)
        return -1;
    return add_exact_list(o, "ignoreTags", r, err, errlen);
}

static bool any_match(struct hb_regex *const *res, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (hb_regex_search(res[i], s) != 0)
            return true;
    return false;
}

const char *hb_tag_rules_check(const struct hb_tag_rules *r, const char *tag)
{
    for (size_t i = 0; i < r->nignore_exact; i++)
        if (strcmp(r->ignore_exact[i], tag) == 0)
            return "ignore_tag";
    if (r->nallow && !any_match(r->allow, r->nallow, tag))
        return "allow_regex";
    if (any_match(r->ignore, r->nignore, tag))
        return "ignore_regex";
    return NULL;
}

bool hb_tag_rules_empty(const struct hb_tag_rules *r)
{
    return !r->nallow && !r->nignore && !r->nignore_exact;
}

void hb_tag_rules_clear(struct hb_tag_rules *r)
{
    for (size_t i = 0; i < r->nallow; i++)
        hb_regex_free(r->allow[i]);
    for (size_t i = 0; i < r->nignore; i++)
        hb_regex_free(r->ignore[i]);
    for (size_t i = 0; i < r->nignore_exact; i++)
        free(r->ignore_exact[i]);
    free(r->allow);
    free(r->ignore);
    free(r->ignore_exact);
    memset(r, 0, sizeof(*r));
}
