/*
 * validate: ingest checks, table-driven where it can be (see validate.h).
 *
 * Order matters only for which reason a doubly-bad event gets: structure
 * (version, required fields) first, then field syntax, then time rules.
 *
 * Two rules keep a text meaning what it shows.  Every time lies in a window
 * around the pool's clock (VALIDATE_HORIZON_MS), so no time can overflow a
 * date computation or park a message in the store for decades.  Every field
 * that goes into a text is scanned once, code point by code point, with
 * gsm.h's decoder: the scan checks the UTF-8 and refuses the characters of
 * validate_control_char(), which would reach a handset, a log line or an
 * operator's terminal as commands, line breaks or reordering instead of text.
 */
#include "text/validate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "text/gsm.h"

struct validator {
	struct validate_limits lim;             /* copied limits */
	char zoneinfo[256];                     /* zone directory */
	char tz_cache[VALIDATE_TZ_CACHE][64];   /* zones known to exist */
	size_t tz_next;                         /* next cache slot to replace */
	struct phone_rules phones;              /* allowed countries (count 0: any) */
	char default_region[3];                 /* "" or an ISO 3166 code */
};

static const char *const reason_names[] = {
	[SMSQ__REASON__REASON_NONE] = "none",
	[SMSQ__REASON__REASON_UNDECODABLE] = "undecodable",
	[SMSQ__REASON__REASON_BAD_FRAMES] = "bad_frames",
	[SMSQ__REASON__REASON_OVERSIZE] = "oversize",
	[SMSQ__REASON__REASON_UNSUPPORTED_VERSION] = "unsupported_version",
	[SMSQ__REASON__REASON_MISSING_FIELD] = "missing_field",
	[SMSQ__REASON__REASON_INVALID_FIELD] = "invalid_field",
	[SMSQ__REASON__REASON_INVALID_PHONE] = "invalid_phone",
	[SMSQ__REASON__REASON_ALREADY_EXPIRED] = "already_expired",
	[SMSQ__REASON__REASON_TEXT_TOO_LONG] = "text_too_long",
	[SMSQ__REASON__REASON_STORE_FULL] = "store_full",
	[SMSQ__REASON__REASON_SHUTTING_DOWN] = "shutting_down",
	[SMSQ__REASON__REASON_STORE_ERROR] = "store_error",
	[SMSQ__REASON__REASON_NOT_MOBILE] = "not_mobile",
	[SMSQ__REASON__REASON_COUNTRY_NOT_ALLOWED] = "country_not_allowed",
	[SMSQ__REASON__REASON_RENDER_FAILED] = "render_failed",
	[SMSQ__REASON__REASON_TEMPORARY] = "temporary",
	[SMSQ__REASON__REASON_EMPTY_TEXT] = "empty_text",
	[SMSQ__REASON__REASON_VELOCITY_NUMBER] = "velocity_number",
	[SMSQ__REASON__REASON_VELOCITY_RANGE] = "velocity_range",
	[SMSQ__REASON__REASON_VELOCITY_COUNTRY] = "velocity_country",
};

const char *validate_reason_name(Smsq__Reason r)
{
	if ((unsigned)r >= sizeof(reason_names) / sizeof(reason_names[0]) ||
	    reason_names[r] == NULL)
		return "unknown";
	return reason_names[r];
}

validator *validator_new(const struct validate_limits *lim)
{
	validator *v = xcalloc(1, sizeof(*v));

	v->lim = *lim;
	snprintf(v->zoneinfo, sizeof(v->zoneinfo), "%s",
		 lim->zoneinfo_dir ? lim->zoneinfo_dir : "/usr/share/zoneinfo");
	v->lim.zoneinfo_dir = NULL;
	if (lim->phones != NULL)
		v->phones = *lim->phones;
	if (lim->default_region != NULL && strlen(lim->default_region) == 2) {
		v->default_region[0] = (char)toupper((unsigned char)lim->default_region[0]);
		v->default_region[1] = (char)toupper((unsigned char)lim->default_region[1]);
	}
	v->lim.phones = NULL;
	v->lim.default_region = NULL;
	return v;
}

