/*
 * test_watch: what ops see, without a pool: the shared counters file
 * (store/counters.c) summed exactly across processes, the drain's states
 * (watch/drain.c), the metrics text and the status JSON of a view
 * (watch/report.c), listen addresses (common/addr.c) and the time a pace
 * counts as held (store/pace.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"
#include "store/counters.h"
#include "store/pace.h"
#include "watch/drain.h"
#include "watch/report.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/smsq-test-watch-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- counters ------------------------------------------------------------------ */

static void counters_sum_every_process_exactly(void **state)
{
	char err[256];
	struct counters_data sum;
	counters *c;
	pid_t kids[3];
	const int adds = 200000;

	(void)state;
	assert_int_equal(counters_read(dir, &sum), 0); /* no file yet: nothing, no error */
	c = counters_open(dir, 0, err, sizeof(err));
	assert_non_null(c);
	/* Three processes add to their own shards and one to shard 0 with the
	 * parent, at once: the sum is exact. */
	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			counters_set_shard(c, k == 2 ? 0 : k + 1);
			for (int i = 0; i < adds; i++) {
				counters_add(&counters_mine(c)->accepted, 1);
				counters_add(&counters_mine(c)->prov[3].sent_units, 2);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < adds; i++)
		counters_add(&counters_mine(c)->accepted, 1);
	for (int k = 0; k < 3; k++) {
		int st;

		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(counters_read(dir, &sum), 1);
	assert_int_equal(sum.accepted, 4ULL * adds);
	assert_int_equal(sum.prov[3].sent_units, 3ULL * 2 * adds);
	assert_int_equal(sum.prov[2].sent_units, 0);
	counters_close(&c);
	counters_close(&c); /* NULL-safe */

	/* Counters outlive the processes: a new open keeps them. */
	c = counters_open(dir, 5, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(counters_read(dir, &sum), 1);
	assert_int_equal(sum.accepted, 4ULL * adds);
	counters_close(&c);

	/* No handle: counting calls do nothing. */
	assert_null(counters_mine(NULL));
	counters_add(NULL, 1);
	counters_observe(NULL, 5);
}

static void counters_of_another_layout_start_afresh(void **state)
{
	char err[256], path[128];
	struct counters_data sum;
	counters *c;
	int fd;
	uint64_t junk[8] = { 0x1234, 99, 99, 99, 99, 99, 99, 99 };

	(void)state;
	c = counters_open(dir, 1, err, sizeof(err));
	assert_non_null(c);
	counters_add(&counters_mine(c)->duplicate, 7);
	counters_close(&c);
	snprintf(path, sizeof(path), "%s/counters", dir);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	close(fd);
	/* A reader does not take a foreign file for counters ... */
	assert_int_equal(counters_read(dir, &sum), 0);
	/* ... and a writer starts it afresh. */
	c = counters_open(dir, 1, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(counters_read(dir, &sum), 1);
	assert_int_equal(sum.duplicate, 0);
	counters_close(&c);
	/* A link is never followed. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_null(counters_open(dir, 1, err, sizeof(err)));
	assert_int_equal(counters_read(dir, &sum), -1);
}

static void histogram_buckets_by_upper_bound(void **state)
{
	struct counters_hist h;

	(void)state;
	memset(&h, 0, sizeof(h));
	counters_observe(&h, 500000);          /* 0.5 ms: le 0.0005 */
	counters_observe(&h, 500001);          /* just above: le 0.001 */
	counters_observe(&h, 2000000000LL);    /* 2 s: le 2.5 */
	counters_observe(&h, 3600000000000LL); /* an hour: +Inf */
	counters_observe(&h, -5);              /* a clock step back: 0 */
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[11], 1);
	assert_int_equal(h.bucket[COUNTERS_BOUNDS], 1);
	assert_int_equal(h.count, 5);
	assert_int_equal(h.sum_us, 500 + 500 + 2000000 + 3600000000ULL);
}

/* ---- drain ---------------------------------------------------------------------- */

static struct store_stats backlog(uint64_t ready, uint64_t sent)
{
	struct store_stats s;

	memset(&s, 0, sizeof(s));
	s.count[STORE_STATE_READY] = ready;
	s.count[STORE_STATE_SENT] = sent;
	s.waiting = ready;
	s.segments_waiting = ready;
	s.total = ready + sent;
	return s;
}

/* What is done counts the purged: the rate does not drop when the
 * retention purges sent messages. */
static void drain_counts_what_was_purged(void **state)
{
	struct drain d;
	struct drain_eval e;
	struct store_stats s = backlog(1000, 500);

	(void)state;
	drain_init(&d, 4);
	drain_add(&d, &s, 0, 0, NULL, 0, &e);
	assert_int_equal(drain_done_of(&s), 500);
	s = backlog(900, 600);
	s.count[STORE_STATE_SENT] = 100; /* 500 purged meanwhile */
	s.purged_ever = 500;
	assert_int_equal(drain_done_of(&s), 600);
	drain_add(&d, &s, 1000, 1000, NULL, 0, &e);
	assert_true(fabs(e.rate - 100.0) < 1e-9);
}

static void drain_says_draining_growing_stalled_drained(void **state)
{
	struct drain d;
	struct drain_eval e;
	struct pace_view pv[1];
	struct store_stats s;

	(void)state;
	memset(pv, 0, sizeof(pv));
	pv[0].units_per_s = 100;
	pv[0].effective_per_s = 50;
	drain_init(&d, 4);
	/* Draining: time left at the pace the provider allows. */
	s = backlog(1000, 0);
	drain_add(&d, &s, 0, 0, pv, 1, &e);
	assert_int_equal(e.state, DRAIN_DRAINING);
	assert_true(fabs(e.time_left_s - 20.0) < 1e-9);
	s = backlog(950, 50);
	drain_add(&d, &s, 1000, 1000, pv, 1, &e);
	assert_true(fabs(e.rate - 50.0) < 1e-9);
	/* Growing: more due than at the window's start. */
	s = backlog(1010, 100);
	drain_add(&d, &s, 2000, 2000, pv, 1, &e);
	assert_int_equal(e.state, DRAIN_GROWING);
	assert_true(e.time_left_s < 0);
	assert_string_equal(drain_state_name(e.state), "growing");
	/* The burst over, its backlog draining: no longer growing, though the
	 * window's start had less. */
	s = backlog(1005, 105);
	drain_add(&d, &s, 3000, 3000, pv, 1, &e);
	assert_int_equal(e.state, DRAIN_DRAINING);
	/* Stalled: a full window without anything done, the provider parked. */
	pv[0].circuit_open = 1;
	drain_init(&d, 3);
	for (int i = 0; i < 3; i++) {
		s = backlog(500, 100);
		drain_add(&d, &s, i * 1000, i * 1000, pv, 1, &e);
	}
	assert_int_equal(e.state, DRAIN_STALLED);
	assert_int_equal(e.no_provider, 1);
	/* Without a provider's word, the measured rate sets the time left;
	 * before any, it is measuring. */
	drain_init(&d, 3);
	s = backlog(500, 100);
	drain_add(&d, &s, 0, 0, NULL, 0, &e);
	assert_int_equal(e.state, DRAIN_MEASURING);
	s = backlog(400, 200);
	drain_add(&d, &s, 1000, 1000, NULL, 0, &e);
	assert_int_equal(e.state, DRAIN_DRAINING);
	assert_true(fabs(e.time_left_s - 4.0) < 1e-9);
	/* Drained; messages scheduled for later are not a backlog. */
	s = backlog(0, 600);
	s.count[STORE_STATE_DELAYED] = 7;
	s.waiting = 7;
	s.total += 7;
	s.next_due_ms = 10 * 60000;
	drain_add(&d, &s, 2000, 2000, NULL, 0, &e);
	assert_int_equal(e.state, DRAIN_DRAINED);
	assert_int_equal(e.scheduled, 7);
	assert_true(e.time_left_s == 0);
}

/* ---- report ---------------------------------------------------------------------- */

/* The value of the series `series` (the whole line up to the value) in
 * text, or NAN when it is absent. */
static double series(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

static struct watch_view *sample_view(void)
{
	struct watch_view *v = calloc(1, sizeof(*v));

	v->wall_ms = 1800000000000LL;
	v->st.count[STORE_STATE_READY] = 900;
	v->st.count[STORE_STATE_DELAYED] = 100;
	v->st.count[STORE_STATE_SENT] = 5000;
	v->st.waiting = 1000;
	v->st.total = 6000;
	v->st.oldest_waiting_id = 1;
	v->st.oldest_waiting_created_ms = v->wall_ms - 90000;
	v->has_counters = 1;
	v->c.accepted = 6000;
	v->c.rejected[7] = 3; /* invalid_phone */
	v->n_prov = 1;
	snprintf(v->prov[0].name, sizeof(v->prov[0].name), "we\"ird\\name");
	v->prov[0].slot = 2;
	v->prov[0].units_per_s = 100;
	v->prov[0].effective_per_s = 80;
	v->used_per_s[0] = 79.5;
	v->c.prov[2].sent = 5000;
	v->c.prov[2].requests[COUNTERS_HTTP_429] = 4;
	v->c.prov[2].failed[COUNTERS_FAIL_REFUSED] = 2;
	counters_observe(&v->c.prov[2].response, 20000000);
	counters_observe(&v->c.prov[2].response, 20000000000LL);
	v->drain.state = DRAIN_DRAINING;
	v->drain.time_left_s = 12.5;
	v->drain.due = 1000;
	v->has_due = 1;
	v->due.due = 1000;
	v->due.before = 250;
	v->due.complete = 1;
	return v;
}

static void metrics_text_says_the_view(void **state)
{
	struct watch_view *v = sample_view();
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	assert_int_equal(report_metrics(v, "1.2.3", f), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(series(text, "smsq_backlog_messages{state=\"ready\"}") == 900);
	assert_true(series(text, "smsq_oldest_waiting_age_seconds") == 90);
	assert_true(series(text, "smsq_drain_state{state=\"draining\"}") == 1);
	assert_true(series(text, "smsq_drain_state{state=\"growing\"}") == 0);
	assert_true(series(text, "smsq_drain_time_left_seconds") == 12.5);
	assert_true(series(text, "smsq_drain_appointments_before_end_ratio") == 0.25);
	assert_true(series(text, "smsq_events_total{result=\"rejected\",reason=\"invalid_phone\"}")
		    == 3);
	/* A provider's name is a label value: quotes and backslashes escaped. */
	assert_true(series(text, "smsq_messages_sent_total{provider=\"we\\\"ird\\\\name\"}") == 5000);
	assert_true(series(text, "smsq_provider_requests_total{provider=\"we\\\"ird\\\\name\","
			   "class=\"429\"}") == 4);
	assert_true(series(text, "smsq_messages_failed_total{provider=\"we\\\"ird\\\\name\","
			   "reason=\"refused\"}") == 2);
	/* Histograms: cumulative buckets, +Inf equal to the count. */
	assert_true(series(text, "smsq_provider_response_seconds_bucket{provider=\"we\\\"ird\\\\name\","
			   "le=\"0.025\"}") == 1);
	assert_true(series(text, "smsq_provider_response_seconds_bucket{provider=\"we\\\"ird\\\\name\","
			   "le=\"+Inf\"}") == 2);
	assert_true(series(text, "smsq_provider_response_seconds_count{provider=\"we\\\"ird\\\\name\"}")
		    == 2);
	assert_true(fabs(series(text, "smsq_provider_response_seconds_sum{provider=\"we\\\"ird\\\\name\"}")
			 - 20.02) < 1e-6);
	assert_true(series(text, "smsq_store_commit_duration_seconds_count{op=\"ingest\"}") == 0);
	assert_true(series(text, "smsq_build_info{version=\"1.2.3\"}") == 1);
	/* Every series has its HELP and TYPE. */
	assert_non_null(strstr(text, "# TYPE smsq_provider_response_seconds histogram\n"));
	assert_non_null(strstr(text, "# TYPE smsq_messages_sent_total counter\n"));
	/* Unknown: NaN, not a made-up 0. */
	v->drain.state = DRAIN_GROWING;
	v->drain.time_left_s = -1;
	v->has_due = 0;
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	assert_int_equal(report_metrics(v, "1.2.3", f), 0);
	assert_int_equal(fclose(f), 0);
	assert_true(isnan(series(text, "smsq_drain_time_left_seconds")));
	assert_non_null(strstr(text, "smsq_drain_time_left_seconds NaN\n"));
	assert_true(isnan(series(text, "smsq_drain_appointments_before_end_ratio")));
	free(text);
	free(v);
}

static void status_json_says_the_view(void **state)
{
	struct watch_view *v = sample_view();
	struct counters_data *hour_ago = calloc(1, sizeof(*hour_ago));
	json_t *j, *p, *fl;
	size_t i;
	int found = 0;

	(void)state;
	hour_ago->rejected[7] = 1;
	j = report_status_json(v, hour_ago, v->wall_ms - 3600000);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "waiting")), 1000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "states"), "sent")),
			 5000);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "drain"), "state")),
			    "draining");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "drain"),
							    "before_end")), 250);
	p = json_array_get(json_object_get(j, "providers"), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "we\"ird\\name");
	assert_true(json_real_value(json_object_get(p, "used_per_s")) == 79.5);
	assert_string_equal(json_string_value(json_object_get(p, "circuit")), "closed");
	/* Failures of the last hour: what changed since then, by class. */
	fl = json_object_get(j, "failures");
	json_array_foreach(fl, i, p) {
		if (strcmp(json_string_value(json_object_get(p, "reason")), "invalid_phone") == 0) {
			assert_int_equal(json_integer_value(json_object_get(p, "count")), 2);
			found++;
		}
	}
	assert_int_equal(found, 1);
	json_decref(j);
	free(hour_ago);
	free(v);
}

