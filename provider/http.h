/*
 * http: many HTTP requests in flight in one thread, over libcurl's multi
 * interface, driven by the worker's event loop.
 *
 * The loop asks for the sockets to watch (http_fds) and the longest it may
 * sleep (http_timeout_ms), polls them together with its ZeroMQ socket, then
 * reports readiness (http_on_fd / http_on_timeout).  Finished transfers are
 * collected with http_next_done() and handed back with http_release().
 * Connections are kept alive and reused (HTTP/2 multiplexing where the
 * server offers it over TLS); TLS peers are verified unless a provider's
 * config says otherwise.  Only http.c includes curl/curl.h.
 */
#ifndef SMSQ_HTTP_H
#define SMSQ_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "provider/provider.h"
#include "common/attrs.h"

#define HTTP_MAX_FDS 1024
#define HTTP_RESPONSE_MAX (1 << 20)   /* bodies beyond this are cut (and flagged) */

typedef struct http http;
typedef struct http_xfer http_xfer;

struct http_opts {
	long connect_timeout_ms;   /* TCP + TLS connect budget */
	long timeout_ms;           /* whole request budget */
	int tls_verify;            /* 1: verify peer and host (default) */
	const char *ca_file;       /* CA bundle, or NULL for the system's */
};

/* A socket libcurl wants watched. */
struct http_fd {
	int fd;                    /* the socket */
	int want_read;             /* watch for readable */
	int want_write;            /* watch for writable */
};

/* Create the multi handle.  NULL with err set on failure. */
http *http_new(char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Keep up to n idle connections open (at least the number of requests the
 * caller may have in flight): libcurl's default cache is 4 per transfer
 * *currently* added, so when fewer are in flight it closes connections that
 * the next burst must open again.  Returns 0, or -1 with err set.
 */
int http_set_max_connections(http *h, size_t n, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Abort every transfer and free everything.  NULL-safe. */
void http_destroy(http **h);

/*
 * Start req (borrowed: it must stay valid until the transfer is released;
 * the body is sent as is).  user comes back with the result.
 * Returns 0, or -1 with err set (the request was not started).
 */
int http_start(http *h, const struct provider_request *req, const struct http_opts *o,
	       void *user, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * gate(user) is asked, for every request, just before it is written to its
 * connection (the connection is up; nothing of the request has left): 0
 * holds it back, and it finishes with transport PROVIDER_T_WITHHELD; when
 * libcurl retries a request whose connection died and the gate holds back
 * the retry, with PROVIDER_T_AMBIGUOUS (the first try may have reached the
 * provider).  NULL (the default): every request leaves.
 */
void http_set_gate(http *h, int (*gate)(void *user));

/* Sockets to watch now (at most max).  Returns the count. */
size_t http_fds(const http *h, struct http_fd *out, size_t max);

/* How long the loop may sleep before calling http_on_timeout(), -1: no
 * deadline. */
long http_timeout_ms(const http *h);

/* Report a ready socket / a timeout; libcurl does its work. */
void http_on_fd(http *h, int fd, int readable, int writable);
void http_on_timeout(http *h);

/* The next finished transfer, or NULL.  *user is what http_start() got;
 * resp is filled (body borrowed until http_release()). */
http_xfer *http_next_done(http *h, void **user, struct provider_response *resp);

/* Give a finished transfer back (its handle is reused). */
void http_release(http *h, http_xfer *x);

/* Transfers in flight. */
size_t http_running(const http *h);

#endif
