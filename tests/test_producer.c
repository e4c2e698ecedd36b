/*
 * test_producer: the producer library (producer/smsq_producer.h) against a
 * pool played by the test itself, in one process.
 *
 * The test binds a ROUTER on tcp://127.0.0.1:* and connects a producer to
 * it.  Everything runs in one thread (but the smsq_publish_sync() test): the
 * helpers alternate between driving the producer (smsq_poll()) and reading
 * or answering on the ROUTER.  Time-outs that must NOT happen are long
 * (SLOW_MS); the ones that must happen are short; elapsed times are only
 * checked from below, so a slow machine makes the tests slower, not flaky.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zmq.h>

#include "common/clock.h"
#include "producer/smsq_producer.h"
#include "proto/booking.pb-c.h"

#define SLOW_MS 10000		/* what must happen does within this, surely */
#define STEP_MS 5		/* one turn of the helpers' loops */
#define MAX_ACKS 16		/* outcomes a test collects */
#define RID_MAX 256		/* ROUTER routing id */
#define EVENT_MAX 1024		/* event bytes the test pool keeps */
#define LONG_MS 600000		/* a resend or timeout that must not happen */
#define MANY 20000		/* events of test_many_out_of_order */
#define MANY_WINDOW 512		/* its window */
#define MANY_RETRY_ONE_IN 8	/* it answers RETRY_LATER to one request in this */

/* One request as the pool sees it. */
struct request {
	unsigned char rid[RID_MAX];	/* ROUTER routing id of the producer */
	size_t rid_len;			/* its length */
	uint64_t seq;			/* request id, decoded */
	unsigned char event[EVENT_MAX];	/* event bytes */
	size_t event_len;		/* their length */
	int64_t at_ms;			/* when the test received it */
};

/* Outcomes of test_many_out_of_order, by user (1..MANY). */
struct many {
	unsigned char seen[MANY + 1];	/* 1 once reported */
	size_t done;			/* outcomes reported */
	size_t bad;			/* reported twice, unknown, or not ACCEPTED */
};

struct fixture {
	void *ctx;			/* test's ZeroMQ context */
	void *router;			/* the fake pool */
	char endpoint[256];		/* where it listens */
	smsq_producer *p;		/* the producer under test */
	struct smsq_ack acks[MAX_ACKS];	/* outcomes collected */
	void *users[MAX_ACKS];		/* their user pointers */
	size_t n_acks;			/* how many */
	int reentry_rc;			/* rc of a call made from a callback */
	struct many *many;		/* set: collect() counts here instead */
	char ipc_dir[64];		/* private directory of an ipc:// endpoint */
};

/* ------------------------------------------------------------ helpers */

static void bind_router(struct fixture *f, const char *endpoint)
{
	int linger = 0;
	int hwm = 0;
	int64_t until = clock_mono_ms() + SLOW_MS;
	size_t len = sizeof(f->endpoint);

	f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
	assert_non_null(f->router);
	assert_int_equal(zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	/* A ROUTER drops what exceeds its send HWM, and ZeroMQ counts reads
	 * only every HWM/2 messages: with the default 1000, ~510 acks in
	 * flight can already be too many, and test_many_out_of_order (which
	 * never resends) would lose some. */
	assert_int_equal(zmq_setsockopt(f->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)), 0);
	/* Rebinding a port just closed may need the old listener to go. */
	while (zmq_bind(f->router, endpoint) != 0) {
		if (errno != EADDRINUSE || clock_mono_ms() > until)
			fail_msg("bind %s: %s", endpoint, zmq_strerror(errno));
		zmq_poll(NULL, 0, STEP_MS);
	}
	assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ctx = zmq_ctx_new();
	assert_non_null(f->ctx);
	bind_router(f, "tcp://127.0.0.1:*");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[sizeof(f->ipc_dir) + 8];

	smsq_producer_destroy(&f->p);
	if (f->router != NULL)
		zmq_close(f->router);
	zmq_ctx_term(f->ctx);
	if (f->ipc_dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/pool", f->ipc_dir);
		unlink(path);
		rmdir(f->ipc_dir);
	}
	free(f);
	return 0;
}

/* For the tests where the pool goes down and comes back on the same
 * endpoint: a TCP port left free meanwhile can be taken by another process
 * (tests run in parallel), a socket in a private directory cannot.  ZeroMQ
 * reconnects ipc:// like tcp://, and ZMQ_IMMEDIATE works the same. */
