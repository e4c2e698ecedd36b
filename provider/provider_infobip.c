/*
 * provider_infobip: Infobip SMS API, "Send SMS message" POST
 * /sms/2/text/advanced (provider/PROVIDERS.md has the wire format and the doc
 * references).
 *
 * One request carries up to PROVIDER_INFOBIP_MAX_BATCH messages, each with
 * its own text and one destination whose messageId is our ref:
 *
 *   POST {base_url}/sms/2/text/advanced
 *   Authorization: App <API key>
 *   {"messages":[{"destinations":[{"to":"33612345678","messageId":"smsq-1"}],
 *                 "from":"InfoSMS","text":"..."}, ...]}
 *
 * "to" is in international format without the leading '+' (the docs'
 * example is 41793026727).  No bulkId is sent: it is optional, Infobip makes
 * one, and a pure function cannot make a unique one (no clock, no random);
 * every answer is matched by messageId, never by position.
 *
 * The 200 answer lists {"to", "messageId", "status": {groupId, groupName,
 * id, name, description}} per destination.  The send answer is an
 * acceptance: PENDING (1) is the normal one.  Outcomes per status:
 *
 *   group 1 PENDING, 3 DELIVERED            -> SENT, provider_id = messageId
 *   5 REJECTED_DUPLICATE_MESSAGE_ID (23)    -> SENT: Infobip already has this
 *                                              messageId, so an earlier request
 *                                              that timed out did go through
 *   5 REJECTED_NOT_ENOUGH_CREDITS (12),     -> RETRY: the account, not the
 *     REJECTED_PREPAID_PACKAGE_EXPIRED (17)    message (top up and it goes)
 *   5 REJECTED_SYSTEM_ERROR (21),           -> RETRY: "retry the submission",
 *     UNDELIVERABLE_REJECTED_PLATFORM (100)    or "service temporarily unavailable"
 *   5 REJECTED_FLOODING_FILTER (20)         -> RETRY: a limit per destination
 *                                              number (messages per hour), so it
 *                                              must not slow the whole provider
 *   5 any name with "THROTTL" in it         -> THROTTLED (none is documented today;
 *                                              throughput limits come as HTTP 429)
 *   other 5 REJECTED, 2 UNDELIVERABLE,      -> FAILED "infobip <groupName>/<name>:
 *     4 EXPIRED                                <description>"
 *   unknown group, no status                -> RETRY, ambiguous
 *   no entry for the message                -> RETRY, ambiguous
 *
 * A whole-request error is {"requestError": {"serviceException": {"messageId",
 * "text"}}} (or the newer {"errorCode", "description"}) with a 4xx/5xx; it
 * goes through provider_fail_all() with that text.
 *
 * Delivery reports.  With a receipt URL, each message of the request adds
 * "notifyUrl": <receipt URL>, "notifyContentType": "application/json", and
 * Infobip POSTs {"results": [...]} there, up to 100 reports a request by
 * default, each {"messageId" (our ref), "to", "sentAt", "doneAt",
 * "status": {groupId, groupName, id, name, description}, "error": {id,
 * name, ...}, "price", ...}.  Nothing signs them: the endpoint's secret
 * path is the authentication.  By status group:
 *
 *   DELIVERED                               -> final, delivered; but
 *     DELIVERED_TO_OPERATOR (id 2)          -> interim: Infobip's status
 *                                              table says a handset report
 *                                              may follow
 *   UNDELIVERABLE, EXPIRED, REJECTED        -> final, not delivered
 *   PENDING, any other group                -> interim
 *
 * status is the status name, error the error id when not 0, the time
 * doneAt (yyyy-MM-dd'T'HH:mm:ss.SSS+0000).
 */
#include "provider/provider.h"
#include "provider/provider_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "common/err.h"

/* Status groups (Infobip "Response status and error codes"). */
enum infobip_group {
	IB_PENDING = 1,
	IB_UNDELIVERABLE = 2,
	IB_DELIVERED = 3,
	IB_EXPIRED = 4,
	IB_REJECTED = 5,
};

/* REJECTED statuses that are not the message's fault, matched by id or name. */
struct rejected_rule {
	json_int_t id;                     /* status id */
	const char *name;                  /* status name */
	enum provider_status outcome;      /* what it means for us */
};

