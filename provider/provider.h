/*
 * provider: the adapter interface between dispatch and an SMS provider's
 * HTTP API.
 *
 * An adapter is two pure functions and a limit: build() turns a batch of
 * messages into ONE HTTP request (URL, headers, body); parse() turns the
 * answer (or the transport failure) into ONE outcome per message.  Adapters
 * do no I/O and never see libcurl: the http module sends what build() made
 * and hands back what came.  So every adapter is unit-tested with byte-exact
 * requests and the providers' documented answers.
 *
 * Outcome rules every adapter follows (provider.c has the full table,
 * PROVIDERS.md each API's):
 *   2xx with the message accepted   -> PROVIDER_SENT, provider's message id kept
 *   a per-message error in a 2xx    -> that message's own outcome (batch APIs,
 *                                      and errors reported in a 200 body)
 *   429, throttling in a body       -> PROVIDER_THROTTLED: retry after
 *                                      Retry-After, and the whole provider
 *                                      slows down (pacing honours it)
 *   503                             -> PROVIDER_UNAVAILABLE: retry after
 *                                      Retry-After, without the slow-down
 *   other 5xx, 408, connection      -> PROVIDER_RETRY (backoff with jitter)
 *   errors
 *   timeout after the request left  -> PROVIDER_RETRY with ambiguous = 1 (the
 *                                      provider may have sent it)
 *   401/403/404/407, DNS, TLS       -> PROVIDER_MISCONFIGURED: our
 *   verification                       configuration (a rotated token, a wrong
 *                                      account), not the message; failing the
 *                                      backlog for it would be worse
 *   other 4xx, invalid number...    -> PROVIDER_FAILED, the provider's reason
 *   a batch refused as a whole for  -> PROVIDER_SPLIT: each message goes again
 *   what may be one message's own      in a request of its own, no attempt
 *   (an API that answers for the       counted, so that one bad number does
 *   batch only: Sinch's 400)           not fail the others (one message: FAILED)
 *   502/504, a 2xx that cannot be   -> PROVIDER_RETRY with ambiguous = 1
 *   read
 *
 * Credentials live in struct provider_conf and are never logged; error texts
 * written by adapters never include them.
 */
#ifndef SMSQ_PROVIDER_H
#define SMSQ_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

#define PROVIDER_NAME_MAX 32
#define PROVIDER_SENDER_MAX 64    /* number, alphanumeric sender or Twilio Messaging Service SID */
#define PROVIDER_URL_MAX 512
#define PROVIDER_SECRET_MAX 256
#define PROVIDER_HEADERS_MAX 8
#define PROVIDER_HEADER_MAX 512
#define PROVIDER_ID_MAX 96        /* provider's message id, bytes incl. NUL */
#define PROVIDER_REASON_MAX 160   /* reason text, bytes incl. NUL */
#define PROVIDER_REF_MAX 48       /* our reference for a message */
#define PROVIDER_RETRY_AFTER_MAX_MS 3600000 /* longest Retry-After honoured: 1 hour */
#define PROVIDER_REF_PREFIX "smsq-" /* our reference is this and the message id */
#define PROVIDER_TO_MAX 24        /* a recipient in a report, bytes incl. NUL */
#define PROVIDER_STATUS_MAX 32    /* a report's status word, bytes incl. NUL */
#define PROVIDER_ERROR_MAX 32     /* a report's error code, bytes incl. NUL */

/* Which API an adapter speaks. */
enum provider_kind {
	PROVIDER_TWILIO = 0,   /* Twilio Programmable Messaging, one message per request */
	PROVIDER_INFOBIP = 1,  /* Infobip SMS API, /sms/2/text/advanced, many per request */
	PROVIDER_WEBHOOK = 2,  /* JSON webhook of an in-house gateway (PROVIDERS.md) */
	PROVIDER_SINCH = 3,    /* Sinch SMS REST API (XMS) batches, many per request */
	PROVIDER_VONAGE = 4,   /* Vonage SMS API, /sms/json, one message per request */
};

