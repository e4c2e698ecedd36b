/*
 * ctl_act: smsqctl's commands that act on a running pool.
 *
 *   pause [PROVIDER]   stop sending through PROVIDER (a provider's name, as
 *                      in its [provider.NAME] section), or all sending
 *   resume [PROVIDER]  send again
 *
 * The store keeps the word (store_pause(): it outlives restarts and
 * reboots), the pacing file carries it to the running workers at once
 * (pace_set_paused()): no request leaves through a paused provider from the
 * next one on, its messages go to the next provider in failover order or
 * wait where they are; requests already out finish.  A name that no
 * provider of the pool has used is refused (a typo must not look like a
 * pause), unless it is paused already (it may be resumed).
 *
 * Exit codes: 0 done (or already so), 1 the store or the pacing file cannot
 * be written, 2 usage or an unknown provider.
 */
#ifndef SMSQ_CTL_ACT_H
#define SMSQ_CTL_ACT_H

#include "common/attrs.h"

/* name: a provider's name, or NULL for all sending. */
int ctl_pause(const char *dir, const char *name, int paused) SMSQ_WARN_UNUSED;

#endif
