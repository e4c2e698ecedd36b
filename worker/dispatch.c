/*
 * dispatch: lease, batch, pace, send, record (see dispatch.h).
 *
 * DESIGN
 *
 * Messages flow through three places in a worker:
 *   queue    leased, waiting for a provider slot and pacing tokens
 *            (at most dispatch.queue_max, and half a second's worth at
 *            the primary's limit: dispatch_queue_cap; most urgent first)
 *   reqs     in an HTTP request (at most `concurrency` per provider)
 *   pending  outcome known, waiting for the next group commit
 * Each message sits in exactly one of them, always under its lease.  A
 * request keeps only what the outcome needs (id, lease, reference), not the
 * text, so memory is bounded by queue_max texts plus the requests' bodies.
 *
 * Commits: every one syncs while holding LMDB's single write lock, so the
 * workers of a pool wait on each other's; their number, more than CPU, sets
 * the pace of a big drain.  A refill therefore commits the pending outcomes
 * and the next lease in one transaction (store_finish_lease), leases up to
 * half the queue at a time, and outcomes wait for 2,048 of them or
 * dispatch.flush_ms.  Leased texts are copied out of the lease buffer into
 * one allocation each, so a queued message costs its text's length.
 *
 * Pacing tokens are taken per request, just before it starts, for its units
 * (messages or segments); a provider that has no tokens makes the loop sleep
 * exactly until it will.  Every step is non-blocking.
 *
 * A batch is a run of the queue's head.  It ends before a destination it
 * already holds where the API takes a number once per request (Sinch: the
 * texts are keyed by number), and before a message a provider refused
 * with others (PROVIDER_SPLIT: a batch API answering for the whole batch,
 * when one message may be at fault).  Such a message goes back to ready
 * untouched and is remembered here, for a lease, to go in a request of its
 * own when it comes back: the bad one then fails alone, the others go.
 * Another worker that leases it first batches it again and learns the
 * same; each round costs no attempt.
 */
#include "worker/dispatch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/counters.h"
#include "store/pace.h"
#include "store/pace_shared.h"
#include "provider/provider.h"
#include "text/gsm.h"

_Static_assert(DISPATCH_LEASE_TEXTS >= STORE_LEASE_TEXTS_MIN,
	       "a lease must have room for the longest text");

#define MS_NS 1000000LL
#define BURST_DIVISOR 20          /* default burst: rate_per_s / 20 (50 ms worth) */
#define RENEW_CHECK_MS 1000       /* how often leases in hand are checked (at most: lease/4) */
#define PACE_SLACK_NS (10 * MS_NS) /* a request leaves this much of the bucket unused */
#define STORE_FULL_BACKOFF_MS 1000 /* a full store is retried this often */
#define FLUSH_ERROR_LOG_MS 1000   /* a failing commit is logged at most this often */
#define PROBE_GRACE_MS 2000       /* a probe unanswered this long past its timeout is given up */
#define PACE_SAY_NS (1000 * MS_NS) /* a provider's holds are logged this often at most */
#define LEASE_MARGIN_MS 1000      /* a request leaves only with this much of every lease
				     left (at most a quarter of a lease) */
#define ALONE_MAX 2048            /* messages remembered to go alone (two full batches) */

/* What a request remembers of one message. */
struct req_msg {
	uint64_t id;                   /* message id */
	int64_t lease_until_ms;        /* its lease */
	struct store_msg_hdr hdr;      /* what the store recorded at the lease */
	int64_t created_ms;            /* booking time, for the delay in logs */
	uint16_t attempts;             /* this attempt's number */
	char ref[PROVIDER_REF_MAX];    /* our reference */
	char to[STORE_TO_MAX + 1];     /* destination, for the masked log */
};

struct req {
	dispatch *d;                   /* its owner (the gate) */
	int provider;                  /* index in d->prov */
	int probe;                     /* this request is the circuit's probe */
	uint32_t units;                /* pacing units taken for it */
	int64_t taken_ns;              /* when (mono) */
	size_t n;                      /* messages */
	struct req_msg *msgs;          /* max_batch slots */
	struct provider_request http;  /* what was sent (body owned) */
	int busy;                      /* in flight */
	struct req *next_free;         /* free list */
};

struct prov {
	struct provider_conf conf;     /* identity, credentials */
	const struct provider_ops *ops;/* the adapter */
	struct pace_limits lim;        /* rate, burst, circuit */
	struct http_opts hopts;        /* timeouts, TLS */
	int count_segments;            /* units are segments (else messages) */
	int slot;                      /* pacing slot */
	size_t max_batch;              /* messages per request */
	uint32_t max_units;            /* units per request (see setup_provider) */
	size_t concurrency;            /* requests in flight per worker */
	size_t in_flight;              /* now */
	int64_t said_hold_ns;          /* when a hold was last logged (mono) */
	unsigned holds_unsaid;         /* holds since */
	struct req *free_reqs;         /* this provider's unused request slots */
	int64_t reservoir;             /* pace.shared: units granted, not yet spent */
	int64_t usable_ns;             /* from when they may be spent (monotonic) */
};

/* A message refused with the others of its request (PROVIDER_SPLIT): it goes
 * alone when it comes back, unless a lease passed first (another worker
 * took it). */
struct alone {
	uint64_t id;                   /* message id */
	int64_t until_ms;              /* forgotten after this (wall clock) */
};

struct pend {
	struct store_outcome o;        /* the outcome */
	char note[STORE_NOTE_MAX + 1]; /* its note (o.note points here) */
	int64_t created_ms;            /* for the delay in logs */
	char to[STORE_TO_MAX + 1];     /* for the masked log */
	const char *provider;          /* provider name (static for the run) */
	enum velocity_limit velocity;  /* failed unsent for this limit (else VELOCITY_OK) */
};

