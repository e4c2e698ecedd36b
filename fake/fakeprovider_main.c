/*
 * smsq-fakeprovider: a fake SMS provider for tests, the demo and benchmarks.
 *
 * It answers five APIs on a loopback address exactly in the shapes the
 * real ones use (fake/fake_apis.h has them in full):
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json   Twilio (form, Basic auth)
 *   POST /sms/2/text/advanced                              Infobip ("App" key, JSON)
 *   POST /webhook                                          smsq's generic webhook
 *   POST /xms/v1/{service_plan_id}/batches                 Sinch (Bearer token, JSON)
 *   POST /sms/json                                         Vonage (form, Basic auth)
 *   GET  /_stats                                           its counters, JSON
 * and misbehaves on demand: rate limits, 5xx, outages, bad credentials,
 * latency, hangs, dropped connections, permanently failing destinations.
 * When a request asks for delivery reports (Twilio StatusCallback, Infobip
 * notifyUrl, Sinch callback_url with delivery_report per_recipient, Vonage
 * callback, webhook callback_url), it calls that URL back for each message
 * it accepted, in the API's shape and signed as the API signs
 * (fake/fake_receipts.h), late, undelivered, twice or out of order on
 * demand.
 *
 * Usage: smsq-fakeprovider [OPTIONS]   (all options have defaults)
 *   --listen HOST:PORT        loopback only; default 127.0.0.1:0 (a free port).
 *                             Once ready it prints exactly one line on stdout,
 *                             "listening 127.0.0.1:PORT", for scripts to read.
 *   --api NAME                twilio | infobip | webhook | sinch | vonage | all
 *                             (default all)
 *   --record FILE             one tab-separated line per message: time_ms api
 *                             key destination segments http_status outcome
 *                             text; and one per delivery report answered or
 *                             given up: time_ms api "receipt" ref destination
 *                             http_status report flags attempts
 *                             provider_status error (fake/fake_record.h)
 *   --rate-limit N            at most N (+ --burst B) accepted messages in any
 *   --burst B                 sliding 1 s window; the rest are throttled
 *   --count messages|segments what the limit counts (segments: approximate)
 *   --retry-after S           Retry-After of throttled answers (default 1)
 *   --error-rate F            share of requests answered --error-status
 *   --error-status S[,S]      500, 503 or 500,503 (each error picks one)
 *   --error-retry-after S     Retry-After of the 503s (default 0: none)
 *   --latency-ms N            delay per answer, plus uniform 0..J ms
 *   --latency-jitter-ms J
 *   --hang-rate F             share of requests never answered (--hang-max-s)
 *   --hang-max-s S
 *   --drop-rate F             share of connections closed without an answer
 *   --outage START_S:DURATION_S   503 to everything in that window (repeatable)
 *   --auth-fail START_S:DURATION_S  bad credentials in that window (repeatable)
 *   --fail-prefix P           destinations starting with P rejected (repeatable)
 *   --seed N                  same seed, same faults for the same requests
 *   --threads N               HTTP threads (default: CPUs, at least 2)
 *   --max-body-bytes N        larger bodies get 413 (default 4 MiB)
 *   --infobip-key KEY         require this Infobip key (default: any)
 *   --webhook-token TOKEN     require this bearer token on /webhook
 *   --sinch-token TOKEN       require this bearer token on Sinch's batches
 *   --vonage-secret SECRET    require this Vonage API secret
 *   --receipt-delay-ms MIN:MAX  final delivery report MIN..MAX ms after the
 *                             acceptance (default 50:500)
 *   --receipt-tail F:MS       a share F of the messages: reports MS ms later
 *   --receipt-hold-s S        none before S s after the start (a burst then)
 *   --receipt-undelivered F   share reported undelivered (else delivered)
 *   --receipt-repeat F        share whose final report is sent twice
 *   --receipt-out-of-order F  share that gets an older, contradicting report
 *                             after the final one
 *   --receipt-interim F       share that gets an interim report first
 *   --receipt-batch N         Infobip, webhook: reports a request (default 1)
 *   --receipt-concurrency N   report requests in flight (default 16)
 *   --receipt-retry-s S       resend a report not answered 2xx (429, 5xx,
 *                             none) for S seconds, 1 s doubling (default 60)
 *   --receipt-max-pending N   reports held at most; more: dropped, counted
 *                             (default 500000)
 *   --receipt-vonage-method HOW  get (default), post or json
 *   --log-level LEVEL         error | warn | info | debug
 *   --help                    the full text, generated from fake/fake_opts.c
 *
 * SIGTERM or SIGINT: stop cleanly (delayed answers sent, hung connections
 * closed, delivery reports still pending dropped, record file flushed),
 * exit 0.  Exit 1 when it cannot start, 2 on
 * a bad command line.
 *
 * Threads: libmicrohttpd's pool, the record writer, the delay timer and
 * the delivery reports' sender.
 * The log module is used from all of them: once log_init() has run, a log
 * call only reads its settings and makes one write(2), which is safe.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "common/clock.h"
#include "common/log.h"
#include "fake/fake_apis.h"
#include "fake/fake_callbacks.h"
#include "fake/fake_faults.h"
#include "fake/fake_opts.h"
#include "fake/fake_record.h"
#include "fake/fake_server.h"

#define ROLE "smsq-fakeprovider"

static volatile sig_atomic_t stop_requested; /* the signal number, 0: none */
static volatile sig_atomic_t stop_sender;    /* the pid that sent it */

