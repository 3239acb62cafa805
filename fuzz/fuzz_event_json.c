/* fuzz_event_json.c: the structured-mode decoder (CloudEvents JSON format).
 * Input: one JSON document. A decoded event must survive every Kafka mode. */
#include <stdint.h>

#include "roundtrip.h"
#include "harness.h"
#include "hookbus/format.h"

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
    if (hb_event_from_json((const char *)data, size, &ev, err, sizeof(err)) == 0) {
        fuzz_check_roundtrip(ev);
        hb_event_free(ev);
    }
    return 0;
}
