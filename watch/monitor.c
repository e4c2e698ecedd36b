/*
 * monitor: the pool's HTTP window for ops (see monitor.h).
 *
 * DESIGN
 * Two threads.  The main one reads a view of the pool every
 * MONITOR_SAMPLE_MS (report.h: the store, the counters, the pacing file)
 * and keeps what only a series of views can tell: the drain window, the
 * view of the window's start (the providers' used rates), a point of
 * history every MONITOR_HISTORY_STEP_S for an hour, and the counters of
 * every minute for an hour (the failures of the last hour).  libmicrohttpd's
 * own thread answers requests from the latest view, copied under the mutex
 * and formatted outside it: a scrape never reads the store, so any number
 * of scrapers cost the pool one read a second.
 *
 * The status page is watch/status.html, built into the program
 * (watch/status_page.S) and served as it is: it fetches /status.json every
 * second and /history.json once, and draws with inline SVG.
 */
#include "watch/monitor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/stop.h"
#include "common/xalloc.h"
#include "store/datadir.h"
#include "store/store.h"
#include "watch/report.h"

#ifndef SMSQ_VERSION
#define SMSQ_VERSION "unknown"
#endif

#define HIST_POINTS (MONITOR_HISTORY_S / MONITOR_HISTORY_STEP_S)
#define MINUTES 61                   /* counters of each minute, an hour back */
#define CONNECTION_LIMIT 64
#define IDLE_TIMEOUT_S 30
#define SAMPLE_LOG_MS 60000          /* a failing read is logged this often */
#define TEXT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_TYPE "application/json; charset=utf-8"
#define HTML_TYPE "text/html; charset=utf-8"

/* The page, from watch/status_page.S. */
extern const char watch_status_html[];

struct point {
	int64_t t_ms;          /* wall clock */
	uint64_t waiting;      /* backlog */
	uint64_t due;          /* of which due */
	uint64_t done;         /* sent + delivered + failed + expired, ever */
	double rate;           /* done per second */
	double pace;           /* what the pace allows (0: none) */
	double time_left;      /* s, -1 unknown */
};

struct monitor {
	const struct monitor_opts *o;  /* borrowed */
	store *st;
	struct drain dr;
	pthread_mutex_t mu;                  /* guards what the server thread reads */
	struct watch_view *ring;             /* the last MONITOR_WINDOW + 1 views */
	size_t ring_n, ring_next;
	int have_view;                       /* ring holds at least one */
	struct point hist[HIST_POINTS];      /* ring of points */
	size_t hist_n, hist_next;
	int64_t hist_last_ms;
	struct counters_data *minutes;       /* [MINUTES] counters at each minute */
	int64_t minute_ms[MINUTES];
	size_t min_n, min_next;
	int64_t min_last_ms;
	struct MHD_Daemon *daemon;
	char url[160];
};

/* ---- answers ------------------------------------------------------------------ */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
			      char *body, size_t len, int owned)
{
	struct MHD_Response *r =
		owned ? MHD_create_response_from_buffer_with_free_callback(len, body, free)
		      : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* The page is all inline: it needs nothing from anywhere else. */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; script-src 'unsafe-inline'; "
				"style-src 'unsafe-inline'; img-src 'self' data:");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return answer(c, status, "text/plain; charset=utf-8", (char *)msg, strlen(msg), 0);
}

/* The latest view, copied (caller frees), or NULL before the first. */
static struct watch_view *latest(struct monitor *m)
{
	struct watch_view *v = NULL;

	pthread_mutex_lock(&m->mu);
	if (m->have_view) {
		v = xmalloc(sizeof(*v));
		*v = m->ring[(m->ring_next + MONITOR_WINDOW) % (MONITOR_WINDOW + 1)];
	}
	pthread_mutex_unlock(&m->mu);
	return v;
}

static enum MHD_Result serve_metrics(struct monitor *m, struct MHD_Connection *c)
{
	struct watch_view *v = latest(m);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (v == NULL)
		return answer_text(c, 503, "no view of the pool yet: try again in a second\n");
	f = open_memstream(&buf, &len);
	if (f == NULL) {
		free(v);
		return answer_text(c, 503, "out of memory\n");
	}
	rc = report_metrics(v, SMSQ_VERSION, f);
	free(v);
	if (fclose(f) != 0 || rc != 0) {
		free(buf);
		return answer_text(c, 503, "out of memory\n");
	}
	return answer(c, 200, TEXT_TYPE, buf, len, 1);
}

static enum MHD_Result serve_json(struct MHD_Connection *c, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL)
		return answer_text(c, 503, "out of memory\n");
	return answer(c, 200, JSON_TYPE, s, strlen(s), 1);
}

static enum MHD_Result serve_status(struct monitor *m, struct MHD_Connection *c)
{
	struct watch_view *v = latest(m);
	struct counters_data *old = NULL;
	int64_t old_ms = 0;
	json_t *j;

