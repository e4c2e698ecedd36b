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

#include "worker/pace.h"

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
	/* With a constant backlog, the average is the limit (within 1%). */
	double avg = (double)(n - burst) / seconds;
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

static void circuit_opens_probes_and_closes(void **state)
{
	struct fx *f = *state;
	struct pace_limits lim = { .units_per_s = 10, .circuit_failures = 3, .circuit_open_ms = 1000,
				   .probe_timeout_ms = 5000 };
	int s = pace_slot(f->a, "c");

	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0), PACE_CLOSED);
	assert_int_equal(pace_result(f->a, s, &lim, 0, 0, T0), 0);
	assert_int_equal(pace_result(f->b, s, &lim, 0, 0, T0), 0);
	assert_int_equal(pace_result(f->a, s, &lim, 0, 0, T0), 1); /* third: opens */
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + SEC / 2), PACE_OPEN);
	/* Late failures of requests already in flight change nothing. */
	assert_int_equal(pace_result(f->b, s, &lim, 0, 0, T0 + SEC / 2), 0);
	/* After the open period one process, and one only, gets the probe. */
	assert_int_equal(pace_circuit_state(f->b, s, T0 + SEC), PACE_PROBE);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + SEC), PACE_PROBE);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + SEC), PACE_OPEN);
	assert_int_equal(pace_circuit_state(f->b, s, T0 + SEC), PACE_OPEN);
	/* A failed probe opens it again for twice as long. */
	assert_int_equal(pace_result(f->a, s, &lim, 0, 1, T0 + SEC), 1);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + 2 * SEC + SEC / 2), PACE_OPEN);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + 3 * SEC), PACE_PROBE);
	pace_probe_cancel(f->b, s);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + 3 * SEC), PACE_PROBE);
	/* A good probe closes it. */
	assert_int_equal(pace_result(f->a, s, &lim, 1, 1, T0 + 3 * SEC), 0);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + 3 * SEC), PACE_CLOSED);
	/* A probe whose process died is given up at its deadline. */
	assert_int_equal(pace_result(f->a, s, &lim, 0, 0, T0 + 3 * SEC), 0);
	assert_int_equal(pace_result(f->a, s, &lim, 0, 0, T0 + 3 * SEC), 0);
	assert_int_equal(pace_result(f->a, s, &lim, 0, 0, T0 + 3 * SEC), 1);
	assert_int_equal(pace_circuit_check(f->a, s, &lim, T0 + 4 * SEC), PACE_PROBE);
	/* ...process a is killed here, never reporting... */
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + 8 * SEC), PACE_OPEN);
	assert_int_equal(pace_circuit_check(f->b, s, &lim, T0 + 9 * SEC), PACE_PROBE);
	assert_int_equal(pace_result(f->b, s, &lim, 1, 1, T0 + 9 * SEC), 0);
	/* And the count starts again from zero. */
	assert_int_equal(pace_result(f->a, s, &lim, 0, 0, T0 + 10 * SEC), 0);
	assert_int_equal(pace_circuit_state(f->a, s, T0 + 10 * SEC), PACE_CLOSED);
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
		cmocka_unit_test_setup_teardown(a_request_bigger_than_the_bucket_goes_when_it_is_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(retry_after_blocks_every_process, setup, teardown),
		cmocka_unit_test_setup_teardown(request_limit_applies_too, setup, teardown),
		cmocka_unit_test_setup_teardown(circuit_opens_probes_and_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(slots_are_per_provider_and_survive_reopen, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
