/*
 * hmac: message authentication codes (see hmac.h).
 *
 * DESIGN
 * OpenSSL's one-shot HMAC(): no state kept, nothing to free; a key longer
 * than the hash's block is hashed first, as RFC 2104 says (OpenSSL does it).
 * Base64 is OpenSSL's EVP_EncodeBlock() (standard alphabet, padded, no line
 * breaks).  hmac_equal() compares with CRYPTO_memcmp(), which reads every
 * byte whatever it finds; a length that differs is answered at once, which
 * tells a caller the length of a secret (a signature's is public anyway).
 */
#include "common/hmac.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SHA1_BYTES 20
#define SHA256_BYTES 32

/* HMAC of data under key with md into mac; its length, or 0 on failure. */
static unsigned int mac_of(const EVP_MD *md, const void *key, size_t key_len, const void *data,
			   size_t len, unsigned char mac[EVP_MAX_MD_SIZE])
{
	unsigned int mac_len = 0;

	if (key_len > (size_t)INT_MAX ||
	    HMAC(md, key, (int)key_len, data, len, mac, &mac_len) == NULL)
		return 0;
	return mac_len;
}

int hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
		    char out[HMAC_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = mac_of(EVP_sha256(), key, key_len, data, len, mac);

	out[0] = '\0';
	if (mac_len != SHA256_BYTES)
		return -1;
	for (unsigned int i = 0; i < mac_len; i++) {
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 15];
	}
	out[2 * mac_len] = '\0';
	return 0;
}

int hmac_sha1_base64(const void *key, size_t key_len, const void *data, size_t len,
		     char out[HMAC_SHA1_BASE64])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = mac_of(EVP_sha1(), key, key_len, data, len, mac);

	out[0] = '\0';
	if (mac_len != SHA1_BYTES)
		return -1;
	/* 20 bytes are 28 characters; EVP_EncodeBlock writes the NUL too. */
	if (EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len) != HMAC_SHA1_BASE64 - 1) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int hmac_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return 0;
	if (alen == 0)
		return 1;
	return CRYPTO_memcmp(a, b, alen) == 0;
}
