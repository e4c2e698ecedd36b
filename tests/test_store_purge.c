/* WRAP: mdb_txn_commit */
/*
 * test_store_purge: retention (store/store_purge.c): final messages purged
 * after their retention, waiting ones never; keys kept as tombstones for
 * their own window, then forgotten; the sweep bounded and going round; a
 * full store purging before it refuses events; a failed commit changing
 * nothing; smsqctl check clean throughout.
 */
#include "tests/store_fx.h"

#define HOUR (3600LL * 1000)
#define RETENTION (2 * HOUR)
#define KEYS (6 * HOUR)

static void reopen(struct fx *f, int64_t retention_ms, int64_t keys_ms, uint64_t map)
{
	char err[256] = "";
	struct store_opts o = { .dir = f->dir, .map_bytes = map, .map_max_bytes = map,
				.record_ceiling = 1, .retention_ms = retention_ms,
				.keys_ms = keys_ms };

	store_close(&f->st);
	f->st = store_open(&o, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
}

static int setup_purge(void **state)
{
	int rc = setup(state);
	struct fx *f = *state;

	if (rc == 0)
		reopen(f, RETENTION, KEYS, 0);
	return rc;
}


/* Store n messages (keys k<first>...), send the first `sent` of them at t. */
static void stored_and_sent(struct fx *f, int first, int n, int sent, int64_t t)
{
	for (int i = 0; i < n; i++) {
		struct store_new m = msg(f, first + i, 0, NOW + 30 * DAY, 0);

		with_text(&m, "+33612345678", "text");
		m.booking = m.idem_key; /* a booking each */
		m.booking_len = m.idem_len;
		m.kind = STORE_KIND_CONFIRMED;
		assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
	}
	while (sent > 0) {
		size_t got = lease(f, t, sent > 16 ? 16 : (size_t)sent, 0, NULL);
		struct store_outcome o[16];

		assert_true(got > 0);
		for (size_t i = 0; i < got; i++)
			o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "SM");
		assert_int_equal(store_finish(f->st, o, got, t), STORE_OK);
		sent -= (int)got;
	}
}

static struct store_purged sweep(struct fx *f, int64_t now)
{
	struct store_purged p;

	assert_int_equal(store_purge(f->st, now, STORE_PURGE_VISIT, &p), STORE_OK);
	return p;
}

static void final_messages_go_after_their_retention_waiting_ones_never(void **state)
{
	struct fx *f = *state;
	struct store_stats st;
	struct store_purged p;
	struct store_msg m;

	stored_and_sent(f, 0, 10, 6, NOW);
	/* stored within the retention: the round ends at the first */
	p = sweep(f, NOW + RETENTION - 1);
	assert_int_equal(p.visited, 0);
	assert_int_equal(p.purged, 0);
	assert_true(p.wrapped);
	p = sweep(f, NOW + RETENTION);
	assert_int_equal(p.purged, 6);
	assert_int_equal(p.keys_dropped, 0);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_SENT], 0);
	assert_int_equal(st.count[STORE_STATE_READY], 4);
	assert_int_equal(st.total, 10);
	assert_int_equal(st.purged_ever, 6);
	assert_int_equal(st.keys_kept, 6);
	assert_int_equal(store_get(f->st, 1, &m), STORE_NOTFOUND);
	verified(f);
	/* a week later the waiting ones are still there */
	p = sweep(f, NOW + 7 * DAY);
	assert_int_equal(p.purged, 0);
	assert_int_equal(p.keys_dropped, 6);
	st = stats(f->st);
	assert_int_equal(st.waiting, 4);
	assert_int_equal(st.keys_kept, 0);
	verified(f);
}

static void a_key_is_a_duplicate_until_its_window_ends(void **state)
{
	struct fx *f = *state;
	struct store_new again;
	uint64_t ids[4];

	stored_and_sent(f, 0, 1, 1, NOW);
	(void)sweep(f, NOW + RETENTION);
	again = msg(f, 0, 0, NOW + 30 * DAY, 0); /* the same key, resent */
	assert_int_equal(store_ingest(f->st, &again, 1, NOW + RETENTION), STORE_OK);
	assert_int_equal(again.result, STORE_INGEST_DUPLICATE);
	assert_int_equal(again.id, 1);
	assert_int_equal(store_booking(f->st, "k0", 2, ids, 4), 0); /* its booking entry went */
	(void)sweep(f, NOW + KEYS);
	again = msg(f, 0, 0, NOW + 30 * DAY, 0);
	assert_int_equal(store_ingest(f->st, &again, 1, NOW + KEYS), STORE_OK);
	assert_int_equal(again.result, STORE_INGEST_ACCEPTED);
	assert_int_equal(again.id, 2);
	verified(f);
}

