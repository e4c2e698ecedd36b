/*
 * test_jscan: the in-place JSON reader (common/jscan.h).
 *
 * What is tested: accepted documents and what the reads give (the root's
 * span, jscan_get with decoded keys of any length, repeated keys and
 * chaining on absent values, jscan_next over arrays, jscan_str with every
 * escape and at the exact buffer size, jscan_int at the limits of int64,
 * jscan_real); refused documents (empty, trailing garbage, truncation at
 * every length, literals, numbers, out-of-range integers, control
 * characters, escapes, surrogates, \u0000, invalid UTF-8, missing or extra
 * separators, non-string keys, nesting past JSCAN_MAX_DEPTH, NUL bytes);
 * and a differential run against jansson's json_loadb() on a few thousand
 * generated documents and their mutations.
 *
 * Every document is copied into a malloc'd buffer of exactly its length
 * (no NUL after it), and jscan_str() writes into buffers of exactly the
 * capacity it is given, so a read or write past the end is an
 * AddressSanitizer error.  Most cases are rows of tables; a failing row
 * prints its name, a failing generated document prints itself hex-escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jscan.h"

/* A literal and its length, NUL bytes inside included. */
#define T(s) s, sizeof(s) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define E_ACUTE "\xC3\xA9"            /* U+00E9 */
#define EURO "\xE2\x82\xAC"           /* U+20AC */
#define GRIN "\xF0\x9F\x98\x80"       /* U+1F600, \ud83d\ude00 */

/* A document parsed from a buffer of exactly its length. */
struct doc {
	char *buf;
	size_t len;
	struct jscan_val root;
	char why[160];
	int rc;
};

static int doc_parse(struct doc *d, const char *text, size_t len)
{
	d->buf = malloc(len);
	assert_true(d->buf != NULL || len == 0);
	if (len > 0)
		memcpy(d->buf, text, len);
	d->len = len;
	d->root.p = "not set";          /* a refusal must make it absent */
	d->root.len = 7;
	memset(d->why, 'X', sizeof(d->why) - 1);
	d->why[sizeof(d->why) - 1] = '\0';
	d->rc = jscan_parse(d->buf, len, &d->root, d->why, sizeof(d->why));
	return d->rc;
}

static void doc_free(struct doc *d)
{
	free(d->buf);
	d->buf = NULL;
}

/* buf as a C literal body: printable ASCII kept, the rest as \xHH (malloc'd). */
static char *hex_escape(const char *buf, size_t len)
{
	char *s = malloc(4 * len + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c >= 0x20 && c < 0x7F && c != '\\' && c != '"')
			*p++ = (char)c;
		else
			p += sprintf(p, "\\x%02X", c);
	}
	*p = '\0';
	return s;
}

/*
 * A refusal as the header says: -1, root absent, why NUL-terminated and
 * "<reason> at byte N" with N within the document.  0 with what set if not.
 */
static int refused_properly(const struct doc *d, char *what, size_t cap)
{
	const char *at;
	char *end;
	unsigned long long off;

	if (d->rc != -1) {
		snprintf(what, cap, "jscan_parse returned %d, want -1", d->rc);
		return 0;
	}
	if (d->root.p != NULL) {
		snprintf(what, cap, "root not absent after a refusal");
		return 0;
	}
	if (memchr(d->why, '\0', sizeof(d->why)) == NULL) {
		snprintf(what, cap, "why not NUL-terminated");
		return 0;
	}
	at = strstr(d->why, "at byte ");
	if (at == NULL || at == d->why) {
		snprintf(what, cap, "why \"%s\": no \"<reason> at byte N\"", d->why);
		return 0;
	}
	off = strtoull(at + 8, &end, 10);
	if (end == at + 8 || off > d->len) {
		snprintf(what, cap, "why \"%s\": offset not in [0, %zu]", d->why, d->len);
		return 0;
	}
	return 1;
}

/* v is the text want (NULL: absent) inside d's buffer. */
static int span_is(const struct doc *d, struct jscan_val v, const char *want)
{
	if (want == NULL)
		return v.p == NULL && jscan_type(v) == JSCAN_ABSENT;
	return v.p != NULL && v.p >= d->buf && v.len <= d->len &&
	       (size_t)(v.p - d->buf) <= d->len - v.len && v.len == strlen(want) &&
	       memcmp(v.p, want, v.len) == 0;
}

/* "abc" from the value's span, for messages (static buffer). */
static const char *span_text(struct jscan_val v)
{
	static char s[200];

	if (v.p == NULL)
		return "(absent)";
	snprintf(s, sizeof(s), "%.*s", (int)(v.len < 150 ? v.len : 150), v.p);
	return s;
}

static void parse_or_fail(struct doc *d, const char *name, const char *text, size_t len)
{
	if (doc_parse(d, text, len) != 0) {
		char *hex = hex_escape(text, len);

		print_error("case \"%s\": \"%s\" refused: %s\n", name, hex, d->why);
		free(hex);
		doc_free(d);
		fail();
	}
}

/* ---- accepted documents ------------------------------------------------------------------- */

static void test_roots(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *text;
		size_t len;
		enum jscan_type type;
		const char *span;
	} cases[] = {
		{"object", T("{\"a\":1}"), JSCAN_OBJECT, "{\"a\":1}"},
		{"empty object", T("{}"), JSCAN_OBJECT, "{}"},
		{"empty object, white space inside", T("{ \t\r\n }"), JSCAN_OBJECT, "{ \t\r\n }"},
		{"array", T("[1,\"a\",true,false,null,{},[]]"), JSCAN_ARRAY,
		 "[1,\"a\",true,false,null,{},[]]"},
		{"empty array", T("[]"), JSCAN_ARRAY, "[]"},
		{"empty array, white space inside", T("[ \n ]"), JSCAN_ARRAY, "[ \n ]"},
		{"nested", T("{\"a\":{\"b\":[1,{\"c\":[[]]}]}}"), JSCAN_OBJECT,
		 "{\"a\":{\"b\":[1,{\"c\":[[]]}]}}"},
		{"string", T("\"abc\""), JSCAN_STRING, "\"abc\""},
		{"empty string", T("\"\""), JSCAN_STRING, "\"\""},
		{"string with escapes", T("\"a\\\"b\\u00e9\""), JSCAN_STRING, "\"a\\\"b\\u00e9\""},
		{"integer", T("42"), JSCAN_NUMBER, "42"},
		{"negative integer", T("-7"), JSCAN_NUMBER, "-7"},
		{"zero", T("0"), JSCAN_NUMBER, "0"},
		{"minus zero", T("-0"), JSCAN_NUMBER, "-0"},
		{"real", T("3.25"), JSCAN_NUMBER, "3.25"},
		{"exponent", T("1e3"), JSCAN_NUMBER, "1e3"},
		{"full number", T("-12.5E+3"), JSCAN_NUMBER, "-12.5E+3"},
		{"true", T("true"), JSCAN_TRUE, "true"},
		{"false", T("false"), JSCAN_FALSE, "false"},
		{"null", T("null"), JSCAN_NULL, "null"},
		{"white space around an object", T(" \t\r\n{\"a\" : [ 1 , 2 ] }\n\r\t "),
		 JSCAN_OBJECT, "{\"a\" : [ 1 , 2 ] }"},
		{"white space around an array", T("\n[]\n"), JSCAN_ARRAY, "[]"},
		{"white space around a number", T("\n 12 \n"), JSCAN_NUMBER, "12"},
		{"white space around a string", T("  \"x y\"  "), JSCAN_STRING, "\"x y\""},
		{"white space around true", T("\ttrue\t"), JSCAN_TRUE, "true"},
		{"white space around null", T("\r\nnull\r\n"), JSCAN_NULL, "null"},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;

		parse_or_fail(&d, cases[k].name, cases[k].text, cases[k].len);
		if (jscan_type(d.root) != cases[k].type || !span_is(&d, d.root, cases[k].span)) {
			print_error("case \"%s\": root type %d \"%s\", want %d \"%s\"\n",
				    cases[k].name, jscan_type(d.root), span_text(d.root),
				    cases[k].type, cases[k].span);
			doc_free(&d);
			fail();
		}
		doc_free(&d);
	}
}

#define DOC1 "{\"id\":\"m-1\",\"n\":42,\"r\":1.5,\"t\":true,\"f\":false,\"z\":null," \
	     "\"o\":{\"a\":{\"b\":\"deep\"}},\"arr\":[1,{\"a\":2}],\"e\":{},\"ea\":[]}"