struct dispatch {
	const struct config *cfg;      /* borrowed */
	store *st;                     /* borrowed */
	pace *pace;                    /* shared pacing state */
	pace_shared *shared;           /* pace.shared: the accounts' pace across nodes, or NULL */
	int shared_down;               /* pacing on this node's share (no answer from it) */
	http *http;                    /* libcurl multi */
	struct prov prov[CONFIG_MAX_PROVIDERS]; /* in failover order */
	int n_prov;                    /* configured */
	struct store_leased *queue;    /* leased, not yet sent (ring); each text malloc'ed */
	char *lease_texts;             /* where store_lease() copies texts (then ours) */
	struct store_outcome *out;     /* DISPATCH_FLUSH_MAX: outcomes for one commit */
	int64_t **out_lease;           /* DISPATCH_FLUSH_MAX: renew: where each lease lives */
	size_t q_head, q_len, q_cap;   /* ring indexes */
	struct req *reqs_mem;          /* all request slots (each provider's own) */
	size_t n_reqs;                 /* in flight */
	struct pend *pend;             /* outcomes to commit */
	size_t n_pend;                 /* how many */
	size_t pend_cap;               /* queue_max + every request's messages */
	int64_t pend_since_ms;         /* oldest uncommitted (mono) */
	int64_t idle_until_ms;         /* nothing due: do not lease before (mono) */
	int64_t next_renew_ms;         /* next lease renewal check (mono) */
	int64_t flush_error_ms;        /* last logged commit failure (mono) */
	int64_t last_step_ms;          /* when dispatch_step() last ran (mono) */
	size_t lost_unsaid;            /* dropped by drop_lost_head(), not logged yet */
	int64_t lease_margin_ms;       /* LEASE_MARGIN_MS, at most a quarter of a lease */
	struct alone *alone;           /* ALONE_MAX: messages to send alone (unordered) */
	size_t n_alone;                /* how many */
	uint64_t rng;                  /* xorshift state for jitter */
	struct dispatch_counts counts; /* since start */
	struct counters_data *ctr;     /* this process's shard of the shared counters, or NULL */
	velocity *vel;                 /* the velocity limits (borrowed), or NULL */
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rnd(dispatch *d)
{
	uint64_t x = d->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	d->rng = x;
	return x;
}

/* Exponential backoff with full jitter: uniform in [0, min(cap, base*2^(n-1))]. */
static int64_t backoff_ms(dispatch *d, unsigned attempts)
{
	int64_t ceil_ms = d->cfg->retry_base_ms;

	for (unsigned i = 1; i < attempts && ceil_ms < d->cfg->retry_cap_ms; i++)
		ceil_ms *= 2;
	if (ceil_ms > d->cfg->retry_cap_ms)
		ceil_ms = d->cfg->retry_cap_ms;
	return (int64_t)(rnd(d) % (uint64_t)(ceil_ms + 1));
}

/* Remember message id to go alone until a lease from now (over an entry
 * forgotten already, or its own); with ALONE_MAX live ones, it is not:
 * batched again, it may be split again, at no attempt. */
static void alone_add(dispatch *d, uint64_t id, int64_t now)
{
	size_t i;

	for (i = 0; i < d->n_alone; i++)
		if (d->alone[i].id == id || d->alone[i].until_ms <= now)
			break;
	if (i == d->n_alone) {
		if (d->n_alone == ALONE_MAX)
			return;
		d->n_alone++;
	}
	d->alone[i] = (struct alone){ id, now + d->cfg->dispatch_lease_ms };
}

/* Whether message id is to go alone; with take, it is forgotten (it goes
 * now).  An entry found past its time is forgotten and says no. */
static int alone_has(dispatch *d, uint64_t id, int64_t now, int take)
{
	for (size_t i = 0; i < d->n_alone; i++) {
		int live;

		if (d->alone[i].id != id)
			continue;
		live = d->alone[i].until_ms > now;
		if (take || !live)
			d->alone[i] = d->alone[--d->n_alone];
		return live;
	}
	return 0;
}

/* Forget the entries past their time (so that an empty set costs nothing). */
static void alone_expire(dispatch *d, int64_t now)
{
	for (size_t i = 0; i < d->n_alone;)
		if (d->alone[i].until_ms <= now)
			d->alone[i] = d->alone[--d->n_alone];
		else
			i++;
}

static struct store_leased *q_at(dispatch *d, size_t i)
{
	return &d->queue[(d->q_head + i) % d->q_cap];
}

static void q_pop(dispatch *d)
{
	free(q_at(d, 0)->text);
	d->q_head = (d->q_head + 1) % d->q_cap;
	d->q_len--;
}

/* Add an outcome to the next group commit.  note may be NULL. */
static void pend_add(dispatch *d, uint64_t id, int64_t lease_until,
		     const struct store_msg_hdr *hdr, enum store_outcome_kind kind, int64_t at_ms,
		     const char *note, int provider, const char *to, int64_t created_ms)
{
	struct pend *p;

	/* Every message in hand has at most one outcome waiting: the buffer is
	 * sized for all of them (queue + requests + a renewal each). */
	if (d->n_pend == d->pend_cap)
		log_panic("dispatch: outcome buffer overflow (%zu)", d->pend_cap);
	p = &d->pend[d->n_pend];
	memset(p, 0, sizeof(*p));
	p->o.id = id;
	p->o.lease_until_ms = lease_until;
	p->o.hdr = *hdr;
	p->o.kind = kind;
	p->o.at_ms = at_ms;
	p->o.max_attempts = (uint16_t)d->cfg->retry_max_attempts;
	p->o.provider = (uint8_t)(provider < 0 ? 0 : provider);
	if (note != NULL) {
		snprintf(p->note, sizeof(p->note), "%s", note);
		p->o.note = p->note;
	}
	snprintf(p->to, sizeof(p->to), "%s", to ? to : "");
	if (kind == STORE_OUT_SENT && provider >= 0 && d->prov[provider].ops->receipts_by_to &&
	    d->prov[provider].conf.receipt_url[0] != '\0')
		p->o.receipt_to = p->to; /* its reports name it by the provider's id and number */
	p->created_ms = created_ms;
	p->provider = provider >= 0 ? d->prov[provider].conf.name : "-";
	if (d->n_pend == 0)
		d->pend_since_ms = clock_mono_ms();
	d->n_pend++;
}

/* The shared counters of a committed outcome that the store applied. */
static void count_outcome(dispatch *d, const struct store_outcome *o)
{
	struct counters_prov *cp;

	if (d->ctr == NULL)
		return;
	if (o->final_state == STORE_STATE_EXPIRED) {
		counters_add(&d->ctr->expired, 1);
		return;
	}
	if (o->provider >= d->n_prov)
		return;
	cp = &d->ctr->prov[d->prov[o->provider].slot];
	switch (o->final_state) {
	case STORE_STATE_SENT:
		counters_add(&cp->sent, 1);
		counters_add(&cp->sent_units,
			     d->prov[o->provider].count_segments && o->hdr.segments > 0
				     ? o->hdr.segments : 1);
		break;
	case STORE_STATE_FAILED:
		counters_add(&cp->failed[o->kind == STORE_OUT_FAILED ? COUNTERS_FAIL_REFUSED
								       : COUNTERS_FAIL_ATTEMPTS], 1);
		break;
	case STORE_STATE_DELAYED:
		if (o->kind == STORE_OUT_RETRY && !o->not_attempted) {
			counters_add(&cp->retries, 1);
			counters_add(&cp->ambiguous, o->ambiguous != 0);
		}
		break;
	default:
		break;
	}
}

static void log_outcome(dispatch *d, const struct pend *p, int64_t now_ms)
{
	char masked[STORE_TO_MAX + 1];
	char note[STORE_NOTE_MAX + 1];
	const struct store_outcome *o = &p->o;

	if (!o->applied) {
		if (o->kind == STORE_OUT_SENT && o->lease_lost)
			log_warn("%" PRIu64 ": provider=%s status=sent_twice reason=\"the provider "
				 "took it after this worker's lease had run out, and it was %s "
				 "already\"", o->id, p->provider,
				 o->found_state < STORE_STATE_COUNT ? store_state_name(o->found_state)
								    : "gone");
		else if (o->kind == STORE_OUT_RETRY && o->ambiguous)
			log_warn("%" PRIu64 ": provider=%s status=dropped duplicate_possible=1 "
				 "reason=\"no answer after the request left, and this worker's lease "
				 "had run out: the provider may have sent it, and another worker may "
				 "send it too\"", o->id, p->provider);
		else
			log_info("%" PRIu64 ": status=dropped reason=\"lease lost before the "
				 "outcome; not sent by this worker\"", o->id);
		return;
	}
	if (o->lease_lost && o->found_state == STORE_STATE_INFLIGHT)
		log_warn("%" PRIu64 ": provider=%s duplicate_possible=1 reason=\"the provider took "
			 "it after this worker's lease had run out, while another worker held it: "
			 "that worker may send it too\"", o->id, p->provider);
	log_mask_phone(p->to, masked, sizeof(masked));
	/* Reasons come from providers, which echo numbers back: mask them (a
	 * sent message's note is the provider's id: kept as is). */
	log_mask_numbers(o->note ? o->note : "", note, sizeof(note));
	if (p->velocity != VELOCITY_OK) {
		d->counts.velocity++;
		counters_add(d->ctr ? &d->ctr->velocity_sends_refused[p->velocity ==
								      VELOCITY_NUMBER_DAY]
				    : NULL, 1);
	} else {
		count_outcome(d, o);
	}
	switch (o->final_state) {
	case STORE_STATE_SENT:
		d->counts.sent++;
		log_info("%" PRIu64 ": to=%s provider=%s delay_ms=%" PRId64 " status=sent ref=%s", o->id,
			 masked, p->provider, now_ms - p->created_ms, o->note ? o->note : "");
		break;
	case STORE_STATE_FAILED:
		d->counts.failed++;
		log_info("%" PRIu64 ": to=%s provider=%s status=failed reason=\"%s\"", o->id, masked,
			 p->provider, note);
		break;
	case STORE_STATE_EXPIRED:
		d->counts.expired++;
		log_info("%" PRIu64 ": to=%s status=expired", o->id, masked);
		break;
	case STORE_STATE_DELAYED:
		log_info("%" PRIu64 ": to=%s provider=%s status=retry in_ms=%" PRId64
			 "%s reason=\"%s\"", o->id, masked, p->provider, o->at_ms - now_ms,
			 o->ambiguous ? " ambiguous=1" : "", note);
		break;
	default:
		break; /* released or renewed: not an event */
	}
}

/* Pending outcomes [from, from + n) were committed at now (o: what the
 * store made of them): keep that and log them. */
static void pend_committed(dispatch *d, size_t from, const struct store_outcome *o, size_t n,
			   int64_t now)
{
	log_batch_begin(); /* a line per message: a write per 4 KiB */
	for (size_t i = 0; i < n; i++) {
		d->pend[from + i].o = o[i];
		log_outcome(d, &d->pend[from + i], now);
	}
	log_batch_end();
}

/* The first done pending outcomes are committed: drop them; when ok is 0,
 * committing the rest failed: say so (at most every FLUSH_ERROR_LOG_MS),
 * they stay pending. */
static void pend_drop(dispatch *d, size_t done, int ok)
{
	if (!ok && clock_mono_ms() - d->flush_error_ms >= FLUSH_ERROR_LOG_MS) {
		log_error("dispatch: recording %zu outcomes failed (kept, retrying): %s",
			  d->n_pend - done, store_errmsg(d->st));
		d->flush_error_ms = clock_mono_ms();
	}
	if (done == d->n_pend) {
		d->n_pend = 0;
		return;
	}
	memmove(d->pend, d->pend + done, (d->n_pend - done) * sizeof(*d->pend));
	d->n_pend -= done;
	d->pend_since_ms = clock_mono_ms();
}

/* Commit pending outcomes, DISPATCH_FLUSH_MAX per transaction.  Returns 0,
 * or 1 when the store failed: what was not committed stays pending and is
 * tried again at the next flush.  Never gives up on them: exiting would let
 * the leases of messages already sent run out, and send them twice. */
static int flush(dispatch *d)
{
	struct store_outcome *o = d->out;
	size_t done = 0;

	while (done < d->n_pend) {
		size_t n = d->n_pend - done < DISPATCH_FLUSH_MAX ? d->n_pend - done : DISPATCH_FLUSH_MAX;
		int64_t now = clock_wall_ms();

		for (size_t i = 0; i < n; i++)
			o[i] = d->pend[done + i].o;
		int64_t t0 = clock_mono_ns();

		if (store_finish(d->st, o, n, now) != STORE_OK) {
			pend_drop(d, done, 0);
			return 1;
		}
		counters_observe(d->ctr ? &d->ctr->commit_outcome : NULL, clock_mono_ns() - t0);
		pend_committed(d, done, o, n, now);
		done += n;
	}
	pend_drop(d, done, 1);
	return 0;
}

/* Whether the lease of a message in hand still has the margin a request
 * needs to leave under it (now: wall clock). */
static int lease_holds(const dispatch *d, int64_t lease_until_ms, int64_t now)
{
	return lease_until_ms - now > d->lease_margin_ms;
}

/* The gate of every request (http_set_gate): it leaves only while each of
 * its messages is still ours.  A worker stopped (SIGSTOP, a frozen VM)
 * between handing a request over and libcurl writing it finds out here,
 * when it runs again, after other workers may have sent those messages. */
static int req_may_leave(void *user)
{
	struct req *r = user;
	int64_t now = clock_wall_ms();

	for (size_t i = 0; i < r->n; i++)
		if (!lease_holds(r->d, r->msgs[i].lease_until_ms, now))
			return 0;
	/* Leaving late (a stall since its tokens were taken): the requests
	 * after it keep their spacing at the provider. */
	struct prov *p = &r->d->prov[r->provider];

	int64_t now_ns = clock_mono_ns();

	pace_late(r->d->pace, p->slot, &p->lim, r->units, r->taken_ns, now_ns);
	if (r->d->shared != NULL && !r->d->shared_down && now_ns - r->taken_ns > PACE_LATE_NS)
		(void)pace_shared_late(r->d->shared, p->conf.name,
				       pace_effective(r->d->pace, p->slot, &p->lim, now_ns).units_per_s,
				       r->units);
	return 1;
}

/* ---- set-up --------------------------------------------------------------- */

/* Units per request under lim: GCRA lets a request of n units go (B - n)
 * intervals before its turn.  n = B would leave no slack, so every
 * millisecond the loop wakes late would be lost for good; n <= B - slack
 * keeps the provider busy at exactly its limit despite wake-up jitter. */
static uint32_t units_cap(const struct pace_limits *lim)
{
	int64_t t_ns = (int64_t)(1e9 / lim->units_per_s);
	uint32_t slack = (uint32_t)((PACE_SLACK_NS + t_ns - 1) / (t_ns > 0 ? t_ns : 1));
	uint32_t fits = pace_max_units(lim);

	return fits > slack ? fits - slack : 1;
}

/* A hash of what reaches the provider (type, URL, account, credentials,
 * sender, TLS settings): a process set up with another one ends a
 * misconfiguration found with the old (pace_config()). */
static uint64_t conf_hash(const struct config_provider *c)
{
	char tls[16];
	const char *parts[] = { c->type, c->conf.base_url, c->conf.account, c->conf.token,
				c->conf.sender, c->ca_file, tls };

	snprintf(tls, sizeof(tls), "%ld", c->tls_verify);
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		for (const char *q = parts[i]; q != NULL && *q; q++)
			h = (h ^ (unsigned char)*q) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

/* What provider c of the configuration is to dispatch (p: its adapter,
 * limits, HTTP options, batch and concurrency), without its pacing slot.
 * Returns 0, or -1 with err set. */
static int build_provider(const struct config_provider *c, struct prov *p, char *err,
			  size_t errlen)
{
	enum provider_kind kind;

	if (provider_kind_parse(c->type, &kind) != 0) {
		snprintf(err, errlen, "provider %s: unknown type %s", c->conf.name, c->type);
		return -1;
	}
	p->conf = c->conf;
	p->conf.kind = kind;
	p->ops = provider_ops_for(kind);
	p->count_segments = strcmp(c->count, "auto") == 0 ? p->ops->count_segments
							 : strcmp(c->count, "segments") == 0;
	p->lim.units_per_s = (double)c->rate_per_s;
	p->lim.burst = c->burst >= 0 ? (uint32_t)c->burst
				     : (uint32_t)(c->rate_per_s / BURST_DIVISOR > 0
							  ? c->rate_per_s / BURST_DIVISOR
							  : 1);
	p->lim.requests_per_s = (double)c->requests_per_s;
	p->lim.circuit_failures = (uint32_t)c->circuit_failures;
	p->lim.circuit_open_ms = (uint32_t)c->circuit_open_ms;
	p->lim.probe_timeout_ms = (uint32_t)(c->timeout_ms + PROBE_GRACE_MS);
	p->hopts.connect_timeout_ms = c->connect_timeout_ms;
	p->hopts.timeout_ms = c->timeout_ms;
	p->hopts.tls_verify = (int)c->tls_verify;
	p->hopts.ca_file = c->ca_file;
	p->max_batch = c->max_batch > 0 && (size_t)c->max_batch < p->ops->max_batch
			       ? (size_t)c->max_batch
			       : p->ops->max_batch;
	p->max_units = units_cap(&p->lim);
	if (!p->count_segments && p->max_batch > p->max_units)
		p->max_batch = p->max_units;
	p->concurrency = (size_t)c->concurrency;
	return 0;
}

static int setup_provider(dispatch *d, int i, char *err, size_t errlen)
{
	const struct config_provider *c = &d->cfg->providers[i];
	struct prov *p = &d->prov[i];

	if (build_provider(c, p, err, errlen) != 0)
		return -1;
	p->slot = pace_slot(d->pace, p->conf.name);
	if (p->slot < 0) {
		snprintf(err, errlen, "provider %s: no pacing slot left", c->conf.name);
		return -1;
	}
	pace_publish_limits(d->pace, p->slot, &p->lim);
	pace_config(d->pace, p->slot, conf_hash(c));
	return 0;
}

/* Whether name has a slot in the pacing file (views: its n named slots). */
static int has_slot(const struct pace_view *views, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(views[i].name, name) == 0)
			return 1;
	return 0;
}

int dispatch_check(const struct config *cfg, char *err, size_t errlen)
{
	struct pace_view views[PACE_MAX_SLOTS];
	int named;

	if (cfg->n_providers == 0)
		return 0;
	for (int i = 0; i < cfg->n_providers; i++) {
		struct prov p;

		memset(&p, 0, sizeof(p));
		if (build_provider(&cfg->providers[i], &p, err, errlen) != 0)
			return -1;
	}
	/* A provider new to the pacing file needs a free slot. */
	named = pace_list(cfg->store_dir, views, PACE_MAX_SLOTS);
	if (named < 0) {
		snprintf(err, errlen, "%s/pacing: cannot be read", cfg->store_dir);
		return -1;
	}
	for (int i = 0, free_slots = PACE_MAX_SLOTS - named; i < cfg->n_providers; i++) {
		const char *name = cfg->providers[i].conf.name;

		if (has_slot(views, named, name))
			continue;
		if (free_slots-- == 0) {
			snprintf(err, errlen, "provider %s: no pacing slot left (%d providers "
				 "have been paced in %s)", name, PACE_MAX_SLOTS, cfg->store_dir);
			return -1;
		}
	}
	return 0;
}

dispatch *dispatch_new(const struct config *cfg, store *st, char *err, size_t errlen)
{
	dispatch *d = xcalloc(1, sizeof(*d));
	size_t total_reqs = 0;

	d->cfg = cfg;
	d->st = st;
	d->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)clock_wall_ms() ^ 0x9e3779b97f4a7c15ULL;
	d->n_prov = cfg->n_providers;
	if (d->n_prov == 0)
		return d;
	d->pace = pace_open(cfg->store_dir, err, errlen);
	if (d->pace == NULL)
		goto fail;
	if (cfg->pace_shared[0] != '\0') {
		d->shared = pace_shared_new(cfg->pace_shared, cfg->pace_shared_password,
					    (int)cfg->pace_shared_timeout_ms, err, errlen);
		if (d->shared == NULL)
			goto fail;
	}
	d->http = http_new(err, errlen);
	if (d->http == NULL)
		goto fail;
	for (int i = 0; i < d->n_prov; i++) {
		if (setup_provider(d, i, err, errlen) != 0)
			goto fail;
		total_reqs += d->prov[i].concurrency;
	}
	if (http_set_max_connections(d->http, total_reqs, err, errlen) != 0)
		goto fail;
	d->q_cap = dispatch_queue_cap(cfg->dispatch_queue_max, d->prov[0].lim.units_per_s,
				      cfg->dispatch_lease_ms, d->prov[0].max_batch);
	d->queue = xcalloc(d->q_cap, sizeof(*d->queue));
	d->lease_texts = xmalloc(DISPATCH_LEASE_TEXTS);
	d->out = xcalloc(DISPATCH_FLUSH_MAX, sizeof(*d->out));
	d->out_lease = xcalloc(DISPATCH_FLUSH_MAX, sizeof(*d->out_lease));
	d->pend_cap = d->q_cap;
	for (int i = 0; i < d->n_prov; i++)
		d->pend_cap += d->prov[i].concurrency * d->prov[i].max_batch;
	d->pend = xcalloc(d->pend_cap, sizeof(*d->pend));
	d->reqs_mem = xcalloc(total_reqs, sizeof(*d->reqs_mem));
	d->alone = xcalloc(ALONE_MAX, sizeof(*d->alone));
	d->lease_margin_ms = cfg->dispatch_lease_ms / 4 < LEASE_MARGIN_MS
				     ? cfg->dispatch_lease_ms / 4
				     : LEASE_MARGIN_MS;
	http_set_gate(d->http, req_may_leave);
	for (size_t i = 0, k = 0; i < (size_t)d->n_prov; i++) {
		for (size_t j = 0; j < d->prov[i].concurrency; j++, k++) {
			struct req *r = &d->reqs_mem[k];

			r->d = d;
			r->provider = (int)i;
			r->msgs = xcalloc(d->prov[i].max_batch, sizeof(*r->msgs));
			r->next_free = d->prov[i].free_reqs;
			d->prov[i].free_reqs = r;
		}
	}
	return d;
fail:
	dispatch_destroy(&d);
	return NULL;
}

