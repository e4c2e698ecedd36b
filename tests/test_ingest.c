/* WRAP: zmq_msg_recv zmq_msg_more zmq_msg_send zmq_send mdb_txn_commit */
/*
 * test_ingest: a worker's intake (worker/ingest.c) against a fake socket
 * and a real store in a temp directory.
 *
 * Seams, at link time (first line: WRAP):
 *   zmq_msg_recv, zmq_msg_more   the frames of the requests a test queues
 *                                (fake.in), as the socket would hand them
 *   zmq_msg_send, zmq_send       the acks, captured frame by frame and
 *                                numbered in one sequence with the commits
 *   mdb_txn_commit               the commit (store_fx.h): made to fail, and
 *                                numbered when it returned (on_commit)
 * The socket itself is a real DEALER, bound to an inproc endpoint no one
 * connects to: nothing goes through it.  How ingest runs with real producers
 * and the broker: tests/it_ingest.py.
 */
#include "tests/store_fx.h"

#include <poll.h>
#include <stdatomic.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "proto/booking.pb-c.h"
#include "text/prepare.h"
#include "worker/config.h"
#include "worker/ingest.h"

#define R(x) SMSQ__REASON__REASON_##x
#define A(x) SMSQ__ACK_STATUS__ACK_##x
#define MAX_FRAMES 64
#define MAX_ACKS 32
#define FRAME_MAX 4096

/* ---- the fake socket ------------------------------------------------------ */

struct frame {
	size_t len;                /* its bytes */
	int more;                  /* another frame of the request follows */
	unsigned char data[FRAME_MAX];
};

/* An ack as sent: its frames, decoded. */
struct ack {
	long seq;                  /* when it left (one sequence with commits) */
	size_t n_frames;           /* frames sent */
	char envelope[64];         /* the first frame (the routing id) */
	char req_id[80];           /* the frame before the Ack */
	Smsq__AckStatus status;
	Smsq__Reason reason;
	char detail[256];
	char key[160];
	uint64_t message_id;
	uint32_t retry_after_ms;
};

static struct {
	struct frame in[MAX_FRAMES]; /* queued for zmq_msg_recv */
	size_t in_head, in_n;
	int last_more;               /* the more flag of the frame last received */
	struct frame out[8];         /* the ack being sent */
	size_t out_n;
	struct ack acks[MAX_ACKS];   /* acks sent */
	size_t n_acks;
	int send_eagain;             /* the next sends fail EAGAIN (no broker took them) */
	int send_calls;              /* sends tried */
	long commit_seq[8];          /* when each commit returned */
	int commit_rc[8];            /* and what */
	atomic_int n_commits;
} fake;

static atomic_long seq; /* orders commits (committer thread) and acks (this one) */

static void count_commit(int rc)
{
	int i = atomic_fetch_add(&fake.n_commits, 1);

	if (i < 8) {
		fake.commit_seq[i] = atomic_fetch_add(&seq, 1) + 1;
		fake.commit_rc[i] = rc;
	}
}

int __real_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);
int __wrap_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags);
int __real_zmq_msg_more(const zmq_msg_t *msg);
int __wrap_zmq_msg_more(const zmq_msg_t *msg);
int __real_zmq_msg_send(zmq_msg_t *msg, void *s, int flags);
int __wrap_zmq_msg_send(zmq_msg_t *msg, void *s, int flags);
int __real_zmq_send(void *s, const void *buf, size_t len, int flags);
int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags);

int __wrap_zmq_msg_recv(zmq_msg_t *msg, void *s, int flags)
{
	const struct frame *f;

	(void)s;
	(void)flags;
	if (fake.in_head == fake.in_n) {
		errno = EAGAIN;
		return -1;
	}
	f = &fake.in[fake.in_head++];
	zmq_msg_close(msg);
	if (zmq_msg_init_size(msg, f->len) != 0)
		return -1;
	memcpy(zmq_msg_data(msg), f->data, f->len);
	fake.last_more = f->more;
	return (int)f->len;
}

int __wrap_zmq_msg_more(const zmq_msg_t *msg)
{
	(void)msg;
	return fake.last_more;
}

/* f as a string in dst (cap bytes, cut). */
static void text_of(char *dst, size_t cap, const struct frame *f)
{
	size_t n = f->len < cap - 1 ? f->len : cap - 1;

	memcpy(dst, f->data, n);
	dst[n] = '\0';
}

