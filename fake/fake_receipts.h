/*
 * fake_receipts: the delivery reports of the fake provider: which reports
 * an accepted message gets (its plan, from the seeded draws), and how each
 * API writes them (method, URL, headers, body) as the real provider does.
 * No I/O: fake_callbacks keeps the plans, sends what fake_receipts_build()
 * makes and records the answers.  The only fake/ module that uses
 * libcrypto (Twilio's signature).
 *
 * The plan of a message, drawn at its acceptance (time A, delay d uniform
 * in [delay_min_ms, delay_max_ms]):
 *   interim  (share `interim`, not with Sinch's per_recipient_final) stamped
 *            and due at A + d/2;
 *   final    delivered, or undelivered (share `undelivered`, one of the
 *            API's realistic failures, drawn), stamped and due at A + d;
 *   repeat   (share `repeat`) the same final report again, once the first
 *            copy is done (answered or given up) and a gap drawn as d;
 *   older    (share `out_of_order`) once the final (and its repeat) is
 *            done and a gap: a report older than the final one that
 *            contradicts it, stamped FAKE_RECEIPTS_OLDER_BY_MS before it
 *            (undelivered after a delivered, delivered after an
 *            undelivered; the stamp may fall before the acceptance); for
 *            Twilio, whose reports carry no time, an interim "sent".
 * A share tail_share of the messages has every report sent tail_ms later
 * than due (a slow network: the stamps do not move).  The draws of the
 * k-th message are fake_sms_draw(seed, k, ...): the same seed gives the
 * same plans to the same sequence of messages.
 *
 * The reports, per API (what fake_receipts_build() writes):
 * Twilio   POST application/x-www-form-urlencoded to the StatusCallback URL
 *          as given, fields AccountSid, ApiVersion, ErrorCode (failures
 *          only), From (the request's; empty when it went through a
 *          Messaging Service), MessageSid, MessageStatus, SmsSid,
 *          SmsStatus, To;
 *          X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + each
 *          field's name and value, sorted by name)), the auth token being
 *          the password of the request's Basic auth.  MessageStatus: sent
 *          (interim), delivered, undelivered (ErrorCode 30003, 30005,
 *          30006) or failed (30008).
 * Infobip  POST application/json {"results": [...]}, several reports in one
 *          request (fake_callbacks batches them), each {"bulkId"?,
 *          "messageId", "to", "sentAt" (the acceptance), "doneAt" (the
 *          stamp), "smsCount", "price", "status", "error"} with times as
 *          "2026-12-07T18:00:01.123+0000".  status: PENDING_ENROUTE
 *          (interim), DELIVERED_TO_HANDSET, or UNDELIVERABLE_NOT_DELIVERED
 *          (error 27 EC_ABSENT_SUBSCRIBER), UNDELIVERABLE_REJECTED_OPERATOR
 *          (error 1 EC_UNKNOWN_SUBSCRIBER), EXPIRED_EXPIRED (error 27).
 * Sinch    POST application/json, one report a request:
 *          {"type": "recipient_delivery_report_sms", "batch_id",
 *          "recipient", "code", "status", "at" (the stamp),
 *          "operator_status_at" (SINCH_OPERATOR_LAG_MS before it),
 *          "client_reference"?}, times as "2026-12-07T18:00:01.123Z".
 *          status/code: Dispatched/401 (interim), Delivered/0, or
 *          Failed/404, Expired/406, Rejected/408, Aborted/402.
 * Vonage   GET with the fields in the query (default), POST form, or POST
 *          JSON (all values strings), as the account's setting says
 *          (vonage_method): msisdn (the recipient), to (the sender),
 *          network-code, messageId (the first part's), price, status,
 *          scts (YYMMDDHHMM), err-code, api-key (the request's key),
 *          message-timestamp ("2026-12-07 18:00:01", UTC), client-ref (when
 *          the request had one).  status/err-code: buffered/0 (interim),
 *          delivered/0, or failed/3, expired/2, rejected/6, failed/99.
 *          XXX: one report per message; Vonage sends one per SMS part.
 * webhook  POST application/json {"receipts": [...]}, several a request,
 *          each {"ref", "id", "status", "provider_status", "error", "at"}
 *          ("at": "2026-12-07T18:00:01Z"), with Authorization: Bearer
 *          <the token of the request> when it had one.  status/
 *          provider_status/error: pending/ENROUTE/"" (interim),
 *          delivered/DELIVRD/"", or undelivered with UNDELIV/"absent
 *          subscriber", EXPIRED/"validity period expired", REJECTD/
 *          "rejected by the network".
 *
 * Threads: every function is pure (no state); fake_receipts_build() may run
 * on any thread.
 */
#ifndef SMSQ_FAKE_RECEIPTS_H
#define SMSQ_FAKE_RECEIPTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"
#include "fake/fake_apis.h"
#include "fake/fake_buf.h"

#define FAKE_RECEIPTS_PLAN_MAX 4         /* reports a message gets at most */
#define FAKE_RECEIPTS_OLDER_BY_MS 1000   /* an older report's stamp before the final's:
					    a second, which Vonage's and the webhook's
					    second-resolution times still order */
#define FAKE_RECEIPTS_HEADERS_MAX 3      /* header lines of a report request */

/* What a report says. */
enum fake_report_kind {
	FAKE_REPORT_INTERIM = 0,     /* not final yet (sent, pending, dispatched...) */
	FAKE_REPORT_DELIVERED = 1,   /* final: delivered */
	FAKE_REPORT_UNDELIVERED = 2, /* final: not delivered */
};

