/*
 * pace: per-provider rate limits, Retry-After blocks and circuit breakers
 * shared by every process of the pool and kept across restarts.
 *
 * The state lives in a small file mapped into each process (<dir>/pacing):
 * one slot per provider, updated with atomic compare-and-swap, so the limit
 * holds for the pool as a whole without a lock or a write transaction per
 * request.  A restarted pool finds the slots as they were (the file outlives
 * the processes), so a restart cannot open a second burst.  Times are
 * CLOCK_MONOTONIC; the file carries the boot id and is reset after a reboot.
 *
 * Rate: GCRA (the generic cell rate algorithm, a token bucket as one
 * timestamp).  With limit L per second and burst B, in any 1-second window
 * at most L + B units are allowed, and with a backlog units are allowed at
 * exactly L per second.  A unit is a message or a segment, as the provider
 * counts; an optional second GCRA limits requests per second.
 *
 * Circuit: after `failures` consecutive failed requests the provider is left
 * alone for open_ms (doubling on each failed probe, up to 16x), then one
 * request is let through as a probe; its success closes the circuit.
 */
#ifndef SMSQ_PACE_H
#define SMSQ_PACE_H

#include <stddef.h>
#include <stdint.h>

#define PACE_MAX_SLOTS 16

typedef struct pace pace;

/* Limits of one provider. */
struct pace_limits {
	double units_per_s;        /* messages or segments per second (> 0) */
	uint32_t burst;            /* extra units allowed at once */
	double requests_per_s;     /* 0: no request limit */
	uint32_t circuit_failures; /* consecutive failures that open the circuit */
	uint32_t circuit_open_ms;  /* first open period */
	uint32_t probe_timeout_ms; /* a probe not reported by then is given up
				      (its process died): another may go */
};

/* Map <dir>/pacing (created if missing, never through a link: datadir.h),
 * its disk blocks allocated first.  Returns NULL with err set (on a full
 * disk: "disk full: ..."). */
pace *pace_open(const char *dir, char *err, size_t errlen);
void pace_close(pace **p);

/* The slot of provider `name`, claimed on first use.  Returns 0..15 or -1
 * when all slots are taken. */
int pace_slot(pace *p, const char *name);

/*
 * Take `units` units and one request for slot at mono time now_ns.
 * Returns 0 when taken, else the ns to wait before asking again (the
 * provider is blocked by Retry-After, or the rate is used up); nothing is
 * taken then.  units may exceed burst+1 only when asking alone is the only
 * way: such a request waits until the bucket is empty, then goes.
 */
int64_t pace_take(pace *p, int slot, const struct pace_limits *lim, uint32_t units, int64_t now_ns);

/* The largest request (in units) that can go on its turn without waiting
 * for the bucket to empty: what a batch should stay below. */
uint32_t pace_max_units(const struct pace_limits *lim);

/* Give back units taken but not used (fewer messages than expected). */
void pace_refund(pace *p, int slot, const struct pace_limits *lim, uint32_t units);

/* The provider said "slow down": nothing goes out before until_ns (the later
 * of this and any earlier block wins). */
void pace_block(pace *p, int slot, int64_t until_ns);

/* Circuit breaker. */
enum pace_circuit {
	PACE_CLOSED = 0,   /* normal */
	PACE_OPEN = 1,     /* failing: leave alone */
	PACE_PROBE = 2,    /* open period over: this caller may send one probe */
};

/* The circuit's state now, without taking anything: PACE_PROBE means a
 * probe may go (pace_circuit_check() would hand it out). */
enum pace_circuit pace_circuit_state(pace *p, int slot, int64_t now_ns);

/* May a request go to slot now?  PACE_PROBE is returned to one caller only
 * (pool-wide): that caller sends exactly one request, the probe, and reports
 * it with pace_result(..., is_probe = 1), or gives it back with
 * pace_probe_cancel(). */
enum pace_circuit pace_circuit_check(pace *p, int slot, const struct pace_limits *lim,
				    int64_t now_ns);

/* The caller got PACE_PROBE but did not send after all: let another probe. */
void pace_probe_cancel(pace *p, int slot);

/*
 * Report a request's outcome: ok = 1 for an answer that shows the provider
 * works (2xx, 4xx), 0 for a failure (5xx, timeout, connection error).
 * is_probe: this was the request PACE_PROBE allowed.  A success closes the
 * circuit; circuit_failures failures in a row open it; a failed probe opens
 * it again for twice as long (up to 16x).  A failure of a request that was
 * already in flight when the circuit opened changes nothing.
 * Returns 1 if this report opened the circuit.
 */
int pace_result(pace *p, int slot, const struct pace_limits *lim, int ok, int is_probe,
		int64_t now_ns);

/* Record the slot's limit for observers (smsqctl top). */
void pace_publish_limits(pace *p, int slot, const struct pace_limits *lim);

/* What an observer sees of one provider. */
struct pace_view {
	char name[32];             /* provider name */
	double units_per_s;        /* its limit as last published */
	int circuit_open;          /* circuit open now */
	int64_t blocked_ms;        /* Retry-After hold left, ms (0: none) */
};

/* Read the slots of <dir>/pacing without creating or changing anything.
 * Returns the number of named slots written to out (at most max), 0 when
 * there is no pacing file yet, -1 on error. */
int pace_list(const char *dir, struct pace_view *out, int max);

/* CLOCK_MONOTONIC in ns. */
int64_t pace_now_ns(void);

#endif
