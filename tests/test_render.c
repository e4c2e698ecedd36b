/*
 * test_render: texts from templates (text/render.h): dates written the
 * locale's way by ICU in the event's time zone, the locale fallback, the
 * template syntax and its errors, buffers, and render_lint().
 *
 * Every template directory is written at run time under one mkdtemp()
 * directory (removed at the end); the shipped etc/templates are only read
 * (SMSQ_TEMPLATES_DIR, from the Makefile).
 *
 * Most cases are table rows, each run as its own cmocka test with a
 * human-readable name:
 *
 *   date_cases   locale, zone, instant -> "{date}|{date_short}|{weekday}|{time}"
 *                (locales, daylight saving, southern hemisphere, day change);
 *   load_cases   a broken directory -> renderer_load() says file:line what.
 *
 * ICU allocates through functions of the test's (u_setMemoryFunctions(), set
 * before any ICU call): they pass every call to malloc() until a test makes
 * them fail, to check that ICU out of memory is RENDER_TRANSIENT and never
 * remembered (a transient lack is never a verdict on the template).
 *
 * The expected dates are ICU 72's (Debian 12's libicu72): a newer CLDR may
 * write some of them differently, and the rows then need updating, not the
 * code.  Instants are UTC milliseconds, named by their RFC 3339 form.
 */
#define _GNU_SOURCE /* nftw() */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unicode/uclean.h>

#include "text/render.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define K(x) SMSQ__KIND__KIND_##x

/* Instants (ms since the epoch, UTC). */
#define T_2027_03_30_1230Z 1806409800000LL /* a Tuesday */
#define T_2027_03_30_2330Z 1806449400000LL /* Wednesday already in Paris */
#define T_2027_03_28_0030Z 1806193800000LL /* EU DST starts at 01:00Z */
#define T_2027_03_28_0130Z 1806197400000LL
#define T_2027_10_31_0030Z 1824942600000LL /* EU DST ends at 01:00Z */
#define T_2027_10_31_0130Z 1824946200000LL
#define T_2027_03_14_0630Z 1805005800000LL /* US DST starts at 07:00Z */
#define T_2027_03_14_0730Z 1805009400000LL
#define T_2027_01_15_0000Z 1799971200000LL /* Sydney summer: UTC+11 */
#define T_2027_07_15_0000Z 1815609600000LL /* Sydney winter: UTC+10 */
#define T_2027_04_03_1530Z 1806766200000LL /* Sydney DST ends at 16:00Z */
#define T_2027_04_03_1630Z 1806769800000LL
#define T_2027_12_31_2330Z 1830295800000LL /* 2028 already in Paris */

/* ICU's typographic spaces, which must never reach a text. */
#define NBSP "\xC2\xA0"
#define NNBSP "\xE2\x80\xAF"
#define THINSP "\xE2\x80\x89"

#define GOOD_EN                                   \
	"confirmed = C {patient_name}\n"          \
	"rescheduled = R {patient_name}\n"        \
	"cancelled = X {patient_name}\n"          \
	"reminder = M {patient_name}\n"

#define PROBE                                              \
	"confirmed = {date}|{date_short}|{weekday}|{time}\n" \
	"rescheduled = %s rescheduled\n"                   \
	"cancelled = %s cancelled\n"                       \
	"reminder = %s reminder\n"

/* ---- ICU's allocator: malloc(), or nothing while icu_no_memory is set ---- */

static int icu_no_memory;   /* every ICU allocation fails */
static int icu_refused;     /* allocations refused so far */

static void *U_CALLCONV icu_alloc(const void *context, size_t size)
{
	(void)context;
	if (icu_no_memory) {
		icu_refused++;
		return NULL;
	}
	return malloc(size);
}

static void *U_CALLCONV icu_realloc(const void *context, void *mem, size_t size)
{
	(void)context;
	if (icu_no_memory) {
		icu_refused++;
		return NULL;
	}
	return realloc(mem, size);
}

static void U_CALLCONV icu_free(const void *context, void *mem)
{
	(void)context;
	free(mem);
}

/* ---- the suite's directories --------------------------------------------- */

static struct {
	char root[64];   /* mkdtemp() directory holding everything below */
	char probe[128]; /* fr de it en es nl: confirmed shows every date field */
	char fb[128];    /* en (all), fr (all), fr-BE (cancelled only) */
	char esc[128];   /* en: escapes and literal text */
	int n_dirs;      /* subdirectories made by new_dir() */
} S;

