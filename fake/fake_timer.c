/*
 * fake_timer: one thread that wakes delayed and held items (see
 * fake_timer.h).
 *
 * DESIGN
 * Delayed items sit in a min-heap on their due time (fake_heap); held
 * items in an array with their socket and ceiling.  The thread sleeps on a condition
 * variable (CLOCK_MONOTONIC) until the earliest due time, or the next check
 * of the held sockets; an item added with an earlier due time signals it.
 * Held sockets are checked with one poll() of timeout 0 under the lock for
 * POLLRDHUP/POLLHUP/POLLERR only: data the client pipelines behind its
 * request is not a hang-up.  Wake callbacks run outside the lock, so they
 * may take other locks (libmicrohttpd's) freely.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "fake/fake_timer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "fake/fake_heap.h"

struct held {
	void *item;             /* what */
	int fd;                 /* its client socket */
	int64_t until_ms;       /* ceiling */
};

struct fake_timer {
	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t cond;    /* work or stop for the thread */
	fake_heap *heap;        /* delayed items on their due time */
	struct held *held;      /* held items */
	size_t n_held;          /* used */
	size_t cap_held;        /* allocated */
	int stopping;           /* 1: wake everything, exit */
	int stopped;            /* 1: the thread has been joined */
	pthread_t thread;       /* the timer thread */
	fake_timer_wake_fn wake;/* callback */
	void *cls;              /* its closure */
};

/* A growing list of items to wake, local to the thread. */
struct wakes {
	void **items;           /* the items */
	size_t n;               /* used */
	size_t cap;             /* allocated */
};

static void wakes_add(struct wakes *w, void *item)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->items = xrealloc(w->items, w->cap * sizeof(*w->items));
	}
	w->items[w->n++] = item;
}

/* Move the held items whose client left, or whose ceiling passed, to w. */
static void check_held(fake_timer *t, int64_t now_ms, struct wakes *w)
{
	struct pollfd *p = xcalloc(t->n_held, sizeof(*p));

	for (size_t i = 0; i < t->n_held; i++) {
		p[i].fd = t->held[i].fd;
		p[i].events = POLLRDHUP;
	}
	int rc = poll(p, t->n_held, 0);
	size_t keep = 0;
	for (size_t i = 0; i < t->n_held; i++) {
		int gone = rc > 0 && (p[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
		if (gone || now_ms >= t->held[i].until_ms)
			wakes_add(w, t->held[i].item);
		else
			t->held[keep++] = t->held[i];
	}
	t->n_held = keep;
	free(p);
}

static void deadline(struct timespec *ts, int64_t at_ms)
{
	ts->tv_sec = (time_t)(at_ms / 1000);
	ts->tv_nsec = (long)(at_ms % 1000) * 1000000L;
}

static void *timer_main(void *arg)
{
	fake_timer *t = arg;
	struct wakes w = { 0 };
	int64_t next_check = 0;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		int64_t now = clock_mono_ms(), at;
		void *item;

		while (fake_heap_peek(t->heap, &at, NULL, NULL) && at <= now) {
			(void)fake_heap_pop(t->heap, &item, NULL);
			wakes_add(&w, item);
		}
		if (t->n_held > 0 && now >= next_check) {
			check_held(t, now, &w);
			next_check = now + FAKE_TIMER_HOLD_POLL_MS;
		}
		if (w.n > 0) {
			pthread_mutex_unlock(&t->lock);
			for (size_t i = 0; i < w.n; i++)
				t->wake(w.items[i], t->cls);
			w.n = 0;
			pthread_mutex_lock(&t->lock);
			continue;
		}
		int64_t until = INT64_MAX;
		if (fake_heap_peek(t->heap, &at, NULL, NULL))
			until = at;
		if (t->n_held > 0 && next_check < until)
			until = next_check;
		if (until == INT64_MAX) {
			pthread_cond_wait(&t->cond, &t->lock);
		} else {
			struct timespec ts;
			deadline(&ts, until);
			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		}
	}
	/* Stopping: everything goes now. */
	void *item;
	while (fake_heap_pop(t->heap, &item, NULL))
		wakes_add(&w, item);
	for (size_t i = 0; i < t->n_held; i++)
		wakes_add(&w, t->held[i].item);
	t->n_held = 0;
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 0; i < w.n; i++)
		t->wake(w.items[i], t->cls);
	free(w.items);
	return NULL;
}

fake_timer *fake_timer_new(fake_timer_wake_fn wake, void *cls, char *err, size_t errlen)
{
	fake_timer *t = xcalloc(1, sizeof(*t));
	pthread_condattr_t ca;

	t->wake = wake;
	t->cls = cls;
	t->heap = fake_heap_new();
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&t->thread, NULL, timer_main, t);
	if (rc != 0) {
		snprintf(err, errlen, "timer thread: %s", strerror(rc));
		t->stopped = 1;
		fake_timer_destroy(&t);
		return NULL;
	}
	return t;
}

void fake_timer_at(fake_timer *t, int64_t due_ms, void *item)
{
	pthread_mutex_lock(&t->lock);
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		t->wake(item, t->cls);
		return;
	}
	int64_t first;
	int earliest = !fake_heap_peek(t->heap, &first, NULL, NULL) || due_ms < first;
	fake_heap_push(t->heap, due_ms, item, 0);
	if (earliest)
		pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void fake_timer_hold(fake_timer *t, void *item, int fd, int64_t until_ms)
{
	pthread_mutex_lock(&t->lock);
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		t->wake(item, t->cls);
		return;
	}
	if (t->n_held == t->cap_held) {
		t->cap_held = t->cap_held ? t->cap_held * 2 : 64;
		t->held = xrealloc(t->held, t->cap_held * sizeof(*t->held));
	}
	t->held[t->n_held].item = item;
	t->held[t->n_held].fd = fd;
	t->held[t->n_held].until_ms = until_ms;
	if (t->n_held++ == 0)
		pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void fake_timer_stop(fake_timer *t)
{
	pthread_mutex_lock(&t->lock);
	int join = !t->stopped;
	t->stopping = 1;
	t->stopped = 1;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (join)
		pthread_join(t->thread, NULL);
}

void fake_timer_destroy(fake_timer **tp)
{
	if (tp == NULL || *tp == NULL)
		return;
	fake_timer *t = *tp;
	fake_timer_stop(t);
	fake_heap_destroy(&t->heap);
	free(t->held);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	free(t);
	*tp = NULL;
}
