/*
 * provider_twilio: Twilio Programmable Messaging, the Messages resource
 * (provider/PROVIDERS.md has the wire format and the doc references).
 *
 * One message per request:
 *
 *   POST {base_url}/2010-04-01/Accounts/{account}/Messages.json
 *   Authorization: Basic (account SID : auth token; libcurl builds it)
 *   Content-Type: application/x-www-form-urlencoded
 *   To=%2B33612345678&From=%2B33644630000&Body=...
 *
 * From becomes MessagingServiceSid when the sender is a Messaging Service SID
 * ("MG" and 32 hex digits, Twilio's documented pattern; an alphanumeric
 * sender such as "MGBANK" stays a From).
 *
 * The answer to a create is the Message resource (201): sid and status.  An
 * error is {"code", "message", "more_info", "status"}.  Twilio takes no
 * client reference on create, so a request that timed out after leaving
 * cannot be recognised when it is repeated: that window is one message.
 *
 * Delivery reports.  With a receipt URL, build() adds
 * StatusCallback=<receipt_url>?ref=<ref>: Twilio then POSTs each change of
 * the message's status to that very URL, form-encoded (MessageSid,
 * MessageStatus, ErrorCode on a failure, AccountSid, From, To...), signed
 * with X-Twilio-Signature: base64 of HMAC-SHA1 under the auth token of the
 * URL it called followed by every POST field sorted by name (then value),
 * each name then value, decoded.  receipts() rebuilds that URL from the
 * configuration and the ref of the query (never from what the request
 * says its Host was: behind the operator's proxy that is not the URL
 * Twilio signed), so the reference is ours, the signature checks, and the
 * account is ours before anything else is read:
 *
 *   no ref, a ref not ours, not a form      -> MALFORMED
 *   no signature, a wrong one, another      -> FORGED
 *   AccountSid
 *   delivered, read                         -> final, delivered
 *   undelivered, failed, canceled           -> final, not delivered (error:
 *                                              ErrorCode)
 *   queued, accepted, scheduled, sending,   -> interim
 *   sent, any other word
 *
 * A status callback carries no time of its own that can be read (its
 * RawDlrDoneDate is the carrier's, minutes only, in no stated zone): the
 * report's time is when it arrives.
 */
#include "provider/provider.h"
#include "provider/provider_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define TWILIO_SID_HEX 32                 /* hex digits after the 2-letter prefix */
#define TWILIO_CODE_TOO_MANY_REQUESTS 20429
#define TWILIO_CODE_RATE_LIMIT 63017      /* account over its messages/second */
#define TWILIO_REF_ARG "ref"              /* the query argument naming our message */
#define TWILIO_SIGNATURE "X-Twilio-Signature"
/* The StatusCallback URL: the receipt URL, "?ref=" and the reference. */
#define TWILIO_CALLBACK_MAX (PROVIDER_URL_MAX + sizeof("?" TWILIO_REF_ARG "=") + PROVIDER_REF_MAX)

/* ---- build ---------------------------------------------------------------- */

/* 1 if s is a Messaging Service SID: "MG" followed by 32 hex digits. */
static int is_service_sid(const char *s)
{
	size_t i;

	if (s[0] != 'M' || s[1] != 'G')
		return 0;
	for (i = 2; i < 2 + TWILIO_SID_HEX; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return 0;
	}
	return s[i] == '\0';
}

/* 1 if the host of url (http:// or https://, provider_receipt_url_check())
 * has an underscore: Twilio refuses such a StatusCallback (error 21609)
 * and, being a 400, that would fail every message. */
static int host_has_underscore(const char *url)
{
	const char *host = strstr(url, "://");

	if (host == NULL)
		return 0;
	host += 3;
	return memchr(host, '_', strcspn(host, "/:")) != NULL;
}

/* The URL Twilio calls back for the message ref into buf: 0, or -1 (no
 * room; a ref longer than PROVIDER_REF_MAX). */
static int callback_url(const struct provider_conf *conf, const char *ref, char *buf, size_t cap)
{
	int k = snprintf(buf, cap, "%s?" TWILIO_REF_ARG "=%s", conf->receipt_url, ref);

	return k < 0 || (size_t)k >= cap ? -1 : 0;
}

