/*
 * ingest: group-committed intake of booking events (see ingest.h).
 *
 * DESIGN
 *
 * A batch is an array of requests, each holding the frames it came with
 * (zero-copy zmq_msg_t), its unpacked event and its ack.  Lifecycle:
 *   read frames -> check -> (bad: ack REJECTED with the batch; a check
 *   that could not be made now: RETRY_LATER, temporary) or (good: to
 *   store) -> store_ingest(all good ones) -> ACCEPTED/DUPLICATE, or
 *   RETRY_LATER for all of them if the commit failed -> send every ack ->
 *   free the batch.
 * Nothing is acked before store_ingest() returned STORE_OK, which means
 * committed and synced.
 *
 * Pipeline: two batches.  A committer thread runs store_ingest() on one
 * (on its own handle, store_share()) while this thread reads and prepares
 * the next, so the commit's writes and sync overlap the next batch's
 * decoding, checks and rendering instead of following them.  The thread
 * only runs the store call: the socket, the preparer
 * and the acks stay on this thread.  It says "done" through an eventfd this
 * thread polls (ingest_fd()).  Batches commit in the order they were read,
 * so a duplicate in the next batch of a key in this one is still seen.
 * Memory is bounded by 2 * batch_max * max_event_bytes, plus what waits
 * in the socket: when this worker binds the endpoint, up to
 * INGEST_READ_AHEAD requests per producer connection (ZMQ_RCVHWM; the rest
 * waits on the producer's side; broker.h says why 128); behind the broker,
 * up to batch_max from the broker (which holds the rest the same way).
 * Rendered texts are packed in their batch's buffer, so only the bytes
 * they take are touched, not a fixed slot of 2 KiB each (2 * 2048 such
 * slots would keep 8 MiB resident).
 */
#include "worker/ingest.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "worker/broker.h"
#include "worker/listener.h"
#include "text/validate.h"

#define INGEST_LINGER_MS 2000
#define ACK_BUF_MAX 1024
/* Rejection lines written a second at most (per process): a producer can
 * send bad events as fast as it likes, the log takes a sample of them and
 * a count of the rest, by reason. */
#define INGEST_REJECT_LINES_PER_S 20
#define INGEST_REJECT_WINDOW_MS 1000 /* the second they are counted in */
#define INGEST_REASON_SLOTS 32      /* reasons counted apart (Smsq__Reason
				       values are below; a larger one goes in
				       the last slot) */
#define INGEST_LOG_DETAIL_MAX 160   /* an ack's detail as logged, bytes */
#define INGEST_FAIL_WINDOW_MS 1000  /* a batch the store refused is logged once in this */

struct request {
	zmq_msg_t frames[INGEST_MAX_FRAMES]; /* as received (only n_frames valid) */
	size_t n_frames;                      /* frames kept */
	size_t n_envelope;                    /* routing frames incl. the empty one */
	int had_delimiter;                    /* an empty frame ended the envelope */
	Smsq__BookingEvent *ev;               /* unpacked event, or NULL */
	Smsq__AckStatus status;               /* ack to send */
	Smsq__Reason reason;                  /* its reason */
	char detail[256];                     /* its human message */
	uint64_t message_id;                  /* store id for accepted/duplicate */
	size_t store_idx;                     /* index in the store batch */
	int64_t recv_ns;                      /* when its first frame was read (mono) */
};

struct batch {
	struct request *reqs;          /* batch_max slots */
	struct store_new *items;       /* batch_max slots for store_ingest */
	char *texts;                   /* rendered or smart-encoded texts, packed one
					  after the other: batch_max * text_slot bytes,
					  of which only what they use is ever touched */
	size_t text_used;              /* bytes of texts taken */
	size_t n;                      /* requests read */
	size_t n_store;                /* of them to store (items used) */
	int64_t now_ms;                /* wall clock when its first request was read */
	int64_t commit_ns;             /* how long store_ingest() took */
	int rc;                        /* store_ingest()'s answer; STORE_ERROR until then */
	char err[256];                 /* its message when not STORE_OK */
};

