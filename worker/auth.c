/*
 * auth: the ZAP handler of the ingest socket (see auth.h).
 *
 * DESIGN
 *
 * ZeroMQ sends a ZAP request (RFC 27) on inproc://zeromq.zap.01 of the
 * server socket's context for each CURVE handshake, from its I/O thread,
 * and waits for the answer before the connection may carry anything.  The
 * handler is a thread of its own with a REP socket bound there, so that a
 * handshake is answered in microseconds even while the process's main
 * thread is busy (a commit, a batch): the answer is one binary search in
 * the allow-list.  The list is read by the caller's thread (auth_reload())
 * into a new array and swapped in under a mutex; the handler holds the
 * mutex only for the search.  The thread polls its socket with a short
 * timeout and ends when told to (auth_destroy()).
 *
 * The handler answers 200 (with the producer's name as ZAP user id) or
 * 400; a request it cannot read (not CURVE, not 32 bytes of key) gets 400
 * too.  It is the only way in: the ingest socket is bound only after the
 * handler's socket, and the handler lives as long as the context.
 */
#include "worker/auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/xalloc.h"
#include "store/counters.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES 7          /* version, id, domain, address, identity, mechanism, key */
#define ZAP_POLL_MS 100       /* how soon the thread sees auth_destroy() */
#define ZAP_FRAME_MAX 256     /* longest frame read (an address, an identity) */

struct auth {
	void *rep;                    /* bound to ZAP_ENDPOINT, the thread's */
	pthread_t thread;
	int have_thread;
	atomic_int quit;
	pthread_mutex_t mu;           /* guards list */
	struct auth_list list;
	char dir[4096];
	char secret[KEYFILE_Z85];
	uint64_t *refused_ctr;
	atomic_uint_fast64_t refused;
	struct log_limit log;         /* the thread's */
};

static int key_cmp(const void *a, const void *b)
{
	return memcmp(((const struct auth_key *)a)->key, ((const struct auth_key *)b)->key, 32);
}

void auth_list_free(struct auth_list *l)
{
	free(l->keys);
	l->keys = NULL;
	l->n = 0;
}

int auth_list_load(const char *dir, struct auth_list *out, char *err, size_t errlen)
{
	struct auth_list l = { NULL, 0 };
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int ret = -1;

	out->keys = NULL;
	out->n = 0;
	d = opendir(dir);
	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		char path[4096 + 256], z85[KEYFILE_Z85];
		struct stat sb;
		size_t nl = strlen(de->d_name);
		struct auth_key *k;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path)) {
			snprintf(err, errlen, "%s/%s: path too long", dir, de->d_name);
			goto out;
		}
		if (stat(path, &sb) != 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if (l.n == AUTH_MAX_KEYS) {
			snprintf(err, errlen, "%s: more than %d keys", dir, AUTH_MAX_KEYS);
			goto out;
		}
		if (keyfile_read_public(path, z85, err, errlen) != 0)
			goto out;
		if (l.n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			l.keys = xrealloc(l.keys, cap * sizeof(*l.keys));
		}
		k = &l.keys[l.n];
		memset(k, 0, sizeof(*k));
		if (zmq_z85_decode(k->key, z85) == NULL) {
			snprintf(err, errlen, "%s: not a key", path);
			goto out;
		}
		if (nl > 4 && strcmp(de->d_name + nl - 4, ".key") == 0)
			nl -= 4;
		if (nl > KEYFILE_NAME_MAX)
			nl = KEYFILE_NAME_MAX;
		memcpy(k->name, de->d_name, nl);
		l.n++;
	}
	if (errno != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (l.n > 1)
		qsort(l.keys, l.n, sizeof(*l.keys), key_cmp);
	for (size_t i = 1; i < l.n; i++) {
		if (memcmp(l.keys[i - 1].key, l.keys[i].key, 32) == 0) {
			snprintf(err, errlen, "%s: %s and %s hold the same key", dir,
				 l.keys[i - 1].name, l.keys[i].name);
			goto out;
		}
	}
	*out = l;
	l.keys = NULL;
	ret = 0;
out:
	auth_list_free(&l);
	closedir(d);
	return ret;
}

const struct auth_key *auth_list_find(const struct auth_list *l, const uint8_t *key)
{
	struct auth_key k;

	if (l->n == 0)
		return NULL;
	memcpy(k.key, key, 32);
	return bsearch(&k, l->keys, l->n, sizeof(*l->keys), key_cmp);
}

