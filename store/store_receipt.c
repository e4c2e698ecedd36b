/*
 * store_receipt: delivery receipts (see store.h for the contract,
 * store_impl.h for the store's seven files).
 *
 * DESIGN
 *
 *   held     id(8) -> struct held (a receipt whose send is not recorded yet)
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
 */
#include "store/store_impl.h"

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
	*res = STORE_RECEIPT_RECORDED;
	return entry_del_move(s, txn, id, &hr, e, to, at_ms, note, now_ms, c);
}

/* Hold r for message id: kept when newer than one held already. */
static int hold(store *s, MDB_txn *txn, uint64_t id, const struct store_receipt *r,
		struct counters *c)
{
	unsigned char k8[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, k8 }, v;
	struct held hd;
	int rc;

	if (!s->has_held)
		return MDB_NOTFOUND;
	put_be64(k8, id);
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

int receipt_held_apply(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		       struct entry *e, int64_t now_ms, struct counters *c, int *applied)
{
	unsigned char k8[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, k8 }, v;
	enum store_receipt_result res;
	struct held hd;
	int rc;

	*applied = 0;
	if (c->receipts_held == 0 || !s->has_held)
		return 0;
	put_be64(k8, id);
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

/* One receipt.  Returns an LMDB code. */
static int receipt_one(store *s, MDB_txn *txn, struct store_receipt *r, int64_t now_ms,
		       struct counters *c)
{
	struct entry e;
	struct rec rec;
	struct rec_hdr h;
	int rc = rec_read(s, txn, r->id, &rec);

	r->result = STORE_RECEIPT_UNKNOWN;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	h = rec.h;
	memset(&e, 0, sizeof(e));
	rc = entry_find_keyed(s, txn, r->id, &h, &e);
	if (rc == MDB_NOTFOUND) {
		r->result = STORE_RECEIPT_HELD; /* in flight, or delayed for a retry */
		return hold(s, txn, r->id, r, c);
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
	if (n > STORE_RECEIPTS_MAX) {
		set_err(s, "receipts: at most %d a call", STORE_RECEIPTS_MAX);
		return STORE_ERROR;
	}
	struct receipts_args a = { r, n, now_ms };

	WITH_GROWTH(write_txn(s, "receipts", receipts_in, &a));
}
