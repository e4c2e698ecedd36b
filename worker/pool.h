/*
 * pool: smsq-worker's master process.
 *
 * The master opens nothing shared (no ZeroMQ context, no LMDB environment:
 * both must be created after fork()).  It takes the data directory's lock
 * (one pool per store), checks that the store opens, then forks:
 *   - the broker (broker.h): the one ingest endpoint, spreading requests,
 *     when more than one worker takes events (ingest.workers); else the
 *     ingesting worker binds the endpoint itself;
 *   - N workers (worker.h): each sends (dispatch.h); the first
 *     ingest.workers also take events (ingest.h).
 * It restarts any child that dies (after pool.restart_delay_ms), and stops
 * the pool in order on SIGTERM or SIGINT:
 *   1. the broker stops reading new requests (SIGUSR1), workers get SIGTERM
 *      (a worker that bound the endpoint stops reading it);
 *   2. each worker commits and acks what it holds, then exits 0;
 *   3. the broker, if there is one, forwards the last acks and exits
 *      (SIGTERM);
 *   4. the master exits 0.
 * A second SIGTERM/SIGINT, or pool.shutdown_timeout_ms passing, kills what
 * is left (SIGKILL) and the master exits 1.  Children get SIGTERM if the
 * master dies (PR_SET_PDEATHSIG).
 *
 * SIGHUP reloads: the master reads the configuration again from the same
 * files and flags, checks it as a start would (templates and providers
 * included), and only then makes it the one in force and restarts the
 * workers with it, one at a time, each stopped gracefully as above.  A
 * configuration that fails the checks is logged and changes nothing; an
 * option only a start applies (config_restart_only()) keeps its value
 * until the pool restarts.  pool.c says how and why.
 */
#ifndef SMSQ_POOL_H
#define SMSQ_POOL_H

#include "worker/config.h"
#include "common/attrs.h"

/* Run the pool with cfg, built from src (config_build()), until it is
 * stopped; src is read again on each SIGHUP.  Both borrowed.  Returns the
 * process exit code. */
int pool_run(const struct config *cfg, const struct config_source *src) SMSQ_WARN_UNUSED;

#endif
