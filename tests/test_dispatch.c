/* WRAP: clock_gettime mdb_txn_commit http_new http_destroy http_set_max_connections http_start http_set_gate http_fds http_timeout_ms http_on_fd http_on_timeout http_next_done http_release */
/*
 * test_dispatch: the sending side (worker/dispatch.c) against a fake
 * provider, a real store and a real pacing file in a temp directory.
 *
 * Seams, all at link time (first line: WRAP):
 *   http_*          the HTTP layer (provider/http.h): requests are recorded
 *                   (their messages read back from the webhook body, or a
 *                   Sinch body's per-recipient texts "sms <n>") and
 *                   answered when the test says, with the status, body and
 *                   Retry-After it chooses; the gate dispatch sets
 *                   (http_set_gate) is asked when a request "is written",
 *                   as libcurl does, on http_on_timeout()
 *   clock_gettime   time: common/clock.h's wall and monotonic clocks stand
 *                   still until the test moves them (advance()), for
 *                   dispatch, the pacing file and the store alike
 *   mdb_txn_commit  a commit the test makes fail (store_fx.h)
 *
 * The arithmetic of the queue's size is tested apart (queue_cap_*).  How
 * dispatch runs against a real HTTP server: tests/it_dispatch.py.
 */
#include "tests/store_fx.h"

#include <inttypes.h>
#include <jansson.h>
#include <time.h>

#include "common/log.h"
#include "worker/config.h"
#include "store/pace.h"
#include "worker/dispatch.h"

#define LEASE_MS 30000 /* dispatch.lease_ms's default */
#define QMAX 2048      /* dispatch.queue_max's default */

/* ---- the queue's size ----------------------------------------------------- */

/* No limit to speak of: the configured queue_max. */
static void test_queue_cap_unlimited(void **state)
{
	(void)state;
	assert_int_equal(dispatch_queue_cap(QMAX, 1e6, LEASE_MS, 100), QMAX);
	assert_int_equal(dispatch_queue_cap(QMAX, 1e12, LEASE_MS, 1), QMAX);
	assert_int_equal(dispatch_queue_cap(1, 1e6, LEASE_MS, 100), 1);
}

/* A slow limit: half a second's worth, so an urgent message leased by the
 * next refill waits behind little. */
static void test_queue_cap_by_hold(void **state)
{
	(void)state;
	assert_int_equal(DISPATCH_QUEUE_HOLD_MS, 500);
	assert_int_equal(dispatch_queue_cap(QMAX, 667.0, LEASE_MS, 100), 333);
	assert_int_equal(dispatch_queue_cap(QMAX, 2000.0, LEASE_MS, 100), 1000);
	assert_int_equal(dispatch_queue_cap(QMAX, 4096.0, LEASE_MS, 100), QMAX);
	assert_int_equal(dispatch_queue_cap(QMAX, 10000.0, LEASE_MS, 100), QMAX);
}

/* A short lease binds before the hold: a quarter of it at the limit. */
static void test_queue_cap_by_lease(void **state)
{
	(void)state;
	/* 1 s lease: a quarter second's worth, 250 of 1,000/s */
	assert_int_equal(dispatch_queue_cap(QMAX, 1000.0, 1000, 10), 250);
	/* 2 s lease: a quarter is the hold, 500 either way */
	assert_int_equal(dispatch_queue_cap(QMAX, 1000.0, 2000, 10), 500);
}

/* Never fewer than one full request, never more than queue_max, never 0. */
static void test_queue_cap_bounds(void **state)
{
	(void)state;
	assert_int_equal(dispatch_queue_cap(QMAX, 10.0, LEASE_MS, 100), 100);
	assert_int_equal(dispatch_queue_cap(50, 10.0, LEASE_MS, 100), 50);
	assert_int_equal(dispatch_queue_cap(QMAX, 0.5, LEASE_MS, 1), 1);
	assert_int_equal(dispatch_queue_cap(QMAX, 0.001, 1000, 0), 1);
}

/* ---- the clock ------------------------------------------------------------ */

#define MONO0_NS (1000LL * 1000000000LL) /* the monotonic clock at the start */

static int64_t elapsed_ns; /* how far the test moved both clocks */

int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);

int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	int64_t ns;

	if (id == CLOCK_REALTIME)
		ns = NOW * 1000000LL + elapsed_ns;
	else if (id == CLOCK_MONOTONIC)
		ns = MONO0_NS + elapsed_ns;
	else
		return __real_clock_gettime(id, ts);
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	return 0;
}

/* The wall clock now, ms (what the store is told). */
static int64_t now_ms(void)
{
	return NOW + elapsed_ns / 1000000LL;
}

static void advance(int64_t ms)
{
	elapsed_ns += ms * 1000000LL;
}

/* ---- the fake provider: http.h ------------------------------------------ */

#define FAKE_REQS 512
#define FAKE_MSGS 100 /* the webhook's max batch */
#define KEYS_MAX 64   /* messages a test stores (store_fx.h's keys) */

/* The id of message n (key "k<n>") once stored by add_to(): how a Sinch
 * body, which carries no id, is read back. */
static uint64_t id_of_n[KEYS_MAX];

struct fake_req {
	void *user;                   /* dispatch's request */
	int64_t started_ms;           /* wall clock at http_start() */
	size_t n;                     /* messages in its body */
	uint64_t ids[FAKE_MSGS];      /* their ids, from "smsq-<id>" */
	char type[16];                /* a Vonage form's "type" */
	int written;                  /* the gate let it go: it reached the provider */
	int withheld;                 /* the gate held it back */
	int answered;                 /* an answer is ready for http_next_done() */
	int collected;                /* http_next_done() gave it back */
	struct provider_response resp; /* the answer */
	char body[8192];              /* its body */
};

