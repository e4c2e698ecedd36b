/*
 * test_config: smsq-worker's option table (worker/config.h): defaults, one
 * option set from text (as -o does), a config file read with inih, and the
 * cross-option checks.
 *
 * Values are read back the way an operator sees them, through
 * config_print(), into a memory stream.  Config files are written to a temp
 * file per test and removed by the teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/velocity.h"
#include "worker/config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fixture: a config with its defaults and a temp file ----------------- */

struct fx {
	const void *row;          /* the table row being run, or NULL */
	struct config cfg;        /* starts as config_defaults() */
	char path[64];            /* temp config file, "" if none */
	char err[512];            /* error message of the last call */
	char *printed;            /* config_print() output, malloc'd */
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->row = *state; /* cmocka's initial state: a table row, or NULL */
	config_defaults(&f->cfg);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->path[0] != '\0')
		unlink(f->path);
	free(f->printed);
	free(f);
	return 0;
}

/* config_print() of cfg, as a string owned by f. */
static const char *printed(struct fx *f, const struct config *cfg)
{
	size_t len = 0;
	FILE *m;

	free(f->printed);
	f->printed = NULL;
	m = open_memstream(&f->printed, &len);
	assert_non_null(m);
	config_print(cfg, m);
	assert_int_equal(fclose(m), 0);
	return f->printed;
}

