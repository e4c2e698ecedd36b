/*
 * velocity: the shared counts of messages per number, range and country
 * (see velocity.h).
 *
 * DESIGN
 *
 * The table is a header (64 bytes) and a power of two of slots of 64 bytes,
 * one cache line each: a key word and seven window words.  The key word is
 * a 64-bit hash of the key's text with its kind in the low two bits
 * (number, range, country), so never 0: 0 is a slot never used.  Keys are
 * found by linear probing from their hash, at most VELOCITY_PROBE_MAX slots.
 * A slot is never emptied (that would cut the probe chains of the keys
 * after it); a slot whose windows are all past (stale: its longest window
 * and the one before ended) is taken over by a new key, after the whole
 * chain was searched for the key itself.
 *
 * A window word is [index:24][previous count:20][current count:20]: the
 * index of its fixed window (wall clock ms / window length, modulo 2^24, so
 * 31 years of minutes), the count of that window and of the one before it.
 * It is rolled forward when read (one window later: current becomes
 * previous; more: both 0) and changed by compare-and-swap, so a count is
 * never lost between processes and a killed process leaves nothing half
 * done.  The sliding estimate is current + previous * (the part of the
 * previous window still inside the sliding one), rounded up.
 *
 * Slot words by kind:
 *   number  0 ingest hour, 1 ingest day, 2 sends hour, 3 sends day
 *   range   0 minute, 1 hour
 *   country 0 minute
 *
 * Where it lives.  The table is a memfd mapped shared by the master before
 * any fork, so the children share its pages, which the kernel gives as they
 * are first touched and never writes to a disk.  A file of the data
 * directory mapped shared would do the same but for the page cache's
 * writeback: every page touched is written back within half a minute, and
 * each first write after that faults again for the filesystem, which at a
 * random page per message costs more than the counting itself.  The save
 * copies the memfd's data extents (SEEK_DATA: the pages ever touched, in
 * memory or swapped out) into a sparse file, and the load reinserts every
 * key whose windows are not all past, so a table of another size takes the
 * counts too.
 *
 * Checks then counts: velocity_admit() reads every window it checks, and
 * counts only when all pass, so an event refused for one limit does not
 * count against the others.  Two processes admitting at the same instant
 * could both take the last place; ingest admits inside the store's write
 * transaction, which LMDB runs one at a time pool-wide, so it never
 * happens there.
 */
#define _GNU_SOURCE /* memfd_create(), SEEK_DATA, SEEK_HOLE */
#include "store/velocity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/datadir.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif


#define VELOCITY_MAGIC 0x534d535156454cULL /* "SMSQVEL" */
#define VELOCITY_VERSION 1
#define SLOT_WORDS 7
#define KIND_NUMBER 1ULL
#define KIND_RANGE 2ULL
#define KIND_COUNTRY 3ULL
#define KIND_MASK 3ULL
#define IDX_MASK 0xffffffULL
#define CNT_MASK 0xfffffULL
#define MINUTE_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define KEY_TEXT_MAX 32

struct vslot {
	uint64_t key;              /* hash | kind; 0: never used */
	uint64_t w[SLOT_WORDS];    /* windows, by kind (above) */
} __attribute__((aligned(64)));

struct vfile {
	uint64_t magic;            /* VELOCITY_MAGIC */
	uint64_t version;          /* VELOCITY_VERSION */
	uint64_t slots;            /* slots that follow */
	uint64_t full;             /* keys not counted for want of a slot, ever */
	uint64_t saved_ms;         /* wall clock of the save (in a saved file) */
	uint64_t reserved[3];      /* zero */
	struct vslot slot[];       /* the table */
};

_Static_assert(sizeof(struct vslot) == 64, "a slot is one cache line");
_Static_assert(sizeof(struct vfile) == 64, "the header is one cache line");

struct velocity_table {
	struct vfile *f;           /* the mapping */
	size_t map_len;            /* its length */
	int fd;                    /* the memfd (for its data extents) */
	char *dir;                 /* the data directory (saves) */
};

struct velocity {
	struct vfile *f;           /* the table's mapping */
	uint64_t mask;             /* slots - 1 */
	struct velocity_limits lim; /* copied */
};

/* One window of a check: its word, length and limit. */
struct win {
	uint64_t *word;            /* in the slot */
	int64_t len_ms;            /* window length */
	uint32_t limit;            /* 0: not checked (still counted) */
	enum velocity_limit which; /* what passing it is */
};

