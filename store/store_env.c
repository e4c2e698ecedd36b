/*
 * store_env: the environment (see store.h for the contract, store_impl.h
 * for the files of the store): open and close, the handles of one
 * process, transactions, map growth, and room on the map and the disk.
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
 * map_max_bytes) and the whole batch is replayed (store_queue.c).  When
 * another process grew the map, mdb_txn_begin() reports MDB_MAP_RESIZED and
 * we adopt the new size.
 *
 * Room for sending: a lease or an outcome must never be refused for lack
 * of room, or a full store would stop every SMS.  So ingest stops short of
 * the ceiling (store_ingest_limit(): an eighth of it, at most 256 MiB, is
 * kept), measured before each batch as the pages in use (the file's
 * high-water mark, less LMDB's free list, which is read only near the
 * limit) plus a generous estimate of the batch; the caller gets STORE_FULL
 * and answers RETRY_LATER.  Dispatch's transactions move a bounded number
 * of entries each, and what they free (a sent message's ready entry with
 * its sending copy is larger than its done entry) comes back to the free
 * list, so ingest takes messages again as the backlog drains.
 *
 * A full disk: LMDB writes pages with pwrite(), so a full filesystem is a
 * failed commit (ENOSPC, or EIO for a short write), never a crash; it is
 * reported as STORE_FULL with "disk full" (commit_failed()).  data.mdb
 * keeps disk blocks allocated past its pages for sending (disk_reserve()).
 * The lock file, which LMDB writes through a shared mapping, gets its disk
 * blocks before LMDB opens it (files_ready()): a page without one would be
 * a SIGBUS.
 */
#define _GNU_SOURCE /* fallocate(), FALLOC_FL_KEEP_SIZE */
#include "store/store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "store/datadir.h"
#include "common/attrs.h"

static void record_ceiling(store *s, uint64_t outbox_max);
static uint64_t read_outbox_max(store *s);

SMSQ_PRINTF(2, 3)
void set_err(store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)err_vset(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

const char *store_errmsg(const store *s)
{
	return s->errmsg;
}

/* LMDB maps its lock file shared and writes its reader slots through the
 * map: a slot on a page without a disk block is a SIGBUS on a full disk.
 * An existing lock file keeps its size (LMDB reads the number of slots
 * from it): what it holds gets its blocks.  A new one gets blocks beyond
 * its size, for the size LMDB gives it.  Returns 0 or -1 (err). */
static int lock_file_allocate(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	struct stat sb;
	int fd = datadir_open(dir, DATADIR_LOCK, O_RDWR | O_CREAT, 0600, err, errlen);
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
	fd = datadir_open(s->dir, DATADIR_DATA, O_RDWR | O_CREAT, 0600, err, errlen);
	if (fd < 0)
		return -1;
	close(fd);
	return lock_file_allocate(s->dir, err, errlen);
}

static int open_dbs(store *s, const unsigned char *key, char *err, size_t errlen)
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
		{ "booking", &s->db_booking }, { "held", &s->db_held },
		{ "outbox", &s->db_outbox },   { "sentby", &s->db_sentby },
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
		if (rc == MDB_NOTFOUND && s->read_only &&
		    (dbs[i].dbi == &s->db_booking || dbs[i].dbi == &s->db_held ||
		     dbs[i].dbi == &s->db_outbox || dbs[i].dbi == &s->db_sentby))
			continue; /* an older store, read as it is: none yet */
		s->has_booking |= rc == 0 && dbs[i].dbi == &s->db_booking;
		s->has_held |= rc == 0 && dbs[i].dbi == &s->db_held;
		s->has_outbox |= rc == 0 && dbs[i].dbi == &s->db_outbox;
		s->has_sentby |= rc == 0 && dbs[i].dbi == &s->db_sentby;
		if (rc != 0) {
			snprintf(err, errlen, "store: open database %s in %s: %s%s", dbs[i].name,
				 s->dir, mdb_strerror(rc),
				 rc == MDB_NOTFOUND ? " (store not initialised: start smsq-worker once)" : "");
			goto fail;
		}
		if (i == 0 && check_version(s, txn, err, errlen) != 0)
			goto fail;
	}
	if (seal_setup(s, txn, key, err, errlen) != 0)
		goto fail;
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
	s->sh->scrub_due = STORE_SCRUB_PASSES; /* what an earlier process left */
	if (init_lock(&s->sh->lock) != 0) {
		free(s->sh);
		free(s);
		snprintf(err, errlen, "store: cannot create its mutex");
		return NULL;
	}
	s->read_only = opts->read_only;
	s->record_ceiling = opts->record_ceiling;
	s->retention_ms = opts->retention_ms > 0 ? opts->retention_ms : STORE_DEFAULT_RETENTION_MS;
	s->keys_ms = opts->keys_ms > s->retention_ms ? opts->keys_ms : s->retention_ms;
	s->personal_ms = opts->personal_ms > 0 ? opts->personal_ms : STORE_DEFAULT_PERSONAL_MS;
	if (s->personal_ms > s->retention_ms)
		s->personal_ms = s->retention_ms;
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
			  MDB_NOTLS | MDB_NORDAHEAD | (s->read_only ? MDB_RDONLY : 0), 0600);
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
	if (open_dbs(s, opts->seal_key, err, errlen) != 0)
		goto fail;
	if (!s->read_only) {
		uint64_t total = 0;

		if (opts->record_ceiling)
			record_ceiling(s, opts->outbox_max);
		if (datadir_disk_full(s->dir, NULL, &total) >= 0)
			s->sh->disk_reserve = disk_reserve_bytes(total);
	}
	s->outbox_max = read_outbox_max(s);
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
		seal_destroy(&s->sh->seal);
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

