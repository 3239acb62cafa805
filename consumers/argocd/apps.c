/* apps.c: Argo CD Application and ApplicationSet matching (apps.h).
 *
 * Revisions are read as Argo CD reads them: "" and HEAD follow the default
 * branch (data.default_branch when the event names it, else main or master), refs/heads/ and refs/tags/
 * are explicit, a bare name is a branch or a tag of that name, a full
 * commit SHA or an OCI digest is pinned, and anything with a constraint
 * operator is a semver constraint against tags (Masterminds semantics, as
 * Argo CD's, non-strict so a "v" prefix is accepted). */
#include "apps.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

#define MAX_SOURCES 64
#define MAX_GEN_PATHS 64
#define MAX_GENERATOR_DEPTH 4

/* ------------------------------------------------------------- revisions */

static bool all_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* A semver constraint rather than a name: an operator, a range, or an x. */
static bool looks_like_constraint(const char *s)
{
    if (strpbrk(s, "^~*<>=|, "))
        return true;
    /* 1.2.x, 1.x */
    for (const char *p = s; *p; p++)
        if ((*p == 'x' || *p == 'X') && p > s && p[-1] == '.' && (!p[1] || p[1] == '.'))
            return true;
    return false;
}

static int set_name(struct argo_rev *r, enum argo_rev_kind k, const char *s)
{
    r->kind = k;
    r->name = strdup(s);
    return r->name ? 0 : -1;
}

int argo_rev_parse(enum argo_src_kind k, const char *text, struct argo_rev *r)
{
    char err[200];
    memset(r, 0, sizeof(*r));
    const char *s = text ? text : "";
    while (*s == ' ')
        s++;
    if (k == ARGO_SRC_GIT) {
        if (!*s || strcmp(s, "HEAD") == 0) {
            r->kind = ARGO_REV_HEAD;
            return 0;
        }
        if (hb_str_has_prefix(s, "refs/heads/"))
            return set_name(r, ARGO_REV_BRANCH, s + 11);
        if (hb_str_has_prefix(s, "refs/tags/"))
            return set_name(r, ARGO_REV_TAG, s + 10);
        if (all_hex(s, 40) || all_hex(s, 64)) {
            r->kind = ARGO_REV_COMMIT;
            return 0;
        }
    } else {
        if (!*s) {
            r->kind = ARGO_REV_ANY;
            return 0;
        }
        if (hb_str_has_prefix(s, "sha256:") || hb_str_has_prefix(s, "sha512:"))
            return set_name(r, ARGO_REV_DIGEST, s);
    }
    /* Helm versions are constraints even when exact ("1.2.3" means =1.2.3). */
    if (looks_like_constraint(s) || k == ARGO_SRC_HELM) {
        r->constraint = hb_semver_constraint_parse(s, err, sizeof(err));
        if (r->constraint) {
            r->kind = ARGO_REV_CONSTRAINT;
            return 0;
        }
    }
    return set_name(r, ARGO_REV_NAME, s);
}

