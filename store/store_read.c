/*
 * store_read: reading the store (see store.h for the contract, store_impl.h
 * for the files of the store): a message by id or by idempotency key,
 * the stats (the counters, O(1), and the room left), walks of an index for
 * smsqctl, and verify, which checks every invariant of the schema
 * (store_record.c) over the whole store: each message in exactly one
 * index, its entry where its state says, the counters equal to the counts.
 * Each is one read transaction: a consistent snapshot, never blocking a
 * writer.
 */
#include "store/store_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/datadir.h"
#include "common/secret.h"

int store_get(store *s, uint64_t id, struct store_msg *out)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	struct rec r;
	struct entry e;
	int ret = STORE_ERROR;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	if (rc != 0)
		return STORE_ERROR;
	memset(out, 0, sizeof(*out));
	rc = rec_read(s, txn, id, &r);
	if (rc == MDB_NOTFOUND) {
		ret = STORE_NOTFOUND;
		goto out;
	}
	if (rc == 0)
		rc = entry_find(s, txn, id, &r.h, &e);
	if (rc != 0) {
		set_err(s, "message %llu: %s", (unsigned long long)id,
			rc == MDB_NOTFOUND	 ? "in no index (store damaged: run smsqctl check)"
			: rc == MDB_CORRUPTED ? "unknown or corrupt record"
					      : mdb_strerror(rc));
		goto out;
	}
	out->id = id;
	out->state = (enum store_state)e.st.state;
	out->priority = r.h.priority;
	out->attempts = e.st.attempts;
	out->created_ms = r.h.created_ms;
	out->not_before_ms = r.h.not_before_ms;
	out->expires_ms = r.h.expires_ms;
	out->appointment_ms = r.h.appointment_ms;
	out->urgency_ms = r.h.urgency_ms;
	out->due_ms = e.st.due_ms;
	out->updated_ms = e.st.updated_ms;
	out->segments = r.h.segments;
	out->encoding = (enum store_encoding)r.h.encoding;
	out->ambiguous = e.st.ambiguous;
	out->provider = e.st.provider;
	out->kind = r.h.kind;
	out->erased = (r.h.flags & REC_ERASED) != 0;
	memcpy(out->idem_key, r.idem, r.h.idem_len);
	memcpy(out->booking, r.booking, r.h.booking_len);
	memcpy(out->note, e.note, (size_t)e.st.note_len + 1);
	out->event_len = r.h.event_len;
	out->event = malloc(r.h.event_len ? r.h.event_len : 1);
	out->text = malloc((size_t)r.h.text_len + sizeof(STORE_SEALED_SAYS));
	if (out->event == NULL || out->text == NULL) {
		free(out->event);
		free(out->text);
		out->event = NULL;
		out->text = NULL;
		set_err(s, "out of memory");
		goto out;
	}
	/* Sealed fields opened straight into the caller's buffers. */
	if (r.seal_tt != NULL) {
		char plain[STORE_TO_MAX + STORE_TEXT_MAX];

		out->sealed = rec_unseal_tt(s, id, &r, plain) == 0 ? 0 : s->sh->seal == NULL ? 1 : 2;
		if (out->sealed == 0) {
			memcpy(out->to, r.to, r.h.to_len);
			memcpy(out->text, r.text, r.h.text_len);
			out->text[r.h.text_len] = '\0';
		}
		secret_wipe(plain, sizeof(plain));
		if (out->sealed == 0 && rec_unseal_event(s, id, &r, out->event) != 0)
			out->sealed = 2;
	} else {
		memcpy(out->to, r.to, r.h.to_len);
		memcpy(out->event, r.event, r.h.event_len);
		memcpy(out->text, r.text, r.h.text_len);
		out->text[r.h.text_len] = '\0';
	}
	if (out->sealed != 0) {
		memset(out->to, 0, sizeof(out->to));
		snprintf(out->to, sizeof(out->to), "%s", STORE_SEALED_SAYS);
		strcpy(out->text, STORE_SEALED_SAYS);
		out->event_len = 0;
	}
	ret = STORE_OK;
