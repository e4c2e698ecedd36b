/*
 * store_queue: the queue's moves (see store.h for the contract,
 * store_impl.h for the files of the store, store_record.c for the
 * schema they move entries in).
 *
 * Ingest (store_ingest()): a batch of new messages in one write
 * transaction and one sync; a key already stored is a duplicate, answered
 * with its first id and changing nothing.  Before the batch, ingest_room()
 * checks that it fits under the ingest limit and on the disk with the
 * reserve for sending kept (store_env.c).
 *
 * Dispatch (store_lease(), store_finish(), store_finish_lease()): one write
 * transaction applies a worker's outcomes, then makes due delayed messages
 * and ran-out leases ready (promote()), then leases the most urgent ready
 * messages up to a count and a budget of segments (lease_in()), then moves
 * the low mark and writes the counters: one sync for both halves of a
 * dispatch turn.  A message past its expiry is made expired on the way,
 * never leased.  Each call is one attempt, replayed whole after the map
 * grows (WITH_GROWTH): a transaction that hit MDB_MAP_FULL changed nothing.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/secret.h"


/* Write one new message and its index entry; counters in *c.  Returns an
 * LMDB code; MDB_KEYEXIST means a duplicate (msg->id set to the existing
 * id). */
static int ingest_one(store *s, MDB_txn *txn, struct store_new *m, uint64_t id,
		      int64_t now_ms, struct counters *c)
{
	MDB_val k, v;
	unsigned char idbuf[ID_KEY_LEN];
	struct rec_hdr h;
	struct rec r;
	struct entry e;
	char note[64];
	uint64_t by;
	char *p;
	int alone = 1, held = 0;
	int rc;
	/* Sealed: destination and text in clear (tt), then their ciphertext
	 * (ct), which the record and the sending copy hold. */
	char tt[STORE_TO_MAX + STORE_TEXT_MAX], ct[STORE_TO_MAX + STORE_TEXT_MAX];
	unsigned char seal_tt[SEAL_BYTES];
	const char *to = m->to ? m->to : "", *text = m->text ? m->text : "";

	m->withdrew = 0;
	put_be64(idbuf, id);
	k.mv_size = m->idem_len;
	k.mv_data = (void *)m->idem_key;
	v.mv_size = sizeof(idbuf);
	v.mv_data = idbuf;
	rc = mdb_put(txn, s->db_idem, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		m->id = v.mv_size == ID_KEY_LEN ? get_be64(v.mv_data) : 0;
		return rc;
	}
	if (rc != 0)
		return rc;
	if (s->admit.admit != NULL) {
		int why = s->admit.admit(s->admit.arg, m, now_ms);

		if (why != 0 && !s->admit.hold) {
			/* k is still the key: nothing of the message stays. */
			m->refused = why;
			rc = mdb_del(txn, s->db_idem, &k, NULL);
			return rc != 0 ? rc : RC_REFUSED;
		}
		if (why != 0) {
			m->refused = why;
			held = 1;
		}
	}
	/* admitted: undone if the batch fails (held: nothing to undo) */
	m->result = held ? STORE_INGEST_HELD : STORE_INGEST_ACCEPTED;

	memset(&h, 0, sizeof(h));
	h.type = STORE_REC_V5;
	h.priority = m->priority;
	h.segments = m->segments;
	h.encoding = m->encoding;
	h.idem_len = (uint16_t)m->idem_len;
	h.event_len = (uint32_t)m->event_len;
	h.to_len = (uint16_t)m->to_len;
	h.text_len = (uint16_t)m->text_len;
	h.created_ms = m->created_ms;
	h.not_before_ms = m->not_before_ms;
	h.expires_ms = m->expires_ms;
	h.appointment_ms = m->appointment_ms;
	h.urgency_ms = store_urgency_ms(m->appointment_ms, now_ms);
	h.kind = m->kind;
	h.booking_len = (uint16_t)m->booking_len;
	h.stored_ms = now_ms;
	if (s->sh->seal != NULL)
		h.flags = REC_SEALED;
	/* Ids only grow: MDB_APPEND skips the search.  An id that is not past
	 * the last one means a broken id counter: it must fail the batch, not
	 * pass for a duplicate key. */
	k.mv_size = sizeof(idbuf);
	k.mv_data = idbuf;
	v.mv_size = rec_size(&h);
	v.mv_data = NULL;
	rc = mdb_put(txn, s->db_msg, &k, &v, MDB_APPEND | MDB_RESERVE);
	if (rc == MDB_KEYEXIST)
		return MDB_CORRUPTED;
	if (rc != 0)
		return rc;
	p = v.mv_data;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	memcpy(p, m->idem_key, h.idem_len);
	p += h.idem_len;
	if (h.flags & REC_SEALED) {
		char *trailer = p + h.event_len + h.to_len + h.text_len + h.booking_len;

		rec_seal(s, id, SEAL_AD_EVENT, p, m->event, h.event_len, (unsigned char *)trailer);
		memcpy(tt, to, h.to_len);
		memcpy(tt + h.to_len, text, h.text_len);
		rec_seal(s, id, SEAL_AD_TT, ct, tt, (size_t)h.to_len + h.text_len, seal_tt);
		secret_wipe(tt, (size_t)h.to_len + h.text_len);
		memcpy(trailer + SEAL_BYTES, seal_tt, SEAL_BYTES);
		to = ct;
		text = ct + h.to_len;
	} else if (h.event_len > 0)
		memcpy(p, m->event, h.event_len);
	p += h.event_len;
	if (h.to_len > 0)
		memcpy(p, to, h.to_len);
	p += h.to_len;
	if (h.text_len > 0)
		memcpy(p, text, h.text_len);
	p += h.text_len;
	if (h.booking_len > 0)
		memcpy(p, m->booking, h.booking_len);

	/* The entry, created by entry_move() (from its state to itself); a
	 * ready one copies the destination and text (sealed: their ciphertext
	 * and seal), from m or ct.  Superseded on
	 * arrival when a newer event of its booking is stored. */
	r = (struct rec){ .h = h, .idem = m->idem_key, .to = to, .text = text,
			  .booking = m->booking,
			  .seal_tt = h.flags & REC_SEALED ? seal_tt : NULL };
	by = 0;
	if (h.booking_len > 0)
		rc = booking_put(s, txn, id, &r, &alone);
	if (rc == 0 && !alone)
		rc = booking_newer(s, txn, &r, &by);
	if (rc != 0)
		return rc;
	memset(&e, 0, sizeof(e));
	e.st.state = by != 0			  ? STORE_STATE_SUPERSEDED
		     : held			  ? STORE_STATE_HELD
		     : m->not_before_ms > now_ms ? STORE_STATE_DELAYED
						 : STORE_STATE_READY;
	if (by != 0)
		snprintf(note, sizeof(note), "superseded on arrival by message %llu",
			 (unsigned long long)by);
	else if (held)
		snprintf(note, sizeof(note), "held: %s",
			 s->admit.name != NULL ? s->admit.name(m->refused) : "over a limit");
	rc = entry_move(s, txn, id, &r, &e, (enum store_state)e.st.state,
			held ? m->expires_ms : m->not_before_ms, by != 0 || held ? note : NULL,
			now_ms, c);
	if (rc != 0)
		return rc;
	if (by != 0) {
		c->segments_withdrawn += h.segments;
		c->superseded++;
		rc = outbox_put(s, txn, id, STORE_STATE_SUPERSEDED, note, now_ms, c);
		if (rc != 0)
			return rc;
	} else if (!held)
		c->segments_waiting += h.segments;
	c->segments_saved += m->segments_saved;
	c->count[e.st.state]++;
	c->total++;
	m->id = id;
	m->state = e.st.state;
	if (alone)
		return 0; /* nothing else of its booking to judge */
	return booking_ingest(s, txn, id, &r, e.st.state, m->cancel_notice, now_ms, c, &m->withdrew);
}

