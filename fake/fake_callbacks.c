/*
 * fake_callbacks: the sender of the fake provider's delivery reports (see
 * fake_callbacks.h).
 *
 * DESIGN
 * HTTP threads plan each accepted message's reports (fake_receipts_plan(),
 * pure) and copy what they need into one allocation, a struct cmsg, which
 * they append to the inbox under the lock; the inbox going from empty to
 * not empty wakes the sender thread (curl_multi_wakeup()).  Everything
 * else belongs to the sender thread, which takes the lock only to empty
 * the inbox.
 *
 * The sender thread's loop:
 *   1. move the inbox's messages to the live list, and their first
 *      reports (an interim, the final) into the due heap (tag: the
 *      report's index in the plan);
 *   2. while a request slot is free: resend what the retry heap has due,
 *      then send what the due heap has due: each report becomes a request
 *      of its own, or joins an open batch of the same API, URL and secret
 *      (Infobip, webhook), sent when full or when nothing more is due; an
 *      open batch holds a slot, so the in-flight bound holds;
 *   3. curl_multi_perform(), then finish every request that is done: 2xx,
 *      given up, or into the retry heap with its body kept (a resend is
 *      the same request, signature and stamps included);
 *   4. curl_multi_poll() until a socket is ready, the next due time (when
 *      a slot is free), or a wake-up.
 *
 * A message's reports: the first ones are due at their own times; when the
 * final report is done, its first follow-up (a repeat, an older report) is
 * pushed due a drawn gap later, and so on: a follow-up never overtakes the
 * report before it, so "older after newer" holds on the wire.  cmsg.left
 * counts the reports not done; the message is freed at 0.
 *
 * Requests in flight reuse a pool of easy handles (at most concurrency),
 * and the multi handle keeps up to concurrency connections alive per host,
 * so a steady stream to one endpoint opens its connections once.
 *
 * Messages and requests not done sit on two circular lists (struct node
 * first in each), so that destroy can free whatever is left wherever it is.
 * Counters are atomics (read by /_stats from the HTTP threads).
 */
#include "fake/fake_callbacks.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "fake/fake_heap.h"

#define POLL_MAX_MS 1000          /* the loop turns at least this often */
#define LOG_EVERY_MS 1000         /* a repeated warning, at most this often */
#define REF_MAX 256               /* a report's ref in the record, bytes */
#define USER_AGENT "smsq-fakeprovider"

/* A link of a circular list (first member of what it links). */
struct node {
	struct node *next;
	struct node *prev;
};

/* An accepted message whose reports are held. */
struct cmsg {
	struct node link;             /* inbox (next only), then the live list */
	struct fake_receipt_msg m;    /* what its reports say (strings in data) */
	struct fake_plan plan;        /* its reports */
	uint8_t follow;               /* the next follow-up to schedule */
	uint8_t left;                 /* reports not done yet */
	char data[];                  /* its strings */
};

/* One report of a request. */
struct rep {
	struct cmsg *msg;             /* its message */
	uint8_t idx;                  /* which of its plan's reports */
};

/* A report request: open (filling), in flight, or waiting to be resent. */
struct creq {
	struct node link;             /* the list of requests not done */
	CURL *easy;                   /* while in flight, else NULL */
	struct curl_slist *headers;   /* its header lines (owned) */
	struct fake_receipt_http http; /* its URL, body, headers (built at the first send) */
	int64_t first_ms;             /* first attempt (monotonic) */
	int64_t backoff_ms;           /* the next resend waits this */
	unsigned attempts;            /* sends so far */
	long status;                  /* the last answer's status, 0: none */
	size_t n;                     /* reports */
	size_t cap;                   /* reports it may carry */
	struct rep reps[];            /* the reports */
};

/* A warning repeated at most every LOG_EVERY_MS (sender thread only). */
struct quiet_log {
	int64_t next_ms;              /* the next line may go at this time */
	uint64_t quiet;               /* occurrences not logged since the last line */
};

/* How a request ends. */
enum end {
	END_OK = 0,                   /* 2xx */
	END_REJECTED = 1,             /* 4xx (not 429), 3xx: not resent */
	END_FAILED = 2,               /* retries ran out, or the URL is unusable */
};

struct fake_callbacks {
	struct fake_callbacks_opts o; /* options (the record borrowed) */
	pthread_t thread;             /* the sender thread */
	int started;                  /* 1: the thread runs */
	int global_init;              /* 1: curl_global_init() succeeded */
	CURLM *multi;                 /* libcurl's multi handle */