static int twilio_build(const struct provider_conf *conf, const struct provider_msg *msgs,
			size_t n, struct provider_request *out, char *err, size_t errlen)
{
	struct provider_buf b = { NULL, 0, 0 };
	char callback[TWILIO_CALLBACK_MAX];
	const char *from_key;

	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_TWILIO_MAX_BATCH, 0, err, errlen) != 0)
		goto fail;
	if (provider_form_request(out, conf, "Twilio account SID", "Twilio auth token", err,
				  errlen) != 0 ||
	    provider_request_url(out, conf, err, errlen, "/2010-04-01/Accounts/%s/Messages.json",
				 conf->account) != 0 ||
	    provider_receipt_url_check(conf, err, errlen) != 0)
		goto fail;
	if (host_has_underscore(conf->receipt_url)) {
		err_set(err, errlen, "provider %s: Twilio refuses a StatusCallback whose host has "
			"an underscore (error 21609)", conf->name);
		goto fail;
	}
	if (conf->receipt_url[0] != '\0' &&
	    (msgs[0].ref == NULL || msgs[0].ref[0] == '\0' ||
	     callback_url(conf, msgs[0].ref, callback, sizeof(callback)) != 0)) {
		err_set(err, errlen, "message %" PRIu64 ": reference missing or too long for "
			"a status callback", msgs[0].id);
		goto fail;
	}

	from_key = is_service_sid(conf->sender) ? "MessagingServiceSid" : "From";
	provider_buf_form(&b, "To", msgs[0].to);
	provider_buf_form(&b, from_key, conf->sender);
	provider_buf_form(&b, "Body", msgs[0].text);
	if (conf->receipt_url[0] != '\0')
		provider_buf_form(&b, "StatusCallback", callback);
	provider_request_take_body(out, &b);
	return 0;
fail:
	provider_request_clear(out);
	return -1;
}

/* ---- parse ---------------------------------------------------------------- */

static int is_throttle_code(int64_t code)
{
	return code == TWILIO_CODE_TOO_MANY_REQUESTS || code == TWILIO_CODE_RATE_LIMIT;
}

/* A code member's value (a JSON integer or a string of digits), 0 if neither. */
static int64_t json_code(struct jscan_val v)
{
	int64_t code;

	return provider_json_code(v, &code) == 0 ? code : 0;
}

/* "twilio <status>[ code N][: message]" as the outcome of a created message. */
static void set_outcome(struct provider_result *r, enum provider_status st, int64_t retry_after_ms,
			const char *status, int has_code, int64_t code, const char *emsg)
{
	char codes[32] = "";

	if (has_code)
		snprintf(codes, sizeof(codes), " code %" PRId64, code);
	provider_result_set(r, st, 0, retry_after_ms, "twilio %s%s%s%s",
			    status != NULL ? status : "error", codes,
			    emsg != NULL ? ": " : "", emsg != NULL ? emsg : "");
}

/* The members of a Message resource parse_created reads, in one walk (the
 * resource has some twenty). */
enum { MR_SID, MR_STATUS, MR_ECODE, MR_EMSG, MR_KEYS };
static const char *const resource_keys[MR_KEYS] = {
	[MR_SID] = "sid", [MR_STATUS] = "status", [MR_ECODE] = "error_code",
	[MR_EMSG] = "error_message",
};

/* A 2xx: the Message resource that was created. */
static void parse_created(const struct provider_response *resp, const struct provider_msg *m,
			  struct provider_result *r)
{
	char why[PROVIDER_REASON_MAX], sidb[PROVIDER_JSON_STR_MAX], statusb[PROVIDER_JSON_STR_MAX];
	char emsgb[PROVIDER_JSON_STR_MAX];
	const char *sid, *status, *emsg;
	struct jscan_val root, mr[MR_KEYS], ecode;
	int64_t code;
	int has_code;

	(void)m;
	if (provider_json_load(resp, &root, why, sizeof(why)) != 0) {
		provider_fail_all(resp, why, 1, r);
		return;
	}
	jscan_members(root, resource_keys, mr, MR_KEYS);
	sid = provider_json_strv(mr[MR_SID], sidb, sizeof(sidb));
	if (sid == NULL || sid[0] == '\0') {
		provider_fail_all(resp, jscan_type(root) == JSCAN_OBJECT ?
				  "answer without a message sid" : "answer is not a JSON object", 1, r);
		return;
	}
	status = provider_json_strv(mr[MR_STATUS], statusb, sizeof(statusb));
	ecode = mr[MR_ECODE];
	emsg = provider_json_strv(mr[MR_EMSG], emsgb, sizeof(emsgb));
	code = json_code(ecode);