void store_set_admit(store *s, const struct store_admit *a)
{
	if (a != NULL)
		s->admit = *a;
	else
		memset(&s->admit, 0, sizeof(s->admit));
}

/* A batch's transaction did not commit: take back what the hook admitted. */
static void admit_undo(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	if (s->admit.undo == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if (msgs[i].result == STORE_INGEST_ACCEPTED)
			s->admit.undo(s->admit.arg, &msgs[i], now_ms);
}

/* One attempt at the whole batch.  Returns an LMDB code. */
static int ingest_attempt(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	MDB_txn *txn = NULL;
	struct counters c;
	uint64_t next_id;
	size_t withdrawn = 0;
	int rc = txn_begin(s, 0, &txn);

	if (rc != 0)
		return rc;
	s->txn_due = INT64_MAX;
	rc = get_u64(txn, s->db_meta, "next_id", &next_id);
	if (rc == 0)
		rc = get_counters(txn, s->db_meta, &c);
	if (rc != 0)
		goto fail;
	if (next_id == 0)
		next_id = 1;
	for (size_t i = 0; i < n; i++) {
		msgs[i].result = STORE_INGEST_DUPLICATE; /* until ingest_one() admits it */
		msgs[i].refused = 0;
	}
	for (size_t i = 0; i < n; i++) {
		rc = ingest_one(s, txn, &msgs[i], next_id, now_ms, &c);
		if (rc == MDB_KEYEXIST)
			continue;
		if (rc == RC_REFUSED) {
			msgs[i].result = STORE_INGEST_REFUSED;
			continue;
		}
		if (rc != 0)
			goto fail;
		withdrawn += msgs[i].withdrew; /* result: accepted or held (ingest_one()) */
		next_id++;
	}
	rc = put_u64(txn, s->db_meta, "next_id", next_id);
	if (rc == 0 && withdrawn > 0)
		rc = advance_low(s, txn, STORE_LOW_STEPS + 2 * withdrawn);
	if (rc == 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0)
		goto fail;
	/* Commit syncs data and meta page before returning: only now may the
	 * caller acknowledge. */
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		rc = commit_failed(s, "ingest", rc);
		admit_undo(s, msgs, n, now_ms);
	} else if (s->txn_due < s->sh->next_due_ms)
		__atomic_store_n(&s->sh->next_due_ms, s->txn_due, __ATOMIC_RELAXED);
	return rc;
fail:
	if (rc != RC_SAID)
		set_err(s, "ingest: %s", mdb_strerror(rc));
	mdb_txn_abort(txn);
	admit_undo(s, msgs, n, now_ms);
	return rc;
}

/* Whether need more bytes of pages fit: under the ingest limit, and on the
 * disk with the reserve for sending kept.  The cheap tests first (the
 * file's high-water mark, the blocks in hand).  Near the limit the pages
 * in use are the high-water mark less LMDB's free list (pages on it are
 * reused before the file grows), which is read once and then spent batch
 * by batch (sh->ingest_budget, a quarter of the room kept for sending at
 * most) until read again.  On a full disk, what the
 * free list holds will do while half the reserve is still in hand (LMDB
 * may extend the file all the same: by one batch at most), so a drained
 * backlog makes room again, on the map as on a full disk.  Returns
 * STORE_OK, STORE_FULL (said) or STORE_ERROR. */
