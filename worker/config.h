/*
 * config: smsq-worker's settings, from built-in defaults, then the config
 * file, then command-line overrides, validated as a whole before anything
 * starts.
 *
 * Every option is one row of a table (config.c: name, type, default, min,
 * max, where it lands, help); `smsq-worker --help-config` prints it, and the
 * sample file etc/smsq.conf explains each one.  An unknown option, a value of
 * the wrong type or out of range is an error naming the option, its line and
 * the allowed range.
 */
#ifndef SMSQ_CONFIG_H
#define SMSQ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "common/attrs.h"
#include "common/keyfile.h"
#include "common/seal.h"
#include "provider/provider.h"

#define CONFIG_STR_MAX 512
#define CONFIG_MAX_PROVIDERS 4

/* One [provider.NAME] section.  The first provider in the file is the
 * primary; the next ones take over, in order, while it is failing. */
struct config_provider {
	struct provider_conf conf;       /* name (from the section), type, url, credentials */
	char type[16];                   /* type: twilio | infobip | webhook | sinch | vonage */
	char count[16];                  /* count: segments | messages | auto (the API's) */
	long rate_per_s;                 /* rate_per_s: the provider's limit (units/s) */
	long burst;                      /* burst: extra units at once (-1: rate/20) */
	long requests_per_s;             /* requests_per_s: 0 = no request limit */
	long concurrency;                /* concurrency: requests in flight per worker */
	long max_batch;                  /* max_batch: messages per request (0: the API's max) */
	long timeout_ms;                 /* timeout_ms: whole request */
	long connect_timeout_ms;         /* connect_timeout_ms */
	long tls_verify;                 /* tls_verify: 1 verify (default), 0 not */
	char ca_file[CONFIG_STR_MAX];    /* ca_file: CA bundle ("" system) */
	long circuit_failures;           /* circuit_failures: failures that open the circuit */
	long circuit_open_ms;            /* circuit_open_ms: first open period */
};

struct config {
	char store_dir[CONFIG_STR_MAX];       /* store.dir: data directory */
	long store_map_size_mb;               /* store.map_size_mb: initial map */
	long store_map_max_mb;                /* store.map_max_mb: growth ceiling */
	long store_retention_s;               /* store.retention_s: final messages kept */
	long store_keys_s;                    /* store.keys_s: their keys kept (0: as long) */
	long store_personal_data_s;           /* store.personal_data_s: their personal
						 fields kept */
	char store_encrypt_key_file[CONFIG_STR_MAX]; /* store.encrypt_key_file ("" none) */
	unsigned char store_key[SEAL_KEY_BYTES]; /* read from it by config_load_store_key()
						    (never logged) */
	int store_key_set;                    /* 1: store_key holds a key */
	char ingest_endpoint[CONFIG_STR_MAX]; /* ingest.endpoint: producers connect here */
	char ingest_curve_secret_file[CONFIG_STR_MAX]; /* ingest.curve_secret_file: the pool's
						  CURVE key pair ("" no CURVE) */
	char ingest_curve_producers[CONFIG_STR_MAX]; /* ingest.curve_producers: allow-list dir */
	long ingest_allow_anyone;             /* ingest.allow_anyone: 1 = no CURVE beyond
						 loopback, on purpose */
	char ingest_curve_secret[KEYFILE_Z85]; /* read from curve_secret_file by config_build()
						 ("" no CURVE; never logged) */
	char ingest_curve_public[KEYFILE_Z85]; /* its public key */
	char pool_user[CONFIG_STR_MAX];       /* pool.user: who the pool runs as ("" none) */
	long ingest_max_event_bytes;          /* ingest.max_event_bytes: event frame limit */
	long ingest_max_text_bytes;           /* ingest.max_text_bytes: ready text limit */
	long ingest_max_segments;             /* ingest.max_segments: SMS parts limit */
	long ingest_smart_encoding;           /* ingest.smart_encoding: 0 off, 1 on */
	char templates_dir[CONFIG_STR_MAX];   /* ingest.templates_dir: <locale>.tmpl files */
	char default_locale[CONFIG_STR_MAX]; /* ingest.default_locale: fallback templates */
	char allowed_countries[CONFIG_STR_MAX]; /* ingest.allowed_countries: "" = all */
	char default_region[CONFIG_STR_MAX]; /* ingest.default_region: for national numbers */
	long ingest_batch_max;                /* ingest.batch_max: events per group commit */
	long ingest_hwm;                      /* ingest.hwm: ZeroMQ high-water mark of the acks */
	long ingest_workers;                  /* ingest.workers: workers taking events, 0 all */
	char ingest_cancel_notice[CONFIG_STR_MAX]; /* ingest.cancel_notice: if_told|always */
	long pool_workers;                    /* pool.workers: processes (0: cores) */
	long pool_restart_delay_ms;           /* pool.restart_delay_ms: between restarts */
	long pool_shutdown_timeout_ms;        /* pool.shutdown_timeout_ms: then SIGKILL */
	char log_level[16];                   /* log.level: error|warn|info|debug */
	char log_format[16];                  /* log.format: text|json */
	char metrics_listen[CONFIG_STR_MAX];  /* metrics.listen: the monitor's address ("" off) */
	char outcomes_url[CONFIG_STR_MAX];    /* outcomes.url: the backend's ("" off) */
	char outcomes_secret[CONFIG_STR_MAX]; /* outcomes.secret: signs each POST */
	long outcomes_max;                    /* outcomes.max: the outbox's bound */
	long outcomes_batch;                  /* outcomes.batch: outcomes per POST */
	long outcomes_timeout_ms;             /* outcomes.timeout_ms: a POST's budget */
	char receipts_listen[CONFIG_STR_MAX]; /* receipts.listen: the receipt endpoint ("" off) */
	char receipts_url[CONFIG_STR_MAX];    /* receipts.url: its public base URL */
	char receipts_token[CONFIG_STR_MAX];  /* receipts.token: the secret in its paths */
	long receipts_max_bytes;              /* receipts.max_bytes: a callback's largest body */
	long receipts_expect_s;               /* receipts.expect_s: "no report" after this */
	long dispatch_lease_ms;               /* dispatch.lease_ms: visibility timeout */
	long dispatch_queue_max;              /* dispatch.queue_max: leased, not yet sent */
	long dispatch_flush_ms;               /* dispatch.flush_ms: outcome group commit */
	long retry_base_ms;                   /* retry.base_ms: first backoff */
	long retry_cap_ms;                    /* retry.cap_ms: longest backoff */
	long retry_max_attempts;              /* retry.max_attempts: 0 = until expiry */
	long velocity_number_per_hour;        /* velocity.number_per_hour: 0 = off */
	long velocity_number_per_day;         /* velocity.number_per_day: 0 = off */
	long velocity_range_digits;           /* velocity.range_digits: a range = the number
						 less these last digits */
	long velocity_range_per_minute;       /* velocity.range_per_minute: 0 = off */
	long velocity_range_per_hour;         /* velocity.range_per_hour: 0 = off */
	long velocity_country_per_minute;     /* velocity.country_per_minute: 0 = off */
	long velocity_slots;                  /* velocity.slots: the shared table's keys */
	char velocity_over_limit[CONFIG_STR_MAX]; /* velocity.over_limit: refuse|hold */
	char pace_shared[CONFIG_STR_MAX];     /* pace.shared: the Redis server, or "" */
	char pace_shared_password[CONFIG_STR_MAX]; /* pace.shared_password: AUTH, or "" */
	long pace_shared_fallback_percent;    /* pace.shared_fallback_percent: 1..100 */
	long pace_shared_timeout_ms;          /* pace.shared_timeout_ms */
	struct config_provider providers[CONFIG_MAX_PROVIDERS]; /* in failover order */
	int n_providers;                      /* sections seen */
};