/* One frame of an ack; the last one (no ZMQ_SNDMORE) completes it. */
static void sent(const void *buf, size_t len, int flags)
{
	struct frame *f = &fake.out[fake.out_n];

	assert_true(fake.out_n < 8);
	assert_true(len < FRAME_MAX);
	memcpy(f->data, buf, len);
	f->len = len;
	fake.out_n++;
	if (flags & ZMQ_SNDMORE)
		return;

	struct ack *a = &fake.acks[fake.n_acks];
	const struct frame *last = &fake.out[fake.out_n - 1];
	const struct frame *id = &fake.out[fake.out_n - 2];
	Smsq__Ack *m = smsq__ack__unpack(NULL, last->len, last->data);

	assert_true(fake.n_acks < MAX_ACKS);
	assert_true(fake.out_n >= 3);
	assert_non_null(m);
	memset(a, 0, sizeof(*a));
	a->seq = atomic_fetch_add(&seq, 1) + 1;
	a->n_frames = fake.out_n;
	text_of(a->envelope, sizeof(a->envelope), &fake.out[0]);
	text_of(a->req_id, sizeof(a->req_id), id);
	a->status = m->status;
	a->reason = m->reason;
	snprintf(a->detail, sizeof(a->detail), "%s", m->detail);
	snprintf(a->key, sizeof(a->key), "%s", m->idempotency_key);
	a->message_id = m->message_id;
	a->retry_after_ms = m->retry_after_ms;
	smsq__ack__free_unpacked(m, NULL);
	fake.n_acks++;
	fake.out_n = 0;
}

/* A send the test makes fail as a DEALER with no broker does after its
 * ZMQ_SNDTIMEO: nothing sent, EAGAIN. */
static int send_refused(void)
{
	fake.send_calls++;
	if (fake.send_eagain <= 0)
		return 0;
	fake.send_eagain--;
	errno = EAGAIN;
	return 1;
}

int __wrap_zmq_msg_send(zmq_msg_t *msg, void *s, int flags)
{
	int len = (int)zmq_msg_size(msg);

	(void)s;
	if (send_refused())
		return -1;
	sent(zmq_msg_data(msg), zmq_msg_size(msg), flags);
	zmq_msg_close(msg); /* a sent message is the socket's */
	return len;
}

int __wrap_zmq_send(void *s, const void *buf, size_t len, int flags)
{
	(void)s;
	if (send_refused())
		return -1;
	sent(buf, len, flags);
	return (int)len;
}

/* Queue one frame of a request (more: another follows). */
static void frame(const void *data, size_t len, int more)
{
	struct frame *f = &fake.in[fake.in_n++];

	assert_true(fake.in_n <= MAX_FRAMES);
	assert_true(len <= FRAME_MAX);
	memcpy(f->data, data, len);
	f->len = len;
	f->more = more;
}

/* ---- fixture: a store, ingest on it ----------------------------------------- */

struct ifx {
	struct fx *s;                  /* store_fx.h: the store in a temp directory */
	struct config cfg;             /* the defaults: the text pipeline's settings */
	struct prepare_opts text;      /* from cfg */
	struct ingest_opts o;          /* batch_max 16, events up to 4 KiB */
	ingest *in;                    /* once started */
	int64_t now;                   /* the wall clock at the start (ingest checks
					  the events' times against it) */
};

static int isetup(void **state)
{
	struct ifx *f = calloc(1, sizeof(*f));
	void *inner = NULL;
	char err[256];

	if (f == NULL || setup(&inner) != 0)
		return -1;
	f->s = inner;
	memset(&fake, 0, sizeof(fake));
	on_commit = count_commit;
	fail_next_commit = 0;
	config_defaults(&f->cfg);
	if (config_text_opts(&f->cfg, &f->text, err, sizeof(err)) != 0)
		return -1;
	f->o = (struct ingest_opts){ .endpoint = "inproc://test-ingest-backend", .router = 0,
				     .batch_max = 16, .max_event_bytes = FRAME_MAX, .hwm = 1000,
				     .text = &f->text };
	f->now = clock_wall_ms();
	*state = f;
	return 0;
}

static int iteardown(void **state)
{
	struct ifx *f = *state;
	void *inner = f->s;

	ingest_destroy(&f->in);
	on_commit = NULL;
	free(f);
	return teardown(&inner);
}

static void start(struct ifx *f)
{
	char err[512] = "";

	f->in = ingest_new(&f->o, f->s->st, err, sizeof(err));
	if (f->in == NULL)
		fail_msg("ingest_new: %s", err);
	atomic_store(&fake.n_commits, 0); /* what set-up committed does not count */
}

