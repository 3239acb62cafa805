/* hookbus/metrics.h: a small thread-safe metrics registry with Prometheus
 * text exposition (version 0.0.4). Series are created once (under a lock)
 * and then updated lock-free; keep the returned pointers. */
#ifndef HOOKBUS_METRICS_H
#define HOOKBUS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct hb_metrics;
struct hb_counter;
struct hb_gauge;
struct hb_histogram;

struct hb_metrics *hb_metrics_new(void);
void hb_metrics_free(struct hb_metrics *m);

/* Returns the series name{labels}, creating it on first use. labels is the
 * inside of the braces, already escaped (use hb_metrics_label_escape for
 * values from config), or NULL/"" for none. A name registered with another
 * type returns NULL. */
struct hb_counter *hb_metrics_counter(struct hb_metrics *m, const char *name, const char *help,
                                      const char *labels);
struct hb_gauge *hb_metrics_gauge(struct hb_metrics *m, const char *name, const char *help,
                                  const char *labels);
/* bounds: ascending upper bounds (seconds, bytes, ...), at most 32. */
struct hb_histogram *hb_metrics_histogram(struct hb_metrics *m, const char *name, const char *help,
                                          const char *labels, const double *bounds, size_t nbounds);

void hb_counter_add(struct hb_counter *c, uint64_t n);
uint64_t hb_counter_get(const struct hb_counter *c);
void hb_gauge_set(struct hb_gauge *g, int64_t v);
void hb_gauge_add(struct hb_gauge *g, int64_t d);
int64_t hb_gauge_get(const struct hb_gauge *g);
void hb_histogram_observe(struct hb_histogram *h, double v);

/* Escapes a label value (backslash, quote, newline) into out. 0 or -1. */
int hb_metrics_label_escape(const char *v, char *out, size_t outlen);

/* Renders every series. Caller frees; NULL on ENOMEM. */
char *hb_metrics_render(struct hb_metrics *m);

#endif
