/*
 * store: the durable queue on LMDB (see store.h for the contract).
 *
 * DESIGN
 *
 * One LMDB environment (data.mdb + lock.mdb in the data directory) holds six
 * named databases:
 *
 *   msg      id (8 bytes, big-endian) -> record (struct rec_hdr + sections)
 *   idem     idempotency key          -> id (8 bytes)
 *   ready    prio'(1) appt(8) id(8)   -> ""   due messages, most urgent first
 *   delayed  due(8) id(8)             -> ""   not-before, retry, lease end
 *   pending  id(8)                    -> ""   every non-terminal message
 *   meta     "next_id" -> u64, "counters" -> struct counters, "version" -> u32
 *
 * Keys are big-endian so that LMDB's byte order is numeric order; signed
 * times are biased (sign bit flipped) first.  prio' is 9 - priority, so that
 * the first key of "ready" is the most urgent message: taking the next one
 * is a cursor MDB_FIRST, O(log n) whatever the backlog.  "pending" holds ids
 * in arrival order: its first key is the oldest waiting message (stats).
 *
 * A message is in exactly one state; its index entries follow the state:
 *   delayed  -> delayed[due]          + pending
 *   ready    -> ready[prio,appt]      + pending
 *   inflight -> delayed[lease end]    + pending
 *   terminal -> (no index)            (kept for idempotency and for ops)
 * Every state change rewrites the record, moves the index entries and the
 * counters in one write transaction: nothing can be seen half-moved.
 *
 * Durability: the environment is opened with default sync flags, so
 * mdb_txn_commit() returns only once data and meta page are on disk.
 * Callers batch (group commit): one transaction, one sync, many messages.
 *
 * Growth: MDB_MAP_FULL aborts the transaction; the map doubles (up to
 * map_max_bytes) and the whole batch is replayed.  At the ceiling the caller
 * gets STORE_FULL and answers RETRY_LATER.  When another process grew the
 * map, mdb_txn_begin() reports MDB_MAP_RESIZED and we adopt the new size.
 *
 * Records carry a type/version byte; an unknown one is reported by
 * store_get()/store_verify() instead of being guessed at.
 */
#include "store/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define STORE_SCHEMA_VERSION 1u
#define STORE_REC_V1 0x51u          /* record type byte of struct rec_hdr v1 */
#define STORE_MAX_DBS 8
#define STORE_ERRMSG_MAX 256
#define STORE_MAX_GROW_RETRIES 16
#define READY_KEY_LEN 17
#define DELAYED_KEY_LEN 16
#define ID_KEY_LEN 8

struct store {
	MDB_env *env;                   /* the environment */
	MDB_dbi db_msg;                 /* id -> record */
	MDB_dbi db_idem;                /* key -> id */
	MDB_dbi db_ready;               /* urgency index */
	MDB_dbi db_delayed;             /* time index */
	MDB_dbi db_pending;             /* non-terminal ids */
	MDB_dbi db_meta;                /* counters, next id, version */
	uint64_t map_max_bytes;         /* growth ceiling */
	int read_only;                  /* opened MDB_RDONLY */
	char dir[4096];                 /* data directory */
	char errmsg[STORE_ERRMSG_MAX];  /* last failure */
	unsigned char *scratch;         /* copy of a record being rewritten */
	size_t scratch_len;             /* its capacity */
};

/* Fixed header of a stored record; sections follow in this order:
 * idempotency key, packed event, destination, text, note.  Native byte
 * order: a store is local to one node.  Copied with memcpy, never accessed in
 * place (LMDB data may be unaligned). */
struct rec_hdr {
	uint8_t type;            /* STORE_REC_V1 */
	uint8_t state;           /* enum store_state */
	uint8_t priority;        /* 0..9 */
	uint8_t provider;        /* provider index of the last attempt */
	uint16_t attempts;       /* send attempts (leases) */
	uint16_t ambiguous;      /* retries after an ambiguous timeout */
	uint16_t segments;       /* SMS parts */
	uint16_t idem_len;       /* section 1 length */
	uint32_t event_len;      /* section 2 length */
	uint16_t to_len;         /* section 3 length */
	uint16_t text_len;       /* section 4 length */
	uint16_t note_len;       /* section 5 length */
	uint16_t encoding;       /* enum store_encoding */
	int64_t created_ms;      /* booking time */
	int64_t not_before_ms;   /* scheduled send */
	int64_t expires_ms;      /* expiry */
	int64_t appointment_ms;  /* appointment */
	int64_t due_ms;          /* delayed: due time; inflight: lease end */
	int64_t updated_ms;      /* last state change */
};

/* A record decoded: the header and pointers to its sections (into LMDB
 * memory or into the store's scratch copy). */
struct rec {
	struct rec_hdr h;        /* header copy */
	const char *idem;        /* idempotency key */
	const void *event;       /* packed event */
	const char *to;          /* destination */
	const char *text;        /* text */
	const char *note;        /* provider id or reason */
};

/* The counters, one value in meta. */
struct counters {
	uint64_t count[STORE_STATE_COUNT]; /* per state */
	uint64_t total;                    /* ever stored */
	uint64_t segments_waiting;         /* SMS parts of waiting messages */
	uint64_t attempts;                 /* leases */
	uint64_t retries;                  /* retry outcomes */
	uint64_t ambiguous;                /* of which ambiguous */
	uint64_t lease_expired;            /* leases that ran out */
	uint64_t segments_saved;           /* SMS parts saved by smart encoding */
};

static const char *const state_names[STORE_STATE_COUNT] = {
	"delayed", "ready", "inflight", "sent", "delivered", "failed", "expired",
};

const char *store_state_name(enum store_state st)
{
	if ((unsigned)st >= STORE_STATE_COUNT)
		return "unknown";
	return state_names[st];
}

