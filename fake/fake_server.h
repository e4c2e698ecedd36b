/*
 * fake_server: the fake provider's HTTP server (libmicrohttpd): routing,
 * bodies, faults and delays, /_stats.  The only module that includes
 * microhttpd.h.
 *
 * Routes
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json   Twilio
 *   POST /sms/2/text/advanced                              Infobip
 *   POST /webhook                                          generic webhook
 *   POST /xms/v1/{service_plan_id}/batches                 Sinch
 *   POST /sms/json                                         Vonage
 *   GET  /_stats                                           counters (JSON)
 * An API path answers only when its API is enabled (api_mask).  Anything
 * else: 404 JSON (Twilio's error shape under /2010-04-01/), a known path
 * with another method: 405 JSON with Allow.  A body larger than
 * max_body_bytes: 413 (at once when Content-Length says so).
 *
 * /_stats keys: requests, messages, accepted, unique_accepted, duplicates,
 * rejected, throttled, errors (requests answered 5xx), error_messages,
 * unauthorized (requests answered 401), unauthorized_messages (in requests
 * refused by --auth-fail), dropped, hung, accepted_segments, max_accepted_1s,
 * max_accepted_segments_1s, first_accept_ms and last_accept_ms (null
 * before the first acceptance), record_dropped, now_ms (see fake_record.h),
 * credentials (requests authenticated by each --infobip-key,
 * --webhook-token, --sinch-token and --vonage-secret:
 * fake_apis_credentials()); and the delivery reports' (fake_callbacks.h),
 * in reports: receipts_scheduled, receipts_dropped (not held: the queue
 * was full), receipts_pending (held, not done), receipts_sent,
 * receipts_requests (report requests, each attempt), receipts_retried
 * (sent again), receipts_2xx (answered 2xx), receipts_4xx (answered
 * another non-2xx but 429 and 5xx: given up at once), receipts_5xx
 * (answers 429 or 5xx, each attempt), receipts_no_answer (attempts without
 * an answer), receipts_failed (given up); scheduled = 2xx + 4xx + failed +
 * pending.
 *
 * Delivery reports: the accepted messages of a request that asked for
 * them go to fake_callbacks once the request is decided (before its
 * answer leaves, which --latency-ms may hold back).
 *
 * Delays and hangs never block a thread: the connection is suspended and
 * fake_timer resumes it.  Keep-alive connections are kept; an idle one is
 * closed after FAKE_SERVER_IDLE_TIMEOUT_S.
 */
#ifndef SMSQ_FAKE_SERVER_H
#define SMSQ_FAKE_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fake/fake_apis.h"
#include "fake/fake_callbacks.h"
#include "fake/fake_faults.h"
#include "fake/fake_record.h"
#include "common/attrs.h"

#define FAKE_SERVER_IDLE_TIMEOUT_S 120     /* idle keep-alive connection */
#define FAKE_SERVER_CONNECTION_LIMIT 20000 /* open connections at most */
#define FAKE_SERVER_BACKLOG 4096           /* listen() backlog */
#define FAKE_SERVER_STOP_WAIT_MS 5000      /* shutdown: wait for resumed requests */
#define FAKE_SERVER_CONNECTION_MEMORY (16u << 10) /* per connection: headers and
						      read buffer (libmicrohttpd
						      clears it per request) */

typedef struct fake_server fake_server;

struct fake_server_opts {
	struct sockaddr_storage addr;  /* where to listen (a loopback address) */
	socklen_t addr_len;            /* its length */
	unsigned threads;              /* HTTP threads (>= 1) */
	unsigned api_mask;             /* bit (1 << enum fake_api) per enabled API */
	size_t max_body_bytes;         /* larger bodies: 413 */
	int retry_after_s;             /* Retry-After of throttled answers */
	int64_t hang_max_ms;           /* a hung request is closed after this */
	fake_apis *apis;               /* borrowed, outlives the server */
	fake_faults *faults;           /* borrowed, outlives the server */
	fake_record *record;           /* borrowed, outlives the server */
	fake_callbacks *callbacks;     /* delivery reports (borrowed, outlives the server) */
};

/* Bind and start the threads.  Returns the server, or NULL with err set
 * (address in use, not allowed...).  Caller stops with fake_server_stop(). */
fake_server *fake_server_start(const struct fake_server_opts *opts, char *err, size_t errlen)
	FAKE_WARN_UNUSED SMSQ_WARN_UNUSED;

/* The port actually bound (useful with port 0). */
uint16_t fake_server_port(const fake_server *s);

/* Stop gracefully: delayed answers are sent at once, hung connections are
 * closed, then the threads stop.  *s = NULL.  Accepts NULL and *s == NULL. */
void fake_server_stop(fake_server **s);

#endif
