/*
 * counters: what the pool's processes count and the store does not, shared
 * through a small file mapped by each of them (<dir>/counters), and summed
 * exactly by an observer (the metrics).
 *
 * The store already counts messages per state, attempts, retries and lease
 * expirations in the transactions that change them (store_stats()): those
 * are read there, not here.  This file holds the rest: events by result and
 * reason, provider requests by status class and provider, messages sent and
 * failed per provider, throttled answers, worker restarts, and histograms
 * of ack latency, commit duration and provider answer time.
 *
 * Each process adds to its own shard (a worker to shard `worker index`, the
 * broker and the master to shard 0), with relaxed atomic adds: no lock, no
 * cache line shared by two busy processes, and a process killed at any
 * moment leaves nothing half-done (an add is one instruction).  A reader
 * sums every shard field by field; a counter read while it moves is the
 * value before or after the add.  Providers are numbered by their pacing
 * slot (pace_slot(): the same name always gets the same slot), so a
 * counter keeps its provider across restarts and configuration changes.
 *
 * The file outlives the processes: counters keep counting across a pool's
 * restarts (Prometheus takes a reset as well, but none is needed).  A file
 * of another layout is started afresh.  Its disk blocks are allocated
 * before it is mapped (a first write to a page without one would be a
 * SIGBUS on a full disk).
 */
#ifndef SMSQ_COUNTERS_H
#define SMSQ_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"
#include "store/pace.h"

#define COUNTERS_SHARDS 64      /* process shards (a worker index past it wraps) */
#define COUNTERS_REASONS 32     /* event reasons counted apart (the protocol's Reason) */
#define COUNTERS_BOUNDS 16      /* histogram buckets, and one more for +Inf */

/* Histogram bucket upper bounds, seconds (Prometheus `le`), shared by every
 * histogram: from half a millisecond (an ack, a commit) to a minute (a
 * provider's timeout). */
extern const double counters_bounds_s[COUNTERS_BOUNDS];

/* HTTP answers of a provider, by class. */
enum counters_http {
	COUNTERS_HTTP_2XX = 0,
	COUNTERS_HTTP_3XX = 1,
	COUNTERS_HTTP_4XX = 2,      /* but 429 */
	COUNTERS_HTTP_429 = 3,
	COUNTERS_HTTP_5XX = 4,
	COUNTERS_HTTP_TIMEOUT = 5,  /* no answer in time, or the connection cut after the
				       request left (ambiguous) */
	COUNTERS_HTTP_ERROR = 6,    /* no request left: connect, DNS, TLS */
	COUNTERS_HTTP_COUNT = 7,
};

/* Why a message failed for good. */
enum counters_fail {
	COUNTERS_FAIL_REFUSED = 0,  /* the provider refused the message itself */
	COUNTERS_FAIL_ATTEMPTS = 1, /* retry.max_attempts used up */
	COUNTERS_FAIL_COUNT = 2,
};

/* What became of a delivery report taken by the receipt endpoint. */
enum counters_receipt {
	COUNTERS_RECEIPT_DELIVERED = 0,   /* recorded: the message is delivered */
	COUNTERS_RECEIPT_UNDELIVERED = 1, /* recorded: the message is undelivered */
	COUNTERS_RECEIPT_REPEATED = 2,    /* the same report again */
	COUNTERS_RECEIPT_OLDER = 3,       /* older than the one recorded */
	COUNTERS_RECEIPT_HELD = 4,        /* before its send was recorded: held */
	COUNTERS_RECEIPT_UNKNOWN = 5,     /* no such message (purged, or not ours) */
	COUNTERS_RECEIPT_INTERIM = 6,     /* an interim status: nothing recorded */
	COUNTERS_RECEIPT_FORGED = 7,      /* refused 403: a signature or account not ours */
	COUNTERS_RECEIPT_MALFORMED = 8,   /* refused 400 or 413: unreadable */
	COUNTERS_RECEIPT_COUNT = 9,
};

/* Each result's name ("delivered", ... "malformed"), as the metrics and
 * smsqctl stats write it. */
extern const char *const counters_receipt_names[COUNTERS_RECEIPT_COUNT];

/* A histogram: counts per bucket (not cumulative: the reader adds them
 * up), the sum of the observations in microseconds, and their number. */
struct counters_hist {
	uint64_t bucket[COUNTERS_BOUNDS + 1];
	uint64_t sum_us;
	uint64_t count;
};

