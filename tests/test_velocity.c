/*
 * test_velocity: the shared counts against SMS pumping (store/velocity.h).
 *
 * Time is simulated (every call takes the wall clock as an argument).  Two
 * handles on one table stand for two processes of the pool; one test forks
 * a real child, others save and load the table through a directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/velocity.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define T0 (1800000000000LL / DAY_MS * DAY_MS) /* midnight, a day in 2027 */

struct fx {
	char dir[64];   /* temp directory holding the saved table */
	velocity_table *t; /* the table */
	uint64_t slots; /* its size */
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

	char note[512];

	velocity_close(&f->a);
	velocity_close(&f->b);
	if (f->t == NULL || f->slots != slots) {
		velocity_table_destroy(&f->t);
		f->t = velocity_table_new(f->dir, slots, T0, note, sizeof(note), err, sizeof(err));
		f->slots = slots;
		if (f->t == NULL)
			return -1;
	}
	f->a = velocity_open(f->t, l, err, sizeof(err));
	f->b = velocity_open(f->t, l, err, sizeof(err));
	return f->a && f->b ? 0 : -1;
}

/* A table of slots loaded from f->dir at now_ms, its note into note. */
static velocity_table *reload(struct fx *f, uint64_t slots, int64_t now_ms, char *note,
			      size_t notelen)
{
	char err[256];
	velocity_table *t = velocity_table_new(f->dir, slots, now_ms, note, notelen, err,
					       sizeof(err));

	if (t == NULL)
		fail_msg("velocity_table_new: %s", err);
	return t;
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
	velocity_table_destroy(&f->t);
	snprintf(path, sizeof(path), "%s/velocity", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/velocity.new", f->dir);
	if (rmdir(path) != 0)
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

	char note[256];

	assert_null(velocity_table_new(f->dir, 1000, T0, note, sizeof(note), err, sizeof(err)));
	assert_non_null(strstr(err, "power of two"));
	l.range_digits = 0;
	assert_null(velocity_open(f->t, &l, err, sizeof(err)));
	assert_non_null(strstr(err, "range_digits"));
	assert_string_equal(velocity_limit_name(VELOCITY_RANGE_HOUR), "range_per_hour");
	assert_int_equal(velocity_limit_value(f->a, VELOCITY_NUMBER_DAY), 5);
}

/* A child of the process that made the table counts into the same memory
 * (the pool's workers are such children). */
static void shared_across_fork(void **state)
{
	struct fx *f = *state;
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		for (int i = 0; i < 3; i++)
			bad += velocity_admit(f->b, "+33655555555", "FR", T0 + i) != VELOCITY_OK;
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(velocity_admit(f->a, "+33655555555", "FR", T0 + 10), VELOCITY_NUMBER_HOUR);
	assert_int_equal(velocity_count(f->a, VELOCITY_NUMBER_HOUR, 0, "+33655555555", "FR",
					T0 + 10), 3);
}

/* Saved and loaded: the counts as they were, into a table of the same size
 * or another; keys whose windows are all past stay behind; the file holds
 * only what is used. */
static void save_and_load(void **state)
{
	struct fx *f = *state;
	char err[256], note[512], path[128];
	velocity_table *t;
	velocity *v;
	struct stat sb;

	for (int i = 0; i < 3; i++)
		assert_int_equal(velocity_admit(f->a, "+33611111111", "FR", T0 + i), VELOCITY_OK);
	assert_int_equal(velocity_send(f->a, "+33611111111", T0 + 5), VELOCITY_OK);
	assert_int_equal(velocity_table_save(f->t, T0 + 10, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/velocity", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 64 + 4096 * 64);

	/* The same size, a minute later: the number is still over its hour. */
	t = reload(f, 4096, T0 + MIN_MS, note, sizeof(note));
	assert_non_null(strstr(note, "2 keys loaded")); /* the number and its range */
	assert_non_null(strstr(note, "saved 59 s ago"));
	v = velocity_open(t, &LIMITS, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(velocity_admit(v, "+33611111111", "FR", T0 + MIN_MS), VELOCITY_NUMBER_HOUR);
	assert_int_equal(velocity_count(v, VELOCITY_RANGE_MINUTE, 0, "+33611111111", "FR",
					T0 + 10), 3);
	assert_int_equal(velocity_count(v, VELOCITY_NUMBER_HOUR, 1, "+33611111111", NULL,
					T0 + 10), 1);
	velocity_close(&v);
	velocity_table_destroy(&t);

	/* Another size takes the counts too. */
	t = reload(f, 65536, T0 + MIN_MS, note, sizeof(note));
	assert_non_null(strstr(note, "2 keys loaded"));
	v = velocity_open(t, &LIMITS, err, sizeof(err));
	assert_int_equal(velocity_admit(v, "+33611111111", "FR", T0 + MIN_MS), VELOCITY_NUMBER_HOUR);
	velocity_close(&v);

	/* Saved from the big table with a few keys: a sparse file. */
	assert_int_equal(velocity_table_save(t, T0 + MIN_MS, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 64 + 65536 * 64);
	assert_true((uint64_t)sb.st_blocks * 512 < 64 * 1024);
	velocity_table_destroy(&t);

	/* Three days later every window is past: nothing is loaded. */
	t = reload(f, 4096, T0 + 3 * DAY_MS, note, sizeof(note));
	assert_non_null(strstr(note, "0 keys loaded"));
	assert_non_null(strstr(note, "2 past"));
	velocity_table_destroy(&t);
}

/* A file that is no table starts the counts afresh and says so; a link is
 * refused; a save that cannot be written leaves the last one. */
static void bad_files(void **state)
{
	struct fx *f = *state;
	char err[256], note[512], path[128], tmp[128];
	velocity_table *t;
	struct stat sb;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/velocity", f->dir);
	snprintf(tmp, sizeof(tmp), "%s/velocity.new", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("not a table\n", fp);
	fclose(fp);
	t = reload(f, 4096, T0, note, sizeof(note));
	assert_non_null(strstr(note, "no velocity table"));
	velocity_table_destroy(&t);

	/* The save cannot make velocity.new (a directory there): refused, the
	 * file as it was. */
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(velocity_table_save(f->t, T0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "velocity.new"));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 12);
	assert_int_equal(rmdir(tmp), 0);

	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_null(velocity_table_new(f->dir, 4096, T0, note, sizeof(note), err, sizeof(err)));
	assert_true(strlen(err) > 0);
	unlink(path);

	/* No file: no note. */
	t = reload(f, 4096, T0, note, sizeof(note));
	assert_string_equal(note, "");
	velocity_table_destroy(&t);
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
		cmocka_unit_test_setup_teardown(shared_across_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(save_and_load, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
