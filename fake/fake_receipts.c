/*
 * fake_receipts: plans and shapes of the fake provider's delivery reports
 * (see fake_receipts.h).
 *
 * DESIGN
 * A plan is a pure function of the options, the message number and its
 * acceptance time: fake_callbacks draws it once, at acceptance, and keeps
 * it (a few dozen bytes) with the message.
 *
 * What a report says in each API's words comes from one table per API,
 * struct word[]: entry 0 the interim report, 1 delivered, 2.. the failures
 * an undelivered report picks from (its drawn variant modulo their
 * number).  The same tables give the record file its status and error
 * columns, so the file says what the wire said.  Infobip's status and
 * error objects have a parallel table.
 *
 * Bodies are written with fake_buf (the hot path of a benchmark: tens of
 * thousands of reports a second), never with jansson.  Twilio's signature
 * is computed over the same name/value list that writes the form, in the
 * same (sorted) order, so the two cannot disagree.
 */
#include "fake/fake_receipts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "fake/fake_sms.h"

#define SALT 0x7265636569707473ULL  /* "receipts": its draws differ from the faults' */
#define DRAW_DELAY 1
#define DRAW_TAIL 2
#define DRAW_UNDELIVERED 3
#define DRAW_VARIANT 4
#define DRAW_INTERIM 5
#define DRAW_REPEAT 6
#define DRAW_OLDER 7
#define DRAW_GAP_REPEAT 8
#define DRAW_GAP_OLDER 9
#define VARIANTS 256                /* a variant is drawn in 0..255, taken modulo */
#define WORD_INTERIM 0
#define WORD_DELIVERED 1
#define WORD_FAILURES 2             /* first failure's index */
#define TIME_MAX 48                 /* a formatted time, bytes */
#define FIELDS_MAX 12               /* name/value fields of a form report */
#define TWILIO_API_VERSION "2010-04-01"
#define SINCH_OPERATOR_LAG_MS 100   /* operator_status_at before at */
#define INFOBIP_PRICE "{\"pricePerMessage\":0.01,\"currency\":\"EUR\"}"
#define VONAGE_NETWORK "20801"      /* the same values as the answer to a send */
#define VONAGE_PRICE "0.03330000"
#define JSON_TYPE "Content-Type: application/json"
#define FORM_TYPE "Content-Type: application/x-www-form-urlencoded"

/* A status in an API's words, and its error code ("0" or "": none). */
struct word {
	const char *status;
	const char *code;
};

#define N_WORDS(t) (sizeof(t) / sizeof((t)[0]))

static const struct word twilio_words[] = {
	{ "sent", "" }, { "delivered", "" },
	{ "undelivered", "30003" }, { "undelivered", "30005" }, { "undelivered", "30006" },
	{ "failed", "30008" },
};
static const struct word infobip_words[] = {
	{ "PENDING_ENROUTE", "0" }, { "DELIVERED_TO_HANDSET", "0" },
	{ "UNDELIVERABLE_NOT_DELIVERED", "27" }, { "UNDELIVERABLE_REJECTED_OPERATOR", "1" },
	{ "EXPIRED_EXPIRED", "27" },
};
static const struct word sinch_words[] = {
	{ "Dispatched", "401" }, { "Delivered", "0" },
	{ "Failed", "404" }, { "Expired", "406" }, { "Rejected", "408" }, { "Aborted", "402" },
};
static const struct word vonage_words[] = {
	{ "buffered", "0" }, { "delivered", "0" },
	{ "failed", "3" }, { "expired", "2" }, { "rejected", "6" }, { "failed", "99" },
};
static const struct word webhook_words[] = {
	{ "ENROUTE", "" }, { "DELIVRD", "" },
	{ "UNDELIV", "absent subscriber" }, { "EXPIRED", "validity period expired" },
	{ "REJECTD", "rejected by the network" },
};

/* Infobip's status and error objects, entry for entry with infobip_words. */
struct infobip_obj {
	int group_id;               /* status.groupId */
	const char *group;          /* status.groupName */
	int id;                     /* status.id */
	const char *description;    /* status.description */
	int err_group_id;           /* error.groupId */
	const char *err_group;      /* error.groupName */
	const char *err_name;       /* error.name */
	const char *err_description;/* error.description */
	int permanent;              /* error.permanent */
};

