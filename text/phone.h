/*
 * phone: a patient's number, validated against the numbering plans and
 * normalised to E.164, behind a small C interface to libphonenumber (C++,
 * Debian's libphonenumber8; implemented in phone.cc).
 *
 * A number may come in international form ("+33 6 12 34 56 78",
 * "0033612345678") or in national form ("06 12 34 56 78") read in a default
 * region (the region of the event's locale, else ingest.default_region).
 * It must be a valid number of its plan and one that can receive an SMS:
 * MOBILE, or FIXED_LINE_OR_MOBILE where the plan cannot tell the two apart
 * (the USA, Canada); a fixed line, a toll-free, premium, shared-cost, VoIP,
 * personal, pager, UAN or voicemail number is refused.  Its country must be in
 * the allowed list when there is one.
 *
 * Thread-safe: libphonenumber's PhoneNumberUtil is a process-wide singleton.
 */
#ifndef SMSQ_PHONE_H
#define SMSQ_PHONE_H

#include <stddef.h>

#include "common/attrs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PHONE_E164_MAX 17      /* '+', up to 15 digits, NUL */
#define PHONE_COUNTRIES_MAX 64 /* entries in an allowed list */

enum phone_status {
	PHONE_OK = 0,
	PHONE_NOT_A_NUMBER,        /* empty, letters, garbage, no digits */
	PHONE_NO_REGION,           /* national form and no default region */
	PHONE_TOO_SHORT,           /* shorter than any number of its plan */
	PHONE_TOO_LONG,            /* longer than any number of its plan */
	PHONE_INVALID,             /* right length, but not a number of its plan */
	PHONE_NOT_MOBILE,          /* valid, but cannot receive an SMS */
	PHONE_COUNTRY_NOT_ALLOWED, /* valid mobile, outside the allowed list */
	PHONE_NO_MEMORY,           /* libphonenumber ran out of memory: no verdict on
				      the number, which may pass when asked again */
};

/* The allowed destination countries (ISO 3166 alpha-2).  count 0: any. */
struct phone_rules {
	size_t count;
	char countries[PHONE_COUNTRIES_MAX][3];
};

/*
 * Parse an allowed list: ISO 3166 alpha-2 codes separated by commas and/or
 * spaces, any case ("FR, de,IT").  "" or "*" allows every country.  Each
 * code must be a region libphonenumber knows.  Returns 0, or -1 with a
 * message in err (always NUL-terminated) and *r unchanged.
 */
int phone_rules_parse(struct phone_rules *r, const char *list, char *err, size_t err_len)
	SMSQ_WARN_UNUSED;

/*
 * Is region (two letters, any case) a region libphonenumber knows ("FR",
 * "GB")?  Used to check ingest.default_region and locale regions.
 */
int phone_region_known(const char *region);

/*
 * Validate and normalise in (NUL-terminated UTF-8).  default_region: ISO
 * 3166 alpha-2 used to read a national form, or NULL/"" for none.  rules may
 * be NULL (any country).  On PHONE_OK writes the E.164 form into e164
 * (PHONE_E164_MAX bytes) and the number's region into region (3 bytes;
 * "001" style non-geographic numbers are refused as NOT_MOBILE).  On any
 * other status writes a human message into detail (always NUL-terminated;
 * it never repeats the number's digits: details reach logs).
 */
enum phone_status phone_normalize(const struct phone_rules *rules, const char *in,
				  const char *default_region, char e164[PHONE_E164_MAX],
				  char region[3], char *detail, size_t detail_len) SMSQ_WARN_UNUSED;

/* The same, always through libphonenumber's Parse(): phone_normalize()
 * builds the plain forms of a few plans directly (phone.cc, "Fast path");
 * tests check that both agree. */
enum phone_status phone_normalize_parse(const struct phone_rules *rules, const char *in,
					const char *default_region, char e164[PHONE_E164_MAX],
					char region[3], char *detail, size_t detail_len)
	SMSQ_WARN_UNUSED;

/* Lower-case name of a status, for logs and tests ("not_mobile"). */
const char *phone_status_name(enum phone_status st);

#ifdef __cplusplus
}
#endif

#endif
