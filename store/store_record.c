/*
 * store_record: the schema (see store.h for the contract, store_impl.h for
 * the files of the store).
 *
 * DESIGN (schema 5)
 *
 * One LMDB environment (data.mdb + lock.mdb in the data directory) holds
 * ten named databases:
 *
 *   msg      id (8 bytes, big-endian)  -> record: what was stored at ingest,
 *                                         never rewritten (struct rec_hdr +
 *                                         key, event, destination, text,
 *                                         booking id)
 *   idem     idempotency key           -> id (8 bytes)
 *   ready    prio'(1) urg(8) id(8)     -> state + sending copy   due, most
 *                                         urgent first
 *   delayed  due(8) id(8)              -> state   not-before, retry, lease end
 *   done     prio'(1) urg(8) id(8)     -> state   final (sent, delivered,
 *                                                 undelivered, failed, expired,
 *                                                 superseded, cancelled)
 *   booking  booking, 0, created, id   -> kind    (store_booking.c)
 *   held     id(8), or 0xFF + a name   -> a receipt before its send's outcome
 *   sentby   provider id, 0, number    -> id(8)   a send named so by its
 *                                         reports (store_receipt.c)
 *   outbox   seq(8)                    -> an outcome   (store_receipt.c)
 *   meta     "next_id", "low_id", "outbox_seq", "uid", "map_max", "outbox_max",
 *            "scrub_passes" (store_erase.c) -> u64, "counters", "version" -> u32, "pause:<name>" -> time
 *
 * Keys are big-endian so that LMDB's byte order is numeric order; signed
 * times are biased (sign bit flipped) first.  prio' is 9 - priority, so that
 * the first key of "ready" is the most urgent message: taking the next one
 * is a cursor MDB_FIRST, O(log n) whatever the backlog.
 *
 * A message's mutable part (struct st: state, attempts, provider, due time,
 * last note) is the value of its one index entry, and the entry's database
 * is its state:
 *   delayed, inflight -> delayed[due or lease end]
 *   ready             -> ready[prio, urg]
 *   sent/failed/...   -> done[prio, urg]
 * A state change deletes one entry and writes another in one write
 * transaction (with the counters): nothing can be seen half-moved, and a
 * message is in exactly one index.  Dispatch never writes an id-keyed page:
 * it takes messages in urgency order, not id order, and a rewrite of each
 * record would dirty a page per message.  A lease batch deletes the first
 * keys of "ready" and inserts keys of one lease time into "delayed" (a few
 * adjacent pages each); a finish deletes those and inserts into "done"
 * under the ready key, as adjacent as the lease batch was.
 *
 * urg, the urgency (store_urgency_ms()): the appointment to within 1/4 of
 * how far away it was at ingest (exact under 4 hours, then steps of 1 h,
 * 6 h, 1 day, 4 days), written in the record.  Keyed by the exact
 * appointment, a batch of new messages would scatter over the whole ready
 * index, a leaf page per message; on the grid, messages of one step are in
 * id order, so a batch appends to the ends of a few dozen steps.  The order
 * that matters is kept: tomorrow morning before next month, and to the
 * millisecond for appointments hours away; a message goes out at most a
 * quarter of its lead (at ingest) ahead of one with an earlier appointment.
 * A schema 2 record has no urg: it is keyed by its appointment
 * (rec_parse()), so a schema 2 store is read as it is; a writer marks it
 * schema 4 at open, and new records are schema 3 beside the old.
 *
 * The sending copy (schema 4): a ready entry's value is its state, then
 * what a lease hands to the sender (struct copy_hdr: creation and expiry
 * times, segments; destination, text), unless that would make the value
 * larger than STORE_COPY_MAX (a long text is read from the record).  So a
 * lease reads the first pages of "ready" and nothing else, instead of one
 * record per message picked from all over the map (a cache miss, often a
 * page fault, each, with millions waiting).  The price is ~260 bytes more
 * per waiting message in "ready", written at ingest beside the entry it
 * already wrote.  Only ingest and promote() (delayed to ready: they read
 * the record) write a copy; an entry put back to ready by a release, or
 * written by schema 3, has none and is sent from its record.  The copy is
 * never changed: the record it copies is never rewritten, and smsqctl check
 * compares the two.
 *
 * Finding a message by id: its record gives (priority, urgency), hence
 * its ready and done keys; a message in neither is in "delayed" under a time
 * the record does not know, found by a scan of that index.  Only smsqctl and
 * a worker's late "sent" for a lease that ran out take that path.
 *
 * The oldest waiting message (stats, "pending" walk): every id below
 * meta "low_id" is final; write transactions that make messages final move
 * the mark past final ids, a few per message, so the first waiting id is at
 * the mark or a few ids after it.
 *
 * Records and state values carry a type byte; an unknown one is reported by
 * store_get()/store_verify() instead of being guessed at.  A schema 1 store
 * is refused at open with what to do.
 */
