/*
 * phone: validate a patient's number and normalise it to E.164, behind the C
 * interface of phone.h.  The only file that includes libphonenumber (C++).
 *
 * DESIGN
 *
 * phone_normalize() is on the ingest path (one call per event), so it does
 * the cheap checks first and asks libphonenumber as little as possible:
 *
 *   1. A byte scan (no libphonenumber): at most PHONE_IN_MAX bytes; only
 *      digits, a leading '+' (repeated "++" is read as one, as
 *      libphonenumber does; a '+' after a digit is refused) and separators (space, tab, . - / ( ), U+00A0
 *      and U+202F no-break spaces).  Letters are refused here: left to
 *      itself, Parse() would skip a "Tel:" label, drop an "ext. 12"
 *      extension from the E.164 form and read "06 12 AB CD EF" as a vanity
 *      number.  The scan copies the digits (and the '+') into a small
 *      buffer, so Parse() gets "0612345678", not the spaced original:
 *      its regexps have less to read and the string fits in std::string's
 *      small buffer (no allocation) for most numbers.  The result is the same:
 *      every separator kept out is one Parse() would have skipped.
 *   2. Parse() in the default region ("ZZ" when there is none) -- or, for
 *      the plain forms of the countries in fast_plans[], the PhoneNumber
 *      built directly (see "Fast path" below).
 *   3. IsPossibleNumberWithReason(): lengths only, cheap.
 *   4. The number's type (type_of(): RE2 over libphonenumber's metadata,
 *      or GetNumberType(); see "Type check" below): UNKNOWN means not a
 *      valid number.  IsValidNumber()
 *      is exactly GetRegionCodeForNumber() + "type != UNKNOWN" (see
 *      libphonenumber's IsValidNumberForRegion()), so calling both would
 *      run the same regular expressions twice.
 *   5. GetRegionCodeForNumber(), the non-geographic "001" refusal, the
 *      allowed list, Format(E164).
 *
 * Fast path.  Parse() is most of the cost of a call (its regular
 * expressions, an ICU RegexMatcher allocated for each: the extension, the
 * viability and the national-prefix patterns), several times what the type
 * check after it costs.  For the countries of
 * fast_plans[], whose national prefix is a plain "0" (or who have none) and
 * whose numbers never start with 0, the common forms are unambiguous:
 * "+" country code, then the national significant number (NSN) not
 * starting with 0; or, read in such a country, "0" then the NSN (or the NSN
 * alone where there is no prefix).  For these the PhoneNumber (country code,
 * NSN) is what Parse() would build, and it is built directly; everything
 * else (a leading "00", an Italian fixed line's leading zero, other
 * countries) goes through Parse().  Steps 3 to 5 are the same either way,
 * and a number the fast path built that fails any of them is decided again
 * through Parse(), so a refusal always has Parse()'s reason.
 * tests/test_phone.c checks both paths agree on thousands of numbers per
 * country (phone_normalize_parse() is the Parse() path alone).
 *
 * INVARIANTS
 *
 * - No C++ exception crosses into C: every entry point catches everything
 *   (std::bad_alloc is the only one expected) and returns an error; in
 *   phone_normalize() std::bad_alloc is PHONE_NO_MEMORY, never a verdict.
 * - A detail never contains a digit: it reaches logs, and the number is
 *   personal data.  It names region codes and the kind of problem only.
 * - No state of ours but one read-only table of the regions libphonenumber
 *   knows, built on first use (a C++11 function-local static: thread-safe).
 *   PhoneNumberUtil is libphonenumber's own process-wide singleton; its
 *   first use loads the metadata (milliseconds), later calls do not.
 */
#include "text/phone.h"

#include <phonenumbers/phonemetadata.pb.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>
#include <re2/re2.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "common/err.h"

using i18n::phonenumbers::PhoneMetadata;
using i18n::phonenumbers::PhoneMetadataCollection;
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberDesc;
using i18n::phonenumbers::PhoneNumberUtil;

/* libphonenumber's compiled-in metadata (its metadata.h, not installed):
 * the serialized PhoneMetadataCollection its PhoneNumberUtil loads. */
namespace i18n {
namespace phonenumbers {
int metadata_size();
const void *metadata_get();
} // namespace phonenumbers
} // namespace i18n

