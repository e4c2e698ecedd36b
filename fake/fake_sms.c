/*
 * fake_sms: segment counting, number checks and hashes (see fake_sms.h).
 *
 * DESIGN
 * The segment count is what a provider bills, computed the simple way: one
 * pass over the UTF-8 text counts GSM-7 septets and UTF-16 units at the
 * same time and remembers whether any character fell outside GSM-7.  It is
 * an estimate for pacing and the record file, not an encoder.
 */
#include "fake/fake_sms.h"

#include <string.h>

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

/* GSM 03.38 basic-table characters outside printable ASCII, as code points. */
static const uint32_t gsm_basic_extra[] = {
	0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8,
	0x00F8, 0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0,
	0x03A8, 0x03A3, 0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4,
	0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6,
	0x00F1, 0x00FC, 0x00E0,
};

#define EURO_SIGN 0x20AC

uint64_t fake_sms_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = FNV64_OFFSET;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	return h;
}

uint64_t fake_sms_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

double fake_sms_draw(uint64_t seed, uint64_t k, uint64_t d)
{
	uint64_t x = fake_sms_mix64(fake_sms_mix64(seed ^ fake_sms_mix64(k)) + d);

	return (double)(x >> 11) * (1.0 / 9007199254740992.0); /* 53 bits / 2^53 */
}

/* Septets for code point cp in GSM-7: 1 (basic), 2 (extension), 0 (none). */
static unsigned gsm_septets(uint32_t cp)
{
	if (cp == '\n' || cp == '\r')
		return 1;
	if (cp == '\f' || cp == EURO_SIGN)
		return 2;
	if (cp >= 0x20 && cp < 0x7f) {
		if (cp == '`')
			return 0;
		if (strchr("[\\]^{|}~", (int)cp) != NULL)
			return 2;
		return 1;
	}
	for (size_t i = 0; i < sizeof(gsm_basic_extra) / sizeof(gsm_basic_extra[0]); i++)
		if (gsm_basic_extra[i] == cp)
			return 1;
	return 0;
}

/* Decode one UTF-8 character at s (n bytes left, n >= 1).  Returns its
 * length in bytes and sets *cp; an invalid sequence is one byte with
 * *cp = 0xFFFD. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c = s[0];

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		len = 2;
		c &= 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		c &= 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		c &= 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (len > n) {
		*cp = 0xFFFD;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		c = (c << 6) | (s[i] & 0x3F);
	}
	*cp = c;
	return len;
}

static unsigned parts(size_t units, size_t single, size_t multi)
{
	if (units <= single)
		return 1;
	return (unsigned)((units + multi - 1) / multi);
}

/* One pass over text[0..len): its GSM-7 septets (a character outside GSM-7
 * counted as 1, the '?' it would become), its UTF-16 units, and whether
 * every character is GSM-7. */
static void measure(const char *text, size_t len, size_t *septets, size_t *units, int *gsm)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	*septets = *units = 0;
	*gsm = 1;
	while (i < len) {
		uint32_t cp;
		size_t step = utf8_next(s + i, len - i, &cp);
		unsigned sep = gsm_septets(cp);

		if (sep == 0) {
			*gsm = 0;
			sep = 1;
		}
		*septets += sep;
		*units += cp >= 0x10000 ? 2 : 1;
		i += step;
	}
}

unsigned fake_sms_segments(const char *text, size_t len)
{
	size_t septets, units;
	int gsm;

	measure(text, len, &septets, &units, &gsm);
	if (gsm)
		return parts(septets, FAKE_SMS_GSM_SINGLE, FAKE_SMS_GSM_MULTI);
	return parts(units, FAKE_SMS_UCS2_SINGLE, FAKE_SMS_UCS2_MULTI);
}

unsigned fake_sms_parts(const char *text, size_t len, int ucs2)
{
	size_t septets, units;
	int gsm;

	measure(text, len, &septets, &units, &gsm);
	if (ucs2)
		return parts(units, FAKE_SMS_UCS2_SINGLE, FAKE_SMS_UCS2_MULTI);
	return parts(septets, FAKE_SMS_GSM_SINGLE, FAKE_SMS_GSM_MULTI);
}

size_t fake_sms_gsm7_shown(const char *text, char *out)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t len = strlen(text), i = 0, o = 0, replaced = 0;

	while (i < len) {
		uint32_t cp;
		size_t step = utf8_next(s + i, len - i, &cp);

		if (gsm_septets(cp) == 0) {
			out[o++] = '?';
			replaced++;
		} else {
			memcpy(out + o, text + i, step);
			o += step;
		}
		i += step;
	}
	out[o] = '\0';
	return replaced;
}

int fake_sms_valid_number(const char *number, int need_plus)
{
	const char *p = number;
	size_t digits = 0;

	if (*p == '+')
		p++;
	else if (need_plus)
		return 0;
	if (*p == '0')
		return 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		digits++;
	}
	return digits >= FAKE_SMS_DIGITS_MIN && digits <= FAKE_SMS_DIGITS_MAX;
}

int fake_sms_has_prefix(const char *number, const char *prefix)
{
	if (*number == '+')
		number++;
	if (*prefix == '+')
		prefix++;
	if (*prefix == '\0')
		return 0;
	return strncmp(number, prefix, strlen(prefix)) == 0;
}