/* Begin a transaction, adopting a map grown by another process. */
int txn_begin(store *s, unsigned flags, MDB_txn **txn)
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

int write_txn(store *s, const char *what, write_fn fn, void *arg)
{
	MDB_txn *txn = NULL;
	struct counters c;
	size_t finals = 0;
	int rc = txn_begin(s, 0, &txn);

	if (rc != 0)
		return rc;
	s->txn_moves = 0;
	s->txn_due = INT64_MAX;
	rc = get_counters(txn, s->db_meta, &c);
	if (rc == 0)
		rc = fn(s, txn, &c, arg, &finals);
	if (rc == 0 && finals > 0)
		rc = advance_low(s, txn, STORE_LOW_STEPS + 2 * finals);
	if (rc == 0 && s->txn_moves > 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0) {
		if (rc != RC_SAID)
			set_err(s, "%s: %s", what, rc == ENOMEM ? "out of memory" : mdb_strerror(rc));
		mdb_txn_abort(txn);
		return rc;
	}
	rc = s->txn_moves == 0 ? (mdb_txn_abort(txn), 0) : mdb_txn_commit(txn);
	if (rc != 0)
		return commit_failed(s, what, rc);
	if (s->txn_due < s->sh->next_due_ms)
		__atomic_store_n(&s->sh->next_due_ms, s->txn_due, __ATOMIC_RELAXED);
	return 0;
}

/* Double the map after MDB_MAP_FULL.  Returns 0, or STORE_FULL at the
 * ceiling, or STORE_ERROR. */
int grow_map(store *s)
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
int commit_failed(store *s, const char *what, int rc)
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

/* Write the map ceiling into meta ("map_max") when it changed, so that
 * store_stats() of a reader (smsqctl) can tell whether ingest has room.
 * Best effort: a store that cannot take this write (a full disk) opens
 * all the same, and its stats say the ceiling is unknown. */
static void record_ceiling(store *s, uint64_t outbox_max)
{
	MDB_txn *txn = NULL;
	uint64_t have = 0, had = 0, uid = 0;
	int rc = txn_begin(s, 0, &txn);

	if (rc != 0)
		return;
	rc = get_u64(txn, s->db_meta, "map_max", &have);
	if (rc == 0)
		rc = get_u64(txn, s->db_meta, "outbox_max", &had);
	if (rc == 0 && have != s->map_max_bytes)
		rc = put_u64(txn, s->db_meta, "map_max", s->map_max_bytes);
	if (rc == 0 && had != outbox_max)
		rc = put_u64(txn, s->db_meta, "outbox_max", outbox_max);
	if (rc == 0)
		rc = get_u64(txn, s->db_meta, "uid", &uid);
	if (rc == 0 && uid == 0) {
		/* this store's id, in its outcomes' ids: another store (a new
		 * data directory) numbers its outcomes from 1 again */
		if (getrandom(&uid, sizeof(uid), 0) != (ssize_t)sizeof(uid))
			uid = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		uid |= 1;
		rc = put_u64(txn, s->db_meta, "uid", uid);
		have = ~s->map_max_bytes; /* to commit */
	}
	if (rc == 0 && (have != s->map_max_bytes || had != outbox_max)) {
		(void)mdb_txn_commit(txn); /* best effort, said above */
		return;
	}
	mdb_txn_abort(txn);
}

/* The outbox bound the pool recorded (0: none, or it cannot be read). */
static uint64_t read_outbox_max(store *s)
{
	MDB_txn *txn = NULL;
	uint64_t max = 0;

	if (!s->has_outbox || txn_begin(s, MDB_RDONLY, &txn) != 0)
		return 0;
	if (get_u64(txn, s->db_meta, "outbox_max", &max) != 0)
		max = 0;
	mdb_txn_abort(txn);
	return max;
}

uint64_t store_ingest_limit(uint64_t map_max_bytes)
{
	uint64_t reserve = map_max_bytes / STORE_RESERVE_DIVISOR;

	return map_max_bytes - (reserve > STORE_RESERVE_MAX ? STORE_RESERVE_MAX : reserve);
}

/* The bytes of the file's pages (its high-water mark) and of those on
 * LMDB's free list, as txn sees them.  Returns an LMDB code. */
int pages_bytes(store *s, MDB_txn *txn, uint64_t *hwm, uint64_t *free_bytes)
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
int disk_room(store *s, uint64_t *room)
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
uint64_t disk_reserve_bytes(uint64_t total_bytes)
{
	uint64_t r = total_bytes / STORE_DISK_RESERVE_DIVISOR;

	return r < STORE_DISK_RESERVE_MAX ? r : STORE_DISK_RESERVE_MAX;
}

/* Whether need more bytes fit on the disk with the reserve kept: the
 * blocks in hand (room) cover need and half the reserve, or the filesystem
 * has what a top-up to need and the reserve and a quarter takes.  The one
 * rule of ingest (disk_reserve()) and of store_stats(). */
int disk_takes(uint64_t need, uint64_t room, uint64_t avail, uint64_t reserve)
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
int disk_reserve(store *s, uint64_t need)
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
	if (datadir_disk_full(s->dir, &avail, NULL) < 0)
		avail = 0; /* not told: the message says 0 KiB */
	set_err(s, "disk full: %llu KiB left on the filesystem of %s, and the store keeps %llu KiB "
		"for sending", (unsigned long long)(avail >> 10), s->dir,
		(unsigned long long)(sh->disk_reserve >> 10));
	return RC_DISK_FULL;
}
