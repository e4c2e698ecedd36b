/*
 * pace: shared GCRA limits, adaptive rates, holds, circuits (see pace.h).
 *
 * DESIGN
 *
 * The mapped file holds a header and PACE_MAX_SLOTS slots.  Each slot field
 * is a lock-free 64-bit atomic, so a process killed at any instant leaves
 * nothing locked (a mutex in shared memory would need robust-mutex recovery).
 * The header is written once, under an flock, by whichever process comes
 * first; slots are claimed by name with a compare-and-swap on their first
 * byte's owner word.
 *
 * GCRA with emission interval T = 1e9 / rate ns and tolerance tau: a request
 * of n units at time t conforms when max(tat, t) + n*T - t <= tau + T, and
 * then tat = max(tat, t) + n*T.  tau = B*T allows B+1 units at once; we use
 * tau = (B-1)*T for B >= 1 so that a sliding 1-second window holds at most
 * L + B units, and tau = 0 for B = 0; then 25 ms of it are held back for
 * the jitter between leaving and arriving (tolerance()): the provider
 * counts arrivals, and a request reaches it some time after its tokens
 * were taken (mostly the sender or the receiver waiting for a core, more
 * on a loaded machine), so requests taken evenly may arrive bunched.  25 ms
 * covers that spread but for rare stalls, and is half of the default burst
 * (50 ms), which leaves little more to hold back.  A request that leaves
 * more than PACE_LATE_NS after its tokens were
 * taken (a worker stalled between the two) takes its place in the bucket
 * again when it leaves (pace_late()), so that the requests after it keep
 * their spacing at the provider.  T and B follow the
 * effective rate: a process reads it on every take, so a cut applies to the
 * next request of every process.
 *
 * The effective rate is a value with a time: a cut (pace_throttled(): a
 * compare-and-swap on the cut's time) and a step up (pace_rate(), at most
 * once a PACE_STEP_NS, by whichever process wins the compare-and-swap on the
 * step time) each happen once however many processes race through the same
 * moment, and a step is a compare-and-swap on the rate it read, so a cut
 * made meanwhile wins.  Rates are kept in milli-units per second.
 *
 * The circuit's window is PACE_WINDOW_S + 1 one-second buckets, each one
 * 64-bit word (its second, good answers, failures) updated by
 * compare-and-swap, reset by the first report of a new second.
 */
#include "store/pace.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/clock.h"
#include "common/utf8.h"
#include "store/datadir.h"

#define PACE_MAGIC 0x534d5351504143ULL /* "SMSQPAC" */
#define PACE_VERSION 4
#define PACE_NAME_MAX 32
#define MS_NS 1000000LL
#define S_NS 1000000000LL
#define PACE_CUT_NUM 4                 /* a throttle cuts the rate to 4/5 */
#define PACE_CUT_DEN 5
#define PACE_EPISODE_NS S_NS           /* throttles within this of a cut: the same episode */
#define PACE_STEP_NS S_NS              /* the rate steps up at most this often */
#define PACE_STEP_AFTER_NS (2 * S_NS)  /* and not before this long after a cut */
#define PACE_NEAR_PCT 95               /* quickly back to this share of the ceiling */
#define PACE_PROBE_PER_MILLE 5         /* then 0.5 % of it a second above */
#define PACE_CLIMB_DIVISOR 8           /* no ceiling known: 1/8 of the limit a second */
#define PACE_MIN_MILLI 100             /* the rate never goes below 0.1 unit/s */
#define PACE_BUCKETS (PACE_WINDOW_S + 1)
#define PACE_MISCONF_FIRST_NS S_NS     /* first probe of a misconfigured provider */
#define PACE_HOLD_MAX_SHIFT 6          /* 25 ms << 6 = 1.6 s, capped at PACE_HOLD_MAX_MS */
#define PACE_QUIET_NS S_NS             /* no good answer for this long, failures only: down */
#define PACE_QUICK_ROUNDS 5            /* open periods of circuit_open_ms before they double */
#define PACE_OPEN_MAX_SHIFT 5          /* up to 32 x circuit_open_ms */

