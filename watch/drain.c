/*
 * drain: the drain's rate, state and time left (see drain.h).
 *
 * DESIGN
 * A window of samples in an array, oldest first; a new sample past the
 * window drops the oldest (memmove of at most DRAIN_WINDOW_MAX small
 * structs).  The rate compares the newest with the oldest; "growing"
 * compares their due backlogs, so a backlog that rises and falls within
 * the window says nothing, and asks that it still rose over the last
 * quarter of the window: a burst that ended a few seconds ago, its backlog
 * now draining, is not "growing" for the rest of the window.  The time left divides SMS parts by units per
 * second, the unit most providers count (a provider counting messages is
 * paced by messages, and the two differ only for long texts).
 */
#include "watch/drain.h"

#include <string.h>

void drain_init(struct drain *d, size_t window)
{
	memset(d, 0, sizeof(*d));
	d->window = window < 2 ? 2 : window > DRAIN_WINDOW_MAX ? DRAIN_WINDOW_MAX : window;
}

uint64_t drain_done_of(const struct store_stats *s)
{
	/* Every message stored and no longer waiting: purged ones too (the
	 * per-state counts drop when the retention purges). */
	return s->total > s->waiting ? s->total - s->waiting : 0;
}

const char *drain_state_name(enum drain_state s)
{
	switch (s) {
	case DRAIN_DRAINED:
		return "drained";
	case DRAIN_DRAINING:
		return "draining";
	case DRAIN_GROWING:
		return "growing";
	case DRAIN_STALLED:
		return "stalled";
	default:
		return "measuring";
	}
}

void drain_add(struct drain *d, const struct store_stats *s, int64_t now_ms, int64_t wall_ms,
	       const struct pace_view *pv, int npv, struct drain_eval *out)
{
	int scheduled_only = s->count[STORE_STATE_DELAYED] > 0 &&
			     s->next_due_ms > wall_ms + DRAIN_SCHEDULED_MS;
	uint64_t due = s->count[STORE_STATE_READY] + s->count[STORE_STATE_INFLIGHT] +
		       (scheduled_only ? 0 : s->count[STORE_STATE_DELAYED]);
	const struct drain_sample *first, *last;

	if (d->n == d->window) {
		memmove(d->win, d->win + 1, sizeof(d->win[0]) * (d->window - 1));
		d->n--;
	}
	d->win[d->n++] = (struct drain_sample){ now_ms, drain_done_of(s), due };
	first = &d->win[0];
	last = &d->win[d->n - 1];
	memset(out, 0, sizeof(*out));
	out->due = due;
	out->scheduled = s->waiting - (due < s->waiting ? due : s->waiting);
	out->time_left_s = -1;
	if (d->n > 1 && last->t_ms > first->t_ms && last->done >= first->done)
		out->rate = (double)(last->done - first->done) * 1000.0 /
			    (double)(last->t_ms - first->t_ms);
	for (int i = 0; i < npv && out->pace_per_s == 0; i++)
		if (!pv[i].circuit_open && !pv[i].misconfigured && !pv[i].paused)
			out->pace_per_s = pv[i].effective_per_s;
	if (due == 0) {
		out->state = DRAIN_DRAINED;
		out->time_left_s = 0;
	} else if (d->n > 2 && last->due > first->due &&
		   last->due > d->win[d->n - 1 - (d->n / 4 > 1 ? d->n / 4 : 1)].due) {
		out->state = DRAIN_GROWING;
	} else if (d->n == d->window && out->rate == 0) {
		out->state = DRAIN_STALLED;
		out->no_provider = npv > 0 && out->pace_per_s == 0;
	} else {
		double r = out->pace_per_s > 0 ? out->pace_per_s : out->rate;

		if (r > 0) {
			out->state = DRAIN_DRAINING;
			out->time_left_s = (double)s->segments_waiting / r;
		} else {
			out->state = DRAIN_MEASURING;
		}
	}
}