/* The config `type` values, for messages naming them. */
#define PROVIDER_TYPES "twilio, infobip, webhook, sinch, vonage"

/* A provider's identity and credentials, from the config file. */
struct provider_conf {
	char name[PROVIDER_NAME_MAX];         /* config section name, e.g. "primary" */
	enum provider_kind kind;              /* which adapter */
	char base_url[PROVIDER_URL_MAX];      /* e.g. https://api.twilio.com, no trailing / */
	char account[PROVIDER_SECRET_MAX];    /* Twilio account SID / Sinch service plan
						 id / Vonage API key (unused by others) */
	char token[PROVIDER_SECRET_MAX];      /* Twilio auth token / Infobip API key /
						 webhook bearer token (may be empty) /
						 Sinch API token / Vonage API secret */
	char sender[PROVIDER_SENDER_MAX];     /* "From": number, alphanumeric sender, or a
						 Twilio Messaging Service SID ("MG...") */
	char receipt_url[PROVIDER_URL_MAX];   /* where the provider calls back with delivery
						 reports: receipts.url + "/receipts/<name>/
						 <receipts.token>" ("": none asked for); it
						 holds a secret: never logged */
};

/* One message of a batch (all borrowed from the caller). */
struct provider_msg {
	uint64_t id;               /* smsq message id */
	const char *ref;           /* our reference, stable across retries ("smsq-<id>"):
				      sent where the API takes a client message id, so
				      a repeat after an ambiguous timeout is recognisable */
	const char *to;            /* E.164 destination, "+33612345678" */
	const char *text;          /* UTF-8 text */
	unsigned segments;         /* parts this text costs */
	int ucs2;                  /* 1: the text goes as UCS-2 (a character outside
				      GSM-7, text/gsm.h); filled only for an adapter
				      whose needs_encoding is set */
};

/* The HTTP request build() makes.  Owned by the caller, who releases the body
 * with provider_request_clear(). */
struct provider_request {
	char url[PROVIDER_URL_MAX + 256];                       /* full URL */
	char headers[PROVIDER_HEADERS_MAX][PROVIDER_HEADER_MAX]; /* "Name: value" */
	size_t n_headers;                                       /* headers used */
	char basic_user[PROVIDER_SECRET_MAX];                   /* HTTP Basic user, or "" */
	char basic_pass[PROVIDER_SECRET_MAX];                   /* HTTP Basic password */
	char *body;                                             /* malloc'ed body */
	size_t body_len;                                        /* its length */
};

/* What came back (borrowed by parse()). */
struct provider_response {
	int transport;             /* enum provider_transport */
	long status;               /* HTTP status when transport == PROVIDER_T_OK */
	const char *body;          /* response body (not NUL-terminated), may be NULL */
	size_t body_len;           /* its length */
	int64_t retry_after_ms;    /* Retry-After header in ms, -1 if absent */
	const char *error;         /* transport error text (libcurl's), or NULL */
	int config;                /* a transport failure no request can cause (DNS, TLS
				      verification, URL): our configuration, not the message */
};

enum provider_transport {
	PROVIDER_T_OK = 0,         /* an HTTP answer arrived */
	PROVIDER_T_NOT_SENT = 1,   /* connect/DNS/TLS failure: the request never left */
	PROVIDER_T_AMBIGUOUS = 2,  /* timeout or reset after the request was sent */
	PROVIDER_T_WITHHELD = 3,   /* held back by the caller before it left (http_set_gate) */
};