const char *velocity_limit_name(enum velocity_limit l)
{
	static const char *const names[VELOCITY_LIMIT_COUNT] = {
		"ok", "number_per_hour", "number_per_day", "range_per_minute", "range_per_hour",
		"country_per_minute",
	};

	return (unsigned)l < VELOCITY_LIMIT_COUNT ? names[l] : "unknown";
}

uint32_t velocity_limit_value(const velocity *v, enum velocity_limit l)
{
	switch (l) {
	case VELOCITY_NUMBER_HOUR: return v->lim.number_per_hour;
	case VELOCITY_NUMBER_DAY: return v->lim.number_per_day;
	case VELOCITY_RANGE_MINUTE: return v->lim.range_per_minute;
	case VELOCITY_RANGE_HOUR: return v->lim.range_per_hour;
	case VELOCITY_COUNTRY_MINUTE: return v->lim.country_per_minute;
	default: return 0;
	}
}

velocity *velocity_open(velocity_table *t, const struct velocity_limits *limits, char *err,
			size_t errlen)
{
	velocity *v;

	if (limits->range_digits < 1 || limits->range_digits > VELOCITY_RANGE_DIGITS_MAX) {
		snprintf(err, errlen, "velocity: range_digits %u: 1 to %d", limits->range_digits,
			 VELOCITY_RANGE_DIGITS_MAX);
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		snprintf(err, errlen, "velocity: out of memory");
		return NULL;
	}
	v->f = t->f;
	v->mask = t->f->slots - 1;
	v->lim = *limits;
	/* This process's page table filled now, writable, rather than by two
	 * faults at the first touch of each page, one message at a time (each
	 * child maps the table anew: fork() does not copy a shared mapping's
	 * entries).  Not with every limit off: the table is not touched then.
	 * A kernel without MADV_POPULATE_WRITE (before 5.14) faults as it goes. */
	if (velocity_ingest_on(v))
		(void)madvise(t->f, t->map_len, MADV_POPULATE_WRITE);
	return v;
}

void velocity_close(velocity **v)
{
	if (v == NULL || *v == NULL)
		return;
	free(*v);
	*v = NULL;
}

int velocity_ingest_on(const velocity *v)
{
	return v != NULL && (v->lim.number_per_hour || v->lim.number_per_day ||
			     v->lim.range_per_minute || v->lim.range_per_hour ||
			     v->lim.country_per_minute);
}

/* ---- keys --------------------------------------------------------------- */

/* FNV-1a, then a finaliser (splitmix64's) so that the low bits, which pick
 * the slot, depend on every byte. */
static uint64_t hash_text(const char *s, size_t n, uint64_t kind)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ kind;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return (h & ~KIND_MASK) | kind;
}

size_t velocity_range(const velocity *v, const char *e164, char *out, size_t outlen)
{
	size_t n = e164 != NULL ? strlen(e164) : 0;
	size_t k = v->lim.range_digits;

	/* "+", a country code and something left of the range. */
	if (n < k + 3 || n - k >= outlen || n > KEY_TEXT_MAX)
		return 0;
	memcpy(out, e164, n - k);
	out[n - k] = '\0';
	return n - k;
}

/* ---- windows ------------------------------------------------------------ */

static uint64_t win_index(int64_t now_ms, int64_t len_ms)
{
	return (uint64_t)(now_ms / len_ms) & IDX_MASK;
}

/* w as it is in window idx. */
static uint64_t roll(uint64_t w, uint64_t idx)
{
	uint64_t age = (idx - (w >> 40)) & IDX_MASK;
	uint64_t cur = w & CNT_MASK;

	if (age == 0)
		return w;
	return (idx << 40) | ((age == 1 ? cur : 0) << 20);
}

/* The sliding estimate of a rolled word at now_ms. */
static uint32_t estimate(uint64_t w, int64_t now_ms, int64_t len_ms)
{
	uint64_t cur = w & CNT_MASK, prev = (w >> 20) & CNT_MASK;
	uint64_t left = (uint64_t)(len_ms - now_ms % len_ms); /* of the previous, still in */

	return (uint32_t)(cur + (prev * left + (uint64_t)len_ms - 1) / (uint64_t)len_ms);
}

static uint32_t win_read(const struct win *x, int64_t now_ms)
{
	uint64_t w = __atomic_load_n(x->word, __ATOMIC_RELAXED);

	return estimate(roll(w, win_index(now_ms, x->len_ms)), now_ms, x->len_ms);
}

