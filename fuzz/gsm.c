/*
 * fuzz/gsm: libFuzzer harness for the text encoding code: the strict UTF-8
 * decoder (common/utf8.h), validate_utf8() (text/validate.c) and the GSM-7
 * analysis and smart encoding (text/gsm.c), which every text from outside
 * goes through before a unit count or a segment count is trusted.
 *
 * The input is a text of arbitrary bytes.  Checks beyond ASan/UBSan:
 *   - the three decoders agree: utf8_valid(), validate_utf8(), a walk of
 *     utf8_next() and one of gsm_utf8_next() accept the same inputs;
 *   - gsm_analyze() accepts exactly the valid ones, with at least one
 *     segment, no more units than UTF-16 units allow, and code points
 *     counted as the walk counted them;
 *   - gsm_smart() and gsm_smart_fit() write inside their buffer (a buffer
 *     of the exact capacity they are given, so ASan sees any overflow),
 *     a NUL-terminated valid UTF-8 text, and gsm_smart_fit()'s "after" is
 *     what gsm_analyze() says of that text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "text/gsm.h"
#include "text/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk s with utf8_next(): 1 and *chars if all of it decodes, else 0. */
static int walk_utf8(const unsigned char *s, size_t len, size_t *chars)
{
	size_t i = 0;
	uint32_t cp;

	*chars = 0;
	while (i < len) {
		size_t before = i;

		if (utf8_next(s, len, &i, &cp) != 0) {
			if (i != before)
				abort(); /* a refusal moves nothing */
			return 0;
		}
		if (i <= before || i > len || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			abort();
		(*chars)++;
	}
	return 1;
}

static int walk_gsm(const char *s, size_t len)
{
	size_t i = 0;
	uint32_t cp;

	while (i < len)
		if (gsm_utf8_next(s, len, &i, &cp) != 0)
			return 0;
	return 1;
}

/* out[0..n) (n the length returned) is a NUL-terminated, valid UTF-8 text
 * (U+0000 is valid: the text may hold NULs of its own). */
static void check_out(const char *out, size_t cap, size_t n)
{
	if (n >= cap || out[n] != '\0' || !validate_utf8(out, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The text in a buffer of its own size (no NUL: the API takes a length). */
	char *text = malloc(size ? size : 1);
	size_t chars, cap, n;
	struct gsm_info gi, after;
	unsigned replaced;
	int ok;

	if (text == NULL)
		abort();
	memcpy(text, data, size);

	ok = walk_utf8((const unsigned char *)text, size, &chars);
	if (ok != (utf8_valid(text, size) != 0) || ok != (validate_utf8(text, size) != 0) ||
	    ok != walk_gsm(text, size))
		abort();

	if (gsm_analyze(text, size, &gi) != 0) {
		if (ok)
			abort();
		goto out;
	}
	if (!ok || gi.segments < 1 || gi.chars != chars || gi.utf16 < gi.chars ||
	    (gi.encoding != GSM_7BIT && gi.encoding != GSM_UCS2) ||
	    (gi.encoding == GSM_UCS2 && gi.units != gi.utf16) ||
	    (gi.encoding == GSM_7BIT && gi.units < gi.chars))
		abort();

	/* Room for the text as it is, and a buffer too short by half. */
	for (int pass = 0; pass < 2; pass++) {
		char *out;

		cap = pass == 0 ? size + 1 : size / 2 + 1;
		out = malloc(cap);
		if (out == NULL)
			abort();
		replaced = 0;
		n = gsm_smart(text, size, out, cap, &replaced);
		if (n != GSM_SMART_INVALID)
			check_out(out, cap, n);
		else if (pass == 0)
			abort(); /* valid UTF-8 that fits as it is */
		replaced = 0;
		n = gsm_smart_fit(text, size, &gi, out, cap, &after, &replaced);
		if (n != GSM_SMART_INVALID) {
			struct gsm_info again;

			check_out(out, cap, n);
			if (gsm_analyze(out, n, &again) != 0 || again.units != after.units ||
			    again.encoding != after.encoding || again.segments != after.segments)
				abort();
		}
		free(out);
	}
out:
	free(text);
	return 0;
}
