/* WRAP: mdb_txn_commit */
/*
 * test_store: the LMDB queue, its indexes and counters.
 *
 * Each test gets a fresh store in a temp directory.  mdb_txn_commit is
 * wrapped so that a test can make the next commit fail, as a full disk or an
 * I/O error would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"

#define NOW 1800000000000LL /* a fixed "now", ms */
#define DAY 86400000LL

/* ---- the commit seam -------------------------------------------------- */

int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);
static int fail_next_commit; /* an LMDB error code to return once, or 0 */

int __wrap_mdb_txn_commit(MDB_txn *txn)
{
	if (fail_next_commit != 0) {
		int rc = fail_next_commit;

		fail_next_commit = 0;
		mdb_txn_abort(txn); /* as a failed commit does */
		return rc;
	}
	return __real_mdb_txn_commit(txn);
}

/* ---- fixtures ----------------------------------------------------------- */

struct fx {
	char dir[64];      /* temp data directory */
	store *st;         /* open handle */
	char keys[64][32]; /* backing for idempotency keys */
};

static store *open_store(const char *dir, uint64_t map, uint64_t max, int ro)
{
	char err[256] = "";
	struct store_opts o = { .dir = dir, .map_bytes = map, .map_max_bytes = max, .read_only = ro,
				.record_ceiling = !ro };
	store *s = store_open(&o, err, sizeof(err));

	if (s == NULL)
		print_error("store_open: %s\n", err);
	return s;
}

/* Outcomes carry the header their lease gave (as dispatch passes them), or
 * not (all zero: the store reads the record); the finish tests run both
 * ways. */
static int pass_hdr = 1;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	pass_hdr = 1;

	snprintf(f->dir, sizeof(f->dir), "/tmp/smsq-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->st = open_store(f->dir, 0, 0, 0);
	*state = f;
	return f->st == NULL ? -1 : 0;
}

static int setup_reading(void **state)
{
	int rc = setup(state);

	pass_hdr = 0;
	return rc;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(&f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* A new message with key "k<n>", ready now unless not_before is later. */
static struct store_new msg(struct fx *f, int n, uint8_t prio, int64_t appt, int64_t not_before)
{
	static const char event[] = "packed-event-bytes";
	struct store_new m;

	memset(&m, 0, sizeof(m));
	snprintf(f->keys[n % 64], sizeof(f->keys[0]), "k%d", n);
	m.idem_key = f->keys[n % 64];
	m.idem_len = strlen(m.idem_key);
	m.event = event;
	m.event_len = sizeof(event);
	m.created_ms = NOW - 1000 + n;
	m.not_before_ms = not_before;
	m.expires_ms = appt;
	m.appointment_ms = appt;
	m.priority = prio;
	return m;
}

/* Give m a destination and a text (up to its NUL). */
static void with_text(struct store_new *m, const char *to, const char *text)
{
	m->to = to;
	m->to_len = strlen(to);
	m->text = text;
	m->text_len = strlen(text);
}

static struct store_stats stats(store *s)
{
	struct store_stats st;

	assert_int_equal(store_stats(s, &st), STORE_OK);
	return st;
}

struct idlist {
	uint64_t ids[64]; /* visited ids in order */
	size_t n;         /* how many */
};

static int collect(uint64_t id, void *arg)
{
	struct idlist *l = arg;

	if (l->n < 64)
		l->ids[l->n++] = id;
	return 0;
}

/* ---- tests ------------------------------------------------------------- */

static void ingest_assigns_ids_and_counts(void **state)
{
	struct fx *f = *state;
	struct store_new b[3] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 3, 0, NOW + DAY, NOW + 3600000) };

	b[2].encoding = STORE_ENC_UCS2;
	b[2].segments = 3;
	b[2].segments_saved = 2;
	assert_int_equal(store_ingest(f->st, b, 3, NOW), STORE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(b[i].result, STORE_INGEST_ACCEPTED);
	assert_true(b[0].id > 0 && b[1].id == b[0].id + 1 && b[2].id == b[1].id + 1);

	struct store_stats s = stats(f->st);
	assert_int_equal(s.segments_saved, 2);
	assert_int_equal(s.segments_waiting, 3);
	assert_int_equal(s.count[STORE_STATE_READY], 2);
	assert_int_equal(s.count[STORE_STATE_DELAYED], 1);
	assert_int_equal(s.waiting, 3);
	assert_int_equal(s.total, 3);
	assert_int_equal(s.oldest_waiting_id, b[0].id);
	assert_int_equal(s.oldest_waiting_created_ms, NOW - 1000 + 1);
	assert_true(s.used_bytes > 0 && s.map_bytes >= s.used_bytes);
	assert_int_equal(store_verify(f->st), 0);

	struct store_msg m;
	assert_int_equal(store_get(f->st, b[2].id, &m), STORE_OK);
	assert_int_equal(m.state, STORE_STATE_DELAYED);
	assert_int_equal(m.due_ms, NOW + 3600000);
	assert_int_equal(m.encoding, STORE_ENC_UCS2);
	assert_int_equal(m.segments, 3);
	assert_string_equal(m.idem_key, "k3");
	assert_int_equal(m.event_len, sizeof("packed-event-bytes"));
	assert_memory_equal(m.event, "packed-event-bytes", m.event_len);
	free(m.event);
	free(m.text);
}

static void duplicates_across_and_within_batches(void **state)
{
	struct fx *f = *state;
	struct store_new a[1] = { msg(f, 1, 0, NOW + DAY, 0) };

	assert_int_equal(store_ingest(f->st, a, 1, NOW), STORE_OK);
	/* Same key again, and twice inside one batch beside a new one. */
	struct store_new b[3] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 2, 0, NOW + DAY, 0) };
	assert_int_equal(store_ingest(f->st, b, 3, NOW), STORE_OK);
	assert_int_equal(b[0].result, STORE_INGEST_DUPLICATE);
	assert_int_equal(b[0].id, a[0].id);
	assert_int_equal(b[1].result, STORE_INGEST_ACCEPTED);
	assert_int_equal(b[2].result, STORE_INGEST_DUPLICATE);
	assert_int_equal(b[2].id, b[1].id);
	assert_int_equal(stats(f->st).total, 2);

	uint64_t id = 0;
	assert_int_equal(store_find_key(f->st, "k2", 2, &id), STORE_OK);
	assert_int_equal(id, b[1].id);
	assert_int_equal(store_find_key(f->st, "nope", 4, &id), STORE_NOTFOUND);
	assert_int_equal(store_verify(f->st), 0);
}

static void ready_index_is_most_urgent_first(void **state)
{
	struct fx *f = *state;
	/* ids 1..5 in arrival order; expected order: priority 5 first, then the
	 * soonest appointment, then arrival. */
	struct store_new b[5] = {
		msg(f, 1, 0, NOW + 30 * DAY, 0), /* next month */
		msg(f, 2, 0, NOW + DAY, 0),      /* tomorrow */
		msg(f, 3, 5, NOW + 10 * DAY, 0), /* urgent priority */
		msg(f, 4, 0, NOW + DAY, 0),      /* tomorrow, later arrival */
		msg(f, 5, 0, NOW + 2 * DAY, 0),
	};
	struct idlist l = { .n = 0 };

	assert_int_equal(store_ingest(f->st, b, 5, NOW), STORE_OK);
	assert_int_equal(store_walk(f->st, "ready", 0, collect, &l), 5);
	uint64_t want[5] = { b[2].id, b[1].id, b[3].id, b[4].id, b[0].id };
	assert_memory_equal(l.ids, want, sizeof(want));
}

static void delayed_index_is_soonest_first_and_pending_oldest_first(void **state)
{
	struct fx *f = *state;
	struct store_new b[3] = { msg(f, 1, 0, NOW + DAY, NOW + 7200000),
				  msg(f, 2, 0, NOW + DAY, NOW + 3600000),
				  msg(f, 3, 0, NOW + DAY, 0) };
	struct idlist l = { .n = 0 }, p = { .n = 0 };

	assert_int_equal(store_ingest(f->st, b, 3, NOW), STORE_OK);
	assert_int_equal(store_walk(f->st, "delayed", 0, collect, &l), 2);
	assert_int_equal(l.ids[0], b[1].id);
	assert_int_equal(l.ids[1], b[0].id);
	assert_int_equal(store_walk(f->st, "pending", 0, collect, &p), 3);
	assert_int_equal(p.ids[0], b[0].id);
	assert_int_equal(store_walk(f->st, "bogus", 0, collect, &p), -1);
}

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