#include "store/store_impl.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const char *const state_names[STORE_STATE_COUNT] = {
	"delayed", "ready", "inflight", "sent", "delivered", "failed", "expired", "superseded",
	"cancelled", "undelivered", "held",
};

const char *store_state_name(enum store_state st)
{
	if ((unsigned)st >= STORE_STATE_COUNT)
		return "unknown";
	return state_names[st];
}

void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Signed time to an unsigned value of the same order. */
static uint64_t bias(int64_t t)
{
	return (uint64_t)t ^ (1ULL << 63);
}

/* The time at p in a key (bias()ed, big-endian). */
int64_t key_time(const void *p)
{
	return (int64_t)(get_be64(p) ^ (1ULL << 63));
}

static void ready_key(unsigned char k[READY_KEY_LEN], uint8_t priority, int64_t appt_ms,
		      uint64_t id)
{
	k[0] = (unsigned char)(STORE_PRIORITY_MAX - priority);
	put_be64(k + 1, bias(appt_ms));
	put_be64(k + 9, id);
}

static void delayed_key(unsigned char k[DELAYED_KEY_LEN], int64_t due_ms, uint64_t id)
{
	put_be64(k, bias(due_ms));
	put_be64(k + 8, id);
}

#define HOUR_MS (3600LL * 1000)

int64_t store_urgency_ms(int64_t appointment_ms, int64_t now_ms)
{
	/* How far away, and the step of the grid there (0: exact). */
	static const struct {
		int64_t from_ms, step_ms;
	} grid[] = {
		{ 16 * 24 * HOUR_MS, 4 * 24 * HOUR_MS },
		{ 4 * 24 * HOUR_MS, 24 * HOUR_MS },
		{ 24 * HOUR_MS, 6 * HOUR_MS },
		{ 4 * HOUR_MS, HOUR_MS },
	};
	int64_t lead = appointment_ms - now_ms;

	if (appointment_ms <= 0 || now_ms <= 0 || lead < 0)
		return appointment_ms; /* not a time the grid reads (validation refuses these) */
	for (size_t i = 0; i < sizeof(grid) / sizeof(grid[0]); i++) {
		int64_t floor_ms = appointment_ms - appointment_ms % grid[i].step_ms;
		int64_t edge_ms = now_ms + grid[i].from_ms;

		/* Not below where this band starts: an appointment further
		 * away never sorts before one of a finer band. */
		if (lead >= grid[i].from_ms)
			return floor_ms > edge_ms ? floor_ms : edge_ms;
	}
	return appointment_ms;
}

int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v;
	int rc = mdb_get(txn, dbi, &k, &v);

	*out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != sizeof(*out))
		return MDB_CORRUPTED; /* never guess an id counter */
	if (rc == 0)
		memcpy(out, v.mv_data, sizeof(*out));
	return rc;
}

int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v = { sizeof(val), &val };

	return mdb_put(txn, dbi, &k, &v, 0);
}

int get_counters(MDB_txn *txn, MDB_dbi dbi, struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v;
	int rc = mdb_get(txn, dbi, &k, &v);

	memset(c, 0, sizeof(*c));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size == COUNTERS_V4_SIZE || v.mv_size == COUNTERS_V5A_SIZE) {
		/* the states they had, then the same fields as far as they go */
		const char *old = v.mv_data;
		size_t states = v.mv_size == COUNTERS_V4_SIZE ? 7 : 9;

		memcpy(c->count, old, states * sizeof(uint64_t));
		memcpy(&c->total, old + states * sizeof(uint64_t),
		       v.mv_size - states * sizeof(uint64_t));
		return 0;
	}
	if (v.mv_size < COUNTERS_MIN_SIZE || v.mv_size > sizeof(*c) ||
	    v.mv_size % sizeof(uint64_t) != 0)
		return MDB_CORRUPTED;
	memcpy(c, v.mv_data, v.mv_size); /* fields added since: 0 */
	return 0;
}

