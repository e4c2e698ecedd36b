/*
 * fuzz/answer: libFuzzer harness for every adapter's answer parser
 * (provider/provider_*.c parse()): what a provider's HTTP answer makes of
 * the messages of the request, as dispatch hands it over.
 *
 * The input: four bytes of control, then the answer's body.
 *   [0]  the adapter (PROVIDER_TWILIO..PROVIDER_VONAGE, modulo)
 *   [1]  the HTTP status (an index into statuses[]) and the transport
 *   [2]  the messages of the request: 1 to 4, no more than the adapter's
 *        max_batch (their refs smsq-1.. and numbers as dispatch sends them)
 *   [3]  the Retry-After seen (-1: none)
 * The body is copied into a buffer of its exact size (no NUL after it: the
 * adapters take a length).  Beyond the sanitizers, each result must be what
 * tests/test_provider.c's assert_result_sane() asks: a known status, a
 * reason and an id that are bounded, NUL-terminated, valid UTF-8 and (the
 * reason) free of control characters, since both are logged and stored.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider/provider.h"
#include "provider/provider_impl.h"

#define CTRL_BYTES 4
#define MSGS_MAX 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct provider_conf confs[] = {
	{ .name = "primary", .kind = PROVIDER_TWILIO, .base_url = "https://api.twilio.com",
	  .account = "AC0123456789abcdef0123456789abcdef", .token = "twilio-auth-token",
	  .sender = "+33644630000" },
	{ .name = "backup", .kind = PROVIDER_INFOBIP, .base_url = "https://xyz12.api.infobip.com",
	  .token = "0123456789abcdef-infobip-key", .sender = "InfoSMS" },
	{ .name = "inhouse", .kind = PROVIDER_WEBHOOK, .base_url = "http://127.0.0.1:8081/v1/sms",
	  .token = "gw-bearer-token" },
	{ .name = "bulk", .kind = PROVIDER_SINCH, .base_url = "https://eu.sms.api.sinch.com",
	  .account = "jd63jf88477ll123ab4567cd89012ef3", .token = "sinch-api-token",
	  .sender = "Clinique" },
	{ .name = "vonage", .kind = PROVIDER_VONAGE, .base_url = "https://rest.nexmo.com",
	  .account = "abcd1234", .token = "vonage-api-secret", .sender = "Clinique" },
};
#define N_CONFS (sizeof(confs) / sizeof(confs[0]))

static const struct provider_msg msgs[MSGS_MAX] = {
	{ 1, "smsq-1", "+33612345678", "Caf\xc3\xa9 \xf0\x9f\x98\x80 & co", 1, 1 },
	{ 2, "smsq-2", "+447700900123", "RDV \"demain\" 9h", 1, 0 },
	{ 3, "smsq-3", "+33699887766", "Three", 1, 0 },
	{ 4, "smsq-4", "+33611223344", "Four", 2, 0 },
};

static const long statuses[] = {
	200, 201, 202, 204, 207, 301, 400, 401, 402, 403, 404, 405, 407, 409, 413, 415,
	422, 429, 500, 502, 503, 504, 599, 100,
};
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

static void check_result(const struct provider_result *r)
{
	size_t len, i;

	if (r->status < PROVIDER_SENT || r->status > PROVIDER_SPLIT ||
	    (r->ambiguous != 0 && r->ambiguous != 1) || r->retry_after_ms < -1)
		abort();
	len = strnlen(r->reason, sizeof(r->reason));
	if (len >= sizeof(r->reason) || !provider_utf8_valid(r->reason, len))
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)r->reason[i] < 0x20 || r->reason[i] == 0x7f)
			abort();
	len = strnlen(r->provider_id, sizeof(r->provider_id));
	if (len >= sizeof(r->provider_id) || !provider_utf8_valid(r->provider_id, len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct provider_conf *conf;
	const struct provider_ops *ops;
	struct provider_result out[MSGS_MAX];
	struct provider_response resp;
	size_t n, i, max;
	char *body;

	if (size < CTRL_BYTES)
		return 0;
	conf = &confs[data[0] % N_CONFS];
	ops = provider_ops_for(conf->kind);
	if (ops == NULL)
		abort();
	max = ops->max_batch < MSGS_MAX ? ops->max_batch : MSGS_MAX;
	n = 1 + data[2] % max;
	memset(&resp, 0, sizeof(resp));
	resp.status = statuses[(data[1] & 0x3f) % N_STATUSES];
	/* Mostly an HTTP answer; now and then a failed transport. */
	resp.transport = (data[1] >> 6) == 3 ? (data[1] & 1 ? PROVIDER_T_AMBIGUOUS
							  : PROVIDER_T_NOT_SENT)
					     : PROVIDER_T_OK;
	resp.error = resp.transport == PROVIDER_T_OK ? NULL : "connection reset";
	resp.retry_after_ms = data[3] == 0xff ? -1 : (int64_t)data[3] * 1000;
	resp.body_len = size - CTRL_BYTES;
	body = malloc(resp.body_len ? resp.body_len : 1);
	if (body == NULL)
		abort();
	memcpy(body, data + CTRL_BYTES, resp.body_len);
	resp.body = body;

	memset(out, 0xa5, sizeof(out)); /* parse() must fill every result */
	ops->parse(conf, &resp, msgs, n, out);
	for (i = 0; i < n; i++)
		check_result(&out[i]);
	free(body);
	return 0;
}
