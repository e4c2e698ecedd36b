/* WRAP: mdb_txn_commit */
/*
 * test_store_seal: encryption at rest (store/store_seal.c, common/seal.c):
 * the personal fields sealed in the record and in the sending copy and
 * opened for a lease and for store_get(); nothing of them in clear in
 * data.mdb; a tampered record failed, never sent; another key refused at
 * open, no key refused to the pool and to what needs the fields; receipts
 * by number found through a keyed hash; a sealed record erased.
 */
#define _GNU_SOURCE /* memmem */
#include "tests/store_fx.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/seal.h"

#define PERSONAL (2 * DAY)
#define NUMBER "+33698765432"
#define NAME "Zebulon Quaternary"
#define TEXT "Bonjour " NAME ", RDV au Centre Xylophage"

static const unsigned char key1[SEAL_KEY_BYTES] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[SEAL_KEY_BYTES] = "fedcba9876543210fedcba9876543210";
static char event_bytes[] = "\x0a\x05k-evt\x2a\x0c" NUMBER "\x32\x12" NAME;
static char long_text[1200];

/* Reopen f's store with key (NULL: none); NULL returned with err. */
static store *reopen(struct fx *f, const unsigned char *key, int ro, char *err, size_t errlen)
{
	struct store_opts o = { .dir = f->dir, .record_ceiling = !ro, .read_only = ro,
				.personal_ms = PERSONAL, .seal_key = key };

	store_close(&f->st);
	f->st = store_open(&o, err, errlen);
	return f->st;
}

static int setup_sealed(void **state)
{
	char err[256];
	int rc = setup(state);

	if (rc == 0 && reopen(*state, key1, 0, err, sizeof(err)) == NULL)
		rc = -1;
	return rc;
}

/* Message n with the personal fields above (text: TEXT, or long_text). */
static void stored(struct fx *f, int n, const char *text)
{
	struct store_new m = msg(f, n, 0, NOW + 30 * DAY, 0);

	with_text(&m, NUMBER, text);
	m.event = event_bytes;
	m.event_len = sizeof(event_bytes) - 1;
	assert_int_equal(store_ingest(f->st, &m, 1, NOW), STORE_OK);
}

static void seal_opens_what_it_sealed_and_nothing_else(void **state)
{
	unsigned char c[sizeof(TEXT)], m[sizeof(TEXT)], tr[SEAL_BYTES], h1[SEAL_HASH_BYTES],
		h2[SEAL_HASH_BYTES];
	char err[128];
	seal *a = seal_new(key1, err, sizeof(err)), *b = seal_new(key2, err, sizeof(err));

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	seal_close(a, c, TEXT, sizeof(TEXT), "id1", 3, tr);
	assert_null(memmem(c, sizeof(c), "Zebulon", 7));
	assert_int_equal(seal_open(a, m, c, sizeof(c), "id1", 3, tr), 0);
	assert_memory_equal(m, TEXT, sizeof(TEXT));
	assert_int_equal(seal_open(a, m, c, sizeof(c), "id2", 3, tr), -1); /* moved */
	assert_int_equal(seal_open(b, m, c, sizeof(c), "id1", 3, tr), -1); /* another key */
	c[3] ^= 1;
	assert_int_equal(seal_open(a, m, c, sizeof(c), "id1", 3, tr), -1); /* altered */
	seal_hash(a, h1, NUMBER, strlen(NUMBER));
	seal_hash(b, h2, NUMBER, strlen(NUMBER));
	assert_memory_not_equal(h1, h2, sizeof(h1));
	seal_hash(b, h1, NUMBER, strlen(NUMBER));
	assert_memory_equal(h1, h2, sizeof(h1));
	seal_destroy(&a);
	seal_destroy(&b);
	assert_null(a);
}

