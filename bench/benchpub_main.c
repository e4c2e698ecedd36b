/*
 * smsq-bench-publish: the load generator of the benchmarks (bench/run).
 *
 *	smsq-bench-publish [-e ENDPOINT] [-n EVENTS] [-P PRODUCERS] [--threads]
 *			   [-w WINDOW] [-r RATE | --schedule FILE] [options]
 *
 * Publishes EVENTS valid BookingEvents through the producer library
 * (producer/smsq_producer.h) from PRODUCERS producers at once, each with its
 * own ZeroMQ connection and its own window, and prints one JSON summary line
 * on stdout at the end:
 *
 *	{"producers":4,"mode":"processes","window":4096,"events":1000000,
 *	 "acked":..,"accepted":..,"duplicate":..,"rejected":..,
 *	 "rejected_reasons":{..},"retry_later":..,"no_ack":..,"resends":..,
 *	 "seconds":..,"events_per_s":..,"p50_ms":..,"p99_ms":..,"p999_ms":..,
 *	 "max_ms":..,"mean_ms":..,"late_max_ms":..,"build_seconds":..,
 *	 "event_bytes":..,"start_wall_ms":..,"end_wall_ms":..}
 *
 * events_per_s is ACCEPTED events per second, from the common start to the
 * last ack of the slowest producer.  Latencies are per event, from the
 * moment it is handed to smsq_publish() to the moment its outcome reaches
 * the callback (RETRY_LATER resends included), in a log-linear histogram
 * (under 1.6 % error).
 *
 * DESIGN
 *
 * Everything that is not the publishing itself happens before the clock
 * starts: the parent reads the schedule and writes the manifest; each
 * producer (a forked process, or a thread with --threads) builds its events
 * into one packed arena (protobuf, exactly the bytes that will be sent),
 * creates its producer, and reports ready through a pipe.  Once all are
 * ready the parent closes the "go" pipe, which wakes every producer at once.
 * Results go to a shared anonymous mapping, one slot per producer, merged
 * by the parent once all have finished.
 *
 * Events are distributed round-robin (event i to producer i % P) and are
 * a pure function of (seed, i, the start time): reruns are reproducible and
 * the manifest needs no communication with the producers.
 *
 * Three ways to pace:
 *	closed loop (default)  as fast as the window allows;
 *	-r RATE                open loop, event i due at i / RATE s;
 *	--schedule FILE        event i due at the i-th line's offset; a line
 *	                       may make it a reschedule or a cancellation of
 *	                       an earlier line's booking (same booking id,
 *	                       number and names, a later created-at).
 * An event that is due while its producer's window is full is sent late;
 * the largest lateness is reported (late_max_ms).
 *
 * The events are what a French booking backend would send: kind confirmed
 * (unless the schedule says otherwise), created at their due time,
 * locale fr-FR, zone Europe/Paris, patient, practitioner and place set,
 * a mobile number in a range that libphonenumber knows as French mobile
 * (+33 6[0-24-8] and +33 7[3-9], then 7 digits: 06 39, 06 9x and 07 0x to
 * 07 2x are not, or not wholly, mobile), distinct for every event index.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/keyfile.h"
#include "common/xalloc.h"
#include "producer/smsq_producer.h"
#include "proto/booking.pb-c.h"
#include "common/num.h"
#include "common/attrs.h"

#define BP_NAME "smsq-bench-publish"
#define BP_DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"
#define BP_EXIT_OK 0
#define BP_EXIT_FAILED 1
#define BP_EXIT_USAGE 2
#define BP_PRODUCERS_MAX 64
#define BP_DEFAULT_EVENTS 100000
#define BP_DEFAULT_RESEND_MS 10000	/* well above ack latency under load */
#define BP_DEFAULT_ACK_TIMEOUT_MS 120000
#define BP_POLL_EVERY 32		/* closed loop: collect acks every N sends */
#define BP_WAIT_MS 100			/* longest single wait for an ack */
#define BP_JSON_DIGITS 10		/* significant digits of JSON reals */
#define BP_REASONS 32			/* reasons tallied by value; above: "unknown" */
#define BP_DETAIL_MAX 256		/* first rejection kept for the report */
#define BP_STR_MAX 128			/* one built string field */

#define MS_PER_DAY (24LL * 3600 * 1000)
#define SLOT_MS (15LL * 60 * 1000)	/* appointments on quarter-hour slots */
#define APPT_MIN_MS MS_PER_DAY		/* default: appointments 1 day .. */
#define APPT_MAX_MS (42 * MS_PER_DAY)	/* .. 6 weeks ahead */

/* Phone numbers: index -> a distinct number, x = (i * A + B) mod M over the
 * 15 mobile two-digit prefixes times 10^7.  A is prime to M = 2^7 * 3 * 5^8
 * (odd, not a multiple of 3 or 5), so distinct indexes get distinct numbers
 * (up to M events). */
#define PHONE_PREFIXES 15
#define PHONE_LINE_DIGITS 10000000ULL
#define PHONE_SPACE (PHONE_PREFIXES * PHONE_LINE_DIGITS)
#define PHONE_MULT 92705099ULL	/* ~0.618 M: neighbours land far apart */

/* Histogram: microseconds, exact below 128, then 64 sub-buckets per power
 * of two (at most 1/64 relative error). */
#define HIST_EXACT 128
#define HIST_SUB 64
#define HIST_SUB_BITS 6
#define HIST_BUCKETS (HIST_EXACT + 40 * HIST_SUB)

