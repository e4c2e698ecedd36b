/*
 * test_velocity: the shared counts against SMS pumping (store/velocity.h).
 *
 * Time is simulated (every call takes the wall clock as an argument).  Two
 * handles on one directory stand for two processes of the pool.
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

#include "store/velocity.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define T0 (1800000000000LL / DAY_MS * DAY_MS) /* midnight, a day in 2027 */

struct fx {
	char dir[64];   /* temp directory holding the velocity file */
	velocity *a;    /* "process" A */
	velocity *b;    /* "process" B */
};

static const struct velocity_limits LIMITS = {
	.number_per_hour = 3, .number_per_day = 5, .range_digits = 4,
	.range_per_minute = 10, .range_per_hour = 50, .country_per_minute = 0,
};

static int open_both(struct fx *f, const struct velocity_limits *l, uint64_t slots)
{
	char err[256];

	velocity_close(&f->a);
	velocity_close(&f->b);
	f->a = velocity_open(f->dir, slots, l, err, sizeof(err));
	f->b = velocity_open(f->dir, slots, l, err, sizeof(err));
	return f->a && f->b ? 0 : -1;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/smsq-test-velocity-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return open_both(f, &LIMITS, 4096);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char path[128];

	velocity_close(&f->a);
	velocity_close(&f->b);
	snprintf(path, sizeof(path), "%s/velocity", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A number's hour: 3 pass, the 4th is refused, in either process; the
 * refused one counts nowhere. */
static void number_per_hour(void **state)
{
	struct fx *f = *state;

	assert_int_equal(velocity_admit(f->a, "+33612345678", "FR", T0), VELOCITY_OK);
	assert_int_equal(velocity_admit(f->b, "+33612345678", "FR", T0 + 1), VELOCITY_OK);
	assert_int_equal(velocity_admit(f->a, "+33612345678", "FR", T0 + 2), VELOCITY_OK);
	assert_int_equal(velocity_admit(f->b, "+33612345678", "FR", T0 + 3), VELOCITY_NUMBER_HOUR);
	assert_int_equal(velocity_count(f->a, VELOCITY_NUMBER_HOUR, 0, "+33612345678", "FR", T0 + 4), 3);
	assert_int_equal(velocity_count(f->a, VELOCITY_RANGE_MINUTE, 0, "+33612345678", "FR", T0 + 4), 3);
	/* Another number of the same range is its own. */
	assert_int_equal(velocity_admit(f->a, "+33612345679", "FR", T0 + 5), VELOCITY_OK);
}

/* The sliding hour: the previous hour's count weighs by what is left of it. */
static void sliding_window(void **state)
{
	struct fx *f = *state;
	const char *n = "+33611111111";

	for (int i = 0; i < 3; i++)
		assert_int_equal(velocity_admit(f->a, n, "FR", T0 + HOUR_MS - 10), VELOCITY_OK);
	/* Just into the next hour: 3 * (almost all of the hour) still count. */
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + HOUR_MS + 10), VELOCITY_NUMBER_HOUR);
	/* Two thirds in: 3 * 1/3 = 1 counts, two more may go. */
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + HOUR_MS + 2 * HOUR_MS / 3 + 1), VELOCITY_OK);
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + HOUR_MS + 2 * HOUR_MS / 3 + 2), VELOCITY_OK);
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + HOUR_MS + 2 * HOUR_MS / 3 + 3),
			 VELOCITY_NUMBER_HOUR);
	/* Two hours later all is past; the day (5) still holds: 5 taken. */
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + 4 * HOUR_MS), VELOCITY_NUMBER_DAY);
	/* Two days later, a fresh start. */
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + 3 * DAY_MS), VELOCITY_OK);
}

/* Sequential numbers of one range: the range's minute stops them, its
 * hour after; the next range counts apart. */
static void range_of_sequential_numbers(void **state)
{
	struct fx *f = *state;
	char n[32];
	int ok = 0;
	size_t len;
	char range[24];

	for (int i = 0; i < 1000; i++) {
		snprintf(n, sizeof(n), "+3361234%04d", i);
		ok += velocity_admit(i % 2 ? f->a : f->b, n, "FR", T0 + i) == VELOCITY_OK;
	}
	assert_int_equal(ok, 10);
	snprintf(n, sizeof(n), "+3361234%04d", 5000);
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + 2000), VELOCITY_RANGE_MINUTE);
	assert_int_equal(velocity_admit(f->a, "+33612350000", "FR", T0 + 2000), VELOCITY_OK);
	len = velocity_range(f->a, "+33612345678", range, sizeof(range));
	assert_int_equal(len, 8);
	assert_string_equal(range, "+3361234");
	assert_int_equal(velocity_range(f->a, "+3312", range, sizeof(range)), 0);
	/* Minute by minute, the hour (50) ends it. */
	ok = 0;
	for (int m = 1; m <= 10; m++)
		for (int i = 0; i < 10; i++) {
			snprintf(n, sizeof(n), "+3361234%04d", 100 * m + i);
			ok += velocity_admit(f->a, n, "FR", T0 + m * 2 * MIN_MS) == VELOCITY_OK;
		}
	assert_true(ok < 50);
	snprintf(n, sizeof(n), "+3361234%04d", 9999);
	assert_int_equal(velocity_admit(f->a, n, "FR", T0 + 30 * MIN_MS), VELOCITY_RANGE_HOUR);
}

