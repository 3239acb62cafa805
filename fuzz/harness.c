/* harness.c: input framing and the fake HTTP request the drivers share. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hookbus/log.h"
#include "hookbus/util.h"

/* Cuts the next '\n'-terminated line at *p (in place, a trailing '\r'
 * dropped); *len gets its length. NULL at the end of the input. */
static char *next_line(char **p, char *end, size_t *len)
{
    if (*p >= end)
        return NULL;
    char *line = *p;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl)
        return NULL;
    *p = nl + 1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        *--nl = '\0';
    *len = (size_t)(nl - line);
    return line;
}

int fuzz_msg_parse(const uint8_t *data, size_t size, bool first_line, struct fuzz_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->copy = malloc(size + 1);
    if (!m->copy)
        return -1;
    memcpy(m->copy, data, size);
    m->copy[size] = '\0';
    char *p = m->copy, *end = m->copy + size, *line;
    size_t len;
    if (first_line && !(m->first = next_line(&p, end, &len)))
        goto fail;
    while ((line = next_line(&p, end, &len)) && len) {
        /* Options start with ':', so look for the separator after it. */
        char *colon = strchr(line + (*line == ':'), ':');
        if (!colon || m->nheaders == FUZZ_MAX_HEADERS)
            goto fail;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        m->names[m->nheaders] = line;
        m->value_lens[m->nheaders] = len - (size_t)(v - line);
        m->values[m->nheaders++] = v;
    }
    m->body = (const unsigned char *)p;
    m->body_len = (size_t)(end - p);
    return 0;
fail:
    fuzz_msg_free(m);
    return -1;
}

void fuzz_msg_free(struct fuzz_msg *m)
{
    free(m->copy);
    memset(m, 0, sizeof(*m));
}

const char *fuzz_msg_header(const struct fuzz_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++)
        if (strcasecmp(m->names[i], name) == 0)
            return m->values[i];
    return NULL;
}

static const char *req_header(const struct gw_request *req, const char *name)
{
    return *name == ':' ? NULL : fuzz_msg_header(req->conn, name);
}

static void req_each_header(const struct gw_request *req,
                            void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    const struct fuzz_msg *m = req->conn;
    for (size_t i = 0; i < m->nheaders; i++)
        if (m->names[i][0] != ':')
            fn(arg, m->names[i], m->values[i]);
}

void fuzz_request(const struct fuzz_msg *m, struct gw_request *req, char *ct, size_t ctlen)
{
    /* As http.c: the media type, lowercase, without parameters. */
    const char *v = fuzz_msg_header(m, "Content-Type");
    ct[0] = '\0';
    if (v) {
        while (*v == ' ')
            v++;
        size_t n = strcspn(v, "; \t");
        hb_strlcpy(ct, v, n < ctlen ? n + 1 : ctlen);
        hb_str_lower(ct);
    }
    *req = (struct gw_request){.method = "POST",
                               .remote = "127.0.0.1",
                               .content_type = ct,
                               .body = m->body,
                               .body_len = m->body_len,
                               .header = req_header,
                               .each_header = req_each_header,
                               .conn = (void *)m};
}

const struct gw_config *fuzz_receivers(void)
{
    static struct gw_config cfg;
    static int state; /* 0 not tried, 1 loaded, -1 unavailable */
    char path[4096], fixtures[4096], err[512], fdpath[64];
    if (state)
        return state > 0 ? &cfg : NULL;
    state = -1;
    const char *src = getenv("HB_SOURCE_DIR");
    snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures", src && *src ? src : ".");
    snprintf(path, sizeof(path), "%s/receivers.yaml", fixtures);
    size_t len;
    char *text = hb_read_file(path, 1 << 20, &len, err, sizeof(err));
    if (!text)
        return NULL;
    /* receivers.yaml names files as @FIXTURES@/...: make them absolute. */
    struct hb_buf b;
    hb_buf_init(&b, 4u << 20);
    for (const char *p = text, *at; *p; p = at + strlen("@FIXTURES@")) {
        at = strstr(p, "@FIXTURES@");
        if (!at) {
            hb_buf_puts(&b, p);
            break;
        }
        hb_buf_append(&b, p, (size_t)(at - p));
        hb_buf_puts(&b, fixtures);
    }
    free(text);
    int fd = memfd_create("fuzz-receivers", 0);
    if (fd >= 0 && b.p && write(fd, b.p, b.len) == (ssize_t)b.len) {
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        if (gw_config_load(fdpath, &cfg, err, sizeof(err)) == 0)
            state = 1;
        else
            fprintf(stderr, "fuzz: %s: %s\n", path, err);
    }
    if (fd >= 0)
        close(fd);
    hb_buf_free(&b);
    return state > 0 ? &cfg : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    hb_log_setup((enum hb_log_level)(HB_LOG_ERROR + 1), HB_LOG_TEXT);
    return fuzz_init ? fuzz_init() : 0;
}
