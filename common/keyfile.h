/*
 * keyfile: CURVE key files (ZeroMQ's CurveZMQ keys, Z85 text), as smsqctl
 * keygen writes them and the pool, smsq-publish and the bench publisher
 * read them.
 *
 * A public key file (NAME.key) may be given to anyone: it goes into the
 * pool's allow-list directory (a producer's) or to every producer (the
 * pool's).  A secret file (NAME.secret, mode 600) holds the key pair and
 * stays with its owner.  Both are text:
 *
 *	# comment lines
 *	public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
 *	secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
 *
 * Lines of other forms are skipped, so that CZMQ's certificates
 * (zcert_save(): NAME and NAME_secret, with "metadata" and "curve"
 * sections) read as well; a line holding only a 40-character Z85 key (what
 * zmq_curve_keypair() prints) is a public key.  This module reads and
 * writes the text only: deriving keys is ZeroMQ's (zmq_curve_keypair(),
 * zmq_curve_public()), done by the callers.
 */
#ifndef SMSQ_KEYFILE_H
#define SMSQ_KEYFILE_H

#include <stddef.h>

#include "common/attrs.h"

#define KEYFILE_Z85_LEN 40      /* a 32-byte key in Z85 */
#define KEYFILE_Z85 (KEYFILE_Z85_LEN + 1)
#define KEYFILE_NAME_MAX 64     /* a key's name: 1 to 64 of A-Z a-z 0-9 . _ - */

struct keyfile {
	char public_key[KEYFILE_Z85]; /* "" when the file has none */
	char secret_key[KEYFILE_Z85]; /* "" when the file has none */
};

/* 1 if s is a key in Z85: exactly 40 characters of the Z85 alphabet. */
int keyfile_z85_ok(const char *s);

/* 1 if name may name a key (and its files): 1 to KEYFILE_NAME_MAX of
 * A-Z a-z 0-9 . _ -, not starting with '.'. */
int keyfile_name_ok(const char *name);

/*
 * Read the keys of text (NUL-terminated) into *out.  A key that is not Z85,
 * or the same kind of key given twice, is refused.  Returns 0 (out may hold
 * no key at all: the caller says which it needs), or -1 with err set.
 */
int keyfile_parse(const char *text, struct keyfile *out, char *err,
		  size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Read the public key of the file at path into out.  A file that holds a
 * secret key is refused (a secret in a place meant for public keys).
 * Returns 0, or -1 with err naming path.
 */
int keyfile_read_public(const char *path, char out[KEYFILE_Z85], char *err,
			size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Read the secret file at path into *out: it passes secret_read()'s checks
 * (a regular file of this user or root, mode & 077 == 0) and holds a
 * secret key; its public key may be missing ("").  Returns 0, or -1 with
 * err naming path (never a key).
 */
int keyfile_read_secret(const char *path, struct keyfile *out, char *err,
			size_t errlen) SMSQ_WARN_UNUSED;

/* A producer's keys, read from its files. */
struct keyfile_client {
	char server_key[KEYFILE_Z85]; /* the pool's public key */
	struct keyfile mine;          /* the producer's key pair (public may be "") */
};

/*
 * Read a producer's keys: the pool's public key file and the producer's
 * secret file (the two paths given together: both or neither).  Returns 1
 * (read), 0 (both paths NULL: no CURVE), or -1 with err set.
 */
int keyfile_read_client(const char *server_key_path, const char *secret_path,
			struct keyfile_client *out, char *err, size_t errlen) SMSQ_WARN_UNUSED;

/*
 * Write dir/name.key (the public key, mode 644) and dir/name.secret (both
 * keys, mode 600), neither through a link nor over an existing file (the
 * secret is written first; if the public file cannot be, the secret one is
 * removed).  Returns 0, or -1 with err set.
 */
int keyfile_write(const char *dir, const char *name, const char *public_key,
		  const char *secret_key, char *err, size_t errlen) SMSQ_WARN_UNUSED;

#endif