/* What the command line asked for. */
struct bp_args {
	const char *endpoint;		/* pool's ingest endpoint */
	uint64_t events;		/* events in all */
	unsigned producers;		/* producers at once */
	bool threads;			/* threads instead of processes */
	size_t window;			/* per producer */
	double rate;			/* events/s in all, 0: closed loop */
	const char *schedule;		/* "offset_ms [delay_ms]" per line */
	const char *manifest;		/* output: one line per event */
	int64_t appointment_ms;		/* appointment = start + this; 0: random */
	int64_t not_before_ms;		/* not_before = start + this; 0: none */
	int64_t expires_ms;		/* expires_at = start + this; 0: appointment */
	unsigned priority;		/* 0..9 */
	uint64_t seed;			/* of every random choice */
	uint64_t first_index;		/* index of the first event (keys, phones) */
	char key_prefix[64];		/* idempotency keys: PREFIX-INDEX */
	int ack_timeout_ms;		/* library option */
	int resend_ms;			/* library option */
	bool dry_run;			/* build, print a sample, do not publish */
	const char *server_key;		/* CURVE: the pool's public key file */
	const char *key;		/* CURVE: the producers' secret file */
	struct keyfile_client keys;	/* read from them (main, before the producers) */
};

/* The schedule: when each event is due and its appointment delay. */
struct bp_schedule {
	size_t n;			/* lines */
	double *offset_ms;		/* due, from the start */
	double *delay_ms;		/* appointment after its due time, or < 0 */
	char *kind;			/* 'c' confirmed, 'r' rescheduled, 'x' cancelled */
	size_t *of;			/* 'r', 'x': the line of the booking's first event */
};

/* One event's fields, a pure function of (args, index, start). */
struct bp_fields {
	char key[BP_STR_MAX];		/* idempotency key */
	char booking[BP_STR_MAX];	/* booking id */
	char phone[24];			/* E.164 */
	char patient[BP_STR_MAX];	/* "First Last" */
	char practitioner[BP_STR_MAX];	/* "Dr Last" */
	const char *place;		/* from the list */
	int64_t appointment_ms;		/* epoch ms */
	int64_t not_before_ms;		/* epoch ms or 0 */
	int64_t expires_ms;		/* epoch ms or 0 */
	double due_ms;			/* from the start, or < 0: as fast as possible */
};

/* What one producer found; lives in the shared mapping. */
struct bp_result {
	int ready;			/* built and connected (or failed) */
	int failed;			/* an error stopped it */
	uint64_t published;		/* events handed to smsq_publish() */
	uint64_t accepted;		/* ACCEPTED */
	uint64_t duplicate;		/* DUPLICATE */
	uint64_t rejected;		/* REJECTED */
	uint64_t no_ack;		/* NO_ACK */
	uint64_t retry_later;		/* RETRY_LATER acks (smsq_stats) */
	uint64_t resends;		/* copies resent (smsq_stats) */
	uint64_t by_reason[BP_REASONS + 1];	/* rejections by reason */
	uint64_t bytes;			/* packed bytes built */
	int64_t build_ns;		/* time spent building */
	int64_t end_ns;			/* monotonic time of the last outcome */
	int64_t late_max_ns;		/* worst lateness of a paced send */
	uint64_t lat_count;		/* latencies recorded */
	uint64_t lat_sum_us;		/* their sum */
	uint64_t lat_max_us;		/* the largest */
	uint64_t hist[HIST_BUCKETS];	/* the histogram */
	char detail[BP_DETAIL_MAX];	/* first rejection or error */
};

/* Shared by all producers (read-only once they run). */
struct bp_shared {
	const struct bp_args *args;	/* the command line */
	const struct bp_schedule *sched; /* or NULL */
	int64_t start_wall_ms;		/* base of every event time */
	int go_fd;			/* read end of the go pipe */
	int ready_fd;			/* write end of the ready pipe */
	struct bp_result *results;	/* shared mapping, one per producer */
};

/* One producer's events and its run. */
struct bp_producer {
	const struct bp_shared *sh;	/* shared */
	unsigned idx;			/* 0..P-1 */
	struct bp_result *res;		/* its slot */
	size_t n;			/* events it publishes */
	uint8_t *arena;			/* the packed events, back to back */
	size_t *off;			/* n + 1 offsets into arena */
	int64_t *due_ns;		/* due time from go (paced), or NULL */
	int64_t *sent_ns;		/* when each was handed to the library */
	int64_t go_ns;			/* monotonic start */
};

static const char *const fr_first[] = {
	"Marie", "Jean", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon",
	"Gabriel", "Inès", "Jules", "Sarah", "Arthur", "Zoé", "Nathan", "Émilie", "Théo",
	"Océane", "Raphaël", "Anaïs", "Maël", "Hélène", "François", "Céline", "Jérôme",
	"Françoise", "Stéphane", "Amélie", "Benoît", "Margaux", "Noémie", "Élodie", "Loïc",
	"Gaëlle", "Mathilde", "Antoine", "Julie", "Nicolas", "Isabelle", "Jean-Pierre",
	"Marie-Claire", "Thérèse", "Agnès",
};
static const char *const fr_last[] = {
	"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
	"Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
	"Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre",
	"Mercier", "Dupont", "Lambert", "Bonnet", "François", "Legrand", "Garnier", "Faure",
	"Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Perrin", "Morin", "Mathieu",
	"Clément", "Gauthier", "Fontaine", "Chevalier", "Lemaître", "Hébert", "Ménard",
	"Le Gall", "Châtelain",
};
static const char *const fr_places[] = {
	"Centre de vaccination de Nîmes", "Hôpital Saint-Louis, Paris",
	"Hôpital de la Pitié-Salpêtrière, Paris", "Centre de vaccination de Besançon",
	"CHU de Nantes", "Hôpital Édouard-Herriot, Lyon", "Clinique Sainte-Anne, Strasbourg",
	"Centre de santé de Saint-Étienne", "Centre de vaccination d'Orléans",
	"Cabinet médical du Cours Mirabeau, Aix-en-Provence", "Hôpital de la Timone, Marseille",
	"CHU Lapeyronie, Montpellier", "Centre hospitalier de Périgueux",
	"Polyclinique du Parc, Caen", "Hôpital Pellegrin, Bordeaux", "Clinique Pasteur, Toulouse",
	"Centre de vaccination de Créteil", "CHU Grenoble Alpes, La Tronche",
	"Centre médical de Béziers", "CHU de Lille, Hôpital Claude-Huriez",
};
/* Two first national digits whose whole range libphonenumber calls mobile
 * (06 39, 06 9x and 07 0x-07 2x are not, or not wholly: left out). */
