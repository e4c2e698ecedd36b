/*
 * smsqctl: look at a store while the pool runs (read-only).
 *
 *   smsqctl [-d DIR] stats [--json]    counts per state, backlog, oldest, size
 *   smsqctl [-d DIR] check             verify indexes and counters
 *   smsqctl [-d DIR] inspect ID|--key K|--booking B  messages: state, attempts, times
 *   smsqctl [-d DIR] list [filters]    messages by state, provider, reason, age
 *   smsqctl [-d DIR] pause [PROVIDER]  pause sending (through PROVIDER, or all)
 *   smsqctl [-d DIR] resume [PROVIDER] send again
 *   smsqctl [-d DIR] requeue ID...|--key K|--state S [filters] [--force]
 *   smsqctl [-d DIR] cancel ID...|--key K|--booking B  withdraw waiting messages
 *   smsqctl [-c CONF] preview [FILE]   events (JSON) as the pool would send them
 *   smsqctl [-c CONF] templates check  lint the text templates
 *   smsqctl keygen NAME [DIR]          a CURVE key pair: DIR/NAME.key, DIR/NAME.secret
 *   smsqctl keygen --store FILE        a key for encryption at rest (store.encrypt_key_file)
 *
 * Exit codes: 0 ok, 1 the store cannot be read or is inconsistent (preview:
 * an event is rejected; templates check: a template has an error), 2 usage
 * (preview: also an event that could not be checked now).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "ctl/ctl_act.h"
#include "ctl/ctl_inspect.h"
#include "ctl/ctl_top.h"
#include "store/counters.h"
#include "store/store.h"
#include "worker/auth.h"
#include "worker/config.h"
#include "store/pace.h"
#include "ctl/ctl_text.h"
#include "producer/event_json.h"
#include "common/num.h"
#include "common/seal.h"
#include "common/secret.h"
#include "proto/booking.pb-c.h"

#define VELOCITY_SEEN 8 /* velocity refusals and holds smsqctl stats shows */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smsqctl [-d DIR] COMMAND\n"
		"  -d, --dir DIR   data directory of the store (default ./var)\n"
		"commands:\n"
		"  stats [--json]  messages per state, backlog, oldest waiting, store size\n"
		"  top             live view of the drain: rate, progress, time left\n"
		"                  [--interval-ms N] [--until-drained] [--max-seconds N] [--plain]\n"
		"  check           verify every index and counter against the messages\n"
		"  inspect ID | --key KEY | --booking ID   one message (or each of a booking):\n"
		"                  state, attempts, times, booking, the provider's id or the\n"
		"                  last reason [--json] [--show-number]\n"
		"  list            messages, a page at a time: [--state S] [--provider-index N]\n"
		"                  [--reason TEXT] [--older-than SECONDS] [--limit N (50)]\n"
		"                  [--after CURSOR] [--json]\n"
		"  pause [PROVIDER]   stop sending through PROVIDER, or all sending; lasts across\n"
		"                  restarts until resume\n"
		"  resume [PROVIDER]  send again\n"
		"  requeue ID... | --key KEY | --state failed|expired|held [--reason TEXT]\n"
		"                  [--provider-index N] [--older-than SECONDS]   back in the queue\n"
		"                  (held: released); past their appointment or expiry only with\n"
		"                  --force\n"
		"  cancel ID... | --key KEY | --booking ID | --state held [--reason TEXT]\n"
		"                  [--older-than SECONDS]   withdraw waiting or held messages:\n"
		"                  never sent (one in flight is not recalled)\n"
		"  preview [FILE]  render events (JSON, one per line; default stdin) as the pool\n"
		"                  would: number, template, text, encoding, segments  [--json]\n"
		"                  [--at RFC3339 time to check expiries against]\n"
		"  templates check lint the templates: placeholders, UCS-2 characters, worst-case\n"
		"                  segments [--name-len N (40)] [--place-len N (60)]\n"
		"  keygen NAME [DIR]  a CURVE key pair for the pool or a producer: DIR/NAME.key\n"
		"                  (public) and DIR/NAME.secret (mode 600); DIR defaults to .\n"
		"  keygen --store FILE  a key for encryption at rest (store.encrypt_key_file):\n"
		"                  FILE, new, mode 600\n"
		"options of preview, templates and inspect (the pool's configuration; inspect\n"
		"reads the store's key of store.encrypt_key_file when it is set):\n"
		"  -c, --config FILE        smsq-worker's configuration file\n"
		"  -o, --set NAME=VALUE     one option, as smsq-worker -o (ingest.templates_dir=...)\n");
}

