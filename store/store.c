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
};

/* Fixed header of a stored record; sections follow in this order:
 * idempotency key, packed event.  Native byte order: a store is local to one
 * node.  Copied with memcpy, never accessed in place (LMDB data may be
 * unaligned). */
struct rec_hdr {
	uint8_t type;            /* STORE_REC_V1 */
	uint8_t state;           /* enum store_state */
	uint8_t priority;        /* 0..9 */
	uint8_t reserved;        /* zero */
	uint16_t attempts;       /* send attempts */
	uint16_t idem_len;       /* section 1 length */
	uint32_t event_len;      /* section 2 length */
	uint32_t reserved2;      /* zero */
	int64_t created_ms;      /* booking time */
	int64_t not_before_ms;   /* scheduled send */
	int64_t expires_ms;      /* expiry */
	int64_t appointment_ms;  /* appointment */
	int64_t due_ms;          /* delayed/inflight: index time */
	int64_t updated_ms;      /* last state change */
};

/* The counters, one value in meta. */
struct counters {
	uint64_t count[STORE_STATE_COUNT]; /* per state */
	uint64_t total;                    /* ever stored */
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
	if (rc == 0 && v.mv_size == sizeof(*out))
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
	if (rc == 0 && v.mv_size == sizeof(*c))
		memcpy(c, v.mv_data, sizeof(*c));
	return rc;
}

static int put_counters(MDB_txn *txn, MDB_dbi dbi, const struct counters *c)
{
	MDB_val k = { sizeof("counters") - 1, (void *)"counters" };
	MDB_val v = { sizeof(*c), (void *)c };

	return mdb_put(txn, dbi, &k, &v, 0);
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
	struct rec_hdr h;
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

	memset(&h, 0, sizeof(h));
	h.type = STORE_REC_V1;
	h.priority = m->priority;
	h.idem_len = (uint16_t)m->idem_len;
	h.event_len = (uint32_t)m->event_len;
	h.created_ms = m->created_ms;
	h.not_before_ms = m->not_before_ms;
	h.expires_ms = m->expires_ms;
	h.appointment_ms = m->appointment_ms;
	h.updated_ms = now_ms;
	if (m->not_before_ms > now_ms) {
		h.state = STORE_STATE_DELAYED;
		h.due_ms = m->not_before_ms;
	} else {
		h.state = STORE_STATE_READY;
	}

	/* MDB_RESERVE: LMDB hands us the space and we copy into it once. */
	k.mv_size = sizeof(idbuf);
	k.mv_data = idbuf;
	v.mv_size = sizeof(h) + m->idem_len + m->event_len;
	v.mv_data = NULL;
	rc = mdb_put(txn, s->db_msg, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc != 0)
		return rc;
	memcpy(v.mv_data, &h, sizeof(h));
	memcpy((char *)v.mv_data + sizeof(h), m->idem_key, m->idem_len);
	memcpy((char *)v.mv_data + sizeof(h) + m->idem_len, m->event, m->event_len);

	v.mv_size = 0;
	v.mv_data = NULL;
	rc = mdb_put(txn, s->db_pending, &k, &v, MDB_APPEND);
	if (rc != 0)
		return rc;

	if (h.state == STORE_STATE_READY) {
		unsigned char rk[READY_KEY_LEN];

		ready_key(rk, h.priority, h.appointment_ms, id);
		k.mv_size = sizeof(rk);
		k.mv_data = rk;
		rc = mdb_put(txn, s->db_ready, &k, &v, 0);
	} else {
		unsigned char dk[DELAYED_KEY_LEN];

		delayed_key(dk, h.due_ms, id);
		k.mv_size = sizeof(dk);
		k.mv_data = dk;
		rc = mdb_put(txn, s->db_delayed, &k, &v, 0);
	}
	if (rc != 0)
		return rc;
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
		    msgs[i].priority > STORE_PRIORITY_MAX || msgs[i].event_len > UINT32_MAX) {
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
		      int want_event)
{
	struct rec_hdr h;

	if (v->mv_size < sizeof(h)) {
		set_err(s, "message %llu: record truncated", (unsigned long long)id);
		return STORE_ERROR;
	}
	memcpy(&h, v->mv_data, sizeof(h));
	if (h.type != STORE_REC_V1 || h.state >= STORE_STATE_COUNT ||
	    sizeof(h) + (size_t)h.idem_len + h.event_len != v->mv_size ||
	    h.idem_len > STORE_IDEM_MAX) {
		set_err(s, "message %llu: unknown or corrupt record", (unsigned long long)id);
		return STORE_ERROR;
	}
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->state = (enum store_state)h.state;
	out->priority = h.priority;
	out->attempts = h.attempts;
	out->created_ms = h.created_ms;
	out->not_before_ms = h.not_before_ms;
	out->expires_ms = h.expires_ms;
	out->appointment_ms = h.appointment_ms;
	out->due_ms = h.due_ms;
	memcpy(out->idem_key, (const char *)v->mv_data + sizeof(h), h.idem_len);
	out->idem_key[h.idem_len] = '\0';
	if (want_event) {
		out->event_len = h.event_len;
		out->event = malloc(h.event_len ? h.event_len : 1);
		if (out->event == NULL) {
			set_err(s, "out of memory");
			return STORE_ERROR;
		}
		memcpy(out->event, (const char *)v->mv_data + sizeof(h) + h.idem_len, h.event_len);
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
	if (memcmp(&c, &recount, sizeof(c)) != 0) {
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