static void use_private_endpoint(struct fixture *f, char *endpoint, size_t size)
{
	strcpy(f->ipc_dir, "/tmp/smsq-test-XXXXXX");
	assert_non_null(mkdtemp(f->ipc_dir));
	snprintf(endpoint, size, "ipc://%s/pool", f->ipc_dir);
	zmq_close(f->router);
	f->router = NULL;
}

static void start(struct fixture *f, const struct smsq_producer_opts *opts)
{
	char err[256];

	f->p = smsq_producer_new(f->endpoint, opts, err, sizeof(err));
	if (f->p == NULL)
		fail_msg("smsq_producer_new: %s", err);
}

static void collect(const struct smsq_ack *ack, void *user, void *arg)
{
	struct fixture *f = arg;

	if (f->many != NULL) {
		uintptr_t u = (uintptr_t)user;

		if (u == 0 || u > MANY || f->many->seen[u] || ack->status != SMSQ_ACCEPTED)
			f->many->bad++;
		else
			f->many->seen[u] = 1;
		f->many->done++;
		return;
	}
	assert_true(f->n_acks < MAX_ACKS);
	f->acks[f->n_acks] = *ack;
	f->users[f->n_acks] = user;
	f->n_acks++;
}

/* A callback that tries to publish from inside the callback. */
static void reenter(const struct smsq_ack *ack, void *user, void *arg)
{
	struct fixture *f = arg;

	f->reentry_rc = smsq_publish(f->p, "x", 1, NULL, 0);
	collect(ack, user, arg);
}

static void publish(struct fixture *f, const char *event, uintptr_t user)
{
	int rc = smsq_publish(f->p, event, strlen(event), (void *)user, SLOW_MS);

	if (rc != SMSQ_OK)
		fail_msg("smsq_publish: %s", smsq_strerror(rc));
}

static void drive(struct fixture *f, int timeout_ms)
{
	int rc = smsq_poll(f->p, timeout_ms, collect, f);

	if (rc < 0)
		fail_msg("smsq_poll: %s", smsq_strerror(rc));
}

/* Receive one request on the router, driving the producer meanwhile:
 * true, or false if none came within timeout_ms. */
