/* regex.c: PCRE2 patterns compiled once, matched with limits (hookbus/regex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/regex.h"
#include "hookbus/util.h"

#define HB_REGEX_MATCH_LIMIT 1000000
#define HB_REGEX_DEPTH_LIMIT 10000

struct hb_regex {
    pcre2_code *code;
};

static pcre2_match_context *match_ctx;

static void match_ctx_init(void)
{
    match_ctx = pcre2_match_context_create(NULL);
    if (match_ctx) {
        pcre2_set_match_limit(match_ctx, HB_REGEX_MATCH_LIMIT);
        pcre2_set_depth_limit(match_ctx, HB_REGEX_DEPTH_LIMIT);
    }
}

struct hb_regex *hb_regex_new(const char *pattern, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    struct hb_regex *re = NULL;
    if (strlen(pattern) > HB_REGEX_MAX_LEN) {
        (void)hb_snprintf(err, errlen, "regex longer than %d bytes", HB_REGEX_MAX_LEN);
        return NULL;
    }
    if (!(re = calloc(1, sizeof(*re)))) {
        (void)hb_snprintf(err, errlen, "out of memory");
        return NULL;
    }
    re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        (void)hb_snprintf(err, errlen, "regex '%.80s' at offset %zu: %s", pattern, (size_t)off,
                          (const char *)msg);
        free(re);
        return NULL;
    }
    return re;
}

int hb_regex_search(const struct hb_regex *re, const char *s)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, match_ctx_init);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!md)
        return -1;
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, match_ctx);
    pcre2_match_data_free(md);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

void hb_regex_free(struct hb_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}
