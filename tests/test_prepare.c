/*
 * test_prepare: what ingest makes of a text before storing it
 * (text/prepare.h): a text with nothing visible is refused EMPTY_TEXT,
 * and a text over what a configured provider accepts TEXT_TOO_LONG, naming
 * the provider and its limit.
 *
 * Two tables, each row run as its own cmocka test with a human-readable name:
 *
 *   blank_cases     a ready text (or one rendered from a template that is
 *                   only {patient_name}) -> accepted or EMPTY_TEXT, with
 *                   smart encoding on and off;
 *   provider_cases  the [provider.NAME] sections configured and a text of
 *                   n copies of a character -> accepted or TEXT_TOO_LONG
 *                   and the fragments the detail must hold.
 *
 * The event is valid and fixed (tests/itlib.py event()); time is a fixed
 * NOW.  The one-template directory is written under a mkdtemp() directory,
 * removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/config.h"
#include "text/prepare.h"
#include "text/validate.h"

#define NOW 1800000000000LL       /* a fixed "now", ms */
#define DAY 86400000LL
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define R(x) SMSQ__REASON__REASON_##x
#define TEXT_BYTES_MAX 4096       /* ingest.max_text_bytes: its ceiling */

#define ZWSP "\xE2\x80\x8B"       /* U+200B ZERO WIDTH SPACE */
#define ZWJ "\xE2\x80\x8D"        /* U+200D ZERO WIDTH JOINER */
#define WJ "\xE2\x81\xA0"         /* U+2060 WORD JOINER */
#define BOM "\xEF\xBB\xBF"        /* U+FEFF */
#define SHY "\xC2\xAD"            /* U+00AD SOFT HYPHEN */
#define NBSP "\xC2\xA0"           /* U+00A0 */
#define IDSP "\xE3\x80\x80"       /* U+3000 IDEOGRAPHIC SPACE */
#define VS16 "\xEF\xB8\x8F"       /* U+FE0F VARIATION SELECTOR-16 */
#define TAG_A "\xF3\xA0\x81\xA1"  /* U+E0061 TAG LATIN SMALL LETTER A */
#define BRAILLE_BLANK "\xE2\xA0\x80" /* U+2800 */
#define GRIN "\xF0\x9F\x98\x80"   /* U+1F600: 2 UTF-16 units */

/* The template directory of the rendered cases: every kind is the
 * patient's name alone, so the name decides whether anything shows. */
static char tmpl_root[64];

static int group_setup(void **state)
{
	char path[128];
	FILE *f;

	(void)state;
	snprintf(tmpl_root, sizeof(tmpl_root), "/tmp/smsq-test-prepare.XXXXXX");
	if (mkdtemp(tmpl_root) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/en.tmpl", tmpl_root);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs("confirmed = {patient_name}\nrescheduled = {patient_name}\n"
	      "cancelled = {patient_name}\nreminder = {patient_name}\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/en.tmpl", tmpl_root);
	unlink(path);
	rmdir(tmpl_root);
	return 0;
}

/* ---- fixture: a configuration, a valid event, what prepare made ------- */

struct fx {
	const void *row;           /* the table row being run, or NULL */
	struct config cfg;         /* defaults, then the case's options */
	Smsq__BookingEvent ev;     /* valid; text and patient_name per case */
	struct store_new out;      /* what prepare_event() filled */
	char slot[TEXT_BYTES_MAX * 2]; /* prepare's text slot */
	char text[TEXT_BYTES_MAX + 1]; /* a generated ready text */
	char detail[256];          /* the detail */
};

static void set(struct fx *f, const char *name, const char *value)
{
	char err[256];

	if (config_set(&f->cfg, name, value, err, sizeof(err)) != 0)
		fail_msg("config %s = %s: %s", name, value, err);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	Smsq__BookingEvent *e;

	if (f == NULL)
		return -1;
	f->row = *state; /* the table row (initial state), or NULL */
	config_defaults(&f->cfg);
	e = &f->ev;
	smsq__booking_event__init(e);
	e->version = 1;
	e->idempotency_key = (char *)"k-1";
	e->booking_id = (char *)"B-k-1";
	e->kind = SMSQ__KIND__KIND_CONFIRMED;
	e->phone = (char *)"+33612345678";
	e->locale = (char *)"fr-FR";
	e->patient_name = (char *)"Camille Martin";
	e->practitioner_name = (char *)"Dr Martin";
	e->place = (char *)"Centre de vaccination de Nimes";
	e->appointment_at_ms = NOW + DAY;
	e->time_zone = (char *)"Europe/Paris";
	e->created_at_ms = NOW - 3600000LL;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	free(*state);
	return 0;
}

