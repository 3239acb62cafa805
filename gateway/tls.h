/* tls.h: the certificate the webhooks listener serves (see tls.c). */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "gateway.h"

struct gw_cert;

/* Loads cfg's certificate and key (or generates a self-signed pair), checks
 * that they match and logs the fingerprint. NULL with err. */
struct gw_cert *gw_tls_cert_load(const struct gw_config *cfg, char *err, size_t errlen);
/* Frees a certificate that was never installed. */
void gw_tls_cert_free(struct gw_cert *c);
/* Serves c from now on (takes it). The one it replaces is kept until
 * gw_tls_cert_clear: a handshake may still be using it. */
void gw_tls_cert_install(struct gw_cert *c);
/* Frees the served certificate and every one it replaced. */
void gw_tls_cert_clear(void);
/* libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK: the served certificate. */
int gw_tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *pkey);

#endif
