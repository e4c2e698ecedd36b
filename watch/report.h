/*
 * report: one look at a pool (struct watch_view), and what it says as
 * Prometheus text (GET /metrics) and as JSON (GET /status.json, the status
 * page's source).
 *
 * A view is read from the data directory alone: the store's counters
 * (store_stats()), the processes' shared counters (store/counters.h) and
 * the pacing file (store/pace.h), plus what only a series of views can
 * tell (the drain's rate and state, the rate each provider is used at),
 * which the caller keeps (watch_view_read()'s `prev` and drain).
 *
 * The metrics are documented in docs/METRICS.md; their names and labels
 * are a contract (the alert rules and the dashboard in etc/ use them).  No
 * label carries a number, a name, a text or a message id: providers by
 * their configured name, reasons by their class.
 */
#ifndef SMSQ_REPORT_H
#define SMSQ_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "store/counters.h"
#include "store/pace.h"
#include "store/store.h"
#include "watch/drain.h"
#include "common/attrs.h"

#define REPORT_DUE_WALK_MAX 100000 /* entries store_due_before() may read per view */

struct watch_view {
	int64_t wall_ms;                       /* when it was read (wall clock) */
	int64_t mono_ms;                       /* and on the monotonic clock */
	struct store_stats st;                 /* the store */
	struct counters_data c;                /* the processes' counters, summed */
	int has_counters;                      /* 0: no counters file yet */
	struct pace_view prov[PACE_MAX_SLOTS]; /* providers with a pacing slot */
	int n_prov;
	double used_per_s[PACE_MAX_SLOTS];     /* units sent per second, by prov[] index,
						  over the drain window (-1: unknown yet) */
	double arrival_per_s;                  /* events accepted per second over the window
						  (-1: unknown yet) */
	struct store_pause paused[STORE_PAUSE_MAX]; /* what an operator paused */
	int n_paused;
	struct drain_eval drain;               /* rate, state, time left */
	struct store_due due;                  /* set against the drain's end, when known */
	int has_due;                           /* due is set (draining, or drained) */
};

/*
 * Read a view of the pool in dir through st (a store handle of this
 * thread), into v.  d: the drain window, which this view joins; prev: the
 * view of the window's start (for the providers' used rates; NULL: none).
 * Returns 0, or -1 with err set when the store cannot be read (the
 * counters or the pacing file missing is not an error: a pool that has
 * not sent yet).
 */
int watch_view_read(store *st, const char *dir, struct drain *d, const struct watch_view *prev,
		    struct watch_view *v, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* The view in the Prometheus text exposition format (version 0.0.4).
 * Returns 0, or -1 on a write error. */
int report_metrics(const struct watch_view *v, const char *version, FILE *out) SMSQ_WARN_UNUSED;

/* The view as a JSON object (jansson's json_t *, returned as void * so that
 * this header does not need jansson's): its keys are documented in
 * docs/METRICS.md.  recent: the counters an hour ago (or the oldest kept;
 * NULL: none), for the failures of the last hour.  NULL on out of memory;
 * caller json_decref()s it. */
void *report_status_json(const struct watch_view *v, const struct counters_data *recent,
			 int64_t recent_ms);

#endif
