/*
 * event_json: one JSON object -> one packed BookingEvent (see event_json.h
 * for the format).
 *
 * DESIGN
 *
 * jansson parses the line (duplicate keys refused); each key of the object
 * is looked up in fields[], a table that says which BookingEvent member it
 * fills and how to convert it; the event is then packed by protobuf-c.
 * Strings are not copied: the event borrows them from the JSON object,
 * which lives until the event is packed.
 *
 * Times go through libc: strptime() reads the date and the time of day,
 * timegm() turns them into seconds, a gmtime_r() round trip refuses dates
 * that timegm() would silently normalise (31 November); only the UTC offset
 * and the milliseconds are added by hand.
 */
#define _GNU_SOURCE	/* strptime(), timegm() */
#include "producer/event_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/booking.pb-c.h"
#include "common/err.h"

#define EVENT_JSON_VALUE_SHOWN 40	/* bytes of a bad value quoted in errors */
#define EVENT_JSON_PRIORITY_MAX 9

/* How a key's value is converted. */
enum field_type {
	FIELD_UINT32,	/* integer in 0..fd_max -> uint32_t */
	FIELD_STRING,	/* string -> char * (borrowed from the JSON) */
	FIELD_KIND,	/* kind name -> Smsq__Kind */
	FIELD_TIME,	/* RFC 3339 string or integer ms -> int64_t ms */
};

/* One accepted key. */
struct field {
	const char *fd_name;		/* JSON key */
	enum field_type fd_type;	/* conversion */
	size_t fd_offset;		/* offsetof() the BookingEvent member */
	uint32_t fd_max;		/* FIELD_UINT32: largest value allowed */
};

#define EV_OFF(member) offsetof(Smsq__BookingEvent, member)

static const struct field fields[] = {
	{ "version", FIELD_UINT32, EV_OFF(version), UINT32_MAX },
	{ "idempotency_key", FIELD_STRING, EV_OFF(idempotency_key), 0 },
	{ "booking_id", FIELD_STRING, EV_OFF(booking_id), 0 },
	{ "kind", FIELD_KIND, EV_OFF(kind), 0 },
	{ "phone", FIELD_STRING, EV_OFF(phone), 0 },
	{ "locale", FIELD_STRING, EV_OFF(locale), 0 },
	{ "patient_name", FIELD_STRING, EV_OFF(patient_name), 0 },
	{ "practitioner_name", FIELD_STRING, EV_OFF(practitioner_name), 0 },
	{ "place", FIELD_STRING, EV_OFF(place), 0 },
	{ "appointment_at", FIELD_TIME, EV_OFF(appointment_at_ms), 0 },
	{ "time_zone", FIELD_STRING, EV_OFF(time_zone), 0 },
	{ "created_at", FIELD_TIME, EV_OFF(created_at_ms), 0 },
	{ "not_before", FIELD_TIME, EV_OFF(not_before_ms), 0 },
	{ "expires_at", FIELD_TIME, EV_OFF(expires_at_ms), 0 },
	{ "priority", FIELD_UINT32, EV_OFF(priority), EVENT_JSON_PRIORITY_MAX },
	{ "text", FIELD_STRING, EV_OFF(text), 0 },
};

/* The JSON names of smsq.Kind. */
static const struct {
	const char *kn_name;		/* JSON value */
	Smsq__Kind kn_kind;		/* wire value */
} kinds[] = {
	{ "confirmed", SMSQ__KIND__KIND_CONFIRMED },
	{ "rescheduled", SMSQ__KIND__KIND_RESCHEDULED },
	{ "cancelled", SMSQ__KIND__KIND_CANCELLED },
	{ "reminder", SMSQ__KIND__KIND_REMINDER },
};

static const char *s_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "null";
	}
}

/* True if the n characters at s are the pattern, 'd' standing for a digit
 * and any other character for itself. */
static bool s_shape(const char *s, const char *pattern)
{
	for (; *pattern != '\0'; s++, pattern++) {
		if (*pattern == 'd' ? (*s < '0' || *s > '9') : *s != *pattern)
			return false;
	}
	return true;
}

static int s_two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int event_json_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	struct tm check;
	const char *q;
	int64_t frac_ms = 0;
	int offset_s = 0;
	time_t t;

	/* full-date "T" partial-time: check the shape, then let libc read it. */
	if (!s_shape(s, "dddd-dd-dd"))
		return -1;
	q = strptime(s, "%Y-%m-%d", &tm);
	if (q != s + 10 || (*q != 'T' && *q != 't' && *q != ' '))
		return -1;
	s = q + 1;
	if (!s_shape(s, "dd:dd:dd"))
		return -1;
	q = strptime(s, "%H:%M:%S", &tm);
	if (q != s + 8)
		return -1;
	if (*q == '.') {
		int digits = 0;

		for (q++; *q >= '0' && *q <= '9'; q++, digits++) {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*q - '0');
		}
		if (digits == 0)
			return -1;
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	/* time-offset: "Z" or +hh:mm / -hh:mm */
	if (*q == 'Z' || *q == 'z') {
		q++;
	} else if ((*q == '+' || *q == '-') && s_shape(q + 1, "dd:dd")) {
		int hh = s_two_digits(q + 1);
		int mm = s_two_digits(q + 4);

		if (hh > 23 || mm > 59)
			return -1;
		offset_s = (hh * 60 + mm) * 60 * (*q == '-' ? -1 : 1);
		q += 6;
	} else {
		return -1;
	}
	if (*q != '\0')
		return -1;

	/* timegm() normalises its argument: compare with a copy. */
	check = tm;
	t = timegm(&check);
	if (gmtime_r(&t, &check) == NULL || check.tm_year != tm.tm_year ||
	    check.tm_mon != tm.tm_mon || check.tm_mday != tm.tm_mday ||
	    check.tm_hour != tm.tm_hour || check.tm_min != tm.tm_min ||
	    check.tm_sec != tm.tm_sec)
		return -1;
	*ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
	return 0;
}

