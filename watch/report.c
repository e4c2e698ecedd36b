/*
 * report: a view of the pool, as metrics and as JSON (see report.h).
 *
 * DESIGN
 * A view is a plain struct read in one go, so that the metrics and the
 * status of one moment agree; rendering only formats it.  Counters come
 * from two places and each figure from one of them: what the store counts
 * in its transactions (messages per state, attempts, retries, lease
 * expirations) from store_stats(); what only the processes see (events by
 * reason, requests by status class, answer times, sends per provider) from
 * the counters file.  Names follow Prometheus' conventions: the smsq_
 * prefix, base units (seconds, bytes), _total on counters, an enum as a
 * label whose one series is 1 (smsq_drain_state).
 */
#include "watch/report.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "common/clock.h"
#include "proto/booking.pb-c.h"
#include "text/validate.h"

static const char *const http_class[COUNTERS_HTTP_COUNT] = {
	"2xx", "3xx", "4xx", "429", "5xx", "timeout", "error",
};

static const char *const fail_reason[COUNTERS_FAIL_COUNT] = {
	"refused", "attempts",
};

static const enum drain_state drain_states[] = {
	DRAIN_DRAINED, DRAIN_DRAINING, DRAIN_GROWING, DRAIN_STALLED, DRAIN_MEASURING,
};

int watch_view_read(store *st, const char *dir, struct drain *d, const struct watch_view *prev,
		    struct watch_view *v, char *err, size_t errlen)
{
	int n;

	memset(v, 0, sizeof(*v));
	v->wall_ms = clock_wall_ms();
	v->mono_ms = clock_mono_ms();
	if (store_stats(st, &v->st) != STORE_OK) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		return -1;
	}
	v->n_paused = store_paused(st, v->paused, STORE_PAUSE_MAX);
	if (v->n_paused < 0) {
		snprintf(err, errlen, "%s", store_errmsg(st));
		return -1;
	}
	v->has_counters = counters_read(dir, &v->c) == 1;
	n = pace_list(dir, v->prov, PACE_MAX_SLOTS);
	v->n_prov = n < 0 ? 0 : n;
	drain_add(d, &v->st, v->mono_ms, v->wall_ms, v->prov, v->n_prov, &v->drain);
	v->arrival_per_s = -1;
	if (prev != NULL && v->mono_ms > prev->mono_ms && v->has_counters && prev->has_counters &&
	    v->c.accepted >= prev->c.accepted)
		v->arrival_per_s = (double)(v->c.accepted - prev->c.accepted) * 1000.0 /
				   (double)(v->mono_ms - prev->mono_ms);
	for (int i = 0; i < v->n_prov; i++) {
		int s = v->prov[i].slot;
		double dt = prev != NULL ? (double)(v->mono_ms - prev->mono_ms) / 1000.0 : 0;

		v->used_per_s[i] = -1;
		if (prev != NULL && dt > 0 && v->has_counters && prev->has_counters &&
		    v->c.prov[s].sent_units >= prev->c.prov[s].sent_units)
			v->used_per_s[i] = (double)(v->c.prov[s].sent_units -
						    prev->c.prov[s].sent_units) / dt;
	}
	if (v->drain.state == DRAIN_DRAINING && v->drain.time_left_s >= 0) {
		int64_t end = v->wall_ms + (int64_t)(v->drain.time_left_s * 1000.0);

		if (store_due_before(st, end, REPORT_DUE_WALK_MAX, &v->due) != STORE_OK) {
			snprintf(err, errlen, "%s", store_errmsg(st));
			return -1;
		}
		v->has_due = 1;
	} else if (v->drain.state == DRAIN_DRAINED) {
		v->due.complete = 1;
		v->has_due = 1;
	}
	return 0;
}

/* ---- Prometheus text ------------------------------------------------------ */

/* A label value as the exposition format wants it: \ " and newline
 * escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_double(FILE *f, double x)
{
	if (isnan(x))
		fputs("NaN", f);
	else if (isinf(x))
		fputs(x > 0 ? "+Inf" : "-Inf", f);
	else
		fprintf(f, "%.9g", x);
}

/* name{provider="p"} value */
static void prov_u64(FILE *f, const char *name, const char *prov, uint64_t x)
{
	fprintf(f, "%s{provider=\"", name);
	put_label(f, prov);
	fprintf(f, "\"} %" PRIu64 "\n", x);
}

