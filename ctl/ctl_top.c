/*
 * ctl_top: the live drain view (see ctl_top.h).
 *
 * The rate is measured over a sliding window of the last TOP_RATE_WINDOW
 * samples of "done" (sent + delivered + failed + expired); "growing" means
 * the backlog rose over that window; "stalled" means it is not empty and
 * nothing was done over it.
 */
#include "ctl/ctl_top.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/pace.h"

#define TOP_RATE_WINDOW 8      /* samples in the rate window */
#define TOP_BAR_WIDTH 40
#define TOP_MAX_PROVIDERS 8
#define TOP_SCHEDULED_MS 60000 /* delayed further than this: scheduled, not backlog */
#define TOP_STATE_MAX 160      /* a provider's state as shown */

static volatile sig_atomic_t top_stop;

static void on_int(int sig)
{
	(void)sig;
	top_stop = 1;
}

struct sample {
	int64_t t_ms;      /* when (mono) */
	uint64_t done;     /* final states */
	uint64_t waiting;  /* backlog */
};

static uint64_t done_of(const struct store_stats *s)
{
	return s->count[STORE_STATE_SENT] + s->count[STORE_STATE_DELIVERED] +
	       s->count[STORE_STATE_FAILED] + s->count[STORE_STATE_EXPIRED];
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
 * [misconfigured: http 401]".  Returns how many of its parts are out of the
 * ordinary (a lower rate, a state): 0 for "limit 100/s" alone. */
static int provider_state(const struct pace_view *v, char *out, size_t len)
{
	int odd = 0;
	size_t n = (size_t)snprintf(out, len, "limit %.0f/s", v->units_per_s);

#define ADD(...) do { if (n < len) n += (size_t)snprintf(out + n, len - n, __VA_ARGS__); \
		      odd++; } while (0)
	if (v->effective_per_s < v->units_per_s * 0.995)
		ADD(", provider allows ~%.*f/s", v->effective_per_s < 10 ? 1 : 0,
		    v->effective_per_s);
	if (v->misconfigured)
		ADD(" [misconfigured: %s]", v->reason);
	else if (v->circuit_open)
		ADD(" [circuit open]");
	if (v->blocked_ms > 0)
		ADD(" [held %lld ms]", (long long)v->blocked_ms);
#undef ADD
	return odd;
}

static void draw(const struct top_opts *o, const struct store_stats *s, double rate,
		 const char *eta, const struct pace_view *pv, int npv, int first)
{
	uint64_t done = done_of(s);
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

			if (provider_state(&pv[i], st, sizeof(st)) > 0)
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

		(void)provider_state(&pv[i], st, sizeof(st));
		printf("%s%s %s", i ? ", " : "", pv[i].name, st);
	}
	printf("%s\n", npv == 0 ? "-" : "");
	printf("\033[K[%s] %5.1f%%  %s\n", bar, frac * 100, eta);
	printf("\033[K\n");
	fflush(stdout);
}

int top_run(store *st, const struct top_opts *o)
{
	struct sample win[TOP_RATE_WINDOW];
	size_t n = 0;
	int first = 1, seen_work = 0;
	int64_t start = clock_mono_ms();
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_int;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!top_stop) {
		struct store_stats s;
		struct pace_view pv[TOP_MAX_PROVIDERS];
		int npv = pace_list(o->dir, pv, TOP_MAX_PROVIDERS);
		int64_t now = clock_mono_ms();
		double rate = 0, limit = 0;
		char eta[64];

		if (store_stats(st, &s) != STORE_OK) {
			fprintf(stderr, "smsqctl top: %s\n", store_errmsg(st));
			return 1;
		}
		if (npv < 0)
			npv = 0;
		if (n == TOP_RATE_WINDOW) {
			memmove(win, win + 1, sizeof(win[0]) * (TOP_RATE_WINDOW - 1));
			n--;
		}
		/* The backlog that can drain now: ready and in flight, plus delayed
		 * messages due soon (retries); messages scheduled for later (a
		 * reminder's not-before) are not a backlog. */
		int64_t wall = clock_wall_ms();
		int scheduled_only = s.count[STORE_STATE_DELAYED] > 0 &&
				     s.next_due_ms > wall + TOP_SCHEDULED_MS;
		uint64_t due = s.count[STORE_STATE_READY] + s.count[STORE_STATE_INFLIGHT] +
			       (scheduled_only ? 0 : s.count[STORE_STATE_DELAYED]);
		win[n++] = (struct sample){ now, done_of(&s), due };
		if (n > 1 && win[n - 1].t_ms > win[0].t_ms)
			rate = (double)(win[n - 1].done - win[0].done) * 1000.0 /
			       (double)(win[n - 1].t_ms - win[0].t_ms);
		/* The paced rate: the first provider that takes traffic, at
		 * the rate it allows. */
		for (int i = 0; i < npv && limit == 0; i++)
			if (!pv[i].circuit_open && !pv[i].misconfigured)
				limit = pv[i].effective_per_s;
		if (due == 0) {
			snprintf(eta, sizeof(eta), s.waiting ? "drained (%llu scheduled for later)" : "drained",
				 (unsigned long long)s.waiting);
		} else if (n > 2 && win[n - 1].waiting > win[0].waiting) {
			snprintf(eta, sizeof(eta), "growing: arriving faster than it drains");
		} else if (n == TOP_RATE_WINDOW && rate == 0) {
			snprintf(eta, sizeof(eta), "stalled: nothing sent lately%s",
				 npv > 0 && limit == 0 ? " (no provider takes traffic)" : "");
		} else {
			char d[32];
			double r = limit > 0 ? limit : rate;

			if (r > 0) {
				fmt_duration(d, sizeof(d), (double)s.segments_waiting / r);
				snprintf(eta, sizeof(eta), "time left %s", d);
			} else {
				snprintf(eta, sizeof(eta), "time left: measuring");
			}
		}
		draw(o, &s, rate, eta, pv, npv, first);
		first = 0;
		if (due > 0)
			seen_work = 1;
		if (o->until_drained && seen_work && due == 0)
			return 0;
		if (o->max_seconds > 0 && now - start > o->max_seconds * 1000)
			return 3;
		struct timespec ts = { o->interval_ms / 1000, (o->interval_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}
