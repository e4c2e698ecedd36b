/*
 * fake_server: HTTP for the fake SMS provider, on libmicrohttpd (see
 * fake_server.h for the routes).
 *
 * DESIGN
 * libmicrohttpd runs a pool of threads, each with its own epoll loop, over
 * keep-alive connections.  The access handler is called several times per
 * request; struct req (the request's *con_cls) carries it through:
 *
 *   READING   first call: route it; then body chunks are appended (up to
 *             max_body_bytes, the rest discarded and answered 413);
 *             last call (no more data): handle() decides and answers, or
 *             suspends the connection -> DELAYED or HUNG
 *   DELAYED   fake_timer resumed it when its latency passed: queue the
 *             answer prepared at arrival
 *   HUNG      fake_timer resumed it (client gone, ceiling, shutdown):
 *             return MHD_NO, which closes the connection unanswered
 *   ANSWERED  refused at the first call (413 from Content-Length): the
 *             rest of the body, if libmicrohttpd hands any, is ignored
 *
 * Everything about a request is decided when its body is complete (the
 * "receive time" of the record file), even if the answer leaves later:
 * the rate limit, the counters and the record line see the arrival.
 *
 * Shutdown: libmicrohttpd must not be stopped with suspended connections,
 * so fake_server_stop() first stops the timer, which resumes every
 * suspended connection (new delays and hangs are refused from then on),
 * checks that none is left, and only then stops the daemon (which
 * processes the connections resumed but not yet run).
 */
#include "fake/fake_server.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "fake/fake_buf.h"
#include "fake/fake_timer.h"
#include "common/num.h"
#include "common/attrs.h"

#define TWILIO_PREFIX "/2010-04-01/"
#define TWILIO_ACCOUNTS "/2010-04-01/Accounts/"
#define TWILIO_MESSAGES "/Messages.json"
#define INFOBIP_PATH "/sms/2/text/advanced"
#define WEBHOOK_PATH "/webhook"
#define SINCH_PREFIX "/xms/v1/"
#define SINCH_BATCHES "/batches"
#define VONAGE_PATH "/sms/json"
#define STATS_PATH "/_stats"
#define FORM_FIELD_MAX (64u << 10)   /* a decoded Twilio form field, bytes */
#define POST_BUFFER_BYTES 1024       /* libmicrohttpd post processor buffer */
#define STOP_POLL_NS 1000000L        /* 1 ms */
#define JSON_TYPE "application/json; charset=utf-8"

enum route {
	ROUTE_API = 0,        /* one of the APIs (req->api) */
	ROUTE_STATS = 1,      /* GET /_stats */
	ROUTE_NOT_FOUND = 2,  /* 404 */
	ROUTE_METHOD = 3,     /* 405 */
};

enum req_state {
	REQ_READING = 0,      /* receiving the body */
	REQ_DELAYED = 1,      /* suspended until its answer is due */
	REQ_HUNG = 2,         /* suspended, never to be answered */
	REQ_ANSWERED = 3,     /* answered before its body was read */
};


struct field {
	char *data;           /* decoded value, NUL-terminated (NULL: absent) */
	size_t len;           /* bytes */
};

struct req {
	fake_server *srv;                 /* the server */
	struct MHD_Connection *conn;      /* its connection */
	enum route route;                 /* what the path selected */
	enum fake_api api;                /* ROUTE_API: which; else the error shape */
	const char *allow;                /* ROUTE_METHOD: the Allow header */
	char *path_account;               /* Twilio's AccountSid, Sinch's service plan id,
					     from the path (owned) */
	struct fake_buf body;             /* the body so far (owned) */
	int too_big;                      /* body over max_body_bytes: 413 */
	enum req_state state;             /* see DESIGN */
	struct MHD_Response *resp;        /* DELAYED: the answer to send */
	unsigned status;                  /* DELAYED: its status */
	struct field form[FAKE_APIS_FORM_MAX]; /* form fields, decoded (Twilio, Vonage:
						  fake_apis_form_fields()) */
};

struct fake_server {
	struct fake_server_opts o;        /* options (borrowed objects) */
	struct MHD_Daemon *daemon;        /* libmicrohttpd */
	fake_timer *timer;                /* resumes suspended connections */
	atomic_int stopping;              /* 1: no new delays or hangs */
	atomic_long suspended;            /* connections suspended, not yet resumed */
	uint16_t port;                    /* bound port */
};

/* ---------------------------------------------------------------- helpers */

