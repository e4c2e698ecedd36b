/*
 * test_log: the line format of common/log.c, and the pid on a line written
 * by a forked child (the pid is cached by log_init() and refreshed by a
 * fork handler: a child that logs without calling log_init() again must
 * still show its own pid).  stderr is pointed at a pipe and read back.
 * Then what a value from outside cannot do to the log: start a
 * line, carry a control or invalid byte, take more than a few dozen bytes,
 * or be repeated without limit.  Then the JSON format: each line, whatever
 * the message (control bytes, quotes, bytes that are not UTF-8, any length,
 * odd key=value pairs), is one object that jansson parses, with the keys
 * of log.h's contract.  Last, utf8_repair() of common/utf8.h (the decoder
 * the escaping uses), which keeps an ack's detail UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utf8.h"

/* Run fn with stderr on a pipe; what it wrote into out (NUL-terminated). */
static void capture(void (*fn)(void), char *out, size_t cap)
{
	int fds[2], saved = dup(STDERR_FILENO);
	size_t got = 0;
	ssize_t n;

	assert_true(saved >= 0);
	assert_int_equal(pipe(fds), 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	fn();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(fds[1]);
	while (got + 1 < cap && (n = read(fds[0], out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	out[got] = '\0';
}

/* 1 if line starts with "YYYY-MM-DDTHH:MM:SS.mmmZ " (digits where digits). */
static int has_timestamp(const char *line)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? (line[i] < '0' || line[i] > '9') : line[i] != shape[i])
			return 0;
	}
	return 1;
}

static void write_two(void)
{
	log_init("tester", LOG_LEVEL_INFO);
	log_info("%d: status=%s", 42, "sent");
	log_debug("not shown at info");
	log_warn("second");
}

static void test_line_format(void **state)
{
	char out[1024], want[128];
	char *second;

	(void)state;
	capture(write_two, out, sizeof(out));
	assert_true(has_timestamp(out));
	snprintf(want, sizeof(want), "tester[%ld] info: 42: status=sent\n", (long)getpid());
	assert_memory_equal(out + 25, want, strlen(want));
	second = out + 25 + strlen(want);
	assert_true(has_timestamp(second));
	snprintf(want, sizeof(want), "tester[%ld] warn: second\n", (long)getpid());
	assert_string_equal(second + 25, want);
}

/* As a library's logging callback is called. */
static void library_says(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_library_line("somelib", fmt, ap);
	va_end(ap);
}

static void write_library_lines(void)
{
	log_init("tester", LOG_LEVEL_INFO);
	library_says("hidden at info %d\n", 1);
	log_init("tester", LOG_LEVEL_DEBUG);
	library_says("bind failed: %s\nsecond line", "in use");
}

static void test_library_line(void **state)
{
	char out[1024], want[128];

	(void)state;
	capture(write_library_lines, out, sizeof(out));
	assert_true(has_timestamp(out));
	snprintf(want, sizeof(want), "tester[%ld] debug: somelib: bind failed: in use\n",
		 (long)getpid());
	assert_string_equal(out + 25, want); /* one line, the other not written */
	log_init("tester", LOG_LEVEL_INFO);
}

static void fork_and_log(void)
{
	pid_t pid;
	int status;

	log_init("parent", LOG_LEVEL_INFO);
	log_info("before");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_info("child");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	log_info("child was %ld", (long)pid);
}

static void test_pid_after_fork(void **state)
{
	char out[2048], want[128];
	const char *child_line, *after;
	long child;

	(void)state;
	capture(fork_and_log, out, sizeof(out));
	after = strstr(out, "info: child was ");
	assert_non_null(after);
	child = strtol(after + strlen("info: child was "), NULL, 10);
	assert_true(child > 0 && child != (long)getpid());
	child_line = strstr(out, "info: child\n");
	assert_non_null(child_line);
	snprintf(want, sizeof(want), "parent[%ld] info: child\n", child);
	assert_memory_equal(child_line - (strlen(want) - strlen("info: child\n")), want,
			    strlen(want));
	snprintf(want, sizeof(want), "parent[%ld] info: before\n", (long)getpid());
	assert_non_null(strstr(out, want));
}

static void write_batched(void)
{
	char big[600];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("batch", LOG_LEVEL_INFO);
	log_info("before");
	log_batch_begin();
	for (int i = 0; i < 120; i++) {
		if (i % 7 == 0)
			log_info("%d: %s", i, big);
		else
			log_info("%d: status=sent", i);
	}
	log_batch_end();
	log_info("after");
}

/* Lines gathered in a batch come out whole, in order, all of them (about
 * 18 KiB: several blocks, and less than a pipe holds unread). */
static void test_batch_keeps_every_line_whole(void **state)
{
	static char out[1 << 20];
	char big[600], want[700];
	const char *p;
	int i = 0;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture(write_batched, out, sizeof(out));
	p = strstr(out, "info: before\n");
	assert_non_null(p);
	for (p = strchr(p, '\n') + 1; i < 120; i++) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		assert_true(has_timestamp(p));
		if (i % 7 == 0)
			snprintf(want, sizeof(want), "info: %d: %s", i, big);
		else
			snprintf(want, sizeof(want), "info: %d: status=sent", i);
		assert_int_equal((size_t)(nl - p) - (strstr(p, "info: ") - p), strlen(want));
		assert_memory_equal(strstr(p, "info: "), want, strlen(want));
		p = nl + 1;
	}
	assert_non_null(strstr(p, "info: after\n"));
}