__attribute__((format(printf, 2, 3)))
static void set_err(store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

const char *store_errmsg(const store *s)
{
	return s->errmsg;
}

/* ---- key encoding ------------------------------------------------------ */

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Signed time to an unsigned value of the same order. */
static uint64_t bias(int64_t t)
{
	return (uint64_t)t ^ (1ULL << 63);
}

static void ready_key(unsigned char k[READY_KEY_LEN], uint8_t priority, int64_t appt_ms,
		      uint64_t id)
{
	k[0] = (unsigned char)(STORE_PRIORITY_MAX - priority);
	put_be64(k + 1, bias(appt_ms));
	put_be64(k + 9, id);
}

static void delayed_key(unsigned char k[DELAYED_KEY_LEN], int64_t due_ms, uint64_t id)
{
	put_be64(k, bias(due_ms));
	put_be64(k + 8, id);
}

/* ---- open / close ------------------------------------------------------ */

static int mkdir_p(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return -1;
	memcpy(path, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (path[i] == '/' || path[i] == '\0') {
			char c = path[i];

			path[i] = '\0';
			if (mkdir(path, 0750) != 0 && errno != EEXIST)
				return -1;
			path[i] = c;
		}
	}
	return 0;
}

static int open_dbs(store *s, char *err, size_t errlen)
{
	MDB_txn *txn = NULL;
	unsigned flags = s->read_only ? 0 : MDB_CREATE;
	int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);

	if (rc != 0) {
		snprintf(err, errlen, "store: begin: %s", mdb_strerror(rc));
		return -1;
	}
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{ "msg", &s->db_msg },         { "idem", &s->db_idem },
		{ "ready", &s->db_ready },     { "delayed", &s->db_delayed },
		{ "pending", &s->db_pending }, { "meta", &s->db_meta },
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
		if (rc != 0) {
			snprintf(err, errlen, "store: open database %s in %s: %s%s", dbs[i].name,
				 s->dir, mdb_strerror(rc),
				 rc == MDB_NOTFOUND ? " (store not initialised: start smsq-worker once)" : "");
			goto fail;
		}
	}
	if (!s->read_only) {
		MDB_val k = { sizeof("version") - 1, (void *)"version" };
		MDB_val v;
		uint32_t ver = STORE_SCHEMA_VERSION;

		rc = mdb_get(txn, s->db_meta, &k, &v);
		if (rc == MDB_NOTFOUND) {
			v.mv_size = sizeof(ver);
			v.mv_data = &ver;
			rc = mdb_put(txn, s->db_meta, &k, &v, 0);
		} else if (rc == 0) {
			if (v.mv_size != sizeof(ver) || memcmp(v.mv_data, &ver, sizeof(ver)) != 0) {
				snprintf(err, errlen, "store: %s has an unknown schema version", s->dir);
				goto fail;
			}
		}
		if (rc != 0) {
			snprintf(err, errlen, "store: schema version: %s", mdb_strerror(rc));
			goto fail;
		}
	}
	/* Commit even a read-only transaction: an aborted one would close the
	 * database handles it opened. */
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		snprintf(err, errlen, "store: commit: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return -1;
}

store *store_open(const struct store_opts *opts, char *err, size_t errlen)
{
	store *s = calloc(1, sizeof(*s));
	uint64_t map = opts->map_bytes ? opts->map_bytes : STORE_DEFAULT_MAP_BYTES;
	int rc;

	if (s == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	s->read_only = opts->read_only;
	s->map_max_bytes = opts->map_max_bytes ? opts->map_max_bytes : STORE_DEFAULT_MAP_MAX_BYTES;
	if (map > s->map_max_bytes)
		map = s->map_max_bytes;
	if (snprintf(s->dir, sizeof(s->dir), "%s", opts->dir) >= (int)sizeof(s->dir)) {
		snprintf(err, errlen, "store: data directory path too long");
		goto fail;
	}
	if (!s->read_only && mkdir_p(s->dir) != 0) {
		snprintf(err, errlen, "store: cannot create data directory %s: %s", s->dir,
			 strerror(errno));
		goto fail;
	}
	rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)map);
	if (rc != 0) {
		snprintf(err, errlen, "store: create environment: %s", mdb_strerror(rc));
		goto fail;
	}
	/* MDB_NOTLS: read transactions are tied to this handle, not to a thread.
	 * MDB_NORDAHEAD: the backlog is read at random, read-ahead only wastes
	 * page cache. */
	rc = mdb_env_open(s->env, s->dir,
			  MDB_NOTLS | MDB_NORDAHEAD | (s->read_only ? MDB_RDONLY : 0), 0640);
	if (rc != 0) {
		snprintf(err, errlen, "store: open %s: %s", s->dir, mdb_strerror(rc));
		goto fail;
	}
	if (!s->read_only) {
		int dead = 0;

		/* Readers left by processes killed since the last run. */
		if (mdb_reader_check(s->env, &dead) != 0)
			dead = 0;
		(void)dead;
	}
	if (open_dbs(s, err, errlen) != 0)
		goto fail;
	return s;
fail:
	store_close(&s);
	return NULL;
}

void store_close(store **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	if ((*sp)->env != NULL)
		mdb_env_close((*sp)->env);
	free((*sp)->scratch);
	free(*sp);
	*sp = NULL;
}

int store_reader_check(store *s)
{
	int dead = 0;
	int rc = mdb_reader_check(s->env, &dead);

	if (rc != 0) {
		set_err(s, "reader check: %s", mdb_strerror(rc));
		return -1;
	}
	return dead;
}

/* ---- transactions ------------------------------------------------------ */

/* Begin a transaction, adopting a map grown by another process. */
static int txn_begin(store *s, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, flags, txn);

	if (rc == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(s->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(s->env, NULL, flags, txn);
	}
	if (rc != 0)
		set_err(s, "begin transaction: %s", mdb_strerror(rc));
	return rc;
}