/* Longest input looked at, in bytes: beyond it, not a number (a generously
 * formatted one, "+xxx (0)xxx xxx xxx xxx xxx", takes about 30). */
#define PHONE_IN_MAX 64
/* libphonenumber's region code for non-geographic numbers (+800, +882...). */
#define PHONE_REGION_NONGEO "001"
/* Region code libphonenumber reads as "no default region". */
#define PHONE_REGION_NONE "ZZ"
#define PHONE_LETTERS 26
/* "numbers of XX" and the like, for details. */
#define PHONE_WHERE_MAX 48

namespace {

/* Which two-letter codes libphonenumber has metadata for. */
struct region_table {
	bool known[PHONE_LETTERS][PHONE_LETTERS]; /* [first - 'A'][second - 'A'] */
};

/* Built once from GetSupportedRegions(); may throw std::bad_alloc. */
region_table build_region_table()
{
	region_table t;
	std::set<std::string> regions;

	memset(&t, 0, sizeof(t));
	PhoneNumberUtil::GetInstance()->GetSupportedRegions(&regions);
	for (const std::string &r : regions) {
		if (r.size() == 2 && r[0] >= 'A' && r[0] <= 'Z' && r[1] >= 'A' && r[1] <= 'Z')
			t.known[r[0] - 'A'][r[1] - 'A'] = true;
	}
	return t;
}

/* The table, built on first use.  If building throws, the static stays
 * uninitialised and the next call tries again (C++11 [stmt.dcl]). */
const region_table &regions()
{
	static const region_table table = build_region_table();

	return table;
}

inline bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

inline char to_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

/*
 * Copy s (any case) into out as two upper-case letters and a NUL.  Returns
 * false (out = "") unless s is exactly two ASCII letters.
 */
bool region_code(const char *s, size_t len, char out[3])
{
	out[0] = '\0';
	if (!s || len != 2)
		return false;
	char a = to_upper(s[0]), b = to_upper(s[1]);
	if (!is_upper(a) || !is_upper(b))
		return false;
	out[0] = a;
	out[1] = b;
	out[2] = '\0';
	return true;
}

/* Is code (two upper-case letters and a NUL) a known region?  May throw. */
bool region_known(const char code[3])
{
	return regions().known[code[0] - 'A'][code[1] - 'A'];
}

/* Result of the byte scan. */
struct scanned {
	char buf[PHONE_IN_MAX + 1]; /* '+'? then the digits, NUL-terminated */
	size_t len;                 /* bytes in buf */
	bool plus;                  /* international form: buf starts with '+' */
};

/* Length of the separator at s (0: not one).  s is NUL-terminated. */
size_t separator_len(const char *s)
{
	switch (s[0]) {
	case ' ': case '\t': case '.': case '-': case '/': case '(': case ')':
		return 1;
	case '\xC2': /* U+00A0 NO-BREAK SPACE */
		return s[1] == '\xA0' ? 2 : 0;
	case '\xE2': /* U+202F NARROW NO-BREAK SPACE (French typography) */
		return (s[1] == '\x80' && s[2] == '\xAF') ? 3 : 0;
	default:
		return 0;
	}
}

/* Name a refused byte without printing a digit (there is none to print:
 * digits are accepted) or a raw control or non-ASCII byte. */
void refuse_byte(unsigned char c, char *detail, size_t detail_len)
{
	if (c >= 0x80)
		err_set(detail, detail_len, "not a phone number: a non-ASCII character");
	else if (c < 0x20 || c == 0x7F)
		err_set(detail, detail_len, "not a phone number: a control character");
	else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
		err_set(detail, detail_len,
			   "not a phone number: letters (only digits, '+' and separators)");
	else
		err_set(detail, detail_len, "not a phone number: unexpected character '%c'", c);
}

/*
 * Step 1: check the bytes of in and copy its '+' and digits into sc.
 * Returns PHONE_OK or PHONE_NOT_A_NUMBER with a detail.
 */
enum phone_status scan(const char *in, scanned *sc, char *detail, size_t detail_len)
{
	const char *p = in;
	bool digits = false;

