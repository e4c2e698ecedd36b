/*
 * fake_faults: which requests the fake provider mistreats, and how.
 *
 * Per request, in this order:
 *   1. outage: inside an --outage window (seconds from start) -> 503;
 *   2. one uniform draw u in [0, 1):
 *        u < drop_rate                            -> drop (close, no answer)
 *        u < drop_rate + hang_rate                -> hang (never answer)
 *        u < drop_rate + hang_rate + error_rate   -> error_status (500 or 503)
 *   3. the answer (fault or not) waits latency_ms + a uniform draw in
 *      [0, latency_jitter_ms].
 * Per message: a destination that starts with a --fail-prefix is rejected
 * permanently.
 *
 * Reproducibility: the draws for the k-th request (k = 0, 1, 2... in the
 * order requests finish arriving) are a pure function of (seed, k), so one
 * client sending one request at a time sees the same faults on every run
 * with the same --seed.  Concurrent clients see the same set of faulty
 * request numbers, spread as their requests interleave.
 *
 * Threads: fake_faults_decide() and fake_faults_fail_prefix() may be called
 * from any thread (one atomic counter, no lock).
 */
#ifndef SMSQ_FAKE_FAULTS_H
#define SMSQ_FAKE_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_FAULTS_MAX_OUTAGES 16   /* --outage given at most this often */
#define FAKE_FAULTS_MAX_PREFIXES 16  /* --fail-prefix given at most this often */
#define FAKE_FAULTS_PREFIX_MAX 32    /* longest prefix, bytes incl. NUL */

typedef struct fake_faults fake_faults;

struct fake_outage {
	int64_t start_ms;            /* from the server's start */
	int64_t duration_ms;         /* how long every request gets 503 */
};

struct fake_faults_opts {
	double error_rate;           /* share of requests answered error_status */
	int error_status;            /* 500 or 503 */
	double hang_rate;            /* share of requests never answered */
	double drop_rate;            /* share of connections closed unanswered */
	int64_t latency_ms;          /* added to every answer */
	int64_t latency_jitter_ms;   /* plus uniform 0..this */
	struct fake_outage outages[FAKE_FAULTS_MAX_OUTAGES]; /* 503 windows */
	size_t n_outages;            /* used entries */
	char prefixes[FAKE_FAULTS_MAX_PREFIXES][FAKE_FAULTS_PREFIX_MAX]; /* --fail-prefix */
	size_t n_prefixes;           /* used entries */
	uint64_t seed;               /* --seed */
};

/* What to do with one request. */
enum fake_fault {
	FAKE_FAULT_NONE = 0,         /* answer normally */
	FAKE_FAULT_OUTAGE = 1,       /* answer 503 (outage window) */
	FAKE_FAULT_ERROR = 2,        /* answer error_status */
	FAKE_FAULT_DROP = 3,         /* close the connection, no answer */
	FAKE_FAULT_HANG = 4,         /* keep the connection, never answer */
};

struct fake_decision {
	enum fake_fault fault;       /* see above */
	int status;                  /* HTTP status for OUTAGE and ERROR, else 0 */
	int64_t delay_ms;            /* wait before answering (0: none) */
};

/* Copy opts; start_mono_ms (CLOCK_MONOTONIC ms) is the origin of the
 * outage windows.  Never NULL.  Caller destroys. */
fake_faults *fake_faults_new(const struct fake_faults_opts *opts, int64_t start_mono_ms);

/* Free and set *f to NULL.  Accepts NULL and *f == NULL. */
void fake_faults_destroy(fake_faults **f);

/* Decide the next request's fate at now_mono_ms (CLOCK_MONOTONIC ms). */
void fake_faults_decide(fake_faults *f, int64_t now_mono_ms, struct fake_decision *out);

/* 1 if destination matches one of the --fail-prefix values (see
 * fake_sms_has_prefix()), else 0. */
int fake_faults_fail_prefix(const fake_faults *f, const char *destination);

#endif