/* Read one frame into buf (cap bytes, NUL-terminated, cut if longer).
 * Returns its length (uncut), or -1; *more says whether frames follow. */
static int recv_frame(void *sock, char *buf, size_t cap, int *more)
{
	zmq_msg_t m;
	size_t len, take;

	if (zmq_msg_init(&m) != 0)
		return -1;
	if (zmq_msg_recv(&m, sock, 0) < 0) {
		zmq_msg_close(&m);
		return -1;
	}
	len = zmq_msg_size(&m);
	take = len < cap - 1 ? len : cap - 1;
	memcpy(buf, zmq_msg_data(&m), take);
	buf[take] = '\0';
	*more = zmq_msg_more(&m);
	zmq_msg_close(&m);
	return (int)len;
}

static void send_reply(void *sock, const char *id, size_t id_len, const char *code,
		       const char *text, const char *user)
{
	if (zmq_send(sock, "1.0", 3, ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, id, id_len, ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, "", 0, 0) < 0)
		log_warn("ingest auth: ZAP answer not sent: %s", zmq_strerror(errno));
}

static void refused(auth *a, const char *z85, const char *address, const char *why)
{
	int64_t now = clock_mono_ms();
	unsigned long skipped = log_limit_ended(&a->log, now);

	atomic_fetch_add_explicit(&a->refused, 1, memory_order_relaxed);
	if (a->refused_ctr != NULL)
		counters_add(a->refused_ctr, 1);
	if (skipped > 0)
		log_warn("ingest auth: %lu more producers refused in %d s", skipped,
			 AUTH_LOG_WINDOW_MS / 1000);
	if (log_limit_take(&a->log, now))
		log_warn("ingest auth: producer refused (%s): key %s from %s", why, z85, address);
}

/* Answer one ZAP request. */
static void serve_one(auth *a)
{
	char f[ZAP_FRAMES][ZAP_FRAME_MAX];
	int len[ZAP_FRAMES];
	int more = 1, n = 0;
	char z85[KEYFILE_Z85] = "(none)";
	char name[KEYFILE_NAME_MAX + 1] = "";
	const struct auth_key *k;

	while (more) {
		char spill[ZAP_FRAME_MAX];
		int l = recv_frame(a->rep, n < ZAP_FRAMES ? f[n] : spill, ZAP_FRAME_MAX, &more);

		if (l < 0) {
			if (errno != ETERM)
				log_warn("ingest auth: ZAP request not read: %s", zmq_strerror(errno));
			return; /* a REP socket cannot answer half a request */
		}
		if (n < ZAP_FRAMES)
			len[n] = l;
		n++;
	}
	if (n < 6) {
		/* Not a ZAP request: nothing to echo its id to. */
		send_reply(a->rep, n > 1 ? f[1] : "", n > 1 ? (size_t)len[1] : 0, "500",
			   "malformed ZAP request", "");
		return;
	}
	if (n != ZAP_FRAMES || strcmp(f[5], "CURVE") != 0 || len[6] != 32) {
		refused(a, z85, f[3], "not CURVE");
		send_reply(a->rep, f[1], (size_t)len[1], "400", "CURVE only", "");
		return;
	}
	if (zmq_z85_encode(z85, (const uint8_t *)f[6], 32) == NULL)
		snprintf(z85, sizeof(z85), "(unreadable)");
	pthread_mutex_lock(&a->mu);
	k = auth_list_find(&a->list, (const uint8_t *)f[6]);
	if (k != NULL)
		memcpy(name, k->name, sizeof(name));
	pthread_mutex_unlock(&a->mu);
	if (k == NULL) {
		refused(a, z85, f[3], "key not in the allow-list");
		send_reply(a->rep, f[1], (size_t)len[1], "400", "unknown key", "");
		return;
	}
	log_debug("ingest auth: producer %s (key %s) from %s", name, z85, f[3]);
	send_reply(a->rep, f[1], (size_t)len[1], "200", "OK", name);
}

static void *serve(void *arg)
{
	auth *a = arg;

	while (!atomic_load(&a->quit)) {
		zmq_pollitem_t it = { .socket = a->rep, .events = ZMQ_POLLIN };
		int rc = zmq_poll(&it, 1, ZAP_POLL_MS);

		if (rc < 0) {
			if (errno == ETERM)
				break;
			if (errno != EINTR)
				log_warn("ingest auth: poll: %s", zmq_strerror(errno));
			continue;
		}
		if (rc > 0)
			serve_one(a);
		else {
			unsigned long skipped = log_limit_ended(&a->log, clock_mono_ms());

			if (skipped > 0)
				log_warn("ingest auth: %lu more producers refused in %d s",
					 skipped, AUTH_LOG_WINDOW_MS / 1000);
		}
	}
	return NULL;
}

