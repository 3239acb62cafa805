/* receiver.h: the interface every sender type implements.
 *
 * A receiver type is one row of the table in receivers.c: it authenticates a
 * request (or lets the shared token check do it), then normalizes the body
 * into zero or more changes with gw_emit(). Adding a sender is one file plus
 * one table row. Receivers never touch Kafka or HTTP directly. */
#ifndef GW_RECEIVER_H
#define GW_RECEIVER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "hookbus/change.h"
#include "hookbus/config.h"
#include "hookbus/event.h"
#include "hookbus/secret.h"

struct gw_request {
    const char *method;
    const char *remote;       /* peer address, for audit logs */
    const char *content_type; /* media type, lowercase, no parameters; "" when absent */
    const unsigned char *body;
    size_t body_len;
    bool key_route; /* arrived on /webhooks/{name}/{key} with a valid key */
    /* Case-insensitive request header lookup; NULL when absent. */
    const char *(*header)(const struct gw_request *req, const char *name);
    /* Calls fn for every request header. */
    void (*each_header)(const struct gw_request *req,
                        void (*fn)(void *arg, const char *name, const char *value), void *arg);
    void *conn;
};

struct gw_receiver;
struct hb_hmac_key;
#define GW_HMAC_ALGS 3

/* One configured receiver (a `receivers:` entry). */
struct gw_receiver {
    char *name;
    const struct gw_receiver_type *type;
    struct hb_secret *secrets; /* several = rotation; any one is accepted */
    size_t nsecrets;
    /* Each secret as a ready HMAC key, per algorithm: [i * GW_HMAC_ALGS +
     * (sha1 0, sha256 1, sha512 2)]; NULL (a receiver built by hand): keyed
     * per request instead. */
    struct hb_hmac_key **hmac_keys;
    char *token_header; /* token senders: extra header holding the secret */
    bool insecure_no_auth;
    bool include_original;
    char *repository; /* fixed repository (generic, opaque) */
    bool own_auth;    /* configure set up an authentication of its own
                                * (gar's OIDC check): secrets become optional */
    void *priv;       /* type-specific options */
    struct gw_receiver_metrics *metrics;
};

/* What a normalize call produced: events, or a status with a message. */
struct gw_ctx {
    const struct gw_receiver *rcv;
    const struct gw_request *req;
    char time[32];         /* acceptance time, RFC 3339 */
    char delivery_id[256]; /* the sender's delivery id, "" when none */
    /* Without a delivery id the event id is the body's hash, so a redelivery
     * keeps its id. A receiver whose body says nothing (opaque) sets this:
     * every request is a new signal and gets a random id instead. */
    bool id_per_request;
    struct hb_event **events;
    bool *normalized; /* per event: built by gw_emit (gets an id suffix) */
    size_t nevents, cap;
    int status; /* 0 until set: 200 ignored, 400, 415, 500 */
    char message[256];
    /* With status 200: a JSON body to answer instead of {"status":"ignored"}
     * (a handshake's reply, e.g. Event Grid's validationResponse); owned,
     * freed by gw_ctx_clear. */
    char *reply;
    /* The body parsed by gw_body_json, once; freed by gw_normalize (or
     * gw_ctx_clear), never by a receiver. */
    cJSON *body_json;
    bool body_parsed;
    /* The request's span as gw_ctx_finish chose it (all zero before), for
     * the span export (gateway/request_span.c); binary to stay small. */
    unsigned char span_trace_id[16], span_id[8];
    /* Members added to the data of every event of the request (a header
     * the sender sets, such as GitHub's hook target type); freed with the
     * body. NULL: none. */
    cJSON *data_extra;
};

/* The description of one changed artifact: lib's struct hb_change
 * (hookbus/change.h), which hookbus-poller fills too, so both build their
 * events with the same code; a pull request's state change likewise. */
#define gw_change hb_change
#define gw_pull_request hb_pull_request

