/*
 * test_gsm: encoding choice, unit and segment counts (GSM 03.38 / UCS-2),
 * and smart encoding.
 *
 * Most cases are rows of tables: a text is built as `rep` repeated n times,
 * then `tail`, then `rep2` repeated n2 times, so boundary texts (160, 161, 306 septets ...) read
 * as what they are.  A failing row prints its name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/gsm.h"

#define EURO "\xE2\x82\xAC"           /* U+20AC, GSM extension */
#define ZHE "\xD0\x96"                /* U+0416 Ж, not GSM: 1 UTF-16 unit */
#define GRIN "\xF0\x9F\x98\x80"       /* U+1F600, a surrogate pair in UTF-16 */
#define NBSP "\xC2\xA0"               /* U+00A0 */
#define NNBSP "\xE2\x80\xAF"          /* U+202F, French thin space before ! ? ; : */

/* rep * n + tail + rep2 * n2, malloc'd, NUL-terminated (NULL parts skipped). */
static char *build(const char *rep, size_t n, const char *tail, const char *rep2, size_t n2)
{
	size_t rl = rep ? strlen(rep) : 0, tl = tail ? strlen(tail) : 0;
	size_t r2l = rep2 ? strlen(rep2) : 0;
	char *s = malloc(rl * n + tl + r2l * n2 + 1);
	char *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++, p += rl)
		memcpy(p, rep, rl);
	memcpy(p, tail ? tail : "", tl);
	p += tl;
	for (size_t i = 0; i < n2; i++, p += r2l)
		memcpy(p, rep2, r2l);
	*p = '\0';
	return s;
}

struct count_case {
	const char *name;
	const char *rep;
	size_t n;
	const char *tail;
	const char *rep2; /* then rep2 repeated n2 times */
	size_t n2;
	int encoding;
	size_t units;
	size_t segments;
};

static void check_counts(const struct count_case *cases, size_t ncases)
{
	for (size_t k = 0; k < ncases; k++) {
		const struct count_case *c = &cases[k];
		char *text = build(c->rep, c->n, c->tail, c->rep2, c->n2);
		struct gsm_info info;
		int rc = gsm_analyze(text, strlen(text), &info);

		if (rc != 0 || info.encoding != c->encoding || info.units != c->units ||
		    info.segments != c->segments) {
			print_error("case \"%s\": rc %d, got %s/%zu units/%zu segments, "
				    "want %s/%zu/%zu\n", c->name, rc,
				    gsm_encoding_name(info.encoding), info.units, info.segments,
				    gsm_encoding_name(c->encoding), c->units, c->segments);
			free(text);
			fail();
		}
		free(text);
	}
}

#define CHECK_COUNTS(t) check_counts((t), sizeof(t) / sizeof((t)[0]))

static void test_extension_chars_count_two(void **state)
{
	(void)state;
	static const struct count_case cases[] = {
		{"euro sign", NULL, 0, EURO, NULL, 0, GSM_7BIT, 2, 1},
		{"left bracket", NULL, 0, "[", NULL, 0, GSM_7BIT, 2, 1},
		{"right bracket", NULL, 0, "]", NULL, 0, GSM_7BIT, 2, 1},
		{"left brace", NULL, 0, "{", NULL, 0, GSM_7BIT, 2, 1},
		{"right brace", NULL, 0, "}", NULL, 0, GSM_7BIT, 2, 1},
		{"tilde", NULL, 0, "~", NULL, 0, GSM_7BIT, 2, 1},
		{"backslash", NULL, 0, "\\", NULL, 0, GSM_7BIT, 2, 1},
		{"caret", NULL, 0, "^", NULL, 0, GSM_7BIT, 2, 1},
		{"pipe", NULL, 0, "|", NULL, 0, GSM_7BIT, 2, 1},
		{"form feed", NULL, 0, "\f", NULL, 0, GSM_7BIT, 2, 1},
		{"all ten together", NULL, 0, EURO "[]{}~\\^|\f", NULL, 0, GSM_7BIT, 20, 1},
		{"price in euros", NULL, 0, "Total: 12,50 " EURO, NULL, 0, GSM_7BIT, 15, 1},
	};
	CHECK_COUNTS(cases);
}

