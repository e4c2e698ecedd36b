/*
 * test_provider: the adapters, byte for byte, against the providers'
 * documented requests and answers (provider/PROVIDERS.md cites the pages).
 *
 * Most tests are tables: each row is one named cmocka test, so a failure
 * names the case ("infobip: answer in another order than the request").
 * The adapters are pure, so nothing here needs a server: a request is
 * checked as bytes, an answer is a struct provider_response built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider/provider.h"
#include "provider/provider_impl.h"

/* Wed, 21 Oct 2015 07:28:00 GMT is 1445412480 s: "now" is 30 s before. */
#define DATE_S 1445412480LL
#define NOW_MS (DATE_S * 1000 - 30000)
#define NO_WAIT (-1)
#define HUGE_BODY (2 * 1024 * 1024)

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define LAST_KIND PROVIDER_VONAGE /* the adapters, PROVIDER_TWILIO..LAST_KIND */

/* ---- fixtures ------------------------------------------------------------ */

static const struct provider_conf twilio_conf = {
	.name = "primary",
	.kind = PROVIDER_TWILIO,
	.base_url = "https://api.twilio.com",
	.account = "AC0123456789abcdef0123456789abcdef",
	.token = "twilio-auth-token",
	.sender = "+33644630000",
};

static const struct provider_conf infobip_conf = {
	.name = "backup",
	.kind = PROVIDER_INFOBIP,
	.base_url = "https://xyz12.api.infobip.com/",
	.token = "0123456789abcdef-infobip-key",
	.sender = "InfoSMS",
};

static const struct provider_conf webhook_conf = {
	.name = "inhouse",
	.kind = PROVIDER_WEBHOOK,
	.base_url = "http://127.0.0.1:8081/v1/sms",
	.token = "gw-bearer-token",
	.sender = "",
};

static const struct provider_conf sinch_conf = {
	.name = "bulk",
	.kind = PROVIDER_SINCH,
	.base_url = "https://eu.sms.api.sinch.com",
	.account = "jd63jf88477ll123ab4567cd89012ef3",
	.token = "sinch-api-token",
	.sender = "Clinique",
};

static const struct provider_conf vonage_conf = {
	.name = "vonage",
	.kind = PROVIDER_VONAGE,
	.base_url = "https://rest.nexmo.com",
	.account = "abcd1234",
	.token = "vonage-api-secret",
	.sender = "Clinique",
};

/* Accents, an emoji, and the characters form encoding must escape. */
#define TEXT_UTF8 "Caf\xc3\xa9 \xf0\x9f\x98\x80 & co + 1=1 ok"

static const struct provider_msg batch[] = {
	{ 1, "smsq-1", "+33612345678", TEXT_UTF8, 1, 1 },
	{ 2, "smsq-2", "+447700900123", "RDV \"demain\" 9h\nDr Zo\xc3\xa9", 1, 0 },
	{ 3, "smsq-3", "+33699887766", "Three", 1, 0 },
	{ 4, "smsq-4", "+33611223344", "Four", 2, 0 },
};

static const struct provider_conf *conf_for(enum provider_kind kind)
{
	switch (kind) {
	case PROVIDER_TWILIO:
		return &twilio_conf;
	case PROVIDER_INFOBIP:
		return &infobip_conf;
	case PROVIDER_WEBHOOK:
		return &webhook_conf;
	case PROVIDER_SINCH:
		return &sinch_conf;
	case PROVIDER_VONAGE:
		return &vonage_conf;
	}
	return NULL;
}