/* Does config_print() show exactly this line? */
static void expect_line(struct fx *f, const char *line)
{
	const char *out = printed(f, &f->cfg);
	size_t n = strlen(line);

	for (const char *p = out; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return;
	fail_msg("no line \"%s\" in:\n%s", line, out);
}

static void expect_err(const struct fx *f, const char *frag)
{
	if (strstr(f->err, frag) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", f->err, frag);
}

/* Write text to a new temp file, remembered for the teardown. */
static const char *write_conf(struct fx *f, const char *text)
{
	int fd;
	size_t n = strlen(text);

	if (f->path[0] != '\0')
		unlink(f->path); /* a second file in the same test */
	snprintf(f->path, sizeof(f->path), "/tmp/smsq-test-config-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	return f->path;
}

static int load(struct fx *f, const char *text)
{
	f->err[0] = '\0';
	return config_load_file(&f->cfg, write_conf(f, text), f->err, sizeof(f->err));
}

/* ---- defaults ------------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct fx *f = *state;
	const char *out = printed(f, &f->cfg);

	/* the first line, then the others in table order */
	assert_true(strncmp(out, "store.dir = ./var\n", 18) == 0);
	expect_line(f, "store.map_size_mb = 256");
	expect_line(f, "store.map_max_mb = 65536");
	expect_line(f, "ingest.endpoint = tcp://127.0.0.1:5555");
	expect_line(f, "ingest.max_event_bytes = 16384");
	expect_line(f, "ingest.max_text_bytes = 1600");
	expect_line(f, "ingest.batch_max = 2048");
	expect_line(f, "ingest.hwm = 50000");
	expect_line(f, "pool.workers = 0");
	expect_line(f, "pool.restart_delay_ms = 500");
	expect_line(f, "pool.shutdown_timeout_ms = 20000");
	expect_line(f, "log.level = info");
	out = printed(f, &f->cfg); /* expect_line() printed again */
	assert_true(out[strlen(out) - 1] == '\n');
	assert_null(strstr(out, "\n\n"));

	/* the same, read from the struct */
	assert_string_equal(f->cfg.store_dir, "./var");
	assert_int_equal(f->cfg.ingest_batch_max, 2048);
	assert_int_equal(f->cfg.pool_workers, 0);
	assert_string_equal(f->cfg.log_level, "info");

	/* and they pass the checks */
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
}

/* The velocity limits: their defaults, what reaches store/velocity.h, the
 * table's size a power of two, and a reload that applies new limits (only
 * the table's size waits for a restart). */
static void test_velocity(void **state)
{
	struct fx *f = *state;
	struct velocity_limits l;
	struct config next;

	expect_line(f, "velocity.number_per_hour = 10");
	expect_line(f, "velocity.number_per_day = 30");
	expect_line(f, "velocity.range_digits = 4");
	expect_line(f, "velocity.range_per_minute = 60");
	expect_line(f, "velocity.range_per_hour = 600");
	expect_line(f, "velocity.country_per_minute = 0");
	expect_line(f, "velocity.slots = 2097152");
	assert_int_equal(load(f, "[velocity]\nnumber_per_hour = 2\nrange_digits = 3\n"
				 "country_per_minute = 5000\n"), 0);
	config_velocity_limits(&f->cfg, &l);
	assert_int_equal(l.number_per_hour, 2);
	assert_int_equal(l.number_per_day, 30);
	assert_int_equal(l.range_digits, 3);
	assert_int_equal(l.country_per_minute, 5000);
	assert_int_equal(config_set(&f->cfg, "velocity.slots", "3000", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	expect_err(f, "velocity.slots: 3000 is not a power of two (e.g. 2048)");
	assert_int_equal(config_set(&f->cfg, "velocity.slots", "4096", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_true(config_restart_only("velocity.slots"));
	assert_false(config_restart_only("velocity.number_per_hour"));
	next = f->cfg;
	next.velocity_number_per_hour = 1;
	next.velocity_slots = 8192;
	config_keep_restart_only(&next, &f->cfg);
	assert_int_equal(next.velocity_number_per_hour, 1);
	assert_int_equal(next.velocity_slots, 4096);
}

static void test_print_table(void **state)
{
	(void)state;
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);

	assert_non_null(m);
	config_print_table(m);
	assert_int_equal(fclose(m), 0);
	assert_non_null(strstr(out, "ingest.batch_max"));
	assert_non_null(strstr(out, "integer [1..4096] default 2048"));
	assert_non_null(strstr(out, "pool.workers"));
	assert_non_null(strstr(out, "integer [0..256] default 0"));
	assert_non_null(strstr(out, "log.level"));
	assert_non_null(strstr(out, "string default 'info'"));
	assert_non_null(strstr(out, "string default 'tcp://127.0.0.1:5555'"));
	free(out);
}

/* ---- config_set: good values ---------------------------------------------- */

struct set_case {
	const char *name;    /* shown by cmocka */
	const char *opt;     /* full option name */
	const char *value;   /* text given */
	const char *want;    /* the config_print() line afterwards (NULL: an error) */
	const char *err;     /* expected fragment of the error */
};

static const struct set_case set_cases[] = {
	{ "set store.dir", "store.dir", "/var/lib/smsq", "store.dir = /var/lib/smsq", NULL },
	{ "set store.dir with spaces", "store.dir", "/srv/my data", "store.dir = /srv/my data",
	  NULL },
	{ "set store.map_size_mb", "store.map_size_mb", "1024", "store.map_size_mb = 1024", NULL },
	{ "set ingest.endpoint ipc", "ingest.endpoint", "ipc:///run/smsq/ingest.sock",
	  "ingest.endpoint = ipc:///run/smsq/ingest.sock", NULL },
	{ "set ingest.batch_max", "ingest.batch_max", "12", "ingest.batch_max = 12", NULL },
	{ "set pool.workers to 0 (one per core)", "pool.workers", "0", "pool.workers = 0", NULL },
	{ "set pool.workers with a '+'", "pool.workers", "+8", "pool.workers = 8", NULL },
	{ "set log.level debug", "log.level", "debug", "log.level = debug", NULL },
	{ "set log.level of 15 characters", "log.level", "abcdefghijklmno",
	  "log.level = abcdefghijklmno", NULL }, /* config_check() rejects it later */

	/* integers */
	{ "integer with trailing garbage", "ingest.batch_max", "12x", NULL,
	  "ingest.batch_max: '12x' is not an integer" },
	{ "integer empty", "ingest.batch_max", "", NULL, "ingest.batch_max: '' is not an integer" },
	{ "integer as a word", "pool.workers", "four", NULL,
	  "pool.workers: 'four' is not an integer" },
	{ "integer with a decimal point", "ingest.hwm", "1.5", NULL,
	  "ingest.hwm: '1.5' is not an integer" },
	{ "integer in hex", "ingest.hwm", "0x100", NULL, "ingest.hwm: '0x100' is not an integer" },
	{ "integer with a trailing space", "ingest.hwm", "1000 ", NULL,
	  "ingest.hwm: '1000 ' is not an integer" },
	{ "integer with a unit", "pool.restart_delay_ms", "500ms", NULL,
	  "pool.restart_delay_ms: '500ms' is not an integer" },
	{ "integer over LONG_MAX", "store.map_max_mb", "99999999999999999999", NULL,
	  "store.map_max_mb" },
	{ "integer negative", "pool.workers", "-1", NULL,
	  "pool.workers: -1 is out of range [0, 256]" },
	{ "integer below the minimum", "ingest.batch_max", "0", NULL,
	  "ingest.batch_max: 0 is out of range [1, 4096]" },
	{ "integer above the maximum", "ingest.batch_max", "4097", NULL,
	  "ingest.batch_max: 4097 is out of range [1, 4096]" },

	/* strings */
	{ "string empty", "store.dir", "", NULL, "store.dir: must be 1 to 511 characters" },
	{ "log.level of 16 characters", "log.level", "abcdefghijklmnop", NULL,
	  "log.level: must be 1 to 15 characters" },

	/* names */
	{ "unknown option", "ingest.nope", "1", NULL,
	  "unknown option 'ingest.nope' (see smsq-worker --help-config)" },
	{ "option without its section", "batch_max", "1", NULL, "unknown option 'batch_max'" },
	{ "option in the wrong case", "Ingest.Batch_Max", "1", NULL,
	  "unknown option 'Ingest.Batch_Max'" },
	{ "option name empty", "", "1", NULL, "unknown option ''" },
};

static void run_set_case(void **state)
{
	struct fx *f = *state;
	const struct set_case *c = f->row;
	char *before = strdup(printed(f, &f->cfg));
	int rc;

	assert_non_null(before);
	f->err[0] = '\0';
	rc = config_set(&f->cfg, c->opt, c->value, f->err, sizeof(f->err));
	if (c->want != NULL) {
		if (rc != 0) {
			free(before);
			fail_msg("config_set(%s, \"%s\") failed: %s", c->opt, c->value, f->err);
		}
		free(before);
		expect_line(f, c->want);
	} else {
		int same = strcmp(printed(f, &f->cfg), before) == 0;

		free(before);
		if (rc != -1)
			fail_msg("config_set(%s, \"%s\") succeeded", c->opt, c->value);
		expect_err(f, c->err);
		assert_true(same); /* a refused value leaves the config as it was */
	}
}

/* ---- config_set: the range of every integer option -------------------------- */

struct range_case {
	const char *opt;     /* option; also the test name */
	long min;            /* smallest allowed */
	long max;            /* largest allowed */
};

static const struct range_case range_cases[] = {
	{ "store.map_size_mb", 1, 1L << 22 },
	{ "store.map_max_mb", 1, 1L << 24 },
	{ "ingest.max_event_bytes", 256, 1L << 20 },
	{ "ingest.max_text_bytes", 70, 4096 },
	{ "ingest.batch_max", 1, 4096 },
	{ "ingest.hwm", 100, 10000000 },
	{ "pool.workers", 0, 256 },
	{ "pool.restart_delay_ms", 0, 60000 },
	{ "pool.shutdown_timeout_ms", 100, 600000 },
	{ "velocity.number_per_hour", 0, 999999 },
	{ "velocity.number_per_day", 0, 999999 },
	{ "velocity.range_digits", 1, 8 },
	{ "velocity.range_per_minute", 0, 999999 },
	{ "velocity.range_per_hour", 0, 999999 },
	{ "velocity.country_per_minute", 0, 999999 },
	{ "velocity.slots", 1024, 1L << 26 },
};

static void set_long(struct fx *f, const char *opt, long v, int want_rc)
{
	char text[32];
	char line[96];
	int rc;

	snprintf(text, sizeof(text), "%ld", v);
	f->err[0] = '\0';
	rc = config_set(&f->cfg, opt, text, f->err, sizeof(f->err));
	if (rc != want_rc)
		fail_msg("config_set(%s, %s) returned %d, want %d (%s)", opt, text, rc, want_rc,
			 f->err);
	if (rc == 0) {
		snprintf(line, sizeof(line), "%s = %ld", opt, v);
		expect_line(f, line);
	}
}

static void run_range_case(void **state)
{
	struct fx *f = *state;
	const struct range_case *c = f->row;
	const char *opt = c->opt;
	char want[128];

	set_long(f, opt, c->min, 0);
	set_long(f, opt, c->max, 0);

	set_long(f, opt, c->min - 1, -1);
	snprintf(want, sizeof(want), "%s: %ld is out of range [%ld, %ld]", opt, c->min - 1, c->min,
		 c->max);
	assert_string_equal(f->err, want);

	set_long(f, opt, c->max + 1, -1);
	snprintf(want, sizeof(want), "%s: %ld is out of range [%ld, %ld]", opt, c->max + 1, c->min,
		 c->max);
	assert_string_equal(f->err, want);
}

/* String options: 1 to CONFIG_STR_MAX - 1 bytes. */
static void test_string_length_limits(void **state)
{
	struct fx *f = *state;
	char v[CONFIG_STR_MAX + 1];

	memset(v, 'd', CONFIG_STR_MAX - 1);
	v[CONFIG_STR_MAX - 1] = '\0';
	assert_int_equal(config_set(&f->cfg, "store.dir", v, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->cfg.store_dir, v);

	v[CONFIG_STR_MAX - 1] = 'd';
	v[CONFIG_STR_MAX] = '\0';
	assert_int_equal(config_set(&f->cfg, "ingest.endpoint", v, f->err, sizeof(f->err)), -1);
	expect_err(f, "ingest.endpoint: must be 1 to 511 characters");
	assert_string_equal(f->cfg.ingest_endpoint, "tcp://127.0.0.1:5555");
}

/* A short error buffer gets a cut, NUL-terminated message. */
static void test_short_error_buffer(void **state)
{
	struct fx *f = *state;
	char err[8];

	memset(err, 'x', sizeof(err));
	assert_int_equal(config_set(&f->cfg, "ingest.batch_max", "0", err, sizeof(err)), -1);
	assert_string_equal(err, "ingest.");
}

/* ---- config_load_file ---------------------------------------------------------- */

static void test_load_full_file(void **state)
{
	struct fx *f = *state;
	int rc = load(f,
		      "; smsq-worker, test configuration\n"
		      "# a hash comment\n"
		      "\n"
		      "[store]\n"
		      "dir = /tmp/smsq-data\n"
		      "map_size_mb = 512 ; an inline comment\n"
		      "map_max_mb=4096\n"
		      "\n"
		      "[ingest]\n"
		      "; endpoint = tcp://0.0.0.0:5555\n"
		      "endpoint = ipc:///tmp/smsq.sock\n"
		      "batch_max = 128\n"
		      "hwm=1000\n"
		      "\n"
		      "[pool]\n"
		      "workers = 4\n"
		      "# workers = 8\n"
		      "[log]\n"
		      "level = debug\n");

	if (rc != 0)
		fail_msg("config_load_file: %s", f->err);
	expect_line(f, "store.dir = /tmp/smsq-data");
	expect_line(f, "store.map_size_mb = 512");
	expect_line(f, "store.map_max_mb = 4096");
	expect_line(f, "ingest.endpoint = ipc:///tmp/smsq.sock");
	expect_line(f, "ingest.batch_max = 128");
	expect_line(f, "ingest.hwm = 1000");
	expect_line(f, "pool.workers = 4");
	expect_line(f, "log.level = debug");
	/* options the file does not name keep their defaults */
	expect_line(f, "ingest.max_text_bytes = 1600");
	expect_line(f, "pool.shutdown_timeout_ms = 20000");
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
}

static void test_load_empty_file(void **state)
{
	struct fx *f = *state;
	struct config before = f->cfg;

	assert_int_equal(load(f, ""), 0);
	assert_memory_equal(&f->cfg, &before, sizeof(before));
	assert_int_equal(load(f, "; only comments\n# here\n\n[store]\n"), 0);
	assert_memory_equal(&f->cfg, &before, sizeof(before));
}

static void test_load_crlf(void **state)
{
	struct fx *f = *state;

	if (load(f, "[ingest]\r\nbatch_max = 64\r\n[log]\r\nlevel = warn\r\n") != 0)
		fail_msg("config_load_file: %s", f->err);
	expect_line(f, "ingest.batch_max = 64");
	expect_line(f, "log.level = warn");
}

/* The last of two settings wins, and -o (config_set_arg) after the file wins. */
static void test_load_then_override(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[pool]\nworkers = 2\nworkers = 3\n"), 0);
	expect_line(f, "pool.workers = 3");
	assert_int_equal(config_set(&f->cfg, "pool.workers", "5", f->err, sizeof(f->err)), 0);
	expect_line(f, "pool.workers = 5");
	/* -o NAME=VALUE, as smsq-worker and smsqctl take it. */
	assert_int_equal(config_set_arg(&f->cfg, "pool.workers=6", f->err, sizeof(f->err)), 0);
	expect_line(f, "pool.workers = 6");
	assert_int_equal(config_set_arg(&f->cfg, "ingest.templates_dir=/a=b", f->err,
					sizeof(f->err)), 0);
	expect_line(f, "ingest.templates_dir = /a=b");
	assert_int_equal(config_set_arg(&f->cfg, "pool.workers", f->err, sizeof(f->err)), -1);
	expect_err(f, "-o expects NAME=VALUE, got 'pool.workers'");
	assert_int_equal(config_set_arg(&f->cfg, "=3", f->err, sizeof(f->err)), -1);
	expect_err(f, "-o expects NAME=VALUE");
	assert_int_equal(config_set_arg(&f->cfg, "pool.workers=x", f->err, sizeof(f->err)), -1);
	expect_err(f, "pool.workers: 'x' is not an integer");
	expect_line(f, "pool.workers = 6");
}

static void test_load_unknown_key(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[ingest]\nbatch_max = 10\nnope = 1\n"), -1);
	expect_err(f, f->path);
	expect_err(f, ": line 3: unknown option 'ingest.nope'");
}

static void test_load_unknown_section(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[store]\ndir = /tmp/x\n\n[stroe]\nmap_size_mb = 1\n"), -1);
	expect_err(f, "line 5: unknown option 'stroe.map_size_mb'");
}

static void test_load_key_before_any_section(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "dir = /tmp/x\n"), -1);
	expect_err(f, "line 1: unknown option");
}

static void test_load_bad_value(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[ingest]\n; the batch\n\nbatch_max = 12x\n"), -1);
	expect_err(f, f->path);
	expect_err(f, ": line 4: ingest.batch_max: '12x' is not an integer");
}

static void test_load_out_of_range(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[pool]\nworkers = 257\n"), -1);
	expect_err(f, ": line 2: pool.workers: 257 is out of range [0, 256]");
}

static void test_load_first_error_wins(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[pool]\nworkers = 1\nworkers = x\nnope = 2\nworkers = 9999\n"),
			 -1);
	expect_err(f, ": line 3: pool.workers: 'x' is not an integer");
	expect_line(f, "pool.workers = 1"); /* nothing after the error was applied */
}

static void test_load_syntax_error(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[store]\ndir = /tmp/x\nthis line has no equals sign\n"), -1);
	expect_err(f, ": line 3: syntax error");
}

/* Only ';' starts an inline comment (after a space); '#' only at the start
 * of a line: "10 # ten" is the value. */
static void test_load_inline_hash_is_not_a_comment(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[ingest]\nbatch_max = 10 # ten\n"), -1);
	expect_err(f, "line 2: ingest.batch_max: '10 # ten' is not an integer");
}

static void test_load_missing_file(void **state)
{
	struct fx *f = *state;
	const char *path = "/nonexistent/smsq/smsq.conf";

	assert_int_equal(config_load_file(&f->cfg, path, f->err, sizeof(f->err)), -1);
	expect_err(f, "/nonexistent/smsq/smsq.conf: cannot open");
	expect_err(f, strerror(ENOENT));
}

/* Regression: Debian's libinih joins an indented line to the previous value
 * (INI_ALLOW_MULTILINE); an indented file once set store.dir to
 * "map_size_mb = 512".  Indentation is now stripped before inih sees it. */
static void test_indented_lines(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[store]\n    dir = /var/lib/smsq\n\tmap_size_mb = 512\n"), 0);
	expect_line(f, "store.dir = /var/lib/smsq");
	expect_line(f, "store.map_size_mb = 512");
}

/* Regression: libinih reads lines of at most 200 bytes; a longer line was cut
 * and its rest reported as a syntax error on a line past the real one.  Now
 * it is an error naming its own line. */
static void test_long_line_is_an_error_on_its_line(void **state)
{
	struct fx *f = *state;
	char text[400];
	char dir[301];

	memset(dir, 'd', 300);
	dir[0] = '/';
	dir[300] = '\0';
	snprintf(text, sizeof(text), "[store]\ndir = %s\n", dir);
	assert_int_equal(load(f, text), -1);
	expect_err(f, "line 2: longer than 198 characters");
	/* A line of 198 characters still fits. */
	memset(dir + 1, 'e', 191);
	dir[192] = '\0';
	snprintf(text, sizeof(text), "[store]\ndir = %s\n", dir);
	assert_int_equal(load(f, text), 0);
	assert_string_equal(f->cfg.store_dir, dir);
}

/* ---- [provider.NAME] sections ------------------------------------------------ */

static void test_providers_in_file_order(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[provider.primary]\ntype = twilio\nbase_url = https://api.twilio.com\n"
				 "account = AC0123\ntoken = s3cret\nsender = +33644630000\n"
				 "rate_per_s = 2000\n"
				 "[provider.backup]\ntype = webhook\nbase_url = http://127.0.0.1:9/sms\n"
				 "rate_per_s = 100\nburst = 5\ncount = messages\n"),
			 0);
	assert_int_equal(f->cfg.n_providers, 2);
	assert_string_equal(f->cfg.providers[0].conf.name, "primary");
	assert_string_equal(f->cfg.providers[1].conf.name, "backup");
	assert_int_equal(f->cfg.providers[0].rate_per_s, 2000);
	assert_int_equal(f->cfg.providers[0].burst, -1);
	assert_int_equal(f->cfg.providers[1].burst, 5);
	assert_int_equal(f->cfg.providers[0].tls_verify, 1);
	if (config_check(&f->cfg, f->err, sizeof(f->err)) != 0)
		fail_msg("config_check: %s", f->err);
	/* The token is never printed. */
	expect_line(f, "provider.primary.token = (set, not shown)");
	expect_line(f, "provider.backup.count = messages");
	expect_line(f, "provider.primary.count = auto");
}

/* Sinch and Vonage: the account and the token are theirs (the service plan
 * id and API token, the API key and secret); Sinch may go without a sender
 * (the plan's default originator); the secrets are never printed. */
static void test_sinch_and_vonage_sections(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "[provider.bulk]\ntype = sinch\n"
				 "base_url = https://eu.sms.api.sinch.com\n"
				 "account = jd63jf88477ll123ab4567cd89012ef3\ntoken = sinch-t0ken\n"
				 "rate_per_s = 500\n"
				 "[provider.vonage]\ntype = vonage\nbase_url = https://rest.nexmo.com\n"
				 "account = abcd1234\ntoken = vonage-s3cret\nsender = Clinique\n"
				 "rate_per_s = 30\n"),
			 0);
	if (config_check(&f->cfg, f->err, sizeof(f->err)) != 0)
		fail_msg("config_check: %s", f->err);
	assert_string_equal(f->cfg.providers[0].type, "sinch");
	assert_string_equal(f->cfg.providers[0].conf.account, "jd63jf88477ll123ab4567cd89012ef3");
	assert_string_equal(f->cfg.providers[1].conf.account, "abcd1234");
	expect_line(f, "provider.bulk.token = (set, not shown)");
	expect_line(f, "provider.vonage.token = (set, not shown)");
	expect_line(f, "provider.vonage.account = abcd1234");
}

