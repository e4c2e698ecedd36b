/*
 * provider_vonage: Vonage SMS API (formerly Nexmo), POST /sms/json
 * (provider/PROVIDERS.md has the wire format and the doc references).
 *
 * One message per request (the API takes one "to"):
 *
 *   POST {base_url}/sms/json
 *   Authorization: Basic (API key : API secret; libcurl builds it)
 *   Content-Type: application/x-www-form-urlencoded
 *   from=Clinique&to=447700900123&text=...&type=text&client-ref=smsq-1
 *
 * "to" is the number without its '+' (the API's examples); so is "from"
 * when it is a number ("without a leading + or 00"), an alphanumeric sender
 * as it is.  "type" is "unicode" when the text goes as UCS-2 (a character
 * outside GSM-7's two tables: provider_msg.ucs2, as ingest counted it) and
 * "text" otherwise: the SMS API does not detect it, and a UCS-2 text sent
 * as "text" would not arrive as written.  client-ref is our reference,
 * returned in the answer and the delivery receipts (Vonage does not
 * deduplicate on it).
 *
 * DESIGN
 *
 * Vonage answers 200 whatever became of the message: the outcome is in
 * the body, one entry per SMS part the text was split into:
 *
 *   {"message-count":"2","messages":[
 *     {"to":"447700900123","message-id":"0A00...1","status":"0",
 *      "remaining-balance":"3.14","message-price":"0.033","network":"23410",
 *      "client-ref":"smsq-1"},
 *     {"status":"1","error-text":"Throttled"}]}
 *
 * The message is sent when every part is accepted (status "0"); its provider
 * id is the first part's message-id (each part has its own; the first names
 * the message in Vonage's logs).  Otherwise the first part refused says
 * why, by its status (the table below, from Vonage's list).  When some
 * parts were accepted and another refused, the patient may get those parts
 * alone; a resend repeats them, which is still better than half a text or
 * none: the outcome is the refused part's, marked ambiguous where it is a
 * retry, and the reason says how many parts went.  An answer listing fewer
 * parts than its message-count, none, or no status is RETRY, ambiguous.
 *
 *   0 Success                              -> SENT (all parts)
 *   1 Throttled, 10 Too Many Existing      -> THROTTLED (Retry-After if any):
 *     Binds                                   the account's rate, not the message
 *   2 Missing Parameters, 3 Invalid        -> FAILED: the message itself (its
 *     Parameters, 6 Invalid Message,          number, its text)
 *     7 Number Barred, 12 Message Too Long,
 *     22 Invalid Network Code, 33 Number
 *     De-activated
 *   4 Invalid Credentials, 8 Partner       -> MISCONFIGURED: our credentials,
 *     Account Barred, 9 Partner Quota         our account (suspended, out of
 *     Violation, 11 Account Not Enabled       credit, not set up for HTTP, in
 *     For HTTP, 14 Invalid Signature,         demo mode, our sender refused):
 *     15 Invalid Sender Address, 23           the provider is parked, the
 *     Invalid Callback URL, 29 Non-           messages wait or fail over
 *     Whitelisted Destination, 32
 *     Signature And API Secret Disallowed
 *   5 Internal Error, any other status     -> RETRY
 *
 * Any other HTTP status follows the shared rules (provider.c), with the
 * body's "error-text", or the "title" and "detail" of Vonage's newer error
 * documents, as the detail.
 *
 * Delivery reports.  With a receipt URL, the request adds callback=<receipt
 * URL> and status-report-req=true (a boolean in Vonage's API description;
 * the SDKs send their language's true), and needs our reference as
 * client-ref: a receipt names the message by it.  Vonage's SDK refuses a
 * callback over 100 characters, so build() does.  A receipt comes as a
 * GET with query arguments, a form POST or a JSON POST (the account's
 * setting), every value a string: msisdn (the recipient), to (our
 * sender), network-code, messageId, price, status, scts, err-code,
 * api-key, client-ref, message-timestamp ("2026-12-07 18:00:01", UTC, or
 * with " +0000" after it).  api-key must be our API key (FORGED
 * otherwise; it is not a secret: the endpoint's path is); a long text
 * gets a receipt for each of its parts, each with its own messageId and
 * our client-ref.
 *
 *   delivered                               -> final, delivered
 *   expired, failed, rejected               -> final, not delivered (error:
 *                                              err-code)
 *   accepted, buffered, unknown, any other  -> interim
 */
