/*
 * push: outcomes to the booking backend (see push.h).
 *
 * DESIGN
 * One process, one loop: read the first outcomes of the outbox (a batch),
 * POST them, and on 2xx remove them (store_outbox_done() up to the batch's
 * last number); an empty outbox is looked at again PUSH_IDLE_MS later.  The
 * POST goes through provider/http (libcurl's multi interface, the house's
 * one HTTP client), driven here by poll() until it is done; a stop signal
 * abandons it (its outcomes stay: the next start sends them again).  The
 * outbox is the only state: a pusher killed at any point loses nothing and
 * repeats at most its last batch.  Failures are said once per backoff step,
 * with the answer's status and the first bytes of its body (the backend's
 * reason), never the secret.
 */
#include "outcome/push.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/hmac.h"
#include "common/stop.h"
#include "provider/http.h"

char *push_body(const struct store_outbox_entry *e, size_t n, size_t *len)
{
	json_t *arr = json_array(), *root = NULL;
	char *body = NULL;
	int rc = arr == NULL;

	for (size_t i = 0; !rc && i < n; i++) {
		char id[64];

		snprintf(id, sizeof(id), "%s-%llu", e[i].uid, (unsigned long long)e[i].seq);
		rc = json_array_append_new(
			arr, json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:I}", "id", id,
				       "message_id", (json_int_t)e[i].id, "idempotency_key",
				       e[i].idem_key, "booking_id", e[i].booking, "kind",
				       store_kind_name((enum store_kind)e[i].kind), "state",
				       store_state_name(e[i].state), "detail", e[i].note, "at_ms",
				       (json_int_t)e[i].at_ms));
	}
	if (!rc)
		root = json_pack("{s:o}", "outcomes", arr);
	else
		json_decref(arr);
	if (root != NULL)
		body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (body != NULL)
		*len = strlen(body);
	return body;
}

int push_signature(const char *secret, long long t, const char *body, size_t len, char *out,
		   size_t cap)
{
	char mac[HMAC_SHA256_HEX], head[32];
	size_t hl = (size_t)snprintf(head, sizeof(head), "%lld.", t);
	char *msg = malloc(hl + len);
	int rc;

	if (msg == NULL)
		return -1;
	memcpy(msg, head, hl);
	memcpy(msg + hl, body, len);
	rc = hmac_sha256_hex(secret, strlen(secret), msg, hl + len, mac);
	free(msg);
	if (rc != 0 || (size_t)snprintf(out, cap, "t=%lld,v1=%s", t, mac) >= cap)
		return -1;
	return 0;
}

/* Sleep ms, or less when a stop signal comes. */
static void pause_ms(long ms)
{
	int64_t end = clock_mono_ms() + ms;

	while (!stop_asked && clock_mono_ms() < end) {
		long left = (long)(end - clock_mono_ms());

		(void)poll(NULL, 0, left < 100 ? (int)left : 100);
	}
}

/* POST req and wait for its answer (or a stop signal).  Returns 1 when the
 * backend answered 2xx, 0 when not (why said in why; *status the HTTP
 * status, 0 when none came), -1 when stopped. */
