/* test_spool.c: unit tests for the gateway's spool (gateway/spool.c): the
 * CRC32C, the record framing (encode, parse, every way a record can be torn
 * or corrupt) and the on-disk spool without Kafka (append, the all-or-nothing
 * size cap, recovery and corrupt-tail reporting when reopened), and
 * gw_spool_events, the one call that turns a request's events into records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"

/* A message with a key, two headers (one without value) and a value. */
static void sample_msg(struct hb_kafka_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->key = strdup("github.com/acme/app");
    m->key_len = strlen(m->key);
    m->value = strdup("{\"ref\":\"refs/heads/main\"}");
    m->value_len = strlen(m->value);
    m->headers = rd_kafka_headers_new(2);
    rd_kafka_header_add(m->headers, "ce_id", -1, "d-1", -1);
    rd_kafka_header_add(m->headers, "ce_empty", -1, NULL, 0);
}

static void encode_sample(struct hb_buf *b, int64_t ms, const char *id)
{
    struct hb_kafka_msg m;
    sample_msg(&m);
    assert_int_equal(gw_spool_record_encode(b, ms, "acme-github", id, "hookbus.git", &m), 0);
    hb_kafka_msg_clear(&m);
}

static void test_crc32c_known_vectors(void **state)
{
    (void)state;
    assert_int_equal(gw_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(gw_crc32c(0, "", 0), 0);
    /* Incremental equals one pass. */
    assert_int_equal(gw_crc32c(gw_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct hb_buf b;
    struct gw_spool_record rec;
    size_t used = 0;
    hb_buf_init(&b, 1 << 20);
    encode_sample(&b, 1700000000123LL, "d-1");
    assert_int_equal(gw_spool_record_parse((unsigned char *)b.p, b.len, &rec, &used), GW_SPOOL_OK);
    assert_int_equal(used, b.len);
    assert_int_equal(rec.spooled_ms, 1700000000123LL);
    assert_memory_equal(rec.receiver, "acme-github", rec.receiver_len);
    assert_memory_equal(rec.id, "d-1", rec.id_len);
    assert_memory_equal(rec.topic, "hookbus.git", rec.topic_len);
    assert_memory_equal(rec.key, "github.com/acme/app", rec.key_len);
    assert_int_equal(rec.nheaders, 2);
    assert_memory_equal(rec.headers[0].name, "ce_id", rec.headers[0].name_len);
    assert_memory_equal(rec.headers[0].value, "d-1", rec.headers[0].value_len);
    assert_null(rec.headers[1].value);
    assert_int_equal(rec.value_len, strlen("{\"ref\":\"refs/heads/main\"}"));
    hb_buf_free(&b);
}

static void test_record_torn_and_corrupt(void **state)
{
    (void)state;
    struct hb_buf b;
    struct gw_spool_record rec;
    size_t used;
    hb_buf_init(&b, 1 << 20);
    encode_sample(&b, 1, "d-1");
    unsigned char *p = (unsigned char *)b.p;
    /* Every proper prefix is a torn record, never a crash or a success. */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(gw_spool_record_parse(p, n, &rec, &used), GW_SPOOL_SHORT);
    /* Any flipped byte is detected (magic, length, CRC or payload). */
    for (size_t i = 0; i < b.len; i++) {
        p[i] ^= 0x5a;
        assert_int_not_equal(gw_spool_record_parse(p, b.len, &rec, &used), GW_SPOOL_OK);
        p[i] ^= 0x5a;
    }
    assert_int_equal(gw_spool_record_parse(p, b.len, &rec, &used), GW_SPOOL_OK);
    /* A length beyond the cap is corrupt even before the data is there. */
    p[7] = 0x7f;
    assert_int_equal(gw_spool_record_parse(p, 12, &rec, &used), GW_SPOOL_CORRUPT);
    hb_buf_free(&b);
}

/* ---- the spool on disk ---- */

static char *make_dir(void)
{
    char tmpl[] = "/tmp/hb-spool-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_dir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static const char *metric_line(const char *text, const char *name)
{
    const char *p = text;
    size_t n = strlen(name);
    while ((p = strstr(p, name))) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return p + n + 1;
        p += n;
    }
    return NULL;
}

static long metric_value(struct hb_metrics *m, const char *name)
{
    char *text = hb_metrics_render(m);
    const char *v = metric_line(text, name);
    long out = v ? strtol(v, NULL, 10) : -1;
    free(text);
    return out;
}

static void test_spool_append_cap_and_reopen(void **state)
{
    (void)state;
    char err[256];
    char *dir = make_dir();
    struct hb_metrics *m = hb_metrics_new();
    struct gw_spool *s = gw_spool_open(dir, 4096, m, err, sizeof(err));
    assert_non_null(s);
    assert_false(gw_spool_pending(s));
    struct hb_buf b;
    hb_buf_init(&b, 1 << 20);
    encode_sample(&b, 1000, "d-1");
    encode_sample(&b, 1000, "d-2");
    size_t two = b.len;
    assert_int_equal(gw_spool_append(s, b.p, b.len, 2, 1000, err, sizeof(err)), 0);
    assert_true(gw_spool_pending(s));
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_records"), 2);
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_bytes"), (long)two);
    /* Over the cap: refused whole, nothing written. */
    struct hb_buf big;
    hb_buf_init(&big, 1 << 20);
    for (int i = 0; i < 40; i++)
        encode_sample(&big, 1000, "d-x");
    assert_int_equal(gw_spool_append(s, big.p, big.len, 40, 1000, err, sizeof(err)), GW_SPOOL_FULL);
    assert_true(gw_spool_full(s));
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_records"), 2);
    gw_spool_close(s);
    hb_metrics_free(m);

    /* Reopened: both records are found again; a torn tail is reported. */
    char path[512];
    snprintf(path, sizeof(path), "%s/%020llu.spool", dir, 1ULL);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fwrite(b.p, 1, 20, f);
    fclose(f);
    m = hb_metrics_new();
    s = gw_spool_open(dir, 4096, m, err, sizeof(err));
    assert_non_null(s);
    assert_true(gw_spool_pending(s));
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_records"), 2);
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_corrupt_records_total"), 1);
    gw_spool_close(s);
    hb_metrics_free(m);
    hb_buf_free(&b);
    hb_buf_free(&big);
    remove_dir(dir);
    free(dir);
}

/* An event of type with id, as a receiver builds it. */
static struct hb_event *sample_event(const char *type, const char *id)
{
    struct hb_event *ev = hb_event_new();
    assert_non_null(ev);
    assert_int_equal(hb_event_set(ev, "specversion", "1.0"), 0);
    assert_int_equal(hb_event_set(ev, "id", id), 0);
    assert_int_equal(hb_event_set(ev, "source", "/receivers/acme-github"), 0);
    assert_int_equal(hb_event_set(ev, "type", type), 0);
    assert_int_equal(hb_event_set(ev, "partitionkey", "github.com/acme/app"), 0);
    assert_int_equal(hb_event_set_data(ev, "{}", 2), 0);
    return ev;
}

/* gw_spool_events: the events are encoded once into framed records of their
 * receiver, id and topic, appended all or nothing. */
static void test_spool_events(void **state)
{
    (void)state;
    char err[256], path[512];
    char *dir = make_dir();
    struct gw_config cfg;
    assert_int_equal(gw_config_load(NULL, &cfg, err, sizeof(err)), 0);
    struct hb_metrics *m = hb_metrics_new();
    struct gw_spool *s = gw_spool_open(dir, 1 << 20, m, err, sizeof(err));
    assert_non_null(s);
    struct hb_event *evs[2] = {sample_event("dev.hookbus.git.push", "d-1/1"),
                               sample_event("dev.hookbus.image.push", "d-1/2")};
    assert_int_equal(gw_spool_events(s, &cfg, "acme-github", evs, 2, err, sizeof(err)), 0);
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_records"), 2);
    gw_spool_close(s);

    snprintf(path, sizeof(path), "%s/%020llu.spool", dir, 1ULL);
    size_t len = 0, used = 0;
    unsigned char *buf = (unsigned char *)hb_read_file(path, 1 << 20, &len, err, sizeof(err));
    assert_non_null(buf);
    struct gw_spool_record rec;
    static const char *const ids[] = {"d-1/1", "d-1/2"}, *const topics[] = {"hookbus.git",
                                                                            "hookbus.image"};
    size_t off = 0;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(gw_spool_record_parse(buf + off, len - off, &rec, &used), GW_SPOOL_OK);
        assert_int_equal(rec.receiver_len, strlen("acme-github"));
        assert_memory_equal(rec.receiver, "acme-github", rec.receiver_len);
        assert_int_equal(rec.id_len, strlen(ids[i]));
        assert_memory_equal(rec.id, ids[i], rec.id_len);
        assert_int_equal(rec.topic_len, strlen(topics[i]));
        assert_memory_equal(rec.topic, topics[i], rec.topic_len);
        assert_int_equal(rec.key_len, strlen("github.com/acme/app"));
        off += used;
    }
    assert_int_equal(off, len);
    free(buf);

    /* No room for both: neither is written. */
    hb_metrics_free(m);
    m = hb_metrics_new();
    s = gw_spool_open(dir, (long long)len + 10, m, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(gw_spool_events(s, &cfg, "acme-github", evs, 2, err, sizeof(err)),
                     GW_SPOOL_FULL);
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_records"), 2);
    gw_spool_close(s);
    hb_metrics_free(m);
    hb_event_free(evs[0]);
    hb_event_free(evs[1]);
    gw_config_free(&cfg);
    remove_dir(dir);
    free(dir);
}

static void test_spool_ack_file_skips_replayed_records(void **state)
{
    (void)state;
    char err[256], path[512];
    char *dir = make_dir();
    struct hb_metrics *m = hb_metrics_new();
    struct gw_spool *s = gw_spool_open(dir, 1 << 20, m, err, sizeof(err));
    assert_non_null(s);
    struct hb_buf b;
    hb_buf_init(&b, 1 << 20);
    encode_sample(&b, 1000, "d-1");
    size_t one = b.len;
    encode_sample(&b, 1000, "d-2");
    assert_int_equal(gw_spool_append(s, b.p, b.len, 2, 1000, err, sizeof(err)), 0);
    gw_spool_close(s);
    hb_metrics_free(m);
    /* The first record was acknowledged by an earlier run. */
    snprintf(path, sizeof(path), "%s/ack", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "1 %zu\n", one);
    fclose(f);
    m = hb_metrics_new();
    s = gw_spool_open(dir, 1 << 20, m, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_records"), 1);
    assert_int_equal(metric_value(m, "hookbus_gateway_spool_bytes"), (long)(b.len - one));
    gw_spool_close(s);
    hb_metrics_free(m);
    /* A malformed ack file is an error, not a guess. */
    f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    m = hb_metrics_new();
    assert_null(gw_spool_open(dir, 1 << 20, m, err, sizeof(err)));
    assert_non_null(strstr(err, "malformed"));
    hb_metrics_free(m);
    hb_buf_free(&b);
    remove_dir(dir);
    free(dir);
}

/* Replay progress is two in-place slots: the newest valid one wins, a torn
 * slot leaves the other, and the file never grows (a full disk must not
 * stop the replay from recording progress). */
static void test_spool_ack_slots(void **state)
{
    (void)state;
    char err[256], path[512];
    unsigned char buf[128];
    char *dir = make_dir();
    struct hb_metrics *m = hb_metrics_new();
    struct gw_spool *s = gw_spool_open(dir, 1 << 20, m, err, sizeof(err));
    assert_non_null(s);
    gw_spool_close(s);
    hb_metrics_free(m);
    snprintf(path, sizeof(path), "%s/ack", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_int_equal(n, 64);
    uint64_t gen = 0;
    unsigned long long seq = 99;
    long long off = 99;
    assert_int_equal(gw_spool_ack_parse(buf, n, &gen, &seq, &off), 0);
    assert_int_equal(gen, 2);
    assert_int_equal(seq, 0);
    assert_int_equal(off, 0);
    /* The newer slot (generation 2, the second) torn: the first one counts. */
    buf[32 + 13] ^= 0x40;
    assert_int_equal(gw_spool_ack_parse(buf, n, &gen, &seq, &off), 0);
    assert_int_equal(gen, 1);
    /* Both torn, and not the text form either: malformed. */
    buf[13] ^= 0x40;
    assert_int_equal(gw_spool_ack_parse(buf, n, &gen, &seq, &off), -1);
    /* The older text form. */
    assert_int_equal(gw_spool_ack_parse((const unsigned char *)"7 1234\n", 7, &gen, &seq, &off), 0);
    assert_int_equal(seq, 7);
    assert_int_equal(off, 1234);
    assert_int_equal(gw_spool_ack_parse((const unsigned char *)"7 -1", 4, &gen, &seq, &off), -1);
    remove_dir(dir);
    free(dir);
}

static void test_spool_dir_is_exclusive(void **state)
{
    (void)state;
    char err[256];
    char *dir = make_dir();
    struct hb_metrics *m = hb_metrics_new();
    struct gw_spool *a = gw_spool_open(dir, 1 << 20, m, err, sizeof(err));
    assert_non_null(a);
    assert_null(gw_spool_open(dir, 1 << 20, m, err, sizeof(err)));
    assert_non_null(strstr(err, "in use by another gateway"));
    gw_spool_close(a);
    struct gw_spool *b = gw_spool_open(dir, 1 << 20, m, err, sizeof(err));
    assert_non_null(b);
    gw_spool_close(b);
    hb_metrics_free(m);
    remove_dir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_vectors),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_record_torn_and_corrupt),
        cmocka_unit_test(test_spool_append_cap_and_reopen),
        cmocka_unit_test(test_spool_events),
        cmocka_unit_test(test_spool_ack_file_skips_replayed_records),
        cmocka_unit_test(test_spool_ack_slots),
        cmocka_unit_test(test_spool_dir_is_exclusive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
