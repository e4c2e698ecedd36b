/*
 * seal: authenticated encryption of small fields at rest, and keyed hashes,
 * under one 32-byte key (the store's store.encrypt_key_file).  The one
 * module that includes sodium.h.
 *
 * Contract
 * - A seal is XChaCha20-Poly1305 (IETF), detached: the ciphertext is as
 *   long as the plaintext, and SEAL_BYTES more (a random nonce, the tag)
 *   are kept beside it.  Additional data (the message id) is bound to it:
 *   a ciphertext opened with other additional data fails like a tampered
 *   one.
 * - Keyed hashes are BLAKE2b of SEAL_HASH_BYTES under a subkey derived from
 *   the key (crypto_kdf), never the key itself; so are the seals'.
 */
#ifndef SMSQ_SEAL_H
#define SMSQ_SEAL_H

#include <stddef.h>

#include "common/attrs.h"

#define SEAL_KEY_BYTES 32   /* the key */
#define SEAL_KEY_HEX 64     /* the key as a key file holds it, hex digits */
#define SEAL_NONCE_BYTES 24 /* the random nonce of one seal */
#define SEAL_TAG_BYTES 16   /* its authentication tag */
#define SEAL_BYTES (SEAL_NONCE_BYTES + SEAL_TAG_BYTES) /* kept beside a ciphertext */
#define SEAL_HASH_BYTES 16  /* a keyed hash */

typedef struct seal seal;

/*
 * Read the key of a key file: SEAL_KEY_HEX hex digits (a trailing newline
 * allowed), the file checked as secret_read() does (refused when others
 * may read it).  Returns 0 with key[SEAL_KEY_BYTES] set, or -1 with err
 * naming path (never the key).
 */
int seal_key_read(const char *path, unsigned char *key, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * A new random key as SEAL_KEY_HEX hex digits and a NUL into hex
 * (SEAL_KEY_HEX + 1 bytes).  Returns 0, or -1 when the library cannot
 * start.
 */
int seal_key_make(char *hex) SMSQ_WARN_UNUSED;

/* A sealer under key (SEAL_KEY_BYTES, copied: the caller may wipe it), or
 * NULL with err (the library cannot start, out of memory).  Caller
 * destroys with seal_destroy(). */
seal *seal_new(const unsigned char *key, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Wipe and free *sp, set it to NULL.  Accepts NULL and *sp == NULL. */
void seal_destroy(seal **sp);

/*
 * Encrypt len bytes at m into c (len bytes; may not overlap m), bound to
 * ad (adlen bytes); the nonce and the tag go to trailer (SEAL_BYTES).
 */
void seal_close(const seal *sl, void *c, const void *m, size_t len, const void *ad, size_t adlen,
		unsigned char *trailer);

/*
 * Decrypt len bytes at c into m (len bytes; may not overlap c) with the
 * trailer seal_close() wrote.  Returns 0, or -1 (m then zeros) when the
 * ciphertext, the trailer or ad is not what was sealed, or the key is
 * another.
 */
int seal_open(const seal *sl, void *m, const void *c, size_t len, const void *ad, size_t adlen,
	      const unsigned char *trailer) SMSQ_WARN_UNUSED;

/* The keyed hash of len bytes at m into out (SEAL_HASH_BYTES). */
void seal_hash(const seal *sl, unsigned char *out, const void *m, size_t len);

#endif
