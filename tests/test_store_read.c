/* WRAP: mdb_txn_commit */
/*
 * test_store_read: reading (store/store_read.c): verify finds broken indexes,
 * lost and doubled states.
 */
#include "tests/store_fx.h"

static void verify_detects_a_broken_index(void **state)
{
	struct fx *f = *state;
	struct store_new a[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0) };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 2, (void *)"k1" };

	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_OK);
	assert_int_equal(store_verify(f->st), 0);
	/* Remove one idempotency entry behind the store's back (one environment
	 * per process at a time: LMDB's locks are per process). */
	store_close(&f->st);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "idem", 0, &dbi), 0);
	assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_verify(f->st), -1);
	assert_non_null(strstr(store_errmsg(f->st), "idempotency"));
}

static void drop_first_ready_and_done(MDB_txn *txn)
{
	const char *names[2] = { "ready", "done" };

	for (int i = 0; i < 2; i++) {
		MDB_dbi dbi;
		MDB_cursor *cur;
		MDB_val k, v;

		assert_int_equal(mdb_dbi_open(txn, names[i], 0, &dbi), 0);
		assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
		assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
		assert_int_equal(mdb_cursor_del(cur, 0), 0);
		mdb_cursor_close(cur);
	}
}

static void copy_first_ready_to_done(MDB_txn *txn)
{
	MDB_dbi ready, done;
	MDB_val k, v;
	MDB_cursor *cur;

	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_dbi_open(txn, "done", 0, &done), 0);
	assert_int_equal(mdb_cursor_open(txn, ready, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	assert_int_equal(mdb_put(txn, done, &k, &v, 0), 0);
	mdb_cursor_close(cur);
}

static void verify_detects_a_lost_or_doubled_state(void **state)
{
	struct fx *f = *state;
	struct store_new a[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0) };
	struct store_msg m;

	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_OK);
	tamper(f, copy_first_ready_to_done);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_verify(f->st), -1);
	assert_non_null(strstr(store_errmsg(f->st), "done index"));
	tamper(f, drop_first_ready_and_done);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_verify(f->st), -1);
	assert_non_null(strstr(store_errmsg(f->st), "in no index"));
	/* Reading it says so; its neighbour reads fine. */
	assert_int_equal(store_get(f->st, a[0].id, &m), STORE_ERROR);
	assert_non_null(strstr(store_errmsg(f->st), "in no index"));
	assert_int_equal(store_get(f->st, a[1].id, &m), STORE_OK);
	free(m.event);
	free(m.text);
}

#define HOUR (3600LL * 1000)

/* store_due_before(): what a drain ending at a time leaves late, exact
 * whatever the index's rounding of far appointments. */
static void due_before_counts_what_a_drain_leaves_late(void **state)
{
	struct fx *f = *state;
	struct store_new e = msg(f, 1, 0, NOW + 90 * 60000, 0);  /* leased below: in flight */
	struct store_new m[6] = {
		msg(f, 2, 0, NOW + HOUR, 0),                  /* ready, before the end */
		msg(f, 3, 9, NOW + 3 * HOUR, 0),              /* ready, after */
		msg(f, 4, 0, NOW + 30 * 60000, NOW + HOUR),   /* delayed, due by then, before */
		msg(f, 5, 0, NOW + DAY, NOW + DAY - HOUR),    /* delayed past the end: not due */
		msg(f, 6, 5, NOW + 3 * DAY, 0),               /* ready, far */
		/* ready; indexed at NOW + 5 h (an hour's grid that far ahead), its
		 * appointment 15 min past an end at NOW + 5 h 15 */
		msg(f, 7, 5, NOW + 5 * HOUR + 30 * 60000, 0),
	};
	struct store_due d;
	size_t expired = 0;

	assert_int_equal(store_ingest(f->st, &e, 1, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, &expired), 1);
	assert_int_equal(store_ingest(f->st, m, 6, NOW), STORE_OK);
	assert_int_equal(stats(f->st).waiting, 7);

	assert_int_equal(store_due_before(f->st, NOW + 2 * HOUR, 1000, &d), STORE_OK);
	assert_int_equal(d.complete, 1);
	assert_int_equal(d.due, 4 + 1 + 1);   /* 4 ready, 1 delayed, 1 in flight */
	assert_int_equal(d.before, 3);        /* k2, k4, the leased k1 */

	assert_int_equal(store_due_before(f->st, NOW + 5 * HOUR + 15 * 60000, 1000, &d),
			 STORE_OK);
	assert_int_equal(d.before, 4);        /* and k3, not k7 */

	assert_int_equal(store_due_before(f->st, NOW + 10 * DAY, 1000, &d), STORE_OK);
	assert_int_equal(d.due, 7);
	assert_int_equal(d.before, 7);

	/* A limit on the walk: lower bounds, said. */
	assert_int_equal(store_due_before(f->st, NOW + 10 * DAY, 2, &d), STORE_OK);
	assert_int_equal(d.complete, 0);
	assert_true(d.before <= 2);

	/* Nothing waiting before the first message's time. */
	assert_int_equal(store_due_before(f->st, NOW - HOUR, 1000, &d), STORE_OK);
	assert_int_equal(d.before, 0);
	assert_int_equal(d.due, 4);           /* the ready ones are due whenever */
}

