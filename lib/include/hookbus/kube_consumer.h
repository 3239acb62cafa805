/* kube_consumer.h: the chores every consumer that refreshes objects of a
 * Kubernetes cluster shares (hookbus-argocd, hookbus-flux): its config
 * section (kubeconfig, context, namespaces, label_selector, timeouts, ...),
 * the --kubeconfig flag, the client made from that section, and one
 * annotation set by JSON merge patch with the status mapped to what the
 * consumer runtime should do. */
#ifndef HOOKBUS_KUBE_CONSUMER_H
#define HOOKBUS_KUBE_CONSUMER_H

#include <stddef.h>

#include "hookbus/config.h"
#include "hookbus/consumer.h"
#include "hookbus/kube.h"
#include "hookbus/kube_cache.h"

#define HB_KUBE_MAX_NAMESPACES 256

struct hb_kube_section {
    char *kubeconfig, *context, *label_selector, *sa_dir;
    long resync_ms, request_timeout_ms, watch_timeout_ms, max_response, page_size;
    char **namespaces; /* empty: all namespaces */
    size_t nnamespaces;
};

/* The table of those common keys (for --help: hb_consumer_app.shared_fields). */
#define HB_KUBE_SECTION_NFIELDS 10 /* the definition must agree (a compile error if not) */
extern const struct hb_field hb_kube_section_fields[HB_KUBE_SECTION_NFIELDS];

/* Binds the common keys of section `name` ("argocd") into *s: kubeconfig
 * (else KUBECONFIG's first file), context, namespaces (a list or a comma
 * separated scalar; HOOKBUS_<NAME>_NAMESPACES), label_selector,
 * service_account_dir, resync_interval, request_timeout, watch_timeout,
 * max_response_bytes, page_size. *node is the section (NULL when absent),
 * for the consumer's own keys. 0 or -1 with "FILE:LINE: ..." in err. */
int hb_kube_section_load(const struct hb_config *cfg, const char *name, struct hb_kube_section *s,
                         const struct hb_node **node, char *err, size_t errlen);
void hb_kube_section_free(struct hb_kube_section *s);
/* The client the section describes. NULL with err. */
struct hb_kube *hb_kube_section_client(const struct hb_kube_section *s, const char *name, char *err,
                                       size_t errlen);
/* The cache options of the section for resource api/plural (the other
 * fields zero: the caller sets compile, release, metrics). */
struct hb_kube_cache_opts hb_kube_section_cache_opts(const struct hb_kube_section *s,
                                                     const char *api, const char *resource);
/* "ns1,ns2" or "(all)" into out. */
void hb_kube_section_namespaces(const struct hb_kube_section *s, char *out, size_t outlen);

/* Removes --kubeconfig FILE / --kubeconfig=FILE from argv and sets
 * HOOKBUS_<NAME>_KUBECONFIG, so the flag beats the file like every flag.
 * Returns the new argc. */
int hb_kube_take_kubeconfig_flag(int argc, char **argv, const char *name);

/* Sets annotation key=value on the object at item_path
 * ("/apis/G/V/namespaces/NS/PLURAL/NAME") by JSON merge patch, with a
 * traceparent header when traceparent is not NULL (the action's span,
 * hookbus/trace.h). Returns
 * HB_ACT_DONE (patched, or 404: the object is gone, *gone set),
 * HB_ACT_RETRY (transport, 401 -- the token rotated --, 409, 429, 5xx) or
 * HB_ACT_DROP (any other status, e.g. 403: RBAC), with err. */
enum hb_act hb_kube_annotate(struct hb_kube *k, const char *item_path, const char *key,
                             const char *value, const char *traceparent, bool *gone, char *err,
                             size_t errlen);

/* The objects one event (or a batch) concerns, "ns/name" each once, with
 * the reason an object does not want it (NULL: it does). An object
 * indexed several times (two sources of one repository) wants the event
 * when any of its entries does. At most HB_KUBE_MAX_TARGETS. */
#define HB_KUBE_MAX_TARGETS 4096
struct hb_kube_target {
    char *id;           /* "ns/name" */
    const char *reason; /* NULL: refresh */
};
struct hb_kube_targets {
    struct hb_kube_target *t;
    size_t n;
    bool overflow; /* more objects than HB_KUBE_MAX_TARGETS */
};
void hb_kube_targets_note(struct hb_kube_targets *t, const char *ns, const char *name,
                          const char *reason);
size_t hb_kube_targets_wanted(const struct hb_kube_targets *t);
void hb_kube_targets_clear(struct hb_kube_targets *t);
/* The wanted ids of t joined with "," into out, cut with "...". */
void hb_kube_targets_join(const struct hb_kube_targets *t, char *out, size_t outlen);

#endif
