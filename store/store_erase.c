/*
 * store_erase: personal data kept no longer than needed (see store.h,
 * "retention and erasure", for the contract; store_impl.h for the store's
 * files).
 *
 * DESIGN
 *
 * What is personal in the store, and where it lives:
 *   msg      the record's destination, packed event (the number, the
 *            patient's and practitioner's names, the place, a ready text)
 *            and rendered text
 *   ready    a ready entry's sending copy (destination, text): only while
 *            the message waits; a final message has none
 *   done     the note of a failed message may echo the number back (a
 *            provider's error text)
 *   sentby   keys: the provider's id and the number (store_receipt.c)
 *   held     keys of receipts held by name: the same
 *   outbox   the note of an outcome, as in done
 * The idempotency key and the booking id are the backend's own references,
 * not personal data (proto/PROTOCOL.md asks that they carry none): they
 * stay, so that duplicates and superseding work on erased messages.
 *
 * The erasure sweep walks the records in id order, a bounded step at a
 * time, beside the purge's sweep (store_purge.c) and in its transaction.
 * A final message whose last change is personal_ms old has its record
 * rewritten in place at the same length: the flag REC_ERASED, the masked
 * number, zeros for the event and the text.  The same length matters: LMDB
 * overwrites a value of the same size where it is, while a value that
 * shrinks or a deleted one leaves its old bytes in the unused middle of
 * the page.  Its note is masked (same length: log_mask_numbers()), its
 * sentby entry deleted.  A round ends at the first record stored within
 * personal_ms (ids follow the order of storing) and the next one starts at
 * the first id the round left unerased (a message still waiting, or final
 * too recently): a round walks what may still need erasing, plus the erased
 * records after a message that waits for days (a cursor step each).  Only
 * schema 5 records carry the flag: older ones wait for the purge.
 *
 * Erased bytes must also leave the file.  LMDB copies a page before it
 * changes it and frees the old copy, which stays in the file, bytes and
 * all, until LMDB reuses it; and a page it writes keeps, in the free middle
 * between its node pointers and its nodes, whatever the buffer it was built
 * in held before (LMDB 0.9 recycles page buffers without clearing them):
 * bytes of other pages, erased ones among them.  So the purge's transaction
 * first walks the file (scrub_pages(), a bounded number of pages per call)
 * and zeroes, through the file descriptor, every free page LMDB itself
 * could reuse now (on its free list under a transaction older than the
 * last commit and than every reader: LMDB's own rule, from
 * mdb_reader_list(); no snapshot can show it) and the free middle of every
 * page in use (which no reader ever reads).  That happens while the write
 * lock is held and before the transaction writes anything, so no writer is
 * handing those pages out meanwhile; a page this transaction then takes is
 * written whole at its commit.  What is zero already is only read.  Pages
 * freed by the last commits become reusable only after two more: so after
 * a step that erased or purged, and after a pass during which other
 * transactions committed (each process's recycled buffers may carry erased
 * bytes into the pages it writes), STORE_SCRUB_PASSES passes are due, each
 * but the last ending with a commit of its own (a counter in meta).  So
 * while the pool is busy the walk goes on, at most STORE_SCRUB_PAGES pages
 * a purge step, and once it is idle a few passes leave no stale byte.  A
 * pass during which a reader held an older snapshot (whose pages could not
 * be zeroed) does not count: passes go on until one has seen none.
 */
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secret.h"

/* What the plan of a step found to erase: a message id. */
struct erase_act {
	uint64_t id;
	unsigned char done_key[READY_KEY_LEN]; /* its entry in done */
};

#define PLAN_SKIP 0  /* nothing to do (erased, a tombstone, an older schema) */
#define PLAN_ERASE 1 /* to erase */
#define PLAN_PIN 2   /* not yet: waiting, or final too recently */
#define PLAN_END 3   /* stored within personal_ms: the round ends */

/* What to do with record id (value v).  Returns a PLAN_*, or a negated
 * LMDB code. */
static int plan(store *s, MDB_txn *txn, uint64_t id, const MDB_val *v, int64_t cutoff_ms,
		struct erase_act *a)
{
	struct entry e;
	struct rec r;
	int rc;

	if (v->mv_size > 0 && *(const unsigned char *)v->mv_data == STORE_REC_TOMB)
		return PLAN_SKIP;
	if (rec_parse(v, &r) != 0) {
		set_err(s, "message %llu: its record is unreadable (store damaged: run smsqctl "
			"check)", (unsigned long long)id);
		return -RC_SAID;
	}
	if (r.h.type != STORE_REC_V5 || (r.h.flags & REC_ERASED) != 0)
		return PLAN_SKIP;
	if (r.h.stored_ms > cutoff_ms)
		return PLAN_END;
	rc = done_entry(s, txn, id, &r.h, &e);
	if (rc == MDB_NOTFOUND)
		return PLAN_PIN; /* waiting */
	if (rc != 0)
		return -rc;
	if (e.st.updated_ms > cutoff_ms)
		return PLAN_PIN;
	a->id = id;
	memcpy(a->done_key, e.key, READY_KEY_LEN);
	return PLAN_ERASE;
}