out:
	mdb_txn_abort(txn);
	return ret;
}

int store_find_key(store *s, const char *key, size_t key_len, uint64_t *id)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	MDB_val k = { key_len, (void *)key };
	MDB_val v;
	int ret = STORE_OK;
	int rc;

	if (key_len == 0 || key_len > STORE_IDEM_MAX)
		return STORE_NOTFOUND;
	rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return STORE_ERROR;
	rc = mdb_get(txn, s->db_idem, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = STORE_NOTFOUND;
	} else if (rc != 0 || v.mv_size != ID_KEY_LEN) {
		set_err(s, "find key: %s", rc ? mdb_strerror(rc) : "bad index value");
		ret = STORE_ERROR;
	} else {
		*id = get_be64(v.mv_data);
	}
	mdb_txn_abort(txn);
	return ret;
}

int store_stats(store *s, struct store_stats *out)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_envinfo info;
	MDB_stat st;
	struct counters c;
	MDB_val k, v;
	uint64_t low = 0, next_id = 0, oldest = 0, stop;
	char path[4200];
	struct stat sb;
	int ret = STORE_ERROR;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return STORE_ERROR;
	rc = get_counters(txn, s->db_meta, &c);
	if (rc != 0) {
		set_err(s, "stats: counters: %s", mdb_strerror(rc));
		goto out;
	}
	memcpy(out->count, c.count, sizeof(out->count));
	out->total = c.total;
	out->segments_waiting = c.segments_waiting;
	out->attempts = c.attempts;
	out->retries = c.retries;
	out->ambiguous = c.ambiguous;
	out->lease_expired = c.lease_expired;
	out->segments_saved = c.segments_saved;
	out->segments_withdrawn = c.segments_withdrawn;
	out->superseded_ever = c.superseded;
	out->cancelled_ever = c.cancelled;
	out->unsealed_ever = c.unsealed;
	out->requeued_ever = c.requeued;
	out->purged_ever = c.purged;
	out->keys_kept = c.keys_kept;
	out->receipts_held = c.receipts_held;
	out->outbox = c.outbox;
	out->outbox_dropped = c.outbox_dropped;
	out->waiting = c.count[STORE_STATE_DELAYED] + c.count[STORE_STATE_READY] +
		       c.count[STORE_STATE_INFLIGHT];

	/* The oldest waiting message: at the low mark or a few ids after. */
	rc = get_u64(txn, s->db_meta, "low_id", &low);
	if (rc == 0)
		rc = get_u64(txn, s->db_meta, "next_id", &next_id);
	if (rc == 0 && out->waiting > 0)
		rc = first_waiting(s, txn, low, next_id, 0, &oldest, &stop);
	if (rc == 0 && oldest != 0) {
		struct rec r;

		rc = rec_read(s, txn, oldest, &r);
		if (rc == 0) {
			out->oldest_waiting_id = oldest;
			out->oldest_waiting_created_ms = r.h.created_ms;
		}
	}
	if (rc != 0) {
		set_err(s, "stats: oldest: %s", mdb_strerror(rc));
		goto out;
	}
	rc = mdb_cursor_open(txn, s->db_delayed, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == DELAYED_KEY_LEN)
		out->next_due_ms = key_time(k.mv_data);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(s, "stats: next due: %s", mdb_strerror(rc));
		goto out;
	}
	rc = mdb_env_info(s->env, &info);
	if (rc == 0)
		rc = mdb_env_stat(s->env, &st);
	if (rc != 0) {
		set_err(s, "stats: env: %s", mdb_strerror(rc));
		goto out;
	}
	out->map_bytes = info.me_mapsize;
	rc = pages_bytes(s, txn, &out->used_bytes, &out->free_bytes);
	if (rc == 0)
		rc = get_u64(txn, s->db_meta, "map_max", &out->map_max_bytes);
	if (rc != 0) {
		set_err(s, "stats: pages: %s", mdb_strerror(rc));
		goto out;
	}
	uint64_t in_use = out->used_bytes > out->free_bytes ? out->used_bytes - out->free_bytes : 0;
	out->ingest_full = out->map_max_bytes != 0 &&
			   in_use + STORE_STATS_BATCH_BYTES > store_ingest_limit(out->map_max_bytes);
	if (datadir_disk_full(s->dir, &out->disk_avail_bytes, &out->disk_total_bytes) >= 0) {
		uint64_t room = 0;

		/* As ingest sees it (ingest_room()): a batch and the reserve
		 * no longer fit; what the free list holds is said apart. */
		out->disk_full = disk_room(s, &room) == 0 &&
				 !disk_takes(STORE_STATS_BATCH_BYTES, room, out->disk_avail_bytes,
					     disk_reserve_bytes(out->disk_total_bytes));
	}
	snprintf(path, sizeof(path), "%s/%s", s->dir, DATADIR_DATA);
	if (stat(path, &sb) == 0) {
		/* Blocks past the end are the reserve kept for sending. */
		uint64_t blocks = (uint64_t)sb.st_blocks * 512;
		uint64_t size = ((uint64_t)sb.st_size + 4095) & ~(uint64_t)4095;

		out->file_bytes = blocks < size ? blocks : size;
		out->reserve_bytes = blocks - out->file_bytes;
	}
	ret = STORE_OK;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* "pending": waiting ids in arrival order, from the low mark. */