static struct {
	struct fake_req reqs[FAKE_REQS];
	size_t n;                     /* requests started */
	int hold_writes;              /* requests started are not written yet */
	int (*gate)(void *user);      /* what dispatch set */
	int handle;                   /* http_new()'s handle points here */
} fake;

http *__wrap_http_new(char *err, size_t errlen);
int __wrap_http_set_max_connections(http *h, size_t n, char *err, size_t errlen);
void __wrap_http_destroy(http **h);
int __wrap_http_start(http *h, const struct provider_request *req, const struct http_opts *o,
		      void *user, char *err, size_t errlen);
void __wrap_http_set_gate(http *h, int (*gate)(void *user));
size_t __wrap_http_fds(const http *h, struct http_fd *out, size_t max);
long __wrap_http_timeout_ms(const http *h);
void __wrap_http_on_fd(http *h, int fd, int readable, int writable);
void __wrap_http_on_timeout(http *h);
http_xfer *__wrap_http_next_done(http *h, void **user, struct provider_response *resp);
void __wrap_http_release(http *h, http_xfer *x);

http *__wrap_http_new(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return (http *)&fake.handle;
}

int __wrap_http_set_max_connections(http *h, size_t n, char *err, size_t errlen)
{
	(void)h;
	(void)n;
	(void)err;
	(void)errlen;
	return 0;
}

void __wrap_http_destroy(http **h)
{
	*h = NULL;
}

/* Read the ids of a Sinch body: each recipient's text, "sms <n>", under
 * {"to":[...],"parameters":{"text":{"<to>":"sms <n>"}}}, in "to" order. */
static size_t sinch_ids(json_t *root, uint64_t *ids, size_t max)
{
	json_t *texts = json_object_get(json_object_get(root, "parameters"), "text"), *to;
	size_t i, n = 0;
	int k;

	json_array_foreach(json_object_get(root, "to"), i, to) {
		const char *text = json_string_value(json_object_get(texts, json_string_value(to)));

		assert_non_null(text);
		assert_true(n < max);
		assert_int_equal(sscanf(text, "sms %d", &k), 1);
		assert_true(k >= 0 && k < KEYS_MAX);
		ids[n++] = id_of_n[k];
	}
	return n;
}

/* Read the ids of a webhook body ({"messages":[{"id":"smsq-<id>",...}]}),
 * or a Sinch body's (sinch_ids()). */
static size_t body_ids(const struct provider_request *req, uint64_t *ids, size_t max)
{
	json_error_t jerr;
	json_t *root, *msgs, *m;
	size_t i, n = 0;

	if (strncmp(req->body, "from=", 5) == 0) {
		/* A Vonage form: one message, its id in client-ref. */
		const char *ref = strstr(req->body, "client-ref=smsq-");

		assert_non_null(ref);
		assert_int_equal(sscanf(ref, "client-ref=smsq-%" SCNu64, &ids[0]), 1);
		return 1;
	}
	root = json_loadb(req->body, req->body_len, 0, &jerr);
	msgs = json_object_get(root, "messages");
	if (root == NULL)
		fail_msg("request body is not JSON: %s", jerr.text);
	if (msgs == NULL) {
		n = sinch_ids(root, ids, max);
		json_decref(root);
		return n;
	}
	json_array_foreach(msgs, i, m) {
		const char *ref = json_string_value(json_object_get(m, "id"));

		assert_non_null(ref);
		assert_true(n < max);
		assert_int_equal(sscanf(ref, "smsq-%" SCNu64, &ids[n]), 1);
		n++;
	}
	json_decref(root);
	return n;
}

int __wrap_http_start(http *h, const struct provider_request *req, const struct http_opts *o,
		      void *user, char *err, size_t errlen)
{
	struct fake_req *r = &fake.reqs[fake.n];

	(void)h;
	(void)o;
	(void)err;
	(void)errlen;
	assert_true(fake.n < FAKE_REQS);
	memset(r, 0, sizeof(*r));
	r->user = user;
	r->started_ms = now_ms();
	r->n = body_ids(req, r->ids, FAKE_MSGS);
	if (strstr(req->body, "&type=") != NULL)
		assert_int_equal(sscanf(strstr(req->body, "&type="), "&type=%15[a-z]", r->type), 1);
	fake.n++;
	return 0;
}

void __wrap_http_set_gate(http *h, int (*gate)(void *user))
{
	(void)h;
	fake.gate = gate;
}

size_t __wrap_http_fds(const http *h, struct http_fd *out, size_t max)
{
	(void)h;
	(void)out;
	(void)max;
	return 0;
}

/* Requests started and not yet written, when writes are let through. */
static int writes_due(void)
{
	for (size_t i = 0; i < fake.n && !fake.hold_writes; i++)
		if (!fake.reqs[i].written && !fake.reqs[i].withheld)
			return 1;
	return 0;
}

long __wrap_http_timeout_ms(const http *h)
{
	(void)h;
	return writes_due() ? 0 : -1;
}

/* libcurl writes what was started when it is driven: the gate first. */
void __wrap_http_on_timeout(http *h)
{
	(void)h;
	for (size_t i = 0; i < fake.n && !fake.hold_writes; i++) {
		struct fake_req *r = &fake.reqs[i];

		if (r->written || r->withheld)
			continue;
		if (fake.gate != NULL && !fake.gate(r->user)) {
			r->withheld = 1;
			r->answered = 1;
			r->resp.transport = PROVIDER_T_WITHHELD;
			r->resp.retry_after_ms = -1;
		} else {
			r->written = 1;
		}
	}
}

