/*
 * broker: ROUTER (producers) <-> DEALER (workers), see broker.h.
 *
 * Why not zmq_proxy(): it blocks in zmq_send when every worker is at its
 * high-water mark, and then cannot carry acks back, and it cannot watch our
 * signal flags.  This loop sends without blocking (move_one()): a request
 * the backend has no room for is held, no other is read until it has gone,
 * and acks are always drained.
 */
#include "worker/broker.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "worker/listener.h"

#define BROKER_POLL_MS 100
#define BROKER_BURST 4096   /* messages moved per direction per round */
#define BROKER_LINGER_MS 2000

/* Read the rest of a message from src and drop it, so that the next read
 * starts on a message boundary. */
static void drop_rest(void *src)
{
	zmq_msg_t part;
	int more = 1;

	while (more && zmq_msg_init(&part) == 0 && zmq_msg_recv(&part, src, 0) >= 0) {
		more = zmq_msg_more(&part);
		zmq_msg_close(&part);
	}
}

/* Send the rest of a multipart message from src to dst, its first frame
 * (with "more" set) just sent.  ZeroMQ delivers and queues a multipart
 * message whole: the rest is in src already, and dst, having taken the
 * first frame, takes the rest without blocking.  Returns 1, or -1. */
static int move_rest(void *src, void *dst)
{
	zmq_msg_t part;
	int more = 1;

	while (more) {
		if (zmq_msg_init(&part) != 0 || zmq_msg_recv(&part, src, 0) < 0) {
			zmq_msg_close(&part);
			return -1;
		}
		more = zmq_msg_more(&part);
		if (zmq_msg_send(&part, dst, more ? ZMQ_SNDMORE : 0) < 0) {
			zmq_msg_close(&part);
			if (more)
				drop_rest(src);
			return -1;
		}
	}
	return 1;
}

/* A request whose first frame the backend could not take (every worker at
 * its high-water mark, or none connected): held until it can.  Its other
 * frames wait in the frontend socket, from which nothing else is read
 * meanwhile. */
struct held {
	zmq_msg_t first;
	int has;
};

/*
 * Move one message from src to dst without ever blocking in a send: its
 * first frame goes with ZMQ_DONTWAIT; refused (dst full), it stays in *h for
 * the next try.  A refusal costs nothing up front, where asking the socket
 * for room (ZMQ_EVENTS) before each message would make libzmq check its
 * command mailbox each time: a poll() and a getpid() per request, most of
 * what the broker itself costs.  Returns 1 moved, 0 nothing
 * waiting or dst full (then h->has), -1 error (the message is dropped).
 */
static int move_one(void *src, void *dst, struct held *h)
{
	int more;

	if (!h->has) {
		if (zmq_msg_init(&h->first) != 0)
			return -1;
		if (zmq_msg_recv(&h->first, src, ZMQ_DONTWAIT) < 0) {
			int e = errno;

			zmq_msg_close(&h->first);
			errno = e;
			return e == EAGAIN ? 0 : -1;
		}
		h->has = 1;
	}
	more = zmq_msg_more(&h->first);
	if (zmq_msg_send(&h->first, dst, ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)) < 0) {
		int e = errno;

		if (e == EAGAIN)
			return 0;
		zmq_msg_close(&h->first);
		h->has = 0;
		if (more)
			drop_rest(src);
		errno = e;
		return -1;
	}
	h->has = 0; /* the send took the frame */
	return more ? move_rest(src, dst) : 1;
}

static int set_opts(void *sock, int sndhwm, int rcvhwm, int is_frontend)
{
	int linger = BROKER_LINGER_MS;
	int64_t maxmsg = BROKER_MAX_FRAME_BYTES;
	int rc = 0;

	/* Linger: acks already handed to ZeroMQ get a moment to leave at exit. */
	rc |= zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	/* HWMs bound the memory held for slow peers; past them the broker stops
	 * reading and producers feel backpressure.  Requests: read_ahead per
	 * producer connection, worker_queue per worker; acks: hwm. */
	rc |= zmq_setsockopt(sock, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm));
	rc |= zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
	if (is_frontend) {
		rc |= zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	} else {
		/* Requests go only to workers that are connected: none waits in
		 * the pipe of a worker that is down or not started yet. */
		int immediate = 1;

		rc |= zmq_setsockopt(sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate));
	}
	return rc;
}

