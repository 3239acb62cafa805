/* promotions.c: which Promotions wait on which pull request, and what a
 * pull request event names (see promotions.h for the rule and its source). */
#include "promotions.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "hookbus/repo.h"
#include "hookbus/util.h"

#define PR_TYPE "dev.hookbus.git.pull_request"
#define MAX_STEPS 1000 /* steps of one Promotion looked at */

/* "url:<url>" with trailing slashes dropped (the only difference between
 * two spellings of one pull request's page seen in practice); -1 when url
 * is empty or too long. */
static int url_key(const char *url, char *out, size_t outlen)
{
    size_t n = url ? strlen(url) : 0;
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (!n)
        return -1;
    return hb_snprintf(out, outlen, "url:%.*s", (int)n, url);
}

/* "pr:<canonical repository id>#<number>"; -1 when repo_url is no Git
 * repository URL or number is not positive. */
static int num_key(const char *repo_id, long number, char *out, size_t outlen)
{
    if (!repo_id || !repo_id[0] || number <= 0)
        return -1;
    return hb_snprintf(out, outlen, "pr:%s#%ld", repo_id, number);
}

int kargo_pr_from_event(const struct hb_event *ev, struct kargo_pr *out)
{
    memset(out, 0, sizeof(*out));
    const char *type = hb_event_get(ev, "type");
    if (!type || strcmp(type, PR_TYPE) != 0 || !ev->data || !ev->data_len)
        return -1;
    cJSON *data = cJSON_ParseWithLength((const char *)ev->data, ev->data_len);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(data, "pull_request");
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(pr, "action");
    const cJSON *number = cJSON_GetObjectItemCaseSensitive(pr, "number");
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(pr, "url");
    if (cJSON_IsString(url) && url_key(url->valuestring, out->url_key, sizeof(out->url_key)) < 0)
        out->url_key[0] = '\0';
    if (cJSON_IsNumber(number) && number->valuedouble >= 1 && number->valuedouble < 1e15 &&
        num_key(hb_event_get(ev, "repo"), (long)number->valuedouble, out->num_key,
                sizeof(out->num_key)) < 0)
        out->num_key[0] = '\0';
    if (cJSON_IsString(action))
        (void)hb_strlcpy(out->action, action->valuestring, sizeof(out->action));
    out->final = strcmp(out->action, "merged") == 0 || strcmp(out->action, "closed") == 0;
    cJSON_Delete(data);
    return out->url_key[0] || out->num_key[0] ? 0 : -1;
}

/* A literal value of a step's config: not an expression (${{ ... }}),
 * which only the controller can evaluate. */
static bool literal(const char *s)
{
    return s && s[0] && !strstr(s, "${{");
}

/* The number config.prNumber names literally (a number, or a string of
 * digits), else 0. */
static long literal_number(const cJSON *v)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 1e15)
        return (long)v->valuedouble;
    if (cJSON_IsString(v) && literal(v->valuestring)) {
        char *end = NULL;
        long n = strtol(v->valuestring, &end, 10);
        if (end && !*end && n > 0)
            return n;
    }
    return 0;
}

/* The keys of one waiting step: its output's pr.url (Kargo's rule), else
 * the repository and number its config names literally. True when any. */
static bool step_keys(const cJSON *step, const cJSON *state, size_t slot, struct hb_kube_keys *keys)
{
    char key[KARGO_PR_KEY_MAX];
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(step, "as");
    if (cJSON_IsString(as) && as->valuestring[0]) {
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(state, as->valuestring);
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(out, "pr"), "url");
        if (cJSON_IsString(url) && url_key(url->valuestring, key, sizeof(key)) == 0)
            return hb_kube_keys_add(keys, key, slot) == 0;
    }
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(step, "config");
    const cJSON *repo = cJSON_GetObjectItemCaseSensitive(cfg, "repoURL");
    long number = literal_number(cJSON_GetObjectItemCaseSensitive(cfg, "prNumber"));
    char id[HB_REPO_ID_MAX];
    if (!cJSON_IsString(repo) || !literal(repo->valuestring) ||
        hb_repo_git_id(repo->valuestring, id, sizeof(id)) < 0 ||
        num_key(id, number, key, sizeof(key)) < 0)
        return false;
    return hb_kube_keys_add(keys, key, slot) == 0;
}

void *kargo_promo_compile(void *ud, const void *obj, const char *ns, const char *name,
                          struct hb_kube_keys *keys)
{
    (void)ud;
    (void)ns;
    (void)name;
    const cJSON *promo = obj;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(promo, "status");
    const cJSON *phase = cJSON_GetObjectItemCaseSensitive(status, "phase");
    if (!cJSON_IsString(phase) || strcmp(phase->valuestring, "Running") != 0)
        return NULL;
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(status, "currentStep");
    double current = cJSON_IsNumber(cur) ? cur->valuedouble : 0; /* omitempty: 0 */
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(status, "state");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(promo, "spec"), "steps");
    const char *first = NULL;
    const cJSON *step;
    size_t i = 0;
    cJSON_ArrayForEach (step, steps) {
        if ((double)i > current || i >= MAX_STEPS)
            break;
        const cJSON *uses = cJSON_GetObjectItemCaseSensitive(step, "uses");
        if (cJSON_IsString(uses) && strcmp(uses->valuestring, KARGO_WAIT_STEP) == 0 &&
            step_keys(step, state, i, keys) && !first) {
            const cJSON *as = cJSON_GetObjectItemCaseSensitive(step, "as");
            first = cJSON_IsString(as) && as->valuestring[0] ? as->valuestring : KARGO_WAIT_STEP;
        }
        i++;
    }
    return first ? strdup(first) : NULL;
}

void kargo_promo_release(void *ud, void *value)
{
    (void)ud;
    free(value);
}
