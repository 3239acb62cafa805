/* sources.c: Flux source matching (sources.h).
 *
 * References follow source-controller's precedence: a GitRepository's
 * commit beats name, which beats semver, then tag, then branch (default
 * master); an OCIRepository's digest beats semver, then tag (default
 * latest). Semver ranges use Masterminds semantics, non-strict, as Flux. A
 * HelmChart from a HelmRepository is indexed under that repository and its
 * chart name, so a chart push reaches it through the repository's URL. */
#include "sources.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static int set_ref(struct flux_src *s, enum flux_ref r, const char *name)
{
    s->ref = r;
    if (!name)
        return 0;
    s->name = strdup(name);
    return s->name ? 0 : -1;
}

static int set_semver(struct flux_src *s, const char *range)
{
    char err[200];
    s->ref = FLUX_REF_SEMVER;
    s->constraint = hb_semver_constraint_parse(range, err, sizeof(err));
    if (!s->constraint) {
        char why[300];
        (void)hb_snprintf(why, sizeof(why), "semver '%.80s': %s", range, err);
        s->invalid = strdup(why);
    }
    return 0;
}

int flux_helmchart_key(const char *ns, const char *repo_name, const char *chart, char *out,
                       size_t outlen)
{
    return hb_snprintf(out, outlen, "helmchart:%s/%s/%s", ns, repo_name, chart);
}

int flux_chart_split(const char *repo, char *parent, size_t parentlen, const char **chart)
{
    const char *slash = strrchr(repo, '/');
    if (!slash || slash == repo || !slash[1])
        return -1;
    *chart = slash + 1;
    return hb_snprintf(parent, parentlen, "%.*s", (int)(slash - repo), repo) < 0 ? -1 : 0;
}

static int compile_git(struct flux_src *s, char *key, size_t keylen, const cJSON *spec, char *err,
                       size_t errlen)
{
    const char *url = json_str(spec, "url");
    if (!url || hb_repo_git_id(url, key, keylen) < 0) {
        (void)hb_snprintf(err, errlen, "url '%.200s' is not a Git repository URL", url ? url : "");
        return -1;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "ref");
    const char *v;
    if (json_str(ref, "commit"))
        return set_ref(s, FLUX_REF_PINNED, NULL);
    if ((v = json_str(ref, "name")))
        return set_ref(s, FLUX_REF_NAME, v);
    if ((v = json_str(ref, "semver")))
        return set_semver(s, v);
    if ((v = json_str(ref, "tag")))
        return set_ref(s, FLUX_REF_TAG, v);
    v = json_str(ref, "branch");
    return set_ref(s, FLUX_REF_BRANCH, v ? v : "master");
}

static int compile_oci(struct flux_src *s, char *key, size_t keylen, const cJSON *spec, char *err,
                       size_t errlen)
{
    const char *url = json_str(spec, "url");
    if (!url || hb_repo_image_id(url, key, keylen) < 0) {
        (void)hb_snprintf(err, errlen, "url '%.200s' is not an OCI repository URL", url ? url : "");
        return -1;
    }
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "ref");
    const char *v;
    if ((v = json_str(ref, "digest")))
        return set_ref(s, FLUX_REF_PINNED, v);
    if ((v = json_str(ref, "semver")))
        return set_semver(s, v);
    v = json_str(ref, "tag");
    return set_ref(s, FLUX_REF_TAG, v ? v : "latest");
}