static void write_file(const char *dir, const char *name, const char *content)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(content, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* A fresh, empty directory under S.root into buf. */
static char *new_dir(char *buf, size_t cap, const char *what)
{
	snprintf(buf, cap, "%s/%d-%s", S.root, S.n_dirs++, what);
	assert_int_equal(mkdir(buf, 0700), 0);
	return buf;
}

static int suite_setup(void **state)
{
	static const char *const tags[] = { "fr", "de", "it", "en", "es", "nl" };
	char buf[512];

	(void)state;
	snprintf(S.root, sizeof(S.root), "/tmp/smsq-test-render-XXXXXX");
	if (mkdtemp(S.root) == NULL)
		return -1;
	new_dir(S.probe, sizeof(S.probe), "probe");
	for (size_t i = 0; i < ARRAY_LEN(tags); i++) {
		snprintf(buf, sizeof(buf), PROBE, tags[i], tags[i], tags[i]);
		char name[16];
		snprintf(name, sizeof(name), "%s.tmpl", tags[i]);
		write_file(S.probe, name, buf);
	}
	new_dir(S.fb, sizeof(S.fb), "fallback");
	write_file(S.fb, "en.tmpl",
		   "confirmed = en confirmed {date} {time}\n"
		   "rescheduled = en rescheduled {date} {time}\n"
		   "cancelled = en cancelled {date} {time}\n"
		   "reminder = en reminder {date} {time}\n");
	write_file(S.fb, "fr.tmpl",
		   "confirmed = fr confirmed {date} {date_short} {time}\n"
		   "rescheduled = fr rescheduled {date} {time}\n"
		   "cancelled = fr cancelled {date} {time}\n"
		   "reminder = fr reminder {date} {time}\n");
	write_file(S.fb, "fr-BE.tmpl", "; only the text that differs\n"
				       "cancelled = fr-BE cancelled {date} {date_short} {time}\n");
	new_dir(S.esc, sizeof(S.esc), "escapes");
	write_file(S.esc, "en.tmpl",
		   "confirmed = {{{patient_name}}} \\\\ {patient_name}\\n{place}\n"
		   "rescheduled = Bonjour, à bientôt ! Ж 😀\n"
		   "cancelled = {booking_id}:{practitioner_name}:{place}:{booking_id}\n"
		   "reminder = {{date}} is literal, {date} is not\n");
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int suite_teardown(void **state)
{
	(void)state;
	return nftw(S.root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- rendering helpers ------------------------------------------------------ */

static renderer *load(const char *dir, const char *def)
{
	char err[512] = "";
	renderer *r = renderer_load(dir, def, err, sizeof(err));

	if (r == NULL)
		fail_msg("renderer_load(%s, %s): %s", dir, def, err);
	return r;
}

/* An event with fixed names and place. */
static Smsq__BookingEvent event(Smsq__Kind kind, const char *locale, const char *zone, int64_t at)
{
	Smsq__BookingEvent ev = SMSQ__BOOKING_EVENT__INIT;

	ev.kind = kind;
	ev.locale = (char *)locale;
	ev.time_zone = (char *)zone;
	ev.appointment_at_ms = at;
	ev.patient_name = (char *)"Camille Martin";
	ev.practitioner_name = (char *)"Dr Petit";
	ev.place = (char *)"Nîmes";
	ev.booking_id = (char *)"BK-1";
	return ev;
}

/* Render ev into out (1 KiB) and fail with the detail unless RENDER_OK. */
static void render_ok(renderer *r, const Smsq__BookingEvent *ev, char out[1024])
{
	char detail[256] = "";
	size_t len = 12345;
	enum render_status rs = render_event(r, ev, out, 1024, &len, detail, sizeof(detail));

	if (rs != RENDER_OK)
		fail_msg("render %s %s: status %d: %s", ev->locale, ev->time_zone, (int)rs, detail);
	assert_int_equal(len, strlen(out));
}

static void expect_text(renderer *r, Smsq__Kind kind, const char *locale, const char *zone,
			int64_t at, const char *want)
{
	char out[1024];
	Smsq__BookingEvent ev = event(kind, locale, zone, at);

	render_ok(r, &ev, out);
	if (strcmp(out, want) != 0)
		fail_msg("%s in %s: got \"%s\", want \"%s\"", locale, zone, out, want);
}

/* ---- dates: locales and time zones (table) ---------------------------------- */

struct date_case {
	const char *name;
	const char *locale;
	const char *zone;
	int64_t at;
	const char *want; /* {date}|{date_short}|{weekday}|{time} */
	const char *src;  /* template file expected (render_source) */
};

#define D(n, l, z, t, w, s) { n, l, z, t, w, s }
static const struct date_case date_cases[] = {
	/* the shipped languages, 2027-03-30 12:30Z (14:30 in Paris, CEST) */
	D("fr", "fr", "Europe/Paris", T_2027_03_30_1230Z, "mardi 30 mars|30/03/2027|mardi|14:30", "fr"),
	D("fr-FR", "fr-FR", "Europe/Paris", T_2027_03_30_1230Z,
	  "mardi 30 mars|30/03/2027|mardi|14:30", "fr"),
	D("de", "de", "Europe/Berlin", T_2027_03_30_1230Z,
	  "Dienstag, 30. März|30.03.2027|Dienstag|14:30", "de"),
	D("de-AT", "de-AT", "Europe/Vienna", T_2027_03_30_1230Z,
	  "Dienstag, 30. März|30.03.2027|Dienstag|14:30", "de"),
	D("it", "it", "Europe/Rome", T_2027_03_30_1230Z,
	  "martedì 30 marzo|30/03/2027|martedì|14:30", "it"),
	D("en (US English, ICU's en)", "en", "Europe/Paris", T_2027_03_30_1230Z,
	  "Tuesday, March 30|03/30/2027|Tuesday|2:30 PM", "en"),
	D("en-US, plain space before PM (ICU: U+202F)", "en-US", "America/New_York",
	  T_2027_03_30_1230Z, "Tuesday, March 30|03/30/2027|Tuesday|8:30 AM", "en"),
	D("en-US afternoon", "en-US", "Europe/Paris", T_2027_03_30_1230Z,
	  "Tuesday, March 30|03/30/2027|Tuesday|2:30 PM", "en"),
	D("en-GB", "en-GB", "Europe/London", T_2027_03_30_1230Z,
	  "Tuesday, 30 March|30/03/2027|Tuesday|13:30", "en"),
	D("en-AU, lower-case pm", "en-AU", "Australia/Sydney", T_2027_03_30_1230Z,
	  "Tuesday, 30 March|30/03/2027|Tuesday|11:30 pm", "en"),
	D("es", "es", "Europe/Madrid", T_2027_03_30_1230Z,
	  "martes, 30 de marzo|30/03/2027|martes|14:30", "es"),
	D("es-419 (a numeric region)", "es-419", "America/Mexico_City", T_2027_03_30_1230Z,
	  "martes, 30 de marzo|30/03/2027|martes|06:30", "es"),
	D("nl", "nl", "Europe/Amsterdam", T_2027_03_30_1230Z,
	  "dinsdag 30 maart|30-03-2027|dinsdag|14:30", "nl"),
	D("fr-CA from fr.tmpl: Canadian dates", "fr-CA", "America/Toronto", T_2027_03_30_1230Z,
	  "mardi 30 mars|2027-03-30|mardi|08 h 30", "fr"),
	D("fr-CH from fr.tmpl: Swiss short date", "fr-CH", "Europe/Zurich", T_2027_03_30_1230Z,
	  "mardi 30 mars|30.03.2027|mardi|14:30", "fr"),
	D("pt-BR: no pt file, English text and English dates", "pt-BR", "America/Sao_Paulo",
	  T_2027_03_30_1230Z, "Tuesday, March 30|03/30/2027|Tuesday|9:30 AM", "en"),

	/* daylight saving, Europe: 2027-03-28 01:00Z and 2027-10-31 01:00Z */
	D("Paris DST starts: 00:30Z is 01:30 CET", "fr", "Europe/Paris", T_2027_03_28_0030Z,
	  "dimanche 28 mars|28/03/2027|dimanche|01:30", "fr"),
	D("Paris DST starts: 01:30Z is 03:30 CEST", "fr", "Europe/Paris", T_2027_03_28_0130Z,
	  "dimanche 28 mars|28/03/2027|dimanche|03:30", "fr"),
	D("Paris DST ends: 00:30Z is 02:30 CEST", "fr", "Europe/Paris", T_2027_10_31_0030Z,
	  "dimanche 31 octobre|31/10/2027|dimanche|02:30", "fr"),
	D("Paris DST ends: 01:30Z is 02:30 CET", "fr", "Europe/Paris", T_2027_10_31_0130Z,
	  "dimanche 31 octobre|31/10/2027|dimanche|02:30", "fr"),
	D("London DST starts: 00:30Z is 00:30 GMT", "en-GB", "Europe/London", T_2027_03_28_0030Z,
	  "Sunday, 28 March|28/03/2027|Sunday|00:30", "en"),
	D("London DST starts: 01:30Z is 02:30 BST", "en-GB", "Europe/London", T_2027_03_28_0130Z,
	  "Sunday, 28 March|28/03/2027|Sunday|02:30", "en"),
	D("London in October: 00:30Z is 01:30 BST", "en-GB", "Europe/London", T_2027_10_31_0030Z,
	  "Sunday, 31 October|31/10/2027|Sunday|01:30", "en"),
	/* America/New_York: 2027-03-14 07:00Z, 2:00 EST becomes 3:00 EDT */
	D("New York DST starts: 06:30Z is 1:30 AM EST", "en-US", "America/New_York",
	  T_2027_03_14_0630Z, "Sunday, March 14|03/14/2027|Sunday|1:30 AM", "en"),
	D("New York DST starts: 07:30Z is 3:30 AM EDT", "en-US", "America/New_York",
	  T_2027_03_14_0730Z, "Sunday, March 14|03/14/2027|Sunday|3:30 AM", "en"),
	D("New York, the EU's change day: still EDT", "en-US", "America/New_York",
	  T_2027_03_28_0130Z, "Saturday, March 27|03/27/2027|Saturday|9:30 PM", "en"),
	/* Australia/Sydney: summer in January, DST ends 2027-04-04 03:00 AEDT */
	D("Sydney in January (summer, UTC+11)", "en-GB", "Australia/Sydney", T_2027_01_15_0000Z,
	  "Friday, 15 January|15/01/2027|Friday|11:00", "en"),
	D("Sydney in July (winter, UTC+10)", "en-GB", "Australia/Sydney", T_2027_07_15_0000Z,
	  "Thursday, 15 July|15/07/2027|Thursday|10:00", "en"),
	D("Sydney DST ends: 15:30Z is 02:30 AEDT", "en-GB", "Australia/Sydney", T_2027_04_03_1530Z,
	  "Sunday, 4 April|04/04/2027|Sunday|02:30", "en"),
	D("Sydney DST ends: 16:30Z is 02:30 AEST", "en-GB", "Australia/Sydney", T_2027_04_03_1630Z,
	  "Sunday, 4 April|04/04/2027|Sunday|02:30", "en"),
	/* the day (and year) changes across the zone */
	D("23:30Z is the next day in Paris", "fr", "Europe/Paris", T_2027_03_30_2330Z,
	  "mercredi 31 mars|31/03/2027|mercredi|01:30", "fr"),
	D("23:30Z is still that day in UTC", "en-GB", "UTC", T_2027_03_30_2330Z,
	  "Tuesday, 30 March|30/03/2027|Tuesday|23:30", "en"),
	D("23:30Z is the evening before in New York", "en-US", "America/New_York",
	  T_2027_03_30_2330Z, "Tuesday, March 30|03/30/2027|Tuesday|7:30 PM", "en"),
	D("New Year's Eve 23:30Z is 2028 in Paris", "fr", "Europe/Paris", T_2027_12_31_2330Z,
	  "samedi 1 janvier|01/01/2028|samedi|00:30", "fr"),
	D("Tokyo (no DST, UTC+9)", "fr", "Asia/Tokyo", T_2027_03_30_1230Z,
	  "mardi 30 mars|30/03/2027|mardi|21:30", "fr"),
	D("Kolkata (UTC+5:30)", "en-GB", "Asia/Kolkata", T_2027_03_30_1230Z,
	  "Tuesday, 30 March|30/03/2027|Tuesday|18:00", "en"),
};

static void run_date_case(void **state)
{
	const struct date_case *c = *state;
	renderer *r = load(S.probe, "en");

	expect_text(r, K(CONFIRMED), c->locale, c->zone, c->at, c->want);
	assert_string_equal(render_source(r, c->locale, K(CONFIRMED)), c->src);
	/* the other kinds of the same file: no date, the file's own text */
	char want[64];
	snprintf(want, sizeof(want), "%s cancelled", c->src);
	expect_text(r, K(CANCELLED), c->locale, c->zone, c->at, want);
	renderer_free(&r);
	assert_null(r);
}

/* No locale's date may carry ICU's no-break or thin spaces: one of them
 * would make the whole SMS UCS-2. */
static void test_no_typographic_space_in_any_date(void **state)
{
	renderer *r = load(S.probe, "en");

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(date_cases); i++) {
		char out[1024];
		Smsq__BookingEvent ev =
			event(K(CONFIRMED), date_cases[i].locale, date_cases[i].zone, date_cases[i].at);

		render_ok(r, &ev, out);
		if (strstr(out, NBSP) || strstr(out, NNBSP) || strstr(out, THINSP))
			fail_msg("%s: \"%s\" holds a typographic space", date_cases[i].name, out);
	}
	renderer_free(&r);
}

/* One instant, two zones, two texts; alternating uses both cached formatters. */
static void test_same_instant_two_zones(void **state)
{
	renderer *r = load(S.probe, "en");

	(void)state;
	for (int i = 0; i < 3; i++) {
		expect_text(r, K(CONFIRMED), "fr", "Europe/Paris", T_2027_03_30_1230Z,
			    "mardi 30 mars|30/03/2027|mardi|14:30");
		expect_text(r, K(CONFIRMED), "fr", "America/New_York", T_2027_03_30_1230Z,
			    "mardi 30 mars|30/03/2027|mardi|08:30");
		expect_text(r, K(CONFIRMED), "fr", "Pacific/Auckland", T_2027_03_30_1230Z,
			    "mercredi 31 mars|31/03/2027|mercredi|01:30");
	}
	renderer_free(&r);
}

/* ---- fallback: fr-BE -> fr -> default ---------------------------------------- */

static void test_fallback_kind_by_kind(void **state)
{
	renderer *r = load(S.fb, "en");

	(void)state;
	/* fr-BE.tmpl holds only cancelled; the rest comes from fr.tmpl */
	assert_string_equal(render_source(r, "fr-BE", K(CANCELLED)), "fr-BE");
	assert_string_equal(render_source(r, "fr-BE", K(CONFIRMED)), "fr");
	assert_string_equal(render_source(r, "fr-BE", K(RESCHEDULED)), "fr");
	assert_string_equal(render_source(r, "fr-BE", K(REMINDER)), "fr");
	expect_text(r, K(CANCELLED), "fr-BE", "Europe/Brussels", T_2027_03_30_1230Z,
		    "fr-BE cancelled mardi 30 mars 30/03/2027 14:30");
	expect_text(r, K(REMINDER), "fr-BE", "Europe/Brussels", T_2027_03_30_1230Z,
		    "fr reminder mardi 30 mars 14:30");
	/* fr-FR has no file: fr.tmpl for every kind, never fr-BE's */
	assert_string_equal(render_source(r, "fr-FR", K(CANCELLED)), "fr");
	assert_string_equal(render_source(r, "fr", K(CANCELLED)), "fr");
	expect_text(r, K(CANCELLED), "fr", "Europe/Paris", T_2027_03_30_1230Z,
		    "fr cancelled mardi 30 mars 14:30");
	/* unknown languages: the default locale's text and dates */
	assert_string_equal(render_source(r, "de", K(CONFIRMED)), "en");
	assert_string_equal(render_source(r, "de-CH", K(REMINDER)), "en");
	assert_string_equal(render_source(r, "xx", K(CONFIRMED)), "en");
	expect_text(r, K(CONFIRMED), "de-DE", "Europe/Berlin", T_2027_03_30_1230Z,
		    "en confirmed Tuesday, March 30 2:30 PM");
	/* kinds outside 1..4 have no source */
	assert_null(render_source(r, "fr", K(UNSPECIFIED)));
	assert_null(render_source(r, "fr", (Smsq__Kind)5));
	renderer_free(&r);
}

/* Dates follow the event's locale when the text is in its language. */
static void test_dates_in_the_events_own_locale(void **state)
{
	renderer *r = load(S.fb, "en");

	(void)state;
	/* one en.tmpl: US and British events differ only by their dates */
	expect_text(r, K(CONFIRMED), "en-US", "Europe/London", T_2027_03_30_1230Z,
		    "en confirmed Tuesday, March 30 1:30 PM");
	expect_text(r, K(CONFIRMED), "en-GB", "Europe/London", T_2027_03_30_1230Z,
		    "en confirmed Tuesday, 30 March 13:30");
	/* one fr.tmpl: Canadian French dates for fr-CA */
	expect_text(r, K(CONFIRMED), "fr-CA", "America/Montreal", T_2027_03_30_1230Z,
		    "fr confirmed mardi 30 mars 2027-03-30 08 h 30");
	expect_text(r, K(CONFIRMED), "fr", "America/Montreal", T_2027_03_30_1230Z,
		    "fr confirmed mardi 30 mars 30/03/2027 08:30");
	/* a text from the default file in another language: that file's
	 * dates (en), not the event's (de-CH) */
	expect_text(r, K(CONFIRMED), "de-CH", "Europe/Zurich", T_2027_03_30_1230Z,
		    "en confirmed Tuesday, March 30 2:30 PM");
	renderer_free(&r);
}

static void test_other_default_locale(void **state)
{
	renderer *r = load(S.fb, "fr");

	(void)state;
	assert_string_equal(render_source(r, "xx", K(CONFIRMED)), "fr");
	assert_string_equal(render_source(r, "en-GB", K(CONFIRMED)), "en");
	expect_text(r, K(CONFIRMED), "de", "Europe/Berlin", T_2027_03_30_1230Z,
		    "fr confirmed mardi 30 mars 30/03/2027 14:30");
	/* a Belgian Dutch event: fr-BE's file is not nl-BE's */
	assert_string_equal(render_source(r, "nl-BE", K(CANCELLED)), "fr");
	renderer_free(&r);
}

/* fr-BE with only fr.tmpl (no file of its own) gets fr's texts everywhere. */
static void test_region_without_file(void **state)
{
	char dir[256];
	renderer *r;

	(void)state;
	new_dir(dir, sizeof(dir), "fr-only");
	write_file(dir, "en.tmpl", GOOD_EN);
	write_file(dir, "fr.tmpl", "confirmed = F {patient_name} {time}\n");
	r = load(dir, "en");
	assert_string_equal(render_source(r, "fr-BE", K(CONFIRMED)), "fr");
	/* a non-default file missing kinds is fine: those come from en */
	assert_string_equal(render_source(r, "fr-BE", K(REMINDER)), "en");
	expect_text(r, K(CONFIRMED), "fr-BE", "Europe/Brussels", T_2027_03_30_1230Z,
		    "F Camille Martin 14:30");
	expect_text(r, K(REMINDER), "fr-BE", "Europe/Brussels", T_2027_03_30_1230Z,
		    "M Camille Martin");
	renderer_free(&r);
}

/* ---- template syntax ---------------------------------------------------------- */

static void test_escapes_and_literals(void **state)
{
	renderer *r = load(S.esc, "en");

	(void)state;
	/* {{ }} braces, \\ a backslash, \n a line break, a field used twice */
	expect_text(r, K(CONFIRMED), "en", "Europe/Paris", T_2027_03_30_1230Z,
		    "{Camille Martin} \\ Camille Martin\nNîmes");
	/* no placeholder at all, literal UTF-8 kept byte for byte */
	expect_text(r, K(RESCHEDULED), "en", "Europe/Paris", T_2027_03_30_1230Z,
		    "Bonjour, à bientôt ! Ж 😀");
	/* every plain field, booking_id twice */
	expect_text(r, K(CANCELLED), "en", "Europe/Paris", T_2027_03_30_1230Z,
		    "BK-1:Dr Petit:Nîmes:BK-1");
	/* {{date}} is the text "{date}" */
	expect_text(r, K(REMINDER), "en", "Europe/Paris", T_2027_03_30_1230Z,
		    "{date} is literal, Tuesday, March 30 is not");
	renderer_free(&r);
}

/* Field values are data: braces and backslashes in them are not syntax. */
static void test_field_values_are_not_templates(void **state)
{
	renderer *r = load(S.esc, "en");
	Smsq__BookingEvent ev = event(K(CANCELLED), "en", "Europe/Paris", T_2027_03_30_1230Z);
	char out[1024];

	(void)state;
	ev.booking_id = (char *)"{place}";
	ev.practitioner_name = (char *)"\\n{{";
	ev.place = (char *)"";
	render_ok(r, &ev, out);
	assert_string_equal(out, "{place}:\\n{{::{place}");
	renderer_free(&r);
}

/* Comments, blank lines, spaces, tabs, CRLF, '=' inside a text, any order. */
static void test_file_layout(void **state)
{
	char dir[256];
	renderer *r;

	(void)state;
	new_dir(dir, sizeof(dir), "layout");
	write_file(dir, "en.tmpl",
		   "; a comment\r\n"
		   "# another\r\n"
		   "\r\n"
		   "   \t\r\n"
		   "reminder=M\r\n"
		   "\tcancelled\t=\t  X = {patient_name} =  \t\r\n"
		   "rescheduled = R;not a comment # nor this\r\n"
		   "confirmed = C\n");
	r = load(dir, "en");
	expect_text(r, K(CANCELLED), "en", "UTC", T_2027_03_30_1230Z, "X = Camille Martin =");
	expect_text(r, K(RESCHEDULED), "en", "UTC", T_2027_03_30_1230Z, "R;not a comment # nor this");
	expect_text(r, K(REMINDER), "en", "UTC", T_2027_03_30_1230Z, "M");
	renderer_free(&r);
}

/* RENDER_LINE_MAX bytes is the longest line, newline or not. */
static void test_line_length_limit(void **state)
{
	static const char *const heads[] = { "confirmed = ", "reminder = " };
	char err[512];

	(void)state;
	for (int over = 0; over <= 1; over++) {
		for (int last = 0; last <= 1; last++) {
			char dir[256], *line = malloc(RENDER_LINE_MAX + 2);
			const char *head = heads[last];
			size_t want = RENDER_LINE_MAX + (size_t)over, hl = strlen(head);
			FILE *fp;
			char path[512];

			assert_non_null(line);
			memcpy(line, head, hl);
			memset(line + hl, 'a', want - hl);
			line[want] = '\0';
			new_dir(dir, sizeof(dir), "line");
			snprintf(path, sizeof(path), "%s/en.tmpl", dir);
			fp = fopen(path, "w");
			assert_non_null(fp);
			/* the long line is the first, or the last without a newline */
			if (!last)
				fprintf(fp, "%s\nrescheduled = R\ncancelled = X\nreminder = M\n", line);
			else
				fprintf(fp, "confirmed = C\nrescheduled = R\ncancelled = X\n%s", line);
			fclose(fp);
			renderer *r = renderer_load(dir, "en", err, sizeof(err));
			if (over) {
				char frag[600];
				assert_null(r);
				snprintf(frag, sizeof(frag), "%s:%d: longer than %d bytes", path,
					 last ? 4 : 1, RENDER_LINE_MAX);
				if (strcmp(err, frag) != 0)
					fail_msg("%zu bytes (%s): err \"%s\", want \"%s\"", want,
						 last ? "last line" : "first line", err, frag);
			} else {
				if (r == NULL)
					fail_msg("%zu bytes: %s", want, err);
				char out[RENDER_LINE_MAX + 1];
				size_t len;
				Smsq__BookingEvent ev = event(last ? K(REMINDER) : K(CONFIRMED), "en",
							      "UTC", T_2027_03_30_1230Z);
				assert_int_equal(render_event(r, &ev, out, sizeof(out), &len, err,
							      sizeof(err)),
						 RENDER_OK);
				assert_int_equal(len, want - hl);
			}
			renderer_free(&r);
			free(line);
		}
	}
}

/* ---- load errors (table) -------------------------------------------------------- */

struct file_spec {
	const char *name;
	const char *content;
};

struct load_case {
	const char *name;
	struct file_spec files[3];
	const char *def;       /* default locale (NULL: "en") */
	const char *where;     /* file the error names (NULL: the directory) */
	int line;              /* its line (0: none) */
	const char *frag;      /* the message starts with this */
};

#define EN { "en.tmpl", GOOD_EN }
static const struct load_case load_cases[] = {
	{ "unknown placeholder", { EN, { "fr.tmpl", "; fr\nconfirmed = Bonjour {nom}\n" } },
	  NULL, "fr.tmpl", 2, "unknown placeholder {nom} (known: {patient_name}" },
	{ "placeholder names are case-sensitive", { EN, { "fr.tmpl", "confirmed = {Place}\n" } },
	  NULL, "fr.tmpl", 1, "unknown placeholder {Place}" },
	{ "empty placeholder", { EN, { "fr.tmpl", "confirmed = a {} b\n" } }, NULL, "fr.tmpl", 1,
	  "unknown placeholder {}" },
	{ "placeholder with spaces", { EN, { "fr.tmpl", "confirmed = { place }\n" } }, NULL,
	  "fr.tmpl", 1, "unknown placeholder { place }" },
	{ "lone }", { EN, { "fr.tmpl", "\nconfirmed = a } b\n" } }, NULL, "fr.tmpl", 2,
	  "a lone '}'" },
	{ "} after a placeholder", { EN, { "fr.tmpl", "confirmed = {place}}\n" } }, NULL,
	  "fr.tmpl", 1, "a lone '}'" },
	{ "unclosed {", { EN, { "fr.tmpl", "confirmed = a {patient_name\n" } }, NULL, "fr.tmpl", 1,
	  "'{' without its '}'" },
	{ "{ at the end", { EN, { "fr.tmpl", "confirmed = a {\n" } }, NULL, "fr.tmpl", 1,
	  "'{' without its '}'" },
	{ "unknown escape \\t", { EN, { "fr.tmpl", "confirmed = a\\tb\n" } }, NULL, "fr.tmpl", 1,
	  "unknown escape '\\t'" },
	{ "backslash at the end", { EN, { "fr.tmpl", "confirmed = a\\\n" } }, NULL, "fr.tmpl", 1,
	  "unknown escape" },
	{ "unknown kind", { EN, { "fr.tmpl", "confirmed = a\nconfirm = b\n" } }, NULL, "fr.tmpl",
	  2, "unknown kind 'confirm'" },
	{ "kinds are case-sensitive", { EN, { "fr.tmpl", "Confirmed = a\n" } }, NULL, "fr.tmpl",
	  1, "unknown kind 'Confirmed'" },
	{ "duplicate kind", { EN, { "fr.tmpl", "reminder = a\n\nreminder = b\n" } }, NULL,
	  "fr.tmpl", 3, "reminder given twice (first on line 1)" },
	{ "empty text", { EN, { "fr.tmpl", "cancelled =   \n" } }, NULL, "fr.tmpl", 1,
	  "cancelled: the text is empty" },
	{ "no =", { EN, { "fr.tmpl", "confirmed Bonjour\n" } }, NULL, "fr.tmpl", 1,
	  "expected 'kind = text'" },
	{ "invalid UTF-8 (a lone continuation byte)",
	  { EN, { "fr.tmpl", "confirmed = caf\xA9\n" } }, NULL, "fr.tmpl", 1, "not valid UTF-8" },
	{ "invalid UTF-8 (Latin-1 file)", { EN, { "fr.tmpl", "confirmed = \xE9t\xE9\n" } }, NULL,
	  "fr.tmpl", 1, "not valid UTF-8" },
	{ "invalid UTF-8 (overlong /)", { EN, { "fr.tmpl", "confirmed = \xC0\xAF\n" } }, NULL,
	  "fr.tmpl", 1, "not valid UTF-8" },
	{ "invalid UTF-8 (a surrogate)", { EN, { "fr.tmpl", "confirmed = \xED\xA0\x80\n" } },
	  NULL, "fr.tmpl", 1, "not valid UTF-8" },
	{ "more than 63 parts",
	  { EN, { "fr.tmpl", "confirmed = {place}x{place}x{place}x{place}x{place}x{place}x"
			     "{place}x{place}x{place}x{place}x{place}x{place}x{place}x{place}x"
			     "{place}x{place}x{place}x{place}x{place}x{place}x{place}x{place}x"
			     "{place}x{place}x{place}x{place}x{place}x{place}x{place}x{place}x"
			     "{place}x{place}x\n" } },
	  NULL, "fr.tmpl", 1, "more than 63 parts" },
	{ "file name not a tag: french.tmpl", { EN, { "french.tmpl", "confirmed = a\n" } }, NULL,
	  "french.tmpl", 0, "the file name must be a language tag" },
	{ "file name not a tag: fr_FR.tmpl", { EN, { "fr_FR.tmpl", "confirmed = a\n" } }, NULL,
	  "fr_FR.tmpl", 0, "the file name must be a language tag" },
	{ "file name not a tag: fr-fr.tmpl", { EN, { "fr-fr.tmpl", "confirmed = a\n" } }, NULL,
	  "fr-fr.tmpl", 0, "the file name must be a language tag" },
	{ "file name not a tag: FR.tmpl", { EN, { "FR.tmpl", "confirmed = a\n" } }, NULL,
	  "FR.tmpl", 0, "the file name must be a language tag" },
	{ "file name not a tag: fr-FRA.tmpl", { EN, { "fr-FRA.tmpl", "confirmed = a\n" } }, NULL,
	  "fr-FRA.tmpl", 0, "the file name must be a language tag" },
	{ "default locale file missing", { { "fr.tmpl", GOOD_EN } }, NULL, NULL, 0,
	  "no en.tmpl: the default locale (ingest.default_locale) needs one" },
	{ "default locale de missing", { EN, { "fr.tmpl", GOOD_EN } }, "de", NULL, 0,
	  "no de.tmpl: the default locale" },
	{ "empty directory", { { NULL, NULL } }, NULL, NULL, 0, "no en.tmpl" },
	{ "default locale missing a kind",
	  { { "en.tmpl", "confirmed = C\nrescheduled = R\ncancelled = X\n" } }, NULL, NULL, 0,
	  "en.tmpl has no valid 'reminder' text: the default locale needs all four" },
	{ "error in the default file: the line is named first",
	  { { "en.tmpl", "confirmed = C\nrescheduled = R {x}\ncancelled = X\nreminder = M\n" } },
	  NULL, "en.tmpl", 2, "unknown placeholder {x}" },
	{ "the first file in name order is named first",
	  { EN, { "it.tmpl", "confirmed = {b}\n" }, { "de.tmpl", "confirmed = {a}\n" } }, NULL,
	  "de.tmpl", 1, "unknown placeholder {a}" },
};

static void run_load_case(void **state)
{
	const struct load_case *c = *state;
	char dir[256], err[512], want[1024];
	renderer *r;

	new_dir(dir, sizeof(dir), "load");
	for (size_t i = 0; i < ARRAY_LEN(c->files) && c->files[i].name != NULL; i++)
		write_file(dir, c->files[i].name, c->files[i].content);
	memset(err, 'z', sizeof(err));
	r = renderer_load(dir, c->def ? c->def : "en", err, sizeof(err));
	if (r != NULL)
		fail_msg("loaded, want the error \"%s\"", c->frag);
	if (c->where == NULL)
		snprintf(want, sizeof(want), "%s: %s", dir, c->frag);
	else if (c->line == 0)
		snprintf(want, sizeof(want), "%s/%s: %s", dir, c->where, c->frag);
	else
		snprintf(want, sizeof(want), "%s/%s:%d: %s", dir, c->where, c->line, c->frag);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("err \"%.511s\", want it to start with \"%s\"", err, want);
}

static void test_missing_directory(void **state)
{
	char dir[256], err[512] = "";

	(void)state;
	snprintf(dir, sizeof(dir), "%s/no-such-dir", S.root);
	assert_null(renderer_load(dir, "en", err, sizeof(err)));
	char want[512];
	snprintf(want, sizeof(want), "%s: cannot open the templates directory: No such file or "
				     "directory", dir);
	assert_string_equal(err, want);
}

/* A short err buffer: truncated, terminated, no overflow (ASan). */
static void test_short_err_buffer(void **state)
{
	char dir[256];
	char *err = malloc(16);

	(void)state;
	assert_non_null(err);
	new_dir(dir, sizeof(dir), "short-err");
	write_file(dir, "en.tmpl", "confirmed = {nope}\n");
	assert_null(renderer_load(dir, "en", err, 16));
	assert_int_equal(strlen(err), 15);
	assert_memory_equal(err, dir, 15);
	free(err);
}

/* RENDER_LOCALES_MAX files load; one more is an error, not a silent cut. */
static void test_too_many_files(void **state)
{
	char dir[256], err[512], name[16], want[512];
	renderer *r;

	(void)state;
	new_dir(dir, sizeof(dir), "many");
	write_file(dir, "en.tmpl", GOOD_EN);
	for (int i = 1; i < RENDER_LOCALES_MAX; i++) {
		snprintf(name, sizeof(name), "q%c%c.tmpl", 'a' + i / 26, 'a' + i % 26);
		write_file(dir, name, "confirmed = Q\n");
	}
	r = load(dir, "en");
	assert_string_equal(render_source(r, "qcl", K(CONFIRMED)), "qcl");
	renderer_free(&r);
	write_file(dir, "zz.tmpl", "confirmed = Z\n");
	assert_null(renderer_load(dir, "en", err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: more than %d template files", dir, RENDER_LOCALES_MAX);
	assert_string_equal(err, want);
}

/* Files that are not *.tmpl are not templates; a non-default file may miss kinds. */
static void test_other_files_ignored(void **state)
{
	char dir[256];
	renderer *r;

	(void)state;
	new_dir(dir, sizeof(dir), "others");
	write_file(dir, "en.tmpl", GOOD_EN);
	write_file(dir, "README", "confirmed = {broken\n");
	write_file(dir, "fr.tmpl~", "confirmed = {broken\n");
	write_file(dir, "fr.tmpl.orig", "confirmed = {broken\n");
	write_file(dir, "es-419.tmpl", "reminder = ES {patient_name}\n");
	r = load(dir, "en");
	assert_string_equal(render_source(r, "es-419", K(REMINDER)), "es-419");
	assert_string_equal(render_source(r, "es-419", K(CONFIRMED)), "en");
	assert_string_equal(render_source(r, "fr", K(CONFIRMED)), "en");
	renderer_free(&r);
	renderer_free(&r); /* NULL-safe */
	renderer_free(NULL);
}

/* ---- render errors ------------------------------------------------------------- */

/* Every buffer size from 0 to the text's length + 1, in a heap block of
 * exactly that size (ASan sees any write past it). */
static void test_too_long(void **state)
{
	char dir[256], detail[256], full[1024];
	renderer *r;
	size_t full_len;

	(void)state;
	new_dir(dir, sizeof(dir), "too-long");
	write_file(dir, "en.tmpl",
		   "confirmed = {patient_name} {date} at {time}, {place}.\n"
		   "rescheduled = {date}\n"
		   "cancelled = Cancelled\n"
		   "reminder = {patient_name}\n");
	r = load(dir, "en");
	for (int kind = 1; kind <= 4; kind++) {
		Smsq__BookingEvent ev = event((Smsq__Kind)kind, "en-US", "America/New_York",
					      T_2027_03_30_1230Z);

		render_ok(r, &ev, full);
		full_len = strlen(full);
		for (size_t cap = 0; cap <= full_len + 1; cap++) {
			char *out = malloc(cap ? cap : 1);
			size_t len = 999;
			enum render_status rs;

			assert_non_null(out);
			memset(out, '#', cap ? cap : 1);
			detail[0] = '\0';
			rs = render_event(r, &ev, out, cap, &len, detail, sizeof(detail));
			if (cap <= full_len) {
				if (rs != RENDER_TOO_LONG)
					fail_msg("kind %d, cap %zu for %zu bytes: status %d", kind, cap,
						 full_len, (int)rs);
				if (cap == 0)
					assert_int_equal(out[0], '#'); /* not touched */
				else
					assert_int_equal(out[0], '\0');
			} else {
				if (rs != RENDER_OK)
					fail_msg("kind %d, cap %zu: status %d: %s", kind, cap, (int)rs,
						 detail);
				assert_int_equal(len, full_len);
				assert_string_equal(out, full);
			}
			free(out);
		}
	}
	assert_string_equal(full, "Camille Martin");
	renderer_free(&r);
}

/* The detail of RENDER_TOO_LONG gives the limit: the caller's buffer. */
static void test_too_long_detail_names_the_buffer(void **state)
{
	char dir[256], detail[256], out[16];
	renderer *r;
	size_t len;

	(void)state;
	new_dir(dir, sizeof(dir), "too-long-detail");
	write_file(dir, "en.tmpl",
		   "confirmed = 0123456789ABCDEFGHIJ\n"
		   "rescheduled = 0123456789 {date}\n"
		   "cancelled = {place}{place}{place}{place}{place}{place}\n"
		   "reminder = M\n");
	r = load(dir, "en");
	for (int kind = 1; kind <= 3; kind++) {
		Smsq__BookingEvent ev = event((Smsq__Kind)kind, "en", "UTC", T_2027_03_30_1230Z);
		enum render_status rs = render_event(r, &ev, out, sizeof(out), &len, detail,
						     sizeof(detail));

		/* a literal, a date, a field that overflows: the same limit said */
		if (rs != RENDER_TOO_LONG || strstr(detail, "over 15 bytes") == NULL) {
			renderer_free(&r);
			fail_msg("%s overflows: status %d, detail \"%s\", want \"... over 15 "
				 "bytes\"", kind == 1 ? "a literal" : kind == 2 ? "a date" : "a field",
				 (int)rs, detail);
		}
	}
	renderer_free(&r);
}

static void test_bad_zone(void **state)
{
	renderer *r = load(S.probe, "en");
	char out[1024], detail[256], long_zone[80];
	size_t len;
	Smsq__BookingEvent ev;

	(void)state;
	ev = event(K(CONFIRMED), "fr", "Mars/Olympus_Mons", T_2027_03_30_1230Z);
	memset(out, '#', sizeof(out));
	assert_int_equal(render_event(r, &ev, out, sizeof(out), &len, detail, sizeof(detail)),
			 RENDER_BAD_ZONE);
	assert_non_null(strstr(detail, "Mars/Olympus_Mons"));
	assert_int_equal(out[0], '\0');
	/* asked again: the cached answer is the same */
	assert_int_equal(render_event(r, &ev, out, sizeof(out), &len, detail, sizeof(detail)),
			 RENDER_BAD_ZONE);
	/* a name over 63 bytes, an empty one, one in the wrong case */
	memset(long_zone, 'x', 70);
	memcpy(long_zone, "Europe/", 7);
	long_zone[70] = '\0';
	const char *bad[] = { long_zone, "", "europe/paris", "Europe/Paris " };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		ev = event(K(CONFIRMED), "fr", bad[i], T_2027_03_30_1230Z);
		if (render_event(r, &ev, out, sizeof(out), &len, detail, sizeof(detail)) !=
		    RENDER_BAD_ZONE)
			fail_msg("zone \"%s\": not RENDER_BAD_ZONE (%s)", bad[i], out);
	}
	/* the same renderer still renders good zones, aliases included */
	expect_text(r, K(CONFIRMED), "fr", "Europe/Paris", T_2027_03_30_1230Z,
		    "mardi 30 mars|30/03/2027|mardi|14:30");
	expect_text(r, K(CONFIRMED), "fr", "US/Eastern", T_2027_03_30_1230Z,
		    "mardi 30 mars|30/03/2027|mardi|08:30");
	/* a text without date fields needs no zone */
	expect_text(r, K(CANCELLED), "fr", "Mars/Olympus_Mons", T_2027_03_30_1230Z,
		    "fr cancelled");
	renderer_free(&r);
}

/* ICU out of memory while it looks up a zone not seen yet: RENDER_TRANSIENT,
 * not RENDER_BAD_ZONE (ICU folds that failure into "unknown zone": the list
 * of zones tells the two apart), and nothing is remembered: with memory
 * back, the same zone renders. */
static void test_icu_out_of_memory_is_transient_not_remembered(void **state)
{
	renderer *r = load(S.probe, "en");
	char out[1024], detail[256];
	size_t len;
	Smsq__BookingEvent ev = event(K(CONFIRMED), "fr", "Asia/Kathmandu", T_2027_03_30_1230Z);

	(void)state;
	expect_text(r, K(CONFIRMED), "fr", "Europe/Paris", T_2027_03_30_1230Z,
		    "mardi 30 mars|30/03/2027|mardi|14:30"); /* fr's patterns in hand */
	for (int i = 0; i < 2; i++) {
		icu_no_memory = 1;
		enum render_status rs =
			render_event(r, &ev, out, sizeof(out), &len, detail, sizeof(detail));
		icu_no_memory = 0;
		if (rs != RENDER_TRANSIENT)
			fail_msg("ICU out of memory: status %d, want RENDER_TRANSIENT (%d); detail "
				 "\"%s\"", (int)rs, (int)RENDER_TRANSIENT, detail);
		assert_non_null(strstr(detail, "Asia/Kathmandu"));
		assert_int_equal(out[0], '\0');
	}
	assert_true(icu_refused > 0);
	expect_text(r, K(CONFIRMED), "fr", "Asia/Kathmandu", T_2027_03_30_1230Z,
		    "mardi 30 mars|30/03/2027|mardi|18:15"); /* UTC+5:45 */
	/* a zone ICU does not know is still RENDER_BAD_ZONE */
	ev = event(K(CONFIRMED), "fr", "Mars/Olympus_Mons", T_2027_03_30_1230Z);
	assert_int_equal(render_event(r, &ev, out, sizeof(out), &len, detail, sizeof(detail)),
			 RENDER_BAD_ZONE);
	renderer_free(&r);
}

static void test_kind_out_of_range(void **state)
{
	renderer *r = load(S.probe, "en");
	char out[64], detail[128];
	size_t len;
	Smsq__Kind kinds[] = { K(UNSPECIFIED), (Smsq__Kind)5, (Smsq__Kind)-1 };

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		Smsq__BookingEvent ev = event(kinds[i], "fr", "Europe/Paris", T_2027_03_30_1230Z);

		detail[0] = '\0';
		assert_int_not_equal(render_event(r, &ev, out, sizeof(out), &len, detail,
						  sizeof(detail)),
				     RENDER_OK);
		assert_true(detail[0] != '\0');
	}
	renderer_free(&r);
}

/* ---- the formatter cache ---------------------------------------------------------- */

/* More (locale, zone) pairs than the cache holds (128 formatter sets, 32
 * locales' patterns), rendered in three orders: each text must be what a
 * fresh renderer gives for that pair alone. */
static void test_cache_eviction(void **state)
{
	static const char *const locales[] = {
		"en", "en-US", "en-GB", "en-AU", "en-CA", "en-IE", "en-IN", "en-NZ", "en-ZA",
		"en-SG", "en-150", "fr", "fr-FR", "fr-CA", "fr-CH", "fr-BE", "fr-LU", "de",
		"de-DE", "de-AT", "de-CH", "de-LU", "it", "it-IT", "it-CH", "es", "es-ES",
		"es-MX", "es-419", "es-AR", "es-US", "nl", "nl-NL", "nl-BE", "pt-BR", "xx",
	};
	static const char *const zones[] = { "Europe/Paris", "America/New_York", "Asia/Tokyo",
					     "Australia/Sydney", "UTC" };
	enum { NL = ARRAY_LEN(locales), NZ = ARRAY_LEN(zones), N = NL * NZ };
	char(*truth)[128] = calloc(N, 128);
	renderer *r = load(S.probe, "en");

	(void)state;
	assert_non_null(truth);
	assert_true(N > 128);
	for (int i = 0; i < N; i++) {
		renderer *fresh = load(S.probe, "en");
		Smsq__BookingEvent ev = event(K(CONFIRMED), locales[i % NL], zones[i / NL],
					      T_2027_03_30_1230Z);
		char out[1024];

		render_ok(fresh, &ev, out);
		assert_true(strlen(out) < 128);
		memcpy(truth[i], out, strlen(out) + 1);
		renderer_free(&fresh);
	}
	for (int pass = 0; pass < 3; pass++) {
		for (int j = 0; j < N; j++) {
			/* forward, backward, then a stride that mixes locales and zones */
			int i = pass == 0 ? j : pass == 1 ? N - 1 - j : (j * 37) % N;
			Smsq__BookingEvent ev = event(K(CONFIRMED), locales[i % NL], zones[i / NL],
						      T_2027_03_30_1230Z);
			char out[1024];

			render_ok(r, &ev, out);
			if (strcmp(out, truth[i]) != 0)
				fail_msg("pass %d, %s in %s: \"%s\", alone \"%s\"", pass,
					 locales[i % NL], zones[i / NL], out, truth[i]);
		}
	}
	/* and the very first pair, by its known text */
	expect_text(r, K(CONFIRMED), "en", "Europe/Paris", T_2027_03_30_1230Z,
		    "Tuesday, March 30|03/30/2027|Tuesday|2:30 PM");
	assert_string_equal(truth[0], "Tuesday, March 30|03/30/2027|Tuesday|2:30 PM");
	free(truth);
	renderer_free(&r);
}

/* More (zone, instant, field) keys than the formatted-date memo holds
 * (16,384: 24,000 here), rendered in three orders by one renderer: every text must be the
 * same each time, and every 100th what a fresh renderer gives for it alone. */
static void test_date_memo(void **state)
{
	static const char *const zones[] = { "Europe/Paris", "America/New_York" };
	enum { NZ = 2, NT = 3000, N = NZ * NT, SLOT = 15 * 60 * 1000 };
	char(*seen)[128] = calloc(N, 128);
	renderer *r = load(S.probe, "en");

	(void)state;
	assert_non_null(seen);
	for (int pass = 0; pass < 3; pass++) {
		for (int j = 0; j < N; j++) {
			int i = pass == 0 ? j : pass == 1 ? N - 1 - j : (j * 37) % N;
			Smsq__BookingEvent ev = event(K(CONFIRMED), "fr", zones[i % NZ],
						      T_2027_03_30_1230Z + (int64_t)(i / NZ) * SLOT);
			char out[1024];

			render_ok(r, &ev, out);
			assert_true(strlen(out) < 128);
			if (pass == 0)
				memcpy(seen[i], out, strlen(out) + 1);
			else if (strcmp(out, seen[i]) != 0)
				fail_msg("pass %d, key %d: \"%s\", first \"%s\"", pass, i, out,
					 seen[i]);
		}
	}
	for (int i = 0; i < N; i += 100) {
		renderer *fresh = load(S.probe, "en");
		Smsq__BookingEvent ev = event(K(CONFIRMED), "fr", zones[i % NZ],
					      T_2027_03_30_1230Z + (int64_t)(i / NZ) * SLOT);
		char out[1024];

		render_ok(fresh, &ev, out);
		if (strcmp(out, seen[i]) != 0)
			fail_msg("key %d: \"%s\", alone \"%s\"", i, seen[i], out);
		renderer_free(&fresh);
	}
	/* Two known texts: the same instant in both zones. */
	assert_string_equal(seen[0], "mardi 30 mars|30/03/2027|mardi|14:30");
	assert_string_equal(seen[1], "mardi 30 mars|30/03/2027|mardi|08:30");
	free(seen);
	renderer_free(&r);
}

/* ---- render_lint() ------------------------------------------------------------------ */

static const struct render_lint_opts LINT_DEFAULT = {
	.patient_len = 40, .practitioner_len = 40, .place_len = 60, .booking_id_len = 20,
	.max_segments = 10, .smart_encoding = 1, /* the pool's defaults */
};

/* Lint dir into a tmpfile; returns the error count, the output in *text
 * (malloc'd). */
static int lint(const char *dir, const char *def, const struct render_lint_opts *o, char **text)
{
	FILE *fp = tmpfile();
	long n;
	int errors;

	assert_non_null(fp);
	errors = render_lint(dir, def, o, fp);
	n = ftell(fp);
	assert_true(n >= 0);
	*text = calloc(1, (size_t)n + 1);
	assert_non_null(*text);
	rewind(fp);
	assert_int_equal(fread(*text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return errors;
}

/* The line of text starting with prefix (fail if none). */
static const char *line_with(const char *text, const char *prefix)
{
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			return p;
	fail_msg("no line starts with \"%s\" in:\n%s", prefix, text);
	return NULL;
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		const char *eol = strchr(p, '\n');
		const char *hit = strstr(p, needle);
		if (hit != NULL && (eol == NULL || hit < eol))
			n++;
	}
	return n;
}

static void test_lint_shipped_templates(void **state)
{
	char *out;
	int errors;

	(void)state;
	errors = lint(SMSQ_TEMPLATES_DIR, "en", &LINT_DEFAULT, &out);
	if (errors != 0)
		fail_msg("etc/templates: %d errors:\n%s", errors, out);
	line_with(out, "templates check: 6 files, 24 templates, 0 errors, 0 warnings");
	assert_int_equal(count_lines(out, ": example, gsm7, 1 segment: "), 24);
	assert_int_equal(count_lines(out, ": worst case (names 40/40, place 60 characters), gsm7, "),
			 24);
	/* the example is a real rendering: the French one */
	char prefix[512];
	snprintf(prefix, sizeof(prefix), "%s/fr.tmpl:5: confirmed: example, gsm7, 1 segment: "
		 "Camille Martin, votre RDV avec Dr Laurent Petit le mardi 30 mars à 14:30 est "
		 "confirmé.", SMSQ_TEMPLATES_DIR);
	line_with(out, prefix);
	free(out);
	/* the shipped texts load as the pool's default set */
	renderer *r = load(SMSQ_TEMPLATES_DIR, "en");
	renderer_free(&r);
}

static void test_lint_counts_errors(void **state)
{
	char dir[256], prefix[512], *out;
	int errors;

	(void)state;
	new_dir(dir, sizeof(dir), "lint-bad");
	write_file(dir, "en.tmpl", "confirmed = C\nrescheduled = R\ncancelled = X\n");
	write_file(dir, "fr.tmpl", "confirmed = {nom}\ncancelled = a } b\nreminder = ok\n");
	write_file(dir, "french.tmpl", "confirmed = ok\n");
	errors = lint(dir, "en", &LINT_DEFAULT, &out);
	/* unlike renderer_load(), every problem: 2 in fr, the name, en's missing kind */
	assert_int_equal(errors, 4);
	snprintf(prefix, sizeof(prefix), "%s/fr.tmpl:1: error: unknown placeholder {nom}", dir);
	line_with(out, prefix);
	snprintf(prefix, sizeof(prefix), "%s/fr.tmpl:2: error: a lone '}'", dir);
	line_with(out, prefix);
	snprintf(prefix, sizeof(prefix), "%s/french.tmpl: error: the file name must be", dir);
	line_with(out, prefix);
	snprintf(prefix, sizeof(prefix), "%s: error: en.tmpl has no valid 'reminder' text", dir);
	line_with(out, prefix);
	/* the good templates are still checked and shown */
	snprintf(prefix, sizeof(prefix), "%s/fr.tmpl:3: reminder: example, gsm7, 1 segment: ok",
		 dir);
	line_with(out, prefix);
	line_with(out, "templates check: 2 files, 4 templates, 4 errors, 0 warnings");
	free(out);

	/* a directory that cannot be read */
	FILE *fp = tmpfile();
	snprintf(prefix, sizeof(prefix), "%s/nowhere", S.root);
	assert_int_equal(render_lint(prefix, "en", &LINT_DEFAULT, fp), -1);
	fclose(fp);
}

static void test_lint_warns_about_ucs2_characters(void **state)
{
	char dir[256], prefix[512], *out;

	(void)state;
	new_dir(dir, sizeof(dir), "lint-ucs2");
	write_file(dir, "en.tmpl", GOOD_EN);
	write_file(dir, "fr.tmpl",
		   "confirmed = C’est confirmé, {patient_name} : l’hôpital vous attend\n"
		   "cancelled = Annulé 😀 😀\n");
	assert_int_equal(lint(dir, "en", &LINT_DEFAULT, &out), 0);
	/* a typographic apostrophe: smart encoding makes it GSM-7; once per character */
	snprintf(prefix, sizeof(prefix),
		 "%s/fr.tmpl:1: warning: confirmed: '’' (U+2019) is not GSM-7: the text goes "
		 "UCS-2 unless smart encoding is on (it would send ''')", dir);
	line_with(out, prefix);
	assert_int_equal(count_lines(out, "(U+2019)"), 1);
	snprintf(prefix, sizeof(prefix),
		 "%s/fr.tmpl:1: warning: confirmed: 'ô' (U+00F4) is not GSM-7: the text goes "
		 "UCS-2 unless smart encoding is on (it would send 'o')", dir);
	line_with(out, prefix);
	/* é is GSM-7: no warning */
	assert_int_equal(count_lines(out, "(U+00E9)"), 0);
	/* an emoji has no GSM-7 form */
	snprintf(prefix, sizeof(prefix),
		 "%s/fr.tmpl:2: warning: cancelled: '😀' (U+1F600) is not GSM-7 and has no GSM-7 "
		 "form: every text goes UCS-2", dir);
	line_with(out, prefix);
	snprintf(prefix, sizeof(prefix), "%s/fr.tmpl:2: cancelled: example, ucs2, 1 segment: ",
		 dir);
	line_with(out, prefix);
	/* with smart encoding the apostrophes cost nothing */
	snprintf(prefix, sizeof(prefix), "%s/fr.tmpl:1: confirmed: example, gsm7, 1 segment: ", dir);
	line_with(out, prefix);
	line_with(out, "templates check: 2 files, 6 templates, 0 errors, 3 warnings");
	free(out);
}

/* The worst case: {patient_name}{practitioner_name} with names of N
 * characters is 2N septets: 160 is one segment, 162 two. */
static void test_lint_worst_case_against_max_segments(void **state)
{
	char dir[256], prefix[512], *out;
	struct render_lint_opts o = LINT_DEFAULT;

	(void)state;
	new_dir(dir, sizeof(dir), "lint-worst");
	write_file(dir, "en.tmpl", "confirmed = {patient_name}{practitioner_name}\n"
				   "rescheduled = R\ncancelled = X\nreminder = M\n");
	o.max_segments = 1;
	o.patient_len = o.practitioner_len = 80;
	assert_int_equal(lint(dir, "en", &o, &out), 0);
	snprintf(prefix, sizeof(prefix),
		 "%s/en.tmpl:1: confirmed: worst case (names 80/80, place 60 characters), gsm7, "
		 "1 segment (160 units); 3 if a name needs UCS-2", dir);
	line_with(out, prefix);
	free(out);

	o.patient_len = o.practitioner_len = 81;
	assert_int_equal(lint(dir, "en", &o, &out), 1);
	snprintf(prefix, sizeof(prefix),
		 "%s/en.tmpl:1: error: confirmed: the worst case needs 2 segments, over "
		 "ingest.max_segments (1)", dir);
	line_with(out, prefix);
	free(out);

	/* the shipped texts with long names and a limit of 1: only the
	 * cancellations (no place) still fit */
	o = LINT_DEFAULT;
	o.max_segments = 1;
	assert_int_equal(lint(SMSQ_TEMPLATES_DIR, "en", &o, &out), 18);
	assert_int_equal(count_lines(out, "cancelled: the worst case"), 0);
	free(out);
}

/* A worst case counts the longest date of the year (it changes segments). */
static void test_lint_worst_case_covers_long_dates(void **state)
{
	char dir[256], prefix[512], *out;
	struct render_lint_opts o = LINT_DEFAULT;

	(void)state;
	new_dir(dir, sizeof(dir), "lint-dates");
	/* 140 + "Tuesday, March 30" (17) fits in 160 septets; 140 +
	 * "Wednesday, September 29" (23) does not */
	char text[300];
	memset(text, 'a', 140);
	text[140] = '\0';
	char file[600];
	snprintf(file, sizeof(file),
		 "confirmed = %s{date}\nrescheduled = R\ncancelled = X\nreminder = M\n", text);
	write_file(dir, "en.tmpl", file);
	o.max_segments = 1;
	assert_int_equal(lint(dir, "en", &o, &out), 1);
	snprintf(prefix, sizeof(prefix), "%s/en.tmpl:1: confirmed: example, gsm7, 1 segment: ", dir);
	line_with(out, prefix);
	snprintf(prefix, sizeof(prefix), "%s/en.tmpl:1: confirmed: worst case (names 40/40, place "
		 "60 characters), gsm7, 2 segments (163 units)", dir);
	line_with(out, prefix);
	snprintf(prefix, sizeof(prefix), "%s/en.tmpl:1: error: confirmed: the worst case needs 2 "
		 "segments", dir);
	line_with(out, prefix);
	free(out);
}

/* A NUL byte in a line (a UTF-16 file, a stray byte) is that line's error:
 * not "longer than 2048 bytes", and the next line is still read as its own
 * (lint must name the right line of a later error). */
static void test_nul_byte_in_a_line(void **state)
{
	static const char fr[] = "confirmed = abc\0def\nreminder = ok\nrescheduled = {bad}\n";
	char dir[256], path[512], err[512], want[600], want2[600], *out;
	FILE *fp;
	int load_ok, lint_ok;

	(void)state;
	new_dir(dir, sizeof(dir), "nul");
	write_file(dir, "en.tmpl", GOOD_EN);
	snprintf(path, sizeof(path), "%s/fr.tmpl", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(fr, 1, sizeof(fr) - 1, fp), sizeof(fr) - 1);
	fclose(fp);
	assert_null(renderer_load(dir, "en", err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:1: ", path);
	load_ok = strncmp(err, want, strlen(want)) == 0 && strstr(err, "longer than") == NULL;
	lint(dir, "en", &LINT_DEFAULT, &out);
	snprintf(want, sizeof(want), "%s:3: error: unknown placeholder {bad}", path);
	snprintf(want2, sizeof(want2), "%s:2: reminder: example, gsm7, 1 segment: ok", path);
	lint_ok = strstr(out, want) != NULL && strstr(out, want2) != NULL;
	free(out);
	if (!load_ok || !lint_ok)
		fail_msg("a 20-byte line holding a NUL byte: load says \"%s\"%s", err,
			 lint_ok ? "" : "; lint skips line 2 and calls line 3 line 2");
}

/* ---- main ---------------------------------------------------------------------------- */

int main(void)
{
	static struct CMUnitTest date_tests[ARRAY_LEN(date_cases)];
	static struct CMUnitTest load_tests[ARRAY_LEN(load_cases)];
	const struct CMUnitTest examples[] = {
		cmocka_unit_test(test_no_typographic_space_in_any_date),
		cmocka_unit_test(test_same_instant_two_zones),
		cmocka_unit_test(test_fallback_kind_by_kind),
		cmocka_unit_test(test_dates_in_the_events_own_locale),
		cmocka_unit_test(test_other_default_locale),
		cmocka_unit_test(test_region_without_file),
		cmocka_unit_test(test_escapes_and_literals),
		cmocka_unit_test(test_field_values_are_not_templates),
		cmocka_unit_test(test_file_layout),
		cmocka_unit_test(test_line_length_limit),
		cmocka_unit_test(test_missing_directory),
		cmocka_unit_test(test_short_err_buffer),
		cmocka_unit_test(test_other_files_ignored),
		cmocka_unit_test(test_too_many_files),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_too_long_detail_names_the_buffer),
		cmocka_unit_test(test_bad_zone),
		cmocka_unit_test(test_icu_out_of_memory_is_transient_not_remembered),
		cmocka_unit_test(test_kind_out_of_range),
		cmocka_unit_test(test_cache_eviction),
		cmocka_unit_test(test_date_memo),
	};
	const struct CMUnitTest lint_tests[] = {
		cmocka_unit_test(test_lint_shipped_templates),
		cmocka_unit_test(test_lint_counts_errors),
		cmocka_unit_test(test_lint_warns_about_ucs2_characters),
		cmocka_unit_test(test_lint_worst_case_against_max_segments),
		cmocka_unit_test(test_lint_worst_case_covers_long_dates),
		cmocka_unit_test(test_nul_byte_in_a_line),
	};
	int failed = 0;
	UErrorCode st = U_ZERO_ERROR;

	u_setMemoryFunctions(NULL, icu_alloc, icu_realloc, icu_free, &st);
	if (U_FAILURE(st)) {
		fprintf(stderr, "u_setMemoryFunctions: %s\n", u_errorName(st));
		return 1;
	}
	for (size_t i = 0; i < ARRAY_LEN(date_cases); i++)
		date_tests[i] = (struct CMUnitTest){ date_cases[i].name, run_date_case, NULL, NULL,
						     (void *)&date_cases[i] };
	for (size_t i = 0; i < ARRAY_LEN(load_cases); i++)
		load_tests[i] = (struct CMUnitTest){ load_cases[i].name, run_load_case, NULL, NULL,
						     (void *)&load_cases[i] };
	/* the directories: made before the first group, removed after the last */
	failed += cmocka_run_group_tests_name("render dates", date_tests, suite_setup, NULL);
	failed += cmocka_run_group_tests_name("renderer_load errors", load_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("render examples", examples, NULL, NULL);
	failed += cmocka_run_group_tests_name("render_lint", lint_tests, NULL, suite_teardown);
	return failed != 0;
}
