/*
 * provider_sinch: Sinch SMS REST API (XMS), "Send" POST
 * /xms/v1/{service_plan_id}/batches (provider/PROVIDERS.md has the wire
 * format and the doc references).
 *
 * One request carries up to PROVIDER_SINCH_MAX_BATCH messages, each with
 * its own text, through the API's per-recipient parameters: the body is
 * one placeholder, and each recipient's value of it is that recipient's
 * whole text:
 *
 *   POST {base_url}/xms/v1/{account}/batches
 *   Authorization: Bearer <token>
 *   {"from":"Clinique","to":["+33612345678","+447700900123"],"body":"${text}",
 *    "parameters":{"text":{"+33612345678":"...","+447700900123":"..."}},
 *    "client_reference":"smsq-1"}
 *
 * DESIGN
 *
 * Parameter values are keyed by number, so one number carries one text per
 * batch: the adapter declares distinct_to (dispatch ends a batch before a
 * repeated destination) and build() refuses a repeat.  No "default" value
 * is sent: a recipient without a value of its own would get the default
 * text (someone else's, or an empty one); without a default, Sinch fails
 * that recipient alone, which cannot happen since every recipient has one.
 * "from" is left out when no sender is configured (the service plan's
 * default originator).  client_reference is the first message's reference:
 * it names the batch in Sinch's reports; the batch id does it for us.
 *
 * The answer to a send is the batch (201): its "id" names every message of
 * it, and is each message's provider id (Sinch names a message by batch id
 * and recipient, and the number is the message's own).  The API answers for
 * the whole batch only: a 400 (syntax_invalid_parameter_format: a number
 * Sinch cannot read; syntax_constraint_violation...), any other plain 4xx
 * (a 413...) or a 403 illegal_number_type may be about one recipient, and
 * failing the whole batch for it would fail messages that are fine.  So
 * such an answer to several messages is PROVIDER_SPLIT (each goes again
 * alone, no attempt counted); to one message it is that message's own
 * FAILED.  Other 403s (blocked_account...) are our account: MISCONFIGURED
 * with 401 and 404, through the shared rules, as are 429, 503 and 5xx.
 *
 *   2xx with a string "id"              -> SENT, provider_id = the batch id
 *   2xx without one, unreadable         -> RETRY, ambiguous
 *   400 (other plain 4xx), 403          -> FAILED "http 400 <code>: <text>"
 *     illegal_number_type, one message
 *   the same for several messages       -> SPLIT
 *   401, 403 (other codes), 404         -> MISCONFIGURED
 *   429 -> THROTTLED, 503 -> UNAVAILABLE, 5xx -> RETRY (Retry-After honoured)
 *
 * Errors carry {"code": "syntax_invalid_json", "text": "..."}; a numeric
 * code is taken too (the SDKs' tests write one).
 *
 * Delivery reports.  With a receipt URL, the batch asks "delivery_report":
 * "per_recipient" and "callback_url": <receipt URL>: Sinch then POSTs one
 * report per recipient and status change, {"type":
 * "recipient_delivery_report_sms", "batch_id", "recipient", "code",
 * "status", "at", "operator_status_at", "client_reference"}.  Nothing in it
 * names our message: client_reference is the batch's (the first
 * message's), so a report is matched by the batch id (each message's
 * provider id) and its recipient: receipts_by_to, receipt id 0.  Nothing
 * signs it: the endpoint's secret path is the authentication.
 *
 *   Delivered                               -> final, delivered
 *   Failed, Expired, Rejected, Aborted,     -> final, not delivered (error:
 *   Cancelled, Deleted                         the code)
 *   Queued, Dispatched, Unknown, any other  -> interim.  Sinch calls Unknown
 *                                              final, but it says only that
 *                                              no receipt came: neither
 *                                              delivered nor not
 */
#include "provider/provider.h"
#include "provider/provider_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

#define SINCH_PARAM "text"             /* the one parameter: a recipient's text */
#define SINCH_ILLEGAL_NUMBER "illegal_number_type" /* a 403 about a number */
#define SINCH_REPORTS "per_recipient"  /* delivery_report: one callback a recipient */
#define SINCH_REPORT_TYPE "recipient_delivery_report_sms" /* what such a callback is */

/* ---- build ---------------------------------------------------------------- */

/* The body (provider_buf, provider_impl.h says why by hand): the numbers in
 * request order, then each one's text under the parameter. */
