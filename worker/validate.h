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
#include "worker/phone.h"

#define VALIDATE_NAME_MAX 256      /* patient, practitioner, place: bytes */
#define VALIDATE_ID_MAX 128        /* booking id: bytes */
#define VALIDATE_TZ_CACHE 32       /* time zones remembered as valid */

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
validator *validator_new(const struct validate_limits *lim);
void validator_destroy(validator **v);

/*
 * Check ev, received at now_ms.  On success returns SMSQ__REASON__REASON_NONE
 * and fills *out (its pointers borrow from ev: valid while ev lives; out->to
 * points to the normalised number in out->to_buf; the event bytes, text and
 * encoding are left to the caller).  The phone number is read in the region
 * of the event's locale (fr-FR: France), else the default region.  On failure returns the
 * reason and writes a human message naming the field into detail (always
 * NUL-terminated); *out is then unspecified.  SMSQ__REASON__REASON_TEMPORARY
 * is no verdict on the event: a check could not be made now (the zone
 * directory could not be read: no descriptor, no memory, an I/O error; the
 * phone library ran out of memory), and the same event may pass later; the
 * caller answers RETRY_LATER.
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
Smsq__Reason validate_wire(const void *buf, size_t len, char *detail, size_t detail_len);

/* Is s[0..len) well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
int validate_utf8(const char *s, size_t len);

/* Is p[0..n) a locale tag as events and template files use them: a
 * language of 2-3 lower-case letters, optionally "-" and a region of 2
 * upper-case letters or 3 digits ("fr", "fr-FR", "es-419")? */
int validate_locale_tag(const char *p, size_t n);

/* Lower-case name of a reason, as in logs and smsq-publish ("invalid_phone"). */
const char *validate_reason_name(Smsq__Reason r);

#endif
