/*
 * store_purge: retention, purging final messages and forgetting their keys
 * (see store.h for the contract, store_impl.h for the store's files).
 *
 * DESIGN
 *
 * A sweep walks the records in id order, a bounded step at a time
 * (purge_in()), from where the previous step stopped (sh->sweep_at: in
 * memory, so a step that purges nothing writes nothing; after a restart the
 * sweep starts at the first record) and over again from the first once it
 * meets a record stored within the retention (ids are given in the order
 * of storing: nothing after it can be final for that long) or the last
 * record.  So a round walks the old records only: the purgeable ones, the
 * tombstones and the old messages still waiting (a reminder due next week
 * is looked at again each round); the records already purged are not there
 * to be walked over, and the cost of a step is its number of records,
 * whatever the size of the store.
 *
 * A record's state is read where a final message's entry is (done, under
 * the key its record gives): a message found there whose last change is
 * older than the retention is purged.  Its done entry, its booking entry
 * and its record go; its key goes too when the keys' window has also
 * passed, else the record is replaced by a tombstone (struct tomb_hdr and
 * the key), which a later round removes with the key.  A tombstone is a
 * record in no index: rec_read() calls it not found, store_verify() counts
 * it against the keys.
 *
 * A step reads first (what to do, copied out of LMDB's pages into acts[]),
 * then writes: no cursor is kept across its own writes.  The same
 * transaction first zeroes free pages of the file and then takes a step of
 * the erasure sweep, whose window (personal_ms) is shorter
 * (store_erase.c); receipts held by a number are forgotten after the
 * shorter of the two windows.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

/* What a step does to one record. */
struct act {
	uint64_t id;                          /* the message */
	int tomb;                             /* 1: replace by a tombstone; 0: delete (and
						 the key) */
	int drop_tomb;                        /* 1: a tombstone whose time has come */
	uint8_t state;                        /* its final state */
	int64_t final_ms;                     /* when it became final */
	unsigned char done_key[READY_KEY_LEN]; /* its entry in done */
	uint16_t idem_len;
	char idem[STORE_IDEM_MAX];            /* its key */
	uint16_t booking_len;
	int64_t created_ms;                   /* its booking entry's time */
	char booking[STORE_BOOKING_MAX];      /* its booking */
	size_t sentby_len;                    /* its name in sentby, or 0 */
	unsigned char sentby[SENTBY_KEY_MAX];
};

int tomb_parse(const MDB_val *v, struct tomb_hdr *t, const char **key)
{
	if (v->mv_size < sizeof(*t))
		return -1;
	memcpy(t, v->mv_data, sizeof(*t));
	if (t->type != STORE_REC_TOMB || t->idem_len == 0 || t->idem_len > STORE_IDEM_MAX ||
	    v->mv_size != sizeof(*t) + t->idem_len || t->state >= STORE_STATE_COUNT ||
	    is_open(t->state))
		return -1;
	*key = (const char *)v->mv_data + sizeof(*t);
	return 0;
}

#define PLAN_YOUNG 2 /* plan(): stored within the retention, and so is what follows */

/* What to do with the record id, v (its value); *a filled and 1 returned
 * when something is to be done, 0 when not, PLAN_YOUNG when it was stored
 * within the retention (nothing after it can be purged either: ids follow
 * the order of storing), or an LMDB code (negated). */