static int ingest_room(store *s, uint64_t need)
{
	struct store_shared *sh = s->sh;
	uint64_t limit = store_ingest_limit(s->map_max_bytes);
	uint64_t hwm = 0, free_b = 0, in_use, room = 0;
	MDB_txn *txn = NULL;
	int rc = pages_bytes(s, NULL, &hwm, NULL);

	if (rc == 0 && (hwm + need <= limit || (int64_t)need <= sh->ingest_budget)) {
		if (hwm + need > limit)
			sh->ingest_budget -= (int64_t)need;
		if (disk_reserve(s, need) == 0)
			return STORE_OK;
	}
	if (rc == 0)
		rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = pages_bytes(s, txn, &hwm, &free_b);
		mdb_txn_abort(txn);
	}
	if (rc != 0) {
		set_err(s, "ingest: pages in use: %s", mdb_strerror(rc));
		return STORE_ERROR;
	}
	in_use = hwm > free_b ? hwm - free_b : 0;
	if (in_use + need > limit) {
		sh->ingest_budget = 0;
		set_err(s, "store is full: %llu MiB in use, and ingest stops at %llu MiB to keep "
			"the rest of store.map_max_mb (%llu MiB) for sending",
			(unsigned long long)(in_use >> 20), (unsigned long long)(limit >> 20),
			(unsigned long long)(s->map_max_bytes >> 20));
		return STORE_FULL;
	}
	/* Spent without a look at the free list: a quarter of the room kept
	 * for sending at most, since other ingesting processes spend theirs
	 * meanwhile. */
	sh->ingest_budget = (int64_t)(limit - in_use - need);
	if (sh->ingest_budget > (int64_t)((s->map_max_bytes - limit) / 4))
		sh->ingest_budget = (int64_t)((s->map_max_bytes - limit) / 4);
	if (free_b >= need && disk_room(s, &room) == 0 && room >= sh->disk_reserve / 2)
		return STORE_OK;
	return disk_reserve(s, need) == 0 ? STORE_OK : STORE_FULL; /* said there */
}

/* Messages ever made final (the counters: final states and purged). */
static uint64_t finals(store *s)
{
	MDB_txn *txn = NULL;
	struct counters c;
	uint64_t n = 0;

	if (txn_begin(s, MDB_RDONLY, &txn) != 0)
		return 0;
	if (get_counters(txn, s->db_meta, &c) == 0) {
		n = c.purged;
		for (int i = 0; i < STORE_STATE_COUNT; i++)
			n += is_open((unsigned)i) ? 0 : c.count[i];
	}
	mdb_txn_abort(txn);
	return n;
}

/* A full store (ingest_room()): purge final messages that have been final
 * STORE_PURGE_FLOOR_MS (or the retention, when shorter), a bounded part of
 * a round of the sweep.  After a sweep that purged nothing, not again
 * within STORE_PURGE_FULL_EVERY_MS unless messages were made final since.
 * Returns how many were purged (their pages reusable once no reader holds
 * them), or 0. */
static size_t purge_for_room(store *s, int64_t now_ms)
{
	int64_t retention = s->retention_ms < STORE_PURGE_FLOOR_MS ? s->retention_ms
								   : STORE_PURGE_FLOOR_MS;
	int64_t mono = clock_mono_ms();
	uint64_t made_final = finals(s);
	size_t purged = 0;
	char keep[STORE_ERRMSG_MAX];

	if (mono < s->sh->purge_full_at && made_final == s->sh->purge_full_finals)
		return 0;
	memcpy(keep, s->errmsg, sizeof(keep)); /* "store is full ...", if nothing comes of it */
	for (int i = 0; i < STORE_PURGE_FULL_STEPS; i++) {
		struct store_purged out;

		if (purge_step(s, now_ms, retention, STORE_PURGE_VISIT, &out) != 0)
			break;
		purged += out.purged;
		if (out.wrapped)
			break;
	}
	memcpy(s->errmsg, keep, sizeof(keep));
	if (purged > 0)
		s->sh->ingest_budget = 0; /* read the free list again */
	s->sh->purge_full_at = mono + STORE_PURGE_FULL_EVERY_MS;
	s->sh->purge_full_finals = made_final;
	return purged;
}

/* What storing m may take in pages, generously: its record, its indexes'
 * entries with the sending copy, and half-full B-tree pages. */
static uint64_t ingest_need(const struct store_new *m)
{
	return 2 * (sizeof(struct rec_hdr) + 2 * m->idem_len + m->event_len +
		    2 * (m->to_len + m->text_len) + sizeof(struct st) + sizeof(struct copy_hdr) +
		    2 * READY_KEY_LEN + 2 * m->booking_len + 2 * ID_KEY_LEN + REC_SEAL_TRAILER +
		    SEAL_BYTES + 64);
}

int store_ingest(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	uint64_t need = 0;

	STORE_LOCKED(s);
	if (s->read_only) {
		set_err(s, "ingest: store opened read-only");
		return STORE_ERROR;
	}
	if (seal_needed(s, "ingest") != 0)
		return STORE_ERROR;
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].idem_len == 0 || msgs[i].idem_len > STORE_IDEM_MAX ||
		    msgs[i].priority > STORE_PRIORITY_MAX || msgs[i].event_len > UINT32_MAX ||
		    msgs[i].to_len > STORE_TO_MAX || msgs[i].text_len > STORE_TEXT_MAX) {
			set_err(s, "ingest: message %zu out of bounds", i);
			return STORE_ERROR;
		}
		need += ingest_need(&msgs[i]);
	}
	int room = ingest_room(s, need);
	if (room == STORE_FULL && purge_for_room(s, now_ms) > 0)
		room = ingest_room(s, need);
	if (room != STORE_OK)
		return room;
	for (int tries = 0; tries < STORE_MAX_GROW_RETRIES; tries++) {
		int rc = ingest_attempt(s, msgs, n, now_ms);

		if (rc == 0)
			return STORE_OK;
		if (rc == RC_DISK_FULL)
			return STORE_FULL;
		if (rc != MDB_MAP_FULL)
			return STORE_ERROR;
		rc = grow_map(s);
		if (rc != 0)
			return rc;
	}
	set_err(s, "ingest: batch does not fit after growing the map");
	return STORE_FULL;
}

