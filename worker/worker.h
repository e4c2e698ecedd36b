/*
 * worker: the body of one worker process of the pool.
 *
 * Opens its own store handle (after fork), connects to the broker (or binds
 * the ingest endpoint itself when it is the pool's only ingesting worker),
 * and runs one event loop: zmq_poll on the ingest socket; each wake-up
 * handles what is waiting as one group commit.  Ingest that cannot start
 * (the endpoint's port taken) is tried again every WORKER_INGEST_RETRY_MS
 * while the worker sends.  SIGTERM/SIGINT: stop taking events, commit and
 * ack what is in hand, exit 0.  Dead readers left in the lock table by
 * killed processes are cleared periodically (LMDB caveat).
 */
#ifndef SMSQ_WORKER_H
#define SMSQ_WORKER_H

#include "store/counters.h"
#include "store/velocity.h"
#include "worker/config.h"
#include "common/attrs.h"

#define WORKER_READER_CHECK_MS 10000
#define WORKER_DRAIN_QUIET_MS 200   /* drain ends after this long without input */
#define WORKER_INGEST_RETRY_MS 1000 /* ingest that could not start is tried again */
#define WORKER_PURGE_EVERY_MS 50    /* the last worker purges what the retention allows */
#define WORKER_PURGE_BUDGET_MS 20   /* for at most this long at a time */

/* Run worker number index (1-based).  Its ingest (if it takes events)
 * binds endpoint: a ROUTER for producers when router is set (the pool's
 * only ingesting worker, no broker), else a DEALER the broker connects to.
 * With purges set (the pool's last worker: with several, one that takes
 * no events by default) it also purges what the retention allows.
 * Ingest and dispatch count into ctr (its shard of the pool's shared
 * counters; may be NULL).  The velocity limits count in vt (the pool's
 * table, inherited from the master).  Returns the process exit code. */
int worker_run(const struct config *cfg, int index, const char *endpoint, int router, int purges,
	       struct counters_data *ctr, velocity_table *vt)
	SMSQ_WARN_UNUSED;

#endif
