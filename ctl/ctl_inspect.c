/*
 * ctl_inspect: one message, a list of them (see ctl_inspect.h).
 *
 * DESIGN
 * A read-only handle and store_get(): the one read transaction gives a
 * consistent message while the pool moves others.  The packed event is
 * decoded only for its booking fields; what is personal in it (the number,
 * the names, the text) is not printed, but for the number when asked.
 */
#include "ctl/ctl_inspect.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/num.h"
#include "proto/booking.pb-c.h"
#include "store/store.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Whether a note in state st is ours or the provider's id (shown as it is),
 * or a reason that may echo a number back (masked). */
static int note_is_plain(enum store_state st)
{
	return st == STORE_STATE_SENT || st == STORE_STATE_DELIVERED ||
	       st == STORE_STATE_UNDELIVERED || st == STORE_STATE_SUPERSEDED ||
	       st == STORE_STATE_CANCELLED;
}

/* "2026-12-07T14:05:00.123Z", or "-" for 0. */
static const char *iso(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&s, &tm) == NULL) {
		snprintf(buf, len, "-");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

static json_t *time_or_null(int64_t ms)
{
	char buf[80];

	return ms > 0 ? json_string(iso(ms, buf, sizeof(buf))) : json_null();
}

static int print(const struct store_msg *m, const Smsq__BookingEvent *ev, int json,
		 int show_number)
{
	char to[STORE_TO_MAX + 1], note[STORE_NOTE_MAX + 1];
	char t1[80], t2[80], t3[80], t4[80], t5[80], t6[80];
	const char *kind = m->kind != STORE_KIND_NONE ? store_kind_name((enum store_kind)m->kind)
			   : ev != NULL && ev->kind >= SMSQ__KIND__KIND_CONFIRMED &&
					   ev->kind <= SMSQ__KIND__KIND_REMINDER
				   ? store_kind_name((enum store_kind)ev->kind)
				   : "-";
	int waiting = m->state == STORE_STATE_DELAYED || m->state == STORE_STATE_INFLIGHT;

	if (show_number || m->erased || m->sealed)
		snprintf(to, sizeof(to), "%s", m->to); /* erased: masked in the store */
	else
		log_mask_phone(m->to, to, sizeof(to));
	if (note_is_plain(m->state))
		snprintf(note, sizeof(note), "%s", m->note);
	else
		log_mask_numbers(m->note, note, sizeof(note));
	if (json) {
		json_t *o = json_pack(
			"{s:I, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o,"
			" s:i, s:s, s:i, s:s?, s:s?, s:b}",
			"id", (json_int_t)m->id, "key", m->idem_key, "state", store_state_name(m->state),
			"priority", m->priority, "attempts", m->attempts, "ambiguous_retries",
			m->ambiguous, "booking_id", ev != NULL ? ev->booking_id : m->booking, "kind", kind,
			"locale", ev != NULL ? ev->locale : "", "created", time_or_null(m->created_ms),
			"not_before", time_or_null(m->not_before_ms), "appointment",
			time_or_null(m->appointment_ms), "expires", time_or_null(m->expires_ms),
			"updated", time_or_null(m->updated_ms), "due",
			waiting ? time_or_null(m->due_ms) : json_null(), "segments", m->segments,
			"encoding", m->encoding == STORE_ENC_UCS2 ? "ucs2" : m->encoding == STORE_ENC_GSM7
										? "gsm7" : "unknown",
			"provider_index", m->provider, "to", to, "note", note[0] ? note : NULL,
			"personal_data_erased", m->erased);

		if (o != NULL && m->sealed)
			json_object_set_new(o, "personal_data_sealed",
					    json_string(m->sealed == 1 ? "no key" : "does not open"));

		if (o == NULL || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
			json_decref(o);
			return 1;
		}
		json_decref(o);
		printf("\n");
		return 0;
	}
	printf("id          %" PRIu64 "\n", m->id);
	printf("key         %s\n", m->idem_key);
	printf("booking     %s (%s, %s)\n", ev != NULL ? ev->booking_id : m->booking[0] ? m->booking : "-", kind,
	       ev != NULL && ev->locale[0] ? ev->locale : "-");
	printf("state       %s", store_state_name(m->state));
	if (m->state == STORE_STATE_DELAYED)
		printf(", next try %s", iso(m->due_ms, t1, sizeof(t1)));
	else if (m->state == STORE_STATE_INFLIGHT)
		printf(", leased until %s", iso(m->due_ms, t1, sizeof(t1)));
	printf("\n");
	printf("attempts    %u (after an ambiguous timeout: %u); last provider #%u\n", m->attempts,
	       m->ambiguous, m->provider);
	printf("note        %s\n", note[0] ? note : "-");
	printf("to          %s\n", to);
	if (m->erased)
		printf("personal    erased: the number is kept masked; the names, the place and the "
		       "text are gone\n");
	if (m->sealed == 1)
		printf("personal    encrypted at rest: with the store's key (-o "
		       "store.encrypt_key_file=FILE) it shows\n");
	else if (m->sealed == 2)
		printf("personal    encrypted at rest, and does not open with this key: altered\n");
	printf("text        %u SMS part(s), %s\n", m->segments,
	       m->encoding == STORE_ENC_UCS2 ? "UCS-2" : m->encoding == STORE_ENC_GSM7 ? "GSM-7"
										  : "encoding unknown");
	printf("priority    %u\n", m->priority);
	printf("times       booked %s, not before %s, appointment %s, expires %s, changed %s\n",
	       iso(m->created_ms, t2, sizeof(t2)), iso(m->not_before_ms, t3, sizeof(t3)),
	       iso(m->appointment_ms, t4, sizeof(t4)), iso(m->expires_ms, t5, sizeof(t5)),
	       iso(m->updated_ms, t6, sizeof(t6)));
	return ferror(stdout) ? 1 : 0;
}

/* Read message id and print it.  Returns an exit code (3: not found). */
static int inspect_one(store *st, uint64_t id, int json, int show_number)
{
	struct store_msg m;
	Smsq__BookingEvent *ev;
	int code, rc = store_get(st, id, &m);

	if (rc == STORE_NOTFOUND)
		return 3;
	if (rc != STORE_OK) {
		fprintf(stderr, "smsqctl: inspect: %s\n", store_errmsg(st));
		return 1;
	}
	ev = m.sealed ? NULL : smsq__booking_event__unpack(NULL, m.event_len, m.event);
	code = print(&m, ev, json, show_number);
	if (ev != NULL)
		smsq__booking_event__free_unpacked(ev, NULL);
	free(m.event);
	free(m.text);
	return code;
}

/* Every message of booking b, oldest event first. */
static int inspect_booking(store *st, const char *b, int json, int show_number)
{
	uint64_t ids[CTL_BOOKING_MAX];
	long n = store_booking(st, b, strlen(b), ids, CTL_BOOKING_MAX);
	int code = 0;

	if (n < 0) {
		fprintf(stderr, "smsqctl: inspect: %s\n", store_errmsg(st));
		return strlen(b) == 0 ? 2 : 1;
	}
	if (n == 0) {
		fprintf(stderr, "smsqctl: inspect: no message of booking %s\n", b);
		return 3;
	}
	if (json)
		printf("[\n");
	else
		printf("booking %s: %ld message%s, oldest event first%s\n", b, n, n == 1 ? "" : "s",
		       n > CTL_BOOKING_MAX ? " (the first " STR(CTL_BOOKING_MAX) " shown)" : "");
	for (long i = 0; i < n && i < CTL_BOOKING_MAX && code == 0; i++) {
		if (i > 0)
			printf(json ? ",\n" : "\n");
		code = inspect_one(st, ids[i], json, show_number);
		if (code == 3)
			code = 0; /* gone between the two reads */
	}
	if (json)
		printf("]\n");
	return code;
}

int ctl_inspect(const char *dir, const unsigned char *seal_key, const char *id_text,
		const char *key, const char *booking, int json, int show_number)
{
	struct store_opts so = { .dir = dir, .read_only = 1, .seal_key = seal_key };
	char err[512];
	uint64_t id = 0;
	store *st;
	int rc, code = 1;

	if (id_text != NULL && num_parse_u64(id_text, 1, UINT64_MAX, &id) != 0) {
		fprintf(stderr, "smsqctl: inspect: '%s' is not a message id (a number; "
				"--key KEY for an idempotency key)\n", id_text);
		return 2;
	}
	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 1;
	}
	if (booking != NULL) {
		code = inspect_booking(st, booking, json, show_number);
		goto out;
	}
	rc = key != NULL ? store_find_key(st, key, strlen(key), &id) : STORE_OK;
	if (rc != STORE_OK && rc != STORE_NOTFOUND) {
		fprintf(stderr, "smsqctl: inspect: %s\n", store_errmsg(st));
		goto out;
	}
	code = rc == STORE_OK ? inspect_one(st, id, json, show_number) : 3;
	if (code == 3) {
		if (key != NULL)
			fprintf(stderr, "smsqctl: inspect: no message with key %s\n", key);
		else
			fprintf(stderr, "smsqctl: inspect: no message %s\n", id_text);
	}
out:
	store_close(&st);
	return code;
}