static void test_basic_table_stays_gsm7(void **state)
{
	(void)state;
	static const struct count_case cases[] = {
		{"e acute", NULL, 0, "\xC3\xA9", NULL, 0, GSM_7BIT, 1, 1},
		{"e grave", NULL, 0, "\xC3\xA8", NULL, 0, GSM_7BIT, 1, 1},
		{"u grave", NULL, 0, "\xC3\xB9", NULL, 0, GSM_7BIT, 1, 1},
		{"i grave", NULL, 0, "\xC3\xAC", NULL, 0, GSM_7BIT, 1, 1},
		{"o grave", NULL, 0, "\xC3\xB2", NULL, 0, GSM_7BIT, 1, 1},
		{"capital C cedilla", NULL, 0, "\xC3\x87", NULL, 0, GSM_7BIT, 1, 1},
		{"capital A umlaut", NULL, 0, "\xC3\x84", NULL, 0, GSM_7BIT, 1, 1},
		{"capital O umlaut", NULL, 0, "\xC3\x96", NULL, 0, GSM_7BIT, 1, 1},
		{"capital N tilde", NULL, 0, "\xC3\x91", NULL, 0, GSM_7BIT, 1, 1},
		{"capital U umlaut", NULL, 0, "\xC3\x9C", NULL, 0, GSM_7BIT, 1, 1},
		{"a umlaut", NULL, 0, "\xC3\xA4", NULL, 0, GSM_7BIT, 1, 1},
		{"o umlaut", NULL, 0, "\xC3\xB6", NULL, 0, GSM_7BIT, 1, 1},
		{"n tilde", NULL, 0, "\xC3\xB1", NULL, 0, GSM_7BIT, 1, 1},
		{"u umlaut", NULL, 0, "\xC3\xBC", NULL, 0, GSM_7BIT, 1, 1},
		{"a grave", NULL, 0, "\xC3\xA0", NULL, 0, GSM_7BIT, 1, 1},
		{"capital E acute", NULL, 0, "\xC3\x89", NULL, 0, GSM_7BIT, 1, 1},
		{"symbols @ $ _ LF CR", NULL, 0, "@$_\n\r", NULL, 0, GSM_7BIT, 5, 1},
		{"pound yen currency section", NULL, 0, "\xC2\xA3\xC2\xA5\xC2\xA4\xC2\xA7", NULL, 0, GSM_7BIT, 4, 1},
		{"inverted ! and ?", NULL, 0, "\xC2\xA1\xC2\xBF", NULL, 0, GSM_7BIT, 2, 1},
		{"Nordic letters", NULL, 0, "\xC3\x98\xC3\xB8\xC3\x85\xC3\xA5\xC3\x86\xC3\xA6\xC3\x9F", NULL, 0,
		 GSM_7BIT, 7, 1},
		{"Greek capitals", NULL, 0,
		 "\xCE\x94\xCE\xA6\xCE\x93\xCE\x9B\xCE\xA9\xCE\xA0\xCE\xA8\xCE\xA3\xCE\x98\xCE\x9E", NULL, 0,
		 GSM_7BIT, 10, 1},
		{"all printable ASCII but backtick and escaped ones", NULL, 0,
		 " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
		 "abcdefghijklmnopqrstuvwxyz", NULL, 0, GSM_7BIT, 86, 1},
		{"French sentence in GSM", NULL, 0, "Votre rendez-vous est confirm\xC3\xA9 \xC3\xA0 9h", NULL, 0,
		 GSM_7BIT, 35, 1},
	};
	CHECK_COUNTS(cases);
}

