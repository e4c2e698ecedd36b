/*
 * ctl_top: the live drain view (see ctl_top.h).
 *
 * The rate, the state and the time left are watch/drain's, over a window of
 * the last TOP_RATE_WINDOW samples: the figures the pool's status page and
 * metrics show.
 */
#include "ctl/ctl_top.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/counters.h"
#include "store/pace.h"
#include "watch/drain.h"
#include "watch/report.h"

#define TOP_RATE_WINDOW 8      /* samples in the rate window */
#define TOP_BAR_WIDTH 40
#define TOP_MAX_PROVIDERS 8
#define TOP_STATE_MAX 160      /* a provider's state as shown */

static volatile sig_atomic_t top_stop;

static void on_int(int sig)
{
	(void)sig;
	top_stop = 1;
}

static void fmt_duration(char *out, size_t len, double s)
{
	if (s < 90)
		snprintf(out, len, "%.0f s", s);
	else if (s < 5400)
		snprintf(out, len, "%.0f min %02.0f s", s / 60 - 0.5, s - 60 * (long)(s / 60));
	else
		snprintf(out, len, "%.1f h", s / 3600);
}

/* A provider as top shows it: "limit 100/s, provider allows ~20/s
 * [misconfigured: http 401]"; on_share: processes pacing it on this
 * node's share (pace.shared not answering).  Returns how many of its parts
 * are out of the ordinary (a lower rate, a state): 0 for "limit 100/s"
 * alone. */
static int provider_state(const struct pace_view *v, uint64_t on_share, char *out, size_t len)
{
	int odd = 0;
	size_t n = (size_t)snprintf(out, len, "limit %.0f/s", v->units_per_s);

#define ADD(...) do { if (n < len) n += (size_t)snprintf(out + n, len - n, __VA_ARGS__); \
		      odd++; } while (0)
	if (v->effective_per_s < v->units_per_s * 0.995)
		ADD(", provider allows ~%.*f/s", v->effective_per_s < 10 ? 1 : 0,
		    v->effective_per_s);
	if (v->paused)
		ADD(" [paused]");
	if (v->misconfigured)
		ADD(" [misconfigured: %s]", v->reason);
	else if (v->circuit_open)
		ADD(" [circuit open]");
	if (v->blocked_ms > 0)
		ADD(" [held %lld ms]", (long long)v->blocked_ms);
	if (on_share > 0)
		ADD(" [on this node's share: pace.shared not answering]");
#undef ADD
	return odd;
}

