/*
 * fake_record: the fake provider's ledger.  It decides which messages are
 * accepted or throttled (the --rate-limit sliding window), counts
 * everything /_stats shows, remembers accepted keys to count duplicates,
 * and appends one line per message to the record file.
 *
 * Clock.  One "server clock" serves the window, the stats and the record
 * file: the wall clock (CLOCK_REALTIME) in microseconds, clamped so that it
 * never goes backwards.  So the record file and /_stats agree: the
 * max_accepted_1s of /_stats is exactly the largest number of "accepted"
 * lines whose times, cut to the millisecond, fall in a window of 1000
 * consecutive milliseconds.
 *
 * Rate limit.  With rate_limit N > 0 and burst B, a message is throttled
 * when accepting it would put more than N + B accepted messages (or
 * segments, with count_segments) in the 1-second window ending now, that
 * is in the milliseconds now-999 .. now.  With bucket set, the limit is a
 * token bucket instead: B tokens at most (at least 1), refilled at N a
 * second, one taken per message (or segment); a message is throttled when
 * too few are left.  In FAKE_ADMIT_ALL mode a batch is accepted or
 * throttled as a whole (a batch heavier than the limit is always
 * throttled).
 *
 * Message key.  The client's reference when the API carries one per message
 * (Infobip messageId, webhook id, Vonage client-ref; a generated Infobip
 * messageId when the client gave none, which never repeats); for Twilio,
 * Sinch (whose client_reference names a batch) and Vonage without a
 * client-ref, the destination ":" 16 hex digits of the FNV-1a 64 hash of
 * the text.  Accepting a key already accepted counts a
 * duplicate.
 *
 * Record file: one line per message, fields separated by a tab:
 *   time_ms  api  key  destination  segments  http_status  outcome  text
 * time_ms: ms since the epoch with three decimals (microseconds); api:
 * twilio|infobip|webhook|sinch|vonage; http_status: the status answered, 0 when the
 * connection was dropped or hung; outcome: accepted|rejected|throttled|
 * error|unauthorized (a request refused 401 in an --auth-fail window);
 * text: the SMS text (UTF-8, cut at 2048 bytes).  Tabs, newlines
 * and other control bytes in the key, destination or text are written as
 * '?'.
 *
 * Delivery reports (fake_callbacks) add one line per report whose callback
 * was answered or given up (none for reports still pending at shutdown):
 *   time_ms  api  "receipt"  ref  destination  http_status  report  flags
 *   attempts  provider_status  error
 * time_ms: when the answer came (or the report was given up), as above;
 * "receipt" in the third field tells these lines from a message's (whose
 * key is there); ref: the message as its reports name it
 * (fake_receipts_ref(): the ref= of Twilio's StatusCallback URL else the
 * MessageSid, Infobip's messageId, Sinch's batch id, Vonage's client-ref
 * else message-id, the webhook's id); destination: the message's (Sinch's
 * recipient); http_status: the endpoint's last answer, 0 when none came
 * (refused connection, timeout); report: delivered|undelivered|interim;
 * flags: "-", "repeat" (the final report's second copy) or "older" (an
 * older report sent after the final one); attempts: requests that carried
 * it (retries included); provider_status, error: what the report said in
 * the API's words (fake_receipts_describe(); error "" when none).  The
 * endpoint took the report if and only if http_status is 2xx.
 *
 * Lines are buffered and written by a thread every
 * FAKE_RECORD_FLUSH_MS, and at fake_record_destroy().
 *
 * Threads: every function may be called from any thread (one mutex, held
 * for a few hundred nanoseconds per call, never across I/O).
 */
#ifndef SMSQ_FAKE_RECORD_H
#define SMSQ_FAKE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "fake/fake_msg.h"
#include "common/attrs.h"

#define FAKE_RECORD_FLUSH_MS 100               /* record file write period */
#define FAKE_RECORD_BUF_MAX (64u << 20)        /* lines held before dropping */
#define FAKE_RECORD_WINDOW_MS 1000             /* the sliding window */

typedef struct fake_record fake_record;

struct fake_record_opts {
	const char *path;          /* record file (appended to), NULL: none */
	unsigned rate_limit;       /* messages (or segments) per second, 0: unlimited */
	unsigned burst;            /* extra allowed in the window (the bucket's size) */
	int bucket;                /* 1: a token bucket, not the sliding window */
	int count_segments;        /* 1: the limit counts segments, not messages */
};

/* How fake_record_admit() decides a batch. */
enum fake_admit_mode {
	FAKE_ADMIT_EACH = 0,       /* message by message (webhook, Twilio) */
	FAKE_ADMIT_ALL = 1,        /* all or nothing (Infobip: one 429 for the batch) */
};