/* A valid event with key `key` (a text rendered from the templates). */
static size_t event(const struct ifx *f, const char *key, unsigned char *buf)
{
	Smsq__BookingEvent e = SMSQ__BOOKING_EVENT__INIT;

	e.version = 1;
	e.idempotency_key = (char *)key;
	e.booking_id = (char *)"B-1";
	e.kind = SMSQ__KIND__KIND_CONFIRMED;
	e.phone = (char *)"+33612345678";
	e.locale = (char *)"fr-FR";
	e.patient_name = (char *)"Camille Martin";
	e.practitioner_name = (char *)"Dr Martin";
	e.place = (char *)"Centre de vaccination de Nimes";
	e.appointment_at_ms = f->now + DAY;
	e.time_zone = (char *)"Europe/Paris";
	e.created_at_ms = f->now - 3600000LL;
	assert_true(smsq__booking_event__get_packed_size(&e) <= FRAME_MAX);
	return smsq__booking_event__pack(&e, buf);
}

/* Queue a well-formed request from peer "p-<req_id>": [routing id][empty]
 * [request id][event of key]. */
static void request(const struct ifx *f, const char *req_id, const char *key)
{
	unsigned char ev[FRAME_MAX];
	char peer[80];
	size_t len = event(f, key, ev);

	snprintf(peer, sizeof(peer), "p-%s", req_id);
	frame(peer, strlen(peer), 1);
	frame("", 0, 1);
	frame(req_id, strlen(req_id), 1);
	frame(ev, len, 0);
}

/* Run ingest until n acks in all were sent (waiting on its fd for the
 * committer); fails after 10 s. */
static void run_until_acks(struct ifx *f, size_t n)
{
	for (int i = 0; i < 100 && fake.n_acks < n; i++) {
		struct pollfd p = { .fd = ingest_fd(f->in), .events = POLLIN };

		assert_true(ingest_process(f->in, 0) >= 0);
		if (fake.n_acks < n)
			(void)poll(&p, 1, 100);
	}
	assert_int_equal(fake.n_acks, n);
	assert_true(ingest_process(f->in, 0) == 0); /* nothing more */
	assert_int_equal(fake.n_acks, n);
}

static const struct ack *ack_of(const char *req_id)
{
	for (size_t i = 0; i < fake.n_acks; i++)
		if (strcmp(fake.acks[i].req_id, req_id) == 0)
			return &fake.acks[i];
	fail_msg("no ack for request %s", req_id);
	return NULL;
}

static struct ingest_counts counts(const struct ifx *f)
{
	struct ingest_counts c;

	ingest_get_counts(f->in, &c);
	return c;
}

/* ---- tests ------------------------------------------------------------------ */

/* Requests whose frames are not [routing id][empty][request id][event]
 * are answered REJECTED, BAD_FRAMES, with the reason in the detail, and
 * nothing is stored (not even a commit). */
