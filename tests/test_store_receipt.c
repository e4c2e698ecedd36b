/* WRAP: mdb_txn_commit */
/*
 * test_store_receipt: delivery receipts (store/store_receipt.c): sent to
 * delivered or undelivered, repeats and older reports kept apart, a report
 * before its send's outcome held and applied with it, a report for a retry
 * stopping it, unknown messages; the outbox: an outcome for every final
 * move, in the same transaction, read in order, removed once taken, the
 * oldest dropped when full; smsqctl check clean throughout.
 */
#include "tests/store_fx.h"


static struct store_receipt receipt(uint64_t id, int delivered, int64_t at, const char *status)
{
	struct store_receipt r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.delivered = delivered;
	r.at_ms = at;
	snprintf(r.status, sizeof(r.status), "%s", status);
	return r;
}


/* n messages, leased; the first `sent` of them recorded sent. */
static void leased_and_sent(struct fx *f, int n, int sent)
{
	struct store_outcome o[16];

	for (int i = 0; i < n; i++) {
		struct store_new m = msg(f, i, 0, NOW + DAY, 0);

		with_text(&m, "+33612345678", "text");
		assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
	}
	assert_int_equal(lease(f, NOW, (size_t)n, 0, NULL), (size_t)n);
	for (int i = 0; i < sent; i++)
		o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "SM-provider-1");
	if (sent > 0)
		assert_int_equal(store_finish(f->st, o, (size_t)sent, NOW + 10), STORE_OK);
}

static void sent_becomes_delivered_then_the_newer_report_wins(void **state)
{
	struct fx *f = *state;
	struct store_receipt r[3];
	char note[STORE_NOTE_MAX + 1];
	struct store_stats st;

	leased_and_sent(f, 1, 1);
	r[0] = receipt(1, 1, NOW + 1000, "DELIVRD");
	assert_int_equal(store_receipts(f->st, r, 1, NOW + 1000), STORE_OK);
	assert_int_equal(r[0].result, STORE_RECEIPT_RECORDED);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_DELIVERED);
	assert_string_equal(note, "SM-provider-1 delivered DELIVRD");
	/* the same report later (a report without a time of its own is dated
	 * when it comes): a repeat, its first time kept */
	r[0] = receipt(1, 1, NOW + 1200, "DELIVRD");
	assert_int_equal(store_receipts(f->st, r, 1, NOW + 1200), STORE_OK);
	assert_int_equal(r[0].result, STORE_RECEIPT_REPEATED);
	/* the same again; an older "undelivered"; a newer one */
	r[0] = receipt(1, 1, NOW + 1000, "DELIVRD");
	r[1] = receipt(1, 0, NOW + 500, "EXPIRED");
	r[2] = receipt(1, 0, NOW + 2000, "UNDELIV");
	snprintf(r[2].error, sizeof(r[2].error), "30003");
	assert_int_equal(store_receipts(f->st, r, 3, NOW + 2000), STORE_OK);
	assert_int_equal(r[0].result, STORE_RECEIPT_REPEATED);
	assert_int_equal(r[1].result, STORE_RECEIPT_OLDER);
	assert_int_equal(r[2].result, STORE_RECEIPT_RECORDED);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_UNDELIVERED);
	assert_string_equal(note, "SM-provider-1 undelivered UNDELIV error 30003");
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_UNDELIVERED], 1);
	assert_int_equal(st.count[STORE_STATE_SENT], 0);
	verified(f);
}

static void an_unknown_message_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct store_receipt r = receipt(77, 1, NOW, "DELIVRD");

	assert_int_equal(store_receipts(f->st, &r, 1, NOW), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_UNKNOWN);
	verified(f);
}

static void a_report_before_its_send_is_recorded_waits_for_it(void **state)
{
	struct fx *f = *state;
	struct store_receipt r = receipt(1, 1, NOW + 5, "DELIVRD");
	struct store_outcome o;

	leased_and_sent(f, 1, 0); /* in flight */
	snprintf(r.provider_id, sizeof(r.provider_id), "SM-early");
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 5), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_HELD);
	assert_int_equal(stats(f->st).receipts_held, 1);
	verified(f);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM-early");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	assert_int_equal(o.final_state, STORE_STATE_SENT); /* what dispatch did */
	assert_int_equal(state_of(f, 1, NULL, 0), STORE_STATE_DELIVERED);
	assert_int_equal(stats(f->st).receipts_held, 0);
	verified(f);
}