#include "provider/provider.h"
#include "provider/provider_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

/* Vonage's SMS API status codes (its "Troubleshooting SMS" table). */
struct vonage_status {
	int64_t code;                  /* "status" */
	const char *name;              /* Vonage's name for it */
	enum provider_status outcome;  /* what it means for us */
};

static const struct vonage_status statuses[] = {
	{ 1, "Throttled", PROVIDER_THROTTLED },
	{ 2, "Missing Parameters", PROVIDER_FAILED },
	{ 3, "Invalid Parameters", PROVIDER_FAILED },
	{ 4, "Invalid Credentials", PROVIDER_MISCONFIGURED },
	{ 5, "Internal Error", PROVIDER_RETRY },
	{ 6, "Invalid Message", PROVIDER_FAILED },
	{ 7, "Number Barred", PROVIDER_FAILED },
	{ 8, "Partner Account Barred", PROVIDER_MISCONFIGURED },
	{ 9, "Partner Quota Violation", PROVIDER_MISCONFIGURED },
	{ 10, "Too Many Existing Binds", PROVIDER_THROTTLED },
	{ 11, "Account Not Enabled For HTTP", PROVIDER_MISCONFIGURED },
	{ 12, "Message Too Long", PROVIDER_FAILED },
	{ 14, "Invalid Signature", PROVIDER_MISCONFIGURED },
	{ 15, "Invalid Sender Address", PROVIDER_MISCONFIGURED },
	{ 22, "Invalid Network Code", PROVIDER_FAILED },
	{ 23, "Invalid Callback URL", PROVIDER_MISCONFIGURED },
	{ 29, "Non-Whitelisted Destination", PROVIDER_MISCONFIGURED },
	{ 32, "Signature And API Secret Disallowed", PROVIDER_MISCONFIGURED },
	{ 33, "Number De-activated", PROVIDER_FAILED },
};

#define VONAGE_SUCCESS 0
#define VONAGE_CALLBACK_MAX 100        /* longest callback: Vonage's SDK's limit */

/* ---- build ---------------------------------------------------------------- */

/* s without a leading '+' when the rest is digits (a number), else s. */
static const char *bare_number(const char *s)
{
	if (s[0] != '+' || s[1] == '\0')
		return s;
	for (const char *p = s + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return s;
	return s + 1;
}

static int vonage_build(const struct provider_conf *conf, const struct provider_msg *msgs,
			size_t n, struct provider_request *out, char *err, size_t errlen)
{
	struct provider_buf b = { NULL, 0, 0 };

	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_VONAGE_MAX_BATCH, 0, err, errlen) != 0)
		goto fail;
	if (provider_form_request(out, conf, "Vonage API key", "Vonage API secret", err,
				  errlen) != 0 ||
	    provider_request_url(out, conf, err, errlen, "/sms/json") != 0 ||
	    provider_receipt_url_check(conf, err, errlen) != 0)
		goto fail;
	if (conf->receipt_url[0] != '\0' && strlen(conf->receipt_url) > VONAGE_CALLBACK_MAX) {
		err_set(err, errlen, "provider %s: receipt URL longer than the %d characters Vonage "
			"takes as a callback", conf->name, VONAGE_CALLBACK_MAX);
		goto fail;
	}
	if (conf->receipt_url[0] != '\0' && (msgs[0].ref == NULL || msgs[0].ref[0] == '\0')) {
		err_set(err, errlen, "message %" PRIu64 ": no reference for its receipts",
			msgs[0].id);
		goto fail;
	}
	provider_buf_form(&b, "from", bare_number(conf->sender));
	provider_buf_form(&b, "to", bare_number(msgs[0].to));
	provider_buf_form(&b, "text", msgs[0].text);
	provider_buf_form(&b, "type", msgs[0].ucs2 ? "unicode" : "text");
	if (msgs[0].ref != NULL && msgs[0].ref[0] != '\0')
		provider_buf_form(&b, "client-ref", msgs[0].ref);
	if (conf->receipt_url[0] != '\0') {
		provider_buf_form(&b, "callback", conf->receipt_url);
		provider_buf_form(&b, "status-report-req", "true");
	}
	provider_request_take_body(out, &b);
	return 0;