static void prov_double(FILE *f, const char *name, const char *prov, double x)
{
	fprintf(f, "%s{provider=\"", name);
	put_label(f, prov);
	fputs("\"} ", f);
	put_double(f, x);
	fputc('\n', f);
}

/* A histogram's series; labels: "" or `provider="x",` style prefix (with
 * its trailing comma). */
/* A metric of one series, without labels: HELP, TYPE and the value. */
static void one_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t x)
{
	head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, x);
}

static void one_double(FILE *f, const char *name, const char *help, double x)
{
	head(f, name, "gauge", help);
	fprintf(f, "%s ", name);
	put_double(f, x);
	fputc('\n', f);
}

static void hist(FILE *f, const char *name, const char *labels, const struct counters_hist *h)
{
	uint64_t cum = 0;
	char lab[160];
	size_t n = strlen(labels);

	/* labels without its trailing comma, for _sum and _count */
	snprintf(lab, sizeof(lab), "%.*s", (int)(n > 0 ? n - 1 : 0), labels);
	for (size_t i = 0; i <= COUNTERS_BOUNDS; i++) {
		cum += h->bucket[i];
		if (i < COUNTERS_BOUNDS)
			fprintf(f, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels,
				counters_bounds_s[i], cum);
		else
			fprintf(f, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, cum);
	}
	fprintf(f, "%s_sum%s%s%s %.6f\n", name, lab[0] ? "{" : "", lab, lab[0] ? "}" : "",
		(double)h->sum_us / 1e6);
	fprintf(f, "%s_count%s%s%s %" PRIu64 "\n", name, lab[0] ? "{" : "", lab, lab[0] ? "}" : "",
		h->count);
}

/* `provider="name",` with the name escaped, into buf. */
static const char *prov_labels(char *buf, size_t len, const char *prov)
{
	size_t n = (size_t)snprintf(buf, len, "provider=\"");

	for (const char *s = prov; *s && n + 3 < len; s++) {
		if (*s == '\\' || *s == '"')
			buf[n++] = '\\';
		buf[n++] = *s == '\n' ? 'n' : *s;
	}
	snprintf(buf + n, len - n, "\",");
	return buf;
}