struct pace_slot {
	char name[PACE_NAME_MAX];          /* owner provider, "" = free */
	_Atomic int64_t claimed;           /* 0 free, 1 being named, 2 named */
	_Atomic int64_t tat_ns;            /* GCRA time for units */
	_Atomic int64_t req_tat_ns;        /* GCRA time for requests */
	_Atomic int64_t blocked_until_ns;  /* Retry-After or 503 hold */
	_Atomic int64_t hold_shift;        /* 503 holds in a row: the next is 25 ms << this */
	_Atomic int64_t open_until_ns;     /* circuit open until; 0 = closed */
	_Atomic int64_t round_ns;          /* probe round: given up at this time (0: none) */
	_Atomic int64_t round_taken;       /* probes handed out this round */
	_Atomic int64_t open_rounds;       /* open periods since it last closed */
	_Atomic int64_t window[PACE_BUCKETS]; /* second << 40 | good << 20 | failures */
	_Atomic int64_t fails_since_good;  /* failures since the last good answer */
	_Atomic int64_t bad_since_ns;      /* the first of them (mono) */
	_Atomic int64_t milli_units_per_s; /* configured limit x 1000, for observers */
	_Atomic int64_t eff_milli;         /* effective rate x 1000 (0: the configured one) */
	_Atomic int64_t ceil_milli;        /* rate of the last cut x 1000 (0: none) */
	_Atomic int64_t step_ns;           /* last cut or step up (mono) */
	_Atomic int64_t cut_ns;            /* last cut (mono; 0: none) */
	_Atomic int64_t accepted_ns;       /* the provider last took a message (mono) */
	_Atomic int64_t throttles;         /* cuts, ever (observers) */
	_Atomic int64_t held_ns;           /* time held by Retry-After and 503 holds, ever
					      (observers: each extension counted once) */
	_Atomic int64_t paused;            /* 1: an operator paused sending through it */
	_Atomic int64_t misconf_ns;        /* misconfigured since (0: not) */
	_Atomic int64_t misconf_probe_ns;  /* its next probe may go then */
	_Atomic int64_t misconf_shift;     /* probes that failed: the wait doubles */
	_Atomic int64_t conf_hash;         /* the configuration misconf_ns was found with */
	char reason[PACE_REASON_MAX];      /* why misconfigured (observers; a torn read
					      shows a mix of two reasons, nothing worse) */
};

struct pace_file {
	uint64_t magic;                    /* PACE_MAGIC */
	uint32_t version;                  /* PACE_VERSION */
	uint32_t reserved;                 /* zero */
	char boot_id[48];                  /* kernel boot id at creation */
	_Atomic int64_t paused_all;        /* 1: an operator paused all sending */
	struct pace_slot slots[PACE_MAX_SLOTS];
};

struct pace {
	struct pace_file *f;               /* the mapping */
};

static void read_boot_id(char *out, size_t len)
{
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "r");

	memset(out, 0, len);
	if (fp == NULL)
		return;
	if (fgets(out, (int)len, fp) == NULL)
		out[0] = '\0';
	fclose(fp);
}

/* Under the file's lock (datadir_map()): a new file, another format, or
 * monotonic times from before a reboot start afresh. */
static void pace_init(void *map, void *arg)
{
	struct pace_file *f = map;
	char boot[48];

	(void)arg;
	read_boot_id(boot, sizeof(boot));
	if (f->magic != PACE_MAGIC || f->version != PACE_VERSION ||
	    memcmp(f->boot_id, boot, sizeof(boot)) != 0) {
		memset(f, 0, sizeof(*f));
		memcpy(f->boot_id, boot, sizeof(boot));
		f->version = PACE_VERSION;
		f->magic = PACE_MAGIC;
	}
}

