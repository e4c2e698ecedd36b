/*
 * test_pace_shared: one account's rate across nodes, in Redis
 * (store/pace_shared.h), against a real redis-server this test starts on a
 * free 127.0.0.1 port (and stops by its pid).
 *
 * Times come from the server's clock: the checks allow for the few
 * milliseconds a round trip and the scheduler take.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/pace_shared.h"

struct fx {
	int port;        /* the server's */
	pid_t pid;       /* the server, or 0 */
	char addr[64];   /* redis://127.0.0.1:PORT */
};

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Start redis-server on f->port (password: requirepass, or NULL); wait
 * until it answers PING. */
static int start_server(struct fx *f, const char *password)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", f->port);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		const char *argv[] = { "redis-server", "--port", port, "--bind", "127.0.0.1",
				       "--save", "", "--appendonly", "no", "--loglevel", "warning",
				       password ? "--requirepass" : NULL, password, NULL };

		execvp("redis-server", (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct timeval tv = { 0, 100000 };
		redisContext *c = redisConnectWithTimeout("127.0.0.1", f->port, tv);
		int up = c != NULL && c->err == 0;

		if (c != NULL)
			redisFree(c);
		if (up)
			return 0;
		sleep_ms(10);
	}
	return -1;
}

static void stop_server(struct fx *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->port = free_port();
	snprintf(f->addr, sizeof(f->addr), "redis://127.0.0.1:%d", f->port);
	*state = f;
	return f->port > 0 && start_server(f, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	stop_server(f);
	free(f);
	return 0;
}

static pace_shared *open_ps(struct fx *f, const char *password, int timeout_ms)
{
	char err[256];
	pace_shared *ps = pace_shared_new(f->addr, password, timeout_ms, err, sizeof(err));

	if (ps == NULL)
		fail_msg("pace_shared_new: %s", err);
	return ps;
}

/* A fresh account grants its burst and one more at once, then one unit per
 * interval; a want smaller than what fits is what is granted. */
static void burst_then_rate(void **state)
{
	struct fx *f = *state;
	pace_shared *ps = open_ps(f, NULL, 200);
	int64_t wait = -1, got;

	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 1, 5, 0, &wait), 5);
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 1, 100, 0, &wait), 6);
	assert_int_equal(wait, 0);
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 1, 1, 0, &wait), 0);
	assert_true(wait > 0 && wait <= 3000000); /* ~1 ms, plus the rounding */
	/* At least 5 or none: none now, and the wait is for all 5. */
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 5, 8, 0, &wait), 0);
	assert_true(wait >= 3000000 && wait <= 7000000);
	sleep_ms((int)(wait / 1000000) + 1);
	got = pace_shared_take(ps, "acct", 1000, 10, 5, 8, 0, &wait);
	assert_true(got >= 5 && got <= 8);
	/* Reserved ahead: 5 granted for ~5 ms from now, the next 5 for ~5 ms
	 * after them; with no room ahead, none. */
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 5, 8, 100000000, &wait), 5);
	assert_true(wait >= 3000000 && wait <= 7000000);
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 5, 8, 100000000, &wait), 5);
	assert_true(wait >= 8000000 && wait <= 12000000);
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 5, 8, 1000000, &wait), 0);
	assert_true(wait >= 13000000);
	sleep_ms(30);
	sleep_ms(5);
	got = pace_shared_take(ps, "acct", 1000, 10, 1, 1000, 0, &wait);
	assert_true(got >= 3 && got <= 11); /* ~5 ms at 1,000/s (the scheduler may add some) */
	sleep_ms(50);
	/* Idle longer than the burst lasts: the burst and one again, no more. */
	assert_int_equal(pace_shared_take(ps, "acct", 1000, 10, 1, 1000, 0, &wait), 11);
	/* Another account counts apart. */
	assert_int_equal(pace_shared_take(ps, "other", 1000, 10, 1, 100, 0, &wait), 11);
	assert_true(pace_shared_round_trips(ps) >= 5);
	pace_shared_destroy(&ps);
	assert_null(ps);
}

/* Two handles (two nodes) take from one state: over a second, both together
 * get the rate plus the burst, whoever asks. */
static void two_nodes_share_the_rate(void **state)
{
	struct fx *f = *state;
	pace_shared *a = open_ps(f, NULL, 200), *b = open_ps(f, NULL, 200);
	int64_t wait, total = 0, start = clock_mono_ms();

	while (clock_mono_ms() - start < 1000) {
		int64_t ga = pace_shared_take(a, "acct2", 500, 20, 1, 8, 0, &wait);
		int64_t gb = pace_shared_take(b, "acct2", 500, 20, 1, 8, 0, &wait);

		assert_true(ga >= 0 && gb >= 0);
		total += ga + gb;
		sleep_ms(2);
	}
	/* 500/s for ~1 s plus a burst of 20 and the first unit. */
	assert_true(total >= 480 && total <= 560);
	pace_shared_destroy(&a);
	pace_shared_destroy(&b);
}