/* Prepare f->ev with f->cfg (as the pool does: config_text_opts()); the reason. */
static Smsq__Reason prepare(struct fx *f)
{
	char err[512];
	struct prepare_opts o;
	preparer *p = NULL;
	Smsq__Reason why;

	if (config_text_opts(&f->cfg, &o, err, sizeof(err)) != 0)
		fail_msg("config_text_opts: %s", err);
	p = preparer_new(&o, err, sizeof(err));
	if (p == NULL)
		fail_msg("preparer_new: %s", err);
	assert_true(prepare_text_cap(p) <= sizeof(f->slot));
	why = prepare_event(p, &f->ev, NOW, &f->out, f->slot, NULL, f->detail,
			    sizeof(f->detail));
	preparer_destroy(&p);
	assert_null(p);
	return why;
}

static void expect(const struct fx *f, const char *name, Smsq__Reason got, Smsq__Reason want)
{
	if (got != want)
		fail_msg("%s: reason %s, want %s (detail: \"%s\")", name,
			 validate_reason_name(got), validate_reason_name(want), f->detail);
}

static void expect_detail(const struct fx *f, const char *name, const char *frag)
{
	if (frag != NULL && strstr(f->detail, frag) == NULL)
		fail_msg("%s: detail \"%s\" does not contain \"%s\"", name, f->detail, frag);
}

/* ---- nothing visible: EMPTY_TEXT ---------------------------------------- */

struct blank_case {
	const char *name;          /* the case */
	const char *text;          /* ready text; NULL: rendered from patient_name */
	const char *patient;       /* patient_name for a rendered case */
	Smsq__Reason want;         /* with smart encoding on and off */
};

static const struct blank_case blank_cases[] = {
	{ "a zero-width space, which smart encoding removes", ZWSP, NULL, R(EMPTY_TEXT) },
	{ "zero-width spaces and a BOM", ZWSP ZWSP BOM, NULL, R(EMPTY_TEXT) },
	{ "soft hyphens", SHY SHY, NULL, R(EMPTY_TEXT) },
	{ "a space", " ", NULL, R(EMPTY_TEXT) },
	{ "line breaks and spaces", " \n \r\n ", NULL, R(EMPTY_TEXT) },
	{ "joiners smart encoding keeps", ZWJ WJ ZWJ, NULL, R(EMPTY_TEXT) },
	{ "no-break and ideographic spaces", NBSP IDSP NBSP, NULL, R(EMPTY_TEXT) },
	{ "a variation selector and a tag", VS16 TAG_A, NULL, R(EMPTY_TEXT) },
	{ "the blank Braille pattern", BRAILLE_BLANK, NULL, R(EMPTY_TEXT) },
	{ "a dot among invisibles", ZWSP "." ZWSP, NULL, R(NONE) },
	{ "a letter after spaces", "   x", NULL, R(NONE) },
	{ "an emoji with its selector", GRIN VS16, NULL, R(NONE) },
	{ "rendered: a name of word joiners", NULL, WJ WJ, R(EMPTY_TEXT) },
	{ "rendered: a name of spaces", NULL, "   ", R(EMPTY_TEXT) },
	{ "rendered: a real name", NULL, "Camille", R(NONE) },
};

static void run_blank_case(void **state)
{
	struct fx *f = *state;
	const struct blank_case *c = f->row;

	if (c->text != NULL) {
		f->ev.text = (char *)c->text;
	} else {
		snprintf(f->cfg.templates_dir, sizeof(f->cfg.templates_dir), "%s", tmpl_root);
		snprintf(f->cfg.default_locale, sizeof(f->cfg.default_locale), "en");
		f->ev.locale = (char *)"en";
		f->ev.patient_name = (char *)c->patient;
	}
	for (int smart = 0; smart <= 1; smart++) {
		char name[160];

		f->cfg.ingest_smart_encoding = smart;
		snprintf(name, sizeof(name), "%s, smart encoding %s", c->name, smart ? "on" : "off");
		expect(f, name, prepare(f), c->want);
		if (c->want == R(EMPTY_TEXT))
			expect_detail(f, name, c->text != NULL ? "text has nothing visible"
							  : "the rendered text has nothing visible");
	}
}

