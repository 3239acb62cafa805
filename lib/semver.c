/* semver.c: semantic versions and constraints as github.com/Masterminds/semver/v3
 * (v3.5.0) and Kargo's strictSemvers option define them.
 *
 * Upstream recognises constraints with regular expressions: one rewrites
 * "A - B" ranges into ">= A, <= B ", the text is split on "||", each group must
 * match a validating expression, and its comparators are then found and parsed
 * one by one. This file reproduces what those expressions accept with small
 * scanners. A constraint version is always the longest run the expression
 * allows (anything shorter would be followed by a character that cannot start
 * a separator), so no backtracking is needed. Upstream's odd corners are kept
 * on purpose: Kargo decides with that library, and hookbus must refresh a
 * Warehouse for exactly the tags Kargo would take.
 */
#include "hookbus/semver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Masterminds' MaxVersionLen: longer version strings are refused. */
#define MAX_VERSION_LEN 256
/* Room for a constraint once its ranges are rewritten: a range is at least 5
 * bytes ("1 - 2") and its rewrite at most 6 bytes longer, so 2.2x suffices. */
#define TEXT_CAP (3 * HB_SEMVER_MAX_CONSTRAINT_LEN)

/* A version as the comparisons see it; pre is a slice, not NUL-terminated. */
struct ver {
    uint64_t major, minor, patch;
    const char *pre;
    size_t pre_len;
};

/* A loosely parsed version: slices of the input plus what strict parsing needs. */
struct loose {
    struct ver v;
    const char *meta;
    size_t meta_len;
    int nseg;       /* numeric parts present, 1..3 */
    bool lead_zero; /* a numeric part had a leading 0 */
};

enum op { OP_EQ, OP_NE, OP_GT, OP_LT, OP_GE, OP_LE, OP_TILDE, OP_CARET };

/* One comparator. dirty: a part was a wildcard or missing ("1.x", "1.2", "*");
 * minor_dirty / patch_dirty tell which. con has those parts set to 0. */
struct term {
    enum op op;
    bool dirty, minor_dirty, patch_dirty;
    struct ver con; /* con.pre points into the owning constraint's text */
};

/* An OR group: terms[first .. first + count) ANDed. has_pre: some term names a
 * prerelease, which lets prerelease versions match this group. */
struct group {
    size_t first, count;
    bool has_pre;
};

struct hb_semver_constraint {
    size_t ngroups, nterms;
    struct group groups[HB_SEMVER_MAX_OR_GROUPS];
    struct term terms[HB_SEMVER_MAX_TERMS];
    char text[TEXT_CAP + 1]; /* the constraint after range rewriting */
};

/* Offsets of a constraint version found in a text: [start, end) in all, the
 * numeric part from seg (after an optional 'v'), ".minor" in [maj_end, min_end),
 * ".patch" in [min_end, pat_end), "-pre" in [pat_end, pre_end), then "+meta". */
struct cv {
    size_t start, seg, maj_end, min_end, pat_end, pre_end, end;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A prerelease or metadata identifier character: [0-9A-Za-z-]. */
static bool is_ident(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Go's \s, the only blanks the constraint grammar knows (no \v). */
static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/* A character of a constraint version part: upstream's class [0-9|x|X|\*],
 * the '|' included (it later fails as a number, or glues to a "||"). */
static bool is_seg(char c)
{
    return is_digit(c) || c == 'x' || c == 'X' || c == '*' || c == '|';
}

/* Writes a message into err when the caller gave room for one. */
__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* True when s[0..n) is one or more dot-separated, non-empty identifiers. */
static bool valid_idents(const char *s, size_t n)
{
    size_t part = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (!part)
                return false;
            part = 0;
        } else if (is_ident(s[i])) {
            part++;
        } else {
            return false;
        }
    }
    return part > 0;
}

/* Parses the digits s[0..n) into *out; false when the value exceeds 64 bits. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* A prerelease identifier's numeric value: true only for digits that fit in
 * 64 bits (a longer run of digits compares as text, as upstream does). */
static bool ident_number(const char *s, size_t n, uint64_t *out)
{
    return n && all_digits(s, n) && parse_u64(s, n, out);
}

/* Masterminds' NewVersion (with its default CoerceNewVersion) on s[0..n).
 * Fills *out with slices of s. Returns 0, or -1 when s is not a version. */
