/*
 * ctl_act: pause, resume, requeue and cancel (see ctl_act.h).
 *
 * DESIGN
 * The store first, then the pacing file: the store's word is the one that
 * lasts (the pool's master copies it into the pacing file at every start),
 * so a command interrupted between the two is finished by the next start,
 * or by running it again.  The name is checked against the pacing file's
 * slots, which hold every provider the pool has paced.
 */
#include "ctl/ctl_act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "store/pace.h"
#include "store/store.h"

/* Messages a page of a filter holds (one requeue or cancel transaction). */
#define CTL_PAGE 1000
_Static_assert(CTL_PAGE <= STORE_REQUEUE_MAX && CTL_PAGE <= STORE_CANCEL_MAX,
	       "a page is one transaction");

/* Whether name is a provider of the pool (a pacing slot), or paused now. */
static int known(const char *dir, store *st, const char *name, char *names, size_t len)
{
	struct pace_view pv[PACE_MAX_SLOTS];
	struct store_pause sp[STORE_PAUSE_MAX];
	int npv = pace_list(dir, pv, PACE_MAX_SLOTS);
	int nsp = store_paused(st, sp, STORE_PAUSE_MAX);
	size_t n = 0;

	names[0] = '\0';
	for (int i = 0; i < nsp; i++)
		if (strcmp(sp[i].name, name) == 0)
			return 1;
	for (int i = 0; i < npv; i++) {
		if (strcmp(pv[i].name, name) == 0)
			return 1;
		if (n < len)
			n += (size_t)snprintf(names + n, len - n, "%s%s", n ? ", " : "", pv[i].name);
	}
	return 0;
}

/* Whether all sending is paused. */
static int all_paused(store *st)
{
	struct store_pause sp[STORE_PAUSE_MAX];
	int n = store_paused(st, sp, STORE_PAUSE_MAX);

	for (int i = 0; i < n; i++)
		if (strcmp(sp[i].name, STORE_PAUSE_ALL) == 0)
			return 1;
	return 0;
}

int ctl_pause(const char *dir, const char *name, int paused)
{
	struct store_opts so = { .dir = dir };
	const char *what = name != NULL ? name : STORE_PAUSE_ALL;
	char err[512], names[256];
	store *st;
	pace *pc = NULL;
	int changed = 0, slot = -1, code = 1;

	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 1;
	}
	if (name != NULL && !known(dir, st, name, names, sizeof(names))) {
		fprintf(stderr, "smsqctl: no provider named '%s' has sent through this pool "
				"(known: %s)\n", name, names[0] ? names : "none yet");
		code = 2;
		goto out;
	}
	if (store_pause(st, what, paused, clock_wall_ms(), &changed) != STORE_OK) {
		fprintf(stderr, "smsqctl: %s: %s\n", paused ? "pause" : "resume", store_errmsg(st));
		goto out;
	}
	pc = pace_open(dir, err, sizeof(err));
	if (pc == NULL) {
		fprintf(stderr, "smsqctl: %s (the store says %s: the pool will at its next "
				"start)\n", err, paused ? "paused" : "resumed");
		goto out;
	}
	if (name != NULL && (slot = pace_slot(pc, name)) < 0) {
		fprintf(stderr, "smsqctl: no pacing slot left for '%s'\n", name);
		goto out;
	}
	pace_set_paused(pc, slot, paused);
	printf("%s %s%s\n", name != NULL ? name : "all sending", paused ? "paused" : "resumed",
	       changed ? "" : " (it was already)");
	if (name != NULL && !paused && all_paused(st))
		printf("all sending is still paused: smsqctl resume (no name) lifts that\n");
	code = 0;
out:
	pace_close(&pc);
	store_close(&st);
	return code;
}

/* The message of key, in *id.  Returns 0, or an exit code (said). */
static int find_key(store *st, const char *what, const char *key, uint64_t *id)
{
	int rc = store_find_key(st, key, strlen(key), id);

	if (rc == STORE_NOTFOUND) {
		fprintf(stderr, "smsqctl: %s: no message with key %s\n", what, key);
		return 3;
	}
	if (rc != STORE_OK) {
		fprintf(stderr, "smsqctl: %s: %s\n", what, store_errmsg(st));
		return 1;
	}
	return 0;
}

/* Every message q finds, a page of at most 1,000 at a time, given to act()
 * (which says its own errors).  0 or -1. */
static int each_found(store *st, const char *what, const struct store_query *q,
		      int (*act)(store *st, const uint64_t *ids, size_t n, void *arg), void *arg)
{
	char cur[STORE_LIST_CURSOR_MAX] = "", next[STORE_LIST_CURSOR_MAX];
	uint64_t page[CTL_PAGE];
	struct store_brief *b = calloc(CTL_PAGE, sizeof(*b));
	int rc = -1;

	if (b == NULL) {
		fprintf(stderr, "smsqctl: %s: out of memory\n", what);
		return -1;
	}
	do {
		long got = store_list(st, q, cur, 100000, b, CTL_PAGE, next);

		if (got < 0) {
			fprintf(stderr, "smsqctl: %s: %s\n", what, store_errmsg(st));
			goto out;
		}
		for (long i = 0; i < got; i++)
			page[i] = b[i].id;
		if (got > 0 && act(st, page, (size_t)got, arg) != 0)
			goto out;
		snprintf(cur, sizeof(cur), "%s", next);
	} while (cur[0] != '\0');
	rc = 0;
out:
	free(b);
	return rc;
}

/* Counts of what store_requeue() did. */
struct requeued {
	size_t n[STORE_REQUEUE_ERASED + 1]; /* by enum store_requeue_result */
	int force;                          /* given to store_requeue() */
};

