/* WRAP: stat open phone_normalize */
/*
 * test_validate: the ingest checks of one BookingEvent (text/validate.h,
 * rules in proto/PROTOCOL.md section 3).
 *
 * Most of the file is three tables with human-readable case names, each row
 * run as its own cmocka test:
 *
 *   event_cases   a valid event (base_event(), the same one as
 *                 tests/itlib.py event()) with one change, the reason
 *                 validate_event() must give and a fragment of its detail;
 *   utf8_cases    byte strings for validate_utf8();
 *   reason_cases  every Reason and its log name.
 *
 * Two more tables, refused_chars and kept_chars, are tried in every field
 * that goes into a text.
 *
 * The remaining tests read like examples of the module's use: what a valid
 * event turns into (struct store_new), the zone directory and its cache, a
 * short detail buffer, an event as it comes off the wire.  Wrapped stat(),
 * open() and phone_normalize() make a check fail for want of a resource
 * (EMFILE, no memory): such an event gets TEMPORARY, never a rejection.
 *
 * Time is a fixed NOW, so every case is reproducible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text/gsm.h"
#include "text/validate.h"

#define NOW 1800000000000LL       /* a fixed "now", ms */
#define SEC 1000LL
#define HOUR 3600000LL
#define DAY 86400000LL
#define HORIZON VALIDATE_HORIZON_MS   /* furthest an event's time may be from NOW */
#define SKEW VALIDATE_CLOCK_SKEW_MS   /* furthest created_at may be ahead of NOW */
#define YEAR_3000 32503680000000LL    /* 3000-01-01T00:00:00Z */
#define TWO_POW_62 (INT64_C(1) << 62)
#define TEXT_MAX 1600             /* ingest.max_text_bytes default */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define R(x) SMSQ__REASON__REASON_##x

/* ---- seams: stat(), open() and phone_normalize() that fail on demand ---- */

/* What the wrappers do; all zero: pass every call through. */
static struct {
	const char *suffix;        /* stat() and open() of a path ending so fail */
	int stat_errno;            /* ... stat() with this errno (0: it passes) */
	int open_errno;            /* ... open() with this errno (0: it passes) */
	int stat_calls;            /* stat() calls on such a path */
	int open_calls;            /* open() calls on such a path */
	int phone_no_memory;       /* phone_normalize() answers PHONE_NO_MEMORY */
} seam;

__typeof__(stat) __real_stat, __wrap_stat;
__typeof__(open) __real_open, __wrap_open;
__typeof__(phone_normalize) __real_phone_normalize, __wrap_phone_normalize;

static int seam_hits(const char *path)
{
	size_t n = strlen(path), k = seam.suffix ? strlen(seam.suffix) : 0;

	return k > 0 && n >= k && strcmp(path + n - k, seam.suffix) == 0;
}

int __wrap_stat(const char *path, struct stat *sb)
{
	if (seam_hits(path)) {
		seam.stat_calls++;
		if (seam.stat_errno != 0) {
			errno = seam.stat_errno;
			return -1;
		}
	}
	return __real_stat(path, sb);
}

int __wrap_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (seam_hits(path)) {
		seam.open_calls++;
		if (seam.open_errno != 0) {
			errno = seam.open_errno;
			return -1;
		}
	}
	return __real_open(path, flags, mode);
}

enum phone_status __wrap_phone_normalize(const struct phone_rules *rules, const char *in,
					 const char *default_region, char e164[PHONE_E164_MAX],
					 char region[3], char *detail, size_t detail_len)
{
	if (seam.phone_no_memory) {
		snprintf(detail, detail_len, "out of memory in libphonenumber");
		return PHONE_NO_MEMORY; /* what phone.cc answers to std::bad_alloc */
	}
	return __real_phone_normalize(rules, in, default_region, e164, region, detail,
				      detail_len);
}

/* ---- fixture: one event, its strings, a validator ---------------------- */

struct vcase;

struct fx {
	const struct vcase *c;     /* the table row being run, or NULL */
	validator *v;              /* zoneinfo from the system */
	Smsq__BookingEvent ev;     /* starts as base_event() */
	struct store_new out;      /* what validate_event() filled */
	char detail[256];          /* its detail */
	char arena[8192];          /* backing for the event's strings */
	size_t used;               /* bytes of arena in use */
};

/* A modifiable copy of s (the event's fields are char *). */
static char *put(struct fx *f, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = f->arena + f->used;

	assert_true(f->used + n <= sizeof(f->arena));
	memcpy(p, s, n);
	f->used += n;
	return p;
}

/* n copies of s (s is one character or a multi-byte sequence). */
static char *rep(struct fx *f, const char *s, size_t n)
{
	size_t len = strlen(s);
	char *p = f->arena + f->used;

	assert_true(f->used + n * len + 1 <= sizeof(f->arena));
	for (size_t i = 0; i < n; i++)
		memcpy(p + i * len, s, len);
	p[n * len] = '\0';
	f->used += n * len + 1;
	return p;
}

/* A valid event: French patient, appointment tomorrow, template fields and
 * no ready text (tests/itlib.py event()). */
static void base_event(struct fx *f)
{
	Smsq__BookingEvent *e = &f->ev;

	smsq__booking_event__init(e);
	e->version = 1;
	e->idempotency_key = put(f, "k-1");
	e->booking_id = put(f, "B-k-1");
	e->kind = SMSQ__KIND__KIND_CONFIRMED;
	e->phone = put(f, "+33612345678");
	e->locale = put(f, "fr-FR");
	e->patient_name = put(f, "Camille Martin");
	e->practitioner_name = put(f, "Dr Lefèvre");
	e->place = put(f, "Centre de vaccination de Nîmes");
	e->appointment_at_ms = NOW + DAY;
	e->time_zone = put(f, "Europe/Paris");
	e->created_at_ms = NOW - HOUR;
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct validate_limits lim = { .max_text_bytes = TEXT_MAX, .zoneinfo_dir = NULL };

	if (f == NULL)
		return -1;
	f->c = *state; /* the table row (initial state), or NULL */
	memset(&seam, 0, sizeof(seam));
	f->v = validator_new(&lim);
	base_event(f);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	validator_destroy(&f->v);
	assert_null(f->v);
	free(f);
	memset(&seam, 0, sizeof(seam));
	return 0;
}

static Smsq__Reason check(struct fx *f)
{
	memset(&f->out, 0xa5, sizeof(f->out)); /* garbage: validate must fill it */
	return validate_event(f->v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail));
}

/* Fail with both names and the detail when the reason is not the expected one. */
static void expect_reason(const struct fx *f, Smsq__Reason got, Smsq__Reason want)
{
	if (got != want)
		fail_msg("reason %s, want %s (detail: \"%s\")", validate_reason_name(got),
			 validate_reason_name(want), f->detail);
}

static void expect_detail(const struct fx *f, const char *frag)
{
	if (strstr(f->detail, frag) == NULL)
		fail_msg("detail \"%s\" does not contain \"%s\"", f->detail, frag);
}

/* ---- the event table ---------------------------------------------------- */

/* A change to base_event() that a string override cannot express. */
#define MUTATOR(fn, ...)                                                  \
	static void fn(struct fx *f)                                      \
	{                                                                 \
		Smsq__BookingEvent *e = &f->ev;                           \
		(void)e;                                                  \
		__VA_ARGS__;                                              \
	}

MUTATOR(version_0, e->version = 0)
MUTATOR(version_2, e->version = 2)
MUTATOR(version_2_and_no_phone, e->version = 2; e->phone = put(f, ""))
MUTATOR(national_no_region, e->locale = put(f, "fr"); e->phone = put(f, "06 12 34 56 78"))
MUTATOR(national_in_germany, e->locale = put(f, "de-DE"); e->phone = put(f, "06 12 34 56 78"))
MUTATOR(key_128, e->idempotency_key = rep(f, "k", 128))
MUTATOR(key_129, e->idempotency_key = rep(f, "k", 129))
MUTATOR(booking_id_128, e->booking_id = rep(f, "b", 128))
MUTATOR(booking_id_129, e->booking_id = rep(f, "b", 129))
MUTATOR(kind_unspecified, e->kind = SMSQ__KIND__KIND_UNSPECIFIED)
MUTATOR(kind_rescheduled, e->kind = SMSQ__KIND__KIND_RESCHEDULED)
MUTATOR(kind_cancelled, e->kind = SMSQ__KIND__KIND_CANCELLED)
MUTATOR(kind_reminder, e->kind = SMSQ__KIND__KIND_REMINDER)
MUTATOR(kind_5, e->kind = (Smsq__Kind)5)
MUTATOR(kind_99, e->kind = (Smsq__Kind)99)
MUTATOR(kind_minus_1, e->kind = (Smsq__Kind)-1)
MUTATOR(time_zone_64, e->time_zone = rep(f, "x", 64))
MUTATOR(appointment_0, e->appointment_at_ms = 0)
MUTATOR(appointment_negative, e->appointment_at_ms = -1)
MUTATOR(created_0, e->created_at_ms = 0)
MUTATOR(created_negative, e->created_at_ms = -1)
MUTATOR(not_before_negative, e->not_before_ms = -1)
MUTATOR(expires_negative, e->expires_at_ms = -1)
MUTATOR(priority_9, e->priority = 9)
MUTATOR(priority_10, e->priority = 10)
MUTATOR(priority_max, e->priority = UINT32_MAX)
MUTATOR(text_at_limit, e->text = rep(f, "a", TEXT_MAX))
MUTATOR(text_over_limit, e->text = rep(f, "a", TEXT_MAX + 1))
MUTATOR(text_multibyte_at_limit, e->text = rep(f, "é", TEXT_MAX / 2))
MUTATOR(text_multibyte_over_limit, e->text = rep(f, "é", TEXT_MAX / 2 + 1))
MUTATOR(text_and_no_template_fields, e->text = put(f, "Rendez-vous demain 9h");
	e->patient_name = put(f, ""); e->practitioner_name = put(f, ""); e->place = put(f, ""))
