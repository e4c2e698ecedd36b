/*
 * fake_apis: request parsing and answers of the Twilio, Infobip, webhook,
 * Sinch and Vonage APIs for the fake provider (see fake_apis.h for the
 * shapes).
 *
 * DESIGN
 * A request goes through two pure steps around the ledger's decision:
 * fake_apis_parse() (auth, content type, JSON or form fields -> messages,
 * with the rejections that follow from the request alone) and
 * fake_apis_answer() (outcomes -> status and JSON).  The messages borrow
 * their strings from the parsed JSON document the batch owns, so nothing
 * is copied per message but the Twilio key and the generated ids.
 *
 * JSON documents are built and encoded with jansson, but for the two
 * answers sent at every request of a benchmark (Twilio's Message resource,
 * Infobip's answer to a batch), which are written as text by hand
 * (fake_buf): jansson's tree and dump would be most of the fake provider's
 * work per request, and it shares the machine with the pool it measures.
 * The hand-written text is byte for byte what jansson's compact dump of
 * the same object gives (same member order, same escapes).  Strings that come
 * from a form (Twilio) may be invalid UTF-8, which jansson refuses: they are
 * answered with every byte above 0x7F replaced by '?'.
 *
 * Generated ids (Twilio sid, Infobip messageId and bulkId, webhook
 * provider_id, Sinch batch id, Vonage message-id) come from one atomic
 * counter through a bijective mixer, so they never repeat within a run, and
 * look random.  A Vonage message's parts have consecutive ids from its
 * first one.
 *
 * Sinch and Vonage messages borrow strings the request does not hold as
 * such (a recipient's text made from the body and its parameters, a text
 * recorded as the handset would show it, a key): the batch owns them
 * (fake_batch.own), freed with it.
 */
#include "fake/fake_apis.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/xalloc.h"
#include "fake/fake_buf.h"
#include "fake/fake_sms.h"

#define TWILIO_API_VERSION "2010-04-01"
#define TWILIO_MORE_INFO "https://www.twilio.com/docs/errors/"
#define TWILIO_REALM "Basic realm=\"Twilio API\""
#define INFOBIP_PENDING_GROUP 1
#define INFOBIP_PENDING_ACCEPTED 26
#define INFOBIP_REJECTED_GROUP 5
#define INFOBIP_MISSING_TO 51
#define INFOBIP_REJECTED_DESTINATION 52
#define MS_PER_S 1000
#define RFC2822_MAX 40
#define ISO8601_MAX 32
#define SINCH_EXPIRY_S (3 * 86400)     /* expire_at: 3 days after send_at by default */
#define SINCH_ID_CHARS 26              /* a batch id: 26 base-32 characters (a ULID) */
#define VONAGE_ID_HEX 16               /* a message-id: 16 hex digits ("0A0000000123ABCD") */
#define VONAGE_PRICE "0.03330000"      /* the docs' sample values */
#define VONAGE_BALANCE "3.14159265"
#define VONAGE_NETWORK "20801"

/* Credentials taken, each with the requests it authenticated. */
struct key_set {
	char *v[FAKE_APIS_MAX_KEYS];                /* copies */
	atomic_uint_fast64_t used[FAKE_APIS_MAX_KEYS]; /* requests authenticated by each */
	size_t n;                                   /* how many */
};

struct fake_apis {
	struct key_set infobip;     /* Infobip keys taken (none: any) */
	struct key_set webhook;     /* webhook bearer tokens taken (none: no auth) */
	struct key_set sinch;       /* Sinch API tokens taken (none: any) */
	struct key_set vonage;      /* Vonage API secrets taken (none: any) */
	uint64_t seed;              /* mixes into ids */
	atomic_uint_fast64_t ids;   /* ids handed out */
};

const char *fake_api_name(enum fake_api api)
{
	switch (api) {
	case FAKE_API_TWILIO: return "twilio";
	case FAKE_API_INFOBIP: return "infobip";
	case FAKE_API_WEBHOOK: return "webhook";
	case FAKE_API_SINCH: return "sinch";
	case FAKE_API_VONAGE: return "vonage";
	case FAKE_API_NONE: break;
	}
	return "none";
}

/* Twilio's form fields (TW_*) and Vonage's (VG_*), in fake_request.form[]. */
enum { TW_TO, TW_FROM, TW_SERVICE, TW_BODY, TW_CALLBACK };
static const char *const twilio_form[] = { "To", "From", "MessagingServiceSid", "Body",
					    "StatusCallback", NULL };
enum { VG_FROM, VG_TO, VG_TEXT, VG_TYPE, VG_REF, VG_KEY, VG_SECRET, VG_CALLBACK, VG_DLR };
static const char *const vonage_form[] = { "from", "to", "text", "type", "client-ref",
					    "api_key", "api_secret", "callback",
					    "status-report-req", NULL };

const char *const *fake_apis_form_fields(enum fake_api api)
{
	return api == FAKE_API_TWILIO ? twilio_form : api == FAKE_API_VONAGE ? vonage_form : NULL;
}

static void keys_copy(struct key_set *k, const struct fake_keys *from)
{
	k->n = from->n < FAKE_APIS_MAX_KEYS ? from->n : FAKE_APIS_MAX_KEYS;
	for (size_t i = 0; i < k->n; i++) {
		k->v[i] = xstrdup(from->v[i]);
		atomic_init(&k->used[i], 0);
	}
}

static void keys_free(struct key_set *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	k->n = 0;
}

/* Whether given (may be NULL) is one of k's, counted if so. */
static int key_taken(struct key_set *k, const char *given)
{
	for (size_t i = 0; given != NULL && i < k->n; i++) {
		if (strcmp(given, k->v[i]) == 0) {
			atomic_fetch_add(&k->used[i], 1);
			return 1;
		}
	}
	return 0;
}

static void keys_json(struct key_set *k, json_t *obj)
{
	for (size_t i = 0; i < k->n; i++)
		json_object_set_new(obj, k->v[i], json_integer((json_int_t)atomic_load(&k->used[i])));
}

fake_apis *fake_apis_new(const struct fake_apis_opts *opts)
{
	fake_apis *a = xcalloc(1, sizeof(*a));

	keys_copy(&a->infobip, &opts->infobip_keys);
	keys_copy(&a->webhook, &opts->webhook_tokens);
	keys_copy(&a->sinch, &opts->sinch_tokens);
	keys_copy(&a->vonage, &opts->vonage_secrets);
	a->seed = opts->seed;
	atomic_init(&a->ids, 0);
	return a;
}

