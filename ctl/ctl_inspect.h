/*
 * ctl_inspect: `smsqctl inspect` and `smsqctl list`, messages as the store
 * holds them.
 *
 *   smsqctl [-d DIR] inspect ID | --key KEY | --booking ID [--json] [--show-number]
 *   smsqctl [-d DIR] list [--state S] [--provider-index N] [--reason TEXT]
 *                         [--older-than SECONDS] [--limit N] [--after CURSOR]
 *                         [--json]
 *
 * By message id (what acks and log lines give), idempotency key, or
 * booking id (each of its messages, oldest event first: what superseded
 * what shows in their states and notes): its
 * state, priority, attempts and ambiguous retries, its times (booked,
 * not before, appointment, expiry, last change, and when it is due: a
 * delayed message's next try, an in-flight one's lease end), its SMS
 * parts and encoding, its booking (id, kind, locale), the provider of its
 * last attempt, and its note: the provider's message id once sent, the
 * last reason while retried or failed (numbers in it masked).  The
 * destination is masked ("+33*******78") unless --show-number; the text is
 * never shown (smsqctl preview renders an event's).  In a store encrypted
 * at rest, the number and the event's booking id and locale are read with
 * the key only (-o store.encrypt_key_file=FILE); else they say
 * "(encrypted)".
 *
 * list: the messages that match, a line each (id, state, attempts, key,
 * age, note; no destination, no text), a page at a time (--limit, 50 by
 * default), in the order of their index (store_list()); a page that is not
 * the last ends with the command that gives the next (--after CURSOR).
 *
 * Exit codes: 0 found (list: also none), 1 the store cannot be read, 2
 * usage, 3 no such message.
 */
#ifndef SMSQ_CTL_INSPECT_H
#define SMSQ_CTL_INSPECT_H

#include <stddef.h>

#include "common/attrs.h"
#include "store/store.h"

#define CTL_BOOKING_MAX 1000 /* messages of one booking shown */

/* seal_key: the store's key (store_opts.seal_key; NULL: sealed fields
 * show as "(encrypted)"); id: a message id in decimal, or NULL with key or booking set (booking:
 * every message of that booking id, oldest event first). */
int ctl_inspect(const char *dir, const unsigned char *seal_key, const char *id, const char *key,
		const char *booking, int json, int show_number) SMSQ_WARN_UNUSED;

/* q: the filter; after: a cursor of a previous page (NULL: the first);
 * limit: messages a page (1..1000). */
int ctl_list(const char *dir, const struct store_query *q, const char *after, size_t limit,
	     int json) SMSQ_WARN_UNUSED;

#endif