/* A snapshot of the counters (messages unless said otherwise). */
struct fake_stats {
	uint64_t requests;         /* HTTP requests to the API paths */
	uint64_t messages;         /* messages parsed (accepted + rejected + throttled +
				      error + unauthorized) */
	uint64_t accepted;         /* messages accepted, duplicates included */
	uint64_t unique_accepted;  /* distinct keys accepted */
	uint64_t duplicates;       /* accepted again with a key already accepted */
	uint64_t rejected;         /* rejected permanently */
	uint64_t throttled;        /* throttled by the rate limit */
	uint64_t errors;           /* requests answered 5xx */
	uint64_t error_messages;   /* messages in requests answered 5xx, dropped or hung */
	uint64_t unauthorized;     /* requests answered 401 (bad credentials, --auth-fail) */
	uint64_t unauthorized_messages; /* messages in requests refused 401 by --auth-fail */
	uint64_t dropped;          /* requests whose connection was closed unanswered */
	uint64_t hung;             /* requests never answered */
	uint64_t accepted_segments;        /* segments of the accepted messages */
	uint64_t max_accepted_1s;          /* most accepted messages in any 1 s window */
	uint64_t max_accepted_segments_1s; /* most accepted segments in any 1 s window */
	int64_t first_accept_ms;   /* server clock of the first acceptance, -1: none */
	int64_t last_accept_ms;    /* ... of the last one, -1: none */
	uint64_t record_dropped;   /* record lines lost (buffer full or write error) */
};

/*
 * Open the record file (if any) and start its writer thread.
 * Returns the ledger, or NULL with a message in err (errlen bytes) when
 * the file cannot be opened or the thread cannot start.
 * Caller destroys with fake_record_destroy().
 */
fake_record *fake_record_new(const struct fake_record_opts *opts, char *err, size_t errlen)
	FAKE_WARN_UNUSED SMSQ_WARN_UNUSED;

/* Stop the writer, write what is buffered, close the file, free; *r = NULL.
 * Accepts NULL and *r == NULL.  Call once no other thread uses it. */
void fake_record_destroy(fake_record **r);

/*
 * Decide the messages msgs[0..n): those with reject != FAKE_REJECT_NONE
 * become FAKE_REJECTED, the others FAKE_ACCEPTED or FAKE_THROTTLED under
 * the rate limit (mode says how a batch is cut); counts them all, adds the
 * accepted keys to the key set.  Returns the server clock used (us), for
 * fake_record_log().
 */
int64_t fake_record_admit(fake_record *r, struct fake_msg *msgs, size_t n,
			  enum fake_admit_mode mode);

/* The request carrying msgs[0..n) got a fault: mark each with outcome,
 * FAKE_ERROR (5xx, drop, hang) or FAKE_UNAUTHORIZED (401), and count them.
 * Returns the server clock used (us). */
int64_t fake_record_fail(fake_record *r, struct fake_msg *msgs, size_t n,
			 enum fake_outcome outcome);

/* Append one record line per message (no-op without a record file).
 * api: fake_api_name()'s; status: the HTTP status answered,
 * 0 for none; t_us: what admit/fail returned. */
void fake_record_log(fake_record *r, const char *api, const struct fake_msg *msgs,
		     size_t n, int status, int64_t t_us);

/* One delivery report answered or given up (fake_record_receipts()); the
 * strings are borrowed for the call. */
struct fake_record_receipt {
	const char *api;           /* fake_api_name() */
	const char *ref;           /* the message as its reports name it */
	const char *to;            /* its destination */
	int status;                /* the endpoint's last HTTP status, 0: none */
	const char *report;        /* "delivered", "undelivered" or "interim" */
	const char *flags;         /* "-", "repeat" or "older" */
	unsigned attempts;         /* requests that carried it */
	const char *provider_status; /* the report's status in the API's words */
	const char *error;         /* its error code or text, "" for none */
};

/* Append one receipt line per entry of rcs[0..n), all with the same time
 * (now on the server clock).  No-op without a record file. */
void fake_record_receipts(fake_record *r, const struct fake_record_receipt *rcs, size_t n);

/* Count one request to an API path. */
void fake_record_request(fake_record *r);

/* Count the answer of an API request: status >= 500 counts an error, an
 * answer refusing the credentials (unauthorized: a 401, or Vonage's
 * status 4 inside a 200) an unauthorized request. */
void fake_record_answered(fake_record *r, int status, int unauthorized);

/* Count a request whose connection was dropped (hung = 0) or hung (1). */
void fake_record_unanswered(fake_record *r, int hung);

/* Copy the counters into *out (one consistent snapshot). */
void fake_record_stats(fake_record *r, struct fake_stats *out);

#endif
