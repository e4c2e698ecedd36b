/*
 * store_booking: the booking index, the latest truth per booking (see
 * store.h for the contract, store_impl.h for the store's files).
 *
 * DESIGN
 *
 *   booking  booking id, 0x00, created(8), id(8) -> kind(1), gone(1)
 *
 * A message with a booking id (schema 5) has one entry here, written by
 * ingest in the same transaction as its record: a booking's entries are
 * adjacent and in the order of their events' created-at (then ids), so
 * "the older events of this booking" and "the newer ones" are one cursor
 * range each, a few entries in practice.  Booking ids hold no NUL byte
 * (ingest refuses one), so the separator makes no booking id a prefix of
 * another's keys.  The value never changes while the message is stored
 * (gone is 0: read the message for its state).
 *
 * What a booking's entries are judged by is the state of their messages,
 * found where their records say (entry_find_keyed(): done, ready, delayed
 * to the not-before) without scanning the delayed index: a message found
 * nowhere there is in flight or delayed for a retry, and is left alone (it
 * may be going out now); if it comes back to the queue, promote() and a
 * release ask booking_newer() before making it ready again.  So ingest pays
 * one range read and one put per message, dispatch nothing unless a message
 * comes back.
 *
 * Entries are read a chunk at a time into an array and the cursor is placed
 * again after each chunk: what is done with them writes other databases,
 * and no cursor is kept across those writes.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BOOKING_CHUNK 32

/* The value of an entry. */
struct bval {
	uint8_t kind;            /* enum store_kind */
	uint8_t gone;            /* 0: the message is stored */
};

/* One entry read. */
struct bref {
	uint64_t id;             /* message id */
	int64_t created_ms;      /* its event's created-at */
	struct bval v;           /* its value */
};

static const char *const kind_names[STORE_KIND_COUNT] = {
	"none", "confirmed", "rescheduled", "cancelled", "reminder",
};

const char *store_kind_name(enum store_kind kind)
{
	return (unsigned)kind < STORE_KIND_COUNT ? kind_names[kind] : "unknown";
}

/* Whether an event of kind newer, created later, supersedes one of kind
 * older of the same booking: any does, except that a reminder supersedes
 * only reminders. */
static int supersedes(unsigned newer, unsigned older)
{
	return newer != STORE_KIND_REMINDER || older == STORE_KIND_REMINDER;
}

size_t booking_key(unsigned char *k, const char *b, size_t blen, int64_t created_ms, uint64_t id)
{
	memcpy(k, b, blen);
	k[blen] = 0;
	put_be64(k + blen + 1, (uint64_t)created_ms ^ (1ULL << 63));
	put_be64(k + blen + 9, id);
	return blen + 1 + 8 + ID_KEY_LEN;
}

/* Whether index key k is one of booking b's. */
static int of_booking(const MDB_val *k, const char *b, size_t blen)
{
	return k->mv_size == blen + 1 + 8 + ID_KEY_LEN && memcmp(k->mv_data, b, blen) == 0 &&
	       ((const unsigned char *)k->mv_data)[blen] == 0;
}

/*
 * Read booking b's entries from (created_ms, id) on, up to max, into out.
 * Returns an LMDB code; *got entries read (fewer than max: no more).
 */