static const char phone_prefix[PHONE_PREFIXES][3] = {
	"60", "61", "62", "64", "65", "66", "67", "68",
	"73", "74", "75", "76", "77", "78", "79",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* splitmix64: one well-mixed 64-bit value per (seed, index, stream). */
static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

static uint64_t draw(const struct bp_args *a, uint64_t i, unsigned stream)
{
	return mix(a->seed ^ mix(i * 8 + stream));
}

/* ------------------------------------------------------------- histogram */

static size_t hist_index(uint64_t us)
{
	int k, shift;
	size_t idx;

	if (us < HIST_EXACT)
		return (size_t)us;
	k = 63 - __builtin_clzll(us);		/* k >= 7 */
	shift = k - HIST_SUB_BITS;		/* us >> shift is in 64..127 */
	idx = HIST_EXACT + (size_t)(shift - 1) * HIST_SUB + (size_t)((us >> shift) - HIST_SUB);
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The middle of bucket idx, in microseconds. */
static double hist_value(size_t idx)
{
	size_t shift, sub;
	double lo;

	if (idx < HIST_EXACT)
		return (double)idx;
	shift = (idx - HIST_EXACT) / HIST_SUB + 1;
	sub = (idx - HIST_EXACT) % HIST_SUB + HIST_SUB;
	lo = ldexp((double)sub, (int)shift);
	return lo + ldexp(1.0, (int)shift) / 2.0;
}

/* The q-quantile (0 < q <= 1) in ms, or 0 for an empty histogram. */
static double hist_quantile(const uint64_t *hist, uint64_t count, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)count), seen = 0;

	if (count == 0)
		return 0.0;
	if (rank == 0)
		rank = 1;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return hist_value(i) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

/* ------------------------------------------------------------- arguments */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " BP_NAME " [options]\n"
		"Publish pre-built booking events (protobuf) to an smsq pool from several\n"
		"producers at once; print one JSON summary line on stdout.\n"
		"  -e ENDPOINT           ingest endpoint (default " BP_DEFAULT_ENDPOINT ")\n"
		"  -n EVENTS             events in all (default %d)\n"
		"  -P PRODUCERS          producers at once, 1..%d (default 1): forked processes\n"
		"      --threads         producers are threads of this process instead\n"
		"  -w WINDOW             unacknowledged events per producer (default %d)\n"
		"  -r RATE               open loop: RATE events/s in all (default: closed loop)\n"
		"      --schedule FILE   open loop: line i is 'OFFSET_MS [DELAY_MS [r|x LINE]]',\n"
		"                        event i is due OFFSET_MS after the start, its appointment\n"
		"                        DELAY_MS after that; r or x: it reschedules or cancels\n"
		"                        the booking of line LINE; -n is the number of lines\n"
		"      --appointment-ms D  appointments D ms after the start (default: random\n"
		"                        quarter-hour slots 1 day to 6 weeks ahead)\n"
		"      --not-before-ms D not_before D ms after the start (default: none)\n"
		"      --expires-ms D    expires_at D ms after the start (default: the appointment)\n"
		"      --priority P      0..9 (default 0)\n"
		"      --seed S          seed of names, numbers and times (default 1)\n"
		"      --first-index I   index of the first event (default 0): keys and numbers\n"
		"                        of a second run continue those of the first\n"
		"      --key-prefix K    idempotency keys K-INDEX (default bench-<start ms>)\n"
		"      --manifest FILE   write 'index phone appointment_ms due_ms' per event\n"
		"  -t ACK_TIMEOUT_MS     give up on an event after this long (default %d)\n"
		"      --resend-ms MS    resend an unacknowledged event after this long (default %d)\n"
		"      --dry-run         build the events, describe them, publish nothing\n"
		"      --server-key FILE CURVE: the pool's public key file (NAME.key)\n"
		"      --key FILE        CURVE: the producers' secret file (NAME.secret), one\n"
		"                        key for every producer of the run\n"
		"Exit status: 0 if every event was accepted or duplicate, 1 otherwise,\n"
		"2 on a usage error.\n",
		BP_DEFAULT_EVENTS, BP_PRODUCERS_MAX, SMSQ_DEFAULT_WINDOW,
		BP_DEFAULT_ACK_TIMEOUT_MS, BP_DEFAULT_RESEND_MS);
}

enum {
	OPT_THREADS = 256, OPT_SCHEDULE, OPT_APPOINTMENT, OPT_NOT_BEFORE, OPT_EXPIRES,
	OPT_PRIORITY, OPT_SEED, OPT_FIRST, OPT_PREFIX, OPT_MANIFEST, OPT_RESEND, OPT_DRY,
	OPT_SERVER_KEY, OPT_KEY,
};

