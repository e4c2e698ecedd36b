/*
 * keyfile: CURVE key files (see keyfile.h).
 *
 * DESIGN
 *
 * A file is a handful of lines; it is read whole (secret files through
 * secret_read(), which checks who may read them) and parsed line by line.
 * Writing uses O_CREAT|O_EXCL|O_NOFOLLOW with the final mode given to
 * open(), so that a secret never exists, even for a moment, with a mode
 * that lets others read it, and an existing key is never overwritten (a
 * key pair replaced by mistake locks its producer out).
 */
#include "common/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secret.h"

#define KEYFILE_TEXT_MAX 4096 /* longest key file read */

static const char z85_chars[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

int keyfile_z85_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= KEYFILE_Z85_LEN || strchr(z85_chars, s[i]) == NULL)
			return 0;
	return i == KEYFILE_Z85_LEN;
}

int keyfile_name_ok(const char *name)
{
	size_t i;

	if (name[0] == '\0' || name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= KEYFILE_NAME_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* The value of a `name = "value"` line (quotes optional) into val, or 0 if
 * line is not that name's. */
static int take_value(const char *line, size_t len, const char *name, char *val, size_t cap)
{
	size_t nl = strlen(name), i = nl, vlen;

	if (len < nl || memcmp(line, name, nl) != 0)
		return 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] != '=')
		return 0;
	i++;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len - i >= 2 && line[i] == '"' && line[len - 1] == '"') {
		i++;
		len--;
	}
	vlen = len - i;
	if (vlen >= cap)
		vlen = cap - 1; /* too long to be a key: keyfile_z85_ok() refuses it */
	memcpy(val, line + i, vlen);
	val[vlen] = '\0';
	return 1;
}

static int set_key(char *slot, const char *val, const char *what, int lineno, char *err,
		   size_t errlen)
{
	if (!keyfile_z85_ok(val)) {
		snprintf(err, errlen, "line %d: the %s is not a key (40 characters of Z85)", lineno,
			 what);
		return -1;
	}
	if (slot[0] != '\0') {
		snprintf(err, errlen, "line %d: a second %s", lineno, what);
		return -1;
	}
	memcpy(slot, val, KEYFILE_Z85);
	return 0;
}

int keyfile_parse(const char *text, struct keyfile *out, char *err, size_t errlen)
{
	const char *p = text;
	int lineno = 0;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		const char *end = strchr(p, '\n');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char val[KEYFILE_Z85 + 8];
		const char *line = p;

		lineno++;
		p = end != NULL ? end + 1 : p + len;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		while (len > 0 && (*line == ' ' || *line == '\t')) {
			line++;
			len--;
		}
		if (len == 0 || line[0] == '#')
			continue;
		if (take_value(line, len, "public-key", val, sizeof(val))) {
			if (set_key(out->public_key, val, "public key", lineno, err, errlen) != 0)
				goto fail;
		} else if (take_value(line, len, "secret-key", val, sizeof(val))) {
			if (set_key(out->secret_key, val, "secret key", lineno, err, errlen) != 0)
				goto fail;
		} else if (len == KEYFILE_Z85_LEN) {
			memcpy(val, line, len);
			val[len] = '\0';
			if (keyfile_z85_ok(val) &&
			    set_key(out->public_key, val, "public key", lineno, err, errlen) != 0)
				goto fail;
		}
	}
	return 0;
fail:
	secret_wipe(out, sizeof(*out));
	return -1;
}