struct gw_receiver_type {
    const char *type;
    const char *provider;
    /* The type option keys configure reads (NULL-terminated; NULL: none),
     * listed by --help. */
    const char *const *options;
    /* Reads type-specific options from the receiver's node (mark them used).
     * Optional. 0 or -1 with err. */
    int (*configure)(struct gw_receiver *r, const struct hb_config *cfg, const struct hb_node *node,
                     char *err, size_t errlen);
    /* Verifies a signature over the raw body. NULL: the shared token check.
     * Returns 0 when authentic, else -1 with *reason (for the audit log). */
    int (*verify)(const struct gw_receiver *r, const struct gw_request *req, const char **reason);
    /* Optional, for a type with verify whose request may carry a
     * credential in its headers alone (a token next to a signature):
     * decides from the headers before the body arrives (req->body is
     * empty). GW_AUTH_OK, GW_AUTH_REFUSED with *reason, or GW_AUTH_BODY
     * when the proof covers the body (verify decides). */
    int (*verify_headers)(const struct gw_receiver *r, const struct gw_request *req,
                          const char **reason);
    /* Normalizes an authenticated request. Emits events, or sets a status. */
    void (*normalize)(struct gw_ctx *ctx);
    void (*destroy)(struct gw_receiver *r);
    /* Optional, for types that check Standard Webhooks: the tolerance
     * (seconds) of req's webhook-timestamp when its signature is checked
     * that way, 0 when it is not (gw_sw_replay_key). */
    long (*sw_tolerance)(const struct gw_receiver *r, const struct gw_request *req);
    /* Optional: the CloudEvents webhook abuse-protection handshake (OPTIONS
     * with WebHook-Request-Origin). Returns the origin to allow (echoed in
     * WebHook-Allowed-Origin), or NULL to refuse it. */
    const char *(*allowed_origin)(const struct gw_receiver *r, const char *origin);
};

/* receivers.c: the table. */
const struct gw_receiver_type *gw_receiver_type_find(const char *type);
/* Writes the comma-separated list of known types into out. */
void gw_receiver_types_list(char *out, size_t outlen);

/* receivers.c: shared helpers for receivers. */
/* Type options: string keys of the receiver's entry, read by configure into
 * r->priv (NULL-terminated keys; absent options stay NULL). Required ones
 * are named in `required` (NULL-terminated, may be NULL). 0 or -1 with err. */
int gw_options_configure(struct gw_receiver *r, const struct hb_config *cfg,
                         const struct hb_node *node, const char *const *keys,
                         const char *const *required, char *err, size_t errlen);
/* The value of option i (index into the keys given to gw_options_configure). */
const char *gw_option(const struct gw_receiver *r, size_t i);
/* destroy for receivers configured with gw_options_configure. */
void gw_options_destroy(struct gw_receiver *r);
/* {"repository", NULL}: the option gw_configure_repository reads. */
extern const char *const gw_repository_option[];
/* The type options of every type, for --help: one line per type with
 * options ("type: key, key"), written with emit. */
void gw_receiver_options_help(void (*emit)(void *arg, const char *line), void *arg);
/* configure of receivers with a fixed `repository` (generic, opaque):
 * required when `need` is true. */
int gw_configure_repository(struct gw_receiver *r, const struct hb_config *cfg,
                            const struct hb_node *node, bool need, char *err, size_t errlen);
/* The host[:port][/path] of a URL: scheme and trailing slashes dropped
 * ("https://acme.jfrog.io/" -> "acme.jfrog.io"). 0, or -1 when empty or
 * too long. */
int gw_url_without_scheme(const char *url, char *out, size_t outlen);
/* Percent-decodes v into a new string (invalid escapes kept). NULL: ENOMEM. */
char *gw_pct_decode(const char *v);
/* Authenticates req: key route, then type->verify or the token check. */
int gw_authenticate(const struct gw_receiver *r, const struct gw_request *req, const char **reason);
/* What the headers alone prove (called when they are complete, before the
 * body): the shared token check of types without verify, a type's
 * verify_headers; GW_AUTH_BODY for signatures over the body and for
 * insecure_no_auth receivers (whose bodies stay under the pre-authentication
 * budget). */
enum { GW_AUTH_OK, GW_AUTH_REFUSED, GW_AUTH_BODY };
int gw_authenticate_headers(const struct gw_receiver *r, const struct gw_request *req,
                            const char **reason);
/* Token check: a secret is the whole Authorization value, "Bearer <s>", the
 * Basic password, or the value of r->token_header. */
int gw_auth_token(const struct gw_receiver *r, const struct gw_request *req, const char **reason);
/* HMAC check: the header value (after an optional prefix such as "sha256=")
 * is the hex HMAC of the raw body with any secret. */
