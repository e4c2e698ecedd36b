/*
 * config: one bounded table of options (Redis static_configs[], Postfix
 * CONFIG_TIME_TABLE).  Adding an option is adding a row and a field.
 */
#include "worker/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <zmq.h>

#include "common/log.h"
#include "common/addr.h"
#include "common/keyfile.h"
#include "common/secret.h"
#include "common/num.h"
#include "common/xalloc.h"
#include "store/pace_shared.h"
#include "store/velocity.h"
#include "text/prepare.h"
#include "worker/auth.h"

enum opt_type { OPT_LONG, OPT_STR };

struct opt {
	const char *name;      /* section.key */
	enum opt_type type;    /* how the text is read */
	const char *def;       /* default, as text */
	long min;              /* OPT_LONG: smallest allowed; OPT_STR: shortest */
	long max;              /* OPT_LONG: largest allowed */
	size_t offset;         /* where it lands in struct config */
	const char *help;      /* one line */
};

#define F(field) offsetof(struct config, field)
#define CONFIG_LINE_MAX 200 /* Debian's inih INI_MAX_LINE, newline and NUL included */

static const struct opt opts[] = {
	{ "store.dir", OPT_STR, "./var", 1, 0, F(store_dir),
	  "data directory of the store (created 0700 if missing; refused when others may write it)" },
	{ "store.map_size_mb", OPT_LONG, "256", 1, 1L << 22, F(store_map_size_mb),
	  "initial LMDB map size; the map doubles when full" },
	{ "store.map_max_mb", OPT_LONG, "65536", 1, 1L << 24, F(store_map_max_mb),
	  "map size ceiling; ingest stops 1/8 below it (RETRY_LATER store_full), sending uses the rest" },
	{ "store.retention_s", OPT_LONG, "604800", 1, 315360000L, F(store_retention_s),
	  "a final message (sent, failed, expired, superseded, cancelled) is purged this many "
	  "seconds after it became final (default 7 days)" },
	{ "store.keys_s", OPT_LONG, "0", 0, 315360000L, F(store_keys_s),
	  "its idempotency key is kept this many seconds after it became final (a resend is a "
	  "duplicate until then); 0 or less than store.retention_s = as long as the message" },
	/* personal data */
	{ "store.personal_data_s", OPT_LONG, "172800", 1, 315360000L, F(store_personal_data_s),
	  "the number, names, place and text of a final message are erased this many seconds "
	  "after it became final (default 2 days; at most store.retention_s)" },
	{ "store.encrypt_key_file", OPT_STR, "", 0, 0, F(store_encrypt_key_file),
	  "key file (64 hex digits, mode 600; smsqctl keygen --store FILE): numbers, names, "
	  "places and texts are encrypted at rest with it; a store written with a key is read "
	  "with it only; empty = no encryption at rest" },
	{ "ingest.endpoint", OPT_STR, "tcp://127.0.0.1:5555", 1, 0, F(ingest_endpoint),
	  "ZeroMQ endpoint the pool binds for producers" },
	{ "ingest.curve_secret_file", OPT_STR, "", 0, 0, F(ingest_curve_secret_file),
	  "the pool's CURVE key pair (smsqctl keygen): producers must prove their key "
	  "(encrypted, authenticated); empty = no CURVE" },
	{ "ingest.curve_producers", OPT_STR, "", 0, 0, F(ingest_curve_producers),
	  "directory of the producers' public key files allowed to publish (read again by a "
	  "reload); required with ingest.curve_secret_file" },
	{ "ingest.allow_anyone", OPT_LONG, "0", 0, 1, F(ingest_allow_anyone),
	  "1: an ingest endpoint beyond loopback or ipc:// may run without CURVE (anyone who "
	  "reaches it publishes)" },
	{ "ingest.max_event_bytes", OPT_LONG, "16384", 256, 1 << 20, F(ingest_max_event_bytes),
	  "largest event frame accepted; larger ones are rejected (oversize)" },
	{ "ingest.max_text_bytes", OPT_LONG, "1600", 70, 4096, F(ingest_max_text_bytes),
	  "longest ready text, in bytes (text_too_long)" },
	{ "ingest.max_segments", OPT_LONG, "10", 1, 255, F(ingest_max_segments),
	  "texts that cost more SMS parts are rejected (text_too_long)" },
	{ "ingest.smart_encoding", OPT_LONG, "1", 0, 1, F(ingest_smart_encoding),
	  "1: a UCS-2 text that fits GSM-7 once typography and accents are replaced is sent so" },
	{ "ingest.templates_dir", OPT_STR, SMSQ_TEMPLATES_DIR, 1, 0, F(templates_dir),
	  "directory of the text templates, one <locale>.tmpl file per language" },
	{ "ingest.default_locale", OPT_STR, "en", 1, 0, F(default_locale),
	  "locale whose templates serve events of a locale with no templates" },
	{ "ingest.allowed_countries", OPT_STR, "", 0, 0, F(allowed_countries),
	  "destination countries allowed (ISO codes, e.g. FR,DE,IT); empty = all" },
	{ "ingest.default_region", OPT_STR, "", 0, 0, F(default_region),
	  "country of national numbers (06 12 ...) when the locale has none, e.g. FR" },
	{ "ingest.batch_max", OPT_LONG, "2048", 1, 4096, F(ingest_batch_max),
	  "most events in one group commit (one sync); ~1 KiB of memory each, more with long texts" },
	{ "ingest.hwm", OPT_LONG, "50000", 100, 10000000, F(ingest_hwm),
	  "ZeroMQ high-water mark of the acks on their way back, in messages (requests: at "
	  "most 128 read ahead per producer connection, batch_max queued per worker, neither above "
	  "it)" },
	{ "ingest.workers", OPT_LONG, "1", 0, 256, F(ingest_workers),
	  "how many of the workers take events (the others only send); 0 = all" },
	{ "ingest.cancel_notice", OPT_STR, "if_told", 1, 0, F(ingest_cancel_notice),
	  "if_told: a cancellation is not sent when every earlier message of its booking was "
	  "withdrawn unsent (the patient heard nothing); always: it is sent" },
	{ "pool.user", OPT_STR, "", 0, 0, F(pool_user),
	  "started as root, the pool becomes this user (the package's: smsq) once it has read "
	  "its secret files; \"root\" to stay root on purpose; empty: root is refused" },
	{ "pool.workers", OPT_LONG, "0", 0, 256, F(pool_workers),
	  "worker processes; 0 = one per core" },
	{ "pool.restart_delay_ms", OPT_LONG, "500", 0, 60000, F(pool_restart_delay_ms),
	  "wait before restarting a worker that died" },
	{ "pool.shutdown_timeout_ms", OPT_LONG, "20000", 100, 600000, F(pool_shutdown_timeout_ms),
	  "graceful stop budget; then the rest is killed" },
	{ "log.level", OPT_STR, "info", 1, 0, F(log_level), "error, warn, info or debug" },
	{ "log.format", OPT_STR, "text", 1, 0, F(log_format),
	  "text (a line per event) or json (an object per line; docs/OPERATIONS.md)" },
	{ "metrics.listen", OPT_STR, "127.0.0.1:9477", 0, 0, F(metrics_listen),
	  "address:port of /metrics and the status page (port 0: any free one, written to "
	  "<store.dir>/monitor.url); empty = off" },
	{ "outcomes.url", OPT_STR, "", 0, 0, F(outcomes_url),
	  "the booking backend's URL: what became of each event is POSTed there (proto/"
	  "OUTCOMES.md); empty = off" },
	{ "outcomes.secret", OPT_STR, "", 0, 0, F(outcomes_secret),
	  "the secret each POST is signed with (HMAC-SHA256), 16 to 256 bytes (never logged); "
	  "or outcomes.secret_file = PATH" },
	{ "outcomes.max", OPT_LONG, "1000000", 1, 1000000000L, F(outcomes_max),
	  "outcomes kept while the backend does not take them; then the oldest is dropped" },
	{ "outcomes.batch", OPT_LONG, "500", 1, 5000, F(outcomes_batch),
	  "outcomes per POST" },
	{ "outcomes.timeout_ms", OPT_LONG, "10000", 100, 600000, F(outcomes_timeout_ms),
	  "a POST without a whole answer this long has failed (sent again later)" },
	{ "receipts.listen", OPT_STR, "", 0, 0, F(receipts_listen),
	  "address:port where providers call back with delivery reports (behind the "
	  "operator's TLS proxy); empty = no reports asked for" },
	{ "receipts.url", OPT_STR, "", 0, 0, F(receipts_url),
	  "the public URL that reaches receipts.listen, as providers call it (e.g. "
	  "https://smsq.example.com); empty = http://<receipts.listen>" },
	{ "receipts.token", OPT_STR, "", 0, 0, F(receipts_token),
	  "the secret in the callback paths (/receipts/<provider>/<token>), 16 to 128 of "
	  "A-Z a-z 0-9 - _ (never logged); or receipts.token_file = PATH" },
	{ "receipts.max_bytes", OPT_LONG, "1048576", 1024, 67108864, F(receipts_max_bytes),
	  "a callback's largest body; a larger one is refused (413)" },
	{ "receipts.expect_s", OPT_LONG, "3600", 1, 2592000, F(receipts_expect_s),
	  "a message sent this long ago with no delivery report is counted as having none "
	  "(stats, metrics)" },
	{ "pace.shared", OPT_STR, "", 0, 0, F(pace_shared),
	  "a Redis server (redis://HOST[:PORT] or unix:/PATH) that holds each provider account's "
	  "pace for every node sending through it (under its section's name); empty = this pool "
	  "alone" },
	{ "pace.shared_password", OPT_STR, "", 0, 0, F(pace_shared_password),
	  "the Redis server's password (AUTH; never logged); or pace.shared_password_file = PATH" },
	{ "pace.shared_fallback_percent", OPT_LONG, "50", 1, 100, F(pace_shared_fallback_percent),
	  "while the Redis server does not answer, each provider is paced at this percent of its "
	  "limit here (this node's share: the nodes of one account should not add up to more than "
	  "100)" },
	{ "pace.shared_timeout_ms", OPT_LONG, "50", 5, 5000, F(pace_shared_timeout_ms),
	  "how long a round trip to the Redis server may take before it counts as down" },
	{ "dispatch.lease_ms", OPT_LONG, "30000", 1000, 3600000, F(dispatch_lease_ms),
	  "a leased message is invisible to other workers this long (renewed while sending)" },
	{ "dispatch.queue_max", OPT_LONG, "2048", 1, 4096, F(dispatch_queue_max),
	  "messages a worker leases ahead of sending" },
	{ "dispatch.flush_ms", OPT_LONG, "10", 0, 1000, F(dispatch_flush_ms),
	  "outcomes are committed in groups at least this often" },
	{ "retry.base_ms", OPT_LONG, "1000", 10, 3600000, F(retry_base_ms),
	  "first retry delay; doubles per attempt, with full jitter" },
	{ "retry.cap_ms", OPT_LONG, "60000", 10, 86400000, F(retry_cap_ms),
	  "longest retry delay" },
	{ "retry.max_attempts", OPT_LONG, "50", 0, 65535, F(retry_max_attempts),
	  "attempts before a message fails for good; 0 = until it expires" },
	{ "velocity.number_per_hour", OPT_LONG, "10", 0, VELOCITY_COUNT_MAX - 1,
	  F(velocity_number_per_hour),
	  "messages to one number in any hour, taken at ingest and sent at dispatch; more are "
	  "refused (velocity_number); 0 = no limit" },
	{ "velocity.number_per_day", OPT_LONG, "30", 0, VELOCITY_COUNT_MAX - 1,
	  F(velocity_number_per_day),
	  "messages to one number in any 24 hours, likewise; 0 = no limit" },
	{ "velocity.range_digits", OPT_LONG, "4", 1, VELOCITY_RANGE_DIGITS_MAX,
	  F(velocity_range_digits),
	  "a number's range is its E.164 number less this many last digits (4: 10,000 numbers)" },
	{ "velocity.range_per_minute", OPT_LONG, "60", 0, VELOCITY_COUNT_MAX - 1,
	  F(velocity_range_per_minute),
	  "messages to one range in any minute; more are refused (velocity_range); 0 = no limit" },
	{ "velocity.range_per_hour", OPT_LONG, "600", 0, VELOCITY_COUNT_MAX - 1,
	  F(velocity_range_per_hour),
	  "messages to one range in any hour, likewise; 0 = no limit" },
	{ "velocity.country_per_minute", OPT_LONG, "0", 0, VELOCITY_COUNT_MAX - 1,
	  F(velocity_country_per_minute),
	  "messages to one country in any minute; more are refused (velocity_country); 0 = no "
	  "limit (a backend replaying its outbox legitimately sends one country all it has)" },
	{ "velocity.over_limit", OPT_STR, "refuse", 1, 0, F(velocity_over_limit),
	  "refuse: an event over a limit is REJECTED, nothing stored; hold: it is stored held "
	  "(ACCEPTED, its reason the limit's), never sent until an operator requeues it "
	  "(smsqctl requeue --state held) or cancels it, expired at its expiry" },
	{ "velocity.slots", OPT_LONG, "2097152", VELOCITY_SLOTS_MIN, VELOCITY_SLOTS_MAX,
	  F(velocity_slots),
	  "numbers, ranges and countries the shared counts hold (a power of two, 64 bytes of "
	  "shared memory each, saved in <store.dir>/velocity): the numbers of two days" },
};

