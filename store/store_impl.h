/*
 * store_impl: what the store's nine files share; not the contract (that
 * is store.h).
 *
 *   store_env.c     the environment: open, close, handles, transactions,
 *                   map growth, room on the map and on the disk
 *   store_record.c  the schema: keys, records, state values, index
 *                   entries, schema versions
 *   store_queue.c   the queue's moves: ingest, lease, finish
 *   store_booking.c the booking index: superseding, cancelling
 *   store_purge.c   retention: purging final messages, forgetting keys
 *   store_erase.c   erasing personal fields, zeroing the file's free pages
 *   store_receipt.c delivery receipts, and the outbox of outcomes
 *   store_read.c    reading: get, find by key, stats, walk, verify
 *   store_seal.c    encryption at rest: the key check, sealing and opening
 *                   the personal sections, the sentby index's keyed hash
 *
 * The one part of the tree that includes lmdb.h.
 */
#ifndef SMSQ_STORE_IMPL_H
#define SMSQ_STORE_IMPL_H

#include <lmdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "common/attrs.h"
#include "common/seal.h"

#define STORE_SCHEMA_VERSION 5u
#define STORE_REC_V2 0x52u          /* type byte of a schema 2 record (no urgency_ms) */
#define STORE_REC_V3 0x54u          /* type byte of a schema 3 record (no kind, booking) */
#define STORE_REC_V5 0x57u          /* type byte of struct rec_hdr (schema 5) */
#define STORE_REC_TOMB 0x58u        /* type byte of struct tomb_hdr (schema 5) */
#define STORE_ST_V2 0x53u           /* type byte of struct st (schema 2) */
#define STORE_ST_V4 0x56u           /* struct st, then a sending copy (schema 4) */
#define STORE_COPY_MAX 512          /* largest ready value with a sending copy, bytes */
#define STORE_MAX_DBS 12
#define STORE_ERRMSG_MAX 256
#define STORE_MAX_GROW_RETRIES 16
#define STORE_LOCK_ALLOC_BYTES (64 << 10) /* blocks for a new lock.mdb (LMDB's: 8 KiB) */
#define STORE_RESERVE_DIVISOR 8          /* ingest leaves 1/8 of the map ceiling to sending */
#define STORE_RESERVE_MAX (256ULL << 20) /* and never more than this */
#define STORE_STATS_BATCH_BYTES (64 << 10) /* stats: "full" when this much no longer fits */
#define STORE_DISK_RESERVE_MAX (16ULL << 20) /* blocks kept beyond the data for sending, */
#define STORE_DISK_RESERVE_DIVISOR 16        /* or 1/16 of the filesystem when smaller */
#define STORE_DISK_RETRY_MS 1000             /* a full disk is asked again this often */
#define STORE_PURGE_FULL_EVERY_MS 1000 /* a full store purges at most this often */
#define STORE_PURGE_FULL_STEPS 16       /* of STORE_PURGE_VISIT messages, then */
#define STORE_SCRUB_PASSES 4            /* walks of the file due after an erasure */
#define STORE_PAUSE_KEY "pause:"    /* meta: "pause:<name>" -> when (ms), while paused */
#define READY_KEY_LEN 17
#define DELAYED_KEY_LEN 16
#define ID_KEY_LEN 8
#define RC_SAID (MDB_KEYEXIST - 1) /* not an LMDB code: a failure already in s->errmsg */
#define RC_REFUSED (RC_SAID - 2) /* not an LMDB code: the admission hook refused a message */
#define RC_DISK_FULL (RC_SAID - 1) /* not an LMDB code: a commit found no room on the disk
				      (said in s->errmsg) */
#define RC_UNSEALED (RC_DISK_FULL - 1) /* not an LMDB code: sealed sections that do not
					  open (no key on this handle, another key,
					  altered bytes) */
#define STORE_KEY_CHECK "seal_check" /* meta: a seal of SEAL_CHECK_TEXT under the key */
#define STORE_NOTE_UNSEALED "store: cannot decrypt (another key, or the record was altered)"

