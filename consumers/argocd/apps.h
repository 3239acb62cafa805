/* apps.h: which Argo CD Applications and ApplicationSets an event moves.
 * An Application is compiled once per spec into its sources (single
 * `spec.source` or `spec.sources[]`: Git, Helm chart repository, OCI) with
 * their canonical repository ids and targetRevision rules, plus the
 * `argocd.argoproj.io/manifest-generate-paths` entries; an ApplicationSet
 * into the repositories of its Git generators (nested in matrix and merge
 * generators too). Pure logic, no I/O: unit tests include apps.c. */
#ifndef ARGOCD_APPS_H
#define ARGOCD_APPS_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event_facts.h"
#include "hookbus/repo.h"
#include "hookbus/semver.h"

#define ARGOCD_API "/apis/argoproj.io/v1alpha1"
#define ARGOCD_PATHS_ANNOTATION "argocd.argoproj.io/manifest-generate-paths"

enum argo_src_kind { ARGO_SRC_GIT, ARGO_SRC_HELM, ARGO_SRC_OCI };

/* What a targetRevision (or a Git generator's revision) follows. */
enum argo_rev_kind {
    ARGO_REV_HEAD,       /* "", HEAD: the default branch (main or master) */
    ARGO_REV_BRANCH,     /* refs/heads/X */
    ARGO_REV_TAG,        /* refs/tags/X */
    ARGO_REV_NAME,       /* X: a branch or a tag of that name (as Argo CD) */
    ARGO_REV_CONSTRAINT, /* a semver constraint against tags / chart versions */
    ARGO_REV_COMMIT,     /* a full commit SHA: pinned */
    ARGO_REV_DIGEST,     /* sha256:...: an OCI digest, pinned */
    ARGO_REV_ANY,        /* Helm or OCI without a revision: the newest */
};

struct argo_rev {
    enum argo_rev_kind kind;
    char *name; /* BRANCH, TAG, NAME, DIGEST */
    struct hb_semver_constraint *constraint;
};

struct argo_source {
    enum argo_src_kind kind;
    char repo_id[HB_REPO_ID_MAX];
    char *path; /* spec.source.path cleaned ("" = repository root) */
    struct argo_rev rev;
};

struct argo_app {
    bool appset; /* an ApplicationSet: sources are its Git generators */
    struct argo_source *src;
    size_t nsrc;
    char **gen_paths; /* manifest-generate-paths entries, NULL: no annotation */
    size_t ngen_paths;
    bool has_gen_paths;
};

/* Compiles an Application (appset false) or ApplicationSet (a cJSON *).
 * Sources without a usable repoURL are left out, each reported through
 * warn (may be NULL) with ud. NULL on ENOMEM. Free with argo_app_free. */
struct argo_app *argo_app_compile(const void *json, bool appset,
                                  void (*warn)(void *ud, const char *why), void *ud);
void argo_app_free(struct argo_app *a);

/* Parses a revision as Argo CD reads targetRevision for a source of kind k. */
int argo_rev_parse(enum argo_src_kind k, const char *text, struct argo_rev *out);
void argo_rev_clear(struct argo_rev *r);

/* Decides whether source slot of a wants event f (the repository is
 * assumed equal). NULL when it does, else a short constant reason usable as
 * a metrics label: "kind", "branch", "tag", "not_branch", "not_tag",
 * "not_semver", "constraint", "pinned", "digest", "paths". */
const char *argo_match(const struct argo_app *a, size_t slot, const struct hb_facts *f);

/* Exposed for tests: does changed path p concern entry e of
 * manifest-generate-paths for a source at source_path? */
bool argo_path_matches(const char *entry, const char *source_path, const char *p);

#endif
