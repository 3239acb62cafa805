/* curl_pool.c: idle libcurl easy handles for reuse (see curl_pool.h). */
#include "hookbus/curl_pool.h"

int hb_curl_pool_init(struct hb_curl_pool *p, size_t max)
{
    p->n = 0;
    p->max = max < 1 ? 1 : max > HB_CURL_POOL_MAX ? HB_CURL_POOL_MAX : max;
    return pthread_mutex_init(&p->lock, NULL) == 0 ? 0 : -1;
}

CURL *hb_curl_pool_get(struct hb_curl_pool *p)
{
    CURL *c = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->n)
        c = p->idle[--p->n];
    pthread_mutex_unlock(&p->lock);
    return c ? c : curl_easy_init();
}

void hb_curl_pool_put(struct hb_curl_pool *p, CURL *c)
{
    if (!c)
        return;
    curl_easy_reset(c);
    pthread_mutex_lock(&p->lock);
    if (p->n < p->max) {
        p->idle[p->n++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    if (c)
        curl_easy_cleanup(c);
}

void hb_curl_pool_free(struct hb_curl_pool *p)
{
    while (p->n)
        curl_easy_cleanup(p->idle[--p->n]);
    pthread_mutex_destroy(&p->lock);
}
