/*
 * pace: per-provider rate limits, Retry-After blocks and circuit breakers
 * shared by every process of the pool and kept across restarts.
 *
 * The state lives in a small file mapped into each process (<dir>/pacing):
 * one slot per provider, updated with atomic compare-and-swap, so the limit
 * holds for the pool as a whole without a lock or a write transaction per
 * request.  A restarted pool finds the slots as they were (the file outlives
 * the processes), so a restart cannot open a second burst.  Times are
 * CLOCK_MONOTONIC (clock_mono_ns()); the file carries the boot id and is
 * reset after a reboot.
 *
 * Rate: GCRA (the generic cell rate algorithm, a token bucket as one
 * timestamp).  With limit L per second and burst B, in any 1-second window
 * at most L + B units are allowed, and with a backlog units are allowed at
 * exactly L per second.  A unit is a message or a segment, as the provider
 * counts; an optional second GCRA limits requests per second.
 *
 * Adaptive rate: the configured limit is an upper bound, not the truth (a
 * provider may enforce less: an account tier, a sender, a country).  Each
 * slot keeps an effective rate, at most the configured one, that every
 * process paces by: a throttling answer (pace_throttled()) cuts it, once per
 * episode, to 4/5, remembering the rate it was throttled at as the
 * provider's ceiling (unless nothing got through since the last cut: a
 * provider throttling everything for a while says nothing of its limit);
 * while nothing throttles it climbs back, quickly to just under that
 * ceiling, then slowly above it, to find a raised limit (and the
 * ceiling is forgotten after PACE_CEIL_FORGET_S without a throttle).  The
 * burst shrinks with the rate.  So against a provider that allows less than
 * configured, the pool settles just under what it allows, with a throttling
 * answer now and then, instead of holding the provider after every burst.
 *
 * Circuit: the provider is down when it gave nothing but failures (5xx,
 * transport errors; at least `circuit_failures` of them) for a second, or
 * when over a sliding window of PACE_WINDOW_S seconds at least
 * `circuit_failures` failures make half of its answers or more (of at least
 * twice that many answers); failures in a row among good answers, as random
 * errors give, are no outage.  Down, the circuit opens: the provider is
 * left alone for open_ms, then up to PACE_PROBES single-message probes go
 * (pool-wide); a good answer to any closes the circuit, the first failed
 * probe of a round opens it for open_ms again (after five rounds the open
 * period doubles, up to 32x: a long outage costs few probes).
 *
 * Misconfigured: an answer that says our own configuration is wrong (401,
 * 403, 404, 407, a TLS or DNS failure) parks the provider: nothing but one
 * probe at a time goes, after 1 s, then at growing intervals up to
 * PACE_MISCONF_MAX_S; a good answer, or a process that starts with a
 * different configuration for it (pace_config()), ends it.
 *
 * Holds: Retry-After holds the provider (pace_block()); an answer that asks
 * to wait without saying how long (503 or 429 without Retry-After) holds it
 * a short time that doubles while such answers follow each other
 * (pace_unavailable()) and ends with a good answer.
 */
#ifndef SMSQ_PACE_H
#define SMSQ_PACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

#define PACE_MAX_SLOTS 16

typedef struct pace pace;

#define PACE_PROBES 3               /* probes a round of an open circuit */
#define PACE_WINDOW_S 5             /* seconds of answers the circuit looks at */
#define PACE_MISCONF_MAX_S 5        /* longest wait between probes of a misconfigured provider */
#define PACE_CEIL_FORGET_S 300      /* a ceiling not met again for this long is forgotten */
#define PACE_JITTER_NS 25000000LL   /* burst held back for arrival jitter: 25 ms */

/* Limits of one provider. */
struct pace_limits {
	double units_per_s;        /* the configured limit: messages or segments per
				      second (> 0); the effective rate never exceeds it */
	uint32_t burst;            /* extra units allowed at once, at that limit */
	double requests_per_s;     /* 0: no request limit */
	uint32_t circuit_failures; /* failures in the window that, at half of the
				      requests or more, open the circuit */
	uint32_t circuit_open_ms;  /* open period before each round of probes */
	uint32_t probe_timeout_ms; /* a probe round not reported by then is given up
				      (its process died): another may go */
};

