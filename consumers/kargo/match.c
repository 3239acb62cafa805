/* match.c: Kargo Warehouse subscription matching (DESIGN section 5, the
 * semantics of Kargo's own webhook receivers since v1.7, plus path filters).
 *
 * Regexes are PCRE2 (hookbus/regex.h) compiled once per Warehouse version
 * and matched unanchored (Go's MatchString), with a match limit so a
 * pathological pattern costs bounded time. */
#include "match.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/regex.h"
#include "hookbus/tag_rules.h"
#include "hookbus/util.h"

#define MAX_PATTERNS 256 /* regexes or path selectors per list */
#define MAX_PATTERN_LEN HB_REGEX_MAX_LEN
#define MAX_CHANGED_PATHS 10000

/* ---------------------------------------------------------------- regexes */

/* True when re matches somewhere in s. A match that exceeds the limits (a
 * catastrophic pattern) counts as a match: never drop silently. */
static bool re_search(const struct hb_regex *re, const char *s)
{
    return hb_regex_search(re, s) != 0;
}

/* ------------------------------------------------------------------ globs */

/* Appends c to out[*o], escaped for a regex. */
static int put_lit(char *out, size_t outlen, size_t *o, char c)
{
    bool special = strchr("\\^$.|?*+()[]{}/", c) != NULL;
    if (*o + 3 >= outlen)
        return -1;
    if (special && c != '/')
        out[(*o)++] = '\\';
    out[(*o)++] = c;
    return 0;
}

static int put_str(char *out, size_t outlen, size_t *o, const char *s)
{
    size_t n = strlen(s);
    if (*o + n + 1 >= outlen)
        return -1;
    memcpy(out + *o, s, n);
    *o += n;
    return 0;
}

/* Doublestar globs (the syntax Kargo's glob: selectors use): "*" within one
 * path segment, "**" as a whole segment for any number of segments, "?",
 * "[...]" / "[!...]" classes, "{a,b}" alternatives, "\" escapes. */
int kargo_glob_to_regex(const char *g, char *out, size_t outlen)
{
    size_t o = 0;
    int braces = 0;
    if (put_str(out, outlen, &o, "^") < 0)
        return -1;
    for (size_t i = 0; g[i]; i++) {
        char c = g[i];
        bool seg_start = i == 0 || g[i - 1] == '/';
        int rc = 0;
        if (c == '*' && g[i + 1] == '*' && seg_start && (g[i + 2] == '/' || !g[i + 2])) {
            if (g[i + 2] == '/') {
                rc = put_str(out, outlen, &o, "(?:[^/]*(?:/[^/]*)*/)?");
                i += 2;
            } else {
                rc = put_str(out, outlen, &o, ".*");
                i += 1;
            }
        } else if (c == '*') {
            while (g[i + 1] == '*')
                i++;
            rc = put_str(out, outlen, &o, "[^/]*");
        } else if (c == '?') {
            rc = put_str(out, outlen, &o, "[^/]");
        } else if (c == '[') {
            size_t j = i + 1;
            if (g[j] == '!' || g[j] == '^')
                j++;
            if (g[j] == ']')
                j++;
            while (g[j] && g[j] != ']')
                j++;
            if (!g[j])
                return -1; /* unterminated class: a bad pattern */
            rc = put_str(out, outlen, &o, "[");
            size_t k = i + 1;
            if (g[k] == '!' || g[k] == '^') {
                rc |= put_str(out, outlen, &o, "^/");
                k++;
            }
            for (; k < j && rc == 0; k++) {
                if (g[k] == '\\' || g[k] == '[' || (g[k] == ']' && k != i + 1))
                    rc = put_str(out, outlen, &o, "\\");
                if (rc == 0 && o + 2 < outlen)
                    out[o++] = g[k];
                else
                    rc = -1;
            }
            rc |= put_str(out, outlen, &o, "]");
            i = j;
        } else if (c == '{') {
            braces++;
            rc = put_str(out, outlen, &o, "(?:");
        } else if (c == '}' && braces > 0) {
            braces--;
            rc = put_str(out, outlen, &o, ")");
        } else if (c == ',' && braces > 0) {
            rc = put_str(out, outlen, &o, "|");
        } else if (c == '\\') {
            if (!g[i + 1])
                return -1;
            rc = put_lit(out, outlen, &o, g[++i]);
        } else {
            rc = put_lit(out, outlen, &o, c);
        }
        if (rc < 0)
            return -1;
    }
    if (braces || put_str(out, outlen, &o, "$") < 0)
        return -1;
    out[o] = '\0';
    return 0;
}

