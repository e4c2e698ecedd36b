/*
 * worker: the body of one worker process of the pool.
 *
 * Opens its own store handle (after fork), connects to the broker, and runs
 * one event loop: zmq_poll on the ingest socket; each wake-up handles what is
 * waiting as one group commit.  SIGTERM/SIGINT: stop taking events, commit
 * and ack what is in hand, exit 0.  Dead readers left in the lock table by
 * killed processes are cleared periodically (LMDB caveat).
 */
#ifndef SMSQ_WORKER_H
#define SMSQ_WORKER_H

#include "worker/config.h"

#define WORKER_READER_CHECK_MS 10000
#define WORKER_DRAIN_QUIET_MS 200   /* drain ends after this long without input */

/* Run worker number index (1-based) with the pool's backend endpoint.
 * Returns the process exit code. */
int worker_run(const struct config *cfg, int index, const char *backend);

#endif