	pthread_mutex_t lock;         /* guards inbox, inbox_tail and stopping */
	struct cmsg *inbox;           /* new messages, oldest first */
	struct cmsg *inbox_tail;      /* the last of them */
	int stopping;                 /* 1: the thread exits */
	atomic_uint_fast64_t seq;     /* messages planned: k of the next one */

	/* The sender thread's (and destroy's, once it is joined). */
	fake_heap *due;               /* reports on their due time (cmsg, tag idx) */
	fake_heap *retry;             /* requests to resend on their time (creq) */
	struct node live;             /* head of the messages held */
	struct node reqs;             /* head of the requests not done */
	CURL **idle;                  /* easy handles not in use */
	size_t n_idle;                /* how many */
	unsigned in_flight;           /* requests in flight */
	struct creq **open;           /* batches being filled (step 2) */
	struct quiet_log log_rejected;/* "answered 4xx" */
	struct quiet_log log_failed;  /* "gave up" */

	/* Counters (see struct fake_callbacks_stats). */
	atomic_uint_fast64_t scheduled, dropped, pending, sent, requests, retried, ok, rejected,
		errors, no_answer, failed;
	atomic_int_fast64_t drop_log_ms; /* "dropped" may be logged again at this time */
};

/* ---------------------------------------------------------------- lists, counters */

static void node_init(struct node *head)
{
	head->next = head;
	head->prev = head;
}

