/*
 * smsq_producer: the client library that publishes BookingEvents to the pool
 * (the contract is in smsq_producer.h).
 *
 * DESIGN
 *
 * One producer = one ZeroMQ context + one DEALER socket connected to the
 * pool's ROUTER.  A request is [empty][request id][packed BookingEvent], the
 * reply [empty][request id][packed Ack]; the request id is the producer's
 * sequence number, 8 bytes big-endian, so a resend (same id, same bytes) is
 * recognised by its ack whichever copy the ack answers.
 *
 * Every published event lives in a slot of a fixed array of `window` slots
 * (struct pending) from smsq_publish() until its outcome is known:
 *
 *	unsent    queued, ZeroMQ would not take it yet (no peer connected, or
 *		  the send HWM reached): waits in the unsent FIFO for the socket
 *		  to become writable;
 *	sent      handed to ZeroMQ at least once, waiting for an ack, due for a
 *		  resend at pe_next_send_ms (resend_ms after the last send, or
 *		  the retry_after_ms of a RETRY_LATER ack);
 *	finished  a final ack came, or its deadline (queued + ack_timeout_ms)
 *		  passed: the outcome is copied into the `finished` ring, the
 *		  slot is freed, and smsq_poll() hands the ring to the caller.
 *
 * Indexes over the slots, all sized at creation (no growth on the hot path):
 *
 *	- a hash table request id -> slot (open addressing, linear probing,
 *	  backward-shift deletion, >= 2 buckets per slot): O(1) ack matching.
 *	  Ids are not a dense range: an event held back by RETRY_LATER can stay
 *	  while thousands of later ids come and go, so a ring indexed by id
 *	  would not do.
 *	- a binary min-heap of slots by pe_due_ms = the next thing to do for
 *	  the slot (its resend, or its deadline if it is unsent or no resend
 *	  comes before): the next timer is the heap top, O(1); a send pushes
 *	  its slot down by O(log n) (most sends sit at the bottom already, since
 *	  their next resend is the latest timer).  A heap rather than a FIFO by
 *	  send time because RETRY_LATER delays break the FIFO order.
 *	- the unsent FIFO, doubly linked through the slots, in publish order.
 *
 * INVARIANTS
 *
 *	- A slot in use is in the hash table and in the heap; it is in the
 *	  unsent FIFO iff pe_unsent, and then its heap key is its deadline.
 *	- pr_count (slots in use) <= window; the ring holds <= window outcomes.
 *	- Every published event is reported exactly once (or dropped by
 *	  smsq_producer_destroy()), and a slot's request id is never reused,
 *	  so a late ack finds nothing and is ignored.
 *	- Callbacks run only from s_deliver(), with pr_in_callback set: no
 *	  state changes under them.
 *
 * ZEROMQ OPTIONS (set before connecting, so they apply to every connection)
 *
 *	ZMQ_LINGER 0       the events belong to the caller and outlive nothing:
 *			   at destroy, whatever ZeroMQ still holds is useless
 *			   (unreported events are dropped anyway), and a
 *			   linger would only make destroy hang on a dead pool.
 *	ZMQ_IMMEDIATE 1    do not queue messages for a peer that is not
 *			   connected yet: while the pool is down, sends fail
 *			   with EAGAIN and the one copy stays here in the unsent
 *			   FIFO, instead of piling resend copies into a
 *			   ZeroMQ pipe that would all be delivered on reconnect.
 *	ZMQ_SNDHWM         2 * window: the window already bounds what is in
 *			   flight; the HWM stops resend copies from piling up
 *			   in ZeroMQ behind a slow pool (they wait here, unsent,
 *			   instead).  Twice the window because ZeroMQ learns of
 *			   reads only every HWM/2 messages: an HWM of `window`
 *			   could refuse sends with half as many queued.
 *	ZMQ_RCVHWM         window * PRODUCER_RCVHWM_PER_SLOT: a ceiling a
 *			   misbehaving peer cannot push our memory past, that
 *			   normal operation never reaches (an event has at most
 *			   ack_timeout/resend + 1 copies, 11 by default).  If it
 *			   were reached, the pool's ROUTER would drop acks, and
 *			   the events would be resent and answered DUPLICATE.
 *	ZMQ_MAXMSGSIZE     acks are small: a peer sending a frame above
 *			   PRODUCER_ACK_MAX_BYTES is disconnected (and
 *			   reconnected) rather than buffered.
 */
#include "producer/smsq_producer.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/clock.h"
#include "proto/booking.pb-c.h"
#include "common/err.h"

#define PRODUCER_NONE UINT32_MAX		/* no slot */
#define PRODUCER_ID_BYTES 8			/* request id: big-endian uint64 */
#define PRODUCER_ACK_MAX_BYTES 65536		/* ZMQ_MAXMSGSIZE */
#define PRODUCER_SNDHWM_PER_SLOT 2		/* ZMQ_SNDHWM = window * this */
#define PRODUCER_RCVHWM_PER_SLOT 16		/* ZMQ_RCVHWM = window * this */
#define PRODUCER_TURN_BATCH 4096		/* acks read, and events expired, per
						 * turn at most (bounds the ring
						 * smsq_poll() fills) */
#define PRODUCER_RING_MIN 64			/* first size of the outcome ring */
#define PRODUCER_HASH_MULT 0x9E3779B97F4A7C15ULL /* Fibonacci hashing */
#define PRODUCER_WATCH_MS 100			/* CURVE: handshake events read this often */

/* One published event whose outcome is not known yet. */
struct pending {
	uint64_t pe_seq;		/* request id; 0 = free slot */
	void *pe_user;			/* caller's pointer, given back with the outcome */
	unsigned char *pe_data;		/* copy of the packed event, owned */
	size_t pe_len;			/* its length in bytes */
	int64_t pe_queued_ms;		/* when smsq_publish() queued it (monotonic) */
	int64_t pe_deadline_ms;		/* queued + ack_timeout_ms: NO_ACK from then */
	int64_t pe_next_send_ms;	/* when to resend it if still unacknowledged */
	int64_t pe_due_ms;		/* heap key: min(next send, deadline), or the
					 * deadline while unsent */
	uint32_t pe_sends;		/* copies handed to ZeroMQ */
	uint32_t pe_heap;		/* its index in pr_heap */
	uint32_t pe_prev;		/* unsent FIFO links; pe_next also links */
	uint32_t pe_next;		/* the free list */
	int pe_last_reason;		/* reason of the last RETRY_LATER, 0 if none */
	bool pe_unsent;			/* waiting in the unsent FIFO */
};