/* Read the first entry of cur's database (its key and state into e, its id
 * into *id), leaving it in place and cur on it: entry_del_move() moves it.
 * Returns 0, MDB_NOTFOUND when empty, or an error.  With limit_ms set
 * (delayed index), an entry due after *limit_ms is reported as MDB_NOTFOUND,
 * its due time in *next_ms (INT64_MAX when the index is empty). */
static int first_entry(store *s, MDB_cursor *cur, const int64_t *limit_ms, struct entry *e,
		       uint64_t *id, int64_t *next_ms)
{
	MDB_val k, v;
	const char *name = limit_ms != NULL ? "delayed" : "ready";
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);

	if (rc == 0 && (k.mv_size < ID_KEY_LEN + 1 || k.mv_size > sizeof(e->key))) {
		set_err(s, "a key of %zu bytes in %s (store damaged: run smsqctl check)",
			k.mv_size, name);
		return RC_SAID;
	}
	if (limit_ms != NULL) {
		*next_ms = rc == 0 ? key_time(k.mv_data) : INT64_MAX;
		if (rc == 0 && *next_ms > *limit_ms)
			rc = MDB_NOTFOUND;
	}
	if (rc == 0 && st_parse(&v, e) != 0) {
		set_err(s, "message %llu: its entry in %s is unreadable (store damaged: run "
			"smsqctl check)", (unsigned long long)index_key_id(&k), name);
		rc = RC_SAID;
	}
	if (rc == 0) {
		*id = index_key_id(&k);
		e->dbi = mdb_cursor_dbi(cur);
		e->klen = k.mv_size;
		memcpy(e->key, k.mv_data, k.mv_size);
		e->cur = cur;
	}
	return rc;
}

/* The record of an indexed message: missing means a damaged store. */
static int indexed_rec(store *s, MDB_txn *txn, uint64_t id, struct rec *r)
{
	int rc = rec_read(s, txn, id, r);

	if (rc != MDB_NOTFOUND && rc != MDB_CORRUPTED)
		return rc;
	set_err(s, "message %llu: %s (store damaged: run smsqctl check)", (unsigned long long)id,
		rc == MDB_NOTFOUND ? "indexed but not stored" : "its record is unreadable");
	return RC_SAID;
}

/* What a lease needs of ready entry e's message (e from first_entry()):
 * its sending copy (schema 4), else its record.  Returns an LMDB code. */
static int lease_source(store *s, MDB_txn *txn, uint64_t id, const struct entry *e,
			struct rec *r)
{
	if (!e->has_copy)
		return indexed_rec(s, txn, id, r);
	if (e->klen != READY_KEY_LEN || e->key[0] > STORE_PRIORITY_MAX) {
		set_err(s, "message %llu: a ready key of an unknown form (store damaged: run "
			"smsqctl check)", (unsigned long long)id);
		return RC_SAID;
	}
	*r = e->copy;
	r->h.priority = (uint8_t)(STORE_PRIORITY_MAX - e->key[0]);
	r->h.urgency_ms = key_time(e->key + 1);
	return 0;
}

/* Copy r's destination and text into held (cap bytes) and point r there,
 * so that they outlive the transaction's next write (LMDB's data is valid
 * until then); when they do not fit, r keeps no sections (no sending copy
 * for it).  Its other sections are dropped. */
static void rec_hold(struct rec *r, char *held, size_t cap)
{
	size_t n = (size_t)r->h.to_len + r->h.text_len;

	r->idem = NULL;
	r->event = NULL;
	r->booking = NULL;
	r->seal_ev = NULL;
	if (n + (r->seal_tt != NULL ? SEAL_BYTES : 0) > cap) {
		r->to = r->text = NULL;
		r->seal_tt = NULL;
		return;
	}
	memcpy(held, r->to, r->h.to_len);
	memcpy(held + r->h.to_len, r->text, r->h.text_len);
	if (r->seal_tt != NULL) {
		memcpy(held + n, r->seal_tt, SEAL_BYTES);
		r->seal_tt = (const unsigned char *)held + n;
	}
	r->to = held;
	r->text = held + r->h.to_len;
}

/* Make due delayed messages and ran-out leases ready (or expired), up to
 * max; *next_due the due time of the first one left (store_next_due_ms()).
 * Returns an LMDB code. */