static long walk_pending(store *s, MDB_txn *txn, size_t max, int (*fn)(uint64_t id, void *arg),
			 void *arg)
{
	uint64_t low, next_id, id, stop;
	long n = 0;
	int rc = get_u64(txn, s->db_meta, "low_id", &low);

	if (rc == 0)
		rc = get_u64(txn, s->db_meta, "next_id", &next_id);
	for (id = low; rc == 0 && (max == 0 || (size_t)n < max); id = stop + 1) {
		uint64_t found;

		rc = first_waiting(s, txn, id, next_id, 0, &found, &stop);
		if (rc != 0 || found == 0)
			break;
		n++;
		if (fn(found, arg) != 0)
			break;
	}
	if (rc != 0) {
		set_err(s, "walk pending: %s", mdb_strerror(rc));
		return -1;
	}
	return n;
}

long store_walk(store *s, const char *which, size_t max, int (*fn)(uint64_t id, void *arg),
		void *arg)
{
	STORE_LOCKED(s);
	MDB_dbi dbi = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	long n = 0;
	int rc;

	if (strcmp(which, "ready") == 0)
		dbi = s->db_ready;
	else if (strcmp(which, "delayed") == 0)
		dbi = s->db_delayed;
	else if (strcmp(which, "pending") != 0) {
		set_err(s, "walk: unknown index %s", which);
		return -1;
	}
	if (txn_begin(s, MDB_RDONLY, &txn) != 0)
		return -1;
	if (strcmp(which, "pending") == 0) {
		n = walk_pending(s, txn, max, fn, arg);
		mdb_txn_abort(txn);
		return n;
	}
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && (max == 0 || (size_t)n < max)) {
		n++;
		if (fn(index_key_id(&k), arg) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(s, "walk %s: %s", which, mdb_strerror(rc));
		n = -1;
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return n;
}

struct verify_ctx {
	store *s;
	MDB_txn *txn;
	uint8_t *seen;           /* per id: 0 unseen, else state + 1 */
	uint64_t next_id;        /* ids are below */
	struct counters recount; /* what the indexes say */
	uint64_t bookings;       /* records with a booking id */
	uint64_t tombs;          /* purged messages whose key is kept */
};

/* Check every entry of one index: state value, record, key, once only. */
static int verify_index(struct verify_ctx *v, MDB_dbi dbi, const char *name)
{
	MDB_cursor *cur = NULL;
	MDB_val k, val;
	int ok = -1;
	int rc = mdb_cursor_open(v->txn, dbi, &cur);

	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST);
	while (rc == 0) {
		uint64_t id = index_key_id(&k);
		struct entry e, want;
		struct rec r;

		if (id == 0 || id >= v->next_id) {
			set_err(v->s, "%s index: entry for id %llu, past the last id",
				name, (unsigned long long)id);
			goto out;
		}
		if (st_parse(&val, &e) != 0) {
			set_err(v->s, "message %llu: unknown or corrupt state in %s",
				(unsigned long long)id, name);
			goto out;
		}
		rc = rec_read(v->s, v->txn, id, &r);
		if (rc != 0) {
			set_err(v->s, "message %llu: in %s but %s", (unsigned long long)id, name,
				rc == MDB_NOTFOUND ? "not stored" : "its record is corrupt");
			goto out;
		}
		if (e.has_copy && (e.copy.h.created_ms != r.h.created_ms ||
				   e.copy.h.expires_ms != r.h.expires_ms ||
				   e.copy.h.segments != r.h.segments || e.copy.h.to_len != r.h.to_len ||
				   e.copy.h.text_len != r.h.text_len ||
				   memcmp(e.copy.to, r.to, r.h.to_len) != 0 ||
				   memcmp(e.copy.text, r.text, r.h.text_len) != 0 ||
				   (e.copy.seal_tt == NULL) != (r.seal_tt == NULL) ||
				   (r.seal_tt != NULL &&
				    memcmp(e.copy.seal_tt, r.seal_tt, SEAL_BYTES) != 0))) {
			set_err(v->s, "message %llu: its sending copy in %s differs from its record",
				(unsigned long long)id, name);
			goto out;
		}
		want = e;
		entry_place(v->s, &r.h, id, &want);
		if (want.dbi != dbi || want.klen != k.mv_size ||
		    memcmp(want.key, k.mv_data, k.mv_size) != 0) {
			set_err(v->s, "message %llu: %s but in the %s index or under a wrong key",
				(unsigned long long)id, store_state_name(e.st.state), name);
			goto out;
		}
		if (v->seen[id] != 0) {
			set_err(v->s, "message %llu: in two indexes", (unsigned long long)id);
			goto out;
		}
		v->seen[id] = (uint8_t)(e.st.state + 1);
		v->recount.count[e.st.state]++;
		if (is_waiting(e.st.state))
			v->recount.segments_waiting += r.h.segments;
		rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT);
	}
	if (rc != MDB_NOTFOUND) {
		set_err(v->s, "verify %s: %s", name, mdb_strerror(rc));
		goto out;
	}
	ok = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	return ok;
}

