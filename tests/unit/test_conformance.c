/* test_conformance.c: the CloudEvents conformance vectors vendored in
 * tests/conformance/ (origin and license in its README), run data-driven:
 *
 * - cloudevents/valid-events.json: each event, as structured JSON
 *   (application/cloudevents+json) and all of them as one batch, is accepted
 *   by a `cloudevents` receiver, and the event it publishes, written to Kafka
 *   in every content mode and decoded again, keeps each attribute and the
 *   data of the vector;
 * - cloudevents/invalid-events.json: each event is refused with 400 by the
 *   receiver, publishes nothing, and is refused by the Kafka binding decoder;
 * - cloudevents/kafka-protocol-binding.feature: each scenario's Kafka record
 *   decodes with hb_kafka_decode to exactly the listed attributes and to data
 *   equal, as JSON, to the listed data. The Gherkin is read by a small reader
 *   below (doc strings, tables, Scenario Outline examples); a step it does not
 *   know fails the test, so a new kind of scenario cannot pass unnoticed;
 * - avro/cloudevents.avsc: schemas/cloudevent.avsc, which hookbus installs,
 *   is the specification's schema byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hookbus/event.h"
#include "hookbus/format.h"
#include "hookbus/kafka.h"
#include "hookbus/util.h"
#include "receivers/receiver.h"
#include "helpers.h"

#define VALID_FILE "tests/conformance/cloudevents/valid-events.json"
#define INVALID_FILE "tests/conformance/cloudevents/invalid-events.json"
#define FEATURE_FILE "tests/conformance/cloudevents/kafka-protocol-binding.feature"

/* Attributes the gateway adds to every event a cloudevents receiver takes
 * (traceparent / tracestate: when the event has no valid traceparent). */
static const char *const stamped[] = {"receiver", "provider", "partitionkey", "traceparent",
                                      "tracestate"};

/* ---- a request to a `cloudevents` receiver --------------------------------- */

static const char *no_header(const struct gw_request *req, const char *name)
{
    (void)req;
    (void)name;
    return NULL;
}

static void no_headers(const struct gw_request *req,
                       void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    (void)req;
    (void)fn;
    (void)arg;
}

static const struct gw_receiver receiver = {.name = "ce-conformance",
                                            .type = &gw_receiver_cloudevents};

/* Runs body through the receiver as the gateway does after authentication.
 * Returns the status the gateway answers: ctx->status when set, 202 when
 * there are events (ctx keeps them), 200 otherwise. */
static int post(const char *content_type, const char *body, struct gw_request *req,
                struct gw_ctx *ctx)
{
    *req = (struct gw_request){.method = "POST",
                               .remote = "127.0.0.1",
                               .content_type = content_type,
                               .body = (const unsigned char *)body,
                               .body_len = strlen(body),
                               .header = no_header,
                               .each_header = no_headers};
    *ctx = (struct gw_ctx){.rcv = &receiver, .req = req};
    hb_strlcpy(ctx->time, "2026-12-04T12:00:00.000Z", sizeof(ctx->time));
    receiver.type->normalize(ctx);
    if (ctx->status)
        return ctx->status;
    if (!ctx->nevents)
        return 200;
    gw_ctx_finish(ctx);
    return 202;
}

/* ---- comparing an event with a vector -------------------------------------- */

static bool is_stamped(const char *name)
{
    for (size_t i = 0; i < HB_ARRAY_LEN(stamped); i++)
        if (strcmp(stamped[i], name) == 0)
            return true;
    return false;
}

/* Checks ev against the vector's JSON object: every non-null attribute has
 * the same value (numbers and Booleans in their canonical string form), a
 * null one is absent, the data is the same (JSON compared as JSON, a string
 * as its text, data_base64 as the bytes), and ev has no attribute beyond the
 * vector's except those the gateway stamps (when allow_stamped). */
