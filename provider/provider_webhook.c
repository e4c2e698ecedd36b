/*
 * provider_webhook: a generic JSON webhook, the contract an in-house SMS
 * gateway implements to be driven by smsq (provider/PROVIDERS.md is that
 * contract for the gateway's authors).
 *
 *   POST {base_url}
 *   Content-Type: application/json
 *   Authorization: Bearer <token>            (only when a token is set)
 *   {"messages":[{"id":"smsq-1","to":"+33612345678","from":"Clinic",
 *                 "text":"...","segments":1}, ...]}   ("from" only when set)
 *
 *   200 {"results":[{"id":"smsq-1","status":"accepted","provider_id":"gw-1"},
 *                   {"id":"smsq-2","status":"rejected","error":"invalid number"},
 *                   {"id":"smsq-3","status":"retry","error":"route down"},
 *                   {"id":"smsq-4","status":"throttled","retry_after_ms":1000}]}
 *
 * Results are matched by id, never by position.  A per-message refusal
 * travels inside the 200 (as Vonage reports "Throttled" inside a 200 body):
 * "throttled" there slows the whole provider like a 429 does.  Anything that
 * is not a 2xx is about the whole request and follows provider_fail_all(),
 * with {"error": "...", "retry_after_ms": N} as an optional body.
 *
 * Delivery reports.  With a receipt URL, the request adds "callback_url":
 * <receipt URL> after "messages", and the gateway POSTs there
 *
 *   Authorization: Bearer <token>            (when a token is set)
 *   {"receipts":[{"ref":"smsq-1","id":"gw-1","status":"delivered",
 *                 "provider_status":"DELIVRD","error":"","at":"2026-12-07T18:00:01Z"},
 *                ...]}
 *
 * ref (our reference) and status are required; "delivered" is final and
 * delivered, "undelivered" final and not, any other status (the contract
 * says "pending") interim; id, provider_status (the word kept, else the
 * status), error and at (RFC 3339; else now) are optional.  With a token,
 * a missing or wrong Authorization is FORGED: the token is compared in
 * constant time.
 */
#include "provider/provider.h"
#include "provider/provider_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "common/err.h"
#include "common/hmac.h"

/* Largest retry_after_ms taken from a body (ms fit in int64 with room). */
#define WEBHOOK_RETRY_AFTER_MAX_MS ((double)INT64_MAX / 4)

/* ---- build ---------------------------------------------------------------- */

/* obj[key] = string val; -1 if val is not UTF-8 or on allocation failure. */
static int set_str(json_t *obj, const char *key, const char *val)
{
	json_t *s = json_string(val);

	return s == NULL ? -1 : json_object_set_new(obj, key, s);
}

/* One element of "messages" for m, or NULL. */
static json_t *message_json(const struct provider_conf *conf, const struct provider_msg *m)
{
	json_t *msg = json_object(), *seg;

	if (msg == NULL)
		return NULL;
	if (set_str(msg, "id", m->ref) != 0 || set_str(msg, "to", m->to) != 0)
		goto fail;
	if (conf->sender[0] != '\0' && set_str(msg, "from", conf->sender) != 0)
		goto fail;
	if (set_str(msg, "text", m->text) != 0)
		goto fail;
	seg = json_integer((json_int_t)m->segments);
	if (seg == NULL || json_object_set_new(msg, "segments", seg) != 0)
		goto fail;
	return msg;
fail:
	json_decref(msg);
	return NULL;
}

