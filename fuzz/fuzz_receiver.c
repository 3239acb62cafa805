/* fuzz_receiver.c: every receiver type's normalize path, through the table.
 *
 * Input: the receiver type on the first line ("github", "harbor", ...), then
 * request headers, an empty line and the body (see harness.h). Options:
 * ":repository: URL" fixes the receiver's repository (generic), and
 * ":include-original: true" copies the payload into the events.
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
    const struct gw_receiver_type *type = gw_receiver_type_find(m.first);
    if (!type)
        goto out;
    const char *repository = fuzz_msg_header(&m, ":repository");
    const char *original = fuzz_msg_header(&m, ":include-original");
    struct gw_receiver rcv = {.name = "fuzz", .type = type, .insecure_no_auth = true,
                              .include_original = original && strcmp(original, "true") == 0,
                              .repository = repository ? (char *)repository : NULL};
    fuzz_request(&m, &req, ct, sizeof(ct));
    req.key_route = true;
    const char *reason = NULL;
    if (gw_authenticate(&rcv, &req, &reason) < 0)
        abort(); /* a key route is always authentic */
    struct gw_ctx ctx = {.rcv = &rcv, .req = &req};
    hb_now_rfc3339(ctx.time);
    type->normalize(&ctx);
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