/* Every record: valid, in one index, its key in idem; nothing waits below
 * the low mark. */
static int verify_records(struct verify_ctx *v, uint64_t low)
{
	MDB_cursor *cur = NULL;
	MDB_val k, val;
	int ok = -1;
	int rc = mdb_cursor_open(v->txn, v->s->db_msg, &cur);

	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST);
	while (rc == 0) {
		uint64_t id = k.mv_size == ID_KEY_LEN ? get_be64(k.mv_data) : 0;
		struct rec r;
		struct tomb_hdr t;
		const char *tkey;
		MDB_val ik, iv;

		if (id != 0 && id < v->next_id && val.mv_size > 0 &&
		    *(const unsigned char *)val.mv_data == STORE_REC_TOMB) {
			/* purged, its key kept: in no index, its key still its */
			if (tomb_parse(&val, &t, &tkey) != 0 || v->seen[id] != 0) {
				set_err(v->s, "message %llu: a damaged tombstone%s",
					(unsigned long long)id, v->seen[id] ? ", yet indexed" : "");
				goto out;
			}
			ik.mv_size = t.idem_len;
			ik.mv_data = (void *)tkey;
			rc = mdb_get(v->txn, v->s->db_idem, &ik, &iv);
			if (rc != 0 || iv.mv_size != ID_KEY_LEN || get_be64(iv.mv_data) != id) {
				set_err(v->s, "message %llu (purged): its key is not indexed",
					(unsigned long long)id);
				goto out;
			}
			v->tombs++;
			rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT);
			continue;
		}
		if (id == 0 || id >= v->next_id || rec_parse(&val, &r) != 0) {
			set_err(v->s, "message %llu: unknown or corrupt record", (unsigned long long)id);
			goto out;
		}
		v->recount.total++;
		if (v->seen[id] == 0) {
			set_err(v->s, "message %llu: in no index", (unsigned long long)id);
			goto out;
		}
		if (id < low && is_open(v->seen[id] - 1u)) {
			set_err(v->s, "message %llu: waiting below the low mark %llu",
				(unsigned long long)id, (unsigned long long)low);
			goto out;
		}
		ik.mv_size = r.h.idem_len;
		ik.mv_data = (void *)r.idem;
		rc = mdb_get(v->txn, v->s->db_idem, &ik, &iv);
		if (rc != 0 || iv.mv_size != ID_KEY_LEN || get_be64(iv.mv_data) != id) {
			set_err(v->s, "message %llu: idempotency key not indexed", (unsigned long long)id);
			goto out;
		}
		if (r.h.booking_len > 0) {
			rc = booking_check(v->s, v->txn, id, &r);
			if (rc != 0) {
				set_err(v->s, "message %llu: %s in the booking index",
					(unsigned long long)id,
					rc == MDB_NOTFOUND ? "missing" : "another kind");
				goto out;
			}
			v->bookings++;
		}
		rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT);
	}
	if (rc != MDB_NOTFOUND) {
		set_err(v->s, "verify: %s", mdb_strerror(rc));
		goto out;
	}
	ok = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	return ok;
}

