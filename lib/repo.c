/* repo.c: canonical repository ids for git URLs and image references. */
#include "hookbus/repo.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hookbus/util.h"

/* Trims the span [*s, *e) of a query, fragment, trailing slashes and ".git". */
static void trim_path_end(const char *s, const char **e)
{
    const char *q = s;
    while (q < *e && *q != '?' && *q != '#')
        q++;
    *e = q;
    for (;;) {
        while (*e > s && (*e)[-1] == '/')
            (*e)--;
        if (*e - s >= 4 && strncasecmp(*e - 4, ".git", 4) == 0) {
            *e -= 4;
            continue;
        }
        break;
    }
}

static bool valid_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '\\' || c == '"' || c == '<' || c == '>')
            return false;
    }
    return true;
}

static bool port_is(const char *port, size_t plen, const char *want)
{
    return want && plen == strlen(want) && memcmp(port, want, plen) == 0;
}

/* Writes host + "/" + path, lowercased; the port is dropped when it is 22,
 * 443 or the scheme's own default (defport). */
static int compose(const char *host, size_t hlen, const char *port, size_t plen,
                   const char *defport, const char *path, size_t pathlen, char *out, size_t outlen)
{
    while (pathlen && *path == '/') {
        path++;
        pathlen--;
    }
    if (!hlen || !pathlen || !valid_chars(host, hlen) || !valid_chars(path, pathlen))
        return -1;
    bool keep_port = plen && !port_is(port, plen, "22") && !port_is(port, plen, "443") &&
                     !port_is(port, plen, defport);
    for (size_t i = 0; i < plen; i++)
        if (!isdigit((unsigned char)port[i]))
            return -1;
    int n = snprintf(out, outlen, "%.*s%s%.*s/%.*s", (int)hlen, host, keep_port ? ":" : "",
                     keep_port ? (int)plen : 0, port, (int)pathlen, path);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    hb_str_lower(out);
    /* Collapse "//" inside the path, which some hosts accept. */
    char *w = out;
    for (char *r = out; *r; r++)
        if (!(*r == '/' && r > out && r[-1] == '/'))
            *w++ = *r;
    *w = '\0';
    return 0;
}

/* Splits authority [a, e) into host and port, skipping user info; handles
 * [ipv6]:port. */
static void split_authority(const char *a, const char *e, const char **h, size_t *hlen,
                            const char **p, size_t *plen)
{
    const char *at = NULL;
    for (const char *x = a; x < e; x++)
        if (*x == '@')
            at = x;
    if (at)
        a = at + 1;
    *p = NULL;
    *plen = 0;
    if (a < e && *a == '[') {
        const char *rb = memchr(a, ']', (size_t)(e - a));
        if (rb) {
            *h = a;
            *hlen = (size_t)(rb - a) + 1;
            if (rb + 1 < e && rb[1] == ':') {
                *p = rb + 2;
                *plen = (size_t)(e - *p);
            }
            return;
        }
    }
    const char *colon = memchr(a, ':', (size_t)(e - a));
    *h = a;
    *hlen = colon ? (size_t)(colon - a) : (size_t)(e - a);
    if (colon) {
        *p = colon + 1;
        *plen = (size_t)(e - *p);
    }
}