static void out_of_bounds_messages_are_refused(void **state)
{
	struct fx *f = *state;
	struct store_new m = msg(f, 1, 0, NOW + DAY, 0);

	m.idem_len = 0;
	assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_ERROR);
	m = msg(f, 1, 0, NOW + DAY, 0);
	m.idem_len = STORE_IDEM_MAX + 1;
	assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_ERROR);
	m = msg(f, 1, STORE_PRIORITY_MAX + 1, NOW + DAY, 0);
	assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_ERROR);
	assert_int_equal(stats(f->st).total, 0);
}

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


/* ---- dispatch: lease and outcomes --------------------------------------- */

static struct store_leased leased[16];
static char leased_texts[16 * STORE_LEASE_TEXTS_MIN];

static size_t lease(struct fx *f, int64_t now, size_t max, uint32_t budget, size_t *expired)
{
	size_t n = 0;

	assert_int_equal(store_lease(f->st, now, 30000, max, budget, leased, leased_texts,
				     sizeof(leased_texts), &n, expired), STORE_OK);
	return n;
}

static struct store_outcome outcome(const struct store_leased *l, enum store_outcome_kind k,
				    int64_t at, const char *note)
{
	struct store_outcome o;

	memset(&o, 0, sizeof(o));
	o.id = l->id;
	o.lease_until_ms = l->lease_until_ms;
	if (pass_hdr)
		o.hdr = l->hdr;
	o.kind = k;
	o.at_ms = at;
	o.note = note;
	return o;
}

static void lease_takes_most_urgent_and_hides_them(void **state)
{
	struct fx *f = *state;
	struct store_new b[3] = { msg(f, 1, 0, NOW + 30 * DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 3, 0, NOW + 2 * DAY, 0) };

	with_text(&b[1], "+33612345678", "Rendez-vous confirmé");
	assert_int_equal(store_ingest(f->st, b, 3, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	assert_int_equal(leased[0].id, b[1].id);
	assert_int_equal(leased[1].id, b[2].id);
	assert_string_equal(leased[0].to, "+33612345678");
	assert_string_equal(leased[0].text, "Rendez-vous confirmé");
	assert_int_equal(leased[0].attempts, 1);
	assert_int_equal(leased[0].lease_until_ms, NOW + 30000);
	/* Leased messages are invisible: only the third is left. */
	assert_int_equal(lease(f, NOW, 5, 0, NULL), 1);
	assert_int_equal(leased[0].id, b[0].id);
	assert_int_equal(lease(f, NOW, 5, 0, NULL), 0);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_INFLIGHT], 3);
	assert_int_equal(s.attempts, 3);
	assert_int_equal(s.next_due_ms, NOW + 30000);
	assert_int_equal(store_verify(f->st), 0);
}

/* A lease hands back what recording the outcome needs of the record. */
static void lease_gives_the_header_for_the_outcome(void **state)
{
	struct fx *f = *state;
	struct store_new b[2] = { msg(f, 1, 3, NOW + DAY, 0), msg(f, 2, 7, NOW + 2 * DAY, 0) };

	b[0].segments = 2;
	b[0].expires_ms = NOW + DAY - 600000;
	b[1].segments = 1;
	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	for (int i = 0; i < 2; i++) {
		const struct store_new *m = leased[i].id == b[0].id ? &b[0] : &b[1];

		assert_int_equal(leased[i].hdr.id, leased[i].id);
		assert_int_equal(leased[i].hdr.urgency_ms,
				 store_urgency_ms(m->appointment_ms, NOW));
		assert_int_equal(leased[i].hdr.expires_ms, m->expires_ms);
		assert_int_equal(leased[i].hdr.segments, m->segments);
		assert_int_equal(leased[i].hdr.priority, m->priority);
	}
}

/* An outcome given another message's header (a caller's mistake) is
 * recorded by the record, not by that header. */
static void an_outcome_with_another_header_reads_the_record(void **state)
{
	struct fx *f = *state;
	struct store_new b[2] = { msg(f, 1, 2, NOW + DAY, 0), msg(f, 2, 8, NOW + 9 * DAY, 0) };
	struct store_outcome o[2];

	b[1].segments = 4;
	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	o[0] = outcome(&leased[0], STORE_OUT_SENT, 0, "a");
	o[1] = outcome(&leased[1], STORE_OUT_RETRY, NOW + 5000, "b");
	o[0].hdr = leased[1].hdr;
	o[1].hdr = leased[0].hdr;
	assert_int_equal(store_finish(f->st, o, 2, NOW + 10), STORE_OK);
	assert_int_equal(o[0].applied, 1);
	assert_int_equal(o[1].applied, 1);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_SENT], 1);
	assert_int_equal(s.count[STORE_STATE_DELAYED], 1);
	assert_int_equal(s.segments_waiting, leased[1].hdr.segments);
	assert_int_equal(store_verify(f->st), 0);
}

static void lease_respects_the_segment_budget(void **state)
{
	struct fx *f = *state;
	struct store_new b[3] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 3, 0, NOW + DAY, 0) };

	b[0].segments = 2;
	b[1].segments = 3;
	b[2].segments = 1;
	assert_int_equal(store_ingest(f->st, b, 3, NOW), STORE_OK);
	assert_int_equal(stats(f->st).segments_waiting, 6);
	assert_int_equal(lease(f, NOW, 10, 4, NULL), 1); /* 2 fits, 2+3 does not */
	/* One message alone may exceed the budget: it is never stuck. */
	assert_int_equal(lease(f, NOW, 10, 1, NULL), 1);
	assert_int_equal(leased[0].hdr.segments, 3);
}

/* Texts go one after the other into the caller's buffer: a lease stops
 * before a text that would not fit (the first one always fits), and a
 * buffer under STORE_LEASE_TEXTS_MIN is refused without a change. */
static void lease_stops_when_the_texts_buffer_is_full(void **state)
{
	struct fx *f = *state;
	static char text[5][3001];
	static char texts[2 * STORE_LEASE_TEXTS_MIN];
	struct store_new b[5];
	struct store_leased l[5];
	size_t n = 99;

	for (int i = 0; i < 5; i++) {
		memset(text[i], 'a' + i, 3000);
		text[i][3000] = '\0';
		b[i] = msg(f, i + 1, 0, NOW + (i + 1) * DAY, 0);
		b[i].text = text[i];
		b[i].text_len = 3000;
	}
	assert_int_equal(store_ingest(f->st, b, 5, NOW), STORE_OK);
	assert_int_equal(store_lease(f->st, NOW, 30000, 5, 0, l, texts, STORE_LEASE_TEXTS_MIN - 1,
				     &n, NULL), STORE_ERROR);
	assert_int_equal(n, 0);
	assert_non_null(strstr(store_errmsg(f->st), "texts buffer"));
	assert_int_equal(stats(f->st).count[STORE_STATE_READY], 5);
	/* 2 x 3,001 bytes fit in 8,194; a third text does not. */
	assert_int_equal(store_lease(f->st, NOW, 30000, 5, 0, l, texts, sizeof(texts), &n, NULL),
			 STORE_OK);
	assert_int_equal(n, 2);
	assert_ptr_equal(l[0].text, texts);
	assert_ptr_equal(l[1].text, texts + 3001);
	assert_int_equal(l[0].text_len, 3000);
	assert_string_equal(l[0].text, text[0]);
	assert_string_equal(l[1].text, text[1]);
	/* The smallest buffer holds one. */
	assert_int_equal(store_lease(f->st, NOW, 30000, 5, 0, l, texts, STORE_LEASE_TEXTS_MIN, &n,
				     NULL), STORE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(l[0].text, text[2]);
	assert_int_equal(stats(f->st).count[STORE_STATE_READY], 2);
	assert_int_equal(store_verify(f->st), 0);
}

/* store_finish_lease(): the outcomes and a lease in one transaction, all or
 * nothing. */
static void finish_and_lease_in_one_transaction(void **state)
{
	struct fx *f = *state;
	struct store_new b[4] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + 2 * DAY, 0),
				  msg(f, 3, 0, NOW + 3 * DAY, 0), msg(f, 4, 0, NOW + 4 * DAY, 0) };
	static char texts[4 * STORE_LEASE_TEXTS_MIN];
	struct store_leased l[4];
	struct store_outcome o[2];
	struct store_stats s;
	size_t n = 99;

	assert_int_equal(store_ingest(f->st, b, 4, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	o[0] = outcome(&leased[0], STORE_OUT_SENT, 0, "provider-1");
	o[1] = outcome(&leased[1], STORE_OUT_FAILED, 0, "bad number");
	/* A failed commit: neither the outcomes nor the lease happened. */
	fail_next_commit = EIO;
	assert_int_equal(store_finish_lease(f->st, o, 2, NOW + 1, 30000, 4, 0, l, texts,
					    sizeof(texts), &n, NULL), STORE_ERROR);
	assert_int_equal(n, 0);
	assert_non_null(strstr(store_errmsg(f->st), "finish and lease commit"));
	s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_INFLIGHT], 2);
	assert_int_equal(s.count[STORE_STATE_READY], 2);
	assert_int_equal(s.count[STORE_STATE_SENT], 0);
	/* Then both at once. */
	assert_int_equal(store_finish_lease(f->st, o, 2, NOW + 1, 30000, 4, 0, l, texts,
					    sizeof(texts), &n, NULL), STORE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(l[0].id, b[2].id);
	assert_int_equal(l[1].id, b[3].id);
	assert_true(o[0].applied && o[1].applied);
	assert_int_equal(o[0].final_state, STORE_STATE_SENT);
	assert_int_equal(o[1].final_state, STORE_STATE_FAILED);
	s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_SENT], 1);
	assert_int_equal(s.count[STORE_STATE_FAILED], 1);
	assert_int_equal(s.count[STORE_STATE_INFLIGHT], 2);
	assert_int_equal(s.count[STORE_STATE_READY], 0);
	assert_int_equal(s.waiting, 2);
	assert_int_equal(store_verify(f->st), 0);
	/* Outcomes alone, no lease (max 0), are a finish. */
	o[0] = outcome(&l[0], STORE_OUT_SENT, 0, "provider-3");
	assert_int_equal(store_finish_lease(f->st, o, 1, NOW + 2, 30000, 0, 0, l + 2, texts,
					    sizeof(texts), &n, NULL), STORE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(stats(f->st).count[STORE_STATE_SENT], 2);
	assert_int_equal(store_verify(f->st), 0);
}

