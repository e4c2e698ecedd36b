/*
 * clock: the two clocks smsq uses, in milliseconds.
 *
 * clock_wall_ms() is what is stored (created, not-before, expiry, retry and
 * lease times are shared by processes and survive restarts, so they must be
 * wall-clock).  clock_mono_ms() measures intervals inside one process
 * (timeouts, rates) and never jumps; clock_mono_ns() is the same clock in
 * nanoseconds, for pacing (and shared by the processes of one boot: the
 * pacing file).
 */
#ifndef SMSQ_CLOCK_H
#define SMSQ_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