	sc->len = 0;
	sc->plus = false;
	if (strnlen(in, PHONE_IN_MAX + 1) > PHONE_IN_MAX) {
		err_set(detail, detail_len, "not a phone number: input too long");
		return PHONE_NOT_A_NUMBER;
	}
	while (*p) {
		size_t sep = separator_len(p);

		if (sep) {
			p += sep;
		} else if (*p >= '0' && *p <= '9') {
			sc->buf[sc->len++] = *p++;
			digits = true;
		} else if (*p == '+' && !digits) {
			if (!sc->plus)
				sc->buf[sc->len++] = '+';
			sc->plus = true;
			p++;
		} else if (*p == '+') {
			err_set(detail, detail_len, "not a phone number: '+' after a digit");
			return PHONE_NOT_A_NUMBER;
		} else {
			refuse_byte(static_cast<unsigned char>(*p), detail, detail_len);
			return PHONE_NOT_A_NUMBER;
		}
	}
	sc->buf[sc->len] = '\0';
	if (!digits) {
		err_set(detail, detail_len, "not a phone number: no digits");
		return PHONE_NOT_A_NUMBER;
	}
	return PHONE_OK;
}

/* Step 2's errors.  region: the default region, upper-cased ("" if none,
 * "?" if not two letters); known: libphonenumber knows it. */
enum phone_status parse_error(PhoneNumberUtil::ErrorType e, const scanned &sc,
			      const char *region, bool known, char *detail, size_t detail_len)
{
	switch (e) {
	case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
		if (sc.plus) {
			err_set(detail, detail_len, "not a phone number: unknown country calling code");
			return PHONE_NOT_A_NUMBER;
		}
		if (region[0] == '?')
			err_set(detail, detail_len,
				   "national form, and the default region is not a two-letter code");
		else if (region[0] && !known)
			err_set(detail, detail_len,
				   "national form, and the default region %s is not a known region",
				   region);
		else
			err_set(detail, detail_len,
				   "national form (no '+' and country code) and no default region");
		return PHONE_NO_REGION;
	case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
		err_set(detail, detail_len, "too short after the international prefix");
		return PHONE_TOO_SHORT;
	case PhoneNumberUtil::TOO_SHORT_NSN:
		err_set(detail, detail_len, "too short to be a phone number");
		return PHONE_TOO_SHORT;
	case PhoneNumberUtil::TOO_LONG_NSN:
		err_set(detail, detail_len, "too long to be a phone number");
		return PHONE_TOO_LONG;
	case PhoneNumberUtil::NOT_A_NUMBER:
	default:
		err_set(detail, detail_len, "not a phone number");
		return PHONE_NOT_A_NUMBER;
	}
}

/* "a fixed-line number", "a toll-free number"... for NOT_MOBILE details. */
const char *type_phrase(PhoneNumberUtil::PhoneNumberType t)
{
	switch (t) {
	case PhoneNumberUtil::FIXED_LINE: return "a fixed-line number";
	case PhoneNumberUtil::TOLL_FREE: return "a toll-free number";
	case PhoneNumberUtil::PREMIUM_RATE: return "a premium-rate number";
	case PhoneNumberUtil::SHARED_COST: return "a shared-cost number";
	case PhoneNumberUtil::VOIP: return "a VoIP number";
	case PhoneNumberUtil::PERSONAL_NUMBER: return "a personal number";
	case PhoneNumberUtil::PAGER: return "a pager number";
	case PhoneNumberUtil::UAN: return "a UAN (company) number";
	case PhoneNumberUtil::VOICEMAIL: return "a voicemail access number";
	case PhoneNumberUtil::MOBILE:
	case PhoneNumberUtil::FIXED_LINE_OR_MOBILE:
	case PhoneNumberUtil::UNKNOWN:
	default:
		return "a number of unknown type";
	}
}

/* Is region (a NUL-terminated code) in the allowed list? */
bool allowed(const phone_rules *rules, const std::string &region)
{
	size_t n = rules->count < PHONE_COUNTRIES_MAX ? rules->count : PHONE_COUNTRIES_MAX;

	if (n == 0)
		return true;
	if (region.size() != 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (rules->countries[i][0] == region[0] && rules->countries[i][1] == region[1])
			return true;
	}
	return false;
}

/* "FR,DE,IT" into out (truncated to out_len). */
void rules_list(const phone_rules *rules, char *out, size_t out_len)
{
	size_t n = rules->count < PHONE_COUNTRIES_MAX ? rules->count : PHONE_COUNTRIES_MAX;
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used + 1 < out_len; i++) {
		int w = snprintf(out + used, out_len - used, "%s%.2s", i ? "," : "",
				 rules->countries[i]);
		if (w < 0)
			break;
		used += static_cast<size_t>(w);
	}
}

