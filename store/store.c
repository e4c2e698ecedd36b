/*
 * store: the durable queue on LMDB (see store.h for the contract).
 *
 * DESIGN (schema 4)
 *
 * One LMDB environment (data.mdb + lock.mdb in the data directory) holds six
 * named databases:
 *
 *   msg      id (8 bytes, big-endian)  -> record: what was stored at ingest,
 *                                         never rewritten (struct rec_hdr +
 *                                         key, event, destination, text)
 *   idem     idempotency key           -> id (8 bytes)
 *   ready    prio'(1) urg(8) id(8)     -> state + sending copy   due, most
 *                                         urgent first
 *   delayed  due(8) id(8)              -> state   not-before, retry, lease end
 *   done     prio'(1) urg(8) id(8)     -> state   final (sent, failed, expired)
 *   meta     "next_id", "low_id" -> u64, "counters", "version" -> u32
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
 * message is in exactly one index.
 *
 * Why this shape (issue 5, measured): schema 1 kept the state inside the
 * ~560-byte id-keyed record and rewrote it at lease and at finish.  Dispatch
 * takes messages in appointment order, which is not id order, so every
 * rewrite dirtied (copy-on-write) its own leaf page and B-tree path: ~3.7
 * pages, 14.7 KiB on the device per message sent.  Now dispatch never writes
 * an id-keyed page: a lease batch deletes the first keys of "ready" (a few
 * adjacent pages) and inserts keys of one lease time into "delayed" (a few
 * adjacent pages); a finish deletes those and inserts into "done" under the
 * ready key, which is as adjacent as the lease batch was.
 *
 * urg, the urgency (schema 3, issue 5, measured): the appointment to within
 * 1/4 of how far away it was at ingest (store_urgency_ms(): exact under 4
 * hours, then steps of 1 h, 6 h, 1 day, 4 days), written in the record.
 * Keyed by the exact appointment (schema 2), a batch of new messages
 * scattered over the whole ready index: with appointments days to weeks
 * away, one leaf page per message, copied and written at the commit (4.7 KiB
 * on the device per event at 1,000,000 stored; without the ready insert at
 * all, 0.7 KiB).  On the grid, messages of one step are in id order, so a
 * batch appends to the ends of a few hundred steps: 1.6 KiB per event,
 * ingest 30,000 -> 60,000 events/s (4 producers, 1,000,000 events).  The
 * grid was 1/16 of the distance at first (steps of 15 min, 1 h, 6 h, 1
 * day): appointments 1 to 42 days away took ~150 steps, and each commit
 * copied and wrote the tail page of each, for a few events per page even in
 * a batch of 2,048.  At 1/4 they take ~30 steps: 1.4 -> 1.0 KiB written per
 * event, ingest 89,000-91,000 -> 106,000-132,000 events/s, and paced at
 * 45,000/s the ack p50 15 -> 8 ms, p99 38-50 -> 19-21 ms (session 15).  The
 * order that matters is kept: tomorrow morning before next month, and to
 * the millisecond for appointments hours away; a message goes out at most
 * a quarter of its lead (at ingest) ahead of one with an earlier
 * appointment.  Stored urgencies of either grid are keys like any other.  A schema 2 record has no
 * urg: it is keyed by its appointment (rec_parse()), so a schema 2 store is
 * read as it is; a writer marks it schema 4 at open, and new records are
 * schema 3 beside the old.
 *
 * The sending copy (schema 4, issue 5, measured): a ready entry's value is
 * its state, then what a lease hands to the sender (struct copy_hdr:
 * creation and expiry times, segments; destination, text), unless that
 * would make the value larger than STORE_COPY_MAX (a long text is read from
 * the record).  Without it, a lease read each message's record by id: in
 * ready order, which is not id order, one page per message picked from all
 * over the map.  With 5,000,000 waiting (a 4 GB map) that was a cache and
 * TLB miss and often a page fault per message: messages were taken at 42 %
 * of the rate with 100,000 waiting (73-81 % now).  Now a lease of messages
 * with a copy reads the first pages of ready and nothing else.  The price
 * is ~260 bytes more per waiting message in ready, written at ingest beside
 * the entry it already wrote.
 * Only ingest and promote() (delayed to ready: they read the record) write a
 * copy; an entry put back to ready by a release, or written by schema 3,
 * has none and is sent from its record, as before.  The copy is never
 * changed: the record it copies is never rewritten, and smsqctl check
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
 * Durability: the environment is opened with default sync flags, so
 * mdb_txn_commit() returns only once data and meta page are on disk.
 * Callers batch (group commit): one transaction, one sync, many messages.
 *
 * Threads: LMDB allows one environment per process, so a second thread
 * (the ingest committer) gets a second handle on the same environment from
 * store_share().  Each handle has its own error message and transaction
 * bookkeeping; the handles share a mutex that every call opening a
 * transaction holds from start to end (STORE_LOCKED).  A process's store
 * calls thus run one at a time: writes as LMDB's write lock would run them
 * anyway, reads too (a read waits out the other thread's commit, which an
 * LMDB reader never does; the worker's threads only write), and
 * mdb_env_set_mapsize() (growth) never meets a transaction of another
 * thread of the process, which LMDB forbids.
 *
 * Growth: MDB_MAP_FULL aborts the transaction; the map doubles (up to
 * map_max_bytes) and the whole batch is replayed.  When another process
 * grew the map, mdb_txn_begin() reports MDB_MAP_RESIZED and we adopt the
 * new size.
 *
 * Room for sending: a lease or an outcome must never be refused for lack
 * of room, or a full store would stop every SMS.  So ingest stops short of
 * the ceiling (store_ingest_limit(): an eighth of it, at most 256 MiB, is
 * kept), measured before each batch as the pages in use (the file's
 * high-water mark, less LMDB's free list, which is read only near the
 * limit) plus a generous estimate of the batch (ingest_need()); the caller
 * gets STORE_FULL and answers RETRY_LATER.  Dispatch's transactions move a
 * bounded number of entries each, and what they free (a sent message's
 * ready entry with its sending copy is larger than its done entry) comes
 * back to the free list, so ingest takes messages again as the backlog
 * drains.
 *
 * A full disk: LMDB writes pages with pwrite(), so a full filesystem is a
 * failed commit (ENOSPC, or EIO for a short write), never a crash; it is
 * reported as STORE_FULL with "disk full" (commit_failed()).  The lock file,
 * which LMDB writes through a shared mapping, gets its disk blocks before
 * LMDB opens it (files_ready()): a page without one would be a SIGBUS.
 *
 * Records and state values carry a type byte; an unknown one is reported by
 * store_get()/store_verify() instead of being guessed at.  A schema 1 store
 * (smsq before this layout) is refused at open with what to do.
 */
