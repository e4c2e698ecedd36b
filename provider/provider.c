/*
 * provider: the adapter table, the shared outcome rules and the helpers the
 * adapters share (see provider.h for the contract, provider_impl.h for the
 * helpers, PROVIDERS.md for each provider's wire format).
 *
 * DESIGN
 *
 * Adapters are pure: build() fills a struct provider_request from the batch,
 * parse() fills one struct provider_result per message from what came back.
 * They never do I/O, never log, and keep no state between calls, so the same
 * const adapter serves every process and every batch.
 *
 * The shared rules for an answer that does not speak about each message
 * (provider_fail_all()):
 *
 *   transport NOT_SENT, WITHHELD      -> RETRY                the request never left
 *   transport AMBIGUOUS               -> RETRY, ambiguous     it may have been sent
 *   2xx we could not read             -> RETRY, ambiguous     the provider probably took
 *                                                             it, but we cannot tell
 *   transport failure no request can  -> MISCONFIGURED        DNS, TLS verification, URL
 *   cause (resp->config)
 *   429                               -> THROTTLED            Retry-After when given
 *   503                               -> UNAVAILABLE          Retry-After when given
 *   401, 403, 404, 407                -> MISCONFIGURED        nothing is wrong with the
 *                                                             message: credentials or URL
 *                                                             (see below)
 *   408                               -> RETRY                the provider timed out
 *   other 4xx                         -> FAILED               the provider refused it
 *   502, 504                          -> RETRY, ambiguous     a gateway lost the upstream
 *                                                             answer: it may have sent
 *   other 5xx                         -> RETRY
 *   3xx                               -> RETRY                a redirect we do not follow
 *   anything else                     -> RETRY, ambiguous
 *
 * Why 401/403/404/407 are not FAILED, nor even RETRY: they say our
 * configuration is wrong (a rotated token, a wrong account SID or base URL),
 * not the message.  FAILED is permanent; during a surge a bad token would
 * fail the whole backlog within minutes, and fixing the token would not
 * bring it back.  RETRY would count an attempt and push the message back by
 * its backoff.  MISCONFIGURED parks the provider (dispatch: only probes go)
 * and gives the messages back untouched: they keep their attempts and their
 * place, and wait (or go to the next provider) until ops fix it.
 *
 * Reasons are bounded, printable, valid UTF-8 and never contain credentials:
 * adapters only put the HTTP status, the provider's own error code and text,
 * and libcurl's transport error text into them.
 *
 * Delivery reports.  An adapter's receipts() reads one callback with the
 * helpers at the end of this file: the body as JSON (in place, as answers
 * are) or as a form (decoded into one copy of the body), a report's time in
 * any of the providers' ISO 8601 shapes (one parser, offsets honoured,
 * computed from the civil date rather than timegm(), so no time zone or
 * locale is involved), and provider_receipt_fill(), which every report
 * goes through: our reference must be ours (provider_ref_id()), ids and
 * numbers must fit whole (a cut one would name another message), strings
 * are sanitised as reasons are.  A callback is taken whole or not at all:
 * one bad report makes it MALFORMED, so that the provider sends it again
 * or an operator sees it, rather than part of it being recorded.  Errors
 * name fields, never their values (a caller's bytes in a log line).
 */
#define _GNU_SOURCE /* strptime(), timegm() */

#include "provider/provider.h"
#include "provider/provider_impl.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/xalloc.h"
#include "common/err.h"
#include "common/num.h"

#define HTTP_DATE_MAX 64          /* longest HTTP-date we look at, bytes */
#define MS_PER_S 1000

/* ---- the adapter table -------------------------------------------------- */

static const struct provider_ops *const adapters[] = {
	[PROVIDER_TWILIO] = &provider_twilio_ops,
	[PROVIDER_INFOBIP] = &provider_infobip_ops,
	[PROVIDER_WEBHOOK] = &provider_webhook_ops,
	[PROVIDER_SINCH] = &provider_sinch_ops,
	[PROVIDER_VONAGE] = &provider_vonage_ops,
};

#define N_ADAPTERS (sizeof(adapters) / sizeof(adapters[0]))

const struct provider_ops *provider_ops_for(enum provider_kind kind)
{
	if ((unsigned)kind >= N_ADAPTERS)
		return NULL;
	return adapters[kind];
}

int provider_kind_parse(const char *name, enum provider_kind *out)
{
	size_t i;

	if (name == NULL || out == NULL)
		return -1;
	for (i = 0; i < N_ADAPTERS; i++) {
		if (adapters[i] != NULL && strcmp(adapters[i]->api, name) == 0) {
			*out = (enum provider_kind)i;
			return 0;
		}
	}
	return -1;
}

int provider_ref_id(const char *ref, uint64_t *id)
{
	size_t pl = sizeof(PROVIDER_REF_PREFIX) - 1;

	if (ref == NULL || strncmp(ref, PROVIDER_REF_PREFIX, pl) != 0 || ref[pl] < '1' ||
	    ref[pl] > '9')
		return -1;
	return num_parse_u64(ref + pl, 1, UINT64_MAX, id);
}

void provider_request_clear(struct provider_request *req)
{
	if (req == NULL)
		return;
	free(req->body);
	/* Also wipes the Basic credentials copied from the config. */
	memset(req, 0, sizeof(*req));
}

/* ---- UTF-8 -------------------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at s[0..avail) (RFC 3629, table 3
 * of Unicode's chapter 3: no overlongs, no surrogates, nothing above
 * U+10FFFF), or 0 if it is not one.  *need gets the length the lead byte
 * announces (0 for a byte that cannot start a sequence), so that a caller can
 * tell a sequence cut by the end of the buffer from a bad one.
 */
