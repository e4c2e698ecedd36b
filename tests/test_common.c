/*
 * test_common: the small shared pieces of common/: err_set() (the error
 * buffers: NULL-safe, cut on a character boundary, returns -1), the
 * checked number parsers of num.h (the whole string, in range, no spaces,
 * signs or hexadecimal, overflow refused, *out untouched on refusal), and
 * hmac.h's HMAC-SHA1 in base64 (RFC 2202's test cases, the string Twilio's
 * "Webhooks security" guide signs) and its comparison of secrets.
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
#include "common/hmac.h"
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

/* RFC 2202, section 3: the test cases of HMAC-SHA1, their digests (given
 * there in hex, the comment) in base64. */
struct sha1_case {
	const char *name;      /* which case */
	unsigned char key[80]; /* the key (filled by the test where it repeats) */
	size_t key_len;        /* its length */
	const char *data;      /* the data (NULL: data_byte data_len times) */
	unsigned char data_byte;
	size_t data_len;
	const char *want;      /* base64 of the digest */
};

static void hmac_sha1_base64_gives_rfc_2202_digests(void **state)
{
	struct sha1_case cases[] = {
		/* b617318655057264e28bc0b6fb378c8ef146be00 */
		{ "1", { 0 }, 20, "Hi There", 0, 0, "thcxhlUFcmTii8C2+zeMjvFGvgA=" },
		/* effcdf6ae5eb2fa2d27416d5f184df9c259a7c79 */
		{ "2", "Jefe", 4, "what do ya want for nothing?", 0, 0,
		  "7/zfauXrL6LSdBbV8YTfnCWafHk=" },
		/* 125d7342b9ac11cd91a39af48aa17b4f63f175d3 */
		{ "3", { 0 }, 20, NULL, 0xdd, 50, "El1zQrmsEc2Ro5r0iqF7T2PxddM=" },
		/* 4c9007f4026250c6bc8414f9bf50c86c2d7235da */
		{ "4", { 0 }, 25, NULL, 0xcd, 50, "TJAH9AJiUMa8hBT5v1DIbC1yNdo=" },
		/* 4c1a03424b55e07fe7f27be1d58bb9324a9a5a04 */
		{ "5", { 0 }, 20, "Test With Truncation", 0, 0, "TBoDQktV4H/n8nvh1Yu5MkqaWgQ=" },
		/* aa4ae5e15272d00e95705637ce8a3b55ed402112 */
		{ "6", { 0 }, 80, "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
		  "qkrl4VJy0A6VcFY3zoo7Ve1AIRI=" },
		/* e8e99d0f45237d786d6bbaa7965c7808bbff1a91 */
		{ "7", { 0 }, 80, "Test Using Larger Than Block-Size Key and Larger Than One "
		  "Block-Size Data", 0, 0, "6OmdD0UjfXhta7qnllx4CLv/GpE=" },
	};
	static const unsigned char key_byte[] = { 0x0b, 0, 0xaa, 0, 0x0c, 0xaa, 0xaa };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sha1_case *c = &cases[i];
		unsigned char data[80];
		char out[HMAC_SHA1_BASE64];

		if (key_byte[i] != 0)
			memset(c->key, key_byte[i], c->key_len);
		if (i == 3) /* 0x01, 0x02, ... 0x19 */
			for (size_t k = 0; k < c->key_len; k++)
				c->key[k] = (unsigned char)(k + 1);
		if (c->data == NULL)
			memset(data, c->data_byte, c->data_len);
		assert_int_equal(hmac_sha1_base64(c->key, c->key_len,
						  c->data != NULL ? (const void *)c->data : data,
						  c->data != NULL ? strlen(c->data) : c->data_len,
						  out), 0);
		if (strcmp(out, c->want) != 0)
			fail_msg("RFC 2202 case %s: %s, want %s", c->name, out, c->want);
	}
}

/* Twilio's "Webhooks security" guide: auth token 12345 signs the URL and
 * the POST parameters sorted by name, each name then value. */
static void hmac_sha1_base64_signs_twilios_example(void **state)
{
	static const char data[] = "https://mycompany.com/myapp.php?foo=1&bar=2"
				   "CallSidCA1234567890ABCDE" "Caller+12349013030" "Digits1234"
				   "From+12349013030" "To+18005551212";
	char out[HMAC_SHA1_BASE64];

	(void)state;
	assert_int_equal(hmac_sha1_base64("12345", 5, data, strlen(data), out), 0);
	assert_string_equal(out, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
	assert_int_equal(hmac_sha1_base64("12345", 5, "", 0, out), 0);
	assert_int_equal(strlen(out), HMAC_SHA1_BASE64 - 1);
}

static void hmac_equal_compares_bytes_and_lengths(void **state)
{
	(void)state;
	assert_int_equal(hmac_equal("secret", 6, "secret", 6), 1);
	assert_int_equal(hmac_equal("secret", 6, "secreT", 6), 0);
	assert_int_equal(hmac_equal("Secret", 6, "secret", 6), 0);
	assert_int_equal(hmac_equal("secret", 6, "secret!", 7), 0);
	assert_int_equal(hmac_equal("secret", 6, "secret", 5), 0);
	assert_int_equal(hmac_equal("a\0b", 3, "a\0c", 3), 0);
	assert_int_equal(hmac_equal("", 0, "", 0), 1);
	assert_int_equal(hmac_equal(NULL, 0, "", 0), 1);
	assert_int_equal(hmac_equal(NULL, 0, "x", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(err_set_formats_and_returns_minus_one),
		cmocka_unit_test(err_set_cuts_on_a_character_boundary),
		cmocka_unit_test(integers_are_the_whole_string_in_range),
		cmocka_unit_test(unsigned_integers_refuse_any_sign),
		cmocka_unit_test(decimals_are_plain_and_finite),
		cmocka_unit_test(hmac_sha1_base64_gives_rfc_2202_digests),
		cmocka_unit_test(hmac_sha1_base64_signs_twilios_example),
		cmocka_unit_test(hmac_equal_compares_bytes_and_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
