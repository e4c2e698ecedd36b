/* WRAP: mdb_txn_commit */
/*
 * test_store_record: the schema (store/store_record.c): urgency keys, the
 * sending copy, schema 1, 2 and 3 stores, damaged records, state names.
 */
#include "tests/store_fx.h"

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

/* Rewrite every record as schema 3 and 4 wrote it (a 56-byte header:
 * schema 5's 72 without kind, booking_len and stored_ms, type 0x54; these
 * records have no booking id), and drop the booking index they did not
 * have. */
static void make_records_3(MDB_txn *txn)
{
	MDB_dbi msgdb, booking;
	MDB_cursor *cur;
	MDB_val k, v;

	assert_int_equal(mdb_dbi_open(txn, "msg", 0, &msgdb), 0);
	assert_int_equal(mdb_cursor_open(txn, msgdb, &cur), 0);
	for (int op = MDB_FIRST; mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		unsigned char rec[1024], key[8];

		assert_true(k.mv_size == 8 && v.mv_size > 72 && v.mv_size <= sizeof(rec));
		memcpy(rec, v.mv_data, v.mv_size);
		memcpy(key, k.mv_data, 8);
		assert_int_equal(rec[0], 0x57);
		assert_int_equal(rec[58] | rec[59] << 8, 0); /* no booking id */
		rec[0] = 0x54;
		memmove(rec + 56, rec + 72, v.mv_size - 72);
		MDB_val kv = { 8, key }, rv = { v.mv_size - 16, rec };
		assert_int_equal(mdb_cursor_put(cur, &kv, &rv, MDB_CURRENT), 0);
	}
	mdb_cursor_close(cur);
	assert_int_equal(mdb_dbi_open(txn, "booking", 0, &booking), 0);
	assert_int_equal(mdb_drop(txn, booking, 1), 0);
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

	make_records_3(txn);
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

	make_records_3(txn);
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

static void expect_schema_5(MDB_txn *txn)
{
	MDB_dbi meta;
	uint32_t ver = 0;
	MDB_val k = { 7, (void *)"version" }, v;

	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_int_equal(v.mv_size, sizeof(ver));
	memcpy(&ver, v.mv_data, sizeof(ver));
	assert_int_equal(ver, 5);
}

/* What schema 4 wrote: schema 3 records, counters of seven states and
 * seven fields, no booking index, version 4. */
static void make_schema_4(MDB_txn *txn)
{
	MDB_dbi meta;
	MDB_val k = { 8, (void *)"counters" }, v;
	uint64_t c[64], old[14];

	make_records_3(txn);
	set_version(txn, 4);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_true(v.mv_size >= (16 + 7) * 8 && v.mv_size <= sizeof(c));
	memcpy(c, v.mv_data, v.mv_size);
	for (int i = 7; i < 16; i++)
		assert_int_equal(c[i], 0); /* no superseded, cancelled, undelivered... */
	memcpy(old, c, 7 * 8);
	memcpy(old + 7, c + 16, 7 * 8); /* the state slots, then the fields */
	v.mv_size = sizeof(old);
	v.mv_data = old;
	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
}

/* The counters as schema 5 first wrote them: nine states, thirteen fields. */
static void make_counters_5a(MDB_txn *txn)
{
	MDB_dbi meta;
	MDB_val k = { 8, (void *)"counters" }, v;
	uint64_t c[64], old[22];

	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	memcpy(c, v.mv_data, v.mv_size);
	memcpy(old, c, 9 * 8);
	memcpy(old + 9, c + 16, 13 * 8);
	v.mv_size = sizeof(old);
	v.mv_data = old;
	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
}

static void counters_of_the_first_schema_5_are_read(void **state)
{
	struct fx *f = *state;
	struct store_new a[2] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0) };
	struct store_outcome o;
	struct store_stats st;

	assert_int_equal(store_ingest(f->st, a, 2, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	tamper(f, make_counters_5a);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_SENT], 1);
	assert_int_equal(st.count[STORE_STATE_READY], 1);
	assert_int_equal(st.total, 2);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(store_verify(f->st), 0);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1); /* and written anew */
	assert_int_equal(store_verify(f->st), 0);
}

