/*
 * fake_faults: which requests the fake provider mistreats, and how.
 *
 * Per request, in this order:
 *   1. outage: inside an --outage window (seconds from start) -> 503;
 *   2. bad credentials: inside an --auth-fail window -> 401, as each API
 *      answers a wrong key (a rotated key, for that long);
 *   3. one uniform draw u in [0, 1):
 *        u < drop_rate                            -> drop (close, no answer)
 *        u < drop_rate + hang_rate                -> hang (never answer)
 *        u < drop_rate + hang_rate + error_rate   -> one of error_statuses
 *                                                    (500, 503), picked by a
 *                                                    second uniform draw
 *   4. the answer (fault or not) waits latency_ms + a uniform draw in
 *      [0, latency_jitter_ms].
 * A 503 (outage or error) carries Retry-After only with error_retry_after_s
 * > 0: real providers often answer 503 without one.
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

#include "common/attrs.h"

#define FAKE_FAULTS_MAX_OUTAGES 16   /* --outage given at most this often */
#define FAKE_FAULTS_MAX_AUTH_FAILS 16 /* --auth-fail given at most this often */
#define FAKE_FAULTS_MAX_STATUSES 2   /* --error-status: 500, 503 */
#define FAKE_FAULTS_MAX_PREFIXES 16  /* --fail-prefix given at most this often */
#define FAKE_FAULTS_PREFIX_MAX 32    /* longest prefix, bytes incl. NUL */

typedef struct fake_faults fake_faults;

/* A window of time, from the server's start (--outage, --auth-fail). */
struct fake_window {
	int64_t start_ms;            /* from the server's start */
	int64_t duration_ms;         /* how long every request gets the fault */
};

struct fake_faults_opts {
	double error_rate;           /* share of requests answered an error status */
	int error_statuses[FAKE_FAULTS_MAX_STATUSES]; /* 500 and/or 503 */
	size_t n_error_statuses;     /* used entries (>= 1) */
	int error_retry_after_s;     /* Retry-After of a 503 fault, 0: none */
	double hang_rate;            /* share of requests never answered */
	double drop_rate;            /* share of connections closed unanswered */
	int64_t latency_ms;          /* added to every answer */
	int64_t latency_jitter_ms;   /* plus uniform 0..this */
	struct fake_window outages[FAKE_FAULTS_MAX_OUTAGES]; /* 503 windows */
	size_t n_outages;            /* used entries */
	struct fake_window auth_fails[FAKE_FAULTS_MAX_AUTH_FAILS]; /* 401 windows */
	size_t n_auth_fails;         /* used entries */
	char prefixes[FAKE_FAULTS_MAX_PREFIXES][FAKE_FAULTS_PREFIX_MAX]; /* --fail-prefix */
	size_t n_prefixes;           /* used entries */
	uint64_t seed;               /* --seed */
};

/* What to do with one request. */
enum fake_fault {
	FAKE_FAULT_NONE = 0,         /* answer normally */
	FAKE_FAULT_OUTAGE = 1,       /* answer 503 (outage window) */
	FAKE_FAULT_ERROR = 2,        /* answer one of error_statuses */
	FAKE_FAULT_DROP = 3,         /* close the connection, no answer */
	FAKE_FAULT_HANG = 4,         /* keep the connection, never answer */
	FAKE_FAULT_AUTH = 5,         /* answer 401, bad credentials (auth-fail window) */
};

struct fake_decision {
	enum fake_fault fault;       /* see above */
	int status;                  /* HTTP status for OUTAGE, ERROR and AUTH, else 0 */
	int retry_after_s;           /* Retry-After of the answer, 0: none */
	int64_t delay_ms;            /* wait before answering (0: none) */
};

/* Copy opts; start_mono_ms (CLOCK_MONOTONIC ms) is the origin of the
 * outage windows.  Never NULL.  Caller destroys. */
fake_faults *fake_faults_new(const struct fake_faults_opts *opts, int64_t start_mono_ms)
	SMSQ_WARN_UNUSED;

/* Free and set *f to NULL.  Accepts NULL and *f == NULL. */
void fake_faults_destroy(fake_faults **f);

/* Decide the next request's fate at now_mono_ms (CLOCK_MONOTONIC ms). */
void fake_faults_decide(fake_faults *f, int64_t now_mono_ms, struct fake_decision *out);

/* 1 if destination matches one of the --fail-prefix values (see
 * fake_sms_has_prefix()), else 0. */
int fake_faults_fail_prefix(const fake_faults *f, const char *destination);

#endif
