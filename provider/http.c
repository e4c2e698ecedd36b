/*
 * http: libcurl multi, socket-action style (see http.h).
 *
 * DESIGN
 *
 * Each transfer owns an easy handle, a header list and a capped response
 * buffer.  Finished transfers go to a free list and their easy handles are
 * reused; connections live in the multi handle's cache, so they stay alive
 * across requests.  A reused handle remembers what it was configured for
 * (URL, headers, credentials, timeouts, TLS: the setup key): a request with
 * the same setup only sets its body, which spares the reset, the header
 * list and the ~25 options of a full setup on every request (libcurl still
 * parses the URL at each transfer); any other request resets the handle and
 * configures it afresh.  libcurl tells us which sockets to
 * watch through CURLMOPT_SOCKETFUNCTION and when to call back through
 * CURLMOPT_TIMERFUNCTION; we keep both in plain arrays.
 *
 * "Did the request leave?" decides whether a failure is ambiguous: a
 * connect, DNS or TLS failure is not (nothing reached the provider); a
 * timeout or a reset after bytes were sent is (the provider may have acted).
 *
 * The gate (http_set_gate) runs in libcurl's CURLOPT_PREREQFUNCTION, once
 * the connection is up and just before the request is written: what the
 * caller checks there holds at the moment the request leaves, not when it
 * was handed over (a process stopped in between finds out on waking).
 */
#include "provider/http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/xalloc.h"

struct http_xfer {
	CURL *easy;                  /* reused easy handle */
	struct curl_slist *headers;  /* request headers */
	void *user;                  /* caller's pointer */
	char *body;                  /* response body */
	size_t body_len;             /* bytes in body */
	size_t body_cap;             /* allocated */
	int truncated;               /* body hit HTTP_RESPONSE_MAX */
	int64_t retry_after_ms;      /* Retry-After header, -1 none */
	CURLcode result;             /* transfer result */
	char errbuf[CURL_ERROR_SIZE];/* libcurl's detail */
	char *setup;                 /* what easy is configured for (setup_key), or NULL */
	size_t setup_len;            /* its length */
	struct http_xfer *next;      /* free list / done list link */
	struct http_xfer *all_next;  /* every transfer ever made (owner list) */
	http *h;                     /* its owner (the gate) */
	int gate_passed;             /* the gate let it go once (libcurl asks again when
					it retries on a connection that died) */
	int withheld;                /* the gate held it back: 1 before any try left,
					2 on a retry, after a try may have */
};

struct http {
	CURLM *multi;                /* the multi handle */
	struct http_fd fds[HTTP_MAX_FDS]; /* sockets libcurl wants watched */
	size_t n_fds;                /* used */
	long timeout_ms;             /* libcurl's timer, -1 none */
	int64_t timer_set_ms;        /* when the timer was set (mono) */
	http_xfer *free_list;        /* finished, reusable */
	http_xfer *done;             /* finished, not yet collected */
	http_xfer *all;              /* every transfer: freed by http_destroy */
	size_t running;              /* in flight */
	int (*gate)(void *user);     /* http_set_gate(): may this request leave now? */
};

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	http *h = userp;

	(void)easy;
	(void)socketp;
	for (size_t i = 0; i < h->n_fds; i++) {
		if (h->fds[i].fd != s)
			continue;
		if (what == CURL_POLL_REMOVE) {
			h->fds[i] = h->fds[--h->n_fds];
		} else {
			h->fds[i].want_read = what == CURL_POLL_IN || what == CURL_POLL_INOUT;
			h->fds[i].want_write = what == CURL_POLL_OUT || what == CURL_POLL_INOUT;
		}
		return 0;
	}
	if (what == CURL_POLL_REMOVE || h->n_fds >= HTTP_MAX_FDS)
		return what == CURL_POLL_REMOVE ? 0 : -1;
	h->fds[h->n_fds].fd = s;
	h->fds[h->n_fds].want_read = what == CURL_POLL_IN || what == CURL_POLL_INOUT;
	h->fds[h->n_fds].want_write = what == CURL_POLL_OUT || what == CURL_POLL_INOUT;
	h->n_fds++;
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	http *h = userp;

	(void)multi;
	h->timeout_ms = timeout_ms;
	h->timer_set_ms = clock_mono_ms();
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	http_xfer *x = userp;
	size_t n = size * nmemb;

	if (x->body_len + n > HTTP_RESPONSE_MAX) {
		x->truncated = 1;
		n = HTTP_RESPONSE_MAX - x->body_len;
	}
	if (x->body_len + n > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;

		while (cap < x->body_len + n)
			cap *= 2;
		x->body = xrealloc(x->body, cap);
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, data, n);
	x->body_len += n;
	return size * nmemb; /* keep reading (the cut is flagged, not an error) */
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	http_xfer *x = userp;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 && n < 256 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char value[256];
		size_t len = n - (sizeof(name) - 1);

		memcpy(value, data + sizeof(name) - 1, len);
		value[len] = '\0';
		value[strcspn(value, "\r\n")] = '\0';
		x->retry_after_ms = provider_parse_retry_after(value + strspn(value, " \t"),
							       clock_wall_ms());
	}
	return n;
}