static void test_non_gsm_forces_ucs2(void **state)
{
	(void)state;
	static const struct count_case cases[] = {
		{"c cedilla", NULL, 0, "\xC3\xA7", NULL, 0, GSM_UCS2, 1, 1},
		{"o circumflex", NULL, 0, "\xC3\xB4", NULL, 0, GSM_UCS2, 1, 1},
		{"e circumflex", NULL, 0, "\xC3\xAA", NULL, 0, GSM_UCS2, 1, 1},
		{"i circumflex", NULL, 0, "\xC3\xAE", NULL, 0, GSM_UCS2, 1, 1},
		{"a circumflex", NULL, 0, "\xC3\xA2", NULL, 0, GSM_UCS2, 1, 1},
		{"u circumflex", NULL, 0, "\xC3\xBB", NULL, 0, GSM_UCS2, 1, 1},
		{"capital A grave", NULL, 0, "\xC3\x80", NULL, 0, GSM_UCS2, 1, 1},
		{"capital E grave", NULL, 0, "\xC3\x88", NULL, 0, GSM_UCS2, 1, 1},
		{"capital I grave", NULL, 0, "\xC3\x8C", NULL, 0, GSM_UCS2, 1, 1},
		{"capital O grave", NULL, 0, "\xC3\x92", NULL, 0, GSM_UCS2, 1, 1},
		{"capital U grave", NULL, 0, "\xC3\x99", NULL, 0, GSM_UCS2, 1, 1},
		{"a acute", NULL, 0, "\xC3\xA1", NULL, 0, GSM_UCS2, 1, 1},
		{"i acute", NULL, 0, "\xC3\xAD", NULL, 0, GSM_UCS2, 1, 1},
		{"o acute", NULL, 0, "\xC3\xB3", NULL, 0, GSM_UCS2, 1, 1},
		{"u acute", NULL, 0, "\xC3\xBA", NULL, 0, GSM_UCS2, 1, 1},
		{"backtick", NULL, 0, "`", NULL, 0, GSM_UCS2, 1, 1},
		{"tab", NULL, 0, "\t", NULL, 0, GSM_UCS2, 1, 1},
		{"no-break space", NULL, 0, NBSP, NULL, 0, GSM_UCS2, 1, 1},
		{"curly apostrophe", NULL, 0, "l\xE2\x80\x99h", NULL, 0, GSM_UCS2, 3, 1},
		{"emoji is a surrogate pair", NULL, 0, GRIN, NULL, 0, GSM_UCS2, 2, 1},
		{"one c cedilla makes the word UCS-2, euro then 1 unit", NULL, 0,
		 "Gar\xC3\xA7on " EURO, NULL, 0, GSM_UCS2, 8, 1},
	};
	CHECK_COUNTS(cases);
}

static void test_gsm7_segment_boundaries(void **state)
{
	(void)state;
	static const struct count_case cases[] = {
		{"empty text", NULL, 0, "", NULL, 0, GSM_7BIT, 0, 1},
		{"1 septet", "a", 1, NULL, NULL, 0, GSM_7BIT, 1, 1},
		{"160 septets", "a", 160, NULL, NULL, 0, GSM_7BIT, 160, 1},
		{"161 septets", "a", 161, NULL, NULL, 0, GSM_7BIT, 161, 2},
		{"306 septets", "a", 306, NULL, NULL, 0, GSM_7BIT, 306, 2},
		{"307 septets", "a", 307, NULL, NULL, 0, GSM_7BIT, 307, 3},
		{"459 septets", "a", 459, NULL, NULL, 0, GSM_7BIT, 459, 3},
		{"460 septets", "a", 460, NULL, NULL, 0, GSM_7BIT, 460, 4},
		{"158 a + euro = 160", "a", 158, EURO, NULL, 0, GSM_7BIT, 160, 1},
		{"159 a + euro = 161", "a", 159, EURO, NULL, 0, GSM_7BIT, 161, 2},
		{"80 euros = 160", EURO, 80, NULL, NULL, 0, GSM_7BIT, 160, 1},
		{"81 euros = 162", EURO, 81, NULL, NULL, 0, GSM_7BIT, 162, 2},
		/* 76 escape pairs fill 152 of a part's 153 septets */
		{"152 euros = 304 fit in 2 parts", EURO, 152, NULL, NULL, 0, GSM_7BIT, 304, 2},
		{"153 euros = 306 need 3 parts", EURO, 153, NULL, NULL, 0, GSM_7BIT, 306, 3},
		{"151 a + euro = 153 ends part 1 exactly", "a", 151, EURO, "a", 8,
		 GSM_7BIT, 161, 2},
		/* 152 a, then the euro would take septets 153-154: it starts part 2 */
		{"152 a + euro + 151 a = 305: euro starts part 2", "a", 152, EURO, "a", 151,
		 GSM_7BIT, 305, 2},
		{"152 a + euro + 152 a = 306: straddle avoided, 3 parts", "a", 152, EURO, "a", 152,
		 GSM_7BIT, 306, 3},
	};
	CHECK_COUNTS(cases);
}