/* What the handles on one environment share (store_share()). */
struct store_shared {
	pthread_mutex_t lock;           /* held through every call with a transaction */
	int refs;                       /* handles open */
	uint64_t disk_reserve;          /* bytes kept allocated beyond the data (disk_reserve()) */
	int disk_reserved;              /* disk_reserve() allocated once since open */
	int64_t disk_retry_ms;          /* after a full disk: no fallocate() before (mono) */
	int64_t ingest_budget;          /* bytes ingest may still add without reading the
					   free list again (ingest_room()) */
	int64_t next_due_ms;            /* store_next_due_ms(): written under lock, read
					   without (__atomic) */
	uint64_t sweep_at;              /* store_purge(): the next id it looks at */
	uint64_t erase_at;              /* the erasure sweep: the next id it looks at */
	uint64_t erase_pin;             /* the first id of its round left unerased (a
					   message waiting, or final too recently), 0:
					   none yet: where the next round starts */
	uint64_t outbox_masked;         /* outbox seqs up to this have had their
					   notes masked */
	size_t scrub_pgno;              /* the next page the walk zeroing free space
					   looks at */
	int scrub_due;                  /* passes of that walk still due */
	size_t scrub_seen;              /* the last commit (LMDB's txn id) the walk
					   knew of when its pass began */
	int scrub_lagged;               /* a reader held an older snapshot during
					   this pass: it does not count */
	int64_t purge_full_at;          /* a full store purges again from then (mono), */
	uint64_t purge_full_finals;     /* or once more messages than this were made final */
	seal *seal;                     /* the key of store_opts.seal_key, or NULL */
	int encrypted;                  /* the store holds a key check (meta
					   STORE_KEY_CHECK): written with a key */
};

struct store {
	struct store_shared *sh;        /* shared with store_share()'s handles */
	MDB_env *env;                   /* the environment */
	MDB_dbi db_msg;                 /* id -> record */
	MDB_dbi db_idem;                /* key -> id */
	MDB_dbi db_ready;               /* urgency index */
	MDB_dbi db_delayed;             /* time index */
	MDB_dbi db_done;                /* final states */
	MDB_dbi db_meta;                /* counters, next id, version */
	MDB_dbi db_booking;             /* booking id, created-at, id -> kind */
	MDB_dbi db_held;                /* id -> a receipt held for its send's outcome */
	MDB_dbi db_outbox;              /* seq -> an outcome for the backend */
	MDB_dbi db_sentby;              /* provider id, recipient -> id (receipt_to) */
	uint64_t outbox_max;            /* the store's outbox bound (meta), 0: none */
	int has_booking;                /* db_booking is open (a store of schema 4 or
					   older opened read-only has none) */
	int has_held;                   /* db_held is open (likewise) */
	int has_outbox;                 /* db_outbox is open (likewise) */
	int has_sentby;                 /* db_sentby is open (likewise) */
	uint64_t map_max_bytes;         /* growth ceiling */
	int64_t retention_ms;           /* final messages kept (store_opts) */
	int64_t keys_ms;                /* their keys kept, at least retention_ms */
	int64_t personal_ms;            /* their personal fields kept, at most
					   retention_ms */
	int read_only;                  /* opened MDB_RDONLY */
	int record_ceiling;             /* store_opts.record_ceiling (the pool) */
	size_t txn_moves;               /* entries moved by the write transaction */
	int64_t txn_due;                /* earliest due time it gave a delayed entry */
	struct store_admit admit;       /* store_ingest()'s admission hook (admit NULL: none) */
	char dir[4096];                 /* data directory */
	char errmsg[STORE_ERRMSG_MAX];  /* last failure */
};

/* Fixed header of a stored record; sections follow in this order:
 * idempotency key, packed event, destination, text, booking id.  Written
 * at ingest; only its expiry changes after (store_requeue() --force).
 * Native byte order: a store is local to one node.  Copied with memcpy,
 * never accessed in place (LMDB data may be unaligned).  Older records
 * have a shorter header (REC_HDR_V2_SIZE, REC_HDR_V3_SIZE): a schema 2
 * record's entries are keyed by its exact appointment. */