void dispatch_destroy(dispatch **dp)
{
	dispatch *d;
	size_t total = 0;

	if (dp == NULL || *dp == NULL)
		return;
	d = *dp;
	http_destroy(&d->http);
	for (int i = 0; i < d->n_prov; i++)
		total += d->prov[i].concurrency;
	for (size_t k = 0; d->reqs_mem != NULL && k < total; k++) {
		free(d->reqs_mem[k].msgs);
		provider_request_clear(&d->reqs_mem[k].http);
	}
	free(d->reqs_mem);
	while (d->queue != NULL && d->q_len > 0)
		q_pop(d);
	free(d->queue);
	free(d->lease_texts);
	free(d->out);
	free(d->out_lease);
	free(d->pend);
	free(d->alone);
	for (int i = 0; d->ctr != NULL && i < d->n_prov; i++)
		counters_set(&d->ctr->prov[d->prov[i].slot].shared_down, 0);
	pace_shared_destroy(&d->shared);
	pace_close(&d->pace);
	free(d);
	*dp = NULL;
}

/* ---- answers -------------------------------------------------------------- */

#define BATCH_MAX 1000 /* config caps max_batch at 1000 */

/* Give a finished request's slot back. */
static void req_done(dispatch *d, struct req *r)
{
	struct prov *p = &d->prov[r->provider];

	provider_request_clear(&r->http);
	r->busy = 0;
	p->in_flight--;
	d->n_reqs--;
	r->next_free = p->free_reqs;
	p->free_reqs = r;
}