pace *pace_open(const char *dir, char *err, size_t errlen)
{
	pace *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		snprintf(err, errlen, "pace: out of memory");
		return NULL;
	}
	p->f = datadir_map(dir, DATADIR_PACING, sizeof(struct pace_file), pace_init, NULL, err,
			   errlen);
	if (p->f == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

void pace_close(pace **p)
{
	if (p == NULL || *p == NULL)
		return;
	munmap((*p)->f, sizeof(struct pace_file));
	free(*p);
	*p = NULL;
}

int pace_slot(pace *p, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= PACE_NAME_MAX)
		return -1;
	for (int i = 0; i < PACE_MAX_SLOTS; i++) {
		struct pace_slot *s = &p->f->slots[i];
		int64_t st = atomic_load(&s->claimed);

		if (st == 0) {
			int64_t zero = 0;

			if (atomic_compare_exchange_strong(&s->claimed, &zero, 1)) {
				memcpy(s->name, name, n + 1);
				atomic_store(&s->claimed, 2);
				return i;
			}
			st = atomic_load(&s->claimed);
		}
		/* Another process is naming this slot: wait for it (a few
		 * stores; a process killed right there leaves it at 1, which
		 * costs only that slot). */
		for (int spin = 0; st == 1 && spin < 1000000; spin++)
			st = atomic_load(&s->claimed);
		if (st == 2 && strcmp(s->name, name) == 0)
			return i;
	}
	return -1;
}

/* Tolerance in ns for burst B and interval T.  The provider counts by the
 * time requests ARRIVE: network and scheduling jitter can bring two requests
 * closer than they left, so PACE_JITTER_NS of the burst is never used. */
static int64_t tolerance(uint32_t burst, int64_t t_ns)
{
	int64_t tau = burst >= 1 ? (int64_t)(burst - 1) * t_ns - PACE_JITTER_NS : 0;

	return tau > 0 ? tau : 0;
}

static int64_t interval_ns(double per_s)
{
	int64_t t = (int64_t)(1e9 / per_s);

	return t > 0 ? t : 1;
}

uint32_t pace_max_units(const struct pace_limits *lim)
{
	int64_t t_ns = interval_ns(lim->units_per_s);

	return (uint32_t)(tolerance(lim->burst, t_ns) / t_ns) + 1;
}

/* ---- the effective rate --------------------------------------------------- */

static int64_t cfg_milli(const struct pace_limits *lim)
{
	int64_t m = (int64_t)(lim->units_per_s * 1000.0);

	return m > PACE_MIN_MILLI ? m : PACE_MIN_MILLI;
}

/* The effective rate in milli-units/s, stepped up first when due. */
static int64_t eff_now(struct pace_slot *s, const struct pace_limits *lim, int64_t now_ns)
{
	int64_t cfg = cfg_milli(lim);
	int64_t eff = atomic_load(&s->eff_milli);
	int64_t step = atomic_load(&s->step_ns);

	if (eff <= 0 || eff > cfg)
		return cfg; /* never cut, or the limit was lowered since */
	if (eff == cfg || now_ns - step < PACE_STEP_NS ||
	    now_ns - atomic_load(&s->cut_ns) < PACE_STEP_AFTER_NS)
		return eff;
	/* One process steps it: the one whose CAS on the step time wins. */
	if (!atomic_compare_exchange_strong(&s->step_ns, &step, now_ns))
		return atomic_load(&s->eff_milli) > 0 ? atomic_load(&s->eff_milli) : cfg;
	int64_t ceil = atomic_load(&s->ceil_milli);
	int64_t next;

	if (ceil > 0 && now_ns - atomic_load(&s->cut_ns) > (int64_t)PACE_CEIL_FORGET_S * S_NS) {
		atomic_store(&s->ceil_milli, 0);
		ceil = 0;
	}
	if (ceil == 0) {
		next = eff + cfg / PACE_CLIMB_DIVISOR;
	} else {
		int64_t near = ceil * PACE_NEAR_PCT / 100;
		int64_t probe = ceil * PACE_PROBE_PER_MILLE / 1000;

		next = eff < near ? eff + (near - eff + 1) / 2 : eff + (probe > 0 ? probe : 1);
	}
	if (next > cfg)
		next = cfg;
	/* A cut since the load wins: the step is dropped. */
	if (!atomic_compare_exchange_strong(&s->eff_milli, &eff, next))
		return atomic_load(&s->eff_milli) > 0 ? atomic_load(&s->eff_milli) : cfg;
	return next;
}

