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

/* ---- fixtures ---------------------------------------------------------------- */

/* The endpoint's URL for each provider: receipts.url, the section, the token. */
#define RECEIPT_BASE "https://smsq.example.com/receipts/"
#define RECEIPT_TOKEN "r3c31pt-t0k3n"
#define RECEIPT_CAP 10         /* reports taken at once, unless a row says */

static const struct provider_conf confs[] = {
	[PROVIDER_TWILIO] = {
		.name = "primary", .kind = PROVIDER_TWILIO, .base_url = "https://api.twilio.com",
		.account = "AC0123456789abcdef0123456789abcdef", .token = "twilio-auth-token",
		.sender = "+33644630000", .receipt_url = RECEIPT_BASE "primary/" RECEIPT_TOKEN,
	},
	[PROVIDER_INFOBIP] = {
		.name = "backup", .kind = PROVIDER_INFOBIP,
		.base_url = "https://xyz12.api.infobip.com/", .token = "0123456789abcdef-infobip-key",
		.sender = "InfoSMS", .receipt_url = RECEIPT_BASE "backup/" RECEIPT_TOKEN,
	},
	[PROVIDER_WEBHOOK] = {
		.name = "inhouse", .kind = PROVIDER_WEBHOOK,
		.base_url = "http://127.0.0.1:8081/v1/sms", .token = "gw-bearer-token",
		.receipt_url = RECEIPT_BASE "inhouse/" RECEIPT_TOKEN,
	},
	[PROVIDER_SINCH] = {
		.name = "bulk", .kind = PROVIDER_SINCH, .base_url = "https://eu.sms.api.sinch.com",
		.account = "jd63jf88477ll123ab4567cd89012ef3", .token = "sinch-api-token",
		.sender = "Clinique", .receipt_url = RECEIPT_BASE "bulk/" RECEIPT_TOKEN,
	},
	[PROVIDER_VONAGE] = {
		.name = "vonage", .kind = PROVIDER_VONAGE, .base_url = "https://rest.nexmo.com",
		.account = "abcd1234", .token = "vonage-api-secret", .sender = "Clinique",
		.receipt_url = RECEIPT_BASE "vonage/" RECEIPT_TOKEN,
	},
};

static const struct provider_msg msgs[] = {
	{ 1, "smsq-1", "+33612345678", "RDV demain 9h", 1, 0 },
	{ 2, "smsq-2", "+447700900123", "Caf\xc3\xa9", 1, 1 },
};

/* A name and a value: a query argument or a header of a callback. */
struct kv {
	const char *name;
	const char *value;
};

#define CALL_KVS 16

/* A callback as the receipt endpoint hands it to an adapter. */
struct call {
	const char *method;        /* "POST", "GET" */
	const char *content_type;  /* NULL: none */
	const char *body;          /* NULL: none */
	struct kv args[CALL_KVS];  /* query arguments, decoded */
	struct kv headers[4];      /* headers */
};

static const char *lookup(const struct kv *t, size_t n, const char *name, int any_case)
{
	for (size_t i = 0; i < n && t[i].name != NULL; i++)
		if (any_case ? strcasecmp(t[i].name, name) == 0 : strcmp(t[i].name, name) == 0)
			return t[i].value;
	return NULL;
}

static const char *call_arg(void *ctx, const char *name)
{
	const struct call *c = ctx;

	return lookup(c->args, N_OF(c->args), name, 0);
}

static const char *call_header(void *ctx, const char *name)
{
	const struct call *c = ctx;

	return lookup(c->headers, N_OF(c->headers), name, 1);
}