/* A request the gate held back: nothing left, the provider is not to
 * blame.  Its messages go back to ready where they are still ours (the
 * store drops the others: their leases ran out, other workers send them);
 * the tokens go back to the pace. */
static void withheld(dispatch *d, struct req *r)
{
	struct prov *p = &d->prov[r->provider];

	for (size_t i = 0; i < r->n; i++)
		pend_add(d, r->msgs[i].id, r->msgs[i].lease_until_ms, &r->msgs[i].hdr,
			 STORE_OUT_RELEASE, 0, NULL, r->provider, r->msgs[i].to,
			 r->msgs[i].created_ms);
	pace_refund(d->pace, p->slot, &p->lim, r->units);
	if (d->shared != NULL && !d->shared_down)
		p->reservoir += r->units; /* not sent: spent later */
	if (r->probe)
		pace_probe_cancel(d->pace, p->slot);
	d->counts.withheld += r->n;
	log_warn("provider %s: a request of %zu message(s) held back before it left: a lease "
		 "had run out (was this worker stopped?); other workers send what is no longer "
		 "ours", p->conf.name, r->n);
	req_done(d, r);
}

/* How a request's answer speaks of the provider (on_done()). */
struct verdict {
	int sent;                      /* the provider took a message */
	int misconfigured;             /* our configuration: park the provider */
	int throttled;                 /* a throttling answer: cut the rate */
	int hold;                      /* throttled or unavailable: hold the provider */
	int64_t retry_after_ms;        /* the longest Retry-After said (-1: none) */
	const char *reason;            /* the first such message's reason */
};

static void judge(const struct provider_result *res, size_t n, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->retry_after_ms = -1;
	for (size_t i = 0; i < n; i++) {
		switch (res[i].status) {
		case PROVIDER_SENT:
			v->sent = 1;
			break;
		case PROVIDER_MISCONFIGURED:
			if (!v->misconfigured)
				v->reason = res[i].reason;
			v->misconfigured = 1;
			break;
		case PROVIDER_THROTTLED:
			v->throttled = 1;
			__attribute__((fallthrough));
		case PROVIDER_UNAVAILABLE:
			v->hold = 1;
			if (res[i].retry_after_ms > v->retry_after_ms)
				v->retry_after_ms = res[i].retry_after_ms;
			break;
		default:
			break;
		}
	}
	/* As long as a Retry-After header is honoured, however long an
	 * adapter passed on (a webhook body's retry_after_ms may say 2^62 ms). */
	if (v->retry_after_ms > PROVIDER_RETRY_AFTER_MAX_MS)
		v->retry_after_ms = PROVIDER_RETRY_AFTER_MAX_MS;
}

/* The circuit, the adaptive rate, a misconfiguration and the holds, from
 * one request's answer.  Returns the end of the hold it starts (mono ns;
 * 0: none). */
static int64_t heed(dispatch *d, struct req *r, const struct provider_response *resp,
		    const struct verdict *v, int64_t now_ns)
{
	struct prov *p = &d->prov[r->provider];
	/* The provider answered like a working service (even a 4xx or a 429):
	 * that closes its circuit; 5xx and transport failures count against it. */
	int healthy = resp->transport == PROVIDER_T_OK && resp->status < 500;
	int64_t hold_until = 0;
	double rate;

	if (v->misconfigured) {
		if (pace_misconfigured(d->pace, p->slot, v->reason, r->probe, now_ns))
			log_warn("provider %s: misconfigured (%s): only a probe goes now and then until "
				 "it answers otherwise%s; messages wait, their attempts not counted",
				 p->conf.name, v->reason,
				 d->n_prov > 1 ? ", traffic goes to the next provider" : "");
	} else {
		int was_misconf = pace_is_misconfigured(d->pace, p->slot);
		int parked = pace_circuit_state(d->pace, p->slot, now_ns) != PACE_CLOSED;
		int opened = pace_result(d->pace, p->slot, &p->lim, healthy, r->probe, now_ns);
		const char *why = resp->transport != PROVIDER_T_OK
					  ? (resp->error ? resp->error : "transport")
					  : "http 5xx";

		if (opened && r->probe)
			log_warn("provider %s: probe failed (%s), circuit open again", p->conf.name,
				 why);
		else if (opened)
			log_warn("provider %s: circuit open: nothing but failures for a second, or "
				 "half of its answers lately (%s)", p->conf.name, why);
		/* The account's other nodes leave it alone as long (they do not
		 * probe: this node does). */
		if (opened && d->shared != NULL && !d->shared_down)
			(void)pace_shared_hold(d->shared, p->conf.name,
					       (int64_t)p->lim.circuit_open_ms * MS_NS);
		if (r->probe && healthy && was_misconf)
			log_info("provider %s: probe answered otherwise: its configuration works, "
				 "sending again", p->conf.name);
		else if (r->probe && healthy && parked)
			log_info("provider %s: probe answered, circuit closed", p->conf.name);
	}
	if (v->sent)
		pace_accepted(d->pace, p->slot, now_ns);
	if (healthy && !v->hold && !v->misconfigured)
		pace_hold_end(d->pace, p->slot);
	if (v->throttled && pace_throttled(d->pace, p->slot, &p->lim, r->taken_ns, now_ns, &rate))
		log_info("provider %s: throttled: pacing it at %.1f/s (limit %.1f/s)", p->conf.name,
			 rate, p->lim.units_per_s);
	if (v->hold) {
		if (v->retry_after_ms >= 0) {
			hold_until = now_ns + v->retry_after_ms * MS_NS;
			pace_block(d->pace, p->slot, hold_until);
		} else {
			hold_until = pace_unavailable(d->pace, p->slot, now_ns);
		}
		/* The account's other nodes hold too (a failure here is the
		 * next take's to find). */
		if (d->shared != NULL && !d->shared_down)
			(void)pace_shared_hold(d->shared, p->conf.name, hold_until - now_ns);
		/* Said at most once a second, with how many holds since. */
		p->holds_unsaid++;
		if (now_ns - p->said_hold_ns >= PACE_SAY_NS) {
			log_info("provider %s: %s, holding for %" PRId64 " ms (%u hold(s) in %" PRId64
				 " ms)", p->conf.name, v->throttled ? "throttled" : "unavailable",
				 (int64_t)((hold_until - now_ns) / MS_NS), p->holds_unsaid,
				 p->said_hold_ns ? (int64_t)((now_ns - p->said_hold_ns) / MS_NS) : 0);
			p->said_hold_ns = now_ns;
			p->holds_unsaid = 0;
		}
	}
	return hold_until;
}

