/* cesql.c: the CloudEvents SQL Expression Language (CESQL v1.0).
 *
 * A bounded recursive-descent parser builds an immutable tree; the evaluator
 * walks it with a per-call context, so one parsed expression serves many
 * threads. Precedence follows the CESQL reference grammar (highest first):
 * unary NOT and -, LIKE / IN, * / %, + -, comparisons, AND / OR / XOR; equal
 * precedence groups left to right ("operators MUST be evaluated in left to
 * right order", section 3.6).
 *
 * Errors use the specification's fail-fast mode: the first error stops the
 * evaluation, and every enclosing operator or function yields the zero value
 * of its return type (false, 0, ""), while a function that raises an error
 * itself still returns its defined value (ABS, LEFT, RIGHT). Tree height is
 * capped, so evaluation and freeing recurse at most HB_CESQL_MAX_DEPTH deep. */
#include "hookbus/cesql.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ------------------------------------------------------------ */

enum tok_kind {
    T_EOF,
    T_ERROR,
    T_INT,
    T_STR,
    T_NAME,
    T_AND,
    T_OR,
    T_XOR,
    T_NOT,
    T_LIKE,
    T_IN,
    T_EXISTS,
    T_TRUE,
    T_FALSE,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_PERCENT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
};

struct token {
    enum tok_kind kind;
    size_t pos, len;     /* the token's bytes in the source */
    uint32_t mag;        /* T_INT: magnitude, saturated at 2^31 + 1 */
    bool has_digit;      /* T_NAME: contains a digit */
    bool has_underscore; /* T_NAME: contains '_' */
    const char *msg;     /* T_ERROR: what is wrong */
};

static const struct {
    const char *word;
    enum tok_kind kind;
} keywords[] = {
    {"AND", T_AND}, {"OR", T_OR},         {"XOR", T_XOR},   {"NOT", T_NOT},     {"LIKE", T_LIKE},
    {"IN", T_IN},   {"EXISTS", T_EXISTS}, {"TRUE", T_TRUE}, {"FALSE", T_FALSE},
};

/* ---- tree -------------------------------------------------------------- */

enum node_kind {
    N_LIT,    /* literal: lit */
    N_IDENT,  /* attribute: text (lowercase) */
    N_EXISTS, /* EXISTS text */
    N_NOT,    /* NOT kids[0] */
    N_NEG,    /* -kids[0] */
    N_BINARY, /* kids[0] op kids[1]: arithmetic and comparison */
    N_LOGIC,  /* kids[0] op kids[1] op ... with one of AND / OR / XOR */
    N_LIKE,   /* kids[0] [NOT] LIKE pat */
    N_IN,     /* kids[0] [NOT] IN (kids[1..]) */
    N_CALL,   /* fn(kids...) */
    N_NOFUNC, /* a function that does not exist: missingFunction at eval */
};

enum op {
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_AND,
    OP_OR,
    OP_XOR,
};

enum fn_id {
    F_ABS,
    F_LENGTH,
    F_CONCAT,
    F_CONCAT_WS,
    F_LOWER,
    F_UPPER,
    F_TRIM,
    F_LEFT,
    F_RIGHT,
    F_SUBSTRING,
    F_INT,
    F_BOOL,
    F_STRING,
    F_IS_BOOL,
    F_IS_INT,
};

enum arg_type { A_BOOL, A_INT, A_STR, A_ANY };

struct func_def {
    const char *name;
    enum fn_id id;
    unsigned nfixed;
    bool variadic;
    enum arg_type args[3];
    enum arg_type vararg;
    enum hb_cesql_type ret;
};

/* The built-in functions of CESQL v1 section 3.5 (name, fixed arity, variadic). */
static const struct func_def functions[] = {
    {"ABS", F_ABS, 1, false, {A_INT}, A_ANY, HB_CESQL_INTEGER},
    {"LENGTH", F_LENGTH, 1, false, {A_STR}, A_ANY, HB_CESQL_INTEGER},
    {"CONCAT", F_CONCAT, 0, true, {A_STR}, A_STR, HB_CESQL_STRING},
    {"CONCAT_WS", F_CONCAT_WS, 1, true, {A_STR}, A_STR, HB_CESQL_STRING},
    {"LOWER", F_LOWER, 1, false, {A_STR}, A_ANY, HB_CESQL_STRING},
    {"UPPER", F_UPPER, 1, false, {A_STR}, A_ANY, HB_CESQL_STRING},
    {"TRIM", F_TRIM, 1, false, {A_STR}, A_ANY, HB_CESQL_STRING},
    {"LEFT", F_LEFT, 2, false, {A_STR, A_INT}, A_ANY, HB_CESQL_STRING},
    {"RIGHT", F_RIGHT, 2, false, {A_STR, A_INT}, A_ANY, HB_CESQL_STRING},
    {"SUBSTRING", F_SUBSTRING, 2, false, {A_STR, A_INT}, A_ANY, HB_CESQL_STRING},
    {"SUBSTRING", F_SUBSTRING, 3, false, {A_STR, A_INT, A_INT}, A_ANY, HB_CESQL_STRING},
    {"INT", F_INT, 1, false, {A_ANY}, A_ANY, HB_CESQL_INTEGER},
    {"BOOL", F_BOOL, 1, false, {A_ANY}, A_ANY, HB_CESQL_BOOLEAN},
    {"STRING", F_STRING, 1, false, {A_ANY}, A_ANY, HB_CESQL_STRING},
    {"IS_BOOL", F_IS_BOOL, 1, false, {A_ANY}, A_ANY, HB_CESQL_BOOLEAN},
    {"IS_INT", F_IS_INT, 1, false, {A_ANY}, A_ANY, HB_CESQL_BOOLEAN},
};

enum pat_kind { P_CHAR, P_ONE, P_ANY };

struct pat_elem {
    enum pat_kind kind;
    uint32_t cp;
};

struct node {
    enum node_kind kind;
    enum op op;
    bool negated; /* NOT LIKE, NOT IN */
    int height;
    size_t pos; /* source offset, for messages */
    struct hb_cesql_value lit;
    char *text; /* string literal, attribute name or function name (owned) */
    const struct func_def *fn;
    struct pat_elem *pat;
    size_t npat;
    struct node **kids;
    size_t nkids, capkids;
};

struct hb_cesql_expr {
    struct node *root;
    char *source;
};

/* ---- small helpers ------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of the n bytes at s with the NUL-terminated word. */
static bool word_eq(const char *s, size_t n, const char *word)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (word[i] == '\0' || ascii_upper(s[i]) != word[i])
            return false;
    return word[i] == '\0';
}

/* Decodes the code point at s (NUL-terminated) and stores its byte length in
 * *len. Invalid bytes decode one at a time as 0xDC00 + byte, a value valid
 * UTF-8 never produces, so they compare equal only to themselves. */
static uint32_t utf8_decode(const char *str, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    uint32_t cp, min;
    size_t n;

    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2, cp = s[0] & 0x1F, min = 0x80;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3, cp = s[0] & 0x0F, min = 0x800;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        goto invalid;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto invalid;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        goto invalid;
    *len = n;
    return cp;
invalid:
    *len = 1;
    return 0xDC00 + s[0];
}

