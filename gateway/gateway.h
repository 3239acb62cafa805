/* gateway.h: the gateway's configuration, Kafka producer and HTTP server. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hookbus/config.h"
#include "hookbus/kafka.h"
#include "hookbus/metrics.h"
#include "hookbus/otlp.h"
#include "hookbus/secret.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"

/* A token bucket's settings: per_second 0 = unlimited; burst 0 = per_second. */
struct gw_rate {
    long per_second, burst;
};

struct gw_config {
    char *listen, *admin_listen, *public_url;
    bool tls_enabled;
    char *tls_cert_file, *tls_key_file, *tls_min_version;
    char *kafka_brokers, *kafka_format, *kafka_embedded_bootstrap_file;
    long kafka_embedded_partitions;
    char *topic_git, *topic_image, *topic_other;
    struct hb_kv_list kafka_props;
    enum hb_ce_mode format;
    long delivery_timeout_ms;
    char *spool_dir;
    long spool_max_bytes;
    long max_body_bytes, max_connections, request_timeout_ms, max_header_bytes;
    long header_timeout_ms, max_connections_per_ip, unauth_body_bytes;
    long replay_cache_entries; /* limits.replay_cache_entries */
    struct gw_rate rate;       /* limits.requests_per_second, limits.burst */
    long threads;
    char *admin_token_ref;        /* admin.token, a secret reference */
    struct hb_secret admin_token; /* its value; len 0: no token */
    long deliveries_keep;         /* deliveries.keep, per receiver */
    long deliveries_max_body;     /* deliveries.max_body_bytes */
    struct gw_receiver *receivers;
    struct gw_rate *receiver_rates; /* per receiver (rate_limit), same index */
    size_t nreceivers;
    struct hb_otlp_config tracing; /* tracing.*: span export, read at start only */
};

/* Loads and validates FILE (NULL: defaults only). Resolves every secret.
 * 0, or -1 with "FILE:LINE: key: message". */
int gw_config_load(const char *file, struct gw_config *cfg, char *err, size_t errlen);
void gw_config_free(struct gw_config *cfg);
/* Writes the --help entry of every key, from the tables gw_config_load binds. */
void gw_config_help(FILE *out);
const struct gw_receiver *gw_config_find_receiver(const struct gw_config *cfg, const char *name);
/* The topic for an event type. */
const char *gw_config_topic(const struct gw_config *cfg, const char *type);

/* topics.c: `hookbus-gateway topics [flags]` (the flags after the word are
 * argv). Prints created/exists per topic; returns the exit status. */
#define GW_TOPICS_EXTRA_MAX 29
struct gw_topics_opts {
    long partitions, replication_factor, timeout_ms;
    const char *extra[GW_TOPICS_EXTRA_MAX];
    size_t nextra;
};
int gw_topics_main(const struct gw_config *cfg, int argc, char **argv);

/* producer.c */
struct gw_producer;
/* One message's delivery report target: embed as the first member of the
 * caller's per-message struct. done runs once per message, on the thread
 * that serves delivery reports: an HTTP worker while they run, else the
 * producer's poll thread or gw_producer_flush (or in gw_producer_send when
 * the message cannot be queued);
 * error is NULL when Kafka acknowledged it, permanent is true when retrying
 * cannot help (message too large, not authorized, invalid). */
struct gw_delivery {
    void (*done)(struct gw_delivery *d, const char *error, bool permanent, const char *topic,
                 int partition, long long offset);
};
struct gw_producer *gw_producer_new(const struct gw_config *cfg, const char *brokers,
                                    struct hb_metrics *metrics, char *err, size_t errlen);
/* Makes cfg's topics the configured ones (/readyz waits for their metadata)
 * and creates the handles of new ones, whose metadata librdkafka then asks
 * for at once. At start and on reload. 0, or -1 with err. */
int gw_producer_use_topics(struct gw_producer *p, const struct gw_config *cfg, char *err,
                           size_t errlen);
/* Produces msg to topic on its handle (created and cached on first use).
 * Takes msg's headers and value on success (NULL then); the key is copied. d->done is called exactly once in every case: 0 when queued, -1
 * when the message could not be queued (d->done already ran). */