int put_counters(MDB_txn *txn, MDB_dbi dbi, const struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v = { sizeof(*c), (void *)c };

	return mdb_put(txn, dbi, &k, &v, 0);
}

/* Write this smsq's schema version into meta. */
static int write_version(store *s, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = { sizeof("version") - 1, (void *)"version" };
	uint32_t ver = STORE_SCHEMA_VERSION;
	MDB_val v = { sizeof(ver), &ver };
	int rc = mdb_put(txn, s->db_meta, &k, &v, 0);

	if (rc != 0) {
		snprintf(err, errlen, "store: writing the schema version in %s: %s", s->dir,
			 mdb_strerror(rc));
		return -1;
	}
	return 0;
}

/* Check the schema version in meta; read-write, set it on a new store and
 * move a schema 2 or 3 store to this one. */
int check_version(store *s, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = { sizeof("version") - 1, (void *)"version" };
	MDB_val v;
	uint32_t have;
	int rc = mdb_get(txn, s->db_meta, &k, &v);

	if (rc == MDB_NOTFOUND && !s->read_only)
		return write_version(s, txn, err, errlen);
	if (rc != 0) {
		snprintf(err, errlen, "store: schema version in %s: %s", s->dir, mdb_strerror(rc));
		return -1;
	}
	if (v.mv_size != sizeof(have)) {
		snprintf(err, errlen, "store: %s has an unreadable schema version", s->dir);
		return -1;
	}
	memcpy(&have, v.mv_data, sizeof(have));
	if (have == 1) {
		snprintf(err, errlen,
			 "store: %s has schema 1 (an smsq before the schema 2 layout): drain it with "
			 "that version until smsqctl stats shows nothing waiting, then move the "
			 "directory aside", s->dir);
		return -1;
	}
	if (have < 2 || have > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "store: %s has an unknown schema version %u (this smsq reads 2 to %u)",
			 s->dir, (unsigned)have, (unsigned)STORE_SCHEMA_VERSION);
		return -1;
	}
	/* Schema 3 only adds a record type: schema 2 records stay as they are
	 * (keyed by their exact appointment), new ones are schema 3.  Schema 4
	 * only adds a ready value type: entries without a sending copy are
	 * sent from their records.  Schema 5 adds two states, a record type
	 * (kind and booking id), the booking index (opened, or created, with
	 * the others: empty for older messages, which take no part in
	 * superseding) and a field of the counters, read in their schema 4
	 * size by get_counters() until the next write.  Marking the store
	 * keeps an older smsq (which would call all that corrupt) out. */
	if (have != STORE_SCHEMA_VERSION && !s->read_only)
		return write_version(s, txn, err, errlen);
	return 0;
}

/* Bytes of the header of a record of type `type` (0: not a record). */
static size_t rec_hdr_size(unsigned type)
{
	switch (type) {
	case STORE_REC_V2:
		return REC_HDR_V2_SIZE;
	case STORE_REC_V3:
		return REC_HDR_V3_SIZE;
	case STORE_REC_V5:
		return sizeof(struct rec_hdr);
	default:
		return 0;
	}
}

size_t rec_size(const struct rec_hdr *h)
{
	return rec_hdr_size(h->type) + (size_t)h->idem_len + h->event_len + h->to_len +
	       h->text_len + h->booking_len + (h->flags & REC_SEALED ? REC_SEAL_TRAILER : 0);
}