/* Encodes cp into out (4 bytes room); returns the byte count. The 0xDC80..
 * 0xDCFF values utf8_decode() uses for invalid bytes become that byte again. */
static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        out[0] = (char)(cp - 0xDC00);
        return 1;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Number of characters (code points) in s. */
static size_t utf8_length(const char *s)
{
    size_t n = 0, len;

    while (*s) {
        utf8_decode(s, &len);
        s += len;
        n++;
    }
    return n;
}

/* Byte offset of the character with index idx (0-based) in s; the string's
 * length when s has fewer characters. */
static size_t utf8_offset(const char *s, size_t idx)
{
    size_t off = 0, len;

    while (idx > 0 && s[off]) {
        utf8_decode(s + off, &len);
        off += len;
        idx--;
    }
    return off;
}

/* Simple lowercase mapping: ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic. Other scripts are returned unchanged. */
static uint32_t cp_lower(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c == 0x130)
        return 'i';
    if (c == 0x178)
        return 0xFF;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c % 2 == 0) ? c + 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x386)
        return 0x3AC;
    if (c >= 0x388 && c <= 0x38A)
        return c + 37;
    if (c == 0x38C)
        return 0x3CC;
    if (c == 0x38E || c == 0x38F)
        return c + 63;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    return c;
}

/* Simple uppercase mapping, the inverse of cp_lower() plus a few one-way cases. */
static uint32_t cp_upper(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
        return c - 32;
    if (c == 0xFF)
        return 0x178;
    if (c == 0xB5)
        return 0x39C;
    if (c == 0x131)
        return 'I';
    if (c == 0x17F)
        return 'S';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c % 2 == 1) ? c - 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c % 2 == 0) ? c - 1 : c;
    if (c == 0x3AC)
        return 0x386;
    if (c >= 0x3AD && c <= 0x3AF)
        return c - 37;
    if (c == 0x3CC)
        return 0x38C;
    if (c == 0x3CD || c == 0x3CE)
        return c - 63;
    if (c == 0x3C2)
        return 0x3A3;
    if (c >= 0x3B1 && c <= 0x3CB)
        return c - 32;
    if (c >= 0x430 && c <= 0x44F)
        return c - 32;
    if (c >= 0x450 && c <= 0x45F)
        return c - 80;
    return c;
}

/* Strict String -> Integer cast: optional sign, decimal digits (leading zeros
 * allowed), no spaces, within 32 bits. 0 or -1. */
