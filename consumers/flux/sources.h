/* sources.h: which Flux objects an event moves. GitRepository,
 * OCIRepository, HelmRepository, HelmChart and ImageRepository objects are
 * compiled once per spec into an index key and a reference rule (branch,
 * tag, semver, name, commit, digest); an event is matched against them.
 * Pure logic, no I/O: unit tests include sources.c. */
#ifndef FLUX_SOURCES_H
#define FLUX_SOURCES_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event_facts.h"
#include "hookbus/repo.h"
#include "hookbus/semver.h"

#define FLUX_REQUESTED_AT "reconcile.fluxcd.io/requestedAt"
#define FLUX_KEY_MAX (HB_REPO_ID_MAX + 600)

enum flux_kind { FLUX_GIT, FLUX_OCI, FLUX_HELMREPO, FLUX_HELMCHART, FLUX_IMAGE, FLUX_NKINDS };

enum flux_ref {
    FLUX_REF_BRANCH, /* spec.ref.branch (GitRepository's default: master) */
    FLUX_REF_TAG,    /* spec.ref.tag (OCIRepository's default: latest) */
    FLUX_REF_SEMVER, /* spec.ref.semver, HelmChart spec.version */
    FLUX_REF_NAME,   /* spec.ref.name: a full Git reference */
    FLUX_REF_PINNED, /* spec.ref.commit, OCIRepository spec.ref.digest */
    FLUX_REF_ANY,    /* HelmRepository, ImageRepository: any push */
};

struct flux_src {
    enum flux_kind kind;
    char *key; /* index key; "" when the object cannot match events */
    enum flux_ref ref;
    char *name; /* branch, tag, full ref name, or pinned digest */
    struct hb_semver_constraint *constraint;
    char *invalid; /* a bad semver range: the object then takes every event */
};

/* Compiles a Flux object of kind k (a cJSON *) in namespace ns. NULL with
 * err when it names no usable URL. Free with flux_src_free. */
struct flux_src *flux_compile(enum flux_kind k, const void *json, const char *ns, char *err,
                              size_t errlen);
void flux_src_free(struct flux_src *s);

/* The index key of the HelmCharts that take chart `chart` from the
 * HelmRepository ns/name. 0 or -1. */
int flux_helmchart_key(const char *ns, const char *repo_name, const char *chart, char *out,
                       size_t outlen);
/* Splits a chart's canonical id into its repository (everything before the
 * last '/') and the chart name. 0, or -1 when there is no '/'. */
int flux_chart_split(const char *repo, char *parent, size_t parentlen, const char **chart);

/* Decides whether s wants event f (the key is assumed to match). NULL when
 * it does, else a short constant reason usable as a metrics label: "kind",
 * "branch", "not_branch", "tag", "not_tag", "not_semver", "constraint",
 * "ref", "pinned". */
const char *flux_match(const struct flux_src *s, const struct hb_facts *f);

#endif