fail:
	provider_request_clear(out);
	return -1;
}

/* ---- parse ---------------------------------------------------------------- */

/* The members of an answer, and of each of its entries, parse_answer reads. */
enum { AN_COUNT, AN_MESSAGES, AN_KEYS };
static const char *const answer_keys[AN_KEYS] = {
	[AN_COUNT] = "message-count", [AN_MESSAGES] = "messages",
};
enum { EN_STATUS, EN_ID, EN_ERROR, EN_KEYS };
static const char *const entry_keys[EN_KEYS] = {
	[EN_STATUS] = "status", [EN_ID] = "message-id", [EN_ERROR] = "error-text",
};

/* What the parts of an answer said, as parse_answer gathers it. */
struct parts {
	size_t listed;                       /* entries */
	size_t accepted;                     /* of which status 0 */
	char first_id[PROVIDER_JSON_STR_MAX]; /* the first accepted part's message-id */
	size_t refused_at;                   /* the first refused part (1-based; 0: none) */
	int64_t status;                      /* its status (-1: none readable) */
	char error[PROVIDER_JSON_STR_MAX];   /* its error-text ("" if none) */
};

static void read_parts(struct jscan_val list, struct parts *p)
{
	struct jscan_val entry = { NULL, 0 }, m[EN_KEYS];

	while (jscan_next(list, &entry)) {
		int64_t status;

		p->listed++;
		jscan_members(entry, entry_keys, m, EN_KEYS);
		if (provider_json_code(m[EN_STATUS], &status) != 0)
			status = -1;
		if (status == VONAGE_SUCCESS) {
			if (p->accepted++ == 0 &&
			    provider_json_strv(m[EN_ID], p->first_id, sizeof(p->first_id)) == NULL)
				p->first_id[0] = '\0';
			continue;
		}
		if (p->refused_at != 0)
			continue;
		p->refused_at = p->listed;
		p->status = status;
		if (provider_json_strv(m[EN_ERROR], p->error, sizeof(p->error)) == NULL)
			p->error[0] = '\0';
	}
}

/* The outcome of a refused part's status into *r. */
static void refused(const struct provider_response *resp, const struct parts *p,
		    struct provider_result *r)
{
	enum provider_status st = PROVIDER_RETRY;
	const char *name = "unknown status";
	char partial[96] = "";

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		if (statuses[i].code == p->status) {
			st = statuses[i].outcome;
			name = statuses[i].name;
			break;
		}
	}
	if (p->accepted > 0)
		snprintf(partial, sizeof(partial), " (part %zu of %zu; %zu accepted, a resend "
			 "repeats them)", p->refused_at, p->listed, p->accepted);
	provider_result_set(r, st, st == PROVIDER_RETRY && p->accepted > 0,
			    st == PROVIDER_THROTTLED ? resp->retry_after_ms : -1,
			    "vonage status %" PRId64 " (%s)%s%s%s", p->status, name,
			    p->error[0] != '\0' ? ": " : "", p->error, partial);
	/* The part that went, for Vonage's logs (as Twilio's sid on FAILED). */
	if (p->accepted > 0)
		provider_result_set_id(r, p->first_id);
}

