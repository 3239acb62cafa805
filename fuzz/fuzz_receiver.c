/* fuzz_receiver.c: every receiver type's normalize path, through the table.
 *
 * Input: on the first line a receiver of tests/fixtures/receivers.yaml by
 * name ("github", "artifactory-virtual", ...: type options as configured)
 * or a receiver type without options; then request headers, an empty line and
 * the body (see harness.h). Options: ":repository: URL" fixes a bare
 * receiver's repository, ":include-original: true" copies the payload in.
 * Authentication is bypassed as on a key route; the driver then does what
 * http.c does: normalize, finish (ids); every event must then validate and
 * survive every Kafka mode (fuzz_check_roundtrip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roundtrip.h"
#include "harness.h"
#include "hookbus/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_msg m;
    struct gw_request req;
    char ct[128];
    if (fuzz_msg_parse(data, size, true, &m) < 0)
        return 0;
    /* A configured receiver by name (type options included), else a bare
     * receiver of that type. */
    const struct gw_config *cfg = fuzz_receivers();
    const struct gw_receiver *configured = cfg ? gw_config_find_receiver(cfg, m.first) : NULL;
    const struct gw_receiver_type *type = configured ? configured->type
                                                     : gw_receiver_type_find(m.first);
    if (!type || (!configured && type->configure))
        goto out; /* a type with options is fuzzed only as configured */
    const char *repository = fuzz_msg_header(&m, ":repository");
    const char *original = fuzz_msg_header(&m, ":include-original");
    struct gw_receiver rcv = {.name = "fuzz",
                              .type = type,
                              .insecure_no_auth = true,
                              .repository = repository ? (char *)repository : NULL};
    if (configured) {
        rcv = *configured;
        if (repository)
            rcv.repository = (char *)repository;
    }
    rcv.include_original = original && strcmp(original, "true") == 0;
    fuzz_request(&m, &req, ct, sizeof(ct));
    req.key_route = true;
    const char *reason = NULL;
    if (gw_authenticate(&rcv, &req, &reason) < 0)
        abort(); /* a key route is always authentic */
    struct gw_ctx ctx = {.rcv = &rcv, .req = &req};
    hb_now_rfc3339(ctx.time);
    gw_normalize(&ctx);
    if (ctx.status == 200 && ctx.nevents)
        ctx.status = 0;
    if (!ctx.status && ctx.nevents) {
        gw_ctx_finish(&ctx);
        for (size_t i = 0; i < ctx.nevents; i++)
            fuzz_check_roundtrip(ctx.events[i]);
    }
    gw_ctx_clear(&ctx);
out:
    fuzz_msg_free(&m);
    return 0;
}