/* The shared counters of an answered request: its class, its time, and
 * what it said of each message before any commit (throttled, unavailable,
 * misconfigured: the store records these as retries, or not at all). */
static void count_request(dispatch *d, const struct req *r, const struct provider_response *resp,
			  const struct provider_result *res, int64_t now_ns)
{
	struct counters_prov *cp;
	enum counters_http cls;

	if (d->ctr == NULL)
		return;
	cp = &d->ctr->prov[d->prov[r->provider].slot];
	if (resp->transport == PROVIDER_T_NOT_SENT)
		cls = COUNTERS_HTTP_ERROR;
	else if (resp->transport != PROVIDER_T_OK)
		cls = COUNTERS_HTTP_TIMEOUT;
	else if (resp->status == 429)
		cls = COUNTERS_HTTP_429;
	else if (resp->status >= 500)
		cls = COUNTERS_HTTP_5XX;
	else if (resp->status >= 400)
		cls = COUNTERS_HTTP_4XX;
	else if (resp->status >= 300)
		cls = COUNTERS_HTTP_3XX;
	else
		cls = COUNTERS_HTTP_2XX;
	counters_add(&cp->requests[cls], 1);
	counters_observe(&cp->response, now_ns - r->taken_ns);
	for (size_t i = 0; i < r->n; i++) {
		counters_add(&cp->throttled, res[i].status == PROVIDER_THROTTLED);
		counters_add(&cp->unavailable, res[i].status == PROVIDER_UNAVAILABLE);
		counters_add(&cp->misconfigured, res[i].status == PROVIDER_MISCONFIGURED);
	}
}

static void on_done(dispatch *d, struct req *r, const struct provider_response *resp)
{
	struct prov *p = &d->prov[r->provider];
	struct provider_msg pm[BATCH_MAX];
	struct provider_result res[BATCH_MAX];
	struct verdict v;
	int64_t now = clock_wall_ms();
	int64_t now_ns = clock_mono_ns();
	int64_t hold_until;

	if (resp->transport == PROVIDER_T_WITHHELD) {
		withheld(d, r);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		memset(&pm[i], 0, sizeof(pm[i]));
		pm[i].id = r->msgs[i].id;
		pm[i].ref = r->msgs[i].ref;
		pm[i].to = r->msgs[i].to;
		pm[i].text = "";
		pm[i].segments = r->msgs[i].hdr.segments;
		memset(&res[i], 0, sizeof(res[i]));
	}
	p->ops->parse(&p->conf, resp, pm, r->n, res);
	count_request(d, r, resp, res, now_ns);
	judge(res, r->n, &v);
	hold_until = heed(d, r, resp, &v, now_ns);
	if (r->n > 1 && res[0].status == PROVIDER_SPLIT) {
		char reason[PROVIDER_REASON_MAX];

		log_info("provider %s: a request of %zu messages refused as a whole (%s): each goes "
			 "again in a request of its own", p->conf.name, r->n,
			 log_mask_numbers(res[0].reason, reason, sizeof(reason)));
	}

	for (size_t i = 0; i < r->n; i++) {
		const struct req_msg *m = &r->msgs[i];
		const struct provider_result *x = &res[i];
		int64_t at;

		switch (x->status) {
		case PROVIDER_SENT:
			pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_SENT, 0,
				 x->provider_id, r->provider, m->to, m->created_ms);
			break;
		case PROVIDER_FAILED:
			pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_FAILED, 0, x->reason,
				 r->provider, m->to, m->created_ms);
			break;
		case PROVIDER_MISCONFIGURED:
			/* Not the message's doing: back to ready as it was (a probe's
			 * message after the next probe, so that the next probe takes
			 * another: a message the provider refuses this way for
			 * itself cannot keep it parked).  No attempt either way. */
			d->counts.parked++;
			if (r->probe) {
				pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_RETRY,
					 now + (int64_t)PACE_MISCONF_MAX_S * 1000, x->reason, r->provider,
					 m->to, m->created_ms);
				d->pend[d->n_pend - 1].o.not_attempted = 1;
			} else {
				pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_RELEASE, 0,
					 NULL, r->provider, m->to, m->created_ms);
			}
			break;
		case PROVIDER_SPLIT:
			if (r->n > 1) {
				/* Refused with the others, maybe for one of theirs:
				 * nothing was sent.  Back to ready untouched, to go
				 * alone when it comes back. */
				d->counts.split++;
				alone_add(d, m->id, now);
				pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_RELEASE, 0,
					 NULL, r->provider, m->to, m->created_ms);
				break;
			}
			/* Alone, the refusal is its own (an adapter never splits a
			 * request of one message). */
			pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_FAILED, 0, x->reason,
				 r->provider, m->to, m->created_ms);
			break;
		case PROVIDER_THROTTLED:
		case PROVIDER_UNAVAILABLE:
			/* The provider did not look at it: no attempt, retried when
			 * the hold ends. */
			d->counts.throttled += x->status == PROVIDER_THROTTLED;
			d->counts.retried++;
			at = now + (hold_until > now_ns ? (hold_until - now_ns + MS_NS - 1) / MS_NS : 0);
			pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_RETRY, at, x->reason,
				 r->provider, m->to, m->created_ms);
			d->pend[d->n_pend - 1].o.not_attempted = 1;
			break;
		default:
			at = now + backoff_ms(d, m->attempts);
			d->counts.retried++;
			pend_add(d, m->id, m->lease_until_ms, &m->hdr, STORE_OUT_RETRY, at, x->reason,
				 r->provider, m->to, m->created_ms);
			d->pend[d->n_pend - 1].o.ambiguous = x->ambiguous;
			break;
		}
	}
	req_done(d, r);
}

static void collect(dispatch *d)
{
	struct provider_response resp;
	void *user;
	http_xfer *x;

	while ((x = http_next_done(d->http, &user, &resp)) != NULL) {
		on_done(d, user, &resp);
		http_release(d->http, x);
	}
}

/* ---- sending ---------------------------------------------------------------- */

/* The first provider that may take a request now: circuit closed (or this
 * caller holds the probe) and a free request slot.  -1 if none. */
static int pick_provider(dispatch *d, int64_t now_ns, int *probe, int *any_usable)
{
	*any_usable = 0;
	for (int i = 0; i < d->n_prov; i++) {
		struct prov *p = &d->prov[i];
		enum pace_circuit c = pace_circuit_state(d->pace, p->slot, now_ns);

		if (c == PACE_OPEN || pace_paused(d->pace, p->slot))
			continue;
		*any_usable = 1;
		if (p->in_flight >= p->concurrency)
			return -1; /* usable but busy: do not spill over to a lower one */
		if (c == PACE_CLOSED) {
			*probe = 0;
			return i;
		}
		/* Open period over: one request, pool-wide, goes as the probe. */
		if (pace_circuit_check(d->pace, p->slot, &p->lim, now_ns) == PACE_PROBE) {
			*probe = 1;
			return i;
		}
	}
	return -1;
}

/* Keep the queued messages keep() says yes to, in order. */
static void q_filter(dispatch *d, int (*keep)(dispatch *d, struct store_leased *l, void *arg),
		     void *arg)
{
	size_t kept = 0;

	for (size_t i = 0; i < d->q_len; i++) {
		struct store_leased *l = q_at(d, i);

		if (!keep(d, l, arg)) {
			free(l->text);
			continue;
		}
		if (kept != i)
			*q_at(d, kept) = *l;
		kept++;
	}
	d->q_len = kept;
}

static int keep_unexpired(dispatch *d, struct store_leased *l, void *arg)
{
	int64_t now = *(const int64_t *)arg;

	if (l->hdr.expires_ms > now)
		return 1;
	pend_add(d, l->id, l->lease_until_ms, &l->hdr, STORE_OUT_EXPIRED, 0, NULL, -1, l->to,
		 l->created_ms);
	return 0;
}

/* Expire queued messages whose time is past (anywhere in the queue: it is
 * in urgency order, not expiry order). */
static void expire_queued(dispatch *d, int64_t now)
{
	q_filter(d, keep_unexpired, &now);
}

/* Give every queued message back (no provider can take them now). */
static void release_queue(dispatch *d)
{
	while (d->q_len > 0) {
		struct store_leased *l = q_at(d, 0);

		pend_add(d, l->id, l->lease_until_ms, &l->hdr, STORE_OUT_RELEASE, 0, NULL, -1, l->to,
			 l->created_ms);
		q_pop(d);
	}
}

