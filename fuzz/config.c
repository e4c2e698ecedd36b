/*
 * fuzz/config: libFuzzer harness for the configuration file parser
 * (worker/config.c config_load_file()) and the checks after it
 * (config_check(), config_receipt_urls(), config_text_opts()): what
 * smsq-worker and smsqctl make of an smsq.conf.
 *
 * The input is the file's bytes.  config_load_file() reads a path, so the
 * input is written to a memfd made once and read back through
 * /proc/self/fd/N: no disk, nothing left behind.  Each run starts from
 * config_defaults(), as the worker does.  Beyond the sanitizers: a refusal
 * says why (err non-empty), and an accepted file's text options build.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "text/prepare.h"
#include "worker/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("smsq.conf", MFD_CLOEXEC);
	if (fd < 0) {
		perror("fuzz/config: memfd_create");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg; /* large: not on the stack */
	struct prepare_opts o;
	char err[512] = "";

	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz/config: memfd");
		abort();
	}
	config_defaults(&cfg);
	if (config_load_file(&cfg, path, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (config_check(&cfg, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	config_receipt_urls(&cfg);
	if (config_text_opts(&cfg, &o, err, sizeof(err)) != 0 && err[0] == '\0')
		abort();
	return 0;
}
