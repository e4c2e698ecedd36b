/* WRAP: mdb_txn_commit */
/*
 * test_store_env: the environment (store/store_env.c): failed commits, a full
 * map and its growth, a full disk, read-only handles, two threads sharing a
 * store.
 */
#include "tests/store_fx.h"

static void failed_commit_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct store_new a[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0) };

	fail_next_commit = EIO;
	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_ERROR);
	assert_non_null(strstr(store_errmsg(f->st), "commit"));
	struct store_stats s = stats(f->st);
	assert_int_equal(s.total, 0);
	assert_int_equal(s.waiting, 0);
	uint64_t id;
	assert_int_equal(store_find_key(f->st, "k1", 2, &id), STORE_NOTFOUND);

	/* The same batch goes through on the next try, as a producer's resend
	 * would. */
	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_OK);
	assert_int_equal(a[0].result, STORE_INGEST_ACCEPTED);
	assert_int_equal(stats(f->st).total, 2);
	assert_int_equal(store_verify(f->st), 0);
}

static void full_map_is_store_full_and_keeps_what_was_stored(void **state)
{
	struct fx *f = *state;
	char big[4000];
	uint64_t stored = 0;
	int rc = STORE_OK;

	store_close(&f->st);
	f->st = open_store(f->dir, 1 << 20, 1 << 20, 0);
	assert_non_null(f->st);
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 1000 && rc == STORE_OK; i++) {
		struct store_new m = msg(f, i, 0, NOW + DAY, 0);

		m.event = big;
		m.event_len = sizeof(big);
		rc = store_ingest(f->st, &m, 1, NOW);
		stored += rc == STORE_OK;
	}
	assert_int_equal(rc, STORE_FULL);
	assert_true(stored > 10);
	assert_non_null(strstr(store_errmsg(f->st), "full"));
	assert_int_equal(stats(f->st).total, stored);
	assert_int_equal(store_verify(f->st), 0);
}

static void map_grows_up_to_its_ceiling(void **state)
{
	struct fx *f = *state;
	char big[4000];

	store_close(&f->st);
	f->st = open_store(f->dir, 1 << 20, 64 << 20, 0);
	assert_non_null(f->st);
	memset(big, 'y', sizeof(big));
	for (int i = 0; i < 2000; i++) {
		struct store_new m = msg(f, i, 0, NOW + DAY, 0);

		m.event = big;
		m.event_len = sizeof(big);
		assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
	}
	struct store_stats s = stats(f->st);
	assert_int_equal(s.total, 2000);
	assert_true(s.map_bytes > (1 << 20));
	assert_int_equal(store_verify(f->st), 0);
}

static void read_only_handle_sees_writes_and_cannot_write(void **state)
{
	struct fx *f = *state;
	store *ro = open_store(f->dir, 0, 0, 1);
	struct store_new a[1] = { msg(f, 1, 0, NOW + DAY, 0) };

	assert_non_null(ro);
	assert_int_equal(stats(ro).total, 0);
	assert_int_equal(store_ingest(f->st, a, 1, NOW), STORE_OK);
	assert_int_equal(stats(ro).total, 1);
	assert_int_equal(store_ingest(ro, a, 1, NOW), STORE_ERROR);
	store_close(&ro);
	assert_null(ro);
	store_close(&ro); /* NULL-safe */
}

static void read_only_open_of_missing_store_is_an_error(void **state)
{
	(void)state;
	char err[256] = "";
	struct store_opts o = { .dir = "/tmp/smsq-test-no-such-store", .read_only = 1 };

	assert_null(store_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "/tmp/smsq-test-no-such-store"));
}

/* A full disk (ENOSPC; EDQUOT; EIO, LMDB's word for a short write, on a full
 * filesystem) is STORE_FULL said as "disk full", for ingest and dispatch
 * alike, and changes nothing. */