static void fork_in_a_batch(void)
{
	pid_t pid;
	int status;

	log_init("parent", LOG_LEVEL_INFO);
	log_batch_begin();
	log_info("gathered once");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_batch_begin();
		log_info("child line");
		log_batch_end();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	log_batch_end();
}

/* A child forked in a batch writes its own lines, not the parent's again. */
static void test_fork_in_a_batch(void **state)
{
	char out[4096];
	const char *first;

	(void)state;
	capture(fork_in_a_batch, out, sizeof(out));
	first = strstr(out, "gathered once");
	assert_non_null(first);
	assert_null(strstr(first + 1, "gathered once"));
	assert_non_null(strstr(out, "child line"));
}

/* The message part of the one line that log_info("%s", msg_arg) writes. */
static const char *msg_arg;
static char msg_out[8192];

static void write_msg(void)
{
	log_init("esc", LOG_LEVEL_INFO);
	log_info("%s", msg_arg);
}

static const char *logged(const char *msg)
{
	char *p, *nl;

	msg_arg = msg;
	capture(write_msg, msg_out, sizeof(msg_out));
	p = strstr(msg_out, " info: ");
	assert_non_null(p);
	nl = strchr(p, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0'); /* one line, whatever the message */
	*nl = '\0';
	return p + strlen(" info: ");
}

/* Each value, once logged: control and invalid bytes escaped, valid UTF-8
 * kept as it is. */
static void test_values_are_escaped(void **state)
{
	static const struct {
		const char *name, *in, *out;
	} cases[] = {
		{ "plain", "42: status=sent", "42: status=sent" },
		{ "newline then a forged line", "k\n2026-12-07T00:00:00.000Z w[1] error: X",
		  "k\\x0a2026-12-07T00:00:00.000Z w[1] error: X" },
		{ "carriage return, tab", "a\rb\tc", "a\\x0db\\x09c" },
		{ "ESC (a terminal sequence)", "\x1b[2Jx", "\\x1b[2Jx" },
		{ "DEL", "a\x7f", "a\\x7f" },
		{ "byte FF", "fa-key-\xff", "fa-key-\\xff" },
		{ "lone continuation byte", "a\x80z", "a\\x80z" },
		{ "euro cut short", "\xe2\x82z", "\\xe2\\x82z" },
		{ "emoji cut short at the end", "a\xf0\x9f\x98", "a\\xf0\\x9f\\x98" },
		{ "overlong slash", "\xc0\xaf", "\\xc0\\xaf" },
		{ "surrogate", "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "backslash", "a\\b", "a\\\\b" },
		{ "an escape's text is not an escape", "\\x0a", "\\\\x0a" },
		{ "C1 control NEL", "a\xc2\x85z", "a\\xc2\\x85z" },
		{ "LINE SEPARATOR", "a\xe2\x80\xa8z", "a\\xe2\\x80\\xa8z" },
		{ "e acute, euro, emoji kept", "Lef\xc3\xa8vre \xe2\x82\xac \xf0\x9f\x98\x80",
		  "Lef\xc3\xa8vre \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "NBSP kept", "a\xc2\xa0z", "a\xc2\xa0z" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = logged(cases[i].in);

		if (strcmp(got, cases[i].out) != 0) {
			print_error("case \"%s\": logged \"%s\"\n", cases[i].name, got);
			fail();
		}
	}
}

/* A line that grows past the limit when escaped is cut between escapes. */
static void test_escaped_line_cut_whole(void **state)
{
	static char in[1901];
	const char *got;
	size_t n;

	(void)state;
	memset(in, 0xff, sizeof(in) - 1);
	got = logged(in);
	n = strlen(got);
	assert_true(strlen(msg_out) + 1 <= 2047); /* with its newline */
	assert_true(n > 1800 && n % 4 == 0);
	for (size_t i = 0; i < n; i += 4)
		assert_memory_equal(got + i, "\\xff", 4);
}

static void test_log_value(void **state)
{
	char out[LOG_VALUE_MAX], big[16001], small[8];
	const char *e = "\xc3\xa9"; /* é */
	char accents[LOG_VALUE_MAX * 2 + 1] = "";

	(void)state;
	assert_string_equal(log_value(out, sizeof(out), "fa-key-1"), "fa-key-1");
	memset(big, 'f', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_value(out, sizeof(out), big);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_non_null(strstr(out, "fff...(16000 bytes)"));
	assert_int_equal(strspn(out, "f"), strlen(out) - strlen("...(16000 bytes)"));
	/* Whole characters: never half an é. */
	for (size_t i = 0; i < LOG_VALUE_MAX; i++)
		strcat(accents, e);
	log_value(out, sizeof(out), accents);
	assert_true(utf8_valid(out, strlen(out)));
	assert_non_null(strstr(out, "\xc3\xa9...(128 bytes)"));
	/* A byte that starts no character counts as one. */
	memset(big, 0xff, 100);
	big[100] = '\0';
	log_value(out, sizeof(out), big);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	/* Too small for the suffix: cut, still terminated. */
	log_value(small, sizeof(small), "0123456789");
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_limit_counts_what_it_holds_back(void **state)
{
	struct log_limit l = LOG_LIMIT_INIT(3, 1000);
	int written = 0;

	(void)state;
	assert_int_equal(log_limit_ended(&l, 5000), 0); /* none open */
	for (int i = 0; i < 10; i++)
		written += log_limit_take(&l, 5000 + i);
	assert_int_equal(written, 3);
	assert_int_equal(log_limit_ended(&l, 5999), 0); /* still open: kept */
	assert_int_equal(log_limit_ended(&l, 6000), 7);
	assert_int_equal(log_limit_ended(&l, 6001), 0); /* said once */
	/* The next window opens at its first line, with a fresh allowance. */
	assert_int_equal(log_limit_take(&l, 9000), 1);
	assert_int_equal(log_limit_take(&l, 9001), 1);
	assert_int_equal(log_limit_take(&l, 9002), 1);
	assert_int_equal(log_limit_take(&l, 9999), 0);
	assert_int_equal(log_limit_take(&l, 10000), 1); /* a window later */
	assert_int_equal(log_limit_ended(&l, 11000), 1); /* not lost by take */
}

/* ---- JSON lines --------------------------------------------------------- */

/* The one line that log_info("%s", msg_arg) writes in the JSON format
 * (msg_out, its newline removed); the format is text again after. */
static void write_json(void)
{
	log_init("json-test", LOG_LEVEL_INFO);
	log_set_format(LOG_FORMAT_JSON);
	log_info("%s", msg_arg);
	log_set_format(LOG_FORMAT_TEXT);
}

static const char *json_logged(const char *msg)
{
	char *nl;

	msg_arg = msg;
	capture(write_json, msg_out, sizeof(msg_out));
	nl = strchr(msg_out, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0'); /* one line, whatever the message */
	assert_true(nl - msg_out + 1 <= 2047);
	*nl = '\0';
	return msg_out;
}

/* line (without its newline) as a JSON object, checked against log.h:
 * valid UTF-8 with no raw control, C1 or line separator, no key twice,
 * the fixed keys of the right types in their order.  Caller decrefs. */
static json_t *parse_line(const char *line)
{
	const unsigned char *u = (const unsigned char *)line;
	size_t len = strlen(line), i = 0;
	static const char *const order[] = { "\"ts\":\"", "\",\"level\":\"", "\",\"proc\":\"",
					     "\",\"pid\":" };
	const char *at = line;
	json_error_t err;
	json_t *o, *v;

	while (i < len) {
		uint32_t cp;

		if (utf8_next(u, len, &i, &cp) != 0)
			fail_msg("not UTF-8 at byte %zu: %s", i, line);
		if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 ||
		    cp == 0x2029)
			fail_msg("raw U+%04X at byte %zu: %s", (unsigned)cp, i, line);
	}
	/* The fixed keys first, in this order (jansson does not keep it). */
	assert_memory_equal(line, "{\"ts\":\"", 7);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		at = strstr(at, order[k]);
		if (at == NULL)
			fail_msg("no %s in order: %s", order[k], line);
	}
	o = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (o == NULL)
		fail_msg("not JSON (%s at %d): %s", err.text, err.position, line);
	assert_true(json_is_object(o));
	v = json_object_get(o, "ts");
	assert_true(json_is_string(v));
	assert_int_equal(strlen(json_string_value(v)), 24);
	assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(o, "proc")), "json-test");
	assert_true(json_is_integer(json_object_get(o, "pid")));
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), getpid());
	assert_true(json_is_string(json_object_get(o, "msg")));
	v = json_object_get(o, "truncated");
	assert_true(v == NULL || json_is_true(v));
	v = json_object_get(o, "id");
	assert_true(v == NULL || json_is_integer(v));
	return o;
}

