/*
 * fake_faults: fault decisions for the fake provider (see fake_faults.h).
 *
 * DESIGN
 * No shared random generator (which would need a lock and make the
 * sequence depend on thread scheduling): request k draws its numbers from
 * a counter-based generator, mix64(seed, k, draw index).  The only shared
 * state is the atomic request counter.
 */
#include "fake/fake_faults.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "fake/fake_sms.h"

#define DRAW_FAULT 1     /* which draw of a request picks the fault */
#define DRAW_JITTER 2    /* which draw picks the latency jitter */

struct fake_faults {
	struct fake_faults_opts o;   /* the options, copied */
	int64_t start_ms;            /* origin of the outage windows (monotonic) */
	atomic_uint_fast64_t next;   /* number of the next request */
};

fake_faults *fake_faults_new(const struct fake_faults_opts *opts, int64_t start_mono_ms)
{
	fake_faults *f = xcalloc(1, sizeof(*f));

	f->o = *opts;
	f->start_ms = start_mono_ms;
	atomic_init(&f->next, 0);
	return f;
}

void fake_faults_destroy(fake_faults **f)
{
	if (f == NULL || *f == NULL)
		return;
	free(*f);
	*f = NULL;
}

/* Uniform in [0, 1) from (seed, request k, draw d): 53 random bits. */
static double draw(const fake_faults *f, uint64_t k, uint64_t d)
{
	uint64_t x = fake_sms_mix64(fake_sms_mix64(f->o.seed ^ fake_sms_mix64(k)) + d);

	return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

void fake_faults_decide(fake_faults *f, int64_t now_mono_ms, struct fake_decision *out)
{
	uint64_t k = atomic_fetch_add(&f->next, 1);
	int64_t since = now_mono_ms - f->start_ms;

	out->fault = FAKE_FAULT_NONE;
	out->status = 0;
	out->delay_ms = f->o.latency_ms;
	if (f->o.latency_jitter_ms > 0)
		out->delay_ms += (int64_t)(draw(f, k, DRAW_JITTER) *
					   (double)(f->o.latency_jitter_ms + 1));
	for (size_t i = 0; i < f->o.n_outages; i++) {
		const struct fake_outage *w = &f->o.outages[i];
		if (since >= w->start_ms && since < w->start_ms + w->duration_ms) {
			out->fault = FAKE_FAULT_OUTAGE;
			out->status = 503;
			return;
		}
	}
	double u = draw(f, k, DRAW_FAULT);
	if (u < f->o.drop_rate) {
		out->fault = FAKE_FAULT_DROP;
	} else if (u < f->o.drop_rate + f->o.hang_rate) {
		out->fault = FAKE_FAULT_HANG;
	} else if (u < f->o.drop_rate + f->o.hang_rate + f->o.error_rate) {
		out->fault = FAKE_FAULT_ERROR;
		out->status = f->o.error_status;
	}
}

int fake_faults_fail_prefix(const fake_faults *f, const char *destination)
{
	for (size_t i = 0; i < f->o.n_prefixes; i++)
		if (fake_sms_has_prefix(destination, f->o.prefixes[i]))
			return 1;
	return 0;
}
