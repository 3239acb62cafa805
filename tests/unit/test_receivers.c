/* test_receivers.c: the table-driven receiver tests. Every fixture request
 * tests/fixtures/<dir>/<name>.json has an expectation <name>.expect.json:
 *
 *   {"receiver": "<name in receivers.yaml, default <dir>>",
 *    "body": "<body file, default <name>.json>",
 *    "headers": {... as the sender sends them, without the credential ...},
 *    "status": 202 | 200 | 400 | ...,
 *    "message": "<optional: words the 200 / 4xx message must contain>",
 *    "events": [{"<attribute>": "<value>", ..., "data": {...}}]}
 *
 * Each fixture goes through the receiver as the gateway runs it (the
 * credential added as tests/fixtures/auth.json says, gw_authenticate,
 * normalize, gw_ctx_finish), and every produced event is compared attribute
 * by attribute (all of them but `time`) and its data member by member.
 * Then, per receiver: a wrong credential and a missing one are refused, and
 * a malformed body is a 400 (except opaque, which does not read it).
 *
 * HB_RECORD=1 rewrites status and events of every expectation from what the
 * receivers produce now, for review with `git diff` when a fixture is added. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <time.h>

#include "gateway.h"
#include "hookbus/crypto.h"
#include "hookbus/format.h"
#include "hookbus/trace.h"
#include "hookbus/util.h"
#include "helpers.h"

#define MAX_FILE (4 << 20)
#define MAX_HEADERS 32

static struct gw_config cfg;
static cJSON *auth_table;
static const char *secret;
static char fixtures[4096];

/* ---- a request as the gateway builds it ---- */

struct test_req {
    struct gw_request req;
    const char *names[MAX_HEADERS];
    const char *values[MAX_HEADERS];
    size_t n;
    char ct[128];
    char *owned[8];
};

static const char *th_header(const struct gw_request *req, const char *name)
{
    const struct test_req *t = (const struct test_req *)req;
    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(t->names[i], name) == 0)
            return t->values[i];
    return NULL;
}

static void th_each(const struct gw_request *req,
                    void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    const struct test_req *t = (const struct test_req *)req;
    for (size_t i = 0; i < t->n; i++)
        fn(arg, t->names[i], t->values[i]);
}

/* Sets (or, with value NULL, removes) a header. */
static void th_set(struct test_req *t, const char *name, const char *value)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcasecmp(t->names[i], name) == 0) {
            if (value) {
                t->values[i] = value;
            } else {
                t->names[i] = t->names[t->n - 1];
                t->values[i] = t->values[--t->n];
            }
            return;
        }
    }
    if (value && t->n < MAX_HEADERS) {
        t->names[t->n] = name;
        t->values[t->n++] = value;
    }
}

static char *keep(struct test_req *t, char *s)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(t->owned); i++)
        if (!t->owned[i])
            return t->owned[i] = s;
    fail_msg("too many owned strings");
    return NULL;
}

static void th_free(struct test_req *t)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(t->owned); i++)
        free(t->owned[i]);
}

static void th_init(struct test_req *t, const cJSON *headers, const char *body, size_t len)
{
    memset(t, 0, sizeof(*t));
    const cJSON *h;
    cJSON_ArrayForEach (h, headers)
        th_set(t, h->string, h->valuestring);
    const char *ct = th_header(&t->req, "Content-Type");
    snprintf(t->ct, sizeof(t->ct), "%.*s", ct ? (int)strcspn(ct, ";") : 0, ct ? ct : "");
    hb_str_lower(t->ct);
    t->req = (struct gw_request){.method = "POST",
                                 .remote = "127.0.0.1",
                                 .content_type = t->ct,
                                 .body = (const unsigned char *)body,
                                 .body_len = len,
                                 .header = th_header,
                                 .each_header = th_each};
}

enum cred { CRED_GOOD, CRED_BAD, CRED_NONE };

/* Standard Webhooks headers of t's body (webhook-id from the fixture) with
 * the whsec_ key, timestamp now + skew seconds. */