/* keygen --store FILE: a new key file for store.encrypt_key_file, mode
 * 600, never over an existing file. */
static int keygen_store(const char *path)
{
	char hex[SEAL_KEY_HEX + 2];
	int fd = -1, code = 1;

	if (seal_key_make(hex) != 0) {
		fprintf(stderr, "smsqctl: keygen: libsodium cannot start\n");
		goto out;
	}
	hex[SEAL_KEY_HEX] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "smsqctl: keygen: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (write(fd, hex, SEAL_KEY_HEX + 1) != SEAL_KEY_HEX + 1 || fsync(fd) != 0) {
		fprintf(stderr, "smsqctl: keygen: %s: %s\n", path, strerror(errno));
		(void)unlink(path);
		goto out;
	}
	printf("%s  the store's key (mode 600): set store.encrypt_key_file = %s; keep a copy "
	       "apart from the backups of the data directory (without it the waiting "
	       "messages cannot be read)\n", path, path);
	code = 0;
out:
	if (fd >= 0 && close(fd) != 0 && code == 0) {
		fprintf(stderr, "smsqctl: keygen: %s: %s\n", path, strerror(errno));
		code = 1;
	}
	secret_wipe(hex, sizeof(hex));
	return code;
}

/* keygen NAME [DIR]: a key pair, its public key printed. */
static int keygen_command(int argc, char **argv, const char *store_key)
{
	char pub[KEYFILE_Z85], err[512];
	const char *dir = argc == 2 ? argv[1] : ".";

	if (store_key != NULL) {
		if (argc != 0) {
			fprintf(stderr, "smsqctl: usage: smsqctl keygen --store FILE\n");
			return 2;
		}
		return keygen_store(store_key);
	}
	if (argc < 1 || argc > 2) {
		fprintf(stderr, "smsqctl: usage: smsqctl keygen NAME [DIR]\n");
		return 2;
	}
	if (auth_keygen(dir, argv[0], pub, err, sizeof(err)) != 0) {
		fprintf(stderr, "smsqctl: keygen: %s\n", err);
		return 1;
	}
	printf("%s/%s.key     public key %s: give it to the other side (a producer's: "
	       "into the pool's\n                   ingest.curve_producers directory; the "
	       "pool's: to every producer)\n%s/%s.secret  the key pair (mode 600): keep it "
	       "where it is used, never share it\n", dir, argv[0], pub, dir, argv[0]);
	return 0;
}

/* What an operator paused (store_pause()). */
struct paused {
	struct store_pause p[STORE_PAUSE_MAX];
	int n;
};

/* What pace.shared did for one pacing slot. */
struct shared_seen {
	uint64_t trips;  /* round trips to the Redis server */
	uint64_t units;  /* units it granted */
	uint64_t down;   /* processes pacing on the node's share now */
};

/* What stats shows of the counters file, read once: the delivery reports
 * (every provider's summed), the producers the ingest socket refused, the
 * velocity limits' refusals and holds, pace.shared by pacing slot. */
struct counted {
	int known;                                  /* the file was read */
	uint64_t result[COUNTERS_RECEIPT_COUNT];    /* reports by result */
	int counted;                                /* missing is a count made */
	uint64_t missing;                           /* sent, no report after expect_s */
	uint64_t expect_s;
	uint64_t producers_refused;                 /* CURVE keys not in the allow-list */
	uint64_t velocity[VELOCITY_SEEN];           /* refused for SMS pumping, by
						       velocity_names[] */
	struct shared_seen shared[PACE_MAX_SLOTS];  /* by pacing slot */
};

/* What the velocity limits refused (stats "velocity"): events at ingest by
 * reason, messages at dispatch by limit; events stored held, by reason. */
static const char *const velocity_names[VELOCITY_SEEN] = {
	"ingest_number", "ingest_range", "ingest_country", "dispatch_number_per_hour",
	"dispatch_number_per_day", "held_number", "held_range", "held_country",
};