void validator_destroy(validator **v)
{
	if (v == NULL || *v == NULL)
		return;
	free(*v);
	*v = NULL;
}

const char *validate_control_char(uint32_t cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return "a control character";
	if (cp == 0x2028 || cp == 0x2029)
		return "a line or paragraph separator";
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return "a bidirectional control";
	return NULL;
}

/* Ranges of validate_invisible_char(), sorted, not overlapping. */
static const struct {
	uint32_t lo, hi; /* first and last code point */
} invisible[] = {
	{ 0x0009, 0x000D },   /* TAB, LF, VT, FF, CR */
	{ 0x0020, 0x0020 },   /* SPACE */
	{ 0x0085, 0x0085 },   /* NEXT LINE */
	{ 0x00A0, 0x00A0 },   /* NO-BREAK SPACE */
	{ 0x00AD, 0x00AD },   /* SOFT HYPHEN */
	{ 0x034F, 0x034F },   /* COMBINING GRAPHEME JOINER */
	{ 0x061C, 0x061C },   /* ARABIC LETTER MARK */
	{ 0x115F, 0x1160 },   /* HANGUL CHOSEONG and JUNGSEONG FILLER */
	{ 0x1680, 0x1680 },   /* OGHAM SPACE MARK */
	{ 0x17B4, 0x17B5 },   /* KHMER VOWEL INHERENT AQ, AA */
	{ 0x180B, 0x180F },   /* MONGOLIAN FREE VARIATION SELECTORS, VOWEL SEPARATOR */
	{ 0x2000, 0x200F },   /* the spaces, ZERO WIDTH SPACE, ZWNJ, ZWJ, LRM, RLM */
	{ 0x2028, 0x202F },   /* LINE and PARAGRAPH SEPARATOR, bidi embeddings, NNBSP */
	{ 0x205F, 0x206F },   /* MEDIUM MATHEMATICAL SPACE, WORD JOINER, invisible
				 operators, bidi isolates, deprecated format controls */
	{ 0x2800, 0x2800 },   /* BRAILLE PATTERN BLANK */
	{ 0x3000, 0x3000 },   /* IDEOGRAPHIC SPACE */
	{ 0x3164, 0x3164 },   /* HANGUL FILLER */
	{ 0xFE00, 0xFE0F },   /* VARIATION SELECTORS */
	{ 0xFEFF, 0xFEFF },   /* ZERO WIDTH NO-BREAK SPACE (BOM) */
	{ 0xFFA0, 0xFFA0 },   /* HALFWIDTH HANGUL FILLER */
	{ 0xFFF9, 0xFFFB },   /* INTERLINEAR ANNOTATION controls */
	{ 0x1D173, 0x1D17A }, /* MUSICAL SYMBOL BEGIN BEAM ... END PHRASE */
	{ 0xE0000, 0xE007F }, /* TAGS */
	{ 0xE0100, 0xE01EF }, /* VARIATION SELECTORS SUPPLEMENT */
};