#define _GNU_SOURCE /* fallocate(), FALLOC_FL_KEEP_SIZE */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/datadir.h"

#define STORE_SCHEMA_VERSION 4u
#define STORE_REC_V2 0x52u          /* type byte of a schema 2 record (no urgency_ms) */
#define STORE_REC_V3 0x54u          /* type byte of struct rec_hdr (schema 3) */
#define STORE_ST_V2 0x53u           /* type byte of struct st (schema 2) */
#define STORE_ST_V4 0x56u           /* struct st, then a sending copy (schema 4) */
#define STORE_COPY_MAX 512          /* largest ready value with a sending copy, bytes */
#define STORE_MAX_DBS 8
#define STORE_ERRMSG_MAX 256
#define STORE_MAX_GROW_RETRIES 16
#define STORE_LOCK_ALLOC_BYTES (64 << 10) /* blocks for a new lock.mdb (LMDB's: 8 KiB) */
#define STORE_RESERVE_DIVISOR 8          /* ingest leaves 1/8 of the map ceiling to sending */
#define STORE_RESERVE_MAX (256ULL << 20) /* and never more than this */
#define STORE_STATS_BATCH_BYTES (64 << 10) /* stats: "full" when this much no longer fits */
#define STORE_DISK_RESERVE_MAX (16ULL << 20) /* blocks kept beyond the data for sending, */
#define STORE_DISK_RESERVE_DIVISOR 16        /* or 1/16 of the filesystem when smaller */
#define STORE_DISK_RETRY_MS 1000             /* a full disk is asked again this often */
#define READY_KEY_LEN 17
#define DELAYED_KEY_LEN 16
#define ID_KEY_LEN 8
#define RC_SAID (MDB_KEYEXIST - 1) /* not an LMDB code: a failure already in s->errmsg */
#define RC_DISK_FULL (RC_SAID - 1) /* not an LMDB code: a commit found no room on the disk
				      (said in s->errmsg) */

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
	uint64_t map_max_bytes;         /* growth ceiling */
	int read_only;                  /* opened MDB_RDONLY */
	size_t txn_moves;               /* entries moved by the write transaction */
	int64_t txn_due;                /* earliest due time it gave a delayed entry */
	char dir[4096];                 /* data directory */
	char errmsg[STORE_ERRMSG_MAX];  /* last failure */
};

/* Fixed header of a stored record; sections follow in this order:
 * idempotency key, packed event, destination, text.  Written once, at
 * ingest.  Native byte order: a store is local to one node.  Copied with
 * memcpy, never accessed in place (LMDB data may be unaligned).  A schema 2
 * record (STORE_REC_V2) is this header without its last field: its entries
 * are keyed by the exact appointment. */
struct rec_hdr {
	uint8_t type;            /* STORE_REC_V3 (or STORE_REC_V2) */
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
};

/* Bytes of a schema 2 record's header. */
#define REC_HDR_V2_SIZE offsetof(struct rec_hdr, urgency_ms)

/* A record decoded: the header and pointers to its sections (into LMDB
 * memory: valid until the transaction's next write). */