void __wrap_http_on_fd(http *h, int fd, int readable, int writable)
{
	(void)fd;
	(void)readable;
	(void)writable;
	__wrap_http_on_timeout(h);
}

http_xfer *__wrap_http_next_done(http *h, void **user, struct provider_response *resp)
{
	(void)h;
	for (size_t i = 0; i < fake.n; i++) {
		struct fake_req *r = &fake.reqs[i];

		if (r->answered && !r->collected) {
			r->collected = 1;
			*user = r->user;
			*resp = r->resp;
			return (http_xfer *)r;
		}
	}
	return NULL;
}

void __wrap_http_release(http *h, http_xfer *x)
{
	(void)h;
	(void)x;
}

/* Answer request i: status, body (may be NULL), Retry-After (ms, -1: none). */
static void answer(size_t i, long status, const char *body, int64_t retry_after_ms)
{
	struct fake_req *r = &fake.reqs[i];

	assert_true(i < fake.n);
	assert_true(r->written);
	assert_false(r->answered);
	snprintf(r->body, sizeof(r->body), "%s", body ? body : "");
	r->resp.transport = PROVIDER_T_OK;
	r->resp.status = status;
	r->resp.body = r->body;
	r->resp.body_len = strlen(r->body);
	r->resp.retry_after_ms = retry_after_ms;
	r->answered = 1;
}

/* Answer request i 200, each message "accepted" (provider id "gw-<id>")
 * unless it is `reject` (0: none), which is "rejected". */
static void answer_ok(size_t i, uint64_t reject)
{
	char body[8192];
	size_t used = 0;
	struct fake_req *r = &fake.reqs[i];

	used += (size_t)snprintf(body + used, sizeof(body) - used, "{\"results\":[");
	for (size_t k = 0; k < r->n; k++) {
		if (r->ids[k] == reject)
			used += (size_t)snprintf(body + used, sizeof(body) - used,
						 "%s{\"id\":\"smsq-%" PRIu64 "\",\"status\":\"rejected\","
						 "\"error\":\"invalid number\"}",
						 k ? "," : "", r->ids[k]);
		else
			used += (size_t)snprintf(body + used, sizeof(body) - used,
						 "%s{\"id\":\"smsq-%" PRIu64 "\",\"status\":\"accepted\","
						 "\"provider_id\":\"gw-%" PRIu64 "\"}",
						 k ? "," : "", r->ids[k], r->ids[k]);
		assert_true(used < sizeof(body));
	}
	snprintf(body + used, sizeof(body) - used, "]}");
	answer(i, 200, body, -1);
}

/* ---- fixture: a store, a configuration, dispatch ------------------------ */

struct dfx {
	struct fx *s;                  /* store_fx.h: the store in a temp directory */
	struct config cfg;             /* defaults, a webhook provider "p" */
	dispatch *d;                   /* once started */
};

static void set(struct dfx *f, const char *name, const char *value)
{
	char err[256];

	if (config_set(&f->cfg, name, value, err, sizeof(err)) != 0)
		fail_msg("config %s = %s: %s", name, value, err);
}

static int dsetup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));
	void *inner = NULL;

	if (f == NULL || setup(&inner) != 0)
		return -1;
	f->s = inner;
	memset(&fake, 0, sizeof(fake));
	elapsed_ns = 0;
	fail_next_commit = 0;
	config_defaults(&f->cfg);
	set(f, "store.dir", f->s->dir);
	set(f, "dispatch.flush_ms", "0"); /* outcomes committed by the step that has them */
	set(f, "provider.p.type", "webhook");
	set(f, "provider.p.base_url", "http://gateway.invalid/sms");
	set(f, "provider.p.token", "secret");
	set(f, "provider.p.count", "messages");
	set(f, "provider.p.rate_per_s", "1000");
	*state = f;
	return 0;
}

static int dteardown(void **state)
{
	struct dfx *f = *state;
	void *inner = f->s;

	dispatch_destroy(&f->d);
	free(f);
	return teardown(&inner);
}

static void start(struct dfx *f)
{
	char err[256] = "";

	f->d = dispatch_new(&f->cfg, f->s->st, err, sizeof(err));
	if (f->d == NULL)
		fail_msg("dispatch_new: %s", err);
}

/* Store message n (key "k<n>"), due now: priority, appointment in
 * appt_min minutes.  Returns its id. */
static uint64_t add(struct dfx *f, int n, uint8_t prio, int appt_min)
{
	struct store_new m = msg(f->s, n, prio, now_ms() + appt_min * 60000LL, 0);

	with_text(&m, "+33612345678", "Your appointment is confirmed");
	m.segments = 1;
	m.created_ms = now_ms() - 1000;
	assert_int_equal(store_ingest(f->s->st, &m, 1, now_ms()), STORE_OK);
	return m.id;
}

/* Store message n due now for an appointment in a day, to number to,
 * with the text "sms <n>" (a Sinch body is read back by it).  Returns its
 * id. */
static uint64_t add_to(struct dfx *f, int n, const char *to)
{
	struct store_new m = msg(f->s, n, 0, now_ms() + 24 * 3600000LL, 0);
	char text[32];

	assert_true(n >= 0 && n < KEYS_MAX);
	snprintf(text, sizeof(text), "sms %d", n);
	with_text(&m, to, text);
	m.segments = 1;
	m.created_ms = now_ms() - 1000;
	assert_int_equal(store_ingest(f->s->st, &m, 1, now_ms()), STORE_OK);
	id_of_n[n] = m.id;
	return m.id;
}

