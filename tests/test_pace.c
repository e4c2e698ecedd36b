/*
 * test_pace: the shared rate limiter, Retry-After blocks and circuits.
 *
 * Time is simulated (pace_take takes "now" as an argument), so the tests
 * check the algorithm exactly without sleeping.  Two handles on the same
 * directory stand for two worker processes sharing one provider.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pace.h"

#define SEC 1000000000LL
#define T0 (1000 * SEC) /* a simulated monotonic "now" */

struct fx {
	char dir[64]; /* temp directory holding the pacing file */
	pace *a;      /* "process" A */
	pace *b;      /* "process" B */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/smsq-test-pace-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->a = pace_open(f->dir, err, sizeof(err));
	f->b = pace_open(f->dir, err, sizeof(err));
	*state = f;
	return f->a && f->b ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char path[128];

	pace_close(&f->a);
	pace_close(&f->b);
	snprintf(path, sizeof(path), "%s/pacing", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Drive two processes greedily for `seconds` with requests of `units`,
 * recording the time of every unit; check no sliding 1-second window holds
 * more than limit + burst and the long-run rate is the limit. */
static void check_window(struct fx *f, double rate, uint32_t burst, uint32_t units, int seconds)
{
	struct pace_limits lim = { .units_per_s = rate, .burst = burst };
	int sa = pace_slot(f->a, "p"), sb = pace_slot(f->b, "p");
	size_t cap = (size_t)(rate * seconds) + burst + 16;
	int64_t *times = calloc(cap, sizeof(*times));
	size_t n = 0;
	int64_t now = T0;
	int turn = 0;

	assert_true(sa >= 0 && sa == sb);
	while (now < T0 + seconds * SEC && n + units <= cap) {
		pace *p = (turn++ & 1) ? f->a : f->b;
		int64_t wait = pace_take(p, sa, &lim, units, now);

		if (wait == 0) {
			for (uint32_t u = 0; u < units; u++)
				times[n++] = now;
		} else {
			now += wait;
		}
	}
	/* Sliding window [t, t + 1 s) over the recorded units. */
	size_t j = 0, max = 0;
	for (size_t i = 0; i < n; i++) {
		while (times[i] - times[j] >= SEC)
			j++;
		if (i - j + 1 > max)
			max = i - j + 1;
	}
	if (max > (size_t)rate + burst)
		fail_msg("busiest window %zu > limit %.0f + burst %u", max, rate, burst);
	/* With a constant backlog, the average is the limit (within 1%), once
	 * the burst the bucket holds at first is set apart. */
	double avg = (double)(n - pace_max_units(&lim)) / seconds;
	if (avg < rate * 0.99 || avg > rate * 1.01)
		fail_msg("average %.1f/s for a limit of %.0f/s", avg, rate);
	free(times);
}

static void window_holds_at_2000_with_burst_100(void **state)
{
	check_window(*state, 2000, 100, 1, 5);
}

static void window_holds_with_batches_of_50(void **state)
{
	check_window(*state, 2000, 100, 50, 5);
}

static void window_holds_with_no_burst(void **state)
{
	check_window(*state, 500, 0, 1, 5);
}

static void window_holds_at_10000(void **state)
{
	check_window(*state, 10000, 500, 100, 3);
}

static void refund_gives_units_back(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .burst = 20 };
	int s = pace_slot(f->a, "r");

	/* 25 ms of the burst is held back for jitter: 19 units fit at once. */
	assert_int_equal(pace_max_units(&lim), 19);
	assert_int_equal(pace_take(f->a, s, &lim, 19, T0), 0);
	assert_true(pace_take(f->a, s, &lim, 5, T0) > 0);
	pace_refund(f->a, s, &lim, 5);
	assert_int_equal(pace_take(f->a, s, &lim, 5, T0), 0);
}

/* A request that leaves late (its worker stalled after taking its tokens)
 * takes its place in the bucket again when it leaves, past 10 ms late; a
 * request seconds late pushes it by its own size, not by its lateness. */
static void a_late_request_takes_its_place_again(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 100, .burst = 5 };
	int s = pace_slot(f->a, "late");
	int64_t ms = SEC / 1000;