/* The outcome of one message. */
enum provider_status {
	PROVIDER_SENT = 0,         /* accepted by the provider */
	PROVIDER_RETRY = 1,        /* transient: retry with backoff */
	PROVIDER_THROTTLED = 2,    /* the provider says slow down: retry after retry_after_ms */
	PROVIDER_FAILED = 3,       /* permanent: never retry */
	PROVIDER_UNAVAILABLE = 4,  /* 503: cannot take it now; retry after retry_after_ms
				      (-1: unknown, a short hold) */
	PROVIDER_MISCONFIGURED = 5,/* our configuration is wrong (401, 403, 404, 407, DNS,
				      TLS): not the message's fault, not an attempt */
	PROVIDER_SPLIT = 6,        /* the request was refused as a whole for what may be
				      another message's fault: send it again in a request
				      of its own; not an attempt (never for a request of
				      one message) */
};

struct provider_result {
	enum provider_status status;          /* what happened */
	int ambiguous;                        /* 1: the provider may have sent it */
	int64_t retry_after_ms;               /* THROTTLED, UNAVAILABLE: wait (-1: not said) */
	char provider_id[PROVIDER_ID_MAX];    /* SENT: the provider's message id (Twilio
						 also sets it on FAILED, for its logs) */
	char reason[PROVIDER_REASON_MAX];     /* RETRY/THROTTLED/FAILED: why, e.g.
						 "http 400 code 21211: Invalid 'To' Phone Number" */
};

/* ---- delivery reports -------------------------------------------------------
 *
 * A provider that took a message reports later, by calling the receipt
 * endpoint (outcome/receive.h), whether it reached the handset.  build()
 * asks for those reports when conf->receipt_url is set, in the API's own
 * way (PROVIDERS.md, "Delivery reports"); receipts() reads one callback.
 */

/* A request made to the receipt endpoint, as receipts() reads it.  Strings
 * are borrowed for the call. */
struct provider_callback {
	const char *method;        /* "POST", "GET" */
	const char *content_type;  /* its Content-Type, parameters included ("": none) */
	const char *body;          /* the body (not NUL-terminated), may be NULL */
	size_t body_len;           /* its length */
	/* A query argument (URL-decoded) or a request header (case-insensitive
	 * name), or NULL when absent. */
	const char *(*arg)(void *ctx, const char *name);
	const char *(*header)(void *ctx, const char *name);
	void *ctx;                 /* for arg() and header() */
	int64_t now_ms;            /* wall clock: the time of a report that says none */
};

/* What receipts() made of a callback. */
enum provider_receipt_rc {
	PROVIDER_RECEIPT_OK = 0,         /* read: out[0..*n) */
	PROVIDER_RECEIPT_MALFORMED = -1, /* not a report of this API, or too many (the
					    endpoint answers 400) */
	PROVIDER_RECEIPT_FORGED = -2,    /* a signature or an account that is not ours
					    (403) */
};

/* One delivery report. */
struct provider_receipt {
	int final;                         /* 1: the message's last word (delivered or
					      not); 0: an interim status (queued,
					      handed to the carrier...): nothing to record */
	int delivered;                     /* final: 1 delivered, 0 not (failed,
					      expired, rejected in the network) */
	uint64_t id;                       /* the message, from our reference; 0 when the
					      report names it by provider_id and to only
					      (receipts_by_to) */
	char provider_id[PROVIDER_ID_MAX]; /* the provider's id of the message ("": not said) */
	char to[PROVIDER_TO_MAX];          /* the recipient, as the report writes it ("") */
	int64_t at_ms;                     /* the report's own time, wall clock (the
					      callback's now_ms when it says none) */
	char status[PROVIDER_STATUS_MAX];  /* the provider's status word ("DELIVERED") */
	char error[PROVIDER_ERROR_MAX];    /* its error code ("": none) */
};

/* The message id of our reference ("smsq-42" -> 42).  0 or -1 (not ours). */
int provider_ref_id(const char *ref, uint64_t *id) SMSQ_WARN_UNUSED;

/*
 * An adapter.  max_text_units and max_text_segments are the largest text
 * the API takes (provider/PROVIDERS.md gives each number and its source):
 * ingest refuses a longer text when the provider is configured, since
 * failover may hand any message to any configured provider.
 */