/* A 2xx: the parts of the message, each with its status. */
static void parse_answer(const struct provider_response *resp, const struct provider_msg *m,
			 struct provider_result *r)
{
	char why[PROVIDER_REASON_MAX];
	struct jscan_val root, a[AN_KEYS];
	struct parts p = { .status = -1 };
	int64_t count;

	(void)m;
	if (provider_json_load(resp, &root, why, sizeof(why)) != 0) {
		provider_fail_all(resp, why, 1, r);
		return;
	}
	jscan_members(root, answer_keys, a, AN_KEYS);
	if (jscan_type(a[AN_MESSAGES]) != JSCAN_ARRAY) {
		provider_fail_all(resp, "answer without a messages array", 1, r);
		return;
	}
	read_parts(a[AN_MESSAGES], &p);
	if (p.refused_at != 0 && p.status >= 0) {
		refused(resp, &p, r);
	} else if (p.refused_at != 0) {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "vonage answer part %zu without a "
				    "status", p.refused_at);
	} else if (p.listed == 0) {
		provider_fail_all(resp, "answer without any message part", 1, r);
	} else if (provider_json_code(a[AN_COUNT], &count) == 0 && count > (int64_t)p.listed) {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "vonage answer lists %zu of %" PRId64
				    " parts", p.listed, count);
	} else {
		provider_result_sent(r, p.first_id);
	}
}

/* Not a 2xx: the shared rules, with what the body says. */
static void parse_error(const struct provider_response *resp, const struct provider_msg *m,
			struct provider_result *r)
{
	char why[PROVIDER_REASON_MAX], detail[PROVIDER_REASON_MAX] = "";
	char textb[PROVIDER_JSON_STR_MAX], titleb[PROVIDER_JSON_STR_MAX];
	struct jscan_val root;

	(void)m;
	if (provider_json_load(resp, &root, why, sizeof(why)) == 0) {
		const char *text = provider_json_str(root, "error-text", textb, sizeof(textb));
		const char *title = provider_json_str(root, "title", titleb, sizeof(titleb));

		if (text == NULL)
			text = provider_json_str(root, "detail", textb, sizeof(textb));
		err_set(detail, sizeof(detail), "%s%s%s", title != NULL ? title : "",
			title != NULL && text != NULL ? ": " : "", text != NULL ? text : "");
	}
	provider_fail_all(resp, detail[0] != '\0' ? detail : NULL, 1, r);
}

static void vonage_parse(const struct provider_conf *conf, const struct provider_response *resp,
			 const struct provider_msg *msgs, size_t n, struct provider_result *out)
{
	(void)conf;
	provider_single_parse(resp, msgs, n, out, parse_answer, parse_error, "Vonage");
}

/* ---- receipts --------------------------------------------------------------- */

/* A receipt's status (Vonage's "Delivery receipts" guide). */
static const struct provider_status_word dlr_statuses[] = {
	{ "delivered", 1, 1 },
	{ "expired", 1, 0 },
	{ "failed", 1, 0 },
	{ "rejected", 1, 0 },
	{ "accepted", 0, 0 },
	{ "buffered", 0, 0 },
	{ "unknown", 0, 0 },
};

/* The fields of a receipt vonage_receipts reads. */
enum { RF_KEY, RF_REF, RF_ID, RF_TO, RF_STATUS, RF_ERROR, RF_AT, RF_N };
static const char *const receipt_fields[RF_N] = {
	[RF_KEY] = "api-key", [RF_REF] = "client-ref", [RF_ID] = "messageId",
	[RF_TO] = "msisdn", [RF_STATUS] = "status", [RF_ERROR] = "err-code",
	[RF_AT] = "message-timestamp",
};

/* Where a receipt's fields are: the query of a GET, a form or a JSON
 * object POSTed. */
struct receipt_source {
	const struct provider_callback *cb;  /* the query, when form and json are unset */
	const struct provider_form *form;    /* a form body, or NULL */
	struct jscan_val json;               /* a JSON body, or absent */
	char buf[RF_N][PROVIDER_JSON_STR_MAX]; /* JSON strings, decoded */
};

