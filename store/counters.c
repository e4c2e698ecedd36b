/*
 * counters: the shared counters file (see counters.h).
 *
 * DESIGN
 *
 * The file is a header and COUNTERS_SHARDS shards, each a struct
 * counters_data of plain 64-bit words, aligned to 64 bytes so that no two
 * shards share a cache line.  Writers change words only with
 * __atomic_fetch_add / __atomic_store_n (relaxed: a counter orders
 * nothing); a reader loads each word of each shard with __atomic_load_n and
 * adds them up, which needs the struct to be words and nothing else (a
 * static assertion says so).  The header is written once, under an flock,
 * by the first process to open the file; a header of another magic, version
 * or size is the file of another layout, started afresh.
 */
#include "store/counters.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "store/datadir.h"

#define COUNTERS_MAGIC 0x534d5351435452ULL /* "SMSQCTR" */
#define COUNTERS_VERSION 1

_Static_assert(sizeof(struct counters_data) % sizeof(uint64_t) == 0,
	       "counters_data must be 64-bit words only");

const double counters_bounds_s[COUNTERS_BOUNDS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

const char *const counters_receipt_names[COUNTERS_RECEIPT_COUNT] = {
	"delivered", "undelivered", "repeated", "older", "held", "unknown", "interim", "forged",
	"malformed",
};

struct shard {
	struct counters_data d;
} __attribute__((aligned(64)));

struct counters_file {
	uint64_t magic;                    /* COUNTERS_MAGIC */
	uint32_t version;                  /* COUNTERS_VERSION */
	uint32_t shards;                   /* COUNTERS_SHARDS */
	uint64_t shard_bytes;              /* sizeof(struct shard) */
	uint64_t reserved[5];              /* zero */
	struct shard shard[COUNTERS_SHARDS];
};

struct counters {
	struct counters_file *f;           /* the mapping */
	struct counters_data *mine;        /* the shard this handle adds to */
};

static int header_ok(const struct counters_file *f)
{
	return f->magic == COUNTERS_MAGIC && f->version == COUNTERS_VERSION &&
	       f->shards == COUNTERS_SHARDS && f->shard_bytes == sizeof(struct shard);
}

/* Under the file's lock (datadir_map()): a new file, or one of another
 * layout, starts afresh. */
static void counters_init(void *map, void *arg)
{
	struct counters_file *f = map;

	(void)arg;
	if (!header_ok(f)) {
		memset(f, 0, sizeof(*f));
		f->shards = COUNTERS_SHARDS;
		f->shard_bytes = sizeof(struct shard);
		f->version = COUNTERS_VERSION;
		f->magic = COUNTERS_MAGIC;
	}
}

counters *counters_open(const char *dir, int shard, char *err, size_t errlen)
{
	counters *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		snprintf(err, errlen, "counters: out of memory");
		return NULL;
	}
	c->f = datadir_map(dir, DATADIR_COUNTERS, sizeof(struct counters_file), counters_init, NULL,
			   err, errlen);
	if (c->f == NULL) {
		free(c);
		return NULL;
	}
	counters_set_shard(c, shard);
	return c;
}

void counters_close(counters **c)
{
	if (c == NULL || *c == NULL)
		return;
	munmap((*c)->f, sizeof(struct counters_file));
	free(*c);
	*c = NULL;
}

void counters_set_shard(counters *c, int shard)
{
	if (c == NULL)
		return;
	if (shard < 0)
		shard = 0;
	c->mine = &c->f->shard[shard % COUNTERS_SHARDS].d;
}

struct counters_data *counters_mine(counters *c)
{
	return c != NULL ? c->mine : NULL;
}

struct counters_data *counters_gauges(counters *c)
{
	return c != NULL ? &c->f->shard[0].d : NULL;
}

void counters_observe(struct counters_hist *h, int64_t ns)
{
	double s;
	size_t i = 0;

	if (h == NULL)
		return;
	if (ns < 0)
		ns = 0;
	s = (double)ns / 1e9;
	while (i < COUNTERS_BOUNDS && s > counters_bounds_s[i])
		i++;
	__atomic_fetch_add(&h->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_us, (uint64_t)(ns / 1000), __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
}

int counters_read(const char *dir, struct counters_data *out)
{
	struct counters_file *f;
	uint64_t *sum = (uint64_t *)out;
	const size_t words = sizeof(*out) / sizeof(uint64_t);
	void *map;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = datadir_map_read(dir, DATADIR_COUNTERS, sizeof(*f), &map);
	if (rc <= 0)
		return rc;
	f = map;
	rc = 0;
	if (header_ok(f)) {
		for (size_t s = 0; s < COUNTERS_SHARDS; s++) {
			const uint64_t *w = (const uint64_t *)&f->shard[s].d;

			for (size_t i = 0; i < words; i++)
				sum[i] += __atomic_load_n(&w[i], __ATOMIC_RELAXED);
		}
		rc = 1;
	}
	munmap(f, sizeof(*f));
	return rc;
}
