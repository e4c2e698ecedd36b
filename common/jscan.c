/*
 * jscan: JSON read in place (see jscan.h).
 *
 * jscan_parse() is a recursive-descent checker of RFC 8259 that remembers
 * nothing but where the root value starts and ends.  Everything else walks
 * text that it has checked, so the walkers need not handle bad input: they
 * skip a value by scanning to its end (strings by their closing quote,
 * objects and arrays by counting brackets outside strings).
 */
#include "common/jscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* ---- byte classes ---------------------------------------------------------- */

/*
 * The hot loops step over runs of bytes that need no decision with one
 * table look-up per byte:
 *   PLAIN  a string byte that is itself (0x20..0x7F but '"' and '\\')
 *   STOP   ends a run inside a string being skipped ('"', '\\')
 *   BRACE  matters to skipping a container ('"', '{', '[', '}', ']')
 */
enum { PLAIN = 1, STOP = 2, BRACE = 4 };

/* Generated from the classes above: byte -> PLAIN | STOP | BRACE. */
static const unsigned char cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x10 */
	1, 1, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x20 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x30 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x40 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 2, 5, 1, 1,  /* 0x50 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x60 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 5, 1, 1,  /* 0x70 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x80 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x90 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xA0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xB0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xC0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xD0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xE0 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xF0 */
};

/* ---- checking ------------------------------------------------------------- */

struct rd {
	const unsigned char *b;  /* the document */
	size_t n;                /* its length */
	size_t i;                /* next byte */
	const char *err;         /* first error, NULL none */
	size_t at;               /* its offset */
};

static int fail(struct rd *r, const char *what)
{
	if (r->err == NULL) {
		r->err = what;
		r->at = r->i;
	}
	return -1;
}

static void skip_ws(struct rd *r)
{
	while (r->i < r->n && (r->b[r->i] == ' ' || r->b[r->i] == '\t' || r->b[r->i] == '\n' ||
			       r->b[r->i] == '\r'))
		r->i++;
}

