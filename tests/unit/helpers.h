/* helpers.h: what the unit tests share: paths and files of the source tree
 * (fixtures, schemas, the vendored conformance suites), found under
 * $HB_SOURCE_DIR (the Makefile sets it to the top of the tree; "." when
 * unset), and scratch files. Every helper fails the running test (cmocka's
 * fail_msg) instead of returning an error. Include after <cmocka.h>; the
 * functions are static so that each test binary carries only what it uses. */
#ifndef HOOKBUS_TESTS_HELPERS_H
#define HOOKBUS_TESTS_HELPERS_H

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "hookbus/format.h"
#include "hookbus/util.h"

/* The largest file a test reads: fixtures and suites are far smaller. */
#define HBT_MAX_FILE (4u << 20)

/* The top of the source tree. */
static inline const char *hbt_source_dir(void)
{
    const char *dir = getenv("HB_SOURCE_DIR");
    return dir && *dir ? dir : ".";
}

/* Writes $HB_SOURCE_DIR/rel into buf (rel may be empty: the tree itself). */
static inline void hbt_source_path(char *buf, size_t len, const char *rel)
{
    if (hb_snprintf(buf, len, "%s%s%s", hbt_source_dir(), *rel ? "/" : "", rel) != 0)
        fail_msg("path too long: %s/%s", hbt_source_dir(), rel);
}

/* Reads a file by its path; NUL-terminated, *len without the NUL (len may be
 * NULL). Caller frees. */
static inline char *hbt_read_path(const char *path, size_t *len)
{
    char err[512];
    size_t n = 0;
    char *s = hb_read_file(path, HBT_MAX_FILE, &n, err, sizeof(err));
    if (!s)
        fail_msg("%s (set HB_SOURCE_DIR to the source tree)", err);
    if (len)
        *len = n;
    return s;
}

/* Reads $HB_SOURCE_DIR/rel. Caller frees. */
static inline char *hbt_read_source(const char *rel, size_t *len)
{
    char path[4096];
    hbt_source_path(path, sizeof(path), rel);
    return hbt_read_path(path, len);
}

/* Parses a file by its path as JSON. Caller frees with cJSON_Delete. */
static inline cJSON *hbt_json_path(const char *path)
{
    size_t len;
    char *s = hbt_read_path(path, &len);
    cJSON *j = hb_json_parse(s, len);
    free(s);
    if (!j)
        fail_msg("%s: not JSON", path);
    return j;
}

/* Parses $HB_SOURCE_DIR/rel as JSON. Caller frees with cJSON_Delete. */
static inline cJSON *hbt_json_source(const char *rel)
{
    char path[4096];
    hbt_source_path(path, sizeof(path), rel);
    return hbt_json_path(path);
}

/* Replaces the file at path with text. */
static inline void hbt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot create %s", path);
    if (fputs(text, f) < 0)
        fail_msg("cannot write %s", path);
    if (fclose(f) != 0)
        fail_msg("cannot write %s", path);
}

#endif
