/* WRAP: mdb_txn_commit */
/*
 * test_store_erase: personal data kept no longer than needed
 * (store/store_erase.c): a final message's number, event and text erased
 * after the personal-data window, not before, and never a waiting one's;
 * what stats, receipts and audits need kept; duplicates and bookings still
 * answered; receipts by id still recorded; numbers masked in notes and in
 * the outbox; an erased message not requeued; and none of the personal
 * bytes left anywhere in data.mdb once the free pages are zeroed.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/store_fx.h"

#include <fcntl.h>
#include <sys/stat.h>

#define HOUR (3600LL * 1000)
#define RETENTION (7 * DAY)
#define PERSONAL (2 * DAY)
#define NUMBER "+33698765432"
#define NAME "Zebulon Quaternary"
#define TEXT "Bonjour " NAME ", RDV au Centre Xylophage"

static char event_bytes[] = "\x0a\x05k-evt\x2a\x0c" NUMBER "\x32\x12" NAME;

static void reopen(struct fx *f, uint64_t outbox_max)
{
	char err[256] = "";
	struct store_opts o = { .dir = f->dir, .record_ceiling = 1, .retention_ms = RETENTION,
				.personal_ms = PERSONAL, .outbox_max = outbox_max };

	store_close(&f->st);
	f->st = store_open(&o, err, sizeof(err));
	if (f->st == NULL)
		fail_msg("store_open: %s", err);
}

static int setup_erase(void **state)
{
	int rc = setup(state);

	if (rc == 0)
		reopen(*state, 100);
	return rc;
}

/* Store n messages (keys k<first>...) with the personal fields above, a
 * booking each (b<n>); send the first `sent` of them at t, the provider
 * naming them SM<id> (indexed by number too). */
static void stored_and_sent(struct fx *f, int first, int n, int sent, int64_t t)
{
	for (int i = 0; i < n; i++) {
		struct store_new m = msg(f, first + i, 0, NOW + 30 * DAY, 0);
		char b[16];

		with_text(&m, NUMBER, TEXT);
		m.event = event_bytes;
		m.event_len = sizeof(event_bytes) - 1;
		snprintf(b, sizeof(b), "b%d", first + i);
		m.booking = b;
		m.booking_len = strlen(b);
		m.kind = STORE_KIND_CONFIRMED;
		assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
	}
	while (sent > 0) {
		size_t got = lease(f, t, sent > 16 ? 16 : (size_t)sent, 0, NULL);
		struct store_outcome o[16];
		char pid[16][16];

		assert_true(got > 0);
		for (size_t i = 0; i < got; i++) {
			snprintf(pid[i], sizeof(pid[i]), "SM%llu", (unsigned long long)leased[i].id);
			o[i] = outcome(&leased[i], STORE_OUT_SENT, 0, pid[i]);
			o[i].receipt_to = NUMBER;
		}
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

static void final_messages_are_erased_after_the_window_waiting_ones_never(void **state)
{
	struct fx *f = *state;
	struct store_purged p;
	struct store_msg m;

	stored_and_sent(f, 0, 10, 6, NOW);
	p = sweep(f, NOW + PERSONAL - 1);
	assert_int_equal(p.erased, 0);
	assert_true(p.erase_wrapped);
	p = sweep(f, NOW + PERSONAL);
	assert_int_equal(p.erased, 6);
	assert_int_equal(p.purged, 0);
	for (uint64_t id = 1; id <= 10; id++) {
		assert_int_equal(store_get(f->st, id, &m), STORE_OK);
		if (id <= 6) {
			assert_true(m.erased);
			assert_int_equal(m.state, STORE_STATE_SENT);
			assert_string_equal(m.to, "+33*******32"); /* masked as logs show it */
			assert_int_equal(strlen(m.text), 0);
			for (size_t i = 0; i < m.event_len; i++)
				assert_int_equal(((char *)m.event)[i], 0);
			assert_true(strncmp(m.note, "SM", 2) == 0); /* the provider's id, kept */
			assert_true(m.booking[0] == 'b');           /* the booking id, kept */
			assert_string_equal(m.idem_key, f->keys[id - 1]);
		} else {
			assert_false(m.erased);
			assert_string_equal(m.to, NUMBER);
			assert_string_equal(m.text, TEXT);
		}
		free(m.event);
		free(m.text);
	}
	/* the next round has nothing more to do */
	p = sweep(f, NOW + PERSONAL + HOUR);
	assert_int_equal(p.erased, 0);
	verified(f);
}

static void an_erased_message_is_still_a_duplicate_and_in_its_booking(void **state)
{
	struct fx *f = *state;
	struct store_new again;
	uint64_t ids[4];

	stored_and_sent(f, 0, 1, 1, NOW);
	assert_int_equal(sweep(f, NOW + PERSONAL).erased, 1);
	again = msg(f, 0, 0, NOW + 30 * DAY, 0);
	with_text(&again, NUMBER, TEXT);
	assert_int_equal(store_ingest(f->st, &again, 1, NOW + PERSONAL), STORE_OK);
	assert_int_equal(again.result, STORE_INGEST_DUPLICATE);
	assert_int_equal(again.id, 1);
	assert_int_equal(store_booking(f->st, "b0", 2, ids, 4), 1);
	assert_int_equal(ids[0], 1);
	verified(f);
}

static void a_receipt_by_id_is_still_recorded_one_by_number_is_not_kept(void **state)
{
	struct fx *f = *state;
	struct store_receipt r[2];
	struct store_stats st;
	char note[STORE_NOTE_MAX + 1];

	stored_and_sent(f, 0, 2, 2, NOW);
	assert_int_equal(sweep(f, NOW + PERSONAL).erased, 2);
	memset(r, 0, sizeof(r));
	r[0].id = 1;
	r[0].delivered = 1;
	r[0].at_ms = NOW + PERSONAL;
	snprintf(r[0].provider_id, sizeof(r[0].provider_id), "SM1");
	snprintf(r[0].status, sizeof(r[0].status), "DELIVRD");
	r[1] = r[0];
	r[1].id = 0; /* by the provider's id and the number: its sentby entry went */
	snprintf(r[1].provider_id, sizeof(r[1].provider_id), "SM2");
	snprintf(r[1].to, sizeof(r[1].to), NUMBER);
	assert_int_equal(store_receipts(f->st, r, 2, NOW + PERSONAL), STORE_OK);
	assert_int_equal(r[0].result, STORE_RECEIPT_RECORDED);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_DELIVERED);
	assert_int_equal(r[1].result, STORE_RECEIPT_HELD);
	assert_int_equal(stats(f->st).receipts_held, 1);
	/* held by the number no longer than the number would be kept */
	(void)sweep(f, NOW + 2 * PERSONAL + 1);
	(void)sweep(f, NOW + 2 * PERSONAL + 1);
	st = stats(f->st);
	assert_int_equal(st.receipts_held, 0);
	verified(f);
}

/* Message 1 stored, then failed with note at NOW. */
static void stored_and_failed(struct fx *f, const char *note)
{
	struct store_outcome o;

	stored_and_sent(f, 0, 1, 0, NOW);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_FAILED, 0, note);
	assert_int_equal(store_finish(f->st, &o, 1, NOW), STORE_OK);
}

