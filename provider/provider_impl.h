/*
 * provider_impl: what the adapters share.  Internal to provider/provider*.c
 * and tests/test_provider.c and test_receipts.c; dispatch includes
 * provider/provider.h only.
 *
 * Everything here is pure (no I/O, no logging, no mutable globals), as the
 * adapters are.  Texts that reach a provider_result (reasons, ids) go through
 * provider_result_set()/provider_result_set_id(), which bound them, replace
 * control characters and invalid UTF-8, and never cut a UTF-8 character in
 * half: whatever a provider answers, a reason is a short, printable, valid
 * UTF-8 string that can go into a log line or a JSON document as it is.
 */
#ifndef SMSQ_PROVIDER_IMPL_H
#define SMSQ_PROVIDER_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hmac.h"
#include "common/jscan.h"
#include "provider/provider.h"
#include "common/attrs.h"

/* The largest answer body an adapter parses, bytes.  A batch answer is about
 * 250 bytes a message (Infobip, 100 messages: ~25 KB); anything this big is
 * not an answer to our request. */
#define PROVIDER_BODY_MAX (1024 * 1024)

#define PROVIDER_TWILIO_MAX_BATCH 1    /* the Messages resource takes one */
#define PROVIDER_INFOBIP_MAX_BATCH 100 /* our choice: see PROVIDERS.md */
#define PROVIDER_WEBHOOK_MAX_BATCH 100 /* the contract in PROVIDERS.md */
#define PROVIDER_SINCH_MAX_BATCH 1000  /* "to": 1 to 1,000 recipients a batch */
#define PROVIDER_VONAGE_MAX_BATCH 1    /* the SMS API takes one "to" */

/* Longest texts (PROVIDERS.md has the sources). */
#define PROVIDER_TWILIO_TEXT_MAX 1600  /* Body: 1,600 characters (UTF-16 units) */
#define PROVIDER_SINCH_TEXT_MAX 1600   /* body: "Max 1600 chars for mt_text" */
#define PROVIDER_SMS_PARTS_MAX 255     /* parts of a concatenated SMS: the count is
					  one octet (3GPP TS 23.040, 9.2.3.24.1) */

/* The adapters (provider_ops_for() hands them out). */
extern const struct provider_ops provider_twilio_ops;
extern const struct provider_ops provider_infobip_ops;
extern const struct provider_ops provider_webhook_ops;
extern const struct provider_ops provider_sinch_ops;
extern const struct provider_ops provider_vonage_ops;

/* ---- results ------------------------------------------------------------ */

/* Set *r: status, ambiguous flag, retry_after_ms (-1: none) and a reason
 * from fmt (bounded to PROVIDER_REASON_MAX, sanitised as said above).
 * provider_id is emptied. */
void provider_result_set(struct provider_result *r, enum provider_status status,
			 int ambiguous, int64_t retry_after_ms, const char *fmt, ...)
	SMSQ_PRINTF(5, 6);

/* Copy id (may be NULL: "") into r->provider_id, bounded and sanitised. */
void provider_result_set_id(struct provider_result *r, const char *id);

/* ---- requests ----------------------------------------------------------- */

/* Set req->url to conf->base_url (trailing '/' dropped) followed by the
 * formatted path.  Returns 0, or -1 with err (empty or unsafe base URL, URL
 * longer than req->url). */
int provider_request_url(struct provider_request *req, const struct provider_conf *conf,
			 char *err, size_t errlen, const char *fmt, ...)
	SMSQ_PRINTF(5, 6) SMSQ_WARN_UNUSED;

/* Append one "Name: value" header.  Returns 0, or -1 (no room, too long, or
 * a CR/LF/control character in the result: header injection). */
int provider_request_header(struct provider_request *req, const char *fmt, ...)
	SMSQ_PRINTF(2, 3) SMSQ_WARN_UNUSED;

/* Serialise root (compact, keys in insertion order, UTF-8 as is) into a
 * malloc'ed, NUL-terminated req->body.  Returns 0, or -1 with err. */
