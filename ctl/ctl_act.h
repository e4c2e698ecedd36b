/*
 * ctl_act: smsqctl's commands that act on a running pool.
 *
 *   pause [PROVIDER]   stop sending through PROVIDER (a provider's name, as
 *                      in its [provider.NAME] section), or all sending
 *   resume [PROVIDER]  send again
 *   requeue ID... | --key KEY | --state failed|expired [filters] [--force]
 *                      failed or expired messages back in the queue
 *   cancel ID... | --key KEY | --booking ID
 *                      withdraw waiting messages for good
 *
 * The store keeps the word (store_pause(): it outlives restarts and
 * reboots), the pacing file carries it to the running workers at once
 * (pace_set_paused()): no request leaves through a paused provider from the
 * next one on, its messages go to the next provider in failover order or
 * wait where they are; requests already out finish.  A name that no
 * provider of the pool has used is refused (a typo must not look like a
 * pause), unless it is paused already (it may be resumed).
 *
 * requeue: by id, by key, or every message a filter finds (store_list()'s,
 * its state failed or expired), STORE_REQUEUE_MAX a transaction, so that
 * the pool's writers never wait long; what store_requeue() did is counted
 * and said.  A message past its appointment or expiry is requeued only with
 * --force.
 *
 * cancel: by id, by key, or every message of a booking (store_booking());
 * a waiting message becomes cancelled and is never sent, one in flight is
 * not recalled (said), a final one is left as it is.
 *
 * Exit codes: 0 done (or already so), 1 the store or the pacing file cannot
 * be written, 2 usage or an unknown provider, 3 (requeue, cancel) no such
 * message.
 */
#ifndef SMSQ_CTL_ACT_H
#define SMSQ_CTL_ACT_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"
#include "store/store.h"

/* name: a provider's name, or NULL for all sending. */
int ctl_pause(const char *dir, const char *name, int paused) SMSQ_WARN_UNUSED;

/* Requeue ids[0..n) (key: one message by its idempotency key instead; q:
 * every message it finds instead, q->state failed, expired or held). */
int ctl_requeue(const char *dir, const uint64_t *ids, size_t n, const char *key,
		const struct store_query *q, int force) SMSQ_WARN_UNUSED;

/* Cancel ids[0..n) (key: one message by its idempotency key instead;
 * booking: every message of that booking instead; q: every message it
 * finds instead). */
int ctl_cancel(const char *dir, const uint64_t *ids, size_t n, const char *key,
	       const char *booking, const struct store_query *q) SMSQ_WARN_UNUSED;

#endif
