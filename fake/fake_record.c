/*
 * fake_record: counters, rate-limit window, accepted keys and the record
 * file of the fake provider (see fake_record.h for the contract).
 *
 * DESIGN
 * Everything shared sits behind one mutex, and every critical section is
 * O(messages in the request) with no system call but clock_gettime(): the
 * HTTP threads never wait for the disk.
 *
 * The window is a ring of FAKE_RECORD_WINDOW_MS per-millisecond slots
 * (accepted messages, accepted segments) with running sums over the last
 * 1000 ms.  Moving "now" forward empties the slots that fall out of the
 * window.  The sums only grow when a message is accepted, so the largest
 * value they ever take, kept as a running maximum right after each
 * acceptance, is exactly the most accepted in any window of 1000
 * consecutive milliseconds (such a maximum is always reached by a window
 * ending on an acceptance).
 *
 * The record file is written by its own thread: lines are appended to a
 * memory buffer under the mutex; every FAKE_RECORD_FLUSH_MS the writer swaps
 * the buffer for an empty one and write()s it outside the mutex.  At
 * destroy the writer does a last flush before it exits.  A full buffer
 * (the disk far behind) drops lines and counts them rather than growing
 * without bound.
 */
#include "fake/fake_record.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "fake/fake_keyset.h"

#define RECORD_TEXT_MAX 2048                     /* text bytes written */
#define RECORD_LINE_MAX (2 * FAKE_KEY_MAX + RECORD_TEXT_MAX + 160) /* one line, fields cut to fit */
#define RECORD_TO_MAX 64                         /* destination bytes written */
#define RECEIPT_WORD_MAX 64                      /* a receipt's status or error, bytes */
#define RECEIPT_LINE_MAX (FAKE_KEY_MAX + RECORD_TO_MAX + 2 * RECEIPT_WORD_MAX + 160)

struct slot {
	uint32_t msgs;            /* messages accepted in this millisecond */
	uint32_t segs;            /* their segments */
};

struct fake_record {
	pthread_mutex_t lock;     /* guards everything below but the writer's fields */
	struct fake_stats st;     /* the counters */
	fake_keyset *keys;        /* accepted keys */
	unsigned limit;           /* rate_limit + burst, 0: unlimited */
	int bucket;               /* a token bucket instead of the window */
	double rate;              /* bucket: tokens a microsecond */
	double size;              /* bucket: tokens at most */
	double tokens;            /* bucket: tokens now */
	int64_t tokens_us;        /* bucket: when tokens was last refilled */
	int count_segments;       /* the limit counts segments */
	int64_t last_us;          /* server clock: latest value handed out */
	int64_t head_ms;          /* window: the millisecond "now" was last moved to */
	uint64_t win_msgs;        /* accepted messages in head_ms-999 .. head_ms */
	uint64_t win_segs;        /* accepted segments in the same window */
	struct slot ring[FAKE_RECORD_WINDOW_MS]; /* per-millisecond counts */

	char *buf;                /* record lines not yet written (NULL: no file) */
	size_t len;               /* bytes in buf */
	size_t cap;               /* allocated bytes of buf */

	int fd;                   /* record file, -1: none */
	pthread_t writer;         /* the writer thread */
	int writer_started;       /* 1 once the thread runs */
	int stopping;             /* set under lock: writer flushes and exits */
	pthread_cond_t wake;      /* signals stopping to the writer (monotonic clock) */
	int write_failed;         /* a write error was logged already */
};

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The server clock (under lock): the wall clock, never going backwards. */
static int64_t now_us_locked(fake_record *r)
{
	int64_t t = wall_us();

	if (t < r->last_us)
		t = r->last_us;
	r->last_us = t;
	return t;
}