static size_t utf8_seq(const unsigned char *s, size_t avail, size_t *need)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80) {
		*need = 1;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;          /* overlong */
		else if (c == 0xed)
			hi = 0x9f;          /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;          /* overlong */
		else if (c == 0xf4)
			hi = 0x8f;          /* above U+10FFFF */
	} else {
		*need = 0;
		return 0;
	}
	*need = n;
	if (avail < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

int provider_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, need;

	while (i < len) {
		size_t k = utf8_seq(s + i, len - i, &need);

		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/*
 * Make buf (NUL-terminated, at most cap bytes with the NUL) printable, valid
 * UTF-8: control characters become spaces, bytes that start no valid
 * sequence become '?', and a sequence cut by the end (vsnprintf truncation)
 * is dropped.  In place: never grows.
 */
/* 1 if s[0..len) are all UTF-8 continuation bytes. */
static int only_continuations(const unsigned char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return 1;
}

static void sanitize_text(char *buf)
{
	unsigned char *s = (unsigned char *)buf;
	size_t len = strlen(buf), i = 0, need;

	while (i < len) {
		size_t k = utf8_seq(s + i, len - i, &need);

		if (k == 0) {
			if (need > 1 && i + need > len && only_continuations(s + i + 1, len - i - 1)) {
				s[i] = '\0';   /* a character cut by truncation */
				return;
			}
			s[i++] = '?';
			continue;
		}
		if (k == 1 && (s[i] < 0x20 || s[i] == 0x7f))
			s[i] = ' ';
		i += k;
	}
}

/* ---- results ------------------------------------------------------------ */

void provider_result_set(struct provider_result *r, enum provider_status status,
			 int ambiguous, int64_t retry_after_ms, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	r->ambiguous = ambiguous ? 1 : 0;
	r->retry_after_ms = retry_after_ms >= 0 ? retry_after_ms : -1;
	r->provider_id[0] = '\0';
	va_start(ap, fmt);
	if (vsnprintf(r->reason, sizeof(r->reason), fmt, ap) < 0)
		r->reason[0] = '\0';
	va_end(ap);
	sanitize_text(r->reason);
}

void provider_result_sent(struct provider_result *r, const char *id)
{
	r->status = PROVIDER_SENT;
	r->ambiguous = 0;
	r->retry_after_ms = -1;
	r->reason[0] = '\0';
	provider_result_set_id(r, id);
}

/* Copy src (NULL: "") into dst[0..cap), cut as snprintf would, then
 * sanitised (sanitize_text()).  1 if the whole of src fit, else 0. */
static int copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = src != NULL ? strnlen(src, cap) : 0;
	int whole = n < cap;

	if (!whole)
		n = cap - 1;
	memcpy(dst, src != NULL ? src : "", n);
	dst[n] = '\0';
	sanitize_text(dst);
	return whole;
}

void provider_result_set_id(struct provider_result *r, const char *id)
{
	(void)copy_text(r->provider_id, sizeof(r->provider_id), id);
}

/* ---- the shared outcome rules -------------------------------------------- */

/* The outcome of a whole-request answer, into *r (see the table above). */
static void classify(const struct provider_response *resp, const char *detail,
		     struct provider_result *r)
{
	const char *sep = detail != NULL && detail[0] != '\0' ? " " : "";
	const char *d = detail != NULL ? detail : "";
	const char *terr;
	long st;

	if (resp == NULL) {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "no response%s%s", sep, d);
		return;
	}
	terr = resp->error != NULL && resp->error[0] != '\0' ? resp->error : "transport error";
	switch (resp->transport) {
	case PROVIDER_T_OK:
		break;
	case PROVIDER_T_NOT_SENT:
	case PROVIDER_T_WITHHELD:
		provider_result_set(r, resp->config ? PROVIDER_MISCONFIGURED : PROVIDER_RETRY, 0,
				    -1, "not sent: %s%s%s", terr, sep, d);
		return;
	case PROVIDER_T_AMBIGUOUS:
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "no answer after sending: %s%s%s",
				    terr, sep, d);
		return;
	default:
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "unknown transport result %d%s%s",
				    resp->transport, sep, d);
		return;
	}

	st = resp->status;
	if (st >= 200 && st <= 299) {
		/* The provider took the request but we cannot read what it
		 * said: it probably sent the messages, we cannot tell. */
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "http %ld%s%s", st, sep, d);
	} else if (st == 429) {
		provider_result_set(r, PROVIDER_THROTTLED, 0, resp->retry_after_ms,
				    "http %ld%s%s", st, sep, d);
	} else if (st == 503) {
		provider_result_set(r, PROVIDER_UNAVAILABLE, 0, resp->retry_after_ms,
				    "http %ld%s%s", st, sep, d);
	} else if (st == 401 || st == 403 || st == 404 || st == 407) {
		provider_result_set(r, PROVIDER_MISCONFIGURED, 0, -1, "http %ld%s%s", st, sep, d);
	} else if (st == 408) {
		provider_result_set(r, PROVIDER_RETRY, 0, -1, "http %ld%s%s", st, sep, d);
	} else if (st >= 400 && st <= 499) {
		provider_result_set(r, PROVIDER_FAILED, 0, -1, "http %ld%s%s", st, sep, d);
	} else if (st == 502 || st == 504) {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "http %ld%s%s", st, sep, d);
	} else if (st >= 500 && st <= 599) {
		provider_result_set(r, PROVIDER_RETRY, 0, -1, "http %ld%s%s", st, sep, d);
	} else if (st >= 300 && st <= 399) {
		provider_result_set(r, PROVIDER_RETRY, 0, -1, "http %ld (redirect not followed)%s%s",
				    st, sep, d);
	} else {
		provider_result_set(r, PROVIDER_RETRY, 1, -1, "unexpected http status %ld%s%s",
				    st, sep, d);
	}
}

