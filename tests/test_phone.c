/*
 * test_phone: numbers validated and normalised to E.164 (text/phone.h),
 * allowed-country lists, region codes.
 *
 * Most cases are rows of tables: an input, the default region it is read
 * in, and what must come out (E.164 and region, or a status and a word the
 * detail must contain).  A failing row prints its name.  Every call goes
 * through run(), which also checks that the detail holds no digit at all:
 * details reach logs, and a patient's number must not.
 *
 * The numbers are in real ranges: libphonenumber's own example numbers
 * (GetExampleNumberForType) where they exist, and the usual national
 * forms (French 06/07, German 015x/016x/017x, Italian 3xx without a
 * trunk 0, Spanish 6xx/7xx, Belgian 04xx, Dutch 06, British 07xxx).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "text/phone.h"

#define NBSP "\xC2\xA0"  /* U+00A0, a French locale's digit-group separator */
#define NNBSP "\xE2\x80\xAF" /* U+202F */
#define DETAIL_MAX 256

/* What one call returned. */
struct result {
	enum phone_status st;
	char e164[PHONE_E164_MAX];
	char region[3];
	char detail[DETAIL_MAX];
};

/* phone_normalize(), plus the checks every call must pass. */
static void run(const char *name, const struct phone_rules *rules, const char *in,
		const char *defreg, struct result *res)
{
	memset(res, 'X', sizeof(*res));
	res->st = phone_normalize(rules, in, defreg, res->e164, res->region, res->detail,
				  sizeof(res->detail));
	if (!memchr(res->detail, '\0', sizeof(res->detail))) {
		print_error("case \"%s\": detail not NUL-terminated\n", name);
		fail();
	}
	if (strpbrk(res->detail, "0123456789")) {
		print_error("case \"%s\": detail \"%s\" holds a digit\n", name, res->detail);
		fail();
	}
	if (res->st != PHONE_OK && res->detail[0] == '\0') {
		print_error("case \"%s\": status %s and no detail\n", name,
			    phone_status_name(res->st));
		fail();
	}
}

/* ---- valid mobiles ---- */

struct ok_case {
	const char *name;
	const char *in;
	const char *defreg; /* NULL: none */
	const char *e164;
	const char *region;
};

static void check_ok(const struct phone_rules *rules, const struct ok_case *cases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct ok_case *c = &cases[k];
		struct result res;

		run(c->name, rules, c->in, c->defreg, &res);
		if (res.st != PHONE_OK || strcmp(res.e164, c->e164) != 0 ||
		    strcmp(res.region, c->region) != 0) {
			print_error("case \"%s\": \"%s\" in %s: got %s %s %s (%s), want ok %s %s\n",
				    c->name, c->in, c->defreg ? c->defreg : "(none)",
				    phone_status_name(res.st), res.st == PHONE_OK ? res.e164 : "-",
				    res.st == PHONE_OK ? res.region : "-", res.detail, c->e164,
				    c->region);
			fail();
		}
	}
}

#define CHECK_OK(rules, t) check_ok((rules), (t), sizeof(t) / sizeof((t)[0]))

static void test_mobiles_france(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"E.164", "+33612345678", NULL, "+33612345678", "FR"},
		{"international, spaced", "+33 6 12 34 56 78", NULL, "+33612345678", "FR"},
		{"international, trunk 0 in parentheses", "+33 (0)6 12 34 56 78", NULL,
		 "+33612345678", "FR"},
		{"international, default region ignored", "+33 6 12 34 56 78", "DE",
		 "+33612345678", "FR"},
		{"national", "0612345678", "FR", "+33612345678", "FR"},
		{"national, spaces", "06 12 34 56 78", "FR", "+33612345678", "FR"},
		{"national, dots", "06.12.34.56.78", "FR", "+33612345678", "FR"},
		{"national, dashes", "06-12-34-56-78", "FR", "+33612345678", "FR"},
		{"national, no-break spaces", "06" NBSP "12" NBSP "34" NBSP "56" NBSP "78", "FR",
		 "+33612345678", "FR"},
		{"national, narrow no-break spaces", "06" NNBSP "12" NNBSP "34" NNBSP "56" NNBSP "78",
		 "FR", "+33612345678", "FR"},
		{"national, blanks around", "  06 12 34 56 78\t", "FR", "+33612345678", "FR"},
		{"national, lower-case region", "06 12 34 56 78", "fr", "+33612345678", "FR"},
		{"national 07", "07 56 12 34 56", "FR", "+33756123456", "FR"},
		{"00 prefix", "0033 6 12 34 56 78", "FR", "+33612345678", "FR"},
		{"00 prefix, no spaces", "0033612345678", "FR", "+33612345678", "FR"},
		{"00 prefix read from another 00 country", "0033612345678", "BE", "+33612345678",
		 "FR"},
		{"double plus (read as one, as libphonenumber does)", "++33 6 12 34 56 78", NULL,
		 "+33612345678", "FR"},
	};
	CHECK_OK(NULL, cases);
}

static void test_mobiles_germany(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"E.164", "+4915123456789", NULL, "+4915123456789", "DE"},
		{"international, spaced", "+49 151 23456789", NULL, "+4915123456789", "DE"},
		{"international, trunk 0 in parentheses", "+49 (0)151 23456789", NULL,
		 "+4915123456789", "DE"},
		{"national", "015123456789", "DE", "+4915123456789", "DE"},
		{"national, spaces", "01512 3456789", "DE", "+4915123456789", "DE"},
		{"national, slash", "0171/1234567", "DE", "+491711234567", "DE"},
		{"national, dots", "0176.1234.5678", "DE", "+4917612345678", "DE"},
		{"national, dashes", "0151-2345-6789", "DE", "+4915123456789", "DE"},
		{"00 prefix", "0049 151 23456789", "DE", "+4915123456789", "DE"},
		{"00 prefix from France", "0049 151 23456789", "FR", "+4915123456789", "DE"},
	};
	CHECK_OK(NULL, cases);
}