/* A finished event waiting to be reported. */
struct finished {
	struct smsq_ack fi_ack;		/* the outcome */
	void *fi_user;			/* the caller's pointer */
};

struct smsq_producer {
	void *pr_ctx;			/* ZeroMQ context, ours alone */
	void *pr_sock;			/* DEALER connected to the pool */
	struct smsq_producer_opts pr_opts; /* effective options (defaults filled) */
	uint64_t pr_next_seq;		/* next request id (from 1) */
	struct pending *pr_pend;	/* `window` slots */
	uint32_t pr_free;		/* head of the free slot list */
	uint32_t pr_count;		/* slots in use */
	uint32_t *pr_table;		/* hash: request id -> slot, PRODUCER_NONE = empty */
	uint32_t pr_table_mask;		/* buckets - 1 (a power of two minus one) */
	unsigned pr_table_shift;	/* 64 - log2(buckets) */
	uint32_t *pr_heap;		/* slots, min-heap on pe_due_ms */
	uint32_t pr_heap_len;		/* slots in the heap (== pr_count) */
	uint32_t pr_unsent_head;	/* oldest unsent slot */
	uint32_t pr_unsent_tail;	/* newest unsent slot */
	struct finished *pr_ring;	/* outcomes not reported yet (circular) */
	size_t pr_ring_cap;		/* its capacity, grows up to window */
	size_t pr_ring_head;		/* index of the oldest outcome */
	size_t pr_ring_len;		/* outcomes in the ring */
	bool pr_in_callback;		/* a callback is running: refuse calls */
	void *pr_watch;			/* CURVE: PAIR reading the socket's handshake
					 * events (zmq_socket_monitor()), or NULL */
	int64_t pr_watch_ms;		/* when pr_watch was last read */
	int pr_refused;			/* the pool's ZAP status of the last refused
					 * handshake (400: key not allowed), 0 after
					 * one succeeded */
	struct smsq_stats pr_stats;	/* counters for smsq_stats() */
};

/* Lower-case names of smsq.Reason, indexed by value; tests/test_producer.c
 * checks them against the generated descriptor. */
static const char *const reason_names[] = {
	"none", "undecodable", "bad_frames", "oversize", "unsupported_version",
	"missing_field", "invalid_field", "invalid_phone", "already_expired",
	"text_too_long", "store_full", "shutting_down", "store_error",
	"not_mobile", "country_not_allowed", "render_failed", "temporary",
	"empty_text", "velocity_number", "velocity_range", "velocity_country",
};

/* ---------------------------------------------------------------- helpers */

/* Copy src (may be NULL) into dst[size], truncated on a UTF-8 boundary. */
static void s_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void s_put_be64(unsigned char *out, uint64_t v)
{
	for (int i = PRODUCER_ID_BYTES - 1; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xFF);
		v >>= 8;
	}
}

static uint64_t s_get_be64(const unsigned char *in)
{
	uint64_t v = 0;

	for (int i = 0; i < PRODUCER_ID_BYTES; i++)
		v = (v << 8) | in[i];
	return v;
}

/* Absolute monotonic deadline for a timeout; -1 for none. */
static int64_t s_until(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
}

static bool s_expired(int64_t until_ms)
{
	return until_ms >= 0 && clock_mono_ms() >= until_ms;
}

/* Milliseconds left until until_ms, as a timeout argument (-1: no limit). */
static int s_left_ms(int64_t until_ms)
{
	int64_t left;

	if (until_ms < 0)
		return -1;
	left = until_ms - clock_mono_ms();
	return left > 0 ? (int)left : 0;
}

/* ------------------------------------------------- hash: request id -> slot */

static uint32_t s_hash(const smsq_producer *p, uint64_t seq)
{
	return (uint32_t)((seq * PRODUCER_HASH_MULT) >> p->pr_table_shift);
}

static uint32_t s_table_find(const smsq_producer *p, uint64_t seq)
{
	uint32_t i = s_hash(p, seq);

	while (p->pr_table[i] != PRODUCER_NONE) {
		if (p->pr_pend[p->pr_table[i]].pe_seq == seq)
			return p->pr_table[i];
		i = (i + 1) & p->pr_table_mask;
	}
	return PRODUCER_NONE;
}

static void s_table_insert(smsq_producer *p, uint32_t slot)
{
	uint32_t i = s_hash(p, p->pr_pend[slot].pe_seq);

	while (p->pr_table[i] != PRODUCER_NONE)
		i = (i + 1) & p->pr_table_mask;
	p->pr_table[i] = slot;
}

/* Remove a slot that is in the table.  Backward-shift deletion: the entries
 * after the hole that may move into it do, so lookups never need tombstones. */
