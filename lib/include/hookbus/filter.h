/* hookbus/filter.h: event filters with the CloudEvents Subscriptions API
 * filter dialects: exact, prefix, suffix, all, any, not and sql (CESQL v1).
 *
 * A filter is built once from its JSON form (as the `filter:` section of a
 * consumer's configuration) and is then read-only: any number of threads may
 * match events against it. Attribute values come from the same lookup
 * callback CESQL uses, so filters work on any event representation. */
#ifndef HOOKBUS_FILTER_H
#define HOOKBUS_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "hookbus/cesql.h"

/* Deepest nesting of all / any / not accepted by hb_filter_new(). */
#define HB_FILTER_MAX_DEPTH 32

struct hb_filter;

/* Builds a filter from a JSON array (every entry must match; an empty array
 * matches every event) or from a single object. Each object holds exactly
 * one dialect:
 *   {"exact":  {"attr": "value", ...}}   every listed attribute equals value
 *   {"prefix": {"attr": "value", ...}}   every listed attribute starts with value
 *   {"suffix": {"attr": "value", ...}}   every listed attribute ends with value
 *   {"all": [filter, ...]}  {"any": [filter, ...]}  {"not": filter}
 *   {"sql": "CESQL expression"}
 * Attribute names are case-insensitive, values case-sensitive. Values are
 * strings; JSON integers and booleans are accepted as their canonical strings
 * ("42", "true"). Returns NULL with a message in err naming the offending
 * place (e.g. "filter[2].any[0].sql: parse error at column 7: ...") on error. */
struct hb_filter *hb_filter_new(const cJSON *spec, char *err, size_t errlen);
void hb_filter_free(struct hb_filter *f);

/* True when the event seen through lookup passes the filter (a NULL filter
 * passes everything). exact / prefix / suffix never match a missing
 * attribute; Integer and Boolean attributes compare in their canonical string
 * form. An sql filter passes only when its expression evaluates to Boolean
 * true without error. */
bool hb_filter_match(const struct hb_filter *f, hb_cesql_lookup_fn lookup, void *ctx);

#endif
