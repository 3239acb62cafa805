/* hookbus/semver.h: semantic versions and version constraints.
 *
 * The semantics are those of github.com/Masterminds/semver/v3 (v3.5.0, the
 * version Kargo is built with), so that hookbus-kargo accepts exactly the tags
 * a Warehouse's semverConstraint accepts in Kargo itself:
 *
 * - Versions: hb_semver_parse(s, false, ...) is Masterminds' NewVersion: an
 *   optional lowercase "v", one to three numeric parts ("1", "1.2" are 1.0.0
 *   and 1.2.0), leading zeros allowed in those parts, then "-prerelease" and
 *   "+metadata" of dot-separated [0-9A-Za-z-] identifiers (numeric prerelease
 *   identifiers without leading zeros). strict=true is Kargo's strictSemvers:
 *   the above, and the string without one leading "v" must pass StrictNewVersion
 *   (exactly MAJOR.MINOR.PATCH, no leading zeros), so "v1.2.3" passes and
 *   "1.2" or "01.2.3" do not.
 * - Ordering: semver 2.0.0 precedence; metadata is ignored; prerelease
 *   identifiers compare numerically when both are numbers that fit in 64 bits,
 *   numbers sort before other identifiers, others compare by ASCII.
 * - Constraints: "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^",
 *   wildcards x / X / * in any part, missing parts ("1.2" is "1.2.x"), hyphen
 *   ranges "1.2 - 1.4.5", AND by blanks or commas, OR by "||". A version with
 *   a prerelease satisfies an OR group only when some comparator of that group
 *   names a prerelease (">= 1.0.0-0, < 2.0.0" admits 1.5.0-rc.1, "^1.0" does
 *   not). Upstream's corner cases are kept, since Kargo decides with them
 *   (e.g. "^*" admits only 0.0.0, "~0.0.0" admits everything, the empty
 *   constraint is an error: callers treat "" as "no constraint").
 */
#ifndef HOOKBUS_SEMVER_H
#define HOOKBUS_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on constraints. The first two are Masterminds' own (MaxConstraintLen,
 * MaxConstraintGroups); the comparator count is hookbus's bound (a hyphen
 * range counts as two comparators). */
#define HB_SEMVER_MAX_CONSTRAINT_LEN 512
#define HB_SEMVER_MAX_OR_GROUPS 32
#define HB_SEMVER_MAX_TERMS 64

/* A parsed version. pre and meta are without their '-' / '+'; original is the
 * string as given (with its "v"). Versions longer than 159 bytes, or whose
 * prerelease or metadata is longer than 127 bytes, are refused. */
struct hb_semver {
    uint64_t major, minor, patch;
    char pre[128];
    char meta[128];
    char original[160];
};

/* Parses s into *out (written only on success). Returns 0, or -1 if s is not
 * a version. strict=false: Masterminds' NewVersion; strict=true: Kargo's
 * strictSemvers parsing (see the top of this file). */
int hb_semver_parse(const char *s, bool strict, struct hb_semver *out);

/* Semver precedence: <0, 0 or >0 as a sorts before, with, or after b. */
int hb_semver_compare(const struct hb_semver *a, const struct hb_semver *b);

struct hb_semver_constraint;

/* Parses a constraint such as ">= 1.2, < 2 || ^3.0.0-0". Returns a new
 * constraint (free it with hb_semver_constraint_free), or NULL with a message
 * in err (when err is not NULL) if s is not a valid constraint or exceeds the
 * limits above. The work done is bounded by HB_SEMVER_MAX_CONSTRAINT_LEN. */
struct hb_semver_constraint *hb_semver_constraint_parse(const char *s, char *err, size_t errlen);
void hb_semver_constraint_free(struct hb_semver_constraint *c);

/* True when v satisfies c (Masterminds' Constraints.Check). False if either is
 * NULL. */
bool hb_semver_satisfies(const struct hb_semver_constraint *c, const struct hb_semver *v);

#endif