static void node_link(struct node *head, struct node *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static void node_unlink(struct node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
}

static void add(atomic_uint_fast64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Whether a warning may be logged now; *quiet gets the occurrences not
 * logged before it (which it resets). */
static int log_now(struct quiet_log *l, uint64_t *quiet)
{
	int64_t now = clock_mono_ms();

	if (now < l->next_ms) {
		l->quiet++;
		return 0;
	}
	l->next_ms = now + LOG_EVERY_MS;
	*quiet = l->quiet;
	l->quiet = 0;
	return 1;
}

/* ---------------------------------------------------------------- adding (HTTP threads) */

/* Copy s (may be NULL) at *p, moving *p past it; the copy, or NULL. */
static const char *put(char **p, const char *s)
{
	char *at = *p;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(at, s, n);
	*p += n;
	return at;
}

static size_t len0(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* A held message for m (accepted, asking for reports) of request src. */
static struct cmsg *cmsg_new(fake_callbacks *c, enum fake_api api,
			     const struct fake_receipt_src *src, const struct fake_msg *m,
			     int64_t mono_ms, int64_t wall_ms)
{
	/* Infobip's messageId is the client's when it gave one. */
	const char *id = api == FAKE_API_INFOBIP && m->ref != NULL ? m->ref : m->provider_id;
	size_t size = len0(m->receipt_url) + len0(src->secret) + len0(src->account) +
		len0(src->sender) + len0(src->batch_ref) + len0(src->bulk_id) + len0(m->ref) +
		len0(id) + len0(m->to);
	struct cmsg *cm = xmalloc(sizeof(*cm) + size);
	char *p = cm->data;

	memset(cm, 0, sizeof(*cm));
	cm->m.api = api;
	cm->m.url = put(&p, m->receipt_url);
	cm->m.src.secret = put(&p, src->secret);
	cm->m.src.account = put(&p, src->account);
	cm->m.src.sender = put(&p, src->sender);
	cm->m.src.batch_ref = put(&p, src->batch_ref);
	cm->m.src.bulk_id = put(&p, src->bulk_id);
	cm->m.src.finals_only = src->finals_only;
	cm->m.ref = put(&p, m->ref);
	cm->m.provider_id = put(&p, id);
	cm->m.to = put(&p, m->to);
	cm->m.segments = m->segments;
	cm->m.accepted_ms = wall_ms;
	fake_receipts_plan(&c->o.receipts, api, src->finals_only,
			   atomic_fetch_add(&c->seq, 1), mono_ms, wall_ms, &cm->plan);
	cm->follow = (uint8_t)cm->plan.n_first;
	cm->left = (uint8_t)cm->plan.n;
	return cm;
}

/* Count cm's reports held, or dropped when that would pass max_pending
 * (then 0). */
static int hold(fake_callbacks *c, const struct cmsg *cm)
{
	uint64_t n = cm->plan.n;
	uint64_t before = atomic_fetch_add(&c->pending, n);

	if (before + n <= c->o.max_pending) {
		add(&c->scheduled, n);
		return 1;
	}
	atomic_fetch_sub(&c->pending, n);
	add(&c->dropped, n);
	int64_t now = clock_mono_ms(), next = atomic_load(&c->drop_log_ms);
	if (now >= next && atomic_compare_exchange_strong(&c->drop_log_ms, &next,
							  now + LOG_EVERY_MS))
		log_warn("receipts: %llu reports pending, the most held "
			 "(--receipt-max-pending): new ones dropped (%llu so far)",
			 (unsigned long long)before, (unsigned long long)get(&c->dropped));
	return 0;
}

void fake_callbacks_add(fake_callbacks *c, const struct fake_request *req,
			const struct fake_batch *b)
{
	struct fake_receipt_src src;
	struct cmsg *first = NULL, *last = NULL;
	int64_t mono_ms = clock_mono_ms(), wall_ms = clock_wall_ms();
	int was_empty, have_src = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct fake_msg *m = &b->msgs[i];

		if (m->outcome != FAKE_ACCEPTED || m->receipt_url == NULL)
			continue;
		if (!have_src)
			fake_apis_receipt_src(req, b, &src);
		have_src = 1;
		struct cmsg *cm = cmsg_new(c, b->api, &src, m, mono_ms, wall_ms);
		if (!hold(c, cm)) {
			free(cm);
			continue;
		}
		cm->link.next = NULL;
		if (last != NULL)
			last->link.next = &cm->link;
		else
			first = cm;
		last = cm;
	}
	if (first == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	was_empty = c->inbox == NULL;
	if (was_empty)
		c->inbox = first;
	else
		c->inbox_tail->link.next = &first->link;
	c->inbox_tail = last;
	pthread_mutex_unlock(&c->lock);
	if (was_empty) {
		CURLMcode mc = curl_multi_wakeup(c->multi);
		if (mc != CURLM_OK)
			log_error("receipts: curl_multi_wakeup: %s", curl_multi_strerror(mc));
	}
}

void fake_callbacks_stats(fake_callbacks *c, struct fake_callbacks_stats *out)
{
	out->scheduled = get(&c->scheduled);
	out->dropped = get(&c->dropped);
	out->pending = get(&c->pending);
	out->sent = get(&c->sent);
	out->requests = get(&c->requests);
	out->retried = get(&c->retried);
	out->ok = get(&c->ok);
	out->rejected = get(&c->rejected);
	out->errors = get(&c->errors);
	out->no_answer = get(&c->no_answer);
	out->failed = get(&c->failed);
}

/* ---------------------------------------------------------------- sending (sender thread) */

/* Take the inbox: its messages go live, their first reports due. */
static void take_inbox(fake_callbacks *c, struct cmsg *cm)
{
	while (cm != NULL) {
		struct cmsg *next = (struct cmsg *)cm->link.next;

		node_link(&c->live, &cm->link);
		for (unsigned i = 0; i < cm->plan.n_first; i++)
			fake_heap_push(c->due, cm->plan.r[i].due_ms, cm, i);
		cm = next;
	}
}

static size_t discard_body(char *data, size_t size, size_t nmemb, void *cls)
{
	(void)data;
	(void)cls;
	return size * nmemb;
}

/* An easy handle with the options every report request shares, or NULL. */
static CURL *easy_new(void)
{
	CURL *e = curl_easy_init();
	CURLcode rc = e != NULL ? CURLE_OK : CURLE_OUT_OF_MEMORY;

	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)FAKE_CALLBACKS_TIMEOUT_MS);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
				      (long)FAKE_CALLBACKS_CONNECT_TIMEOUT_MS);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never the environment's proxy */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
	if (rc != CURLE_OK) {
		log_error("receipts: cannot make an easy handle: %s", curl_easy_strerror(rc));
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

/* Point e at q (method, URL, headers, body); a libcurl code. */
static CURLcode easy_set(CURL *e, struct creq *q)
{
	CURLcode rc = curl_easy_setopt(e, CURLOPT_URL, q->http.url);

	if (rc == CURLE_OK && q->http.get)
		rc = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	if (rc == CURLE_OK && !q->http.get)
		rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->http.body.len);
	if (rc == CURLE_OK && !q->http.get)
		rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS,
				      q->http.body.p != NULL ? q->http.body.p : "");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)q);
	return rc;
}

