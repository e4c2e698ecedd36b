/*
 * fuzz/receipts: libFuzzer harness for the delivery-report parsers, each
 * adapter's receipts() (provider/provider_*.c): a callback a provider (or
 * anyone who can reach the receipt endpoint) makes, with its method,
 * content type, query arguments, headers and body.
 *
 * The input: two bytes of control, then four parts split at NUL bytes
 * (a missing part is empty; the body, last, may hold NULs of its own):
 *   [0]  the adapter (PROVIDER_TWILIO..PROVIDER_VONAGE, modulo)
 *   [1]  bit 0: GET, else POST; bit 1: sign (below); bits 2..7: the
 *        reports taken at once, 0 to 10 (the endpoint's cap)
 *   content type ("" none) NUL  query "name=value&..." (already decoded,
 *   as the endpoint hands them over) NUL  headers "Name: value\n..." NUL
 *   body
 * Sign: for Twilio, the harness serves X-Twilio-Signature computed as
 * Twilio does (the callback URL with ?ref= and the sorted form fields,
 * HMAC-SHA1 under the auth token), so that the fuzzer gets past the
 * signature to the report behind it; unsigned, the signature check itself
 * is fuzzed.  Beyond the sanitizers: OK gives at most cap reports, each
 * with bounded, NUL-terminated strings; any other return says why in err.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hmac.h"
#include "provider/provider.h"
#include "provider/provider_impl.h"

#define CTRL_BYTES 2
#define KV_MAX 16               /* query arguments, headers */
#define CAP_MAX 10              /* reports taken at once */
#define RECEIPT_BASE "https://smsq.example.com/receipts/"
#define RECEIPT_TOKEN "r3c31pt-t0k3n"
#define SIGNATURE "X-Twilio-Signature"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As tests/test_receipts.c's: the reports' fields name these accounts. */
static const struct provider_conf confs[] = {
	{ .name = "primary", .kind = PROVIDER_TWILIO, .base_url = "https://api.twilio.com",
	  .account = "AC0123456789abcdef0123456789abcdef", .token = "twilio-auth-token",
	  .sender = "+33644630000", .receipt_url = RECEIPT_BASE "primary/" RECEIPT_TOKEN },
	{ .name = "backup", .kind = PROVIDER_INFOBIP, .base_url = "https://xyz12.api.infobip.com/",
	  .token = "0123456789abcdef-infobip-key", .sender = "InfoSMS",
	  .receipt_url = RECEIPT_BASE "backup/" RECEIPT_TOKEN },
	{ .name = "inhouse", .kind = PROVIDER_WEBHOOK, .base_url = "http://127.0.0.1:8081/v1/sms",
	  .token = "gw-bearer-token", .receipt_url = RECEIPT_BASE "inhouse/" RECEIPT_TOKEN },
	{ .name = "bulk", .kind = PROVIDER_SINCH, .base_url = "https://eu.sms.api.sinch.com",
	  .account = "jd63jf88477ll123ab4567cd89012ef3", .token = "sinch-api-token",
	  .sender = "Clinique", .receipt_url = RECEIPT_BASE "bulk/" RECEIPT_TOKEN },
	{ .name = "vonage", .kind = PROVIDER_VONAGE, .base_url = "https://rest.nexmo.com",
	  .account = "abcd1234", .token = "vonage-api-secret", .sender = "Clinique",
	  .receipt_url = RECEIPT_BASE "vonage/" RECEIPT_TOKEN },
};
#define N_CONFS (sizeof(confs) / sizeof(confs[0]))

struct kv {
	const char *name;
	const char *value;
};

/* The callback's arguments and headers, split out of the input. */
struct call {
	struct kv args[KV_MAX];
	size_t n_args;
	struct kv headers[KV_MAX];
	size_t n_headers;
	char sig[HMAC_SHA1_BASE64]; /* the signature served ("": the input's) */
};

static const char *call_arg(void *ctx, const char *name)
{
	const struct call *c = ctx;

	for (size_t i = 0; i < c->n_args; i++)
		if (strcmp(c->args[i].name, name) == 0)
			return c->args[i].value;
	return NULL;
}

static const char *call_header(void *ctx, const char *name)
{
	const struct call *c = ctx;

	if (c->sig[0] != '\0' && strcasecmp(name, SIGNATURE) == 0)
		return c->sig;
	for (size_t i = 0; i < c->n_headers; i++)
		if (strcasecmp(c->headers[i].name, name) == 0)
			return c->headers[i].value;
	return NULL;
}