void argo_rev_clear(struct argo_rev *r)
{
    free(r->name);
    hb_semver_constraint_free(r->constraint);
    memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ paths */

/* Cleans a slash path into out: no "", "." segments, ".." pops. Leading
 * slashes dropped (the result is relative to the repository root). */
static int clean_path(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash */
        } else {
            if (o + n + 2 >= outlen)
                return -1;
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = '\0';
    return 0;
}

bool argo_path_matches(const char *entry, const char *source_path, const char *p)
{
    char joined[2048], full[2048];
    if (entry[0] == '/') {
        if (hb_snprintf(joined, sizeof(joined), "%s", entry) < 0)
            return true;
    } else if (hb_snprintf(joined, sizeof(joined), "%s/%s", source_path ? source_path : "", entry) <
               0) {
        return true; /* too long to judge: refresh */
    }
    if (clean_path(joined, full, sizeof(full)) < 0)
        return true;
    if (!full[0])
        return true; /* the repository root */
    if (strpbrk(full, "*?["))
        return fnmatch(full, p, 0) == 0;
    size_t n = strlen(full);
    return strncmp(p, full, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* ------------------------------------------------------------ compilation */

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static void warnf(void (*warn)(void *, const char *), void *ud, const char *fmt, const char *a)
{
    char buf[400];
    if (!warn)
        return;
    (void)hb_snprintf(buf, sizeof(buf), fmt, a);
    warn(ud, buf);
}

/* The id of a Helm chart in repository url: registry/path/chart for OCI
 * (oci:// or a bare host/path, as Argo CD accepts), url/chart otherwise. */
static int chart_id(const char *url, const char *chart, char *out, size_t outlen)
{
    char full[HB_REPO_ID_MAX * 2];
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (hb_snprintf(full, sizeof(full), "%.*s/%s", (int)n, url, chart) < 0)
        return -1;
    return hb_repo_image_id(full, out, outlen);
}

/* A new zeroed source at the end of a->src (grown as needed). NULL past
 * MAX_SOURCES or on ENOMEM. The caller bumps a->nsrc when it keeps it. */
static struct argo_source *next_src(struct argo_app *a)
{
    if (a->nsrc >= MAX_SOURCES)
        return NULL;
    struct argo_source *grown = realloc(a->src, (a->nsrc + 1) * sizeof(*a->src));
    if (!grown)
        return NULL;
    a->src = grown;
    memset(&a->src[a->nsrc], 0, sizeof(*a->src));
    return &a->src[a->nsrc];
}

/* Appends the source of an Application (spec.source or an item of
 * spec.sources) to a. 0, or -1 when it was left out (warned). */
static int add_source(struct argo_app *a, const cJSON *s, void (*warn)(void *, const char *),
                      void *ud)
{
    const char *url = json_str(s, "repoURL");
    const char *chart = json_str(s, "chart");
    if (!url) {
        warnf(warn, ud, "a source without repoURL%s", "");
        return -1;
    }
    struct argo_source *src = next_src(a);
    if (!src)
        return -1;
    int rc;
    if (chart) {
        src->kind = ARGO_SRC_HELM;
        rc = chart_id(url, chart, src->repo_id, sizeof(src->repo_id));
    } else if (hb_str_has_prefix(url, "oci://")) {
        src->kind = ARGO_SRC_OCI;
        rc = hb_repo_image_id(url, src->repo_id, sizeof(src->repo_id));
    } else {
        src->kind = ARGO_SRC_GIT;
        rc = hb_repo_git_id(url, src->repo_id, sizeof(src->repo_id));
    }
    if (rc < 0) {
        warnf(warn, ud, "repoURL '%.200s' is not a repository URL", url);
        return -1;
    }
    char clean[2048];
    const char *path = json_str(s, "path");
    if (clean_path(path ? path : "", clean, sizeof(clean)) < 0 || !(src->path = strdup(clean)) ||
        argo_rev_parse(src->kind, json_str(s, "targetRevision"), &src->rev) < 0) {
        free(src->path);
        return -1;
    }
    a->nsrc++;
    return 0;
}

/* The Git generators of an ApplicationSet's generator list, matrix and
 * merge generators included. */
static void add_generators(struct argo_app *a, const cJSON *gens, int depth,
                           void (*warn)(void *, const char *), void *ud)
{
    const cJSON *g;
    if (!cJSON_IsArray(gens) || depth > MAX_GENERATOR_DEPTH)
        return;
    cJSON_ArrayForEach (g, gens) {
        const cJSON *git = cJSON_GetObjectItemCaseSensitive(g, "git");
        struct argo_source *src = cJSON_IsObject(git) ? next_src(a) : NULL;
        if (src) {
            const char *url = json_str(git, "repoURL");
            src->kind = ARGO_SRC_GIT;
            if (!url || hb_repo_git_id(url, src->repo_id, sizeof(src->repo_id)) < 0) {
                warnf(warn, ud, "git generator repoURL '%.200s' is not a repository URL",
                      url ? url : "");
            } else if ((src->path = strdup("")) &&
                       argo_rev_parse(ARGO_SRC_GIT, json_str(git, "revision"), &src->rev) == 0) {
                a->nsrc++;
            } else {
                free(src->path);
            }
        }
        static const char *const nested[] = {"matrix", "merge"};
        for (size_t i = 0; i < HB_ARRAY_LEN(nested); i++) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(g, nested[i]);
            add_generators(a, cJSON_GetObjectItemCaseSensitive(n, "generators"), depth + 1, warn,
                           ud);
        }
    }
}

static void add_gen_paths(struct argo_app *a, const char *v)
{
    a->has_gen_paths = true;
    size_t cap = 1;
    for (const char *c = v; *c && cap < MAX_GEN_PATHS; c++)
        cap += *c == ';';
    a->gen_paths = calloc(cap, sizeof(char *));
    if (!a->gen_paths) {
        a->has_gen_paths = false; /* cannot filter: refresh on every change */
        return;
    }
    for (const char *p = v; *p && a->ngen_paths < cap;) {
        size_t n = strcspn(p, ";");
        const char *b = p, *e = p + n;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (e > b && (a->gen_paths[a->ngen_paths] = hb_strndup(b, (size_t)(e - b))))
            a->ngen_paths++;
        p += n;
        if (*p == ';')
            p++;
    }
}

struct argo_app *argo_app_compile(const void *json, bool appset,
                                  void (*warn)(void *ud, const char *why), void *ud)
{
    const cJSON *obj = json;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    struct argo_app *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->appset = appset;
    if (appset) {
        add_generators(a, cJSON_GetObjectItemCaseSensitive(spec, "generators"), 0, warn, ud);
        return a;
    }
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(spec, "sources");
    const cJSON *s;
    if (cJSON_IsArray(sources) && cJSON_GetArraySize(sources) > 0) {
        cJSON_ArrayForEach (s, sources) {
            (void)add_source(a, s, warn, ud);
        }
    } else if (cJSON_IsObject(s = cJSON_GetObjectItemCaseSensitive(spec, "source"))) {
        (void)add_source(a, s, warn, ud);
    }
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "annotations");
    const cJSON *gp = cJSON_GetObjectItemCaseSensitive(ann, ARGOCD_PATHS_ANNOTATION);
    if (cJSON_IsString(gp))
        add_gen_paths(a, gp->valuestring);
    return a;
}

void argo_app_free(struct argo_app *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nsrc; i++) {
        free(a->src[i].path);
        argo_rev_clear(&a->src[i].rev);
    }
    free(a->src);
    for (size_t i = 0; i < a->ngen_paths; i++)
        free(a->gen_paths[i]);
    free(a->gen_paths);
    free(a);
}

