/*
 * fake_msg: one SMS as the fake provider sees it, shared by the API parsers
 * (fake_apis), the ledger (fake_record) and the HTTP layer (fake_server).
 *
 * Life of a message inside one request:
 *   fake_apis parses it (key, destination, segments) and may reject it
 *   (reject != FAKE_REJECT_NONE); fake_server applies the --fail-prefix
 *   rejections; fake_record decides accepted / throttled (or error or
 *   unauthorized, when a fault answers the whole request) and counts it; fake_apis writes the
 *   answer from the outcome; fake_record appends its line to the record file.
 *
 * Every pointer in struct fake_msg is borrowed from the request's batch
 * (struct fake_batch in fake_apis.h) and valid until fake_batch_clear().
 */
#ifndef SMSQ_FAKE_MSG_H
#define SMSQ_FAKE_MSG_H

#include <stddef.h>

#include "common/attrs.h"

#ifndef FAKE_WARN_UNUSED
#define FAKE_WARN_UNUSED SMSQ_WARN_UNUSED
#endif

#define FAKE_KEY_MAX 256        /* longest message key kept, bytes (longer: cut) */
#define FAKE_PROVIDER_ID_MAX 48 /* provider message id we generate, bytes incl. NUL */

/* What happened to a message. */
enum fake_outcome {
	FAKE_PENDING = 0,   /* not decided yet */
	FAKE_ACCEPTED = 1,  /* accepted: the provider "sends" it */
	FAKE_REJECTED = 2,  /* permanent rejection (invalid or --fail-prefix) */
	FAKE_THROTTLED = 3, /* over --rate-limit: retry after Retry-After */
	FAKE_ERROR = 4,     /* the whole request got a fault (5xx, drop, hang) */
	FAKE_UNAUTHORIZED = 5, /* the whole request was refused 401 (--auth-fail) */
};

/* Why a message is rejected (each API maps it to its own code). */
enum fake_reject {
	FAKE_REJECT_NONE = 0,       /* not rejected */
	FAKE_REJECT_MISSING_TO = 1, /* no destination */
	FAKE_REJECT_INVALID_TO = 2, /* destination is not an international number */
	FAKE_REJECT_PREFIX = 3,     /* destination matches a --fail-prefix */
	FAKE_REJECT_MISSING = 4,    /* another required field is missing (text, id...) */
	FAKE_REJECT_TOO_LONG = 5,   /* text over the API's limit */
	FAKE_REJECT_REPEATED_TO = 6, /* destination twice in one request (Sinch) */
	FAKE_REJECT_WITH_BATCH = 7, /* fine, but its request was refused as a whole for
				       another message (Sinch answers for the batch) */
};

struct fake_msg {
	const char *key;          /* message key (see fake_record.h), not NUL-terminated */
	size_t key_len;           /* its length, <= FAKE_KEY_MAX */
	const char *to;           /* destination as sent, NUL-terminated ("" if none) */
	const char *ref;          /* client reference echoed in answers, or NULL */
	unsigned segments;        /* SMS parts of the text (approximate, >= 1) */
	const char *text;         /* the text as received (NULL: none), NUL-terminated */
	enum fake_reject reject;  /* set by the parser or the fail-prefix check */
	const char *detail;       /* why it is rejected (static text), or NULL */
	const char *receipt_url;  /* where the client asked for its delivery reports
				     (NUL-terminated), NULL: none asked */
	enum fake_outcome outcome;/* set by fake_record */
	char provider_id[FAKE_PROVIDER_ID_MAX]; /* id we answer for an accepted message */
};

#endif