static void s_table_delete(smsq_producer *p, uint32_t slot)
{
	uint32_t mask = p->pr_table_mask;
	uint32_t i = s_hash(p, p->pr_pend[slot].pe_seq);
	uint32_t j;

	while (p->pr_table[i] != slot)
		i = (i + 1) & mask;
	j = i;
	for (;;) {
		uint32_t other, home;

		j = (j + 1) & mask;
		other = p->pr_table[j];
		if (other == PRODUCER_NONE)
			break;
		home = s_hash(p, p->pr_pend[other].pe_seq);
		/* It may fill the hole unless its home lies in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			p->pr_table[i] = other;
			i = j;
		}
	}
	p->pr_table[i] = PRODUCER_NONE;
}

/* ---------------------------------------------------- heap on pe_due_ms */

static void s_heap_place(smsq_producer *p, uint32_t pos, uint32_t slot)
{
	p->pr_heap[pos] = slot;
	p->pr_pend[slot].pe_heap = pos;
}

static void s_heap_up(smsq_producer *p, uint32_t pos)
{
	uint32_t slot = p->pr_heap[pos];
	int64_t due = p->pr_pend[slot].pe_due_ms;

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;

		if (p->pr_pend[p->pr_heap[parent]].pe_due_ms <= due)
			break;
		s_heap_place(p, pos, p->pr_heap[parent]);
		pos = parent;
	}
	s_heap_place(p, pos, slot);
}

static void s_heap_down(smsq_producer *p, uint32_t pos)
{
	uint32_t slot = p->pr_heap[pos];
	int64_t due = p->pr_pend[slot].pe_due_ms;

	for (;;) {
		uint32_t child = 2 * pos + 1;

		if (child >= p->pr_heap_len)
			break;
		if (child + 1 < p->pr_heap_len &&
		    p->pr_pend[p->pr_heap[child + 1]].pe_due_ms <
		    p->pr_pend[p->pr_heap[child]].pe_due_ms)
			child++;
		if (p->pr_pend[p->pr_heap[child]].pe_due_ms >= due)
			break;
		s_heap_place(p, pos, p->pr_heap[child]);
		pos = child;
	}
	s_heap_place(p, pos, slot);
}

static void s_heap_push(smsq_producer *p, uint32_t slot)
{
	s_heap_place(p, p->pr_heap_len++, slot);
	s_heap_up(p, p->pr_heap_len - 1);
}

static void s_heap_remove(smsq_producer *p, uint32_t slot)
{
	uint32_t pos = p->pr_pend[slot].pe_heap;
	uint32_t last = p->pr_heap[--p->pr_heap_len];

	if (pos == p->pr_heap_len)
		return;
	s_heap_place(p, pos, last);
	s_heap_up(p, pos);
	s_heap_down(p, p->pr_pend[last].pe_heap);
}

/* Change a slot's heap key. */
static void s_set_due(smsq_producer *p, uint32_t slot, int64_t due_ms)
{
	p->pr_pend[slot].pe_due_ms = due_ms;
	s_heap_up(p, p->pr_pend[slot].pe_heap);
	s_heap_down(p, p->pr_pend[slot].pe_heap);
}

/* ---------------------------------------------------------- unsent FIFO */

static void s_unsent_append(smsq_producer *p, uint32_t slot)
{
	struct pending *e = &p->pr_pend[slot];

	e->pe_unsent = true;
	e->pe_next = PRODUCER_NONE;
	e->pe_prev = p->pr_unsent_tail;
	if (p->pr_unsent_tail != PRODUCER_NONE)
		p->pr_pend[p->pr_unsent_tail].pe_next = slot;
	else
		p->pr_unsent_head = slot;
	p->pr_unsent_tail = slot;
	/* Nothing to do for it but give up, until the socket takes it. */
	s_set_due(p, slot, e->pe_deadline_ms);
}

static void s_unsent_remove(smsq_producer *p, uint32_t slot)
{
	struct pending *e = &p->pr_pend[slot];

	if (e->pe_prev != PRODUCER_NONE)
		p->pr_pend[e->pe_prev].pe_next = e->pe_next;
	else
		p->pr_unsent_head = e->pe_next;
	if (e->pe_next != PRODUCER_NONE)
		p->pr_pend[e->pe_next].pe_prev = e->pe_prev;
	else
		p->pr_unsent_tail = e->pe_prev;
	e->pe_unsent = false;
	e->pe_prev = e->pe_next = PRODUCER_NONE;
}

/* ------------------------------------------------------------ slots */

/* Take a free slot (the caller checked pr_count < window). */
static uint32_t s_slot_take(smsq_producer *p)
{
	uint32_t slot = p->pr_free;

	p->pr_free = p->pr_pend[slot].pe_next;
	p->pr_count++;
	return slot;
}

/* Remove a slot from every index, free its event, return it to the free
 * list. */
static void s_forget(smsq_producer *p, uint32_t slot)
{
	struct pending *e = &p->pr_pend[slot];

	s_table_delete(p, slot);
	s_heap_remove(p, slot);
	if (e->pe_unsent)
		s_unsent_remove(p, slot);
	free(e->pe_data);
	memset(e, 0, sizeof(*e));
	e->pe_next = p->pr_free;
	p->pr_free = slot;
	p->pr_count--;
}

/* ------------------------------------------------------ outcome ring */

/* Make room for one outcome: 1 if there is, 0 if the ring holds `window`
 * outcomes already, SMSQ_ENOMEM. */
static int s_ring_room(smsq_producer *p)
{
	struct finished *ring;
	size_t cap;

	if (p->pr_ring_len < p->pr_ring_cap)
		return 1;
	if (p->pr_ring_cap >= p->pr_opts.window)
		return 0;
	cap = p->pr_ring_cap ? p->pr_ring_cap * 2 : PRODUCER_RING_MIN;
	if (cap > p->pr_opts.window)
		cap = p->pr_opts.window;
	ring = malloc(cap * sizeof(*ring));
	if (ring == NULL)
		return SMSQ_ENOMEM;
	for (size_t i = 0; i < p->pr_ring_len; i++)
		ring[i] = p->pr_ring[(p->pr_ring_head + i) % p->pr_ring_cap];
	free(p->pr_ring);
	p->pr_ring = ring;
	p->pr_ring_cap = cap;
	p->pr_ring_head = 0;
	return 1;
}

/* Move a slot's event to the ring (the caller made room), free the slot. */
static struct smsq_ack *s_finish(smsq_producer *p, uint32_t slot,
				 enum smsq_status status, int64_t now_ms)
{
	struct pending *e = &p->pr_pend[slot];
	struct finished *f;

	f = &p->pr_ring[(p->pr_ring_head + p->pr_ring_len) % p->pr_ring_cap];
	p->pr_ring_len++;
	f->fi_user = e->pe_user;
	f->fi_ack.status = status;
	f->fi_ack.reason = 0;
	f->fi_ack.message_id = 0;
	f->fi_ack.request_id = e->pe_seq;
	f->fi_ack.sends = e->pe_sends;
	f->fi_ack.resent = e->pe_sends > 1;
	f->fi_ack.elapsed_ms = now_ms - e->pe_queued_ms;
	f->fi_ack.idempotency_key[0] = '\0';
	f->fi_ack.detail[0] = '\0';
	s_forget(p, slot);
	return &f->fi_ack;
}

static void s_finish_no_ack(smsq_producer *p, uint32_t slot, int64_t now_ms)
{
	int last_reason = p->pr_pend[slot].pe_last_reason;
	unsigned sends = p->pr_pend[slot].pe_sends;
	struct smsq_ack *ack = s_finish(p, slot, SMSQ_NO_ACK, now_ms);

	ack->reason = last_reason;
	if (p->pr_refused != 0)
		snprintf(ack->detail, sizeof(ack->detail),
			 "no ack within %d ms after %u send(s): the pool refused this producer's "
			 "CURVE key at the handshake (ZAP status %d: not in its allow-list, or "
			 "not the pool's server key)",
			 p->pr_opts.ack_timeout_ms, sends, p->pr_refused);
	else if (last_reason != 0)
		snprintf(ack->detail, sizeof(ack->detail),
			 "no ack within %d ms after %u send(s); last answer: retry_later %s",
			 p->pr_opts.ack_timeout_ms, sends, smsq_reason_name(last_reason));
	else
		snprintf(ack->detail, sizeof(ack->detail),
			 "no ack within %d ms after %u send(s)",
			 p->pr_opts.ack_timeout_ms, sends);
	p->pr_stats.no_ack++;
}

/* Report every outcome in the ring; returns how many. */
static int s_deliver(smsq_producer *p, smsq_ack_fn *fn, void *arg)
{
	int n = 0;

	p->pr_in_callback = true;
	while (p->pr_ring_len > 0) {
		struct finished *f = &p->pr_ring[p->pr_ring_head];

		p->pr_ring_head = (p->pr_ring_head + 1) % p->pr_ring_cap;
		p->pr_ring_len--;
		if (fn != NULL)
			fn(&f->fi_ack, f->fi_user, arg);
		n++;
	}
	p->pr_in_callback = false;
	return n;
}

/* ------------------------------------------------------------ sending */

/* Send the remaining frames of a message whose first frame ZeroMQ took: it
 * then takes the whole message (multipart messages are atomic), only a
 * signal can interrupt it. */
static int s_send_more(void *sock, const void *buf, size_t len, int flags)
{
	int rc;

	do {
		rc = zmq_send(sock, buf, len, flags | ZMQ_DONTWAIT);
	} while (rc < 0 && errno == EINTR);
	return rc < 0 ? SMSQ_EZMQ : SMSQ_OK;
}

/* Hand one copy of an event to ZeroMQ: 0 sent, 1 would block, or error. */
static int s_send_frames(smsq_producer *p, const struct pending *e)
{
	unsigned char id[PRODUCER_ID_BYTES];
	int rc;

	if (zmq_send(p->pr_sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
		if (errno == EAGAIN)
			return 1;
		return errno == EINTR ? SMSQ_EINTR : SMSQ_EZMQ;
	}
	s_put_be64(id, e->pe_seq);
	rc = s_send_more(p->pr_sock, id, sizeof(id), ZMQ_SNDMORE);
	if (rc == SMSQ_OK)
		rc = s_send_more(p->pr_sock, e->pe_data, e->pe_len, 0);
	/* XXX a failure here leaves a half-sent multipart message in the
	 * socket: the producer is unusable, as SMSQ_EZMQ says. */
	return rc;
}

static void s_mark_sent(smsq_producer *p, uint32_t slot, int64_t now_ms)
{
	struct pending *e = &p->pr_pend[slot];

	e->pe_sends++;
	p->pr_stats.sends++;
	if (e->pe_sends > 1)
		p->pr_stats.resends++;
	e->pe_next_send_ms = now_ms + p->pr_opts.resend_ms;
	s_set_due(p, slot, e->pe_next_send_ms < e->pe_deadline_ms ?
		  e->pe_next_send_ms : e->pe_deadline_ms);
}

/* Send a slot that is not in the unsent FIFO, or queue it there if ZeroMQ
 * does not take it (or others wait before it: keep their order). */
static int s_send_event(smsq_producer *p, uint32_t slot, int64_t now_ms)
{
	int rc;

	if (p->pr_unsent_head != PRODUCER_NONE) {
		s_unsent_append(p, slot);
		return SMSQ_OK;
	}
	rc = s_send_frames(p, &p->pr_pend[slot]);
	if (rc < 0)
		return rc;
	if (rc == 1)
		s_unsent_append(p, slot);
	else
		s_mark_sent(p, slot, now_ms);
	return SMSQ_OK;
}

/* Send unsent events, oldest first, while ZeroMQ takes them. */
static int s_send_unsent(smsq_producer *p, int64_t now_ms)
{
	while (p->pr_unsent_head != PRODUCER_NONE) {
		uint32_t slot = p->pr_unsent_head;
		int rc = s_send_frames(p, &p->pr_pend[slot]);

		if (rc < 0)
			return rc;
		if (rc == 1)
			break;
		s_unsent_remove(p, slot);
		s_mark_sent(p, slot, now_ms);
	}
	return SMSQ_OK;
}

/* ------------------------------------------------------------ receiving */

static void s_handle_ack(smsq_producer *p, uint64_t seq, const void *data,
			 size_t len, int64_t now_ms)
{
	uint32_t slot = s_table_find(p, seq);
	Smsq__Ack *msg;
	struct smsq_ack *ack;
	struct pending *e;
	int64_t at;

	if (slot == PRODUCER_NONE) {
		/* Already finished (an ack for another copy) or not ours. */
		p->pr_stats.acks_ignored++;
		return;
	}
	/* XXX NULL is also what protobuf-c returns out of memory; the ack is
	 * then lost like a garbled one, and the resend brings it back. */
	msg = smsq__ack__unpack(NULL, len, data);
	if (msg == NULL) {
		p->pr_stats.acks_ignored++;
		return;
	}
	switch (msg->status) {
	case SMSQ__ACK_STATUS__ACK_ACCEPTED:
	case SMSQ__ACK_STATUS__ACK_DUPLICATE:
	case SMSQ__ACK_STATUS__ACK_REJECTED:
		ack = s_finish(p, slot, (enum smsq_status)msg->status, now_ms);
		ack->reason = (int)msg->reason;
		ack->message_id = msg->message_id;
		s_copy_str(ack->idempotency_key, sizeof(ack->idempotency_key),
			   msg->idempotency_key);
		s_copy_str(ack->detail, sizeof(ack->detail), msg->detail);
		break;
	case SMSQ__ACK_STATUS__ACK_RETRY_LATER:
		e = &p->pr_pend[slot];
		p->pr_stats.retry_later++;
		e->pe_last_reason = (int)msg->reason;
		if (e->pe_unsent)
			s_unsent_remove(p, slot);
		/* No hint: the ordinary resend delay, not a tight loop. */
		at = now_ms + (msg->retry_after_ms ? (int64_t)msg->retry_after_ms
				: (int64_t)p->pr_opts.resend_ms);
		e->pe_next_send_ms = at;
		s_set_due(p, slot, at < e->pe_deadline_ms ? at : e->pe_deadline_ms);
		break;
	default:
		/* ACK_UNSPECIFIED or a status this library does not know. */
		p->pr_stats.acks_ignored++;
		break;
	}
	smsq__ack__free_unpacked(msg, NULL);
}

/* Read one frame: 1 read, 0 nothing there (first frame only), or an error.
 * The frames after the first are there already (a multipart message arrives
 * whole), only a signal can interrupt reading them. */
static int s_recv_frame(smsq_producer *p, zmq_msg_t *m, bool first)
{
	for (;;) {
		if (zmq_msg_recv(m, p->pr_sock, ZMQ_DONTWAIT) >= 0)
			return 1;
		if (first && errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return SMSQ_EZMQ;
		if (first)
			return SMSQ_EINTR;
	}
}

/* Read one reply if one is there: 1 read (used or ignored), 0 none, or an
 * error.  A reply that is not [empty][8-byte id][ack] is ignored. */
static int s_recv_one(smsq_producer *p, int64_t now_ms)
{
	zmq_msg_t frames[3];
	zmq_msg_t extra;
	size_t n = 0;
	bool bad = false;
	int rc = 1;

	while (n < 3) {
		zmq_msg_init(&frames[n]);
		rc = s_recv_frame(p, &frames[n], n == 0);
		if (rc <= 0) {
			zmq_msg_close(&frames[n]);
			break;
		}
		if (!zmq_msg_more(&frames[n++]))
			break;
	}
	if (rc == 1 && n == 3 && zmq_msg_more(&frames[2])) {
		/* Too many frames: read the rest and drop the lot. */
		bad = true;
		zmq_msg_init(&extra);
		do {
			rc = s_recv_frame(p, &extra, false);
		} while (rc == 1 && zmq_msg_more(&extra));
		zmq_msg_close(&extra);
	}
	if (rc == 1) {
		if (!bad && n == 3 && zmq_msg_size(&frames[0]) == 0 &&
		    zmq_msg_size(&frames[1]) == PRODUCER_ID_BYTES)
			s_handle_ack(p, s_get_be64(zmq_msg_data(&frames[1])),
				     zmq_msg_data(&frames[2]), zmq_msg_size(&frames[2]),
				     now_ms);
		else
			p->pr_stats.acks_ignored++;
	}
	for (size_t i = 0; i < n; i++)
		zmq_msg_close(&frames[i]);
	return rc;
}

/* ------------------------------------------------------------ the loop */

/* Do everything that is ready, without waiting: read acks, send what waits
 * for the socket, resend and expire what is due.  Stops reading acks and
 * expiring when the outcome ring is full. */
/* CURVE: read the handshake events of the socket (a refused key, or one
 * taken), at most every PRODUCER_WATCH_MS. */
static void s_read_watch(smsq_producer *p, int64_t now_ms)
{
	if (p->pr_watch == NULL || now_ms - p->pr_watch_ms < PRODUCER_WATCH_MS)
		return;
	p->pr_watch_ms = now_ms;
	for (;;) {
		zmq_msg_t m;
		uint16_t event;
		uint32_t value;
		int more;

		if (zmq_msg_init(&m) != 0)
			return;
		if (zmq_msg_recv(&m, p->pr_watch, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		more = zmq_msg_more(&m);
		if (zmq_msg_size(&m) >= 6) {
			memcpy(&event, zmq_msg_data(&m), sizeof(event));
			memcpy(&value, (char *)zmq_msg_data(&m) + 2, sizeof(value));
			if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
				p->pr_refused = (int)value;
			else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
				p->pr_refused = 0;
		}
		zmq_msg_close(&m);
		while (more) { /* the endpoint frame */
			if (zmq_msg_init(&m) != 0 || zmq_msg_recv(&m, p->pr_watch, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&m);
				return;
			}
			more = zmq_msg_more(&m);
			zmq_msg_close(&m);
		}
	}
}

static int s_turn(smsq_producer *p)
{
	int64_t now_ms = clock_mono_ms();
	int rc = 0;

	s_read_watch(p, now_ms);
	for (int i = 0; i < PRODUCER_TURN_BATCH; i++) {
		rc = s_ring_room(p);
		if (rc <= 0)
			break;
		rc = s_recv_one(p, now_ms);
		if (rc <= 0)
			break;
	}
	if (rc < 0)
		return rc;
	rc = s_send_unsent(p, now_ms);
	if (rc < 0)
		return rc;
	for (int expired = 0; p->pr_heap_len > 0;) {
		uint32_t slot = p->pr_heap[0];
		struct pending *e = &p->pr_pend[slot];

		if (e->pe_due_ms > now_ms)
			break;
		if (now_ms >= e->pe_deadline_ms) {
			/* The rest waits for the next turn, which comes at
			 * once: the heap top is due. */
			if (expired++ == PRODUCER_TURN_BATCH)
				break;
			rc = s_ring_room(p);
			if (rc <= 0)
				return rc;
			s_finish_no_ack(p, slot, now_ms);
			continue;
		}
		/* A resend is due (an unsent slot's key is its deadline).
		 * Its new key is later than now_ms: this turn is done with it. */
		rc = s_send_event(p, slot, now_ms);
		if (rc < 0)
			return rc;
	}
	return SMSQ_OK;
}

/* Wait until an ack can be read, the socket takes what is unsent, the next
 * timer, or until_ms (-1: no limit), whichever comes first. */
static int s_wait(smsq_producer *p, int64_t until_ms)
{
	int64_t now_ms = clock_mono_ms();
	long wait_ms = -1;
	zmq_pollitem_t item = { p->pr_sock, 0, ZMQ_POLLIN, 0 };

	if (p->pr_heap_len > 0) {
		int64_t due = p->pr_pend[p->pr_heap[0]].pe_due_ms;

		wait_ms = due > now_ms ? (long)(due - now_ms) : 0;
	}
	if (until_ms >= 0) {
		long left = until_ms > now_ms ? (long)(until_ms - now_ms) : 0;

		if (wait_ms < 0 || left < wait_ms)
			wait_ms = left;
	}
	if (p->pr_unsent_head != PRODUCER_NONE)
		item.events |= ZMQ_POLLOUT;
	if (zmq_poll(&item, 1, wait_ms) < 0)
		return errno == EINTR ? SMSQ_EINTR : SMSQ_EZMQ;
	return SMSQ_OK;
}

/* -------------------------------------------------------------- public */

static int s_resolve_opts(const struct smsq_producer_opts *in,
			  struct smsq_producer_opts *out, char *err, size_t errlen)
{
	struct smsq_producer_opts o = { 0 };

	if (in != NULL)
		o = *in;
	if (o.window == 0)
		o.window = SMSQ_DEFAULT_WINDOW;
	if (o.resend_ms == 0)
		o.resend_ms = SMSQ_DEFAULT_RESEND_MS;
	if (o.ack_timeout_ms == 0)
		o.ack_timeout_ms = SMSQ_DEFAULT_ACK_TIMEOUT_MS;
	if (o.max_event_bytes == 0)
		o.max_event_bytes = SMSQ_DEFAULT_MAX_EVENT_BYTES;
	if (o.window > SMSQ_WINDOW_MAX) {
		err_set(err, errlen, "window must be 1..%d, got %zu", SMSQ_WINDOW_MAX,
			o.window);
		return SMSQ_EINVAL;
	}
	if (o.resend_ms < 0) {
		err_set(err, errlen, "resend_ms must be >= 1, got %d", o.resend_ms);
		return SMSQ_EINVAL;
	}
	if (o.ack_timeout_ms < 0) {
		err_set(err, errlen, "ack_timeout_ms must be >= 1, got %d",
			o.ack_timeout_ms);
		return SMSQ_EINVAL;
	}
	if (o.max_event_bytes > SMSQ_MAX_EVENT_BYTES_MAX) {
		err_set(err, errlen, "max_event_bytes must be 1..%d, got %zu",
			SMSQ_MAX_EVENT_BYTES_MAX, o.max_event_bytes);
		return SMSQ_EINVAL;
	}
	*out = o;
	return SMSQ_OK;
}

static int s_alloc_indexes(smsq_producer *p)
{
	uint32_t window = (uint32_t)p->pr_opts.window;
	unsigned bits = 1;

	while ((1UL << bits) < 2UL * window)
		bits++;
	p->pr_table_mask = (uint32_t)((1UL << bits) - 1);
	p->pr_table_shift = 64 - bits;
	p->pr_pend = calloc(window, sizeof(*p->pr_pend));
	p->pr_heap = calloc(window, sizeof(*p->pr_heap));
	p->pr_table = malloc(((size_t)p->pr_table_mask + 1) * sizeof(*p->pr_table));
	if (p->pr_pend == NULL || p->pr_heap == NULL || p->pr_table == NULL)
		return SMSQ_ENOMEM;
	memset(p->pr_table, 0xFF, ((size_t)p->pr_table_mask + 1) * sizeof(*p->pr_table));
	for (uint32_t i = 0; i < window; i++)
		p->pr_pend[i].pe_next = i + 1 < window ? i + 1 : PRODUCER_NONE;
	p->pr_free = 0;
	p->pr_unsent_head = p->pr_unsent_tail = PRODUCER_NONE;
	return SMSQ_OK;
}

/* Whether s is a key in Z85 text: 40 characters ZeroMQ can decode. */
static int s_z85_key(const char *s)
{
	uint8_t bin[32];

	return s != NULL && strlen(s) == 40 && zmq_z85_decode(bin, s) != NULL;
}

/* Make the socket a CURVE client of keys (see smsq_producer_new_curve()). */
static int s_curve_client(void *sock, const struct smsq_curve_keys *keys, char *err,
			  size_t errlen)
{
	char derived[41];
	int rc = SMSQ_EINVAL;

	if (!s_z85_key(keys->server_key) || !s_z85_key(keys->secret_key) ||
	    (keys->public_key != NULL && !s_z85_key(keys->public_key))) {
		err_set(err, errlen, "CURVE: a key is not 40 characters of Z85");
		goto out;
	}
	if (zmq_curve_public(derived, keys->secret_key) != 0) {
		err_set(err, errlen, "CURVE: not available in this libzmq (%s)",
			zmq_strerror(errno));
		rc = SMSQ_EZMQ;
		goto out;
	}
	if (keys->public_key != NULL && strcmp(derived, keys->public_key) != 0) {
		err_set(err, errlen, "CURVE: the public key is not the secret key's");
		goto out;
	}
	/* Z85 keys are given with their NUL: 41 bytes (zmq_setsockopt(3)). */
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, keys->server_key, 41) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, derived, 41) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->secret_key, 41) != 0) {
		err_set(err, errlen, "CURVE: zmq_setsockopt: %s", zmq_strerror(errno));
		rc = SMSQ_EZMQ;
		goto out;
	}
	rc = SMSQ_OK;
out:
	memset(derived, 0, sizeof(derived));
	return rc;
}

/* CURVE: watch the socket's handshakes, so that a NO_ACK can say the pool
 * refused the key (libzmq does not connect again after that). */
static int s_open_watch(smsq_producer *p, char *err, size_t errlen)
{
	char endpoint[64];
	int linger = 0;

	snprintf(endpoint, sizeof(endpoint), "inproc://smsq-producer-watch-%p", (void *)p);
	if (zmq_socket_monitor(p->pr_sock, endpoint, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
							 ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
		err_set(err, errlen, "zmq_socket_monitor: %s", zmq_strerror(errno));
		return SMSQ_EZMQ;
	}
	p->pr_watch = zmq_socket(p->pr_ctx, ZMQ_PAIR);
	if (p->pr_watch == NULL ||
	    zmq_setsockopt(p->pr_watch, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_connect(p->pr_watch, endpoint) != 0) {
		err_set(err, errlen, "handshake watch: %s", zmq_strerror(errno));
		return SMSQ_EZMQ;
	}
	return SMSQ_OK;
}

static int s_open_socket(smsq_producer *p, const char *endpoint,
			 const struct smsq_curve_keys *keys, char *err, size_t errlen)
{
	int rc;

	int linger = 0;
	int immediate = 1;
	int sndhwm = (int)p->pr_opts.window * PRODUCER_SNDHWM_PER_SLOT;
	int rcvhwm = p->pr_opts.window > INT_MAX / PRODUCER_RCVHWM_PER_SLOT ? INT_MAX
		: (int)p->pr_opts.window * PRODUCER_RCVHWM_PER_SLOT;
	int64_t maxmsg = PRODUCER_ACK_MAX_BYTES;

	p->pr_ctx = zmq_ctx_new();
	if (p->pr_ctx == NULL) {
		err_set(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		return SMSQ_EZMQ;
	}
	p->pr_sock = zmq_socket(p->pr_ctx, ZMQ_DEALER);
	if (p->pr_sock == NULL) {
		err_set(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		return SMSQ_EZMQ;
	}
	if (zmq_setsockopt(p->pr_sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_setsockopt(p->pr_sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) != 0 ||
	    zmq_setsockopt(p->pr_sock, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm)) != 0 ||
	    zmq_setsockopt(p->pr_sock, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) != 0 ||
	    zmq_setsockopt(p->pr_sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0) {
		err_set(err, errlen, "zmq_setsockopt: %s", zmq_strerror(errno));
		return SMSQ_EZMQ;
	}
	if (keys != NULL && (rc = s_curve_client(p->pr_sock, keys, err, errlen)) != SMSQ_OK)
		return rc;
	if (keys != NULL && (rc = s_open_watch(p, err, errlen)) != SMSQ_OK)
		return rc;
	if (zmq_connect(p->pr_sock, endpoint) != 0) {
		err_set(err, errlen, "cannot connect to \"%s\": %s", endpoint,
			zmq_strerror(errno));
		return SMSQ_EZMQ;
	}
	return SMSQ_OK;
}

smsq_producer *smsq_producer_new(const char *endpoint,
				 const struct smsq_producer_opts *opts,
				 char *err, size_t errlen)
{
	return smsq_producer_new_curve(endpoint, opts, NULL, err, errlen);
}

smsq_producer *smsq_producer_new_curve(const char *endpoint,
				       const struct smsq_producer_opts *opts,
				       const struct smsq_curve_keys *keys,
				       char *err, size_t errlen)
{
	smsq_producer *p = NULL;
	struct smsq_producer_opts o;
	int rc;

	if (endpoint == NULL || *endpoint == '\0') {
		err_set(err, errlen, "no endpoint given");
		goto fail;
	}
	if (s_resolve_opts(opts, &o, err, errlen) != SMSQ_OK)
		goto fail;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		err_set(err, errlen, "%s", smsq_strerror(SMSQ_ENOMEM));
		goto fail;
	}
	p->pr_opts = o;
	p->pr_next_seq = 1;
	rc = s_alloc_indexes(p);
	if (rc != SMSQ_OK) {
		err_set(err, errlen, "%s (window %zu)", smsq_strerror(rc), o.window);
		goto fail;
	}
	if (s_open_socket(p, endpoint, keys, err, errlen) != SMSQ_OK)
		goto fail;
	return p;
fail:
	smsq_producer_destroy(&p);
	return NULL;
}

void smsq_producer_destroy(smsq_producer **pp)
{
	smsq_producer *p;

	if (pp == NULL || *pp == NULL)
		return;
	p = *pp;
	if (p->pr_watch != NULL)
		zmq_close(p->pr_watch);
	if (p->pr_sock != NULL)
		zmq_close(p->pr_sock);
	if (p->pr_ctx != NULL) {
		/* Returns at once: the only socket is closed, with no linger. */
		while (zmq_ctx_term(p->pr_ctx) != 0 && errno == EINTR)
			;
	}
	if (p->pr_pend != NULL) {
		for (size_t i = 0; i < p->pr_opts.window; i++)
			free(p->pr_pend[i].pe_data);
	}
	free(p->pr_pend);
	free(p->pr_heap);
	free(p->pr_table);
	free(p->pr_ring);
	free(p);
	*pp = NULL;
}

/* Wait until a slot is free (see smsq_publish()). */
static int s_wait_for_room(smsq_producer *p, int timeout_ms)
{
	int64_t until_ms = s_until(timeout_ms);
	int rc;

	for (;;) {
		if (p->pr_count < p->pr_opts.window)
			return SMSQ_OK;
		rc = s_turn(p);
		if (rc < 0)
			return rc;
		if (p->pr_count < p->pr_opts.window)
			return SMSQ_OK;
		if (p->pr_ring_len >= p->pr_opts.window)
			return SMSQ_EFULL;
		if (s_expired(until_ms))
			return SMSQ_ETIMEDOUT;
		rc = s_wait(p, until_ms);
		if (rc < 0)
			return rc;
	}
}

int smsq_publish(smsq_producer *p, const void *event, size_t len, void *user,
		 int timeout_ms)
{
	unsigned char *copy;
	struct pending *e;
	uint32_t slot;
	int64_t now_ms;
	int rc;

	if (p == NULL || (event == NULL && len > 0))
		return SMSQ_EINVAL;
	if (p->pr_in_callback)
		return SMSQ_EBUSY;
	if (len > p->pr_opts.max_event_bytes)
		return SMSQ_ETOOBIG;
	rc = s_wait_for_room(p, timeout_ms);
	if (rc < 0)
		return rc;
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return SMSQ_ENOMEM;
	if (len > 0)
		memcpy(copy, event, len);

	now_ms = clock_mono_ms();
	slot = s_slot_take(p);
	e = &p->pr_pend[slot];
	e->pe_seq = p->pr_next_seq++;
	e->pe_user = user;
	e->pe_data = copy;
	e->pe_len = len;
	e->pe_queued_ms = now_ms;
	e->pe_deadline_ms = now_ms + p->pr_opts.ack_timeout_ms;
	e->pe_next_send_ms = now_ms;
	e->pe_due_ms = now_ms;
	e->pe_sends = 0;
	e->pe_last_reason = 0;
	e->pe_unsent = false;
	e->pe_prev = e->pe_next = PRODUCER_NONE;
	s_table_insert(p, slot);
	s_heap_push(p, slot);

	rc = s_send_event(p, slot, now_ms);
	if (rc < 0) {
		s_forget(p, slot);
		return rc;
	}
	p->pr_stats.published++;
	return SMSQ_OK;
}

int smsq_poll(smsq_producer *p, int timeout_ms, smsq_ack_fn *fn, void *arg)
{
	int64_t until_ms = s_until(timeout_ms);
	int rc;

	if (p == NULL)
		return SMSQ_EINVAL;
	if (p->pr_in_callback)
		return SMSQ_EBUSY;
	for (;;) {
		rc = s_turn(p);
		if (rc < 0)
			return rc;
		if (p->pr_ring_len > 0 || p->pr_count == 0)
			break;
		if (s_expired(until_ms))
			break;
		rc = s_wait(p, until_ms);
		if (rc < 0)
			return rc;
	}
	return s_deliver(p, fn, arg);
}

int smsq_flush(smsq_producer *p, int timeout_ms, smsq_ack_fn *fn, void *arg)
{
	int64_t until_ms = s_until(timeout_ms);
	int total = 0;

	if (p == NULL)
		return SMSQ_EINVAL;
	for (;;) {
		int rc = smsq_poll(p, s_left_ms(until_ms), fn, arg);

		if (rc < 0)
			return rc;
		total += rc;
		if (smsq_outstanding(p) == 0)
			return total;
		if (s_expired(until_ms))
			return SMSQ_ETIMEDOUT;
	}
}

static void s_copy_ack(const struct smsq_ack *ack, void *user, void *arg)
{
	(void)user;
	*(struct smsq_ack *)arg = *ack;
}

/* Forget every event and outcome (smsq_publish_sync() after an error). */
static void s_drop_all(smsq_producer *p)
{
	while (p->pr_heap_len > 0)
		s_forget(p, p->pr_heap[0]);
	p->pr_ring_len = 0;
}

int smsq_publish_sync(smsq_producer *p, const void *event, size_t len,
		      struct smsq_ack *out, int timeout_ms)
{
	int64_t until_ms = s_until(timeout_ms);
	int rc;

	if (p == NULL || out == NULL)
		return SMSQ_EINVAL;
	if (p->pr_in_callback || smsq_outstanding(p) != 0)
		return SMSQ_EBUSY;
	rc = smsq_publish(p, event, len, NULL, 0);
	if (rc < 0)
		return rc;
	rc = smsq_flush(p, s_left_ms(until_ms), s_copy_ack, out);
	if (rc < 0) {
		/* Only this event was outstanding: nothing else is dropped. */
		s_drop_all(p);
		return rc;
	}
	return SMSQ_OK;
}

size_t smsq_outstanding(const smsq_producer *p)
{
	return p == NULL ? 0 : p->pr_count + p->pr_ring_len;
}

void smsq_stats(const smsq_producer *p, struct smsq_stats *out)
{
	if (out == NULL)
		return;
	if (p == NULL)
		memset(out, 0, sizeof(*out));
	else
		*out = p->pr_stats;
}

const char *smsq_strerror(int rc)
{
	switch (rc) {
	case SMSQ_OK:
		return "success";
	case SMSQ_ETIMEDOUT:
		return "timed out";
	case SMSQ_EINVAL:
		return "invalid argument";
	case SMSQ_ENOMEM:
		return "out of memory";
	case SMSQ_ETOOBIG:
		return "event larger than max_event_bytes";
	case SMSQ_EZMQ:
		return "ZeroMQ error";
	case SMSQ_EINTR:
		return "interrupted by a signal";
	case SMSQ_EFULL:
		return "window full of outcomes not collected (call smsq_poll)";
	case SMSQ_EBUSY:
		return "producer busy (called from a callback, or events outstanding)";
	default:
		return "unknown smsq error code";
	}
}

const char *smsq_status_name(int status)
{
	switch (status) {
	case SMSQ_ACCEPTED:
		return "accepted";
	case SMSQ_DUPLICATE:
		return "duplicate";
	case SMSQ_REJECTED:
		return "rejected";
	case SMSQ_NO_ACK:
		return "no_ack";
	default:
		return "unknown";
	}
}

const char *smsq_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= sizeof(reason_names) / sizeof(reason_names[0]))
		return "unknown";
	return reason_names[reason];
}