static void req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	for (int i = 0; i < FAKE_APIS_FORM_MAX; i++)
		free(r->form[i].data);
	free(r->path_account);
	fake_buf_free(&r->body);
	free(r);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* Build an MHD response for ans (status in *status).  Never NULL. */
static struct MHD_Response *make_response(const struct fake_answer *ans, const char *allow)
{
	struct MHD_Response *resp;
	char *text = ans->text == NULL && ans->body != NULL ? json_dumps(ans->body, JSON_COMPACT) :
		     NULL;
	char value[32];

	if (ans->text != NULL)
		resp = MHD_create_response_from_buffer(ans->text_len, ans->text,
						       MHD_RESPMEM_MUST_COPY);
	else if (text != NULL)
		resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
	else
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		log_panic("fake_server: cannot create a response");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_TYPE);
	if (ans->retry_after_s > 0) {
		snprintf(value, sizeof(value), "%d", ans->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, value);
	}
	if (ans->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"Twilio API\"");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	return resp;
}

static enum MHD_Result send_now(struct MHD_Connection *c, const struct fake_answer *ans,
				const char *allow)
{
	struct MHD_Response *resp = make_response(ans, allow);
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)ans->status, resp);

	MHD_destroy_response(resp);
	return rc;
}

/* ---------------------------------------------------------------- routing */

/* A copy of url[from, to) (path_account). */
static char *segment(const char *from, const char *to)
{
	char *seg = xmalloc((size_t)(to - from) + 1);

	memcpy(seg, from, (size_t)(to - from));
	seg[to - from] = '\0';
	return seg;
}

/* Route url/method into r (first call of a request). */
static void route(struct req *r, const char *url, const char *method)
{
	unsigned mask = r->srv->o.api_mask;
	int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	size_t n_acc = strlen(TWILIO_ACCOUNTS);

	r->api = FAKE_API_NONE;
	r->route = ROUTE_NOT_FOUND;
	if (strcmp(url, STATS_PATH) == 0) {
		r->route = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ? ROUTE_STATS : ROUTE_METHOD;
		r->allow = MHD_HTTP_METHOD_GET;
		return;
	}
	if (strncmp(url, TWILIO_PREFIX, strlen(TWILIO_PREFIX)) == 0 &&
	    (mask & (1u << FAKE_API_TWILIO))) {
		r->api = FAKE_API_TWILIO;
		const char *sid = url + n_acc;
		const char *slash = strncmp(url, TWILIO_ACCOUNTS, n_acc) == 0 ?
			strchr(sid, '/') : NULL;
		if (slash == NULL || slash == sid || strcmp(slash, TWILIO_MESSAGES) != 0)
			return;
		r->path_account = segment(sid, slash);
	} else if (strcmp(url, INFOBIP_PATH) == 0 && (mask & (1u << FAKE_API_INFOBIP))) {
		r->api = FAKE_API_INFOBIP;
	} else if (strcmp(url, WEBHOOK_PATH) == 0 && (mask & (1u << FAKE_API_WEBHOOK))) {
		r->api = FAKE_API_WEBHOOK;
	} else if (strncmp(url, SINCH_PREFIX, strlen(SINCH_PREFIX)) == 0 &&
		   (mask & (1u << FAKE_API_SINCH))) {
		const char *plan = url + strlen(SINCH_PREFIX);
		const char *slash = strchr(plan, '/');

		r->api = FAKE_API_SINCH;
		if (slash == NULL || slash == plan || strcmp(slash, SINCH_BATCHES) != 0)
			return;
		r->path_account = segment(plan, slash);
	} else if (strcmp(url, VONAGE_PATH) == 0 && (mask & (1u << FAKE_API_VONAGE))) {
		r->api = FAKE_API_VONAGE;
	} else {
		return;
	}
	r->route = post ? ROUTE_API : ROUTE_METHOD;
	r->allow = MHD_HTTP_METHOD_POST;
}

/* ---------------------------------------------------------------- body */

static void append_body(struct req *r, const char *data, size_t size)
{
	size_t max = r->srv->o.max_body_bytes;

	if (r->too_big || r->route != ROUTE_API)
		return;
	if (r->body.len + size > max) {
		/* Keep reading (and discarding) so that the 413 can be sent. */
		r->too_big = 1;
		fake_buf_free(&r->body);
		return;
	}
	fake_buf_raw(&r->body, data, size);
}

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	struct req *r = cls;
	const char *const *names = fake_apis_form_fields(r->api);

	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	for (int i = 0; names != NULL && names[i] != NULL && i < FAKE_APIS_FORM_MAX; i++) {
		struct field *f = &r->form[i];
		if (strcmp(key, names[i]) != 0)
			continue;
		if (off == 0)
			f->len = 0;   /* a repeated field: the last one wins */
		if (f->len + size > FORM_FIELD_MAX)
			size = FORM_FIELD_MAX - f->len;
		f->data = xrealloc(f->data, f->len + size + 1);
		memcpy(f->data + f->len, data, size);
		f->len += size;
		f->data[f->len] = '\0';
	}
	return MHD_YES;
}