static const struct infobip_obj infobip_objs[] = {
	{ 1, "PENDING", 7, "Message sent to next instance", 0, "OK", "NO_ERROR", "No Error", 0 },
	{ 3, "DELIVERED", 5, "Message delivered to handset", 0, "OK", "NO_ERROR", "No Error", 0 },
	{ 2, "UNDELIVERABLE", 9, "Message sent not delivered", 1, "HANDSET_ERRORS",
	  "EC_ABSENT_SUBSCRIBER", "Absent Subscriber", 0 },
	{ 2, "UNDELIVERABLE", 4, "Message rejected by operator", 1, "HANDSET_ERRORS",
	  "EC_UNKNOWN_SUBSCRIBER", "Unknown Subscriber", 1 },
	{ 4, "EXPIRED", 15, "Message expired", 1, "HANDSET_ERRORS", "EC_ABSENT_SUBSCRIBER",
	  "Absent Subscriber", 0 },
};

/* The word table of api: *n entries. */
static const struct word *words_of(enum fake_api api, size_t *n)
{
	switch (api) {
	case FAKE_API_TWILIO: *n = N_WORDS(twilio_words); return twilio_words;
	case FAKE_API_INFOBIP: *n = N_WORDS(infobip_words); return infobip_words;
	case FAKE_API_SINCH: *n = N_WORDS(sinch_words); return sinch_words;
	case FAKE_API_VONAGE: *n = N_WORDS(vonage_words); return vonage_words;
	case FAKE_API_WEBHOOK:
	case FAKE_API_NONE:
		break;
	}
	*n = N_WORDS(webhook_words);
	return webhook_words;
}

/* The index of r's entry in api's word table. */
static size_t word_index(enum fake_api api, const struct fake_report *r)
{
	size_t n;

	(void)words_of(api, &n);
	if (r->kind == FAKE_REPORT_INTERIM)
		return WORD_INTERIM;
	if (r->kind == FAKE_REPORT_DELIVERED)
		return WORD_DELIVERED;
	return WORD_FAILURES + r->variant % (n - WORD_FAILURES);
}

static const struct word *word(enum fake_api api, const struct fake_report *r)
{
	size_t n;

	return &words_of(api, &n)[word_index(api, r)];
}

/* An error code as the record shows it: "" for none. */
static const char *code_or_empty(const char *code)
{
	return strcmp(code, "0") == 0 ? "" : code;
}

const char *fake_receipts_kind_name(enum fake_report_kind kind)
{
	switch (kind) {
	case FAKE_REPORT_INTERIM: return "interim";
	case FAKE_REPORT_DELIVERED: return "delivered";
	case FAKE_REPORT_UNDELIVERED: return "undelivered";
	}
	return "interim";
}

void fake_receipts_describe(enum fake_api api, const struct fake_report *r,
			    const char **status, const char **error)
{
	const struct word *w = word(api, r);

	*status = w->status;
	*error = code_or_empty(w->code);
}

int fake_receipts_batches(enum fake_api api)
{
	return api == FAKE_API_INFOBIP || api == FAKE_API_WEBHOOK;
}

/* ---------------------------------------------------------------- plan */

/* A duration in [min, max], from the uniform draw u. */
static int64_t between(int64_t min, int64_t max, double u)
{
	return min + (int64_t)(u * (double)(max - min + 1));
}