/* Fill a from the command line: 0, 1 (help shown) or -1 (usage error). */
static int parse_args(int argc, char **argv, struct bp_args *a)
{
	static const struct option longopts[] = {
		{ "threads", no_argument, NULL, OPT_THREADS },
		{ "schedule", required_argument, NULL, OPT_SCHEDULE },
		{ "appointment-ms", required_argument, NULL, OPT_APPOINTMENT },
		{ "not-before-ms", required_argument, NULL, OPT_NOT_BEFORE },
		{ "expires-ms", required_argument, NULL, OPT_EXPIRES },
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "first-index", required_argument, NULL, OPT_FIRST },
		{ "key-prefix", required_argument, NULL, OPT_PREFIX },
		{ "manifest", required_argument, NULL, OPT_MANIFEST },
		{ "resend-ms", required_argument, NULL, OPT_RESEND },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "server-key", required_argument, NULL, OPT_SERVER_KEY },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const int64_t day_max = 3650 * MS_PER_DAY;
	int64_t v;
	int c;

	memset(a, 0, sizeof(*a));
	a->endpoint = BP_DEFAULT_ENDPOINT;
	a->events = BP_DEFAULT_EVENTS;
	a->producers = 1;
	a->window = SMSQ_DEFAULT_WINDOW;
	a->seed = 1;
	a->ack_timeout_ms = BP_DEFAULT_ACK_TIMEOUT_MS;
	a->resend_ms = BP_DEFAULT_RESEND_MS;
	for (;;) {
		c = getopt_long(argc, argv, "e:n:P:w:r:t:h", longopts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'e':
			a->endpoint = optarg;
			break;
		case 'n':
			if (num_parse_i64(optarg, 1, PHONE_SPACE, &v) != 0)
				goto bad;
			a->events = (uint64_t)v;
			break;
		case 'P':
			if (num_parse_i64(optarg, 1, BP_PRODUCERS_MAX, &v) != 0)
				goto bad;
			a->producers = (unsigned)v;
			break;
		case 'w':
			if (num_parse_i64(optarg, 1, SMSQ_WINDOW_MAX, &v) != 0)
				goto bad;
			a->window = (size_t)v;
			break;
		case 'r':
			if (num_parse_double(optarg, 0, 1e9, &a->rate) != 0 || !(a->rate > 0))
				goto bad;
			break;
		case 't':
			if (num_parse_i64(optarg, 1, INT_MAX, &v) != 0)
				goto bad;
			a->ack_timeout_ms = (int)v;
			break;
		case OPT_RESEND:
			if (num_parse_i64(optarg, 1, INT_MAX, &v) != 0)
				goto bad;
			a->resend_ms = (int)v;
			break;
		case OPT_SERVER_KEY:
			a->server_key = optarg;
			break;
		case OPT_KEY:
			a->key = optarg;
			break;
		case OPT_THREADS:
			a->threads = true;
			break;
		case OPT_SCHEDULE:
			a->schedule = optarg;
			break;
		case OPT_MANIFEST:
			a->manifest = optarg;
			break;
		case OPT_APPOINTMENT:
			if (num_parse_i64(optarg, 1, day_max, &a->appointment_ms) != 0)
				goto bad;
			break;
		case OPT_NOT_BEFORE:
			if (num_parse_i64(optarg, 1, day_max, &a->not_before_ms) != 0)
				goto bad;
			break;
		case OPT_EXPIRES:
			if (num_parse_i64(optarg, 1, day_max, &a->expires_ms) != 0)
				goto bad;
			break;
		case OPT_PRIORITY:
			if (num_parse_i64(optarg, 0, 9, &v) != 0)
				goto bad;
			a->priority = (unsigned)v;
			break;
		case OPT_SEED:
			if (num_parse_i64(optarg, 0, INT64_MAX, &v) != 0)
				goto bad;
			a->seed = (uint64_t)v;
			break;
		case OPT_FIRST:
			if (num_parse_i64(optarg, 0, PHONE_SPACE - 1, &v) != 0)
				goto bad;
			a->first_index = (uint64_t)v;
			break;
		case OPT_PREFIX:
			if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(a->key_prefix))
				goto bad;
			snprintf(a->key_prefix, sizeof(a->key_prefix), "%s", optarg);
			break;
		case OPT_DRY:
			a->dry_run = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || (a->rate > 0 && a->schedule != NULL)) {
		usage(stderr);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, BP_NAME ": bad value for option: %s\n", optarg);
	usage(stderr);
	return -1;
}

/* ------------------------------------------------------------- schedule */

static void schedule_free(struct bp_schedule *s)
{
	free(s->offset_ms);
	free(s->delay_ms);
	free(s->kind);
	free(s->of);
	memset(s, 0, sizeof(*s));
}

/* Read "OFFSET_MS [DELAY_MS [KIND LINE]]" lines (blank lines and '#'
 * comments skipped; KIND r or x, LINE the 0-based line of an earlier
 * confirmation).  0, or -1 with a message printed. */
