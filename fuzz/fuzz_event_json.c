/* fuzz_event_json.c: the structured-mode decoder (CloudEvents JSON format).
 * Input: one JSON document. A decoded event must survive every Kafka mode. */
#include <stdint.h>

#include "roundtrip.h"
#include "harness.h"
#include "hookbus/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hb_event *ev = NULL;
    char err[256];
    int rc = hb_event_from_json((const char *)data, size, &ev, err, sizeof(err));
    fuzz_check_decoded(rc, ev);
    return 0;
}