static const struct rejected_rule rejected_rules[] = {
	{ 12, "REJECTED_NOT_ENOUGH_CREDITS", PROVIDER_RETRY },
	{ 17, "REJECTED_PREPAID_PACKAGE_EXPIRED", PROVIDER_RETRY },
	{ 20, "REJECTED_FLOODING_FILTER", PROVIDER_RETRY },
	{ 21, "REJECTED_SYSTEM_ERROR", PROVIDER_RETRY },
	{ 23, "REJECTED_DUPLICATE_MESSAGE_ID", PROVIDER_SENT },
	{ 100, "UNDELIVERABLE_REJECTED_PLATFORM", PROVIDER_RETRY },
};

/* ---- build ---------------------------------------------------------------- */

/* {"messages":[{"destinations":[{"to":..,"messageId":..}],"from":..,"text":..},..]}
 * written by hand (provider_buf, provider_impl.h says why); the
 * bytes are those jansson's compact dump made (a test compares). */
static void messages_body(struct provider_request *out, const struct provider_conf *conf,
			  const struct provider_msg *msgs, size_t n)
{
	struct provider_buf b = { NULL, 0, 0 };

#define RAW(lit) provider_buf_raw(&b, lit, sizeof(lit) - 1)
	RAW("{\"messages\":[");
	for (size_t i = 0; i < n; i++) {
		const struct provider_msg *m = &msgs[i];

		if (i > 0)
			RAW(",");
		RAW("{\"destinations\":[{\"to\":");
		provider_buf_json_str(&b, m->to[0] == '+' ? m->to + 1 : m->to);
		RAW(",\"messageId\":");
		provider_buf_json_str(&b, m->ref);
		RAW("}]");
		if (conf->sender[0] != '\0') {
			RAW(",\"from\":");
			provider_buf_json_str(&b, conf->sender);
		}
		RAW(",\"text\":");
		provider_buf_json_str(&b, m->text);
		if (conf->receipt_url[0] != '\0') {
			RAW(",\"notifyUrl\":");
			provider_buf_json_str(&b, conf->receipt_url);
			RAW(",\"notifyContentType\":\"application/json\"");
		}
		RAW("}");
	}
	RAW("]}");
#undef RAW
	provider_request_take_body(out, &b);
}

static int infobip_build(const struct provider_conf *conf, const struct provider_msg *msgs,
			 size_t n, struct provider_request *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (provider_check_batch(msgs, n, PROVIDER_INFOBIP_MAX_BATCH, 1, err, errlen) != 0)
		goto fail;
	if (provider_request_url(out, conf, err, errlen, "/sms/2/text/advanced") != 0 ||
	    provider_json_request(out, conf, "App", "Infobip API key", msgs, n, err, errlen) != 0 ||
	    provider_receipt_url_check(conf, err, errlen) != 0)
		goto fail;
	messages_body(out, conf, msgs, n);
	return 0;
fail:
	provider_request_clear(out);
	return -1;
}

/* ---- parse ---------------------------------------------------------------- */

/* The members of an answer entry, and of its status object, entry_outcome
 * reads (each object in one walk). */
enum { EN_ID, EN_STATUS, EN_KEYS };
static const char *const entry_keys[EN_KEYS] = { [EN_ID] = "messageId", [EN_STATUS] = "status" };
enum { ST_GROUP, ST_ID, ST_GNAME, ST_NAME, ST_DESC, ST_KEYS };
static const char *const status_keys[ST_KEYS] = {
	[ST_GROUP] = "groupId", [ST_ID] = "id", [ST_GNAME] = "groupName", [ST_NAME] = "name",
	[ST_DESC] = "description",
};

/* An integer member's value, or def. */
static int64_t int_or(struct jscan_val v, int64_t def)
{
	int64_t x;

	return jscan_int(v, &x) == 0 ? x : def;
}