static int schedule_read(const char *path, struct bp_schedule *s)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, alloc = 0, lineno = 0;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (fp == NULL) {
		fprintf(stderr, BP_NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, fp) >= 0) {
		double off, delay = -1;
		char kind = 'c';
		size_t of = 0;
		int got;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0' || line[0] == '#')
			continue;
		got = sscanf(line, "%lf %lf %c %zu", &off, &delay, &kind, &of);
		if (got < 1 || got == 3 || !(off >= 0) || (got >= 2 && !(delay > 0)) ||
		    (got == 4 && ((kind != 'r' && kind != 'x') || of >= s->n || s->kind[of] != 'c'))) {
			fprintf(stderr, BP_NAME ": %s:%zu: expected 'OFFSET_MS [DELAY_MS [r|x LINE]]' "
				"(LINE: an earlier confirmation)\n", path, lineno);
			goto out;
		}
		if (s->n == alloc) {
			alloc = alloc ? alloc * 2 : 4096;
			s->offset_ms = xrealloc(s->offset_ms, alloc * sizeof(double));
			s->delay_ms = xrealloc(s->delay_ms, alloc * sizeof(double));
			s->kind = xrealloc(s->kind, alloc);
			s->of = xrealloc(s->of, alloc * sizeof(size_t));
		}
		s->offset_ms[s->n] = off;
		s->delay_ms[s->n] = got >= 2 ? delay : -1;
		s->kind[s->n] = got == 4 ? kind : 'c';
		s->of[s->n] = got == 4 ? of : s->n;
		s->n++;
	}
	if (s->n == 0) {
		fprintf(stderr, BP_NAME ": %s: no events\n", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(fp);
	if (rc != 0)
		schedule_free(s);
	return rc;
}

/* ------------------------------------------------------------- events */

/* The fields of event i (0-based in this run). */
static void event_fields(const struct bp_args *a, const struct bp_schedule *sched,
			 int64_t start_ms, uint64_t i, struct bp_fields *f)
{
	/* A reschedule or a cancellation is of its booking's first event:
	 * the same booking, number and names (its own key). */
	uint64_t bi = sched != NULL && i < sched->n ? sched->of[i] : i;
	uint64_t gi = a->first_index + bi;	/* global index: booking, numbers */
	uint64_t x = (gi * PHONE_MULT + a->seed % PHONE_SPACE) % PHONE_SPACE;
	uint64_t r_first = draw(a, gi, 1), r_last = draw(a, gi, 2);
	uint64_t r_doc = draw(a, gi, 3), r_place = draw(a, gi, 4), r_appt = draw(a, gi, 5);

	snprintf(f->key, sizeof(f->key), "%s-%" PRIu64, a->key_prefix, a->first_index + i);
	snprintf(f->booking, sizeof(f->booking), "B%" PRIu64 "-%08" PRIu64, a->seed, gi);
	snprintf(f->phone, sizeof(f->phone), "+33%s%07" PRIu64,
		 phone_prefix[x / PHONE_LINE_DIGITS], (uint64_t)(x % PHONE_LINE_DIGITS));
	snprintf(f->patient, sizeof(f->patient), "%s %s", fr_first[r_first % COUNT(fr_first)],
		 fr_last[r_last % COUNT(fr_last)]);
	snprintf(f->practitioner, sizeof(f->practitioner), "Dr %s",
		 fr_last[r_doc % COUNT(fr_last)]);
	f->place = fr_places[r_place % COUNT(fr_places)];
	f->due_ms = -1;
	if (sched != NULL) {
		f->due_ms = sched->offset_ms[i];
	} else if (a->rate > 0) {
		f->due_ms = (double)i * 1000.0 / a->rate;
	}
	if (sched != NULL && sched->kind[i] == 'x') {
		uint64_t of = sched->of[i];	/* the appointment cancelled */

		f->appointment_ms = start_ms + (int64_t)(sched->offset_ms[of] +
							 (sched->delay_ms[of] > 0 ? sched->delay_ms[of] : 0));
	} else if (sched != NULL && sched->delay_ms[i] > 0) {
		f->appointment_ms = start_ms + (int64_t)(f->due_ms + sched->delay_ms[i]);
	} else if (a->appointment_ms > 0) {
		f->appointment_ms = start_ms + a->appointment_ms;
	} else {
		int64_t span = (APPT_MAX_MS - APPT_MIN_MS) / SLOT_MS;
		int64_t at = start_ms + APPT_MIN_MS + (int64_t)(r_appt % (uint64_t)span) * SLOT_MS;

		f->appointment_ms = at - at % SLOT_MS;
	}
	f->not_before_ms = a->not_before_ms > 0 ? start_ms + a->not_before_ms : 0;
	f->expires_ms = a->expires_ms > 0 ? start_ms + a->expires_ms : 0;
}

/* Pack event i into *buf (grown as needed) at *len; returns its size. */
static size_t event_pack(const struct bp_args *a, const struct bp_schedule *sched,
			 int64_t start_ms, uint64_t i, uint8_t **buf, size_t *len,
			 size_t *cap, double *due_ms)
{
	Smsq__BookingEvent ev = SMSQ__BOOKING_EVENT__INIT;
	struct bp_fields f;
	size_t n;

	event_fields(a, sched, start_ms, i, &f);
	ev.version = 1;
	ev.idempotency_key = f.key;
	ev.booking_id = f.booking;
	ev.kind = sched == NULL || sched->kind[i] == 'c' ? SMSQ__KIND__KIND_CONFIRMED
		  : sched->kind[i] == 'r'		 ? SMSQ__KIND__KIND_RESCHEDULED
							 : SMSQ__KIND__KIND_CANCELLED;
	ev.phone = f.phone;
	ev.locale = (char *)"fr-FR";
	ev.patient_name = f.patient;
	ev.practitioner_name = f.practitioner;
	ev.place = (char *)f.place;
	ev.appointment_at_ms = f.appointment_ms;
	ev.time_zone = (char *)"Europe/Paris";
	ev.created_at_ms = start_ms + (f.due_ms > 0 ? (int64_t)f.due_ms : 0);
	ev.not_before_ms = f.not_before_ms;
	ev.expires_at_ms = f.expires_ms;
	ev.priority = a->priority;
	n = smsq__booking_event__get_packed_size(&ev);
	while (*len + n > *cap) {
		*cap = *cap ? *cap * 2 : 1 << 20;
		*buf = xrealloc(*buf, *cap);
	}
	smsq__booking_event__pack(&ev, *buf + *len);
	*len += n;
	*due_ms = f.due_ms;
	return n;
}

/* Build producer pr's events (i = idx, idx + P, ...) before the clock. */
static void producer_build(struct bp_producer *pr)
{
	const struct bp_args *a = pr->sh->args;
	uint64_t total = a->events, P = a->producers;
	size_t len = 0, cap = 0;
	int64_t t0 = clock_mono_ns();

	pr->n = (size_t)(total / P + (pr->idx < total % P ? 1 : 0));
	pr->off = xmalloc((pr->n + 1) * sizeof(size_t));
	pr->sent_ns = xcalloc(pr->n ? pr->n : 1, sizeof(int64_t));
	pr->due_ns = NULL;
	if (pr->sh->sched != NULL || a->rate > 0)
		pr->due_ns = xmalloc((pr->n ? pr->n : 1) * sizeof(int64_t));
	for (size_t j = 0; j < pr->n; j++) {
		double due_ms;

		pr->off[j] = len;
		event_pack(a, pr->sh->sched, pr->sh->start_wall_ms, pr->idx + j * P, &pr->arena,
			   &len, &cap, &due_ms);
		if (pr->due_ns != NULL)
			pr->due_ns[j] = (int64_t)(due_ms * 1e6);
	}
	pr->off[pr->n] = len;
	pr->res->bytes = len;
	pr->res->build_ns = clock_mono_ns() - t0;
}

static void producer_free(struct bp_producer *pr)
{
	free(pr->arena);
	free(pr->off);
	free(pr->due_ns);
	free(pr->sent_ns);
	pr->arena = NULL;
	pr->off = NULL;
	pr->due_ns = NULL;
	pr->sent_ns = NULL;
}

/* ------------------------------------------------------------- publishing */

static void set_detail(struct bp_result *res, const char *fmt, ...)
	SMSQ_PRINTF(2, 3);

static void set_detail(struct bp_result *res, const char *fmt, ...)
{
	va_list ap;

	if (res->detail[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
}

/* The library's callback: latency and outcome of event j (user). */
static void on_ack(const struct smsq_ack *ack, void *user, void *arg)
{
	struct bp_producer *pr = arg;
	struct bp_result *res = pr->res;
	size_t j = (size_t)(uintptr_t)user;
	int64_t now = clock_mono_ns();
	uint64_t us = now > pr->sent_ns[j] ? (uint64_t)(now - pr->sent_ns[j]) / 1000 : 0;

	res->end_ns = now;
	switch (ack->status) {
	case SMSQ_ACCEPTED:
		res->accepted++;
		break;
	case SMSQ_DUPLICATE:
		res->duplicate++;
		break;
	case SMSQ_REJECTED:
		res->rejected++;
		res->by_reason[ack->reason >= 0 && ack->reason < BP_REASONS ? ack->reason
									      : BP_REASONS]++;
		set_detail(res, "rejected %s: %s", smsq_reason_name(ack->reason), ack->detail);
		break;
	default:
		res->no_ack++;
		set_detail(res, "no ack: %s", ack->detail);
		return;	/* no latency for an event never answered */
	}
	res->hist[hist_index(us)]++;
	res->lat_count++;
	res->lat_sum_us += us;
	if (us > res->lat_max_us)
		res->lat_max_us = us;
}

static int lib_error(struct bp_result *res, const char *what, int rc)
{
	if (rc == SMSQ_EZMQ)
		set_detail(res, "%s: %s: %s", what, smsq_strerror(rc), strerror(errno));
	else
		set_detail(res, "%s: %s", what, smsq_strerror(rc));
	res->failed = 1;
	return -1;
}

/* Send every event: closed loop, or each at its due time.  0 or -1. */
static int producer_send(struct bp_producer *pr, smsq_producer *p)
{
	const struct bp_args *a = pr->sh->args;
	struct bp_result *res = pr->res;
	size_t j = 0;
	int rc;

	while (j < pr->n) {
		int64_t now = clock_mono_ns();
		int wait_ms;

		/* Send what is due while the window has room. */
		while (j < pr->n && smsq_outstanding(p) < a->window) {
			if (pr->due_ns != NULL) {
				int64_t due = pr->go_ns + pr->due_ns[j];

				if (due > now)
					break;
				if (now - due > res->late_max_ns)
					res->late_max_ns = now - due;
			}
			pr->sent_ns[j] = now;
			rc = smsq_publish(p, pr->arena + pr->off[j], pr->off[j + 1] - pr->off[j],
					  (void *)(uintptr_t)j, 0);
			if (rc == SMSQ_ETIMEDOUT || rc == SMSQ_EFULL)
				break;	/* collect outcomes first */
			if (rc != SMSQ_OK)
				return lib_error(res, "publish", rc);
			j++;
			res->published++;
			if (j % BP_POLL_EVERY == 0) {
				rc = smsq_poll(p, 0, on_ack, pr);
				if (rc < 0 && rc != SMSQ_EINTR)
					return lib_error(res, "poll", rc);
			}
			now = clock_mono_ns();
		}
		if (j == pr->n)
			break;
		/* Wait for an ack (window full), or until the next event is due. */
		wait_ms = BP_WAIT_MS;
		if (smsq_outstanding(p) < a->window && pr->due_ns != NULL) {
			int64_t until = pr->go_ns + pr->due_ns[j] - clock_mono_ns();

			wait_ms = until <= 0 ? 0 : (int)((until + 999999) / 1000000);
			if (wait_ms > BP_WAIT_MS)
				wait_ms = BP_WAIT_MS;
		}
		if (smsq_outstanding(p) == 0) {
			if (wait_ms > 0)
				usleep((useconds_t)wait_ms * 1000);
			continue;
		}
		rc = smsq_poll(p, wait_ms, on_ack, pr);
		if (rc < 0 && rc != SMSQ_EINTR)
			return lib_error(res, "poll", rc);
	}
	for (;;) {
		rc = smsq_flush(p, BP_WAIT_MS, on_ack, pr);
		if (rc >= 0)
			break;
		if (rc != SMSQ_ETIMEDOUT && rc != SMSQ_EINTR)
			return lib_error(res, "flush", rc);
	}
	return 0;
}

/* One producer, start to finish: build, connect, ready, wait for go,
 * publish, record.  Runs in a child process or a thread. */
static void producer_run(struct bp_producer *pr)
{
	const struct bp_args *a = pr->sh->args;
	struct smsq_producer_opts opts = {
		.window = a->window,
		.resend_ms = a->resend_ms,
		.ack_timeout_ms = a->ack_timeout_ms,
	};
	struct smsq_curve_keys curve = {
		.server_key = a->keys.server_key,
		.public_key = a->keys.mine.public_key[0] != '\0' ? a->keys.mine.public_key : NULL,
		.secret_key = a->keys.mine.secret_key,
	};
	struct smsq_stats st;
	smsq_producer *p = NULL;
	char err[256], byte = 1;

	producer_build(pr);
	if (!a->dry_run) {
		p = smsq_producer_new_curve(a->endpoint, &opts,
					    a->keys.server_key[0] != '\0' ? &curve : NULL, err,
					    sizeof(err));
		if (p == NULL) {
			set_detail(pr->res, "%s", err);
			pr->res->failed = 1;
		}
	}
	pr->res->ready = 1;
	if (write(pr->sh->ready_fd, &byte, 1) != 1)
		pr->res->failed = 1;
	/* EOF on the go pipe: every producer starts now. */
	while (read(pr->sh->go_fd, &byte, 1) < 0 && errno == EINTR)
		;
	pr->go_ns = clock_mono_ns();
	pr->res->end_ns = pr->go_ns;
	if (p != NULL && !pr->res->failed) {
		(void)producer_send(pr, p);
		smsq_stats(p, &st);
		pr->res->retry_later = st.retry_later;
		pr->res->resends = st.resends;
	}
	smsq_producer_destroy(&p);
	producer_free(pr);
}

static void *producer_thread(void *arg)
{
	producer_run(arg);
	return NULL;
}

/* ------------------------------------------------------------- report */

/* Merge the producers' results into out. */
static void merge(const struct bp_args *a, const struct bp_result *rs, struct bp_result *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned k = 0; k < a->producers; k++) {
		const struct bp_result *r = &rs[k];

		out->failed |= r->failed;
		out->published += r->published;
		out->accepted += r->accepted;
		out->duplicate += r->duplicate;
		out->rejected += r->rejected;
		out->no_ack += r->no_ack;
		out->retry_later += r->retry_later;
		out->resends += r->resends;
		out->bytes += r->bytes;
		out->lat_count += r->lat_count;
		out->lat_sum_us += r->lat_sum_us;
		if (r->build_ns > out->build_ns)
			out->build_ns = r->build_ns;
		if (r->end_ns > out->end_ns)
			out->end_ns = r->end_ns;
		if (r->late_max_ns > out->late_max_ns)
			out->late_max_ns = r->late_max_ns;
		if (r->lat_max_us > out->lat_max_us)
			out->lat_max_us = r->lat_max_us;
		for (size_t i = 0; i <= BP_REASONS; i++)
			out->by_reason[i] += r->by_reason[i];
		for (size_t i = 0; i < HIST_BUCKETS; i++)
			out->hist[i] += r->hist[i];
		if (out->detail[0] == '\0' && r->detail[0] != '\0')
			memcpy(out->detail, r->detail, sizeof(out->detail));
	}
}

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

static int print_summary(const struct bp_args *a, const struct bp_result *m, double seconds,
			 int64_t start_wall_ms, int64_t end_wall_ms)
{
	json_t *reasons = json_object(), *j;
	double mean_ms = m->lat_count ? (double)m->lat_sum_us / (double)m->lat_count / 1000.0 : 0;
	int rc = -1;

	if (reasons == NULL)
		return -1;
	for (int r = 0; r <= BP_REASONS; r++) {
		if (m->by_reason[r] == 0)
			continue;
		json_object_set_new(reasons, r < BP_REASONS ? smsq_reason_name(r) : "unknown",
				    json_integer((json_int_t)m->by_reason[r]));
	}
	j = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I,"
		      " s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I}",
		      "producers", (int)a->producers,
		      "mode", a->threads ? "threads" : "processes",
		      "window", (json_int_t)a->window,
		      "events", (json_int_t)a->events,
		      "acked", (json_int_t)(m->accepted + m->duplicate + m->rejected),
		      "accepted", (json_int_t)m->accepted,
		      "duplicate", (json_int_t)m->duplicate,
		      "rejected", (json_int_t)m->rejected,
		      "rejected_reasons", reasons,
		      "retry_later", (json_int_t)m->retry_later,
		      "no_ack", (json_int_t)m->no_ack,
		      "resends", (json_int_t)m->resends,
		      "seconds", round_to(seconds, 1e-4),
		      "events_per_s", round_to(seconds > 0 ? (double)m->accepted / seconds : 0, 0.1),
		      "p50_ms", round_to(hist_quantile(m->hist, m->lat_count, 0.50), 1e-3),
		      "p99_ms", round_to(hist_quantile(m->hist, m->lat_count, 0.99), 1e-3),
		      "p999_ms", round_to(hist_quantile(m->hist, m->lat_count, 0.999), 1e-3),
		      "max_ms", round_to((double)m->lat_max_us / 1000.0, 1e-3),
		      "mean_ms", round_to(mean_ms, 1e-3),
		      "late_max_ms", round_to((double)m->late_max_ns / 1e6, 1e-3),
		      "build_seconds", round_to((double)m->build_ns / 1e9, 1e-3),
		      "event_bytes", round_to(a->events ? (double)m->bytes / (double)a->events : 0, 0.1),
		      "start_wall_ms", (json_int_t)start_wall_ms,
		      "end_wall_ms", (json_int_t)end_wall_ms);
	if (j == NULL)
		return -1;
	if (json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(BP_JSON_DIGITS)) == 0 &&
	    putchar('\n') != EOF && fflush(stdout) == 0)
		rc = 0;
	json_decref(j);
	return rc;
}