/* Move the window's end to now_ms, emptying the slots that leave it. */
static void window_advance(fake_record *r, int64_t now_ms)
{
	if (now_ms <= r->head_ms)
		return;
	if (now_ms - r->head_ms >= FAKE_RECORD_WINDOW_MS) {
		memset(r->ring, 0, sizeof(r->ring));
		r->win_msgs = 0;
		r->win_segs = 0;
	} else {
		for (int64_t ms = r->head_ms + 1; ms <= now_ms; ms++) {
			struct slot *s = &r->ring[ms % FAKE_RECORD_WINDOW_MS];
			r->win_msgs -= s->msgs;
			r->win_segs -= s->segs;
			s->msgs = 0;
			s->segs = 0;
		}
	}
	r->head_ms = now_ms;
}

static uint64_t weight(const fake_record *r, const struct fake_msg *m)
{
	return r->count_segments ? m->segments : 1;
}

static void accept_one(fake_record *r, struct fake_msg *m, int64_t now_ms)
{
	struct slot *s = &r->ring[now_ms % FAKE_RECORD_WINDOW_MS];

	m->outcome = FAKE_ACCEPTED;
	if (r->bucket)
		r->tokens -= (double)weight(r, m);
	s->msgs++;
	s->segs += m->segments;
	r->win_msgs++;
	r->win_segs += m->segments;
	if (r->win_msgs > r->st.max_accepted_1s)
		r->st.max_accepted_1s = r->win_msgs;
	if (r->win_segs > r->st.max_accepted_segments_1s)
		r->st.max_accepted_segments_1s = r->win_segs;
	r->st.accepted++;
	r->st.accepted_segments += m->segments;
	if (fake_keyset_add(r->keys, m->key, m->key_len))
		r->st.unique_accepted++;
	else
		r->st.duplicates++;
	if (r->st.first_accept_ms < 0)
		r->st.first_accept_ms = now_ms;
	r->st.last_accept_ms = now_ms;
}

static int fits(const fake_record *r, uint64_t w)
{
	uint64_t in_window = r->count_segments ? r->win_segs : r->win_msgs;

	if (r->bucket)
		return r->limit == 0 || r->tokens >= (double)w;
	return r->limit == 0 || in_window + w <= r->limit;
}

/* Bucket: refill up to its size for the time since t_us. */
static void bucket_refill(fake_record *r, int64_t t_us)
{
	if (!r->bucket || r->limit == 0)
		return;
	r->tokens += (double)(t_us - r->tokens_us) * r->rate;
	if (r->tokens > r->size)
		r->tokens = r->size;
	r->tokens_us = t_us;
}

int64_t fake_record_admit(fake_record *r, struct fake_msg *msgs, size_t n,
			  enum fake_admit_mode mode)
{
	pthread_mutex_lock(&r->lock);
	int64_t t = now_us_locked(r);
	int64_t now_ms = t / 1000;
	int batch_fits = 1;