static void test_ucs2_segment_boundaries(void **state)
{
	(void)state;
	static const struct count_case cases[] = {
		{"70 units", ZHE, 70, NULL, NULL, 0, GSM_UCS2, 70, 1},
		{"71 units", ZHE, 71, NULL, NULL, 0, GSM_UCS2, 71, 2},
		{"134 units", ZHE, 134, NULL, NULL, 0, GSM_UCS2, 134, 2},
		{"135 units", ZHE, 135, NULL, NULL, 0, GSM_UCS2, 135, 3},
		{"201 units", ZHE, 201, NULL, NULL, 0, GSM_UCS2, 201, 3},
		{"202 units", ZHE, 202, NULL, NULL, 0, GSM_UCS2, 202, 4},
		{"ASCII + one c cedilla, 70 units", "a", 69, "\xC3\xA7", NULL, 0, GSM_UCS2, 70, 1},
		{"ASCII + one c cedilla, 71 units", "a", 70, "\xC3\xA7", NULL, 0, GSM_UCS2, 71, 2},
		{"35 emoji = 70 units", GRIN, 35, NULL, NULL, 0, GSM_UCS2, 70, 1},
		{"36 emoji = 72 units", GRIN, 36, NULL, NULL, 0, GSM_UCS2, 72, 2},
		{"69 units + emoji = 71", ZHE, 69, GRIN, NULL, 0, GSM_UCS2, 71, 2},
		/* 33 pairs fill 66 of a part's 67 units */
		{"66 emoji = 132 units fit in 2 parts", GRIN, 66, NULL, NULL, 0, GSM_UCS2, 132, 2},
		{"67 emoji = 134 units need 3 parts", GRIN, 67, NULL, NULL, 0, GSM_UCS2, 134, 3},
		{"65 + emoji + 65 = 132", ZHE, 65, GRIN, ZHE, 65, GSM_UCS2, 132, 2},
		/* 66 units, then the pair would take units 67-68: it starts part 2 */
		{"66 + emoji + 66 = 134: straddle avoided, 3 parts", ZHE, 66, GRIN, ZHE, 66,
		 GSM_UCS2, 134, 3},
	};
	CHECK_COUNTS(cases);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
	} cases[] = {
		{"lone continuation byte", "a\x80", 2},
		{"truncated 2-byte sequence", "a\xC3", 2},
		{"truncated euro", "\xE2\x82", 2},
		{"truncated emoji", "\xF0\x9F\x98", 3},
		{"overlong slash (C0 AF)", "\xC0\xAF", 2},
		{"overlong 3-byte (E0 80 AF)", "\xE0\x80\xAF", 3},
		{"overlong euro (F0 82 82 AC)", "\xF0\x82\x82\xAC", 4},
		{"UTF-16 surrogate (ED A0 80)", "\xED\xA0\x80", 3},
		{"above U+10FFFF (F4 90 80 80)", "\xF4\x90\x80\x80", 4},
		{"byte FF", "\xFF", 1},
		{"bad continuation", "\xC3\x28", 2},
		{"Latin-1 e acute", "caf\xE9", 4},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct gsm_info info = {GSM_UCS2, 9, 9, 9, 9};
		char out[16] = "junk";
		unsigned rep = 7;

		if (gsm_analyze(cases[k].bytes, cases[k].len, &info) != -1) {
			print_error("case \"%s\": accepted\n", cases[k].name);
			fail();
		}
		assert_int_equal(info.units, 0);
		assert_int_equal(info.segments, 0);
		assert_int_equal(info.utf16, 0);
		assert_true(gsm_smart(cases[k].bytes, cases[k].len, out, sizeof(out), &rep) ==
			    GSM_SMART_INVALID);
		assert_string_equal(out, "");
		assert_int_equal(rep, 0);
	}
}

/* utf16 counts what most provider APIs call characters, in either
 * encoding: a GSM extension character is 1 (2 septets), an emoji 2. */
