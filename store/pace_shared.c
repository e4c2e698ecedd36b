/*
 * pace_shared: one provider account's rate across nodes, in Redis (see
 * pace_shared.h).
 *
 * DESIGN
 *
 * Three scripts, loaded into the server's script cache when a connection
 * opens (SCRIPT LOAD) and run by their SHA1 (EVALSHA; a server that lost
 * them, restarted, gets them again): TAKE, HOLD and LATE.  Both read the
 * server's clock (TIME, microseconds) so that nodes never compare their
 * own clocks.  TAKE is the GCRA of pace.c with a batch: with T the interval
 * between units and tau = burst * T, k units fit now when
 * max(tat, now) + (k - 1) * T <= now + tau; when k >= least it grants
 * min(most, k), moves tat by that many T and returns {granted, 0}.  When
 * fewer fit, least are reserved for the time they will, if that is within
 * `ahead` microseconds: tat moves by least * T and the answer is {least,
 * microseconds until then}, so a caller that waits for its units makes one
 * round trip for them, and callers that wait together do not wake to take
 * the same units (each was given its own time).  Beyond `ahead`: {0,
 * microseconds until least would fit}, nothing reserved.  Held: {0, until
 * the hold ends}.  Never a part of what the caller needs.  LATE moves tat
 * to at least now + the late request's units: what pace_late() does in the
 * node's file, for the account.  Times are whole microseconds written
 * with %.0f (a Lua number is a double: exact far beyond 2^51 us), so the
 * state never drifts into exponent notation.  The keys expire a minute
 * after their time has passed: an account nobody uses leaves nothing.
 *
 * The connection is synchronous (one round trip per call) with the
 * timeout on connect, send and receive alike: a stalled server costs a
 * caller one timeout, then PACE_SHARED_RETRY_MS of immediate
 * PACE_SHARED_DOWN, never a hang.
 */
#include "store/pace_shared.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/clock.h"

#define ADDR_MAX 256
#define SHA_LEN 40

static const char TAKE_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local hold = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
	"if hold > now then return {0, math.ceil(hold - now)} end\n"
	"local T = tonumber(ARGV[1])\n"
	"local tau = tonumber(ARGV[2])\n"
	"local least = tonumber(ARGV[3])\n"
	"local most = tonumber(ARGV[4])\n"
	"local ahead = tonumber(ARGV[5])\n"
	"local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"if tat < now then tat = now end\n"
	"local k = math.floor((now + tau - tat) / T) + 1\n"
	"local wait = 0\n"
	"if k < least then\n"
	"  wait = math.ceil(tat + (least - 1) * T - tau - now)\n"
	"  if wait > ahead then return {0, wait} end\n"
	"  k = least\n"
	"end\n"
	"if k > most then k = most end\n"
	"tat = tat + k * T\n"
	"redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',\n"
	"           math.ceil((tat - now) / 1000) + 60000)\n"
	"return {k, wait}\n";

static const char HOLD_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local hold = now + tonumber(ARGV[1])\n"
	"local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"if hold > cur then\n"
	"  redis.call('SET', KEYS[1], string.format('%.0f', hold), 'PX',\n"
	"             math.ceil(tonumber(ARGV[1]) / 1000) + 60000)\n"
	"end\n"
	"return 0\n";

