/*
 * ingest: a worker's intake of booking events, in group commits.
 *
 * ingest_process() reads the requests waiting on the worker's socket (up to
 * batch_max), checks each one (frames, size, protobuf, validate.h), and
 * hands the batch to a committer thread that stores all the good ones in
 * ONE write transaction with one sync (store_ingest).  Only once that
 * returned are the batch's acks sent: an ACCEPTED ack never leaves before
 * the commit it promises (invariant 1).  While a batch commits, the next
 * one is read and checked.  Bad input gets a REJECTED ack with its reason
 * and changes nothing; an event whose checks could not be made now (no
 * descriptor, no memory: validate.h) gets RETRY_LATER, reason temporary.
 *
 * Frames of a request as the worker sees them (proto/PROTOCOL.md):
 *   [routing id ...][empty][request id 1..64 bytes][BookingEvent]
 * The reply is the same envelope, the request id, and a packed Ack.
 */
#ifndef SMSQ_INGEST_H
#define SMSQ_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store/counters.h"
#include "store/velocity.h"
#include "store/store.h"
#include "text/prepare.h"
#include "common/attrs.h"
#include "worker/auth.h"

#define INGEST_REQ_ID_MAX 64      /* longest request id, bytes */
#define INGEST_MAX_FRAMES 8       /* frames kept of one request; more = bad */
#define INGEST_RETRY_AFTER_MS 1000 /* advised wait for RETRY_LATER */
#define INGEST_ACK_WAIT_MS 100    /* behind the broker: an ack waits this long for room
				     (the broker gone or far behind), then the acks of
				     its batch are dropped; producers resend (DUPLICATE) */

struct ingest_opts {
	const char *endpoint;         /* bound here: the ingest endpoint, or this
					 worker's own for the broker */
	int router;                   /* 1: a ROUTER, producers connect (this is the
					 pool's only ingesting worker, no broker); 0: a
					 DEALER, the broker connects */
	const struct auth_opts *auth; /* router: who may publish (CURVE, auth.h), or NULL:
					 anyone who reaches the endpoint */
	size_t batch_max;             /* most requests per group commit */
	size_t max_event_bytes;       /* event frame limit */
	int hwm;                      /* high-water mark of the acks (requests: ingest_new) */
	const struct prepare_opts *text; /* the checks and the texts, borrowed for ingest_new() */
	struct counters_data *counters; /* this process's shard of the pool's shared counters
					   (store/counters.h), or NULL: count nothing there */
	int cancel_notice;            /* enum store_cancel_notice: is a cancellation sent
					 when the patient was told nothing of the booking */
	velocity *velocity;           /* the velocity limits (store/velocity.h), borrowed
					 for the ingest's life; NULL: none */
	int velocity_hold;            /* 1: an event over a limit is stored held (ACCEPTED,
					 its reason the limit's), not refused */
};

/* Counters since start, for logs and tests. */
struct ingest_counts {
	uint64_t accepted;   /* stored */
	uint64_t duplicate;  /* key already stored */
	uint64_t rejected;   /* bad input */
	uint64_t retry;      /* RETRY_LATER answered */
	uint64_t commits;    /* write transactions */
	uint64_t acks_dropped; /* acks no broker took (INGEST_ACK_WAIT_MS) */
};

typedef struct ingest ingest;

/* Bind the endpoint (the ingest endpoint, its idle connections bounded
 * and its accept failures logged: listener.h; or this worker's own, which
 * the broker connects to: broker.h says why that way round) and
 * start the committer thread, which stores through its own handle on st's
 * environment (store_share()); st may be closed before or after the
 * ingest.  Returns NULL with err set when the
 * socket or the thread cannot be set up. */
ingest *ingest_new(const struct ingest_opts *o, store *st, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* Answer what is in hand (ingest_flush()), stop the committer, close the
 * socket (acks already sent get ZMQ_LINGER to leave).  NULL-safe. */
void ingest_destroy(ingest **in);

/* The ZeroMQ socket to poll for ZMQ_POLLIN (borrowed), when
 * ingest_wants_input(): while a batch commits and the next one is full,
 * requests wait in the socket. */
void *ingest_socket(ingest *in);
int ingest_wants_input(const ingest *in);

/* A file descriptor to poll for POLLIN: readable when the committer has
 * finished a batch, whose acks the next ingest_process() sends. */
int ingest_fd(ingest *in);

/* 1 when no request is in hand: none being read, none committing. */
int ingest_idle(const ingest *in);

/*
 * Send the acks of a batch the committer finished, read and check the
 * requests waiting now (up to batch_max in hand), and hand them to the
 * committer when it is free; on a bound socket, first read what its
 * monitor reported (listener.h: call this on every turn of the loop, at
 * least every ~100 ms).  Never blocks.  When shutting down is set,
 * new requests are answered RETRY_LATER (shutting_down) instead of being
 * stored (after ingest_stop_intake() on a bound socket, none is read).
 * Returns the number of requests read or answered (0: nothing happened),
 * or -1 when the socket failed (the caller should exit; the pool restarts
 * the worker).
 */
int ingest_process(ingest *in, int shutting_down);

/* Stopping: read no more requests when this worker bound the ingest
 * endpoint itself (those left in the socket are dropped with it, unacked:
 * producers resend them).  Behind a broker, which stops forwarding on its
 * own, this does nothing: what it forwarded is still read and stored. */
void ingest_stop_intake(ingest *in);

/* Wait for the batch with the committer and send its acks; answer the
 * requests read but not handed over RETRY_LATER (shutting_down). */
void ingest_flush(ingest *in);

/* Counters since ingest_new(). */
void ingest_get_counts(const ingest *in, struct ingest_counts *out);

#endif
