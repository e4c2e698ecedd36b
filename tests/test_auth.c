/*
 * test_auth: who may publish.  The allow-list is read from a directory
 * (dot files and subdirectories skipped, a secret key, a non-key and the
 * same key twice refused); a CURVE server with the ZAP handler takes a
 * client whose key is listed and refuses one whose key is not, a plain
 * client, and counts the refusals; a reload takes a key added and drops
 * one removed; the configuration refuses an endpoint beyond loopback
 * without CURVE, the two CURVE options apart, a secret file others may
 * read, and derives the pool's public key from its secret file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/keyfile.h"
#include "worker/auth.h"
#include "worker/config.h"

struct fx {
	char dir[64];      /* the keys made */
	char allowed[96];  /* the allow-list */
	char pub[3][KEYFILE_Z85]; /* pool, backend, intruder */
};

static const char *const names[3] = { "pool", "backend", "intruder" };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_auth.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->allowed, sizeof(f->allowed), "%s/allowed", f->dir);
	if (mkdir(f->allowed, 0700) != 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (auth_keygen(f->dir, names[i], f->pub[i], err, sizeof(err)) != 0)
			return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Link dir/name<suffix> into the allow-list as as. */
static void allow(struct fx *f, const char *name, const char *suffix, const char *as)
{
	char from[160], to[160];

	snprintf(from, sizeof(from), "%s/%s%s", f->dir, name, suffix);
	snprintf(to, sizeof(to), "%s/%s", f->allowed, as);
	assert_int_equal(link(from, to), 0);
}

static void unallow(struct fx *f, const char *as)
{
	char to[160];

	snprintf(to, sizeof(to), "%s/%s", f->allowed, as);
	assert_int_equal(unlink(to), 0);
}

static void list_reads_the_directory(void **state)
{
	struct fx *f = *state;
	struct auth_list l;
	char err[256], path[160];
	uint8_t key[32];

	assert_int_equal(auth_list_load(f->allowed, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	auth_list_free(&l);
	allow(f, "backend", ".key", "backend.key");
	allow(f, "intruder", ".key", ".hidden");   /* skipped */
	snprintf(path, sizeof(path), "%s/sub", f->allowed);
	assert_int_equal(mkdir(path, 0700), 0);   /* skipped */
	assert_int_equal(auth_list_load(f->allowed, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.keys[0].name, "backend");
	assert_non_null(zmq_z85_decode(key, f->pub[1]));
	assert_non_null(auth_list_find(&l, key));
	assert_non_null(zmq_z85_decode(key, f->pub[2]));
	assert_null(auth_list_find(&l, key));
	auth_list_free(&l);
	/* The same key under two names. */
	allow(f, "backend", ".key", "backend-again");
	assert_int_equal(auth_list_load(f->allowed, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "hold the same key"));
	unallow(f, "backend-again");
	/* A secret key where public keys belong. */
	allow(f, "intruder", ".secret", "intruder.secret");
	assert_int_equal(auth_list_load(f->allowed, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "holds a secret key"));
	unallow(f, "intruder.secret");
	/* Not a key at all. */
	snprintf(path, sizeof(path), "%s/notes.txt", f->allowed);
	FILE *t = fopen(path, "w");
	assert_non_null(t);
	fputs("hello\n", t);
	fclose(t);
	assert_int_equal(auth_list_load(f->allowed, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "notes.txt: no public key"));
	assert_int_equal(auth_list_load("/nonexistent-dir", &l, err, sizeof(err)), -1);
}

/* Connect a DEALER with the keys of who (-1: no CURVE) to the server and
 * ping it: 1 if the server got the frame within the time, else 0. */
static int reaches(void *ctx, void *server, const char *endpoint, struct fx *f, int who)
{
	void *c = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0, immediate = 1, timeout = 1500, got = 0;
	char secret_path[160], err[256];
	struct keyfile k;

	assert_non_null(c);
	assert_int_equal(zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof(linger)), 0);
	assert_int_equal(zmq_setsockopt(c, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)), 0);
	if (who >= 0) {
		snprintf(secret_path, sizeof(secret_path), "%s/%s.secret", f->dir, names[who]);
		assert_int_equal(keyfile_read_secret(secret_path, &k, err, sizeof(err)), 0);
		assert_int_equal(zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, f->pub[0], 41), 0);
		assert_int_equal(zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, k.public_key, 41), 0);
		assert_int_equal(zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, k.secret_key, 41), 0);
	}
	assert_int_equal(zmq_connect(c, endpoint), 0);
	assert_int_equal(zmq_setsockopt(c, ZMQ_SNDTIMEO, &timeout, sizeof(timeout)), 0);
	if (zmq_send(c, "ping", 4, 0) == 4) {
		zmq_pollitem_t it = { .socket = server, .events = ZMQ_POLLIN };

		if (zmq_poll(&it, 1, timeout) == 1) {
			char buf[64];
			int more = 1;

			while (more) {
				size_t ml = sizeof(more);

				assert_true(zmq_recv(server, buf, sizeof(buf), 0) >= 0);
				assert_int_equal(zmq_getsockopt(server, ZMQ_RCVMORE, &more, &ml), 0);
			}
			got = 1;
		}
	}
	zmq_close(c);
	return got;
}

