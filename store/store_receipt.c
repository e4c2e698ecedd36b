/*
 * store_receipt: delivery receipts (see store.h for the contract,
 * store_impl.h for the store's files).
 *
 * DESIGN
 *
 *   held     id(8) -> struct held (a receipt whose send is not recorded yet)
 *            0xFF, sentby key -> struct held (the same, named so)
 *   sentby   provider id, 0x00, recipient without '+' -> id(8)
 *
 * A receipt moves its message to delivered or undelivered, final states in
 * the done index like sent; the entry's due_ms, unused by other final
 * states, keeps the report's own time, which decides between two reports
 * of one message.  The message is found where its record says
 * (entry_find_keyed(): done, ready, delayed to its not-before).  Not found
 * there, it is in flight or delayed for a retry: the receipt is held, by
 * id, and the counters say how many are held, so that the paths that could
 * meet one (an outcome "sent", a retry made ready: receipt_held_apply())
 * look it up only while some are.  A receipt found for a message still
 * waiting (ready, or delayed to its not-before after a requeue... or a
 * retry whose entry happens to be there) means an earlier attempt did go
 * out: the message is moved to its reported state and not sent again.
 *
 * A report named by the provider's id and the recipient (id 0) finds its
 * message in sentby, written with the send (receipt_sent_by()).  Not there,
 * its send may not be recorded yet: it is held under its name, and the
 * send that writes that name applies it.  A name no send ever writes (a
 * report for another account's batch...) is forgotten after the retention
 * (receipt_held_expire(), from the purge).
 */
#include "store/store_impl.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>

/* A receipt held for its send's outcome. */
struct held {
	uint8_t delivered;                      /* 1 delivered, 0 not */
	uint8_t reserved[7];                    /* 0 */
	int64_t at_ms;                          /* the report's time */
	char provider_id[96];                   /* NUL-terminated */
	char status[STORE_RECEIPT_STATUS_MAX];  /* NUL-terminated */
	char error[STORE_RECEIPT_ERROR_MAX];    /* NUL-terminated */
};

/* The note of a delivered or undelivered message: the provider's id (the
 * one it had as sent when the receipt names none), then the report:
 * "SM123 undelivered UNDELIV error 30003". */
static void receipt_note(char *note, size_t cap, const char *provider_id, const char *had,
			 int delivered, const char *status, const char *error)
{
	const char *pid = provider_id[0] ? provider_id : had;

	snprintf(note, cap, "%.78s%s%s%s%s%s%s", pid, pid[0] ? " " : "", /* fits 160 */
		 delivered ? "delivered" : "undelivered", status[0] ? " " : "", status,
		 error[0] ? " error " : "", error);
}

/* Move e (message id, header h, found where its record says) to what the
 * receipt says.  Returns an LMDB code; *res. */
static int record(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		  struct entry *e, int delivered, int64_t at_ms, const char *provider_id,
		  const char *status, const char *error, int64_t now_ms, struct counters *c,
		  enum store_receipt_result *res)
{
	enum store_state to = delivered ? STORE_STATE_DELIVERED : STORE_STATE_UNDELIVERED;
	struct rec hr = { .h = *h };
	char note[STORE_NOTE_MAX + 1], had[STORE_NOTE_MAX + 1];

	if (e->st.state == STORE_STATE_DELIVERED || e->st.state == STORE_STATE_UNDELIVERED) {
		if (at_ms < e->st.due_ms) {
			*res = STORE_RECEIPT_OLDER;
			return 0;
		}
		if (at_ms == e->st.due_ms && e->st.state == to) {
			*res = STORE_RECEIPT_REPEATED;
			return 0;
		}
	}
	/* The provider's id of a sent message, to keep when the report names
	 * none; a reason (failed, retried) is no id. */
	had[0] = '\0';
	if (e->st.state == STORE_STATE_SENT)
		snprintf(had, sizeof(had), "%s", e->note);
	else if (e->st.state == STORE_STATE_DELIVERED || e->st.state == STORE_STATE_UNDELIVERED)
		snprintf(had, sizeof(had), "%.*s", (int)strcspn(e->note, " "), e->note);
	receipt_note(note, sizeof(note), provider_id, had, delivered, status, error);
	if (e->st.state == to && strcmp(note, e->note) == 0) {
		/* the same report, later (an API whose reports carry no time
		 * is dated when they come): the first one's time stays */
		*res = STORE_RECEIPT_REPEATED;
		return 0;
	}
	*res = STORE_RECEIPT_RECORDED;
	return entry_del_move(s, txn, id, &hr, e, to, at_ms, note, now_ms, c);
}