static void lease_expires_what_is_past_its_expiry(void **state)
{
	struct fx *f = *state;
	struct store_new b[2] = { msg(f, 1, 0, NOW + 1000, 0), msg(f, 2, 0, NOW + DAY, 0) };
	size_t expired = 0;

	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW + 5000, 10, 0, &expired), 1);
	assert_int_equal(expired, 1);
	assert_int_equal(leased[0].id, b[1].id);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_EXPIRED], 1);
	assert_int_equal(s.waiting, 1);
	assert_int_equal(store_verify(f->st), 0);
}

static void outcomes_move_messages_to_their_states(void **state)
{
	struct fx *f = *state;
	struct store_new b[5] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 3, 0, NOW + DAY, 0), msg(f, 4, 0, NOW + DAY, 0),
				  msg(f, 5, 0, NOW + DAY, 0) };
	struct store_outcome o[5];

	assert_int_equal(store_ingest(f->st, b, 5, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 5, 0, NULL), 5);
	o[0] = outcome(&leased[0], STORE_OUT_SENT, 0, "SM0123");
	o[1] = outcome(&leased[1], STORE_OUT_FAILED, 0, "http 400 code 21211: Invalid 'To'");
	o[2] = outcome(&leased[2], STORE_OUT_RETRY, NOW + 4000, "http 500");
	o[2].ambiguous = 1;
	o[3] = outcome(&leased[3], STORE_OUT_RELEASE, 0, NULL);
	o[4] = outcome(&leased[4], STORE_OUT_RENEW, NOW + 60000, NULL);
	assert_int_equal(store_finish(f->st, o, 5, NOW + 100), STORE_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(o[i].applied, 1);
	assert_int_equal(o[0].final_state, STORE_STATE_SENT);
	assert_int_equal(o[1].final_state, STORE_STATE_FAILED);
	assert_int_equal(o[2].final_state, STORE_STATE_DELAYED);
	assert_int_equal(o[3].final_state, STORE_STATE_READY);
	assert_int_equal(o[4].final_state, STORE_STATE_INFLIGHT);

	struct store_msg m;
	assert_int_equal(store_get(f->st, leased[0].id, &m), STORE_OK);
	assert_string_equal(m.note, "SM0123");
	free(m.event);
	free(m.text);
	assert_int_equal(store_get(f->st, leased[2].id, &m), STORE_OK);
	assert_int_equal(m.due_ms, NOW + 4000);
	assert_int_equal(m.ambiguous, 1);
	free(m.event);
	free(m.text);

	struct store_stats s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_SENT], 1);
	assert_int_equal(s.count[STORE_STATE_FAILED], 1);
	assert_int_equal(s.count[STORE_STATE_DELAYED], 1);
	assert_int_equal(s.count[STORE_STATE_READY], 1);
	assert_int_equal(s.count[STORE_STATE_INFLIGHT], 1);
	assert_int_equal(s.waiting, 3);
	assert_int_equal(s.retries, 1);
	assert_int_equal(s.ambiguous, 1);
	assert_int_equal(s.attempts, 4); /* the released one does not count */
	assert_int_equal(store_verify(f->st), 0);

	/* The retried one comes back when its time comes, with attempt 2. */
	assert_int_equal(lease(f, NOW + 3000, 5, 0, NULL), 1); /* only the released */
	assert_int_equal(lease(f, NOW + 4000, 5, 0, NULL), 1);
	assert_int_equal(leased[0].id, o[2].id);
	assert_int_equal(leased[0].attempts, 2);
	/* A final state never changes again. */
	o[0].kind = STORE_OUT_RETRY;
	assert_int_equal(store_finish(f->st, &o[0], 1, NOW + 5000), STORE_OK);
	assert_int_equal(o[0].applied, 0);
	assert_int_equal(store_verify(f->st), 0);
}

static void a_lost_lease_comes_back_and_late_outcomes_are_dropped(void **state)
{
	struct fx *f = *state;
	struct store_new b[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0) };
	struct store_outcome o[2];

	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	struct store_leased w1[2] = { leased[0], leased[1] };
	/* Worker 1 dies; after the lease another worker takes both. */
	assert_int_equal(lease(f, NOW + 29999, 2, 0, NULL), 0);
	assert_int_equal(lease(f, NOW + 30000, 2, 0, NULL), 2);
	assert_int_equal(leased[0].attempts, 2);
	assert_int_equal(stats(f->st).lease_expired, 2);
	/* Worker 1's late outcomes: a retry no longer applies, a "sent" does
	 * (it went out: never send it again). */
	o[0] = outcome(&w1[0], STORE_OUT_RETRY, NOW + 40000, "late");
	o[1] = outcome(&w1[1], STORE_OUT_SENT, 0, "late-sent");
	assert_int_equal(store_finish(f->st, o, 2, NOW + 30001), STORE_OK);
	assert_int_equal(o[0].applied, 0);
	assert_int_equal(o[1].applied, 1);
	/* Worker 2's outcome for the one already sent is dropped. */
	o[0] = outcome(&leased[1], STORE_OUT_SENT, 0, "second");
	assert_int_equal(store_finish(f->st, o, 1, NOW + 30002), STORE_OK);
	assert_int_equal(o[0].applied, 0);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_SENT], 1);
	assert_int_equal(s.count[STORE_STATE_INFLIGHT], 1);
	assert_int_equal(store_verify(f->st), 0);
}

static void retries_stop_at_expiry_and_at_max_attempts(void **state)
{
	struct fx *f = *state;
	struct store_new b[2] = { msg(f, 1, 0, NOW + 10000, 0), msg(f, 2, 0, NOW + DAY, 0) };
	struct store_outcome o[2];

	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	o[0] = outcome(&leased[0], STORE_OUT_RETRY, NOW + 20000, "http 503"); /* past expiry */
	o[1] = outcome(&leased[1], STORE_OUT_RETRY, NOW + 1000, "http 500");
	o[1].max_attempts = 1;
	/* leased[0] is the sooner appointment (b[0]) */
	assert_int_equal(leased[0].id, b[0].id);
	assert_int_equal(store_finish(f->st, o, 2, NOW + 10), STORE_OK);
	assert_int_equal(o[0].final_state, STORE_STATE_EXPIRED);
	assert_int_equal(o[1].final_state, STORE_STATE_FAILED);
	assert_int_equal(stats(f->st).waiting, 0);
	assert_int_equal(store_verify(f->st), 0);
}

