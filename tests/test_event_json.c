/*
 * test_event_json: NDJSON line -> packed BookingEvent (producer/event_json.h).
 *
 * Table-driven: good events (each checked after unpacking what was packed),
 * every time form, and every error with a fragment of its message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "producer/event_json.h"
#include "proto/booking.pb-c.h"

#define OUT_MAX 16384
#define ERR_MAX 256

/* 2026-12-01T07:30:00Z */
#define T_2026_12_01_0730Z INT64_C(1796110200000)

static const char full_event[] =
	"{\"version\":1,\"idempotency_key\":\"bk-42-confirm\",\"booking_id\":\"bk-42\","
	"\"kind\":\"rescheduled\",\"phone\":\"+33612345678\",\"locale\":\"fr-FR\","
	"\"patient_name\":\"Jeanne Martin\",\"practitioner_name\":\"Dr Paul Durand\","
	"\"place\":\"12 rue de la Paix, Paris\","
	"\"appointment_at\":\"2026-12-01T08:30:00+01:00\",\"time_zone\":\"Europe/Paris\","
	"\"created_at\":1796000000000,\"not_before\":\"2026-11-30T18:00:00Z\","
	"\"expires_at\":\"2026-12-01T07:30:00.5Z\",\"priority\":7,"
	"\"text\":\"Rendez-vous d\\u00e9plac\\u00e9\"}\n";

/* Pack a line and unpack the result; NULL (with err) if packing failed. */
static Smsq__BookingEvent *convert(const char *json, char *err)
{
	uint8_t out[OUT_MAX];
	size_t len = 0;
	Smsq__BookingEvent *ev;

	err[0] = '\0';
	if (event_json_pack_line(json, strlen(json), out, sizeof(out), &len, err,
				 ERR_MAX) != 0)
		return NULL;
	ev = smsq__booking_event__unpack(NULL, len, out);
	assert_non_null(ev);
	return ev;
}

static void test_full_event(void **state)
{
	char err[ERR_MAX];
	Smsq__BookingEvent *ev = convert(full_event, err);

	(void)state;
	if (ev == NULL)
		fail_msg("full event refused: %s", err);
	assert_int_equal(ev->version, 1);
	assert_string_equal(ev->idempotency_key, "bk-42-confirm");
	assert_string_equal(ev->booking_id, "bk-42");
	assert_int_equal(ev->kind, SMSQ__KIND__KIND_RESCHEDULED);
	assert_string_equal(ev->phone, "+33612345678");
	assert_string_equal(ev->locale, "fr-FR");
	assert_string_equal(ev->patient_name, "Jeanne Martin");
	assert_string_equal(ev->practitioner_name, "Dr Paul Durand");
	assert_string_equal(ev->place, "12 rue de la Paix, Paris");
	assert_int_equal(ev->appointment_at_ms, T_2026_12_01_0730Z);
	assert_string_equal(ev->time_zone, "Europe/Paris");
	assert_int_equal(ev->created_at_ms, INT64_C(1796000000000));
	assert_int_equal(ev->not_before_ms, T_2026_12_01_0730Z - INT64_C(13) * 3600 * 1000 -
			 INT64_C(30) * 60 * 1000);
	assert_int_equal(ev->expires_at_ms, T_2026_12_01_0730Z + 500);
	assert_int_equal(ev->priority, 7);
	assert_string_equal(ev->text, "Rendez-vous d\xc3\xa9plac\xc3\xa9");
	smsq__booking_event__free_unpacked(ev, NULL);
}

/* Good lines, with one integer member checked. */
struct good_case {
	const char *name;		/* what the case shows */
	const char *json;		/* the line */
	size_t offset;			/* offsetof the int64/uint32 member checked */
	bool is_uint32;			/* member type */
	int64_t expect;			/* its expected value */
};

#define EV(m) offsetof(Smsq__BookingEvent, m)