/* Double the map after MDB_MAP_FULL.  Returns 0, or STORE_FULL at the
 * ceiling, or STORE_ERROR. */
static int grow_map(store *s)
{
	MDB_envinfo info;
	int rc = mdb_env_info(s->env, &info);

	if (rc != 0) {
		set_err(s, "env info: %s", mdb_strerror(rc));
		return STORE_ERROR;
	}
	uint64_t cur = info.me_mapsize;
	if (cur >= s->map_max_bytes) {
		set_err(s, "store is full: map at its maximum of %llu MiB",
			(unsigned long long)(s->map_max_bytes >> 20));
		return STORE_FULL;
	}
	uint64_t next = cur * 2 > s->map_max_bytes ? s->map_max_bytes : cur * 2;
	rc = mdb_env_set_mapsize(s->env, (size_t)next);
	if (rc != 0) {
		set_err(s, "grow map to %llu bytes: %s", (unsigned long long)next,
			mdb_strerror(rc));
		return STORE_ERROR;
	}
	return 0;
}

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v;
	int rc = mdb_get(txn, dbi, &k, &v);

	*out = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != sizeof(*out))
		return MDB_CORRUPTED; /* never guess an id counter */
	if (rc == 0)
		memcpy(out, v.mv_data, sizeof(*out));
	return rc;
}

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t val)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_val v = { sizeof(val), &val };

	return mdb_put(txn, dbi, &k, &v, 0);
}

static int get_counters(MDB_txn *txn, MDB_dbi dbi, struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v;
	int rc = mdb_get(txn, dbi, &k, &v);

	memset(c, 0, sizeof(*c));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0 && v.mv_size != sizeof(*c))
		return MDB_CORRUPTED;
	if (rc == 0)
		memcpy(c, v.mv_data, sizeof(*c));
	return rc;
}

static int put_counters(MDB_txn *txn, MDB_dbi dbi, const struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v = { sizeof(*c), (void *)c };

	return mdb_put(txn, dbi, &k, &v, 0);
}

/* ---- records ------------------------------------------------------------ */

static size_t rec_size(const struct rec_hdr *h)
{
	return sizeof(*h) + (size_t)h->idem_len + h->event_len + h->to_len + h->text_len +
	       h->note_len;
}

/* Decode v into r (pointers into v).  Returns 0, or -1 if corrupt. */
static int rec_parse(const MDB_val *v, struct rec *r)
{
	const char *p = v->mv_data;

	if (v->mv_size < sizeof(r->h))
		return -1;
	memcpy(&r->h, p, sizeof(r->h));
	if (r->h.type != STORE_REC_V1 || r->h.state >= STORE_STATE_COUNT ||
	    rec_size(&r->h) != v->mv_size || r->h.idem_len > STORE_IDEM_MAX ||
	    r->h.to_len > STORE_TO_MAX || r->h.text_len > STORE_TEXT_MAX ||
	    r->h.note_len > STORE_NOTE_MAX)
		return -1;
	p += sizeof(r->h);
	r->idem = p;
	p += r->h.idem_len;
	r->event = p;
	p += r->h.event_len;
	r->to = p;
	p += r->h.to_len;
	r->text = p;
	p += r->h.text_len;
	r->note = p;
	return 0;
}

/* Write r under idkey (sections copied once, into LMDB's reserved space).
 * r's sections must not point into LMDB pages (use rec_load()). */
static int rec_put(store *s, MDB_txn *txn, const unsigned char *idkey, const struct rec *r,
		   unsigned flags)
{
	MDB_val k = { ID_KEY_LEN, (void *)idkey };
	MDB_val v = { rec_size(&r->h), NULL };
	char *p;
	int rc = mdb_put(txn, s->db_msg, &k, &v, flags | MDB_RESERVE);

	if (rc != 0)
		return rc;
	p = v.mv_data;
	memcpy(p, &r->h, sizeof(r->h));
	p += sizeof(r->h);
	memcpy(p, r->idem, r->h.idem_len);
	p += r->h.idem_len;
	memcpy(p, r->event, r->h.event_len);
	p += r->h.event_len;
	memcpy(p, r->to, r->h.to_len);
	p += r->h.to_len;
	memcpy(p, r->text, r->h.text_len);
	p += r->h.text_len;
	memcpy(p, r->note, r->h.note_len);
	return 0;
}

/* Read message id into s->scratch and decode it there (valid until the next
 * rec_load()).  Returns 0, MDB_NOTFOUND, an LMDB code, or MDB_CORRUPTED. */
static int rec_load(store *s, MDB_txn *txn, const unsigned char *idkey, struct rec *r)
{
	MDB_val k = { ID_KEY_LEN, (void *)idkey };
	MDB_val v;
	int rc = mdb_get(txn, s->db_msg, &k, &v);

	if (rc != 0)
		return rc;
	if (v.mv_size > s->scratch_len) {
		unsigned char *n = realloc(s->scratch, v.mv_size);

		if (n == NULL)
			return ENOMEM;
		s->scratch = n;
		s->scratch_len = v.mv_size;
	}
	memcpy(s->scratch, v.mv_data, v.mv_size);
	v.mv_data = s->scratch;
	if (rec_parse(&v, r) != 0)
		return MDB_CORRUPTED;
	return 0;
}

static int is_waiting(unsigned state)
{
	return state <= STORE_STATE_INFLIGHT;
}