static void test_get(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *doc;
		const char *keys[5];    /* looked up in turn from the root, NULL-terminated */
		enum jscan_type type;
		const char *span;       /* NULL: absent */
	} cases[] = {
		{"string member", DOC1, {"id"}, JSCAN_STRING, "\"m-1\""},
		{"integer member", DOC1, {"n"}, JSCAN_NUMBER, "42"},
		{"real member", DOC1, {"r"}, JSCAN_NUMBER, "1.5"},
		{"true member", DOC1, {"t"}, JSCAN_TRUE, "true"},
		{"false member", DOC1, {"f"}, JSCAN_FALSE, "false"},
		{"null member", DOC1, {"z"}, JSCAN_NULL, "null"},
		{"object member", DOC1, {"o"}, JSCAN_OBJECT, "{\"a\":{\"b\":\"deep\"}}"},
		{"chain of three", DOC1, {"o", "a", "b"}, JSCAN_STRING, "\"deep\""},
		{"array member", DOC1, {"arr"}, JSCAN_ARRAY, "[1,{\"a\":2}]"},
		{"empty object member", DOC1, {"e"}, JSCAN_OBJECT, "{}"},
		{"empty array member", DOC1, {"ea"}, JSCAN_ARRAY, "[]"},
		{"last member", DOC1, {"ea"}, JSCAN_ARRAY, "[]"},
		{"absent key", DOC1, {"nope"}, JSCAN_ABSENT, NULL},
		{"key of a nested object only", DOC1, {"a"}, JSCAN_ABSENT, NULL},
		{"key two levels down only", DOC1, {"b"}, JSCAN_ABSENT, NULL},
		{"key in an empty object", DOC1, {"e", "a"}, JSCAN_ABSENT, NULL},
		{"prefix of a key", DOC1, {"i"}, JSCAN_ABSENT, NULL},
		{"key longer than a key", DOC1, {"idx"}, JSCAN_ABSENT, NULL},
		{"case differs", DOC1, {"ID"}, JSCAN_ABSENT, NULL},
		{"empty key absent", DOC1, {""}, JSCAN_ABSENT, NULL},
		{"chain through absent", DOC1, {"nope", "a", "b"}, JSCAN_ABSENT, NULL},
		{"chain past a leaf", DOC1, {"o", "a", "b", "c"}, JSCAN_ABSENT, NULL},
		{"get on a string", DOC1, {"id", "m-1"}, JSCAN_ABSENT, NULL},
		{"get on a number", DOC1, {"n", "x"}, JSCAN_ABSENT, NULL},
		{"get on true", DOC1, {"t", "x"}, JSCAN_ABSENT, NULL},
		{"get on null", DOC1, {"z", "x"}, JSCAN_ABSENT, NULL},
		{"get on an array", DOC1, {"arr", "a"}, JSCAN_ABSENT, NULL},
		{"get on an array by index", DOC1, {"arr", "0"}, JSCAN_ABSENT, NULL},
		{"get on an array root", "[{\"a\":1}]", {"a"}, JSCAN_ABSENT, NULL},
		{"get on a string root", "\"a\"", {"a"}, JSCAN_ABSENT, NULL},
		{"get on a number root", "1", {"a"}, JSCAN_ABSENT, NULL},
		{"get on a null root", "null", {"a"}, JSCAN_ABSENT, NULL},
		{"string value equal to the key", "{\"x\":\"id\",\"y\":1}", {"id"}, JSCAN_ABSENT,
		 NULL},
		{"key-like text in a string", "{\"x\":\"\\\"b\\\":1\"}", {"b"}, JSCAN_ABSENT, NULL},
		{"key-like text in a string, then the key",
		 "{\"x\":\"\\\",\\\"b\\\":1\",\"b\":2}", {"b"}, JSCAN_NUMBER, "2"},
		{"key inside an array element skipped", "{\"l\":[{\"k\":1}],\"k\":2}", {"k"},
		 JSCAN_NUMBER, "2"},
		{"key only inside an array element", "{\"l\":[{\"k\":1}]}", {"k"}, JSCAN_ABSENT,
		 NULL},
		{"key after a nested object", "{\"o\":{\"k\":1,\"m\":{\"k\":3}},\"k\":2}", {"k"},
		 JSCAN_NUMBER, "2"},
		{"escaped key (\\u0069)", "{\"s\\u0069d\":\"x\"}", {"sid"}, JSCAN_STRING, "\"x\""},
		{"escaped key not matched by its escaped text", "{\"s\\u0069d\":\"x\"}",
		 {"s\\u0069d"}, JSCAN_ABSENT, NULL},
		{"escaped quote in key", "{\"a\\\"b\":1}", {"a\"b"}, JSCAN_NUMBER, "1"},
		{"escaped backslash in key", "{\"a\\\\b\":1}", {"a\\b"}, JSCAN_NUMBER, "1"},
		{"escaped slash in key", "{\"a\\/b\":1}", {"a/b"}, JSCAN_NUMBER, "1"},
		{"escaped newline in key", "{\"a\\nb\":1}", {"a\nb"}, JSCAN_NUMBER, "1"},
		{"accented key, escaped", "{\"\\u00e9t\\u00E9\":1}", {E_ACUTE "t" E_ACUTE},
		 JSCAN_NUMBER, "1"},
		{"accented key, raw", "{\"" E_ACUTE "t" E_ACUTE "\":1}", {E_ACUTE "t" E_ACUTE},
		 JSCAN_NUMBER, "1"},
		{"surrogate pair key", "{\"\\ud83d\\ude00\":1}", {GRIN}, JSCAN_NUMBER, "1"},
		{"escaped key is a prefix only", "{\"s\\u0069dx\":1}", {"sid"}, JSCAN_ABSENT, NULL},
		{"empty key", "{\"\":5}", {""}, JSCAN_NUMBER, "5"},
		{"repeated key: last value", "{\"k\":1,\"k\":2}", {"k"}, JSCAN_NUMBER, "2"},
		{"repeated key three times", "{\"k\":1,\"k\":2,\"k\":3}", {"k"}, JSCAN_NUMBER, "3"},
		{"repeated key, other type last", "{\"k\":1,\"x\":0,\"k\":{\"a\":3}}", {"k"},
		 JSCAN_OBJECT, "{\"a\":3}"},
		{"repeated key, escaped last", "{\"sid\":1,\"s\\u0069d\":2}", {"sid"}, JSCAN_NUMBER,
		 "2"},
		{"repeated key, escaped first", "{\"s\\u0069d\":1,\"sid\":2}", {"sid"},
		 JSCAN_NUMBER, "2"},
		{"repeated object key, first one's member", "{\"o\":{\"a\":1},\"o\":{\"b\":2}}",
		 {"o", "a"}, JSCAN_ABSENT, NULL},
		{"repeated object key, last one's member", "{\"o\":{\"a\":1},\"o\":{\"b\":2}}",
		 {"o", "b"}, JSCAN_NUMBER, "2"},
		{"white space everywhere", "{ \"a\" : 1 , \"b\" : [ 2 ] }", {"b"}, JSCAN_ARRAY,
		 "[ 2 ]"},
		{"white space, first member", "{ \"a\" : 1 , \"b\" : [ 2 ] }", {"a"}, JSCAN_NUMBER,
		 "1"},
		{"every kind of white space", "{\r\n\t \"a\"\r:\r1\r,\r\"b\"\t:\n[\r2\r]\r}", {"b"},
		 JSCAN_ARRAY, "[\r2\r]"},
		{"string member with escapes", "{\"s\":\"a\\\"}\"}", {"s"}, JSCAN_STRING,
		 "\"a\\\"}\""},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		struct jscan_val v;

		parse_or_fail(&d, cases[k].name, cases[k].doc, strlen(cases[k].doc));
		v = d.root;
		for (size_t i = 0; i < NELEM(cases[k].keys) && cases[k].keys[i] != NULL; i++) {
			struct jscan_val m = {"stale", 5};
			const char *key = cases[k].keys[i];
			size_t found = jscan_members(v, &key, &m, 1);
			struct jscan_val g = jscan_get(v, key);

			/* one walk for one key is jscan_get */
			assert_ptr_equal(m.p, g.p);
			assert_int_equal(m.len, g.len);
			assert_int_equal(found, g.p != NULL);
			v = g;
		}
		if (jscan_type(v) != cases[k].type || !span_is(&d, v, cases[k].span)) {
			print_error("case \"%s\": got type %d \"%s\", want %d \"%s\"\n",
				    cases[k].name, jscan_type(v), span_text(v), cases[k].type,
				    cases[k].span ? cases[k].span : "(absent)");
			doc_free(&d);
			fail();
		}
		doc_free(&d);
	}
}

