/*
 * fake_apis: the five SMS APIs the fake provider speaks: how a request is
 * authenticated and parsed into messages, and how the answer is written,
 * each in the provider's own documented shapes.  No I/O and no HTTP
 * library here: fake_server hands in what it read (headers, body, the
 * decoded form fields of Twilio and Vonage) and sends what comes out
 * (status, JSON, headers).
 *
 * Twilio (Programmable Messaging, Messages resource)
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded To,
 *   From or MessagingServiceSid, Body; HTTP Basic auth whose user is the
 *   AccountSid of the path (any password).
 *   201  the Message resource: sid "SM" + 32 hex, status "queued" ("accepted"
 *        when sent through MessagingServiceSid without From, with from null
 *        and num_segments "0", as Twilio does), num_segments as a string,
 *        date_created in RFC 2822, error_code null...
 *   Errors {"code", "message", "more_info", "status"}:
 *        401 20003 (no or wrong Basic auth, with WWW-Authenticate),
 *        400 21604 To missing, 21603 From and MessagingServiceSid missing,
 *        21602 Body missing, 21617 Body over 1600 characters, 21211 invalid
 *        To or a --fail-prefix destination, 429 20429 throttled,
 *        404 20404, 405 20004, 500 20500, 503 20503; 413 and 415 have no
 *        documented Twilio code: the fake answers 20413 and 20415.
 *
 * Infobip (SMS API v2, /sms/2/text/advanced)
 *   POST with "Authorization: App <key>" (any key, or one of those given
 *   to fake_apis_new()), Content-Type application/json,
 *   {"bulkId"?, "messages": [{"destinations": [{"to", "messageId"?}], "from",
 *   "text"}]}.
 *   200  {"bulkId"?, "messages": [{"to", "messageId", "status": {...}}]}, one
 *        entry per destination in order; status PENDING_ACCEPTED (group 1
 *        PENDING, id 26, "Message sent to next instance") when accepted;
 *        group 5 REJECTED with id 51 MISSING_TO ("Missing destination.") or
 *        id 52 REJECTED_DESTINATION ("Invalid destination address.") for an
 *        invalid or --fail-prefix destination.  A messageId is generated
 *        when the destination has none; bulkId is echoed, or generated when
 *        the request has several destinations (Infobip omits it for one).
 *   Errors {"requestError": {"serviceException": {"messageId", "text"}}}:
 *        401 UNAUTHORIZED, 400 BAD_REQUEST (bad JSON or shape), 415, 413,
 *        404, 405 BAD_REQUEST, 429 TOO_MANY_REQUESTS (the whole batch is
 *        throttled: Infobip has no per-message throttle), 5xx GENERAL_ERROR.
 *
 * Generic webhook (smsq's own contract)
 *   POST /webhook, Content-Type application/json, "Authorization: Bearer
 *   <token>" required only when tokens are configured (then any of them),
 *   {"messages": [{"id", "to" (E.164 with '+'), "text", "segments"?}]}.
 *   200  {"results": [{"id", "status": "accepted", "provider_id"} |
 *        {"id", "status": "rejected", "error"} |
 *        {"id", "status": "throttled", "retry_after_ms"}]} in request order;
 *        "retry" (transient, per message) is part of the contract but this
 *        fake never answers it.
 *   429  the same body plus "error": "throttled" when every message of the
 *        batch is throttled, with Retry-After.
 *   Errors {"error": "..."}: 400, 401, 404, 405, 413, 415, 5xx.
 *
 * Sinch (SMS REST API, "XMS": batches)
 *   POST /xms/v1/{service_plan_id}/batches with "Authorization: Bearer
 *   <token>" (any token, or one of those given to fake_apis_new()),
 *   Content-Type application/json, {"from"?, "to": [1..1000 numbers],
 *   "body", "parameters"?: {key: {number: value, "default"?: value}},
 *   "client_reference"?}.  Each recipient's text is the body with every
 *   ${key} replaced by its value for that number, else the key's default;
 *   a recipient left without a value fails alone (rejected, "no value for
 *   parameter <key>": Sinch fails "that MSISDN but not the other
 *   recipients"), the batch is still accepted.
 *   201  the batch: {"id" (26 characters, shared by every message), "to",
 *        "from", "canceled": false, "parameters", "body", "type":
 *        "mt_text", "created_at", "modified_at", "delivery_report": "none",
 *        "expire_at", "flash_message": false, "client_reference"?}.
 *   The batch is refused as a whole for one recipient (its messages all
 *   rejected, the others with FAKE_REJECT_WITH_BATCH): 400
 *   syntax_invalid_parameter_format for a number that is not an MSISDN,
 *   400 syntax_constraint_violation for a number twice in the batch (the
 *   fake's answer: Sinch documents no answer for it), 403
 *   illegal_number_type for a --fail-prefix number.  Errors {"code",
 *   "text"}: 401 unauthorized, 400 syntax_invalid_json,
 *   syntax_constraint_violation (to, body), 413, 415, 404, 405, 429
 *   too_many_requests (the whole batch: Sinch counts recipients), 5xx;
 *   the codes of 401, 404, 405, 413, 415, 429 and 5xx are the fake's own
 *   (Sinch documents those of 400 and 403 only).
 *
 * Vonage (SMS API, /sms/json)
 *   POST /sms/json, form-encoded from, to, text, type (text, unicode),
 *   client-ref?, with HTTP Basic auth (API key : secret) or api_key and
 *   api_secret fields (any secret, or one of those given).  Every answer
 *   to a request it reads is 200 {"message-count", "messages": [...]}:
 *   one entry per SMS part when accepted (status "0", "message-id" each,
 *   "to", "remaining-balance", "message-price", "network", "client-ref"),
 *   else one entry {"status", "error-text"}: 1 Throttled (over the rate
 *   limit), 2 a missing parameter, 3 an invalid "to", 6 "Unroutable
 *   message - rejected" (a --fail-prefix number), 4 "Bad Credentials" (no
 *   or a wrong secret, and --auth-fail).  A text sent as "text" whose
 *   characters are not all GSM-7 is recorded with '?' for each of those
 *   (what the handset would show); parts are counted in the encoding
 *   asked for.  The key is the client-ref, else to ":" hash(text).
 *   Errors the API answers outside the 200 (404, 405, 413, 415, 5xx):
 *   {"type", "title", "detail"}.
 *
 * Delivery reports asked (fake_msg.receipt_url; fake_callbacks sends them,
 * fake_receipts.h has their shapes):
 *   Twilio   form StatusCallback=<url> (the reports go to it as it is);
 *   Infobip  per message "notifyUrl" (every destination of that message);
 *            "notifyContentType" is not read: the reports are JSON;
 *   Sinch    "delivery_report": "per_recipient" (an interim report and the
 *            final one) or "per_recipient_final" (the final one only) with
 *            "callback_url"; "none", "summary" and "full" ask for none the
 *            fake sends (any other value: 400 syntax_constraint_violation);
 *            the 201 echoes delivery_report (default "none") and callback_url;
 *   Vonage   form callback=<url>, unless status-report-req is 0 or false;
 *   webhook  top-level "callback_url".
 * An empty URL asks for nothing.
 *
 * Limits: at most FAKE_APIS_MAX_BATCH messages (Infobip: destinations) per
 * request, otherwise 400; Sinch: FAKE_APIS_SINCH_MAX_TO recipients, a body
 * of FAKE_APIS_SINCH_BODY_MAX characters.
 *
 * Threads: fake_apis functions may run concurrently (the id counter is
 * atomic); a batch or an answer belongs to one request.
 */
