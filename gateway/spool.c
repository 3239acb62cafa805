/* spool.c: the gateway's durable spool: what Kafka did not acknowledge in
 * time, written and fsynced to disk before the sender gets 202, and replayed
 * to Kafka in order when it acknowledges again.
 *
 * Layout under spool.dir:
 *   NNNNNNNNNNNNNNNNNNNN.spool  append-only segments, oldest first
 *   ack                          replay progress: every record before OFFSET
 *                                of segment SEQ (and every older segment) is
 *                                in Kafka. Two 32-byte slots ("HBA1", u64
 *                                generation, SEQ, OFFSET, CRC32C), written in
 *                                turn in place after each batch: recording
 *                                progress never needs free space (a full disk
 *                                must not stall the replay that frees it), and
 *                                a torn write leaves the other slot. The
 *                                older text form "SEQ OFFSET" is still read.
 *   rejected.spool               records Kafka refused for good (too large,
 *                                not authorized), kept for an operator
 *   lock                         flock()ed: one gateway process per spool
 *
 * A record is a 12-byte header (magic "HBS1", payload length, CRC32C of
 * length and payload, little-endian) followed by the payload: the encoded
 * Kafka message (topic, key, headers, value) plus the receiver name, event id
 * and spool time for logs and metrics. A torn or corrupt record is detected
 * by the CRC, reported once when the spool is opened, and skipped (the
 * scanner resynchronizes on the next valid header).
 *
 * Delivery is at least once: a record is dropped only after Kafka
 * acknowledged it, so a crash between the acknowledgement and the ack file
 * update produces it again, with the same event id. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "hookbus/fault.h"
#include "hookbus/log.h"
#include "hookbus/util.h"
#include "metrics.h"

#define SPOOL_MAGIC "HBS1"
#define SPOOL_HDR 12
#define SPOOL_SEGMENT_BYTES (4u << 20) /* rotate the active segment past this */
#define SPOOL_BATCH 256                /* records produced per replay round */
#define SPOOL_NONE 0xffffffffu

/* ---- CRC32C (Castagnoli, reflected 0x82F63B78), table-driven ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t gw_crc32c(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- record encoding ---- */

static int put_u16(struct hb_buf *b, size_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return v > 0xffff ? -1 : hb_buf_append(b, x, 2);
}

static int put_u32(struct hb_buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return hb_buf_append(b, x, 4);
}

static int put_u64(struct hb_buf *b, uint64_t v)
{
    return put_u32(b, (uint32_t)v) | put_u32(b, (uint32_t)(v >> 32));
}

static int put_str16(struct hb_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return put_u16(b, n) < 0 || hb_buf_append(b, s ? s : "", n) < 0 ? -1 : 0;
}

/* A 32-bit length and bytes; NULL data is SPOOL_NONE. */
static int put_bytes32(struct hb_buf *b, const void *data, size_t n)
{
    if (!data)
        return put_u32(b, SPOOL_NONE);
    if (n >= SPOOL_NONE)
        return -1;
    return put_u32(b, (uint32_t)n) < 0 || hb_buf_append(b, data, n) < 0 ? -1 : 0;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int gw_spool_record_encode(struct hb_buf *out, int64_t spooled_ms, const char *receiver,
                           const char *id, const char *topic, const struct hb_kafka_msg *msg)
{
    struct hb_buf p;
    hb_buf_init(&p, GW_SPOOL_MAX_RECORD);
    int rc = -1;
    size_t nh = msg->headers ? rd_kafka_header_cnt(msg->headers) : 0;
    if (nh > GW_SPOOL_MAX_HEADERS || put_u64(&p, (uint64_t)spooled_ms) < 0 ||
        put_str16(&p, receiver) < 0 || put_str16(&p, id) < 0 || put_str16(&p, topic) < 0 ||
        put_bytes32(&p, msg->key, msg->key_len) < 0 || put_u16(&p, nh) < 0)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        const char *name;
        const void *val;
        size_t vlen;
        if (rd_kafka_header_get_all(msg->headers, i, &name, &val, &vlen) ||
            put_str16(&p, name) < 0 || put_bytes32(&p, val, vlen) < 0)
            goto out;
    }
    if (put_bytes32(&p, msg->value, msg->value_len) < 0)
        goto out;
    unsigned char hdr[SPOOL_HDR];
    memcpy(hdr, SPOOL_MAGIC, 4);
    for (int i = 0; i < 4; i++)
        hdr[4 + i] = (unsigned char)(p.len >> (8 * i));
    uint32_t crc = gw_crc32c(gw_crc32c(0, hdr + 4, 4), p.p, p.len);
    for (int i = 0; i < 4; i++)
        hdr[8 + i] = (unsigned char)(crc >> (8 * i));
    if (hb_buf_append(out, hdr, sizeof(hdr)) < 0 || hb_buf_append(out, p.p, p.len) < 0)
        goto out;
    rc = 0;
out:
    hb_buf_free(&p);
    return rc;
}