void provider_fail_all(const struct provider_response *resp, const char *detail,
		       size_t n, struct provider_result *out)
{
	struct provider_result r;
	size_t i;

	if (n == 0 || out == NULL)
		return;
	classify(resp, detail, &r);
	for (i = 0; i < n; i++)
		out[i] = r;
}

/* ---- Retry-After ---------------------------------------------------------- */

/* delta-seconds = 1*DIGIT (RFC 9110 10.2.3), in ms; -1 if not, or too big. */
static int64_t delta_seconds_ms(const char *s, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		int d = s[i] - '0';

		if (d < 0 || d > 9)
			return -1;
		if (v > (INT64_MAX / MS_PER_S - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	return v * MS_PER_S;
}

/*
 * HTTP-date (RFC 9110 5.6.7) as seconds since the epoch, or -1.  The
 * preferred IMF-fixdate, and the two obsolete forms recipients must still
 * accept.  strptime() must consume the whole value.  Month and day names
 * are read in the C locale's English: the worker never calls setlocale().
 */
static int http_date(const char *s, time_t *out)
{
	static const char *const forms[] = {
		"%a, %d %b %Y %H:%M:%S GMT",   /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
		"%A, %d-%b-%y %H:%M:%S GMT",   /* RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT */
		"%a %b %e %H:%M:%S %Y",        /* asctime():   Sun Nov  6 08:49:37 1994 */
	};
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct tm tm;
		const char *end;
		time_t t;

		memset(&tm, 0, sizeof(tm));
		end = strptime(s, forms[i], &tm);
		if (end == NULL || *end != '\0')
			continue;
		t = timegm(&tm);
		if (t == (time_t)-1)
			continue;
		*out = t;
		return 0;
	}
	return -1;
}

static int64_t parse_retry_after(const char *value, int64_t now_ms)
{
	char date[HTTP_DATE_MAX];
	size_t len;
	int64_t ms;
	time_t t;

	if (value == NULL)
		return -1;
	/* Field values may carry optional whitespace around them. */
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 0)
		return -1;
	if (value[0] >= '0' && value[0] <= '9')
		return delta_seconds_ms(value, len);

	if (len >= sizeof(date))
		return -1;
	memcpy(date, value, len);
	date[len] = '\0';
	if (http_date(date, &t) != 0)
		return -1;
	if ((int64_t)t > INT64_MAX / MS_PER_S || (int64_t)t < INT64_MIN / MS_PER_S)
		return -1;
	ms = (int64_t)t * MS_PER_S;
	if (now_ms >= ms)
		return 0;               /* already past: go now */
	if (now_ms < 0 && ms > INT64_MAX + now_ms)
		return -1;
	return ms - now_ms;
}

int64_t provider_parse_retry_after(const char *value, int64_t now_ms)
{
	int64_t ms = parse_retry_after(value, now_ms);

	/* A provider's "come back next year" must not hold it for a year: the
	 * hold lives in the pacing file and outlives restarts. */
	return ms > PROVIDER_RETRY_AFTER_MAX_MS ? PROVIDER_RETRY_AFTER_MAX_MS : ms;
}

/* ---- request helpers ------------------------------------------------------- */

int provider_token_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int provider_alnum(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return 0;
	return 1;
}

int provider_request_url(struct provider_request *req, const struct provider_conf *conf,
			 char *err, size_t errlen, const char *fmt, ...)
{
	char path[sizeof(req->url)];
	size_t blen = strnlen(conf->base_url, sizeof(conf->base_url));
	va_list ap;
	int k;

	if (blen == 0 || blen == sizeof(conf->base_url)) {
		err_set(err, errlen, "provider %s: base_url is empty or too long", conf->name);
		return -1;
	}
	if (!provider_token_safe(conf->base_url)) {
		err_set(err, errlen, "provider %s: base_url has spaces or control characters",
			conf->name);
		return -1;
	}
	while (blen > 0 && conf->base_url[blen - 1] == '/')
		blen--;
	va_start(ap, fmt);
	k = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(path)) {
		err_set(err, errlen, "provider %s: URL too long", conf->name);
		return -1;
	}
	k = snprintf(req->url, sizeof(req->url), "%.*s%s", (int)blen, conf->base_url, path);
	if (k < 0 || (size_t)k >= sizeof(req->url)) {
		req->url[0] = '\0';
		err_set(err, errlen, "provider %s: URL too long", conf->name);
		return -1;
	}
	return 0;
}

int provider_request_header(struct provider_request *req, const char *fmt, ...)
{
	char *h;
	va_list ap;
	int k;

	if (req->n_headers >= PROVIDER_HEADERS_MAX)
		return -1;
	h = req->headers[req->n_headers];
	va_start(ap, fmt);
	k = vsnprintf(h, PROVIDER_HEADER_MAX, fmt, ap);
	va_end(ap);
	if (k < 0 || k >= PROVIDER_HEADER_MAX) {
		h[0] = '\0';
		return -1;
	}
	for (; *h != '\0'; h++) {
		if ((unsigned char)*h < 0x20 || *h == 0x7f) {
			req->headers[req->n_headers][0] = '\0';
			return -1;
		}
	}
	req->n_headers++;
	return 0;
}