/* Map <dir>/pacing (created if missing, never through a link: datadir.h),
 * its disk blocks allocated first.  Returns NULL with err set (on a full
 * disk: "disk full: ..."). */
pace *pace_open(const char *dir, char *err, size_t errlen) SMSQ_WARN_UNUSED;
void pace_close(pace **p);

/* The slot of provider `name`, claimed on first use.  Returns 0..15 or -1
 * when all slots are taken. */
int pace_slot(pace *p, const char *name) SMSQ_WARN_UNUSED;

/*
 * Take `units` units and one request for slot at mono time now_ns, at the
 * effective rate (pace_rate()).  Returns 0 when taken, else the ns to wait
 * before asking again (the provider is held, or the rate is used up);
 * nothing is taken then.  units may exceed the bucket only when asking
 * alone is the only way: such a request waits until the bucket is empty,
 * then goes.
 */
int64_t pace_take(pace *p, int slot, const struct pace_limits *lim, uint32_t units, int64_t now_ns);

/* The largest request (in units) that can go on its turn without waiting
 * for the bucket to empty, under lim: what a batch should stay below. */
uint32_t pace_max_units(const struct pace_limits *lim);

/* The effective rate now, units/s: at most lim->units_per_s, lower after
 * throttling; climbs back as time passes (see Adaptive rate above). */
double pace_rate(pace *p, int slot, const struct pace_limits *lim, int64_t now_ns);

/* The limits that hold now: lim with the effective rate, and the burst
 * scaled by the same factor (at least 1). */
struct pace_limits pace_effective(pace *p, int slot, const struct pace_limits *lim,
				  int64_t now_ns);

/*
 * The provider throttled (429, or a throttling answer in a body) a request
 * that took its tokens at sent_ns: cut the effective rate, once per episode
 * (a request sent before the last cut, at the old rate, or an answer within
 * a second of it, is the same episode).  Returns 1 when this report cut it,
 * with the new rate in *rate (may be NULL).
 */
int pace_throttled(pace *p, int slot, const struct pace_limits *lim, int64_t sent_ns,
		   int64_t now_ns, double *rate);

/* The provider took a message now: the cuts after a moment when nothing
 * got through do not lower the remembered ceiling (see pace_throttled()). */
void pace_accepted(pace *p, int slot, int64_t now_ns);

/* A request of units that took its tokens at taken_ns is leaving only now
 * (now_ns): past PACE_LATE_NS, it takes its place in the bucket again, at
 * now, so that the requests after it do not reach the provider closer to
 * it than the pace allows. */
void pace_late(pace *p, int slot, const struct pace_limits *lim, uint32_t units, int64_t taken_ns,
	       int64_t now_ns);

#define PACE_LATE_NS 10000000LL /* 10 ms: beyond what a request waits between its
				   tokens and its write when nothing stalls */

/* Give back units taken but not used (fewer messages than expected). */
void pace_refund(pace *p, int slot, const struct pace_limits *lim, uint32_t units);

/* The provider said "slow down" until then (Retry-After): nothing goes out
 * before until_ns (the later of this and any earlier block wins).  The
 * time it adds to the hold in force is counted (pace_view.held_s). */
void pace_block(pace *p, int slot, int64_t until_ns);

/* The provider asked to wait without saying how long (503 or 429 without
 * Retry-After): hold it PACE_HOLD_MIN_MS, doubling for each such answer that
 * follows another up to PACE_HOLD_MAX_MS, until pace_hold_end().  Returns
 * the end of the hold (mono ns). */
int64_t pace_unavailable(pace *p, int slot, int64_t now_ns);

/* An answer that asked for no hold: the next hold is PACE_HOLD_MIN_MS again. */
void pace_hold_end(pace *p, int slot);

#define PACE_HOLD_MIN_MS 25
#define PACE_HOLD_MAX_MS 1000