#define P(field) offsetof(struct config_provider, field)
#define PC(field) (offsetof(struct config_provider, conf) + offsetof(struct provider_conf, field))

/* Options of a [provider.NAME] section (names are "provider.NAME.<key>"). */
static const struct opt provider_opts[] = {
	{ "type", OPT_STR, "", 0, 0, P(type), "twilio, infobip, webhook, sinch or vonage" },
	{ "base_url", OPT_STR, "", 0, 0, PC(base_url), "API base URL (http:// or https://)" },
	{ "account", OPT_STR, "", 0, 0, PC(account),
	  "Twilio account SID, Sinch service plan id or Vonage API key" },
	{ "token", OPT_STR, "", 0, 0, PC(token),
	  "Twilio auth token, Infobip API key, webhook bearer token, Sinch API token or "
	  "Vonage API secret (never logged); or token_file = PATH (mode 600)" },
	{ "sender", OPT_STR, "", 0, 0, PC(sender), "sender number or name (From)" },
	{ "rate_per_s", OPT_LONG, "0", 0, 1000000, P(rate_per_s),
	  "the provider's limit, in units (count) per second, pool-wide (required)" },
	{ "burst", OPT_LONG, "-1", -1, 1000000, P(burst),
	  "extra units allowed at once; -1 = rate_per_s / 20" },
	{ "count", OPT_STR, "auto", 0, 0, P(count),
	  "segments, messages or auto: what the limit counts; auto = what the API counts "
	  "(messages for sinch and vonage, segments for the others)" },
	{ "requests_per_s", OPT_LONG, "0", 0, 1000000, P(requests_per_s),
	  "a second limit on requests per second; 0 = none" },
	{ "concurrency", OPT_LONG, "64", 1, 1024, P(concurrency),
	  "requests in flight per worker process" },
	{ "max_batch", OPT_LONG, "0", 0, 1000, P(max_batch),
	  "messages per request; 0 = the API's maximum" },
	{ "timeout_ms", OPT_LONG, "10000", 100, 600000, P(timeout_ms), "whole request timeout" },
	{ "connect_timeout_ms", OPT_LONG, "3000", 100, 600000, P(connect_timeout_ms),
	  "connect (TCP and TLS) timeout" },
	{ "tls_verify", OPT_LONG, "1", 0, 1, P(tls_verify), "1: verify the provider's certificate" },
	{ "ca_file", OPT_STR, "", 0, 0, P(ca_file), "CA bundle; empty = the system's" },
	{ "circuit_failures", OPT_LONG, "5", 1, 100000, P(circuit_failures),
	  "failed requests that open the circuit: nothing but failures for 1 s, or half of "
	  "its answers or more over 5 s" },
	{ "circuit_open_ms", OPT_LONG, "1000", 100, 3600000, P(circuit_open_ms),
	  "pause of an open circuit before each round of 3 single-message probes (doubling "
	  "after five rounds, up to 32 times)" },
};

