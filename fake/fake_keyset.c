/*
 * fake_keyset: an insert-only hash set of byte strings (see fake_keyset.h).
 *
 * DESIGN
 * Open addressing with linear probing over a power-of-two table of slots;
 * a slot holds the key's 64-bit hash and a pointer to the key, stored
 * length-prefixed in an arena of large chunks that never move (so growing
 * the table rehashes 16-byte slots, never copies keys).  The table doubles
 * when it is 70% full.  Nothing is ever removed, which is what keeps the
 * probing simple: no tombstones.
 */
#include "fake/fake_keyset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "fake/fake_msg.h"
#include "fake/fake_sms.h"

#define KEYSET_INITIAL_SLOTS 4096         /* power of two */
#define KEYSET_LOAD_NUM 7                 /* grow above 7/10 full */
#define KEYSET_LOAD_DEN 10
#define KEYSET_CHUNK_BYTES (1u << 20)     /* arena chunk size */

struct slot {
	uint64_t hash;            /* mixed hash of the key (0 only if key == NULL) */
	const unsigned char *key; /* length-prefixed key in the arena, NULL = empty */
};

struct chunk {
	struct chunk *next;       /* older chunk */
	size_t used;              /* bytes used in data */
	unsigned char data[];     /* KEYSET_CHUNK_BYTES of keys */
};

struct fake_keyset {
	struct slot *slots;       /* the table */
	size_t mask;              /* number of slots - 1 */
	size_t count;             /* keys stored */
	struct chunk *chunks;     /* arena, newest first */
};

fake_keyset *fake_keyset_new(void)
{
	fake_keyset *ks = xcalloc(1, sizeof(*ks));

	ks->slots = xcalloc(KEYSET_INITIAL_SLOTS, sizeof(struct slot));
	ks->mask = KEYSET_INITIAL_SLOTS - 1;
	return ks;
}

void fake_keyset_destroy(fake_keyset **ks)
{
	if (ks == NULL || *ks == NULL)
		return;
	struct chunk *c = (*ks)->chunks;
	while (c != NULL) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	free((*ks)->slots);
	free(*ks);
	*ks = NULL;
}

/* Key length stored as two bytes before the key (FAKE_KEY_MAX < 65536). */
static size_t stored_len(const unsigned char *k)
{
	return (size_t)k[0] << 8 | k[1];
}

static const unsigned char *arena_put(fake_keyset *ks, const char *key, size_t len)
{
	size_t need = len + 2;

	if (ks->chunks == NULL || ks->chunks->used + need > KEYSET_CHUNK_BYTES) {
		struct chunk *c = xmalloc(sizeof(*c) + KEYSET_CHUNK_BYTES);
		c->next = ks->chunks;
		c->used = 0;
		ks->chunks = c;
	}
	unsigned char *p = ks->chunks->data + ks->chunks->used;
	p[0] = (unsigned char)(len >> 8);
	p[1] = (unsigned char)(len & 0xff);
	memcpy(p + 2, key, len);
	ks->chunks->used += need;
	return p;
}

static void grow(fake_keyset *ks)
{
	size_t n = (ks->mask + 1) * 2;
	struct slot *slots = xcalloc(n, sizeof(struct slot));

	for (size_t i = 0; i <= ks->mask; i++) {
		if (ks->slots[i].key == NULL)
			continue;
		size_t j = ks->slots[i].hash & (n - 1);
		while (slots[j].key != NULL)
			j = (j + 1) & (n - 1);
		slots[j] = ks->slots[i];
	}
	free(ks->slots);
	ks->slots = slots;
	ks->mask = n - 1;
}

int fake_keyset_add(fake_keyset *ks, const char *key, size_t len)
{
	if (len > FAKE_KEY_MAX)
		len = FAKE_KEY_MAX;
	/* FNV-1a's low bits are weak for a power-of-two mask: mix them. */
	uint64_t h = fake_sms_mix64(fake_sms_fnv1a64(key, len));
	size_t i = h & ks->mask;

	while (ks->slots[i].key != NULL) {
		const unsigned char *k = ks->slots[i].key;
		if (ks->slots[i].hash == h && stored_len(k) == len &&
		    memcmp(k + 2, key, len) == 0)
			return 0;
		i = (i + 1) & ks->mask;
	}
	ks->slots[i].hash = h;
	ks->slots[i].key = arena_put(ks, key, len);
	ks->count++;
	if (ks->count * KEYSET_LOAD_DEN > (ks->mask + 1) * KEYSET_LOAD_NUM)
		grow(ks);
	return 1;
}

size_t fake_keyset_count(const fake_keyset *ks)
{
	return ks->count;
}