static int path_sel_compile(const char *s, struct kargo_path_sel *out, char *err, size_t errlen)
{
    char rx[2 * MAX_PATTERN_LEN + 64];
    const char *pattern = NULL;
    memset(out, 0, sizeof(*out));
    if (hb_str_has_prefix(s, "glob:")) {
        if (strlen(s + 5) > MAX_PATTERN_LEN / 4 || kargo_glob_to_regex(s + 5, rx, sizeof(rx)) < 0) {
            (void)hb_snprintf(err, errlen, "bad glob '%.80s'", s + 5);
            return -1;
        }
        pattern = rx;
    } else if (hb_str_has_prefix(s, "regex:")) {
        pattern = s + 6;
    } else if (hb_str_has_prefix(s, "regexp:")) {
        pattern = s + 7;
    }
    if (pattern) {
        out->re = hb_regex_new(pattern, err, errlen);
        return out->re ? 0 : -1;
    }
    /* A base directory, cleaned of "./" and trailing slashes. */
    while (hb_str_has_prefix(s, "./"))
        s += 2;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    out->base = hb_strndup(s, n);
    if (!out->base) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static bool path_sel_matches(const struct kargo_path_sel *sel, const char *path)
{
    if (sel->re)
        return re_search(sel->re, path);
    size_t n = strlen(sel->base);
    if (n == 0 || strcmp(sel->base, ".") == 0)
        return true;
    return strncmp(path, sel->base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool path_sels_match(const struct kargo_path_sel *sels, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (path_sel_matches(&sels[i], path))
            return true;
    return false;
}

/* ---------------------------------------------------------- compilation */

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static bool json_bool(const cJSON *obj, const char *key, bool def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* Records the first problem of a subscription. */
static void set_invalid(struct kargo_sub *s, const char *field, const char *why)
{
    if (s->invalid)
        return;
    char buf[400];
    (void)hb_snprintf(buf, sizeof(buf), "%s: %s", field, why);
    s->invalid = strdup(buf);
}

static void add_paths(struct kargo_sub *s, const cJSON *obj, const char *key,
                      struct kargo_path_sel **list, size_t *n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(v))
        return;
    int count = cJSON_GetArraySize(v);
    if (count > MAX_PATTERNS) {
        set_invalid(s, key, "too many selectors");
        return;
    }
    *list = calloc((size_t)count + 1, sizeof(**list));
    if (!*list) {
        set_invalid(s, key, "out of memory");
        return;
    }
    for (int i = 0; i < count; i++) {
        const cJSON *item = cJSON_GetArrayItem(v, i);
        char err[256];
        if (!cJSON_IsString(item))
            continue;
        if (path_sel_compile(item->valuestring, &(*list)[*n], err, sizeof(err)) < 0) {
            set_invalid(s, key, err);
            continue;
        }
        (*n)++;
    }
}

static void add_constraint(struct kargo_sub *s, const char *field, const char *text)
{
    char err[256];
    if (!text)
        return;
    s->constraint = hb_semver_constraint_parse(text, err, sizeof(err));
    if (!s->constraint) {
        char why[400];
        (void)hb_snprintf(why, sizeof(why), "'%.80s': %s", text, err);
        set_invalid(s, field, why);
    }
}

/* allowTagsRegexes / ignoreTagsRegexes and the deprecated allowTags /
 * ignoreTags (hookbus/tag_rules.h). */
static void add_tag_rules(struct kargo_sub *s, const cJSON *o)
{
    char err[400];
    if (hb_tag_rules_compile(o, &s->tags, err, sizeof(err)) < 0 && !s->invalid)
        s->invalid = strdup(err);
}

int kargo_repo_id(enum kargo_sub_kind kind, const char *url, const char *chart_name, char *out,
                  size_t outlen)
{
    if (!url)
        return -1;
    if (kind == KARGO_SUB_GIT)
        return hb_repo_git_id(url, out, outlen);
    if (kind == KARGO_SUB_CHART && chart_name && !hb_str_has_prefix(url, "oci://")) {
        char full[HB_REPO_ID_MAX * 2];
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        if (hb_snprintf(full, sizeof(full), "%.*s/%s", (int)n, url, chart_name) < 0)
            return -1;
        return hb_repo_image_id(full, out, outlen);
    }
    return hb_repo_image_id(url, out, outlen);
}

static int strategy_parse(enum kargo_sub_kind kind, const char *v, enum kargo_strategy *out)
{
    static const struct {
        const char *name;
        enum kargo_strategy st;
        unsigned kinds; /* 1 git, 2 image */
    } tab[] = {
        {"NewestFromBranch", KARGO_NEWEST_FROM_BRANCH, 1},
        {"SemVer", KARGO_SEMVER, 3},
        {"Lexical", KARGO_LEXICAL, 3},
        {"NewestTag", KARGO_NEWEST_TAG, 1},
        {"NewestBuild", KARGO_NEWEST_BUILD, 2},
        {"Digest", KARGO_DIGEST, 2},
    };
    unsigned bit = kind == KARGO_SUB_GIT ? 1u : 2u;
    for (size_t i = 0; i < HB_ARRAY_LEN(tab); i++) {
        if (strcmp(v, tab[i].name) == 0 && (tab[i].kinds & bit)) {
            *out = tab[i].st;
            return 0;
        }
    }
    return -1;
}

int kargo_sub_compile(const void *json, struct kargo_sub *s, char *err, size_t errlen)
{
    const cJSON *sub = json;
    const cJSON *o;
    memset(s, 0, sizeof(*s));
    if ((o = cJSON_GetObjectItemCaseSensitive(sub, "git")) && cJSON_IsObject(o))
        s->kind = KARGO_SUB_GIT;
    else if ((o = cJSON_GetObjectItemCaseSensitive(sub, "image")) && cJSON_IsObject(o))
        s->kind = KARGO_SUB_IMAGE;
    else if ((o = cJSON_GetObjectItemCaseSensitive(sub, "chart")) && cJSON_IsObject(o))
        s->kind = KARGO_SUB_CHART;
    else {
        (void)hb_snprintf(err, errlen, "subscription is none of git, image, chart");
        return -1;
    }
    const char *url = json_str(o, "repoURL");
    const char *name = s->kind == KARGO_SUB_CHART ? json_str(o, "name") : NULL;
    if (!url || kargo_repo_id(s->kind, url, name, s->repo_id, sizeof(s->repo_id)) < 0) {
        (void)hb_snprintf(err, errlen, "repoURL '%.200s' is not a repository URL", url ? url : "");
        return -1;
    }
    s->repo_url = strdup(url);
    if (!s->repo_url) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* strictSemvers defaults to true in the CRD. */
    s->strict = json_bool(o, "strictSemvers", true);
    const char *strategy = NULL;
    switch (s->kind) {
    case KARGO_SUB_GIT:
        strategy = json_str(o, "commitSelectionStrategy");
        s->strategy = KARGO_NEWEST_FROM_BRANCH;
        if (json_str(o, "branch"))
            s->branch = strdup(json_str(o, "branch"));
        add_paths(s, o, "includePaths", &s->include, &s->ninclude);
        add_paths(s, o, "excludePaths", &s->exclude, &s->nexclude);
        break;
    case KARGO_SUB_IMAGE:
        strategy = json_str(o, "imageSelectionStrategy");
        s->strategy = KARGO_SEMVER;
        break;
    case KARGO_SUB_CHART:
        s->strategy = KARGO_CHART;
        /* Chart versions are parsed as Helm does (Masterminds NewVersion). */
        s->strict = false;
        break;
    }
    if (strategy && strategy_parse(s->kind, strategy, &s->strategy) < 0)
        set_invalid(s,
                    s->kind == KARGO_SUB_GIT ? "commitSelectionStrategy" : "imageSelectionStrategy",
                    "unknown strategy");
    if (s->kind != KARGO_SUB_CHART)
        add_tag_rules(s, o);
    /* Images name the constraint "constraint" since Kargo v1.x and
     * "semverConstraint" before; Digest keeps its mutable tag there too. */
    const char *constraint = json_str(o, "semverConstraint");
    const char *cfield = "semverConstraint";
    if (s->kind == KARGO_SUB_IMAGE && json_str(o, "constraint")) {
        constraint = json_str(o, "constraint");
        cfield = "constraint";
    }
    if (s->strategy == KARGO_DIGEST) {
        if (constraint)
            s->digest_tag = strdup(constraint);
    } else if (s->strategy == KARGO_SEMVER || s->strategy == KARGO_CHART) {
        add_constraint(s, cfield, constraint);
    }
    return 0;
}

void kargo_sub_clear(struct kargo_sub *s)
{
    free(s->repo_url);
    free(s->branch);
    free(s->digest_tag);
    hb_semver_constraint_free(s->constraint);
    hb_tag_rules_clear(&s->tags);
    struct kargo_path_sel *lists[2] = {s->include, s->exclude};
    size_t counts[2] = {s->ninclude, s->nexclude};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            free(lists[l][i].base);
            hb_regex_free(lists[l][i].re);
        }
        free(lists[l]);
    }
    free(s->invalid);
    memset(s, 0, sizeof(*s));
}

/* --------------------------------------------------------------- events */

int kargo_facts_from_event(const struct hb_event *ev, struct kargo_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->repo = hb_event_get(ev, "repo");
    if (!f->repo || !f->repo[0])
        return -1;
    const char *type = hb_event_get(ev, "type");
    f->kind = KARGO_EV_ANY;
    if (type && hb_str_has_prefix(type, "dev.hookbus.git."))
        f->kind = KARGO_EV_GIT;
    else if (type && (strcmp(type, "dev.hookbus.image.push") == 0 ||
                      strcmp(type, "dev.hookbus.chart.push") == 0))
        f->kind = KARGO_EV_IMAGE;
    const char *ref = hb_event_get(ev, "ref");
    const char *tag = hb_event_get(ev, "tag");
    if (ref && ref[0]) {
        f->ref = ref;
        if (hb_str_has_prefix(ref, "refs/heads/"))
            f->branch = ref + 11;
        else if (hb_str_has_prefix(ref, "refs/tags/"))
            f->tag = ref + 10;
        else if (!hb_str_has_prefix(ref, "refs/"))
            f->branch = f->tag = ref; /* a bare name (generic receivers) */
    }
    if (tag && tag[0]) {
        f->tag = tag;
        if (f->branch == f->ref && f->ref && !hb_str_has_prefix(f->ref, "refs/"))
            f->branch = NULL;
    }
    if (!ev->data || !ev->data_len || f->kind == KARGO_EV_IMAGE)
        return 0;
    cJSON *data = cJSON_ParseWithLength((const char *)ev->data, ev->data_len);
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(data, "changed_paths");
    int n = cJSON_IsArray(paths) ? cJSON_GetArraySize(paths) : 0;
    if (n <= 0 || n > MAX_CHANGED_PATHS ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "changed_paths_truncated"))) {
        cJSON_Delete(data);
        return 0;
    }
    f->paths = calloc((size_t)n, sizeof(*f->paths));
    if (!f->paths) {
        cJSON_Delete(data);
        return 0;
    }
    const cJSON *p;
    cJSON_ArrayForEach (p, paths) {
        if (cJSON_IsString(p))
            f->paths[f->npaths++] = p->valuestring;
    }
    f->paths_known = f->npaths > 0;
    f->data = data;
    return 0;
}