	assert_int_equal(pace_take(f->a, s, &lim, 1, T0), 0); /* tat: T0 + 10 ms */
	/* Written 5 ms late: nothing changes. */
	pace_late(f->b, s, &lim, 1, T0, T0 + 5 * ms);
	assert_int_equal(pace_take(f->a, s, &lim, 1, T0 + 200 * ms), 0); /* tat: +210 ms */
	/* Written 300 ms late, at T0 + 500 ms: it occupies [500, 510) ms. */
	pace_late(f->b, s, &lim, 1, T0 + 200 * ms, T0 + 500 * ms);
	struct pace_limits none = lim;
	none.burst = 0;
	assert_int_equal(pace_take(f->a, s, &none, 1, T0 + 500 * ms), 10 * ms);
	/* A 6 s freeze pushes it by the request's size, not by 6 s. */
	pace_late(f->b, s, &lim, 2, T0, T0 + 6000 * ms);
	assert_int_equal(pace_take(f->a, s, &none, 1, T0 + 6000 * ms), 20 * ms);
}

static void a_request_bigger_than_the_bucket_goes_when_it_is_empty(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .burst = 2 };
	int s = pace_slot(f->a, "big");

	assert_int_equal(pace_take(f->a, s, &lim, 8, T0), 0);
	/* Not again before the bucket has drained. */
	int64_t wait = pace_take(f->a, s, &lim, 8, T0);
	assert_true(wait > 0);
	assert_int_equal(pace_take(f->a, s, &lim, 8, T0 + SEC), 0);
}

static void retry_after_blocks_every_process(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 1000, .burst = 10 };
	int s = pace_slot(f->a, "blocked");

	pace_block(f->a, s, T0 + 2 * SEC);
	assert_int_equal(pace_take(f->b, s, &lim, 1, T0), 2 * SEC);
	/* An earlier block never shortens a later one. */
	pace_block(f->b, s, T0 + SEC);
	assert_int_equal(pace_take(f->a, s, &lim, 1, T0 + SEC), SEC);
	assert_int_equal(pace_take(f->a, s, &lim, 1, T0 + 2 * SEC), 0);
}

static void request_limit_applies_too(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 1000, .burst = 100, .requests_per_s = 10 };
	int s = pace_slot(f->a, "rps");
	int taken = 0;

	for (int i = 0; i < 20; i++)
		taken += pace_take(f->a, s, &lim, 1, T0) == 0;
	assert_int_equal(taken, 1);
	assert_int_equal(pace_take(f->b, s, &lim, 1, T0 + SEC / 10), 0);
}

/* Report n answers, fails of them failures, at now (process a). */
static int report(struct fx *f, int s, const struct pace_limits *lim, int n, int fails,
		  int64_t now)
{
	int opened = 0;

	for (int i = 0; i < n; i++)
		opened |= pace_result(i & 1 ? f->a : f->b, s, lim, i >= fails, 0, now);
	return opened;
}