static void check_event(const char *what, const struct hb_event *ev, const cJSON *vec,
                        bool allow_stamped)
{
    const cJSON *m;
    size_t expected = 0;
    cJSON_ArrayForEach (m, vec) {
        const char *name = m->string;
        if (strcmp(name, "data") == 0 || strcmp(name, "data_base64") == 0)
            continue;
        const char *got = hb_event_get(ev, name);
        if (cJSON_IsNull(m)) {
            if (got)
                fail_msg("%s: %s: null in the vector, \"%s\" in the event", what, name, got);
            continue;
        }
        expected++;
        char want[64];
        const char *w = want;
        if (cJSON_IsString(m))
            w = m->valuestring;
        else if (cJSON_IsBool(m))
            w = cJSON_IsTrue(m) ? "true" : "false";
        else if (cJSON_IsNumber(m))
            snprintf(want, sizeof(want), "%.0f", m->valuedouble);
        else
            fail_msg("%s: %s: an attribute value of an unexpected JSON type", what, name);
        if (!got)
            fail_msg("%s: attribute %s missing", what, name);
        if (strcmp(got, w) != 0)
            fail_msg("%s: %s: want \"%s\", got \"%s\"", what, name, w, got);
    }
    for (size_t i = 0; i < ev->nattrs; i++)
        if (!cJSON_GetObjectItemCaseSensitive(vec, ev->attrs[i].name) &&
            !(allow_stamped && is_stamped(ev->attrs[i].name)))
            fail_msg("%s: unexpected attribute %s=\"%s\"", what, ev->attrs[i].name,
                     ev->attrs[i].value);
    if (!allow_stamped)
        assert_int_equal(ev->nattrs, expected);

    const cJSON *data = cJSON_GetObjectItemCaseSensitive(vec, "data");
    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(vec, "data_base64");
    if (!data && !b64) {
        if (ev->data)
            fail_msg("%s: data in the event, none in the vector", what);
        return;
    }
    if (!ev->data)
        fail_msg("%s: the vector's data is missing", what);
    if (b64) {
        unsigned char raw[4096];
        const char *t = b64->valuestring;
        size_t tl = strlen(t);
        assert_true(tl / 4 * 3 <= sizeof(raw));
        int dl = EVP_DecodeBlock(raw, (const unsigned char *)t, (int)tl);
        assert_true(dl >= 0);
        size_t n = (size_t)dl - (tl >= 1 && t[tl - 1] == '=') - (tl >= 2 && t[tl - 2] == '=');
        assert_int_equal(ev->data_len, n);
        assert_memory_equal(ev->data, raw, n);
    } else if (hb_content_type_is_json(hb_event_get(ev, "datacontenttype"))) {
        cJSON *got = hb_json_parse((const char *)ev->data, ev->data_len);
        if (!got || !cJSON_Compare(got, data, true))
            fail_msg("%s: data differs: %.*s", what, (int)ev->data_len, (const char *)ev->data);
        cJSON_Delete(got);
    } else {
        assert_true(cJSON_IsString(data));
        assert_int_equal(ev->data_len, strlen(data->valuestring));
        assert_memory_equal(ev->data, data->valuestring, ev->data_len);
    }
}

/* Writes ev to a Kafka message in mode and decodes it again. Caller frees. */
static struct hb_event *kafka_round_trip(const struct hb_event *ev, enum hb_ce_mode mode)
{
    struct hb_kafka_msg msg = {0};
    struct hb_event *back = NULL;
    enum hb_ce_mode got_mode;
    char err[256];
    if (hb_kafka_encode(ev, mode, &msg, err, sizeof(err)) < 0)
        fail_msg("encode %s: %s", hb_ce_mode_name(mode), err);
    if (hb_kafka_decode(msg.value, msg.value_len, msg.key, msg.key_len, msg.headers, &back,
                        &got_mode, err, sizeof(err)) < 0)
        fail_msg("decode %s: %s", hb_ce_mode_name(mode), err);
    assert_int_equal(got_mode, mode);
    hb_kafka_msg_clear(&msg);
    return back;
}

static const cJSON *vector_tests(const cJSON *doc, const char *file)
{
    const cJSON *tests = cJSON_GetObjectItemCaseSensitive(doc, "tests");
    if (!cJSON_IsArray(tests) || cJSON_GetArraySize(tests) == 0)
        fail_msg("%s: no tests", file);
    return tests;
}

/* ---- valid and invalid events ---------------------------------------------- */