static int s_set_uint32(const struct field *f, const json_t *v, uint32_t *dst,
			char *err, size_t errlen)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		err_set(err, errlen, "\"%s\": expected an integer, got %s", f->fd_name,
			s_type_name(v));
		return -1;
	}
	n = json_integer_value(v);
	if (n < 0 || (unsigned long long)n > f->fd_max) {
		err_set(err, errlen, "\"%s\": must be 0..%lu, got %lld", f->fd_name,
			(unsigned long)f->fd_max, (long long)n);
		return -1;
	}
	*dst = (uint32_t)n;
	return 0;
}

static int s_set_string(const struct field *f, const json_t *v, char **dst,
			char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		err_set(err, errlen, "\"%s\": expected a string, got %s", f->fd_name,
			s_type_name(v));
		return -1;
	}
	/* protobuf-c strings end at the first NUL: refuse to cut one short. */
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		err_set(err, errlen, "\"%s\": contains a NUL character", f->fd_name);
		return -1;
	}
	*dst = (char *)json_string_value(v);
	return 0;
}

static int s_set_kind(const struct field *f, const json_t *v, Smsq__Kind *dst,
		      char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		err_set(err, errlen, "\"%s\": expected a string, got %s", f->fd_name,
			s_type_name(v));
		return -1;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(json_string_value(v), kinds[i].kn_name) == 0) {
			*dst = kinds[i].kn_kind;
			return 0;
		}
	}
	err_set(err, errlen,
		"\"%s\": unknown kind \"%.*s\" (expected confirmed, rescheduled, "
		"cancelled or reminder)", f->fd_name, EVENT_JSON_VALUE_SHOWN,
		json_string_value(v));
	return -1;
}

static int s_set_time(const struct field *f, const json_t *v, int64_t *dst,
		      char *err, size_t errlen)
{
	if (json_is_integer(v)) {
		*dst = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v)) {
		err_set(err, errlen,
			"\"%s\": expected an RFC 3339 string or integer milliseconds, got %s",
			f->fd_name, s_type_name(v));
		return -1;
	}
	if (event_json_parse_time(json_string_value(v), dst) != 0) {
		err_set(err, errlen,
			"\"%s\": \"%.*s\" is not an RFC 3339 date-time with offset "
			"(like 2026-12-01T08:30:00+01:00)", f->fd_name,
			EVENT_JSON_VALUE_SHOWN, json_string_value(v));
		return -1;
	}
	return 0;
}

static const struct field *s_find_field(const char *key)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(key, fields[i].fd_name) == 0)
			return &fields[i];
	}
	return NULL;
}

/* Fill ev from obj; ev's strings point into obj. */
static int s_to_event(json_t *obj, Smsq__BookingEvent *ev, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	smsq__booking_event__init(ev);
	ev->version = 1;
	json_object_foreach(obj, key, v) {
		const struct field *f = s_find_field(key);
		char *member;
		int rc = -1;

		if (f == NULL) {
			err_set(err, errlen, "unknown key \"%.*s\"", EVENT_JSON_VALUE_SHOWN,
				key);
			return -1;
		}
		if (json_is_null(v))
			continue;
		member = (char *)ev + f->fd_offset;
		switch (f->fd_type) {
		case FIELD_UINT32:
			rc = s_set_uint32(f, v, (uint32_t *)member, err, errlen);
			break;
		case FIELD_STRING:
			rc = s_set_string(f, v, (char **)member, err, errlen);
			break;
		case FIELD_KIND:
			rc = s_set_kind(f, v, (Smsq__Kind *)member, err, errlen);
			break;
		case FIELD_TIME:
			rc = s_set_time(f, v, (int64_t *)member, err, errlen);
			break;
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

int event_json_pack_line(const char *line, size_t len, uint8_t *out, size_t outcap,
			 size_t *outlen, char *err, size_t errlen)
{
	Smsq__BookingEvent ev;
	json_error_t jerr;
	json_t *obj;
	size_t size;
	int rc = -1;

	/* JSON_ALLOW_NUL: s_set_string() reports a NUL with the key's name. */
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (obj == NULL) {
		err_set(err, errlen, "not valid JSON: %s (column %d)", jerr.text,
			jerr.column);
		return -1;
	}
	if (!json_is_object(obj)) {
		err_set(err, errlen, "expected a JSON object, got %s", s_type_name(obj));
		goto out;
	}
	if (s_to_event(obj, &ev, err, errlen) != 0)
		goto out;
	size = smsq__booking_event__get_packed_size(&ev);
	if (size > outcap) {
		err_set(err, errlen, "event packs to %zu bytes, over the limit of %zu",
			size, outcap);
		goto out;
	}
	*outlen = smsq__booking_event__pack(&ev, out);
	rc = 0;
out:
	json_decref(obj);
	return rc;
}