/* Decode v into r (pointers into v).  Returns 0, or -1 if corrupt. */
int rec_parse(const MDB_val *v, struct rec *r)
{
	const char *p = v->mv_data;
	size_t hsize = v->mv_size > 0 ? rec_hdr_size((unsigned char)p[0]) : 0;

	if (hsize == 0 || v->mv_size < hsize)
		return -1;
	memset(&r->h, 0, sizeof(r->h));
	memcpy(&r->h, p, hsize);
	if (r->h.type == STORE_REC_V2)
		r->h.urgency_ms = r->h.appointment_ms; /* how schema 2 keyed it */
	if (rec_size(&r->h) != v->mv_size ||
	    r->h.priority > STORE_PRIORITY_MAX || r->h.idem_len > STORE_IDEM_MAX ||
	    r->h.to_len > STORE_TO_MAX || r->h.text_len > STORE_TEXT_MAX ||
	    r->h.booking_len > STORE_BOOKING_MAX || r->h.kind >= STORE_KIND_COUNT)
		return -1;
	p += hsize;
	r->idem = p;
	p += r->h.idem_len;
	r->event = p;
	p += r->h.event_len;
	r->to = p;
	p += r->h.to_len;
	r->text = p;
	p += r->h.text_len;
	r->booking = p;
	p += r->h.booking_len;
	r->seal_ev = NULL;
	r->seal_tt = NULL;
	if ((r->h.flags & (REC_SEALED | REC_ERASED)) == REC_SEALED) {
		r->seal_ev = (const unsigned char *)p;
		r->seal_tt = (const unsigned char *)p + SEAL_BYTES;
	}
	return 0;
}

/* Read message id's record (pointers into LMDB memory: copy what is needed
 * before the next write).  Returns 0, MDB_NOTFOUND, an LMDB code, or
 * MDB_CORRUPTED. */
int rec_read(store *s, MDB_txn *txn, uint64_t id, struct rec *r)
{
	unsigned char idkey[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, idkey };
	MDB_val v;
	int rc;

	put_be64(idkey, id);
	rc = mdb_get(txn, s->db_msg, &k, &v);
	if (rc != 0)
		return rc;
	if (v.mv_size > 0 && *(const unsigned char *)v.mv_data == STORE_REC_TOMB)
		return MDB_NOTFOUND; /* purged, its key kept */
	return rec_parse(&v, r) == 0 ? 0 : MDB_CORRUPTED;
}

/* Decode the sending copy at p (n bytes, the rest of a ready value) into
 * e->copy.  Returns 0, or -1. */
static int copy_parse(const char *p, size_t n, struct entry *e)
{
	struct copy_hdr c;
	struct rec *r = &e->copy;

	if (n < sizeof(c))
		return -1;
	memcpy(&c, p, sizeof(c));
	if (c.to_len > STORE_TO_MAX || c.text_len > STORE_TEXT_MAX || (c.flags & ~COPY_SEALED) != 0 ||
	    n != sizeof(c) + (size_t)c.to_len + c.text_len + (c.flags & COPY_SEALED ? SEAL_BYTES : 0))
		return -1;
	memset(&r->h, 0, sizeof(r->h));
	r->h.type = STORE_REC_V3;
	r->h.created_ms = c.created_ms;
	r->h.expires_ms = c.expires_ms;
	r->h.segments = c.segments;
	r->h.to_len = c.to_len;
	r->h.text_len = c.text_len;
	r->idem = NULL;
	r->event = NULL;
	r->to = p + sizeof(c);
	r->text = r->to + c.to_len;
	r->booking = NULL;
	r->seal_ev = NULL;
	r->seal_tt = c.flags & COPY_SEALED ? (const unsigned char *)r->text + c.text_len : NULL;
	return 0;
}

/* Decode a state value into e->st, e->note and (a ready entry of schema 4)
 * e->copy.  Returns 0, or -1. */
int st_parse(const MDB_val *v, struct entry *e)
{
	const char *p = v->mv_data;
	size_t used;

	if (v->mv_size < sizeof(e->st))
		return -1;
	memcpy(&e->st, p, sizeof(e->st));
	used = sizeof(e->st) + e->st.note_len;
	e->has_copy = e->st.type == STORE_ST_V4;
	if ((e->st.type != STORE_ST_V2 && !e->has_copy) || e->st.state >= STORE_STATE_COUNT ||
	    e->st.note_len > STORE_NOTE_MAX || v->mv_size < used ||
	    (e->has_copy ? e->st.state != STORE_STATE_READY ||
				   copy_parse(p + used, v->mv_size - used, e) != 0
			 : v->mv_size != used))
		return -1;
	memcpy(e->note, p + sizeof(e->st), e->st.note_len);
	e->note[e->st.note_len] = '\0';
	return 0;
}

