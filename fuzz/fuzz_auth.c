/* fuzz_auth.c: request authentication with crafted headers.
 *
 * Input: headers, an empty line, the body (see harness.h). Options:
 * ":token-header: NAME" names the receiver's extra token header, ":key: K"
 * is checked as a URL key. The receiver holds two secrets (rotation), one of
 * them binary. Drives the shared token and HMAC checks with every algorithm
 * and prefix the receivers use, the key route check, and every receiver of
 * tests/fixtures/receivers.yaml (one per type) through its own verify, its
 * check from the headers alone and its replay key. None may crash or read out of bounds;
 * the answers are not checked (the unit and e2e tests do that). */
#include <string.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const char *header, *prefix, *alg;
    } hmacs[] = {
        {"X-Hub-Signature-256", "sha256=", "sha256"},
        {"X-Hub-Signature", "sha1=", "sha1"},
        {"X-Gitea-Signature", NULL, "sha256"},
        {"X-Hub-Signature", NULL, "sha512"},
    };
    static char secret_text[] = "It's a Secret to Everybody";
    static char secret_bin[] = {'k', '\0', '\xff', ':', 'x'};
    struct hb_secret secrets[] = {{secret_text, sizeof(secret_text) - 1},
                                  {secret_bin, sizeof(secret_bin)}};
    struct fuzz_msg m;
    struct gw_request req;
    char ct[128], types[512];
    const char *reason;
    if (fuzz_msg_parse(data, size, false, &m) < 0)
        return 0;
    fuzz_request(&m, &req, ct, sizeof(ct));
    struct gw_receiver rcv = {.name = "fuzz",
                              .type = &gw_receiver_generic,
                              .secrets = secrets,
                              .nsecrets = 2,
                              .token_header = (char *)fuzz_msg_header(&m, ":token-header")};
    gw_auth_token(&rcv, &req, &reason);
    for (size_t i = 0; i < sizeof(hmacs) / sizeof(hmacs[0]); i++)
        gw_auth_hmac_hex(&rcv, &req, hmacs[i].header, hmacs[i].prefix, hmacs[i].alg, &reason);
    const char *key = fuzz_msg_header(&m, ":key");
    if (key)
        gw_key_valid(&rcv, key);
    /* Every receiver as configured in tests/fixtures/receivers.yaml, through
     * its own verify (OIDC tokens, signatures, token headers) or the shared
     * token check; else every type without options, bare. */
    const struct gw_config *cfg = fuzz_receivers();
    for (size_t i = 0; cfg && i < cfg->nreceivers; i++) {
        const char *id, *ts;
        long long expires;
        gw_authenticate(&cfg->receivers[i], &req, &reason);
        gw_authenticate_headers(&cfg->receivers[i], &req, &reason); /* before the body */
        gw_sw_replay_key(&cfg->receivers[i], &req, &id, &ts, &expires);
    }
    gw_receiver_types_list(types, sizeof(types));
    for (char *save = NULL, *t = strtok_r(types, ", ", &save); !cfg && t;
         t = strtok_r(NULL, ", ", &save)) {
        rcv.type = gw_receiver_type_find(t);
        if (rcv.type && !rcv.type->configure)
            gw_authenticate(&rcv, &req, &reason);
    }
    fuzz_msg_free(&m);
    return 0;
}