struct rec {
	struct rec_hdr h;        /* header copy */
	const char *idem;        /* idempotency key */
	const void *event;       /* packed event */
	const char *to;          /* destination */
	const char *text;        /* text */
};

/* A message's mutable state: the value of its index entry, followed by
 * note_len bytes of note (sent: the provider's id; retry, failed: the
 * reason). */
struct st {
	uint8_t type;            /* STORE_ST_V2, or STORE_ST_V4 with a copy */
	uint8_t state;           /* enum store_state */
	uint8_t provider;        /* provider index of the last attempt */
	uint8_t reserved0;       /* 0 */
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
	uint16_t reserved;       /* 0 */
};

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
	uint64_t count[STORE_STATE_COUNT]; /* per state */
	uint64_t total;                    /* ever stored */
	uint64_t segments_waiting;         /* SMS parts of waiting messages */
	uint64_t attempts;                 /* leases */
	uint64_t retries;                  /* retry outcomes */
	uint64_t ambiguous;                /* of which ambiguous */
	uint64_t lease_expired;            /* leases that ran out */
	uint64_t segments_saved;           /* SMS parts saved by smart encoding */
};

static const char *const state_names[STORE_STATE_COUNT] = {
	"delayed", "ready", "inflight", "sent", "delivered", "failed", "expired",
};

const char *store_state_name(enum store_state st)
{
	if ((unsigned)st >= STORE_STATE_COUNT)
		return "unknown";
	return state_names[st];
}

__attribute__((format(printf, 2, 3)))
static void set_err(store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

const char *store_errmsg(const store *s)
{
	return s->errmsg;
}

static struct store_shared *lock_shared(const store *s)
{
	int rc = pthread_mutex_lock(&s->sh->lock);

	(void)rc; /* a recursive mutex: only EAGAIN past its depth limit */
	return s->sh;
}

static void unlock_shared(struct store_shared **sh)
{
	pthread_mutex_unlock(&(*sh)->lock);
}

/* Hold the handles' mutex until the calling function returns (a recursive
 * mutex: store_walk()'s callback may call the store). */
#define STORE_LOCKED(s) \
	struct store_shared *locked_ __attribute__((cleanup(unlock_shared), unused)) = lock_shared(s)

/* ---- key encoding ------------------------------------------------------ */

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be64(const unsigned char *p)
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
static int64_t key_time(const void *p)
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

/* ---- open / close ------------------------------------------------------ */

/* LMDB maps its lock file shared and writes its reader slots through the
 * map: a slot on a page without a disk block is a SIGBUS on a full disk.
 * An existing lock file keeps its size (LMDB reads the number of slots
 * from it): what it holds gets its blocks.  A new one gets blocks beyond
 * its size, for the size LMDB gives it.  Returns 0 or -1 (err). */
static int lock_file_allocate(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	struct stat sb;
	int fd = datadir_open(dir, DATADIR_LOCK, O_RDWR | O_CREAT, 0640, err, errlen);
	int rc = -1;

	if (fd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, DATADIR_LOCK);
	if (fstat(fd, &sb) != 0)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (sb.st_size > 0)
		rc = datadir_allocate(fd, path, (uint64_t)sb.st_size, 0, err, errlen);
	else
		rc = datadir_allocate(fd, path, STORE_LOCK_ALLOC_BYTES, 1, err, errlen);
	close(fd);
	return rc;
}

/* The directory and the two files LMDB opens by path: checked (and the
 * directory created) before LMDB sees them.  Returns 0 or -1 (err). */
static int files_ready(const store *s, char *err, size_t errlen)
{
	int fd;

	if (s->read_only)
		return datadir_check_file(s->dir, DATADIR_DATA, err, errlen) == 0 &&
				       datadir_check_file(s->dir, DATADIR_LOCK, err, errlen) == 0
			       ? 0
			       : -1;
	if (datadir_prepare(s->dir, 1, err, errlen) != 0)
		return -1;
	fd = datadir_open(s->dir, DATADIR_DATA, O_RDWR | O_CREAT, 0640, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	return lock_file_allocate(s->dir, err, errlen);
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
static int check_version(store *s, MDB_txn *txn, char *err, size_t errlen)
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
	 * sent from their records.  Marking the store 4 keeps an older smsq
	 * (which would call a copy corrupt) out. */
	if (have != STORE_SCHEMA_VERSION && !s->read_only)
		return write_version(s, txn, err, errlen);
	return 0;
}

static int open_dbs(store *s, char *err, size_t errlen)
{
	MDB_txn *txn = NULL;
	unsigned flags = s->read_only ? 0 : MDB_CREATE;
	int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);

	if (rc != 0) {
		snprintf(err, errlen, "store: begin: %s", mdb_strerror(rc));
		return -1;
	}
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{ "meta", &s->db_meta },       { "msg", &s->db_msg },
		{ "idem", &s->db_idem },       { "ready", &s->db_ready },
		{ "delayed", &s->db_delayed }, { "done", &s->db_done },
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
		if (rc != 0) {
			snprintf(err, errlen, "store: open database %s in %s: %s%s", dbs[i].name,
				 s->dir, mdb_strerror(rc),
				 rc == MDB_NOTFOUND ? " (store not initialised: start smsq-worker once)" : "");
			goto fail;
		}
		if (i == 0 && check_version(s, txn, err, errlen) != 0)
			goto fail;
	}
	/* Commit even a read-only transaction: an aborted one would close the
	 * database handles it opened. */
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		snprintf(err, errlen, "store: commit: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return -1;
}

/* A recursive process-private mutex.  Returns 0, or -1. */
static int init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);

	if (rc == 0) {
		rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		if (rc == 0)
			rc = pthread_mutex_init(m, &a);
		pthread_mutexattr_destroy(&a);
	}
	return rc == 0 ? 0 : -1;
}

