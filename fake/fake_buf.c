/*
 * fake_buf: text buffer and JSON and form writers (see fake_buf.h).
 *
 * DESIGN
 * The buffer doubles when it fills (from FAKE_BUF_FIRST bytes) and always
 * keeps a NUL after the text, so its p can be handed on as a C string.
 * Writers append; nothing is ever inserted or removed.
 */
#include "fake/fake_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define FAKE_BUF_FIRST 1024   /* bytes allocated at the first write */
#define FMT_STACK 256         /* fake_buf_fmt() formats this much on the stack */

void fake_buf_raw(struct fake_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : FAKE_BUF_FIRST;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void fake_buf_lit(struct fake_buf *b, const char *s)
{
	fake_buf_raw(b, s, strlen(s));
}

void fake_buf_fmt(struct fake_buf *b, const char *fmt, ...)
{
	char small[FMT_STACK];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		fake_buf_raw(b, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	fake_buf_raw(b, big, (size_t)n);
	free(big);
}

/* 1 if s is valid UTF-8 as jansson checks it (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u != '\0') {
		unsigned long cp, min;
		size_t len;

		if (*u < 0x80) {
			u++;
			continue;
		}
		if (*u >= 0xC2 && *u <= 0xDF)
			len = 2, cp = *u & 0x1F, min = 0x80;
		else if (*u >= 0xE0 && *u <= 0xEF)
			len = 3, cp = *u & 0x0F, min = 0x800;
		else if (*u >= 0xF0 && *u <= 0xF4)
			len = 4, cp = *u & 0x07, min = 0x10000;
		else
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((u[k] & 0xC0) != 0x80) /* also stops at the NUL */
				return 0;
			cp = cp << 6 | (u[k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		u += len;
	}
	return 1;
}

void fake_buf_json_str(struct fake_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF"; /* jansson: \\u%04X */
	int valid;

	if (s == NULL) {
		fake_buf_lit(b, "null");
		return;
	}
	valid = utf8_valid(s);
	fake_buf_raw(b, "\"", 1);
	for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
		const char *esc = NULL;
		char c = (char)*u, u00[6];

		switch (*u) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (*u < 0x20) {
				memcpy(u00, "\\u00", 4);
				u00[4] = hex[*u >> 4];
				u00[5] = hex[*u & 0x0f];
				fake_buf_raw(b, u00, 6);
				continue;
			}
			if (*u >= 0x80 && !valid)
				c = '?';
			break;
		}
		if (esc != NULL)
			fake_buf_lit(b, esc);
		else
			fake_buf_raw(b, &c, 1);
	}
	fake_buf_raw(b, "\"", 1);
}

void fake_buf_json_key(struct fake_buf *b, const char *key, int first)
{
	if (!first)
		fake_buf_raw(b, ",", 1);
	fake_buf_json_str(b, key);
	fake_buf_raw(b, ":", 1);
}

void fake_buf_json_kv(struct fake_buf *b, const char *key, const char *value, int first)
{
	fake_buf_json_key(b, key, first);
	fake_buf_json_str(b, value);
}

void fake_buf_json_kraw(struct fake_buf *b, const char *key, const char *raw, int first)
{
	fake_buf_json_key(b, key, first);
	fake_buf_lit(b, raw);
}

/* Append s form-encoded. */
static void form_escape(struct fake_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
		char pct[3] = { '%', hex[*u >> 4], hex[*u & 0x0f] };

		if ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
		    (*u >= '0' && *u <= '9') || *u == '-' || *u == '.' || *u == '_' || *u == '*')
			fake_buf_raw(b, (const char *)u, 1);
		else if (*u == ' ')
			fake_buf_raw(b, "+", 1);
		else
			fake_buf_raw(b, pct, sizeof(pct));
	}
}

void fake_buf_form(struct fake_buf *b, const char *name, const char *value, int first)
{
	if (!first)
		fake_buf_raw(b, "&", 1);
	form_escape(b, name);
	fake_buf_raw(b, "=", 1);
	form_escape(b, value);
}

void fake_buf_free(struct fake_buf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	memset(b, 0, sizeof(*b));
}