/* Decode a form-encoded body with libmicrohttpd's post processor into the
 * API's fields.  A body that is not form-encoded leaves every field absent. */
static void decode_form(struct req *r)
{
	struct MHD_PostProcessor *pp =
		MHD_create_post_processor(r->conn, POST_BUFFER_BYTES, form_iter, r);

	if (pp == NULL)
		return;
	if (r->body.len > 0 && MHD_post_process(pp, r->body.p, r->body.len) != MHD_YES)
		log_debug("%s: form body did not decode completely", fake_api_name(r->api));
	MHD_destroy_post_processor(pp);
}

/* ---------------------------------------------------------------- handling */

/* The delivery reports' counters into obj (see fake_server.h). */
static void receipts_stats(fake_server *s, json_t *obj)
{
	struct fake_callbacks_stats cs;
	json_t *r;

	fake_callbacks_stats(s->o.callbacks, &cs);
	r = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "receipts_scheduled", (json_int_t)cs.scheduled,
		      "receipts_dropped", (json_int_t)cs.dropped,
		      "receipts_pending", (json_int_t)cs.pending,
		      "receipts_sent", (json_int_t)cs.sent,
		      "receipts_requests", (json_int_t)cs.requests,
		      "receipts_retried", (json_int_t)cs.retried,
		      "receipts_2xx", (json_int_t)cs.ok,
		      "receipts_4xx", (json_int_t)cs.rejected,
		      "receipts_5xx", (json_int_t)cs.errors,
		      "receipts_no_answer", (json_int_t)cs.no_answer,
		      "receipts_failed", (json_int_t)cs.failed);
	if (r == NULL || json_object_update(obj, r) != 0)
		log_error("fake_server: cannot add the receipts' counters to /_stats");
	json_decref(r);
}

static void stats_answer(fake_server *s, struct fake_answer *ans)
{
	struct fake_stats st;

	fake_record_stats(s->o.record, &st);
	ans->status = 200;
	ans->body = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:o, s:o, s:I, s:I}",
		"requests", (json_int_t)st.requests,
		"messages", (json_int_t)st.messages,
		"accepted", (json_int_t)st.accepted,
		"unique_accepted", (json_int_t)st.unique_accepted,
		"duplicates", (json_int_t)st.duplicates,
		"rejected", (json_int_t)st.rejected,
		"throttled", (json_int_t)st.throttled,
		"errors", (json_int_t)st.errors,
		"error_messages", (json_int_t)st.error_messages,
		"unauthorized", (json_int_t)st.unauthorized,
		"unauthorized_messages", (json_int_t)st.unauthorized_messages,
		"dropped", (json_int_t)st.dropped,
		"hung", (json_int_t)st.hung,
		"accepted_segments", (json_int_t)st.accepted_segments,
		"max_accepted_1s", (json_int_t)st.max_accepted_1s,
		"max_accepted_segments_1s", (json_int_t)st.max_accepted_segments_1s,
		"first_accept_ms", st.first_accept_ms < 0 ? json_null() :
		json_integer(st.first_accept_ms),
		"last_accept_ms", st.last_accept_ms < 0 ? json_null() :
		json_integer(st.last_accept_ms),
		"record_dropped", (json_int_t)st.record_dropped,
		"now_ms", (json_int_t)clock_wall_ms());
	json_object_set_new(ans->body, "credentials", fake_apis_credentials(s->o.apis));
	receipts_stats(s, ans->body);
}

/* Reject the messages whose destination matches a --fail-prefix. */
static void apply_fail_prefix(fake_server *s, struct fake_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct fake_msg *m = &b->msgs[i];
		if (m->reject == FAKE_REJECT_NONE && fake_faults_fail_prefix(s->o.faults, m->to)) {
			m->reject = FAKE_REJECT_PREFIX;
			m->detail = "destination rejected permanently";
		}
	}
}

static void suspend(struct req *r, enum req_state state)
{
	atomic_fetch_add(&r->srv->suspended, 1);
	r->state = state;
	MHD_suspend_connection(r->conn);
}

/* Fill q from the request; *user and *pass get the HTTP Basic credentials
 * of a form API (caller frees them with MHD_free()). */