/* Every call takes the absent value. */
static void test_absent_everywhere(void **state)
{
	struct jscan_val none = {NULL, 0}, it = {NULL, 0};
	char out[8];
	int64_t x = 0;

	(void)state;
	assert_int_equal(jscan_type(none), JSCAN_ABSENT);
	assert_null(jscan_get(none, "a").p);
	assert_null(jscan_get(jscan_get(jscan_get(none, "a"), "b"), "").p);
	{
		const char *keys[2] = {"a", "b"};
		struct jscan_val vals[2] = {{"x", 1}, {"y", 1}};

		assert_int_equal(jscan_members(none, keys, vals, 2), 0);
		assert_null(vals[0].p);
		assert_null(vals[1].p);
	}
	assert_int_equal(jscan_next(none, &it), 0);
	memset(out, 'X', sizeof(out));
	assert_int_equal(jscan_str(none, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(jscan_int(none, &x), -1);
}

/* Keys of any length are compared decoded, escaped or not. */
static void test_get_long_keys(void **state)
{
	static const size_t lens[] = {1, 200, 254, 255, 256, 257, 300, 1000, 5000};
	unsigned failed = 0;

	(void)state;
	for (size_t k = 0; k < NELEM(lens); k++) {
		size_t n = lens[k];
		char *key = malloc(n + 1), *text = malloc(n + 32), *other = malloc(n + 2);

		assert_non_null(key);
		assert_non_null(text);
		assert_non_null(other);
		memset(key, 'k', n);
		key[n] = '\0';
		memset(other, 'k', n + 1);
		other[n + 1] = '\0';
		for (int escaped = 0; escaped <= 1; escaped++) {
			struct doc d;
			struct jscan_val v;
			int64_t x = 0;

			/* {"<key>":1} with the key's first letter raw or as \u006b */
			snprintf(text, n + 32, "{\"%s%s\":1}", escaped ? "\\u006b" : "k", key + 1);
			parse_or_fail(&d, "long key", text, strlen(text));
			v = jscan_get(d.root, key);
			if (jscan_int(v, &x) != 0 || x != 1) {
				print_error("key of %zu bytes%s not found\n", n,
					    escaped ? " (escaped in the document)" : "");
				failed++;
			}
			/* one byte longer: absent */
			assert_null(jscan_get(d.root, other).p);
			doc_free(&d);
		}
		free(key);
		free(text);
		free(other);
	}
	if (failed > 0)
		fail_msg("%u long keys not found", failed);
}

static void test_next(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *doc;
		const char *key;        /* the array is this member of the root; NULL: the root */
		const char *elems[8];   /* the elements' texts, NULL-terminated */
	} cases[] = {
		{"empty", "[]", NULL, {NULL}},
		{"empty, white space inside", "[ \n\t ]", NULL, {NULL}},
		{"one element", "[7]", NULL, {"7"}},
		{"scalars", "[1,\"a\",true,false,null,-2.5e3]", NULL,
		 {"1", "\"a\"", "true", "false", "null", "-2.5e3"}},
		{"white space between", "[ 1 , [ 2 ] , { \"a\" : 3 } ]", NULL,
		 {"1", "[ 2 ]", "{ \"a\" : 3 }"}},
		{"every kind of white space", "[\r1\r,\t2\n,\r\n\t 3\r]", NULL, {"1", "2", "3"}},
		{"nested arrays", "[[1,2],[],[[3]]]", NULL, {"[1,2]", "[]", "[[3]]"}},
		{"brackets and commas in strings", "[\"a,b\",\"]\",\"[\",\",\\\"]\"]", NULL,
		 {"\"a,b\"", "\"]\"", "\"[\"", "\",\\\"]\""}},
		{"array of objects", "[{\"id\":1},{\"id\":2,\"x\":[3,4]},{}]", NULL,
		 {"{\"id\":1}", "{\"id\":2,\"x\":[3,4]}", "{}"}},
		{"member array", "{\"a\":[1,2],\"b\":3}", "a", {"1", "2"}},
		{"empty member array", "{\"a\":[],\"b\":[1]}", "a", {NULL}},
		{"not an array: object", "{\"a\":1}", NULL, {NULL}},
		{"not an array: member object", "{\"a\":{\"b\":1}}", "a", {NULL}},
		{"not an array: string", "\"[1,2]\"", NULL, {NULL}},
		{"not an array: number", "12", NULL, {NULL}},
		{"not an array: true", "true", NULL, {NULL}},
		{"not an array: null", "null", NULL, {NULL}},
		{"absent", "{}", "x", {NULL}},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		struct jscan_val arr, it = {NULL, 0};
		size_t n = 0;

		parse_or_fail(&d, cases[k].name, cases[k].doc, strlen(cases[k].doc));
		arr = cases[k].key ? jscan_get(d.root, cases[k].key) : d.root;
		while (jscan_next(arr, &it)) {
			if (n >= NELEM(cases[k].elems) - 1 || cases[k].elems[n] == NULL ||
			    !span_is(&d, it, cases[k].elems[n])) {
				print_error("case \"%s\": element %zu is \"%s\", want \"%s\"\n",
					    cases[k].name, n, span_text(it),
					    n < NELEM(cases[k].elems) && cases[k].elems[n] ?
					    cases[k].elems[n] : "(the end)");
				doc_free(&d);
				fail();
			}
			n++;
		}
		if (cases[k].elems[n] != NULL) {
			print_error("case \"%s\": walk ended after %zu elements, want \"%s\"\n",
				    cases[k].name, n, cases[k].elems[n]);
			doc_free(&d);
			fail();
		}
		doc_free(&d);
	}
}

/* Walks inside walks, and two walks of one array side by side. */
static void test_next_nested(void **state)
{
	static const char matrix[] = "[[1,2,3],[],[4,[5,6]],[[]],[7]]";
	static const char answer[] =
		"{\"messages\":[{\"id\":\"a\",\"status\":\"ok\"},"
		"{\"status\":{\"code\":7},\"id\":\"b\"},{\"x\":[{\"id\":\"no\"}]}],\"total\":3}";
	struct doc d;
	struct jscan_val row = {NULL, 0}, it, deep, msg = {NULL, 0}, a = {NULL, 0}, b;
	const struct jscan_val none = {NULL, 0};
	int64_t x, sum = 0;
	size_t rows = 0, pairs = 0;
	char id[8];
	const char *ids[3] = {"a", "b", ""};
	int64_t codes[3] = {-1, 7, -1};

	(void)state;
	parse_or_fail(&d, "matrix", T(matrix));
	while (jscan_next(d.root, &row)) {
		assert_int_equal(jscan_type(row), JSCAN_ARRAY);
		rows++;
		it = none;
		while (jscan_next(row, &it)) {
			if (jscan_type(it) == JSCAN_ARRAY) {
				deep = none;
				while (jscan_next(it, &deep)) {
					assert_int_equal(jscan_int(deep, &x), 0);
					sum += x * 100;
				}
			} else {
				assert_int_equal(jscan_int(it, &x), 0);
				sum += x;
			}
		}
	}
	assert_int_equal(rows, 5);
	assert_int_equal(sum, 1 + 2 + 3 + 4 + 500 + 600 + 7);
	/* the iterator is the only state: two walks of one array at once */
	while (jscan_next(d.root, &a)) {
		b = none;
		while (jscan_next(d.root, &b))
			pairs++;
	}
	assert_int_equal(pairs, 25);
	doc_free(&d);

	parse_or_fail(&d, "provider answer", T(answer));
	rows = 0;
	while (jscan_next(jscan_get(d.root, "messages"), &msg)) {
		assert_true(rows < 3);
		if (rows < 2) {
			assert_int_equal(jscan_str(jscan_get(msg, "id"), id, sizeof(id)),
					 strlen(ids[rows]));
		} else {
			assert_int_equal(jscan_str(jscan_get(msg, "id"), id, sizeof(id)), -1);
		}
		assert_string_equal(id, ids[rows]);
		if (codes[rows] < 0) {
			assert_int_equal(jscan_int(jscan_get(jscan_get(msg, "status"), "code"), &x),
					 -1);
		} else {
			assert_int_equal(jscan_int(jscan_get(jscan_get(msg, "status"), "code"), &x),
					 0);
			assert_int_equal(x, codes[rows]);
		}
		rows++;
	}
	assert_int_equal(rows, 3);
	assert_int_equal(jscan_int(jscan_get(d.root, "total"), &x), 0);
	assert_int_equal(x, 3);
	doc_free(&d);
}

/* ---- strings ------------------------------------------------------------------------------ */

static void test_str_escapes(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *doc;
		size_t doclen;
		const char *want;
		size_t wantlen;
	} cases[] = {
		{"plain", T("\"abc\""), T("abc")},
		{"empty", T("\"\""), T("")},
		{"quote", T("\"\\\"\""), T("\"")},
		{"backslash", T("\"\\\\\""), T("\\")},
		{"slash", T("\"\\/\""), T("/")},
		{"unescaped slash", T("\"a/b\""), T("a/b")},
		{"backspace", T("\"\\b\""), T("\b")},
		{"form feed", T("\"\\f\""), T("\f")},
		{"newline", T("\"\\n\""), T("\n")},
		{"carriage return", T("\"\\r\""), T("\r")},
		{"tab", T("\"\\t\""), T("\t")},
		{"every short escape", T("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\""),
		 T("a\"b\\c/d\be\ff\ng\rh\ti")},
		{"short escapes back to back", T("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""),
		 T("\"\\/\b\f\n\r\t")},
		{"escaped backslash then u", T("\"\\\\u0041\""), T("\\u0041")},
		{"\\u0041", T("\"\\u0041\""), T("A")},
		{"\\u0001", T("\"\\u0001\""), T("\x01")},
		{"\\u001f", T("\"\\u001f\""), T("\x1F")},
		{"\\u007f", T("\"\\u007f\""), T("\x7F")},
		{"\\u0080", T("\"\\u0080\""), T("\xC2\x80")},
		{"\\u00e9", T("\"\\u00e9\""), T(E_ACUTE)},
		{"\\u00E9 upper case", T("\"\\u00E9\""), T(E_ACUTE)},
		{"\\u07ff", T("\"\\u07ff\""), T("\xDF\xBF")},
		{"\\u0800", T("\"\\u0800\""), T("\xE0\xA0\x80")},
		{"\\u20ac", T("\"\\u20aC\""), T(EURO)},
		{"\\ud7ff", T("\"\\ud7ff\""), T("\xED\x9F\xBF")},
		{"\\ue000", T("\"\\ue000\""), T("\xEE\x80\x80")},
		{"\\ufeff", T("\"\\ufeff\""), T("\xEF\xBB\xBF")},
		{"\\uffff", T("\"\\uffff\""), T("\xEF\xBF\xBF")},
		{"surrogate pair U+1F600", T("\"\\ud83d\\ude00\""), T(GRIN)},
		{"surrogate pair upper case", T("\"\\uD83D\\uDE00\""), T(GRIN)},
		{"surrogate pair mixed case", T("\"\\uD83d\\udE00\""), T(GRIN)},
		{"surrogate pair U+10000", T("\"\\uD800\\uDC00\""), T("\xF0\x90\x80\x80")},
		{"surrogate pair U+10FFFF", T("\"\\uDBFF\\uDFFF\""), T("\xF4\x8F\xBF\xBF")},
		{"two surrogate pairs", T("\"\\ud83d\\ude00\\ud83d\\ude00\""), T(GRIN GRIN)},
		{"raw UTF-8 kept", T("\"" E_ACUTE EURO GRIN "\""), T(E_ACUTE EURO GRIN)},
		{"raw U+10FFFF", T("\"\xF4\x8F\xBF\xBF\""), T("\xF4\x8F\xBF\xBF")},
		{"raw DEL", T("\"\x7F\""), T("\x7F")},
		{"mixed", T("\"x\\u00e9\\n" EURO "\\ud83d\\ude00y\\\\\""),
		 T("x" E_ACUTE "\n" EURO GRIN "y\\")},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		size_t n = cases[k].wantlen;
		char *out = malloc(n + 1), *shorter = malloc(n ? n : 1);
		long r, r2 = -1;

		assert_non_null(out);
		assert_non_null(shorter);
		parse_or_fail(&d, cases[k].name, cases[k].doc, cases[k].doclen);
		memset(out, 'X', n + 1);
		r = jscan_str(d.root, out, n + 1);
		if (r != (long)n || memcmp(out, cases[k].want, n) != 0 || out[n] != '\0') {
			char *got = hex_escape(out, r >= 0 && (size_t)r <= n ? (size_t)r : 0);
			char *want = hex_escape(cases[k].want, n);

			print_error("case \"%s\": jscan_str returned %ld \"%s\", want %zu \"%s\"\n",
				    cases[k].name, r, got, n, want);
			free(got);
			free(want);
			free(out);
			free(shorter);
			doc_free(&d);
			fail();
		}
		if (n > 0) {
			memset(shorter, 'X', n);
			r2 = jscan_str(d.root, shorter, n);
			if (r2 != -1 || shorter[0] != '\0') {
				print_error("case \"%s\": one byte short: returned %ld, "
					    "out[0] %#x\n", cases[k].name, r2,
					    (unsigned char)shorter[0]);
				free(out);
				free(shorter);
				doc_free(&d);
				fail();
			}
		}
		free(out);
		free(shorter);
		doc_free(&d);
	}
}

static void test_str_capacity(void **state)
{
	static const char text[] = "{\"s\":\"h\\u00e9llo\",\"g\":\"\\ud83d\\ude00\",\"e\":\"\","
				   "\"x\":\"ab\"}";
	struct doc d;
	struct jscan_val s, g, e;
	char big[64];

	(void)state;
	parse_or_fail(&d, "capacity", T(text));
	s = jscan_get(d.root, "s");
	g = jscan_get(d.root, "g");
	e = jscan_get(d.root, "e");
	/* "h\u00e9llo" is 6 bytes decoded, 13 of text */
	for (size_t cap = 1; cap <= 14; cap++) {
		char *out = malloc(cap);
		long r;

		assert_non_null(out);
		memset(out, 'X', cap);
		r = jscan_str(s, out, cap);
		if (cap >= 7) {
			assert_int_equal(r, 6);
			assert_string_equal(out, "h" E_ACUTE "llo");
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(out, "");
		}
		memset(out, 'X', cap);
		r = jscan_str(g, out, cap);
		if (cap >= 5) {
			assert_int_equal(r, 4);
			assert_string_equal(out, GRIN);
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(out, "");
		}
		memset(out, 'X', cap);
		assert_int_equal(jscan_str(e, out, cap), 0);
		assert_string_equal(out, "");
		free(out);
	}
	assert_int_equal(jscan_str(s, big, sizeof(big)), 6);
	assert_int_equal(jscan_str(jscan_get(d.root, "x"), big, sizeof(big)), 2);
	assert_string_equal(big, "ab");
	doc_free(&d);
}

static void test_str_not_string(void **state)
{
	static const char text[] = "{\"n\":1,\"r\":1.5,\"t\":true,\"f\":false,\"z\":null,"
				   "\"o\":{\"s\":\"x\"},\"a\":[\"x\"],\"s\":\"x\"}";
	static const char *const keys[] = {"n", "r", "t", "f", "z", "o", "a", "absent"};
	struct doc d;
	char out[16];

	(void)state;
	parse_or_fail(&d, "not strings", T(text));
	for (size_t k = 0; k < NELEM(keys); k++) {
		long r;

		memset(out, 'X', sizeof(out));
		r = jscan_str(jscan_get(d.root, keys[k]), out, sizeof(out));
		if (r != -1 || out[0] != '\0') {
			print_error("member \"%s\": jscan_str returned %ld, out[0] %#x\n", keys[k],
				    r, (unsigned char)out[0]);
			fail();
		}
	}
	memset(out, 'X', sizeof(out));
	assert_int_equal(jscan_str(d.root, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(jscan_str(jscan_get(d.root, "s"), out, sizeof(out)), 1);
	assert_string_equal(out, "x");
	doc_free(&d);
}

/* ---- integers ----------------------------------------------------------------------------- */

static void test_int(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *text;
		int rc;
		int64_t value;
	} cases[] = {
		{"zero", "0", 0, 0},
		{"minus zero", "-0", 0, 0},
		{"one", "1", 0, 1},
		{"minus one", "-1", 0, -1},
		{"42", "42", 0, 42},
		{"white space around", " \n7\t", 0, 7},
		{"13 digits", "1234567890123", 0, INT64_C(1234567890123)},
		{"2^53 + 1", "9007199254740993", 0, INT64_C(9007199254740993)},
		{"INT64_MAX", "9223372036854775807", 0, INT64_MAX},
		{"INT64_MAX - 1", "9223372036854775806", 0, INT64_MAX - 1},
		{"INT64_MIN", "-9223372036854775808", 0, INT64_MIN},
		{"INT64_MIN + 1", "-9223372036854775807", 0, INT64_MIN + 1},
		{"fraction", "1.5", -1, 0},
		{"zero fraction", "1.0", -1, 0},
		{"minus zero real", "-0.0", -1, 0},
		{"exponent", "1e3", -1, 0},
		{"upper case exponent", "1E3", -1, 0},
		{"zero exponent", "0e0", -1, 0},
		{"negative exponent", "100e-2", -1, 0},
		{"huge real (accepted)", "1e400", -1, 0},
		{"real beyond int64", "9223372036854775808.0", -1, 0},
		{"string of digits", "\"42\"", -1, 0},
		{"true", "true", -1, 0},
		{"false", "false", -1, 0},
		{"null", "null", -1, 0},
		{"array", "[1]", -1, 0},
		{"object", "{\"a\":1}", -1, 0},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		int64_t x = 12345;
		int rc;

		parse_or_fail(&d, cases[k].name, cases[k].text, strlen(cases[k].text));
		rc = jscan_int(d.root, &x);
		if (rc != cases[k].rc || (rc == 0 && x != cases[k].value)) {
			print_error("case \"%s\": jscan_int returned %d, %" PRId64 "; "
				    "want %d, %" PRId64 "\n", cases[k].name, rc, x, cases[k].rc,
				    cases[k].value);
			doc_free(&d);
			fail();
		}
		doc_free(&d);
	}
}

#define Z61 "0000000000" "0000000000" "0000000000" "0000000000" "0000000000" "0000000000" "0"

/* jscan_real: strtod of the number's text, -1 for non-numbers and texts over 63 bytes. */
static void test_real(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *text;
		int rc;
		double value;
	} cases[] = {
		{"fraction", "1.5", 0, 1.5},
		{"negative fraction", "-0.25", 0, -0.25},
		{"exponent", "1e3", 0, 1000.0},
		{"negative exponent", "25E-2", 0, 0.25},
		{"integer", "42", 0, 42.0},
		{"INT64_MIN", "-9223372036854775808", 0, -9223372036854775808.0},
		{"minus zero", "-0", 0, -0.0},
		{"overflow is HUGE_VAL", "1e999", 0, HUGE_VAL},
		{"negative overflow", "-1e999", 0, -HUGE_VAL},
		{"underflow", "1e-999", 0, 0.0},
		{"63 bytes", "1." Z61, 0, 1.0},
		{"64 bytes", "1.0" Z61, -1, 0},
		{"string", "\"1.5\"", -1, 0},
		{"true", "true", -1, 0},
		{"null", "null", -1, 0},
		{"array", "[1.5]", -1, 0},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		double x = 12345.0;
		int rc;

		parse_or_fail(&d, cases[k].name, cases[k].text, strlen(cases[k].text));
		rc = jscan_real(d.root, &x);
		if (rc != cases[k].rc ||
		    (rc == 0 && (x != cases[k].value || signbit(x) != signbit(cases[k].value)))) {
			print_error("case \"%s\": jscan_real returned %d, %g; want %d, %g\n",
				    cases[k].name, rc, x, cases[k].rc, cases[k].value);
			doc_free(&d);
			fail();
		}
		doc_free(&d);
	}
	assert_int_equal(jscan_real((struct jscan_val){NULL, 0}, &(double){0}), -1);
}

/* ---- refused documents -------------------------------------------------------------------- */

struct bad_case {
	const char *name;
	const char *text;
	size_t len;
};

static void check_refused(const struct bad_case *cases, size_t ncases)
{
	for (size_t k = 0; k < ncases; k++) {
		struct doc d;
		char what[256];

		doc_parse(&d, cases[k].text, cases[k].len);
		if (!refused_properly(&d, what, sizeof(what))) {
			char *hex = hex_escape(cases[k].text, cases[k].len);

			print_error("case \"%s\" (\"%s\", %zu bytes): %s\n", cases[k].name, hex,
				    cases[k].len, what);
			free(hex);
			doc_free(&d);
			fail();
		}
		doc_free(&d);
	}
}

#define CHECK_REFUSED(t) check_refused((t), NELEM(t))

static void test_refuse_structure(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"empty", T("")},
		{"one space", T(" ")},
		{"only white space", T(" \t\r\n")},
		{"form feed is not white space", T("\f1")},
		{"vertical tab is not white space", T("1\v")},
		{"NBSP is not white space", T("\xC2\xA0" "1")},
		{"byte order mark", T("\xEF\xBB\xBF{}")},
		{"object then x", T("{} x")},
		{"two objects", T("{}{}")},
		{"two objects, spaced", T("{} {}")},
		{"two arrays", T("[][]")},
		{"two numbers", T("1 2")},
		{"two strings", T("\"a\"\"b\"")},
		{"array then comma", T("[1],")},
		{"number then letter", T("1x")},
		{"true then letter", T("truex")},
		{"one closing bracket too many", T("[1]]")},
		{"one closing brace too many", T("{}}")},
		{"array not closed", T("[")},
		{"nested array not closed", T("[[]")},
		{"object not closed", T("{")},
		{"member object not closed", T("{\"a\":{}")},
		{"closing bracket alone", T("]")},
		{"closing brace alone", T("}")},
		{"colon alone", T(":")},
		{"comma alone", T(",")},
		{"brace closed by bracket", T("{]")},
		{"bracket closed by brace", T("[}")},
		{"object closed by bracket", T("{\"a\":1]")},
		{"array closed by brace", T("[1}")},
		{"missing comma in array", T("[1 2]")},
		{"missing comma between arrays", T("[[] []]")},
		{"missing comma between strings", T("[\"a\" \"b\"]")},
		{"missing comma between members", T("{\"a\":1 \"b\":2}")},
		{"missing colon", T("{\"a\" 1}")},
		{"comma for colon", T("{\"a\",1}")},
		{"key without value", T("{\"a\"}")},
		{"key and colon without value", T("{\"a\":}")},
		{"double colon", T("{\"a\"::1}")},
		{"value without key", T("{:1}")},
		{"colon in array", T("[1:2]")},
		{"leading comma in array", T("[,1]")},
		{"double comma in array", T("[1,,2]")},
		{"comma only array", T("[,]")},
		{"comma only object", T("{,}")},
		{"leading comma in object", T("{,\"a\":1}")},
		{"double comma in object", T("{\"a\":1,,\"b\":2}")},
		{"trailing comma in array", T("[1,]")},
		{"trailing comma in array, spaced", T("[1 , ] ")},
		{"trailing comma in object", T("{\"a\":1,}")},
		{"trailing comma in a member array", T("{\"a\":[1,],\"b\":2}")},
		{"number key", T("{1:2}")},
		{"bare word key", T("{a:1}")},
		{"single-quoted key", T("{'a':1}")},
		{"null key", T("{null:1}")},
		{"true key", T("{true:1}")},
		{"object key", T("{{}:1}")},
		{"array key", T("{[]:1}")},
		{"number key after a good member", T("{\"a\":1,2:3}")},
		{"single-quoted string", T("'a'")},
		{"string not closed", T("\"abc")},
		{"lone quote", T("\"")},
		{"string in array not closed", T("[\"a]")},
		{"bare word", T("abc")},
		{"block comment", T("/* c */ {}")},
		{"line comment", T("{} // c")},
		{"hash comment", T("# c\n{}")},
		{"comment in array", T("[1/*x*/]")},
	};
	CHECK_REFUSED(cases);
}

