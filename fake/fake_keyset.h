/*
 * fake_keyset: the set of message keys the fake provider has accepted, so
 * that it can count duplicates (the same key accepted twice = an SMS the
 * patient received twice).
 *
 * Keys are byte strings of at most FAKE_KEY_MAX bytes, kept exactly (not
 * only their hash), so the duplicate count is exact.  Memory: about
 * 40 bytes per key plus the key itself (1,000,000 keys of 20 bytes: ~60 MiB).
 *
 * Not thread-safe: the caller (fake_record) holds its lock.
 */
#ifndef SMSQ_FAKE_KEYSET_H
#define SMSQ_FAKE_KEYSET_H

#include <stddef.h>

#include "common/attrs.h"

typedef struct fake_keyset fake_keyset;

/* An empty set.  Never NULL (allocation failure aborts).  Caller destroys. */
fake_keyset *fake_keyset_new(void) SMSQ_WARN_UNUSED;

/* Free the set and set *ks to NULL.  Accepts NULL and *ks == NULL. */
void fake_keyset_destroy(fake_keyset **ks);

/* Add key[0..len) (len <= FAKE_KEY_MAX; longer keys are cut there).
 * Returns 1 if it was not in the set (now it is), 0 if it already was. */
int fake_keyset_add(fake_keyset *ks, const char *key, size_t len) SMSQ_WARN_UNUSED;

/* The number of keys in the set. */
size_t fake_keyset_count(const fake_keyset *ks);

#endif