/* q's URL, body and headers, made at its first send. */
static void creq_build(fake_callbacks *c, struct creq *q)
{
	struct fake_receipt_item items[FAKE_CALLBACKS_BATCH_MAX];

	for (size_t i = 0; i < q->n; i++) {
		items[i].msg = &q->reps[i].msg->m;
		items[i].report = &q->reps[i].msg->plan.r[q->reps[i].idx];
	}
	fake_receipts_build(c->o.receipts.vonage_method, items, q->n, &q->http);
	for (size_t i = 0; q->http.headers[i] != NULL; i++)
		q->headers = curl_slist_append(q->headers, q->http.headers[i]);
	/* No "Expect: 100-continue" round trip before a large batch. */
	q->headers = curl_slist_append(q->headers, "Expect:");
	if (q->headers == NULL)
		log_panic("receipts: out of memory for a header list");
	q->backoff_ms = FAKE_CALLBACKS_FIRST_RETRY_MS;
}

static void finish(fake_callbacks *c, struct creq *q, enum end how);

/* Send q (it holds a slot: in_flight counts it from here). */
static void launch(fake_callbacks *c, struct creq *q, int64_t now)
{
	CURLcode rc;
	CURLMcode mc;

	if (q->attempts == 0) {
		creq_build(c, q);
		q->first_ms = now;
		add(&c->sent, q->n);
	} else {
		add(&c->retried, q->n);
	}
	q->attempts++;
	add(&c->requests, 1);
	c->in_flight++;
	q->easy = c->n_idle > 0 ? c->idle[--c->n_idle] : easy_new();
	if (q->easy == NULL)
		goto fail;
	rc = easy_set(q->easy, q);
	if (rc != CURLE_OK) {
		log_error("receipts: cannot set a report request: %s", curl_easy_strerror(rc));
		goto fail;
	}
	mc = curl_multi_add_handle(c->multi, q->easy);
	if (mc != CURLM_OK) {
		log_error("receipts: curl_multi_add_handle: %s", curl_multi_strerror(mc));
		goto fail;
	}
	return;
fail:
	if (q->easy != NULL)
		c->idle[c->n_idle++] = q->easy;
	q->easy = NULL;
	c->in_flight--;
	add(&c->no_answer, q->n);
	finish(c, q, END_FAILED);
}

/* Unlink and free q (not its easy handle). */
static void creq_free(struct creq *q)
{
	node_unlink(&q->link);
	curl_slist_free_all(q->headers);
	fake_receipt_http_clear(&q->http);
	free(q);
}

static struct creq *creq_new(fake_callbacks *c, size_t cap)
{
	struct creq *q = xcalloc(1, sizeof(*q) + cap * sizeof(struct rep));

	q->cap = cap;
	node_link(&c->reqs, &q->link);
	return q;
}

/* Whether report request q may carry cm's report too. */
static int same_target(const struct creq *q, const struct cmsg *cm)
{
	const struct fake_receipt_msg *a = &q->reps[0].msg->m, *b = &cm->m;

	return a->api == b->api && strcmp(a->url, b->url) == 0 &&
	       (a->src.secret == NULL ? b->src.secret == NULL :
		b->src.secret != NULL && strcmp(a->src.secret, b->src.secret) == 0);
}

/* Step 2 (see DESIGN): send what is due while slots are free. */
static void launch_due(fake_callbacks *c, int64_t now)
{
	size_t n_open = 0;
	int64_t at;
	void *item;
	uint32_t idx;

	while (c->in_flight < c->o.concurrency && fake_heap_peek(c->retry, &at, &item, NULL) &&
	       at <= now) {
		(void)fake_heap_pop(c->retry, NULL, NULL);
		launch(c, item, now);
	}
	while (fake_heap_peek(c->due, &at, &item, &idx) && at <= now) {
		struct cmsg *cm = item;
		int batches = c->o.batch > 1 && fake_receipts_batches(cm->m.api);
		struct creq *q = NULL;
		size_t k = 0;

		while (batches && k < n_open && !same_target(c->open[k], cm))
			k++;
		if (batches && k < n_open) {
			q = c->open[k];
		} else {
			if (c->in_flight + n_open >= c->o.concurrency)
				break;
			q = creq_new(c, batches ? c->o.batch : 1);
			if (batches)
				c->open[k = n_open++] = q;
		}
		(void)fake_heap_pop(c->due, NULL, NULL);
		q->reps[q->n].msg = cm;
		q->reps[q->n].idx = (uint8_t)idx;
		if (++q->n < q->cap)
			continue;
		if (batches)
			c->open[k] = c->open[--n_open];
		launch(c, q, now);
	}
	for (size_t k = 0; k < n_open; k++)
		launch(c, c->open[k], now);
}