static void test_mobiles_italy(void **state)
{
	(void)state;
	/* Italian mobiles start with 3 and have no trunk 0. */
	static const struct ok_case cases[] = {
		{"E.164", "+393471234567", NULL, "+393471234567", "IT"},
		{"international, spaced", "+39 347 123 4567", NULL, "+393471234567", "IT"},
		{"example number", "+39 312 345 6789", NULL, "+393123456789", "IT"},
		{"national", "3471234567", "IT", "+393471234567", "IT"},
		{"national, spaces", "347 123 4567", "IT", "+393471234567", "IT"},
		{"national, dots", "347.123.4567", "IT", "+393471234567", "IT"},
		{"national, dash", "347-1234567", "IT", "+393471234567", "IT"},
		{"00 prefix", "0039 347 123 4567", "IT", "+393471234567", "IT"},
	};
	CHECK_OK(NULL, cases);
}

static void test_mobiles_spain(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"E.164", "+34612345678", NULL, "+34612345678", "ES"},
		{"international, spaced", "+34 612 34 56 78", NULL, "+34612345678", "ES"},
		{"national", "612345678", "ES", "+34612345678", "ES"},
		{"national, spaces", "612 34 56 78", "ES", "+34612345678", "ES"},
		{"national, dots", "612.34.56.78", "ES", "+34612345678", "ES"},
		{"national, dashes", "612-345-678", "ES", "+34612345678", "ES"},
		{"national 7xx", "712 34 56 78", "ES", "+34712345678", "ES"},
		{"00 prefix", "0034 612 34 56 78", "ES", "+34612345678", "ES"},
	};
	CHECK_OK(NULL, cases);
}

static void test_mobiles_belgium(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"E.164", "+32470123456", NULL, "+32470123456", "BE"},
		{"international, spaced", "+32 470 12 34 56", NULL, "+32470123456", "BE"},
		{"international, trunk 0 in parentheses", "+32 (0)470 12 34 56", NULL,
		 "+32470123456", "BE"},
		{"national", "0470123456", "BE", "+32470123456", "BE"},
		{"national, spaces", "0470 12 34 56", "BE", "+32470123456", "BE"},
		{"national, dots", "0470.12.34.56", "BE", "+32470123456", "BE"},
		{"national, slash and dots", "0470/12.34.56", "BE", "+32470123456", "BE"},
		{"national, dashes", "0491-23-45-67", "BE", "+32491234567", "BE"},
		{"00 prefix", "0032 470 12 34 56", "BE", "+32470123456", "BE"},
	};
	CHECK_OK(NULL, cases);
}

static void test_mobiles_netherlands(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"E.164", "+31612345678", NULL, "+31612345678", "NL"},
		{"international, spaced", "+31 6 12345678", NULL, "+31612345678", "NL"},
		{"international, trunk 0 in parentheses", "+31 (0)6 1234 5678", NULL,
		 "+31612345678", "NL"},
		{"national", "0612345678", "NL", "+31612345678", "NL"},
		{"national, space", "06 12345678", "NL", "+31612345678", "NL"},
		{"national, dash", "06-12345678", "NL", "+31612345678", "NL"},
		{"national, dots", "06.12.34.56.78", "NL", "+31612345678", "NL"},
		{"00 prefix", "0031 6 12345678", "NL", "+31612345678", "NL"},
	};
	CHECK_OK(NULL, cases);
}

static void test_mobiles_united_kingdom(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"E.164", "+447400123456", NULL, "+447400123456", "GB"},
		{"international, spaced", "+44 7400 123456", NULL, "+447400123456", "GB"},
		{"international, trunk 0 in parentheses", "+44 (0)7400 123456", NULL,
		 "+447400123456", "GB"},
		{"national", "07400123456", "GB", "+447400123456", "GB"},
		{"national, space", "07400 123456", "GB", "+447400123456", "GB"},
		{"national, dashes", "07400-123-456", "GB", "+447400123456", "GB"},
		{"national, dots", "07400.123.456", "GB", "+447400123456", "GB"},
		{"00 prefix", "0044 7400 123456", "GB", "+447400123456", "GB"},
		/* +44 is shared: the region is the one whose plan holds the number. */
		{"07911 is Guernsey's", "+44 7911 123456", NULL, "+447911123456", "GG"},
		{"07797 7 is Jersey's", "+44 7797 712345", NULL, "+447797712345", "JE"},
		{"07624 is the Isle of Man's", "07624 123456", "GB", "+447624123456", "IM"},
	};
	CHECK_OK(NULL, cases);
}

/* Where a plan cannot tell mobiles from fixed lines: FIXED_LINE_OR_MOBILE. */
static void test_fixed_line_or_mobile_accepted(void **state)
{
	(void)state;
	static const struct ok_case cases[] = {
		{"USA", "+1 201 555 0123", NULL, "+12015550123", "US"},
		{"USA, national", "(201) 555-0123", "US", "+12015550123", "US"},
		{"Canada", "+1 613 555 0123", NULL, "+16135550123", "CA"},
		{"Denmark (one plan for both in libphonenumber)", "+45 20 00 23 45", NULL,
		 "+4520002345", "DK"},
	};
	CHECK_OK(NULL, cases);
}

/* ---- refused numbers ---- */

struct bad_case {
	const char *name;
	const char *in;
	const char *defreg;     /* NULL: none */
	enum phone_status st;
	const char *detail_has; /* a substring of the detail, or NULL */
};

static void check_bad(const struct phone_rules *rules, const struct bad_case *cases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct bad_case *c = &cases[k];
		struct result res;

		run(c->name, rules, c->in, c->defreg, &res);
		if (res.st != c->st || (c->detail_has && !strstr(res.detail, c->detail_has)) ||
		    res.e164[0] != '\0' || res.region[0] != '\0') {
			print_error("case \"%s\": got %s \"%s\" e164 \"%.*s\", want %s with \"%s\"\n",
				    c->name, phone_status_name(res.st), res.detail,
				    PHONE_E164_MAX - 1, res.e164, phone_status_name(c->st),
				    c->detail_has ? c->detail_has : "");
			fail();
		}
	}
}