static void th_standard_webhooks(struct test_req *t, const char *key, long skew)
{
    char ts[32], buf[256];
    unsigned char mac[HB_MAX_MD];
    size_t klen = 0;
    const char *id = th_header(&t->req, "webhook-id");
    assert_non_null(id);
    snprintf(ts, sizeof(ts), "%ld", (long)time(NULL) + skew);
    unsigned char *raw = hb_base64_decode(key + 6, strlen(key + 6), &klen);
    assert_non_null(raw);
    size_t n = strlen(id) + strlen(ts) + 2 + t->req.body_len;
    char *msg = malloc(n + 1);
    assert_non_null(msg);
    snprintf(msg, n + 1, "%s.%s.", id, ts);
    memcpy(msg + strlen(id) + strlen(ts) + 2, t->req.body, t->req.body_len);
    int ml = hb_hmac("sha256", raw, klen, msg, n, mac);
    free(msg);
    free(raw);
    assert_true(ml > 0);
    char *b64 = hb_base64_encode(mac, (size_t)ml);
    snprintf(buf, sizeof(buf), "v1,%s", b64);
    free(b64);
    th_set(t, "webhook-timestamp", keep(t, strdup(ts)));
    th_set(t, "webhook-signature", keep(t, strdup(buf)));
}

/* The base64 Ed25519 signature of body + extra with the key of seed64. */
static char *ed25519_sign_b64(const char *seed64, const void *body, size_t len, const char *extra)
{
    size_t sl = 0, sigl = 64;
    unsigned char sig[64];
    unsigned char *seed = hb_base64_decode(seed64, strlen(seed64), &sl);
    assert_true(seed && sl == 32);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = len + strlen(extra);
    unsigned char *msg = malloc(n + 1);
    assert_true(k && ctx && msg);
    if (len)
        memcpy(msg, body, len);
    memcpy(msg + len, extra, strlen(extra));
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sigl, msg, n), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    free(msg);
    free(seed);
    return hb_base64_encode(sig, sigl);
}

/* Adds the credential of auth.json for receiver r (good, wrong or none). */
static void th_auth(struct test_req *t, const struct gw_receiver *r, enum cred cred)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(auth_table, "receivers"), r->name);
    const char *kind = gw_json_str(a, "kind"), *header = gw_json_str(a, "header");
    const char *s = cred == CRED_GOOD ? secret : "not-the-secret";
    char buf[600];
    assert_non_null(kind);
    if (cred == CRED_NONE) {
        if (header)
            th_set(t, header, NULL);
        th_set(t, "webhook-signature", NULL);
        th_set(t, "Authorization", NULL);
        return;
    }
    if (strcmp(kind, "hmac") == 0) {
        char hex[2 * HB_MAX_MD + 1];
        assert_int_equal(
            hb_hmac_hex(gw_json_str(a, "alg"), s, strlen(s), t->req.body, t->req.body_len, hex), 0);
        const char *prefix = gw_json_str(a, "prefix");
        snprintf(buf, sizeof(buf), "%s%s", prefix ? prefix : "", hex);
        th_set(t, header, keep(t, strdup(buf)));
    } else if (strcmp(kind, "header") == 0) {
        th_set(t, header, s);
    } else if (strcmp(kind, "bearer") == 0) {
        snprintf(buf, sizeof(buf), "Bearer %s", s);
        th_set(t, "Authorization", keep(t, strdup(buf)));
    } else if (strcmp(kind, "basic") == 0) {
        snprintf(buf, sizeof(buf), "hookbus:%s", s);
        char *b64 = hb_base64_encode((const unsigned char *)buf, strlen(buf));
        snprintf(buf, sizeof(buf), "Basic %s", b64);
        free(b64);
        th_set(t, "Authorization", keep(t, strdup(buf)));
    } else if (strcmp(kind, "key") == 0) {
        char key[65];
        hb_sha256_hex2(r->name, strlen(r->name), s, strlen(s), key);
        t->req.key_route = gw_key_valid(r, key);
    } else if (strcmp(kind, "standard-webhooks") == 0) {
        /* A wrong key: the base64 of "not-the-secret". */
        th_standard_webhooks(
            t, cred == CRED_GOOD ? gw_json_str(a, "key") : "whsec_bm90LXRoZS1zZWNyZXQ=", 0);
    } else if (strcmp(kind, "ed25519") == 0) {
        const char *nonce = th_header(&t->req, gw_json_str(a, "nonce"));
        assert_non_null(nonce);
        /* A wrong key: another test seed. */
        const char *seed = cred == CRED_GOOD ? gw_json_str(a, "seed")
                                             : "cm49HUTKFrqG6RVtaxIN4oC5FS3U1R5rtmIHidapIF8=";
        th_set(t, header, keep(t, ed25519_sign_b64(seed, t->req.body, t->req.body_len, nonce)));
    } else if (strcmp(kind, "fixture") == 0 && cred == CRED_BAD) {
        /* "Bearer @file": a credential of the right shape that must fail. */
        const char *bad = gw_json_str(a, "bad");
        char path[4200];
        size_t len;
        char e[128];
        assert_non_null(bad);
        const char *at = strchr(bad, '@');
        snprintf(path, sizeof(path), "%s/%s", fixtures, at ? at + 1 : "");
        char *tok = at ? hb_read_file(path, 65536, &len, e, sizeof(e)) : NULL;
        assert_non_null(tok);
        tok[strcspn(tok, "\r\n")] = '\0';
        snprintf(buf, sizeof(buf), "%.*s%s", (int)(at - bad), bad, tok);
        free(tok);
        th_set(t, header, keep(t, strdup(buf)));
    }
}