/* One provider's counters (by pacing slot). */
struct counters_prov {
	uint64_t requests[COUNTERS_HTTP_COUNT]; /* requests answered, by class */
	uint64_t shared_trips;                  /* round trips to pace.shared's server */
	uint64_t shared_units;                  /* units it granted */
	uint64_t shared_down;                   /* gauge: 1 while this process paces on its
						   share (pace.shared unanswered) */
	uint64_t sent;                          /* messages the provider took */
	uint64_t sent_units;                    /* their pacing units (messages or segments) */
	uint64_t failed[COUNTERS_FAIL_COUNT];   /* messages failed for good, by reason */
	uint64_t retries;                       /* messages to be tried again */
	uint64_t ambiguous;                     /* of which after an ambiguous timeout */
	uint64_t throttled;                     /* messages answered "slow down" (429...) */
	uint64_t unavailable;                   /* messages answered "not now" (503...) */
	uint64_t misconfigured;                 /* messages answered "your configuration" */
	uint64_t receipts[COUNTERS_RECEIPT_COUNT]; /* delivery reports taken, by result */
	struct counters_hist response;          /* request answer times */
};

/* Everything a shard holds; also what counters_read() returns (the sum). */
struct counters_data {
	uint64_t accepted;                      /* events stored */
	uint64_t duplicate;                     /* events whose key was already stored */
	uint64_t rejected[COUNTERS_REASONS];    /* events refused, by Reason */
	uint64_t retry_later[COUNTERS_REASONS]; /* events answered RETRY_LATER, by Reason */
	uint64_t acks_dropped;                  /* acks no broker took */
	uint64_t expired;                       /* messages past their expiry, never sent */
	uint64_t worker_restarts;               /* children restarted by the master */
	uint64_t workers_running;               /* gauge, written by the master */
	uint64_t outcomes_taken;                /* outcomes the backend answered 2xx for */
	uint64_t outcomes_posts;                /* POSTs of outcomes made */
	uint64_t outcomes_posts_failed;         /* of which not answered 2xx in time */
	uint64_t outcomes_refused;              /* outcomes dropped: refused alone, again */
	uint64_t producers_refused;             /* producers whose CURVE key the allow-list
						   lacks (their connections closed) */
	struct counters_hist ack;               /* event read -> its ack sent */
	struct counters_hist commit_ingest;     /* store_ingest() of a batch */
	struct counters_hist commit_outcome;    /* a dispatch commit (outcomes, leases) */
	struct counters_hist commit_receipts;   /* the receipt endpoint's commits */
	uint64_t receipt_callbacks_refused;     /* callbacks answered 404 (no such provider
						   or token) */
	uint64_t receipt_store_errors;          /* callbacks answered 503 (not recorded) */
	uint64_t receipts_unreported;           /* gauge (shard 0), the receipt endpoint's:
						   messages sent receipts_expect_s ago or
						   more and no report yet (its last count) */
	uint64_t receipts_expect_s;             /* gauge: that time (receipts.expect_s) */
	uint64_t receipts_counted;              /* gauge: 1 once a count was made */
	uint64_t velocity_sends_refused[2];     /* messages failed unsent at dispatch: their
						   number had velocity.number_per_hour [0] or
						   _per_day [1] sends */
	uint64_t held[COUNTERS_REASONS];        /* events stored held over a limit (also
						   in accepted), by Reason */
	struct counters_prov prov[PACE_MAX_SLOTS];
};

typedef struct counters counters;

/* Map <dir>/counters for adding to shard (its blocks allocated first;
 * created if missing, never through a link).  Returns NULL with err set (on
 * a full disk: "disk full: ..."). */
counters *counters_open(const char *dir, int shard, char *err, size_t errlen) SMSQ_WARN_UNUSED;
void counters_close(counters **c);

/* The shard this handle adds to (a process forked from the one that opened
 * it changes it: the pool's master opens the file, its children inherit
 * the mapping). */
void counters_set_shard(counters *c, int shard);

/* This handle's shard, to add to with counters_add(); NULL when c is NULL
 * (every counting call accepts a NULL shard: a process without the file
 * counts nothing). */
struct counters_data *counters_mine(counters *c);

/* Shard 0, where gauges live (the master's own shard): a gauge is written
 * by one process only, whichever shard that process adds to, so that a
 * reader's sum is that process's value.  NULL when c is NULL. */
struct counters_data *counters_gauges(counters *c);

/* Add n to one counter of a shard (a field of *counters_mine()).  NULL-safe. */
static inline void counters_add(uint64_t *field, uint64_t n)
{
	if (field != NULL)
		__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

static inline void counters_set(uint64_t *field, uint64_t v)
{
	if (field != NULL)
		__atomic_store_n(field, v, __ATOMIC_RELAXED);
}

/* Record one observation of ns nanoseconds in h.  NULL-safe. */
void counters_observe(struct counters_hist *h, int64_t ns);

/* Sum every shard of <dir>/counters into out, without creating or changing
 * anything.  Returns 1 when read, 0 when there is no file (yet), -1 on
 * error (errno set). */
int counters_read(const char *dir, struct counters_data *out) SMSQ_WARN_UNUSED;

#endif