/* The provider "p" speaks Sinch's API instead. */
static void sinch_provider(struct dfx *f)
{
	set(f, "provider.p.type", "sinch");
	set(f, "provider.p.base_url", "https://eu.sms.api.sinch.invalid");
	set(f, "provider.p.account", "plan1");
	set(f, "provider.p.sender", "Clinique");
}

static long step(struct dfx *f)
{
	long sleep_ms = dispatch_step(f->d, 0);

	assert_true(sleep_ms >= 0);
	return sleep_ms;
}

/* Store n messages due now, for an appointment in a day (keys k0..: ids in
 * id), start dispatch and take a step: what it sent is in fake.reqs. */
static void start_with(struct dfx *f, uint64_t *id, int n)
{
	for (int i = 0; i < n; i++)
		id[i] = add(f, i, 0, 24 * 60);
	start(f);
	step(f);
}

static struct dispatch_counts counts(struct dfx *f)
{
	struct dispatch_counts c;

	dispatch_get_counts(f->d, &c);
	return c;
}

/* Message id as stored now (text and event freed). */
static struct store_msg get(struct dfx *f, uint64_t id)
{
	struct store_msg m;

	assert_int_equal(store_get(f->s->st, id, &m), STORE_OK);
	free(m.text);
	free(m.event);
	m.text = NULL;
	m.event = NULL;
	return m;
}

/* Another worker (its own handle) leases what it can now, up to 4, for
 * lease_ms: how many it got. */
static size_t other_worker_leases(struct dfx *f, int64_t lease_ms)
{
	char err[256];
	struct store_leased got[4];
	char texts[4 * STORE_LEASE_TEXTS_MIN];
	size_t n = 0;
	store *worker2 = store_share(f->s->st, err, sizeof(err));

	assert_non_null(worker2);
	assert_int_equal(store_lease(worker2, now_ms(), lease_ms, 4, 0, got, texts, sizeof(texts),
				     &n, NULL), STORE_OK);
	store_close(&worker2);
	return n;
}

/* Step every `every` ms for ms, no request started meanwhile. */
static void quiet_for(struct dfx *f, int64_t ms, int64_t every)
{
	size_t before = fake.n;

	for (int64_t t = 0; t < ms; t += every) {
		step(f);
		assert_int_equal(fake.n, before);
		advance(every);
	}
}

/* ---- batching and outcomes ------------------------------------------------ */

/* Leased most urgent first (priority, then the soonest appointment), and
 * sent in that order in requests of max_batch messages. */
static void test_batches_in_urgency_order_up_to_max_batch(void **state)
{
	struct dfx *f = *state;
	/* n, priority, appointment in minutes */
	static const int m[7][3] = { { 1, 0, 180 }, { 2, 5, 120 }, { 3, 0, 60 }, { 4, 9, 180 },
				     { 5, 5, 60 },  { 6, 0, 120 }, { 7, 9, 120 } };
	static const int order[7] = { 7, 4, 5, 2, 3, 6, 1 };
	uint64_t id[8];

	set(f, "provider.p.max_batch", "3");
	for (int i = 0; i < 7; i++)
		id[m[i][0]] = add(f, m[i][0], (uint8_t)m[i][1], m[i][2]);
	start(f);
	step(f);
	assert_int_equal(fake.n, 3);
	assert_int_equal(fake.reqs[0].n, 3);
	assert_int_equal(fake.reqs[1].n, 3);
	assert_int_equal(fake.reqs[2].n, 1);
	for (int i = 0; i < 7; i++)
		assert_int_equal(fake.reqs[i / 3].ids[i % 3], id[order[i]]);
	assert_int_equal(counts(f).requests, 3);
}

/* A 2xx accepting them: sent, with the provider's id, and counted. */
static void test_2xx_marks_them_sent_and_counts_them(void **state)
{
	struct dfx *f = *state;
	uint64_t id[3];

	start_with(f, id, 3);
	assert_int_equal(fake.n, 1);
	assert_int_equal(fake.reqs[0].n, 3);
	answer_ok(0, 0);
	step(f);
	for (int i = 0; i < 3; i++) {
		struct store_msg s = get(f, id[i]);
		char want[32];

		snprintf(want, sizeof(want), "gw-%" PRIu64, id[i]);
		assert_int_equal(s.state, STORE_STATE_SENT);
		assert_string_equal(s.note, want);
		assert_int_equal(s.attempts, 1);
	}
	assert_int_equal(stats(f->s->st).count[STORE_STATE_SENT], 3);
	assert_int_equal(counts(f).sent, 3);
	assert_int_equal(counts(f).failed, 0);
	assert_true(dispatch_idle(f->d));
}

/* A per-message rejection in a 2xx fails that message for good; the
 * others of the request are sent. */
static void test_per_message_rejection_fails_only_that_one(void **state)
{
	struct dfx *f = *state;
	uint64_t id[3];

	start_with(f, id, 3);
	assert_int_equal(fake.reqs[0].n, 3);
	answer_ok(0, id[1]);
	step(f);
	struct store_msg bad = get(f, id[1]);
	assert_int_equal(bad.state, STORE_STATE_FAILED);
	assert_non_null(strstr(bad.note, "invalid number"));
	assert_int_equal(get(f, id[0]).state, STORE_STATE_SENT);
	assert_int_equal(get(f, id[2]).state, STORE_STATE_SENT);
	assert_int_equal(counts(f).failed, 1);
	assert_int_equal(counts(f).sent, 2);
	assert_int_equal(counts(f).retried, 0);
}