/* The counters file, what stats shows of it (r->known 0: no file). */
static void read_counted(const char *dir, struct counted *r)
{
	struct counters_data *c = calloc(1, sizeof(*c));

	memset(r, 0, sizeof(*r));
	if (c == NULL || counters_read(dir, c) != 1) {
		free(c);
		return;
	}
	r->known = 1;
	for (int p = 0; p < PACE_MAX_SLOTS; p++)
		for (int k = 0; k < COUNTERS_RECEIPT_COUNT; k++)
			r->result[k] += c->prov[p].receipts[k];
	r->counted = c->receipts_counted != 0;
	r->missing = c->receipts_unreported;
	r->expect_s = c->receipts_expect_s;
	r->producers_refused = c->producers_refused;
	r->velocity[0] = c->rejected[SMSQ__REASON__REASON_VELOCITY_NUMBER];
	r->velocity[1] = c->rejected[SMSQ__REASON__REASON_VELOCITY_RANGE];
	r->velocity[2] = c->rejected[SMSQ__REASON__REASON_VELOCITY_COUNTRY];
	r->velocity[3] = c->velocity_sends_refused[0];
	r->velocity[4] = c->velocity_sends_refused[1];
	r->velocity[5] = c->held[SMSQ__REASON__REASON_VELOCITY_NUMBER];
	r->velocity[6] = c->held[SMSQ__REASON__REASON_VELOCITY_RANGE];
	r->velocity[7] = c->held[SMSQ__REASON__REASON_VELOCITY_COUNTRY];
	for (int p = 0; p < PACE_MAX_SLOTS; p++) {
		r->shared[p].trips = c->prov[p].shared_trips;
		r->shared[p].units = c->prov[p].shared_units;
		r->shared[p].down = c->prov[p].shared_down;
	}
	free(c);
}