MUTATOR(text_too_long_and_no_names, e->text = rep(f, "a", TEXT_MAX + 1);
	e->patient_name = put(f, ""))
MUTATOR(text_and_names_with_esc, e->text = put(f, "Rendez-vous demain 9h");
	e->patient_name = put(f, "\x1b[31m"); e->place = put(f, "\xe2\x80\xae"))
MUTATOR(patient_name_256, e->patient_name = rep(f, "p", VALIDATE_NAME_MAX))
MUTATOR(patient_name_257, e->patient_name = rep(f, "p", VALIDATE_NAME_MAX + 1))
MUTATOR(practitioner_name_257, e->practitioner_name = rep(f, "p", VALIDATE_NAME_MAX + 1))
MUTATOR(place_257, e->place = rep(f, "p", VALIDATE_NAME_MAX + 1))
MUTATOR(expires_past, e->expires_at_ms = NOW - SEC)
MUTATOR(expires_now, e->expires_at_ms = NOW)
MUTATOR(expires_in_1ms, e->expires_at_ms = NOW + 1)
MUTATOR(expires_after_appointment, e->expires_at_ms = NOW + 2 * DAY)
MUTATOR(appointment_past_no_expiry, e->appointment_at_ms = NOW - HOUR)
MUTATOR(appointment_now_no_expiry, e->appointment_at_ms = NOW)
MUTATOR(appointment_past_later_expiry, e->appointment_at_ms = NOW - HOUR;
	e->expires_at_ms = NOW + HOUR)
MUTATOR(not_before_after_expiry, e->expires_at_ms = NOW + HOUR;
	e->not_before_ms = NOW + 2 * HOUR)
MUTATOR(not_before_at_expiry, e->expires_at_ms = NOW + HOUR; e->not_before_ms = NOW + HOUR)
MUTATOR(not_before_just_before_expiry, e->expires_at_ms = NOW + HOUR;
	e->not_before_ms = NOW + HOUR - 1)
MUTATOR(not_before_after_appointment, e->not_before_ms = e->appointment_at_ms + SEC)
MUTATOR(not_before_past, e->not_before_ms = NOW - DAY)

/* the time window: HORIZON either side of NOW, created_at at most SKEW ahead */
MUTATOR(appointment_max, e->appointment_at_ms = INT64_MAX)
MUTATOR(appointment_2_62, e->appointment_at_ms = TWO_POW_62)
MUTATOR(appointment_year_3000, e->appointment_at_ms = YEAR_3000)
MUTATOR(appointment_at_horizon, e->appointment_at_ms = NOW + HORIZON)
MUTATOR(appointment_past_horizon, e->appointment_at_ms = NOW + HORIZON + 1)
MUTATOR(appointment_horizon_ago, e->appointment_at_ms = NOW - HORIZON;
	e->expires_at_ms = NOW + HOUR)
MUTATOR(appointment_before_horizon_ago, e->appointment_at_ms = NOW - HORIZON - 1;
	e->expires_at_ms = NOW + HOUR)
MUTATOR(appointment_1ms, e->appointment_at_ms = 1; e->expires_at_ms = NOW + HOUR)
MUTATOR(appointment_1ms_no_expiry, e->appointment_at_ms = 1)
MUTATOR(not_before_at_horizon, e->appointment_at_ms = NOW + HORIZON;
	e->not_before_ms = NOW + HORIZON - 1)
MUTATOR(not_before_past_horizon, e->appointment_at_ms = NOW + HORIZON;
	e->expires_at_ms = NOW + HORIZON + 2; e->not_before_ms = NOW + HORIZON + 1)
MUTATOR(not_before_1ms, e->not_before_ms = 1)
MUTATOR(expires_at_horizon, e->expires_at_ms = NOW + HORIZON)
MUTATOR(expires_past_horizon, e->expires_at_ms = NOW + HORIZON + 1)
MUTATOR(created_at_skew, e->created_at_ms = NOW + SKEW; e->appointment_at_ms = NOW + 2 * DAY)
MUTATOR(created_past_skew, e->created_at_ms = NOW + SKEW + 1;
	e->appointment_at_ms = NOW + 2 * DAY)
MUTATOR(created_horizon_ago, e->created_at_ms = NOW - HORIZON)
MUTATOR(created_before_horizon_ago, e->created_at_ms = NOW - HORIZON - 1)
MUTATOR(created_1ms, e->created_at_ms = 1)
MUTATOR(expires_before_created, e->created_at_ms = NOW + 2 * HOUR; e->expires_at_ms = NOW + HOUR)
MUTATOR(expires_at_created, e->created_at_ms = NOW + HOUR; e->expires_at_ms = NOW + HOUR)
MUTATOR(expires_just_after_created, e->created_at_ms = NOW + HOUR;
	e->expires_at_ms = NOW + HOUR + 1)
MUTATOR(expires_before_created_both_past, e->created_at_ms = NOW - HOUR;
	e->expires_at_ms = NOW - 2 * HOUR)
MUTATOR(no_created_expires_soon, e->created_at_ms = 0; e->expires_at_ms = NOW + 1)

struct vcase {
	const char *name;               /* shown by cmocka */
	const char *field;              /* a string field to set first, or NULL */
	const char *value;              /* its new value */
	void (*mutate)(struct fx *f);   /* then this change, or NULL */
	Smsq__Reason want;              /* expected reason */
	const char *detail;             /* expected fragment of the detail */
};

#define OK R(NONE), ""
/* The details of a time outside the window. */
#define AHEAD(field) field " is more than 3 years (1096 days) ahead of the pool's clock"
#define AGO(field) field " is more than 3 years (1096 days) ago by the pool's clock"
#define SKEWED(field) field " is more than 1 day ahead of the pool's clock"