static void circuit_opens_on_a_failure_rate_not_on_random_errors(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .circuit_failures = 3, .circuit_open_ms = 1000,
				   .probe_timeout_ms = 5000 };
	int s = pace_slot(f->a, "c");

	/* One request in five failing, for a minute: never open. */
	for (int sec = 0; sec < 60; sec++)
		assert_int_equal(report(f, s, &lim, 20, 4, T0 + sec * SEC), 0);
	assert_int_equal(pace_circuit_state(f->a, s, T0 + 60 * SEC), PACE_CLOSED);
	/* Five failures in a row among good answers: no outage. */
	assert_int_equal(report(f, s, &lim, 5, 5, T0 + 60 * SEC + SEC / 2), 0);
	assert_int_equal(pace_result(f->a, s, &lim, 1, 0, T0 + 60 * SEC + SEC / 2), 0);
	/* An outage from 61 s: every request fails; after a second of nothing
	 * but failures, it opens (at 62 s, for the open period, 1 s). */
	int64_t t = T0 + 61 * SEC;
	for (int i = 0; i < 20; i++)
		assert_int_equal(pace_result(f->a, s, &lim, 0, 0, t + i * SEC / 25), 0);
	t += SEC;
	assert_int_equal(pace_result(f->b, s, &lim, 0, 0, t), 1);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t + SEC / 2), PACE_OPEN);
	/* Late failures of requests already in flight change nothing. */
	assert_int_equal(pace_result(f->b, s, &lim, 0, 0, t + SEC / 2), 0);
	/* After the open period, PACE_PROBES probes go, pool-wide, no more. */
	t += SEC;
	assert_int_equal(pace_circuit_state(f->b, s, t), PACE_PROBE);
	for (int i = 0; i < PACE_PROBES; i++)
		assert_int_equal(pace_circuit_check(i & 1 ? f->a : f->b, s, &lim, t), PACE_PROBE);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, t), PACE_OPEN);
	assert_int_equal(pace_circuit_state(f->b, s, t), PACE_OPEN);
	/* Failed probes open it again for the open period (the first says so). */
	assert_int_equal(pace_result(f->a, s, &lim, 0, 1, t), 1);
	assert_int_equal(pace_result(f->b, s, &lim, 0, 1, t), 0);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t + SEC / 2), PACE_OPEN);
	t += SEC;
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t), PACE_PROBE);
	pace_probe_cancel(f->b, s);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, t), PACE_PROBE);
	/* A good probe closes it, and the window starts afresh. */
	assert_int_equal(pace_result(f->a, s, &lim, 1, 1, t), 0);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t), PACE_CLOSED);
	/* Over the window: 6 failures of 6 answers within half a second open
	 * it (5 are not enough answers to tell a rate). */
	t += 10 * SEC;
	assert_int_equal(report(f, s, &lim, 5, 5, t), 0);
	assert_int_equal(report(f, s, &lim, 1, 1, t), 1);
	/* A round whose processes died is given up at its deadline. */
	for (int i = 0; i < PACE_PROBES; i++)
		assert_int_equal(pace_circuit_check(f->a, s, &lim, t + SEC), PACE_PROBE);
	/* ...process a is killed here, never reporting... */
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t + 5 * SEC), PACE_OPEN);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t + 6 * SEC), PACE_PROBE);
	assert_int_equal(pace_result(f->b, s, &lim, 1, 1, t + 6 * SEC), 0);
	assert_int_equal(pace_circuit_state(f->a, s, t + 6 * SEC), PACE_CLOSED);
}

/* A throttle cuts the rate to 4/5, once per episode; with no throttle it
 * climbs back: quickly to just under the rate it was cut at, then slowly,
 * never above the configured limit; the ceiling is forgotten in time. */
static void throttling_cuts_the_rate_and_it_climbs_back(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 100, .burst = 5 };
	int s = pace_slot(f->a, "adapt");
	double rate = 0;

	assert_true(pace_rate(f->a, s, &lim, T0) == 100.0);
	assert_int_equal(pace_throttled(f->a, s, &lim, T0, T0, &rate), 1);
	assert_true(rate > 79.9 && rate < 80.1);
	/* The other answers of that episode: no second cut. */
	assert_int_equal(pace_throttled(f->b, s, &lim, T0 + SEC / 4, T0 + SEC / 2, NULL), 0);
	/* A request sent before the cut, answered later: the same episode. */
	assert_int_equal(pace_throttled(f->b, s, &lim, T0 - SEC / 4, T0 + 3 * SEC / 2, NULL), 0);
	pace_accepted(f->a, s, T0 + 3 * SEC / 2); /* some got through since the cut */
	assert_true(pace_rate(f->b, s, &lim, T0 + SEC / 2) < 80.1);
	assert_int_equal(pace_throttled(f->b, s, &lim, T0 + 2 * SEC, T0 + 2 * SEC, &rate), 1);
	assert_true(rate > 63.9 && rate < 64.1);
	/* The burst shrinks with the rate. */
	struct pace_limits e = pace_effective(f->a, s, &lim, T0 + 2 * SEC);
	assert_int_equal(e.burst, 3);
	/* Back up: under 0.95 x 80 within a few seconds, then slowly. */
	double r = 0, prev = 64;
	for (int sec = 3; sec <= 12; sec++) {
		r = pace_rate(sec & 1 ? f->a : f->b, s, &lim, T0 + sec * SEC);
		assert_true(r >= prev);
		prev = r;
	}
	assert_true(r > 75 && r <= 76.1);
	for (int sec = 13; sec <= 200; sec++)
		r = pace_rate(f->a, s, &lim, T0 + sec * SEC);
	assert_true(r <= 100.0);
	assert_true(r > 80); /* above the old ceiling, probing */
	/* Forgotten after PACE_CEIL_FORGET_S: back to the limit. */
	for (int sec = 201; sec <= PACE_CEIL_FORGET_S + 30; sec++)
		r = pace_rate(f->a, s, &lim, T0 + sec * SEC);
	assert_true(r == 100.0);
}