static void numbers_in_notes_and_the_outbox_are_masked(void **state)
{
	struct fx *f = *state;
	struct store_outbox_entry e[4];
	char note[STORE_NOTE_MAX + 1];

	stored_and_failed(f, "21211 The 'To' number " NUMBER " is not valid");
	assert_int_equal(store_outbox_read(f->st, 0, e, 4), 1);
	assert_non_null(strstr(e[0].note, NUMBER + 1));
	assert_int_equal(sweep(f, NOW + PERSONAL).erased, 1);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_FAILED);
	assert_string_equal(note, "21211 The 'To' number +336******32 is not valid");
	assert_int_equal(store_outbox_read(f->st, 0, e, 4), 1);
	assert_string_equal(e[0].note, note);
	verified(f);
}

static void an_erased_message_is_not_requeued(void **state)
{
	struct fx *f = *state;
	enum store_requeue_result res;
	uint64_t id = 1;

	stored_and_failed(f, "refused");
	assert_int_equal(sweep(f, NOW + PERSONAL).erased, 1);
	assert_int_equal(store_requeue(f->st, &id, 1, NOW + PERSONAL, 1, &res), STORE_OK);
	assert_int_equal(res, STORE_REQUEUE_ERASED);
	assert_int_equal(state_of(f, 1, NULL, 0), STORE_STATE_FAILED);
}

static void the_erased_bytes_leave_the_file(void **state)
{
	struct fx *f = *state;
	struct store_purged p;
	size_t zeroed = 0;

	stored_and_sent(f, 0, 200, 200, NOW);
	assert_true(file_has(f, NAME));
	assert_true(file_has(f, NUMBER + 1));
	/* a round erases; the rounds after zero the pages it freed, once no
	 * snapshot can show them */
	for (int i = 0; i < 4; i++) {
		p = sweep(f, NOW + PERSONAL + i);
		zeroed += p.pages_zeroed;
	}
	assert_false(file_has(f, NAME));
	assert_false(file_has(f, "Xylophage"));
	assert_false(file_has(f, NUMBER + 1));
	assert_false(file_has(f, "98765432"));
	assert_true(zeroed > 0);
	verified(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			final_messages_are_erased_after_the_window_waiting_ones_never, setup_erase,
			teardown),
		cmocka_unit_test_setup_teardown(
			an_erased_message_is_still_a_duplicate_and_in_its_booking, setup_erase, teardown),
		cmocka_unit_test_setup_teardown(
			a_receipt_by_id_is_still_recorded_one_by_number_is_not_kept, setup_erase,
			teardown),
		cmocka_unit_test_setup_teardown(numbers_in_notes_and_the_outbox_are_masked, setup_erase,
						teardown),
		cmocka_unit_test_setup_teardown(an_erased_message_is_not_requeued, setup_erase,
						teardown),
		cmocka_unit_test_setup_teardown(the_erased_bytes_leave_the_file, setup_erase, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
