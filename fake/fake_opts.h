/*
 * fake_opts: the command line of smsq-fakeprovider, from one table (name,
 * argument, default, range, help) that drives both the parser and --help.
 * Every value is checked here, before anything starts; an error names the
 * option and the allowed values.
 */
#ifndef SMSQ_FAKE_OPTS_H
#define SMSQ_FAKE_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common/log.h"
#include "fake/fake_apis.h"
#include "fake/fake_callbacks.h"
#include "fake/fake_faults.h"
#include "common/attrs.h"

#define FAKE_OPTS_HOST_MAX 64

struct fake_opts {
	char host[FAKE_OPTS_HOST_MAX];  /* the listen host as printed ("127.0.0.1", "[::1]") */
	struct sockaddr_storage addr;   /* --listen, a loopback address */
	socklen_t addr_len;             /* its length */
	unsigned api_mask;              /* --api: bit (1 << enum fake_api) per API */
	const char *record_path;        /* --record, NULL: none (borrowed from argv) */
	unsigned rate_limit;            /* --rate-limit, 0: unlimited */
	unsigned burst;                 /* --burst */
	int bucket;                     /* --limit-kind bucket */
	int count_segments;             /* --count segments */
	int retry_after_s;              /* --retry-after */
	struct fake_faults_opts faults; /* --error-rate ... --seed */
	unsigned threads;               /* --threads */
	size_t max_body_bytes;          /* --max-body-bytes */
	int64_t hang_max_ms;            /* --hang-max-s, in ms */
	struct fake_keys infobip_keys;  /* --infobip-key (repeatable), none: any key */
	struct fake_keys webhook_tokens; /* --webhook-token (repeatable), none: no auth */
	struct fake_keys sinch_tokens;  /* --sinch-token (repeatable), none: any token */
	struct fake_keys vonage_secrets; /* --vonage-secret (repeatable), none: any secret */
	struct fake_callbacks_opts receipts; /* --receipt-* (and --seed); its record is
						set by the caller */
	enum log_level log_level;       /* --log-level */
};

enum fake_opts_rc {
	FAKE_OPTS_OK = 0,     /* run with *out */
	FAKE_OPTS_HELP = 1,   /* --help: print fake_opts_usage() and exit 0 */
	FAKE_OPTS_ERROR = 2,  /* bad command line: err says why; exit 2 */
};

/* Parse argv into *out (defaults first).  Strings in *out borrow argv. */
enum fake_opts_rc fake_opts_parse(int argc, char **argv, struct fake_opts *out,
				  char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Print the usage, generated from the option table, to f. */
void fake_opts_usage(FILE *f);

#endif
