/*
 * fake_heap: a binary min-heap of items on a due time, for the fake
 * provider's timers (the delayed answers of fake_timer, the delivery
 * reports and retries of fake_callbacks).
 *
 * Items with the same due time come out in the order they went in (a
 * sequence number breaks ties), so a run with the same inputs pops the
 * same order.  Each entry carries an opaque item and a small tag the
 * owner may use to tell its kinds of items apart.
 *
 * Memory: 32 bytes per entry, grown by doubling, never shrunk.
 *
 * Not thread-safe: the owner holds its own lock, or owns the heap from
 * one thread.
 */
#ifndef SMSQ_FAKE_HEAP_H
#define SMSQ_FAKE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

typedef struct fake_heap fake_heap;

/* An empty heap.  Never NULL (allocation failure aborts).  Caller
 * destroys with fake_heap_destroy(). */
fake_heap *fake_heap_new(void) SMSQ_WARN_UNUSED;

/* Free the heap (not the items) and set *h to NULL.  Accepts NULL and
 * *h == NULL. */
void fake_heap_destroy(fake_heap **h);

/* Add item with tag, due at at_ms (any clock, the owner's). */
void fake_heap_push(fake_heap *h, int64_t at_ms, void *item, uint32_t tag);

/* The earliest entry without removing it: 1 with *at_ms, *item and *tag
 * set (each may be NULL), or 0 when the heap is empty. */
int fake_heap_peek(const fake_heap *h, int64_t *at_ms, void **item, uint32_t *tag);

/* Remove the earliest entry: 1 with *item and *tag set (each may be
 * NULL), or 0 when the heap is empty. */
int fake_heap_pop(fake_heap *h, void **item, uint32_t *tag);

/* The number of entries. */
size_t fake_heap_size(const fake_heap *h);

#endif