#define FAKE_REPORT_REPEAT 1u        /* flag: the second copy of the final report */
#define FAKE_REPORT_OLDER 2u         /* flag: older than the final, sent after it */

/* How Vonage's reports are sent (an account setting at Vonage). */
enum fake_vonage_method {
	FAKE_VONAGE_GET = 0,         /* GET, the fields in the query */
	FAKE_VONAGE_POST = 1,        /* POST application/x-www-form-urlencoded */
	FAKE_VONAGE_JSON = 2,        /* POST application/json */
};

struct fake_receipts_opts {
	int64_t delay_min_ms;        /* acceptance to final report, at least */
	int64_t delay_max_ms;        /* ... at most (>= delay_min_ms) */
	double tail_share;           /* share of messages whose reports leave later */
	int64_t tail_ms;             /* ... by this much */
	int64_t hold_ms;             /* --receipt-hold-s: none leaves before this long
					after the start (0: none held) */
	int64_t hold_until_ms;       /* that moment (CLOCK_MONOTONIC ms), set by
					fake_callbacks_new(); 0: none */
	double undelivered;          /* share reported undelivered */
	double repeat;               /* share whose final report is sent twice */
	double out_of_order;         /* share that gets an older report after the final */
	double interim;              /* share that gets an interim report first */
	enum fake_vonage_method vonage_method; /* how Vonage's reports go */
	uint64_t seed;               /* --seed */
};

/* One report of a message's plan. */
struct fake_report {
	uint8_t kind;                /* enum fake_report_kind */
	uint8_t flags;               /* FAKE_REPORT_REPEAT, FAKE_REPORT_OLDER */
	uint8_t variant;             /* which failure of the API's (undelivered) */
	int64_t stamp_ms;            /* when it happened (wall clock ms): its time */
	int64_t due_ms;              /* first reports: when to send it (CLOCK_MONOTONIC
					ms); follow-ups: how long after the report
					before it is done */
};

/* A message's reports in sending order: r[0..n_first) are due at their
 * due_ms (an interim, the final), the others follow the final one each
 * after the one before is done (see the top). */
struct fake_plan {
	struct fake_report r[FAKE_RECEIPTS_PLAN_MAX]; /* the reports */
	unsigned n;                  /* how many */
	unsigned n_first;            /* due at a time of their own */
};

/* An accepted message whose reports are asked for, as its reports need it
 * (strings borrowed: fake_callbacks keeps copies). */
struct fake_receipt_msg {
	enum fake_api api;           /* its API */
	const char *url;             /* where the reports go */
	struct fake_receipt_src src; /* from its request (fake_apis_receipt_src()) */
	const char *ref;             /* the client's reference, NULL: none */
	const char *provider_id;     /* the provider's id for it (Infobip: the
					messageId, given or generated) */
	const char *to;              /* its destination as sent */
	unsigned segments;           /* its SMS parts */
	int64_t accepted_ms;         /* when it was accepted (wall clock ms) */
};

/* One report to write: a message and which of its reports. */
struct fake_receipt_item {
	const struct fake_receipt_msg *msg; /* the message */
	const struct fake_report *report;   /* the report */
};

/* A report request, ready to send. */
struct fake_receipt_http {
	int get;                     /* 1: GET (Vonage), no body */
	char *url;                   /* the URL (owned) */
	struct fake_buf body;        /* the body (owned; empty for a GET) */
	char *headers[FAKE_RECEIPTS_HEADERS_MAX + 1]; /* "Name: value" lines (owned),
							 NULL-terminated */
};

/* Draw the k-th accepted message's plan (accepted at mono_ms and wall_ms);
 * finals_only: no interim report (Sinch's per_recipient_final). */
void fake_receipts_plan(const struct fake_receipts_opts *o, enum fake_api api, int finals_only,
			uint64_t k, int64_t mono_ms, int64_t wall_ms, struct fake_plan *out);

/* Whether api sends several reports in one request (Infobip, webhook). */
int fake_receipts_batches(enum fake_api api);

/* Write the request carrying items[0..n) into *out (which the caller
 * zeroed): n is 1 unless the API batches, and then every item has the
 * same API, URL and secret.  Caller clears *out with
 * fake_receipt_http_clear(). */
void fake_receipts_build(enum fake_vonage_method vonage_method,
			 const struct fake_receipt_item *items, size_t n,
			 struct fake_receipt_http *out);

/* Free what *h owns and zero it.  NULL-safe. */
void fake_receipt_http_clear(struct fake_receipt_http *h);

/* For the record file: "delivered", "undelivered" or "interim". */
const char *fake_receipts_kind_name(enum fake_report_kind kind);

/* For the record file: the report's status and error in the API's words
 * (MessageStatus and ErrorCode, status.name and error.id, status and code,
 * status and err-code, provider_status and error); *error is "" when
 * there is none.  Static strings. */
void fake_receipts_describe(enum fake_api api, const struct fake_report *r,
			    const char **status, const char **error);

/* For the record file: the message as its reports name it, written into
 * buf (len bytes): Twilio: the ref= parameter of the StatusCallback URL
 * (as it stands there), else the MessageSid; Infobip: the messageId;
 * Sinch: the batch id; Vonage: the client-ref, else the message-id;
 * webhook: the message's id.  Returns buf. */
const char *fake_receipts_ref(const struct fake_receipt_msg *m, char *buf, size_t len);

#endif