struct prepare_opts;

/*
 * The text pipeline's settings (text/prepare.h) from cfg: its ingest.*
 * options and the text limits of each [provider.NAME] section's API; o
 * borrows strings from cfg.  Returns 0, or -1 with err set when a
 * provider's type is unknown.
 */
int config_text_opts(const struct config *cfg, struct prepare_opts *o, char *err,
		     size_t errlen) SMSQ_WARN_UNUSED;

struct velocity_limits;

/* The velocity limits (store/velocity.h) of cfg's velocity.* options. */
void config_velocity_limits(const struct config *cfg, struct velocity_limits *l);

/* Fill cfg with the defaults. */
void config_defaults(struct config *cfg);

/*
 * Set one option by its full name ("ingest.batch_max") from text.
 * Returns 0, or -1 with a message in err naming the option and the rule.
 */
int config_set(struct config *cfg, const char *name, const char *value, char *err,
	       size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Set one option from "NAME=VALUE" (the -o of smsq-worker and smsqctl).
 * Returns 0, or -1 with err saying what is wrong.
 */
int config_set_arg(struct config *cfg, const char *name_value, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/*
 * Read a config file: "[section]" lines, "name = value" lines (indentation
 * is ignored), comments on lines starting with ';' or '#' and after " ;" at
 * the end of a line.  A line may hold 198 characters.
 * Returns 0, or -1 with err naming the file, the line and the problem.
 */
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/* Set each provider's receipt_url from the receipts.* options (none when
 * receipts.listen is empty); after config_check() accepted them.
 * config_build() does it. */
void config_receipt_urls(struct config *cfg);

/*
 * Check the allow-list of ingest.curve_producers (auth_list_load(): every
 * file a public key).  config_build() does it, at start and at each
 * reload.  Returns 0, or -1 with err naming the file.
 */
int config_check_producers(const struct config *cfg, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Read the pool's CURVE key pair of ingest.curve_secret_file into
 * cfg->ingest_curve_secret and _public (keyfile_read_secret(): refused
 * when others may read it; the public key derived and checked against the
 * one the file states).  smsq-worker does it once, at start, before it
 * leaves root (privilege.h): the pair stays in force across reloads.
 * Returns 0, or -1 with err naming the file.
 */
int config_load_curve_key(struct config *cfg, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Read the store's key of store.encrypt_key_file into cfg->store_key
 * (seal_key_read(): refused when others may read it), store_key_set 1;
 * none (0) when the option is empty.  smsq-worker does it once, at start,
 * before it leaves root; the key stays in force across reloads.  Returns
 * 0, or -1 with err naming the file.
 */
int config_load_store_key(struct config *cfg, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* The key for store_opts.seal_key: cfg->store_key, or NULL without one. */
#define CONFIG_STORE_KEY(cfg) ((cfg)->store_key_set ? (cfg)->store_key : NULL)

/*
 * Log a warning for each setting that lets secrets or patients' data cross
 * the network in clear, or lets anyone publish: an http:// provider URL,
 * tls_verify = 0, a receipt or outcome URL without TLS, allow_anyone on an
 * endpoint beyond loopback.  Allowed, never silent: the pool calls it at
 * every start and reload.  Returns how many it logged.
 */
int config_warn_insecure(const struct config *cfg);

/* 1 if a ZeroMQ endpoint only this machine can reach: ipc://, inproc://,
 * or tcp:// bound to a loopback address (127.0.0.0/8, ::1, localhost). */
int config_endpoint_local(const char *endpoint);

/* Cross-option checks after everything is set (log level name, paths).
 * Returns 0 or -1 with err. */
int config_check(const struct config *cfg, char *err, size_t errlen)
	SMSQ_WARN_UNUSED;

/*
 * Where a configuration comes from, so that it can be read again the same
 * way (smsq-worker reads it at start and again at each SIGHUP): the files
 * (-c) in order, then the settings (-o NAME=VALUE, and the flags -d, -e,
 * -w, -l as the options they set) in order.  The strings are borrowed (from
 * argv: they outlive the process's use of the source); the arrays are the
 * source's own, freed by config_source_free().
 */
struct config_arg {
	const char *name;                /* option name, or NULL: value is "NAME=VALUE" */
	const char *value;               /* its value as given */
};

struct config_source {
	const char **files;              /* config files, read in this order */
	size_t n_files;                  /* how many */
	struct config_arg *args;         /* settings, applied in this order after the files */
	size_t n_args;                   /* how many */
};

/* Add a file, or a setting (name NULL: value is "NAME=VALUE"), to src. */
void config_source_add_file(struct config_source *src, const char *path);
void config_source_add_arg(struct config_source *src, const char *name, const char *value);

/* Free src's arrays (not the strings); src is then empty.  NULL-safe. */
void config_source_free(struct config_source *src);

/*
 * The configuration src makes: the defaults, then each file, then each
 * setting, then config_check().  The same call serves a start and a
 * reload, so both see the same configuration from the same files and
 * flags.  Returns 0, or -1 with err naming the file, line, option or check
 * that failed (cfg is then partly set: do not use it).
 */
int config_build(struct config *cfg, const struct config_source *src, char *err,
		 size_t errlen) SMSQ_WARN_UNUSED;

/*
 * What a reload compares.  config_diff() calls fn once per difference
 * between cur (in force) and next, in table order:
 *   - an option whose value differs: name "ingest.max_segments" or
 *     "provider.NAME.rate_per_s", was and now its two values as text
 *     (NULL for a token, never shown), restart 1 when only a restart of the
 *     pool applies it (config_restart_only());
 *   - the providers, when their names or failover order differ: name
 *     "providers", was and now the names in order, comma-separated ("" for
 *     none); the options of a provider added or removed are not listed.
 * fn may be NULL: then the differences are only counted.  Returns their
 * number.
 */
typedef void config_change_fn(void *user, const char *name, const char *was, const char *now,
			      int restart);

int config_diff(const struct config *cur, const struct config *next, config_change_fn *fn,
		void *user);

/*
 * Whether option name ("store.dir") only takes effect when the pool
 * starts: the data directory and the store's map, the ingest endpoint and
 * the processes that bind it (ingest.endpoint, ingest.hwm,
 * ingest.batch_max, ingest.workers, which the broker uses), pool.workers
 * and metrics.listen (the monitor's socket).  Every other option,
 * [provider.NAME] ones included, is applied by a reload.
 */
int config_restart_only(const char *name);

/* Copy into next the values cur has for every restart-only option: what a
 * reload keeps until the pool restarts, and the CURVE key pair read at
 * start.  Returns how many options differed. */
int config_keep_restart_only(struct config *next, const struct config *cur);

/* Print the option table (name, type, default, range, help) to f. */
void config_print_table(FILE *f);

/* Print the effective configuration, one "name = value" per line. */
void config_print(const struct config *cfg, FILE *f);

#endif
