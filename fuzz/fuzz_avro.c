/* fuzz_avro.c: the CloudEvents Avro format decoder (avro-c, cloudevent.avsc).
 * Input: one Avro-encoded event. A decoded event must survive every mode. */
#include <stdint.h>

#include "roundtrip.h"
#include "harness.h"
#include "hookbus/kafka.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hb_event *ev = NULL;
    char err[256];
    if (hb_avro_decode(data, size, &ev, err, sizeof(err)) == 0) {
        fuzz_check_roundtrip(ev);
        hb_event_free(ev);
    }
    return 0;
}
