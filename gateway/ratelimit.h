/* ratelimit.h: token buckets for limits.requests_per_second and a
 * receiver's rate_limit (see ratelimit.c). */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway.h"

/* A token bucket: rate tokens a second, at most burst. */
struct gw_bucket {
    pthread_mutex_t lock;
    double tokens;
    int64_t last_ms;
    long rate, burst;
};

/* A full bucket with rate's settings (per_second 0: never limits). */
void gw_bucket_init(struct gw_bucket *b, const struct gw_rate *rate);
void gw_bucket_destroy(struct gw_bucket *b);
/* Takes one token. true, or false with *retry_s (whole seconds, at least 1,
 * until one is available). */
bool gw_bucket_take(struct gw_bucket *b, long *retry_s);

#endif