#define HELD_BY_NAME 0xFFu /* first byte of a held key that is a name, not an id */

size_t sentby_key(store *s, unsigned char *k, const char *pid, size_t pid_len, const char *to,
		  size_t to_len)
{
	if (pid_len == 0)
		return 0;
	if (pid_len > STORE_NOTE_MAX)
		pid_len = STORE_NOTE_MAX;
	if (to_len > 0 && to[0] == '+') {
		to++;
		to_len--;
	}
	if (to_len > STORE_TO_MAX)
		to_len = STORE_TO_MAX;
	memcpy(k, pid, pid_len);
	k[pid_len] = 0x00;
	if (s->sh->seal != NULL) {
		seal_hash(s->sh->seal, k + pid_len + 1, to, to_len);
		return pid_len + 1 + SEAL_HASH_BYTES;
	}
	memcpy(k + pid_len + 1, to, to_len);
	return pid_len + 1 + to_len;
}

/* Hold r under key k (an id, or HELD_BY_NAME and a name): kept when newer
 * than one held already. */
static int hold(store *s, MDB_txn *txn, MDB_val k, const struct store_receipt *r,
		struct counters *c)
{
	MDB_val v;
	struct held hd;
	int rc;

	if (!s->has_held)
		return MDB_NOTFOUND;
	rc = mdb_get(txn, s->db_held, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(hd)) {
		memcpy(&hd, v.mv_data, sizeof(hd));
		if (hd.at_ms > r->at_ms)
			return 0; /* a newer one is held */
	} else if (rc == MDB_NOTFOUND) {
		c->receipts_held++;
	} else {
		return rc == 0 ? MDB_CORRUPTED : rc;
	}
	memset(&hd, 0, sizeof(hd));
	hd.delivered = r->delivered != 0;
	hd.at_ms = r->at_ms;
	snprintf(hd.provider_id, sizeof(hd.provider_id), "%s", r->provider_id);
	snprintf(hd.status, sizeof(hd.status), "%s", r->status);
	snprintf(hd.error, sizeof(hd.error), "%s", r->error);
	v.mv_size = sizeof(hd);
	v.mv_data = &hd;
	s->txn_moves++;
	return mdb_put(txn, s->db_held, &k, &v, 0);
}

/* Apply the receipt held under k to message id (as receipt_held_apply()). */
static int held_apply(store *s, MDB_txn *txn, MDB_val k, uint64_t id, const struct rec_hdr *h,
		      struct entry *e, int64_t now_ms, struct counters *c, int *applied)
{
	enum store_receipt_result res;
	MDB_val v;
	struct held hd;
	int rc;

	*applied = 0;
	if (c->receipts_held == 0 || !s->has_held)
		return 0;
	rc = mdb_get(txn, s->db_held, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size != sizeof(hd))
		return MDB_CORRUPTED;
	memcpy(&hd, v.mv_data, sizeof(hd));
	/* e first: it may be at a cursor of the caller's */
	rc = record(s, txn, id, h, e, hd.delivered, hd.at_ms, hd.provider_id, hd.status,
		    hd.error, now_ms, c, &res);
	if (rc == 0)
		rc = mdb_del(txn, s->db_held, &k, NULL);
	if (rc != 0)
		return rc;
	c->receipts_held--;
	*applied = res == STORE_RECEIPT_RECORDED;
	return 0;
}

int receipt_held_apply(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		       struct entry *e, int64_t now_ms, struct counters *c, int *applied)
{
	unsigned char k8[ID_KEY_LEN];

	put_be64(k8, id);
	return held_apply(s, txn, (MDB_val){ ID_KEY_LEN, k8 }, id, h, e, now_ms, c, applied);
}

int receipt_sent_by(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		    struct entry *e, const char *pid, const char *to, int64_t now_ms,
		    struct counters *c, int *applied)
{
	unsigned char k[1 + SENTBY_KEY_MAX], v8[ID_KEY_LEN];
	size_t kl = sentby_key(s, k + 1, pid, strnlen(pid, STORE_NOTE_MAX), to,
			       strnlen(to, STORE_TO_MAX));
	MDB_val key = { kl, k + 1 }, val = { ID_KEY_LEN, v8 };
	int rc, was = *applied;

