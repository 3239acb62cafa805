/* git.c: the branches and tags of a Git remote, as `git ls-remote` shows
 * them, with libgit2 on a detached remote (no repository, no clone, no
 * objects fetched). Annotated tags are peeled to their commit. Credentials:
 * user name and password (or token) over http(s), a private key over ssh,
 * whose server is trusted by its pinned host key fingerprint.
 *
 * libgit2 1.5 has no timeout for a server that accepts the connection and
 * then says nothing, so each listing runs in a child process (this program
 * again, `--git-ls-remote`, spawned, not forked: the poller has threads): the
 * request (URL and credentials) goes to its stdin, the refs come back on its
 * stdout, and the child is killed at the source's deadline. A hung server
 * then costs one poll of one source, never the loop. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <git2.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* The listing itself, in the child. 0, or -1 with err. */
static int git_ls(struct pl_source *src, struct pl_snapshot *s, char *err, size_t errlen)
{
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

#define PL_GIT_REQ_MAX 65536 /* the request: a URL and a few credentials */

/* ---- the child ---- */

/* Wipes the string values of a request object (its credentials) before it
 * is freed: cJSON frees without wiping. */
static void wipe_json(cJSON *o)
{
    cJSON *it;
    cJSON_ArrayForEach (it, o) {
        if (cJSON_IsString(it) && it->valuestring)
            explicit_bzero(it->valuestring, strlen(it->valuestring));
    }
}

static int take_str(const cJSON *o, const char *k, char **out)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return v && !(*out = strdup(v)) ? -1 : 0;
}

static int take_secret(const cJSON *o, const char *k, struct hb_secret *out)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    if (!v)
        return 0;
    out->len = strlen(v);
    return (out->value = strdup(v)) ? 0 : -1;
}

/* Writes all of buf to fd; 0 or -1. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int pl_git_child_main(void)
{
    struct hb_buf in;
    struct pl_source src = {0};
    struct pl_snapshot snap = {0};
    cJSON *req = NULL;
    char err[512] = "", *out = NULL;
    int rc = 1;
    hb_buf_init(&in, PL_GIT_REQ_MAX);
    for (;;) {
        char chunk[4096];
        ssize_t r = read(0, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && hb_buf_append(&in, chunk, (size_t)r) < 0)) {
            snprintf(err, sizeof(err), "request not read");
            goto answer;
        }
        if (r == 0)
            break;
    }
    if (!in.p || !(req = cJSON_ParseWithLength(in.p, in.len)) ||
        take_str(req, "url", &src.url) < 0 || !src.url || take_str(req, "user", &src.user) < 0 ||
        take_secret(req, "password", &src.password) < 0 ||
        take_secret(req, "token", &src.token) < 0 ||
        take_str(req, "ssh_key_file", &src.ssh_key_file) < 0 ||
        take_str(req, "ssh_user", &src.ssh_user) < 0 ||
        take_str(req, "ssh_host_key_sha256", &src.ssh_host_key_sha256) < 0 ||
        take_secret(req, "ssh_passphrase", &src.ssh_passphrase) < 0) {
        snprintf(err, sizeof(err), "malformed request");
        goto answer;
    }
    src.kind = PL_GIT;
    src.insecure_skip_verify = cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(req, "insecure_skip_verify"));
    if (git_ls(&src, &snap, err, sizeof(err)) < 0)
        goto answer;
    if (!(out = pl_snapshot_encode(&snap, PL_GIT, src.url))) {
        snprintf(err, sizeof(err), "out of memory");
        goto answer;
    }
    rc = 0;
answer:
    /* "ok\n" and the refs as a state record, or "error\n" and why. */
    if (rc == 0)
        rc = write_all(1, "ok\n", 3) < 0 || write_all(1, out, strlen(out)) < 0;
    else if (write_all(1, "error\n", 6) == 0)
        (void)write_all(1, err, strlen(err));
    /* The request held the secrets: wiped before freed. */
    if (in.p)
        explicit_bzero(in.p, in.len);
    wipe_json(req);
    cJSON_Delete(req);
    hb_buf_free(&in);
    free(out);
    pl_snapshot_free(&snap);
    pl_source_clear(&src);
    return rc;
}

/* ---- the parent ---- */

/* The request for src: {"url":..., credentials}. Caller wipes and frees;
 * NULL when out of memory. */