void fake_apis_destroy(fake_apis **a)
{
	if (a == NULL || *a == NULL)
		return;
	keys_free(&(*a)->infobip);
	keys_free(&(*a)->webhook);
	keys_free(&(*a)->sinch);
	keys_free(&(*a)->vonage);
	free(*a);
	*a = NULL;
}

json_t *fake_apis_credentials(fake_apis *a)
{
	json_t *obj = json_object();

	keys_json(&a->infobip, obj);
	keys_json(&a->webhook, obj);
	keys_json(&a->sinch, obj);
	keys_json(&a->vonage, obj);
	return obj;
}

void fake_batch_clear(struct fake_batch *b)
{
	if (b == NULL)
		return;
	json_decref(b->root);
	free(b->msgs);
	for (size_t i = 0; i < b->n_own; i++)
		free(b->own[i]);
	free(b->own);
	memset(b, 0, sizeof(*b));
}

void fake_answer_clear(struct fake_answer *ans)
{
	if (ans == NULL)
		return;
	json_decref(ans->body);
	free(ans->text);
	memset(ans, 0, sizeof(*ans));
}

/* 128 fresh bits: hi looks random, lo is a bijection of the counter. */
static void next_id(fake_apis *a, uint64_t *hi, uint64_t *lo)
{
	uint64_t k = atomic_fetch_add(&a->ids, 1);

	*lo = fake_sms_mix64(k ^ a->seed);
	*hi = fake_sms_mix64(*lo + a->seed);
}

/* "SM" + 32 hex digits. */
static void twilio_sid(fake_apis *a, char *out)
{
	uint64_t hi, lo;

	next_id(a, &hi, &lo);
	snprintf(out, FAKE_PROVIDER_ID_MAX, "SM%016llx%016llx", (unsigned long long)hi,
		 (unsigned long long)lo);
}

/* An Infobip-looking id: 8-4-4-4-12 hex digits. */
static void infobip_id(fake_apis *a, char *out)
{
	uint64_t hi, lo;

	next_id(a, &hi, &lo);
	snprintf(out, FAKE_PROVIDER_ID_MAX, "%08llx-%04llx-%04llx-%04llx-%012llx",
		 (unsigned long long)(hi >> 32), (unsigned long long)((hi >> 16) & 0xffff),
		 (unsigned long long)(hi & 0xffff), (unsigned long long)(lo >> 48),
		 (unsigned long long)(lo & 0xffffffffffffULL));
}

static void webhook_id(fake_apis *a, char *out)
{
	uint64_t hi, lo;

	next_id(a, &hi, &lo);
	snprintf(out, FAKE_PROVIDER_ID_MAX, "fake-%016llx%016llx", (unsigned long long)hi,
		 (unsigned long long)lo);
}

/* A JSON string for s, NULL -> null, invalid UTF-8 bytes -> '?'. */
static json_t *text_value(const char *s)
{
	if (s == NULL)
		return json_null();
	json_t *v = json_string(s);
	if (v != NULL)
		return v;
	char *copy = xstrdup(s);
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v != NULL ? v : json_string("");
}

/* ans's body becomes t's text (t is left empty). */
/* ---- JSON written by hand (see the top) ------------------------------ */

static void answer_text(struct fake_buf *t, struct fake_answer *ans)
{
	ans->text = t->p;
	ans->text_len = t->len;
	memset(t, 0, sizeof(*t));
}