static void sealed_fields_are_read_back_and_leased_in_clear_never_stored_so(void **state)
{
	struct fx *f = *state;
	struct store_msg m;
	size_t n;

	memset(long_text, 'x', sizeof(long_text) - 1);
	memcpy(long_text, "Xylophage", 9); /* too long for a sending copy */
	stored(f, 0, TEXT);
	stored(f, 1, long_text);
	assert_false(file_has(f, NAME));
	assert_false(file_has(f, "Xylophage"));
	assert_false(file_has(f, NUMBER + 1));
	assert_false(file_has(f, "98765432"));
	assert_int_equal(store_get(f->st, 1, &m), STORE_OK);
	assert_int_equal(m.sealed, 0);
	assert_string_equal(m.to, NUMBER);
	assert_string_equal(m.text, TEXT);
	assert_int_equal(m.event_len, sizeof(event_bytes) - 1);
	assert_memory_equal(m.event, event_bytes, m.event_len);
	free(m.event);
	free(m.text);
	verified(f);
	n = lease(f, NOW, 2, 0, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(leased[0].to, NUMBER);
	assert_string_equal(leased[0].text, TEXT);
	assert_string_equal(leased[1].to, NUMBER);
	assert_string_equal(leased[1].text, long_text);
	verified(f);
}

/* Flip the last byte (a tag's) of every record and ready entry. */
static void flip_last(MDB_txn *txn, const char *name)
{
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char buf[2048];

		assert_true(v.mv_size <= sizeof(buf));
		memcpy(buf, v.mv_data, v.mv_size);
		buf[v.mv_size - 1] ^= 0x5a;
		v.mv_data = buf;
		assert_int_equal(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
	}
	mdb_cursor_close(cur);
}

static void alter_sealed(MDB_txn *txn)
{
	flip_last(txn, "msg");
	flip_last(txn, "ready");
}

static void a_tampered_record_fails_its_message_and_is_never_sent(void **state)
{
	struct fx *f = *state;
	struct store_msg m;
	char note[STORE_NOTE_MAX + 1], err[256];

	stored(f, 0, TEXT);
	tamper(f, alter_sealed);
	assert_non_null(reopen(f, key1, 0, err, sizeof(err)));
	assert_int_equal(lease(f, NOW, 4, 0, NULL), 0);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_FAILED);
	assert_non_null(strstr(note, "cannot decrypt"));
	assert_int_equal(stats(f->st).unsealed_ever, 1);
	assert_int_equal(store_get(f->st, 1, &m), STORE_OK);
	assert_int_equal(m.sealed, 2);
	assert_string_equal(m.to, STORE_SEALED_SAYS);
	free(m.event);
	free(m.text);
}

static void another_key_is_refused_and_no_key_reads_nothing_personal(void **state)
{
	struct fx *f = *state;
	struct store_msg m;
	struct store_new n;
	char err[256] = "";

	stored(f, 0, TEXT);
	assert_null(reopen(f, key2, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "not the key"));
	assert_null(reopen(f, key2, 1, err, sizeof(err)));
	assert_null(reopen(f, NULL, 0, err, sizeof(err))); /* the pool's handle */
	assert_non_null(strstr(err, "store.encrypt_key_file"));
	/* smsqctl's: everything but the sealed fields */
	assert_non_null(reopen(f, NULL, 1, err, sizeof(err)));
	assert_int_equal(store_get(f->st, 1, &m), STORE_OK);
	assert_int_equal(m.sealed, 1);
	assert_string_equal(m.to, STORE_SEALED_SAYS);
	assert_string_equal(m.text, STORE_SEALED_SAYS);
	assert_int_equal(m.event_len, 0);
	assert_string_equal(m.idem_key, "k0");
	free(m.event);
	free(m.text);
	/* a writer without the key writes nothing in clear, sends nothing */
	store_close(&f->st);
	f->st = open_store(f->dir, 0, 0, 0);
	assert_null(f->st); /* record_ceiling */
	{
		struct store_opts o = { .dir = f->dir };

		f->st = store_open(&o, err, sizeof(err));
	}
	assert_non_null(f->st);
	n = msg(f, 1, 0, NOW + DAY, 0);
	with_text(&n, NUMBER, TEXT);
	assert_int_equal(store_ingest(f->st, &n, 1, NOW), STORE_ERROR);
	assert_non_null(strstr(store_errmsg(f->st), "no key"));
	{
		size_t got = 9;

		assert_int_equal(store_lease(f->st, NOW, 30000, 4, 0, leased, leased_texts,
					     sizeof(leased_texts), &got, NULL), STORE_ERROR);
		assert_int_equal(got, 0);
	}
	assert_non_null(reopen(f, key1, 0, err, sizeof(err)));
	assert_int_equal(lease(f, NOW, 4, 0, NULL), 1);
	assert_string_equal(leased[0].text, TEXT);
}