/* ---- record parsing (pure; the fuzz target) ---- */

struct cursor {
    const unsigned char *p;
    size_t left;
};

static int take(struct cursor *c, size_t n, const unsigned char **out)
{
    if (n > c->left)
        return -1;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}

static int take_u16(struct cursor *c, size_t *v)
{
    const unsigned char *q;
    if (take(c, 2, &q) < 0)
        return -1;
    *v = (size_t)q[0] | (size_t)q[1] << 8;
    return 0;
}

static int take_str16(struct cursor *c, const char **s, size_t *n)
{
    const unsigned char *q;
    if (take_u16(c, n) < 0 || take(c, *n, &q) < 0)
        return -1;
    *s = (const char *)q;
    return 0;
}

static int take_bytes32(struct cursor *c, const void **data, size_t *n)
{
    const unsigned char *q;
    if (take(c, 4, &q) < 0)
        return -1;
    uint32_t len = get_u32(q);
    *n = 0;
    *data = NULL;
    if (len == SPOOL_NONE)
        return 0;
    if (take(c, len, &q) < 0)
        return -1;
    *n = len;
    *data = q;
    return 0;
}

int gw_spool_record_parse(const unsigned char *buf, size_t len, struct gw_spool_record *rec,
                          size_t *used)
{
    memset(rec, 0, sizeof(*rec));
    if (len == 0)
        return GW_SPOOL_SHORT;
    if (len < SPOOL_HDR)
        return memcmp(buf, SPOOL_MAGIC, len < 4 ? len : 4) ? GW_SPOOL_CORRUPT : GW_SPOOL_SHORT;
    if (memcmp(buf, SPOOL_MAGIC, 4) != 0)
        return GW_SPOOL_CORRUPT;
    uint32_t plen = get_u32(buf + 4);
    if (plen > GW_SPOOL_MAX_RECORD)
        return GW_SPOOL_CORRUPT;
    if (len - SPOOL_HDR < plen)
        return GW_SPOOL_SHORT;
    const unsigned char *pl = buf + SPOOL_HDR;
    if (gw_crc32c(gw_crc32c(0, buf + 4, 4), pl, plen) != get_u32(buf + 8))
        return GW_SPOOL_CORRUPT;
    struct cursor c = {pl, plen};
    const unsigned char *q;
    if (take(&c, 8, &q) < 0)
        return GW_SPOOL_CORRUPT;
    rec->spooled_ms = (int64_t)((uint64_t)get_u32(q) | (uint64_t)get_u32(q + 4) << 32);
    if (take_str16(&c, &rec->receiver, &rec->receiver_len) < 0 ||
        take_str16(&c, &rec->id, &rec->id_len) < 0 ||
        take_str16(&c, &rec->topic, &rec->topic_len) < 0 || rec->topic_len == 0 ||
        memchr(rec->topic, '\0', rec->topic_len) ||
        take_bytes32(&c, &rec->key, &rec->key_len) < 0 || take_u16(&c, &rec->nheaders) < 0 ||
        rec->nheaders > GW_SPOOL_MAX_HEADERS)
        return GW_SPOOL_CORRUPT;
    for (size_t i = 0; i < rec->nheaders; i++) {
        struct gw_spool_header *h = &rec->headers[i];
        if (take_str16(&c, &h->name, &h->name_len) < 0 ||
            take_bytes32(&c, &h->value, &h->value_len) < 0)
            return GW_SPOOL_CORRUPT;
    }
    if (take_bytes32(&c, &rec->value, &rec->value_len) < 0 || c.left != 0)
        return GW_SPOOL_CORRUPT;
    *used = SPOOL_HDR + plen;
    return GW_SPOOL_OK;
}

/* Rebuilds a producible message from a parsed record. 0 or -1 (ENOMEM). */
static int record_to_msg(const struct gw_spool_record *rec, struct hb_kafka_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (rec->key && !(m->key = hb_strndup(rec->key, rec->key_len)))
        goto fail;
    m->key_len = rec->key_len;
    if (rec->value) {
        if (!(m->value = malloc(rec->value_len ? rec->value_len : 1)))
            goto fail;
        memcpy(m->value, rec->value, rec->value_len);
        m->value_len = rec->value_len;
    }
    m->headers = rd_kafka_headers_new(rec->nheaders);
    for (size_t i = 0; i < rec->nheaders; i++) {
        const struct gw_spool_header *h = &rec->headers[i];
        if (rd_kafka_header_add(m->headers, h->name, (ssize_t)h->name_len, h->value,
                                h->value ? (ssize_t)h->value_len : 0))
            goto fail;
    }
    return 0;
fail:
    hb_kafka_msg_clear(m);
    return -1;
}