/* The struct provider_callback of c, at NOW_MS. */
static struct provider_callback callback_of(const struct call *c)
{
	return (struct provider_callback){
		.method = c->method,
		.content_type = c->content_type != NULL ? c->content_type : "",
		.body = c->body,
		.body_len = c->body != NULL ? strlen(c->body) : 0,
		.arg = call_arg,
		.header = call_header,
		.ctx = (void *)c,
		.now_ms = NOW_MS,
	};
}

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
	rep.error = "0";
	assert_int_equal(provider_receipt_fill(&r, &rep, NOW_MS, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	assert_string_equal(r.error, "");
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

/* ---- build: what each API is asked ------------------------------------------------ */

struct build_case {
	const char *name;          /* test name */
	enum provider_kind kind;   /* adapter, with its receipt URL */
	size_t n;                  /* messages from msgs[] */
	const char *body;          /* the whole body, byte for byte */
};

/* The receipt URL as a form value: every byte outside RFC 3986's
 * unreserved set escaped. */
#define FORM_URL(name) "https%3A%2F%2Fsmsq.example.com%2Freceipts%2F" name "%2F" RECEIPT_TOKEN

static const struct build_case build_cases[] = {
	{ "twilio build: StatusCallback is the receipt URL with ?ref=", PROVIDER_TWILIO, 1,
	  "To=%2B33612345678&From=%2B33644630000&Body=RDV%20demain%209h"
	  "&StatusCallback=" FORM_URL("primary") "%3Fref%3Dsmsq-1" },
	{ "infobip build: notifyUrl and notifyContentType in each message", PROVIDER_INFOBIP, 2,
	  "{\"messages\":["
	  "{\"destinations\":[{\"to\":\"33612345678\",\"messageId\":\"smsq-1\"}],"
	  "\"from\":\"InfoSMS\",\"text\":\"RDV demain 9h\","
	  "\"notifyUrl\":\"" RECEIPT_BASE "backup/" RECEIPT_TOKEN "\","
	  "\"notifyContentType\":\"application/json\"},"
	  "{\"destinations\":[{\"to\":\"447700900123\",\"messageId\":\"smsq-2\"}],"
	  "\"from\":\"InfoSMS\",\"text\":\"Caf\xc3\xa9\","
	  "\"notifyUrl\":\"" RECEIPT_BASE "backup/" RECEIPT_TOKEN "\","
	  "\"notifyContentType\":\"application/json\"}]}" },
	{ "sinch build: delivery_report per_recipient and callback_url", PROVIDER_SINCH, 2,
	  "{\"from\":\"Clinique\",\"to\":[\"+33612345678\",\"+447700900123\"],"
	  "\"body\":\"${text}\",\"parameters\":{\"text\":{"
	  "\"+33612345678\":\"RDV demain 9h\",\"+447700900123\":\"Caf\xc3\xa9\"}},"
	  "\"client_reference\":\"smsq-1\",\"delivery_report\":\"per_recipient\","
	  "\"callback_url\":\"" RECEIPT_BASE "bulk/" RECEIPT_TOKEN "\"}" },
	{ "vonage build: callback and status-report-req=true after client-ref", PROVIDER_VONAGE, 1,
	  "from=Clinique&to=33612345678&text=RDV%20demain%209h&type=text&client-ref=smsq-1"
	  "&callback=" FORM_URL("vonage") "&status-report-req=true" },
	{ "webhook build: callback_url after the messages", PROVIDER_WEBHOOK, 2,
	  "{\"messages\":[{\"id\":\"smsq-1\",\"to\":\"+33612345678\",\"text\":\"RDV demain 9h\","
	  "\"segments\":1},{\"id\":\"smsq-2\",\"to\":\"+447700900123\",\"text\":\"Caf\xc3\xa9\","
	  "\"segments\":1}],\"callback_url\":\"" RECEIPT_BASE "inhouse/" RECEIPT_TOKEN "\"}" },
};

static void test_build_case(void **state)
{
	const struct build_case *c = *state;
	const struct provider_ops *ops = provider_ops_for(c->kind);
	struct provider_request req;
	char err[256] = "";

	if (ops->build(&confs[c->kind], msgs, c->n, &req, err, sizeof(err)) != 0)
		fail_msg("build: %s", err);
	assert_non_null(req.body);
	assert_string_equal(req.body, c->body);
	assert_int_equal(req.body_len, strlen(c->body));
	provider_request_clear(&req);
}

/* build() refuses a receipt URL that is not one (a space, a quote, a
 * control character, 8-bit bytes, another scheme) or that has a query
 * (Twilio's ?ref= follows it), without showing it. */
static void test_build_refuses_unsafe_receipt_urls(void **state)
{
	static const char *const bad[] = {
		"https://smsq.example.com/receipts/x/t ok", "https://smsq.example.com/\"x",
		"https://smsq.example.com/\r\nX-Injected: 1", "https://smsq.example.com/caf\xc3\xa9",
		"https://smsq.example.com/receipts/x/t?a=1", "https://smsq.example.com/r#x",
		"ftp://smsq.example.com/receipts/x/t", "smsq.example.com/receipts/x/t",
		"https://smsq.example.com/<x>",
	};

	(void)state;
	for (int k = PROVIDER_TWILIO; k <= PROVIDER_VONAGE; k++) {
		for (size_t i = 0; i < N_OF(bad); i++) {
			struct provider_conf conf = confs[k];
			struct provider_request req;
			char err[256] = "";

			if (provider_ops_for(conf.kind)->receipts == NULL)
				continue; /* reports not asked of it */
			snprintf(conf.receipt_url, sizeof(conf.receipt_url), "%s", bad[i]);
			if (provider_ops_for(conf.kind)->build(&conf, msgs, 1, &req, err,
							       sizeof(err)) != -1)
				fail_msg("%s took receipt URL \"%s\"", conf.name, bad[i]);
			assert_null(req.body);
			assert_non_null(strstr(err, "receipt URL"));
			assert_null(strstr(err, "smsq.example.com"));
		}
	}
}

/* Vonage takes a callback of 100 characters at most (its SDK's limit). */
static void test_vonage_callback_length(void **state)
{
	struct provider_conf conf = confs[PROVIDER_VONAGE];
	struct provider_request req;
	char err[256] = "";
	size_t len;

	(void)state;
	len = (size_t)snprintf(conf.receipt_url, sizeof(conf.receipt_url), "%s", RECEIPT_BASE "v/");
	while (len < 100)
		conf.receipt_url[len++] = 't';
	conf.receipt_url[len] = '\0';
	assert_int_equal(provider_vonage_ops.build(&conf, msgs, 1, &req, err, sizeof(err)), 0);
	provider_request_clear(&req);
	conf.receipt_url[len++] = 't';
	conf.receipt_url[len] = '\0';
	assert_int_equal(provider_vonage_ops.build(&conf, msgs, 1, &req, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "100 characters"));
	assert_null(strstr(err, "smsq.example.com"));
	assert_null(req.body);
}

/* Twilio refuses a StatusCallback whose host has an underscore (its error
 * 21609, a 400 that would fail every message): build() does first.  One
 * in the path is fine. */
static void test_twilio_callback_host(void **state)
{
	static const struct {
		const char *url;
		int rc;
	} cases[] = {
		{ "https://smsq_1.example.com/receipts/primary/t", -1 },
		{ "http://smsq_1.example.com:8443/receipts/primary/t", -1 },
		{ "https://smsq-1.example.com:8443/receipts/primary_1/t_2", 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct provider_conf conf = confs[PROVIDER_TWILIO];
		struct provider_request req;
		char err[256] = "";

		snprintf(conf.receipt_url, sizeof(conf.receipt_url), "%s", cases[i].url);
		assert_int_equal(provider_twilio_ops.build(&conf, msgs, 1, &req, err, sizeof(err)),
				 cases[i].rc);
		if (cases[i].rc == 0)
			assert_non_null(strstr(req.body, "receipts%2Fprimary_1%2Ft_2%3Fref%3Dsmsq-1"));
		else
			assert_non_null(strstr(err, "21609"));
		provider_request_clear(&req);
	}
}

/* A receipt URL needs our reference in the requests that name a message
 * by it alone (Twilio's ?ref=, Vonage's client-ref). */
static void test_receipts_need_a_ref(void **state)
{
	static const enum provider_kind kinds[] = { PROVIDER_TWILIO, PROVIDER_VONAGE };
	struct provider_msg m = msgs[0];

	(void)state;
	m.ref = NULL;
	for (size_t i = 0; i < N_OF(kinds); i++) {
		struct provider_conf conf = confs[kinds[i]];
		struct provider_request req;
		char err[256] = "";

		assert_int_equal(provider_ops_for(kinds[i])->build(&conf, &m, 1, &req, err,
								   sizeof(err)), -1);
		assert_non_null(strstr(err, "reference"));
		conf.receipt_url[0] = '\0';
		assert_int_equal(provider_ops_for(kinds[i])->build(&conf, &m, 1, &req, err,
								   sizeof(err)), 0);
		provider_request_clear(&req);
	}
}

/* ---- receipts: the callbacks ------------------------------------------------------- */

/* A receipt as a test expects it. */
struct want {
	int final;                 /* struct provider_receipt's fields */
	int delivered;
	uint64_t id;
	const char *provider_id;
	const char *to;
	int64_t at_ms;
	const char *status;
	const char *error;
};

struct receipt_case {
	const char *name;          /* test name */
	enum provider_kind kind;   /* adapter, with its conf */
	struct call call;          /* the callback */
	size_t cap;                /* reports taken at once (0: RECEIPT_CAP) */
	int rc;                    /* enum provider_receipt_rc */
	const char *err;           /* not OK: a part of err */
	size_t n;                  /* OK: reports */
	struct want want[3];       /* OK: each report */
};

#define FORM "application/x-www-form-urlencoded"
#define JSON "application/json"
#define TWILIO_SIG(s) { { "X-Twilio-Signature", s } }
#define TWILIO_ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define TW_DELIVERED "SmsSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&SmsStatus=delivered"   \
	"&MessageStatus=delivered&To=%2B33612345678"                                    \
	"&MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&AccountSid=" TWILIO_ACCOUNT     \
	"&From=%2B33644630000&ApiVersion=2010-04-01&RawDlrDoneDate=2612071800"
#define TW_UNDELIVERED "ErrorCode=30003&SmsSid=SM2&SmsStatus=undelivered"                \
	"&MessageStatus=undelivered&To=%2B447700900123&MessageSid=SM2&AccountSid="       \
	TWILIO_ACCOUNT "&From=%2B33644630000&ApiVersion=2010-04-01"                      \
	"&ChannelStatusMessage=Unreachable+destination%20handset"
#define TW_SENT "SmsSid=SM3&SmsStatus=sent&MessageStatus=sent&To=%2B33612345678"         \
	"&MessageSid=SM3&AccountSid=" TWILIO_ACCOUNT "&From=%2B33644630000&ApiVersion=2010-04-01"

/* An Infobip report as its "Receive outbound SMS message report" page shows
 * one: message id, number, doneAt, status group, id and name, error id. */
#define IB_REPORT(id, to, done, gid, gname, sid, sname, eid)                                \
	"{\"bulkId\":\"BULK-ID-123-xyz\",\"messageId\":\"" id "\",\"to\":\"" to "\","       \
	"\"sentAt\":\"2026-12-07T18:00:00.000+0000\",\"doneAt\":\"" done "\",\"smsCount\":1,"   \
	"\"mccMnc\":\"20801\",\"price\":{\"pricePerMessage\":0.01,\"currency\":\"EUR\"},"      \
	"\"status\":{\"groupId\":" gid ",\"groupName\":\"" gname "\",\"id\":" sid ","         \
	"\"name\":\"" sname "\",\"description\":\"as documented\"},"                           \
	"\"error\":{\"groupId\":0,\"groupName\":\"OK\",\"id\":" eid ",\"name\":\"NO_ERROR\","  \
	"\"description\":\"No Error\",\"permanent\":false}}"
#define IB_DONE "2026-12-07T18:00:01.000+0000"
#define IB_DELIVERED(id) IB_REPORT(id, "33612345678", IB_DONE, "3", "DELIVERED", "5",      \
				   "DELIVERED_TO_HANDSET", "0")
#define IB_ONE(report) { "POST", JSON, "{\"results\":[" report "]}", { { 0 } }, { { 0 } } }

/* A Sinch recipient delivery report, as its Delivery reports page shows. */
#define SINCH_REPORT(to, code, status, at)                                                  \
	"{\"type\":\"recipient_delivery_report_sms\",\"batch_id\":\"01FC66621XXXXX119Z8PMV1QPQ\"," \
	"\"recipient\":\"" to "\",\"code\":" code ",\"status\":\"" status "\",\"at\":\"" at   \
	"\",\"operator_status_at\":\"2026-12-07T18:00:00Z\",\"client_reference\":\"smsq-1\"}"
#define SINCH_AT "2026-12-07T18:00:01.000Z"
#define SINCH_BATCH "01FC66621XXXXX119Z8PMV1QPQ"
#define SINCH_ONE(report) { "POST", JSON, report, { { 0 } }, { { 0 } } }

/* A Vonage receipt's fields (its API description's DeliveryReceipt), as
 * query arguments. */
#define VONAGE_ARGS(key, ref, status, err, at)                                               \
	{ { "msisdn", "447700900000" }, { "to", "Clinique" }, { "network-code", "23410" },     \
	  { "messageId", "0B00000127FDBC63" }, { "price", "0.03330000" }, { "status", status }, \
	  { "scts", "2612071800" }, { "err-code", err }, { "api-key", key },                   \
	  { "client-ref", ref }, { "message-timestamp", at } }
#define VONAGE_FORM(key, ref, status, err, at)                                               \
	"msisdn=447700900000&to=Clinique&network-code=23410&messageId=0B00000127FDBC63"        \
	"&price=0.03330000&status=" status "&scts=2612071800&err-code=" err "&api-key=" key     \
	"&client-ref=" ref "&message-timestamp=" at
#define VONAGE_JSON(key, ref, status, err, at)                                               \
	"{\"msisdn\":\"447700900000\",\"to\":\"Clinique\",\"network-code\":\"23410\","       \
	"\"messageId\":\"0B00000127FDBC63\",\"price\":\"0.03330000\",\"status\":\"" status "\"," \
	"\"scts\":\"2612071800\",\"err-code\":\"" err "\",\"api-key\":\"" key "\","            \
	"\"client-ref\":\"" ref "\",\"message-timestamp\":\"" at "\"}"
#define VONAGE_AT "2026-12-07 18:00:01"

/* The webhook contract's callback, with the gateway's bearer token. */
#define WH_CALL(receipts) { "POST", JSON, "{\"receipts\":[" receipts "]}", { { 0 } },         \
			    { { "Authorization", "Bearer gw-bearer-token" } } }
#define WH_AUTH(auth, receipts) { "POST", JSON, "{\"receipts\":[" receipts "]}", { { 0 } },  \
				  { { "Authorization", auth } } }