static int parse_int32(const char *s, int32_t *out)
{
    bool neg = false;
    int64_t v = 0;

    if (*s == '+' || *s == '-')
        neg = (*s++ == '-');
    if (!is_digit(*s))
        return -1;
    for (; is_digit(*s); s++) {
        v = v * 10 + (*s - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return -1;
    }
    if (*s != '\0')
        return -1;
    if (neg)
        v = -v;
    if (v > INT32_MAX || v < INT32_MIN)
        return -1;
    *out = (int32_t)v;
    return 0;
}

/* String -> Boolean: "true" or "false" in any case. 0 or -1. */
static int parse_bool(const char *s, bool *out)
{
    if (word_eq(s, strlen(s), "TRUE")) {
        *out = true;
        return 0;
    }
    if (word_eq(s, strlen(s), "FALSE")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* ---- lexer -------------------------------------------------------------- */

struct parser {
    const char *src;
    size_t len;
    size_t pos;       /* offset just after tok */
    struct token tok; /* current token */
    int depth;        /* recursion depth of the parser itself */
    bool failed;
    size_t err_pos;
    char *err;
    size_t errlen;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reads the token starting at or after offset pos into *t; returns the
 * offset after it. Never fails: problems become a T_ERROR token. */
static size_t lex_at(const struct parser *p, size_t pos, struct token *t)
{
    const char *s = p->src;
    size_t i;

    while (pos < p->len && is_space(s[pos]))
        pos++;
    memset(t, 0, sizeof(*t));
    t->pos = pos;
    t->len = 1;
    if (pos >= p->len) {
        t->kind = T_EOF;
        t->len = 0;
        return pos;
    }
    char c = s[pos];
    if (c == '\'' || c == '"') {
        for (i = pos + 1; i < p->len; i++) {
            if (s[i] == '\\' && i + 1 < p->len) {
                i++;
            } else if (s[i] == c) {
                if (i + 1 < p->len && s[i + 1] == c) {
                    i++;
                    continue;
                }
                t->kind = T_STR;
                t->len = i + 1 - pos;
                return i + 1;
            }
        }
        t->kind = T_ERROR;
        t->msg = "unterminated string literal";
        return p->len;
    }
    if (is_alpha(c) || is_digit(c) || c == '_') {
        bool letters = false;
        for (i = pos; i < p->len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_'); i++) {
            if (is_digit(s[i]))
                t->has_digit = true;
            else if (s[i] == '_')
                t->has_underscore = true;
            else
                letters = true;
        }
        t->len = i - pos;
        if (!letters && !t->has_underscore) {
            t->kind = T_INT;
            for (size_t k = pos; k < i; k++) {
                uint64_t v = (uint64_t)t->mag * 10 + (uint64_t)(s[k] - '0');
                if (v > (uint64_t)INT32_MAX + 1) {
                    t->mag = (uint32_t)INT32_MAX + 2; /* too large for any literal */
                    break;
                }
                t->mag = (uint32_t)v;
            }
            return i;
        }
        t->kind = T_NAME;
        if (!t->has_digit && !t->has_underscore)
            for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
                if (word_eq(s + pos, t->len, keywords[k].word))
                    t->kind = keywords[k].kind;
        return i;
    }
    char n = pos + 1 < p->len ? s[pos + 1] : '\0';
    switch (c) {
    case '(': t->kind = T_LPAREN; break;
    case ')': t->kind = T_RPAREN; break;
    case ',': t->kind = T_COMMA; break;
    case '+': t->kind = T_PLUS; break;
    case '-': t->kind = T_MINUS; break;
    case '*': t->kind = T_STAR; break;
    case '/': t->kind = T_SLASH; break;
    case '%': t->kind = T_PERCENT; break;
    case '=': t->kind = T_EQ; break;
    case '!':
        if (n != '=') {
            t->kind = T_ERROR;
            t->msg = "'!' must be followed by '='";
            break;
        }
        t->kind = T_NE;
        t->len = 2;
        break;
    case '<':
        t->kind = n == '=' ? T_LE : n == '>' ? T_NE : T_LT;
        t->len = (n == '=' || n == '>') ? 2 : 1;
        break;
    case '>':
        t->kind = n == '=' ? T_GE : T_GT;
        t->len = n == '=' ? 2 : 1;
        break;
    default:
        t->kind = T_ERROR;
        t->msg = "unexpected character";
        break;
    }
    return pos + t->len;
}

static void advance(struct parser *p)
{
    p->pos = lex_at(p, p->pos, &p->tok);
}

/* The token after the current one, without consuming anything. */
static struct token peek(const struct parser *p)
{
    struct token t;

    lex_at(p, p->pos, &t);
    return t;
}

/* Records the first parse error, at byte offset pos. */
__attribute__((format(printf, 3, 4))) static void fail_at(struct parser *p, size_t pos,
                                                          const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    if (p->failed)
        return;
    p->failed = true;
    p->err_pos = pos;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->err && p->errlen > 0)
        snprintf(p->err, p->errlen, "parse error at column %zu: %s", pos + 1, msg);
}

/* Reports the current token as unexpected (or the lexer's own complaint). */
static void fail_token(struct parser *p, const char *expected)
{
    const struct token *t = &p->tok;

    if (t->kind == T_ERROR)
        fail_at(p, t->pos, "%s", t->msg);
    else if (t->kind == T_EOF)
        fail_at(p, t->pos, "unexpected end of expression, expected %s", expected);
    else
        fail_at(p, t->pos, "unexpected '%.*s', expected %s", (int)(t->len > 24 ? 24 : t->len),
                p->src + t->pos, expected);
}

/* ---- tree building ------------------------------------------------------ */

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n->pat);
    free(n);
}

static struct node *node_new(struct parser *p, enum node_kind kind, size_t pos)
{
    struct node *n = calloc(1, sizeof(*n));

    if (!n) {
        fail_at(p, pos, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->pos = pos;
    n->height = 1;
    return n;
}

/* Appends kid to n (taking ownership of kid even on failure) and keeps the
 * height current. Returns 0, or -1 when the tree gets too deep or on ENOMEM. */
static int node_add(struct parser *p, struct node *n, struct node *kid)
{
    if (n->nkids == n->capkids) {
        size_t cap = n->capkids ? n->capkids * 2 : 2;
        struct node **k = realloc(n->kids, cap * sizeof(*k));
        if (!k) {
            node_free(kid);
            fail_at(p, n->pos, "out of memory");
            return -1;
        }
        n->kids = k;
        n->capkids = cap;
    }
    n->kids[n->nkids++] = kid;
    if (kid->height + 1 > n->height)
        n->height = kid->height + 1;
    if (n->height > HB_CESQL_MAX_DEPTH) {
        fail_at(p, n->pos, "expression nested deeper than %d levels", HB_CESQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

/* Builds a node of the given kind over one or two operands (ownership taken). */
static struct node *node_with(struct parser *p, enum node_kind kind, enum op op, size_t pos,
                              struct node *a, struct node *b)
{
    struct node *n = node_new(p, kind, pos);

    if (!n)
        goto fail;
    n->op = op;
    if (node_add(p, n, a) < 0) {
        a = NULL;
        goto fail;
    }
    a = NULL;
    if (b && node_add(p, n, b) < 0) {
        b = NULL;
        goto fail;
    }
    return n;
fail:
    node_free(a);
    node_free(b);
    node_free(n);
    return NULL;
}

/* Decodes the string literal token t: the delimiting quotes go, and an escaped
 * or doubled delimiter becomes the delimiter. Any other backslash stays, so
 * that LIKE sees its own \% and \_ escapes (section 2.2 only defines \' and \"). */
static char *decode_string(struct parser *p, const struct token *t)
{
    const char *s = p->src + t->pos;
    char q = s[0];
    size_t n = t->len - 2, o = 0;
    char *out = malloc(n + 1);

    if (!out) {
        fail_at(p, t->pos, "out of memory");
        return NULL;
    }
    for (size_t i = 1; i <= n; i++) {
        if ((s[i] == '\\' || s[i] == q) && i + 1 <= n && s[i + 1] == q) {
            out[o++] = q;
            i++;
        } else if (s[i] == '\\' && i + 1 <= n) {
            out[o++] = s[i++];
            out[o++] = s[i];
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Compiles a LIKE pattern: % any run, _ one character, \% \_ \\ literal. A
 * backslash before anything else is a literal backslash. */
static int compile_like(struct parser *p, struct node *n, const char *pat)
{
    size_t cap = utf8_length(pat) + 1, len;

    n->pat = calloc(cap, sizeof(*n->pat));
    if (!n->pat) {
        fail_at(p, n->pos, "out of memory");
        return -1;
    }
    while (*pat) {
        struct pat_elem e = {P_CHAR, 0};
        if (*pat == '%') {
            e.kind = P_ANY;
            pat++;
            if (n->npat > 0 && n->pat[n->npat - 1].kind == P_ANY)
                continue;
        } else if (*pat == '_') {
            e.kind = P_ONE;
            pat++;
        } else if (*pat == '\\' && (pat[1] == '%' || pat[1] == '_' || pat[1] == '\\')) {
            e.cp = (unsigned char)pat[1];
            pat += 2;
        } else {
            e.cp = utf8_decode(pat, &len);
            pat += len;
        }
        n->pat[n->npat++] = e;
    }
    return 0;
}

/* The built-in function with this (uppercase) name and arity, or NULL. */
static const struct func_def *find_function(const char *name, size_t nargs)
{
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        const struct func_def *f = &functions[i];
        if (strcmp(f->name, name) != 0)
            continue;
        if (nargs == f->nfixed || (f->variadic && nargs > f->nfixed))
            return f;
    }
    return NULL;
}

static struct node *parse_expr(struct parser *p);
static struct node *parse_unary(struct parser *p);

/* Enters one level of parser recursion; -1 when that is too deep. */
static int enter(struct parser *p)
{
    if (++p->depth > HB_CESQL_MAX_DEPTH) {
        fail_at(p, p->tok.pos, "expression nested deeper than %d levels", HB_CESQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

/* Parses "( expr, ... )" into n's children; empty lists only if allow_empty. */
static int parse_list(struct parser *p, struct node *n, bool allow_empty)
{
    if (p->tok.kind != T_LPAREN) {
        fail_token(p, "'('");
        return -1;
    }
    advance(p);
    if (p->tok.kind == T_RPAREN && allow_empty) {
        advance(p);
        return 0;
    }
    for (;;) {
        struct node *e = parse_expr(p);
        if (!e || node_add(p, n, e) < 0)
            return -1;
        if (p->tok.kind == T_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.kind != T_RPAREN) {
            fail_token(p, "',' or ')'");
            return -1;
        }
        advance(p);
        return 0;
    }
}

/* A function invocation; the current token is its name. Unknown names and
 * arities parse fine and fail with missingFunction when evaluated. */
static struct node *parse_call(struct parser *p)
{
    struct token name = p->tok;
    struct node *n = NULL;

    if (name.has_digit || !is_alpha(p->src[name.pos])) {
        fail_at(p, name.pos, "invalid function name '%.*s'", (int)name.len, p->src + name.pos);
        goto fail;
    }
    n = node_new(p, N_CALL, name.pos);
    if (!n)
        goto fail;
    n->text = malloc(name.len + 1);
    if (!n->text) {
        fail_at(p, name.pos, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < name.len; i++)
        n->text[i] = ascii_upper(p->src[name.pos + i]);
    n->text[name.len] = '\0';
    advance(p);
    if (parse_list(p, n, true) < 0)
        goto fail;
    n->fn = find_function(n->text, n->nkids);
    if (!n->fn)
        n->kind = N_NOFUNC;
    return n;
fail:
    node_free(n);
    return NULL;
}

/* Copies the identifier token into a lowercase string; NULL (after
 * reporting) when it is not a valid attribute name. */
static char *ident_name(struct parser *p, const struct token *t)
{
    char *s;

    if (t->kind != T_NAME || t->has_underscore) {
        if (t->kind == T_NAME)
            fail_at(p, t->pos, "invalid attribute name '%.*s'", (int)t->len, p->src + t->pos);
        else
            fail_token(p, "an attribute name");
        return NULL;
    }
    s = malloc(t->len + 1);
    if (!s) {
        fail_at(p, t->pos, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < t->len; i++)
        s[i] = ascii_lower(p->src[t->pos + i]);
    s[t->len] = '\0';
    return s;
}

/* An integer literal with the given sign; the magnitude may be 2^31 only
 * when negative. */
static struct node *int_literal(struct parser *p, const struct token *t, bool negative, size_t pos)
{
    struct node *n;
    uint32_t max = negative ? (uint32_t)INT32_MAX + 1 : (uint32_t)INT32_MAX;

    if (t->mag > max) {
        fail_at(p, t->pos, "integer literal out of the 32-bit range");
        return NULL;
    }
    n = node_new(p, N_LIT, pos);
    if (!n)
        return NULL;
    n->lit.type = HB_CESQL_INTEGER;
    n->lit.i = negative ? (int32_t)(-(int64_t)t->mag) : (int32_t)t->mag;
    return n;
}

/* primary: literal | attribute | function call | EXISTS name | ( expr ) */
static struct node *parse_primary(struct parser *p)
{
    struct token t = p->tok;
    struct node *n = NULL;

    switch (t.kind) {
    case T_INT:
        n = int_literal(p, &t, false, t.pos);
        if (n)
            advance(p);
        return n;
    case T_STR:
        n = node_new(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->text = decode_string(p, &t);
        if (!n->text)
            goto fail;
        n->lit.type = HB_CESQL_STRING;
        n->lit.s = n->text;
        advance(p);
        return n;
    case T_TRUE:
    case T_FALSE:
        n = node_new(p, N_LIT, t.pos);
        if (!n)
            return NULL;
        n->lit.type = HB_CESQL_BOOLEAN;
        n->lit.b = t.kind == T_TRUE;
        advance(p);
        return n;
    case T_EXISTS:
        advance(p);
        n = node_new(p, N_EXISTS, t.pos);
        if (!n)
            return NULL;
        n->text = ident_name(p, &p->tok);
        if (!n->text)
            goto fail;
        advance(p);
        return n;
    case T_NAME:
        if (peek(p).kind == T_LPAREN)
            return parse_call(p);
        n = node_new(p, N_IDENT, t.pos);
        if (!n)
            return NULL;
        n->text = ident_name(p, &t);
        if (!n->text)
            goto fail;
        advance(p);
        return n;
    case T_LPAREN:
        advance(p);
        n = parse_expr(p);
        if (!n)
            return NULL;
        if (p->tok.kind != T_RPAREN) {
            fail_token(p, "')'");
            goto fail;
        }
        advance(p);
        return n;
    default: fail_token(p, "a value"); return NULL;
    }
fail:
    node_free(n);
    return NULL;
}

/* unary: NOT unary | - unary | + integer | primary. A minus directly before
 * an integer literal is part of the literal, so -2147483648 is valid. */
static struct node *parse_unary(struct parser *p)
{
    struct token t = p->tok;
    struct node *operand, *n = NULL;

    if (t.kind == T_PLUS) {
        advance(p);
        if (p->tok.kind != T_INT) {
            fail_token(p, "an integer after '+'");
            return NULL;
        }
        n = int_literal(p, &p->tok, false, t.pos);
        if (n)
            advance(p);
        return n;
    }
    if (t.kind == T_MINUS && peek(p).kind == T_INT) {
        advance(p);
        n = int_literal(p, &p->tok, true, t.pos);
        if (n)
            advance(p);
        return n;
    }
    if (t.kind != T_NOT && t.kind != T_MINUS)
        return parse_primary(p);
    if (enter(p) < 0)
        return NULL;
    advance(p);
    operand = parse_unary(p);
    p->depth--;
    if (!operand)
        return NULL;
    return node_with(p, t.kind == T_NOT ? N_NOT : N_NEG, OP_ADD, t.pos, operand, NULL);
}

/* postfix: unary ( [NOT] LIKE 'pattern' | [NOT] IN ( expr, ... ) )* */
static struct node *parse_postfix(struct parser *p)
{
    struct node *left = parse_unary(p), *n = NULL;

    while (left) {
        struct token t = p->tok;
        bool negated = false;
        if (t.kind == T_NOT) {
            enum tok_kind k = peek(p).kind;
            if (k != T_LIKE && k != T_IN)
                break;
            advance(p);
            negated = true;
        } else if (t.kind != T_LIKE && t.kind != T_IN) {
            break;
        }
        enum tok_kind k = p->tok.kind;
        advance(p);
        n = node_with(p, k == T_LIKE ? N_LIKE : N_IN, OP_EQ, t.pos, left, NULL);
        left = NULL;
        if (!n)
            goto fail;
        n->negated = negated;
        if (k == T_LIKE) {
            if (p->tok.kind != T_STR) {
                fail_at(p, p->tok.pos, "the LIKE pattern must be a string literal");
                goto fail;
            }
            n->text = decode_string(p, &p->tok);
            if (!n->text || compile_like(p, n, n->text) < 0)
                goto fail;
            advance(p);
        } else if (enter(p) < 0 || parse_list(p, n, false) < 0) {
            goto fail;
        } else {
            p->depth--;
        }
        left = n;
        n = NULL;
    }
    return left;
fail:
    node_free(n);
    node_free(left);
    return NULL;
}

/* Maps a binary operator token of the given precedence level to its op. */
static bool binary_op(enum tok_kind k, int level, enum op *op)
{
    static const struct {
        enum tok_kind tok;
        int level;
        enum op op;
    } ops[] = {
        {T_STAR, 0, OP_MUL},  {T_SLASH, 0, OP_DIV}, {T_PERCENT, 0, OP_MOD}, {T_PLUS, 1, OP_ADD},
        {T_MINUS, 1, OP_SUB}, {T_EQ, 2, OP_EQ},     {T_NE, 2, OP_NE},       {T_LT, 2, OP_LT},
        {T_LE, 2, OP_LE},     {T_GT, 2, OP_GT},     {T_GE, 2, OP_GE},       {T_AND, 3, OP_AND},
        {T_OR, 3, OP_OR},     {T_XOR, 3, OP_XOR},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (ops[i].tok == k && ops[i].level == level) {
            *op = ops[i].op;
            return true;
        }
    return false;
}

static struct node *parse_level(struct parser *p, int level);

/* An operand of a binary level: the next higher level (postfix for 0). */
static struct node *parse_operand(struct parser *p, int level)
{
    return level == 0 ? parse_postfix(p) : parse_level(p, level - 1);
}

/* One left-associative binary level (0: * / %, 1: + -, 2: comparisons,
 * 3: AND OR XOR). A run of one logic operator becomes a single n-ary node,
 * so long "a OR b OR ..." chains stay shallow. */
static struct node *parse_level(struct parser *p, int level)
{
    struct node *left = parse_operand(p, level), *right = NULL, *chain = NULL;
    enum op op;

    while (left && binary_op(p->tok.kind, level, &op)) {
        size_t pos = p->tok.pos;
        advance(p);
        right = parse_operand(p, level);
        if (!right)
            goto fail;
        if (level == 3 && left == chain && chain->op == op) {
            int rc = node_add(p, chain, right);
            right = NULL;
            if (rc < 0)
                goto fail;
            continue;
        }
        left = node_with(p, level == 3 ? N_LOGIC : N_BINARY, op, pos, left, right);
        right = NULL;
        chain = left;
    }
    return left;
fail:
    node_free(right);
    node_free(left);
    return NULL;
}

/* expression: the lowest precedence level; counts parser recursion. */
static struct node *parse_expr(struct parser *p)
{
    struct node *n;

    if (enter(p) < 0)
        return NULL;
    n = parse_level(p, 3);
    p->depth--;
    return n;
}

struct hb_cesql_expr *hb_cesql_parse(const char *src, char *err, size_t errlen, size_t *err_pos)
{
    struct parser p = {.err = err, .errlen = errlen};
    struct hb_cesql_expr *e = NULL;
    struct node *root = NULL;

    if (err && errlen > 0)
        err[0] = '\0';
    if (!src) {
        p.src = "";
        fail_at(&p, 0, "no expression");
        goto fail;
    }
    p.src = src;
    p.len = strnlen(src, HB_CESQL_MAX_SOURCE + 1);
    if (p.len > HB_CESQL_MAX_SOURCE) {
        fail_at(&p, HB_CESQL_MAX_SOURCE, "expression longer than %d bytes", HB_CESQL_MAX_SOURCE);
        goto fail;
    }
    advance(&p);
    root = parse_expr(&p);
    if (!root)
        goto fail;
    if (p.tok.kind != T_EOF) {
        fail_token(&p, "an operator or the end of the expression");
        goto fail;
    }
    e = calloc(1, sizeof(*e));
    if (!e || !(e->source = strdup(src))) {
        fail_at(&p, 0, "out of memory");
        goto fail;
    }
    e->root = root;
    return e;
fail:
    if (!p.failed)
        fail_at(&p, p.tok.pos, "invalid expression");
    if (err_pos)
        *err_pos = p.err_pos;
    if (e)
        free(e->source);
    free(e);
    node_free(root);
    return NULL;
}

void hb_cesql_free(struct hb_cesql_expr *e)
{
    if (!e)
        return;
    node_free(e->root);
    free(e->source);
    free(e);
}

const char *hb_cesql_source(const struct hb_cesql_expr *e)
{
    return e ? e->source : NULL;
}

const char *hb_cesql_error_kind(enum hb_cesql_error e)
{
    switch (e) {
    case HB_CESQL_OK: return "ok";
    case HB_CESQL_ERR_PARSE: return "parse";
    case HB_CESQL_ERR_MATH: return "math";
    case HB_CESQL_ERR_CAST: return "cast";
    case HB_CESQL_ERR_MISSING_FUNCTION: return "missingFunction";
    case HB_CESQL_ERR_FUNCTION_EVALUATION: return "functionEvaluation";
    case HB_CESQL_ERR_MISSING_ATTRIBUTE: return "missingAttribute";
    case HB_CESQL_ERR_GENERIC: break;
    }
    return "generic";
}

/* ---- evaluation --------------------------------------------------------- */

struct arena_block {
    struct arena_block *next;
    char data[];
};

struct eval_ctx {
    hb_cesql_lookup_fn lookup;
    void *ctx;
    struct arena_block *blocks;
    size_t used;
    char *err;
    size_t errlen;
};

/* Scratch memory for intermediate values, freed when the evaluation ends.
 * NULL once HB_CESQL_MAX_EVAL_MEMORY would be exceeded or on ENOMEM. */
static void *arena_alloc(struct eval_ctx *c, size_t n)
{
    struct arena_block *b;

    if (n > HB_CESQL_MAX_EVAL_MEMORY || c->used + n > HB_CESQL_MAX_EVAL_MEMORY)
        return NULL;
    b = malloc(sizeof(*b) + n);
    if (!b)
        return NULL;
    b->next = c->blocks;
    c->blocks = b;
    c->used += n;
    return b->data;
}

static void arena_free(struct eval_ctx *c)
{
    while (c->blocks) {
        struct arena_block *b = c->blocks;
        c->blocks = b->next;
        free(b);
    }
}

/* Records an evaluation error raised by node n and returns its kind. Only the
 * first error is kept: fail-fast evaluation stops right after it. */
__attribute__((format(printf, 4, 5))) static enum hb_cesql_error
eval_fail(struct eval_ctx *c, enum hb_cesql_error kind, const struct node *n, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->err && c->errlen > 0 && c->err[0] == '\0')
        snprintf(c->err, c->errlen, "%s (column %zu)", msg, n->pos + 1);
    return kind;
}

static void set_zero(struct hb_cesql_value *v, enum hb_cesql_type t)
{
    memset(v, 0, sizeof(*v));
    v->type = t;
    if (t == HB_CESQL_STRING)
        v->s = "";
}

static enum hb_cesql_error no_memory(struct eval_ctx *c, const struct node *n)
{
    return eval_fail(c, HB_CESQL_ERR_GENERIC, n, "evaluation needs more than %d bytes of memory",
                     HB_CESQL_MAX_EVAL_MEMORY);
}

/* Casts v to Integer (section 3.7): Boolean true/false -> 1/0, String parsed
 * as a decimal 32-bit integer. Cast error otherwise. */
static enum hb_cesql_error to_int(struct eval_ctx *c, const struct node *n,
                                  const struct hb_cesql_value *v, int32_t *out)
{
    *out = 0;
    switch (v->type) {
    case HB_CESQL_INTEGER: *out = v->i; return HB_CESQL_OK;
    case HB_CESQL_BOOLEAN: *out = v->b ? 1 : 0; return HB_CESQL_OK;
    case HB_CESQL_STRING:
        if (parse_int32(v->s, out) == 0)
            return HB_CESQL_OK;
        *out = 0;
        return eval_fail(c, HB_CESQL_ERR_CAST, n, "cannot cast String '%.40s' to Integer", v->s);
    }
    return HB_CESQL_ERR_GENERIC;
}

/* Casts v to Boolean: Integer 0 -> false, other integers -> true, String
 * "true"/"false" in any case. Cast error otherwise. */
static enum hb_cesql_error to_bool(struct eval_ctx *c, const struct node *n,
                                   const struct hb_cesql_value *v, bool *out)
{
    *out = false;
    switch (v->type) {
    case HB_CESQL_BOOLEAN: *out = v->b; return HB_CESQL_OK;
    case HB_CESQL_INTEGER: *out = v->i != 0; return HB_CESQL_OK;
    case HB_CESQL_STRING:
        if (parse_bool(v->s, out) == 0)
            return HB_CESQL_OK;
        return eval_fail(c, HB_CESQL_ERR_CAST, n, "cannot cast String '%.40s' to Boolean", v->s);
    }
    return HB_CESQL_ERR_GENERIC;
}

/* Casts v to String: decimal integers, "true"/"false". Never a cast error. */
static enum hb_cesql_error to_str(struct eval_ctx *c, const struct node *n,
                                  const struct hb_cesql_value *v, const char **out)
{
    char *s;

    *out = "";
    switch (v->type) {
    case HB_CESQL_STRING: *out = v->s; return HB_CESQL_OK;
    case HB_CESQL_BOOLEAN: *out = v->b ? "true" : "false"; return HB_CESQL_OK;
    case HB_CESQL_INTEGER:
        s = arena_alloc(c, 12);
        if (!s)
            return no_memory(c, n);
        snprintf(s, 12, "%" PRId32, v->i);
        *out = s;
        return HB_CESQL_OK;
    }
    return HB_CESQL_ERR_GENERIC;
}

/* Casts v in place to type t. */
static enum hb_cesql_error cast_to(struct eval_ctx *c, const struct node *n,
                                   struct hb_cesql_value *v, enum hb_cesql_type t)
{
    struct hb_cesql_value r;
    enum hb_cesql_error e;

    set_zero(&r, t);
    if (t == HB_CESQL_INTEGER)
        e = to_int(c, n, v, &r.i);
    else if (t == HB_CESQL_BOOLEAN)
        e = to_bool(c, n, v, &r.b);
    else
        e = to_str(c, n, v, &r.s);
    *v = r;
    return e;
}

/* x = y with the ambiguous-operator rule of section 3.7: x is cast to the
 * type of y. */
static enum hb_cesql_error values_equal(struct eval_ctx *c, const struct node *n,
                                        struct hb_cesql_value x, const struct hb_cesql_value *y,
                                        bool *eq)
{
    enum hb_cesql_error e = cast_to(c, n, &x, y->type);

    *eq = false;
    if (e)
        return e;
    switch (y->type) {
    case HB_CESQL_BOOLEAN: *eq = x.b == y->b; break;
    case HB_CESQL_INTEGER: *eq = x.i == y->i; break;
    case HB_CESQL_STRING: *eq = strcmp(x.s, y->s) == 0; break;
    }
    return HB_CESQL_OK;
}

/* Matches s against a compiled LIKE pattern, character by character, with
 * the usual single-backtrack-point algorithm (no recursion, O(len*pat)). */
static bool like_match(const struct pat_elem *pat, size_t np, const char *s)
{
    size_t pi = 0, star = (size_t)-1, len;
    const char *star_s = NULL;

    while (*s) {
        if (pi < np && pat[pi].kind == P_ANY) {
            star = pi++;
            star_s = s;
            continue;
        }
        uint32_t cp = utf8_decode(s, &len);
        if (pi < np && (pat[pi].kind == P_ONE || pat[pi].cp == cp)) {
            pi++;
            s += len;
            continue;
        }
        if (star == (size_t)-1)
            return false;
        pi = star + 1;
        utf8_decode(star_s, &len);
        star_s += len;
        s = star_s;
    }
    while (pi < np && pat[pi].kind == P_ANY)
        pi++;
    return pi == np;
}

/* Copies bytes [from, to) of s into scratch memory as a string. */
static enum hb_cesql_error substr(struct eval_ctx *c, const struct node *n, const char *s,
                                  size_t from, size_t to, const char **out)
{
    char *r = arena_alloc(c, to - from + 1);

    if (!r)
        return no_memory(c, n);
    memcpy(r, s + from, to - from);
    r[to - from] = '\0';
    *out = r;
    return HB_CESQL_OK;
}

/* Maps every character of s through f into a new string. */
static enum hb_cesql_error map_case(struct eval_ctx *c, const struct node *n, const char *s,
                                    uint32_t (*f)(uint32_t), const char **out)
{
    size_t len = strlen(s), o = 0, l;
    char *r;

    if (len > HB_CESQL_MAX_EVAL_MEMORY / 4)
        return no_memory(c, n);
    r = arena_alloc(c, len * 4 + 1);
    if (!r)
        return no_memory(c, n);
    while (*s) {
        uint32_t cp = utf8_decode(s, &l);
        s += l;
        o += utf8_encode(f(cp), r + o);
    }
    r[o] = '\0';
    *out = r;
    return HB_CESQL_OK;
}

/* CONCAT / CONCAT_WS over already cast String arguments. */
static enum hb_cesql_error concat(struct eval_ctx *c, const struct node *n, const char *sep,
                                  const struct hb_cesql_value *args, size_t nargs, const char **out)
{
    size_t total = 1, seplen = sep ? strlen(sep) : 0, o = 0;
    char *r;

    for (size_t i = 0; i < nargs; i++) {
        total += strlen(args[i].s) + (i > 0 ? seplen : 0);
        if (total > HB_CESQL_MAX_EVAL_MEMORY)
            return no_memory(c, n);
    }
    r = arena_alloc(c, total);
    if (!r)
        return no_memory(c, n);
    for (size_t i = 0; i < nargs; i++) {
        size_t l = strlen(args[i].s);
        if (i > 0 && seplen) {
            memcpy(r + o, sep, seplen);
            o += seplen;
        }
        memcpy(r + o, args[i].s, l);
        o += l;
    }
    r[o] = '\0';
    *out = r;
    return HB_CESQL_OK;
}

/* SUBSTRING(x, pos [, len]) as section 3.5.1 defines it: 1-based positions,
 * negative ones count from the end, 0 gives "", out-of-range positions and
 * negative lengths give "" and a functionEvaluation error. */
static enum hb_cesql_error substring(struct eval_ctx *c, const struct node *n,
                                     const struct hb_cesql_value *a, size_t nargs, const char **out)
{
    const char *s = a[0].s;
    int64_t len = (int64_t)utf8_length(s), pos = a[1].i, start, end;

    *out = "";
    if (pos == 0)
        return HB_CESQL_OK;
    if (pos > len || pos < -len)
        return eval_fail(c, HB_CESQL_ERR_FUNCTION_EVALUATION, n,
                         "SUBSTRING position %" PRId64 " is outside a string of %" PRId64
                         " characters",
                         pos, len);
    start = pos > 0 ? pos - 1 : len + pos;
    end = len;
    if (nargs == 3) {
        if (a[2].i < 0)
            return eval_fail(c, HB_CESQL_ERR_FUNCTION_EVALUATION, n,
                             "SUBSTRING length %" PRId32 " is negative", a[2].i);
        if (start + a[2].i < end)
            end = start + a[2].i;
    }
    size_t from = utf8_offset(s, (size_t)start);
    size_t to = from + utf8_offset(s + from, (size_t)(end - start));
    return substr(c, n, s, from, to, out);
}

/* Runs built-in function f on arguments already cast to its parameter types.
 * out starts as the zero value of the return type; functions that raise an
 * error still set their defined result. */
static enum hb_cesql_error call(struct eval_ctx *c, const struct node *n, const struct func_def *f,
                                struct hb_cesql_value *a, size_t nargs, struct hb_cesql_value *out)
{
    const char *s;
    size_t count, from, l;
    int32_t iv;
    bool bv;

    switch (f->id) {
    case F_ABS:
        if (a[0].i == INT32_MIN) {
            out->i = INT32_MAX;
            return eval_fail(c, HB_CESQL_ERR_MATH, n, "ABS(-2147483648) overflows");
        }
        out->i = a[0].i < 0 ? -a[0].i : a[0].i;
        return HB_CESQL_OK;
    case F_LENGTH:
        count = utf8_length(a[0].s);
        out->i = count > INT32_MAX ? INT32_MAX : (int32_t)count;
        return HB_CESQL_OK;
    case F_CONCAT: return concat(c, n, NULL, a, nargs, &out->s);
    case F_CONCAT_WS: return concat(c, n, a[0].s, a + 1, nargs - 1, &out->s);
    case F_LOWER: return map_case(c, n, a[0].s, cp_lower, &out->s);
    case F_UPPER: return map_case(c, n, a[0].s, cp_upper, &out->s);
    case F_TRIM:
        s = a[0].s;
        l = strlen(s);
        from = 0;
        while (from < l && (is_space(s[from]) || s[from] == '\v' || s[from] == '\f'))
            from++;
        while (l > from && (is_space(s[l - 1]) || s[l - 1] == '\v' || s[l - 1] == '\f'))
            l--;
        return substr(c, n, s, from, l, &out->s);
    case F_LEFT:
    case F_RIGHT:
        if (a[1].i < 0) {
            out->s = a[0].s;
            return eval_fail(c, HB_CESQL_ERR_FUNCTION_EVALUATION, n,
                             "%s length %" PRId32 " is negative", f->name, a[1].i);
        }
        s = a[0].s;
        count = utf8_length(s);
        if ((size_t)a[1].i >= count) {
            out->s = s;
            return HB_CESQL_OK;
        }
        if (f->id == F_LEFT)
            return substr(c, n, s, 0, utf8_offset(s, (size_t)a[1].i), &out->s);
        out->s = s + utf8_offset(s, count - (size_t)a[1].i);
        return HB_CESQL_OK;
    case F_SUBSTRING: return substring(c, n, a, nargs, &out->s);
    case F_INT: return to_int(c, n, &a[0], &out->i);
    case F_BOOL: return to_bool(c, n, &a[0], &out->b);
    case F_STRING: return to_str(c, n, &a[0], &out->s);
    case F_IS_BOOL:
        out->b = a[0].type != HB_CESQL_STRING || parse_bool(a[0].s, &bv) == 0;
        return HB_CESQL_OK;
    case F_IS_INT:
        out->b = a[0].type != HB_CESQL_STRING || parse_int32(a[0].s, &iv) == 0;
        return HB_CESQL_OK;
    }
    return eval_fail(c, HB_CESQL_ERR_GENERIC, n, "unknown built-in function");
}

static enum hb_cesql_error eval(const struct node *n, struct eval_ctx *c,
                                struct hb_cesql_value *out);

/* Evaluates a function invocation: arguments left to right, each cast to its
 * parameter type; any failure gives the zero value of the return type. */
static enum hb_cesql_error eval_call(const struct node *n, struct eval_ctx *c,
                                     struct hb_cesql_value *out)
{
    const struct func_def *f = n->fn;
    struct hb_cesql_value *args = NULL;
    enum hb_cesql_error e;

    set_zero(out, f->ret);
    if (n->nkids > 0) {
        if (n->nkids > HB_CESQL_MAX_EVAL_MEMORY / sizeof(*args))
            return no_memory(c, n);
        args = arena_alloc(c, n->nkids * sizeof(*args));
        if (!args)
            return no_memory(c, n);
    }
    for (size_t i = 0; i < n->nkids; i++) {
        enum arg_type t = i < f->nfixed ? f->args[i] : f->vararg;
        if ((e = eval(n->kids[i], c, &args[i])) != HB_CESQL_OK)
            return e;
        if (t == A_ANY)
            continue;
        e = cast_to(c, n->kids[i], &args[i],
                    t == A_BOOL  ? HB_CESQL_BOOLEAN
                    : t == A_INT ? HB_CESQL_INTEGER
                                 : HB_CESQL_STRING);
        if (e)
            return e;
    }
    e = call(c, n, f, args, n->nkids, out);
    if (e && f->id != F_ABS && f->id != F_LEFT && f->id != F_RIGHT)
        set_zero(out, f->ret);
    return e;
}

/* Arithmetic on 32-bit integers; overflow is a math error with the result
 * saturated (as ABS does), division or modulo by zero a math error with 0. */
static enum hb_cesql_error arith(struct eval_ctx *c, const struct node *n, int32_t x, int32_t y,
                                 int32_t *out)
{
    int64_t r;

    *out = 0;
    switch (n->op) {
    case OP_ADD: r = (int64_t)x + y; break;
    case OP_SUB: r = (int64_t)x - y; break;
    case OP_MUL: r = (int64_t)x * y; break;
    case OP_DIV:
    case OP_MOD:
        if (y == 0)
            return eval_fail(c, HB_CESQL_ERR_MATH, n, "%s by zero",
                             n->op == OP_DIV ? "division" : "modulo");
        if (x == INT32_MIN && y == -1)
            r = n->op == OP_DIV ? -(int64_t)x : 0;
        else
            r = n->op == OP_DIV ? x / y : x % y;
        break;
    default: return HB_CESQL_ERR_GENERIC;
    }
    if (r > INT32_MAX || r < INT32_MIN) {
        *out = r > 0 ? INT32_MAX : INT32_MIN;
        return eval_fail(c, HB_CESQL_ERR_MATH, n, "integer overflow");
    }
    *out = (int32_t)r;
    return HB_CESQL_OK;
}

/* Binary arithmetic and comparison operators. */
static enum hb_cesql_error eval_binary(const struct node *n, struct eval_ctx *c,
                                       struct hb_cesql_value *out)
{
    struct hb_cesql_value l, r;
    enum hb_cesql_error e;
    int32_t x, y;
    bool eq;

    set_zero(out, n->op <= OP_MOD ? HB_CESQL_INTEGER : HB_CESQL_BOOLEAN);
    if ((e = eval(n->kids[0], c, &l)) || (e = eval(n->kids[1], c, &r)))
        return e;
    if (n->op == OP_EQ || n->op == OP_NE) {
        if ((e = values_equal(c, n, l, &r, &eq)))
            return e;
        out->b = (n->op == OP_EQ) == eq;
        return HB_CESQL_OK;
    }
    if ((e = to_int(c, n, &l, &x)) || (e = to_int(c, n, &r, &y)))
        return e;
    switch (n->op) {
    case OP_LT: out->b = x < y; break;
    case OP_LE: out->b = x <= y; break;
    case OP_GT: out->b = x > y; break;
    case OP_GE: out->b = x >= y; break;
    default: return arith(c, n, x, y, &out->i);
    }
    return HB_CESQL_OK;
}

/* AND / OR / XOR over a left-to-right chain; AND and OR short-circuit. */
static enum hb_cesql_error eval_logic(const struct node *n, struct eval_ctx *c,
                                      struct hb_cesql_value *out)
{
    struct hb_cesql_value v;
    enum hb_cesql_error e;
    bool acc = false, b;

    set_zero(out, HB_CESQL_BOOLEAN);
    for (size_t i = 0; i < n->nkids; i++) {
        if ((e = eval(n->kids[i], c, &v)) || (e = to_bool(c, n, &v, &b)))
            return e;
        if (i == 0)
            acc = b;
        else if (n->op == OP_AND)
            acc = acc && b;
        else if (n->op == OP_OR)
            acc = acc || b;
        else
            acc = acc != b;
        if ((n->op == OP_AND && !acc) || (n->op == OP_OR && acc))
            break;
    }
    out->b = acc;
    return HB_CESQL_OK;
}

/* x [NOT] IN (y1, ...): each element is cast to the type of x (section 3.7). */
static enum hb_cesql_error eval_in(const struct node *n, struct eval_ctx *c,
                                   struct hb_cesql_value *out)
{
    struct hb_cesql_value x, y;
    enum hb_cesql_error e;
    bool found = false, eq;

    set_zero(out, HB_CESQL_BOOLEAN);
    if ((e = eval(n->kids[0], c, &x)))
        return e;
    for (size_t i = 1; i < n->nkids && !found; i++) {
        if ((e = eval(n->kids[i], c, &y)) || (e = values_equal(c, n->kids[i], y, &x, &eq)))
            return e;
        found = eq;
    }
    out->b = found != n->negated;
    return HB_CESQL_OK;
}

/* Evaluates node n into *out. On error *out is the zero value of the node's
 * return type (or the defined result of the failing function). */
static enum hb_cesql_error eval(const struct node *n, struct eval_ctx *c,
                                struct hb_cesql_value *out)
{
    struct hb_cesql_value v;
    enum hb_cesql_error e;
    const char *s;
    bool b;

    switch (n->kind) {
    case N_LIT: *out = n->lit; return HB_CESQL_OK;
    case N_IDENT:
        if (c->lookup && c->lookup(c->ctx, n->text, out) == 0) {
            if (out->type == HB_CESQL_STRING && !out->s)
                out->s = "";
            return HB_CESQL_OK;
        }
        set_zero(out, HB_CESQL_BOOLEAN);
        return eval_fail(c, HB_CESQL_ERR_MISSING_ATTRIBUTE, n, "attribute '%s' does not exist",
                         n->text);
    case N_EXISTS:
        set_zero(out, HB_CESQL_BOOLEAN);
        out->b = c->lookup && c->lookup(c->ctx, n->text, &v) == 0;
        return HB_CESQL_OK;
    case N_NOT:
        set_zero(out, HB_CESQL_BOOLEAN);
        if ((e = eval(n->kids[0], c, &v)) || (e = to_bool(c, n, &v, &b)))
            return e;
        out->b = !b;
        return HB_CESQL_OK;
    case N_NEG:
        set_zero(out, HB_CESQL_INTEGER);
        if ((e = eval(n->kids[0], c, &v)) || (e = to_int(c, n, &v, &out->i)))
            return e;
        if (out->i == INT32_MIN) {
            out->i = INT32_MAX;
            return eval_fail(c, HB_CESQL_ERR_MATH, n, "integer overflow");
        }
        out->i = -out->i;
        return HB_CESQL_OK;
    case N_BINARY: return eval_binary(n, c, out);
    case N_LOGIC: return eval_logic(n, c, out);
    case N_LIKE:
        set_zero(out, HB_CESQL_BOOLEAN);
        if ((e = eval(n->kids[0], c, &v)) || (e = to_str(c, n, &v, &s)))
            return e;
        out->b = like_match(n->pat, n->npat, s) != n->negated;
        return HB_CESQL_OK;
    case N_IN: return eval_in(n, c, out);
    case N_CALL: return eval_call(n, c, out);
    case N_NOFUNC:
        set_zero(out, HB_CESQL_BOOLEAN);
        return eval_fail(c, HB_CESQL_ERR_MISSING_FUNCTION, n, "no function %s with %zu argument%s",
                         n->text, n->nkids, n->nkids == 1 ? "" : "s");
    }
    set_zero(out, HB_CESQL_BOOLEAN);
    return eval_fail(c, HB_CESQL_ERR_GENERIC, n, "unknown expression node");
}

enum hb_cesql_error hb_cesql_eval(const struct hb_cesql_expr *e, hb_cesql_lookup_fn lookup,
                                  void *ctx, struct hb_cesql_result *res, char *err, size_t errlen)
{
    struct eval_ctx c = {.lookup = lookup, .ctx = ctx, .err = err, .errlen = errlen};
    enum hb_cesql_error rc;
    struct hb_cesql_value v;

    if (err && errlen > 0)
        err[0] = '\0';
    if (!res)
        return HB_CESQL_ERR_GENERIC;
    set_zero(&res->v, HB_CESQL_BOOLEAN);
    res->owned = NULL;
    if (!e || !e->root) {
        if (err && errlen > 0)
            snprintf(err, errlen, "no expression");
        return HB_CESQL_ERR_GENERIC;
    }
    rc = eval(e->root, &c, &v);
    if (v.type == HB_CESQL_STRING) {
        res->owned = strdup(v.s ? v.s : "");
        if (!res->owned) {
            v.s = "";
            if (rc == HB_CESQL_OK)
                rc = eval_fail(&c, HB_CESQL_ERR_GENERIC, e->root, "out of memory");
        } else {
            v.s = res->owned;
        }
    }
    res->v = v;
    arena_free(&c);
    return rc;
}

void hb_cesql_result_free(struct hb_cesql_result *res)
{
    if (!res)
        return;
    free(res->owned);
    res->owned = NULL;
    if (res->v.type == HB_CESQL_STRING)
        res->v.s = "";
}

bool hb_cesql_matches(const struct hb_cesql_expr *e, hb_cesql_lookup_fn lookup, void *ctx)
{
    struct hb_cesql_result res;
    enum hb_cesql_error rc = hb_cesql_eval(e, lookup, ctx, &res, NULL, 0);
    bool ok = rc == HB_CESQL_OK && res.v.type == HB_CESQL_BOOLEAN && res.v.b;

    hb_cesql_result_free(&res);
    return ok;
}
