/*
 * render: the text a booking event becomes, from templates that ops edit.
 *
 * Templates live in a directory (ingest.templates_dir), one file per locale named
 * after its language tag: en.tmpl, fr.tmpl, de.tmpl, fr-CA.tmpl...  A file
 * holds one line per event kind:
 *
 *     ; comment
 *     confirmed   = Bonjour {patient_name}, RDV confirmé le {date} à {time}.
 *     rescheduled = ...
 *     cancelled   = ...
 *     reminder    = ...
 *
 * Placeholders: {patient_name} {practitioner_name} {place} {booking_id}
 * (the event's fields, as given) and {date} {date_short} {weekday} {time}
 * (the appointment in the event's time zone, written the locale's way by
 * ICU: "mardi 31 mars" / "14:30" in French, "Tuesday, March 31" / "2:30 PM"
 * in en-US).  "{{" and "}}" are literal braces, "\n" a line break, "\\" a
 * backslash.
 *
 * Choosing a text: the event's locale "fr-BE" looks for fr-BE.tmpl, then
 * fr.tmpl, then the default locale's file (ingest.default_locale, "en"),
 * kind by kind (fr-BE.tmpl may hold only the one text that differs).  The
 * default locale must hold all four kinds.  Dates are formatted in the
 * event's own locale when the text found is in its language (fr-BE dates
 * for fr-BE, even from fr.tmpl), else in the locale of the text found.
 *
 * The spaces ICU puts in dates and times (U+00A0, U+202F before "PM") come
 * out as plain spaces: a library's typography must not make a text UCS-2.
 *
 * A renderer keeps ICU date formatters per (locale, time zone) in a bounded
 * cache: one per process, not thread-safe.
 */
#ifndef SMSQ_RENDER_H
#define SMSQ_RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/booking.pb-c.h"
#include "common/attrs.h"

#define RENDER_LINE_MAX 2048   /* longest template line, bytes */
#define RENDER_LOCALES_MAX 64  /* template files in a directory */

enum render_status {
	RENDER_OK = 0,
	RENDER_TOO_LONG,   /* the text does not fit the caller's buffer */
	RENDER_BAD_ZONE,   /* ICU does not know the event's time zone */
	RENDER_ICU_ERROR,  /* ICU failed otherwise (detail says how) */
	RENDER_TRANSIENT,  /* ICU lacked a resource now (memory, a data file): no
			      verdict on the event, which may render when tried
			      again (detail says what failed) */
};

typedef struct renderer renderer;

/*
 * Load every *.tmpl file of dir.  default_locale: the fallback file's tag.
 * Returns NULL with the first problem in err ("dir/fr.tmpl:3: unknown
 * placeholder {nom}") when a file cannot be read or has an error, or when
 * the default locale is missing a kind.  Free with renderer_free().
 */
renderer *renderer_load(const char *dir, const char *default_locale, char *err, size_t err_len)
	SMSQ_WARN_UNUSED;
void renderer_free(renderer **r);

/*
 * Render ev (kind, locale, fields, appointment time and zone already
 * validated) into out (cap bytes, NUL-terminated).  *len gets the length.
 * On failure writes a human message into detail.  A zone is remembered as
 * unknown (RENDER_BAD_ZONE without asking ICU again) only once ICU said so;
 * after RENDER_TRANSIENT or RENDER_ICU_ERROR nothing failed is remembered.
 */
enum render_status render_event(renderer *r, const Smsq__BookingEvent *ev, char *out,
				size_t cap, size_t *len, char *detail, size_t detail_len)
	SMSQ_WARN_UNUSED;

/* Which template file serves this locale and kind (its tag, e.g. "fr"). */
const char *render_source(const renderer *r, const char *locale, Smsq__Kind kind);

/* Realistic field lengths for the worst case of render_lint(). */
struct render_lint_opts {
	size_t patient_len;       /* characters of a long patient name */
	size_t practitioner_len;  /* of a long practitioner name */
	size_t place_len;         /* of a long place */
	size_t booking_id_len;    /* of a booking id */
	size_t max_segments;      /* worst case over this is an error */
	int smart_encoding;       /* count as ingest does with ingest.smart_encoding */
};

/*
 * Check every template of dir, printing one line per finding to out:
 * errors (syntax, unknown placeholders, missing default texts, a worst case
 * over max_segments), warnings (characters that force UCS-2, with what
 * smart encoding would make of them), and per template its example text,
 * encoding and segments, typical and worst case.  Returns the number of
 * errors (0: all good), or -1 when dir cannot be read.
 */
int render_lint(const char *dir, const char *default_locale, const struct render_lint_opts *o,
		FILE *out) SMSQ_WARN_UNUSED;

#endif
