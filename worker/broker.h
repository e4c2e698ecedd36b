/*
 * broker: the pool's single ingest endpoint.
 *
 * One process of the pool binds a ROUTER socket on the ingest endpoint (the
 * stable side binds; every producer connects to it), and its DEALER socket
 * connects to each ingesting worker, which binds an endpoint of its own
 * (ipc:// in the data directory).  Requests are spread round-robin over the
 * workers that are connected and have room (ZeroMQ's DEALER fair-queues and
 * skips a worker at its high-water mark; ZMQ_IMMEDIATE: nothing is queued
 * for a worker that is not there); acks find their way back by the routing
 * id ROUTER put in front of each request.  The broker neither decodes nor
 * stores anything: ZeroMQ is the transport, LMDB the queue.
 *
 * Why the broker connects and the workers bind: a flood of producer
 * connections can take every descriptor the broker has, and a worker
 * restarted then must still be reached.  libzmq retries a connect that
 * finds no descriptor (ZeroMQ's reconnect interval), but its ipc:// listener
 * aborts the process on an accept that finds none (EMFILE is not among the
 * errors it expects).
 */
#ifndef SMSQ_BROKER_H
#define SMSQ_BROKER_H

#include <signal.h>

#include "common/attrs.h"
#include "worker/auth.h"

#define BROKER_MAX_FRAME_BYTES (1 << 20) /* ZMQ_MAXMSGSIZE on the frontend */

/*
 * Requests read ahead from one producer connection (ZMQ_RCVHWM of the
 * socket producers connect to, the broker's or a bound worker's).  The
 * rest waits on the producer's side (its send queue, TCP).  It is per
 * connection, so what a pool holds for producers grows with how many are
 * connected, not with their windows.  A held request takes about a
 * kilobyte: at 128, the ~70 producers PROTOCOL.md allows at the defaults
 * hold about 9 MiB; at batch_max (2048) per connection they could hold
 * 140 MiB.  It does not hold the rate back: the worker reads on while
 * ZeroMQ refills the queue.  The value is never above ingest.hwm.
 */
#define INGEST_READ_AHEAD 128

struct broker_opts {
	const char *frontend;   /* producers connect here (ingest.endpoint) */
	const char *const *backends; /* the ingesting workers' endpoints, connected to */
	int n_backends;
	int hwm;                /* high-water marks of the acks' way back, messages */
	int read_ahead;         /* requests held per producer connection */
	int worker_queue;       /* requests queued per worker (backend send) */
	const struct auth_opts *auth; /* who may publish (CURVE, auth.h), or NULL: anyone
				   who reaches the frontend */
};

/*
 * Run until *stop is set.  While *pause_intake is set, no new request is
 * read from producers (they queue on their side), but acks still flow back.
 * When *reload is set, the allow-list is read again (auth_reload()) and the
 * flag cleared.  Returns 0 after a clean stop, -1 when the sockets cannot be
 * set up (logged).
 */
int broker_run(const struct broker_opts *o, volatile sig_atomic_t *pause_intake,
	       volatile sig_atomic_t *stop, volatile sig_atomic_t *reload) SMSQ_WARN_UNUSED;

#endif