static void batch_body(struct provider_request *out, const struct provider_conf *conf,
		       const struct provider_msg *msgs, size_t n)
{
	struct provider_buf b = { NULL, 0, 0 };

#define RAW(lit) provider_buf_raw(&b, lit, sizeof(lit) - 1)
	RAW("{");
	if (conf->sender[0] != '\0') {
		RAW("\"from\":");
		provider_buf_json_str(&b, conf->sender);
		RAW(",");
	}
	RAW("\"to\":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			RAW(",");
		provider_buf_json_str(&b, msgs[i].to);
	}
	RAW("],\"body\":\"${" SINCH_PARAM "}\",\"parameters\":{\"" SINCH_PARAM "\":{");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			RAW(",");
		provider_buf_json_str(&b, msgs[i].to);
		RAW(":");
		provider_buf_json_str(&b, msgs[i].text);
	}
	RAW("}},\"client_reference\":");
	provider_buf_json_str(&b, msgs[0].ref);
	if (conf->receipt_url[0] != '\0') {
		RAW(",\"delivery_report\":\"" SINCH_REPORTS "\",\"callback_url\":");
		provider_buf_json_str(&b, conf->receipt_url);
	}
	RAW("}");
#undef RAW
	provider_request_take_body(out, &b);
}

static int sinch_build(const struct provider_conf *conf, const struct provider_msg *msgs,
		       size_t n, struct provider_request *out, char *err, size_t errlen)
{
	size_t distinct;

	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_SINCH_MAX_BATCH, 1, err, errlen) != 0)
		goto fail;
	distinct = provider_distinct_prefix(msgs, n);
	if (distinct < n) {
		err_set(err, errlen, "message %" PRIu64 ": its destination is in the batch already "
			"(Sinch takes a number once per batch)", msgs[distinct].id);
		goto fail;
	}
	if (!provider_alnum(conf->account)) {
		err_set(err, errlen, "provider %s: account must be the Sinch service plan id "
			"(letters and digits)", conf->name);
		goto fail;
	}
	if (provider_request_url(out, conf, err, errlen, "/xms/v1/%s/batches", conf->account) != 0 ||
	    provider_json_request(out, conf, "Bearer", "Sinch API token", msgs, n, err, errlen) != 0 ||
	    provider_receipt_url_check(conf, err, errlen) != 0)
		goto fail;
	batch_body(out, conf, msgs, n);
	return 0;
fail:
	provider_request_clear(out);
	return -1;
}

/* ---- parse ---------------------------------------------------------------- */

/* An error body's "code" (a string, or a number), into code (cap bytes; ""
 * if none). */
static void error_code(struct jscan_val root, char *code, size_t cap)
{
	struct jscan_val c = jscan_get(root, "code");
	int64_t num;

	code[0] = '\0';
	if (provider_json_strv(c, code, cap) == NULL && provider_json_code(c, &num) == 0)
		snprintf(code, cap, "%" PRId64, num);
}

/* "<code>: <text>" of an error body, into detail ("" if neither). */
static void error_detail(struct jscan_val root, char *detail, size_t len)
{
	char code[PROVIDER_JSON_STR_MAX], textb[PROVIDER_JSON_STR_MAX];
	const char *text = provider_json_str(root, "text", textb, sizeof(textb));

	error_code(root, code, sizeof(code));
	err_set(detail, len, "%s%s%s", code, code[0] != '\0' && text != NULL ? ": " : "",
		text != NULL ? text : "");
}

/* A refusal that may be one recipient's: a plain 4xx (400...: FAILED by the
 * shared rules) or a 403 illegal_number_type (MISCONFIGURED by them).  To
 * several messages, each goes again alone; to one, it is its own FAILED. */
static void split_refusals(struct jscan_val root, size_t n, struct provider_result *out)
{
	char code[PROVIDER_JSON_STR_MAX];

	error_code(root, code, sizeof(code));
	if (out[0].status != PROVIDER_FAILED &&
	    (out[0].status != PROVIDER_MISCONFIGURED || strcmp(code, SINCH_ILLEGAL_NUMBER) != 0))
		return;
	for (size_t i = 0; i < n; i++)
		out[i].status = n > 1 ? PROVIDER_SPLIT : PROVIDER_FAILED;
}

/* A 2xx: the batch that was created, whose id names every message of it. */
static void batch_created(struct jscan_val root, const struct provider_response *resp, size_t n,
			  struct provider_result *out)
{
	char idb[PROVIDER_JSON_STR_MAX];
	const char *id = provider_json_str(root, "id", idb, sizeof(idb));

	if (id == NULL || id[0] == '\0') {
		provider_fail_all(resp, "answer without a batch id", n, out);
		return;
	}
	for (size_t i = 0; i < n; i++)
		provider_result_sent(&out[i], id);
}