int provider_request_body_json(struct provider_request *req, const json_t *root,
			       char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* One message of a batch body, as an adapter writes it (NULL on failure). */
typedef json_t *provider_msg_json_fn(const struct provider_conf *conf,
				     const struct provider_msg *m);

/* Set req->body to {"messages": [one(msgs[0]), ..., one(msgs[n-1])]} (the
 * webhook contract's shape), followed by "callback_url": conf->receipt_url
 * when that is set.  Returns 0, or -1 with err. */
int provider_request_messages_json(struct provider_request *req,
				   const struct provider_conf *conf,
				   const struct provider_msg *msgs, size_t n,
				   provider_msg_json_fn *one, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* Check msgs[0..n) before building: 1 <= n <= max, every to/text present and
 * text valid UTF-8; with need_refs, every ref present, shorter than
 * PROVIDER_REF_MAX and unique in the batch (answers are matched by it).
 * Returns 0, or -1 with err naming the message. */
int provider_check_batch(const struct provider_msg *msgs, size_t n, size_t max,
			 int need_refs, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* 1 if s is printable ASCII without spaces (safe inside a header or a URL
 * path segment), else 0.  "" is safe. */
int provider_token_safe(const char *s);

/* 1 if s is non-empty and only ASCII letters and digits (an account id
 * that goes into a URL path), else 0. */
int provider_alnum(const char *s);

/*
 * A growing, always NUL-terminated byte buffer for request bodies written by
 * hand.  Why by hand when jansson is here: building Infobip's request with
 * jansson (a json_t per field, hashing, a dump) costs many times what
 * appending the bytes does, for every message a worker sends.  Parsing
 * answers is in place (common/jscan.h).  Memory: xrealloc (aborts when
 * exhausted).
 */
struct provider_buf {
	char *p;            /* the bytes, NUL-terminated (NULL until the first append) */
	size_t len;         /* bytes used, without the NUL */
	size_t cap;         /* bytes allocated */
};

/* Append n bytes of s. */
void provider_buf_raw(struct provider_buf *b, const char *s, size_t n);

/* Append s (NUL-terminated, valid UTF-8) as a JSON string, quoted and escaped
 * exactly as jansson's compact dump does: '"' and '\' and control characters
 * escaped (\b \f \n \r \t, else \u00XX), everything else as is. */
void provider_buf_json_str(struct provider_buf *b, const char *s);

/* Append one application/x-www-form-urlencoded field "key=value" ('&'
 * before it unless b is empty), value percent-encoded: every byte but RFC
 * 3986's unreserved ALPHA / DIGIT / "-" / "." / "_" / "~" becomes %XX (so
 * '+' is %2B, '&' %26, '=' %3D, and a space %20, which every form parser
 * decodes as it decodes '+').  key is written as is (the caller's literal). */
void provider_buf_form(struct provider_buf *b, const char *key, const char *value);

/* Move b's bytes into req->body (b is left empty). */
void provider_request_take_body(struct provider_request *req, struct provider_buf *b);

/* 1 if s[0..len) is valid UTF-8 (RFC 3629: no overlongs, no surrogates). */
int provider_utf8_valid(const char *s, size_t len);

/* ---- answers ------------------------------------------------------------ */

/* 1 if resp is an HTTP answer with a 2xx status. */
int provider_http_2xx(const struct provider_response *resp);

/*
 * Read the answer body as a JSON object or array, in place (common/jscan.h:
 * checked whole, no tree built; *root points into resp->body).  0, or -1
 * with why set ("empty body", "body too large (N bytes)", "unparseable
 * body: <reason> at byte N").
 */
int provider_json_load(const struct provider_response *resp, struct jscan_val *root, char *why,
		       size_t whylen);

/* Room for a string read from an answer: more than any id or reason kept. */
#define PROVIDER_JSON_STR_MAX 512

/* obj[key] if it is a JSON string, decoded into buf (cap bytes; a longer
 * text is cut at a character boundary), else NULL (obj may be absent or
 * not an object). */
const char *provider_json_str(struct jscan_val obj, const char *key, char *buf, size_t cap);

/* The same for a value found already (jscan_members): v decoded into buf if
 * it is a string, else NULL. */
const char *provider_json_strv(struct jscan_val v, char *buf, size_t cap);

/* A code an API writes as a JSON integer or as a string of digits (Twilio's
 * error codes, Vonage's statuses) into *out: 0, or -1 if v is neither. */
int provider_json_code(struct jscan_val v, int64_t *out);

/* The index of the message whose ref equals ref, or -1.  msgs[hint] is
 * tried first (answers list entries in the order of the request's). */
long provider_find_ref(const struct provider_msg *msgs, size_t n, const char *ref, size_t hint);

/* Members of an answer entry provider_match_entries reads for an adapter. */
#define PROVIDER_ENTRY_KEYS_MAX 8

/* The outcome of one answer entry matched to our message by its reference
 * ref: m[i] is the entry's member keys[i] (absent if it has none), m[0] the
 * reference's. */
typedef void provider_entry_fn(const struct provider_response *resp, const struct jscan_val *m,
			       const char *ref, struct provider_result *r);

/*
 * A 2xx batch answer {"<list_key>": [{"<keys[0]>": ref, ...}, ...]}: each
 * entry is matched to our message by ref (never by position; the first entry
 * for a ref counts, entries not ours are ignored) and given to fn with its
 * members keys[0..n_keys) (at most PROVIDER_ENTRY_KEYS_MAX), read in one
 * walk.  A message the answer does not speak of is RETRY ambiguous (the
 * provider took the request and may send it) with reason `missing`; an
 * unreadable body or no list fails every message through provider_fail_all().
 */
void provider_match_entries(const struct provider_response *resp, const struct provider_msg *msgs,
			    size_t n, struct provider_result *out, const char *list_key,
			    const char *const *keys, size_t n_keys, const char *missing,
			    provider_entry_fn *fn);

/*
 * The answer of a batch API (Infobip's, the webhook contract, Sinch's), as
 * provider_batch_parse() reads it for an adapter: a 2xx body either lists
 * one entry per message under `list` (provider_match_entries() with keys,
 * missing, entry), or, list NULL, speaks of the batch as a whole: whole
 * sets every out[i] from its root (an unreadable body fails them all
 * through provider_fail_all()).  Any other status is an error of the
 * whole request, whose body (root: absent when unreadable) gives the
 * detail every message is failed with (error_detail, may be NULL: none),
 * after which after_error (may be NULL) may amend the results (a retry
 * hint of the body, a split).
 */
struct provider_batch_answer {
	const char *list;
	const char *const *keys;
	size_t n_keys;
	const char *missing;
	provider_entry_fn *entry;
	void (*whole)(struct jscan_val root, const struct provider_response *resp, size_t n,
		      struct provider_result *out);
	void (*error_detail)(struct jscan_val root, char *detail, size_t len);
	void (*after_error)(struct jscan_val root, size_t n, struct provider_result *out);
};

/* The outcome of every message of a batch request from its answer, the
 * one frame of the batch adapters' parse(): a transport failure or an
 * error status fails them all (provider_fail_all()), a 2xx answer is read
 * entry by entry, or as a whole. */
void provider_batch_parse(const struct provider_batch_answer *a,
			  const struct provider_response *resp, const struct provider_msg *msgs,
			  size_t n, struct provider_result *out);

/*
 * The part of a JSON request an adapter writes by hand (provider_buf) that
 * Infobip's and Sinch's share: the token (conf->token, what names it in
 * errors: "Infobip API key") non-empty and safe in a header; the headers
 * "Authorization: <scheme> <token>", Content-Type and Accept
 * application/json; and what jansson would refuse in the body, checked
 * (the sender, each destination and reference valid UTF-8: the texts are
 * provider_check_batch()'s).  Returns 0, or -1 with err naming the field
 * and never the token.
 */
int provider_json_request(struct provider_request *req, const struct provider_conf *conf,
			  const char *scheme, const char *what, const struct provider_msg *msgs,
			  size_t n, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* The outcome of the one message of a request to an API that takes one
 * (Twilio, Vonage), from an HTTP answer: 2xx or not (fn's own reading). */
typedef void provider_single_fn(const struct provider_response *resp, const struct provider_msg *m,
				struct provider_result *r);

/* parse() of an API that takes one message per request: out[0] from a
 * transport failure (provider_fail_all()), or from the answer through ok
 * (a 2xx) or error (any other status); out[1..n), which build() never puts
 * in a request, RETRY ambiguous ("not part of the <api> request").  n == 0
 * or out == NULL: nothing. */
void provider_single_parse(const struct provider_response *resp, const struct provider_msg *msgs,
			   size_t n, struct provider_result *out, provider_single_fn *ok,
			   provider_single_fn *error, const char *api);

/*
 * The part of a form-encoded request with HTTP Basic auth that Twilio's and
 * Vonage's share: the account letters and digits (what_account names it in
 * errors: "Twilio account SID"), the token (what_token: "Twilio auth
 * token") and the sender not empty; the headers Content-Type
 * application/x-www-form-urlencoded and Accept application/json; the Basic
 * credentials account and token (libcurl builds the header from them).
 * Returns 0, or -1 with err naming the field and never the token.
 */
int provider_form_request(struct provider_request *req, const struct provider_conf *conf,
			  const char *what_account, const char *what_token, char *err,
			  size_t errlen) SMSQ_WARN_UNUSED;

/* SENT, with no reason, and the provider's id (sanitized; NULL: none): what
 * provider_result_set and provider_result_set_id give, without formatting. */
void provider_result_sent(struct provider_result *r, const char *id);

/* ---- delivery reports ------------------------------------------------------
 *
 * What the adapters' receipts() share: reading a callback's body (JSON, or
 * a form), a report's time, its status word, and filling a struct
 * provider_receipt from what an adapter read, with the checks every API
 * needs (our reference, lengths, the time).  All pure, as the rest.
 */

/* Fields of a form body provider_form_parse() reads at most: a Twilio
 * status callback has about fifteen, a Vonage receipt about fifteen. */
#define PROVIDER_FORM_FIELDS_MAX 64

/* One field of a decoded form. */
struct provider_form_field {
	const char *name;          /* decoded name, NUL-terminated (in buf) */
	const char *value;         /* decoded value, NUL-terminated (in buf) */
};

/* An application/x-www-form-urlencoded body, decoded.  Owned by the
 * caller, who releases it with provider_form_clear(). */
struct provider_form {
	char *buf;                 /* the decoded names and values (malloc'ed) */
	struct provider_form_field field[PROVIDER_FORM_FIELDS_MAX]; /* in body order */
	size_t n;                  /* fields used */
};

/*
 * Decode body[0..len) (not NUL-terminated; NULL with len 0 is an empty
 * form) into f: fields split at '&' (empty ones skipped), a name from its
 * value at the first '=' (none: an empty value), '+' a space, %XX the byte
 * XX (either case).  Returns 0, or -1 with err ("%-escape not followed by
 * two hex digits", a %00, more than PROVIDER_FORM_FIELDS_MAX fields, a
 * body over PROVIDER_BODY_MAX); f is then empty.  f is overwritten, not
 * freed: clear a previous form first.
 */
int provider_form_parse(const char *body, size_t len, struct provider_form *f, char *err,
			size_t errlen) SMSQ_WARN_UNUSED;

/* The value of the first field called name, or NULL. */
const char *provider_form_get(const struct provider_form *f, const char *name);

/* Release f->buf and empty f.  NULL-safe. */
void provider_form_clear(struct provider_form *f);

/* 1 if content_type (may be NULL) is the media type type, compared without
 * case and without its parameters ("application/json; charset=utf-8" is
 * "application/json"), else 0. */
int provider_media_type_is(const char *content_type, const char *type);

/*
 * A report's time as ms since the epoch: YYYY-MM-DD, then 'T' or a space,
 * hh:mm:ss, an optional fraction of 1 to 9 digits (ms kept, the rest cut),
 * then the zone: 'Z', +hh:mm or +hhmm (or '-'), maybe after one space, or
 * none for UTC.  So Infobip's "2026-12-07T18:00:01.000+0000", Sinch's
 * "2026-12-07T18:00:01.000Z", Vonage's "2026-12-07 18:00:01" and
 * "2026-12-07 18:00:01 +0000", and RFC 3339.  Fields are checked (a 31st of
 * April, a 29th of February outside a leap year, hour 24, offset 24:00 are
 * refused; a leap second :60 is the next minute's first); the result must
 * not be before 1970.  Returns 0 and *ms, or -1 (*ms untouched).
 */
int provider_parse_time(const char *s, int64_t *ms) SMSQ_WARN_UNUSED;

/* The query argument name of cb (URL-decoded), or NULL (absent, or cb
 * has no arg()). */
const char *provider_callback_arg(const struct provider_callback *cb, const char *name);

/* The header name of cb (case-insensitive), or NULL (absent, or cb has no
 * header()). */
const char *provider_callback_header(const struct provider_callback *cb, const char *name);

/* A callback's JSON body: the method is POST and the body one JSON object
 * (common/jscan.h: checked whole, read in place; *root points into
 * cb->body).  Returns PROVIDER_RECEIPT_OK, or PROVIDER_RECEIPT_MALFORMED with
 * err ("not a POST", "empty body", "body too large (N bytes)", "unparseable
 * body: <reason> at byte N", "body is not a JSON object"). */
int provider_callback_json(const struct provider_callback *cb, struct jscan_val *root, char *err,
			   size_t errlen) SMSQ_WARN_UNUSED;

/* An optional member of a report: absent or null sets *out NULL, a string
 * is decoded into buf (as provider_json_strv()) and *out points to it;
 * 0, or -1 (another type) with *out NULL. */
int provider_json_opt_str(struct jscan_val v, char *buf, size_t cap, const char **out)
	SMSQ_WARN_UNUSED;

/* The same for an integer: absent or null leaves *out as it is; 0, or -1
 * (another type, a fraction, an exponent). */
int provider_json_opt_int(struct jscan_val v, int64_t *out) SMSQ_WARN_UNUSED;

/* A status word of an API and what it says of a message. */
struct provider_status_word {
	const char *word;          /* the API's word ("delivered"), compared without case */
	int final;                 /* 1: the message's last word */
	int delivered;             /* final: 1 delivered, 0 not */
};

/* Set *final and *delivered from the entry of words[0..n) for word; a word
 * that is not there (or NULL) is interim: final 0, delivered 0. */
void provider_status_lookup(const struct provider_status_word *words, size_t n,
			    const char *word, int *final, int *delivered);

/* One report as an adapter read it, for provider_receipt_fill(): strings
 * borrowed for the call, NULL where the report has none. */
struct provider_report {
	int final;                 /* as struct provider_receipt */
	int delivered;             /* as struct provider_receipt */
	const char *ref;           /* our reference ("smsq-42"); NULL for a report
				      that names its message by provider_id and to
				      (receipts_by_to) */
	const char *ref_name;      /* what the API calls ref ("messageId"), for err */
	const char *provider_id;   /* the provider's id of the message */
	const char *to;            /* the recipient */
	const char *at;            /* the report's time (provider_parse_time()); NULL:
				      the callback's now_ms */
	const char *at_name;       /* what the API calls it ("doneAt"), for err */
	const char *status;        /* the status word, cut to fit */
	const char *error;         /* the error code, cut to fit; "", "0" or NULL: none */
};

/*
 * Fill *r from *rep: r->id from rep->ref (provider_ref_id(); 0 when ref is
 * NULL), the strings copied and sanitised as results' are (control
 * characters replaced, invalid UTF-8 replaced), at_ms from rep->at or
 * now_ms.  Returns PROVIDER_RECEIPT_OK, or PROVIDER_RECEIPT_MALFORMED with
 * err naming the field (never its value): a ref that is not ours, a
 * provider_id or a recipient too long to keep whole, an unreadable time.
 */
int provider_receipt_fill(struct provider_receipt *r, const struct provider_report *rep,
			  int64_t now_ms, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* For an API whose callback carries one report: PROVIDER_RECEIPT_OK if
 * cap has room for it, else PROVIDER_RECEIPT_MALFORMED with err. */
int provider_receipts_one(size_t cap, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Reads one element of a callback's list of reports into *r: an enum
 * provider_receipt_rc, with err on an error. */
typedef int provider_list_entry_fn(struct jscan_val entry, int64_t now_ms,
				   struct provider_receipt *r, char *err, size_t errlen);

/*
 * The receipts() of an API whose callback is a JSON object listing its
 * reports under list_key (Infobip's "results", the webhook contract's
 * "receipts"): each element read by fn into out[0..*n).  More than cap
 * elements, no such array, an element fn refuses: MALFORMED (err says
 * which, prefixed "report N: "), *n 0.  An empty list is OK with *n 0.
 */
int provider_receipts_list(const struct provider_callback *cb, const char *list_key,
			   provider_list_entry_fn *fn, struct provider_receipt *out, size_t cap,
			   size_t *n, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Twilio's X-Twilio-Signature for the POST fields f of a request to url:
 * base64 of HMAC-SHA1 under token of url followed by each field's name and
 * value, sorted by name then value (provider_twilio.c).  0, or -1 (out
 * ""). */
int provider_twilio_signature(const char *token, const char *url, const struct provider_form *f,
			      char out[HMAC_SHA1_BASE64]) SMSQ_WARN_UNUSED;

/* The part of build() every adapter shares for conf->receipt_url: 0 if it
 * is "" (no reports asked) or an http:// or https:// URL of RFC 3986's
 * characters without a query or a fragment (so safe in a JSON string, a
 * form, and for Twilio's "?ref=" after it); else -1 with err, which never
 * shows the URL (it holds the endpoint's token). */
int provider_receipt_url_check(const struct provider_conf *conf, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

#endif