static void test_utf16_units_in_both_encodings(void **state)
{
	static const struct {
		const char *name;   /* the case */
		const char *text;   /* UTF-8 */
		int encoding;       /* expected encoding */
		size_t utf16;       /* expected UTF-16 units */
		size_t units;       /* expected septets or UTF-16 units */
	} cases[] = {
		{"empty", "", GSM_7BIT, 0, 0},
		{"ASCII", "abc", GSM_7BIT, 3, 3},
		{"euro: 2 septets, 1 character", EURO, GSM_7BIT, 1, 2},
		{"accent of the basic table", "\xC3\xA9", GSM_7BIT, 1, 1},
		{"Cyrillic", ZHE "a", GSM_UCS2, 2, 2},
		{"emoji: a surrogate pair", GRIN, GSM_UCS2, 2, 2},
		{"euro beside an emoji", EURO GRIN, GSM_UCS2, 3, 3},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct gsm_info info;

		assert_int_equal(gsm_analyze(cases[k].text, strlen(cases[k].text), &info), 0);
		if (info.encoding != cases[k].encoding || info.utf16 != cases[k].utf16 ||
		    info.units != cases[k].units) {
			print_error("case \"%s\": %s, %zu UTF-16 units, %zu units\n", cases[k].name,
				    gsm_encoding_name(info.encoding), info.utf16, info.units);
			fail();
		}
	}
}

static void test_explicit_length_and_nul(void **state)
{
	struct gsm_info info;

	(void)state;
	assert_int_equal(gsm_analyze(NULL, 0, &info), 0);
	assert_int_equal(info.encoding, GSM_7BIT);
	assert_int_equal(info.units, 0);
	assert_int_equal(info.segments, 1);
	assert_int_equal(info.chars, 0);
	/* only len bytes are read: the euro after them does not count */
	assert_int_equal(gsm_analyze("abc" EURO, 3, &info), 0);
	assert_int_equal(info.units, 3);
	/* a NUL byte inside len is U+0000, not GSM-7 */
	assert_int_equal(gsm_analyze("a\0b", 3, &info), 0);
	assert_int_equal(info.encoding, GSM_UCS2);
	assert_int_equal(info.units, 3);
	assert_int_equal(gsm_analyze("h\xC3\xA9" GRIN, 7, &info), 0);
	assert_int_equal(info.chars, 3);
	assert_int_equal(info.units, 4);
}

static void test_encoding_name(void **state)
{
	(void)state;
	assert_string_equal(gsm_encoding_name(GSM_7BIT), "gsm7");
	assert_string_equal(gsm_encoding_name(GSM_UCS2), "ucs2");
	assert_string_equal(gsm_encoding_name(42), "unknown");
}

struct smart_case {
	const char *name;
	const char *in;
	const char *want;
	unsigned replaced;
	int encoding; /* of the result */
	size_t segments;
};