/* Whether dbi (none: 0 entries when the store has not got it) holds want
 * entries; else said, what naming them. */
static int entries_are(store *s, MDB_txn *txn, int has, MDB_dbi dbi, uint64_t want,
		       const char *what)
{
	MDB_stat st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = has ? mdb_stat(txn, dbi, &st) : 0;
	if (rc != 0) {
		set_err(s, "verify: %s", mdb_strerror(rc));
		return 0;
	}
	if (st.ms_entries != want) {
		set_err(s, "%s: %llu stored, %llu expected", what, (unsigned long long)st.ms_entries,
			(unsigned long long)want);
		return 0;
	}
	return 1;
}

int store_verify(store *s)
{
	STORE_LOCKED(s);
	struct verify_ctx v;
	struct counters c;
	MDB_stat st;
	uint64_t low = 0;
	int ret = -1;
	int rc;

	memset(&v, 0, sizeof(v));
	v.s = s;
	if (txn_begin(s, MDB_RDONLY, &v.txn) != 0)
		return -1;
	rc = get_counters(v.txn, s->db_meta, &c);
	if (rc == 0)
		rc = get_u64(v.txn, s->db_meta, "next_id", &v.next_id);
	if (rc == 0)
		rc = get_u64(v.txn, s->db_meta, "low_id", &low);
	if (rc != 0) {
		set_err(s, "verify: meta: %s", mdb_strerror(rc));
		goto out;
	}
	if (v.next_id == 0)
		v.next_id = 1;
	v.seen = calloc((size_t)v.next_id, 1);
	if (v.seen == NULL) {
		set_err(s, "verify: out of memory for %llu ids", (unsigned long long)v.next_id);
		goto out;
	}
	if (verify_index(&v, s->db_ready, "ready") != 0 ||
	    verify_index(&v, s->db_delayed, "delayed") != 0 ||
	    verify_index(&v, s->db_done, "done") != 0 || verify_records(&v, low) != 0)
		goto out;
	rc = mdb_stat(v.txn, s->db_idem, &st);
	if (rc != 0) {
		set_err(s, "verify: %s", mdb_strerror(rc));
		goto out;
	}
	if (st.ms_entries != v.recount.total + v.tombs) {
		set_err(s, "idempotency index has %llu keys for %llu messages and %llu kept keys",
			(unsigned long long)st.ms_entries, (unsigned long long)v.recount.total,
			(unsigned long long)v.tombs);
		goto out;
	}
	if (!entries_are(s, v.txn, s->has_booking, s->db_booking, v.bookings,
			 "messages with a booking id in the booking index") ||
	    !entries_are(s, v.txn, s->has_outbox, s->db_outbox, c.outbox,
			 "outcomes in the outbox (the counters')") ||
	    !entries_are(s, v.txn, s->has_held, s->db_held, c.receipts_held,
			 "receipts held (the counters')"))
		goto out;
	if (memcmp(c.count, v.recount.count, sizeof(c.count)) != 0 ||
	    c.total != v.recount.total + c.purged || c.keys_kept != v.tombs ||
	    c.segments_waiting != v.recount.segments_waiting) {
		set_err(s, "counters differ from a recount");
		goto out;
	}
	ret = 0;
out:
	free(v.seen);
	mdb_txn_abort(v.txn);
	return ret;
}