static void print_stats_text(const char *dir, const struct store_stats *s, int64_t now,
			     const struct paused *pa, const struct counted *cs)
{
	const struct counted *rs = cs;

	printf("store      %s\n", dir);
	printf("waiting    %llu\n", (unsigned long long)s->waiting);
	for (int i = 0; i < STORE_STATE_COUNT; i++)
		printf("  %-9s %llu\n", store_state_name((enum store_state)i),
		       (unsigned long long)s->count[i]);
	printf("total      %llu ever stored, %llu purged since (their keys: %llu kept)\n",
	       (unsigned long long)s->total, (unsigned long long)s->purged_ever,
	       (unsigned long long)s->keys_kept);
	printf("segments   %llu waiting, %llu saved by smart encoding, %llu withdrawn\n",
	       (unsigned long long)s->segments_waiting, (unsigned long long)s->segments_saved,
	       (unsigned long long)s->segments_withdrawn);
	if (s->outbox > 0 || s->outbox_dropped > 0)
		printf("outcomes   %llu waiting for the backend, %llu dropped (outbox full)\n",
		       (unsigned long long)s->outbox, (unsigned long long)s->outbox_dropped);
	if (rs->counted || s->receipts_held > 0 || rs->result[COUNTERS_RECEIPT_DELIVERED] > 0 ||
	    rs->result[COUNTERS_RECEIPT_UNDELIVERED] > 0) {
		printf("receipts   %llu delivered, %llu undelivered, %llu repeated, %llu older, "
		       "%llu unknown, %llu refused; %llu held for their send\n",
		       (unsigned long long)rs->result[COUNTERS_RECEIPT_DELIVERED],
		       (unsigned long long)rs->result[COUNTERS_RECEIPT_UNDELIVERED],
		       (unsigned long long)rs->result[COUNTERS_RECEIPT_REPEATED],
		       (unsigned long long)rs->result[COUNTERS_RECEIPT_OLDER],
		       (unsigned long long)rs->result[COUNTERS_RECEIPT_UNKNOWN],
		       (unsigned long long)(rs->result[COUNTERS_RECEIPT_FORGED] +
					    rs->result[COUNTERS_RECEIPT_MALFORMED]),
		       (unsigned long long)s->receipts_held);
		if (rs->counted)
			printf("no report  %llu sent %llu s ago or more with no delivery report "
			       "(last count)\n", (unsigned long long)rs->missing,
			       (unsigned long long)rs->expect_s);
	}
	if (rs->known)
		printf("velocity   refused at ingest: %llu number, %llu range, %llu country; "
		       "held: %llu number, %llu range, %llu country; failed at dispatch: %llu "
		       "number_per_hour, %llu number_per_day\n",
		       (unsigned long long)rs->velocity[0], (unsigned long long)rs->velocity[1],
		       (unsigned long long)rs->velocity[2], (unsigned long long)rs->velocity[5],
		       (unsigned long long)rs->velocity[6], (unsigned long long)rs->velocity[7],
		       (unsigned long long)rs->velocity[3], (unsigned long long)rs->velocity[4]);
	printf("withdrawn  %llu superseded, %llu cancelled by an operator; %llu requeued\n",
	       (unsigned long long)s->superseded_ever, (unsigned long long)s->cancelled_ever,
	       (unsigned long long)s->requeued_ever);
	if (s->unsealed_ever > 0)
		printf("unsealed   %llu failed: their encrypted fields did not open (store: "
		       "cannot decrypt; altered on disk?)\n", (unsigned long long)s->unsealed_ever);
	printf("attempts   %llu, retries %llu (ambiguous %llu), leases run out %llu\n",
	       (unsigned long long)s->attempts, (unsigned long long)s->retries,
	       (unsigned long long)s->ambiguous, (unsigned long long)s->lease_expired);
	if (s->oldest_waiting_id != 0)
		printf("oldest     id %llu, waiting %.1f s\n",
		       (unsigned long long)s->oldest_waiting_id,
		       (double)(now - s->oldest_waiting_created_ms) / 1000.0);
	else
		printf("oldest     -\n");
	printf("disk       %.1f MiB used (%.1f MiB free for reuse), %.1f MiB file "
	       "(+%.1f MiB kept for sending), map %.0f MiB",
	       (double)s->used_bytes / 1048576.0, (double)s->free_bytes / 1048576.0,
	       (double)s->file_bytes / 1048576.0, (double)s->reserve_bytes / 1048576.0,
	       (double)s->map_bytes / 1048576.0);
	if (s->map_max_bytes != 0)
		printf(" of %.0f MiB at most", (double)s->map_max_bytes / 1048576.0);
	printf("\n           %.1f MiB left on the filesystem of %.1f MiB\n",
	       (double)s->disk_avail_bytes / 1048576.0, (double)s->disk_total_bytes / 1048576.0);
	struct pace_view pv[PACE_MAX_SLOTS];
	int npv = pace_list(dir, pv, PACE_MAX_SLOTS);

	for (int i = 0; i < npv; i++) {
		const struct shared_seen *x = &cs->shared[pv[i].slot];

		printf("provider   %s: limit %.0f/s, paced at %.1f/s", pv[i].name, pv[i].units_per_s,
		       pv[i].effective_per_s);
		if (pv[i].throttles > 0)
			printf(", throttled %llu time(s)", (unsigned long long)pv[i].throttles);
		if (pv[i].misconfigured)
			printf(", MISCONFIGURED: %s", pv[i].reason);
		else if (pv[i].circuit_open)
			printf(", circuit open");
		if (pv[i].paused)
			printf(", PAUSED");
		if (x->trips > 0)
			printf(", shared: %llu units in %llu round trips",
			       (unsigned long long)x->units, (unsigned long long)x->trips);
		if (x->down > 0)
			printf(", ON THIS NODE'S SHARE (pace.shared not answering %llu process(es))",
			       (unsigned long long)x->down);
		printf("\n");
	}
	for (int i = 0; i < pa->n; i++)
		printf("PAUSED     %s, for %.0f s (smsqctl resume%s%s)\n",
		       strcmp(pa->p[i].name, STORE_PAUSE_ALL) == 0 ? "all sending" : pa->p[i].name,
		       (double)(now - pa->p[i].since_ms) / 1000.0,
		       strcmp(pa->p[i].name, STORE_PAUSE_ALL) == 0 ? "" : " ",
		       strcmp(pa->p[i].name, STORE_PAUSE_ALL) == 0 ? "" : pa->p[i].name);
	if (rs->producers_refused > 0)
		printf("REFUSED    %llu producer connections: a CURVE key not in the allow-list "
		       "(ingest.curve_producers; the log has each key)\n",
		       (unsigned long long)rs->producers_refused);
	if (s->disk_full)
		printf("FULL       disk full: ingest takes only what fits in the %.1f MiB free for "
		       "reuse, else answers RETRY_LATER store_full; sending goes on\n",
		       (double)s->free_bytes / 1048576.0);
	else if (s->ingest_full)
		printf("FULL       store full (near store.map_max_mb): ingest answers RETRY_LATER "
		       "store_full; sending goes on\n");
}