static void metrics_store(const struct watch_view *v, FILE *f)
{
	const struct store_stats *s = &v->st;
	static const enum store_state waiting[] = {
		STORE_STATE_DELAYED, STORE_STATE_READY, STORE_STATE_INFLIGHT,
	};

	head(f, "smsq_store_messages", "gauge", "Messages in the store, by state.");
	for (int i = 0; i < STORE_STATE_COUNT; i++)
		fprintf(f, "smsq_store_messages{state=\"%s\"} %" PRIu64 "\n",
			store_state_name((enum store_state)i), s->count[i]);
	head(f, "smsq_backlog_messages", "gauge",
	     "Messages waiting to be sent (delayed, ready, in flight), by state.");
	for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++)
		fprintf(f, "smsq_backlog_messages{state=\"%s\"} %" PRIu64 "\n",
			store_state_name(waiting[i]), s->count[waiting[i]]);
	one_u64(f, "smsq_backlog_segments", "gauge", "SMS parts of the waiting messages.",
		s->segments_waiting);
	one_u64(f, "smsq_backlog_due_messages", "gauge",
		"Waiting messages that can be sent now or soon (not scheduled for later).",
		v->drain.due);
	one_u64(f, "smsq_backlog_scheduled_messages", "gauge",
		"Waiting messages scheduled for later (a not-before more than a minute ahead).",
		v->drain.scheduled);
	one_double(f, "smsq_oldest_waiting_age_seconds",
		"Age of the oldest waiting message (since its booking); 0 when none waits.",
		s->oldest_waiting_id != 0 && v->wall_ms > s->oldest_waiting_created_ms
			? (double)(v->wall_ms - s->oldest_waiting_created_ms) / 1000.0 : 0);
	one_u64(f, "smsq_messages_stored_total", "counter", "Messages ever stored.",
		s->total);
	one_u64(f, "smsq_attempts_total", "counter", "Send attempts (leases) ever.",
		s->attempts);
	one_u64(f, "smsq_retries_total", "counter", "Outcomes \"try again later\" ever.",
		s->retries);
	one_u64(f, "smsq_ambiguous_retries_total", "counter",
		"Retries after a request that left got no answer (the provider may have sent it).",
		s->ambiguous);
	one_u64(f, "smsq_lease_expirations_total", "counter",
		"Leases that ran out (a worker died or stalled holding messages).",
		s->lease_expired);
	one_u64(f, "smsq_segments_saved_total", "counter", "SMS parts saved by smart encoding.",
		s->segments_saved);
	one_u64(f, "smsq_segments_withdrawn_total", "counter",
		"SMS parts of messages superseded or cancelled before they were sent.",
		s->segments_withdrawn);
	one_u64(f, "smsq_superseded_total", "counter",
		"Messages superseded by a newer event of their booking (never sent).",
		s->superseded_ever);
	one_u64(f, "smsq_operator_cancelled_total", "counter",
		"Messages cancelled by an operator (smsqctl cancel).", s->cancelled_ever);
	one_u64(f, "smsq_operator_requeued_total", "counter",
		"Messages requeued by an operator (smsqctl requeue).", s->requeued_ever);
	one_u64(f, "smsq_unsealed_failed_total", "counter",
		"Messages failed, never sent, because their encrypted fields did not open.",
		s->unsealed_ever);
	one_u64(f, "smsq_purged_total", "counter",
		"Final messages purged after their retention (store.retention_s).",
		s->purged_ever);
	one_u64(f, "smsq_store_kept_keys", "gauge",
		"Idempotency keys of purged messages still kept (store.keys_s).", s->keys_kept);
	one_u64(f, "smsq_outcomes_waiting", "gauge",
		"Outcomes in the outbox, not yet taken by the booking backend.", s->outbox);
	one_u64(f, "smsq_outcomes_dropped_total", "counter",
		"Outcomes dropped from a full outbox (outcomes.max) before the backend took them.",
		s->outbox_dropped);
	one_u64(f, "smsq_receipts_held", "gauge",
		"Delivery reports waiting for their send's outcome to be recorded.",
		s->receipts_held);

	one_u64(f, "smsq_store_used_bytes", "gauge",
		"The store file's pages in use or on its free list (its high-water mark).",
		s->used_bytes);
	one_u64(f, "smsq_store_free_bytes", "gauge", "Of which on LMDB's free list (reused by writes).",
		s->free_bytes);
	one_u64(f, "smsq_store_file_bytes", "gauge", "data.mdb on disk.",
		s->file_bytes);
	one_u64(f, "smsq_store_map_bytes", "gauge", "The store's current map size.",
		s->map_bytes);
	one_u64(f, "smsq_store_map_max_bytes", "gauge",
		"The map's ceiling (store.map_max_mb); ingest stops an eighth below it.",
		s->map_max_bytes);
	one_u64(f, "smsq_store_ingest_limit_bytes", "gauge",
		"Pages in use past which ingest answers RETRY_LATER store_full.",
		s->map_max_bytes ? store_ingest_limit(s->map_max_bytes) : 0);
	head(f, "smsq_store_full", "gauge",
	     "1 when ingest refuses new events (reason=\"map\": the map's ceiling, "
	     "\"disk\": the disk).");
	fprintf(f, "smsq_store_full{reason=\"map\"} %d\n", s->ingest_full != 0);
	fprintf(f, "smsq_store_full{reason=\"disk\"} %d\n", s->disk_full != 0);
	one_u64(f, "smsq_disk_free_bytes", "gauge", "Room left on the data directory's filesystem.",
		s->disk_avail_bytes);
	one_u64(f, "smsq_disk_size_bytes", "gauge", "Size of the data directory's filesystem.",
		s->disk_total_bytes);
}

static void metrics_drain(const struct watch_view *v, FILE *f)
{
	const struct drain_eval *e = &v->drain;

	head(f, "smsq_drain_state", "gauge",
	     "What the backlog does: the one series of state drained, draining, growing "
	     "(arriving faster than it drains), stalled (nothing done while work is due) or "
	     "measuring is 1.");
	for (size_t i = 0; i < sizeof(drain_states) / sizeof(drain_states[0]); i++)
		fprintf(f, "smsq_drain_state{state=\"%s\"} %d\n", drain_state_name(drain_states[i]),
			e->state == drain_states[i]);
	one_double(f, "smsq_drain_time_left_seconds",
		"Time to send the due backlog at the rate the pace allows; NaN while it grows, "
		"stalls or is being measured, 0 when drained.",
		e->time_left_s >= 0 ? e->time_left_s : NAN);
	one_double(f, "smsq_drain_rate_messages_per_second",
		"Messages done (made final) per second over the last few seconds.",
		e->rate);
	one_double(f, "smsq_drain_due_before_end_messages",
		"Waiting messages due by the drain's end whose appointment comes before it "
		"(NaN when the end is not known).",
		v->has_due ? (double)v->due.before : NAN);
	one_double(f, "smsq_drain_appointments_before_end_ratio",
		"Share of the waiting messages whose appointment comes before the drain's end "
		"(NaN when the end is not known).",
		!v->has_due ? NAN : v->st.waiting == 0 ? 0
			: (double)v->due.before / (double)v->st.waiting);
}