/* Circuit breaker (and the probes of a misconfigured provider). */
enum pace_circuit {
	PACE_CLOSED = 0,   /* normal */
	PACE_OPEN = 1,     /* failing or misconfigured: leave alone */
	PACE_PROBE = 2,    /* a probe may go: one single-message request */
};

/* The provider's state now, without taking anything: PACE_PROBE means a
 * probe may go (pace_circuit_check() would hand it out). */
enum pace_circuit pace_circuit_state(pace *p, int slot, int64_t now_ns);

/* May a request go to slot now?  PACE_PROBE is handed to PACE_PROBES callers
 * a round (pool-wide; one for a misconfigured provider): each sends one
 * single-message request, the probe, and reports it with pace_result(...,
 * is_probe = 1) (or pace_misconfigured()), or gives it back with
 * pace_probe_cancel(). */
enum pace_circuit pace_circuit_check(pace *p, int slot, const struct pace_limits *lim,
				    int64_t now_ns);

/* The caller got PACE_PROBE but did not send after all: let another probe. */
void pace_probe_cancel(pace *p, int slot);

/*
 * Report a request's outcome: ok = 1 for an answer that shows the provider
 * works (2xx, a 4xx about the message, a throttling answer), 0 for a
 * failure (5xx, timeout, connection error).  A good answer closes the
 * circuit, ends a misconfiguration and a 503 hold's growth; failures are
 * counted in the window and open the circuit (see Circuit above); a failed
 * probe opens it again.  Returns 1 if this report opened the circuit (or,
 * for a probe, opened it again).
 */
int pace_result(pace *p, int slot, const struct pace_limits *lim, int ok, int is_probe,
		int64_t now_ns);

/* Our configuration is wrong for this provider (reason: "http 401", a TLS
 * error...; copied, cut on a character boundary to PACE_REASON_MAX - 1
 * bytes): park it until a probe is answered otherwise (see Misconfigured
 * above).  The answer of a probe (is_probe) moves its next probe on; the
 * others of a parked provider (requests that were out with the one that
 * parked it) change nothing.  Returns 1 when this report parked it. */
int pace_misconfigured(pace *p, int slot, const char *reason, int is_probe, int64_t now_ns);

/* Whether the provider is parked as misconfigured now. */
int pace_is_misconfigured(pace *p, int slot);

/* A process set the slot up with configuration conf_hash (a hash of the
 * endpoint and credentials): when it differs from the slot's, the slot
 * takes it and a misconfiguration found with the old one ends. */
void pace_config(pace *p, int slot, uint64_t conf_hash);

#define PACE_REASON_MAX 64

/* An operator paused (1) or resumed (0) sending through slot, or all
 * sending (slot -1): the workers look at every request (pace_paused()).
 * The store keeps the operator's word (store_pause()); this carries it to
 * the running processes. */
void pace_set_paused(pace *p, int slot, int paused);

/* Whether sending through slot is paused now (it, or all sending). */
int pace_paused(pace *p, int slot);

/* Record the slot's limit for observers (smsqctl top). */
void pace_publish_limits(pace *p, int slot, const struct pace_limits *lim);

/* What an observer sees of one provider. */
struct pace_view {
	char name[32];             /* provider name */
	int slot;                  /* its slot (what counters.h numbers providers by) */
	double units_per_s;        /* its configured limit as last published */
	double effective_per_s;    /* the rate the pool paces it at now (adaptive) */
	double ceiling_per_s;      /* the rate it was last throttled at (0: none known) */
	uint64_t throttles;        /* throttling episodes (rate cuts) since the file began */
	int circuit_open;          /* circuit open now */
	int64_t blocked_ms;        /* hold left (Retry-After, 503), ms (0: none) */
	double held_s;             /* time held by such holds since the file began, s */
	int paused;                /* an operator paused it, or all sending */
	int misconfigured;         /* parked: our configuration is wrong */
	char reason[PACE_REASON_MAX]; /* why, when misconfigured */
};

/* Read the slots of <dir>/pacing without creating or changing anything.
 * Returns the number of named slots written to out (at most max), 0 when
 * there is no pacing file yet, -1 on error. */
int pace_list(const char *dir, struct pace_view *out, int max) SMSQ_WARN_UNUSED;

#endif