/* The providers as the pacing file has them (the pool's own view), with
 * what pace.shared did for each (the counters, null without them). */
static json_t *providers_json(const char *dir, const struct counted *cs)
{
	struct pace_view pv[PACE_MAX_SLOTS];
	int n = pace_list(dir, pv, PACE_MAX_SLOTS);
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < n; i++) {
		const struct shared_seen *x = &cs->shared[pv[i].slot];
		json_t *o = json_pack("{s:s, s:f, s:f, s:f, s:I, s:s, s:I, s:s?, s:b, s:o}", "name",
				      pv[i].name,
				      "limit_per_s", pv[i].units_per_s, "allowed_per_s",
				      pv[i].effective_per_s, "ceiling_per_s", pv[i].ceiling_per_s,
				      "throttles", (json_int_t)pv[i].throttles, "circuit",
				      pv[i].circuit_open ? "open" : "closed", "held_ms",
				      (json_int_t)pv[i].blocked_ms, "misconfigured",
				      pv[i].misconfigured ? pv[i].reason : NULL, "paused",
				      pv[i].paused, "shared",
				      cs->known ? json_pack("{s:I, s:I, s:I}", "round_trips",
							(json_int_t)x->trips, "units",
							(json_int_t)x->units, "fallback_processes",
							(json_int_t)x->down)
					    : json_null());

		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return json_null();
		}
	}
	return arr != NULL ? arr : json_null();
}

/* An object of n counts named by names (NULL on out of memory). */
static json_t *counts_json(const char *const *names, const uint64_t *v, int n)
{
	json_t *o = json_object();

	for (int k = 0; o != NULL && k < n; k++)
		json_object_set_new(o, names[k], json_integer((json_int_t)v[k]));
	return o;
}

/* {"delivered": n, ..., "missing": n or null, "missing_after_s": s or null}:
 * the reports the endpoint took, by result (null: no counters file); the
 * producers refused into *refused (null: no counters file). */
static json_t *receipts_json(const struct counted *cs, json_t **refused)
{
	const struct counted *rs = cs;
	json_t *o;

	*refused = rs->known ? json_integer((json_int_t)rs->producers_refused) : json_null();
	if (!rs->known)
		return json_null();
	o = counts_json(counters_receipt_names, rs->result, COUNTERS_RECEIPT_COUNT);
	if (o != NULL) {
		json_object_set_new(o, "missing",
				    rs->counted ? json_integer((json_int_t)rs->missing) : json_null());
		json_object_set_new(o, "missing_after_s",
				    rs->counted ? json_integer((json_int_t)rs->expect_s) : json_null());
	}
	return o;
}

static json_t *velocity_json(const struct counted *cs)
{
	return cs->known ? counts_json(velocity_names, cs->velocity, VELOCITY_SEEN) : json_null();
}