/* Runs req through r as http.c does. Returns the HTTP status the gateway
 * answers (202 when there are events to publish); ctx keeps the events. */
static int run(const struct gw_receiver *r, struct test_req *t, struct gw_ctx *ctx)
{
    const char *reason = NULL;
    *ctx = (struct gw_ctx){.rcv = r, .req = &t->req};
    if (gw_authenticate(r, &t->req, &reason) < 0) {
        assert_non_null(reason);
        return 401;
    }
    hb_strlcpy(ctx->time, "2026-11-23T12:00:00.000Z", sizeof(ctx->time));
    gw_normalize(ctx);
    if (ctx->status == 200 && ctx->nevents)
        ctx->status = 0;
    if (ctx->status)
        return ctx->status;
    if (!ctx->nevents)
        return 200;
    gw_ctx_finish(ctx);
    return 202;
}

/* ---- files ---- */

static int setup(void **state)
{
    (void)state;
    char path[4200], err[512], tmpl[] = "/tmp/hb-test-receivers-XXXXXX";
    size_t len;
    hbt_source_path(fixtures, sizeof(fixtures), "tests/fixtures");
    snprintf(path, sizeof(path), "%s/auth.json", fixtures);
    auth_table = hbt_json_path(path);
    secret = gw_json_str(auth_table, "secret");
    snprintf(path, sizeof(path), "%s/receivers.yaml", fixtures);
    char *yaml = hbt_read_path(path, &len);
    struct hb_buf b;
    hb_buf_init(&b, MAX_FILE);
    hb_buf_puts(&b, "kafka: {brokers: 127.0.0.1:1}\n");
    for (const char *p = yaml; *p;) {
        const char *m = strstr(p, "@FIXTURES@");
        if (!m) {
            hb_buf_puts(&b, p);
            break;
        }
        hb_buf_append(&b, p, (size_t)(m - p));
        hb_buf_puts(&b, fixtures);
        p = m + strlen("@FIXTURES@");
    }
    free(yaml);
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
    close(fd);
    hb_buf_free(&b);
    int rc = gw_config_load(tmpl, &cfg, err, sizeof(err));
    unlink(tmpl);
    if (rc < 0)
        fail_msg("receivers.yaml: %s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gw_config_free(&cfg);
    cJSON_Delete(auth_table);
    return 0;
}

/* ---- the walk ---- */

struct fixture {
    char dir[64], name[128], expect_path[4400], body_path[4400];
    cJSON *expect;
    const struct gw_receiver *rcv;
    char *body;
    size_t body_len;
};

/* Calls fn for every <dir>/<name>.expect.json, in a stable order. */
static int walk(void (*fn)(struct fixture *f, int *bad), int *bad)
{
    struct dirent **dirs;
    int nd = scandir(fixtures, &dirs, NULL, alphasort), count = 0;
    assert_true(nd > 0);
    for (int i = 0; i < nd; i++) {
        char dpath[4400];
        struct dirent **files;
        snprintf(dpath, sizeof(dpath), "%s/%s", fixtures, dirs[i]->d_name);
        int nf = dirs[i]->d_name[0] == '.' ? -1 : scandir(dpath, &files, NULL, alphasort);
        for (int k = 0; k < nf; k++) {
            const char *fname = files[k]->d_name;
            if (hb_str_has_suffix(fname, ".expect.json")) {
                struct fixture f = {0};
                hb_strlcpy(f.dir, dirs[i]->d_name, sizeof(f.dir));
                snprintf(f.name, sizeof(f.name), "%.*s", (int)(strlen(fname) - 12), fname);
                assert_int_equal(
                    hb_snprintf(f.expect_path, sizeof(f.expect_path), "%s/%s", dpath, fname), 0);
                f.expect = hbt_json_path(f.expect_path);
                const char *rname = gw_json_str(f.expect, "receiver");
                const char *body = gw_json_str(f.expect, "body");
                f.rcv = gw_config_find_receiver(&cfg, rname ? rname : f.dir);
                if (!f.rcv)
                    fail_msg("%s: no receiver '%s' in receivers.yaml", f.expect_path,
                             rname ? rname : f.dir);
                if (body)
                    assert_int_equal(
                        hb_snprintf(f.body_path, sizeof(f.body_path), "%s/%s", dpath, body), 0);
                else
                    assert_int_equal(
                        hb_snprintf(f.body_path, sizeof(f.body_path), "%s/%s.json", dpath, f.name),
                        0);
                f.body = hbt_read_path(f.body_path, &f.body_len);
                fn(&f, bad);
                count++;
                free(f.body);
                cJSON_Delete(f.expect);
            }
            free(files[k]);
        }
        if (nf >= 0)
            free(files);
        free(dirs[i]);
    }
    free(dirs);
    return count;
}

/* An event as the expectation files spell it: attributes (but the
 * gateway's acceptance time of a normalized event and the trace context,
 * random per request and checked by compare_event) and data. */
static cJSON *event_json(const struct hb_event *ev, bool normalized)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < ev->nattrs; i++)
        if ((!normalized || strcmp(ev->attrs[i].name, "time") != 0) &&
            strcmp(ev->attrs[i].name, "traceparent") != 0 &&
            strcmp(ev->attrs[i].name, "tracestate") != 0)
            cJSON_AddStringToObject(o, ev->attrs[i].name, ev->attrs[i].value);
    cJSON *data = ev->data ? hb_json_parse((const char *)ev->data, ev->data_len) : NULL;
    cJSON_AddItemToObject(o, "data", data ? data : cJSON_CreateNull());
    return o;
}

