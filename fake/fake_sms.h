/*
 * fake_sms: small pure helpers about SMS texts and numbers for the fake
 * provider: segment counting, number checks, the two hash functions and
 * the seeded draws made from them.
 *
 * No state, no allocation, thread-safe.
 */
#ifndef SMSQ_FAKE_SMS_H
#define SMSQ_FAKE_SMS_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_SMS_GSM_SINGLE 160  /* GSM-7 septets in a one-part SMS */
#define FAKE_SMS_GSM_MULTI 153   /* ... per part of a concatenated SMS */
#define FAKE_SMS_UCS2_SINGLE 70  /* UCS-2 units in a one-part SMS */
#define FAKE_SMS_UCS2_MULTI 67   /* ... per part of a concatenated SMS */
#define FAKE_SMS_DIGITS_MIN 8    /* shortest international number we accept, digits */
#define FAKE_SMS_DIGITS_MAX 15   /* E.164 maximum */

/* 64-bit FNV-1a of len bytes (the Twilio message key hashes the Body). */
uint64_t fake_sms_fnv1a64(const void *data, size_t len);

/* A bijective 64-bit mixer (SplitMix64's finaliser): a good hash of an
 * integer, and distinct inputs give distinct outputs. */
uint64_t fake_sms_mix64(uint64_t x);

/* A uniform draw in [0, 1) (53 random bits) that is a pure function of
 * (seed, k, d): the d-th draw about the k-th event (a request, a
 * message), so that the same seed gives the same choices to the same
 * sequence of events, whatever the threads. */
double fake_sms_draw(uint64_t seed, uint64_t k, uint64_t d);

/*
 * The number of SMS parts a UTF-8 text of len bytes costs, APPROXIMATELY:
 * if every character is in the GSM 03.38 alphabet (extension characters
 * such as { } [ ] ~ | \ ^ and the euro sign count two septets), 160 septets
 * fit in one part and 153 per part beyond; otherwise the text goes as UCS-2,
 * 70 UTF-16 units in one part, 67 per part beyond.  It ignores that a real
 * encoder never splits an escape pair or a surrogate pair across parts, and
 * national language shift tables.  Invalid UTF-8 bytes count as one UCS-2
 * unit each.  An empty text costs 1.
 */
unsigned fake_sms_segments(const char *text, size_t len);

/*
 * The SMS parts a UTF-8 text of len bytes costs in the encoding a client
 * asked for (Vonage's type): as UCS-2 when ucs2, else as GSM-7, where a
 * character outside GSM-7 counts one septet (it is sent as '?':
 * fake_sms_gsm7_shown()).  The same approximation as fake_sms_segments().
 */
unsigned fake_sms_parts(const char *text, size_t len, int ucs2);

/*
 * Write into out (at least strlen(text) + 1 bytes) text as a handset shows
 * it when it was sent as GSM-7: every character outside GSM-7 (and every
 * invalid byte) becomes '?'.  Returns the number of characters replaced.
 */
size_t fake_sms_gsm7_shown(const char *text, char *out);

/*
 * 1 if number looks like an international number: an optional '+' (required
 * when need_plus), then FAKE_SMS_DIGITS_MIN..FAKE_SMS_DIGITS_MAX digits, the
 * first not 0; 0 otherwise.  number is NUL-terminated.
 */
int fake_sms_valid_number(const char *number, int need_plus);

/* 1 if number starts with prefix, both compared without a leading '+' (so
 * the prefix "+3361" matches Infobip's "33612345678" and Twilio's
 * "+33612345678"); 0 otherwise.  An empty prefix matches nothing. */
int fake_sms_has_prefix(const char *number, const char *prefix);

#endif