int provider_request_body_json(struct provider_request *req, const json_t *root,
			       char *err, size_t errlen)
{
	const size_t flags = JSON_COMPACT;
	size_t need, got;
	char *buf;

	need = json_dumpb(root, NULL, 0, flags);
	if (need == 0) {
		err_set(err, errlen, "cannot serialise the JSON body");
		return -1;
	}
	buf = xmalloc(need + 1);
	got = json_dumpb(root, buf, need, flags);
	if (got != need) {
		free(buf);
		err_set(err, errlen, "cannot serialise the JSON body");
		return -1;
	}
	buf[need] = '\0';
	free(req->body);
	req->body = buf;
	req->body_len = need;
	return 0;
}

void provider_match_entries(const struct provider_response *resp, const struct provider_msg *msgs,
			    size_t n, struct provider_result *out, const char *list_key,
			    const char *const *keys, size_t n_keys, const char *missing,
			    provider_entry_fn *fn)
{
	char why[PROVIDER_REASON_MAX], ref[PROVIDER_JSON_STR_MAX];
	struct jscan_val root, list, entry = { NULL, 0 }, m[PROVIDER_ENTRY_KEYS_MAX];
	unsigned char *seen;
	size_t i;

	if (n_keys == 0 || n_keys > PROVIDER_ENTRY_KEYS_MAX) {
		provider_fail_all(resp, "internal error: entry keys", n, out);
		return;
	}
	if (provider_json_load(resp, &root, why, sizeof(why)) != 0) {
		provider_fail_all(resp, why, n, out);
		return;
	}
	list = jscan_get(root, list_key);
	if (jscan_type(list) != JSCAN_ARRAY) {
		snprintf(why, sizeof(why), "answer without a %s array", list_key);
		provider_fail_all(resp, why, n, out);
		return;
	}
	seen = xcalloc(n, 1);
	for (size_t at = 0; jscan_next(list, &entry); at++) {
		const char *id;
		long k;

		jscan_members(entry, keys, m, n_keys);
		/* A longer id than the buffer is cut, and cannot equal one of our
		 * refs (PROVIDER_REF_MAX is far shorter). */
		id = provider_json_strv(m[0], ref, sizeof(ref));
		k = provider_find_ref(msgs, n, id, at);
		if (k < 0 || seen[k])
			continue; /* not ours, or a repeat: the first one counts */
		seen[k] = 1;
		fn(resp, m, id, &out[k]);
	}
	for (i = 0; i < n; i++)
		if (!seen[i])
			provider_result_set(&out[i], PROVIDER_RETRY, 1, -1, "%s", missing);
	free(seen);
}

void provider_batch_parse(const struct provider_batch_answer *a,
			  const struct provider_response *resp, const struct provider_msg *msgs,
			  size_t n, struct provider_result *out)
{
	char why[PROVIDER_REASON_MAX], detail[PROVIDER_REASON_MAX] = "";
	struct jscan_val root = { 0 };

	if (n == 0 || out == NULL)
		return;
	if (resp == NULL || resp->transport != PROVIDER_T_OK) {
		provider_fail_all(resp, NULL, n, out);
		return;
	}
	if (provider_http_2xx(resp) && a->list == NULL) {
		if (provider_json_load(resp, &root, why, sizeof(why)) != 0)
			provider_fail_all(resp, why, n, out);
		else
			a->whole(root, resp, n, out);
		return;
	}
	if (provider_http_2xx(resp)) {
		provider_match_entries(resp, msgs, n, out, a->list, a->keys, a->n_keys, a->missing,
				       a->entry);
		return;
	}
	if (provider_json_load(resp, &root, why, sizeof(why)) != 0)
		root = (struct jscan_val){ 0 }; /* unreadable: no detail */
	if (a->error_detail != NULL)
		a->error_detail(root, detail, sizeof(detail));
	provider_fail_all(resp, detail[0] != '\0' ? detail : NULL, n, out);
	if (a->after_error != NULL)
		a->after_error(root, n, out);
}

int provider_json_request(struct provider_request *req, const struct provider_conf *conf,
			  const char *scheme, const char *what, const struct provider_msg *msgs,
			  size_t n, char *err, size_t errlen)
{
	if (conf->token[0] == '\0' || !provider_token_safe(conf->token))
		return err_set(err, errlen, "provider %s: token (%s) is empty or has spaces or "
			       "control characters", conf->name, what);
	if (provider_request_header(req, "Authorization: %s %s", scheme, conf->token) != 0 ||
	    provider_request_header(req, "Content-Type: application/json") != 0 ||
	    provider_request_header(req, "Accept: application/json") != 0)
		return err_set(err, errlen, "provider %s: cannot add headers", conf->name);
	if (!provider_utf8_valid(conf->sender, strlen(conf->sender)))
		return err_set(err, errlen, "provider %s: sender is not UTF-8", conf->name);
	for (size_t i = 0; i < n; i++)
		if (!provider_utf8_valid(msgs[i].to, strlen(msgs[i].to)) ||
		    !provider_utf8_valid(msgs[i].ref, strlen(msgs[i].ref)))
			return err_set(err, errlen, "message %" PRIu64 ": destination or reference "
				       "not UTF-8", msgs[i].id);
	return 0;
}