/* Pauses: kept in the store, listed in name order ("*" first), the first
 * time kept, names checked, a read-only handle refused. */
static void pauses_are_kept_and_listed(void **state)
{
	struct fx *f = *state;
	struct store_pause p[STORE_PAUSE_MAX];
	char long_name[STORE_PAUSE_NAME_MAX + 2];
	int changed = -1;
	store *ro;

	assert_int_equal(store_paused(f->st, p, STORE_PAUSE_MAX), 0);
	assert_int_equal(store_pause(f->st, "twilio", 1, NOW, &changed), STORE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(store_pause(f->st, "twilio", 1, NOW + 5000, &changed), STORE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_pause(f->st, STORE_PAUSE_ALL, 1, NOW + 1, NULL), STORE_OK);
	assert_int_equal(store_pause(f->st, "infobip", 1, NOW + 2, NULL), STORE_OK);
	assert_int_equal(store_paused(f->st, p, STORE_PAUSE_MAX), 3);
	assert_string_equal(p[0].name, "*");
	assert_string_equal(p[1].name, "infobip");
	assert_string_equal(p[2].name, "twilio");
	assert_int_equal(p[2].since_ms, NOW); /* the first time */
	assert_int_equal(store_paused(f->st, p, 1), 1);
	/* The store's other keys are not pauses, and pauses are no messages. */
	assert_int_equal(stats(f->st).total, 0);
	assert_int_equal(store_verify(f->st), 0);

	assert_int_equal(store_pause(f->st, "twilio", 0, NOW, &changed), STORE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(store_pause(f->st, "twilio", 0, NOW, &changed), STORE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_paused(f->st, p, STORE_PAUSE_MAX), 2);

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(store_pause(f->st, long_name, 1, NOW, NULL), STORE_ERROR);
	assert_int_equal(store_pause(f->st, "", 1, NOW, NULL), STORE_ERROR);
	/* Kept across a reopen; a reader sees them and cannot change them. */
	store_close(&f->st);
	f->st = open_store(f->dir, 0, 0, 0);
	ro = open_store(f->dir, 0, 0, 1);
	assert_non_null(ro);
	assert_int_equal(store_paused(ro, p, STORE_PAUSE_MAX), 2);
	assert_int_equal(store_pause(ro, "x", 1, NOW, NULL), STORE_ERROR);
	assert_non_null(strstr(store_errmsg(ro), "read-only"));
	store_close(&ro);
}

/* Page through what matches, from cursor to cursor. */
static size_t list_all(store *st, const struct store_query *q, size_t page, size_t scan,
		       uint64_t *ids, size_t cap)
{
	struct store_brief b[8];
	char cur[STORE_LIST_CURSOR_MAX] = "", next[STORE_LIST_CURSOR_MAX];
	size_t n = 0;
	int rounds = 0;

	do {
		long got = store_list(st, q, cur, scan, b, page, next);

		if (got < 0)
			print_error("store_list: %s\n", store_errmsg(st));
		assert_true(got >= 0);
		for (long i = 0; i < got && n < cap; i++)
			ids[n++] = b[i].id;
		snprintf(cur, sizeof(cur), "%s", next);
		assert_true(++rounds < 100);
	} while (cur[0] != '\0');
	return n;
}

/* store_list(): every index, filters, pages that meet every message once
 * (however small), a scan limit, and cursors checked. */
static void list_pages_through_every_index(void **state)
{
	struct fx *f = *state;
	struct store_new m[6] = {
		msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 5, NOW + DAY, 0), msg(f, 3, 0, NOW + 2 * DAY, 0),
		msg(f, 4, 0, NOW + 3 * DAY, 0), msg(f, 5, 0, NOW + 4 * DAY, 0),
		msg(f, 6, 0, NOW + 5 * DAY, NOW + DAY), /* delayed */
	};
	struct store_outcome o[3];
	struct store_query any = { .state = -1, .provider = -1 };
	struct store_query q;
	struct store_brief b[8];
	char next[STORE_LIST_CURSOR_MAX];
	uint64_t ids[16];
	size_t expired = 0, n;

	assert_int_equal(store_ingest(f->st, m, 6, NOW), STORE_OK);
	/* The three most urgent leased: one sent, one failed, one in flight. */
	assert_int_equal(lease(f, NOW, 3, 0, &expired), 3);
	o[0] = outcome(&leased[0], STORE_OUT_SENT, 0, "SM-provider-id");
	o[1] = outcome(&leased[1], STORE_OUT_FAILED, 0, "21211 invalid number");
	o[1].provider = 1;
	assert_int_equal(store_finish(f->st, o, 2, NOW + 1), STORE_OK);

	/* Everything, by pages of 1, 2 and 7, once each. */
	for (size_t page = 1; page <= 7; page += page < 2 ? 1 : 5) {
		int seen[7] = { 0 };

		n = list_all(f->st, &any, page, 0, ids, 16);
		assert_int_equal(n, 6);
		for (size_t i = 0; i < n; i++)
			seen[ids[i]]++;
		for (int id = 1; id <= 6; id++)
			assert_int_equal(seen[id], 1);
	}
	/* A scan limit: the same, a few entries a call. */
	assert_int_equal(list_all(f->st, &any, 8, 2, ids, 16), 6);

	/* By state, with what a brief says. */
	q = any;
	q.state = STORE_STATE_FAILED;
	assert_int_equal(store_list(f->st, &q, NULL, 0, b, 8, next), 1);
	assert_int_equal(b[0].id, leased[1].id);
	assert_string_equal(b[0].note, "21211 invalid number");
	assert_string_equal(b[0].idem_key, "k1");
	assert_int_equal(b[0].attempts, 1);
	assert_int_equal(b[0].provider, 1);
	assert_string_equal(next, "");
	q.state = STORE_STATE_INFLIGHT;
	assert_int_equal(store_list(f->st, &q, NULL, 0, b, 8, next), 1);
	assert_true(b[0].due_ms > NOW); /* its lease */
	q.state = STORE_STATE_DELAYED;
	assert_int_equal(store_list(f->st, &q, NULL, 0, b, 8, next), 1);
	assert_int_equal(b[0].id, 6);
	assert_int_equal(b[0].due_ms, NOW + DAY);
	q.state = STORE_STATE_READY;
	assert_int_equal(list_all(f->st, &q, 1, 0, ids, 16), 2);
	/* By reason, provider, age. */
	q = any;
	q.reason = "invalid";
	assert_int_equal(store_list(f->st, &q, NULL, 0, b, 8, next), 1);
	q = any;
	q.provider = 1;
	assert_int_equal(store_list(f->st, &q, NULL, 0, b, 8, next), 1);
	q = any;
	q.created_before_ms = NOW - 1000 + 3; /* k1, k2 (created NOW - 1000 + n) */
	assert_int_equal(list_all(f->st, &q, 8, 0, ids, 16), 2);

	/* Cursors: only what the store gave. */
	const char *bad[] = { "x:00", "r", "r:0", "r:zz", "f:001122334455667788990011223344556677" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_list(f->st, &any, bad[i], 0, b, 8, next), -1);
		assert_non_null(strstr(store_errmsg(f->st), "not a cursor"));
	}
	assert_int_equal(store_list(f->st, &any, "d:", 0, b, 8, next), 4); /* delayed on */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(verify_detects_a_broken_index, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_detects_a_lost_or_doubled_state, setup, teardown),
		cmocka_unit_test_setup_teardown(due_before_counts_what_a_drain_leaves_late, setup,
						teardown),
		cmocka_unit_test_setup_teardown(pauses_are_kept_and_listed, setup, teardown),
		cmocka_unit_test_setup_teardown(list_pages_through_every_index, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