static void read_request(struct req *r, struct fake_request *q, char **user, char **pass)
{
	q->api = r->api;
	q->path_account = r->path_account;
	q->authorization = header(r->conn, MHD_HTTP_HEADER_AUTHORIZATION);
	q->content_type = header(r->conn, MHD_HTTP_HEADER_CONTENT_TYPE);
	q->body = r->body.p;
	q->body_len = r->body.len;
	if (fake_apis_form_fields(r->api) == NULL)
		return;
	*user = MHD_basic_auth_get_username_password(r->conn, pass);
	q->basic_user = *user;
	q->basic_pass = *pass;
	if (!r->too_big)
		decode_form(r);
	for (int i = 0; i < FAKE_APIS_FORM_MAX; i++)
		q->form[i] = r->form[i].data;
}

/* The body is complete: decide, count, record, answer (now or later). */
static enum MHD_Result handle_api(fake_server *s, struct req *r)
{
	struct fake_decision d;
	struct fake_request q = { 0 };
	struct fake_batch b = { 0 };
	struct fake_answer ans = { 0 };
	char *pass = NULL, *user = NULL;
	enum MHD_Result rc = MHD_YES;
	int parsed = 0;
	int64_t t_us = 0;

	fake_record_request(s->o.record);
	fake_faults_decide(s->o.faults, clock_mono_ms(), &d);
	read_request(r, &q, &user, &pass);
	if (!r->too_big) {
		struct fake_answer parse_err = { 0 };
		parsed = fake_apis_parse(s->o.apis, &q, &b, &parse_err) == 0;
		if (!parsed)
			ans = parse_err;
	}

	if (d.fault != FAKE_FAULT_NONE) {
		/* A fault answers the whole request; its messages (when they
		 * parsed) are recorded as errors, or unauthorized for a 401. */
		fake_answer_clear(&ans);
		if (parsed)
			t_us = fake_record_fail(s->o.record, b.msgs, b.n,
						d.fault == FAKE_FAULT_AUTH ? FAKE_UNAUTHORIZED
									   : FAKE_ERROR);
		if (d.fault == FAKE_FAULT_DROP || d.fault == FAKE_FAULT_HANG) {
			int hung = d.fault == FAKE_FAULT_HANG;
			fake_record_log(s->o.record, fake_api_name(r->api), b.msgs, b.n, 0, t_us);
			fake_record_unanswered(s->o.record, hung);
			if (!hung || atomic_load(&s->stopping)) {
				rc = MHD_NO;   /* close without an answer */
				goto out;
			}
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
			suspend(r, REQ_HUNG);
			fake_timer_hold(s->timer, r, ci != NULL ? ci->connect_fd : -1,
					clock_mono_ms() + s->o.hang_max_ms);
			goto out;
		}
		fake_apis_error(r->api, d.status, NULL, &ans);
		ans.retry_after_s = d.retry_after_s;
	} else if (r->too_big) {
		fake_apis_error(r->api, 413, NULL, &ans);
	} else if (parsed) {
		apply_fail_prefix(s, &b);
		fake_apis_settle(&b);
		/* Infobip and Sinch throttle a batch as a whole. */
		t_us = fake_record_admit(s->o.record, b.msgs, b.n,
					 r->api == FAKE_API_INFOBIP || r->api == FAKE_API_SINCH
						 ? FAKE_ADMIT_ALL : FAKE_ADMIT_EACH);
		fake_apis_answer(&q, &b, s->o.retry_after_s, &ans);
		fake_callbacks_add(s->o.callbacks, &q, &b);
	}
	if (parsed)
		fake_record_log(s->o.record, fake_api_name(r->api), b.msgs, b.n, ans.status, t_us);
	fake_record_answered(s->o.record, ans.status, ans.unauthorized);

	if (d.delay_ms > 0 && !atomic_load(&s->stopping)) {
		r->resp = make_response(&ans, NULL);
		r->status = (unsigned)ans.status;
		suspend(r, REQ_DELAYED);
		fake_timer_at(s->timer, clock_mono_ms() + d.delay_ms, r);
	} else {
		rc = send_now(r->conn, &ans, NULL);
	}
out:
	fake_answer_clear(&ans);
	fake_batch_clear(&b);
	if (user != NULL)
		MHD_free(user);
	if (pass != NULL)
		MHD_free(pass);
	return rc;
}

static enum MHD_Result handle(fake_server *s, struct req *r)
{
	struct fake_answer ans = { 0 };
	enum MHD_Result rc;