static int git_id(const char *url, char *out, size_t outlen)
{
    if (!url)
        return -1;
    while (isspace((unsigned char)*url))
        url++;
    const char *end = url + strlen(url);
    while (end > url && isspace((unsigned char)end[-1]))
        end--;
    const char *sep = strstr(url, "://");
    const char *h, *p;
    size_t hlen, plen;
    if (sep && sep < end) {
        size_t slen = (size_t)(sep - url);
        const char *def;
        if (slen == 5 && strncasecmp(url, "https", 5) == 0)
            def = "443";
        else if (slen == 4 && strncasecmp(url, "http", 4) == 0)
            def = "80";
        else if ((slen == 3 && strncasecmp(url, "ssh", 3) == 0) ||
                 (slen == 7 && strncasecmp(url, "git+ssh", 7) == 0))
            def = "22";
        else if (slen == 3 && strncasecmp(url, "git", 3) == 0)
            def = "9418";
        else
            return -1;
        const char *auth = sep + 3;
        const char *slash = memchr(auth, '/', (size_t)(end - auth));
        if (!slash)
            return -1;
        split_authority(auth, slash, &h, &hlen, &p, &plen);
        const char *pe = end;
        trim_path_end(slash, &pe);
        return compose(h, hlen, p, plen, def, slash, (size_t)(pe - slash), out, outlen);
    }
    /* scp-like: [user@]host:path (no slash before the colon). */
    const char *colon = memchr(url, ':', (size_t)(end - url));
    const char *slash = memchr(url, '/', (size_t)(end - url));
    if (colon && (!slash || colon < slash) && colon[1] != '/') {
        const char *at = memchr(url, '@', (size_t)(colon - url));
        const char *host = at ? at + 1 : url;
        /* host:port/path without scheme (e.g. "example.com:8080/a/b") */
        const char *q = colon + 1;
        while (q < end && isdigit((unsigned char)*q))
            q++;
        if (!at && q > colon + 1 && q < end && *q == '/') {
            const char *pe = end;
            trim_path_end(q, &pe);
            return compose(host, (size_t)(colon - host), colon + 1, (size_t)(q - colon - 1), NULL,
                           q, (size_t)(pe - q), out, outlen);
        }
        const char *pe = end;
        trim_path_end(colon + 1, &pe);
        return compose(host, (size_t)(colon - host), NULL, 0, NULL, colon + 1,
                       (size_t)(pe - colon - 1), out, outlen);
    }
    /* bare host/path */
    if (!slash)
        return -1;
    const char *pe = end;
    trim_path_end(slash, &pe);
    split_authority(url, slash, &h, &hlen, &p, &plen);
    return compose(h, hlen, p, plen, NULL, slash, (size_t)(pe - slash), out, outlen);
}

/* The ssh spellings of two hosts whose https and ssh paths differ, rewritten
 * to their https id so both meet:
 *   Azure DevOps: ssh.dev.azure.com/v3/ORG/PROJ/REPO -> dev.azure.com/ORG/PROJ/_git/REPO
 *   Bitbucket Data Center: HOST:7999/PROJ/REPO (its ssh port) -> HOST/scm/PROJ/REPO */
static int vendor_alias(char *id, size_t outlen)
{
    char tmp[HB_REPO_ID_MAX];
    static const char azure[] = "ssh.dev.azure.com/v3/";
    if (hb_str_has_prefix(id, azure)) {
        const char *org = id + strlen(azure);
        const char *s1 = strchr(org, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (!s1 || !s2 || strchr(s2 + 1, '/') || !s2[1] || s2 == s1 + 1)
            return 0;
        if (hb_snprintf(tmp, sizeof(tmp), "dev.azure.com/%.*s/_git/%s", (int)(s2 - org), org,
                        s2 + 1) < 0)
            return -1;
        return hb_strlcpy(id, tmp, outlen);
    }
    char *port = strstr(id, ":7999/");
    if (port && !memchr(id, '/', (size_t)(port - id))) {
        if (hb_snprintf(tmp, sizeof(tmp), "%.*s/scm/%s", (int)(port - id), id,
                        port + strlen(":7999/")) < 0)
            return -1;
        return hb_strlcpy(id, tmp, outlen);
    }
    return 0;
}

int hb_repo_git_id(const char *url, char *out, size_t outlen)
{
    if (git_id(url, out, outlen) < 0)
        return -1;
    return vendor_alias(out, outlen) < 0 ? -1 : 0;
}

const char *hb_repo_registry_canonical(const char *host)
{
    static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                      "registry.hub.docker.com", "hub.docker.com"};
    for (size_t i = 0; i < HB_ARRAY_LEN(hub); i++)
        if (strcasecmp(host, hub[i]) == 0)
            return "docker.io";
    return host;
}

/* The first path component is a registry when it has a '.' or ':' or is
 * "localhost" (the rule docker itself uses). */
static bool looks_like_registry(const char *s, size_t n)
{
    return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && strncmp(s, "localhost", 9) == 0);
}