static const struct good_case good_cases[] = {
	{ "version defaults to 1", "{}", EV(version), true, 1 },
	{ "version given", "{\"version\":2}", EV(version), true, 2 },
	{ "null is absent", "{\"version\":null,\"phone\":null}", EV(version), true, 1 },
	{ "priority 0", "{\"priority\":0}", EV(priority), true, 0 },
	{ "priority 9", "{\"priority\":9}", EV(priority), true, 9 },
	{ "kind confirmed", "{\"kind\":\"confirmed\"}", EV(kind), true,
	  SMSQ__KIND__KIND_CONFIRMED },
	{ "kind cancelled", "{\"kind\":\"cancelled\"}", EV(kind), true,
	  SMSQ__KIND__KIND_CANCELLED },
	{ "kind reminder", "{\"kind\":\"reminder\"}", EV(kind), true,
	  SMSQ__KIND__KIND_REMINDER },
	{ "time with +01:00", "{\"appointment_at\":\"2026-12-01T08:30:00+01:00\"}",
	  EV(appointment_at_ms), false, T_2026_12_01_0730Z },
	{ "time with -05:30", "{\"appointment_at\":\"2026-12-01T02:00:00-05:30\"}",
	  EV(appointment_at_ms), false, T_2026_12_01_0730Z },
	{ "time in Z", "{\"appointment_at\":\"2026-12-01T07:30:00Z\"}",
	  EV(appointment_at_ms), false, T_2026_12_01_0730Z },
	{ "time in -00:00", "{\"appointment_at\":\"2026-12-01T07:30:00-00:00\"}",
	  EV(appointment_at_ms), false, T_2026_12_01_0730Z },
	{ "time lower-case t and z", "{\"created_at\":\"2026-12-01t07:30:00z\"}",
	  EV(created_at_ms), false, T_2026_12_01_0730Z },
	{ "time with a space", "{\"not_before\":\"2026-12-01 07:30:00Z\"}",
	  EV(not_before_ms), false, T_2026_12_01_0730Z },
	{ "time with .250", "{\"expires_at\":\"2026-12-01T07:30:00.250Z\"}",
	  EV(expires_at_ms), false, T_2026_12_01_0730Z + 250 },
	{ "time with .1", "{\"expires_at\":\"2026-12-01T07:30:00.1Z\"}",
	  EV(expires_at_ms), false, T_2026_12_01_0730Z + 100 },
	{ "time with nanoseconds", "{\"expires_at\":\"2026-12-01T08:30:00.123456789+01:00\"}",
	  EV(expires_at_ms), false, T_2026_12_01_0730Z + 123 },
	{ "time as integer ms", "{\"appointment_at\":1796110200000}",
	  EV(appointment_at_ms), false, T_2026_12_01_0730Z },
	{ "leap day", "{\"appointment_at\":\"2024-02-29T00:00:00Z\"}",
	  EV(appointment_at_ms), false, INT64_C(1709164800000) },
	{ "epoch", "{\"appointment_at\":\"1970-01-01T00:00:00Z\"}",
	  EV(appointment_at_ms), false, 0 },
	{ "before the epoch", "{\"appointment_at\":\"1969-12-31T23:59:59Z\"}",
	  EV(appointment_at_ms), false, -1000 },
	{ "white space around", "  {\"priority\" : 3}  \r\n", EV(priority), true, 3 },
};

static void test_good_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		char err[ERR_MAX];
		Smsq__BookingEvent *ev = convert(c->json, err);
		int64_t got;

		if (ev == NULL)
			fail_msg("case \"%s\": refused: %s", c->name, err);
		if (c->is_uint32)
			got = *(const uint32_t *)((const char *)ev + c->offset);
		else
			got = *(const int64_t *)((const char *)ev + c->offset);
		if (got != c->expect)
			fail_msg("case \"%s\": got %lld, expected %lld", c->name,
				 (long long)got, (long long)c->expect);
		smsq__booking_event__free_unpacked(ev, NULL);
	}
}

/* Bad lines and a fragment of the error each must give. */
struct bad_case {
	const char *name;	/* what the case shows */
	const char *json;	/* the line */
	const char *error;	/* expected in the error message */
};