int keyfile_read_public(const char *path, char out[KEYFILE_Z85], char *err, size_t errlen)
{
	char text[KEYFILE_TEXT_MAX + 1];
	char why[160];
	struct keyfile k;
	size_t len = 0;
	int fd, ret = -1;

	out[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (secret_read_fd(fd, path, text, sizeof(text), &len, err, errlen) != 0)
		goto out;
	text[len] = '\0';
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: not a key file (a NUL byte)", path);
		goto out;
	}
	if (keyfile_parse(text, &k, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}
	if (k.secret_key[0] != '\0') {
		snprintf(err, errlen, "%s: holds a secret key: give the public key file (.key) "
			 "instead", path);
		goto out;
	}
	if (k.public_key[0] == '\0') {
		snprintf(err, errlen, "%s: no public key in it", path);
		goto out;
	}
	memcpy(out, k.public_key, KEYFILE_Z85);
	ret = 0;
out:
	secret_wipe(text, sizeof(text));
	secret_wipe(&k, sizeof(k));
	close(fd);
	return ret;
}

int keyfile_read_secret(const char *path, struct keyfile *out, char *err, size_t errlen)
{
	char text[KEYFILE_TEXT_MAX + 1];
	char why[160];
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (secret_read(path, text, sizeof(text), err, errlen) < 0)
		return -1;
	if (keyfile_parse(text, out, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto out;
	}
	if (out->secret_key[0] == '\0') {
		snprintf(err, errlen, "%s: no secret key in it", path);
		goto out;
	}
	ret = 0;
out:
	secret_wipe(text, sizeof(text));
	if (ret != 0)
		secret_wipe(out, sizeof(*out));
	return ret;
}

int keyfile_read_client(const char *server_key_path, const char *secret_path,
			struct keyfile_client *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (server_key_path == NULL && secret_path == NULL)
		return 0;
	if (server_key_path == NULL || secret_path == NULL) {
		snprintf(err, errlen, "CURVE needs both the pool's public key file and this "
			 "producer's secret file");
		return -1;
	}
	if (keyfile_read_public(server_key_path, out->server_key, err, errlen) != 0 ||
	    keyfile_read_secret(secret_path, &out->mine, err, errlen) != 0) {
		secret_wipe(out, sizeof(*out));
		return -1;
	}
	return 1;
}

/* Write text to a new file dir/name<suffix> of the given mode.  Returns 0 or
 * -1 with err set; path receives the file's path. */
static int write_new(const char *dir, const char *name, const char *suffix, int mode,
		     const char *text, char *path, size_t pathlen, char *err, size_t errlen)
{
	size_t len = strlen(text), done = 0;
	int fd;

	if ((size_t)snprintf(path, pathlen, "%s/%s%s", dir, name, suffix) >= pathlen) {
		snprintf(err, errlen, "%s/%s%s: path too long", dir, name, suffix);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == EEXIST ? "exists already (a key "
			 "is never overwritten: remove it first if you mean to replace it)" :
			 strerror(errno));
		return -1;
	}
	/* The umask may have taken bits away from a public key's mode. */
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return -1;
}

int keyfile_write(const char *dir, const char *name, const char *public_key,
		  const char *secret_key, char *err, size_t errlen)
{
	char text[512];
	char secret_path[4096], public_path[4096];
	int ret = -1;

	if (!keyfile_name_ok(name)) {
		snprintf(err, errlen, "key name \"%.64s\": 1 to %d of A-Z a-z 0-9 . _ -, not "
			 "starting with '.'", name, KEYFILE_NAME_MAX);
		return -1;
	}
	if (!keyfile_z85_ok(public_key) || !keyfile_z85_ok(secret_key)) {
		snprintf(err, errlen, "not a key pair in Z85");
		return -1;
	}
	snprintf(text, sizeof(text),
		 "# smsq CURVE key pair \"%s\" (smsqctl keygen).  Keep it secret: mode 600,\n"
		 "# readable by its owner only, never copied to another machine.\n"
		 "public-key = \"%s\"\nsecret-key = \"%s\"\n", name, public_key, secret_key);
	if (write_new(dir, name, ".secret", 0600, text, secret_path, sizeof(secret_path), err,
		      errlen) != 0)
		goto out;
	snprintf(text, sizeof(text),
		 "# smsq CURVE public key \"%s\" (smsqctl keygen).  Public: a producer's goes\n"
		 "# into the pool's ingest.curve_producers directory, the pool's to every\n"
		 "# producer.\npublic-key = \"%s\"\n", name, public_key);
	if (write_new(dir, name, ".key", 0644, text, public_path, sizeof(public_path), err,
		      errlen) != 0) {
		unlink(secret_path);
		goto out;
	}
	ret = 0;
out:
	secret_wipe(text, sizeof(text));
	return ret;
}
