/*
 * broker: ROUTER (producers) <-> DEALER (workers), see broker.h.
 *
 * Why not zmq_proxy(): it blocks in zmq_send when every worker is at its
 * high-water mark, and then cannot carry acks back, and it cannot watch our
 * signal flags.  This loop reads a producer's request only when the backend
 * reports room (ZMQ_EVENTS & ZMQ_POLLOUT), so a send never blocks, and acks
 * are always drained.
 */
#include "worker/broker.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"

#define BROKER_POLL_MS 100
#define BROKER_BURST 4096   /* messages moved per direction per round */
#define BROKER_LINGER_MS 2000

/* Move one whole multipart message from src to dst.  Returns 1 moved, 0
 * nothing waiting, -1 error. */
static int move_one(void *src, void *dst)
{
	zmq_msg_t part;
	int more;

	if (zmq_msg_init(&part) != 0)
		return -1;
	if (zmq_msg_recv(&part, src, ZMQ_DONTWAIT) < 0) {
		int e = errno;

		zmq_msg_close(&part);
		return e == EAGAIN ? 0 : -1;
	}
	for (;;) {
		more = zmq_msg_more(&part);
		/* The rest of a multipart message is already here: ZeroMQ delivers
		 * messages atomically. */
		if (zmq_msg_send(&part, dst, more ? ZMQ_SNDMORE : 0) < 0) {
			zmq_msg_close(&part);
			if (!more)
				return -1;
			/* Drain the rest so the next read starts on a boundary. */
			while (zmq_msg_init(&part) == 0 && zmq_msg_recv(&part, src, 0) >= 0) {
				more = zmq_msg_more(&part);
				zmq_msg_close(&part);
				if (!more)
					break;
			}
			return -1;
		}
		if (!more)
			return 1;
		if (zmq_msg_init(&part) != 0 || zmq_msg_recv(&part, src, 0) < 0) {
			zmq_msg_close(&part);
			return -1;
		}
	}
}

static int can_send(void *sock)
{
	int events = 0;
	size_t len = sizeof(events);

	if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) != 0)
		return 0;
	return (events & ZMQ_POLLOUT) != 0;
}

static int set_opts(void *sock, int hwm, int is_frontend)
{
	int linger = BROKER_LINGER_MS;
	int64_t maxmsg = BROKER_MAX_FRAME_BYTES;
	int rc = 0;

	/* Linger: acks already handed to ZeroMQ get a moment to leave at exit. */
	rc |= zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	/* HWMs bound the memory held for slow peers; past them the broker stops
	 * reading and producers feel backpressure. */
	rc |= zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	rc |= zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if (is_frontend)
		rc |= zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	return rc;
}

int broker_run(const struct broker_opts *o, volatile sig_atomic_t *pause_intake,
	       volatile sig_atomic_t *stop)
{
	void *ctx = zmq_ctx_new();
	void *front = NULL, *back = NULL;
	int ret = -1;

	if (ctx == NULL) {
		log_error("broker: zmq_ctx_new: %s", zmq_strerror(errno));
		return -1;
	}
	front = zmq_socket(ctx, ZMQ_ROUTER);
	back = zmq_socket(ctx, ZMQ_DEALER);
	if (front == NULL || back == NULL || set_opts(front, o->hwm, 1) != 0 ||
	    set_opts(back, o->hwm, 0) != 0) {
		log_error("broker: socket setup: %s", zmq_strerror(errno));
		goto out;
	}
	if (zmq_bind(front, o->frontend) != 0) {
		log_error("broker: cannot bind ingest endpoint %s: %s", o->frontend,
			  zmq_strerror(errno));
		goto out;
	}
	if (zmq_bind(back, o->backend) != 0) {
		log_error("broker: cannot bind backend %s: %s", o->backend, zmq_strerror(errno));
		goto out;
	}
	log_info("broker: ingest endpoint %s", o->frontend);

	while (!*stop) {
		zmq_pollitem_t items[2] = {
			{ back, 0, ZMQ_POLLIN, 0 },
			{ front, 0, ZMQ_POLLIN, 0 },
		};
		int intake = !*pause_intake && can_send(back);
		int rc = zmq_poll(items, intake ? 2 : 1, BROKER_POLL_MS);

		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_error("broker: poll: %s", zmq_strerror(errno));
			goto out;
		}
		for (int i = 0; i < BROKER_BURST; i++) {
			rc = move_one(back, front);
			if (rc == 0)
				break;
			if (rc < 0 && errno != EHOSTUNREACH)
				log_warn("broker: ack not forwarded: %s", zmq_strerror(errno));
		}
		for (int i = 0; intake && i < BROKER_BURST && !*pause_intake; i++) {
			if (!can_send(back))
				break;
			rc = move_one(front, back);
			if (rc == 0)
				break;
			if (rc < 0)
				log_warn("broker: request not forwarded: %s", zmq_strerror(errno));
		}
	}
	ret = 0;
out:
	if (front != NULL)
		zmq_close(front);
	if (back != NULL)
		zmq_close(back);
	zmq_ctx_term(ctx);
	return ret;
}
