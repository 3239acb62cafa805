/* fuzz_cesql.c: the CESQL parser and evaluator, and the filter builder.
 *
 * Input: a CESQL expression. It is parsed and, when it parses, evaluated
 * against a fixed event with String, Integer, Boolean, URI and Timestamp
 * attributes. An input that is JSON is also built as a Subscriptions API
 * filter (whose "sql" dialect reaches the same parser) and matched. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "hookbus/cesql.h"
#include "hookbus/event_lookup.h"
#include "hookbus/filter.h"
#include "hookbus/format.h"

static struct hb_event *event;

int fuzz_init(void)
{
    event = hb_event_new();
    hb_event_set(event, "specversion", "1.0");
    hb_event_set(event, "id", "delivery-1");
    hb_event_set(event, "source", "/receivers/github");
    hb_event_set(event, "type", "dev.hookbus.git.push");
    hb_event_set(event, "subject", "github.com/acme/app@refs/heads/main");
    hb_event_set(event, "time", "2026-01-02T03:04:05.678Z");
    hb_event_set(event, "repo", "github.com/acme/app");
    hb_event_set(event, "ref", "refs/heads/main");
    hb_event_set_typed(event, "count", "-2147483648", HB_ATTR_INTEGER);
    hb_event_set_typed(event, "draft", "false", HB_ATTR_BOOLEAN);
    hb_event_set_typed(event, "sum", "AAEC", HB_ATTR_BINARY);
    hb_event_set(event, "empty", "");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    size_t pos;
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    struct hb_cesql_expr *e = hb_cesql_parse(src, err, sizeof(err), &pos);
    if (e) {
        struct hb_cesql_result res;
        hb_cesql_eval(e, hb_event_lookup, event, &res, err, sizeof(err));
        hb_cesql_result_free(&res);
        hb_cesql_eval(e, NULL, NULL, &res, err, sizeof(err));
        hb_cesql_result_free(&res);
        hb_cesql_matches(e, hb_event_lookup, event);
        hb_cesql_free(e);
    } else if (pos > size) {
        abort(); /* the error position must be inside the source */
    }
    cJSON *spec = hb_json_parse((const char *)data, size);
    if (spec) {
        struct hb_filter *f = hb_filter_new(spec, err, sizeof(err));
        if (f)
            hb_filter_match(f, hb_event_lookup, event);
        hb_filter_free(f);
        cJSON_Delete(spec);
    }
    free(src);
    return 0;
}
