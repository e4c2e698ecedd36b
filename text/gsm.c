/*
 * gsm: GSM 03.38 encoding choice, unit and segment counts, smart encoding.
 * See gsm.h for the rules.
 */
#include "text/gsm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define UTF8_MAX_BYTES 4
#define UNICODE_BMP_LAST 0xFFFF

/* Smart-encoding replacements, sorted by code point.  Every `to` is GSM-7
 * and no longer in UTF-8 bytes than the original (tests check both). */
struct smart_map {
	uint32_t from;
	const char *to;
};

static const struct smart_map smart_table[] = {
	{0x0009, " "},   /* TAB */
	{0x0060, "'"},   /* ` */
	{0x00A0, " "},   /* NO-BREAK SPACE */
	{0x00AB, "\""},  /* « */
	{0x00AD, ""},    /* SOFT HYPHEN */
	{0x00B4, "'"},   /* ´ */
	{0x00BB, "\""},  /* » */
	{0x00C0, "A"},   /* À */
	{0x00C1, "A"},   /* Á */
	{0x00C2, "A"},   /* Â */
	{0x00C3, "A"},   /* Ã */
	{0x00C8, "\xC3\x89"}, /* È -> É */
	{0x00CA, "E"},   /* Ê */
	{0x00CB, "E"},   /* Ë */
	{0x00CC, "I"},   /* Ì */
	{0x00CD, "I"},   /* Í */
	{0x00CE, "I"},   /* Î */
	{0x00CF, "I"},   /* Ï */
	{0x00D2, "O"},   /* Ò */
	{0x00D3, "O"},   /* Ó */
	{0x00D4, "O"},   /* Ô */
	{0x00D5, "O"},   /* Õ */
	{0x00D7, "x"},   /* × */
	{0x00D9, "U"},   /* Ù */
	{0x00DA, "U"},   /* Ú */
	{0x00DB, "U"},   /* Û */
	{0x00DD, "Y"},   /* Ý */
	{0x00E1, "a"},   /* á */
	{0x00E2, "a"},   /* â */
	{0x00E3, "a"},   /* ã */
	{0x00E7, "c"},   /* ç (not the GSM capital Ç: see gsm.h) */
	{0x00EA, "e"},   /* ê */
	{0x00EB, "e"},   /* ë */
	{0x00ED, "i"},   /* í */
	{0x00EE, "i"},   /* î */
	{0x00EF, "i"},   /* ï */
	{0x00F3, "o"},   /* ó */
	{0x00F4, "o"},   /* ô */
	{0x00F5, "o"},   /* õ */
	{0x00FA, "u"},   /* ú */
	{0x00FB, "u"},   /* û */
	{0x00FD, "y"},   /* ý */
	{0x00FF, "y"},   /* ÿ */
	{0x0152, "OE"},  /* Œ */
	{0x0153, "oe"},  /* œ */
	{0x0160, "S"},   /* Š */
	{0x0161, "s"},   /* š */
	{0x0178, "Y"},   /* Ÿ */
	{0x017D, "Z"},   /* Ž */
	{0x017E, "z"},   /* ž */
	{0x02BC, "'"},   /* MODIFIER LETTER APOSTROPHE */
	{0x2000, " "},   /* EN QUAD */
	{0x2001, " "},   /* EM QUAD */
	{0x2002, " "},   /* EN SPACE */
	{0x2003, " "},   /* EM SPACE */
	{0x2004, " "},   /* THREE-PER-EM SPACE */
	{0x2005, " "},   /* FOUR-PER-EM SPACE */
	{0x2006, " "},   /* SIX-PER-EM SPACE */
	{0x2007, " "},   /* FIGURE SPACE */
	{0x2008, " "},   /* PUNCTUATION SPACE */
	{0x2009, " "},   /* THIN SPACE */
	{0x200A, " "},   /* HAIR SPACE */
	{0x200B, ""},    /* ZERO WIDTH SPACE */
	{0x2010, "-"},   /* HYPHEN */
	{0x2011, "-"},   /* NON-BREAKING HYPHEN */
	{0x2012, "-"},   /* FIGURE DASH */
	{0x2013, "-"},   /* EN DASH */
	{0x2014, "-"},   /* EM DASH */
	{0x2015, "-"},   /* HORIZONTAL BAR */
	{0x2018, "'"},   /* ‘ */
	{0x2019, "'"},   /* ’ */
	{0x201A, "'"},   /* ‚ */
	{0x201B, "'"},   /* ‛ */
	{0x201C, "\""},  /* “ */
	{0x201D, "\""},  /* ” */
	{0x201E, "\""},  /* „ */
	{0x201F, "\""},  /* ‟ */
	{0x2026, "..."}, /* … */
	{0x202F, " "},   /* NARROW NO-BREAK SPACE */
	{0x2032, "'"},   /* ′ */
	{0x2033, "\""},  /* ″ */
	{0x2039, "'"},   /* ‹ */
	{0x203A, "'"},   /* › */
	{0x205F, " "},   /* MEDIUM MATHEMATICAL SPACE */
	{0x2212, "-"},   /* MINUS SIGN */
	{0xFEFF, ""},    /* BYTE ORDER MARK / ZERO WIDTH NO-BREAK SPACE */
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Septets of each ASCII character in GSM-7: 1 (basic table: printable
 * ASCII but '`', and LF, CR), 2 (extension table: FF ^ { } \ [ ~ ] |) or 0
 * (other controls, '`', DEL). */
static const unsigned char ascii_septets[0x80] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 1, 0, 0, /* LF, FF, CR */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /*  !"#$%&'()*+,-./ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0-9 :;<=>? */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* @A-O */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1, /* P-Z [\]^_ */
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* `a-o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, /* p-z {|}~ DEL */
};

/* Septets of cp in GSM-7: 1 (basic table), 2 (extension table) or 0 (none).
 * The non-ASCII characters of the basic table are the cases below (a switch:
 * the compiler makes it bit tests, no search). */
static unsigned gsm7_septets(uint32_t cp)
{
	if (cp < 0x80)
		return ascii_septets[cp];
	switch (cp) {
	case 0x00A1: /* ¡ */ case 0x00A3: /* £ */ case 0x00A4: /* ¤ */ case 0x00A5: /* ¥ */
	case 0x00A7: /* § */ case 0x00BF: /* ¿ */ case 0x00C4: /* Ä */ case 0x00C5: /* Å */
	case 0x00C6: /* Æ */ case 0x00C7: /* Ç */ case 0x00C9: /* É */ case 0x00D1: /* Ñ */
	case 0x00D6: /* Ö */ case 0x00D8: /* Ø */ case 0x00DC: /* Ü */ case 0x00DF: /* ß */
	case 0x00E0: /* à */ case 0x00E4: /* ä */ case 0x00E5: /* å */ case 0x00E6: /* æ */
	case 0x00E8: /* è */ case 0x00E9: /* é */ case 0x00EC: /* ì */ case 0x00F1: /* ñ */
	case 0x00F2: /* ò */ case 0x00F6: /* ö */ case 0x00F8: /* ø */ case 0x00F9: /* ù */
	case 0x00FC: /* ü */ case 0x0393: /* Γ */ case 0x0394: /* Δ */ case 0x0398: /* Θ */
	case 0x039B: /* Λ */ case 0x039E: /* Ξ */ case 0x03A0: /* Π */ case 0x03A3: /* Σ */
	case 0x03A6: /* Φ */ case 0x03A8: /* Ψ */ case 0x03A9: /* Ω */
		return 1;
	case 0x20AC: /* € */
		return 2;
	default:
		return 0;
	}
}

static unsigned utf16_units(uint32_t cp)
{
	return cp > UNICODE_BMP_LAST ? 2 : 1;
}

/* Parts needed by a multipart message: whole characters, greedily. */
static size_t count_parts(const unsigned char *s, size_t len, int enc)
{
	size_t part_max = enc == GSM_7BIT ? GSM7_PART_MAX : GSM_UCS2_PART_MAX;
	size_t parts = 1, fill = 0, i = 0;
	uint32_t cp;

	while (i < len) {
		unsigned w;

		if (s[i] < 0x80) { /* most of a text: no decoding, one table read */
			w = enc == GSM_7BIT ? ascii_septets[s[i]] : 1;
			i++;
		} else {
			if (utf8_next(s, len, &i, &cp) != 0)
				abort(); /* validated by the caller */
			w = enc == GSM_7BIT ? gsm7_septets(cp) : utf16_units(cp);
		}
		if (fill + w > part_max) {
			parts++;
			fill = 0;
		}
		fill += w;
	}
	return parts;
}

int gsm_analyze(const char *utf8, size_t len, struct gsm_info *out)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t septets = 0, units16 = 0, chars = 0, i = 0;
	int all_gsm = 1;
	uint32_t cp;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		unsigned w;

		if (s[i] < 0x80) { /* most of a text: no decoding, one table read */
			w = ascii_septets[s[i]];
			units16++;
			i++;
		} else {
			if (utf8_next(s, len, &i, &cp) != 0)
				return -1;
			w = gsm7_septets(cp);
			units16 += utf16_units(cp);
		}
		all_gsm &= w != 0;
		septets += w;
		chars++;
	}
	out->chars = chars;
	out->utf16 = units16;
	if (all_gsm) {
		out->encoding = GSM_7BIT;
		out->units = septets;
		out->segments = septets <= GSM7_SINGLE_MAX ? 1 : count_parts(s, len, GSM_7BIT);
	} else {
		out->encoding = GSM_UCS2;
		out->units = units16;
		out->segments = units16 <= GSM_UCS2_SINGLE_MAX ? 1 : count_parts(s, len, GSM_UCS2);
	}
	return 0;
}

static int cmp_map(const void *key, const void *elem)
{
	uint32_t x = *(const uint32_t *)key, y = ((const struct smart_map *)elem)->from;

	return (x > y) - (x < y);
}

/* gsm_smart()'s copy (cap > 0): the length written, with *whole set when
 * all of s went in; GSM_SMART_INVALID (out "") when s is not UTF-8, which it
 * checks as it goes (a plain run is ASCII, every other byte is decoded), up to
 * where out is full. */
static size_t smart_copy(const unsigned char *s, size_t len, char *out, size_t cap,
			 unsigned *replaced, int *whole)
{
	size_t i = 0, o = 0;
	unsigned nrep = 0;
	uint32_t cp;

	while (i < len) {
		size_t start = i;

		/* A run of GSM-7 ASCII (most of a text) is copied as it is. */
		while (i < len && s[i] < 0x80 && ascii_septets[s[i]] != 0)
			i++;
		if (i > start) {
			size_t n = i - start < cap - 1 - o ? i - start : cap - 1 - o;

			memcpy(out + o, s + start, n);
			o += n;
			if (n < i - start) {
				i = start + n;
				break; /* out is full */
			}
			continue;
		}
		if (utf8_next(s, len, &i, &cp) != 0) {
			out[0] = '\0';
			*replaced = 0;
			return GSM_SMART_INVALID;
		}
		const char *piece = (const char *)s + start;
		size_t plen = i - start;
		const struct smart_map *m = NULL;
		if (gsm7_septets(cp) == 0)
			m = bsearch(&cp, smart_table, ARRAY_LEN(smart_table),
				    sizeof(smart_table[0]), cmp_map);
		if (m) {
			piece = m->to;
			plen = strlen(m->to);
		}
		if (plen >= cap - o) {
			i = start; /* not written */
			break;     /* keep room for the NUL; never cut a character */
		}
		memcpy(out + o, piece, plen);
		o += plen;
		if (m)
			nrep++;
	}
	out[o] = '\0';
	*replaced = nrep;
	*whole = i == len;
	return o;
}

size_t gsm_smart(const char *utf8, size_t len, char *out, size_t cap, unsigned *replaced)
{
	const unsigned char *s = (const unsigned char *)utf8;
	unsigned nrep = 0;
	int whole;
	size_t n;

	if (replaced)
		*replaced = 0;
	if (cap > 0)
		out[0] = '\0';
	/* The whole input is checked, also past where out is full. */
	if (!utf8_valid(utf8, len))
		return GSM_SMART_INVALID;
	if (cap == 0)
		return 0;
	n = smart_copy(s, len, out, cap, &nrep, &whole);
	if (replaced)
		*replaced = nrep;
	return n;
}

size_t gsm_smart_fit(const char *utf8, size_t len, const struct gsm_info *before, char *out,
		     size_t cap, struct gsm_info *after, unsigned *replaced)
{
	unsigned nrep = 0;
	int whole;
	size_t n;

	if (replaced)
		*replaced = 0;
	if (before->encoding != GSM_UCS2 || cap == 0)
		return GSM_SMART_INVALID;
	/* No separate UTF-8 pass: smart_copy() checks what it reads, and a
	 * text that did not fit whole is refused anyway. */
	n = smart_copy((const unsigned char *)utf8, len, out, cap, &nrep, &whole);
	if (n == GSM_SMART_INVALID || !whole || gsm_analyze(out, n, after) != 0 ||
	    after->encoding != GSM_7BIT || after->segments > before->segments)
		return GSM_SMART_INVALID;
	if (replaced)
		*replaced = nrep;
	return n;
}

int gsm_utf8_next(const char *utf8, size_t len, size_t *i, uint32_t *cp)
{
	return utf8_next((const unsigned char *)utf8, len, i, cp);
}

const char *gsm_encoding_name(int enc)
{
	switch (enc) {
	case GSM_7BIT:
		return "gsm7";
	case GSM_UCS2:
		return "ucs2";
	default:
		return "unknown";
	}
}
