/*
 * store_seal: encryption at rest of the personal sections (see store.h,
 * "encryption at rest", for the contract; common/seal.h for the cipher).
 *
 * DESIGN
 *
 * A record written with a key seals its event section alone, and its
 * destination and text sections together (REC_SEALED), each bound to the
 * message id and to which of the two it is (additional data: the id
 * big-endian, then SEAL_AD_EVENT or SEAL_AD_TT): a section moved under
 * another id, or swapped for the other, does not open.  The destination
 * and text are sealed together so that the ready entry's sending copy is
 * the record's ciphertext and seal copied as they are: making a message
 * ready again (promote) needs no key and costs no cipher; the key is used
 * where a worker leases the message, smsqctl shows it, and the erasure
 * masks its number.
 *
 * The key check is a seal of SEAL_CHECK_TEXT in meta, written by the
 * first writer with a key: a handle opened with another key is refused at
 * once, not when its first message fails to open.  A record that does not
 * open all the same (bytes altered on disk) is the one message's failure
 * (store_lease(): failed with STORE_NOTE_UNSEALED), never a crash and
 * never an SMS of garbage (the tag is checked before anything is used).
 */
#include "store/store_impl.h"

#include <stdio.h>
#include <string.h>

#define SEAL_CHECK_TEXT "smsq store key check"
#define SEAL_CHECK_AD "key-check"
#define SEAL_AD_LEN (ID_KEY_LEN + 1)

static void seal_ad(unsigned char *ad, uint64_t id, int section)
{
	put_be64(ad, id);
	ad[ID_KEY_LEN] = (unsigned char)section;
}

int seal_setup(store *s, MDB_txn *txn, const unsigned char *key, char *err, size_t errlen)
{
	MDB_val k = { sizeof(STORE_KEY_CHECK) - 1, (void *)STORE_KEY_CHECK };
	MDB_val v;
	unsigned char check[sizeof(SEAL_CHECK_TEXT) - 1 + SEAL_BYTES];
	unsigned char plain[sizeof(SEAL_CHECK_TEXT) - 1];
	int rc = mdb_get(txn, s->db_meta, &k, &v);

	if (rc != 0 && rc != MDB_NOTFOUND) {
		snprintf(err, errlen, "store: read the key check: %s", mdb_strerror(rc));
		return -1;
	}
	s->sh->encrypted = rc == 0;
	if (key == NULL) {
		if (s->sh->encrypted && !s->read_only && s->record_ceiling) {
			snprintf(err, errlen, "store: %s was written with a key (encryption at "
				 "rest): set store.encrypt_key_file to that key", s->dir);
			return -1;
		}
		return 0;
	}
	s->sh->seal = seal_new(key, err, errlen);
	if (s->sh->seal == NULL)
		return -1;
	if (s->sh->encrypted) {
		if (v.mv_size != sizeof(check) ||
		    seal_open(s->sh->seal, plain, v.mv_data, sizeof(plain), SEAL_CHECK_AD,
			      sizeof(SEAL_CHECK_AD) - 1,
			      (const unsigned char *)v.mv_data + sizeof(plain)) != 0 ||
		    memcmp(plain, SEAL_CHECK_TEXT, sizeof(plain)) != 0) {
			snprintf(err, errlen, "store: store.encrypt_key_file is not the key %s was "
				 "written with (its key check does not open)", s->dir);
			return -1;
		}
		return 0;
	}
	if (s->read_only)
		return 0; /* nothing sealed yet: nothing to check against */
	seal_close(s->sh->seal, check, SEAL_CHECK_TEXT, sizeof(plain), SEAL_CHECK_AD,
		   sizeof(SEAL_CHECK_AD) - 1, check + sizeof(plain));
	v.mv_size = sizeof(check);
	v.mv_data = check;
	rc = mdb_put(txn, s->db_meta, &k, &v, 0);
	if (rc != 0) {
		snprintf(err, errlen, "store: write the key check: %s", mdb_strerror(rc));
		return -1;
	}
	s->sh->encrypted = 1;
	return 0;
}

int seal_needed(store *s, const char *what)
{
	if (s->sh->encrypted && s->sh->seal == NULL) {
		set_err(s, "%s: the store is encrypted at rest and this handle has no key "
			"(store.encrypt_key_file)", what);
		return -1;
	}
	return 0;
}

void rec_seal(store *s, uint64_t id, int section, void *c, const void *m, size_t len,
	      unsigned char *trailer)
{
	unsigned char ad[SEAL_AD_LEN];

	seal_ad(ad, id, section);
	seal_close(s->sh->seal, c, m, len, ad, sizeof(ad), trailer);
}

/* Open len bytes of message id's section at c into buf. */
static int unseal(store *s, uint64_t id, int section, void *buf, const void *c, size_t len,
		  const unsigned char *trailer)
{
	unsigned char ad[SEAL_AD_LEN];

	if (s->sh->seal == NULL)
		return RC_UNSEALED;
	seal_ad(ad, id, section);
	return seal_open(s->sh->seal, buf, c, len, ad, sizeof(ad), trailer) == 0 ? 0
										  : RC_UNSEALED;
}

int rec_unseal_tt(store *s, uint64_t id, struct rec *r, char *buf)
{
	size_t n = (size_t)r->h.to_len + r->h.text_len;
	int rc;

	if (r->seal_tt == NULL)
		return 0;
	/* The two sections are one ciphertext: text follows destination. */
	if (r->text != r->to + r->h.to_len)
		return RC_UNSEALED;
	rc = unseal(s, id, SEAL_AD_TT, buf, r->to, n, r->seal_tt);
	if (rc != 0)
		return rc;
	r->to = buf;
	r->text = buf + r->h.to_len;
	r->seal_tt = NULL;
	return 0;
}

int rec_unseal_event(store *s, uint64_t id, struct rec *r, void *buf)
{
	int rc;

	if (r->seal_ev == NULL)
		return 0;
	rc = unseal(s, id, SEAL_AD_EVENT, buf, r->event, r->h.event_len, r->seal_ev);
	if (rc != 0)
		return rc;
	r->event = buf;
	r->seal_ev = NULL;
	return 0;
}