void fake_receipts_plan(const struct fake_receipts_opts *o, enum fake_api api, int finals_only,
			uint64_t k, int64_t mono_ms, int64_t wall_ms, struct fake_plan *out)
{
	uint64_t seed = o->seed ^ SALT;
	int64_t d = between(o->delay_min_ms, o->delay_max_ms, fake_sms_draw(seed, k, DRAW_DELAY));
	int64_t tail = fake_sms_draw(seed, k, DRAW_TAIL) < o->tail_share ? o->tail_ms : 0;
	uint8_t variant = (uint8_t)(fake_sms_draw(seed, k, DRAW_VARIANT) * VARIANTS);
	int undelivered = fake_sms_draw(seed, k, DRAW_UNDELIVERED) < o->undelivered;
	struct fake_report *r = out->r, *final;

	memset(out, 0, sizeof(*out));
	if (!finals_only && fake_sms_draw(seed, k, DRAW_INTERIM) < o->interim) {
		r->kind = FAKE_REPORT_INTERIM;
		r->stamp_ms = wall_ms + d / 2;
		r->due_ms = mono_ms + d / 2 + tail;
		r++;
	}
	final = r;
	r->kind = undelivered ? FAKE_REPORT_UNDELIVERED : FAKE_REPORT_DELIVERED;
	r->variant = variant;
	r->stamp_ms = wall_ms + d;
	r->due_ms = mono_ms + d + tail;
	r++;
	out->n_first = (unsigned)(r - out->r);
	for (struct fake_report *f = out->r; f < r; f++)
		if (f->due_ms < o->hold_until_ms)
			f->due_ms = o->hold_until_ms;
	if (fake_sms_draw(seed, k, DRAW_REPEAT) < o->repeat) {
		*r = *final;
		r->flags = FAKE_REPORT_REPEAT;
		r->due_ms = between(o->delay_min_ms, o->delay_max_ms,
				    fake_sms_draw(seed, k, DRAW_GAP_REPEAT)) + tail;
		r++;
	}
	if (fake_sms_draw(seed, k, DRAW_OLDER) < o->out_of_order) {
		r->kind = api == FAKE_API_TWILIO ? FAKE_REPORT_INTERIM :
			  undelivered ? FAKE_REPORT_DELIVERED : FAKE_REPORT_UNDELIVERED;
		r->flags = FAKE_REPORT_OLDER;
		r->variant = variant;
		r->stamp_ms = final->stamp_ms - FAKE_RECEIPTS_OLDER_BY_MS;
		r->due_ms = between(o->delay_min_ms, o->delay_max_ms,
				    fake_sms_draw(seed, k, DRAW_GAP_OLDER)) + tail;
		r++;
	}
	out->n = (unsigned)(r - out->r);
}

/* ---------------------------------------------------------------- helpers */

/* How a report writes a time. */
enum time_style {
	TIME_INFOBIP = 0,     /* 2026-12-07T18:00:01.123+0000 */
	TIME_SINCH = 1,       /* 2026-12-07T18:00:01.123Z */
	TIME_WEBHOOK = 2,     /* 2026-12-07T18:00:01Z */
	TIME_VONAGE = 3,      /* 2026-12-07 18:00:01 */
	TIME_SCTS = 4,        /* 2612071800 (Vonage's scts) */
};