struct pcase {
	const char *name;  /* shown by cmocka */
	const char *text;  /* a [provider.p] section */
	const char *err;   /* fragment of config_check's or the loader's error */
};

static const struct pcase pcases[] = {
	{ "unknown type", "type = carrier-pigeon\nbase_url = http://x\nrate_per_s = 1\n",
	  "provider.p.type: 'carrier-pigeon' is not one of twilio, infobip, webhook, sinch, vonage" },
	{ "no rate", "type = webhook\nbase_url = http://x\n", "provider.p.rate_per_s: required" },
	{ "bad url", "type = webhook\nbase_url = ftp://x\nrate_per_s = 1\n",
	  "provider.p.base_url" },
	{ "twilio without token",
	  "type = twilio\nbase_url = http://x\naccount = AC1\nsender = +331\nrate_per_s = 1\n",
	  "twilio needs account and token" },
	{ "infobip without sender", "type = infobip\nbase_url = http://x\ntoken = k\nrate_per_s = 1\n",
	  "sender is required" },
	{ "bad count", "type = webhook\nbase_url = http://x\nrate_per_s = 1\ncount = words\n",
	  "provider.p.count: 'words' is not segments, messages or auto" },
	{ "sinch without service plan id",
	  "type = sinch\nbase_url = https://us.sms.api.sinch.com\ntoken = t\nrate_per_s = 1\n",
	  "sinch needs account (the service plan id) and token" },
	{ "sinch without token",
	  "type = sinch\nbase_url = https://us.sms.api.sinch.com\naccount = plan1\nrate_per_s = 1\n",
	  "sinch needs account (the service plan id) and token" },
	{ "sinch plan id not alphanumeric",
	  "type = sinch\nbase_url = https://us.sms.api.sinch.com\naccount = a/b\ntoken = t\n"
	  "rate_per_s = 1\n", "service plan id" },
	{ "vonage without secret",
	  "type = vonage\nbase_url = https://rest.nexmo.com\naccount = k\nsender = S\n"
	  "rate_per_s = 1\n", "vonage needs account (the API key) and token (the API secret)" },
	{ "vonage without sender",
	  "type = vonage\nbase_url = https://rest.nexmo.com\naccount = k\ntoken = s\n"
	  "rate_per_s = 1\n", "sender is required" },
	{ "unknown key", "type = webhook\ncolour = blue\n", "provider.p.colour" },
	{ "tls_verify 2", "tls_verify = 2\n", "provider.p.tls_verify: 2 is out of range [0, 1]" },
};