int validate_invisible_char(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(invisible) / sizeof(invisible[0]);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < invisible[mid].lo)
			hi = mid;
		else if (cp > invisible[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

int validate_text_blank(const char *text, size_t len)
{
	size_t i = 0;
	uint32_t cp;

	/* Stops at the first character that shows: most texts, at once. */
	while (i < len) {
		if (gsm_utf8_next(text, len, &i, &cp) != 0 || !validate_invisible_char(cp))
			return 0;
	}
	return 1;
}

int validate_utf8(const char *str, size_t len)
{
	struct gsm_info gi;

	/* One UTF-8 decoder in the project: gsm.c's (strict: no overlongs, no
	 * surrogates, nothing above U+10FFFF, no cut sequence). */
	return gsm_analyze(str, len, &gi) == 0;
}

/* Read a base-128 varint at *p (< end).  Returns 0 or -1 if truncated or
 * longer than 10 bytes. */
static int read_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		unsigned char b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

Smsq__Reason validate_wire(const void *buf, size_t len, char *detail, size_t detail_len)
{
	const unsigned char *p = buf, *end = p + len;

	if (detail_len > 0)
		detail[0] = '\0';
	while (p < end) {
		uint64_t key, n;

		if (read_varint(&p, end, &key) != 0)
			goto broken;
		switch (key & 7) {
		case 0: /* varint */
			if (read_varint(&p, end, &n) != 0)
				goto broken;
			break;
		case 1: /* 64-bit */
			if (end - p < 8)
				goto broken;
			p += 8;
			break;
		case 5: /* 32-bit */
			if (end - p < 4)
				goto broken;
			p += 4;
			break;
		case 2: /* length-delimited: a string */
			if (read_varint(&p, end, &n) != 0 || n > (uint64_t)(end - p))
				goto broken;
			if (memchr(p, '\0', (size_t)n) != NULL) {
				snprintf(detail, detail_len,
					 "field %llu holds a NUL byte: strings must not",
					 (unsigned long long)(key >> 3));
				return SMSQ__REASON__REASON_INVALID_FIELD;
			}
			p += n;
			break;
		default:
			goto broken;
		}
	}
	return SMSQ__REASON__REASON_NONE;
broken:
	snprintf(detail, detail_len, "event frame is not a protobuf BookingEvent");
	return SMSQ__REASON__REASON_UNDECODABLE;
}

static int is_printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return 0;
	return 1;
}

int validate_locale_tag(const char *p, size_t n)
{
	size_t l = 0;

	while (l < n && p[l] >= 'a' && p[l] <= 'z')
		l++;
	if (l < 2 || l > 3)
		return 0;
	if (l == n)
		return 1;
	if (p[l] != '-')
		return 0;
	const char *r = p + l + 1;
	size_t rn = n - l - 1;

	if (rn == 2)
		return r[0] >= 'A' && r[0] <= 'Z' && r[1] >= 'A' && r[1] <= 'Z';
	return rn == 3 && r[0] >= '0' && r[0] <= '9' && r[1] >= '0' && r[1] <= '9' &&
	       r[2] >= '0' && r[2] <= '9';
}

/* Whether a failure of stat(2), open(2) or read(2) on a zone file says the
 * file is not there (a verdict on the name), as opposed to "could not look
 * now" (no descriptor, no memory, an I/O error, no permission). */
static int errno_says_absent(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG || e == ELOOP;
}

/*
 * Is tz an IANA zone of the zone directory (a TZif file)?  Returns
 * SMSQ__REASON__REASON_NONE, INVALID_FIELD when it is not, or TEMPORARY
 * when the directory could not be looked at now (errno says why in
 * detail).  Only a zone found is remembered: a zone that could not be
 * looked at is looked at again next time.
 */
static Smsq__Reason check_time_zone(validator *v, const char *tz, char *detail,
				    size_t detail_len)
{
	char path[512];
	char magic[4];
	struct stat sb;
	size_t n = strlen(tz);
	ssize_t got;
	int fd, e;

	if (n == 0 || n >= sizeof(v->tz_cache[0]) || tz[0] == '/' || strstr(tz, "..") != NULL)
		goto not_a_zone;
	for (const char *p = tz; *p; p++) {
		char c = *p;

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			goto not_a_zone;
	}
	for (size_t i = 0; i < VALIDATE_TZ_CACHE; i++)
		if (strcmp(v->tz_cache[i], tz) == 0)
			return SMSQ__REASON__REASON_NONE;
	snprintf(path, sizeof(path), "%s/%s", v->zoneinfo, tz);
	/* stat() first: a directory, a FIFO or a device is never opened. */
	if (stat(path, &sb) != 0) {
		e = errno;
		goto cannot_look;
	}
	if (!S_ISREG(sb.st_mode))
		goto not_a_zone;
	/* The zone directory also holds data files (leapseconds, zone.tab...):
	 * a zone is a TZif file. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		goto cannot_look;
	}
	do
		got = read(fd, magic, sizeof(magic));
	while (got < 0 && errno == EINTR);
	e = errno;
	close(fd);
	if (got < 0)
		goto cannot_look;
	if (got != (ssize_t)sizeof(magic) || memcmp(magic, "TZif", 4) != 0)
		goto not_a_zone;
	memcpy(v->tz_cache[v->tz_next], tz, n + 1);
	v->tz_next = (v->tz_next + 1) % VALIDATE_TZ_CACHE;
	return SMSQ__REASON__REASON_NONE;
cannot_look:
	if (errno_says_absent(e))
		goto not_a_zone;
	snprintf(detail, detail_len, "time_zone could not be checked now: %s (resend later)",
		 strerror(e));
	return SMSQ__REASON__REASON_TEMPORARY;
not_a_zone:
	snprintf(detail, detail_len, "time_zone is not a known IANA zone (e.g. Europe/Paris)");
	return SMSQ__REASON__REASON_INVALID_FIELD;
}

/* The region of a locale tag ("fr-BE" -> "BE"), else the default. */
static const char *locale_region(const validator *v, const char *locale, char buf[3])
{
	const char *dash = strchr(locale, '-');

	if (dash != NULL && strlen(dash + 1) == 2) {
		memcpy(buf, dash + 1, 3);
		return buf;
	}
	return v->default_region;
}

static Smsq__Reason check_phone(const validator *v, const Smsq__BookingEvent *ev,
				char e164[PHONE_E164_MAX], char number_region[3], char *detail,
				size_t detail_len)
{
	char region[3], why[200];
	const char *def = locale_region(v, ev->locale, region);
	enum phone_status st;

	st = phone_normalize(v->phones.count ? &v->phones : NULL, ev->phone, def, e164,
			     number_region, why, sizeof(why));
	if (st != PHONE_OK)
		snprintf(detail, detail_len, "phone: %s", why);
	switch (st) {
	case PHONE_OK:
		return SMSQ__REASON__REASON_NONE;
	case PHONE_NOT_MOBILE:
		return SMSQ__REASON__REASON_NOT_MOBILE;
	case PHONE_COUNTRY_NOT_ALLOWED:
		return SMSQ__REASON__REASON_COUNTRY_NOT_ALLOWED;
	case PHONE_NO_MEMORY:
		return SMSQ__REASON__REASON_TEMPORARY; /* not a verdict on the number */
	default:
		return SMSQ__REASON__REASON_INVALID_PHONE;
	}
}

#define FAIL(r, ...) do { snprintf(detail, detail_len, __VA_ARGS__); return (r); } while (0)

/* val[0..n) is valid UTF-8 and holds no validate_control_char(); a ready
 * text (breaks) may hold line breaks, LF or CR LF. */
static Smsq__Reason check_chars(const char *name, const char *val, size_t n, int breaks,
				char *detail, size_t detail_len)
{
	size_t i = 0;

	while (i < n) {
		size_t at = i;
		uint32_t cp;
		const char *what;

		if (gsm_utf8_next(val, n, &i, &cp) != 0)
			FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "%s is not valid UTF-8", name);
		if (breaks && (cp == '\n' || (cp == '\r' && i < n && val[i] == '\n')))
			continue;
		what = validate_control_char(cp);
		if (what != NULL)
			FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "%s holds U+%04X, %s, at byte %zu%s",
			     name, (unsigned)cp, what, at,
			     breaks ? " (a text may break lines with LF or CR LF, nothing else)" : "");
	}
	return SMSQ__REASON__REASON_NONE;
}

