/*
 * ctl_top: `smsqctl top`, the live view of a draining backlog.
 *
 * Reads the store (store_stats: O(1), read-only, never in the pool's way) and
 * the pacing file (the providers' limits, circuits, Retry-After holds) once
 * per interval and shows: waiting (ready, delayed, in flight), sent, failed,
 * expired, the send rate, a progress bar and the time left (waiting segments
 * over the paced rate) with how many waiting appointments come before it
 * ends (store_due_before()), or "growing" / "stalled" when it will not
 * drain.
 */
#ifndef SMSQ_CTL_TOP_H
#define SMSQ_CTL_TOP_H

#include "store/store.h"
#include "common/attrs.h"

struct top_opts {
	const char *dir;        /* data directory */
	long interval_ms;       /* refresh period */
	int until_drained;      /* exit once nothing waits (after something did) */
	long max_seconds;       /* give up after this long (0: never) */
	int plain;              /* one line per refresh, no screen redraw */
};

/* Run the view.  Returns the exit code (0; 1 on a store error; 3 when
 * max_seconds passed before the backlog drained). */
int top_run(store *st, const struct top_opts *o) SMSQ_WARN_UNUSED;

#endif