/* The size of a sending copy of rec r after a note of note_len bytes, or
 * 0 for none: r has no sections, or the value would pass STORE_COPY_MAX
 * (a long text is read from its record instead of crowding the index). */
static size_t copy_size(const struct rec *r, size_t note_len)
{
	size_t n;

	if (r == NULL || r->to == NULL || r->text == NULL)
		return 0;
	n = sizeof(struct copy_hdr) + (size_t)r->h.to_len + r->h.text_len +
	    (r->seal_tt != NULL ? SEAL_BYTES : 0);
	return sizeof(struct st) + note_len + n <= STORE_COPY_MAX ? n : 0;
}

int is_waiting(unsigned state)
{
	return state <= STORE_STATE_INFLIGHT;
}

int is_open(unsigned state)
{
	return is_waiting(state) || state == STORE_STATE_HELD;
}

/* Where the entry of a message in state st->state lives: database and key. */
void entry_place(store *s, const struct rec_hdr *h, uint64_t id, struct entry *e)
{
	e->cur = NULL;
	if (e->st.state == STORE_STATE_DELAYED || e->st.state == STORE_STATE_INFLIGHT ||
	    e->st.state == STORE_STATE_HELD) {
		e->dbi = s->db_delayed;
		delayed_key(e->key, e->st.due_ms, id);
		e->klen = DELAYED_KEY_LEN;
		return;
	}
	e->dbi = e->st.state == STORE_STATE_READY ? s->db_ready : s->db_done;
	ready_key(e->key, h->priority, h->urgency_ms, id);
	e->klen = READY_KEY_LEN;
}

/* Write e (state and note) at its place; a ready entry with a sending
 * copy of r's when r has its sections (r: NULL or header only, none). */
static int entry_put(MDB_txn *txn, struct entry *e, const struct rec *r)
{
	MDB_val k = { e->klen, (void *)e->key };
	size_t ncopy = e->st.state == STORE_STATE_READY ? copy_size(r, e->st.note_len) : 0;
	MDB_val v = { sizeof(e->st) + e->st.note_len + ncopy, NULL };
	char *p;
	int rc;

	e->st.type = ncopy > 0 ? STORE_ST_V4 : STORE_ST_V2;
	rc = mdb_put(txn, e->dbi, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	p = v.mv_data;
	memcpy(p, &e->st, sizeof(e->st));
	p += sizeof(e->st);
	memcpy(p, e->note, e->st.note_len);
	p += e->st.note_len;
	if (ncopy > 0) {
		struct copy_hdr c = {
			.created_ms = r->h.created_ms,
			.expires_ms = r->h.expires_ms,
			.segments = r->h.segments,
			.to_len = r->h.to_len,
			.text_len = r->h.text_len,
			.flags = r->seal_tt != NULL ? COPY_SEALED : 0,
		};

		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
		if (c.to_len > 0)
			memcpy(p, r->to, c.to_len);
		p += c.to_len;
		if (c.text_len > 0)
			memcpy(p, r->text, c.text_len);
		p += c.text_len;
		if (r->seal_tt != NULL)
			memcpy(p, r->seal_tt, SEAL_BYTES);
	}
	e->has_copy = ncopy > 0;
	return 0;
}

/* Read the entry at e->dbi/e->key into e.  0, MDB_NOTFOUND, or an error. */
static int entry_get(MDB_txn *txn, struct entry *e)
{
	MDB_val k = { e->klen, e->key };
	MDB_val v;
	int rc = mdb_get(txn, e->dbi, &k, &v);

	e->cur = NULL;
	if (rc != 0)
		return rc;
	return st_parse(&v, e) == 0 ? 0 : MDB_CORRUPTED;
}

/* entry_get() through cur (a cursor on e->dbi), left at the entry so that
 * entry_del_move() deletes it without searching again. */
int entry_seek(MDB_cursor *cur, struct entry *e)
{
	MDB_val k = { e->klen, e->key };
	MDB_val v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);

	e->cur = NULL;
	if (rc != 0)
		return rc;
	if (st_parse(&v, e) != 0)
		return MDB_CORRUPTED;
	e->cur = cur;
	return 0;
}

