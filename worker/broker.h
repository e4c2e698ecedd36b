/*
 * broker: the pool's single ingest endpoint.
 *
 * One process of the pool binds a ROUTER socket on the ingest endpoint (the
 * stable side binds; every producer connects to it) and a DEALER socket on a
 * private backend endpoint that the worker processes connect to.  Requests
 * are spread round-robin over the workers that have room (ZeroMQ's DEALER
 * fair-queues and skips a worker at its high-water mark); acks find their way
 * back by the routing id ROUTER put in front of each request.  The broker
 * neither decodes nor stores anything: ZeroMQ is the transport, LMDB the
 * queue.
 */
#ifndef SMSQ_BROKER_H
#define SMSQ_BROKER_H

#include <signal.h>

#define BROKER_MAX_FRAME_BYTES (1 << 20) /* ZMQ_MAXMSGSIZE on the frontend */

struct broker_opts {
	const char *frontend;   /* producers connect here (ingest.endpoint) */
	const char *backend;    /* workers connect here (ipc:// in the data dir) */
	int hwm;                /* high-water marks of both sockets, messages */
};

/*
 * Run until *stop is set.  While *pause_intake is set, no new request is
 * read from producers (they queue on their side), but acks still flow back.
 * Returns 0 after a clean stop, -1 when the sockets cannot be set up (logged).
 */
int broker_run(const struct broker_opts *o, volatile sig_atomic_t *pause_intake,
	       volatile sig_atomic_t *stop);

#endif
