/*
 * test_log: the line format of common/log.c, and the pid on a line written
 * by a forked child (the pid is cached by log_init() and refreshed by a
 * fork handler: a child that logs without calling log_init() again must
 * still show its own pid).  stderr is pointed at a pipe and read back.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_pid_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