static void record_ceiling(store *s);
static uint64_t disk_reserve_bytes(uint64_t total_bytes);

store *store_open(const struct store_opts *opts, char *err, size_t errlen)
{
	store *s = calloc(1, sizeof(*s));
	uint64_t map = opts->map_bytes ? opts->map_bytes : STORE_DEFAULT_MAP_BYTES;
	int rc;

	if (s == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	s->sh = calloc(1, sizeof(*s->sh));
	if (s->sh == NULL) {
		free(s);
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	s->sh->refs = 1;
	if (init_lock(&s->sh->lock) != 0) {
		free(s->sh);
		free(s);
		snprintf(err, errlen, "store: cannot create its mutex");
		return NULL;
	}
	s->read_only = opts->read_only;
	s->map_max_bytes = opts->map_max_bytes ? opts->map_max_bytes : STORE_DEFAULT_MAP_MAX_BYTES;
	if (map > s->map_max_bytes)
		map = s->map_max_bytes;
	if (snprintf(s->dir, sizeof(s->dir), "%s", opts->dir) >= (int)sizeof(s->dir)) {
		snprintf(err, errlen, "store: data directory path too long");
		goto fail;
	}
	if (files_ready(s, err, errlen) != 0)
		goto fail;
	rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)map);
	if (rc != 0) {
		snprintf(err, errlen, "store: create environment: %s", mdb_strerror(rc));
		goto fail;
	}
	/* MDB_NOTLS: read transactions are tied to this handle, not to a thread.
	 * MDB_NORDAHEAD: the backlog is read at random, read-ahead only wastes
	 * page cache. */
	rc = mdb_env_open(s->env, s->dir,
			  MDB_NOTLS | MDB_NORDAHEAD | (s->read_only ? MDB_RDONLY : 0), 0640);
	if (rc != 0) {
		snprintf(err, errlen, "store: open %s: %s", s->dir, mdb_strerror(rc));
		goto fail;
	}
	if (!s->read_only) {
		int dead = 0;

		/* Readers left by processes killed since the last run. */
		if (mdb_reader_check(s->env, &dead) != 0)
			dead = 0;
		(void)dead;
	}
	if (open_dbs(s, err, errlen) != 0)
		goto fail;
	if (!s->read_only) {
		uint64_t total = 0;

		if (opts->record_ceiling)
			record_ceiling(s);
		if (datadir_disk_full(s->dir, NULL, &total) >= 0)
			s->sh->disk_reserve = disk_reserve_bytes(total);
	}
	return s;
fail:
	store_close(&s);
	return NULL;
}

store *store_share(store *s, char *err, size_t errlen)
{
	store *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	STORE_LOCKED(s);
	*t = *s;
	t->errmsg[0] = '\0';
	t->txn_moves = 0;
	t->txn_due = INT64_MAX;
	s->sh->refs++;
	return t;
}

void store_close(store **sp)
{
	store *s;
	int last;

	if (sp == NULL || *sp == NULL)
		return;
	s = *sp;
	pthread_mutex_lock(&s->sh->lock);
	last = --s->sh->refs == 0;
	pthread_mutex_unlock(&s->sh->lock);
	if (last) {
		if (s->env != NULL)
			mdb_env_close(s->env);
		pthread_mutex_destroy(&s->sh->lock);
		free(s->sh);
	}
	free(s);
	*sp = NULL;
}

int store_reader_check(store *s)
{
	int dead = 0;
	int rc = mdb_reader_check(s->env, &dead);

	if (rc != 0) {
		set_err(s, "reader check: %s", mdb_strerror(rc));
		return -1;
	}
	return dead;
}

/* ---- transactions ------------------------------------------------------ */

/* Begin a transaction, adopting a map grown by another process. */
static int txn_begin(store *s, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(s->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(s->env, NULL, flags, txn);
	}
	if (rc != 0)
		set_err(s, "begin transaction: %s", mdb_strerror(rc));
	return rc;
}

/* Double the map after MDB_MAP_FULL.  Returns 0, or STORE_FULL at the
 * ceiling, or STORE_ERROR. */
