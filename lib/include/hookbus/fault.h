/* hookbus/fault.h: fault injection for tests, after curl's "torture" runs.
 *
 * In builds with HB_FAULT_INJECTION (the sanitizer build, `make asan`),
 * hb_fault("site") is true on the n-th time a site is reached when the
 * environment has HOOKBUS_FAULT=site:n (one site); everywhere else it is the
 * constant false and costs nothing. Sites are the error paths no test could
 * reach otherwise, such as an allocation failing in the consumer's loop. */
#ifndef HOOKBUS_FAULT_H
#define HOOKBUS_FAULT_H

#include <stdbool.h>

#ifdef HB_FAULT_INJECTION
bool hb_fault(const char *site);
#define HB_FAULT_BUILD 1
#else
#define hb_fault(site) ((void)(site), false)
#define HB_FAULT_BUILD 0
#endif

#endif
