/*
 * validate: the ingest checks of one decoded BookingEvent (proto/PROTOCOL.md
 * lists the rules).  A bad event gets a machine-readable reason and a human
 * detail naming the field; a good one is turned into a struct store_new.
 *
 * The phone number is checked against its country's numbering plan and
 * normalised to E.164 (phone.h); the text is rendered elsewhere (prepare.h).
 */
#ifndef SMSQ_VALIDATE_H
#define SMSQ_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/booking.pb-c.h"
#include "store/store.h"
#include "text/phone.h"
#include "common/attrs.h"

#define VALIDATE_NAME_MAX 256      /* patient, practitioner, place: bytes */
#define VALIDATE_ID_MAX 128        /* booking id: bytes */
#define VALIDATE_TZ_CACHE 32       /* time zones remembered as valid */

/*
 * The time window, relative to the pool's clock (now_ms of validate_event()).
 * appointment_at, not_before and expires_at are at most VALIDATE_HORIZON_MS
 * after now SMSQ_WARN_UNUSED; created_at at most VALIDATE_CLOCK_SKEW_MS after it (a
 * producer's clock may be a little ahead of the pool's, or a local time sent
 * as UTC).  created_at, and appointment_at when expires_at is given, are at
 * most VALIDATE_HORIZON_MS before now (without expires_at, the appointment
 * is the expiry: a past one is ALREADY_EXPIRED).
 * Three years hold any real booking and refuse the values that are no time
 * at all: INT64_MAX, 2^62, the year 3000, microseconds or seconds sent as
 * milliseconds.
 */
#define VALIDATE_HORIZON_DAYS 1096 /* 3 years, one of them leap */
#define VALIDATE_HORIZON_MS (VALIDATE_HORIZON_DAYS * 86400000LL)
#define VALIDATE_CLOCK_SKEW_MS 86400000LL /* 1 day */

struct validate_limits {
	size_t max_text_bytes;     /* longest ready text */
	const char *zoneinfo_dir;  /* where IANA zones live (NULL: /usr/share/zoneinfo) */
	const struct phone_rules *phones; /* allowed countries (NULL: any); copied */
	const char *default_region; /* country of national numbers when the locale has
				       none ("FR"; NULL or "": none); copied */
};

typedef struct validator validator;

/* Create a validator (it caches known time zones).  Never NULL (aborts on
 * OOM: service code).  Free with validator_destroy(). */
validator *validator_new(const struct validate_limits *lim) SMSQ_WARN_UNUSED;
void validator_destroy(validator **v);

/*
 * Check ev, received at now_ms.  On success returns SMSQ__REASON__REASON_NONE
 * and fills *out (its pointers borrow from ev: valid while ev lives; out->to
 * points to the normalised number in out->to_buf; the event bytes, text and
 * encoding are left to the caller).  The phone number is read in the region
 * of the event's locale (fr-FR: France), else the default region.  On failure returns the
 * reason and writes a human message naming the field into detail (always
 * NUL-terminated); *out is then unspecified.
 *
 * Times outside the window above, and an expires_at not after created_at
 * (both given), are INVALID_FIELD.  So is a character of
 * validate_control_char() in a field that goes into a text: booking_id
 * always, patient_name, practitioner_name and place when there is no ready
 * text, and the ready text, which may only hold line breaks (LF, CR LF).
 * The detail names such a character by its code point, never as itself.
 *
 * SMSQ__REASON__REASON_TEMPORARY is no verdict on the event: a check could
 * not be made now (the zone directory could not be read: no descriptor, no
 * memory, an I/O error; the phone library ran out of memory), and the same
 * event may pass later; the caller answers RETRY_LATER.
 */
Smsq__Reason validate_event(validator *v, const Smsq__BookingEvent *ev, int64_t now_ms,
			    struct store_new *out, char *detail, size_t detail_len);

/*
 * Check the raw event frame before it is unpacked: no length-delimited field
 * (all of BookingEvent's are strings) may hold a NUL byte.  protobuf-c keeps
 * NULs but hands strings back NUL-terminated, so "k-1\0a" would silently be
 * the key "k-1".  Returns SMSQ__REASON__REASON_NONE, INVALID_FIELD (a NUL;
 * detail names the field number) or UNDECODABLE (the wire format is broken).
 */
Smsq__Reason validate_wire(const void *buf, size_t len, char *detail, size_t detail_len)
	SMSQ_WARN_UNUSED;

/* Is s[0..len) well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
int validate_utf8(const char *s, size_t len);

/*
 * NULL when the code point cp may be in a text, else what it is ("a control
 * character", "a line or paragraph separator", "a bidirectional control";
 * a static string).  Refused: the C0 controls U+0000-U+001F, DEL U+007F,
 * the C1 controls U+0080-U+009F (they drive a terminal or break a line),
 * U+2028 and U+2029 (line breaks), and the bidirectional embeddings,
 * overrides and isolates U+202A-U+202E and U+2066-U+2069 (they can make a
 * text read otherwise than it is written).  The marks LRM and RLM are kept.
 */
const char *validate_control_char(uint32_t cp);

/*
 * 1 if the code point cp shows nothing on a handset, else 0: whitespace
 * (TAB to CR, the space, NEL, NBSP, U+1680, U+2000-U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000) and the invisible format characters:
 * soft hyphen U+00AD, combining grapheme joiner U+034F, U+061C, the Hangul
 * fillers (U+115F, U+1160, U+3164, U+FFA0), U+17B4, U+17B5, the Mongolian
 * selectors U+180B-U+180F, zero-width space, non-joiner, joiner and the
 * marks U+200B-U+200F, the bidirectional controls U+202A-U+202E and
 * U+2066-U+2069, word joiner and invisible operators U+2060-U+2064,
 * U+206A-U+206F, the blank Braille pattern U+2800, the variation selectors
 * (U+FE00-U+FE0F, U+E0100-U+E01EF), the BOM U+FEFF, U+FFF9-U+FFFB,
 * U+1D173-U+1D17A and the tags U+E0000-U+E007F.
 */
int validate_invisible_char(uint32_t cp);

/*
 * 1 if text[0..len) has nothing visible to send: it is empty, or every
 * character is validate_invisible_char(); 0 when it shows something or is
 * not valid UTF-8 (validate_utf8() says which).  Ingest refuses such a text
 * REASON_EMPTY_TEXT, checked on the text as it would be sent (rendered,
 * smart-encoded: gsm.h removes some of these characters and turns others
 * into spaces).
 */
int validate_text_blank(const char *text, size_t len);

/* Is p[0..n) a locale tag as events and template files use them: a
 * language of 2-3 lower-case letters, optionally "-" and a region of 2
 * upper-case letters or 3 digits ("fr", "fr-FR", "es-419")? */
int validate_locale_tag(const char *p, size_t n);

/* Lower-case name of a reason, as in logs and smsq-publish ("invalid_phone"). */
const char *validate_reason_name(Smsq__Reason r);

#endif