static void keys_go_with_their_messages_when_no_longer_kept(void **state)
{
	struct fx *f = *state;
	struct store_stats st;

	reopen(f, RETENTION, 0, 0); /* keys: as long as their messages */
	stored_and_sent(f, 0, 5, 5, NOW);
	assert_int_equal(sweep(f, NOW + RETENTION).purged, 5);
	st = stats(f->st);
	assert_int_equal(st.keys_kept, 0);
	assert_int_equal(st.purged_ever, 5);
	verified(f);
	struct store_new again = msg(f, 0, 0, NOW + 30 * DAY, 0);
	assert_int_equal(store_ingest(f->st, &again, 1, NOW + RETENTION), STORE_OK);
	assert_int_equal(again.result, STORE_INGEST_ACCEPTED);
}

static void every_final_state_is_purged(void **state)
{
	struct fx *f = *state;
	struct store_new m[4];
	struct store_outcome o;
	enum store_cancel_result res;
	uint64_t id;

	for (int i = 0; i < 4; i++) {
		m[i] = msg(f, i, 0, NOW + 30 * DAY, 0);
		m[i].booking = i < 2 ? "B1" : "B2";
		m[i].booking_len = 2;
		m[i].kind = (uint8_t)(i % 2 == 0 ? STORE_KIND_CONFIRMED : STORE_KIND_RESCHEDULED);
		m[i].created_ms = NOW - 100 + i;
	}
	assert_int_equal(store_ingest(f->st, m, 4, NOW), STORE_OK); /* m[0], m[2] superseded */
	id = m[3].id;
	assert_int_equal(store_cancel(f->st, &id, 1, NOW, &res), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_FAILED, 0, "refused");
	assert_int_equal(store_finish(f->st, &o, 1, NOW), STORE_OK);
	assert_int_equal(stats(f->st).waiting, 0);
	assert_int_equal(sweep(f, NOW + RETENTION).purged, 4);
	assert_int_equal(stats(f->st).count[STORE_STATE_SUPERSEDED], 0);
	assert_int_equal(stats(f->st).count[STORE_STATE_CANCELLED], 0);
	assert_int_equal(stats(f->st).count[STORE_STATE_FAILED], 0);
	verified(f);
}

static void the_sweep_is_bounded_and_goes_round(void **state)
{
	struct fx *f = *state;
	struct store_purged p;
	size_t purged = 0;
	int steps = 0;

	stored_and_sent(f, 0, 50, 50, NOW);
	do {
		assert_int_equal(store_purge(f->st, NOW + RETENTION, 16, &p), STORE_OK);
		assert_true(p.visited <= 16);
		purged += p.purged;
		steps++;
	} while (!p.wrapped);
	assert_int_equal(purged, 50);
	assert_int_equal(steps, 4);
	verified(f);
	/* a new round sees only the tombstones */
	assert_int_equal(store_purge(f->st, NOW + RETENTION, 100, &p), STORE_OK);
	assert_int_equal(p.visited, 50);
	assert_int_equal(p.purged, 0);
}

static void a_round_ends_at_the_first_message_stored_within_the_retention(void **state)
{
	struct fx *f = *state;
	struct store_purged p;

	stored_and_sent(f, 0, 5, 5, NOW);
	for (int i = 0; i < 5; i++) { /* stored an hour later, sent at once */
		struct store_new m = msg(f, 10 + i, 0, NOW + 30 * DAY, 0);

		with_text(&m, "+33612345678", "text");
		assert_int_equal(store_ingest(f->st, &m, 1, NOW + HOUR), STORE_OK);
	}
	assert_int_equal(lease(f, NOW + HOUR, 16, 0, NULL), 5);
	for (int i = 0; i < 5; i++) {
		struct store_outcome o = outcome(&leased[i], STORE_OUT_SENT, 0, "SM");

		assert_int_equal(store_finish(f->st, &o, 1, NOW + HOUR), STORE_OK);
	}
	p = sweep(f, NOW + RETENTION);
	assert_int_equal(p.purged, 5);
	assert_int_equal(p.visited, 5); /* not the younger five */
	assert_true(p.wrapped);
	p = sweep(f, NOW + HOUR + RETENTION);
	assert_int_equal(p.purged, 5);
	verified(f);
}

