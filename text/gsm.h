/*
 * gsm: how an SMS text (UTF-8) is encoded and what it costs in segments,
 * plus an optional "smart encoding" that brings near-GSM text back to GSM-7.
 *
 * Encoding: a text goes as GSM-7 when every character is in the GSM 03.38
 * (3GPP TS 23.038) default alphabet or its extension table, else as UCS-2.
 *
 *   GSM-7: units are septets; a basic-table character is 1, an extension
 *          character (FF ^ { } \ [ ] ~ | €) is 2 (ESC + code).
 *          1 segment up to 160 units, else parts of at most 153.
 *   UCS-2: units are UTF-16 code units; a character outside the BMP (an
 *          emoji) is 2 (a surrogate pair).
 *          1 segment up to 70 units, else parts of at most 67.
 *   An empty text is 1 segment.
 *
 * A multipart count fills each part greedily with whole characters: an
 * escape pair or a surrogate pair never straddles two parts (handsets and
 * SMSCs split this way), so a part may hold one unit less than its maximum.
 *
 * Basic table note: code 0x09 is taken as capital Ç, as TS 23.038 prints it
 * (the Unicode GSM0338.TXT mapping says small ç; a text with ç goes UCS-2
 * here).  Code 0x1B (ESC) is not a character: U+001B in a text means UCS-2.
 *
 * Pure functions: no allocation, no state, thread-safe.
 */
#ifndef SMSQ_GSM_H
#define SMSQ_GSM_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

enum gsm_encoding {
	GSM_7BIT = 0,
	GSM_UCS2 = 1,
};

#define GSM7_SINGLE_MAX 160 /* septets in a single-part message */
#define GSM7_PART_MAX 153   /* septets per part of a multipart message */
#define GSM_UCS2_SINGLE_MAX 70 /* UTF-16 units in a single-part message */
#define GSM_UCS2_PART_MAX 67   /* UTF-16 units per part of a multipart message */

struct gsm_info {
	int encoding;    /* GSM_7BIT or GSM_UCS2 */
	size_t units;    /* septets (GSM_7BIT) or UTF-16 code units (GSM_UCS2) */
	size_t segments; /* SMS parts the text needs (>= 1) */
	size_t chars;    /* Unicode code points in the text */
	size_t utf16;    /* UTF-16 code units, whatever the encoding: the
			    "characters" of most provider APIs (an emoji is 2) */
};

/*
 * Analyse utf8[0..len) (need not be NUL-terminated; utf8 may be NULL when
 * len is 0).  Returns 0 and fills *out, or -1 when the bytes are not valid
 * UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated sequences);
 * *out is then all zero.  A NUL byte is a character (U+0000, not GSM-7).
 */
int gsm_analyze(const char *utf8, size_t len, struct gsm_info *out)
	SMSQ_WARN_UNUSED;

/*
 * Smart encoding: copy utf8[0..len) into out as UTF-8, replacing characters
 * outside GSM-7 by their closest GSM-7 form; *replaced (may be NULL) gets
 * the number of characters replaced.  Characters with no good replacement
 * are kept (the text then stays UCS-2: check with gsm_analyze()).
 *
 *   ‘ ’ ‚ ‛ ′ ‹ › ` ʼ ´  -> '          “ ” „ ‟ ″ « »  -> "
 *   ‐ ‑ ‒ – — ― −        -> -          …              -> ...
 *   NBSP, U+202F and the other Unicode spaces, TAB    -> space
 *   soft hyphen, zero-width space, BOM                -> removed
 *   accented letters  -> the base letter (ô->o, ç->c, À->A, Ê->E ...),
 *   except È -> É (GSM-7 has É: the nearest glyph, 1 septet); Œ œ -> OE oe.
 *
 * Choices: « » become a plain " (one septet, what a reader expects in an
 * SMS; the spaces inside French guillemets stay).  ç becomes c rather than
 * the GSM capital Ç: an upper-case letter inside a word reads as a typo.
 *
 * out always ends with a NUL when cap > 0; the return value is the length
 * written (not counting the NUL).  A character (or its replacement) that does
 * not fit whole is not written, nor anything after it.  Every replacement is
 * no longer in bytes than its original, so cap >= len + 1 always suffices.
 * Invalid UTF-8 (checked on the whole input first): out is "" (when cap > 0)
 * and the return value is GSM_SMART_INVALID.
 */
#define GSM_SMART_INVALID ((size_t)-1)
size_t gsm_smart(const char *utf8, size_t len, char *out, size_t cap, unsigned *replaced);

/*
 * Smart encoding as ingest applies it: only when the replacements make the
 * whole text GSM-7, in no more segments than *before (gsm_analyze() of the
 * same text).  Then writes the new text into out (cap >= len + 1 always
 * suffices), fills *after and returns its length; else returns
 * GSM_SMART_INVALID (the text stays exactly as written; out is then
 * unspecified): also when the text is not valid UTF-8, or does not fit in
 * out whole (cap 0 included).  *replaced (may be NULL) gets the characters
 * replaced.
 */
size_t gsm_smart_fit(const char *utf8, size_t len, const struct gsm_info *before, char *out,
		     size_t cap, struct gsm_info *after, unsigned *replaced);

/* Decode the code point at utf8[*i] (strict, as gsm_analyze()); returns 0
 * and advances *i, or -1 (invalid or cut; *i unchanged).  *i < len. */
int gsm_utf8_next(const char *utf8, size_t len, size_t *i, uint32_t *cp);

/* "gsm7" or "ucs2" (static strings); "unknown" for another value. */
const char *gsm_encoding_name(int enc);

#endif
