/* config.c: YAML loading (libyaml document API) into a line-numbered tree,
 * and table-driven binding with environment overrides. */
#include "hookbus/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "hookbus/secret.h"
#include "hookbus/util.h"

#define MAX_FILE (1 << 20)
#define MAX_DEPTH 32
#define MAX_NODES 100000

struct conv {
    yaml_document_t *doc;
    size_t count;
    const char *name;
    char *err;
    size_t errlen;
};

static void node_free(struct hb_node *n)
{
    for (size_t i = 0; i < n->n; i++)
        node_free(&n->items[i]);
    free(n->items);
    free(n->key);
    free(n->value);
}

/* Converts libyaml node yn into *out, recursively and bounded. */
static int convert(struct conv *c, yaml_node_t *yn, struct hb_node *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->line = (int)yn->start_mark.line + 1;
    if (depth > MAX_DEPTH || ++c->count > MAX_NODES) {
        snprintf(c->err, c->errlen, "%s:%d: configuration nested too deep or too large", c->name,
                 out->line);
        return -1;
    }
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        out->type = HB_NODE_SCALAR;
        out->value = hb_strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
        if (out->value && yn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (strcmp(out->value, "~") == 0 || strcmp(out->value, "null") == 0)) {
            out->value[0] = '\0';
        }
        return out->value ? 0 : -1;
    case YAML_SEQUENCE_NODE: {
        out->type = HB_NODE_SEQ;
        size_t n = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        out->items = calloc(n ? n : 1, sizeof(struct hb_node));
        if (!out->items)
            return -1;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *child = yaml_document_get_node(c->doc, yn->data.sequence.items.start[i]);
            out->n++;
            if (!child || convert(c, child, &out->items[i], depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    case YAML_MAPPING_NODE: {
        out->type = HB_NODE_MAP;
        size_t n = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
        out->items = calloc(n ? n : 1, sizeof(struct hb_node));
        if (!out->items)
            return -1;
        for (size_t i = 0; i < n; i++) {
            yaml_node_pair_t *pair = &yn->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);
            yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE) {
                snprintf(c->err, c->errlen, "%s:%d: mapping keys must be plain strings", c->name,
                         k ? (int)k->start_mark.line + 1 : out->line);
                return -1;
            }
            out->n++;
            if (convert(c, v, &out->items[i], depth + 1) < 0)
                return -1;
            out->items[i].key = hb_strndup((const char *)k->data.scalar.value,
                                           k->data.scalar.length);
            if (!out->items[i].key)
                return -1;
            for (size_t j = 0; j < i; j++) {
                if (strcmp(out->items[j].key, out->items[i].key) == 0) {
                    snprintf(c->err, c->errlen, "%s:%d: duplicate key '%s'", c->name,
                             (int)k->start_mark.line + 1, out->items[i].key);
                    return -1;
                }
            }
        }
        return 0;
    }
    default:
        snprintf(c->err, c->errlen, "%s:%d: unsupported YAML node", c->name, out->line);
        return -1;
    }
}

int hb_config_load_string(const char *name, const char *text, size_t len, struct hb_config *cfg,
                          char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    memset(cfg, 0, sizeof(*cfg));
    cfg->file = strdup(name);
    cfg->root = calloc(1, sizeof(struct hb_node));
    if (!cfg->file || !cfg->root) {
        snprintf(err, errlen, "out of memory");
        goto out_noparser;
    }
    cfg->root->type = HB_NODE_MAP;
    cfg->root->line = 1;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%d: YAML error: %s", name, (int)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "parse error");
        goto out;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (top) {
        struct conv c = {.doc = &doc, .name = name, .err = err, .errlen = errlen};
        err[0] = '\0';
        free(cfg->root);
        cfg->root = calloc(1, sizeof(struct hb_node));
        if (!cfg->root || convert(&c, top, cfg->root, 0) < 0) {
            if (!err[0])
                snprintf(err, errlen, "%s: out of memory", name);
            yaml_document_delete(&doc);
            goto out;
        }
        if (cfg->root->type != HB_NODE_MAP) {
            snprintf(err, errlen, "%s:%d: the configuration must be a mapping", name,
                     cfg->root->line);
            yaml_document_delete(&doc);
            goto out;
        }
    }
    yaml_document_delete(&doc);
    rc = 0;
out:
    yaml_parser_delete(&parser);
out_noparser:
    if (rc < 0)
        hb_config_free(cfg);
    return rc;
}