static int grow_map(store *s)
{
	MDB_envinfo info;
	int rc = mdb_env_info(s->env, &info);

	if (rc != 0) {
		set_err(s, "env info: %s", mdb_strerror(rc));
		return STORE_ERROR;
	}
	uint64_t cur = info.me_mapsize;
	if (cur >= s->map_max_bytes) {
		set_err(s, "store is full: map at its maximum of %llu MiB",
			(unsigned long long)(s->map_max_bytes >> 20));
		return STORE_FULL;
	}
	uint64_t next = cur * 2 > s->map_max_bytes ? s->map_max_bytes : cur * 2;
	rc = mdb_env_set_mapsize(s->env, (size_t)next);
	if (rc != 0) {
		set_err(s, "grow map to %llu bytes: %s", (unsigned long long)next,
			mdb_strerror(rc));
		return STORE_ERROR;
	}
	return 0;
}

/* A commit failed with rc.  No room on the disk (ENOSPC, EDQUOT, or EIO
 * while the filesystem is full: LMDB reports a short write as EIO) is
 * RC_DISK_FULL, said as "disk full"; anything else is rc, said as it is.
 * Either way the transaction changed nothing. */
static int commit_failed(store *s, const char *what, int rc)
{
	uint64_t avail = 0;
	int full = datadir_disk_full(s->dir, &avail, NULL) == 1;

	if (rc == ENOSPC || rc == EDQUOT || (rc == EIO && full)) {
		set_err(s, "disk full: no space left on the filesystem of %s (%llu KiB free); "
			"%s not committed", s->dir, (unsigned long long)(avail >> 10), what);
		return RC_DISK_FULL;
	}
	set_err(s, "%s commit: %s", what, mdb_strerror(rc));
	return rc;
}

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
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

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v = { sizeof(val), &val };

	return mdb_put(txn, dbi, &k, &v, 0);
}

/* Write the map ceiling into meta ("map_max") when it changed, so that
 * store_stats() of a reader (smsqctl) can tell whether ingest has room.
 * Best effort: a store that cannot take this write (a full disk) opens
 * all the same, and its stats say the ceiling is unknown. */
static void record_ceiling(store *s)
{
	MDB_txn *txn = NULL;
	uint64_t have = 0;
	int rc = txn_begin(s, 0, &txn);

	if (rc != 0)
		return;
	rc = get_u64(txn, s->db_meta, "map_max", &have);
	if (rc == 0 && have != s->map_max_bytes) {
		rc = put_u64(txn, s->db_meta, "map_max", s->map_max_bytes);
		if (rc == 0) {
			(void)mdb_txn_commit(txn); /* best effort, said above */
			return;
		}
	}
	mdb_txn_abort(txn);
}

static int get_counters(MDB_txn *txn, MDB_dbi dbi, struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v;
	int rc = mdb_get(txn, dbi, &k, &v);

	memset(c, 0, sizeof(*c));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != sizeof(*c))
		return MDB_CORRUPTED;
	if (rc == 0)
		memcpy(c, v.mv_data, sizeof(*c));
	return rc;
}

static int put_counters(MDB_txn *txn, MDB_dbi dbi, const struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v = { sizeof(*c), (void *)c };

	return mdb_put(txn, dbi, &k, &v, 0);
}

/* ---- records and state values ------------------------------------------ */

static size_t rec_size(const struct rec_hdr *h)
{
	size_t hsize = h->type == STORE_REC_V2 ? REC_HDR_V2_SIZE : sizeof(*h);

	return hsize + (size_t)h->idem_len + h->event_len + h->to_len + h->text_len;
}

/* Decode v into r (pointers into v).  Returns 0, or -1 if corrupt. */
static int rec_parse(const MDB_val *v, struct rec *r)
{
	const char *p = v->mv_data;
	size_t hsize = sizeof(r->h);

	if (v->mv_size > 0 && p[0] == STORE_REC_V2)
		hsize = REC_HDR_V2_SIZE;
	if (v->mv_size < hsize)
		return -1;
	memset(&r->h, 0, sizeof(r->h));
	memcpy(&r->h, p, hsize);
	if (r->h.type == STORE_REC_V2)
		r->h.urgency_ms = r->h.appointment_ms; /* how schema 2 keyed it */
	else if (r->h.type != STORE_REC_V3)
		return -1;
	if (rec_size(&r->h) != v->mv_size ||
	    r->h.priority > STORE_PRIORITY_MAX || r->h.idem_len > STORE_IDEM_MAX ||
	    r->h.to_len > STORE_TO_MAX || r->h.text_len > STORE_TEXT_MAX)
		return -1;
	p += hsize;
	r->idem = p;
	p += r->h.idem_len;
	r->event = p;
	p += r->h.event_len;
	r->to = p;
	p += r->h.to_len;
	r->text = p;
	return 0;
}

/* Read message id's record (pointers into LMDB memory: copy what is needed
 * before the next write).  Returns 0, MDB_NOTFOUND, an LMDB code, or
 * MDB_CORRUPTED. */
