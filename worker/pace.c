/*
 * pace: shared GCRA limits, Retry-After blocks and circuits (see pace.h).
 *
 * DESIGN
 *
 * The mapped file holds a header and PACE_MAX_SLOTS slots.  Each slot field
 * is a lock-free 64-bit atomic, so a process killed at any instant leaves
 * nothing locked (a mutex in shared memory would need robust-mutex recovery).
 * The header is written once, under an flock, by whichever process comes
 * first; slots are claimed by name with a compare-and-swap on their first
 * byte's owner word.
 *
 * GCRA with emission interval T = 1e9 / rate ns and tolerance tau: a request
 * of n units at time t conforms when max(tat, t) + n*T - t <= tau + T, and
 * then tat = max(tat, t) + n*T.  tau = B*T allows B+1 units at once; we use
 * tau = (B-1)*T for B >= 1 so that a sliding 1-second window holds at most
 * L + B units, and tau = 0 for B = 0; then 25 ms of it are held back for
 * the jitter between leaving and arriving (tolerance()).
 */
#include "worker/pace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/datadir.h"

#define PACE_MAGIC 0x534d5351504143ULL /* "SMSQPAC" */
#define PACE_VERSION 1
#define PACE_NAME_MAX 32
#define PACE_BACKOFF_MAX_SHIFT 4       /* open period grows to 16x */
#define PACE_JITTER_NS 25000000LL      /* burst held back for arrival jitter: 25 ms */

struct pace_slot {
	char name[PACE_NAME_MAX];          /* owner provider, "" = free */
	_Atomic int64_t claimed;           /* 0 free, 1 being named, 2 named */
	_Atomic int64_t tat_ns;            /* GCRA time for units */
	_Atomic int64_t req_tat_ns;        /* GCRA time for requests */
	_Atomic int64_t blocked_until_ns;  /* Retry-After */
	_Atomic int64_t failures;          /* consecutive failed requests */
	_Atomic int64_t open_until_ns;     /* circuit open until; 0 = closed */
	_Atomic int64_t open_shift;        /* open period = open_ms << shift */
	_Atomic int64_t probing;           /* while a probe is out: when it is given up (ns) */
	_Atomic int64_t milli_units_per_s; /* published limit x 1000, for observers */
};

struct pace_file {
	uint64_t magic;                    /* PACE_MAGIC */
	uint32_t version;                  /* PACE_VERSION */
	uint32_t reserved;                 /* zero */
	char boot_id[48];                  /* kernel boot id at creation */
	struct pace_slot slots[PACE_MAX_SLOTS];
};

struct pace {
	struct pace_file *f;               /* the mapping */
};

int64_t pace_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void read_boot_id(char *out, size_t len)
{
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "r");

	memset(out, 0, len);
	if (fp == NULL)
		return;
	if (fgets(out, (int)len, fp) == NULL)
		out[0] = '\0';
	fclose(fp);
}

pace *pace_open(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	char boot[48];
	pace *p = NULL;
	void *map = MAP_FAILED;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, DATADIR_PACING);
	fd = datadir_open(dir, DATADIR_PACING, O_RDWR | O_CREAT, 0640, err, errlen);
	if (fd < 0)
		return NULL;
	/* One process at a time initialises the file.  Its blocks are
	 * allocated before it is mapped: a first write to a page without one
	 * would be a SIGBUS on a full disk, where this is a clear error. */
	if (flock(fd, LOCK_EX) != 0) {
		snprintf(err, errlen, "pace: lock %s: %s", path, strerror(errno));
		goto out;
	}
	if (datadir_allocate(fd, path, sizeof(struct pace_file), 0, err, errlen) != 0)
		goto out;
	map = mmap(NULL, sizeof(struct pace_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "pace: mmap %s: %s", path, strerror(errno));
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "pace: out of memory");
		munmap(map, sizeof(struct pace_file));
		goto out;
	}
	p->f = map;
	read_boot_id(boot, sizeof(boot));
	/* New file, another format, or monotonic times from before a reboot:
	 * start afresh. */
	if (p->f->magic != PACE_MAGIC || p->f->version != PACE_VERSION ||
	    memcmp(p->f->boot_id, boot, sizeof(boot)) != 0) {
		memset(p->f, 0, sizeof(*p->f));
		memcpy(p->f->boot_id, boot, sizeof(boot));
		p->f->version = PACE_VERSION;
		p->f->magic = PACE_MAGIC;
	}
out:
	/* Unlocked explicitly: the mapping holds the open file, and with it
	 * the lock, after close(). */
	(void)flock(fd, LOCK_UN); /* cannot fail on a descriptor this call locked */
	close(fd);
	return p;
}