/* A hold stops every taker until it ends; a shorter one does not cut it. */
static void holds_are_shared(void **state)
{
	struct fx *f = *state;
	pace_shared *a = open_ps(f, NULL, 200), *b = open_ps(f, NULL, 200);
	int64_t wait;

	assert_int_equal(pace_shared_hold(a, "acct3", 300 * 1000000LL), 0);
	assert_int_equal(pace_shared_hold(a, "acct3", 10 * 1000000LL), 0);
	assert_int_equal(pace_shared_take(b, "acct3", 1000, 10, 1, 5, 0, &wait), 0);
	assert_true(wait > 250 * 1000000LL && wait <= 302 * 1000000LL);
	sleep_ms(320);
	assert_int_equal(pace_shared_take(b, "acct3", 1000, 10, 1, 5, 0, &wait), 5);
	/* A request that left late pushes the account's next units after it. */
	assert_int_equal(pace_shared_late(a, "acct3", 1000, 50), 0);
	assert_int_equal(pace_shared_take(b, "acct3", 1000, 10, 1, 1, 0, &wait), 0);
	assert_true(wait > 35 * 1000000LL && wait <= 52 * 1000000LL); /* 50 ms less the burst */
	pace_shared_destroy(&a);
	pace_shared_destroy(&b);
}

/* No server: DOWN within the timeout, then at once until the retry time;
 * the server back (a new one: its script cache empty), taking works. */
static void down_then_back(void **state)
{
	struct fx *f = *state;
	pace_shared *ps = open_ps(f, NULL, 100);
	int64_t wait, t0;

	assert_int_equal(pace_shared_take(ps, "acct4", 100, 1, 1, 1, 0, &wait), 1);
	stop_server(f);
	assert_int_equal(pace_shared_take(ps, "acct4", 100, 1, 1, 1, 0, &wait), PACE_SHARED_DOWN);
	assert_true(strlen(pace_shared_error(ps)) > 0);
	t0 = clock_mono_ms();
	assert_int_equal(pace_shared_take(ps, "acct4", 100, 1, 1, 1, 0, &wait), PACE_SHARED_DOWN);
	assert_int_equal(pace_shared_hold(ps, "acct4", 1000000), PACE_SHARED_DOWN);
	assert_true(clock_mono_ms() - t0 < 50); /* not tried again yet */
	assert_int_equal(start_server(f, NULL), 0);
	sleep_ms(PACE_SHARED_RETRY_MS + 50);
	assert_int_equal(pace_shared_take(ps, "acct4", 100, 1, 1, 1, 0, &wait), 1);
	pace_shared_destroy(&ps);
}

/* The server forgot the scripts (SCRIPT FLUSH): they are loaded again. */
static void scripts_loaded_again(void **state)
{
	struct fx *f = *state;
	pace_shared *ps = open_ps(f, NULL, 200);
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", f->port, tv);
	redisReply *r;
	int64_t wait;

	assert_int_equal(pace_shared_take(ps, "acct5", 100, 5, 1, 1, 0, &wait), 1);
	assert_true(c != NULL && c->err == 0);
	r = redisCommand(c, "SCRIPT FLUSH");
	assert_non_null(r);
	freeReplyObject(r);
	redisFree(c);
	assert_int_equal(pace_shared_take(ps, "acct5", 100, 5, 1, 1, 0, &wait), 1);
	pace_shared_destroy(&ps);
}

/* A server with a password: without it, DOWN (NOAUTH); with it, works. */
static void password(void **state)
{
	struct fx *f = *state;
	pace_shared *ps;
	int64_t wait;

	stop_server(f);
	assert_int_equal(start_server(f, "s3cret"), 0);
	ps = open_ps(f, NULL, 200);
	assert_int_equal(pace_shared_take(ps, "acct6", 100, 5, 1, 1, 0, &wait), PACE_SHARED_DOWN);
	assert_non_null(strstr(pace_shared_error(ps), "NOAUTH"));
	pace_shared_destroy(&ps);
	ps = open_ps(f, "s3cret", 200);
	assert_int_equal(pace_shared_take(ps, "acct6", 100, 5, 1, 1, 0, &wait), 1);
	pace_shared_destroy(&ps);
	ps = open_ps(f, "wrong", 200);
	assert_int_equal(pace_shared_take(ps, "acct6", 100, 5, 1, 1, 0, &wait), PACE_SHARED_DOWN);
	pace_shared_destroy(&ps);
}

static void addresses(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(pace_shared_check_addr("redis://10.0.0.5:6380", err, sizeof(err)), 0);
	assert_int_equal(pace_shared_check_addr("redis://redis.internal", err, sizeof(err)), 0);
	assert_int_equal(pace_shared_check_addr("redis://[::1]:6379/", err, sizeof(err)), 0);
	assert_int_equal(pace_shared_check_addr("unix:/run/redis/redis.sock", err, sizeof(err)), 0);
	assert_int_equal(pace_shared_check_addr("10.0.0.5:6379", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "redis://HOST"));
	assert_int_equal(pace_shared_check_addr("redis://h:99999", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(pace_shared_check_addr("redis://h:6379/2", err, sizeof(err)), -1);
	assert_int_equal(pace_shared_check_addr("unix:relative", err, sizeof(err)), -1);
	assert_int_equal(pace_shared_check_addr("redis://", err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addresses),
		cmocka_unit_test_setup_teardown(burst_then_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(two_nodes_share_the_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(holds_are_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(down_then_back, setup, teardown),
		cmocka_unit_test_setup_teardown(scripts_loaded_again, setup, teardown),
		cmocka_unit_test_setup_teardown(password, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