/* Count the candidates of one index (store_due_before()): from key `from`
 * (len bytes; NULL: the first) while in_range() says the key may still
 * hold one. */
static int due_walk(store *s, MDB_txn *txn, MDB_dbi dbi, const unsigned char *from, size_t len,
		    int (*in_range)(const MDB_val *k, int64_t end_ms, const unsigned char *from),
		    int64_t end_ms, uint64_t *left, struct store_due *out)
{
	MDB_cursor *cur = NULL;
	MDB_val k = { len, (void *)from }, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, from != NULL ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && in_range(&k, end_ms, from)) {
		struct rec r;
		struct entry e;

		if (st_parse(&v, &e) == 0 && e.st.state == STORE_STATE_HELD) {
			/* due at its expiry, to expire: never sent unless released */
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		if (*left == 0) {
			out->complete = 0;
			break;
		}
		(*left)--;
		out->due++;
		/* A record that cannot be read (damage: smsqctl check says
		 * more) is counted as due, not as before. */
		rc = rec_read(s, txn, index_key_id(&k), &r);
		if (rc == 0 && r.h.appointment_ms < end_ms)
			out->before++;
		if (rc == 0 || rc == MDB_NOTFOUND || rc == MDB_CORRUPTED)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int ready_in_range(const MDB_val *k, int64_t end_ms, const unsigned char *from)
{
	const unsigned char *p = k->mv_data;

	return k->mv_size == READY_KEY_LEN && p[0] == from[0] && key_time(p + 1) < end_ms;
}

static int delayed_in_range(const MDB_val *k, int64_t end_ms, const unsigned char *from)
{
	(void)from;
	return k->mv_size == DELAYED_KEY_LEN && key_time(k->mv_data) <= end_ms;
}

int store_due_before(store *s, int64_t end_ms, uint64_t max_walk, struct store_due *out)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	uint64_t left = max_walk;
	struct counters c;
	uint64_t walked;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	memset(out, 0, sizeof(*out));
	out->complete = 1;
	if (rc != 0)
		return STORE_ERROR;
	rc = get_counters(txn, s->db_meta, &c);
	/* Ready: each priority from its start, as far as urgency < end (a
	 * message's urgency is never after its appointment). */
	for (int p = 0; rc == 0 && p <= STORE_PRIORITY_MAX && out->complete; p++) {
		unsigned char from[READY_KEY_LEN];

		memset(from, 0, sizeof(from));
		from[0] = (unsigned char)p;
		rc = due_walk(s, txn, s->db_ready, from, 1, ready_in_range, end_ms, &left, out);
	}
	/* Every ready message is due; only those walked can be before. */
	walked = out->due;
	out->due = c.count[STORE_STATE_READY] > walked ? c.count[STORE_STATE_READY] : walked;
	/* Delayed and in flight: by due time (a lease's end), up to end. */
	if (rc == 0 && out->complete)
		rc = due_walk(s, txn, s->db_delayed, NULL, 0, delayed_in_range, end_ms, &left, out);
	if (rc != 0)
		set_err(s, "due before: %s", mdb_strerror(rc));
	mdb_txn_abort(txn);
	return rc == 0 ? STORE_OK : STORE_ERROR;
}

int store_unreported_step(store *s, struct store_unreported *u, int64_t before_ms,
			  size_t max_visit)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = { u->at_len, u->at }, v;
	size_t seen = 0;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	if (rc != 0)
		return STORE_ERROR;
	rc = mdb_cursor_open(txn, s->db_done, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, u->at_len > 0 ? MDB_SET_RANGE : MDB_FIRST);
	/* a slice starts at the key the previous one stopped before */
	while (rc == 0 && seen < max_visit) {
		struct entry e;

		if (st_parse(&v, &e) == 0 && e.st.state == STORE_STATE_SENT &&
		    e.st.updated_ms < before_ms)
			u->counting++;
		seen++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == 0 && k.mv_size <= sizeof(u->at)) {
		memcpy(u->at, k.mv_data, k.mv_size);
		u->at_len = k.mv_size;
	} else if (rc == MDB_NOTFOUND) {
		u->last = u->counting;
		u->counting = 0;
		u->at_len = 0;
		u->passes++;
		rc = 0;
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0) {
		set_err(s, "unreported: %s", mdb_strerror(rc));
		return STORE_ERROR;
	}
	return STORE_OK;
}