int provider_form_request(struct provider_request *req, const struct provider_conf *conf,
			  const char *what_account, const char *what_token, char *err,
			  size_t errlen)
{
	if (!provider_alnum(conf->account))
		return err_set(err, errlen, "provider %s: account must be the %s (letters and "
			       "digits)", conf->name, what_account);
	if (conf->token[0] == '\0')
		return err_set(err, errlen, "provider %s: token (%s) is empty", conf->name,
			       what_token);
	if (conf->sender[0] == '\0')
		return err_set(err, errlen, "provider %s: sender is empty", conf->name);
	if (provider_request_header(req, "Content-Type: application/x-www-form-urlencoded") != 0 ||
	    provider_request_header(req, "Accept: application/json") != 0)
		return err_set(err, errlen, "provider %s: cannot add headers", conf->name);
	/* Both fit: same sizes as the config fields they come from. */
	snprintf(req->basic_user, sizeof(req->basic_user), "%s", conf->account);
	snprintf(req->basic_pass, sizeof(req->basic_pass), "%s", conf->token);
	return 0;
}

static void buf_reserve(struct provider_buf *b, size_t more)
{
	size_t need = b->len + more + 1;

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void provider_buf_raw(struct provider_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void provider_buf_json_str(struct provider_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *o;

	buf_reserve(b, n * 6 + 2); /* worst case: every byte as \u00XX */
	o = b->p + b->len;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		unsigned char c = *p;

		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
		}
	}
	*o++ = '"';
	*o = '\0';
	b->len = (size_t)(o - b->p);
}