static const struct vcase event_cases[] = {
	{ "valid event", NULL, NULL, NULL, OK },

	/* version */
	{ "version 0 (unset) is taken as 1", NULL, NULL, version_0, OK },
	{ "version 2 is unsupported", NULL, NULL, version_2, R(UNSUPPORTED_VERSION),
	  "version 2 is not supported" },
	{ "version is checked first", NULL, NULL, version_2_and_no_phone,
	  R(UNSUPPORTED_VERSION), "version 2" },

	/* idempotency_key */
	{ "key missing", "idempotency_key", "", NULL, R(MISSING_FIELD),
	  "idempotency_key is required" },
	{ "key of 128 bytes", NULL, NULL, key_128, OK },
	{ "key of 129 bytes", NULL, NULL, key_129, R(INVALID_FIELD),
	  "idempotency_key must be 1 to 128 printable ASCII" },
	{ "key with a space", "idempotency_key", "k 1", NULL, R(INVALID_FIELD),
	  "idempotency_key" },
	{ "key with a tab", "idempotency_key", "k\t1", NULL, R(INVALID_FIELD),
	  "idempotency_key" },
	{ "key with DEL", "idempotency_key", "k\x7f", NULL, R(INVALID_FIELD),
	  "idempotency_key" },
	{ "key with a non-ASCII byte", "idempotency_key", "k-é", NULL, R(INVALID_FIELD),
	  "printable ASCII" },
	{ "key with all printable ASCII", "idempotency_key",
	  "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
	  NULL, OK },

	/* booking_id */
	{ "booking_id missing", "booking_id", "", NULL, R(MISSING_FIELD),
	  "booking_id is required" },
	{ "booking_id of 128 bytes", NULL, NULL, booking_id_128, OK },
	{ "booking_id of 129 bytes", NULL, NULL, booking_id_129, R(INVALID_FIELD),
	  "booking_id is 129 bytes, over the limit of 128" },
	{ "booking_id not UTF-8", "booking_id", "B-\xff", NULL, R(INVALID_FIELD),
	  "booking_id is not valid UTF-8" },
	{ "booking_id with UTF-8", "booking_id", "réservation-8812", NULL, OK },

	/* kind */
	{ "kind unspecified", NULL, NULL, kind_unspecified, R(MISSING_FIELD), "kind is required" },
	{ "kind rescheduled", NULL, NULL, kind_rescheduled, OK },
	{ "kind cancelled", NULL, NULL, kind_cancelled, OK },
	{ "kind reminder", NULL, NULL, kind_reminder, OK },
	{ "kind 5 (one past the last)", NULL, NULL, kind_5, R(INVALID_FIELD), "kind 5 is unknown" },
	{ "kind 99", NULL, NULL, kind_99, R(INVALID_FIELD), "kind 99 is unknown" },
	{ "kind -1", NULL, NULL, kind_minus_1, R(INVALID_FIELD), "kind -1 is unknown" },

	/* phone */
	{ "phone missing", "phone", "", NULL, R(MISSING_FIELD), "phone is required" },
	{ "phone without '+' but with the locale's country code", "phone", "33612345678", NULL,
	  OK },
	{ "phone national format, read in the locale's region", "phone", "0612345678", NULL, OK },
	{ "phone with 0 after '+'", "phone", "+0612345678", NULL, R(INVALID_PHONE), "phone: " },
	{ "phone '+' alone", "phone", "+", NULL, R(INVALID_PHONE), "phone: " },
	{ "phone of 7 digits", "phone", "+3361234", NULL, R(INVALID_PHONE), "too short" },
	{ "phone of 8 digits (short for France)", "phone", "+33612345", NULL, R(INVALID_PHONE),
	  "phone: " },
	{ "phone of 15 digits (long for France)", "phone", "+336123456789012", NULL,
	  R(INVALID_PHONE), "too long" },
	{ "phone of 16 digits", "phone", "+3361234567890123", NULL, R(INVALID_PHONE), "phone: " },
	{ "phone with letters", "phone", "+33612ABC678", NULL, R(INVALID_PHONE), "letters" },
	{ "phone with spaces", "phone", "+33 6 12 34 56 78", NULL, OK },
	{ "phone 0033 international prefix", "phone", "0033612345678", NULL, OK },
	{ "phone German mobile", "phone", "+49 151 23456789", NULL, OK },
	{ "phone French fixed line", "phone", "+33142685300", NULL, R(NOT_MOBILE), "fixed-line" },
	{ "phone French fixed line, national", "phone", "01 42 68 53 00", NULL, R(NOT_MOBILE),
	  "fixed-line" },
	{ "phone French toll-free", "phone", "0800 123 456", NULL, R(NOT_MOBILE), "toll-free" },
	{ "phone national, locale without region", NULL, NULL, national_no_region,
	  R(INVALID_PHONE), "no default region" },
	{ "phone national, read in the locale's country (a German fixed line)", NULL, NULL,
	  national_in_germany, R(NOT_MOBILE), "fixed-line number (DE)" },
	{ "phone with a trailing newline", "phone", "+33612345678\n", NULL, R(INVALID_PHONE),
	  "phone: " },

	/* locale */
	{ "locale 'fr'", "locale", "fr", NULL, OK },
	{ "locale 'fr-FR'", "locale", "fr-FR", NULL, OK },
	{ "locale 'es-419'", "locale", "es-419", NULL, OK },
	{ "locale 'ast' (3 letters)", "locale", "ast", NULL, OK },
	{ "locale missing", "locale", "", NULL, R(MISSING_FIELD), "locale is required" },
	{ "locale 'FR'", "locale", "FR", NULL, R(INVALID_FIELD), "locale must be a language tag" },
	{ "locale 'french'", "locale", "french", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'f'", "locale", "f", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'fr_FR'", "locale", "fr_FR", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'fr-fr'", "locale", "fr-fr", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'fr-'", "locale", "fr-", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'fr-FRA'", "locale", "fr-FRA", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'es-41'", "locale", "es-41", NULL, R(INVALID_FIELD), "locale" },
	{ "locale 'es-4190'", "locale", "es-4190", NULL, R(INVALID_FIELD), "locale" },

	/* time_zone */
	{ "time zone Europe/Paris", "time_zone", "Europe/Paris", NULL, OK },
	{ "time zone UTC", "time_zone", "UTC", NULL, OK },
	{ "time zone with three parts", "time_zone", "America/Argentina/Buenos_Aires", NULL, OK },
	{ "time zone with a '+'", "time_zone", "Etc/GMT+1", NULL, OK },
	{ "time zone missing", "time_zone", "", NULL, R(MISSING_FIELD), "time_zone is required" },
	{ "time zone Mars/Olympus", "time_zone", "Mars/Olympus", NULL, R(INVALID_FIELD),
	  "time_zone is not a known IANA zone" },
	{ "time zone ../etc/passwd", "time_zone", "../etc/passwd", NULL, R(INVALID_FIELD),
	  "time_zone" },
	{ "time zone Europe/../../../etc/passwd", "time_zone", "Europe/../../../etc/passwd", NULL,
	  R(INVALID_FIELD), "time_zone" },
	{ "time zone /etc/passwd", "time_zone", "/etc/passwd", NULL, R(INVALID_FIELD),
	  "time_zone" },
	{ "time zone with a trailing space", "time_zone", "Europe/Paris ", NULL,
	  R(INVALID_FIELD), "time_zone" },
	{ "time zone in the wrong case", "time_zone", "europe/paris", NULL, R(INVALID_FIELD),
	  "time_zone" },
	{ "time zone that is a directory", "time_zone", "Europe", NULL, R(INVALID_FIELD),
	  "time_zone" },
	{ "time zone of 64 bytes", NULL, NULL, time_zone_64, R(INVALID_FIELD), "time_zone" },
	/* Regression: the zone directory also holds data files that are not
	 * zones; "leapseconds" is a regular file there (ASCII text, no TZif). */
	{ "time zone 'leapseconds' (a data file, not a zone)", "time_zone", "leapseconds",
	  NULL, R(INVALID_FIELD), "time_zone" },

	/* appointment and the other times */
	{ "appointment missing", NULL, NULL, appointment_0, R(MISSING_FIELD),
	  "appointment_at_ms is required" },
	{ "appointment negative", NULL, NULL, appointment_negative, R(INVALID_FIELD),
	  "appointment_at_ms is negative" },
	{ "created 0 (unset)", NULL, NULL, created_0, OK },
	{ "created negative", NULL, NULL, created_negative, R(INVALID_FIELD),
	  "times must not be negative" },
	{ "not_before negative", NULL, NULL, not_before_negative, R(INVALID_FIELD),
	  "times must not be negative" },
	{ "expires negative", NULL, NULL, expires_negative, R(INVALID_FIELD),
	  "times must not be negative" },

	/* priority */
	{ "priority 9", NULL, NULL, priority_9, OK },
	{ "priority 10", NULL, NULL, priority_10, R(INVALID_FIELD), "priority 10 is over 9" },
	{ "priority UINT32_MAX", NULL, NULL, priority_max, R(INVALID_FIELD),
	  "priority 4294967295 is over 9" },

	/* ready text */
	{ "text at the limit", NULL, NULL, text_at_limit, OK },
	{ "text one byte over the limit", NULL, NULL, text_over_limit, R(TEXT_TOO_LONG),
	  "text is 1601 bytes, over the limit of 1600" },
	{ "text of 2-byte characters at the limit", NULL, NULL, text_multibyte_at_limit, OK },
	{ "text of 2-byte characters over the limit", NULL, NULL, text_multibyte_over_limit,
	  R(TEXT_TOO_LONG), "text is 1602 bytes" },
	{ "text not UTF-8", "text", "Rendez-vous \xc3(", NULL, R(INVALID_FIELD),
	  "text is not valid UTF-8" },
	{ "text truncated in a character", "text", "Nîmes \xe2\x82", NULL, R(INVALID_FIELD),
	  "text is not valid UTF-8" },
	{ "text and no template fields", NULL, NULL, text_and_no_template_fields, OK },
	{ "text too long is not excused by template fields", NULL, NULL,
	  text_too_long_and_no_names, R(TEXT_TOO_LONG), "text is 1601 bytes" },
	{ "text, names unused with control characters", NULL, NULL, text_and_names_with_esc,
	  OK },
	{ "text with a line break (LF)", "text", "Rendez-vous demain\nà 9h", NULL, OK },
	{ "text with a CR LF line break", "text", "Rendez-vous demain\r\nà 9h", NULL, OK },
	{ "text with line breaks first, last and twice", "text", "\nRDV\n\n9h\r\n", NULL, OK },
	{ "text with a lone CR", "text", "Rendez-vous demain\rà 9h", NULL, R(INVALID_FIELD),
	  "text holds U+000D, a control character, at byte 18 (a text may break lines with LF "
	  "or CR LF, nothing else)" },
	{ "text ending with CR", "text", "RDV\r", NULL, R(INVALID_FIELD), "text holds U+000D" },
	{ "text with CR CR LF", "text", "RDV\r\r\n9h", NULL, R(INVALID_FIELD),
	  "text holds U+000D, a control character, at byte 3" },
	{ "text with ESC[31m", "text", "RDV \x1b[31mdemain", NULL, R(INVALID_FIELD),
	  "text holds U+001B, a control character, at byte 4" },
	{ "text with U+202E", "text", "RDV \xe2\x80\xae" "9h", NULL, R(INVALID_FIELD),
	  "text holds U+202E, a bidirectional control, at byte 4" },
	{ "text with U+2028", "text", "RDV\xe2\x80\xa8" "9h", NULL, R(INVALID_FIELD),
	  "text holds U+2028, a line or paragraph separator, at byte 3" },

	/* template fields (no text) */
	{ "no text, patient_name missing", "patient_name", "", NULL, R(MISSING_FIELD),
	  "patient_name is required (or give a ready text)" },
	{ "no text, practitioner_name missing", "practitioner_name", "", NULL, R(MISSING_FIELD),
	  "practitioner_name is required (or give a ready text)" },
	{ "no text, place missing", "place", "", NULL, R(MISSING_FIELD),
	  "place is required (or give a ready text)" },
	{ "patient_name of 256 bytes", NULL, NULL, patient_name_256, OK },
	{ "patient_name of 257 bytes", NULL, NULL, patient_name_257, R(INVALID_FIELD),
	  "patient_name is 257 bytes, over the limit of 256 (or give a ready text)" },
	{ "practitioner_name of 257 bytes", NULL, NULL, practitioner_name_257, R(INVALID_FIELD),
	  "practitioner_name is 257 bytes" },
	{ "place of 257 bytes", NULL, NULL, place_257, R(INVALID_FIELD), "place is 257 bytes" },
	{ "place not UTF-8", "place", "Centre de N\xeemes", NULL, R(INVALID_FIELD),
	  "place is not valid UTF-8 (or give a ready text)" },
	{ "practitioner_name with an overlong '/'", "practitioner_name", "Dr \xc0\xaf", NULL,
	  R(INVALID_FIELD), "practitioner_name is not valid UTF-8" },
	{ "patient_name with ESC[31m", "patient_name", "Camille \x1b[31mMartin", NULL,
	  R(INVALID_FIELD),
	  "patient_name holds U+001B, a control character, at byte 8 (or give a ready text)" },
	{ "place with a line separator", "place", "Nantes\xe2\x80\xa8" "Centre", NULL,
	  R(INVALID_FIELD), "place holds U+2028, a line or paragraph separator, at byte 6" },
	{ "booking_id with U+202E", "booking_id", "B-\xe2\x80\xae" "1288", NULL, R(INVALID_FIELD),
	  "booking_id holds U+202E, a bidirectional control, at byte 2" },
	{ "booking_id with a LF", "booking_id", "B-1\n", NULL, R(INVALID_FIELD),
	  "booking_id holds U+000A, a control character, at byte 3" },

	/* expiry */
	{ "expiry 1 s past", NULL, NULL, expires_past, R(ALREADY_EXPIRED), "expired 1 s ago" },
	{ "expiry exactly now", NULL, NULL, expires_now, R(ALREADY_EXPIRED), "expired 0 s ago" },
	{ "expiry in 1 ms", NULL, NULL, expires_in_1ms, OK },
	{ "expiry after the appointment", NULL, NULL, expires_after_appointment, OK },
	{ "no expiry, appointment 1 h past", NULL, NULL, appointment_past_no_expiry,
	  R(ALREADY_EXPIRED), "expired 3600 s ago" },
	{ "no expiry, appointment now", NULL, NULL, appointment_now_no_expiry, R(ALREADY_EXPIRED),
	  "expired" },
	{ "appointment past but a later expiry", NULL, NULL, appointment_past_later_expiry, OK },

	/* not_before */
	{ "not_before after the expiry", NULL, NULL, not_before_after_expiry, R(INVALID_FIELD),
	  "not_before_ms is not before the expiry" },
	{ "not_before at the expiry", NULL, NULL, not_before_at_expiry, R(INVALID_FIELD),
	  "not_before_ms" },
	{ "not_before 1 ms before the expiry", NULL, NULL, not_before_just_before_expiry, OK },
	{ "no expiry, not_before after the appointment", NULL, NULL,
	  not_before_after_appointment, R(INVALID_FIELD), "not_before_ms" },
	{ "not_before in the past", NULL, NULL, not_before_past, OK },

	/* the time window (validate.h: VALIDATE_HORIZON_MS, VALIDATE_CLOCK_SKEW_MS) */
	{ "appointment INT64_MAX", NULL, NULL, appointment_max, R(INVALID_FIELD),
	  AHEAD("appointment_at_ms") },
	{ "appointment 2^62", NULL, NULL, appointment_2_62, R(INVALID_FIELD),
	  AHEAD("appointment_at_ms") },
	{ "appointment in the year 3000", NULL, NULL, appointment_year_3000, R(INVALID_FIELD),
	  AHEAD("appointment_at_ms") },
	{ "appointment at the horizon", NULL, NULL, appointment_at_horizon, OK },
	{ "appointment 1 ms past the horizon", NULL, NULL, appointment_past_horizon,
	  R(INVALID_FIELD), AHEAD("appointment_at_ms") },
	{ "appointment the horizon ago, a later expiry", NULL, NULL, appointment_horizon_ago, OK },
	{ "appointment 1 ms before the horizon ago, a later expiry", NULL, NULL,
	  appointment_before_horizon_ago, R(INVALID_FIELD),
	  AGO("appointment_at_ms") },
	{ "appointment at 1 ms after the epoch, a later expiry", NULL, NULL, appointment_1ms,
	  R(INVALID_FIELD), AGO("appointment_at_ms") },
	{ "appointment at 1 ms after the epoch, no expiry", NULL, NULL, appointment_1ms_no_expiry,
	  R(ALREADY_EXPIRED), "expired" },
	{ "not_before 1 ms before the horizon", NULL, NULL, not_before_at_horizon, OK },
	{ "not_before 1 ms past the horizon", NULL, NULL, not_before_past_horizon,
	  R(INVALID_FIELD), AHEAD("not_before_ms") },
	{ "not_before 1 ms after the epoch (as soon as possible)", NULL, NULL, not_before_1ms, OK },
	{ "expiry at the horizon", NULL, NULL, expires_at_horizon, OK },
	{ "expiry 1 ms past the horizon", NULL, NULL, expires_past_horizon, R(INVALID_FIELD),
	  AHEAD("expires_at_ms") },
	{ "created 1 day ahead (clock skew)", NULL, NULL, created_at_skew, OK },
	{ "created 1 day and 1 ms ahead", NULL, NULL, created_past_skew, R(INVALID_FIELD),
	  SKEWED("created_at_ms") },
	{ "created the horizon ago", NULL, NULL, created_horizon_ago, OK },
	{ "created 1 ms before the horizon ago", NULL, NULL, created_before_horizon_ago,
	  R(INVALID_FIELD), AGO("created_at_ms") },
	{ "created at 1 ms after the epoch", NULL, NULL, created_1ms, R(INVALID_FIELD),
	  AGO("created_at_ms") },
	{ "expiry before created", NULL, NULL, expires_before_created, R(INVALID_FIELD),
	  "expires_at_ms is not after created_at_ms" },
	{ "expiry at created", NULL, NULL, expires_at_created, R(INVALID_FIELD),
	  "expires_at_ms is not after created_at_ms" },
	{ "expiry 1 ms after created", NULL, NULL, expires_just_after_created, OK },
	{ "expiry before created, both past: the expiry comes first", NULL, NULL,
	  expires_before_created_both_past, R(ALREADY_EXPIRED), "expired 7200 s ago" },
	{ "no created, expiry in 1 ms", NULL, NULL, no_created_expires_soon, OK },
};

