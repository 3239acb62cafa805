/* hookbus/tag_rules.h: the tag rules of a Kargo Warehouse subscription (git
 * and image; charts have none): allowTagsRegexes and ignoreTagsRegexes, plus
 * the deprecated allowTags (one regex) and ignoreTags (exact tag names) that
 * Warehouses written for Kargo before v1.11 still carry. Regexes are
 * unanchored (Go's MatchString) and matched with bounded effort
 * (hookbus/regex.h). Shared by hookbus-kargo (which events concern a
 * subscription) and hookbus-poller (which tags a discovered source tracks). */
#ifndef HOOKBUS_TAG_RULES_H
#define HOOKBUS_TAG_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/regex.h"

#define HB_TAG_RULES_MAX 256 /* patterns or tags per list */

struct hb_tag_rules {
    struct hb_regex **allow;  /* allowTagsRegexes (+ allowTags) */
    struct hb_regex **ignore; /* ignoreTagsRegexes */
    char **ignore_exact;      /* ignoreTags */
    size_t nallow, nignore, nignore_exact;
};

/* Compiles the rules of a subscription's git or image object (a cJSON
 * object) into *r (zeroed first). 0, or -1 with err ("<field>: <why>") at
 * the first invalid regex, over-long list or memory shortage; *r then holds
 * what compiled before it. Free with hb_tag_rules_clear either way. */
int hb_tag_rules_compile(const void *json, struct hb_tag_rules *r, char *err, size_t errlen);
/* NULL when tag passes the rules, else why not (a constant usable as a
 * metrics label): "ignore_tag", "allow_regex", "ignore_regex". A regex
 * that hits its match limits counts as matching. */
const char *hb_tag_rules_check(const struct hb_tag_rules *r, const char *tag);
/* True when r has no rule (every tag passes). */
bool hb_tag_rules_empty(const struct hb_tag_rules *r);
void hb_tag_rules_clear(struct hb_tag_rules *r);

#endif
