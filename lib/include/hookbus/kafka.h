/* hookbus/kafka.h: the CloudEvents Kafka protocol binding (binary and
 * structured content modes, avro values), and client helpers shared by the
 * gateway, the consumers and the tools (configuration, the embedded mock
 * cluster). */
#ifndef HOOKBUS_KAFKA_H
#define HOOKBUS_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "hookbus/event.h"

enum hb_ce_mode { HB_CE_BINARY = 0, HB_CE_STRUCTURED, HB_CE_AVRO };

const char *hb_ce_mode_name(enum hb_ce_mode m);
/* "binary" | "structured" | "avro" -> mode; 0 or -1. */
int hb_ce_mode_parse(const char *s, enum hb_ce_mode *out);

/* A message ready to produce. All members owned; free with hb_kafka_msg_clear.
 * headers is handed to librdkafka by hb_kafka_msg_produce (set to NULL then). */
struct hb_kafka_msg {
    char *key;
    size_t key_len;
    void *value;
    size_t value_len;
    rd_kafka_headers_t *headers;
};

/* Encodes ev. Binary: one header ce_<name> per attribute, datacontenttype as
 * header content-type, data as value. Structured: the JSON format as value,
 * content-type application/cloudevents+json. The message key is the
 * partitionkey attribute when set. 0, or -1 with err. */
int hb_kafka_encode(const struct hb_event *ev, enum hb_ce_mode mode, struct hb_kafka_msg *out,
                    char *err, size_t errlen);
void hb_kafka_msg_clear(struct hb_kafka_msg *m);

/* Decodes a consumed message, detecting the mode per message: a content-type
 * header starting with application/cloudevents -> structured (or avro for
 * +avro), else ce_specversion -> binary, else not a CloudEvent. The event is
 * validated. 0 with *out (caller frees) and *mode, or -1 with err. */
int hb_kafka_decode(const void *value, size_t value_len, const void *key, size_t key_len,
                    const rd_kafka_headers_t *headers, struct hb_event **out, enum hb_ce_mode *mode,
                    char *err, size_t errlen);
int hb_kafka_decode_message(const rd_kafka_message_t *rkm, struct hb_event **out,
                            enum hb_ce_mode *mode, char *err, size_t errlen);

/* Avro event format (lib/avro_format.c): value bytes of one event. */
int hb_avro_encode(const struct hb_event *ev, void **out, size_t *outlen, char *err, size_t errlen);
int hb_avro_decode(const void *buf, size_t len, struct hb_event **out, char *err, size_t errlen);

/* A key/value list of librdkafka properties (kafka.properties). */
struct hb_kv_list {
    char **keys, **values;
    size_t n;
};
void hb_kv_list_free(struct hb_kv_list *l);
int hb_kv_list_add(struct hb_kv_list *l, const char *k, const char *v);

/* Sets every property of props on conf (kafka.properties, after the
 * program's defaults so that the user's win). 0, or -1 with err
 * "kafka.properties.KEY: why" on an unknown property or value. */
int hb_kafka_conf_apply(rd_kafka_conf_t *conf, const struct hb_kv_list *props, char *err,
                        size_t errlen);

/* Builds a librdkafka configuration: bootstrap.servers = brokers, then every
 * property. NULL with err on an unknown property or value. */
rd_kafka_conf_t *hb_kafka_conf_new(const char *brokers, const struct hb_kv_list *props, char *err,
                                   size_t errlen);

/* Consumer prefetch defaults (README "Consumers"): librdkafka's own are
 * sized for bulk pipelines (up to 64 MiB and 100000 messages per partition
 * queued ahead, 50 MiB fetches); a webhook consumer acts on a few events a
 * second. Set them before the user's properties so those still win. 0, or
 * -1 with err. */
int hb_kafka_consumer_defaults(rd_kafka_conf_t *conf, char *err, size_t errlen);
/* After the user's properties: librdkafka refuses fetch.max.bytes below
 * message.max.bytes, so a raised message.max.bytes raises the default
 * fetch.max.bytes with it (unless props set fetch.max.bytes; props may be
 * NULL). 0, or -1 with err. */
int hb_kafka_consumer_fit(rd_kafka_conf_t *conf, const struct hb_kv_list *props, char *err,
                          size_t errlen);

/* An in-process librdkafka mock cluster (kafka.brokers: embedded, and
 * tests/tools/mock-kafka). */
struct hb_mock_cluster;
struct hb_mock_cluster *hb_mock_cluster_start(int brokers, char *err, size_t errlen);
const char *hb_mock_cluster_bootstraps(const struct hb_mock_cluster *m);
/* Creates a topic with partitions (replication: min(3, brokers)). 0 or -1. */
int hb_mock_cluster_create_topic(struct hb_mock_cluster *m, const char *topic, int partitions);
/* The librdkafka mock handle, for tests that inject errors. */
void *hb_mock_cluster_handle(struct hb_mock_cluster *m);
void hb_mock_cluster_stop(struct hb_mock_cluster *m);

#endif
