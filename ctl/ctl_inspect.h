/*
 * ctl_inspect: `smsqctl inspect`, one message as the store holds it.
 *
 *   smsqctl [-d DIR] inspect ID | --key KEY [--json] [--show-number]
 *
 * By message id (what acks and log lines give) or idempotency key: its
 * state, priority, attempts and ambiguous retries, its times (booked,
 * not before, appointment, expiry, last change, and when it is due: a
 * delayed message's next try, an in-flight one's lease end), its SMS
 * parts and encoding, its booking (id, kind, locale), the provider of its
 * last attempt, and its note: the provider's message id once sent, the
 * last reason while retried or failed (numbers in it masked).  The
 * destination is masked ("+33*******78") unless --show-number; the text is
 * never shown (smsqctl preview renders an event's).
 *
 * Exit codes: 0 found, 1 the store cannot be read, 2 usage, 3 no such
 * message.
 */
#ifndef SMSQ_CTL_INSPECT_H
#define SMSQ_CTL_INSPECT_H

#include "common/attrs.h"

/* id: a message id in decimal, or NULL with key set. */
int ctl_inspect(const char *dir, const char *id, const char *key, int json, int show_number)
	SMSQ_WARN_UNUSED;

#endif