static void test_wrong_frames_are_rejected_and_nothing_stored(void **state)
{
	struct ifx *f = *state;
	unsigned char ev[FRAME_MAX];
	size_t len = event(f, "k-frames", ev);
	char long_id[INGEST_REQ_ID_MAX + 2];

	start(f);
	/* no request id */
	frame("p-1", 3, 1);
	frame("", 0, 1);
	frame(ev, len, 0);
	/* request id over 64 bytes */
	memset(long_id, 'r', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	frame("p-2", 3, 1);
	frame("", 0, 1);
	frame(long_id, strlen(long_id), 1);
	frame(ev, len, 0);
	/* an empty request id */
	frame("p-3", 3, 1);
	frame("", 0, 1);
	frame("", 0, 1);
	frame(ev, len, 0);
	/* a frame too many */
	frame("p-4", 3, 1);
	frame("", 0, 1);
	frame("r-4", 3, 1);
	frame(ev, len, 1);
	frame(ev, len, 0);
	/* more frames than are kept (INGEST_MAX_FRAMES): the rest read, dropped */
	frame("p-5", 3, 1);
	frame("", 0, 1);
	frame("r-5", 3, 1);
	for (int i = 0; i < INGEST_MAX_FRAMES; i++)
		frame(ev, len, i + 1 < INGEST_MAX_FRAMES);
	run_until_acks(f, 5);

	static const char *const want[5] = { "3 frames after the routing id",
					     "request id must be 1 to 64 bytes",
					     "request id must be 1 to 64 bytes",
					     "3 frames after the routing id",
					     "3 frames after the routing id" };
	for (size_t i = 0; i < 5; i++) {
		const struct ack *a = &fake.acks[i];
		char peer[8];

		snprintf(peer, sizeof(peer), "p-%zu", i + 1);
		assert_string_equal(a->envelope, peer); /* back to its sender */
		assert_int_equal(a->status, A(REJECTED));
		assert_int_equal(a->reason, R(BAD_FRAMES));
		assert_non_null(strstr(a->detail, want[i]));
		assert_int_equal(a->message_id, 0);
	}
	assert_int_equal(strlen(fake.acks[1].req_id), INGEST_REQ_ID_MAX); /* cut, echoed */
	assert_string_equal(fake.acks[3].req_id, "r-4");
	assert_string_equal(fake.acks[4].req_id, "r-5");
	assert_int_equal(fake.in_head, fake.in_n); /* every frame read */
	assert_int_equal(atomic_load(&fake.n_commits), 0);
	assert_int_equal(stats(f->s->st).total, 0);
	assert_int_equal(counts(f).rejected, 5);
	assert_int_equal(counts(f).accepted, 0);
}

/* N good events read together: stored in ONE commit, and their N acks
 * (ACCEPTED, each with its own id) leave only after that commit returned. */
static void test_a_batch_is_one_commit_and_acked_after_it(void **state)
{
	struct ifx *f = *state;
	enum { N = 6 };
	char req[N][16], key[N][32];

	start(f);
	for (int i = 0; i < N; i++) {
		snprintf(req[i], sizeof(req[i]), "r-%d", i);
		snprintf(key[i], sizeof(key[i]), "k-batch-%d", i);
		request(f, req[i], key[i]);
	}
	run_until_acks(f, N);
	assert_int_equal(atomic_load(&fake.n_commits), 1);
	assert_int_equal(fake.commit_rc[0], 0);
	for (int i = 0; i < N; i++) {
		const struct ack *a = ack_of(req[i]);
		uint64_t id = 0;

		assert_int_equal(a->status, A(ACCEPTED));
		assert_string_equal(a->key, key[i]);
		assert_true(a->seq > fake.commit_seq[0]);
		assert_int_equal(store_find_key(f->s->st, key[i], strlen(key[i]), &id), STORE_OK);
		assert_int_equal(a->message_id, id);
		for (int j = 0; j < i; j++)
			assert_true(ack_of(req[j])->message_id != id);
	}
	assert_int_equal(stats(f->s->st).total, N);
	assert_int_equal(counts(f).accepted, N);
	assert_int_equal(counts(f).commits, 1);
}

/* A key already stored, or twice in one batch: DUPLICATE, with the id of
 * the message stored first; nothing stored again. */
static void test_a_duplicate_key_is_answered_duplicate(void **state)
{
	struct ifx *f = *state;
	uint64_t first;

	start(f);
	request(f, "r-1", "k-dup");
	run_until_acks(f, 1);
	assert_int_equal(fake.acks[0].status, A(ACCEPTED));
	first = fake.acks[0].message_id;
	request(f, "r-2", "k-dup");      /* a resend */
	request(f, "r-3", "k-dup-pair"); /* twice in a batch */
	request(f, "r-4", "k-dup-pair");
	run_until_acks(f, 4);
	assert_int_equal(ack_of("r-2")->status, A(DUPLICATE));
	assert_int_equal(ack_of("r-2")->message_id, first);
	assert_int_equal(ack_of("r-3")->status, A(ACCEPTED));
	assert_int_equal(ack_of("r-4")->status, A(DUPLICATE));
	assert_int_equal(ack_of("r-4")->message_id, ack_of("r-3")->message_id);
	assert_int_equal(stats(f->s->st).total, 2);
	assert_int_equal(counts(f).duplicate, 2);
}

/* A commit that fails answers every event of its batch RETRY_LATER (disk
 * full: STORE_FULL; another error: STORE_ERROR) with a wait, and stores
 * nothing; the same events resent are stored. */
static void test_a_failed_commit_answers_retry_later_and_stores_nothing(void **state)
{
	struct ifx *f = *state;
	static const struct {
		int rc;                /* the commit's error */
		Smsq__Reason reason;   /* the acks' */
		const char *detail;    /* in their detail */
	} cases[] = {
		{ ENOSPC, R(STORE_FULL), "disk full" },
		{ EIO, R(STORE_ERROR), "commit" },
	};
	uint64_t id;

	start(f);
	for (size_t c = 0; c < 2; c++) {
		size_t before = fake.n_acks;

		fail_next_commit = cases[c].rc;
		request(f, "r-1", "k-fail-1");
		request(f, "r-2", "k-fail-2");
		run_until_acks(f, before + 2);
		for (size_t i = before; i < before + 2; i++) {
			const struct ack *a = &fake.acks[i];

			assert_int_equal(a->status, A(RETRY_LATER));
			assert_int_equal(a->reason, cases[c].reason);
			assert_non_null(strstr(a->detail, cases[c].detail));
			assert_int_equal(a->retry_after_ms, INGEST_RETRY_AFTER_MS);
			assert_int_equal(a->message_id, 0);
			assert_true(a->seq > fake.commit_seq[c]);
		}
		assert_int_equal(fake.commit_rc[c], cases[c].rc);
		assert_int_equal(stats(f->s->st).total, 0);
		assert_int_equal(store_find_key(f->s->st, "k-fail-1", 8, &id), STORE_NOTFOUND);
	}
	assert_int_equal(counts(f).retry, 4);
	assert_int_equal(counts(f).commits, 0);
	/* Resent: stored. */
	request(f, "r-1", "k-fail-1");
	request(f, "r-2", "k-fail-2");
	run_until_acks(f, 6);
	assert_int_equal(fake.acks[4].status, A(ACCEPTED));
	assert_int_equal(fake.acks[5].status, A(ACCEPTED));
	assert_int_equal(stats(f->s->st).total, 2);
}

/* Behind the broker, an ack that nothing takes (the broker died: the
 * worker's bound DEALER has no peer and its send times out) is dropped with
 * the rest of its batch, without trying each: the worker goes on (sending
 * SMS too) instead of blocking or exiting; what was stored stays stored,
 * and the next batch is acked once a broker takes acks again. */
static void test_acks_nobody_takes_are_dropped_and_ingest_goes_on(void **state)
{
	struct ifx *f = *state;

	start(f);
	fake.send_eagain = 1;
	request(f, "r-1", "k-drop-1");
	request(f, "r-2", "k-drop-2");
	request(f, "r-3", "k-drop-3");
	for (int i = 0; i < 100 && atomic_load(&fake.n_commits) < 1; i++) {
		struct pollfd p = { .fd = ingest_fd(f->in), .events = POLLIN };

		assert_true(ingest_process(f->in, 0) >= 0);
		(void)poll(&p, 1, 100);
	}
	assert_true(ingest_process(f->in, 0) >= 0); /* the batch answered */
	assert_int_equal(fake.n_acks, 0);
	assert_int_equal(fake.send_calls, 1); /* one try for the batch, not one each */
	assert_int_equal(counts(f).acks_dropped, 3);
	assert_int_equal(counts(f).accepted, 3);
	assert_int_equal(stats(f->s->st).total, 3);
	/* A broker again: the resent events are answered DUPLICATE. */
	request(f, "r-4", "k-drop-1");
	request(f, "r-5", "k-drop-4");
	run_until_acks(f, 2);
	assert_int_equal(ack_of("r-4")->status, A(DUPLICATE));
	assert_int_equal(ack_of("r-5")->status, A(ACCEPTED));
	assert_int_equal(counts(f).acks_dropped, 3);
}

/* An event frame over max_event_bytes: REJECTED, OVERSIZE, saying the
 * limit; one of exactly the limit is stored. */
static void test_an_oversize_event_is_rejected(void **state)
{
	struct ifx *f = *state;
	unsigned char ev[FRAME_MAX];
	size_t at_limit = event(f, "k-size-1", ev);

	assert_int_equal(event(f, "k-size-12", ev), at_limit + 1);
	f->o.max_event_bytes = at_limit;
	start(f);
	request(f, "r-1", "k-size-12");
	request(f, "r-2", "k-size-1");
	run_until_acks(f, 2);
	const struct ack *over = ack_of("r-1");
	char limit[64];
	snprintf(limit, sizeof(limit), "over the limit of %zu", at_limit);
	assert_int_equal(over->status, A(REJECTED));
	assert_int_equal(over->reason, R(OVERSIZE));
	assert_non_null(strstr(over->detail, limit));
	assert_int_equal(ack_of("r-2")->status, A(ACCEPTED));
	assert_int_equal(stats(f->s->st).total, 1);
	uint64_t id;
	assert_int_equal(store_find_key(f->s->st, "k-size-12", 9, &id), STORE_NOTFOUND);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, isetup, iteardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_wrong_frames_are_rejected_and_nothing_stored),
		T(test_a_batch_is_one_commit_and_acked_after_it),
		T(test_a_duplicate_key_is_answered_duplicate),
		T(test_a_failed_commit_answers_retry_later_and_stores_nothing),
		T(test_an_oversize_event_is_rejected),
		T(test_acks_nobody_takes_are_dropped_and_ingest_goes_on),
	};

	log_init("test_ingest", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