int hb_config_load(const char *file, struct hb_config *cfg, char *err, size_t errlen)
{
    size_t n;
    if (!file)
        return hb_config_load_string("(defaults)", "{}", 2, cfg, err, errlen);
    char *buf = hb_read_file(file, MAX_FILE, &n, err, errlen);
    if (!buf)
        return -1;
    int rc = hb_config_load_string(file, buf, n, cfg, err, errlen);
    free(buf);
    return rc;
}

void hb_config_free(struct hb_config *cfg)
{
    if (cfg->root) {
        node_free(cfg->root);
        free(cfg->root);
    }
    free(cfg->file);
    memset(cfg, 0, sizeof(*cfg));
}

const struct hb_node *hb_node_get(const struct hb_node *map, const char *key)
{
    if (!map || map->type != HB_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->items[i].key, key) == 0) {
            ((struct hb_node *)&map->items[i])->used = true;
            return &map->items[i];
        }
    }
    return NULL;
}

const struct hb_node *hb_node_path(const struct hb_node *map, const char *path)
{
    char part[128];
    const struct hb_node *n = map;
    while (n && *path) {
        size_t l = strcspn(path, ".");
        if (l >= sizeof(part))
            return NULL;
        memcpy(part, path, l);
        part[l] = '\0';
        n = hb_node_get(n, part);
        path += l;
        if (*path == '.')
            path++;
    }
    return n;
}

void hb_node_mark_used(const struct hb_node *node)
{
    struct hb_node *n = (struct hb_node *)node;
    n->used = true;
    for (size_t i = 0; i < n->n; i++)
        hb_node_mark_used(&n->items[i]);
}