int gw_producer_send(struct gw_producer *p, const char *topic, struct hb_kafka_msg *msg,
                     struct gw_delivery *d);
/* 0 when msg fits in a Kafka record under message.max.bytes (with room for
 * the record's framing); -1 with err otherwise: Kafka would refuse it for
 * good, so the sender gets 413 rather than a 202 for an event never
 * delivered. */
int gw_producer_check_size(const struct gw_producer *p, const struct hb_kafka_msg *msg, char *err,
                           size_t errlen);
bool gw_producer_ready(struct gw_producer *p);
/* 0 when every configured topic exists and, while Kafka answers, its metadata
 * was seen with a leader for every partition (as far as the health thread's
 * checks know; before its first pass: not yet), else -1 with a reason for
 * /readyz in why (JSON-safe). */
int gw_producer_topic_problem(struct gw_producer *p, char *why, size_t whylen);
/* 0 once the cluster gave the idempotent producer its id (or statistics,
 * the only place librdkafka tells, are off), else -1 with a reason for
 * /readyz in why (JSON-safe). */
int gw_producer_pid_problem(struct gw_producer *p, char *why, size_t whylen);
/* 0 when the latest delivery was acknowledged, else -1 with its error in why
 * (JSON-safe). */
int gw_producer_last_error(struct gw_producer *p, char *why, size_t whylen);
/* Delivery reports (see the top of producer.c). take: stops the producer's
 * poll thread and returns the fd that becomes readable when reports wait;
 * whoever took it must call gw_producer_serve_reports when it is, until
 * give_back restarts the poll thread. */
int gw_producer_reports_take(struct gw_producer *p);
void gw_producer_reports_give_back(struct gw_producer *p);
/* Clears the fd, then runs every waiting report (their done callbacks) on
 * the calling thread; any thread may call it. Returns how many ran. */
int gw_producer_serve_reports(struct gw_producer *p);
/* Waits up to timeout_ms for outstanding deliveries. Returns how many remain. */
int gw_producer_flush(struct gw_producer *p, int timeout_ms);
void gw_producer_free(struct gw_producer *p);

/* spool.c: the durable spool (see the comment at the top of spool.c). */
struct gw_spool;
#define GW_SPOOL_MAX_HEADERS 64
#define GW_SPOOL_MAX_RECORD (80u << 20) /* payload bytes; an event is at most ~2x the body */
enum {
    GW_SPOOL_OK = 0,
    GW_SPOOL_SHORT = 1,
    GW_SPOOL_CORRUPT = -1,
    GW_SPOOL_FULL = -2,
    GW_SPOOL_INVALID = -3,   /* an event cannot be encoded */
    GW_SPOOL_TOO_LARGE = -4, /* an event is over Kafka's message.max.bytes */
};
struct gw_spool_header {
    const char *name;
    size_t name_len;
    const void *value; /* NULL: a header without value */
    size_t value_len;
};
/* A parsed record; every pointer points into the parsed buffer and strings
 * are not NUL-terminated. */
struct gw_spool_record {
    int64_t spooled_ms; /* Unix time the record was written */
    const char *receiver, *id, *topic;
    size_t receiver_len, id_len, topic_len;
    const void *key, *value; /* NULL: none */
    size_t key_len, value_len;
    size_t nheaders;
    struct gw_spool_header headers[GW_SPOOL_MAX_HEADERS];
};
/* CRC32C (Castagnoli) of n bytes, continuing crc (start with 0). */
uint32_t gw_crc32c(uint32_t crc, const void *data, size_t n);
/* Appends one framed record for msg to out. 0 or -1 (too large, ENOMEM). */
int gw_spool_record_encode(struct hb_buf *out, int64_t spooled_ms, const char *receiver,
                           const char *id, const char *topic, const struct hb_kafka_msg *msg);
/* Parses the ack file (two slots, the newest valid one wins; or the older
 * text form). 0 or -1. */
int gw_spool_ack_parse(const unsigned char *buf, size_t len, uint64_t *gen, unsigned long long *seq,
                       long long *off);