	has_code = jscan_type(ecode) != JSCAN_ABSENT && jscan_type(ecode) != JSCAN_NULL;
	if (has_code && is_throttle_code(code)) {
		set_outcome(r, PROVIDER_THROTTLED, resp->retry_after_ms, status, has_code, code, emsg);
	} else if (has_code || (status != NULL && (strcmp(status, "failed") == 0 ||
						   strcmp(status, "undelivered") == 0 ||
						   strcmp(status, "canceled") == 0))) {
		set_outcome(r, PROVIDER_FAILED, -1, status, has_code, code, emsg);
	} else {
		provider_result_sent(r, sid);
		return;
	}
	/* Kept for FAILED too: ops can look the message up in Twilio's logs. */
	provider_result_set_id(r, sid);
}

/* Not a 2xx: Twilio's error document, when there is one. */
static void parse_error(const struct provider_response *resp, const struct provider_msg *m,
			struct provider_result *r)
{
	char why[PROVIDER_REASON_MAX], detail[PROVIDER_REASON_MAX], msgb[PROVIDER_JSON_STR_MAX];
	const char *msg = NULL;
	struct jscan_val root;
	int64_t code = 0;

	(void)m;
	if (provider_json_load(resp, &root, why, sizeof(why)) == 0 &&
	    jscan_type(root) == JSCAN_OBJECT) {
		code = json_code(jscan_get(root, "code"));
		msg = provider_json_str(root, "message", msgb, sizeof(msgb));
	}
	if (code != 0)
		snprintf(detail, sizeof(detail), "code %" PRId64 "%s%s", code,
			 msg != NULL ? ": " : "", msg != NULL ? msg : "");
	else
		snprintf(detail, sizeof(detail), "%s", msg != NULL ? msg : "");
	provider_fail_all(resp, detail, 1, r);
	/* 20429 is Twilio's own "Too Many Requests", whatever the status. */
	if (is_throttle_code(code) && r->status != PROVIDER_THROTTLED) {
		char reason[PROVIDER_REASON_MAX];

		memcpy(reason, r->reason, sizeof(reason));
		provider_result_set(r, PROVIDER_THROTTLED, 0, resp->retry_after_ms, "%s", reason);
	}
}

static void twilio_parse(const struct provider_conf *conf, const struct provider_response *resp,
			 const struct provider_msg *msgs, size_t n, struct provider_result *out)
{
	(void)conf;
	provider_single_parse(resp, msgs, n, out, parse_created, parse_error, "Twilio");
}

/* ---- receipts --------------------------------------------------------------- */

/* MessageStatus values (Twilio's MessageEnumStatus; PROVIDERS.md). */
static const struct provider_status_word statuses[] = {
	{ "delivered", 1, 1 },
	{ "read", 1, 1 },            /* delivered, and read (channels that say so) */
	{ "undelivered", 1, 0 },
	{ "failed", 1, 0 },
	{ "canceled", 1, 0 },        /* a scheduled message cancelled: never sent */
	{ "queued", 0, 0 },
	{ "accepted", 0, 0 },
	{ "scheduled", 0, 0 },
	{ "sending", 0, 0 },
	{ "sent", 0, 0 },
};

/* Orders form fields by name, then value: Twilio's signature sorts them so
 * (its SDKs sort a repeated name's values too). */