/* The batch as a whole, or the error of the whole request. */
static const struct provider_batch_answer sinch_answer = {
	.whole = batch_created,
	.error_detail = error_detail,
	.after_error = split_refusals,
};

static void sinch_parse(const struct provider_conf *conf, const struct provider_response *resp,
			const struct provider_msg *msgs, size_t n, struct provider_result *out)
{
	(void)conf;
	provider_batch_parse(&sinch_answer, resp, msgs, n, out);
}

/* ---- receipts --------------------------------------------------------------- */

/* Delivery report statuses (Sinch's "Delivery report statuses" table). */
static const struct provider_status_word statuses[] = {
	{ "Delivered", 1, 1 },
	{ "Failed", 1, 0 },
	{ "Expired", 1, 0 },
	{ "Rejected", 1, 0 },
	{ "Aborted", 1, 0 },
	{ "Cancelled", 1, 0 },
	{ "Deleted", 1, 0 },
	{ "Queued", 0, 0 },
	{ "Dispatched", 0, 0 },
	{ "Unknown", 0, 0 },
};

/* The members of a recipient delivery report sinch_receipts reads. */
enum { DR_TYPE, DR_BATCH, DR_TO, DR_CODE, DR_STATUS, DR_AT, DR_KEYS };
static const char *const report_keys[DR_KEYS] = {
	[DR_TYPE] = "type", [DR_BATCH] = "batch_id", [DR_TO] = "recipient", [DR_CODE] = "code",
	[DR_STATUS] = "status", [DR_AT] = "at",
};

/* One callback: one recipient's report, named by batch id and number. */
static int sinch_receipts(const struct provider_conf *conf, const struct provider_callback *cb,
			  struct provider_receipt *out, size_t cap, size_t *n, char *err,
			  size_t errlen)
{
	char typeb[PROVIDER_JSON_STR_MAX], batchb[PROVIDER_JSON_STR_MAX], tob[PROVIDER_JSON_STR_MAX];
	char statusb[PROVIDER_JSON_STR_MAX], atb[PROVIDER_JSON_STR_MAX], codeb[PROVIDER_ERROR_MAX];
	struct provider_report rep = { .at_name = "at" };
	struct jscan_val root, m[DR_KEYS];
	const char *type;
	int64_t code = 0;
	int rc;

	(void)conf;
	*n = 0;
	rc = provider_callback_json(cb, &root, err, errlen);
	if (rc == PROVIDER_RECEIPT_OK)
		rc = provider_receipts_one(cap, err, errlen);
	if (rc != PROVIDER_RECEIPT_OK)
		return rc;
	jscan_members(root, report_keys, m, DR_KEYS);
	type = provider_json_strv(m[DR_TYPE], typeb, sizeof(typeb));
	if (type == NULL || strcmp(type, SINCH_REPORT_TYPE) != 0) {
		err_set(err, errlen, "not a " SINCH_REPORT_TYPE);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	rep.provider_id = provider_json_strv(m[DR_BATCH], batchb, sizeof(batchb));
	rep.to = provider_json_strv(m[DR_TO], tob, sizeof(tob));
	rep.status = provider_json_strv(m[DR_STATUS], statusb, sizeof(statusb));
	if (rep.provider_id == NULL || rep.provider_id[0] == '\0' || rep.to == NULL ||
	    rep.to[0] == '\0' || rep.status == NULL) {
		err_set(err, errlen, "no batch_id, recipient or status");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	if (provider_json_opt_int(m[DR_CODE], &code) != 0 ||
	    provider_json_opt_str(m[DR_AT], atb, sizeof(atb), &rep.at) != 0) {
		err_set(err, errlen, "code is not an integer or at not a string");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	provider_status_lookup(statuses, sizeof(statuses) / sizeof(statuses[0]), rep.status,
			       &rep.final, &rep.delivered);
	snprintf(codeb, sizeof(codeb), "%" PRId64, code);
	rep.error = codeb;
	rc = provider_receipt_fill(&out[0], &rep, cb->now_ms, err, errlen);
	if (rc == PROVIDER_RECEIPT_OK)
		*n = 1;
	return rc;
}

const struct provider_ops provider_sinch_ops = {
	.api = "sinch",
	.max_batch = PROVIDER_SINCH_MAX_BATCH,
	.max_text_units = PROVIDER_SINCH_TEXT_MAX,
	.distinct_to = 1,
	.count_segments = 0, /* "a batch with 10 recipients will count as 10 messages" */
	.receipts_by_to = 1, /* a report names batch_id and recipient only */
	.build = sinch_build,
	.parse = sinch_parse,
	.receipts = sinch_receipts,
};
