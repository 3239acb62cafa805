/* fuzz_avro.c: the CloudEvents Avro format decoder (avro-c, cloudevent.avsc).
 * Input: one Avro-encoded event. A decoded event must survive every mode. */
#include <stdint.h>

#include "roundtrip.h"
#include "harness.h"
#include "hookbus/kafka.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hb_event *ev = NULL;
    char err[256];
    int rc = hb_avro_decode(data, size, &ev, err, sizeof(err));
    fuzz_check_decoded(rc, ev);
    return 0;
}