static void a_throttled_retry_is_not_an_attempt(void **state)
{
	struct fx *f = *state;
	struct store_new b[1] = { msg(f, 1, 0, NOW + DAY, 0) };
	struct store_outcome o;

	assert_int_equal(store_ingest(f->st, b, 1, NOW), STORE_OK);
	/* Throttled twice, with max_attempts 1: still not failed. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(lease(f, NOW + i * 1000, 1, 0, NULL), 1);
		assert_int_equal(leased[0].attempts, 1);
		o = outcome(&leased[0], STORE_OUT_RETRY, NOW + (i + 1) * 1000, "http 429");
		o.max_attempts = 1;
		o.not_attempted = 1;
		assert_int_equal(store_finish(f->st, &o, 1, NOW + i * 1000), STORE_OK);
		assert_int_equal(o.final_state, STORE_STATE_DELAYED);
	}
	struct store_stats s = stats(f->st);
	assert_int_equal(s.attempts, 0);
	assert_int_equal(s.retries, 2);
	assert_int_equal(store_verify(f->st), 0);
}

static void the_oldest_waiting_message_follows_the_outcomes(void **state)
{
	struct fx *f = *state;
	/* Arrival order 1..5; dispatch order is by appointment: 5 4 3 2 1. */
	struct store_new b[5] = { msg(f, 1, 0, NOW + 5 * DAY, 0), msg(f, 2, 0, NOW + 4 * DAY, 0),
				  msg(f, 3, 0, NOW + 3 * DAY, 0), msg(f, 4, 0, NOW + 2 * DAY, 0),
				  msg(f, 5, 0, NOW + DAY, 0) };
	struct store_outcome o[5];
	struct idlist p = { .n = 0 };
	struct store_msg m;

	assert_int_equal(store_ingest(f->st, b, 5, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 5, 0, NULL), 5);
	assert_int_equal(leased[0].id, b[4].id);
	/* In flight: store_get finds it under its lease time. */
	assert_int_equal(store_get(f->st, b[2].id, &m), STORE_OK);
	assert_int_equal(m.state, STORE_STATE_INFLIGHT);
	assert_int_equal(m.due_ms, NOW + 30000);
	assert_int_equal(m.attempts, 1);
	free(m.event);
	free(m.text);
	/* The first, second and fourth arrivals are sent. */
	for (int i = 0; i < 5; i++)
		o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "id");
	o[0].id = b[0].id; /* by id, whatever the lease order */
	o[1].id = b[1].id;
	o[2].id = b[3].id;
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 5; j++)
			if (leased[j].id == o[i].id)
				o[i] = outcome(&leased[j], STORE_OUT_SENT, 0, "id");
	assert_int_equal(store_finish(f->st, o, 3, NOW + 10), STORE_OK);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.waiting, 2);
	assert_int_equal(s.oldest_waiting_id, b[2].id);
	assert_int_equal(s.oldest_waiting_created_ms, b[2].created_ms);
	assert_int_equal(store_walk(f->st, "pending", 0, collect, &p), 2);
	assert_int_equal(p.ids[0], b[2].id);
	assert_int_equal(p.ids[1], b[4].id);
	p.n = 0;
	assert_int_equal(store_walk(f->st, "pending", 1, collect, &p), 1);
	assert_int_equal(store_verify(f->st), 0);
	/* The rest: nothing waits. */
	o[0] = outcome(&leased[0], STORE_OUT_FAILED, 0, "http 400");
	o[1] = outcome(&leased[2], STORE_OUT_SENT, 0, "id");
	assert_int_equal(store_finish(f->st, o, 2, NOW + 20), STORE_OK);
	s = stats(f->st);
	assert_int_equal(s.waiting, 0);
	assert_int_equal(s.oldest_waiting_id, 0);
	assert_int_equal(store_walk(f->st, "pending", 0, collect, &p), 0);
	assert_int_equal(store_get(f->st, b[4].id, &m), STORE_OK);
	assert_int_equal(m.state, STORE_STATE_FAILED);
	assert_string_equal(m.note, "http 400");
	free(m.event);
	free(m.text);
	assert_int_equal(store_verify(f->st), 0);
}

static void the_low_mark_catches_up_after_a_long_wait(void **state)
{
	struct fx *f = *state;
	enum { N = 3000 };
	static struct store_new b[N + 2];
	static struct store_leased l[N];
	static char big_texts[N * 64];
	static struct store_outcome o[N];
	size_t n = 0;

	/* The first arrival is scheduled for tomorrow, the last one too; the
	 * 3,000 between are sent today. */
	for (int i = 0; i < N + 2; i++) {
		int last = i == 0 || i == N + 1;

		b[i] = msg(f, i, 0, NOW + 2 * DAY, last ? NOW + DAY : 0);
		snprintf(f->keys[0], sizeof(f->keys[0]), "k%d", i);
		b[i].idem_key = strdup(f->keys[0]);
		b[i].idem_len = strlen(b[i].idem_key);
	}
	assert_int_equal(store_ingest(f->st, b, N + 2, NOW), STORE_OK);
	assert_int_equal(store_lease(f->st, NOW, 30000, N, 0, l, big_texts, sizeof(big_texts), &n,
				     NULL), STORE_OK);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++)
		o[i] = outcome(&l[i], STORE_OUT_SENT, 0, "id");
	assert_int_equal(store_finish(f->st, o, n, NOW + 1), STORE_OK);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.waiting, 2);
	assert_int_equal(s.oldest_waiting_id, b[0].id);
	/* Tomorrow the first one goes: the oldest waiting is now the last
	 * arrival, 3,000 final ids further on. */
	assert_int_equal(store_lease(f->st, NOW + DAY, 30000, 1, 0, l, big_texts, sizeof(big_texts),
				     &n, NULL), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].id, b[0].id);
	o[0] = outcome(&l[0], STORE_OUT_SENT, 0, "id");
	assert_int_equal(store_finish(f->st, o, 1, NOW + DAY), STORE_OK);
	s = stats(f->st);
	assert_int_equal(s.waiting, 1);
	assert_int_equal(s.oldest_waiting_id, b[N + 1].id);
	assert_int_equal(store_verify(f->st), 0);
	for (int i = 0; i < N + 2; i++)
		free((void *)b[i].idem_key);
}

static void a_late_sent_finds_a_message_retried_by_another_worker(void **state)
{
	struct fx *f = *state;
	struct store_new b[3] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 3, 0, NOW + DAY, NOW + 3600000) };
	struct store_outcome o;
	struct store_msg m;

	assert_int_equal(store_ingest(f->st, b, 3, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	struct store_leased w1 = leased[0];
	/* The lease runs out; worker 2 takes it and is told to retry. */
	assert_int_equal(lease(f, NOW + 30000, 1, 0, NULL), 1);
	assert_int_equal(leased[0].id, w1.id);
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 90000, "http 503");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 30001), STORE_OK);
	assert_int_equal(o.final_state, STORE_STATE_DELAYED);
	/* Worker 1's "sent" arrives: it finds the message in the delayed index
	 * and makes it final, so the retry never happens. */
	o = outcome(&w1, STORE_OUT_SENT, 0, "late-sent");
	o.provider = 1;
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 30002), STORE_OK);
	assert_int_equal(o.applied, 1);
	assert_int_equal(o.final_state, STORE_STATE_SENT);
	assert_int_equal(o.lease_lost, 1); /* the dispatcher says so in its log */
	assert_int_equal(o.found_state, STORE_STATE_DELAYED);
	assert_int_equal(store_get(f->st, w1.id, &m), STORE_OK);
	assert_int_equal(m.state, STORE_STATE_SENT);
	assert_string_equal(m.note, "late-sent");
	assert_int_equal(m.provider, 1);
	assert_int_equal(m.attempts, 2);
	free(m.event);
	free(m.text);
	struct store_stats s = stats(f->st);
	assert_int_equal(s.count[STORE_STATE_DELAYED], 1); /* only the scheduled one */
	assert_int_equal(s.next_due_ms, NOW + 3600000);
	assert_int_equal(lease(f, NOW + 90000, 5, 0, NULL), 1);
	assert_int_equal(leased[0].id, b[1].id);
	assert_int_equal(store_verify(f->st), 0);
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