static int booking_read(store *s, MDB_txn *txn, const char *b, size_t blen, int64_t created_ms,
			uint64_t id, struct bref *out, size_t max, size_t *got)
{
	unsigned char kbuf[BOOKING_KEY_MAX];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = s->has_booking ? mdb_cursor_open(txn, s->db_booking, &cur) : 0;

	*got = 0;
	if (!s->has_booking)
		return 0; /* an older schema read as it is: no booking index */
	if (rc != 0)
		return rc;
	k.mv_size = booking_key(kbuf, b, blen, created_ms, id);
	k.mv_data = kbuf;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && *got < max) {
		const unsigned char *p = k.mv_data;

		if (!of_booking(&k, b, blen))
			break; /* past the booking */
		if (v.mv_size != sizeof(struct bval)) {
			set_err(s, "booking index: a value of %zu bytes (store damaged: run smsqctl "
				"check)", v.mv_size);
			rc = RC_SAID;
			break;
		}
		out[*got].created_ms = key_time(p + blen + 1);
		out[*got].id = get_be64(p + blen + 9);
		memcpy(&out[*got].v, v.mv_data, sizeof(struct bval));
		(*got)++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Call fn for each entry of booking b from created_ms on (oldest first)
 * until it sets *stop or returns non-zero (an LMDB code, returned). */
static int booking_each(store *s, MDB_txn *txn, const char *b, size_t blen, int64_t created_ms,
			int (*fn)(store *s, MDB_txn *txn, const struct bref *e, void *arg,
				  int *stop),
			void *arg)
{
	struct bref chunk[BOOKING_CHUNK];
	uint64_t id = 0;
	size_t got;
	int stop = 0;
	int rc;

	do {
		rc = booking_read(s, txn, b, blen, created_ms, id, chunk, BOOKING_CHUNK, &got);
		for (size_t i = 0; rc == 0 && i < got && !stop; i++)
			rc = fn(s, txn, &chunk[i], arg, &stop);
		if (got > 0) {
			created_ms = chunk[got - 1].created_ms;
			id = chunk[got - 1].id + 1;
		}
	} while (rc == 0 && !stop && got == BOOKING_CHUNK);
	return rc;
}

int withdraw(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h, struct entry *e,
	     enum store_state to, const char *note, int64_t now_ms, struct counters *c)
{
	struct rec hr = { .h = *h }; /* the header only: a final entry has no copy */

	c->segments_withdrawn += h->segments;
	if (to == STORE_STATE_CANCELLED)
		c->cancelled++;
	else
		c->superseded++;
	return entry_del_move(s, txn, id, &hr, e, to, 0, note, now_ms, c);
}

int booking_check(store *s, MDB_txn *txn, uint64_t id, const struct rec *r)
{
	unsigned char kbuf[BOOKING_KEY_MAX];
	MDB_val k = { 0, kbuf }, v;
	struct bval bv;
	int rc;

	if (!s->has_booking)
		return MDB_NOTFOUND;
	k.mv_size = booking_key(kbuf, r->booking, r->h.booking_len, r->h.created_ms, id);
	rc = mdb_get(txn, s->db_booking, &k, &v);
	if (rc != 0)
		return rc;
	if (v.mv_size != sizeof(bv))
		return MDB_CORRUPTED;
	memcpy(&bv, v.mv_data, sizeof(bv));
	return bv.kind == r->h.kind && bv.gone == 0 ? 0 : MDB_CORRUPTED;
}

/* ---- newer events -------------------------------------------------------- */

struct newer_ctx {
	uint64_t self;           /* the message asked about */
	unsigned kind;           /* its kind */
	uint64_t by;             /* out: a newer one that supersedes it */
};

static int newer_fn(store *s, MDB_txn *txn, const struct bref *e, void *arg, int *stop)
{
	struct newer_ctx *x = arg;

	(void)s;
	(void)txn;
	if (e->id != x->self && supersedes(e->v.kind, x->kind)) {
		x->by = e->id;
		*stop = 1;
	}
	return 0;
}

int booking_newer(store *s, MDB_txn *txn, const struct rec *r, uint64_t *by)
{
	struct newer_ctx x = { .self = 0, .kind = r->h.kind, .by = 0 };
	int rc;

	*by = 0;
	if (r->h.booking_len == 0 || r->h.created_ms == INT64_MAX)
		return 0;
	rc = booking_each(s, txn, r->booking, r->h.booking_len, r->h.created_ms + 1, newer_fn, &x);
	*by = x.by;
	return rc;
}

/* ---- what the patient was told --------------------------------------------- */

/*
 * Whether message e.id may have reached the patient: sent or delivered; in
 * flight or delayed to a time its record does not know (a retry: it may go
 * out); waiting after an ambiguous timeout.  Failed, expired, superseded,
 * cancelled, and waiting otherwise: not.  When withdraw_note is set and b's
 * message is waiting where its record says, it is withdrawn with that note
 * (*withdrawn set).  Returns an LMDB code; *told.
 */
static int judge(store *s, MDB_txn *txn, const struct bref *b, const char *withdraw_note,
		 int64_t now_ms, struct counters *c, int *told, int *withdrawn)
{
	struct rec r;
	struct rec_hdr h;
	struct entry e;
	int rc;

	*told = 0;
	if (b->v.gone != 0) {
		*told = b->v.gone == 2;
		return 0;
	}
	rc = rec_read(s, txn, b->id, &r);
	if (rc == MDB_NOTFOUND)
		return 0; /* never stored: nothing to tell */
	if (rc != 0)
		return rc;
	h = r.h; /* LMDB memory: copied before any write */
	memset(&e, 0, sizeof(e));
	rc = entry_find_keyed(s, txn, b->id, &h, &e);
	if (rc == MDB_NOTFOUND) {
		*told = 1; /* in flight, or delayed to a retry */
		return 0;
	}
	if (rc != 0)
		return rc;
	switch (e.st.state) {
	case STORE_STATE_SENT:
	case STORE_STATE_DELIVERED:
		*told = 1;
		break;
	case STORE_STATE_READY:
	case STORE_STATE_DELAYED:
	case STORE_STATE_HELD:
		*told = e.st.ambiguous > 0; /* an earlier attempt may have gone out */
		if (withdraw_note != NULL) {
			rc = withdraw(s, txn, b->id, &h, &e, STORE_STATE_SUPERSEDED, withdraw_note,
				      now_ms, c);
			if (rc == 0)
				*withdrawn = 1;
		}
		break;
	default:
		break;
	}
	return rc;
}

/* ---- at ingest --------------------------------------------------------------- */

struct older_ctx {
	int64_t before_ms;       /* only entries created before this */
	unsigned kind;           /* of the newer event (withdraw: what it supersedes) */
	const char *note;        /* withdraw with this note (NULL: only judge) */
	int64_t now_ms;
	struct counters *c;
	size_t older;            /* out: older entries */
	int told;                /* out: one of them may have reached the patient */
	uint32_t withdrawn;      /* out: withdrawn */
};

static int older_fn(store *s, MDB_txn *txn, const struct bref *e, void *arg, int *stop)
{
	struct older_ctx *x = arg;
	int told = 0, withdrawn = 0;
	int rc;

	if (e->created_ms >= x->before_ms) {
		*stop = 1;
		return 0;
	}
	x->older++;
	rc = judge(s, txn, e, x->note != NULL && supersedes(x->kind, e->v.kind) ? x->note : NULL,
		   x->now_ms, x->c, &told, &withdrawn);
	x->told |= told;
	x->withdrawn += (uint32_t)withdrawn;
	return rc;
}

/* Withdraw waiting message id (record header h) as superseded with note,
 * when it is where its record says.  Returns an LMDB code; *done. */
static int withdraw_keyed(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
			  const char *note, int64_t now_ms, struct counters *c, int *done)
{
	struct entry e;
	int rc;

	*done = 0;
	memset(&e, 0, sizeof(e));
	rc = entry_find_keyed(s, txn, id, h, &e);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || (e.st.state != STORE_STATE_READY && e.st.state != STORE_STATE_DELAYED &&
			e.st.state != STORE_STATE_HELD))
		return rc;
	rc = withdraw(s, txn, id, h, &e, STORE_STATE_SUPERSEDED, note, now_ms, c);
	*done = rc == 0;
	return rc;
}