/* The reasons of RETRY_LATER answers (proto/booking.proto); the others are
 * rejections. */
static int is_retry_reason(int r)
{
	return r == SMSQ__REASON__REASON_STORE_FULL || r == SMSQ__REASON__REASON_SHUTTING_DOWN ||
	       r == SMSQ__REASON__REASON_STORE_ERROR || r == SMSQ__REASON__REASON_TEMPORARY;
}

static void metrics_events(const struct watch_view *v, FILE *f)
{
	const struct counters_data *c = &v->c;

	head(f, "smsq_events_total", "counter",
	     "Booking events answered, by result (accepted, duplicate, rejected, retry_later) "
	     "and, for the last two, the protocol's reason.");
	fprintf(f, "smsq_events_total{result=\"accepted\",reason=\"\"} %" PRIu64 "\n", c->accepted);
	fprintf(f, "smsq_events_total{result=\"duplicate\",reason=\"\"} %" PRIu64 "\n", c->duplicate);
	for (int r = 1; r < COUNTERS_REASONS; r++) {
		const char *name = validate_reason_name((Smsq__Reason)r);
		int retry = is_retry_reason(r);

		/* Each reason under the result it belongs to, from 0; the other
		 * result only once it happened. */
		if (strcmp(name, "unknown") == 0 && c->rejected[r] == 0 && c->retry_later[r] == 0)
			continue;
		if (!retry || c->rejected[r] != 0)
			fprintf(f, "smsq_events_total{result=\"rejected\",reason=\"%s\"} %" PRIu64 "\n",
				name, c->rejected[r]);
		if (retry || c->retry_later[r] != 0)
			fprintf(f, "smsq_events_total{result=\"retry_later\",reason=\"%s\"} %" PRIu64
				"\n", name, c->retry_later[r]);
	}
	head(f, "smsq_events_held_total", "counter",
	     "Events stored held over a velocity limit (velocity.over_limit = hold; also in "
	     "smsq_events_total's accepted), by the limit's reason.");
	for (int r = SMSQ__REASON__REASON_VELOCITY_NUMBER; r <= SMSQ__REASON__REASON_VELOCITY_COUNTRY;
	     r++)
		fprintf(f, "smsq_events_held_total{reason=\"%s\"} %" PRIu64 "\n",
			validate_reason_name((Smsq__Reason)r), c->held[r]);
	head(f, "smsq_velocity_sends_refused_total", "counter",
	     "Messages failed unsent at dispatch: their number had had velocity.number_per_hour "
	     "or _per_day sends (refusals at ingest are smsq_events_total's velocity_* reasons).");
	fprintf(f, "smsq_velocity_sends_refused_total{limit=\"number_per_hour\"} %" PRIu64 "\n",
		c->velocity_sends_refused[0]);
	fprintf(f, "smsq_velocity_sends_refused_total{limit=\"number_per_day\"} %" PRIu64 "\n",
		c->velocity_sends_refused[1]);
	one_u64(f, "smsq_ingest_acks_dropped_total", "counter",
		"Acks no broker took in time (producers resend and get DUPLICATE).",
		c->acks_dropped);
	head(f, "smsq_ingest_ack_latency_seconds", "histogram",
	     "From an event's arrival at its worker to its ack leaving (the commit's sync "
	     "included).");
	hist(f, "smsq_ingest_ack_latency_seconds", "", &c->ack);
	head(f, "smsq_store_commit_duration_seconds", "histogram",
	     "Write transactions, commit and sync, by what they hold (ingest: a batch of "
	     "events; dispatch: outcomes and leases; receipts: delivery reports).");
	hist(f, "smsq_store_commit_duration_seconds", "op=\"ingest\",", &c->commit_ingest);
	hist(f, "smsq_store_commit_duration_seconds", "op=\"dispatch\",", &c->commit_outcome);
	hist(f, "smsq_store_commit_duration_seconds", "op=\"receipts\",", &c->commit_receipts);
	if (c->receipts_counted) {
		one_u64(f, "smsq_receipts_missing", "gauge",
			"Messages sent receipts.expect_s ago or more with no delivery report (the "
			"receipt endpoint's last count).", c->receipts_unreported);
		one_u64(f, "smsq_receipts_expect_seconds", "gauge",
			"receipts.expect_s: how long after its send a report is expected.",
			c->receipts_expect_s);
	}
	one_u64(f, "smsq_receipt_callbacks_unknown_total", "counter",
		"Calls to the receipt endpoint naming no configured provider or not the token "
		"(answered 404).", c->receipt_callbacks_refused);
	one_u64(f, "smsq_receipt_callbacks_unrecorded_total", "counter",
		"Calls to the receipt endpoint whose reports could not be recorded (answered 503: "
		"the provider sends them again).", c->receipt_store_errors);
	one_u64(f, "smsq_producers_refused_total", "counter",
		"Producer connections refused at the ingest socket: a CURVE key not in the "
		"allow-list (ingest.curve_producers; each logged with its key).",
		c->producers_refused);
	one_u64(f, "smsq_messages_expired_total", "counter",
		"Messages past their expiry before they could be sent (never sent).",
		c->expired);
	one_u64(f, "smsq_worker_restarts_total", "counter",
		"Processes of the pool restarted after they died.",
		c->worker_restarts);
	one_u64(f, "smsq_workers_running", "gauge", "Processes of the pool running now.",
		c->workers_running);
	one_u64(f, "smsq_outcomes_taken_total", "counter",
		"Outcomes the booking backend answered 2xx for.", c->outcomes_taken);
	one_u64(f, "smsq_outcome_posts_total", "counter",
		"POSTs of outcomes to the booking backend.", c->outcomes_posts);
	one_u64(f, "smsq_outcomes_refused_total", "counter",
		"Outcomes dropped because the backend refused each alone, several times (logged "
		"with its id).", c->outcomes_refused);
	one_u64(f, "smsq_outcome_posts_failed_total", "counter",
		"POSTs of outcomes not answered 2xx in time (their outcomes sent again later).",
		c->outcomes_posts_failed);
}

