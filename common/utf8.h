/*
 * utf8: the project's one UTF-8 decoder, strict as RFC 3629 and Unicode's
 * chapter 3 (table 3-7) want it: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no sequence cut short.
 *
 * Static inline functions, so that the loops that decode a character at a
 * time (gsm's unit counts, the log's escaping) pay no call for it.  No
 * state, no allocation: thread-safe.
 */
#ifndef SMSQ_UTF8_H
#define SMSQ_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * What the lead byte b announces: 0 with *n the sequence's length (1 to 4)
 * and [*lo, *hi] the range its second byte must be in (the other
 * continuation bytes are 0x80 to 0xBF); -1 when b starts no sequence (a
 * continuation byte, 0xC0, 0xC1, 0xF5 to 0xFF).
 */
static inline int utf8_lead(unsigned char b, size_t *n, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (b < 0x80)
		*n = 1;
	else if (b >= 0xC2 && b <= 0xDF)
		*n = 2;
	else if (b >= 0xE0 && b <= 0xEF)
		*n = 3;
	else if (b >= 0xF0 && b <= 0xF4)
		*n = 4;
	else
		return -1;
	if (b == 0xE0)
		*lo = 0xA0; /* overlong */
	else if (b == 0xED)
		*hi = 0x9F; /* surrogates */
	else if (b == 0xF0)
		*lo = 0x90; /* overlong */
	else if (b == 0xF4)
		*hi = 0x8F; /* above U+10FFFF */
	return 0;
}

/*
 * Decode the code point at s[*i] (*i < len; s need not be NUL-terminated).
 * Returns 0, with *cp set and *i advanced past it, or -1 when the bytes
 * there are not a whole, valid sequence (*i unchanged).
 */
static inline int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
	size_t p = *i, n;
	unsigned char b = s[p], lo, hi;
	uint32_t c;

	if (b < 0x80) {
		*cp = b;
		*i = p + 1;
		return 0;
	}
	if (utf8_lead(b, &n, &lo, &hi) != 0 || len - p < n)
		return -1;
	if (s[p + 1] < lo || s[p + 1] > hi)
		return -1;
	c = b & (0x7F >> n); /* the lead byte's payload: 5, 4 or 3 bits */
	for (size_t k = 1; k < n; k++) {
		if ((s[p + k] & 0xC0) != 0x80)
			return -1;
		c = (c << 6) | (s[p + k] & 0x3F);
	}
	*cp = c;
	*i = p + n;
	return 0;
}

/* 1 when s[0..len) is valid UTF-8 (as utf8_next() decodes it), else 0. */
static inline int utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	uint32_t cp;

	while (i < len)
		if (utf8_next(u, len, &i, &cp) != 0)
			return 0;
	return 1;
}

/*
 * 1 when s[0..len) (len >= 1) is the start of a valid sequence that the end
 * of the buffer cut short, as snprintf() cuts a string in the middle of a
 * character; else 0.
 */
static inline int utf8_cut_short(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned char lo, hi;

	if (utf8_lead(s[0], &n, &lo, &hi) != 0 || len >= n)
		return 0;
	if (len > 1 && (s[1] < lo || s[1] > hi))
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	return 1;
}

/*
 * Make the NUL-terminated str valid UTF-8, in place (it never grows): a
 * character cut short at the end is dropped, and every other byte that is
 * not part of a valid sequence becomes '?'.  Valid text is left as it is.
 * Returns the number of bytes replaced or dropped (0: it was valid).
 */
static inline size_t utf8_repair(char *str)
{
	unsigned char *s = (unsigned char *)str;
	size_t len = strlen(str), i = 0, changed = 0;
	uint32_t cp;

	while (i < len) {
		if (utf8_next(s, len, &i, &cp) == 0)
			continue;
		if (utf8_cut_short(s + i, len - i)) {
			changed += len - i;
			s[i] = '\0';
			break;
		}
		s[i++] = '?';
		changed++;
	}
	return changed;
}

#endif
