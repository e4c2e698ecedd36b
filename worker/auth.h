/*
 * auth: who may publish.  The socket producers connect to (the broker's, or
 * the only ingesting worker's) is a CurveZMQ server (ZeroMQ's CURVE
 * mechanism, RFC 26: every connection encrypted, every producer proving it
 * holds the secret key of its public key); ZeroMQ asks this module's ZAP
 * handler (RFC 27) about each producer that completes the handshake, and it
 * answers by the allow-list: the public keys in a directory of key files
 * (common/keyfile.h), one file a producer, its name the producer's name.
 *
 * A refused producer's connection is closed by ZeroMQ before any of its
 * frames is read: nothing it sent reaches ingest.  Each refusal is counted
 * and logged with the producer's public key and address (never anything it
 * sent), at most AUTH_LOG_LINES a AUTH_LOG_WINDOW_MS, then as a count.
 */
#ifndef SMSQ_AUTH_H
#define SMSQ_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"
#include "common/keyfile.h"

#define AUTH_MAX_KEYS 4096        /* producer keys an allow-list holds at most */
#define AUTH_LOG_LINES 10         /* refusals logged a window ... */
#define AUTH_LOG_WINDOW_MS 10000  /* ... then counted until it ends */
#define AUTH_DOMAIN "smsq"        /* the ZAP domain of the ingest socket */

/* One allowed producer. */
struct auth_key {
	uint8_t key[32];                  /* its public key, binary */
	char name[KEYFILE_NAME_MAX + 1];  /* its file's name, ".key" taken off */
};

/* An allow-list: the keys of a directory, sorted by key. */
struct auth_list {
	struct auth_key *keys;
	size_t n;
};

/*
 * Read the allow-list of dir: every regular file whose name does not start
 * with '.', each holding one public key (keyfile_read_public(): a file that
 * holds a secret key is refused).  The same key in two files is refused
 * (one producer, two names).  Returns 0 (an empty directory is an empty
 * list: nobody may publish), or -1 with err naming the file.  Free with
 * auth_list_free().
 */
int auth_list_load(const char *dir, struct auth_list *out, char *err,
		   size_t errlen) SMSQ_WARN_UNUSED;
void auth_list_free(struct auth_list *l);

/* The entry of key (32 bytes) in l, or NULL. */
const struct auth_key *auth_list_find(const struct auth_list *l, const uint8_t *key);

struct auth_opts {
	const char *secret_key;     /* the pool's CURVE secret key, Z85 (40 characters) */
	const char *producers_dir;  /* the allow-list directory */
	uint64_t *refused;          /* counted here too, or NULL (a shard's counter) */
};

typedef struct auth auth;

/*
 * Start the ZAP handler in the ZeroMQ context ctx (a thread with a socket
 * bound to inproc://zeromq.zap.01: one handler a context), with the
 * allow-list of o->producers_dir.  Call it before auth_server() and before
 * the server socket binds: libzmq lets every CURVE client in when no
 * handler is bound.  Returns NULL with err set.
 */
auth *auth_new(void *ctx, const struct auth_opts *o, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Make sock (not bound yet) a CURVE server of a's secret key, in the ZAP
 * domain AUTH_DOMAIN.  Returns 0, or -1 with err set. */
int auth_server(auth *a, void *sock, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/* Read the allow-list directory again.  On an error the list in force
 * stays (logged by the caller with err).  Returns the number of keys, or
 * -1 with err set. */
long auth_reload(auth *a, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Make a key pair (zmq_curve_keypair()) and write it as dir/name.key and
 * dir/name.secret (keyfile_write()); the public key into public_key.
 * Returns 0, or -1 with err set.
 */
int auth_keygen(const char *dir, const char *name, char public_key[KEYFILE_Z85], char *err,
		size_t errlen) SMSQ_WARN_UNUSED;

/* Producers refused since auth_new(). */
uint64_t auth_refused(const auth *a);

/* Stop the handler, free everything.  Call it after the server socket is
 * closed.  NULL-safe. */
void auth_destroy(auth **a);

#endif