void provider_buf_form(struct provider_buf *b, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t klen = strlen(key);
	char *o;

	buf_reserve(b, 1 + klen + 1 + 3 * strlen(value)); /* worst case: all %XX */
	o = b->p + b->len;
	if (b->len > 0)
		*o++ = '&';
	memcpy(o, key, klen);
	o += klen;
	*o++ = '=';
	for (const unsigned char *v = (const unsigned char *)value; *v != '\0'; v++) {
		if ((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') ||
		    (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_' || *v == '~') {
			*o++ = (char)*v;
		} else {
			*o++ = '%';
			*o++ = hex[*v >> 4];
			*o++ = hex[*v & 0x0f];
		}
	}
	*o = '\0';
	b->len = (size_t)(o - b->p);
}

void provider_request_take_body(struct provider_request *req, struct provider_buf *b)
{
	free(req->body);
	req->body = b->p;
	req->body_len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
}

int provider_request_messages_json(struct provider_request *req,
				   const struct provider_conf *conf,
				   const struct provider_msg *msgs, size_t n,
				   provider_msg_json_fn *one, char *err, size_t errlen)
{
	json_t *root = json_object();
	json_t *list = json_array();
	int rc = -1;

	if (root == NULL || list == NULL || json_object_set(root, "messages", list) != 0) {
		err_set(err, errlen, "out of memory building the JSON body");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *m = one(conf, &msgs[i]);

		if (m == NULL || json_array_append_new(list, m) != 0) {
			err_set(err, errlen, "message %" PRIu64 ": cannot encode it as JSON",
				msgs[i].id);
			goto out;
		}
	}
	if (conf->receipt_url[0] != '\0' &&
	    json_object_set_new(root, "callback_url", json_string(conf->receipt_url)) != 0) {
		err_set(err, errlen, "cannot encode the receipt URL as JSON");
		goto out;
	}
	rc = provider_request_body_json(req, root, err, errlen);
out:
	json_decref(list);
	json_decref(root);
	return rc;
}

int provider_check_batch(const struct provider_msg *msgs, size_t n, size_t max,
			 int need_refs, char *err, size_t errlen)
{
	size_t i, j;

	if (msgs == NULL || n == 0 || n > max) {
		err_set(err, errlen, "batch of %zu messages (1 to %zu allowed)", n, max);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const struct provider_msg *m = &msgs[i];

		if (m->to == NULL || m->to[0] == '\0') {
			err_set(err, errlen, "message %" PRIu64 ": no destination", m->id);
			return -1;
		}
		if (m->text == NULL || !provider_utf8_valid(m->text, strlen(m->text))) {
			err_set(err, errlen, "message %" PRIu64 ": text missing or not UTF-8",
				m->id);
			return -1;
		}
		if (!need_refs)
			continue;
		if (m->ref == NULL || m->ref[0] == '\0' ||
		    strnlen(m->ref, PROVIDER_REF_MAX) >= PROVIDER_REF_MAX) {
			err_set(err, errlen, "message %" PRIu64 ": reference missing or too long",
				m->id);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(msgs[j].ref, m->ref) == 0) {
				err_set(err, errlen,
					"message %" PRIu64 ": reference %s twice in the batch",
					m->id, m->ref);
				return -1;
			}
		}
	}
	return 0;
}

/* ---- answer helpers ------------------------------------------------------ */

int provider_http_2xx(const struct provider_response *resp)
{
	return resp != NULL && resp->transport == PROVIDER_T_OK &&
	       resp->status >= 200 && resp->status <= 299;
}

/* body[0..len) as one JSON object or array, in place (provider_json_load()
 * and provider_callback_json() say how it fails). */
static int json_load_body(const char *body, size_t len, struct jscan_val *root, char *why,
			  size_t whylen)
{
	char jerr[96];
	enum jscan_type t;

	root->p = NULL;
	root->len = 0;
	if (body == NULL || len == 0) {
		err_set(why, whylen, "empty body");
		return -1;
	}
	if (len > PROVIDER_BODY_MAX) {
		err_set(why, whylen, "body too large (%zu bytes)", len);
		return -1;
	}
	/* The body needs no NUL: jscan reads exactly len bytes. */
	if (jscan_parse(body, len, root, jerr, sizeof(jerr)) != 0) {
		err_set(why, whylen, "unparseable body: %s", jerr);
		return -1;
	}
	t = jscan_type(*root);
	if (t != JSCAN_OBJECT && t != JSCAN_ARRAY) {
		root->p = NULL;
		root->len = 0;
		err_set(why, whylen, "unparseable body: not an object or an array");
		return -1;
	}
	return 0;
}

int provider_json_load(const struct provider_response *resp, struct jscan_val *root, char *why,
		       size_t whylen)
{
	return json_load_body(resp->body, resp->body_len, root, why, whylen);
}

const char *provider_json_str(struct jscan_val obj, const char *key, char *buf, size_t cap)
{
	return provider_json_strv(jscan_get(obj, key), buf, cap);
}

const char *provider_json_strv(struct jscan_val v, char *buf, size_t cap)
{
	char *whole;
	size_t cut;

	if (jscan_type(v) != JSCAN_STRING || cap == 0)
		return NULL;
	if (jscan_str(v, buf, cap) >= 0)
		return buf;
	/* Longer than buf: decode it whole (never longer than its text), keep
	 * what fits without splitting a UTF-8 sequence. */
	whole = xmalloc(v.len);
	if (jscan_str(v, whole, v.len) < 0) { /* cannot happen: checked text */
		free(whole);
		return NULL;
	}
	cut = cap - 1;
	while (cut > 0 && ((unsigned char)whole[cut] & 0xC0) == 0x80)
		cut--;
	memcpy(buf, whole, cut);
	buf[cut] = '\0';
	free(whole);
	return buf;
}

int provider_json_code(struct jscan_val v, int64_t *out)
{
	char text[32];

	if (jscan_int(v, out) == 0)
		return 0;
	if (jscan_str(v, text, sizeof(text)) >= 0 &&
	    num_parse_i64(text, INT64_MIN, INT64_MAX, out) == 0)
		return 0;
	return -1;
}

void provider_single_parse(const struct provider_response *resp, const struct provider_msg *msgs,
			   size_t n, struct provider_result *out, provider_single_fn *ok,
			   provider_single_fn *error, const char *api)
{
	if (n == 0 || out == NULL)
		return;
	if (resp == NULL || resp->transport != PROVIDER_T_OK)
		provider_fail_all(resp, NULL, 1, out);
	else if (provider_http_2xx(resp))
		ok(resp, &msgs[0], out);
	else
		error(resp, &msgs[0], out);
	/* build() never makes a request for more than one message. */
	for (size_t i = 1; i < n; i++)
		provider_result_set(&out[i], PROVIDER_RETRY, 1, -1,
				    "not part of the %s request (one message per request)", api);
}

long provider_find_ref(const struct provider_msg *msgs, size_t n, const char *ref, size_t hint)
{
	size_t i;

	if (ref == NULL)
		return -1;
	if (hint < n && msgs[hint].ref != NULL && strcmp(msgs[hint].ref, ref) == 0)
		return (long)hint;
	for (i = 0; i < n; i++)
		if (msgs[i].ref != NULL && strcmp(msgs[i].ref, ref) == 0)
			return (long)i;
	return -1;
}

size_t provider_distinct_prefix(const struct provider_msg *msgs, size_t n)
{
	size_t cap = 16, i;
	uint32_t *slot;

	/* Open addressing over at least twice n slots, each a message's index
	 * + 1 (0: empty), hashed by FNV-1a of the number: a batch of 1,000
	 * is read once, not compared pairwise. */
	while (cap < 2 * n)
		cap *= 2;
	slot = xcalloc(cap, sizeof(*slot));
	for (i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603ULL;
		size_t k;

		for (const unsigned char *p = (const unsigned char *)msgs[i].to; *p != '\0'; p++)
			h = (h ^ *p) * 1099511628211ULL;
		for (k = h & (cap - 1); slot[k] != 0; k = (k + 1) & (cap - 1))
			if (strcmp(msgs[slot[k] - 1].to, msgs[i].to) == 0)
				goto out;
		slot[k] = (uint32_t)i + 1;
	}
out:
	free(slot);
	return i;
}

int provider_conf_check(const struct provider_conf *conf, char *err, size_t errlen)
{
	const struct provider_ops *ops = provider_ops_for(conf->kind);
	struct provider_msg m = { 1, "smsq-1", "+33612345678", "configuration check", 1, 0 };
	struct provider_request req;
	int rc;

	if (ops == NULL) {
		snprintf(err, errlen, "unknown provider kind %d", (int)conf->kind);
		return -1;
	}
	memset(&req, 0, sizeof(req));
	rc = ops->build(conf, &m, 1, &req, err, errlen);
	provider_request_clear(&req);
	return rc;
}

/* ---- delivery reports ------------------------------------------------------ */

#define SECONDS_PER_DAY 86400
#define TIME_FRACTION_MAX 9       /* digits of a fraction of a second read */

/* The value of hex digit c (either case), or -1. */
static int hex_value(char c)
{
	static const char hex[] = "0123456789abcdef";
	const char *at = c != '\0' ? strchr(hex, tolower((unsigned char)c)) : NULL;

	return at != NULL ? (int)(at - hex) : -1;
}

/* Decode s[0..len) in place (+ and %XX); its new length, or -1 with why. */
static long form_decode(char *s, size_t len, const char **why)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '+') {
			s[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			s[o++] = s[i];
			continue;
		}
		hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
		lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			*why = "%-escape not followed by two hex digits";
			return -1;
		}
		if (hi == 0 && lo == 0) {
			*why = "a %00 (NUL) in a field";
			return -1;
		}
		s[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (long)o;
}