static int rec_read(store *s, MDB_txn *txn, uint64_t id, struct rec *r)
{
	unsigned char idkey[ID_KEY_LEN];
	MDB_val k = { ID_KEY_LEN, idkey };
	MDB_val v;
	int rc;

	put_be64(idkey, id);
	rc = mdb_get(txn, s->db_msg, &k, &v);
	if (rc != 0)
		return rc;
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
	if (c.to_len > STORE_TO_MAX || c.text_len > STORE_TEXT_MAX || c.reserved != 0 ||
	    n != sizeof(c) + (size_t)c.to_len + c.text_len)
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
	return 0;
}

/* Decode a state value into e->st, e->note and (a ready entry of schema 4)
 * e->copy.  Returns 0, or -1. */
static int st_parse(const MDB_val *v, struct entry *e)
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
	n = sizeof(struct copy_hdr) + (size_t)r->h.to_len + r->h.text_len;
	return sizeof(struct st) + note_len + n <= STORE_COPY_MAX ? n : 0;
}

static int is_waiting(unsigned state)
{
	return state <= STORE_STATE_INFLIGHT;
}

/* Where the entry of a message in state st->state lives: database and key. */
static void entry_place(store *s, const struct rec_hdr *h, uint64_t id, struct entry *e)
{
	e->cur = NULL;
	if (e->st.state == STORE_STATE_DELAYED || e->st.state == STORE_STATE_INFLIGHT) {
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
		};

		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
		if (c.to_len > 0)
			memcpy(p, r->to, c.to_len);
		p += c.to_len;
		if (c.text_len > 0)
			memcpy(p, r->text, c.text_len);
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
static int entry_seek(MDB_cursor *cur, struct entry *e)
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
static int entry_move(store *s, MDB_txn *txn, uint64_t id, const struct rec *r,
		      struct entry *e, enum store_state to, int64_t due_ms, const char *note,
		      int64_t now_ms, struct counters *c)
{
	const struct rec_hdr *h = &r->h;
	unsigned from = e->st.state;

	s->txn_moves++;
	if (to == STORE_STATE_DELAYED && due_ms < s->txn_due)
		s->txn_due = due_ms;
	if (is_waiting(from) && !is_waiting(to))
		c->segments_waiting -= h->segments;
	c->count[from]--;
	c->count[to]++;
	e->st.state = (uint8_t)to;
	e->st.due_ms = is_waiting(to) && to != STORE_STATE_READY ? due_ms : 0;
	e->st.updated_ms = now_ms;
	if (note != NULL)
		entry_set_note(e, note);
	entry_place(s, h, id, e);
	return entry_put(txn, e, r);
}

/* Delete e at its place, then entry_move(). */
static int entry_del_move(store *s, MDB_txn *txn, uint64_t id, const struct rec *r,
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
static uint64_t index_key_id(const MDB_val *k)
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
static int entry_find(store *s, MDB_txn *txn, uint64_t id, const struct rec_hdr *h,
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
static int first_waiting(store *s, MDB_txn *txn, uint64_t from, uint64_t next_id, size_t max,
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
static int advance_low(store *s, MDB_txn *txn, size_t max)
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

/* ---- ingest ------------------------------------------------------------ */

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
	char *p;
	int rc;

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

	memset(&h, 0, sizeof(h));
	h.type = STORE_REC_V3;
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
	if (h.event_len > 0)
		memcpy(p, m->event, h.event_len);
	p += h.event_len;
	if (h.to_len > 0)
		memcpy(p, m->to, h.to_len);
	p += h.to_len;
	if (h.text_len > 0)
		memcpy(p, m->text, h.text_len);

	/* The entry, created by entry_move() (from its state to itself); a
	 * ready one copies the destination and text from m. */
	r = (struct rec){ .h = h, .idem = m->idem_key, .to = m->to ? m->to : "",
			  .text = m->text ? m->text : "" };
	memset(&e, 0, sizeof(e));
	e.st.state = m->not_before_ms > now_ms ? STORE_STATE_DELAYED : STORE_STATE_READY;
	rc = entry_move(s, txn, id, &r, &e, (enum store_state)e.st.state, m->not_before_ms, NULL,
			now_ms, c);
	if (rc != 0)
		return rc;
	c->segments_waiting += h.segments;
	c->segments_saved += m->segments_saved;
	c->count[e.st.state]++;
	c->total++;
	m->id = id;
	return 0;
}

/* One attempt at the whole batch.  Returns an LMDB code. */
static int ingest_attempt(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	MDB_txn *txn = NULL;
	struct counters c;
	uint64_t next_id;
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
		rc = ingest_one(s, txn, &msgs[i], next_id, now_ms, &c);
		if (rc == MDB_KEYEXIST) {
			msgs[i].result = STORE_INGEST_DUPLICATE;
			continue;
		}
		if (rc != 0)
			goto fail;
		msgs[i].result = STORE_INGEST_ACCEPTED;
		next_id++;
	}
	rc = put_u64(txn, s->db_meta, "next_id", next_id);
	if (rc == 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0)
		goto fail;
	/* Commit syncs data and meta page before returning: only now may the
	 * caller acknowledge. */
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		rc = commit_failed(s, "ingest", rc);
	else if (s->txn_due < s->sh->next_due_ms)
		__atomic_store_n(&s->sh->next_due_ms, s->txn_due, __ATOMIC_RELAXED);
	return rc;
fail:
	set_err(s, "ingest: %s", mdb_strerror(rc));
	mdb_txn_abort(txn);
	return rc;
}

uint64_t store_ingest_limit(uint64_t map_max_bytes)
{
	uint64_t reserve = map_max_bytes / STORE_RESERVE_DIVISOR;

	return map_max_bytes - (reserve > STORE_RESERVE_MAX ? STORE_RESERVE_MAX : reserve);
}

/* The bytes of the file's pages (its high-water mark) and of those on
 * LMDB's free list, as txn sees them.  Returns an LMDB code. */
static int pages_bytes(store *s, MDB_txn *txn, uint64_t *hwm, uint64_t *free_bytes)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t pages = 0;
	int rc = mdb_env_info(s->env, &info);

	if (rc == 0)
		rc = mdb_env_stat(s->env, &st);
	if (rc != 0)
		return rc;
	*hwm = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	if (free_bytes == NULL)
		return 0;
	/* Database 0 is LMDB's free list: each value is a list of page
	 * numbers whose first word is their count (as mdb_stat -f reads it). */
	rc = mdb_cursor_open(txn, 0, &cur);
	for (int op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
		rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
		if (rc == 0 && v.mv_size >= sizeof(size_t)) {
			size_t count;

			memcpy(&count, v.mv_data, sizeof(count));
			pages += count;
		}
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	*free_bytes = pages * st.ms_psize;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Bytes of disk blocks data.mdb holds beyond its pages (allocated ahead,
 * or written by a transaction that did not commit): room the file can grow
 * into without the filesystem.  Returns 0, or -1 when it cannot be told. */
static int disk_room(store *s, uint64_t *room)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat sb;
	uint64_t hwm, blocks;
	int fd;

	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
	    mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &sb) != 0)
		return -1;
	hwm = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	blocks = (uint64_t)sb.st_blocks * 512;
	*room = blocks > hwm ? blocks - hwm : 0;
	return 0;
}