static const char *str_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_json_line_keys(void **state)
{
	json_t *o;
	const char *ts;

	(void)state;
	o = parse_line(json_logged("42: to=+33*******78 provider=primary delay_ms=1200 "
				   "status=sent ref=SM123"));
	ts = str_field(o, "ts");
	assert_non_null(ts);
	{
		char stamp[32];

		snprintf(stamp, sizeof(stamp), "%s ", ts); /* has_timestamp() wants the space */
		assert_true(has_timestamp(stamp));
	}
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 42);
	assert_string_equal(str_field(o, "msg"),
			    "42: to=+33*******78 provider=primary delay_ms=1200 status=sent ref=SM123");
	assert_string_equal(str_field(o, "to"), "+33*******78");
	assert_string_equal(str_field(o, "provider"), "primary");
	assert_string_equal(str_field(o, "delay_ms"), "1200");
	assert_string_equal(str_field(o, "status"), "sent");
	assert_string_equal(str_field(o, "ref"), "SM123");
	assert_null(json_object_get(o, "truncated"));
	assert_int_equal(json_object_size(o), 5 + 1 + 5);
	json_decref(o);
	/* The line as it is written: keys in the contract's order. */
	assert_non_null(strstr(msg_out, "\",\"level\":\"info\",\"proc\":\"json-test\",\"pid\":"));
	assert_non_null(strstr(msg_out, ",\"id\":42,\"msg\":\"42: to="));
	assert_non_null(strstr(msg_out, "ref=SM123\",\"to\":\"+33*******78\",\"provider\""));
}

