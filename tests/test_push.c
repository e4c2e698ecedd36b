/*
 * test_push: what the outcome pusher sends (outcome/push.c): the body of a
 * POST as proto/OUTCOMES.md gives it, and its signature, checked against
 * one computed by another implementation (Python's hmac module).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outcome/push.h"

static void the_body_is_the_contract(void **state)
{
	struct store_outbox_entry e[2];
	size_t len = 0;
	char *body;

	(void)state;
	memset(e, 0, sizeof(e));
	e[0].seq = 42;
	snprintf(e[0].uid, sizeof(e[0].uid), "3f2a9c0d11b7e6a5");
	e[0].id = 7;
	e[0].state = STORE_STATE_SENT;
	e[0].kind = STORE_KIND_CONFIRMED;
	e[0].at_ms = 1800000000123LL;
	snprintf(e[0].idem_key, sizeof(e[0].idem_key), "k-1");
	snprintf(e[0].booking, sizeof(e[0].booking), "B-1");
	snprintf(e[0].note, sizeof(e[0].note), "SM123");
	e[1] = e[0];
	e[1].seq = 43;
	e[1].state = STORE_STATE_SUPERSEDED;
	e[1].kind = STORE_KIND_NONE;
	snprintf(e[1].note, sizeof(e[1].note), "quote \" and \\ kept");
	body = push_body(e, 2, &len);
	assert_non_null(body);
	assert_int_equal(len, strlen(body));
	assert_string_equal(body,
			    "{\"outcomes\":[{\"id\":\"3f2a9c0d11b7e6a5-42\",\"message_id\":7,"
			    "\"idempotency_key\":\"k-1\",\"booking_id\":\"B-1\",\"kind\":\"confirmed\","
			    "\"state\":\"sent\",\"detail\":\"SM123\",\"at_ms\":1800000000123},"
			    "{\"id\":\"3f2a9c0d11b7e6a5-43\",\"message_id\":7,\"idempotency_key\":\"k-1\","
			    "\"booking_id\":\"B-1\",\"kind\":\"none\",\"state\":\"superseded\","
			    "\"detail\":\"quote \\\" and \\\\ kept\",\"at_ms\":1800000000123}]}");
	free(body);
	body = push_body(e, 0, &len);
	assert_string_equal(body, "{\"outcomes\":[]}");
	free(body);
}

static void the_signature_is_hmac_sha256_of_time_and_body(void **state)
{
	const char *body = "{\"outcomes\":[]}";
	char sig[128];

	(void)state;
	/* python3: hmac.new(b"0123456789abcdef-secret",
	 * b'1800000000.{"outcomes":[]}', hashlib.sha256).hexdigest() */
	assert_int_equal(push_signature("0123456789abcdef-secret", 1800000000LL, body,
					strlen(body), sig, sizeof(sig)), 0);
	assert_string_equal(sig, "t=1800000000,v1=72c0af9b9acab75c858a101b02b90d1e37856b79755c30a"
				 "17d16558bcdb89bb7");
	assert_int_equal(push_signature("0123456789abcdef-secret", 1800000000LL, body,
					strlen(body), sig, 20), -1); /* too small */
}

/* proto/OUTCOMES.md's worked example, body and signature, as the pool
 * makes them. */
static void the_worked_example_of_the_contract(void **state)
{
	struct store_outbox_entry e;
	char sig[128];
	size_t len = 0;
	char *body;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.seq = 42;
	snprintf(e.uid, sizeof(e.uid), "3f2a9c0d11b7e6a5");
	e.id = 42;
	e.state = STORE_STATE_SENT;
	e.kind = STORE_KIND_CONFIRMED;
	e.at_ms = 1800000000123LL;
	snprintf(e.idem_key, sizeof(e.idem_key), "k-1");
	snprintf(e.booking, sizeof(e.booking), "B-1");
	snprintf(e.note, sizeof(e.note), "SM123");
	body = push_body(&e, 1, &len);
	assert_non_null(body);
	assert_int_equal(len, 175);
	assert_int_equal(push_signature("example-secret-do-not-use-0123456789", 1800000000LL, body,
					len, sig, sizeof(sig)), 0);
	assert_string_equal(sig, "t=1800000000,v1=f4aa0d240d8676a2383f3f87230145e1fdac6c985055f00"
				 "47c222a5e57f6b630");
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_body_is_the_contract),
		cmocka_unit_test(the_signature_is_hmac_sha256_of_time_and_body),
		cmocka_unit_test(the_worked_example_of_the_contract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