int hb_config_error(const struct hb_config *cfg, const struct hb_node *at, char *err, size_t errlen,
                    const char *fmt, ...)
{
    int n = snprintf(err, errlen, "%s:%d: ", cfg->file ? cfg->file : "config", at ? at->line : 1);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void hb_config_env_name(const char *prefix, const char *key, char *out, size_t outlen)
{
    size_t o = 0;
    const char *parts[] = {"HOOKBUS_", prefix ? prefix : "", key};
    for (size_t p = 0; p < 3; p++) {
        for (const char *c = parts[p]; *c && o + 1 < outlen; c++)
            out[o++] = (*c == '.' || *c == '-') ? '_' : (char)toupper((unsigned char)*c);
    }
    out[o] = '\0';
}

/* Parses one textual value into its member. */
static int bind_value(const struct hb_field *f, const char *text, void *obj, const char **why)
{
    char *member = (char *)obj + f->offset;
    long v;
    switch (f->type) {
    case HB_F_STRING: {
        char *s = strdup(text);
        if (!s) {
            *why = "out of memory";
            return -1;
        }
        free(*(char **)member);
        *(char **)member = s;
        return 0;
    }
    case HB_F_BOOL:
        if (hb_parse_bool(text, (bool *)member) < 0) {
            *why = "must be true or false";
            return -1;
        }
        return 0;
    case HB_F_INT:
    case HB_F_DURATION:
        if (f->type == HB_F_INT
                ? hb_parse_long(text, -0x7fffffffffffffffL, 0x7fffffffffffffffL, &v) < 0
                : hb_parse_duration_ms(text, &v) < 0) {
            *why = f->type == HB_F_INT ? "must be an integer"
                                       : "must be a duration such as 500ms, 2s, 10m or 1h";
            return -1;
        }
        if ((f->min || f->max) && (v < f->min || v > f->max)) {
            *why = "is out of range";
            return -1;
        }
        *(long *)member = v;
        return 0;
    case HB_F_LIST:
    case HB_F_MAP: break;
    }
    *why = "unknown field type";
    return -1;
}

int hb_config_bind(const struct hb_config *cfg, const struct hb_node *node, const char *env_prefix,
                   const struct hb_field *fields, size_t nfields, void *obj, char *err,
                   size_t errlen)
{
    if (!node)
        node = cfg->root;
    for (size_t i = 0; i < nfields; i++) {
        const struct hb_field *f = &fields[i];
        const char *why = NULL;
        char envname[160];
        if (f->type == HB_F_LIST || f->type == HB_F_MAP)
            continue; /* the program reads these itself */
        if (f->def && bind_value(f, f->def, obj, &why) < 0)
            return hb_config_error(cfg, NULL, err, errlen, "%s: bad default: %s", f->key, why);
        const struct hb_node *n = hb_node_path(node, f->key);
        if (n) {
            if (n->type != HB_NODE_SCALAR)
                return hb_config_error(cfg, n, err, errlen, "%s: must be a scalar value", f->key);
            if (bind_value(f, n->value, obj, &why) < 0)
                return hb_config_error(cfg, n, err, errlen, "%s: '%.64s' %s", f->key, n->value,
                                       why);
        }
        if (env_prefix) {
            hb_config_env_name(env_prefix, f->key, envname, sizeof(envname));
            const char *ev = getenv(envname);
            if (ev && bind_value(f, ev, obj, &why) < 0) {
                snprintf(err, errlen, "environment %s: %s", envname, why);
                return -1;
            }
        }
    }
    return 0;
}

void hb_config_fields_free(const struct hb_field *fields, size_t nfields, void *obj)
{
    for (size_t i = 0; i < nfields; i++) {
        if (fields[i].type == HB_F_STRING) {
            char **p = (char **)((char *)obj + fields[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

/* A duration for people: "10m" rather than 600000. */
static void format_duration(long ms, char *out, size_t outlen)
{
    static const struct {
        long unit;
        const char *name;
    } units[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    if (ms == 0) {
        snprintf(out, outlen, "0");
        return;
    }
    for (size_t i = 0; i < HB_ARRAY_LEN(units); i++) {
        if (ms % units[i].unit == 0) {
            snprintf(out, outlen, "%ld%s", ms / units[i].unit, units[i].name);
            return;
        }
    }
    snprintf(out, outlen, "%ldms", ms);
}

void hb_config_help_text(FILE *out, const char *text)
{
    const size_t width = 72;
    while (*text) {
        size_t len = strlen(text), cut = len;
        if (len > width) {
            cut = width;
            while (cut && text[cut] != ' ')
                cut--;
            if (!cut) /* one long word: break after it */
                cut = strcspn(text, " ");
        }
        fprintf(out, "      %.*s\n", (int)cut, text);
        text += cut;
        text += strspn(text, " ");
    }
}

void hb_config_help(FILE *out, const char *key_prefix, const char *env_prefix,
                    const struct hb_field *fields, size_t nfields)
{
    static const char *const type_names[] = {"string", "int", "bool", "duration", "list", "map"};
    for (size_t i = 0; i < nfields; i++) {
        const struct hb_field *f = &fields[i];
        char lo[32], hi[32], env[160];
        bool scalar = f->type != HB_F_LIST && f->type != HB_F_MAP;
        fprintf(out, "  %s%s  %s", key_prefix ? key_prefix : "", f->key,
                (size_t)f->type < HB_ARRAY_LEN(type_names) ? type_names[f->type] : "?");
        if ((f->type == HB_F_INT || f->type == HB_F_DURATION) && (f->min || f->max)) {
            if (f->type == HB_F_DURATION) {
                format_duration(f->min, lo, sizeof(lo));
                format_duration(f->max, hi, sizeof(hi));
            } else {
                snprintf(lo, sizeof(lo), "%ld", f->min);
                snprintf(hi, sizeof(hi), "%ld", f->max);
            }
            fprintf(out, " %s..%s", lo, hi);
        }
        if (f->def)
            fprintf(out, ", default %s", *f->def ? f->def : "\"\"");
        if (scalar && env_prefix) {
            hb_config_env_name(env_prefix, f->key, env, sizeof(env));
            fprintf(out, ", env %s", env);
        }
        fputc('\n', out);
        if (f->help && *f->help)
            hb_config_help_text(out, f->help);
    }
}

/* Depth-first search for a node the program never read. */
static const struct hb_node *find_unused(const struct hb_node *n, char *path, size_t pathlen)
{
    for (size_t i = 0; i < n->n; i++) {
        const struct hb_node *c = &n->items[i];
        size_t l = strlen(path);
        if (n->type == HB_NODE_MAP)
            snprintf(path + l, pathlen - l, "%s%s", l ? "." : "", c->key);
        else
            snprintf(path + l, pathlen - l, "[%zu]", i);
        if (!c->used)
            return c;
        const struct hb_node *u = find_unused(c, path, pathlen);
        if (u)
            return u;
        path[l] = '\0';
    }
    return NULL;
}

int hb_config_check_unused(const struct hb_config *cfg, char *err, size_t errlen)
{
    char path[512] = "";
    const struct hb_node *u = find_unused(cfg->root, path, sizeof(path));
    if (u)
        return hb_config_error(cfg, u, err, errlen, "unknown key '%s'", path);
    return 0;
}

void *hb_node_to_cjson(const struct hb_node *node)
{
    cJSON *out;
    if (node->type == HB_NODE_SCALAR)
        return cJSON_CreateString(node->value);
    out = node->type == HB_NODE_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
    for (size_t i = 0; out && i < node->n; i++) {
        cJSON *c = hb_node_to_cjson(&node->items[i]);
        if (!c) {
            cJSON_Delete(out);
            return NULL;
        }
        if (node->type == HB_NODE_MAP)
            cJSON_AddItemToObject(out, node->items[i].key, c);
        else
            cJSON_AddItemToArray(out, c);
    }
    return out;
}

/* ---- header maps ---- */

static bool header_name_valid(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
            !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
            return false;
    return true;
}

/* One "Name: value" line of h, its value resolved; NULL with err. */
static char *header_line(const struct hb_config *cfg, const char *path, const struct hb_node *h,
                         char *err, size_t errlen)
{
    struct hb_secret s = {0};
    char e[256];
    if (!header_name_valid(h->key) || h->type != HB_NODE_SCALAR) {
        hb_config_error(cfg, h, err, errlen, "%s.%s: needs a valid header name and a string value",
                        path, h->key);
        return NULL;
    }
    if (hb_secret_ref_valid(h->value)) {
        if (hb_secret_resolve(h->value, &s, e, sizeof(e)) < 0) {
            hb_config_error(cfg, h, err, errlen, "%s.%s: %s", path, h->key, e);
            return NULL;
        }
    } else if (!(s.value = strdup(h->value))) {
        hb_config_error(cfg, h, err, errlen, "out of memory");
        return NULL;
    }
    s.len = strlen(s.value);
    bool bad = strpbrk(s.value, "\r\n") != NULL;
    size_t len = strlen(h->key) + 2 + s.len + 1;
    char *line = bad ? NULL : malloc(len);
    if (line)
        snprintf(line, len, "%s: %s", h->key, s.value);
    hb_secret_clear(&s);
    if (!line)
        hb_config_error(cfg, h, err, errlen, "%s.%s: %s", path, h->key,
                        bad ? "the value contains a line break" : "out of memory");
    return line;
}

int hb_config_headers(const struct hb_config *cfg, const char *path, char ***lines, size_t *n,
                      char *err, size_t errlen)
{
    *lines = NULL;
    *n = 0;
    const struct hb_node *m = hb_node_path(cfg->root, path);
    if (!m)
        return 0;
    if (m->type != HB_NODE_MAP)
        return hb_config_error(cfg, m, err, errlen, "%s: must be a mapping Name: value", path);
    hb_node_mark_used(m);
    char **v = calloc(m->n + 1, sizeof(char *));
    if (!v)
        return hb_config_error(cfg, m, err, errlen, "out of memory");
    size_t k = 0;
    for (; k < m->n; k++)
        if (!(v[k] = header_line(cfg, path, &m->items[k], err, errlen))) {
            hb_config_headers_free(v, k);
            return -1;
        }
    *lines = v;
    *n = k;
    return 0;
}

void hb_config_headers_free(char **lines, size_t n)
{
    for (size_t i = 0; lines && i < n; i++)
        hb_secret_clear(&(struct hb_secret){lines[i], strlen(lines[i])});
    free(lines);
}
