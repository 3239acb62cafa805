/* event_facts.h: what a consumer that matches events against objects needs
 * to know of a hookbus event (its kind, canonical repository, branch, tag,
 * digest, changed paths), read once from the attributes and the data. */
#ifndef HOOKBUS_EVENT_FACTS_H
#define HOOKBUS_EVENT_FACTS_H

#include <stdbool.h>
#include <stddef.h>

#include "hookbus/event.h"

enum hb_facts_kind {
    HB_FACTS_GIT,      /* dev.hookbus.git.* */
    HB_FACTS_ARTIFACT, /* dev.hookbus.image.push, dev.hookbus.chart.push */
    HB_FACTS_OTHER,    /* ref.requested, source.changed, foreign types */
};

#define HB_FACTS_MAX_PATHS 10000

struct hb_facts {
    enum hb_facts_kind kind;
    bool chart;                 /* dev.hookbus.chart.push */
    const char *repo;           /* canonical id (the repo attribute) */
    const char *ref;            /* the ref attribute as given, else NULL */
    const char *branch;         /* from ref refs/heads/<branch> (or a bare ref), else NULL */
    const char *tag;            /* the tag attribute, or ref refs/tags/<tag>, else NULL */
    const char *digest;         /* the digest attribute, else NULL */
    const char *default_branch; /* data.default_branch when a sender gives it, else NULL */
    const char **paths;         /* data.changed_paths when present and not truncated */
    size_t npaths;
    bool paths_known;
    void *data; /* cJSON * that owns paths */
};

/* Extracts the facts of ev. The strings are borrowed from ev, which must
 * outlive the facts. 0, or -1 when ev has no repo attribute. Free with
 * hb_facts_clear (also after -1). */
int hb_facts_from_event(const struct hb_event *ev, struct hb_facts *f);
void hb_facts_clear(struct hb_facts *f);

#endif
