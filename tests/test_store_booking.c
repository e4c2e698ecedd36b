/* WRAP: mdb_txn_commit */
/*
 * test_store_booking: the booking index (store/store_booking.c): a newer
 * event supersedes its booking's older waiting messages, in every order of
 * arrival; what is in flight is not recalled but superseded when it comes
 * back; a cancellation is sent or not by the rule; smsqctl cancel; the
 * ids of a booking.
 */
#include "tests/store_fx.h"

#define APPT (NOW + 2 * DAY)

/* Message n of booking b, of kind k, created at `created`. */
static struct store_new bmsg(struct fx *f, int n, const char *b, enum store_kind k, int64_t created)
{
	struct store_new m = msg(f, n, 5, APPT, 0);

	with_text(&m, "+33612345678", "text");
	m.booking = b;
	m.booking_len = strlen(b);
	m.kind = (uint8_t)k;
	m.created_ms = created;
	m.cancel_notice = STORE_NOTICE_IF_TOLD;
	return m;
}

static uint64_t put1(struct fx *f, struct store_new *m)
{
	assert_int_equal(store_ingest(f->st, m, 1, NOW), STORE_OK);
	assert_int_equal(m->result, STORE_INGEST_ACCEPTED);
	return m->id;
}



static void rescheduled_supersedes_a_waiting_confirmation(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new r = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	uint64_t cid = put1(f, &c), rid = put1(f, &r);
	char note[STORE_NOTE_MAX + 1];
	struct store_stats st;

	assert_int_equal(r.state, STORE_STATE_READY);
	assert_int_equal(r.withdrew, 1);
	assert_int_equal(state_of(f, cid, note, sizeof(note)), STORE_STATE_SUPERSEDED);
	assert_non_null(strstr(note, "superseded by message"));
	assert_int_equal(state_of(f, rid, NULL, 0), STORE_STATE_READY);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_SUPERSEDED], 1);
	assert_int_equal(st.count[STORE_STATE_READY], 1);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.superseded_ever, 1);
	assert_int_equal(st.segments_withdrawn, c.segments);
	assert_int_equal(st.oldest_waiting_id, rid);
	verified(f);
	/* only the reschedule is leased */
	assert_int_equal(lease(f, NOW, 16, 0, NULL), 1);
	assert_int_equal(leased[0].id, rid);
}

static void an_older_event_arriving_late_is_superseded_on_arrival(void **state)
{
	struct fx *f = *state;
	struct store_new r = bmsg(f, 1, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	struct store_new c = bmsg(f, 2, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	uint64_t rid = put1(f, &r), cid = put1(f, &c);
	char note[STORE_NOTE_MAX + 1];

	assert_int_equal(c.state, STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, cid, note, sizeof(note)), STORE_STATE_SUPERSEDED);
	assert_non_null(strstr(note, "on arrival"));
	assert_int_equal(state_of(f, rid, NULL, 0), STORE_STATE_READY);
	assert_int_equal(stats(f->st).waiting, 1);
	verified(f);
}

static void one_batch_is_judged_in_order(void **state)
{
	struct fx *f = *state;
	struct store_new m[3] = {
		bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000),
		bmsg(f, 2, "B2", STORE_KIND_CONFIRMED, NOW - 4000),
		bmsg(f, 3, "B1", STORE_KIND_RESCHEDULED, NOW - 1000),
	};

	assert_int_equal(store_ingest(f->st, m, 3, NOW), STORE_OK);
	assert_int_equal(state_of(f, m[0].id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, m[1].id, NULL, 0), STORE_STATE_READY);
	assert_int_equal(state_of(f, m[2].id, NULL, 0), STORE_STATE_READY);
	verified(f);
}

static void equal_times_are_neither_newer_nor_older(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 1000);
	struct store_new r = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);

	put1(f, &c);
	put1(f, &r);
	assert_int_equal(c.state, STORE_STATE_READY);
	assert_int_equal(r.state, STORE_STATE_READY);
	assert_int_equal(stats(f->st).waiting, 2);
}