struct ingest {
	void *ctx;                     /* own ZeroMQ context (one per process) */
	void *sock;                    /* DEALER connected to the broker, or ROUTER bound */
	listener_watch *watch;         /* the bound ROUTER's accept failures, or NULL */
	auth *auth;                    /* the bound ROUTER's ZAP handler, or NULL */
	int intake_stopped;            /* ingest_stop_intake() on a bound socket */
	store *st;                     /* the committer's handle (store_share()) */
	preparer *prep;                /* checks, number, text, segments */
	struct ingest_opts o;          /* copied options */
	struct batch b[2];             /* the pipeline */
	struct batch *fill;            /* being read */
	struct batch *committing;      /* with the committer, or NULL */
	size_t text_slot;              /* bytes per text slot */
	struct ingest_counts counts;   /* since start */
	int efd;                       /* eventfd: the committer finished a batch */
	pthread_t thread;              /* the committer */
	int have_thread;               /* started */
	pthread_mutex_t mu;            /* guards the three below */
	pthread_cond_t cv;             /* signals them */
	int todo;                      /* committing waits for the committer */
	int done;                      /* the committer finished it */
	int quit;                      /* the committer should stop */
	struct log_limit reject_limit; /* rejection lines a second */
	struct log_limit fail_limit;   /* "not stored" lines (a full disk: every batch) */
	struct log_limit temp_limit;   /* "retry_later reason=temporary" lines */
	struct log_limit ack_limit;    /* "acks dropped" lines */
	uint64_t fail_events;          /* events those suppressed lines answered */
	unsigned long reject_suppressed[INGEST_REASON_SLOTS]; /* held back by
					  reject_limit, by reason, not yet said */
};

static void report_suppressed(ingest *in, int64_t now_ms);

/* ---- velocity ------------------------------------------------------------
 *
 * The velocity limits are checked by the store, inside the batch's write
 * transaction, for each event whose key is new (store_set_admit()): a resend
 * of a stored event stays a duplicate, and LMDB's one writer at a time makes
 * the counts of every ingesting process exact.  A refused event gets its own
 * reason (velocity_number, _range, _country) and a detail naming the limit,
 * never the number. */

/* m's destination, NUL-terminated, into buf (at least STORE_TO_MAX + 1). */
static const char *dest(const struct store_new *m, char *buf)
{
	size_t n = m->to_len <= STORE_TO_MAX ? m->to_len : STORE_TO_MAX;

	memcpy(buf, m->to, n);
	buf[n] = '\0';
	return buf;
}

static int admit_velocity(void *arg, const struct store_new *m, int64_t now_ms)
{
	char to[STORE_TO_MAX + 1];

	return (int)velocity_admit(arg, dest(m, to), m->region, now_ms);
}

static void undo_velocity(void *arg, const struct store_new *m, int64_t now_ms)
{
	char to[STORE_TO_MAX + 1];

	velocity_undo(arg, dest(m, to), m->region, now_ms);
}

/* What a held message's note calls its limit. */
static const char *hold_name(int code)
{
	static const char *const names[VELOCITY_LIMIT_COUNT] = {
		"velocity", "velocity.number_per_hour", "velocity.number_per_day",
		"velocity.range_per_minute", "velocity.range_per_hour",
		"velocity.country_per_minute",
	};

	return code >= 0 && code < VELOCITY_LIMIT_COUNT ? names[code] : "velocity";
}

/* The ack of an event over limit l: refused, or (held) stored held. */
static void refuse_velocity(const ingest *in, struct request *r, enum velocity_limit l, int held)
{
	static const char *const what[VELOCITY_LIMIT_COUNT] = {
		"", "this number in an hour", "this number in a day",
		"this number's range in a minute", "this number's range in an hour",
		"this number's country in a minute",
	};

	r->status = held ? SMSQ__ACK_STATUS__ACK_ACCEPTED : SMSQ__ACK_STATUS__ACK_REJECTED;
	r->reason = l <= VELOCITY_NUMBER_DAY	 ? SMSQ__REASON__REASON_VELOCITY_NUMBER
		    : l <= VELOCITY_RANGE_HOUR ? SMSQ__REASON__REASON_VELOCITY_RANGE
					       : SMSQ__REASON__REASON_VELOCITY_COUNTRY;
	snprintf(r->detail, sizeof(r->detail),
		 "velocity.%s: %u messages to %s is the most the pool sends (SMS pumping "
		 "protection); %s", velocity_limit_name(l),
		 velocity_limit_value(in->o.velocity, l),
		 (unsigned)l < VELOCITY_LIMIT_COUNT ? what[l] : "?",
		 held ? "stored held: not sent unless an operator releases it" : "nothing stored");
}

/* Empty b; it counts as not stored until a committer says otherwise. */
static void batch_clear(struct batch *b)
{
	b->n = 0;
	b->n_store = 0;
	b->text_used = 0;
	b->rc = STORE_ERROR;
	snprintf(b->err, sizeof(b->err), "not stored");
}

/* The committer: store each batch handed over, say done.  Touches only
 * the batch, its own store handle and the fields under mu. */
static void *committer(void *arg)
{
	ingest *in = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&in->mu);
	for (;;) {
		while (!in->todo && !in->quit)
			pthread_cond_wait(&in->cv, &in->mu);
		if (!in->todo)
			break;
		struct batch *b = in->committing;
		pthread_mutex_unlock(&in->mu);
		int64_t t0 = clock_mono_ns();

		b->rc = store_ingest(in->st, b->items, b->n_store, b->now_ms);
		b->commit_ns = clock_mono_ns() - t0;
		if (b->rc != STORE_OK)
			snprintf(b->err, sizeof(b->err), "%s", store_errmsg(in->st));
		pthread_mutex_lock(&in->mu);
		in->todo = 0;
		in->done = 1;
		pthread_cond_broadcast(&in->cv);
		/* Cannot fail short of a counter at its maximum: the poller
		 * reads it back to 0 every time. */
		(void)!write(in->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&in->mu);
	return NULL;
}