double pace_rate(pace *p, int slot, const struct pace_limits *lim, int64_t now_ns)
{
	return (double)eff_now(&p->f->slots[slot], lim, now_ns) / 1000.0;
}

/* lim at the effective rate eff (milli): the burst scaled alike. */
static struct pace_limits scaled(const struct pace_limits *lim, int64_t eff)
{
	struct pace_limits e = *lim;
	int64_t cfg = cfg_milli(lim);

	e.units_per_s = (double)eff / 1000.0;
	if (eff < cfg && lim->burst > 1) {
		int64_t b = (int64_t)lim->burst * eff / cfg;

		e.burst = (uint32_t)(b >= 1 ? b : 1);
	}
	return e;
}

struct pace_limits pace_effective(pace *p, int slot, const struct pace_limits *lim,
				  int64_t now_ns)
{
	return scaled(lim, eff_now(&p->f->slots[slot], lim, now_ns));
}

int pace_throttled(pace *p, int slot, const struct pace_limits *lim, int64_t sent_ns,
		   int64_t now_ns, double *rate)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t cut = atomic_load(&s->cut_ns);
	int64_t eff, next, ceil;

	/* The same episode: a request that left before the last cut (at the
	 * old rate), or an answer within PACE_EPISODE_NS of it. */
	if (cut != 0 && (sent_ns <= cut || now_ns - cut < PACE_EPISODE_NS))
		return 0;
	if (!atomic_compare_exchange_strong(&s->cut_ns, &cut, now_ns))
		return 0; /* another process cut it just now */
	(void)eff_now(s, lim, now_ns); /* a step due first */
	int64_t raw = atomic_load(&s->eff_milli);
	for (;;) {
		/* 0 (never cut) or above a lowered limit: the configured one. */
		eff = raw > 0 && raw <= cfg_milli(lim) ? raw : cfg_milli(lim);
		next = eff * PACE_CUT_NUM / PACE_CUT_DEN;
		if (next < PACE_MIN_MILLI)
			next = PACE_MIN_MILLI;
		if (atomic_compare_exchange_weak(&s->eff_milli, &raw, next))
			break;
	}
	/* The ceiling: the rate it was throttled at.  When nothing got
	 * through since the last cut (the provider throttling everything for
	 * a while, whatever the rate), the cuts only show that, not its
	 * limit: the ceiling stays where it was. */
	ceil = atomic_load(&s->ceil_milli);
	if (ceil == 0 || atomic_load(&s->accepted_ns) > cut || eff > ceil)
		atomic_store(&s->ceil_milli, eff);
	atomic_store(&s->step_ns, now_ns);
	atomic_fetch_add(&s->throttles, 1);
	if (rate != NULL)
		*rate = (double)next / 1000.0;
	return 1;
}

void pace_accepted(pace *p, int slot, int64_t now_ns)
{
	atomic_store(&p->f->slots[slot].accepted_ns, now_ns);
}

/* ---- taking --------------------------------------------------------------- */

/* Try one GCRA cell.  Returns 0 and sets *new_tat, or the wait in ns. */
static int64_t gcra_check(int64_t tat, int64_t now, int64_t t_ns, int64_t tau, uint32_t n,
			  int64_t *new_tat)
{
	int64_t base = tat > now ? tat : now;
	int64_t next = base + (int64_t)n * t_ns;
	int64_t over = next - now - tau - t_ns;

	/* A request bigger than the whole bucket goes when the bucket is
	 * empty, or it could never go; and its wait is until then, not the
	 * (longer) time a small request would wait, or small requests from
	 * other processes would always get there first. */
	if (over > 0 && (int64_t)n * t_ns > tau + t_ns) {
		if (tat > now)
			return tat - now;
	} else if (over > 0) {
		return over;
	}
	*new_tat = next;
	return 0;
}