/* The blocks kept past data.mdb's pages for sending, on a filesystem of
 * total_bytes: 1/16 of it, at most STORE_DISK_RESERVE_MAX. */
static uint64_t disk_reserve_bytes(uint64_t total_bytes)
{
	uint64_t r = total_bytes / STORE_DISK_RESERVE_DIVISOR;

	return r < STORE_DISK_RESERVE_MAX ? r : STORE_DISK_RESERVE_MAX;
}

/* Whether need more bytes fit on the disk with the reserve kept: the
 * blocks in hand (room) cover need and half the reserve, or the filesystem
 * has what a top-up to need and the reserve and a quarter takes.  The one
 * rule of ingest (disk_reserve()) and of store_stats(). */
static int disk_takes(uint64_t need, uint64_t room, uint64_t avail, uint64_t reserve)
{
	uint64_t top = need + reserve + reserve / 4;

	return room >= need + reserve / 2 || (top > room && avail >= top - room);
}

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
static int disk_reserve(store *s, uint64_t need)
{
	struct store_shared *sh = s->sh;
	MDB_envinfo info;
	MDB_stat st;
	uint64_t room, hwm, top;
	int64_t now;
	int fd;

	if (s->read_only || sh->disk_reserve == 0 || disk_room(s, &room) != 0)
		return 0;
	if (sh->disk_reserved && room >= need + sh->disk_reserve / 2)
		return 0;
	now = clock_mono_ms();
	if (now < sh->disk_retry_ms)
		goto full;
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
	    mdb_env_get_fd(s->env, &fd) != 0)
		return 0;
	hwm = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	top = need + sh->disk_reserve + sh->disk_reserve / 4;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)hwm, (off_t)top) == 0) {
		sh->disk_reserved = 1;
		return 0;
	}
	if (errno == EOPNOTSUPP || errno == ENOSYS) {
		sh->disk_reserve = 0; /* this filesystem cannot: write without */
		return 0;
	}
	/* A full disk, or a failure that may pass (EINTR, EIO): ask again
	 * later, and meanwhile go by the blocks in hand. */
	sh->disk_retry_ms = now + STORE_DISK_RETRY_MS;
full:
	if (room >= need + sh->disk_reserve / 2)
		return 0;
	uint64_t avail = 0;
	(void)datadir_disk_full(s->dir, &avail, NULL);
	set_err(s, "disk full: %llu KiB left on the filesystem of %s, and the store keeps %llu KiB "
		"for sending", (unsigned long long)(avail >> 10), s->dir,
		(unsigned long long)(sh->disk_reserve >> 10));
	return RC_DISK_FULL;
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