/* A required, bounded string field that goes into a text. */
static Smsq__Reason check_str(const char *name, const char *val, size_t max, char *detail,
			      size_t detail_len)
{
	size_t n = val ? strlen(val) : 0;

	if (n == 0)
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "%s is required", name);
	if (n > max)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "%s is %zu bytes, over the limit of %zu",
		     name, n, max);
	return check_chars(name, val, n, 0, detail, detail_len);
}

/* t > base + by, without overflow. */
static int later_than(int64_t t, int64_t base, int64_t by)
{
	return base <= INT64_MAX - by && t > base + by;
}

/* The time window of validate.h; 0 (unset) is outside no window.  An
 * appointment without its own expires_at is its expiry: one far in the past
 * is left to the expiry check (ALREADY_EXPIRED). */
static Smsq__Reason check_window(const Smsq__BookingEvent *ev, int64_t now_ms, char *detail,
				 size_t detail_len)
{
	static const char horizon[] = "3 years (1096 days)";
	const struct {
		const char *name;        /* the field */
		int64_t t;               /* its value */
		int64_t ahead_ms;        /* furthest after now */
		const char *ahead;       /* that, in words */
		int past_bound;          /* also at most the horizon before now */
	} w[] = {
		{ "appointment_at_ms", ev->appointment_at_ms, VALIDATE_HORIZON_MS, horizon,
		  ev->expires_at_ms != 0 },
		{ "created_at_ms", ev->created_at_ms, VALIDATE_CLOCK_SKEW_MS, "1 day", 1 },
		{ "not_before_ms", ev->not_before_ms, VALIDATE_HORIZON_MS, horizon, 0 },
		{ "expires_at_ms", ev->expires_at_ms, VALIDATE_HORIZON_MS, horizon, 0 },
	};

	_Static_assert(VALIDATE_HORIZON_DAYS == 1096 && VALIDATE_CLOCK_SKEW_MS == 86400000LL,
		       "the details spell out the window");
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if (w[i].t == 0)
			continue;
		if (later_than(w[i].t, now_ms, w[i].ahead_ms))
			FAIL(SMSQ__REASON__REASON_INVALID_FIELD,
			     "%s is more than %s ahead of the pool's clock", w[i].name, w[i].ahead);
		if (w[i].past_bound && later_than(now_ms, w[i].t, VALIDATE_HORIZON_MS))
			FAIL(SMSQ__REASON__REASON_INVALID_FIELD,
			     "%s is more than %s ago by the pool's clock", w[i].name, horizon);
	}
	return SMSQ__REASON__REASON_NONE;
}

