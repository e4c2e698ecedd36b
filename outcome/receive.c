/*
 * receive: delivery reports in (see receive.h).
 *
 * DESIGN
 * Two threads.  libmicrohttpd's own (one epoll loop) reads each request:
 * the path names the provider and carries the token, the body is gathered
 * up to max_bytes, and the provider's adapter reads it (a pure function).
 * A request with final reports is queued and its connection suspended;
 * anything else is answered at once.  The process's main thread is the
 * committer: it takes every queued request (up to STORE_RECEIPTS_MAX
 * reports, waiting up to RECEIVE_FLUSH_MS after the first for more while
 * a connection is open that has none queued), records their reports in
 * one store_receipts() transaction, sets each request's answer (200, or
 * 503 when the store failed) and resumes its connection, whose handler
 * then sends it.  While one commit
 * runs, the next requests queue up: the busier the endpoint, the more each
 * commit carries.  A request is answered 200 only after the transaction
 * holding its reports committed and synced.
 *
 * Stopping: new requests are answered 503 (the provider sends them again),
 * the queued ones are recorded and answered, then the server stops.  A kill
 * at any moment loses no report answered 200; one not answered yet is the
 * provider's to send again.
 *
 * Counted per provider (pacing slot) by what became of each report.  Log
 * lines say the message id first; numbers in reasons are masked; the token
 * and the request's secrets are never logged.
 */
#include "outcome/receive.h"

#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/stop.h"
#include "store/pace.h"
#include "store/store.h"

#define RECEIVE_CONNECTIONS 1024  /* connections at once */
#define RECEIVE_IDLE_S 60         /* a keep-alive connection idle this long is closed */
#define RECEIVE_WAIT_MS 200       /* the committer looks at the stop flag this often */
#define RECEIVE_FLUSH_MS 5        /* a commit waits this long after its first request
				     for more, unless STORE_RECEIPTS_MAX are there */
#define RECEIVE_SAY_MS 10000      /* a failing store is logged this often at most */
#define UNREPORTED_EVERY_MS 100   /* a slice of the count of sends with no report, */
#define UNREPORTED_SLICE 20000    /* this many final messages looked at */
#define PATH_PREFIX "/receipts/"

enum call_state {
	CALL_READING = 0, /* the body is coming */
	CALL_QUEUED = 1,  /* its reports wait for the committer (suspended) */
	CALL_ANSWER = 2,  /* status and msg are set: answer them */
};

/* One request. */
struct call {
	struct call *next;               /* in the queue */
	struct MHD_Connection *conn;
	enum call_state state;
	int prov;                        /* provider index, or -1 */
	unsigned status;                 /* CALL_ANSWER: the answer */
	char msg[200];                   /* and its text */
	char *body;                      /* the body so far */
	size_t len, cap;
	int too_big;                     /* more than max_bytes came */
	struct store_receipt *r;         /* CALL_QUEUED: its final reports */
	size_t n;
	int64_t queued_ms;               /* when it was queued (mono) */
};

struct receiver {
	const struct receive_opts *o;
	int slot[PACE_MAX_SLOTS];        /* each provider's pacing slot, or -1 */
	struct MHD_Daemon *daemon;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct call *head, **tail;       /* the queue */
	size_t queued;                   /* reports in it */
	unsigned calls;                  /* requests in it */
	int closing;                     /* new requests are answered 503 */
	struct log_limit refusals;       /* refused callbacks said (the server's thread) */
	struct provider_receipt *scratch; /* STORE_RECEIPTS_MAX reports, read by the
					     server's one thread */
};

/* ---- counting ------------------------------------------------------------------ */

static void count(struct receiver *rv, int prov, enum counters_receipt what, uint64_t n)
{
	struct counters_data *c = rv->o->counters;

	if (c != NULL && prov >= 0 && rv->slot[prov] >= 0)
		counters_add(&c->prov[rv->slot[prov]].receipts[what], n);
}