struct rec_hdr {
	uint8_t type;            /* STORE_REC_V5 (or STORE_REC_V3, STORE_REC_V2) */
	uint8_t priority;        /* 0..9 */
	uint16_t segments;       /* SMS parts */
	uint16_t encoding;       /* enum store_encoding */
	uint16_t idem_len;       /* section 1 length */
	uint32_t event_len;      /* section 2 length */
	uint16_t to_len;         /* section 3 length */
	uint16_t text_len;       /* section 4 length */
	int64_t created_ms;      /* booking time */
	int64_t not_before_ms;   /* scheduled send */
	int64_t expires_ms;      /* expiry */
	int64_t appointment_ms;  /* appointment */
	int64_t urgency_ms;      /* ready and done key (store_urgency_ms()) */
	uint8_t kind;            /* enum store_kind */
	uint8_t flags;           /* REC_ERASED, or 0 */
	uint16_t booking_len;    /* section 5 length */
	uint32_t reserved1;      /* 0 */
	int64_t stored_ms;       /* when ingest stored it (wall clock) */
};

/* rec_hdr.flags: the personal fields were erased (store_erase.c): the
 * destination section holds the masked number, the event and text sections
 * zeros. */
#define REC_ERASED 0x01u
/* rec_hdr.flags: the personal sections are sealed (store_seal.c): the event
 * section, then the destination and text sections together, are
 * ciphertexts; the record ends, after the booking id, with REC_SEAL_TRAILER
 * bytes: the event's seal, then the destination and text's (each
 * SEAL_BYTES).  With REC_ERASED as well, the sections hold what an erasure
 * leaves (in clear) and the trailer zeros. */
#define REC_SEALED 0x02u
#define REC_SEAL_TRAILER (2 * SEAL_BYTES)

/* A purged message whose key is kept: its record is this header and the
 * key (store_purge()); rec_read() reports it as not found. */
struct tomb_hdr {
	uint8_t type;            /* STORE_REC_TOMB */
	uint8_t state;           /* the final state it had */
	uint16_t idem_len;       /* the key's length */
	uint32_t reserved;       /* 0 */
	int64_t final_ms;        /* when it became final */
};

/* Bytes of a schema 2 and a schema 3 record's header: a schema 3 record
 * (STORE_REC_V3) is this header without its last five fields (kind 0, no
 * booking id, stored at an unknown time: 0). */
#define REC_HDR_V2_SIZE offsetof(struct rec_hdr, urgency_ms)
#define REC_HDR_V3_SIZE offsetof(struct rec_hdr, kind)

/* A record decoded: the header and pointers to its sections (into LMDB
 * memory: valid until the transaction's next write). */
struct rec {
	struct rec_hdr h;        /* header copy */
	const char *idem;        /* idempotency key */
	const void *event;       /* packed event */
	const char *to;          /* destination */
	const char *text;        /* text */
	const char *booking;     /* booking id */
	const unsigned char *seal_ev; /* the event's seal (SEAL_BYTES), NULL: in clear */
	const unsigned char *seal_tt; /* the destination and text's, NULL: in clear */
};

/* A message's mutable state: the value of its index entry, followed by
 * note_len bytes of note (sent: the provider's id; retry, failed: the
 * reason). */
#define ST_RELEASED 0x01 /* released from held by an operator (store_leased.released) */

struct st {
	uint8_t type;            /* STORE_ST_V2, or STORE_ST_V4 with a copy */
	uint8_t state;           /* enum store_state */
	uint8_t provider;        /* provider index of the last attempt */
	uint8_t flags;           /* ST_RELEASED, or 0 */
	uint16_t attempts;       /* send attempts (leases) */
	uint16_t ambiguous;      /* retries after an ambiguous timeout */
	uint16_t note_len;       /* note bytes after the struct */
	uint16_t reserved1;      /* 0 */
	uint32_t reserved2;      /* 0 */
	int64_t due_ms;          /* delayed: due time; inflight: lease end */
	int64_t updated_ms;      /* last state change */
};

/* What sending needs of a record, after the note of a ready entry whose
 * type is STORE_ST_V4, then to_len + text_len bytes: destination, text
 * (schema 4: see the design comment). */
struct copy_hdr {
	int64_t created_ms;      /* booking time */
	int64_t expires_ms;      /* expiry */
	uint16_t segments;       /* SMS parts */
	uint16_t to_len;         /* destination length */
	uint16_t text_len;       /* text length */
	uint16_t flags;          /* COPY_SEALED, or 0 */
};