/* Drop the messages at the head of the queue that are no longer ours to
 * send: their leases ran out (renew() could not extend them in time: the
 * worker was stopped, or the store failed), or will before a request could
 * leave under them.  Other workers take them; no outcome is recorded (it
 * could not apply).  dispatch_step() says how many. */
static void drop_lost_head(dispatch *d, int64_t now)
{
	while (d->q_len > 0 && !lease_holds(d, q_at(d, 0)->lease_until_ms, now)) {
		q_pop(d);
		d->counts.lost++;
		d->lost_unsaid++;
	}
}

/* Pacing units of queued message l at provider p: its SMS parts, or 1. */
static uint32_t units_of(const struct prov *p, const struct store_leased *l)
{
	return p->count_segments && l->hdr.segments > 0 ? l->hdr.segments : 1;
}

/* Whether text[0..len) goes as UCS-2 (what ingest found: text/gsm.h). */
static int is_ucs2(const char *text, size_t len)
{
	struct gsm_info gi;

	return gsm_analyze(text, len, &gi) == 0 && gi.encoding == GSM_UCS2;
}

/* ---- pace.shared ---------------------------------------------------------
 *
 * With pace.shared, a request's units come from the account's state in
 * Redis (store/pace_shared.h) as well as from this node's pacing file: the
 * node's GCRA spreads its own sends, the account's keeps every node
 * together under the limit.  One round trip per request (a batch of up to
 * 100 messages for a batching API, one message for the others): the
 * request's units are taken as they are, or, when the account has none
 * now, reserved for the time it will (up to DISPATCH_SHARED_AHEAD_S ahead);
 * the process waits for that time and sends, without asking again, and the
 * processes that wait together are each given their own time.  The
 * account's tolerance in Redis is the node's (the burst less
 * PACE_JITTER_NS of the rate, held back for the jitter of arrivals), and a
 * request is never larger than it; a request that leaves late pushes the
 * account's next units after it (pace_shared_late(), beside pace_late()):
 * so the provider's busiest second stays within the limit and the burst as
 * with one node.  Units granted and not
 * spent (a request that did not go) serve the next request.  When the
 * server does not answer, the node paces on its share
 * (pace.shared_fallback_percent of the limit) until an answer comes again,
 * tried every PACE_SHARED_RETRY_MS; both changes are logged and the state
 * is a gauge (counters shared_down). */

#define DISPATCH_SHARED_AHEAD_S 0.5 /* units are reserved at most this far ahead */

/* The limits this node paces p at on its own: its share of the account. */
static struct pace_limits share_of(const dispatch *d, const struct prov *p)
{
	struct pace_limits s = p->lim;
	double f = (double)d->cfg->pace_shared_fallback_percent / 100.0;

	s.units_per_s *= f;
	s.burst = (uint32_t)((double)s.burst * f);
	if (s.requests_per_s > 0)
		s.requests_per_s *= f;
	return s;
}

static void shared_state(dispatch *d, struct prov *p, int down)
{
	if (down == d->shared_down)
		return;
	d->shared_down = down;
	if (down)
		log_warn("pace.shared: %s: no answer (%s): pacing provider %s at %ld %% of its "
			 "limit until it answers", d->cfg->pace_shared, pace_shared_error(d->shared),
			 p->conf.name, d->cfg->pace_shared_fallback_percent);
	else
		log_info("pace.shared: %s answers again: pacing with the other nodes",
			 d->cfg->pace_shared);
	for (int i = 0; d->ctr != NULL && i < d->n_prov; i++)
		counters_set(&d->ctr->prov[d->prov[i].slot].shared_down, (uint64_t)down);
}

/* Make p's reservoir hold units: 0 when it does and they may go now (or
 * the server is down: the node's share then), else ns to wait.  full: p's
 * effective limits now, when the caller has them (else NULL). */
static int64_t shared_reserve(dispatch *d, struct prov *p, const struct pace_limits *full,
			      uint32_t units, int64_t now_ns)
{
	struct pace_limits e;
	double tol;
	int64_t got, wait = 0, need;
	uint64_t trips = pace_shared_round_trips(d->shared);

	if (p->reservoir > 0 && now_ns - p->usable_ns > (int64_t)1000000000)
		p->reservoir = 0; /* a second old: spent now, they would be a burst */
	if (p->reservoir >= (int64_t)units)
		return p->usable_ns > now_ns ? p->usable_ns - now_ns : 0;
	e = full != NULL ? *full : pace_effective(d->pace, p->slot, &p->lim, now_ns);
	tol = (double)e.burst - 1.0 - e.units_per_s * ((double)PACE_JITTER_NS / 1e9);
	need = (int64_t)units - p->reservoir;
	got = pace_shared_take(d->shared, p->conf.name, e.units_per_s, tol > 0 ? tol : 0,
			       (uint32_t)need, (uint32_t)need,
			       (int64_t)(DISPATCH_SHARED_AHEAD_S * 1e9), &wait);
	if (d->ctr != NULL) {
		struct counters_prov *cp = &d->ctr->prov[p->slot];

		/* what went to the server (none while it is left alone) */
		counters_add(&cp->shared_trips, pace_shared_round_trips(d->shared) - trips);
		counters_add(&cp->shared_units, got > 0 ? (uint64_t)got : 0);
	}
	if (got == PACE_SHARED_DOWN) {
		shared_state(d, p, 1);
		p->reservoir = 0; /* taken with the others: not the node's own */
		return 0;
	}
	shared_state(d, p, 0);
	if (got > 0) {
		if (p->reservoir == 0 || now_ns + wait > p->usable_ns)
			p->usable_ns = now_ns + wait;
		p->reservoir += got;
	}
	if (p->reservoir >= (int64_t)units)
		return p->usable_ns > now_ns ? p->usable_ns - now_ns : 0;
	return wait > 0 ? wait : 1;
}

/* Start one request to provider pi from the head of the queue.  Returns 0
 * started, >0 ns to wait for pacing tokens, -1 nothing to send. */
static int64_t send_one(dispatch *d, int pi, int probe, int64_t now_ns)
{
	struct prov *p = &d->prov[pi];
	struct pace_limits share = d->shared != NULL ? share_of(d, p) : p->lim;
	struct provider_msg pm[BATCH_MAX];
	char refs[BATCH_MAX][PROVIDER_REF_MAX];
	uint32_t units = 0;
	size_t n = 0;
	char err[256];
	struct req *r;
	int64_t wait;

	int64_t now = clock_wall_ms();

	drop_lost_head(d, now);
	if (d->q_len == 0) {
		if (probe)
			pace_probe_cancel(d->pace, p->slot); /* someone may probe later */
		return -1;
	}
	/* A batch: up to max_batch messages (one for a probe), and no more
	 * units than the bucket holds at the effective rate, but always at
	 * least one message; it ends before a message whose lease does not
	 * hold (dropped next), and before one to go alone (which goes alone
	 * when it heads the queue). */
	struct pace_limits eff = pace_effective(d->pace, p->slot, d->shared_down ? &share : &p->lim,
						now_ns);
	uint32_t max_units = units_cap(&eff);
	size_t max_n = probe ? 1 : p->max_batch;
	int solo = 0;

	if (d->n_alone > 0)
		alone_expire(d, now);
	while (n < d->q_len && n < max_n) {
		const struct store_leased *l = q_at(d, n);
		uint32_t u = units_of(p, l);

		if (n > 0 && (units + u > max_units || !lease_holds(d, l->lease_until_ms, now)))
			break;
		if (d->n_alone > 0 && alone_has(d, l->id, now, 0)) {
			if (n == 0) {
				units = u;
				n = solo = 1;
			}
			break;
		}
		units += u;
		n++;
	}
	if (p->ops->distinct_to && n > 1) {
		/* A destination once per request: the batch ends before a
		 * repeat, which heads the next one. */
		for (size_t i = 0; i < n; i++)
			pm[i].to = q_at(d, i)->to;
		for (size_t keep = provider_distinct_prefix(pm, n); n > keep; n--)
			units -= units_of(p, q_at(d, n - 1));
	}
	wait = d->shared != NULL
		       ? shared_reserve(d, p, d->shared_down ? NULL : &eff, units, now_ns)
		       : 0;
	if (wait <= 0)
		wait = pace_take(d->pace, p->slot, d->shared_down ? &share : &p->lim, units, now_ns);
	if (wait > 0) {
		if (probe)
			pace_probe_cancel(d->pace, p->slot); /* someone may probe later */
		return wait;
	}
	if (d->shared != NULL && !d->shared_down)
		p->reservoir -= units;
	if (solo)
		(void)alone_has(d, q_at(d, 0)->id, now, 1); /* going now: forgotten */
	r = p->free_reqs;
	p->free_reqs = r->next_free;
	r->probe = probe;
	r->units = units;
	r->taken_ns = now_ns;
	r->n = n;
	for (size_t i = 0; i < n; i++) {
		const struct store_leased *l = q_at(d, i);
		struct req_msg *m = &r->msgs[i];

		snprintf(refs[i], sizeof(refs[i]), PROVIDER_REF_PREFIX "%" PRIu64, l->id);
		m->id = l->id;
		m->lease_until_ms = l->lease_until_ms;
		m->hdr = l->hdr;
		m->created_ms = l->created_ms;
		m->attempts = l->attempts;
		memcpy(m->ref, refs[i], sizeof(m->ref));
		memcpy(m->to, l->to, sizeof(m->to));
		pm[i].id = l->id;
		pm[i].ref = m->ref;
		pm[i].to = l->to;
		pm[i].text = l->text;
		pm[i].segments = l->hdr.segments;
		pm[i].ucs2 = p->ops->needs_encoding && is_ucs2(l->text, l->text_len);
	}
	memset(&r->http, 0, sizeof(r->http));
	int built = p->ops->build(&p->conf, pm, n, &r->http, err, sizeof(err)) == 0;
	if (!built || http_start(d->http, &r->http, &p->hopts, r, err, sizeof(err)) != 0) {
		log_error("provider %s: request not sent: %s", p->conf.name, err);
		d->counts.not_built++;
		/* Nothing left: give the tokens and the slot back.  A message the
		 * API cannot carry (found by building it alone) fails for good;
		 * the others go back to ready, not attempted. */
		for (size_t i = 0; i < n; i++) {
			struct provider_request one;
			int bad = 0;

			if (!built) {
				memset(&one, 0, sizeof(one));
				bad = n == 1 || p->ops->build(&p->conf, &pm[i], 1, &one, err,
							      sizeof(err)) != 0;
				provider_request_clear(&one);
			}
			pend_add(d, r->msgs[i].id, r->msgs[i].lease_until_ms, &r->msgs[i].hdr,
				 bad ? STORE_OUT_FAILED : STORE_OUT_RELEASE, 0, bad ? err : NULL, pi,
				 r->msgs[i].to, r->msgs[i].created_ms);
		}
		provider_request_clear(&r->http);
		pace_refund(d->pace, p->slot, &p->lim, units);
		if (d->shared != NULL && !d->shared_down)
			p->reservoir += units;
		if (probe)
			pace_probe_cancel(d->pace, p->slot);
		r->next_free = p->free_reqs;
		p->free_reqs = r;
	} else {
		if (probe)
			log_info("provider %s: probing %s", p->conf.name,
				 pace_is_misconfigured(d->pace, p->slot) ? "its configuration"
									 : "after the open period");
		r->busy = 1;
		p->in_flight++;
		d->n_reqs++;
		d->counts.requests++;
	}
	for (size_t i = 0; i < n; i++)
		q_pop(d);
	return 0;
}

