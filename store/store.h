/*
 * store: the durable queue, an LMDB environment shared by every smsq process.
 *
 * Contract
 * - One environment per node (a data directory).  Any number of processes
 *   open it; writes are serialised by LMDB (one write transaction at a time,
 *   pool-wide); readers never block and never block writers.
 * - Every stored message is in exactly one state (enum store_state), and the
 *   per-state counters change in the same transaction as the message, so
 *   store_stats() is exact and O(1).
 * - A function that returns STORE_OK has committed and synced its
 *   transaction: what it reports is on disk.  Any other return has changed
 *   nothing.
 * - Open the store after fork(), never before (LMDB caveat); each process
 *   opens its own handle.  A handle is for one thread.
 *
 * Only the store's own files include lmdb.h (store/store_impl.h: env,
 * record, queue, booking, purge, receipt, read).
 */
#ifndef SMSQ_STORE_H
#define SMSQ_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

/* Message states (docs/DESIGN.md, invariant 3).  Values are stored on disk:
 * never renumber. */
enum store_state {
	STORE_STATE_DELAYED = 0,   /* waiting for its not-before or retry time */
	STORE_STATE_READY = 1,     /* due: in the ready index, most urgent first */
	STORE_STATE_INFLIGHT = 2,  /* leased by a worker until its lease ends */
	STORE_STATE_SENT = 3,      /* accepted by the provider */
	STORE_STATE_DELIVERED = 4, /* delivery report received */
	STORE_STATE_FAILED = 5,    /* permanent failure, with its reason */
	STORE_STATE_EXPIRED = 6,   /* past its expiry: never sent */
	STORE_STATE_SUPERSEDED = 7, /* withdrawn by a newer event of its booking: never sent */
	STORE_STATE_CANCELLED = 8, /* withdrawn by an operator (smsqctl cancel): never sent */
	STORE_STATE_UNDELIVERED = 9, /* sent, and its delivery report says it was not delivered */
	STORE_STATE_HELD = 10,     /* stored over an admission limit (the velocity limits
				      with hold): not sent until an operator requeues it;
				      expired at its expiry */
	STORE_STATE_COUNT = 11,
	STORE_STATE_SLOTS = 16,    /* room for states to come in the stored counters */
};

/* What a booking event says (the protocol's Kind; stored: never renumber). */
enum store_kind {
	STORE_KIND_NONE = 0,        /* not known (a message stored before schema 5) */
	STORE_KIND_CONFIRMED = 1,
	STORE_KIND_RESCHEDULED = 2,
	STORE_KIND_CANCELLED = 3,
	STORE_KIND_REMINDER = 4,
	STORE_KIND_COUNT = 5,
};

/* Whether a cancellation is sent when the patient was told nothing of the
 * booking (store_ingest(), "the latest truth per booking" below). */
enum store_cancel_notice {
	STORE_NOTICE_IF_TOLD = 0, /* withdrawn when every earlier message of its
				     booking was withdrawn before it was sent */
	STORE_NOTICE_ALWAYS = 1,  /* always sent */
};

/* How a text is encoded on the air (stored: never renumber). */
enum store_encoding {
	STORE_ENC_UNKNOWN = 0, /* not recorded */
	STORE_ENC_GSM7 = 1,    /* GSM 03.38 default alphabet */
	STORE_ENC_UCS2 = 2,    /* UCS-2 / UTF-16 */
};

/* Return codes. */
enum store_rc {
	STORE_OK = 0,        /* done, committed and synced */
	STORE_ERROR = -1,    /* failed; store_errmsg() says why; nothing changed */
	STORE_FULL = -2,     /* no room: the map at its configured maximum (for ingest:
				at store_ingest_limit()), or the disk full (store_errmsg()
				then starts "disk full"): retry later */
	STORE_NOTFOUND = -3, /* no such message */
};

/* Per-message result of store_ingest(). */
enum store_ingest_result {
	STORE_INGEST_ACCEPTED = 0,  /* stored now under a new id */
	STORE_INGEST_DUPLICATE = 1, /* the idempotency key was already stored */
	STORE_INGEST_REFUSED = 2,   /* a new key the admission hook refused: nothing
				       stored (store_set_admit()) */
	STORE_INGEST_HELD = 3,      /* a new key the hook refused, stored held
				       (store_set_admit(), hold) */
};

#define STORE_IDEM_MAX 128          /* longest idempotency key, bytes */
#define STORE_TO_MAX 23             /* longest destination (E.164 is 16), bytes */
#define STORE_TEXT_MAX 4096         /* longest text to send, bytes */
#define STORE_NOTE_MAX 160          /* provider id or reason kept, bytes */
#define STORE_BOOKING_MAX 128       /* longest booking id, bytes */
#define STORE_PRIORITY_MAX 9        /* priorities are 0..9, 9 most urgent */
#define STORE_DEFAULT_MAP_BYTES (256ULL << 20)
#define STORE_DEFAULT_MAP_MAX_BYTES (64ULL << 30)

typedef struct store store;

struct store_opts {
	const char *dir;              /* data directory; created unless read_only */
	uint64_t map_bytes;           /* initial map size (0: default 256 MiB) */
	uint64_t map_max_bytes;       /* growth ceiling (0: default 64 GiB) */
	int read_only;                /* 1: open for reading only (smsqctl) */
	int record_ceiling;           /* 1: write map_max_bytes into the store for
					 store_stats() (the pool, holding its lock) */
	int64_t retention_ms;         /* final messages are purged this long after they
					 became final (0: STORE_DEFAULT_RETENTION_MS) */
	int64_t keys_ms;              /* their idempotency keys are kept this long after
					 (0: as long as the message; never less) */
	uint64_t outbox_max;          /* with record_ceiling: outcomes kept for the
					 backend, at most (0: no outbox); recorded in the
					 store, which every handle then follows */
	int64_t personal_ms;          /* the personal fields of a final message are
					 erased this long after it became final (0:
					 STORE_DEFAULT_PERSONAL_MS; at most retention_ms) */
	const unsigned char *seal_key; /* SEAL_KEY_BYTES (common/seal.h): personal
					 fields encrypted at rest under this key
					 (copied), NULL: none; see "encryption at
					 rest" below */
};

