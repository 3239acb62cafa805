/* hookbus/config.h: YAML configuration (libyaml) as a tree with line numbers,
 * bound to structs through a declarative field table that also drives
 * defaults, HOOKBUS_* environment overrides, bounds, error messages and the
 * key list of --help (hb_config_help).
 *
 * Errors read "FILE:LINE: KEY: what is wrong" (callers exit with status 2). */
#ifndef HOOKBUS_CONFIG_H
#define HOOKBUS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum hb_node_type { HB_NODE_SCALAR, HB_NODE_MAP, HB_NODE_SEQ };

struct hb_node {
    enum hb_node_type type;
    char *key;             /* the key when the node is a map member, else NULL */
    char *value;           /* scalars */
    int line;              /* 1-based */
    bool used;             /* set when the program read it; see hb_config_check_unused */
    struct hb_node *items; /* map members / sequence items */
    size_t n;
};

struct hb_config {
    char *file;
    struct hb_node *root; /* always a map */
};

/* Loads FILE (NULL: an empty config). Bounded: 1 MiB, depth 32, 100000 nodes;
 * duplicate keys are errors. 0, or -1 with "FILE:LINE: message". */
int hb_config_load(const char *file, struct hb_config *cfg, char *err, size_t errlen);
/* Parses YAML text (name is used in messages). */
int hb_config_load_string(const char *name, const char *text, size_t len, struct hb_config *cfg,
                          char *err, size_t errlen);
void hb_config_free(struct hb_config *cfg);

/* The member KEY of a map node (marked used), or NULL. */
const struct hb_node *hb_node_get(const struct hb_node *map, const char *key);
/* The node at a dotted path ("kafka.brokers") below map (each step marked). */
const struct hb_node *hb_node_path(const struct hb_node *map, const char *path);
/* Marks node and everything below it as used (free-form sections). */
void hb_node_mark_used(const struct hb_node *node);

enum hb_field_type {
    HB_F_STRING,   /* char *, owned by the struct (free with hb_config_fields_free) */
    HB_F_INT,      /* long, within [min, max] */
    HB_F_BOOL,     /* bool */
    HB_F_DURATION, /* long milliseconds: "500ms", "2s", "10m", or a number of ms */
    /* A list or a mapping the program reads itself (hb_node_get), declared
     * in the table so that --help lists it; hb_config_bind leaves it alone
     * and def is the default as YAML flow text ("[a, b]", "{}"), or NULL. */
    HB_F_LIST,
    HB_F_MAP,
};

struct hb_field {
    const char *key; /* dotted path relative to the bound node */
    enum hb_field_type type;
    size_t offset;    /* offsetof(struct, member) */
    const char *def;  /* default as text, NULL: none (strings NULL) */
    long min, max;    /* HB_F_INT / HB_F_DURATION bounds; 0,0: unbounded */
    const char *help; /* one sentence for --help */
};

/* One entry of a field table binding into struct type S, e.g.
 * #define F(...) HB_FIELD(struct my_config, __VA_ARGS__). */
#define HB_FIELD(S, key, type, member, def, min, max, help)                                        \
    {                                                                                              \
        key, type, offsetof(S, member), def, min, max, help                                        \
    }

/* Binds fields below node (NULL: the root) into obj. env_prefix, when not
 * NULL, enables overrides: HOOKBUS_ + upper(env_prefix + key) with dots as
 * '_' (env_prefix "" for top-level keys). An environment value beats the file.
 * 0 or -1 with err. */
int hb_config_bind(const struct hb_config *cfg, const struct hb_node *node, const char *env_prefix,
                   const struct hb_field *fields, size_t nfields, void *obj, char *err,
                   size_t errlen);
void hb_config_fields_free(const struct hb_field *fields, size_t nfields, void *obj);
/* The HOOKBUS_* variable name for a dotted key into out. */
void hb_config_env_name(const char *prefix, const char *key, char *out, size_t outlen);

/* Writes the --help entry of every field: the key (key_prefix + key), its
 * type, bounds and default, the HOOKBUS_* variable of a scalar when
 * env_prefix is not NULL (as hb_config_bind takes it), and the help text:
 *
 *   retry.max_attempts  int 1..1000, default 8, env HOOKBUS_RETRY_MAX_ATTEMPTS
 *       attempts before an event is dead-lettered
 */
void hb_config_help(FILE *out, const char *key_prefix, const char *env_prefix,
                    const struct hb_field *fields, size_t nfields);
/* Writes text as hb_config_help writes a field's help: indented by 6 columns,
 * wrapped at spaces before column 79. */
void hb_config_help_text(FILE *out, const char *text);

/* Fails on the first key the program never read: "FILE:LINE: unknown key 'a.b'". */
int hb_config_check_unused(const struct hb_config *cfg, char *err, size_t errlen);

/* Formats "FILE:LINE: " + message into err. Returns -1 for convenience. */
int hb_config_error(const struct hb_config *cfg, const struct hb_node *at, char *err, size_t errlen,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The mapping {Name: value} at path (e.g. "headers", "tracing.headers") as
 * "Name: value" lines in *lines (NULL-terminated, *n of them; no mapping:
 * NULL and 0). A value may be a secret reference (env:, file:), resolved
 * here. A name that is not an HTTP token, a non-string value or a line
 * break in a value is an error naming its place. Free with
 * hb_config_headers_free, which wipes the values. 0, or -1 with err. */
int hb_config_headers(const struct hb_config *cfg, const char *path, char ***lines, size_t *n,
                      char *err, size_t errlen);
void hb_config_headers_free(char **lines, size_t n);

/* Converts a node tree to cJSON (scalars as strings). Caller deletes. */
void *hb_node_to_cjson(const struct hb_node *node);

#endif