static void test_refuse_literals_numbers(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"tru", T("tru")},
		{"t", T("t")},
		{"nul", T("nul")},
		{"fals", T("fals")},
		{"True", T("True")},
		{"NULL", T("NULL")},
		{"FALSE", T("FALSE")},
		{"tRue", T("tRue")},
		{"nil", T("nil")},
		{"nulll", T("nulll")},
		{"falsee", T("falsee")},
		{"tru in array", T("[tru]")},
		{"nul as member", T("{\"a\":nul}")},
		{"true false", T("true false")},
		{"01", T("01")},
		{"-01", T("-01")},
		{"00", T("00")},
		{"01 in array", T("[01]")},
		{"0 then digits as member", T("{\"a\":007}")},
		{"minus alone", T("-")},
		{"minus as member", T("{\"a\":-}")},
		{"minus letter", T("-a")},
		{"minus space one", T("- 1")},
		{"double minus", T("--1")},
		{"1.", T("1.")},
		{"0.", T("0.")},
		{"1. in array", T("[1.]")},
		{".5", T(".5")},
		{"-.5", T("-.5")},
		{"1.e3", T("1.e3")},
		{"1e", T("1e")},
		{"1e+", T("1e+")},
		{"1E-", T("1E-")},
		{"1.5e", T("1.5e")},
		{"1e in array", T("[1e]")},
		{"1e1.5", T("1e1.5")},
		{"1e2e3", T("1e2e3")},
		{"1..2", T("1..2")},
		{"1.2.3", T("1.2.3")},
		{"+1", T("+1")},
		{"+1 in array", T("[+1]")},
		{"0x10", T("0x10")},
		{"1_000", T("1_000")},
		{"Infinity", T("Infinity")},
		{"-Infinity", T("-Infinity")},
		{"NaN", T("NaN")},
		{"2^63", T("9223372036854775808")},
		{"-2^63 - 1", T("-9223372036854775809")},
		{"2^64", T("18446744073709551616")},
		{"20 nines", T("99999999999999999999")},
		{"-2^63 times 10", T("-92233720368547758080")},
		{"2^63 in array", T("[9223372036854775808]")},
		{"-2^63 - 1 as member", T("{\"n\":-9223372036854775809}")},
	};
	CHECK_REFUSED(cases);
}

