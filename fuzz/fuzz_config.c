/* fuzz_config.c: the YAML configuration loader and the gateway's binding.
 *
 * Input: a YAML document. hb_config_load_string builds the node tree (its
 * bounds: size, depth, node count, duplicate keys); the tree is walked and
 * converted to JSON. The same text is then loaded as a gateway configuration
 * through gw_config_load (from a memfd): field binding, bounds, receivers and
 * their type options, unknown keys. Secret references other than literal: are
 * left to the unit tests (they read files and the environment). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "gateway.h"
#include "hookbus/config.h"

static int memfd = -1;

int fuzz_init(void)
{
    memfd = memfd_create("fuzz-config", 0);
    return memfd < 0 ? -1 : 0;
}

static size_t walk(const struct hb_node *n, int depth)
{
    size_t count = 1;
    if (depth > 64)
        abort(); /* the loader bounds depth at 32 */
    for (size_t i = 0; i < n->n; i++)
        count += walk(&n->items[i], depth + 1);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hb_config hc;
    char err[512], path[64];
    if (hb_config_load_string("fuzz.yaml", (const char *)data, size, &hc, err, sizeof(err)) == 0) {
        walk(hc.root, 0);
        cJSON_Delete(hb_node_to_cjson(hc.root));
        hb_config_check_unused(&hc, err, sizeof(err));
        hb_config_free(&hc);
    }
    /* Secrets from files or the environment stay out of reach. */
    if (memmem(data, size, "file:", 5) || memmem(data, size, "env:", 4))
        return 0;
    if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
        return 0;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    struct gw_config cfg;
    if (gw_config_load(path, &cfg, err, sizeof(err)) == 0)
        gw_config_free(&cfg);
    return 0;
}