static void test_json_format_parse(void **state)
{
	enum log_format f = LOG_FORMAT_JSON;

	(void)state;
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("JSON", &f), -1);
	assert_int_equal(log_format_parse("", &f), -1);
	assert_int_equal(f, LOG_FORMAT_JSON); /* untouched on error */
}

/* Nasty messages: each line parses, msg reads back as said, and the raw
 * escape is the documented one. */
static void test_json_escapes(void **state)
{
	static const struct {
		const char *name, *in, *msg, *raw;
	} cases[] = {
		{ "plain", "ingest: taking events", "ingest: taking events",
		  "\"msg\":\"ingest: taking events\"" },
		{ "newline then a forged line", "k\n{\"ts\":\"x\"}", "k\n{\"ts\":\"x\"}",
		  "\"msg\":\"k\\u000a{\\\"ts\\\":\\\"x\\\"}\"" },
		{ "carriage return, tab, ESC", "a\rb\tc\x1b[2J", "a\rb\tc\x1b[2J",
		  "\"msg\":\"a\\u000db\\u0009c\\u001b[2J\"" },
		{ "DEL", "a\x7f", "a\x7f", "\"msg\":\"a\\u007f\"" },
		{ "quotes and backslashes", "say \"hi\\\" \\\\", "say \"hi\\\" \\\\",
		  "\"msg\":\"say \\\"hi\\\\\\\" \\\\\\\\\"" },
		{ "byte FF", "fa-key-\xff", "fa-key-\xef\xbf\xbd", "\"msg\":\"fa-key-\\ufffd\"" },
		{ "lone continuation byte", "a\x80z", "a\xef\xbf\xbdz", "\"msg\":\"a\\ufffdz\"" },
		{ "euro cut short", "\xe2\x82z", "\xef\xbf\xbd\xef\xbf\xbdz",
		  "\"msg\":\"\\ufffd\\ufffdz\"" },
		{ "emoji cut short at the end", "a\xf0\x9f\x98", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
		  "\"msg\":\"a\\ufffd\\ufffd\\ufffd\"" },
		{ "overlong slash", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "\"msg\":\"\\ufffd\\ufffd\"" },
		{ "surrogate", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
		  "\"msg\":\"\\ufffd\\ufffd\\ufffd\"" },
		{ "C1 control NEL", "a\xc2\x85z", "a\xc2\x85z", "\"msg\":\"a\\u0085z\"" },
		{ "LINE SEPARATOR", "a\xe2\x80\xa8z", "a\xe2\x80\xa8z", "\"msg\":\"a\\u2028z\"" },
		{ "PARAGRAPH SEPARATOR", "a\xe2\x80\xa9z", "a\xe2\x80\xa9z", "\"msg\":\"a\\u2029z\"" },
		{ "e acute, euro, emoji kept", "Lef\xc3\xa8vre \xe2\x82\xac \xf0\x9f\x98\x80",
		  "Lef\xc3\xa8vre \xe2\x82\xac \xf0\x9f\x98\x80",
		  "\"msg\":\"Lef\xc3\xa8vre \xe2\x82\xac \xf0\x9f\x98\x80\"" },
		{ "a text escape is text", "\\x0a \\u0000", "\\x0a \\u0000",
		  "\"msg\":\"\\\\x0a \\\\u0000\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = parse_line(json_logged(cases[i].in));
		const char *msg = str_field(o, "msg");

		if (msg == NULL || strcmp(msg, cases[i].msg) != 0 ||
		    strstr(msg_out, cases[i].raw) == NULL) {
			print_error("case \"%s\": logged %s\n", cases[i].name, msg_out);
			fail();
		}
		json_decref(o);
	}
}

static void write_nul(void)
{
	log_init("json-test", LOG_LEVEL_INFO);
	log_set_format(LOG_FORMAT_JSON);
	log_info("a%cb", 0);
	log_set_format(LOG_FORMAT_TEXT);
}

/* A NUL byte (from %c) is \u0000: valid JSON, the string's length kept. */
static void test_json_nul(void **state)
{
	json_t *o;

	(void)state;
	capture(write_nul, msg_out, sizeof(msg_out));
	assert_non_null(strstr(msg_out, "\"msg\":\"a\\u0000b\""));
	*strchr(msg_out, '\n') = '\0';
	o = parse_line(msg_out);
	assert_int_equal(json_string_length(json_object_get(o, "msg")), 3);
	json_decref(o);
}

/* key=value pairs: which become fields, and as what. */
static void test_json_pairs(void **state)
{
	static const struct {
		const char *name, *in;
		long long id;         /* -1: no "id" */
		const char *fields;   /* "key=value|key=value", in order; "" none */
	} cases[] = {
		{ "message event", "7: status=retry in_ms=500 reason=\"HTTP 503: busy\"", 7,
		  "status=retry|in_ms=500|reason=HTTP 503: busy" },
		{ "a key's event, no id", "bk-1: status=rejected reason=invalid_phone "
		  "detail=\"phone: not a number\"", -1,
		  "status=rejected|reason=invalid_phone|detail=phone: not a number" },
		{ "fixed keys renamed", "started worker-1 pid=123 id=4 msg=x ts=y level=z proc=p "
		  "truncated=1", -1,
		  "kv_pid=123|kv_id=4|kv_msg=x|kv_ts=y|kv_level=z|kv_proc=p|kv_truncated=1" },
		{ "an id and a renamed id", "9: id=10", 9, "kv_id=10" },
		{ "first value kept", "1: a=1 a=2 kv_id=3 id=4", 1, "a=1|kv_id=3" },
		{ "empty values", "1: ref= note=\"\" x=1", 1, "ref=|note=|x=1" },
		{ "value with = and :", "1: url=http://h/p?a=b x=y", 1, "url=http://h/p?a=b|x=y" },
		{ "inside a word: no key", "1: xa=b (y=z) c=d", 1, "xa=b|c=d" },
		{ "key starts with a digit or _", "1: 9a=b _c=d e9_=f", 1, "e9_=f" },
		{ "key of 32 bytes", "1: abcdefghijklmnopqrstuvwxyz012345=v", 1,
		  "abcdefghijklmnopqrstuvwxyz012345=v" },
		{ "key of 33 bytes", "1: abcdefghijklmnopqrstuvwxyz0123456=v", 1, "" },
		{ "a quote then a space ends a quoted value", "1: r=\"said \"no\" now\" s=1", 1,
		  "r=said \"no|s=1" },
		{ "a quote inside a quoted value", "1: r=\"a\"b\" s=1", 1, "r=a\"b|s=1" },
		{ "no closing quote", "1: r=\"open to the end s=1", 1, "s=1" },
		{ "quoted then glued", "1: r=\"a\"b s=1", 1, "s=1" },
		{ "nasty value", "1: k=\x01\xff\"\\ x=\xe2\x80\xa8", 1,
		  "k=\x01\xef\xbf\xbd\"\\|x=\xe2\x80\xa8" },
		{ "=alone and key at the end", "1: = a= b", 1, "a=" },
		{ "leading zero: no id", "007: a=b", -1, "a=b" },
		{ "id 0", "0: a=b", 0, "a=b" },
		{ "largest id, 2^53 - 1", "9007199254740991: a=b", 9007199254740991LL, "a=b" },
		{ "id of 2^53", "9007199254740992: a=b", -1, "a=b" },
		{ "id over 64 bits", "184467440737095516150: a=b", -1, "a=b" },
		{ "no space after the colon", "42:a=b", -1, "" },
		{ "digits then text", "42x: a=b", -1, "a=b" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *o = parse_line(json_logged(cases[i].in));
		json_t *id = json_object_get(o, "id");
		char want[512], *save = NULL;
		size_t n_want = 0;

		if (cases[i].id < 0 ? id != NULL : json_integer_value(id) != cases[i].id) {
			print_error("case \"%s\": id wrong: %s\n", cases[i].name, msg_out);
			fail();
		}
		if (utf8_valid(cases[i].in, strlen(cases[i].in)))
			assert_string_equal(str_field(o, "msg"), cases[i].in);
		snprintf(want, sizeof(want), "%s", cases[i].fields);
		for (char *kv = strtok_r(want, "|", &save); kv != NULL;
		     kv = strtok_r(NULL, "|", &save)) {
			char *eq = strchr(kv, '=');
			const char *got;

			*eq = '\0';
			got = str_field(o, kv);
			if (got == NULL || strcmp(got, eq + 1) != 0) {
				print_error("case \"%s\": %s is %s, not %s: %s\n", cases[i].name, kv,
					    got ? got : "(none)", eq + 1, msg_out);
				fail();
			}
			n_want++;
		}
		if (json_object_size(o) != 5 + (id != NULL) + n_want) {
			print_error("case \"%s\": %zu keys: %s\n", cases[i].name,
				    json_object_size(o), msg_out);
			fail();
		}
		json_decref(o);
	}
}

/* Pattern p, n times (a static buffer: one at a time). */
static const char *repeat(const char *p, size_t n)
{
	static char buf[8192];
	size_t pl = strlen(p);

	assert_true(n * pl < sizeof(buf));
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * pl, p, pl);
	buf[n * pl] = '\0';
	return buf;
}

/* Lines too long for the cap: cut at the end of msg, never inside an
 * escape or a character, and marked; whole when they fit. */
static void test_json_long_lines(void **state)
{
	static const char *const patterns[] = { "x", "\"", "\\", "\n", "\xff", "\xe2\x82\xac",
						"\xe2\x80\xa8", "a\xf0\x9f\x98\x80", "k=v ",
						"r=\"a b\" ", "\xc3\xa9\x01\"" };
	const char *fffd = "\xef\xbf\xbd";

	(void)state;
	for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		size_t pl = strlen(patterns[p]);

		for (size_t n = 1; n * pl < 4200; n += (n * pl < 300 ? 13 : 97)) {
			const char *in = repeat(patterns[p], n);
			json_t *o = parse_line(json_logged(in));
			int cut = json_is_true(json_object_get(o, "truncated"));
			const char *msg = str_field(o, "msg");
			size_t len = strlen(msg_out), ml = strlen(msg);

			assert_true(len <= 2046);
			if (cut) /* the next unit (6 bytes at most) did not fit */
				assert_true(len > 2046 - 6);
			if (strcmp(patterns[p], "\xff") == 0) {
				assert_true(ml % 3 == 0 && (cut ? ml / 3 < n : ml / 3 == n));
				for (size_t k = 0; k < ml; k += 3)
					assert_memory_equal(msg + k, fffd, 3);
			} else if (cut) {
				assert_true(ml < strlen(in));
				assert_memory_equal(msg, in, ml);
				assert_true(utf8_valid(msg, ml));
			} else {
				assert_string_equal(msg, in);
			}
			json_decref(o);
		}
	}
	/* The cap is the text format's: 2,047 bytes with the newline. */
	{
		json_t *o = parse_line(json_logged(repeat("x", 5000)));

		assert_int_equal(strlen(msg_out) + 1, 2047);
		assert_true(json_is_true(json_object_get(o, "truncated")));
		json_decref(o);
	}
}