static int parse_loose(const char *s, size_t n, struct loose *out)
{
    const char *p = s, *e = s + n;
    const char *seg[3];
    size_t seg_len[3];

    memset(out, 0, sizeof *out);
    if (n > MAX_VERSION_LEN)
        return -1;
    if (p < e && *p == 'v')
        p++;
    /* Metadata is everything after the first '+'; it may itself hold '-'. */
    const char *plus = memchr(p, '+', (size_t)(e - p));
    if (plus) {
        out->meta = plus + 1;
        out->meta_len = (size_t)(e - plus - 1);
        if (!valid_idents(out->meta, out->meta_len))
            return -1;
        e = plus;
    }
    const char *minus = memchr(p, '-', (size_t)(e - p));
    if (minus) {
        out->v.pre = minus + 1;
        out->v.pre_len = (size_t)(e - minus - 1);
        if (!valid_idents(out->v.pre, out->v.pre_len))
            return -1;
        e = minus;
    }
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(e - p));
        const char *end = dot ? dot : e;
        if (out->nseg > 2 || end == p)
            return -1;
        if (!all_digits(p, (size_t)(end - p)))
            return -1;
        if (end - p > 1 && *p == '0')
            out->lead_zero = true;
        seg[out->nseg] = p;
        seg_len[out->nseg] = (size_t)(end - p);
        out->nseg++;
        if (!dot)
            break;
        p = dot + 1;
    }
    uint64_t *dst[3] = {&out->v.major, &out->v.minor, &out->v.patch};
    for (int i = 0; i < out->nseg; i++)
        if (!parse_u64(seg[i], seg_len[i], dst[i]))
            return -1;
    /* Numeric prerelease identifiers must not have a leading zero. */
    const char *id = out->v.pre, *pend = out->v.pre + out->v.pre_len;
    while (id && id < pend) {
        const char *dot = memchr(id, '.', (size_t)(pend - id));
        const char *end = dot ? dot : pend;
        if (end - id > 1 && *id == '0' && all_digits(id, (size_t)(end - id)))
            return -1;
        id = dot ? dot + 1 : pend;
    }
    return 0;
}

