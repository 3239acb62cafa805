/* harness.h: what the libFuzzer drivers share.
 *
 * Most drivers read an HTTP-like message so that seeds stay readable and the
 * fuzzer can mutate headers and body independently:
 *
 *     [first line]\n            (only when the driver asks for one)
 *     Name: value\n             (zero or more header lines)
 *     \n
 *     body bytes (anything, to the end of the input)
 *
 * A header name starting with ':' is a driver option (":key", ":repository").
 * Names and values are NUL-terminated copies; values may be empty and may
 * hold NUL bytes (value_lens). */
#ifndef FUZZ_HARNESS_H
#define FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway.h"
#include "receivers/receiver.h"

#define FUZZ_MAX_HEADERS 64

struct fuzz_msg {
    char *first; /* the first line, when asked for (else NULL) */
    char *names[FUZZ_MAX_HEADERS], *values[FUZZ_MAX_HEADERS];
    size_t value_lens[FUZZ_MAX_HEADERS]; /* values may hold NUL bytes */
    size_t nheaders;
    const unsigned char *body; /* points into the input */
    size_t body_len;
    char *copy; /* owns every string above */
};

/* Splits data into a message. Returns 0, or -1 when the input is not one
 * (too many headers, a header line without ':'): drivers just return then. */
int fuzz_msg_parse(const uint8_t *data, size_t size, bool first_line, struct fuzz_msg *m);
void fuzz_msg_free(struct fuzz_msg *m);
/* The value of a header (case-insensitive), or NULL. */
const char *fuzz_msg_header(const struct fuzz_msg *m, const char *name);

/* A gw_request over m: header/each_header answer from m (options excluded),
 * content_type is the lowercase media type of Content-Type (into ct). */
void fuzz_request(const struct fuzz_msg *m, struct gw_request *req, char *ct, size_t ctlen);

/* The receivers of tests/fixtures/receivers.yaml (one per type, with their
 * type options), loaded through gw_config_load on first use from
 * $HB_SOURCE_DIR (default: the current directory). NULL when not found. */
const struct gw_config *fuzz_receivers(void);

/* The libFuzzer entry points. harness.c defines LLVMFuzzerInitialize: it
 * silences the library's logs and calls fuzz_init, which a driver may define
 * for its own set-up (0, or -1 to stop). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int fuzz_init(void) __attribute__((weak));

#endif
