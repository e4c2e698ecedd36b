/*
 * seal: encryption at rest with libsodium (see seal.h).
 *
 * DESIGN
 *
 * The key file's key is never used as it is: crypto_kdf derives one subkey
 * for the seals and one for the keyed hashes (context "smsqseal", ids
 * SUBKEY_AEAD and SUBKEY_HASH), so that a hash published somewhere says
 * nothing of the other.  The subkeys live in one allocation, wiped when
 * it is freed.  Nonces are random (XChaCha20's 24 bytes make a collision
 * negligible), so a seal needs no counter kept anywhere.
 */
#include "common/seal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"

#define SEAL_KDF_CONTEXT "smsqseal" /* crypto_kdf_CONTEXTBYTES (8) characters */
#define SUBKEY_AEAD 1
#define SUBKEY_HASH 2

struct seal {
	unsigned char aead[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	unsigned char hash[crypto_generichash_KEYBYTES];
};

int seal_key_read(const char *path, unsigned char *key, char *err, size_t errlen)
{
	char text[SEAL_KEY_HEX + 8];
	size_t got = 0;
	ssize_t n = secret_read(path, text, sizeof(text), err, errlen);
	int ret = -1;

	if (n < 0)
		goto out;
	if (n != SEAL_KEY_HEX ||
	    sodium_hex2bin(key, SEAL_KEY_BYTES, text, (size_t)n, NULL, &got, NULL) != 0 ||
	    got != SEAL_KEY_BYTES) {
		snprintf(err, errlen, "%s: not a key: %d hex digits expected (smsqctl keygen --store)",
			 path, SEAL_KEY_HEX);
		goto out;
	}
	ret = 0;
out:
	secret_wipe(text, sizeof(text));
	if (ret != 0)
		secret_wipe(key, SEAL_KEY_BYTES);
	return ret;
}

int seal_key_make(char *hex)
{
	unsigned char key[SEAL_KEY_BYTES];

	if (sodium_init() < 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, SEAL_KEY_HEX + 1, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	return 0;
}

seal *seal_new(const unsigned char *key, char *err, size_t errlen)
{
	seal *sl;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "seal: libsodium cannot start");
		return NULL;
	}
	sl = malloc(sizeof(*sl));
	if (sl == NULL) {
		snprintf(err, errlen, "seal: out of memory");
		return NULL;
	}
	if (crypto_kdf_derive_from_key(sl->aead, sizeof(sl->aead), SUBKEY_AEAD, SEAL_KDF_CONTEXT,
				       key) != 0 ||
	    crypto_kdf_derive_from_key(sl->hash, sizeof(sl->hash), SUBKEY_HASH, SEAL_KDF_CONTEXT,
				       key) != 0) {
		snprintf(err, errlen, "seal: cannot derive the subkeys");
		seal_destroy(&sl);
		return NULL;
	}
	return sl;
}

void seal_destroy(seal **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	sodium_memzero(*sp, sizeof(**sp));
	free(*sp);
	*sp = NULL;
}

void seal_close(const seal *sl, void *c, const void *m, size_t len, const void *ad, size_t adlen,
		unsigned char *trailer)
{
	randombytes_buf(trailer, SEAL_NONCE_BYTES);
	/* Cannot fail for these sizes (it returns 0 always). */
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
		c, trailer + SEAL_NONCE_BYTES, NULL, m, len, ad, adlen, NULL, trailer, sl->aead);
}

int seal_open(const seal *sl, void *m, const void *c, size_t len, const void *ad, size_t adlen,
	      const unsigned char *trailer)
{
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		    m, NULL, c, len, trailer + SEAL_NONCE_BYTES, ad, adlen, trailer, sl->aead) != 0) {
		sodium_memzero(m, len);
		return -1;
	}
	return 0;
}

void seal_hash(const seal *sl, unsigned char *out, const void *m, size_t len)
{
	(void)crypto_generichash(out, SEAL_HASH_BYTES, m, len, sl->hash, sizeof(sl->hash));
}
