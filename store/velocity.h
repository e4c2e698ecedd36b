/*
 * velocity: how many messages went to a number, a number range and a
 * country lately, pool-wide, against the limits that stop SMS pumping (an
 * attacker who makes the pool send to numbers whose termination fees he
 * collects: premium ranges, many sequential numbers of one range, one
 * country).
 *
 * The counts live in shared memory that every process of the pool maps (a
 * table of slots, one per number, range or country seen lately, each a few
 * windows counted with atomic compare-and-swap): the master makes it before
 * any fork (velocity_table_new()) and each child opens its handle on the
 * mapping it inherits (velocity_open()).  So every ingesting process and
 * every sender sees the same counts without a lock or a write transaction,
 * a process killed at any instant leaves nothing locked, and touching a
 * count never waits for a disk.  The master saves the table into the data
 * directory (<dir>/velocity) now and then and when the pool stops
 * (velocity_table_save()), and the next start loads it: a restart, a
 * reboot, or a standby started on the directory, finds the counts as they
 * were at the last save (windows are of the wall clock).
 *
 * Windows: a number has an hour and a day window for what ingest took and
 * another two for what dispatch sent; a range (the E.164 digits less the last
 * range_digits) a minute and an hour; a country a minute.  Each window is
 * sliding, estimated from the current fixed window and the previous one
 * weighted by how much of it the sliding window still covers (the previous
 * window's events taken as evenly spread): a burst across a window's
 * boundary cannot pass twice the limit, and no per-event history is kept.
 *
 * Limits of 0 are off.  Counts saturate at VELOCITY_COUNT_MAX, above every
 * limit allowed.
 *
 * XXX the table is bounded: a slot whose windows are all past is reused, but
 * when a key finds no slot within VELOCITY_PROBE_MAX (a table too small for
 * the numbers of two days) it is not counted (velocity_admit() lets it pass:
 * the range and country limits still hold) and velocity_stats().full counts
 * it.  Size velocity.slots for the numbers of two days.
 */
#ifndef SMSQ_VELOCITY_H
#define SMSQ_VELOCITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

#define VELOCITY_COUNT_MAX 1000000    /* a window's count saturates here (< 2^20) */
#define VELOCITY_PROBE_MAX 64         /* slots looked at for a key */
#define VELOCITY_SLOTS_MIN 1024       /* the smallest table */
#define VELOCITY_SLOTS_MAX (1L << 26) /* the largest table (4 GiB) */
#define VELOCITY_RANGE_DIGITS_MAX 8   /* range_digits at most */

/* Which limit an event or a send passed (stored nowhere: names only). */
enum velocity_limit {
	VELOCITY_OK = 0,            /* under every limit (and counted) */
	VELOCITY_NUMBER_HOUR = 1,   /* number_per_hour */
	VELOCITY_NUMBER_DAY = 2,    /* number_per_day */
	VELOCITY_RANGE_MINUTE = 3,  /* range_per_minute */
	VELOCITY_RANGE_HOUR = 4,    /* range_per_hour */
	VELOCITY_COUNTRY_MINUTE = 5, /* country_per_minute */
	VELOCITY_LIMIT_COUNT = 6,
};

/* The limits (messages per window; 0: no limit). */
struct velocity_limits {
	uint32_t number_per_hour;    /* to one number, in any hour */
	uint32_t number_per_day;     /* to one number, in any 24 hours */
	uint32_t range_digits;       /* a range is a number less this many last digits
					(1..VELOCITY_RANGE_DIGITS_MAX) */
	uint32_t range_per_minute;   /* to one range, in any minute */
	uint32_t range_per_hour;     /* to one range, in any hour */
	uint32_t country_per_minute; /* to one country, in any minute */
};

typedef struct velocity_table velocity_table;
typedef struct velocity velocity;

/*
 * The shared table of slots keys (a power of two,
 * VELOCITY_SLOTS_MIN..VELOCITY_SLOTS_MAX; 64 bytes each), in shared memory
 * that the caller's children inherit across fork(), its pages taken as
 * they are first used.  The counts saved in <dir>/velocity are loaded
 * (those not yet past at now_ms; into a table of another size too): what
 * was loaded, or why nothing was (a file of another format, unreadable),
 * is said in note (notelen bytes; "" when there was no file).  Returns NULL
 * with err set: a bad argument, no memory, or a file of that name that is
 * a link or no regular file (datadir_open()).
 */