static char **str_field(Smsq__BookingEvent *e, const char *name)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "idempotency_key", offsetof(Smsq__BookingEvent, idempotency_key) },
		{ "booking_id", offsetof(Smsq__BookingEvent, booking_id) },
		{ "phone", offsetof(Smsq__BookingEvent, phone) },
		{ "locale", offsetof(Smsq__BookingEvent, locale) },
		{ "patient_name", offsetof(Smsq__BookingEvent, patient_name) },
		{ "practitioner_name", offsetof(Smsq__BookingEvent, practitioner_name) },
		{ "place", offsetof(Smsq__BookingEvent, place) },
		{ "time_zone", offsetof(Smsq__BookingEvent, time_zone) },
		{ "text", offsetof(Smsq__BookingEvent, text) },
	};

	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return (char **)((char *)e + fields[i].off);
	fail_msg("no string field '%s' in the test table", name);
	return NULL;
}

static void run_event_case(void **state)
{
	struct fx *f = *state;
	const struct vcase *c = f->c;
	Smsq__Reason got;

	if (c->field != NULL)
		*str_field(&f->ev, c->field) = put(f, c->value);
	if (c->mutate != NULL)
		c->mutate(f);
	got = check(f);
	expect_reason(f, got, c->want);
	if (c->want == R(NONE)) {
		assert_string_equal(f->detail, "");
		assert_ptr_equal(f->out.idem_key, f->ev.idempotency_key);
	} else {
		expect_detail(f, c->detail);
	}
}

