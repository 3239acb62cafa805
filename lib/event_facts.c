/* event_facts.c: the facts of an event that matching needs
 * (hookbus/event_facts.h). */
#include "hookbus/event_facts.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

int hb_facts_from_event(const struct hb_event *ev, struct hb_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->repo = hb_event_get(ev, "repo");
    if (!f->repo || !f->repo[0])
        return -1;
    const char *type = hb_event_get(ev, "type");
    f->kind = HB_FACTS_OTHER;
    if (type && hb_str_has_prefix(type, "dev.hookbus.git."))
        f->kind = HB_FACTS_GIT;
    else if (type && (strcmp(type, "dev.hookbus.image.push") == 0 ||
                      strcmp(type, "dev.hookbus.chart.push") == 0))
        f->kind = HB_FACTS_ARTIFACT;
    f->chart = type && strcmp(type, "dev.hookbus.chart.push") == 0;
    const char *ref = hb_event_get(ev, "ref");
    const char *tag = hb_event_get(ev, "tag");
    const char *digest = hb_event_get(ev, "digest");
    if (ref && ref[0]) {
        f->ref = ref;
        if (hb_str_has_prefix(ref, "refs/heads/"))
            f->branch = ref + 11;
        else if (hb_str_has_prefix(ref, "refs/tags/"))
            f->tag = ref + 10;
        else if (!hb_str_has_prefix(ref, "refs/"))
            f->branch = ref; /* a bare name (generic receivers) */
    }
    if (tag && tag[0]) {
        f->tag = tag;
        if (f->branch == f->ref && f->ref && !hb_str_has_prefix(f->ref, "refs/"))
            f->branch = NULL;
    }
    if (digest && digest[0])
        f->digest = digest;
    if (f->kind != HB_FACTS_GIT || !ev->data || !ev->data_len)
        return 0;
    cJSON *data = cJSON_ParseWithLength((const char *)ev->data, ev->data_len);
    if (!data)
        return 0;
    f->data = data; /* owns the strings below */
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(data, "default_branch");
    if (cJSON_IsString(db) && db->valuestring[0])
        f->default_branch = db->valuestring;
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(data, "changed_paths");
    int n = cJSON_IsArray(paths) ? cJSON_GetArraySize(paths) : 0;
    if (n <= 0 || n > HB_FACTS_MAX_PATHS ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "changed_paths_truncated")) ||
        !(f->paths = calloc((size_t)n, sizeof(*f->paths))))
        return 0;
    const cJSON *p;
    cJSON_ArrayForEach (p, paths) {
        if (cJSON_IsString(p))
            f->paths[f->npaths++] = p->valuestring;
    }
    f->paths_known = f->npaths > 0;
    return 0;
}

void hb_facts_clear(struct hb_facts *f)
{
    free(f->paths);
    cJSON_Delete(f->data);
    memset(f, 0, sizeof(*f));
}