static int print_stats_json(const char *dir, const struct store_stats *s, int64_t now,
			    const struct paused *pa, const struct counted *cs)
{
	json_t *paused = json_array();
	json_t *root = json_object();
	json_t *refused = NULL;
	json_t *states = json_object();
	json_t *bytes = json_object();
	json_t *disk = json_object();
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
	rc |= json_object_set_new(root, "segments_withdrawn",
				  json_integer((json_int_t)s->segments_withdrawn));
	rc |= json_object_set_new(root, "superseded_total", json_integer((json_int_t)s->superseded_ever));
	rc |= json_object_set_new(root, "operator_cancelled_total",
				  json_integer((json_int_t)s->cancelled_ever));
	rc |= json_object_set_new(root, "operator_requeued_total",
				  json_integer((json_int_t)s->requeued_ever));
	rc |= json_object_set_new(root, "unsealed_failed_total",
				  json_integer((json_int_t)s->unsealed_ever));
	rc |= json_object_set_new(root, "purged_total", json_integer((json_int_t)s->purged_ever));
	rc |= json_object_set_new(root, "keys_kept", json_integer((json_int_t)s->keys_kept));
	rc |= json_object_set_new(root, "receipts_held",
				  json_integer((json_int_t)s->receipts_held));
	rc |= json_object_set_new(root, "receipts", receipts_json(cs, &refused));
	rc |= json_object_set_new(root, "producers_refused", refused);
	rc |= json_object_set_new(root, "velocity", velocity_json(cs));
	rc |= json_object_set_new(root, "outbox", json_integer((json_int_t)s->outbox));
	rc |= json_object_set_new(root, "outbox_dropped",
				  json_integer((json_int_t)s->outbox_dropped));
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
	rc |= json_object_set_new(bytes, "free", json_integer((json_int_t)s->free_bytes));
	rc |= json_object_set_new(bytes, "reserve", json_integer((json_int_t)s->reserve_bytes));
	rc |= json_object_set_new(bytes, "map_max", s->map_max_bytes != 0
							    ? json_integer((json_int_t)s->map_max_bytes)
							    : json_null());
	rc |= json_object_set_new(root, "store_bytes", bytes);
	rc |= json_object_set_new(disk, "free", json_integer((json_int_t)s->disk_avail_bytes));
	rc |= json_object_set_new(disk, "total", json_integer((json_int_t)s->disk_total_bytes));
	rc |= json_object_set_new(disk, "full", json_boolean(s->disk_full));
	rc |= json_object_set_new(root, "disk", disk);
	rc |= json_object_set_new(root, "full", s->disk_full     ? json_string("disk")
						 : s->ingest_full ? json_string("map")
								  : json_null());
	rc |= json_object_set_new(root, "providers", providers_json(dir, cs));
	for (int i = 0; paused != NULL && i < pa->n; i++)
		rc |= json_array_append_new(paused, json_pack("{s:s, s:I}", "name", pa->p[i].name,
							      "since_ms",
							      (json_int_t)pa->p[i].since_ms));
	rc |= json_object_set_new(root, "paused", paused != NULL ? paused : json_null());
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
	struct paused pa;
	struct counted cs;
	int64_t now = clock_wall_ms();

	if (store_stats(st, &s) != STORE_OK ||
	    (pa.n = store_paused(st, pa.p, STORE_PAUSE_MAX)) < 0) {
		fprintf(stderr, "smsqctl: stats: %s\n", store_errmsg(st));
		return 1;
	}
	read_counted(dir, &cs);
	if (json) {
		if (print_stats_json(dir, &s, now, &pa, &cs) != 0) {
			fprintf(stderr, "smsqctl: cannot write JSON\n");
			return 1;
		}
	} else {
		print_stats_text(dir, &s, now, &pa, &cs);
	}
	return 0;
}

/* A field length for templates check: 1 to 255, digits only. */
static int parse_len(const char *s, size_t *out)
{
	uint64_t v;

	if (num_parse_u64(s, 1, 255, &v) != 0) {
		fprintf(stderr, "smsqctl: --name-len and --place-len must be 1 to 255\n");
		return -1;
	}
	*out = v;
	return 0;
}