/* Whether a note in state st names the provider's message (sent,
 * delivered, undelivered) or another message (superseded, cancelled),
 * rather than giving a reason (a retry's, a failure's). */
static int note_names_provider(unsigned st)
{
	return st == STORE_STATE_SENT || st == STORE_STATE_DELIVERED ||
	       st == STORE_STATE_UNDELIVERED || st == STORE_STATE_SUPERSEDED ||
	       st == STORE_STATE_CANCELLED;
}

static void entry_set_note(struct entry *e, const char *note)
{
	size_t n = strnlen(note, STORE_NOTE_MAX);

	memcpy(e->note, note, n);
	e->note[n] = '\0';
	e->st.note_len = (uint16_t)n;
}

/*
 * Move a message whose entry e was just deleted from its place (or is being
 * created: e->st.state is then `to` and counted by the caller) to state `to`
 * with index time due_ms: counters kept exact, new entry written.  note (may
 * be NULL) replaces the note.  r is the message's record; when it has its
 * destination and text, a ready entry gets a sending copy (they are read
 * after the old entry is deleted: not from LMDB memory, see rec_hold()).
 */
int entry_move(store *s, MDB_txn *txn, uint64_t id, const struct rec *r,
		      struct entry *e, enum store_state to, int64_t due_ms, const char *note,
		      int64_t now_ms, struct counters *c)
{
	const struct rec_hdr *h = &r->h;
	unsigned from = e->st.state;
	char masked[STORE_NOTE_MAX + 1];
	int outcome, rc;

	s->txn_moves++;
	if ((to == STORE_STATE_DELAYED || to == STORE_STATE_HELD) && due_ms < s->txn_due)
		s->txn_due = due_ms;
	if (is_waiting(from) && !is_waiting(to))
		c->segments_waiting -= h->segments;
	else if (!is_waiting(from) && is_waiting(to))
		c->segments_waiting += h->segments; /* requeued */
	c->count[from]--;
	c->count[to]++;
	outcome = from != to && !is_open(to);
	e->st.state = (uint8_t)to;
	/* delayed, in flight: when due; held: its expiry; delivered, undelivered:
	 * the report's time */
	e->st.due_ms = (is_open(to) && to != STORE_STATE_READY) || to == STORE_STATE_DELIVERED ||
				       to == STORE_STATE_UNDELIVERED
			       ? due_ms
			       : 0;
	e->st.updated_ms = now_ms;
	if (note != NULL && s->sh->seal != NULL && !note_names_provider(to)) {
		/* Encrypted at rest: a number a provider echoed in a reason
		 * is kept masked from the start. */
		log_mask_numbers(note, masked, sizeof(masked));
		note = masked;
	}
	if (note != NULL)
		entry_set_note(e, note);
	entry_place(s, h, id, e);
	rc = entry_put(txn, e, r);
	if (rc == 0 && outcome)
		rc = outbox_put(s, txn, id, to, e->note, now_ms, c);
	return rc;
}

/* Delete e at its place, then entry_move(). */
int entry_del_move(store *s, MDB_txn *txn, uint64_t id, const struct rec *r,
			  struct entry *e, enum store_state to, int64_t due_ms, const char *note,
			  int64_t now_ms, struct counters *c)
{
	MDB_val k = { e->klen, e->key };
	int rc = e->cur != NULL ? mdb_cursor_del(e->cur, 0) : mdb_del(txn, e->dbi, &k, NULL);

	if (rc != 0)
		return rc;
	return entry_move(s, txn, id, r, e, to, due_ms, note, now_ms, c);
}

/* Extract the id from an index key. */
uint64_t index_key_id(const MDB_val *k)
{
	if (k->mv_size < ID_KEY_LEN)
		return 0;
	return get_be64((const unsigned char *)k->mv_data + k->mv_size - ID_KEY_LEN);
}

/*
 * Find message id's entry (its record header in h) wherever it is: done and
 * ready by key, delayed by a scan (the record does not know the due time).
 * Returns 0 with e filled, MDB_NOTFOUND (in no index: corrupt), or an error.
 */