static int hex_val(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at s (n bytes available) as a code unit, or -1. */
static long hex4(const unsigned char *s, size_t n)
{
	long v = 0;

	if (n < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		int h = hex_val(s[k]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A UTF-8 sequence starting at r->i (a byte >= 0x80): shortest form, no
 * surrogates, at most U+10FFFF. */
static int check_utf8(struct rd *r)
{
	const unsigned char *s = r->b + r->i;
	size_t left = r->n - r->i, len;
	unsigned long cp, min;

	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2, cp = s[0] & 0x1F, min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3, cp = s[0] & 0x0F, min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return fail(r, "invalid UTF-8");
	}
	if (left < len)
		return fail(r, "truncated UTF-8");
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return fail(r, "invalid UTF-8");
		cp = cp << 6 | (s[k] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return fail(r, "invalid UTF-8");
	r->i += len;
	return 0;
}

/* \uXXXX at r->i (on the 'u'), with its low surrogate if it is a high one. */
static int check_u_escape(struct rd *r)
{
	long hi = hex4(r->b + r->i + 1, r->n - r->i - 1);

	if (hi < 0)
		return fail(r, "invalid \\u escape");
	if (hi == 0)
		return fail(r, "\\u0000 in a string");
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return fail(r, "lone low surrogate");
	r->i += 5;
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		long lo;

		if (r->n - r->i < 6 || r->b[r->i] != '\\' || r->b[r->i + 1] != 'u')
			return fail(r, "high surrogate without its low surrogate");
		lo = hex4(r->b + r->i + 2, r->n - r->i - 2);
		if (lo < 0xDC00 || lo > 0xDFFF)
			return fail(r, "high surrogate without its low surrogate");
		r->i += 6;
	}
	return 0;
}

static int check_string(struct rd *r)
{
	r->i++; /* the opening quote */
	while (r->i < r->n) {
		const unsigned char *b = r->b;
		size_t i = r->i, n = r->n;
		unsigned char c;

		while (i < n && (cls[b[i]] & PLAIN))
			i++;
		r->i = i;
		if (i >= n)
			break;
		c = b[i];

		if (c == '"') {
			r->i++;
			return 0;
		}
		if (c < 0x20)
			return fail(r, "control character in a string");
		if (c >= 0x80) {
			if (check_utf8(r) != 0)
				return -1;
			continue;
		}
		if (c != '\\') {
			r->i++;
			continue;
		}
		r->i++;
		if (r->i >= r->n)
			break;
		c = r->b[r->i];
		if (c == 'u') {
			if (check_u_escape(r) != 0)
				return -1;
		} else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
			r->i++;
		} else {
			return fail(r, "invalid escape");
		}
	}
	return fail(r, "unterminated string");
}

static int is_digit(const struct rd *r)
{
	return r->i < r->n && r->b[r->i] >= '0' && r->b[r->i] <= '9';
}

/* Text [s, s + n) of an integer literal ("-"? digits) as an int64; -1 if
 * out of range.  The digits were checked. */
static int int_of(const char *s, size_t n, int64_t *out)
{
	int neg = s[0] == '-';
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	for (size_t k = (size_t)neg; k < n; k++) {
		unsigned d = (unsigned)(s[k] - '0');

		if (v > (lim - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

static int check_number(struct rd *r)
{
	size_t start = r->i;
	int integer = 1;
	int64_t ignored;

	if (r->b[r->i] == '-')
		r->i++;
	if (!is_digit(r))
		return fail(r, "invalid number");
	if (r->b[r->i] == '0') {
		r->i++;
		if (is_digit(r))
			return fail(r, "leading zero in a number");
	} else {
		while (is_digit(r))
			r->i++;
	}
	if (r->i < r->n && r->b[r->i] == '.') {
		integer = 0;
		r->i++;
		if (!is_digit(r))
			return fail(r, "invalid number");
		while (is_digit(r))
			r->i++;
	}
	if (r->i < r->n && (r->b[r->i] == 'e' || r->b[r->i] == 'E')) {
		integer = 0;
		r->i++;
		if (r->i < r->n && (r->b[r->i] == '+' || r->b[r->i] == '-'))
			r->i++;
		if (!is_digit(r))
			return fail(r, "invalid number");
		while (is_digit(r))
			r->i++;
	}
	if (integer && int_of((const char *)r->b + start, r->i - start, &ignored) != 0) {
		r->i = start;
		return fail(r, "integer out of range");
	}
	return 0;
}

static int check_literal(struct rd *r, const char *word)
{
	size_t len = strlen(word);

	if (r->n - r->i < len || memcmp(r->b + r->i, word, len) != 0)
		return fail(r, "invalid literal");
	r->i += len;
	return 0;
}

static int check_value(struct rd *r, int depth);

/* An object or an array at r->i (on its bracket). */
static int check_container(struct rd *r, int depth)
{
	int object = r->b[r->i] == '{';
	unsigned char close = object ? '}' : ']';

	if (depth >= JSCAN_MAX_DEPTH)
		return fail(r, "nested too deep");
	r->i++;
	skip_ws(r);
	if (r->i < r->n && r->b[r->i] == close) {
		r->i++;
		return 0;
	}
	for (;;) {
		if (object) {
			if (r->i >= r->n || r->b[r->i] != '"')
				return fail(r, "expected a string key");
			if (check_string(r) != 0)
				return -1;
			skip_ws(r);
			if (r->i >= r->n || r->b[r->i] != ':')
				return fail(r, "expected ':'");
			r->i++;
			skip_ws(r);
		}
		if (check_value(r, depth + 1) != 0)
			return -1;
		skip_ws(r);
		if (r->i >= r->n)
			return fail(r, object ? "unterminated object" : "unterminated array");
		if (r->b[r->i] == close) {
			r->i++;
			return 0;
		}
		if (r->b[r->i] != ',')
			return fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
		r->i++;
		skip_ws(r);
	}
}

static int check_value(struct rd *r, int depth)
{
	if (r->i >= r->n)
		return fail(r, "expected a value");
	switch (r->b[r->i]) {
	case '{':
	case '[':
		return check_container(r, depth);
	case '"':
		return check_string(r);
	case 't':
		return check_literal(r, "true");
	case 'f':
		return check_literal(r, "false");
	case 'n':
		return check_literal(r, "null");
	default:
		if (r->b[r->i] == '-' || (r->b[r->i] >= '0' && r->b[r->i] <= '9'))
			return check_number(r);
		return fail(r, "expected a value");
	}
}

int jscan_parse(const char *buf, size_t len, struct jscan_val *root, char *why, size_t whylen)
{
	struct rd r = { .b = (const unsigned char *)buf, .n = buf != NULL ? len : 0 };
	size_t start;

	root->p = NULL;
	root->len = 0;
	skip_ws(&r);
	start = r.i;
	if (check_value(&r, 0) == 0) {
		size_t end = r.i;

		skip_ws(&r);
		if (r.i == r.n) {
			root->p = buf + start;
			root->len = end - start;
			return 0;
		}
		fail(&r, "data after the value");
	}
	snprintf(why, whylen, "%s at byte %zu", r.err, r.at);
	return -1;
}

/* ---- walking checked text -------------------------------------------------- */

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* The end of the string whose opening quote is at p, and whether it holds
 * escapes. */
static const char *string_end_esc(const char *p, int *escaped)
{
	const unsigned char *u = (const unsigned char *)p + 1;

	*escaped = 0;
	for (;;) {
		while (!(cls[*u] & STOP))
			u++;
		if (*u == '"')
			return (const char *)u + 1;
		*escaped = 1;
		u += 2; /* a backslash and the byte it escapes */
	}
}

static const char *string_end(const char *p)
{
	int escaped;

	return string_end_esc(p, &escaped);
}

/*
 * The end of the value starting at p.  Checked text ends every value
 * inside a container with a byte that is not part of it (',', ']', '}' or
 * white space), so the scans below never pass the container's end; the
 * root value is never skipped.
 */
static const char *value_end(const char *p)
{
	int depth = 0;

	switch (*p) {
	case '"':
		return string_end(p);
	case '{':
	case '[':
		do {
			while (!(cls[(unsigned char)*p] & BRACE))
				p++;
			if (*p == '"') {
				p = string_end(p);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else
				depth--;
			p++;
		} while (depth > 0);
		return p;
	default: /* number or literal */
		while (*p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' &&
		       *p != '\n' && *p != '\r')
			p++;
		return p;
	}
}

enum jscan_type jscan_type(struct jscan_val v)
{
	if (v.p == NULL || v.len == 0)
		return JSCAN_ABSENT;
	switch (v.p[0]) {
	case '{':
		return JSCAN_OBJECT;
	case '[':
		return JSCAN_ARRAY;
	case '"':
		return JSCAN_STRING;
	case 't':
		return JSCAN_TRUE;
	case 'f':
		return JSCAN_FALSE;
	case 'n':
		return JSCAN_NULL;
	default:
		return JSCAN_NUMBER;
	}
}

static void put_utf8(char *out, size_t *k, unsigned long cp)
{
	if (cp < 0x80) {
		out[(*k)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*k)++] = (char)(0xC0 | cp >> 6);
		out[(*k)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*k)++] = (char)(0xE0 | cp >> 12);
		out[(*k)++] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[(*k)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*k)++] = (char)(0xF0 | cp >> 18);
		out[(*k)++] = (char)(0x80 | (cp >> 12 & 0x3F));
		out[(*k)++] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[(*k)++] = (char)(0x80 | (cp & 0x3F));
	}
}

/* Decode the checked string [p, end) (quotes included) into out. */
static long decode(const char *p, const char *end, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)p + 1, *e = (const unsigned char *)end - 1;
	size_t k = 0;

	while (s < e) {
		unsigned long cp;
		char one;

		if (*s != '\\') {
			if (k + 1 >= cap)
				goto too_long;
			out[k++] = (char)*s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'b': one = '\b'; break;
		case 'f': one = '\f'; break;
		case 'n': one = '\n'; break;
		case 'r': one = '\r'; break;
		case 't': one = '\t'; break;
		case 'u': one = 0; break;
		default: one = (char)*s; break; /* " \ / */
		}
		if (*s != 'u') {
			if (k + 1 >= cap)
				goto too_long;
			out[k++] = one;
			s++;
			continue;
		}
		cp = (unsigned long)hex4(s + 1, 4);
		s += 5;
		if (cp >= 0xD800 && cp <= 0xDBFF) { /* its low half follows (checked) */
			cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)hex4(s + 2, 4) - 0xDC00);
			s += 6;
		}
		if (k + (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4) >= cap)
			goto too_long;
		put_utf8(out, &k, cp);
	}
	out[k] = '\0';
	return (long)k;
too_long:
	if (cap > 0)
		out[0] = '\0';
	return -1;
}

long jscan_str(struct jscan_val v, char *out, size_t cap)
{
	if (jscan_type(v) != JSCAN_STRING) {
		if (cap > 0)
			out[0] = '\0';
		return -1;
	}
	return decode(v.p, v.p + v.len, out, cap);
}

/* 1 if the checked string key [p, end) decodes to k (klen bytes). */
static int key_is(const char *p, const char *end, int escaped, const char *k, size_t klen)
{
	size_t raw = (size_t)(end - p) - 2;
	char small[256], *buf;
	int same;

	if (!escaped)
		return raw == klen && memcmp(p + 1, k, klen) == 0;
	if (klen > raw)
		return 0; /* decoding never lengthens */
	/* The decoded key fits in raw + 1 bytes. */
	buf = raw < sizeof(small) ? small : xmalloc(raw + 1);
	same = decode(p, end, buf, raw + 1) == (long)klen && memcmp(buf, k, klen) == 0;
	if (buf != small)
		free(buf);
	return same;
}


#define MEMBERS_LENS 16 /* keys whose lengths jscan_members computes once */

size_t jscan_members(struct jscan_val obj, const char *const *keys, struct jscan_val *vals,
		     size_t n)
{
	size_t lens[MEMBERS_LENS], found = 0;
	const char *p;

	for (size_t i = 0; i < n; i++) {
		vals[i].p = NULL;
		vals[i].len = 0;
		if (i < MEMBERS_LENS)
			lens[i] = strlen(keys[i]);
	}
	if (jscan_type(obj) != JSCAN_OBJECT)
		return 0;
	p = ws(obj.p + 1);
	while (*p == '"') {
		int escaped;
		const char *kend = string_end_esc(p, &escaped);
		const char *v = ws(ws(kend) + 1), *vend = value_end(v);

		for (size_t i = 0; i < n; i++) {
			size_t klen = i < MEMBERS_LENS ? lens[i] : strlen(keys[i]);

			if (!key_is(p, kend, escaped, keys[i], klen))
				continue;
			if (vals[i].p == NULL)
				found++;
			vals[i].p = v; /* the last one of a repeated key, as jscan_get */
			vals[i].len = (size_t)(vend - v);
		}
		p = ws(vend);
		if (*p != ',')
			break;
		p = ws(p + 1);
	}
	return found;
}

struct jscan_val jscan_get(struct jscan_val obj, const char *key)
{
	struct jscan_val found;

	jscan_members(obj, &key, &found, 1);
	return found;
}

int jscan_next(struct jscan_val arr, struct jscan_val *it)
{
	const char *p;

	if (jscan_type(arr) != JSCAN_ARRAY)
		return 0;
	if (it->p == NULL) {
		p = ws(arr.p + 1);
	} else {
		p = ws(it->p + it->len);
		if (*p != ',')
			return 0;
		p = ws(p + 1);
	}
	if (*p == ']')
		return 0;
	it->p = p;
	it->len = (size_t)(value_end(p) - p);
	return 1;
}

int jscan_int(struct jscan_val v, int64_t *out)
{
	if (jscan_type(v) != JSCAN_NUMBER || memchr(v.p, '.', v.len) != NULL ||
	    memchr(v.p, 'e', v.len) != NULL || memchr(v.p, 'E', v.len) != NULL)
		return -1;
	return int_of(v.p, v.len, out);
}

int jscan_real(struct jscan_val v, double *out)
{
	char text[64];

	if (jscan_type(v) != JSCAN_NUMBER || v.len >= sizeof(text))
		return -1;
	memcpy(text, v.p, v.len);
	text[v.len] = '\0';
	*out = strtod(text, NULL); /* the C locale's '.': smsq never calls setlocale */
	return 0;
}