static void test_provider_errors(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		char text[512];

		config_defaults(&f->cfg);
		snprintf(text, sizeof(text), "[provider.p]\n%s", pcases[i].text);
		if (load(f, text) == 0 && config_check(&f->cfg, f->err, sizeof(f->err)) == 0)
			fail_msg("%s: accepted", pcases[i].name);
		if (strstr(f->err, pcases[i].err) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", pcases[i].name, f->err, pcases[i].err);
	}
}

static void test_receipts_options(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "[receipts]\nlisten = 127.0.0.1:8090\n", "receipts.token: 16 to 128" },
		{ "[receipts]\nlisten = 127.0.0.1:8090\ntoken = short\n", "receipts.token" },
		{ "[receipts]\nlisten = 127.0.0.1:8090\ntoken = has/a/slash/in/it/xx\n",
		  "receipts.token" },
		{ "[receipts]\nlisten = 127.0.0.1:0\ntoken = 0123456789abcdef\n",
		  "receipts.url: required when receipts.listen has port 0" },
		{ "[receipts]\nlisten = 127.0.0.1:8090\ntoken = 0123456789abcdef\n"
		  "url = ftp://x\n", "receipts.url: an http:// or https:// URL" },
		{ "[receipts]\nlisten = nowhere\ntoken = 0123456789abcdef\n",
		  "receipts.listen" },
	};

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		config_defaults(&f->cfg);
		if (load(f, bad[i].text) == 0 && config_check(&f->cfg, f->err, sizeof(f->err)) == 0)
			fail_msg("%s: accepted", bad[i].text);
		if (strstr(f->err, bad[i].err) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].text, f->err, bad[i].err);
	}
	/* a name that cannot go in a path as it is */
	config_defaults(&f->cfg);
	assert_int_equal(load(f, "[receipts]\nlisten = 127.0.0.1:8090\ntoken = 0123456789abcdef\n"
			      "[provider.a.b]\ntype = webhook\nbase_url = http://h\nrate_per_s = 5\n"),
			 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	expect_err(f, "a provider's name is A-Z a-z 0-9 - _");
	/* each provider's callback URL: the public URL (its trailing / dropped),
	 * the provider, the token; none without receipts.listen */
	config_defaults(&f->cfg);
	assert_int_equal(load(f, "[receipts]\nlisten = 127.0.0.1:8090\ntoken = 0123456789abcdef\n"
			      "url = https://smsq.example.com/\n"
			      "[provider.main]\ntype = webhook\nbase_url = http://h\nrate_per_s = 5\n"),
			 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	config_receipt_urls(&f->cfg);
	assert_string_equal(f->cfg.providers[0].conf.receipt_url,
			    "https://smsq.example.com/receipts/main/0123456789abcdef");
	assert_int_equal(config_set(&f->cfg, "receipts.url", "", f->err, sizeof(f->err)), 0);
	config_receipt_urls(&f->cfg);
	assert_string_equal(f->cfg.providers[0].conf.receipt_url,
			    "http://127.0.0.1:8090/receipts/main/0123456789abcdef");
	assert_int_equal(config_set(&f->cfg, "receipts.listen", "", f->err, sizeof(f->err)), 0);
	config_receipt_urls(&f->cfg);
	assert_string_equal(f->cfg.providers[0].conf.receipt_url, "");
}

static void test_at_most_four_providers(void **state)
{
	struct fx *f = *state;
	char name[64];

	for (int i = 0; i < CONFIG_MAX_PROVIDERS; i++) {
		snprintf(name, sizeof(name), "provider.p%d.rate_per_s", i);
		assert_int_equal(config_set(&f->cfg, name, "10", f->err, sizeof(f->err)), 0);
	}
	assert_int_equal(config_set(&f->cfg, "provider.p9.rate_per_s", "10", f->err, sizeof(f->err)),
			 -1);
	expect_err(f, "at most 4 providers");
}

/* ---- config_check --------------------------------------------------------------- */

static void test_check_log_levels(void **state)
{
	struct fx *f = *state;
	static const char *const good[] = { "error", "warn", "info", "debug" };

	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		assert_int_equal(config_set(&f->cfg, "log.level", good[i], f->err, sizeof(f->err)),
				 0);
		if (config_check(&f->cfg, f->err, sizeof(f->err)) != 0)
			fail_msg("log.level %s: %s", good[i], f->err);
	}
	assert_int_equal(config_set(&f->cfg, "log.level", "verbose", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "log.level: 'verbose' is not one of error, warn, info, debug");
	assert_int_equal(config_set(&f->cfg, "log.level", "INFO", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	expect_err(f, "log.level: 'INFO'");
}

static void test_check_log_formats(void **state)
{
	struct fx *f = *state;

	assert_string_equal(f->cfg.log_format, "text");
	assert_int_equal(config_set(&f->cfg, "log.format", "json", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	expect_line(f, "log.format = json");
	assert_int_equal(config_set(&f->cfg, "log.format", "JSON", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "log.format: 'JSON' is not one of text, json");
	assert_int_equal(config_set(&f->cfg, "log.format", "", f->err, sizeof(f->err)), -1);
	expect_err(f, "log.format: must be 1 to 15 characters");
}

static void test_check_cancel_notice(void **state)
{
	struct fx *f = *state;

	assert_string_equal(f->cfg.ingest_cancel_notice, "if_told");
	assert_int_equal(config_set(&f->cfg, "ingest.cancel_notice", "always", f->err,
				    sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(config_set(&f->cfg, "ingest.cancel_notice", "never", f->err,
				    sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "ingest.cancel_notice: 'never' is not one of if_told, always");
}

static void test_check_outcomes(void **state)
{
	struct fx *f = *state;

	assert_string_equal(f->cfg.outcomes_url, "");
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
	assert_int_equal(config_set(&f->cfg, "outcomes.url", "ftp://backend", f->err,
				    sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "outcomes.url: an http:// or https:// URL");
	assert_int_equal(config_set(&f->cfg, "outcomes.url", "https://backend/outcomes", f->err,
				    sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "outcomes.secret: 16 to 256 bytes, required with outcomes.url");
	assert_int_equal(config_set(&f->cfg, "outcomes.secret", "0123456789abcdef", f->err,
				    sizeof(f->err)), 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0);
}

static void test_check_map_size_above_max(void **state)
{
	struct fx *f = *state;

	assert_int_equal(config_set(&f->cfg, "store.map_max_mb", "1024", f->err, sizeof(f->err)), 0);
	assert_int_equal(config_set(&f->cfg, "store.map_size_mb", "1024", f->err, sizeof(f->err)),
			 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), 0); /* equal is fine */
	assert_int_equal(config_set(&f->cfg, "store.map_size_mb", "2048", f->err, sizeof(f->err)),
			 0);
	assert_int_equal(config_check(&f->cfg, f->err, sizeof(f->err)), -1);
	assert_string_equal(f->err, "store.map_size_mb (2048) is above store.map_max_mb (1024)");
}

static void test_check_endpoints(void **state)
{
	struct fx *f = *state;
	static const char *const good[] = { "tcp://127.0.0.1:5555", "tcp://*:5555",
					    "tcp://[::1]:5555", "ipc:///tmp/smsq.sock" };

	/* Beyond loopback only with CURVE, or on purpose (test_auth). */
	assert_int_equal(config_set(&f->cfg, "ingest.allow_anyone", "1", f->err,
				    sizeof(f->err)), 0);
	static const char *const bad[] = { "127.0.0.1:5555", "udp://127.0.0.1:5555",
					   "inproc://ingest", "TCP://127.0.0.1:5555", "tcp:/x",
					   "ipc:/tmp/s" };

	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		assert_int_equal(config_set(&f->cfg, "ingest.endpoint", good[i], f->err,
					    sizeof(f->err)), 0);
		if (config_check(&f->cfg, f->err, sizeof(f->err)) != 0)
			fail_msg("endpoint %s: %s", good[i], f->err);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char want[128];

		assert_int_equal(config_set(&f->cfg, "ingest.endpoint", bad[i], f->err,
					    sizeof(f->err)), 0);
		if (config_check(&f->cfg, f->err, sizeof(f->err)) != -1)
			fail_msg("endpoint %s passed config_check", bad[i]);
		snprintf(want, sizeof(want), "ingest.endpoint: '%s' must start with tcp:// or ipc://",
			 bad[i]);
		assert_string_equal(f->err, want);
	}
}

/* ---- main ------------------------------------------------------------------------ */

/* ---- config_build: a start and a reload read the same way ----------------- */

static void test_build_files_then_settings(void **state)
{
	struct fx *f = *state;
	struct config_source src = { 0 };
	struct config cfg;

	config_source_add_file(&src, write_conf(f, "[pool]\nworkers = 3\n[ingest]\n"
					     "max_segments = 4\n[provider.p]\ntype = webhook\n"
					     "base_url = http://127.0.0.1:1/webhook\nrate_per_s = 10\n"));
	/* Given before the file on a command line, applied after it all the same. */
	config_source_add_arg(&src, "pool.workers", "5");
	config_source_add_arg(&src, NULL, "provider.p.rate_per_s=20");
	assert_int_equal(config_build(&cfg, &src, f->err, sizeof(f->err)), 0);
	assert_int_equal(cfg.pool_workers, 5);
	assert_int_equal(cfg.ingest_max_segments, 4);
	assert_int_equal(cfg.n_providers, 1);
	assert_int_equal(cfg.providers[0].rate_per_s, 20);
	/* Built twice, the same configuration (what a reload compares). */
	struct config again;
	assert_int_equal(config_build(&again, &src, f->err, sizeof(f->err)), 0);
	assert_int_equal(config_diff(&cfg, &again, NULL, NULL), 0);
	config_source_free(&src);
	assert_null(src.files);
	assert_int_equal(src.n_args, 0);
	config_source_free(NULL);
}

static void test_build_errors_name_what_failed(void **state)
{
	struct fx *f = *state;
	struct config_source src = { 0 };
	struct config cfg;

	config_source_add_file(&src, write_conf(f, "[pool]\nworkers = many\n"));
	assert_int_equal(config_build(&cfg, &src, f->err, sizeof(f->err)), -1);
	expect_err(f, "line 2: pool.workers: 'many' is not an integer");
	config_source_free(&src);

	config_source_add_arg(&src, NULL, "ingest.nope=1");
	assert_int_equal(config_build(&cfg, &src, f->err, sizeof(f->err)), -1);
	expect_err(f, "unknown option 'ingest.nope'");
	config_source_free(&src);

	/* The cross-option checks run too. */
	config_source_add_arg(&src, "store.map_size_mb", "512");
	config_source_add_arg(&src, "store.map_max_mb", "256");
	assert_int_equal(config_build(&cfg, &src, f->err, sizeof(f->err)), -1);
	expect_err(f, "store.map_size_mb (512) is above store.map_max_mb (256)");
	config_source_free(&src);

	/* And the templates are loaded: a directory without them fails. */
	config_source_add_arg(&src, "ingest.templates_dir", "/nonexistent-smsq-templates");
	assert_int_equal(config_build(&cfg, &src, f->err, sizeof(f->err)), -1);
	expect_err(f, "/nonexistent-smsq-templates");
	config_source_free(&src);
}

/* ---- what a reload compares and keeps ---------------------------------------- */

struct changes {
	char text[2048];     /* one "name: was -> now [restart]" line per change */
};

static void collect(void *user, const char *name, const char *was, const char *now,
		    int restart)
{
	struct changes *c = user;
	size_t n = strlen(c->text);

	snprintf(c->text + n, sizeof(c->text) - n, "%s: %s -> %s%s\n", name,
		 was ? was : "(secret)", now ? now : "(secret)", restart ? " [restart]" : "");
}

static void set(struct config *cfg, const char *name, const char *value)
{
	char err[256];

	if (config_set(cfg, name, value, err, sizeof(err)) != 0)
		fail_msg("%s=%s: %s", name, value, err);
}

static void add_provider(struct config *cfg, const char *name)
{
	char opt[64];

	snprintf(opt, sizeof(opt), "provider.%s.type", name);
	set(cfg, opt, "webhook");
	snprintf(opt, sizeof(opt), "provider.%s.base_url", name);
	set(cfg, opt, "http://127.0.0.1:1/webhook");
	snprintf(opt, sizeof(opt), "provider.%s.rate_per_s", name);
	set(cfg, opt, "100");
}

static void test_diff_names_each_change(void **state)
{
	struct fx *f = *state;
	struct config next;
	struct changes c = { "" };

	add_provider(&f->cfg, "p");
	set(&f->cfg, "provider.p.token", "old-secret");
	next = f->cfg;
	set(&next, "store.dir", "/srv/smsq");
	set(&next, "ingest.max_segments", "4");
	set(&next, "metrics.listen", "");
	set(&next, "provider.p.token", "new-secret");
	set(&next, "provider.p.rate_per_s", "250");
	assert_int_equal(config_diff(&f->cfg, &next, collect, &c), 5);
	assert_string_equal(c.text,
			    "store.dir: ./var -> /srv/smsq [restart]\n"
			    "ingest.max_segments: 10 -> 4\n"
			    "metrics.listen: 127.0.0.1:9477 ->  [restart]\n"
			    "provider.p.token: (secret) -> (secret)\n"
			    "provider.p.rate_per_s: 100 -> 250\n");
	assert_null(strstr(c.text, "old-secret"));
	assert_null(strstr(c.text, "new-secret"));
	/* Nothing changed, nothing said. */
	assert_int_equal(config_diff(&next, &next, collect, &c), 0);
}

static void test_diff_providers_added_removed_reordered(void **state)
{
	struct fx *f = *state;
	struct config next;
	struct changes c = { "" };

	add_provider(&f->cfg, "a");
	add_provider(&f->cfg, "b");
	config_defaults(&next);
	add_provider(&next, "b");
	add_provider(&next, "c");
	set(&next, "provider.c.rate_per_s", "5"); /* a new provider's options are not listed */
	set(&next, "provider.b.burst", "7");
	assert_int_equal(config_diff(&f->cfg, &next, collect, &c), 2);
	assert_string_equal(c.text, "providers: a,b -> b,c\nprovider.b.burst: -1 -> 7\n");

	c.text[0] = '\0';
	config_defaults(&next);
	add_provider(&next, "b");
	add_provider(&next, "a");
	assert_int_equal(config_diff(&f->cfg, &next, collect, &c), 1);
	assert_string_equal(c.text, "providers: a,b -> b,a\n");

	c.text[0] = '\0';
	config_defaults(&next);
	assert_int_equal(config_diff(&f->cfg, &next, collect, &c), 1);
	assert_string_equal(c.text, "providers: a,b -> \n");
}

static void test_keep_restart_only(void **state)
{
	struct fx *f = *state;
	struct config next = f->cfg;

	set(&next, "store.dir", "/srv/smsq");
	set(&next, "store.map_max_mb", "1024");
	set(&next, "ingest.endpoint", "tcp://127.0.0.1:6000");
	set(&next, "pool.workers", "7");
	set(&next, "log.level", "debug");
	set(&next, "ingest.max_segments", "3");
	add_provider(&next, "p");
	assert_int_equal(config_keep_restart_only(&next, &f->cfg), 4);
	/* The restart-only options keep the values in force... */
	assert_string_equal(next.store_dir, "./var");
	assert_int_equal(next.store_map_max_mb, 65536);
	assert_string_equal(next.ingest_endpoint, "tcp://127.0.0.1:5555");
	assert_int_equal(next.pool_workers, 0);
	/* ...the others take the new ones. */
	assert_string_equal(next.log_level, "debug");
	assert_int_equal(next.ingest_max_segments, 3);
	assert_int_equal(next.n_providers, 1);
	assert_int_equal(config_keep_restart_only(&next, &f->cfg), 0);
}

/* NAME_file = PATH sets a secret option from a file; nothing else has a
 * _file form, and a file others may read is refused. */
static void test_secrets_from_files(void **state)
{
	struct fx *f = *state;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/smsq-test-secret-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abcdefghijklmnopqrstuvwxyz\n", 27), 27);
	assert_int_equal(close(fd), 0);
	assert_int_equal(config_set(&f->cfg, "provider.p.type", "webhook", f->err, sizeof(f->err)),
			 0);
	assert_int_equal(config_set(&f->cfg, "provider.p.token_file", path, f->err,
				    sizeof(f->err)), 0);
	assert_string_equal(f->cfg.providers[0].conf.token, "abcdefghijklmnopqrstuvwxyz");
	assert_int_equal(config_set(&f->cfg, "outcomes.secret_file", path, f->err,
				    sizeof(f->err)), 0);
	assert_string_equal(f->cfg.outcomes_secret, "abcdefghijklmnopqrstuvwxyz");
	assert_int_equal(config_set(&f->cfg, "receipts.token_file", path, f->err,
				    sizeof(f->err)), 0);
	assert_string_equal(f->cfg.receipts_token, "abcdefghijklmnopqrstuvwxyz");
	/* Not secrets: no _file form. */
	assert_int_equal(config_set(&f->cfg, "provider.p.account_file", path, f->err,
				    sizeof(f->err)), -1);
	assert_int_equal(config_set(&f->cfg, "store.dir_file", path, f->err, sizeof(f->err)), -1);
	expect_err(f, "unknown option");
	/* Others may read it. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(config_set(&f->cfg, "receipts.token_file", path, f->err,
				    sizeof(f->err)), -1);
	expect_err(f, "receipts.token_file");
	expect_err(f, "chmod 600");
	assert_null(strstr(f->err, "abcdefgh"));
	/* A secret the option refuses: named, not shown. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_set(&f->cfg, "outcomes.secret_file", "/nonexistent/x", f->err,
				    sizeof(f->err)), -1);
	expect_err(f, "outcomes.secret_file: /nonexistent/x");
	assert_int_equal(unlink(path), 0);
}

static void test_restart_only_options(void **state)
{
	static const char *const restart[] = {
		"store.dir", "store.map_size_mb", "store.map_max_mb", "ingest.endpoint",
		"ingest.hwm", "ingest.batch_max", "ingest.workers", "pool.workers",
		"metrics.listen", "outcomes.url", "outcomes.secret", "outcomes.max",
		"outcomes.batch", "outcomes.timeout_ms", "receipts.listen", "receipts.url",
		"receipts.token", "receipts.max_bytes", "receipts.expect_s",
		"ingest.curve_secret_file", "ingest.curve_producers", "ingest.allow_anyone",
		"pool.user", "velocity.slots", "store.encrypt_key_file",
	};
	const char *note = "; a change takes effect at the next start, not on reload";
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	int notes = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(restart); i++)
		assert_true(config_restart_only(restart[i]));
	assert_false(config_restart_only("ingest.templates_dir"));
	assert_false(config_restart_only("log.level"));
	assert_false(config_restart_only("dispatch.lease_ms"));
	assert_false(config_restart_only("provider.p.rate_per_s"));
	/* --help-config says it of each, and of no other: every name above is
	 * an option of the table. */
	assert_non_null(m);
	config_print_table(m);
	assert_int_equal(fclose(m), 0);
	for (const char *p = strstr(out, note); p != NULL; p = strstr(p + 1, note))
		notes++;
	assert_int_equal(notes, (int)ARRAY_LEN(restart));
	free(out);
}

int main(void)
{
	static struct CMUnitTest set_tests[ARRAY_LEN(set_cases)];
	static struct CMUnitTest range_tests[ARRAY_LEN(range_cases)];
	const struct CMUnitTest examples[] = {
		cmocka_unit_test_setup_teardown(test_defaults, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_velocity, fx_setup, fx_teardown),
		cmocka_unit_test(test_print_table),
		cmocka_unit_test_setup_teardown(test_string_length_limits, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_short_error_buffer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_full_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_providers_in_file_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sinch_and_vonage_sections, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_provider_errors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_at_most_four_providers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_empty_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_crlf, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_then_override, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_unknown_key, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_unknown_section, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_key_before_any_section, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_bad_value, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_out_of_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_first_error_wins, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_syntax_error, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_inline_hash_is_not_a_comment, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_load_missing_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_indented_lines, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_long_line_is_an_error_on_its_line, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_log_levels, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_secrets_from_files, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_log_formats, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_cancel_notice, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_outcomes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_map_size_above_max, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_check_endpoints, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_build_files_then_settings, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_build_errors_name_what_failed, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_diff_names_each_change, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_diff_providers_added_removed_reordered,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_keep_restart_only, fx_setup, fx_teardown),
		cmocka_unit_test(test_restart_only_options),
		cmocka_unit_test_setup_teardown(test_receipts_options, fx_setup, fx_teardown),
	};
	int failed = 0;

	for (size_t i = 0; i < ARRAY_LEN(set_cases); i++)
		set_tests[i] = (struct CMUnitTest){ set_cases[i].name, run_set_case, fx_setup,
						    fx_teardown, (void *)&set_cases[i] };
	for (size_t i = 0; i < ARRAY_LEN(range_cases); i++)
		range_tests[i] = (struct CMUnitTest){ range_cases[i].opt, run_range_case, fx_setup,
						      fx_teardown, (void *)&range_cases[i] };

	failed += cmocka_run_group_tests_name("config_set", set_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("config_set ranges", range_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("config", examples, NULL, NULL);
	return failed != 0;
}
