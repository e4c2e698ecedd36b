/*
 * monitor: the pool's process that ops look through: an HTTP server (on
 * libmicrohttpd, metrics.listen) with
 *
 *   GET /metrics        Prometheus text exposition (docs/METRICS.md)
 *   GET /               the status page: one HTML page with its script and
 *                       styles inline, no external asset, refreshing itself
 *                       from the two below
 *   GET /status.json    the latest view as JSON (report_status_json())
 *   GET /history.json   the last hour, a point every MONITOR_HISTORY_STEP_S
 *
 * It reads the data directory only (the store as an LMDB reader, the
 * counters and pacing files), once a second, so that scrapes cost the
 * sending processes nothing: whatever the number of scrapes, the store is
 * read once a second.  It is a child of the pool like the workers
 * (restarted when it dies) and takes nothing they need: when it cannot bind
 * its address it says so and tries again, and the pool sends on.
 *
 * Where it listens, once it does, is written to <dir>/monitor.url
 * ("http://127.0.0.1:9477/"), removed when it stops: with port 0 in
 * metrics.listen the kernel picks one (tests, the demo).
 */
#ifndef SMSQ_MONITOR_H
#define SMSQ_MONITOR_H

#include "common/log.h"
#include "common/attrs.h"

#define MONITOR_SAMPLE_MS 1000      /* a view of the pool this often */
#define MONITOR_WINDOW 10           /* views in the drain's rate window */
#define MONITOR_HISTORY_S 3600      /* the chart's hour */
#define MONITOR_HISTORY_STEP_S 5    /* a point of history.json every 5 s */
#define MONITOR_RETRY_BIND_MS 5000  /* an address that could not be bound is tried again */

struct monitor_opts {
	const char *dir;              /* the pool's data directory */
	const char *listen;           /* metrics.listen: "IPv4:port" or "[IPv6]:port" */
	enum log_level log_level;     /* its log lines' */
	enum log_format log_format;
};

/* Run the monitor of the pool in o->dir until SIGTERM or SIGINT.  Returns
 * the process exit code. */
int monitor_run(const struct monitor_opts *o) SMSQ_WARN_UNUSED;

#endif