#define CHECK_BAD(rules, t) check_bad((rules), (t), sizeof(t) / sizeof((t)[0]))

static void test_fixed_lines_not_mobile(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"FR Paris", "+33 1 23 45 67 89", NULL, PHONE_NOT_MOBILE, "fixed-line number (FR)"},
		{"FR Paris, national", "01 23 45 67 89", "FR", PHONE_NOT_MOBILE, "fixed-line"},
		{"FR south-west, national", "05 12 34 56 78", "FR", PHONE_NOT_MOBILE, "fixed-line"},
		{"DE Berlin", "+49 30 123456", NULL, PHONE_NOT_MOBILE, "fixed-line number (DE)"},
		{"DE Munich, national", "089 1234567", "DE", PHONE_NOT_MOBILE, "fixed-line"},
		{"IT Rome (the 0 stays after +39)", "+39 06 1234 5678", NULL, PHONE_NOT_MOBILE,
		 "fixed-line number (IT)"},
		{"IT Rome, national", "06 1234 5678", "IT", PHONE_NOT_MOBILE, "fixed-line"},
		{"IT Milan, national", "02 1234 5678", "IT", PHONE_NOT_MOBILE, "fixed-line"},
		{"ES Madrid", "+34 912 34 56 78", NULL, PHONE_NOT_MOBILE, "fixed-line number (ES)"},
		{"ES Madrid, national", "912 34 56 78", "ES", PHONE_NOT_MOBILE, "fixed-line"},
		{"BE Brussels", "+32 2 234 56 78", NULL, PHONE_NOT_MOBILE, "fixed-line number (BE)"},
		{"BE Antwerp, national", "03 234 56 78", "BE", PHONE_NOT_MOBILE, "fixed-line"},
		{"NL Amsterdam", "+31 20 123 4567", NULL, PHONE_NOT_MOBILE, "fixed-line number (NL)"},
		{"NL Rotterdam, national", "010 123 4567", "NL", PHONE_NOT_MOBILE, "fixed-line"},
		{"GB London", "+44 20 7946 0018", NULL, PHONE_NOT_MOBILE, "fixed-line number (GB)"},
		{"GB Birmingham, national", "0121 234 5678", "GB", PHONE_NOT_MOBILE, "fixed-line"},
		{"CH Lausanne", "+41 21 234 56 78", NULL, PHONE_NOT_MOBILE, "fixed-line number (CH)"},
	};
	CHECK_BAD(NULL, cases);
}

static void test_special_ranges_not_mobile(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"FR 0800 toll-free", "0800 12 34 56", "FR", PHONE_NOT_MOBILE, "toll-free number (FR)"},
		{"FR 0 800 toll-free, other grouping", "0 800 12 34 56", "FR", PHONE_NOT_MOBILE,
		 "toll-free"},
		{"FR 0891 premium", "0891 12 34 56", "FR", PHONE_NOT_MOBILE, "premium-rate"},
		{"FR 0899 premium", "+33 899 12 34 56", NULL, PHONE_NOT_MOBILE, "premium-rate"},
		{"FR 0810 shared cost", "0810 12 34 56", "FR", PHONE_NOT_MOBILE, "shared-cost"},
		{"FR 09 VoIP", "09 12 34 56 78", "FR", PHONE_NOT_MOBILE, "VoIP"},
		{"DE 0800 toll-free", "0800 1234567", "DE", PHONE_NOT_MOBILE, "toll-free"},
		{"DE 0900 premium", "+49 900 1 234567", NULL, PHONE_NOT_MOBILE, "premium-rate"},
		{"DE 0700 personal", "+49 700 1234 5678", NULL, PHONE_NOT_MOBILE, "personal"},
		{"IT 800 toll-free", "800 123 456", "IT", PHONE_NOT_MOBILE, "toll-free"},
		{"IT 899 premium", "899 123 456", "IT", PHONE_NOT_MOBILE, "premium-rate"},
		{"ES 900 toll-free", "900 123 456", "ES", PHONE_NOT_MOBILE, "toll-free"},
		{"ES 803 premium", "+34 803 12 34 56", NULL, PHONE_NOT_MOBILE, "premium-rate"},
		{"BE 0800 toll-free", "0800 12 345", "BE", PHONE_NOT_MOBILE, "toll-free"},
		{"BE 0900 premium", "0900 12 345", "BE", PHONE_NOT_MOBILE, "premium-rate"},
		{"NL 0800 toll-free", "0800 1234", "NL", PHONE_NOT_MOBILE, "toll-free"},
		{"NL 0900 premium", "0900 1234", "NL", PHONE_NOT_MOBILE, "premium-rate"},
		{"GB 0800 toll-free", "0800 123 4567", "GB", PHONE_NOT_MOBILE, "toll-free"},
		{"GB 0901 premium", "0901 234 5678", "GB", PHONE_NOT_MOBILE, "premium-rate"},
		{"GB 070 personal (not a mobile despite the 07)", "070 1234 5678", "GB",
		 PHONE_NOT_MOBILE, "personal"},
		{"GB 076 pager", "+44 76 4012 3456", NULL, PHONE_NOT_MOBILE, "pager"},
		{"GB 0300 UAN", "0300 123 4567", "GB", PHONE_NOT_MOBILE, "UAN"},
		{"+800 international freephone", "+800 1234 5678", NULL, PHONE_NOT_MOBILE,
		 "non-geographic"},
		{"+882 international network", "+882 3421 234", NULL, PHONE_NOT_MOBILE,
		 "non-geographic"},
	};
	CHECK_BAD(NULL, cases);
}