/* copy_hdr.flags: destination and text are the record's ciphertext, and
 * their seal (SEAL_BYTES) follows them. */
#define COPY_SEALED 0x01u

/* One index entry in hand: the state, its note, and where it is. */
struct entry {
	struct st st;                        /* the value's header */
	char note[STORE_NOTE_MAX + 1];       /* the note, NUL-terminated */
	int has_copy;                        /* st_parse(): a sending copy was there */
	struct rec copy;                     /* st_parse(): that copy as a header-only
						record (priority and urgency from the
						key), sections in LMDB memory */
	MDB_dbi dbi;                         /* ready, delayed or done */
	unsigned char key[READY_KEY_LEN];    /* its key there */
	size_t klen;                         /* key length */
	MDB_cursor *cur;                     /* a cursor on dbi at this entry, or NULL:
						deleting it there spares a search */
};

/* The counters, one value in meta. */
struct counters {
	uint64_t count[STORE_STATE_SLOTS]; /* per state (slots past STORE_STATE_COUNT: 0) */
	uint64_t total;                    /* ever stored */
	uint64_t segments_waiting;         /* SMS parts of waiting messages */
	uint64_t attempts;                 /* leases */
	uint64_t retries;                  /* retry outcomes */
	uint64_t ambiguous;                /* of which ambiguous */
	uint64_t lease_expired;            /* leases that ran out */
	uint64_t segments_saved;           /* SMS parts saved by smart encoding */
	uint64_t segments_withdrawn;       /* SMS parts superseded or cancelled */
	uint64_t superseded;               /* messages superseded, ever */
	uint64_t cancelled;                /* messages cancelled by an operator, ever */
	uint64_t requeued;                 /* messages requeued by an operator, ever */
	uint64_t purged;                   /* final messages purged, ever */
	uint64_t keys_kept;                /* tombstones: keys of purged messages */
	uint64_t receipts_held;            /* receipts waiting for their send's outcome */
	uint64_t outbox;                   /* outcomes in the outbox */
	uint64_t outbox_dropped;           /* outcomes dropped from a full outbox, ever */
	uint64_t unsealed;                 /* messages failed because their sealed fields
					      did not open, ever */
	uint64_t reserved[12];             /* 0: room for fields to come (get_counters()
					      reads a shorter value with zeros here) */
};

/* Bytes of older counters, read by get_counters() (the next put writes
 * this layout): schema 4's seven states and seven fields; schema 5's first
 * nine states and thirteen fields. */
#define COUNTERS_V4_SIZE ((7 + 7) * sizeof(uint64_t))
#define COUNTERS_V5A_SIZE ((9 + 13) * sizeof(uint64_t))
/* The shortest value of this layout: the state slots and the fields up to
 * keys_kept. */
#define COUNTERS_MIN_SIZE offsetof(struct counters, receipts_held)

static inline struct store_shared *lock_shared(const store *s)
{
	int rc = pthread_mutex_lock(&s->sh->lock);

	(void)rc; /* a recursive mutex: only EAGAIN past its depth limit */
	return s->sh;
}

static inline void unlock_shared(struct store_shared **sh)
{
	pthread_mutex_unlock(&(*sh)->lock);
}

/* Hold the handles' mutex until the calling function returns (a recursive
 * mutex: store_walk()'s callback may call the store). */
#define STORE_LOCKED(s) \
	struct store_shared *locked_ __attribute__((cleanup(unlock_shared), unused)) = lock_shared(s)

/* Low-mark steps per write transaction that made messages final: 2 per such
 * message keeps up with them; the fixed part catches up, within a few hundred
 * transactions, after a long-waiting oldest message (a reminder scheduled for
 * next week) is finally sent with millions of final ids after it. */
#define STORE_LOW_STEPS 1024

/* Return from a store_*() call: run an attempt (a call returning an LMDB
 * code, which changed nothing when it failed) again after growing the map
 * when it reports MDB_MAP_FULL; map the rest to STORE_OK, STORE_FULL or
 * STORE_ERROR. */
