/*
 * smsq_producer: publish BookingEvents to an smsq pool and collect their acks.
 *
 * This is the C client library of smsq (libsmsq).  A booking backend creates
 * one producer per thread that publishes, hands it packed BookingEvents
 * (proto/booking.proto; the library treats them as opaque bytes) and is told,
 * once per event, what became of it:
 *
 *	ACCEPTED   the pool committed and synced the event: it will be sent
 *		   (with a reason, a velocity limit's: held, sent only if an
 *		   operator releases it);
 *	DUPLICATE  that idempotency key was already stored: no second SMS;
 *	REJECTED   the event is invalid (reason + detail): nothing was stored;
 *	NO_ACK     no final answer within ack_timeout_ms: the event MAY have
 *		   been stored; publish it again later (same idempotency key)
 *		   to find out, which is always safe.
 *
 * Typical use, pipelined (many events in flight, acks in any order):
 *
 *	char err[256];
 *	smsq_producer *p = smsq_producer_new("tcp://127.0.0.1:5555", NULL,
 *					     err, sizeof(err));
 *	if (p == NULL)
 *		die("%s", err);
 *	for (each event) {
 *		rc = smsq_publish(p, buf, len, my_ctx, -1);	// blocks if window full
 *		if (rc < 0)
 *			die("%s", smsq_strerror(rc));
 *		rc = smsq_poll(p, 0, on_ack, NULL);		// collect what finished
 *		...
 *	}
 *	rc = smsq_flush(p, -1, on_ack, NULL);			// wait for the rest
 *	smsq_producer_destroy(&p);
 *
 * or one at a time with smsq_publish_sync().
 *
 * WHAT THE LIBRARY DOES FOR YOU
 *
 *	- It copies each event and keeps it until its outcome is known, and
 *	  resends it (same bytes, same request id) when no ack came within
 *	  resend_ms: ZeroMQ reconnects TCP by itself, but whatever was in
 *	  flight on a broken connection is lost, and acks routed to the old
 *	  connection are dropped by the pool.
 *	- RETRY_LATER acks (backpressure) are not reported: the event is resent
 *	  after the retry_after_ms the pool asked for, until ack_timeout_ms.
 *	- At most `window` events are unacknowledged at a time; smsq_publish()
 *	  waits for room, reading acks meanwhile.
 *	- After ack_timeout_ms (counted from smsq_publish()) an event is
 *	  reported NO_ACK and forgotten: a late ack for it is ignored.
 *
 * RETURN CODES
 *
 *	Every function that can fail returns SMSQ_OK (0), a count (>= 0), or
 *	one of the negative enum smsq_rc codes; smsq_strerror() names them.
 *	None of them prints, exits or aborts; out of memory is SMSQ_ENOMEM.
 *
 * THREADS, PROCESSES, SIGNALS
 *
 *	A producer is not thread-safe: use it from one thread at a time (one
 *	producer per publishing thread is the intended use; producers are
 *	independent, the library keeps no global state).  Moving a producer to
 *	another thread needs a full memory barrier (ZeroMQ's rule for sockets).
 *	Do not use a producer in a child after fork(): create a new one there.
 *	Callbacks run in the caller's thread, inside smsq_poll(),
 *	smsq_flush() and smsq_publish_sync(); while one runs, every function
 *	of this header called on the same producer returns SMSQ_EBUSY, except
 *	smsq_outstanding(), smsq_stats() and smsq_strerror().
 *	A signal delivered while the library waits makes it return SMSQ_EINTR
 *	with nothing lost: handle the signal, then call again.
 *
 * CAVEATS
 *
 *	- At-least-once, not exactly-once, on the wire: a resent copy may be
 *	  stored while the first copy's ack is in flight.  The pool's
 *	  idempotency index makes that harmless (one SMS per key): give every
 *	  SMS its own stable key, and reuse the key when you publish it again.
 *	- A DUPLICATE for an event with `resent` set is normally the library's
 *	  own earlier copy that was stored: treat it as success.  A DUPLICATE
 *	  with `resent` clear means the key was stored by an earlier publish
 *	  (yours, a previous run, another process).
 *	- NO_ACK does not mean lost, nor stored.  It means unknown.
 *	- Outcomes come in any order, not in publish order; use `user` to tell
 *	  them apart.  The pool stores events in the order it receives them,
 *	  which is not publish order either once a resend happened.
 *	- Outcomes are reported only from smsq_poll(), smsq_flush() and
 *	  smsq_publish_sync().  Outcomes that finish while smsq_publish() waits
 *	  for room are kept (up to `window` of them) until the next call: call
 *	  smsq_poll() regularly, or smsq_publish() returns SMSQ_EFULL.
 *	- smsq_producer_destroy() drops every event still outstanding without
 *	  reporting it: call smsq_flush() first.
 *	- Memory: up to `window` copies of events (their size plus ~100 bytes
 *	  each), finished outcomes waiting to be reported (~450 bytes each; a
 *	  few thousand at most per smsq_poll(), up to `window` when
 *	  smsq_publish() waits for room), and ZeroMQ's own queues (bounded by
 *	  the HWMs, see smsq_producer.c).
 *	- Timeouts use CLOCK_MONOTONIC: wall-clock changes do not affect them.
 *	  Timeouts are in milliseconds; -1 waits without limit, 0 does not wait.
 *	- A slow callback delays everything: acks queue up and resends and
 *	  ack timeouts fire late.  Keep callbacks short.
 *	- Request ids are per producer (a sequence number from 1): a new
 *	  producer has a new ZeroMQ identity, so the acks of a previous one
 *	  never reach it.
 */