struct provider_ops {
	const char *api;           /* "twilio", "infobip", "webhook", "sinch", "vonage"
				      (config `type`) */
	size_t max_batch;          /* most messages in one request (1 for Twilio) */
	size_t max_text_units;     /* longest text in UTF-16 code units, what the API
				      calls characters (0: no such limit) */
	size_t max_text_segments;  /* most SMS parts one text may cost (0: no such limit) */
	int distinct_to;           /* 1: a destination at most once per request (Sinch:
				      texts are keyed by number); build() refuses a
				      repeat, provider_distinct_prefix() cuts a batch */
	int count_segments;        /* what the provider's limit counts by default
				      (config `count = auto`): 1 SMS parts, 0 messages */
	int needs_encoding;        /* 1: build() reads provider_msg.ucs2 */
	int receipts_by_to;        /* 1: a report names its message by the provider's id
				      and the recipient only (Sinch: the batch id):
				      dispatch indexes each send by both */
	/* Build the request for msgs[0..n) (1 <= n <= max_batch).  out is
	 * overwritten, not freed: clear a previous request first.  Returns 0, or
	 * -1 with err set (e.g. a text that cannot be encoded); the request is
	 * then empty. */
	int (*build)(const struct provider_conf *conf, const struct provider_msg *msgs,
		     size_t n, struct provider_request *out, char *err, size_t errlen);
	/* Fill out[0..n) for the answer to the request built for msgs[0..n). */
	void (*parse)(const struct provider_conf *conf, const struct provider_response *resp,
		      const struct provider_msg *msgs, size_t n, struct provider_result *out);
	/* Read the delivery reports of one callback into out[0..cap), *n of them,
	 * checking what the API lets us check (a signature, our account).
	 * Returns enum provider_receipt_rc; on an error err says why (never a
	 * secret) and *n is 0.  More than cap reports is MALFORMED. */
	int (*receipts)(const struct provider_conf *conf, const struct provider_callback *cb,
			struct provider_receipt *out, size_t cap, size_t *n, char *err,
			size_t errlen);
};

/* The adapter for kind, or NULL.  Static data: never freed. */
const struct provider_ops *provider_ops_for(enum provider_kind kind);

/* Parse a config `type` value (one of PROVIDER_TYPES).  0 or -1. */
int provider_kind_parse(const char *name, enum provider_kind *out) SMSQ_WARN_UNUSED;

/* How many of msgs[0..n), from the first, can go in one request without a
 * destination twice: n, or the index of the first repeat.  For an adapter
 * whose distinct_to is set; 0 when n is 0. */
size_t provider_distinct_prefix(const struct provider_msg *msgs, size_t n);

/* Check a provider's configuration by building a request for one sample
 * message: the errors build() would give for every message (an empty token
 * or sender, an unusable base URL) are found at start-up instead.
 * Returns 0, or -1 with err set. */
int provider_conf_check(const struct provider_conf *conf, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* Release out->body and reset the request.  NULL-safe. */
void provider_request_clear(struct provider_request *req);

/*
 * The shared rules for a whole-request answer that is not a success: sets
 * every out[i] from the transport result or the HTTP status (429/503 ->
 * THROTTLED with Retry-After, other 5xx -> RETRY, other 4xx -> FAILED with
 * reason, ambiguous transport -> RETRY ambiguous).  detail (may be NULL) is
 * appended to the reason (e.g. the provider's error message).  Adapters call
 * it for answers they do not parse per message.
 */
void provider_fail_all(const struct provider_response *resp, const char *detail,
		       size_t n, struct provider_result *out);

/* Parse a Retry-After header value (delta-seconds or an HTTP-date) relative
 * to now_ms (wall clock).  Returns ms in [0, PROVIDER_RETRY_AFTER_MAX_MS], or
 * -1 if unparseable. */
int64_t provider_parse_retry_after(const char *value, int64_t now_ms);

#endif