	switch (r->route) {
	case ROUTE_API:
		return handle_api(s, r);
	case ROUTE_STATS:
		stats_answer(s, &ans);
		break;
	case ROUTE_METHOD:
		fake_apis_error(r->api, 405, NULL, &ans);
		break;
	case ROUTE_NOT_FOUND:
		fake_apis_error(r->api, 404, NULL, &ans);
		break;
	}
	rc = send_now(r->conn, &ans, r->route == ROUTE_METHOD ? r->allow : NULL);
	fake_answer_clear(&ans);
	return rc;
}

/* ---------------------------------------------------------------- libmicrohttpd callbacks */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	fake_server *s = cls;
	struct req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->srv = s;
		r->conn = c;
		*con_cls = r;
		route(r, url, method);
		const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t len = 0;
		if (r->route == ROUTE_API && cl != NULL &&
		    (num_parse_u64(cl, 0, UINT64_MAX, &len) != 0 || len > s->o.max_body_bytes)) {
			/* Refuse before reading it (libmicrohttpd then closes). */
			struct fake_answer ans = { 0 };
			fake_record_request(s->o.record);
			fake_apis_error(r->api, 413, NULL, &ans);
			fake_record_answered(s->o.record, 413, 0);
			r->state = REQ_ANSWERED;
			enum MHD_Result rc = send_now(c, &ans, NULL);
			fake_answer_clear(&ans);
			return rc;
		}
		return MHD_YES;
	}
	switch (r->state) {
	case REQ_READING:
		break;
	case REQ_DELAYED: {
		enum MHD_Result rc = MHD_queue_response(c, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
		return rc;
	}
	case REQ_HUNG:
		return MHD_NO;
	case REQ_ANSWERED:
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		append_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return handle(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	req_free(*con_cls);
	*con_cls = NULL;
}

/* fake_timer's callback: the request is due (or released).  Once resumed,
 * the connection may be closed and r freed at any moment by its thread (a
 * client that left is noticed before the handler runs again): r is not
 * touched after MHD_resume_connection(). */
static void on_wake(void *item, void *cls)
{
	struct req *r = item;
	fake_server *s = cls;

	MHD_resume_connection(r->conn);
	atomic_fetch_sub(&s->suspended, 1);
}

SMSQ_PRINTF(2, 0)
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	/* Our own MHD_NO (a dropped or hung request) is reported as an
	 * "internal error": that is expected, not worth a warning. */
	if (strstr(line, "Application reported internal error") != NULL)
		log_debug("libmicrohttpd: %s", line);
	else
		log_warn("libmicrohttpd: %s", line);
}

/* ---------------------------------------------------------------- lifecycle */

fake_server *fake_server_start(const struct fake_server_opts *opts, char *err, size_t errlen)
{
	fake_server *s = xcalloc(1, sizeof(*s));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
		MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO;

	s->o = *opts;
	atomic_init(&s->stopping, 0);
	atomic_init(&s->suspended, 0);
	s->timer = fake_timer_new(on_wake, s, err, errlen);
	if (s->timer == NULL)
		goto fail;
	if (opts->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&s->o.addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opts->threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)FAKE_SERVER_CONNECTION_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)FAKE_SERVER_IDLE_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FAKE_SERVER_CONNECTION_MEMORY,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)FAKE_SERVER_BACKLOG,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (s->daemon == NULL) {
		snprintf(err, errlen, "cannot start the HTTP server (address in use?)");
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di != NULL ? di->port : 0;
	if (s->port == 0) {
		snprintf(err, errlen, "cannot learn the bound port");
		goto fail;
	}
	return s;
fail:
	if (s->daemon != NULL)
		MHD_stop_daemon(s->daemon);
	fake_timer_destroy(&s->timer);
	free(s);
	return NULL;
}

uint16_t fake_server_port(const fake_server *s)
{
	return s->port;
}

void fake_server_stop(fake_server **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	fake_server *s = *sp;
	struct timespec pause = { 0, STOP_POLL_NS };
	int64_t deadline = clock_mono_ms() + FAKE_SERVER_STOP_WAIT_MS;

	atomic_store(&s->stopping, 1);
	fake_timer_stop(s->timer);
	while (atomic_load(&s->suspended) > 0 && clock_mono_ms() < deadline)
		nanosleep(&pause, NULL);
	if (atomic_load(&s->suspended) > 0)
		log_warn("stopping with %ld suspended connections",
			 (long)atomic_load(&s->suspended));
	MHD_stop_daemon(s->daemon);
	fake_timer_destroy(&s->timer);
	free(s);
	*sp = NULL;
}
