/*
 * dispatch: a worker's sending side.  Leases due messages from the store,
 * batches them per provider, paces them to the provider's limit (pool-wide,
 * pace.h), sends them over libcurl (http.h), and records one outcome per
 * message (store_finish), in group commits.
 *
 * Outcomes (provider.h says how an answer maps to one):
 *   sent       -> state sent, the provider's id kept
 *   failed     -> state failed, the provider's reason kept, never retried
 *   retry      -> delayed until now + backoff (exponential, full jitter,
 *                 retry.base_ms .. retry.cap_ms); an ambiguous one (timeout
 *                 after the request left) is counted apart and resent with
 *                 the same reference ("smsq-<id>")
 *   throttled  -> delayed until Retry-After, and the whole provider is held
 *                 back until then (pace_block), in every process
 *   misconfigured -> back to ready untouched (no attempt counted), and the
 *                 provider parked: only probes go to it (pace.h)
 *   split      -> back to ready untouched (no attempt counted), to go in a
 *                 request of its own when this worker leases it again
 *   expired    -> a message past its expiry is never sent
 * Retries stop at the expiry and at retry.max_attempts.
 *
 * Failover: providers are tried in config order.  A provider whose circuit
 * is open (it is down, or misconfigured: pace.h) is skipped, so traffic goes
 * to the next one; after the open period single-message probes go to it, and
 * a good answer brings the traffic back.
 *
 * The window for a duplicate SMS (docs/DESIGN.md, invariant 2): a worker that
 * dies after a provider accepted a request and before the outcome commit
 * (at most dispatch.flush_ms later) leaves those messages leased; when the
 * lease runs out they are sent again.  At most the requests that worker had
 * in flight are concerned.
 */
#ifndef SMSQ_DISPATCH_H
#define SMSQ_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "store/counters.h"
#include "store/store.h"
#include "store/velocity.h"
#include "worker/config.h"
#include "provider/http.h"
#include "common/attrs.h"

#define DISPATCH_MAX_SLEEP_MS 100     /* longest the loop sleeps with work about */
#define DISPATCH_IDLE_POLL_MS 50      /* look for new messages this often when idle
					 (sooner when a delayed one is due) */
#define DISPATCH_IDLE_MIN_MS 5        /* but not sooner than this */
#define DISPATCH_FLUSH_MAX 4096       /* outcomes committed in one transaction at most */
#define DISPATCH_LEASE_TEXTS (256 * 1024) /* bytes of texts one lease copies at most */
#define DISPATCH_QUEUE_HOLD_MS 500    /* a queue holds at most this long at the primary's rate */

typedef struct dispatch dispatch;

/* Counters since start. */
struct dispatch_counts {
	uint64_t requests;   /* HTTP requests started */
	uint64_t sent;       /* messages sent */
	uint64_t failed;     /* failed for good */
	uint64_t retried;    /* retry outcomes */
	uint64_t throttled;  /* of which throttled */
	uint64_t expired;    /* expired */
	uint64_t lost;       /* dropped from the queue unsent: their leases ran out */
	uint64_t withheld;   /* held back by the gate as their request was leaving */
	uint64_t parked;     /* given back untouched: the provider is misconfigured */
	uint64_t split;      /* given back untouched, to go alone: their request was
				refused as a whole (PROVIDER_SPLIT) */
	uint64_t not_built;  /* requests the adapter could not build or libcurl not
				start (their messages failed or given back) */
	uint64_t velocity;   /* failed unsent: their number had had
				velocity.number_per_hour or _per_day sends */
};

/*
 * Set up dispatch for the providers in cfg (cfg->n_providers may be 0: then
 * dispatch does nothing and messages wait).  st is borrowed.  The pacing
 * state lives in cfg->store_dir.  Returns NULL with err set on failure.
 */
dispatch *dispatch_new(const struct config *cfg, store *st, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/*
 * Check that dispatch_new() would set up cfg's providers, without a store
 * and changing nothing: each provider's adapter, limits, batches and HTTP
 * options, and a pacing slot for each (in cfg->store_dir's pacing file,
 * read only).  For a master that validates a configuration before its
 * workers start with it; no HTTP client is made (libcurl is set up in the
 * processes that send, after the fork).  Returns 0, or -1 with err set.
 */
int dispatch_check(const struct config *cfg, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Free everything; requests still in flight are abandoned (their leases run
 * out and the messages come back).  NULL-safe. */
void dispatch_destroy(dispatch **d);

/*
 * Do what is due now: collect finished requests, record their outcomes,
 * lease and send more (unless stopping).  Returns how long the caller may
 * sleep before calling again (ms, 0..DISPATCH_MAX_SLEEP_MS), or -1 when the
 * store failed (the worker should exit; the pool restarts it).
 */
long dispatch_step(dispatch *d, int stopping);

/* Sockets to poll and readiness, forwarded to http.h. */
size_t dispatch_fds(dispatch *d, struct http_fd *out, size_t max);
void dispatch_on_fd(dispatch *d, int fd, int readable, int writable);


/* Nothing in flight, queued or waiting to be committed. */
int dispatch_idle(const dispatch *d);

void dispatch_get_counts(const dispatch *d, struct dispatch_counts *out);

/* Count into ctr (this process's shard of the pool's shared counters,
 * store/counters.h; NULL: count nothing there) from now on. */
void dispatch_set_counters(dispatch *d, struct counters_data *ctr);

/*
 * Check each message leased for its first attempt against its number's sends
 * (velocity_send(): velocity.number_per_hour and _per_day, counted on what
 * was sent, pool-wide) from now on; v is borrowed (NULL: no check).  A
 * message whose number already had that many sends is not sent: it fails,
 * note "velocity: ...", counted apart (counters velocity_sends_refused).
 */
void dispatch_set_velocity(dispatch *d, velocity *v);

/*
 * How many messages a worker's queue holds: dispatch.queue_max, but never
 * more than the primary provider sends in DISPATCH_QUEUE_HOLD_MS or in a
 * quarter of a lease (units_per_s its limit), and never fewer than one of
 * its requests (max_batch).  A message that becomes due, or is booked for
 * an appointment soon, is leased by the next refill (when half the queue is
 * free) and goes to the front of the queue; a deep queue at a slow limit
 * would make it wait seconds behind messages already leased.
 */
size_t dispatch_queue_cap(long queue_max, double units_per_s, long lease_ms, size_t max_batch);

#endif