/* ---- what a valid event becomes ---------------------------------------- */

static void test_valid_event_fills_store_new(void **state)
{
	struct fx *f = *state;

	f->ev.priority = 7;
	f->ev.not_before_ms = NOW + HOUR;
	expect_reason(f, check(f), R(NONE));
	assert_string_equal(f->detail, "");
	assert_ptr_equal(f->out.idem_key, f->ev.idempotency_key); /* borrowed, not copied */
	assert_int_equal(f->out.idem_len, 3);
	assert_null(f->out.event); /* left to the caller */
	assert_int_equal(f->out.event_len, 0);
	assert_int_equal(f->out.created_ms, NOW - HOUR);
	assert_int_equal(f->out.not_before_ms, NOW + HOUR);
	assert_int_equal(f->out.expires_ms, NOW + DAY); /* defaults to the appointment */
	assert_int_equal(f->out.appointment_ms, NOW + DAY);
	assert_int_equal(f->out.priority, 7);
	assert_int_equal(f->out.id, 0);
}

static void test_created_defaults_to_now(void **state)
{
	struct fx *f = *state;

	f->ev.created_at_ms = 0;
	expect_reason(f, check(f), R(NONE));
	assert_int_equal(f->out.created_ms, NOW);
	assert_int_equal(f->out.not_before_ms, 0);
	assert_int_equal(f->out.priority, 0);
}

static void test_explicit_expiry_is_kept(void **state)
{
	struct fx *f = *state;

	f->ev.expires_at_ms = NOW + 3 * HOUR;
	f->ev.priority = 9;
	f->ev.idempotency_key = rep(f, "x", STORE_IDEM_MAX);
	expect_reason(f, check(f), R(NONE));
	assert_int_equal(f->out.expires_ms, NOW + 3 * HOUR);
	assert_int_equal(f->out.appointment_ms, NOW + DAY);
	assert_int_equal(f->out.idem_len, STORE_IDEM_MAX);
	assert_int_equal(f->out.priority, 9);
}

/* The detail is cut to the caller's buffer and stays NUL-terminated, also
 * when " (or give a ready text)" is appended. */
static void test_short_detail_buffer(void **state)
{
	struct fx *f = *state;
	char small[8];

	memset(small, 'x', sizeof(small));
	f->ev.phone = put(f, "12");
	expect_reason(f, validate_event(f->v, &f->ev, NOW, &f->out, small, sizeof(small)),
		      R(INVALID_PHONE));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, "phone: ", 8);

	f->ev.phone = put(f, "+33612345678");
	f->ev.place = put(f, "");
	memset(small, 'x', sizeof(small));
	expect_reason(f, validate_event(f->v, &f->ev, NOW, &f->out, small, sizeof(small)),
		      R(MISSING_FIELD));
	assert_string_equal(small, "place i");

	/* A buffer of one byte gets just the NUL. */
	memset(small, 'x', sizeof(small));
	expect_reason(f, validate_event(f->v, &f->ev, NOW, &f->out, small, 1), R(MISSING_FIELD));
	assert_int_equal(small[0], '\0');
	assert_int_equal(small[1], 'x');
}

/* A success after a failure leaves no stale detail. */
static void test_detail_cleared_on_success(void **state)
{
	struct fx *f = *state;

	f->ev.locale = put(f, "FR");
	expect_reason(f, check(f), R(INVALID_FIELD));
	f->ev.locale = put(f, "fr-FR");
	expect_reason(f, check(f), R(NONE));
	assert_string_equal(f->detail, "");
}

/* ---- time zones: the directory and the cache ---------------------------- */

static const char *const many_zones[] = {
	"Europe/Paris", "Europe/Berlin", "Europe/Rome", "Europe/Madrid", "Europe/London",
	"Europe/Lisbon", "Europe/Dublin", "Europe/Brussels", "Europe/Amsterdam",
	"Europe/Luxembourg", "Europe/Zurich", "Europe/Vienna", "Europe/Prague", "Europe/Warsaw",
	"Europe/Athens", "Europe/Helsinki", "Europe/Stockholm", "Europe/Oslo",
	"Europe/Copenhagen", "Europe/Monaco", "America/Martinique", "America/Guadeloupe",
	"America/Cayenne", "Indian/Reunion", "Indian/Mayotte", "Pacific/Noumea",
	"Pacific/Tahiti", "America/Miquelon", "Africa/Casablanca", "Africa/Algiers",
	"Africa/Tunis", "Africa/Dakar", "America/Montreal", "America/New_York", "Asia/Tokyo",
	"Australia/Sydney", "Etc/UTC", "UTC",
};

/* More zones than the cache holds, twice over: the cache wraps around and
 * every zone stays valid; an unknown zone is never cached as valid. */
static void test_zone_cache_wraps(void **state)
{
	struct fx *f = *state;

	assert_true(ARRAY_LEN(many_zones) > VALIDATE_TZ_CACHE);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < ARRAY_LEN(many_zones); i++) {
			f->ev.time_zone = put(f, many_zones[i]);
			expect_reason(f, check(f), R(NONE));
			f->used -= strlen(many_zones[i]) + 1; /* reuse the arena */
		}
		f->ev.time_zone = put(f, "Mars/Olympus");
		expect_reason(f, check(f), R(INVALID_FIELD));
	}
}

/* validate_limits.zoneinfo_dir replaces /usr/share/zoneinfo. */
static void test_own_zoneinfo_dir(void **state)
{
	struct fx *f = *state;
	char dir[64] = "/tmp/smsq-test-zones-XXXXXX";
	char path[128];
	FILE *fp;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/Test", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/Test/Zone", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("TZif", fp);
	fclose(fp);

	struct validate_limits lim = { .max_text_bytes = TEXT_MAX, .zoneinfo_dir = dir };
	validator *v = validator_new(&lim);

	f->ev.time_zone = put(f, "Test/Zone");
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(NONE));
	f->ev.time_zone = put(f, "Europe/Paris");
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(INVALID_FIELD));
	f->ev.time_zone = put(f, "Test");
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(INVALID_FIELD));
	validator_destroy(&v);
	assert_null(v);
	validator_destroy(&v); /* NULL is fine */
	validator_destroy(NULL);

	unlink(path);
	snprintf(path, sizeof(path), "%s/Test", dir);
	rmdir(path);
	rmdir(dir);
}

/* ---- a check that cannot be made now is no verdict ----------------------- */

/* At the descriptor limit, stat() of a zone not cached yet passes and open()
 * fails (EMFILE): the event gets TEMPORARY, not INVALID_FIELD, and the zone
 * is not remembered as bad: once open() works again, it passes, and from
 * then on it is cached (open() is no longer called). */
static void test_zone_open_emfile_is_temporary_not_cached(void **state)
{
	struct fx *f = *state;

	f->ev.time_zone = put(f, "Asia/Tokyo");
	seam.suffix = "/Asia/Tokyo";
	seam.open_errno = EMFILE;
	expect_reason(f, check(f), R(TEMPORARY));
	expect_detail(f, "time_zone could not be checked now");
	expect_detail(f, strerror(EMFILE));
	assert_int_equal(seam.open_calls, 1);

	expect_reason(f, check(f), R(TEMPORARY)); /* still failing: asked again */
	assert_int_equal(seam.open_calls, 2);

	seam.open_errno = 0;
	expect_reason(f, check(f), R(NONE));
	assert_int_equal(seam.open_calls, 3);
	seam.open_errno = EMFILE;
	expect_reason(f, check(f), R(NONE)); /* now cached: no open() */
	assert_int_equal(seam.open_calls, 3);
}

/* The same when stat() itself fails for want of a resource (EMFILE, as
 * the issue has it; ENOMEM). */
static void test_zone_stat_failure_is_temporary_not_cached(void **state)
{
	struct fx *f = *state;

	f->ev.time_zone = put(f, "Asia/Tokyo");
	seam.suffix = "/Asia/Tokyo";
	seam.stat_errno = EMFILE;
	expect_reason(f, check(f), R(TEMPORARY));
	expect_detail(f, strerror(EMFILE));
	seam.stat_errno = ENOMEM;
	expect_reason(f, check(f), R(TEMPORARY));
	expect_detail(f, strerror(ENOMEM));
	assert_int_equal(seam.open_calls, 0);
	seam.stat_errno = 0;
	expect_reason(f, check(f), R(NONE));
	assert_int_equal(seam.stat_calls, 3);
}

