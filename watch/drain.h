/*
 * drain: how a backlog drains, from samples of the store's counters taken
 * at a steady interval (smsqctl top, the pool's monitor).
 *
 * The rate is what was done (sent, delivered, failed, expired) over the
 * window of the last `window` samples.  The backlog that can drain now is
 * ready and in flight, plus delayed messages that come due soon (retries);
 * messages scheduled further than DRAIN_SCHEDULED_MS ahead (a reminder's
 * not-before) are not a backlog.  A state says which of these holds:
 *
 *   drained     nothing due
 *   growing     the due backlog rose over the window and still rises over
 *               its last quarter: it arrives faster than it drains (no time
 *               left can be promised)
 *   stalled     a full window with nothing done while work is due
 *   draining    time left = SMS parts waiting / the rate the pace allows
 *               (the first provider that takes traffic, at its effective
 *               rate), or / the measured rate when no provider has said
 *   measuring   too few samples yet
 */
#ifndef SMSQ_DRAIN_H
#define SMSQ_DRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "store/pace.h"
#include "store/store.h"

#define DRAIN_WINDOW_MAX 64
#define DRAIN_SCHEDULED_MS 60000 /* delayed further than this: scheduled, not backlog */

enum drain_state {
	DRAIN_MEASURING = 0,
	DRAIN_DRAINED = 1,
	DRAIN_DRAINING = 2,
	DRAIN_GROWING = 3,
	DRAIN_STALLED = 4,
};

struct drain_sample {
	int64_t t_ms;      /* when (mono) */
	uint64_t done;     /* sent + delivered + failed + expired */
	uint64_t due;      /* the backlog that can drain now */
};

struct drain {
	struct drain_sample win[DRAIN_WINDOW_MAX];
	size_t n;          /* samples held */
	size_t window;     /* samples in the window (2..DRAIN_WINDOW_MAX) */
};

/* What the samples say. */
struct drain_eval {
	enum drain_state state;
	double rate;            /* done per second over the window (0: unknown yet) */
	double pace_per_s;      /* the rate the pace allows now (0: no provider takes traffic
				   or none known) */
	double time_left_s;     /* draining: time to empty it; else -1 */
	uint64_t due;           /* the backlog that can drain now */
	uint64_t scheduled;     /* waiting but scheduled for later (not in due) */
	int no_provider;        /* stalled, and no provider takes traffic */
};

/* Start with a window of `window` samples (clamped to 2..DRAIN_WINDOW_MAX). */
void drain_init(struct drain *d, size_t window);

/* Add the sample of stats s (read at mono time now_ms, wall time wall_ms)
 * and the providers' states pv[0..npv), and say what they show in *out. */
void drain_add(struct drain *d, const struct store_stats *s, int64_t now_ms, int64_t wall_ms,
	       const struct pace_view *pv, int npv, struct drain_eval *out);

/* "draining", "growing"... */
const char *drain_state_name(enum drain_state s);

/* Messages stored that no longer wait: final ones and purged ones (total
 * less waiting), so that it never goes down when the retention purges. */
uint64_t drain_done_of(const struct store_stats *s);

#endif