#ifndef SMSQ_PRODUCER_H
#define SMSQ_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SMSQ_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define SMSQ_WARN_UNUSED
#endif

/** Defaults of struct smsq_producer_opts (used for a field left at 0). */
#define SMSQ_DEFAULT_WINDOW 4096
#define SMSQ_DEFAULT_RESEND_MS 3000
#define SMSQ_DEFAULT_ACK_TIMEOUT_MS 30000
#define SMSQ_DEFAULT_MAX_EVENT_BYTES 16384
/** Upper limits of struct smsq_producer_opts. */
#define SMSQ_WINDOW_MAX 1000000
#define SMSQ_MAX_EVENT_BYTES_MAX (16 * 1024 * 1024)

/** Longest idempotency key / detail copied into a struct smsq_ack (bytes,
 * without the NUL); longer ones are truncated. */
#define SMSQ_KEY_MAX 128
#define SMSQ_DETAIL_MAX 255

/** Return codes.  Negative values are errors. */
enum smsq_rc {
	SMSQ_OK = 0,
	/** The timeout passed before the call could complete. */
	SMSQ_ETIMEDOUT = -1,
	/** An argument is invalid (NULL producer, bad option...). */
	SMSQ_EINVAL = -2,
	/** Out of memory; the producer is unchanged and usable. */
	SMSQ_ENOMEM = -3,
	/** The event is larger than max_event_bytes. */
	SMSQ_ETOOBIG = -4,
	/** A ZeroMQ call failed; errno holds ZeroMQ's error (zmq_strerror()).
	 * The producer should be destroyed. */
	SMSQ_EZMQ = -5,
	/** A signal interrupted a wait; nothing was lost, call again. */
	SMSQ_EINTR = -6,
	/** The window is full and `window` finished outcomes wait to be
	 * collected: call smsq_poll() or smsq_flush(). */
	SMSQ_EFULL = -7,
	/** Called from a callback of this producer, or smsq_publish_sync()
	 * called while other events are outstanding. */
	SMSQ_EBUSY = -8,
};

/** The outcome of one event.  The first three have the values of the wire's
 * smsq.AckStatus (ACK_ACCEPTED, ACK_DUPLICATE, ACK_REJECTED). */
enum smsq_status {
	SMSQ_ACCEPTED = 1,	/**< committed and synced by the pool */
	SMSQ_DUPLICATE = 2,	/**< the key was already stored: no second SMS */
	SMSQ_REJECTED = 3,	/**< invalid, nothing stored: do not resend as is */
	SMSQ_NO_ACK = 16,	/**< no final ack within ack_timeout_ms: unknown */
};

/** One finished event, as passed to a smsq_ack_fn.  Self-contained (no
 * pointers): it may be copied. */
struct smsq_ack {
	enum smsq_status status;	/**< what became of the event */
	int reason;			/**< smsq.Reason of a REJECTED ack, or
					 * of an ACCEPTED one stored held (a
					 * velocity limit's); for NO_ACK the
					 * reason of the last RETRY_LATER, if
					 * any; else 0 (NONE) */
	uint64_t message_id;		/**< the pool's message id (ACCEPTED,
					 * DUPLICATE), else 0 */
	uint64_t request_id;		/**< the request id the library used */
	unsigned sends;			/**< copies sent (0 if never sent) */
	bool resent;			/**< sends > 1: an earlier copy may be
					 * what the pool stored */
	int64_t elapsed_ms;		/**< from smsq_publish() to the outcome */
	char idempotency_key[SMSQ_KEY_MAX + 1];	/**< from the ack ("" if the
					 * pool could not decode the event,
					 * and for NO_ACK) */
	char detail[SMSQ_DETAIL_MAX + 1];	/**< human-readable explanation
					 * ("" for ACCEPTED normally) */
};

