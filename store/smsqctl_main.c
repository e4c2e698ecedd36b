/*
 * smsqctl: look at a store while the pool runs (read-only).
 *
 *   smsqctl [-d DIR] stats [--json]    counts per state, backlog, oldest, size
 *   smsqctl [-d DIR] check             verify indexes and counters
 *
 * Exit codes: 0 ok, 1 the store cannot be read or is inconsistent, 2 usage.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "store/ctl_top.h"
#include "store/store.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smsqctl [-d DIR] COMMAND\n"
		"  -d, --dir DIR   data directory of the store (default ./var)\n"
		"commands:\n"
		"  stats [--json]  messages per state, backlog, oldest waiting, store size\n"
		"  top             live view of the drain: rate, progress, time left\n"
		"                  [--interval-ms N] [--until-drained] [--max-seconds N] [--plain]\n"
		"  check           verify every index and counter against the messages\n");
}

static void print_stats_text(const char *dir, const struct store_stats *s, int64_t now)
{
	printf("store      %s\n", dir);
	printf("waiting    %llu\n", (unsigned long long)s->waiting);
	for (int i = 0; i < STORE_STATE_COUNT; i++)
		printf("  %-9s %llu\n", store_state_name((enum store_state)i),
		       (unsigned long long)s->count[i]);
	printf("total      %llu\n", (unsigned long long)s->total);
	printf("segments   %llu waiting, %llu saved by smart encoding\n",
	       (unsigned long long)s->segments_waiting, (unsigned long long)s->segments_saved);
	printf("attempts   %llu, retries %llu (ambiguous %llu), leases run out %llu\n",
	       (unsigned long long)s->attempts, (unsigned long long)s->retries,
	       (unsigned long long)s->ambiguous, (unsigned long long)s->lease_expired);
	if (s->oldest_waiting_id != 0)
		printf("oldest     id %llu, waiting %.1f s\n",
		       (unsigned long long)s->oldest_waiting_id,
		       (double)(now - s->oldest_waiting_created_ms) / 1000.0);
	else
		printf("oldest     -\n");
	printf("disk       %.1f MiB used, %.1f MiB file, map %.0f MiB\n",
	       (double)s->used_bytes / 1048576.0, (double)s->file_bytes / 1048576.0,
	       (double)s->map_bytes / 1048576.0);
}

static int print_stats_json(const char *dir, const struct store_stats *s, int64_t now)
{
	json_t *root = json_object();
	json_t *states = json_object();
	json_t *bytes = json_object();
	int rc = 0;

	for (int i = 0; i < STORE_STATE_COUNT; i++)
		rc |= json_object_set_new(states, store_state_name((enum store_state)i),
					  json_integer((json_int_t)s->count[i]));
	rc |= json_object_set_new(root, "store", json_string(dir));
	rc |= json_object_set_new(root, "now_ms", json_integer(now));
	rc |= json_object_set_new(root, "waiting", json_integer((json_int_t)s->waiting));
	rc |= json_object_set_new(root, "total", json_integer((json_int_t)s->total));
	rc |= json_object_set_new(root, "states", states);
	rc |= json_object_set_new(root, "segments_waiting", json_integer((json_int_t)s->segments_waiting));
	rc |= json_object_set_new(root, "segments_saved", json_integer((json_int_t)s->segments_saved));
	rc |= json_object_set_new(root, "attempts", json_integer((json_int_t)s->attempts));
	rc |= json_object_set_new(root, "retries", json_integer((json_int_t)s->retries));
	rc |= json_object_set_new(root, "ambiguous_retries", json_integer((json_int_t)s->ambiguous));
	rc |= json_object_set_new(root, "lease_expired", json_integer((json_int_t)s->lease_expired));
	if (s->oldest_waiting_id != 0) {
		rc |= json_object_set_new(root, "oldest_waiting_id",
					  json_integer((json_int_t)s->oldest_waiting_id));
		rc |= json_object_set_new(root, "oldest_waiting_age_s",
					  json_real((double)(now - s->oldest_waiting_created_ms) / 1000.0));
	} else {
		rc |= json_object_set_new(root, "oldest_waiting_id", json_null());
		rc |= json_object_set_new(root, "oldest_waiting_age_s", json_null());
	}
	rc |= json_object_set_new(bytes, "used", json_integer((json_int_t)s->used_bytes));
	rc |= json_object_set_new(bytes, "file", json_integer((json_int_t)s->file_bytes));
	rc |= json_object_set_new(bytes, "map", json_integer((json_int_t)s->map_bytes));
	rc |= json_object_set_new(root, "store_bytes", bytes);
	if (rc == 0)
		rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (rc == 0)
		printf("\n");
	return rc;
}

static int cmd_stats(store *st, const char *dir, int json)
{
	struct store_stats s;
	int64_t now = clock_wall_ms();

	if (store_stats(st, &s) != STORE_OK) {
		fprintf(stderr, "smsqctl: stats: %s\n", store_errmsg(st));
		return 1;
	}
	if (json) {
		if (print_stats_json(dir, &s, now) != 0) {
			fprintf(stderr, "smsqctl: cannot write JSON\n");
			return 1;
		}
	} else {
		print_stats_text(dir, &s, now);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "until-drained", no_argument, NULL, 'u' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "plain", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = "./var";
	int json = 0;
	struct top_opts top = { .interval_ms = 1000, .plain = !isatty(STDOUT_FILENO) };
	int c;
	char err[512];
	store *st;
	int code;

	/* GNU getopt permutes: options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'j': json = 1; break;
		case 'i': top.interval_ms = strtol(optarg, NULL, 10); break;
		case 'u': top.until_drained = 1; break;
		case 'm': top.max_seconds = strtol(optarg, NULL, 10); break;
		case 'p': top.plain = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (top.interval_ms < 50 || top.interval_ms > 60000) {
		fprintf(stderr, "smsqctl: --interval-ms must be 50 to 60000\n");
		return 2;
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "stats") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "top") != 0) {
		fprintf(stderr, "smsqctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	struct store_opts so = { .dir = dir, .read_only = 1 };
	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 1;
	}
	if (strcmp(cmd, "stats") == 0) {
		code = cmd_stats(st, dir, json);
	} else if (strcmp(cmd, "top") == 0) {
		top.dir = dir;
		code = top_run(st, &top);
	} else {
		code = store_verify(st) == 0 ? 0 : 1;
		if (code == 0)
			printf("store %s: consistent\n", dir);
		else
			fprintf(stderr, "smsqctl: check: %s\n", store_errmsg(st));
	}
	store_close(&st);
	return code;
}