/* Whether an operator paused name (STORE_PAUSE_ALL: all sending). */
static int is_paused(const struct watch_view *v, const char *name)
{
	for (int i = 0; i < v->n_paused; i++)
		if (strcmp(v->paused[i].name, name) == 0)
			return 1;
	return 0;
}

static const char *circuit_of(const struct pace_view *p)
{
	return p->misconfigured ? "misconfigured" : p->circuit_open ? "open" : "closed";
}

static void metrics_providers(const struct watch_view *v, FILE *f)
{
	static const char *const states[] = { "closed", "open", "misconfigured" };
	char lab[128];

#define EACH for (int i = 0; i < v->n_prov; i++)
#define P(i) (&v->c.prov[v->prov[i].slot])
#define NAME(i) (v->prov[i].name)
	head(f, "smsq_provider_limit_per_second", "gauge",
	     "The provider's configured limit, units (messages or SMS parts) per second.");
	EACH prov_double(f, "smsq_provider_limit_per_second", NAME(i), v->prov[i].units_per_s);
	head(f, "smsq_sending_paused", "gauge",
	     "1 while an operator paused all sending (smsqctl pause).");
	fprintf(f, "smsq_sending_paused %d\n", is_paused(v, STORE_PAUSE_ALL));
	head(f, "smsq_provider_paused", "gauge",
	     "1 while an operator paused sending through the provider (smsqctl pause NAME).");
	EACH prov_u64(f, "smsq_provider_paused", NAME(i), (uint64_t)is_paused(v, NAME(i)));
	head(f, "smsq_provider_pace_rate_per_second", "gauge",
	     "The rate the pool paces the provider at now (below the limit after throttling).");
	EACH prov_double(f, "smsq_provider_pace_rate_per_second", NAME(i),
			 v->prov[i].effective_per_s);
	head(f, "smsq_provider_used_per_second", "gauge",
	     "Units the provider took per second over the last few seconds (NaN: not yet "
	     "known).");
	EACH prov_double(f, "smsq_provider_used_per_second", NAME(i),
			 v->used_per_s[i] >= 0 ? v->used_per_s[i] : NAN);
	head(f, "smsq_provider_circuit_state", "gauge",
	     "The provider's circuit: the one series of state closed, open (failing: left "
	     "alone, then probed) or misconfigured (our configuration: only probes) is 1.");
	EACH for (size_t k = 0; k < 3; k++) {
		fprintf(f, "smsq_provider_circuit_state{provider=\"");
		put_label(f, NAME(i));
		fprintf(f, "\",state=\"%s\"} %d\n", states[k], strcmp(circuit_of(&v->prov[i]),
								      states[k]) == 0);
	}
	head(f, "smsq_provider_hold_seconds", "gauge",
	     "Time left of a hold (Retry-After, or a 503's short hold) on the provider.");
	EACH prov_double(f, "smsq_provider_hold_seconds", NAME(i),
			 (double)v->prov[i].blocked_ms / 1000.0);
	head(f, "smsq_provider_held_seconds_total", "counter",
	     "Time the provider was held by Retry-After and 503 holds.");
	EACH prov_double(f, "smsq_provider_held_seconds_total", NAME(i), v->prov[i].held_s);
	head(f, "smsq_pace_shared_round_trips_total", "counter",
	     "Round trips to the pace.shared Redis server for the provider's account (answered "
	     "or not).");
	EACH prov_u64(f, "smsq_pace_shared_round_trips_total", NAME(i), P(i)->shared_trips);
	head(f, "smsq_pace_shared_units_total", "counter",
	     "Units the pace.shared server granted this pool for the provider's account.");
	EACH prov_u64(f, "smsq_pace_shared_units_total", NAME(i), P(i)->shared_units);
	head(f, "smsq_pace_shared_fallback", "gauge",
	     "Processes pacing the provider on this node's share "
	     "(pace.shared_fallback_percent): the pace.shared server does not answer them.");
	EACH prov_u64(f, "smsq_pace_shared_fallback", NAME(i), P(i)->shared_down);
	head(f, "smsq_provider_throttle_episodes_total", "counter",
	     "Times throttling cut the provider's pace rate.");
	EACH prov_u64(f, "smsq_provider_throttle_episodes_total", NAME(i), v->prov[i].throttles);
	head(f, "smsq_provider_requests_total", "counter",
	     "Requests answered, by provider and status class (2xx 3xx 4xx 429 5xx; timeout: no "
	     "answer after the request left; error: it never left).");
	EACH for (int k = 0; k < COUNTERS_HTTP_COUNT; k++) {
		fprintf(f, "smsq_provider_requests_total{provider=\"");
		put_label(f, NAME(i));
		fprintf(f, "\",class=\"%s\"} %" PRIu64 "\n", http_class[k], P(i)->requests[k]);
	}
	head(f, "smsq_messages_sent_total", "counter", "Messages the provider took.");
	EACH prov_u64(f, "smsq_messages_sent_total", NAME(i), P(i)->sent);
	head(f, "smsq_provider_units_sent_total", "counter",
	     "Units (messages or SMS parts, as the provider counts) of the messages it took.");
	EACH prov_u64(f, "smsq_provider_units_sent_total", NAME(i), P(i)->sent_units);
	head(f, "smsq_messages_failed_total", "counter",
	     "Messages failed for good, by provider and reason (refused: the provider refused "
	     "the message; attempts: retry.max_attempts used up).");
	EACH for (int k = 0; k < COUNTERS_FAIL_COUNT; k++) {
		fprintf(f, "smsq_messages_failed_total{provider=\"");
		put_label(f, NAME(i));
		fprintf(f, "\",reason=\"%s\"} %" PRIu64 "\n", fail_reason[k], P(i)->failed[k]);
	}
	head(f, "smsq_provider_retries_total", "counter",
	     "Messages to be tried again after an attempt with the provider.");
	EACH prov_u64(f, "smsq_provider_retries_total", NAME(i), P(i)->retries);
	head(f, "smsq_provider_ambiguous_retries_total", "counter",
	     "Of which after a request that left got no answer.");
	EACH prov_u64(f, "smsq_provider_ambiguous_retries_total", NAME(i), P(i)->ambiguous);
	head(f, "smsq_provider_throttled_total", "counter",
	     "Messages the provider answered \"slow down\" (429, or its throttling error).");
	EACH prov_u64(f, "smsq_provider_throttled_total", NAME(i), P(i)->throttled);
	head(f, "smsq_provider_unavailable_total", "counter",
	     "Messages the provider answered \"not now\" (503).");
	EACH prov_u64(f, "smsq_provider_unavailable_total", NAME(i), P(i)->unavailable);
	head(f, "smsq_provider_misconfigured_total", "counter",
	     "Messages answered in a way that says our configuration is wrong (401, 403, 404, "
	     "a TLS or DNS failure): not the message's doing, kept as they were.");
	EACH prov_u64(f, "smsq_provider_misconfigured_total", NAME(i), P(i)->misconfigured);
	head(f, "smsq_receipts_total", "counter",
	     "Delivery reports taken, by provider and result (delivered, undelivered: recorded; "
	     "repeated, older: nothing changed; held: before its send was recorded; unknown: no "
	     "such message; interim: not final; forged, malformed: callbacks refused).");
	EACH for (int k = 0; k < COUNTERS_RECEIPT_COUNT; k++) {
		fprintf(f, "smsq_receipts_total{provider=\"");
		put_label(f, NAME(i));
		fprintf(f, "\",result=\"%s\"} %" PRIu64 "\n", counters_receipt_names[k],
			P(i)->receipts[k]);
	}
	head(f, "smsq_provider_response_seconds", "histogram",
	     "From a request's pacing tokens to its answer, by provider.");
	EACH hist(f, "smsq_provider_response_seconds", prov_labels(lab, sizeof(lab), NAME(i)),
		  &P(i)->response);
#undef EACH
#undef P
#undef NAME
}