/* preview [FILE] | templates check: the pool's configuration, no store. */
static int text_command(const struct config *cfg, int argc, char **argv, int json,
			int64_t at_ms, struct render_lint_opts *lint)
{
	if (strcmp(argv[0], "templates") == 0) {
		if (argc != 2 || strcmp(argv[1], "check") != 0) {
			fprintf(stderr, "smsqctl: usage: smsqctl [-c CONF] templates check\n");
			return 2;
		}
		lint->max_segments = (size_t)cfg->ingest_max_segments;
		lint->smart_encoding = cfg->ingest_smart_encoding != 0;
		return ctl_templates_check(cfg, lint);
	}
	if (argc > 2) {
		fprintf(stderr, "smsqctl: usage: smsqctl [-c CONF] preview [FILE]\n");
		return 2;
	}
	if (argc == 1 || strcmp(argv[1], "-") == 0)
		return ctl_preview(cfg, stdin, "stdin", json, at_ms);
	FILE *fp = fopen(argv[1], "r");
	if (fp == NULL) {
		fprintf(stderr, "smsqctl: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	int code = ctl_preview(cfg, fp, argv[1], json, at_ms);
	fclose(fp);
	return code;
}

/* The message ids of argv[0..argc), or NULL (said). */
static uint64_t *parse_ids(const char *what, int argc, char **argv)
{
	uint64_t *ids = calloc((size_t)argc + 1, sizeof(*ids));

	if (ids == NULL) {
		fprintf(stderr, "smsqctl: out of memory\n");
		return NULL;
	}
	for (int i = 0; i < argc; i++) {
		if (num_parse_u64(argv[i], 1, UINT64_MAX, &ids[i]) != 0) {
			fprintf(stderr, "smsqctl: %s: '%s' is not a message id\n", what, argv[i]);
			free(ids);
			return NULL;
		}
	}
	return ids;
}

/* requeue: ids, or --key, or a filter with --state failed|expired|held. */
static int requeue_command(const char *dir, int argc, char **argv, const char *key,
			   const struct store_query *q, int force)
{
	int filtered = q->state >= 0 || q->provider >= 0 || q->reason != NULL ||
		       q->created_before_ms > 0;
	uint64_t *ids;
	int code;

	if ((argc > 0) + (key != NULL) + filtered != 1) {
		fprintf(stderr, "smsqctl: requeue wants message ids, or --key KEY, or --state failed, "
				"expired or held with filters\n");
		return 2;
	}
	if (filtered) {
		if (q->state != STORE_STATE_FAILED && q->state != STORE_STATE_EXPIRED &&
		    q->state != STORE_STATE_HELD) {
			fprintf(stderr, "smsqctl: requeue: --state failed, expired or held\n");
			return 2;
		}
		return ctl_requeue(dir, NULL, 0, NULL, q, force);
	}
	ids = parse_ids("requeue", argc, argv);
	if (ids == NULL)
		return 2;
	code = ctl_requeue(dir, ids, (size_t)argc, key, NULL, force);
	free(ids);
	return code;
}

/* cancel: ids, or --key, or --booking, or a filter with --state held. */
static int cancel_command(const char *dir, int argc, char **argv, const char *key,
			  const char *booking, const struct store_query *q)
{
	int filtered = q->state >= 0 || q->provider >= 0 || q->reason != NULL ||
		       q->created_before_ms > 0;
	uint64_t *ids;
	int code;

	if ((argc > 0) + (key != NULL) + (booking != NULL) + filtered != 1) {
		fprintf(stderr, "smsqctl: cancel wants message ids, or --key KEY, or --booking ID, "
				"or --state held with filters\n");
		return 2;
	}
	if (filtered) {
		/* Only held ones by filter: a filter over the waiting ones would
		 * withdraw a backlog with one mistyped option. */
		if (q->state != STORE_STATE_HELD) {
			fprintf(stderr, "smsqctl: cancel: --state held (waiting messages are "
					"cancelled by id, key or booking)\n");
			return 2;
		}
		return ctl_cancel(dir, NULL, 0, NULL, NULL, q);
	}
	if (argc == 0)
		return ctl_cancel(dir, NULL, 0, key, booking, NULL);
	ids = parse_ids("cancel", argc, argv);
	if (ids == NULL)
		return 2;
	code = ctl_cancel(dir, ids, (size_t)argc, NULL, NULL, NULL);
	free(ids);
	return code;
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
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "at", required_argument, NULL, 'a' },
		{ "name-len", required_argument, NULL, 'N' },
		{ "place-len", required_argument, NULL, 'L' },
		{ "key", required_argument, NULL, 'k' },
		{ "show-number", no_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 'S' },
		{ "provider-index", required_argument, NULL, 'P' },
		{ "reason", required_argument, NULL, 'R' },
		{ "older-than", required_argument, NULL, 'O' },
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'A' },
		{ "force", no_argument, NULL, 'F' },
		{ "booking", required_argument, NULL, 'B' },
		{ "store", required_argument, NULL, 'K' },
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
	struct config cfg;
	int64_t at_ms = 0;
	const char *key = NULL, *after = NULL, *booking = NULL, *store_key = NULL;
	int show_number = 0, force = 0;
	struct store_query q = { .state = -1, .provider = -1 };
	uint64_t limit = 50;
	long v;
	struct render_lint_opts lint = { .patient_len = 40, .practitioner_len = 40,
					 .place_len = 60, .booking_id_len = 20 };

	config_defaults(&cfg);

	/* GNU getopt permutes: options may come before or after the command. */
	while ((c = getopt_long(argc, argv, "d:c:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'c':
			if (config_load_file(&cfg, optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "smsqctl: %s\n", err);
				return 2;
			}
			break;
		case 'o':
			if (config_set_arg(&cfg, optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "smsqctl: %s\n", err);
				return 2;
			}
			break;
		case 'a':
			if (event_json_parse_time(optarg, &at_ms) != 0) {
				fprintf(stderr, "smsqctl: --at wants an RFC 3339 time "
						"(2027-03-30T12:00:00Z)\n");
				return 2;
			}
			break;
		case 'N':
			if (parse_len(optarg, &lint.patient_len) != 0)
				return 2;
			lint.practitioner_len = lint.patient_len;
			break;
		case 'L':
			if (parse_len(optarg, &lint.place_len) != 0)
				return 2;
			break;
		case 'j': json = 1; break;
		case 'i':
			if (num_parse_long(optarg, 50, 60000, &top.interval_ms) != 0) {
				fprintf(stderr, "smsqctl: --interval-ms must be 50 to 60000\n");
				return 2;
			}
			break;
		case 'u': top.until_drained = 1; break;
		case 'm':
			if (num_parse_long(optarg, 0, LONG_MAX / 1000, &top.max_seconds) != 0) {
				fprintf(stderr, "smsqctl: --max-seconds must be a number of seconds\n");
				return 2;
			}
			break;
		case 'p': top.plain = 1; break;
		case 'k': key = optarg; break;
		case 'n': show_number = 1; break;
		case 'S':
			for (int i = 0; i < STORE_STATE_COUNT; i++)
				if (strcmp(optarg, store_state_name((enum store_state)i)) == 0)
					q.state = i;
			if (q.state < 0) {
				fprintf(stderr, "smsqctl: --state: one of delayed, ready, inflight, sent, "
						"delivered, failed, expired, superseded, cancelled, "
						"undelivered, held\n");
				return 2;
			}
			break;
		case 'P':
			if (num_parse_long(optarg, 0, 255, &v) != 0) {
				fprintf(stderr, "smsqctl: --provider-index: 0 (the first [provider.NAME] "
						"section) to 255\n");
				return 2;
			}
			q.provider = (int)v;
			break;
		case 'R': q.reason = optarg; break;
		case 'O':
			if (num_parse_long(optarg, 0, 100L * 365 * 86400, &v) != 0) {
				fprintf(stderr, "smsqctl: --older-than: a number of seconds\n");
				return 2;
			}
			q.created_before_ms = clock_wall_ms() - (int64_t)v * 1000;
			break;
		case 'l':
			if (num_parse_u64(optarg, 1, 1000, &limit) != 0) {
				fprintf(stderr, "smsqctl: --limit: 1 to 1000\n");
				return 2;
			}
			break;
		case 'A': after = optarg; break;
		case 'F': force = 1; break;
		case 'B': booking = optarg; break;
		case 'K': store_key = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (top.interval_ms < 50 || top.interval_ms > 60000) {
		fprintf(stderr, "smsqctl: --interval-ms must be 50 to 60000\n");
		return 2;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "keygen") == 0)
		return keygen_command(argc - optind - 1, argv + optind + 1, store_key);
	if (strcmp(cmd, "preview") == 0 || strcmp(cmd, "templates") == 0)
		return text_command(&cfg, argc - optind, argv + optind, json, at_ms, &lint);
	if (strcmp(cmd, "requeue") == 0)
		return requeue_command(dir, argc - optind - 1, argv + optind + 1, key, &q, force);
	if (strcmp(cmd, "list") == 0) {
		if (argc - optind != 1) {
			usage(stderr);
			return 2;
		}
		return ctl_list(dir, &q, after, (size_t)limit, json);
	}
	if (strcmp(cmd, "inspect") == 0) {
		if ((argc - optind == 2) + (key != NULL) + (booking != NULL) != 1 ||
		    argc - optind > 2) {
			fprintf(stderr, "smsqctl: inspect wants a message id, --key KEY or "
					"--booking ID\n");
			return 2;
		}
		if (config_load_store_key(&cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "smsqctl: %s\n", err);
			return 2;
		}
		code = ctl_inspect(dir, CONFIG_STORE_KEY(&cfg), argc - optind == 2 ? argv[optind + 1]
			: NULL, key, booking, json, show_number);
		secret_wipe(cfg.store_key, sizeof(cfg.store_key));
		return code;
	}
	if (strcmp(cmd, "cancel") == 0)
		return cancel_command(dir, argc - optind - 1, argv + optind + 1, key, booking, &q);
	if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
		if (argc - optind > 2) {
			usage(stderr);
			return 2;
		}
		return ctl_pause(dir, argc - optind == 2 ? argv[optind + 1] : NULL,
				 strcmp(cmd, "pause") == 0);
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
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