/* The outcome of one answer entry (whose messageId is ours) into *r. */
static void entry_outcome(const struct provider_response *resp, const struct jscan_val *e,
			  const char *message_id, struct provider_result *r)
{
	char gnameb[PROVIDER_JSON_STR_MAX], nameb[PROVIDER_JSON_STR_MAX];
	char descb[PROVIDER_JSON_STR_MAX];
	struct jscan_val m[ST_KEYS];
	const char *gname, *name, *desc;
	int64_t group, id;
	size_t i;

	if (jscan_type(e[EN_STATUS]) != JSCAN_OBJECT) {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "infobip answer entry without a status");
		return;
	}
	jscan_members(e[EN_STATUS], status_keys, m, ST_KEYS);
	group = int_or(m[ST_GROUP], -1);
	if (group == IB_PENDING || group == IB_DELIVERED) {
		/* Most answers: nothing else to read. */
		provider_result_sent(r, message_id);
		return;
	}
	id = int_or(m[ST_ID], -1);
	gname = provider_json_strv(m[ST_GNAME], gnameb, sizeof(gnameb));
	name = provider_json_strv(m[ST_NAME], nameb, sizeof(nameb));
	desc = provider_json_strv(m[ST_DESC], descb, sizeof(descb));
	if (gname == NULL)
		gname = "?";
	if (name == NULL)
		name = "?";

	switch (group) {
	case IB_REJECTED:
		for (i = 0; i < sizeof(rejected_rules) / sizeof(rejected_rules[0]); i++) {
			const struct rejected_rule *rule = &rejected_rules[i];

			if (id != rule->id && strcmp(name, rule->name) != 0)
				continue;
			if (rule->outcome == PROVIDER_SENT) {
				/* Infobip already holds this messageId: the
				 * earlier, ambiguous request went through. */
				provider_result_set(r, PROVIDER_SENT, 0, -1, "infobip %s/%s",
						    gname, name);
				provider_result_set_id(r, message_id);
			} else {
				provider_result_set(r, rule->outcome, 0, -1, "infobip %s/%s: %s",
						    gname, name, desc != NULL ? desc : "");
			}
			return;
		}
		if (strstr(name, "THROTTL") != NULL) {
			provider_result_set(r, PROVIDER_THROTTLED, 0, resp->retry_after_ms,
					    "infobip %s/%s: %s", gname, name, desc != NULL ? desc : "");
			return;
		}
		__attribute__((fallthrough)); /* a permanent rejection */
	case IB_UNDELIVERABLE:
	case IB_EXPIRED:
		provider_result_set(r, PROVIDER_FAILED, 0, -1, "infobip %s/%s: %s", gname, name,
				    desc != NULL ? desc : "");
		return;
	default:
		provider_result_set(r, PROVIDER_RETRY, 1, -1,
				    "infobip unknown status group %" PRId64 " (%s/%s)",
				    group, gname, name);
		return;
	}
}

/* The text of a whole-request error, into detail ("" if none). */
static void error_detail(struct jscan_val root, char *detail, size_t len)
{
	char idb[PROVIDER_JSON_STR_MAX], textb[PROVIDER_JSON_STR_MAX];
	struct jscan_val exc = jscan_get(jscan_get(root, "requestError"), "serviceException");
	const char *id = provider_json_str(exc, "messageId", idb, sizeof(idb));
	const char *text = provider_json_str(exc, "text", textb, sizeof(textb));

	if (id == NULL && text == NULL) {
		/* The newer error format: {"errorCode": "E429", "description": ...}. */
		id = provider_json_str(root, "errorCode", idb, sizeof(idb));
		text = provider_json_str(root, "description", textb, sizeof(textb));
	}
	snprintf(detail, len, "%s%s%s", id != NULL ? id : "",
		 id != NULL && text != NULL ? ": " : "", text != NULL ? text : "");
}

/* One entry per destination, matched by messageId; an error status's body
 * says why in one of two formats (error_detail()). */
static const struct provider_batch_answer infobip_answer = {
	.list = "messages",
	.keys = entry_keys,
	.n_keys = EN_KEYS,
	.missing = "infobip answer has no entry for this message",
	.entry = entry_outcome,
	.error_detail = error_detail,
};

static void infobip_parse(const struct provider_conf *conf, const struct provider_response *resp,
			  const struct provider_msg *msgs, size_t n, struct provider_result *out)
{
	(void)conf;
	provider_batch_parse(&infobip_answer, resp, msgs, n, out);
}

/* ---- receipts --------------------------------------------------------------- */

#define IB_DELIVERED_TO_OPERATOR 2           /* a DELIVERED status that is not final */