/* Which errors are a verdict on the name and which are not. */
static void test_zone_errno_verdicts(void **state)
{
	struct fx *f = *state;
	static const struct {
		int err;            /* stat() or open() fails so */
		Smsq__Reason want;  /* the answer */
	} cases[] = {
		{ ENOENT, R(INVALID_FIELD) },       { ENOTDIR, R(INVALID_FIELD) },
		{ ENAMETOOLONG, R(INVALID_FIELD) }, { ELOOP, R(INVALID_FIELD) },
		{ EMFILE, R(TEMPORARY) },           { ENFILE, R(TEMPORARY) },
		{ ENOMEM, R(TEMPORARY) },           { EIO, R(TEMPORARY) },
		{ EACCES, R(TEMPORARY) },
	};

	f->ev.time_zone = put(f, "Asia/Tokyo");
	seam.suffix = "/Asia/Tokyo";
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		for (int on_open = 0; on_open < 2; on_open++) {
			seam.stat_errno = on_open ? 0 : cases[i].err;
			seam.open_errno = on_open ? cases[i].err : 0;
			Smsq__Reason got = check(f);

			if (got != cases[i].want)
				fail_msg("%s failing with %s: %s, want %s (detail: \"%s\")",
					 on_open ? "open" : "stat", strerror(cases[i].err),
					 validate_reason_name(got), validate_reason_name(cases[i].want),
					 f->detail);
			if (got == R(INVALID_FIELD))
				expect_detail(f, "time_zone is not a known IANA zone");
		}
	}
	seam.stat_errno = seam.open_errno = 0;
	expect_reason(f, check(f), R(NONE)); /* nothing was remembered as bad */
}

/* libphonenumber out of memory (std::bad_alloc in phone.cc) is TEMPORARY,
 * not INVALID_PHONE; the next call decides on the number. */
static void test_phone_out_of_memory_is_temporary(void **state)
{
	struct fx *f = *state;

	seam.phone_no_memory = 1;
	expect_reason(f, check(f), R(TEMPORARY));
	expect_detail(f, "phone: out of memory");
	seam.phone_no_memory = 0;
	expect_reason(f, check(f), R(NONE));
	assert_string_equal(f->out.to, "+33612345678");
}

/* The number is stored normalised; the allowed countries and the default
 * region come from validate_limits (ingest.allowed_countries,
 * ingest.default_region). */
static void test_phone_rules_and_default_region(void **state)
{
	struct fx *f = *state;
	struct phone_rules rules;
	char err[128];

	f->ev.phone = put(f, "06 12 34 56 78");
	expect_reason(f, check(f), R(NONE));
	assert_int_equal(f->out.to_len, 12);
	assert_string_equal(f->out.to, "+33612345678");
	assert_ptr_equal(f->out.to, f->out.to_buf);

	assert_int_equal(phone_rules_parse(&rules, "fr, it", err, sizeof(err)), 0);
	struct validate_limits lim = { .max_text_bytes = TEXT_MAX, .phones = &rules,
				       .default_region = "fr" };
	validator *v = validator_new(&lim);

	memset(&rules, 0, sizeof(rules)); /* the validator keeps its own copy */
	f->ev.locale = put(f, "fr"); /* no region: the default region reads it */
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(NONE));
	assert_string_equal(f->out.to, "+33612345678");
	f->ev.phone = put(f, "+39 312 345 6789");
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(NONE));
	assert_string_equal(f->out.to, "+393123456789");
	f->ev.phone = put(f, "+4915123456789");
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(COUNTRY_NOT_ALLOWED));
	expect_detail(f, "DE");
	if (strstr(f->detail, "15123456789") != NULL)
		fail_msg("the detail repeats the number: %s", f->detail);
	validator_destroy(&v);
}

/* The text limit comes from validate_limits (ingest.max_text_bytes). */
static void test_text_limit_is_configurable(void **state)
{
	struct fx *f = *state;
	struct validate_limits lim = { .max_text_bytes = 70, .zoneinfo_dir = NULL };
	validator *v = validator_new(&lim);

	f->ev.text = rep(f, "a", 70);
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(NONE));
	f->ev.text = rep(f, "a", 71);
	expect_reason(f, validate_event(v, &f->ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(TEXT_TOO_LONG));
	expect_detail(f, "text is 71 bytes, over the limit of 70");
	validator_destroy(&v);
}

/* Values that are no time at all, in each optional time field (the
 * appointment's are rows of event_cases): INVALID_FIELD naming the field,
 * before any rule that relates the times to each other. */
static void test_times_that_are_no_time_are_refused(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name;       /* the field */
		size_t off;             /* where it is */
	} fields[] = {
		{ "created_at_ms", offsetof(Smsq__BookingEvent, created_at_ms) },
		{ "not_before_ms", offsetof(Smsq__BookingEvent, not_before_ms) },
		{ "expires_at_ms", offsetof(Smsq__BookingEvent, expires_at_ms) },
	};
	static const int64_t garbage[] = { INT64_MAX, TWO_POW_62, YEAR_3000 };

	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		for (size_t j = 0; j < ARRAY_LEN(garbage); j++) {
			Smsq__Reason got;

			f->used = 0;
			base_event(f);
			*(int64_t *)((char *)&f->ev + fields[i].off) = garbage[j];
			got = check(f);
			if (got != R(INVALID_FIELD) || strstr(f->detail, fields[i].name) != f->detail ||
			    strstr(f->detail, "ahead of the pool's clock") == NULL)
				fail_msg("%s = %lld: %s (%s)", fields[i].name, (long long)garbage[j],
					 validate_reason_name(got), f->detail);
		}
	}
}

/* ---- characters in the fields that go into a text ------------------------ */

struct ccase {
	const char *name;   /* shown in a failure */
	const char *utf8;   /* the character */
	const char *cp;     /* as the detail writes it */
};

/* Refused in every field that goes into a text (text: see below). */
static const struct ccase refused_chars[] = {
	{ "BEL", "\a", "U+0007" },
	{ "TAB", "\t", "U+0009" },
	{ "LF", "\n", "U+000A" },
	{ "CR", "\r", "U+000D" },
	{ "ESC", "\x1b", "U+001B" },
	{ "U+0001 (first C0 after NUL)", "\x01", "U+0001" },
	{ "U+001F (last C0)", "\x1f", "U+001F" },
	{ "DEL", "\x7f", "U+007F" },
	{ "U+0080 (first C1)", "\xc2\x80", "U+0080" },
	{ "NEL U+0085", "\xc2\x85", "U+0085" },
	{ "CSI U+009B", "\xc2\x9b", "U+009B" },
	{ "U+009F (last C1)", "\xc2\x9f", "U+009F" },
	{ "LINE SEPARATOR U+2028", "\xe2\x80\xa8", "U+2028" },
	{ "PARAGRAPH SEPARATOR U+2029", "\xe2\x80\xa9", "U+2029" },
	{ "LRE U+202A", "\xe2\x80\xaa", "U+202A" },
	{ "RLO U+202E", "\xe2\x80\xae", "U+202E" },
	{ "LRI U+2066", "\xe2\x81\xa6", "U+2066" },
	{ "PDI U+2069", "\xe2\x81\xa9", "U+2069" },
};

/* Their neighbours, and what real names and places hold, pass. */
static const struct ccase kept_chars[] = {
	{ "space", " ", NULL },
	{ "tilde (before DEL)", "~", NULL },
	{ "NBSP U+00A0 (after C1)", "\xc2\xa0", NULL },
	{ "e acute", "\xc3\xa9", NULL },
	{ "U+2027 (before the separators)", "\xe2\x80\xa7", NULL },
	{ "NNBSP U+202F (after the overrides)", "\xe2\x80\xaf", NULL },
	{ "U+2065 (before the isolates)", "\xe2\x81\xa5", NULL },
	{ "U+206A (after the isolates)", "\xe2\x81\xaa", NULL },
	{ "LRM U+200E (a mark, not an embedding)", "\xe2\x80\x8e", NULL },
	{ "Arabic letters", "\xd8\xb3\xd9\x84\xd9\x85\xd9\x89", NULL },
	{ "emoji", "\xf0\x9f\x98\x80", NULL },
};

static const char *const text_fields[] = {
	"patient_name", "practitioner_name", "place", "booking_id", "text",
};

/* base_event() with field set to "Ca" c "mille"; returns the reason. */
static Smsq__Reason check_with_char(struct fx *f, const char *field, const char *c)
{
	char val[32];

	f->used = 0;
	base_event(f);
	snprintf(val, sizeof(val), "Ca%smille", c);
	*str_field(&f->ev, field) = put(f, val);
	return check(f);
}

/* Each refused character, in each field that goes into a text, is
 * INVALID_FIELD with a detail naming the field and the code point (never
 * the character itself); a ready text keeps LF (the other line-break cases
 * are rows of event_cases). */