auth *auth_new(void *ctx, const struct auth_opts *o, char *err, size_t errlen)
{
	auth *a = xcalloc(1, sizeof(*a));
	int linger = 0, rc;

	a->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	a->log = (struct log_limit)LOG_LIMIT_INIT(AUTH_LOG_LINES, AUTH_LOG_WINDOW_MS);
	a->refused_ctr = o->refused;
	if (!keyfile_z85_ok(o->secret_key)) {
		snprintf(err, errlen, "ingest auth: the pool's secret key is not a key");
		goto fail;
	}
	memcpy(a->secret, o->secret_key, KEYFILE_Z85);
	if ((size_t)snprintf(a->dir, sizeof(a->dir), "%s", o->producers_dir) >= sizeof(a->dir)) {
		snprintf(err, errlen, "ingest auth: %s: path too long", o->producers_dir);
		goto fail;
	}
	if (auth_list_load(a->dir, &a->list, err, errlen) != 0)
		goto fail;
	a->rep = zmq_socket(ctx, ZMQ_REP);
	if (a->rep == NULL || zmq_setsockopt(a->rep, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
	    zmq_bind(a->rep, ZAP_ENDPOINT) != 0) {
		snprintf(err, errlen, "ingest auth: ZAP handler: %s", zmq_strerror(errno));
		goto fail;
	}
	rc = pthread_create(&a->thread, NULL, serve, a);
	if (rc != 0) {
		snprintf(err, errlen, "ingest auth: ZAP thread: %s", strerror(rc));
		goto fail;
	}
	a->have_thread = 1;
	if (a->list.n == 0)
		log_warn("ingest auth: no producer key in %s: every producer is refused", a->dir);
	else
		log_info("ingest auth: CURVE, %zu producer keys allowed (%s)", a->list.n, a->dir);
	return a;
fail:
	auth_destroy(&a);
	return NULL;
}

int auth_server(auth *a, void *sock, char *err, size_t errlen)
{
	int on = 1;

	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof(on)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->secret, KEYFILE_Z85) != 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN, strlen(AUTH_DOMAIN)) != 0) {
		snprintf(err, errlen, "ingest auth: CURVE server: %s", zmq_strerror(errno));
		return -1;
	}
	return 0;
}

long auth_reload(auth *a, char *err, size_t errlen)
{
	struct auth_list fresh, old;

	if (auth_list_load(a->dir, &fresh, err, errlen) != 0)
		return -1;
	pthread_mutex_lock(&a->mu);
	old = a->list;
	a->list = fresh;
	pthread_mutex_unlock(&a->mu);
	auth_list_free(&old);
	return (long)fresh.n;
}

int auth_keygen(const char *dir, const char *name, char public_key[KEYFILE_Z85], char *err,
		size_t errlen)
{
	char secret[KEYFILE_Z85];
	int ret = -1;

	public_key[0] = '\0';
	if (!keyfile_name_ok(name)) {
		snprintf(err, errlen, "key name \"%.64s\": 1 to %d of A-Z a-z 0-9 . _ -, not "
			 "starting with '.'", name, KEYFILE_NAME_MAX);
		return -1;
	}
	if (zmq_curve_keypair(public_key, secret) != 0) {
		snprintf(err, errlen, "no key pair: CURVE is not available in this libzmq (%s)",
			 zmq_strerror(errno));
		goto out;
	}
	if (keyfile_write(dir, name, public_key, secret, err, errlen) != 0)
		goto out;
	ret = 0;
out:
	secret_wipe(secret, sizeof(secret));
	if (ret != 0)
		public_key[0] = '\0';
	return ret;
}

uint64_t auth_refused(const auth *a)
{
	return atomic_load_explicit(&((auth *)a)->refused, memory_order_relaxed);
}

void auth_destroy(auth **ap)
{
	auth *a;

	if (ap == NULL || *ap == NULL)
		return;
	a = *ap;
	if (a->have_thread) {
		atomic_store(&a->quit, 1);
		pthread_join(a->thread, NULL);
	}
	if (a->rep != NULL)
		zmq_close(a->rep);
	auth_list_free(&a->list);
	secret_wipe(a->secret, sizeof(a->secret));
	pthread_mutex_destroy(&a->mu);
	free(a);
	*ap = NULL;
}
