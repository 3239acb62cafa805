/* hookbus/cesql.h: the CloudEvents SQL Expression Language (CESQL v1.0).
 *
 * hb_cesql_parse() turns an expression into an immutable tree that any number
 * of threads may evaluate at once with hb_cesql_eval(). Attribute values come
 * from a caller-supplied lookup callback, so the evaluator does not depend on
 * any particular event representation.
 *
 * Evaluation follows the specification's error model: an expression always
 * yields a value, and the first error (its kind named as in the CESQL TCK)
 * is reported next to it. An operator or function whose operand failed
 * yields the zero value of its return type (false, 0 or ""). */
#ifndef HOOKBUS_CESQL_H
#define HOOKBUS_CESQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parser limits: longer sources and deeper trees are parse errors. */
#define HB_CESQL_MAX_SOURCE (64 * 1024)
#define HB_CESQL_MAX_DEPTH 256
/* Bytes of intermediate strings one evaluation may allocate (generic error beyond). */
#define HB_CESQL_MAX_EVAL_MEMORY (16 * 1024 * 1024)

enum hb_cesql_type { HB_CESQL_BOOLEAN, HB_CESQL_INTEGER, HB_CESQL_STRING };

struct hb_cesql_value {
    enum hb_cesql_type type;
    bool b;
    int32_t i;
    const char *s; /* borrowed from the lookup, or owned by an eval result */
};

enum hb_cesql_error {
    HB_CESQL_OK = 0,
    HB_CESQL_ERR_PARSE,
    HB_CESQL_ERR_MATH,
    HB_CESQL_ERR_CAST,
    HB_CESQL_ERR_MISSING_FUNCTION,
    HB_CESQL_ERR_FUNCTION_EVALUATION,
    HB_CESQL_ERR_MISSING_ATTRIBUTE,
    HB_CESQL_ERR_GENERIC,
};

/* The TCK name of an error kind: "parse", "math", "cast", "missingFunction",
 * "functionEvaluation", "missingAttribute", "generic" ("ok" for HB_CESQL_OK). */
const char *hb_cesql_error_kind(enum hb_cesql_error e);

/* Attribute lookup supplied by the caller. name is lowercase. Returns 0 and
 * fills *out (type and value; strings borrowed and valid during the whole
 * evaluation) when the attribute exists, -1 when it does not. */
typedef int (*hb_cesql_lookup_fn)(void *ctx, const char *name, struct hb_cesql_value *out);

struct hb_cesql_expr;

/* Parses src. Returns NULL on error, with a message naming the 1-based column
 * of the problem in err and the 0-based byte offset in *err_pos (err_pos may
 * be NULL). Sources over HB_CESQL_MAX_SOURCE bytes and trees deeper than
 * HB_CESQL_MAX_DEPTH are parse errors. Unknown functions are not: they give a
 * missingFunction error when evaluated, as the TCK expects. */
struct hb_cesql_expr *hb_cesql_parse(const char *src, char *err, size_t errlen, size_t *err_pos);
void hb_cesql_free(struct hb_cesql_expr *e);

/* The source text the expression was parsed from. */
const char *hb_cesql_source(const struct hb_cesql_expr *e);

struct hb_cesql_result {
    struct hb_cesql_value v;
    char *owned;
};

/* Evaluates e. Returns HB_CESQL_OK or the kind of the first error; res->v is
 * always set (errors still produce a value). When res->v.type is STRING,
 * res->v.s points into storage owned by res: call hb_cesql_result_free(res)
 * afterwards (it is safe to call for any result). err (may be NULL) gets a
 * human-readable message, "" on success. lookup may be NULL (no attributes).
 * Thread-safe: the expression is not modified. */
enum hb_cesql_error hb_cesql_eval(const struct hb_cesql_expr *e, hb_cesql_lookup_fn lookup,
                                  void *ctx, struct hb_cesql_result *res, char *err, size_t errlen);
void hb_cesql_result_free(struct hb_cesql_result *res);

/* Filter predicate: true only when the evaluation succeeds without error and
 * yields Boolean true. As CESQL v1 section 1.2 requires, a result of another
 * type does not pass (it is not cast). */
bool hb_cesql_matches(const struct hb_cesql_expr *e, hb_cesql_lookup_fn lookup, void *ctx);

#endif
