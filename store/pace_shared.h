/*
 * pace_shared: one provider account's rate, shared by the pools of several
 * nodes through a Redis server (pace.shared).
 *
 * Each provider's account has a GCRA state in Redis (its theoretical
 * arrival time, in the server's clock) and a hold (until when nobody may
 * send: a Retry-After, an open circuit).  A process takes units from it a
 * batch at a time (pace_shared_take(): one round trip, one atomic script)
 * and spends them as it sends; so the account's limit and burst hold across
 * every node, with one round trip per batch, not per message.  The keys are
 * named after the provider's section name ("smsq:{NAME}:tat",
 * "smsq:{NAME}:hold"): the nodes that send through one account give it the
 * same name.  The braces keep both keys of an account on one Redis Cluster
 * slot.
 *
 * The server's clock (TIME inside the script) is the only one that counts:
 * the nodes' clocks need not agree.
 *
 * A call that gets no answer within the timeout (no server, a stalled one,
 * a broken connection) returns PACE_SHARED_DOWN and closes the connection;
 * the next call tries again once PACE_SHARED_RETRY_MS has passed (before
 * that it returns PACE_SHARED_DOWN at once, without waiting).  The caller
 * then paces on its own share of the limit (the dispatch does: see
 * DESIGN.md, "Several nodes").  Only this module includes hiredis.
 */
#ifndef SMSQ_PACE_SHARED_H
#define SMSQ_PACE_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

#define PACE_SHARED_DOWN (-1)        /* no answer from the server */
#define PACE_SHARED_RETRY_MS 1000    /* a down server is tried again after this */
#define PACE_SHARED_NAME_MAX 64      /* longest provider name in a key */

typedef struct pace_shared pace_shared;

/*
 * A handle on the Redis server at addr: "redis://HOST:PORT" (PORT default
 * 6379) or "unix:/PATH".  password: the server's (AUTH), or NULL / "".
 * Nothing is connected yet (the first call does).  Returns NULL with err
 * set for an address it cannot read.  One handle per thread.
 */
pace_shared *pace_shared_new(const char *addr, const char *password, int timeout_ms,
			     char *err, size_t errlen) SMSQ_WARN_UNUSED;
void pace_shared_destroy(pace_shared **ps);

/* Whether addr is an address pace_shared_new() reads (0), else -1 with err
 * set (for the configuration's checks). */
int pace_shared_check_addr(const char *addr, char *err, size_t errlen);

/*
 * Take from account name at units_per_s with burst (units of tolerance, a
 * fraction allowed) at least least units and at most most, all at once:
 * as many as fit now (*wait_ns 0); or, when fewer than least fit now but
 * least will within ahead_ns, least reserved for then (*wait_ns: how long
 * until they may be spent); or none (*wait_ns: how long until least would
 * fit, or the account's hold ends).  Returns how many were granted
 * (least..most, or 0).  PACE_SHARED_DOWN: the server did not answer
 * (nothing taken; the reason in pace_shared_error()).
 */
int64_t pace_shared_take(pace_shared *ps, const char *name, double units_per_s, double burst,
			 uint32_t least, uint32_t most, int64_t ahead_ns, int64_t *wait_ns);

/*
 * Hold account name for hold_ns from now (the server's now): nobody takes
 * from it until then.  A longer hold already there stays.  Returns 0, or
 * PACE_SHARED_DOWN.
 */
int pace_shared_hold(pace_shared *ps, const char *name, int64_t hold_ns);

/*
 * A request of units taken from account name is leaving only now, late
 * (its worker stalled): the account's next units come at least units
 * intervals from now, so that the requests after it keep their spacing at
 * the provider (pace_late() for the account).  Returns 0, or
 * PACE_SHARED_DOWN.
 */
int pace_shared_late(pace_shared *ps, const char *name, double units_per_s, uint32_t units);

/* Why the last call returned PACE_SHARED_DOWN (static until the next call). */
const char *pace_shared_error(const pace_shared *ps);

/* Round trips made (answered or not), for the metrics. */
uint64_t pace_shared_round_trips(const pace_shared *ps);

#endif