static void test_wrong_lengths(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"FR one digit short", "+33 6 12 34 56 7", NULL, PHONE_TOO_SHORT, "FR"},
		/* libphonenumber keeps the trunk 0 when dropping it would leave too
		 * few digits: "061234567" is then 9 digits, a French length */
		{"FR national, one digit short: invalid", "06 12 34 56 7", "FR", PHONE_INVALID,
		 "FR"},
		{"FR national, three digits short", "06 12 34 5", "FR", PHONE_TOO_SHORT, "FR"},
		{"FR two digits", "12", "FR", PHONE_TOO_SHORT, "too short"},
		{"ES one digit short", "+34 612 34 56 7", NULL, PHONE_TOO_SHORT, "ES"},
		{"BE country code and prefix only", "+32 470", NULL, PHONE_TOO_SHORT, "BE"},
		{"IT too short (region named after +39's main country)", "+39 312", NULL,
		 PHONE_TOO_SHORT, "IT"},
		{"+800 too short", "+800 1234", NULL, PHONE_TOO_SHORT, "non-geographic"},
		{"FR one digit too many", "+33 6 12 34 56 78 9", NULL, PHONE_TOO_LONG, "FR"},
		{"FR national, one digit too many", "06 12 34 56 78 9", "FR", PHONE_TOO_LONG, "FR"},
		{"ES one digit too many", "+34 612 34 56 789", NULL, PHONE_TOO_LONG, "ES"},
		{"BE too long", "+32 470 12 34 56 78", NULL, PHONE_TOO_LONG, "BE"},
		{"GB too long", "+44 7400 1234567", NULL, PHONE_TOO_LONG, "GB"},
		{"IT too long", "+39 312 345 6789 012", NULL, PHONE_TOO_LONG, "IT"},
		{"DE too long", "+49 1512 3456 7890 1234 5", NULL, PHONE_TOO_LONG, "DE"},
		{"over 17 national digits (refused by the parser)", "+49 1512 3456 7890 1234 567",
		 NULL, PHONE_TOO_LONG, "too long"},
		{"no number after the country code", "+49 0", NULL, PHONE_TOO_SHORT, "too short"},
	};
	CHECK_BAD(NULL, cases);
}

static void test_impossible_numbers(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"FR 07 1x is not allocated", "+33 7 12 34 56 78", NULL, PHONE_INVALID,
		 "valid numbers of FR"},
		{"FR national number starting 00 after +33", "+33 0 12 34 56 78", NULL,
		 PHONE_INVALID, "FR"},
		{"NL 06 with one digit short (a length other numbers have)", "+31 6 1234567", NULL,
		 PHONE_INVALID, "NL"},
		{"IT without the 0 of a fixed line", "+39 6 1234 5678", NULL, PHONE_INVALID, "IT"},
		{"GB drama range 07700 900", "+44 7700 900123", NULL, PHONE_INVALID, "GB"},
		{"BE 06 in Belgium", "06 12 34 56 78", "BE", PHONE_INVALID, "BE"},
		{"CH length between two valid ones", "+41 21 234 56789", NULL, PHONE_INVALID,
		 "length"},
		{"DE local number without area code", "+49 11", NULL, PHONE_INVALID, "DE"},
	};
	CHECK_BAD(NULL, cases);
}

static void test_not_a_number(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"empty", "", "FR", PHONE_NOT_A_NUMBER, "no digits"},
		{"blanks", "  \t ", "FR", PHONE_NOT_A_NUMBER, "no digits"},
		{"separators only", "-.-/()", "FR", PHONE_NOT_A_NUMBER, "no digits"},
		{"plus", "+", NULL, PHONE_NOT_A_NUMBER, "no digits"},
		{"two pluses", "++", "FR", PHONE_NOT_A_NUMBER, "no digits"},
		{"plus and country code only", "+33", NULL, PHONE_NOT_A_NUMBER, NULL},
		{"two pluses and country code only", "++33", NULL, PHONE_NOT_A_NUMBER, NULL},
		{"one digit", "1", "FR", PHONE_NOT_A_NUMBER, NULL},
		{"letters", "abc", "FR", PHONE_NOT_A_NUMBER, "letters"},
		{"letters in a number (no vanity numbers)", "06 12 34 AB CD", "FR",
		 PHONE_NOT_A_NUMBER, "letters"},
		{"label before the number", "Tel: 06 12 34 56 78", "FR", PHONE_NOT_A_NUMBER,
		 "letters"},
		{"extension", "+33 6 12 34 56 78 ext. 12", NULL, PHONE_NOT_A_NUMBER, "letters"},
		{"RFC 3966", "tel:+33-6-12-34-56-78", NULL, PHONE_NOT_A_NUMBER, "letters"},
		{"plus after a digit", "+33 6 12+34 56 78", NULL, PHONE_NOT_A_NUMBER, "'+'"},
		{"underscore", "06_12_34_56_78", "FR", PHONE_NOT_A_NUMBER, "'_'"},
		{"comma", "06,12,34,56,78", "FR", PHONE_NOT_A_NUMBER, "','"},
		{"newline", "06 12 34\n56 78", "FR", PHONE_NOT_A_NUMBER, "control"},
		{"escape", "\x1b[0m0612345678", "FR", PHONE_NOT_A_NUMBER, "control"},
		{"full-width digits", "\xEF\xBC\x90\xEF\xBC\x96", "FR", PHONE_NOT_A_NUMBER,
		 "non-ASCII"},
		{"invalid UTF-8", "06 12 34 56 \xFF\xFE", "FR", PHONE_NOT_A_NUMBER, "non-ASCII"},
		{"truncated no-break space", "06\xC2", "FR", PHONE_NOT_A_NUMBER, "non-ASCII"},
		{"unknown country calling code", "+999 612 345 678", NULL, PHONE_NOT_A_NUMBER,
		 "country calling code"},
	};
	CHECK_BAD(NULL, cases);
}