static bool try_recv_request(struct fixture *f, struct request *r, int timeout_ms)
{
	int64_t until = clock_mono_ms() + timeout_ms;
	zmq_msg_t m[4];
	zmq_pollitem_t item = { f->router, 0, ZMQ_POLLIN, 0 };
	int n = 0;

	for (;;) {
		drive(f, 0);
		assert_true(zmq_poll(&item, 1, STEP_MS) >= 0);
		if (item.revents & ZMQ_POLLIN)
			break;
		if (clock_mono_ms() > until)
			return false;
	}
	do {
		assert_true(n < 4);
		zmq_msg_init(&m[n]);
		assert_true(zmq_msg_recv(&m[n], f->router, 0) >= 0);
	} while (zmq_msg_more(&m[n++]));
	assert_int_equal(n, 4);			/* rid, empty, id, event */
	assert_int_equal(zmq_msg_size(&m[1]), 0);
	assert_int_equal(zmq_msg_size(&m[2]), 8);
	assert_true(zmq_msg_size(&m[0]) <= RID_MAX && zmq_msg_size(&m[3]) <= EVENT_MAX);
	r->rid_len = zmq_msg_size(&m[0]);
	memcpy(r->rid, zmq_msg_data(&m[0]), r->rid_len);
	r->seq = 0;
	for (int i = 0; i < 8; i++)
		r->seq = (r->seq << 8) | ((unsigned char *)zmq_msg_data(&m[2]))[i];
	r->event_len = zmq_msg_size(&m[3]);
	memcpy(r->event, zmq_msg_data(&m[3]), r->event_len);
	r->at_ms = clock_mono_ms();
	for (int i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	return true;
}

static void recv_request(struct fixture *f, struct request *r)
{
	if (!try_recv_request(f, r, SLOW_MS))
		fail_msg("no request within %d ms", SLOW_MS);
}

/* Send raw frames after the routing id (n frames of given sizes). */
static void send_raw(struct fixture *f, const struct request *r, int n,
		     const void *const *frames, const size_t *sizes)
{
	assert_int_equal(zmq_send(f->router, r->rid, r->rid_len, ZMQ_SNDMORE),
			 (int)r->rid_len);
	for (int i = 0; i < n; i++)
		assert_int_equal(zmq_send(f->router, frames[i], sizes[i],
					  i + 1 < n ? ZMQ_SNDMORE : 0), (int)sizes[i]);
}

static void send_ack_for(struct fixture *f, const struct request *r, uint64_t seq,
			 const Smsq__Ack *ack)
{
	unsigned char id[8];
	unsigned char buf[512];
	size_t len = smsq__ack__pack(ack, buf);
	const void *frames[3] = { "", id, buf };
	size_t sizes[3] = { 0, sizeof(id), len };

	for (int i = 7; i >= 0; i--, seq >>= 8)
		id[i] = (unsigned char)(seq & 0xFF);
	send_raw(f, r, 3, frames, sizes);
}

static void answer(struct fixture *f, const struct request *r, Smsq__AckStatus status,
		   Smsq__Reason reason, uint64_t message_id, uint32_t retry_after_ms)
{
	Smsq__Ack ack = SMSQ__ACK__INIT;

	ack.status = status;
	ack.reason = reason;
	ack.message_id = message_id;
	ack.retry_after_ms = retry_after_ms;
	ack.idempotency_key = (char *)"key-from-pool";
	ack.detail = status == SMSQ__ACK_STATUS__ACK_REJECTED ? (char *)"phone: not a mobile"
		: (char *)"";
	send_ack_for(f, r, r->seq, &ack);
}

/* Drive the producer until n outcomes are collected. */
static void wait_acks(struct fixture *f, size_t n)
{
	int64_t until = clock_mono_ms() + SLOW_MS;

	while (f->n_acks < n) {
		if (clock_mono_ms() > until)
			fail_msg("%zu outcomes after %d ms, expected %zu", f->n_acks, SLOW_MS, n);
		drive(f, STEP_MS);
	}
}

static struct smsq_stats stats(struct fixture *f)
{
	struct smsq_stats s;

	smsq_stats(f->p, &s);
	return s;
}

/* -------------------------------------------------------------- tests */

static void test_accepted_out_of_order(void **state)
{
	struct fixture *f = *state;
	struct request r[3];
	const char *events[3] = { "event-one", "event-two", "event-three" };

	start(f, NULL);
	for (uintptr_t i = 0; i < 3; i++)
		publish(f, events[i], i + 1);
	assert_int_equal(smsq_outstanding(f->p), 3);
	for (int i = 0; i < 3; i++) {
		recv_request(f, &r[i]);
		/* Sent in order, bytes unchanged, ids 1, 2, 3. */
		assert_int_equal(r[i].seq, (uint64_t)i + 1);
		assert_int_equal(r[i].event_len, strlen(events[i]));
		assert_memory_equal(r[i].event, events[i], r[i].event_len);
	}
	answer(f, &r[2], SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 300, 0);
	answer(f, &r[0], SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 100, 0);
	answer(f, &r[1], SMSQ__ACK_STATUS__ACK_REJECTED, SMSQ__REASON__REASON_INVALID_PHONE, 0, 0);
	wait_acks(f, 3);
	for (int i = 0; i < 3; i++) {
		const struct smsq_ack *a = &f->acks[i];
		uintptr_t user = (uintptr_t)f->users[i];

		assert_int_equal(a->request_id, user);
		assert_int_equal(a->sends, 1);
		assert_false(a->resent);
		assert_string_equal(a->idempotency_key, "key-from-pool");
		if (user == 2) {
			assert_int_equal(a->status, SMSQ_REJECTED);
			assert_int_equal(a->reason, SMSQ__REASON__REASON_INVALID_PHONE);
			assert_string_equal(a->detail, "phone: not a mobile");
			assert_int_equal(a->message_id, 0);
		} else {
			assert_int_equal(a->status, SMSQ_ACCEPTED);
			assert_int_equal(a->message_id, user * 100);
		}
	}
	/* Reported in the order the acks came. */
	assert_int_equal((uintptr_t)f->users[0], 3);
	assert_int_equal((uintptr_t)f->users[1], 1);
	assert_int_equal(smsq_outstanding(f->p), 0);
	assert_int_equal(stats(f).resends, 0);
}

static void test_resend_same_id_then_duplicate(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = 100, .ack_timeout_ms = LONG_MS };
	struct request first, again;
	int64_t published;

	start(f, &opts);
	published = clock_mono_ms();
	publish(f, "payload", 7);
	recv_request(f, &first);
	/* Unanswered: the same bytes come again with the same id. */
	recv_request(f, &again);
	assert_int_equal(again.seq, first.seq);
	assert_int_equal(again.event_len, first.event_len);
	assert_memory_equal(again.event, first.event, first.event_len);
	assert_true(again.at_ms - published >= opts.resend_ms);

	/* The first copy was stored: the resent one is a DUPLICATE. */
	answer(f, &again, SMSQ__ACK_STATUS__ACK_DUPLICATE, 0, 42, 0);
	wait_acks(f, 1);
	assert_int_equal(f->acks[0].status, SMSQ_DUPLICATE);
	assert_true(f->acks[0].resent);
	assert_true(f->acks[0].sends >= 2);
	assert_int_equal(f->acks[0].message_id, 42);
	assert_int_equal((uintptr_t)f->users[0], 7);

	/* The ack of the first copy comes late: ignored. */
	answer(f, &first, SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 42, 0);
	while (stats(f).acks_ignored < 1)
		drive(f, STEP_MS);
	assert_int_equal(f->n_acks, 1);
	assert_int_equal(smsq_outstanding(f->p), 0);
}