/* A 5xx: every message of the request waits a backoff (full jitter within
 * retry.base_ms for a first attempt: uniform, so not all of them at once),
 * its attempt counted, and is sent again once due, not before. */
static void test_5xx_retries_after_a_backoff_and_counts_the_attempt(void **state)
{
	struct dfx *f = *state;
	enum { N = 8 };
	uint64_t id[N];
	int64_t answered_at, due[N], last = 0;
	int later = 0;

	set(f, "retry.base_ms", "2000");
	start_with(f, id, N);
	assert_int_equal(fake.n, 1);
	answer(0, 500, "{\"error\":\"gateway broke\"}", -1);
	answered_at = now_ms();
	step(f);
	for (int i = 0; i < N; i++) {
		struct store_msg s = get(f, id[i]);

		assert_int_equal(s.state, STORE_STATE_DELAYED);
		assert_int_equal(s.attempts, 1);
		assert_true(s.due_ms >= answered_at && s.due_ms <= answered_at + 2000);
		assert_non_null(strstr(s.note, "gateway broke"));
		due[i] = s.due_ms;
		last = s.due_ms > last ? s.due_ms : last;
		later += s.due_ms > answered_at;
	}
	assert_true(later > 0);
	assert_int_equal(counts(f).retried, N);
	assert_int_equal(counts(f).throttled, 0);
	assert_int_equal(stats(f->s->st).retries, N);
	/* Each goes again once due, not before. */
	while (now_ms() <= last + DISPATCH_IDLE_POLL_MS) {
		step(f);
		advance(5);
	}
	size_t again = 0;
	for (size_t r = 1; r < fake.n; r++) {
		for (size_t k = 0; k < fake.reqs[r].n; k++) {
			int i = 0;

			while (i < N && id[i] != fake.reqs[r].ids[k])
				i++;
			assert_true(i < N);
			assert_true(fake.reqs[r].started_ms >= due[i]);
			again++;
		}
	}
	assert_int_equal(again, N);
}

/* A 429 with Retry-After: the provider is held (no request before the
 * hold ends, the next one right after); the message waits out the hold,
 * no attempt counted. */
static void test_429_holds_the_provider_without_counting_an_attempt(void **state)
{
	struct dfx *f = *state;
	uint64_t id[3];
	int64_t hold_end;

	set(f, "provider.p.max_batch", "1");
	set(f, "provider.p.concurrency", "1");
	start_with(f, id, 3);
	assert_int_equal(fake.n, 1);
	answer(0, 429, "{\"error\":\"slow down\"}", 2000);
	hold_end = now_ms() + 2000;
	step(f);
	assert_int_equal(fake.n, 1);
	struct store_msg s = get(f, id[0]);
	assert_int_equal(s.state, STORE_STATE_DELAYED);
	assert_int_equal(s.attempts, 0);
	assert_int_equal(s.due_ms, hold_end);
	assert_int_equal(stats(f->s->st).attempts, 2); /* the two leased behind it */
	assert_int_equal(counts(f).throttled, 1);
	assert_int_equal(counts(f).retried, 1);
	/* Held: the two others stay queued until the hold ends. */
	quiet_for(f, 2000 - 10, 10);
	while (now_ms() < hold_end)
		advance(1);
	step(f);
	assert_int_equal(fake.n, 2);
	assert_int_equal(fake.reqs[1].ids[0], id[1]);
	assert_int_equal(fake.reqs[1].started_ms, hold_end);
}

/* A throttling answer asking for longer than any Retry-After is honoured
 * (a webhook's retry_after_ms in the body, up to 2^63 ms): the provider is
 * held PROVIDER_RETRY_AFTER_MAX_MS, as for a Retry-After header, and the
 * message waits as long, no more. */
static void test_a_retry_after_beyond_an_hour_holds_an_hour(void **state)
{
	struct dfx *f = *state;
	uint64_t id[2];
	char body[256];

	set(f, "provider.p.max_batch", "1");
	set(f, "provider.p.concurrency", "1");
	start_with(f, id, 2);
	snprintf(body, sizeof(body),
		 "{\"results\":[{\"id\":\"smsq-%" PRIu64 "\",\"status\":\"throttled\","
		 "\"retry_after_ms\":2000000000000000000}]}", id[0]);
	answer(0, 200, body, -1);
	int64_t hold_end = now_ms() + PROVIDER_RETRY_AFTER_MAX_MS;
	step(f);
	assert_int_equal(get(f, id[0]).due_ms, hold_end);
	quiet_for(f, PROVIDER_RETRY_AFTER_MAX_MS, 10000); /* within half a lease */
	while (now_ms() < hold_end)
		advance(1);
	step(f);
	assert_int_equal(fake.n, 2);
	assert_int_equal(fake.reqs[1].started_ms, hold_end);
}

/* A 401: our configuration, not the messages'.  The provider is parked:
 * the messages go back to ready, no attempt counted, nothing is sent for a
 * second, then one single-message probe, and nothing else while it is out;
 * its success sends the rest in batches again. */