/* ms (wall clock ms) in UTC as style, into out (TIME_MAX bytes). */
static void utc(char *out, int64_t ms, enum time_style style)
{
	time_t s = (time_t)(ms / 1000);
	int milli = (int)(ms % 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&s, &tm);
	switch (style) {
	case TIME_VONAGE:
		strftime(out, TIME_MAX, "%Y-%m-%d %H:%M:%S", &tm);
		return;
	case TIME_SCTS:
		snprintf(out, TIME_MAX, "%02d%02d%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min);
		return;
	case TIME_INFOBIP:
	case TIME_SINCH:
	case TIME_WEBHOOK:
		break;
	}
	n = strftime(out, TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	if (style == TIME_WEBHOOK)
		snprintf(out + n, TIME_MAX - n, "Z");
	else
		snprintf(out + n, TIME_MAX - n, ".%03d%s", milli,
			 style == TIME_INFOBIP ? "+0000" : "Z");
}

/* A name/value list: the fields of a form report. */
struct fields {
	const char *name[FIELDS_MAX];  /* names */
	const char *value[FIELDS_MAX]; /* values */
	size_t n;                      /* used */
};

static void field(struct fields *f, const char *name, const char *value)
{
	if (f->n == FIELDS_MAX)
		log_panic("fake_receipts: more than %d fields", FIELDS_MAX);
	f->name[f->n] = name;
	f->value[f->n] = value != NULL ? value : "";
	f->n++;
}

static void fields_form(const struct fields *f, struct fake_buf *b)
{
	for (size_t i = 0; i < f->n; i++)
		fake_buf_form(b, f->name[i], f->value[i], i == 0);
}

static void fields_json(const struct fields *f, struct fake_buf *b)
{
	fake_buf_lit(b, "{");
	for (size_t i = 0; i < f->n; i++)
		fake_buf_json_kv(b, f->name[i], f->value[i], i == 0);
	fake_buf_lit(b, "}");
}

/* "Name: value" as a new string. */
static char *header_line(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *h = xmalloc(n);

	snprintf(h, n, "%s: %s", name, value);
	return h;
}

static void add_header(struct fake_receipt_http *out, char *line)
{
	size_t i = 0;

	while (out->headers[i] != NULL)
		i++;
	if (i == FAKE_RECEIPTS_HEADERS_MAX)
		log_panic("fake_receipts: more than %d headers", FAKE_RECEIPTS_HEADERS_MAX);
	out->headers[i] = line;
}

/* ---------------------------------------------------------------- Twilio */

/* base64(HMAC-SHA1(key, data)) into out (at least 29 bytes: 28 and the
 * NUL); "" if libcrypto fails. */
static void twilio_signature(const char *key, const char *data, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	out[0] = '\0';
	if (HMAC(EVP_sha1(), key, (int)strlen(key), (const unsigned char *)data, len, md,
		 &md_len) == NULL) {
		log_error("fake_receipts: HMAC-SHA1 failed: Twilio's report goes unsigned");
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
}

static void twilio_build(const struct fake_receipt_item *it, struct fake_receipt_http *out)
{
	const struct fake_receipt_msg *m = it->msg;
	const struct word *w = word(FAKE_API_TWILIO, it->report);
	struct fields f = { .n = 0 };
	struct fake_buf signed_text = FAKE_BUF_INIT;
	char sig[EVP_MAX_MD_SIZE * 2];

	/* Sorted by name, as the signature wants them. */
	field(&f, "AccountSid", m->src.account);
	field(&f, "ApiVersion", TWILIO_API_VERSION);
	if (w->code[0] != '\0')
		field(&f, "ErrorCode", w->code);
	field(&f, "From", m->src.sender);
	field(&f, "MessageSid", m->provider_id);
	field(&f, "MessageStatus", w->status);
	field(&f, "SmsSid", m->provider_id);
	field(&f, "SmsStatus", w->status);
	field(&f, "To", m->to);
	fields_form(&f, &out->body);
	fake_buf_lit(&signed_text, m->url);
	for (size_t i = 0; i < f.n; i++) {
		fake_buf_lit(&signed_text, f.name[i]);
		fake_buf_lit(&signed_text, f.value[i]);
	}
	twilio_signature(m->src.secret != NULL ? m->src.secret : "", signed_text.p,
			 signed_text.len, sig);
	fake_buf_free(&signed_text);
	add_header(out, xstrdup(FORM_TYPE));
	add_header(out, header_line("X-Twilio-Signature", sig));
}

/* ---------------------------------------------------------------- Infobip */

static void infobip_result(const struct fake_receipt_item *it, struct fake_buf *b)
{
	const struct fake_receipt_msg *m = it->msg;
	size_t i = word_index(FAKE_API_INFOBIP, it->report);
	const struct infobip_obj *o = &infobip_objs[i];
	char sent[TIME_MAX], done[TIME_MAX];
	int first = 1;

	utc(sent, m->accepted_ms, TIME_INFOBIP);
	utc(done, it->report->stamp_ms, TIME_INFOBIP);
	fake_buf_lit(b, "{");
	if (m->src.bulk_id != NULL) {
		fake_buf_json_kv(b, "bulkId", m->src.bulk_id, 1);
		first = 0;
	}
	fake_buf_json_kv(b, "messageId", m->provider_id, first);
	fake_buf_json_kv(b, "to", m->to, 0);
	fake_buf_json_kv(b, "sentAt", sent, 0);
	fake_buf_json_kv(b, "doneAt", done, 0);
	fake_buf_json_key(b, "smsCount", 0);
	fake_buf_fmt(b, "%u", m->segments);
	fake_buf_json_kraw(b, "price", INFOBIP_PRICE, 0);
	/* Constant strings from the tables: nothing to escape. */
	fake_buf_fmt(b, ",\"status\":{\"groupId\":%d,\"groupName\":\"%s\",\"id\":%d,"
		     "\"name\":\"%s\",\"description\":\"%s\"}",
		     o->group_id, o->group, o->id, infobip_words[i].status, o->description);
	fake_buf_fmt(b, ",\"error\":{\"groupId\":%d,\"groupName\":\"%s\",\"id\":%s,"
		     "\"name\":\"%s\",\"description\":\"%s\",\"permanent\":%s}}",
		     o->err_group_id, o->err_group, infobip_words[i].code, o->err_name,
		     o->err_description, o->permanent ? "true" : "false");
}

/* ---------------------------------------------------------------- Sinch */

static void sinch_build(const struct fake_receipt_item *it, struct fake_receipt_http *out)
{
	const struct fake_receipt_msg *m = it->msg;
	const struct word *w = word(FAKE_API_SINCH, it->report);
	int64_t op_ms = it->report->stamp_ms - SINCH_OPERATOR_LAG_MS;
	char at[TIME_MAX], op_at[TIME_MAX];
	struct fake_buf *b = &out->body;

	utc(at, it->report->stamp_ms, TIME_SINCH);
	utc(op_at, op_ms, TIME_SINCH);
	fake_buf_lit(b, "{");
	fake_buf_json_kv(b, "type", "recipient_delivery_report_sms", 1);
	fake_buf_json_kv(b, "batch_id", m->src.bulk_id, 0);
	fake_buf_json_kv(b, "recipient", m->to, 0);
	fake_buf_json_kraw(b, "code", w->code, 0);
	fake_buf_json_kv(b, "status", w->status, 0);
	fake_buf_json_kv(b, "at", at, 0);
	fake_buf_json_kv(b, "operator_status_at", op_at, 0);
	if (m->src.batch_ref != NULL)
		fake_buf_json_kv(b, "client_reference", m->src.batch_ref, 0);
	fake_buf_lit(b, "}");
	add_header(out, xstrdup(JSON_TYPE));
}

/* ---------------------------------------------------------------- Vonage */

static void vonage_build(enum fake_vonage_method method, const struct fake_receipt_item *it,
			 struct fake_receipt_http *out)
{
	const struct fake_receipt_msg *m = it->msg;
	const struct word *w = word(FAKE_API_VONAGE, it->report);
	char scts[TIME_MAX], stamp[TIME_MAX];
	struct fields f = { .n = 0 };
	struct fake_buf query = FAKE_BUF_INIT;

	utc(scts, it->report->stamp_ms, TIME_SCTS);
	utc(stamp, it->report->stamp_ms, TIME_VONAGE);
	field(&f, "msisdn", m->to);
	field(&f, "to", m->src.sender);
	field(&f, "network-code", VONAGE_NETWORK);
	field(&f, "messageId", m->provider_id);
	field(&f, "price", VONAGE_PRICE);
	field(&f, "status", w->status);
	field(&f, "scts", scts);
	field(&f, "err-code", w->code);
	field(&f, "api-key", m->src.secret);
	field(&f, "message-timestamp", stamp);
	if (m->ref != NULL)
		field(&f, "client-ref", m->ref);
	switch (method) {
	case FAKE_VONAGE_GET:
		out->get = 1;
		fake_buf_lit(&query, m->url);
		fake_buf_lit(&query, strchr(m->url, '?') != NULL ? "&" : "?");
		fields_form(&f, &query);
		free(out->url);
		out->url = query.p; /* taken: query is not freed */
		return;
	case FAKE_VONAGE_POST:
		fields_form(&f, &out->body);
		add_header(out, xstrdup(FORM_TYPE));
		return;
	case FAKE_VONAGE_JSON:
		fields_json(&f, &out->body);
		add_header(out, xstrdup(JSON_TYPE));
		return;
	}
}

/* ---------------------------------------------------------------- webhook */

static void webhook_receipt(const struct fake_receipt_item *it, struct fake_buf *b)
{
	const struct fake_receipt_msg *m = it->msg;
	const struct word *w = word(FAKE_API_WEBHOOK, it->report);
	char at[TIME_MAX];

	utc(at, it->report->stamp_ms, TIME_WEBHOOK);
	fake_buf_lit(b, "{");
	fake_buf_json_kv(b, "ref", m->ref, 1);
	fake_buf_json_kv(b, "id", m->provider_id, 0);
	fake_buf_json_kv(b, "status", it->report->kind == FAKE_REPORT_INTERIM ? "pending" :
			 fake_receipts_kind_name(it->report->kind), 0);
	fake_buf_json_kv(b, "provider_status", w->status, 0);
	fake_buf_json_kv(b, "error", w->code, 0);
	fake_buf_json_kv(b, "at", at, 0);
	fake_buf_lit(b, "}");
}

/* ---------------------------------------------------------------- entry points */

/* The body of a batching API: {"<list>": [item, ...]}. */
static void batch_body(const char *list, void (*one)(const struct fake_receipt_item *,
						     struct fake_buf *),
		       const struct fake_receipt_item *items, size_t n, struct fake_buf *b)
{
	fake_buf_lit(b, "{");
	fake_buf_json_key(b, list, 1);
	fake_buf_lit(b, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fake_buf_lit(b, ",");
		one(&items[i], b);
	}
	fake_buf_lit(b, "]}");
}

void fake_receipts_build(enum fake_vonage_method vonage_method,
			 const struct fake_receipt_item *items, size_t n,
			 struct fake_receipt_http *out)
{
	const struct fake_receipt_msg *m = items[0].msg;

	out->url = xstrdup(m->url);
	switch (m->api) {
	case FAKE_API_TWILIO:
		twilio_build(&items[0], out);
		return;
	case FAKE_API_INFOBIP:
		batch_body("results", infobip_result, items, n, &out->body);
		add_header(out, xstrdup(JSON_TYPE));
		return;
	case FAKE_API_SINCH:
		sinch_build(&items[0], out);
		return;
	case FAKE_API_VONAGE:
		vonage_build(vonage_method, &items[0], out);
		return;
	case FAKE_API_WEBHOOK:
	case FAKE_API_NONE:
		break;
	}
	batch_body("receipts", webhook_receipt, items, n, &out->body);
	add_header(out, xstrdup(JSON_TYPE));
	if (m->src.secret != NULL) {
		struct fake_buf v = FAKE_BUF_INIT;

		fake_buf_fmt(&v, "Authorization: Bearer %s", m->src.secret);
		add_header(out, v.p); /* taken: v is not freed */
	}
}

void fake_receipt_http_clear(struct fake_receipt_http *h)
{
	if (h == NULL)
		return;
	free(h->url);
	fake_buf_free(&h->body);
	for (size_t i = 0; h->headers[i] != NULL; i++)
		free(h->headers[i]);
	memset(h, 0, sizeof(*h));
}

const char *fake_receipts_ref(const struct fake_receipt_msg *m, char *buf, size_t len)
{
	const char *q, *p, *id = m->provider_id;
	size_t n;

	switch (m->api) {
	case FAKE_API_TWILIO:
		q = strchr(m->url, '?');
		for (p = q; p != NULL; p = strchr(p + 1, '&')) {
			if (strncmp(p + 1, "ref=", 4) != 0)
				continue;
			n = strcspn(p + 5, "&#");
			snprintf(buf, len, "%.*s", (int)n, p + 5);
			return buf;
		}
		break;
	case FAKE_API_SINCH:
		id = m->src.bulk_id;
		break;
	case FAKE_API_VONAGE:
	case FAKE_API_WEBHOOK:
		if (m->ref != NULL)
			id = m->ref;
		break;
	case FAKE_API_INFOBIP:
	case FAKE_API_NONE:
		break;
	}
	snprintf(buf, len, "%s", id != NULL ? id : "");
	return buf;
}