	window_advance(r, now_ms);
	bucket_refill(r, t);
	if (mode == FAKE_ADMIT_ALL) {
		uint64_t total = 0;
		for (size_t i = 0; i < n; i++)
			if (msgs[i].reject == FAKE_REJECT_NONE)
				total += weight(r, &msgs[i]);
		batch_fits = fits(r, total);
	}
	for (size_t i = 0; i < n; i++) {
		struct fake_msg *m = &msgs[i];

		r->st.messages++;
		if (m->reject != FAKE_REJECT_NONE) {
			m->outcome = FAKE_REJECTED;
			r->st.rejected++;
		} else if (mode == FAKE_ADMIT_ALL ? batch_fits : fits(r, weight(r, m))) {
			accept_one(r, m, now_ms);
		} else {
			m->outcome = FAKE_THROTTLED;
			r->st.throttled++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return t;
}

int64_t fake_record_fail(fake_record *r, struct fake_msg *msgs, size_t n,
			 enum fake_outcome outcome)
{
	for (size_t i = 0; i < n; i++)
		msgs[i].outcome = outcome;
	pthread_mutex_lock(&r->lock);
	int64_t t = now_us_locked(r);
	r->st.messages += n;
	if (outcome == FAKE_UNAUTHORIZED)
		r->st.unauthorized_messages += n;
	else
		r->st.error_messages += n;
	pthread_mutex_unlock(&r->lock);
	return t;
}

void fake_record_request(fake_record *r)
{
	pthread_mutex_lock(&r->lock);
	r->st.requests++;
	pthread_mutex_unlock(&r->lock);
}

void fake_record_answered(fake_record *r, int status, int unauthorized)
{
	if (status < 500 && !unauthorized)
		return;
	pthread_mutex_lock(&r->lock);
	if (unauthorized)
		r->st.unauthorized++;
	else
		r->st.errors++;
	pthread_mutex_unlock(&r->lock);
}

void fake_record_unanswered(fake_record *r, int hung)
{
	pthread_mutex_lock(&r->lock);
	if (hung)
		r->st.hung++;
	else
		r->st.dropped++;
	pthread_mutex_unlock(&r->lock);
}

void fake_record_stats(fake_record *r, struct fake_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->st;
	pthread_mutex_unlock(&r->lock);
}

static const char *outcome_name(enum fake_outcome o)
{
	switch (o) {
	case FAKE_ACCEPTED: return "accepted";
	case FAKE_REJECTED: return "rejected";
	case FAKE_THROTTLED: return "throttled";
	case FAKE_ERROR: return "error";
	case FAKE_UNAUTHORIZED: return "unauthorized";
	case FAKE_PENDING: break;
	}
	return "pending";
}

/* Copy at most max bytes of s[0..len) to out, control bytes as '?'.
 * Returns the bytes written. */
static size_t put_field(char *out, const char *s, size_t len, size_t max)
{
	if (len > max)
		len = max;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	return len;
}

/* Format one line into line (RECORD_LINE_MAX bytes); returns its length. */
static size_t format_line(char *line, const char *api, const struct fake_msg *m,
			  int status, int64_t t_us)
{
	size_t n = (size_t)snprintf(line, RECORD_LINE_MAX, "%lld.%03lld\t%s\t",
				    (long long)(t_us / 1000), (long long)(t_us % 1000), api);
	n += put_field(line + n, m->key, m->key_len, FAKE_KEY_MAX);
	line[n++] = '\t';
	n += put_field(line + n, m->to, strlen(m->to), RECORD_TO_MAX);
	n += (size_t)snprintf(line + n, RECORD_LINE_MAX - n, "\t%u\t%d\t%s\t", m->segments,
			      status, outcome_name(m->outcome));
	if (m->text != NULL)
		n += put_field(line + n, m->text, strlen(m->text), RECORD_TEXT_MAX);
	line[n++] = '\n';
	return n;
}

/* Append one line to the buffer (under lock), or count it dropped when
 * the buffer is full. */
static void append_locked(fake_record *r, const char *line, size_t len)
{
	if (r->len + len > FAKE_RECORD_BUF_MAX) {
		r->st.record_dropped++;
		return;
	}
	if (r->len + len > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 1u << 16;
		while (cap < r->len + len)
			cap *= 2;
		r->buf = xrealloc(r->buf, cap);
		r->cap = cap;
	}
	memcpy(r->buf + r->len, line, len);
	r->len += len;
}

void fake_record_log(fake_record *r, const char *api, const struct fake_msg *msgs,
		     size_t n, int status, int64_t t_us)
{
	char line[RECORD_LINE_MAX];

	if (r->fd < 0 || n == 0)
		return;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++)
		append_locked(r, line, format_line(line, api, &msgs[i], status, t_us));
	pthread_mutex_unlock(&r->lock);
}

/* Format one receipt line into line (RECEIPT_LINE_MAX bytes); returns its
 * length. */
static size_t format_receipt(char *line, const struct fake_record_receipt *rc, int64_t t_us)
{
	size_t n = (size_t)snprintf(line, RECEIPT_LINE_MAX, "%lld.%03lld\t%s\treceipt\t",
				    (long long)(t_us / 1000), (long long)(t_us % 1000), rc->api);

	n += put_field(line + n, rc->ref, strlen(rc->ref), FAKE_KEY_MAX);
	line[n++] = '\t';
	n += put_field(line + n, rc->to, strlen(rc->to), RECORD_TO_MAX);
	n += (size_t)snprintf(line + n, RECEIPT_LINE_MAX - n, "\t%d\t%s\t%s\t%u\t", rc->status,
			      rc->report, rc->flags, rc->attempts);
	n += put_field(line + n, rc->provider_status, strlen(rc->provider_status),
		       RECEIPT_WORD_MAX);
	line[n++] = '\t';
	n += put_field(line + n, rc->error, strlen(rc->error), RECEIPT_WORD_MAX);
	line[n++] = '\n';
	return n;
}

void fake_record_receipts(fake_record *r, const struct fake_record_receipt *rcs, size_t n)
{
	char line[RECEIPT_LINE_MAX];

	if (r->fd < 0 || n == 0)
		return;
	pthread_mutex_lock(&r->lock);
	int64_t t = now_us_locked(r);
	for (size_t i = 0; i < n; i++)
		append_locked(r, line, format_receipt(line, &rcs[i], t));
	pthread_mutex_unlock(&r->lock);
}

/* Write buf[0..len) to the file; on error log once and count the lines. */
static void write_all(fake_record *r, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(r->fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			uint64_t lost = 0;
			for (size_t i = off; i < len; i++)
				lost += buf[i] == '\n';
			pthread_mutex_lock(&r->lock);
			r->st.record_dropped += lost;
			int first = !r->write_failed;
			r->write_failed = 1;
			pthread_mutex_unlock(&r->lock);
			if (first)
				log_error("record file: write: %s (lines are being lost)",
					  strerror(errno));
			return;
		}
		off += (size_t)w;
	}
}