static int plan(store *s, MDB_txn *txn, uint64_t id, const MDB_val *v, int64_t now_ms,
		int64_t retention_ms, struct act *a)
{
	struct tomb_hdr t;
	struct entry e;
	struct rec r;
	const char *key;
	int rc;

	memset(a, 0, sizeof(*a));
	a->id = id;
	if (v->mv_size > 0 && *(const unsigned char *)v->mv_data == STORE_REC_TOMB) {
		if (tomb_parse(v, &t, &key) != 0) {
			set_err(s, "message %llu: a damaged tombstone (store damaged: run smsqctl "
				"check)", (unsigned long long)id);
			return -RC_SAID;
		}
		if (t.final_ms > now_ms - s->keys_ms)
			return 0;
		a->drop_tomb = 1;
		a->state = t.state;
		a->idem_len = t.idem_len;
		memcpy(a->idem, key, t.idem_len);
		return 1;
	}
	if (rec_parse(v, &r) != 0) {
		set_err(s, "message %llu: its record is unreadable (store damaged: run smsqctl "
			"check)", (unsigned long long)id);
		return -RC_SAID;
	}
	if (r.h.stored_ms > now_ms - retention_ms)
		return PLAN_YOUNG;
	rc = done_entry(s, txn, id, &r.h, &e);
	if (rc == MDB_NOTFOUND)
		return 0; /* waiting */
	if (rc != 0)
		return -rc;
	if (e.st.updated_ms > now_ms - retention_ms)
		return 0;
	a->state = e.st.state;
	a->final_ms = e.st.updated_ms;
	a->tomb = e.st.updated_ms > now_ms - s->keys_ms;
	memcpy(a->done_key, e.key, READY_KEY_LEN);
	a->idem_len = r.h.idem_len;
	memcpy(a->idem, r.idem, r.h.idem_len);
	a->booking_len = r.h.booking_len;
	a->created_ms = r.h.created_ms;
	memcpy(a->booking, r.booking, r.h.booking_len);
	if (s->has_sentby && (r.h.flags & REC_ERASED) == 0 &&
	    (e.st.state == STORE_STATE_SENT || e.st.state == STORE_STATE_DELIVERED ||
	     e.st.state == STORE_STATE_UNDELIVERED)) {
		char plain[STORE_TO_MAX + STORE_TEXT_MAX];

		/* the provider's id is the note's first word; a sealed number
		 * that does not open has no entry to find */
		if (rec_unseal_tt(s, id, &r, plain) == 0)
			a->sentby_len = sentby_key(s, a->sentby, e.note, strcspn(e.note, " "), r.to,
						   r.h.to_len);
		secret_wipe(plain, sizeof(plain));
	}
	return 1;
}

/* Delete k from dbi; a missing entry is a damaged store. */
static int del_entry(store *s, MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len,
		     const char *what, uint64_t id)
{
	MDB_val k = { len, (void *)key };
	int rc = mdb_del(txn, dbi, &k, NULL);

	if (rc == MDB_NOTFOUND) {
		set_err(s, "message %llu: no %s entry to purge (store damaged: run smsqctl check)",
			(unsigned long long)id, what);
		return RC_SAID;
	}
	return rc;
}