static void a_report_for_a_retry_stops_it(void **state)
{
	struct fx *f = *state;
	struct store_receipt r = receipt(1, 1, NOW + 5, "DELIVRD");
	struct store_outcome o;
	char note[STORE_NOTE_MAX + 1];

	leased_and_sent(f, 1, 0);
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 1000, "timeout");
	o.ambiguous = 1; /* it may have gone out: it did */
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	snprintf(r.provider_id, sizeof(r.provider_id), "SM-1");
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 20), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_HELD);
	/* due again: not leased, delivered */
	assert_int_equal(lease(f, NOW + 2000, 4, 0, NULL), 0);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_DELIVERED);
	assert_string_equal(note, "SM-1 delivered DELIVRD");
	assert_int_equal(stats(f->st).receipts_held, 0);
	assert_int_equal(stats(f->st).waiting, 0);
	verified(f);
}

static void a_report_for_a_failed_message_records_the_truth(void **state)
{
	struct fx *f = *state;
	struct store_receipt r;
	struct store_outcome o;
	uint64_t id = 1;
	enum store_requeue_result rr;

	/* failed (the provider said so), then requeued; yet the first attempt
	 * reached the handset */
	leased_and_sent(f, 1, 0);
	o = outcome(&leased[0], STORE_OUT_FAILED, 0, "refused");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	r = receipt(1, 1, NOW + 20, "DELIVRD");
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 20), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_RECORDED);
	assert_int_equal(state_of(f, 1, NULL, 0), STORE_STATE_DELIVERED);
	assert_int_equal(store_requeue(f->st, &id, 1, NOW + 30, 0, &rr), STORE_OK);
	assert_int_equal(rr, STORE_REQUEUE_NOT_FINAL); /* delivered: nothing to requeue */
	verified(f);
}

/* A report named by batch id and recipient (id 0), as Sinch's. */
static struct store_receipt named(const char *batch, const char *to, int delivered, int64_t at)
{
	struct store_receipt r = receipt(0, delivered, at, delivered ? "Delivered" : "Failed");

	snprintf(r.provider_id, sizeof(r.provider_id), "%s", batch);
	snprintf(r.to, sizeof(r.to), "%s", to);
	return r;
}

static void a_report_named_by_batch_and_recipient_finds_its_message(void **state)
{
	struct fx *f = *state;
	struct store_outcome o[2];
	struct store_receipt r[3];
	struct store_purged p;
	char note[STORE_NOTE_MAX + 1];

	for (int i = 0; i < 2; i++) {
		struct store_new m = msg(f, i, 0, NOW + DAY, 0);

		with_text(&m, i ? "+33600000002" : "+33600000001", "text");
		assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
	}
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2);
	for (int i = 0; i < 2; i++) {
		o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "BATCH1");
		o[i].receipt_to = i ? "+33600000002" : "+33600000001";
	}
	assert_int_equal(store_finish(f->st, o, 2, NOW + 10), STORE_OK);
	/* the number with or without its "+"; one not in the batch */
	r[0] = named("BATCH1", "33600000002", 1, NOW + 100);
	r[1] = named("BATCH1", "+33600000001", 0, NOW + 100);
	r[2] = named("BATCH2", "33600000001", 1, NOW + 100);
	assert_int_equal(store_receipts(f->st, r, 3, NOW + 100), STORE_OK);
	assert_int_equal(r[0].result, STORE_RECEIPT_RECORDED);
	assert_int_equal(r[0].id, 2);
	assert_int_equal(r[1].result, STORE_RECEIPT_RECORDED);
	assert_int_equal(r[1].id, 1);
	assert_int_equal(r[2].result, STORE_RECEIPT_HELD); /* its send may be on its way */
	assert_int_equal(state_of(f, 2, note, sizeof(note)), STORE_STATE_DELIVERED);
	assert_string_equal(note, "BATCH1 delivered Delivered");
	assert_int_equal(state_of(f, 1, NULL, 0), STORE_STATE_UNDELIVERED);
	assert_int_equal(stats(f->st).receipts_held, 1);
	verified(f);
	/* the retention purges the messages, their names, and the report
	 * whose send never came */
	store_close(&f->st);
	{
		char err[256] = "";
		struct store_opts so = { .dir = f->dir, .record_ceiling = 1, .retention_ms = 1000 };

		f->st = store_open(&so, err, sizeof(err));
		if (f->st == NULL)
			fail_msg("store_open: %s", err);
	}
	assert_int_equal(store_purge(f->st, NOW + 5000, 100, &p), STORE_OK);
	assert_int_equal(p.purged, 2);
	assert_int_equal(stats(f->st).receipts_held, 0);
	r[0] = named("BATCH1", "33600000002", 1, NOW + 6000);
	assert_int_equal(store_receipts(f->st, r, 1, NOW + 6000), STORE_OK);
	assert_int_equal(r[0].result, STORE_RECEIPT_HELD); /* its name went with it */
	verified(f);
}