#define WH_DELIVERED(ref) "{\"ref\":\"" ref "\",\"id\":\"gw-" ref "\",\"status\":\"delivered\"," \
	"\"provider_status\":\"DELIVRD\",\"error\":\"\",\"at\":\"2026-12-07T18:00:01Z\"}"

static const struct receipt_case receipt_cases[] = {
	/* Twilio: signatures computed with Python's hmac over the URL and the
	 * sorted, decoded fields (twilio-python's RequestValidator's way). */
	{ "twilio: delivered", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "smsq-1" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 1, 1, "SM1f0e8ae6ade43cb3c0ce4525424e404f", "+33612345678", NOW_MS, "delivered",
	      "" } } },
	{ "twilio: undelivered, with its ErrorCode", PROVIDER_TWILIO,
	  { "POST", FORM "; charset=utf-8", TW_UNDELIVERED, { { "ref", "smsq-2" } },
	    TWILIO_SIG("XJCmvlvdkiQHcH2JfRilaNWlHs8=") }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 2, "SM2", "+447700900123", NOW_MS, "undelivered", "30003" } } },
	{ "twilio: failed", PROVIDER_TWILIO,
	  { "POST", FORM, "MessageStatus=failed&MessageSid=SM5&AccountSid=" TWILIO_ACCOUNT
	    "&To=%2B33612345678&ErrorCode=30007", { { "ref", "smsq-5" } },
	    TWILIO_SIG("vlvCLkzgHhAl21AwXJkIUPfwQ8M=") }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 5, "SM5", "+33612345678", NOW_MS, "failed", "30007" } } },
	{ "twilio: read is delivered", PROVIDER_TWILIO,
	  { "POST", FORM, "MessageStatus=read&MessageSid=SM4&AccountSid=" TWILIO_ACCOUNT
	    "&To=%2B33612345678", { { "ref", "smsq-4" } },
	    TWILIO_SIG("4eMDj0DbIbVFA87Q7mnFjaVxlfQ=") }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 1, 4, "SM4", "+33612345678", NOW_MS, "read", "" } } },
	{ "twilio: sent is interim", PROVIDER_TWILIO,
	  { "POST", FORM, TW_SENT, { { "ref", "smsq-3" } },
	    TWILIO_SIG("DC7CAjsw6fJ1u81Q1SQsgaY4y4M=") }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 3, "SM3", "+33612345678", NOW_MS, "sent", "" } } },
	{ "twilio: a word not documented is interim", PROVIDER_TWILIO,
	  { "POST", FORM, "MessageStatus=partially_delivered&MessageSid=SM6&AccountSid="
	    TWILIO_ACCOUNT "&To=%2B33612345678", { { "ref", "smsq-6" } },
	    TWILIO_SIG("5PubtomenoYAwXEjjgZ31LSIri0=") }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 6, "SM6", "+33612345678", NOW_MS, "partially_delivered", "" } } },
	{ "twilio: forged: no signature", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "smsq-1" } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_FORGED, "no X-Twilio-Signature", 0, { { 0 } } },
	{ "twilio: forged: a signature of another message", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "smsq-1" } },
	    TWILIO_SIG("DC7CAjsw6fJ1u81Q1SQsgaY4y4M=") }, 0, PROVIDER_RECEIPT_FORGED,
	  "does not match", 0, { { 0 } } },
	{ "twilio: forged: the signature for another ref", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "smsq-7" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_FORGED,
	  "does not match", 0, { { 0 } } },
	{ "twilio: forged: a field changed", PROVIDER_TWILIO,
	  { "POST", FORM, TW_SENT "&X=1", { { "ref", "smsq-3" } },
	    TWILIO_SIG("DC7CAjsw6fJ1u81Q1SQsgaY4y4M=") }, 0, PROVIDER_RECEIPT_FORGED,
	  "does not match", 0, { { 0 } } },
	{ "twilio: forged: the signature cut short", PROVIDER_TWILIO,
	  { "POST", FORM, TW_SENT, { { "ref", "smsq-3" } },
	    TWILIO_SIG("DC7CAjsw6fJ1u81Q1SQsgaY4y4M") }, 0, PROVIDER_RECEIPT_FORGED,
	  "does not match", 0, { { 0 } } },
	{ "twilio: forged: another account, well signed", PROVIDER_TWILIO,
	  { "POST", FORM, "SmsSid=SM3&SmsStatus=delivered&MessageStatus=delivered"
	    "&To=%2B33612345678&MessageSid=SM3&AccountSid=AC99999999999999999999999999999999"
	    "&From=%2B33644630000&ApiVersion=2010-04-01", { { "ref", "smsq-3" } },
	    TWILIO_SIG("m/2PktrheYPt+YM53mQdqCtJU1M=") }, 0, PROVIDER_RECEIPT_FORGED,
	  "AccountSid", 0, { { 0 } } },
	{ "twilio: malformed: no MessageStatus", PROVIDER_TWILIO,
	  { "POST", FORM, "SmsSid=SM3&To=%2B33612345678&MessageSid=SM3&AccountSid="
	    TWILIO_ACCOUNT "&ApiVersion=2010-04-01", { { "ref", "smsq-3" } },
	    TWILIO_SIG("HUperbz92NbHgUnGESAzXv/UpHw=") }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "MessageStatus", 0, { { 0 } } },
	{ "twilio: malformed: no ref", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { 0 } }, TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") },
	  0, PROVIDER_RECEIPT_MALFORMED, "reference", 0, { { 0 } } },
	{ "twilio: malformed: a ref not ours", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "SM1" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "reference", 0, { { 0 } } },
	{ "twilio: malformed: a huge ref", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "smsq-123456789012345678901234567890" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "reference", 0, { { 0 } } },
	{ "twilio: malformed: JSON, not a form", PROVIDER_TWILIO,
	  { "POST", JSON, "{\"MessageStatus\":\"delivered\"}", { { "ref", "smsq-1" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "form", 0, { { 0 } } },
	{ "twilio: malformed: a GET", PROVIDER_TWILIO,
	  { "GET", NULL, NULL, { { "ref", "smsq-1" }, { "MessageStatus", "delivered" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "form", 0, { { 0 } } },
	{ "twilio: malformed: a broken escape", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED "&Body=100%", { { "ref", "smsq-1" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "form", 0, { { 0 } } },
	{ "twilio: malformed: one report, cap 0", PROVIDER_TWILIO,
	  { "POST", FORM, TW_DELIVERED, { { "ref", "smsq-1" } },
	    TWILIO_SIG("b+EqCo/9xtx0djmsF2ET4ir16UQ=") }, (size_t)-1, PROVIDER_RECEIPT_MALFORMED,
	  "more than", 0, { { 0 } } },
	/* Infobip */
	{ "infobip: delivered to the handset", PROVIDER_INFOBIP, IB_ONE(IB_DELIVERED("smsq-1")), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 1, 1, "smsq-1", "33612345678", AT_MS, "DELIVERED_TO_HANDSET", "" } } },
	{ "infobip: three reports in one request", PROVIDER_INFOBIP,
	  { "POST", JSON "; charset=UTF-8", "{\"results\":["
	    IB_REPORT("smsq-2", "447700900123", "2026-12-07T18:00:02.250+0000", "2",
		      "UNDELIVERABLE", "9", "UNDELIVERABLE_NOT_DELIVERED", "27") ","
	    IB_DELIVERED("smsq-1") ","
	    IB_REPORT("smsq-3", "33699887766", IB_DONE, "4", "EXPIRED", "15", "EXPIRED_EXPIRED",
		      "1") "]}", { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 3,
	  { { 1, 0, 2, "smsq-2", "447700900123", AT_MS + 1250, "UNDELIVERABLE_NOT_DELIVERED",
	      "27" },
	    { 1, 1, 1, "smsq-1", "33612345678", AT_MS, "DELIVERED_TO_HANDSET", "" },
	    { 1, 0, 3, "smsq-3", "33699887766", AT_MS, "EXPIRED_EXPIRED", "1" } } },
	{ "infobip: rejected", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-4", "33611223344", IB_DONE, "5", "REJECTED", "6",
			   "REJECTED_NETWORK", "0")), 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 4, "smsq-4", "33611223344", AT_MS, "REJECTED_NETWORK", "" } } },
	{ "infobip: pending is interim", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", IB_DONE, "1", "PENDING", "3",
			   "PENDING_WAITING_DELIVERY", "0")), 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 1, "smsq-1", "33612345678", AT_MS, "PENDING_WAITING_DELIVERY", "" } } },
	{ "infobip: delivered to the operator is interim (a handset report may follow)",
	  PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", IB_DONE, "3", "DELIVERED", "2",
			   "DELIVERED_TO_OPERATOR", "0")), 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 1, "smsq-1", "33612345678", AT_MS, "DELIVERED_TO_OPERATOR", "" } } },
	{ "infobip: an unknown group is interim", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", IB_DONE, "9", "NEW_GROUP", "99", "NEW_ONE",
			   "0")), 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 1, "smsq-1", "33612345678", AT_MS, "NEW_ONE", "" } } },
	{ "infobip: no doneAt, no to: now, and no number", PROVIDER_INFOBIP,
	  IB_ONE("{\"messageId\":\"smsq-1\",\"status\":{\"groupName\":\"DELIVERED\"}}"), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1, { { 1, 1, 1, "smsq-1", "", NOW_MS, "DELIVERED", "" } } },
	{ "infobip: an empty list is nothing to record", PROVIDER_INFOBIP,
	  IB_ONE(""), 0, PROVIDER_RECEIPT_OK, NULL, 0, { { 0 } } },
	{ "infobip: three reports, two taken at once", PROVIDER_INFOBIP,
	  IB_ONE(IB_DELIVERED("smsq-1") "," IB_DELIVERED("smsq-2") "," IB_DELIVERED("smsq-3")), 2,
	  PROVIDER_RECEIPT_MALFORMED, "3 reports, more than the 2", 0, { { 0 } } },
	{ "infobip: malformed: a ref not ours among good ones", PROVIDER_INFOBIP,
	  IB_ONE(IB_DELIVERED("smsq-1") "," IB_DELIVERED("c9823180-94d4-4ea0-9bf3-ec907e7534a6")),
	  0, PROVIDER_RECEIPT_MALFORMED, "report 2: messageId is not a reference of ours", 0,
	  { { 0 } } },
	{ "infobip: malformed: no messageId", PROVIDER_INFOBIP,
	  IB_ONE("{\"to\":\"33612345678\",\"status\":{\"groupName\":\"DELIVERED\"}}"), 0,
	  PROVIDER_RECEIPT_MALFORMED, "messageId", 0, { { 0 } } },
	{ "infobip: malformed: no status", PROVIDER_INFOBIP,
	  IB_ONE("{\"messageId\":\"smsq-1\",\"status\":\"DELIVERED\"}"), 0,
	  PROVIDER_RECEIPT_MALFORMED, "groupName", 0, { { 0 } } },
	{ "infobip: malformed: a huge error id", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", IB_DONE, "2", "UNDELIVERABLE", "9", "X",
			   "99999999999999999999")), 0, PROVIDER_RECEIPT_MALFORMED,
	  "integer out of range", 0, { { 0 } } },
	{ "infobip: malformed: an error id in exponent form", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", IB_DONE, "2", "UNDELIVERABLE", "9", "X",
			   "1e300")), 0, PROVIDER_RECEIPT_MALFORMED, "not an integer", 0,
	  { { 0 } } },
	{ "infobip: malformed: a fractional status id", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", IB_DONE, "3", "DELIVERED", "2.5", "X", "0")), 0,
	  PROVIDER_RECEIPT_MALFORMED, "not an integer", 0, { { 0 } } },
	{ "infobip: malformed: a doneAt that is not a time", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "33612345678", "2026-12-07T18:00:01.000+2500", "3",
			   "DELIVERED", "5", "DELIVERED_TO_HANDSET", "0")), 0,
	  PROVIDER_RECEIPT_MALFORMED, "doneAt is not a time", 0, { { 0 } } },
	{ "infobip: malformed: doneAt a number", PROVIDER_INFOBIP,
	  IB_ONE("{\"messageId\":\"smsq-1\",\"doneAt\":1796666401000,"
		 "\"status\":{\"groupName\":\"DELIVERED\"}}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "doneAt", 0, { { 0 } } },
	{ "infobip: malformed: a number too long to be one", PROVIDER_INFOBIP,
	  IB_ONE(IB_REPORT("smsq-1", "3361234567890123456789012345", IB_DONE, "3", "DELIVERED",
			   "5", "DELIVERED_TO_HANDSET", "0")), 0, PROVIDER_RECEIPT_MALFORMED,
	  "recipient", 0, { { 0 } } },
	{ "infobip: malformed: bad JSON", PROVIDER_INFOBIP,
	  { "POST", JSON, "{\"results\":[" IB_DELIVERED("smsq-1"), { { 0 } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "unparseable body", 0, { { 0 } } },
	{ "infobip: malformed: no results", PROVIDER_INFOBIP,
	  { "POST", JSON, "{\"messages\":[]}", { { 0 } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "no results array", 0, { { 0 } } },
	{ "infobip: malformed: an array at the top", PROVIDER_INFOBIP,
	  { "POST", JSON, "[" IB_DELIVERED("smsq-1") "]", { { 0 } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "not a JSON object", 0, { { 0 } } },
	{ "infobip: malformed: an empty body", PROVIDER_INFOBIP,
	  { "POST", JSON, "", { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_MALFORMED, "empty body",
	  0, { { 0 } } },
	{ "infobip: malformed: a GET", PROVIDER_INFOBIP,
	  { "GET", NULL, NULL, { { "messageId", "smsq-1" } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "not a POST", 0, { { 0 } } },
	/* Sinch: named by batch id and recipient (receipts_by_to), id 0. */
	{ "sinch: delivered", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "0", "Delivered", SINCH_AT)), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 1, 0, SINCH_BATCH, "+33612345678", AT_MS, "Delivered", "" } } },
	{ "sinch: failed, with its code, a number without +", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("447700900123", "402", "Failed", "2026-12-07T18:00:01.75Z")), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 0, SINCH_BATCH, "447700900123", AT_MS + 750, "Failed", "402" } } },
	{ "sinch: expired", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "406", "Expired", "2026-12-07T18:00:01Z")), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 0, SINCH_BATCH, "+33612345678", AT_MS, "Expired", "406" } } },
	{ "sinch: dispatched is interim", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "401", "Dispatched", SINCH_AT)), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 0, SINCH_BATCH, "+33612345678", AT_MS, "Dispatched", "401" } } },
	{ "sinch: unknown (no receipt came) is interim", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "0", "Unknown", SINCH_AT)), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 0, SINCH_BATCH, "+33612345678", AT_MS, "Unknown", "" } } },
	{ "sinch: malformed: a batch report, not a recipient's", PROVIDER_SINCH,
	  SINCH_ONE("{\"type\":\"delivery_report_sms\",\"batch_id\":\"" SINCH_BATCH "\","
		    "\"statuses\":[{\"code\":0,\"count\":1,\"status\":\"Delivered\"}],"
		    "\"total_message_count\":1}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "not a recipient_delivery_report_sms", 0, { { 0 } } },
	{ "sinch: malformed: no type", PROVIDER_SINCH,
	  SINCH_ONE("{\"batch_id\":\"" SINCH_BATCH "\",\"recipient\":\"+33612345678\","
		    "\"code\":0,\"status\":\"Delivered\"}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "not a recipient_delivery_report_sms", 0, { { 0 } } },
	{ "sinch: malformed: no batch_id", PROVIDER_SINCH,
	  SINCH_ONE("{\"type\":\"recipient_delivery_report_sms\",\"recipient\":\"+33612345678\","
		    "\"code\":0,\"status\":\"Delivered\"}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "batch_id", 0, { { 0 } } },
	{ "sinch: malformed: no recipient", PROVIDER_SINCH,
	  SINCH_ONE("{\"type\":\"recipient_delivery_report_sms\",\"batch_id\":\"" SINCH_BATCH "\","
		    "\"code\":0,\"status\":\"Delivered\"}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "recipient", 0, { { 0 } } },
	{ "sinch: malformed: a code that is not an integer", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "4e300", "Failed", SINCH_AT)), 0,
	  PROVIDER_RECEIPT_MALFORMED, "code", 0, { { 0 } } },
	{ "sinch: malformed: a huge code", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "18446744073709551616", "Failed", SINCH_AT)), 0,
	  PROVIDER_RECEIPT_MALFORMED, "out of range", 0, { { 0 } } },
	{ "sinch: malformed: at is not a time", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "0", "Delivered", "07/12/2026 18:00:01")), 0,
	  PROVIDER_RECEIPT_MALFORMED, "at is not a time", 0, { { 0 } } },
	{ "sinch: malformed: a batch id too long to keep", PROVIDER_SINCH,
	  SINCH_ONE("{\"type\":\"recipient_delivery_report_sms\",\"batch_id\":\""
		    "0123456789012345678901234567890123456789012345678901234567890123456789"
		    "0123456789012345678901234567890123456789\",\"recipient\":\"+33612345678\","
		    "\"code\":0,\"status\":\"Delivered\"}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "message id", 0, { { 0 } } },
	{ "sinch: malformed: bad JSON", PROVIDER_SINCH,
	  SINCH_ONE("{\"type\":\"recipient_delivery_report_sms\",}"), 0,
	  PROVIDER_RECEIPT_MALFORMED, "unparseable body", 0, { { 0 } } },
	{ "sinch: malformed: one report, cap 0", PROVIDER_SINCH,
	  SINCH_ONE(SINCH_REPORT("+33612345678", "0", "Delivered", SINCH_AT)), (size_t)-1,
	  PROVIDER_RECEIPT_MALFORMED, "more than", 0, { { 0 } } },
	/* Vonage: the same receipt as a GET, a form POST, a JSON POST. */
	{ "vonage: delivered, as a GET", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd1234", "smsq-1", "delivered", "0", VONAGE_AT),
	    { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 1, 1, "0B00000127FDBC63", "447700900000", AT_MS, "delivered", "" } } },
	{ "vonage: expired, as a form POST, with its err-code", PROVIDER_VONAGE,
	  { "POST", FORM, VONAGE_FORM("abcd1234", "smsq-2", "expired", "5", "2026-12-07+18%3A00%3A01"),
	    { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 2, "0B00000127FDBC63", "447700900000", AT_MS, "expired", "5" } } },
	{ "vonage: failed, as a JSON POST, the time with +0000", PROVIDER_VONAGE,
	  { "POST", JSON, VONAGE_JSON("abcd1234", "smsq-3", "failed", "2", "2026-12-07 18:00:01 +0000"),
	    { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 3, "0B00000127FDBC63", "447700900000", AT_MS, "failed", "2" } } },
	{ "vonage: rejected", PROVIDER_VONAGE,
	  { "POST", JSON, VONAGE_JSON("abcd1234", "smsq-3", "rejected", "6", VONAGE_AT),
	    { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 1, 0, 3, "0B00000127FDBC63", "447700900000", AT_MS, "rejected", "6" } } },
	{ "vonage: accepted is interim", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd1234", "smsq-1", "accepted", "0", VONAGE_AT),
	    { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 1, "0B00000127FDBC63", "447700900000", AT_MS, "accepted", "" } } },
	{ "vonage: unknown is interim", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd1234", "smsq-1", "unknown", "1", VONAGE_AT),
	    { { 0 } } }, 0, PROVIDER_RECEIPT_OK, NULL, 1,
	  { { 0, 0, 1, "0B00000127FDBC63", "447700900000", AT_MS, "unknown", "1" } } },
	{ "vonage: forged: another api-key", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd9999", "smsq-1", "delivered", "0", VONAGE_AT),
	    { { 0 } } }, 0, PROVIDER_RECEIPT_FORGED, "api-key", 0, { { 0 } } },
	{ "vonage: forged: no api-key", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, { { "client-ref", "smsq-1" }, { "messageId", "0B00000127FDBC63" },
				 { "status", "delivered" } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_FORGED, "api-key", 0, { { 0 } } },
	{ "vonage: forged: the api-key of a longer key", PROVIDER_VONAGE,
	  { "POST", JSON, VONAGE_JSON("abcd12345", "smsq-1", "delivered", "0", VONAGE_AT),
	    { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_FORGED, "api-key", 0, { { 0 } } },
	{ "vonage: malformed: no client-ref", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, { { "api-key", "abcd1234" }, { "messageId", "0B00000127FDBC63" },
				 { "status", "delivered" } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "client-ref", 0, { { 0 } } },
	{ "vonage: malformed: a client-ref not ours", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd1234", "my-personal-reference", "delivered", "0",
					   VONAGE_AT), { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "client-ref is not a reference of ours", 0, { { 0 } } },
	{ "vonage: malformed: a timestamp that is not one", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd1234", "smsq-1", "delivered", "0",
					   "2026-12-07 18:00"), { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "message-timestamp is not a time", 0, { { 0 } } },
	{ "vonage: malformed: a status that is not a string", PROVIDER_VONAGE,
	  { "POST", JSON, "{\"api-key\":\"abcd1234\",\"client-ref\":\"smsq-1\","
	    "\"messageId\":\"0B00000127FDBC63\",\"status\":0}", { { 0 } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "status", 0, { { 0 } } },
	{ "vonage: malformed: bad JSON", PROVIDER_VONAGE,
	  { "POST", JSON, "{\"api-key\":\"abcd1234\"", { { 0 } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_MALFORMED, "unparseable body", 0, { { 0 } } },
	{ "vonage: malformed: a form with a broken escape", PROVIDER_VONAGE,
	  { "POST", FORM, VONAGE_FORM("abcd1234", "smsq-2", "expired", "5", "%2") , { { 0 } },
	    { { 0 } } }, 0, PROVIDER_RECEIPT_MALFORMED, "form", 0, { { 0 } } },
	{ "vonage: malformed: a PUT", PROVIDER_VONAGE,
	  { "PUT", FORM, VONAGE_FORM("abcd1234", "smsq-2", "expired", "5", VONAGE_AT),
	    { { 0 } }, { { 0 } } }, 0, PROVIDER_RECEIPT_MALFORMED, "neither", 0, { { 0 } } },
	{ "vonage: malformed: one report, cap 0", PROVIDER_VONAGE,
	  { "GET", NULL, NULL, VONAGE_ARGS("abcd1234", "smsq-1", "delivered", "0", VONAGE_AT),
	    { { 0 } } }, (size_t)-1, PROVIDER_RECEIPT_MALFORMED, "more than", 0, { { 0 } } },
	/* The webhook contract. */
	{ "webhook: three receipts in one request", PROVIDER_WEBHOOK,
	  WH_CALL(WH_DELIVERED("smsq-1") ","
		  "{\"ref\":\"smsq-2\",\"id\":\"gw-2\",\"status\":\"undelivered\","
		  "\"provider_status\":\"UNDELIV\",\"error\":\"0x45\","
		  "\"at\":\"2026-12-07T20:00:02.5+02:00\"},"
		  "{\"ref\":\"smsq-3\",\"status\":\"pending\"}"), 0, PROVIDER_RECEIPT_OK, NULL, 3,
	  { { 1, 1, 1, "gw-smsq-1", "", AT_MS, "DELIVRD", "" },
	    { 1, 0, 2, "gw-2", "", AT_MS + 1500, "UNDELIV", "0x45" },
	    { 0, 0, 3, "", "", NOW_MS, "pending", "" } } },
	{ "webhook: any status but the two finals is interim", PROVIDER_WEBHOOK,
	  WH_CALL("{\"ref\":\"smsq-4\",\"status\":\"enroute\",\"at\":null}"), 0,
	  PROVIDER_RECEIPT_OK, NULL, 1, { { 0, 0, 4, "", "", NOW_MS, "enroute", "" } } },
	{ "webhook: the scheme in any case", PROVIDER_WEBHOOK,
	  WH_AUTH("bearer gw-bearer-token", WH_DELIVERED("smsq-1")), 0, PROVIDER_RECEIPT_OK, NULL,
	  1, { { 1, 1, 1, "gw-smsq-1", "", AT_MS, "DELIVRD", "" } } },
	{ "webhook: forged: no Authorization", PROVIDER_WEBHOOK,
	  { "POST", JSON, "{\"receipts\":[" WH_DELIVERED("smsq-1") "]}", { { 0 } }, { { 0 } } }, 0,
	  PROVIDER_RECEIPT_FORGED, "bearer", 0, { { 0 } } },
	{ "webhook: forged: a wrong token", PROVIDER_WEBHOOK,
	  WH_AUTH("Bearer gw-bearer-tokem", WH_DELIVERED("smsq-1")), 0, PROVIDER_RECEIPT_FORGED,
	  "bearer", 0, { { 0 } } },
	{ "webhook: forged: the token and more", PROVIDER_WEBHOOK,
	  WH_AUTH("Bearer gw-bearer-token2", WH_DELIVERED("smsq-1")), 0, PROVIDER_RECEIPT_FORGED,
	  "bearer", 0, { { 0 } } },
	{ "webhook: forged: the token as Basic", PROVIDER_WEBHOOK,
	  WH_AUTH("Basic gw-bearer-token", WH_DELIVERED("smsq-1")), 0, PROVIDER_RECEIPT_FORGED,
	  "bearer", 0, { { 0 } } },
	{ "webhook: forged before it is read: bad JSON, wrong token", PROVIDER_WEBHOOK,
	  { "POST", JSON, "{", { { 0 } }, { { "Authorization", "Bearer x" } } }, 0,
	  PROVIDER_RECEIPT_FORGED, "bearer", 0, { { 0 } } },
	{ "webhook: malformed: a ref not ours", PROVIDER_WEBHOOK,
	  WH_CALL(WH_DELIVERED("gw-7")), 0, PROVIDER_RECEIPT_MALFORMED,
	  "report 1: ref is not a reference of ours", 0, { { 0 } } },
	{ "webhook: malformed: a ref that is a number", PROVIDER_WEBHOOK,
	  WH_CALL("{\"ref\":42,\"status\":\"delivered\"}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "ref is not a string", 0, { { 0 } } },
	{ "webhook: malformed: no status", PROVIDER_WEBHOOK,
	  WH_CALL("{\"ref\":\"smsq-1\",\"id\":\"gw-1\"}"), 0, PROVIDER_RECEIPT_MALFORMED,
	  "no ref or no status", 0, { { 0 } } },
	{ "webhook: malformed: at without its zone's minutes", PROVIDER_WEBHOOK,
	  WH_CALL("{\"ref\":\"smsq-1\",\"status\":\"delivered\",\"at\":\"2026-12-07T18:00:01+02\"}"),
	  0, PROVIDER_RECEIPT_MALFORMED, "at is not a time", 0, { { 0 } } },
	{ "webhook: malformed: a receipt that is not an object", PROVIDER_WEBHOOK,
	  WH_CALL("\"smsq-1 delivered\""), 0, PROVIDER_RECEIPT_MALFORMED, "no ref", 0, { { 0 } } },
	{ "webhook: malformed: four receipts, three taken at once", PROVIDER_WEBHOOK,
	  WH_CALL(WH_DELIVERED("smsq-1") "," WH_DELIVERED("smsq-2") "," WH_DELIVERED("smsq-3") ","
		  WH_DELIVERED("smsq-4")), 3, PROVIDER_RECEIPT_MALFORMED,
	  "4 reports, more than the 3", 0, { { 0 } } },
	{ "webhook: malformed: bad JSON", PROVIDER_WEBHOOK,
	  { "POST", JSON, "{\"receipts\":[" WH_DELIVERED("smsq-1") "}", { { 0 } },
	    { { "Authorization", "Bearer gw-bearer-token" } } }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "unparseable body", 0, { { 0 } } },
	{ "webhook: malformed: results instead of receipts", PROVIDER_WEBHOOK,
	  { "POST", JSON, "{\"results\":[" WH_DELIVERED("smsq-1") "]}", { { 0 } },
	    { { "Authorization", "Bearer gw-bearer-token" } } }, 0, PROVIDER_RECEIPT_MALFORMED,
	  "no receipts array", 0, { { 0 } } },
};

static void check_receipt(const struct provider_receipt *r, const struct want *w, size_t i)
{
	if (r->final != w->final || r->delivered != w->delivered || r->id != w->id ||
	    strcmp(r->provider_id, w->provider_id) != 0 || strcmp(r->to, w->to) != 0 ||
	    r->at_ms != w->at_ms || strcmp(r->status, w->status) != 0 ||
	    strcmp(r->error, w->error) != 0)
		fail_msg("report %zu: final %d delivered %d id %" PRIu64 " provider_id \"%s\" to "
			 "\"%s\" at %" PRId64 " status \"%s\" error \"%s\"; want %d %d %" PRIu64
			 " \"%s\" \"%s\" %" PRId64 " \"%s\" \"%s\"", i, r->final, r->delivered,
			 r->id, r->provider_id, r->to, r->at_ms, r->status, r->error, w->final,
			 w->delivered, w->id, w->provider_id, w->to, w->at_ms, w->status,
			 w->error);
}

static void test_receipt_case(void **state)
{
	const struct receipt_case *c = *state;
	const struct provider_conf *conf = &confs[c->kind];
	struct provider_callback cb = callback_of(&c->call);
	struct provider_receipt out[RECEIPT_CAP];
	size_t cap = c->cap == 0 ? RECEIPT_CAP : c->cap == (size_t)-1 ? 0 : c->cap;
	size_t n = 99;
	char err[PROVIDER_REASON_MAX] = "";
	int rc;

	assert_true(cap <= RECEIPT_CAP);
	rc = provider_ops_for(c->kind)->receipts(conf, &cb, out, cap, &n, err, sizeof(err));
	if (rc != c->rc)
		fail_msg("rc %d, want %d (%s)", rc, c->rc, err);
	if (rc != PROVIDER_RECEIPT_OK) {
		assert_int_equal(n, 0);
		if (strstr(err, c->err) == NULL)
			fail_msg("err \"%s\" does not say \"%s\"", err, c->err);
		/* Never a secret: not the token, not the endpoint's. */
		assert_null(strstr(err, conf->token));
		assert_null(strstr(err, RECEIPT_TOKEN));
		return;
	}
	assert_int_equal(n, c->n);
	for (size_t i = 0; i < n; i++)
		check_receipt(&out[i], &c->want[i], i);
}

/* A webhook without a token takes a callback without Authorization. */
static void test_webhook_without_token(void **state)
{
	static const struct call call = { "POST", JSON, "{\"receipts\":[" WH_DELIVERED("smsq-1") "]}",
					  { { 0 } }, { { 0 } } };
	struct provider_conf conf = confs[PROVIDER_WEBHOOK];
	struct provider_callback cb = callback_of(&call);
	struct provider_receipt out[1];
	char err[PROVIDER_REASON_MAX] = "";
	size_t n = 0;

	(void)state;
	conf.token[0] = '\0';
	assert_int_equal(provider_webhook_ops.receipts(&conf, &cb, out, 1, &n, err, sizeof(err)),
			 PROVIDER_RECEIPT_OK);
	assert_int_equal(n, 1);
	assert_true(out[0].id == 1 && out[0].delivered == 1);
}

/* Every callback of the table cut at every length, and bytes flipped: any
 * answer but a crash, and a refusal leaves no report and says why; what is
 * read is bounded, printable, valid UTF-8. */
static void test_hostile_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(receipt_cases); i++) {
		const struct receipt_case *c = &receipt_cases[i];
		size_t len = c->call.body != NULL ? strlen(c->call.body) : 0;
		char *body = malloc(len + 1);

		assert_non_null(body);
		for (size_t cut = 0; cut <= len; cut++) {
			for (int flip = 0; flip < 2; flip++) {
				struct call call = c->call;
				struct provider_callback cb;
				struct provider_receipt out[RECEIPT_CAP];
				char err[PROVIDER_REASON_MAX] = "";
				size_t n = 99;
				int rc;

				memcpy(body, c->call.body != NULL ? c->call.body : "", len);
				if (flip && cut < len)
					body[cut] = (char)(body[cut] ^ 0xa5);
				body[flip ? len : cut] = '\0';
				call.body = body;
				cb = callback_of(&call);
				rc = provider_ops_for(c->kind)->receipts(&confs[c->kind], &cb, out,
									 RECEIPT_CAP, &n, err,
									 sizeof(err));
				assert_true(rc == PROVIDER_RECEIPT_OK || rc == PROVIDER_RECEIPT_MALFORMED ||
					    rc == PROVIDER_RECEIPT_FORGED);
				if (rc != PROVIDER_RECEIPT_OK) {
					assert_int_equal(n, 0);
					assert_true(err[0] != '\0');
					continue;
				}
				assert_true(n <= RECEIPT_CAP);
				for (size_t k = 0; k < n; k++) {
					assert_true(provider_utf8_valid(out[k].status,
									strlen(out[k].status)));
					assert_true(provider_utf8_valid(out[k].provider_id,
									strlen(out[k].provider_id)));
					assert_true(provider_utf8_valid(out[k].error,
									strlen(out[k].error)));
				}
			}
		}
		free(body);
	}
}

/* Bodies over PROVIDER_BODY_MAX are not read, as JSON or as a form. */
static void test_huge_bodies(void **state)
{
	static const enum provider_kind kinds[] = { PROVIDER_TWILIO, PROVIDER_INFOBIP,
						    PROVIDER_WEBHOOK, PROVIDER_SINCH,
						    PROVIDER_VONAGE };
	char *body = malloc(PROVIDER_BODY_MAX + 2);

	(void)state;
	assert_non_null(body);
	memset(body, ' ', PROVIDER_BODY_MAX + 1);
	body[0] = '{';
	body[PROVIDER_BODY_MAX] = '}';
	body[PROVIDER_BODY_MAX + 1] = '\0';
	for (size_t i = 0; i < N_OF(kinds); i++) {
		for (int form = 0; form < 2; form++) {
			struct call call = { "POST", form ? FORM : JSON, body, { { "ref", "smsq-1" } },
					     { { "Authorization", "Bearer gw-bearer-token" } } };
			struct provider_callback cb = callback_of(&call);
			struct provider_receipt out[1];
			char err[PROVIDER_REASON_MAX] = "";
			size_t n = 99;
			int rc = provider_ops_for(kinds[i])->receipts(&confs[kinds[i]], &cb, out, 1,
								      &n, err, sizeof(err));

			if (kinds[i] == PROVIDER_TWILIO && !form)
				continue; /* refused as not a form */
			if (kinds[i] != PROVIDER_TWILIO && kinds[i] != PROVIDER_VONAGE && form)
				continue; /* read as JSON whatever its type */
			assert_int_equal(rc, PROVIDER_RECEIPT_MALFORMED);
			assert_int_equal(n, 0);
			assert_non_null(strstr(err, "too large"));
		}
	}
	free(body);
}

/* Every adapter reads reports; only Sinch's name a message by its
 * provider id and number. */
static void test_ops_read_receipts(void **state)
{
	(void)state;
	for (int k = PROVIDER_TWILIO; k <= PROVIDER_VONAGE; k++) {
		const struct provider_ops *ops = provider_ops_for((enum provider_kind)k);

		assert_non_null(ops->receipts);
		assert_int_equal(ops->receipts_by_to, k == PROVIDER_SINCH);
	}
}

/* ---- Twilio's signature ------------------------------------------------------- */

/* The examples of Twilio's "Webhooks security" guide and of twilio-python's
 * tests (tests/unit/test_request_validator.py), through the adapter's
 * reading of a form: fields in any order, decoded, sorted by name and, for
 * a repeated name, by value. */
static void test_twilio_signature_examples(void **state)
{
	static const struct {
		const char *body;
		const char *want;
	} cases[] = {
		/* The guide's: Caller and From +12349013030. */
		{ "To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B12349013030"
		  "&Caller=%2B12349013030", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" },
		/* twilio-python's: +14158675309. */
		{ "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212"
		  "&Caller=%2B14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8=" },
		/* twilio-python's repeated Digits. */
		{ "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
		  "IK+Dwps556ElfBT0I3Rgjkr1wJU=" },
	};

	(void)state;
	for (size_t i = 0; i < N_OF(cases); i++) {
		struct provider_form f;
		char err[128], sig[HMAC_SHA1_BASE64];

		assert_int_equal(provider_form_parse(cases[i].body, strlen(cases[i].body), &f, err,
						     sizeof(err)), 0);
		assert_int_equal(provider_twilio_signature("12345",
							   "https://mycompany.com/myapp.php?foo=1&bar=2",
							   &f, sig), 0);
		assert_string_equal(sig, cases[i].want);
		provider_form_clear(&f);
	}
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
		cmocka_unit_test(test_build_refuses_unsafe_receipt_urls),
		cmocka_unit_test(test_twilio_signature_examples),
		cmocka_unit_test(test_vonage_callback_length),
		cmocka_unit_test(test_receipts_need_a_ref),
		cmocka_unit_test(test_twilio_callback_host),
		cmocka_unit_test(test_webhook_without_token),
		cmocka_unit_test(test_ops_read_receipts),
		cmocka_unit_test(test_hostile_bodies),
		cmocka_unit_test(test_huge_bodies),
	};
	int failed = cmocka_run_group_tests_name("receipts", misc, NULL, NULL);

	failed += ROWS("times", time_cases, test_time_case);
	failed += ROWS("build", build_cases, test_build_case);
	failed += ROWS("receipts", receipt_cases, test_receipt_case);
	return failed == 0 ? 0 : 1;
}