/* A provider enforcing 20/s with a bucket of 5 where 100/s is configured,
 * answering 429 with Retry-After: 1 s (simulated, 1 ms steps): within a
 * minute the pool sends at 90 % of what the provider allows or more, with
 * a few 429s a minute at most. */
static void settles_under_a_lower_provider_limit(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 100, .burst = 5 };
	int s = pace_slot(f->a, "lower");
	double tokens = 5; /* the provider's bucket */
	int accepted_late = 0, throttled_late = 0;

	for (int64_t ms = 0; ms < 120000; ms++) {
		int64_t now = T0 + ms * (SEC / 1000);

		tokens += 20.0 / 1000;
		if (tokens > 5)
			tokens = 5;
		if (pace_take(f->a, s, &lim, 1, now) != 0)
			continue;
		if (tokens >= 1) {
			tokens -= 1;
			accepted_late += ms >= 60000;
			pace_accepted(f->a, s, now);
		} else {
			throttled_late += ms >= 60000;
			pace_throttled(f->a, s, &lim, now, now, NULL);
			pace_block(f->a, s, now + SEC);
		}
	}
	if (accepted_late < 0.9 * 20 * 60)
		fail_msg("second minute: %d accepted, under 90 %% of 1200", accepted_late);
	if (throttled_late > 5)
		fail_msg("second minute: %d answers 429", throttled_late);
}

/* A provider that throttles everything for 30 s (a hiccup) and then takes
 * 1,000/s again: the cuts of those 30 s, with nothing getting through,
 * keep the ceiling where the first cut found it, so the rate is back near
 * it within seconds, not a crawl from the floor. */
static void a_throttling_hiccup_does_not_lower_the_ceiling(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 1000, .burst = 50 };
	int s = pace_slot(f->a, "hiccup");
	int64_t t = T0;

	pace_accepted(f->a, s, t - SEC);
	for (int i = 0; i < 30; i++, t += SEC + SEC / 10)
		pace_throttled(f->a, s, &lim, t, t, NULL);
	assert_true(pace_rate(f->a, s, &lim, t) < 10);
	double r = 0;
	for (int i = 0; i < 15; i++, t += SEC)
		r = pace_rate(f->a, s, &lim, t);
	assert_true(r > 900);
}

/* The window's words hold their second in 22 bits: still right after days
 * of uptime, across a wrap. */
static void the_window_outlasts_months_of_uptime(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .circuit_failures = 3, .circuit_open_ms = 1000,
				   .probe_timeout_ms = 5000 };
	int s = pace_slot(f->a, "uptime");
	const int64_t starts[] = { (1LL << 23) * SEC - 2 * SEC, (1LL << 24) * SEC - 2 * SEC,
				   (1LL << 22) * SEC - 2 * SEC, 200LL * 86400 * SEC };

	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		int64_t t = starts[k];

		/* A second of good answers, then six failures among them: half of
		 * the answers of the window, enough of them: it opens. */
		assert_int_equal(report(f, s, &lim, 6, 0, t), 0);
		assert_int_equal(report(f, s, &lim, 5, 5, t + SEC), 0);
		assert_int_equal(report(f, s, &lim, 1, 1, t + 2 * SEC), 1);
		assert_int_equal(pace_result(f->a, s, &lim, 1, 1, t + 4 * SEC), 0); /* closes */
	}
}