static void zap_lets_listed_keys_in_only(void **state)
{
	struct fx *f = *state;
	void *ctx = zmq_ctx_new(), *server;
	char secret_path[160], endpoint[64], err[256];
	size_t elen = sizeof(endpoint);
	struct keyfile pool;
	uint64_t counted = 0;
	auth *a;

	snprintf(secret_path, sizeof(secret_path), "%s/pool.secret", f->dir);
	assert_int_equal(keyfile_read_secret(secret_path, &pool, err, sizeof(err)), 0);
	allow(f, "backend", ".key", "backend.key");
	struct auth_opts o = { .secret_key = pool.secret_key, .producers_dir = f->allowed,
			       .refused = &counted };
	a = auth_new(ctx, &o, err, sizeof(err));
	assert_non_null(a);
	server = zmq_socket(ctx, ZMQ_ROUTER);
	assert_int_equal(auth_server(a, server, err, sizeof(err)), 0);
	assert_int_equal(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
	assert_int_equal(zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &elen), 0);

	assert_true(reaches(ctx, server, endpoint, f, 1));
	assert_false(reaches(ctx, server, endpoint, f, 2));
	assert_int_equal(auth_refused(a), 1);
	assert_int_equal(counted, 1);
	assert_false(reaches(ctx, server, endpoint, f, -1)); /* no CURVE: no ZAP asked */
	/* A reload lets the intruder in and drops the backend. */
	allow(f, "intruder", ".key", "intruder.key");
	unallow(f, "backend.key");
	assert_int_equal(auth_reload(a, err, sizeof(err)), 1);
	assert_true(reaches(ctx, server, endpoint, f, 2));
	assert_false(reaches(ctx, server, endpoint, f, 1));
	/* A bad reload keeps the list in force. */
	allow(f, "pool", ".secret", "pool.secret");
	assert_int_equal(auth_reload(a, err, sizeof(err)), -1);
	assert_true(reaches(ctx, server, endpoint, f, 2));
	assert_int_equal(auth_refused(a), 2);

	zmq_close(server);
	auth_destroy(&a);
	assert_null(a);
	assert_int_equal(zmq_ctx_term(ctx), 0);
}

static void config_asks_for_curve_beyond_loopback(void **state)
{
	struct fx *f = *state;
	struct config cfg;
	char err[512], path[160];

	assert_true(config_endpoint_local("tcp://127.0.0.1:5555"));
	assert_true(config_endpoint_local("tcp://127.3.4.5:1"));
	assert_true(config_endpoint_local("tcp://localhost:5555"));
	assert_true(config_endpoint_local("tcp://[::1]:5555"));
	assert_true(config_endpoint_local("ipc:///run/smsq/ingest"));
	assert_false(config_endpoint_local("tcp://0.0.0.0:5555"));
	assert_false(config_endpoint_local("tcp://*:5555"));
	assert_false(config_endpoint_local("tcp://eth0:5555"));
	assert_false(config_endpoint_local("tcp://lo:5555"));
	assert_false(config_endpoint_local("tcp://127.0.0.1.evil.example:5555"));
	assert_false(config_endpoint_local("tcp://10.0.0.5:5555"));
	assert_false(config_endpoint_local("tcp://[::]:5555"));
	assert_false(config_endpoint_local("tcp://127.0.0.1"));

	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "ingest.endpoint", "tcp://0.0.0.0:5555", err,
				    sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "reachable from other machines"));
	assert_int_equal(config_set(&cfg, "ingest.allow_anyone", "1", err, sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_int_equal(config_set(&cfg, "ingest.allow_anyone", "0", err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/pool.secret", f->dir);
	assert_int_equal(config_set(&cfg, "ingest.curve_secret_file", path, err, sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "go together"));
	assert_int_equal(config_set(&cfg, "ingest.curve_producers", f->allowed, err,
				    sizeof(err)), 0);
	assert_int_equal(config_check(&cfg, err, sizeof(err)), 0);
	assert_int_equal(config_load_secrets(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.ingest_curve_public, f->pub[0]);
	assert_true(keyfile_z85_ok(cfg.ingest_curve_secret));
	/* Never printed. */
	{
		char *out = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&out, &len);

		assert_non_null(m);
		config_print(&cfg, m);
		fclose(m);
		assert_null(strstr(out, cfg.ingest_curve_secret));
		free(out);
	}
	/* Others may read it: refused. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(config_load_secrets(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	assert_string_equal(cfg.ingest_curve_secret, "");
	assert_int_equal(chmod(path, 0600), 0);
	/* The public file where the pair belongs. */
	snprintf(path, sizeof(path), "%s/pool.key", f->dir);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(config_set(&cfg, "ingest.curve_secret_file", path, err, sizeof(err)), 0);
	assert_int_equal(config_load_secrets(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no secret key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(list_reads_the_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(zap_lets_listed_keys_in_only, setup, teardown),
		cmocka_unit_test_setup_teardown(config_asks_for_curve_beyond_loopback, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
