/* git.c: the branches and tags of a Git remote, as `git ls-remote` shows
 * them, with libgit2 on a detached remote (no repository, no clone, no
 * objects fetched). Annotated tags are peeled to their commit. Credentials:
 * user name and password (or token) over http(s), a private key over ssh,
 * whose server is trusted by its pinned host key fingerprint. */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/crypto.h"
#include "hookbus/util.h"
#include "poller.h"

/* Gives libgit2 the source's credentials once; a second call for the same
 * connection means they were refused. */
struct cred_ctx {
    struct pl_source *src;
    int calls;
};

static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
                   unsigned int allowed, void *payload)
{
    (void)url;
    struct cred_ctx *c = payload;
    struct pl_source *s = c->src;
    if (c->calls++ > 0)
        return GIT_EAUTH;
    if ((allowed & GIT_CREDENTIAL_SSH_KEY) && s->ssh_key_file) {
        const char *user = s->ssh_user ? s->ssh_user : user_from_url ? user_from_url : "git";
        return git_credential_ssh_key_new(out, user, NULL, s->ssh_key_file,
                                          s->ssh_passphrase.value);
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && (s->password.value || s->token.value)) {
        const char *user = s->user ? s->user : user_from_url ? user_from_url : "git";
        return git_credential_userpass_plaintext_new(
            out, user, s->password.value ? s->password.value : s->token.value);
    }
    return GIT_PASSTHROUGH;
}

/* The server's TLS certificate as libgit2 checked it; an ssh host key
 * against the source's ssh_host_key_sha256, "SHA256:<base64>" as
 * `ssh-keygen -lf` prints it (libgit2 1.5 would only consult the
 * ~/.ssh/known_hosts of the user the poller runs as, which a container does
 * not have: the pin in the config decides, whatever that file says).
 * insecure_skip_verify accepts either unchecked. */
static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
    (void)host;
    const struct cred_ctx *c = payload;
    if (c->src->insecure_skip_verify)
        return 0;
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
        return valid ? 0 : GIT_ECERTIFICATE;
    const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
    const char *want = c->src->ssh_host_key_sha256;
    if (!want || !(hk->type & GIT_CERT_SSH_SHA256))
        return GIT_ECERTIFICATE;
    char *b64 = hb_base64_encode(hk->hash_sha256, sizeof(hk->hash_sha256));
    if (!b64)
        return GIT_ECERTIFICATE;
    size_t n = strlen(b64);
    while (n && b64[n - 1] == '=') /* ssh-keygen prints it unpadded */
        n--;
    const char *w = hb_str_has_prefix(want, "SHA256:") ? want + 7 : want;
    size_t wn = strlen(w);
    while (wn && w[wn - 1] == '=')
        wn--;
    bool ok = hb_ct_equal(b64, n, w, wn);
    free(b64);
    return ok ? 0 : GIT_ECERTIFICATE;
}

int pl_git_list(struct pl_source *src, long timeout_ms, struct pl_snapshot *s, char *err,
                size_t errlen)
{
    (void)timeout_ms; /* libgit2 1.5 has no per-operation timeout (README) */
    git_remote *remote = NULL;
    const git_remote_head **heads = NULL;
    size_t n = 0;
    int rc = -1;
    struct cred_ctx cc = {.src = src};
    git_remote_callbacks cb;
    git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
    cb.credentials = cred_cb;
    cb.certificate_check = cert_cb;
    cb.payload = &cc;
    if (git_remote_create_detached(&remote, src->url) < 0 ||
        git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL) < 0 ||
        git_remote_ls(&heads, &n, remote) < 0) {
        const git_error *e = git_error_last();
        snprintf(err, errlen, "%s", e && e->message ? e->message : "git error");
        hb_str_one_line(err);
        goto done;
    }
    char hex[GIT_OID_HEXSZ + 1];
    /* Peeled entries (refs/tags/v1^{}) name the commit of an annotated tag:
     * first every plain ref, then the peeled values replace the tag's. */
    for (size_t i = 0; i < n; i++) {
        const char *name = heads[i]->name;
        if ((!hb_str_has_prefix(name, "refs/heads/") && !hb_str_has_prefix(name, "refs/tags/")) ||
            hb_str_has_suffix(name, "^{}"))
            continue;
        git_oid_tostr(hex, sizeof(hex), &heads[i]->oid);
        if (pl_snapshot_add(s, name, hex) < 0) {
            snprintf(err, errlen, "more than %d refs", PL_MAX_ITEMS);
            goto done;
        }
    }
    pl_snapshot_sort(s);
    for (size_t i = 0; i < n; i++) {
        const char *name = heads[i]->name;
        if (!hb_str_has_prefix(name, "refs/tags/") || !hb_str_has_suffix(name, "^{}"))
            continue;
        char base[1024];
        size_t bl = strlen(name) - 3;
        if (bl >= sizeof(base))
            continue;
        memcpy(base, name, bl);
        base[bl] = '\0';
        /* The tag's value is an object id of the same length: overwrite it. */
        char *v = (char *)pl_snapshot_get(s, base);
        if (v)
            git_oid_tostr(v, strlen(v) + 1, &heads[i]->oid);
    }
    rc = 0;
done:
    if (remote) {
        git_remote_disconnect(remote);
        git_remote_free(remote);
    }
    return rc;
}