int entry_find_keyed(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		     struct entry *e)
{
	int rc = MDB_NOTFOUND;

	for (int i = 0; i < 4 && rc == MDB_NOTFOUND; i++) {
		e->st.state = i == 0 ? STORE_STATE_SENT : i == 1 ? STORE_STATE_READY
				: i == 2 ? STORE_STATE_DELAYED : STORE_STATE_HELD;
		e->st.due_ms = i == 3 ? h->expires_ms : h->not_before_ms;
		entry_place(s, h, id, e);
		rc = entry_get(txn, e);
		if (rc == 0 && i >= 2 && e->st.state != (i == 2 ? STORE_STATE_DELAYED
							       : STORE_STATE_HELD))
			rc = MDB_NOTFOUND; /* a lease that ends at that time */
	}
	return rc;
}

int entry_find(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		      struct entry *e)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc;

	for (int i = 0; i < 2; i++) {
		e->st.state = i == 0 ? STORE_STATE_SENT : STORE_STATE_READY;
		entry_place(s, h, id, e);
		rc = entry_get(txn, e);
		if (rc != MDB_NOTFOUND)
			return rc;
	}
	rc = mdb_cursor_open(txn, s->db_delayed, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && (k.mv_size != DELAYED_KEY_LEN || index_key_id(&k) != id))
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	if (rc == 0) {
		e->dbi = s->db_delayed;
		e->cur = NULL; /* the cursor is closed below */
		memcpy(e->key, k.mv_data, DELAYED_KEY_LEN);
		e->klen = DELAYED_KEY_LEN;
		if (st_parse(&v, e) != 0)
			rc = MDB_CORRUPTED;
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc;
}

int done_entry(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h, struct entry *e)
{
	MDB_val k, v;
	int rc;

	memset(e, 0, sizeof(*e));
	e->st.state = STORE_STATE_SENT;
	entry_place(s, h, id, e);
	k.mv_size = e->klen;
	k.mv_data = e->key;
	rc = mdb_get(txn, s->db_done, &k, &v);
	if (rc == 0 && st_parse(&v, e) != 0) {
		set_err(s, "message %llu: its entry in done is unreadable (store damaged: run "
			"smsqctl check)", (unsigned long long)id);
		rc = RC_SAID;
	}
	return rc;
}

/* Is message id final?  1 yes, 0 no, or a negated LMDB code. */
static int is_final(store *s, MDB_txn *txn, uint64_t id)
{
	struct rec r;
	struct entry e;
	int rc = rec_read(s, txn, id, &r);

	if (rc == MDB_NOTFOUND)
		return 1; /* never stored (an id given to a failed batch): nothing waits */
	if (rc != 0)
		return -rc;
	e.st.state = STORE_STATE_SENT;
	entry_place(s, &r.h, id, &e);
	{
		MDB_val k = { e.klen, e.key };
		MDB_val v;

		rc = mdb_get(txn, s->db_done, &k, &v);
	}
	if (rc == 0)
		return 1;
	return rc == MDB_NOTFOUND ? 0 : -rc;
}

/* The first id >= from that is not final (0: none below next_id), checking
 * at most max ids (0: no limit); *stop is the id where the walk stopped. */
int first_waiting(store *s, MDB_txn *txn, uint64_t from, uint64_t next_id, size_t max,
			 uint64_t *found, uint64_t *stop)
{
	uint64_t id = from ? from : 1;

	*found = 0;
	for (size_t n = 0; id < next_id && (max == 0 || n < max); n++, id++) {
		int f = is_final(s, txn, id);

		if (f < 0)
			return -f;
		if (f == 0) {
			*found = id;
			break;
		}
	}
	*stop = id;
	return 0;
}

/* Move meta "low_id" past final ids, checking at most max of them. */
int advance_low(store *s, MDB_txn *txn, size_t max)
{
	uint64_t low, next_id, found, stop;
	int rc = get_u64(txn, s->db_meta, "low_id", &low);

	if (rc == 0)
		rc = get_u64(txn, s->db_meta, "next_id", &next_id);
	if (rc == 0)
		rc = first_waiting(s, txn, low, next_id, max, &found, &stop);
	if (rc == 0 && stop != low)
		rc = put_u64(txn, s->db_meta, "low_id", stop);
	return rc;
}
