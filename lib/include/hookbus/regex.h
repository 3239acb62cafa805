/* hookbus/regex.h: PCRE2 patterns from configuration or the cluster (tag
 * filters, credential URL patterns), compiled once and matched with bounded
 * effort: a pattern is at most HB_REGEX_MAX_LEN bytes, a match at most a
 * fixed number of steps and depth. */
#ifndef HOOKBUS_REGEX_H
#define HOOKBUS_REGEX_H

#include <stddef.h>

#define HB_REGEX_MAX_LEN 4096

struct hb_regex;

/* Compiles pattern (UTF-8, unanchored as written). NULL with err (the
 * pattern's offset and PCRE2's message) when invalid, too long or out of
 * memory. */
struct hb_regex *hb_regex_new(const char *pattern, char *err, size_t errlen);
/* 1 when re matches somewhere in s, 0 when not, -1 when the match hit its
 * limits or memory ran out (the caller decides what that means). */
int hb_regex_search(const struct hb_regex *re, const char *s);
void hb_regex_free(struct hb_regex *re);

#endif
