/* fault.c: hb_fault, test-only fault injection (see hookbus/fault.h). The
 * whole file is empty unless the build defines HB_FAULT_INJECTION. */
#include "hookbus/fault.h"

#ifdef HB_FAULT_INJECTION
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/util.h"

bool hb_fault(const char *site)
{
    static atomic_long hits;
    const char *spec = getenv("HOOKBUS_FAULT");
    size_t n = strlen(site);
    long nth;
    if (!spec || strncmp(spec, site, n) != 0 || spec[n] != ':' ||
        hb_parse_long(spec + n + 1, 1, 1000000000L, &nth) != 0)
        return false;
    return atomic_fetch_add(&hits, 1) + 1 == nth;
}
#else
typedef int hb_fault_unused; /* ISO C wants a translation unit to declare something */
#endif