static int webhook_build(const struct provider_conf *conf, const struct provider_msg *msgs,
			 size_t n, struct provider_request *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_WEBHOOK_MAX_BATCH, 1, err, errlen) != 0)
		goto fail;
	if (!provider_token_safe(conf->token)) {
		err_set(err, errlen, "provider %s: token has spaces or control characters",
			conf->name);
		goto fail;
	}
	if (provider_request_url(out, conf, err, errlen, "%s", "") != 0 ||
	    provider_receipt_url_check(conf, err, errlen) != 0)
		goto fail;
	if (provider_request_header(out, "Content-Type: application/json") != 0 ||
	    provider_request_header(out, "Accept: application/json") != 0 ||
	    (conf->token[0] != '\0' &&
	     provider_request_header(out, "Authorization: Bearer %s", conf->token) != 0)) {
		err_set(err, errlen, "provider %s: cannot add headers", conf->name);
		goto fail;
	}

	if (provider_request_messages_json(out, conf, msgs, n, message_json, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	provider_request_clear(out);
	return -1;
}

/* ---- parse ---------------------------------------------------------------- */

/* A retry_after_ms member's value as a wait in ms, or -1 if absent,
 * negative or absurd. */
static int64_t body_retry_after(struct jscan_val v)
{
	int64_t i;
	double d;

	if (jscan_int(v, &i) == 0)
		return i >= 0 ? i : -1;
	if (jscan_real(v, &d) != 0)
		return -1;
	if (!isfinite(d) || d < 0 || d > WEBHOOK_RETRY_AFTER_MAX_MS)
		return -1;
	return (int64_t)d;
}

/* The members of a result entry entry_outcome reads, in one walk. */
enum { EN_ID, EN_STATUS, EN_ERROR, EN_PROVIDER_ID, EN_RETRY_AFTER, EN_KEYS };
static const char *const entry_keys[EN_KEYS] = {
	[EN_ID] = "id", [EN_STATUS] = "status", [EN_ERROR] = "error",
	[EN_PROVIDER_ID] = "provider_id", [EN_RETRY_AFTER] = "retry_after_ms",
};

/* The outcome of one result entry into *r. */
static void entry_outcome(const struct provider_response *resp, const struct jscan_val *e,
			  const char *ref, struct provider_result *r)
{
	(void)ref;
	char statusb[PROVIDER_JSON_STR_MAX], errorb[PROVIDER_JSON_STR_MAX];
	char idb[PROVIDER_JSON_STR_MAX];
	const char *status = provider_json_strv(e[EN_STATUS], statusb, sizeof(statusb));
	const char *error = provider_json_strv(e[EN_ERROR], errorb, sizeof(errorb));
	const char *sep = error != NULL ? ": " : "";
	int64_t wait;

	if (error == NULL)
		error = "";
	if (status == NULL) {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "webhook result without a status");
	} else if (strcmp(status, "accepted") == 0) {
		provider_result_sent(r, provider_json_strv(e[EN_PROVIDER_ID], idb, sizeof(idb)));
	} else if (strcmp(status, "rejected") == 0) {
		provider_result_set(r, PROVIDER_FAILED, 0, -1, "webhook rejected%s%s", sep, error);
	} else if (strcmp(status, "retry") == 0) {
		provider_result_set(r, PROVIDER_RETRY, 0, -1, "webhook retry%s%s", sep, error);
	} else if (strcmp(status, "throttled") == 0) {
		wait = body_retry_after(e[EN_RETRY_AFTER]);
		if (wait < 0)
			wait = resp->retry_after_ms;
		provider_result_set(r, PROVIDER_THROTTLED, 0, wait, "webhook throttled%s%s", sep,
				    error);
	} else {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "webhook unknown status \"%.32s\"",
				    status);
	}
}

/* An error status's body: {"error": "text", "retry_after_ms": N}. */
static void error_detail(struct jscan_val root, char *detail, size_t len)
{
	char errorb[PROVIDER_JSON_STR_MAX];
	const char *error = provider_json_str(root, "error", errorb, sizeof(errorb));

	snprintf(detail, len, "%s", error != NULL ? error : "");
}

/* A Retry-After header wins; the body's retry_after_ms fills in. */
static void error_retry_after(struct jscan_val root, size_t n, struct provider_result *out)
{
	int64_t wait = body_retry_after(jscan_get(root, "retry_after_ms"));

	for (size_t i = 0; i < n && wait >= 0; i++)
		if (out[i].status == PROVIDER_THROTTLED && out[i].retry_after_ms < 0)
			out[i].retry_after_ms = wait;
}