/* A schema 4 store is read as it is (smsqctl), then made schema 5 by the
 * pool: its counters kept, a booking index added for new messages. */
static void a_schema_4_store_is_upgraded_in_place(void **state)
{
	struct fx *f = *state;
	struct store_new a[3] = { msg(f, 1, 0, NOW + DAY, 0), msg(f, 2, 0, NOW + DAY, 0),
				  msg(f, 3, 0, NOW + DAY, 0) };
	struct store_new b[2] = { msg(f, 4, 0, NOW + DAY, 0), msg(f, 5, 0, NOW + DAY, 0) };
	struct store_opts ro = { .dir = f->dir, .read_only = 1 };
	struct store_outcome o;
	struct store_stats st;
	uint64_t ids[4];
	char err[256];
	store *r;

	assert_int_equal(store_ingest(f->st, a, 3, NOW), STORE_OK);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, 0, "SM1");
	assert_int_equal(store_finish(f->st, &o, 1, NOW + 10), STORE_OK);
	tamper(f, make_schema_4);
	r = store_open(&ro, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(store_stats(r, &st), STORE_OK);
	assert_int_equal(st.count[STORE_STATE_SENT], 1);
	assert_int_equal(st.count[STORE_STATE_READY], 2);
	assert_int_equal(st.total, 3);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(store_booking(r, "B1", 2, ids, 4), 0);
	assert_int_equal(store_verify(r), 0);
	store_close(&r);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_SENT], 1);
	assert_int_equal(st.total, 3);
	assert_int_equal(st.segments_withdrawn, 0);
	for (int i = 0; i < 2; i++) {
		b[i].booking = "B1";
		b[i].booking_len = 2;
		b[i].kind = (uint8_t)(i == 0 ? STORE_KIND_CONFIRMED : STORE_KIND_RESCHEDULED);
		b[i].created_ms = NOW - 100 + i;
	}
	assert_int_equal(store_ingest(f->st, b, 2, NOW), STORE_OK);
	st = stats(f->st);
	assert_int_equal(st.count[STORE_STATE_SUPERSEDED], 1);
	assert_int_equal(st.count[STORE_STATE_READY], 3);
	assert_int_equal(st.total, 5);
	assert_int_equal(store_verify(f->st), 0);
	store_close(&f->st);
	tamper(f, expect_schema_5);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
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
	/* the store says schema 5 now (an smsq that reads only 2 is kept out) */
	store_close(&f->st);
	tamper(f, expect_schema_5);
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
	tamper(f, expect_schema_5);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_non_null(f->st);
}

static void state_names(void **state)
{
	(void)state;
	assert_string_equal(store_state_name(STORE_STATE_DELAYED), "delayed");
	assert_string_equal(store_state_name(STORE_STATE_INFLIGHT), "inflight");
	assert_string_equal(store_state_name(STORE_STATE_EXPIRED), "expired");
	assert_string_equal(store_state_name(STORE_STATE_SUPERSEDED), "superseded");
	assert_string_equal(store_state_name(STORE_STATE_CANCELLED), "cancelled");
	assert_string_equal(store_state_name(STORE_STATE_UNDELIVERED), "undelivered");
	assert_string_equal(store_kind_name(STORE_KIND_RESCHEDULED), "rescheduled");
	assert_string_equal(store_kind_name((enum store_kind)9), "unknown");
	assert_string_equal(store_state_name((enum store_state)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_schema_1_store_is_refused_with_what_to_do, setup,
						teardown),
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
		cmocka_unit_test_setup_teardown(a_schema_3_store_is_sent_from_its_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_schema_4_store_is_upgraded_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(counters_of_the_first_schema_5_are_read, setup,
						teardown),
		cmocka_unit_test(state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