/* The byte limit: 64 bytes pass, 65 do not, whatever they hold. */
static void test_input_length_limit(void **state)
{
	(void)state;
	char in[200];
	struct result res;
	size_t pad;

	/* "+33612345678" (12 bytes) padded with trailing spaces to 64 bytes */
	pad = 64 - strlen("+33612345678");
	snprintf(in, sizeof(in), "+33612345678%*s", (int)pad, "");
	assert_int_equal(strlen(in), 64);
	run("64 bytes", NULL, in, NULL, &res);
	assert_int_equal(res.st, PHONE_OK);
	assert_string_equal(res.e164, "+33612345678");

	strcat(in, " ");
	run("65 bytes", NULL, in, NULL, &res);
	assert_int_equal(res.st, PHONE_NOT_A_NUMBER);
	assert_non_null(strstr(res.detail, "too long"));

	memset(in, '6', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	run("199 digits", NULL, in, "FR", &res);
	assert_int_equal(res.st, PHONE_NOT_A_NUMBER);
	assert_non_null(strstr(res.detail, "too long"));

	run("NULL input", NULL, NULL, "FR", &res);
	assert_int_equal(res.st, PHONE_NOT_A_NUMBER);
}

static void test_national_form_needs_region(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"no region", "06 12 34 56 78", NULL, PHONE_NO_REGION, "no default region"},
		{"empty region", "06 12 34 56 78", "", PHONE_NO_REGION, "no default region"},
		{"00 needs a region to be an international prefix", "0033 6 12 34 56 78", NULL,
		 PHONE_NO_REGION, "no default region"},
		{"short national form", "12", NULL, PHONE_NO_REGION, NULL},
		{"unknown region", "06 12 34 56 78", "XX", PHONE_NO_REGION, "XX is not a known"},
		{"UK is not ISO 3166", "07400 123456", "uk", PHONE_NO_REGION, "UK is not a known"},
		{"three letters", "06 12 34 56 78", "FRA", PHONE_NO_REGION, "not a two-letter"},
		{"digits", "06 12 34 56 78", "33", PHONE_NO_REGION, "not a two-letter"},
	};
	static const struct ok_case oks[] = {
		{"international form needs none", "+33 6 12 34 56 78", NULL, "+33612345678", "FR"},
		{"international form, unknown region", "+33 6 12 34 56 78", "XX", "+33612345678",
		 "FR"},
		{"international form, garbage region", "+44 7400 123456", "+44", "+447400123456",
		 "GB"},
	};
	CHECK_BAD(NULL, cases);
	CHECK_OK(NULL, oks);
}

/* A national form is read in the default region, whatever it was meant as. */
static void test_wrong_default_region(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"FR mobile read in DE: a Wiesbaden line", "06 12 34 56 78", "DE", PHONE_NOT_MOBILE,
		 "fixed-line number (DE)"},
		{"FR mobile read in IT: a Rome line", "06 12 34 56 78", "IT", PHONE_NOT_MOBILE,
		 "fixed-line number (IT)"},
		{"FR mobile read in ES: Spain has no trunk 0", "06 12 34 56 78", "ES",
		 PHONE_TOO_LONG, "ES"},
		{"FR mobile read in BE", "06 12 34 56 78", "BE", PHONE_INVALID, "BE"},
		{"FR mobile read in GB", "06 12 34 56 78", "GB", PHONE_INVALID, "GB"},
		{"GB mobile read in FR", "07400 123456", "FR", PHONE_TOO_LONG, "FR"},
		{"IT mobile read in FR", "347 123 4567", "FR", PHONE_TOO_LONG, "FR"},
		{"BE mobile read in NL", "0470 12 34 56", "NL", PHONE_INVALID, "NL"},
	};
	/* XXX the dangerous case: a Spanish mobile (no trunk 0) read in France
	 * is a valid French mobile.  Nothing in the digits tells them apart;
	 * only an international form or the right default region does. */
	static const struct ok_case oks[] = {
		{"ES mobile read in FR", "612 34 56 78", "FR", "+33612345678", "FR"},
		{"FR mobile read in NL: a Dutch mobile", "06 12 34 56 78", "NL", "+31612345678",
		 "NL"},
	};
	CHECK_BAD(NULL, cases);
	CHECK_OK(NULL, oks);
}

/* ---- allowed countries ---- */

static void test_allowed_countries(void **state)
{
	(void)state;
	struct phone_rules r;
	char err[128];
	struct result res;

	assert_int_equal(phone_rules_parse(&r, "FR, de", err, sizeof(err)), 0);
	static const struct ok_case oks[] = {
		{"FR allowed", "+33 6 12 34 56 78", NULL, "+33612345678", "FR"},
		{"DE allowed", "0151 23456789", "DE", "+4915123456789", "DE"},
		{"DE allowed, read from a FR default", "0049 151 23456789", "FR", "+4915123456789",
		 "DE"},
	};
	static const struct bad_case bads[] = {
		{"GB refused", "+44 7400 123456", NULL, PHONE_COUNTRY_NOT_ALLOWED,
		 "numbers of GB are not allowed (ingest.allowed_countries: FR,DE)"},
		{"US refused", "+1 201 555 0123", NULL, PHONE_COUNTRY_NOT_ALLOWED,
		 "numbers of US are not allowed"},
		{"IT refused, national form", "347 123 4567", "IT", PHONE_COUNTRY_NOT_ALLOWED,
		 "numbers of IT are not allowed"},
		/* validity and type come first: a refused fixed line is NOT_MOBILE */
		{"GB fixed line: not mobile first", "+44 20 7946 0018", NULL, PHONE_NOT_MOBILE,
		 "fixed-line"},
		{"ES short: too short first", "+34 612 34 56 7", NULL, PHONE_TOO_SHORT, "ES"},
	};
	CHECK_OK(&r, oks);
	CHECK_BAD(&r, bads);

	/* GB does not cover Jersey, Guernsey or the Isle of Man (own regions) */
	assert_int_equal(phone_rules_parse(&r, "GB", err, sizeof(err)), 0);
	run("GB allowed", &r, "07400 123456", "GB", &res);
	assert_int_equal(res.st, PHONE_OK);
	run("JE refused by GB", &r, "07797 712345", "GB", &res);
	assert_int_equal(res.st, PHONE_COUNTRY_NOT_ALLOWED);
	assert_non_null(strstr(res.detail, "numbers of JE are not allowed"));
	assert_int_equal(phone_rules_parse(&r, "GB JE GG IM", err, sizeof(err)), 0);
	run("JE allowed", &r, "07797 712345", "GB", &res);
	assert_int_equal(res.st, PHONE_OK);
	assert_string_equal(res.region, "JE");

	/* "*", an empty list and NULL rules allow everything */
	assert_int_equal(phone_rules_parse(&r, "*", err, sizeof(err)), 0);
	run("any (*)", &r, "+1 201 555 0123", NULL, &res);
	assert_int_equal(res.st, PHONE_OK);
	assert_int_equal(phone_rules_parse(&r, "", err, sizeof(err)), 0);
	run("any (empty)", &r, "+45 20 00 23 45", NULL, &res);
	assert_int_equal(res.st, PHONE_OK);
	run("any (NULL)", NULL, "+45 20 00 23 45", NULL, &res);
	assert_int_equal(res.st, PHONE_OK);
}

