/*
 * hmac: message authentication codes, as webhooks sign their bodies, and
 * the comparison of secrets that does not tell an attacker how much of a
 * guess was right.
 *
 * The one module that uses libcrypto (OpenSSL).
 */
#ifndef SMSQ_HMAC_H
#define SMSQ_HMAC_H

#include <stddef.h>

#include "common/attrs.h"

#define HMAC_SHA256_HEX 65 /* 64 hex digits and the NUL */
#define HMAC_SHA1_BASE64 29 /* 20 bytes as 28 base64 characters ('=' padded) and the NUL */

/* HMAC-SHA256 of data under key, as lower-case hex into out.  Returns 0,
 * or -1 (libcrypto failed: out is ""). */
int hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
		    char out[HMAC_SHA256_HEX]) SMSQ_WARN_UNUSED;

/* HMAC-SHA1 of data under key, as standard base64 with its padding (RFC
 * 4648, section 4: what Twilio's X-Twilio-Signature carries) into out.
 * Returns 0, or -1 (libcrypto failed: out is ""). */
int hmac_sha1_base64(const void *key, size_t key_len, const void *data, size_t len,
		     char out[HMAC_SHA1_BASE64]) SMSQ_WARN_UNUSED;

/* 1 if a[0..alen) and b[0..blen) are the same bytes, else 0.  The time
 * taken depends on the lengths only, never on where the bytes differ: for
 * secrets (a token, a signature) received from a caller.  NULL is treated
 * as empty. */
int hmac_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