static const char LATE_LUA[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local at = now + tonumber(ARGV[1])\n"
	"local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"if at > tat then\n"
	"  redis.call('SET', KEYS[1], string.format('%.0f', at), 'PX',\n"
	"             math.ceil(tonumber(ARGV[1]) / 1000) + 60000)\n"
	"end\n"
	"return 0\n";

struct pace_shared {
	char host[ADDR_MAX];       /* host name or address; "" with a socket path */
	char path[ADDR_MAX];       /* unix socket path, or "" */
	int port;                  /* TCP port */
	char *password;            /* AUTH, or NULL */
	struct timeval tv;         /* connect, send and receive timeout */
	redisContext *c;           /* the connection, or NULL */
	char take_sha[SHA_LEN + 1]; /* TAKE's SHA1, once loaded */
	char hold_sha[SHA_LEN + 1]; /* HOLD's */
	char late_sha[SHA_LEN + 1]; /* LATE's */
	int64_t retry_ms;          /* monotonic: no try before (after a failure) */
	uint64_t trips;            /* round trips */
	char err[256];             /* the last failure */
};

static int parse_addr(const char *addr, char *host, char *path, int *port, char *err,
		      size_t errlen)
{
	const char *h;
	size_t n;

	host[0] = path[0] = '\0';
	*port = 6379;
	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] != '/' || strlen(addr + 5) >= ADDR_MAX) {
			snprintf(err, errlen, "'%s': unix: takes an absolute socket path", addr);
			return -1;
		}
		snprintf(path, ADDR_MAX, "%s", addr + 5);
		return 0;
	}
	if (strncmp(addr, "redis://", 8) != 0) {
		snprintf(err, errlen, "'%s' is no redis://HOST[:PORT] or unix:/PATH", addr);
		return -1;
	}
	h = addr + 8;
	if (*h == '[') { /* [IPv6]:port */
		const char *end = strchr(h, ']');

		if (end == NULL || (size_t)(end - h - 1) >= ADDR_MAX || end == h + 1) {
			snprintf(err, errlen, "'%s': an IPv6 address in [] is cut short", addr);
			return -1;
		}
		memcpy(host, h + 1, (size_t)(end - h - 1));
		host[end - h - 1] = '\0';
		h = end + 1;
	} else {
		n = strcspn(h, ":/");
		if (n == 0 || n >= ADDR_MAX) {
			snprintf(err, errlen, "'%s': no host", addr);
			return -1;
		}
		memcpy(host, h, n);
		host[n] = '\0';
		h += n;
	}
	if (*h == ':') {
		char *end;
		long v;

		errno = 0;
		v = strtol(h + 1, &end, 10);
		if (errno != 0 || end == h + 1 || v < 1 || v > 65535 || (*end != '\0' && *end != '/')) {
			snprintf(err, errlen, "'%s': the port is no number from 1 to 65535", addr);
			return -1;
		}
		*port = (int)v;
		h = end;
	}
	if (*h != '\0' && strcmp(h, "/") != 0) {
		snprintf(err, errlen, "'%s': nothing may follow the port (no database number: "
			 "the keys are smsq:{NAME}:...)", addr);
		return -1;
	}
	return 0;
}

int pace_shared_check_addr(const char *addr, char *err, size_t errlen)
{
	char host[ADDR_MAX], path[ADDR_MAX];
	int port;

	return parse_addr(addr, host, path, &port, err, errlen);
}

pace_shared *pace_shared_new(const char *addr, const char *password, int timeout_ms,
			     char *err, size_t errlen)
{
	pace_shared *ps = calloc(1, sizeof(*ps));

	if (ps == NULL) {
		snprintf(err, errlen, "pace.shared: out of memory");
		return NULL;
	}
	if (parse_addr(addr, ps->host, ps->path, &ps->port, err, errlen) != 0) {
		free(ps);
		return NULL;
	}
	if (password != NULL && password[0] != '\0' && (ps->password = strdup(password)) == NULL) {
		snprintf(err, errlen, "pace.shared: out of memory");
		free(ps);
		return NULL;
	}
	if (timeout_ms < 1)
		timeout_ms = 1;
	ps->tv.tv_sec = timeout_ms / 1000;
	ps->tv.tv_usec = (timeout_ms % 1000) * 1000;
	return ps;
}

static void drop(pace_shared *ps)
{
	if (ps->c != NULL)
		redisFree(ps->c);
	ps->c = NULL;
	ps->take_sha[0] = ps->hold_sha[0] = ps->late_sha[0] = '\0';
	ps->retry_ms = clock_mono_ms() + PACE_SHARED_RETRY_MS;
}

void pace_shared_destroy(pace_shared **ps)
{
	if (ps == NULL || *ps == NULL)
		return;
	if ((*ps)->c != NULL)
		redisFree((*ps)->c);
	if ((*ps)->password != NULL) {
		memset((*ps)->password, 0, strlen((*ps)->password));
		free((*ps)->password);
	}
	free(*ps);
	*ps = NULL;
}