void pace_close(pace **p)
{
	if (p == NULL || *p == NULL)
		return;
	munmap((*p)->f, sizeof(struct pace_file));
	free(*p);
	*p = NULL;
}

int pace_slot(pace *p, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= PACE_NAME_MAX)
		return -1;
	for (int i = 0; i < PACE_MAX_SLOTS; i++) {
		struct pace_slot *s = &p->f->slots[i];
		int64_t st = atomic_load(&s->claimed);

		if (st == 0) {
			int64_t zero = 0;

			if (atomic_compare_exchange_strong(&s->claimed, &zero, 1)) {
				memcpy(s->name, name, n + 1);
				atomic_store(&s->claimed, 2);
				return i;
			}
			st = atomic_load(&s->claimed);
		}
		/* Another process is naming this slot: wait for it (a few
		 * stores; a process killed right there leaves it at 1, which
		 * costs only that slot). */
		for (int spin = 0; st == 1 && spin < 1000000; spin++)
			st = atomic_load(&s->claimed);
		if (st == 2 && strcmp(s->name, name) == 0)
			return i;
	}
	return -1;
}

/* Tolerance in ns for burst B and interval T.  The provider counts by the
 * time requests ARRIVE: network and scheduling jitter can bring two requests
 * closer than they left, so PACE_JITTER_NS of the burst is never used. */
static int64_t tolerance(uint32_t burst, int64_t t_ns)
{
	int64_t tau = burst >= 1 ? (int64_t)(burst - 1) * t_ns - PACE_JITTER_NS : 0;

	return tau > 0 ? tau : 0;
}

static int64_t interval_ns(double per_s)
{
	int64_t t = (int64_t)(1e9 / per_s);

	return t > 0 ? t : 1;
}

uint32_t pace_max_units(const struct pace_limits *lim)
{
	int64_t t_ns = interval_ns(lim->units_per_s);

	return (uint32_t)(tolerance(lim->burst, t_ns) / t_ns) + 1;
}

/* Try one GCRA cell.  Returns 0 and sets *new_tat, or the wait in ns. */
static int64_t gcra_check(int64_t tat, int64_t now, int64_t t_ns, int64_t tau, uint32_t n,
			  int64_t *new_tat)
{
	int64_t base = tat > now ? tat : now;
	int64_t next = base + (int64_t)n * t_ns;
	int64_t over = next - now - tau - t_ns;

	/* A request bigger than the whole bucket goes when the bucket is
	 * empty, or it could never go; and its wait is until then, not the
	 * (longer) time a small request would wait, or small requests from
	 * other processes would always get there first. */
	if (over > 0 && (int64_t)n * t_ns > tau + t_ns) {
		if (tat > now)
			return tat - now;
	} else if (over > 0) {
		return over;
	}
	*new_tat = next;
	return 0;
}

int64_t pace_take(pace *p, int slot, const struct pace_limits *lim, uint32_t units, int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t t_ns = interval_ns(lim->units_per_s);
	int64_t tau = tolerance(lim->burst, t_ns);
	int64_t blocked = atomic_load(&s->blocked_until_ns);

	if (blocked > now_ns)
		return blocked - now_ns;
	for (;;) {
		int64_t tat = atomic_load(&s->tat_ns);
		int64_t req_tat = 0, new_tat = 0, new_req = 0, wait;
		int64_t rt_ns = 0;

		wait = gcra_check(tat, now_ns, t_ns, tau, units, &new_tat);
		if (wait > 0)
			return wait;
		if (lim->requests_per_s > 0) {
			rt_ns = interval_ns(lim->requests_per_s);
			req_tat = atomic_load(&s->req_tat_ns);
			wait = gcra_check(req_tat, now_ns, rt_ns, 0, 1, &new_req);
			if (wait > 0)
				return wait;
		}
		if (!atomic_compare_exchange_weak(&s->tat_ns, &tat, new_tat))
			continue;
		if (lim->requests_per_s > 0) {
			/* The request cell: if another process moved it meanwhile,
			 * push it by one interval anyway (never under-count). */
			while (!atomic_compare_exchange_weak(&s->req_tat_ns, &req_tat, new_req)) {
				int64_t base = req_tat > now_ns ? req_tat : now_ns;

				new_req = base + rt_ns;
			}
		}
		return 0;
	}
}

void pace_refund(pace *p, int slot, const struct pace_limits *lim, uint32_t units)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t t_ns = interval_ns(lim->units_per_s);

	if (units > 0)
		atomic_fetch_sub(&s->tat_ns, (int64_t)units * t_ns);
}