static void test_control_characters_are_refused(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < ARRAY_LEN(text_fields); i++) {
		for (size_t j = 0; j < ARRAY_LEN(refused_chars); j++) {
			const struct ccase *c = &refused_chars[j];
			int kept = strcmp(text_fields[i], "text") == 0 && strcmp(c->name, "LF") == 0;
			Smsq__Reason got = check_with_char(f, text_fields[i], c->utf8);

			if (kept) {
				if (got != R(NONE))
					fail_msg("text with LF: %s (%s)", validate_reason_name(got),
						 f->detail);
				continue;
			}
			if (got != R(INVALID_FIELD) || strstr(f->detail, text_fields[i]) != f->detail ||
			    strstr(f->detail, c->cp) == NULL || strstr(f->detail, "at byte 2") == NULL ||
			    strstr(f->detail, c->utf8) != NULL)
				fail_msg("%s with %s: %s (%s)", text_fields[i], c->name,
					 validate_reason_name(got), f->detail);
		}
	}
}

static void test_ordinary_characters_are_kept(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < ARRAY_LEN(text_fields); i++) {
		for (size_t j = 0; j < ARRAY_LEN(kept_chars); j++) {
			Smsq__Reason got = check_with_char(f, text_fields[i], kept_chars[j].utf8);

			if (got != R(NONE))
				fail_msg("%s with %s: %s (%s)", text_fields[i], kept_chars[j].name,
					 validate_reason_name(got), f->detail);
		}
	}
}

/* validate_control_char() is the list above, for the code that prints what
 * events hold (smsqctl preview): every character of refused_chars, none of
 * kept_chars. */
static void test_validate_control_char(void **state)
{
	const size_t n_refused = ARRAY_LEN(refused_chars);

	(void)state;
	assert_string_equal(validate_control_char(0), "a control character");
	for (size_t i = 0; i < n_refused + ARRAY_LEN(kept_chars); i++) {
		const struct ccase *c = i < n_refused ? &refused_chars[i] : &kept_chars[i - n_refused];
		size_t len = strlen(c->utf8), k = 0;
		uint32_t cp;

		while (k < len) {
			assert_int_equal(gsm_utf8_next(c->utf8, len, &k, &cp), 0);
			if ((validate_control_char(cp) != NULL) != (i < n_refused))
				fail_msg("%s: U+%04X is %s", c->name, (unsigned)cp,
					 validate_control_char(cp) ? validate_control_char(cp) : "kept");
		}
	}
}

/* What shows nothing on a handset (EMPTY_TEXT at ingest), at the edges of
 * each range, and its visible neighbours. */
static void test_validate_invisible_char(void **state)
{
	static const uint32_t invisible_cps[] = {
		0x09, 0x0A, 0x0D, 0x20, 0x85, 0xA0, 0xAD, 0x34F, 0x61C, 0x115F, 0x1160,
		0x1680, 0x17B4, 0x17B5, 0x180B, 0x180F, 0x2000, 0x200B, 0x200D, 0x200F,
		0x2028, 0x202F, 0x205F, 0x2060, 0x206F, 0x2800, 0x3000, 0x3164, 0xFE00,
		0xFE0F, 0xFEFF, 0xFFA0, 0xFFF9, 0xFFFB, 0x1D173, 0x1D17A, 0xE0000, 0xE0001,
		0xE007F, 0xE0100, 0xE01EF,
	};
	static const uint32_t visible_cps[] = {
		0x08, 0x0E, 0x21, 'a', 0x84, 0xA1, 0xAC, 0xAE, 0x34E, 0x350, 0x1161, 0x17B6,
		0x1810, 0x2010, 0x2027, 0x2030, 0x205E, 0x2070, 0x2801, 0x3001, 0xFE10, 0xFEFE,
		0xFFFC, 0x1D172, 0x1D17B, 0x1F600, 0xE0080, 0xE01F0,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(invisible_cps); i++)
		if (!validate_invisible_char(invisible_cps[i]))
			fail_msg("U+%04X should be invisible", (unsigned)invisible_cps[i]);
	for (size_t i = 0; i < ARRAY_LEN(visible_cps); i++)
		if (validate_invisible_char(visible_cps[i]))
			fail_msg("U+%04X should show", (unsigned)visible_cps[i]);
	assert_true(validate_text_blank("", 0));
	assert_true(validate_text_blank("\xE2\x80\x8B \r\n\xC2\xAD", 8));
	assert_false(validate_text_blank("\xE2\x80\x8B.", 4));
	assert_false(validate_text_blank(" \xFF", 2)); /* not UTF-8: not "blank" */
}

/* ---- an event as it comes off the wire ----------------------------------- */

/* Pack base_event() with the key "k-1Xtail" into buf and put a NUL byte
 * where the X is, as a hostile or buggy producer could.  Returns the length. */
static size_t wire_with_nul_in_key(struct fx *f, const char *tail, uint8_t *buf, size_t cap)
{
	size_t n;
	uint8_t *x = NULL;
	char key[32];

	snprintf(key, sizeof(key), "k-1X%s", tail);
	f->ev.idempotency_key = put(f, key);
	n = smsq__booking_event__get_packed_size(&f->ev);
	assert_true(n <= cap);
	assert_int_equal(smsq__booking_event__pack(&f->ev, buf), n);
	for (size_t i = 0; i + 4 <= n && x == NULL; i++)
		if (memcmp(buf + i, "k-1X", 4) == 0)
			x = buf + i;
	assert_non_null(x);
	x[3] = '\0';
	return n;
}

/* Regression: protobuf strings may hold NUL bytes and protobuf-c keeps them,
 * but hands strings back NUL-terminated: the keys "k-1\0a" and "k-1\0b"
 * would both be "k-1" (the second answered DUPLICATE, its SMS never sent).
 * validate_wire() rejects such a frame before it is unpacked. */
static void test_nul_byte_in_a_string_is_rejected_on_the_wire(void **state)
{
	struct fx *f = *state;
	uint8_t buf[1024];
	size_t n = wire_with_nul_in_key(f, "a", buf, sizeof(buf));

	assert_int_equal(validate_wire(buf, n, f->detail, sizeof(f->detail)), R(INVALID_FIELD));
	assert_non_null(strstr(f->detail, "field 2"));
	assert_non_null(strstr(f->detail, "NUL"));
}

static void test_validate_wire_accepts_a_packed_event_and_refuses_broken_bytes(void **state)
{
	struct fx *f = *state;
	uint8_t buf[1024];
	size_t n = smsq__booking_event__get_packed_size(&f->ev);

	assert_true(n <= sizeof(buf));
	smsq__booking_event__pack(&f->ev, buf);
	assert_int_equal(validate_wire(buf, n, f->detail, sizeof(f->detail)), R(NONE));
	assert_int_equal(validate_wire(buf, 0, f->detail, sizeof(f->detail)), R(NONE));
	/* Cut inside a string: its length points past the end. */
	assert_int_equal(validate_wire(buf, n - 1, f->detail, sizeof(f->detail)), R(UNDECODABLE));
	/* A varint that never ends, and a wire type that does not exist. */
	const uint8_t endless[] = { 0x08, 0xff, 0xff, 0xff };
	const uint8_t bad_type[] = { 0x0b, 0x00 };
	assert_int_equal(validate_wire(endless, sizeof(endless), f->detail, sizeof(f->detail)),
			 R(UNDECODABLE));
	assert_int_equal(validate_wire(bad_type, sizeof(bad_type), f->detail, sizeof(f->detail)),
			 R(UNDECODABLE));
}

/* The normal path: a packed and unpacked event validates like the original. */
static void test_wire_round_trip(void **state)
{
	struct fx *f = *state;
	uint8_t buf[1024];
	size_t n = smsq__booking_event__get_packed_size(&f->ev);
	Smsq__BookingEvent *ev;

	assert_true(n <= sizeof(buf));
	smsq__booking_event__pack(&f->ev, buf);
	ev = smsq__booking_event__unpack(NULL, n, buf);
	assert_non_null(ev);
	expect_reason(f, validate_event(f->v, ev, NOW, &f->out, f->detail, sizeof(f->detail)),
		      R(NONE));
	assert_string_equal(f->out.idem_key, "k-1");
	smsq__booking_event__free_unpacked(ev, NULL);
}

/* ---- validate_utf8 -------------------------------------------------------- */

struct ucase {
	const char *name;   /* shown by cmocka */
	const char *s;      /* bytes */
	size_t len;         /* how many */
	int want;           /* 1 well-formed, 0 not */
};

#define U(name, lit, want) { name, lit, sizeof(lit) - 1, want }