int provider_form_parse(const char *body, size_t len, struct provider_form *f, char *err,
			size_t errlen)
{
	const char *why = NULL;
	size_t at = 0;

	memset(f, 0, sizeof(*f));
	if (len > PROVIDER_BODY_MAX)
		return err_set(err, errlen, "body too large (%zu bytes)", len);
	if (len > 0 && memchr(body, '\0', len) != NULL)
		return err_set(err, errlen, "a NUL byte in the body");
	/* Decoding never lengthens a field: each is decoded in place in a
	 * copy of the body, its '=' and '&' becoming the NULs. */
	f->buf = xmalloc(len + 1);
	if (len > 0)
		memcpy(f->buf, body, len);
	f->buf[len] = '\0';
	while (at < len) {
		char *field = f->buf + at, *amp = strchr(field, '&'), *eq;
		size_t flen = amp != NULL ? (size_t)(amp - field) : len - at;
		long nlen, vlen;

		at += flen + 1;
		if (flen == 0)
			continue;
		field[flen] = '\0';
		if (f->n == PROVIDER_FORM_FIELDS_MAX) {
			why = "more fields than are read";
			goto fail;
		}
		eq = strchr(field, '=');
		if (eq != NULL)
			*eq = '\0';
		nlen = form_decode(field, strlen(field), &why);
		if (nlen < 0)
			goto fail;
		field[nlen] = '\0';
		f->field[f->n].name = field;
		if (eq == NULL) {
			f->field[f->n].value = field + nlen; /* "" */
		} else {
			vlen = form_decode(eq + 1, strlen(eq + 1), &why);
			if (vlen < 0)
				goto fail;
			eq[1 + vlen] = '\0';
			f->field[f->n].value = eq + 1;
		}
		f->n++;
	}
	return 0;
fail:
	provider_form_clear(f);
	return err_set(err, errlen, "unreadable form: %s", why);
}

const char *provider_form_get(const struct provider_form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->field[i].name, name) == 0)
			return f->field[i].value;
	return NULL;
}

void provider_form_clear(struct provider_form *f)
{
	if (f == NULL)
		return;
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

int provider_media_type_is(const char *content_type, const char *type)
{
	size_t n = strlen(type);

	if (content_type == NULL)
		return 0;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	if (strncasecmp(content_type, type, n) != 0)
		return 0;
	content_type += n;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	return *content_type == '\0' || *content_type == ';';
}

/* n decimal digits at *p into *v (*p moves past them): 0, or -1. */
static int digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return -1;
		*v = *v * 10 + (c - '0');
	}
	*p += n;
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (the
 * civil-from-days count, done backwards: years start in March so that the
 * leap day is a year's last). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* The zone at p ("", "Z", "+hh:mm", "+hhmm", maybe after a space) as an
 * offset east of UTC in seconds: 0, or -1 (anything else, or after it). */
static int zone_offset(const char *p, int64_t *off_s)
{
	int sign, hh, mm;

	*off_s = 0;
	if (*p == ' ' && (p[1] == '+' || p[1] == '-' || p[1] == 'Z' || p[1] == 'z'))
		p++;
	if (*p == '\0')
		return 0;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (digits(&p, 2, &hh) != 0)
		return -1;
	if (*p == ':')
		p++;
	if (digits(&p, 2, &mm) != 0 || *p != '\0' || hh > 23 || mm > 59)
		return -1;
	*off_s = sign * (int64_t)(hh * 3600 + mm * 60);
	return 0;
}

/* The fraction of a second at *p, its '.' or ',' first: 1 to
 * TIME_FRACTION_MAX digits, as ms (what is finer is cut); *p moves past it.
 * 0, or -1. */
static int fraction_ms(const char **p, int *ms)
{
	static const int scale[] = { 100, 10, 1 };
	const char *s = *p + 1;
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > TIME_FRACTION_MAX)
		return -1;
	*ms = 0;
	for (size_t i = 0; i < n && i < sizeof(scale) / sizeof(scale[0]); i++)
		*ms += (s[i] - '0') * scale[i];
	*p = s + n;
	return 0;
}

