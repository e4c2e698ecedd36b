/*
 * fake_heap: a binary min-heap on (due time, sequence number) (see
 * fake_heap.h).
 *
 * DESIGN
 * The classic array heap: entry i has its children at 2i+1 and 2i+2, and
 * no child is earlier than its parent.  The key is the pair (at_ms, seq):
 * seq grows with every push, so two entries never compare equal and equal
 * due times keep their insertion order.
 */
#include "fake/fake_heap.h"

#include <stdlib.h>

#include "common/xalloc.h"

#define HEAP_INITIAL 256   /* entries allocated at the first push */

struct entry {
	int64_t at_ms;        /* due time */
	uint64_t seq;         /* insertion number: ties keep their order */
	void *item;           /* the owner's item */
	uint32_t tag;         /* the owner's tag */
};

struct fake_heap {
	struct entry *v;      /* the heap array */
	size_t n;             /* entries used */
	size_t cap;           /* entries allocated */
	uint64_t next_seq;    /* seq of the next push */
};

/* Whether a comes out before b. */
static int before(const struct entry *a, const struct entry *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

fake_heap *fake_heap_new(void)
{
	return xcalloc(1, sizeof(fake_heap));
}

void fake_heap_destroy(fake_heap **h)
{
	if (h == NULL || *h == NULL)
		return;
	free((*h)->v);
	free(*h);
	*h = NULL;
}

void fake_heap_push(fake_heap *h, int64_t at_ms, void *item, uint32_t tag)
{
	struct entry e = { at_ms, h->next_seq++, item, tag };
	size_t i;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : HEAP_INITIAL;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = e;
}

int fake_heap_peek(const fake_heap *h, int64_t *at_ms, void **item, uint32_t *tag)
{
	if (h->n == 0)
		return 0;
	if (at_ms != NULL)
		*at_ms = h->v[0].at_ms;
	if (item != NULL)
		*item = h->v[0].item;
	if (tag != NULL)
		*tag = h->v[0].tag;
	return 1;
}

int fake_heap_pop(fake_heap *h, void **item, uint32_t *tag)
{
	struct entry last;
	size_t i = 0;

	if (!fake_heap_peek(h, NULL, item, tag))
		return 0;
	last = h->v[--h->n];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = last;
	return 1;
}

size_t fake_heap_size(const fake_heap *h)
{
	return h->n;
}