static void test_valid_events(void **state)
{
    (void)state;
    static const enum hb_ce_mode modes[] = {HB_CE_BINARY, HB_CE_STRUCTURED, HB_CE_AVRO};
    cJSON *doc = hbt_json_source(VALID_FILE);
    const cJSON *t;
    int n = 0;
    cJSON_ArrayForEach (t, vector_tests(doc, VALID_FILE)) {
        const char *id = gw_json_str(t, "id");
        const cJSON *vec = cJSON_GetObjectItemCaseSensitive(t, "event");
        assert_non_null(id);
        assert_true(cJSON_IsObject(vec));
        char *body = cJSON_PrintUnformatted(vec);
        struct gw_request req;
        struct gw_ctx ctx;
        int status = post(HB_CT_CE_JSON, body, &req, &ctx);
        if (status != 202)
            fail_msg("%s: answered %d (%s), want 202", id, status, ctx.message);
        assert_int_equal(ctx.nevents, 1);
        const struct hb_event *ev = ctx.events[0];
        check_event(id, ev, vec, true);
        assert_string_equal(hb_event_get(ev, "receiver"), receiver.name);
        for (size_t i = 0; i < HB_ARRAY_LEN(modes); i++) {
            char what[128];
            snprintf(what, sizeof(what), "%s via Kafka %s", id, hb_ce_mode_name(modes[i]));
            struct hb_event *back = kafka_round_trip(ev, modes[i]);
            check_event(what, back, vec, true);
            hb_event_free(back);
        }
        gw_ctx_clear(&ctx);
        free(body);
        n++;
    }

    /* All of them as one batch (application/cloudevents-batch+json). */
    cJSON *batch = cJSON_CreateArray();
    cJSON_ArrayForEach (t, vector_tests(doc, VALID_FILE))
        cJSON_AddItemToArray(batch,
                             cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t, "event"), true));
    char *body = cJSON_PrintUnformatted(batch);
    struct gw_request req;
    struct gw_ctx ctx;
    assert_int_equal(post(HB_CT_CE_BATCH, body, &req, &ctx), 202);
    assert_int_equal(ctx.nevents, (size_t)n);
    size_t i = 0;
    cJSON_ArrayForEach (t, vector_tests(doc, VALID_FILE))
        check_event(gw_json_str(t, "id"), ctx.events[i++],
                    cJSON_GetObjectItemCaseSensitive(t, "event"), true);
    gw_ctx_clear(&ctx);
    free(body);
    cJSON_Delete(batch);
    print_message("cloudevents valid-events: %d accepted\n", n);
    cJSON_Delete(doc);
}

static void test_invalid_events(void **state)
{
    (void)state;
    cJSON *doc = hbt_json_source(INVALID_FILE);
    const cJSON *t;
    int n = 0;
    cJSON_ArrayForEach (t, vector_tests(doc, INVALID_FILE)) {
        const char *id = gw_json_str(t, "id");
        const cJSON *vec = cJSON_GetObjectItemCaseSensitive(t, "event");
        assert_non_null(id);
        char *body = cJSON_PrintUnformatted(vec);
        struct gw_request req;
        struct gw_ctx ctx;
        int status = post(HB_CT_CE_JSON, body, &req, &ctx);
        if (status != 400 || ctx.nevents != 0)
            fail_msg("%s: answered %d with %zu events, want 400 and none", id, status, ctx.nevents);
        assert_true(ctx.message[0] != '\0'); /* a reason for the sender */
        gw_ctx_clear(&ctx);

        /* The same value read from Kafka (structured mode) is not an event. */
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "content-type", -1, HB_CT_CE_JSON, -1);
        struct hb_event *ev = NULL;
        enum hb_ce_mode mode;
        char err[256];
        if (hb_kafka_decode(body, strlen(body), NULL, 0, h, &ev, &mode, err, sizeof(err)) == 0)
            fail_msg("%s: decoded from Kafka", id);
        assert_null(ev);
        rd_kafka_headers_destroy(h);
        free(body);
        n++;
    }
    print_message("cloudevents invalid-events: %d refused\n", n);
    cJSON_Delete(doc);
}

/* ---- the Kafka binding scenarios (Gherkin) --------------------------------- */

#define MAX_ROWS 32
#define MAX_CELLS 4
#define MAX_SCENARIOS 32

struct table {
    char *cell[MAX_ROWS][MAX_CELLS];
    size_t rows, cols;
};

struct scenario {
    char *name;
    char *payload; /* the Kafka value */
    char *data;    /* the expected data, JSON */
    struct table headers, attrs, examples;
    int line;
};

struct reader {
    char *text; /* the file, cut into lines in place */
    char **lines;
    size_t n, at;
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1]))
        s[--l] = '\0';
    return s;
}

/* Reads a doc string: the lines between two """ lines, each without the
 * indentation of the opening quotes (Gherkin's rule), joined by newlines. */