/* Add delta (+1 or -1) to the current count; a -1 only in the same window. */
static void win_add(const struct win *x, int64_t now_ms, int delta)
{
	uint64_t idx = win_index(now_ms, x->len_ms);
	uint64_t old = __atomic_load_n(x->word, __ATOMIC_RELAXED);
	uint64_t nw;

	do {
		nw = roll(old, idx);
		uint64_t cur = nw & CNT_MASK;

		if (delta > 0)
			cur += cur < VELOCITY_COUNT_MAX;
		else if (nw == old && cur > 0)
			cur--;
		else
			return; /* the window moved on, or nothing to take back */
		nw = (nw & ~CNT_MASK) | cur;
	} while (!__atomic_compare_exchange_n(x->word, &old, nw, 0, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
}

/* Whether a word's window ended before the previous one of now (both
 * counts past).  A word never written (0) is past. */
static int word_past(uint64_t w, int64_t now_ms, int64_t len_ms)
{
	return w == 0 || ((win_index(now_ms, len_ms) - (w >> 40)) & IDX_MASK) >= 2;
}

/* Whether every window of slot s is past at now_ms. */
static int slot_stale(const struct vslot *s, uint64_t key, int64_t now_ms)
{
	uint64_t w0 = __atomic_load_n(&s->w[0], __ATOMIC_RELAXED);
	uint64_t w1 = __atomic_load_n(&s->w[1], __ATOMIC_RELAXED);
	uint64_t w3 = __atomic_load_n(&s->w[3], __ATOMIC_RELAXED);

	switch (key & KIND_MASK) {
	case KIND_NUMBER: return word_past(w1, now_ms, DAY_MS) && word_past(w3, now_ms, DAY_MS);
	case KIND_RANGE: return word_past(w1, now_ms, HOUR_MS);
	case KIND_COUNTRY: return word_past(w0, now_ms, MINUTE_MS);
	default: return 1;
	}
}

static void slot_reset(struct vslot *s)
{
	for (int i = 0; i < SLOT_WORDS; i++)
		__atomic_store_n(&s->w[i], 0, __ATOMIC_RELAXED);
}

/* The slot of key, or (claim) a new one for it: the first never used, or
 * the first stale one of its chain.  NULL when it has none (not claim), or
 * none is left within VELOCITY_PROBE_MAX (claim: counted in the header). */
static struct vslot *find(velocity *v, uint64_t key, int claim, int64_t now_ms)
{
	struct vslot *stale = NULL;
	uint64_t stale_key = 0;

	for (uint64_t i = 0; i < VELOCITY_PROBE_MAX; i++) {
		struct vslot *s = &v->f->slot[(key + i) & v->mask];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);

		if (k == key)
			return s;
		if (k == 0) {
			if (!claim)
				return NULL;
			if (stale != NULL)
				break; /* the chain ends here: take the stale one */
			if (__atomic_compare_exchange_n(&s->key, &k, key, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE))
				return s;
			if (k == key) /* another process claimed it for the same key */
				return s;
			continue;
		}
		if (claim && stale == NULL && slot_stale(s, k, now_ms)) {
			stale = s;
			stale_key = k;
		}
	}
	if (stale != NULL &&
	    __atomic_compare_exchange_n(&stale->key, &stale_key, key, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		slot_reset(stale);
		return stale;
	}
	if (claim)
		__atomic_fetch_add(&v->f->full, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* The windows an event to e164 / country is checked and counted in (sends:
 * the number's send windows only).  Returns how many were set in x. */
static size_t windows(velocity *v, const char *e164, const char *country, int sends, int claim,
		      int64_t now_ms, struct win *x)
{
	const struct velocity_limits *l = &v->lim;
	size_t n = 0, len;
	char range[KEY_TEXT_MAX + 1];
	struct vslot *s;

	len = e164 != NULL ? strlen(e164) : 0;
	if ((l->number_per_hour || l->number_per_day) && len > 0 && len <= KEY_TEXT_MAX) {
		s = find(v, hash_text(e164, len, KIND_NUMBER), claim, now_ms);
		if (s != NULL) {
			x[n++] = (struct win){ &s->w[sends ? 2 : 0], HOUR_MS, l->number_per_hour,
					       VELOCITY_NUMBER_HOUR };
			x[n++] = (struct win){ &s->w[sends ? 3 : 1], DAY_MS, l->number_per_day,
					       VELOCITY_NUMBER_DAY };
		}
	}
	if (sends)
		return n;
	if ((l->range_per_minute || l->range_per_hour) &&
	    (len = velocity_range(v, e164, range, sizeof(range))) > 0) {
		s = find(v, hash_text(range, len, KIND_RANGE), claim, now_ms);
		if (s != NULL) {
			x[n++] = (struct win){ &s->w[0], MINUTE_MS, l->range_per_minute,
					       VELOCITY_RANGE_MINUTE };
			x[n++] = (struct win){ &s->w[1], HOUR_MS, l->range_per_hour,
					       VELOCITY_RANGE_HOUR };
		}
	}
	if (l->country_per_minute && country != NULL && country[0] != '\0') {
		s = find(v, hash_text(country, strlen(country), KIND_COUNTRY), claim, now_ms);
		if (s != NULL)
			x[n++] = (struct win){ &s->w[0], MINUTE_MS, l->country_per_minute,
					       VELOCITY_COUNTRY_MINUTE };
	}
	return n;
}

#define WINDOWS_MAX 5

/* Check every window of x, then count in all of them. */
static enum velocity_limit check_count(const struct win *x, size_t n, int64_t now_ms)
{
	for (size_t i = 0; i < n; i++)
		if (x[i].limit != 0 && win_read(&x[i], now_ms) >= x[i].limit)
			return x[i].which;
	for (size_t i = 0; i < n; i++)
		win_add(&x[i], now_ms, 1);
	return VELOCITY_OK;
}

enum velocity_limit velocity_admit(velocity *v, const char *e164, const char *country,
				   int64_t now_ms)
{
	struct win x[WINDOWS_MAX];

	if (!velocity_ingest_on(v))
		return VELOCITY_OK;
	return check_count(x, windows(v, e164, country, 0, 1, now_ms, x), now_ms);
}

void velocity_undo(velocity *v, const char *e164, const char *country, int64_t now_ms)
{
	struct win x[WINDOWS_MAX];
	size_t n;

	if (!velocity_ingest_on(v))
		return;
	n = windows(v, e164, country, 0, 0, now_ms, x);
	for (size_t i = 0; i < n; i++)
		win_add(&x[i], now_ms, -1);
}

enum velocity_limit velocity_send(velocity *v, const char *e164, int64_t now_ms)
{
	struct win x[WINDOWS_MAX];

	if (v == NULL || (!v->lim.number_per_hour && !v->lim.number_per_day))
		return VELOCITY_OK;
	return check_count(x, windows(v, e164, NULL, 1, 1, now_ms, x), now_ms);
}

uint32_t velocity_count(velocity *v, enum velocity_limit which, int sends, const char *e164,
			const char *country, int64_t now_ms)
{
	struct win x[WINDOWS_MAX];
	size_t n = windows(v, e164, country, sends, 0, now_ms, x);

	for (size_t i = 0; i < n; i++)
		if (x[i].which == which)
			return win_read(&x[i], now_ms);
	return 0;
}

void velocity_stats(velocity *v, int64_t now_ms, struct velocity_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->slots = v->mask + 1;
	out->full = __atomic_load_n(&v->f->full, __ATOMIC_RELAXED);
	for (uint64_t i = 0; i <= v->mask; i++) {
		const struct vslot *s = &v->f->slot[i];
		uint64_t k = __atomic_load_n(&s->key, __ATOMIC_RELAXED);

		out->used += k != 0 && !slot_stale(s, k, now_ms);
	}
}

/* ---- the table: memory, load, save -------------------------------------- */

#define IO_CHUNK (1 << 20) /* bytes read or written at a time */
#define ZERO_RUN 4096      /* a run of zeros this long is a hole in a save */

/* Put a copy of s into f (at load, before any other process maps it). */
static int insert(struct vfile *f, const struct vslot *s)
{
	uint64_t mask = f->slots - 1;

	for (uint64_t i = 0; i < VELOCITY_PROBE_MAX; i++) {
		struct vslot *d = &f->slot[(s->key + i) & mask];

		if (d->key == s->key)
			return 0; /* twice in one file: the first kept */
		if (d->key == 0) {
			*d = *s;
			return 1;
		}
	}
	f->full++;
	return 0;
}

/* The next extent of fd holding data at or after pos, as [*from, *to);
 * 0 when there is none.  Without SEEK_DATA, everything up to size is. */
static int next_data(int fd, off_t pos, off_t size, off_t *from, off_t *to)
{
	off_t d, h;

	if (pos >= size)
		return 0;
	d = lseek(fd, pos, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO)
			return 0;
		*from = pos;
		*to = size;
		return 1;
	}
	h = lseek(fd, d, SEEK_HOLE);
	*from = d;
	*to = h < 0 || h > size ? size : h;
	return *from < *to;
}

/* Load <dir>/velocity into t's (empty) table.  Returns 0 (note says what
 * came of it) or -1 (err: the file could not be opened). */
static int load(velocity_table *t, int64_t now_ms, char *note, size_t notelen, char *err,
		size_t errlen)
{
	char path[PATH_MAX];
	struct vfile h;
	struct stat sb;
	unsigned char *buf = NULL;
	uint64_t keys = 0, past = 0;
	off_t from, to, pos = sizeof(struct vfile);
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t->dir, DATADIR_VELOCITY);
	fd = datadir_open(t->dir, DATADIR_VELOCITY, O_RDONLY, 0, err, errlen);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &sb) != 0 || (got = pread(fd, &h, sizeof(h), 0)) < 0) {
		snprintf(note, notelen, "%s: %s: the counts start afresh", path, strerror(errno));
		goto out;
	}
	if (got != (ssize_t)sizeof(h) || h.magic != VELOCITY_MAGIC || h.version != VELOCITY_VERSION ||
	    h.slots < VELOCITY_SLOTS_MIN || h.slots > (uint64_t)VELOCITY_SLOTS_MAX ||
	    (h.slots & (h.slots - 1)) != 0 ||
	    (uint64_t)sb.st_size != sizeof(struct vfile) + h.slots * sizeof(struct vslot)) {
		snprintf(note, notelen, "%s is no velocity table of this version: the counts start "
			 "afresh", path);
		goto out;
	}
	buf = malloc(IO_CHUNK);
	if (buf == NULL) {
		snprintf(note, notelen, "%s: out of memory: the counts start afresh", path);
		goto out;
	}
	t->f->full = h.full;
	while (next_data(fd, pos, sb.st_size, &from, &to)) {
		/* Whole slots: extents are of pages, slots start past the header. */
		from -= (from - (off_t)sizeof(struct vfile)) % (off_t)sizeof(struct vslot);
		while (from < to) {
			size_t want = (size_t)(to - from) < IO_CHUNK ? (size_t)(to - from) : IO_CHUNK;

			want -= want % sizeof(struct vslot);
			if (want == 0)
				want = sizeof(struct vslot);
			got = pread(fd, buf, want, from);
			if (got < (ssize_t)sizeof(struct vslot)) {
				snprintf(note, notelen, "%s: %s: %llu keys loaded, the rest start afresh",
					 path, got < 0 ? strerror(errno) : "cut short",
					 (unsigned long long)keys);
				goto out;
			}
			got -= got % (ssize_t)sizeof(struct vslot);
			for (ssize_t o = 0; o < got; o += (ssize_t)sizeof(struct vslot)) {
				const struct vslot *s = (const void *)(buf + o);

				if (s->key == 0)
					continue;
				if (slot_stale(s, s->key, now_ms))
					past++;
				else
					keys += (uint64_t)insert(t->f, s);
			}
			from += got;
		}
		pos = to;
	}
	snprintf(note, notelen, "%llu keys loaded from %s, saved %lld s ago (%llu past)",
		 (unsigned long long)keys, path,
		 (long long)(now_ms - (int64_t)h.saved_ms) / 1000, (unsigned long long)past);
out:
	free(buf);
	close(fd);
	return 0;
}

velocity_table *velocity_table_new(const char *dir, uint64_t slots, int64_t now_ms, char *note,
				   size_t notelen, char *err, size_t errlen)
{
	velocity_table *t;

	note[0] = '\0';
	if (slots < VELOCITY_SLOTS_MIN || slots > (uint64_t)VELOCITY_SLOTS_MAX ||
	    (slots & (slots - 1)) != 0) {
		snprintf(err, errlen, "velocity: %llu slots: a power of two from %d to %ld is needed",
			 (unsigned long long)slots, VELOCITY_SLOTS_MIN, VELOCITY_SLOTS_MAX);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL || (t->dir = strdup(dir)) == NULL) {
		free(t);
		snprintf(err, errlen, "velocity: out of memory");
		return NULL;
	}
	t->map_len = sizeof(struct vfile) + slots * sizeof(struct vslot);
	t->f = MAP_FAILED;
	t->fd = memfd_create("smsq-velocity", MFD_CLOEXEC);
	if (t->fd < 0 || ftruncate(t->fd, (off_t)t->map_len) != 0) {
		snprintf(err, errlen, "velocity: shared memory of %zu bytes: %s", t->map_len,
			 strerror(errno));
		goto fail;
	}
	t->f = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (t->f == MAP_FAILED) {
		snprintf(err, errlen, "velocity: map %zu bytes: %s", t->map_len, strerror(errno));
		goto fail;
	}
	t->f->magic = VELOCITY_MAGIC;
	t->f->version = VELOCITY_VERSION;
	t->f->slots = slots;
	if (load(t, now_ms, note, notelen, err, errlen) != 0)
		goto fail;
	return t;
fail:
	velocity_table_destroy(&t);
	return NULL;
}

void velocity_table_destroy(velocity_table **t)
{
	if (t == NULL || *t == NULL)
		return;
	if ((*t)->f != MAP_FAILED && (*t)->f != NULL)
		munmap((*t)->f, (*t)->map_len);
	if ((*t)->fd >= 0)
		close((*t)->fd);
	free((*t)->dir);
	free(*t);
	*t = NULL;
}

/* Whether len bytes at p are all 0. */
static int all_zero(const unsigned char *p, size_t len)
{
	const uint64_t *w = (const void *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (__atomic_load_n(&w[i], __ATOMIC_RELAXED) != 0)
			return 0;
	return 1;
}

/* Write [from, to) of the table into fd at the same offsets, leaving runs
 * of ZERO_RUN zeros as holes.  Returns 0 or -1 (errno). */
static int save_extent(const velocity_table *t, int fd, size_t from, size_t to)
{
	const unsigned char *m = (const unsigned char *)t->f;

	while (from < to) {
		size_t end = from, n;

		while (from < to && all_zero(m + from, to - from < ZERO_RUN ? to - from : ZERO_RUN))
			from += ZERO_RUN;
		if (from >= to)
			break;
		end = from;
		while (end < to && end - from < IO_CHUNK &&
		       !all_zero(m + end, to - end < ZERO_RUN ? to - end : ZERO_RUN))
			end += ZERO_RUN;
		if (end > to)
			end = to;
		for (n = 0; n < end - from;) {
			ssize_t w = pwrite(fd, m + from + n, end - from - n, (off_t)(from + n));

			if (w < 0)
				return -1;
			n += (size_t)w;
		}
		from = end;
	}
	return 0;
}

int velocity_table_save(velocity_table *t, int64_t now_ms, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct vfile h;
	off_t from, to, pos = sizeof(struct vfile);
	int fd, dfd, e;

	snprintf(path, sizeof(path), "%s/%s", t->dir, DATADIR_VELOCITY);
	snprintf(tmp, sizeof(tmp), "%s/%s", t->dir, DATADIR_VELOCITY_NEW);
	fd = datadir_open(t->dir, DATADIR_VELOCITY_NEW, O_WRONLY | O_CREAT | O_TRUNC, 0600, err,
			  errlen);
	if (fd < 0)
		return -1;
	memset(&h, 0, sizeof(h));
	h.magic = VELOCITY_MAGIC;
	h.version = VELOCITY_VERSION;
	h.slots = t->f->slots;
	h.full = __atomic_load_n(&t->f->full, __ATOMIC_RELAXED);
	h.saved_ms = (uint64_t)now_ms;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		goto fail;
	while (next_data(t->fd, pos, (off_t)t->map_len, &from, &to)) {
		if (from < (off_t)sizeof(struct vfile))
			from = sizeof(struct vfile);
		if (save_extent(t, fd, (size_t)from, (size_t)to) != 0)
			goto fail;
		pos = to;
	}
	if (ftruncate(fd, (off_t)t->map_len) != 0 || fdatasync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	/* The rename itself durable: the directory synced. */
	dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd); /* the new file is whole either way */
		close(dfd);
	}
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp); /* the last save stays */
	if (e == ENOSPC || e == EDQUOT) {
		uint64_t avail = 0;

		if (datadir_disk_full(t->dir, &avail, NULL) < 0)
			avail = 0;
		snprintf(err, errlen, "disk full: cannot save %s (%llu KiB left on its filesystem): "
			 "the last save stays", path, (unsigned long long)(avail >> 10));
	} else {
		snprintf(err, errlen, "save %s: %s: the last save stays", path, strerror(e));
	}
	errno = e;
	return -1;
}