_Static_assert((int)STORE_KIND_CONFIRMED == SMSQ__KIND__KIND_CONFIRMED &&
		       (int)STORE_KIND_RESCHEDULED == SMSQ__KIND__KIND_RESCHEDULED &&
		       (int)STORE_KIND_CANCELLED == SMSQ__KIND__KIND_CANCELLED &&
		       (int)STORE_KIND_REMINDER == SMSQ__KIND__KIND_REMINDER,
	       "a stored kind is the protocol's");
_Static_assert(VALIDATE_ID_MAX <= STORE_BOOKING_MAX, "a valid booking id fits the store");

Smsq__Reason validate_event(validator *v, const Smsq__BookingEvent *ev, int64_t now_ms,
			    struct store_new *out, char *detail, size_t detail_len)
{
	char e164[PHONE_E164_MAX], number_region[3] = "";
	Smsq__Reason r;
	size_t n;

	if (detail_len == 0)
		return SMSQ__REASON__REASON_INVALID_FIELD; /* no room to say why: a caller bug */
	detail[0] = '\0';
	if (ev->version != 0 && ev->version != 1)
		FAIL(SMSQ__REASON__REASON_UNSUPPORTED_VERSION,
		     "version %u is not supported (this pool speaks version 1)", ev->version);

	n = strlen(ev->idempotency_key);
	if (n == 0)
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "idempotency_key is required");
	if (n > STORE_IDEM_MAX || !is_printable_ascii(ev->idempotency_key))
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD,
		     "idempotency_key must be 1 to %d printable ASCII characters", STORE_IDEM_MAX);
	r = check_str("booking_id", ev->booking_id, VALIDATE_ID_MAX, detail, detail_len);
	if (r != SMSQ__REASON__REASON_NONE)
		return r;
	if (ev->kind == SMSQ__KIND__KIND_UNSPECIFIED)
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "kind is required");
	if (ev->kind < SMSQ__KIND__KIND_CONFIRMED || ev->kind > SMSQ__KIND__KIND_REMINDER)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "kind %d is unknown", (int)ev->kind);
	if (ev->locale[0] == '\0')
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "locale is required");
	if (!validate_locale_tag(ev->locale, strlen(ev->locale)))
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD,
		     "locale must be a language tag such as fr-FR");
	if (ev->phone[0] == '\0')
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "phone is required");
	r = check_phone(v, ev, e164, number_region, detail, detail_len);
	if (r != SMSQ__REASON__REASON_NONE)
		return r;
	if (ev->time_zone[0] == '\0')
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "time_zone is required");
	r = check_time_zone(v, ev->time_zone, detail, detail_len);
	if (r != SMSQ__REASON__REASON_NONE)
		return r;
	if (ev->appointment_at_ms == 0)
		FAIL(SMSQ__REASON__REASON_MISSING_FIELD, "appointment_at_ms is required");
	if (ev->appointment_at_ms < 0)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "appointment_at_ms is negative");
	if (ev->created_at_ms < 0 || ev->not_before_ms < 0 || ev->expires_at_ms < 0)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "times must not be negative");
	if (ev->priority > STORE_PRIORITY_MAX)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "priority %u is over %d", ev->priority,
		     STORE_PRIORITY_MAX);

	n = strlen(ev->text);
	if (n > 0) {
		if (n > v->lim.max_text_bytes)
			FAIL(SMSQ__REASON__REASON_TEXT_TOO_LONG,
			     "text is %zu bytes, over the limit of %zu", n, v->lim.max_text_bytes);
		r = check_chars("text", ev->text, n, 1, detail, detail_len);
		if (r != SMSQ__REASON__REASON_NONE)
			return r;
	} else {
		r = check_str("patient_name", ev->patient_name, VALIDATE_NAME_MAX, detail,
			      detail_len);
		if (r == SMSQ__REASON__REASON_NONE)
			r = check_str("practitioner_name", ev->practitioner_name,
				      VALIDATE_NAME_MAX, detail, detail_len);
		if (r == SMSQ__REASON__REASON_NONE)
			r = check_str("place", ev->place, VALIDATE_NAME_MAX, detail, detail_len);
		if (r != SMSQ__REASON__REASON_NONE) {
			size_t dl = strlen(detail);

			snprintf(detail + dl, detail_len - dl, " (or give a ready text)");
			return r;
		}
	}

	r = check_window(ev, now_ms, detail, detail_len);
	if (r != SMSQ__REASON__REASON_NONE)
		return r;
	int64_t expires = ev->expires_at_ms ? ev->expires_at_ms : ev->appointment_at_ms;
	if (expires <= now_ms)
		FAIL(SMSQ__REASON__REASON_ALREADY_EXPIRED,
		     "expired %lld s ago: sending it now would be pointless",
		     (long long)((now_ms - expires) / 1000));
	if (ev->not_before_ms != 0 && ev->not_before_ms >= expires)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD,
		     "not_before_ms is not before the expiry: it could never be sent");
	if (ev->created_at_ms != 0 && ev->expires_at_ms != 0 &&
	    ev->expires_at_ms <= ev->created_at_ms)
		FAIL(SMSQ__REASON__REASON_INVALID_FIELD, "expires_at_ms is not after created_at_ms");

	memset(out, 0, sizeof(*out));
	out->idem_key = ev->idempotency_key;
	out->idem_len = strlen(ev->idempotency_key);
	out->created_ms = ev->created_at_ms ? ev->created_at_ms : now_ms;
	out->not_before_ms = ev->not_before_ms;
	out->expires_ms = expires;
	out->appointment_ms = ev->appointment_at_ms;
	out->priority = (uint8_t)ev->priority;
	out->booking = ev->booking_id;
	out->booking_len = strlen(ev->booking_id);
	out->kind = (uint8_t)ev->kind; /* checked above; the same values (below) */
	out->to_len = strlen(e164);
	memcpy(out->to_buf, e164, out->to_len + 1);
	out->to = out->to_buf;
	memcpy(out->region, number_region, sizeof(out->region));
	return SMSQ__REASON__REASON_NONE;
}
