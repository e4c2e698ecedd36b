/*
 * prepare: what an accepted event becomes before it is stored, in one place
 * for the pool's ingest and for `smsqctl preview`:
 *
 *   validate (validate.h: fields, times, the phone number normalised to
 *   E.164)  ->  the text: the event's own, or its template rendered
 *   (render.h)  ->  its encoding and segments (gsm.h), smart encoding when
 *   configured  ->  something visible left (validate_text_blank())  ->
 *   the segment limit  ->  the limits of the configured providers
 *   (prepare_opts: the smallest of each, characters and segments).
 *
 * A bad event gets a machine-readable reason and a human detail; nothing
 * else happens to it.
 */
#ifndef SMSQ_PREPARE_H
#define SMSQ_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/booking.pb-c.h"
#include "store/store.h"
#include "common/attrs.h"

typedef struct preparer preparer;

#define PREPARE_LIMITS_MAX 8

/* What one provider's API takes of a text (0: no such limit). */
struct prepare_text_limit {
	const char *provider;  /* its name in the configuration */
	const char *api;       /* its API ("infobip") */
	size_t max_units;      /* UTF-16 code units (characters) */
	size_t max_segments;   /* SMS parts */
};

/* The text pipeline's settings (the pool's ingest.* and its providers'
 * limits: worker/config.h fills them from the configuration).  Strings are
 * borrowed for preparer_new() only. */
struct prepare_opts {
	const char *templates_dir;     /* <locale>.tmpl files */
	const char *default_locale;    /* templates of an event without a known locale */
	const char *allowed_countries; /* "FR,BE" ("": every country) */
	const char *default_region;    /* of national numbers ("": none) */
	size_t max_text_bytes;         /* of a ready text */
	size_t max_segments;           /* of any text */
	int smart_encoding;            /* replace look-alikes to stay in GSM-7 */
	struct prepare_text_limit limits[PREPARE_LIMITS_MAX]; /* every configured provider */
	int n_limits;
};

/*
 * Build a preparer from o (templates loaded from o->templates_dir, the
 * allowed countries parsed; of the providers' limits, a text must fit the
 * smallest of each kind: failover may send it through any of them).
 * Returns NULL with err set when the templates or the number rules are bad.
 */
preparer *preparer_new(const struct prepare_opts *o, char *err, size_t err_len) SMSQ_WARN_UNUSED;
void preparer_destroy(preparer **p);

/*
 * Pay the libraries' first-use costs now instead of on the first event:
 * libphonenumber's metadata, ICU's data and a date formatter of locale
 * (UTC).  What it renders is thrown away; a failure only means the first
 * event pays instead.
 */
void prepare_warm(preparer *p, const char *locale);

/* Bytes a text slot given to prepare_event() must have. */
size_t prepare_text_cap(const preparer *p) SMSQ_WARN_UNUSED;

/* What prepare_event() found out, beyond *out (for preview). */
struct prepare_info {
	char region[3];        /* the number's country */
	unsigned replaced;     /* characters smart encoding replaced */
	size_t units;          /* septets (GSM-7) or UTF-16 units (UCS-2) */
	const char *source;    /* template file tag used ("fr"), NULL for a ready text */
};

/*
 * Check and prepare ev, received at now_ms, into *out (as validate_event():
 * pointers borrow from ev, out->to from out itself; text from slot, which
 * holds prepare_text_cap() bytes, when rendered or smart-encoded).  info may
 * be NULL.  Returns SMSQ__REASON__REASON_NONE, or the reason with a human
 * message in detail: EMPTY_TEXT when the text to send shows nothing,
 * TEXT_TOO_LONG when it is over ingest.max_segments or over what a
 * configured provider accepts (detail names the provider and its limit),
 * or validate_event()'s.  SMSQ__REASON__REASON_TEMPORARY is no verdict on the
 * event (a check or the rendering lacked a resource now: validate_event());
 * the same event may pass when prepared again.
 */
Smsq__Reason prepare_event(preparer *p, const Smsq__BookingEvent *ev, int64_t now_ms,
			   struct store_new *out, char *slot, struct prepare_info *info,
			   char *detail, size_t detail_len);

#endif