#define WITH_GROWTH(call)                                                  \
	do {                                                               \
		for (int tries_ = 0; tries_ < STORE_MAX_GROW_RETRIES; tries_++) { \
			int rc_ = (call);                                  \
			if (rc_ == 0)                                      \
				return STORE_OK;                           \
			if (rc_ == RC_DISK_FULL)                           \
				return STORE_FULL;                         \
			if (rc_ != MDB_MAP_FULL)                           \
				return STORE_ERROR;                        \
			rc_ = grow_map(s);                                 \
			if (rc_ != 0)                                      \
				return rc_;                                \
		}                                                          \
		return STORE_FULL;                                         \
	} while (0)

/* ---- store_env.c ---------------------------------------------------------- */

SMSQ_PRINTF(2, 3)
void set_err(store *s, const char *fmt, ...);

/* Begin a transaction, adopting a map grown by another process. */
int txn_begin(store *s, unsigned flags, MDB_txn **txn) SMSQ_WARN_UNUSED;

/* The body of a write transaction (write_txn()): its moves, with the
 * counters c read before and written after; *finals adds the messages it
 * made final (the low mark is moved past them).  Returns an LMDB code
 * (RC_SAID: said in s->errmsg). */
typedef int (*write_fn)(store *s, MDB_txn *txn, struct counters *c, void *arg, size_t *finals);

/*
 * One attempt at a write transaction around fn: begun, the counters read,
 * fn, the low mark moved, the counters written, committed and synced when
 * fn moved anything (s->txn_moves), else abandoned; the shared next-due hint
 * lowered to what fn made due.  what names it in errors.  Returns an LMDB
 * code (RC_DISK_FULL: no room on the disk); on any error nothing changed.
 * For WITH_GROWTH().
 */
int write_txn(store *s, const char *what, write_fn fn, void *arg) SMSQ_WARN_UNUSED;

/* Double the map after MDB_MAP_FULL.  Returns 0, or STORE_FULL at the
 * ceiling, or STORE_ERROR. */
int grow_map(store *s) SMSQ_WARN_UNUSED;

/* A commit failed with rc.  No room on the disk (ENOSPC, EDQUOT, or EIO
 * while the filesystem is full: LMDB reports a short write as EIO) is
 * RC_DISK_FULL, said as "disk full"; anything else is rc, said as it is.
 * Either way the transaction changed nothing. */
int commit_failed(store *s, const char *what, int rc);

/* The bytes of the file's pages (its high-water mark) and of those on
 * LMDB's free list, as txn sees them.  Returns an LMDB code. */
int pages_bytes(store *s, MDB_txn *txn, uint64_t *hwm, uint64_t *free_bytes) SMSQ_WARN_UNUSED;

/* Bytes of disk blocks data.mdb holds beyond its pages (allocated ahead,
 * or written by a transaction that did not commit): room the file can grow
 * into without the filesystem.  Returns 0, or -1 when it cannot be told. */
int disk_room(store *s, uint64_t *room) SMSQ_WARN_UNUSED;

/* The blocks kept past data.mdb's pages for sending, on a filesystem of
 * total_bytes: 1/16 of it, at most STORE_DISK_RESERVE_MAX. */
uint64_t disk_reserve_bytes(uint64_t total_bytes);

/* Whether need more bytes fit on the disk with the reserve kept: the
 * blocks in hand (room) cover need and half the reserve, or the filesystem
 * has what a top-up to need and the reserve and a quarter takes.  The one
 * rule of ingest (disk_reserve()) and of store_stats(). */
int disk_takes(uint64_t need, uint64_t room, uint64_t avail, uint64_t reserve) SMSQ_WARN_UNUSED;

/* Keep data.mdb's disk blocks allocated past its pages, so that dispatch
 * can still commit on a full disk: LMDB extends the file with pwrite(),
 * which uses blocks allocated past its end.  When the blocks in hand no
 * longer cover need and half the reserve, they are topped up to need, the
 * reserve and a quarter (so a commit rarely pays for a fallocate()); the
 * first call after open always allocates (a filesystem may count blocks of
 * its own past the end, which it takes back when it fills up).  After a
 * full disk the filesystem is asked again only STORE_DISK_RETRY_MS later.
 * Returns 0; RC_DISK_FULL (said) when need and the reserve do not fit; 0 as
 * well when the room cannot be told or this filesystem cannot allocate
 * ahead (then there is no reserve). */
