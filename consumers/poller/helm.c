/* helm.c: the versions of one chart in a Helm HTTP repository's index.yaml.
 * The index of a big repository is tens of megabytes, so it is read with
 * libyaml's event parser, keeping only entries.<name>[].version and digest,
 * rather than as a tree. */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "hookbus/util.h"
#include "poller.h"

/* Where the parser is: depth counts open mappings and sequences. */
struct walk {
    int depth;
    bool key_next;  /* in a mapping, the next scalar is a key */
    char key[64];   /* the last key at the current level */
    int in_entries; /* depth of the entries mapping, 0: not inside */
    int in_chart;   /* depth of our chart's sequence, 0: not inside */
    int in_version; /* depth of one version's mapping, 0: not inside */
    bool stack_map[64];
    char version[256], digest[200];
};

int pl_helm_parse_index(const char *text, size_t len, const char *name, struct pl_snapshot *s,
                        char *err, size_t errlen)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct walk w = {0};
    int rc = -1;
    bool done = false, saw_entries = false;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "index.yaml: %s at line %zu", p.problem ? p.problem : "error",
                     p.problem_mark.line + 1);
            goto out;
        }
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT: {
            bool map = ev.type == YAML_MAPPING_START_EVENT;
            int parent = w.depth;
            if (w.depth + 1 >= (int)HB_ARRAY_LEN(w.stack_map)) {
                snprintf(err, errlen, "index.yaml: nested too deep");
                goto out_event;
            }
            bool parent_map = parent > 0 && w.stack_map[parent];
            w.depth++;
            w.stack_map[w.depth] = map;
            if (map && parent == 1 && parent_map && strcmp(w.key, "entries") == 0) {
                w.in_entries = w.depth;
                saw_entries = true;
            } else if (!map && w.in_entries && parent == w.in_entries && strcmp(w.key, name) == 0) {
                w.in_chart = w.depth;
            } else if (map && w.in_chart && parent == w.in_chart) {
                w.in_version = w.depth;
                w.version[0] = w.digest[0] = '\0';
            }
            w.key_next = map;
            w.key[0] = '\0';
            break;
        }
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (w.in_version == w.depth) {
                if (w.version[0] && pl_snapshot_add(s, w.version, w.digest) < 0) {
                    snprintf(err, errlen, "index.yaml: too many versions");
                    goto out_event;
                }
                w.in_version = 0;
            } else if (w.in_chart == w.depth) {
                w.in_chart = 0;
            } else if (w.in_entries == w.depth) {
                w.in_entries = 0;
            }
            w.depth--;
            w.key_next = w.depth > 0 && w.stack_map[w.depth];
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            bool in_map = w.depth > 0 && w.stack_map[w.depth];
            if (in_map && w.key_next) {
                hb_strlcpy(w.key, v, sizeof(w.key));
                w.key_next = false;
                break;
            }
            if (w.in_version == w.depth && in_map) {
                if (strcmp(w.key, "version") == 0)
                    hb_strlcpy(w.version, v, sizeof(w.version));
                else if (strcmp(w.key, "digest") == 0 && strlen(v) < 100)
                    snprintf(w.digest, sizeof(w.digest), "sha256:%s", v);
            }
            w.key_next = in_map;
            break;
        }
        case YAML_ALIAS_EVENT: w.key_next = w.depth > 0 && w.stack_map[w.depth]; break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    if (!saw_entries) {
        snprintf(err, errlen, "index.yaml: no entries");
        goto out;
    }
    pl_snapshot_sort(s);
    rc = 0;
    goto out;
out_event:
    yaml_event_delete(&ev);
out:
    yaml_parser_delete(&p);
    return rc;
}

int pl_helm_list(struct pl_source *src, struct pl_http *h, struct pl_snapshot *s, char *err,
                 size_t errlen)
{
    char url[4096];
    struct pl_http_resp r;
    size_t n = strlen(src->url);
    while (n && src->url[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s/index.yaml", (int)n, src->url);
    const struct pl_http_opts o = {.user = src->user,
                                   .password = src->password.value,
                                   .bearer = src->token.value,
                                   .insecure = src->insecure_skip_verify};
    if (pl_http_do(h, url, &o, &r, err, errlen) < 0)
        return -1;
    int rc = -1;
    if (r.status != 200)
        snprintf(err, errlen, "GET index.yaml: HTTP %ld", r.status);
    else
        rc = pl_helm_parse_index(r.body, r.body_len, src->chart, s, err, errlen);
    pl_http_resp_free(&r);
    return rc;
}