static void draw(const struct top_opts *o, const struct store_stats *s, double rate,
		 const char *eta, const struct pace_view *pv, int npv, const uint64_t *on_share,
		 int first)
{
	uint64_t done = drain_done_of(s);
	uint64_t all = done + s->waiting;
	double frac = all ? (double)done / (double)all : 1.0;
	int fill = (int)(frac * TOP_BAR_WIDTH + 0.5);
	char bar[TOP_BAR_WIDTH + 1];

	for (int i = 0; i < TOP_BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[TOP_BAR_WIDTH] = '\0';
	if (o->plain) {
		printf("waiting=%llu inflight=%llu sent=%llu failed=%llu expired=%llu rate=%.0f/s "
		       "progress=%.1f%% left=%s",
		       (unsigned long long)s->waiting,
		       (unsigned long long)s->count[STORE_STATE_INFLIGHT],
		       (unsigned long long)s->count[STORE_STATE_SENT],
		       (unsigned long long)s->count[STORE_STATE_FAILED],
		       (unsigned long long)s->count[STORE_STATE_EXPIRED], rate, frac * 100, eta);
		/* Only what is out of the ordinary, so a line stays short. */
		for (int i = 0; i < npv; i++) {
			char st[TOP_STATE_MAX];

			if (provider_state(&pv[i], on_share[pv[i].slot], st, sizeof(st)) > 0)
				printf(" %s=%s", pv[i].name, st);
		}
		printf("\n");
		fflush(stdout);
		return;
	}
	if (!first)
		printf("\033[6A"); /* back to the top of our block */
	printf("\033[Kwaiting   %-10llu ready %llu, delayed %llu, in flight %llu, %llu segments\n",
	       (unsigned long long)s->waiting, (unsigned long long)s->count[STORE_STATE_READY],
	       (unsigned long long)s->count[STORE_STATE_DELAYED],
	       (unsigned long long)s->count[STORE_STATE_INFLIGHT],
	       (unsigned long long)s->segments_waiting);
	printf("\033[Ksent      %-10llu failed %llu, expired %llu, retries %llu (ambiguous %llu)\n",
	       (unsigned long long)(s->count[STORE_STATE_SENT] + s->count[STORE_STATE_DELIVERED]),
	       (unsigned long long)s->count[STORE_STATE_FAILED],
	       (unsigned long long)s->count[STORE_STATE_EXPIRED], (unsigned long long)s->retries,
	       (unsigned long long)s->ambiguous);
	printf("\033[Krate      %.0f msg/s\n", rate);
	printf("\033[Kproviders ");
	for (int i = 0; i < npv; i++) {
		char st[TOP_STATE_MAX];

		(void)provider_state(&pv[i], on_share[pv[i].slot], st, sizeof(st));
		printf("%s%s %s", i ? ", " : "", pv[i].name, st);
	}
	printf("%s\n", npv == 0 ? "-" : "");
	printf("\033[K[%s] %5.1f%%  %s\n", bar, frac * 100, eta);
	printf("\033[K\n");
	fflush(stdout);
}

/* Processes on their node's share, by pacing slot (zeros without the
 * counters file, or c NULL). */
static void shares(const char *dir, struct counters_data *c, uint64_t *on_share)
{
	memset(on_share, 0, PACE_MAX_SLOTS * sizeof(*on_share));
	if (c == NULL || counters_read(dir, c) != 1)
		return;
	for (int p = 0; p < PACE_MAX_SLOTS; p++)
		on_share[p] = c->prov[p].shared_down;
}

static int top_loop(store *st, const struct top_opts *o, struct counters_data *c)
{
	uint64_t on_share[PACE_MAX_SLOTS];
	struct drain dr;
	int first = 1, seen_work = 0;
	int64_t start = clock_mono_ms();
	struct sigaction sa;

	drain_init(&dr, TOP_RATE_WINDOW);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_int;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!top_stop) {
		struct store_stats s;
		struct pace_view pv[TOP_MAX_PROVIDERS];
		struct drain_eval ev;
		int npv = pace_list(o->dir, pv, TOP_MAX_PROVIDERS);
		int64_t now = clock_mono_ms();
		char eta[96], d[32];

		if (store_stats(st, &s) != STORE_OK) {
			fprintf(stderr, "smsqctl top: %s\n", store_errmsg(st));
			return 1;
		}
		if (npv < 0)
			npv = 0;
		drain_add(&dr, &s, now, clock_wall_ms(), pv, npv, &ev);
		switch (ev.state) {
		case DRAIN_DRAINED:
			snprintf(eta, sizeof(eta), s.waiting ? "drained (%llu scheduled for later)" : "drained",
				 (unsigned long long)s.waiting);
			break;
		case DRAIN_GROWING:
			snprintf(eta, sizeof(eta), "growing: arriving faster than it drains");
			break;
		case DRAIN_STALLED:
			snprintf(eta, sizeof(eta), "stalled: nothing sent lately%s",
				 !ev.no_provider ? ""
				 : npv > 0 && pv[0].paused ? " (paused: smsqctl resume)"
				 : " (no provider takes traffic)");
			break;
		case DRAIN_DRAINING: {
			struct store_due due;
			int64_t end = clock_wall_ms() + (int64_t)(ev.time_left_s * 1000);

			fmt_duration(d, sizeof(d), ev.time_left_s);
			/* The appointments it holds that come before its end. */
			if (store_due_before(st, end, REPORT_DUE_WALK_MAX, &due) == STORE_OK &&
			    due.before > 0)
				snprintf(eta, sizeof(eta), "time left %s, %s%llu appointments before then", d,
					 due.complete ? "" : ">= ", (unsigned long long)due.before);
			else
				snprintf(eta, sizeof(eta), "time left %s", d);
			break;
		}
		default:
			snprintf(eta, sizeof(eta), "time left: measuring");
			break;
		}
		shares(o->dir, c, on_share);
		draw(o, &s, ev.rate, eta, pv, npv, on_share, first);
		first = 0;
		if (ev.due > 0)
			seen_work = 1;
		if (o->until_drained && seen_work && ev.due == 0)
			return 0;
		if (o->max_seconds > 0 && now - start > o->max_seconds * 1000)
			return 3;
		struct timespec ts = { o->interval_ms / 1000, (o->interval_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}

int top_run(store *st, const struct top_opts *o)
{
	struct counters_data *c = calloc(1, sizeof(*c)); /* NULL: shown without */
	int rc = top_loop(st, o, c);

	free(c);
	return rc;
}