#define LIST_SCAN 100000 /* index entries a page may read (store_list()) */

int ctl_list(const char *dir, const struct store_query *q, const char *after, size_t limit,
	     int json)
{
	struct store_opts so = { .dir = dir, .read_only = 1 };
	struct store_brief *b = NULL;
	char err[512], next[STORE_LIST_CURSOR_MAX], note[STORE_NOTE_MAX + 1];
	int64_t now = clock_wall_ms();
	json_t *arr = NULL;
	store *st;
	long n;
	int code = 1;

	st = store_open(&so, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 1;
	}
	b = calloc(limit, sizeof(*b));
	if (b == NULL) {
		fprintf(stderr, "smsqctl: list: out of memory\n");
		goto out;
	}
	n = store_list(st, q, after, LIST_SCAN, b, limit, next);
	if (n < 0) {
		fprintf(stderr, "smsqctl: %s\n", store_errmsg(st));
		code = after != NULL ? 2 : 1;
		goto out;
	}
	if (json)
		arr = json_array();
	if (!json)
		printf("%-10s %-9s %8s  %-32s %10s  %s\n", "id", "state", "attempts", "key", "age",
		       "note");
	for (long i = 0; i < n; i++) {
		const struct store_brief *m = &b[i];
		char t[80];

		if (note_is_plain(m->state))
			snprintf(note, sizeof(note), "%s", m->note);
		else
			log_mask_numbers(m->note, note, sizeof(note));
		if (json) {
			json_t *o = json_pack("{s:I, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:s?}",
					      "id", (json_int_t)m->id, "key", m->idem_key, "state",
					      store_state_name(m->state), "priority", m->priority,
					      "attempts", m->attempts, "provider_index", m->provider,
					      "created", time_or_null(m->created_ms), "appointment",
					      time_or_null(m->appointment_ms), "due",
					      time_or_null(m->due_ms), "updated",
					      time_or_null(m->updated_ms), "note", note[0] ? note : NULL);

			if (o == NULL || json_array_append_new(arr, o) != 0)
				goto out;
			continue;
		}
		snprintf(t, sizeof(t), "%.0f s", (double)(now - m->created_ms) / 1000.0);
		printf("%-10" PRIu64 " %-9s %8u  %-32.64s %10s  %s\n", m->id,
		       store_state_name(m->state), m->attempts, m->idem_key, t,
		       note[0] ? note : "-");
	}
	if (json) {
		json_t *root = json_pack("{s:o, s:o}", "messages", arr, "next",
					 next[0] ? json_string(next) : json_null());

		arr = NULL;
		if (root == NULL || json_dumpf(root, stdout, JSON_INDENT(2)) != 0) {
			json_decref(root);
			goto out;
		}
		json_decref(root);
		printf("\n");
	} else if (next[0] != '\0') {
		printf("(more: the same command with --after %s)\n", next);
	}
	code = ferror(stdout) ? 1 : 0;
out:
	json_decref(arr);
	free(b);
	store_close(&st);
	return code;
}