static int promote(store *s, MDB_txn *txn, int64_t now_ms, size_t max, struct counters *c,
		   size_t *n_expired, size_t *n_final, int64_t *next_due)
{
	MDB_cursor *cur = NULL;
	int rc = mdb_cursor_open(txn, s->db_delayed, &cur);

	*next_due = now_ms;
	for (size_t done = 0; rc == 0 && done < max; done++) {
		struct entry e;
		struct rec r;
		uint64_t id, by = 0;
		int receipt = 0;

		rc = first_entry(s, cur, &now_ms, &e, &id, next_due);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc == 0)
			rc = indexed_rec(s, txn, id, &r);
		if (rc != 0)
			break;
		if (e.st.state == STORE_STATE_INFLIGHT)
			c->lease_expired++;
		if (r.h.expires_ms > now_ms && r.h.booking_len > 0)
			rc = booking_newer(s, txn, &r, &by);
		if (rc != 0)
			break;
		if (r.h.expires_ms <= now_ms) {
			rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_EXPIRED, 0,
					    "expired before it could be sent", now_ms, c);
			(*n_expired)++;
			(*n_final)++;
		} else if (by != 0) {
			char note[64];

			snprintf(note, sizeof(note), "superseded by message %llu",
				 (unsigned long long)by);
			rc = withdraw(s, txn, id, &r.h, &e, STORE_STATE_SUPERSEDED, note, now_ms, c);
			(*n_final)++;
		} else if (c->receipts_held > 0 &&
			   (rc = receipt_held_apply(s, txn, id, &r.h, &e, now_ms, c, &receipt)) == 0 &&
			   receipt) {
			(*n_final)++; /* an earlier attempt went out: its receipt came */
		} else if (rc == 0) {
			char held[STORE_COPY_MAX];

			rec_hold(&r, held, sizeof(held));
			rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_READY, 0, NULL, now_ms,
					    c);
		}
	}
	if (*next_due < now_ms)
		*next_due = now_ms; /* it stopped at max: more may be due */
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc;
}

/* The lease part of a write transaction (see store_lease): *n_out leased
 * into out, *expired expired on the way, final moves added to *n_final. */
static int lease_in(store *s, MDB_txn *txn, int64_t now_ms, int64_t lease_ms, size_t max,
		    uint32_t budget, struct store_leased *out, char *texts, size_t texts_cap,
		    size_t *n_out, size_t *expired, struct counters *c, size_t *n_final,
		    int64_t *next_due)
{
	uint64_t segs = 0;
	size_t used = 0;
	MDB_cursor *cur = NULL;
	char plain[STORE_TO_MAX + STORE_TEXT_MAX]; /* a sealed destination and text opened */
	int rc = promote(s, txn, now_ms, max * 4 + 256, c, expired, n_final, next_due);

	if (rc == 0)
		rc = mdb_cursor_open(txn, s->db_ready, &cur);
	while (rc == 0 && *n_out < max) {
		struct entry e;
		struct rec r;
		uint64_t id;

		rc = first_entry(s, cur, NULL, &e, &id, NULL);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc == 0)
			rc = lease_source(s, txn, id, &e, &r);
		if (rc != 0)
			break;
		if (r.h.expires_ms <= now_ms) {
			rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_EXPIRED, 0,
					    "expired before it could be sent", now_ms, c);
			(*expired)++;
			(*n_final)++;
			continue;
		}
		if (budget != 0 && *n_out > 0 && segs + r.h.segments > budget)
			break; /* the pacing tokens in hand are spent */
		if (used + r.h.text_len + 1 > texts_cap)
			break; /* the texts buffer is full (the first text always fits) */
		rc = rec_unseal_tt(s, id, &r, plain);
		if (rc == RC_UNSEALED) {
			/* Never sent: its bytes were altered (a wrong key is
			 * refused at open). */
			rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_FAILED, 0,
					    STORE_NOTE_UNSEALED, now_ms, c);
			c->unsealed++;
			(*n_final)++;
			continue;
		}
		/* Copy out of LMDB memory before the writes below. */
		struct store_leased *l = &out[*n_out];
		l->id = id;
		l->lease_until_ms = now_ms + lease_ms;
		l->created_ms = r.h.created_ms;
		l->attempts = (uint16_t)(e.st.attempts + 1);
		l->released = (e.st.flags & ST_RELEASED) != 0;
		memcpy(l->to, r.to, r.h.to_len);
		l->to[r.h.to_len] = '\0';
		l->text = texts + used;
		l->text_len = r.h.text_len;
		l->hdr.urgency_ms = r.h.urgency_ms;
		l->hdr.expires_ms = r.h.expires_ms;
		l->hdr.segments = r.h.segments;
		l->hdr.priority = r.h.priority;
		l->hdr.id = id;
		memcpy(l->text, r.text, r.h.text_len);
		l->text[r.h.text_len] = '\0';
		used += (size_t)r.h.text_len + 1;
		if (r.to == plain)
			secret_wipe(plain, (size_t)r.h.to_len + r.h.text_len);
		e.st.attempts = l->attempts;
		c->attempts++;
		rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_INFLIGHT, l->lease_until_ms,
				    NULL, now_ms, c);
		segs += r.h.segments;
		(*n_out)++;
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc;
}

static int cycle_attempt(store *s, const char *what, struct store_outcome *o, size_t n,
			 int64_t now_ms, int64_t lease_ms, size_t max, uint32_t budget,
			 struct store_leased *out, char *texts, size_t texts_cap, size_t *n_out,
			 size_t *n_expired);

int store_lease(store *s, int64_t now_ms, int64_t lease_ms, size_t max, uint32_t budget_segments,
		struct store_leased *out, char *texts, size_t texts_cap, size_t *n_out,
		size_t *n_expired)
{
	STORE_LOCKED(s);
	*n_out = 0;
	if (s->read_only) {
		set_err(s, "lease: store opened read-only");
		return STORE_ERROR;
	}
	if (texts_cap < STORE_LEASE_TEXTS_MIN) {
		set_err(s, "lease: texts buffer of %zu bytes, under %d", texts_cap,
			STORE_LEASE_TEXTS_MIN);
		return STORE_ERROR;
	}
	if (max == 0)
		return STORE_OK;
	(void)disk_reserve(s, 0); /* tops it up when it can; sending may use it */
	WITH_GROWTH(cycle_attempt(s, "lease", NULL, 0, now_ms, lease_ms, max, budget_segments, out,
				  texts, texts_cap, n_out, n_expired));
}