static int post(http *h, const struct provider_request *req, const struct http_opts *ho,
		long *status, char *why, size_t whylen)
{
	char err[256];

	*status = 0;
	if (http_start(h, req, ho, NULL, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "%s", err);
		return 0;
	}
	for (;;) {
		struct provider_response resp;
		struct http_fd fds[16];
		struct pollfd p[16];
		void *user;
		http_xfer *x = http_next_done(h, &user, &resp);
		size_t n;
		long t;
		int r;

		if (x != NULL) {
			int ok = resp.transport == PROVIDER_T_OK && resp.status >= 200 &&
				 resp.status < 300;

			if (resp.transport == PROVIDER_T_OK)
				*status = resp.status;
			if (!ok && resp.transport == PROVIDER_T_OK)
				snprintf(why, whylen, "http %ld: %.*s", resp.status,
					 (int)(resp.body_len < 120 ? resp.body_len : 120),
					 resp.body ? resp.body : "");
			else if (!ok)
				snprintf(why, whylen, "%s", resp.error ? resp.error : "no answer");
			http_release(h, x);
			return ok;
		}
		if (stop_asked)
			return -1;
		n = http_fds(h, fds, 16);
		for (size_t i = 0; i < n; i++)
			p[i] = (struct pollfd){ fds[i].fd, (short)((fds[i].want_read ? POLLIN : 0) |
								   (fds[i].want_write ? POLLOUT : 0)),
						0 };
		t = http_timeout_ms(h);
		if (t < 0 || t > 100)
			t = 100;
		r = poll(p, (nfds_t)n, (int)t);
		if (r < 0 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			return 0;
		}
		if (r <= 0)
			http_on_timeout(h);
		for (size_t i = 0; r > 0 && i < n; i++)
			if (p[i].revents != 0)
				http_on_fd(h, p[i].fd, (p[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0,
					   (p[i].revents & POLLOUT) != 0);
	}
}

int push_refused(long status)
{
	return status >= 400 && status < 500 && status != 408 && status != 429 &&
	       status != 401 && status != 403;
}

/* Remove the outcomes up to seq from the outbox.  0, or -1 (said). */
static int taken(store *st, uint64_t seq)
{
	int more = 1;

	while (more)
		if (store_outbox_done(st, seq, &more) != STORE_OK) {
			log_error("outcomes: the backend took them but they stay in the outbox "
				  "(they will be sent again): %s", store_errmsg(st));
			return -1;
		}
	return 0;
}

int push_run(const struct push_opts *o)
{
	struct store_opts so = { .dir = o->dir };
	struct http_opts ho = { .connect_timeout_ms = o->timeout_ms < 5000 ? o->timeout_ms : 5000,
				.timeout_ms = o->timeout_ms, .tls_verify = 1 };
	struct store_outbox_entry *e = NULL;
	struct provider_request req;
	long backoff = 0, status;
	size_t batch = o->batch;
	int refusals = 0;
	int64_t said_at = INT64_MIN / 2;
	char err[512];
	store *st = NULL;
	http *h = NULL;
	int code = 1;

	log_init("outcomes", o->log_level);
	log_set_format(o->log_format);
	stop_on_signals();
	signal(SIGPIPE, SIG_IGN);
	memset(&req, 0, sizeof(req));
	if (snprintf(req.url, sizeof(req.url), "%s", o->url) >= (int)sizeof(req.url)) {
		log_error("outcomes: outcomes.url is too long");
		goto out;
	}
	e = calloc(o->batch, sizeof(*e));
	st = store_open(&so, err, sizeof(err));
	h = st != NULL ? http_new(err, sizeof(err)) : NULL;
	if (e == NULL || st == NULL || h == NULL) {
		log_error("outcomes: %s", e == NULL ? "out of memory" : err);
		goto out;
	}
	log_info("started: outcomes to %s, %zu a request", o->url, o->batch);
	while (!stop_asked) {
		long n = store_outbox_read(st, 0, e, batch);
		char sig[128], why[256];
		int ok;

		if (n <= 0) {
			if (n < 0 && clock_mono_ms() - said_at >= 60000) {
				log_error("outcomes: %s", store_errmsg(st));
				said_at = clock_mono_ms();
			}
			pause_ms(n < 0 ? PUSH_BACKOFF_MIN_MS : PUSH_IDLE_MS);
			continue;
		}
		req.body = push_body(e, (size_t)n, &req.body_len);
		req.n_headers = 0;
		if (req.body == NULL ||
		    push_signature(o->secret, (long long)time(NULL), req.body, req.body_len, sig,
				   sizeof(sig)) != 0) {
			log_error("outcomes: cannot build a request (out of memory)");
			free(req.body);
			req.body = NULL;
			pause_ms(PUSH_BACKOFF_MIN_MS);
			continue;
		}
		snprintf(req.headers[req.n_headers++], PROVIDER_HEADER_MAX,
			 "Content-Type: application/json");
		snprintf(req.headers[req.n_headers++], PROVIDER_HEADER_MAX, "Smsq-Signature: %s",
			 sig);
		counters_add(o->counters ? &o->counters->outcomes_posts : NULL, 1);
		ok = post(h, &req, &ho, &status, why, sizeof(why));
		free(req.body);
		req.body = NULL;
		if (ok < 0)
			break;
		if (ok) {
			if (backoff > 0)
				log_info("outcomes: the backend takes them again");
			backoff = 0;
			refusals = 0;
			batch = o->batch;
			if (taken(st, e[n - 1].seq) == 0)
				counters_add(o->counters ? &o->counters->outcomes_taken : NULL,
					     (uint64_t)n);
			continue;
		}
		counters_add(o->counters ? &o->counters->outcomes_posts_failed : NULL, 1);
		if (push_refused(status)) {
			/* Refused for what it holds: halve the batch until the
			 * outcome the backend refuses goes alone, and drop that
			 * one after PUSH_REFUSALS_MAX refusals, so that one
			 * outcome cannot hold back all the others. */
			if (n > 1) {
				batch = (size_t)n / 2;
				log_warn("outcomes: %ld refused as a whole (%s): sent again %zu at a "
					 "time", n, why, batch);
				continue;
			}
			if (++refusals >= PUSH_REFUSALS_MAX) {
				log_error("outcomes: %s-%llu (message %llu) refused %d times alone "
					  "(%s): dropped", e[0].uid, (unsigned long long)e[0].seq,
					  (unsigned long long)e[0].id, refusals, why);
				if (taken(st, e[0].seq) == 0)
					counters_add(o->counters ? &o->counters->outcomes_refused
								 : NULL, 1);
				refusals = 0;
				batch = o->batch;
				continue;
			}
		}
		backoff = backoff == 0 ? PUSH_BACKOFF_MIN_MS
				       : backoff * 2 > PUSH_BACKOFF_MAX_MS ? PUSH_BACKOFF_MAX_MS
									    : backoff * 2;
		log_warn("outcomes: %ld not taken (%s); sent again in %ld ms", n, why, backoff);
		pause_ms(backoff);
	}
	code = 0;
out:
	http_destroy(&h);
	store_close(&st);
	free(e);
	return code;
}