/* Status groups in a report (groupName). */
static const struct provider_status_word groups[] = {
	{ "DELIVERED", 1, 1 },
	{ "UNDELIVERABLE", 1, 0 },
	{ "EXPIRED", 1, 0 },
	{ "REJECTED", 1, 0 },
	{ "PENDING", 0, 0 },
};

/* The members of a report, and of its status and error, report_of reads. */
enum { RP_ID, RP_TO, RP_DONE, RP_STATUS, RP_ERROR, RP_KEYS };
static const char *const report_keys[RP_KEYS] = {
	[RP_ID] = "messageId", [RP_TO] = "to", [RP_DONE] = "doneAt", [RP_STATUS] = "status",
	[RP_ERROR] = "error",
};
enum { RS_GNAME, RS_ID, RS_NAME, RS_KEYS };
static const char *const report_status_keys[RS_KEYS] = {
	[RS_GNAME] = "groupName", [RS_ID] = "id", [RS_NAME] = "name",
};

/* One element of "results" into *r. */
static int report_of(struct jscan_val entry, int64_t now_ms, struct provider_receipt *r,
		     char *err, size_t errlen)
{
	char idb[PROVIDER_JSON_STR_MAX], tob[PROVIDER_JSON_STR_MAX], atb[PROVIDER_JSON_STR_MAX];
	char gnameb[PROVIDER_JSON_STR_MAX], nameb[PROVIDER_JSON_STR_MAX], errorb[PROVIDER_ERROR_MAX];
	struct jscan_val m[RP_KEYS], st[RS_KEYS];
	struct provider_report rep = { .ref_name = "messageId", .at_name = "doneAt" };
	const char *gname;
	int64_t id = -1, code = 0;

	jscan_members(entry, report_keys, m, RP_KEYS);
	jscan_members(m[RP_STATUS], report_status_keys, st, RS_KEYS);
	rep.ref = provider_json_strv(m[RP_ID], idb, sizeof(idb));
	gname = provider_json_strv(st[RS_GNAME], gnameb, sizeof(gnameb));
	if (rep.ref == NULL || gname == NULL) {
		err_set(err, errlen, "no messageId or no status.groupName");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	if (provider_json_opt_int(st[RS_ID], &id) != 0 ||
	    provider_json_opt_int(jscan_get(m[RP_ERROR], "id"), &code) != 0) {
		err_set(err, errlen, "status.id or error.id is not an integer");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	if (provider_json_opt_str(m[RP_TO], tob, sizeof(tob), &rep.to) != 0 ||
	    provider_json_opt_str(m[RP_DONE], atb, sizeof(atb), &rep.at) != 0) {
		err_set(err, errlen, "to or doneAt is not a string");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	rep.status = provider_json_strv(st[RS_NAME], nameb, sizeof(nameb));
	if (rep.status == NULL)
		rep.status = gname;
	provider_status_lookup(groups, sizeof(groups) / sizeof(groups[0]), gname, &rep.final,
			       &rep.delivered);
	if (id == IB_DELIVERED_TO_OPERATOR || strcmp(rep.status, "DELIVERED_TO_OPERATOR") == 0)
		rep.final = rep.delivered = 0;
	snprintf(errorb, sizeof(errorb), "%" PRId64, code);
	rep.error = errorb;
	rep.provider_id = rep.ref; /* the messageId is Infobip's id of it too */
	return provider_receipt_fill(r, &rep, now_ms, err, errlen);
}

static int infobip_receipts(const struct provider_conf *conf, const struct provider_callback *cb,
			    struct provider_receipt *out, size_t cap, size_t *n, char *err,
			    size_t errlen)
{
	(void)conf;
	return provider_receipts_list(cb, "results", report_of, out, cap, n, err, errlen);
}

const struct provider_ops provider_infobip_ops = {
	.api = "infobip",
	.max_batch = PROVIDER_INFOBIP_MAX_BATCH,
	/* No character limit is published: a long text is concatenated, so
	 * the SMS ceiling applies. */
	.max_text_segments = PROVIDER_SMS_PARTS_MAX,
	.count_segments = 1, /* billed per SMS part: PROVIDERS.md */
	.build = infobip_build,
	.parse = infobip_parse,
	.receipts = infobip_receipts,
};