static char *doc_string(struct reader *r)
{
    if (r->at >= r->n)
        fail_msg("feature line %zu: a doc string expected", r->at + 1);
    const char *open = r->lines[r->at];
    size_t indent = strspn(open, " \t");
    if (strcmp(trim(r->lines[r->at]), "\"\"\"") != 0)
        fail_msg("feature line %zu: a doc string expected", r->at + 1);
    struct hb_buf b;
    hb_buf_init(&b, 1 << 16);
    for (r->at++; r->at < r->n; r->at++) {
        char *l = r->lines[r->at];
        const char *q = l + strspn(l, " \t");
        if (strncmp(q, "\"\"\"", 3) == 0 && q[3 + strspn(q + 3, " \t\r")] == '\0') {
            r->at++;
            char *s = strdup(b.p ? b.p : "");
            hb_buf_free(&b);
            return s;
        }
        size_t skip = strspn(l, " \t");
        if (b.len)
            hb_buf_puts(&b, "\n");
        hb_buf_puts(&b, l + (skip < indent ? skip : indent));
    }
    fail_msg("feature: unterminated doc string");
    return NULL;
}

/* Reads the table rows starting at the current line ("| a | b |"). */
static void table(struct reader *r, struct table *t)
{
    memset(t, 0, sizeof(*t));
    while (r->at < r->n) {
        char *l = trim(r->lines[r->at]);
        if (*l != '|')
            break;
        if (t->rows == MAX_ROWS)
            fail_msg("feature line %zu: table too long", r->at + 1);
        size_t c = 0;
        char *cell = l + 1, *bar;
        while ((bar = strchr(cell, '|')) != NULL) {
            *bar = '\0';
            if (c == MAX_CELLS)
                fail_msg("feature line %zu: too many cells", r->at + 1);
            t->cell[t->rows][c++] = trim(cell);
            cell = bar + 1;
        }
        if (t->rows && c != t->cols)
            fail_msg("feature line %zu: %zu cells, the header has %zu", r->at + 1, c, t->cols);
        t->cols = c;
        t->rows++;
        r->at++;
    }
    if (t->rows < 2)
        fail_msg("feature line %zu: a table with a header and rows expected", r->at + 1);
}

/* The step text after its keyword, or NULL when l is not a step. */
static const char *step(const char *l)
{
    static const char *const kw[] = {"Given ", "When ", "Then ", "And ", "But "};
    for (size_t i = 0; i < HB_ARRAY_LEN(kw); i++)
        if (hb_str_has_prefix(l, kw[i]))
            return l + strlen(kw[i]);
    return NULL;
}

/* Parses the feature file into scenarios; returns how many. */
static size_t parse_feature(struct reader *r, struct scenario *sc, size_t max)
{
    size_t n = 0;
    struct scenario *cur = NULL;
    bool background = false;
    while (r->at < r->n) {
        char *l = trim(r->lines[r->at]);
        const char *s;
        if (!*l || *l == '#' || hb_str_has_prefix(l, "Feature:")) {
            r->at++;
        } else if (hb_str_has_prefix(l, "Background:")) {
            background = true;
            r->at++;
        } else if (hb_str_has_prefix(l, "Scenario:") || hb_str_has_prefix(l, "Scenario Outline:")) {
            if (n == max)
                fail_msg("feature: too many scenarios");
            cur = &sc[n++];
            memset(cur, 0, sizeof(*cur));
            cur->name = trim(strchr(l, ':') + 1);
            cur->line = (int)r->at + 1;
            background = false;
            r->at++;
        } else if ((s = step(l)) != NULL) {
            r->at++;
            if (background && strcmp(s, "Kafka Protocol Binding is supported") == 0)
                continue;
            if (!cur)
                fail_msg("feature line %zu: a step outside a scenario: %s", r->at, l);
            if (strcmp(s, "a Kafka message with payload:") == 0)
                cur->payload = doc_string(r);
            else if (strcmp(s, "Kafka headers:") == 0)
                table(r, &cur->headers);
            else if (strcmp(s, "parsed as Kafka message") == 0)
                continue;
            else if (strcmp(s, "the attributes are:") == 0)
                table(r, &cur->attrs);
            else if (strcmp(s, "the data is equal to the following JSON:") == 0)
                cur->data = doc_string(r);
            else
                fail_msg("feature line %zu: unknown step: %s", r->at, l);
        } else if (hb_str_has_prefix(l, "Examples:")) {
            if (!cur)
                fail_msg("feature line %zu: Examples outside a scenario", r->at + 1);
            r->at++;
            table(r, &cur->examples);
        } else if (background || cur) {
            r->at++; /* free text describing the feature or a scenario */
        } else {
            r->at++;
        }
    }
    return n;
}