void kargo_facts_clear(struct kargo_facts *f)
{
    free(f->paths);
    cJSON_Delete(f->data);
    memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------- matching */

static const char *semver_rules(const struct kargo_sub *s, const char *tag)
{
    struct hb_semver v;
    if (hb_semver_parse(tag, s->strict, &v) < 0)
        return "not_semver";
    if (s->constraint && !hb_semver_satisfies(s->constraint, &v))
        return "constraint";
    return NULL;
}

/* includePaths / excludePaths: some changed path is included (every path
 * is when includePaths is empty) and not excluded. */
static const char *path_rules(const struct kargo_sub *s, const struct kargo_facts *f)
{
    if (!f->paths_known || (!s->ninclude && !s->nexclude))
        return NULL;
    for (size_t i = 0; i < f->npaths; i++) {
        if (s->ninclude && !path_sels_match(s->include, s->ninclude, f->paths[i]))
            continue;
        if (path_sels_match(s->exclude, s->nexclude, f->paths[i]))
            continue;
        return NULL;
    }
    return "paths";
}

static const char *match_git(const struct kargo_sub *s, const struct kargo_facts *f)
{
    const char *why;
    if (s->strategy == KARGO_NEWEST_FROM_BRANCH) {
        if (!f->branch)
            return "not_branch";
        bool ok = s->branch ? strcmp(f->branch, s->branch) == 0
                            : strcmp(f->branch, "main") == 0 || strcmp(f->branch, "master") == 0;
        if (!ok)
            return "branch";
        return path_rules(s, f);
    }
    if (!f->tag)
        return "not_tag";
    if ((why = hb_tag_rules_check(&s->tags, f->tag)))
        return why;
    if (s->strategy == KARGO_SEMVER && (why = semver_rules(s, f->tag)))
        return why;
    return path_rules(s, f);
}

static const char *match_image(const struct kargo_sub *s, const struct kargo_facts *f)
{
    const char *why;
    if (!f->tag)
        return NULL; /* a digest-only push: whatever the tag, look again */
    switch (s->strategy) {
    case KARGO_DIGEST:
        return s->digest_tag && strcmp(s->digest_tag, f->tag) == 0 ? NULL : "digest_tag";
    case KARGO_CHART: return semver_rules(s, f->tag);
    case KARGO_SEMVER:
        if ((why = hb_tag_rules_check(&s->tags, f->tag)))
            return why;
        return semver_rules(s, f->tag);
    default: /* Lexical, NewestBuild */ return hb_tag_rules_check(&s->tags, f->tag);
    }
}

const char *kargo_sub_match(const struct kargo_sub *s, const struct kargo_facts *f)
{
    bool git = s->kind == KARGO_SUB_GIT;
    if ((f->kind == KARGO_EV_GIT && !git) || (f->kind == KARGO_EV_IMAGE && git))
        return "kind";
    if (s->invalid)
        return NULL;
    if (!f->ref && !f->tag)
        return NULL; /* "go check the tip" */
    return git ? match_git(s, f) : match_image(s, f);
}
