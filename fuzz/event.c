/*
 * fuzz/event: libFuzzer harness for what ingest does with the event frame
 * of a request (worker/ingest.c read_request() and read_batch()): the size
 * limit, validate_wire() (text/validate.c), protobuf-c's unpack of
 * proto/booking.proto's BookingEvent, then prepare_event() (text/prepare.c:
 * validate_event(), the phone number, rendering from the checkout's
 * etc/templates or the ready text, smart encoding, the provider limits), as
 * far as it runs without the store.
 *
 * The input is the bytes of one event frame.  Two preparers, made once as
 * the pool makes them from its configuration (config_text_opts()), read
 * each event: the defaults, and one with smart encoding off, a country list
 * and a provider's text limits, so that both paths of the text pipeline are
 * reached.  Time is fixed (NOW), so that seeds stay valid.  Beyond the
 * sanitizers: an event prepare_event() accepts has a text inside its
 * slot's capacity (or the event's own ready text), valid UTF-8.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/booking.pb-c.h"
#include "text/prepare.h"
#include "text/validate.h"
#include "worker/config.h"

#define NOW 1800000000000LL     /* a fixed "now", ms (the seeds' time) */
#define N_PREP 2

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static preparer *prep[N_PREP];
static char *slot[N_PREP];
static size_t slot_cap[N_PREP];
static size_t max_event_bytes;

/* Options of the second preparer: what differs from the defaults. */
static const char *const second[][2] = {
	{ "ingest.smart_encoding", "0" },
	{ "ingest.allowed_countries", "FR,BE,DE,GB,ES" },
	{ "provider.primary.type", "twilio" },
	{ "provider.primary.account", "AC0123456789abcdef0123456789abcdef" },
	{ "provider.primary.token", "fuzz" },
	{ "provider.primary.sender", "+33644630000" },
};

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz/event: %s: %s\n", what, err);
	exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct config cfg; /* large: not on the stack */
	struct prepare_opts o;
	char err[512];

	(void)argc;
	(void)argv;
	for (int i = 0; i < N_PREP; i++) {
		config_defaults(&cfg);
		for (size_t k = 0; i == 1 && k < sizeof(second) / sizeof(second[0]); k++)
			if (config_set(&cfg, second[k][0], second[k][1], err, sizeof(err)) != 0)
				die(second[k][0], err);
		if (config_text_opts(&cfg, &o, err, sizeof(err)) != 0)
			die("config_text_opts", err);
		prep[i] = preparer_new(&o, err, sizeof(err));
		if (prep[i] == NULL)
			die("preparer_new", err);
		slot_cap[i] = prepare_text_cap(prep[i]);
		slot[i] = malloc(slot_cap[i]);
		if (slot[i] == NULL)
			die("malloc", "no memory");
		max_event_bytes = (size_t)cfg.ingest_max_event_bytes;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Smsq__BookingEvent *ev;
	char detail[256];

	if (size > max_event_bytes)
		return 0; /* refused OVERSIZE before anything reads it */
	if (validate_wire(data, size, detail, sizeof(detail)) != SMSQ__REASON__REASON_NONE)
		return 0;
	ev = smsq__booking_event__unpack(NULL, size, data);
	if (ev == NULL)
		return 0;
	for (int i = 0; i < N_PREP; i++) {
		struct store_new out;
		struct prepare_info info;
		Smsq__Reason why;

		memset(&out, 0, sizeof(out));
		why = prepare_event(prep[i], ev, NOW, &out, slot[i], &info, detail, sizeof(detail));
		if (strnlen(detail, sizeof(detail)) >= sizeof(detail))
			abort();
		if (why != SMSQ__REASON__REASON_NONE)
			continue;
		if (out.text == NULL || !validate_utf8(out.text, out.text_len))
			abort();
		/* The text is in the slot, or it is the event's own. */
		if (out.text != ev->text &&
		    (out.text < slot[i] || out.text_len >= slot_cap[i] ||
		     (size_t)(out.text - slot[i]) > slot_cap[i] - out.text_len - 1))
			abort();
	}
	smsq__booking_event__free_unpacked(ev, NULL);
	return 0;
}