static void test_401_parks_the_provider_and_only_a_probe_goes(void **state)
{
	struct dfx *f = *state;
	uint64_t id[4];

	set(f, "provider.p.max_batch", "2");
	set(f, "provider.p.concurrency", "1");
	start_with(f, id, 4);
	assert_int_equal(fake.n, 1);
	assert_int_equal(fake.reqs[0].n, 2);
	answer(0, 401, "{\"error\":\"bad token\"}", -1);
	step(f);
	assert_int_equal(fake.n, 1);
	for (int i = 0; i < 4; i++) {
		struct store_msg s = get(f, id[i]);

		assert_int_equal(s.state, STORE_STATE_READY);
		assert_int_equal(s.attempts, 0);
	}
	assert_int_equal(counts(f).parked, 2);
	assert_int_equal(counts(f).retried, 0);
	assert_int_equal(stats(f->s->st).attempts, 0);
	/* Parked for a second (PACE_MISCONF_FIRST_NS). */
	quiet_for(f, 1000, 50);
	step(f);
	assert_int_equal(fake.n, 2);
	assert_int_equal(fake.reqs[1].n, 1); /* the probe */
	/* Nothing else while the probe is out. */
	quiet_for(f, 3000, 100);
	answer_ok(1, 0);
	step(f);
	assert_int_equal(fake.n, 3);
	assert_int_equal(fake.reqs[2].n, 2);
	answer_ok(2, 0);
	step(f);
	assert_int_equal(fake.n, 4);
	answer_ok(3, 0);
	step(f);
	assert_int_equal(counts(f).sent, 4);
	assert_int_equal(stats(f->s->st).count[STORE_STATE_SENT], 4);
}

/* ---- batches answered as a whole (Sinch) ------------------------------------- */

/* Sinch keys the texts of a batch by number: a batch ends before a number
 * it holds already, which heads the next one; the order is kept. */
static void test_a_number_goes_once_per_request(void **state)
{
	struct dfx *f = *state;
	static const char *const to[6] = { "+33611111111", "+33622222222", "+33611111111",
					   "+33633333333", "+33644444444", "+33622222222" };
	uint64_t id[6];

	sinch_provider(f);
	for (int i = 0; i < 6; i++)
		id[i] = add_to(f, i, to[i]);
	start(f);
	step(f);
	assert_int_equal(fake.n, 2);
	assert_int_equal(fake.reqs[0].n, 2);
	assert_int_equal(fake.reqs[0].ids[0], id[0]);
	assert_int_equal(fake.reqs[0].ids[1], id[1]);
	assert_int_equal(fake.reqs[1].n, 4);
	for (int k = 0; k < 4; k++)
		assert_int_equal(fake.reqs[1].ids[k], id[2 + k]);
	answer(0, 201, "{\"id\":\"01BATCHA\"}", -1);
	answer(1, 201, "{\"id\":\"01BATCHB\"}", -1);
	step(f);
	assert_int_equal(counts(f).sent, 6);
	assert_string_equal(get(f, id[0]).note, "01BATCHA");
	assert_string_equal(get(f, id[5]).note, "01BATCHB");
	/* Cut by dispatch, never refused by the adapter's build(). */
	assert_int_equal(counts(f).not_built, 0);
}

/* A batch refused as a whole (a 400 that may be one number's): nothing was
 * sent, so its messages go back to ready untouched, no attempt counted,
 * and each goes again alone: the bad one fails by itself, the others are
 * sent. */
static void test_a_batch_refused_as_a_whole_goes_again_alone(void **state)
{
	struct dfx *f = *state;
	uint64_t id[3];

	sinch_provider(f);
	id[0] = add_to(f, 0, "+33611111111");
	id[1] = add_to(f, 1, "+33622222222");
	id[2] = add_to(f, 2, "+33633333333");
	start(f);
	step(f);
	assert_int_equal(fake.n, 1);
	assert_int_equal(fake.reqs[0].n, 3);
	answer(0, 400, "{\"code\":\"syntax_invalid_parameter_format\",\"text\":\"bad number\"}",
	       -1);
	step(f);
	for (int i = 0; i < 3; i++) {
		struct store_msg s = get(f, id[i]);

		assert_true(s.state == STORE_STATE_READY || s.state == STORE_STATE_INFLIGHT);
		assert_int_equal(s.attempts, s.state == STORE_STATE_INFLIGHT);
	}
	assert_int_equal(counts(f).split, 3);
	assert_int_equal(counts(f).failed + counts(f).retried, 0);
	while (fake.n < 4) {
		size_t before = fake.n;

		advance(DISPATCH_IDLE_MIN_MS);
		step(f);
		assert_true(fake.n > before || now_ms() < NOW + 1000);
	}
	for (size_t r = 1; r < 4; r++) {
		assert_int_equal(fake.reqs[r].n, 1);
		assert_int_equal(fake.reqs[r].ids[0], id[r - 1]);
	}
	answer(1, 201, "{\"id\":\"01A\"}", -1);
	answer(2, 400, "{\"code\":\"syntax_invalid_parameter_format\",\"text\":\"bad number\"}",
	       -1);
	answer(3, 201, "{\"id\":\"01C\"}", -1);
	step(f);
	assert_int_equal(get(f, id[0]).state, STORE_STATE_SENT);
	struct store_msg bad = get(f, id[1]);
	assert_int_equal(bad.state, STORE_STATE_FAILED);
	assert_non_null(strstr(bad.note, "syntax_invalid_parameter_format"));
	assert_int_equal(bad.attempts, 1);
	assert_int_equal(get(f, id[2]).state, STORE_STATE_SENT);
	assert_int_equal(get(f, id[2]).attempts, 1);
	assert_int_equal(stats(f->s->st).attempts, 3);
	assert_int_equal(counts(f).failed, 1);
	assert_int_equal(counts(f).sent, 2);
	assert_int_equal(fake.n, 4);
}

/* Vonage is told a text's encoding: dispatch finds it as ingest did (a
 * character outside GSM-7 makes it UCS-2), and the limit counts messages
 * (one a request: Vonage counts requests), whatever the parts. */
