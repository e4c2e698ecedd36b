/*
 * smsq-worker: start the pool (see pool.h).
 *
 *   smsq-worker [-c FILE] [-d DIR] [-e ENDPOINT] [-w N] [-l LEVEL]
 *               [-o section.name=value ...] [--print-config] [--help-config]
 *
 * Settings: built-in defaults, then the config file, then the flags, in that
 * order; all validated before anything starts.  The pool keeps where they
 * came from (config_source) to read them again the same way on SIGHUP.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/config.h"
#include "worker/pool.h"
#include "worker/privilege.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smsq-worker [options]\n"
		"  -c, --config FILE     config file (see etc/smsq.conf)\n"
		"  -d, --dir DIR         data directory (store.dir, default ./var)\n"
		"  -e, --endpoint EP     ingest endpoint (ingest.endpoint, default tcp://127.0.0.1:5555)\n"
		"  -w, --workers N       worker processes (pool.workers, 0 = cores)\n"
		"  -l, --log-level L     error|warn|info|debug (log.level)\n"
		"  -o, --set NAME=VALUE  any option, e.g. -o ingest.batch_max=1024\n"
		"      --print-config    print the effective configuration and exit\n"
		"      --help-config     list every option with its default and range\n"
		"  -h, --help            this text\n");
}

/* Read argv into src (the files and settings, borrowed from argv) and
 * build cfg from it.  Returns -1 to continue, else an exit code. */
static int parse_args(int argc, char **argv, struct config_source *src, struct config *cfg)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "workers", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "set", required_argument, NULL, 'o' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "help-config", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[640];
	int print = 0;
	int c;

	/* The config files are read first (config_build()), so that flags
	 * override them wherever they are. */
	while ((c = getopt_long(argc, argv, "c:d:e:w:l:o:h", longopts, NULL)) != -1) {
		const char *name = NULL;

		switch (c) {
		case 'c': config_source_add_file(src, optarg); continue;
		case 'd': name = "store.dir"; break;
		case 'e': name = "ingest.endpoint"; break;
		case 'w': name = "pool.workers"; break;
		case 'l': name = "log.level"; break;
		case 'o': break;
		case 'P': print = 1; continue;
		case 'H': config_print_table(stdout); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		config_source_add_arg(src, name, optarg);
	}
	if (optind < argc) {
		fprintf(stderr, "smsq-worker: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (config_build(cfg, src, err, sizeof(err)) != 0) {
		fprintf(stderr, "smsq-worker: %s\n", err);
		return 2;
	}
	if (print) {
		config_print(cfg, stdout);
		return 0;
	}
	/* Once, as whoever started the pool (root can read a file of root's). */
	if (config_load_curve_key(cfg, err, sizeof(err)) != 0 ||
	    config_load_store_key(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "smsq-worker: %s\n", err);
		return 2;
	}
	return -1;
}

/* As root, become pool.user (privilege.h) before anything is opened.
 * Returns -1 to continue, else an exit code. */
static int become_user(const struct config *cfg)
{
	char err[512];
	int rc = privilege_drop(cfg->pool_user, cfg->store_dir, err, sizeof(err));

	if (rc < 0) {
		log_error("%s", err);
		return 2;
	}
	if (rc > 0)
		log_info("running as %s (uid %ld, gid %ld)", cfg->pool_user, (long)getuid(),
			 (long)getgid());
	else if (geteuid() == 0)
		log_warn("running as root (pool.user = root): every process of the pool can do "
			 "anything on this machine; prefer an unprivileged user");
	return -1;
}

int main(int argc, char **argv)
{
	struct config_source src = { 0 };
	struct config cfg;
	enum log_level lvl;
	enum log_format fmt;
	int rc;

	rc = parse_args(argc, argv, &src, &cfg);
	if (rc < 0) {
		if (log_level_parse(cfg.log_level, &lvl) != 0)
			lvl = LOG_LEVEL_INFO;
		if (log_format_parse(cfg.log_format, &fmt) != 0)
			fmt = LOG_FORMAT_TEXT;
		log_init("smsq-worker", lvl);
		log_set_format(fmt);
		rc = become_user(&cfg);
		if (rc < 0)
			rc = pool_run(&cfg, &src);
	}
	config_source_free(&src);
	return rc;
}
