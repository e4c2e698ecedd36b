/*
 * event_json: one JSON object (one NDJSON line) -> one packed BookingEvent.
 *
 * This is how smsq-publish, tests and scripts write events without protobuf
 * tooling.  It only converts: whether a phone number is valid, an expiry
 * already past or a locale known is the pool's decision (it answers
 * REJECTED with a reason); here only the JSON shape and types are checked.
 *
 * FORMAT
 *
 * One JSON object per line.  The keys are the fields of smsq.BookingEvent
 * (proto/booking.proto) with the "_ms" suffix of the times dropped:
 *
 *	key			JSON type		BookingEvent field
 *	version			integer >= 0		version (default 1)
 *	idempotency_key		string			idempotency_key
 *	booking_id		string			booking_id
 *	kind			"confirmed" | "rescheduled" |
 *				"cancelled" | "reminder"	kind
 *	phone			string (E.164)		phone
 *	locale			string ("fr-FR")	locale
 *	patient_name		string			patient_name
 *	practitioner_name	string			practitioner_name
 *	place			string			place
 *	appointment_at		time			appointment_at_ms
 *	time_zone		string ("Europe/Paris")	time_zone
 *	created_at		time			created_at_ms
 *	not_before		time			not_before_ms
 *	expires_at		time			expires_at_ms
 *	priority		integer 0..9		priority
 *	text			string			text
 *
 * A time is either an RFC 3339 date-time string with a UTC offset,
 * "2026-12-01T08:30:00+01:00" or "2026-12-01T07:30:00Z", optionally with a
 * fraction of a second ("2026-12-01T07:30:00.250Z"; digits after the third
 * are dropped), or an integer number of milliseconds since the Unix epoch
 * (1796110200000).  "T" may also be "t" or a space, "Z" may be "z".
 *
 * Every key is optional (the pool rejects a missing required field with
 * MISSING_FIELD); null counts as absent.  An unknown key, a duplicate key,
 * a wrong JSON type, a kind or a time that does not parse, a priority out
 * of 0..9, a string containing a NUL character: each is an error that names
 * the key.
 *
 * Example:
 *	{"idempotency_key":"bk-42-confirm","booking_id":"bk-42","kind":"confirmed",
 *	 "phone":"+33612345678","locale":"fr-FR","patient_name":"Jeanne Martin",
 *	 "practitioner_name":"Dr Paul Durand","place":"12 rue de la Paix, Paris",
 *	 "appointment_at":"2026-12-01T08:30:00+01:00","time_zone":"Europe/Paris",
 *	 "priority":5}
 */
#ifndef SMSQ_EVENT_JSON_H
#define SMSQ_EVENT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

/* Convert one NDJSON line into a packed BookingEvent.
 *
 * line, len	the line; need not be NUL-terminated; surrounding white space
 *		(the newline included) is allowed
 * out, outcap	where the packed event goes; an event that packs to more than
 *		outcap bytes is an error (pass the pool's size limit)
 * outlen	receives the packed length
 * err, errlen	receives the reason of a failure, naming the key:
 *		"\"kind\": unknown kind \"booked\" (expected confirmed,
 *		rescheduled, cancelled or reminder)"
 * Returns 0, or -1 with err set (out is then unspecified).
 * Thread-safe (no shared state); allocates only inside the call. */
int event_json_pack_line(const char *line, size_t len, uint8_t *out, size_t outcap,
			 size_t *outlen, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* Parse an RFC 3339 date-time with a UTC offset (the FORMAT above) into
 * milliseconds since the Unix epoch.  The whole string must match; the
 * date must exist (no 31 November; a leap second ":60" is refused).
 * Returns 0 and sets *ms, or -1. */
int event_json_parse_time(const char *s, int64_t *ms)
	SMSQ_WARN_UNUSED;

#endif
