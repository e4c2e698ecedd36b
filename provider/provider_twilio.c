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

static int twilio_build(const struct provider_conf *conf, const struct provider_msg *msgs,
			size_t n, struct provider_request *out, char *err, size_t errlen)
{
	struct provider_buf b = { NULL, 0, 0 };
	const char *from_key;

	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_TWILIO_MAX_BATCH, 0, err, errlen) != 0)
		goto fail;
	if (provider_form_request(out, conf, "Twilio account SID", "Twilio auth token", err,
				  errlen) != 0 ||
	    provider_request_url(out, conf, err, errlen, "/2010-04-01/Accounts/%s/Messages.json",
				 conf->account) != 0)
		goto fail;

	from_key = is_service_sid(conf->sender) ? "MessagingServiceSid" : "From";
	provider_buf_form(&b, "To", msgs[0].to);
	provider_buf_form(&b, from_key, conf->sender);
	provider_buf_form(&b, "Body", msgs[0].text);
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

const struct provider_ops provider_twilio_ops = {
	.api = "twilio",
	.max_batch = PROVIDER_TWILIO_MAX_BATCH,
	.max_text_units = PROVIDER_TWILIO_TEXT_MAX,
	.count_segments = 1, /* billed per SMS part: PROVIDERS.md */
	.build = twilio_build,
	.parse = twilio_parse,
};