/* A long outage: the first five open periods are circuit_open_ms long,
 * then they double, up to 32x. */
static void a_long_outage_costs_few_probes(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .circuit_failures = 1, .circuit_open_ms = 1000,
				   .probe_timeout_ms = 5000 };
	int s = pace_slot(f->a, "long");
	int64_t t = T0;
	int64_t periods[10];

	assert_int_equal(report(f, s, &lim, 2, 2, t), 1);
	for (int i = 0; i < 10; i++) {
		int64_t opened = t;

		while (pace_circuit_check(f->a, s, &lim, t) != PACE_PROBE)
			t += SEC / 10;
		periods[i] = (t - opened + SEC / 20) / (SEC / 10) * 100; /* ms, to 100 ms */
		assert_int_equal(pace_result(f->a, s, &lim, 0, 1, t), 1);
	}
	/* The first period was the opening's; then rounds 2..5 at 1 s, doubling. */
	const int64_t want[10] = { 1000, 1000, 1000, 1000, 1000, 2000, 4000, 8000, 16000, 32000 };
	for (int i = 0; i < 10; i++)
		assert_int_equal(periods[i], want[i]);
	/* A probe taken and given back, with none left to take: nothing more
	 * comes back than was taken. */
	t += 40 * SEC;
	for (int i = 0; i < PACE_PROBES + 2; i++)
		(void)pace_circuit_check(f->a, s, &lim, t);
	pace_probe_cancel(f->a, s);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t), PACE_PROBE);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, t), PACE_OPEN);
}

/* A 503 without Retry-After holds the provider 25 ms, doubling while they
 * follow each other, back to 25 ms after an answer that asked for none. */
static void unavailable_holds_grow_and_reset(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 1000, .burst = 50, .circuit_failures = 1000 };
	int s = pace_slot(f->a, "u");
	int64_t t = T0;

	assert_int_equal(pace_unavailable(f->a, s, t), t + 25 * SEC / 1000);
	/* Answers of the same moment: the same hold. */
	assert_int_equal(pace_unavailable(f->b, s, t + SEC / 1000), t + 25 * SEC / 1000);
	assert_true(pace_take(f->b, s, &lim, 1, t + SEC / 1000) > 0);
	t += SEC / 10;
	assert_int_equal(pace_unavailable(f->b, s, t), t + 50 * SEC / 1000);
	t += SEC / 10;
	assert_int_equal(pace_unavailable(f->a, s, t), t + 100 * SEC / 1000);
	for (int i = 0; i < 10; i++) {
		t += 3 * SEC;
		pace_unavailable(f->a, s, t);
	}
	t += 3 * SEC;
	assert_int_equal(pace_unavailable(f->a, s, t), t + PACE_HOLD_MAX_MS * (SEC / 1000));
	pace_hold_end(f->b, s);
	t += 4 * SEC;
	assert_int_equal(pace_unavailable(f->a, s, t), t + 25 * SEC / 1000);
}

/* Misconfigured: parked; one probe after 1 s, then at growing intervals;
 * a good answer or a new configuration ends it. */