/* Erase message a->id (planned in this transaction). */
static int apply(store *s, MDB_txn *txn, const struct erase_act *a)
{
	unsigned char idk[ID_KEY_LEN], sk[SENTBY_KEY_MAX];
	MDB_val k = { ID_KEY_LEN, idk }, v, dk = { READY_KEY_LEN, (void *)a->done_key }, dv;
	char *buf = NULL, masked[STORE_NOTE_MAX + 1], to[STORE_TO_MAX + 1];
	char plain[STORE_TO_MAX + STORE_TEXT_MAX];
	struct entry e;
	struct rec r, clear;
	size_t skl = 0;
	int opened, rc;

	put_be64(idk, a->id);
	rc = mdb_get(txn, s->db_msg, &k, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc; /* planned: it is there */
	buf = malloc(v.mv_size);
	if (buf == NULL)
		return ENOMEM;
	memcpy(buf, v.mv_data, v.mv_size); /* out of LMDB's pages before the writes */
	v.mv_data = buf;
	rc = mdb_get(txn, s->db_done, &dk, &dv);
	if (rc == 0 && st_parse(&dv, &e) != 0)
		rc = MDB_CORRUPTED;
	if (rc != 0 || rec_parse(&v, &r) != 0) {
		rc = rc != 0 ? rc : MDB_CORRUPTED;
		goto out;
	}
	/* The number in clear (a sealed record's opened; one that does not
	 * open is masked whole). */
	clear = r;
	opened = rec_unseal_tt(s, a->id, &clear, plain) == 0;
	if (opened && s->has_sentby && (e.st.state == STORE_STATE_SENT ||
					 e.st.state == STORE_STATE_DELIVERED ||
					 e.st.state == STORE_STATE_UNDELIVERED))
		/* the provider's id is the note's first word */
		skl = sentby_key(s, sk, e.note, strcspn(e.note, " "), clear.to, r.h.to_len);

	/* The record, at its own length: flag, masked number, zeros (and
	 * zeros for the seals of a sealed one). */
	r.h.flags |= REC_ERASED;
	memcpy(buf, &r.h, sizeof(r.h));
	memcpy(to, clear.to, r.h.to_len);
	to[r.h.to_len] = '\0';
	if (opened)
		log_mask_phone(to, masked, sizeof(masked)); /* as long as the number */
	else
		memset(masked, '*', r.h.to_len);
	secret_wipe(to, sizeof(to));
	secret_wipe(plain, sizeof(plain));
	memcpy((char *)r.to, masked, r.h.to_len);
	memset((char *)r.event, 0, r.h.event_len);
	memset((char *)r.text, 0, r.h.text_len);
	if (r.h.flags & REC_SEALED)
		memset(buf + v.mv_size - REC_SEAL_TRAILER, 0, REC_SEAL_TRAILER);
	rc = mdb_put(txn, s->db_msg, &k, &v, 0);

	/* Its note, when it echoes a number (also as long as it was). */
	log_mask_numbers(e.note, masked, sizeof(masked));
	if (rc == 0 && strcmp(masked, e.note) != 0) {
		char val[sizeof(struct st) + STORE_NOTE_MAX];

		memcpy(val, &e.st, sizeof(e.st));
		memcpy(val + sizeof(e.st), masked, e.st.note_len);
		dv.mv_size = sizeof(e.st) + e.st.note_len;
		dv.mv_data = val;
		rc = mdb_put(txn, s->db_done, &dk, &dv, 0);
	}
	if (rc == 0 && skl > 0) {
		MDB_val key = { skl, sk };

		rc = mdb_del(txn, s->db_sentby, &key, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : rc; /* indexed only for some providers */
	}
	s->txn_moves++;
out:
	free(buf);
	return rc;
}

int erase_in(store *s, MDB_txn *txn, int64_t now_ms, size_t max_visit,
	     struct store_purged *out)
{
	struct store_shared *sh = s->sh;
	int64_t cutoff_ms = now_ms - s->personal_ms;
	struct erase_act *acts = NULL;
	size_t n = 0, masked = 0;
	unsigned char idk[ID_KEY_LEN];
	MDB_cursor *cur = NULL;
	MDB_val k = { ID_KEY_LEN, idk }, v;
	uint64_t next = sh->erase_at, pin = sh->erase_pin, outbox_upto = sh->outbox_masked;
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
	while (rc == 0 && out->erase_visited < max_visit) {
		uint64_t id = k.mv_size == ID_KEY_LEN ? get_be64(k.mv_data) : 0;
		int p = plan(s, txn, id, &v, cutoff_ms, &acts[n]);

		if (p < 0) {
			rc = -p;
			break;
		}
		if (p == PLAN_END) {
			rc = MDB_NOTFOUND; /* the round ends here */
			next = id;
			break;
		}
		if (p == PLAN_PIN && pin == 0)
			pin = id;
		n += p == PLAN_ERASE;
		out->erase_visited++;
		next = id + 1;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		/* the next round starts at the first id this one left */
		out->erase_wrapped = 1;
		next = pin != 0 ? pin : next;
		pin = 0;
		rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = apply(s, txn, &acts[i]);
		out->erased += rc == 0;
	}
	free(acts);
	if (rc == 0)
		rc = outbox_mask(s, txn, sh->outbox_masked, cutoff_ms, max_visit, &outbox_upto,
				 &masked);
	if (rc == 0) {
		/* kept by the caller only once committed (purge_step()) */
		sh->erase_at = next;
		sh->erase_pin = pin;
		sh->outbox_masked = outbox_upto;
	}
	return rc;
}

/* ---- the file's pages -------------------------------------------------------
 *
 * XXX This reads LMDB's page header, which lmdb.h does not export: the
 * layout of LMDB 0.9's file format (a page number, 2 bytes of padding, 2
 * of flags, then the offsets of the free middle of a branch or leaf page,
 * or an overflow run's page count), frozen for 0.9 but not promised.
 */

#define PG_HDR 16          /* PAGEHDRSZ */
#define PG_BRANCH 0x01u
#define PG_LEAF 0x02u
#define PG_OVERFLOW 0x04u
#define PG_META 0x08u
#define PG_LEAF2 0x20u
#define FREE_REUSABLE 1u   /* low bit of a free set entry: LMDB may reuse it now */

/* mdb_reader_list()'s lines: "pid thread txnid", txnid "-" when idle. */
static int oldest_reader(const char *msg, void *ctx)
{
	size_t *oldest = ctx;
	const char *line = msg;

	while (line != NULL && *line != '\0') {
		int pid;
		size_t thread, txnid;

		if (sscanf(line, "%d %zx %zu", &pid, &thread, &txnid) == 3 && txnid < *oldest)
			*oldest = txnid;
		line = strchr(line, '\n');
		line = line != NULL ? line + 1 : NULL;
	}
	return 0;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The free list as rtxn sees it: every free page as pgno << 1, with
 * FREE_REUSABLE when its transaction is older than `oldest`; sorted.
 * *set malloc'ed (caller frees).  Returns an LMDB code or an errno. */
static int free_set(MDB_txn *rtxn, size_t oldest, size_t **set, size_t *n)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t cap = 0;
	int rc = mdb_cursor_open(rtxn, 0, &cur); /* LMDB's free list */

	*set = NULL;
	*n = 0;
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		const size_t *ids = v.mv_data; /* [count, pgno...] (LMDB's MDB_IDL) */
		size_t txnid, count;

		if (k.mv_size != sizeof(txnid) || v.mv_size < sizeof(count)) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&txnid, k.mv_data, sizeof(txnid));
		memcpy(&count, ids, sizeof(count));
		if ((count + 1) * sizeof(size_t) > v.mv_size) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (*n + count > cap) {
			size_t *more;

			cap = (*n + count) * 2 + 64;
			more = realloc(*set, cap * sizeof(**set));
			if (more == NULL) {
				rc = ENOMEM;
				break;
			}
			*set = more;
		}
		for (size_t i = 1; i <= count; i++) {
			size_t pgno;

			memcpy(&pgno, ids + i, sizeof(pgno));
			(*set)[(*n)++] = pgno << 1 | (txnid < oldest ? FREE_REUSABLE : 0);
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && *n > 1)
		qsort(*set, *n, sizeof(**set), cmp_size);
	return rc;
}

/* Where pgno is in the free set: -1 not free, 0 free but still seen by a
 * snapshot, 1 free and reusable. */
static int free_kind(const size_t *set, size_t n, size_t pgno)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((set[mid] >> 1) < pgno)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || (set[lo] >> 1) != pgno)
		return -1;
	return (set[lo] & FREE_REUSABLE) != 0;
}