int64_t pace_take(pace *p, int slot, const struct pace_limits *lim, uint32_t units, int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	struct pace_limits e = scaled(lim, eff_now(s, lim, now_ns));
	int64_t t_ns = interval_ns(e.units_per_s);
	int64_t tau = tolerance(e.burst, t_ns);
	int64_t blocked = atomic_load(&s->blocked_until_ns);

	if (blocked > now_ns)
		return blocked - now_ns;
	for (;;) {
		int64_t tat = atomic_load(&s->tat_ns);
		int64_t req_tat = 0, new_tat = 0, new_req = 0, wait;
		int64_t rt_ns = 0;

		wait = gcra_check(tat, now_ns, t_ns, tau, units, &new_tat);
		if (wait > 0)
			return wait;
		if (lim->requests_per_s > 0) {
			rt_ns = interval_ns(lim->requests_per_s);
			req_tat = atomic_load(&s->req_tat_ns);
			wait = gcra_check(req_tat, now_ns, rt_ns, 0, 1, &new_req);
			if (wait > 0)
				return wait;
		}
		if (!atomic_compare_exchange_weak(&s->tat_ns, &tat, new_tat))
			continue;
		if (lim->requests_per_s > 0) {
			/* The request cell: if another process moved it meanwhile,
			 * push it by one interval anyway (never under-count). */
			while (!atomic_compare_exchange_weak(&s->req_tat_ns, &req_tat, new_req)) {
				int64_t base = req_tat > now_ns ? req_tat : now_ns;

				new_req = base + rt_ns;
			}
		}
		return 0;
	}
}

void pace_late(pace *p, int slot, const struct pace_limits *lim, uint32_t units, int64_t taken_ns,
	       int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t t_ns, tat, at;

	if (now_ns - taken_ns <= PACE_LATE_NS)
		return;
	t_ns = interval_ns(scaled(lim, eff_now(s, lim, now_ns)).units_per_s);
	at = now_ns + (int64_t)units * t_ns;
	tat = atomic_load(&s->tat_ns);
	while (tat < at && !atomic_compare_exchange_weak(&s->tat_ns, &tat, at))
		;
}

void pace_refund(pace *p, int slot, const struct pace_limits *lim, uint32_t units)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t t_ns = interval_ns(scaled(lim, eff_now(s, lim, clock_mono_ns())).units_per_s);

	if (units > 0)
		atomic_fetch_sub(&s->tat_ns, (int64_t)units * t_ns);
}

/* ---- holds ------------------------------------------------------------------ */

void pace_block(pace *p, int slot, int64_t until_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t cur = atomic_load(&s->blocked_until_ns);
	int64_t now = clock_mono_ns();

	while (cur < until_ns && !atomic_compare_exchange_weak(&s->blocked_until_ns, &cur, until_ns))
		;
	/* The winner of the swap adds what it extended: holds that overlap
	 * (every worker reading the same Retry-After) count once. */
	if (cur < until_ns)
		atomic_fetch_add(&s->held_ns, until_ns - (cur > now ? cur : now));
}

void pace_hold_end(pace *p, int slot)
{
	atomic_store(&p->f->slots[slot].hold_shift, 0);
}

int64_t pace_unavailable(pace *p, int slot, int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t shift = atomic_load(&s->hold_shift);
	int64_t until;

	/* Answers to requests that were out together arrive together: one
	 * step per hold, not per answer. */
	if (atomic_load(&s->blocked_until_ns) > now_ns)
		return atomic_load(&s->blocked_until_ns);
	int64_t ms = (int64_t)PACE_HOLD_MIN_MS << shift;

	if (ms > PACE_HOLD_MAX_MS)
		ms = PACE_HOLD_MAX_MS;
	if (shift < PACE_HOLD_MAX_SHIFT)
		atomic_compare_exchange_strong(&s->hold_shift, &shift, shift + 1);
	until = now_ns + ms * MS_NS;
	pace_block(p, slot, until);
	return until;
}

/* ---- the circuit ------------------------------------------------------------ */

/* A bucket word: its second (22 bits: they wrap every 48 days, and the
 * window only ever compares seconds a few apart), good answers (20 bits),
 * failures (20 bits); packed unsigned, so bit 63 is never set. */
