/*
 * test_common: the small shared pieces of common/: err_set() (the error
 * buffers: NULL-safe, cut on a character boundary, returns -1) and the
 * checked number parsers of num.h (the whole string, in range, no spaces,
 * signs or hexadecimal, overflow refused, *out untouched on refusal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/num.h"
#include "common/utf8.h"

static void err_set_formats_and_returns_minus_one(void **state)
{
	char err[32];

	(void)state;
	assert_int_equal(err_set(err, sizeof(err), "%s: %d", "open", 2), -1);
	assert_string_equal(err, "open: 2");
	assert_int_equal(err_set(NULL, 10, "x"), -1);
	assert_int_equal(err_set(err, 0, "x"), -1);
	assert_string_equal(err, "open: 2"); /* errlen 0: untouched */
}

static void err_set_cuts_on_a_character_boundary(void **state)
{
	char err[8];

	(void)state;
	/* "abcdé..." : é is 2 bytes at offsets 6 and 7; the buffer holds 7. */
	(void)err_set(err, sizeof(err), "abcdef%s", "\xc3\xa9xyz");
	assert_string_equal(err, "abcdef");
	assert_true(utf8_valid(err, strlen(err)));
	(void)err_set(err, sizeof(err), "%s", "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
	assert_string_equal(err, "\xe2\x82\xac\xe2\x82\xac"); /* two euros, not 2 1/3 */
}

struct i64_case {
	const char *s;
	int64_t min, max;
	int ok;
	int64_t want;
};

static void integers_are_the_whole_string_in_range(void **state)
{
	static const struct i64_case cases[] = {
		{ "0", 0, 10, 1, 0 },
		{ "10", 0, 10, 1, 10 },
		{ "11", 0, 10, 0, 0 },
		{ "-1", 0, 10, 0, 0 },
		{ "-1", -5, 10, 1, -1 },
		{ "-6", -5, 10, 0, 0 },
		{ "", 0, 10, 0, 0 },
		{ " 1", 0, 10, 0, 0 },
		{ "1 ", 0, 10, 0, 0 },
		{ "+1", 0, 10, 0, 0 },
		{ "1x", 0, 10, 0, 0 },
		{ "0x10", 0, 100, 0, 0 },
		{ "-", -5, 5, 0, 0 },
		{ "9223372036854775807", 0, INT64_MAX, 1, INT64_MAX },
		{ "9223372036854775808", 0, INT64_MAX, 0, 0 },
		{ "-9223372036854775808", INT64_MIN, 0, 1, INT64_MIN },
		{ "-9223372036854775809", INT64_MIN, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct i64_case *c = &cases[i];
		int64_t v = 77;
		long l = 77;
		int rc = num_parse_i64(c->s, c->min, c->max, &v);

		if (rc != (c->ok ? 0 : -1) || v != (c->ok ? c->want : 77))
			fail_msg("num_parse_i64(\"%s\", %lld, %lld): rc %d value %lld", c->s,
				 (long long)c->min, (long long)c->max, rc, (long long)v);
		if (c->min >= LONG_MIN && c->max <= LONG_MAX) {
			rc = num_parse_long(c->s, (long)c->min, (long)c->max, &l);
			assert_int_equal(rc, c->ok ? 0 : -1);
			assert_true(l == (c->ok ? (long)c->want : 77));
		}
	}
	assert_int_equal(num_parse_i64(NULL, 0, 1, &(int64_t){ 0 }), -1);
}

static void unsigned_integers_refuse_any_sign(void **state)
{
	uint64_t v = 5;

	(void)state;
	assert_int_equal(num_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	v = 5;
	assert_int_equal(num_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -1);
	assert_int_equal(num_parse_u64("-1", 0, UINT64_MAX, &v), -1); /* strtoull wraps it */
	assert_int_equal(num_parse_u64("+1", 0, UINT64_MAX, &v), -1);
	assert_int_equal(num_parse_u64("3", 4, 9, &v), -1);
	assert_true(v == 5);
}

static void decimals_are_plain_and_finite(void **state)
{
	double v = 7;

	(void)state;
	assert_int_equal(num_parse_double("0.25", 0, 1, &v), 0);
	assert_true(v == 0.25);
	assert_int_equal(num_parse_double(".5", 0, 1, &v), 0);
	assert_true(v == 0.5);
	assert_int_equal(num_parse_double("-2.5", -3, 0, &v), 0);
	assert_true(v == -2.5);
	assert_int_equal(num_parse_double("1e2", 0, 1000, &v), 0);
	assert_true(v == 100);
	v = 7;
	assert_int_equal(num_parse_double("1.5", 0, 1, &v), -1);
	assert_int_equal(num_parse_double("inf", 0, INFINITY, &v), -1);
	assert_int_equal(num_parse_double("nan", 0, 1, &v), -1);
	assert_int_equal(num_parse_double("0x1p3", 0, 100, &v), -1);
	assert_int_equal(num_parse_double("1e999", 0, INFINITY, &v), -1);
	assert_int_equal(num_parse_double(" 1", 0, 10, &v), -1);
	assert_int_equal(num_parse_double("1,5", 0, 10, &v), -1);
	assert_int_equal(num_parse_double("", 0, 10, &v), -1);
	assert_true(v == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(err_set_formats_and_returns_minus_one),
		cmocka_unit_test(err_set_cuts_on_a_character_boundary),
		cmocka_unit_test(integers_are_the_whole_string_in_range),
		cmocka_unit_test(unsigned_integers_refuse_any_sign),
		cmocka_unit_test(decimals_are_plain_and_finite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