#ifndef SMSQ_FAKE_APIS_H
#define SMSQ_FAKE_APIS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fake/fake_msg.h"
#include "common/attrs.h"

#define FAKE_APIS_MAX_BATCH 10000      /* messages per request */
#define FAKE_APIS_TWILIO_BODY_MAX 1600 /* Twilio's Body limit, characters */
#define FAKE_APIS_SINCH_MAX_TO 1000    /* Sinch's "to": 1 to 1,000 */
#define FAKE_APIS_SINCH_BODY_MAX 2000  /* Sinch's body: 0 to 2,000 characters */
#define FAKE_APIS_FORM_MAX 12          /* form fields an API reads */

enum fake_api {
	FAKE_API_TWILIO = 0,
	FAKE_API_INFOBIP = 1,
	FAKE_API_WEBHOOK = 2,
	FAKE_API_SINCH = 3,
	FAKE_API_VONAGE = 4,
	FAKE_API_NONE = 5,             /* not an API path: generic JSON errors */
};

/* "twilio", "infobip", "webhook", "sinch", "vonage" ("none" for
 * FAKE_API_NONE). */
const char *fake_api_name(enum fake_api api);

/* The form fields a form-encoded API reads (Twilio, Vonage), in the order
 * of fake_request.form[], NULL-terminated (at most FAKE_APIS_FORM_MAX); NULL
 * for a JSON API. */