/* Do a (planned in the same transaction). */
static int apply(store *s, MDB_txn *txn, const struct act *a, struct counters *c)
{
	unsigned char idk[ID_KEY_LEN], bk[BOOKING_KEY_MAX];
	MDB_val k = { ID_KEY_LEN, idk }, v;
	int rc = 0;

	put_be64(idk, a->id);
	s->txn_moves++;
	if (!a->drop_tomb) {
		rc = del_entry(s, txn, s->db_done, a->done_key, READY_KEY_LEN, "done", a->id);
		if (rc == 0 && a->booking_len > 0 && s->has_booking)
			rc = del_entry(s, txn, s->db_booking, bk,
				       booking_key(bk, a->booking, a->booking_len, a->created_ms, a->id),
				       "booking", a->id);
		if (rc == 0 && a->sentby_len > 0) {
			/* indexed only when its provider's reports name it so */
			MDB_val sk = { a->sentby_len, (void *)a->sentby };

			rc = mdb_del(txn, s->db_sentby, &sk, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : rc;
		}
		if (rc != 0)
			return rc;
		c->count[a->state]--;
		c->purged++;
		if (c->receipts_held > 0 && s->has_held) {
			/* a receipt held for a send that ended otherwise (failed,
			 * expired while retrying): it goes with its message */
			rc = mdb_del(txn, s->db_held, &k, NULL);
			if (rc == 0)
				c->receipts_held--;
			else if (rc != MDB_NOTFOUND)
				return rc;
		}
	}
	if (a->tomb) {
		struct tomb_hdr t = { .type = STORE_REC_TOMB, .state = a->state,
				      .idem_len = a->idem_len, .final_ms = a->final_ms };
		char buf[sizeof(t) + STORE_IDEM_MAX];

		memcpy(buf, &t, sizeof(t));
		memcpy(buf + sizeof(t), a->idem, a->idem_len);
		v.mv_size = sizeof(t) + a->idem_len;
		v.mv_data = buf;
		c->keys_kept++;
		return mdb_put(txn, s->db_msg, &k, &v, 0);
	}
	rc = mdb_del(txn, s->db_msg, &k, NULL);
	if (rc == 0)
		rc = del_entry(s, txn, s->db_idem, a->idem, a->idem_len, "key", a->id);
	if (rc == 0 && a->drop_tomb)
		c->keys_kept--;
	return rc;
}

/* The reading and writing of a step, in txn (the caller commits). */
static int purge_in(store *s, MDB_txn *txn, int64_t now_ms, int64_t retention_ms,
		    size_t max_visit, struct counters *c, struct store_purged *out)
{
	struct act *acts = NULL;
	size_t n = 0;
	unsigned char idk[ID_KEY_LEN];
	MDB_cursor *cur = NULL;
	MDB_val k = { ID_KEY_LEN, idk }, v;
	uint64_t next = s->sh->sweep_at;
	int rc;

	if (max_visit == 0)
		return 0;
	acts = malloc(max_visit * sizeof(*acts));
	if (acts == NULL)
		return ENOMEM;
	put_be64(idk, next);
	rc = mdb_cursor_open(txn, s->db_msg, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && out->visited < max_visit) {
		uint64_t id = k.mv_size == ID_KEY_LEN ? get_be64(k.mv_data) : 0;
		int p = plan(s, txn, id, &v, now_ms, retention_ms, &acts[n]);

		if (p < 0) {
			rc = -p;
			break;
		}
		if (p == PLAN_YOUNG) {
			rc = MDB_NOTFOUND; /* the round ends here */
			break;
		}
		n += (size_t)p;
		out->visited++;
		next = id + 1;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		out->wrapped = 1;
		next = 0;
		/* receipts held by a number: no longer than the number is kept */
		rc = receipt_held_expire(s, txn, now_ms - (retention_ms < s->personal_ms
								  ? retention_ms
								  : s->personal_ms), c);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = apply(s, txn, &acts[i], c);
		if (rc == 0 && !acts[i].drop_tomb)
			out->purged++;
		else if (rc == 0)
			out->keys_dropped++;
	}
	free(acts);
	if (rc == 0)
		s->sh->sweep_at = next; /* kept by the caller only once committed */
	return rc;
}

struct purge_args {
	int64_t now_ms;
	int64_t retention_ms;
	size_t max_visit;
	struct store_purged *out;
};

/* The body of a write_txn(): free pages zeroed (before anything is
 * written), purge_in(), then erase_in(). */
static int purge_fn(store *s, MDB_txn *txn, struct counters *c, void *arg, size_t *finals)
{
	struct purge_args *a = arg;
	int nudge = 0, rc;

	(void)finals; /* final already */
	memset(a->out, 0, sizeof(*a->out));
	rc = scrub_pages(s, txn, STORE_SCRUB_PAGES, &a->out->pages_zeroed, &nudge);
	if (rc == 0 && nudge) {
		uint64_t passes;

		rc = get_u64(txn, s->db_meta, "scrub_passes", &passes);
		if (rc == 0)
			rc = put_u64(txn, s->db_meta, "scrub_passes", passes + 1);
		s->txn_moves++;
	}
	if (rc == 0)
		rc = purge_in(s, txn, a->now_ms, a->retention_ms, a->max_visit, c, a->out);
	if (rc == 0 && s->personal_ms < a->retention_ms)
		rc = erase_in(s, txn, a->now_ms, a->max_visit, a->out);
	else
		a->out->erase_wrapped = 1; /* the purge comes first: nothing to erase */
	return rc;
}

int purge_step(store *s, int64_t now_ms, int64_t retention_ms, size_t max_visit,
	       struct store_purged *out)
{
	struct purge_args a = { now_ms, retention_ms, max_visit, out };
	struct store_shared *sh = s->sh;
	uint64_t at = sh->sweep_at, erase_at = sh->erase_at, pin = sh->erase_pin;
	uint64_t outbox_masked = sh->outbox_masked;
	int rc = write_txn(s, "purge", purge_fn, &a);

	if (rc == 0 && (out->purged > 0 || out->keys_dropped > 0 || out->erased > 0))
		sh->scrub_due = STORE_SCRUB_PASSES; /* what they freed, out of the file */
	if (rc != 0) {
		/* nothing of the step happened */
		sh->sweep_at = at;
		sh->erase_at = erase_at;
		sh->erase_pin = pin;
		sh->outbox_masked = outbox_masked;
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

int store_purge(store *s, int64_t now_ms, size_t max_visit, struct store_purged *out)
{
	STORE_LOCKED(s);
	memset(out, 0, sizeof(*out));
	if (s->read_only) {
		set_err(s, "purge: store opened read-only");
		return STORE_ERROR;
	}
	if (seal_needed(s, "purge") != 0)
		return STORE_ERROR;
	if (max_visit > STORE_PURGE_VISIT)
		max_visit = STORE_PURGE_VISIT;
	WITH_GROWTH(purge_step(s, now_ms, s->retention_ms, max_visit, out));
}