static void record(struct fixture *f, int status, const struct gw_ctx *ctx)
{
    cJSON_DeleteItemFromObject(f->expect, "status");
    cJSON_DeleteItemFromObject(f->expect, "events");
    cJSON_AddNumberToObject(f->expect, "status", status);
    cJSON *evs = cJSON_AddArrayToObject(f->expect, "events");
    for (size_t i = 0; status == 202 && i < ctx->nevents; i++)
        cJSON_AddItemToArray(evs, event_json(ctx->events[i], ctx->normalized[i]));
    char *s = cJSON_Print(f->expect);
    FILE *fp = fopen(f->expect_path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", s);
    fclose(fp);
    free(s);
}

/* Compares one produced event with its expectation; prints every difference. */
static int compare_event(const struct fixture *f, size_t i, const cJSON *want,
                         const struct hb_event *ev, bool normalized)
{
    int bad = 0;
    cJSON *got = event_json(ev, normalized);
    const cJSON *w;
    cJSON_ArrayForEach (w, want) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, w->string);
        /* An id the gateway draws at random (opaque without X-Request-Id):
         * the expectation says "(random)", the event must hold 32 hex digits. */
        if (g && cJSON_IsString(w) && strcmp(w->valuestring, "(random)") == 0 &&
            cJSON_IsString(g) && strlen(g->valuestring) == 32 &&
            strspn(g->valuestring, "0123456789abcdef") == 32)
            continue;
        if (!g || !cJSON_Compare(w, g, 1)) {
            char *ws = cJSON_PrintUnformatted(w), *gs = g ? cJSON_PrintUnformatted(g) : NULL;
            print_error("%s/%s event %zu: %s is %s, want %s\n", f->dir, f->name, i + 1, w->string,
                        gs ? gs : "absent", ws);
            free(ws);
            free(gs);
            bad++;
        }
    }
    cJSON_ArrayForEach (w, got) {
        if (!cJSON_HasObjectItem(want, w->string)) {
            print_error("%s/%s event %zu: unexpected attribute %s\n", f->dir, f->name, i + 1,
                        w->string);
            bad++;
        }
    }
    struct hb_trace tc;
    if (hb_trace_parse(hb_event_get(ev, "traceparent"), &tc) < 0) {
        print_error("%s/%s event %zu: no valid traceparent\n", f->dir, f->name, i + 1);
        bad++;
    }
    if (normalized && !hb_event_get(ev, "time")) {
        print_error("%s/%s event %zu: no time\n", f->dir, f->name, i + 1);
        bad++;
    }
    /* A normalized event's data is written directly (lib/change.c), not
     * printed from a tree: it must be exactly what cJSON prints for it. */
    cJSON *data = normalized && ev->data ? hb_json_parse((const char *)ev->data, ev->data_len)
                                         : NULL;
    char *printed = data ? cJSON_PrintUnformatted(data) : NULL;
    if (normalized && (!printed || strlen(printed) != ev->data_len ||
                       memcmp(printed, ev->data, ev->data_len) != 0)) {
        print_error("%s/%s event %zu: data is not cJSON's compact print of itself\n", f->dir,
                    f->name, i + 1);
        bad++;
    }
    free(printed);
    cJSON_Delete(data);
    cJSON_Delete(got);
    return bad;
}