const char *const *fake_apis_form_fields(enum fake_api api);

/* What fake_server read from one request; all borrowed, NUL-terminated,
 * NULL when absent. */
struct fake_request {
	enum fake_api api;             /* which API the path selected */
	const char *path_account;      /* the account in the path: Twilio's
					  {AccountSid}, Sinch's {service_plan_id} */
	const char *basic_user;        /* the HTTP Basic user (Twilio, Vonage) */
	const char *basic_pass;        /* its password */
	const char *authorization;     /* the Authorization header */
	const char *content_type;      /* the Content-Type header */
	const char *body;              /* the body (JSON APIs), body_len bytes */
	size_t body_len;               /* its length */
	const char *form[FAKE_APIS_FORM_MAX]; /* the API's form fields, decoded, in
						 fake_apis_form_fields() order */
};

/* An answer for fake_server to send. */
struct fake_answer {
	int status;                    /* HTTP status */
	json_t *body;                  /* JSON body (owned), NULL: empty */
	char *text;                    /* or the body as JSON text (owned, malloc'd) */
	size_t text_len;               /* its length */
	int retry_after_s;             /* > 0: send Retry-After: this */
	int www_authenticate;          /* 1: send WWW-Authenticate (Twilio 401) */
	int unauthorized;              /* 1: it refuses the credentials (a 401, or
					  Vonage's status 4 in a 200) */
};

/* The messages of one request, and what keeps their strings alive. */
struct fake_batch {
	enum fake_api api;             /* the API it came from */
	json_t *root;                  /* parsed JSON body (owned), NULL for Twilio */
	struct fake_msg *msgs;         /* n messages (owned) */
	size_t n;                      /* count */
	const char *bulk_id;           /* Infobip: bulkId to answer, or NULL */
	char bulk_id_own[FAKE_PROVIDER_ID_MAX]; /* a generated bulkId */
	int twilio_code;               /* Twilio: error code for a rejected message */
	char twilio_key[FAKE_KEY_MAX]; /* Twilio: To ":" hash(Body) */
	char **own;                    /* Sinch, Vonage: strings the messages borrow
					  (their texts, keys), each malloc'd */
	size_t n_own;                  /* how many */
	const struct fake_msg *refused_by; /* Sinch: the recipient the batch is
					      refused for (fake_apis_settle()), or NULL */
};

typedef struct fake_apis fake_apis;

#define FAKE_APIS_MAX_KEYS 4           /* credentials taken at once (a rotation) */

/* The credentials an API takes: any of them (none: see each API). */
struct fake_keys {
	const char *v[FAKE_APIS_MAX_KEYS]; /* the keys or tokens */
	size_t n;                          /* how many */
};

struct fake_apis_opts {
	struct fake_keys infobip_keys; /* Infobip API keys taken (none: any key) */
	struct fake_keys webhook_tokens; /* webhook bearer tokens taken (none: no auth) */
	struct fake_keys sinch_tokens; /* Sinch API tokens taken (none: any) */
	struct fake_keys vonage_secrets; /* Vonage API secrets taken (none: any) */
	uint64_t seed;                 /* mixes into the generated ids */
};