/* libcurl calls this once the connection is up (new or reused), just
 * before the request is written: the last moment to hold it back. */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
		     int local_port)
{
	http_xfer *x = clientp;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (x->h->gate == NULL || x->h->gate(x->user)) {
		x->gate_passed = 1;
		return CURL_PREREQFUNC_OK;
	}
	x->withheld = x->gate_passed ? 2 : 1;
	return CURL_PREREQFUNC_ABORT;
}

http *http_new(char *err, size_t errlen)
{
	http *h;
	static int global_done;

	/* Once per process; not thread-safe, and smsq processes have one thread. */
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "curl_global_init failed");
			return NULL;
		}
		global_done = 1;
	}
	h = xcalloc(1, sizeof(*h));
	h->timeout_ms = -1;
	h->multi = curl_multi_init();
	if (h->multi == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		free(h);
		return NULL;
	}
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_setopt failed");
		http_destroy(&h);
		return NULL;
	}
	return h;
}

int http_set_max_connections(http *h, size_t n, char *err, size_t errlen)
{
	if (curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)n) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_setopt(MAXCONNECTS) failed");
		return -1;
	}
	return 0;
}

/* Append len (4 bytes) and the bytes of s to buf at *pos (room checked). */
static void key_put(char *buf, size_t *pos, const char *s)
{
	uint32_t len = (uint32_t)strlen(s);

	memcpy(buf + *pos, &len, sizeof(len));
	memcpy(buf + *pos + sizeof(len), s, len);
	*pos += sizeof(len) + len;
}

/*
 * The setup key of req under o: every field of a full setup but the body,
 * length-prefixed so that no two setups share a key.  malloc'ed; *len_out
 * its length.
 */
static char *setup_key(const struct provider_request *req, const struct http_opts *o,
		       size_t *len_out)
{
	char num[96];
	size_t room, pos = 0;
	char *key;

	snprintf(num, sizeof(num), "%ld %ld %d", o->connect_timeout_ms, o->timeout_ms,
		 o->tls_verify);
	room = 5 * sizeof(uint32_t) + strlen(num) + strlen(req->url) + strlen(req->basic_user) +
	       strlen(req->basic_pass) + (o->ca_file != NULL ? strlen(o->ca_file) : 0);
	for (size_t i = 0; i < req->n_headers; i++)
		room += sizeof(uint32_t) + strlen(req->headers[i]);
	key = xmalloc(room);
	key_put(key, &pos, num);
	key_put(key, &pos, req->url);
	key_put(key, &pos, req->basic_user);
	key_put(key, &pos, req->basic_pass);
	key_put(key, &pos, o->ca_file != NULL ? o->ca_file : "");
	for (size_t i = 0; i < req->n_headers; i++)
		key_put(key, &pos, req->headers[i]);
	*len_out = pos;
	return key;
}

static void xfer_free(http_xfer *x)
{
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->setup);
	free(x->body);
	free(x);
}

void http_destroy(http **hp)
{
	http *h;

	if (hp == NULL || *hp == NULL)
		return;
	h = *hp;
	for (http_xfer *x = h->all, *n; x != NULL; x = n) {
		n = x->all_next;
		if (h->multi != NULL && x->easy != NULL)
			curl_multi_remove_handle(h->multi, x->easy); /* harmless if not added */
		xfer_free(x);
	}
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h);
	*hp = NULL;
}