#define NOTE_UNTOLD "not sent: no earlier message of its booking reached the patient"

struct rejudge_ctx {
	const char *booking;     /* the booking */
	size_t blen;             /* its length */
	int64_t now_ms;
	struct counters *c;
	uint32_t withdrawn;      /* out: cancellations withdrawn */
};

/* Judge cancellation b again (an older message of its booking arrived
 * after it): withdrawn when it still waits and none of the older messages
 * of its booking reached the patient. */
static int rejudge_fn(store *s, MDB_txn *txn, const struct bref *b, void *arg, int *stop)
{
	struct rejudge_ctx *y = arg;
	struct older_ctx x = { .before_ms = b->created_ms, .now_ms = y->now_ms, .c = y->c };
	struct rec r;
	struct rec_hdr h;
	int done = 0;
	int rc;

	(void)stop;
	if (b->v.kind != STORE_KIND_CANCELLED || b->v.gone != 0)
		return 0;
	rc = booking_each(s, txn, y->booking, y->blen, INT64_MIN, older_fn, &x);
	if (rc != 0 || x.older == 0 || x.told)
		return rc;
	rc = rec_read(s, txn, b->id, &r);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	h = r.h;
	rc = withdraw_keyed(s, txn, b->id, &h, NOTE_UNTOLD, y->now_ms, y->c, &done);
	y->withdrawn += (uint32_t)done;
	return rc;
}