static void a_receipt_held_for_a_send_that_ended_otherwise_goes_with_it(void **state)
{
	struct fx *f = *state;
	struct store_receipt r;
	struct store_outcome o;
	struct store_new m = msg(f, 0, 0, NOW + 30 * DAY, 0);

	with_text(&m, "+33612345678", "text");
	assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	memset(&r, 0, sizeof(r));
	r.id = m.id;
	r.delivered = 1;
	r.at_ms = NOW + 5;
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 5), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_HELD);
	o = outcome(&leased[0], STORE_OUT_FAILED, 0, "refused");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	assert_int_equal(stats(f->st).receipts_held, 1);
	assert_int_equal(sweep(f, NOW + 10 + RETENTION).purged, 1);
	assert_int_equal(stats(f->st).receipts_held, 0);
	verified(f);
}

static void a_failed_commit_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct store_purged p;

	stored_and_sent(f, 0, 5, 5, NOW);
	fail_next_commit = EIO;
	assert_int_equal(store_purge(f->st, NOW + RETENTION, 100, &p), STORE_ERROR);
	assert_int_equal(stats(f->st).count[STORE_STATE_SENT], 5);
	verified(f);
	/* the sweep starts again where it was */
	assert_int_equal(sweep(f, NOW + RETENTION).purged, 5);
	verified(f);
}

/* Ingest messages of 4 KB events (keys from first) at t until the store is
 * full (at most 10,000); how many it took. */
static int take_until_full(struct fx *f, int first, int64_t t)
{
	char big[4000];
	int rc = STORE_OK, n = 0;

	memset(big, 'y', sizeof(big));
	for (int i = first; rc == STORE_OK && n < 10000; i++) {
		struct store_new m = msg(f, i, 0, NOW + 30 * DAY, 0);

		m.event = big;
		m.event_len = sizeof(big);
		with_text(&m, "+33612345678", "text");
		rc = store_ingest(f->st, &m, 1, t);
		n += rc == STORE_OK;
	}
	assert_int_equal(rc, STORE_FULL);
	return n;
}

/* Fill a 2 MiB store (retention: a week); send it all at t. */
static int fill_and_send(struct fx *f, int64_t t)
{
	int stored;

	reopen(f, 7 * DAY, 0, 2 << 20);
	stored = take_until_full(f, 0, NOW);
	for (size_t n; (n = lease(f, t, 16, 0, NULL)) > 0;) {
		struct store_outcome o[16];

		for (size_t i = 0; i < n; i++)
			o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "SM");
		assert_int_equal(store_finish(f->st, o, n, t), STORE_OK);
	}
	return stored;
}

static void a_full_store_purges_what_was_final_an_hour_before_refusing(void **state)
{
	struct fx *f = *state;
	int stored = fill_and_send(f, NOW);
	int more;

	/* two hours later, a week before their retention: purged to make room */
	more = take_until_full(f, 100000, NOW + 2 * HOUR);
	assert_true(more >= stored / 2);
	assert_true(stats(f->st).purged_ever > 0);
	assert_int_equal(stats(f->st).keys_kept, stats(f->st).purged_ever);
	assert_non_null(strstr(store_errmsg(f->st), "store is full"));
	verified(f);
}

static void a_full_store_keeps_what_was_final_within_the_hour(void **state)
{
	struct fx *f = *state;

	(void)fill_and_send(f, NOW);
	assert_true(take_until_full(f, 100000, NOW + HOUR / 2) < 5);
	assert_int_equal(stats(f->st).purged_ever, 0);
	verified(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(final_messages_go_after_their_retention_waiting_ones_never,
						setup_purge, teardown),
		cmocka_unit_test_setup_teardown(a_key_is_a_duplicate_until_its_window_ends,
						setup_purge, teardown),
		cmocka_unit_test_setup_teardown(keys_go_with_their_messages_when_no_longer_kept,
						setup_purge, teardown),
		cmocka_unit_test_setup_teardown(every_final_state_is_purged, setup_purge, teardown),
		cmocka_unit_test_setup_teardown(the_sweep_is_bounded_and_goes_round, setup_purge,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_round_ends_at_the_first_message_stored_within_the_retention, setup_purge,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_receipt_held_for_a_send_that_ended_otherwise_goes_with_it, setup_purge,
			teardown),
		cmocka_unit_test_setup_teardown(a_failed_commit_changes_nothing, setup_purge, teardown),
		cmocka_unit_test_setup_teardown(
			a_full_store_purges_what_was_final_an_hour_before_refusing, setup_purge,
			teardown),
		cmocka_unit_test_setup_teardown(a_full_store_keeps_what_was_final_within_the_hour,
						setup_purge, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
