/* fuzz_kafka_decode.c: the CloudEvents Kafka binding's decoder, every mode.
 *
 * Input: Kafka message headers as "name: value" lines (values may hold any
 * byte but a newline), an empty line, then the message value. The option
 * ":key: K" sets the message key. The mode is detected per message as a
 * consumer would (content-type / ce_specversion), so binary, structured and
 * avro values are all reached. A decoded event must validate and survive an
 * encode/decode round trip in every mode with its attributes and data intact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roundtrip.h"
#include "harness.h"
#include "hookbus/kafka.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_msg m;
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    char err[256];
    if (fuzz_msg_parse(data, size, false, &m) < 0)
        return 0;
    rd_kafka_headers_t *h = rd_kafka_headers_new(m.nheaders);
    for (size_t i = 0; i < m.nheaders; i++)
        if (m.names[i][0] != ':')
            rd_kafka_header_add(h, m.names[i], -1, m.values[i], (ssize_t)m.value_lens[i]);
    const char *key = fuzz_msg_header(&m, ":key");
    int rc = hb_kafka_decode(m.body, m.body_len, key, key ? strlen(key) : 0, h, &ev, &mode, err,
                             sizeof(err));
    fuzz_check_decoded(rc, ev);
    rd_kafka_headers_destroy(h);
    fuzz_msg_free(&m);
    return 0;
}
