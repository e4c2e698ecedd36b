/*
 * fuzz/template: libFuzzer harness for the template files
 * (text/render.c): renderer_load() reading a directory of <locale>.tmpl
 * files, then render_event() filling each kind's text for an event.
 *
 * The input is split at its first NUL byte: the part before is en.tmpl
 * (the default locale's file, which must hold every kind), the part after
 * (if any) fr.tmpl.  Both are written into a directory made once under
 * $TMPDIR (removed at exit).  A file the loader accepts is rendered for
 * the four kinds, for an event in fr-FR and one in en-GB, into a buffer
 * that fits and into one that does not.  Beyond the sanitizers: a refusal
 * says why, and a rendered text is NUL-terminated, as long as *len says,
 * inside its buffer and valid UTF-8.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/booking.pb-c.h"
#include "text/render.h"
#include "text/validate.h"

#define NOW 1800000000000LL     /* the event's time base, ms */
#define DAY 86400000LL
#define OUT_MAX 4096            /* ingest.max_text_bytes' ceiling */
#define OUT_SHORT 24            /* a buffer too small for most texts */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[128];
static char en_path[160], fr_path[160];

static void cleanup(void)
{
	unlink(en_path);
	unlink(fr_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/smsq-fuzz-template.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz/template: mkdtemp");
		exit(1);
	}
	snprintf(en_path, sizeof(en_path), "%s/en.tmpl", dir);
	snprintf(fr_path, sizeof(fr_path), "%s/fr.tmpl", dir);
	if (atexit(cleanup) != 0)
		exit(1);
	return 0;
}

/* Write data[0..n) into path (n == SIZE_MAX: remove it). */
static void put(const char *path, const uint8_t *data, size_t n)
{
	FILE *f;

	if (n == SIZE_MAX) {
		unlink(path);
		return;
	}
	f = fopen(path, "wb");
	if (f == NULL || (n > 0 && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
		perror("fuzz/template: write");
		abort();
	}
}

static void render_all(renderer *r, const char *locale, const char *zone)
{
	static char out[OUT_MAX];
	char detail[256];
	Smsq__BookingEvent ev;

	smsq__booking_event__init(&ev);
	ev.version = 1;
	ev.idempotency_key = (char *)"k-1";
	ev.booking_id = (char *)"B-k-1";
	ev.phone = (char *)"+33612345678";
	ev.locale = (char *)locale;
	ev.patient_name = (char *)"Camille Martin";
	ev.practitioner_name = (char *)"Dr Lef\xc3\xa8vre";
	ev.place = (char *)"Centre de vaccination de N\xc3\xaemes";
	ev.appointment_at_ms = NOW + DAY;
	ev.time_zone = (char *)zone;
	ev.created_at_ms = NOW - 3600000LL;
	for (int k = SMSQ__KIND__KIND_CONFIRMED; k <= SMSQ__KIND__KIND_REMINDER; k++) {
		for (int pass = 0; pass < 2; pass++) {
			size_t cap = pass == 0 ? sizeof(out) : OUT_SHORT, len = 0;
			enum render_status rs;

			ev.kind = (Smsq__Kind)k;
			detail[0] = '\0';
			rs = render_event(r, &ev, out, cap, &len, detail, sizeof(detail));
			if (rs == RENDER_OK &&
			    (len >= cap || out[len] != '\0' || !validate_utf8(out, len)))
				abort();
			if (rs != RENDER_OK && rs != RENDER_TOO_LONG && detail[0] == '\0')
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t en_len = nul != NULL ? (size_t)(nul - data) : size;
	char err[512] = "";
	renderer *r;

	put(en_path, data, en_len);
	put(fr_path, nul != NULL ? nul + 1 : NULL, nul != NULL ? size - en_len - 1 : SIZE_MAX);
	r = renderer_load(dir, "en", err, sizeof(err));
	if (r == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	render_all(r, "fr-FR", "Europe/Paris");
	render_all(r, "en-GB", "Europe/London");
	renderer_free(&r);
	if (r != NULL)
		abort();
	return 0;
}