/* Copy the options (the strings too).  Never NULL.  Caller destroys. */
fake_apis *fake_apis_new(const struct fake_apis_opts *opts) SMSQ_WARN_UNUSED;

/* Free and set *a to NULL.  Accepts NULL and *a == NULL. */
void fake_apis_destroy(fake_apis **a);

/* Requests authenticated with each configured key or token, as a JSON
 * object {"<key>": requests} (new reference; {} without any): which
 * credentials a client used, and when it moved to another. */
json_t *fake_apis_credentials(fake_apis *a) SMSQ_WARN_UNUSED;

/*
 * Authenticate and parse req into b (which the caller zeroed).
 * Returns 0 with b->msgs[0..b->n) filled (outcomes FAKE_PENDING, rejections
 * by validity already set, provider ids generated), or -1 with ans set to
 * the whole-request error (401, 400, 413, 415) and no message.
 * Either way the caller calls fake_batch_clear(b) after the answer is made
 * (the messages borrow from b).
 */
int fake_apis_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
		    struct fake_answer *ans) FAKE_WARN_UNUSED SMSQ_WARN_UNUSED;

/*
 * The rejections that follow from the others (after fake_apis_parse() and
 * the --fail-prefix ones): Sinch refuses a batch as a whole for a number it
 * cannot take (not an MSISDN, twice in the batch, a --fail-prefix one):
 * b->refused_by is set and every other message of b rejected
 * (FAKE_REJECT_WITH_BATCH).  Nothing for the other APIs.
 */
void fake_apis_settle(struct fake_batch *b);

/*
 * Write into ans the answer to req once every message of b has its
 * outcome (none FAKE_PENDING, FAKE_ERROR or FAKE_UNAUTHORIZED);
 * retry_after_s goes into the throttled answers.
 */
void fake_apis_answer(const struct fake_request *req, const struct fake_batch *b,
		      int retry_after_s, struct fake_answer *ans);

/* Write into ans a whole-request error in api's shape: status (400, 401,
 * 404, 405, 413, 415, 429, 500, 503...) with detail (may be NULL) as the
 * message where the shape has one.  A 401 without detail is each API's
 * answer to bad credentials: Twilio code 20003 "Authenticate" with
 * WWW-Authenticate, Infobip UNAUTHORIZED "Invalid login details", the
 * webhook's {"error": "unauthorized"}, Sinch's {"code": "unauthorized"},
 * Vonage's 200 with status 4 "Bad Credentials" (ans->unauthorized is set
 * for every one).  No Retry-After is set. */
void fake_apis_error(enum fake_api api, int status, const char *detail,
		     struct fake_answer *ans);

/* What the delivery reports of a request's accepted messages need from
 * the request besides each message (whose receipt_url, ref, provider_id,
 * to and segments they use): all borrowed from the request and its batch,
 * NULL when absent. */
struct fake_receipt_src {
	const char *secret;     /* Twilio: the auth token (the Basic password), which
				   signs its reports; Vonage: the API key they carry;
				   webhook: the bearer token they carry */
	const char *account;    /* Twilio: the AccountSid */
	const char *sender;     /* Twilio From, Vonage from */
	const char *batch_ref;  /* Sinch: the batch's client_reference */
	const char *bulk_id;    /* Infobip: the bulkId; Sinch: the batch id */
	int finals_only;        /* 1: Sinch's per_recipient_final, no interim report */
};

/* Fill *out for the delivery reports of b's messages (after
 * fake_apis_parse() returned 0 for req). */
void fake_apis_receipt_src(const struct fake_request *req, const struct fake_batch *b,
			   struct fake_receipt_src *out);

/* Release what b owns and zero it.  NULL-safe. */
void fake_batch_clear(struct fake_batch *b);

/* Release ans->body and zero it.  NULL-safe. */
void fake_answer_clear(struct fake_answer *ans);

#endif
