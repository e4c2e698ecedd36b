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

#include "common/xalloc.h"
#include "common/num.h"
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

/* 1 if s is non-empty and only letters and digits (a safe path segment). */
static int is_alnum(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

/*
 * Append "key=value" to buf at *pos, value percent-encoded: every byte but
 * RFC 3986's unreserved ALPHA / DIGIT / "-" / "." / "_" / "~" becomes %XX
 * (so '+' is %2B, '&' %26, '=' %3D, and a space %20, which every
 * application/x-www-form-urlencoded parser decodes the same way as '+').
 * The caller sized buf for the worst case (3 bytes per value byte).
 */
static void form_append(char *buf, size_t *pos, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *v = (const unsigned char *)value;
	size_t p = *pos;

	if (p > 0)
		buf[p++] = '&';
	memcpy(buf + p, key, strlen(key));
	p += strlen(key);
	buf[p++] = '=';
	for (; *v != '\0'; v++) {
		if ((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') ||
		    (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_' || *v == '~') {
			buf[p++] = (char)*v;
		} else {
			buf[p++] = '%';
			buf[p++] = hex[*v >> 4];
			buf[p++] = hex[*v & 0x0f];
		}
	}
	buf[p] = '\0';
	*pos = p;
}

/* Room for "&key=" plus the value fully percent-encoded. */
static size_t form_room(const char *key, const char *value)
{
	return 1 + strlen(key) + 1 + 3 * strlen(value);
}

static int twilio_build(const struct provider_conf *conf, const struct provider_msg *msgs,
			size_t n, struct provider_request *out, char *err, size_t errlen)
{
	const char *from_key;
	size_t room, pos = 0;
	char *body;

	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_TWILIO_MAX_BATCH, 0, err, errlen) != 0)
		goto fail;
	if (!is_alnum(conf->account)) {
		err_set(err, errlen, "provider %s: account must be the Twilio account SID "
			"(letters and digits)", conf->name);
		goto fail;
	}
	if (conf->token[0] == '\0') {
		err_set(err, errlen, "provider %s: token (Twilio auth token) is empty",
			conf->name);
		goto fail;
	}
	if (conf->sender[0] == '\0') {
		err_set(err, errlen, "provider %s: sender is empty", conf->name);
		goto fail;
	}
	if (provider_request_url(out, conf, err, errlen, "/2010-04-01/Accounts/%s/Messages.json",
				 conf->account) != 0)
		goto fail;
	if (provider_request_header(out, "Content-Type: application/x-www-form-urlencoded") != 0 ||
	    provider_request_header(out, "Accept: application/json") != 0) {
		err_set(err, errlen, "provider %s: cannot add headers", conf->name);
		goto fail;
	}
	/* Both fit: same sizes as the config fields they come from. */
	snprintf(out->basic_user, sizeof(out->basic_user), "%s", conf->account);
	snprintf(out->basic_pass, sizeof(out->basic_pass), "%s", conf->token);

	from_key = is_service_sid(conf->sender) ? "MessagingServiceSid" : "From";
	room = form_room("To", msgs[0].to) + form_room(from_key, conf->sender) +
	       form_room("Body", msgs[0].text) + 1;
	body = xmalloc(room);
	body[0] = '\0';
	form_append(body, &pos, "To", msgs[0].to);
	form_append(body, &pos, from_key, conf->sender);
	form_append(body, &pos, "Body", msgs[0].text);
	out->body = body;
	out->body_len = pos;
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

/* A JSON integer, or a string of digits, as a code; 0 if neither. */
static int64_t json_code(struct jscan_val v)
{
	char text[32];
	int64_t code;

	if (jscan_int(v, &code) == 0)
		return code;
	if (jscan_str(v, text, sizeof(text)) >= 0 &&
	    num_parse_i64(text, INT64_MIN, INT64_MAX, &code) == 0)
		return code;
	return 0;
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
static void parse_created(const struct provider_response *resp, struct provider_result *r)
{
	char why[PROVIDER_REASON_MAX], sidb[PROVIDER_JSON_STR_MAX], statusb[PROVIDER_JSON_STR_MAX];
	char emsgb[PROVIDER_JSON_STR_MAX];
	const char *sid, *status, *emsg;
	struct jscan_val root, m[MR_KEYS], ecode;
	int64_t code;
	int has_code;

	if (provider_json_load(resp, &root, why, sizeof(why)) != 0) {
		provider_fail_all(resp, why, 1, r);
		return;
	}
	jscan_members(root, resource_keys, m, MR_KEYS);
	sid = provider_json_strv(m[MR_SID], sidb, sizeof(sidb));
	if (sid == NULL || sid[0] == '\0') {
		provider_fail_all(resp, jscan_type(root) == JSCAN_OBJECT ?
				  "answer without a message sid" : "answer is not a JSON object", 1, r);
		return;
	}
	status = provider_json_strv(m[MR_STATUS], statusb, sizeof(statusb));
	ecode = m[MR_ECODE];
	emsg = provider_json_strv(m[MR_EMSG], emsgb, sizeof(emsgb));
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
static void parse_error(const struct provider_response *resp, struct provider_result *r)
{
	char why[PROVIDER_REASON_MAX], detail[PROVIDER_REASON_MAX], msgb[PROVIDER_JSON_STR_MAX];
	const char *msg = NULL;
	struct jscan_val root;
	int64_t code = 0;

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
	size_t i;

	(void)conf;
	(void)msgs;
	if (n == 0 || out == NULL)
		return;
	if (resp == NULL || resp->transport != PROVIDER_T_OK)
		provider_fail_all(resp, NULL, 1, out);
	else if (provider_http_2xx(resp))
		parse_created(resp, out);
	else
		parse_error(resp, out);
	/* build() never makes a request for more than one message. */
	for (i = 1; i < n; i++)
		provider_result_set(&out[i], PROVIDER_RETRY, 1, -1,
				    "not part of the Twilio request (one message per request)");
}

const struct provider_ops provider_twilio_ops = {
	.api = "twilio",
	.max_batch = PROVIDER_TWILIO_MAX_BATCH,
	.max_text_units = PROVIDER_TWILIO_TEXT_MAX,
	.build = twilio_build,
	.parse = twilio_parse,
};