/* Put or delete the index entry the state of h calls for. */
static int index_op(store *s, MDB_txn *txn, const struct rec_hdr *h, uint64_t id, int del)
{
	unsigned char key[READY_KEY_LEN];
	MDB_val k, v = { 0, NULL };
	MDB_dbi dbi;

	if (h->state == STORE_STATE_READY) {
		ready_key(key, h->priority, h->appointment_ms, id);
		k.mv_size = READY_KEY_LEN;
		dbi = s->db_ready;
	} else if (h->state == STORE_STATE_DELAYED || h->state == STORE_STATE_INFLIGHT) {
		delayed_key(key, h->due_ms, id);
		k.mv_size = DELAYED_KEY_LEN;
		dbi = s->db_delayed;
	} else {
		return 0;
	}
	k.mv_data = key;
	return del ? mdb_del(txn, dbi, &k, NULL) : mdb_put(txn, dbi, &k, &v, 0);
}

/*
 * Move message id (its record in r, loaded with rec_load) to state `to` with
 * index time due_ms, in one go: old index entry out, record rewritten, new
 * entry in, pending and counters kept exact.  note (may be NULL) replaces the
 * record's note.
 */
static int rec_move(store *s, MDB_txn *txn, uint64_t id, struct rec *r, enum store_state to,
		    int64_t due_ms, const char *note, int64_t now_ms, struct counters *c)
{
	unsigned char idkey[ID_KEY_LEN];
	unsigned from = r->h.state;
	int rc;

	put_be64(idkey, id);
	rc = index_op(s, txn, &r->h, id, 1);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (is_waiting(from) && !is_waiting(to)) {
		MDB_val k = { ID_KEY_LEN, idkey };

		rc = mdb_del(txn, s->db_pending, &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		c->segments_waiting -= r->h.segments;
	}
	c->count[from]--;
	c->count[to]++;
	r->h.state = (uint8_t)to;
	r->h.due_ms = due_ms;
	r->h.updated_ms = now_ms;
	if (note != NULL) {
		size_t n = strnlen(note, STORE_NOTE_MAX);

		r->note = note;
		r->h.note_len = (uint16_t)n;
	}
	rc = rec_put(s, txn, idkey, r, 0);
	if (rc == 0)
		rc = index_op(s, txn, &r->h, id, 0);
	return rc;
}

/* ---- ingest ------------------------------------------------------------ */

/* Write one new message and its index entries; counters in *c.  Returns an
 * LMDB code; MDB_KEYEXIST means a duplicate (msg->id set to the existing
 * id). */
static int ingest_one(store *s, MDB_txn *txn, struct store_new *m, uint64_t id,
		      int64_t now_ms, struct counters *c)
{
	MDB_val k, v;
	unsigned char idbuf[ID_KEY_LEN];
	int rc;

	put_be64(idbuf, id);
	k.mv_size = m->idem_len;
	k.mv_data = (void *)m->idem_key;
	v.mv_size = sizeof(idbuf);
	v.mv_data = idbuf;
	rc = mdb_put(txn, s->db_idem, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		m->id = v.mv_size == ID_KEY_LEN ? get_be64(v.mv_data) : 0;
		return rc;
	}
	if (rc != 0)
		return rc;

	struct rec r;

	memset(&r, 0, sizeof(r));
	r.h.type = STORE_REC_V1;
	r.h.priority = m->priority;
	r.h.segments = m->segments;
	r.h.encoding = m->encoding;
	r.h.idem_len = (uint16_t)m->idem_len;
	r.h.event_len = (uint32_t)m->event_len;
	r.h.to_len = (uint16_t)m->to_len;
	r.h.text_len = (uint16_t)m->text_len;
	r.h.created_ms = m->created_ms;
	r.h.not_before_ms = m->not_before_ms;
	r.h.expires_ms = m->expires_ms;
	r.h.appointment_ms = m->appointment_ms;
	r.h.updated_ms = now_ms;
	if (m->not_before_ms > now_ms) {
		r.h.state = STORE_STATE_DELAYED;
		r.h.due_ms = m->not_before_ms;
	} else {
		r.h.state = STORE_STATE_READY;
	}
	r.idem = m->idem_key;
	r.event = m->event;
	r.to = m->to ? m->to : "";
	r.text = m->text ? m->text : "";
	r.note = "";
	/* Ids only grow: MDB_APPEND skips the search. */
	rc = rec_put(s, txn, idbuf, &r, MDB_APPEND);
	if (rc == 0) {
		k.mv_size = sizeof(idbuf);
		k.mv_data = idbuf;
		v.mv_size = 0;
		v.mv_data = NULL;
		rc = mdb_put(txn, s->db_pending, &k, &v, MDB_APPEND);
	}
	/* An id that is not past the last one means a broken id counter: it
	 * must fail the batch, not pass for a duplicate key. */
	if (rc == MDB_KEYEXIST)
		rc = MDB_CORRUPTED;
	if (rc == 0)
		rc = index_op(s, txn, &r.h, id, 0);
	if (rc != 0)
		return rc;
	struct rec_hdr h = r.h;
	c->segments_waiting += h.segments;
	c->segments_saved += m->segments_saved;
	c->count[h.state]++;
	c->total++;
	m->id = id;
	return 0;
}

/* One attempt at the whole batch.  Returns an LMDB code. */
static int ingest_attempt(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	MDB_txn *txn = NULL;
	struct counters c;
	uint64_t next_id;
	int rc = txn_begin(s, 0, &txn);

	if (rc != 0)
		return rc;
	rc = get_u64(txn, s->db_meta, "next_id", &next_id);
	if (rc == 0)
		rc = get_counters(txn, s->db_meta, &c);
	if (rc != 0)
		goto fail;
	if (next_id == 0)
		next_id = 1;
	for (size_t i = 0; i < n; i++) {
		rc = ingest_one(s, txn, &msgs[i], next_id, now_ms, &c);
		if (rc == MDB_KEYEXIST) {
			msgs[i].result = STORE_INGEST_DUPLICATE;
			continue;
		}
		if (rc != 0)
			goto fail;
		msgs[i].result = STORE_INGEST_ACCEPTED;
		next_id++;
	}
	rc = put_u64(txn, s->db_meta, "next_id", next_id);
	if (rc == 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0)
		goto fail;
	/* Commit syncs data and meta page before returning: only now may the
	 * caller acknowledge. */
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		set_err(s, "commit: %s", mdb_strerror(rc));
	return rc;
fail:
	set_err(s, "ingest: %s", mdb_strerror(rc));
	mdb_txn_abort(txn);
	return rc;
}

int store_ingest(store *s, struct store_new *msgs, size_t n, int64_t now_ms)
{
	if (s->read_only) {
		set_err(s, "ingest: store opened read-only");
		return STORE_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].idem_len == 0 || msgs[i].idem_len > STORE_IDEM_MAX ||
		    msgs[i].priority > STORE_PRIORITY_MAX || msgs[i].event_len > UINT32_MAX ||
		    msgs[i].to_len > STORE_TO_MAX || msgs[i].text_len > STORE_TEXT_MAX) {
			set_err(s, "ingest: message %zu out of bounds", i);
			return STORE_ERROR;
		}
	}
	for (int tries = 0; tries < STORE_MAX_GROW_RETRIES; tries++) {
		int rc = ingest_attempt(s, msgs, n, now_ms);

		if (rc == 0)
			return STORE_OK;
		if (rc != MDB_MAP_FULL)
			return STORE_ERROR;
		rc = grow_map(s);
		if (rc != 0)
			return rc;
	}
	set_err(s, "ingest: batch does not fit after growing the map");
	return STORE_FULL;
}

