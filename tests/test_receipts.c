/*
 * test_receipts: delivery reports, the helpers every adapter's receipts()
 * uses (provider/provider_impl.h: forms, times, media types, filling a
 * receipt, a list of reports) and, for each API, what build() asks with a
 * receipt URL and what receipts() makes of the callbacks the providers'
 * documentation shows (provider/PROVIDERS.md, "Delivery reports").
 *
 * As in test_provider, tables name their rows, and everything is pure: a
 * callback is a struct provider_callback built by hand, its query
 * arguments and headers served from small tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider/provider.h"
#include "provider/provider_impl.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* 2026-12-07T18:00:01Z, the reports' time in most examples, and "now". */
#define AT_S 1796666401LL
#define AT_MS (AT_S * 1000)
#define NOW_MS 1800000000000LL
#define BAD (-1)               /* a time that must be refused */

/* Runs rows[0..n) of size bytes each as named tests of fn: each row's
 * first member is its name. */
static int run_rows(const char *group, const void *rows, size_t n, size_t size,
		    CMUnitTestFunction fn)
{
	struct CMUnitTest *t = calloc(n, sizeof(*t));
	int failed;

	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		const void *row = (const char *)rows + i * size;

		t[i].name = *(const char *const *)row;
		t[i].test_func = fn;
		t[i].initial_state = (void *)row;
	}
	failed = _cmocka_run_group_tests(group, t, n, NULL, NULL);
	free(t);
	return failed;
}

#define ROWS(group, rows, fn) run_rows(group, rows, N_OF(rows), sizeof((rows)[0]), fn)

/* ---- times ---------------------------------------------------------------- */

struct time_case {
	const char *name;          /* test name */
	const char *s;             /* the text */
	int64_t want;              /* ms, or BAD */
};

static const struct time_case time_cases[] = {
	{ "time: Infobip's, millis and +0000", "2026-12-07T18:00:01.000+0000", AT_MS },
	{ "time: Sinch's, millis and Z", "2026-12-07T18:00:01.000Z", AT_MS },
	{ "time: Sinch's operator_status_at, no millis", "2026-12-07T18:00:01Z", AT_MS },
	{ "time: Vonage's, a space and no zone (UTC)", "2026-12-07 18:00:01", AT_MS },
	{ "time: Vonage's newer, a space and +0000", "2026-12-07 18:00:01 +0000", AT_MS },
	{ "time: RFC 3339 with an offset east", "2026-12-07T19:30:01+01:30", AT_MS },
	{ "time: RFC 3339 with an offset west", "2026-12-07T13:00:01-05:00", AT_MS },
	{ "time: lower-case t and z", "2026-12-07t18:00:01z", AT_MS },
	{ "time: a fraction of one digit", "2026-12-07T18:00:01.5Z", AT_MS + 500 },
	{ "time: nine digits, ms kept", "2026-12-07T18:00:01.123456789Z", AT_MS + 123 },
	{ "time: a comma before the fraction", "2026-12-07T18:00:01,25Z", AT_MS + 250 },
	{ "time: the epoch", "1970-01-01T00:00:00Z", 0 },
	{ "time: a leap day", "2024-02-29T00:00:00Z", 1709164800000LL },
	{ "time: a leap day of a 400th year", "2000-02-29T12:00:00Z", 951825600000LL },
	{ "time: a leap second is the next minute", "2016-12-31T23:59:60Z", 1483228800000LL },
	{ "time: the last of year 9999", "9999-12-31T23:59:59.999Z", 253402300799999LL },
	{ "time: ten digits of fraction", "2026-12-07T18:00:01.1234567890Z", BAD },
	{ "time: a point and no digits", "2026-12-07T18:00:01.Z", BAD },
	{ "time: 29 February of a common year", "2026-02-29T00:00:00Z", BAD },
	{ "time: 29 February 2100", "2100-02-29T00:00:00Z", BAD },
	{ "time: 31 April", "2026-04-31T00:00:00Z", BAD },
	{ "time: month 13", "2026-13-01T00:00:00Z", BAD },
	{ "time: month 0", "2026-00-01T00:00:00Z", BAD },
	{ "time: day 0", "2026-12-00T00:00:00Z", BAD },
	{ "time: hour 24", "2026-12-07T24:00:00Z", BAD },
	{ "time: minute 60", "2026-12-07T23:60:00Z", BAD },
	{ "time: second 61", "2026-12-07T23:59:61Z", BAD },
	{ "time: offset 24:00", "2026-12-07T18:00:01+24:00", BAD },
	{ "time: offset minutes 60", "2026-12-07T18:00:01+0060", BAD },
	{ "time: an offset of one digit", "2026-12-07T18:00:01+1", BAD },
	{ "time: before 1970", "1969-12-31T23:59:59Z", BAD },
	{ "time: before 1970 by its offset", "1970-01-01T00:30:00+01:00", BAD },
	{ "time: a date alone", "2026-12-07", BAD },
	{ "time: a five-digit year", "20260-12-07T18:00:01Z", BAD },
	{ "time: digits without dashes", "20261207T180001Z", BAD },
	{ "time: a one-digit month", "2026-1-07T18:00:01Z", BAD },
	{ "time: something after the zone", "2026-12-07T18:00:01Zjunk", BAD },
	{ "time: a trailing space", "2026-12-07T18:00:01 ", BAD },
	{ "time: a leading space", " 2026-12-07T18:00:01Z", BAD },
	{ "time: another separator", "2026-12-07_18:00:01Z", BAD },
	{ "time: seconds since the epoch", "1796666401", BAD },
	{ "time: Twilio's RawDlrDoneDate (no zone said)", "2612071800", BAD },
	{ "time: empty", "", BAD },
	{ "time: NULL", NULL, BAD },
};