/* A newer event that supersedes message id, which is being released back
 * to the queue, in *by (0: none).  Returns an LMDB code. */
static int released_to(store *s, MDB_txn *txn, uint64_t id, uint64_t *by)
{
	struct rec r;
	int rc = rec_read(s, txn, id, &r);

	*by = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc != 0 ? rc : booking_newer(s, txn, &r, by);
}

/* Apply one outcome (dcur: a cursor on the delayed index, where leases
 * are).  Returns an LMDB code (0 also when not applicable). */
static int finish_one(store *s, MDB_txn *txn, MDB_cursor *dcur, struct store_outcome *o,
		      int64_t now_ms, struct counters *c)
{
	struct rec r, hdr = { .idem = NULL }; /* hdr: the header only (a message
						  released to ready reads its record) */
	struct rec_hdr *h = &hdr.h;
	struct entry e;
	uint64_t by;
	int rc;

	o->applied = 0;
	o->lease_lost = 0;
	if (o->hdr.id == o->id) {
		/* What the lease read of the record (which never changes),
		 * instead of reading it again. */
		h->urgency_ms = o->hdr.urgency_ms;
		h->expires_ms = o->hdr.expires_ms;
		h->segments = o->hdr.segments;
		h->priority = o->hdr.priority;
	} else {
		rc = rec_read(s, txn, o->id, &r);
		if (rc == MDB_NOTFOUND)
			return 0;
		if (rc != 0)
			return rc;
		*h = r.h; /* the header outlives the writes below */
	}
	e.st.state = STORE_STATE_INFLIGHT;
	e.st.due_ms = o->lease_until_ms;
	entry_place(s, h, o->id, &e);
	rc = entry_seek(dcur, &e);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (rc == MDB_NOTFOUND || e.st.state != STORE_STATE_INFLIGHT) {
		/* The lease ran out and the message moved on.  Only a "sent"
		 * still applies (it went out: never send it again), unless the
		 * message is final already. */
		o->lease_lost = 1;
		o->found_state = STORE_STATE_COUNT; /* not looked for */
		if (o->kind != STORE_OUT_SENT)
			return 0;
		rc = entry_find(s, txn, o->id, h, &e);
		if (rc == MDB_NOTFOUND)
			return 0; /* in no index: a damaged store (smsqctl check says so);
				     failing the whole batch would only lose the others */
		if (rc != 0)
			return rc;
		o->found_state = (enum store_state)e.st.state;
		if (!is_waiting(e.st.state))
			return 0;
	}
	if (o->kind == STORE_OUT_SENT || o->kind == STORE_OUT_FAILED || o->kind == STORE_OUT_RETRY)
		e.st.provider = o->provider; /* the provider of this attempt */
	switch (o->kind) {
	case STORE_OUT_SENT:
		rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_SENT, 0,
				    o->note ? o->note : "", now_ms, c);
		if (rc == 0) {
			int applied; /* a receipt that came before this outcome */

			o->applied = 1;
			o->final_state = STORE_STATE_SENT;
			rc = receipt_held_apply(s, txn, o->id, h, &e, now_ms, c, &applied);
			if (rc == 0 && o->receipt_to != NULL && o->note != NULL)
				rc = receipt_sent_by(s, txn, o->id, h, &e, o->note, o->receipt_to,
						     now_ms, c, &applied);
			return rc;
		}
		break;
	case STORE_OUT_FAILED:
		rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_FAILED, 0,
				    o->note ? o->note : "failed", now_ms, c);
		break;
	case STORE_OUT_EXPIRED:
		rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_EXPIRED, 0,
				    o->note ? o->note : "expired before it could be sent", now_ms, c);
		break;
	case STORE_OUT_RETRY:
		c->retries++;
		if (o->not_attempted) {
			/* Throttled: the provider refused to look at it; that is
			 * not an attempt and must not count toward max_attempts. */
			if (e.st.attempts > 0)
				e.st.attempts--;
			c->attempts--;
		}
		if (o->ambiguous) {
			c->ambiguous++;
			e.st.ambiguous++;
		}
		if (o->at_ms >= h->expires_ms)
			rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_EXPIRED, 0,
					    "expired while retrying", now_ms, c);
		else if (o->max_attempts != 0 && e.st.attempts >= o->max_attempts)
			rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_FAILED, 0,
					    "too many attempts", now_ms, c);
		else
			rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_DELAYED, o->at_ms,
					    o->note, now_ms, c);
		break;
	case STORE_OUT_RELEASE:
		if (e.st.attempts > 0)
			e.st.attempts--;
		c->attempts--;
		rc = released_to(s, txn, o->id, &by);
		if (rc == 0 && by != 0) {
			char note[64];

			snprintf(note, sizeof(note), "superseded by message %llu",
				 (unsigned long long)by);
			rc = withdraw(s, txn, o->id, h, &e, STORE_STATE_SUPERSEDED, note, now_ms, c);
		} else if (rc == 0) {
			rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_READY, 0, NULL,
					    now_ms, c);
		}
		break;
	case STORE_OUT_RENEW:
		rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_INFLIGHT, o->at_ms, NULL,
				    now_ms, c);
		break;
	default:
		set_err(s, "finish: unknown outcome kind %d", (int)o->kind);
		return RC_SAID;
	}
	if (rc == 0) {
		o->applied = 1;
		o->final_state = (enum store_state)e.st.state;
	}
	return rc;
}