/* s with every <name> of the example row replaced. Caller frees. */
static char *substitute(const char *s, const struct table *ex, size_t row)
{
    struct hb_buf b;
    hb_buf_init(&b, 1 << 16);
    while (*s) {
        bool done = false;
        if (*s == '<' && ex->rows)
            for (size_t c = 0; c < ex->cols && !done; c++) {
                size_t l = strlen(ex->cell[0][c]);
                if (strncmp(s + 1, ex->cell[0][c], l) == 0 && s[1 + l] == '>') {
                    hb_buf_puts(&b, ex->cell[row][c]);
                    s += l + 2;
                    done = true;
                }
            }
        if (!done)
            hb_buf_append(&b, s++, 1);
    }
    char *out = strdup(b.p ? b.p : "");
    hb_buf_free(&b);
    return out;
}

/* Runs one instance of a scenario (row: the Examples row, 0 for none). */
static void run_scenario(const struct scenario *sc, size_t row)
{
    char what[256], err[256];
    const struct table *ex = &sc->examples;
    snprintf(what, sizeof(what), "scenario \"%s\" (line %d, example %zu)", sc->name, sc->line, row);
    if (!sc->payload || !sc->attrs.rows || !sc->data)
        fail_msg("%s: no payload, attributes or data", what);
    char *value = substitute(sc->payload, ex, row);
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    for (size_t i = 1; i < sc->headers.rows; i++) {
        char *v = substitute(sc->headers.cell[i][1], ex, row);
        rd_kafka_header_add(h, sc->headers.cell[i][0], -1, v, -1);
        free(v);
    }
    struct hb_event *ev = NULL;
    enum hb_ce_mode mode;
    if (hb_kafka_decode(value, strlen(value), NULL, 0, h, &ev, &mode, err, sizeof(err)) < 0)
        fail_msg("%s: not decoded: %s", what, err);
    assert_int_equal(ev->nattrs, sc->attrs.rows - 1);
    for (size_t i = 1; i < sc->attrs.rows; i++) {
        char *want = substitute(sc->attrs.cell[i][1], ex, row);
        const char *got = hb_event_get(ev, sc->attrs.cell[i][0]);
        if (!got || strcmp(got, want) != 0)
            fail_msg("%s: %s: want \"%s\", got \"%s\"", what, sc->attrs.cell[i][0], want,
                     got ? got : "(absent)");
        free(want);
    }
    char *data = substitute(sc->data, ex, row);
    cJSON *want = hb_json_parse(data, strlen(data));
    cJSON *got = ev->data ? hb_json_parse((const char *)ev->data, ev->data_len) : NULL;
    assert_non_null(want);
    if (!got || !cJSON_Compare(got, want, true))
        fail_msg("%s: data differs", what);
    cJSON_Delete(got);
    cJSON_Delete(want);
    free(data);
    hb_event_free(ev);
    rd_kafka_headers_destroy(h);
    free(value);
}

static void test_kafka_binding_feature(void **state)
{
    (void)state;
    struct reader r = {0};
    struct scenario sc[MAX_SCENARIOS];
    r.text = hbt_read_source(FEATURE_FILE, NULL);
    size_t cap = 1;
    for (const char *p = r.text; *p; p++)
        cap += *p == '\n';
    r.lines = calloc(cap, sizeof(*r.lines));
    assert_non_null(r.lines);
    for (char *p = r.text; p && *p;) {
        r.lines[r.n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    size_t n = parse_feature(&r, sc, MAX_SCENARIOS), runs = 0;
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (sc[i].examples.rows) {
            for (size_t row = 1; row < sc[i].examples.rows; row++, runs++)
                run_scenario(&sc[i], row);
        } else {
            run_scenario(&sc[i], 0);
            runs++;
        }
        free(sc[i].payload);
        free(sc[i].data);
    }
    print_message("kafka-protocol-binding.feature: %zu scenarios, %zu runs decoded\n", n, runs);
    free(r.lines);
    free(r.text);
}

/* ---- the Avro schema ------------------------------------------------------- */

static void test_avro_schema_is_the_spec(void **state)
{
    (void)state;
    size_t a, b;
    char *ours = hbt_read_source("schemas/cloudevent.avsc", &a);
    char *spec = hbt_read_source("tests/conformance/avro/cloudevents.avsc", &b);
    assert_int_equal(a, b);
    assert_memory_equal(ours, spec, a);
    free(ours);
    free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_events),
        cmocka_unit_test(test_invalid_events),
        cmocka_unit_test(test_kafka_binding_feature),
        cmocka_unit_test(test_avro_schema_is_the_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