static void a_named_report_before_its_send_waits_for_it(void **state)
{
	struct fx *f = *state;
	struct store_receipt r = named("B9", "33612345678", 1, NOW + 5);
	struct store_outcome o;
	char note[STORE_NOTE_MAX + 1];

	leased_and_sent(f, 1, 0); /* in flight, to +33612345678 */
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 5), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_HELD);
	assert_int_equal(stats(f->st).receipts_held, 1);
	verified(f);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "B9");
	o.receipt_to = "+33612345678";
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_DELIVERED);
	assert_string_equal(note, "B9 delivered Delivered");
	assert_int_equal(stats(f->st).receipts_held, 0);
	/* and a repeat of it is a repeat */
	r = named("B9", "33612345678", 1, NOW + 5);
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 20), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_REPEATED);
	verified(f);
}

static void too_many_at_once_are_refused(void **state)
{
	struct fx *f = *state;
	static struct store_receipt r[STORE_RECEIPTS_MAX + 1];

	assert_int_equal(store_receipts(f->st, r, STORE_RECEIPTS_MAX + 1, NOW), STORE_ERROR);
}

/* ---- the outbox ---- */

static void with_outbox(struct fx *f, uint64_t max)
{
	char err[256] = "";
	struct store_opts o = { .dir = f->dir, .record_ceiling = 1, .outbox_max = max };

	store_close(&f->st);
	f->st = store_open(&o, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
}

static void no_outbox_no_outcomes(void **state)
{
	struct fx *f = *state;
	struct store_outbox_entry e[4];

	leased_and_sent(f, 2, 2);
	assert_int_equal(store_outbox_read(f->st, 0, e, 4), 0);
	assert_int_equal(stats(f->st).outbox, 0);
}

static void every_final_move_writes_its_outcome(void **state)
{
	struct fx *f = *state;
	struct store_outbox_entry e[8];
	struct store_new m[2];
	struct store_outcome o[2];
	struct store_receipt r;
	enum store_cancel_result cr;
	uint64_t id = 4;
	int more;

	with_outbox(f, 100);
	leased_and_sent(f, 2, 0);                      /* 1, 2 in flight */
	for (int i = 0; i < 2; i++) {                  /* 3 superseded on arrival by 4 */
		m[i] = msg(f, 10 + i, 0, NOW + DAY, 0);
		m[i].booking = "B7";
		m[i].booking_len = 2;
		m[i].kind = (uint8_t)(i ? STORE_KIND_CONFIRMED : STORE_KIND_RESCHEDULED);
		m[i].created_ms = NOW - (i ? 5000 : 1000);
	}
	assert_int_equal(store_ingest(f->st, m, 2, NOW), STORE_OK);
	assert_int_equal(m[1].state, STORE_STATE_SUPERSEDED);
	o[0] = outcome(&leased[0], STORE_OUT_SENT, 0, "SM-1");
	o[1] = outcome(&leased[1], STORE_OUT_FAILED, 0, "invalid number");
	assert_int_equal(store_finish(f->st, o, 2, NOW + 10), STORE_OK);
	r = receipt(1, 1, NOW + 20, "DELIVRD");
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 20), STORE_OK);
	id = m[0].id;
	assert_int_equal(store_cancel(f->st, &id, 1, NOW + 30, &cr), STORE_OK);
	assert_int_equal(store_outbox_read(f->st, 0, e, 8), 5);
	assert_int_equal(e[0].state, STORE_STATE_SUPERSEDED);
	assert_int_equal(e[0].id, m[1].id);
	assert_string_equal(e[0].booking, "B7");
	assert_string_equal(e[0].idem_key, "k11");
	assert_int_equal(e[0].kind, STORE_KIND_CONFIRMED);
	assert_int_equal(e[1].state, STORE_STATE_SENT);
	assert_string_equal(e[1].note, "SM-1");
	assert_int_equal(e[2].state, STORE_STATE_FAILED);
	assert_string_equal(e[2].note, "invalid number");
	assert_int_equal(e[3].state, STORE_STATE_DELIVERED);
	assert_int_equal(e[3].at_ms, NOW + 20);
	assert_int_equal(e[4].state, STORE_STATE_CANCELLED);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(e[i].seq, (uint64_t)i + 1);
		assert_int_equal(strlen(e[i].uid), 16);
		assert_string_equal(e[i].uid, e[0].uid);
	}
	assert_int_equal(stats(f->st).outbox, 5);
	verified(f);
	/* a batch bigger than a page of the index goes whole */
	assert_int_equal(store_outbox_done(f->st, 0, &more), STORE_OK);
	/* taken by the backend up to 3 */
	assert_int_equal(store_outbox_done(f->st, 3, &more), STORE_OK);
	assert_false(more);
	assert_int_equal(store_outbox_read(f->st, 0, e, 8), 2);
	assert_int_equal(e[0].seq, 4);
	assert_int_equal(store_outbox_read(f->st, 4, e, 8), 1);
	assert_int_equal(stats(f->st).outbox, 2);
	verified(f);
}