velocity_table *velocity_table_new(const char *dir, uint64_t slots, int64_t now_ms, char *note,
				   size_t notelen, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Write the table into <dir>/velocity, saved at now_ms (wall clock; what
 * is in use of it: the rest is a hole), through <dir>/velocity.new, synced and renamed over the old
 * one: a crash or a full disk leaves the last save as it was.  Safe while
 * other processes count (each word is copied whole; a save is a moment's
 * picture).  Returns 0, or -1 with err set ("disk full: ..." when there was
 * no room).
 */
int velocity_table_save(velocity_table *t, int64_t now_ms, char *err,
			size_t errlen) SMSQ_WARN_UNUSED;

/* Unmap and free (the memory goes with the last process that maps it);
 * sets *t to NULL.  Accepts NULL and *t == NULL. */
void velocity_table_destroy(velocity_table **t);

/*
 * A handle on t with limits (copied), for one process: the process that
 * made t, or a child of it.  Returns NULL with err set (a bad limit).
 */
velocity *velocity_open(velocity_table *t, const struct velocity_limits *limits, char *err,
			size_t errlen) SMSQ_WARN_UNUSED;

/* Free the handle (the table stays); sets *v to NULL.  Accepts NULL and
 * *v == NULL. */
void velocity_close(velocity **v);

/* Whether any ingest limit is set (else velocity_admit() always passes). */
int velocity_ingest_on(const velocity *v);

/*
 * Ingest: whether one more message to e164 (E.164, "+" and digits) in
 * country (ISO 3166 alpha-2, may be "" or NULL: no country limit) at
 * now_ms (wall clock) stays under every limit.  If so it is counted in each
 * window and VELOCITY_OK returned; else the first limit it would pass is
 * returned (in enum order) and nothing is counted.  Safe from any thread
 * and process; two processes admitting to one key at the same instant may
 * both pass the last place (callers serialise: ingest admits inside the
 * store's write transaction).
 */
enum velocity_limit velocity_admit(velocity *v, const char *e164, const char *country,
				   int64_t now_ms);

/* Take back what velocity_admit() counted for the same arguments (the
 * message was not stored after all).  A window that moved on meanwhile is
 * left as it is. */
void velocity_undo(velocity *v, const char *e164, const char *country, int64_t now_ms);

/*
 * Dispatch: whether one more send to e164 at now_ms stays under
 * number_per_hour and number_per_day counted on sends (what ingest took
 * over several hours may go out in one); if so it is counted and
 * VELOCITY_OK returned, else VELOCITY_NUMBER_HOUR or _DAY and nothing
 * counted.  Cheap: one hash, one or two cache lines.
 */
enum velocity_limit velocity_send(velocity *v, const char *e164, int64_t now_ms);

/* What a window holds now, for tests and ops: the sliding estimate of
 * which (VELOCITY_NUMBER_HOUR ... _COUNTRY_MINUTE) for e164 / country at
 * now_ms, of ingest (sends = 0) or of dispatch (sends = 1, number windows
 * only).  0 when the key has no slot. */
uint32_t velocity_count(velocity *v, enum velocity_limit which, int sends, const char *e164,
			const char *country, int64_t now_ms);

/* The range key of e164 (its digits less the last range_digits, "+"
 * kept) into out (at least 24 bytes).  Returns its length, 0 when the
 * number is too short to have a range. */
size_t velocity_range(const velocity *v, const char *e164, char *out, size_t outlen);

/* Table use, for metrics: slots in use now, and keys not counted for want of
 * a slot since the file was made. */
struct velocity_stats {
	uint64_t slots;  /* capacity */
	uint64_t used;   /* slots with a key whose windows are not all past */
	uint64_t full;   /* keys not counted: no slot within VELOCITY_PROBE_MAX */
};

/* Scan the table (slots * 64 bytes: for a monitor once in a while, not a
 * hot path). */
void velocity_stats(velocity *v, int64_t now_ms, struct velocity_stats *out);

/* "number_per_hour", ... for a limit; "ok" for VELOCITY_OK. */
const char *velocity_limit_name(enum velocity_limit l);

/* The configured value of a limit (0: off). */
uint32_t velocity_limit_value(const velocity *v, enum velocity_limit l);

#endif