/* What storing m may take in pages, generously: its record, its indexes'
 * entries with the sending copy, and half-full B-tree pages. */
static uint64_t ingest_need(const struct store_new *m)
{
	return 2 * (sizeof(struct rec_hdr) + 2 * m->idem_len + m->event_len +
		    2 * (m->to_len + m->text_len) + sizeof(struct st) + sizeof(struct copy_hdr) +
		    2 * READY_KEY_LEN + 64);
}

int store_ingest(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	uint64_t need = 0;

	STORE_LOCKED(s);
	if (s->read_only) {
		set_err(s, "ingest: store opened read-only");
		return STORE_ERROR;
	}
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

/* ---- reading ----------------------------------------------------------- */

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
	memcpy(out->idem_key, r.idem, r.h.idem_len);
	memcpy(out->to, r.to, r.h.to_len);
	memcpy(out->note, e.note, (size_t)e.st.note_len + 1);
	out->event_len = r.h.event_len;
	out->event = malloc(r.h.event_len ? r.h.event_len : 1);
	out->text = malloc((size_t)r.h.text_len + 1);
	if (out->event == NULL || out->text == NULL) {
		free(out->event);
		free(out->text);
		out->event = NULL;
		out->text = NULL;
		set_err(s, "out of memory");
		goto out;
	}
	memcpy(out->event, r.event, r.h.event_len);
	memcpy(out->text, r.text, r.h.text_len);
	out->text[r.h.text_len] = '\0';
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

/* ---- verify ------------------------------------------------------------ */

struct verify_ctx {
	store *s;
	MDB_txn *txn;
	uint8_t *seen;           /* per id: 0 unseen, else state + 1 */
	uint64_t next_id;        /* ids are below */
	struct counters recount; /* what the indexes say */
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
				   memcmp(e.copy.text, r.text, r.h.text_len) != 0)) {
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
		MDB_val ik, iv;

		if (id == 0 || id >= v->next_id || rec_parse(&val, &r) != 0) {
			set_err(v->s, "message %llu: unknown or corrupt record", (unsigned long long)id);
			goto out;
		}
		v->recount.total++;
		if (v->seen[id] == 0) {
			set_err(v->s, "message %llu: in no index", (unsigned long long)id);
			goto out;
		}
		if (id < low && is_waiting(v->seen[id] - 1u)) {
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
	if (st.ms_entries != v.recount.total) {
		set_err(s, "idempotency index has %llu keys for %llu messages",
			(unsigned long long)st.ms_entries, (unsigned long long)v.recount.total);
		goto out;
	}
	if (memcmp(c.count, v.recount.count, sizeof(c.count)) != 0 || c.total != v.recount.total ||
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

/* ---- dispatch ----------------------------------------------------------- */

/* Low-mark steps per write transaction that made messages final: 2 per such
 * message keeps up with them; the fixed part catches up, within a few hundred
 * transactions, after a long-waiting oldest message (a reminder scheduled for
 * next week) is finally sent with millions of final ids after it. */
#define STORE_LOW_STEPS 1024

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
	if (n > cap) {
		r->to = r->text = NULL;
		return;
	}
	memcpy(held, r->to, r->h.to_len);
	memcpy(held + r->h.to_len, r->text, r->h.text_len);
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
		uint64_t id;

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
		if (r.h.expires_ms <= now_ms) {
			rc = entry_del_move(s, txn, id, &r, &e, STORE_STATE_EXPIRED, 0,
					    "expired before it could be sent", now_ms, c);
			(*n_expired)++;
			(*n_final)++;
		} else {
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
		/* Copy out of LMDB memory before the writes below. */
		struct store_leased *l = &out[*n_out];
		l->id = id;
		l->lease_until_ms = now_ms + lease_ms;
		l->created_ms = r.h.created_ms;
		l->attempts = (uint16_t)(e.st.attempts + 1);
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

/* Run attempt() again after growing the map when it reports MDB_MAP_FULL. */
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

/* Apply one outcome (dcur: a cursor on the delayed index, where leases
 * are).  Returns an LMDB code (0 also when not applicable). */
static int finish_one(store *s, MDB_txn *txn, MDB_cursor *dcur, struct store_outcome *o,
		      int64_t now_ms, struct counters *c)
{
	struct rec r, hdr = { .idem = NULL }; /* hdr: the header only (a message
						  released to ready reads its record) */
	struct rec_hdr *h = &hdr.h;
	struct entry e;
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
		rc = entry_del_move(s, txn, o->id, &hdr, &e, STORE_STATE_READY, 0, NULL, now_ms, c);
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
		if (rc == 0 && o[i].applied && !is_waiting(o[i].final_state))
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
	int rc = txn_begin(s, 0, &txn);

	if (n_out != NULL)
		*n_out = 0;
	if (n_expired != NULL)
		*n_expired = 0;
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
