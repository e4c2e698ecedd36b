/*
 * push: the pool's child that hands outcomes to the booking backend.
 *
 * What became of each message (store.h, "the outbox") is POSTed to
 * outcomes.url in batches, in the order it happened, each POST signed
 * (proto/OUTCOMES.md: the contract); an outcome leaves the outbox only once
 * the backend answered 2xx for its batch.  Anything else is tried again
 * later, the same batch, after a backoff (1 s doubling to 60 s): at least
 * once, the backend drops repeats by the outcome's id.  Sending SMS never
 * waits for it: the store's outbox is bounded (its oldest outcome dropped
 * for a new one, counted).  A batch the backend refuses for what it holds
 * (push_refused()) is sent again in halves until the outcome it refuses
 * goes alone; refused PUSH_REFUSALS_MAX times alone, that one is dropped
 * (logged with its id, counted), so that it cannot hold back the others.
 */
#ifndef SMSQ_PUSH_H
#define SMSQ_PUSH_H

#include <stddef.h>

#include "common/attrs.h"
#include "common/log.h"
#include "store/counters.h"
#include "store/store.h"

#define PUSH_IDLE_MS 200          /* an empty outbox is looked at again this often */
#define PUSH_BACKOFF_MIN_MS 1000  /* after a failed POST, the first wait */
#define PUSH_BACKOFF_MAX_MS 60000 /* and the longest */
#define PUSH_REFUSALS_MAX 3       /* an outcome the backend refuses alone this many
				     times in a row is dropped (logged, counted) */

struct push_opts {
	const char *dir;               /* the pool's data directory */
	const char *url;               /* outcomes.url */
	const char *secret;            /* outcomes.secret (never logged) */
	size_t batch;                  /* outcomes.batch: outcomes per POST */
	long timeout_ms;               /* outcomes.timeout_ms: a POST's budget */
	struct counters_data *counters; /* this process's shard, or NULL */
	enum log_level log_level;      /* its log lines' */
	enum log_format log_format;
};

/* Run until SIGTERM or SIGINT.  Returns the process exit code. */
int push_run(const struct push_opts *o) SMSQ_WARN_UNUSED;

/* Whether an HTTP status refuses a POST for what it holds (a 4xx but 401
 * and 403, our signature, which every outcome shares; 408 and 429, which
 * say "later").  1 or 0. */
int push_refused(long status);

/*
 * The body of one POST: {"outcomes":[...]} of e[0..n) (proto/OUTCOMES.md),
 * malloc'ed, NUL-terminated, its length in *len; NULL when out of memory.
 */
char *push_body(const struct store_outbox_entry *e, size_t n, size_t *len) SMSQ_WARN_UNUSED;

/* The Smsq-Signature header's value for body at unix time t into out (cap
 * bytes): "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".  Returns 0, or
 * -1. */
int push_signature(const char *secret, long long t, const char *body, size_t len, char *out,
		   size_t cap) SMSQ_WARN_UNUSED;

#endif