/* index, phone, appointment and due time of every event, for the script
 * that joins them with the provider's record.  0 or -1. */
static int write_manifest(const struct bp_args *a, const struct bp_schedule *sched,
			  int64_t start_ms)
{
	FILE *fp = fopen(a->manifest, "w");
	struct bp_fields f;

	if (fp == NULL) {
		fprintf(stderr, BP_NAME ": %s: %s\n", a->manifest, strerror(errno));
		return -1;
	}
	fprintf(fp, "# index\tphone\tappointment_ms\tdue_ms\tstart_ms=%" PRId64 "\n", start_ms);
	for (uint64_t i = 0; i < a->events; i++) {
		event_fields(a, sched, start_ms, i, &f);
		fprintf(fp, "%" PRIu64 "\t%s\t%" PRId64 "\t%.3f\n", a->first_index + i, f.phone,
			f.appointment_ms, f.due_ms < 0 ? 0.0 : f.due_ms);
	}
	if (fclose(fp) != 0) {
		fprintf(stderr, BP_NAME ": %s: write failed\n", a->manifest);
		return -1;
	}
	return 0;
}

static void describe(const struct bp_args *a, const struct bp_schedule *sched, int64_t start_ms,
		     const struct bp_result *m)
{
	struct bp_fields f;

	fprintf(stderr, BP_NAME ": dry run: %" PRIu64 " events, %.1f bytes each, built in %.3f s"
		" (slowest producer)\n", a->events, (double)m->bytes / (double)a->events,
		(double)m->build_ns / 1e9);
	for (uint64_t i = 0; i < a->events && i < 3; i++) {
		event_fields(a, sched, start_ms, i, &f);
		fprintf(stderr, "  %s %s %s | %s | %s | %s | appointment %" PRId64 " due %.1f ms\n",
			f.key, f.booking, f.phone, f.patient, f.practitioner, f.place,
			f.appointment_ms, f.due_ms);
	}
}

