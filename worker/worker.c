/*
 * worker: one process of the pool (see worker.h).
 */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/stop.h"
#include "store/store.h"
#include "worker/dispatch.h"
#include "worker/ingest.h"

#define WORKER_MAX_POLL (2 + HTTP_MAX_FDS)

/* One turn of the loop: wait (at most timeout_ms) for the ingest socket and
 * its committer's "done" (in: NULL when this worker takes no events) or a
 * provider connection, then let ingest and dispatch do what is due.
 * Returns the next timeout, or -1 on a fatal error. */
static long turn(ingest *in, dispatch *d, long timeout_ms, int stopping, int *handled)
{
	zmq_pollitem_t items[WORKER_MAX_POLL];
	struct http_fd fds[HTTP_MAX_FDS];
	size_t n_fds = dispatch_fds(d, fds, HTTP_MAX_FDS);
	size_t base = 0; /* items before the provider connections */
	int n;

	if (in != NULL) {
		items[base++] = (zmq_pollitem_t){ ingest_socket(in), 0,
						  ingest_wants_input(in) ? ZMQ_POLLIN : 0, 0 };
		items[base++] = (zmq_pollitem_t){ NULL, ingest_fd(in), ZMQ_POLLIN, 0 };
	}
	for (size_t i = 0; i < n_fds; i++)
		items[base + i] = (zmq_pollitem_t){ NULL, fds[i].fd,
						    (short)((fds[i].want_read ? ZMQ_POLLIN : 0) |
							    (fds[i].want_write ? ZMQ_POLLOUT : 0)),
						    0 };
	n = zmq_poll(items, (int)(base + n_fds), timeout_ms);
	if (n < 0 && errno != EINTR) {
		log_error("poll: %s", zmq_strerror(errno));
		return -1;
	}
	for (size_t i = 0; n > 0 && i < n_fds; i++)
		if (items[base + i].revents != 0)
			dispatch_on_fd(d, fds[i].fd,
				       (items[base + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) != 0,
				       (items[base + i].revents & ZMQ_POLLOUT) != 0);
	*handled = in ? ingest_process(in, 0) : 0;
	if (*handled < 0)
		return -1;
	return dispatch_step(d, stopping);
}

/* Stopping: store and ack what already reached this worker (until none has
 * come for WORKER_DRAIN_QUIET_MS; one that bound the ingest endpoint reads
 * nothing more: ingest_stop_intake()), let the requests in flight finish
 * and record their outcomes (give the queued messages back), within
 * budget_ms.
 * Returns 0, or -1 on a fatal error. */
static int drain(ingest *in, dispatch *d, int64_t budget_ms)
{
	int64_t start = clock_mono_ms();
	int64_t last_input = start;
	long next = 0;

	if (in != NULL)
		ingest_stop_intake(in);
	for (;;) {
		int handled = 0;
		int64_t now = clock_mono_ms();

		if (now - last_input >= WORKER_DRAIN_QUIET_MS && dispatch_idle(d) &&
		    (in == NULL || ingest_idle(in)))
			return 0;
		if (now - start >= budget_ms) {
			log_warn("stop budget spent with requests in flight: their leases will run out");
			return 0;
		}
		next = turn(in, d, next < WORKER_DRAIN_QUIET_MS / 4 ? next : WORKER_DRAIN_QUIET_MS / 4, 1,
			    &handled);
		if (next < 0)
			return -1;
		if (handled > 0)
			last_input = clock_mono_ms();
	}
}

/* Purge what the retention allows and erase what the personal-data window
 * allows (store.h, "retention and erasure"), in steps, for at most
 * WORKER_PURGE_BUDGET_MS: until a round of each sweep ends.
 * Returns 1 when it did (caught up: the next tick can wait), 0 when the
 * budget ran out first (more to do: the next turn of the loop goes on).  A
 * failure is said at most once a minute (*said_at) and counts as caught
 * up: the next tick tries again. */
static int purge(store *st, int64_t *said_at)
{
	int64_t start = clock_mono_ms();
	struct store_purged p;
	int purged = 0, erased = 0;

	do {
		if (store_purge(st, clock_wall_ms(), STORE_PURGE_VISIT, &p) != STORE_OK) {
			if (clock_mono_ms() - *said_at >= 60000) {
				log_warn("purge: %s (tried again)", store_errmsg(st));
				*said_at = clock_mono_ms();
			}
			return 1;
		}
		purged |= p.wrapped;
		erased |= p.erase_wrapped;
	} while (!(purged && erased) && clock_mono_ms() - start < WORKER_PURGE_BUDGET_MS);
	return purged && erased;
}

/* Start ingest into *in; when it cannot start, log why and set *retry_at
 * (else -1).  Returns 0 started, -1 not. */
static int start_ingest(const struct ingest_opts *io, store *st, ingest **in, int64_t *retry_at)
{
	char err[512];

	*in = ingest_new(io, st, err, sizeof(err));
	if (*in != NULL) {
		*retry_at = -1;
		return 0;
	}
	log_error("ingest: %s (sending goes on; trying again in %d ms)", err,
		  WORKER_INGEST_RETRY_MS);
	*retry_at = clock_mono_ms() + WORKER_INGEST_RETRY_MS;
	return -1;
}

int worker_run(const struct config *cfg, int index, const char *endpoint, int router, int purges,
	       struct counters_data *ctr, velocity_table *vt)
{
	struct store_opts so = {
		.dir = cfg->store_dir,
		.map_bytes = (uint64_t)cfg->store_map_size_mb << 20,
		.map_max_bytes = (uint64_t)cfg->store_map_max_mb << 20,
		.record_ceiling = 1,
		.retention_ms = (int64_t)cfg->store_retention_s * 1000,
		.keys_ms = (int64_t)cfg->store_keys_s * 1000,
		.personal_ms = (int64_t)cfg->store_personal_data_s * 1000,
		.seal_key = CONFIG_STORE_KEY(cfg),
		.outbox_max = cfg->outcomes_url[0] != '\0' ? (uint64_t)cfg->outcomes_max : 0,
	};
	struct auth_opts ao = {
		.secret_key = cfg->ingest_curve_secret,
		.producers_dir = cfg->ingest_curve_producers,
		.refused = ctr != NULL ? &ctr->producers_refused : NULL,
	};
	struct ingest_opts io = {
		.endpoint = endpoint,
		.auth = router && cfg->ingest_curve_secret[0] != '\0' ? &ao : NULL,
		.router = router,
		.batch_max = (size_t)cfg->ingest_batch_max,
		.max_event_bytes = (size_t)cfg->ingest_max_event_bytes,
		.hwm = (int)cfg->ingest_hwm,
		.counters = ctr,
		.cancel_notice = strcmp(cfg->ingest_cancel_notice, "always") == 0
					 ? STORE_NOTICE_ALWAYS
					 : STORE_NOTICE_IF_TOLD,
	};
	struct prepare_opts text;
	char err[512];
	char role[32];
	enum log_level lvl = LOG_LEVEL_INFO;
	enum log_format fmt = LOG_FORMAT_TEXT;
	struct velocity_limits vl;
	velocity *vel = NULL;
	store *st = NULL;
	ingest *in = NULL;
	dispatch *d = NULL;
	int code = 1;

	snprintf(role, sizeof(role), "worker-%d", index);
	(void)log_level_parse(cfg->log_level, &lvl);
	(void)log_format_parse(cfg->log_format, &fmt);
	log_init(role, lvl);
	log_set_format(fmt);
	stop_on_signals();

	if (config_text_opts(cfg, &text, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	io.text = &text;
	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		log_error("%s", err);
		goto out;
	}
	config_velocity_limits(cfg, &vl);
	vel = velocity_open(vt, &vl, err, sizeof(err));
	if (vel == NULL) {
		log_error("%s", err);
		goto out;
	}
	io.velocity = vel;
	io.velocity_hold = strcmp(cfg->velocity_over_limit, "hold") == 0;
	/* Workers 1 .. ingest.workers take events: with LMDB's one writer at
	 * a time, more ingesting workers mostly wait on each other's commits
	 * (etc/smsq.conf, ingest.workers). */
	int takes_events = cfg->ingest_workers == 0 || index <= cfg->ingest_workers;
	int64_t ingest_retry_at = -1; /* when to try ingest_new() again, or -1 */

	d = dispatch_new(cfg, st, err, sizeof(err));
	if (d == NULL) {
		log_error("dispatch: %s", err);
		goto out;
	}
	dispatch_set_counters(d, ctr);
	dispatch_set_velocity(d, vel);
	/* Ingest that cannot start (the endpoint's port held by another
	 * program) does not stop sending: it is tried again meanwhile. */
	if (takes_events && start_ingest(&io, st, &in, &ingest_retry_at) != 0)
		log_info("started: store %s, %d provider(s), sending; taking events once "
			 "ingest starts", cfg->store_dir, cfg->n_providers);
	else
		log_info("started: store %s, %d provider(s), %s", cfg->store_dir,
			 cfg->n_providers, in ? "taking events" : "sending only (ingest.workers)");

	int64_t next_check = clock_mono_ms() + WORKER_READER_CHECK_MS;
	int64_t next_purge = purges ? clock_mono_ms() : INT64_MAX, purge_said = INT64_MIN / 2;
	long timeout = 0;
	while (!stop_asked) {
		int handled = 0;

		if (ingest_retry_at >= 0) {
			int64_t now = clock_mono_ms();

			if (now >= ingest_retry_at) {
				if (start_ingest(&io, st, &in, &ingest_retry_at) == 0)
					log_info("taking events");
				now = clock_mono_ms();
			}
			if (ingest_retry_at >= 0 && timeout > ingest_retry_at - now)
				timeout = (long)(ingest_retry_at - now);
		}
		timeout = turn(in, d, timeout, 0, &handled);
		if (timeout < 0)
			goto out;
		if (handled > 0)
			timeout = 0; /* more may be waiting */
		if (clock_mono_ms() >= next_check) {
			int dead = store_reader_check(st);

			if (dead > 0)
				log_info("cleared %d stale reader slot(s)", dead);
			next_check = clock_mono_ms() + WORKER_READER_CHECK_MS;
		}
		if (clock_mono_ms() >= next_purge) {
			/* Behind, it goes on after the next turn; caught up, it
			 * waits a tick. */
			next_purge = purge(st, &purge_said) ? clock_mono_ms() + WORKER_PURGE_EVERY_MS
							     : clock_mono_ms();
			if (timeout > next_purge - clock_mono_ms())
				timeout = (long)(next_purge - clock_mono_ms());
		}
	}
	if (drain(in, d, cfg->pool_shutdown_timeout_ms * 3 / 4) != 0)
		goto out;
	/* Whatever still trickles in is answered RETRY_LATER (shutting_down);
	 * a worker that bound the endpoint reads none (ingest_stop_intake()). */
	while (in && ingest_process(in, 1) > 0)
		;
	struct dispatch_counts dc;
	dispatch_get_counts(d, &dc);
	log_info("dispatch stopped: requests=%llu sent=%llu failed=%llu retried=%llu throttled=%llu "
		 "expired=%llu lost=%llu withheld=%llu",
		 (unsigned long long)dc.requests, (unsigned long long)dc.sent,
		 (unsigned long long)dc.failed, (unsigned long long)dc.retried,
		 (unsigned long long)dc.throttled, (unsigned long long)dc.expired,
		 (unsigned long long)dc.lost, (unsigned long long)dc.withheld);
	struct ingest_counts c = { 0 };
	if (in)
		ingest_get_counts(in, &c);
	log_info("stopped: accepted=%llu duplicate=%llu rejected=%llu retry_later=%llu commits=%llu "
		 "acks_dropped=%llu",
		 (unsigned long long)c.accepted, (unsigned long long)c.duplicate,
		 (unsigned long long)c.rejected, (unsigned long long)c.retry,
		 (unsigned long long)c.commits, (unsigned long long)c.acks_dropped);
	code = 0;
out:
	dispatch_destroy(&d);
	ingest_destroy(&in);
	velocity_close(&vel);
	store_close(&st);
	return code;
}