/*
 * "numbers of FR" for the number's country code (its main region, cheap:
 * no regexp), or "non-geographic numbers" (+800, +882...): details name a
 * plan without printing digits, and "001" is digits.  May throw.
 */
void plan_name(const PhoneNumberUtil &util, const PhoneNumber &num, char *out, size_t out_len)
{
	std::string main;

	util.GetRegionCodeForCountryCode(num.country_code(), &main);
	if (main.size() == 2 && main != PHONE_REGION_NONE)
		snprintf(out, out_len, "numbers of %s", main.c_str());
	else
		snprintf(out, out_len, "non-geographic numbers");
}

/* Plans read without Parse() (see "Fast path"): calling code, region,
 * national prefix ("" for none).  Only plans whose national prefix for
 * parsing is that plain prefix, and whose NSNs never start with 0. */
struct fast_plan {
	int cc;
	char region[3];
	const char *prefix;
};
const fast_plan fast_plans[] = {
	{ 33, "FR", "0" }, { 49, "DE", "0" }, { 39, "IT", "" }, { 34, "ES", "" },
	{ 32, "BE", "0" }, { 31, "NL", "0" }, { 44, "GB", "0" },
};

/* NSN of 4 to 15 digits, not starting with 0, into *nsn. */
bool fast_nsn(const char *d, size_t n, google::protobuf::uint64 *nsn)
{
	google::protobuf::uint64 v = 0;

	if (n < 4 || n > 15 || d[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + static_cast<google::protobuf::uint64>(d[i] - '0');
	*nsn = v;
	return true;
}

/* Build num without Parse() when sc is a plain form of a fast plan. */
bool fast_parse(const scanned &sc, const char *defreg, PhoneNumber *num)
{
	google::protobuf::uint64 nsn;

	if (sc.plus) {
		const char *d = sc.buf + 1;
		size_t n = sc.len - 1;

		for (const fast_plan &f : fast_plans) {
			/* every fast plan's code has 2 digits */
			if (n < 2 || (d[0] - '0') * 10 + (d[1] - '0') != f.cc)
				continue;
			if (!fast_nsn(d + 2, n - 2, &nsn))
				return false;
			num->set_country_code(f.cc);
			num->set_national_number(nsn);
			return true;
		}
		return false;
	}
	for (const fast_plan &f : fast_plans) {
		size_t pl = strlen(f.prefix);

		if (strcmp(defreg, f.region) != 0)
			continue;
		if (sc.len <= pl || memcmp(sc.buf, f.prefix, pl) != 0 ||
		    !fast_nsn(sc.buf + pl, sc.len - pl, &nsn))
			return false;
		num->set_country_code(f.cc);
		num->set_national_number(nsn);
		return true;
	}
	return false;
}

/*
 * Type check (step 4) with RE2.  GetNumberType() would be most of the
 * cost of preparing an event: for each of up to 11 number types it runs
 * the type's pattern
 * through ICU, with an ICU RegexMatcher and a UnicodeString built for each
 * match, and, in the libphonenumber of Debian 12, a second prefix match
 * whose result it then ignores.  type_of() gives the same answer from the
 * same metadata (the collection libphonenumber loads, metadata_get()),
 * each pattern compiled once with RE2 (linear-time, no allocation per
 * match), following GetNumberTypeHelper() and IsNumberMatchingDesc()
 * step by step: a type matches when the NSN has one of its possible
 * lengths (if it lists any) and its non-empty pattern matches the whole
 * NSN.  Only for calling codes of one region (those of Europe but GB's +44
 * and a few more): for the others, GetNumberType() picks the region by
 * running the types of each, and it is called as before.  A pattern RE2
 * cannot compile sends its calling code to GetNumberType() too.
 * tests/test_phone.c checks the two agree on numbers of every region.
 */
struct desc_re {
	std::unique_ptr<RE2> re;   /* NULL: no pattern (never matches) */
	std::vector<int> lengths;  /* possible lengths; empty: any */
};

/* The types GetNumberTypeHelper() tries before fixed line and mobile, in
 * its order: each one's description in the metadata, and its answer. */
const struct {
	const PhoneNumberDesc &(PhoneMetadata::*desc)() const;
	PhoneNumberUtil::PhoneNumberType type;
} special_types[] = {
	{ &PhoneMetadata::premium_rate, PhoneNumberUtil::PREMIUM_RATE },
	{ &PhoneMetadata::toll_free, PhoneNumberUtil::TOLL_FREE },
	{ &PhoneMetadata::shared_cost, PhoneNumberUtil::SHARED_COST },
	{ &PhoneMetadata::voip, PhoneNumberUtil::VOIP },
	{ &PhoneMetadata::personal_number, PhoneNumberUtil::PERSONAL_NUMBER },
	{ &PhoneMetadata::pager, PhoneNumberUtil::PAGER },
	{ &PhoneMetadata::uan, PhoneNumberUtil::UAN },
	{ &PhoneMetadata::voicemail, PhoneNumberUtil::VOICEMAIL },
};
#define SPECIAL_TYPES (sizeof(special_types) / sizeof(special_types[0]))

/* One region's descriptions, compiled. */
struct type_plan {
	desc_re general;
	desc_re special[SPECIAL_TYPES]; /* in special_types order */
	desc_re fixed, mobile;
	bool same_mobile_and_fixed;
	bool usable;              /* every pattern compiled */
};

/* Compile one description; false if RE2 refuses its pattern.  May throw. */
bool compile_desc(const PhoneNumberDesc &d, desc_re *out)
{
	out->lengths.assign(d.possible_length().begin(), d.possible_length().end());
	if (d.national_number_pattern().empty())
		return true;
	RE2::Options opt;
	opt.set_log_errors(false);
	out->re.reset(new RE2(d.national_number_pattern(), opt));
	return out->re->ok();
}

/* The plan of one region's metadata.  May throw. */
std::unique_ptr<type_plan> build_plan(const PhoneMetadata &md)
{
	std::unique_ptr<type_plan> p(new type_plan);
	bool ok = compile_desc(md.general_desc(), &p->general);

	for (size_t i = 0; i < SPECIAL_TYPES; i++)
		ok = compile_desc((md.*special_types[i].desc)(), &p->special[i]) && ok;
	ok = compile_desc(md.fixed_line(), &p->fixed) && ok;
	ok = compile_desc(md.mobile(), &p->mobile) && ok;
	p->same_mobile_and_fixed = md.same_mobile_and_fixed_line_pattern();
	p->usable = ok;
	return p;
}

/* IsNumberMatchingDesc(): the lengths, then the whole NSN. */
bool matches(const std::string &nsn, const desc_re &d)
{
	if (!d.lengths.empty()) {
		bool found = false;
		for (int l : d.lengths)
			found = found || l == static_cast<int>(nsn.size());
		if (!found)
			return false;
	}
	return d.re && RE2::FullMatch(nsn, *d.re);
}

/* GetNumberTypeHelper(). */
PhoneNumberUtil::PhoneNumberType plan_type(const type_plan &p, const std::string &nsn)
{
	if (!matches(nsn, p.general))
		return PhoneNumberUtil::UNKNOWN;
	for (size_t i = 0; i < SPECIAL_TYPES; i++) {
		if (matches(nsn, p.special[i]))
			return special_types[i].type;
	}
	if (matches(nsn, p.fixed)) {
		if (p.same_mobile_and_fixed || matches(nsn, p.mobile))
			return PhoneNumberUtil::FIXED_LINE_OR_MOBILE;
		return PhoneNumberUtil::FIXED_LINE;
	}
	if (!p.same_mobile_and_fixed && matches(nsn, p.mobile))
		return PhoneNumberUtil::MOBILE;
	return PhoneNumberUtil::UNKNOWN;
}

/* Plans by calling code, built on first use; NULL: ask GetNumberType(). */
class type_plans {
public:
	/* The plan for cc, or NULL.  May throw. */
	const type_plan *get(const PhoneNumberUtil &util, int cc)
	{
		std::lock_guard<std::mutex> lock(mu_);
		auto it = plans_.find(cc);

		if (it != plans_.end())
			return it->second.get();
		std::unique_ptr<type_plan> p = make(util, cc);
		const type_plan *raw = p.get();
		plans_[cc] = std::move(p);
		return raw;
	}

private:
	std::unique_ptr<type_plan> make(const PhoneNumberUtil &util, int cc)
	{
		std::list<std::string> regions;

		util.GetRegionCodesForCountryCallingCode(cc, &regions);
		if (regions.size() != 1 || regions.front() == PHONE_REGION_NONGEO)
			return nullptr;
		if (!loaded_) {
			/* Parsed aside: a throw half-way leaves nothing half-read. */
			PhoneMetadataCollection parsed;

			if (parsed.ParseFromArray(i18n::phonenumbers::metadata_get(),
						  i18n::phonenumbers::metadata_size()))
				all_.Swap(&parsed);
			loaded_ = true; /* unreadable: every code asks GetNumberType() */
		}
		for (const PhoneMetadata &md : all_.metadata()) {
			if (md.id() == regions.front() && md.country_code() == cc) {
				std::unique_ptr<type_plan> p = build_plan(md);
				return p->usable ? std::move(p) : nullptr;
			}
		}
		return nullptr;
	}

	std::mutex mu_;
	bool loaded_ = false;
	PhoneMetadataCollection all_;
	std::map<int, std::unique_ptr<type_plan>> plans_;
};

/* The number's type, as util.GetNumberType(num) gives it.  May throw. */
PhoneNumberUtil::PhoneNumberType type_of(const PhoneNumberUtil &util, const PhoneNumber &num)
{
	static type_plans plans;
	const type_plan *p = plans.get(util, num.country_code());

	if (p == nullptr)
		return util.GetNumberType(num);
	std::string nsn;
	util.GetNationalSignificantNumber(num, &nsn);
	return plan_type(*p, nsn);
}

/* Steps 2 to 5; may throw std::bad_alloc.  use_fast: the fast path may
 * replace Parse(), and type_of() GetNumberType(). */
enum phone_status normalize(const phone_rules *rules, const scanned &sc, const char *default_region,
			    char *e164, char *region_out, char *detail, size_t detail_len,
			    bool use_fast)
{
	const PhoneNumberUtil &util = *PhoneNumberUtil::GetInstance();
	char defreg[3];
	bool known = false;
	PhoneNumber num;

	if (default_region && default_region[0]) {
		if (region_code(default_region, strnlen(default_region, 3), defreg))
			known = region_known(defreg);
		else
			strcpy(defreg, "?");
	} else {
		defreg[0] = '\0';
	}

	/* 2. Parse. */
	if (!use_fast || !fast_parse(sc, known ? defreg : "", &num)) {
		PhoneNumberUtil::ErrorType e =
			util.Parse(std::string(sc.buf, sc.len),
				   std::string(known ? defreg : PHONE_REGION_NONE), &num);
		if (e != PhoneNumberUtil::NO_PARSING_ERROR)
			return parse_error(e, sc, defreg, known, detail, detail_len);
	}

	/* 3. Lengths, named after the country code's main region. */
	PhoneNumberUtil::ValidationResult v = util.IsPossibleNumberWithReason(num);
	if (v != PhoneNumberUtil::IS_POSSIBLE && v != PhoneNumberUtil::IS_POSSIBLE_LOCAL_ONLY) {
		char where[PHONE_WHERE_MAX];
		plan_name(util, num, where, sizeof(where));
		switch (v) {
		case PhoneNumberUtil::TOO_SHORT:
			err_set(detail, detail_len, "too short for %s", where);
			return PHONE_TOO_SHORT;
		case PhoneNumberUtil::TOO_LONG:
			err_set(detail, detail_len, "too long for %s", where);
			return PHONE_TOO_LONG;
		case PhoneNumberUtil::INVALID_LENGTH:
			err_set(detail, detail_len, "a length that no %s have", where);
			return PHONE_INVALID;
		default:
			err_set(detail, detail_len, "not a phone number: unknown country calling code");
			return PHONE_NOT_A_NUMBER;
		}
	}

	/* 4. Type: UNKNOWN is "not valid" (see the design note). */
	PhoneNumberUtil::PhoneNumberType t = use_fast ? type_of(util, num) : util.GetNumberType(num);
	if (t == PhoneNumberUtil::UNKNOWN) {
		char where[PHONE_WHERE_MAX];
		plan_name(util, num, where, sizeof(where));
		err_set(detail, detail_len, "not one of the valid %s", where);
		return PHONE_INVALID;
	}
	std::string region;
	util.GetRegionCodeForNumber(num, &region);
	if (region == PHONE_REGION_NONGEO) {
		err_set(detail, detail_len,
			   "a non-geographic (global service) number cannot receive an SMS");
		return PHONE_NOT_MOBILE;
	}
	if (region.size() != 2 || region == PHONE_REGION_NONE) {
		err_set(detail, detail_len, "no region for this number");
		return PHONE_INVALID;
	}
	if (t != PhoneNumberUtil::MOBILE && t != PhoneNumberUtil::FIXED_LINE_OR_MOBILE) {
		err_set(detail, detail_len, "%s (%s) cannot receive an SMS", type_phrase(t),
			   region.c_str());
		return PHONE_NOT_MOBILE;
	}

	/* 5. Allowed list, E.164. */
	if (rules && !allowed(rules, region)) {
		char list[PHONE_COUNTRIES_MAX * 3];
		rules_list(rules, list, sizeof(list));
		err_set(detail, detail_len,
			   "numbers of %s are not allowed (ingest.allowed_countries: %s)",
			   region.c_str(), list);
		return PHONE_COUNTRY_NOT_ALLOWED;
	}
	std::string out;
	util.Format(num, PhoneNumberUtil::E164, &out);
	if (out.size() >= PHONE_E164_MAX) {
		err_set(detail, detail_len, "too long for E.164");
		return PHONE_TOO_LONG;
	}
	if (e164)
		memcpy(e164, out.c_str(), out.size() + 1);
	if (region_out)
		memcpy(region_out, region.c_str(), 3);
	err_set(detail, detail_len, "%s", "");
	return PHONE_OK;
}

/* Token [s, s + len) of an allowed list, for an error message: at most 8
 * bytes, printable ASCII (anything else shown as '?'). */
void token_copy(const char *s, size_t len, char out[9])
{
	size_t n = len < 8 ? len : 8;

	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] > 0x20 && s[i] < 0x7F) ? s[i] : '?';
	out[n] = '\0';
}

