/*
 * fake_callbacks: the fake provider's delivery reports on the wire.  One
 * thread keeps the reports of the accepted messages that asked for them
 * until they are due (their plans: fake_receipts.h), sends them with
 * libcurl's multi interface over keep-alive connections, several in one
 * request where the API batches them (Infobip, webhook), resends those
 * not answered 2xx, and counts and records every one.  The only fake/
 * module that includes curl/curl.h.
 *
 * A report request answered:
 *   2xx              the reports are done (counted ok, recorded);
 *   429, 5xx, none   (refused connection, timeout after
 *                    FAKE_CALLBACKS_TIMEOUT_MS) sent again 1 s later, then
 *                    2 s, 4 s... as long as the resend falls within
 *                    retry_ms of the first attempt; then given up
 *                    (counted failed, recorded with the last status);
 *   anything else    (4xx, 3xx: redirects are not followed) given up at
 *                    once, counted 4xx, logged (at most one line a second);
 *   a URL libcurl cannot use (not http or https, malformed): given up at
 *                    once, counted failed.
 *
 * Bounds.  At most max_pending reports are held (scheduled, not yet
 * answered or given up): the reports of a message that would go over are
 * not kept, counted dropped (its whole plan, so that the shares stay
 * whole), and logged at most once a second.  At most concurrency requests
 * are in flight (and as many connections per host kept alive); due
 * reports wait their turn in the heap.  Memory per held message: about
 * 350 bytes with its strings and plan, freed when its last report is
 * done.
 *
 * Threads: fake_callbacks_add() and fake_callbacks_stats() may be called
 * from any thread (a short lock, and a wake-up of the sender thread when
 * its inbox was empty); the rest belongs to the sender thread.
 * fake_callbacks_new() initialises libcurl globally: call it from the main
 * thread before any other thread uses libcurl.
 *
 * Shutdown: fake_callbacks_destroy() stops the thread at once; reports
 * still pending are not sent and not recorded (the log says how many).
 */
#ifndef SMSQ_FAKE_CALLBACKS_H
#define SMSQ_FAKE_CALLBACKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"
#include "fake/fake_apis.h"
#include "fake/fake_receipts.h"
#include "fake/fake_record.h"

#define FAKE_CALLBACKS_TIMEOUT_MS 10000        /* one report request, at most */
#define FAKE_CALLBACKS_CONNECT_TIMEOUT_MS 5000 /* its connection, at most */
#define FAKE_CALLBACKS_FIRST_RETRY_MS 1000     /* first resend after this, doubling */
#define FAKE_CALLBACKS_BATCH_MAX 1000          /* reports in one request, at most */
#define FAKE_CALLBACKS_CONCURRENCY_MAX 1024    /* requests in flight, at most */

typedef struct fake_callbacks fake_callbacks;

struct fake_callbacks_opts {
	struct fake_receipts_opts receipts; /* the plans and shapes */
	unsigned batch;              /* Infobip, webhook: reports a request, 1..BATCH_MAX */
	unsigned concurrency;        /* requests in flight, 1..CONCURRENCY_MAX */
	int64_t retry_ms;            /* resend within this of the first attempt (0: never) */
	uint64_t max_pending;        /* reports held at most (>= 1) */
	fake_record *record;         /* the record file (borrowed, outlives this) */
};

/* A snapshot of the counters, in reports (a batch request carries several). */
struct fake_callbacks_stats {
	uint64_t scheduled;          /* planned and held */
	uint64_t dropped;            /* planned but not held: max_pending reached */
	uint64_t pending;            /* held, not yet answered 2xx or given up */
	uint64_t sent;               /* sent at least once */
	uint64_t requests;           /* report requests made (each attempt) */
	uint64_t retried;            /* sent again */
	uint64_t ok;                 /* answered 2xx: done */
	uint64_t rejected;           /* answered 4xx (not 429) or 3xx: given up at once */
	uint64_t errors;             /* answers 429 or 5xx, each attempt */
	uint64_t no_answer;          /* attempts without an answer (connection, timeout) */
	uint64_t failed;             /* given up: retries ran out, or an unusable URL */
};

/* Start the sender thread.  Returns it, or NULL with err set (libcurl or
 * the thread cannot start).  Caller destroys. */
fake_callbacks *fake_callbacks_new(const struct fake_callbacks_opts *opts, char *err,
				   size_t errlen) SMSQ_WARN_UNUSED;

/* Stop the thread (see Shutdown), free everything; *c = NULL.  Accepts
 * NULL and *c == NULL.  Call once no other thread uses it. */
void fake_callbacks_destroy(fake_callbacks **c);

/* Plan and hold the reports of b's accepted messages that asked for them
 * (fake_msg.receipt_url), req being their request; everything needed is
 * copied.  Call once their outcomes are decided (fake_record_admit()). */
void fake_callbacks_add(fake_callbacks *c, const struct fake_request *req,
			const struct fake_batch *b);

/* Copy the counters into *out. */
void fake_callbacks_stats(fake_callbacks *c, struct fake_callbacks_stats *out);

#endif