	if (kl == 0 || !s->has_sentby)
		return 0;
	put_be64(v8, id);
	rc = mdb_put(txn, s->db_sentby, &key, &val, 0);
	if (rc != 0 || was)
		return rc;
	k[0] = HELD_BY_NAME;
	return held_apply(s, txn, (MDB_val){ kl + 1, k }, id, h, e, now_ms, c, applied);
}

int receipt_held_expire(store *s, MDB_txn *txn, int64_t before_ms, struct counters *c)
{
	unsigned char first = HELD_BY_NAME;
	MDB_val k = { 1, &first }, v;
	MDB_cursor *cur = NULL;
	int rc;

	if (c->receipts_held == 0 || !s->has_held)
		return 0;
	rc = mdb_cursor_open(txn, s->db_held, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); /* names sort after ids */
	while (rc == 0) {
		struct held hd;

		if (v.mv_size != sizeof(hd)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&hd, v.mv_data, sizeof(hd));
		if (hd.at_ms < before_ms) {
			rc = mdb_cursor_del(cur, 0);
			if (rc != 0)
				break;
			c->receipts_held--;
			s->txn_moves++;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One receipt.  Returns an LMDB code. */
static int receipt_one(store *s, MDB_txn *txn, struct store_receipt *r, int64_t now_ms,
		       struct counters *c)
{
	unsigned char k8[ID_KEY_LEN], name[1 + SENTBY_KEY_MAX];
	struct entry e;
	struct rec rec;
	struct rec_hdr h;
	int rc;

	r->result = STORE_RECEIPT_UNKNOWN;
	if (r->id == 0) {
		size_t kl = sentby_key(s, name + 1, r->provider_id, strnlen(r->provider_id, sizeof(r->provider_id) - 1), r->to,
				       strnlen(r->to, STORE_TO_MAX));
		MDB_val k = { kl, name + 1 }, v;

		if (kl == 0 || !s->has_sentby)
			return 0;
		rc = mdb_get(txn, s->db_sentby, &k, &v);
		if (rc == MDB_NOTFOUND) {
			/* its send is not recorded yet, or never will be */
			name[0] = HELD_BY_NAME;
			r->result = STORE_RECEIPT_HELD;
			return hold(s, txn, (MDB_val){ kl + 1, name }, r, c);
		}
		if (rc != 0)
			return rc;
		if (v.mv_size != ID_KEY_LEN)
			return MDB_CORRUPTED;
		r->id = get_be64(v.mv_data);
	}
	rc = rec_read(s, txn, r->id, &rec);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	h = rec.h;
	memset(&e, 0, sizeof(e));
	rc = entry_find_keyed(s, txn, r->id, &h, &e);
	if (rc == MDB_NOTFOUND) {
		r->result = STORE_RECEIPT_HELD; /* in flight, or delayed for a retry */
		put_be64(k8, r->id);
		return hold(s, txn, (MDB_val){ ID_KEY_LEN, k8 }, r, c);
	}
	if (rc != 0)
		return rc;
	return record(s, txn, r->id, &h, &e, r->delivered, r->at_ms, r->provider_id, r->status,
		      r->error, now_ms, c, &r->result);
}

struct receipts_args {
	struct store_receipt *r;
	size_t n;
	int64_t now_ms;
};

/* The body of store_receipts()'s transaction (write_txn()). */
static int receipts_in(store *s, MDB_txn *txn, struct counters *c, void *arg, size_t *finals)
{
	struct receipts_args *a = arg;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		rc = receipt_one(s, txn, &a->r[i], a->now_ms, c);
		*finals += rc == 0 && a->r[i].result == STORE_RECEIPT_RECORDED;
	}
	return rc;
}

int store_receipts(store *s, struct store_receipt *r, size_t n, int64_t now_ms)
{
	STORE_LOCKED(s);
	if (s->read_only) {
		set_err(s, "receipts: store opened read-only");
		return STORE_ERROR;
	}
	if (seal_needed(s, "receipts") != 0)
		return STORE_ERROR;
	if (n > STORE_RECEIPTS_MAX) {
		set_err(s, "receipts: at most %d a call", STORE_RECEIPTS_MAX);
		return STORE_ERROR;
	}
	struct receipts_args a = { r, n, now_ms };

	WITH_GROWTH(write_txn(s, "receipts", receipts_in, &a));
}

/* ---- the outbox -------------------------------------------------------------
 *
 *   outbox   seq(8) -> struct obx, key, booking id, note
 *
 * meta "outbox_seq" is the last number given.  outbox_put() runs in the
 * transaction that made the message final (entry_move()), after its new
 * entry is written; it reads the record for the key and the booking id
 * (copied out before its own write).  A full outbox (outbox_max outcomes)
 * drops its first outcome for the new one.
 */

#define OBX_TYPE 0x60u

/* The fixed part of an outcome. */
struct obx {
	uint8_t type;            /* OBX_TYPE */
	uint8_t state;           /* enum store_state */
	uint8_t kind;            /* enum store_kind */
	uint8_t reserved0;       /* 0 */
	uint16_t idem_len;       /* key bytes after the struct */
	uint16_t booking_len;    /* then booking id bytes */
	uint16_t note_len;       /* then note bytes */
	uint16_t reserved1;      /* 0 */
	uint32_t reserved2;      /* 0 */
	uint64_t id;             /* the message */
	int64_t at_ms;           /* when */
};

int outbox_put(store *s, MDB_txn *txn, uint64_t id, unsigned state, const char *note,
	       int64_t now_ms, struct counters *c)
{
	char buf[sizeof(struct obx) + STORE_IDEM_MAX + STORE_BOOKING_MAX + STORE_NOTE_MAX];
	struct obx o;
	struct rec r;
	unsigned char k8[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, k8 }, v;
	uint64_t seq;
	size_t n;
	int rc;

	if (s->outbox_max == 0 || !s->has_outbox)
		return 0;
	rc = rec_read(s, txn, id, &r);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc; /* just moved: it is there */
	memset(&o, 0, sizeof(o));
	o.type = OBX_TYPE;
	o.state = (uint8_t)state;
	o.kind = r.h.kind;
	o.idem_len = r.h.idem_len;
	o.booking_len = r.h.booking_len;
	o.note_len = (uint16_t)strnlen(note != NULL ? note : "", STORE_NOTE_MAX);
	o.id = id;
	o.at_ms = now_ms;
	n = sizeof(o);
	memcpy(buf, &o, sizeof(o));
	memcpy(buf + n, r.idem, o.idem_len); /* out of LMDB's pages before the writes */
	n += o.idem_len;
	if (o.booking_len > 0)
		memcpy(buf + n, r.booking, o.booking_len);
	n += o.booking_len;
	memcpy(buf + n, note != NULL ? note : "", o.note_len);
	n += o.note_len;
	if (c->outbox >= s->outbox_max) {
		MDB_cursor *cur = NULL;
		MDB_val fk, fv;

		rc = mdb_cursor_open(txn, s->db_outbox, &cur);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &fk, &fv, MDB_FIRST);
		if (rc == 0)
			rc = mdb_cursor_del(cur, 0);
		if (cur != NULL)
			mdb_cursor_close(cur);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
		c->outbox--;
		c->outbox_dropped++;
	}
	rc = get_u64(txn, s->db_meta, "outbox_seq", &seq);
	if (rc == 0)
		rc = put_u64(txn, s->db_meta, "outbox_seq", ++seq);
	if (rc != 0)
		return rc;
	put_be64(k8, seq);
	v.mv_size = n;
	v.mv_data = buf;
	rc = mdb_put(txn, s->db_outbox, &k, &v, MDB_APPEND);
	if (rc == 0)
		c->outbox++;
	return rc == MDB_KEYEXIST ? MDB_CORRUPTED : rc;
}

int outbox_mask(store *s, MDB_txn *txn, uint64_t after, int64_t before_ms, size_t max,
		uint64_t *upto, size_t *masked)
{
	unsigned char k8[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, k8 }, v;
	MDB_cursor *cur = NULL;
	size_t n = 0;
	int rc;

	*masked = 0;
	if (!s->has_outbox)
		return 0;
	put_be64(k8, after + 1);
	rc = mdb_cursor_open(txn, s->db_outbox, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0 && n < max; n++) {
		char buf[sizeof(struct obx) + STORE_IDEM_MAX + STORE_BOOKING_MAX + STORE_NOTE_MAX];
		char note[STORE_NOTE_MAX + 1], masked_note[STORE_NOTE_MAX + 1];
		struct obx o;
		size_t at;

		if (k.mv_size != ID_KEY_LEN || v.mv_size < sizeof(o) || v.mv_size > sizeof(buf)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&o, v.mv_data, sizeof(o));
		if (o.at_ms > before_ms)
			break; /* the erasure's rule: final for personal_ms or more */
		at = sizeof(o) + (size_t)o.idem_len + o.booking_len;
		if (o.note_len > STORE_NOTE_MAX || at + o.note_len != v.mv_size) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(note, (const char *)v.mv_data + at, o.note_len);
		note[o.note_len] = '\0';
		log_mask_numbers(note, masked_note, sizeof(masked_note)); /* as long */
		*upto = get_be64(k.mv_data);
		if (strcmp(note, masked_note) != 0) {
			memcpy(buf, v.mv_data, v.mv_size);
			memcpy(buf + at, masked_note, o.note_len);
			v.mv_data = buf;
			rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT);
			(*masked)++;
			s->txn_moves++;
		}
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Decode an outcome into e.  0, or -1. */
static int obx_parse(const MDB_val *k, const MDB_val *v, struct store_outbox_entry *e)
{
	struct obx o;
	const char *p;

	if (k->mv_size != ID_KEY_LEN || v->mv_size < sizeof(o))
		return -1;
	memcpy(&o, v->mv_data, sizeof(o));
	if (o.type != OBX_TYPE || o.state >= STORE_STATE_COUNT || o.idem_len > STORE_IDEM_MAX ||
	    o.booking_len > STORE_BOOKING_MAX || o.note_len > STORE_NOTE_MAX ||
	    v->mv_size != sizeof(o) + (size_t)o.idem_len + o.booking_len + o.note_len)
		return -1;
	p = (const char *)v->mv_data + sizeof(o);
	e->seq = get_be64(k->mv_data);
	e->id = o.id;
	e->state = (enum store_state)o.state;
	e->kind = o.kind;
	e->at_ms = o.at_ms;
	memcpy(e->idem_key, p, o.idem_len);
	e->idem_key[o.idem_len] = '\0';
	p += o.idem_len;
	memcpy(e->booking, p, o.booking_len);
	e->booking[o.booking_len] = '\0';
	p += o.booking_len;
	memcpy(e->note, p, o.note_len);
	e->note[o.note_len] = '\0';
	return 0;
}

long store_outbox_read(store *s, uint64_t after, struct store_outbox_entry *out, size_t max)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	unsigned char k8[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, k8 }, v;
	uint64_t uid = 0;
	long n = 0;
	int rc;

	if (!s->has_outbox || max == 0)
		return 0;
	rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return -1;
	rc = get_u64(txn, s->db_meta, "uid", &uid);
	put_be64(k8, after + 1);
	if (rc == 0)
		rc = mdb_cursor_open(txn, s->db_outbox, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && (size_t)n < max) {
		if (obx_parse(&k, &v, &out[n]) != 0) {
			set_err(s, "outbox: an unreadable outcome (store damaged: run smsqctl check)");
			rc = RC_SAID;
			break;
		}
		snprintf(out[n].uid, sizeof(out[n].uid), "%016llx", (unsigned long long)uid);
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		if (rc != RC_SAID)
			set_err(s, "outbox: %s", mdb_strerror(rc));
		return -1;
	}
	return n;
}

struct done_args {
	uint64_t upto;
	int *more;
};

/* The body of store_outbox_done()'s transaction (write_txn()). */
static int done_in(store *s, MDB_txn *txn, struct counters *c, void *arg, size_t *finals)
{
	struct done_args *a = arg;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	int rc = mdb_cursor_open(txn, s->db_outbox, &cur);

	(void)finals;
	*a->more = 0;
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size == ID_KEY_LEN && get_be64(k.mv_data) <= a->upto) {
		if (n == STORE_OUTBOX_DONE_MAX) {
			*a->more = 1;
			break;
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
		n++;
		s->txn_moves++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); /* the outbox's front again */
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	c->outbox -= n < c->outbox ? n : c->outbox;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_outbox_done(store *s, uint64_t upto, int *more)
{
	struct done_args a = { upto, more };

	STORE_LOCKED(s);
	*more = 0;
	if (s->read_only || !s->has_outbox) {
		set_err(s, "outbox: store opened read-only, or without an outbox");
		return STORE_ERROR;
	}
	WITH_GROWTH(write_txn(s, "outbox", done_in, &a));
}