/* Runs the tests of a table built at run time (each row a named test). */
static int run_table(const char *group, struct CMUnitTest *tests, size_t n)
{
	return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

/* Fails the test unless r is a well-formed result: known status, bounded
 * and valid UTF-8 strings without control characters. */
static void assert_result_sane(const struct provider_result *r)
{
	size_t i, len;

	assert_true(r->status == PROVIDER_SENT || r->status == PROVIDER_RETRY ||
		    r->status == PROVIDER_THROTTLED || r->status == PROVIDER_FAILED ||
		    r->status == PROVIDER_UNAVAILABLE || r->status == PROVIDER_MISCONFIGURED ||
		    r->status == PROVIDER_SPLIT);
	assert_true(r->ambiguous == 0 || r->ambiguous == 1);
	assert_true(r->retry_after_ms >= -1);
	len = strnlen(r->reason, sizeof(r->reason));
	assert_true(len < sizeof(r->reason));
	assert_true(provider_utf8_valid(r->reason, len));
	for (i = 0; i < len; i++)
		assert_true((unsigned char)r->reason[i] >= 0x20 && r->reason[i] != 0x7f);
	len = strnlen(r->provider_id, sizeof(r->provider_id));
	assert_true(len < sizeof(r->provider_id));
	assert_true(provider_utf8_valid(r->provider_id, len));
}

/* ---- provider_parse_retry_after ------------------------------------------ */

struct retry_after_case {
	const char *name;       /* test name */
	const char *value;      /* header value */
	int64_t now_ms;         /* wall clock */
	int64_t want;           /* result */
};

static const struct retry_after_case retry_after_cases[] = {
	{ "retry-after: delta-seconds", "120", NOW_MS, 120000 },
	{ "retry-after: zero seconds", "0", NOW_MS, 0 },
	{ "retry-after: leading zeros", "007", NOW_MS, 7000 },
	{ "retry-after: optional whitespace around", " \t5 \t", NOW_MS, 5000 },
	{ "retry-after: IMF-fixdate 30 s ahead", "Wed, 21 Oct 2015 07:28:00 GMT", NOW_MS, 30000 },
	{ "retry-after: IMF-fixdate, sub-second now", "Wed, 21 Oct 2015 07:28:00 GMT",
	  DATE_S * 1000 - 1500, 1500 },
	{ "retry-after: IMF-fixdate exactly now", "Wed, 21 Oct 2015 07:28:00 GMT", DATE_S * 1000, 0 },
	{ "retry-after: IMF-fixdate in the past is 0", "Wed, 21 Oct 2015 07:28:00 GMT",
	  DATE_S * 1000 + 3600000, 0 },
	{ "retry-after: obsolete RFC 850 date", "Wednesday, 21-Oct-15 07:28:00 GMT", NOW_MS, 30000 },
	{ "retry-after: obsolete asctime date", "Wed Oct 21 07:28:00 2015", NOW_MS, 30000 },
	{ "retry-after: NULL", NULL, NOW_MS, -1 },
	{ "retry-after: empty", "", NOW_MS, -1 },
	{ "retry-after: only spaces", "   ", NOW_MS, -1 },
	{ "retry-after: negative", "-5", NOW_MS, -1 },
	{ "retry-after: plus sign", "+5", NOW_MS, -1 },
	{ "retry-after: fraction", "1.5", NOW_MS, -1 },
	{ "retry-after: unit suffix", "5s", NOW_MS, -1 },
	{ "retry-after: digits then space then digits", "5 5", NOW_MS, -1 },
	{ "retry-after: overflowing seconds", "99999999999999999999999", NOW_MS, -1 },
	{ "retry-after: one hour is honoured", "3600", NOW_MS, 3600000 },
	{ "retry-after: longer is capped at one hour", "3601", NOW_MS, PROVIDER_RETRY_AFTER_MAX_MS },
	{ "retry-after: largest that fits is capped", "9223372036854775", NOW_MS,
	  PROVIDER_RETRY_AFTER_MAX_MS },
	{ "retry-after: a date next year is capped", "Thu, 21 Oct 2016 07:28:00 GMT", NOW_MS,
	  PROVIDER_RETRY_AFTER_MAX_MS },
	{ "retry-after: words", "soon", NOW_MS, -1 },
	{ "retry-after: date without GMT", "Wed, 21 Oct 2015 07:28:00", NOW_MS, -1 },
	{ "retry-after: date with trailing junk", "Wed, 21 Oct 2015 07:28:00 GMT junk", NOW_MS, -1 },
	{ "retry-after: day 32", "Wed, 32 Oct 2015 07:28:00 GMT", NOW_MS, -1 },
	{ "retry-after: hour 25", "Wed, 21 Oct 2015 25:28:00 GMT", NOW_MS, -1 },
	{ "retry-after: unknown month", "Wed, 21 Foo 2015 07:28:00 GMT", NOW_MS, -1 },
	{ "retry-after: ISO 8601 is not an HTTP-date", "2015-10-21T07:28:00Z", NOW_MS, -1 },
	{ "retry-after: very long garbage", "Wed, 21 Oct 2015 07:28:00 GMT "
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", NOW_MS, -1 },
};

static void test_retry_after_case(void **state)
{
	const struct retry_after_case *c = *state;

	assert_int_equal(provider_parse_retry_after(c->value, c->now_ms), c->want);
}

/* ---- provider_fail_all ---------------------------------------------------- */

struct fail_case {
	const char *name;          /* test name */
	int transport;             /* enum provider_transport */
	long status;               /* HTTP status */
	int64_t retry_after_ms;    /* from the header */
	const char *error;         /* transport error */
	const char *detail;        /* provider's text */
	enum provider_status want; /* outcome of every message */
	int ambiguous;             /* expected flag */
	int64_t want_wait;         /* expected retry_after_ms */
	const char *reason;        /* expected reason */
};

static const struct fail_case fail_cases[] = {
	{ "fail_all: not sent is a plain retry", PROVIDER_T_NOT_SENT, 0, -1,
	  "Could not resolve host: api.twilio.com", NULL, PROVIDER_RETRY, 0, NO_WAIT,
	  "not sent: Could not resolve host: api.twilio.com" },
	{ "fail_all: timeout after sending is ambiguous", PROVIDER_T_AMBIGUOUS, 0, -1,
	  "Operation timed out after 10000 milliseconds", NULL, PROVIDER_RETRY, 1, NO_WAIT,
	  "no answer after sending: Operation timed out after 10000 milliseconds" },
	{ "fail_all: transport error without text", PROVIDER_T_NOT_SENT, 0, -1, NULL, NULL,
	  PROVIDER_RETRY, 0, NO_WAIT, "not sent: transport error" },
	{ "fail_all: unknown transport value", 7, 0, -1, NULL, NULL, PROVIDER_RETRY, 1, NO_WAIT,
	  "unknown transport result 7" },
	{ "fail_all: 429 with Retry-After", PROVIDER_T_OK, 429, 2000, NULL, "slow down",
	  PROVIDER_THROTTLED, 0, 2000, "http 429 slow down" },
	{ "fail_all: 503 without Retry-After", PROVIDER_T_OK, 503, -1, NULL, NULL,
	  PROVIDER_UNAVAILABLE, 0, NO_WAIT, "http 503" },
	{ "fail_all: 500 is a retry", PROVIDER_T_OK, 500, -1, NULL, "oops", PROVIDER_RETRY, 0,
	  NO_WAIT, "http 500 oops" },
	{ "fail_all: 502 may have been sent", PROVIDER_T_OK, 502, -1, NULL, NULL, PROVIDER_RETRY, 1,
	  NO_WAIT, "http 502" },
	{ "fail_all: 504 may have been sent", PROVIDER_T_OK, 504, -1, NULL, NULL, PROVIDER_RETRY, 1,
	  NO_WAIT, "http 504" },
	{ "fail_all: 400 is permanent", PROVIDER_T_OK, 400, -1, NULL, "bad number", PROVIDER_FAILED,
	  0, NO_WAIT, "http 400 bad number" },
	{ "fail_all: 422 is permanent", PROVIDER_T_OK, 422, -1, NULL, "", PROVIDER_FAILED, 0,
	  NO_WAIT, "http 422" },
	{ "fail_all: 401 is our credentials, not the message", PROVIDER_T_OK, 401, -1, NULL,
	  "Authenticate", PROVIDER_MISCONFIGURED, 0, NO_WAIT, "http 401 Authenticate" },
	{ "fail_all: 403 is our credentials, not the message", PROVIDER_T_OK, 403, -1, NULL, NULL,
	  PROVIDER_MISCONFIGURED, 0, NO_WAIT, "http 403" },
	{ "fail_all: 404 is our URL, not the message", PROVIDER_T_OK, 404, -1, NULL, NULL,
	  PROVIDER_MISCONFIGURED, 0, NO_WAIT, "http 404" },
	{ "fail_all: 407 is our proxy's credentials", PROVIDER_T_OK, 407, -1, NULL, NULL,
	  PROVIDER_MISCONFIGURED, 0, NO_WAIT, "http 407" },
	{ "fail_all: 408 is a timeout", PROVIDER_T_OK, 408, -1, NULL, NULL, PROVIDER_RETRY, 0,
	  NO_WAIT, "http 408" },
	{ "fail_all: a 2xx not understood is ambiguous", PROVIDER_T_OK, 200, -1, NULL,
	  "unparseable body", PROVIDER_RETRY, 1, NO_WAIT, "http 200 unparseable body" },
	{ "fail_all: a redirect is not followed", PROVIDER_T_OK, 301, -1, NULL, NULL,
	  PROVIDER_RETRY, 0, NO_WAIT, "http 301 (redirect not followed)" },
	{ "fail_all: a nonsense status", PROVIDER_T_OK, 999, -1, NULL, NULL, PROVIDER_RETRY, 1,
	  NO_WAIT, "unexpected http status 999" },
	{ "fail_all: control characters in the detail", PROVIDER_T_OK, 400, -1, NULL,
	  "line1\nline2\r\t\x1b[31m", PROVIDER_FAILED, 0, NO_WAIT, "http 400 line1 line2   [31m" },
};

static void test_fail_case(void **state)
{
	const struct fail_case *c = *state;
	struct provider_response resp = {
		.transport = c->transport, .status = c->status,
		.retry_after_ms = c->retry_after_ms, .error = c->error,
	};
	struct provider_result out[3];
	size_t i;

	memset(out, 0xa5, sizeof(out));
	provider_fail_all(&resp, c->detail, N_OF(out), out);
	for (i = 0; i < N_OF(out); i++) {
		assert_result_sane(&out[i]);
		assert_int_equal(out[i].status, c->want);
		assert_int_equal(out[i].ambiguous, c->ambiguous);
		assert_int_equal(out[i].retry_after_ms, c->want_wait);
		assert_string_equal(out[i].reason, c->reason);
		assert_string_equal(out[i].provider_id, "");
	}
}

/* ---- build: the exact requests ------------------------------------------- */

struct build_case {
	const char *name;               /* test name */
	enum provider_kind kind;        /* adapter */
	const struct provider_conf *conf; /* NULL: the kind's fixture */
	const char *sender;             /* non-NULL: override the sender */
	const char *token;              /* non-NULL: override the token */
	size_t n;                       /* messages from batch[] */
	const char *url;                /* expected URL */
	const char *headers[PROVIDER_HEADERS_MAX]; /* expected headers, in order */
	const char *user, *pass;        /* expected Basic credentials */
	const char *body;               /* expected body bytes */
};

static const struct build_case build_cases[] = {
	{ "twilio: one message, form-encoded UTF-8, Basic auth", PROVIDER_TWILIO, NULL, NULL, NULL, 1,
	  "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
	  { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
	  "AC0123456789abcdef0123456789abcdef", "twilio-auth-token",
	  "To=%2B33612345678&From=%2B33644630000"
	  "&Body=Caf%C3%A9%20%F0%9F%98%80%20%26%20co%20%2B%201%3D1%20ok" },
	{ "twilio: a Messaging Service SID sender", PROVIDER_TWILIO, NULL,
	  "MG9752274e9e519418a7406176694466fa", NULL, 1,
	  "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
	  { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
	  "AC0123456789abcdef0123456789abcdef", "twilio-auth-token",
	  "To=%2B33612345678&MessagingServiceSid=MG9752274e9e519418a7406176694466fa"
	  "&Body=Caf%C3%A9%20%F0%9F%98%80%20%26%20co%20%2B%201%3D1%20ok" },
	{ "twilio: an alphanumeric sender starting with MG stays From", PROVIDER_TWILIO, NULL,
	  "MGBANK", NULL, 1,
	  "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
	  { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
	  "AC0123456789abcdef0123456789abcdef", "twilio-auth-token",
	  "To=%2B33612345678&From=MGBANK"
	  "&Body=Caf%C3%A9%20%F0%9F%98%80%20%26%20co%20%2B%201%3D1%20ok" },
	{ "infobip: a batch, App key, '+' dropped, messageId = ref", PROVIDER_INFOBIP, NULL, NULL,
	  NULL, 2, "https://xyz12.api.infobip.com/sms/2/text/advanced",
	  { "Authorization: App 0123456789abcdef-infobip-key", "Content-Type: application/json",
	    "Accept: application/json" }, "", "",
	  "{\"messages\":["
	  "{\"destinations\":[{\"to\":\"33612345678\",\"messageId\":\"smsq-1\"}],"
	  "\"from\":\"InfoSMS\",\"text\":\"" TEXT_UTF8 "\"},"
	  "{\"destinations\":[{\"to\":\"447700900123\",\"messageId\":\"smsq-2\"}],"
	  "\"from\":\"InfoSMS\",\"text\":\"RDV \\\"demain\\\" 9h\\nDr Zo\xc3\xa9\"}]}" },
	{ "infobip: no sender means no from", PROVIDER_INFOBIP, NULL, "", NULL, 1,
	  "https://xyz12.api.infobip.com/sms/2/text/advanced",
	  { "Authorization: App 0123456789abcdef-infobip-key", "Content-Type: application/json",
	    "Accept: application/json" }, "", "",
	  "{\"messages\":[{\"destinations\":[{\"to\":\"33612345678\",\"messageId\":\"smsq-1\"}],"
	  "\"text\":\"" TEXT_UTF8 "\"}]}" },
	{ "webhook: a batch with a bearer token", PROVIDER_WEBHOOK, NULL, NULL, NULL, 3,
	  "http://127.0.0.1:8081/v1/sms",
	  { "Content-Type: application/json", "Accept: application/json",
	    "Authorization: Bearer gw-bearer-token" }, "", "",
	  "{\"messages\":["
	  "{\"id\":\"smsq-1\",\"to\":\"+33612345678\",\"text\":\"" TEXT_UTF8 "\",\"segments\":1},"
	  "{\"id\":\"smsq-2\",\"to\":\"+447700900123\","
	  "\"text\":\"RDV \\\"demain\\\" 9h\\nDr Zo\xc3\xa9\",\"segments\":1},"
	  "{\"id\":\"smsq-3\",\"to\":\"+33699887766\",\"text\":\"Three\",\"segments\":1}]}" },
	{ "webhook: no token means no Authorization, sender as from", PROVIDER_WEBHOOK, NULL,
	  "Clinic", "", 1, "http://127.0.0.1:8081/v1/sms",
	  { "Content-Type: application/json", "Accept: application/json" }, "", "",
	  "{\"messages\":[{\"id\":\"smsq-1\",\"to\":\"+33612345678\",\"from\":\"Clinic\","
	  "\"text\":\"" TEXT_UTF8 "\",\"segments\":1}]}" },
	{ "sinch: one batch, a text per recipient through its parameter, Bearer token",
	  PROVIDER_SINCH, NULL, NULL, NULL, 3,
	  "https://eu.sms.api.sinch.com/xms/v1/jd63jf88477ll123ab4567cd89012ef3/batches",
	  { "Authorization: Bearer sinch-api-token", "Content-Type: application/json",
	    "Accept: application/json" }, "", "",
	  "{\"from\":\"Clinique\",\"to\":[\"+33612345678\",\"+447700900123\",\"+33699887766\"],"
	  "\"body\":\"${text}\",\"parameters\":{\"text\":{"
	  "\"+33612345678\":\"" TEXT_UTF8 "\","
	  "\"+447700900123\":\"RDV \\\"demain\\\" 9h\\nDr Zo\xc3\xa9\","
	  "\"+33699887766\":\"Three\"}},\"client_reference\":\"smsq-1\"}" },
	{ "sinch: no sender means no from (the plan's default originator)", PROVIDER_SINCH, NULL,
	  "", NULL, 1,
	  "https://eu.sms.api.sinch.com/xms/v1/jd63jf88477ll123ab4567cd89012ef3/batches",
	  { "Authorization: Bearer sinch-api-token", "Content-Type: application/json",
	    "Accept: application/json" }, "", "",
	  "{\"to\":[\"+33612345678\"],\"body\":\"${text}\",\"parameters\":{\"text\":{"
	  "\"+33612345678\":\"" TEXT_UTF8 "\"}},\"client_reference\":\"smsq-1\"}" },
	{ "vonage: one message, form-encoded, Basic auth, '+' dropped, unicode for an emoji",
	  PROVIDER_VONAGE, NULL, NULL, NULL, 1, "https://rest.nexmo.com/sms/json",
	  { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
	  "abcd1234", "vonage-api-secret",
	  "from=Clinique&to=33612345678"
	  "&text=Caf%C3%A9%20%F0%9F%98%80%20%26%20co%20%2B%201%3D1%20ok&type=unicode"
	  "&client-ref=smsq-1" },
	{ "vonage: a number as sender goes without its '+'", PROVIDER_VONAGE, NULL, "+447700900000",
	  NULL, 1, "https://rest.nexmo.com/sms/json",
	  { "Content-Type: application/x-www-form-urlencoded", "Accept: application/json" },
	  "abcd1234", "vonage-api-secret",
	  "from=447700900000&to=33612345678"
	  "&text=Caf%C3%A9%20%F0%9F%98%80%20%26%20co%20%2B%201%3D1%20ok&type=unicode"
	  "&client-ref=smsq-1" },
};

static void test_build_case(void **state)
{
	const struct build_case *c = *state;
	const struct provider_ops *ops = provider_ops_for(c->kind);
	struct provider_conf conf = *(c->conf != NULL ? c->conf : conf_for(c->kind));
	struct provider_request req;
	char err[256] = "";
	size_t i, nh = 0;

	if (c->sender != NULL)
		assert_true(strlen(c->sender) < sizeof(conf.sender));
	if (c->sender != NULL)
		snprintf(conf.sender, sizeof(conf.sender), "%s", c->sender);
	if (c->token != NULL)
		snprintf(conf.token, sizeof(conf.token), "%s", c->token);
	assert_non_null(ops);
	if (ops->build(&conf, batch, c->n, &req, err, sizeof(err)) != 0)
		fail_msg("build: %s", err);
	assert_string_equal(req.url, c->url);
	while (nh < PROVIDER_HEADERS_MAX && c->headers[nh] != NULL)
		nh++;
	assert_int_equal(req.n_headers, nh);
	for (i = 0; i < nh; i++)
		assert_string_equal(req.headers[i], c->headers[i]);
	assert_string_equal(req.basic_user, c->user);
	assert_string_equal(req.basic_pass, c->pass);
	assert_non_null(req.body);
	assert_int_equal(req.body_len, strlen(c->body));
	assert_memory_equal(req.body, c->body, req.body_len);
	assert_int_equal(req.body[req.body_len], '\0');
	provider_request_clear(&req);
	assert_null(req.body);
	assert_int_equal(req.basic_pass[0], '\0');
}

/* ---- build: refusals -------------------------------------------------------- */

struct build_error_case {
	const char *name;               /* test name */
	enum provider_kind kind;        /* adapter */
	const char *field;              /* conf field to change: "account", "token", ... */
	const char *value;              /* its new value */
	const struct provider_msg *msgs; /* NULL: batch[] */
	size_t n;                       /* messages */
	const char *err;                /* expected substring of err */
};

static const struct provider_msg bad_utf8[] = {
	{ 9, "smsq-9", "+33612345678", "caf\xe9", 1, 0 },
};
static const struct provider_msg surrogate[] = {
	{ 9, "smsq-9", "+33612345678", "x\xed\xa0\x80y", 1, 0 },
};
static const struct provider_msg dup_refs[] = {
	{ 1, "smsq-1", "+33612345678", "a", 1, 0 },
	{ 2, "smsq-1", "+33612345679", "b", 1, 0 },
};
static const struct provider_msg no_ref[] = {
	{ 5, NULL, "+33612345678", "a", 1, 0 },
};
static const struct provider_msg no_to[] = {
	{ 6, "smsq-6", "", "a", 1, 0 },
};
static const struct provider_msg no_text[] = {
	{ 7, "smsq-7", "+33612345678", NULL, 1, 0 },
};
static const struct provider_msg same_to[] = {
	{ 1, "smsq-1", "+33612345678", "a", 1, 0 },
	{ 2, "smsq-2", "+447700900123", "b", 1, 0 },
	{ 3, "smsq-3", "+33612345678", "c", 1, 0 },
};
static const struct provider_msg long_ref[] = {
	{ 8, "smsq-0123456789012345678901234567890123456789012345678901234567890123456789",
	  "+33612345678", "a", 1, 0 },
};

static const struct build_error_case build_error_cases[] = {
	{ "twilio: two messages in one request", PROVIDER_TWILIO, NULL, NULL, NULL, 2,
	  "1 to 1 allowed" },
	{ "twilio: empty batch", PROVIDER_TWILIO, NULL, NULL, NULL, 0, "1 to 1 allowed" },
	{ "twilio: account SID with a slash", PROVIDER_TWILIO, "account", "AC12/../x", NULL, 1,
	  "account SID" },
	{ "twilio: empty account SID", PROVIDER_TWILIO, "account", "", NULL, 1, "account SID" },
	{ "twilio: empty auth token", PROVIDER_TWILIO, "token", "", NULL, 1, "auth token" },
	{ "twilio: empty sender", PROVIDER_TWILIO, "sender", "", NULL, 1, "sender is empty" },
	{ "twilio: empty base URL", PROVIDER_TWILIO, "base_url", "", NULL, 1, "base_url" },
	{ "twilio: base URL with a space", PROVIDER_TWILIO, "base_url", "https://a b", NULL, 1,
	  "base_url" },
	{ "twilio: text not UTF-8", PROVIDER_TWILIO, NULL, NULL, bad_utf8, 1, "not UTF-8" },
	{ "twilio: text with a UTF-16 surrogate", PROVIDER_TWILIO, NULL, NULL, surrogate, 1,
	  "not UTF-8" },
	{ "twilio: no destination", PROVIDER_TWILIO, NULL, NULL, no_to, 1, "no destination" },
	{ "twilio: no text", PROVIDER_TWILIO, NULL, NULL, no_text, 1, "text missing" },
	{ "infobip: 101 messages", PROVIDER_INFOBIP, NULL, NULL, NULL, 101, "1 to 100 allowed" },
	{ "infobip: empty API key", PROVIDER_INFOBIP, "token", "", NULL, 1, "API key" },
	{ "infobip: API key with a newline (header injection)", PROVIDER_INFOBIP, "token",
	  "key\r\nX-Evil: 1", NULL, 1, "API key" },
	{ "infobip: text not UTF-8", PROVIDER_INFOBIP, NULL, NULL, bad_utf8, 1, "not UTF-8" },
	{ "infobip: the same ref twice", PROVIDER_INFOBIP, NULL, NULL, dup_refs, 2, "twice" },
	{ "infobip: no ref", PROVIDER_INFOBIP, NULL, NULL, no_ref, 1, "reference" },
	{ "infobip: ref too long", PROVIDER_INFOBIP, NULL, NULL, long_ref, 1, "reference" },
	{ "infobip: sender not UTF-8", PROVIDER_INFOBIP, "sender", "Cl\xe9nique", NULL, 1,
	  "sender is not UTF-8" },
	{ "webhook: token with a space", PROVIDER_WEBHOOK, "token", "a b", NULL, 1, "token" },
	{ "webhook: the same ref twice", PROVIDER_WEBHOOK, NULL, NULL, dup_refs, 2, "twice" },
	{ "webhook: text not UTF-8", PROVIDER_WEBHOOK, NULL, NULL, bad_utf8, 1, "not UTF-8" },
	{ "sinch: 1001 recipients", PROVIDER_SINCH, NULL, NULL, NULL, 1001, "1 to 1000 allowed" },
	{ "sinch: a number twice in one batch", PROVIDER_SINCH, NULL, NULL, same_to, 3,
	  "message 3: its destination is in the batch already" },
	{ "sinch: empty service plan id", PROVIDER_SINCH, "account", "", NULL, 1,
	  "service plan id" },
	{ "sinch: service plan id with a slash", PROVIDER_SINCH, "account", "plan/../x", NULL, 1,
	  "service plan id" },
	{ "sinch: empty API token", PROVIDER_SINCH, "token", "", NULL, 1, "Sinch API token" },
	{ "sinch: API token with a newline (header injection)", PROVIDER_SINCH, "token",
	  "tok\r\nX-Evil: 1", NULL, 1, "Sinch API token" },
	{ "sinch: text not UTF-8", PROVIDER_SINCH, NULL, NULL, bad_utf8, 1, "not UTF-8" },
	{ "sinch: the same ref twice", PROVIDER_SINCH, NULL, NULL, dup_refs, 2, "twice" },
	{ "sinch: sender not UTF-8", PROVIDER_SINCH, "sender", "Cl\xe9nique", NULL, 1,
	  "sender is not UTF-8" },
	{ "vonage: two messages in one request", PROVIDER_VONAGE, NULL, NULL, NULL, 2,
	  "1 to 1 allowed" },
	{ "vonage: empty API key", PROVIDER_VONAGE, "account", "", NULL, 1, "Vonage API key" },
	{ "vonage: API key with a colon", PROVIDER_VONAGE, "account", "key:x", NULL, 1,
	  "Vonage API key" },
	{ "vonage: empty API secret", PROVIDER_VONAGE, "token", "", NULL, 1, "Vonage API secret" },
	{ "vonage: empty sender", PROVIDER_VONAGE, "sender", "", NULL, 1, "sender is empty" },
	{ "vonage: text not UTF-8", PROVIDER_VONAGE, NULL, NULL, bad_utf8, 1, "not UTF-8" },
	{ "vonage: no destination", PROVIDER_VONAGE, NULL, NULL, no_to, 1, "no destination" },
};

static void set_conf_field(struct provider_conf *conf, const char *field, const char *value)
{
	char *dst;
	size_t cap;

	if (strcmp(field, "account") == 0) {
		dst = conf->account;
		cap = sizeof(conf->account);
	} else if (strcmp(field, "token") == 0) {
		dst = conf->token;
		cap = sizeof(conf->token);
	} else if (strcmp(field, "sender") == 0) {
		dst = conf->sender;
		cap = sizeof(conf->sender);
	} else {
		dst = conf->base_url;
		cap = sizeof(conf->base_url);
	}
	snprintf(dst, cap, "%s", value);
}

static void test_build_error_case(void **state)
{
	const struct build_error_case *c = *state;
	const struct provider_ops *ops = provider_ops_for(c->kind);
	struct provider_conf conf = *conf_for(c->kind);
	static struct provider_msg many[PROVIDER_SINCH_MAX_BATCH + 1];
	const struct provider_msg *msgs = c->msgs;
	struct provider_request req;
	char err[256] = "";
	size_t i;

	if (c->field != NULL)
		set_conf_field(&conf, c->field, c->value);
	if (msgs == NULL) {
		for (i = 0; i < N_OF(many); i++)
			many[i] = batch[i % N_OF(batch)];
		msgs = many;
	}
	memset(&req, 0x5a, sizeof(req));   /* build() must not trust what is there */
	assert_int_equal(ops->build(&conf, msgs, c->n, &req, err, sizeof(err)), -1);
	if (strstr(err, c->err) == NULL)
		fail_msg("err \"%s\" does not contain \"%s\"", err, c->err);
	/* The request is empty after a failure. */
	assert_null(req.body);
	assert_int_equal(req.body_len, 0);
	assert_int_equal(req.n_headers, 0);
	assert_string_equal(req.url, "");
	assert_string_equal(req.basic_pass, "");
	provider_request_clear(&req);
}

/* ---- parse: the documented answers -------------------------------------------- */

struct want {
	enum provider_status status; /* expected outcome */
	int ambiguous;               /* expected flag */
	int64_t wait;                /* expected retry_after_ms */
	const char *id;              /* expected provider_id */
	const char *reason;          /* expected reason; "~x": contains x; NULL: any */
};

#define W_SENT(id) { PROVIDER_SENT, 0, NO_WAIT, id, "" }
#define W_RETRY(why) { PROVIDER_RETRY, 0, NO_WAIT, "", why }
#define W_MAYBE(why) { PROVIDER_RETRY, 1, NO_WAIT, "", why }
#define W_THROTTLED(ms, why) { PROVIDER_THROTTLED, 0, ms, "", why }
#define W_FAILED(why) { PROVIDER_FAILED, 0, NO_WAIT, "", why }
#define W_UNAVAILABLE(ms, why) { PROVIDER_UNAVAILABLE, 0, ms, "", why }
#define W_MISCONF(why) { PROVIDER_MISCONFIGURED, 0, NO_WAIT, "", why }
#define W_SPLIT(why) { PROVIDER_SPLIT, 0, NO_WAIT, "", why }

struct parse_case {
	const char *name;            /* test name */
	enum provider_kind kind;     /* adapter */
	int transport;               /* enum provider_transport */
	long status;                 /* HTTP status */
	const char *body;            /* answer body (NULL: none) */
	int64_t retry_after_ms;      /* Retry-After header, parsed */
	size_t n;                    /* messages of batch[] in the request */
	struct want want[4];         /* per message */
};

/* As retry_after_ms of a case: the header was "Retry-After: Wed, 21 Oct 2015
 * 07:28:00 GMT", parsed at NOW_MS as the http module does. */
#define RA_HTTP_DATE (-2)

/* Twilio's answer to a create (Messages resource), trimmed of URIs. */
#define TWILIO_CREATED(status, ecode, emsg)                                              \
	"{\"account_sid\":\"AC0123456789abcdef0123456789abcdef\",\"api_version\":\"2010-04-01\"," \
	"\"body\":\"Caf\\u00e9\",\"date_created\":\"Thu, 24 Aug 2023 05:01:45 +0000\","      \
	"\"date_sent\":null,\"date_updated\":\"Thu, 24 Aug 2023 05:01:45 +0000\","          \
	"\"direction\":\"outbound-api\",\"error_code\":" ecode ",\"error_message\":" emsg "," \
	"\"from\":\"+33644630000\",\"messaging_service_sid\":null,\"num_media\":\"0\","      \
	"\"num_segments\":\"1\",\"price\":null,\"price_unit\":null,"                         \
	"\"sid\":\"SM1234567890abcdef1234567890abcdef\",\"status\":\"" status "\","          \
	"\"subresource_uris\":{\"media\":\"/2010-04-01/Accounts/AC01/Messages/SM12/Media.json\"}," \
	"\"to\":\"+33612345678\",\"uri\":\"/2010-04-01/Accounts/AC01/Messages/SM12.json\"}"

#define TWILIO_ERROR(code, msg, status)                                                    \
	"{\"code\":" #code ",\"message\":\"" msg "\",\"more_info\":"                        \
	"\"https://www.twilio.com/docs/errors/" #code "\",\"status\":" #status "}"

#define TWILIO_SID "SM1234567890abcdef1234567890abcdef"

/* An Infobip answer entry. */
#define IB_ENTRY(mid, to, gid, gname, id, name, desc)                                        \
	"{\"messageId\":\"" mid "\",\"status\":{\"description\":\"" desc "\",\"groupId\":" #gid \
	",\"groupName\":\"" gname "\",\"id\":" #id ",\"name\":\"" name "\"},\"to\":\"" to "\"}"
#define IB_PENDING(mid, to)                                                                  \
	IB_ENTRY(mid, to, 1, "PENDING", 26, "PENDING_ACCEPTED", "Message sent to next instance")
/* Sinch's answer to a send: the batch (the sample of the API reference). */
#define SINCH_BATCH_ID "01FC66621XXXXX119Z8PMV1QPQ"
#define SINCH_BATCH                                                                        \
	"{\"id\":\"" SINCH_BATCH_ID "\",\"to\":[\"+33612345678\",\"+447700900123\","      \
	"\"+33699887766\"],\"from\":\"Clinique\",\"canceled\":false,\"parameters\":"       \
	"{\"text\":{\"+33612345678\":\"a\",\"+447700900123\":\"b\",\"+33699887766\":\"c\"}}," \
	"\"body\":\"${text}\",\"type\":\"mt_text\",\"created_at\":\"2019-08-24T14:15:22Z\","  \
	"\"modified_at\":\"2019-08-24T14:15:22Z\",\"delivery_report\":\"none\","          \
	"\"expire_at\":\"2019-08-27T14:15:22Z\",\"flash_message\":false,"                 \
	"\"client_reference\":\"smsq-1\"}"
#define SINCH_ERROR(code, text) "{\"code\":\"" code "\",\"text\":\"" text "\"}"

/* A Vonage answer's part, accepted (the fields of the docs' sample). */
#define VG_OK(id)                                                                        \
	"{\"to\":\"33612345678\",\"message-id\":\"" id "\",\"status\":\"0\","              \
	"\"remaining-balance\":\"3.14159265\",\"message-price\":\"0.03330000\","          \
	"\"network\":\"20801\",\"client-ref\":\"smsq-1\"}"
/* A Vonage answer refusing the message (in a 200). */
#define VG_ERR(status, text)                                                             \
	"{\"message-count\":\"1\",\"messages\":[{\"status\":\"" status "\","              \
	"\"error-text\":\"" text "\"}]}"

#define IB_ERROR(id, text) "{\"requestError\":{\"serviceException\":{\"messageId\":\"" id "\"," \
	"\"text\":\"" text "\"}}}"

static const struct parse_case parse_cases[] = {
	/* -- Twilio -- */
	{ "twilio: 201 queued -> sent with the sid", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  TWILIO_CREATED("queued", "null", "null"), -1, 1, { W_SENT(TWILIO_SID) } },
	{ "twilio: 201 accepted (Messaging Service) -> sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  TWILIO_CREATED("accepted", "null", "null"), -1, 1, { W_SENT(TWILIO_SID) } },
	{ "twilio: 200 is a 2xx like 201", PROVIDER_TWILIO, PROVIDER_T_OK, 200,
	  TWILIO_CREATED("sent", "null", "null"), -1, 1, { W_SENT(TWILIO_SID) } },
	{ "twilio: 201 status failed -> failed with its code", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  TWILIO_CREATED("failed", "30007", "\"Message filtered\""), -1, 1,
	  { { PROVIDER_FAILED, 0, NO_WAIT, TWILIO_SID,
	      "twilio failed code 30007: Message filtered" } } },
	{ "twilio: 201 undelivered without a code -> failed", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  TWILIO_CREATED("undelivered", "null", "null"), -1, 1,
	  { { PROVIDER_FAILED, 0, NO_WAIT, TWILIO_SID, "twilio undelivered" } } },
	{ "twilio: 201 queued with an error_code -> failed", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  TWILIO_CREATED("queued", "21610", "\"Attempt to send to unsubscribed recipient\""), -1, 1,
	  { { PROVIDER_FAILED, 0, NO_WAIT, TWILIO_SID,
	      "twilio queued code 21610: Attempt to send to unsubscribed recipient" } } },
	{ "twilio: 201 with error_code 63017 (rate limit) -> throttled", PROVIDER_TWILIO,
	  PROVIDER_T_OK, 201, TWILIO_CREATED("failed", "63017", "\"Rate limit exceeded\""), 1000, 1,
	  { { PROVIDER_THROTTLED, 0, 1000, TWILIO_SID,
	      "twilio failed code 63017: Rate limit exceeded" } } },
	{ "twilio: 400 code 21211 -> failed with Twilio's message", PROVIDER_TWILIO, PROVIDER_T_OK,
	  400, TWILIO_ERROR(21211, "The 'To' number 5551234567 is not a valid phone number.", 400),
	  -1, 1, { W_FAILED("http 400 code 21211: The 'To' number 5551234567 is not a valid "
			    "phone number.") } },
	{ "twilio: 400 code 21408 (region not enabled) -> failed", PROVIDER_TWILIO, PROVIDER_T_OK,
	  400, TWILIO_ERROR(21408, "Permission to send an SMS has not been enabled for the region "
			    "indicated by the 'To' number: +33612345678.", 400), -1, 1,
	  { W_FAILED("~http 400 code 21408: Permission to send an SMS") } },
	/* A refusal of the message's own text is permanent: never retried. */
	{ "twilio: 400 code 21602 (empty body) -> failed", PROVIDER_TWILIO, PROVIDER_T_OK, 400,
	  TWILIO_ERROR(21602, "Message body is required.", 400), -1, 1,
	  { W_FAILED("http 400 code 21602: Message body is required.") } },
	{ "twilio: 400 code 21617 (body over 1600 characters) -> failed", PROVIDER_TWILIO,
	  PROVIDER_T_OK, 400, TWILIO_ERROR(21617, "The concatenated message body exceeds the 1600 "
					   "character limit.", 400), -1, 1,
	  { W_FAILED("~http 400 code 21617: The concatenated message body exceeds") } },
	{ "twilio: 401 code 20003 -> misconfigured (credentials, not the message)", PROVIDER_TWILIO,
	  PROVIDER_T_OK, 401, TWILIO_ERROR(20003, "Authenticate", 401), -1, 1,
	  { W_MISCONF("http 401 code 20003: Authenticate") } },
	{ "twilio: 404 code 20404 -> misconfigured (account or URL)", PROVIDER_TWILIO, PROVIDER_T_OK,
	  404, TWILIO_ERROR(20404, "The requested resource was not found", 404), -1, 1,
	  { W_MISCONF("http 404 code 20404: The requested resource was not found") } },
	{ "twilio: 429 code 20429 with Retry-After seconds -> throttled", PROVIDER_TWILIO,
	  PROVIDER_T_OK, 429, TWILIO_ERROR(20429, "Too Many Requests", 429), 3000, 1,
	  { W_THROTTLED(3000, "http 429 code 20429: Too Many Requests") } },
	{ "twilio: 429 with an HTTP-date Retry-After -> throttled", PROVIDER_TWILIO, PROVIDER_T_OK,
	  429, TWILIO_ERROR(20429, "Too Many Requests", 429), RA_HTTP_DATE, 1,
	  { W_THROTTLED(30000, "http 429 code 20429: Too Many Requests") } },
	{ "twilio: code 20429 under another status -> throttled", PROVIDER_TWILIO, PROVIDER_T_OK,
	  400, TWILIO_ERROR(20429, "Too Many Requests", 400), -1, 1,
	  { W_THROTTLED(NO_WAIT, "http 400 code 20429: Too Many Requests") } },
	{ "twilio: 503 -> unavailable", PROVIDER_TWILIO, PROVIDER_T_OK, 503,
	  TWILIO_ERROR(20503, "Service Unavailable", 503), -1, 1,
	  { W_UNAVAILABLE(NO_WAIT, "http 503 code 20503: Service Unavailable") } },
	{ "twilio: 500 -> retry", PROVIDER_TWILIO, PROVIDER_T_OK, 500,
	  TWILIO_ERROR(20500, "Internal Server Error", 500), -1, 1,
	  { W_RETRY("http 500 code 20500: Internal Server Error") } },
	{ "twilio: 502 with an HTML page -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 502,
	  "<html><body><h1>502 Bad Gateway</h1></body></html>", -1, 1, { W_MAYBE("http 502") } },
	{ "twilio: 400 with a non-JSON body -> failed", PROVIDER_TWILIO, PROVIDER_T_OK, 400,
	  "Bad Request", -1, 1, { W_FAILED("http 400") } },
	{ "twilio: 201 without a sid -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  "{\"status\":\"queued\"}", -1, 1, { W_MAYBE("http 201 answer without a message sid") } },
	{ "twilio: 201 with a numeric sid -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  "{\"sid\":42,\"status\":\"queued\"}", -1, 1,
	  { W_MAYBE("http 201 answer without a message sid") } },
	{ "twilio: 201 JSON array -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  "[1,2,3]", -1, 1, { W_MAYBE("http 201 answer is not a JSON object") } },
	{ "twilio: 201 empty body -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201, "", -1,
	  1, { W_MAYBE("http 201 empty body") } },
	{ "twilio: 201 no body at all -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  NULL, -1, 1, { W_MAYBE("http 201 empty body") } },
	{ "twilio: 201 garbage -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  "\x01\x02garbage\xff", -1, 1, { W_MAYBE("~http 201 unparseable body: ") } },
	{ "twilio: 201 truncated JSON -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK, 201,
	  "{\"sid\":\"SM1234567890abcdef1234567890abcdef\",\"status\":\"que", -1, 1,
	  { W_MAYBE("~http 201 unparseable body: ") } },
	{ "twilio: 201 with trailing garbage -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_OK,
	  201, "{\"sid\":\"SM1\",\"status\":\"queued\"} x", -1, 1,
	  { W_MAYBE("~http 201 unparseable body: ") } },
	{ "twilio: connection refused -> retry", PROVIDER_TWILIO, PROVIDER_T_NOT_SENT, 0, NULL, -1, 1,
	  { W_RETRY("not sent: Failed to connect to api.twilio.com port 443") } },
	{ "twilio: timeout after sending -> retry, maybe sent", PROVIDER_TWILIO, PROVIDER_T_AMBIGUOUS,
	  0, NULL, -1, 1,
	  { W_MAYBE("no answer after sending: Operation timed out after 10000 milliseconds") } },

	/* -- Infobip -- */
	{ "infobip: 200 all pending -> sent with messageIds", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"bulkId\":\"2034072219640523072\",\"messages\":["
	  IB_PENDING("smsq-1", "33612345678") "," IB_PENDING("smsq-2", "447700900123") "]}", -1, 2,
	  { W_SENT("smsq-1"), W_SENT("smsq-2") } },
	{ "infobip: answer in another order than the request", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"messages\":[" IB_PENDING("smsq-3", "33699887766") ","
	  IB_ENTRY("smsq-1", "33612345678", 5, "REJECTED", 52, "REJECTED_DESTINATION",
		   "Invalid destination address.") ","
	  IB_PENDING("smsq-2", "447700900123") "]}", -1, 3,
	  { W_FAILED("infobip REJECTED/REJECTED_DESTINATION: Invalid destination address."),
	    W_SENT("smsq-2"), W_SENT("smsq-3") } },
	{ "infobip: mixed outcomes in one answer", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"bulkId\":\"b1\",\"messages\":["
	  IB_ENTRY("smsq-1", "33612345678", 3, "DELIVERED", 5, "DELIVERED_TO_HANDSET",
		   "Message delivered to handset") ","
	  IB_ENTRY("smsq-2", "447700900123", 5, "REJECTED", 12, "REJECTED_NOT_ENOUGH_CREDITS",
		   "Not enough credits") ","
	  IB_ENTRY("smsq-3", "33699887766", 2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED",
		   "Message sent not delivered") ","
	  IB_ENTRY("smsq-4", "33611223344", 4, "EXPIRED", 15, "EXPIRED_EXPIRED",
		   "Message expired") "]}", -1, 4,
	  { W_SENT("smsq-1"),
	    W_RETRY("infobip REJECTED/REJECTED_NOT_ENOUGH_CREDITS: Not enough credits"),
	    W_FAILED("infobip UNDELIVERABLE/UNDELIVERABLE_NOT_DELIVERED: Message sent not delivered"),
	    W_FAILED("infobip EXPIRED/EXPIRED_EXPIRED: Message expired") } },
	{ "infobip: duplicate messageId means an earlier request went through", PROVIDER_INFOBIP,
	  PROVIDER_T_OK, 200, "{\"messages\":["
	  IB_ENTRY("smsq-1", "33612345678", 5, "REJECTED", 23, "REJECTED_DUPLICATE_MESSAGE_ID",
		   "Duplicate message id") "]}", -1, 1,
	  { { PROVIDER_SENT, 0, NO_WAIT, "smsq-1",
	      "infobip REJECTED/REJECTED_DUPLICATE_MESSAGE_ID" } } },
	{ "infobip: flooding filter is a per-number retry, not a provider throttle",
	  PROVIDER_INFOBIP, PROVIDER_T_OK, 200, "{\"messages\":["
	  IB_ENTRY("smsq-1", "33612345678", 5, "REJECTED", 20, "REJECTED_FLOODING_FILTER",
		   "Flooding filter") "," IB_PENDING("smsq-2", "447700900123") "]}", -1, 2,
	  { W_RETRY("infobip REJECTED/REJECTED_FLOODING_FILTER: Flooding filter"),
	    W_SENT("smsq-2") } },
	{ "infobip: a throttling rejection -> throttled", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"messages\":["
	  IB_ENTRY("smsq-1", "33612345678", 5, "REJECTED", 777, "REJECTED_THROTTLING",
		   "Throughput exceeded") "]}", 1500, 1,
	  { W_THROTTLED(1500, "infobip REJECTED/REJECTED_THROTTLING: Throughput exceeded") } },
	{ "infobip: system error is retried", PROVIDER_INFOBIP, PROVIDER_T_OK, 200, "{\"messages\":["
	  IB_ENTRY("smsq-1", "33612345678", 5, "REJECTED", 21, "REJECTED_SYSTEM_ERROR",
		   "System error") "]}", -1, 1,
	  { W_RETRY("infobip REJECTED/REJECTED_SYSTEM_ERROR: System error") } },
	{ "infobip: a message missing from the answer -> retry, maybe sent", PROVIDER_INFOBIP,
	  PROVIDER_T_OK, 200, "{\"messages\":[" IB_PENDING("smsq-2", "447700900123") "]}", -1, 3,
	  { W_MAYBE("infobip answer has no entry for this message"), W_SENT("smsq-2"),
	    W_MAYBE("infobip answer has no entry for this message") } },
	{ "infobip: entries we did not send are ignored", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"messages\":[" IB_PENDING("smsq-99", "33600000000") "," IB_PENDING("smsq-1", "1") ","
	  "{\"to\":\"447700900123\"}," IB_PENDING("smsq-1", "dup") "]}", -1, 2,
	  { W_SENT("smsq-1"), W_MAYBE("infobip answer has no entry for this message") } },
	{ "infobip: an entry without a status -> retry, maybe sent", PROVIDER_INFOBIP, PROVIDER_T_OK,
	  200, "{\"messages\":[{\"messageId\":\"smsq-1\",\"status\":\"PENDING\"},3,null]}", -1, 1,
	  { W_MAYBE("infobip answer entry without a status") } },
	{ "infobip: an unknown status group -> retry, maybe sent", PROVIDER_INFOBIP, PROVIDER_T_OK,
	  200, "{\"messages\":[" IB_ENTRY("smsq-1", "1", 9, "NEW", 1, "NEW_THING", "?") "]}", -1, 1,
	  { W_MAYBE("infobip unknown status group 9 (NEW/NEW_THING)") } },
	{ "infobip: status fields of the wrong types", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"messages\":[{\"messageId\":\"smsq-1\",\"status\":{\"groupId\":\"1\",\"name\":7}}]}",
	  -1, 1, { W_MAYBE("infobip unknown status group -1 (?/?)") } },
	{ "infobip: 200 without messages -> retry, maybe sent", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"bulkId\":\"x\",\"messages\":{}}", -1, 2,
	  { W_MAYBE("http 200 answer without a messages array"),
	    W_MAYBE("http 200 answer without a messages array") } },
	{ "infobip: 200 garbage -> retry, maybe sent", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "<html>oops</html>", -1, 2,
	  { W_MAYBE("~http 200 unparseable body: "), W_MAYBE("~http 200 unparseable body: ") } },
	{ "infobip: 200 truncated -> retry, maybe sent", PROVIDER_INFOBIP, PROVIDER_T_OK, 200,
	  "{\"messages\":[" IB_PENDING("smsq-1", "33612345678") ",{\"messageId\":\"smsq-2\",\"sta",
	  -1, 2, { W_MAYBE("~http 200 unparseable body: "), W_MAYBE("~http 200 unparseable body: ") } },
	{ "infobip: 400 BAD_REQUEST -> every message failed", PROVIDER_INFOBIP, PROVIDER_T_OK, 400,
	  IB_ERROR("BAD_REQUEST", "Bad request"), -1, 2,
	  { W_FAILED("http 400 BAD_REQUEST: Bad request"),
	    W_FAILED("http 400 BAD_REQUEST: Bad request") } },
	{ "infobip: 400 for an empty text -> every message failed", PROVIDER_INFOBIP,
	  PROVIDER_T_OK, 400, IB_ERROR("BAD_REQUEST", "message text is empty"), -1, 1,
	  { W_FAILED("http 400 BAD_REQUEST: message text is empty") } },
	{ "infobip: 401 UNAUTHORIZED -> misconfigured (credentials)", PROVIDER_INFOBIP,
	  PROVIDER_T_OK, 401, IB_ERROR("UNAUTHORIZED", "Invalid login details"), -1, 1,
	  { W_MISCONF("http 401 UNAUTHORIZED: Invalid login details") } },
	{ "infobip: 404 -> misconfigured (URL)", PROVIDER_INFOBIP, PROVIDER_T_OK, 404,
	  IB_ERROR("NOT_FOUND", "Requested URL not found: /sms/2/text/advanced"), -1, 1,
	  { W_MISCONF("http 404 NOT_FOUND: Requested URL not found: /sms/2/text/advanced") } },
	{ "infobip: 429 E429 with Retry-After -> throttled", PROVIDER_INFOBIP, PROVIDER_T_OK, 429,
	  "{\"errorCode\":\"E429\",\"description\":\"Too many requests sent.\",\"action\":"
	  "\"Check request rate limit specified in the API endpoint documentation resource.\","
	  "\"violations\":[],\"resources\":[]}", 2000, 2,
	  { W_THROTTLED(2000, "http 429 E429: Too many requests sent."),
	    W_THROTTLED(2000, "http 429 E429: Too many requests sent.") } },
	{ "infobip: 429 old error format, no Retry-After -> throttled", PROVIDER_INFOBIP,
	  PROVIDER_T_OK, 429, IB_ERROR("TOO_MANY_REQUESTS", "Too many requests"), -1, 1,
	  { W_THROTTLED(NO_WAIT, "http 429 TOO_MANY_REQUESTS: Too many requests") } },
	{ "infobip: 500 GENERAL_ERROR -> retry", PROVIDER_INFOBIP, PROVIDER_T_OK, 500,
	  IB_ERROR("GENERAL_ERROR", "Something went wrong. Please contact support."), -1, 1,
	  { W_RETRY("http 500 GENERAL_ERROR: Something went wrong. Please contact support.") } },
	{ "infobip: 503 empty body -> unavailable", PROVIDER_INFOBIP, PROVIDER_T_OK, 503, "", -1, 1,
	  { W_UNAVAILABLE(NO_WAIT, "http 503") } },
	{ "infobip: 503 with Retry-After -> unavailable for that long", PROVIDER_INFOBIP,
	  PROVIDER_T_OK, 503, "", 4000, 1, { W_UNAVAILABLE(4000, "http 503") } },
	{ "infobip: DNS failure -> retry", PROVIDER_INFOBIP, PROVIDER_T_NOT_SENT, 0, NULL, -1, 2,
	  { W_RETRY("not sent: Could not resolve host"), W_RETRY("not sent: Could not resolve host") } },
	{ "infobip: reset after sending -> retry, maybe sent", PROVIDER_INFOBIP, PROVIDER_T_AMBIGUOUS,
	  0, NULL, -1, 2,
	  { W_MAYBE("no answer after sending: Connection reset by peer"),
	    W_MAYBE("no answer after sending: Connection reset by peer") } },

	/* -- webhook -- */
	{ "webhook: every status in one answer, out of order", PROVIDER_WEBHOOK, PROVIDER_T_OK, 200,
	  "{\"results\":["
	  "{\"id\":\"smsq-4\",\"status\":\"throttled\",\"retry_after_ms\":1000},"
	  "{\"id\":\"smsq-3\",\"status\":\"retry\",\"error\":\"route down\"},"
	  "{\"id\":\"smsq-2\",\"status\":\"rejected\",\"error\":\"invalid number\"},"
	  "{\"id\":\"smsq-1\",\"status\":\"accepted\",\"provider_id\":\"gw-0001\"}]}", -1, 4,
	  { W_SENT("gw-0001"), W_FAILED("webhook rejected: invalid number"),
	    W_RETRY("webhook retry: route down"), W_THROTTLED(1000, "webhook throttled") } },
	{ "webhook: a rejected text is failed, never retried", PROVIDER_WEBHOOK, PROVIDER_T_OK, 200,
	  "{\"results\":[{\"id\":\"smsq-1\",\"status\":\"rejected\","
	  "\"error\":\"message text is empty\"}]}", -1, 1,
	  { W_FAILED("webhook rejected: message text is empty") } },
	{ "webhook: throttled without retry_after_ms uses the header", PROVIDER_WEBHOOK,
	  PROVIDER_T_OK, 200, "{\"results\":[{\"id\":\"smsq-1\",\"status\":\"throttled\","
	  "\"error\":\"1 msg/s\"}]}", 4000, 1, { W_THROTTLED(4000, "webhook throttled: 1 msg/s") } },
	{ "webhook: accepted without provider_id", PROVIDER_WEBHOOK, PROVIDER_T_OK, 202,
	  "{\"results\":[{\"id\":\"smsq-1\",\"status\":\"accepted\"}]}", -1, 1, { W_SENT("") } },
	{ "webhook: bad retry_after_ms values are ignored", PROVIDER_WEBHOOK, PROVIDER_T_OK, 200,
	  "{\"results\":[{\"id\":\"smsq-1\",\"status\":\"throttled\",\"retry_after_ms\":-5},"
	  "{\"id\":\"smsq-2\",\"status\":\"throttled\",\"retry_after_ms\":\"1000\"},"
	  "{\"id\":\"smsq-3\",\"status\":\"throttled\",\"retry_after_ms\":1e300},"
	  "{\"id\":\"smsq-4\",\"status\":\"throttled\",\"retry_after_ms\":2.5}]}", -1, 4,
	  { W_THROTTLED(NO_WAIT, "webhook throttled"), W_THROTTLED(NO_WAIT, "webhook throttled"),
	    W_THROTTLED(NO_WAIT, "webhook throttled"), W_THROTTLED(2, "webhook throttled") } },
	{ "webhook: unknown status and missing result", PROVIDER_WEBHOOK, PROVIDER_T_OK, 200,
	  "{\"results\":[{\"id\":\"smsq-1\",\"status\":\"queued\"},{\"id\":\"smsq-2\"}]}", -1, 3,
	  { W_MAYBE("webhook unknown status \"queued\""), W_MAYBE("webhook result without a status"),
	    W_MAYBE("webhook answer has no result for this message") } },
	{ "webhook: 200 without results -> retry, maybe sent", PROVIDER_WEBHOOK, PROVIDER_T_OK, 200,
	  "{\"ok\":true}", -1, 1, { W_MAYBE("http 200 answer without a results array") } },
	{ "webhook: 200 not JSON -> retry, maybe sent", PROVIDER_WEBHOOK, PROVIDER_T_OK, 200, "OK", -1,
	  1, { W_MAYBE("~http 200 unparseable body: ") } },
	{ "webhook: 400 with an error -> failed", PROVIDER_WEBHOOK, PROVIDER_T_OK, 400,
	  "{\"error\":\"messages[0].to is not E.164\"}", -1, 2,
	  { W_FAILED("http 400 messages[0].to is not E.164"),
	    W_FAILED("http 400 messages[0].to is not E.164") } },
	{ "webhook: 401 -> misconfigured (credentials)", PROVIDER_WEBHOOK, PROVIDER_T_OK, 401,
	  "{\"error\":\"bad token\"}", -1, 1, { W_MISCONF("http 401 bad token") } },
	{ "webhook: 408 -> retry (the provider timed out)", PROVIDER_WEBHOOK, PROVIDER_T_OK, 408,
	  "", -1, 1, { W_RETRY("http 408") } },
	{ "webhook: 429 with retry_after_ms in the body", PROVIDER_WEBHOOK, PROVIDER_T_OK, 429,
	  "{\"error\":\"slow down\",\"retry_after_ms\":750}", -1, 2,
	  { W_THROTTLED(750, "http 429 slow down"), W_THROTTLED(750, "http 429 slow down") } },
	{ "webhook: 429 Retry-After header wins over the body", PROVIDER_WEBHOOK, PROVIDER_T_OK, 429,
	  "{\"error\":\"slow down\",\"retry_after_ms\":750}", 5000, 1,
	  { W_THROTTLED(5000, "http 429 slow down") } },
	{ "webhook: 503 -> unavailable", PROVIDER_WEBHOOK, PROVIDER_T_OK, 503, "busy", -1, 1,
	  { W_UNAVAILABLE(NO_WAIT, "http 503") } },
	{ "webhook: 500 -> retry", PROVIDER_WEBHOOK, PROVIDER_T_OK, 500, "{\"error\":\"boom\"}", -1, 1,
	  { W_RETRY("http 500 boom") } },
	{ "webhook: connection refused -> retry", PROVIDER_WEBHOOK, PROVIDER_T_NOT_SENT, 0, NULL, -1,
	  1, { W_RETRY("not sent: Connection refused") } },
	{ "webhook: timeout after sending -> retry, maybe sent", PROVIDER_WEBHOOK,
	  PROVIDER_T_AMBIGUOUS, 0, NULL, -1, 1, { W_MAYBE("no answer after sending: timeout") } },
	/* -- Sinch -- */
	{ "sinch: 201 the batch -> every message sent with the batch id", PROVIDER_SINCH,
	  PROVIDER_T_OK, 201, SINCH_BATCH, -1, 3,
	  { W_SENT(SINCH_BATCH_ID), W_SENT(SINCH_BATCH_ID), W_SENT(SINCH_BATCH_ID) } },
	{ "sinch: 200 is a 2xx like 201", PROVIDER_SINCH, PROVIDER_T_OK, 200,
	  "{\"id\":\"" SINCH_BATCH_ID "\"}", -1, 1, { W_SENT(SINCH_BATCH_ID) } },
	{ "sinch: 201 without an id -> retry, maybe sent", PROVIDER_SINCH, PROVIDER_T_OK, 201,
	  "{\"to\":[\"+33612345678\"],\"canceled\":false}", -1, 2,
	  { W_MAYBE("http 201 answer without a batch id"),
	    W_MAYBE("http 201 answer without a batch id") } },
	{ "sinch: 201 with a numeric id -> retry, maybe sent", PROVIDER_SINCH, PROVIDER_T_OK, 201,
	  "{\"id\":42}", -1, 1, { W_MAYBE("http 201 answer without a batch id") } },
	{ "sinch: 201 truncated -> retry, maybe sent", PROVIDER_SINCH, PROVIDER_T_OK, 201,
	  "{\"id\":\"01FC66621XXXXX119Z8P", -1, 2,
	  { W_MAYBE("~http 201 unparseable body: "), W_MAYBE("~http 201 unparseable body: ") } },
	{ "sinch: 400 about a number, several messages -> each goes again alone", PROVIDER_SINCH,
	  PROVIDER_T_OK, 400,
	  SINCH_ERROR("syntax_invalid_parameter_format", "Invalid MSISDN: +3361234"), -1, 3,
	  { W_SPLIT("http 400 syntax_invalid_parameter_format: Invalid MSISDN: +3361234"),
	    W_SPLIT("http 400 syntax_invalid_parameter_format: Invalid MSISDN: +3361234"),
	    W_SPLIT("http 400 syntax_invalid_parameter_format: Invalid MSISDN: +3361234") } },
	{ "sinch: 400 to one message -> failed, its own", PROVIDER_SINCH, PROVIDER_T_OK, 400,
	  SINCH_ERROR("syntax_invalid_parameter_format", "Invalid MSISDN: +3361234"), -1, 1,
	  { W_FAILED("http 400 syntax_invalid_parameter_format: Invalid MSISDN: +3361234") } },
	{ "sinch: 400 syntax_constraint_violation, several -> split", PROVIDER_SINCH, PROVIDER_T_OK,
	  400, SINCH_ERROR("syntax_constraint_violation", "body: size must be between 1 and 2000"),
	  -1, 2,
	  { W_SPLIT("~http 400 syntax_constraint_violation: body"),
	    W_SPLIT("~http 400 syntax_constraint_violation: body") } },
	{ "sinch: 400 with a numeric code -> split", PROVIDER_SINCH, PROVIDER_T_OK, 400,
	  "{\"code\":400,\"text\":\"Bad Request\"}", -1, 2,
	  { W_SPLIT("http 400 400: Bad Request"), W_SPLIT("http 400 400: Bad Request") } },
	{ "sinch: 400 not JSON, one message -> failed", PROVIDER_SINCH, PROVIDER_T_OK, 400,
	  "Bad Request", -1, 1, { W_FAILED("http 400") } },
	{ "sinch: 403 illegal_number_type, several -> split", PROVIDER_SINCH, PROVIDER_T_OK, 403,
	  SINCH_ERROR("illegal_number_type", "Illegal number type"), -1, 2,
	  { W_SPLIT("http 403 illegal_number_type: Illegal number type"),
	    W_SPLIT("http 403 illegal_number_type: Illegal number type") } },
	{ "sinch: 403 illegal_number_type alone -> failed, not our account", PROVIDER_SINCH,
	  PROVIDER_T_OK, 403, SINCH_ERROR("illegal_number_type", "Illegal number type"), -1, 1,
	  { W_FAILED("http 403 illegal_number_type: Illegal number type") } },
	{ "sinch: 403 blocked_account -> misconfigured (the account)", PROVIDER_SINCH,
	  PROVIDER_T_OK, 403, SINCH_ERROR("blocked_account", "Account blocked"), -1, 2,
	  { W_MISCONF("http 403 blocked_account: Account blocked"),
	    W_MISCONF("http 403 blocked_account: Account blocked") } },
	{ "sinch: 401 -> misconfigured (the token)", PROVIDER_SINCH, PROVIDER_T_OK, 401,
	  SINCH_ERROR("unauthorized", "Unauthorized"), -1, 2,
	  { W_MISCONF("http 401 unauthorized: Unauthorized"),
	    W_MISCONF("http 401 unauthorized: Unauthorized") } },
	{ "sinch: 401 empty body -> misconfigured", PROVIDER_SINCH, PROVIDER_T_OK, 401, "", -1, 1,
	  { W_MISCONF("http 401") } },
	{ "sinch: 404 -> misconfigured (service plan id or region)", PROVIDER_SINCH, PROVIDER_T_OK,
	  404, "", -1, 1, { W_MISCONF("http 404") } },
	{ "sinch: 429 with Retry-After -> throttled, every message", PROVIDER_SINCH, PROVIDER_T_OK,
	  429, SINCH_ERROR("too_many_requests", "Too many requests"), 2000, 2,
	  { W_THROTTLED(2000, "http 429 too_many_requests: Too many requests"),
	    W_THROTTLED(2000, "http 429 too_many_requests: Too many requests") } },
	{ "sinch: 503 -> unavailable", PROVIDER_SINCH, PROVIDER_T_OK, 503, "", -1, 1,
	  { W_UNAVAILABLE(NO_WAIT, "http 503") } },
	{ "sinch: 500 -> retry, not split", PROVIDER_SINCH, PROVIDER_T_OK, 500,
	  SINCH_ERROR("internal_error", "Internal error"), -1, 2,
	  { W_RETRY("http 500 internal_error: Internal error"),
	    W_RETRY("http 500 internal_error: Internal error") } },
	{ "sinch: connection refused -> retry", PROVIDER_SINCH, PROVIDER_T_NOT_SENT, 0, NULL, -1, 2,
	  { W_RETRY("not sent: Connection refused"), W_RETRY("not sent: Connection refused") } },
	{ "sinch: timeout after sending -> retry, maybe sent", PROVIDER_SINCH, PROVIDER_T_AMBIGUOUS,
	  0, NULL, -1, 1, { W_MAYBE("no answer after sending: timeout") } },
	/* -- Vonage -- */
	{ "vonage: 200 status 0 -> sent with the message-id", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":\"1\",\"messages\":[" VG_OK("0A0000000123ABCD1") "]}", -1, 1,
	  { W_SENT("0A0000000123ABCD1") } },
	{ "vonage: a message in two parts, both accepted -> sent, the first part's id",
	  PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":\"2\",\"messages\":[" VG_OK("62dfdf68-6c7c-479a-a190-5c52f798a787")
	  "," VG_OK("72ff9536-62d6-455a-9f0b-65f3c265b423") "]}", -1, 1,
	  { W_SENT("62dfdf68-6c7c-479a-a190-5c52f798a787") } },
	{ "vonage: status and count as numbers", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":1,\"messages\":[{\"message-id\":\"X1\",\"status\":0}]}", -1, 1,
	  { W_SENT("X1") } },
	{ "vonage: status 1 Throttled inside a 200 -> throttled, Retry-After", PROVIDER_VONAGE,
	  PROVIDER_T_OK, 200, VG_ERR("1", "Throttled"), 1000, 1,
	  { W_THROTTLED(1000, "vonage status 1 (Throttled): Throttled") } },
	{ "vonage: status 1 without Retry-After -> throttled, a short hold", PROVIDER_VONAGE,
	  PROVIDER_T_OK, 200, VG_ERR("1", "You are sending SMS faster than the account limit."),
	  -1, 1, { W_THROTTLED(NO_WAIT, "vonage status 1 (Throttled): You are sending SMS faster "
			       "than the account limit.") } },
	{ "vonage: status 2 -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("2", "Missing to param"), -1, 1,
	  { W_FAILED("vonage status 2 (Missing Parameters): Missing to param") } },
	{ "vonage: status 3 (an invalid number) -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("3", "Invalid to address"), -1, 1,
	  { W_FAILED("vonage status 3 (Invalid Parameters): Invalid to address") } },
	{ "vonage: status 4 (bad credentials) -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("4", "Bad Credentials"), -1, 1,
	  { W_MISCONF("vonage status 4 (Invalid Credentials): Bad Credentials") } },
	{ "vonage: status 5 -> retry", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("5", "Internal Error"), -1, 1,
	  { W_RETRY("vonage status 5 (Internal Error): Internal Error") } },
	{ "vonage: status 6 (unroutable) -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("6", "Unroutable message - rejected"), -1, 1,
	  { W_FAILED("vonage status 6 (Invalid Message): Unroutable message - rejected") } },
	{ "vonage: status 7 -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("7", "Number barred."), -1, 1,
	  { W_FAILED("vonage status 7 (Number Barred): Number barred.") } },
	{ "vonage: status 8 (account suspended) -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK,
	  200, VG_ERR("8", "Account suspended"), -1, 1,
	  { W_MISCONF("vonage status 8 (Partner Account Barred): Account suspended") } },
	{ "vonage: status 9 (out of credit) -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("9", "Quota Exceeded - rejected"), -1, 1,
	  { W_MISCONF("vonage status 9 (Partner Quota Violation): Quota Exceeded - rejected") } },
	{ "vonage: status 10 -> throttled", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("10", "Too many existing binds"), 2000, 1,
	  { W_THROTTLED(2000, "vonage status 10 (Too Many Existing Binds): Too many existing "
			      "binds") } },
	{ "vonage: status 11 -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("11", "Account not enabled for REST"), -1, 1,
	  { W_MISCONF("vonage status 11 (Account Not Enabled For HTTP): Account not enabled for "
		      "REST") } },
	{ "vonage: status 12 -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("12", "Message too long"), -1, 1,
	  { W_FAILED("vonage status 12 (Message Too Long): Message too long") } },
	{ "vonage: status 14 -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("14", "Invalid Signature"), -1, 1,
	  { W_MISCONF("vonage status 14 (Invalid Signature): Invalid Signature") } },
	{ "vonage: status 15 (our sender refused) -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK,
	  200, VG_ERR("15", "Illegal Sender Address - rejected"), -1, 1,
	  { W_MISCONF("vonage status 15 (Invalid Sender Address): Illegal Sender Address - "
		      "rejected") } },
	{ "vonage: status 22 -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("22", "Invalid network code"), -1, 1,
	  { W_FAILED("vonage status 22 (Invalid Network Code): Invalid network code") } },
	{ "vonage: status 23 -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("23", "Invalid callback url"), -1, 1,
	  { W_MISCONF("vonage status 23 (Invalid Callback URL): Invalid callback url") } },
	{ "vonage: status 29 (demo account) -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("29", "Non White-listed Destination - rejected"), -1, 1,
	  { W_MISCONF("vonage status 29 (Non-Whitelisted Destination): Non White-listed "
		      "Destination - rejected") } },
	{ "vonage: status 32 -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("32", "Signature and api secret disallowed"), -1, 1,
	  { W_MISCONF("~vonage status 32 (Signature And API Secret Disallowed)") } },
	{ "vonage: status 33 -> failed", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("33", "Number de-activated"), -1, 1,
	  { W_FAILED("vonage status 33 (Number De-activated): Number de-activated") } },
	{ "vonage: an unknown status -> retry", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  VG_ERR("99", "Something new"), -1, 1,
	  { W_RETRY("vonage status 99 (unknown status): Something new") } },
	{ "vonage: a refusal without error-text", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":\"1\",\"messages\":[{\"status\":\"6\"}]}", -1, 1,
	  { W_FAILED("vonage status 6 (Invalid Message)") } },
	{ "vonage: part 2 throttled after part 1 went -> throttled, the part that went named",
	  PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":\"2\",\"messages\":[" VG_OK("3295d748-4e14-4681-af78-166dca3c5aab")
	  ",{\"status\":\"1\",\"error-text\":\"Throttled\"}]}", 1000, 1,
	  { { PROVIDER_THROTTLED, 0, 1000, "3295d748-4e14-4681-af78-166dca3c5aab",
	      "vonage status 1 (Throttled): Throttled (part 2 of 2; 1 accepted, a resend repeats "
	      "them)" } } },
	{ "vonage: part 2 of 3 failing inside -> retry, maybe sent in part", PROVIDER_VONAGE,
	  PROVIDER_T_OK, 200,
	  "{\"message-count\":\"3\",\"messages\":[" VG_OK("P1") ",{\"status\":\"5\"}," VG_OK("P3")
	  "]}", -1, 1,
	  { { PROVIDER_RETRY, 1, NO_WAIT, "P1",
	      "vonage status 5 (Internal Error) (part 2 of 3; 2 accepted, a resend repeats them)" } } },
	{ "vonage: fewer parts listed than counted -> retry, maybe sent", PROVIDER_VONAGE,
	  PROVIDER_T_OK, 200, "{\"message-count\":\"3\",\"messages\":[" VG_OK("P1") "," VG_OK("P2")
	  "]}", -1, 1, { W_MAYBE("vonage answer lists 2 of 3 parts") } },
	{ "vonage: a part without a status -> retry, maybe sent", PROVIDER_VONAGE, PROVIDER_T_OK,
	  200, "{\"message-count\":\"1\",\"messages\":[{\"message-id\":\"P1\"}]}", -1, 1,
	  { W_MAYBE("vonage answer part 1 without a status") } },
	{ "vonage: no part at all -> retry, maybe sent", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":\"0\",\"messages\":[]}", -1, 1,
	  { W_MAYBE("http 200 answer without any message part") } },
	{ "vonage: 200 without messages -> retry, maybe sent", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "{\"message-count\":\"1\"}", -1, 1,
	  { W_MAYBE("http 200 answer without a messages array") } },
	{ "vonage: 200 HTML -> retry, maybe sent", PROVIDER_VONAGE, PROVIDER_T_OK, 200,
	  "<html>maintenance</html>", -1, 1, { W_MAYBE("~http 200 unparseable body: ") } },
	{ "vonage: 401 problem document -> misconfigured", PROVIDER_VONAGE, PROVIDER_T_OK, 401,
	  "{\"type\":\"https://developer.nexmo.com/api-errors#unauthorized\",\"title\":"
	  "\"Unauthorized\",\"detail\":\"You did not provide correct credentials.\"}", -1, 1,
	  { W_MISCONF("http 401 Unauthorized: You did not provide correct credentials.") } },
	{ "vonage: 429 -> throttled", PROVIDER_VONAGE, PROVIDER_T_OK, 429, "", 3000, 1,
	  { W_THROTTLED(3000, "http 429") } },
	{ "vonage: 500 with error-text -> retry", PROVIDER_VONAGE, PROVIDER_T_OK, 500,
	  "{\"error-text\":\"Internal Error\"}", -1, 1, { W_RETRY("http 500 Internal Error") } },
	{ "vonage: 503 -> unavailable", PROVIDER_VONAGE, PROVIDER_T_OK, 503, "", -1, 1,
	  { W_UNAVAILABLE(NO_WAIT, "http 503") } },
	{ "vonage: connection refused -> retry", PROVIDER_VONAGE, PROVIDER_T_NOT_SENT, 0, NULL, -1,
	  1, { W_RETRY("not sent: Connection refused") } },
	{ "vonage: timeout after sending -> retry, maybe sent", PROVIDER_VONAGE,
	  PROVIDER_T_AMBIGUOUS, 0, NULL, -1, 1, { W_MAYBE("no answer after sending: timeout") } },
	{ "vonage: asked about two -> the second was never in the request", PROVIDER_VONAGE,
	  PROVIDER_T_OK, 200, "{\"message-count\":\"1\",\"messages\":[" VG_OK("X") "]}", -1, 2,
	  { W_SENT("X"), W_MAYBE("not part of the Vonage request (one message per request)") } },
};

/* The transport error text a case's transport would come with. */
static const char *transport_error(const struct parse_case *c)
{
	if (c->transport == PROVIDER_T_OK)
		return NULL;
	if (c->kind == PROVIDER_TWILIO)
		return c->transport == PROVIDER_T_NOT_SENT ?
		       "Failed to connect to api.twilio.com port 443" :
		       "Operation timed out after 10000 milliseconds";
	if (c->kind == PROVIDER_INFOBIP)
		return c->transport == PROVIDER_T_NOT_SENT ? "Could not resolve host" :
		       "Connection reset by peer";
	return c->transport == PROVIDER_T_NOT_SENT ? "Connection refused" : "timeout";
}

static void check_want(const struct provider_result *r, const struct want *w, size_t i)
{
	assert_result_sane(r);
	if (r->status != w->status || r->ambiguous != w->ambiguous || r->retry_after_ms != w->wait)
		fail_msg("message %zu: status %d ambiguous %d wait %lld (%s), want %d %d %lld", i,
			 r->status, r->ambiguous, (long long)r->retry_after_ms, r->reason, w->status,
			 w->ambiguous, (long long)w->wait);
	assert_string_equal(r->provider_id, w->id);
	if (w->reason == NULL)
		return;
	if (w->reason[0] == '~') {
		if (strstr(r->reason, w->reason + 1) == NULL)
			fail_msg("message %zu: reason \"%s\" lacks \"%s\"", i, r->reason, w->reason + 1);
	} else {
		assert_string_equal(r->reason, w->reason);
	}
}

static void test_parse_case(void **state)
{
	const struct parse_case *c = *state;
	const struct provider_ops *ops = provider_ops_for(c->kind);
	struct provider_response resp = {
		.transport = c->transport, .status = c->status, .body = c->body,
		.body_len = c->body != NULL ? strlen(c->body) : 0,
		.retry_after_ms = c->retry_after_ms, .error = transport_error(c),
	};
	struct provider_result out[N_OF(batch)];
	size_t i;

	if (c->retry_after_ms == RA_HTTP_DATE)
		resp.retry_after_ms = provider_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
								 NOW_MS);
	memset(out, 0xa5, sizeof(out));
	ops->parse(conf_for(c->kind), &resp, batch, c->n, out);
	for (i = 0; i < c->n; i++)
		check_want(&out[i], &c->want[i], i);
}

/* ---- parse: hostile bodies --------------------------------------------------- */

/* Every documented answer of the table, cut at every length and with bytes
 * flipped: parse() never crashes, never reads past body_len (ASan), and
 * every result is well formed. */
static void test_parse_truncations(void **state)
{
	size_t ci, len, i;

	(void)state;
	for (ci = 0; ci < N_OF(parse_cases); ci++) {
		const struct parse_case *c = &parse_cases[ci];
		const struct provider_ops *ops = provider_ops_for(c->kind);
		size_t full = c->body != NULL ? strlen(c->body) : 0;

		for (len = 0; len <= full; len++) {
			/* A heap copy of exactly len bytes: no NUL after it. */
			char *copy = malloc(len > 0 ? len : 1);
			struct provider_response resp = {
				.transport = PROVIDER_T_OK, .status = c->status, .body = copy,
				.body_len = len, .retry_after_ms = 1000,
			};
			struct provider_result out[N_OF(batch)];

			assert_non_null(copy);
			if (len > 0)
				memcpy(copy, c->body, len);
			if (len > 0 && len % 7 == 0)
				copy[len / 2] ^= 0x80;
			ops->parse(conf_for(c->kind), &resp, batch, c->n, out);
			for (i = 0; i < c->n; i++)
				assert_result_sane(&out[i]);
			free(copy);
		}
	}
}

/* Deterministic pseudo-random bodies, some JSON-looking. */
static void test_parse_random_bytes(void **state)
{
	static const char alphabet[] = "{}[]\":,0123456789.-+eE truefalsnul\\/\x01\xc3\xa9\xff";
	uint32_t seed = 12345;
	int round;
	size_t i;

	(void)state;
	for (round = 0; round < 3000; round++) {
		char body[256];
		size_t len, k;
		enum provider_kind kind = (enum provider_kind)(round % (LAST_KIND + 1));
		size_t n = provider_ops_for(kind)->max_batch == 1 ? 1 : N_OF(batch);
		struct provider_response resp = { .transport = PROVIDER_T_OK, .retry_after_ms = -1 };
		struct provider_result out[N_OF(batch)];

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % sizeof(body);
		for (k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			body[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		resp.body = body;
		resp.body_len = len;
		resp.status = (round / 3) % 2 == 0 ? 200 : 400 + round % 200;
		provider_ops_for(kind)->parse(conf_for(kind), &resp, batch, n, out);
		for (i = 0; i < n; i++)
			assert_result_sane(&out[i]);
	}
}

/* A body over PROVIDER_BODY_MAX is not parsed; a deeply nested one is
 * refused by jansson's depth limit, not by a stack overflow. */
static void test_parse_huge_and_deep(void **state)
{
	char *body = malloc(HUGE_BODY);
	struct provider_response resp = {
		.transport = PROVIDER_T_OK, .status = 200, .body = body, .retry_after_ms = -1,
	};
	struct provider_result out[N_OF(batch)];
	enum provider_kind kind;
	size_t i, depth = 100000;

	(void)state;
	assert_non_null(body);
	memset(body, ' ', HUGE_BODY);
	body[0] = '[';
	body[HUGE_BODY - 1] = ']';
	for (kind = PROVIDER_TWILIO; kind <= LAST_KIND; kind++) {
		resp.body_len = HUGE_BODY;
		provider_ops_for(kind)->parse(conf_for(kind), &resp, batch, 1, out);
		check_want(&out[0], &(struct want)W_MAYBE("http 200 body too large (2097152 bytes)"), 0);

		for (i = 0; i < depth; i++)
			body[i] = '[';
		for (i = 0; i < depth; i++)
			body[depth + i] = ']';
		resp.body_len = 2 * depth;
		provider_ops_for(kind)->parse(conf_for(kind), &resp, batch, 1, out);
		check_want(&out[0], &(struct want)W_MAYBE("~http 200 unparseable body: "), 0);
	}
	free(body);
}

/* A provider's very long error text is cut to PROVIDER_REASON_MAX without
 * splitting a UTF-8 character; a very long id to PROVIDER_ID_MAX. */
static void test_parse_long_texts(void **state)
{
	static const char prefix[] = "{\"code\":21211,\"message\":\"";
	size_t cap = 100000, len = 0, i;
	char *body = malloc(cap);
	struct provider_response resp = {
		.transport = PROVIDER_T_OK, .status = 400, .body = body, .retry_after_ms = -1,
	};
	struct provider_result out[1];
	int shift;

	(void)state;
	assert_non_null(body);
	/* Shift the text by 0..3 bytes so that the cut falls everywhere in a
	 * multi-byte character. */
	for (shift = 0; shift < 4; shift++) {
		len = 0;
		memcpy(body, prefix, sizeof(prefix) - 1);
		len = sizeof(prefix) - 1;
		for (i = 0; i < (size_t)shift; i++)
			body[len++] = 'x';
		while (len + 8 < cap - 8) {
			memcpy(body + len, "\xe2\x82\xac\xf0\x9f\x98\x80", 7);   /* € 😀 */
			len += 7;
		}
		memcpy(body + len, "\"}", 2);
		len += 2;
		resp.body_len = len;
		provider_twilio_ops.parse(&twilio_conf, &resp, batch, 1, out);
		assert_result_sane(&out[0]);
		assert_int_equal(out[0].status, PROVIDER_FAILED);
		assert_true(strncmp(out[0].reason, "http 400 code 21211: ", 21) == 0);
		assert_true(strlen(out[0].reason) >= PROVIDER_REASON_MAX - 4);
	}

	/* A sid longer than PROVIDER_ID_MAX. */
	len = (size_t)snprintf(body, cap, "{\"sid\":\"SM");
	for (i = 0; i < 300; i++)
		body[len++] = 'a';
	len += (size_t)snprintf(body + len, cap - len, "\",\"status\":\"queued\"}");
	resp.status = 201;
	resp.body_len = len;
	provider_twilio_ops.parse(&twilio_conf, &resp, batch, 1, out);
	assert_result_sane(&out[0]);
	assert_int_equal(out[0].status, PROVIDER_SENT);
	assert_int_equal(strlen(out[0].provider_id), PROVIDER_ID_MAX - 1);
	assert_true(strncmp(out[0].provider_id, "SMaaaa", 6) == 0);
	free(body);
}

/* A body with a NUL inside: json_loadb() refuses it, nothing reads past. */
static void test_parse_nul_in_body(void **state)
{
	static const char body[] = "{\"sid\":\"SM1\0\",\"status\":\"queued\"}";
	struct provider_response resp = {
		.transport = PROVIDER_T_OK, .status = 201, .body = body,
		.body_len = sizeof(body) - 1, .retry_after_ms = -1,
	};
	struct provider_result out[1];

	(void)state;
	provider_twilio_ops.parse(&twilio_conf, &resp, batch, 1, out);
	check_want(&out[0], &(struct want)W_MAYBE("~http 201 unparseable body: "), 0);
}

/* parse() with no response at all, and Twilio asked about more than one. */
static void test_parse_odd_calls(void **state)
{
	struct provider_result out[2];
	struct provider_response ok = {
		.transport = PROVIDER_T_OK, .status = 201,
		.body = TWILIO_CREATED("queued", "null", "null"),
		.body_len = strlen(TWILIO_CREATED("queued", "null", "null")), .retry_after_ms = -1,
	};
	enum provider_kind kind;

	(void)state;
	for (kind = PROVIDER_TWILIO; kind <= LAST_KIND; kind++) {
		provider_ops_for(kind)->parse(conf_for(kind), NULL, batch, 1, out);
		check_want(&out[0], &(struct want)W_MAYBE("no response"), 0);
		provider_ops_for(kind)->parse(conf_for(kind), NULL, batch, 0, out);
	}
	provider_twilio_ops.parse(&twilio_conf, &ok, batch, 2, out);
	check_want(&out[0], &(struct want)W_SENT(TWILIO_SID), 0);
	check_want(&out[1], &(struct want)W_MAYBE("~not part of the Twilio request"), 1);
	provider_fail_all(NULL, NULL, 0, NULL);
}

/* ---- Vonage's type ------------------------------------------------------------ */

/* Vonage is told the encoding: "text" for a GSM-7 text (accents of the GSM
 * table included), "unicode" for one that goes as UCS-2; the client-ref is
 * left out without a reference. */
static void test_vonage_type_follows_the_encoding(void **state)
{
	static const struct provider_msg gsm = { 2, "smsq-2", "+447700900123",
						 "RDV \"demain\" 9h\nDr Zo\xc3\xa9", 1, 0 };
	static const struct provider_msg cyrillic = { 3, NULL, "+33699887766",
						      "\xd0\x9f\xd1\x80\xd0\xb8", 1, 1 };
	struct provider_request req;
	char err[256];

	(void)state;
	assert_int_equal(provider_vonage_ops.build(&vonage_conf, &gsm, 1, &req, err, sizeof(err)),
			 0);
	assert_string_equal(req.body, "from=Clinique&to=447700900123"
			    "&text=RDV%20%22demain%22%209h%0ADr%20Zo%C3%A9&type=text&client-ref=smsq-2");
	provider_request_clear(&req);
	assert_int_equal(provider_vonage_ops.build(&vonage_conf, &cyrillic, 1, &req, err,
						   sizeof(err)), 0);
	assert_string_equal(req.body, "from=Clinique&to=33699887766"
			    "&text=%D0%9F%D1%80%D0%B8&type=unicode");
	provider_request_clear(&req);
}

/* ---- no credential in an error ------------------------------------------------- */

/* Whatever build() refuses, its error (which goes to the log and to
 * smsq-worker's start-up message) never quotes the token: not when the
 * token itself is what is wrong, not when anything else is. */
static void test_no_credential_in_errors(void **state)
{
	static const char secret[] = "S3CRET-t0ken";
	static struct provider_msg many[PROVIDER_SINCH_MAX_BATCH + 1];
	static const char *const tokens[] = { secret, "S3CRET-t0ken with spaces",
					      "S3CRET-t0ken\r\nX-Evil: 1" };
	enum provider_kind kind;

	(void)state;
	for (size_t i = 0; i < N_OF(many); i++)
		many[i] = batch[i % N_OF(batch)];
	for (kind = PROVIDER_TWILIO; kind <= LAST_KIND; kind++) {
		const struct provider_ops *ops = provider_ops_for(kind);

		for (size_t t = 0; t < N_OF(tokens); t++) {
			for (int bad = 0; bad < 6; bad++) {
				struct provider_conf conf = *conf_for(kind);
				const struct provider_msg *msgs = batch;
				struct provider_request req;
				size_t n = 1;
				char err[256] = "";

				snprintf(conf.token, sizeof(conf.token), "%s", tokens[t]);
				if (bad == 1)
					n = ops->max_batch + 1, msgs = many;
				else if (bad == 2)
					msgs = bad_utf8;
				else if (bad == 3)
					conf.base_url[0] = '\0';
				else if (bad == 4)
					snprintf(conf.account, sizeof(conf.account), "a/b");
				else if (bad == 5)
					snprintf(conf.sender, sizeof(conf.sender), "\xff");
				if (ops->build(&conf, msgs, n, &req, err, sizeof(err)) == 0) {
					provider_request_clear(&req);
					continue;
				}
				if (strstr(err, "S3CRET") != NULL)
					fail_msg("%s, token %zu, refusal %d: \"%s\"", ops->api, t, bad,
						 err);
				assert_string_equal(req.basic_pass, "");
				err[0] = '\0';
				if (provider_conf_check(&conf, err, sizeof(err)) != 0 &&
				    strstr(err, "S3CRET") != NULL)
					fail_msg("%s: conf_check: \"%s\"", ops->api, err);
			}
		}
	}
}

/* ---- batches of a number once ------------------------------------------------ */

/* What a batch of an API taking a number once per request may carry: the
 * run before the first repeat, found in one pass whatever the size. */
static void test_distinct_prefix(void **state)
{
	enum { N = 1200 };
	static struct provider_msg m[N];
	static char to[N][16];
	size_t i;

	(void)state;
	assert_int_equal(provider_distinct_prefix(batch, 0), 0);
	assert_int_equal(provider_distinct_prefix(batch, N_OF(batch)), N_OF(batch));
	for (i = 0; i < N; i++) {
		snprintf(to[i], sizeof(to[i]), "+3361%07zu", i);
		m[i] = (struct provider_msg){ i, "smsq-x", to[i], "t", 1, 0 };
	}
	assert_int_equal(provider_distinct_prefix(m, N), N);
	m[1000].to = to[3];
	assert_int_equal(provider_distinct_prefix(m, N), 1000);
	m[5].to = to[4];
	assert_int_equal(provider_distinct_prefix(m, N), 5);
	m[1].to = to[0];
	assert_int_equal(provider_distinct_prefix(m, N), 1);
	/* The same digits with and without '+' are two strings: the API
	 * compares what it is sent, and smsq always sends E.164 with '+'. */
	m[1].to = "3361000000";
	assert_int_equal(provider_distinct_prefix(m, 2), 2);
}

/* ---- the adapter table ----------------------------------------------------- */

static void test_ops_table(void **state)
{
	enum provider_kind k;

	(void)state;
	assert_ptr_equal(provider_ops_for(PROVIDER_TWILIO), &provider_twilio_ops);
	assert_ptr_equal(provider_ops_for(PROVIDER_INFOBIP), &provider_infobip_ops);
	assert_ptr_equal(provider_ops_for(PROVIDER_WEBHOOK), &provider_webhook_ops);
	assert_ptr_equal(provider_ops_for(PROVIDER_SINCH), &provider_sinch_ops);
	assert_ptr_equal(provider_ops_for(PROVIDER_VONAGE), &provider_vonage_ops);
	assert_null(provider_ops_for((enum provider_kind)(LAST_KIND + 1)));
	assert_null(provider_ops_for((enum provider_kind)-1));
	assert_int_equal(provider_twilio_ops.max_batch, 1);
	assert_int_equal(provider_infobip_ops.max_batch, 100);
	assert_int_equal(provider_webhook_ops.max_batch, 100);
	assert_int_equal(provider_sinch_ops.max_batch, 1000);
	assert_int_equal(provider_vonage_ops.max_batch, 1);
	/* The text limits of PROVIDERS.md (ingest refuses longer texts). */
	assert_int_equal(provider_twilio_ops.max_text_units, 1600);
	assert_int_equal(provider_twilio_ops.max_text_segments, 0);
	assert_int_equal(provider_infobip_ops.max_text_units, 0);
	assert_int_equal(provider_infobip_ops.max_text_segments, 255);
	assert_int_equal(provider_webhook_ops.max_text_units, 0);
	assert_int_equal(provider_webhook_ops.max_text_segments, 255);
	assert_int_equal(provider_sinch_ops.max_text_units, 1600);
	assert_int_equal(provider_sinch_ops.max_text_segments, 0);
	/* What each limit counts by default (count = auto), and who needs what. */
	assert_int_equal(provider_twilio_ops.count_segments, 1);
	assert_int_equal(provider_infobip_ops.count_segments, 1);
	assert_int_equal(provider_webhook_ops.count_segments, 1);
	assert_int_equal(provider_sinch_ops.count_segments, 0);
	assert_int_equal(provider_vonage_ops.count_segments, 0);
	assert_int_equal(provider_vonage_ops.max_text_segments, 255);
	assert_int_equal(provider_vonage_ops.needs_encoding, 1);
	assert_int_equal(provider_sinch_ops.needs_encoding, 0);
	assert_int_equal(provider_sinch_ops.distinct_to, 1);
	assert_int_equal(provider_infobip_ops.distinct_to, 0);

	assert_int_equal(provider_kind_parse("twilio", &k), 0);
	assert_int_equal(k, PROVIDER_TWILIO);
	assert_int_equal(provider_kind_parse("infobip", &k), 0);
	assert_int_equal(k, PROVIDER_INFOBIP);
	assert_int_equal(provider_kind_parse("webhook", &k), 0);
	assert_int_equal(k, PROVIDER_WEBHOOK);
	assert_int_equal(provider_kind_parse("sinch", &k), 0);
	assert_int_equal(k, PROVIDER_SINCH);
	assert_int_equal(provider_kind_parse("vonage", &k), 0);
	assert_int_equal(k, PROVIDER_VONAGE);
	assert_int_equal(provider_kind_parse("nexmo", &k), -1);
	assert_int_equal(provider_kind_parse("", &k), -1);
	assert_int_equal(provider_kind_parse("Twilio ", &k), -1);
	assert_int_equal(provider_kind_parse(NULL, &k), -1);
	assert_int_equal(provider_kind_parse("twilio", NULL), -1);
}

static void test_request_clear(void **state)
{
	struct provider_request req;

	(void)state;
	memset(&req, 0, sizeof(req));
	provider_request_clear(NULL);
	provider_request_clear(&req);
	req.body = malloc(10);
	req.body_len = 10;
	snprintf(req.basic_pass, sizeof(req.basic_pass), "secret");
	provider_request_clear(&req);
	assert_null(req.body);
	assert_int_equal(req.body_len, 0);
	assert_string_equal(req.basic_pass, "");
	provider_request_clear(&req);          /* twice is fine */
}

/* ---- main ------------------------------------------------------------------ */

#define TABLE(group, cases, fn)                                                        \
	do {                                                                               \
		struct CMUnitTest t_[N_OF(cases)];                                             \
		size_t i_;                                                                     \
		for (i_ = 0; i_ < N_OF(cases); i_++) {                                         \
			t_[i_] = (struct CMUnitTest){ .name = (cases)[i_].name, .test_func = (fn), \
						      .initial_state = (void *)&(cases)[i_] };   \
		}                                                                              \
		failed += run_table(group, t_, N_OF(cases));                                   \
	} while (0)

/* The hand-written JSON strings (Infobip's body) are byte for byte what
 * jansson's compact dump makes of the same string. */
static void test_json_str_matches_jansson(void **state)
{
	static const char *const cases[] = {
		"", "plain", "quote \" backslash \\ slash / end", "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xa8",
		"tab\tnl\ncr\rbs\bff\f", "\x01\x02\x1f\x7f", "\"", "\\\\",
	};
	char all_controls[40];
	size_t k = 0;

	(void)state;
	for (int c = 1; c < 0x20; c++)
		all_controls[k++] = (char)c;
	all_controls[k] = '\0';
	for (size_t i = 0; i <= N_OF(cases); i++) {
		const char *in = i < N_OF(cases) ? cases[i] : all_controls;
		struct provider_buf b = { NULL, 0, 0 };
		json_t *js = json_string(in);
		char *want;

		assert_non_null(js);
		want = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_non_null(want);
		provider_buf_raw(&b, "x", 1);
		provider_buf_json_str(&b, in);
		assert_string_equal(b.p + 1, want);
		assert_int_equal(b.len, strlen(want) + 1);
		free(want);
		free(b.p);
		json_decref(js);
	}
}

/* A transport failure no request causes (DNS, TLS verification, URL) is
 * our configuration: the messages are parked, not retried; the same
 * transport failure of a connection (refused, reset) is a retry. */
static void test_config_failure_parks(void **state)
{
	struct provider_response resp = { .transport = PROVIDER_T_NOT_SENT,
					   .error = "SSL certificate problem: unable to get local "
						    "issuer certificate",
					   .retry_after_ms = -1, .config = 1 };
	struct provider_result r[2];

	(void)state;
	memset(r, 0, sizeof(r));
	provider_fail_all(&resp, NULL, 2, r);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].status, PROVIDER_MISCONFIGURED);
		assert_int_equal(r[i].ambiguous, 0);
		assert_non_null(strstr(r[i].reason, "SSL certificate problem"));
	}
	resp.config = 0;
	resp.error = "Failed to connect to 127.0.0.1 port 9: Connection refused";
	provider_fail_all(&resp, NULL, 1, r);
	assert_int_equal(r[0].status, PROVIDER_RETRY);
}

int main(void)
{
	static const struct CMUnitTest misc[] = {
		cmocka_unit_test(test_config_failure_parks),
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_distinct_prefix),
		cmocka_unit_test(test_no_credential_in_errors),
		cmocka_unit_test(test_vonage_type_follows_the_encoding),
		cmocka_unit_test(test_json_str_matches_jansson),
		cmocka_unit_test(test_request_clear),
		cmocka_unit_test(test_parse_truncations),
		cmocka_unit_test(test_parse_random_bytes),
		cmocka_unit_test(test_parse_huge_and_deep),
		cmocka_unit_test(test_parse_long_texts),
		cmocka_unit_test(test_parse_nul_in_body),
		cmocka_unit_test(test_parse_odd_calls),
	};
	int failed = 0;

	TABLE("retry_after", retry_after_cases, test_retry_after_case);
	TABLE("fail_all", fail_cases, test_fail_case);
	TABLE("build", build_cases, test_build_case);
	TABLE("build_errors", build_error_cases, test_build_error_case);
	TABLE("parse", parse_cases, test_parse_case);
	failed += cmocka_run_group_tests_name("provider", misc, NULL, NULL);
	return failed == 0 ? 0 : 1;
}
