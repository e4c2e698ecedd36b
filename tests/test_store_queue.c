/* WRAP: mdb_txn_commit */
/*
 * test_store_queue: the queue's moves (store/store_queue.c): ingest and its
 * duplicates, the indexes' order, lease, outcomes, retries, the low mark.
 */
#include "tests/store_fx.h"

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

/* store_requeue(): failed and expired messages back in the queue, the
 * others left alone, a passed appointment only when forced (its expiry
 * rewritten), counters and the low mark kept exact. */
static void requeue_puts_failed_and_expired_back(void **state)
{
	struct fx *f = *state;
	struct store_new b[4] = {
		msg(f, 1, 0, NOW + DAY, 0),      /* failed below */
		msg(f, 2, 0, NOW + DAY, 0),      /* sent below */
		msg(f, 3, 0, NOW + 1000, 0),     /* expires at its appointment, NOW + 1 s */
		msg(f, 4, 0, NOW + 2 * DAY, 0),  /* stays ready */
	};
	struct store_outcome o[2];
	enum store_requeue_result res[5];
	uint64_t ids[5];
	size_t expired = 0;
	struct store_stats st;
	struct store_msg m;

	for (int i = 0; i < 4; i++)
		with_text(&b[i], "+33612345678", "hello");
	b[0].segments = 2;
	assert_int_equal(store_ingest(f->st, b, 4, NOW), STORE_OK);
	/* At NOW + 5 s: k3 expires at the lease; k1 and k2 leased. */
	assert_int_equal(lease(f, NOW + 5000, 2, 0, &expired), 2);
	assert_int_equal(expired, 1);
	o[0] = outcome(&leased[0], STORE_OUT_FAILED, 0, "21211 invalid");
	o[1] = outcome(&leased[1], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(leased[0].id, b[0].id);
	assert_int_equal(store_finish(f->st, o, 2, NOW + 6000), STORE_OK);
	st = stats(f->st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.segments_waiting, 0); /* k4 has no segments set: 0 */

	ids[0] = b[0].id; ids[1] = b[1].id; ids[2] = b[2].id; ids[3] = b[3].id; ids[4] = 999;
	assert_int_equal(store_requeue(f->st, ids, 5, NOW + 7000, 0, res), STORE_OK);
	assert_int_equal(res[0], STORE_REQUEUED);
	assert_int_equal(res[1], STORE_REQUEUE_NOT_FINAL);   /* sent */
	assert_int_equal(res[2], STORE_REQUEUE_PASSED);      /* its appointment passed */
	assert_int_equal(res[3], STORE_REQUEUE_NOT_FINAL);   /* ready */
	assert_int_equal(res[4], STORE_REQUEUE_NOT_FOUND);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_FAILED], 0);
	assert_int_equal(st.count[STORE_STATE_DELAYED], 1);
	assert_int_equal(st.count[STORE_STATE_EXPIRED], 1);
	assert_int_equal(st.waiting, 2);
	assert_int_equal(st.segments_waiting, 2);
	assert_int_equal(st.oldest_waiting_id, b[0].id); /* the low mark came back */
	assert_int_equal(store_verify(f->st), 0);
	assert_int_equal(store_get(f->st, b[0].id, &m), STORE_OK);
	assert_int_equal(m.state, STORE_STATE_DELAYED);
	assert_int_equal(m.attempts, 0);
	assert_string_equal(m.note, "requeued by an operator");
	free(m.event);
	free(m.text);

	/* Forced: the expired one too, its expiry now + the grace. */
	assert_int_equal(store_requeue(f->st, &ids[2], 1, NOW + 8000, 1, res), STORE_OK);
	assert_int_equal(res[0], STORE_REQUEUED);
	assert_int_equal(store_get(f->st, b[2].id, &m), STORE_OK);
	assert_int_equal(m.expires_ms, NOW + 8000 + STORE_REQUEUE_GRACE_MS);
	free(m.event);
	free(m.text);
	assert_int_equal(store_verify(f->st), 0);

	/* Both are leased again, most urgent first, with their texts, as new. */
	assert_int_equal(lease(f, NOW + 9000, 4, 0, &expired), 3);
	assert_int_equal(expired, 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(leased[i].attempts, 1);
		assert_string_equal(leased[i].to, "+33612345678");
	}
	assert_int_equal(store_verify(f->st), 0);

	/* Too many, or a commit that fails: refused, nothing changed. */
	assert_int_equal(store_requeue(f->st, ids, STORE_REQUEUE_MAX + 1, NOW, 0, res), STORE_ERROR);
	fail_next_commit = EIO;
	o[0] = outcome(&leased[1], STORE_OUT_FAILED, 0, "x"); /* k1: its appointment ahead */
	assert_int_equal(leased[1].id, b[0].id);
	assert_int_equal(store_finish(f->st, o, 1, NOW + 9500), STORE_ERROR);
	assert_int_equal(store_finish(f->st, o, 1, NOW + 9500), STORE_OK);
	fail_next_commit = EIO;
	assert_int_equal(store_requeue(f->st, &o[0].id, 1, NOW + 9600, 0, res), STORE_ERROR);
	fail_next_commit = 0;
	assert_int_equal(stats(f->st).count[STORE_STATE_FAILED], 1);
	assert_int_equal(store_requeue(f->st, &o[0].id, 1, NOW + 9600, 0, res), STORE_OK);
	assert_int_equal(res[0], STORE_REQUEUED);
	assert_int_equal(store_verify(f->st), 0);
}