static enum counters_receipt counted_as(const struct store_receipt *r)
{
	switch (r->result) {
	case STORE_RECEIPT_RECORDED:
		return r->delivered ? COUNTERS_RECEIPT_DELIVERED : COUNTERS_RECEIPT_UNDELIVERED;
	case STORE_RECEIPT_REPEATED:
		return COUNTERS_RECEIPT_REPEATED;
	case STORE_RECEIPT_OLDER:
		return COUNTERS_RECEIPT_OLDER;
	case STORE_RECEIPT_HELD:
		return COUNTERS_RECEIPT_HELD;
	default:
		return COUNTERS_RECEIPT_UNKNOWN;
	}
}

/* ---- answers ------------------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *msg)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static void set_answer(struct call *k, unsigned status, const char *msg)
{
	k->state = CALL_ANSWER;
	k->status = status;
	snprintf(k->msg, sizeof(k->msg), "%s\n", msg);
}

/* ---- reading a request ------------------------------------------------------------ */

/* Equal strings, in a time that does not depend on where they differ. */
static int same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

/* The provider a path names with the right token, or -1. */
static int provider_of(const struct receiver *rv, const char *url)
{
	const char *name = url + sizeof(PATH_PREFIX) - 1, *slash;
	size_t nl;

	if (strncmp(url, PATH_PREFIX, sizeof(PATH_PREFIX) - 1) != 0)
		return -1;
	slash = strchr(name, '/');
	if (slash == NULL || !same_secret(slash + 1, rv->o->token))
		return -1;
	nl = (size_t)(slash - name);
	for (int i = 0; i < rv->o->n_providers; i++)
		if (strlen(rv->o->providers[i].name) == nl &&
		    memcmp(rv->o->providers[i].name, name, nl) == 0)
			return i;
	return -1;
}