/* Zero bytes [from, to) of page pgno (read into buf) unless they are zero;
 * *zeroed counts a write.  Returns 0 or an errno. */
static int zero_range(int fd, size_t pgno, size_t psize, const unsigned char *buf, size_t from,
		      size_t to, size_t *zeroed)
{
	static const unsigned char zeros[PG_HDR * 4];
	size_t i = from;

	while (i < to && buf[i] == 0)
		i++;
	if (i == to)
		return 0;
	for (size_t at = from; at < to;) {
		size_t n = to - at < sizeof(zeros) ? to - at : sizeof(zeros);

		if (pwrite(fd, zeros, n, (off_t)(pgno * psize + at)) != (ssize_t)n)
			return errno != 0 ? errno : EIO;
		at += n;
	}
	(*zeroed)++;
	return 0;
}

int scrub_pages(store *s, MDB_txn *txn, size_t max_pages, size_t *zeroed, int *nudge)
{
	struct store_shared *sh = s->sh;
	MDB_txn *rtxn = NULL;
	MDB_envinfo info;
	MDB_stat st;
	size_t oldest = mdb_txn_id(txn) - 1, *set = NULL, nfree = 0, pgno = sh->scrub_pgno;
	unsigned char *buf = NULL;
	int fd = -1, rc;

	*zeroed = 0;
	*nudge = 0;
	if (sh->scrub_due == 0 && mdb_txn_id(txn) - 1 != sh->scrub_seen)
		sh->scrub_due = STORE_SCRUB_PASSES; /* others committed since the last pass */
	if (sh->scrub_due == 0 || max_pages == 0)
		return 0;
	rc = mdb_reader_list(s->env, oldest_reader, &oldest);
	rc = rc < 0 ? EIO : 0;
	if (oldest < mdb_txn_id(txn) - 1)
		sh->scrub_lagged = 1; /* a reader holds an older snapshot: its pages wait */
	if (rc == 0)
		rc = mdb_env_get_fd(s->env, &fd);
	if (rc == 0)
		rc = mdb_env_stat(s->env, &st);
	if (rc == 0)
		rc = mdb_env_info(s->env, &info);
	if (rc == 0 && (buf = malloc(st.ms_psize)) == NULL)
		rc = ENOMEM;
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rtxn);
	if (rc == 0)
		rc = free_set(rtxn, oldest, &set, &nfree);
	if (pgno < 2)
		pgno = 2; /* the two meta pages hold no data */
	for (size_t seen = 0; rc == 0 && seen < max_pages && pgno <= info.me_last_pgno; seen++) {
		ssize_t got = pread(fd, buf, st.ms_psize, (off_t)(pgno * st.ms_psize));
		int kind = free_kind(set, nfree, pgno);
		uint16_t flags, lower, upper;
		uint32_t pages;

		if (got != (ssize_t)st.ms_psize) {
			rc = got < 0 ? errno : EIO;
			break;
		}
		memcpy(&flags, buf + 10, sizeof(flags));
		memcpy(&lower, buf + 12, sizeof(lower));
		memcpy(&upper, buf + 14, sizeof(upper));
		memcpy(&pages, buf + 12, sizeof(pages));
		if (kind == 1) {
			rc = zero_range(fd, pgno, st.ms_psize, buf, 0, st.ms_psize, zeroed);
		} else if (kind == 0) {
			/* a snapshot may still read it: a later pass */
		} else if ((flags & PG_OVERFLOW) != 0 && pages > 1) {
			pgno += pages - 1; /* a value's run: no free middle */
		} else if ((flags & (PG_BRANCH | PG_LEAF)) != 0 && (flags & (PG_LEAF2 | PG_META)) == 0 &&
			   lower >= PG_HDR && lower <= upper && upper <= st.ms_psize) {
			/* a page in use: its free middle */
			rc = zero_range(fd, pgno, st.ms_psize, buf, lower, upper, zeroed);
		}
		pgno++;
	}
	if (rc == 0 && pgno > info.me_last_pgno) {
		/* A pass ended.  Others committed meanwhile: what they wrote
		 * may hold stale bytes, more passes are due.  The next pass,
		 * while some are due, after a commit (nudge) that lets what
		 * the last ones freed be reused. */
		size_t last = mdb_txn_id(txn) - 1;

		pgno = 2;
		if (last != sh->scrub_seen)
			sh->scrub_due = STORE_SCRUB_PASSES;
		if (!sh->scrub_lagged)
			sh->scrub_due--; /* else again, once the reader has moved on */
		sh->scrub_lagged = 0;
		*nudge = sh->scrub_due > 0;
		sh->scrub_seen = *nudge ? last + 1 : last; /* this transaction's own commit */
	}
	if (rtxn != NULL)
		mdb_txn_abort(rtxn);
	if (rc == 0 && *zeroed > 0 && fdatasync(fd) != 0)
		rc = errno;
	if (rc == 0)
		sh->scrub_pgno = pgno;
	else
		set_err(s, "zeroing free space in data.mdb: %s",
			rc > 0 ? strerror(rc) : mdb_strerror(rc));
	free(set);
	free(buf);
	return rc != 0 ? RC_SAID : 0;
}
