/*
 * config: one bounded table of options (Redis static_configs[], Postfix
 * CONFIG_TIME_TABLE).  Adding an option is adding a row and a field.
 */
#include "worker/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

enum opt_type { OPT_LONG, OPT_STR };

struct opt {
	const char *name;      /* section.key */
	enum opt_type type;    /* how the text is read */
	const char *def;       /* default, as text */
	long min;              /* OPT_LONG: smallest allowed */
	long max;              /* OPT_LONG: largest allowed */
	size_t offset;         /* where it lands in struct config */
	const char *help;      /* one line */
};

#define F(field) offsetof(struct config, field)
#define CONFIG_LINE_MAX 200 /* Debian's inih INI_MAX_LINE, newline and NUL included */

static const struct opt opts[] = {
	{ "store.dir", OPT_STR, "./var", 0, 0, F(store_dir),
	  "data directory of the LMDB store (created if missing)" },
	{ "store.map_size_mb", OPT_LONG, "256", 1, 1L << 22, F(store_map_size_mb),
	  "initial LMDB map size; the map doubles when full" },
	{ "store.map_max_mb", OPT_LONG, "65536", 1, 1L << 24, F(store_map_max_mb),
	  "map size ceiling; at it ingest answers RETRY_LATER (store_full)" },
	{ "ingest.endpoint", OPT_STR, "tcp://127.0.0.1:5555", 0, 0, F(ingest_endpoint),
	  "ZeroMQ endpoint the pool binds for producers" },
	{ "ingest.max_event_bytes", OPT_LONG, "16384", 256, 1 << 20, F(ingest_max_event_bytes),
	  "largest event frame accepted; larger ones are rejected (oversize)" },
	{ "ingest.max_text_bytes", OPT_LONG, "1600", 70, 65536, F(ingest_max_text_bytes),
	  "longest ready text, in bytes (text_too_long)" },
	{ "ingest.batch_max", OPT_LONG, "4096", 1, 65536, F(ingest_batch_max),
	  "most events in one group commit (one sync)" },
	{ "ingest.hwm", OPT_LONG, "50000", 100, 10000000, F(ingest_hwm),
	  "ZeroMQ high-water mark of the ingest sockets, in messages" },
	{ "pool.workers", OPT_LONG, "0", 0, 256, F(pool_workers),
	  "worker processes; 0 = one per core" },
	{ "pool.restart_delay_ms", OPT_LONG, "500", 0, 60000, F(pool_restart_delay_ms),
	  "wait before restarting a worker that died" },
	{ "pool.shutdown_timeout_ms", OPT_LONG, "10000", 100, 600000, F(pool_shutdown_timeout_ms),
	  "graceful stop budget; then the rest is killed" },
	{ "log.level", OPT_STR, "info", 0, 0, F(log_level), "error, warn, info or debug" },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *find_opt(const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static int set_opt(struct config *cfg, const struct opt *o, const char *value, char *err,
		   size_t errlen)
{
	char *dst = (char *)cfg + o->offset;

	if (o->type == OPT_STR) {
		size_t n = strlen(value);

		if (n == 0 || n >= CONFIG_STR_MAX) {
			snprintf(err, errlen, "%s: must be 1 to %d characters", o->name,
				 CONFIG_STR_MAX - 1);
			return -1;
		}
		size_t cap = strcmp(o->name, "log.level") == 0 ? sizeof(cfg->log_level)
							       : CONFIG_STR_MAX;
		if (n >= cap) {
			snprintf(err, errlen, "%s: value too long", o->name);
			return -1;
		}
		memcpy(dst, value, n + 1);
		return 0;
	}
	char *end = NULL;
	errno = 0;
	long v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0') {
		snprintf(err, errlen, "%s: '%s' is not an integer", o->name, value);
		return -1;
	}
	if (v < o->min || v > o->max) {
		snprintf(err, errlen, "%s: %ld is out of range [%ld, %ld]", o->name, v, o->min,
			 o->max);
		return -1;
	}
	memcpy(dst, &v, sizeof(v));
	return 0;
}

void config_defaults(struct config *cfg)
{
	char err[64];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_OPTS; i++)
		if (set_opt(cfg, &opts[i], opts[i].def, err, sizeof(err)) != 0)
			log_panic("config: default of %s is invalid: %s", opts[i].name, err);
}

int config_set(struct config *cfg, const char *name, const char *value, char *err,
	       size_t errlen)
{
	const struct opt *o = find_opt(name);

	if (o == NULL) {
		snprintf(err, errlen, "unknown option '%s' (see smsq-worker --help-config)", name);
		return -1;
	}
	return set_opt(cfg, o, value, err, errlen);
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

int config_check(const struct config *cfg, char *err, size_t errlen)
{
	enum log_level lvl;

	if (log_level_parse(cfg->log_level, &lvl) != 0) {
		snprintf(err, errlen, "log.level: '%s' is not one of error, warn, info, debug",
			 cfg->log_level);
		return -1;
	}
	if (cfg->store_map_size_mb > cfg->store_map_max_mb) {
		snprintf(err, errlen, "store.map_size_mb (%ld) is above store.map_max_mb (%ld)",
			 cfg->store_map_size_mb, cfg->store_map_max_mb);
		return -1;
	}
	if (strncmp(cfg->ingest_endpoint, "tcp://", 6) != 0 &&
	    strncmp(cfg->ingest_endpoint, "ipc://", 6) != 0) {
		snprintf(err, errlen, "ingest.endpoint: '%s' must start with tcp:// or ipc://",
			 cfg->ingest_endpoint);
		return -1;
	}
	return 0;
}

void config_print_table(FILE *f)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];

		if (o->type == OPT_LONG)
			fprintf(f, "%-26s integer [%ld..%ld] default %s\n    %s\n", o->name, o->min,
				o->max, o->def, o->help);
		else
			fprintf(f, "%-26s string default %s\n    %s\n", o->name, o->def, o->help);
	}
}

void config_print(const struct config *cfg, FILE *f)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		const char *p = (const char *)cfg + opts[i].offset;

		if (opts[i].type == OPT_LONG) {
			long v;

			memcpy(&v, p, sizeof(v));
			fprintf(f, "%s = %ld\n", opts[i].name, v);
		} else {
			fprintf(f, "%s = %s\n", opts[i].name, p);
		}
	}
}