#define W_SEC_MASK 0x3FFFFF
#define W_SEC(w) ((int64_t)((uint64_t)(w) >> 40))
#define W_GOOD(w) (((w) >> 20) & 0xFFFFF)
#define W_FAIL(w) ((w) & 0xFFFFF)
#define W_MAKE(sec, good, fail) \
	((int64_t)(((uint64_t)(sec) << 40) | ((uint64_t)(good) << 20) | (uint64_t)(fail)))

/* Count one answer in the window bucket of now's second. */
static void window_add(struct pace_slot *s, int ok, int64_t now_ns)
{
	int64_t sec = (now_ns / S_NS) & W_SEC_MASK;
	_Atomic int64_t *b = &s->window[sec % PACE_BUCKETS];
	int64_t w = atomic_load(b);

	for (;;) {
		int64_t good = W_SEC(w) == sec ? W_GOOD(w) : 0;
		int64_t fail = W_SEC(w) == sec ? W_FAIL(w) : 0;

		if (ok && good < 0xFFFFF)
			good++;
		else if (!ok && fail < 0xFFFFF)
			fail++;
		if (atomic_compare_exchange_weak(b, &w, W_MAKE(sec, good, fail)))
			return;
	}
}

/* Good answers and failures of the last PACE_WINDOW_S seconds and this one. */
static void window_sum(struct pace_slot *s, int64_t now_ns, int64_t *good, int64_t *fail)
{
	int64_t sec = (now_ns / S_NS) & W_SEC_MASK;

	*good = *fail = 0;
	for (int i = 0; i < PACE_BUCKETS; i++) {
		int64_t w = atomic_load(&s->window[i]);
		int64_t age = (sec - W_SEC(w)) & W_SEC_MASK;

		if (age <= PACE_WINDOW_S) {
			*good += W_GOOD(w);
			*fail += W_FAIL(w);
		}
	}
}

static void window_clear(struct pace_slot *s)
{
	for (int i = 0; i < PACE_BUCKETS; i++)
		atomic_store(&s->window[i], 0);
}

enum pace_circuit pace_circuit_state(pace *p, int slot, int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t until = atomic_load(&s->open_until_ns);
	int64_t round = atomic_load(&s->round_ns);
	int64_t probes = atomic_load(&s->misconf_ns) != 0 ? 1 : PACE_PROBES;

	if (atomic_load(&s->misconf_ns) != 0)
		until = atomic_load(&s->misconf_probe_ns);
	else if (until == 0)
		return PACE_CLOSED;
	if (now_ns < until)
		return PACE_OPEN;
	if (now_ns < round && atomic_load(&s->round_taken) >= probes)
		return PACE_OPEN; /* this round's probes are out */
	return PACE_PROBE;
}

enum pace_circuit pace_circuit_check(pace *p, int slot, const struct pace_limits *lim,
				    int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	enum pace_circuit c = pace_circuit_state(p, slot, now_ns);
	int64_t probes = atomic_load(&s->misconf_ns) != 0 ? 1 : PACE_PROBES;
	int64_t round = atomic_load(&s->round_ns);

	if (c != PACE_PROBE)
		return c;
	/* A round carries a deadline, not a flag: if the processes sending its
	 * probes die, it is given up then and another round may go. */
	if (now_ns >= round) {
		int64_t deadline = now_ns + (int64_t)lim->probe_timeout_ms * MS_NS;

		if (atomic_compare_exchange_strong(&s->round_ns, &round, deadline))
			atomic_store(&s->round_taken, 0);
	}
	/* Counted only while there is one to take: a cancel gives back what
	 * was taken, nothing more. */
	int64_t taken = atomic_load(&s->round_taken);

	while (taken < probes)
		if (atomic_compare_exchange_weak(&s->round_taken, &taken, taken + 1))
			return PACE_PROBE;
	return PACE_OPEN;
}

void pace_probe_cancel(pace *p, int slot)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t taken = atomic_load(&s->round_taken);

	while (taken > 0 && !atomic_compare_exchange_weak(&s->round_taken, &taken, taken - 1))
		;
}