int report_metrics(const struct watch_view *v, const char *version, FILE *f)
{
	head(f, "smsq_build_info", "gauge", "The running smsq's version.");
	fprintf(f, "smsq_build_info{version=\"");
	put_label(f, version);
	fprintf(f, "\"} 1\n");
	metrics_store(v, f);
	metrics_drain(v, f);
	metrics_events(v, f);
	metrics_providers(v, f);
	return ferror(f) ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *num_or_null(int known, double x)
{
	return known && !isnan(x) ? json_real(x) : json_null();
}

static int add_failure(json_t *arr, const char *kind, const char *prov, const char *reason,
		       uint64_t n)
{
	json_t *o;

	if (n == 0)
		return 0;
	o = json_pack("{s:s, s:s?, s:s, s:I}", "kind", kind, "provider", prov, "reason", reason,
		      "count", (json_int_t)n);
	return o == NULL ? -1 : json_array_append_new(arr, o);
}

#define DELTA(field) (v->c.field - (recent != NULL && recent->field <= v->c.field ? recent->field : 0))

static json_t *failures_json(const struct watch_view *v, const struct counters_data *recent)
{
	json_t *arr = json_array();
	int rc = 0;

	if (arr == NULL)
		return NULL;
	for (int i = 0; i < v->n_prov; i++) {
		int s = v->prov[i].slot;
		const char *name = v->prov[i].name;

		for (int k = 0; k < COUNTERS_FAIL_COUNT; k++)
			rc |= add_failure(arr, "failed", name, fail_reason[k],
					  DELTA(prov[s].failed[k]));
		for (int k = COUNTERS_HTTP_4XX; k < COUNTERS_HTTP_COUNT; k++)
			rc |= add_failure(arr, "request", name, http_class[k],
					  DELTA(prov[s].requests[k]));
	}
	rc |= add_failure(arr, "expired", NULL, "expired", DELTA(expired));
	for (int r = 1; r < COUNTERS_REASONS; r++) {
		rc |= add_failure(arr, "rejected", NULL, validate_reason_name((Smsq__Reason)r),
				  DELTA(rejected[r]));
		rc |= add_failure(arr, "retry_later", NULL, validate_reason_name((Smsq__Reason)r),
				  DELTA(retry_later[r]));
	}
	if (rc != 0) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

static json_t *providers_json(const struct watch_view *v)
{
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < v->n_prov; i++) {
		const struct pace_view *p = &v->prov[i];
		const struct counters_prov *c = &v->c.prov[p->slot];
		json_t *o = json_pack(
			"{s:s, s:f, s:f, s:o, s:o, s:s, s:s?, s:I, s:f, s:I, s:I, s:I, s:I, s:b}", "name",
			p->name, "limit_per_s", p->units_per_s, "pace_per_s", p->effective_per_s,
			"used_per_s", num_or_null(v->used_per_s[i] >= 0, v->used_per_s[i]),
			"ceiling_per_s", num_or_null(p->ceiling_per_s > 0, p->ceiling_per_s),
			"circuit", circuit_of(p), "reason", p->misconfigured ? p->reason : NULL,
			"hold_ms", (json_int_t)p->blocked_ms, "held_s", p->held_s, "throttles",
			(json_int_t)p->throttles, "sent", (json_int_t)c->sent, "failed",
			(json_int_t)(c->failed[0] + c->failed[1]), "requests",
			(json_int_t)(c->requests[0] + c->requests[1] + c->requests[2] + c->requests[3] +
				     c->requests[4] + c->requests[5] + c->requests[6]),
			"paused", is_paused(v, p->name));

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

void *report_status_json(const struct watch_view *v, const struct counters_data *recent,
			 int64_t recent_ms)
{
	const struct store_stats *s = &v->st;
	const struct drain_eval *e = &v->drain;
	json_t *states = json_object(), *root = NULL;
	int rc = states == NULL;

	for (int i = 0; !rc && i < STORE_STATE_COUNT; i++)
		rc |= json_object_set_new(states, store_state_name((enum store_state)i),
					  json_integer((json_int_t)s->count[i]));
	if (rc)
		goto fail;
	root = json_pack(
		"{s:I, s:I, s:I, s:o, s:I, s:o,"
		" s:{s:s, s:f, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:b},"
		" s:o, s:o, s:I,"
		" s:{s:I, s:I, s:I, s:I, s:o, s:o}, s:s?, s:{s:I, s:I},"
		" s:{s:I, s:I}}",
		"now_ms", (json_int_t)v->wall_ms, "waiting", (json_int_t)s->waiting, "total",
		(json_int_t)s->total, "states", states, "segments_waiting",
		(json_int_t)s->segments_waiting, "oldest_waiting_age_s",
		num_or_null(s->oldest_waiting_id != 0,
			    (double)(v->wall_ms - s->oldest_waiting_created_ms) / 1000.0),
		"drain", "state", drain_state_name(e->state), "rate_per_s", e->rate,
		"arrival_per_s", num_or_null(v->arrival_per_s >= 0, v->arrival_per_s), "pace_per_s",
		num_or_null(e->pace_per_s > 0, e->pace_per_s), "time_left_s",
		num_or_null(e->time_left_s >= 0, e->time_left_s), "ends_ms",
		e->time_left_s >= 0 ? json_integer((json_int_t)(v->wall_ms +
								 (int64_t)(e->time_left_s * 1000)))
				    : json_null(),
		"due", (json_int_t)e->due, "scheduled", (json_int_t)e->scheduled,
		"before_end", v->has_due ? json_integer((json_int_t)v->due.before) : json_null(),
		"before_end_ratio",
		num_or_null(v->has_due, s->waiting ? (double)v->due.before / (double)s->waiting : 0),
		"before_end_complete", v->has_due && v->due.complete,
		"providers", providers_json(v), "failures", failures_json(v, recent),
		"failures_since_ms", (json_int_t)(recent != NULL ? recent_ms : v->wall_ms),
		"store_bytes", "used", (json_int_t)s->used_bytes, "free", (json_int_t)s->free_bytes,
		"file", (json_int_t)s->file_bytes, "map", (json_int_t)s->map_bytes, "map_max",
		s->map_max_bytes ? json_integer((json_int_t)s->map_max_bytes) : json_null(),
		"ingest_limit",
		s->map_max_bytes ? json_integer((json_int_t)store_ingest_limit(s->map_max_bytes))
				 : json_null(),
		"full", s->disk_full ? "disk" : s->ingest_full ? "map" : NULL,
		"disk", "free", (json_int_t)s->disk_avail_bytes, "total",
		(json_int_t)s->disk_total_bytes,
		"processes", "running", (json_int_t)v->c.workers_running, "restarts",
		(json_int_t)v->c.worker_restarts);
	if (root != NULL) {
		json_t *paused = json_array();

		for (int i = 0; paused != NULL && i < v->n_paused; i++)
			json_array_append_new(paused, json_pack("{s:s, s:I}", "name", v->paused[i].name,
								"since_ms",
								(json_int_t)v->paused[i].since_ms));
		if (paused == NULL || json_object_set_new(root, "paused", paused) != 0) {
			json_decref(root);
			return NULL;
		}
	}
	return root;
fail:
	json_decref(states);
	return NULL;
}
