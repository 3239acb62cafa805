/* ratelimit.c: token buckets, refilled continuously from the monotonic
 * clock; each is locked on its own, so receivers do not contend. */
#include <math.h>

#include "hookbus/util.h"
#include "ratelimit.h"

void gw_bucket_init(struct gw_bucket *b, const struct gw_rate *rate)
{
    pthread_mutex_init(&b->lock, NULL);
    b->rate = rate->per_second;
    b->burst = rate->burst > 0 ? rate->burst : rate->per_second;
    b->tokens = (double)b->burst;
    b->last_ms = hb_mono_ms();
}

void gw_bucket_destroy(struct gw_bucket *b)
{
    pthread_mutex_destroy(&b->lock);
}

bool gw_bucket_take(struct gw_bucket *b, long *retry_s)
{
    if (b->rate <= 0)
        return true;
    pthread_mutex_lock(&b->lock);
    int64_t now = hb_mono_ms();
    b->tokens += (double)(now - b->last_ms) * (double)b->rate / 1000.0;
    if (b->tokens > (double)b->burst)
        b->tokens = (double)b->burst;
    b->last_ms = now;
    bool ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_s = (long)ceil((1.0 - b->tokens) / (double)b->rate);
    pthread_mutex_unlock(&b->lock);
    if (!ok && *retry_s < 1)
        *retry_s = 1;
    return ok;
}
