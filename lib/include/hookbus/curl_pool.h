/* hookbus/curl_pool.h: idle libcurl easy handles kept for reuse, so that the
 * requests of a consumer's actions share connections and TLS sessions (a new
 * handle per request costs a TCP connect and, over TLS, a handshake). */
#ifndef HOOKBUS_CURL_POOL_H
#define HOOKBUS_CURL_POOL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>

#define HB_CURL_POOL_MAX 16

struct hb_curl_pool {
    pthread_mutex_t lock;
    CURL *idle[HB_CURL_POOL_MAX];
    size_t n, max; /* max: how many idle handles are kept, <= HB_CURL_POOL_MAX */
};

/* max is clamped to 1..HB_CURL_POOL_MAX. 0, or -1 when the mutex fails. */
int hb_curl_pool_init(struct hb_curl_pool *p, size_t max);
/* An idle handle (default options, its connection kept), or a new one.
 * NULL on ENOMEM. */
CURL *hb_curl_pool_get(struct hb_curl_pool *p);
/* Hands c back: its options are reset (they point at the finished request's
 * buffers) and it is kept, or cleaned up when max handles are idle. */
void hb_curl_pool_put(struct hb_curl_pool *p, CURL *c);
/* Cleans up the idle handles. */
void hb_curl_pool_free(struct hb_curl_pool *p);

#endif