int disk_reserve(store *s, uint64_t need);

/* ---- store_record.c ------------------------------------------------------- */

/* The u64 of meta under name (0 when there is none), or put it.  Return
 * LMDB codes (MDB_CORRUPTED: a value of another size). */
int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out) SMSQ_WARN_UNUSED;
int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val) SMSQ_WARN_UNUSED;

/* The counters of meta (all zero when there are none yet), or put them.
 * Return LMDB codes (MDB_CORRUPTED: a value of another size). */
int get_counters(MDB_txn *txn, MDB_dbi dbi, struct counters *c) SMSQ_WARN_UNUSED;
int put_counters(MDB_txn *txn, MDB_dbi dbi, const struct counters *c) SMSQ_WARN_UNUSED;

void put_be64(unsigned char *p, uint64_t v);

uint64_t get_be64(const unsigned char *p);

/* The time at p in a key (bias()ed, big-endian). */
int64_t key_time(const void *p);

/* Check the schema version in meta; read-write, set it on a new store and
 * move a schema 2 or 3 store to this one. */
int check_version(store *s, MDB_txn *txn, char *err, size_t errlen) SMSQ_WARN_UNUSED;

size_t rec_size(const struct rec_hdr *h);

/* Decode v into r (pointers into v).  Returns 0, or -1 if corrupt. */
int rec_parse(const MDB_val *v, struct rec *r) SMSQ_WARN_UNUSED;

/* Read message id's record (pointers into LMDB memory: copy what is needed
 * before the next write).  Returns 0, MDB_NOTFOUND, an LMDB code, or
 * MDB_CORRUPTED. */
int rec_read(store *s, MDB_txn *txn, uint64_t id, struct rec *r) SMSQ_WARN_UNUSED;

/* Decode a state value into e->st, e->note and (a ready entry of schema 4)
 * e->copy.  Returns 0, or -1. */
int st_parse(const MDB_val *v, struct entry *e) SMSQ_WARN_UNUSED;

/* Whether a message in state is waiting to be sent (delayed, ready, in
 * flight), and whether it is not final (waiting, or held). */
int is_waiting(unsigned state);
int is_open(unsigned state);

/* Where the entry of a message in state st->state lives: database and key. */
void entry_place(store *s, const struct rec_hdr *h, uint64_t id, struct entry *e);

/* entry_get() through cur (a cursor on e->dbi), left at the entry so that
 * entry_del_move() deletes it without searching again. */
int entry_seek(MDB_cursor *cur, struct entry *e) SMSQ_WARN_UNUSED;

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
		      int64_t now_ms, struct counters *c) SMSQ_WARN_UNUSED;

/* Delete e at its place, then entry_move(). */
int entry_del_move(store *s, MDB_txn *txn, uint64_t id, const struct rec *r,
			  struct entry *e, enum store_state to, int64_t due_ms, const char *note,
			  int64_t now_ms, struct counters *c);

/* Extract the id from an index key. */
uint64_t index_key_id(const MDB_val *k);

/*
 * Find message id's entry (its record header in h) wherever it is: done and
 * ready by key, delayed by a scan (the record does not know the due time).
 * Returns 0 with e filled, MDB_NOTFOUND (in no index: corrupt), or an error.
 */
int entry_find(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		      struct entry *e) SMSQ_WARN_UNUSED;

/*
 * entry_find() without the scan: only where the record says the entry is
 * (done, ready, delayed to its not-before, or held to its expiry).
 * MDB_NOTFOUND means in
 * flight, or delayed to a time the record does not know (a retry, a
 * requeue): not found cheaply.
 */
int entry_find_keyed(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		     struct entry *e) SMSQ_WARN_UNUSED;

/* Message id's entry in done (h its record's header) into e: 0, MDB_NOTFOUND
 * (not final: waiting), RC_SAID (unreadable: said), or an LMDB code. */
int done_entry(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h, struct entry *e)
	SMSQ_WARN_UNUSED;

/* The first id >= from that is not final (0: none below next_id), checking
 * at most max ids (0: no limit); *stop is the id where the walk stopped. */
int first_waiting(store *s, MDB_txn *txn, uint64_t from, uint64_t next_id, size_t max,
			 uint64_t *found, uint64_t *stop) SMSQ_WARN_UNUSED;