int store_paused(store *s, struct store_pause *out, int max)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = { sizeof(STORE_PAUSE_KEY) - 1, (void *)STORE_PAUSE_KEY }, v;
	const size_t plen = sizeof(STORE_PAUSE_KEY) - 1;
	int n = 0;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	if (rc != 0)
		return -1;
	rc = mdb_cursor_open(txn, s->db_meta, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && n < max && k.mv_size > plen && k.mv_size - plen <= STORE_PAUSE_NAME_MAX &&
	       memcmp(k.mv_data, STORE_PAUSE_KEY, plen) == 0) {
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(out[n].name, (const char *)k.mv_data + plen, k.mv_size - plen);
		if (v.mv_size == sizeof(out[n].since_ms))
			memcpy(&out[n].since_ms, v.mv_data, sizeof(out[n].since_ms));
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(s, "paused: %s", mdb_strerror(rc));
		return -1;
	}
	return n;
}

/* ---- listing ------------------------------------------------------------------ */

/* The indexes store_list() reads, in order: its cursor names one by letter. */
static const char list_letters[3] = { 'r', 'd', 'f' };

static MDB_dbi list_dbi(store *s, int i)
{
	return i == 0 ? s->db_ready : i == 1 ? s->db_delayed : s->db_done;
}

/* Which indexes hold messages in state st (-1: all). */
static int list_wants(int st, int i)
{
	if (st < 0)
		return 1;
	if (st == STORE_STATE_READY)
		return i == 0;
	if (st == STORE_STATE_DELAYED || st == STORE_STATE_INFLIGHT || st == STORE_STATE_HELD)
		return i == 1;
	return i == 2;
}