static char *git_request(const struct pl_source *src)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (!o || !cJSON_AddStringToObject(o, "url", src->url) ||
        (src->user && !cJSON_AddStringToObject(o, "user", src->user)) ||
        (src->password.value && !cJSON_AddStringToObject(o, "password", src->password.value)) ||
        (src->token.value && !cJSON_AddStringToObject(o, "token", src->token.value)) ||
        (src->ssh_key_file && !cJSON_AddStringToObject(o, "ssh_key_file", src->ssh_key_file)) ||
        (src->ssh_user && !cJSON_AddStringToObject(o, "ssh_user", src->ssh_user)) ||
        (src->ssh_host_key_sha256 &&
         !cJSON_AddStringToObject(o, "ssh_host_key_sha256", src->ssh_host_key_sha256)) ||
        (src->ssh_passphrase.value &&
         !cJSON_AddStringToObject(o, "ssh_passphrase", src->ssh_passphrase.value)) ||
        !cJSON_AddBoolToObject(o, "insecure_skip_verify", src->insecure_skip_verify))
        goto done;
    out = cJSON_PrintUnformatted(o);
done:
    wipe_json(o);
    cJSON_Delete(o);
    return out;
}

/* Reads the child's answer from fd until EOF, the deadline (monotonic ms)
 * or a stop. 0 at EOF, 1 at the deadline, -1 stopping or too large. */
static int read_answer(int fd, const struct pl_git_run *run, int64_t deadline, struct hb_buf *b)
{
    for (;;) {
        int64_t left = deadline - hb_mono_ms();
        if (left <= 0)
            return 1;
        if (run->stopping && run->stopping(run->arg))
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left < 200 ? left : 200)); /* a stop is seen within 0.2 s */
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue;
        char chunk[16384];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        if (hb_buf_append(b, chunk, (size_t)r) < 0)
            return -1;
    }
}

int pl_git_list(struct pl_source *src, struct pl_git_run *run, struct pl_snapshot *s, char *err,
                size_t errlen)
{
    int sv[2] = {-1, -1}, rc = -1;
    pid_t pid = -1;
    char *req = NULL;
    struct hb_buf b;
    posix_spawn_file_actions_t fa;
    bool fa_init = false;
    hb_buf_init(&b, (size_t)run->max_bytes);
    run->timed_out = false;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || !(req = git_request(src))) {
        snprintf(err, errlen, "cannot start the git listing: %s", HB_STRERROR(errno));
        goto done;
    }
    /* The child: its end as stdin and stdout, stderr shared (its sanitizer
     * reports), every other descriptor closed. */
    char *argv[] = {(char *)"hookbus-poller", (char *)PL_GIT_CHILD_FLAG, NULL};
    extern char **environ;
    int se = posix_spawn_file_actions_init(&fa);
    fa_init = se == 0;
    if (se == 0)
        se = posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    if (se == 0)
        se = posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    if (se == 0)
        se = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (se == 0)
        se = posix_spawn(&pid, run->exe, &fa, NULL, argv, environ);
    if (se != 0) {
        pid = -1;
        snprintf(err, errlen, "cannot start the git listing: %s", HB_STRERROR(se));
        goto done;
    }
    close(sv[1]);
    sv[1] = -1;
    int64_t deadline = hb_mono_ms() + run->timeout_ms;
    /* The request is far below a socket buffer: the send does not block. */
    if (send(sv[0], req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req) ||
        shutdown(sv[0], SHUT_WR) < 0) {
        snprintf(err, errlen, "git listing: request not sent");
        goto done;
    }
    int r = read_answer(sv[0], run, deadline, &b);
    if (r == 1) {
        run->timed_out = true;
        snprintf(err, errlen, "no answer within %ld ms (git_timeout)", run->timeout_ms);
        goto done;
    }
    if (r < 0) {
        snprintf(err, errlen, "git listing: stopping or answer over %ld bytes", run->max_bytes);
        goto done;
    }
    if (b.p && hb_str_has_prefix(b.p, "ok\n")) {
        if (pl_snapshot_decode(b.p + 3, b.len - 3, s) < 0) {
            snprintf(err, errlen, "git listing: malformed answer");
            goto done;
        }
        rc = 0;
    } else if (b.p && hb_str_has_prefix(b.p, "error\n")) {
        snprintf(err, errlen, "%s", b.p + 6);
        hb_str_one_line(err);
    } else {
        snprintf(err, errlen, "git listing: the child ended without an answer");
    }
done:
    if (pid > 0) {
        int st;
        if (rc < 0)
            kill(pid, SIGKILL); /* at the deadline, or a stop: it may still be waiting */
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (req) {
        explicit_bzero(req, strlen(req));
        free(req);
    }
    hb_buf_free(&b);
    return rc;
}