/* Move meta "low_id" past final ids, checking at most max of them. */
int advance_low(store *s, MDB_txn *txn, size_t max) SMSQ_WARN_UNUSED;

/* ---- store_receipt.c ------------------------------------------------------ */

/* Apply the receipt held for message id, if any, now that its send is
 * recorded (e: its entry, just moved to sent, or a retry's being made
 * ready: then it goes to delivered or undelivered instead).  *applied set
 * when one was.  Returns an LMDB code. */
int receipt_held_apply(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		       struct entry *e, int64_t now_ms, struct counters *c, int *applied)
	SMSQ_WARN_UNUSED;

/* Index message id, just recorded as sent with provider id pid, by pid and
 * its recipient to; then apply a receipt held under that name, if any
 * (as receipt_held_apply(): e its entry, *applied).  Returns an LMDB code. */
int receipt_sent_by(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
		    struct entry *e, const char *pid, const char *to, int64_t now_ms,
		    struct counters *c, int *applied) SMSQ_WARN_UNUSED;

/* The key of the sentby index for provider id pid and recipient to (its
 * leading '+' left out; with a key, its keyed hash, seal_hash()) into k (room for SENTBY_KEY_MAX bytes); its length,
 * or 0 when pid is empty. */
#define SENTBY_KEY_MAX (STORE_NOTE_MAX + 1 + STORE_TO_MAX)
size_t sentby_key(store *s, unsigned char *k, const char *pid, size_t pid_len, const char *to,
		  size_t to_len);

/* Forget receipts held by name (a provider id and recipient) whose report
 * is older than before_ms: their sends were never recorded.  Returns an
 * LMDB code. */
int receipt_held_expire(store *s, MDB_txn *txn, int64_t before_ms, struct counters *c)
	SMSQ_WARN_UNUSED;

/* Write the outcome of message id, just moved to final state `state` with
 * note, into the outbox when the store has one.  Returns an LMDB code. */
int outbox_put(store *s, MDB_txn *txn, uint64_t id, unsigned state, const char *note,
	       int64_t now_ms, struct counters *c) SMSQ_WARN_UNUSED;

/* Mask the numbers in the notes of the outcomes after seq `after` written
 * at or before before_ms (at most max looked at), in place (a masked note is as
 * long); *upto the last seq looked at, *masked how many changed.  Returns
 * an LMDB code. */
int outbox_mask(store *s, MDB_txn *txn, uint64_t after, int64_t before_ms, size_t max,
		uint64_t *upto, size_t *masked) SMSQ_WARN_UNUSED;

/* ---- store_purge.c -------------------------------------------------------- */

/* One step of the sweep as store_purge() takes it, purging what has been
 * final retention_ms (at most max_visit looked at), in one write
 * transaction (committed when it purged something).  Returns an LMDB
 * code (RC_DISK_FULL: the commit found no room). */
int purge_step(store *s, int64_t now_ms, int64_t retention_ms, size_t max_visit,
	       struct store_purged *out) SMSQ_WARN_UNUSED;

/* Parse a tombstone.  Returns 0, or -1. */
int tomb_parse(const MDB_val *v, struct tomb_hdr *t, const char **key) SMSQ_WARN_UNUSED;

/* The key of message id in the booking index (k: room for
 * BOOKING_KEY_MAX bytes); its length. */
#define BOOKING_KEY_MAX (STORE_BOOKING_MAX + 1 + 8 + ID_KEY_LEN)
size_t booking_key(unsigned char *k, const char *b, size_t blen, int64_t created_ms, uint64_t id);

/* ---- store_erase.c -------------------------------------------------------- */

/* One step of the erasure sweep, in txn (the caller commits): the personal
 * fields of final messages that have been final personal_ms erased (at most
 * max_visit records looked at), numbers masked in old outcomes of the
 * outbox; out's erase_* fields.  Returns an LMDB code. */
int erase_in(store *s, MDB_txn *txn, int64_t now_ms, size_t max_visit,
	     struct store_purged *out) SMSQ_WARN_UNUSED;