/** Counters since the producer was created. */
struct smsq_stats {
	uint64_t published;	/**< events accepted by smsq_publish() */
	uint64_t sends;		/**< copies handed to ZeroMQ, first sends included */
	uint64_t resends;	/**< of which resends */
	uint64_t retry_later;	/**< RETRY_LATER acks received */
	uint64_t acks_ignored;	/**< malformed acks, unknown or finished
				 * request ids */
	uint64_t no_ack;	/**< events reported NO_ACK */
};

/** Options of smsq_producer_new().  Zero-initialise and set what you need:
 * a field left at 0 takes its default. */
struct smsq_producer_opts {
	size_t window;		/**< max unacknowledged events, 1..SMSQ_WINDOW_MAX;
				 * default 4096: one producer reaches
				 * about window / ack latency events/s
				 * (acks take one or two commits) */
	int resend_ms;		/**< resend an unacknowledged event after this
				 * long (>= 1); default 3000 */
	int ack_timeout_ms;	/**< report NO_ACK this long after
				 * smsq_publish() (>= 1); default 30000 */
	size_t max_event_bytes;	/**< largest event accepted by smsq_publish(),
				 * 1..SMSQ_MAX_EVENT_BYTES_MAX; default 16384,
				 * the pool's default limit */
};

/** Opaque producer handle. */
typedef struct smsq_producer smsq_producer;

/** Called once per finished event.
 * @param ack	the outcome; valid only during the call (copy it to keep it)
 * @param user	the pointer given to smsq_publish()
 * @param arg	the pointer given to smsq_poll() / smsq_flush()
 * It must not call smsq_ functions on the same producer (they return
 * SMSQ_EBUSY), except smsq_outstanding() and smsq_stats(). */
typedef void smsq_ack_fn(const struct smsq_ack *ack, void *user, void *arg);

/** Create a producer connected to an smsq pool.
 *
 * Creates its own ZeroMQ context and a DEALER socket connected to endpoint.
 * Connecting is asynchronous: a pool that is down is not an error, events
 * wait (and are resent) until it is up or their ack_timeout_ms passes.
 *
 * @param endpoint	ZeroMQ endpoint of the pool's ingest socket, such as
 *			"tcp://127.0.0.1:5555" (copied)
 * @param opts		options, or NULL for all defaults (copied)
 * @param err		buffer for an error message, or NULL
 * @param errlen	its size in bytes
 * @return the producer, or NULL with the reason in err: an option out of
 *	range (named), a malformed endpoint, ZeroMQ or memory failure.
 *	Free it with smsq_producer_destroy().
 */
smsq_producer *smsq_producer_new(const char *endpoint,
				 const struct smsq_producer_opts *opts,
				 char *err, size_t errlen) SMSQ_WARN_UNUSED;

/** A producer's CURVE keys (ZeroMQ's CurveZMQ), each as ZeroMQ writes
 * them: 40 characters of Z85 (smsqctl keygen's files hold them). */
struct smsq_curve_keys {
	const char *server_key;	/**< the pool's public key (its NAME.key) */
	const char *public_key;	/**< this producer's public key, or NULL:
				 * derived from secret_key */
	const char *secret_key;	/**< this producer's secret key (its
				 * NAME.secret); copied, never logged */
};

/** Create a producer, as smsq_producer_new(), that proves who it is to a
 * pool that asks for CURVE (ingest.curve_secret_file): the connection is
 * encrypted and authenticated, and the pool lets it publish only if its
 * public key is in the pool's allow-list.
 *
 * A pool that refuses the key closes the connection after the handshake, and
 * libzmq does not connect again: the events end NO_ACK, their detail saying
 * that the pool refused this producer's key (the pool counts and logs the
 * refusal, with the key).  Create a new producer once the key is allowed.
 *
 * @param keys		the three keys (see struct smsq_curve_keys)
 * @return the producer, or NULL with the reason in err: also a key that is
 *	not 40 characters of Z85, a public key that is not the secret
 *	key's, or a libzmq built without CURVE.
 * @since SMSQ_PRODUCER_1.1
 */
smsq_producer *smsq_producer_new_curve(const char *endpoint,
				       const struct smsq_producer_opts *opts,
				       const struct smsq_curve_keys *keys,
				       char *err, size_t errlen) SMSQ_WARN_UNUSED;

/** Destroy a producer: close its socket and context, free every event it
 * holds.  Outstanding events are dropped WITHOUT being reported (call
 * smsq_flush() first); unsent ZeroMQ data is discarded at once (ZMQ_LINGER
 * is 0).  Accepts NULL and a pointer to NULL; sets *p to NULL. */
void smsq_producer_destroy(smsq_producer **p);