/* The outcome part of a write transaction (see store_finish); final moves
 * added to *n_final. */
static int finish_in(store *s, MDB_txn *txn, struct store_outcome *o, size_t n, int64_t now_ms,
		     struct counters *c, size_t *n_final)
{
	MDB_cursor *dcur = NULL;
	int rc = n > 0 ? mdb_cursor_open(txn, s->db_delayed, &dcur) : 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = finish_one(s, txn, dcur, &o[i], now_ms, c);
		if (rc == 0 && o[i].applied && !is_open(o[i].final_state))
			(*n_final)++;
	}
	if (dcur != NULL)
		mdb_cursor_close(dcur);
	return rc;
}

/*
 * One write transaction: the n outcomes o (n may be 0), then a lease of up
 * to max messages (0: none), then the low mark and the counters; committed
 * (and synced) once.  what names the call in errors.  On any error nothing
 * is committed and *n_out is 0.
 */
static int cycle_attempt(store *s, const char *what, struct store_outcome *o, size_t n,
			 int64_t now_ms, int64_t lease_ms, size_t max, uint32_t budget,
			 struct store_leased *out, char *texts, size_t texts_cap, size_t *n_out,
			 size_t *n_expired)
{
	MDB_txn *txn = NULL;
	struct counters c;
	size_t n_final = 0, expired = 0, leased = 0;
	int64_t next_due = s->sh->next_due_ms;
	int rc;

	if (n_out != NULL)
		*n_out = 0;
	if (n_expired != NULL)
		*n_expired = 0;
	if (seal_needed(s, what) != 0)
		return RC_SAID;
	rc = txn_begin(s, 0, &txn);
	if (rc != 0)
		return rc;
	s->txn_moves = 0;
	s->txn_due = INT64_MAX;
	rc = get_counters(txn, s->db_meta, &c);
	if (rc == 0)
		rc = finish_in(s, txn, o, n, now_ms, &c, &n_final);
	if (rc == 0 && max > 0)
		rc = lease_in(s, txn, now_ms, lease_ms, max, budget, out, texts, texts_cap, &leased,
			      &expired, &c, &n_final, &next_due);
	if (rc == 0 && n_final > 0)
		rc = advance_low(s, txn, STORE_LOW_STEPS + 2 * n_final);
	if (rc == 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0) {
		if (rc != RC_SAID) /* else it was said where it was found */
			set_err(s, "%s: %s", what, mdb_strerror(rc));
		mdb_txn_abort(txn);
		return rc;
	}
	/* Nothing moved (an idle worker looking): no commit, no sync. */
	rc = s->txn_moves == 0 ? (mdb_txn_abort(txn), 0) : mdb_txn_commit(txn);
	if (rc != 0)
		return commit_failed(s, what, rc);
	if (n_out != NULL)
		*n_out = leased;
	if (n_expired != NULL)
		*n_expired = expired; /* only what was committed */
	__atomic_store_n(&s->sh->next_due_ms, next_due < s->txn_due ? next_due : s->txn_due,
			 __ATOMIC_RELAXED);
	return 0;
}

/* Not under the lock: dispatch asks on every turn, and must not wait out
 * another thread's commit for a hint. */
int64_t store_next_due_ms(const store *s)
{
	return __atomic_load_n(&s->sh->next_due_ms, __ATOMIC_RELAXED);
}

int store_finish(store *s, struct store_outcome *o, size_t n, int64_t now_ms)
{
	STORE_LOCKED(s);
	if (s->read_only) {
		set_err(s, "finish: store opened read-only");
		return STORE_ERROR;
	}
	if (n == 0)
		return STORE_OK;
	(void)disk_reserve(s, 0);
	WITH_GROWTH(cycle_attempt(s, "finish", o, n, now_ms, 0, 0, 0, NULL, NULL, 0, NULL, NULL));
}

int store_finish_lease(store *s, struct store_outcome *o, size_t n, int64_t now_ms,
		       int64_t lease_ms, size_t max, uint32_t budget_segments,
		       struct store_leased *out, char *texts, size_t texts_cap, size_t *n_out,
		       size_t *n_expired)
{
	STORE_LOCKED(s);
	*n_out = 0;
	if (s->read_only) {
		set_err(s, "finish and lease: store opened read-only");
		return STORE_ERROR;
	}
	if (texts_cap < STORE_LEASE_TEXTS_MIN) {
		set_err(s, "finish and lease: texts buffer of %zu bytes, under %d", texts_cap,
			STORE_LEASE_TEXTS_MIN);
		return STORE_ERROR;
	}
	(void)disk_reserve(s, 0);
	WITH_GROWTH(cycle_attempt(s, "finish and lease", o, n, now_ms, lease_ms, max,
				  budget_segments, out, texts, texts_cap, n_out, n_expired));
}

/* ---- pausing ------------------------------------------------------------------ */

