/*
 * receive: the pool's child that takes delivery reports from providers.
 *
 * Providers call back <receipts.url>/receipts/<provider>/<token> (each
 * request built by dispatch asks for it: provider.h, "delivery reports").
 * The endpoint checks the provider's name and the token, hands the request
 * to that provider's adapter (receipts(): its shape, its signature), and
 * records the final reports in the store (store_receipts()) before it
 * answers 200: a report answered 200 is on disk.  The answers:
 *
 *   200  taken (recorded, or nothing to record: an interim status, a repeat,
 *        an older report, an unknown message)
 *   400  not a report of this provider's API; 413 larger than max_bytes
 *   403  a signature or an account that is not ours (Twilio, Vonage, webhook)
 *   404  no such provider, or not the token
 *   405  a method other than POST or GET
 *   503  not recorded (the store failed, or the endpoint is stopping): the
 *        provider sends it again
 *
 * Sent messages that have had no report for expect_s are counted (the
 * store's final messages walked a slice at a time, between commits), the
 * count published in the counters file (receipts_unreported).
 *
 * Reports of many requests go to the store in one transaction (a group
 * commit): a request waits, suspended, while the reports before it are
 * written, so one commit and one sync serve every request that came
 * meanwhile.
 */
#ifndef SMSQ_RECEIVE_H
#define SMSQ_RECEIVE_H

#include <stddef.h>

#include "common/attrs.h"
#include "common/log.h"
#include "provider/provider.h"
#include "store/counters.h"

struct receive_opts {
	const char *dir;                        /* the pool's data directory */
	const unsigned char *seal_key;          /* its key (store_opts.seal_key), or NULL */
	const char *listen;                     /* receipts.listen, "HOST:PORT" */
	const char *token;                      /* receipts.token (never logged) */
	const struct provider_conf *providers;  /* the configured providers */
	int n_providers;
	size_t max_bytes;                       /* receipts.max_bytes */
	long expect_s;                          /* receipts.expect_s: sent messages with no
						   report after this long are counted */
	struct counters_data *counters;         /* this process's shard, or NULL */
	struct counters_data *gauges;           /* where its gauges go (counters_gauges()) */
	enum log_level log_level;               /* its log lines' */
	enum log_format log_format;
};

/* Run until SIGTERM or SIGINT: reports queued then are recorded and
 * answered before it returns.  Returns the process exit code (1: it could
 * not listen or open the store). */
int receive_run(const struct receive_opts *o) SMSQ_WARN_UNUSED;

#endif