static void check_fixture(struct fixture *f, int *bad)
{
    struct test_req t;
    struct gw_ctx ctx;
    th_init(&t, cJSON_GetObjectItemCaseSensitive(f->expect, "headers"), f->body, f->body_len);
    th_auth(&t, f->rcv, CRED_GOOD);
    int status = run(f->rcv, &t, &ctx);
    if (getenv("HB_RECORD") && strcmp(getenv("HB_RECORD"), "1") == 0) {
        record(f, status, &ctx);
    } else {
        const cJSON *want_status = cJSON_GetObjectItemCaseSensitive(f->expect, "status");
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(f->expect, "events");
        size_t nwant = (size_t)cJSON_GetArraySize(want), ngot = status == 202 ? ctx.nevents : 0;
        if (!cJSON_IsNumber(want_status) || want_status->valueint != status) {
            print_error("%s/%s: status %d (%s), want %d\n", f->dir, f->name, status, ctx.message,
                        cJSON_IsNumber(want_status) ? want_status->valueint : -1);
            (*bad)++;
        } else if (nwant != ngot) {
            print_error("%s/%s: %zu events, want %zu\n", f->dir, f->name, ngot, nwant);
            (*bad)++;
        } else if (gw_json_str(f->expect, "message") &&
                   !strstr(ctx.message, gw_json_str(f->expect, "message"))) {
            print_error("%s/%s: message \"%s\", want one with \"%s\"\n", f->dir, f->name,
                        ctx.message, gw_json_str(f->expect, "message"));
            (*bad)++;
        } else {
            for (size_t i = 0; i < ngot; i++)
                *bad += compare_event(f, i, cJSON_GetArrayItem(want, (int)i), ctx.events[i],
                                      ctx.normalized[i]);
        }
    }
    gw_ctx_clear(&ctx);
    th_free(&t);
}

static void test_every_fixture(void **state)
{
    (void)state;
    int bad = 0;
    int n = walk(check_fixture, &bad);
    print_message("%d fixtures checked\n", n);
    assert_true(n >= 80);
    assert_int_equal(bad, 0);
}

/* Per receiver (on each fixture it has): wrong and missing credentials are
 * refused before anything else; a malformed body is a 400. */
static void check_negative(struct fixture *f, int *bad)
{
    static const char *const malformed[] = {"{\"truncated\": ", "[1, 2, 3]", "\xff\xfe not json"};
    struct test_req t;
    struct gw_ctx ctx;
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(f->expect, "headers");
    for (int c = CRED_BAD; c <= CRED_NONE; c++) {
        th_init(&t, headers, f->body, f->body_len);
        th_auth(&t, f->rcv, (enum cred)c);
        int status = run(f->rcv, &t, &ctx);
        if (status != 401) {
            print_error("%s/%s: %s credential gave %d, want 401\n", f->dir, f->name,
                        c == CRED_BAD ? "a wrong" : "no", status);
            (*bad)++;
        }
        gw_ctx_clear(&ctx);
        th_free(&t);
    }
    const cJSON *want_status = cJSON_GetObjectItemCaseSensitive(f->expect, "status");
    /* opaque ignores the body, a binary CloudEvent's body is opaque data, and
     * deliveries not acted on may be answered before the body is parsed. */
    if (strcmp(f->rcv->type->type, "opaque") == 0 || !cJSON_IsNumber(want_status) ||
        want_status->valueint != 202 ||
        (strcmp(f->rcv->type->type, "cloudevents") == 0 &&
         cJSON_HasObjectItem(headers, "ce-specversion")))
        return;
    for (size_t m = 0; m < HB_ARRAY_LEN(malformed); m++) {
        th_init(&t, headers, malformed[m], strlen(malformed[m]));
        th_auth(&t, f->rcv, CRED_GOOD);
        int status = run(f->rcv, &t, &ctx);
        if (status != 400 && status != 415) {
            print_error("%s/%s: malformed body %zu gave %d, want 400\n", f->dir, f->name, m,
                        status);
            (*bad)++;
        }
        gw_ctx_clear(&ctx);
        th_free(&t);
    }
}