int store_pause(store *s, const char *name, int paused, int64_t now_ms, int *changed)
{
	STORE_LOCKED(s);
	char key[sizeof(STORE_PAUSE_KEY) + STORE_PAUSE_NAME_MAX];
	size_t len = strlen(name);
	MDB_txn *txn = NULL;
	MDB_val k, v = { sizeof(now_ms), &now_ms };
	int rc;

	if (changed != NULL)
		*changed = 0;
	if (s->read_only) {
		set_err(s, "pause: store opened read-only");
		return STORE_ERROR;
	}
	if (len == 0 || len > STORE_PAUSE_NAME_MAX) {
		set_err(s, "pause: a provider's name is 1 to %d bytes", STORE_PAUSE_NAME_MAX);
		return STORE_ERROR;
	}
	snprintf(key, sizeof(key), "%s%s", STORE_PAUSE_KEY, name);
	k = (MDB_val){ strlen(key), key };
	if (txn_begin(s, 0, &txn) != 0)
		return STORE_ERROR;
	rc = paused ? mdb_put(txn, s->db_meta, &k, &v, MDB_NOOVERWRITE)
		    : mdb_del(txn, s->db_meta, &k, NULL);
	if (rc == MDB_KEYEXIST || rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn); /* already so */
		return STORE_OK;
	}
	if (rc != 0) {
		set_err(s, "pause: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		return rc == MDB_MAP_FULL ? STORE_FULL : STORE_ERROR;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return commit_failed(s, "pause", rc) == RC_DISK_FULL ? STORE_FULL : STORE_ERROR;
	if (changed != NULL)
		*changed = 1;
	return STORE_OK;
}

/* ---- requeueing ----------------------------------------------------------------- */

/* Rewrite the expiry of message id's record to expires_ms.  Returns an LMDB
 * code. */
static int rec_set_expiry(store *s, MDB_txn *txn, uint64_t id, int64_t expires_ms)
{
	unsigned char idkey[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, idkey }, v;
	char *copy;
	int rc;

	put_be64(idkey, id);
	rc = mdb_get(txn, s->db_msg, &k, &v);
	if (rc != 0)
		return rc;
	if (v.mv_size < offsetof(struct rec_hdr, expires_ms) + sizeof(expires_ms))
		return MDB_CORRUPTED;
	copy = malloc(v.mv_size);
	if (copy == NULL)
		return ENOMEM;
	memcpy(copy, v.mv_data, v.mv_size);
	memcpy(copy + offsetof(struct rec_hdr, expires_ms), &expires_ms, sizeof(expires_ms));
	v.mv_data = copy;
	rc = mdb_put(txn, s->db_msg, &k, &v, 0);
	free(copy);
	return rc;
}

/* One message of store_requeue().  Returns an LMDB code. */
static int requeue_one(store *s, MDB_txn *txn, uint64_t id, int64_t now_ms, int force,
		       struct counters *c, uint64_t *low, enum store_requeue_result *res)
{
	struct entry e;
	struct rec r;
	int held, rc = rec_read(s, txn, id, &r);

	*res = STORE_REQUEUE_NOT_FOUND;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0) {
		memset(&e, 0, sizeof(e));
		rc = entry_find(s, txn, id, &r.h, &e);
	}
	if (rc != 0)
		return rc;
	*res = STORE_REQUEUE_NOT_FINAL;
	held = e.st.state == STORE_STATE_HELD;
	if (e.st.state != STORE_STATE_FAILED && e.st.state != STORE_STATE_EXPIRED && !held)
		return 0;
	*res = STORE_REQUEUE_ERASED;
	if ((r.h.flags & REC_ERASED) != 0)
		return 0; /* no number, no text left to send */
	*res = STORE_REQUEUE_PASSED;
	if (!force && (r.h.appointment_ms <= now_ms || r.h.expires_ms <= now_ms))
		return 0;
	if (r.h.expires_ms <= now_ms) {
		int64_t until = r.h.appointment_ms > now_ms ? r.h.appointment_ms
							    : now_ms + STORE_REQUEUE_GRACE_MS;

		rc = rec_set_expiry(s, txn, id, until);
		if (rc != 0)
			return rc;
		r.h.expires_ms = until;
	}
	/* Due now in the delayed index (a held one at its not-before, if
	 * later): the next lease makes it ready, with its sending copy, as any
	 * retry that comes due. */
	e.st.attempts = 0;
	e.st.ambiguous = 0;
	e.st.flags = held ? (uint8_t)(e.st.flags | ST_RELEASED) : (uint8_t)(e.st.flags & ~ST_RELEASED);
	rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_DELAYED,
			    held && r.h.not_before_ms > now_ms ? r.h.not_before_ms : now_ms,
			    held ? "released by an operator" : "requeued by an operator", now_ms, c);
	if (rc != 0)
		return rc;
	c->requeued++;
	if (id < *low)
		*low = id;
	*res = STORE_REQUEUED;
	return 0;
}

struct requeue_args {
	const uint64_t *ids;
	size_t n;
	int64_t now_ms;
	int force;
	enum store_requeue_result *results;
};

/* The body of store_requeue()'s transaction (write_txn()). */
static int requeue_in(store *s, MDB_txn *txn, struct counters *c, void *arg, size_t *finals)
{
	struct requeue_args *a = arg;
	uint64_t low = 0, low0;
	int rc = get_u64(txn, s->db_meta, "low_id", &low);

	(void)finals;
	low0 = low;
	for (size_t i = 0; rc == 0 && i < a->n; i++)
		rc = requeue_one(s, txn, a->ids[i], a->now_ms, a->force, c, &low, &a->results[i]);
	if (rc == 0 && low < low0)
		rc = put_u64(txn, s->db_meta, "low_id", low);
	return rc;
}

int store_requeue(store *s, const uint64_t *ids, size_t n, int64_t now_ms, int force,
		  enum store_requeue_result *results)
{
	STORE_LOCKED(s);
	if (s->read_only) {
		set_err(s, "requeue: store opened read-only");
		return STORE_ERROR;
	}
	if (n > STORE_REQUEUE_MAX) {
		set_err(s, "requeue: at most %d messages a call", STORE_REQUEUE_MAX);
		return STORE_ERROR;
	}
	struct requeue_args a = { ids, n, now_ms, force, results };

	WITH_GROWTH(write_txn(s, "requeue", requeue_in, &a));
}
