/*
 * ingest: a worker's intake of booking events, in group commits.
 *
 * Each call to ingest_process() reads the requests waiting on the worker's
 * socket (up to batch_max), checks each one (frames, size, protobuf,
 * validate.h), stores all the good ones in ONE write transaction with one
 * sync (store_ingest), and only then sends every ack of the batch: an
 * ACCEPTED ack never leaves before the commit it promises (invariant 1).
 * Bad input gets a REJECTED ack with its reason and changes nothing.
 *
 * Frames of a request as the worker sees them (proto/PROTOCOL.md):
 *   [routing id ...][empty][request id 1..64 bytes][BookingEvent]
 * The reply is the same envelope, the request id, and a packed Ack.
 */
#ifndef SMSQ_INGEST_H
#define SMSQ_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "worker/config.h"
#include "worker/prepare.h"

#define INGEST_REQ_ID_MAX 64      /* longest request id, bytes */
#define INGEST_MAX_FRAMES 8       /* frames kept of one request; more = bad */
#define INGEST_RETRY_AFTER_MS 1000 /* advised wait for RETRY_LATER */

struct ingest_opts {
	const char *backend;          /* broker endpoint to connect to */
	size_t batch_max;             /* most requests per group commit */
	size_t max_event_bytes;       /* event frame limit */
	int hwm;                      /* socket high-water marks */
	const struct config *cfg;     /* the rest (prepare.h), borrowed for ingest_new() */
};

/* Counters since start, for logs and tests. */
struct ingest_counts {
	uint64_t accepted;   /* stored */
	uint64_t duplicate;  /* key already stored */
	uint64_t rejected;   /* bad input */
	uint64_t retry;      /* RETRY_LATER answered */
	uint64_t commits;    /* write transactions */
};

typedef struct ingest ingest;

/* Connect to the broker.  st is borrowed and must outlive the ingest.
 * Returns NULL with err set when the socket cannot be set up. */
ingest *ingest_new(const struct ingest_opts *o, store *st, char *err, size_t errlen);

/* Close the socket (acks already sent get ZMQ_LINGER to leave).  NULL-safe. */
void ingest_destroy(ingest **in);

/* The ZeroMQ socket to poll for ZMQ_POLLIN (borrowed). */
void *ingest_socket(ingest *in);

/*
 * Handle every request waiting now (at most batch_max): decode, validate,
 * store in one commit, ack.  Never blocks waiting for input.  When shutting
 * down is set, requests are answered RETRY_LATER (shutting_down) instead of
 * being stored.
 * Returns the number of requests handled (0: none waiting), or -1 when the
 * socket failed (the caller should exit; the pool restarts the worker).
 */
int ingest_process(ingest *in, int shutting_down);

/* Counters since ingest_new(). */
void ingest_get_counts(const ingest *in, struct ingest_counts *out);

#endif