/* Schedule the next probe of a misconfigured provider: 1 s after it was
 * parked, then twice as long after each probe that failed, up to
 * PACE_MISCONF_MAX_S; a round of this one's probe ends here. */
static void misconf_next(struct pace_slot *s, int64_t now_ns)
{
	int64_t shift = atomic_load(&s->misconf_shift);
	int64_t wait = PACE_MISCONF_FIRST_NS << shift;

	if (wait > (int64_t)PACE_MISCONF_MAX_S * S_NS)
		wait = (int64_t)PACE_MISCONF_MAX_S * S_NS;
	else
		atomic_store(&s->misconf_shift, shift + 1);
	atomic_store(&s->misconf_probe_ns, now_ns + wait);
	atomic_store(&s->round_ns, 0);
	atomic_store(&s->round_taken, 0);
}

/* Open the circuit (again) for open_ms from now; a new round of probes
 * follows. */
static void open_for(struct pace_slot *s, const struct pace_limits *lim, int64_t now_ns)
{
	/* The first rounds come every open period, so that sending resumes
	 * soon after a short outage; then the period doubles (up to 32x), so
	 * that a long outage costs few probes. */
	int64_t rounds = atomic_fetch_add(&s->open_rounds, 1);
	int64_t shift = rounds < PACE_QUICK_ROUNDS ? 0 : rounds - PACE_QUICK_ROUNDS + 1;

	if (shift > PACE_OPEN_MAX_SHIFT)
		shift = PACE_OPEN_MAX_SHIFT;
	atomic_store(&s->open_until_ns, now_ns + ((int64_t)lim->circuit_open_ms * MS_NS << shift));
	atomic_store(&s->round_ns, 0);
	atomic_store(&s->round_taken, 0);
}

int pace_result(pace *p, int slot, const struct pace_limits *lim, int ok, int is_probe,
		int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t good, fail, closed = 0;

	window_add(s, ok, now_ns);
	if (ok) {
		atomic_store(&s->fails_since_good, 0);
		if (atomic_load(&s->open_until_ns) != 0 || atomic_load(&s->misconf_ns) != 0) {
			atomic_store(&s->open_rounds, 0);
			atomic_store(&s->open_until_ns, 0);
			atomic_store(&s->misconf_ns, 0);
			atomic_store(&s->misconf_shift, 0);
			atomic_store(&s->round_ns, 0);
			atomic_store(&s->round_taken, 0);
			window_clear(s);
		}
		return 0;
	}
	if (is_probe && atomic_load(&s->misconf_ns) != 0) {
		/* A misconfigured provider's probe met another failure: it stays
		 * parked, probed again on its own schedule. */
		misconf_next(s, now_ns);
		return 0;
	}
	if (is_probe) {
		/* Still failing: another open period, then another round (the
		 * first failed probe of a round starts it; the others of the
		 * round find it open). */
		if (atomic_load(&s->open_until_ns) > now_ns)
			return 0;
		open_for(s, lim, now_ns);
		return 1;
	}
	/* Down: nothing but failures (enough of them) for PACE_QUIET_NS, or,
	 * over the window, enough failures making half of the answers or
	 * more of enough answers to tell a rate (the first few answers of a
	 * quiet provider are no rate). */
	int64_t since = atomic_fetch_add(&s->fails_since_good, 1) + 1;

	if (since == 1)
		atomic_store(&s->bad_since_ns, now_ns);
	int down = since >= (int64_t)lim->circuit_failures &&
		   now_ns - atomic_load(&s->bad_since_ns) >= PACE_QUIET_NS;

	window_sum(s, now_ns, &good, &fail);
	if (!down && (fail < (int64_t)lim->circuit_failures || fail < good ||
		      fail + good < 2 * (int64_t)lim->circuit_failures))
		return 0;
	/* One process opens it: the one whose CAS wins. */
	if (atomic_compare_exchange_strong(&s->open_until_ns, &closed,
					   now_ns + (int64_t)lim->circuit_open_ms * MS_NS)) {
		atomic_store(&s->open_rounds, 1);
		atomic_store(&s->round_ns, 0);
		atomic_store(&s->round_taken, 0);
		return 1;
	}
	return 0;
}