/* One report of a request is done: count and record it, schedule its
 * message's next follow-up, free the message after its last report. */
static void report_done(fake_callbacks *c, struct creq *q, const struct rep *r,
			enum end how, int64_t now)
{
	struct cmsg *cm = r->msg;
	const struct fake_report *rep = &cm->plan.r[r->idx];
	char ref[REF_MAX];
	struct fake_record_receipt rc = {
		.api = fake_api_name(cm->m.api),
		.ref = fake_receipts_ref(&cm->m, ref, sizeof(ref)),
		.to = cm->m.to,
		.status = (int)q->status,
		.report = fake_receipts_kind_name((enum fake_report_kind)rep->kind),
		.flags = rep->flags & FAKE_REPORT_REPEAT ? "repeat" :
			 rep->flags & FAKE_REPORT_OLDER ? "older" : "-",
		.attempts = q->attempts,
	};

	fake_receipts_describe(cm->m.api, rep, &rc.provider_status, &rc.error);
	fake_record_receipts(c->o.record, &rc, 1);
	add(how == END_OK ? &c->ok : how == END_REJECTED ? &c->rejected : &c->failed, 1);
	atomic_fetch_sub(&c->pending, 1);
	if (r->idx + 1u >= cm->plan.n_first && cm->follow < cm->plan.n) {
		fake_heap_push(c->due, now + cm->plan.r[cm->follow].due_ms, cm, cm->follow);
		cm->follow++;
	}
	if (--cm->left == 0) {
		node_unlink(&cm->link);
		free(cm);
	}
}

/* q is done (how): each report is, and q is freed. */
static void finish(fake_callbacks *c, struct creq *q, enum end how)
{
	int64_t now = clock_mono_ms();
	uint64_t quiet;
	const char *api = fake_api_name(q->reps[0].msg->m.api);

	if (how == END_REJECTED && log_now(&c->log_rejected, &quiet))
		log_warn("receipts: %s report request answered %ld: not sent again "
			 "(%zu reports; %llu such requests not logged before)", api, q->status,
			 q->n, (unsigned long long)quiet);
	if (how == END_FAILED && log_now(&c->log_failed, &quiet))
		log_warn("receipts: %s report request given up after %u attempts, last status "
			 "%ld (%zu reports; %llu such requests not logged before)", api,
			 q->attempts, q->status, q->n, (unsigned long long)quiet);
	for (size_t i = 0; i < q->n; i++)
		report_done(c, q, &q->reps[i], how, now);
	creq_free(q);
}

/* Whether a transfer error means the URL itself cannot be used. */
static int unusable_url(CURLcode res)
{
	return res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT;
}

/* Step 3: a request came back from libcurl with res. */
static void on_done(fake_callbacks *c, struct creq *q, CURLcode res)
{
	int64_t now = clock_mono_ms();
	long status = 0;
	CURLMcode mc = curl_multi_remove_handle(c->multi, q->easy);

	if (mc != CURLM_OK)
		log_error("receipts: curl_multi_remove_handle: %s", curl_multi_strerror(mc));
	if (res == CURLE_OK &&
	    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	c->idle[c->n_idle++] = q->easy;
	q->easy = NULL;
	c->in_flight--;
	q->status = status;
	if (status >= 200 && status < 300) {
		finish(c, q, END_OK);
		return;
	}
	if (status != 0 && status != 429 && status < 500) {
		finish(c, q, END_REJECTED);
		return;
	}
	add(status != 0 ? &c->errors : &c->no_answer, q->n);
	if (status == 0)
		log_debug("receipts: no answer: %s", curl_easy_strerror(res));
	if (!unusable_url(res) && c->o.retry_ms > 0 &&
	    now + q->backoff_ms - q->first_ms <= c->o.retry_ms) {
		fake_heap_push(c->retry, now + q->backoff_ms, q, 0);
		q->backoff_ms *= 2;
		return;
	}
	finish(c, q, END_FAILED);
}

static void collect_done(fake_callbacks *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		void *q = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &q) != CURLE_OK ||
		    q == NULL)
			log_panic("receipts: a transfer without its request");
		on_done(c, q, msg->data.result);
	}
}

/* Step 4's timeout: until the next due report or resend when a slot is
 * free, at most POLL_MAX_MS. */