int booking_put(store *s, MDB_txn *txn, uint64_t id, const struct rec *r, int *alone)
{
	unsigned char kbuf[BOOKING_KEY_MAX];
	struct bval bv = { .kind = r->h.kind, .gone = 0 };
	MDB_val k = { 0, kbuf }, v = { sizeof(bv), &bv }, ck, cv;
	MDB_cursor *cur = NULL;
	const char *b = r->booking;
	size_t blen = r->h.booking_len;
	int rc;

	*alone = 1;
	k.mv_size = booking_key(kbuf, b, blen, r->h.created_ms, id);
	rc = mdb_cursor_open(txn, s->db_booking, &cur);
	if (rc == 0)
		rc = mdb_cursor_put(cur, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		rc = MDB_CORRUPTED; /* ids are new: the index is damaged */
	if (rc != 0)
		goto out;
	/* The cursor is at the new entry: its neighbours are the booking's
	 * closest older and newer events, if it has any. */
	rc = mdb_cursor_get(cur, &ck, &cv, MDB_PREV);
	if (rc == 0 && of_booking(&ck, b, blen)) {
		*alone = 0;
		goto out;
	}
	if (rc == 0)
		rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT); /* back to it */
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &ck, &cv, MDB_GET_CURRENT); /* it is the first */
	if (rc == 0 && (ck.mv_size != k.mv_size || memcmp(ck.mv_data, kbuf, k.mv_size) != 0))
		*alone = 0; /* not where it was left: ask the long way */
	else if (rc == 0)
		rc = mdb_cursor_get(cur, &ck, &cv, MDB_NEXT);
	if (rc == 0 && of_booking(&ck, b, blen))
		*alone = 0;
	if (rc == MDB_NOTFOUND)
		rc = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc;
}

int booking_ingest(store *s, MDB_txn *txn, uint64_t id, const struct rec *r, unsigned st,
		   unsigned notice, int64_t now_ms, struct counters *c, uint32_t *withdrew)
{
	char note[64];
	int rc;

	*withdrew = st == STORE_STATE_SUPERSEDED;
	if (r->h.booking_len == 0)
		return 0;
	if (st == STORE_STATE_SUPERSEDED) {
		/* Stale on arrival: a newer event did the withdrawing; the
		 * cancellations newer than it are judged again (a "confirmed"
		 * that arrives after its booking's "cancelled" was never sent
		 * either). */
		struct rejudge_ctx y = { .booking = r->booking, .blen = r->h.booking_len,
					 .now_ms = now_ms, .c = c };

		if (notice != STORE_NOTICE_IF_TOLD)
			return 0;
		rc = booking_each(s, txn, r->booking, r->h.booking_len, r->h.created_ms + 1,
				  rejudge_fn, &y);
		*withdrew += y.withdrawn;
		return rc;
	}
	snprintf(note, sizeof(note), "superseded by message %llu (%s)", (unsigned long long)id,
		 store_kind_name((enum store_kind)r->h.kind));
	struct older_ctx x = { .before_ms = r->h.created_ms, .kind = r->h.kind, .note = note,
			       .now_ms = now_ms, .c = c };

	rc = booking_each(s, txn, r->booking, r->h.booking_len, INT64_MIN, older_fn, &x);
	*withdrew += x.withdrawn;
	if (rc == 0 && r->h.kind == STORE_KIND_CANCELLED && notice == STORE_NOTICE_IF_TOLD &&
	    x.older > 0 && !x.told) {
		int done = 0;

		rc = withdraw_keyed(s, txn, id, &r->h, NOTE_UNTOLD, now_ms, c, &done);
		*withdrew += (uint32_t)done;
	}
	return rc;
}