int gw_auth_hmac_hex(const struct gw_receiver *r, const struct gw_request *req, const char *header,
                     const char *prefix, const char *alg, const char **reason);
/* Makes r->hmac_keys from r->secrets (config load). 0, or -1 (ENOMEM;
 * gw_receiver_hmac_keys_free frees what was made). */
int gw_receiver_hmac_keys(struct gw_receiver *r);
void gw_receiver_hmac_keys_free(struct gw_receiver *r);
/* standard_webhooks.c: Standard Webhooks check (webhook-id, -timestamp,
 * -signature; v1 HMAC-SHA256 with whsec_ secrets, v1a Ed25519 with whpk_
 * ones); a timestamp further than tolerance_s from now is refused. 0 or -1
 * with *reason. */
#define GW_SW_TOLERANCE_S 300
int gw_auth_standard_webhooks(const struct gw_receiver *r, const struct gw_request *req,
                              long tolerance_s, const char **reason);
/* The replay key of a request authenticated by its Standard Webhooks
 * signature (type->sw_tolerance says it was; not over a key route or with
 * insecure_no_auth): true with the webhook-id and webhook-timestamp headers
 * and *expires, the end of the tolerance window (Unix seconds). */
bool gw_sw_replay_key(const struct gw_receiver *r, const struct gw_request *req, const char **id,
                      const char **ts, long long *expires);
/* True when v[0..n) equals any secret (constant time, every secret compared). */
bool gw_secret_equals(const struct gw_receiver *r, const char *v, size_t n);
/* True when key (hex SHA-256 of name + secret) matches any secret. */
bool gw_key_valid(const struct gw_receiver *r, const char *key);

/* The body as a JSON object (application/json, any +json type, or a form
 * payload=), parsed on the first call and owned by ctx. Sets 400/415 on ctx
 * and returns NULL when it is not one. */
const cJSON *gw_body_json(struct gw_ctx *ctx);
/* gw_body_json that also takes a JSON array (batched deliveries). */
const cJSON *gw_body_json_any(struct gw_ctx *ctx);
/* Sets the 200 reply body of a handshake (see gw_ctx.reply). 0, or -1 with
 * a 500 (ENOMEM). */
int gw_reply(struct gw_ctx *ctx, const cJSON *body);
/* A dev.hookbus.image.push change of image (any registry/path reference)
 * at tag and/or digest; the caller adds what else it knows and emits it. */
struct gw_change gw_image_change(const char *provider_event, const char *image, const char *tag,
                                 const char *digest);
/* Emits one change as a normalized event (DESIGN section 4). 0 or -1 (sets 400
 * when the repository cannot be identified). */
