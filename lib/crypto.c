/* crypto.c: HMAC, Ed25519 checks and constant-time comparison on OpenSSL. */
#include "hookbus/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

static const EVP_MD *md_by_name(const char *alg)
{
    if (strcmp(alg, "sha1") == 0)
        return EVP_sha1();
    if (strcmp(alg, "sha256") == 0)
        return EVP_sha256();
    if (strcmp(alg, "sha512") == 0)
        return EVP_sha512();
    return NULL;
}

int hb_hmac(const char *alg, const void *key, size_t keylen, const void *data, size_t len,
            unsigned char out[HB_MAX_MD])
{
    const EVP_MD *md = md_by_name(alg);
    unsigned int n = 0;
    if (!md || keylen > (size_t)1 << 30)
        return -1;
    if (!HMAC(md, key, (int)keylen, data, len, out, &n))
        return -1;
    return (int)n;
}

struct hb_hmac_key {
    EVP_MAC_CTX *tmpl; /* keyed, never updated: copied for each MAC */
};

struct hb_hmac_key *hb_hmac_key_new(const char *alg, const void *key, size_t keylen)
{
    struct hb_hmac_key *k = NULL;
    EVP_MAC *mac = NULL;
    const EVP_MD *md = md_by_name(alg);
    if (!md || keylen > (size_t)1 << 30)
        return NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_end(),
    };
    /* HMAC refuses an empty key; a one-byte zero key gives the same MAC. */
    static const unsigned char zero = 0;
    if (!(k = calloc(1, sizeof(*k))) || !(mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) ||
        !(k->tmpl = EVP_MAC_CTX_new(mac)) ||
        !EVP_MAC_init(k->tmpl, keylen ? key : &zero, keylen ? keylen : 1, params))
        goto fail;
    EVP_MAC_free(mac);
    return k;
fail:
    EVP_MAC_free(mac);
    hb_hmac_key_free(k);
    return NULL;
}

int hb_hmac_key_mac(const struct hb_hmac_key *k, const void *data, size_t len,
                    unsigned char out[HB_MAX_MD])
{
    size_t n = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(k->tmpl);
    int ok = c && EVP_MAC_update(c, data, len) && EVP_MAC_final(c, out, &n, HB_MAX_MD);
    EVP_MAC_CTX_free(c);
    return ok ? (int)n : -1;
}

void hb_hmac_key_free(struct hb_hmac_key *k)
{
    if (!k)
        return;
    EVP_MAC_CTX_free(k->tmpl); /* OpenSSL cleanses the pads it holds */
    free(k);
}

int hb_hmac_hex(const char *alg, const void *key, size_t keylen, const void *data, size_t len,
                char *out)
{
    unsigned char mac[HB_MAX_MD];
    int n = hb_hmac(alg, key, keylen, data, len, mac);
    if (n < 0)
        return -1;
    hb_hex_encode(mac, (size_t)n, out);
    return 0;
}

void hb_sha256_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
    unsigned char md[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, alen);
    EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestFinal_ex(ctx, md, NULL);
    EVP_MD_CTX_free(ctx);
    hb_hex_encode(md, sizeof(md), out);
}

bool hb_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

bool hb_ct_equal_hex(const char *hex, size_t hexlen, const unsigned char *mac, size_t maclen)
{
    unsigned char got[HB_MAX_MD];
    if (maclen > HB_MAX_MD || hexlen != 2 * maclen)
        return false;
    if (hb_hex_decode(hex, hexlen, got, sizeof(got)) != (long)maclen)
        return false;
    return CRYPTO_memcmp(got, mac, maclen) == 0;
}

/* Random bytes for ids come from a per-thread pool that RAND_bytes fills
 * 512 bytes at a time: every id on the request path (a trace id and span
 * id per request) asked OpenSSL's DRBG separately, ~3 % of the gateway's
 * CPU. Each pooled byte is handed out once; a fork empties the child's
 * pool so that parent and child never hand out the same bytes. */
#define RANDOM_POOL 512
static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static __thread unsigned char pool[RANDOM_POOL];
static __thread size_t pool_left;
static __thread unsigned pool_gen;

static void on_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void register_fork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

int hb_random_hex(size_t n, char *out)
{
    if (n > 64)
        return -1;
    pthread_once(&fork_once, register_fork);
    unsigned gen = atomic_load(&fork_gen);
    if (pool_gen != gen) {
        OPENSSL_cleanse(pool, sizeof(pool));
        pool_left = 0;
        pool_gen = gen;
    }
    if (pool_left < n) {
        if (RAND_bytes(pool, RANDOM_POOL) != 1)
            return -1;
        pool_left = RANDOM_POOL;
    }
    unsigned char *p = pool + RANDOM_POOL - pool_left;
    hb_hex_encode(p, n, out);
    OPENSSL_cleanse(p, n);
    pool_left -= n;
    return 0;
}

bool hb_ed25519_verify(const unsigned char pub[32], const void *msg, size_t len,
                       const unsigned char sig[64])
{
    bool ok = false;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    if (!key || !(ctx = EVP_MD_CTX_new()))
        goto done;
    /* Pure Ed25519 signs the whole message: no digest, one-shot verify. */
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1)
        ok = EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}
