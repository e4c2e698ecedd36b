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
#include "store/store.h"
#include "worker/ingest.h"

static volatile sig_atomic_t worker_stop;

static void on_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* Handle input until none has come for quiet_ms.  Returns -1 on socket
 * failure. */
static int drain(ingest *in, int64_t quiet_ms)
{
	int64_t last = clock_mono_ms();

	while (clock_mono_ms() - last < quiet_ms) {
		zmq_pollitem_t it = { ingest_socket(in), 0, ZMQ_POLLIN, 0 };

		if (zmq_poll(&it, 1, (long)quiet_ms / 4) < 0 && errno != EINTR)
			return -1;
		int n = ingest_process(in, 0);
		if (n < 0)
			return -1;
		if (n > 0)
			last = clock_mono_ms();
	}
	return 0;
}

int worker_run(const struct config *cfg, int index, const char *backend)
{
	struct store_opts so = {
		.dir = cfg->store_dir,
		.map_bytes = (uint64_t)cfg->store_map_size_mb << 20,
		.map_max_bytes = (uint64_t)cfg->store_map_max_mb << 20,
	};
	struct ingest_opts io = {
		.backend = backend,
		.batch_max = (size_t)cfg->ingest_batch_max,
		.max_event_bytes = (size_t)cfg->ingest_max_event_bytes,
		.hwm = (int)cfg->ingest_hwm,
		.limits = { .max_text_bytes = (size_t)cfg->ingest_max_text_bytes },
	};
	struct sigaction sa;
	char err[512];
	char role[32];
	enum log_level lvl = LOG_LEVEL_INFO;
	store *st = NULL;
	ingest *in = NULL;
	int code = 1;

	snprintf(role, sizeof(role), "worker-%d", index);
	(void)log_level_parse(cfg->log_level, &lvl);
	log_init(role, lvl);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		log_error("%s", err);
		goto out;
	}
	in = ingest_new(&io, st, err, sizeof(err));
	if (in == NULL) {
		log_error("ingest: %s", err);
		goto out;
	}
	log_info("started: store %s", cfg->store_dir);

	int64_t next_check = clock_mono_ms() + WORKER_READER_CHECK_MS;
	while (!worker_stop) {
		zmq_pollitem_t it = { ingest_socket(in), 0, ZMQ_POLLIN, 0 };

		if (zmq_poll(&it, 1, WORKER_POLL_MS) < 0 && errno != EINTR) {
			log_error("poll: %s", zmq_strerror(errno));
			goto out;
		}
		if (ingest_process(in, 0) < 0)
			goto out;
		if (clock_mono_ms() >= next_check) {
			int dead = store_reader_check(st);

			if (dead > 0)
				log_info("cleared %d stale reader slot(s)", dead);
			next_check = clock_mono_ms() + WORKER_READER_CHECK_MS;
		}
	}
	/* Stopping: the broker has stopped taking requests; store and ack what
	 * already reached this worker. */
	if (drain(in, WORKER_DRAIN_QUIET_MS) != 0)
		goto out;
	/* Whatever still trickles in is answered RETRY_LATER (shutting_down). */
	while (ingest_process(in, 1) > 0)
		;
	struct ingest_counts c;
	ingest_get_counts(in, &c);
	log_info("stopped: accepted=%llu duplicate=%llu rejected=%llu retry_later=%llu commits=%llu",
		 (unsigned long long)c.accepted, (unsigned long long)c.duplicate,
		 (unsigned long long)c.rejected, (unsigned long long)c.retry,
		 (unsigned long long)c.commits);
	code = 0;
out:
	ingest_destroy(&in);
	store_close(&st);
	return code;
}