static const struct bad_case bad_cases[] = {
	{ "not JSON", "{\"phone\":", "not valid JSON" },
	{ "trailing garbage", "{\"phone\":\"+33\"} x", "not valid JSON" },
	{ "two objects", "{} {}", "not valid JSON" },
	{ "empty line", "", "not valid JSON" },
	{ "array", "[1,2]", "expected a JSON object, got an array" },
	{ "bare string", "\"event\"", "not valid JSON" },
	{ "unknown key", "{\"phon\":\"+33\"}", "unknown key \"phon\"" },
	{ "_ms suffix is not a key", "{\"appointment_at_ms\":1}",
	  "unknown key \"appointment_at_ms\"" },
	{ "duplicate key", "{\"phone\":\"+33\",\"phone\":\"+34\"}", "duplicate" },
	{ "string as integer", "{\"phone\":33612345678}",
	  "\"phone\": expected a string, got an integer" },
	{ "string as object", "{\"place\":{}}", "\"place\": expected a string, got an object" },
	{ "NUL in a string", "{\"text\":\"a\\u0000b\"}", "\"text\": contains a NUL character" },
	{ "unknown kind", "{\"kind\":\"booked\"}",
	  "\"kind\": unknown kind \"booked\" (expected confirmed" },
	{ "kind by number", "{\"kind\":1}", "\"kind\": expected a string, got an integer" },
	{ "kind in capitals", "{\"kind\":\"CONFIRMED\"}", "\"kind\": unknown kind" },
	{ "version negative", "{\"version\":-1}", "\"version\": must be 0..4294967295, got -1" },
	{ "version too big", "{\"version\":4294967296}", "\"version\": must be 0..4294967295" },
	{ "version as string", "{\"version\":\"1\"}",
	  "\"version\": expected an integer, got a string" },
	{ "priority 10", "{\"priority\":10}", "\"priority\": must be 0..9, got 10" },
	{ "priority real", "{\"priority\":1.5}",
	  "\"priority\": expected an integer, got a real number" },
	{ "priority boolean", "{\"priority\":true}",
	  "\"priority\": expected an integer, got a boolean" },
	{ "time as real", "{\"expires_at\":1.7e12}",
	  "\"expires_at\": expected an RFC 3339 string or integer milliseconds, got a real" },
	{ "time as array", "{\"created_at\":[]}",
	  "\"created_at\": expected an RFC 3339 string or integer milliseconds, got an array" },
	{ "date only", "{\"appointment_at\":\"2026-12-01\"}",
	  "\"appointment_at\": \"2026-12-01\" is not an RFC 3339 date-time" },
	{ "no offset", "{\"appointment_at\":\"2026-12-01T08:30:00\"}",
	  "\"appointment_at\": \"2026-12-01T08:30:00\" is not an RFC 3339" },
	{ "no such day", "{\"appointment_at\":\"2026-11-31T08:30:00Z\"}",
	  "\"appointment_at\": \"2026-11-31T08:30:00Z\" is not" },
	{ "29 February of a common year", "{\"not_before\":\"2026-02-29T08:30:00Z\"}",
	  "\"not_before\": \"2026-02-29" },
	{ "month 13", "{\"appointment_at\":\"2026-13-01T08:30:00Z\"}", "is not an RFC 3339" },
	{ "hour 24", "{\"appointment_at\":\"2026-12-01T24:00:00Z\"}", "is not an RFC 3339" },
	{ "leap second", "{\"appointment_at\":\"2026-12-31T23:59:60Z\"}", "is not an RFC 3339" },
	{ "offset hour 24", "{\"appointment_at\":\"2026-12-01T08:30:00+24:00\"}",
	  "is not an RFC 3339" },
	{ "offset without colon", "{\"appointment_at\":\"2026-12-01T08:30:00+0100\"}",
	  "is not an RFC 3339" },
	{ "empty fraction", "{\"appointment_at\":\"2026-12-01T08:30:00.Z\"}",
	  "is not an RFC 3339" },
	{ "one-digit month", "{\"appointment_at\":\"2026-1-01T08:30:00Z\"}",
	  "is not an RFC 3339" },
	{ "leading space", "{\"appointment_at\":\" 2026-12-01T08:30:00Z\"}",
	  "is not an RFC 3339" },
	{ "trailing space", "{\"appointment_at\":\"2026-12-01T08:30:00Z \"}",
	  "is not an RFC 3339" },
	{ "wrong separator", "{\"appointment_at\":\"2026-12-01X08:30:00Z\"}",
	  "is not an RFC 3339" },
};

static void test_bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char err[ERR_MAX];
		Smsq__BookingEvent *ev = convert(c->json, err);

		if (ev != NULL) {
			smsq__booking_event__free_unpacked(ev, NULL);
			fail_msg("case \"%s\": accepted", c->name);
		}
		if (strstr(err, c->error) == NULL)
			fail_msg("case \"%s\": error \"%s\" lacks \"%s\"", c->name, err,
				 c->error);
	}
}

static void test_line_not_nul_terminated(void **state)
{
	/* Only the first len bytes count: the rest would be invalid JSON. */
	const char line[] = "{\"priority\":4}GARBAGE";
	uint8_t out[OUT_MAX];
	size_t len = 0;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(event_json_pack_line(line, strlen("{\"priority\":4}"), out,
					      sizeof(out), &len, err, sizeof(err)), 0);
	assert_true(len > 0);
}

static void test_oversize(void **state)
{
	uint8_t out[OUT_MAX];
	size_t len = 0;
	size_t full = 0;
	char err[ERR_MAX];

	(void)state;
	assert_int_equal(event_json_pack_line(full_event, strlen(full_event), out,
					      sizeof(out), &full, err, sizeof(err)), 0);
	/* Exactly the packed size fits; one byte less does not. */
	assert_int_equal(event_json_pack_line(full_event, strlen(full_event), out, full,
					      &len, err, sizeof(err)), 0);
	assert_int_equal(len, full);
	assert_int_equal(event_json_pack_line(full_event, strlen(full_event), out, full - 1,
					      &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "over the limit"));
}

static void test_small_error_buffer(void **state)
{
	uint8_t out[OUT_MAX];
	size_t len;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(event_json_pack_line("{\"phon\":1}", 10, out, sizeof(out), &len,
					      err, sizeof(err)), -1);
	assert_int_equal(err[sizeof(err) - 1], '\0');
	/* and no buffer at all */
	assert_int_equal(event_json_pack_line("{\"phon\":1}", 10, out, sizeof(out), &len,
					      NULL, 0), -1);
}

static void test_parse_time(void **state)
{
	int64_t ms = 0;

	(void)state;
	assert_int_equal(event_json_parse_time("2026-12-01T08:30:00+01:00", &ms), 0);
	assert_int_equal(ms, T_2026_12_01_0730Z);
	assert_int_equal(event_json_parse_time("", &ms), -1);
	assert_int_equal(event_json_parse_time("2026-12-01T08:30:00+01", &ms), -1);
	assert_int_equal(event_json_parse_time("2026-12-01T08:30:00+01:0", &ms), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_event),
		cmocka_unit_test(test_good_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_line_not_nul_terminated),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_small_error_buffer),
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests_name("event_json", tests, NULL, NULL);
}
