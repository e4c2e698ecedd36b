/*
 * privilege: the user the pool runs as.
 *
 * Started as root, the pool reads what only root may (the configuration's
 * secret files: config_build()), then becomes pool.user for good, before
 * it touches the data directory or opens any socket: every process of the
 * pool, and every file it creates, is that user's.  Run as root on
 * purpose only when pool.user says "root"; with no pool.user, a pool
 * started as root refuses to run.  Started as another user, the pool stays
 * that user (and pool.user, if set, must name it).
 */
#ifndef SMSQ_PRIVILEGE_H
#define SMSQ_PRIVILEGE_H

#include <stddef.h>

#include "common/attrs.h"

#define PRIVILEGE_ROOT "root" /* pool.user that keeps root, on purpose */

/*
 * Become user (a name from the password database, or PRIVILEGE_ROOT, or ""
 * for none): as root, its uid, its primary group and its supplementary
 * groups (initgroups()), checked afterwards (root cannot be taken back).
 * Before that, the data directory dir is made for the user when it does not
 * exist (mode 0700, the user's; its parent must exist): as the package's
 * systemd unit does with StateDirectory=.  An existing one is left as it
 * is: datadir_prepare() refuses it if it is not the user's.
 * Returns 1 (the user is now user), 0 (nothing to change: already that
 * user, or root on purpose), or -1 with err saying what is wrong (root
 * without pool.user, an unknown user, a user that is not the one running,
 * a failed change).
 */
int privilege_drop(const char *user, const char *dir, char *err, size_t errlen) SMSQ_WARN_UNUSED;

#endif