static int wait_ms(fake_callbacks *c, int64_t now)
{
	int64_t until = now + POLL_MAX_MS, at;

	if (c->in_flight < c->o.concurrency) {
		if (fake_heap_peek(c->due, &at, NULL, NULL) && at < until)
			until = at;
		if (fake_heap_peek(c->retry, &at, NULL, NULL) && at < until)
			until = at;
	}
	return until > now ? (int)(until - now) : 0;
}

static void *sender_main(void *arg)
{
	fake_callbacks *c = arg;

	for (;;) {
		struct cmsg *in;
		int stop, running;
		CURLMcode mc;

		pthread_mutex_lock(&c->lock);
		in = c->inbox;
		c->inbox = c->inbox_tail = NULL;
		stop = c->stopping;
		pthread_mutex_unlock(&c->lock);
		take_inbox(c, in);
		if (stop)
			break;
		launch_due(c, clock_mono_ms());
		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK)
			log_error("receipts: curl_multi_perform: %s", curl_multi_strerror(mc));
		collect_done(c);
		mc = curl_multi_poll(c->multi, NULL, 0, wait_ms(c, clock_mono_ms()), NULL);
		if (mc != CURLM_OK)
			log_error("receipts: curl_multi_poll: %s", curl_multi_strerror(mc));
	}
	return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

fake_callbacks *fake_callbacks_new(const struct fake_callbacks_opts *opts, char *err,
				   size_t errlen)
{
	fake_callbacks *c = xcalloc(1, sizeof(*c));
	CURLcode rc;
	CURLMcode mc = CURLM_OK;
	int prc;

	c->o = *opts;
	c->o.receipts.hold_until_ms = opts->receipts.hold_ms > 0
					      ? clock_mono_ms() + opts->receipts.hold_ms : 0;
	pthread_mutex_init(&c->lock, NULL);
	node_init(&c->live);
	node_init(&c->reqs);
	c->due = fake_heap_new();
	c->retry = fake_heap_new();
	c->idle = xcalloc(opts->concurrency, sizeof(*c->idle));
	c->open = xcalloc(opts->concurrency, sizeof(*c->open));
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "receipts: curl_global_init: %s", curl_easy_strerror(rc));
		goto fail;
	}
	c->global_init = 1;
	c->multi = curl_multi_init();
	if (c->multi == NULL) {
		snprintf(err, errlen, "receipts: curl_multi_init failed");
		goto fail;
	}
	mc = curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opts->concurrency);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)opts->concurrency);
	if (mc != CURLM_OK) {
		snprintf(err, errlen, "receipts: curl_multi_setopt: %s", curl_multi_strerror(mc));
		goto fail;
	}
	prc = pthread_create(&c->thread, NULL, sender_main, c);
	if (prc != 0) {
		snprintf(err, errlen, "receipts: sender thread: %s", strerror(prc));
		goto fail;
	}
	c->started = 1;
	return c;
fail:
	fake_callbacks_destroy(&c);
	return NULL;
}

void fake_callbacks_destroy(fake_callbacks **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	fake_callbacks *c = *cp;
	uint64_t pending;

	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stopping = 1;
		pthread_mutex_unlock(&c->lock);
		if (curl_multi_wakeup(c->multi) != CURLM_OK)
			log_error("receipts: cannot wake the sender thread");
		pthread_join(c->thread, NULL);
	}
	pending = get(&c->pending);
	if (pending > 0)
		log_info("receipts: stopping with %llu reports pending: not sent",
			 (unsigned long long)pending);
	while (c->reqs.next != &c->reqs) {
		struct creq *q = (struct creq *)c->reqs.next;

		if (q->easy != NULL) {
			if (curl_multi_remove_handle(c->multi, q->easy) != CURLM_OK)
				log_error("receipts: curl_multi_remove_handle failed");
			curl_easy_cleanup(q->easy);
		}
		creq_free(q);
	}
	while (c->live.next != &c->live) {
		struct node *n = c->live.next;

		node_unlink(n);
		free(n);
	}
	for (size_t i = 0; i < c->n_idle; i++)
		curl_easy_cleanup(c->idle[i]);
	if (c->multi != NULL && curl_multi_cleanup(c->multi) != CURLM_OK)
		log_error("receipts: curl_multi_cleanup failed");
	if (c->global_init)
		curl_global_cleanup();
	fake_heap_destroy(&c->due);
	fake_heap_destroy(&c->retry);
	free(c->idle);
	free(c->open);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}