static void hex(char *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Parse "<letter>:<hex key>" (no key: the index's start) into the index
 * number and key.  0 or -1. */
static int list_cursor(const char *from, int *idx, unsigned char *key, size_t *klen)
{
	size_t n = strlen(from);

	*idx = -1;
	for (int i = 0; i < 3; i++)
		if (from[0] == list_letters[i])
			*idx = i;
	if (*idx < 0 || n < 2 || from[1] != ':' || (n - 2) % 2 != 0 ||
	    (n - 2) / 2 > READY_KEY_LEN)
		return -1;
	*klen = (n - 2) / 2;
	for (size_t i = 0; i < *klen; i++) {
		unsigned v;

		if (sscanf(from + 2 + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)from[2 + 2 * i]) ||
		    !isxdigit((unsigned char)from[3 + 2 * i]))
			return -1;
		key[i] = (unsigned char)v;
	}
	return 0;
}

/* Whether the entry at k, v (of index i) matches q; fills b when it does.
 * Returns 1, 0, or an LMDB code (negative values are not LMDB's: -1). */
static int list_match(store *s, MDB_txn *txn, const struct store_query *q, int i,
		      const MDB_val *k, const MDB_val *v, struct store_brief *b)
{
	struct entry e;
	struct rec r;
	uint64_t id = index_key_id(k);
	int rc;

	memset(&e, 0, sizeof(e));
	if (st_parse(v, &e) != 0)
		return MDB_CORRUPTED;
	if ((q->state >= 0 && e.st.state != q->state) ||
	    (q->provider >= 0 && e.st.provider != q->provider) ||
	    (q->reason != NULL && strstr(e.note, q->reason) == NULL))
		return 0;
	rc = rec_read(s, txn, id, &r);
	if (rc != 0)
		return rc;
	if (q->created_before_ms > 0 && r.h.created_ms >= q->created_before_ms)
		return 0;
	memset(b, 0, sizeof(*b));
	b->id = id;
	b->state = (enum store_state)e.st.state;
	b->priority = r.h.priority;
	b->provider = e.st.provider;
	b->attempts = e.st.attempts;
	b->segments = r.h.segments;
	b->created_ms = r.h.created_ms;
	b->appointment_ms = r.h.appointment_ms;
	b->due_ms = i == 1 ? e.st.due_ms : 0;
	b->updated_ms = e.st.updated_ms;
	snprintf(b->idem_key, sizeof(b->idem_key), "%.*s", (int)r.h.idem_len, r.idem);
	snprintf(b->note, sizeof(b->note), "%s", e.note);
	return 1;
}

long store_list(store *s, const struct store_query *q, const char *from, size_t max_scan,
		struct store_brief *out, size_t max, char *next)
{
	STORE_LOCKED(s);
	MDB_txn *txn = NULL;
	unsigned char key[READY_KEY_LEN];
	size_t klen = 0, scanned = 0, n = 0;
	int start = 0, rc = 0;

	next[0] = '\0';
	if (from != NULL && from[0] != '\0' && list_cursor(from, &start, key, &klen) != 0) {
		set_err(s, "list: '%s' is not a cursor this store gave", from);
		return -1;
	}
	if (txn_begin(s, MDB_RDONLY, &txn) != 0)
		return -1;
	for (int i = start; rc == 0 && i < 3 && next[0] == '\0'; i++) {
		MDB_cursor *cur = NULL;
		MDB_val k, v;
		int resume = from != NULL && from[0] != '\0' && i == start && klen > 0;

		if (!list_wants(q->state, i))
			continue;
		rc = mdb_cursor_open(txn, list_dbi(s, i), &cur);
		if (rc == 0 && resume) {
			k = (MDB_val){ klen, key };
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			/* After the cursor's key: skip it when it is still there. */
			if (rc == 0 && k.mv_size == klen && memcmp(k.mv_data, key, klen) == 0)
				rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		} else if (rc == 0) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		}
		while (rc == 0) {
			if (n == max || (max_scan > 0 && scanned == max_scan)) {
				/* Stop before this entry: the cursor names the one
				 * before, or this index's start ("r:"). */
				if (next[0] == '\0') {
					next[0] = list_letters[i];
					next[1] = ':';
					next[2] = '\0';
				}
				break;
			}
			int m = list_match(s, txn, q, i, &k, &v, &out[n]);

			if (m < 0 || m > 1) {
				rc = m < 0 ? MDB_CORRUPTED : m;
				break;
			}
			scanned++;
			n += (size_t)m;
			next[0] = list_letters[i];
			next[1] = ':';
			hex(next + 2, k.mv_data, k.mv_size < READY_KEY_LEN ? k.mv_size : READY_KEY_LEN);
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			next[0] = '\0'; /* this index is done */
		}
		if (cur != NULL)
			mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (rc != 0) {
		set_err(s, "list: %s", mdb_strerror(rc));
		return -1;
	}
	return (long)n;
}