static void misconfigured_parks_until_a_probe_is_answered(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .circuit_failures = 3, .circuit_open_ms = 1000,
				   .probe_timeout_ms = 5000 };
	int s = pace_slot(f->a, "m");
	struct pace_view v[4];
	char dir[64];

	pace_config(f->a, s, 42);
	assert_int_equal(pace_misconfigured(f->a, s, "http 401 Authenticate", 0, T0), 1);
	/* The other answers of that moment change nothing, however many. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(pace_misconfigured(f->b, s, "http 401 again", 0, T0), 0);
	assert_int_equal(pace_circuit_state(f->b, s, T0 + SEC / 2), PACE_OPEN);
	snprintf(dir, sizeof(dir), "%s", f->dir);
	assert_int_equal(pace_list(dir, v, 4), 1);
	assert_true(v[0].misconfigured);
	assert_string_equal(v[0].reason, "http 401 Authenticate");
	/* One probe, pool-wide, after 1 s. */
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + SEC), PACE_PROBE);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + SEC), PACE_OPEN);
	/* It met a 503 instead: still parked, probed again later. */
	assert_int_equal(pace_result(f->b, s, &lim, 0, 1, T0 + SEC), 0);
	assert_true(pace_is_misconfigured(f->a, s));
	/* (every failed probe doubles the wait: 2 s now) */
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + 2 * SEC), PACE_OPEN);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + 3 * SEC), PACE_PROBE);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + 3 * SEC), PACE_OPEN);
	/* It is answered 401 again: the next probe waits longer still (4 s). */
	assert_int_equal(pace_misconfigured(f->b, s, "http 401", 1, T0 + 3 * SEC), 0);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + 6 * SEC), PACE_OPEN);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + 7 * SEC), PACE_PROBE);
	/* Answered otherwise: sending again at once. */
	assert_int_equal(pace_result(f->a, s, &lim, 1, 1, T0 + 7 * SEC), 0);
	assert_int_equal(pace_circuit_state(f->b, s, T0 + 7 * SEC), PACE_CLOSED);
	assert_int_equal(pace_list(dir, v, 4), 1);
	assert_false(v[0].misconfigured);
	/* Parked again; the same configuration changes nothing, a new one
	 * (a rotated key, a process restarted with it) ends it. */
	assert_int_equal(pace_misconfigured(f->a, s, "http 403", 0, T0 + 8 * SEC), 1);
	pace_config(f->b, s, 42);
	assert_int_equal(pace_circuit_state(f->b, s, T0 + 8 * SEC), PACE_OPEN);
	pace_config(f->b, s, 43);
	assert_int_equal(pace_circuit_state(f->a, s, T0 + 8 * SEC), PACE_CLOSED);
}

static void slots_are_per_provider_and_survive_reopen(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 1, .burst = 1 };
	char err[128];
	int s1 = pace_slot(f->a, "one"), s2 = pace_slot(f->a, "two");

	assert_true(s1 >= 0 && s2 >= 0 && s1 != s2);
	assert_int_equal(pace_slot(f->b, "two"), s2);
	assert_int_equal(pace_take(f->a, s1, &lim, 1, T0), 0);
	/* A restarted process finds the bucket as it was: no fresh burst. */
	pace_close(&f->a);
	f->a = pace_open(f->dir, err, sizeof(err));
	assert_non_null(f->a);
	assert_int_equal(pace_slot(f->a, "one"), s1);
	assert_true(pace_take(f->a, s1, &lim, 1, T0) > 0);
	assert_int_equal(pace_slot(f->a, ""), -1);
	assert_int_equal(pace_slot(f->a, "a-name-that-is-far-too-long-for-a-slot"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(window_holds_at_2000_with_burst_100, setup, teardown),
		cmocka_unit_test_setup_teardown(window_holds_with_batches_of_50, setup, teardown),
		cmocka_unit_test_setup_teardown(window_holds_with_no_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(window_holds_at_10000, setup, teardown),
		cmocka_unit_test_setup_teardown(refund_gives_units_back, setup, teardown),
		cmocka_unit_test_setup_teardown(a_late_request_takes_its_place_again, setup, teardown),
		cmocka_unit_test_setup_teardown(a_request_bigger_than_the_bucket_goes_when_it_is_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(retry_after_blocks_every_process, setup, teardown),
		cmocka_unit_test_setup_teardown(request_limit_applies_too, setup, teardown),
		cmocka_unit_test_setup_teardown(circuit_opens_on_a_failure_rate_not_on_random_errors,
						setup, teardown),
		cmocka_unit_test_setup_teardown(throttling_cuts_the_rate_and_it_climbs_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(settles_under_a_lower_provider_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(unavailable_holds_grow_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(a_throttling_hiccup_does_not_lower_the_ceiling, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_window_outlasts_months_of_uptime, setup, teardown),
		cmocka_unit_test_setup_teardown(a_long_outage_costs_few_probes, setup, teardown),
		cmocka_unit_test_setup_teardown(misconfigured_parks_until_a_probe_is_answered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(slots_are_per_provider_and_survive_reopen, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