/* Each field of the receipt into v (NULL: absent, or not a string). */
static void read_fields(struct receipt_source *src, const char *v[RF_N])
{
	struct jscan_val m[RF_N];

	if (src->json.p != NULL)
		jscan_members(src->json, receipt_fields, m, RF_N);
	for (int i = 0; i < RF_N; i++) {
		if (src->json.p != NULL)
			v[i] = provider_json_strv(m[i], src->buf[i], sizeof(src->buf[i]));
		else if (src->form != NULL)
			v[i] = provider_form_get(src->form, receipt_fields[i]);
		else
			v[i] = provider_callback_arg(src->cb, receipt_fields[i]);
	}
}

/* The receipt in v into *r, once it is known to be of our account. */
static int receipt_of(const struct provider_conf *conf, const char *v[RF_N], int64_t now_ms,
		      struct provider_receipt *r, char *err, size_t errlen)
{
	struct provider_report rep = {
		.ref = v[RF_REF], .ref_name = "client-ref", .provider_id = v[RF_ID],
		.to = v[RF_TO], .at = v[RF_AT], .at_name = "message-timestamp",
		.status = v[RF_STATUS], .error = v[RF_ERROR],
	};

	if (v[RF_KEY] == NULL || strcmp(v[RF_KEY], conf->account) != 0) {
		err_set(err, errlen, "api-key is not the configured API key");
		return PROVIDER_RECEIPT_FORGED;
	}
	if (rep.ref == NULL || rep.provider_id == NULL || rep.status == NULL) {
		err_set(err, errlen, "no client-ref, messageId or status");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	provider_status_lookup(dlr_statuses, sizeof(dlr_statuses) / sizeof(dlr_statuses[0]),
			       rep.status, &rep.final, &rep.delivered);
	return provider_receipt_fill(r, &rep, now_ms, err, errlen);
}

/* One receipt, as a GET, a form POST or a JSON POST. */
static int vonage_receipts(const struct provider_conf *conf, const struct provider_callback *cb,
			   struct provider_receipt *out, size_t cap, size_t *n, char *err,
			   size_t errlen)
{
	struct receipt_source src = { .cb = cb };
	struct provider_form form = { 0 };
	const char *v[RF_N];
	int rc = PROVIDER_RECEIPT_MALFORMED;

	*n = 0;
	if (provider_receipts_one(cap, err, errlen) != PROVIDER_RECEIPT_OK)
		goto out;
	if (cb->method != NULL && strcmp(cb->method, "POST") == 0 &&
	    provider_media_type_is(cb->content_type, "application/x-www-form-urlencoded")) {
		if (provider_form_parse(cb->body, cb->body_len, &form, err, errlen) != 0)
			goto out;
		src.form = &form;
	} else if (cb->method != NULL && strcmp(cb->method, "POST") == 0) {
		rc = provider_callback_json(cb, &src.json, err, errlen);
		if (rc != PROVIDER_RECEIPT_OK)
			goto out;
	} else if (cb->method == NULL || strcmp(cb->method, "GET") != 0) {
		err_set(err, errlen, "neither a GET nor a POST");
		goto out;
	}
	read_fields(&src, v);
	rc = receipt_of(conf, v, cb->now_ms, &out[0], err, errlen);
	if (rc == PROVIDER_RECEIPT_OK)
		*n = 1;
out:
	provider_form_clear(&form);
	return rc;
}

const struct provider_ops provider_vonage_ops = {
	.api = "vonage",
	.max_batch = PROVIDER_VONAGE_MAX_BATCH,
	/* No limit is published for text: a long one is concatenated, so the
	 * SMS ceiling applies (PROVIDERS.md). */
	.max_text_segments = PROVIDER_SMS_PARTS_MAX,
	.count_segments = 0, /* "30 API requests per second ... not 30 SMS per second" */
	.needs_encoding = 1,
	.build = vonage_build,
	.parse = vonage_parse,
	.receipts = vonage_receipts,
};