#define N_PROVIDER_OPTS (sizeof(provider_opts) / sizeof(provider_opts[0]))

/* Options only a start applies (config_restart_only()): the store the
 * master locked and opened, the sockets and processes it set up (the
 * ingest endpoint, and what the broker was started with), the number of
 * workers, the monitor's socket.  An option not listed here is applied by
 * a reload, which restarts every worker with it. */
static const char *const restart_only[] = {
	"store.dir", "store.map_size_mb", "store.map_max_mb", "store.encrypt_key_file",
	"ingest.endpoint", "ingest.hwm",
	"ingest.curve_secret_file", "ingest.curve_producers", "ingest.allow_anyone", "pool.user",
	"ingest.batch_max", "ingest.workers", "pool.workers", "metrics.listen", "outcomes.url",
	"outcomes.secret", "outcomes.max", "outcomes.batch", "outcomes.timeout_ms",
	"receipts.listen", "receipts.url", "receipts.token", "receipts.max_bytes", "receipts.expect_s",
	"velocity.slots",
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *find_opt(const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

/* Capacity of the string field an option lands in. */
static size_t str_cap(const struct opt *o, int in_provider)
{
	if (!in_provider)
		return strcmp(o->name, "log.level") == 0    ? sizeof(((struct config *)0)->log_level)
		       : strcmp(o->name, "log.format") == 0 ? sizeof(((struct config *)0)->log_format)
							    : CONFIG_STR_MAX;
	if (o->offset == P(type) || o->offset == P(count))
		return sizeof(((struct config_provider *)0)->type);
	if (o->offset == PC(sender))
		return PROVIDER_SENDER_MAX;
	if (o->offset == PC(base_url))
		return PROVIDER_URL_MAX;
	if (o->offset == PC(account) || o->offset == PC(token))
		return PROVIDER_SECRET_MAX;
	return CONFIG_STR_MAX;
}

static int set_opt_at(void *base, const struct opt *o, const char *shown, int in_provider,
		      const char *value, char *err, size_t errlen)
{
	char *dst = (char *)base + o->offset;

	if (o->type == OPT_STR) {
		size_t n = strlen(value);
		size_t cap = str_cap(o, in_provider);

		size_t min_len = in_provider ? 0 : (size_t)o->min;

		if (n < min_len || n >= cap) {
			snprintf(err, errlen, "%s: must be %zu to %zu characters", shown, min_len,
				 cap - 1);
			return -1;
		}
		memcpy(dst, value, n + 1);
		return 0;
	}
	/* A '+' before the digits is taken, as it always was in this file. */
	const char *digits = value[0] == '+' && value[1] != '-' ? value + 1 : value;
	long v;
	if (num_parse_long(digits, LONG_MIN, LONG_MAX, &v) != 0) {
		snprintf(err, errlen, "%s: '%s' is not an integer", shown, value);
		return -1;
	}
	if (v < o->min || v > o->max) {
		snprintf(err, errlen, "%s: %ld is out of range [%ld, %ld]", shown, v, o->min,
			 o->max);
		return -1;
	}
	memcpy(dst, &v, sizeof(v));
	return 0;
}

static int set_opt(struct config *cfg, const struct opt *o, const char *value, char *err,
		   size_t errlen)
{
	return set_opt_at(cfg, o, o->name, 0, value, err, errlen);
}

/* "provider.NAME.key": find or add provider NAME and set its key. */
static int set_provider_opt(struct config *cfg, const char *name, const char *value, char *err,
			    size_t errlen)
{
	const char *pname = name + strlen("provider.");
	const char *dot = strrchr(pname, '.');
	struct config_provider *p = NULL;
	size_t plen;

	if (dot == NULL || dot == pname) {
		snprintf(err, errlen, "unknown option '%s' (providers are [provider.NAME] sections)",
			 name);
		return -1;
	}
	plen = (size_t)(dot - pname);
	if (plen >= PROVIDER_NAME_MAX) {
		snprintf(err, errlen, "provider name in '%s' is longer than %d characters", name,
			 PROVIDER_NAME_MAX - 1);
		return -1;
	}
	for (int i = 0; i < cfg->n_providers; i++)
		if (strlen(cfg->providers[i].conf.name) == plen &&
		    memcmp(cfg->providers[i].conf.name, pname, plen) == 0)
			p = &cfg->providers[i];
	if (p == NULL) {
		char e[64];

		if (cfg->n_providers == CONFIG_MAX_PROVIDERS) {
			snprintf(err, errlen, "%s: at most %d providers", name, CONFIG_MAX_PROVIDERS);
			return -1;
		}
		p = &cfg->providers[cfg->n_providers++];
		memset(p, 0, sizeof(*p));
		memcpy(p->conf.name, pname, plen);
		p->conf.name[plen] = '\0';
		for (size_t i = 0; i < N_PROVIDER_OPTS; i++)
			if (set_opt_at(p, &provider_opts[i], provider_opts[i].name, 1,
				       provider_opts[i].def, e, sizeof(e)) != 0)
				log_panic("config: default of provider %s is invalid: %s",
					  provider_opts[i].name, e);
	}
	for (size_t i = 0; i < N_PROVIDER_OPTS; i++)
		if (strcmp(provider_opts[i].name, dot + 1) == 0)
			return set_opt_at(p, &provider_opts[i], name, 1, value, err, errlen);
	snprintf(err, errlen, "unknown option '%s' (see smsq-worker --help-config)", name);
	return -1;
}

void config_velocity_limits(const struct config *cfg, struct velocity_limits *l)
{
	l->number_per_hour = (uint32_t)cfg->velocity_number_per_hour;
	l->number_per_day = (uint32_t)cfg->velocity_number_per_day;
	l->range_digits = (uint32_t)cfg->velocity_range_digits;
	l->range_per_minute = (uint32_t)cfg->velocity_range_per_minute;
	l->range_per_hour = (uint32_t)cfg->velocity_range_per_hour;
	l->country_per_minute = (uint32_t)cfg->velocity_country_per_minute;
}

void config_defaults(struct config *cfg)
{
	char err[64];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTS; i++)
		if (set_opt(cfg, &opts[i], opts[i].def, err, sizeof(err)) != 0)
			log_panic("config: default of %s is invalid: %s", opts[i].name, err);
}

/* Whether name (a full option name) holds a secret. */
static int secret_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (strncmp(name, "provider.", 9) == 0)
		return dot != NULL && strcmp(dot + 1, "token") == 0;
	return strcmp(name, "outcomes.secret") == 0 || strcmp(name, "receipts.token") == 0 ||
	       strcmp(name, "pace.shared_password") == 0;
}

