/* gateway.h: the gateway's configuration, Kafka producer and HTTP server. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/config.h"
#include "hookbus/kafka.h"
#include "hookbus/metrics.h"
#include "receivers/receiver.h"

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
    long max_body_bytes, requests_per_second, max_connections, request_timeout_ms;
    long threads;
    struct gw_receiver *receivers;
    size_t nreceivers;
};

/* Loads and validates FILE (NULL: defaults only). Resolves every secret.
 * 0, or -1 with "FILE:LINE: key: message". */
int gw_config_load(const char *file, struct gw_config *cfg, char *err, size_t errlen);
void gw_config_free(struct gw_config *cfg);
const struct gw_receiver *gw_config_find_receiver(const struct gw_config *cfg, const char *name);
/* The topic for an event type. */
const char *gw_config_topic(const struct gw_config *cfg, const char *type);

/* producer.c */
struct gw_producer;
/* Called on the producer's poll thread once per message. */
typedef void (*gw_delivery_fn)(void *opaque, const char *error, const char *topic,
                               int partition, long long offset);
struct gw_producer *gw_producer_new(const struct gw_config *cfg, const char *brokers,
                                    gw_delivery_fn cb, struct hb_metrics *metrics, char *err,
                                    size_t errlen);
/* Produces msg to topic (takes msg's buffers on success). 0, or -1 with err
 * when the message could not even be queued (the callback is not called). */
int gw_producer_send(struct gw_producer *p, const char *topic, struct hb_kafka_msg *msg,
                     void *opaque, char *err, size_t errlen);
bool gw_producer_ready(struct gw_producer *p);
/* Waits up to timeout_ms for outstanding deliveries. Returns how many remain. */
int gw_producer_flush(struct gw_producer *p, int timeout_ms);
void gw_producer_free(struct gw_producer *p);

/* http.c */
struct gw_server;
struct gw_server *gw_server_start(const struct gw_config *cfg, struct gw_producer *producer,
                                  struct hb_metrics *metrics, char *err, size_t errlen);
/* Stops accepting new connections (in-flight requests continue). */
void gw_server_quiesce(struct gw_server *s);
void gw_server_stop(struct gw_server *s);
/* The delivery callback to pass to gw_producer_new. */
void gw_server_on_delivery(void *opaque, const char *error, const char *topic, int partition,
                           long long offset);

/* tls.c: a self-signed certificate and key (PEM) for name, valid one year. */
int gw_tls_self_signed(char **cert_pem, char **key_pem, char *err, size_t errlen);

/* listen.c: a listening TCP socket for "host:port" ("[v6]:port", ":port");
 * *port receives the bound port. fd or -1. */
int gw_listen_socket(const char *addr, int *port, char *err, size_t errlen);

#endif