static const struct ucase utf8_cases[] = {
	U("utf8: empty", "", 1),
	U("utf8: ASCII", "Rendez-vous demain a 9h", 1),
	U("utf8: NUL inside the length", "a\0b", 1),
	U("utf8: 2-byte e acute", "\xc3\xa9", 1),
	U("utf8: smallest 2-byte U+0080", "\xc2\x80", 1),
	U("utf8: 3-byte euro sign", "\xe2\x82\xac", 1),
	U("utf8: smallest 3-byte U+0800", "\xe0\xa0\x80", 1),
	U("utf8: U+D7FF before the surrogates", "\xed\x9f\xbf", 1),
	U("utf8: U+E000 after the surrogates", "\xee\x80\x80", 1),
	U("utf8: U+FFFF", "\xef\xbf\xbf", 1),
	U("utf8: 4-byte emoji", "\xf0\x9f\x98\x80", 1),
	U("utf8: smallest 4-byte U+10000", "\xf0\x90\x80\x80", 1),
	U("utf8: largest U+10FFFF", "\xf4\x8f\xbf\xbf", 1),
	U("utf8: Nimes with i circumflex", "N\xc3\xaemes", 1),
	U("utf8: mixed text", "Dr Lef\xc3\xa8vre \xe2\x82\xac \xf0\x9f\x98\x80 ok", 1),
	U("utf8: overlong C0 80 (NUL)", "\xc0\x80", 0),
	U("utf8: overlong C1 BF", "\xc1\xbf", 0),
	U("utf8: overlong E0 80 80", "\xe0\x80\x80", 0),
	U("utf8: overlong E0 9F BF", "\xe0\x9f\xbf", 0),
	U("utf8: overlong F0 80 80 80", "\xf0\x80\x80\x80", 0),
	U("utf8: overlong F0 8F BF BF", "\xf0\x8f\xbf\xbf", 0),
	U("utf8: high surrogate ED A0 80", "\xed\xa0\x80", 0),
	U("utf8: low surrogate ED BF BF", "\xed\xbf\xbf", 0),
	U("utf8: over U+10FFFF F4 90 80 80", "\xf4\x90\x80\x80", 0),
	U("utf8: F5 lead", "\xf5\x80\x80\x80", 0),
	U("utf8: F7 BF BF BF", "\xf7\xbf\xbf\xbf", 0),
	U("utf8: F8 lead (5 bytes)", "\xf8\x88\x80\x80\x80", 0),
	U("utf8: FC lead (6 bytes)", "\xfc\x84\x80\x80\x80\x80", 0),
	U("utf8: FE", "\xfe", 0),
	U("utf8: FF", "\xff", 0),
	U("utf8: truncated 2-byte at the end", "abc\xc3", 0),
	U("utf8: truncated 3-byte at the end (1 of 2)", "abc\xe2", 0),
	U("utf8: truncated 3-byte at the end (2 of 2)", "abc\xe2\x82", 0),
	U("utf8: truncated 4-byte at the end (3 of 3)", "abc\xf0\x9f\x98", 0),
	U("utf8: lead followed by ASCII", "\xc3(", 0),
	U("utf8: 3-byte lead, then ASCII", "\xe2\x82(", 0),
	U("utf8: stray continuation byte", "\x80", 0),
	U("utf8: stray continuation byte in text", "ab\xbf" "cd", 0),
	U("utf8: one continuation too many", "\xc3\xa9\xa9", 0),
	U("utf8: Latin-1 e acute", "caf\xe9", 0),
};

static void run_utf8_case(void **state)
{
	const struct ucase *c = *state;
	int got = validate_utf8(c->s, c->len);

	if (got != c->want)
		fail_msg("validate_utf8 gave %d, want %d", got, c->want);
}

/* The length is respected: bytes after it are not read, and a sequence cut
 * by the length is truncated even if the rest follows in memory. */
static void test_utf8_respects_length(void **state)
{
	(void)state;
	char *heap = malloc(2);

	assert_non_null(heap);
	memcpy(heap, "\xc3\xa9", 2); /* no NUL: ASan checks no byte past 2 is read */
	assert_true(validate_utf8(heap, 2));
	assert_false(validate_utf8(heap, 1));
	assert_true(validate_utf8(heap, 0));
	free(heap);
	assert_true(validate_utf8("ab\xff", 2));
}

/* ---- validate_reason_name -------------------------------------------------- */

struct rcase {
	Smsq__Reason r;      /* the reason */
	const char *name;    /* its log name */
};

static const struct rcase reason_cases[] = {
	{ R(NONE), "none" },
	{ R(UNDECODABLE), "undecodable" },
	{ R(BAD_FRAMES), "bad_frames" },
	{ R(OVERSIZE), "oversize" },
	{ R(UNSUPPORTED_VERSION), "unsupported_version" },
	{ R(MISSING_FIELD), "missing_field" },
	{ R(INVALID_FIELD), "invalid_field" },
	{ R(INVALID_PHONE), "invalid_phone" },
	{ R(ALREADY_EXPIRED), "already_expired" },
	{ R(TEXT_TOO_LONG), "text_too_long" },
	{ R(STORE_FULL), "store_full" },
	{ R(SHUTTING_DOWN), "shutting_down" },
	{ R(STORE_ERROR), "store_error" },
	{ R(NOT_MOBILE), "not_mobile" },
	{ R(COUNTRY_NOT_ALLOWED), "country_not_allowed" },
	{ R(RENDER_FAILED), "render_failed" },
	{ R(TEMPORARY), "temporary" },
	{ R(EMPTY_TEXT), "empty_text" },
	{ R(VELOCITY_NUMBER), "velocity_number" },
	{ R(VELOCITY_RANGE), "velocity_range" },
	{ R(VELOCITY_COUNTRY), "velocity_country" },
	{ (Smsq__Reason)21, "unknown" },
	{ (Smsq__Reason)1000, "unknown" },
	{ (Smsq__Reason)-1, "unknown" },
};

static void test_reason_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(reason_cases); i++) {
		const char *got = validate_reason_name(reason_cases[i].r);

		if (strcmp(got, reason_cases[i].name) != 0)
			fail_msg("reason %d: \"%s\", want \"%s\"", (int)reason_cases[i].r, got,
				 reason_cases[i].name);
	}
}

/* Every value in the schema has a name: REASON_FOO_BAR is "foo_bar" (catches
 * a Reason added to booking.proto but not to validate.c). */
static void test_reason_names_cover_the_schema(void **state)
{
	(void)state;
	const ProtobufCEnumDescriptor *d = &smsq__reason__descriptor;

	for (unsigned i = 0; i < d->n_values; i++) {
		char want[64];
		const char *src = d->values[i].name + strlen("REASON_");
		size_t k = 0;

		for (; src[k] && k < sizeof(want) - 1; k++)
			want[k] = (char)(src[k] >= 'A' && src[k] <= 'Z' ? src[k] - 'A' + 'a' : src[k]);
		want[k] = '\0';
		assert_string_equal(validate_reason_name((Smsq__Reason)d->values[i].value), want);
	}
}

/* ---- main ----------------------------------------------------------------- */

int main(void)
{
	static struct CMUnitTest event_tests[ARRAY_LEN(event_cases)];
	static struct CMUnitTest utf8_tests[ARRAY_LEN(utf8_cases)];
	const struct CMUnitTest examples[] = {
		cmocka_unit_test_setup_teardown(test_valid_event_fills_store_new, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_created_defaults_to_now, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_explicit_expiry_is_kept, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_short_detail_buffer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_detail_cleared_on_success, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_zone_cache_wraps, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_own_zoneinfo_dir, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_zone_open_emfile_is_temporary_not_cached,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_zone_stat_failure_is_temporary_not_cached,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_zone_errno_verdicts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_phone_out_of_memory_is_temporary, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_phone_rules_and_default_region, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_text_limit_is_configurable, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_times_that_are_no_time_are_refused, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_control_characters_are_refused, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_ordinary_characters_are_kept, fx_setup,
						fx_teardown),
		cmocka_unit_test(test_validate_control_char),
		cmocka_unit_test(test_validate_invisible_char),
		cmocka_unit_test_setup_teardown(test_wire_round_trip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte_in_a_string_is_rejected_on_the_wire, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_validate_wire_accepts_a_packed_event_and_refuses_broken_bytes, fx_setup, fx_teardown),
		cmocka_unit_test(test_utf8_respects_length),
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test(test_reason_names_cover_the_schema),
	};
	int failed = 0;

	for (size_t i = 0; i < ARRAY_LEN(event_cases); i++)
		event_tests[i] = (struct CMUnitTest){ event_cases[i].name, run_event_case, fx_setup,
						      fx_teardown, (void *)&event_cases[i] };
	for (size_t i = 0; i < ARRAY_LEN(utf8_cases); i++)
		utf8_tests[i] = (struct CMUnitTest){ utf8_cases[i].name, run_utf8_case, NULL, NULL,
						     (void *)&utf8_cases[i] };

	failed += cmocka_run_group_tests_name("validate_event", event_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("validate_utf8", utf8_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("validate examples", examples, NULL, NULL);
	return failed != 0;
}