/* The detail lists the allowed codes; a long list is cut, still terminated. */
static void test_allowed_list_in_small_detail(void **state)
{
	(void)state;
	struct phone_rules r;
	char err[128], e164[PHONE_E164_MAX], region[3], detail[16];

	assert_int_equal(phone_rules_parse(&r, "FR DE IT ES BE NL", err, sizeof(err)), 0);
	memset(detail, 'X', sizeof(detail));
	assert_int_equal(phone_normalize(&r, "+44 7400 123456", NULL, e164, region, detail,
					 sizeof(detail)),
			 PHONE_COUNTRY_NOT_ALLOWED);
	assert_int_equal(strlen(detail), sizeof(detail) - 1);
	assert_memory_equal(detail, "numbers of GB a", sizeof(detail));

	/* no detail buffer at all: the status still comes back */
	assert_int_equal(phone_normalize(&r, "+44 7400 123456", NULL, e164, region, NULL, 0),
			 PHONE_COUNTRY_NOT_ALLOWED);
	memset(detail, 'X', sizeof(detail));
	assert_int_equal(phone_normalize(&r, "abc", NULL, e164, region, detail, 1),
			 PHONE_NOT_A_NUMBER);
	assert_int_equal(detail[0], '\0');
	assert_int_equal(detail[1], 'X');
	assert_int_equal(phone_normalize(&r, "+33 6 12 34 56 78", NULL, e164, region, NULL, 0),
			 PHONE_OK);
	assert_string_equal(e164, "+33612345678");
	assert_string_equal(region, "FR");
}

/* ---- phone_rules_parse ---- */

struct rules_case {
	const char *name;
	const char *list;
	const char *want; /* the codes, comma-joined ("" for any) */
};

static void join(const struct phone_rules *r, char *out, size_t out_len)
{
	out[0] = '\0';
	for (size_t i = 0; i < r->count; i++) {
		if (i)
			strncat(out, ",", out_len - strlen(out) - 1);
		strncat(out, r->countries[i], out_len - strlen(out) - 1);
	}
}

static void test_rules_parse(void **state)
{
	(void)state;
	static const struct rules_case cases[] = {
		{"one", "FR", "FR"},
		{"commas", "FR,DE,IT", "FR,DE,IT"},
		{"spaces", "FR DE IT", "FR,DE,IT"},
		{"commas and spaces", " FR , DE,IT ,  ES ", "FR,DE,IT,ES"},
		{"tabs and newlines", "FR\tDE\nIT", "FR,DE,IT"},
		{"empty fields", "FR,,DE,", "FR,DE"},
		{"lower and mixed case", "fr, De,iT", "FR,DE,IT"},
		{"duplicates", "FR,fr, Fr,DE,FR", "FR,DE"},
		{"the seven of the tests", "FR DE IT ES BE NL GB", "FR,DE,IT,ES,BE,NL,GB"},
		{"empty: any", "", ""},
		{"blanks: any", "  ", ""},
		{"star: any", "*", ""},
		{"star in blanks: any", " * ", ""},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct rules_case *c = &cases[k];
		struct phone_rules r;
		char err[128], got[256];

		memset(&r, 0xA5, sizeof(r));
		memset(err, 'X', sizeof(err));
		if (phone_rules_parse(&r, c->list, err, sizeof(err)) != 0) {
			print_error("case \"%s\": refused: %s\n", c->name, err);
			fail();
		}
		join(&r, got, sizeof(got));
		if (strcmp(got, c->want) != 0) {
			print_error("case \"%s\": got \"%s\", want \"%s\"\n", c->name, got, c->want);
			fail();
		}
	}
}

struct rules_error_case {
	const char *name;
	const char *list;
	const char *err_has;
};

static void test_rules_parse_errors(void **state)
{
	(void)state;
	static const struct rules_error_case cases[] = {
		{"unknown code", "FR,XX", "unknown country code 'XX'"},
		{"unknown code, lower case", "fr xx", "unknown country code 'XX'"},
		{"UK for GB", "FR,UK", "unknown country code 'UK' (the United Kingdom is GB)"},
		{"ZZ (libphonenumber's unknown)", "ZZ", "unknown country code 'ZZ'"},
		{"three letters", "FRA", "invalid country code 'FRA'"},
		{"one letter", "FR,D", "invalid country code 'D'"},
		{"digits", "FR,33", "invalid country code '33'"},
		{"non-geographic 001", "001", "invalid country code '001'"},
		{"semicolons are not separators", "FR;DE", "invalid country code 'FR;DE'"},
		{"long token cut", "FRANCEANDGERMANY", "invalid country code 'FRANCEAN...'"},
		{"control byte shown as ?", "F\x01", "invalid country code 'F?'"},
		{"star with codes", "FR,*", "'*'"},
		{"star first", "*,FR", "'*'"},
		{"commas only", ",,,", "no country code"},
	};
	struct phone_rules before, r;
	char err[128];

	assert_int_equal(phone_rules_parse(&before, "BE,NL", err, sizeof(err)), 0);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct rules_error_case *c = &cases[k];

		r = before;
		memset(err, 'X', sizeof(err));
		if (phone_rules_parse(&r, c->list, err, sizeof(err)) != -1 ||
		    !memchr(err, '\0', sizeof(err)) || !strstr(err, c->err_has) ||
		    memcmp(&r, &before, sizeof(r)) != 0) {
			print_error("case \"%s\": err \"%.127s\" (want \"%s\"), rules %s\n", c->name,
				    err, c->err_has,
				    memcmp(&r, &before, sizeof(r)) ? "changed" : "unchanged");
			fail();
		}
	}

	/* tiny and missing error buffers */
	r = before;
	memset(err, 'X', sizeof(err));
	assert_int_equal(phone_rules_parse(&r, "XX", err, 1), -1);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'X');
	assert_int_equal(phone_rules_parse(&r, "XX", NULL, 0), -1);
	assert_int_equal(phone_rules_parse(&r, NULL, err, sizeof(err)), -1);
	assert_memory_equal(&r, &before, sizeof(r));
}

