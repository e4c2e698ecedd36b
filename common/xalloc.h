/*
 * xalloc: allocation for the service processes (worker, smsqctl, publish).
 *
 * Out of memory aborts the process: the queue is durable and the pool
 * restarts a dead worker, so there is nothing better to do (Redis zmalloc,
 * Postfix mymalloc).  The producer library does NOT use these: a library
 * returns an error instead.
 */
#ifndef SMSQ_XALLOC_H
#define SMSQ_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

#endif