/** Queue one packed BookingEvent and send it.
 *
 * The event is copied: the caller may reuse its buffer at once.  Its
 * outcome will be reported exactly once by smsq_poll(), smsq_flush() or
 * (for smsq_publish_sync()) returned, unless the producer is destroyed first.
 * If `window` events are already unacknowledged, waits for room up to
 * timeout_ms, reading acks, doing resends and ack timeouts meanwhile; the
 * outcomes that finish during the wait are kept for the next smsq_poll().
 *
 * @param p		the producer
 * @param event		the packed event (not checked: the pool decodes it)
 * @param len		its length, at most max_event_bytes (0 is allowed)
 * @param user		any pointer, passed back with the outcome
 * @param timeout_ms	how long to wait for room: -1 no limit, 0 do not wait
 * @return SMSQ_OK: queued (and sent, or to be sent as soon as the socket
 *	takes it).
 *	SMSQ_ETIMEDOUT: the window stayed full; nothing queued.
 *	SMSQ_EFULL: the window is full and `window` outcomes wait for
 *	smsq_poll(); nothing queued.
 *	SMSQ_ETOOBIG: len > max_event_bytes; nothing queued.
 *	SMSQ_EINVAL: p is NULL, or event is NULL with len > 0.
 *	SMSQ_ENOMEM, SMSQ_EZMQ, SMSQ_EINTR, SMSQ_EBUSY: nothing queued.
 */
int smsq_publish(smsq_producer *p, const void *event, size_t len, void *user,
		 int timeout_ms) SMSQ_WARN_UNUSED;

/** Collect outcomes: read the acks that came in, do the resends and the ack
 * timeouts that are due, and call fn once per finished event.
 *
 * Does all the work that is ready without waiting; if no event finished,
 * waits up to timeout_ms for the first one, then returns.  Returns at once
 * (0) when no event is outstanding.
 *
 * @param p		the producer
 * @param timeout_ms	-1 no limit, 0 do not wait
 * @param fn		called per finished event, or NULL to discard outcomes
 * @param arg		passed to fn
 * @return the number of outcomes reported (0 when the timeout passed with
 *	none), or SMSQ_EINVAL, SMSQ_ENOMEM, SMSQ_EZMQ, SMSQ_EINTR, SMSQ_EBUSY
 *	(the outcomes already reported by this call are not repeated).
 */
int smsq_poll(smsq_producer *p, int timeout_ms, smsq_ack_fn *fn, void *arg)
	SMSQ_WARN_UNUSED;

/** Like smsq_poll() until nothing is outstanding (every event published has
 * been reported).  Terminates within ack_timeout_ms even if the pool is
 * down, since unanswered events then finish as NO_ACK.
 *
 * @return the number of outcomes reported (>= 0) once nothing is
 *	outstanding; SMSQ_ETIMEDOUT if events are still outstanding after
 *	timeout_ms (those that finished were reported); or the errors of
 *	smsq_poll().
 */
int smsq_flush(smsq_producer *p, int timeout_ms, smsq_ack_fn *fn, void *arg)
	SMSQ_WARN_UNUSED;

/** Publish one event and wait for its outcome.
 *
 * Only when nothing else is outstanding (else SMSQ_EBUSY): it does not
 * report other events' outcomes.
 *
 * @param out	receives the outcome (any status, NO_ACK included)
 * @return SMSQ_OK with *out filled; SMSQ_ETIMEDOUT if timeout_ms passed
 *	first (the producer then forgets the event: it may or may not have
 *	been stored, publish it again to find out); the errors of
 *	smsq_publish(); or SMSQ_EINTR, SMSQ_ENOMEM, SMSQ_EZMQ while waiting
 *	(the event is forgotten too).
 */
int smsq_publish_sync(smsq_producer *p, const void *event, size_t len,
		      struct smsq_ack *out, int timeout_ms) SMSQ_WARN_UNUSED;

/** Number of events published whose outcome has not been reported yet
 * (unacknowledged ones plus finished ones waiting for smsq_poll()).
 * 0 for NULL. */
size_t smsq_outstanding(const smsq_producer *p);

/** Copy the producer's counters into *out (zeroes for a NULL producer). */
void smsq_stats(const smsq_producer *p, struct smsq_stats *out);

/** A static English description of a return code (never NULL). */
const char *smsq_strerror(int rc);

/** Lower-case name of an outcome: "accepted", "duplicate", "rejected",
 * "no_ack"; "unknown" otherwise.  Static string. */
const char *smsq_status_name(int status);

/** Lower-case name of a smsq.Reason value without its prefix: "none",
 * "invalid_phone", "store_full"...; "unknown" for a value this library does
 * not know.  Static string. */
const char *smsq_reason_name(int reason);

#ifdef __cplusplus
}
#endif

#endif
