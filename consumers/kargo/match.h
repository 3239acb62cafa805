/* match.h: which Kargo Warehouse subscriptions an event concerns (DESIGN
 * section 5): a subscription is compiled once from its JSON (regexes,
 * semver constraint, path selectors), then matched against the facts of an
 * event (canonical repo, branch or tag, changed paths). Pure logic, no I/O:
 * unit tests include match.c directly. */
#ifndef KARGO_MATCH_H
#define KARGO_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event.h"
#include "hookbus/regex.h"
#include "hookbus/repo.h"
#include "hookbus/semver.h"
#include "hookbus/tag_rules.h"

enum kargo_sub_kind { KARGO_SUB_GIT, KARGO_SUB_IMAGE, KARGO_SUB_CHART };

enum kargo_strategy {
    KARGO_NEWEST_FROM_BRANCH, /* git default */
    KARGO_SEMVER,             /* git; image default */
    KARGO_LEXICAL,            /* git, image */
    KARGO_NEWEST_TAG,         /* git */
    KARGO_NEWEST_BUILD,       /* image */
    KARGO_DIGEST,             /* image */
    KARGO_CHART,              /* chart: semverConstraint only */
};

/* An includePaths / excludePaths entry: "glob:" (doublestar syntax),
 * "regex:" / "regexp:", or a base directory. Globs are compiled to regexes. */
struct kargo_path_sel {
    char *base;          /* base directory selector, else NULL */
    struct hb_regex *re; /* glob: and regex: selectors */
};

struct kargo_sub {
    enum kargo_sub_kind kind;
    enum kargo_strategy strategy;
    char repo_id[HB_REPO_ID_MAX];            /* canonical id (lib/repo.c) */
    char *repo_url;                          /* as the Warehouse spells it */
    char *branch;                            /* NewestFromBranch; NULL: main or master */
    char *digest_tag;                        /* image Digest: the mutable tag it follows */
    struct hb_semver_constraint *constraint; /* NULL: none */
    bool strict;                             /* strictSemvers */
    struct hb_tag_rules tags;                /* git and image subscriptions */
    struct kargo_path_sel *include, *exclude;
    size_t ninclude, nexclude;
    /* Non-NULL when a regex, constraint or path selector is invalid: the
     * subscription then matches every event of its repository (never dropped
     * silently); the caller logs this once per Warehouse version. */
    char *invalid;
};

/* Compiles one element of spec.subscriptions (a cJSON object with one of
 * "git", "image", "chart") into *out (zeroed first). Returns 0 (check
 * out->invalid), or -1 with err when the subscription has no usable repoURL
 * (it cannot match anything). Free with kargo_sub_clear. */
int kargo_sub_compile(const void *json, struct kargo_sub *out, char *err, size_t errlen);
void kargo_sub_clear(struct kargo_sub *s);

/* The canonical id of a subscription's repository, as the gateway spells an
 * event's repo: git URLs through hb_repo_git_id, images and oci:// charts
 * through hb_repo_image_id, HTTP chart repositories as their URL + "/" + name. */
int kargo_repo_id(enum kargo_sub_kind kind, const char *url, const char *chart_name, char *out,
                  size_t outlen);

/* What matching needs from an event. */
enum kargo_event_kind { KARGO_EV_GIT, KARGO_EV_IMAGE, KARGO_EV_ANY };

struct kargo_facts {
    enum kargo_event_kind kind;
    const char *repo;   /* canonical id (the repo attribute) */
    const char *branch; /* from ref refs/heads/<branch>, else NULL */
    const char *tag;    /* the tag attribute, or ref refs/tags/<tag>, else NULL */
    const char *ref;    /* the ref attribute as given, else NULL */
    const char **paths; /* changed_paths when present and not truncated */
    size_t npaths;
    bool paths_known;
    void *data; /* cJSON * that owns paths */
};

/* Extracts the facts of ev (type, repo, ref, tag, data.changed_paths). The
 * strings are borrowed from ev, which must outlive the facts. 0, or -1 when
 * ev has no repo attribute. Free with kargo_facts_clear. */
int kargo_facts_from_event(const struct hb_event *ev, struct kargo_facts *f);
void kargo_facts_clear(struct kargo_facts *f);

/* Decides whether subscription s wants event f (the repo is assumed equal).
 * Returns NULL when it does, else the reason it does not, a short constant
 * usable as a metrics label: "kind", "branch", "not_branch", "not_tag",
 * "not_semver", "constraint", "allow_regex", "ignore_regex", "ignore_tag",
 * "digest_tag", "paths". */
const char *kargo_sub_match(const struct kargo_sub *s, const struct kargo_facts *f);

/* Exposed for tests: glob (doublestar syntax) to an anchored regex. 0 or -1. */
int kargo_glob_to_regex(const char *glob, char *out, size_t outlen);

#endif