/* A worker's lease runs out and another worker takes the message: the
 * first one's late "sent" still applies (it went out) and says the message
 * was in flight with the other; the other's "sent" then finds it sent: the
 * SMS went out twice, and each outcome says what it found. */
static void two_sent_for_one_message_say_what_they_found(void **state)
{
	struct fx *f = *state;
	struct store_new b[1] = { msg(f, 1, 0, NOW + DAY, 0) };
	struct store_outcome o;

	assert_int_equal(store_ingest(f->st, b, 1, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	struct store_leased w1 = leased[0];
	assert_int_equal(lease(f, NOW + 30000, 1, 0, NULL), 1);
	struct store_leased w2 = leased[0];
	o = outcome(&w1, STORE_OUT_SENT, 0, "first");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 30001), STORE_OK);
	assert_int_equal(o.applied, 1);
	assert_int_equal(o.lease_lost, 1);
	assert_int_equal(o.found_state, STORE_STATE_INFLIGHT);
	o = outcome(&w2, STORE_OUT_SENT, 0, "second");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 30002), STORE_OK);
	assert_int_equal(o.applied, 0);
	assert_int_equal(o.lease_lost, 1);
	assert_int_equal(o.found_state, STORE_STATE_SENT);
	/* A lease still held is no lost lease. */
	struct store_new c[1] = { msg(f, 2, 0, NOW + DAY, 0) };
	assert_int_equal(store_ingest(f->st, c, 1, NOW + 30003), STORE_OK);
	assert_int_equal(lease(f, NOW + 30004, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "third");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 30005), STORE_OK);
	assert_int_equal(o.applied, 1);
	assert_int_equal(o.lease_lost, 0);
	assert_int_equal(store_verify(f->st), 0);
}

/* Open the environment behind the store's back (one per process at a time:
 * LMDB's locks are per process) and run fn in a write transaction. */
static void tamper(struct fx *f, void (*fn)(MDB_txn *txn))
{
	MDB_env *env;
	MDB_txn *txn;

	store_close(&f->st);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	fn(txn);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
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

static void set_version(MDB_txn *txn, uint32_t ver)
{
	MDB_dbi meta;
	MDB_val k = { 7, (void *)"version" }, v = { sizeof(ver), &ver };

	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
}

static void set_schema_1(MDB_txn *txn)
{
	set_version(txn, 1);
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

static void a_schema_1_store_is_refused_with_what_to_do(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct store_opts o = { .dir = f->dir };

	tamper(f, set_schema_1);
	assert_null(store_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "schema 1"));
	assert_non_null(strstr(err, "drain it"));
	o.read_only = 1;
	assert_null(store_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "schema 1"));
}

#define HOUR (3600LL * 1000)

/* The urgency of an appointment: exact when near, else on a grid as fine as
 * 1/4 of how far away it is; never after the appointment, and never out of
 * order with a later appointment. */
static void urgency_is_the_appointment_to_a_quarter_of_its_distance(void **state)
{
	/* aligned: on the grid; else at the start of its band (lead == start) */
	static const struct {
		int64_t lead, step;
		int aligned;
	} cases[] = {
		{ 1, 0, 1 }, { HOUR, 0, 1 }, { 4 * HOUR - 1, 0, 1 },
		{ 4 * HOUR, HOUR, 0 }, { 5 * HOUR, HOUR, 1 }, { 23 * HOUR, HOUR, 1 },
		{ DAY, 6 * HOUR, 0 }, { DAY + 7 * HOUR, 6 * HOUR, 1 }, { 4 * DAY - 1, 6 * HOUR, 1 },
		{ 4 * DAY, DAY, 0 }, { 5 * DAY + HOUR, DAY, 1 }, { 16 * DAY - 1, DAY, 1 },
		{ 16 * DAY, 4 * DAY, 0 }, { 21 * DAY, 4 * DAY, 1 }, { 400 * DAY, 4 * DAY, 1 },
	};
	/* an appointment off every grid, each step giving another floor:
	 * 17 h 37 min 13 s into a day, the second of a 4-day step */
	const int64_t appt = ((NOW / (4 * DAY) + 10) * 4 + 1) * DAY + 17 * HOUR + 2233000;
	int64_t prev_u = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t u = store_urgency_ms(appt, appt - cases[i].lead);

		if (cases[i].step == 0) {
			assert_int_equal(u, appt);
			continue;
		}
		if (cases[i].aligned)
			assert_int_equal(u, appt - appt % cases[i].step); /* this step's floor */
		else
			assert_int_equal(u, appt); /* its band starts at the appointment */
		assert_true(u <= appt && appt - u < cases[i].step);
		assert_true(cases[i].step * 4 <= cases[i].lead);
	}
	/* For one "now", a later appointment never sorts first. */
	for (int64_t at = NOW + 1; at < NOW + 60 * DAY; at += 997 * 1000 + 13) {
		int64_t u = store_urgency_ms(at, NOW);

		assert_true(u <= at);
		assert_true(at - u < 4 * DAY);
		if (at - NOW < 4 * HOUR)
			assert_int_equal(u, at);
		assert_true(u >= prev_u);
		prev_u = u;
	}
	/* Times the grid does not read are kept as they are. */
	assert_int_equal(store_urgency_ms(NOW - 5, NOW), NOW - 5);
	assert_int_equal(store_urgency_ms(0, NOW), 0);
	assert_int_equal(store_urgency_ms(NOW + 30 * DAY, 0), NOW + 30 * DAY);
}

/* Appointments days away that share a step of the grid keep their arrival
 * order; near ones are ordered to the millisecond, and before far ones. */
static void ready_index_orders_far_appointments_by_arrival_within_a_step(void **state)
{
	struct fx *f = *state;
	/* The start of a step of the grid (4 days there), 28 to 32 days away. */
	int64_t step30 = (NOW / (4 * DAY) + 8) * (4 * DAY);
	struct store_new b[5] = {
		msg(f, 1, 0, step30 + 3 * DAY, 0),  /* late in that step: arrived first */
		msg(f, 2, 0, step30 + 8 * HOUR, 0), /* its first morning */
		msg(f, 3, 0, NOW + 3 * HOUR, 0),    /* near: exact */
		msg(f, 4, 0, NOW + 2 * HOUR, 0),    /* nearer, arrived later */
		msg(f, 5, 0, step30 - HOUR, 0),     /* the step before */
	};
	struct idlist l = { .n = 0 };
	struct store_msg m;

	assert_int_equal(store_ingest(f->st, b, 5, NOW), STORE_OK);
	assert_int_equal(store_walk(f->st, "ready", 0, collect, &l), 5);
	uint64_t want[5] = { b[3].id, b[2].id, b[4].id, b[0].id, b[1].id };
	assert_memory_equal(l.ids, want, sizeof(want));
	assert_int_equal(store_get(f->st, b[1].id, &m), STORE_OK);
	assert_int_equal(m.appointment_ms, step30 + 8 * HOUR);
	assert_int_equal(m.urgency_ms, step30);
	free(m.event);
	free(m.text);
	/* Leases take them in that order, and the outcomes find them. */
	assert_int_equal(lease(f, NOW, 5, 0, NULL), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(leased[i].id, want[i]);
	assert_int_equal(store_verify(f->st), 0);
}

/* Rewrite every record as schema 2 wrote it (a 48-byte header: schema 3's
 * without urgency_ms, type 0x52), move its ready entry where schema 2 put it
 * (under the exact appointment), and mark the store schema 2.  Offsets are
 * those of struct rec_hdr in store.c. */
static void put_key_time(unsigned char *k, int64_t t)
{
	for (int i = 0; i < 8; i++)
		k[1 + i] = (unsigned char)(((uint64_t)t ^ (1ULL << 63)) >> (56 - 8 * i));
}

static void make_schema_2(MDB_txn *txn)
{
	struct {
		unsigned char id[8];
		unsigned char rec[256];
		size_t len;
	} r[8];
	MDB_dbi msgdb, ready;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;

	set_version(txn, 2);
	assert_int_equal(mdb_dbi_open(txn, "msg", 0, &msgdb), 0);
	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_cursor_open(txn, msgdb, &cur), 0);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		assert_true(n < 8 && k.mv_size == 8 && v.mv_size > 56 && v.mv_size <= 256);
		memcpy(r[n].id, k.mv_data, 8);
		memcpy(r[n].rec, v.mv_data, v.mv_size);
		r[n].len = v.mv_size;
		n++;
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < n; i++) {
		unsigned char *rec = r[i].rec, rk[17], st[256];
		int64_t appt, urg;
		MDB_val rkv = { sizeof(rk), rk }, sv, stv = { 0, st };

		assert_int_equal(rec[0], 0x54);
		memcpy(&appt, rec + 40, 8);
		memcpy(&urg, rec + 48, 8);
		rk[0] = (unsigned char)(9 - rec[1]);
		memcpy(rk + 9, r[i].id, 8);
		put_key_time(rk, urg);
		assert_int_equal(mdb_get(txn, ready, &rkv, &sv), 0);
		assert_true(sv.mv_size <= sizeof(st));
		memcpy(st, sv.mv_data, sv.mv_size);
		/* schema 2's value: struct st (type 0x53, note_len at 8), its
		 * note, no sending copy */
		st[0] = 0x53;
		stv.mv_size = 32 + (size_t)(st[8] | st[9] << 8);
		assert_true(stv.mv_size <= sv.mv_size);
		assert_int_equal(mdb_del(txn, ready, &rkv, NULL), 0);
		put_key_time(rk, appt);
		assert_int_equal(mdb_put(txn, ready, &rkv, &stv, 0), 0);

		rec[0] = 0x52;
		memmove(rec + 48, rec + 56, r[i].len - 56);
		MDB_val idv = { 8, r[i].id }, recv = { r[i].len - 8, rec };
		assert_int_equal(mdb_put(txn, msgdb, &idv, &recv, 0), 0);
	}
}

