/*
 * stop: a process's "stop now" flag, raised by SIGTERM and SIGINT.
 *
 * The pool's children (workers, the monitor, the outcome pusher, the
 * receipt endpoint) each run one loop until asked to stop; this is the
 * flag they look at and the handlers that raise it.  The handlers are set
 * without SA_RESTART: a blocking call (poll, a condition wait) returns
 * early, and the loop sees the flag at once.
 */
#ifndef SMSQ_STOP_H
#define SMSQ_STOP_H

#include <signal.h>

/* 1 once SIGTERM or SIGINT came (after stop_on_signals()). */
extern volatile sig_atomic_t stop_asked;

/* Raise stop_asked on SIGTERM and SIGINT from now on. */
void stop_on_signals(void);

#endif
