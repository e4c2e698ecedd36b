/*
 * render: the text a booking event becomes.
 *
 * XXX First version, to be replaced by issue 4 (templates per locale in
 * files, times in the event's zone via a locale library): one built-in
 * English sentence per kind, the time in UTC.  What a text costs is gsm.h's
 * business.
 */
#ifndef SMSQ_RENDER_H
#define SMSQ_RENDER_H

#include <stddef.h>

#include "proto/booking.pb-c.h"

#define RENDER_MAX 640   /* longest rendered text, bytes incl. NUL */

/* Write the text for ev into out (cap bytes, NUL-terminated, cut at a UTF-8
 * boundary if too long).  Returns its length. */
size_t render_text(const Smsq__BookingEvent *ev, char *out, size_t cap);

#endif
