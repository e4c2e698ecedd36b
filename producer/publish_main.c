/*
 * smsq-publish: publish NDJSON booking events to an smsq pool.
 *
 *	smsq-publish [-e ENDPOINT] [-w WINDOW] [-t ACK_TIMEOUT_MS] [-q]
 *		     [--json-summary] [FILE|-]
 *
 * Reads one JSON event per line (producer/event_json.h) from FILE or stdin,
 * publishes them pipelined through the producer library (up to WINDOW in
 * flight), and waits for every ack.  Progress goes to stderr when it is a
 * terminal; a summary goes to stderr at the end and, with --json-summary,
 * as one JSON object on stdout:
 *
 *	{"accepted":N,"held":N,"duplicate":N,"rejected":{"invalid_phone":N,...},
 *	 "invalid_lines":N,"unacked":N,"seconds":S,"rate":R}
 *
 * held: of the accepted, those stored held over a velocity limit (ACCEPTED
 * with the limit's reason: velocity.over_limit = hold).
 *
 * rate is acknowledged events (accepted, duplicate, rejected) per second.
 * Blank lines are skipped.  Exit status: 0 if every event was ACCEPTED or
 * DUPLICATE; 1 if any line was invalid, rejected or never acknowledged, or
 * on an error; 2 on a usage error.
 *
 * Speed: one getline() per line into a reused buffer, one reused buffer for
 * the packed event, no per-event output; the only per-event system work is
 * ZeroMQ's.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/keyfile.h"
#include "common/secret.h"
#include "common/xalloc.h"
#include "producer/event_json.h"
#include "producer/smsq_producer.h"
#include "common/num.h"
#include "common/attrs.h"

#define PUBLISH_NAME "smsq-publish"
#define PUBLISH_DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"
#define PUBLISH_EXIT_OK 0
#define PUBLISH_EXIT_FAILED 1
#define PUBLISH_EXIT_USAGE 2
#define PUBLISH_SHOWN 5			/* problem lines listed per kind */
#define PUBLISH_NOTE_MAX 200		/* bytes of one listed problem */
#define PUBLISH_PROGRESS_MS 250		/* progress refresh period */
#define PUBLISH_REASONS 64		/* reasons tallied by value; above: "unknown" */
#define PUBLISH_INPUT_BUFFER (1 << 16)	/* stdio buffer of the input */
#define PUBLISH_OPT_JSON_SUMMARY 256	/* getopt_long value of --json-summary */
#define PUBLISH_OPT_SERVER_KEY 257	/* ... of --server-key */
#define PUBLISH_OPT_KEY 258		/* ... of --key */
#define PUBLISH_JSON_DIGITS 10		/* significant digits of JSON reals */

/* What the command line asked for. */
struct publish_args {
	const char *endpoint;		/* pool's ingest endpoint */
	const char *path;		/* input file, NULL for stdin */
	struct smsq_producer_opts opts;	/* window and ack timeout */
	bool quiet;			/* -q: no progress, summary only on failure */
	bool json_summary;		/* --json-summary */
	const char *server_key;		/* --server-key: the pool's public key file */
	const char *key;		/* --key: this producer's secret file */
};

/* The first few problems of one kind, with their line numbers. */
struct publish_notes {
	size_t pn_count;				/* notes kept */
	uint64_t pn_line[PUBLISH_SHOWN];		/* their line numbers */
	char pn_text[PUBLISH_SHOWN][PUBLISH_NOTE_MAX];	/* what happened */
};

/* Everything counted during a run. */
struct publish_tally {
	uint64_t lines;			/* lines read */
	uint64_t sent;			/* events published */
	uint64_t accepted;		/* ACCEPTED */
	uint64_t held;			/* of which stored held (a reason given) */
	uint64_t duplicate;		/* DUPLICATE */
	uint64_t rejected;		/* REJECTED, all reasons */
	uint64_t by_reason[PUBLISH_REASONS + 1]; /* REJECTED by reason value */
	uint64_t invalid;		/* lines that are not valid JSON events */
	uint64_t unacked;		/* NO_ACK */
	struct publish_notes invalid_notes;	/* first invalid lines */
	struct publish_notes rejected_notes;	/* first rejections */
	struct publish_notes unacked_notes;	/* first events never acked */
	int64_t start_ms;		/* monotonic start of the run */
	int64_t progress_ms;		/* last progress refresh */
	bool progress;			/* show progress (stderr is a terminal) */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PUBLISH_NAME " [-e ENDPOINT] [-w WINDOW] [-t ACK_TIMEOUT_MS] [-q]\n"
		"                    [--server-key FILE --key FILE] [--json-summary] [FILE|-]\n"
		"Publish booking events, one JSON object per line, to an smsq pool and\n"
		"wait for their acks.\n"
		"  -e ENDPOINT        the pool's ingest endpoint (default " PUBLISH_DEFAULT_ENDPOINT ")\n"
		"  -w WINDOW          events in flight at most, 1..%d (default %d)\n"
		"  -t ACK_TIMEOUT_MS  give up on an event not acknowledged after this long\n"
		"                     (default %d)\n"
		"  -q                 no progress; the summary only if something failed\n"
		"  --server-key FILE  CURVE: the pool's public key file (smsqctl keygen's NAME.key)\n"
		"  --key FILE         CURVE: this producer's secret file (NAME.secret, mode 600)\n"
		"  --json-summary     print a JSON summary on stdout\n"
		"Exit status: 0 if every event was accepted or duplicate, 1 otherwise,\n"
		"2 on a usage error.\n",
		SMSQ_WINDOW_MAX, SMSQ_DEFAULT_WINDOW, SMSQ_DEFAULT_ACK_TIMEOUT_MS);
}