/* ---- smsqctl cancel, inspect --booking ---------------------------------------- */

/* One message of store_cancel().  Returns an LMDB code. */
static int cancel_one(store *s, MDB_txn *txn, uint64_t id, int64_t now_ms, struct counters *c,
		      enum store_cancel_result *res)
{
	struct entry e;
	struct rec r;
	struct rec_hdr h;
	int rc = rec_read(s, txn, id, &r);

	*res = STORE_CANCEL_NOT_FOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	h = r.h;
	memset(&e, 0, sizeof(e));
	rc = entry_find(s, txn, id, &h, &e);
	if (rc != 0)
		return rc;
	if (e.st.state == STORE_STATE_INFLIGHT) {
		*res = STORE_CANCEL_IN_FLIGHT;
		return 0;
	}
	if (!is_open(e.st.state)) {
		*res = STORE_CANCEL_FINAL;
		return 0;
	}
	rc = withdraw(s, txn, id, &h, &e, STORE_STATE_CANCELLED, "cancelled by an operator", now_ms,
		      c);
	if (rc == 0)
		*res = STORE_CANCELLED;
	return rc;
}

struct cancel_args {
	const uint64_t *ids;
	size_t n;
	int64_t now_ms;
	enum store_cancel_result *results;
};

/* The body of store_cancel()'s transaction (write_txn()). */
static int cancel_in(store *s, MDB_txn *txn, struct counters *c, void *arg, size_t *finals)
{
	struct cancel_args *a = arg;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		rc = cancel_one(s, txn, a->ids[i], a->now_ms, c, &a->results[i]);
		*finals += rc == 0 && a->results[i] == STORE_CANCELLED;
	}
	return rc;
}

int store_cancel(store *s, const uint64_t *ids, size_t n, int64_t now_ms,
		 enum store_cancel_result *results)
{
	STORE_LOCKED(s);
	if (s->read_only) {
		set_err(s, "cancel: store opened read-only");
		return STORE_ERROR;
	}
	if (n > STORE_CANCEL_MAX) {
		set_err(s, "cancel: at most %d messages a call", STORE_CANCEL_MAX);
		return STORE_ERROR;
	}
	struct cancel_args a = { ids, n, now_ms, results };

	WITH_GROWTH(write_txn(s, "cancel", cancel_in, &a));
}

struct list_ctx {
	uint64_t *ids;
	size_t max;
	long n;
};

static int list_fn(store *s, MDB_txn *txn, const struct bref *e, void *arg, int *stop)
{
	struct list_ctx *x = arg;

	(void)s;
	(void)txn;
	(void)stop;
	if ((size_t)x->n < x->max)
		x->ids[x->n] = e->id;
	x->n++;
	return 0;
}

long store_booking(store *s, const char *booking, size_t booking_len, uint64_t *ids, size_t max)
{
	struct list_ctx x = { .ids = ids, .max = max, .n = 0 };
	MDB_txn *txn = NULL;
	int rc;

	STORE_LOCKED(s);
	if (booking_len == 0 || booking_len > STORE_BOOKING_MAX ||
	    memchr(booking, 0, booking_len) != NULL) {
		set_err(s, "booking id: 1 to %d bytes, no NUL", STORE_BOOKING_MAX);
		return -1;
	}
	rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = booking_each(s, txn, booking, booking_len, INT64_MIN, list_fn, &x);
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc != 0) {
		if (rc != RC_SAID)
			set_err(s, "booking %.*s: %s", (int)booking_len, booking, mdb_strerror(rc));
		return -1;
	}
	return x.n;
}