static void test_refuse_strings(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"raw \\x01", T("\"a\x01" "b\"")},
		{"raw \\x1F", T("\"\x1F\"")},
		{"raw tab", T("\"a\tb\"")},
		{"raw newline", T("\"a\nb\"")},
		{"raw carriage return", T("\"\r\"")},
		{"raw backspace", T("\"\b\"")},
		{"raw control in key", T("{\"a\x02\":1}")},
		{"\\x", T("\"\\x41\"")},
		{"\\a", T("\"\\a\"")},
		{"\\'", T("\"\\'\"")},
		{"\\0", T("\"\\0\"")},
		{"\\v", T("\"\\v\"")},
		{"\\e", T("\"\\e\"")},
		{"\\U0041", T("\"\\U0041\"")},
		{"backslash space", T("\"\\ \"")},
		{"backslash then raw e acute", T("\"\\" E_ACUTE "\"")},
		{"\\u12G4", T("\"\\u12G4\"")},
		{"\\u with 2 digits", T("\"\\u12\"")},
		{"\\u with no digits", T("\"\\u\"")},
		{"\\u then end of buffer", T("\"\\u00")},
		{"backslash at end of buffer", T("\"\\")},
		{"escaped closing quote", T("\"abc\\\"")},
		{"invalid escape in key", T("{\"\\q\":1}")},
		{"lone high surrogate", T("\"\\uD800\"")},
		{"lone low surrogate", T("\"\\uDC00\"")},
		{"lone low surrogate DFFF", T("\"\\uDFFF\"")},
		{"high surrogate then \\u0041", T("\"\\uD800\\u0041\"")},
		{"misordered surrogates", T("\"\\uDC00\\uD800\"")},
		{"two high surrogates", T("\"\\uD800\\uD800\"")},
		{"high surrogate then \\uE000", T("\"\\uD800\\uE000\"")},
		{"high surrogate then raw x", T("\"\\uD800x\"")},
		{"high surrogate then \\n", T("\"\\uD800\\n\"")},
		{"high surrogate then escaped backslash", T("\"\\ud800\\\\udc00\"")},
		{"high surrogate at end of buffer", T("\"\\uDBFF")},
		{"high surrogate, bad low digits", T("\"\\uD800\\uDCG0\"")},
		{"lone surrogate in key", T("{\"\\uD83D\":1}")},
		{"\\u0000", T("\"\\u0000\"")},
		{"\\u0000 inside", T("\"a\\u0000b\"")},
		{"\\u0000 in key", T("{\"\\u0000\":1}")},
		{"overlong C0 80", T("\"\xC0\x80\"")},
		{"overlong C1 BF", T("\"\xC1\xBF\"")},
		{"overlong E0 80 80", T("\"\xE0\x80\x80\"")},
		{"overlong E0 9F BF", T("\"\xE0\x9F\xBF\"")},
		{"overlong F0 80 80 80", T("\"\xF0\x80\x80\x80\"")},
		{"overlong F0 8F BF BF", T("\"\xF0\x8F\xBF\xBF\"")},
		{"encoded surrogate ED A0 80", T("\"\xED\xA0\x80\"")},
		{"encoded surrogate ED BF BF", T("\"\xED\xBF\xBF\"")},
		{"encoded surrogate pair", T("\"\xED\xA0\xBD\xED\xB8\x80\"")},
		{"truncated 2-byte", T("\"\xC3\"")},
		{"truncated 3-byte", T("\"\xE2\x82\"")},
		{"truncated 4-byte", T("\"\xF0\x9F\x98\"")},
		{"truncated 2-byte at end of buffer", T("\"\xC3")},
		{"truncated 4-byte at end of buffer", T("\"\xF0\x9F")},
		{"2-byte lead then ASCII", T("\"\xC3" "A\"")},
		{"3-byte lead, continuation, ASCII", T("\"\xE2\x82" "A\"")},
		{"lone continuation 80", T("\"\x80\"")},
		{"lone continuation BF", T("\"\xBF\"")},
		{"extra continuation", T("\"" E_ACUTE "\xA9\"")},
		{"FF", T("\"\xFF\"")},
		{"FE", T("\"\xFE\"")},
		{"U+110000", T("\"\xF4\x90\x80\x80\"")},
		{"F5 lead", T("\"\xF5\x80\x80\x80\"")},
		{"F7 BF BF BF", T("\"\xF7\xBF\xBF\xBF\"")},
		{"5-byte form", T("\"\xF8\x88\x80\x80\x80\"")},
		{"6-byte form", T("\"\xFC\x84\x80\x80\x80\x80\"")},
		{"invalid UTF-8 in key", T("{\"\xC0\xAF\":1}")},
		{"UTF-8 outside a string", T(E_ACUTE)},
		{"UTF-8 in array outside a string", T("[" E_ACUTE "]")},
	};
	CHECK_REFUSED(cases);
}

/* The buffer is length-delimited: a NUL byte is a byte like others. */
static void test_refuse_nul_bytes(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"NUL after the root", T("{\"a\":1}\0")},
		{"NUL after a number", T("1\0")},
		{"NUL before the root", T("\0{}")},
		{"NUL alone", T("\0")},
		{"NUL in white space", T("[1,\0 2]")},
		{"NUL inside a string", T("\"a\0b\"")},
		{"NUL inside a key", T("{\"a\0\":1}")},
		{"NUL inside a number", T("1\0" "2")},
		{"NUL inside a literal", T("tr\0ue")},
		{"NUL instead of a closing quote", T("\"ab\0")},
	};
	CHECK_REFUSED(cases);
}

/* Every proper prefix of a document whose root is not a number is refused. */
static void test_refuse_truncated(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *text;
		size_t len;
	} cases[] = {
		{"provider answer",
		 T("{\"id\":\"m-\\u00e9\\ud83d\\ude00" E_ACUTE GRIN "\",\"n\":-12,\"r\":1.5e-3,"
		   "\"a\":[true,false,null,{\"x\":[]},\"\"],\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
		   "\"big\":-9223372036854775808, \"o\" : { } }")},
		{"array", T("[1,{\"a\":\"b\"},[[]],\"" EURO "\", 0.5E+10 ]")},
		{"string", T("\"abc\\u00e9\\uD83D\\uDE00" GRIN "\"")},
		{"true", T("true")},
		{"false", T("false")},
		{"null", T("null")},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		char what[256];

		parse_or_fail(&d, cases[k].name, cases[k].text, cases[k].len);
		doc_free(&d);
		for (size_t n = 0; n < cases[k].len; n++) {
			doc_parse(&d, cases[k].text, n);
			if (!refused_properly(&d, what, sizeof(what))) {
				char *hex = hex_escape(cases[k].text, n);

				print_error("case \"%s\" cut at %zu (\"%s\"): %s\n", cases[k].name,
					    n, hex, what);
				free(hex);
				doc_free(&d);
				fail();
			}
			doc_free(&d);
		}
	}
}

/* ---- depth -------------------------------------------------------------------------------- */

/* open * n + mid + close * n, malloc'd (length in *len). */
static char *wrap(const char *open, size_t n, const char *mid, const char *close, size_t *len)
{
	size_t ol = strlen(open), ml = strlen(mid), cl = strlen(close);
	char *s = malloc(n * (ol + cl) + ml + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++, p += ol)
		memcpy(p, open, ol);
	memcpy(p, mid, ml);
	p += ml;
	for (size_t i = 0; i < n; i++, p += cl)
		memcpy(p, close, cl);
	*p = '\0';
	*len = (size_t)(p - s);
	return s;
}

