/* render: built-in texts and a first segment count (see render.h). */
#include "worker/render.h"

#include <stdio.h>
#include <string.h>
#include <time.h>


static const char *kind_verb(Smsq__Kind k)
{
	switch (k) {
	case SMSQ__KIND__KIND_RESCHEDULED: return "has been moved to";
	case SMSQ__KIND__KIND_CANCELLED: return "on %s has been cancelled";
	case SMSQ__KIND__KIND_REMINDER: return "is on";
	default: return "is confirmed for";
	}
}

size_t render_text(const Smsq__BookingEvent *ev, char *out, size_t cap)
{
	char when[32];
	time_t t = (time_t)(ev->appointment_at_ms / 1000);
	struct tm tm;
	int n;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	if (ev->kind == SMSQ__KIND__KIND_CANCELLED)
		n = snprintf(out, cap, "%s, your appointment with %s on %s at %s has been cancelled.",
			     ev->patient_name, ev->practitioner_name, when, ev->place);
	else
		n = snprintf(out, cap, "%s, your appointment with %s at %s %s %s.", ev->patient_name,
			     ev->practitioner_name, ev->place, kind_verb(ev->kind), when);
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
	/* Never leave half a UTF-8 character at a cut. */
	while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80)
		len--;
	out[len] = '\0';
	return len;
}