/*
 * Open (creating if needed) the store in opts->dir.
 * Returns a handle, or NULL with a message in err (errlen bytes, always
 * NUL-terminated) when the directory or the environment cannot be used.
 * Caller closes with store_close().
 */
store *store_open(const struct store_opts *opts, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Encryption at rest.  With store_opts.seal_key, a message's personal
 * fields are written sealed (authenticated encryption bound to its id):
 * its packed event, and its destination and text (in its record and in
 * the sending copy of its ready entry); the sentby index names a number
 * by its keyed hash; numbers in a retry's or a failure's note are masked
 * when it is written.  Ids, idempotency keys, booking ids, kinds, states,
 * notes, times and counters stay in clear.  The first writer with a key
 * stores a key check in the store; a handle opened with another key is
 * refused (store_open() fails), and so is the pool's handle
 * (record_ceiling) without one on a store that has a check.  Other
 * handles without the key open, read everything but the sealed fields
 * (store_get(): sealed), and refuse what needs them: store_ingest(),
 * store_lease(), store_receipts(), store_purge() (its erasure).  A record
 * that does not open with the right key (altered bytes) is never sent: a
 * lease makes it failed, its note STORE_NOTE_UNSEALED's text "store:
 * cannot decrypt ...".  Records written without a key stay readable.
 */

/*
 * A second handle on s's environment, for another thread of this process
 * (LMDB allows one environment per process).  Calls on either handle may
 * come from different threads at once: they run one at a time, each with
 * its own store_errmsg().  Each handle is closed with store_close(); the
 * environment closes with the last.  Returns NULL with a message in err on
 * out of memory.
 */
store *store_share(store *s, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Close the handle and set *s to NULL.  Accepts NULL and *s == NULL. */
void store_close(store **s);

/* The message of the last failure on this handle (valid until the next call
 * on it).  Never NULL. */
const char *store_errmsg(const store *s);

/* Clear reader slots left by processes that died (LMDB mdb_reader_check).
 * Returns the number cleared, or -1. */
int store_reader_check(store *s) SMSQ_WARN_UNUSED;

/*
 * One new message for store_ingest().  Input pointers are borrowed for the
 * duration of the call; the store copies what it keeps.
 */
struct store_new {
	const char *idem_key;    /* idempotency key, 1..STORE_IDEM_MAX bytes */
	size_t idem_len;         /* its length */
	const void *event;       /* the packed BookingEvent, kept as received */
	size_t event_len;        /* its length */
	const char *to;          /* destination, E.164 (0..STORE_TO_MAX bytes) */
	char to_buf[24];         /* room for a normalised destination (to may point here) */
	size_t to_len;           /* its length */
	const char *text;        /* the text to send, UTF-8 (0..STORE_TEXT_MAX bytes) */
	size_t text_len;         /* its length */
	uint16_t segments;       /* SMS parts the text costs (pacing counts them) */
	uint8_t encoding;        /* enum store_encoding */
	uint16_t segments_saved; /* parts smart encoding saved on this text (stats) */
	int64_t created_ms;      /* booking time, ms since epoch */
	int64_t not_before_ms;   /* not to be sent before (0: now) */
	int64_t expires_ms;      /* pointless after */
	int64_t appointment_ms;  /* ordering within a priority: soonest first (to
				    store_urgency_ms()'s precision) */
	uint8_t priority;        /* 0..STORE_PRIORITY_MAX */
	const char *booking;     /* booking id (0..STORE_BOOKING_MAX bytes, no NUL; none:
				    the message takes no part in superseding) */
	size_t booking_len;      /* its length */
	uint8_t kind;            /* enum store_kind */
	uint8_t cancel_notice;   /* enum store_cancel_notice (a cancellation) */
	char region[3];          /* the destination's country (ISO 3166 alpha-2, "" not
				    known), for the admission hook */
	/* Out, set when store_ingest() returns STORE_OK: */
	enum store_ingest_result result; /* accepted, duplicate or refused */
	int refused;             /* refused: the admission hook's code */
	uint64_t id;             /* the message id (new, or the existing one) */
	uint8_t state;           /* accepted: its state (delayed, ready, or superseded
				    on arrival) */
	uint32_t withdrew;       /* accepted: older messages of its booking it withdrew */
};

/*
 * The time a message with this appointment, stored at now_ms, is ordered by
 * in the ready index (and the done index): the appointment itself when it
 * is less than 4 hours away, else the appointment rounded down to a grid
 * (of epoch time) as fine as 1/4 of how far away it is: 1 hour when it is
 * 4 to 24 hours away, 6 hours for 1 to 4 days, 1 day for 4 to 16 days, 4
 * days beyond (and never below the start of its band: of two messages
 * stored at one time, the later appointment never sorts first).  So the
 * soonest appointments come first, to the millisecond where it matters, and
 * messages whose appointments share a step keep their arrival (id) order: a
 * batch of new messages lands in a few places of the index, not one page
 * per message, so a commit copies and writes a few pages whatever the size
 * of its batch.  Never after the appointment.
 */
int64_t store_urgency_ms(int64_t appointment_ms, int64_t now_ms);

/*
 * Room kept for sending: ingest stops taking new messages once the pages in
 * use (the file's pages less LMDB's free list) would pass this limit, an
 * eighth of the map ceiling below it (at most 256 MiB below).  Leases and
 * outcomes may use the rest, so a store whose ingest is full still sends
 * (and sending moves entries out of the ready index, which frees pages
 * ingest can use again).
 */
uint64_t store_ingest_limit(uint64_t map_max_bytes);

/*
 * The latest truth per booking.  Messages with a booking id are indexed by
 * it, with their event's created-at.  An event is newer than another of its
 * booking when its created-at is later (not when it arrived later; equal
 * times are neither newer nor older).  A newer event supersedes an older
 * one still waiting, which then goes to state superseded (never sent):
 * any newer event supersedes any older one, except that a reminder
 * supersedes only older reminders (it does not take back a confirmation).
 * - At ingest, a new message withdraws the older messages of its booking it
 *   supersedes that are ready or delayed to their not-before; one that
 *   arrives when a newer event that supersedes it is stored is itself
 *   superseded on arrival (stored, acknowledged as accepted, never sent).
 * - A message in flight is not recalled.  One that comes back to the queue
 *   (a retry or a lease that ran out, when it is due again; a release) is
 *   superseded then, if a newer event says so.
 * - A cancellation with STORE_NOTICE_IF_TOLD is itself superseded when the
 *   store knows earlier messages of its booking and none of them was sent,
 *   is in flight, or may have gone out (a retry after an ambiguous
 *   timeout): the patient never heard of the booking.  Judged when the
 *   cancellation arrives, and again when an older message of its booking
 *   arrives after it while it still waits.
 * Idempotency keys come first: a duplicate key changes nothing.
 */

/*
 * Store a batch of new messages in one write transaction (group commit):
 * each gets an id, a state (delayed if its not-before is after now_ms, else
 * ready; superseded when a newer event of its booking is stored), its index
 * entries, and the counters move with it; older messages of its booking go
 * to superseded as said above.  A key already stored, or repeated earlier
 * in the same batch, is a duplicate: nothing is stored for it and its
 * existing id is reported.
 *
 * Returns STORE_OK once the transaction is committed and synced (every
 * msgs[i].result and .id then set); STORE_FULL when the batch would pass
 * store_ingest_limit() or the disk is full; STORE_ERROR on any other
 * failure.  On any error nothing of the
 * batch is stored.  The map grows by itself (doubling up to map_max_bytes).
 */
int store_ingest(store *s, struct store_new *msgs, size_t n, int64_t now_ms) SMSQ_WARN_UNUSED;

/*
 * Admission of new messages (the velocity limits, store/velocity.h): with a
 * hook set on a handle, store_ingest() on it asks admit() about each message
 * whose key is new, inside its write transaction, after the duplicate check
 * (a resend of a stored event is a duplicate whatever the hook would say)
 * and before anything of it is written.  admit() returns 0 to store it, or
 * a code > 0: the message is then not stored (result STORE_INGEST_REFUSED,
 * refused = the code), or, with hold set, stored in state STORE_STATE_HELD
 * (result STORE_INGEST_HELD, refused = the code, its note "held: " and
 * name(code)): kept under its key (a resend is a duplicate), never leased,
 * until store_requeue() releases it, store_cancel() or a newer event of its
 * booking withdraws it, or its expiry passes.  When the transaction does not commit after all (an
 * error, or a replay after the map grew), undo() is called for each message
 * admit() let through in it, so that the hook counts only what was stored.
 * Both run with LMDB's write lock held, one transaction at a time pool-wide:
 * they must be quick and must not call the store.
 */
struct store_admit {
	int (*admit)(void *arg, const struct store_new *m, int64_t now_ms); /* 0 or a code */
	void (*undo)(void *arg, const struct store_new *m, int64_t now_ms); /* take it back */
	void *arg;               /* given to both */
	int hold;                /* 1: store what admit() refuses, held */
	const char *(*name)(int code); /* with hold: what a code is called (the note) */
};

/* Set (a copied) or clear (NULL) this handle's admission hook. */
void store_set_admit(store *s, const struct store_admit *a);

/* A snapshot of the store, read in one read transaction. */
struct store_stats {
	uint64_t count[STORE_STATE_COUNT]; /* messages per state */
	uint64_t total;                    /* all messages ever stored */
	uint64_t segments_waiting;         /* SMS parts of the waiting messages */
	uint64_t attempts;                 /* send attempts (leases) ever */
	uint64_t retries;                  /* outcomes "retry later" ever */
	uint64_t ambiguous;                /* of which after an ambiguous timeout */
	uint64_t lease_expired;            /* leases that ran out (a worker died) */
	uint64_t segments_saved;           /* SMS parts saved by smart encoding, ever */
	uint64_t segments_withdrawn;       /* SMS parts of messages superseded or cancelled
					      before they were sent, ever */
	uint64_t superseded_ever;          /* messages superseded, ever */
	uint64_t cancelled_ever;           /* messages cancelled by an operator, ever */
	uint64_t requeued_ever;            /* messages requeued by an operator, ever */
	uint64_t purged_ever;              /* final messages purged, ever (total less these
					      is what the store holds) */
	uint64_t keys_kept;                /* keys of purged messages still kept */
	uint64_t receipts_held;            /* receipts waiting for their send's outcome */
	uint64_t outbox;                   /* outcomes waiting to be handed to the backend */
	uint64_t outbox_dropped;           /* outcomes dropped from a full outbox, ever */
	uint64_t unsealed_ever;            /* messages failed, never sent, because their
					      sealed fields did not open (store: cannot
					      decrypt), ever */
	int64_t next_due_ms;               /* earliest delayed/lease time, 0: none */
	uint64_t waiting;                  /* delayed + ready + in flight */
	uint64_t oldest_waiting_id;        /* 0 when nothing waits */
	int64_t oldest_waiting_created_ms; /* its creation time (0: none) */
	uint64_t map_bytes;                /* current map size */
	uint64_t used_bytes;               /* the file's pages (its high-water mark) * page size */
	uint64_t free_bytes;               /* of which on LMDB's free list (reused by writes) */
	uint64_t file_bytes;               /* data.mdb size on disk (allocated, up to its size) */
	uint64_t reserve_bytes;            /* blocks allocated past its end, kept so that
					      sending can commit on a full disk */
	uint64_t map_max_bytes;            /* the map ceiling the pool last opened with (0:
					      unknown) */
	int ingest_full;                   /* ingest refuses new events: pages in use near
					      store_ingest_limit(map_max_bytes) */
	uint64_t disk_avail_bytes;         /* room left on the data directory's filesystem */
	uint64_t disk_total_bytes;         /* its size */
	int disk_full;                     /* that filesystem is full (datadir_disk_full()) */
};

/* Read a consistent snapshot.  Returns STORE_OK or STORE_ERROR.  Cheap
 * (counters, two cursor reads): fine to call many times a second. */
int store_stats(store *s, struct store_stats *out) SMSQ_WARN_UNUSED;

/* Waiting messages set against a time (store_due_before()). */
struct store_due {
	uint64_t due;            /* waiting and due by then: ready, in flight, and
				    delayed whose time comes by then */
	uint64_t before;         /* of which with an appointment before then */
	int complete;            /* 0: the walk stopped at its limit (both are
				    then lower bounds) */
};

/*
 * How many waiting messages are due by end_ms and how many of them have
 * an appointment before end_ms: what a drain that ends then leaves late.
 * Reads the ready index one priority at a time, only as far as its
 * urgency (never after the appointment) is before end_ms, and the delayed
 * index as far as end_ms, each candidate's record for its appointment:
 * the cost is the number of candidates, not the backlog, and at most
 * max_walk entries are read (out->complete says whether that was all).
 * One read transaction.  Returns STORE_OK or STORE_ERROR.
 */
int store_due_before(store *s, int64_t end_ms, uint64_t max_walk, struct store_due *out)
	SMSQ_WARN_UNUSED;

/* ---- requeueing -------------------------------------------------------- */

/* What store_requeue() did with one message. */
enum store_requeue_result {
	STORE_REQUEUED = 0,          /* back in the queue: due now, attempts from 0 */
	STORE_REQUEUE_NOT_FINAL = 1, /* not failed, expired or held: left as it is */
	STORE_REQUEUE_PASSED = 2,    /* its appointment or expiry has passed, and not forced */
	STORE_REQUEUE_NOT_FOUND = 3, /* no such message */
	STORE_REQUEUE_ERASED = 4,    /* its personal fields were erased: it cannot be sent */
};

#define STORE_REQUEUE_MAX 1000         /* ids one call takes (one transaction) */
#define STORE_REQUEUE_GRACE_MS 3600000 /* a forced message past its appointment may
					  still go within this long */

/*
 * Put failed or expired messages back in the queue, due now, their
 * attempts counted from 0 again and their note "requeued by an operator":
 * they are sent as if new (the provider may refuse one the same way
 * again).  A held message is released the same way (due at its not-before
 * if that is later; note "released by an operator").  One whose appointment or expiry has passed is requeued only
 * when force is set; its expiry then becomes its appointment when that is
 * still ahead, else now + STORE_REQUEUE_GRACE_MS (the record's expiry is
 * rewritten).  At most STORE_REQUEUE_MAX ids, in one write transaction;
 * results[i] says what became of ids[i].  Returns STORE_OK (committed and
 * synced), STORE_FULL (the disk) or STORE_ERROR (nothing changed).
 */
int store_requeue(store *s, const uint64_t *ids, size_t n, int64_t now_ms, int force,
		  enum store_requeue_result *results) SMSQ_WARN_UNUSED;

/* ---- retention and erasure ----------------------------------------------
 *
 * Personal data first.  A final message's personal fields are erased
 * personal_ms after it became final (store_opts; never later than its
 * purge): its destination is replaced by its masked form ("+33*******78",
 * as logs show it), its packed event (names, place, number) and its text
 * by zeros of the same length, numbers in its note masked, and its entry in
 * the receipts' sentby index (which names it by its number) deleted.  What
 * stats, receipts, smsqctl and audits need stays: the id, the key, the
 * booking id, the kind, the state and its note, the times, the provider,
 * the attempts, the SMS parts.  So a resend of its key is still a
 * duplicate, a newer event of its booking still sees it, and a receipt
 * naming it by id is still recorded (one naming it by provider id and
 * number only is held, then forgotten, as for a message never recorded).
 * store_get() says erased; an erased message cannot be requeued.  Receipts
 * held by a number are forgotten after personal_ms too, and numbers in the
 * notes of outcomes still in the outbox after personal_ms are masked.
 * LMDB leaves the old copy of every page it rewrites in the file until it
 * reuses it, and stale bytes in the unused middle of the pages it writes:
 * after a step that erased or purged, the sweep also zeroes, over a few
 * passes of the file, the free pages no reader can still see and the
 * unused middle of the others, so erased bytes leave data.mdb itself.
 *
 * A final message (sent, delivered, failed, expired, superseded, cancelled)
 * is kept retention_ms after it became final, for smsqctl and the stats;
 * then it is purged: its record, its index entries and its booking entry
 * go.  Its idempotency key stays keys_ms after it became final (a resend is
 * still a duplicate meanwhile: the record is then a tombstone of the key
 * alone), then goes too.  A purged message is not found (STORE_NOTFOUND)
 * and no longer counted in its state; store_stats() counts the purged ones
 * and the keys kept.
 *
 * store_purge() does a bounded part of that work: a sweep of the messages
 * in id order, continued where the previous call stopped and starting over
 * at the end.  A store that ingest finds full purges by itself before it
 * refuses events (store_ingest()): final messages older than
 * STORE_PURGE_FLOOR_MS then go even before their retention (their keys are
 * kept as for any purged message).
 */

#define STORE_DEFAULT_RETENTION_MS (7LL * 86400000)
#define STORE_DEFAULT_PERSONAL_MS (2LL * 86400000)
#define STORE_PURGE_FLOOR_MS 3600000LL  /* a full store purges what is final this long */
#define STORE_PURGE_VISIT 1024          /* messages one store_purge() call looks at */
#define STORE_SCRUB_PAGES 512           /* pages of data.mdb one store_purge() call checks */

/* What one store_purge() call did. */
struct store_purged {
	size_t visited;          /* messages looked at */
	size_t purged;           /* final messages purged (their keys perhaps kept) */
	size_t keys_dropped;     /* keys forgotten (their messages purged before) */
	int wrapped;             /* the sweep reached the last message and starts over */
	size_t erase_visited;    /* messages the erasure sweep looked at */
	size_t erased;           /* messages whose personal fields were erased */
	int erase_wrapped;       /* the erasure sweep came round and starts over */
	size_t pages_zeroed;     /* free pages of the file overwritten with zeros */
};

/*
 * Purge what the retention allows among the next max_visit messages of the
 * sweep (at most STORE_PURGE_VISIT), and erase the personal fields the
 * erasure window allows among the next max_visit messages of its own sweep,
 * in one write transaction (none when there is nothing to do); first, after
 * such work, zero the free space of up to STORE_SCRUB_PAGES pages of the
 * file (written and synced outside the transaction: bytes no reader
 * reads).  A round of
 * both sweeps (out->wrapped and out->erase_wrapped each seen once) has done
 * what is due.  Returns STORE_OK (out filled), STORE_FULL (the disk) or
 * STORE_ERROR.
 */
int store_purge(store *s, int64_t now_ms, size_t max_visit, struct store_purged *out)
	SMSQ_WARN_UNUSED;

/* ---- delivery receipts -------------------------------------------------
 *
 * A provider reports later whether a message it took reached the handset.
 * store_receipts() records such reports: the message goes to delivered or
 * undelivered (final), its note the provider's id and what the report said,
 * and the report's own time decides between two reports of one message (a
 * "delivered" after an "undelivered" is the truth only if it is newer).  A
 * report for a message whose send is not recorded yet (in flight, or delayed
 * for a retry after an ambiguous timeout) is held and applied when it is: a
 * retry that comes due with a report held is not sent again.  A report for a
 * message waiting to be sent (a retry after an ambiguous timeout that did go
 * out) is applied at once: it is not sent again either.
 *
 * A report may name its message by the provider's id and the recipient
 * only (Sinch: a batch id names many messages): a send recorded with
 * store_outcome.receipt_to is indexed so, until the message is purged.  Such
 * a report that comes before its send is recorded is held by that name
 * until it is (or, for a send never recorded, for the retention).
 */

#define STORE_RECEIPT_STATUS_MAX 32 /* the provider's status word, bytes incl. NUL */
#define STORE_RECEIPT_ERROR_MAX 32  /* the provider's error code, bytes incl. NUL */
#define STORE_RECEIPTS_MAX 4096     /* receipts one call takes (one transaction) */

/* What store_receipts() did with one receipt. */
enum store_receipt_result {
	STORE_RECEIPT_RECORDED = 0, /* the message is now delivered or undelivered */
	STORE_RECEIPT_REPEATED = 1, /* the same report again: nothing changed */
	STORE_RECEIPT_OLDER = 2,    /* older than the one recorded: kept the newer */
	STORE_RECEIPT_HELD = 3,     /* its send is not recorded yet: held until it is */
	STORE_RECEIPT_UNKNOWN = 4,  /* no such message (purged, or never ours) */
	STORE_RECEIPT_RESULTS = 5,
};

/* One delivery report, as the receipt endpoint read it. */
struct store_receipt {
	uint64_t id;                 /* the message (from our reference); 0: the one
					whose send was recorded with this provider_id
					and to (store_outcome.receipt_to) */
	int delivered;               /* 1 delivered, 0 not (expired in the network,
					rejected by the operator, ...) */
	int64_t at_ms;               /* the report's own time (the provider's), wall clock */
	char provider_id[96];        /* the provider's id of the message ("": unknown) */
	char status[STORE_RECEIPT_STATUS_MAX]; /* the provider's status ("DELIVRD", ...) */
	char error[STORE_RECEIPT_ERROR_MAX];   /* its error code ("": none) */
	char to[STORE_TO_MAX + 1];   /* with id 0: the recipient ("+" optional) */
	enum store_receipt_result result;      /* out */
};

/* Record n receipts (at most STORE_RECEIPTS_MAX) in one write transaction;
 * r[i].result says what came of each.  Returns STORE_OK (committed and
 * synced: the caller may answer the provider 2xx), STORE_FULL (the disk)
 * or STORE_ERROR (nothing recorded: the provider must send them again). */
int store_receipts(store *s, struct store_receipt *r, size_t n, int64_t now_ms)
	SMSQ_WARN_UNUSED;

/*
 * Sent messages with no delivery report yet, sent before a time: those a
 * report should have come for.  The final messages are walked a slice at
 * a time (each store_unreported_step() its own read transaction, at most
 * max_visit entries), so that a long walk neither holds old pages nor
 * takes a thread for long; a pass's count is exact for the messages it
 * saw (one sent meanwhile behind the walk is counted by the next pass).
 */
struct store_unreported {
	unsigned char at[24];    /* where the next slice starts (opaque) */
	size_t at_len;           /* 0: at the start of a pass */
	uint64_t counting;       /* the pass so far */
	uint64_t last;           /* the last whole pass's count */
	int passes;              /* whole passes made */
};

/* One slice of the walk: sent messages whose send is older than before_ms
 * are counted; at the end of a pass, u->last is set, u->passes grows and
 * the next pass begins.  Returns STORE_OK or STORE_ERROR. */
int store_unreported_step(store *s, struct store_unreported *u, int64_t before_ms,
			  size_t max_visit) SMSQ_WARN_UNUSED;

/* ---- the outbox ---------------------------------------------------------
 *
 * When the store has an outbox (store_opts.outbox_max, recorded by the
 * pool), every move of a message into a final state (sent, delivered,
 * undelivered, failed, expired, superseded, cancelled) writes an outcome
 * into it, in the same transaction: what the booking backend is told,
 * exactly as reliably as the events came in.  Outcomes are numbered in the
 * order they were written; the pusher reads them in that order
 * (store_outbox_read()) and removes those the backend took
 * (store_outbox_done()).  A full outbox drops its oldest outcome for each
 * new one (counted: outbox_dropped), so that sending never waits for the
 * backend.
 */

#define STORE_OUTBOX_DONE_MAX 4096 /* outcomes one store_outbox_done() removes */

/* One outcome, as store_outbox_read() gives it. */
struct store_outbox_entry {
	uint64_t seq;                        /* its number in the outbox (1, 2, ...) */
	char uid[24];                        /* this store's id: with seq, the outcome's
						unique id ("<uid>-<seq>") */
	uint64_t id;                         /* the message */
	enum store_state state;              /* what became of it */
	uint8_t kind;                        /* enum store_kind of its event */
	int64_t at_ms;                       /* when (wall clock) */
	char idem_key[STORE_IDEM_MAX + 1];   /* its event's idempotency key */
	char booking[STORE_BOOKING_MAX + 1]; /* its event's booking id ("": none) */
	char note[STORE_NOTE_MAX + 1];       /* the provider's id, the reason, or what
						superseded it */
};

/* The outcomes after seq `after` (0: from the first), in order, at most max
 * into out.  One read transaction.  Returns how many, or -1 (store_errmsg()). */
long store_outbox_read(store *s, uint64_t after, struct store_outbox_entry *out, size_t max)
	SMSQ_WARN_UNUSED;

/* Remove the outcomes up to seq upto (at most STORE_OUTBOX_DONE_MAX of them:
 * call again while *more).  One write transaction.  Returns STORE_OK,
 * STORE_FULL (the disk) or STORE_ERROR. */
int store_outbox_done(store *s, uint64_t upto, int *more) SMSQ_WARN_UNUSED;

/* ---- cancelling and bookings --------------------------------------------- */

/* What store_cancel() did with one message. */
enum store_cancel_result {
	STORE_CANCELLED = 0,          /* withdrawn: state cancelled, never sent */
	STORE_CANCEL_FINAL = 1,       /* already final (sent, failed, ...): left as it is */
	STORE_CANCEL_IN_FLIGHT = 2,   /* being sent now: not recalled */
	STORE_CANCEL_NOT_FOUND = 3,   /* no such message */
};

#define STORE_CANCEL_MAX 1000 /* ids one call takes (one transaction) */

/*
 * Withdraw waiting messages (delayed or ready) for good: state cancelled,
 * note "cancelled by an operator", never sent.  A message in flight is not
 * recalled.  At most STORE_CANCEL_MAX ids, in one write transaction;
 * results[i] says what became of ids[i].  Returns STORE_OK (committed and
 * synced), STORE_FULL (the disk) or STORE_ERROR (nothing changed).
 */
int store_cancel(store *s, const uint64_t *ids, size_t n, int64_t now_ms,
		 enum store_cancel_result *results) SMSQ_WARN_UNUSED;

/* The ids of booking's messages, oldest event first (then by id), at most
 * max into ids.  Returns how many there are (may be more than max), or -1
 * (store_errmsg()). */
long store_booking(store *s, const char *booking, size_t booking_len, uint64_t *ids, size_t max)
	SMSQ_WARN_UNUSED;

const char *store_kind_name(enum store_kind kind);

/* ---- pausing ------------------------------------------------------------
 *
 * An operator may pause sending through one provider, or all sending, for as
 * long as an incident lasts: the store keeps it (it outlives restarts and
 * reboots), and the pacing file carries it to the running workers at once
 * (pace_set_paused(): smsqctl writes both, the pool's master copies the
 * store's into the pacing file at start).  Messages wait as they are;
 * requests already out finish.
 */

#define STORE_PAUSE_ALL "*"   /* the name that pauses all sending */
#define STORE_PAUSE_NAME_MAX 31
#define STORE_PAUSE_MAX 17    /* every provider slot and "*" */

struct store_pause {
	char name[STORE_PAUSE_NAME_MAX + 1]; /* a provider's name, or STORE_PAUSE_ALL */
	int64_t since_ms;                    /* when it was paused (wall clock) */
};

/* Pause (paused = 1) or resume (0) name: a provider's name (1 to
 * STORE_PAUSE_NAME_MAX bytes) or STORE_PAUSE_ALL.  One write transaction.
 * Pausing what is paused keeps its first time.  Returns STORE_OK (done, or
 * already so: *changed says which, may be NULL), STORE_FULL (the disk), or
 * STORE_ERROR. */
int store_pause(store *s, const char *name, int paused, int64_t now_ms, int *changed)
	SMSQ_WARN_UNUSED;

/* What is paused, in name order ("*" first), at most max.  Returns how many
 * were written to out, or -1 (store_errmsg()). */
int store_paused(store *s, struct store_pause *out, int max) SMSQ_WARN_UNUSED;

/* A stored message, as read back (for smsqctl and tests). */
struct store_msg {
	uint64_t id;                 /* message id */
	enum store_state state;      /* current state */
	uint8_t priority;            /* 0..9 */
	uint16_t attempts;           /* send attempts so far */
	int64_t created_ms;          /* booking time */
	int64_t not_before_ms;       /* scheduled send time */
	int64_t expires_ms;          /* expiry */
	int64_t appointment_ms;      /* appointment */
	int64_t urgency_ms;          /* what ready and done are ordered by (the
					appointment, to store_urgency_ms()'s precision) */
	int64_t due_ms;              /* delayed: due time; in flight: lease end */
	int64_t updated_ms;          /* last state change */
	uint16_t segments;           /* SMS parts */
	enum store_encoding encoding; /* GSM-7 or UCS-2 */
	uint16_t ambiguous;          /* retries after an ambiguous timeout */
	uint8_t provider;            /* index of the provider of the last attempt */
	uint8_t kind;                /* enum store_kind */
	int erased;                  /* 1: its personal fields were erased (to is
					masked, text and event are zeros) */
	int sealed;                  /* 1: its personal fields are sealed and this
					handle has no key; 2: they do not open
					(altered): either way to and text say
					"(encrypted)", event is empty */
	char idem_key[STORE_IDEM_MAX + 1]; /* NUL-terminated copy */
	char booking[STORE_BOOKING_MAX + 1]; /* booking id ("": none) */
	char to[STORE_TO_MAX + 1];   /* destination */
	char note[STORE_NOTE_MAX + 1]; /* sent: provider's id; failed/retry: last reason */
	char *text;                  /* text, malloc'ed, NUL-terminated: caller frees */
	void *event;                 /* packed BookingEvent, malloc'ed: caller frees */
	size_t event_len;            /* its length */
};

#define STORE_SEALED_SAYS "(encrypted)" /* to and text of a store_msg whose fields
					   are sealed (store_msg.sealed) */

/*
 * Read message id into *out.  Returns STORE_OK (caller frees out->event and
 * out->text with free()), STORE_NOTFOUND, or STORE_ERROR.  A delayed or
 * in-flight message is found by a scan of the delayed index (its time is not
 * in the record): for ops and tests, not for a hot path.
 */
int store_get(store *s, uint64_t id, struct store_msg *out) SMSQ_WARN_UNUSED;

/* Look up a message id by idempotency key.  STORE_OK, STORE_NOTFOUND or
 * STORE_ERROR. */
int store_find_key(store *s, const char *key, size_t key_len, uint64_t *id) SMSQ_WARN_UNUSED;

/*
 * Walk an index in its order, calling fn for each message id until fn
 * returns non-zero or max ids were visited (0: no limit).  which: "ready"
 * (most urgent first), "delayed" (soonest due first) or "pending" (oldest
 * first).  Returns the number visited, or -1 (store_errmsg()).  For tests
 * and ops; reads in one read transaction.  fn may read the store (store_get)
 * but must not write to it: a write could grow the map under the open
 * transaction.
 */
long store_walk(store *s, const char *which, size_t max,
		int (*fn)(uint64_t id, void *arg), void *arg) SMSQ_WARN_UNUSED;

/* One message as store_list() reports it (no destination, no text). */
struct store_brief {
	uint64_t id;                       /* message id */
	enum store_state state;            /* its state */
	uint8_t priority;                  /* 0..9 */
	uint8_t provider;                  /* provider index of the last attempt */
	uint16_t attempts;                 /* send attempts */
	uint16_t segments;                 /* SMS parts */
	int64_t created_ms;                /* booking time */
	int64_t appointment_ms;            /* appointment */
	int64_t due_ms;                    /* delayed: next try; in flight: lease end; else 0 */
	int64_t updated_ms;                /* last state change */
	char idem_key[STORE_IDEM_MAX + 1]; /* idempotency key */
	char note[STORE_NOTE_MAX + 1];     /* provider's id, or the last reason */
};

/* Which messages store_list() reports. */
struct store_query {
	int state;                 /* an enum store_state, or -1: any */
	int provider;              /* provider index of the last attempt, or -1: any */
	const char *reason;        /* the note contains this (NULL: any) */
	int64_t created_before_ms; /* booked before this (0: any) */
};

#define STORE_LIST_CURSOR_MAX 48 /* a resume cursor, NUL included */

/*
 * The messages that match q, in the order of their index (ready: most
 * urgent first; delayed and in flight: soonest due first; sent, delivered,
 * failed, expired: by priority and appointment), the indexes in that order
 * when q->state is -1.  Starts after cursor `from` (what a previous call
 * wrote to next; NULL or "": from the start); writes at most max into out,
 * and in next the cursor to go on from ("" when nothing is left).  Reads at
 * most max_scan index entries (0: no limit), so that a filter that matches
 * little cannot hold a read transaction for long: fewer than max may come
 * back with a cursor to go on from.  One read transaction.  Returns the
 * number written, or -1 (a bad cursor, or the store: store_errmsg()).
 */
long store_list(store *s, const struct store_query *q, const char *from, size_t max_scan,
		struct store_brief *out, size_t max, char *next) SMSQ_WARN_UNUSED;

/* Check every index against the messages and the counters against a
 * recount (smsqctl check, tests).  Returns 0 when consistent, otherwise -1
 * with the first inconsistency in store_errmsg(). */
int store_verify(store *s) SMSQ_WARN_UNUSED;

/* ---- dispatch ----------------------------------------------------------
 *
 * A worker leases the most urgent due messages, sends them, and records one
 * outcome per message.  The lease is the message's "in flight" state with a
 * time: until then no other worker sees it; when the lease runs out (the
 * worker died) the message is due again by itself.  Every call below is one
 * write transaction, committed and synced.
 */

/* One leased message, copied out of the store (its text into the texts
 * buffer given to the call: no fixed 4 KiB slot per message, so a worker
 * can hold thousands leased ahead in little memory). */
/*
 * What recording an outcome needs of a message's record (which never
 * changes once stored): store_lease() fills it in store_leased.hdr; given
 * back untouched in store_outcome.hdr, it spares the store reading the
 * record again.  The store reads the record when hdr.id is not the
 * outcome's id (a zeroed hdr, or another message's).
 */
struct store_msg_hdr {
	uint64_t id;                 /* the message it belongs to */
	int64_t urgency_ms;          /* where its entries are keyed */
	int64_t expires_ms;          /* expiry */
	uint16_t segments;           /* SMS parts (counters) */
	uint8_t priority;            /* 0..9 */
};

struct store_leased {
	uint64_t id;                 /* message id */
	int64_t lease_until_ms;      /* the lease: pass it back with the outcome */
	int64_t created_ms;          /* booking time (for the delay in logs) */
	uint16_t attempts;           /* attempts including this one */
	uint8_t released;            /* 1: released from held by an operator (store_requeue()):
					the admission limits are not asked again */
	char to[STORE_TO_MAX + 1];   /* destination */
	char *text;                  /* text to send, NUL-terminated, in the texts buffer */
	uint32_t text_len;           /* its bytes */
	struct store_msg_hdr hdr;    /* expiry, segments, priority...: pass it back with
					the outcome */
};

/* The smallest texts buffer store_lease() takes: room for the longest text. */
#define STORE_LEASE_TEXTS_MIN (STORE_TEXT_MAX + 1)

/*
 * First make due what is due (delayed messages whose time came, leases that
 * ran out: up to max_promote of them), then lease up to max messages from the
 * ready index, most urgent first, until now_ms + lease_ms.  A message found
 * past its expiry on the way is moved to expired instead (never sent).
 * budget_segments (0: no limit) stops leasing before the SMS parts leased
 * would exceed it (pacing tokens in hand); at least one message is leased if
 * any is ready and it alone fits.
 * The texts are copied one after the other into texts (texts_cap bytes, at
 * least STORE_LEASE_TEXTS_MIN): leasing also stops before a text that would
 * not fit, so the first message always does.
 * Returns STORE_OK with *n_out leased into out[0..), or an error (nothing
 * changed).  *n_expired (may be NULL) counts messages expired by this call.
 */
int store_lease(store *s, int64_t now_ms, int64_t lease_ms, size_t max, uint32_t budget_segments,
		struct store_leased *out, char *texts, size_t texts_cap, size_t *n_out,
		size_t *n_expired) SMSQ_WARN_UNUSED;

/* What happened to one leased message. */
enum store_outcome_kind {
	STORE_OUT_SENT = 0,     /* the provider took it: state sent, note = provider id */
	STORE_OUT_RETRY = 1,    /* transient failure: delayed until at_ms (unless
				   that is past the expiry or attempts reached
				   max_attempts: then expired / failed) */
	STORE_OUT_FAILED = 2,   /* permanent failure: state failed, note = reason */
	STORE_OUT_EXPIRED = 3,  /* found past its expiry: state expired */
	STORE_OUT_RELEASE = 4,  /* not attempted after all (provider unavailable):
				   back to ready, the attempt not counted */
	STORE_OUT_RENEW = 5,    /* still running: extend the lease to at_ms */
};

struct store_outcome {
	uint64_t id;               /* message id */
	int64_t lease_until_ms;    /* the lease it was sent under (store_leased) */
	enum store_outcome_kind kind; /* what happened */
	int64_t at_ms;             /* RETRY: due time; RENEW: new lease end */
	uint16_t max_attempts;     /* RETRY: 0 = no limit */
	int ambiguous;             /* RETRY: after an ambiguous timeout */
	int not_attempted;         /* RETRY: throttled, the provider did not take it:
				      not counted as an attempt */
	uint8_t provider;          /* provider index used */
	const char *note;          /* SENT: provider's id; RETRY/FAILED: reason (may be NULL) */
	const char *receipt_to;    /* SENT: index the send by the provider's id (note) and
				      this recipient, for reports that name it so
				      (provider_ops.receipts_by_to); NULL: not indexed */
	struct store_msg_hdr hdr;  /* store_leased.hdr of this lease, or all zero */
	/* Out: */
	int applied;               /* 1: recorded.  0: the lease was lost (it ran
				      out and the message moved on) and this
				      outcome no longer applies */
	enum store_state final_state; /* the state it ended in, when applied */
	int lease_lost;            /* the lease had run out: the message was found
				      in found_state (a SENT then still applies to
				      a waiting message; a message in flight is
				      another worker's, which may send it too) */
	enum store_state found_state; /* where it was, when lease_lost */
};

/*
 * Record outcomes of leased messages in one transaction.  An outcome applies
 * when the message is still under that lease.  A SENT outcome also applies
 * when the lease was lost but the message is not terminal (it was sent: never
 * send it again); any other outcome for a lost lease is dropped (applied = 0).
 * Returns STORE_OK (each out[i].applied set) or an error (nothing changed:
 * the caller may retry the same call).
 */
int store_finish(store *s, struct store_outcome *o, size_t n, int64_t now_ms) SMSQ_WARN_UNUSED;

/*
 * store_finish(o, n) then store_lease(max ...) in one write transaction: one
 * commit and one sync instead of two, for a worker that records what it
 * sent and takes the next messages (with two workers, fewer commits also
 * means less waiting for LMDB's write lock).  All or nothing: on an error
 * neither happened (the applied flags mean nothing, *n_out is 0), and the
 * caller may retry, or make the two calls separately.
 */
int store_finish_lease(store *s, struct store_outcome *o, size_t n, int64_t now_ms,
		       int64_t lease_ms, size_t max, uint32_t budget_segments,
		       struct store_leased *out, char *texts, size_t texts_cap, size_t *n_out,
		       size_t *n_expired) SMSQ_WARN_UNUSED;

/*
 * When the next message of the delayed index is due (a scheduled send, a
 * retry, a lease that runs out), as the last committed lease of this handle
 * saw it before taking messages (its own new leases not counted): epoch ms;
 * INT64_MAX when the index was empty; that lease's now_ms when more were
 * due than it moved to ready.  0 before any lease.  A caller
 * with nothing to send sleeps until then (or until new messages may have
 * arrived) instead of polling.
 */
int64_t store_next_due_ms(const store *s);

const char *store_state_name(enum store_state st);

#endif