inline bool list_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* phone_rules_parse() into a scratch struct; may throw. */
int rules_parse(phone_rules *out, const char *list, char *err, size_t err_len)
{
	const char *p = list;
	char tok[9];

	out->count = 0;
	while (*p && *p != ',' && list_separator(*p))
		p++;
	if (*p == '\0')
		return 0; /* "" or blanks: any country */
	while (*p) {
		const char *start = p;
		char code[3];
		size_t len;

		while (*p && !list_separator(*p))
			p++;
		len = static_cast<size_t>(p - start);
		while (*p && list_separator(*p))
			p++;
		if (len == 0)
			continue;
		if (len == 1 && start[0] == '*') {
			if (out->count == 0 && *p == '\0')
				return 0;
			err_set(err, err_len, "'*' (any country) cannot be combined with codes");
			return -1;
		}
		if (!region_code(start, len, code)) {
			token_copy(start, len, tok);
			err_set(err, err_len, "invalid country code '%s%s' (two letters expected)",
				   tok, len > 8 ? "..." : "");
			return -1;
		}
		if (!region_known(code)) {
			err_set(err, err_len, "unknown country code '%s'%s", code,
				   strcmp(code, "UK") == 0 ? " (the United Kingdom is GB)" : "");
			return -1;
		}
		bool dup = false;
		for (size_t i = 0; i < out->count && !dup; i++)
			dup = memcmp(out->countries[i], code, 3) == 0;
		if (dup)
			continue;
		if (out->count == PHONE_COUNTRIES_MAX) {
			err_set(err, err_len, "more than %d country codes", PHONE_COUNTRIES_MAX);
			return -1;
		}
		memcpy(out->countries[out->count++], code, 3);
	}
	if (out->count == 0) {
		err_set(err, err_len, "no country code in the list");
		return -1;
	}
	return 0;
}

} /* namespace */