/* ---- the configured providers' limits: TEXT_TOO_LONG ------------------- */

struct provider_case {
	const char *name;          /* the case */
	const char *types[4];      /* provider types in failover order (NULL ends) */
	const char *unit;          /* the text is n copies of this */
	size_t n;                  /* how many */
	Smsq__Reason want;         /* the verdict */
	const char *frag[2];       /* in the detail when rejected */
};

/* Provider i is called p<i>: "p1" is the primary. */
static const struct provider_case provider_cases[] = {
	{ "no provider: no limit", { NULL }, "a", 2000, R(NONE), { NULL, NULL } },
	{ "twilio: 1600 characters fit", { "twilio" }, "a", 1600, R(NONE), { NULL, NULL } },
	{ "twilio: 2000 characters do not", { "twilio" }, "a", 2000, R(TEXT_TOO_LONG),
	  { "2000 characters", "the 1600 that provider p1 (twilio)" } },
	{ "twilio: an emoji counts 2", { "twilio" }, GRIN, 801, R(TEXT_TOO_LONG),
	  { "1602 characters", "p1 (twilio)" } },
	{ "twilio: 800 emojis fit", { "twilio" }, GRIN, 800, R(NONE), { NULL, NULL } },
	{ "infobip and webhook: 2000 characters fit", { "infobip", "webhook" }, "a", 2000,
	  R(NONE), { NULL, NULL } },
	{ "twilio as the failover counts too", { "infobip", "webhook", "twilio" }, "a", 2000,
	  R(TEXT_TOO_LONG), { "provider p3 (twilio)", NULL } },
};

static void run_provider_case(void **state)
{
	struct fx *f = *state;
	const struct provider_case *c = f->row;
	size_t len = strlen(c->unit);
	char key[64];

	set(f, "ingest.max_text_bytes", "4096");
	set(f, "ingest.max_segments", "255");
	for (int i = 0; c->types[i] != NULL; i++) {
		snprintf(key, sizeof(key), "provider.p%d.type", i + 1);
		set(f, key, c->types[i]);
	}
	assert_true(c->n * len <= TEXT_BYTES_MAX);
	for (size_t i = 0; i < c->n; i++)
		memcpy(f->text + i * len, c->unit, len);
	f->text[c->n * len] = '\0';
	f->ev.text = f->text;
	expect(f, c->name, prepare(f), c->want);
	for (size_t i = 0; i < ARRAY_LEN(c->frag); i++)
		expect_detail(f, c->name, c->frag[i]);
}

/* The segment limit of the configuration comes first: its detail is the
 * one a producer knows how to act on. */
static void test_max_segments_before_provider_limit(void **state)
{
	struct fx *f = *state;

	set(f, "ingest.max_text_bytes", "4096");
	set(f, "provider.primary.type", "twilio");
	memset(f->text, 'a', 2000);
	f->text[2000] = '\0';
	f->ev.text = f->text;
	expect(f, "2000 characters, 10 segments at most", prepare(f), R(TEXT_TOO_LONG));
	expect_detail(f, "max_segments", "over the limit of 10");
}

/* ---- main -------------------------------------------------------------- */

int main(void)
{
	static struct CMUnitTest blank_tests[ARRAY_LEN(blank_cases)];
	static struct CMUnitTest provider_tests[ARRAY_LEN(provider_cases)];
	const struct CMUnitTest examples[] = {
		cmocka_unit_test_setup_teardown(test_max_segments_before_provider_limit, fx_setup,
						fx_teardown),
	};
	int failed = 0;

	for (size_t i = 0; i < ARRAY_LEN(blank_cases); i++)
		blank_tests[i] = (struct CMUnitTest){ blank_cases[i].name, run_blank_case, fx_setup,
						      fx_teardown, (void *)&blank_cases[i] };
	for (size_t i = 0; i < ARRAY_LEN(provider_cases); i++)
		provider_tests[i] = (struct CMUnitTest){ provider_cases[i].name, run_provider_case,
							 fx_setup, fx_teardown,
							 (void *)&provider_cases[i] };
	failed += cmocka_run_group_tests_name("prepare: nothing visible", blank_tests,
					      group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("prepare: provider limits", provider_tests, NULL,
					      NULL);
	failed += cmocka_run_group_tests_name("prepare examples", examples, NULL, NULL);
	return failed != 0;
}