/* What schema 3 wrote: ready values without a sending copy (type 0x53,
 * the state and its note), and version 3. */
static void make_schema_3(MDB_txn *txn)
{
	MDB_dbi ready;
	MDB_cursor *cur;
	MDB_val k, v;
	int n = 0;

	set_version(txn, 3);
	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_cursor_open(txn, ready, &cur), 0);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		unsigned char st[512], key[17];

		assert_true(v.mv_size <= sizeof(st) && k.mv_size == sizeof(key));
		memcpy(key, k.mv_data, sizeof(key)); /* not from the page being rewritten */
		k.mv_data = key;
		memcpy(st, v.mv_data, v.mv_size);
		assert_int_equal(st[0], 0x56);
		st[0] = 0x53;
		v.mv_size = 32 + (size_t)(st[8] | st[9] << 8);
		v.mv_data = st;
		assert_int_equal(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
		n++;
	}
	mdb_cursor_close(cur);
	assert_true(n > 0);
}

static void expect_schema_4(MDB_txn *txn)
{
	MDB_dbi meta;
	uint32_t ver = 0;
	MDB_val k = { 7, (void *)"version" }, v;

	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_int_equal(v.mv_size, sizeof(ver));
	memcpy(&ver, v.mv_data, sizeof(ver));
	assert_int_equal(ver, 4);
}

/* A schema 2 store opens: its messages are read, ordered and sent where
 * schema 2 put them, new ones are schema 4, and the store says 4 after. */
static void a_schema_2_store_is_read_and_upgraded_in_place(void **state)
{
	struct fx *f = *state;
	int64_t day30 = (NOW / DAY + 30) * DAY;
	struct store_new a[2] = { msg(f, 1, 0, day30 + 18 * HOUR, 0),
				  msg(f, 2, 0, day30 + 8 * HOUR, 0) };
	struct store_new b[1] = { msg(f, 3, 0, day30 + 12 * HOUR, 0) };
	struct store_msg m;
	struct idlist l = { .n = 0 };
	struct store_opts ro = { .dir = f->dir, .read_only = 1 };
	char err[256];
	store *r;

	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_OK);
	tamper(f, make_schema_2);
	/* smsqctl (read-only) reads it as it is */
	r = store_open(&ro, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(store_verify(r), 0);
	assert_int_equal(store_get(r, a[1].id, &m), STORE_OK);
	assert_int_equal(m.urgency_ms, day30 + 8 * HOUR);
	free(m.event);
	free(m.text);
	store_close(&r);
	/* the pool opens it, and stores new messages beside the old */
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_ingest(f->st, b, 1, NOW), STORE_OK);
	assert_int_equal(store_verify(f->st), 0);
	assert_int_equal(store_walk(f->st, "ready", 0, collect, &l), 3);
	/* b (the day's step) before a[1] (8:00 exact) and a[0] (18:00 exact) */
	uint64_t want[3] = { b[0].id, a[1].id, a[0].id };
	assert_memory_equal(l.ids, want, sizeof(want));
	assert_int_equal(store_get(f->st, a[0].id, &m), STORE_OK);
	assert_string_equal(m.idem_key, "k1");
	assert_int_equal(m.event_len, sizeof("packed-event-bytes"));
	assert_memory_equal(m.event, "packed-event-bytes", m.event_len);
	free(m.event);
	free(m.text);
	/* they are sent and recorded as any other */
	assert_int_equal(lease(f, NOW, 3, 0, NULL), 3);
	struct store_outcome o[3];
	for (int i = 0; i < 3; i++)
		o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "prov-id");
	assert_int_equal(store_finish(f->st, o, 3, NOW + 1000), STORE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(o[i].applied, 1);
	assert_int_equal(stats(f->st).count[STORE_STATE_SENT], 3);
	assert_int_equal(store_verify(f->st), 0);
	/* the store says schema 4 now (an smsq that reads only 2 is kept out) */
	store_close(&f->st);
	tamper(f, expect_schema_4);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
}

/* The ids the tampering functions below work on. */
static uint64_t tamper_ids[2];

static MDB_val id_val(unsigned char k[8], uint64_t id)
{
	MDB_val v = { 8, k };

	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(id >> (56 - 8 * i));
	return v;
}

/* Delete the record of tamper_ids[0]; check the ready value of
 * tamper_ids[1] (a long text) is its state alone (32 bytes, no note). */
static void drop_record_check_no_copy(MDB_txn *txn)
{
	MDB_dbi msgdb, ready;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char idk[8];
	MDB_val idv = id_val(idk, tamper_ids[0]);
	int seen = 0;

	assert_int_equal(mdb_dbi_open(txn, "msg", 0, &msgdb), 0);
	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_del(txn, msgdb, &idv, NULL), 0);
	assert_int_equal(mdb_cursor_open(txn, ready, &cur), 0);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		assert_int_equal(k.mv_size, 17);
		if (memcmp((char *)k.mv_data + 9, idk, 8) == 0)
			assert_true(v.mv_size > 32 + 24); /* state and copy */
		else
			assert_int_equal(v.mv_size, 32), seen++; /* state alone */
	}
	mdb_cursor_close(cur);
	assert_int_equal(seen, 1);
}

/* A ready entry holds what sending needs (schema 4): the lease of a short
 * message does not read its record (deleted here), a long text is read
 * from its record, and smsqctl check reports the missing record. */
static void lease_sends_from_the_ready_copy_without_the_record(void **state)
{
	struct fx *f = *state;
	char longtext[601];
	struct store_new b[2] = { msg(f, 1, 3, NOW + DAY, 0), msg(f, 2, 3, NOW + 2 * DAY, 0) };

	memset(longtext, 'x', 600);
	with_text(&b[0], "+33612345678", "Rendez-vous confirmé demain 9h30");
	b[0].segments = 1;
	b[0].expires_ms = NOW + DAY - HOUR;
	longtext[600] = '\0';
	with_text(&b[1], "+33698765432", longtext);
	b[1].segments = 4;
	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	tamper_ids[0] = b[0].id;
	tamper_ids[1] = b[1].id;
	tamper(f, drop_record_check_no_copy);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_verify(f->st), -1);
	assert_non_null(strstr(store_errmsg(f->st), "not stored"));

	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	assert_int_equal(leased[0].id, b[0].id);
	assert_string_equal(leased[0].to, "+33612345678");
	assert_string_equal(leased[0].text, "Rendez-vous confirmé demain 9h30");
	assert_int_equal(leased[0].text_len, strlen(leased[0].text));
	assert_int_equal(leased[0].created_ms, b[0].created_ms);
	assert_int_equal(leased[0].attempts, 1);
	assert_int_equal(leased[0].hdr.expires_ms, NOW + DAY - HOUR);
	assert_int_equal(leased[0].hdr.segments, 1);
	assert_int_equal(leased[0].hdr.priority, 3);
	assert_int_equal(leased[0].hdr.urgency_ms, store_urgency_ms(NOW + DAY, NOW));
	assert_int_equal(leased[1].id, b[1].id);
	assert_string_equal(leased[1].to, "+33698765432");
	assert_int_equal(leased[1].text_len, 600);
	assert_memory_equal(leased[1].text, longtext, 600);
	assert_int_equal(leased[1].hdr.segments, 4);
}