/* Can any provider take a request now or soon (circuit closed, or its open
 * period over so that a probe may go)? */
static int any_provider_usable(dispatch *d, int64_t now_ns)
{
	for (int i = 0; i < d->n_prov; i++)
		if (pace_circuit_state(d->pace, d->prov[i].slot, now_ns) != PACE_OPEN &&
		    !pace_paused(d->pace, d->prov[i].slot))
			return 1;
	return 0;
}

size_t dispatch_queue_cap(long queue_max, double units_per_s, long lease_ms, size_t max_batch)
{
	/* Seconds' worth at the primary's rate, in double: a limit may be far
	 * above what a size_t multiplication should see. */
	double by_hold = units_per_s * (double)DISPATCH_QUEUE_HOLD_MS / 1000.0;
	double by_lease = units_per_s * (double)lease_ms / 4000.0;
	double by_rate = by_hold < by_lease ? by_hold : by_lease;
	double cap = queue_max > 0 ? (double)queue_max : 1.0;

	if (by_rate < (double)max_batch)
		by_rate = (double)max_batch;
	if (cap > by_rate)
		cap = by_rate;
	return cap < 1.0 ? 1 : (size_t)cap;
}

/* The first attempts of the got messages just leased at tmp, checked
 * against their numbers' sends (velocity_send()): those over a limit fail
 * unsent and leave; the others close up.  A message an operator released
 * from held is neither checked nor counted: the release is the decision.
 * Returns how many are left.  One hash and a cache line or two a message:
 * nothing on the way of a drain. */
static size_t check_velocity(dispatch *d, struct store_leased *tmp, size_t got, int64_t now)
{
	size_t kept = 0;

	for (size_t i = 0; i < got; i++) {
		struct store_leased *l = &tmp[i];
		enum velocity_limit why = l->attempts == 1 && !l->released
						  ? velocity_send(d->vel, l->to, now)
						  : VELOCITY_OK;

		if (why != VELOCITY_OK) {
			char note[STORE_NOTE_MAX + 1];

			snprintf(note, sizeof(note),
				 "velocity: this number had %u sends (velocity.%s): not sent",
				 velocity_limit_value(d->vel, why), velocity_limit_name(why));
			pend_add(d, l->id, l->lease_until_ms, &l->hdr, STORE_OUT_FAILED, 0, note, -1,
				 l->to, l->created_ms);
			d->pend[d->n_pend - 1].velocity = why;
			free(l->text);
			continue;
		}
		if (kept != i)
			tmp[kept] = *l;
		kept++;
	}
	return kept;
}

/* Lease more when the queue runs low.  Returns 0 or -1 (store failure). */
static int refill(dispatch *d, int64_t now_mono)
{
	size_t room = d->q_cap - d->q_len;
	size_t got = 0, expired = 0;
	struct store_leased *tmp;

	if (room < d->q_cap / 2 || now_mono < d->idle_until_ms)
		return 0;
	/* Every circuit open: leasing now would only give the messages back. */
	if (!any_provider_usable(d, clock_mono_ns())) {
		d->idle_until_ms = now_mono + DISPATCH_IDLE_POLL_MS;
		return 0;
	}
	/* Outcomes first: the pending buffer holds one outcome per message in
	 * hand, and a refill must not add to what is in hand while some wait.
	 * They are committed with the lease, in its transaction (one commit
	 * and one sync, not two); more than one transaction holds go first. */
	if (d->n_pend > DISPATCH_FLUSH_MAX && flush(d) != 0) {
		/* the store refuses writes: do not take more in hand */
		d->idle_until_ms = now_mono + DISPATCH_IDLE_POLL_MS;
		return 0;
	}
	/* Lease straight into the ring when the free part is contiguous. */
	size_t tail = (d->q_head + d->q_len) % d->q_cap;
	size_t contiguous = tail + room <= d->q_cap ? room : d->q_cap - tail;
	struct store_outcome *o = d->out;
	size_t n_out = d->n_pend;
	int64_t now = clock_wall_ms();
	int rc;

	tmp = &d->queue[tail];
	for (size_t i = 0; i < n_out; i++)
		o[i] = d->pend[i].o;
	int64_t t0 = clock_mono_ns();

	rc = store_finish_lease(d->st, o, n_out, now, d->cfg->dispatch_lease_ms, contiguous, 0,
				tmp, d->lease_texts, DISPATCH_LEASE_TEXTS, &got, &expired);
	if (rc == STORE_OK)
		counters_observe(d->ctr ? &d->ctr->commit_outcome : NULL, clock_mono_ns() - t0);
	if (rc == STORE_OK) {
		pend_committed(d, 0, o, n_out, now);
		pend_drop(d, n_out, 1);
	} else if (n_out > 0) {
		/* The two apart, as the store may take outcomes and not a lease
		 * (a full store takes a finish, which frees room). */
		if (flush(d) != 0) {
			d->idle_until_ms = now_mono + DISPATCH_IDLE_POLL_MS;
			return 0;
		}
		rc = store_lease(d->st, clock_wall_ms(), d->cfg->dispatch_lease_ms, contiguous, 0,
				 tmp, d->lease_texts, DISPATCH_LEASE_TEXTS, &got, &expired);
	}
	if (rc == STORE_FULL) {
		/* No room even to move a message: ingest answers RETRY_LATER, and
		 * dispatch waits for ops to make room rather than crash-looping. */
		log_warn("dispatch: store full, cannot lease: %s", store_errmsg(d->st));
		d->idle_until_ms = now_mono + STORE_FULL_BACKOFF_MS;
		return 0;
	}
	if (rc != STORE_OK) {
		log_error("dispatch: lease: %s", store_errmsg(d->st));
		return -1;
	}
	if (expired > 0) {
		d->counts.expired += expired;
		counters_add(d->ctr ? &d->ctr->expired : NULL, expired);
		log_info("dispatch: %zu message(s) expired before they could be sent", expired);
	}
	/* The texts go from the lease buffer to one allocation each, freed
	 * when the message leaves the queue. */
	for (size_t i = 0; i < got; i++) {
		char *t = xmalloc((size_t)tmp[i].text_len + 1);

		memcpy(t, tmp[i].text, (size_t)tmp[i].text_len + 1);
		tmp[i].text = t;
	}
	if (d->vel != NULL && got > 0)
		got = check_velocity(d, tmp, got, now);
	d->q_len += got;
	if (got == 0) {
		/* Nothing ready: look again when the next delayed message is
		 * due (a retry waiting out its backoff; messages due within
		 * DISPATCH_IDLE_MIN_MS are taken together), or in a poll period
		 * (messages another worker stores are not announced). */
		int64_t due = store_next_due_ms(d->st);
		int64_t wait = DISPATCH_IDLE_POLL_MS;

		if (due < now + DISPATCH_IDLE_MIN_MS)
			wait = DISPATCH_IDLE_MIN_MS;
		else if (due < now + DISPATCH_IDLE_POLL_MS)
			wait = due - now;
		d->idle_until_ms = now_mono + wait;
	}
	return 0;
}