static void *writer_main(void *arg)
{
	fake_record *r = arg;
	char *spare = NULL;
	size_t spare_cap = 0;
	int stop = 0;

	while (!stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += FAKE_RECORD_FLUSH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&r->lock);
		while (!r->stopping) {
			if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
				break;
		}
		stop = r->stopping;
		/* Swap the buffers: the HTTP threads go on appending meanwhile. */
		char *full = r->buf;
		size_t len = r->len, cap = r->cap;
		r->buf = spare;
		r->cap = spare_cap;
		r->len = 0;
		pthread_mutex_unlock(&r->lock);
		if (len > 0)
			write_all(r, full, len);
		spare = full;
		spare_cap = cap;
	}
	free(spare);
	return NULL;
}

fake_record *fake_record_new(const struct fake_record_opts *opts, char *err, size_t errlen)
{
	fake_record *r = xcalloc(1, sizeof(*r));
	pthread_condattr_t ca;

	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	r->keys = fake_keyset_new();
	r->limit = opts->rate_limit ? opts->rate_limit + opts->burst : 0;
	r->bucket = opts->bucket;
	r->rate = (double)opts->rate_limit / 1e6;
	r->size = opts->burst > 0 ? (double)opts->burst : 1.0;
	r->tokens = r->size;
	r->tokens_us = wall_us();
	r->count_segments = opts->count_segments;
	r->st.first_accept_ms = -1;
	r->st.last_accept_ms = -1;
	r->fd = -1;
	if (opts->path == NULL)
		return r;
	r->fd = open(opts->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (r->fd < 0) {
		snprintf(err, errlen, "record file %s: %s", opts->path, strerror(errno));
		goto fail;
	}
	int rc = pthread_create(&r->writer, NULL, writer_main, r);
	if (rc != 0) {
		snprintf(err, errlen, "record writer thread: %s", strerror(rc));
		goto fail;
	}
	r->writer_started = 1;
	return r;
fail:
	fake_record_destroy(&r);
	return NULL;
}

void fake_record_destroy(fake_record **rp)
{
	if (rp == NULL || *rp == NULL)
		return;
	fake_record *r = *rp;
	if (r->writer_started) {
		pthread_mutex_lock(&r->lock);
		r->stopping = 1;
		pthread_cond_signal(&r->wake);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->writer, NULL);
	}
	if (r->fd >= 0 && close(r->fd) != 0)
		log_error("record file: close: %s", strerror(errno));
	free(r->buf);
	fake_keyset_destroy(&r->keys);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
	*rp = NULL;
}