/* Split s (NUL-terminated, modified) at sep into name/value pairs at eq. */
static size_t split(char *s, char sep, char eq, struct kv *kv)
{
	size_t n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(s, (char[]){ sep, '\0' }, &save); tok != NULL && n < KV_MAX;
	     tok = strtok_r(NULL, (char[]){ sep, '\0' }, &save)) {
		char *v = strchr(tok, eq);

		if (v != NULL) {
			*v++ = '\0';
			v += strspn(v, " ");
		}
		kv[n].name = tok;
		kv[n].value = v != NULL ? v : "";
		n++;
	}
	return n;
}

/* The next NUL-terminated part of in[*at..len), copied into a fresh string. */
static char *part(const uint8_t *in, size_t len, size_t *at)
{
	const uint8_t *end = *at < len ? memchr(in + *at, '\0', len - *at) : NULL;
	size_t n = end != NULL ? (size_t)(end - (in + *at)) : len - (*at < len ? *at : len);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, in + *at, n);
	s[n] = '\0';
	*at = end != NULL ? *at + n + 1 : len;
	return s;
}

/* Twilio's signature of the form body for the callback's ref, into c->sig. */
static void sign(const struct provider_conf *conf, struct call *c, const char *body,
		 size_t len)
{
	struct provider_form f = { 0 };
	const char *ref = call_arg(c, "ref");
	char url[PROVIDER_URL_MAX + 64], err[128];

	if (ref == NULL || provider_form_parse(body, len, &f, err, sizeof(err)) != 0)
		return;
	if ((size_t)snprintf(url, sizeof(url), "%s?ref=%s", conf->receipt_url, ref) < sizeof(url) &&
	    provider_twilio_signature(conf->token, url, &f, c->sig) != 0)
		c->sig[0] = '\0';
	provider_form_clear(&f);
}

static void check_str(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct provider_receipt out[CAP_MAX];
	struct call c = { 0 };
	const struct provider_conf *conf;
	const struct provider_ops *ops;
	char *ctype, *query, *headers, *body;
	size_t at = CTRL_BYTES, cap, n = (size_t)-1, body_len;
	char err[256] = "";
	int rc;

	if (size < CTRL_BYTES)
		return 0;
	conf = &confs[data[0] % N_CONFS];
	ops = provider_ops_for(conf->kind);
	if (ops == NULL || ops->receipts == NULL)
		abort();
	cap = (size_t)(data[1] >> 2) % (CAP_MAX + 1);
	ctype = part(data, size, &at);
	query = part(data, size, &at);
	headers = part(data, size, &at);
	/* The body: the rest, NULs and all, in a buffer of its exact size. */
	body_len = size - at;
	body = malloc(body_len ? body_len : 1);
	if (body == NULL)
		abort();
	memcpy(body, data + at, body_len);
	c.n_args = split(query, '&', '=', c.args);
	c.n_headers = split(headers, '\n', ':', c.headers);
	if ((data[1] & 2) != 0 && conf->kind == PROVIDER_TWILIO)
		sign(conf, &c, body, body_len);

	struct provider_callback cb = {
		.method = (data[1] & 1) ? "GET" : "POST",
		.content_type = ctype,
		.body = body_len ? body : NULL,
		.body_len = body_len,
		.arg = call_arg,
		.header = call_header,
		.ctx = &c,
		.now_ms = 1800000000000LL,
	};
	memset(out, 0xa5, sizeof(out));
	rc = ops->receipts(conf, &cb, out, cap, &n, err, sizeof(err));
	check_str(err, sizeof(err));
	if (rc == PROVIDER_RECEIPT_OK) {
		if (n > cap)
			abort();
		for (size_t i = 0; i < n; i++) {
			check_str(out[i].provider_id, sizeof(out[i].provider_id));
			check_str(out[i].to, sizeof(out[i].to));
			check_str(out[i].status, sizeof(out[i].status));
			check_str(out[i].error, sizeof(out[i].error));
			if ((out[i].final != 0 && out[i].final != 1) ||
			    (out[i].delivered != 0 && out[i].delivered != 1))
				abort();
		}
	} else if ((rc != PROVIDER_RECEIPT_MALFORMED && rc != PROVIDER_RECEIPT_FORGED) ||
		   err[0] == '\0') {
		abort();
	}
	free(ctype);
	free(query);
	free(headers);
	free(body);
	return 0;
}
