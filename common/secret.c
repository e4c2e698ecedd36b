/*
 * secret: secrets read from files (see secret.h).
 *
 * DESIGN
 *
 * The file is opened first and checked through its descriptor (fstat), so
 * that what is checked is what is read: a path swapped for another file
 * between a stat() and an open() cannot slip through.  Links are followed
 * (systemd's credentials and /etc/alternatives-style setups use them): the
 * checks apply to the file at the end.  A secret is read whole in one
 * buffer of the caller's and never copied elsewhere; secret_wipe() clears
 * what a caller no longer needs.
 */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int secret_check_fd(int fd, const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (sb.st_uid != geteuid() && sb.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %ld, neither this user (uid %ld) nor root",
			 path, (long)sb.st_uid, (long)geteuid());
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o lets %s it: chmod 600 %s", path,
			 (unsigned)(sb.st_mode & 07777),
			 (sb.st_mode & 044) != 0 ? "group or others read" : "group or others change",
			 path);
		return -1;
	}
	return 0;
}

int secret_read_fd(int fd, const char *path, char *out, size_t cap, size_t *len, char *err,
		   size_t errlen)
{
	*len = 0;
	for (;;) {
		ssize_t n = read(fd, out + *len, cap - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		*len += (size_t)n;
		if (*len == cap) {
			snprintf(err, errlen, "%s: longer than %zu bytes", path, cap - 1);
			return -1;
		}
	}
}

ssize_t secret_read(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	int fd;
	size_t len = 0;
	ssize_t ret = -1;

	if (cap == 0) {
		snprintf(err, errlen, "%s: no room for the secret", path);
		return -1;
	}
	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (secret_check_fd(fd, path, err, errlen) != 0)
		goto out;
	if (secret_read_fd(fd, path, out, cap, &len, err, errlen) != 0)
		goto out;
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	if (len == 0) {
		snprintf(err, errlen, "%s: empty", path);
		goto out;
	}
	if (memchr(out, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		goto out;
	}
	out[len] = '\0';
	ret = (ssize_t)len;
out:
	if (ret < 0)
		secret_wipe(out, len < cap ? len + 1 : cap);
	close(fd);
	return ret;
}

void secret_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}
