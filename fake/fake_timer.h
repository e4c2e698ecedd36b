/*
 * fake_timer: wakes suspended requests of the fake provider later, without
 * blocking an HTTP thread: the answers delayed by --latency-ms, and the
 * requests held forever by --hang-rate (woken when their client hangs up,
 * at a ceiling, or at shutdown).
 *
 * Items are opaque pointers; the wake callback runs on the timer's thread
 * (or on the caller's, see below) exactly once per item added.  The timer
 * never touches an item after waking it.
 *
 * Threads: fake_timer_at() and fake_timer_hold() may be called from any
 * thread.  Once fake_timer_stop() has begun, every item is woken now: the
 * pending ones by the stopping thread, new ones by the thread adding them.
 */
#ifndef SMSQ_FAKE_TIMER_H
#define SMSQ_FAKE_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

#ifndef FAKE_WARN_UNUSED
#define FAKE_WARN_UNUSED SMSQ_WARN_UNUSED
#endif

#define FAKE_TIMER_HOLD_POLL_MS 100   /* how often held clients are checked */

typedef struct fake_timer fake_timer;

/* Called once per item when it is due (or released). */
typedef void (*fake_timer_wake_fn)(void *item, void *cls);

/* Start the timer thread.  Returns the timer, or NULL with err set.
 * Caller destroys with fake_timer_destroy(). */
fake_timer *fake_timer_new(fake_timer_wake_fn wake, void *cls, char *err, size_t errlen)
	FAKE_WARN_UNUSED SMSQ_WARN_UNUSED;

/* Wake item at due_ms (CLOCK_MONOTONIC milliseconds). */
void fake_timer_at(fake_timer *t, int64_t due_ms, void *item);

/* Hold item until the peer of socket fd closes its side (checked every
 * FAKE_TIMER_HOLD_POLL_MS), or until_ms (CLOCK_MONOTONIC ms), whichever
 * comes first.  The timer only poll()s fd; it never reads or closes it. */
void fake_timer_hold(fake_timer *t, void *item, int fd, int64_t until_ms);

/* Wake every pending item now, stop the thread.  Idempotent. */
void fake_timer_stop(fake_timer *t);

/* Stop (if needed) and free; *t = NULL.  Accepts NULL and *t == NULL. */
void fake_timer_destroy(fake_timer **t);

#endif