/* NAME_file = PATH: the secret option NAME from the file at PATH
 * (secret_read(): the pool user's or root's, mode 600 or less), a leading
 * "$CREDENTIALS_DIRECTORY/" taken from the environment (systemd's
 * LoadCredential=).  Returns 0, or -1 with err; 1 when name is no such
 * option. */
static int set_from_file(struct config *cfg, const char *name, const char *path, char *err,
			 size_t errlen)
{
	static const char creds[] = "$CREDENTIALS_DIRECTORY/";
	size_t nl = strlen(name);
	char base[256], full[PATH_MAX], why[512];
	char *secret;
	int rc = -1;

	if (nl <= 5 || nl - 5 >= sizeof(base) || strcmp(name + nl - 5, "_file") != 0)
		return 1;
	memcpy(base, name, nl - 5);
	base[nl - 5] = '\0';
	if (!secret_name(base))
		return 1;
	if (strncmp(path, creds, sizeof(creds) - 1) == 0) {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");

		if (dir == NULL || dir[0] == '\0') {
			snprintf(err, errlen, "%s: CREDENTIALS_DIRECTORY is not set (systemd's "
				 "LoadCredential= sets it)", name);
			return -1;
		}
		if ((size_t)snprintf(full, sizeof(full), "%s/%s", dir,
				     path + sizeof(creds) - 1) >= sizeof(full)) {
			snprintf(err, errlen, "%s: path too long", name);
			return -1;
		}
		path = full;
	}
	secret = xmalloc(SECRET_MAX);
	if (secret_read(path, secret, SECRET_MAX, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", name, why);
		goto out;
	}
	rc = config_set(cfg, base, secret, why, sizeof(why));
	if (rc != 0) /* the message names the option, never the value */
		snprintf(err, errlen, "%s (read from %s)", why, path);
out:
	secret_wipe(secret, SECRET_MAX);
	free(secret);
	return rc;
}

int config_set(struct config *cfg, const char *name, const char *value, char *err,
	       size_t errlen)
{
	const struct opt *o = find_opt(name);
	int rc;

	if (o == NULL && (rc = set_from_file(cfg, name, value, err, errlen)) != 1)
		return rc;

	if (o == NULL && strncmp(name, "provider.", 9) == 0)
		return set_provider_opt(cfg, name, value, err, errlen);
	if (o == NULL) {
		snprintf(err, errlen, "unknown option '%s' (see smsq-worker --help-config)", name);
		return -1;
	}
	return set_opt(cfg, o, value, err, errlen);
}

int config_set_arg(struct config *cfg, const char *name_value, char *err, size_t errlen)
{
	const char *eq = strchr(name_value, '=');
	char name[128];

	if (eq == NULL || eq == name_value) {
		snprintf(err, errlen, "-o expects NAME=VALUE, got '%s'", name_value);
		return -1;
	}
	if ((size_t)(eq - name_value) >= sizeof(name)) {
		snprintf(err, errlen, "-o: no option has a name that long ('%.40s...')", name_value);
		return -1;
	}
	memcpy(name, name_value, (size_t)(eq - name_value));
	name[eq - name_value] = '\0';
	return config_set(cfg, name, eq + 1, err, errlen);
}

struct load_ctx {
	struct config *cfg;   /* being filled */
	char *err;            /* first error */
	size_t errlen;        /* its size */
	int failed;           /* an error was recorded */
};

/* Debian's libinih is built without INI_HANDLER_LINENO: returning 0 makes
 * ini_parse() report the line of the first error instead. */
static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	char full[256];

	if (ctx->failed)
		return 1;
	snprintf(full, sizeof(full), "%s.%s", section, name);
	if (config_set(ctx->cfg, full, value, ctx->err, ctx->errlen) != 0) {
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

/* Lines are read by us, not by inih: Debian's inih joins an indented line to
 * the previous value (multi-line values) and cuts lines at 200 bytes without
 * saying so.  This reader strips the indentation and stops on a line that is
 * too long, so that both become clear behaviour. */
struct line_reader {
	FILE *fp;       /* the file */
	int lineno;     /* lines read */
	int too_long;   /* stopped on a line over the limit */
};

static char *read_line(char *str, int num, void *stream)
{
	struct line_reader *r = stream;
	size_t n, lead;

	if (fgets(str, num, r->fp) == NULL)
		return NULL;
	r->lineno++;
	n = strlen(str);
	if (n + 1 == (size_t)num && str[n - 1] != '\n' && !feof(r->fp)) {
		r->too_long = 1;
		return NULL;
	}
	lead = strspn(str, " \t");
	if (lead > 0)
		memmove(str, str + lead, n - lead + 1);
	return str;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct load_ctx ctx = { cfg, err, errlen, 0 };
	struct line_reader lr = { NULL, 0, 0 };
	char msg[512] = "";
	int rc;

	ctx.err = msg;
	ctx.errlen = sizeof(msg);
	lr.fp = fopen(path, "r");
	if (lr.fp == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(read_line, &lr, ini_cb, &ctx);
	fclose(lr.fp);
	if (lr.too_long) {
		snprintf(err, errlen, "%s: line %d: longer than %d characters", path, lr.lineno,
			 CONFIG_LINE_MAX - 2);
		return -1;
	}
	if (rc != 0 && !ctx.failed) {
		snprintf(err, errlen, "%s: line %d: syntax error", path, rc);
		return -1;
	}
	if (ctx.failed) {
		snprintf(err, errlen, "%s: line %d: %s", path, rc, msg);
		return -1;
	}
	return 0;
}

/* Provider name's receipt URL from the receipts.* options into out (cap
 * bytes): "" when receipts.listen is empty, or when it does not fit (too
 * long: check_receipts() refuses it). */
static void receipt_url_of(const struct config *cfg, const char *name, char *out, size_t cap)
{
	char base[CONFIG_STR_MAX];
	size_t bl;

	out[0] = '\0';
	if (cfg->receipts_listen[0] == '\0')
		return;
	if (cfg->receipts_url[0] != '\0')
		snprintf(base, sizeof(base), "%.300s", cfg->receipts_url);
	else
		snprintf(base, sizeof(base), "http://%.300s", cfg->receipts_listen);
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		base[--bl] = '\0';
	if ((size_t)snprintf(out, cap, "%s/receipts/%s/%s", base, name, cfg->receipts_token) >= cap)
		out[0] = '\0';
}

void config_receipt_urls(struct config *cfg)
{
	for (int i = 0; i < cfg->n_providers; i++) {
		struct provider_conf *c = &cfg->providers[i].conf;
		char url[sizeof(c->receipt_url)];

		receipt_url_of(cfg, c->name, url, sizeof(url));
		memcpy(c->receipt_url, url, sizeof(url));
	}
}

int config_warn_insecure(const struct config *cfg)
{
	int n = 0;

	for (int i = 0; i < cfg->n_providers; i++) {
		const struct config_provider *p = &cfg->providers[i];

		if (strncmp(p->conf.base_url, "http://", 7) == 0) {
			log_warn("provider.%s: base_url is http://: its credentials and every "
				 "patient's number and text cross the network in clear",
				 p->conf.name);
			n++;
		}
		if (!p->tls_verify) {
			log_warn("provider.%s: tls_verify = 0: anyone on the path can pose as the "
				 "provider and take its credentials and the messages", p->conf.name);
			n++;
		}
	}
	if (cfg->receipts_listen[0] != '\0' && strncmp(cfg->receipts_url, "https://", 8) != 0) {
		log_warn("receipts.url is not https://: providers send the receipt token and the "
			 "reports in clear (put the endpoint behind a TLS proxy)");
		n++;
	}
	if (strncmp(cfg->outcomes_url, "http://", 7) == 0) {
		log_warn("outcomes.url is http://: the outcomes cross the network in clear");
		n++;
	}
	if (cfg->ingest_allow_anyone && cfg->ingest_curve_secret[0] == '\0' &&
	    !config_endpoint_local(cfg->ingest_endpoint)) {
		log_warn("ingest.allow_anyone = 1: anyone who reaches %s may publish SMS on your "
			 "provider accounts", cfg->ingest_endpoint);
		n++;
	}
	if (cfg->pace_shared[0] != '\0' && cfg->pace_shared_password[0] == '\0' &&
	    strncmp(cfg->pace_shared, "unix:", 5) != 0 &&
	    strncmp(cfg->pace_shared, "redis://127.", 12) != 0 &&
	    strncmp(cfg->pace_shared, "redis://localhost", 17) != 0 &&
	    strncmp(cfg->pace_shared, "redis://[::1]", 13) != 0) {
		log_warn("pace.shared: %s without a password (pace.shared_password): anyone who "
			 "reaches it can stop or speed up this pool's sending", cfg->pace_shared);
		n++;
	}
	return n;
}

static int check_provider(const struct config *cfg, const struct config_provider *p, char *err,
			  size_t errlen)
{
	const char *n = p->conf.name;
	enum provider_kind kind;

	if (p->type[0] == '\0' || provider_kind_parse(p->type, &kind) != 0) {
		snprintf(err, errlen, "provider.%s.type: '%s' is not one of " PROVIDER_TYPES,
			 n, p->type);
		return -1;
	}
	if (strncmp(p->conf.base_url, "http://", 7) != 0 &&
	    strncmp(p->conf.base_url, "https://", 8) != 0) {
		snprintf(err, errlen, "provider.%s.base_url: must start with https:// or http://", n);
		return -1;
	}
	if (p->rate_per_s <= 0) {
		snprintf(err, errlen, "provider.%s.rate_per_s: required: the provider's limit per second",
			 n);
		return -1;
	}
	if (strcmp(p->count, "segments") != 0 && strcmp(p->count, "messages") != 0 &&
	    strcmp(p->count, "auto") != 0) {
		snprintf(err, errlen, "provider.%s.count: '%s' is not segments, messages or auto", n,
			 p->count);
		return -1;
	}
	if (kind == PROVIDER_TWILIO && (p->conf.account[0] == '\0' || p->conf.token[0] == '\0')) {
		snprintf(err, errlen, "provider.%s: twilio needs account and token", n);
		return -1;
	}
	if (kind == PROVIDER_INFOBIP && p->conf.token[0] == '\0') {
		snprintf(err, errlen, "provider.%s: infobip needs token (the API key)", n);
		return -1;
	}
	if (kind == PROVIDER_SINCH && (p->conf.account[0] == '\0' || p->conf.token[0] == '\0')) {
		snprintf(err, errlen, "provider.%s: sinch needs account (the service plan id) and "
			 "token (the API token)", n);
		return -1;
	}
	if (kind == PROVIDER_VONAGE && (p->conf.account[0] == '\0' || p->conf.token[0] == '\0')) {
		snprintf(err, errlen, "provider.%s: vonage needs account (the API key) and token "
			 "(the API secret)", n);
		return -1;
	}
	/* Sinch sends without "from" when the service plan has a default
	 * originator; the webhook's contract makes it optional. */
	if (kind != PROVIDER_WEBHOOK && kind != PROVIDER_SINCH && p->conf.sender[0] == '\0') {
		snprintf(err, errlen, "provider.%s: sender is required", n);
		return -1;
	}
	struct provider_conf c = p->conf;
	char why[256];

	c.kind = kind;
	receipt_url_of(cfg, c.name, c.receipt_url, sizeof(c.receipt_url)); /* as it will ask */
	if (provider_conf_check(&c, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "provider.%s: %s", n, why);
		return -1;
	}
	return 0;
}

_Static_assert(CONFIG_MAX_PROVIDERS <= PREPARE_LIMITS_MAX, "every provider's text limits fit");

int config_text_opts(const struct config *cfg, struct prepare_opts *o, char *err, size_t errlen)
{
	*o = (struct prepare_opts){
		.templates_dir = cfg->templates_dir,
		.default_locale = cfg->default_locale,
		.allowed_countries = cfg->allowed_countries,
		.default_region = cfg->default_region,
		.max_text_bytes = (size_t)cfg->ingest_max_text_bytes,
		.max_segments = (size_t)cfg->ingest_max_segments,
		.smart_encoding = cfg->ingest_smart_encoding != 0,
	};
	for (int i = 0; i < cfg->n_providers; i++) {
		const struct config_provider *c = &cfg->providers[i];
		const struct provider_ops *ops = NULL;
		enum provider_kind kind;

		if (provider_kind_parse(c->type, &kind) == 0)
			ops = provider_ops_for(kind);
		if (ops == NULL) {
			snprintf(err, errlen, "provider.%s.type: '%s' is not one of " PROVIDER_TYPES,
				 c->conf.name, c->type);
			return -1;
		}
		o->limits[o->n_limits++] = (struct prepare_text_limit){
			.provider = c->conf.name,
			.api = ops->api,
			.max_units = ops->max_text_units,
			.max_segments = ops->max_text_segments,
		};
	}
	return 0;
}

/* The number rules and the templates, built as ingest builds them: a pool
 * must not start with texts it cannot render (every event would be
 * rejected). */
static int check_texts(const struct config *cfg, char *err, size_t errlen)
{
	struct prepare_opts o;
	preparer *p;

	if (config_text_opts(cfg, &o, err, errlen) != 0)
		return -1;
	p = preparer_new(&o, err, errlen);

	if (p == NULL)
		return -1;
	preparer_destroy(&p);
	return 0;
}

/* 1 if s is 1.. characters of A-Z a-z 0-9 - _ (safe in a URL path as it is). */
static int path_safe(const char *s)
{
	if (s[0] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return 0;
	return 1;
}

/* The receipt endpoint's options: an address, a token, a URL providers can
 * call, provider names that go in a path as they are. */
static int check_receipts(const struct config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	socklen_t alen;
	char why[256];
	size_t tl = strlen(cfg->receipts_token);
	const char *port;

	if (cfg->receipts_listen[0] == '\0')
		return 0;
	if (addr_parse_listen(cfg->receipts_listen, &addr, &alen, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "receipts.listen: %s", why);
		return -1;
	}
	if (tl < 16 || tl > 128 || !path_safe(cfg->receipts_token)) {
		snprintf(err, errlen, "receipts.token: 16 to 128 of A-Z a-z 0-9 - _, required with "
			 "receipts.listen");
		return -1;
	}
	port = strrchr(cfg->receipts_listen, ':');
	if (cfg->receipts_url[0] == '\0' && port != NULL && strcmp(port, ":0") == 0) {
		snprintf(err, errlen, "receipts.url: required when receipts.listen has port 0 "
			 "(providers must be told where to call)");
		return -1;
	}
	if (strlen(cfg->receipts_url) > 300) {
		snprintf(err, errlen, "receipts.url: at most 300 characters");
		return -1;
	}
	if (cfg->receipts_url[0] != '\0' && strncmp(cfg->receipts_url, "http://", 7) != 0 &&
	    strncmp(cfg->receipts_url, "https://", 8) != 0) {
		snprintf(err, errlen, "receipts.url: an http:// or https:// URL");
		return -1;
	}
	for (int i = 0; i < cfg->n_providers; i++)
		if (!path_safe(cfg->providers[i].conf.name)) {
			snprintf(err, errlen, "provider %s: with receipts.listen, a provider's name "
				 "is A-Z a-z 0-9 - _ (it goes in the callback's path)",
				 cfg->providers[i].conf.name);
			return -1;
		}
	return 0;
}


static int check_curve(const struct config *cfg, char *err, size_t errlen);

int config_check(const struct config *cfg, char *err, size_t errlen)
{
	enum log_level lvl;
	enum log_format fmt;
	char why[256];

	if (log_level_parse(cfg->log_level, &lvl) != 0) {
		snprintf(err, errlen, "log.level: '%s' is not one of error, warn, info, debug",
			 cfg->log_level);
		return -1;
	}
	if (log_format_parse(cfg->log_format, &fmt) != 0) {
		snprintf(err, errlen, "log.format: '%s' is not one of text, json", cfg->log_format);
		return -1;
	}
	if (strcmp(cfg->ingest_cancel_notice, "if_told") != 0 &&
	    strcmp(cfg->ingest_cancel_notice, "always") != 0) {
		snprintf(err, errlen, "ingest.cancel_notice: '%s' is not one of if_told, always",
			 cfg->ingest_cancel_notice);
		return -1;
	}
	if (cfg->pace_shared[0] != '\0' &&
	    pace_shared_check_addr(cfg->pace_shared, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "pace.shared: %s", why);
		return -1;
	}
	if (strcmp(cfg->velocity_over_limit, "refuse") != 0 &&
	    strcmp(cfg->velocity_over_limit, "hold") != 0) {
		snprintf(err, errlen, "velocity.over_limit: '%s' is not one of refuse, hold",
			 cfg->velocity_over_limit);
		return -1;
	}
	if (cfg->outcomes_url[0] != '\0' && strncmp(cfg->outcomes_url, "http://", 7) != 0 &&
	    strncmp(cfg->outcomes_url, "https://", 8) != 0) {
		snprintf(err, errlen, "outcomes.url: an http:// or https:// URL");
		return -1;
	}
	if (cfg->outcomes_url[0] != '\0' &&
	    (strlen(cfg->outcomes_secret) < 16 || strlen(cfg->outcomes_secret) > 256)) {
		snprintf(err, errlen, "outcomes.secret: 16 to 256 bytes, required with outcomes.url");
		return -1;
	}
	if (cfg->store_map_size_mb > cfg->store_map_max_mb) {
		snprintf(err, errlen, "store.map_size_mb (%ld) is above store.map_max_mb (%ld)",
			 cfg->store_map_size_mb, cfg->store_map_max_mb);
		return -1;
	}
	if ((cfg->velocity_slots & (cfg->velocity_slots - 1)) != 0) {
		snprintf(err, errlen, "velocity.slots: %ld is not a power of two (e.g. %ld)",
			 cfg->velocity_slots, 1L << (63 - __builtin_clzl((unsigned long)cfg->velocity_slots)));
		return -1;
	}
	if (cfg->retry_base_ms > cfg->retry_cap_ms) {
		snprintf(err, errlen, "retry.base_ms (%ld) is above retry.cap_ms (%ld)",
			 cfg->retry_base_ms, cfg->retry_cap_ms);
		return -1;
	}
	/* the receipt URLs first: each provider's check builds a request
	 * that asks for its reports there */
	if (check_receipts(cfg, err, errlen) != 0)
		return -1;
	for (int i = 0; i < cfg->n_providers; i++)
		if (check_provider(cfg, &cfg->providers[i], err, errlen) != 0)
			return -1;
	if (check_texts(cfg, err, errlen) != 0)
		return -1;
	if (cfg->metrics_listen[0] != '\0') {
		struct sockaddr_storage addr;
		socklen_t alen;

		if (addr_parse_listen(cfg->metrics_listen, &addr, &alen, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "metrics.listen: %s", why);
			return -1;
		}
	}
	if (strncmp(cfg->ingest_endpoint, "tcp://", 6) != 0 &&
	    strncmp(cfg->ingest_endpoint, "ipc://", 6) != 0) {
		snprintf(err, errlen, "ingest.endpoint: '%s' must start with tcp:// or ipc://",
			 cfg->ingest_endpoint);
		return -1;
	}
	return check_curve(cfg, err, errlen);
}

int config_endpoint_local(const char *ep)
{
	const char *host, *end;
	char h[256];
	size_t len;

	if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
		return 1;
	if (strncmp(ep, "tcp://", 6) != 0)
		return 0;
	host = ep + 6;
	if (host[0] == '[') { /* [::1]:5555 */
		end = strchr(host, ']');
		if (end == NULL)
			return 0;
		host++;
	} else {
		end = strrchr(host, ':');
		if (end == NULL)
			return 0;
	}
	len = (size_t)(end - host);
	if (len == 0 || len >= sizeof(h))
		return 0;
	memcpy(h, host, len);
	h[len] = '\0';
	if (strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
		return 1;
	/* 127.0.0.0/8, as a dotted quad: a name or an interface is not. */
	if (strncmp(h, "127.", 4) == 0) {
		struct in_addr a;

		return inet_pton(AF_INET, h, &a) == 1;
	}
	return 0;
}

/* CURVE: both files or neither, and none only on a local endpoint (or on
 * purpose). */
static int check_curve(const struct config *cfg, char *err, size_t errlen)
{
	int secret = cfg->ingest_curve_secret_file[0] != '\0';
	int producers = cfg->ingest_curve_producers[0] != '\0';

	if (secret != producers) {
		snprintf(err, errlen, "ingest.curve_secret_file and ingest.curve_producers go "
			 "together (the pool's key pair, the producers' keys)");
		return -1;
	}
	if (!secret && !cfg->ingest_allow_anyone && !config_endpoint_local(cfg->ingest_endpoint)) {
		snprintf(err, errlen, "ingest.endpoint %s is reachable from other machines and "
			 "anyone who reaches it could publish: set ingest.curve_secret_file and "
			 "ingest.curve_producers (smsqctl keygen), or ingest.allow_anyone = 1 to run "
			 "it open on purpose", cfg->ingest_endpoint);
		return -1;
	}
	return 0;
}

int config_check_producers(const struct config *cfg, char *err, size_t errlen)
{
	struct auth_list l;
	char why[512];

	if (cfg->ingest_curve_producers[0] == '\0')
		return 0;
	if (auth_list_load(cfg->ingest_curve_producers, &l, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "ingest.curve_producers: %s", why);
		return -1;
	}
	auth_list_free(&l);
	return 0;
}

int config_load_curve_key(struct config *cfg, char *err, size_t errlen)
{
	struct keyfile k;
	char derived[KEYFILE_Z85], why[512];
	int ret = -1;

	cfg->ingest_curve_secret[0] = '\0';
	cfg->ingest_curve_public[0] = '\0';
	if (cfg->ingest_curve_secret_file[0] == '\0')
		return 0;
	if (keyfile_read_secret(cfg->ingest_curve_secret_file, &k, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "ingest.curve_secret_file: %s", why);
		return -1;
	}
	if (zmq_curve_public(derived, k.secret_key) != 0) {
		snprintf(err, errlen, "ingest.curve_secret_file: %s: CURVE is not available in "
			 "this libzmq (%s)", cfg->ingest_curve_secret_file, zmq_strerror(errno));
		goto out;
	}
	if (k.public_key[0] != '\0' && strcmp(k.public_key, derived) != 0) {
		snprintf(err, errlen, "ingest.curve_secret_file: %s: its public key is not the "
			 "secret key's", cfg->ingest_curve_secret_file);
		goto out;
	}
	memcpy(cfg->ingest_curve_secret, k.secret_key, KEYFILE_Z85);
	memcpy(cfg->ingest_curve_public, derived, KEYFILE_Z85);
	ret = 0;
out:
	secret_wipe(&k, sizeof(k));
	return ret;
}

int config_load_store_key(struct config *cfg, char *err, size_t errlen)
{
	char why[512];

	secret_wipe(cfg->store_key, sizeof(cfg->store_key));
	cfg->store_key_set = 0;
	if (cfg->store_encrypt_key_file[0] == '\0')
		return 0;
	if (seal_key_read(cfg->store_encrypt_key_file, cfg->store_key, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "store.encrypt_key_file: %s", why);
		return -1;
	}
	cfg->store_key_set = 1;
	return 0;
}

static void print_table(FILE *f, const struct opt *t, size_t n, const char *prefix)
{
	for (size_t i = 0; i < n; i++) {
		const struct opt *o = &t[i];
		const char *when = prefix[0] == '\0' && config_restart_only(o->name)
					   ? "; a change takes effect at the next start, not on reload"
					   : "";

		if (o->type == OPT_LONG)
			fprintf(f, "%s%-26s integer [%ld..%ld] default %s\n    %s%s\n", prefix, o->name,
				o->min, o->max, o->def, o->help, when);
		else
			fprintf(f, "%s%-26s string default '%s'\n    %s%s\n", prefix, o->name, o->def,
				o->help, when);
	}
}

void config_print_table(FILE *f)
{
	print_table(f, opts, N_OPTS, "");
	fprintf(f, "\n[provider.NAME] sections (first = primary, the next ones fail over in order):\n");
	print_table(f, provider_opts, N_PROVIDER_OPTS, "provider.NAME.");
}


/* The value of option o in base (a struct config, or a struct
 * config_provider for a provider option) as text: the string itself, or
 * the number written in buf (len bytes). */
static const char *opt_text(const void *base, const struct opt *o, char *buf, size_t len)
{
	const char *p = (const char *)base + o->offset;
	long v;

	if (o->type == OPT_STR)
		return p;
	memcpy(&v, p, sizeof(v));
	snprintf(buf, len, "%ld", v);
	return buf;
}

/* A value never logged nor printed. */
static int opt_secret(const struct opt *o)
{
	return strcmp(o->name, "token") == 0 || strcmp(o->name, "outcomes.secret") == 0 ||
	       strcmp(o->name, "receipts.token") == 0;
}

static int opt_equal(const void *a, const void *b, const struct opt *o)
{
	char x[32], y[32];

	return strcmp(opt_text(a, o, x, sizeof(x)), opt_text(b, o, y, sizeof(y))) == 0;
}

static void print_values(FILE *f, const void *base, const struct opt *t, size_t n,
			 const char *prefix)
{
	for (size_t i = 0; i < n; i++) {
		char num[32];
		const char *v = opt_text(base, &t[i], num, sizeof(num));

		if (opt_secret(&t[i]) && v[0] != '\0')
			v = "(set, not shown)";
		fprintf(f, "%s%s = %s\n", prefix, t[i].name, v);
	}
}

void config_print(const struct config *cfg, FILE *f)
{
	print_values(f, cfg, opts, N_OPTS, "");
	for (int i = 0; i < cfg->n_providers; i++) {
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "provider.%s.", cfg->providers[i].conf.name);
		print_values(f, &cfg->providers[i], provider_opts, N_PROVIDER_OPTS, prefix);
	}
}


/* ---- sources and reloads ------------------------------------------------- */

void config_source_add_file(struct config_source *src, const char *path)
{
	src->files = xrealloc(src->files, (src->n_files + 1) * sizeof(*src->files));
	src->files[src->n_files++] = path;
}

void config_source_add_arg(struct config_source *src, const char *name, const char *value)
{
	src->args = xrealloc(src->args, (src->n_args + 1) * sizeof(*src->args));
	src->args[src->n_args++] = (struct config_arg){ name, value };
}

void config_source_free(struct config_source *src)
{
	if (src == NULL)
		return;
	free(src->files);
	free(src->args);
	memset(src, 0, sizeof(*src));
}

int config_build(struct config *cfg, const struct config_source *src, char *err, size_t errlen)
{
	config_defaults(cfg);
	for (size_t i = 0; i < src->n_files; i++)
		if (config_load_file(cfg, src->files[i], err, errlen) != 0)
			return -1;
	for (size_t i = 0; i < src->n_args; i++) {
		const struct config_arg *a = &src->args[i];

		if ((a->name != NULL ? config_set(cfg, a->name, a->value, err, errlen)
				     : config_set_arg(cfg, a->value, err, errlen)) != 0)
			return -1;
	}
	if (config_check(cfg, err, errlen) != 0 || config_check_producers(cfg, err, errlen) != 0)
		return -1;
	config_receipt_urls(cfg);
	return 0;
}

int config_restart_only(const char *name)
{
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++)
		if (strcmp(restart_only[i], name) == 0)
			return 1;
	return 0;
}

/* The providers' names in failover order, comma-separated, into buf. */
static const char *provider_names(const struct config *cfg, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < cfg->n_providers && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i > 0 ? "," : "",
					 cfg->providers[i].conf.name);
	return buf;
}

static const struct config_provider *provider_named(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_providers; i++)
		if (strcmp(cfg->providers[i].conf.name, name) == 0)
			return &cfg->providers[i];
	return NULL;
}

/* fn for each option of table t (n rows) whose value differs between a
 * and b; prefix goes before the names.  Returns the number of calls. */
static int diff_table(const void *a, const void *b, const struct opt *t, size_t n,
		      const char *prefix, config_change_fn *fn, void *user)
{
	int calls = 0;

	for (size_t i = 0; i < n; i++) {
		char name[128], x[32], y[32];
		int secret = opt_secret(&t[i]);

		if (opt_equal(a, b, &t[i]))
			continue;
		calls++;
		if (fn == NULL)
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, t[i].name);
		fn(user, name, secret ? NULL : opt_text(a, &t[i], x, sizeof(x)),
		   secret ? NULL : opt_text(b, &t[i], y, sizeof(y)),
		   prefix[0] == '\0' && config_restart_only(t[i].name));
	}
	return calls;
}