/* Rewrite the first ready entry's value: cut its last byte off, or change
 * it (the end of the text of a sending copy). */
static void edit_first_ready(MDB_txn *txn, int cut)
{
	MDB_dbi ready;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char buf[512], key[17];

	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_cursor_open(txn, ready, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	assert_true(v.mv_size > 32 + 24 && v.mv_size <= sizeof(buf) && k.mv_size == sizeof(key));
	memcpy(key, k.mv_data, sizeof(key)); /* not from the page being rewritten */
	k.mv_data = key;
	memcpy(buf, v.mv_data, v.mv_size);
	assert_int_equal(buf[0], 0x56); /* a state with a sending copy */
	if (cut)
		v.mv_size--;
	else
		buf[v.mv_size - 1] ^= 0x20;
	v.mv_data = buf;
	assert_int_equal(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
	mdb_cursor_close(cur);
}

/* The first ready entry is a state alone (0x53), its note after it. */
static void expect_first_ready_without_copy(MDB_txn *txn)
{
	MDB_dbi ready;
	MDB_cursor *cur;
	MDB_val k, v;
	const unsigned char *p;

	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_cursor_open(txn, ready, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	p = v.mv_data;
	assert_int_equal(p[0], 0x53);
	assert_int_equal(v.mv_size, 32 + (size_t)(p[8] | p[9] << 8));
	mdb_cursor_close(cur);
}

static void truncate_first_ready(MDB_txn *txn)
{
	edit_first_ready(txn, 1);
}

static void alter_the_ready_copy(MDB_txn *txn)
{
	edit_first_ready(txn, 0);
}

/* Delete the first ready entry and the record of tamper_ids[1]. */
static void drop_first_ready_and_second_record(MDB_txn *txn)
{
	MDB_dbi msgdb, ready;
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char idk[8];
	MDB_val idv = id_val(idk, tamper_ids[1]);

	assert_int_equal(mdb_dbi_open(txn, "ready", 0, &ready), 0);
	assert_int_equal(mdb_cursor_open(txn, ready, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	assert_int_equal(mdb_cursor_del(cur, 0), 0);
	mdb_cursor_close(cur);
	assert_int_equal(mdb_dbi_open(txn, "msg", 0, &msgdb), 0);
	assert_int_equal(mdb_del(txn, msgdb, &idv, NULL), 0);
}

/* Tamper with f's store with fn, reopen it: a lease of 2 fails, takes
 * nothing, and says "message ID: what". */
static void lease_fails_saying(struct fx *f, void (*fn)(MDB_txn *txn), uint64_t id,
			       const char *what)
{
	struct store_leased l[2];
	char texts[2 * STORE_LEASE_TEXTS_MIN];
	char want[128];
	size_t n = 9;

	tamper(f, fn);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_lease(f->st, NOW, 30000, 2, 0, l, texts, sizeof(texts), &n, NULL),
			 STORE_ERROR);
	assert_int_equal(n, 0);
	snprintf(want, sizeof(want), "message %llu: %s", (unsigned long long)id, what);
	assert_non_null(strstr(store_errmsg(f->st), want));
	assert_non_null(strstr(store_errmsg(f->st), "smsqctl check"));
}

/* A damaged entry or a lost record stops the lease (nothing taken, nothing
 * changed) with the message it is about and what to run. */
static void a_damaged_store_stops_the_lease_and_says_where(void **state)
{
	struct fx *f = *state;
	struct store_new b[2] = { msg(f, 1, 3, NOW + DAY, 0), msg(f, 2, 3, NOW + 2 * DAY, 0) };
	char longtext[601];

	memset(longtext, 'x', 600);
	longtext[600] = '\0';
	with_text(&b[0], "+33612345678", "Rendez-vous confirmé");
	with_text(&b[1], "+33698765432", longtext); /* no copy: sent from its record */
	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	tamper_ids[1] = b[1].id;
	lease_fails_saying(f, truncate_first_ready, b[0].id, "its entry in ready is unreadable");
	assert_int_equal(stats(f->st).count[STORE_STATE_READY], 2);
	/* a ready entry without a copy whose record is gone */
	lease_fails_saying(f, drop_first_ready_and_second_record, b[1].id,
			   "indexed but not stored");
}

/* The copy follows a retry: promote() writes it again from the record, and
 * smsqctl check finds a copy that differs from its record. */
static void the_ready_copy_comes_back_after_a_retry_and_is_checked(void **state)
{
	struct fx *f = *state;
	struct store_new b[1] = { msg(f, 1, 0, NOW + DAY, 0) };
	struct store_new u[1] = { msg(f, 2, 9, NOW + DAY, 0) };
	struct store_outcome o;

	with_text(&b[0], "+33612345678", "Rendez-vous confirmé");
	assert_int_equal(store_ingest(f->st, b, 1, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 5000, "HTTP 500");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 100), STORE_OK);
	assert_int_equal(o.applied, 1);
	assert_int_equal(lease(f, NOW + 5000, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_RELEASE, 0, NULL);
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 5100), STORE_OK);
	/* released: no copy, sent from the record; one more retry, one more
	 * copy */
	tamper(f, expect_first_ready_without_copy);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(lease(f, NOW + 6000, 1, 0, NULL), 1);
	assert_string_equal(leased[0].text, "Rendez-vous confirmé");
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 9000, "HTTP 500");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 6100), STORE_OK);
	assert_int_equal(lease(f, NOW + 8000, 1, 0, NULL), 0); /* not due yet */
	/* due: promoted to ready (a copy written) while a more urgent one is
	 * taken */
	assert_int_equal(store_ingest(f->st, u, 1, NOW + 8500), STORE_OK);
	assert_int_equal(lease(f, NOW + 9000, 1, 0, NULL), 1);
	assert_int_equal(leased[0].id, u[0].id);
	assert_int_equal(stats(f->st).count[STORE_STATE_READY], 1);
	assert_int_equal(store_verify(f->st), 0);
	tamper(f, alter_the_ready_copy);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(store_verify(f->st), -1);
	assert_non_null(strstr(store_errmsg(f->st), "sending copy"));
}

/* A lease says when the next delayed message is due: none, a scheduled
 * one, a retry, and "now" when it left due ones behind. */
static void a_lease_says_when_the_next_delayed_message_is_due(void **state)
{
	struct fx *f = *state;
	struct store_new a[1] = { msg(f, 1, 0, NOW + DAY, NOW + 60000) };
	struct store_new b[1] = { msg(f, 2, 0, NOW + DAY, 0) };
	struct store_outcome o;

	assert_int_equal(store_next_due_ms(f->st), 0);
	assert_int_equal(lease(f, NOW, 4, 0, NULL), 0);
	assert_true(store_next_due_ms(f->st) == INT64_MAX);
	assert_int_equal(store_ingest(f->st, a, 1, NOW), STORE_OK);
	assert_int_equal(store_ingest(f->st, b, 1, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW + 1, 4, 0, NULL), 1);
	assert_int_equal(store_next_due_ms(f->st), NOW + 60000);
	/* a retry sooner than the scheduled one */
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 2500, "HTTP 500");
	assert_int_equal(store_finish_lease(f->st, &o, 1, NOW + 10, 30000, 4, 0, leased,
					    leased_texts, sizeof(leased_texts), &(size_t){ 0 },
					    NULL),
			 STORE_OK);
	assert_int_equal(lease(f, NOW + 20, 4, 0, NULL), 0);
	assert_int_equal(store_next_due_ms(f->st), NOW + 2500);
	assert_int_equal(lease(f, NOW + 2500, 4, 0, NULL), 1);
	assert_int_equal(store_next_due_ms(f->st), NOW + 60000);
	/* a finish alone: a retry it writes counts, a sent one does not */
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 4000, "HTTP 500");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 2600), STORE_OK);
	assert_int_equal(store_next_due_ms(f->st), NOW + 4000);
	assert_int_equal(lease(f, NOW + 4000, 4, 0, NULL), 1);
	assert_int_equal(store_next_due_ms(f->st), NOW + 60000);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "id-1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 4100), STORE_OK);
	assert_int_equal(store_next_due_ms(f->st), NOW + 60000);
}