/* While passes are due (sh->scrub_due), look at up to max_pages pages of
 * data.mdb, going on where the last call stopped: zero the free pages no
 * reader can see (pages LMDB may reuse) and the free middle of the pages
 * in use.  Call with txn, a write transaction that has written nothing yet
 * (the write lock held, no page of it spilled to the file).  *zeroed
 * counts the pages written; *nudge says that a pass ended and the caller
 * should commit (so that what the last commits freed becomes reusable for
 * the next).  Returns 0, or RC_SAID. */
int scrub_pages(store *s, MDB_txn *txn, size_t max_pages, size_t *zeroed, int *nudge)
	SMSQ_WARN_UNUSED;

/* ---- store_booking.c ------------------------------------------------------ */

/* Index message id (record r, with a booking id) by its booking; *alone
 * says whether its booking has no other entry (then there is nothing to
 * supersede either way: booking_newer() and booking_ingest() need not
 * run).  One descent of the index.  Returns an LMDB code. */
int booking_put(store *s, MDB_txn *txn, uint64_t id, const struct rec *r, int *alone)
	SMSQ_WARN_UNUSED;

/*
 * Message id was just stored with record r (schema 5, indexed by
 * booking_put(), its entry written in state st: ready, delayed, or
 * superseded when booking_newer() found a newer event): withdraw the older
 * messages of its booking it supersedes, and judge the cancellations its
 * arrival concerns (store.h, "the latest truth per booking").  *withdrew
 * counts the messages withdrawn (this one included).  Returns an LMDB code.
 */
int booking_ingest(store *s, MDB_txn *txn, uint64_t id, const struct rec *r, unsigned st,
		   unsigned notice, int64_t now_ms, struct counters *c, uint32_t *withdrew)
	SMSQ_WARN_UNUSED;

/* The id of a stored event of r's booking, newer than r (created later),
 * that supersedes it, in *by (0: none).  Returns an LMDB code. */
int booking_newer(store *s, MDB_txn *txn, const struct rec *r, uint64_t *by) SMSQ_WARN_UNUSED;

/* Whether message id (record r) has its entry in the booking index, with
 * its kind: 0, MDB_NOTFOUND (missing), MDB_CORRUPTED (another value), or
 * an LMDB code. */
int booking_check(store *s, MDB_txn *txn, uint64_t id, const struct rec *r) SMSQ_WARN_UNUSED;

/* Move waiting message id (entry e, record header h) to superseded or
 * cancelled (to) with note, counting its parts as withdrawn. */
int withdraw(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h, struct entry *e,
	     enum store_state to, const char *note, int64_t now_ms, struct counters *c)
	SMSQ_WARN_UNUSED;

/* ---- store_seal.c --------------------------------------------------------- */

/* Set up encryption at rest on a new handle (key: SEAL_KEY_BYTES, or NULL),
 * in txn (write when the handle writes): a key is checked against the
 * store's key check, which a writer stores when there is none yet; a
 * writer that records the ceiling (the pool) is refused without a key on
 * a store that has one.  Returns 0, or -1 with err. */
int seal_setup(store *s, MDB_txn *txn, const unsigned char *key, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* 0 when this handle may write personal fields (a key, or a store never
 * written with one); else -1, said in s->errmsg as what's. */
int seal_needed(store *s, const char *what) SMSQ_WARN_UNUSED;

/* Seal len bytes at m into c (len bytes) for message id's section
 * (SEAL_AD_EVENT or SEAL_AD_TT), its seal into trailer. */
#define SEAL_AD_EVENT 'e'
#define SEAL_AD_TT 't'
void rec_seal(store *s, uint64_t id, int section, void *c, const void *m, size_t len,
	      unsigned char *trailer);

/* Point r's destination and text at their plaintext: left as they are in
 * clear; else opened into buf (STORE_TO_MAX + STORE_TEXT_MAX bytes) and
 * r's pointers moved there, r->seal_tt NULL.  Returns 0, or RC_UNSEALED. */
int rec_unseal_tt(store *s, uint64_t id, struct rec *r, char *buf) SMSQ_WARN_UNUSED;

/* Likewise r's event into buf (r->h.event_len bytes). */
int rec_unseal_event(store *s, uint64_t id, struct rec *r, void *buf) SMSQ_WARN_UNUSED;

#endif