/* 64 different codes fit, a 65th does not; duplicates do not count. */
static void test_rules_parse_max(void **state)
{
	(void)state;
	static const char *const codes[] = {
		"AD", "AE", "AF", "AG", "AL", "AM", "AO", "AR", "AT", "AU", "AZ", "BA", "BB",
		"BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BO", "BR", "BS", "BT", "BW", "BY",
		"BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CL", "CM", "CN", "CO", "CR", "CU",
		"CV", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "ES",
		"ET", "FI", "FJ", "FR", "GA", "GB", "GD", "GE", "GH", "GM", "GN", "GR", "GT",
	};
	char list[512] = "";
	struct phone_rules r;
	char err[128];

	assert_int_equal(sizeof(codes) / sizeof(codes[0]), PHONE_COUNTRIES_MAX + 1);
	for (size_t i = 0; i < PHONE_COUNTRIES_MAX; i++) {
		assert_true(phone_region_known(codes[i]));
		strcat(list, codes[i]);
		strcat(list, ",");
	}
	strcat(list, "ad,Fr,GB");
	assert_int_equal(phone_rules_parse(&r, list, err, sizeof(err)), 0);
	assert_int_equal(r.count, PHONE_COUNTRIES_MAX);
	assert_string_equal(r.countries[PHONE_COUNTRIES_MAX - 1], "GR");

	strcat(list, ",");
	strcat(list, codes[PHONE_COUNTRIES_MAX]);
	assert_int_equal(phone_rules_parse(&r, list, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
}

/* ---- regions, names, details ---- */

static void test_region_known(void **state)
{
	(void)state;
	static const char *const known[] = {"FR", "DE", "IT", "ES", "BE", "NL", "GB", "fr",
					    "Gb", "gB", "JE", "GG", "IM", "VA", "US", "DK"};
	static const char *const unknown[] = {"UK", "XX", "ZZ", "EU", "001", "", "F", "FRA",
					      "F1", "12", "+3", "F\xC3\xA9", "fr "};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!phone_region_known(known[i])) {
			print_error("\"%s\" should be known\n", known[i]);
			fail();
		}
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		if (phone_region_known(unknown[i])) {
			print_error("\"%s\" should be unknown\n", unknown[i]);
			fail();
		}
	}
	assert_false(phone_region_known(NULL));
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(phone_status_name(PHONE_OK), "ok");
	assert_string_equal(phone_status_name(PHONE_NOT_A_NUMBER), "not_a_number");
	assert_string_equal(phone_status_name(PHONE_NO_REGION), "no_region");
	assert_string_equal(phone_status_name(PHONE_TOO_SHORT), "too_short");
	assert_string_equal(phone_status_name(PHONE_TOO_LONG), "too_long");
	assert_string_equal(phone_status_name(PHONE_INVALID), "invalid");
	assert_string_equal(phone_status_name(PHONE_NOT_MOBILE), "not_mobile");
	assert_string_equal(phone_status_name(PHONE_COUNTRY_NOT_ALLOWED), "country_not_allowed");
}

/*
 * Details never carry the number: run() checks every call of every test for
 * any digit; these inputs are the ones most likely to leak one (each status,
 * digits of every kind, numbers with the same digits as region codes).
 */
static void test_details_never_carry_digits(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		"+33 6 12 34 56 7", "+33 6 12 34 56 78 9", "+33 7 12 34 56 78", "+33 1 23 45 67 89",
		"0800 12 34 56", "+800 1234 5678", "+882 3421 234", "+999 612 345 678", "12", "1",
		"06 12 34 AB CD", "+33 6 12+34 56 78", "0612345678901234567890123456789",
		"+49 1512 3456 7890 1234 567", "+41 21 234 56789", "+44 7400 123456",
		"+1 201 555 0123", "0033 6 12 34 56 78", "+39 06 1234 5678", "+0 12 34",
		"9876543210", "+3", "+", "",
	};
	static const char *const regions[] = {NULL, "FR", "GB", "XX", "123"};
	struct phone_rules r;
	char err[128];
	struct result res;

	assert_int_equal(phone_rules_parse(&r, "FR", err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		for (size_t j = 0; j < sizeof(regions) / sizeof(regions[0]); j++) {
			run(inputs[i], &r, inputs[i], regions[j], &res);
			run(inputs[i], NULL, inputs[i], regions[j], &res);
		}
	}
}

/* No state carries over from one call to the next: the same inputs give the
 * same answer, interleaved. */