/* ---- the spool ---- */

struct segment {
    unsigned long long seq;
    long long size;
};

struct replay_slot {
    struct gw_delivery base;
    struct gw_spool *s;
    bool failed, permanent;
    char error[128];
};

struct gw_spool {
    char *dir;
    int dir_fd, lock_fd; /* lock_fd holds flock(LOCK_EX): one gateway per spool */
    int ack_fd;          /* the ack file, updated in place */
    uint64_t ack_gen;    /* generation of the newest ack slot */
    long long max_bytes;
    struct hb_metrics *metrics;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;  /* appends and stop wake the replay thread */
    struct segment *segs; /* ascending; the last one is active when active_fd >= 0 */
    size_t nsegs, capsegs;
    int active_fd;
    unsigned long long next_seq, ack_seq;
    long long ack_off, bytes, records;
    int64_t oldest_ms;
    bool full;
    atomic_llong pending; /* = records, readable without the lock (every request asks) */
    /* replay */
    struct gw_producer *producer;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    pthread_mutex_t dlock;
    pthread_cond_t dcond;
    int inflight;
    struct hb_gauge *g_bytes, *g_records, *g_age;
    struct hb_counter *c_corrupt, *c_spooled, *c_replayed, *c_rejected;
};

static void segment_path(const struct gw_spool *s, unsigned long long seq, char *out, size_t n)
{
    snprintf(out, n, "%s/%020llu.spool", s->dir, seq);
}

/* Publishes bytes and records (lock held). */
static void update_gauges(struct gw_spool *s)
{
    atomic_store(&s->pending, s->records);
    hb_gauge_set(s->g_bytes, s->bytes);
    hb_gauge_set(s->g_records, s->records);
}

#define ACK_MAGIC "HBA1"
#define ACK_SLOT 32

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* One ack slot: magic, generation, seq, offset, CRC32C of the 28 bytes before. */
static void ack_slot_encode(unsigned char *p, uint64_t gen, unsigned long long seq, long long off)
{
    memcpy(p, ACK_MAGIC, 4);
    le64(p + 4, gen);
    le64(p + 12, seq);
    le64(p + 20, (uint64_t)off);
    uint32_t crc = gw_crc32c(0, p, 28);
    for (int i = 0; i < 4; i++)
        p[28 + i] = (unsigned char)(crc >> (8 * i));
}

int gw_spool_ack_parse(const unsigned char *buf, size_t len, uint64_t *gen, unsigned long long *seq,
                       long long *off)
{
    bool found = false;
    for (size_t i = 0; i + ACK_SLOT <= len && i < 2 * ACK_SLOT; i += ACK_SLOT) {
        const unsigned char *p = buf + i;
        uint64_t g = get_u64(p + 4);
        long long o = (long long)get_u64(p + 20);
        if (memcmp(p, ACK_MAGIC, 4) != 0 || gw_crc32c(0, p, 28) != get_u32(p + 28) || o < 0 ||
            (found && g <= *gen))
            continue;
        *gen = g;
        *seq = get_u64(p + 12);
        *off = o;
        found = true;
    }
    if (found)
        return 0;
    /* The older text form "SEQ OFFSET" (written by rename). */
    char text[64];
    size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    memcpy(text, buf, n);
    text[n] = '\0';
    const char *q = text;
    unsigned long long o;
    if (len >= sizeof(text) || memchr(buf, '\0', len) || hb_parse_ull(q, &q, seq) < 0 ||
        *q != ' ' || hb_parse_ull(q + 1, &q, &o) < 0 || o > LLONG_MAX ||
        q[strspn(q, " \n")] != '\0')
        return -1;
    *off = (long long)o;
    *gen = 0;
    return 0;
}

/* Records replay progress in place: the next slot, then fdatasync. The file
 * keeps its size, so this needs no free space. Lock held. */
static int write_ack(struct gw_spool *s, unsigned long long seq, long long off)
{
    unsigned char slot[ACK_SLOT];
    uint64_t gen = s->ack_gen + 1;
    ack_slot_encode(slot, gen, seq, off);
    if (hb_fault("spool_ack") ||
        pwrite(s->ack_fd, slot, sizeof(slot), (off_t)(gen % 2) * ACK_SLOT) !=
            (ssize_t)sizeof(slot) ||
        fdatasync(s->ack_fd) < 0) {
        HB_LOG(HB_LOG_ERROR, "spool: cannot record replay progress",
               HB_S("error", HB_STRERROR(errno)));
        return -1;
    }
    s->ack_gen = gen;
    s->ack_seq = seq;
    s->ack_off = off;
    return 0;
}