static void test_duplicate_without_resend(void **state)
{
	struct fixture *f = *state;
	struct request r;

	start(f, NULL);
	publish(f, "payload", 1);
	recv_request(f, &r);
	answer(f, &r, SMSQ__ACK_STATUS__ACK_DUPLICATE, 0, 9, 0);
	wait_acks(f, 1);
	assert_int_equal(f->acks[0].status, SMSQ_DUPLICATE);
	assert_false(f->acks[0].resent);
	assert_int_equal(f->acks[0].sends, 1);
}

static void test_retry_later_resends(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = LONG_MS, .ack_timeout_ms = LONG_MS };
	struct request first, again;
	int64_t answered;

	start(f, &opts);
	publish(f, "payload", 1);
	recv_request(f, &first);
	answered = clock_mono_ms();
	answer(f, &first, SMSQ__ACK_STATUS__ACK_RETRY_LATER, SMSQ__REASON__REASON_STORE_FULL,
	       0, 50);
	/* Not reported; resent after retry_after_ms although resend_ms is long. */
	recv_request(f, &again);
	assert_int_equal(f->n_acks, 0);
	assert_int_equal(again.seq, first.seq);
	assert_memory_equal(again.event, first.event, first.event_len);
	assert_true(again.at_ms - answered >= 50);
	assert_int_equal(stats(f).retry_later, 1);

	answer(f, &again, SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 5, 0);
	wait_acks(f, 1);
	assert_int_equal(f->acks[0].status, SMSQ_ACCEPTED);
	assert_int_equal(f->acks[0].sends, 2);
	assert_true(f->acks[0].resent);
}

static void test_no_ack_after_timeout(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = 100, .ack_timeout_ms = 300 };
	int rc;

	start(f, &opts);
	publish(f, "payload", 3);
	/* Nobody answers: flush ends with a NO_ACK outcome. */
	rc = smsq_flush(f->p, -1, collect, f);
	assert_int_equal(rc, 1);
	assert_int_equal(f->n_acks, 1);
	assert_int_equal(f->acks[0].status, SMSQ_NO_ACK);
	assert_int_equal(f->acks[0].reason, 0);
	assert_true(f->acks[0].elapsed_ms >= opts.ack_timeout_ms);
	assert_non_null(strstr(f->acks[0].detail, "no ack within 300 ms"));
	assert_int_equal((uintptr_t)f->users[0], 3);
	assert_int_equal(smsq_outstanding(f->p), 0);
	assert_int_equal(stats(f).no_ack, 1);
}

