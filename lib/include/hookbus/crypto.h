/* hookbus/crypto.h: HMAC, digests and constant-time comparison. */
#ifndef HOOKBUS_CRYPTO_H
#define HOOKBUS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#define HB_MAX_MD 64

/* HMAC with alg "sha1" | "sha256" | "sha512" into out[HB_MAX_MD]. Returns the
 * MAC length, or -1 for an unknown algorithm. */
int hb_hmac(const char *alg, const void *key, size_t keylen, const void *data, size_t len,
            unsigned char out[HB_MAX_MD]);
/* A key made ready once for many HMACs (the key's inner and outer pads
 * hashed, the algorithm fetched): each MAC copies it instead of starting
 * over. Read-only once made: any thread may use it. */
struct hb_hmac_key;
/* alg as hb_hmac. NULL for an unknown algorithm, or on ENOMEM. */
struct hb_hmac_key *hb_hmac_key_new(const char *alg, const void *key, size_t keylen);
/* HMAC of data with k into out[HB_MAX_MD]; the MAC length, or -1. */
int hb_hmac_key_mac(const struct hb_hmac_key *k, const void *data, size_t len,
                    unsigned char out[HB_MAX_MD]);
/* Frees k (the key material inside is cleansed); NULL is ignored. */
void hb_hmac_key_free(struct hb_hmac_key *k);
/* Lowercase hex HMAC into out (2*HB_MAX_MD+1). 0 or -1. */
int hb_hmac_hex(const char *alg, const void *key, size_t keylen, const void *data, size_t len,
                char *out);
/* Lowercase hex SHA-256 of the concatenation of two buffers into out[65]. */
void hb_sha256_hex2(const void *a, size_t alen, const void *b, size_t blen, char out[65]);
/* n random bytes from the OpenSSL CSPRNG as lowercase hex into out[2n+1].
 * 0 or -1. */
int hb_random_hex(size_t n, char *out);
/* Constant-time equality (time depends only on the lengths). */
bool hb_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Constant-time, case-insensitive comparison of a hex string with raw bytes:
 * true when hex decodes to exactly mac[maclen]. */
bool hb_ct_equal_hex(const char *hex, size_t hexlen, const unsigned char *mac, size_t maclen);

/* Ed25519 signature check: true when sig[64] is pub[32]'s signature of
 * msg[0, len) (RFC 8032, pure Ed25519). */
bool hb_ed25519_verify(const unsigned char pub[32], const void *msg, size_t len,
                       const unsigned char sig[64]);

#endif
