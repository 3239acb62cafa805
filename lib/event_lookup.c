/* event_lookup.c: the bridge from events to CESQL values. */
#include "hookbus/event_lookup.h"

#include <string.h>

#include "hookbus/util.h"

int hb_event_lookup(void *ctx, const char *name, struct hb_cesql_value *out)
{
    const struct hb_attr *a = hb_event_find(ctx, name);
    long v;
    if (!a)
        return -1;
    memset(out, 0, sizeof(*out));
    if (a->type == HB_ATTR_INTEGER && hb_parse_long(a->value, -2147483648L, 2147483647L, &v) == 0) {
        out->type = HB_CESQL_INTEGER;
        out->i = (int32_t)v;
    } else if (a->type == HB_ATTR_BOOLEAN) {
        out->type = HB_CESQL_BOOLEAN;
        out->b = strcmp(a->value, "true") == 0;
    } else {
        out->type = HB_CESQL_STRING;
        out->s = a->value;
    }
    return 0;
}