static void other_bookings_are_left_alone(void **state)
{
	struct fx *f = *state;
	/* "B1" is a prefix of "B10": the separator keeps them apart */
	struct store_new a = bmsg(f, 1, "B10", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new b = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	struct store_new n = bmsg(f, 3, "", STORE_KIND_CONFIRMED, NOW - 9000);
	struct store_new n2 = bmsg(f, 4, "", STORE_KIND_RESCHEDULED, NOW - 100);

	put1(f, &a);
	put1(f, &b);
	put1(f, &n);
	put1(f, &n2);
	assert_int_equal(stats(f->st).waiting, 4);
	verified(f);
}

static void a_duplicate_key_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new r = bmsg(f, 1, "B1", STORE_KIND_RESCHEDULED, NOW - 1000); /* same key */
	uint64_t cid = put1(f, &c);

	assert_int_equal(store_ingest(f->st, &r, 1, NOW), STORE_OK);
	assert_int_equal(r.result, STORE_INGEST_DUPLICATE);
	assert_int_equal(r.id, cid);
	assert_int_equal(state_of(f, cid, NULL, 0), STORE_STATE_READY);
	verified(f);
}

static void reminders_take_back_only_reminders(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 9000);
	struct store_new r1 = bmsg(f, 2, "B1", STORE_KIND_REMINDER, NOW - 5000);
	struct store_new r2 = bmsg(f, 3, "B1", STORE_KIND_REMINDER, NOW - 4000);
	struct store_new old_c = bmsg(f, 4, "B1", STORE_KIND_CONFIRMED, NOW - 9500);
	struct store_new rs = bmsg(f, 5, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);

	r1.not_before_ms = r2.not_before_ms = NOW + DAY; /* reminders wait for their day */
	put1(f, &c);
	put1(f, &r1);
	put1(f, &r2);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_READY);
	assert_int_equal(state_of(f, r1.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, r2.id, NULL, 0), STORE_STATE_DELAYED);
	/* an older confirmation is not stale because of a newer reminder,
	 * but it is older than c: c supersedes it on arrival */
	put1(f, &old_c);
	assert_int_equal(old_c.state, STORE_STATE_SUPERSEDED);
	/* a reschedule takes back the confirmation and the delayed reminder */
	put1(f, &rs);
	assert_int_equal(rs.withdrew, 2);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, r2.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(stats(f->st).waiting, 1);
	verified(f);
}

static void in_flight_is_not_recalled(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new r = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	struct store_outcome o;

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	put1(f, &r);
	assert_int_equal(r.withdrew, 0);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_INFLIGHT);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SENT);
	assert_int_equal(state_of(f, r.id, NULL, 0), STORE_STATE_READY);
	verified(f);
}

static void a_retry_is_superseded_when_it_comes_due(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new r = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	struct store_outcome o;
	size_t n;

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 5000, "throttled");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	put1(f, &r); /* the retry is delayed to a time its record does not know */
	assert_int_equal(r.withdrew, 0);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_DELAYED);
	n = lease(f, NOW + 6000, 16, 0, NULL);
	assert_int_equal(n, 1);
	assert_int_equal(leased[0].id, r.id);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(stats(f->st).superseded_ever, 1);
	verified(f);
}

static void a_release_is_superseded(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new r = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	struct store_outcome o;

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	put1(f, &r);
	o = outcome(&leased[0], STORE_OUT_RELEASE, 0, NULL);
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	assert_true(o.applied);
	assert_int_equal(o.final_state, STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(stats(f->st).attempts, 0);
	verified(f);
}

static void a_lease_that_ran_out_is_superseded(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new r = bmsg(f, 2, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	put1(f, &r);
	/* the worker died: its lease runs out 30 s later */
	assert_int_equal(lease(f, NOW + 31000, 16, 0, NULL), 1);
	assert_int_equal(leased[0].id, r.id);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	verified(f);
}

/* ---- cancellations ---- */

static void cancel_after_a_waiting_confirmation_sends_nothing(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new x = bmsg(f, 2, "B1", STORE_KIND_CANCELLED, NOW - 1000);
	char note[STORE_NOTE_MAX + 1];

	put1(f, &c);
	put1(f, &x);
	assert_int_equal(x.withdrew, 2);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, x.id, note, sizeof(note)), STORE_STATE_SUPERSEDED);
	assert_non_null(strstr(note, "reached the patient"));
	assert_int_equal(stats(f->st).waiting, 0);
	assert_int_equal(stats(f->st).oldest_waiting_id, 0);
	verified(f);
}

static void cancel_sent_always_when_configured(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new x = bmsg(f, 2, "B1", STORE_KIND_CANCELLED, NOW - 1000);

	x.cancel_notice = STORE_NOTICE_ALWAYS;
	put1(f, &c);
	put1(f, &x);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_READY);
	verified(f);
}

static void cancel_after_a_sent_confirmation_is_sent(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new x = bmsg(f, 2, "B1", STORE_KIND_CANCELLED, NOW - 1000);
	struct store_outcome o;

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	put1(f, &x);
	assert_int_equal(x.state, STORE_STATE_READY);
	assert_int_equal(x.withdrew, 0);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_READY);
}