struct flux_src *flux_compile(enum flux_kind k, const void *json, const char *ns, char *err,
                              size_t errlen)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive((const cJSON *)json, "spec");
    struct flux_src *s = calloc(1, sizeof(*s));
    if (!s) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->kind = k;
    char key[FLUX_KEY_MAX] = "";
    int rc = 0;
    const char *v;
    switch (k) {
    case FLUX_GIT: rc = compile_git(s, key, sizeof(key), spec, err, errlen); break;
    case FLUX_OCI: rc = compile_oci(s, key, sizeof(key), spec, err, errlen); break;
    case FLUX_HELMREPO:
        /* type oci (oci:// URL) or an HTTP(S) chart repository: charts
         * pushed below it are host/path/<chart> either way. */
        s->ref = FLUX_REF_ANY;
        v = json_str(spec, "url");
        if (!v || hb_repo_image_id(v, key, sizeof(key)) < 0) {
            (void)hb_snprintf(err, errlen, "url '%.200s' is not a chart repository URL",
                              v ? v : "");
            rc = -1;
        }
        break;
    case FLUX_HELMCHART: {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(spec, "sourceRef");
        const char *chart = json_str(spec, "chart");
        const char *kind = json_str(src, "kind");
        const char *name = json_str(src, "name");
        if (!chart || !name || !kind) {
            (void)hb_snprintf(err, errlen, "no chart or sourceRef");
            rc = -1;
        } else if (strcmp(kind, "HelmRepository") == 0) {
            rc = flux_helmchart_key(ns, name, chart, key, sizeof(key)) < 0 ? -1 : 0;
            if (rc == 0)
                rc = set_semver(s, (v = json_str(spec, "version")) ? v : "*");
            else
                (void)hb_snprintf(err, errlen, "sourceRef too long");
        }
        /* From a GitRepository or Bucket: Flux rebuilds the chart when its
         * source's artifact changes, so the source's refresh is enough; the
         * chart stays out of the index (key ""). */
        break;
    }
    case FLUX_IMAGE:
        s->ref = FLUX_REF_ANY;
        v = json_str(spec, "image");
        if (!v || hb_repo_image_id(v, key, sizeof(key)) < 0) {
            (void)hb_snprintf(err, errlen, "image '%.200s' is not an image reference", v ? v : "");
            rc = -1;
        }
        break;
    case FLUX_NKINDS: rc = -1; break;
    }
    if (rc == 0 && !(s->key = strdup(key))) {
        (void)hb_snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc < 0) {
        flux_src_free(s);
        return NULL;
    }
    return s;
}

void flux_src_free(struct flux_src *s)
{
    if (!s)
        return;
    free(s->key);
    free(s->name);
    free(s->invalid);
    hb_semver_constraint_free(s->constraint);
    free(s);
}

static const char *semver_rule(const struct flux_src *s, const char *tag)
{
    struct hb_semver v;
    if (!tag)
        return NULL; /* a digest-only push: look again */
    if (hb_semver_parse(tag, false, &v) < 0)
        return "not_semver";
    return hb_semver_satisfies(s->constraint, &v) ? NULL : "constraint";
}

static const char *match_git(const struct flux_src *s, const struct hb_facts *f)
{
    if (!f->ref && !f->tag)
        return NULL; /* "go check the tip" */
    switch (s->ref) {
    case FLUX_REF_BRANCH:
        if (!f->branch)
            return "not_branch";
        return strcmp(f->branch, s->name) == 0 ? NULL : "branch";
    case FLUX_REF_TAG:
        if (!f->tag)
            return "not_tag";
        return strcmp(f->tag, s->name) == 0 ? NULL : "tag";
    case FLUX_REF_SEMVER: return f->tag ? semver_rule(s, f->tag) : "not_tag";
    case FLUX_REF_NAME: {
        /* refs/heads/x, refs/tags/x, or any other full reference */
        if (f->ref && strcmp(f->ref, s->name) == 0)
            return NULL;
        if (f->tag && hb_str_has_prefix(s->name, "refs/tags/") && strcmp(s->name + 10, f->tag) == 0)
            return NULL;
        return "ref";
    }
    case FLUX_REF_PINNED: return "pinned";
    case FLUX_REF_ANY: return NULL;
    }
    return NULL;
}

static const char *match_artifact(const struct flux_src *s, const struct hb_facts *f)
{
    switch (s->ref) {
    case FLUX_REF_PINNED:
        return f->digest && s->name && strcmp(f->digest, s->name) == 0 ? NULL : "pinned";
    case FLUX_REF_SEMVER: return semver_rule(s, f->tag);
    case FLUX_REF_TAG:
        if (!f->tag)
            return NULL; /* a digest-only push */
        return strcmp(f->tag, s->name) == 0 ? NULL : "tag";
    default: return NULL;
    }
}

const char *flux_match(const struct flux_src *s, const struct hb_facts *f)
{
    bool git = s->kind == FLUX_GIT;
    if ((f->kind == HB_FACTS_GIT && !git) || (f->kind == HB_FACTS_ARTIFACT && git))
        return "kind";
    /* An ImageRepository scans image tags; a chart pushed to its path is no image. */
    if (s->kind == FLUX_IMAGE && f->chart)
        return "kind";
    if (s->invalid)
        return NULL;
    return git ? match_git(s, f) : match_artifact(s, f);
}