	if (v == NULL)
		return answer_text(c, 503, "no view of the pool yet: try again in a second\n");
	pthread_mutex_lock(&m->mu);
	if (m->min_n > 0) {
		size_t oldest = (m->min_next + MINUTES - m->min_n) % MINUTES;

		old = xmalloc(sizeof(*old));
		*old = m->minutes[oldest];
		old_ms = m->minute_ms[oldest];
	}
	pthread_mutex_unlock(&m->mu);
	j = report_status_json(v, old, old_ms);
	if (j != NULL)
		json_object_set_new(j, "version", json_string(SMSQ_VERSION));
	free(old);
	free(v);
	return serve_json(c, j);
}

static enum MHD_Result serve_history(struct monitor *m, struct MHD_Connection *c)
{
	json_t *pts = json_array();
	json_t *j;
	int rc = pts == NULL;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; !rc && i < m->hist_n; i++) {
		const struct point *p = &m->hist[(m->hist_next + HIST_POINTS - m->hist_n + i) %
						 HIST_POINTS];
		json_t *a = json_pack("[I, I, I, I, f, f, o]", (json_int_t)p->t_ms,
				      (json_int_t)p->waiting, (json_int_t)p->due, (json_int_t)p->done,
				      p->rate, p->pace,
				      p->time_left >= 0 ? json_real(p->time_left) : json_null());

		rc = a == NULL || json_array_append_new(pts, a) != 0;
	}
	pthread_mutex_unlock(&m->mu);
	if (rc) {
		json_decref(pts);
		return answer_text(c, 503, "out of memory\n");
	}
	j = json_pack("{s:i, s:[s,s,s,s,s,s,s], s:o}", "step_s", MONITOR_HISTORY_STEP_S, "columns",
		      "t_ms", "waiting", "due", "done", "rate_per_s", "pace_per_s", "time_left_s",
		      "points", pts);
	return serve_json(c, j);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_len, void **con_cls)
{
	struct monitor *m = cls;

	(void)version;
	(void)upload;
	/* First call: headers only.  A body is not wanted: it is read and
	 * dropped, then the request is refused. */
	if (*con_cls == NULL) {
		*con_cls = (void *)1;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer_text(c, 405, "only GET\n");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(m, c);
	if (strcmp(url, "/status.json") == 0)
		return serve_status(m, c);
	if (strcmp(url, "/history.json") == 0)
		return serve_history(m, c);
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
		return answer(c, 200, HTML_TYPE, (char *)watch_status_html,
			      strlen(watch_status_html), 0);
	return answer_text(c, 404, "not found: /, /metrics, /status.json, /history.json\n");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_library_line("libmicrohttpd", fmt, ap);
}

/* ---- the server ------------------------------------------------------------------ */

static void write_url(struct monitor *m)
{
	char err[512];
	int fd = datadir_open(m->o->dir, DATADIR_MONITOR_URL,
			      O_WRONLY | O_CREAT | O_TRUNC, 0600, err, sizeof(err));
	size_t n = strlen(m->url);

	if (fd < 0) {
		log_warn("monitor: %s", err);
		return;
	}
	if (write(fd, m->url, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		log_warn("monitor: write %s/%s: %s", m->o->dir, DATADIR_MONITOR_URL,
			 strerror(errno));
	close(fd);
}

/* Bind and start the server.  Returns 0, or -1 (said once per
 * `said` flag). */
static int start_server(struct monitor *m, int *said)
{
	struct sockaddr_storage addr;
	socklen_t alen;
	char err[256], host[INET6_ADDRSTRLEN];
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY;

	if (addr_parse_listen(m->o->listen, &addr, &alen, err, sizeof(err)) != 0) {
		log_error("monitor: metrics.listen: %s", err);
		return -1;
	}
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m,
				     MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
				     MHD_OPTION_END);
	if (m->daemon == NULL) {
		if (!*said)
			log_warn("monitor: cannot listen on %s (address in use?): metrics and the "
				 "status page are off; trying again every %d s, sending goes on",
				 m->o->listen, MONITOR_RETRY_BIND_MS / 1000);
		*said = 1;
		return -1;
	}
	di = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof(host));
	snprintf(m->url, sizeof(m->url), addr.ss_family == AF_INET6 ? "http://[%s]:%u/"
								   : "http://%s:%u/",
		 host, di != NULL ? (unsigned)di->port : 0u);
	write_url(m);
	log_info("monitor: status page %s, metrics %smetrics", m->url, m->url);
	*said = 0;
	return 0;
}

/* ---- sampling ---------------------------------------------------------------------- */

/* Say in the log what an operator paused or resumed since the last view
 * (the monitor is the one process that sees every change). */
static void say_pauses(struct monitor *m, const struct watch_view *v)
{
	const struct watch_view *last;

	if (m->ring_n == 0)
		return;
	last = &m->ring[(m->ring_next + MONITOR_WINDOW) % (MONITOR_WINDOW + 1)];
	for (int i = 0; i < v->n_paused; i++) {
		int was = 0;

		for (int j = 0; j < last->n_paused; j++)
			was |= strcmp(last->paused[j].name, v->paused[i].name) == 0;
		if (!was)
			log_warn("monitor: %s paused by an operator (smsqctl pause)",
				 strcmp(v->paused[i].name, STORE_PAUSE_ALL) == 0 ? "all sending"
										   : v->paused[i].name);
	}
	for (int j = 0; j < last->n_paused; j++) {
		int is = 0;

		for (int i = 0; i < v->n_paused; i++)
			is |= strcmp(last->paused[j].name, v->paused[i].name) == 0;
		if (!is)
			log_info("monitor: %s resumed", strcmp(last->paused[j].name,
							       STORE_PAUSE_ALL) == 0
								? "all sending" : last->paused[j].name);
	}
}

static void sample(struct monitor *m, int64_t *fail_said_ms)
{
	struct watch_view *v = xmalloc(sizeof(*v));
	const struct watch_view *prev = NULL;
	char err[512];
	size_t slot;

	pthread_mutex_lock(&m->mu);
	/* The oldest view of the ring: the window's start.  Read without the
	 * lock below: only this thread writes the ring. */
	if (m->ring_n > 0)
		prev = &m->ring[(m->ring_next + MONITOR_WINDOW + 1 - m->ring_n) % (MONITOR_WINDOW + 1)];
	pthread_mutex_unlock(&m->mu);
	if (watch_view_read(m->st, m->o->dir, &m->dr, prev, v, err, sizeof(err)) != 0) {
		if (clock_mono_ms() - *fail_said_ms >= SAMPLE_LOG_MS) {
			log_warn("monitor: cannot read the store: %s", err);
			*fail_said_ms = clock_mono_ms();
		}
		free(v);
		return;
	}
	say_pauses(m, v);
	pthread_mutex_lock(&m->mu);
	/* The ring holds MONITOR_WINDOW + 1 views: the newest overwrites the
	 * oldest once the window is full. */
	if (m->ring_n == MONITOR_WINDOW + 1)
		m->ring_n--;
	slot = m->ring_next;
	m->ring[slot] = *v;
	m->ring_next = (m->ring_next + 1) % (MONITOR_WINDOW + 1);
	m->ring_n++;
	m->have_view = 1;
	if (v->wall_ms - m->hist_last_ms >= MONITOR_HISTORY_STEP_S * 1000) {
		m->hist[m->hist_next] = (struct point){
			v->wall_ms, v->st.waiting, v->drain.due, drain_done_of(&v->st),
			v->drain.rate, v->drain.pace_per_s, v->drain.time_left_s,
		};
		m->hist_next = (m->hist_next + 1) % HIST_POINTS;
		if (m->hist_n < HIST_POINTS)
			m->hist_n++;
		m->hist_last_ms = v->wall_ms;
	}
	if (v->has_counters && v->wall_ms - m->min_last_ms >= 60000) {
		m->minutes[m->min_next] = v->c;
		m->minute_ms[m->min_next] = v->wall_ms;
		m->min_next = (m->min_next + 1) % MINUTES;
		if (m->min_n < MINUTES)
			m->min_n++;
		m->min_last_ms = v->wall_ms;
	}
	pthread_mutex_unlock(&m->mu);
	free(v);
}

int monitor_run(const struct monitor_opts *o)
{
	struct store_opts so = { .dir = o->dir, .read_only = 1 };
	struct monitor m;
	char err[512];
	int said_bind = 0, code = 1;
	int64_t next_bind = 0, fail_said = -SAMPLE_LOG_MS;

	log_init("monitor", o->log_level);
	log_set_format(o->log_format);
	memset(&m, 0, sizeof(m));
	m.o = o;
	pthread_mutex_init(&m.mu, NULL);
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	m.st = store_open(&so, err, sizeof(err));
	if (m.st == NULL) {
		log_error("monitor: %s", err);
		goto out;
	}
	drain_init(&m.dr, MONITOR_WINDOW);
	m.ring = xcalloc(MONITOR_WINDOW + 1, sizeof(*m.ring));
	m.minutes = xcalloc(MINUTES, sizeof(*m.minutes));
	while (!stop_asked) {
		int64_t now = clock_mono_ms();
		struct timespec ts;

		if (m.daemon == NULL && now >= next_bind &&
		    start_server(&m, &said_bind) != 0)
			next_bind = now + MONITOR_RETRY_BIND_MS;
		sample(&m, &fail_said);
		now = clock_mono_ms() % MONITOR_SAMPLE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(MONITOR_SAMPLE_MS - now) * 1000000L;
		nanosleep(&ts, NULL); /* a stop signal ends it early */
	}
	code = 0;
out:
	if (m.daemon != NULL) {
		char path[4200];

		MHD_stop_daemon(m.daemon);
		snprintf(path, sizeof(path), "%s/%s", o->dir, DATADIR_MONITOR_URL);
		(void)unlink(path);
	}
	store_close(&m.st);
	free(m.ring);
	free(m.minutes);
	pthread_mutex_destroy(&m.mu);
	return code;
}