/* Many pairs, or big ones: at most 32 fields in 1 KiB; msg keeps them. */
static void test_json_pairs_bounded(void **state)
{
	char in[2000];
	size_t o = 0;
	json_t *obj;
	const char *key;
	json_t *v;
	size_t fields = 0;

	(void)state;
	o += (size_t)snprintf(in + o, sizeof(in) - o, "5:");
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(in + o, sizeof(in) - o, " k%d=%d", i, i);
	obj = parse_line(json_logged(in));
	json_object_foreach(obj, key, v)
		fields += key[0] == 'k';
	assert_int_equal(fields, 32);
	assert_string_equal(str_field(obj, "k31"), "31");
	assert_null(json_object_get(obj, "k32"));
	assert_string_equal(str_field(obj, "msg"), in);
	json_decref(obj);

	/* A value bigger than the pairs' room is in msg only. */
	snprintf(in, sizeof(in), "6: small=1 big=%s after=2", repeat("b", 1100));
	obj = parse_line(json_logged(in));
	assert_string_equal(str_field(obj, "small"), "1");
	assert_null(json_object_get(obj, "big"));
	assert_string_equal(str_field(obj, "after"), "2");
	assert_string_equal(str_field(obj, "msg"), in);
	assert_null(json_object_get(obj, "truncated"));
	json_decref(obj);
}