/* An admission hook that refuses k2..k9 as limit 3 (the velocity hook's
 * way); undo counts what it takes back. */
static int undone;

static int refuse_some(void *arg, const struct store_new *m, int64_t now_ms)
{
	(void)arg;
	(void)now_ms;
	return m->idem_len == 2 && m->idem_key[1] >= '2' ? 3 : 0;
}

static void undo_count(void *arg, const struct store_new *m, int64_t now_ms)
{
	(void)arg;
	(void)m;
	(void)now_ms;
	undone++;
}

static const char *limit_name(int code)
{
	return code == 3 ? "velocity.range_per_minute" : "?";
}

/* Refused: nothing stored.  Held: stored under its key, in no queue, never
 * leased, not waiting and not final; released by a requeue, withdrawn by a
 * cancel, expired at its expiry; the hook's undo only for what it let
 * through. */
static void admission_refuses_or_holds(void **state)
{
	struct fx *f = *state;
	struct store_admit a = { refuse_some, undo_count, NULL, 0, limit_name };
	struct store_new b[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0) };
	enum store_requeue_result rq;
	enum store_cancel_result cr;
	struct store_stats st;
	struct store_due due;
	size_t expired = 0;
	char note[STORE_NOTE_MAX + 1];
	uint64_t id;

	for (int i = 0; i < 2; i++)
		with_text(&b[i], "+33612345678", "hello");
	b[1].segments = 2;
	store_set_admit(f->st, &a);
	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	assert_int_equal(b[0].result, STORE_INGEST_ACCEPTED);
	assert_int_equal(b[1].result, STORE_INGEST_REFUSED);
	assert_int_equal(b[1].refused, 3);
	assert_int_equal(stats(f->st).total, 1);
	assert_int_equal(store_find_key(f->st, "k2", 2, &id), STORE_NOTFOUND);

	/* Held: k2 and k3 (k3 expires in a minute); k1 is a duplicate. */
	a.hold = 1;
	store_set_admit(f->st, &a);
	struct store_new h[3] = { msg(f, 2, 0, NOW + DAY, 0), msg(f, 3, 0, NOW + 60000, 0),
				  msg(f, 1, 0, NOW + DAY, 0) };
	for (int i = 0; i < 3; i++)
		with_text(&h[i], "+33612345678", "hello");
	h[0].segments = 2;
	assert_int_equal(store_ingest(f->st, h, 3, NOW), STORE_OK);
	assert_int_equal(h[0].result, STORE_INGEST_HELD);
	assert_int_equal(h[0].refused, 3);
	assert_true(h[0].id > b[0].id);
	assert_int_equal(h[1].result, STORE_INGEST_HELD);
	assert_int_equal(h[2].result, STORE_INGEST_DUPLICATE);
	assert_int_equal(state_of(f, h[0].id, note, sizeof(note)), STORE_STATE_HELD);
	assert_string_equal(note, "held: velocity.range_per_minute");
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_HELD], 2);
	assert_int_equal(st.waiting, 1);          /* k1 only */
	assert_int_equal(st.segments_waiting, 0); /* k1 has none; k2's 2 are held */
	assert_int_equal(store_verify(f->st), 0);
	/* A resend is a duplicate. */
	struct store_new again = msg(f, 2, 0, NOW + DAY, 0);
	with_text(&again, "+33612345678", "hello");
	assert_int_equal(store_ingest(f->st, &again, 1, NOW), STORE_OK);
	assert_int_equal(again.result, STORE_INGEST_DUPLICATE);
	assert_int_equal(again.id, h[0].id);
	/* Not due, not leased. */
	assert_int_equal(store_due_before(f->st, NOW + 2 * DAY, 1000, &due), STORE_OK);
	assert_int_equal(due.due, 1);
	assert_int_equal(lease(f, NOW + 1000, 8, 0, &expired), 1);
	assert_int_equal(leased[0].id, b[0].id);
	assert_int_equal(leased[0].released, 0);
	/* A failed commit: undo for k6 only (k7 held). */
	undone = 0;
	struct store_new u[2] = { msg(f, 16, 0, NOW + DAY, 0), msg(f, 7, 0, NOW + DAY, 0) };
	fail_next_commit = EIO;
	assert_int_equal(store_ingest(f->st, u, 2, NOW), STORE_ERROR);
	fail_next_commit = 0;
	assert_int_equal(undone, 1);

	/* Released: due now, sent as new. */
	assert_int_equal(store_requeue(f->st, &h[0].id, 1, NOW + 2000, 0, &rq), STORE_OK);
	assert_int_equal(rq, STORE_REQUEUED);
	assert_int_equal(state_of(f, h[0].id, note, sizeof(note)), STORE_STATE_DELAYED);
	assert_string_equal(note, "released by an operator");
	assert_int_equal(stats(f->st).segments_waiting, 2);
	assert_int_equal(lease(f, NOW + 3000, 8, 0, &expired), 1);
	assert_int_equal(leased[0].id, h[0].id);
	assert_int_equal(leased[0].released, 1); /* not asked to the limits again */
	assert_string_equal(leased[0].to, "+33612345678");
	assert_int_equal(store_verify(f->st), 0);

	/* k3 expires held at its expiry. */
	assert_int_equal(lease(f, NOW + 61000, 8, 0, &expired), 2); /* two leases ran out */
	assert_int_equal(expired, 1);
	assert_int_equal(state_of(f, h[1].id, NULL, 0), STORE_STATE_EXPIRED);

	/* Another held one, cancelled. */
	struct store_new c = msg(f, 8, 0, NOW + DAY, 0);
	with_text(&c, "+33612345678", "hello");
	assert_int_equal(store_ingest(f->st, &c, 1, NOW + 62000), STORE_OK);
	assert_int_equal(c.result, STORE_INGEST_HELD);
	assert_int_equal(store_cancel(f->st, &c.id, 1, NOW + 63000, &cr), STORE_OK);
	assert_int_equal(cr, STORE_CANCELLED);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_HELD], 0);
	assert_int_equal(st.count[STORE_STATE_CANCELLED], 1);
	assert_int_equal(store_verify(f->st), 0);
	store_set_admit(f->st, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(requeue_puts_failed_and_expired_back, setup, teardown),
		cmocka_unit_test_setup_teardown(admission_refuses_or_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(ingest_assigns_ids_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(duplicates_across_and_within_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(ready_index_is_most_urgent_first, setup, teardown),
		cmocka_unit_test_setup_teardown(delayed_index_is_soonest_first_and_pending_oldest_first,
						setup, teardown),
		cmocka_unit_test_setup_teardown(two_sent_for_one_message_say_what_they_found, setup,
						teardown),
		cmocka_unit_test_setup_teardown(out_of_bounds_messages_are_refused, setup, teardown),
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
		cmocka_unit_test_setup_teardown(a_lease_says_when_the_next_delayed_message_is_due,
						setup, teardown),
		READING(a_lease_says_when_the_next_delayed_message_is_due),
		cmocka_unit_test_setup_teardown(a_lease_that_leaves_due_messages_says_now, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_lease_that_moves_nothing_commits_nothing, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