int http_start(http *h, const struct provider_request *req, const struct http_opts *o,
	       void *user, char *err, size_t errlen)
{
	http_xfer *x = h->free_list;
	CURLcode rc = CURLE_OK;
	size_t key_len;
	char *key = setup_key(req, o, &key_len);

	if (x != NULL) {
		h->free_list = x->next;
	} else {
		x = xcalloc(1, sizeof(*x));
		x->easy = curl_easy_init();
		if (x->easy == NULL) {
			free(x);
			free(key);
			snprintf(err, errlen, "curl_easy_init failed");
			return -1;
		}
		x->all_next = h->all;
		h->all = x;
	}
	x->next = NULL;
	x->user = user;
	x->h = h;
	x->gate_passed = 0;
	x->withheld = 0;
	x->body_len = 0;
	x->truncated = 0;
	x->retry_after_ms = -1;
	x->errbuf[0] = '\0';
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(x->easy, opt, val); } while (0)
	if (x->setup != NULL && x->setup_len == key_len && memcmp(x->setup, key, key_len) == 0) {
		/* Configured for this very setup by an earlier request: the body only. */
		free(key);
		SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		goto started;
	}
	free(x->setup);
	x->setup = NULL;
	curl_easy_reset(x->easy);
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	for (size_t i = 0; i < req->n_headers; i++) {
		struct curl_slist *l = curl_slist_append(x->headers, req->headers[i]);

		if (l == NULL) {
			rc = CURLE_OUT_OF_MEMORY;
			break;
		}
		x->headers = l;
	}
	/* "Expect: 100-continue" costs a round trip per request: off. */
	if (rc == CURLE_OK) {
		struct curl_slist *l = curl_slist_append(x->headers, "Expect:");

		if (l == NULL)
			rc = CURLE_OUT_OF_MEMORY;
		else
			x->headers = l;
	}
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	SET(CURLOPT_HTTPHEADER, x->headers);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_PRIVATE, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
	SET(CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
	SET(CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_PREREQFUNCTION, on_prereq);
	SET(CURLOPT_PREREQDATA, x);
	if (o->ca_file != NULL && o->ca_file[0] != '\0')
		SET(CURLOPT_CAINFO, o->ca_file);
	if (req->basic_user[0] != '\0') {
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, req->basic_user);
		SET(CURLOPT_PASSWORD, req->basic_pass);
	}
	if (rc == CURLE_OK) {
		x->setup = key;
		x->setup_len = key_len;
	} else {
		free(key);
	}
started:
#undef SET
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "curl setup: %s", curl_easy_strerror(rc));
		free(x->setup); /* the next request sets everything */
		x->setup = NULL;
		x->next = h->free_list;
		h->free_list = x;
		return -1;
	}
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		snprintf(err, errlen, "curl_multi_add_handle failed");
		free(x->setup);
		x->setup = NULL;
		x->next = h->free_list;
		h->free_list = x;
		return -1;
	}
	h->running++;
	return 0;
}

size_t http_fds(const http *h, struct http_fd *out, size_t max)
{
	size_t n = h->n_fds < max ? h->n_fds : max;

	memcpy(out, h->fds, n * sizeof(*out));
	return n;
}

long http_timeout_ms(const http *h)
{
	if (h->timeout_ms < 0)
		return -1;
	long left = h->timeout_ms - (long)(clock_mono_ms() - h->timer_set_ms);
	return left < 0 ? 0 : left;
}

/* Move finished transfers to the done list. */
static void collect(http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		http_xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		x->result = m->data.result;
		curl_multi_remove_handle(h->multi, m->easy_handle);
		h->running--;
		x->next = h->done;
		h->done = x;
	}
}

void http_on_fd(http *h, int fd, int readable, int writable)
{
	int still;
	int ev = (readable ? CURL_CSELECT_IN : 0) | (writable ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(h->multi, fd, ev, &still);
	collect(h);
}

void http_on_timeout(http *h)
{
	int still;

	h->timeout_ms = -1;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &still);
	collect(h);
}

http_xfer *http_next_done(http *h, void **user, struct provider_response *resp)
{
	http_xfer *x = h->done;
	long status = 0;
	curl_off_t sent = 0;

	if (x == NULL)
		return NULL;
	h->done = x->next;
	x->next = NULL;
	*user = x->user;
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = x->retry_after_ms;
	resp->body = x->body;
	resp->body_len = x->body_len;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &sent);
	if (x->result == CURLE_OK && !x->truncated) {
		resp->transport = PROVIDER_T_OK;
		resp->status = status;
		return x;
	}
	if (x->withheld == 1) {
		resp->transport = PROVIDER_T_WITHHELD;
		resp->error = "held back before it left";
		return x;
	}
	if (x->withheld == 2) { /* its first try may have reached the provider */
		resp->transport = PROVIDER_T_AMBIGUOUS;
		resp->error = "held back on a retry, after a first try that may have left";
		return x;
	}
	if (x->result == CURLE_OK) { /* body too big to trust */
		resp->transport = PROVIDER_T_AMBIGUOUS;
		resp->error = "response body over the limit";
		return x;
	}
	switch (x->result) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		/* No request causes these: the base URL, the CA file, DNS
		 * or the provider's certificate do. */
		resp->transport = PROVIDER_T_NOT_SENT;
		resp->config = 1;
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		resp->transport = PROVIDER_T_NOT_SENT;
		break;
	default:
		/* A timeout or reset: did any of the request leave? */
		resp->transport = sent > 0 ? PROVIDER_T_AMBIGUOUS : PROVIDER_T_NOT_SENT;
		break;
	}
	resp->error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->result);
	return x;
}

void http_release(http *h, http_xfer *x)
{
	if (x == NULL)
		return;
	x->user = NULL;
	x->next = h->free_list;
	h->free_list = x;
}

void http_set_gate(http *h, int (*gate)(void *user))
{
	h->gate = gate;
}

size_t http_running(const http *h)
{
	return h->running;
}