static void test_depth(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *open;
		size_t n;
		const char *mid;
		const char *close;
		int rc;
	} cases[] = {
		{"1 array", "[", 1, "", "]", 0},
		{"63 arrays", "[", JSCAN_MAX_DEPTH - 1, "", "]", 0},
		{"64 arrays", "[", JSCAN_MAX_DEPTH, "", "]", 0},
		{"65 arrays", "[", JSCAN_MAX_DEPTH + 1, "", "]", -1},
		{"66 arrays", "[", JSCAN_MAX_DEPTH + 2, "", "]", -1},
		{"10000 arrays", "[", 10000, "", "]", -1},
		{"64 arrays around a number", "[", JSCAN_MAX_DEPTH, "1", "]", 0},
		{"65 arrays around a number", "[", JSCAN_MAX_DEPTH + 1, "1", "]", -1},
		{"64 objects", "{\"a\":", JSCAN_MAX_DEPTH, "1", "}", 0},
		{"63 objects around an empty one", "{\"a\":", JSCAN_MAX_DEPTH - 1, "{}", "}", 0},
		{"64 objects around an empty one", "{\"a\":", JSCAN_MAX_DEPTH, "{}", "}", -1},
		{"65 objects", "{\"a\":", JSCAN_MAX_DEPTH + 1, "1", "}", -1},
		{"63 arrays around an object", "[", JSCAN_MAX_DEPTH - 1, "{\"a\":1}", "]", 0},
		{"64 arrays around an object", "[", JSCAN_MAX_DEPTH, "{\"a\":1}", "]", -1},
		{"32 object-array pairs", "{\"a\":[", JSCAN_MAX_DEPTH / 2, "1", "]}", 0},
		{"33 object-array pairs", "{\"a\":[", JSCAN_MAX_DEPTH / 2 + 1, "1", "]}", -1},
		{"64 arrays with white space", " [ ", JSCAN_MAX_DEPTH, " ", " ] ", 0},
		{"100000 unclosed arrays", "[", 100000, "", "", -1},
		{"100000 unclosed objects", "{\"a\":", 100000, "", "", -1},
	};
	for (size_t k = 0; k < NELEM(cases); k++) {
		struct doc d;
		size_t len;
		char *text = wrap(cases[k].open, cases[k].n, cases[k].mid, cases[k].close, &len);
		char what[256];

		doc_parse(&d, text, len);
		if (cases[k].rc == 0 && d.rc != 0) {
			print_error("case \"%s\": refused: %s\n", cases[k].name, d.why);
			fail();
		}
		if (cases[k].rc != 0 && !refused_properly(&d, what, sizeof(what))) {
			print_error("case \"%s\": %s\n", cases[k].name, what);
			fail();
		}
		doc_free(&d);
		free(text);
	}
}

/* Reads reach the deepest value; the depth count comes back down between siblings. */
static void test_depth_reads_and_siblings(void **state)
{
	struct doc d;
	struct jscan_val v, it;
	size_t len, len2;
	int64_t x;
	char *text, *deep, *deeper;
	char what[256];

	(void)state;
	text = wrap("{\"a\":", JSCAN_MAX_DEPTH, "7", "}", &len);
	parse_or_fail(&d, "64 objects", text, len);
	v = d.root;
	for (int i = 0; i < JSCAN_MAX_DEPTH; i++) {
		assert_int_equal(jscan_type(v), JSCAN_OBJECT);
		v = jscan_get(v, "a");
	}
	assert_int_equal(jscan_int(v, &x), 0);
	assert_int_equal(x, 7);
	doc_free(&d);
	free(text);

	text = wrap("[", JSCAN_MAX_DEPTH, "8", "]", &len);
	parse_or_fail(&d, "64 arrays", text, len);
	v = d.root;
	for (int i = 0; i < JSCAN_MAX_DEPTH; i++) {
		it = (struct jscan_val){NULL, 0};
		assert_int_equal(jscan_next(v, &it), 1);
		v = it;
	}
	assert_int_equal(jscan_int(v, &x), 0);
	assert_int_equal(x, 8);
	doc_free(&d);
	free(text);

	/* [ <63 levels>, <63 levels>, ... x50, 0 ]: 64 levels, 50 times over */
	deep = wrap("[", JSCAN_MAX_DEPTH - 1, "", "]", &len);
	deeper = wrap("[", JSCAN_MAX_DEPTH, "", "]", &len2);
	text = malloc(1 + 50 * (len + 1) + len2 + 3);
	assert_non_null(text);
	strcpy(text, "[");
	for (int i = 0; i < 50; i++) {
		strcat(text, deep);
		strcat(text, ",");
	}
	strcat(text, "0]");
	parse_or_fail(&d, "50 siblings 63 deep in an array", text, strlen(text));
	doc_free(&d);
	/* the same with one sibling one level deeper at the end: 65 levels */
	strcpy(text + strlen(text) - 2, deeper);
	strcat(text, "]");
	doc_parse(&d, text, strlen(text));
	if (!refused_properly(&d, what, sizeof(what)))
		fail_msg("65 levels in the last sibling: %s", what);
	doc_free(&d);
	free(text);
	free(deep);
	free(deeper);
}

/* ---- length-delimited buffers and the reason -------------------------------------------- */