static void a_full_disk_is_store_full(void **state)
{
	struct fx *f = *state;
	struct store_new a[1] = { msg(f, 1, 0, NOW + DAY, 0) };
	struct store_outcome o;

	fail_next_commit = ENOSPC;
	assert_int_equal(store_ingest(f->st, a, 1, NOW), STORE_FULL);
	assert_non_null(strstr(store_errmsg(f->st), "disk full"));
	assert_int_equal(stats(f->st).total, 0);
	assert_int_equal(store_ingest(f->st, a, 1, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "sm-1");
	fail_next_commit = EDQUOT;
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 1), STORE_FULL);
	assert_non_null(strstr(store_errmsg(f->st), "disk full"));
	assert_int_equal(stats(f->st).count[STORE_STATE_INFLIGHT], 1);
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 2), STORE_OK);
	assert_int_equal(o.final_state, STORE_STATE_SENT);
	assert_int_equal(store_verify(f->st), 0);
}

/* Ingest stops short of the map ceiling (store_ingest_limit()): leases and
 * outcomes go on in the room kept, and what sending frees (a sent message
 * leaves the ready index) ingest takes again. */
static void sending_goes_on_when_ingest_is_full(void **state)
{
	struct fx *f = *state;
	char big[4000], text[301];
	uint64_t stored = 0, sent = 0;
	int rc = STORE_OK;

	store_close(&f->st);
	f->st = open_store(f->dir, 2 << 20, 2 << 20, 0);
	assert_non_null(f->st);
	assert_int_equal(store_ingest_limit(2 << 20), (2 << 20) - (256 << 10));
	assert_int_equal(store_ingest_limit(64ULL << 30), (64ULL << 30) - (256ULL << 20));
	memset(big, 'z', sizeof(big));
	memset(text, 't', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (int i = 0; i < 2000 && rc == STORE_OK; i++) {
		struct store_new m = msg(f, i, 0, NOW + DAY, 0);

		m.event = big;
		m.event_len = sizeof(big);
		with_text(&m, "+33612345678", text);
		rc = store_ingest(f->st, &m, 1, NOW);
		stored += rc == STORE_OK;
	}
	assert_int_equal(rc, STORE_FULL);
	assert_non_null(strstr(store_errmsg(f->st), "store is full"));
	struct store_stats s = stats(f->st);
	assert_int_equal(s.map_max_bytes, 2 << 20);
	assert_true(s.ingest_full);
	assert_int_equal(s.total, stored);

	/* Everything goes out, 16 at a time, in the room ingest left. */
	for (size_t n; (n = lease(f, NOW + 1, 16, 0, NULL)) > 0;) {
		struct store_outcome o[16];

		for (size_t i = 0; i < n; i++)
			o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "sent-by-the-provider");
		assert_int_equal(store_finish(f->st, o, n, NOW + 2), STORE_OK);
		sent += n;
	}
	assert_int_equal(sent, stored);
	assert_false(stats(f->st).ingest_full);
	struct store_new m = msg(f, 3000, 0, NOW + DAY, 0);
	with_text(&m, "+33612345678", text);
	assert_int_equal(store_ingest(f->st, &m, 1, NOW + 3), STORE_OK);
	assert_int_equal(store_verify(f->st), 0);
}

#define SHARE_BATCHES 100
#define SHARE_BATCH 20

struct sharer {
	store *h;        /* its own handle */
	int failed;      /* a store_ingest() that did not say STORE_OK (__atomic) */
	char keys[SHARE_BATCH][32];
};

/* Thread: ingest SHARE_BATCHES batches of messages with 4 KB events, enough
 * to make a 1 MiB map grow several times under the other thread's feet. */