static int requeue_batch(store *st, const uint64_t *ids, size_t n, void *arg)
{
	struct requeued *r = arg;
	int force = r->force;
	enum store_requeue_result res[STORE_REQUEUE_MAX];
	int rc = store_requeue(st, ids, n, clock_wall_ms(), force, res);

	if (rc != STORE_OK) {
		fprintf(stderr, "smsqctl: requeue: %s%s\n", store_errmsg(st),
			r->n[STORE_REQUEUED] ? " (what was said requeued before this is)" : "");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		r->n[res[i]]++;
	return 0;
}

int ctl_requeue(const char *dir, const uint64_t *ids, size_t n, const char *key,
		const struct store_query *q, int force)
{
	struct store_opts so = { .dir = dir };
	struct requeued r = { { 0 }, force };
	char err[512];
	uint64_t one;
	store *st;
	int code = 1;

	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 1;
	}
	if (key != NULL) {
		code = find_key(st, "requeue", key, &one);
		if (code != 0)
			goto out;
		code = 1;
		ids = &one;
		n = 1;
	}
	for (size_t i = 0; q == NULL && i < n; i += STORE_REQUEUE_MAX)
		if (requeue_batch(st, ids + i, n - i < STORE_REQUEUE_MAX ? n - i : STORE_REQUEUE_MAX,
				  &r) != 0)
			goto out;
	if (q != NULL && each_found(st, "requeue", q, requeue_batch, &r) != 0)
		goto out;
	printf("requeued %zu", r.n[STORE_REQUEUED]);
	if (r.n[STORE_REQUEUE_PASSED])
		printf("; %zu past their appointment or expiry, left (--force sends them anyway)",
		       r.n[STORE_REQUEUE_PASSED]);
	if (r.n[STORE_REQUEUE_NOT_FINAL])
		printf("; %zu not failed, expired or held, left as they are",
		       r.n[STORE_REQUEUE_NOT_FINAL]);
	if (r.n[STORE_REQUEUE_NOT_FOUND])
		printf("; %zu not found", r.n[STORE_REQUEUE_NOT_FOUND]);
	if (r.n[STORE_REQUEUE_ERASED])
		printf("; %zu with their personal fields erased, which cannot be sent",
		       r.n[STORE_REQUEUE_ERASED]);
	printf("\n");
	code = q == NULL && r.n[STORE_REQUEUE_NOT_FOUND] == n ? 3 : 0;
out:
	store_close(&st);
	return code;
}

/* Cancel ids[0..n) in transactions of STORE_CANCEL_MAX, counting what
 * became of each in count (size_t[4]).  0 or -1 (said). */
static int cancel_batch(store *st, const uint64_t *ids, size_t n, void *arg)
{
	enum store_cancel_result res[STORE_CANCEL_MAX];
	size_t *count = arg;

	for (size_t i = 0; i < n; i += STORE_CANCEL_MAX) {
		size_t k = n - i < STORE_CANCEL_MAX ? n - i : STORE_CANCEL_MAX;

		if (store_cancel(st, ids + i, k, clock_wall_ms(), res) != STORE_OK) {
			fprintf(stderr, "smsqctl: cancel: %s%s\n", store_errmsg(st),
				count[STORE_CANCELLED] ? " (what was said cancelled before this is)"
						       : "");
			return -1;
		}
		for (size_t j = 0; j < k; j++)
			count[res[j]]++;
	}
	return 0;
}

int ctl_cancel(const char *dir, const uint64_t *ids, size_t n, const char *key,
	       const char *booking, const struct store_query *q)
{
	struct store_opts so = { .dir = dir };
	size_t count[4] = { 0 };
	uint64_t *all = NULL, one;
	char err[512];
	store *st;
	int code = 1;

	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 1;
	}
	if (key != NULL) {
		code = find_key(st, "cancel", key, &one);
		if (code != 0)
			goto out;
		code = 1;
		ids = &one;
		n = 1;
	} else if (booking != NULL) {
		long got = store_booking(st, booking, strlen(booking), NULL, 0);

		if (got > 0 && (all = calloc((size_t)got, sizeof(*all))) == NULL) {
			fprintf(stderr, "smsqctl: cancel: out of memory\n");
			goto out;
		}
		if (got > 0) {
			long had = got;

			got = store_booking(st, booking, strlen(booking), all, (size_t)had);
			if (got > had)
				got = had; /* stored in between: not cancelled */
		}
		if (got < 0) {
			fprintf(stderr, "smsqctl: cancel: %s\n", store_errmsg(st));
			code = 2; /* a booking id the store cannot hold */
			goto out;
		}
		if (got == 0) {
			fprintf(stderr, "smsqctl: cancel: no message of booking %s\n", booking);
			code = 3;
			goto out;
		}
		ids = all;
		n = (size_t)got;
	}
	if (q == NULL && cancel_batch(st, ids, n, count) != 0)
		goto out;
	if (q != NULL && each_found(st, "cancel", q, cancel_batch, count) != 0)
		goto out;
	printf("cancelled %zu", count[STORE_CANCELLED]);
	if (count[STORE_CANCEL_IN_FLIGHT])
		printf("; %zu in flight, not recalled (it may be sent)",
		       count[STORE_CANCEL_IN_FLIGHT]);
	if (count[STORE_CANCEL_FINAL])
		printf("; %zu already final, left as they are", count[STORE_CANCEL_FINAL]);
	if (count[STORE_CANCEL_NOT_FOUND])
		printf("; %zu not found", count[STORE_CANCEL_NOT_FOUND]);
	printf("\n");
	code = q == NULL && count[STORE_CANCEL_NOT_FOUND] == n ? 3 : 0;
out:
	free(all);
	store_close(&st);
	return code;
}