/* gw_authenticate_headers, with the body not arrived yet, agrees with
 * gw_authenticate on the whole request: authentic from the headers only
 * when the whole check passes, refused only when it fails; and every
 * credential carried by the headers alone (token, bearer, Basic, key route,
 * OIDC bearer) is decided there, never deferred to the body. */
static void check_header_auth(struct fixture *f, int *bad)
{
    static const char *const header_kinds[] = {"header", "bearer", "basic", "key", "fixture"};
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(f->expect, "headers");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(auth_table, "receivers"), f->rcv->name);
    const char *kind = gw_json_str(a, "kind");
    bool headers_only = false;
    for (size_t i = 0; kind && i < HB_ARRAY_LEN(header_kinds); i++)
        headers_only |= strcmp(kind, header_kinds[i]) == 0;
    for (int c = CRED_GOOD; c <= CRED_NONE; c++) {
        struct test_req t;
        const char *reason = NULL;
        th_init(&t, headers, f->body, f->body_len);
        th_auth(&t, f->rcv, (enum cred)c);
        int full = gw_authenticate(f->rcv, &t.req, &reason);
        t.req.body = (const unsigned char *)"";
        t.req.body_len = 0;
        int early = gw_authenticate_headers(f->rcv, &t.req, &reason);
        bool wrong = (early == GW_AUTH_OK && full != 0) ||
                     (early == GW_AUTH_REFUSED && full == 0) ||
                     (headers_only && early == GW_AUTH_BODY &&
                      !(c != CRED_GOOD && strcmp(kind, "key") == 0)); /* a bad key: http.c's */
        if (wrong) {
            print_error("%s/%s: credential %d: headers verdict %d, whole request %d\n", f->dir,
                        f->name, c, early, full);
            (*bad)++;
        }
        th_free(&t);
    }
}

static void test_auth_from_headers(void **state)
{
    (void)state;
    int bad = 0;
    walk(check_header_auth, &bad);
    assert_int_equal(bad, 0);
}

static void test_auth_and_malformed(void **state)
{
    (void)state;
    int bad = 0;
    walk(check_negative, &bad);
    assert_int_equal(bad, 0);
}

/* Which outcomes each receiver's fixtures cover: a published event always,
 * and a 200 (ping, test delivery or an event not acted on) for every type
 * whose sender can send one. opaque publishes on every request. */
static void cover(struct fixture *f, int *bad)
{
    (void)bad;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(f->expect, "status");
    cJSON *seen = cJSON_GetObjectItemCaseSensitive(auth_table, "_seen");
    if (!seen)
        seen = cJSON_AddObjectToObject(auth_table, "_seen");
    char key[96];
    snprintf(key, sizeof(key), "%s:%d", f->rcv->type->type, cJSON_IsNumber(s) ? s->valueint : 0);
    if (!cJSON_HasObjectItem(seen, key))
        cJSON_AddTrueToObject(seen, key);
}

