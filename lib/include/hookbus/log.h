/* hookbus/log.h: one line per event, key=value text or JSON lines.
 *
 *   HB_LOG(HB_LOG_INFO, "event published", HB_S("receiver", name), HB_I("partition", p));
 *
 * The level is checked before any argument is formatted. Never pass a secret
 * or a whole request body. */
#ifndef HOOKBUS_LOG_H
#define HOOKBUS_LOG_H

#include <stdbool.h>

enum hb_log_level { HB_LOG_DEBUG = 0, HB_LOG_INFO, HB_LOG_WARN, HB_LOG_ERROR };
enum hb_log_format { HB_LOG_TEXT = 0, HB_LOG_JSON };

struct hb_kv {
    const char *k;
    char kind; /* 's' string, 'i' integer, 'f' double, 'b' bool */
    const char *s;
    long long i;
    double f;
};

#define HB_S(key, v) ((struct hb_kv){.k = (key), .kind = 's', .s = (v)})
#define HB_I(key, v) ((struct hb_kv){.k = (key), .kind = 'i', .i = (long long)(v)})
#define HB_F(key, v) ((struct hb_kv){.k = (key), .kind = 'f', .f = (double)(v)})
#define HB_B(key, v) ((struct hb_kv){.k = (key), .kind = 'b', .i = (v) ? 1 : 0})
#define HB_KV_END ((struct hb_kv){.k = 0})

#define HB_LOG(lvl, ...)                                                                           \
    do {                                                                                           \
        if (hb_log_enabled(lvl))                                                                   \
            hb_log_emit((lvl), __VA_ARGS__, HB_KV_END);                                            \
    } while (0)

/* Sets the threshold and format; the default is info, text on a terminal
 * (stderr) and JSON otherwise. */
void hb_log_setup(enum hb_log_level level, enum hb_log_format format);
int hb_log_level_parse(const char *s, enum hb_log_level *out);
int hb_log_format_parse(const char *s, enum hb_log_format *out);
enum hb_log_format hb_log_default_format(void);
bool hb_log_enabled(enum hb_log_level level);
/* Writes one line to stderr with one write(2). Arguments: struct hb_kv values
 * ending with HB_KV_END (the macro adds it). */
void hb_log_emit(enum hb_log_level level, const char *msg, ...);

#endif
