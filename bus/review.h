/* review.h — the review page of reconciliation, served by lgspd on loopback.
 *
 * Reviewers log in (review.users, reviewusers.h), open the queue of
 * possible matches (review.queue: the JSON lines `lgsp dedup --out` writes
 * as review.jsonl), filter it by 2025 commune and by source, and open a
 * pair: its records side by side with the differences marked, the
 * match-weight waterfall (er_explain), and accept (a LINK decision),
 * reject (UNLINK) or, for a group of more than two records, split (the
 * chosen records UNLINKed from the others). Each decision is stored in the
 * entity store (erstore_decide) with the reviewer and the time, applied to
 * the store's entities at once, and applied again by every later
 * `lgsp dedup --store` and by the streaming stage.
 *
 * The page has its own libmicrohttpd daemon on its own loopback port
 * (review.listen): it needs cookies and response headers that lgspd's
 * /metrics endpoint (http.c) neither reads nor sets, and a port of its own
 * keeps the monitoring endpoint free of sessions and logins. Every setting
 * is the `review:` section of lgspd.yaml (config.h);
 * ../../notes/review-docs.md and docs/reconciliation.md describe them. */
#ifndef LGSP_REVIEW_H
#define LGSP_REVIEW_H

#include "config.h"

typedef struct review review_t;

/* Loads the spec, the records, the store's model and the queue, and starts
 * serving on cfg->review_listen. NULL with *err (caller frees) on failure.
 * Call only when cfg has a review section (cfg->review_store set). */
review_t *review_new(const config_t *cfg, char **err);
/* Stops serving (no handler runs after it returns) and frees everything. */
void review_destroy(review_t **self_p);
/* The port bound (review.listen may ask for port 0). */
int review_port(const review_t *self);

/* lgspd --check-config: the spec and the users file load. 0, or -1 with
 * *err (caller frees). */
int review_check(const config_t *cfg, char **err);

#endif