/* More due than one lease moves to ready: the next is due now. */
static void a_lease_that_leaves_due_messages_says_now(void **state)
{
	struct fx *f = *state;
	static struct store_new b[300];
	static char keys[300][16];

	for (int i = 0; i < 300; i++) {
		b[i] = msg(f, i, 0, NOW + DAY, NOW + 1000);
		snprintf(keys[i], sizeof(keys[i]), "d%d", i);
		b[i].idem_key = keys[i];
		b[i].idem_len = strlen(keys[i]);
	}
	assert_int_equal(store_ingest(f->st, b, 300, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 0);
	assert_int_equal(store_next_due_ms(f->st), NOW + 1000);
	assert_int_equal(lease(f, NOW + 2000, 1, 0, NULL), 1); /* moves 4 * 1 + 256 */
	assert_int_equal(store_next_due_ms(f->st), NOW + 2000);
	assert_int_equal(stats(f->st).count[STORE_STATE_DELAYED], 300 - 260);
}

static uint64_t last_txnid(const char *dir)
{
	MDB_env *env;
	MDB_envinfo info;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
	assert_int_equal(mdb_env_info(env, &info), 0);
	mdb_env_close(env);
	return (uint64_t)info.me_last_txnid;
}

/* A lease that finds nothing to move commits nothing (no sync): an idle
 * worker looking costs the disk nothing. */
static void a_lease_that_moves_nothing_commits_nothing(void **state)
{
	struct fx *f = *state;
	struct store_new a[1] = { msg(f, 1, 0, NOW + DAY, NOW + 60000) };
	uint64_t t0, t1, t2;

	assert_int_equal(store_ingest(f->st, a, 1, NOW), STORE_OK);
	store_close(&f->st);
	t0 = last_txnid(f->dir);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(lease(f, NOW, 4, 0, NULL), 0);
	assert_int_equal(lease(f, NOW + 1000, 4, 0, NULL), 0);
	store_close(&f->st);
	t1 = last_txnid(f->dir);
	f->st = open_store(f->dir, 0, 0, 0); /* what an open alone costs */
	assert_non_null(f->st);
	store_close(&f->st);
	t2 = last_txnid(f->dir);
	assert_int_equal(t1 - t0, t2 - t1);
	/* and one that moves something commits */
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(lease(f, NOW + 60000, 4, 0, NULL), 1);
	store_close(&f->st);
	assert_int_equal(last_txnid(f->dir) - t2, t2 - t1 + 1);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
}

/* A schema 3 store (ready entries without a copy) is checked, sent from its
 * records, and marked 4. */
static void a_schema_3_store_is_sent_from_its_records(void **state)
{
	struct fx *f = *state;
	struct store_new a[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + 2 * DAY, 0) };
	struct store_opts ro = { .dir = f->dir, .read_only = 1 };
	char err[256];
	store *r;

	with_text(&a[0], "+33612345678", "Rendez-vous confirmé");
	with_text(&a[1], "+33698765432", "Rendez-vous annulé");
	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_OK);
	tamper(f, make_schema_3);
	r = store_open(&ro, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(store_verify(r), 0);
	store_close(&r);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	assert_string_equal(leased[0].to, "+33612345678");
	assert_string_equal(leased[0].text, "Rendez-vous confirmé");
	assert_string_equal(leased[1].to, "+33698765432");
	assert_string_equal(leased[1].text, "Rendez-vous annulé");
	assert_int_equal(store_verify(f->st), 0);
	store_close(&f->st);
	tamper(f, expect_schema_4);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
}

static void state_names(void **state)
{
	(void)state;
	assert_string_equal(store_state_name(STORE_STATE_DELAYED), "delayed");
	assert_string_equal(store_state_name(STORE_STATE_INFLIGHT), "inflight");
	assert_string_equal(store_state_name(STORE_STATE_EXPIRED), "expired");
	assert_string_equal(store_state_name((enum store_state)99), "unknown");
}

/* A finish test again, its outcomes without the header. */
#define READING(fn) \
	{ #fn " (outcomes without the header)", fn, setup_reading, teardown, NULL }

/* ---- two threads, two handles (store_share()) ----------------------------- */

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
		cmocka_unit_test_setup_teardown(ingest_assigns_ids_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicates_across_and_within_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(ready_index_is_most_urgent_first, setup, teardown),
		cmocka_unit_test_setup_teardown(delayed_index_is_soonest_first_and_pending_oldest_first,
						setup, teardown),
		cmocka_unit_test_setup_teardown(failed_commit_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(full_map_is_store_full_and_keeps_what_was_stored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(map_grows_up_to_its_ceiling, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_disk_is_store_full, setup, teardown),
		cmocka_unit_test_setup_teardown(two_sent_for_one_message_say_what_they_found, setup,
						teardown),
		cmocka_unit_test_setup_teardown(sending_goes_on_when_ingest_is_full, setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_handle_sees_writes_and_cannot_write, setup,
						teardown),
		cmocka_unit_test(read_only_open_of_missing_store_is_an_error),
		cmocka_unit_test_setup_teardown(out_of_bounds_messages_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(verify_detects_a_broken_index, setup, teardown),
		cmocka_unit_test_setup_teardown(lease_takes_most_urgent_and_hides_them, setup, teardown),
		cmocka_unit_test_setup_teardown(lease_respects_the_segment_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(lease_stops_when_the_texts_buffer_is_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(finish_and_lease_in_one_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(lease_expires_what_is_past_its_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(outcomes_move_messages_to_their_states, setup, teardown),
		cmocka_unit_test_setup_teardown(a_lost_lease_comes_back_and_late_outcomes_are_dropped,
						setup, teardown),
		cmocka_unit_test_setup_teardown(retries_stop_at_expiry_and_at_max_attempts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_throttled_retry_is_not_an_attempt, setup, teardown),
		cmocka_unit_test_setup_teardown(the_oldest_waiting_message_follows_the_outcomes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_low_mark_catches_up_after_a_long_wait, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_late_sent_finds_a_message_retried_by_another_worker,
						setup, teardown),
		cmocka_unit_test_setup_teardown(verify_detects_a_lost_or_doubled_state, setup, teardown),
		cmocka_unit_test_setup_teardown(a_schema_1_store_is_refused_with_what_to_do, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lease_gives_the_header_for_the_outcome, setup,
						teardown),
		cmocka_unit_test_setup_teardown(an_outcome_with_another_header_reads_the_record,
						setup, teardown),
		READING(finish_and_lease_in_one_transaction),
		READING(outcomes_move_messages_to_their_states),
		READING(a_lost_lease_comes_back_and_late_outcomes_are_dropped),
		READING(retries_stop_at_expiry_and_at_max_attempts),
		READING(a_throttled_retry_is_not_an_attempt),
		READING(the_oldest_waiting_message_follows_the_outcomes),
		READING(a_late_sent_finds_a_message_retried_by_another_worker),
		READING(a_schema_2_store_is_read_and_upgraded_in_place),
		READING(the_ready_copy_comes_back_after_a_retry_and_is_checked),
		cmocka_unit_test_setup_teardown(lease_sends_from_the_ready_copy_without_the_record,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_damaged_store_stops_the_lease_and_says_where, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_ready_copy_comes_back_after_a_retry_and_is_checked,
						setup, teardown),
		cmocka_unit_test(urgency_is_the_appointment_to_a_quarter_of_its_distance),
		cmocka_unit_test_setup_teardown(
			ready_index_orders_far_appointments_by_arrival_within_a_step, setup, teardown),
		cmocka_unit_test_setup_teardown(a_schema_2_store_is_read_and_upgraded_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_lease_says_when_the_next_delayed_message_is_due,
						setup, teardown),
		READING(a_lease_says_when_the_next_delayed_message_is_due),
		cmocka_unit_test_setup_teardown(a_lease_that_leaves_due_messages_says_now, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_lease_that_moves_nothing_commits_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(two_threads_share_the_store_while_the_map_grows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_schema_3_store_is_sent_from_its_records, setup,
						teardown),
		cmocka_unit_test(state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