/* A failure: said in ps->err, the connection closed.  Returns
 * PACE_SHARED_DOWN. */
static int fail(pace_shared *ps, const char *what, const redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		snprintf(ps->err, sizeof(ps->err), "%s: %s", what, r->str);
	else if (ps->c != NULL && ps->c->err != 0)
		snprintf(ps->err, sizeof(ps->err), "%s: %s", what, ps->c->errstr);
	else
		snprintf(ps->err, sizeof(ps->err), "%s: an unexpected answer", what);
	drop(ps);
	return PACE_SHARED_DOWN;
}

/* Load one script; its SHA1 into sha.  0 or PACE_SHARED_DOWN. */
static int load(pace_shared *ps, const char *lua, char *sha)
{
	redisReply *r = redisCommand(ps->c, "SCRIPT LOAD %s", lua);
	int rc = 0;

	ps->trips++;
	if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != SHA_LEN)
		rc = fail(ps, "SCRIPT LOAD", r);
	else
		memcpy(sha, r->str, SHA_LEN + 1);
	if (r != NULL)
		freeReplyObject(r);
	return rc;
}

static int load_all(pace_shared *ps)
{
	if (load(ps, TAKE_LUA, ps->take_sha) != 0 || load(ps, HOLD_LUA, ps->hold_sha) != 0 ||
	    load(ps, LATE_LUA, ps->late_sha) != 0)
		return PACE_SHARED_DOWN;
	return 0;
}

/* A connection with the scripts loaded, or PACE_SHARED_DOWN. */
static int ready(pace_shared *ps)
{
	redisReply *r;

	if (ps->c != NULL)
		return 0;
	if (clock_mono_ms() < ps->retry_ms)
		return PACE_SHARED_DOWN; /* ps->err says why, from the last try */
	ps->c = ps->path[0] != '\0' ? redisConnectUnixWithTimeout(ps->path, ps->tv)
				    : redisConnectWithTimeout(ps->host, ps->port, ps->tv);
	if (ps->c == NULL) {
		snprintf(ps->err, sizeof(ps->err), "connect: out of memory");
		drop(ps);
		return PACE_SHARED_DOWN;
	}
	if (ps->c->err != 0)
		return fail(ps, "connect", NULL);
	if (redisSetTimeout(ps->c, ps->tv) != REDIS_OK)
		return fail(ps, "timeout", NULL);
	if (ps->password != NULL) {
		r = redisCommand(ps->c, "AUTH %s", ps->password);
		ps->trips++;
		if (r == NULL || r->type != REDIS_REPLY_STATUS) {
			int rc = fail(ps, "AUTH", r);

			if (r != NULL)
				freeReplyObject(r);
			return rc;
		}
		freeReplyObject(r);
	}
	if (load_all(ps) != 0)
		return PACE_SHARED_DOWN;
	return 0;
}

enum script { SCRIPT_TAKE, SCRIPT_HOLD, SCRIPT_LATE };

/* Run script which on the keys of name (TAKE: its state and hold; HOLD:
 * its hold; LATE: its state) with the arguments; the reply (the caller
 * frees it), or NULL (said, down).  A server that lost the scripts gets
 * them again, once. */
static redisReply *run(pace_shared *ps, const char *what, enum script which, const char *name,
		       const char *a1, const char *a2, const char *a3, const char *a4,
		       const char *a5)
{
	for (int again = 0; again < 2; again++) {
		redisReply *r;

		if (ready(ps) != 0)
			return NULL;
		if (which == SCRIPT_TAKE)
			r = redisCommand(ps->c,
					 "EVALSHA %s 2 smsq:{%s}:tat smsq:{%s}:hold %s %s %s %s %s",
					 ps->take_sha, name, name, a1, a2, a3, a4, a5);
		else if (which == SCRIPT_HOLD)
			r = redisCommand(ps->c, "EVALSHA %s 1 smsq:{%s}:hold %s", ps->hold_sha,
					 name, a1);
		else
			r = redisCommand(ps->c, "EVALSHA %s 1 smsq:{%s}:tat %s", ps->late_sha,
					 name, a1);
		ps->trips++;
		if (r != NULL && r->type == REDIS_REPLY_ERROR && again == 0 &&
		    strncmp(r->str, "NOSCRIPT", 8) == 0) {
			freeReplyObject(r);
			if (load_all(ps) != 0)
				return NULL;
			continue;
		}
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			(void)fail(ps, what, r);
			if (r != NULL)
				freeReplyObject(r);
			return NULL;
		}
		return r;
	}
	return NULL;
}

