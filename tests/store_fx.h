/*
 * store_fx: what the store's unit tests share (test_store_*.c, one per
 * file of store/): the commit seam, a fresh store per test, messages,
 * leases and outcomes.  Included once by each of them, which wrap
 * mdb_txn_commit (first line: WRAP); test_dispatch.c and test_ingest.c
 * take their store from here too.
 *
 * mdb_txn_commit is wrapped so that a test can make the next commit fail,
 * as a full disk or an I/O error would.  Each test gets a fresh store in a
 * temp directory.
 */
#ifndef SMSQ_TESTS_STORE_FX_H
#define SMSQ_TESTS_STORE_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "store/store.h"

#define NOW 1800000000000LL /* a fixed "now", ms */
#define DAY 86400000LL

int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);
static __attribute__((unused)) int fail_next_commit; /* an LMDB error code to return once, or 0 */
/* Told what each commit returned, in the committing thread, once it
 * returned (NULL: nothing told). */
static __attribute__((unused)) void (*on_commit)(int rc);

int __wrap_mdb_txn_commit(MDB_txn *txn)
{
	int rc;

	if (fail_next_commit != 0) {
		rc = fail_next_commit;
		fail_next_commit = 0;
		mdb_txn_abort(txn); /* as a failed commit does */
	} else {
		rc = __real_mdb_txn_commit(txn);
	}
	if (on_commit != NULL)
		on_commit(rc);
	return rc;
}

struct fx {
	char dir[64];      /* temp data directory */
	store *st;         /* open handle */
	char keys[64][32]; /* backing for idempotency keys */
};

static __attribute__((unused)) store *open_store(const char *dir, uint64_t map, uint64_t max, int ro)
{
	char err[256] = "";
	struct store_opts o = { .dir = dir, .map_bytes = map, .map_max_bytes = max, .read_only = ro,
				.record_ceiling = !ro };
	store *s = store_open(&o, err, sizeof(err));

	if (s == NULL)
		print_error("store_open: %s\n", err);
	return s;
}

/* Outcomes carry the header their lease gave (as dispatch passes them), or
 * not (all zero: the store reads the record); the finish tests run both
 * ways. */
static __attribute__((unused)) int pass_hdr = 1;

static __attribute__((unused)) int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	pass_hdr = 1;

	snprintf(f->dir, sizeof(f->dir), "/tmp/smsq-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->st = open_store(f->dir, 0, 0, 0);
	*state = f;
	return f->st == NULL ? -1 : 0;
}

static __attribute__((unused)) int setup_reading(void **state)
{
	int rc = setup(state);

	pass_hdr = 0;
	return rc;
}

static __attribute__((unused)) int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(&f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* A new message with key "k<n>", ready now unless not_before is later. */
static __attribute__((unused)) struct store_new msg(struct fx *f, int n, uint8_t prio, int64_t appt, int64_t not_before)
{
	static const char event[] = "packed-event-bytes";
	struct store_new m;

	memset(&m, 0, sizeof(m));
	snprintf(f->keys[n % 64], sizeof(f->keys[0]), "k%d", n);
	m.idem_key = f->keys[n % 64];
	m.idem_len = strlen(m.idem_key);
	m.event = event;
	m.event_len = sizeof(event);
	m.created_ms = NOW - 1000 + n;
	m.not_before_ms = not_before;
	m.expires_ms = appt;
	m.appointment_ms = appt;
	m.priority = prio;
	return m;
}

/* Give m a destination and a text (up to its NUL). */
static __attribute__((unused)) void with_text(struct store_new *m, const char *to, const char *text)
{
	m->to = to;
	m->to_len = strlen(to);
	m->text = text;
	m->text_len = strlen(text);
}

static __attribute__((unused)) struct store_stats stats(store *s)
{
	struct store_stats st;

	assert_int_equal(store_stats(s, &st), STORE_OK);
	return st;
}

/* Message id's state (its note into note, cap bytes, when note is set). */
static __attribute__((unused)) enum store_state state_of(struct fx *f, uint64_t id, char *note,
							 size_t cap)
{
	struct store_msg m;

	assert_int_equal(store_get(f->st, id, &m), STORE_OK);
	free(m.event);
	free(m.text);
	if (note != NULL)
		snprintf(note, cap, "%s", m.note);
	return m.state;
}

/* smsqctl check passes. */
static __attribute__((unused)) void verified(struct fx *f)
{
	if (store_verify(f->st) != 0)
		fail_msg("verify: %s", store_errmsg(f->st));
}

struct idlist {
	uint64_t ids[64]; /* visited ids in order */
	size_t n;         /* how many */
};

static __attribute__((unused)) int collect(uint64_t id, void *arg)
{
	struct idlist *l = arg;

	if (l->n < 64)
		l->ids[l->n++] = id;
	return 0;
}

static __attribute__((unused)) struct store_leased leased[16];
static __attribute__((unused)) char leased_texts[16 * STORE_LEASE_TEXTS_MIN];

static __attribute__((unused)) size_t lease(struct fx *f, int64_t now, size_t max, uint32_t budget, size_t *expired)
{
	size_t n = 0;

	assert_int_equal(store_lease(f->st, now, 30000, max, budget, leased, leased_texts,
				     sizeof(leased_texts), &n, expired), STORE_OK);
	return n;
}

static __attribute__((unused)) struct store_outcome outcome(const struct store_leased *l, enum store_outcome_kind k,
				    int64_t at, const char *note)
{
	struct store_outcome o;

	memset(&o, 0, sizeof(o));
	o.id = l->id;
	o.lease_until_ms = l->lease_until_ms;
	if (pass_hdr)
		o.hdr = l->hdr;
	o.kind = k;
	o.at_ms = at;
	o.note = note;
	return o;
}

/* Open the environment behind the store's back (one per process at a time:
 * LMDB's locks are per process) and run fn in a write transaction. */
static __attribute__((unused)) void tamper(struct fx *f, void (*fn)(MDB_txn *txn))
{
	MDB_env *env;
	MDB_txn *txn;

	store_close(&f->st);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	fn(txn);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Whether f's data.mdb holds s anywhere (the bytes on disk, free pages
 * included). */
static __attribute__((unused)) int file_has(struct fx *f, const char *s)
{
	char path[128];
	struct stat sb;
	char *buf;
	size_t n = strlen(s);
	int fd, found = 0;

	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	for (size_t i = 0; !found && i + n <= (size_t)sb.st_size; i++)
		found = buf[i] == s[0] && memcmp(buf + i, s, n) == 0;
	free(buf);
	return found;
}

/* A finish test again, its outcomes without the header. */
#define READING(fn) \
	{ #fn " (outcomes without the header)", fn, setup_reading, teardown, NULL }

#endif
