/* hookbus/util.h: small shared helpers: bounded buffers, number and duration
 * parsing, encodings, time. Everything that touches network data is bounded. */
#ifndef HOOKBUS_UTIL_H
#define HOOKBUS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A growable byte buffer with a hard cap. Always NUL-terminated when p != NULL. */
struct hb_buf {
    char *p;
    size_t len, cap, max;
};

void hb_buf_init(struct hb_buf *b, size_t max);
/* Appends n bytes. Returns 0, or -1 when max would be exceeded or on ENOMEM
 * (the buffer keeps what it had). */
int hb_buf_append(struct hb_buf *b, const void *data, size_t n);
/* Makes room for n more bytes at once (a known length: one allocation, not a
 * doubling per append). 0, or -1 as hb_buf_append. */
int hb_buf_reserve(struct hb_buf *b, size_t n);
int hb_buf_puts(struct hb_buf *b, const char *s);
int hb_buf_printf(struct hb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string: quoted, with the escapes cJSON prints (quote,
 * backslash, control characters; other bytes as they are), so text written
 * directly reads the same as a printed cJSON tree. 0, or -1 as
 * hb_buf_append. */
int hb_buf_json_str(struct hb_buf *b, const char *s);
/* A libcurl CURLOPT_WRITEFUNCTION for a reply that is only quoted in errors:
 * keeps the first b->max bytes in the struct hb_buf given as CURLOPT_WRITEDATA
 * and drops the rest without failing the transfer. */
size_t hb_buf_write_prefix(char *data, size_t size, size_t nmemb, void *buf);
/* Returns the string (caller frees) and leaves the buffer empty. Never NULL
 * unless allocation fails: an empty buffer gives "". */
char *hb_buf_steal(struct hb_buf *b);
void hb_buf_free(struct hb_buf *b);

/* snprintf that reports truncation: 0 when it fit, -1 otherwise. */
int hb_snprintf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies src into dst[n]; 0, or -1 when truncated. */
int hb_strlcpy(char *dst, const char *src, size_t n);
/* Duplicates at most n bytes of s. NULL on ENOMEM. */
char *hb_strndup(const char *s, size_t n);
bool hb_str_has_prefix(const char *s, const char *prefix);
/* The token of an Authorization value "Bearer <token>" (scheme matched
 * case-insensitively, spaces after it skipped); NULL for NULL or another
 * scheme. */
const char *hb_bearer_token(const char *authorization);
bool hb_str_has_suffix(const char *s, const char *suffix);
/* Makes s one printable line in place (for logs and error headers): trailing
 * whitespace dropped, other control characters turned into spaces. Returns s. */
char *hb_str_one_line(char *s);
/* ASCII lowercase in place; returns s. */
char *hb_str_lower(char *s);

/* Strict integer parsing: the whole string, within [min, max]. 0 or -1. */
int hb_parse_long(const char *s, long min, long max, long *out);
/* Reads the decimal digits at s (at least one; no sign, no space) into *out
 * and points *end after them. 0, or -1 on no digit or overflow. */
int hb_parse_ull(const char *s, const char **end, unsigned long long *out);
/* "500ms", "2s", "10m", "1h", "1500" (ms) -> milliseconds. 0 or -1. */
int hb_parse_duration_ms(const char *s, long *out_ms);
/* "true/false/yes/no/on/off/1/0" -> bool. 0 or -1. */
int hb_parse_bool(const char *s, bool *out);

/* The message of errno value e, thread-safe (GNU strerror_r): written into
 * buf, or a constant string of the C library. Never NULL. HB_STRERROR(e)
 * supplies a buffer that lives until the end of the enclosing block, for use
 * as an argument: snprintf(err, n, "open: %s", HB_STRERROR(errno)). */
const char *hb_strerror(int e, char *buf, size_t len);
#define HB_STRERROR_LEN 128
#define HB_STRERROR(e) hb_strerror((e), (char[HB_STRERROR_LEN]){0}, HB_STRERROR_LEN)

/* FNV-1a over the bytes of s (NULL: none), continuing from h; start with
 * HB_FNV1A_INIT. For hash tables of our own, not against chosen inputs. */
#define HB_FNV1A_INIT 2166136261u
uint32_t hb_fnv1a(uint32_t h, const char *s);

/* True when buf[n] is valid UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF) with no NUL byte, so a C string can hold it whole. */
bool hb_utf8_valid(const void *buf, size_t n);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hb_hex_encode(const unsigned char *in, size_t n, char *out);
/* Decodes hex (either case) into out; returns the byte count or -1. */
long hb_hex_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax);
/* Standard base64 (with padding). Caller frees. NULL on ENOMEM. */
char *hb_base64_encode(const unsigned char *in, size_t n);
/* Decodes standard or URL-safe base64, padding optional. Returns a malloc'd
 * buffer (NUL-terminated for convenience) and its length, or NULL if invalid. */
unsigned char *hb_base64_decode(const char *in, size_t inlen, size_t *outlen);

/* Current time as RFC 3339 UTC with milliseconds: 2024-01-02T03:04:05.678Z. */
void hb_now_rfc3339(char out[32]);
/* The CLOCK_REALTIME instant ms milliseconds from now, as
 * pthread_cond_timedwait wants its deadline. */
struct timespec;
void hb_realtime_after_ms(long ms, struct timespec *ts);
/* Monotonic milliseconds. */
int64_t hb_mono_ms(void);

/* Decodes application/x-www-form-urlencoded: finds `key` in body and returns
 * its decoded value (caller frees), NULL when absent or malformed. */
char *hb_form_get(const char *body, size_t len, const char *key, size_t *outlen);

/* Reads a whole file of at most max bytes into a NUL-terminated buffer
 * (caller frees). NULL with err ("PATH: reason") when it cannot be read or is
 * larger than max; a partial buffer is wiped before it is freed (secrets). */
char *hb_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* Writes text to path through a temporary file and rename. 0 or -1 with err. */
int hb_write_file_atomic(const char *path, const char *text, char *err, size_t errlen);

#endif