static void test_smart_texts(void **state)
{
	(void)state;
	static const struct smart_case cases[] = {
		{"French appointment",
		 "Votre rendez-vous \xC3\xA0 l'H\xC3\xB4pital de N\xC3\xAEmes est confirm\xC3\xA9",
		 "Votre rendez-vous \xC3\xA0 l'Hopital de Nimes est confirm\xC3\xA9", 2, GSM_7BIT, 1},
		{"Italian capital E grave becomes E acute",
		 "\xC3\x88 confermato l'appuntamento",
		 "\xC3\x89 confermato l'appuntamento", 1, GSM_7BIT, 1},
		{"French typography: U+202F, guillemets, NBSP, ellipsis",
		 "Bonjour" NNBSP "! Votre \xC2\xAB" NBSP "rendez-vous" NBSP "\xC2\xBB est confirm\xC3\xA9"
		 NNBSP ": \xC3\xA0 bient\xC3\xB4t\xE2\x80\xA6",
		 "Bonjour ! Votre \" rendez-vous \" est confirm\xC3\xA9 : \xC3\xA0 bientot...",
		 8, GSM_7BIT, 1},
		{"emoji stays, text stays UCS-2",
		 "Merci " GRIN " \xC3\x80 bient\xC3\xB4t",
		 "Merci " GRIN " A bientot", 2, GSM_UCS2, 1},
		{"Cyrillic stays",
		 "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 \xE2\x80\x94 ok",
		 "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 - ok", 1, GSM_UCS2, 1},
		{"single typographic quotes",
		 "\xE2\x80\x98" "a\xE2\x80\x99 \xE2\x80\x9A" "b\xE2\x80\x9B l\xE2\x80\x99h",
		 "'a' 'b' l'h", 5, GSM_7BIT, 1},
		{"double typographic quotes",
		 "\xE2\x80\x9C" "a\xE2\x80\x9D \xE2\x80\x9E" "b\xE2\x80\x9D",
		 "\"a\" \"b\"", 4, GSM_7BIT, 1},
		{"dashes",
		 "9h\xE2\x80\x93" "10h \xE2\x80\x94 fin",
		 "9h-10h - fin", 2, GSM_7BIT, 1},
		{"French ligature oe",
		 "c\xC5\x93ur \xC5\x92uvre",
		 "coeur OEuvre", 2, GSM_7BIT, 1},
		{"c cedilla becomes c",
		 "Fran\xC3\xA7ois, re\xC3\xA7u",
		 "Francois, recu", 2, GSM_7BIT, 1},
		{"GSM-7 text untouched, extension chars kept",
		 "Prix: 10 " EURO " [promo] {x} ~ \\ ^ |",
		 "Prix: 10 " EURO " [promo] {x} ~ \\ ^ |", 0, GSM_7BIT, 1},
		{"empty", "", "", 0, GSM_7BIT, 1},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct smart_case *c = &cases[k];
		char out[256];
		unsigned rep = 99;
		struct gsm_info info;
		size_t n = gsm_smart(c->in, strlen(c->in), out, sizeof(out), &rep);

		if (n != strlen(c->want) || strcmp(out, c->want) != 0 || rep != c->replaced) {
			print_error("case \"%s\": got \"%s\" (%zu bytes, %u replaced), want \"%s\" (%u)\n",
				    c->name, out, n, rep, c->want, c->replaced);
			fail();
		}
		assert_int_equal(gsm_analyze(out, n, &info), 0);
		if (info.encoding != c->encoding || info.segments != c->segments) {
			print_error("case \"%s\": result is %s/%zu segments\n", c->name,
				    gsm_encoding_name(info.encoding), info.segments);
			fail();
		}
	}
}

static void test_smart_letters(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *in;
		const char *want;
	} cases[] = {
		{"o circumflex", "\xC3\xB4", "o"},   {"e circumflex", "\xC3\xAA", "e"},
		{"i circumflex", "\xC3\xAE", "i"},   {"a circumflex", "\xC3\xA2", "a"},
		{"u circumflex", "\xC3\xBB", "u"},   {"e diaeresis", "\xC3\xAB", "e"},
		{"i diaeresis", "\xC3\xAF", "i"},   {"c cedilla", "\xC3\xA7", "c"},
		{"a acute", "\xC3\xA1", "a"},        {"i acute", "\xC3\xAD", "i"},
		{"o acute", "\xC3\xB3", "o"},        {"u acute", "\xC3\xBA", "u"},
		{"A grave", "\xC3\x80", "A"},        {"E grave", "\xC3\x88", "\xC3\x89"},
		{"I grave", "\xC3\x8C", "I"},        {"O grave", "\xC3\x92", "O"},
		{"U grave", "\xC3\x99", "U"},        {"E circumflex", "\xC3\x8A", "E"},
		{"O circumflex", "\xC3\x94", "O"},   {"y diaeresis", "\xC3\xBF", "y"},
		{"en dash", "\xE2\x80\x93", "-"},    {"em dash", "\xE2\x80\x94", "-"},
		{"ellipsis", "\xE2\x80\xA6", "..."}, {"NBSP", NBSP, " "},
		{"narrow NBSP", NNBSP, " "},         {"left guillemet", "\xC2\xAB", "\""},
		{"right guillemet", "\xC2\xBB", "\""}, {"soft hyphen removed", "\xC2\xAD", ""},
		{"zero width space removed", "\xE2\x80\x8B", ""},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char out[16];
		unsigned rep = 0;
		size_t n = gsm_smart(cases[k].in, strlen(cases[k].in), out, sizeof(out), &rep);

		if (n != strlen(cases[k].want) || strcmp(out, cases[k].want) != 0 || rep != 1) {
			print_error("case \"%s\": got \"%s\" (%u replaced), want \"%s\"\n",
				    cases[k].name, out, rep, cases[k].want);
			fail();
		}
	}
}