static void test_vonage_told_the_encoding_paced_per_message(void **state)
{
	struct dfx *f = *state;
	static const char *const texts[3] = { "Caf\xc3\xa9 \xc3\xa0 9h", "Caf\xc3\xa9 \xf0\x9f\x98\x80",
					      "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" };
	uint64_t id[3];

	set(f, "provider.p.type", "vonage");
	set(f, "provider.p.base_url", "https://rest.nexmo.invalid");
	set(f, "provider.p.account", "abcd1234");
	set(f, "provider.p.sender", "Clinique");
	set(f, "provider.p.count", "auto");
	set(f, "provider.p.rate_per_s", "10");
	set(f, "provider.p.burst", "0");
	for (int i = 0; i < 3; i++) {
		struct store_new m = msg(f->s, i, 0, now_ms() + 24 * 3600000LL, 0);

		with_text(&m, "+33612345678", texts[i]);
		m.segments = 3;
		assert_int_equal(store_ingest(f->s->st, &m, 1, now_ms()), STORE_OK);
		id[i] = m.id;
	}
	start(f);
	for (int t = 0; t < 2000 && fake.n < 3; t += 5) {
		step(f);
		advance(5);
	}
	assert_int_equal(fake.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fake.reqs[i].ids[0], id[i]);
	assert_string_equal(fake.reqs[0].type, "text");
	assert_string_equal(fake.reqs[1].type, "unicode");
	assert_string_equal(fake.reqs[2].type, "unicode");
	/* count = auto: at 10 a second, three messages take 0.2 s, not the
	 * 0.6 s their nine parts would. */
	assert_true(fake.reqs[2].started_ms - fake.reqs[0].started_ms <= 250);
}

/* ---- pacing ----------------------------------------------------------------- */

/* rate_per_s L, burst B: with a backlog, no 1-second window holds more than
 * L + B messages (pace.h), and the provider gets about L a second. */
static void test_pacing_keeps_every_second_within_rate_and_burst(void **state)
{
	struct dfx *f = *state;
	enum { L = 100, B = 10, RUN_MS = 3000, BACKLOG = 400 };

	set(f, "provider.p.rate_per_s", "100");
	set(f, "provider.p.burst", "10");
	set(f, "dispatch.flush_ms", "100");
	for (int i = 0; i < BACKLOG; i++) {
		struct store_new m = msg(f->s, i, 0, now_ms() + DAY, 0);

		with_text(&m, "+33612345678", "paced");
		assert_int_equal(store_ingest(f->s->st, &m, 1, now_ms()), STORE_OK);
	}
	start(f);
	for (int64_t t = 0; t < RUN_MS; t++) {
		size_t first = fake.n;

		step(f);
		for (size_t i = first; i < fake.n; i++)
			answer_ok(i, 0);
		advance(1);
	}
	size_t total = 0;
	for (size_t i = 0; i < fake.n; i++) {
		size_t in_window = 0;

		for (size_t k = i; k < fake.n && fake.reqs[k].started_ms < fake.reqs[i].started_ms + 1000;
		     k++)
			in_window += fake.reqs[k].n;
		if (in_window > L + B)
			fail_msg("%zu messages in the second from %+" PRId64 " ms (limit %d + burst %d)",
				 in_window, fake.reqs[i].started_ms - NOW, L, B);
		total += fake.reqs[i].n;
	}
	/* At the limit, not below it: 3 s worth, less a request's spacing. */
	assert_true(total >= (size_t)(L * RUN_MS / 1000 - 10));
	assert_true(total <= (size_t)(L * RUN_MS / 1000 + B));
}

/* ---- leases ----------------------------------------------------------------- */

/* A request still out as its lease nears its end: the lease is extended
 * (half a lease before it runs out), so no other worker takes the
 * message after the first lease's end, and the late answer is recorded. */
static void test_lease_of_an_outstanding_request_is_renewed(void **state)
{
	struct dfx *f = *state;
	uint64_t id;
	int64_t first_end;

	set(f, "dispatch.lease_ms", "4000");
	start_with(f, &id, 1);
	assert_int_equal(fake.n, 1);
	first_end = get(f, id).due_ms;
	assert_int_equal(first_end, now_ms() + 4000);
	for (int i = 0; i < 25; i++) {
		advance(100);
		step(f);
	}
	assert_true(get(f, id).due_ms > first_end);
	/* Another worker, after the first lease's end, finds nothing to take. */
	advance(2000);
	assert_true(now_ms() > first_end);
	assert_int_equal(other_worker_leases(f, 4000), 0);
	answer_ok(0, 0);
	step(f);
	assert_int_equal(get(f, id).state, STORE_STATE_SENT);
	assert_int_equal(counts(f).sent, 1);
	assert_int_equal(stats(f->s->st).lease_expired, 0);
}

/* More messages in hand than one transaction renews (DISPATCH_FLUSH_MAX):
 * renewed in chunks, every one of them. */
static void test_leases_beyond_one_transaction_are_all_renewed(void **state)
{
	struct dfx *f = *state;
	enum { N = DISPATCH_FLUSH_MAX + 904 };
	static struct store_new m[N];
	static char keys[N][24];
	size_t in_requests = 0;
	int64_t first_end;

	set(f, "dispatch.lease_ms", "4000");
	set(f, "dispatch.queue_max", "4096");
	set(f, "provider.p.rate_per_s", "1000000");
	for (int i = 0; i < N; i++) {
		m[i] = msg(f->s, 0, 0, now_ms() + DAY, 0);
		snprintf(keys[i], sizeof(keys[i]), "bulk-%d", i);
		m[i].idem_key = keys[i];
		m[i].idem_len = strlen(keys[i]);
		with_text(&m[i], "+33612345678", "bulk");
	}
	assert_int_equal(store_ingest(f->s->st, m, N, now_ms()), STORE_OK);
	start(f);
	step(f);
	for (size_t i = 0; i < fake.n; i++)
		in_requests += fake.reqs[i].n;
	assert_int_equal(in_requests, N);
	first_end = now_ms() + 4000;
	advance(2000); /* half a lease left: due for renewal */
	step(f);
	advance(2500);
	assert_true(now_ms() > first_end);
	assert_int_equal(other_worker_leases(f, 4000), 0);
	assert_true(stats(f->s->st).next_due_ms > first_end);
}

