/*
 * datadir: the data directory and the files smsq keeps in it.
 *
 * Contract
 * - The data directory holds the store (data.mdb, lock.mdb), the shared
 *   pacing file, the counters file, the pool's lock and the workers' ingest
 *   sockets.  A process that
 *   writes there (the pool) first calls datadir_prepare(): the directory
 *   is created 0700 whatever the umask, and refused when it is not owned
 *   by the effective user or is writable by its group or by others (who
 *   could plant a link there and have the pool write through it).
 * - Every file in it is opened with datadir_open(): links are never
 *   followed, and anything but a regular file is refused.  Files that
 *   LMDB opens itself are checked the same way first (datadir_check_file).
 * - A file that is mapped shared and written through the mapping must have
 *   its disk blocks before the first write: a write to a page without one
 *   on a full filesystem kills the process with SIGBUS.
 *   datadir_allocate() allocates them, or fails with a message that says
 *   the disk is full.
 * - Every call returns 0 or -1 with a human message in err (errlen bytes,
 *   always NUL-terminated) that names the path SMSQ_WARN_UNUSED; errno is set.
 */
#ifndef SMSQ_DATADIR_H
#define SMSQ_DATADIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

/* The regular files smsq keeps in a data directory. */
#define DATADIR_DATA "data.mdb"       /* LMDB's data file (store) */
#define DATADIR_LOCK "lock.mdb"       /* LMDB's lock file, mapped shared (store) */
#define DATADIR_PACING "pacing"       /* the shared pacing state, mapped shared (pace) */
#define DATADIR_POOL_LOCK "pool.lock" /* one pool per directory (pool) */
#define DATADIR_COUNTERS "counters"   /* the processes' counters, mapped shared (counters) */
#define DATADIR_VELOCITY "velocity"   /* messages per number, range, country, saved (velocity) */
#define DATADIR_VELOCITY_NEW "velocity.new" /* the save being written (velocity) */
#define DATADIR_MONITOR_URL "monitor.url" /* where the monitor listens, while it does */

/*
 * Create dir when create is set (parents 0750, dir itself 0700), then
 * check it: a directory, owned by the effective user, not writable by
 * group or others, and none of smsq's file names in it a link or anything
 * but a regular file.  Returns 0 or -1 (err).
 */
int datadir_prepare(const char *dir, int create, char *err, size_t errlen);

/*
 * open(dir/name, flags | O_NOFOLLOW | O_CLOEXEC, mode): a link fails, and
 * an existing file that is not a regular file is refused.  Returns the fd
 * or -1 (err).
 */
int datadir_open(const char *dir, const char *name, int flags, unsigned mode, char *err,
		 size_t errlen);

/*
 * Refuse dir/name when it exists and is a link or not a regular file (for
 * files another library opens by path).  Returns 0 (also when it does not
 * exist) or -1 (err).
 */
int datadir_check_file(const char *dir, const char *name, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/*
 * Make sure bytes [0, len) of fd's file have their disk blocks, extending
 * the file to len when it is shorter (keep_size: never change the size,
 * only allocate; a later extension up to len then needs no new block).
 * path names the file in messages.  Returns 0 or -1 (err; "disk full"
 * when the filesystem has no room).
 */
int datadir_allocate(int fd, const char *path, uint64_t len, int keep_size, char *err,
		     size_t errlen);

/*
 * Map dir/name shared for reading and writing, len bytes: created when
 * missing (0640, never through a link), its disk blocks allocated first (a
 * first write to a page without one is a SIGBUS on a full disk), and
 * init(map, arg) run under an exclusive flock on the file, so that one
 * process at a time checks or writes its header.  Returns the mapping
 * (munmap(map, len) ends it), or NULL with err ("disk full: ..." when the
 * filesystem has no room).
 */
void *datadir_map(const char *dir, const char *name, size_t len, void (*init)(void *map, void *arg),
		  void *arg, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Map dir/name read-only, len bytes, without creating or changing it, for
 * an observer.  Returns 1 with *map set (munmap(*map, len) ends it), 0 when
 * the file does not exist or is shorter than len (being created: a page
 * past its end would fault), -1 on error (errno set).
 */
int datadir_map_read(const char *dir, const char *name, size_t len, void **map) SMSQ_WARN_UNUSED;

/*
 * Whether the filesystem of path is full for our purposes: less room left
 * to this user than DATADIR_FULL_BYTES or 1 % of its size, whichever is
 * smaller (a commit of a few MiB no longer fits).  Sets
 * *avail_bytes and *total_bytes (either may be NULL).  Returns 1 full,
 * 0 not full, -1 when statvfs() fails.
 */
int datadir_disk_full(const char *path, uint64_t *avail_bytes, uint64_t *total_bytes)
	SMSQ_WARN_UNUSED;

#define DATADIR_FULL_BYTES (64ULL << 20) /* under this much room, a disk is full */

#endif