/* ---- reading ----------------------------------------------------------- */

static int decode_rec(store *s, uint64_t id, const MDB_val *v, struct store_msg *out,
		      int want_copies)
{
	struct rec r;

	if (rec_parse(v, &r) != 0) {
		set_err(s, "message %llu: unknown or corrupt record", (unsigned long long)id);
		return STORE_ERROR;
	}
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->state = (enum store_state)r.h.state;
	out->priority = r.h.priority;
	out->attempts = r.h.attempts;
	out->created_ms = r.h.created_ms;
	out->not_before_ms = r.h.not_before_ms;
	out->expires_ms = r.h.expires_ms;
	out->appointment_ms = r.h.appointment_ms;
	out->due_ms = r.h.due_ms;
	out->updated_ms = r.h.updated_ms;
	out->segments = r.h.segments;
	out->encoding = (enum store_encoding)r.h.encoding;
	out->ambiguous = r.h.ambiguous;
	out->provider = r.h.provider;
	memcpy(out->idem_key, r.idem, r.h.idem_len);
	memcpy(out->to, r.to, r.h.to_len);
	memcpy(out->note, r.note, r.h.note_len);
	if (want_copies) {
		out->event_len = r.h.event_len;
		out->event = malloc(r.h.event_len ? r.h.event_len : 1);
		out->text = malloc((size_t)r.h.text_len + 1);
		if (out->event == NULL || out->text == NULL) {
			free(out->event);
			free(out->text);
			out->event = NULL;
			out->text = NULL;
			set_err(s, "out of memory");
			return STORE_ERROR;
		}
		memcpy(out->event, r.event, r.h.event_len);
		memcpy(out->text, r.text, r.h.text_len);
		out->text[r.h.text_len] = '\0';
	}
	return STORE_OK;
}

int store_get(store *s, uint64_t id, struct store_msg *out)
{
	MDB_txn *txn = NULL;
	unsigned char idbuf[ID_KEY_LEN];
	MDB_val k = { sizeof(idbuf), idbuf };
	MDB_val v;
	int ret;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	if (rc != 0)
		return STORE_ERROR;
	put_be64(idbuf, id);
	rc = mdb_get(txn, s->db_msg, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = STORE_NOTFOUND;
	} else if (rc != 0) {
		set_err(s, "get %llu: %s", (unsigned long long)id, mdb_strerror(rc));
		ret = STORE_ERROR;
	} else {
		ret = decode_rec(s, id, &v, out, 1);
	}
	mdb_txn_abort(txn);
	return ret;
}

int store_find_key(store *s, const char *key, size_t key_len, uint64_t *id)
{
	MDB_txn *txn = NULL;
	MDB_val k = { key_len, (void *)key };
	MDB_val v;
	int ret = STORE_OK;
	int rc;

	if (key_len == 0 || key_len > STORE_IDEM_MAX)
		return STORE_NOTFOUND;
	rc = txn_begin(s, MDB_RDONLY, &txn);
	if (rc != 0)
		return STORE_ERROR;
	rc = mdb_get(txn, s->db_idem, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = STORE_NOTFOUND;
	} else if (rc != 0 || v.mv_size != ID_KEY_LEN) {
		set_err(s, "find key: %s", rc ? mdb_strerror(rc) : "bad index value");
		ret = STORE_ERROR;
	} else {
		*id = get_be64(v.mv_data);
	}
	mdb_txn_abort(txn);
	return ret;
}