/* Opens (creating when absent) the ack file, reads the progress and leaves
 * both slots allocated so that later updates never grow the file. */
static int open_ack(struct gw_spool *s, char *err, size_t errlen)
{
    char path[4096];
    unsigned char buf[128];
    snprintf(path, sizeof(path), "%s/ack", s->dir);
    s->ack_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ssize_t n = s->ack_fd >= 0 ? pread(s->ack_fd, buf, sizeof(buf), 0) : -1;
    if (n < 0) {
        snprintf(err, errlen, "spool: %s: %s", path, HB_STRERROR(errno));
        return -1;
    }
    if (n > 0 && gw_spool_ack_parse(buf, (size_t)n, &s->ack_gen, &s->ack_seq, &s->ack_off) < 0) {
        snprintf(err, errlen, "spool: %s is malformed", path);
        return -1;
    }
    if (n == 2 * ACK_SLOT && s->ack_gen > 0)
        return 0;
    /* New, or the text form: both slots written once (the text form's block
     * is rewritten in place), then the directory entry made durable. */
    unsigned char slots[2 * ACK_SLOT];
    ack_slot_encode(slots, s->ack_gen + 1, s->ack_seq, s->ack_off);
    ack_slot_encode(slots + ACK_SLOT, s->ack_gen + 2, s->ack_seq, s->ack_off);
    if (pwrite(s->ack_fd, slots, sizeof(slots), 0) != (ssize_t)sizeof(slots) ||
        ftruncate(s->ack_fd, sizeof(slots)) < 0 || fdatasync(s->ack_fd) < 0 ||
        fsync(s->dir_fd) < 0) {
        snprintf(err, errlen, "spool: cannot write %s: %s", path, HB_STRERROR(errno));
        return -1;
    }
    s->ack_gen += 2;
    return 0;
}