/* The next draw of a xorshift64 generator. */
static uint64_t next_draw(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* phone_normalize() and phone_normalize_parse() give the same answer for
 * in, read in region; the status. */
static enum phone_status expect_both_paths_agree(const char *in, const char *region)
{
	struct result a, b;

	a.st = phone_normalize(NULL, in, region, a.e164, a.region, a.detail, sizeof(a.detail));
	b.st = phone_normalize_parse(NULL, in, region, b.e164, b.region, b.detail,
				     sizeof(b.detail));
	if (a.st != b.st || strcmp(a.e164, b.e164) != 0 || strcmp(a.region, b.region) != 0 ||
	    strcmp(a.detail, b.detail) != 0)
		fail_msg("%s in %s: phone_normalize() %s %s %s \"%s\", the libphonenumber path %s "
			 "%s %s \"%s\"", in, region, phone_status_name(a.st), a.e164, a.region,
			 a.detail, phone_status_name(b.st), b.e164, b.region, b.detail);
	return a.st;
}

/*
 * phone_normalize() builds the plain forms of a few plans without
 * libphonenumber's Parse() (phone.cc, "Fast path").  It must agree with the
 * Parse() path on everything: random digit strings of every length, in
 * international form, in national form with and without the trunk 0, and
 * with the other shapes that must go through Parse() ("00", "+33 0...").
 */
static void test_fast_path_agrees_with_parse(void **state)
{
	/* code, region, a mobile prefix and the NSN length of its numbers */
	static const struct { const char *cc, *region, *mobile; size_t len; } plans[] = {
		{ "33", "FR", "6", 9 }, { "49", "DE", "15", 11 }, { "39", "IT", "3", 10 },
		{ "34", "ES", "6", 9 }, { "32", "BE", "47", 9 }, { "31", "NL", "6", 9 },
		{ "44", "GB", "7", 10 }, { "41", "CH", "7", 9 },
	};
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	unsigned checked = 0, ok = 0;

	(void)state;
	for (size_t p = 0; p < sizeof(plans) / sizeof(plans[0]); p++) {
		for (int i = 0; i < 1500; i++) {
			char digits[20], in[40];
			size_t n;

			next_draw(&x);
			n = 3 + (size_t)(x % 12);
			for (size_t k = 0; k < n; k++)
				digits[k] = (char)('0' + (x >> (4 + 3 * k)) % 10);
			digits[n] = '\0';
			if (i % 3 == 0) { /* a plausible mobile, give or take a digit */
				size_t ml = strlen(plans[p].mobile);

				n = plans[p].len - 1 + (size_t)(x % 3);
				memcpy(digits, plans[p].mobile, ml);
				for (size_t k = ml; k < n; k++)
					digits[k] = (char)('0' + (x >> (4 + 3 * k)) % 10);
				digits[n] = '\0';
			}
			switch (i % 5) {
			case 0: snprintf(in, sizeof(in), "+%s%s", plans[p].cc, digits); break;
			case 1: snprintf(in, sizeof(in), "0%s", digits); break;
			case 2: snprintf(in, sizeof(in), "%s", digits); break;
			case 3: snprintf(in, sizeof(in), "00%s%s", plans[p].cc, digits); break;
			default: snprintf(in, sizeof(in), "+%s 0%s", plans[p].cc, digits); break;
			}
			ok += expect_both_paths_agree(in, plans[p].region) == PHONE_OK;
			checked++;
		}
	}
	/* The draw must have reached valid mobiles too, not only garbage. */
	assert_true(ok > checked / 50);
}

/*
 * phone_normalize() checks a number's type with RE2 over libphonenumber's
 * metadata (phone.cc, type_of()); phone_normalize_parse() asks
 * GetNumberType().  Over random national numbers of every region
 * libphonenumber knows, they must agree: the RE2 check never takes a number
 * libphonenumber refuses (a refusal by either is decided by
 * GetNumberType(), so refusals agree by construction), and it takes the
 * numbers libphonenumber takes.
 */
static void test_type_check_agrees_with_libphonenumber_everywhere(void **state)
{
	uint64_t x = 0x9E3779B97F4A7C15ull; /* xorshift64 */
	unsigned regions = 0, checked = 0, ok = 0;

	(void)state;
	for (char c1 = 'A'; c1 <= 'Z'; c1++) {
		for (char c2 = 'A'; c2 <= 'Z'; c2++) {
			char region[3] = { c1, c2, '\0' };

			if (!phone_region_known(region))
				continue;
			regions++;
			for (int i = 0; i < 300; i++) {
				char in[24];
				size_t n;

				next_draw(&x);
				n = 5 + (size_t)(x % 8);
				for (size_t k = 0; k < n; k++)
					in[k] = (char)('0' + (x >> (6 + 4 * k)) % 10);
				if (in[0] == '0')
					in[0] = (char)('1' + x % 9);
				in[n] = '\0';
				ok += expect_both_paths_agree(in, region) == PHONE_OK;
				checked++;
			}
		}
	}
	assert_true(regions > 200);
	/* Random digits are valid mobiles often enough to test acceptance. */
	assert_true(ok > checked / 100);
}

static void test_repeatable(void **state)
{
	(void)state;
	struct result a, b;

	for (int i = 0; i < 100; i++) {
		run("repeat", NULL, "06 12 34 56 78", "FR", &a);
		run("repeat", NULL, "+33612345678", NULL, &b);
		assert_int_equal(a.st, PHONE_OK);
		assert_string_equal(a.e164, b.e164);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_agrees_with_parse),
		cmocka_unit_test(test_type_check_agrees_with_libphonenumber_everywhere),
		cmocka_unit_test(test_mobiles_france),
		cmocka_unit_test(test_mobiles_germany),
		cmocka_unit_test(test_mobiles_italy),
		cmocka_unit_test(test_mobiles_spain),
		cmocka_unit_test(test_mobiles_belgium),
		cmocka_unit_test(test_mobiles_netherlands),
		cmocka_unit_test(test_mobiles_united_kingdom),
		cmocka_unit_test(test_fixed_line_or_mobile_accepted),
		cmocka_unit_test(test_fixed_lines_not_mobile),
		cmocka_unit_test(test_special_ranges_not_mobile),
		cmocka_unit_test(test_wrong_lengths),
		cmocka_unit_test(test_impossible_numbers),
		cmocka_unit_test(test_not_a_number),
		cmocka_unit_test(test_input_length_limit),
		cmocka_unit_test(test_national_form_needs_region),
		cmocka_unit_test(test_wrong_default_region),
		cmocka_unit_test(test_allowed_countries),
		cmocka_unit_test(test_allowed_list_in_small_detail),
		cmocka_unit_test(test_rules_parse),
		cmocka_unit_test(test_rules_parse_errors),
		cmocka_unit_test(test_rules_parse_max),
		cmocka_unit_test(test_region_known),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_details_never_carry_digits),
		cmocka_unit_test(test_repeatable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