/* --------------------------------------------------------------- matching */

static bool is_default_branch(const char *b)
{
    return strcmp(b, "main") == 0 || strcmp(b, "master") == 0;
}

static const char *tag_semver(const struct argo_rev *r, const char *tag)
{
    struct hb_semver v;
    if (hb_semver_parse(tag, false, &v) < 0)
        return "not_semver";
    return hb_semver_satisfies(r->constraint, &v) ? NULL : "constraint";
}

static const char *match_git_rev(const struct argo_rev *r, const struct hb_facts *f)
{
    switch (r->kind) {
    case ARGO_REV_HEAD:
        if (!f->branch)
            return "not_branch";
        if (f->default_branch)
            return strcmp(f->branch, f->default_branch) == 0 ? NULL : "branch";
        return is_default_branch(f->branch) ? NULL : "branch";
    case ARGO_REV_BRANCH:
        if (!f->branch)
            return "not_branch";
        return strcmp(f->branch, r->name) == 0 ? NULL : "branch";
    case ARGO_REV_TAG:
        if (!f->tag)
            return "not_tag";
        return strcmp(f->tag, r->name) == 0 ? NULL : "tag";
    case ARGO_REV_NAME:
        if ((f->branch && strcmp(f->branch, r->name) == 0) ||
            (f->tag && strcmp(f->tag, r->name) == 0))
            return NULL;
        return f->branch ? "branch" : "tag";
    case ARGO_REV_CONSTRAINT:
        if (!f->tag)
            return "not_tag";
        return tag_semver(r, f->tag);
    case ARGO_REV_COMMIT:
    case ARGO_REV_DIGEST: return "pinned";
    case ARGO_REV_ANY: return NULL;
    }
    return NULL;
}

static const char *match_artifact_rev(const struct argo_rev *r, const struct hb_facts *f)
{
    if (r->kind == ARGO_REV_ANY)
        return NULL;
    if (r->kind == ARGO_REV_DIGEST)
        return f->digest && strcmp(f->digest, r->name) == 0 ? NULL : "pinned";
    if (!f->tag)
        return NULL; /* a digest-only push: whatever the tag, look again */
    if (r->kind == ARGO_REV_CONSTRAINT)
        return tag_semver(r, f->tag);
    return strcmp(f->tag, r->name ? r->name : "") == 0 ? NULL : "tag";
}

/* manifest-generate-paths: some changed path is under an entry (resolved
 * against the source's path). */
static const char *path_rules(const struct argo_app *a, const struct argo_source *s,
                              const struct hb_facts *f)
{
    if (a->appset || !a->has_gen_paths || !f->paths_known)
        return NULL;
    for (size_t i = 0; i < f->npaths; i++)
        for (size_t e = 0; e < a->ngen_paths; e++)
            if (argo_path_matches(a->gen_paths[e], s->path, f->paths[i]))
                return NULL;
    return "paths";
}

const char *argo_match(const struct argo_app *a, size_t slot, const struct hb_facts *f)
{
    if (slot >= a->nsrc)
        return "kind";
    const struct argo_source *s = &a->src[slot];
    bool git = s->kind == ARGO_SRC_GIT;
    if ((f->kind == HB_FACTS_GIT && !git) || (f->kind == HB_FACTS_ARTIFACT && git))
        return "kind";
    const char *why;
    if (!git)
        return f->ref || f->tag || f->digest ? match_artifact_rev(&s->rev, f) : NULL;
    if ((f->ref || f->tag) && (why = match_git_rev(&s->rev, f)))
        return why;
    return path_rules(a, s, f);
}