/* Start the committer with every signal blocked: they are the main
 * thread's.  Returns 0, or an errno. */
static int start_committer(ingest *in)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&in->thread, NULL, committer, in);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	in->have_thread = rc == 0;
	return rc;
}

ingest *ingest_new(const struct ingest_opts *o, store *st, char *err, size_t errlen)
{
	ingest *in = xcalloc(1, sizeof(*in));
	int linger = INGEST_LINGER_MS;
	int ack_wait = INGEST_ACK_WAIT_MS;
	int64_t maxmsg = BROKER_MAX_FRAME_BYTES;
	/* The socket's receive queue is the pool's memory for what producers
	 * sent ahead.  Bound: INGEST_READ_AHEAD per producer connection; beyond,
	 * requests wait on the producer's side (its send queue, TCP).  Behind
	 * the broker: a batch's worth (the broker holds the rest). */
	size_t ahead = o->router && INGEST_READ_AHEAD < o->batch_max ? INGEST_READ_AHEAD : o->batch_max;
	int rcvhwm = ahead < (size_t)o->hwm ? (int)ahead : o->hwm;
	int rc;

	in->o = *o;
	in->efd = -1;
	in->reject_limit = (struct log_limit)LOG_LIMIT_INIT(INGEST_REJECT_LINES_PER_S,
							   INGEST_REJECT_WINDOW_MS);
	in->fail_limit = (struct log_limit)LOG_LIMIT_INIT(1, INGEST_FAIL_WINDOW_MS);
	in->temp_limit = (struct log_limit)LOG_LIMIT_INIT(1, INGEST_FAIL_WINDOW_MS);
	in->ack_limit = (struct log_limit)LOG_LIMIT_INIT(1, INGEST_FAIL_WINDOW_MS);
	in->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER; /* no call that can fail */
	in->cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	/* The socket first: a bind that fails (the port held) is tried again
	 * every second by the worker, and should cost nothing else. */
	in->ctx = zmq_ctx_new();
	if (in->ctx == NULL) {
		snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		goto fail;
	}
	/* Bound, a ROUTER puts the producer's routing id in front of each
	 * request, as the broker's does: the same frames either way. */
	in->sock = zmq_socket(in->ctx, o->router ? ZMQ_ROUTER : ZMQ_DEALER);
	if (in->sock == NULL ||
	    zmq_setsockopt(in->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(in->sock, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) != 0 ||
	    zmq_setsockopt(in->sock, ZMQ_SNDHWM, &o->hwm, sizeof(o->hwm)) != 0 ||
	    (o->router && zmq_setsockopt(in->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0) ||
	    /* A ROUTER drops what it cannot route; a DEALER with no broker
	     * connected (it died, it restarts) would block for good. */
	    (!o->router && zmq_setsockopt(in->sock, ZMQ_SNDTIMEO, &ack_wait, sizeof(ack_wait)) != 0) ||
	    (o->router && listener_tune(in->sock) != 0)) {
		snprintf(err, errlen, "ingest socket: %s", zmq_strerror(errno));
		goto fail;
	}
	/* Producers prove who they are before any frame of theirs is read;
	 * the handler is in place before the bind (auth.h). */
	if (o->router && o->auth != NULL) {
		in->auth = auth_new(in->ctx, o->auth, err, errlen);
		if (in->auth == NULL || auth_server(in->auth, in->sock, err, errlen) != 0)
			goto fail;
	}
	/* Producers connect here: say when they cannot (listener.h). */
	if (o->router) {
		in->watch = listener_watch_new(in->ctx, in->sock, "ingest", err, errlen);
		if (in->watch == NULL)
			goto fail;
	}
	if (zmq_bind(in->sock, o->endpoint) != 0) {
		snprintf(err, errlen, "cannot bind %s: %s", o->endpoint, zmq_strerror(errno));
		goto fail;
	}
	in->prep = preparer_new(o->text, err, errlen);
	if (in->prep == NULL)
		goto fail;
	prepare_warm(in->prep, o->text->default_locale); /* ~20 ms: not on the first batch */
	in->text_slot = prepare_text_cap(in->prep);
	for (size_t i = 0; i < 2; i++) {
		in->b[i].reqs = xcalloc(o->batch_max, sizeof(*in->b[i].reqs));
		in->b[i].items = xcalloc(o->batch_max, sizeof(*in->b[i].items));
		in->b[i].texts = xmalloc(o->batch_max * in->text_slot);
		batch_clear(&in->b[i]);
	}
	in->fill = &in->b[0];
	in->st = store_share(st, err, errlen);
	if (in->st == NULL)
		goto fail;
	if (velocity_ingest_on(o->velocity)) {
		struct store_admit a = { admit_velocity, undo_velocity, o->velocity, o->velocity_hold,
					 hold_name };

		store_set_admit(in->st, &a);
	}
	in->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (in->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = start_committer(in);
	if (rc != 0) {
		snprintf(err, errlen, "start the committer thread: %s", strerror(rc));
		goto fail;
	}
	if (o->router)
		log_info("ingest endpoint %s (bound here: the pool's only ingesting worker; %s)",
			 o->endpoint, o->auth != NULL ? "CURVE, producers by their keys"
						      : "no CURVE: anyone who reaches it publishes");
	return in;
fail:
	ingest_destroy(&in);
	return NULL;
}

void ingest_destroy(ingest **inp)
{
	ingest *in;

	if (inp == NULL || *inp == NULL)
		return;
	in = *inp;
	if (in->have_thread) {
		/* A batch with the committer is stored or not, and answered,
		 * before the socket closes; one still being read was never
		 * handed over: RETRY_LATER. */
		ingest_flush(in);
		pthread_mutex_lock(&in->mu);
		in->quit = 1;
		pthread_cond_broadcast(&in->cv);
		pthread_mutex_unlock(&in->mu);
		pthread_join(in->thread, NULL);
	}
	report_suppressed(in, INT64_MAX); /* the last window's count: it ends here */
	listener_watch_destroy(&in->watch); /* before the socket (listener.h) */
	if (in->sock != NULL)
		zmq_close(in->sock);
	auth_destroy(&in->auth); /* after the socket, before the context (auth.h) */
	if (in->ctx != NULL)
		zmq_ctx_term(in->ctx);
	if (in->efd >= 0)
		close(in->efd);
	store_close(&in->st);
	preparer_destroy(&in->prep);
	for (size_t i = 0; i < 2; i++) {
		free(in->b[i].reqs);
		free(in->b[i].items);
		free(in->b[i].texts);
	}
	pthread_cond_destroy(&in->cv);
	pthread_mutex_destroy(&in->mu);
	free(in);
	*inp = NULL;
}

void *ingest_socket(ingest *in)
{
	return in->sock;
}

int ingest_fd(ingest *in)
{
	return in->efd;
}

int ingest_wants_input(const ingest *in)
{
	return !in->intake_stopped && in->fill->n < in->o.batch_max;
}

void ingest_stop_intake(ingest *in)
{
	in->intake_stopped = in->o.router;
}

int ingest_idle(const ingest *in)
{
	return in->committing == NULL && in->fill->n == 0;
}

void ingest_get_counts(const ingest *in, struct ingest_counts *out)
{
	*out = in->counts;
}

static void reject(struct request *r, Smsq__Reason reason, const char *detail)
{
	r->status = SMSQ__ACK_STATUS__ACK_REJECTED;
	r->reason = reason;
	snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

/* Read one whole request into r.  Returns 1 read, 0 nothing waiting, -1
 * socket error. */
static int read_request(ingest *in, struct request *r)
{
	zmq_msg_t part;
	size_t dropped = 0;
	int more = 1;

	r->n_frames = 0;
	r->n_envelope = 0;
	r->had_delimiter = 0;
	r->ev = NULL;
	r->status = SMSQ__ACK_STATUS__ACK_UNSPECIFIED;
	r->reason = SMSQ__REASON__REASON_NONE;
	r->detail[0] = '\0';
	r->message_id = 0;
	while (more) {
		int keep = r->n_frames < INGEST_MAX_FRAMES;
		zmq_msg_t *dst = keep ? &r->frames[r->n_frames] : &part;
		int first = r->n_frames == 0 && dropped == 0;

		if (zmq_msg_init(dst) != 0)
			goto fail;
		if (zmq_msg_recv(dst, in->sock, first ? ZMQ_DONTWAIT : 0) < 0) {
			int e = errno;

			zmq_msg_close(dst);
			if (first && (e == EAGAIN || e == EINTR))
				return 0;
			errno = e;
			goto fail;
		}
		if (first)
			r->recv_ns = clock_mono_ns();
		more = zmq_msg_more(dst);
		if (keep) {
			r->n_frames++;
		} else {
			zmq_msg_close(dst);
			dropped++;
		}
	}
	/* Envelope: up to and including the first empty frame.  Without one,
	 * only the routing id the broker added can be trusted as envelope. */
	for (size_t i = 0; i < r->n_frames; i++) {
		if (zmq_msg_size(&r->frames[i]) == 0) {
			r->n_envelope = i + 1;
			r->had_delimiter = 1;
			break;
		}
	}
	if (!r->had_delimiter)
		r->n_envelope = r->n_frames > 0 ? 1 : 0;

	size_t body = r->n_frames - r->n_envelope;
	if (dropped > 0 || !r->had_delimiter || body != 2) {
		reject(r, SMSQ__REASON__REASON_BAD_FRAMES,
		       "a request is [empty][request id][event]: 3 frames after the routing id");
		return 1;
	}
	size_t id_len = zmq_msg_size(&r->frames[r->n_envelope]);
	if (id_len == 0 || id_len > INGEST_REQ_ID_MAX) {
		reject(r, SMSQ__REASON__REASON_BAD_FRAMES, "request id must be 1 to 64 bytes");
		return 1;
	}
	zmq_msg_t *evf = &r->frames[r->n_envelope + 1];
	if (zmq_msg_size(evf) > in->o.max_event_bytes) {
		char d[128];

		snprintf(d, sizeof(d), "event is %zu bytes, over the limit of %zu",
			 zmq_msg_size(evf), in->o.max_event_bytes);
		reject(r, SMSQ__REASON__REASON_OVERSIZE, d);
		return 1;
	}
	Smsq__Reason why = validate_wire(zmq_msg_data(evf), zmq_msg_size(evf), r->detail,
					 sizeof(r->detail));
	if (why != SMSQ__REASON__REASON_NONE) {
		r->status = SMSQ__ACK_STATUS__ACK_REJECTED;
		r->reason = why;
		return 1;
	}
	r->ev = smsq__booking_event__unpack(NULL, zmq_msg_size(evf), zmq_msg_data(evf));
	if (r->ev == NULL)
		reject(r, SMSQ__REASON__REASON_UNDECODABLE, "event frame is not a protobuf BookingEvent");
	return 1;
fail:
	for (size_t i = 0; i < r->n_frames; i++)
		zmq_msg_close(&r->frames[i]);
	r->n_frames = 0;
	return -1;
}

/* Send r's ack: envelope, request id (or empty), packed Ack. */
static int send_ack(ingest *in, struct request *r)
{
	Smsq__Ack ack = SMSQ__ACK__INIT;
	uint8_t buf[ACK_BUF_MAX];
	size_t len;
	size_t i;
	int rc = 0;

	ack.status = r->status;
	ack.reason = r->reason;
	/* The Ack's strings are proto3 strings: a producer's decoder refuses
	 * one that is not UTF-8, and the producer takes that ack for no reply
	 * and resends for ever.  The key is echoed only when it is UTF-8 (one
	 * that is not printable ASCII was rejected by validate_event()); the
	 * detail is made UTF-8 (snprintf() may have cut it inside a character). */
	(void)utf8_repair(r->detail);
	ack.detail = r->detail;
	ack.idempotency_key = r->ev != NULL && utf8_valid(r->ev->idempotency_key,
							  strlen(r->ev->idempotency_key))
				      ? r->ev->idempotency_key
				      : (char *)"";
	ack.message_id = r->message_id;
	if (r->status == SMSQ__ACK_STATUS__ACK_RETRY_LATER)
		ack.retry_after_ms = INGEST_RETRY_AFTER_MS;
	if (smsq__ack__get_packed_size(&ack) > sizeof(buf)) {
		ack.idempotency_key = (char *)"";
		ack.detail = (char *)"";
	}
	len = smsq__ack__pack(&ack, buf);

	for (i = 0; i < r->n_envelope && rc == 0; i++) {
		zmq_msg_t copy;

		if (zmq_msg_init(&copy) != 0 || zmq_msg_copy(&copy, &r->frames[i]) != 0)
			return -1;
		if (zmq_msg_send(&copy, in->sock, ZMQ_SNDMORE) < 0) {
			int e = errno;

			zmq_msg_close(&copy);
			errno = e; /* the caller tells EAGAIN from the rest */
			rc = -1;
		}
	}
	if (!r->had_delimiter && rc == 0)
		rc = zmq_send(in->sock, "", 0, ZMQ_SNDMORE) < 0 ? -1 : 0;
	if (rc == 0) {
		int has_id = r->n_frames > r->n_envelope;
		zmq_msg_t *idf = has_id ? &r->frames[r->n_envelope] : NULL;
		size_t id_len = idf ? zmq_msg_size(idf) : 0;

		if (id_len > INGEST_REQ_ID_MAX)
			id_len = INGEST_REQ_ID_MAX;
		rc = zmq_send(in->sock, idf ? zmq_msg_data(idf) : "", id_len, ZMQ_SNDMORE) < 0 ? -1 : 0;
	}
	if (rc == 0)
		rc = zmq_send(in->sock, buf, len, 0) < 0 ? -1 : 0;
	return rc;
}

static void free_request(struct request *r)
{
	for (size_t i = 0; i < r->n_frames; i++)
		zmq_msg_close(&r->frames[i]);
	r->n_frames = 0;
	smsq__booking_event__free_unpacked(r->ev, NULL);
	r->ev = NULL;
}

/* If the window of in's rejection lines ended by now_ms, say how many
 * lines it held back, by reason. */
static void report_suppressed(ingest *in, int64_t now_ms)
{
	unsigned long n = log_limit_ended(&in->reject_limit, now_ms);
	char by[INGEST_LOG_DETAIL_MAX];
	size_t used = 0;

	if (n == 0)
		return;
	by[0] = '\0';
	for (size_t i = 0; i < INGEST_REASON_SLOTS; i++) {
		if (in->reject_suppressed[i] == 0)
			continue;
		int w = snprintf(by + used, sizeof(by) - used, " %s=%lu",
				 validate_reason_name((Smsq__Reason)i), in->reject_suppressed[i]);
		if (w > 0 && (size_t)w < sizeof(by) - used)
			used += (size_t)w;
		in->reject_suppressed[i] = 0;
	}
	log_info("ingest: %lu rejection lines suppressed (at most %d are written a second):%s", n,
		 INGEST_REJECT_LINES_PER_S, by);
}

/* Log r's rejection (or, accepted with a reason, its hold), its key and
 * detail cut short (log_write() escapes them), unless over the limit of
 * lines a second: then count it. */
static void log_reject(ingest *in, const struct request *r)
{
	char key[LOG_VALUE_MAX], detail[INGEST_LOG_DETAIL_MAX];
	int64_t now;

	if (log_current_level < LOG_LEVEL_INFO)
		return;
	now = clock_mono_ms();
	report_suppressed(in, now);
	if (!log_limit_take(&in->reject_limit, now)) {
		in->reject_suppressed[(size_t)r->reason < INGEST_REASON_SLOTS
					      ? (size_t)r->reason
					      : INGEST_REASON_SLOTS - 1]++;
		return;
	}
	log_info("%s: status=%s reason=%s detail=\"%s\"",
		 r->ev && r->ev->idempotency_key[0]
			 ? log_value(key, sizeof(key), r->ev->idempotency_key)
			 : "-",
		 r->status == SMSQ__ACK_STATUS__ACK_ACCEPTED ? "held" : "rejected",
		 validate_reason_name(r->reason), log_value(detail, sizeof(detail), r->detail));
}

/* Say that r could not be checked now (RETRY_LATER temporary): at most a
 * line a second (out of descriptors, every event that needs one is), with
 * how many were not said since. */
static void log_temporary(ingest *in, const struct request *r)
{
	char key[LOG_VALUE_MAX], detail[INGEST_LOG_DETAIL_MAX];
	int64_t now = clock_mono_ms();
	unsigned long held = log_limit_ended(&in->temp_limit, now);

	if (!log_limit_take(&in->temp_limit, now))
		return;
	log_value(key, sizeof(key), r->ev->idempotency_key);
	log_value(detail, sizeof(detail), r->detail);
	if (held > 0)
		log_warn("%s: status=retry_later reason=%s detail=\"%s\" unsaid_before=%lu", key,
			 validate_reason_name(r->reason), detail, held);
	else
		log_warn("%s: status=retry_later reason=%s detail=\"%s\"", key,
			 validate_reason_name(r->reason), detail);
}

/* Read what waits on the socket into b (up to batch_max), checking and
 * preparing each request.  Returns the number read, or -1 on a socket
 * error (with what was read before it kept in b). */
static int read_batch(ingest *in, struct batch *b, int shutting_down)
{
	int64_t now = clock_wall_ms();
	size_t before = b->n;

	if (in->intake_stopped)
		return 0;
	if (b->n == 0)
		b->now_ms = now; /* the time the store is told (as prepare was) */

	while (b->n < in->o.batch_max) {
		struct request *r = &b->reqs[b->n];
		int rc = read_request(in, r);

		if (rc == 0)
			break;
		if (rc < 0) {
			log_error("ingest: receive: %s", zmq_strerror(errno));
			return -1;
		}
		b->n++;
		if (r->status != SMSQ__ACK_STATUS__ACK_UNSPECIFIED)
			continue;
		if (shutting_down) {
			r->status = SMSQ__ACK_STATUS__ACK_RETRY_LATER;
			r->reason = SMSQ__REASON__REASON_SHUTTING_DOWN;
			snprintf(r->detail, sizeof(r->detail), "the pool is stopping; resend later");
			continue;
		}
		zmq_msg_t *evf = &r->frames[r->n_envelope + 1];
		struct store_new *m = &b->items[b->n_store];
		/* Room for a whole slot is left: each stored text took at most
		 * one, and fewer than batch_max are stored. */
		char *slot = b->texts + b->text_used;
		Smsq__Reason why = prepare_event(in->prep, r->ev, now, m, slot, NULL, r->detail,
						 sizeof(r->detail));
		if (why == SMSQ__REASON__REASON_TEMPORARY) {
			/* No verdict on the event (a check could not be made
			 * now): the producer resends it after retry_after_ms. */
			r->status = SMSQ__ACK_STATUS__ACK_RETRY_LATER;
			r->reason = why;
			log_temporary(in, r);
			continue;
		}
		if (why != SMSQ__REASON__REASON_NONE) {
			r->status = SMSQ__ACK_STATUS__ACK_REJECTED;
			r->reason = why;
			continue; /* its batch slot is reused by the next event */
		}
		m->event = zmq_msg_data(evf);
		m->event_len = zmq_msg_size(evf);
		m->cancel_notice = (uint8_t)in->o.cancel_notice;
		/* (A ready text is not in the slot: it stays in the event.) */
		if ((uintptr_t)m->text - (uintptr_t)slot < in->text_slot)
			b->text_used += (uintptr_t)m->text - (uintptr_t)slot + m->text_len + 1;
		r->store_idx = b->n_store++;
	}
	return (int)(b->n - before);
}

/* Say that b was not stored (its events answered RETRY_LATER): the first
 * such batch of a second with the store's reason, the others of that
 * second counted in the next line (a full disk refuses every batch). */
static void log_store_failure(ingest *in, const struct batch *b)
{
	int64_t now = clock_mono_ms();
	unsigned long held = log_limit_ended(&in->fail_limit, now);

	if (!log_limit_take(&in->fail_limit, now)) {
		in->fail_events += b->n_store;
		return;
	}
	if (held > 0)
		log_error("ingest: batch of %zu not stored, answered retry_later: %s (and %lu more "
			  "batches, %llu events, since the last such line)", b->n_store, b->err, held,
			  (unsigned long long)in->fail_events);
	else
		log_error("ingest: batch of %zu not stored, answered retry_later: %s", b->n_store,
			  b->err);
	in->fail_events = 0;
}

/* The shared counters of a request about to be answered. */
static void count_request(struct counters_data *ctr, const struct request *r)
{
	size_t why = (size_t)r->reason < COUNTERS_REASONS ? (size_t)r->reason : COUNTERS_REASONS - 1;

	if (ctr == NULL)
		return;
	switch (r->status) {
	case SMSQ__ACK_STATUS__ACK_ACCEPTED:
		counters_add(&ctr->accepted, 1);
		if (why != 0)
			counters_add(&ctr->held[why], 1); /* stored held: the limit's reason */
		break;
	case SMSQ__ACK_STATUS__ACK_DUPLICATE:
		counters_add(&ctr->duplicate, 1);
		break;
	case SMSQ__ACK_STATUS__ACK_REJECTED:
		counters_add(&ctr->rejected[why], 1);
		break;
	default:
		counters_add(&ctr->retry_later[why], 1);
		break;
	}
}

/* Answer every request of b (stored by the committer when b->n_store > 0:
 * b->rc says how it went) and empty it.  Returns 0, or -1 when an ack
 * could not be sent. */
static int answer_batch(ingest *in, struct batch *b)
{
	int ret = 0;
	int stuck = 0; /* an ack found no taker: the rest of the batch is dropped */

	struct counters_data *ctr = in->o.counters;

	if (b->n_store > 0) {
		in->counts.commits += b->rc == STORE_OK;
		if (b->rc == STORE_OK)
			counters_observe(ctr ? &ctr->commit_ingest : NULL, b->commit_ns);
		if (b->rc != STORE_OK)
			log_store_failure(in, b);
	}
	for (size_t i = 0; i < b->n; i++) {
		struct request *r = &b->reqs[i];

		if (r->status == SMSQ__ACK_STATUS__ACK_UNSPECIFIED) {
			if (b->rc == STORE_OK) {
				struct store_new *m = &b->items[r->store_idx];

				if (m->result == STORE_INGEST_REFUSED ||
				    m->result == STORE_INGEST_HELD) {
					refuse_velocity(in, r, (enum velocity_limit)m->refused,
							m->result == STORE_INGEST_HELD);
					if (m->result == STORE_INGEST_HELD)
						r->message_id = m->id;
				} else {
					r->status = m->result == STORE_INGEST_ACCEPTED
							    ? SMSQ__ACK_STATUS__ACK_ACCEPTED
							    : SMSQ__ACK_STATUS__ACK_DUPLICATE;
					r->message_id = m->id;
				}
			} else {
				r->status = SMSQ__ACK_STATUS__ACK_RETRY_LATER;
				r->reason = b->rc == STORE_FULL ? SMSQ__REASON__REASON_STORE_FULL
								: SMSQ__REASON__REASON_STORE_ERROR;
				snprintf(r->detail, sizeof(r->detail), "%s", b->err);
			}
		}
		count_request(ctr, r);
		switch (r->status) {
		case SMSQ__ACK_STATUS__ACK_ACCEPTED:
			in->counts.accepted++;
			if (r->reason != 0)
				log_reject(in, r); /* stored held */
			break;
		case SMSQ__ACK_STATUS__ACK_DUPLICATE:
			in->counts.duplicate++;
			log_debug("%s: status=duplicate id=%llu", r->ev->idempotency_key,
				  (unsigned long long)r->message_id);
			break;
		case SMSQ__ACK_STATUS__ACK_REJECTED:
			in->counts.rejected++;
			log_reject(in, r);
			break;
		default:
			in->counts.retry++;
			break;
		}
		if (stuck) {
			in->counts.acks_dropped++;
			counters_add(ctr ? &ctr->acks_dropped : NULL, 1);
		} else if (send_ack(in, r) != 0) {
			if (errno == EAGAIN) {
				/* Nothing took it within INGEST_ACK_WAIT_MS: the rest
				 * of the batch would wait as long each.  Dropped, as
				 * acks to a dead broker are; producers resend. */
				stuck = 1;
				in->counts.acks_dropped++;
				counters_add(ctr ? &ctr->acks_dropped : NULL, 1);
			} else if (ret == 0) {
				log_error("ingest: send ack: %s", zmq_strerror(errno));
				ret = -1;
			}
		} else if (ctr != NULL && r->recv_ns != 0) {
			counters_observe(&ctr->ack, clock_mono_ns() - r->recv_ns);
		}
		free_request(r);
	}
	if (stuck && log_limit_take(&in->ack_limit, clock_mono_ms()))
		log_warn("ingest: acks dropped: no broker took them within %d ms (%llu so far; "
			 "producers resend, and get DUPLICATE for what was stored)",
			 INGEST_ACK_WAIT_MS, (unsigned long long)in->counts.acks_dropped);
	batch_clear(b);
	return ret;
}

/* Hand the filling batch to the committer (which is idle), or answer it at
 * once when it has nothing to store. */
static int submit(ingest *in)
{
	struct batch *b = in->fill;

	if (b->n_store == 0)
		return answer_batch(in, b);
	in->committing = b;
	in->fill = b == &in->b[0] ? &in->b[1] : &in->b[0];
	pthread_mutex_lock(&in->mu);
	in->done = 0;
	in->todo = 1;
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
	return 0;
}

/* Whether the committer finished the batch it has (taking the news);
 * wait for it if asked.  Reads the eventfd back to 0. */
static int committed(ingest *in, int wait)
{
	uint64_t v;
	int done;

	pthread_mutex_lock(&in->mu);
	while (wait && !in->done)
		pthread_cond_wait(&in->cv, &in->mu);
	done = in->done;
	in->done = 0;
	pthread_mutex_unlock(&in->mu);
	if (done)
		(void)!read(in->efd, &v, sizeof(v));
	return done;
}

/* Answer the committed batch, if any (waiting for it when wait is set).
 * Returns the requests answered, or -1. */
static int collect(ingest *in, int wait)
{
	struct batch *b = in->committing;

	if (b == NULL || !committed(in, wait))
		return 0;
	in->committing = NULL;
	int n = (int)b->n;
	return answer_batch(in, b) == 0 ? n : -1;
}

int ingest_process(ingest *in, int shutting_down)
{
	listener_watch_read(in->watch); /* often: a full monitor queue stalls ZeroMQ */
	int answered = collect(in, 0);
	int got = answered < 0 ? 0 : read_batch(in, in->fill, shutting_down);
	int ret = answered < 0 || got < 0 ? -1 : 0;

	if (in->reject_limit.suppressed > 0) /* due even when nothing more comes */
		report_suppressed(in, clock_mono_ms());

	if (in->committing == NULL && in->fill->n > 0 && submit(in) != 0)
		ret = -1;
	if (ret < 0)
		return -1;
	return answered + got;
}

void ingest_flush(ingest *in)
{
	if (collect(in, 1) < 0)
		log_error("ingest: acks of the last batch not all sent");
	if (in->fill->n > 0) {
		/* Never handed over: answer RETRY_LATER, store nothing. */
		struct batch *b = in->fill;

		for (size_t i = 0; i < b->n; i++) {
			struct request *r = &b->reqs[i];

			if (r->status != SMSQ__ACK_STATUS__ACK_UNSPECIFIED)
				continue;
			r->status = SMSQ__ACK_STATUS__ACK_RETRY_LATER;
			r->reason = SMSQ__REASON__REASON_SHUTTING_DOWN;
			snprintf(r->detail, sizeof(r->detail), "the pool is stopping; resend later");
		}
		b->n_store = 0;
		if (answer_batch(in, b) != 0)
			log_error("ingest: acks of the last requests not all sent");
	}
}
