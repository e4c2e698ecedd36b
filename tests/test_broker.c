/*
 * test_broker: the pool's ROUTER <-> DEALER loop, run in a thread between a
 * producer and a worker socket of the test's own (ipc endpoints in a temp
 * directory: the producer connects to the broker, the broker to the
 * worker).
 *
 * What matters: every request reaches a worker exactly once, whole and in
 * order, even when the workers have no room for a while or none is there
 * yet; and acks keep flowing back while requests wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "worker/broker.h"

#define PAYLOAD 4096      /* bytes per request: a few hundred fill the pipes */
#define HWM 8             /* the broker's high-water marks */
#define WAIT_MS 20000     /* a generous bound for anything to arrive */

struct fx {
	char dir[64];
	char front[128], back[128];
	const char *backs[1];     /* the broker's backends: back */
	struct broker_opts o;
	volatile sig_atomic_t pause, stop, reload;
	pthread_t th;
	int rc;
	void *ctx, *producer, *worker;
};

static void *run(void *arg)
{
	struct fx *f = arg;

	f->rc = broker_run(&f->o, &f->pause, &f->stop, &f->reload);
	return NULL;
}

/* A socket of the test's own on ep: the worker's binds (the broker
 * connects to it), the producer's connects. */
static void *sock(struct fx *f, int type, const char *ep, int hwm)
{
	void *s = zmq_socket(f->ctx, type);
	int linger = 0, tmo = WAIT_MS;

	assert_non_null(s);
	assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	assert_int_equal(zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo)), 0);
	assert_int_equal(zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)), 0);
	assert_int_equal(zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)), 0);
	if (type == ZMQ_DEALER && strcmp(ep, f->back) == 0)
		assert_int_equal(zmq_bind(s, ep), 0);
	else
		assert_int_equal(zmq_connect(s, ep), 0);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/smsq-test-broker-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->front, sizeof(f->front), "ipc://%s/front", f->dir);
	snprintf(f->back, sizeof(f->back), "ipc://%s/back", f->dir);
	f->o.frontend = f->front;
	f->backs[0] = f->back;
	f->o.backends = f->backs;
	f->o.n_backends = 1;
	f->o.hwm = HWM;
	f->o.read_ahead = HWM;
	f->o.worker_queue = HWM;
	f->rc = -2;
	f->ctx = zmq_ctx_new();
	if (f->ctx == NULL || pthread_create(&f->th, NULL, run, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	f->stop = 1;
	pthread_join(f->th, NULL);
	if (f->producer)
		zmq_close(f->producer);
	if (f->worker)
		zmq_close(f->worker);
	zmq_ctx_term(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0 || f->rc != 0)
		return -1;
	free(f);
	return 0;
}

/* Producer side: [""]["req-N"][payload of N]. */
static void send_request(void *s, int n)
{
	static char payload[PAYLOAD];
	char id[32];

	memset(payload, 'a' + n % 26, sizeof(payload));
	snprintf(id, sizeof(id), "req-%d", n);
	assert_int_equal(zmq_send(s, "", 0, ZMQ_SNDMORE), 0);
	assert_int_equal(zmq_send(s, id, strlen(id), ZMQ_SNDMORE), (int)strlen(id));
	assert_int_equal(zmq_send(s, payload, sizeof(payload), 0), PAYLOAD);
}

/* Receive one frame into buf (at most cap bytes); its size, more in *more. */
static int recv_frame(void *s, char *buf, size_t cap, int *more)
{
	zmq_msg_t m;
	int n;

	assert_int_equal(zmq_msg_init(&m), 0);
	n = zmq_msg_recv(&m, s, 0);
	assert_true(n >= 0); /* else nothing came within WAIT_MS */
	assert_true((size_t)n <= cap);
	memcpy(buf, zmq_msg_data(&m), (size_t)n);
	*more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	return n;
}

/* Worker side: request n arrives whole: [routing id][""]["req-n"][payload].
 * The routing id is copied to env (its length returned). */
static size_t expect_request(void *w, int n, char *env, size_t env_cap)
{
	static char buf[PAYLOAD];
	char id[32];
	int more, len;
	size_t env_len;

	len = recv_frame(w, env, env_cap, &more);
	assert_true(len > 0 && more);
	env_len = (size_t)len;
	assert_int_equal(recv_frame(w, buf, sizeof(buf), &more), 0);
	assert_true(more);
	snprintf(id, sizeof(id), "req-%d", n);
	len = recv_frame(w, buf, sizeof(buf), &more);
	assert_true(more);
	assert_int_equal(len, (int)strlen(id));
	assert_memory_equal(buf, id, strlen(id));
	len = recv_frame(w, buf, sizeof(buf), &more);
	assert_false(more);
	assert_int_equal(len, PAYLOAD);
	for (size_t i = 0; i < PAYLOAD; i++)
		assert_int_equal(buf[i], 'a' + n % 26);
	return env_len;
}

/* Producer and worker connected, request 0 sent and received: its routing
 * id in env, its length returned. */
static size_t start_with_request_0(struct fx *f, char *env, size_t env_cap)
{
	f->producer = sock(f, ZMQ_DEALER, f->front, 100000);
	f->worker = sock(f, ZMQ_DEALER, f->back, HWM);
	send_request(f->producer, 0);
	return expect_request(f->worker, 0, env, env_cap);
}

/* The worker acks request 0; the producer gets [""]["req-0"]["ack"]. */
static void ack_request_0(struct fx *f, const char *env, size_t env_len)
{
	char buf[64];
	int more;

	assert_int_equal(zmq_send(f->worker, env, env_len, ZMQ_SNDMORE), (int)env_len);
	assert_int_equal(zmq_send(f->worker, "", 0, ZMQ_SNDMORE), 0);
	assert_int_equal(zmq_send(f->worker, "req-0", 5, ZMQ_SNDMORE), 5);
	assert_int_equal(zmq_send(f->worker, "ack", 3, 0), 3);
	assert_int_equal(recv_frame(f->producer, buf, sizeof(buf), &more), 0);
	assert_int_equal(recv_frame(f->producer, buf, sizeof(buf), &more), 5);
	assert_memory_equal(buf, "req-0", 5);
	assert_int_equal(recv_frame(f->producer, buf, sizeof(buf), &more), 3);
	assert_memory_equal(buf, "ack", 3);
	assert_false(more);
}

/* Nothing more waits on s. */
static void expect_nothing(void *s)
{
	zmq_pollitem_t it = { s, 0, ZMQ_POLLIN, 0 };

	assert_int_equal(zmq_poll(&it, 1, 200), 0);
}

/* With the worker not reading, requests pile up past every high-water mark
 * between producer and worker; an ack still goes back at once, and then
 * every request arrives once, whole, in order. */
static void acks_flow_while_the_workers_are_full(void **state)
{
	struct fx *f = *state;
	const int n = 2000; /* 8 MB: far past the pipes and socket buffers */
	char env[256];
	size_t env_len = start_with_request_0(f, env, sizeof(env));

	for (int i = 1; i <= n; i++)
		send_request(f->producer, i);
	usleep(300 * 1000); /* time for the broker to fill the backend (the test
			       holds either way; this makes it bite) */
	/* The worker acks request 0 while it has not read the others. */
	ack_request_0(f, env, env_len);
	for (int i = 1; i <= n; i++)
		expect_request(f->worker, i, env, sizeof(env));
	expect_nothing(f->worker);
}

/* Requests sent before any worker is there wait, and arrive once it comes. */
static void requests_wait_for_the_first_worker(void **state)
{
	struct fx *f = *state;
	char env[256];

	f->producer = sock(f, ZMQ_DEALER, f->front, 100000);
	for (int i = 0; i < 50; i++)
		send_request(f->producer, i);
	usleep(200 * 1000);
	f->worker = sock(f, ZMQ_DEALER, f->back, HWM);
	for (int i = 0; i < 50; i++)
		expect_request(f->worker, i, env, sizeof(env));
	expect_nothing(f->worker);
}

/* While intake is paused nothing is taken from producers; acks still flow;
 * resumed, everything arrives. */
static void a_paused_intake_holds_requests_and_passes_acks(void **state)
{
	struct fx *f = *state;
	char env[256];
	size_t env_len = start_with_request_0(f, env, sizeof(env));

	f->pause = 1;
	usleep(200 * 1000); /* the loop sees the flag (its poll wakes every 100 ms) */
	for (int i = 1; i <= 20; i++)
		send_request(f->producer, i);
	ack_request_0(f, env, env_len);
	expect_nothing(f->worker);
	f->pause = 0;
	for (int i = 1; i <= 20; i++)
		expect_request(f->worker, i, env, sizeof(env));
	expect_nothing(f->worker);
}

/* ZeroMQ reads a high-water mark of 0 as "no limit": the broker refuses
 * one rather than queue without bound.  With *stop already set, a broker
 * whose options are good sets up, binds and returns 0 at once. */
static void a_high_water_mark_that_is_not_positive_is_refused(void **state)
{
	char dir[64], front[128], back[128], cmd[128];
	const char *backs[1] = { back };
	struct broker_opts o = { .hwm = HWM, .read_ahead = HWM, .worker_queue = HWM,
				 .backends = backs, .n_backends = 1 };
	volatile sig_atomic_t pause = 0, stop = 1, reload = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/smsq-test-broker-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(front, sizeof(front), "ipc://%s/front", dir);
	snprintf(back, sizeof(back), "ipc://%s/back", dir);
	o.frontend = front;
	assert_int_equal(broker_run(&o, &pause, &stop, &reload), 0);
	o.read_ahead = 0;
	assert_int_equal(broker_run(&o, &pause, &stop, &reload), -1);
	o.read_ahead = HWM;
	o.worker_queue = 0;
	assert_int_equal(broker_run(&o, &pause, &stop, &reload), -1);
	o.worker_queue = HWM;
	o.hwm = -1;
	assert_int_equal(broker_run(&o, &pause, &stop, &reload), -1);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_high_water_mark_that_is_not_positive_is_refused),
		cmocka_unit_test_setup_teardown(acks_flow_while_the_workers_are_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(requests_wait_for_the_first_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(a_paused_intake_holds_requests_and_passes_acks,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