static void a_reason_keeps_no_number_in_clear(void **state)
{
	struct fx *f = *state;
	struct store_outcome o;
	char note[STORE_NOTE_MAX + 1];

	stored(f, 0, TEXT);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_FAILED, NOW, "HTTP 400: The 'To' number " NUMBER
		    " is not valid");
	assert_int_equal(store_finish(f->st, &o, 1, NOW), STORE_OK);
	assert_int_equal(state_of(f, 1, note, sizeof(note)), STORE_STATE_FAILED);
	assert_null(strstr(note, "98765"));
	assert_non_null(strstr(note, "is not valid"));
	assert_false(file_has(f, "98765432"));
	verified(f);
}

static void sent(struct fx *f)
{
	struct store_outcome o;

	stored(f, 0, TEXT);
	assert_int_equal(lease(f, NOW, 1, 0, NULL), 1);
	o = outcome(&leased[0], STORE_OUT_SENT, NOW, "SM1");
	o.receipt_to = NUMBER;
	assert_int_equal(store_finish(f->st, &o, 1, NOW), STORE_OK);
}

static void a_receipt_by_number_finds_its_message_through_a_keyed_hash(void **state)
{
	struct fx *f = *state;
	struct store_receipt r;

	sent(f);
	memset(&r, 0, sizeof(r));
	r.delivered = 1;
	r.at_ms = NOW + 1000;
	snprintf(r.provider_id, sizeof(r.provider_id), "SM1");
	snprintf(r.status, sizeof(r.status), "DELIVRD");
	snprintf(r.to, sizeof(r.to), "%s", NUMBER + 1); /* without its "+" */
	assert_int_equal(store_receipts(f->st, &r, 1, NOW + 1000), STORE_OK);
	assert_int_equal(r.result, STORE_RECEIPT_RECORDED);
	assert_int_equal(state_of(f, 1, NULL, 0), STORE_STATE_DELIVERED);
	assert_false(file_has(f, "98765432"));
	verified(f);
}

static void a_sealed_record_is_erased(void **state)
{
	struct fx *f = *state;
	struct store_purged p;
	struct store_msg m;
	char err[256];

	sent(f);
	assert_int_equal(store_purge(f->st, NOW + PERSONAL, STORE_PURGE_VISIT, &p), STORE_OK);
	assert_int_equal(p.erased, 1);
	assert_int_equal(store_get(f->st, 1, &m), STORE_OK);
	assert_int_equal(m.erased, 1);
	assert_int_equal(m.sealed, 0);
	assert_int_equal(strlen(m.to), strlen(NUMBER));
	assert_non_null(strchr(m.to, '*'));
	assert_null(strstr(m.to, "98765"));
	for (size_t i = 0; i < strlen(TEXT); i++)
		assert_int_equal(m.text[i], 0);
	free(m.event);
	free(m.text);
	verified(f);
	/* read without the key as well: erased, nothing sealed left */
	assert_non_null(reopen(f, NULL, 1, err, sizeof(err)));
	assert_int_equal(store_get(f->st, 1, &m), STORE_OK);
	assert_int_equal(m.erased, 1);
	assert_int_equal(m.sealed, 0);
	free(m.event);
	free(m.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seal_opens_what_it_sealed_and_nothing_else),
		cmocka_unit_test_setup_teardown(
			sealed_fields_are_read_back_and_leased_in_clear_never_stored_so,
			setup_sealed, teardown),
		cmocka_unit_test_setup_teardown(a_tampered_record_fails_its_message_and_is_never_sent,
						setup_sealed, teardown),
		cmocka_unit_test_setup_teardown(
			another_key_is_refused_and_no_key_reads_nothing_personal, setup_sealed,
			teardown),
		cmocka_unit_test_setup_teardown(
			a_receipt_by_number_finds_its_message_through_a_keyed_hash, setup_sealed,
			teardown),
		cmocka_unit_test_setup_teardown(a_sealed_record_is_erased, setup_sealed, teardown),
		cmocka_unit_test_setup_teardown(a_reason_keeps_no_number_in_clear, setup_sealed,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
