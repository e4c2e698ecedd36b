/*
 * test_dispatch: the parts of dispatch that are pure arithmetic.  How
 * dispatch sends, retries and commits is tested end to end with real
 * processes (tests/it_dispatch.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "worker/dispatch.h"

#define LEASE_MS 30000 /* dispatch.lease_ms's default */
#define QMAX 2048      /* dispatch.queue_max's default */

/* No limit to speak of: the configured queue_max. */
static void test_queue_cap_unlimited(void **state)
{
	(void)state;
	assert_int_equal(dispatch_queue_cap(QMAX, 1e6, LEASE_MS, 100), QMAX);
	assert_int_equal(dispatch_queue_cap(QMAX, 1e12, LEASE_MS, 1), QMAX);
	assert_int_equal(dispatch_queue_cap(1, 1e6, LEASE_MS, 100), 1);
}

/* A slow limit: half a second's worth, so an urgent message leased by the
 * next refill waits behind little. */
static void test_queue_cap_by_hold(void **state)
{
	(void)state;
	assert_int_equal(DISPATCH_QUEUE_HOLD_MS, 500);
	assert_int_equal(dispatch_queue_cap(QMAX, 667.0, LEASE_MS, 100), 333);
	assert_int_equal(dispatch_queue_cap(QMAX, 2000.0, LEASE_MS, 100), 1000);
	assert_int_equal(dispatch_queue_cap(QMAX, 4096.0, LEASE_MS, 100), QMAX);
	assert_int_equal(dispatch_queue_cap(QMAX, 10000.0, LEASE_MS, 100), QMAX);
}

/* A short lease binds before the hold: a quarter of it at the limit. */
static void test_queue_cap_by_lease(void **state)
{
	(void)state;
	/* 1 s lease: a quarter second's worth, 250 of 1,000/s */
	assert_int_equal(dispatch_queue_cap(QMAX, 1000.0, 1000, 10), 250);
	/* 2 s lease: a quarter is the hold, 500 either way */
	assert_int_equal(dispatch_queue_cap(QMAX, 1000.0, 2000, 10), 500);
}

/* Never fewer than one full request, never more than queue_max, never 0. */
static void test_queue_cap_bounds(void **state)
{
	(void)state;
	assert_int_equal(dispatch_queue_cap(QMAX, 10.0, LEASE_MS, 100), 100);
	assert_int_equal(dispatch_queue_cap(50, 10.0, LEASE_MS, 100), 50);
	assert_int_equal(dispatch_queue_cap(QMAX, 0.5, LEASE_MS, 1), 1);
	assert_int_equal(dispatch_queue_cap(QMAX, 0.001, 1000, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_cap_unlimited),
		cmocka_unit_test(test_queue_cap_by_hold),
		cmocka_unit_test(test_queue_cap_by_lease),
		cmocka_unit_test(test_queue_cap_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
