/*
 * listener: bounds and a watch for the socket producers connect to (see
 * listener.h).
 *
 * DESIGN
 *
 * The watch is a PAIR socket connected to the inproc endpoint on which
 * zmq_socket_monitor() publishes the socket's events (version 1: a first
 * frame of 6 bytes, the event as uint16 and its value as uint32, in host
 * order; a second frame, the endpoint).  listener_watch_read() drains it
 * without blocking and counts the events by kind; a kind's count is logged
 * when the kind's last line is LISTENER_LOG_MS old (so the first event after
 * a quiet spell is logged at once) and then starts again from zero.
 */
#include "worker/listener.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#define WATCH_EVENTS                                                                   \
	(ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |              \
	 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
#define WATCH_EVENT_BYTES 6 /* uint16 event, uint32 value */
#define WATCH_READ_MAX 2048 /* events read a call at most (the monitor's queue holds ~2,000) */

/* Events of one kind since its last line. */
struct tally {
	uint64_t n;             /* events counted */
	int last_errno;         /* the value of the last one (accept: its errno) */
	int64_t logged_ms;      /* monotonic time of the last line (0: never) */
};

struct listener_watch {
	void *pair;             /* reads the monitor's events */
	const char *who;        /* "ingest", "broker" (borrowed) */
	struct tally accept;    /* ZMQ_EVENT_ACCEPT_FAILED */
	struct tally handshake; /* ZMQ_EVENT_HANDSHAKE_FAILED_* */
};

int listener_tune(void *sock)
{
	int handshake = LISTENER_HANDSHAKE_MS;
	int on = 1;
	int idle = LISTENER_KEEPALIVE_IDLE_S;
	int intvl = LISTENER_KEEPALIVE_INTVL_S;
	int cnt = LISTENER_KEEPALIVE_CNT;

	if (zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &handshake, sizeof(handshake)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE, &on, sizeof(on)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_IDLE, &idle, sizeof(idle)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_INTVL, &intvl, sizeof(intvl)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_CNT, &cnt, sizeof(cnt)) != 0)
		return -1;
	return 0;
}

listener_watch *listener_watch_new(void *ctx, void *sock, const char *who, char *err,
				   size_t errlen)
{
	listener_watch *w = xcalloc(1, sizeof(*w));
	char endpoint[64];
	int linger = 0;

	w->who = who;
	/* One monitor endpoint per socket: the name only has to be unique in
	 * the socket's context. */
	snprintf(endpoint, sizeof(endpoint), "inproc://listener-watch-%p", sock);
	if (zmq_socket_monitor(sock, endpoint, WATCH_EVENTS) != 0) {
		snprintf(err, errlen, "%s: monitor: %s", who, zmq_strerror(errno));
		goto fail;
	}
	/* Connected at once: until a reader is there, an event waits in
	 * ZeroMQ's I/O thread. */
	w->pair = zmq_socket(ctx, ZMQ_PAIR);
	if (w->pair == NULL || zmq_setsockopt(w->pair, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_connect(w->pair, endpoint) != 0) {
		snprintf(err, errlen, "%s: monitor reader: %s", who, zmq_strerror(errno));
		/* Not bound yet (listener.h): no event can be waiting, so
		 * stopping the monitor cannot block. */
		(void)zmq_socket_monitor(sock, NULL, 0);
		goto fail;
	}
	return w;
fail:
	listener_watch_destroy(&w);
	return NULL;
}

void listener_watch_destroy(listener_watch **wp)
{
	if (wp == NULL || *wp == NULL)
		return;
	if ((*wp)->pair != NULL)
		zmq_close((*wp)->pair);
	free(*wp);
	*wp = NULL;
}

/* The soft descriptor limit, as text ("1024", "unlimited"). */
static const char *fd_limit(char *buf, size_t len)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		snprintf(buf, len, "unknown");
	else if (rl.rlim_cur == RLIM_INFINITY)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llu", (unsigned long long)rl.rlim_cur);
	return buf;
}

/* Log t's events if any and its last line is old enough. */
static void report(listener_watch *w, struct tally *t, int64_t now)
{
	char lim[32];

	if (t->n == 0 || (t->logged_ms != 0 && now - t->logged_ms < LISTENER_LOG_MS))
		return;
	if (t == &w->accept)
		log_warn("%s: cannot accept a connection: %s (descriptor limit %s; %llu attempt%s "
			 "failed since the last report)",
			 w->who, strerror(t->last_errno), fd_limit(lim, sizeof(lim)),
			 (unsigned long long)t->n, t->n == 1 ? "" : "s");
	else
		log_info("%s: closed %llu connection%s before the ZeroMQ handshake completed "
			 "(a peer must finish it within %d ms, with the pool's security: CURVE "
			 "or none)",
			 w->who, (unsigned long long)t->n, t->n == 1 ? "" : "s",
			 LISTENER_HANDSHAKE_MS);
	t->n = 0;
	t->logged_ms = now;
}

void listener_watch_read(listener_watch *w)
{
	if (w == NULL)
		return;
	/* At most a queue's worth a call: at the descriptor limit the I/O
	 * thread refills the queue as fast as this reads it, and reading until
	 * it is empty could keep the loop here for good. */
	for (int i = 0; i < WATCH_READ_MAX; i++) {
		zmq_msg_t ev;
		uint16_t event;
		uint32_t value;
		int more;

		if (zmq_msg_init(&ev) != 0)
			break;
		if (zmq_msg_recv(&ev, w->pair, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			break; /* EAGAIN: nothing more (or the context is ending) */
		}
		if (zmq_msg_size(&ev) == WATCH_EVENT_BYTES) {
			const unsigned char *d = zmq_msg_data(&ev);

			memcpy(&event, d, sizeof(event));
			memcpy(&value, d + sizeof(event), sizeof(value));
			struct tally *t = event == ZMQ_EVENT_ACCEPT_FAILED ? &w->accept : &w->handshake;
			t->n++;
			t->last_errno = (int)value;
		}
		/* The endpoint frame: read and dropped (a whole message arrives
		 * at once, so this does not wait). */
		more = zmq_msg_more(&ev);
		zmq_msg_close(&ev);
		while (more) {
			if (zmq_msg_init(&ev) != 0 || zmq_msg_recv(&ev, w->pair, 0) < 0) {
				zmq_msg_close(&ev);
				break;
			}
			more = zmq_msg_more(&ev);
			zmq_msg_close(&ev);
		}
	}
	int64_t now = clock_mono_ms();

	report(w, &w->accept, now);
	report(w, &w->handshake, now);
}