/* 1 if the Content-Type is type (case-insensitive, parameters allowed). */
static int content_type_is(const char *ct, const char *type)
{
	size_t n = strlen(type);

	if (ct == NULL || strncasecmp(ct, type, n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The credential after "Scheme " in an Authorization header, or NULL. */
static const char *auth_credential(const char *header, const char *scheme)
{
	size_t n = strlen(scheme);

	if (header == NULL || strncasecmp(header, scheme, n) != 0 || header[n] != ' ')
		return NULL;
	header += n;
	while (*header == ' ')
		header++;
	return *header != '\0' ? header : NULL;
}

/* s when it is a non-empty string, else NULL. */
static const char *nonempty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static unsigned utf8_chars(const char *s)
{
	unsigned n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* ---------------------------------------------------------------- errors */

static int twilio_error_code(int status)
{
	switch (status) {
	case 401: return 20003;
	case 404: return 20404;
	case 405: return 20004;
	case 429: return 20429;
	case 500: return 20500;
	case 503: return 20503;
	default: return 20000 + status; /* XXX: no documented Twilio code */
	}
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad request";
	case 401: return "Authenticate";
	case 404: return "The requested resource was not found";
	case 405: return "Method not allowed";
	case 413: return "Request entity too large";
	case 415: return "Unsupported media type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static json_t *twilio_error_body(int code, const char *message, int status)
{
	char more[64];

	snprintf(more, sizeof(more), "%s%d", TWILIO_MORE_INFO, code);
	return json_pack("{s:i, s:o, s:s, s:i}", "code", code, "message", text_value(message),
			 "more_info", more, "status", status);
}

static json_t *infobip_error_body(const char *id, const char *text)
{
	return json_pack("{s:{s:{s:s, s:o}}}", "requestError", "serviceException",
			 "messageId", id, "text", text_value(text));
}

static const char *infobip_error_id(int status)
{
	if (status == 401)
		return "UNAUTHORIZED";
	if (status == 429)
		return "TOO_MANY_REQUESTS";
	if (status == 404)
		return "NOT_FOUND";
	if (status >= 500)
		return "GENERAL_ERROR";
	return "BAD_REQUEST";
}

/* Sinch's error code for a status (those of 400 and 403 are documented;
 * the others are the fake's). */
static const char *sinch_error_code(int status)
{
	switch (status) {
	case 400: return "syntax_invalid_json";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 413: return "request_too_large";
	case 415: return "unsupported_media_type";
	case 429: return "too_many_requests";
	case 503: return "service_unavailable";
	default: return status >= 500 ? "internal_error" : "bad_request";
	}
}

/* ans: Sinch's error {"code", "text"}. */
static void sinch_error(struct fake_answer *ans, int status, const char *code, const char *text)
{
	fake_answer_clear(ans);
	ans->status = status;
	ans->unauthorized = status == 401;
	ans->body = json_pack("{s:s, s:o}", "code", code, "text", text_value(text));
}

/* ans: Vonage's answer refusing the message, in a 200. */
static void vonage_refusal(struct fake_answer *ans, const char *status, const char *text)
{
	fake_answer_clear(ans);
	ans->status = 200;
	ans->body = json_pack("{s:s, s:[{s:s, s:s}]}", "message-count", "1", "messages",
			      "status", status, "error-text", text);
}

void fake_apis_error(enum fake_api api, int status, const char *detail,
		     struct fake_answer *ans)
{
	const char *text = detail != NULL ? detail : status_text(status);

	fake_answer_clear(ans);
	ans->status = status;
	ans->unauthorized = status == 401;
	switch (api) {
	case FAKE_API_TWILIO:
		ans->body = twilio_error_body(twilio_error_code(status), text, status);
		ans->www_authenticate = status == 401;
		break;
	case FAKE_API_INFOBIP:
		if (status == 401 && detail == NULL)
			text = "Invalid login details";
		else if (status >= 500 && detail == NULL)
			text = "Something went wrong. Please contact support.";
		ans->body = infobip_error_body(infobip_error_id(status), text);
		break;
	case FAKE_API_SINCH:
		sinch_error(ans, status, sinch_error_code(status),
			    status == 401 && detail == NULL ? "Unauthorized" : text);
		break;
	case FAKE_API_VONAGE:
		if (status == 401) {
			vonage_refusal(ans, "4", "Bad Credentials");
			ans->unauthorized = 1;
			break;
		}
		ans->body = json_pack("{s:s, s:s, s:o}", "type",
				      "https://developer.nexmo.com/api-errors", "title",
				      status_text(status), "detail", text_value(text));
		break;
	case FAKE_API_WEBHOOK:
	case FAKE_API_NONE:
		if (status == 401 && detail == NULL)
			text = "unauthorized";
		ans->body = json_pack("{s:o}", "error", text_value(text));
		break;
	}
}

/* ---------------------------------------------------------------- Twilio */

static int twilio_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
			struct fake_answer *ans)
{
	const char *to = req->form[TW_TO] != NULL ? req->form[TW_TO] : "";
	const char *body = req->form[TW_BODY];
	int has_from = req->form[TW_FROM] != NULL && req->form[TW_FROM][0] != '\0';
	int has_service = req->form[TW_SERVICE] != NULL && req->form[TW_SERVICE][0] != '\0';

	if (req->basic_user == NULL || req->path_account == NULL ||
	    strcmp(req->basic_user, req->path_account) != 0) {
		fake_apis_error(FAKE_API_TWILIO, 401, NULL, ans);
		return -1;
	}
	b->msgs = xcalloc(1, sizeof(struct fake_msg));
	b->n = 1;
	struct fake_msg *m = &b->msgs[0];
	uint64_t h = body != NULL ? fake_sms_fnv1a64(body, strlen(body)) : fake_sms_fnv1a64("", 0);
	int n = snprintf(b->twilio_key, sizeof(b->twilio_key), "%.*s:%016llx",
			 (int)(FAKE_KEY_MAX - 18), to, (unsigned long long)h);
	m->key = b->twilio_key;
	m->key_len = (size_t)n < sizeof(b->twilio_key) ? (size_t)n : sizeof(b->twilio_key) - 1;
	m->to = to;
	m->text = body;
	m->segments = fake_sms_segments(body != NULL ? body : "", body != NULL ? strlen(body) : 0);
	m->receipt_url = nonempty(req->form[TW_CALLBACK]);
	twilio_sid(a, m->provider_id);
	if (to[0] == '\0') {
		m->reject = FAKE_REJECT_MISSING_TO;
		m->detail = "A 'To' phone number is required.";
		b->twilio_code = 21604;
	} else if (!has_from && !has_service) {
		m->reject = FAKE_REJECT_MISSING;
		m->detail = "A 'From' phone number is required.";
		b->twilio_code = 21603;
	} else if (body == NULL || body[0] == '\0') {
		m->reject = FAKE_REJECT_MISSING;
		m->detail = "Message body is required.";
		b->twilio_code = 21602;
	} else if (utf8_chars(body) > FAKE_APIS_TWILIO_BODY_MAX) {
		m->reject = FAKE_REJECT_TOO_LONG;
		m->detail = "The concatenated message body exceeds the 1600 character limit.";
		b->twilio_code = 21617;
	} else if (!fake_sms_valid_number(to, 1)) {
		m->reject = FAKE_REJECT_INVALID_TO;
		m->detail = "Invalid 'To' Phone Number";
		b->twilio_code = 21211;
	}
	return 0;
}

static void rfc2822_now(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The Message resource of m, as text (see the top: what jansson would write). */
static void twilio_resource(const struct fake_request *req, const struct fake_msg *m,
			    struct fake_answer *ans)
{
	char date[RFC2822_MAX], uri[512], media[560], segs[16];
	int has_from = req->form[TW_FROM] != NULL && req->form[TW_FROM][0] != '\0';
	int via_service = !has_from;
	struct fake_buf t = FAKE_BUF_INIT;

	rfc2822_now(date, sizeof(date));
	snprintf(uri, sizeof(uri), "/%s/Accounts/%s/Messages/%s.json", TWILIO_API_VERSION,
		 req->path_account, m->provider_id);
	snprintf(media, sizeof(media), "/%s/Accounts/%s/Messages/%s/Media.json",
		 TWILIO_API_VERSION, req->path_account, m->provider_id);
	/* Through a Messaging Service, Twilio has not picked a sender yet. */
	snprintf(segs, sizeof(segs), "%u", via_service ? 0 : m->segments);
	fake_buf_lit(&t, "{");
	fake_buf_json_kv(&t, "account_sid", req->path_account, 1);
	fake_buf_json_kv(&t, "api_version", TWILIO_API_VERSION, 0);
	fake_buf_json_kv(&t, "body", req->form[TW_BODY], 0);
	fake_buf_json_kv(&t, "date_created", date, 0);
	fake_buf_json_kraw(&t, "date_sent", "null", 0);
	fake_buf_json_kv(&t, "date_updated", date, 0);
	fake_buf_json_kv(&t, "direction", "outbound-api", 0);
	fake_buf_json_kraw(&t, "error_code", "null", 0);
	fake_buf_json_kraw(&t, "error_message", "null", 0);
	fake_buf_json_kv(&t, "from", has_from ? req->form[TW_FROM] : NULL, 0);
	fake_buf_json_kv(&t, "messaging_service_sid", req->form[TW_SERVICE], 0);
	fake_buf_json_kv(&t, "num_media", "0", 0);
	fake_buf_json_kv(&t, "num_segments", segs, 0);
	fake_buf_json_kraw(&t, "price", "null", 0);
	fake_buf_json_kv(&t, "price_unit", "USD", 0);
	fake_buf_json_kv(&t, "sid", m->provider_id, 0);
	fake_buf_json_kv(&t, "status", via_service ? "accepted" : "queued", 0);
	fake_buf_json_kraw(&t, "subresource_uris", "{", 0);
	fake_buf_json_kv(&t, "media", media, 1);
	fake_buf_lit(&t, "}");
	fake_buf_json_kv(&t, "to", m->to, 0);
	fake_buf_json_kv(&t, "uri", uri, 0);
	fake_buf_lit(&t, "}");
	answer_text(&t, ans);
}

static void twilio_answer(const struct fake_request *req, const struct fake_batch *b,
			  int retry_after_s, struct fake_answer *ans)
{
	const struct fake_msg *m = &b->msgs[0];
	char message[160];

	switch (m->outcome) {
	case FAKE_ACCEPTED:
		ans->status = 201;
		twilio_resource(req, m, ans);
		break;
	case FAKE_THROTTLED:
		fake_apis_error(FAKE_API_TWILIO, 429, NULL, ans);
		ans->retry_after_s = retry_after_s;
		break;
	default:
		if (m->reject == FAKE_REJECT_PREFIX || b->twilio_code == 21211) {
			snprintf(message, sizeof(message),
				 "The 'To' number %.64s is not a valid phone number.", m->to);
			ans->status = 400;
			ans->body = twilio_error_body(21211, message, 400);
		} else {
			ans->status = 400;
			ans->body = twilio_error_body(b->twilio_code, m->detail, 400);
		}
		break;
	}
}

/* ---------------------------------------------------------------- JSON APIs */

/* Load a JSON object body; on failure set ans (api's shape) and return NULL. */
static json_t *load_object(enum fake_api api, const struct fake_request *req,
			   struct fake_answer *ans)
{
	json_error_t jerr;
	char detail[200];

	if (!content_type_is(req->content_type, "application/json")) {
		fake_apis_error(api, 415, "Content-Type must be application/json", ans);
		return NULL;
	}
	json_t *root = json_loadb(req->body != NULL ? req->body : "", req->body_len, 0, &jerr);
	if (root == NULL) {
		snprintf(detail, sizeof(detail), "Invalid JSON: %s", jerr.text);
		fake_apis_error(api, 400, detail, ans);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fake_apis_error(api, 400, "The body must be a JSON object", ans);
		return NULL;
	}
	return root;
}

/* The "messages" array of root with 1..FAKE_APIS_MAX_BATCH entries, or NULL. */
static json_t *messages_of(json_t *root)
{
	json_t *ms = json_object_get(root, "messages");

	if (!json_is_array(ms) || json_array_size(ms) == 0 ||
	    json_array_size(ms) > FAKE_APIS_MAX_BATCH)
		return NULL;
	return ms;
}

static const char *string_or(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* 1 if obj's key is a string or absent. */
static int string_or_absent(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return v == NULL || json_is_string(v);
}

static void set_key(struct fake_msg *m, const char *key)
{
	size_t n = strlen(key);

	m->key = key;
	m->key_len = n > FAKE_KEY_MAX ? FAKE_KEY_MAX : n;
}

/* ---------------------------------------------------------------- Infobip */

static int infobip_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
			 struct fake_answer *ans)
{
	const char *key = auth_credential(req->authorization, "App");
	size_t total = 0, k = 0;
	json_t *ms, *msg, *dests, *dest;
	size_t i, j;

	if (key == NULL || (a->infobip.n > 0 && !key_taken(&a->infobip, key))) {
		fake_apis_error(FAKE_API_INFOBIP, 401, NULL, ans);
		return -1;
	}
	b->root = load_object(FAKE_API_INFOBIP, req, ans);
	if (b->root == NULL)
		return -1;
	ms = messages_of(b->root);
	if (ms == NULL)
		goto bad_shape;
	json_array_foreach(ms, i, msg) {
		dests = json_object_get(msg, "destinations");
		if (!json_is_object(msg) || !json_is_array(dests) || json_array_size(dests) == 0)
			goto bad_shape;
		json_t *text = json_object_get(msg, "text");
		if (text != NULL && !json_is_string(text))
			goto bad_shape;
		total += json_array_size(dests);
	}
	if (total > FAKE_APIS_MAX_BATCH)
		goto bad_shape;
	json_t *bulk = json_object_get(b->root, "bulkId");
	if (bulk != NULL && !json_is_string(bulk))
		goto bad_shape;

	b->msgs = xcalloc(total, sizeof(struct fake_msg));
	b->n = total;
	json_array_foreach(ms, i, msg) {
		const char *text = string_or(msg, "text", "");
		const char *notify = nonempty(string_or(msg, "notifyUrl", NULL));
		unsigned segments = fake_sms_segments(text, strlen(text));
		dests = json_object_get(msg, "destinations");
		json_array_foreach(dests, j, dest) {
			struct fake_msg *m = &b->msgs[k++];
			json_t *id = json_object_get(dest, "messageId");

			m->to = string_or(dest, "to", "");
			m->text = text;
			m->segments = segments;
			m->receipt_url = notify;
			if (json_is_string(id) && json_string_length(id) > 0) {
				m->ref = json_string_value(id);
				set_key(m, m->ref);
			} else {
				infobip_id(a, m->provider_id);
				set_key(m, m->provider_id);
			}
			if (!json_is_object(dest) || m->to[0] == '\0') {
				m->reject = FAKE_REJECT_MISSING_TO;
				m->detail = "Missing destination.";
			} else if (!fake_sms_valid_number(m->to, 0)) {
				m->reject = FAKE_REJECT_INVALID_TO;
				m->detail = "Invalid destination address.";
			}
		}
	}
	if (bulk != NULL) {
		b->bulk_id = json_string_value(bulk);
	} else if (total > 1) {
		infobip_id(a, b->bulk_id_own);
		b->bulk_id = b->bulk_id_own;
	}
	return 0;
bad_shape:
	fake_apis_error(FAKE_API_INFOBIP, 400,
			"Invalid request: expected {\"messages\": [{\"destinations\": "
			"[{\"to\": ...}], \"from\": ..., \"text\": ...}]} with 1..10000 "
			"destinations", ans);
	return -1;
}

/* The status object of m's entry in an answer, as text. */
static void infobip_status(struct fake_buf *t, const struct fake_msg *m)
{
	int ok = m->outcome == FAKE_ACCEPTED, missing = m->reject == FAKE_REJECT_MISSING_TO;

	/* Constant strings: nothing to escape. */
	fake_buf_fmt(t, "{\"groupId\":%d,\"groupName\":\"%s\",\"id\":%d,\"name\":\"%s\","
		     "\"description\":\"%s\"}",
		     ok ? INFOBIP_PENDING_GROUP : INFOBIP_REJECTED_GROUP, ok ? "PENDING" : "REJECTED",
		     ok ? INFOBIP_PENDING_ACCEPTED : missing ? INFOBIP_MISSING_TO :
		     INFOBIP_REJECTED_DESTINATION,
		     ok ? "PENDING_ACCEPTED" : missing ? "MISSING_TO" : "REJECTED_DESTINATION",
		     ok ? "Message sent to next instance" : missing ? "Missing destination." :
		     "Invalid destination address.");
}

static void infobip_answer(const struct fake_batch *b, int retry_after_s,
			   struct fake_answer *ans)
{
	struct fake_buf t = FAKE_BUF_INIT;

	for (size_t i = 0; i < b->n; i++) {
		if (b->msgs[i].outcome == FAKE_THROTTLED) {
			fake_apis_error(FAKE_API_INFOBIP, 429, "Too many requests", ans);
			ans->retry_after_s = retry_after_s;
			return;
		}
	}
	fake_buf_lit(&t, "{");
	if (b->bulk_id != NULL)
		fake_buf_json_kv(&t, "bulkId", b->bulk_id, 1);
	fake_buf_json_key(&t, "messages", b->bulk_id == NULL);
	fake_buf_lit(&t, "[");
	for (size_t i = 0; i < b->n; i++) {
		const struct fake_msg *m = &b->msgs[i];

		if (i > 0)
			fake_buf_lit(&t, ",");
		fake_buf_lit(&t, "{");
		fake_buf_json_kv(&t, "to", m->to, 1);
		fake_buf_json_key(&t, "status", 0);
		infobip_status(&t, m);
		fake_buf_json_kv(&t, "messageId", m->ref != NULL ? m->ref : m->provider_id, 0);
		fake_buf_lit(&t, "}");
	}
	fake_buf_lit(&t, "]}");
	ans->status = 200;
	answer_text(&t, ans);
}

/* ---------------------------------------------------------------- webhook */

static int webhook_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
			 struct fake_answer *ans)
{
	json_t *ms, *item;
	const char *callback;
	size_t i;

	if (a->webhook.n > 0 &&
	    !key_taken(&a->webhook, auth_credential(req->authorization, "Bearer"))) {
		fake_apis_error(FAKE_API_WEBHOOK, 401, NULL, ans);
		return -1;
	}
	b->root = load_object(FAKE_API_WEBHOOK, req, ans);
	if (b->root == NULL)
		return -1;
	ms = messages_of(b->root);
	if (ms == NULL) {
		fake_apis_error(FAKE_API_WEBHOOK, 400,
				"expected {\"messages\": [...]} with 1..10000 messages", ans);
		return -1;
	}
	callback = nonempty(string_or(b->root, "callback_url", NULL));
	b->n = json_array_size(ms);
	b->msgs = xcalloc(b->n, sizeof(struct fake_msg));
	json_array_foreach(ms, i, item) {
		struct fake_msg *m = &b->msgs[i];
		json_t *id = json_object_get(item, "id");
		json_t *text = json_object_get(item, "text");
		json_t *segs = json_object_get(item, "segments");

		m->to = string_or(item, "to", "");
		m->receipt_url = callback;
		m->ref = json_is_string(id) ? json_string_value(id) : NULL;
		m->text = json_is_string(text) ? json_string_value(text) : NULL;
		set_key(m, m->ref != NULL ? m->ref : "");
		m->segments = json_is_string(text) ?
			fake_sms_segments(json_string_value(text), json_string_length(text)) : 1;
		webhook_id(a, m->provider_id);
		if (!json_is_object(item)) {
			m->reject = FAKE_REJECT_MISSING;
			m->detail = "message is not an object";
		} else if (m->ref == NULL || m->ref[0] == '\0') {
			m->reject = FAKE_REJECT_MISSING;
			m->detail = "missing id";
		} else if (m->to[0] == '\0') {
			m->reject = FAKE_REJECT_MISSING_TO;
			m->detail = "missing to";
		} else if (!fake_sms_valid_number(m->to, 1)) {
			m->reject = FAKE_REJECT_INVALID_TO;
			m->detail = "invalid to: not an E.164 number";
		} else if (!json_is_string(text)) {
			m->reject = FAKE_REJECT_MISSING;
			m->detail = "missing text";
		} else if (segs != NULL && (!json_is_integer(segs) ||
					    json_integer_value(segs) < 1 ||
					    json_integer_value(segs) > 255)) {
			m->reject = FAKE_REJECT_MISSING;
			m->detail = "invalid segments";
		} else if (segs != NULL) {
			m->segments = (unsigned)json_integer_value(segs);
		}
	}
	return 0;
}

static void webhook_answer(const struct fake_batch *b, int retry_after_s,
			   struct fake_answer *ans)
{
	json_t *list = json_array();
	size_t throttled = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct fake_msg *m = &b->msgs[i];
		json_t *r = json_pack("{s:o}", "id", text_value(m->ref));

		switch (m->outcome) {
		case FAKE_ACCEPTED:
			json_object_set_new(r, "status", json_string("accepted"));
			json_object_set_new(r, "provider_id", json_string(m->provider_id));
			break;
		case FAKE_THROTTLED:
			throttled++;
			json_object_set_new(r, "status", json_string("throttled"));
			json_object_set_new(r, "retry_after_ms",
					    json_integer((json_int_t)retry_after_s * MS_PER_S));
			break;
		default:
			json_object_set_new(r, "status", json_string("rejected"));
			json_object_set_new(r, "error", json_string(m->detail != NULL ?
								    m->detail : "rejected"));
			break;
		}
		json_array_append_new(list, r);
	}
	ans->body = json_object();
	if (throttled == b->n) {
		ans->status = 429;
		ans->retry_after_s = retry_after_s;
		json_object_set_new(ans->body, "error", json_string("throttled"));
		json_object_set_new(ans->body, "retry_after_ms",
				    json_integer((json_int_t)retry_after_s * MS_PER_S));
	} else {
		ans->status = 200;
	}
	json_object_set_new(ans->body, "results", list);
}

/* ---------------------------------------------------------------- Sinch */

/* A batch id: 26 characters of Crockford's base 32, as Sinch's (ULIDs). */
static void sinch_id(fake_apis *a, char *out)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t hi, lo;

	next_id(a, &hi, &lo);
	for (int i = 0; i < SINCH_ID_CHARS; i++) {
		out[i] = b32[(i < 13 ? hi : lo) & 31];
		if (i < 13)
			hi >>= 5;
		else
			lo >>= 5;
	}
	out[SINCH_ID_CHARS] = '\0';
}

/* 1 if c may be in a parameter key ("Letters A-Z and a-z, digits 0-9 and
 * .-_ allowed"). */
static int sinch_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* The text recipient to gets: body with each ${key} replaced by the key's
 * value for to, else its "default" (a placeholder with neither stays as it
 * is and *missing points at it, for the detail; NULL: none missing).  The
 * values are not read for placeholders again.  Appends it and its NUL to t. */
static void sinch_text(struct fake_buf *t, const char *body, json_t *params, const char *to,
		       const char **missing)
{
	const char *p = body;

	*missing = NULL;
	while (*p != '\0') {
		const char *end = p[0] == '$' && p[1] == '{' ? p + 2 : NULL;
		char key[64];

		while (end != NULL && sinch_key_char(*end))
			end++;
		if (end == NULL || *end != '}' || end == p + 2 || (size_t)(end - p - 2) >= sizeof(key)) {
			fake_buf_raw(t, p++, 1);
			continue;
		}
		memcpy(key, p + 2, (size_t)(end - p - 2));
		key[end - p - 2] = '\0';
		json_t *values = json_object_get(params, key);
		const char *v = string_or(values, to, string_or(values, "default", NULL));
		if (v != NULL) {
			fake_buf_lit(t, v);
		} else {
			fake_buf_raw(t, p, (size_t)(end - p + 1));
			if (*missing == NULL)
				*missing = p;
		}
		p = end + 1;
	}
	fake_buf_raw(t, "", 1);
}

/* msgs[i]'s own strings: its text (t's), then its key to ":" hash(text),
 * in one allocation kept by b. */
static void own_text_and_key(struct fake_batch *b, struct fake_msg *m, struct fake_buf *t)
{
	char key[FAKE_KEY_MAX];
	size_t tlen = strlen(t->p);
	int n = snprintf(key, sizeof(key), "%.*s:%016llx", (int)(FAKE_KEY_MAX - 18), m->to,
			 (unsigned long long)fake_sms_fnv1a64(t->p, tlen));

	t->len = tlen + 1; /* a text rewritten shorter in place (Vonage's '?') */
	fake_buf_raw(t, key, strlen(key) + 1);
	b->own[b->n_own++] = t->p;
	m->text = t->p;
	m->key = t->p + tlen + 1;
	m->key_len = (size_t)n < FAKE_KEY_MAX ? (size_t)n : FAKE_KEY_MAX - 1;
	memset(t, 0, sizeof(*t));
}

/* The batch's delivery_report: the value asked for ("none" when absent),
 * or NULL when it is not one of Sinch's. */
static const char *sinch_delivery_report(json_t *root)
{
	static const char *const kinds[] = { "none", "summary", "full", "per_recipient",
					     "per_recipient_final" };
	json_t *v = json_object_get(root, "delivery_report");

	if (v == NULL)
		return kinds[0];
	for (size_t i = 0; json_is_string(v) && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(json_string_value(v), kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

/* Where the batch's recipients' reports go: its callback_url when it asks
 * for a report per recipient (the only kind the fake sends), else NULL. */
static const char *sinch_receipt_url(json_t *root)
{
	const char *kind = sinch_delivery_report(root);

	if (kind == NULL || strncmp(kind, "per_recipient", strlen("per_recipient")) != 0)
		return NULL;
	return nonempty(string_or(root, "callback_url", NULL));
}

static int sinch_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
		       struct fake_answer *ans)
{
	const char *token = auth_credential(req->authorization, "Bearer");
	json_t *to, *body, *params, *item;
	size_t i;

	if (token == NULL || (a->sinch.n > 0 && !key_taken(&a->sinch, token))) {
		fake_apis_error(FAKE_API_SINCH, 401, NULL, ans);
		return -1;
	}
	b->root = load_object(FAKE_API_SINCH, req, ans);
	if (b->root == NULL)
		return -1;
	to = json_object_get(b->root, "to");
	body = json_object_get(b->root, "body");
	params = json_object_get(b->root, "parameters");
	if (!json_is_array(to) || json_array_size(to) == 0 ||
	    json_array_size(to) > FAKE_APIS_SINCH_MAX_TO) {
		sinch_error(ans, 400, "syntax_constraint_violation",
			    "to: size must be between 1 and 1000");
		return -1;
	}
	if (!json_is_string(body) || utf8_chars(json_string_value(body)) > FAKE_APIS_SINCH_BODY_MAX) {
		sinch_error(ans, 400, "syntax_constraint_violation",
			    "body: must be a string of 0 to 2000 characters");
		return -1;
	}
	if (params != NULL && !json_is_object(params)) {
		sinch_error(ans, 400, "syntax_invalid_json", "parameters: must be an object");
		return -1;
	}
	json_array_foreach(to, i, item) {
		if (!json_is_string(item)) {
			sinch_error(ans, 400, "syntax_invalid_json", "to: must be strings");
			return -1;
		}
	}
	if (sinch_delivery_report(b->root) == NULL) {
		sinch_error(ans, 400, "syntax_constraint_violation",
			    "delivery_report: must be none, summary, full, per_recipient or "
			    "per_recipient_final");
		return -1;
	}
	if (!string_or_absent(b->root, "callback_url")) {
		sinch_error(ans, 400, "syntax_invalid_json", "callback_url: must be a string");
		return -1;
	}
	b->n = json_array_size(to);
	b->msgs = xcalloc(b->n, sizeof(struct fake_msg));
	b->own = xcalloc(b->n, sizeof(*b->own));
	sinch_id(a, b->bulk_id_own);
	b->bulk_id = b->bulk_id_own;
	json_array_foreach(to, i, item) {
		struct fake_msg *m = &b->msgs[i];
		struct fake_buf t = FAKE_BUF_INIT;
		const char *missing;

		m->to = json_string_value(item);
		m->receipt_url = sinch_receipt_url(b->root);
		sinch_text(&t, json_string_value(body), params, m->to, &missing);
		own_text_and_key(b, m, &t);
		m->segments = fake_sms_segments(m->text, strlen(m->text));
		snprintf(m->provider_id, sizeof(m->provider_id), "%s", b->bulk_id);
		if (!fake_sms_valid_number(m->to, 0)) {
			m->reject = FAKE_REJECT_INVALID_TO;
			m->detail = "not an MSISDN";
		} else if (missing != NULL) {
			m->reject = FAKE_REJECT_MISSING;
			m->detail = "no value for a parameter of the body";
		}
		for (size_t k = 0; k < i && m->reject == FAKE_REJECT_NONE; k++) {
			if (strcmp(b->msgs[k].to, m->to) == 0) {
				m->reject = FAKE_REJECT_REPEATED_TO;
				m->detail = "recipient twice in the batch";
			}
		}
	}
	return 0;
}

/* Whether a rejection refuses Sinch's whole batch (the number itself). */
static int sinch_refuses(enum fake_reject why)
{
	return why == FAKE_REJECT_INVALID_TO || why == FAKE_REJECT_REPEATED_TO ||
	       why == FAKE_REJECT_PREFIX;
}

void fake_apis_settle(struct fake_batch *b)
{
	if (b->api != FAKE_API_SINCH)
		return;
	for (size_t i = 0; i < b->n && b->refused_by == NULL; i++)
		if (sinch_refuses(b->msgs[i].reject))
			b->refused_by = &b->msgs[i];
	for (size_t i = 0; i < b->n && b->refused_by != NULL; i++) {
		if (b->msgs[i].reject == FAKE_REJECT_NONE) {
			b->msgs[i].reject = FAKE_REJECT_WITH_BATCH;
			b->msgs[i].detail = "refused with its batch";
		}
	}
}

static void iso8601(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* The batch Sinch answers a send with (201). */
static json_t *sinch_batch(const struct fake_batch *b)
{
	char now[ISO8601_MAX], expire[ISO8601_MAX];
	json_t *o = json_object();
	json_t *params = json_object_get(b->root, "parameters");
	json_t *from = json_object_get(b->root, "from");
	json_t *ref = json_object_get(b->root, "client_reference");

	iso8601(time(NULL), now, sizeof(now));
	iso8601(time(NULL) + SINCH_EXPIRY_S, expire, sizeof(expire));
	json_object_set_new(o, "id", json_string(b->bulk_id));
	json_object_set(o, "to", json_object_get(b->root, "to"));
	if (json_is_string(from))
		json_object_set(o, "from", from);
	json_object_set_new(o, "canceled", json_false());
	json_object_set_new(o, "parameters", params != NULL ? json_incref(params) : json_object());
	json_object_set(o, "body", json_object_get(b->root, "body"));
	json_object_set_new(o, "type", json_string("mt_text"));
	json_object_set_new(o, "created_at", json_string(now));
	json_object_set_new(o, "modified_at", json_string(now));
	json_object_set_new(o, "delivery_report", json_string(sinch_delivery_report(b->root)));
	if (json_is_string(json_object_get(b->root, "callback_url")))
		json_object_set(o, "callback_url", json_object_get(b->root, "callback_url"));
	json_object_set_new(o, "expire_at", json_string(expire));
	json_object_set_new(o, "flash_message", json_false());
	if (json_is_string(ref))
		json_object_set(o, "client_reference", ref);
	return o;
}

static void sinch_answer(const struct fake_batch *b, int retry_after_s, struct fake_answer *ans)
{
	char text[160];
	const struct fake_msg *r = b->refused_by;

	if (r != NULL && r->reject == FAKE_REJECT_PREFIX) {
		snprintf(text, sizeof(text), "Illegal number type for recipient '%.64s'", r->to);
		sinch_error(ans, 403, "illegal_number_type", text);
		return;
	}
	if (r != NULL && r->reject == FAKE_REJECT_REPEATED_TO) {
		snprintf(text, sizeof(text), "to: recipient '%.64s' appears more than once", r->to);
		sinch_error(ans, 400, "syntax_constraint_violation", text);
		return;
	}
	if (r != NULL) {
		snprintf(text, sizeof(text), "Invalid recipient '%.64s': not an MSISDN", r->to);
		sinch_error(ans, 400, "syntax_invalid_parameter_format", text);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (b->msgs[i].outcome == FAKE_THROTTLED) {
			sinch_error(ans, 429, "too_many_requests", "Too many requests");
			ans->retry_after_s = retry_after_s;
			return;
		}
	}
	ans->status = 201;
	ans->body = sinch_batch(b);
}

/* ---------------------------------------------------------------- Vonage */

static int vonage_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
			struct fake_answer *ans)
{
	const char *const *f = req->form;
	const char *key = req->basic_user != NULL ? req->basic_user : f[VG_KEY];
	const char *secret = req->basic_user != NULL ? req->basic_pass : f[VG_SECRET];
	const char *text = f[VG_TEXT] != NULL ? f[VG_TEXT] : "";
	int ucs2 = f[VG_TYPE] != NULL && strcmp(f[VG_TYPE], "unicode") == 0;
	struct fake_buf t = FAKE_BUF_INIT;
	struct fake_msg *m;
	uint64_t hi, lo;

	if (key == NULL || key[0] == '\0' || secret == NULL || secret[0] == '\0') {
		vonage_refusal(ans, "2", key == NULL || key[0] == '\0' ? "Missing api_key"
								  : "Missing api_secret");
		ans->unauthorized = 1;
		return -1;
	}
	if (a->vonage.n > 0 && !key_taken(&a->vonage, secret)) {
		vonage_refusal(ans, "4", "Bad Credentials");
		ans->unauthorized = 1;
		return -1;
	}
	b->n = 1;
	b->msgs = xcalloc(1, sizeof(struct fake_msg));
	b->own = xcalloc(1, sizeof(*b->own));
	m = &b->msgs[0];
	m->to = f[VG_TO] != NULL ? f[VG_TO] : "";
	m->ref = f[VG_REF] != NULL && f[VG_REF][0] != '\0' ? f[VG_REF] : NULL;
	/* status-report-req defaults to true: only "0" or "false" turns it off. */
	if (f[VG_DLR] == NULL || (strcmp(f[VG_DLR], "0") != 0 && strcmp(f[VG_DLR], "false") != 0))
		m->receipt_url = nonempty(f[VG_CALLBACK]);
	/* Sent as "text", what is not GSM-7 arrives as '?': recorded so. */
	fake_buf_raw(&t, text, strlen(text) + 1);
	if (!ucs2)
		(void)fake_sms_gsm7_shown(text, t.p);
	m->segments = fake_sms_parts(text, strlen(text), ucs2);
	own_text_and_key(b, m, &t);
	if (m->ref != NULL)
		set_key(m, m->ref);
	next_id(a, &hi, &lo);
	snprintf(m->provider_id, sizeof(m->provider_id), "%016llX", (unsigned long long)(lo >> 8));
	if (m->to[0] == '\0') {
		m->reject = FAKE_REJECT_MISSING_TO;
		m->detail = "Missing to param";
	} else if (f[VG_FROM] == NULL || f[VG_FROM][0] == '\0') {
		m->reject = FAKE_REJECT_MISSING;
		m->detail = "Missing from param";
	} else if (text[0] == '\0') {
		m->reject = FAKE_REJECT_MISSING;
		m->detail = "Missing text param";
	} else if (!fake_sms_valid_number(m->to, 0)) {
		m->reject = FAKE_REJECT_INVALID_TO;
		m->detail = "Invalid to address";
	}
	return 0;
}

/* One part of an accepted message: its id is the message's first plus k. */
static json_t *vonage_part(const struct fake_msg *m, unsigned k)
{
	char id[VONAGE_ID_HEX + 1];
	json_t *e;

	snprintf(id, sizeof(id), "%016llX",
		 (unsigned long long)(strtoull(m->provider_id, NULL, 16) + k));
	e = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s}", "to", text_value(m->to), "message-id", id,
		      "status", "0", "remaining-balance", VONAGE_BALANCE, "message-price",
		      VONAGE_PRICE, "network", VONAGE_NETWORK);
	if (m->ref != NULL)
		json_object_set_new(e, "client-ref", text_value(m->ref));
	return e;
}

static void vonage_answer(const struct fake_batch *b, struct fake_answer *ans)
{
	const struct fake_msg *m = &b->msgs[0];
	char count[16];
	json_t *parts;

	switch (m->outcome) {
	case FAKE_ACCEPTED:
		parts = json_array();
		for (unsigned k = 0; k < m->segments; k++)
			json_array_append_new(parts, vonage_part(m, k));
		snprintf(count, sizeof(count), "%u", m->segments);
		ans->status = 200;
		ans->body = json_pack("{s:s, s:o}", "message-count", count, "messages", parts);
		return;
	case FAKE_THROTTLED:
		vonage_refusal(ans, "1", "Throttled");
		return;
	default:
		vonage_refusal(ans, m->reject == FAKE_REJECT_PREFIX ? "6" :
			       m->reject == FAKE_REJECT_INVALID_TO ? "3" : "2",
			       m->reject == FAKE_REJECT_PREFIX ? "Unroutable message - rejected" :
			       m->detail != NULL ? m->detail : "Invalid Parameters");
		return;
	}
}

/* ---------------------------------------------------------------- entry points */

void fake_apis_receipt_src(const struct fake_request *req, const struct fake_batch *b,
			   struct fake_receipt_src *out)
{
	const char *const *f = req->form;
	const char *kind;

	memset(out, 0, sizeof(*out));
	switch (b->api) {
	case FAKE_API_TWILIO:
		out->secret = req->basic_pass;
		out->account = req->path_account;
		out->sender = nonempty(f[TW_FROM]);
		break;
	case FAKE_API_INFOBIP:
		out->bulk_id = b->bulk_id;
		break;
	case FAKE_API_SINCH:
		out->bulk_id = b->bulk_id;
		out->batch_ref = string_or(b->root, "client_reference", NULL);
		kind = sinch_delivery_report(b->root);
		out->finals_only = kind != NULL && strcmp(kind, "per_recipient_final") == 0;
		break;
	case FAKE_API_VONAGE:
		out->secret = req->basic_user != NULL ? req->basic_user : f[VG_KEY];
		out->sender = f[VG_FROM];
		break;
	case FAKE_API_WEBHOOK:
		out->secret = auth_credential(req->authorization, "Bearer");
		break;
	case FAKE_API_NONE:
		break;
	}
}

int fake_apis_parse(fake_apis *a, const struct fake_request *req, struct fake_batch *b,
		    struct fake_answer *ans)
{
	b->api = req->api;
	switch (req->api) {
	case FAKE_API_TWILIO: return twilio_parse(a, req, b, ans);
	case FAKE_API_INFOBIP: return infobip_parse(a, req, b, ans);
	case FAKE_API_WEBHOOK: return webhook_parse(a, req, b, ans);
	case FAKE_API_SINCH: return sinch_parse(a, req, b, ans);
	case FAKE_API_VONAGE: return vonage_parse(a, req, b, ans);
	case FAKE_API_NONE: break;
	}
	fake_apis_error(FAKE_API_NONE, 404, "not found", ans);
	return -1;
}

void fake_apis_answer(const struct fake_request *req, const struct fake_batch *b,
		      int retry_after_s, struct fake_answer *ans)
{
	fake_answer_clear(ans);
	switch (b->api) {
	case FAKE_API_TWILIO:
		twilio_answer(req, b, retry_after_s, ans);
		return;
	case FAKE_API_INFOBIP:
		infobip_answer(b, retry_after_s, ans);
		return;
	case FAKE_API_WEBHOOK:
		webhook_answer(b, retry_after_s, ans);
		return;
	case FAKE_API_SINCH:
		sinch_answer(b, retry_after_s, ans);
		return;
	case FAKE_API_VONAGE:
		vonage_answer(b, ans);
		return;
	case FAKE_API_NONE:
		break;
	}
	fake_apis_error(FAKE_API_NONE, 404, "not found", ans);
}