int hb_semver_parse(const char *s, bool strict, struct hb_semver *out)
{
    struct hb_semver v;
    struct loose l;

    if (!s || !out)
        return -1;
    size_t n = strnlen(s, sizeof v.original);
    if (n >= sizeof v.original || parse_loose(s, n, &l) != 0)
        return -1;
    /* Kargo: NewVersion(s) must succeed and StrictNewVersion(s without one
     * leading "v") too, which adds: exactly three parts, no leading zeros. */
    if (strict && (l.nseg != 3 || l.lead_zero))
        return -1;
    if (l.v.pre_len >= sizeof v.pre || l.meta_len >= sizeof v.meta)
        return -1;
    memset(&v, 0, sizeof v);
    v.major = l.v.major;
    v.minor = l.v.minor;
    v.patch = l.v.patch;
    if (l.v.pre_len)
        memcpy(v.pre, l.v.pre, l.v.pre_len);
    if (l.meta_len)
        memcpy(v.meta, l.meta, l.meta_len);
    memcpy(v.original, s, n);
    *out = v;
    return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

/* Compares two prerelease identifiers (either may be empty, meaning "absent",
 * which sorts first). Numbers sort before text; text compares bytewise. */
static int compare_pre_part(const char *s, size_t sn, const char *o, size_t on)
{
    if (sn == on && memcmp(s, o, sn) == 0)
        return 0;
    if (!sn)
        return -1;
    if (!on)
        return 1;
    uint64_t si = 0, oi = 0;
    bool snum = ident_number(s, sn, &si), onum = ident_number(o, on, &oi);
    if (!snum && !onum) {
        int d = memcmp(s, o, sn < on ? sn : on);
        if (d)
            return d > 0 ? 1 : -1;
        return sn > on ? 1 : -1;
    }
    if (!onum)
        return -1;
    if (!snum)
        return 1;
    return cmp_u64(si, oi);
}

/* Compares dot-separated prereleases identifier by identifier; the one that
 * runs out first is the smaller. */
static int compare_pre(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    while (i < an || j < bn) {
        size_t ie = i, je = j;
        while (ie < an && a[ie] != '.')
            ie++;
        while (je < bn && b[je] != '.')
            je++;
        int d = compare_pre_part(a + i, ie - i, b + j, je - j);
        if (d)
            return d;
        i = ie < an ? ie + 1 : an;
        j = je < bn ? je + 1 : bn;
    }
    return 0;
}

/* Semver precedence of two versions: -1, 0 or 1. */
static int compare_ver(const struct ver *a, const struct ver *b)
{
    int d = cmp_u64(a->major, b->major);
    if (!d)
        d = cmp_u64(a->minor, b->minor);
    if (!d)
        d = cmp_u64(a->patch, b->patch);
    if (d)
        return d;
    if (!a->pre_len && !b->pre_len)
        return 0;
    if (!a->pre_len)
        return 1;
    if (!b->pre_len)
        return -1;
    return compare_pre(a->pre, a->pre_len, b->pre, b->pre_len);
}

/* The comparison view of a public version. */
static struct ver view(const struct hb_semver *v)
{
    struct ver r = {v->major, v->minor, v->patch, v->pre, strnlen(v->pre, sizeof v->pre)};
    return r;
}

int hb_semver_compare(const struct hb_semver *a, const struct hb_semver *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    struct ver va = view(a), vb = view(b);
    return compare_ver(&va, &vb);
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* End of the dot-separated identifiers starting at s[i] (an identifier char);
 * a dot not followed by an identifier char is left out. */
static size_t idents_end(const char *s, size_t n, size_t i)
{
    for (;;) {
        while (i < n && is_ident(s[i]))
            i++;
        if (i + 1 < n && s[i] == '.' && is_ident(s[i + 1]))
            i++;
        else
            return i;
    }
}

/* Matches upstream's constraint version expression at s[i], taking the
 * longest run it allows (never crossing n). Returns false if none starts here. */
static bool scan_cv(const char *s, size_t n, size_t i, struct cv *cv)
{
    size_t p = i;

    cv->start = i;
    if (p < n && s[p] == 'v')
        p++;
    if (p >= n || !is_seg(s[p]))
        return false;
    cv->seg = p;
    while (p < n && is_seg(s[p]))
        p++;
    cv->maj_end = p;
    for (int k = 0; k < 2; k++) {
        if (p + 1 < n && s[p] == '.' && is_seg(s[p + 1])) {
            p++;
            while (p < n && is_seg(s[p]))
                p++;
        }
        if (k == 0)
            cv->min_end = p;
        else
            cv->pat_end = p;
    }
    if (p + 1 < n && s[p] == '-' && is_ident(s[p + 1]))
        p = idents_end(s, n, p + 1);
    cv->pre_end = p;
    if (p + 1 < n && s[p] == '+' && is_ident(s[p + 1]))
        p = idents_end(s, n, p + 1);
    cv->end = p;
    return true;
}

/* Upstream's range expression (\s*CV\s+-\s+CV\s*) at exactly s[p]: on a match
 * sets the two versions and the end of the match (trailing blanks included). */
static bool range_at(const char *s, size_t n, size_t p, struct cv *a, struct cv *b, size_t *end)
{
    if (!scan_cv(s, n, skip_ws(s, n, p), a))
        return false;
    size_t w = skip_ws(s, n, a->end);
    if (w == a->end || w >= n || s[w] != '-')
        return false;
    size_t r = skip_ws(s, n, w + 1);
    if (r == w + 1 || !scan_cv(s, n, r, b))
        return false;
    *end = skip_ws(s, n, b->end);
    return true;
}

/* Appends s[0..n) to buf (capacity cap, current length *len); false if full. */
static bool put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
    if (n > cap - *len)
        return false;
    memcpy(buf + *len, s, n);
    *len += n;
    return true;
}

/* Replaces the first occurrence of match in out[0..*olen) with
 * ">= A, <= B " (what Go's strings.Replace(o, match, t, 1) does). */
static int replace_first(char *out, size_t *olen, size_t cap, const char *match, size_t mlen,
                         const char *a, size_t alen, const char *b, size_t blen)
{
    char t[TEXT_CAP];
    size_t tlen = 0;
    if (!put(t, sizeof t, &tlen, ">= ", 3) || !put(t, sizeof t, &tlen, a, alen) ||
        !put(t, sizeof t, &tlen, ", <= ", 5) || !put(t, sizeof t, &tlen, b, blen) ||
        !put(t, sizeof t, &tlen, " ", 1))
        return -1;
    char *at = memmem(out, *olen, match, mlen);
    if (!at || *olen - mlen + tlen > cap)
        return -1;
    size_t off = (size_t)(at - out);
    memmove(out + off + tlen, out + off + mlen, *olen - off - mlen);
    memcpy(out + off, t, tlen);
    *olen = *olen - mlen + tlen;
    out[*olen] = '\0';
    return 0;
}

/* Upstream's rewriteRange: every leftmost, non-overlapping "A - B" found in
 * s[0..n) becomes ">= A, <= B " in out (NUL-terminated). 0, or -1 on overflow. */
static int rewrite_ranges(const char *s, size_t n, char *out, size_t cap, size_t *olen)
{
    memcpy(out, s, n);
    out[n] = '\0';
    *olen = n;
    size_t pos = 0;
    while (pos < n) {
        struct cv a, b;
        size_t p = pos, end = 0;
        while (p < n && !range_at(s, n, p, &a, &b, &end))
            p++;
        if (p >= n)
            break;
        if (replace_first(out, olen, cap, s + p, end - p, s + a.start, a.end - a.start, s + b.start,
                          b.end - b.start) != 0)
            return -1;
        pos = end;
    }
    return 0;
}

/* The operator at s[i] (bounded by n): its kind, and its length, 0 for the
 * bare form, which means "=". Of the alternatives only one can be followed by
 * a version, so the choice depends on the next character alone. */
static size_t scan_op(const char *s, size_t n, size_t i, enum op *op)
{
    char c = i < n ? s[i] : '\0', d = i + 1 < n ? s[i + 1] : '\0';

    *op = OP_EQ;
    switch (c) {
    case '=':
        if (d == '>' || d == '<') {
            *op = d == '>' ? OP_GE : OP_LE;
            return 2;
        }
        return 1;
    case '!': *op = OP_NE; return d == '=' ? 2 : 0; /* a lone '!' then fails as a version */
    case '>': *op = d == '=' ? OP_GE : OP_GT; return d == '=' ? 2 : 1;
    case '<': *op = d == '=' ? OP_LE : OP_LT; return d == '=' ? 2 : 1;
    case '~': *op = OP_TILDE; return d == '>' ? 2 : 1;
    case '^': *op = OP_CARET; return 1;
    default: return 0;
    }
}

static bool is_x(const char *s, size_t n)
{
    return n == 1 && (*s == 'x' || *s == 'X' || *s == '*');
}

/* Builds a comparator from a version found in text (upstream's
 * parseConstraint): wildcard or missing parts become 0 and mark the term
 * dirty, then the result must parse as a version. 0, or -1 if it does not. */
static int make_term(const char *text, const struct cv *cv, enum op op, struct term *out)
{
    const char *maj = text + cv->seg, *min = text + cv->maj_end, *pat = text + cv->min_end;
    const char *pre = text + cv->pat_end;
    size_t maj_len = cv->maj_end - cv->seg, min_len = cv->min_end - cv->maj_end;
    size_t pat_len = cv->pat_end - cv->min_end, pre_len = cv->pre_end - cv->pat_end;
    char buf[MAX_VERSION_LEN + 1];
    size_t len = 0;
    const char *ver = buf;
    bool ok = true;

    memset(out, 0, sizeof *out);
    out->op = op;
    if (is_x(maj, maj_len)) {
        out->dirty = true;
        ok = put(buf, MAX_VERSION_LEN, &len, "0.0.0", 5);
    } else if (!min_len || is_x(min + 1, min_len - 1)) {
        out->dirty = out->minor_dirty = true;
        ok = put(buf, MAX_VERSION_LEN, &len, maj, maj_len) &&
             put(buf, MAX_VERSION_LEN, &len, ".0.0", 4);
    } else if (!pat_len || is_x(pat + 1, pat_len - 1)) {
        out->dirty = out->patch_dirty = true;
        ok = put(buf, MAX_VERSION_LEN, &len, maj, maj_len) &&
             put(buf, MAX_VERSION_LEN, &len, min, min_len) &&
             put(buf, MAX_VERSION_LEN, &len, ".0", 2);
    } else {
        ver = text + cv->start; /* the whole version, "v" and metadata included */
        len = cv->end - cv->start;
    }
    if (out->dirty)
        ok = ok && put(buf, MAX_VERSION_LEN, &len, pre, pre_len);
    struct loose l;
    if (!ok || parse_loose(ver, len, &l) != 0)
        return -1;
    out->con = l.v;
    /* The prerelease is the same text as "-pre" in the constraint; point there
     * rather than into buf. */
    out->con.pre = pre_len ? pre + 1 : NULL;
    out->con.pre_len = pre_len ? pre_len - 1 : 0;
    return 0;
}

/* Validates the OR group text[gs..ge) and appends its comparators to c
 * (upstream's validating expression plus its comparator search). 0, or -1
 * with a message. */
static int parse_group(struct hb_semver_constraint *c, size_t gs, size_t ge, char *err,
                       size_t errlen)
{
    const char *t = c->text;
    struct group *g = &c->groups[c->ngroups];
    size_t i = skip_ws(t, ge, gs);

    g->first = c->nterms;
    g->count = 0;
    g->has_pre = false;
    for (;;) {
        enum op op;
        struct cv cv;
        size_t j = skip_ws(t, ge, i + scan_op(t, ge, i, &op));
        if (!scan_cv(t, ge, j, &cv))
            goto improper;
        if (c->nterms >= HB_SEMVER_MAX_TERMS) {
            set_err(err, errlen, "too many comparators (max %d)", HB_SEMVER_MAX_TERMS);
            return -1;
        }
        struct term *tm = &c->terms[c->nterms];
        if (make_term(t, &cv, op, tm) != 0) {
            set_err(err, errlen, "constraint parser error: %.*s", (int)(cv.end - i), t + i);
            return -1;
        }
        if (tm->con.pre_len)
            g->has_pre = true;
        c->nterms++;
        g->count++;
        /* Comparators are separated by blanks, or by one comma with optional
         * blanks around it; blanks may end the group. */
        i = cv.end;
        size_t k = skip_ws(t, ge, i);
        if (k == ge)
            return 0;
        if (t[k] == ',')
            k = skip_ws(t, ge, k + 1);
        else if (k == i)
            goto improper;
        i = k;
    }
improper:
    set_err(err, errlen, "improper constraint: %.*s", (int)(ge - gs), t + gs);
    return -1;
}

/* Offset of the first "||" in s[from..n), or n. */
static size_t find_or(const char *s, size_t n, size_t from)
{
    for (size_t i = from; i + 1 < n; i++)
        if (s[i] == '|' && s[i + 1] == '|')
            return i;
    return n;
}

struct hb_semver_constraint *hb_semver_constraint_parse(const char *s, char *err, size_t errlen)
{
    struct hb_semver_constraint *c = NULL;
    size_t n, tlen, ngroups = 0;

    if (!s) {
        set_err(err, errlen, "no constraint");
        goto fail;
    }
    n = strnlen(s, HB_SEMVER_MAX_CONSTRAINT_LEN + 1);
    if (n > HB_SEMVER_MAX_CONSTRAINT_LEN) {
        set_err(err, errlen, "constraint string is too long (max %d bytes)",
                HB_SEMVER_MAX_CONSTRAINT_LEN);
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    if (rewrite_ranges(s, n, c->text, TEXT_CAP, &tlen) != 0) {
        set_err(err, errlen, "constraint too long after range rewriting");
        goto fail;
    }
    for (size_t at = 0;; at += 2) {
        ngroups++;
        at = find_or(c->text, tlen, at);
        if (at == tlen)
            break;
    }
    if (ngroups > HB_SEMVER_MAX_OR_GROUPS) {
        set_err(err, errlen, "too many constraint groups (max %d)", HB_SEMVER_MAX_OR_GROUPS);
        goto fail;
    }
    for (size_t gs = 0;;) {
        size_t ge = find_or(c->text, tlen, gs);
        if (parse_group(c, gs, ge, err, errlen) != 0)
            goto fail;
        c->ngroups++;
        if (ge == tlen)
            break;
        gs = ge + 2;
    }
    return c;
fail:
    free(c);
    return NULL;
}

void hb_semver_constraint_free(struct hb_semver_constraint *c)
{
    free(c);
}

/* "~" (and a dirty "="): at least con, same major, and same minor unless the
 * minor was a wildcard; "~0.0.0" (no wildcard) admits everything. */
static bool check_tilde(const struct term *tm, const struct ver *v)
{
    const struct ver *c = &tm->con;
    if (compare_ver(v, c) < 0)
        return false;
    if (!c->major && !c->minor && !c->patch && !tm->minor_dirty && !tm->patch_dirty)
        return true;
    if (v->major != c->major)
        return false;
    return v->minor == c->minor || tm->minor_dirty;
}

/* "^": at least con and below the next change of its first non-zero part
 * (^1.2.3 < 2, ^0.2.3 < 0.3, ^0.0.3 = 0.0.3; ^0 < 1, ^0.0 < 0.1). */
static bool check_caret(const struct term *tm, const struct ver *v)
{
    const struct ver *c = &tm->con;
    if (compare_ver(v, c) < 0)
        return false;
    if (c->major > 0 || tm->minor_dirty)
        return v->major == c->major;
    if (v->major > 0)
        return false;
    if (c->minor > 0 || tm->patch_dirty)
        return v->minor == c->minor;
    if (v->minor > 0)
        return false;
    return v->patch == c->patch;
}

/* "!=": with wildcards, unequal in some part that was given; "!= 1.2.x" also
 * admits 1.2.z with a prerelease other than con's. */
static bool check_not_equal(const struct term *tm, const struct ver *v)
{
    const struct ver *c = &tm->con;
    if (tm->dirty) {
        if (c->major != v->major)
            return true;
        if (c->minor != v->minor && !tm->minor_dirty)
            return true;
        if (tm->minor_dirty)
            return false;
        if (c->patch != v->patch && !tm->patch_dirty)
            return true;
        if (tm->patch_dirty)
            return (v->pre_len || c->pre_len) &&
                   compare_pre(v->pre, v->pre_len, c->pre, c->pre_len) != 0;
    }
    return compare_ver(v, c) != 0;
}

/* ">": with wildcards, beyond the whole wildcard range (>1.x means >= 2). */
static bool check_greater(const struct term *tm, const struct ver *v)
{
    const struct ver *c = &tm->con;
    if (!tm->dirty)
        return compare_ver(v, c) > 0;
    if (v->major != c->major)
        return v->major > c->major;
    if (tm->minor_dirty)
        return false;
    if (tm->patch_dirty)
        return v->minor > c->minor;
    return compare_ver(v, c) > 0;
}

/* "<=": with wildcards, anywhere up to the end of the range (<= 2.x means < 3). */
static bool check_less_equal(const struct term *tm, const struct ver *v)
{
    const struct ver *c = &tm->con;
    if (!tm->dirty)
        return compare_ver(v, c) <= 0;
    if (v->major > c->major)
        return false;
    return !(v->major == c->major && v->minor > c->minor && !tm->minor_dirty);
}

/* One comparator. A prerelease version fails unless its group allows them. */
static bool check_term(const struct term *tm, const struct ver *v, bool include_pre)
{
    if (v->pre_len && !include_pre)
        return false;
    switch (tm->op) {
    case OP_EQ: return tm->dirty ? check_tilde(tm, v) : compare_ver(v, &tm->con) == 0;
    case OP_NE: return check_not_equal(tm, v);
    case OP_GT: return check_greater(tm, v);
    case OP_LT: return compare_ver(v, &tm->con) < 0;
    case OP_GE: return compare_ver(v, &tm->con) >= 0;
    case OP_LE: return check_less_equal(tm, v);
    case OP_TILDE: return check_tilde(tm, v);
    case OP_CARET: return check_caret(tm, v);
    }
    return false;
}

bool hb_semver_satisfies(const struct hb_semver_constraint *c, const struct hb_semver *v)
{
    if (!c || !v)
        return false;
    struct ver vv = view(v);
    for (size_t g = 0; g < c->ngroups; g++) {
        const struct group *grp = &c->groups[g];
        bool ok = true;
        for (size_t i = grp->first; ok && i < grp->first + grp->count; i++)
            ok = check_term(&c->terms[i], &vv, grp->has_pre);
        if (ok)
            return true;
    }
    return false;
}