static void on_stop_signal(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	stop_sender = info != NULL ? (sig_atomic_t)info->si_pid : 0;
	stop_requested = sig;
}

/* Block SIGTERM/SIGINT in every thread (they inherit the mask) and let the
 * main thread wait for them with sigsuspend().  *waitmask gets the mask to
 * wait with. */
static void setup_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_stop_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

/* Many keep-alive connections need many descriptors: raise the soft limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open file limit");
	}
}

int main(int argc, char **argv)
{
	struct fake_opts o;
	char err[512];
	sigset_t waitmask;
	int rc = 1;
	fake_record *record = NULL;
	fake_faults *faults = NULL;
	fake_apis *apis = NULL;
	fake_callbacks *callbacks = NULL;
	fake_server *server = NULL;

	log_init(ROLE, LOG_LEVEL_INFO);
	switch (fake_opts_parse(argc, argv, &o, err, sizeof(err))) {
	case FAKE_OPTS_HELP:
		fake_opts_usage(stdout);
		return 0;
	case FAKE_OPTS_ERROR:
		fprintf(stderr, ROLE ": %s (see --help)\n", err);
		return 2;
	case FAKE_OPTS_OK:
		break;
	}
	log_init(ROLE, o.log_level);
	json_object_seed(0);   /* before any thread builds a JSON object */
	raise_fd_limit();
	setup_signals(&waitmask);

	struct fake_record_opts ro = {
		.path = o.record_path, .rate_limit = o.rate_limit, .burst = o.burst,
		.bucket = o.bucket,
		.count_segments = o.count_segments,
	};
	record = fake_record_new(&ro, err, sizeof(err));
	if (record == NULL) {
		log_error("%s", err);
		goto out;
	}
	faults = fake_faults_new(&o.faults, clock_mono_ms());
	struct fake_apis_opts ao = {
		.infobip_keys = o.infobip_keys, .webhook_tokens = o.webhook_tokens,
		.sinch_tokens = o.sinch_tokens, .vonage_secrets = o.vonage_secrets,
		.seed = o.faults.seed,
	};
	apis = fake_apis_new(&ao);
	o.receipts.record = record;
	callbacks = fake_callbacks_new(&o.receipts, err, sizeof(err));
	if (callbacks == NULL) {
		log_error("%s", err);
		goto out;
	}
	struct fake_server_opts so = {
		.addr = o.addr, .addr_len = o.addr_len, .threads = o.threads,
		.api_mask = o.api_mask, .max_body_bytes = o.max_body_bytes,
		.retry_after_s = o.retry_after_s, .hang_max_ms = o.hang_max_ms,
		.apis = apis, .faults = faults, .record = record, .callbacks = callbacks,
	};
	server = fake_server_start(&so, err, sizeof(err));
	if (server == NULL) {
		log_error("%s", err);
		goto out;
	}
	printf("listening %s:%u\n", o.host, (unsigned)fake_server_port(server));
	fflush(stdout);
	log_info("listening on %s:%u: threads=%u rate_limit=%u burst=%u seed=%llu",
		 o.host, (unsigned)fake_server_port(server), o.threads, o.rate_limit, o.burst,
		 (unsigned long long)o.faults.seed);

	while (!stop_requested)
		sigsuspend(&waitmask);
	log_info("stopping: %s from pid %ld", strsignal(stop_requested), (long)stop_sender);
	rc = 0;
out:
	fake_server_stop(&server);
	fake_callbacks_destroy(&callbacks);
	fake_apis_destroy(&apis);
	fake_faults_destroy(&faults);
	fake_record_destroy(&record);
	return rc;
}