extern "C" int phone_rules_parse(struct phone_rules *r, const char *list, char *err,
				 size_t err_len)
{
	phone_rules tmp;

	if (err && err_len)
		err[0] = '\0';
	if (!r || !list) {
		err_set(err, err_len, "no list");
		return -1;
	}
	try {
		if (rules_parse(&tmp, list, err, err_len) != 0)
			return -1;
	} catch (const std::bad_alloc &) {
		err_set(err, err_len, "out of memory reading the region list");
		return -1;
	} catch (...) {
		err_set(err, err_len, "internal error in libphonenumber");
		return -1;
	}
	*r = tmp;
	return 0;
}

extern "C" int phone_region_known(const char *region)
{
	char code[3];

	if (!region || !region_code(region, strnlen(region, 3), code))
		return 0;
	try {
		return region_known(code) ? 1 : 0;
	} catch (...) {
		return 0;
	}
}

static enum phone_status normalize_c(const struct phone_rules *rules, const char *in,
				     const char *default_region, char e164[PHONE_E164_MAX],
				     char region[3], char *detail, size_t detail_len, bool use_fast)
{
	scanned sc;
	enum phone_status st;

	if (e164)
		e164[0] = '\0';
	if (region)
		region[0] = '\0';
	if (detail && detail_len)
		detail[0] = '\0';
	if (!in) {
		err_set(detail, detail_len, "not a phone number: none given");
		return PHONE_NOT_A_NUMBER;
	}
	st = scan(in, &sc, detail, detail_len);
	if (st != PHONE_OK)
		return st;
	try {
		st = normalize(rules, sc, default_region, e164, region, detail, detail_len,
			       use_fast);
		/* The fast path only ever decides a success: anything else is
		 * decided again by Parse(), whose national-prefix rules (it keeps
		 * a "0" whose removal leaves too few digits) give the reason. */
		if (st != PHONE_OK && use_fast)
			st = normalize(rules, sc, default_region, e164, region, detail,
				       detail_len, false);
		return st;
	} catch (const std::bad_alloc &) {
		/* Out of memory says nothing about the number: the caller answers
		 * "try again" (the service aborts on OOM elsewhere, xmalloc). */
		err_set(detail, detail_len, "out of memory in libphonenumber");
		st = PHONE_NO_MEMORY;
	} catch (...) {
		err_set(detail, detail_len, "internal error in libphonenumber");
		st = PHONE_NOT_A_NUMBER;
	}
	if (e164)
		e164[0] = '\0';
	if (region)
		region[0] = '\0';
	return st;
}

extern "C" enum phone_status phone_normalize(const struct phone_rules *rules, const char *in,
					     const char *default_region,
					     char e164[PHONE_E164_MAX], char region[3],
					     char *detail, size_t detail_len)
{
	return normalize_c(rules, in, default_region, e164, region, detail, detail_len, true);
}

extern "C" enum phone_status phone_normalize_parse(const struct phone_rules *rules,
						   const char *in, const char *default_region,
						   char e164[PHONE_E164_MAX], char region[3],
						   char *detail, size_t detail_len)
{
	return normalize_c(rules, in, default_region, e164, region, detail, detail_len, false);
}

extern "C" const char *phone_status_name(enum phone_status st)
{
	switch (st) {
	case PHONE_OK: return "ok";
	case PHONE_NOT_A_NUMBER: return "not_a_number";
	case PHONE_NO_REGION: return "no_region";
	case PHONE_TOO_SHORT: return "too_short";
	case PHONE_TOO_LONG: return "too_long";
	case PHONE_INVALID: return "invalid";
	case PHONE_NOT_MOBILE: return "not_mobile";
	case PHONE_COUNTRY_NOT_ALLOWED: return "country_not_allowed";
	case PHONE_NO_MEMORY: return "no_memory";
	}
	return "unknown";
}
