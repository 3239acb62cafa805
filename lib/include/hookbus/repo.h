/* hookbus/repo.h: canonical repository ids (DESIGN section 4), shared by the
 * gateway (the repo attribute) and the consumers (matching Warehouse URLs), so
 * that every spelling of a repository meets the same id. */
#ifndef HOOKBUS_REPO_H
#define HOOKBUS_REPO_H

#include <stddef.h>

#define HB_REPO_ID_MAX 512

/* Git: https/http/ssh/git URLs, scp-like user@host:path, and bare host/path.
 * Lowercase host and path; no scheme, user, port 22/443 (80 for http), .git,
 * trailing slash, query or fragment. The ssh forms of Azure DevOps
 * (ssh.dev.azure.com:v3/org/proj/repo) and Bitbucket Data Center (port 7999)
 * give the id of their https form (dev.azure.com/org/proj/_git/repo,
 * host/scm/proj/repo). 0, or -1 when it is not a repository URL or the id
 * does not fit in out. */
int hb_repo_git_id(const char *url, char *out, size_t outlen);

struct hb_image_ref {
    char id[HB_REPO_ID_MAX];   /* registry/path, e.g. docker.io/library/nginx */
    char registry[256];        /* docker.io, ghcr.io, localhost:5000 */
    char path[HB_REPO_ID_MAX]; /* library/nginx */
    char tag[129];             /* "" when absent */
    char digest[200];          /* "" when absent, else algo:hex */
};

/* Image or chart references: [oci://|https://]host[:port]/path[:tag][@digest],
 * Docker Hub short names (nginx, acme/app) and its aliases (index.docker.io,
 * registry-1.docker.io) spelled docker.io, library/ for single names. 0 or -1. */
int hb_repo_image_parse(const char *ref, struct hb_image_ref *out);
int hb_repo_image_id(const char *ref, char *out, size_t outlen);
/* The canonical spelling of a registry host (docker.io for Docker Hub's). */
const char *hb_repo_registry_canonical(const char *host);

#endif