/* An OCI digest: algorithm ([a-z0-9]+ joined by [+._-]) ":" encoded
 * ([a-zA-Z0-9=_-]+); sha256 and sha512 want 64 / 128 lowercase hex. */
static bool valid_digest(const char *d)
{
    const char *colon = strchr(d, ':');
    if (!colon || colon == d || !colon[1])
        return false;
    for (const char *p = d; p < colon; p++) {
        bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
        bool sep = *p == '+' || *p == '.' || *p == '_' || *p == '-';
        if (!alnum && !(sep && p > d && p + 1 < colon && !strchr("+._-", p[1])))
            return false;
    }
    const char *enc = colon + 1;
    size_t n = strlen(enc), want = 0;
    if ((size_t)(colon - d) == 6 && strncmp(d, "sha256", 6) == 0)
        want = 64;
    else if ((size_t)(colon - d) == 6 && strncmp(d, "sha512", 6) == 0)
        want = 128;
    if (want && (n != want || strspn(enc, "0123456789abcdef") != n))
        return false;
    return strspn(enc, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789=_-") == n;
}

int hb_repo_image_parse(const char *ref, struct hb_image_ref *out)
{
    char buf[HB_REPO_ID_MAX + 400];
    memset(out, 0, sizeof(*out));
    if (!ref)
        return -1;
    while (isspace((unsigned char)*ref))
        ref++;
    if (hb_str_has_prefix(ref, "oci://"))
        ref += 6;
    else if (strncasecmp(ref, "https://", 8) == 0)
        ref += 8;
    else if (strncasecmp(ref, "http://", 7) == 0)
        ref += 7;
    if (hb_strlcpy(buf, ref, sizeof(buf)) < 0)
        return -1;
    size_t n = strlen(buf);
    bool trailing_slash = false;
    while (n && (isspace((unsigned char)buf[n - 1]) || buf[n - 1] == '/')) {
        trailing_slash |= buf[n - 1] == '/';
        buf[--n] = '\0';
    }
    /* "ghcr.io/" names a registry without a repository, not an image. */
    if (!n || !valid_chars(buf, n) || (trailing_slash && !strchr(buf, '/')))
        return -1;
    char *at = strchr(buf, '@');
    if (at) {
        if (!valid_digest(at + 1) || hb_strlcpy(out->digest, at + 1, sizeof(out->digest)) < 0)
            return -1;
        *at = '\0';
    }
    char *last_slash = strrchr(buf, '/');
    char *colon = strrchr(last_slash ? last_slash : buf, ':');
    if (colon) {
        if (!colon[1] || hb_strlcpy(out->tag, colon + 1, sizeof(out->tag)) < 0)
            return -1;
        *colon = '\0';
    }
    char *slash = strchr(buf, '/');
    const char *reg, *path;
    if (slash && looks_like_registry(buf, (size_t)(slash - buf))) {
        *slash = '\0';
        reg = buf;
        path = slash + 1;
    } else {
        reg = "docker.io";
        path = buf;
    }
    if (!*path || !*reg)
        return -1;
    char host[256];
    if (hb_strlcpy(host, reg, sizeof(host)) < 0)
        return -1;
    hb_str_lower(host);
    size_t hl = strlen(host);
    if (hl > 4 && strcmp(host + hl - 4, ":443") == 0)
        host[hl - 4] = '\0';
    if (hb_strlcpy(out->registry, hb_repo_registry_canonical(host), sizeof(out->registry)) < 0)
        return -1;
    bool hub = strcmp(out->registry, "docker.io") == 0;
    if (hb_snprintf(out->path, sizeof(out->path), "%s%s",
                    hub && !strchr(path, '/') ? "library/" : "", path) < 0)
        return -1;
    hb_str_lower(out->path);
    if (out->path[0] == '/' || strstr(out->path, "//"))
        return -1;
    return hb_snprintf(out->id, sizeof(out->id), "%s/%s", out->registry, out->path);
}

int hb_repo_image_id(const char *ref, char *out, size_t outlen)
{
    struct hb_image_ref r;
    if (hb_repo_image_parse(ref, &r) < 0)
        return -1;
    return hb_strlcpy(out, r.id, outlen);
}