static void country_and_undo(void **state)
{
	struct fx *f = *state;
	struct velocity_limits l = LIMITS;
	char n[32];

	l.country_per_minute = 4;
	l.range_per_minute = 0;
	l.range_per_hour = 0;
	assert_int_equal(open_both(f, &l, 4096), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(n, sizeof(n), "+336%02d000000", 10 + i);
		assert_int_equal(velocity_admit(f->a, n, "FR", T0), VELOCITY_OK);
	}
	assert_int_equal(velocity_admit(f->b, "+33699000000", "FR", T0), VELOCITY_COUNTRY_MINUTE);
	assert_int_equal(velocity_admit(f->b, "+4915112345678", "DE", T0), VELOCITY_OK);
	/* Taken back (its batch did not commit): room for one more. */
	velocity_undo(f->a, "+33610000000", "FR", T0);
	assert_int_equal(velocity_count(f->a, VELOCITY_NUMBER_HOUR, 0, "+33610000000", "FR", T0), 0);
	assert_int_equal(velocity_admit(f->b, "+33699000000", "FR", T0), VELOCITY_OK);
	/* No country given: no country limit. */
	assert_int_equal(velocity_admit(f->b, "+33698000000", NULL, T0), VELOCITY_OK);
}

/* Sends are counted apart from what ingest took. */
static void sends(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < 3; i++)
		assert_int_equal(velocity_admit(f->a, "+33622222222", "FR", T0), VELOCITY_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(velocity_send(f->b, "+33622222222", T0 + i), VELOCITY_OK);
	assert_int_equal(velocity_send(f->a, "+33622222222", T0 + 5), VELOCITY_NUMBER_HOUR);
	assert_int_equal(velocity_count(f->a, VELOCITY_NUMBER_HOUR, 1, "+33622222222", NULL, T0 + 6), 3);
	assert_int_equal(velocity_send(f->a, "+33622222222", T0 + 2 * HOUR_MS), VELOCITY_OK);
	assert_int_equal(velocity_send(f->a, "+33622222222", T0 + 2 * HOUR_MS), VELOCITY_OK);
	assert_int_equal(velocity_send(f->a, "+33622222222", T0 + 2 * HOUR_MS), VELOCITY_NUMBER_DAY);
}

/* Limits of 0 count and refuse nothing; a full table lets a key pass
 * uncounted and says so; a stale slot is taken over. */
static void off_full_and_reuse(void **state)
{
	struct fx *f = *state;
	struct velocity_limits off = { .range_digits = 4 };
	struct velocity_stats vs;
	char n[32];
	int ok = 0;

	assert_int_equal(open_both(f, &off, 1024), 0);
	assert_false(velocity_ingest_on(f->a));
	for (int i = 0; i < 100; i++)
		assert_int_equal(velocity_admit(f->a, "+33633333333", "FR", T0), VELOCITY_OK);
	assert_int_equal(open_both(f, &LIMITS, 1024), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(n, sizeof(n), "+336%08d", i * 10007);
		ok += velocity_admit(f->a, n, "FR", T0 + i * 100) == VELOCITY_OK;
	}
	velocity_stats(f->a, T0 + 300000, &vs);
	assert_int_equal(vs.slots, 1024);
	assert_true(vs.full > 0);
	assert_true(vs.used <= 1024);
	/* Two days later every slot is stale: keys find room again. */
	assert_int_equal(velocity_admit(f->a, "+33644444444", "FR", T0 + 3 * DAY_MS), VELOCITY_OK);
	velocity_stats(f->a, T0 + 3 * DAY_MS, &vs);
	assert_int_equal(vs.used, 2); /* the number and its range */
}

static void bad_arguments(void **state)
{
	struct fx *f = *state;
	struct velocity_limits l = LIMITS;
	char err[256];

	assert_null(velocity_open(f->dir, 1000, &LIMITS, err, sizeof(err)));
	assert_non_null(strstr(err, "power of two"));
	l.range_digits = 0;
	assert_null(velocity_open(f->dir, 1024, &l, err, sizeof(err)));
	assert_non_null(strstr(err, "range_digits"));
	assert_string_equal(velocity_limit_name(VELOCITY_RANGE_HOUR), "range_per_hour");
	assert_int_equal(velocity_limit_value(f->a, VELOCITY_NUMBER_DAY), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(number_per_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(sliding_window, setup, teardown),
		cmocka_unit_test_setup_teardown(range_of_sequential_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(country_and_undo, setup, teardown),
		cmocka_unit_test_setup_teardown(sends, setup, teardown),
		cmocka_unit_test_setup_teardown(off_full_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