static int field_order(const void *a, const void *b)
{
	const struct provider_form_field *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

int provider_twilio_signature(const char *token, const char *url, const struct provider_form *f,
			      char out[HMAC_SHA1_BASE64])
{
	struct provider_form_field sorted[PROVIDER_FORM_FIELDS_MAX];
	struct provider_buf data = { NULL, 0, 0 };
	int rc;

	memcpy(sorted, f->field, f->n * sizeof(sorted[0]));
	qsort(sorted, f->n, sizeof(sorted[0]), field_order);
	provider_buf_raw(&data, url, strlen(url));
	for (size_t i = 0; i < f->n; i++) {
		provider_buf_raw(&data, sorted[i].name, strlen(sorted[i].name));
		provider_buf_raw(&data, sorted[i].value, strlen(sorted[i].value));
	}
	rc = hmac_sha1_base64(token, strlen(token), data.p, data.len, out);
	free(data.p);
	return rc;
}

/* The checks of a status callback before its report is read: our
 * reference, Twilio's signature, our account.  OK, or an error with err. */
static int authenticate(const struct provider_conf *conf, const struct provider_callback *cb,
			const struct provider_form *f, const char *ref, char *err, size_t errlen)
{
	const char *signature = provider_callback_header(cb, TWILIO_SIGNATURE);
	const char *account = provider_form_get(f, "AccountSid");
	char url[TWILIO_CALLBACK_MAX], mac[HMAC_SHA1_BASE64];
	uint64_t id;

	if (ref == NULL || provider_ref_id(ref, &id) != 0 ||
	    callback_url(conf, ref, url, sizeof(url)) != 0) {
		err_set(err, errlen, "no reference of ours in the URL's " TWILIO_REF_ARG);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	if (signature == NULL || conf->token[0] == '\0') {
		err_set(err, errlen, "no " TWILIO_SIGNATURE);
		return PROVIDER_RECEIPT_FORGED;
	}
	if (provider_twilio_signature(conf->token, url, f, mac) != 0 ||
	    !hmac_equal(mac, strlen(mac), signature, strlen(signature))) {
		err_set(err, errlen, TWILIO_SIGNATURE " does not match");
		return PROVIDER_RECEIPT_FORGED;
	}
	if (account == NULL || strcmp(account, conf->account) != 0) {
		err_set(err, errlen, "AccountSid is not the configured account");
		return PROVIDER_RECEIPT_FORGED;
	}
	return PROVIDER_RECEIPT_OK;
}

/* One status callback: one report. */
static int twilio_receipts(const struct provider_conf *conf, const struct provider_callback *cb,
			   struct provider_receipt *out, size_t cap, size_t *n, char *err,
			   size_t errlen)
{
	const char *ref = provider_callback_arg(cb, TWILIO_REF_ARG);
	struct provider_report rep = { .ref = ref, .ref_name = TWILIO_REF_ARG };
	struct provider_form f = { 0 };
	int rc = PROVIDER_RECEIPT_MALFORMED;

	*n = 0;
	if (cb->method == NULL || strcmp(cb->method, "POST") != 0 ||
	    !provider_media_type_is(cb->content_type, "application/x-www-form-urlencoded")) {
		err_set(err, errlen, "not a form POST");
		goto out;
	}
	if (provider_receipts_one(cap, err, errlen) != PROVIDER_RECEIPT_OK ||
	    provider_form_parse(cb->body, cb->body_len, &f, err, errlen) != 0)
		goto out;
	rc = authenticate(conf, cb, &f, ref, err, errlen);
	if (rc != PROVIDER_RECEIPT_OK)
		goto out;
	rep.provider_id = provider_form_get(&f, "MessageSid");
	if (rep.provider_id == NULL)
		rep.provider_id = provider_form_get(&f, "SmsSid");
	rep.status = provider_form_get(&f, "MessageStatus");
	if (rep.status == NULL)
		rep.status = provider_form_get(&f, "SmsStatus");
	if (rep.provider_id == NULL || rep.provider_id[0] == '\0' || rep.status == NULL) {
		err_set(err, errlen, "no MessageSid or no MessageStatus");
		rc = PROVIDER_RECEIPT_MALFORMED;
		goto out;
	}
	provider_status_lookup(statuses, sizeof(statuses) / sizeof(statuses[0]), rep.status,
			       &rep.final, &rep.delivered);
	rep.to = provider_form_get(&f, "To");
	rep.error = provider_form_get(&f, "ErrorCode");
	rc = provider_receipt_fill(&out[0], &rep, cb->now_ms, err, errlen);
	if (rc == PROVIDER_RECEIPT_OK)
		*n = 1;
out:
	provider_form_clear(&f);
	return rc;
}

const struct provider_ops provider_twilio_ops = {
	.api = "twilio",
	.max_batch = PROVIDER_TWILIO_MAX_BATCH,
	.max_text_units = PROVIDER_TWILIO_TEXT_MAX,
	.count_segments = 1, /* billed per SMS part: PROVIDERS.md */
	.build = twilio_build,
	.parse = twilio_parse,
	.receipts = twilio_receipts,
};
