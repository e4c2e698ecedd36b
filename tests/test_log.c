/*
 * test_log: the line format of common/log.c, and the pid on a line written
 * by a forked child (the pid is cached by log_init() and refreshed by a
 * fork handler: a child that logs without calling log_init() again must
 * still show its own pid).  stderr is pointed at a pipe and read back.
 * Then what a value from outside cannot do to the log: start a
 * line, carry a control or invalid byte, take more than a few dozen bytes,
 * or be repeated without limit.  Last, utf8_repair() of common/utf8.h (the
 * decoder the escaping uses), which keeps an ack's detail UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
		cmocka_unit_test(test_pid_after_fork),
		cmocka_unit_test(test_batch_keeps_every_line_whole),
		cmocka_unit_test(test_fork_in_a_batch),
		cmocka_unit_test(test_values_are_escaped),
		cmocka_unit_test(test_escaped_line_cut_whole),
		cmocka_unit_test(test_log_value),
		cmocka_unit_test(test_limit_counts_what_it_holds_back),
		cmocka_unit_test(test_utf8_repair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