static void test_length_delimited(void **state)
{
	static const char text[] = "12345[1,2]xyz{\"a\":1}garbage\"abc\"true";
	struct doc d;
	struct jscan_val it = {NULL, 0};
	int64_t x;
	char out[8];

	(void)state;
	/* a number ending the buffer: 2 bytes of "12345" */
	parse_or_fail(&d, "12 of 12345", text, 2);
	assert_int_equal(jscan_int(d.root, &x), 0);
	assert_int_equal(x, 12);
	assert_int_equal(d.root.len, 2);
	doc_free(&d);
	parse_or_fail(&d, "-0 ending the buffer", T("-0"));
	assert_int_equal(jscan_int(d.root, &x), 0);
	assert_int_equal(x, 0);
	doc_free(&d);
	parse_or_fail(&d, "1e5 ending the buffer", T("1e5"));
	assert_int_equal(jscan_int(d.root, &x), -1);
	doc_free(&d);
	parse_or_fail(&d, "[1,2] of [1,2]xyz", text + 5, 5);
	assert_int_equal(jscan_next(d.root, &it), 1);
	assert_int_equal(jscan_next(d.root, &it), 1);
	assert_int_equal(jscan_int(it, &x), 0);
	assert_int_equal(x, 2);
	assert_int_equal(jscan_next(d.root, &it), 0);
	doc_free(&d);
	parse_or_fail(&d, "object before garbage", text + 13, 7);
	assert_int_equal(jscan_int(jscan_get(d.root, "a"), &x), 0);
	assert_int_equal(x, 1);
	doc_free(&d);
	parse_or_fail(&d, "string ending the buffer", text + 27, 5);
	assert_int_equal(jscan_str(d.root, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	doc_free(&d);
	parse_or_fail(&d, "true ending the buffer", text + 32, 4);
	assert_int_equal(jscan_type(d.root), JSCAN_TRUE);
	doc_free(&d);
	/* cut one byte short: refused */
	assert_int_equal(doc_parse(&d, text + 32, 3), -1);
	doc_free(&d);
	assert_int_equal(doc_parse(&d, text + 27, 4), -1);
	doc_free(&d);
	assert_int_equal(doc_parse(&d, text + 13, 6), -1);
	doc_free(&d);
	assert_int_equal(doc_parse(&d, text + 5, 4), -1);
	doc_free(&d);
}

/* The reason fits whatever room it is given. */
static void test_why_small_buffer(void **state)
{
	static const char bad[] = "{\"a\":[1,2,]}";

	(void)state;
	for (size_t n = 1; n <= 64; n++) {
		char *why = malloc(n);
		struct jscan_val root = {"x", 1};

		assert_non_null(why);
		memset(why, 'X', n);
		assert_int_equal(jscan_parse(bad, sizeof(bad) - 1, &root, why, n), -1);
		assert_null(root.p);
		assert_non_null(memchr(why, '\0', n));
		free(why);
	}
}

/* Big documents: many elements, many members, a long string. */
static void test_big_documents(void **state)
{
	enum { N = 100000 };
	struct gen_buf {
		char *p;
		size_t len;
	} b;
	struct doc d;
	struct jscan_val it = {NULL, 0};
	int64_t x, sum = 0;
	size_t n = 0;
	char *out;
	char key[16];

	(void)state;
	b.p = malloc((size_t)N * 24 + 16);
	assert_non_null(b.p);
	b.len = 0;
	b.p[b.len++] = '[';
	for (int i = 0; i < N; i++)
		b.len += (size_t)sprintf(b.p + b.len, "%s%d", i ? "," : "", i - N / 2);
	b.p[b.len++] = ']';
	parse_or_fail(&d, "100000 integers", b.p, b.len);
	while (jscan_next(d.root, &it)) {
		assert_int_equal(jscan_int(it, &x), 0);
		sum += x;
		n++;
	}
	assert_int_equal(n, N);
	assert_int_equal(sum, -(N / 2));
	doc_free(&d);

	b.len = 0;
	b.p[b.len++] = '{';
	for (int i = 0; i < N; i++)
		b.len += (size_t)sprintf(b.p + b.len, "%s\"k%d\":%d", i ? "," : "", i, i);
	b.p[b.len++] = '}';
	parse_or_fail(&d, "100000 members", b.p, b.len);
	snprintf(key, sizeof(key), "k%d", N - 1);
	assert_int_equal(jscan_int(jscan_get(d.root, key), &x), 0);
	assert_int_equal(x, N - 1);
	assert_int_equal(jscan_int(jscan_get(d.root, "k0"), &x), 0);
	assert_int_equal(x, 0);
	assert_null(jscan_get(d.root, "k").p);
	doc_free(&d);

	/* "\u00e9a\n" N times: 9 bytes of text, 4 decoded */
	b.len = 0;
	b.p[b.len++] = '"';
	for (int i = 0; i < N; i++) {
		memcpy(b.p + b.len, "\\u00e9a\\n", 9);
		b.len += 9;
	}
	b.p[b.len++] = '"';
	parse_or_fail(&d, "long string", b.p, b.len);
	out = malloc((size_t)N * 4 + 1);
	assert_non_null(out);
	assert_int_equal(jscan_str(d.root, out, (size_t)N * 4 + 1), N * 4);
	for (size_t i = 0; i < (size_t)N * 4; i += 4)
		assert_memory_equal(out + i, E_ACUTE "a\n", 4);
	assert_int_equal(jscan_str(d.root, out, (size_t)N * 4), -1);
	free(out);
	doc_free(&d);
	free(b.p);
}

/* ---- differential test against jansson ---------------------------------------------------- */

#define DIFF_DOCS 2000          /* generated documents, each also mutated DIFF_MUTANTS times */
#define DIFF_MUTANTS 2
#define GEN_DEPTH 6             /* containers nested at most this deep */
#define GEN_SOFT_MAX 4096       /* past this size only scalars are added */
#define MAX_SHOWN 10            /* failures printed */

struct gen {
	uint64_t s;
	char *buf;
	size_t len, cap;
};

/* xorshift64*: fixed seed, so every run sees the same documents */
static uint64_t rnd(struct gen *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * UINT64_C(2685821657736338717);
}

static unsigned below(struct gen *g, unsigned n)
{
	return (unsigned)((rnd(g) >> 16) % n);
}

static void put(struct gen *g, const char *s, size_t n)
{
	if (g->len + n > g->cap) {
		g->cap = (g->len + n) * 2 + 64;
		g->buf = realloc(g->buf, g->cap);
		assert_non_null(g->buf);
	}
	memcpy(g->buf + g->len, s, n);
	g->len += n;
}

static void put_str(struct gen *g, const char *s)
{
	put(g, s, strlen(s));
}

static void gen_ws(struct gen *g)
{
	if (below(g, 4) == 0)
		for (unsigned n = 1 + below(g, 3); n > 0; n--)
			put(g, &" \t\n\r"[below(g, 4)], 1);
}

static size_t utf8(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xC0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xE0 | c >> 12);
		o[1] = (char)(0x80 | (c >> 6 & 0x3F));
		o[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | c >> 18);
	o[1] = (char)(0x80 | (c >> 12 & 0x3F));
	o[2] = (char)(0x80 | (c >> 6 & 0x3F));
	o[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

static void gen_string(struct gen *g)
{
	static const char plain[] = "abcxyzABC019 _-.,:{}[]#'";
	static const char *const esc[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
	char tmp[32];
	uint32_t c;

	put(g, "\"", 1);
	for (unsigned n = below(g, 10); n > 0; n--) {
		switch (below(g, 10)) {
		case 0: case 1: case 2:
			put(g, &plain[below(g, sizeof(plain) - 1)], 1);
			break;
		case 3:
			put_str(g, esc[below(g, NELEM(esc))]);
			break;
		case 4:         /* \u of a control or ASCII character */
			snprintf(tmp, sizeof(tmp), below(g, 2) ? "\\u%04x" : "\\u%04X",
				 1 + below(g, 0x7F));
			put_str(g, tmp);
			break;
		case 5:         /* \u of any BMP character but NUL and surrogates */
			do
				c = 1 + below(g, 0xFFFF);
			while (c >= 0xD800 && c <= 0xDFFF);
			snprintf(tmp, sizeof(tmp), below(g, 2) ? "\\u%04x" : "\\u%04X", c);
			put_str(g, tmp);
			break;
		case 6:         /* a surrogate pair */
			c = below(g, 0x100000);
			snprintf(tmp, sizeof(tmp), "\\u%04X\\u%04x", 0xD800 + (c >> 10),
				 0xDC00 + (c & 0x3FF));
			put_str(g, tmp);
			break;
		case 7:         /* raw 2-byte UTF-8 */
			put(g, tmp, utf8(0x80 + below(g, 0x780), tmp));
			break;
		case 8:         /* raw 3-byte UTF-8, no surrogate */
			do
				c = 0x800 + below(g, 0xF800);
			while (c >= 0xD800 && c <= 0xDFFF);
			put(g, tmp, utf8(c, tmp));
			break;
		default:        /* raw 4-byte UTF-8 */
			put(g, tmp, utf8(0x10000 + below(g, 0x100000), tmp));
			break;
		}
	}
	put(g, "\"", 1);
}

static void gen_number(struct gen *g)
{
	static const char *const edges[] = {
		"9223372036854775807", "-9223372036854775808", "9223372036854775806",
		"-9223372036854775807", "-0", "0", "4294967296", "-1",
	};
	char tmp[64];

	switch (below(g, 6)) {
	case 0:
		snprintf(tmp, sizeof(tmp), "%d", (int)below(g, 2001) - 1000);
		break;
	case 1: {       /* any magnitude below 2^63, either sign */
		unsigned shift = 1 + below(g, 63);
		int64_t x = (int64_t)(rnd(g) >> shift);

		snprintf(tmp, sizeof(tmp), "%" PRId64, below(g, 2) ? x : -x);
		break;
	}
	case 2:
		snprintf(tmp, sizeof(tmp), "%s", edges[below(g, NELEM(edges))]);
		break;
	default: {      /* a small real: [-]int[.frac][e[+-]exp], fraction or exponent */
		unsigned parts = 1 + below(g, 3);
		int n = snprintf(tmp, sizeof(tmp), "%s%u", below(g, 2) ? "-" : "",
				 below(g, 3) ? 1 + below(g, 999999) : 0);

		if (parts & 1) {
			int width = 1 + (int)below(g, 6);

			n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".%0*u", width,
				      below(g, 1000000));
		}
		if (parts & 2) {
			char e = below(g, 2) ? 'e' : 'E';
			const char *sign = (const char *const[]){"", "+", "-"}[below(g, 3)];

			snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%c%s%u", e, sign, below(g, 21));
		}
		break;
	}
	}
	put_str(g, tmp);
}

static void gen_value(struct gen *g, unsigned depth);

static void gen_key(struct gen *g)
{
	static const char *const keys[] = {
		"\"a\"", "\"b\"", "\"id\"", "\"sid\"", "\"s\\u0069d\"", "\"\"", "\"\\u00e9\"",
		"\"" E_ACUTE "\"", "\"st\\\"atus\"",
	};

	if (below(g, 3) == 0)
		gen_string(g);
	else
		put_str(g, keys[below(g, NELEM(keys))]);
}

static void gen_container(struct gen *g, unsigned depth, int object)
{
	unsigned n = below(g, 5);

	put(g, object ? "{" : "[", 1);
	gen_ws(g);
	for (unsigned i = 0; i < n; i++) {
		if (i > 0) {
			put(g, ",", 1);
			gen_ws(g);
		}
		if (object) {
			gen_key(g);
			gen_ws(g);
			put(g, ":", 1);
			gen_ws(g);
		}
		gen_value(g, depth + 1);
		gen_ws(g);
	}
	put(g, object ? "}" : "]", 1);
}

static void gen_value(struct gen *g, unsigned depth)
{
	unsigned k = below(g, 10);

	if (k < 3 && (depth >= GEN_DEPTH || g->len > GEN_SOFT_MAX))
		k = 3 + below(g, 7);
	switch (k) {
	case 0:
	case 1:
		gen_container(g, depth, 1);
		break;
	case 2:
		gen_container(g, depth, 0);
		break;
	case 3:
	case 4:
		gen_string(g);
		break;
	case 5:
	case 6:
		gen_number(g);
		break;
	case 7:
		put_str(g, "true");
		break;
	case 8:
		put_str(g, "false");
		break;
	default:
		put_str(g, "null");
		break;
	}
}

static void gen_document(struct gen *g)
{
	g->len = 0;
	gen_ws(g);
	if (below(g, 8) == 0)
		gen_value(g, 0);                        /* any root */
	else
		gen_container(g, 0, below(g, 4) != 0);  /* mostly objects */
	gen_ws(g);
}

static unsigned char interesting_byte(struct gen *g)
{
	static const unsigned char bytes[] = {
		'{', '}', '[', ']', ',', ':', '"', '\\', '/', ' ', '\t', '\n', '0', '1', '9', '-',
		'+', '.', 'e', 'E', 't', 'u', 'n', 'a', 'x', 'D', 0x00, 0x01, 0x1F, 0x7F, 0x80,
		0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF,
	};

	if (below(g, 4) == 0)
		return (unsigned char)below(g, 256);
	return bytes[below(g, sizeof(bytes))];
}

/* m = src with 1 to 3 random edits: replace, insert, delete a byte, cut, copy a slice. */
static void mutate(struct gen *g, struct gen *m, const char *src, size_t len)
{
	m->len = 0;
	put(m, src, len);
	for (unsigned n = 1 + below(g, 3); n > 0; n--) {
		size_t at = below(g, (unsigned)m->len + 1), from, cut;
		char c;

		switch (below(g, 6)) {
		case 0:
		case 1:
			if (at < m->len)
				m->buf[at] = (char)interesting_byte(g);
			break;
		case 2:
			c = (char)interesting_byte(g);
			put(m, &c, 1);
			memmove(m->buf + at + 1, m->buf + at, m->len - 1 - at);
			m->buf[at] = c;
			break;
		case 3:
			if (at < m->len) {
				memmove(m->buf + at, m->buf + at + 1, m->len - at - 1);
				m->len--;
			}
			break;
		case 4:
			if (below(g, 3) == 0)
				m->len = at;
			break;
		default:        /* copy m[from, from + cut) to at */
			from = below(g, (unsigned)m->len + 1);
			cut = below(g, (unsigned)(m->len - from < 16 ? m->len - from : 16) + 1);
			{
				char tmp[16];

				memcpy(tmp, m->buf + from, cut);
				for (size_t i = 0; i < cut; i++)
					put(m, " ", 1);
				memmove(m->buf + at + cut, m->buf + at, m->len - cut - at);
				memcpy(m->buf + at, tmp, cut);
			}
			break;
		}
	}
}

/* Deepest bracket nesting outside strings (approximate for invalid text). */
static unsigned nesting(const char *s, size_t len)
{
	unsigned depth = 0, max = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				max = depth;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return max;
}

#define PATH_CAP 512

static void path_add(char *path, const char *fmt_key, long idx)
{
	size_t n = strlen(path);

	if (n + 1 >= PATH_CAP)
		return;
	if (fmt_key != NULL)
		snprintf(path + n, PATH_CAP - n, ".%s", fmt_key);
	else
		snprintf(path + n, PATH_CAP - n, "[%ld]", idx);
}

static const char *json_type_name(json_t *j)
{
	static const char *const names[] = {"object", "array", "string", "integer", "real",
					    "true", "false", "null"};

	return names[json_typeof(j)];
}

/* jscan_members over the object's keys (the first MEMBERS_MAX - 1, in
 * jansson's order, then one absent key, then the first again) gives what
 * jscan_get gives for each. */
#define MEMBERS_MAX 8
static int members_agree(json_t *j, struct jscan_val v, const char *path, char *what,
			 size_t cap)
{
	const char *keys[MEMBERS_MAX + 1], *key;
	struct jscan_val got[MEMBERS_MAX + 1];
	size_t n = 0, found = 0, want_found = 0;
	json_t *m;

	json_object_foreach(j, key, m) {
		if (n == MEMBERS_MAX - 1)
			break;
		keys[n++] = key;
	}
	keys[n++] = "\x01 not a key of any generated document";
	if (n > 1)
		keys[n++] = keys[0];
	found = jscan_members(v, keys, got, n);
	for (size_t i = 0; i < n; i++) {
		struct jscan_val want = jscan_get(v, keys[i]);

		if (want.p != NULL)
			want_found++;
		if (got[i].p != want.p || got[i].len != want.len) {
			snprintf(what, cap, "at root%s: jscan_members and jscan_get differ on key %zu",
				 path, i);
			return 0;
		}
	}
	/* keys[0] is there twice when there is one: counted once per slot */
	if (found != want_found) {
		snprintf(what, cap, "at root%s: jscan_members found %zu, jscan_get %zu", path,
			 found, want_found);
		return 0;
	}
	return 1;
}

/* jscan reads at v what jansson built as j; 0 with what set if not. */
static int same(json_t *j, struct jscan_val v, char *path, char *what, size_t cap)
{
	static const enum jscan_type types[] = {
		[JSON_OBJECT] = JSCAN_OBJECT, [JSON_ARRAY] = JSCAN_ARRAY,
		[JSON_STRING] = JSCAN_STRING, [JSON_INTEGER] = JSCAN_NUMBER,
		[JSON_REAL] = JSCAN_NUMBER, [JSON_TRUE] = JSCAN_TRUE,
		[JSON_FALSE] = JSCAN_FALSE, [JSON_NULL] = JSCAN_NULL,
	};
	size_t plen = strlen(path);

	if (jscan_type(v) != types[json_typeof(j)]) {
		snprintf(what, cap, "at root%s: jscan type %d \"%s\", jansson %s", path,
			 jscan_type(v), span_text(v), json_type_name(j));
		return 0;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *m;

		json_object_foreach(j, key, m) {
			path_add(path, key, 0);
			if (!same(m, jscan_get(v, key), path, what, cap))
				return 0;
			path[plen] = '\0';
		}
		if (!members_agree(j, v, path, what, cap))
			return 0;
		break;
	}
	case JSON_ARRAY: {
		struct jscan_val it = {NULL, 0};
		size_t i = 0;

		while (jscan_next(v, &it)) {
			if (i >= json_array_size(j)) {
				snprintf(what, cap, "at root%s: jscan has more than %zu elements",
					 path, json_array_size(j));
				return 0;
			}
			path_add(path, NULL, (long)i);
			if (!same(json_array_get(j, i), it, path, what, cap))
				return 0;
			path[plen] = '\0';
			i++;
		}
		if (i != json_array_size(j)) {
			snprintf(what, cap, "at root%s: jscan walked %zu elements, jansson has %zu",
				 path, i, json_array_size(j));
			return 0;
		}
		break;
	}
	case JSON_STRING: {
		size_t n = json_string_length(j);
		char *out = malloc(n + 1), *shorter = malloc(n ? n : 1);
		long r = jscan_str(v, out, n + 1), r2 = -1;
		int ok;

		assert_non_null(out);
		assert_non_null(shorter);
		ok = r == (long)n && memcmp(out, json_string_value(j), n) == 0 && out[n] == '\0';
		if (!ok) {
			char *got = hex_escape(out, r > 0 && (size_t)r <= n ? (size_t)r : 0);
			char *want = hex_escape(json_string_value(j), n);

			snprintf(what, cap, "at root%s: jscan_str %ld \"%.60s\", "
				 "jansson %zu \"%.60s\"", path, r, got, n, want);
			free(got);
			free(want);
		} else if (n > 0 && ((r2 = jscan_str(v, shorter, n)) != -1 || shorter[0] != '\0')) {
			snprintf(what, cap, "at root%s: jscan_str one byte short returned %ld",
				 path, r2);
			ok = 0;
		}
		free(out);
		free(shorter);
		return ok;
	}
	case JSON_INTEGER: {
		int64_t x = 0;
		int rc = jscan_int(v, &x);

		if (rc != 0 || x != json_integer_value(j)) {
			snprintf(what, cap, "at root%s: jscan_int %d %" PRId64 ", jansson %" PRId64,
				 path, rc, x, (int64_t)json_integer_value(j));
			return 0;
		}
		break;
	}
	case JSON_REAL: {
		int64_t x;
		double r = 0;
		int rc = jscan_real(v, &r);

		if (jscan_int(v, &x) != -1) {
			snprintf(what, cap, "at root%s: jscan_int took the real \"%s\"", path,
				 span_text(v));
			return 0;
		}
		if (v.len < 64 && (rc != 0 || r != json_real_value(j))) {
			snprintf(what, cap, "at root%s: jscan_real %d %.17g, jansson %.17g", path,
				 rc, r, json_real_value(j));
			return 0;
		}
		break;
	}
	default:
		break;
	}
	return 1;
}

struct diff_stats {
	unsigned accepted, refused, skipped, nul_quirk, failed;
};

/*
 * jansson drops a NUL byte that ends a number or a literal: "1\0" and
 * "[true\0]" load (akheron/jansson#331, n_multidigit_number_then_00 of
 * JSONTestSuite); jscan rightly refuses them.  The text without such bytes
 * (outside strings), into out: what jansson read.
 */
static size_t drop_nul_after_tokens(const char *s, size_t len, char *out)
{
	size_t n = 0;
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\' && i + 1 < len) {
				out[n++] = c;
				c = s[++i];
			} else if (c == '"') {
				in_str = 0;
			}
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '\0' && i > 0 && ((s[i - 1] >= '0' && s[i - 1] <= '9') ||
						  (s[i - 1] >= 'a' && s[i - 1] <= 'z'))) {
			continue;
		}
		out[n++] = c;
	}
	return n;
}

