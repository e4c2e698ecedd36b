/*
 * fake_opts: smsq-fakeprovider's options (see fake_opts.h).
 *
 * DESIGN
 * One table, options[], holds for each option its name, argument, range
 * and help; getopt_long's array and the --help text are both made from it,
 * so they cannot disagree.  Numbers are parsed strictly (the whole
 * argument, in range) and the cross-option rules (the fault rates add up
 * to at most 1) are checked after the loop.
 */
#include "fake/fake_opts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake/fake_apis.h"
#include "common/num.h"

#define DEFAULT_LISTEN "127.0.0.1:0"
#define DEFAULT_MAX_BODY (4u << 20)
#define DEFAULT_HANG_MAX_S 300
#define DEFAULT_SEED 1
#define MIN_THREADS 2
#define MAX_THREADS 64
#define MAX_RATE 100000000ULL
#define MAX_LATENCY_MS 600000ULL
#define MAX_RETRY_AFTER_S 3600ULL
#define MAX_HANG_S 86400ULL
#define MIN_BODY 1024ULL
#define MAX_BODY (256ULL << 20)
#define MS_PER_S 1000
#define DEFAULT_RECEIPT_DELAY "50:500"
#define DEFAULT_RECEIPT_CONCURRENCY 16
#define DEFAULT_RECEIPT_RETRY_S 60
#define DEFAULT_RECEIPT_MAX_PENDING 500000
#define MAX_RECEIPT_PENDING 100000000ULL
#define MAX_RECEIPT_RETRY_S 86400ULL
#define PAIR_PART_MAX 64 /* one side of A:B, bytes */
#define OPT_BASE 256     /* getopt_long values of long-only options */

enum opt_id {
	OPT_LISTEN = OPT_BASE, OPT_API, OPT_RECORD, OPT_RATE_LIMIT, OPT_BURST, OPT_LIMIT_KIND,
	OPT_COUNT,
	OPT_RETRY_AFTER, OPT_ERROR_RATE, OPT_ERROR_STATUS, OPT_LATENCY_MS, OPT_JITTER_MS,
	OPT_HANG_RATE, OPT_HANG_MAX_S, OPT_DROP_RATE, OPT_OUTAGE, OPT_AUTH_FAIL, OPT_FAIL_PREFIX,
	OPT_SEED, OPT_ERROR_RETRY_AFTER,
	OPT_THREADS, OPT_MAX_BODY, OPT_INFOBIP_KEY, OPT_WEBHOOK_TOKEN, OPT_SINCH_TOKEN,
	OPT_VONAGE_SECRET, OPT_RECEIPT_DELAY, OPT_RECEIPT_TAIL, OPT_RECEIPT_HOLD,
	OPT_RECEIPT_UNDELIVERED,
	OPT_RECEIPT_REPEAT, OPT_RECEIPT_OUT_OF_ORDER, OPT_RECEIPT_INTERIM, OPT_RECEIPT_BATCH,
	OPT_RECEIPT_CONCURRENCY, OPT_RECEIPT_RETRY_S, OPT_RECEIPT_MAX_PENDING,
	OPT_RECEIPT_VONAGE_METHOD, OPT_LOG_LEVEL,
	OPT_HELP,
};

struct opt_def {
	const char *name;    /* long name */
	const char *arg;     /* argument name, NULL: none */
	int id;              /* enum opt_id */
	const char *help;    /* one line or more, with the default */
};