int provider_parse_time(const char *s, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, frac_ms = 0;
	int64_t off_s, t;

	if (s == NULL || digits(&p, 4, &y) != 0 || *p++ != '-' || digits(&p, 2, &mo) != 0 ||
	    *p++ != '-' || digits(&p, 2, &d) != 0)
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) != 0 || *p++ != ':' || digits(&p, 2, &mi) != 0 || *p++ != ':' ||
	    digits(&p, 2, &sec) != 0)
		return -1;
	if ((*p == '.' || *p == ',') && fraction_ms(&p, &frac_ms) != 0)
		return -1;
	if (zone_offset(p, &off_s) != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	t = days_from_civil(y, mo, d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + sec - off_s;
	if (t < 0)
		return -1;
	*ms = t * MS_PER_S + frac_ms;
	return 0;
}

const char *provider_callback_arg(const struct provider_callback *cb, const char *name)
{
	return cb->arg != NULL ? cb->arg(cb->ctx, name) : NULL;
}

const char *provider_callback_header(const struct provider_callback *cb, const char *name)
{
	return cb->header != NULL ? cb->header(cb->ctx, name) : NULL;
}

int provider_callback_json(const struct provider_callback *cb, struct jscan_val *root, char *err,
			   size_t errlen)
{
	if (cb->method == NULL || strcmp(cb->method, "POST") != 0) {
		err_set(err, errlen, "not a POST");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	if (json_load_body(cb->body, cb->body_len, root, err, errlen) != 0)
		return PROVIDER_RECEIPT_MALFORMED;
	if (jscan_type(*root) != JSCAN_OBJECT) {
		err_set(err, errlen, "body is not a JSON object");
		return PROVIDER_RECEIPT_MALFORMED;
	}
	return PROVIDER_RECEIPT_OK;
}

/* 1 if v is absent or null: an optional member not given. */
static int not_given(struct jscan_val v)
{
	return jscan_type(v) == JSCAN_ABSENT || jscan_type(v) == JSCAN_NULL;
}

int provider_json_opt_str(struct jscan_val v, char *buf, size_t cap, const char **out)
{
	*out = not_given(v) ? NULL : provider_json_strv(v, buf, cap);
	return not_given(v) || *out != NULL ? 0 : -1;
}

int provider_json_opt_int(struct jscan_val v, int64_t *out)
{
	return not_given(v) || jscan_int(v, out) == 0 ? 0 : -1;
}

void provider_status_lookup(const struct provider_status_word *words, size_t n,
			    const char *word, int *final, int *delivered)
{
	*final = 0;
	*delivered = 0;
	for (size_t i = 0; word != NULL && i < n; i++) {
		if (strcasecmp(words[i].word, word) == 0) {
			*final = words[i].final ? 1 : 0;
			*delivered = *final && words[i].delivered ? 1 : 0;
			return;
		}
	}
}

int provider_receipt_fill(struct provider_receipt *r, const struct provider_report *rep,
			  int64_t now_ms, char *err, size_t errlen)
{
	const char *ref_name = rep->ref_name != NULL ? rep->ref_name : "reference";
	const char *at_name = rep->at_name != NULL ? rep->at_name : "time";

	memset(r, 0, sizeof(*r));
	r->final = rep->final ? 1 : 0;
	r->delivered = r->final && rep->delivered ? 1 : 0;
	if (rep->ref != NULL && provider_ref_id(rep->ref, &r->id) != 0) {
		err_set(err, errlen, "%s is not a reference of ours", ref_name);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	/* Ids and numbers are matched against what was sent: one cut short
	 * would name another message, or none. */
	if (!copy_text(r->provider_id, sizeof(r->provider_id), rep->provider_id)) {
		err_set(err, errlen, "the provider's message id is longer than %zu bytes",
			sizeof(r->provider_id) - 1);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	if (!copy_text(r->to, sizeof(r->to), rep->to)) {
		err_set(err, errlen, "the recipient is longer than %zu bytes", sizeof(r->to) - 1);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	r->at_ms = now_ms;
	if (rep->at != NULL && provider_parse_time(rep->at, &r->at_ms) != 0) {
		err_set(err, errlen, "%s is not a time", at_name);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	/* Words for people: cut to fit. */
	(void)copy_text(r->status, sizeof(r->status), rep->status);
	/* "0" is every API's "no error". */
	if (rep->error != NULL && strcmp(rep->error, "0") != 0)
		(void)copy_text(r->error, sizeof(r->error), rep->error);
	return PROVIDER_RECEIPT_OK;
}

/* OK if count reports fit in cap, else MALFORMED with err. */
static int reports_fit(size_t count, size_t cap, char *err, size_t errlen)
{
	if (count <= cap)
		return PROVIDER_RECEIPT_OK;
	err_set(err, errlen, "%zu report%s, more than the %zu taken at once", count,
		count == 1 ? "" : "s", cap);
	return PROVIDER_RECEIPT_MALFORMED;
}

int provider_receipts_one(size_t cap, char *err, size_t errlen)
{
	return reports_fit(1, cap, err, errlen);
}

int provider_receipts_list(const struct provider_callback *cb, const char *list_key,
			   provider_list_entry_fn *fn, struct provider_receipt *out, size_t cap,
			   size_t *n, char *err, size_t errlen)
{
	char why[PROVIDER_REASON_MAX];
	struct jscan_val root, list, entry = { NULL, 0 };
	size_t count = 0;
	int rc;

	*n = 0;
	rc = provider_callback_json(cb, &root, err, errlen);
	if (rc != PROVIDER_RECEIPT_OK)
		return rc;
	list = jscan_get(root, list_key);
	if (jscan_type(list) != JSCAN_ARRAY) {
		err_set(err, errlen, "no %s array", list_key);
		return PROVIDER_RECEIPT_MALFORMED;
	}
	while (jscan_next(list, &entry))
		count++;
	rc = reports_fit(count, cap, err, errlen);
	if (rc != PROVIDER_RECEIPT_OK)
		return rc;
	entry = (struct jscan_val){ NULL, 0 };
	for (size_t i = 0; jscan_next(list, &entry); i++) {
		rc = fn(entry, cb->now_ms, &out[i], why, sizeof(why));
		if (rc != PROVIDER_RECEIPT_OK) {
			err_set(err, errlen, "report %zu: %s", i + 1, why);
			return rc;
		}
	}
	*n = count;
	return PROVIDER_RECEIPT_OK;
}

int provider_receipt_url_check(const struct provider_conf *conf, char *err, size_t errlen)
{
	/* RFC 3986's unreserved and reserved characters and '%', but '?' and
	 * '#': Twilio's callback adds a query to it. */
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789-._~:/[]@!$&'()*+,;=%";
	const char *u = conf->receipt_url;

	if (u[0] == '\0')
		return 0;
	if ((strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0) ||
	    u[strspn(u, allowed)] != '\0')
		return err_set(err, errlen, "provider %s: receipt URL is not an http(s) URL without "
			       "a query (characters of RFC 3986 only)", conf->name);
	return 0;
}