static void test_coverage(void **state)
{
    (void)state;
    int bad = 0;
    char types[1024], key[96];
    walk(cover, &bad);
    const cJSON *seen = cJSON_GetObjectItemCaseSensitive(auth_table, "_seen");
    gw_receiver_types_list(types, sizeof(types));
    for (char *p = types; *p;) {
        size_t n = strcspn(p, ",");
        char type[64];
        snprintf(type, sizeof(type), "%.*s", (int)n, p);
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
        snprintf(key, sizeof(key), "%s:202", type);
        if (!cJSON_HasObjectItem(seen, key)) {
            print_error("no fixture publishes an event through type %s\n", type);
            bad++;
        }
        snprintf(key, sizeof(key), "%s:200", type);
        /* Docker Hub sends pushes only; opaque publishes on every request;
         * gitlab-registry is distribution's code under another name. */
        if (!cJSON_HasObjectItem(seen, key) && strcmp(type, "dockerhub") != 0 &&
            strcmp(type, "opaque") != 0 && strcmp(type, "gitlab-registry") != 0) {
            print_error("no fixture of type %s is answered 200 (ping / not acted on)\n", type);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* commits[].added/modified/removed: first-seen order across commits and
 * lists, duplicates and non-strings dropped, cut at GW_MAX_CHANGED_PATHS. */
static void test_changed_paths(void **state)
{
    (void)state;
    const char *small = "[{\"added\":[\"a\",\"b\"],\"modified\":[\"a\",7],\"removed\":[\"c\"]},"
                        "{\"added\":[\"c\",\"d\"],\"modified\":null},{\"removed\":[\"b\",\"e\"]}]";
    cJSON *commits = cJSON_Parse(small);
    bool truncated = false;
    cJSON *out = gw_changed_paths(commits, &truncated);
    char *text = cJSON_PrintUnformatted(out);
    assert_string_equal(text, "[\"a\",\"b\",\"c\",\"d\",\"e\"]");
    assert_false(truncated);
    cJSON_free(text);
    cJSON_Delete(out);
    cJSON_Delete(commits);

    /* 3000 commits: every path twice and 1500 distinct in all. */
    commits = cJSON_CreateArray();
    for (int i = 0; i < 3000; i++) {
        char a[32], b[32];
        snprintf(a, sizeof(a), "dir/file_%d.go", i / 2);
        snprintf(b, sizeof(b), "dir/file_%d.go", (i / 2 + 1) % 1500);
        cJSON *c = cJSON_CreateObject();
        cJSON *m = cJSON_AddArrayToObject(c, "modified");
        cJSON_AddItemToArray(m, cJSON_CreateString(a));
        cJSON_AddItemToArray(m, cJSON_CreateString(b));
        cJSON_AddItemToArray(commits, c);
    }
    out = gw_changed_paths(commits, &truncated);
    assert_true(truncated);
    assert_int_equal(cJSON_GetArraySize(out), GW_MAX_CHANGED_PATHS);
    for (int i = 0; i < GW_MAX_CHANGED_PATHS; i++) {
        char want[32];
        snprintf(want, sizeof(want), "dir/file_%d.go", i);
        assert_string_equal(cJSON_GetArrayItem(out, i)->valuestring, want);
    }
    cJSON_Delete(out);
    cJSON_Delete(commits);
}

/* gw_set_delivery_id: the payload path keeps only what the header path
 * keeps (a non-empty, valid CloudEvents String that fits). */
static void test_delivery_id(void **state)
{
    (void)state;
    struct test_req t;
    char longest[256], too_long[257];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    memset(too_long, 'b', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    th_init(&t, NULL, "", 0);
    struct gw_ctx ctx = {.req = &t.req};
    assert_true(gw_set_delivery_id(&ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    assert_string_equal(ctx.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    /* Refused values leave the id as it was. */
    assert_false(gw_set_delivery_id(&ctx, NULL));
    assert_false(gw_set_delivery_id(&ctx, ""));
    assert_false(gw_set_delivery_id(&ctx, "cb8c\nce-x"));
    assert_false(gw_set_delivery_id(&ctx, "tab\there"));
    assert_false(gw_set_delivery_id(&ctx, too_long));
    assert_string_equal(ctx.delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_true(gw_set_delivery_id(&ctx, longest));
    assert_string_equal(ctx.delivery_id, longest);
    /* The header path is the same check. */
    struct gw_ctx hctx = {.req = &t.req};
    th_set(&t, "X-Request-Id", "id\x01with-control");
    gw_take_delivery_id(&hctx, "X-Request-Id");
    assert_string_equal(hctx.delivery_id, "");
    th_set(&t, "X-Request-Id", "d-42");
    gw_take_delivery_id(&hctx, "X-Request-Id");
    assert_string_equal(hctx.delivery_id, "d-42");
    th_free(&t);
}

/* The framework parses the body once, hands the same tree to every call,
 * copies it into data.original when asked, and frees it after normalize. */
static void test_body_owned_by_framework(void **state)
{
    (void)state;
    static const char body[] = "{\"ref\": \"main\", \"repository\": \"https://github.com/a/b\"}";
    struct gw_receiver r = {.name = "g",
                            .type = &gw_receiver_generic,
                            .insecure_no_auth = true,
                            .include_original = true};
    struct test_req t;
    cJSON *hdrs = cJSON_Parse("{\"Content-Type\": \"application/json\"}");
    th_init(&t, hdrs, body, strlen(body));
    struct gw_ctx ctx = {.rcv = &r, .req = &t.req};
    const cJSON *first = gw_body_json(&ctx);
    assert_non_null(first);
    assert_ptr_equal(gw_body_json(&ctx), first);
    gw_ctx_clear(&ctx); /* frees a parsed body too */
    assert_null(ctx.body_json);

    ctx = (struct gw_ctx){.rcv = &r, .req = &t.req};
    hb_strlcpy(ctx.time, "2026-11-23T12:00:00.000Z", sizeof(ctx.time));
    gw_normalize(&ctx);
    assert_null(ctx.body_json);
    assert_int_equal(ctx.status, 0);
    assert_int_equal(ctx.nevents, 1);
    cJSON *data = cJSON_ParseWithLength((const char *)ctx.events[0]->data, ctx.events[0]->data_len);
    assert_string_equal(gw_json_str(data, "original.ref"), "main");
    cJSON_Delete(data);
    gw_ctx_clear(&ctx);

    /* A malformed body: 400 once, and NULL on every call. */
    th_init(&t, hdrs, "{", 1);
    ctx = (struct gw_ctx){.rcv = &r, .req = &t.req};
    assert_null(gw_body_json(&ctx));
    assert_int_equal(ctx.status, 400);
    assert_null(gw_body_json(&ctx));
    gw_ctx_clear(&ctx);
    cJSON_Delete(hdrs);
}

/* cloudevents, binary mode: JSON data loses the whitespace around its value
 * (so structured mode can carry it as a JSON value, as the SDKs expect);
 * anything that is not a JSON value stays byte for byte. */
static void test_cloudevents_json_data_trimmed(void **state)
{
    (void)state;
    const struct {
        const char *ct, *body, *data;
    } cases[] = {
        {"application/json", " {\"a\": 1}\r\n", "{\"a\": 1}"},
        {"application/json", "[1,2]\n\n", "[1,2]"},
        {"text/json", "\t\"s\" ", "\"s\""},
        {"application/json", "{\"a\": 1}", "{\"a\": 1}"},
        {"application/json", "not json\n", "not json\n"},
        {"application/json", "null\n", "null\n"},
        {"text/plain", " hello\n", " hello\n"},
    };
    const struct gw_receiver *r = gw_config_find_receiver(&cfg, "cloudevents");
    assert_non_null(r);
    for (size_t i = 0; i < HB_ARRAY_LEN(cases); i++) {
        cJSON *headers = cJSON_CreateObject();
        cJSON_AddStringToObject(headers, "Content-Type", cases[i].ct);
        cJSON_AddStringToObject(headers, "ce-specversion", "1.0");
        cJSON_AddStringToObject(headers, "ce-id", "1");
        cJSON_AddStringToObject(headers, "ce-source", "/s");
        cJSON_AddStringToObject(headers, "ce-type", "t");
        struct test_req t;
        struct gw_ctx ctx;
        th_init(&t, headers, cases[i].body, strlen(cases[i].body));
        th_auth(&t, r, CRED_GOOD);
        assert_int_equal(run(r, &t, &ctx), 202);
        assert_int_equal(ctx.nevents, 1);
        const struct hb_event *ev = ctx.events[0];
        if (ev->data_len != strlen(cases[i].data) ||
            memcmp(ev->data, cases[i].data, ev->data_len) != 0)
            fail_msg("case %zu: data is '%.*s', want '%s'", i, (int)ev->data_len,
                     (const char *)ev->data, cases[i].data);
        gw_ctx_clear(&ctx);
        th_free(&t);
        cJSON_Delete(headers);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changed_paths),
        cmocka_unit_test(test_delivery_id),
        cmocka_unit_test(test_body_owned_by_framework),
        cmocka_unit_test(test_every_fixture),
        cmocka_unit_test(test_auth_and_malformed),
        cmocka_unit_test(test_auth_from_headers),
        cmocka_unit_test(test_coverage),
        cmocka_unit_test(test_cloudevents_json_data_trimmed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