/* ------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	struct bp_args args;
	struct bp_schedule sched = { 0 };
	struct bp_shared sh = { 0 };
	struct bp_producer *prs = NULL;
	pthread_t *tids = NULL;
	pid_t *pids = NULL;
	struct bp_result *results = MAP_FAILED, *merged = NULL;
	int go[2] = { -1, -1 }, ready[2] = { -1, -1 };
	int64_t go_ns, start_wall_ms, end_wall_ms;
	size_t results_len = 0;
	unsigned started = 0;
	char err[256];
	int rc;

	rc = parse_args(argc, argv, &args);
	if (rc != 0)
		return rc > 0 ? BP_EXIT_OK : BP_EXIT_USAGE;
	if (keyfile_read_client(args.server_key, args.key, &args.keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "smsq-bench-publish: %s\n", err);
		return BP_EXIT_FAILED;
	}
	if (args.schedule != NULL) {
		if (schedule_read(args.schedule, &sched) != 0)
			return BP_EXIT_FAILED;
		args.events = sched.n;
	}
	if (args.producers > args.events)
		args.producers = (unsigned)args.events;
	sh.start_wall_ms = clock_wall_ms();
	if (args.key_prefix[0] == '\0')
		snprintf(args.key_prefix, sizeof(args.key_prefix), "bench-%" PRIx64,
			 (uint64_t)sh.start_wall_ms);
	rc = BP_EXIT_FAILED;
	if (args.manifest != NULL &&
	    write_manifest(&args, args.schedule ? &sched : NULL, sh.start_wall_ms) != 0)
		goto out;
	results_len = args.producers * sizeof(struct bp_result);
	results = mmap(NULL, results_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (results == MAP_FAILED || pipe(go) != 0 || pipe(ready) != 0) {
		fprintf(stderr, BP_NAME ": setup: %s\n", strerror(errno));
		goto out;
	}
	sh.args = &args;
	sh.sched = args.schedule ? &sched : NULL;
	sh.go_fd = go[0];
	sh.ready_fd = ready[1];
	sh.results = results;
	prs = xcalloc(args.producers, sizeof(*prs));
	pids = xcalloc(args.producers, sizeof(*pids));
	tids = xcalloc(args.producers, sizeof(*tids));
	fflush(NULL);
	for (unsigned k = 0; k < args.producers; k++, started++) {
		prs[k].sh = &sh;
		prs[k].idx = k;
		prs[k].res = &results[k];
		if (args.threads) {
			if (pthread_create(&tids[k], NULL, producer_thread, &prs[k]) != 0) {
				fprintf(stderr, BP_NAME ": cannot start a thread\n");
				break;
			}
			continue;
		}
		pids[k] = fork();
		if (pids[k] < 0) {
			fprintf(stderr, BP_NAME ": fork: %s\n", strerror(errno));
			break;
		}
		if (pids[k] == 0) {
			/* The child dies with the bench that started it. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			close(go[1]);
			close(ready[0]);
			producer_run(&prs[k]);
			_exit(0);
		}
	}
	if (!args.threads) {
		/* Only the children write "ready": if all die, read() sees EOF. */
		close(ready[1]);
		ready[1] = -1;
	}
	/* Wait until every producer is built and connected, then go. */
	for (unsigned k = 0; k < started; k++) {
		char byte;

		if (read(ready[0], &byte, 1) != 1)
			break;
	}
	start_wall_ms = clock_wall_ms();
	go_ns = clock_mono_ns();
	close(go[1]);
	go[1] = -1;
	for (unsigned k = 0; k < started; k++) {
		if (args.threads) {
			pthread_join(tids[k], NULL);
		} else {
			int status;

			while (waitpid(pids[k], &status, 0) < 0 && errno == EINTR)
				;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				results[k].failed = 1;
		}
	}
	end_wall_ms = clock_wall_ms();
	merged = xcalloc(1, sizeof(*merged));
	merge(&args, results, merged);
	if (started < args.producers)
		merged->failed = 1;
	if (args.dry_run) {
		describe(&args, sh.sched, sh.start_wall_ms, merged);
		rc = BP_EXIT_OK;
		goto out;
	}
	if (merged->detail[0] != '\0')
		fprintf(stderr, BP_NAME ": %s\n", merged->detail);
	if (print_summary(&args, merged, (double)(merged->end_ns - go_ns) / 1e9, start_wall_ms,
			  end_wall_ms) != 0)
		fprintf(stderr, BP_NAME ": cannot write the summary\n");
	else if (!merged->failed && merged->rejected == 0 && merged->no_ack == 0)
		rc = BP_EXIT_OK;
out:
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (ready[i] >= 0)
			close(ready[i]);
	}
	if (results != MAP_FAILED)
		munmap(results, results_len);
	free(merged);
	free(prs);
	free(pids);
	free(tids);
	schedule_free(&sched);
	return rc;
}
