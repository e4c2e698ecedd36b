/*
 * fake_faults: fault decisions for the fake provider (see fake_faults.h).
 *
 * DESIGN
 * No shared random generator (which would need a lock and make the
 * sequence depend on thread scheduling): request k draws its numbers from
 * a counter-based generator, mix64(seed, k, draw index) (fake_sms_draw()).  The only shared
 * state is the atomic request counter.
 */
#include "fake/fake_faults.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "fake/fake_sms.h"

#define DRAW_FAULT 1     /* which draw of a request picks the fault */
#define DRAW_JITTER 2    /* which draw picks the latency jitter */
#define DRAW_STATUS 3    /* which draw picks the status of an error */
#define HTTP_UNAVAILABLE 503
#define HTTP_UNAUTHORIZED 401

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

/* Uniform in [0, 1) from (seed, request k, draw d). */
static double draw(const fake_faults *f, uint64_t k, uint64_t d)
{
	return fake_sms_draw(f->o.seed, k, d);
}

/* 1 if since (ms from the start) falls in one of w[0..n). */
static int in_window(const struct fake_window *w, size_t n, int64_t since)
{
	for (size_t i = 0; i < n; i++)
		if (since >= w[i].start_ms && since < w[i].start_ms + w[i].duration_ms)
			return 1;
	return 0;
}

/* Answer the request with status: fault and, for a 503, Retry-After. */
static void answer(const fake_faults *f, enum fake_fault fault, int status,
		   struct fake_decision *out)
{
	out->fault = fault;
	out->status = status;
	out->retry_after_s = status == HTTP_UNAVAILABLE ? f->o.error_retry_after_s : 0;
}

void fake_faults_decide(fake_faults *f, int64_t now_mono_ms, struct fake_decision *out)
{
	uint64_t k = atomic_fetch_add(&f->next, 1);
	int64_t since = now_mono_ms - f->start_ms;

	out->fault = FAKE_FAULT_NONE;
	out->status = 0;
	out->retry_after_s = 0;
	out->delay_ms = f->o.latency_ms;
	if (f->o.latency_jitter_ms > 0)
		out->delay_ms += (int64_t)(draw(f, k, DRAW_JITTER) *
					   (double)(f->o.latency_jitter_ms + 1));
	if (in_window(f->o.outages, f->o.n_outages, since)) {
		answer(f, FAKE_FAULT_OUTAGE, HTTP_UNAVAILABLE, out);
		return;
	}
	if (in_window(f->o.auth_fails, f->o.n_auth_fails, since)) {
		answer(f, FAKE_FAULT_AUTH, HTTP_UNAUTHORIZED, out);
		return;
	}
	double u = draw(f, k, DRAW_FAULT);
	if (u < f->o.drop_rate) {
		out->fault = FAKE_FAULT_DROP;
	} else if (u < f->o.drop_rate + f->o.hang_rate) {
		out->fault = FAKE_FAULT_HANG;
	} else if (u < f->o.drop_rate + f->o.hang_rate + f->o.error_rate) {
		/* draw() < 1, so the index is below n. */
		size_t i = (size_t)(draw(f, k, DRAW_STATUS) * (double)f->o.n_error_statuses);

		answer(f, FAKE_FAULT_ERROR, f->o.error_statuses[i], out);
	}
}

int fake_faults_fail_prefix(const fake_faults *f, const char *destination)
{
	for (size_t i = 0; i < f->o.n_prefixes; i++)
		if (fake_sms_has_prefix(destination, f->o.prefixes[i]))
			return 1;
	return 0;
}