static void cancel_while_the_confirmation_is_in_flight_is_sent(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new x = bmsg(f, 2, "B1", STORE_KIND_CANCELLED, NOW - 1000);

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	put1(f, &x);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_INFLIGHT);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_READY);
}

static void cancel_after_an_ambiguous_retry_is_sent(void **state)
{
	struct fx *f = *state;
	struct store_new c = bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new x = bmsg(f, 2, "B1", STORE_KIND_CANCELLED, NOW - 1000);
	struct store_new urgent = bmsg(f, 3, "B9", STORE_KIND_CONFIRMED, NOW);
	struct store_outcome o;

	put1(f, &c);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_RETRY, NOW + 10, "timeout");
	o.ambiguous = 1; /* the provider may have sent it */
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	urgent.priority = 9;
	put1(f, &urgent);
	/* c is made ready again, the more urgent message leased */
	assert_int_equal(lease(f, NOW + 20, 1, 0, NULL), 1);
	assert_int_equal(leased[0].id, urgent.id);
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_READY);
	put1(f, &x);
	/* c is not sent again, but the patient may have it: x is sent */
	assert_int_equal(state_of(f, c.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_READY);
	verified(f);
}

static void cancel_first_then_its_confirmation_sends_nothing(void **state)
{
	struct fx *f = *state;
	struct store_new x = bmsg(f, 1, "B1", STORE_KIND_CANCELLED, NOW - 1000);
	struct store_new c = bmsg(f, 2, "B1", STORE_KIND_CONFIRMED, NOW - 5000);

	put1(f, &x);
	assert_int_equal(x.state, STORE_STATE_READY); /* nothing known of the booking yet */
	put1(f, &c);
	assert_int_equal(c.state, STORE_STATE_SUPERSEDED);
	assert_int_equal(c.withdrew, 2);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_SUPERSEDED);
	assert_int_equal(stats(f->st).waiting, 0);
	verified(f);
}

static void cancel_first_then_its_confirmation_always(void **state)
{
	struct fx *f = *state;
	struct store_new x = bmsg(f, 1, "B1", STORE_KIND_CANCELLED, NOW - 1000);
	struct store_new c = bmsg(f, 2, "B1", STORE_KIND_CONFIRMED, NOW - 5000);

	x.cancel_notice = c.cancel_notice = STORE_NOTICE_ALWAYS;
	put1(f, &x);
	put1(f, &c);
	assert_int_equal(c.state, STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_READY);
	verified(f);
}

static void cancel_sent_then_its_confirmation_arrives(void **state)
{
	struct fx *f = *state;
	struct store_new x = bmsg(f, 1, "B1", STORE_KIND_CANCELLED, NOW - 1000);
	struct store_new c = bmsg(f, 2, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_outcome o;

	put1(f, &x);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	put1(f, &c);
	assert_int_equal(c.state, STORE_STATE_SUPERSEDED);
	assert_int_equal(state_of(f, x.id, NULL, 0), STORE_STATE_SENT);
	verified(f);
}

/* ---- store_cancel, store_booking ---- */

static void operator_cancel(void **state)
{
	struct fx *f = *state;
	struct store_new m[4] = {
		bmsg(f, 1, "B1", STORE_KIND_CONFIRMED, NOW - 5000),
		bmsg(f, 2, "B2", STORE_KIND_CONFIRMED, NOW - 5000),
		bmsg(f, 3, "B3", STORE_KIND_CONFIRMED, NOW - 5000),
		bmsg(f, 4, "B4", STORE_KIND_REMINDER, NOW - 5000),
	};
	enum store_cancel_result res[5];
	uint64_t ids[5];
	struct store_outcome o;
	struct store_stats st;
	char note[STORE_NOTE_MAX + 1];

	m[3].not_before_ms = NOW + DAY;
	assert_int_equal(store_ingest(f->st, m, 4, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 2, 0, NULL), 2); /* m[0] and m[1] */
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	ids[0] = m[0].id;  /* sent */
	ids[1] = m[1].id;  /* in flight */
	ids[2] = m[2].id;  /* ready */
	ids[3] = m[3].id;  /* delayed */
	ids[4] = 999;      /* unknown */
	assert_int_equal(store_cancel(f->st, ids, 5, NOW + 20, res), STORE_OK);
	assert_int_equal(res[0], STORE_CANCEL_FINAL);
	assert_int_equal(res[1], STORE_CANCEL_IN_FLIGHT);
	assert_int_equal(res[2], STORE_CANCELLED);
	assert_int_equal(res[3], STORE_CANCELLED);
	assert_int_equal(res[4], STORE_CANCEL_NOT_FOUND);
	assert_int_equal(state_of(f, m[2].id, note, sizeof(note)), STORE_STATE_CANCELLED);
	assert_string_equal(note, "cancelled by an operator");
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_CANCELLED], 2);
	assert_int_equal(st.cancelled_ever, 2);
	assert_int_equal(st.waiting, 1);
	verified(f);
	/* again: already final */
	assert_int_equal(store_cancel(f->st, ids + 2, 1, NOW + 30, res), STORE_OK);
	assert_int_equal(res[0], STORE_CANCEL_FINAL);
	assert_int_equal(store_cancel(f->st, ids, STORE_CANCEL_MAX + 1, NOW, res), STORE_ERROR);
}

