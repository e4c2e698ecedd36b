/*
 * hmac: message authentication codes (see hmac.h).
 *
 * DESIGN
 * OpenSSL's one-shot HMAC(): no state kept, nothing to free; a key longer
 * than the hash's block is hashed first, as RFC 2104 says (OpenSSL does it).
 */
#include "common/hmac.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
		    char out[HMAC_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	out[0] = '\0';
	if (key_len > (size_t)INT_MAX ||
	    HMAC(EVP_sha256(), key, (int)key_len, data, len, mac, &mac_len) == NULL ||
	    mac_len != 32)
		return -1;
	for (unsigned int i = 0; i < mac_len; i++) {
		out[2 * i] = digits[mac[i] >> 4];
		out[2 * i + 1] = digits[mac[i] & 15];
	}
	out[2 * mac_len] = '\0';
	return 0;
}