static int keep_leased(dispatch *d, struct store_leased *l, void *arg)
{
	(void)d;
	(void)arg;
	return l->lease_until_ms != 0;
}

/* Renewals gathered in d->out (d->out_lease: where each lease lives). */
struct renewal {
	size_t n;                      /* gathered, not committed */
	size_t renewed;                /* committed and applied */
	size_t lost;                   /* found run out (set to 0 in hand) */
	int failed;                    /* the store failed: stop for now */
	int64_t now, until;            /* wall clock; the new lease end */
};

/* Commit what is gathered.  A failing store is said; the rest waits for the
 * next check (exiting would be worse). */
static void renew_commit(dispatch *d, struct renewal *rn)
{
	if (rn->n == 0 || rn->failed)
		return;
	int64_t t0 = clock_mono_ns();

	if (store_finish(d->st, d->out, rn->n, rn->now) != STORE_OK) {
		log_error("dispatch: renewing %zu leases: %s", rn->n, store_errmsg(d->st));
		rn->failed = 1;
		return;
	}
	counters_observe(d->ctr ? &d->ctr->commit_outcome : NULL, clock_mono_ns() - t0);
	for (size_t i = 0; i < rn->n; i++) {
		if (d->out[i].applied) {
			*d->out_lease[i] = rn->until;
			rn->renewed++;
		} else {
			/* Too late: the lease ran out and the message moved on
			 * (another worker may have it).  A queued one is dropped,
			 * never sent by us; a request not yet written is held back
			 * by the gate; one already out cannot be called back. */
			*d->out_lease[i] = 0;
			rn->lost++;
		}
	}
	rn->n = 0;
}

static void renew_add(dispatch *d, struct renewal *rn, int64_t *lease, uint64_t id,
		      const struct store_msg_hdr *hdr)
{
	d->out_lease[rn->n] = lease;
	d->out[rn->n++] = (struct store_outcome){ .id = id, .lease_until_ms = *lease, .hdr = *hdr,
						  .kind = STORE_OUT_RENEW, .at_ms = rn->until };
	if (rn->n == DISPATCH_FLUSH_MAX)
		renew_commit(d, rn);
}

/* Extend the leases of messages still in hand (queued or in a request) that
 * would run out within half a lease, DISPATCH_FLUSH_MAX per transaction. */
static void renew(dispatch *d)
{
	struct renewal rn = { .now = clock_wall_ms() };
	int64_t half = d->cfg->dispatch_lease_ms / 2;
	size_t total = 0;

	rn.until = rn.now + d->cfg->dispatch_lease_ms;
	for (int i = 0; i < d->n_prov; i++)
		total += d->prov[i].concurrency;
	for (size_t k = 0; k < total && !rn.failed; k++) {
		struct req *r = &d->reqs_mem[k];

		for (size_t i = 0; r->busy && i < r->n && !rn.failed; i++)
			if (r->msgs[i].lease_until_ms - rn.now <= half)
				renew_add(d, &rn, &r->msgs[i].lease_until_ms, r->msgs[i].id,
					  &r->msgs[i].hdr);
	}
	for (size_t i = 0; i < d->q_len && !rn.failed; i++) {
		struct store_leased *l = q_at(d, i);

		if (l->lease_until_ms - rn.now <= half)
			renew_add(d, &rn, &l->lease_until_ms, l->id, &l->hdr);
	}
	renew_commit(d, &rn);
	if (rn.lost > 0) {
		log_warn("dispatch: %zu lease(s) ran out before renewal (was this worker stopped?): "
			 "queued messages among them are dropped, requests not yet written held back",
			 rn.lost);
		q_filter(d, keep_leased, NULL);
	}
	if (rn.renewed > 0)
		log_debug("dispatch: renewed %zu lease(s)", rn.renewed);
}

long dispatch_step(dispatch *d, int stopping)
{
	int64_t now_mono, now_ns;
	long sleep_ms = DISPATCH_MAX_SLEEP_MS;

	if (d->n_prov == 0)
		return DISPATCH_MAX_SLEEP_MS;
	now_mono = clock_mono_ms();
	if (d->last_step_ms != 0 && now_mono - d->last_step_ms > d->cfg->dispatch_lease_ms / 2 &&
	    (d->q_len > 0 || d->n_reqs > 0))
		log_warn("dispatch: this worker did not run for %.1f s (stopped, or its machine "
			 "frozen) with %zu message(s) queued and %zu request(s) out: leases may have "
			 "run out; what had already left may be sent twice by another worker",
			 (double)(now_mono - d->last_step_ms) / 1000.0, d->q_len, d->n_reqs);
	d->last_step_ms = now_mono;
	if (http_timeout_ms(d->http) == 0)
		http_on_timeout(d->http);
	collect(d);
	now_mono = clock_mono_ms();
	if (now_mono >= d->next_renew_ms) {
		renew(d);
		long every = d->cfg->dispatch_lease_ms / 4 < RENEW_CHECK_MS
				     ? d->cfg->dispatch_lease_ms / 4
				     : RENEW_CHECK_MS;
		d->next_renew_ms = now_mono + every;
	}
	if (!stopping) {
		int probe = 0, usable = 0;
		size_t started = 0; /* requests started since libcurl last ran */

		if (refill(d, now_mono) != 0)
			return -1;
		expire_queued(d, clock_wall_ms());
		now_ns = clock_mono_ns();
		while (d->q_len > 0) {
			int pi = pick_provider(d, now_ns, &probe, &usable);
			int64_t wait;

			if (pi < 0)
				break;
			wait = send_one(d, pi, probe, now_ns);
			if (wait > 0) {
				long w = (long)((wait + MS_NS - 1) / MS_NS);

				if (w < sleep_ms)
					sleep_ms = w;
				break;
			}
			if (wait < 0)
				break;
			started++;
			if (d->q_len == 0) {
				/* The requests go out before the store call, which
				 * may wait for another worker's commit: a request
				 * paced now must not reach the provider later,
				 * together with the next ones. */
				http_on_timeout(d->http);
				started = 0;
				if (refill(d, clock_mono_ms()) != 0)
					return -1;
			}
		}
		if (started > 0)
			http_on_timeout(d->http); /* the same, before flush() below */
		if (!usable && d->q_len > 0 && d->n_reqs == 0) {
			log_warn("dispatch: no provider available (circuits open, or paused): %zu "
				 "message(s) given back", d->q_len);
			release_queue(d);
		}
	} else {
		release_queue(d);
	}
	if (d->lost_unsaid > 0) {
		log_warn("dispatch: %zu leased message(s) dropped unsent: their leases ran out "
			 "(was this worker stopped?); other workers send them", d->lost_unsaid);
		d->lost_unsaid = 0;
	}
	if (d->n_pend > 0 &&
	    (stopping || d->n_pend >= DISPATCH_FLUSH_MAX / 2 ||
	     clock_mono_ms() - d->pend_since_ms >= d->cfg->dispatch_flush_ms))
		(void)flush(d); /* on failure the outcomes stay pending */
	if (d->n_pend > 0) {
		long left = (long)(d->cfg->dispatch_flush_ms - (clock_mono_ms() - d->pend_since_ms));

		if (left < sleep_ms)
			sleep_ms = left < 0 ? 0 : left;
	}
	if (!stopping && d->q_len == 0) {
		/* Wake for the next look at the store (refill()). */
		long left = (long)(d->idle_until_ms - clock_mono_ms());

		if (left < sleep_ms)
			sleep_ms = left < 1 ? 1 : left;
	}
	long ht = http_timeout_ms(d->http);
	if (ht >= 0 && ht < sleep_ms)
		sleep_ms = ht;
	return sleep_ms;
}

size_t dispatch_fds(dispatch *d, struct http_fd *out, size_t max)
{
	return d->http != NULL ? http_fds(d->http, out, max) : 0;
}

void dispatch_on_fd(dispatch *d, int fd, int readable, int writable)
{
	if (d->http != NULL)
		http_on_fd(d->http, fd, readable, writable);
}

int dispatch_idle(const dispatch *d)
{
	return d->n_reqs == 0 && d->q_len == 0 && d->n_pend == 0;
}

void dispatch_set_counters(dispatch *d, struct counters_data *ctr)
{
	d->ctr = ctr;
}

void dispatch_set_velocity(dispatch *d, velocity *v)
{
	d->vel = v;
}

void dispatch_get_counts(const dispatch *d, struct dispatch_counts *out)
{
	*out = d->counts;
}
