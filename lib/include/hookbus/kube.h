/* kube.h: a small Kubernetes API client on libcurl, enough for the consumers
 * that refresh objects of a cluster (hookbus-kargo, -argocd, -flux):
 * in-cluster service-account configuration or a kubeconfig file, plain
 * requests with bounded responses, and line-delimited watch streams. */
#ifndef HOOKBUS_KUBE_H
#define HOOKBUS_KUBE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct hb_kube_opts {
    const char *kubeconfig; /* NULL or "": in-cluster */
    const char *context;    /* NULL or "": the kubeconfig's current-context */
    const char *sa_dir;     /* in-cluster token and ca.crt; NULL: the standard path */
    long timeout_ms;        /* per plain request */
    size_t max_response;    /* bytes of one response body or one watch line */
    const char *section;    /* the consumer's config section ("kargo"): messages name
                               section.kubeconfig, the User-Agent is hookbus-SECTION */
};

#define HB_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct hb_kube;

/* Reads the configuration (kubeconfig or the in-cluster environment and
 * files). NULL with err naming the file, context or variable at fault. */
struct hb_kube *hb_kube_new(const struct hb_kube_opts *o, char *err, size_t errlen);
void hb_kube_free(struct hb_kube *k);
/* The cluster's name (kubeconfig cluster, or "in-cluster") for messages. */
const char *hb_kube_cluster(const struct hb_kube *k);
const char *hb_kube_server(const struct hb_kube *k);

/* One request to path (starting with "/", query included). body may be NULL.
 * Returns the HTTP status and the body in *resp (caller frees, NUL-ended),
 * or -1 on a transport error (connection, TLS, timeout, response over the
 * limit) with err "cluster NAME: METHOD PATH: reason". For statuses >= 400
 * err is also set: "cluster NAME: METHOD PATH: HTTP 404: <Status message>". */
int hb_kube_request(struct hb_kube *k, const char *method, const char *path, const char *body,
                    const char *content_type, char **resp, size_t *resplen, char *err,
                    size_t errlen);
/* hb_kube_request with one more complete header line (e.g.
 * "traceparent: ..."), NULL: none. */
int hb_kube_request_with(struct hb_kube *k, const char *method, const char *path, const char *body,
                         const char *content_type, const char *header, char **resp, size_t *resplen,
                         char *err, size_t errlen);

/* Streams a watch on path: on_line is called for every newline-terminated
 * line of a 200 response (a JSON watch event); it returns 0 to continue or
 * non-zero to end the watch. Returns when the server ends the stream, on_line
 * asks to stop, or *stop becomes true (checked at least once a second).
 * Returns the HTTP status (200 for a stream that ended), or -1 with err. */
int hb_kube_watch(struct hb_kube *k, const char *path, long timeout_ms,
                  int (*on_line)(void *ud, const char *line, size_t len), void *ud,
                  const atomic_bool *stop, char *err, size_t errlen);

#endif
