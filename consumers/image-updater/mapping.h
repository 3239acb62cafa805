/* mapping.h: the pure part of hookbus-image-updater: how a hookbus image
 * event becomes the request Argo CD Image Updater's webhook server accepts.
 *
 * Image Updater (pkg/webhook, the "cloudevents" handler) matches an event's
 * data.registry and data.repository by exact string against the images it
 * manages, which it parses with the distribution reference normalizer:
 *   - the registry is the host as written (with its port), "" for Docker Hub
 *     short names such as "nginx" (which then match any registry), and
 *     "docker.io" only when the reference spells it;
 *   - the repository is the path, with Docker Hub's "library/" removed unless
 *     the reference itself starts with "library/".
 * hookbus's canonical id spells every Docker Hub alias docker.io and adds
 * library/ to single names, so the mapping strips library/ (by default) and
 * lets an operator rename registry hosts (registry_aliases) to the spelling
 * the ImageUpdater resources use. Everything here is free of I/O so that
 * tests/unit/test_image_updater.c can test it directly. */
#ifndef HOOKBUS_IMAGE_UPDATER_MAPPING_H
#define HOOKBUS_IMAGE_UPDATER_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event.h"

/* Registry and repository lengths Image Updater receives (bounded by the
 * canonical id, which is bounded by HB_REPO_ID_MAX). */
#define IU_REGISTRY_MAX 256
#define IU_REPOSITORY_MAX 512

/* The CloudEvent type sent: Image Updater's handler wants "image" or
 * "container" in the type (com.amazon.ecr.* is its ECR path). */
#define IU_EVENT_TYPE "dev.hookbus.image.push"

struct iu_alias {
    char *from; /* canonical registry host (lowercase, docker.io for Docker Hub) */
    char *to;   /* the host string Image Updater is configured with, verbatim */
};

struct iu_mapping {
    struct iu_alias *aliases;
    size_t naliases;
    bool strip_library; /* docker.io/library/nginx -> repository "nginx" */
};

/* Adds an alias. from is canonicalized (lowercase, Docker Hub's hosts become
 * docker.io, port 443 dropped) so "index.docker.io" and "docker.io" name the
 * same key; a second alias for the same key is an error. 0, or -1 with err. */
int iu_mapping_add_alias(struct iu_mapping *m, const char *from, const char *to, char *err,
                         size_t errlen);
void iu_mapping_free(struct iu_mapping *m);

/* Maps a canonical image repository id (the event's `repo`, e.g.
 * docker.io/library/nginx, ghcr.io/acme/app, localhost:5000/team/app) to the
 * registry and repository strings Image Updater compares. 0, or -1 when repo
 * is not an image reference or a result does not fit. */
int iu_map_repo(const struct iu_mapping *m, const char *repo, char *registry, size_t reglen,
                char *repository, size_t repolen);

/* The structured CloudEvent (application/cloudevents+json) for one tag of an
 * image: specversion, id, source, type IU_EVENT_TYPE, subject
 * "repository:tag", time (when given), datacontenttype, and data {registry,
 * repository, tag, digest (when given)}. time and digest may be NULL.
 * Caller frees; NULL on ENOMEM. */
char *iu_build_body(const char *id, const char *source, const char *time, const char *registry,
                    const char *repository, const char *tag, const char *digest);

/* Which events of a batch (oldest first, all the same image repository) to
 * send: one per distinct tag, the newest event of each, ordered by the
 * position of that newest event, so the newest tag is sent last. Events with
 * no tag are left out (Image Updater rejects a tagless event). Writes indexes
 * into out (room for b->n) and returns how many. */
size_t iu_pick_tags(const struct hb_event *const *events, size_t n, size_t *out);

/* True for the event types the consumer acts on: image pushes, and chart
 * pushes when charts is set. */
bool iu_type_wanted(const char *type, bool charts);

#endif
