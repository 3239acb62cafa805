/* deliveries.h: the bounded record of recent deliveries the console shows. */
#ifndef GW_DELIVERIES_H
#define GW_DELIVERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hookbus/util.h"
#include "receivers/receiver.h"

#define GW_DELIVERY_MAX_HEADERS 32
#define GW_DELIVERY_MAX_HEADER_VALUE 512

struct gw_deliveries;

/* Where one event went. topic NULL: not published (spooled or failed). */
struct gw_delivery_event {
    const char *id, *type, *subject, *topic;
    int partition;
    long long offset;
};

/* One answered webhook request, as http.c saw it. Only the receiver is
 * required; req and ctx are NULL when the request ended before them. */
struct gw_delivery_info {
    const struct gw_receiver *rcv;
    const struct gw_request *req; /* headers (secret-bearing ones dropped) */
    const struct gw_ctx *ctx;     /* delivery id */
    const char *remote;
    bool key_route;
    bool authentic; /* the body is kept only then */
    unsigned status;
    const char *reason;
    int64_t latency_ms;
    const struct gw_delivery_event *events;
    size_t nevents;
    /* The storage of req->body, or NULL: a body that is kept is then taken
     * from it (left empty) instead of copied. */
    struct hb_buf *body_buf;
};

/* A kept delivery's body and headers, copied out for a redelivery. */
struct gw_delivery_replay {
    char receiver[80];
    char delivery_id[256];
    bool key_route;
    unsigned char *body;
    size_t body_len;
    char *content_type;
    size_t nheaders;
    char *names[GW_DELIVERY_MAX_HEADERS], *values[GW_DELIVERY_MAX_HEADERS];
};

/* keep: records per receiver (0 records nothing); max_body: bytes of body
 * kept. NULL on ENOMEM. */
struct gw_deliveries *gw_deliveries_new(long keep, long max_body);
void gw_deliveries_free(struct gw_deliveries *d);
/* Copies what info says into the receiver's ring, evicting its oldest. */
void gw_deliveries_record(struct gw_deliveries *d, const struct gw_delivery_info *info);
/* JSON array text (caller frees with cJSON_free), newest first: receiver/status filters
 * (NULL or "": any; status is a code such as "202" or a class "4xx"),
 * at most limit entries. NULL on ENOMEM. */
char *gw_deliveries_list(struct gw_deliveries *d, const char *receiver, const char *status,
                         long limit);
/* JSON object text of one delivery with its headers and body (caller
 * frees with cJSON_free); NULL when id is not kept (or ENOMEM). */
char *gw_deliveries_get(struct gw_deliveries *d, unsigned long long id);
/* Copies delivery id's body for a redelivery. 0, -1 when not kept, -2 when
 * kept without a body (not authentic, or over max_body_bytes). */
int gw_deliveries_replay(struct gw_deliveries *d, unsigned long long id,
                         struct gw_delivery_replay *out);
void gw_delivery_replay_clear(struct gw_delivery_replay *r);
/* True when a header named name may carry a secret and is never stored. */
bool gw_delivery_header_secret(const char *name, const char *token_header);

#endif
