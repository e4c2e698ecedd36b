/*
 * privilege: the user the pool runs as (see privilege.h).
 *
 * DESIGN
 *
 * The order is Postfix's and OpenSSH's: supplementary groups, then the
 * group, then the user (once the uid is no longer 0, the groups can no
 * longer be changed), and then a check that root cannot be regained
 * (setuid(0) must fail).  A process whose credentials changed is made
 * non-dumpable by the kernel; the pool makes itself dumpable again so that
 * a crash still leaves a core for its operator: nothing in its memory is
 * more than its user may read in its own files.
 */
#include "worker/privilege.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make dir for the user when it is missing. */
static int make_dir_for(const char *dir, const struct passwd *pw, char *err, size_t errlen)
{
	struct stat sb;

	if (lstat(dir, &sb) == 0 || errno != ENOENT)
		return 0; /* there (or unreadable): datadir_prepare() judges it */
	if (mkdir(dir, 0700) != 0) {
		snprintf(err, errlen, "cannot create data directory %s for %s: %s", dir,
			 pw->pw_name, strerror(errno));
		return -1;
	}
	if (chown(dir, pw->pw_uid, pw->pw_gid) != 0 || chmod(dir, 0700) != 0) {
		snprintf(err, errlen, "data directory %s: cannot give it to %s: %s", dir,
			 pw->pw_name, strerror(errno));
		return -1;
	}
	return 0;
}

int privilege_drop(const char *user, const char *dir, char *err, size_t errlen)
{
	struct passwd *pw;
	uid_t euid = geteuid();

	if (euid == 0 && user[0] == '\0') {
		snprintf(err, errlen, "started as root without pool.user: set pool.user to the "
			 "unprivileged user the pool runs as (the package's: smsq), or pool.user = "
			 "root to run as root on purpose");
		return -1;
	}
	if (user[0] == '\0' || (euid == 0 && strcmp(user, PRIVILEGE_ROOT) == 0))
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errlen, "pool.user: no user named \"%s\"%s%s", user,
			 errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return -1;
	}
	if (euid != 0) {
		if (pw->pw_uid == euid)
			return 0;
		snprintf(err, errlen, "pool.user is %s (uid %ld), but the pool was started as uid "
			 "%ld: only root can switch users", user, (long)pw->pw_uid, (long)euid);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "pool.user %s has uid 0: say pool.user = root to run as root",
			 user);
		return -1;
	}
	if (make_dir_for(dir, pw, err, errlen) != 0)
		return -1;
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot become %s (uid %ld, gid %ld): %s", user,
			 (long)pw->pw_uid, (long)pw->pw_gid, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() != pw->pw_uid || getegid() != pw->pw_gid) {
		snprintf(err, errlen, "became %s, but root could be taken back: refusing to run",
			 user);
		return -1;
	}
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	return 1;
}
