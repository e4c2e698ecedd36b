/*
 * fake_buf: a growing text buffer, and the writers the fake provider builds
 * its hot JSON and form bodies with (answers to a send, delivery reports):
 * jansson's tree and dump would be most of the work per request, and the
 * fake shares the machine with what it measures.
 *
 * The JSON string writer escapes exactly as jansson's compact dump does
 * (same escapes, \u00XX in upper case), so a hand-written object is byte
 * for byte what jansson would write; a string that is not valid UTF-8
 * (which jansson refuses) is written with every byte above 0x7F as '?'.
 *
 * A struct fake_buf is a value: zero it (FAKE_BUF_INIT) before the first
 * write, free it with fake_buf_free() or take its text (p, len: malloc'd,
 * NUL-terminated) and zero it.  Allocation failure aborts.  No locking:
 * one buffer belongs to one thread at a time.
 */
#ifndef SMSQ_FAKE_BUF_H
#define SMSQ_FAKE_BUF_H

#include <stddef.h>

#include "common/attrs.h"

#define FAKE_BUF_INIT { NULL, 0, 0 }

struct fake_buf {
	char *p;       /* the text, NUL-terminated once anything is written */
	size_t len;    /* bytes, without the NUL */
	size_t cap;    /* allocated */
};

/* Append s[0..n) as it is. */
void fake_buf_raw(struct fake_buf *b, const char *s, size_t n);

/* Append the NUL-terminated s as it is. */
void fake_buf_lit(struct fake_buf *b, const char *s);

/* Append printf(fmt, ...). */
void fake_buf_fmt(struct fake_buf *b, const char *fmt, ...) SMSQ_PRINTF(2, 3);

/* Append s as a JSON string (NULL: null), escaped as the top says. */
void fake_buf_json_str(struct fake_buf *b, const char *s);

/* Append "key": as the start of an object member, with the ',' before it
 * unless first. */
void fake_buf_json_key(struct fake_buf *b, const char *key, int first);

/* Append "key":"value" (value a JSON string, NULL: null), with the ','
 * before it unless first. */
void fake_buf_json_kv(struct fake_buf *b, const char *key, const char *value, int first);

/* Append "key":raw, raw as it is (a number, null, true, a '{'...), with the
 * ',' before it unless first. */
void fake_buf_json_kraw(struct fake_buf *b, const char *key, const char *raw, int first);

/* Append name=value form-encoded (application/x-www-form-urlencoded:
 * letters, digits and -._* as they are, ' ' as '+', every other byte as
 * %XX), with the '&' before it unless first. */
void fake_buf_form(struct fake_buf *b, const char *name, const char *value, int first);

/* Free the text and zero *b.  NULL-safe. */
void fake_buf_free(struct fake_buf *b);

#endif
