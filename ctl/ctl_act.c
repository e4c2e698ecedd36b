/*
 * ctl_act: pause and resume (see ctl_act.h).
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
#include <string.h>

#include "common/clock.h"
#include "store/pace.h"
#include "store/store.h"

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