static void taking_many_removes_them_all(void **state)
{
	struct fx *f = *state;
	static struct store_outbox_entry e[600];
	int more;

	with_outbox(f, 100000);
	for (int round = 0; round < 64; round++) {
		struct store_outcome o[16];

		for (int i = 0; i < 16; i++) {
			struct store_new m = msg(f, round * 16 + i, 0, NOW + DAY, 0);
			char key[32];

			snprintf(key, sizeof(key), "key-%d", round * 16 + i);
			m.idem_key = key;
			m.idem_len = strlen(key);

			with_text(&m, "+33612345678", "text");
			assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
		}
		assert_int_equal(lease(f, NOW, 16, 0, NULL), 16);
		for (int i = 0; i < 16; i++)
			o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, "SM-a-longer-provider-id-0123456789");
		assert_int_equal(store_finish(f->st, o, 16, NOW + 10), STORE_OK);
	}
	assert_int_equal(store_outbox_read(f->st, 0, e, 600), 600);
	assert_int_equal(store_outbox_done(f->st, 1000, &more), STORE_OK);
	assert_false(more);
	assert_int_equal(store_outbox_read(f->st, 0, e, 600), 24);
	assert_int_equal(e[0].seq, 1001);
	assert_int_equal(stats(f->st).outbox, 24);
	verified(f);
}

static void a_full_outbox_drops_its_oldest(void **state)
{
	struct fx *f = *state;
	struct store_outbox_entry e[4];

	with_outbox(f, 2);
	leased_and_sent(f, 3, 3);
	assert_int_equal(store_outbox_read(f->st, 0, e, 4), 2);
	assert_int_equal(e[0].seq, 2);
	assert_int_equal(e[1].seq, 3);
	assert_int_equal(stats(f->st).outbox_dropped, 1);
	verified(f);
}

static void a_failed_commit_writes_no_outcome(void **state)
{
	struct fx *f = *state;
	struct store_outbox_entry e[4];
	struct store_outcome o;

	with_outbox(f, 10);
	leased_and_sent(f, 1, 0);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM-1");
	fail_next_commit = EIO;
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_ERROR);
	assert_int_equal(store_outbox_read(f->st, 0, e, 4), 0);
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	assert_int_equal(store_outbox_read(f->st, 0, e, 4), 1);
	verified(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sent_becomes_delivered_then_the_newer_report_wins,
						setup, teardown),
		cmocka_unit_test_setup_teardown(an_unknown_message_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(a_report_before_its_send_is_recorded_waits_for_it,
						setup, teardown),
		READING(a_report_before_its_send_is_recorded_waits_for_it),
		cmocka_unit_test_setup_teardown(a_report_for_a_retry_stops_it, setup, teardown),
		cmocka_unit_test_setup_teardown(a_report_for_a_failed_message_records_the_truth, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_report_named_by_batch_and_recipient_finds_its_message, setup, teardown),
		cmocka_unit_test_setup_teardown(a_named_report_before_its_send_waits_for_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(too_many_at_once_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(no_outbox_no_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(every_final_move_writes_its_outcome, setup, teardown),
		READING(every_final_move_writes_its_outcome),
		cmocka_unit_test_setup_teardown(taking_many_removes_them_all, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_outbox_drops_its_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_commit_writes_no_outcome, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
