/* fuzz_spool.c: the spool record reader (gw_spool_record_parse), as replay
 * reads a spool file after a crash: records one after another until the end,
 * a torn tail or corruption.
 *
 * Input: one byte of mode, then spool file bytes. Mode odd: before each
 * record is parsed its CRC32C is recomputed over the (mutated) payload, so the
 * payload decoder is reached, not only the checksum test. Mode even: the
 * bytes as they are (torn tails, bad magic, bad CRC, resynchronization).
 * Each parsed record must lie inside the input
 * (used <= what is left) with every field inside the record; a record whose
 * strings hold no NUL is encoded again with gw_spool_record_encode and must
 * parse back to the same fields. */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "harness.h"
#include "hookbus/util.h"

static void inside(const void *p, size_t n, const unsigned char *rec, size_t used)
{
    if (p && ((const unsigned char *)p < rec || (const unsigned char *)p + n > rec + used))
        abort();
}

static bool same(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (!an || memcmp(a, b, an) == 0) && !a == !b;
}

/* Encodes rec again and parses the result: the fields must come back. */
static void reencode(const struct gw_spool_record *rec)
{
    char *receiver = hb_strndup(rec->receiver, rec->receiver_len);
    char *id = hb_strndup(rec->id, rec->id_len);
    char *topic = hb_strndup(rec->topic, rec->topic_len);
    struct hb_kafka_msg msg = {0};
    struct hb_buf out;
    hb_buf_init(&out, GW_SPOOL_MAX_RECORD + (1u << 20));
    if (!receiver || !id || !topic || strlen(receiver) != rec->receiver_len ||
        strlen(id) != rec->id_len || strlen(topic) != rec->topic_len)
        goto done;
    if (rec->key) {
        msg.key = malloc(rec->key_len + 1);
        if (!msg.key)
            goto done;
        memcpy(msg.key, rec->key, rec->key_len);
        msg.key_len = rec->key_len;
    }
    if (rec->value) {
        msg.value = malloc(rec->value_len ? rec->value_len : 1);
        if (!msg.value)
            goto done;
        memcpy(msg.value, rec->value, rec->value_len);
        msg.value_len = rec->value_len;
    }
    msg.headers = rd_kafka_headers_new(rec->nheaders);
    for (size_t i = 0; i < rec->nheaders; i++)
        rd_kafka_header_add(msg.headers, rec->headers[i].name, (ssize_t)rec->headers[i].name_len,
                            rec->headers[i].value, (ssize_t)rec->headers[i].value_len);
    if (gw_spool_record_encode(&out, rec->spooled_ms, receiver, id, topic, &msg) == 0) {
        struct gw_spool_record back;
        size_t used;
        if (gw_spool_record_parse((const unsigned char *)out.p, out.len, &back, &used) !=
                GW_SPOOL_OK ||
            used != out.len || back.spooled_ms != rec->spooled_ms ||
            !same(back.receiver, back.receiver_len, rec->receiver, rec->receiver_len) ||
            !same(back.id, back.id_len, rec->id, rec->id_len) ||
            !same(back.topic, back.topic_len, rec->topic, rec->topic_len) ||
            !same(back.key, back.key_len, rec->key, rec->key_len) ||
            !same(back.value, back.value_len, rec->value, rec->value_len) ||
            back.nheaders != rec->nheaders)
            abort();
    }
done:
    hb_kafka_msg_clear(&msg);
    hb_buf_free(&out);
    free(receiver);
    free(id);
    free(topic);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the CRC of the record at p[0, n) when its header is whole. */
static void fix_crc(unsigned char *p, size_t n)
{
    if (n < 12 || memcmp(p, "HBS1", 4) != 0)
        return;
    uint32_t plen = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                    (uint32_t)p[7] << 24;
    if (plen <= n - 12)
        put_le32(p + 8, gw_crc32c(gw_crc32c(0, p + 4, 4), p + 12, plen));
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t insize)
{
    if (insize < 1)
        return 0;
    bool fix = input[0] & 1;
    size_t size = insize - 1, off = 0;
    unsigned char *data = malloc(size ? size : 1);
    if (!data)
        return 0;
    memcpy(data, input + 1, size);
    while (off < size) {
        if (fix)
            fix_crc(data + off, size - off);
        static struct gw_spool_record rec;
        size_t used = 0;
        int rc = gw_spool_record_parse(data + off, size - off, &rec, &used);
        if (rc != GW_SPOOL_OK)
            break;
        if (used == 0 || used > size - off || rec.nheaders > GW_SPOOL_MAX_HEADERS)
            abort();
        const unsigned char *r = data + off;
        inside(rec.receiver, rec.receiver_len, r, used);
        inside(rec.id, rec.id_len, r, used);
        inside(rec.topic, rec.topic_len, r, used);
        inside(rec.key, rec.key_len, r, used);
        inside(rec.value, rec.value_len, r, used);
        for (size_t i = 0; i < rec.nheaders; i++) {
            inside(rec.headers[i].name, rec.headers[i].name_len, r, used);
            inside(rec.headers[i].value, rec.headers[i].value_len, r, used);
        }
        reencode(&rec);
        off += used;
    }
    free(data);
    return 0;
}