static const char *arg_of(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header_of(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

/* Read k's reports with its provider's adapter: answered (a refusal,
 * nothing final to record) or queued with k->r. */
static void read_reports(struct receiver *rv, struct call *k, const char *method)
{
	const struct provider_conf *conf = &rv->o->providers[k->prov];
	const struct provider_ops *ops = provider_ops_for(conf->kind);
	const char *ct = MHD_lookup_connection_value(k->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	struct provider_callback cb = {
		.method = method, .content_type = ct != NULL ? ct : "", .body = k->body,
		.body_len = k->len, .arg = arg_of, .header = header_of, .ctx = k->conn,
		.now_ms = clock_wall_ms(),
	};
	struct provider_receipt *pr = rv->scratch;
	size_t n = 0, finals = 0, interim;
	char err[256], masked[256];
	int rc;

	err[0] = '\0';
	rc = ops->receipts != NULL
		     ? ops->receipts(conf, &cb, pr, STORE_RECEIPTS_MAX, &n, err, sizeof(err))
		     : PROVIDER_RECEIPT_MALFORMED;
	if (rc != PROVIDER_RECEIPT_OK) {
		int forged = rc == PROVIDER_RECEIPT_FORGED;

		unsigned long more = log_limit_ended(&rv->refusals, cb.now_ms);

		count(rv, k->prov, forged ? COUNTERS_RECEIPT_FORGED : COUNTERS_RECEIPT_MALFORMED, 1);
		if (more > 0)
			log_warn("receipts: %lu more callbacks refused (not said)", more);
		if (log_limit_take(&rv->refusals, cb.now_ms))
			log_warn("receipts: provider=%s refused a callback (%s): %s", conf->name,
				 forged ? "forged" : "malformed",
				 log_mask_numbers(err[0] ? err : "no reason", masked,
						  sizeof(masked)));
		set_answer(k, forged ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST,
			   forged ? "forbidden: not signed as the provider signs"
				  : "bad request: not a delivery report of this provider");
		return;
	}
	for (size_t i = 0; i < n; i++)
		finals += pr[i].final != 0;
	if (finals > 0 && (k->r = malloc(finals * sizeof(*k->r))) == NULL) {
		set_answer(k, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory: send it again");
		return;
	}
	finals = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_receipt *s = &k->r[finals];

		if (!pr[i].final)
			continue;
		memset(s, 0, sizeof(*s));
		s->id = pr[i].id;
		s->delivered = pr[i].delivered;
		s->at_ms = pr[i].at_ms;
		snprintf(s->provider_id, sizeof(s->provider_id), "%s", pr[i].provider_id);
		snprintf(s->status, sizeof(s->status), "%s", pr[i].status);
		snprintf(s->error, sizeof(s->error), "%s", pr[i].error);
		snprintf(s->to, sizeof(s->to), "%s", pr[i].to);
		finals++;
	}
	interim = n - finals;
	if (interim > 0)
		count(rv, k->prov, COUNTERS_RECEIPT_INTERIM, interim);
	k->n = finals;
	if (finals == 0)
		set_answer(k, MHD_HTTP_OK, "ok");
}

/* Queue k for the committer (its connection suspended), unless the
 * endpoint is stopping. */
static void enqueue(struct receiver *rv, struct call *k)
{
	pthread_mutex_lock(&rv->mu);
	if (rv->closing) {
		pthread_mutex_unlock(&rv->mu);
		set_answer(k, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping: send it again");
		return;
	}
	k->state = CALL_QUEUED;
	k->next = NULL;
	k->queued_ms = clock_mono_ms();
	*rv->tail = k;
	rv->tail = &k->next;
	rv->queued += k->n;
	rv->calls++;
	MHD_suspend_connection(k->conn);
	pthread_cond_signal(&rv->cv); /* the committer sees whether to wait for more */
	pthread_mutex_unlock(&rv->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **ctx)
{
	struct receiver *rv = cls;
	struct call *k = *ctx;

	(void)version;
	if (k == NULL) {
		k = calloc(1, sizeof(*k));
		if (k == NULL)
			return MHD_NO;
		k->conn = c;
		k->prov = provider_of(rv, url);
		*ctx = k;
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
			set_answer(k, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: POST or GET");
		} else if (k->prov < 0) {
			if (rv->o->counters != NULL)
				counters_add(&rv->o->counters->receipt_callbacks_refused, 1);
			set_answer(k, MHD_HTTP_NOT_FOUND, "not found");
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (k->state == CALL_READING && !k->too_big) {
			if (k->len + *upload_size > rv->o->max_bytes) {
				k->too_big = 1;
			} else {
				if (k->len + *upload_size > k->cap) {
					size_t cap = (k->len + *upload_size) * 2;
					char *b = realloc(k->body, cap);

					if (b == NULL)
						return MHD_NO;
					k->body = b;
					k->cap = cap;
				}
				memcpy(k->body + k->len, upload, *upload_size);
				k->len += *upload_size;
			}
		}
		*upload_size = 0;
		return MHD_YES;
	}
	/* the whole request is in */
	if (k->state == CALL_READING) {
		if (k->too_big) {
			count(rv, k->prov, COUNTERS_RECEIPT_MALFORMED, 1);
			set_answer(k, 413, "payload too large");
		} else {
			read_reports(rv, k, method);
			if (k->state == CALL_READING)
				enqueue(rv, k);
		}
	}
	if (k->state == CALL_QUEUED)
		return MHD_YES; /* suspended: resumed when committed */
	return answer(c, k->status, k->msg);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode toe)
{
	struct call *k = *ctx;

	(void)cls;
	(void)c;
	(void)toe;
	if (k == NULL)
		return;
	free(k->body);
	free(k->r);
	free(k);
	*ctx = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_library_line("libmicrohttpd", fmt, ap);
}

/* ---- committing ---------------------------------------------------------------- */

/* Wait on rv->cv (rv->mu held) for up to ms. */
static void wait_ms(struct receiver *rv, int64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&rv->cv, &rv->mu, &until);
}

/* Whether a connection is open that has no request in the queue: one
 * that could still add to the next commit (rv->mu held). */
static int more_may_come(struct receiver *rv)
{
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(rv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return di == NULL || di->num_connections > rv->calls;
}

/* Take the first queued requests, at most STORE_RECEIPTS_MAX reports in
 * all (at least one request), waiting up to RECEIVE_WAIT_MS for one, then
 * up to RECEIVE_FLUSH_MS after it for more while another connection is
 * open that may bring some (fewer, larger commits: less time holding the
 * store's write lock that dispatch needs, one sync for more reports; a
 * provider whose every connection waits for its answer is not kept
 * waiting).  Returns the list, or NULL. */
static struct call *take(struct receiver *rv)
{
	struct call *first, *last;
	size_t n;
	int64_t left;

	pthread_mutex_lock(&rv->mu);
	if (rv->head == NULL && !stop_asked)
		wait_ms(rv, RECEIVE_WAIT_MS);
	while (rv->head != NULL && !stop_asked && rv->queued < STORE_RECEIPTS_MAX &&
	       (left = rv->head->queued_ms + RECEIVE_FLUSH_MS - clock_mono_ms()) > 0 &&
	       more_may_come(rv))
		wait_ms(rv, left < 1 ? 1 : left);
	first = last = rv->head;
	if (first != NULL) {
		n = first->n;
		while (last->next != NULL && n + last->next->n <= STORE_RECEIPTS_MAX) {
			last = last->next;
			n += last->n;
		}
		rv->head = last->next;
		if (rv->head == NULL)
			rv->tail = &rv->head;
		last->next = NULL;
		rv->queued -= n;
		for (struct call *k = first; k != NULL; k = k->next)
			rv->calls--;
	}
	pthread_mutex_unlock(&rv->mu);
	return first;
}

static void log_recorded(const struct receiver *rv, const struct call *k)
{
	const char *name = rv->o->providers[k->prov].name;

	if (log_current_level < LOG_LEVEL_DEBUG)
		return;
	for (size_t i = 0; i < k->n; i++) {
		const struct store_receipt *r = &k->r[i];
		static const char *const res[] = { "recorded", "repeated", "older", "held",
						   "unknown" };

		log_debug("%llu: provider=%s receipt=%s status=%s error=%s result=%s",
			  (unsigned long long)r->id, name, r->delivered ? "delivered" : "undelivered",
			  r->status, r->error[0] ? r->error : "-",
			  (unsigned)r->result < 5 ? res[r->result] : "?");
	}
}

/* Record the reports of the requests in list in one transaction and
 * answer each. */
static void commit(struct receiver *rv, store *st, struct call *list,
		   struct store_receipt *batch, int64_t *said_ms)
{
	size_t n = 0;
	int64_t t0 = clock_mono_ns();
	int rc;

	for (struct call *k = list; k != NULL; k = k->next) {
		memcpy(batch + n, k->r, k->n * sizeof(*batch));
		n += k->n;
	}
	rc = store_receipts(st, batch, n, clock_wall_ms());
	if (rv->o->counters != NULL)
		counters_observe(&rv->o->counters->commit_receipts, clock_mono_ns() - t0);
	if (rc != STORE_OK && clock_mono_ms() - *said_ms >= RECEIVE_SAY_MS) {
		log_error("receipts: %zu reports not recorded (answered 503: the providers send "
			  "them again): %s", n, store_errmsg(st));
		*said_ms = clock_mono_ms();
	}
	n = 0;
	while (list != NULL) {
		struct call *k = list;

		list = k->next;
		if (rc == STORE_OK) {
			memcpy(k->r, batch + n, k->n * sizeof(*batch));
			for (size_t i = 0; i < k->n; i++)
				count(rv, k->prov, counted_as(&k->r[i]), 1);
			log_recorded(rv, k);
			set_answer(k, MHD_HTTP_OK, "ok");
		} else {
			if (rv->o->counters != NULL)
				counters_add(&rv->o->counters->receipt_store_errors, 1);
			set_answer(k, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "not recorded: send it again later");
		}
		n += k->n;
		MHD_resume_connection(k->conn);
	}
}

/* A slice of the count of messages sent expect_s ago with no report, when
 * its time has come; a whole pass's count is published. */
static void count_unreported(struct receiver *rv, store *st, struct store_unreported *u,
			     int64_t *next_ms)
{
	int64_t now = clock_mono_ms();
	int passes = u->passes;

	if (now < *next_ms)
		return;
	*next_ms = now + UNREPORTED_EVERY_MS;
	if (store_unreported_step(st, u, clock_wall_ms() - rv->o->expect_s * 1000,
				  UNREPORTED_SLICE) != STORE_OK) {
		log_warn("receipts: counting sends with no report: %s", store_errmsg(st));
		*next_ms = now + RECEIVE_SAY_MS;
		return;
	}
	if (u->passes != passes && rv->o->gauges != NULL) {
		counters_set(&rv->o->gauges->receipts_unreported, u->last);
		counters_set(&rv->o->gauges->receipts_counted, 1);
	}
}

/* ---- the process ------------------------------------------------------------------ */

static struct MHD_Daemon *start_server(struct receiver *rv)
{
	struct sockaddr_storage addr;
	socklen_t alen;
	char err[256];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY |
			 MHD_ALLOW_SUSPEND_RESUME;

	if (addr_parse_listen(rv->o->listen, &addr, &alen, err, sizeof(err)) != 0) {
		log_error("receipts: receipts.listen: %s", err);
		return NULL;
	}
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, rv,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, rv,
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, rv,
				MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)RECEIVE_CONNECTIONS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)RECEIVE_IDLE_S,
				MHD_OPTION_END);
}

int receive_run(const struct receive_opts *o)
{
	struct store_opts so = { .dir = o->dir, .seal_key = o->seal_key };
	struct receiver rv;
	struct store_receipt *batch = NULL;
	int64_t said_ms = INT64_MIN / 2, next_count_ms = 0;
	struct store_unreported un;
	char err[512];
	store *st = NULL;
	pace *pc = NULL;
	int code = 1;

	log_init("receipts", o->log_level);
	log_set_format(o->log_format);
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	memset(&rv, 0, sizeof(rv));
	memset(&un, 0, sizeof(un));
	rv.o = o;
	rv.tail = &rv.head;
	rv.refusals = (struct log_limit)LOG_LIMIT_INIT(10, 10000);
	pthread_mutex_init(&rv.mu, NULL);
	pthread_cond_init(&rv.cv, NULL);
	batch = calloc(STORE_RECEIPTS_MAX, sizeof(*batch));
	rv.scratch = calloc(STORE_RECEIPTS_MAX, sizeof(*rv.scratch));
	st = batch != NULL && rv.scratch != NULL ? store_open(&so, err, sizeof(err)) : NULL;
	pc = st != NULL ? pace_open(o->dir, err, sizeof(err)) : NULL;
	if (batch == NULL || rv.scratch == NULL || st == NULL || pc == NULL) {
		log_error("receipts: %s",
			  batch == NULL || rv.scratch == NULL ? "out of memory" : err);
		goto out;
	}
	for (int i = 0; i < o->n_providers && i < PACE_MAX_SLOTS; i++)
		rv.slot[i] = pace_slot(pc, o->providers[i].name);
	rv.daemon = start_server(&rv);
	if (rv.daemon == NULL) {
		log_error("receipts: cannot listen on %s (address in use?)", o->listen);
		goto out;
	}
	log_info("started: delivery reports taken on %s", o->listen);
	if (o->gauges != NULL)
		counters_set(&o->gauges->receipts_expect_s, (uint64_t)o->expect_s);
	while (!stop_asked) {
		struct call *list = take(&rv);

		if (list != NULL)
			commit(&rv, st, list, batch, &said_ms);
		count_unreported(&rv, st, &un, &next_count_ms);
	}
	/* Stopping: refuse new ones, record and answer the queued ones. */
	pthread_mutex_lock(&rv.mu);
	rv.closing = 1;
	pthread_mutex_unlock(&rv.mu);
	for (struct call *list; (list = take(&rv)) != NULL;)
		commit(&rv, st, list, batch, &said_ms);
	{
		struct timespec gone = { 0, 100 * 1000000L }; /* the last answers leave */

		nanosleep(&gone, NULL);
	}
	code = 0;
out:
	if (rv.daemon != NULL)
		MHD_stop_daemon(rv.daemon);
	pace_close(&pc);
	store_close(&st);
	free(batch);
	free(rv.scratch);
	pthread_cond_destroy(&rv.cv);
	pthread_mutex_destroy(&rv.mu);
	return code;
}
