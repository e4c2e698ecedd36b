/*
 * test_datadir: the data directory's checks, links refused, blocks
 * allocated before a file is mapped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/datadir.h"

struct fx {
	char root[64];  /* temp directory */
	char dir[128];  /* the data directory inside it */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->root, sizeof(f->root), "/tmp/smsq-datadir-XXXXXX");
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/a/var", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

/* Created 0700 (parents 0750) whatever the umask. */
static void created_private_whatever_the_umask(void **state)
{
	struct fx *f = *state;
	char err[512] = "", parent[128];
	mode_t old = umask(0);

	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(mode_of(f->dir), 0700);
	snprintf(parent, sizeof(parent), "%s/a", f->root);
	assert_int_equal(mode_of(parent), 0750);
	/* Prepared again: as it is. */
	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), 0);
	assert_int_equal(datadir_prepare(f->dir, 0, err, sizeof(err)), 0);
}

/* Writable by its group or by others: refused, saying what to do. */
static void writable_by_others_refused(void **state)
{
	struct fx *f = *state;
	char err[512] = "";

	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), 0);
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by others"));
	assert_non_null(strstr(err, "chmod go-w"));
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by its group"));
	assert_int_equal(chmod(f->dir, 0755), 0); /* readable by others is fine */
	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), 0);
	/* Not a directory at all. */
	char file[160];
	snprintf(file, sizeof(file), "%s/plain", f->root);
	close(open(file, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(datadir_prepare(file, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
}

/* A link under one of smsq's names is never followed: prepare, open and
 * check refuse it, and its target is untouched. */
static void links_refused(void **state)
{
	struct fx *f = *state;
	char err[512] = "", link[192], target[160];
	const char *names[] = { DATADIR_DATA, DATADIR_LOCK, DATADIR_PACING, DATADIR_POOL_LOCK };

	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), 0);
	snprintf(target, sizeof(target), "%s/victim", f->root);
	close(open(target, O_CREAT | O_WRONLY, 0600));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(link, sizeof(link), "%s/%s", f->dir, names[i]);
		assert_int_equal(symlink(target, link), 0);
		err[0] = '\0';
		assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "symbolic link"));
		assert_non_null(strstr(err, names[i]));
		assert_int_equal(datadir_check_file(f->dir, names[i], err, sizeof(err)), -1);
		assert_int_equal(datadir_open(f->dir, names[i], O_RDWR | O_CREAT, 0640, err,
					      sizeof(err)), -1);
		assert_int_equal(errno, ELOOP);
		assert_non_null(strstr(err, "symbolic link"));
		assert_int_equal(unlink(link), 0);
	}
	struct stat sb;
	assert_int_equal(stat(target, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	/* A directory where a file should be. */
	snprintf(link, sizeof(link), "%s/%s", f->dir, DATADIR_PACING);
	assert_int_equal(mkdir(link, 0700), 0);
	assert_int_equal(datadir_open(f->dir, DATADIR_PACING, O_RDONLY, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), -1);
	/* A missing file is fine for a check. */
	assert_int_equal(datadir_check_file(f->dir, "nothing-here", err, sizeof(err)), 0);
}

/* Blocks are there before a mapping would need them: extending the file,
 * or (keep_size) beyond its end without changing its size. */
static void blocks_allocated(void **state)
{
	struct fx *f = *state;
	char err[512] = "", path[192];
	struct stat sb;
	int fd;

	assert_int_equal(datadir_prepare(f->dir, 1, err, sizeof(err)), 0);
	fd = datadir_open(f->dir, DATADIR_PACING, O_RDWR | O_CREAT, 0640, err, sizeof(err));
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/%s", f->dir, DATADIR_PACING);
	assert_int_equal(datadir_allocate(fd, path, 10000, 0, err, sizeof(err)), 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, 10000);
	assert_true((uint64_t)sb.st_blocks * 512 >= 10000);
	close(fd);
	fd = datadir_open(f->dir, DATADIR_LOCK, O_RDWR | O_CREAT, 0640, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(datadir_allocate(fd, path, 65536, 1, err, sizeof(err)), 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_true((uint64_t)sb.st_blocks * 512 >= 65536);
	close(fd);
	assert_int_equal(datadir_allocate(-1, path, 4096, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
}

static void disk_space_is_read(void **state)
{
	struct fx *f = *state;
	uint64_t avail = 0, total = 0;

	assert_int_equal(datadir_disk_full(f->root, &avail, &total), 0); /* /tmp has room */
	assert_true(total > 0 && avail <= total);
	assert_int_equal(datadir_disk_full("/no/such/dir", NULL, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(created_private_whatever_the_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(writable_by_others_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(links_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(blocks_allocated, setup, teardown),
		cmocka_unit_test_setup_teardown(disk_space_is_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