static void test_no_ack_keeps_retry_later_reason(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = LONG_MS, .ack_timeout_ms = 300 };
	struct request r;

	start(f, &opts);
	publish(f, "payload", 1);
	recv_request(f, &r);
	answer(f, &r, SMSQ__ACK_STATUS__ACK_RETRY_LATER, SMSQ__REASON__REASON_STORE_FULL, 0,
	       LONG_MS);
	assert_int_equal(smsq_flush(f->p, -1, collect, f), 1);
	assert_int_equal(f->acks[0].status, SMSQ_NO_ACK);
	assert_int_equal(f->acks[0].reason, SMSQ__REASON__REASON_STORE_FULL);
	assert_non_null(strstr(f->acks[0].detail, "store_full"));
}

static void test_ignores_bad_acks(void **state)
{
	struct fixture *f = *state;
	static const unsigned char garbage[] = { 0xFF, 0xFF, 0xFF };
	unsigned char id[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	Smsq__Ack unspecified = SMSQ__ACK__INIT;
	Smsq__Ack good = SMSQ__ACK__INIT;
	Smsq__Ack *check;
	struct request r;

	start(f, NULL);
	publish(f, "payload", 1);
	recv_request(f, &r);
	assert_int_equal(r.seq, 1);

	/* The garbage really is not an Ack. */
	check = smsq__ack__unpack(NULL, sizeof(garbage), garbage);
	assert_null(check);

	good.status = SMSQ__ACK_STATUS__ACK_ACCEPTED;
	good.message_id = 8;
	send_ack_for(f, &r, 999, &good);		/* unknown request id */
	{
		const void *frames[3] = { "", id, garbage };
		size_t sizes[3] = { 0, sizeof(id), sizeof(garbage) };

		send_raw(f, &r, 3, frames, sizes);	/* undecodable ack */
		send_raw(f, &r, 2, frames, sizes);	/* two frames */
	}
	{
		const void *frames[3] = { "", id + 5, "" };
		size_t sizes[3] = { 0, 3, 0 };

		send_raw(f, &r, 3, frames, sizes);	/* 3-byte request id */
	}
	{
		const void *frames[4] = { "", id, "", "" };
		size_t sizes[4] = { 0, sizeof(id), 0, 0 };

		send_raw(f, &r, 4, frames, sizes);	/* four frames */
	}
	{
		const void *frames[3] = { "x", id, "" };
		size_t sizes[3] = { 1, sizeof(id), 0 };

		send_raw(f, &r, 3, frames, sizes);	/* no empty delimiter */
	}
	send_ack_for(f, &r, 1, &unspecified);		/* ACK_UNSPECIFIED */

	/* Then the real ack: ZeroMQ keeps the order, so when it is
	 * reported, everything before it was seen and ignored. */
	send_ack_for(f, &r, 1, &good);
	wait_acks(f, 1);
	assert_int_equal(f->acks[0].status, SMSQ_ACCEPTED);
	assert_int_equal(f->acks[0].message_id, 8);
	assert_int_equal(stats(f).acks_ignored, 7);
}

static void test_window_full_times_out(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .window = 2 };
	struct request r;
	int64_t t0;
	int rc;

	start(f, &opts);
	publish(f, "one", 1);
	publish(f, "two", 2);
	t0 = clock_mono_ms();
	rc = smsq_publish(f->p, "three", 5, (void *)3, 200);
	assert_int_equal(rc, SMSQ_ETIMEDOUT);
	assert_true(clock_mono_ms() - t0 >= 200);
	assert_int_equal(smsq_outstanding(f->p), 2);
	/* Non-blocking: fails at once. */
	assert_int_equal(smsq_publish(f->p, "three", 5, (void *)3, 0), SMSQ_ETIMEDOUT);

	/* One ack makes room: publish waits for it and succeeds. */
	recv_request(f, &r);
	answer(f, &r, SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 1, 0);
	publish(f, "three", 3);
	assert_int_equal(smsq_outstanding(f->p), 3);	/* 2 in flight + 1 to report */
	drive(f, 0);
	assert_int_equal(f->n_acks, 1);
	assert_int_equal((uintptr_t)f->users[0], 1);
	assert_int_equal(smsq_outstanding(f->p), 2);
}