/* ---- misconfiguration --------------------------------------------------------- */

int pace_misconfigured(pace *p, int slot, const char *reason, int is_probe, int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t since = 0;

	if (atomic_compare_exchange_strong(&s->misconf_ns, &since, now_ns)) {
		snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
		(void)utf8_repair(s->reason); /* observers print it: never half a character */
		atomic_store(&s->misconf_shift, 0);
		misconf_next(s, now_ns);
		return 1;
	}
	/* Already parked: the answers of requests that were out with the one
	 * that parked it change nothing; a probe's moves the next one on. */
	if (is_probe)
		misconf_next(s, now_ns);
	return 0;
}

int pace_is_misconfigured(pace *p, int slot)
{
	return atomic_load(&p->f->slots[slot].misconf_ns) != 0;
}

void pace_config(pace *p, int slot, uint64_t conf_hash)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t have = atomic_load(&s->conf_hash);

	if (have == (int64_t)conf_hash)
		return;
	if (atomic_compare_exchange_strong(&s->conf_hash, &have, (int64_t)conf_hash)) {
		atomic_store(&s->misconf_ns, 0);
		atomic_store(&s->misconf_shift, 0);
	}
}

void pace_publish_limits(pace *p, int slot, const struct pace_limits *lim)
{
	atomic_store(&p->f->slots[slot].milli_units_per_s, (int64_t)(lim->units_per_s * 1000.0));
}

int pace_list(const char *dir, struct pace_view *out, int max)
{
	void *map;
	struct pace_file *f;
	int n = 0;
	int64_t now = clock_mono_ns();
	int rc = datadir_map_read(dir, DATADIR_PACING, sizeof(*f), &map);

	if (rc <= 0)
		return rc;
	f = map;
	if (f->magic == PACE_MAGIC && f->version == PACE_VERSION) {
		for (int i = 0; i < PACE_MAX_SLOTS && n < max; i++) {
			struct pace_slot *s = &f->slots[i];
			int64_t blocked = atomic_load(&s->blocked_until_ns);
			int64_t open_until = atomic_load(&s->open_until_ns);

			if (atomic_load(&s->claimed) != 2)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			snprintf(out[n].name, sizeof(out[n].name), "%s", s->name);
			out[n].slot = i;
			out[n].paused = atomic_load(&s->paused) != 0 ||
					atomic_load(&f->paused_all) != 0;
			out[n].held_s = (double)atomic_load(&s->held_ns) / 1e9;
			int64_t eff = atomic_load(&s->eff_milli);
			int64_t cfg = atomic_load(&s->milli_units_per_s);

			out[n].units_per_s = (double)cfg / 1000.0;
			out[n].effective_per_s = (double)(eff > 0 && eff < cfg ? eff : cfg) / 1000.0;
			out[n].ceiling_per_s = (double)atomic_load(&s->ceil_milli) / 1000.0;
			out[n].throttles = (uint64_t)atomic_load(&s->throttles);
			out[n].circuit_open = open_until != 0;
			out[n].blocked_ms = blocked > now ? (blocked - now) / 1000000 : 0;
			out[n].misconfigured = atomic_load(&s->misconf_ns) != 0;
			if (out[n].misconfigured) {
				memcpy(out[n].reason, s->reason, sizeof(out[n].reason));
				out[n].reason[sizeof(out[n].reason) - 1] = '\0';
			}
			n++;
		}
	}
	munmap(f, sizeof(*f));
	return n;
}

/* ---- pausing ------------------------------------------------------------------ */

void pace_set_paused(pace *p, int slot, int paused)
{
	if (slot < 0)
		atomic_store(&p->f->paused_all, paused != 0);
	else if (slot < PACE_MAX_SLOTS)
		atomic_store(&p->f->slots[slot].paused, paused != 0);
}

int pace_paused(pace *p, int slot)
{
	return atomic_load(&p->f->paused_all) != 0 ||
	       (slot >= 0 && slot < PACE_MAX_SLOTS && atomic_load(&p->f->slots[slot].paused) != 0);
}
