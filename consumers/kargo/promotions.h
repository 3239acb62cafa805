/* promotions.h: the Kargo Promotions waiting on a pull request, and the pull
 * request events that wake them (issue 21).
 *
 * Kargo 1.11's own webhook receivers answer a merged or closed pull request
 * by refreshing every Running Promotion that waits on it: a field index
 * (RunningPromotionsByPullRequestURL) lists, for each `git-wait-for-pr` step
 * up to status.currentStep that has an alias (`as`), the pull request URL
 * the step wrote into its output (status.state[as].pr.url), and the
 * receivers look the event's URL up there and set the refresh annotation.
 * hookbus-kargo keeps the same index in a list + watch cache of
 * promotions.kargo.akuity.io, compiled on every change (the status is what
 * it reads). One addition: a waiting step whose output has no URL yet (it
 * has not run once) is indexed by its config when that names the
 * repository and the number literally (`repoURL`, `prNumber`). Pure logic
 * here, no I/O: unit tests include promotions.c. */
#ifndef KARGO_PROMOTIONS_H
#define KARGO_PROMOTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event.h"
#include "hookbus/kube_cache.h"

#define KARGO_WAIT_STEP "git-wait-for-pr"
#define KARGO_PR_KEY_MAX 1100

/* What a dev.hookbus.git.pull_request event says about its pull request:
 * its index keys (by URL, and by canonical repository + number) and whether
 * the action is one a waiting step finishes on (merged, closed). */
struct kargo_pr {
    char url_key[KARGO_PR_KEY_MAX]; /* "url:<url>", "" when the event has no URL */
    char num_key[KARGO_PR_KEY_MAX]; /* "pr:<repo id>#<number>", "" without a number */
    char action[16];
    bool final; /* merged or closed */
};

/* Reads the pull request of ev. 0, or -1 when ev is not a pull_request
 * event (or names no pull request). */
int kargo_pr_from_event(const struct hb_event *ev, struct kargo_pr *out);

/* The kube cache's compile callback for a Promotion (a cJSON *): adds one
 * key per waiting step (see above) and returns the Promotion's value (the
 * alias of its first waiting step, malloc'd), or NULL when it waits on no
 * pull request (not Running, no such step reached, nothing to match on). */
void *kargo_promo_compile(void *ud, const void *obj, const char *ns, const char *name,
                          struct hb_kube_keys *keys);
void kargo_promo_release(void *ud, void *value);

#endif