static void *share_ingest(void *arg)
{
	struct sharer *sh = arg;
	static char big[4000];

	memset(big, 'z', sizeof(big));
	for (int b = 0; b < SHARE_BATCHES; b++) {
		struct store_new m[SHARE_BATCH];

		for (int i = 0; i < SHARE_BATCH; i++) {
			memset(&m[i], 0, sizeof(m[i]));
			snprintf(sh->keys[i], sizeof(sh->keys[i]), "t%d", b * SHARE_BATCH + i);
			m[i].idem_key = sh->keys[i];
			m[i].idem_len = strlen(sh->keys[i]);
			m[i].event = big;
			m[i].event_len = sizeof(big);
			m[i].created_ms = NOW;
			m[i].expires_ms = m[i].appointment_ms = NOW + DAY;
			with_text(&m[i], "+33612345678", "Rendez-vous confirmé");
		}
		if (store_ingest(sh->h, m, SHARE_BATCH, NOW) != STORE_OK)
			__atomic_store_n(&sh->failed, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* One thread ingests through a shared handle while this one leases and
 * records outcomes through the first, and the map grows meanwhile (LMDB
 * forbids growing it with a transaction open in the process): every
 * message ends sent exactly once, the store checks out, and each handle
 * keeps its own error message. */
static void two_threads_share_the_store_while_the_map_grows(void **state)
{
	struct fx *f = *state;
	struct sharer sh = { 0 };
	char err[256] = "";
	pthread_t t;
	size_t sent = 0;
	int done = 0, failed = 0;
	long rounds = 0;

	store_close(&f->st);
	f->st = open_store(f->dir, 1 << 20, 256 << 20, 0);
	assert_non_null(f->st);
	sh.h = store_share(f->st, err, sizeof(err));
	assert_non_null(sh.h);
	assert_int_equal(pthread_create(&t, NULL, share_ingest, &sh), 0);
	while (!done || sent < SHARE_BATCHES * SHARE_BATCH) {
		struct store_outcome o[16];
		size_t n = lease(f, NOW, 16, 0, NULL);

		/* The ingest is over once it stored everything (or gave up). */
		failed = __atomic_load_n(&sh.failed, __ATOMIC_RELAXED);
		done = stats(f->st).total == SHARE_BATCHES * SHARE_BATCH;
		if (failed || ++rounds > 1000000)
			break;
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(leased[i].text, "Rendez-vous confirmé");
			o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "SM1");
		}
		assert_int_equal(store_finish(f->st, o, n, NOW + 1), STORE_OK);
		sent += n;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(sh.failed, 0);
	assert_true(rounds <= 1000000);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.total, SHARE_BATCHES * SHARE_BATCH);
	assert_int_equal(s.count[STORE_STATE_SENT], SHARE_BATCHES * SHARE_BATCH);
	assert_int_equal(sent, SHARE_BATCHES * SHARE_BATCH);
	assert_true(s.map_bytes >= 8 << 20); /* grew at least three times */
	assert_int_equal(store_verify(f->st), 0);

	/* Errors stay with their handle. */
	struct store_new bad = msg(f, 1, STORE_PRIORITY_MAX + 1, NOW + DAY, 0);
	assert_int_equal(store_ingest(sh.h, &bad, 1, NOW), STORE_ERROR);
	assert_non_null(strstr(store_errmsg(sh.h), "out of bounds"));
	assert_null(strstr(store_errmsg(f->st), "out of bounds"));

	/* The environment lives until its last handle closes, whichever. */
	store_close(&f->st);
	struct store_new m = msg(f, 2, 0, NOW + DAY, 0);
	assert_int_equal(store_ingest(sh.h, &m, 1, NOW), STORE_OK);
	assert_int_equal(stats(sh.h).total, SHARE_BATCHES * SHARE_BATCH + 1);
	f->st = sh.h; /* teardown closes it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(failed_commit_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(full_map_is_store_full_and_keeps_what_was_stored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(map_grows_up_to_its_ceiling, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_disk_is_store_full, setup, teardown),
		cmocka_unit_test_setup_teardown(sending_goes_on_when_ingest_is_full, setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_handle_sees_writes_and_cannot_write, setup,
						teardown),
		cmocka_unit_test(read_only_open_of_missing_store_is_an_error),
		cmocka_unit_test_setup_teardown(two_threads_share_the_store_while_the_map_grows, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