/* Fill args from the command line: 0, 1 (help shown), or -1 (usage error
 * reported). */
static int parse_args(int argc, char **argv, struct publish_args *args)
{
	static const struct option longopts[] = {
		{ "json-summary", no_argument, NULL, PUBLISH_OPT_JSON_SUMMARY },
		{ "server-key", required_argument, NULL, PUBLISH_OPT_SERVER_KEY },
		{ "key", required_argument, NULL, PUBLISH_OPT_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	memset(args, 0, sizeof(*args));
	args->endpoint = PUBLISH_DEFAULT_ENDPOINT;
	for (;;) {
		c = getopt_long(argc, argv, "e:w:t:qh", longopts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'e':
			args->endpoint = optarg;
			break;
		case 'w':
			if (num_parse_long(optarg, 1, SMSQ_WINDOW_MAX, &v) != 0) {
				fprintf(stderr, PUBLISH_NAME ": -w: WINDOW must be 1..%d\n",
					SMSQ_WINDOW_MAX);
				return -1;
			}
			args->opts.window = (size_t)v;
			break;
		case 't':
			if (num_parse_long(optarg, 1, INT_MAX, &v) != 0) {
				fprintf(stderr, PUBLISH_NAME ": -t: ACK_TIMEOUT_MS must be 1..%d\n",
					INT_MAX);
				return -1;
			}
			args->opts.ack_timeout_ms = (int)v;
			break;
		case 'q':
			args->quiet = true;
			break;
		case PUBLISH_OPT_JSON_SUMMARY:
			args->json_summary = true;
			break;
		case PUBLISH_OPT_SERVER_KEY:
			args->server_key = optarg;
			break;
		case PUBLISH_OPT_KEY:
			args->key = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return -1;
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0)
		args->path = argv[optind];
	return 0;
}

static void note(struct publish_notes *n, uint64_t line, const char *fmt, ...)
	SMSQ_PRINTF(3, 4);

static void note(struct publish_notes *n, uint64_t line, const char *fmt, ...)
{
	va_list ap;

	if (n->pn_count >= PUBLISH_SHOWN)
		return;
	n->pn_line[n->pn_count] = line;
	va_start(ap, fmt);
	vsnprintf(n->pn_text[n->pn_count], PUBLISH_NOTE_MAX, fmt, ap);
	va_end(ap);
	n->pn_count++;
}

static uint64_t acked(const struct publish_tally *t)
{
	return t->accepted + t->duplicate + t->rejected;
}

static double elapsed_s(const struct publish_tally *t)
{
	return (double)(clock_mono_ms() - t->start_ms) / 1000.0;
}

static double rate(const struct publish_tally *t, double seconds)
{
	return seconds > 0 ? (double)acked(t) / seconds : 0.0;
}

/* Refresh the progress line, at most every PUBLISH_PROGRESS_MS unless
 * forced. */
static void progress(struct publish_tally *t, bool force)
{
	int64_t now_ms;
	double s;

	if (!t->progress)
		return;
	now_ms = clock_mono_ms();
	if (!force && now_ms - t->progress_ms < PUBLISH_PROGRESS_MS)
		return;
	t->progress_ms = now_ms;
	s = elapsed_s(t);
	fprintf(stderr, "\r" PUBLISH_NAME ": sent %" PRIu64 ", acked %" PRIu64
		", %.0f/s   ", t->sent, acked(t), rate(t, s));
}

/* The producer's callback: count one finished event (user = line number). */
static void on_ack(const struct smsq_ack *ack, void *user, void *arg)
{
	struct publish_tally *t = arg;
	uint64_t line = (uint64_t)(uintptr_t)user;

	switch (ack->status) {
	case SMSQ_ACCEPTED:
		t->accepted++;
		t->held += ack->reason != 0;
		break;
	case SMSQ_DUPLICATE:
		t->duplicate++;
		break;
	case SMSQ_REJECTED:
		t->rejected++;
		t->by_reason[ack->reason >= 0 && ack->reason < PUBLISH_REASONS ?
			     ack->reason : PUBLISH_REASONS]++;
		note(&t->rejected_notes, line, "rejected %s: %s",
		     smsq_reason_name(ack->reason), ack->detail);
		break;
	case SMSQ_NO_ACK:
	default:
		t->unacked++;
		note(&t->unacked_notes, line, "%s", ack->detail);
		break;
	}
}

static void report_error(const char *what, int rc)
{
	if (rc == SMSQ_EZMQ)
		fprintf(stderr, PUBLISH_NAME ": %s: %s: %s\n", what, smsq_strerror(rc),
			strerror(errno));
	else
		fprintf(stderr, PUBLISH_NAME ": %s: %s\n", what, smsq_strerror(rc));
}

/* Publish one event, collecting outcomes while the window is full. */
static int publish_one(smsq_producer *p, const uint8_t *event, size_t len,
		       uint64_t line, struct publish_tally *t)
{
	for (;;) {
		int rc = smsq_publish(p, event, len, (void *)(uintptr_t)line,
				      PUBLISH_PROGRESS_MS);

		if (rc == SMSQ_OK)
			break;
		if (rc != SMSQ_ETIMEDOUT && rc != SMSQ_EFULL) {
			report_error("publish", rc);
			return -1;
		}
		rc = smsq_poll(p, 0, on_ack, t);
		if (rc < 0) {
			report_error("poll", rc);
			return -1;
		}
		progress(t, false);
	}
	t->sent++;
	return 0;
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && line[i] != '\r')
			return false;
	}
	return true;
}

/* Publish every line of in, then wait for the outstanding acks.  0, or -1
 * after an error (reported). */
static int publish_stream(FILE *in, smsq_producer *p, size_t max_event_bytes,
			  struct publish_tally *t)
{
	uint8_t *event = xmalloc(max_event_bytes);
	char *line = NULL;
	size_t cap = 0;
	char err[PUBLISH_NOTE_MAX];
	int rc = 0;

	for (;;) {
		ssize_t n = getline(&line, &cap, in);
		size_t len;

		if (n < 0)
			break;
		t->lines++;
		if (blank(line, (size_t)n))
			continue;
		if (event_json_pack_line(line, (size_t)n, event, max_event_bytes, &len,
					 err, sizeof(err)) != 0) {
			t->invalid++;
			note(&t->invalid_notes, t->lines, "invalid: %s", err);
			continue;
		}
		rc = publish_one(p, event, len, t->lines, t);
		if (rc != 0)
			goto out;
		rc = smsq_poll(p, 0, on_ack, t);
		if (rc < 0) {
			report_error("poll", rc);
			goto out;
		}
		progress(t, false);
	}
	if (ferror(in)) {
		fprintf(stderr, PUBLISH_NAME ": read error: %s\n", strerror(errno));
		rc = -1;
		goto out;
	}
	for (;;) {
		rc = smsq_flush(p, PUBLISH_PROGRESS_MS, on_ack, t);
		progress(t, false);
		if (rc >= 0)
			break;
		if (rc != SMSQ_ETIMEDOUT) {
			report_error("flush", rc);
			goto out;
		}
	}
	rc = 0;
out:
	free(line);
	free(event);
	return rc < 0 ? -1 : 0;
}

static bool all_good(const struct publish_tally *t)
{
	return t->rejected == 0 && t->invalid == 0 && t->unacked == 0;
}

static void print_notes(const struct publish_notes *n, uint64_t total)
{
	for (size_t i = 0; i < n->pn_count; i++)
		fprintf(stderr, "  line %" PRIu64 ": %s\n", n->pn_line[i], n->pn_text[i]);
	if (total > n->pn_count)
		fprintf(stderr, "  ... and %" PRIu64 " more\n", total - n->pn_count);
}

static void print_summary(const struct publish_tally *t, double seconds)
{
	fprintf(stderr, PUBLISH_NAME ": %" PRIu64 " lines in %.2f s, %.0f acks/s: %"
		PRIu64 " accepted (%" PRIu64 " held), %" PRIu64 " duplicate, %" PRIu64
		" rejected, %" PRIu64 " invalid, %" PRIu64 " unacked\n", t->lines, seconds,
		rate(t, seconds), t->accepted, t->held, t->duplicate, t->rejected, t->invalid,
		t->unacked);
	for (int r = 0; r <= PUBLISH_REASONS; r++) {
		if (t->by_reason[r] > 0)
			fprintf(stderr, "  rejected %s: %" PRIu64 "\n",
				r < PUBLISH_REASONS ? smsq_reason_name(r) : "unknown",
				t->by_reason[r]);
	}
	print_notes(&t->invalid_notes, t->invalid);
	print_notes(&t->rejected_notes, t->rejected);
	print_notes(&t->unacked_notes, t->unacked);
}

static int print_json_summary(const struct publish_tally *t, double seconds)
{
	json_t *rejected = json_object();
	json_t *summary;
	int rc = -1;

	if (rejected == NULL)
		return -1;
	for (int r = 0; r <= PUBLISH_REASONS; r++) {
		const char *name = r < PUBLISH_REASONS ? smsq_reason_name(r) : "unknown";
		json_t *prev = json_object_get(rejected, name);
		json_int_t count = (json_int_t)t->by_reason[r];

		if (count == 0)
			continue;
		if (prev != NULL)	/* several unknown values */
			count += json_integer_value(prev);
		if (json_object_set_new(rejected, name, json_integer(count)) != 0) {
			json_decref(rejected);
			return -1;
		}
	}
	/* "o" steals the reference to rejected, even on failure. */
	summary = json_pack("{s:I, s:I, s:I, s:o, s:I, s:I, s:f, s:f}",
			    "accepted", (json_int_t)t->accepted,
			    "held", (json_int_t)t->held,
			    "duplicate", (json_int_t)t->duplicate,
			    "rejected", rejected,
			    "invalid_lines", (json_int_t)t->invalid,
			    "unacked", (json_int_t)t->unacked,
			    "seconds", round(seconds * 1000) / 1000,
			    "rate", round(rate(t, seconds) * 10) / 10);
	if (summary == NULL)
		return -1;
	if (json_dumpf(summary, stdout,
		       JSON_COMPACT | JSON_REAL_PRECISION(PUBLISH_JSON_DIGITS)) == 0 &&
	    putchar('\n') != EOF && fflush(stdout) == 0)
		rc = 0;
	json_decref(summary);
	return rc;
}

/* End of the run: the summaries, and the exit status. */
static int finish(const struct publish_args *args, struct publish_tally *t, bool failed)
{
	double seconds = elapsed_s(t);
	bool good = !failed && all_good(t);

	if (t->progress) {
		progress(t, true);
		fputc('\n', stderr);
	}
	if (!args->quiet || !good)
		print_summary(t, seconds);
	if (args->json_summary && print_json_summary(t, seconds) != 0) {
		fprintf(stderr, PUBLISH_NAME ": cannot write the JSON summary\n");
		good = false;
	}
	return good ? PUBLISH_EXIT_OK : PUBLISH_EXIT_FAILED;
}

static FILE *open_input(const char *path)
{
	FILE *in = path ? fopen(path, "r") : stdin;

	if (in == NULL) {
		fprintf(stderr, PUBLISH_NAME ": cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	/* A failed setvbuf only costs speed. */
	(void)setvbuf(in, NULL, _IOFBF, PUBLISH_INPUT_BUFFER);
	return in;
}

int main(int argc, char **argv)
{
	struct publish_args args;
	struct keyfile_client keys;
	struct smsq_curve_keys curve;
	struct publish_tally *tally;
	smsq_producer *p;
	char err[256];
	FILE *in;
	int rc;

	rc = parse_args(argc, argv, &args);
	if (rc != 0)
		return rc > 0 ? PUBLISH_EXIT_OK : PUBLISH_EXIT_USAGE;
	rc = keyfile_read_client(args.server_key, args.key, &keys, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, PUBLISH_NAME ": %s\n", err);
		return PUBLISH_EXIT_FAILED;
	}
	curve.server_key = keys.server_key;
	curve.public_key = keys.mine.public_key[0] != '\0' ? keys.mine.public_key : NULL;
	curve.secret_key = keys.mine.secret_key;
	in = open_input(args.path);
	if (in == NULL)
		return PUBLISH_EXIT_FAILED;
	p = smsq_producer_new_curve(args.endpoint, &args.opts, rc == 1 ? &curve : NULL, err,
				    sizeof(err));
	secret_wipe(&keys, sizeof(keys));
	if (p == NULL) {
		fprintf(stderr, PUBLISH_NAME ": %s\n", err);
		fclose(in);
		return PUBLISH_EXIT_FAILED;
	}
	tally = xcalloc(1, sizeof(*tally));
	tally->progress = !args.quiet && isatty(STDERR_FILENO);
	tally->start_ms = tally->progress_ms = clock_mono_ms();

	rc = publish_stream(in, p, SMSQ_DEFAULT_MAX_EVENT_BYTES, tally);
	rc = finish(&args, tally, rc != 0);

	free(tally);
	smsq_producer_destroy(&p);
	if (in != stdin)
		fclose(in);
	return rc;
}