int gw_emit(struct gw_ctx *ctx, const struct gw_change *ch);
/* Adds a ready event (pass-through receivers). Takes ownership. 0 or -1. */
int gw_ctx_add_event(struct gw_ctx *ctx, struct hb_event *ev);
/* Answers 200 without publishing: ping or an event not acted on. */
void gw_ignore(struct gw_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Answers 400 with a message. */
void gw_bad_request(struct gw_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_set_status(struct gw_ctx *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes id (a header value or a payload field; NULL: none) as the delivery
 * id when it is a valid CloudEvents String that fits, since it becomes the
 * event id; else the delivery id is left as it was. true when taken. */
bool gw_set_delivery_id(struct gw_ctx *ctx, const char *id);
/* gw_set_delivery_id with the value of a request header. */
void gw_take_delivery_id(struct gw_ctx *ctx, const char *header);

/* A pull_request payload of GitHub's shape (GitHub; Gitea, Forgejo and Gogs
 * copy it): the action mapped to opened / updated / merged / closed (`sync`
 * is the sender's action for new commits: "synchronize" on GitHub,
 * "synchronized" on Gitea) and the request's fields into *p (pointing into
 * root). false, the request answered 200 "not acted on", for other actions. */
bool gw_github_pull_request(struct gw_ctx *ctx, const cJSON *root, const char *sync,
                            struct gw_pull_request *p);

/* JSON helpers: a string member by dotted path ("repository.clone_url"), or NULL. */
const char *gw_json_str(const cJSON *obj, const char *path);
const cJSON *gw_json_get(const cJSON *obj, const char *path);
/* True for an image manifest, manifest list or OCI index media type (not a blob). */
bool gw_is_manifest_media_type(const char *media_type);
/* Git helpers: changed paths of a commits[] list (added/modified/removed,
 * deduplicated, bounded; caller deletes) and the all-zero "no commit" id. */
#define GW_MAX_CHANGED_PATHS 1000
cJSON *gw_changed_paths(const cJSON *commits, bool *truncated);
bool gw_is_zero_sha(const char *sha);
/* Emits a GitHub-style release (GitHub, Gitea): action "published" becomes
 * dev.hookbus.git.release for release.tag_name; other actions 200 ignored.
 * ch carries the repository URLs and actor. */
void gw_emit_release(struct gw_ctx *ctx, const cJSON *root, struct gw_change *ch);
/* Emits a ref update: ch->ref refs/heads/x -> git.push (ch->deleted marks a
 * removal, commit dropped), refs/tags/x -> git.tag; tag deletions and other
 * refs are answered 200 and ignored. Sets ch->type, branch, tag. 0 or -1. */
int gw_emit_ref(struct gw_ctx *ctx, struct gw_change *ch);
/* Emits dev.hookbus.git.pull_request for pr (ch carries the repository,
 * the head commit and the actor; ch->type and the PR are set here). A PR
 * without number or action is a 400. 0 or -1. */
int gw_emit_pull_request(struct gw_ctx *ctx, struct gw_change *ch,
                         const struct gw_pull_request *pr);
/* gw_emit_ref of a push with the changed paths of commits (none when the ref
 * was deleted or commits is not a list); truncated: the sender cut the
 * commit list. 0 or -1. */
int gw_emit_push(struct gw_ctx *ctx, struct gw_change *ch, const cJSON *commits, bool truncated);

/* Runs the receiver type's normalize over ctx, then frees the parsed body
 * (inside the caller's arena, where it was allocated). */
void gw_normalize(struct gw_ctx *ctx);
/* Finalizes ctx after normalize: trace context (the events'
 * traceparent / tracestate: the request's span) and ids (delivery id or body hash, /N suffix on
 * fan-out). */
void gw_ctx_finish(struct gw_ctx *ctx);
void gw_ctx_clear(struct gw_ctx *ctx);

/* The topic class of an event type: "git", "image" or "other". */
const char *gw_topic_class(const char *type);

/* The receiver types. */
extern const struct gw_receiver_type gw_receiver_github;
extern const struct gw_receiver_type gw_receiver_gitlab;
extern const struct gw_receiver_type gw_receiver_gitea;
extern const struct gw_receiver_type gw_receiver_bitbucket;
extern const struct gw_receiver_type gw_receiver_bitbucket_server;
extern const struct gw_receiver_type gw_receiver_azure_devops;
extern const struct gw_receiver_type gw_receiver_generic;
extern const struct gw_receiver_type gw_receiver_cloudevents;
extern const struct gw_receiver_type gw_receiver_dockerhub;
extern const struct gw_receiver_type gw_receiver_quay;
extern const struct gw_receiver_type gw_receiver_harbor;
extern const struct gw_receiver_type gw_receiver_distribution;
extern const struct gw_receiver_type gw_receiver_gitlab_registry;
extern const struct gw_receiver_type gw_receiver_acr;
extern const struct gw_receiver_type gw_receiver_artifactory;
extern const struct gw_receiver_type gw_receiver_nexus;
extern const struct gw_receiver_type gw_receiver_aliyun_acr;
extern const struct gw_receiver_type gw_receiver_ecr;
extern const struct gw_receiver_type gw_receiver_gar;
extern const struct gw_receiver_type gw_receiver_generic_hmac;
extern const struct gw_receiver_type gw_receiver_cdevents;
extern const struct gw_receiver_type gw_receiver_opaque;
extern const struct gw_receiver_type gw_receiver_standard_webhooks;
extern const struct gw_receiver_type gw_receiver_zot;
extern const struct gw_receiver_type gw_receiver_gerrit;
extern const struct gw_receiver_type gw_receiver_sourcehut;
extern const struct gw_receiver_type gw_receiver_azure_eventgrid;
extern const struct gw_receiver_type gw_receiver_aws_sns;

#endif