/* Encode cp as UTF-8 into b (>= 5 bytes); returns the length. */
static size_t put_utf8(uint32_t cp, char *b)
{
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	b[n] = '\0';
	return n;
}

/* Every code point of the BMP and a few planes: a replacement is GSM-7 and
 * never longer than its original; a GSM-7 character is never replaced; a
 * character left alone is copied exactly. */
static void test_smart_every_code_point(void **state)
{
	(void)state;
	for (uint32_t cp = 1; cp < 0x20000; cp++) {
		char in[8], out[8];
		unsigned rep = 9;
		struct gsm_info before, after;

		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		size_t len = put_utf8(cp, in);
		size_t n = gsm_smart(in, len, out, len + 1, &rep);
		assert_int_equal(gsm_analyze(in, len, &before), 0);
		assert_int_equal(gsm_analyze(out, n, &after), 0);
		if (before.encoding == GSM_7BIT || rep == 0) {
			if (rep != 0 || n != len || memcmp(in, out, len) != 0) {
				print_error("U+%04X changed (replaced %u)\n", (unsigned)cp, rep);
				fail();
			}
		} else if (after.encoding != GSM_7BIT || n > len) {
			print_error("U+%04X: replacement \"%s\" not GSM-7 or longer\n",
				    (unsigned)cp, out);
			fail();
		}
	}
}

/* Over all of Unicode, GSM-7 has exactly 127 one-septet characters (the 128
 * codes of the basic table less ESC) and 10 two-septet ones. */
static void test_alphabet_census(void **state)
{
	size_t one = 0, two = 0;

	(void)state;
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		char in[8];
		struct gsm_info info;

		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		size_t len = put_utf8(cp, in);
		assert_int_equal(gsm_analyze(in, len, &info), 0);
		if (info.encoding != GSM_7BIT)
			continue;
		if (info.units == 1)
			one++;
		else if (info.units == 2)
			two++;
		else
			fail();
	}
	assert_int_equal(one, 127);
	assert_int_equal(two, 10);
}

/* gsm_smart_fit(): smart encoding only when the whole text then fits GSM-7
 * in no more segments; otherwise the text stays as written. */
static void test_smart_fit_decides(void **state)
{
	char out[512];
	struct gsm_info before, after;
	unsigned repl = 99;
	const char *hop = "H\xc3\xb4pital de N\xc3\xaemes, RDV confirm\xc3\xa9 \xe2\x80\x94 "
			  "merci de venir 10 minutes en avance avec votre carte Vitale.";
	const char *emoji = "H\xc3\xb4pital \xf0\x9f\x98\x80";
	const char *plain = "Hopital de Nimes";
	size_t n;

	(void)state;
	assert_int_equal(gsm_analyze(hop, strlen(hop), &before), 0);
	assert_int_equal(before.encoding, GSM_UCS2);
	assert_int_equal(before.segments, 2);
	n = gsm_smart_fit(hop, strlen(hop), &before, out, sizeof(out), &after, &repl);
	assert_int_not_equal(n, GSM_SMART_INVALID);
	assert_int_equal(n, strlen(out));
	assert_int_equal(after.encoding, GSM_7BIT);
	assert_int_equal(after.segments, 1);
	assert_int_equal(repl, 3);
	assert_string_equal(out, "Hopital de Nimes, RDV confirm\xc3\xa9 - merci de venir 10 minutes "
				 "en avance avec votre carte Vitale.");
	/* Not whole in out (the buffer, or no buffer at all): refused. */
	repl = 99;
	assert_int_equal(gsm_smart_fit(hop, strlen(hop), &before, out, 40, &after, &repl),
			 GSM_SMART_INVALID);
	assert_int_equal(repl, 0);
	assert_int_equal(gsm_smart_fit(hop, strlen(hop), &before, out, 0, &after, &repl),
			 GSM_SMART_INVALID);
	/* Not UTF-8 (a cut sequence after a plain run, a stray continuation
	 * byte), whatever before says: refused, no crash. */
	assert_int_equal(gsm_smart_fit("Nimes \xc3", 7, &before, out, sizeof(out), &after, &repl),
			 GSM_SMART_INVALID);
	assert_int_equal(gsm_smart_fit("\xa9t\xc3\xa9", 4, &before, out, sizeof(out), &after,
				       &repl), GSM_SMART_INVALID);
	assert_int_equal(repl, 0);

	assert_int_equal(gsm_analyze(emoji, strlen(emoji), &before), 0);
	repl = 99;
	assert_int_equal(gsm_smart_fit(emoji, strlen(emoji), &before, out, sizeof(out), &after,
				       &repl), GSM_SMART_INVALID);
	assert_int_equal(repl, 0);

	assert_int_equal(gsm_analyze(plain, strlen(plain), &before), 0);
	assert_int_equal(gsm_smart_fit(plain, strlen(plain), &before, out, sizeof(out), &after,
				       NULL), GSM_SMART_INVALID);
}