/* One result per message, matched by our reference. */
static const struct provider_batch_answer webhook_answer = {
	.list = "results",
	.keys = entry_keys,
	.n_keys = EN_KEYS,
	.missing = "webhook answer has no result for this message",
	.entry = entry_outcome,
	.error_detail = error_detail,
	.after_error = error_retry_after,
};

static void webhook_parse(const struct provider_conf *conf, const struct provider_response *resp,
			  const struct provider_msg *msgs, size_t n, struct provider_result *out)
{
	(void)conf;
	provider_batch_parse(&webhook_answer, resp, msgs, n, out);
}

/* ---- receipts --------------------------------------------------------------- */

#define BEARER "Bearer "

static const struct provider_status_word statuses[] = {
	{ "delivered", 1, 1 },
	{ "undelivered", 1, 0 },
	{ "pending", 0, 0 },
};

/* The members of a receipt report_of reads. */
enum { RC_REF, RC_ID, RC_STATUS, RC_WORD, RC_ERROR, RC_AT, RC_KEYS };
static const char *const receipt_keys[RC_KEYS] = {
	[RC_REF] = "ref", [RC_ID] = "id", [RC_STATUS] = "status",
	[RC_WORD] = "provider_status", [RC_ERROR] = "error", [RC_AT] = "at",
};

/* One element of "receipts" into *r. */
static int report_of(struct jscan_val entry, int64_t now_ms, struct provider_receipt *r,
		     char *err, size_t errlen)
{
	char bufs[RC_KEYS][PROVIDER_JSON_STR_MAX];
	const char *v[RC_KEYS];
	struct jscan_val m[RC_KEYS];
	struct provider_report rep = { .ref_name = "ref", .at_name = "at" };

	jscan_members(entry, receipt_keys, m, RC_KEYS);
	for (int i = 0; i < RC_KEYS; i++) {
		if (provider_json_opt_str(m[i], bufs[i], sizeof(bufs[i]), &v[i]) != 0) {
			err_set(err, errlen, "%s is not a string", receipt_keys[i]);
			return PROVIDER_RECEIPT_MALFORMED;
		}
	}
	if (v[RC_REF] == NULL || v[RC_STATUS] == NULL) {
		err_set(err, errlen, "no ref or no status");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	provider_status_lookup(statuses, sizeof(statuses) / sizeof(statuses[0]), v[RC_STATUS],
			       &rep.final, &rep.delivered);
	rep.ref = v[RC_REF];
	rep.provider_id = v[RC_ID];
	rep.status = v[RC_WORD] != NULL ? v[RC_WORD] : v[RC_STATUS];
	rep.error = v[RC_ERROR];
	rep.at = v[RC_AT];
	return provider_receipt_fill(r, &rep, now_ms, err, errlen);
}

/* With a token, the gateway must send "Authorization: Bearer <token>". */
static int bearer_ok(const struct provider_conf *conf, const struct provider_callback *cb)
{
	const char *auth = provider_callback_header(cb, "Authorization");
	size_t pl = sizeof(BEARER) - 1;

	if (conf->token[0] == '\0')
		return 1;
	if (auth == NULL || strncasecmp(auth, BEARER, pl) != 0)
		return 0;
	return hmac_equal(auth + pl, strlen(auth + pl), conf->token, strlen(conf->token));
}

static int webhook_receipts(const struct provider_conf *conf, const struct provider_callback *cb,
			    struct provider_receipt *out, size_t cap, size_t *n, char *err,
			    size_t errlen)
{
	*n = 0;
	if (!bearer_ok(conf, cb)) {
		err_set(err, errlen, "no Authorization, or not the configured bearer token");
		return PROVIDER_RECEIPT_FORGED;
	}
	return provider_receipts_list(cb, "receipts", report_of, out, cap, n, err, errlen);
}

const struct provider_ops provider_webhook_ops = {
	.api = "webhook",
	.max_batch = PROVIDER_WEBHOOK_MAX_BATCH,
	.max_text_segments = PROVIDER_SMS_PARTS_MAX, /* the contract in PROVIDERS.md */
	.count_segments = 1, /* billed per SMS part: PROVIDERS.md */
	.build = webhook_build,
	.parse = webhook_parse,
	.receipts = webhook_receipts,
};
