/* hookbus/change.h: one changed artifact (a moved branch, a new tag, a pushed
 * image or chart) turned into the normalized CloudEvent of DESIGN section 4.
 *
 * The gateway's receivers describe what a webhook said as a struct hb_change
 * (gateway/receivers/receiver.h calls it gw_change); hookbus-poller describes
 * what it saw changing the same way, so an event looks the same whichever of
 * the two found the change. */
#ifndef HOOKBUS_CHANGE_H
#define HOOKBUS_CHANGE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hookbus/event.h"

/* A pull (merge) request's state change, as the senders describe it. */
struct hb_pull_request {
    const char *action;        /* opened, updated, merged, closed */
    long number;               /* the PR number (iid on GitLab, id elsewhere) */
    const char *url;           /* its web page */
    const char *source_branch; /* short names, without refs/heads/ */
    const char *target_branch;
    const char *merge_commit; /* merged: the merge (or squash) commit, when given */
    const char *title;
};

/* The description of one changed artifact. Unknown fields stay NULL. */
struct hb_change {
    const char *type;     /* dev.hookbus.git.push, ... */
    const char *repo_url; /* any URL/reference of the repository (canonicalized) */
    const char *urls[8];  /* every URL form the payload gave */
    const char *ref, *branch, *tag, *commit, *before;
    int deleted; /* -1 unknown, 0, 1 */
    const char *digest, *media_type, *actor;
    /* Image events: registry host and repository path; derived from the
     * canonical id when NULL. */
    const char *registry, *image;
    const cJSON *changed_paths; /* array of strings */
    bool changed_paths_truncated;
    const char *provider_event;
    const cJSON *extra;               /* other data members to copy (object), may be NULL */
    const struct hb_pull_request *pr; /* dev.hookbus.git.pull_request only */
};

/* Who found the change: the provider and receiver attributes, the event
 * source (/receivers/<name>, /pollers/<name>), the time (RFC 3339), the
 * sender's delivery id ("" or NULL: none), the original payload to embed
 * (NULL: none) and data members the delivery adds (NULL: none). */
struct hb_change_origin {
    const char *provider, *receiver, *source, *time, *delivery_id;
    const cJSON *original;
    const cJSON *extra; /* data members of the delivery (e.g. from its headers), may be NULL */
};

/* The kind of repository an event type is about: "git", "image", "chart"
 * or "other". */
const char *hb_change_kind(const char *type);

/* hb_change_event's failures. */
#define HB_CHANGE_NO_REPO (-1) /* no URL of the change is a repository */
#define HB_CHANGE_INVALID (-2) /* a field is too long or not a valid attribute */
#define HB_CHANGE_NOMEM (-3)

/* Builds the event of ch with id `id` ("pending" when the caller sets it
 * later). Returns 0 with *out (caller frees), or one of HB_CHANGE_* with
 * err. */
int hb_change_event(const struct hb_change *ch, const struct hb_change_origin *o, const char *id,
                    struct hb_event **out, char *err, size_t errlen);

#endif