/* ---- addresses, holds --------------------------------------------------------------- */

static void listen_addresses_numeric_with_port(void **state)
{
	struct sockaddr_storage a;
	socklen_t len;
	char err[256];

	(void)state;
	assert_int_equal(addr_parse_listen("127.0.0.1:9477", &a, &len, err, sizeof(err)), 0);
	assert_int_equal(a.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&a)->sin_port), 9477);
	assert_int_equal(addr_parse_listen("[::1]:0", &a, &len, err, sizeof(err)), 0);
	assert_int_equal(a.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	const char *bad[] = { "", "9477", "localhost:9477", "127.0.0.1:", "127.0.0.1:65536",
			      "127.0.0.1:-1", "[::1:9477", "::1:9477", "1.2.3.4:80x",
			      "[127.0.0.1]:80" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(addr_parse_listen(bad[i], &a, &len, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "is not an address and port"));
	}
}

static void holds_count_once_and_pauses_are_seen(void **state)
{
	char err[256];
	pace *p;
	struct pace_view v[2];
	int slot;
	int64_t now = clock_mono_ns();

	(void)state;
	p = pace_open(dir, err, sizeof(err));
	assert_non_null(p);
	slot = pace_slot(p, "prov");
	assert_true(slot >= 0);
	/* Three workers read the same Retry-After of 2 s: 2 s held, not 6. */
	for (int i = 0; i < 3; i++)
		pace_block(p, slot, now + 2000000000LL);
	/* One extends it by a second. */
	pace_block(p, slot, now + 3000000000LL);
	assert_int_equal(pace_list(dir, v, 2), 1);
	assert_int_equal(v[0].slot, slot);
	assert_true(v[0].held_s > 2.99 && v[0].held_s < 3.01);
	/* Paused: the slot, or all sending; observers see it on the slot. */
	assert_int_equal(pace_paused(p, slot), 0);
	pace_set_paused(p, slot, 1);
	assert_int_equal(pace_paused(p, slot), 1);
	assert_int_equal(pace_paused(p, slot + 1), 0);
	pace_set_paused(p, -1, 1);
	assert_int_equal(pace_paused(p, slot + 1), 1);
	pace_set_paused(p, slot, 0);
	assert_int_equal(pace_paused(p, slot), 1); /* all sending still paused */
	assert_int_equal(pace_list(dir, v, 2), 1);
	assert_int_equal(v[0].paused, 1);
	pace_set_paused(p, -1, 0);
	assert_int_equal(pace_paused(p, slot), 0);
	assert_int_equal(pace_list(dir, v, 2), 1);
	assert_int_equal(v[0].paused, 0);
	pace_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(counters_sum_every_process_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(counters_of_another_layout_start_afresh, setup,
						teardown),
		cmocka_unit_test(histogram_buckets_by_upper_bound),
		cmocka_unit_test(drain_says_draining_growing_stalled_drained),
		cmocka_unit_test(drain_counts_what_was_purged),
		cmocka_unit_test(metrics_text_says_the_view),
		cmocka_unit_test(status_json_says_the_view),
		cmocka_unit_test(listen_addresses_numeric_with_port),
		cmocka_unit_test_setup_teardown(holds_count_once_and_pauses_are_seen, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