static void test_outcomes_not_collected(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .window = 1 };
	struct request r;

	start(f, &opts);
	publish(f, "one", 1);
	recv_request(f, &r);
	answer(f, &r, SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 1, 0);
	/* Waits for room: reads the ack of "one" and keeps its outcome. */
	publish(f, "two", 2);
	assert_int_equal(f->n_acks, 0);
	assert_int_equal(smsq_outstanding(f->p), 2);
	/* Window full ("two") and `window` outcomes kept ("one"): no waiting
	 * can help until they are collected. */
	assert_int_equal(smsq_publish(f->p, "three", 5, (void *)3, SLOW_MS), SMSQ_EFULL);
	assert_int_equal(smsq_poll(f->p, 0, collect, f), 1);
	assert_int_equal((uintptr_t)f->users[0], 1);
	assert_int_equal(smsq_outstanding(f->p), 1);
}

/* Many events in flight, answered in random order, some after a
 * RETRY_LATER: each is reported once, ACCEPTED (the hash table's deletions
 * and the heap's reorderings are what this exercises). */
static void test_many_out_of_order(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .window = MANY_WINDOW, .resend_ms = LONG_MS,
					   .ack_timeout_ms = LONG_MS };
	struct request *batch = calloc(MANY_WINDOW, sizeof(*batch));
	int64_t until = clock_mono_ms() + 6 * SLOW_MS;
	uintptr_t next = 1;
	uint64_t retried = 0;

	assert_non_null(batch);
	f->many = calloc(1, sizeof(*f->many));
	assert_non_null(f->many);
	srand(1);
	start(f, &opts);
	while (f->many->done < MANY) {
		size_t n = 0;

		if (clock_mono_ms() > until)
			fail_msg("%zu of %d outcomes", f->many->done, MANY);
		while (next <= MANY &&
		       smsq_publish(f->p, &next, sizeof(next), (void *)next, 0) == SMSQ_OK)
			next++;
		while (n < MANY_WINDOW && try_recv_request(f, &batch[n], 0))
			n++;
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)rand() % i;
			struct request tmp = batch[i - 1];

			batch[i - 1] = batch[j];
			batch[j] = tmp;
		}
		for (size_t i = 0; i < n; i++) {
			if (rand() % MANY_RETRY_ONE_IN == 0) {
				answer(f, &batch[i], SMSQ__ACK_STATUS__ACK_RETRY_LATER,
				       SMSQ__REASON__REASON_STORE_FULL, 0, 1);
				retried++;
			} else {
				answer(f, &batch[i], SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 1, 0);
			}
		}
	}
	assert_int_equal(f->many->bad, 0);
	for (size_t u = 1; u <= MANY; u++)
		assert_int_equal(f->many->seen[u], 1);
	assert_int_equal(smsq_outstanding(f->p), 0);
	assert_int_equal(stats(f).retry_later, retried);
	assert_int_equal(stats(f).resends, retried);
	assert_int_equal(stats(f).sends, MANY + retried);
	free(f->many);
	f->many = NULL;
	free(batch);
}

static void test_oversize_refused(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .max_event_bytes = 100 };
	char big[101];

	memset(big, 'x', sizeof(big));
	start(f, &opts);
	assert_int_equal(smsq_publish(f->p, big, sizeof(big), NULL, 0), SMSQ_ETOOBIG);
	assert_int_equal(smsq_outstanding(f->p), 0);
	assert_int_equal(smsq_publish(f->p, big, sizeof(big) - 1, NULL, 0), SMSQ_OK);
	assert_int_equal(smsq_outstanding(f->p), 1);
	assert_int_equal(smsq_publish(f->p, NULL, 0, NULL, 0), SMSQ_OK);
	assert_int_equal(smsq_publish(f->p, NULL, 1, NULL, 0), SMSQ_EINVAL);
	assert_int_equal(smsq_publish(NULL, big, 1, NULL, 0), SMSQ_EINVAL);
}

static void test_callback_cannot_reenter(void **state)
{
	struct fixture *f = *state;
	struct request r;

	start(f, NULL);
	publish(f, "payload", 1);
	recv_request(f, &r);
	answer(f, &r, SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 1, 0);
	f->reentry_rc = 0;
	while (f->n_acks == 0)
		assert_true(smsq_poll(f->p, STEP_MS, reenter, f) >= 0);
	assert_int_equal(f->reentry_rc, SMSQ_EBUSY);
	assert_int_equal(smsq_outstanding(f->p), 0);
}

/* The pool of test_publish_sync, in its own thread (smsq_publish_sync()
 * blocks the test's thread). */
