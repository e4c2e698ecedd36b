/*
 * ingest: group-committed intake of booking events (see ingest.h).
 *
 * DESIGN
 *
 * A batch is an array of requests, each holding the frames it came with
 * (zero-copy zmq_msg_t), its unpacked event and its ack.  Lifecycle:
 *   read frames -> check -> (bad: ack REJECTED now-ish) or (good: to store)
 *   store_ingest(all good ones) -> ACCEPTED/DUPLICATE, or RETRY_LATER for
 *   all of them if the commit failed -> send every ack -> free the batch.
 * Nothing is acked before store_ingest() returned STORE_OK, which means
 * committed and synced.  Memory is bounded by batch_max * max_event_bytes.
 */
#include "worker/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "worker/validate.h"

#define INGEST_LINGER_MS 2000
#define ACK_BUF_MAX 1024

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
};

struct ingest {
	void *ctx;                     /* own ZeroMQ context (one per process) */
	void *sock;                    /* DEALER connected to the broker */
	store *st;                     /* borrowed */
	preparer *prep;                /* checks, number, text, segments */
	struct ingest_opts o;          /* copied options */
	struct request *reqs;          /* batch_max slots */
	struct store_new *batch;       /* batch_max slots for store_ingest */
	char *texts;                   /* batch_max slots of text_slot bytes: rendered or
					  smart-encoded texts */
	size_t text_slot;              /* bytes per slot */
	struct ingest_counts counts;   /* since start */
};

ingest *ingest_new(const struct ingest_opts *o, store *st, char *err, size_t errlen)
{
	ingest *in = xcalloc(1, sizeof(*in));
	int linger = INGEST_LINGER_MS;

	in->o = *o;
	in->st = st;
	in->prep = preparer_new(o->cfg, err, errlen);
	if (in->prep == NULL)
		goto fail;
	in->reqs = xcalloc(o->batch_max, sizeof(*in->reqs));
	in->batch = xcalloc(o->batch_max, sizeof(*in->batch));
	in->text_slot = prepare_text_cap(in->prep);
	in->texts = xmalloc(o->batch_max * in->text_slot);
	in->ctx = zmq_ctx_new();
	if (in->ctx == NULL) {
		snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		goto fail;
	}
	in->sock = zmq_socket(in->ctx, ZMQ_DEALER);
	if (in->sock == NULL ||
	    zmq_setsockopt(in->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(in->sock, ZMQ_RCVHWM, &o->hwm, sizeof(o->hwm)) != 0 ||
	    zmq_setsockopt(in->sock, ZMQ_SNDHWM, &o->hwm, sizeof(o->hwm)) != 0) {
		snprintf(err, errlen, "ingest socket: %s", zmq_strerror(errno));
		goto fail;
	}
	if (zmq_connect(in->sock, o->backend) != 0) {
		snprintf(err, errlen, "connect %s: %s", o->backend, zmq_strerror(errno));
		goto fail;
	}
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
	if (in->sock != NULL)
		zmq_close(in->sock);
	if (in->ctx != NULL)
		zmq_ctx_term(in->ctx);
	preparer_destroy(&in->prep);
	free(in->reqs);
	free(in->batch);
	free(in->texts);
	free(in);
	*inp = NULL;
}

void *ingest_socket(ingest *in)
{
	return in->sock;
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
	ack.detail = r->detail;
	ack.idempotency_key = r->ev != NULL ? r->ev->idempotency_key : (char *)"";
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
			zmq_msg_close(&copy);
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

static void log_reject(const struct request *r)
{
	log_info("%s: status=rejected reason=%s detail=\"%s\"",
		 r->ev && r->ev->idempotency_key[0] ? r->ev->idempotency_key : "-",
		 validate_reason_name(r->reason), r->detail);
}

int ingest_process(ingest *in, int shutting_down)
{
	size_t n = 0, n_store = 0;
	int64_t now = clock_wall_ms();
	int ret = 0;

	while (n < in->o.batch_max) {
		struct request *r = &in->reqs[n];
		int rc = read_request(in, r);

		if (rc == 0)
			break;
		if (rc < 0) {
			log_error("ingest: receive: %s", zmq_strerror(errno));
			ret = -1;
			break;
		}
		n++;
		if (r->status != SMSQ__ACK_STATUS__ACK_UNSPECIFIED)
			continue;
		if (shutting_down) {
			r->status = SMSQ__ACK_STATUS__ACK_RETRY_LATER;
			r->reason = SMSQ__REASON__REASON_SHUTTING_DOWN;
			snprintf(r->detail, sizeof(r->detail), "the pool is stopping; resend later");
			continue;
		}
		zmq_msg_t *evf = &r->frames[r->n_envelope + 1];
		struct store_new *m = &in->batch[n_store];
		Smsq__Reason why = prepare_event(in->prep, r->ev, now, m,
						 in->texts + n_store * in->text_slot, NULL,
						 r->detail, sizeof(r->detail));
		if (why != SMSQ__REASON__REASON_NONE) {
			r->status = SMSQ__ACK_STATUS__ACK_REJECTED;
			r->reason = why;
			continue; /* its batch slot is reused by the next event */
		}
		m->event = zmq_msg_data(evf);
		m->event_len = zmq_msg_size(evf);
		r->store_idx = n_store++;
	}
	if (n == 0)
		return ret;

	if (n_store > 0) {
		int rc = store_ingest(in->st, in->batch, n_store, now);

		in->counts.commits += rc == STORE_OK;
		for (size_t i = 0; i < n; i++) {
			struct request *r = &in->reqs[i];

			if (r->status != SMSQ__ACK_STATUS__ACK_UNSPECIFIED)
				continue;
			if (rc == STORE_OK) {
				struct store_new *m = &in->batch[r->store_idx];

				r->status = m->result == STORE_INGEST_ACCEPTED
						    ? SMSQ__ACK_STATUS__ACK_ACCEPTED
						    : SMSQ__ACK_STATUS__ACK_DUPLICATE;
				r->message_id = m->id;
			} else {
				r->status = SMSQ__ACK_STATUS__ACK_RETRY_LATER;
				r->reason = rc == STORE_FULL ? SMSQ__REASON__REASON_STORE_FULL
							     : SMSQ__REASON__REASON_STORE_ERROR;
				snprintf(r->detail, sizeof(r->detail), "%s", store_errmsg(in->st));
			}
		}
		if (rc != STORE_OK)
			log_error("ingest: batch of %zu not stored, answered retry_later: %s",
				  n_store, store_errmsg(in->st));
	}
	/* Only now, after the commit, do the acks leave. */
	for (size_t i = 0; i < n; i++) {
		struct request *r = &in->reqs[i];

		switch (r->status) {
		case SMSQ__ACK_STATUS__ACK_ACCEPTED:
			in->counts.accepted++;
			break;
		case SMSQ__ACK_STATUS__ACK_DUPLICATE:
			in->counts.duplicate++;
			log_debug("%s: status=duplicate id=%llu", r->ev->idempotency_key,
				  (unsigned long long)r->message_id);
			break;
		case SMSQ__ACK_STATUS__ACK_REJECTED:
			in->counts.rejected++;
			log_reject(r);
			break;
		default:
			in->counts.retry++;
			break;
		}
		if (send_ack(in, r) != 0 && ret == 0) {
			log_error("ingest: send ack: %s", zmq_strerror(errno));
			ret = -1;
		}
		free_request(r);
	}
	return ret < 0 ? -1 : (int)n;
}
