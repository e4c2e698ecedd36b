/*
 * secret: reading a secret (a provider's token, a key) from a file, as
 * systemd's credentials (LoadCredential=, $CREDENTIALS_DIRECTORY) and
 * Docker's secrets hand them to a service, with the checks ssh makes of a
 * private key: a file that someone else could read or change is refused.
 */
#ifndef SMSQ_SECRET_H
#define SMSQ_SECRET_H

#include <stddef.h>
#include <sys/types.h>

#include "common/attrs.h"

#define SECRET_MAX 4096 /* longest secret file, bytes */

/*
 * Whether the file open on fd (named path in messages) may hold a secret:
 * a regular file, owned by the effective user or by root, that neither its
 * group nor others may read or write (mode & 077 == 0, as ssh requires of
 * a private key).  Returns 0, or -1 with err naming path and the fault
 * ("group or others may read it: chmod 600 ...").
 */
int secret_check_fd(int fd, const char *path, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Read the file open on fd (named path in messages) into out, at most
 * cap - 1 bytes (a longer file is refused: a secret or a key is small),
 * not NUL-terminated; *len receives the bytes read.  Returns 0, or -1 with
 * err set.
 */
int secret_read_fd(int fd, const char *path, char *out, size_t cap, size_t *len, char *err,
		   size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Read the secret held in path into out (cap bytes, NUL-terminated): the
 * whole file, its trailing newlines (\n, \r\n) removed.  The file passes
 * secret_check_fd() first.  Refused: an empty secret, one that holds a NUL
 * byte, one of cap bytes or more.  Returns the secret's length, or -1 with
 * err set (the secret itself is never in err).
 */
ssize_t secret_read(const char *path, char *out, size_t cap, char *err,
		    size_t errlen) SMSQ_WARN_UNUSED;

/* Overwrite n bytes at p with zeros in a way the compiler keeps (a secret
 * leaving memory). */
void secret_wipe(void *p, size_t n);

#endif