static void write_json_batched(void)
{
	char big[900];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("json-test", LOG_LEVEL_INFO);
	log_set_format(LOG_FORMAT_JSON);
	log_batch_begin();
	for (int i = 0; i < 60; i++) {
		if (i % 5 == 0)
			log_info("%d: big=%s \"\n", i, big);
		else
			log_info("%d: status=sent", i);
	}
	log_batch_end();
	log_set_format(LOG_FORMAT_TEXT);
}

/* JSON lines gathered in a batch: each whole, in order. */
static void test_json_batch(void **state)
{
	static char out[1 << 17];
	char *p = out;

	(void)state;
	capture(write_json_batched, out, sizeof(out));
	for (int i = 0; i < 60; i++) {
		char *nl = strchr(p, '\n');
		json_t *o;

		assert_non_null(nl);
		*nl = '\0';
		o = parse_line(p);
		assert_int_equal(json_integer_value(json_object_get(o, "id")), i);
		json_decref(o);
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
}

/* utf8_repair() (common/utf8.h) makes an ack's detail UTF-8. */
static void test_utf8_repair(void **state)
{
	static const struct {
		const char *name, *in, *out;
		size_t changed;
	} cases[] = {
		{ "valid", "Nîmes \xe2\x82\xac \xf0\x9f\x98\x80", "Nîmes \xe2\x82\xac \xf0\x9f\x98\x80", 0 },
		{ "e acute cut at the end", "caf\xc3", "caf", 1 },
		{ "emoji cut at the end", "ok \xf0\x9f\x98", "ok ", 3 },
		{ "byte FF", "fa-key-\xff", "fa-key-?", 1 },
		{ "lone continuation", "a\x80z", "a?z", 1 },
		{ "euro cut in the middle", "\xe2\x82z", "??z", 2 },
		{ "surrogate at the end", "a\xed\xa0", "a??", 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		size_t changed;

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		changed = utf8_repair(buf);
		if (strcmp(buf, cases[i].out) != 0 || changed != cases[i].changed) {
			print_error("case \"%s\": \"%s\", %zu changed\n", cases[i].name, buf, changed);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_library_line),
		cmocka_unit_test(test_pid_after_fork),
		cmocka_unit_test(test_batch_keeps_every_line_whole),
		cmocka_unit_test(test_fork_in_a_batch),
		cmocka_unit_test(test_values_are_escaped),
		cmocka_unit_test(test_escaped_line_cut_whole),
		cmocka_unit_test(test_log_value),
		cmocka_unit_test(test_limit_counts_what_it_holds_back),
		cmocka_unit_test(test_json_line_keys),
		cmocka_unit_test(test_json_format_parse),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_nul),
		cmocka_unit_test(test_json_pairs),
		cmocka_unit_test(test_json_long_lines),
		cmocka_unit_test(test_json_pairs_bounded),
		cmocka_unit_test(test_json_batch),
		cmocka_unit_test(test_utf8_repair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