static int add_segment(struct gw_spool *s, unsigned long long seq, long long size)
{
    if (s->nsegs == s->capsegs) {
        size_t cap = s->capsegs ? 2 * s->capsegs : 16;
        struct segment *n = realloc(s->segs, cap * sizeof(*n));
        if (!n)
            return -1;
        s->segs = n;
        s->capsegs = cap;
    }
    s->segs[s->nsegs++] = (struct segment){seq, size};
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    unsigned long long x = ((const struct segment *)a)->seq, y = ((const struct segment *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Reads [off, end) of a segment into a new buffer. NULL on error. */
static unsigned char *read_segment(const struct gw_spool *s, unsigned long long seq, long long off,
                                   size_t *len)
{
    char path[4096];
    segment_path(s, seq, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *buf = NULL;
    if (fd < 0 || fstat(fd, &st) < 0)
        goto out;
    size_t n = st.st_size > off ? (size_t)(st.st_size - off) : 0;
    buf = malloc(n ? n : 1);
    size_t got = 0;
    while (buf && got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r <= 0) {
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)r;
    }
    *len = got;
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* Scans buf from *off for the next record. Returns GW_SPOOL_OK with rec and
 * *off at the record, or GW_SPOOL_SHORT at the end; *skipped receives the
 * bytes of corrupt or torn data jumped over. */
static int next_record(const unsigned char *buf, size_t len, size_t *off,
                       struct gw_spool_record *rec, size_t *used, size_t *skipped)
{
    *skipped = 0;
    for (size_t o = *off; o < len; o++) {
        if (gw_spool_record_parse(buf + o, len - o, rec, used) == GW_SPOOL_OK) {
            *skipped = o - *off;
            *off = o;
            return GW_SPOOL_OK;
        }
    }
    *skipped = len - *off;
    *off = len;
    return GW_SPOOL_SHORT;
}

/* Counts the records of every segment; reports corrupt or torn data. */
static int scan(struct gw_spool *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        long long start = s->segs[i].seq == s->ack_seq ? s->ack_off : 0;
        size_t len, off = 0, used, skipped;
        unsigned char *buf = read_segment(s, s->segs[i].seq, start, &len);
        struct gw_spool_record rec;
        if (!buf) {
            snprintf(err, errlen, "spool: cannot read segment %020llu: %s", s->segs[i].seq,
                     HB_STRERROR(errno));
            return -1;
        }
        for (;;) {
            size_t at = off;
            int rc = next_record(buf, len, &off, &rec, &used, &skipped);
            if (skipped) {
                hb_counter_add(s->c_corrupt, 1);
                HB_LOG(HB_LOG_ERROR, "spool: corrupt or torn record skipped",
                       HB_I("segment", s->segs[i].seq), HB_I("offset", start + (long long)at),
                       HB_I("bytes", skipped), HB_S("where", off == len ? "tail" : "middle"));
            }
            if (rc != GW_SPOOL_OK)
                break;
            if (!s->oldest_ms)
                s->oldest_ms = rec.spooled_ms;
            s->records++;
            off += used;
        }
        s->bytes += (long long)len;
        free(buf);
    }
    return 0;
}

static int mkdir_p(const char *dir)
{
    char p[4096];
    if (hb_strlcpy(p, dir, sizeof(p)) < 0)
        return -1;
    for (char *q = p + 1; *q; q++) {
        if (*q == '/') {
            *q = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -1;
            *q = '/';
        }
    }
    return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

struct gw_spool *gw_spool_open(const char *dir, long long max_bytes, struct hb_metrics *metrics,
                               char *err, size_t errlen)
{
    struct gw_spool *s = calloc(1, sizeof(*s));
    DIR *d = NULL;
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->dir_fd = s->active_fd = s->lock_fd = s->ack_fd = -1;
    s->max_bytes = max_bytes;
    s->metrics = metrics;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_mutex_init(&s->dlock, NULL);
    pthread_cond_init(&s->dcond, NULL);
    s->g_bytes = hb_metrics_gauge(metrics, "hookbus_gateway_spool_bytes",
                                  "Bytes in the spool waiting for Kafka", NULL);
    s->g_records = hb_metrics_gauge(metrics, "hookbus_gateway_spool_records",
                                    "Events in the spool waiting for Kafka", NULL);
    /* The capacity beside the fill, so an alert can say "nearly full". */
    hb_gauge_set(hb_metrics_gauge(metrics, "hookbus_gateway_spool_max_bytes",
                                  "spool.max_bytes: the spool refuses events beyond it (503)",
                                  NULL),
                 max_bytes);
    s->g_age = hb_metrics_gauge(metrics, "hookbus_gateway_spool_oldest_age_seconds",
                                "Age of the oldest spooled event (0: spool empty)", NULL);
    s->c_corrupt = hb_metrics_counter(metrics, "hookbus_gateway_spool_corrupt_records_total",
                                      "Corrupt or torn spool records skipped", NULL);
    s->c_spooled = hb_metrics_counter(metrics, "hookbus_gateway_spooled_events_total",
                                      "Events written to the spool", NULL);
    s->c_replayed = hb_metrics_counter(metrics, "hookbus_gateway_spool_replayed_events_total",
                                       "Spooled events acknowledged by Kafka", NULL);
    s->c_rejected = hb_metrics_counter(metrics, "hookbus_gateway_spool_rejected_events_total",
                                       "Spooled events Kafka refused for good, set aside in "
                                       "rejected.spool",
                                       NULL);
    if (mkdir_p(dir) < 0 || (s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "spool.dir %s: %s", dir, HB_STRERROR(errno));
        goto fail;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/lock", dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "spool.dir %s: %s", dir,
                 errno == EWOULDBLOCK ? "in use by another gateway process" : HB_STRERROR(errno));
        goto fail;
    }
    if (open_ack(s, err, errlen) < 0)
        goto fail;
    if (!(d = opendir(dir))) {
        snprintf(err, errlen, "spool.dir %s: %s", dir, HB_STRERROR(errno));
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long seq;
        const char *tail;
        struct stat st;
        if (strlen(e->d_name) != 26 || hb_parse_ull(e->d_name, &tail, &seq) < 0 ||
            strcmp(tail, ".spool") != 0)
            continue;
        segment_path(s, seq, path, sizeof(path));
        if (seq < s->ack_seq) { /* replayed before the previous process removed it */
            unlink(path);
            continue;
        }
        if (stat(path, &st) < 0 || add_segment(s, seq, (long long)st.st_size) < 0) {
            snprintf(err, errlen, "spool: %s: %s", path, HB_STRERROR(errno));
            goto fail;
        }
    }
    closedir(d);
    d = NULL;
    if (s->nsegs)
        qsort(s->segs, s->nsegs, sizeof(*s->segs), seg_cmp);
    s->next_seq = s->nsegs ? s->segs[s->nsegs - 1].seq + 1 : 1;
    if (s->next_seq <= s->ack_seq)
        s->next_seq = s->ack_seq + 1;
    if (scan(s, err, errlen) < 0)
        goto fail;
    update_gauges(s);
    if (s->records)
        HB_LOG(HB_LOG_WARN, "spool: events left by an earlier run will be replayed",
               HB_S("dir", dir), HB_I("records", s->records), HB_I("bytes", s->bytes));
    HB_LOG(HB_LOG_INFO, "spool ready", HB_S("dir", dir), HB_I("max_bytes", max_bytes));
    return s;
fail:
    if (d)
        closedir(d);
    gw_spool_close(s);
    return NULL;
}

bool gw_spool_pending(struct gw_spool *s)
{
    /* Not under the lock: an append holds it across fdatasync. A request
     * that races with an append is concurrent with it, so either order is
     * right. */
    return atomic_load(&s->pending) > 0;
}

bool gw_spool_full(struct gw_spool *s)
{
    pthread_mutex_lock(&s->lock);
    bool f = s->full || s->bytes >= s->max_bytes;
    pthread_mutex_unlock(&s->lock);
    return f;
}

void gw_spool_update_metrics(struct gw_spool *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&s->lock);
    int64_t age = s->records && s->oldest_ms && now > s->oldest_ms ? now - s->oldest_ms : 0;
    pthread_mutex_unlock(&s->lock);
    hb_gauge_set(s->g_age, age / 1000);
}

/* Opens a new active segment (the directory is fsynced so that the file
 * survives a crash). Lock held. */
static int rotate(struct gw_spool *s, char *err, size_t errlen)
{
    char path[4096];
    if (s->active_fd >= 0) {
        close(s->active_fd);
        s->active_fd = -1;
    }
    segment_path(s, s->next_seq, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || fsync(s->dir_fd) < 0 || add_segment(s, s->next_seq, 0) < 0) {
        snprintf(err, errlen, "spool: cannot create %s: %s", path, HB_STRERROR(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return -1;
    }
    s->next_seq++;
    s->active_fd = fd;
    return 0;
}

int gw_spool_append(struct gw_spool *s, const void *data, size_t len, size_t nrecords,
                    int64_t spooled_ms, char *err, size_t errlen)
{
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    if (s->bytes + (long long)len > s->max_bytes) {
        s->full = true;
        snprintf(err, errlen, "spool full (spool.max_bytes %lld)", s->max_bytes);
        rc = GW_SPOOL_FULL;
        goto out;
    }
    if (s->active_fd < 0 || s->segs[s->nsegs - 1].size >= SPOOL_SEGMENT_BYTES)
        if (rotate(s, err, errlen) < 0) {
            s->full = true; /* not ready until the replay frees room */
            goto out;
        }
    struct segment *seg = &s->segs[s->nsegs - 1];
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(s->active_fd, (const char *)data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (done < len || fdatasync(s->active_fd) < 0) {
        snprintf(err, errlen, "spool: write failed: %s", HB_STRERROR(errno));
        s->full = true; /* not ready until the replay frees room */
        /* Leave no partial record behind; a failed truncate is a torn tail
         * that the next start skips. */
        if (ftruncate(s->active_fd, seg->size) < 0)
            HB_LOG(HB_LOG_ERROR, "spool: cannot truncate a failed write",
                   HB_S("error", HB_STRERROR(errno)));
        goto out;
    }
    seg->size += (long long)len;
    s->full = false;
    s->bytes += (long long)len;
    s->records += (long long)nrecords;
    if (!s->oldest_ms)
        s->oldest_ms = spooled_ms;
    update_gauges(s);
    hb_counter_add(s->c_spooled, nrecords);
    pthread_cond_signal(&s->cond);
    rc = 0;
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int gw_spool_events(struct gw_spool *s, const struct gw_config *cfg, const char *receiver,
                    struct hb_event *const *events, size_t n, char *err, size_t errlen)
{
    struct hb_buf buf;
    int rc = GW_SPOOL_INVALID;
    hb_buf_init(&buf, (size_t)GW_SPOOL_MAX_RECORD * 4);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    snprintf(err, errlen, "cannot encode an event for the spool");
    for (size_t i = 0; i < n; i++) {
        struct hb_kafka_msg m;
        const char *type = hb_event_get(events[i], "type");
        if (hb_kafka_encode(events[i], cfg->format, &m, err, errlen) < 0)
            goto out;
        if (s->producer && gw_producer_check_size(s->producer, &m, err, errlen) < 0) {
            hb_kafka_msg_clear(&m);
            rc = GW_SPOOL_TOO_LARGE;
            goto out;
        }
        int e = gw_spool_record_encode(&buf, now, receiver, hb_event_get(events[i], "id"),
                                       gw_config_topic(cfg, type), &m);
        hb_kafka_msg_clear(&m);
        if (e < 0) {
            rc = -1;
            goto out;
        }
    }
    rc = gw_spool_append(s, buf.p, buf.len, n, now, err, errlen);
out:
    hb_buf_free(&buf);
    return rc;
}

/* ---- replay ---- */

static void replay_done(struct gw_delivery *d, const char *error, bool permanent, const char *topic,
                        int partition, long long offset)
{
    struct replay_slot *rs = (struct replay_slot *)d;
    struct gw_spool *s = rs->s;
    (void)topic;
    (void)partition;
    (void)offset;
    pthread_mutex_lock(&s->dlock);
    rs->failed = error != NULL;
    rs->permanent = permanent;
    if (error)
        hb_strlcpy(rs->error, error, sizeof(rs->error));
    if (--s->inflight == 0)
        pthread_cond_signal(&s->dcond);
    pthread_mutex_unlock(&s->dlock);
}

/* Sleeps ms unless the spool is stopped. */
static void nap(struct gw_spool *s, long ms)
{
    struct timespec ts;
    hb_realtime_after_ms(ms, &ts);
    pthread_mutex_lock(&s->lock);
    if (!atomic_load(&s->stop))
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    pthread_mutex_unlock(&s->lock);
}

/* Produces records [0, n) and waits for every report. Returns how many
 * leading records are done with: acknowledged, or refused for good. */
static size_t produce_batch(struct gw_spool *s, struct gw_spool_record *recs,
                            struct replay_slot *slots, size_t n)
{
    char topic[65536];
    pthread_mutex_lock(&s->dlock);
    s->inflight = (int)n;
    pthread_mutex_unlock(&s->dlock);
    for (size_t i = 0; i < n; i++) {
        struct hb_kafka_msg m;
        slots[i] = (struct replay_slot){.base = {replay_done}, .s = s};
        memcpy(topic, recs[i].topic, recs[i].topic_len);
        topic[recs[i].topic_len] = '\0';
        if (record_to_msg(&recs[i], &m) < 0) {
            replay_done(&slots[i].base, "out of memory", false, topic, -1, -1);
            continue;
        }
        gw_producer_send(s->producer, topic, &m, &slots[i].base);
        hb_kafka_msg_clear(&m);
    }
    pthread_mutex_lock(&s->dlock);
    while (s->inflight > 0)
        pthread_cond_wait(&s->dcond, &s->dlock);
    pthread_mutex_unlock(&s->dlock);
    size_t ok = 0;
    while (ok < n && (!slots[ok].failed || slots[ok].permanent))
        ok++;
    return ok;
}

/* Keeps a record Kafka refused for good in rejected.spool (same framing, for
 * an operator to inspect or re-inject) so that it neither blocks the records
 * behind it nor disappears. 0 or -1. */
static int set_aside(struct gw_spool *s, const unsigned char *rec, size_t len,
                     const struct gw_spool_record *r, const char *error)
{
    char path[4096], id[256];
    snprintf(path, sizeof(path), "%s/rejected.spool", s->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ssize_t w = fd >= 0 ? write(fd, rec, len) : -1;
    int rc = w == (ssize_t)len && fdatasync(fd) == 0 && fsync(s->dir_fd) == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    snprintf(id, sizeof(id), "%.*s", (int)(r->id_len < 200 ? r->id_len : 200), r->id);
    if (rc < 0) {
        HB_LOG(HB_LOG_ERROR, "spool: cannot write rejected.spool",
               HB_S("error", HB_STRERROR(errno)));
        return -1;
    }
    hb_counter_add(s->c_rejected, 1);
    HB_LOG(HB_LOG_ERROR, "spool: kafka refused an event for good; set aside in rejected.spool",
           HB_S("id", id), HB_S("error", error));
    return 0;
}

/* Counts acknowledged records per receiver. */
static void count_replayed(struct gw_spool *s, const struct gw_spool_record *recs,
                           const struct replay_slot *slots, size_t n)
{
    char name[128];
    for (size_t i = 0; i < n; i++) {
        if (slots[i].failed)
            continue;
        size_t l = recs[i].receiver_len < sizeof(name) - 1 ? recs[i].receiver_len
                                                           : sizeof(name) - 1;
        memcpy(name, recs[i].receiver, l);
        name[l] = '\0';
        gw_metrics_add_by_name(s->metrics, name, GW_METRIC_PUBLISHED, 1);
        hb_counter_add(s->c_replayed, 1);
    }
}

/* Replays one segment from the acknowledged offset; deletes it when done.
 * Returns 0 when the segment is finished, -1 to retry later. */
static int replay_segment(struct gw_spool *s, unsigned long long seq, long long start)
{
    size_t len, off = 0;
    unsigned char *buf = read_segment(s, seq, start, &len);
    struct gw_spool_record *recs = calloc(SPOOL_BATCH, sizeof(*recs));
    struct replay_slot *slots = calloc(SPOOL_BATCH, sizeof(*slots));
    size_t ends[SPOOL_BATCH], starts[SPOOL_BATCH];
    int rc = -1;
    long backoff = 250;
    if (!buf || !recs || !slots) {
        HB_LOG(HB_LOG_ERROR, "spool: cannot read a segment", HB_I("segment", seq),
               HB_S("error", HB_STRERROR(errno)));
        goto out;
    }
    while (!atomic_load(&s->stop)) {
        size_t n = 0, pos = off, used, skipped;
        while (n < SPOOL_BATCH &&
               next_record(buf, len, &pos, &recs[n], &used, &skipped) == GW_SPOOL_OK) {
            starts[n] = pos;
            pos += used;
            ends[n++] = pos;
        }
        size_t end = n ? ends[n - 1] : len; /* corrupt tail: skipped (reported at open) */
        size_t ok = n ? produce_batch(s, recs, slots, n) : 0;
        for (size_t i = 0; i < ok; i++)
            if (slots[i].failed &&
                set_aside(s, buf + starts[i], ends[i] - starts[i], &recs[i], slots[i].error) < 0) {
                ok = i;
                break;
            }
        size_t to = ok == n ? end : ok ? ends[ok - 1] : off;
        if (to > off) {
            pthread_mutex_lock(&s->lock);
            if (write_ack(s, seq, start + (long long)to) == 0) {
                s->bytes -= (long long)(to - off);
                s->records -= (long long)ok;
                /* The next pending record is at least this old. */
                s->oldest_ms = ok ? recs[ok < n ? ok : ok - 1].spooled_ms : s->oldest_ms;
                s->full = false;
                update_gauges(s);
                off = to;
                backoff = 250;
            }
            pthread_mutex_unlock(&s->lock);
            count_replayed(s, recs, slots, ok);
            if (off != to)
                goto out;
        }
        if (off == len) {
            rc = 0;
            break;
        }
        if (ok < n) {
            HB_LOG(HB_LOG_WARN, "spool: kafka did not acknowledge, replay retries",
                   HB_I("pending", s->records), HB_S("error", slots[ok].error),
                   HB_I("retry_ms", backoff));
            nap(s, backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
    }
out:
    free(buf);
    free(recs);
    free(slots);
    return rc;
}

static void *replay_main(void *arg)
{
    struct gw_spool *s = arg;
    while (!atomic_load(&s->stop)) {
        pthread_mutex_lock(&s->lock);
        while (!atomic_load(&s->stop) && !s->nsegs)
            pthread_cond_wait(&s->cond, &s->lock);
        if (atomic_load(&s->stop)) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        struct segment seg = s->segs[0];
        bool records = s->records > 0;
        long long start = seg.seq == s->ack_seq ? s->ack_off : 0;
        if (s->nsegs == 1 && s->active_fd >= 0) {
            if (!records) { /* nothing to send: wait for an append */
                pthread_cond_wait(&s->cond, &s->lock);
                pthread_mutex_unlock(&s->lock);
                continue;
            }
            /* Replay an immutable segment: appends go to a new one. */
            close(s->active_fd);
            s->active_fd = -1;
        }
        pthread_mutex_unlock(&s->lock);
        if (replay_segment(s, seg.seq, start) < 0) {
            nap(s, 1000); /* stopping, or a disk error: do not spin */
            continue;
        }
        char path[4096];
        segment_path(s, seg.seq, path, sizeof(path));
        pthread_mutex_lock(&s->lock);
        if (write_ack(s, seg.seq + 1, 0) == 0) {
            unlink(path);
            memmove(s->segs, s->segs + 1, (s->nsegs - 1) * sizeof(*s->segs));
            s->nsegs--;
            if (!s->nsegs)
                s->bytes = s->records = 0, s->oldest_ms = 0;
            update_gauges(s);
            HB_LOG(HB_LOG_INFO, "spool: segment replayed", HB_I("segment", seg.seq),
                   HB_I("pending", s->records));
        }
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

int gw_spool_start_replay(struct gw_spool *s, struct gw_producer *p, char *err, size_t errlen)
{
    s->producer = p;
    if (pthread_create(&s->thread, NULL, replay_main, s) != 0) {
        snprintf(err, errlen, "cannot start the spool replay thread");
        return -1;
    }
    s->running = true;
    return 0;
}

void gw_spool_stop_replay(struct gw_spool *s)
{
    if (!s || !s->running)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->running = false;
}

void gw_spool_close(struct gw_spool *s)
{
    if (!s)
        return;
    gw_spool_stop_replay(s);
    if (s->active_fd >= 0)
        close(s->active_fd);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    if (s->ack_fd >= 0)
        close(s->ack_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->dlock);
    pthread_cond_destroy(&s->dcond);
    free(s->segs);
    free(s->dir);
    free(s);
}