void pace_block(pace *p, int slot, int64_t until_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t cur = atomic_load(&s->blocked_until_ns);

	while (cur < until_ns && !atomic_compare_exchange_weak(&s->blocked_until_ns, &cur, until_ns))
		;
}

enum pace_circuit pace_circuit_state(pace *p, int slot, int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	int64_t until = atomic_load(&s->open_until_ns);

	if (until == 0)
		return PACE_CLOSED;
	if (now_ns < until || now_ns < atomic_load(&s->probing))
		return PACE_OPEN;
	return PACE_PROBE;
}

enum pace_circuit pace_circuit_check(pace *p, int slot, const struct pace_limits *lim,
				    int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];
	enum pace_circuit c = pace_circuit_state(p, slot, now_ns);
	int64_t old = atomic_load(&s->probing);

	if (c != PACE_PROBE || now_ns < old)
		return c == PACE_PROBE ? PACE_OPEN : c;
	/* The probe carries a deadline, not a flag: if the process sending it
	 * dies, the probe is given up at the deadline and another may go. */
	int64_t deadline = now_ns + (int64_t)lim->probe_timeout_ms * 1000000LL;
	return atomic_compare_exchange_strong(&s->probing, &old, deadline) ? PACE_PROBE : PACE_OPEN;
}

void pace_probe_cancel(pace *p, int slot)
{
	atomic_store(&p->f->slots[slot].probing, 0);
}

/* Re-open the circuit after a failed probe, for twice the last period. */
static void reopen_longer(struct pace_slot *s, const struct pace_limits *lim, int64_t now_ns)
{
	int64_t shift = atomic_load(&s->open_shift);

	if (shift < PACE_BACKOFF_MAX_SHIFT) {
		shift++;
		atomic_store(&s->open_shift, shift);
	}
	atomic_store(&s->open_until_ns, now_ns + (((int64_t)lim->circuit_open_ms * 1000000LL) << shift));
}

int pace_result(pace *p, int slot, const struct pace_limits *lim, int ok, int is_probe,
		int64_t now_ns)
{
	struct pace_slot *s = &p->f->slots[slot];

	if (ok) {
		atomic_store(&s->failures, 0);
		atomic_store(&s->open_until_ns, 0);
		atomic_store(&s->open_shift, 0);
		atomic_store(&s->probing, 0);
		return 0;
	}
	if (is_probe) {
		/* The provider is still down: wait longer before the next probe. */
		reopen_longer(s, lim, now_ns);
		atomic_store(&s->probing, 0);
		return 1;
	}
	int64_t fails = atomic_fetch_add(&s->failures, 1) + 1;
	int64_t closed = 0;

	if (fails >= (int64_t)lim->circuit_failures &&
	    atomic_load(&s->open_until_ns) == 0) {
		/* One process opens it: the one whose CAS wins. */
		int64_t until = now_ns + (int64_t)lim->circuit_open_ms * 1000000LL;

		if (atomic_compare_exchange_strong(&s->open_until_ns, &closed, until))
			return 1;
	}
	return 0;
}

void pace_publish_limits(pace *p, int slot, const struct pace_limits *lim)
{
	atomic_store(&p->f->slots[slot].milli_units_per_s, (int64_t)(lim->units_per_s * 1000.0));
}

int pace_list(const char *dir, struct pace_view *out, int max)
{
	char why[512];
	struct stat sb;
	struct pace_file *f;
	int fd, n = 0;
	int64_t now = pace_now_ns();

	fd = datadir_open(dir, DATADIR_PACING, O_RDONLY, 0, why, sizeof(why));
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* A file shorter than the mapping (being created) would fault past
	 * its end. */
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < sizeof(*f)) {
		close(fd);
		return 0;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return -1;
	if (f->magic == PACE_MAGIC && f->version == PACE_VERSION) {
		for (int i = 0; i < PACE_MAX_SLOTS && n < max; i++) {
			struct pace_slot *s = &f->slots[i];
			int64_t blocked = atomic_load(&s->blocked_until_ns);
			int64_t open_until = atomic_load(&s->open_until_ns);

			if (atomic_load(&s->claimed) != 2)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			snprintf(out[n].name, sizeof(out[n].name), "%s", s->name);
			out[n].units_per_s = (double)atomic_load(&s->milli_units_per_s) / 1000.0;
			out[n].circuit_open = open_until != 0;
			out[n].blocked_ms = blocked > now ? (blocked - now) / 1000000 : 0;
			n++;
		}
	}
	munmap(f, sizeof(*f));
	return n;
}