int config_diff(const struct config *cur, const struct config *next, config_change_fn *fn,
		void *user)
{
	char was[CONFIG_MAX_PROVIDERS * PROVIDER_NAME_MAX + 1];
	char now[CONFIG_MAX_PROVIDERS * PROVIDER_NAME_MAX + 1];
	int calls = diff_table(cur, next, opts, N_OPTS, "", fn, user);

	provider_names(cur, was, sizeof(was));
	provider_names(next, now, sizeof(now));
	if (strcmp(was, now) != 0) {
		if (fn != NULL)
			fn(user, "providers", was, now, 0);
		calls++;
	}
	for (int i = 0; i < next->n_providers; i++) {
		const struct config_provider *p = &next->providers[i];
		const struct config_provider *old = provider_named(cur, p->conf.name);
		char prefix[PROVIDER_NAME_MAX + 16];

		if (old == NULL)
			continue;
		snprintf(prefix, sizeof(prefix), "provider.%s.", p->conf.name);
		calls += diff_table(old, p, provider_opts, N_PROVIDER_OPTS, prefix, fn, user);
	}
	return calls;
}

int config_keep_restart_only(struct config *next, const struct config *cur)
{
	int kept = 0;

	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (!config_restart_only(o->name) || opt_equal(cur, next, o))
			continue;
		memcpy((char *)next + o->offset, (const char *)cur + o->offset,
		       o->type == OPT_LONG ? sizeof(long) : str_cap(o, 0));
		kept++;
	}
	/* The key pair read at start stays: the socket producers know is
	 * bound with it (the file may have been replaced since). */
	memcpy(next->ingest_curve_secret, cur->ingest_curve_secret, sizeof(next->ingest_curve_secret));
	memcpy(next->ingest_curve_public, cur->ingest_curve_public, sizeof(next->ingest_curve_public));
	memcpy(next->store_key, cur->store_key, sizeof(next->store_key));
	next->store_key_set = cur->store_key_set;
	return kept;
}
