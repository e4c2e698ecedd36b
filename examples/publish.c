/*
 * publish: an example of the smsq producer library (smsq_producer(3)).
 *
 *	publish [-e ENDPOINT] [-n COUNT] [-k KEY_PREFIX]
 *
 * Publishes COUNT booking confirmations (default 3) to the pool at ENDPOINT
 * (default tcp://127.0.0.1:5555), pipelined, waits for every outcome and
 * prints one line per event:
 *
 *	example-1 accepted message_id=17 sends=1 elapsed_ms=4
 *
 * Each event has its own idempotency key, KEY_PREFIX-1 to KEY_PREFIX-COUNT:
 * running it twice with the same prefix gets "duplicate" answers, and no
 * second SMS.  Exit status: 0 if every event was accepted or a duplicate,
 * 1 otherwise, 2 on a usage error.
 *
 * The library takes events as packed protocol buffers: this program packs
 * them with the protobuf-c code of booking.proto, which the Makefile
 * generates from the copy installed with the library.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <smsq_producer.h>

#include "booking.pb-c.h"

#define KEY_MAX 100		/* longest idempotency key built here */
#define COUNT_MAX 100000	/* events one run may publish */
#define DAY_MS (24 * 3600 * 1000LL)

struct tally {
	unsigned ok;		/* accepted or duplicate */
	unsigned bad;		/* rejected or no ack */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Called once per event, from smsq_poll() or smsq_flush(). */
static void on_ack(const struct smsq_ack *ack, void *user, void *arg)
{
	const char *key = user;	/* what we gave smsq_publish() */
	struct tally *t = arg;

	printf("%s %s message_id=%" PRIu64 " sends=%u elapsed_ms=%" PRId64, key,
	       smsq_status_name(ack->status), ack->message_id, ack->sends, ack->elapsed_ms);
	if (ack->status == SMSQ_REJECTED || ack->status == SMSQ_NO_ACK)
		printf(" reason=%s detail=\"%s\"", smsq_reason_name(ack->reason), ack->detail);
	printf("\n");
	if (ack->status == SMSQ_ACCEPTED || ack->status == SMSQ_DUPLICATE)
		t->ok++;
	else
		t->bad++;
}

/* Pack a confirmation with key `key` into a new buffer; NULL if out of memory. */
static uint8_t *pack_event(const char *key, size_t *len)
{
	Smsq__BookingEvent ev = SMSQ__BOOKING_EVENT__INIT;
	char booking[KEY_MAX + 3];
	int64_t now = now_ms();
	uint8_t *buf;

	snprintf(booking, sizeof(booking), "B-%s", key);
	ev.version = 1;
	ev.idempotency_key = (char *)key;
	ev.booking_id = booking;
	ev.kind = SMSQ__KIND__KIND_CONFIRMED;
	ev.phone = "+33612345678";
	ev.locale = "fr-FR";
	ev.patient_name = "Camille Martin";
	ev.practitioner_name = "Dr Lefèvre";
	ev.place = "Centre de vaccination de Nîmes";
	ev.appointment_at_ms = now + 2 * DAY_MS;
	ev.time_zone = "Europe/Paris";
	ev.created_at_ms = now;
	*len = smsq__booking_event__get_packed_size(&ev);
	buf = malloc(*len > 0 ? *len : 1);
	if (buf != NULL)
		smsq__booking_event__pack(&ev, buf);
	return buf;
}

static int usage(void)
{
	fprintf(stderr, "usage: publish [-e ENDPOINT] [-n COUNT] [-k KEY_PREFIX]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *endpoint = "tcp://127.0.0.1:5555";
	const char *prefix = "example";
	struct tally tally = { 0, 0 };
	char (*keys)[KEY_MAX + 1] = NULL;
	smsq_producer *p = NULL;
	char err[256];
	long count = 3;
	int status = 1;
	int c, rc;

	while ((c = getopt(argc, argv, "e:n:k:")) != -1) {
		char *end;

		switch (c) {
		case 'e': endpoint = optarg; break;
		case 'k': prefix = optarg; break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || count < 1 || count > COUNT_MAX) {
				fprintf(stderr, "publish: -n must be 1..%d, not '%s'\n", COUNT_MAX,
					optarg);
				return 2;
			}
			break;
		default: return usage();
		}
	}
	if (optind != argc)
		return usage();
	if (strlen(prefix) + 8 > KEY_MAX) {
		fprintf(stderr, "publish: -k: a prefix of %d bytes at most\n", KEY_MAX - 8);
		return 2;
	}

	keys = calloc((size_t)count, sizeof(*keys));
	if (keys == NULL) {
		fprintf(stderr, "publish: out of memory\n");
		return 1;
	}
	p = smsq_producer_new(endpoint, NULL, err, sizeof(err));
	if (p == NULL) {
		fprintf(stderr, "publish: %s\n", err);
		goto out;
	}
	for (long i = 0; i < count; i++) {
		uint8_t *ev;
		size_t len;

		snprintf(keys[i], sizeof(keys[i]), "%s-%ld", prefix, i + 1);
		ev = pack_event(keys[i], &len);
		if (ev == NULL) {
			fprintf(stderr, "publish: out of memory\n");
			goto out;
		}
		/* Copied by the library: the buffer can go at once. */
		rc = smsq_publish(p, ev, len, keys[i], -1);
		free(ev);
		if (rc < 0) {
			fprintf(stderr, "publish: %s: %s\n", keys[i], smsq_strerror(rc));
			goto out;
		}
		/* Collect what already finished, without waiting. */
		rc = smsq_poll(p, 0, on_ack, &tally);
		if (rc < 0) {
			fprintf(stderr, "publish: %s\n", smsq_strerror(rc));
			goto out;
		}
	}
	/* Wait for the rest: at most the ack timeout (30 s), even if the pool
	 * is down, since unanswered events then finish as no_ack. */
	rc = smsq_flush(p, -1, on_ack, &tally);
	if (rc < 0) {
		fprintf(stderr, "publish: %s\n", smsq_strerror(rc));
		goto out;
	}
	status = tally.bad == 0 && tally.ok == (unsigned)count ? 0 : 1;
out:
	smsq_producer_destroy(&p);
	free(keys);
	return status;
}