int store_stats(store *s, struct store_stats *out)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_envinfo info;
	MDB_stat st;
	struct counters c;
	MDB_val k, v;
	char path[4200];
	struct stat sb;
	int ret = STORE_ERROR;
	int rc = txn_begin(s, MDB_RDONLY, &txn);

	memset(out, 0, sizeof(*out));
	if (rc != 0)
		return STORE_ERROR;
	rc = get_counters(txn, s->db_meta, &c);
	if (rc != 0) {
		set_err(s, "stats: counters: %s", mdb_strerror(rc));
		goto out;
	}
	memcpy(out->count, c.count, sizeof(out->count));
	out->total = c.total;
	out->segments_waiting = c.segments_waiting;
	out->attempts = c.attempts;
	out->retries = c.retries;
	out->ambiguous = c.ambiguous;
	out->lease_expired = c.lease_expired;
	out->segments_saved = c.segments_saved;
	out->waiting = c.count[STORE_STATE_DELAYED] + c.count[STORE_STATE_READY] +
		       c.count[STORE_STATE_INFLIGHT];

	rc = mdb_cursor_open(txn, s->db_pending, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == ID_KEY_LEN) {
		uint64_t id = get_be64(k.mv_data);
		MDB_val mv;

		rc = mdb_get(txn, s->db_msg, &k, &mv);
		if (rc == 0 && mv.mv_size >= sizeof(struct rec_hdr)) {
			struct rec_hdr h;

			memcpy(&h, mv.mv_data, sizeof(h));
			out->oldest_waiting_id = id;
			out->oldest_waiting_created_ms = h.created_ms;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(s, "stats: oldest: %s", mdb_strerror(rc));
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_cursor_open(txn, s->db_delayed, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == DELAYED_KEY_LEN)
		out->next_due_ms = (int64_t)(get_be64(k.mv_data) ^ (1ULL << 63));
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(s, "stats: next due: %s", mdb_strerror(rc));
		goto out;
	}
	rc = mdb_env_info(s->env, &info);
	if (rc == 0)
		rc = mdb_env_stat(s->env, &st);
	if (rc != 0) {
		set_err(s, "stats: env: %s", mdb_strerror(rc));
		goto out;
	}
	out->map_bytes = info.me_mapsize;
	out->used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
	if (stat(path, &sb) == 0)
		out->file_bytes = (uint64_t)sb.st_blocks * 512;
	ret = STORE_OK;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* Extract the id from a key of the named index. */
static uint64_t index_key_id(const MDB_val *k)
{
	if (k->mv_size < ID_KEY_LEN)
		return 0;
	return get_be64((const unsigned char *)k->mv_data + k->mv_size - ID_KEY_LEN);
}

long store_walk(store *s, const char *which, size_t max, int (*fn)(uint64_t id, void *arg),
		void *arg)
{
	MDB_dbi dbi;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	long n = 0;
	int rc;

	if (strcmp(which, "ready") == 0)
		dbi = s->db_ready;
	else if (strcmp(which, "delayed") == 0)
		dbi = s->db_delayed;
	else if (strcmp(which, "pending") == 0)
		dbi = s->db_pending;
	else {
		set_err(s, "walk: unknown index %s", which);
		return -1;
	}
	if (txn_begin(s, MDB_RDONLY, &txn) != 0)
		return -1;
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && (max == 0 || (size_t)n < max)) {
		n++;
		if (fn(index_key_id(&k), arg) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(s, "walk %s: %s", which, mdb_strerror(rc));
		n = -1;
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return n;
}

/* Does key exist in dbi?  1 yes, 0 no, -1 error. */
static int has_key(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
	MDB_val k = { len, (void *)key };
	MDB_val v;
	int rc = mdb_get(txn, dbi, &k, &v);

	if (rc == 0)
		return 1;
	return rc == MDB_NOTFOUND ? 0 : -1;
}

static int count_entries(MDB_txn *txn, MDB_dbi dbi, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(txn, dbi, &st);

	*n = rc == 0 ? st.ms_entries : 0;
	return rc;
}

int store_verify(store *s)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	struct counters c, recount;
	uint64_t n_ready = 0, n_delayed = 0, n_pending = 0, n_idem = 0;
	uint64_t want_ready = 0, want_delayed = 0, want_pending = 0;
	int ret = -1;
	int rc;

	if (txn_begin(s, MDB_RDONLY, &txn) != 0)
		return -1;
	memset(&recount, 0, sizeof(recount));
	rc = get_counters(txn, s->db_meta, &c);
	if (rc == 0)
		rc = mdb_cursor_open(txn, s->db_msg, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		struct store_msg m;
		uint64_t id = k.mv_size == ID_KEY_LEN ? get_be64(k.mv_data) : 0;
		unsigned char key[READY_KEY_LEN];
		int found;

		if (decode_rec(s, id, &v, &m, 0) != STORE_OK)
			goto out;
		recount.count[m.state]++;
		recount.total++;
		if (is_waiting(m.state))
			recount.segments_waiting += m.segments;
		found = has_key(txn, s->db_idem, m.idem_key, strlen(m.idem_key));
		if (found != 1) {
			set_err(s, "message %llu: idempotency key not indexed", (unsigned long long)id);
			goto out;
		}
		if (m.state <= STORE_STATE_INFLIGHT) {
			want_pending++;
			if (has_key(txn, s->db_pending, k.mv_data, ID_KEY_LEN) != 1) {
				set_err(s, "message %llu: waiting but not in pending",
					(unsigned long long)id);
				goto out;
			}
		}
		if (m.state == STORE_STATE_READY) {
			want_ready++;
			ready_key(key, m.priority, m.appointment_ms, id);
			found = has_key(txn, s->db_ready, key, READY_KEY_LEN);
		} else if (m.state == STORE_STATE_DELAYED || m.state == STORE_STATE_INFLIGHT) {
			want_delayed++;
			delayed_key(key, m.due_ms, id);
			found = has_key(txn, s->db_delayed, key, DELAYED_KEY_LEN);
		} else {
			found = 1;
		}
		if (found != 1) {
			set_err(s, "message %llu: %s but not in its index", (unsigned long long)id,
				store_state_name(m.state));
			goto out;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc != MDB_NOTFOUND) {
		set_err(s, "verify: %s", mdb_strerror(rc));
		goto out;
	}
	rc = count_entries(txn, s->db_ready, &n_ready);
	if (rc == 0)
		rc = count_entries(txn, s->db_delayed, &n_delayed);
	if (rc == 0)
		rc = count_entries(txn, s->db_pending, &n_pending);
	if (rc == 0)
		rc = count_entries(txn, s->db_idem, &n_idem);
	if (rc != 0) {
		set_err(s, "verify: %s", mdb_strerror(rc));
		goto out;
	}
	if (n_ready != want_ready || n_delayed != want_delayed || n_pending != want_pending ||
	    n_idem != recount.total) {
		set_err(s, "index sizes: ready %llu/%llu delayed %llu/%llu pending %llu/%llu idem %llu/%llu",
			(unsigned long long)n_ready, (unsigned long long)want_ready,
			(unsigned long long)n_delayed, (unsigned long long)want_delayed,
			(unsigned long long)n_pending, (unsigned long long)want_pending,
			(unsigned long long)n_idem, (unsigned long long)recount.total);
		goto out;
	}
	if (memcmp(c.count, recount.count, sizeof(c.count)) != 0 || c.total != recount.total ||
	    c.segments_waiting != recount.segments_waiting) {
		set_err(s, "counters differ from a recount");
		goto out;
	}
	ret = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return ret;
}

/* ---- dispatch ----------------------------------------------------------- */

#define STORE_SCAN_CHUNK 256   /* index keys read per cursor pass */

/* Read up to max ids of dbi's first keys (with the key's time for the
 * delayed index) into ids[]/times[].  Returns the count or -1 (rc set). */
static long first_keys(MDB_txn *txn, MDB_dbi dbi, size_t max, uint64_t *ids, int64_t *times,
		       int *rc_out)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	long n = 0;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && (size_t)n < max) {
		ids[n] = index_key_id(&k);
		if (times != NULL)
			times[n] = k.mv_size == DELAYED_KEY_LEN
					   ? (int64_t)(get_be64(k.mv_data) ^ (1ULL << 63))
					   : 0;
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	*rc_out = rc == MDB_NOTFOUND ? 0 : rc;
	return *rc_out == 0 ? n : -1;
}

/* Make due delayed messages and ran-out leases ready (or expired), up to
 * max.  Returns an LMDB code. */
static int promote(store *s, MDB_txn *txn, int64_t now_ms, size_t max, struct counters *c,
		   size_t *n_expired)
{
	uint64_t ids[STORE_SCAN_CHUNK];
	int64_t times[STORE_SCAN_CHUNK];
	size_t done = 0;
	int rc = 0;

	while (done < max) {
		size_t want = max - done < STORE_SCAN_CHUNK ? max - done : STORE_SCAN_CHUNK;
		long n = first_keys(txn, s->db_delayed, want, ids, times, &rc);
		long i;

		if (n < 0)
			return rc;
		for (i = 0; i < n && times[i] <= now_ms; i++) {
			unsigned char idkey[ID_KEY_LEN];
			struct rec r;

			put_be64(idkey, ids[i]);
			rc = rec_load(s, txn, idkey, &r);
			if (rc != 0)
				return rc;
			if (r.h.state == STORE_STATE_INFLIGHT)
				c->lease_expired++;
			if (r.h.expires_ms <= now_ms) {
				rc = rec_move(s, txn, ids[i], &r, STORE_STATE_EXPIRED, 0, "expired before it could be sent",
					      now_ms, c);
				if (n_expired != NULL)
					(*n_expired)++;
			} else {
				rc = rec_move(s, txn, ids[i], &r, STORE_STATE_READY, 0, NULL, now_ms, c);
			}
			if (rc != 0)
				return rc;
		}
		done += (size_t)i;
		if (i < n || n < (long)want)
			break; /* reached a future time, or the end of the index */
	}
	return 0;
}

static int lease_attempt(store *s, int64_t now_ms, int64_t lease_ms, size_t max,
			 uint32_t budget, struct store_leased *out, size_t *n_out, size_t *n_expired)
{
	MDB_txn *txn = NULL;
	struct counters c;
	uint64_t ids[STORE_SCAN_CHUNK];
	uint64_t segs = 0;
	int full = 0;
	int rc = txn_begin(s, 0, &txn);

	*n_out = 0;
	if (n_expired != NULL)
		*n_expired = 0;
	if (rc != 0)
		return rc;
	rc = get_counters(txn, s->db_meta, &c);
	if (rc == 0)
		rc = promote(s, txn, now_ms, max * 4 + STORE_SCAN_CHUNK, &c, n_expired);
	while (rc == 0 && *n_out < max && !full) {
		size_t want = max - *n_out < STORE_SCAN_CHUNK ? max - *n_out : STORE_SCAN_CHUNK;
		long n = first_keys(txn, s->db_ready, want, ids, NULL, &rc);

		if (n <= 0)
			break;
		for (long i = 0; i < n && rc == 0; i++) {
			unsigned char idkey[ID_KEY_LEN];
			struct rec r;

			put_be64(idkey, ids[i]);
			rc = rec_load(s, txn, idkey, &r);
			if (rc != 0)
				break;
			if (r.h.expires_ms <= now_ms) {
				rc = rec_move(s, txn, ids[i], &r, STORE_STATE_EXPIRED, 0,
					      "expired before it could be sent", now_ms, &c);
				if (n_expired != NULL)
					(*n_expired)++;
				continue;
			}
			if (budget != 0 && *n_out > 0 && segs + r.h.segments > budget) {
				full = 1;
				break;
			}
			struct store_leased *l = &out[*n_out];
			l->id = ids[i];
			l->lease_until_ms = now_ms + lease_ms;
			l->expires_ms = r.h.expires_ms;
			l->created_ms = r.h.created_ms;
			l->attempts = (uint16_t)(r.h.attempts + 1);
			l->segments = r.h.segments;
			l->priority = r.h.priority;
			memcpy(l->idem_key, r.idem, r.h.idem_len);
			l->idem_key[r.h.idem_len] = '\0';
			memcpy(l->to, r.to, r.h.to_len);
			l->to[r.h.to_len] = '\0';
			memcpy(l->text, r.text, r.h.text_len);
			l->text[r.h.text_len] = '\0';
			r.h.attempts = l->attempts;
			c.attempts++;
			rc = rec_move(s, txn, ids[i], &r, STORE_STATE_INFLIGHT, l->lease_until_ms, NULL,
				      now_ms, &c);
			segs += r.h.segments;
			(*n_out)++;
		}
		if (n < (long)want)
			break;
	}
	if (rc == 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0) {
		set_err(s, "lease: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		*n_out = 0;
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		set_err(s, "lease commit: %s", mdb_strerror(rc));
		*n_out = 0;
	}
	return rc;
}

/* Run attempt() again after growing the map when it reports MDB_MAP_FULL. */
#define WITH_GROWTH(call)                                                  \
	do {                                                               \
		for (int tries_ = 0; tries_ < STORE_MAX_GROW_RETRIES; tries_++) { \
			int rc_ = (call);                                  \
			if (rc_ == 0)                                      \
				return STORE_OK;                           \
			if (rc_ != MDB_MAP_FULL)                           \
				return STORE_ERROR;                        \
			rc_ = grow_map(s);                                 \
			if (rc_ != 0)                                      \
				return rc_;                                \
		}                                                          \
		return STORE_FULL;                                         \
	} while (0)

int store_lease(store *s, int64_t now_ms, int64_t lease_ms, size_t max, uint32_t budget_segments,
		struct store_leased *out, size_t *n_out, size_t *n_expired)
{
	*n_out = 0;
	if (s->read_only) {
		set_err(s, "lease: store opened read-only");
		return STORE_ERROR;
	}
	if (max == 0)
		return STORE_OK;
	WITH_GROWTH(lease_attempt(s, now_ms, lease_ms, max, budget_segments, out, n_out, n_expired));
}

/* Apply one outcome.  Returns an LMDB code (0 also when not applicable). */
static int finish_one(store *s, MDB_txn *txn, struct store_outcome *o, int64_t now_ms,
		      struct counters *c)
{
	unsigned char idkey[ID_KEY_LEN];
	struct rec r;
	int ours;
	int rc;

	o->applied = 0;
	put_be64(idkey, o->id);
	rc = rec_load(s, txn, idkey, &r);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	ours = r.h.state == STORE_STATE_INFLIGHT && r.h.due_ms == o->lease_until_ms;
	if (!is_waiting(r.h.state))
		return 0; /* already final: nothing changes a final state */
	if (!ours && o->kind != STORE_OUT_SENT)
		return 0; /* the lease ran out and the message moved on */
	if (o->kind == STORE_OUT_SENT || o->kind == STORE_OUT_FAILED || o->kind == STORE_OUT_RETRY)
		r.h.provider = o->provider; /* the provider of this attempt */
	switch (o->kind) {
	case STORE_OUT_SENT:
		rc = rec_move(s, txn, o->id, &r, STORE_STATE_SENT, 0, o->note ? o->note : "", now_ms, c);
		break;
	case STORE_OUT_FAILED:
		rc = rec_move(s, txn, o->id, &r, STORE_STATE_FAILED, 0, o->note ? o->note : "failed",
			      now_ms, c);
		break;
	case STORE_OUT_EXPIRED:
		rc = rec_move(s, txn, o->id, &r, STORE_STATE_EXPIRED, 0,
			      o->note ? o->note : "expired before it could be sent", now_ms, c);
		break;
	case STORE_OUT_RETRY:
		c->retries++;
		if (o->not_attempted) {
			/* Throttled: the provider refused to look at it; that is
			 * not an attempt and must not count toward max_attempts. */
			if (r.h.attempts > 0)
				r.h.attempts--;
			c->attempts--;
		}
		if (o->ambiguous) {
			c->ambiguous++;
			r.h.ambiguous++;
		}
		if (o->at_ms >= r.h.expires_ms)
			rc = rec_move(s, txn, o->id, &r, STORE_STATE_EXPIRED, 0,
				      "expired while retrying", now_ms, c);
		else if (o->max_attempts != 0 && r.h.attempts >= o->max_attempts)
			rc = rec_move(s, txn, o->id, &r, STORE_STATE_FAILED, 0,
				      "too many attempts", now_ms, c);
		else
			rc = rec_move(s, txn, o->id, &r, STORE_STATE_DELAYED, o->at_ms, o->note,
				      now_ms, c);
		break;
	case STORE_OUT_RELEASE:
		if (r.h.attempts > 0)
			r.h.attempts--;
		c->attempts--;
		rc = rec_move(s, txn, o->id, &r, STORE_STATE_READY, 0, NULL, now_ms, c);
		break;
	case STORE_OUT_RENEW:
		rc = rec_move(s, txn, o->id, &r, STORE_STATE_INFLIGHT, o->at_ms, NULL, now_ms, c);
		break;
	default:
		set_err(s, "finish: unknown outcome kind %d", (int)o->kind);
		return EINVAL;
	}
	if (rc == 0) {
		o->applied = 1;
		o->final_state = (enum store_state)r.h.state;
	}
	return rc;
}

static int finish_attempt(store *s, struct store_outcome *o, size_t n, int64_t now_ms)
{
	MDB_txn *txn = NULL;
	struct counters c;
	int rc = txn_begin(s, 0, &txn);

	if (rc != 0)
		return rc;
	rc = get_counters(txn, s->db_meta, &c);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = finish_one(s, txn, &o[i], now_ms, &c);
	if (rc == 0)
		rc = put_counters(txn, s->db_meta, &c);
	if (rc != 0) {
		set_err(s, "finish: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		set_err(s, "finish commit: %s", mdb_strerror(rc));
	return rc;
}

int store_finish(store *s, struct store_outcome *o, size_t n, int64_t now_ms)
{
	if (s->read_only) {
		set_err(s, "finish: store opened read-only");
		return STORE_ERROR;
	}
	if (n == 0)
		return STORE_OK;
	WITH_GROWTH(finish_attempt(s, o, n, now_ms));
}
