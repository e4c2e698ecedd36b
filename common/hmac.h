/*
 * hmac: message authentication codes, as webhooks sign their bodies.
 *
 * The one module that uses libcrypto (OpenSSL).
 */
#ifndef SMSQ_HMAC_H
#define SMSQ_HMAC_H

#include <stddef.h>

#include "common/attrs.h"

#define HMAC_SHA256_HEX 65 /* 64 hex digits and the NUL */

/* HMAC-SHA256 of data under key, as lower-case hex into out.  Returns 0,
 * or -1 (libcrypto failed: out is ""). */
int hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
		    char out[HMAC_SHA256_HEX]) SMSQ_WARN_UNUSED;

#endif