static void *answer_one(void *arg)
{
	struct fixture *f = arg;
	zmq_pollitem_t item = { f->router, 0, ZMQ_POLLIN, 0 };
	struct request r;
	zmq_msg_t m[4];
	int n = 0;

	if (zmq_poll(&item, 1, SLOW_MS) != 1)
		return NULL;
	do {
		zmq_msg_init(&m[n]);
		zmq_msg_recv(&m[n], f->router, 0);
	} while (zmq_msg_more(&m[n++]) && n < 4);
	r.rid_len = zmq_msg_size(&m[0]);
	memcpy(r.rid, zmq_msg_data(&m[0]), r.rid_len);
	r.seq = 1;
	for (int i = 0; i < n; i++)
		zmq_msg_close(&m[i]);
	{
		Smsq__Ack ack = SMSQ__ACK__INIT;
		unsigned char id[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
		unsigned char buf[64];
		size_t len;

		ack.status = SMSQ__ACK_STATUS__ACK_ACCEPTED;
		ack.message_id = 77;
		len = smsq__ack__pack(&ack, buf);
		zmq_send(f->router, r.rid, r.rid_len, ZMQ_SNDMORE);
		zmq_send(f->router, "", 0, ZMQ_SNDMORE);
		zmq_send(f->router, id, sizeof(id), ZMQ_SNDMORE);
		zmq_send(f->router, buf, len, 0);
	}
	return f;
}

static void test_publish_sync(void **state)
{
	struct fixture *f = *state;
	struct smsq_ack ack;
	pthread_t pool;
	void *ok;

	start(f, NULL);
	assert_int_equal(pthread_create(&pool, NULL, answer_one, f), 0);
	assert_int_equal(smsq_publish_sync(f->p, "payload", 7, &ack, SLOW_MS), SMSQ_OK);
	assert_int_equal(pthread_join(pool, &ok), 0);
	assert_non_null(ok);
	assert_int_equal(ack.status, SMSQ_ACCEPTED);
	assert_int_equal(ack.message_id, 77);
	assert_int_equal(ack.request_id, 1);
	assert_int_equal(smsq_outstanding(f->p), 0);

	/* Not while other events are outstanding. */
	publish(f, "other", 2);
	assert_int_equal(smsq_publish_sync(f->p, "payload", 7, &ack, SLOW_MS), SMSQ_EBUSY);
}

static void test_publish_sync_timeouts(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = 50, .ack_timeout_ms = 200 };
	struct smsq_ack ack;

	start(f, &opts);
	/* The caller's timeout first: ETIMEDOUT, and the event is forgotten. */
	assert_int_equal(smsq_publish_sync(f->p, "payload", 7, &ack, 20), SMSQ_ETIMEDOUT);
	assert_int_equal(smsq_outstanding(f->p), 0);
	/* ack_timeout_ms first: an outcome, NO_ACK. */
	assert_int_equal(smsq_publish_sync(f->p, "payload", 7, &ack, -1), SMSQ_OK);
	assert_int_equal(ack.status, SMSQ_NO_ACK);
	assert_true(ack.sends >= 1);
}

static void test_reconnect_resends(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = 100, .ack_timeout_ms = LONG_MS };
	char endpoint[256];
	struct request first, again;

	use_private_endpoint(f, endpoint, sizeof(endpoint));
	bind_router(f, endpoint);
	start(f, &opts);
	publish(f, "payload", 1);
	recv_request(f, &first);
	/* The pool restarts before answering: a new socket, same endpoint. */
	zmq_close(f->router);
	f->router = NULL;
	bind_router(f, endpoint);
	recv_request(f, &again);
	assert_int_equal(again.seq, first.seq);
	assert_memory_equal(again.event, first.event, first.event_len);
	answer(f, &again, SMSQ__ACK_STATUS__ACK_ACCEPTED, 0, 1, 0);
	wait_acks(f, 1);
	assert_int_equal(f->acks[0].status, SMSQ_ACCEPTED);
	assert_true(f->acks[0].resent);
}