/* jscan refuses, jansson accepts text because of the NUL quirk: 1 (and jscan reads the
 * text without those NULs as jansson read text), or 0 with what set. */
static int nul_quirk(const char *text, size_t len, json_t *j, char *what, size_t cap)
{
	char *stripped, path[PATH_CAP] = "";
	size_t n;
	struct doc d;
	int ok;

	if (memchr(text, '\0', len) == NULL)
		return 0;
	stripped = malloc(len);
	assert_non_null(stripped);
	n = drop_nul_after_tokens(text, len, stripped);
	if (n == len || doc_parse(&d, stripped, n) != 0) {
		if (n != len)
			doc_free(&d);
		free(stripped);
		return 0;
	}
	ok = same(j, d.root, path, what, cap);
	doc_free(&d);
	free(stripped);
	return ok;
}

/* One document through both parsers; prints it (hex-escaped) when they disagree. */
static void diff_one(const char *text, size_t len, const char *label, int generated,
		     struct diff_stats *st)
{
	struct doc d;
	json_error_t err;
	json_t *j;
	char what[512] = "", path[PATH_CAP] = "";
	int ok = 1;

	doc_parse(&d, text, len);
	j = json_loadb(d.buf, len, JSON_DECODE_ANY, &err);
	if (nesting(text, len) > JSCAN_MAX_DEPTH) {
		st->skipped++;                 /* jscan refuses by design, jansson need not */
	} else if (d.rc == 0 && memchr(text, '\0', len) != NULL) {
		snprintf(what, sizeof(what), "jscan accepts a NUL byte");
		ok = 0;
	} else if (d.rc == 0 && j == NULL && strstr(err.text, "real number overflow") != NULL) {
		st->skipped++;                 /* jscan takes any magnitude by design */
	} else if (d.rc != 0 && j != NULL && nul_quirk(text, len, j, what, sizeof(what))) {
		st->nul_quirk++;
		ok = refused_properly(&d, what, sizeof(what));
	} else if ((d.rc == 0) != (j != NULL)) {
		if (what[0] == '\0')
			snprintf(what, sizeof(what), "jscan %s (%s), jansson %s (%s at %d)",
				 d.rc == 0 ? "accepts" : "refuses", d.rc == 0 ? "" : d.why,
				 j ? "accepts" : "refuses", j ? "" : err.text,
				 j ? 0 : err.position);
		ok = 0;
	} else if (j == NULL) {
		st->refused++;
		if (generated) {
			snprintf(what, sizeof(what), "generated document refused by both: %s / %s",
				 d.why, err.text);
			ok = 0;
		} else {
			ok = refused_properly(&d, what, sizeof(what));
		}
	} else {
		st->accepted++;
		ok = same(j, d.root, path, what, sizeof(what));
	}
	if (!ok && st->failed++ < MAX_SHOWN) {
		char *hex = hex_escape(text, len);

		print_error("%s: %s\n  document (%zu bytes): \"%s\"\n", label, what, len, hex);
		free(hex);
	}
	json_decref(j);
	doc_free(&d);
}

/*
 * Generated documents (valid by construction) and mutants of them must be
 * accepted by jscan exactly when json_loadb(JSON_DECODE_ANY) accepts them,
 * and read alike: every member, element, string, integer.  Not compared:
 * nesting deeper than JSCAN_MAX_DEPTH and reals that overflow a double
 * (jscan's documented differences), and a NUL byte right after a number or
 * a literal, which jansson drops (there jscan must refuse the document and
 * read the document without that byte as jansson read it).
 */
static void test_differential_jansson(void **state)
{
	struct gen g = {UINT64_C(0x9E3779B97F4A7C15), NULL, 0, 0};
	struct gen m = {0, NULL, 0, 0};
	struct diff_stats st = {0, 0, 0, 0, 0};
	char label[64];

	(void)state;
	for (unsigned i = 0; i < DIFF_DOCS; i++) {
		gen_document(&g);
		snprintf(label, sizeof(label), "document %u", i);
		diff_one(g.buf, g.len, label, 1, &st);
		for (unsigned k = 0; k < DIFF_MUTANTS; k++) {
			mutate(&g, &m, g.buf, g.len);
			snprintf(label, sizeof(label), "document %u mutant %u", i, k);
			diff_one(m.buf, m.len, label, 0, &st);
		}
	}
	print_message("differential: %u documents, %u accepted by both, %u refused by both, "
		      "%u skipped, %u NUL after a token (jansson drops it), %u disagreements\n",
		      DIFF_DOCS * (1 + DIFF_MUTANTS), st.accepted, st.refused, st.skipped,
		      st.nul_quirk, st.failed);
	free(g.buf);
	free(m.buf);
	if (st.failed > 0)
		fail_msg("%u documents read differently by jscan and jansson", st.failed);
	/* the mutations must exercise both verdicts */
	assert_true(st.accepted > DIFF_DOCS);
	assert_true(st.refused > DIFF_DOCS / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_absent_everywhere),
		cmocka_unit_test(test_get_long_keys),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_next_nested),
		cmocka_unit_test(test_str_escapes),
		cmocka_unit_test(test_str_capacity),
		cmocka_unit_test(test_str_not_string),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_real),
		cmocka_unit_test(test_refuse_structure),
		cmocka_unit_test(test_refuse_literals_numbers),
		cmocka_unit_test(test_refuse_strings),
		cmocka_unit_test(test_refuse_nul_bytes),
		cmocka_unit_test(test_refuse_truncated),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_depth_reads_and_siblings),
		cmocka_unit_test(test_length_delimited),
		cmocka_unit_test(test_why_small_buffer),
		cmocka_unit_test(test_big_documents),
		cmocka_unit_test(test_differential_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
