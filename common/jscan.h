/*
 * jscan: read a few members out of a JSON document without building a tree.
 *
 * The workers read every provider answer (one per request: thousands a
 * second) for a handful of members: a message id, a status, an error code.
 * Building jansson's tree of the whole answer to read them (one hash table
 * per object, one allocation per string) would be a large share of a
 * worker's CPU at one message per request, so
 * the answers are read in place: jscan_parse() checks the whole document
 * once (RFC 8259 strictly: grammar, UTF-8, escapes, surrogate pairs, no
 * \u0000, integers that fit 64 bits, at most JSCAN_MAX_DEPTH levels of
 * nesting) and returns its root value; the other calls walk values inside a
 * checked document and allocate nothing.  Strings are decoded on demand into
 * the caller's buffer.
 *
 * A value is the span of its text in the caller's buffer (which must
 * outlive it).  The "absent" value has p == NULL; every call accepts it
 * (jscan_get on an absent object gives an absent value), so lookups chain
 * without checks in between.  Only values reached from a root that
 * jscan_parse() accepted may be passed in.
 *
 * Differences from jansson's json_loadb(): any value may be the root (the
 * caller checks the type); nesting deeper than JSCAN_MAX_DEPTH is refused;
 * a number with a fraction or an exponent is accepted whatever its
 * magnitude (no member read here is a real).  A key that appears twice in
 * one object reads as its last value, as in jansson.
 */
#ifndef SMSQ_JSCAN_H
#define SMSQ_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

#define JSCAN_MAX_DEPTH 64

struct jscan_val {
	const char *p;   /* first byte of the value's text, NULL: absent */
	size_t len;      /* bytes of text */
};

enum jscan_type {
	JSCAN_ABSENT = 0,
	JSCAN_OBJECT,
	JSCAN_ARRAY,
	JSCAN_STRING,
	JSCAN_NUMBER,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_NULL,
};

/*
 * Check that buf[0, len) is exactly one JSON value, with optional white
 * space around it.  0 and *root set; or -1 with why set to the reason and
 * the byte offset ("invalid escape at byte 12"), *root absent.
 */
int jscan_parse(const char *buf, size_t len, struct jscan_val *root, char *why, size_t whylen);

enum jscan_type jscan_type(struct jscan_val v);

/* The member key of object obj (its last one if repeated), or absent (obj
 * not an object, or no such key).  Keys are compared decoded. */
struct jscan_val jscan_get(struct jscan_val obj, const char *key);

/*
 * Several members of obj in one walk: vals[i] is what jscan_get(obj,
 * keys[i]) gives, for each of the n keys (a key may be repeated in keys).
 * Returns how many of the n were found: 0 when obj is not an object.
 */
size_t jscan_members(struct jscan_val obj, const char *const *keys, struct jscan_val *vals,
		     size_t n);

/*
 * Walk an array: *it starts absent; each call sets *it to the next element
 * and returns 1, or returns 0 at the end (or if arr is not an array).
 */
int jscan_next(struct jscan_val arr, struct jscan_val *it);

/*
 * The decoded string v into out (NUL-terminated, cap bytes with the NUL).
 * Returns its length, or -1 (out set to "") if v is not a string or its
 * decoded text does not fit.
 */
long jscan_str(struct jscan_val v, char *out, size_t cap) SMSQ_WARN_UNUSED;

/* An integer (no fraction, no exponent): 0 and *out, or -1. */
int jscan_int(struct jscan_val v, int64_t *out) SMSQ_WARN_UNUSED;

/* Any number as a double (strtod of its text, so 1e999 is HUGE_VAL): 0 and
 * *out, or -1 if v is not a number or its text is over 63 bytes. */
int jscan_real(struct jscan_val v, double *out) SMSQ_WARN_UNUSED;

#endif