static void test_queued_while_pool_down(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .resend_ms = LONG_MS, .ack_timeout_ms = LONG_MS };
	char endpoint[256];
	struct request r;

	/* Nobody listens on the endpoint. */
	use_private_endpoint(f, endpoint, sizeof(endpoint));
	snprintf(f->endpoint, sizeof(f->endpoint), "%s", endpoint);
	start(f, &opts);
	for (uintptr_t i = 1; i <= 3; i++)
		publish(f, "payload", i);
	drive(f, 50);
	assert_int_equal(stats(f).sends, 0);
	/* The pool comes up: each event goes once, in order. */
	bind_router(f, endpoint);
	for (uint64_t i = 1; i <= 3; i++) {
		recv_request(f, &r);
		assert_int_equal(r.seq, i);
	}
	assert_false(try_recv_request(f, &r, 100));
	assert_int_equal(stats(f).sends, 3);
	assert_int_equal(stats(f).published, 3);
}

static void test_bad_options(void **state)
{
	struct fixture *f = *state;
	struct smsq_producer_opts opts = { .window = SMSQ_WINDOW_MAX + 1 };
	char err[256];
	smsq_producer *p;

	p = smsq_producer_new(f->endpoint, &opts, err, sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "window must be 1..1000000"));
	opts.window = 0;
	opts.resend_ms = -1;
	assert_null(smsq_producer_new(f->endpoint, &opts, err, sizeof(err)));
	assert_non_null(strstr(err, "resend_ms"));
	assert_null(smsq_producer_new("nonsense", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot connect to \"nonsense\""));
	assert_null(smsq_producer_new(NULL, NULL, NULL, 0));

	smsq_producer_destroy(NULL);
	p = NULL;
	smsq_producer_destroy(&p);
	assert_int_equal(smsq_outstanding(NULL), 0);
	assert_int_equal(smsq_poll(NULL, 0, NULL, NULL), SMSQ_EINVAL);
}

static void test_names(void **state)
{
	const ProtobufCEnumDescriptor *d = &smsq__reason__descriptor;

	(void)state;
	/* smsq_reason_name() follows the proto: "REASON_INVALID_PHONE" ->
	 * "invalid_phone", for every value. */
	for (unsigned i = 0; i < d->n_values; i++) {
		const char *proto = d->values[i].name;
		const char *ours = smsq_reason_name(d->values[i].value);
		size_t k;

		assert_int_equal(strncmp(proto, "REASON_", 7), 0);
		proto += 7;
		assert_int_equal(strlen(ours), strlen(proto));
		for (k = 0; proto[k] != '\0'; k++) {
			char c = proto[k] >= 'A' && proto[k] <= 'Z' ? (char)(proto[k] - 'A' + 'a')
				: proto[k];

			if (ours[k] != c)
				fail_msg("reason %d: \"%s\" vs %s", d->values[i].value, ours,
					 d->values[i].name);
		}
	}
	assert_string_equal(smsq_reason_name(-1), "unknown");
	assert_string_equal(smsq_reason_name(1000), "unknown");
	assert_string_equal(smsq_status_name(SMSQ_NO_ACK), "no_ack");
	assert_string_equal(smsq_status_name(0), "unknown");
	/* The statuses keep the wire's values. */
	assert_int_equal(SMSQ_ACCEPTED, SMSQ__ACK_STATUS__ACK_ACCEPTED);
	assert_int_equal(SMSQ_DUPLICATE, SMSQ__ACK_STATUS__ACK_DUPLICATE);
	assert_int_equal(SMSQ_REJECTED, SMSQ__ACK_STATUS__ACK_REJECTED);
	for (int rc = SMSQ_EBUSY; rc <= SMSQ_OK; rc++)
		assert_string_not_equal(smsq_strerror(rc), "unknown smsq error code");
	assert_string_equal(smsq_strerror(-1000), "unknown smsq error code");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_accepted_out_of_order),
		T(test_resend_same_id_then_duplicate),
		T(test_duplicate_without_resend),
		T(test_retry_later_resends),
		T(test_no_ack_after_timeout),
		T(test_no_ack_keeps_retry_later_reason),
		T(test_ignores_bad_acks),
		T(test_window_full_times_out),
		T(test_outcomes_not_collected),
		T(test_many_out_of_order),
		T(test_oversize_refused),
		T(test_callback_cannot_reenter),
		T(test_publish_sync),
		T(test_publish_sync_timeouts),
		T(test_reconnect_resends),
		T(test_queued_while_pool_down),
		T(test_bad_options),
		T(test_names),
	};

	return cmocka_run_group_tests_name("producer", tests, NULL, NULL);
}