static const struct opt_def options[] = {
	{ "listen", "HOST:PORT", OPT_LISTEN,
	  "where to listen; a loopback address only (127.x.x.x, localhost, [::1]);\n"
	  "port 0 picks a free port. Default " DEFAULT_LISTEN ". Prints one line\n"
	  "'listening HOST:PORT' on stdout once ready" },
	{ "api", "NAME", OPT_API,
	  "twilio, infobip, webhook, sinch, vonage or all (default all: route by path)" },
	{ "record", "FILE", OPT_RECORD,
	  "append one tab-separated line per message received: time_ms api key\n"
	  "destination segments http_status outcome text; and one per delivery\n"
	  "report answered or given up: time_ms api receipt ref destination\n"
	  "http_status report flags attempts provider_status error (default: no\n"
	  "file)" },
	{ "rate-limit", "N", OPT_RATE_LIMIT,
	  "accept at most N (+ burst) messages in any sliding 1 s window, the\n"
	  "rest are throttled (429, a per-message 'throttled', Vonage's status 1);\n"
	  "0 = unlimited (default)" },
	{ "burst", "B", OPT_BURST, "extra messages allowed in the window (default 0)" },
	{ "limit-kind", "KIND", OPT_LIMIT_KIND,
	  "window (default): the sliding 1 s window above; bucket: a token bucket\n"
	  "of B tokens (at least 1) refilled at N a second, as many providers\n"
	  "enforce their limit" },
	{ "count", "WHAT", OPT_COUNT,
	  "what the rate limit counts: messages (default) or segments (GSM-7\n"
	  "160/153, else UCS-2 70/67 per part: approximate)" },
	{ "retry-after", "S", OPT_RETRY_AFTER,
	  "Retry-After seconds of throttled answers, 1..3600 (default 1)" },
	{ "error-rate", "F", OPT_ERROR_RATE,
	  "share of requests answered --error-status, 0..1 (default 0)" },
	{ "error-status", "S[,S]", OPT_ERROR_STATUS,
	  "500, 503, or 500,503: each error then picks one of the two at random\n"
	  "(the --seed draws) (default 500)" },
	{ "error-retry-after", "S", OPT_ERROR_RETRY_AFTER,
	  "Retry-After seconds of the 503 answers of --error-rate and --outage,\n"
	  "0..3600; 0 (default): no Retry-After, as providers often answer" },
	{ "latency-ms", "N", OPT_LATENCY_MS, "delay added to every answer (default 0)" },
	{ "latency-jitter-ms", "J", OPT_JITTER_MS,
	  "plus a uniform 0..J ms more (default 0)" },
	{ "hang-rate", "F", OPT_HANG_RATE,
	  "share of requests never answered: the connection stays open until\n"
	  "the client gives up (or --hang-max-s) (default 0)" },
	{ "hang-max-s", "S", OPT_HANG_MAX_S,
	  "close a hung connection after S seconds (default 300)" },
	{ "drop-rate", "F", OPT_DROP_RATE,
	  "share of requests whose connection is closed without an answer (default 0)" },
	{ "outage", "START_S:DURATION_S", OPT_OUTAGE,
	  "answer 503 to everything from START_S for DURATION_S seconds after\n"
	  "start (decimals allowed); repeatable, up to 16" },
	{ "auth-fail", "START_S:DURATION_S", OPT_AUTH_FAIL,
	  "answer everything as the API answers bad credentials (a rotated key)\n"
	  "from START_S for DURATION_S seconds after start: 401 with Twilio's\n"
	  "code 20003, Infobip's UNAUTHORIZED, the webhook's error, Sinch's\n"
	  "unauthorized; a 200 with Vonage's status 4 (counted as 'unauthorized'\n"
	  "in /_stats and the record file); repeatable, up to 16" },
	{ "fail-prefix", "P", OPT_FAIL_PREFIX,
	  "reject destinations starting with P permanently (a leading '+' is\n"
	  "ignored on both sides); repeatable, up to 16" },
	{ "seed", "N", OPT_SEED,
	  "seed of the fault and latency draws: the same seed gives the same\n"
	  "faults to the same sequence of requests (default 1)" },
	{ "threads", "N", OPT_THREADS,
	  "HTTP threads, 1..64 (default: the number of CPUs, at least 2)" },
	{ "max-body-bytes", "N", OPT_MAX_BODY,
	  "larger request bodies are answered 413 (default 4194304)" },
	{ "infobip-key", "KEY", OPT_INFOBIP_KEY,
	  "require 'Authorization: App KEY' (default: any App key); repeatable,\n"
	  "up to 4: any of them is taken (a key rotation), /_stats counts each" },
	{ "webhook-token", "TOKEN", OPT_WEBHOOK_TOKEN,
	  "require 'Authorization: Bearer TOKEN' on /webhook (default: none);\n"
	  "repeatable, up to 4, as --infobip-key" },
	{ "sinch-token", "TOKEN", OPT_SINCH_TOKEN,
	  "require 'Authorization: Bearer TOKEN' on Sinch's batches (default: any\n"
	  "bearer token); repeatable, up to 4, as --infobip-key" },
	{ "vonage-secret", "SECRET", OPT_VONAGE_SECRET,
	  "require this API secret (HTTP Basic password, or api_secret) on\n"
	  "Vonage's /sms/json (default: any); repeatable, up to 4, as --infobip-key" },
	{ "receipt-delay-ms", "MIN:MAX", OPT_RECEIPT_DELAY,
	  "delivery reports (asked by a request: Twilio StatusCallback, Infobip\n"
	  "notifyUrl, Sinch callback_url with delivery_report per_recipient,\n"
	  "Vonage callback, webhook callback_url) are sent to the URL asked for\n"
	  "each accepted message, the final one a uniform MIN..MAX ms after the\n"
	  "acceptance (default " DEFAULT_RECEIPT_DELAY ")" },
	{ "receipt-tail", "F:MS", OPT_RECEIPT_TAIL,
	  "a share F of the messages has its reports sent MS ms later still (a\n"
	  "slow network; their times do not move) (default 0:0)" },
	{ "receipt-hold-s", "S", OPT_RECEIPT_HOLD,
	  "no report leaves before S seconds after the start: those due earlier\n"
	  "go then, all at once (their times do not move): a burst, to measure\n"
	  "what an endpoint takes (default 0: none)" },
	{ "receipt-undelivered", "F", OPT_RECEIPT_UNDELIVERED,
	  "share of the messages reported undelivered, with one of the API's\n"
	  "failures (Twilio 30003..., Infobip EC_ABSENT_SUBSCRIBER..., Sinch\n"
	  "Failed..., Vonage err-code 3...); the others delivered (default 0)" },
	{ "receipt-repeat", "F", OPT_RECEIPT_REPEAT,
	  "share whose final report is sent twice (default 0)" },
	{ "receipt-out-of-order", "F", OPT_RECEIPT_OUT_OF_ORDER,
	  "share that gets, after the final report, an older one contradicting\n"
	  "it, stamped 1 s before (undelivered after delivered and the other way\n"
	  "round; Twilio, whose reports carry no time: an interim 'sent')\n"
	  "(default 0)" },
	{ "receipt-interim", "F", OPT_RECEIPT_INTERIM,
	  "share that first gets an interim report, half way (Twilio sent,\n"
	  "Infobip PENDING, Sinch Dispatched, Vonage buffered, webhook pending)\n"
	  "(default 0)" },
	{ "receipt-batch", "N", OPT_RECEIPT_BATCH,
	  "Infobip and webhook: up to N reports in one request to the same URL,\n"
	  "1..1000 (default 1)" },
	{ "receipt-concurrency", "N", OPT_RECEIPT_CONCURRENCY,
	  "report requests in flight at most, over as many keep-alive\n"
	  "connections, 1..1024 (default 16)" },
	{ "receipt-retry-s", "S", OPT_RECEIPT_RETRY_S,
	  "a report request answered 429 or 5xx, or not answered, is sent again\n"
	  "after 1 s, 2 s, 4 s... within S seconds of its first attempt, then\n"
	  "given up; any other non-2xx answer (4xx) is given up at once, logged;\n"
	  "0..86400 (default 60; 0: never again)" },
	{ "receipt-max-pending", "N", OPT_RECEIPT_MAX_PENDING,
	  "reports held at most (due, in flight or waiting to be sent again):\n"
	  "a message whose reports would pass it gets none, counted in /_stats\n"
	  "receipts_dropped; about 350 bytes each at most (default 500000)" },
	{ "receipt-vonage-method", "HOW", OPT_RECEIPT_VONAGE_METHOD,
	  "how Vonage's reports go, as an account sets it: get (the fields in\n"
	  "the query; default), post (a form) or json" },
	{ "log-level", "LEVEL", OPT_LOG_LEVEL, "error, warn, info (default), debug" },
	{ "help", NULL, OPT_HELP, "this text" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

void fake_opts_usage(FILE *f)
{
	fprintf(f,
		"usage: smsq-fakeprovider [OPTIONS]\n"
		"A fake SMS provider for tests, the demo and benchmarks: answers the\n"
		"Twilio, Infobip, Sinch, Vonage and smsq webhook APIs on a loopback\n"
		"address, with rate limits and faults on demand.  GET /_stats gives\n"
		"its counters.\n"
		"SIGTERM or SIGINT stops it cleanly (record file flushed, exit 0).\n\n"
		"options:\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct opt_def *d = &options[i];
		char head[64];
		snprintf(head, sizeof(head), "--%s%s%s", d->name, d->arg ? " " : "",
			 d->arg ? d->arg : "");
		fprintf(f, "  %s\n", head);
		for (const char *p = d->help; *p != '\0';) {
			size_t n = strcspn(p, "\n");
			fprintf(f, "        %.*s\n", (int)n, p);
			p += n;
			if (*p == '\n')
				p++;
		}
	}
}

/* Strict unsigned integer in [min, max]; 0 or -1 with err. */
static int parse_uint(const char *name, const char *s, unsigned long long min,
		      unsigned long long max, unsigned long long *out, char *err, size_t errlen)
{
	uint64_t v;

	if (num_parse_u64(s, min, max, &v) != 0) {
		snprintf(err, errlen, "--%s: expected an integer in %llu..%llu, got '%s'",
			 name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Strict decimal in [min, max]; 0 or -1 with err. */
static int parse_double(const char *name, const char *s, double min, double max, double *out,
			char *err, size_t errlen)
{
	double v;

	if (num_parse_double(s, min, max, &v) != 0) {
		snprintf(err, errlen, "--%s: expected a number in %g..%g, got '%s'",
			 name, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* --listen HOST:PORT, loopback only. */
static int parse_listen(const char *s, struct fake_opts *o, char *err, size_t errlen)
{
	const char *colon = strrchr(s, ':');
	char host[FAKE_OPTS_HOST_MAX];
	unsigned long long port;

	memset(&o->addr, 0, sizeof(o->addr));
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon == s)
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (parse_uint("listen", colon + 1, 0, 65535, &port, err, errlen) != 0)
		return -1;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (strcmp(host, "[::1]") == 0) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&o->addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_loopback;
		a6->sin6_port = htons((uint16_t)port);
		o->addr_len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&o->addr;
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1 ||
		    (ntohl(a4->sin_addr.s_addr) >> 24) != 127)
			goto bad;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		o->addr_len = sizeof(*a4);
	}
	snprintf(o->host, sizeof(o->host), "%s", host);
	return 0;
bad:
	snprintf(err, errlen, "--listen: expected HOST:PORT with a loopback HOST "
		 "(127.x.x.x, localhost or [::1]), got '%s'", s);
	return -1;
}

/* Split "A:B" at its first ':' into first (A, PAIR_PART_MAX bytes) and
 * *second (B, borrowed from s); 0, or -1 when there is no ':' or A is too
 * long. */
static int split_pair(const char *s, char first[PAIR_PART_MAX], const char **second)
{
	const char *colon = strchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= PAIR_PART_MAX)
		return -1;
	memcpy(first, s, (size_t)(colon - s));
	first[colon - s] = '\0';
	*second = colon + 1;
	return 0;
}

/* --outage or --auth-fail START_S:DURATION_S into w[*n] (max entries). */
static int parse_window(const char *name, const char *s, struct fake_window *w, size_t *n,
			size_t max, char *err, size_t errlen)
{
	if (*n == max) {
		snprintf(err, errlen, "--%s: at most %zu windows", name, max);
		return -1;
	}
	char first[PAIR_PART_MAX];
	const char *second;
	double start, dur;

	if (split_pair(s, first, &second) != 0 || num_parse_double(first, 0, 1e9, &start) != 0 ||
	    num_parse_double(second, 0, 1e9, &dur) != 0 || !(dur > 0))
		goto bad;
	w[*n].start_ms = (int64_t)llround(start * MS_PER_S);
	w[*n].duration_ms = (int64_t)llround(dur * MS_PER_S);
	(*n)++;
	return 0;
bad:
	snprintf(err, errlen, "--%s: expected START_S:DURATION_S (START_S >= 0, "
		 "DURATION_S > 0), got '%s'", name, s);
	return -1;
}

/* --error-status: "500", "503", "500,503" or "503,500". */
static int parse_statuses(const char *s, struct fake_faults_opts *f, char *err, size_t errlen)
{
	const char *p = s;

	f->n_error_statuses = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		int st = len == 3 && strncmp(p, "500", 3) == 0 ? 500 :
			 len == 3 && strncmp(p, "503", 3) == 0 ? 503 : 0;

		if (st == 0 || f->n_error_statuses == FAKE_FAULTS_MAX_STATUSES ||
		    (f->n_error_statuses == 1 && f->error_statuses[0] == st))
			goto bad;
		f->error_statuses[f->n_error_statuses++] = st;
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
bad:
	snprintf(err, errlen, "--error-status: expected 500, 503 or 500,503, got '%s'", s);
	return -1;
}

/* --receipt-delay-ms MIN:MAX. */
static int parse_receipt_delay(const char *s, struct fake_receipts_opts *r, char *err,
			       size_t errlen)
{
	char first[PAIR_PART_MAX];
	const char *second;
	uint64_t min, max;

	if (split_pair(s, first, &second) != 0 ||
	    num_parse_u64(first, 0, MAX_LATENCY_MS, &min) != 0 ||
	    num_parse_u64(second, min, MAX_LATENCY_MS, &max) != 0) {
		snprintf(err, errlen, "--receipt-delay-ms: expected MIN:MAX, integers with "
			 "0 <= MIN <= MAX <= %llu, got '%s'", MAX_LATENCY_MS, s);
		return -1;
	}
	r->delay_min_ms = (int64_t)min;
	r->delay_max_ms = (int64_t)max;
	return 0;
}

/* --receipt-tail F:MS. */
static int parse_receipt_tail(const char *s, struct fake_receipts_opts *r, char *err,
			      size_t errlen)
{
	char first[PAIR_PART_MAX];
	const char *second;
	uint64_t ms;

	if (split_pair(s, first, &second) != 0 ||
	    num_parse_double(first, 0.0, 1.0, &r->tail_share) != 0 ||
	    num_parse_u64(second, 0, MAX_LATENCY_MS, &ms) != 0) {
		snprintf(err, errlen, "--receipt-tail: expected F:MS with F in 0..1 and MS in "
			 "0..%llu, got '%s'", MAX_LATENCY_MS, s);
		return -1;
	}
	r->tail_ms = (int64_t)ms;
	return 0;
}

static int parse_vonage_method(const char *s, struct fake_receipts_opts *r, char *err,
			       size_t errlen)
{
	if (strcmp(s, "get") == 0)
		r->vonage_method = FAKE_VONAGE_GET;
	else if (strcmp(s, "post") == 0)
		r->vonage_method = FAKE_VONAGE_POST;
	else if (strcmp(s, "json") == 0)
		r->vonage_method = FAKE_VONAGE_JSON;
	else {
		snprintf(err, errlen, "--receipt-vonage-method: expected get, post or json, "
			 "got '%s'", s);
		return -1;
	}
	return 0;
}

static int parse_prefix(const char *s, struct fake_opts *o, char *err, size_t errlen)
{
	struct fake_faults_opts *f = &o->faults;

	if (f->n_prefixes == FAKE_FAULTS_MAX_PREFIXES) {
		snprintf(err, errlen, "--fail-prefix: at most %d prefixes",
			 FAKE_FAULTS_MAX_PREFIXES);
		return -1;
	}
	if (s[0] == '\0' || strcmp(s, "+") == 0 || strlen(s) >= FAKE_FAULTS_PREFIX_MAX) {
		snprintf(err, errlen, "--fail-prefix: expected 1..%d characters, got '%s'",
			 FAKE_FAULTS_PREFIX_MAX - 1, s);
		return -1;
	}
	snprintf(f->prefixes[f->n_prefixes++], FAKE_FAULTS_PREFIX_MAX, "%s", s);
	return 0;
}

static int parse_api(const char *s, struct fake_opts *o, char *err, size_t errlen)
{
	if (strcmp(s, "all") == 0) {
		o->api_mask = (1u << FAKE_API_NONE) - 1;
		return 0;
	}
	for (int api = FAKE_API_TWILIO; api < FAKE_API_NONE; api++) {
		if (strcmp(s, fake_api_name((enum fake_api)api)) == 0) {
			o->api_mask = 1u << api;
			return 0;
		}
	}
	snprintf(err, errlen, "--api: expected twilio, infobip, webhook, sinch, vonage or all, "
		 "got '%s'", s);
	return -1;
}

static void set_defaults(struct fake_opts *o)
{
	char unused[8];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	(void)parse_listen(DEFAULT_LISTEN, o, unused, sizeof(unused));
	(void)parse_api("all", o, unused, sizeof(unused));
	o->retry_after_s = 1;
	o->faults.error_statuses[0] = 500;
	o->faults.n_error_statuses = 1;
	o->faults.seed = DEFAULT_SEED;
	o->threads = cpus < MIN_THREADS ? MIN_THREADS : cpus > MAX_THREADS ? MAX_THREADS :
		(unsigned)cpus;
	o->max_body_bytes = DEFAULT_MAX_BODY;
	o->hang_max_ms = (int64_t)DEFAULT_HANG_MAX_S * MS_PER_S;
	o->log_level = LOG_LEVEL_INFO;
	(void)parse_receipt_delay(DEFAULT_RECEIPT_DELAY, &o->receipts.receipts, unused,
				  sizeof(unused));
	o->receipts.batch = 1;
	o->receipts.concurrency = DEFAULT_RECEIPT_CONCURRENCY;
	o->receipts.retry_ms = (int64_t)DEFAULT_RECEIPT_RETRY_S * MS_PER_S;
	o->receipts.max_pending = DEFAULT_RECEIPT_MAX_PENDING;
}

/* Apply one option; 0 or -1 with err. */
static int apply(int id, const char *name, const char *arg, struct fake_opts *o,
		 char *err, size_t errlen)
{
	unsigned long long u;
	double x;
	struct fake_faults_opts *f = &o->faults;
	struct fake_receipts_opts *rc = &o->receipts.receipts;

	switch (id) {
	case OPT_LISTEN: return parse_listen(arg, o, err, errlen);
	case OPT_API: return parse_api(arg, o, err, errlen);
	case OPT_RECORD:
		o->record_path = arg;
		return 0;
	case OPT_RATE_LIMIT:
	case OPT_BURST:
		if (parse_uint(name, arg, 0, MAX_RATE, &u, err, errlen) != 0)
			return -1;
		*(id == OPT_RATE_LIMIT ? &o->rate_limit : &o->burst) = (unsigned)u;
		return 0;
	case OPT_LIMIT_KIND:
		if (strcmp(arg, "window") != 0 && strcmp(arg, "bucket") != 0) {
			snprintf(err, errlen, "--limit-kind: expected window or bucket, got '%s'",
				 arg);
			return -1;
		}
		o->bucket = strcmp(arg, "bucket") == 0;
		return 0;
	case OPT_COUNT:
		if (strcmp(arg, "messages") != 0 && strcmp(arg, "segments") != 0) {
			snprintf(err, errlen, "--count: expected messages or segments, got '%s'",
				 arg);
			return -1;
		}
		o->count_segments = strcmp(arg, "segments") == 0;
		return 0;
	case OPT_RETRY_AFTER:
		if (parse_uint(name, arg, 1, MAX_RETRY_AFTER_S, &u, err, errlen) != 0)
			return -1;
		o->retry_after_s = (int)u;
		return 0;
	case OPT_ERROR_RETRY_AFTER:
		if (parse_uint(name, arg, 0, MAX_RETRY_AFTER_S, &u, err, errlen) != 0)
			return -1;
		f->error_retry_after_s = (int)u;
		return 0;
	case OPT_ERROR_RATE:
	case OPT_HANG_RATE:
	case OPT_DROP_RATE:
		if (parse_double(name, arg, 0.0, 1.0, &x, err, errlen) != 0)
			return -1;
		*(id == OPT_ERROR_RATE ? &f->error_rate :
		  id == OPT_HANG_RATE ? &f->hang_rate : &f->drop_rate) = x;
		return 0;
	case OPT_ERROR_STATUS: return parse_statuses(arg, f, err, errlen);
	case OPT_LATENCY_MS:
	case OPT_JITTER_MS:
		if (parse_uint(name, arg, 0, MAX_LATENCY_MS, &u, err, errlen) != 0)
			return -1;
		*(id == OPT_LATENCY_MS ? &f->latency_ms : &f->latency_jitter_ms) = (int64_t)u;
		return 0;
	case OPT_HANG_MAX_S:
		if (parse_uint(name, arg, 1, MAX_HANG_S, &u, err, errlen) != 0)
			return -1;
		o->hang_max_ms = (int64_t)u * MS_PER_S;
		return 0;
	case OPT_OUTAGE:
		return parse_window(name, arg, f->outages, &f->n_outages, FAKE_FAULTS_MAX_OUTAGES,
				    err, errlen);
	case OPT_AUTH_FAIL:
		return parse_window(name, arg, f->auth_fails, &f->n_auth_fails,
				    FAKE_FAULTS_MAX_AUTH_FAILS, err, errlen);
	case OPT_FAIL_PREFIX: return parse_prefix(arg, o, err, errlen);
	case OPT_SEED:
		if (parse_uint(name, arg, 0, UINT64_MAX, &u, err, errlen) != 0)
			return -1;
		f->seed = u;
		return 0;
	case OPT_THREADS:
		if (parse_uint(name, arg, 1, MAX_THREADS, &u, err, errlen) != 0)
			return -1;
		o->threads = (unsigned)u;
		return 0;
	case OPT_MAX_BODY:
		if (parse_uint(name, arg, MIN_BODY, MAX_BODY, &u, err, errlen) != 0)
			return -1;
		o->max_body_bytes = (size_t)u;
		return 0;
	case OPT_INFOBIP_KEY:
	case OPT_WEBHOOK_TOKEN:
	case OPT_SINCH_TOKEN:
	case OPT_VONAGE_SECRET: {
		struct fake_keys *k = id == OPT_INFOBIP_KEY ? &o->infobip_keys :
				      id == OPT_WEBHOOK_TOKEN ? &o->webhook_tokens :
				      id == OPT_SINCH_TOKEN ? &o->sinch_tokens : &o->vonage_secrets;

		if (arg[0] == '\0') {
			snprintf(err, errlen, "--%s: must not be empty", name);
			return -1;
		}
		if (k->n == FAKE_APIS_MAX_KEYS) {
			snprintf(err, errlen, "--%s: at most %d", name, FAKE_APIS_MAX_KEYS);
			return -1;
		}
		k->v[k->n++] = arg;
		return 0;
	}
	case OPT_RECEIPT_DELAY: return parse_receipt_delay(arg, rc, err, errlen);
	case OPT_RECEIPT_TAIL: return parse_receipt_tail(arg, rc, err, errlen);
	case OPT_RECEIPT_HOLD: {
		uint64_t s;

		if (num_parse_u64(arg, 0, 86400, &s) != 0) {
			snprintf(err, errlen, "--receipt-hold-s: expected 0..86400 seconds, got '%s'",
				 arg);
			return -1;
		}
		rc->hold_ms = (int64_t)s * 1000;
		return 0;
	}
	case OPT_RECEIPT_UNDELIVERED:
	case OPT_RECEIPT_REPEAT:
	case OPT_RECEIPT_OUT_OF_ORDER:
	case OPT_RECEIPT_INTERIM:
		if (parse_double(name, arg, 0.0, 1.0, &x, err, errlen) != 0)
			return -1;
		*(id == OPT_RECEIPT_UNDELIVERED ? &rc->undelivered :
		  id == OPT_RECEIPT_REPEAT ? &rc->repeat :
		  id == OPT_RECEIPT_OUT_OF_ORDER ? &rc->out_of_order : &rc->interim) = x;
		return 0;
	case OPT_RECEIPT_BATCH:
	case OPT_RECEIPT_CONCURRENCY:
		if (parse_uint(name, arg, 1, id == OPT_RECEIPT_BATCH ? FAKE_CALLBACKS_BATCH_MAX :
			       FAKE_CALLBACKS_CONCURRENCY_MAX, &u, err, errlen) != 0)
			return -1;
		*(id == OPT_RECEIPT_BATCH ? &o->receipts.batch : &o->receipts.concurrency) =
			(unsigned)u;
		return 0;
	case OPT_RECEIPT_RETRY_S:
		if (parse_uint(name, arg, 0, MAX_RECEIPT_RETRY_S, &u, err, errlen) != 0)
			return -1;
		o->receipts.retry_ms = (int64_t)u * MS_PER_S;
		return 0;
	case OPT_RECEIPT_MAX_PENDING:
		if (parse_uint(name, arg, 1, MAX_RECEIPT_PENDING, &u, err, errlen) != 0)
			return -1;
		o->receipts.max_pending = u;
		return 0;
	case OPT_RECEIPT_VONAGE_METHOD: return parse_vonage_method(arg, rc, err, errlen);
	case OPT_LOG_LEVEL:
		if (log_level_parse(arg, &o->log_level) != 0) {
			snprintf(err, errlen, "--log-level: expected error, warn, info or debug, "
				 "got '%s'", arg);
			return -1;
		}
		return 0;
	default:
		break;
	}
	snprintf(err, errlen, "--%s: not handled (bug)", name);
	return -1;
}

enum fake_opts_rc fake_opts_parse(int argc, char **argv, struct fake_opts *out,
				  char *err, size_t errlen)
{
	struct option longopts[N_OPTIONS + 1];
	enum fake_opts_rc rc = FAKE_OPTS_OK;
	int c;

	set_defaults(out);
	memset(longopts, 0, sizeof(longopts));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		longopts[i].name = options[i].name;
		longopts[i].has_arg = options[i].arg ? required_argument : no_argument;
		longopts[i].val = options[i].id;
	}
	opterr = 0;
	optind = 1;
	for (;;) {
		int idx = -1;
		c = getopt_long(argc, argv, "h", longopts, &idx);
		if (c == -1)
			break;
		if (c == 'h' || c == OPT_HELP)
			return FAKE_OPTS_HELP;
		if (c == '?' || c == ':') {
			snprintf(err, errlen, "unknown option or missing argument: '%s'",
				 argv[optind - 1]);
			return FAKE_OPTS_ERROR;
		}
		const char *name = idx >= 0 ? options[idx].name : "?";
		if (apply(c, name, optarg, out, err, errlen) != 0)
			return FAKE_OPTS_ERROR;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return FAKE_OPTS_ERROR;
	}
	const struct fake_faults_opts *f = &out->faults;
	out->receipts.receipts.seed = f->seed;
	if (f->error_rate + f->hang_rate + f->drop_rate > 1.0 + 1e-9) {
		snprintf(err, errlen, "--error-rate + --hang-rate + --drop-rate must be at most 1");
		rc = FAKE_OPTS_ERROR;
	}
	return rc;
}