/* Queued messages whose leases ran out (the worker stood still, and the
 * store could not renew them) are dropped from the queue, never sent under
 * a lease that is no longer this worker's. */
static void test_queued_messages_whose_lease_ran_out_are_dropped_not_sent(void **state)
{
	struct dfx *f = *state;
	enum { N = 30 };
	uint64_t id[N];

	set(f, "dispatch.lease_ms", "4000");
	set(f, "provider.p.rate_per_s", "100"); /* a queue of 50: no refill below 25 free */
	set(f, "provider.p.max_batch", "1");
	set(f, "provider.p.concurrency", "1");
	start_with(f, id, N);
	assert_int_equal(fake.n, 1);
	advance(4500);
	answer_ok(0, 0);
	fail_next_commit = EIO; /* the renewal's */
	step(f);
	assert_int_equal(fail_next_commit, 0);
	assert_int_equal(fake.n, 1);
	assert_int_equal(counts(f).lost, N - 1);
	assert_int_equal(counts(f).sent, 1);
}

/* A request whose leases ran out before it was written (the worker stood
 * still in between, and another worker took the messages) is held back by
 * the gate: it never reaches the provider, and the other worker's leases
 * stand. */
static void test_request_whose_lease_was_lost_is_held_back_by_the_gate(void **state)
{
	struct dfx *f = *state;
	uint64_t id[2];

	set(f, "dispatch.lease_ms", "4000");
	fake.hold_writes = 1;
	start_with(f, id, 2);
	assert_int_equal(fake.n, 1);
	assert_false(fake.reqs[0].written);
	advance(4500);
	assert_int_equal(other_worker_leases(f, 30000), 2);
	fake.hold_writes = 0;
	step(f);
	assert_true(fake.reqs[0].withheld);
	assert_false(fake.reqs[0].written);
	assert_int_equal(counts(f).withheld, 2);
	assert_int_equal(counts(f).sent, 0);
	for (int i = 0; i < 2; i++) {
		struct store_msg s = get(f, id[i]);

		assert_int_equal(s.state, STORE_STATE_INFLIGHT);
		assert_int_equal(s.due_ms, now_ms() + 30000); /* the other worker's lease */
	}
}

/* dispatch_check(): what a reload's master checks before workers start with
 * a configuration, without the store, changing nothing. */
static void test_check_sets_up_nothing_and_needs_a_pacing_slot(void **state)
{
	struct dfx *f = *state;
	char path[128], err[256] = "";
	pace *pc;

	snprintf(path, sizeof(path), "%s/pacing", f->s->dir);
	assert_int_equal(dispatch_check(&f->cfg, err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), -1); /* read only: no pacing file made */
	/* Every slot taken by other names: a provider new to the file has none. */
	pc = pace_open(f->s->dir, err, sizeof(err));
	assert_non_null(pc);
	for (int i = 0; i < PACE_MAX_SLOTS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(pace_slot(pc, name), i);
	}
	pace_close(&pc);
	assert_int_equal(dispatch_check(&f->cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "provider p: no pacing slot left"));
	/* One that had a slot keeps it. */
	config_defaults(&f->cfg);
	set(f, "store.dir", f->s->dir);
	set(f, "provider.s3.type", "webhook");
	set(f, "provider.s3.base_url", "http://gateway.invalid/sms");
	set(f, "provider.s3.rate_per_s", "10");
	assert_int_equal(dispatch_check(&f->cfg, err, sizeof(err)), 0);
	/* No provider: nothing to check. */
	config_defaults(&f->cfg);
	assert_int_equal(dispatch_check(&f->cfg, err, sizeof(err)), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, dsetup, dteardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_cap_unlimited),
		cmocka_unit_test(test_queue_cap_by_hold),
		cmocka_unit_test(test_queue_cap_by_lease),
		cmocka_unit_test(test_queue_cap_bounds),
		T(test_batches_in_urgency_order_up_to_max_batch),
		T(test_2xx_marks_them_sent_and_counts_them),
		T(test_per_message_rejection_fails_only_that_one),
		T(test_5xx_retries_after_a_backoff_and_counts_the_attempt),
		T(test_429_holds_the_provider_without_counting_an_attempt),
		T(test_a_retry_after_beyond_an_hour_holds_an_hour),
		T(test_401_parks_the_provider_and_only_a_probe_goes),
		T(test_a_number_goes_once_per_request),
		T(test_a_batch_refused_as_a_whole_goes_again_alone),
		T(test_vonage_told_the_encoding_paced_per_message),
		T(test_pacing_keeps_every_second_within_rate_and_burst),
		T(test_lease_of_an_outstanding_request_is_renewed),
		T(test_leases_beyond_one_transaction_are_all_renewed),
		T(test_queued_messages_whose_lease_ran_out_are_dropped_not_sent),
		T(test_request_whose_lease_was_lost_is_held_back_by_the_gate),
		T(test_check_sets_up_nothing_and_needs_a_pacing_slot),
	};

	log_init("test_dispatch", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