static void test_time_case(void **state)
{
	const struct time_case *c = *state;
	int64_t ms = 77;
	int rc = provider_parse_time(c->s, &ms);

	if (c->want == BAD) {
		if (rc != -1 || ms != 77)
			fail_msg("\"%s\" read as %" PRId64, c->s, ms);
		return;
	}
	if (rc != 0 || ms != c->want)
		fail_msg("\"%s\": rc %d, %" PRId64 " ms, want %" PRId64, c->s, rc, ms, c->want);
}

/* ---- forms ---------------------------------------------------------------- */

static void test_form_decodes_fields(void **state)
{
	static const char body[] = "To=%2B33612345678&Body=Caf%c3%A9+ok%21&&empty=&flag"
				   "&a%3Db=c%26d&To=second&x=1=2";
	struct provider_form f;
	char err[128] = "";

	(void)state;
	assert_int_equal(provider_form_parse(body, strlen(body), &f, err, sizeof(err)), 0);
	assert_int_equal(f.n, 7);
	assert_string_equal(provider_form_get(&f, "To"), "+33612345678"); /* the first */
	assert_string_equal(f.field[5].value, "second");
	assert_string_equal(provider_form_get(&f, "Body"), "Caf\xc3\xa9 ok!");
	assert_string_equal(provider_form_get(&f, "empty"), "");
	assert_string_equal(provider_form_get(&f, "flag"), "");
	assert_string_equal(provider_form_get(&f, "a=b"), "c&d");
	assert_string_equal(provider_form_get(&f, "x"), "1=2");
	assert_null(provider_form_get(&f, "absent"));
	assert_null(provider_form_get(&f, "to")); /* names are case-sensitive */
	provider_form_clear(&f);
	assert_null(f.buf);
	assert_int_equal(f.n, 0);
	provider_form_clear(&f);
	provider_form_clear(NULL);

	/* Not NUL-terminated: only len bytes are read. */
	assert_int_equal(provider_form_parse("a=1&b=2", 3, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(provider_form_get(&f, "a"), "1");
	provider_form_clear(&f);
	assert_int_equal(provider_form_parse(NULL, 0, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n, 0);
	provider_form_clear(&f);
}

static void test_form_refuses(void **state)
{
	static const char *const bad[] = {
		"a=%4", "a=%", "a=%zz", "a=%4g&b=1", "%=1", "a=%00", "a%00=1", "a=1&b=%2",
	};
	struct provider_form f;
	char err[128], *many, *huge;
	size_t k = 0;

	(void)state;
	for (size_t i = 0; i < N_OF(bad); i++) {
		err[0] = '\0';
		if (provider_form_parse(bad[i], strlen(bad[i]), &f, err, sizeof(err)) != -1)
			fail_msg("\"%s\" was read", bad[i]);
		assert_null(f.buf);
		assert_int_equal(f.n, 0);
		assert_non_null(strstr(err, "unreadable form"));
	}
	assert_int_equal(provider_form_parse("a=1\0b=2", 7, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));

	/* PROVIDER_FORM_FIELDS_MAX fields are read, one more is refused. */
	many = malloc(8 * (PROVIDER_FORM_FIELDS_MAX + 1));
	assert_non_null(many);
	for (int i = 0; i < PROVIDER_FORM_FIELDS_MAX; i++)
		k += (size_t)sprintf(many + k, "%sf%d=1", i > 0 ? "&" : "", i);
	assert_int_equal(provider_form_parse(many, k, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n, PROVIDER_FORM_FIELDS_MAX);
	provider_form_clear(&f);
	k += (size_t)sprintf(many + k, "&last=1");
	assert_int_equal(provider_form_parse(many, k, &f, err, sizeof(err)), -1);
	free(many);

	huge = malloc(PROVIDER_BODY_MAX + 1);
	assert_non_null(huge);
	memset(huge, 'a', PROVIDER_BODY_MAX + 1);
	assert_int_equal(provider_form_parse(huge, PROVIDER_BODY_MAX + 1, &f, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "too large"));
	free(huge);
}

static void test_media_types(void **state)
{
	(void)state;
	assert_true(provider_media_type_is("application/json", "application/json"));
	assert_true(provider_media_type_is("Application/JSON; charset=UTF-8", "application/json"));
	assert_true(provider_media_type_is(" application/json ;charset=utf-8", "application/json"));
	assert_true(provider_media_type_is("application/x-www-form-urlencoded",
					   "application/x-www-form-urlencoded"));
	assert_false(provider_media_type_is("application/jsonp", "application/json"));
	assert_false(provider_media_type_is("application/json-patch+json", "application/json"));
	assert_false(provider_media_type_is("text/plain", "application/json"));
	assert_false(provider_media_type_is("", "application/json"));
	assert_false(provider_media_type_is(NULL, "application/json"));
}

/* ---- filling a receipt --------------------------------------------------------- */

static void test_receipt_fill(void **state)
{
	struct provider_report rep = {
		.final = 1, .delivered = 1, .ref = "smsq-42", .ref_name = "messageId",
		.provider_id = "pid-1", .to = "33612345678", .at = "2026-12-07T18:00:01Z",
		.at_name = "doneAt", .status = "DELIVERED_TO_HANDSET", .error = "",
	};
	char long_id[PROVIDER_ID_MAX + 1], long_word[200], err[160];
	struct provider_receipt r;

	(void)state;
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	assert_int_equal(r.final, 1);
	assert_int_equal(r.delivered, 1);
	assert_true(r.id == 42);
	assert_string_equal(r.provider_id, "pid-1");
	assert_string_equal(r.to, "33612345678");
	assert_true(r.at_ms == AT_MS);
	assert_string_equal(r.status, "DELIVERED_TO_HANDSET");
	assert_string_equal(r.error, "");

	/* No time: now.  Not final: never delivered.  No ref: id 0. */
	rep.at = NULL;
	rep.final = 0;
	rep.ref = NULL;
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	assert_true(r.at_ms == NOW_MS);
	assert_int_equal(r.delivered, 0);
	assert_true(r.id == 0);

	/* Words are cut and sanitised; ids and numbers must fit whole. */
	memset(long_word, 'w', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	long_word[3] = '\n';
	rep.status = long_word;
	rep.error = "E\x01" "1";
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	assert_int_equal(strlen(r.status), PROVIDER_STATUS_MAX - 1);
	assert_int_equal(r.status[3], ' ');
	assert_string_equal(r.error, "E 1");
	memset(long_id, '7', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	rep.provider_id = long_id;
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_MALFORMED);
	assert_non_null(strstr(err, "message id"));
	long_id[PROVIDER_ID_MAX - 1] = '\0'; /* exactly what fits */
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	rep.to = "+3361234567890123456789012";
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_MALFORMED);
	assert_non_null(strstr(err, "recipient"));
	rep.to = "+33612345678";

	/* Refs that are not ours, and bad times, name the field only. */
	static const char *const not_ours[] = {
		"smsq-0", "smsq-", "smsq-01", "SMSQ-1", "smsq-1x", "smsq-18446744073709551616",
		"gw-1", "", " smsq-1",
	};
	for (size_t i = 0; i < N_OF(not_ours); i++) {
		rep.ref = not_ours[i];
		err[0] = '\0';
		if (provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)) !=
		    PROVIDER_RECEIPT_MALFORMED)
			fail_msg("ref \"%s\" taken", not_ours[i]);
		assert_string_equal(err, "messageId is not a reference of ours");
	}
	rep.ref = "smsq-18446744073709551615";
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	assert_true(r.id == UINT64_MAX);
	rep.at = "2026-12-07T18:00:01+25:00";
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_MALFORMED);
	assert_string_equal(err, "doneAt is not a time");
}

static void test_status_lookup(void **state)
{
	static const struct provider_status_word words[] = {
		{ "delivered", 1, 1 }, { "failed", 1, 0 }, { "queued", 0, 0 }, { "odd", 0, 1 },
	};
	int final = 7, delivered = 7;

	(void)state;
	provider_status_lookup(words, N_OF(words), "delivered", &final, &delivered);
	assert_true(final == 1 && delivered == 1);
	provider_status_lookup(words, N_OF(words), "DELIVERED", &final, &delivered);
	assert_true(final == 1 && delivered == 1);
	provider_status_lookup(words, N_OF(words), "failed", &final, &delivered);
	assert_true(final == 1 && delivered == 0);
	provider_status_lookup(words, N_OF(words), "queued", &final, &delivered);
	assert_true(final == 0 && delivered == 0);
	provider_status_lookup(words, N_OF(words), "odd", &final, &delivered);
	assert_true(final == 0 && delivered == 0); /* delivered only when final */
	provider_status_lookup(words, N_OF(words), "new-word", &final, &delivered);
	assert_true(final == 0 && delivered == 0);
	provider_status_lookup(words, N_OF(words), NULL, &final, &delivered);
	assert_true(final == 0 && delivered == 0);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
	static const struct CMUnitTest misc[] = {
		cmocka_unit_test(test_form_decodes_fields),
		cmocka_unit_test(test_form_refuses),
		cmocka_unit_test(test_media_types),
		cmocka_unit_test(test_receipt_fill),
		cmocka_unit_test(test_status_lookup),
	};
	int failed = cmocka_run_group_tests_name("receipts", misc, NULL, NULL);

	failed += ROWS("times", time_cases, test_time_case);
	return failed == 0 ? 0 : 1;
}
