/*
 * datadir: the data directory and the files in it (see datadir.h).
 *
 * DESIGN
 *
 * The pool may run as root, and its data directory is where it creates
 * and writes files by name.  Whoever can write to that directory can put a
 * link there under one of those names and have the pool write through it
 * (over any file the pool's user may write: as root, any file), so the
 * directory must be writable by its owner alone, that owner must be
 * the user the pool runs as, and every open refuses to follow a link
 * (O_NOFOLLOW) or to use anything but a regular file.  LMDB opens its two
 * files by path itself: they are checked (lstat) just before, and the
 * directory's permissions keep anyone else from swapping them afterwards.
 *
 * Mapped files: a page of a sparse file gets its disk block when it is
 * first written through the mapping, and on a full filesystem that write
 * is a SIGBUS, not an error code.  So the files smsq maps for writing (the
 * pacing file, the counters file, LMDB's lock file) get their blocks with
 * fallocate() first, where a full disk is an ENOSPC the caller can report
 * (datadir_map() for smsq's own).
 */
#define _GNU_SOURCE /* fallocate(), FALLOC_FL_KEEP_SIZE */
#include "store/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DATADIR_PATH_MAX 4200

/* The regular files smsq keeps in the directory. */
static const char *const datadir_files[] = {
	DATADIR_DATA, DATADIR_LOCK, DATADIR_PACING, DATADIR_POOL_LOCK, DATADIR_COUNTERS,
	DATADIR_MONITOR_URL, DATADIR_VELOCITY, DATADIR_VELOCITY_NEW,
};

/* mkdir -p: parents 0750, the last component 0700 (neither has a group or
 * other write bit, so no umask can make them writable by others). */
static int make_dirs(const char *dir)
{
	char path[DATADIR_PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, dir, n + 1);
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	for (size_t i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, i == n ? 0700 : 0750) != 0 && errno != EEXIST)
			return -1;
		path[i] = i == n ? '\0' : '/';
	}
	return 0;
}

int datadir_check_file(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISLNK(sb.st_mode)) {
		snprintf(err, errlen,
			 "%s is a symbolic link: smsq never writes through a link in its data "
			 "directory (remove it)", path);
		errno = ELOOP;
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file (remove it)", path);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int datadir_prepare(const char *dir, int create, char *err, size_t errlen)
{
	struct stat sb;

	if (create && make_dirs(dir) != 0) {
		snprintf(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) != 0) {
		snprintf(err, errlen, "data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "data directory %s is not a directory", dir);
		errno = ENOTDIR;
		return -1;
	}
	if (sb.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "data directory %s is owned by uid %ld, not by uid %ld that smsq runs as "
			 "(chown it, or run smsq as its owner)",
			 dir, (long)sb.st_uid, (long)geteuid());
		errno = EPERM;
		return -1;
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen,
			 "data directory %s is writable by %s (mode %04o): anyone who can write "
			 "there could make smsq write elsewhere (chmod go-w %s)",
			 dir, (sb.st_mode & S_IWOTH) ? "others" : "its group",
			 (unsigned)(sb.st_mode & 07777), dir);
		errno = EPERM;
		return -1;
	}
	for (size_t i = 0; i < sizeof(datadir_files) / sizeof(datadir_files[0]); i++)
		if (datadir_check_file(dir, datadir_files[i], err, errlen) != 0)
			return -1;
	return 0;
}

int datadir_open(const char *dir, const char *name, int flags, unsigned mode, char *err,
		 size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	struct stat sb;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		int e = errno;

		if (e == ELOOP)
			snprintf(err, errlen,
				 "%s is a symbolic link: smsq never writes through a link in its "
				 "data directory (remove it)", path);
		else
			snprintf(err, errlen, "open %s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file (remove it)", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int datadir_disk_full(const char *path, uint64_t *avail_bytes, uint64_t *total_bytes)
{
	struct statvfs vs;
	uint64_t avail, total, low;

	if (statvfs(path, &vs) != 0)
		return -1;
	/* Root may use the blocks a filesystem reserves for it. */
	avail = (uint64_t)(geteuid() == 0 ? vs.f_bfree : vs.f_bavail) * vs.f_frsize;
	total = (uint64_t)vs.f_blocks * vs.f_frsize;
	if (avail_bytes != NULL)
		*avail_bytes = avail;
	if (total_bytes != NULL)
		*total_bytes = total;
	low = total / 100 < DATADIR_FULL_BYTES ? total / 100 : DATADIR_FULL_BYTES;
	return avail < low;
}

int datadir_allocate(int fd, const char *path, uint64_t len, int keep_size, char *err,
		     size_t errlen)
{
	struct stat sb;
	int rc;

	if (len == 0)
		return 0;
	rc = keep_size ? (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)len) == 0 ? 0 : errno)
		       : posix_fallocate(fd, 0, (off_t)len);
	if (rc == EOPNOTSUPP && keep_size && fstat(fd, &sb) == 0) {
		/* No fallocate() here (the glibc call writes zeros where it
		 * must): allocate what the file holds now, or, for a file still
		 * empty, the whole length, size and all (what a later extension
		 * adds would stay sparse). */
		rc = posix_fallocate(fd, 0, sb.st_size > 0 ? sb.st_size : (off_t)len);
	}
	if (rc == 0)
		return 0;
	if (rc == ENOSPC || rc == EDQUOT) {
		uint64_t avail = 0;

		if (datadir_disk_full(path, &avail, NULL) < 0)
			avail = 0; /* not told: the message says 0 KiB */
		snprintf(err, errlen,
			 "disk full: cannot allocate %llu bytes for %s (%llu KiB left on its "
			 "filesystem): free some space",
			 (unsigned long long)len, path, (unsigned long long)(avail >> 10));
	} else {
		snprintf(err, errlen, "allocate %llu bytes for %s: %s", (unsigned long long)len,
			 path, strerror(rc));
	}
	errno = rc;
	return -1;
}

void *datadir_map(const char *dir, const char *name, size_t len, void (*init)(void *map, void *arg),
		  void *arg, char *err, size_t errlen)
{
	char path[DATADIR_PATH_MAX];
	void *map = MAP_FAILED;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = datadir_open(dir, name, O_RDWR | O_CREAT, 0600, err, errlen);
	if (fd < 0)
		return NULL;
	if (flock(fd, LOCK_EX) != 0) {
		snprintf(err, errlen, "lock %s: %s", path, strerror(errno));
		goto out;
	}
	if (datadir_allocate(fd, path, len, 0, err, errlen) != 0)
		goto out;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "mmap %s: %s", path, strerror(errno));
		goto out;
	}
	init(map, arg);
out:
	/* Unlocked explicitly: the mapping holds the open file, and with it
	 * the lock, after close(). */
	(void)flock(fd, LOCK_UN); /* cannot fail on a descriptor this call locked */
	close(fd);
	return map == MAP_FAILED ? NULL : map;
}

int datadir_map_read(const char *dir, const char *name, size_t len, void **map)
{
	char why[512];
	struct stat sb;
	int fd = datadir_open(dir, name, O_RDONLY, 0, why, sizeof(why));

	*map = NULL;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < len) {
		close(fd);
		return 0;
	}
	*map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (*map == MAP_FAILED) {
		*map = NULL;
		return -1;
	}
	return 1;
}