static int name_ok(pace_shared *ps, const char *name)
{
	size_t n = strlen(name);

	/* A name of the configuration: letters, digits, '-', '_' (config.c);
	 * braces would split the key's hash tag. */
	if (n == 0 || n > PACE_SHARED_NAME_MAX || strpbrk(name, "{} \r\n") != NULL) {
		snprintf(ps->err, sizeof(ps->err), "provider name '%s' cannot name a key", name);
		return 0;
	}
	return 1;
}

int64_t pace_shared_take(pace_shared *ps, const char *name, double units_per_s, double burst,
			 uint32_t least, uint32_t most, int64_t ahead_ns, int64_t *wait_ns)
{
	char t[32], tau[32], lo[16], hi[16], ah[32];
	double t_us = 1e6 / (units_per_s > 0 ? units_per_s : 1e-6);
	redisReply *r;
	int64_t granted = PACE_SHARED_DOWN;

	*wait_ns = 0;
	if (least == 0)
		least = 1;
	if (most < least)
		most = least;
	if (!name_ok(ps, name))
		return PACE_SHARED_DOWN;
	snprintf(t, sizeof(t), "%.3f", t_us);
	snprintf(tau, sizeof(tau), "%.3f", t_us * (burst > 0 ? burst : 0));
	snprintf(lo, sizeof(lo), "%" PRIu32, least);
	snprintf(hi, sizeof(hi), "%" PRIu32, most);
	snprintf(ah, sizeof(ah), "%" PRId64, ahead_ns > 0 ? ahead_ns / 1000 : 0);
	r = run(ps, "take", SCRIPT_TAKE, name, t, tau, lo, hi, ah);
	if (r == NULL)
		return PACE_SHARED_DOWN;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER &&
	    r->element[0]->integer >= 0 && r->element[0]->integer <= (long long)most &&
	    r->element[1]->integer >= 0) {
		granted = r->element[0]->integer;
		*wait_ns = r->element[1]->integer > 0 ? (int64_t)r->element[1]->integer * 1000 + 1000
						       : 0;
	} else {
		(void)fail(ps, "take", NULL);
	}
	freeReplyObject(r);
	return granted;
}

int pace_shared_hold(pace_shared *ps, const char *name, int64_t hold_ns)
{
	char us[32];
	redisReply *r;

	if (hold_ns <= 0)
		return 0;
	if (!name_ok(ps, name))
		return PACE_SHARED_DOWN;
	snprintf(us, sizeof(us), "%" PRId64, hold_ns / 1000);
	r = run(ps, "hold", SCRIPT_HOLD, name, us, NULL, NULL, NULL, NULL);
	if (r == NULL)
		return PACE_SHARED_DOWN;
	freeReplyObject(r);
	return 0;
}

int pace_shared_late(pace_shared *ps, const char *name, double units_per_s, uint32_t units)
{
	char us[32];
	redisReply *r;

	if (units == 0 || units_per_s <= 0)
		return 0;
	if (!name_ok(ps, name))
		return PACE_SHARED_DOWN;
	snprintf(us, sizeof(us), "%.0f", (double)units * 1e6 / units_per_s);
	r = run(ps, "late", SCRIPT_LATE, name, us, NULL, NULL, NULL, NULL);
	if (r == NULL)
		return PACE_SHARED_DOWN;
	freeReplyObject(r);
	return 0;
}

const char *pace_shared_error(const pace_shared *ps)
{
	return ps->err;
}

uint64_t pace_shared_round_trips(const pace_shared *ps)
{
	return ps->trips;
}