static void test_smart_small_buffer(void **state)
{
	char out[8];
	unsigned rep;

	(void)state;
	/* the e acute (2 bytes) does not fit with the NUL: nothing after "a" */
	memset(out, 'X', sizeof(out));
	assert_int_equal(gsm_smart("a\xC3\xA9z", 4, out, 3, &rep), 1);
	assert_string_equal(out, "a");
	assert_int_equal(gsm_smart("a\xC3\xA9z", 4, out, 4, &rep), 3);
	assert_string_equal(out, "a\xC3\xA9");
	/* a run of plain characters is cut where the buffer ends, NUL kept */
	memset(out, 'X', sizeof(out));
	assert_int_equal(gsm_smart("abcdefghij", 10, out, sizeof(out), &rep), 7);
	assert_string_equal(out, "abcdefg");
	assert_int_equal(gsm_smart("abc\xC3\xB4", 5, out, 4, &rep), 3); /* its o does not fit */
	assert_string_equal(out, "abc");
	assert_int_equal(rep, 0);
	assert_int_equal(gsm_smart("ab\tc", 4, out, 4, &rep), 3);   /* TAB -> space in a run */
	assert_string_equal(out, "ab ");
	assert_int_equal(rep, 1);
	/* a 4-byte emoji is written whole or not at all */
	assert_int_equal(gsm_smart(GRIN, 4, out, 4, &rep), 0);
	assert_string_equal(out, "");
	assert_int_equal(gsm_smart(GRIN, 4, out, 5, &rep), 4);
	assert_string_equal(out, GRIN);
	/* a replacement is written whole: "..." needs 4 bytes with the NUL */
	assert_int_equal(gsm_smart("\xE2\x80\xA6", 3, out, 3, &rep), 0);
	assert_string_equal(out, "");
	assert_int_equal(rep, 0);
	assert_int_equal(gsm_smart("\xE2\x80\xA6", 3, out, 4, &rep), 3);
	assert_string_equal(out, "...");
	assert_int_equal(rep, 1);
	/* cap 1: only the NUL; cap 0: nothing written */
	assert_int_equal(gsm_smart("abc", 3, out, 1, &rep), 0);
	assert_string_equal(out, "");
	out[0] = 'X';
	assert_int_equal(gsm_smart("abc", 3, out, 0, NULL), 0);
	assert_int_equal(out[0], 'X');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smart_fit_decides),
		cmocka_unit_test(test_extension_chars_count_two),
		cmocka_unit_test(test_basic_table_stays_gsm7),
		cmocka_unit_test(test_non_gsm_forces_ucs2),
		cmocka_unit_test(test_gsm7_segment_boundaries),
		cmocka_unit_test(test_ucs2_segment_boundaries),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_utf16_units_in_both_encodings),
		cmocka_unit_test(test_explicit_length_and_nul),
		cmocka_unit_test(test_encoding_name),
		cmocka_unit_test(test_smart_texts),
		cmocka_unit_test(test_smart_letters),
		cmocka_unit_test(test_smart_every_code_point),
		cmocka_unit_test(test_alphabet_census),
		cmocka_unit_test(test_smart_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