static void the_ids_of_a_booking_oldest_event_first(void **state)
{
	struct fx *f = *state;
	struct store_new a = bmsg(f, 1, "B1", STORE_KIND_RESCHEDULED, NOW - 1000);
	struct store_new b = bmsg(f, 2, "B1", STORE_KIND_CONFIRMED, NOW - 5000);
	struct store_new c = bmsg(f, 3, "B10", STORE_KIND_CONFIRMED, NOW - 9000);
	uint64_t ids[4];

	put1(f, &a);
	put1(f, &b);
	put1(f, &c);
	assert_int_equal(store_booking(f->st, "B1", 2, ids, 4), 2);
	assert_int_equal(ids[0], b.id);
	assert_int_equal(ids[1], a.id);
	assert_int_equal(store_booking(f->st, "B1", 2, ids, 1), 2); /* more than max */
	assert_int_equal(store_booking(f->st, "B", 1, ids, 4), 0);
	assert_int_equal(store_booking(f->st, "", 0, ids, 4), -1);
	assert_int_equal(store_booking(f->st, "a\0b", 3, ids, 4), -1);
}

static void many_messages_of_one_booking(void **state)
{
	struct fx *f = *state;
	uint64_t ids[128];
	struct store_new m;
	int i;

	/* more than a chunk of reminders, then a reschedule: all taken back */
	for (i = 0; i < 70; i++) {
		m = bmsg(f, i, "B1", STORE_KIND_REMINDER, NOW - 100000 + i);
		m.created_ms = NOW - 100000 + i;
		put1(f, &m);
	}
	assert_int_equal(stats(f->st).waiting, 1); /* each reminder took back the one before */
	m = bmsg(f, 100, "B1", STORE_KIND_RESCHEDULED, NOW - 10);
	put1(f, &m);
	assert_int_equal(m.withdrew, 1);
	assert_int_equal(stats(f->st).waiting, 1);
	assert_int_equal(store_booking(f->st, "B1", 2, ids, 128), 71);
	assert_int_equal(ids[70], m.id);
	/* an old reminder arriving now is stale: a newer chunk away */
	m = bmsg(f, 101, "B1", STORE_KIND_REMINDER, NOW - 200000);
	put1(f, &m);
	assert_int_equal(m.state, STORE_STATE_SUPERSEDED);
	verified(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rescheduled_supersedes_a_waiting_confirmation, setup, teardown),
		cmocka_unit_test_setup_teardown(an_older_event_arriving_late_is_superseded_on_arrival, setup, teardown),
		cmocka_unit_test_setup_teardown(one_batch_is_judged_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(equal_times_are_neither_newer_nor_older, setup, teardown),
		cmocka_unit_test_setup_teardown(other_bookings_are_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(a_duplicate_key_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(reminders_take_back_only_reminders, setup, teardown),
		cmocka_unit_test_setup_teardown(in_flight_is_not_recalled, setup, teardown),
		cmocka_unit_test_setup_teardown(a_retry_is_superseded_when_it_comes_due, setup, teardown),
		cmocka_unit_test_setup_teardown(a_release_is_superseded, setup, teardown),
		cmocka_unit_test_setup_teardown(a_lease_that_ran_out_is_superseded, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_after_a_waiting_confirmation_sends_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_sent_always_when_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_after_a_sent_confirmation_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_while_the_confirmation_is_in_flight_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_after_an_ambiguous_retry_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_first_then_its_confirmation_sends_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_first_then_its_confirmation_always, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_sent_then_its_confirmation_arrives, setup, teardown),
		cmocka_unit_test_setup_teardown(operator_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(the_ids_of_a_booking_oldest_event_first, setup, teardown),
		cmocka_unit_test_setup_teardown(many_messages_of_one_booking, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
