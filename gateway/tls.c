/* tls.c: the certificate the webhooks listener serves: loaded from
 * tls.cert_file / tls.key_file, or self-signed at start when TLS is on and no
 * certificate is configured (development; logged loudly), and replaced on
 * SIGHUP without dropping connections. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/crypto.h"
#include "hookbus/log.h"
#include "tls.h"

/* A certificate and key as GnuTLS serves them. Replaced on SIGHUP; retired
 * ones are kept until the server stops (a handshake may still use them). */
struct gw_cert {
    gnutls_pcert_st pcerts[16];
    unsigned npcerts;
    gnutls_privkey_t key;
    struct gw_cert *older;
};

/* GnuTLS's certificate callback has no user pointer: the certificate being
 * served is the one piece of process-wide state (one server per process). */
static struct gw_cert *_Atomic current_cert;

/* Copies a memory BIO's contents into a new string. */
static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    return s;
}

/* A self-signed certificate and key (PEM) for localhost, valid one year.
 * 0, or -1 with err. */
static int self_signed(char **cert_pem, char **key_pem, char *err, size_t errlen)
{
    int rc = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    X509_EXTENSION *ext = NULL;
    *cert_pem = *key_pem = NULL;
    if (!key || !x || !cb || !kb)
        goto out;
    X509_set_version(x, 2);
    unsigned char serial[16];
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(serial, 1, sizeof(serial), ur) != sizeof(serial)) {
        if (ur)
            fclose(ur);
        goto out;
    }
    fclose(ur);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"hookbus-gateway",
                               -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
                              "DNS:localhost,IP:127.0.0.1,IP:::1");
    if (!ext || !X509_add_ext(x, ext, -1) || !X509_sign(x, key, EVP_sha256()))
        goto out;
    if (!PEM_write_bio_X509(cb, x) || !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
        goto out;
    *cert_pem = bio_string(cb);
    *key_pem = bio_string(kb);
    if (*cert_pem && *key_pem)
        rc = 0;
out:
    if (rc < 0) {
        snprintf(err, errlen, "cannot generate a self-signed certificate");
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
    X509_EXTENSION_free(ext);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* Frees c and every certificate it replaced. */
void gw_tls_cert_free(struct gw_cert *c)
{
    while (c) {
        struct gw_cert *o = c->older;
        for (unsigned i = 0; i < c->npcerts; i++)
            gnutls_pcert_deinit(&c->pcerts[i]);
        if (c->key)
            gnutls_privkey_deinit(c->key);
        free(c);
        c = o;
    }
}

struct gw_cert *gw_tls_cert_load(const struct gw_config *cfg, char *err, size_t errlen)
{
    char *cert_pem = NULL, *key_pem = NULL;
    size_t clen = 0, klen = 0;
    struct gw_cert *c = calloc(1, sizeof(*c));
    gnutls_certificate_credentials_t check = NULL;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (cfg->tls_cert_file[0]) {
        cert_pem = hb_read_file(cfg->tls_cert_file, 1 << 20, &clen, err, errlen);
        key_pem = cert_pem ? hb_read_file(cfg->tls_key_file, 1 << 20, &klen, err, errlen) : NULL;
        if (!key_pem)
            goto fail;
    } else {
        if (self_signed(&cert_pem, &key_pem, err, errlen) < 0)
            goto fail;
        clen = strlen(cert_pem);
        klen = strlen(key_pem);
    }
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)clen};
    gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)klen};
    int e;
    c->npcerts = HB_ARRAY_LEN(c->pcerts);
    if ((e = gnutls_certificate_allocate_credentials(&check)) < 0 ||
        (e = gnutls_certificate_set_x509_key_mem2(check, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) <
            0 ||
        (e = gnutls_pcert_list_import_x509_raw(c->pcerts, &c->npcerts, &cd, GNUTLS_X509_FMT_PEM,
                                               0)) < 0) {
        c->npcerts = 0;
        goto tls_fail;
    }
    if ((e = gnutls_privkey_init(&c->key)) < 0 ||
        (e = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
        goto tls_fail;
    gnutls_certificate_free_credentials(check);
    free(cert_pem);
    memset(key_pem, 0, klen);
    free(key_pem);
    /* The fingerprint lets clients pin a self-signed certificate. */
    char fp[65];
    hb_sha256_hex2(c->pcerts[0].cert.data, c->pcerts[0].cert.size, "", 0, fp);
    if (cfg->tls_cert_file[0])
        HB_LOG(HB_LOG_INFO, "TLS certificate loaded", HB_S("file", cfg->tls_cert_file),
               HB_S("fingerprint_sha256", fp));
    else
        HB_LOG(HB_LOG_WARN,
               "TLS: no tls.cert_file configured, serving a SELF-SIGNED "
               "certificate generated at start (development only)",
               HB_S("fingerprint_sha256", fp));
    return c;
tls_fail:
    snprintf(err, errlen, "TLS certificate %s: %s",
             cfg->tls_cert_file[0] ? cfg->tls_cert_file : "(self-signed)", gnutls_strerror(e));
fail:
    if (check)
        gnutls_certificate_free_credentials(check);
    free(cert_pem);
    if (key_pem) {
        memset(key_pem, 0, klen);
        free(key_pem);
    }
    gw_tls_cert_free(c);
    return NULL;
}

void gw_tls_cert_install(struct gw_cert *c)
{
    c->older = atomic_load(&current_cert);
    atomic_store(&current_cert, c);
}

void gw_tls_cert_clear(void)
{
    gw_tls_cert_free(atomic_exchange(&current_cert, NULL));
}

/* GnuTLS asks which certificate to present: the current one. */
int gw_tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *pkey)
{
    (void)session;
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct gw_cert *c = atomic_load(&current_cert);
    if (!c)
        return -1;
    *pcert = c->pcerts;
    *pcert_length = c->npcerts;
    *pkey = c->key;
    return 0;
}