int broker_run(const struct broker_opts *o, volatile sig_atomic_t *pause_intake,
	       volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
	void *ctx;
	void *front = NULL, *back = NULL;
	listener_watch *watch = NULL;
	auth *au = NULL;
	struct held req = { .has = 0 }, ack = { .has = 0 };
	char err[256];
	int ret = -1;

	if (o->hwm <= 0 || o->read_ahead <= 0 || o->worker_queue <= 0) {
		/* ZeroMQ takes 0 for "no limit": never by accident. */
		log_error("broker: high-water marks must be positive (hwm %d, read_ahead %d, "
			  "worker_queue %d)", o->hwm, o->read_ahead, o->worker_queue);
		return -1;
	}
	ctx = zmq_ctx_new();
	if (ctx == NULL) {
		log_error("broker: zmq_ctx_new: %s", zmq_strerror(errno));
		return -1;
	}
	front = zmq_socket(ctx, ZMQ_ROUTER);
	back = zmq_socket(ctx, ZMQ_DEALER);
	if (front == NULL || back == NULL || set_opts(front, o->hwm, o->read_ahead, 1) != 0 ||
	    set_opts(back, o->worker_queue, o->hwm, 0) != 0 || listener_tune(front) != 0) {
		log_error("broker: socket setup: %s", zmq_strerror(errno));
		goto out;
	}
	/* Producers prove who they are before any frame of theirs is read;
	 * the handler is in place before the bind (auth.h). */
	if (o->auth != NULL) {
		au = auth_new(ctx, o->auth, err, sizeof(err));
		if (au == NULL || auth_server(au, front, err, sizeof(err)) != 0) {
			log_error("broker: %s", err);
			goto out;
		}
	}
	/* Producers connect to front: say when they cannot (listener.h). */
	watch = listener_watch_new(ctx, front, "broker", err, sizeof(err));
	if (watch == NULL) {
		log_error("%s", err);
		goto out;
	}
	if (zmq_bind(front, o->frontend) != 0) {
		log_error("broker: cannot bind ingest endpoint %s: %s", o->frontend,
			  zmq_strerror(errno));
		goto out;
	}
	for (int i = 0; i < o->n_backends; i++)
		if (zmq_connect(back, o->backends[i]) != 0) {
			log_error("broker: cannot connect to worker endpoint %s: %s", o->backends[i],
				  zmq_strerror(errno));
			goto out;
		}
	log_info("broker: ingest endpoint %s (%s)", o->frontend,
		 au != NULL ? "CURVE, producers by their keys"
			    : "no CURVE: anyone who reaches it publishes");

	while (!*stop) {
		int intake = !*pause_intake;

		if (*reload) {
			*reload = 0;
			if (au != NULL) {
				long n = auth_reload(au, err, sizeof(err));

				if (n < 0)
					log_error("broker: producer keys not read again, the %s stay: "
						  "%s", "keys in force", err);
				else
					log_info("broker: producer keys read again: %ld allowed", n);
			}
		}
		/* With a request held, wait for room in the backend; else for
		 * requests (and always for acks). */
		zmq_pollitem_t items[2] = {
			{ back, 0, ZMQ_POLLIN | (intake && req.has ? ZMQ_POLLOUT : 0), 0 },
			{ front, 0, ZMQ_POLLIN, 0 },
		};
		int rc = zmq_poll(items, intake && !req.has ? 2 : 1, BROKER_POLL_MS);
		int poll_errno = errno; /* the watch's reads below set errno */

		listener_watch_read(watch); /* every turn: a full monitor queue stalls ZeroMQ */
		if (rc < 0) {
			/* A signal (pause, resume, stop) ends the wait: the loop
			 * reads the flags again. */
			if (poll_errno == EINTR)
				continue;
			log_error("broker: poll: %s", zmq_strerror(poll_errno));
			goto out;
		}
		for (int i = 0; i < BROKER_BURST; i++) {
			rc = move_one(back, front, &ack);
			if (rc == 0)
				break;
			if (rc < 0 && errno != EHOSTUNREACH)
				log_warn("broker: ack not forwarded: %s", zmq_strerror(errno));
		}
		for (int i = 0; i < BROKER_BURST && !*pause_intake; i++) {
			rc = move_one(front, back, &req);
			if (rc == 0)
				break;
			if (rc < 0)
				log_warn("broker: request not forwarded: %s", zmq_strerror(errno));
		}
	}
	ret = 0;
out:
	/* A request held at a stop was never acked: its producer resends it. */
	if (req.has)
		zmq_msg_close(&req.first);
	if (ack.has)
		zmq_msg_close(&ack.first);
	listener_watch_destroy(&watch); /* before front (listener.h) */
	if (front != NULL)
		zmq_close(front);
	if (back != NULL)
		zmq_close(back);
	auth_destroy(&au); /* after front, before the context (auth.h) */
	zmq_ctx_term(ctx);
	return ret;
}