/* Parses the record at the start of buf[0, len). Pure: no allocation, no
 * I/O. GW_SPOOL_OK with *rec and *used (the record's size), GW_SPOOL_SHORT
 * when buf ends inside the record (a torn tail), GW_SPOOL_CORRUPT otherwise. */
int gw_spool_record_parse(const unsigned char *buf, size_t len, struct gw_spool_record *rec,
                          size_t *used);
/* Opens (creating) the spool in dir, counts what an earlier run left and
 * reports corrupt records. NULL with err. */
struct gw_spool *gw_spool_open(const char *dir, long long max_bytes, struct hb_metrics *metrics,
                               char *err, size_t errlen);
/* Starts the thread that replays the spool to p in order. 0 or -1. */
int gw_spool_start_replay(struct gw_spool *s, struct gw_producer *p, char *err, size_t errlen);
/* Appends len bytes of nrecords framed records, all or nothing, and fsyncs.
 * 0, GW_SPOOL_FULL when spool.max_bytes would be exceeded, -1 with err. */
int gw_spool_append(struct gw_spool *s, const void *data, size_t len, size_t nrecords,
                    int64_t spooled_ms, char *err, size_t errlen);
/* Encodes events[0, n) (cfg's format and topics) into framed records of
 * receiver and appends them with gw_spool_append, all or nothing. 0,
 * GW_SPOOL_FULL, GW_SPOOL_INVALID (an event cannot be encoded),
 * GW_SPOOL_TOO_LARGE (Kafka would refuse it for good) or -1, with err. */
int gw_spool_events(struct gw_spool *s, const struct gw_config *cfg, const char *receiver,
                    struct hb_event *const *events, size_t n, char *err, size_t errlen);
/* True while records wait for Kafka (new events then queue behind them). */
bool gw_spool_pending(struct gw_spool *s);
/* True when the last append was refused for space and nothing was freed. */
bool gw_spool_full(struct gw_spool *s);
/* Refreshes the oldest-age gauge (call before rendering metrics). */
void gw_spool_update_metrics(struct gw_spool *s);
/* Stops replaying after the batch in flight (before the producer is freed). */
void gw_spool_stop_replay(struct gw_spool *s);
void gw_spool_close(struct gw_spool *s);

/* http.c */
struct gw_server;
/* Starts serving. Takes *cfg (moved into the server's first configuration
 * generation; *cfg is zeroed) and uses producer, spool (NULL: disabled) and
 * metrics, which the caller frees after gw_server_stop. NULL with err. */
struct gw_server *gw_server_start(struct gw_config *cfg, struct gw_producer *producer,
                                  struct gw_spool *spool, struct hb_metrics *metrics, char *err,
                                  size_t errlen);
/* SIGHUP: replaces receivers, secrets, limits and the TLS certificate without
 * dropping connections (requests in flight keep their generation). Takes *cfg
 * on success. Settings that need a restart are logged. 0, or -1 with err and
 * the running configuration unchanged. */
int gw_server_reload(struct gw_server *s, struct gw_config *cfg, char *err, size_t errlen);
/* Counts a reload refused before it reached the server (an invalid
 * configuration) in the reload metric, result="refused". */
void gw_server_reload_refused(struct gw_server *s);
/* Stops accepting new connections (in-flight requests continue). */
void gw_server_quiesce(struct gw_server *s);
/* Shutdown, after gw_server_quiesce: new publishes are answered 503 and
 * those waiting for Kafka are waited for, up to timeout_ms (the server
 * cannot be stopped while a connection waits suspended). Returns how many
 * still wait. */
int gw_server_drain(struct gw_server *s, int timeout_ms);
void gw_server_stop(struct gw_server *s);

/* listen.c: a listening TCP socket for "host:port" ("[v6]:port", ":port");
 * *port receives the bound port. fd or -1. */
int gw_listen_socket(const char *addr, int *port, char *err, size_t errlen);

/* The media type of a Content-Type value ("application/json; charset=utf-8"
 * -> "application/json", lowercase) into out; "" when ct is NULL. */
void gw_media_type(const char *ct, char *out, size_t outlen);

#endif
