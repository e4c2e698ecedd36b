/*
 * render: templates per kind and locale, dates by ICU (see render.h).
 *
 * DESIGN
 *
 * Loading compiles each template line into parts (literal bytes, or a
 * field), so rendering is a copy loop: no parsing per event.  Dates and
 * times come from ICU's udat_format() with a pattern that ICU's pattern
 * generator picks for the locale from a skeleton ("EEEEdMMMM": weekday,
 * day, month name), in the event's zone: ICU's calendar does the zone and
 * daylight-saving arithmetic, none is done here.  Opening a formatter costs
 * about a millisecond, formatting a microsecond: formatters are cached per
 * (locale, zone) in a direct-mapped table, patterns per locale likewise.
 *
 * The same parser serves render_lint(), which reports every problem rather
 * than stopping at the first.
 *
 * ICU failures come in two kinds: about the event (a zone ICU does not
 * know: RENDER_BAD_ZONE) and about the process (no memory, a data file that
 * cannot be read: RENDER_TRANSIENT; the event may render when tried again).
 * Only the first is remembered in a formatter slot, and only once ICU said
 * so in a way that cannot be the second (zone_status()).
 */
#include "text/render.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicode/ucal.h>
#include <unicode/udat.h>
#include <unicode/udatpg.h>
#include <unicode/uenum.h>
#include <unicode/ustring.h>

#include "common/xalloc.h"
#include "text/gsm.h"
#include "text/validate.h"
#include "common/attrs.h"

enum field {
	F_PATIENT,
	F_PRACTITIONER,
	F_PLACE,
	F_BOOKING_ID,
	F_DATE, /* first ICU-formatted field */
	F_DATE_SHORT,
	F_WEEKDAY,
	F_TIME,
	F_COUNT,
};
#define N_DATE (F_COUNT - F_DATE)
#define F_LITERAL (-1)

static const char *const field_names[F_COUNT] = {
	[F_PATIENT] = "patient_name",
	[F_PRACTITIONER] = "practitioner_name",
	[F_PLACE] = "place",
	[F_BOOKING_ID] = "booking_id",
	[F_DATE] = "date",
	[F_DATE_SHORT] = "date_short",
	[F_WEEKDAY] = "weekday",
	[F_TIME] = "time",
};

/* ICU skeletons: which fields, not their order or punctuation (the
 * locale's pattern decides).  "j" is the locale's preferred hour cycle. */
static const char *const skeletons[N_DATE] = {
	[F_DATE - F_DATE] = "EEEEdMMMM",
	[F_DATE_SHORT - F_DATE] = "yMMdd",
	[F_WEEKDAY - F_DATE] = "EEEE",
	[F_TIME - F_DATE] = "jmm",
};

#define KINDS 4 /* Smsq__Kind 1..4 */
static const char *const kind_names[KINDS] = { "confirmed", "rescheduled", "cancelled",
					       "reminder" };

#define TAG_MAX 16       /* "ll-RR" and "ll-999" fit */
#define ZONE_MAX 64      /* as validate.c's zone cache */
#define PARTS_MAX 64     /* literal runs and fields of one template */
#define PATTERN_MAX 64   /* UChars of an ICU pattern */
#define FORMATTED_MAX 96 /* UChars of one formatted date or time */
#define FMT_SLOTS 128    /* (locale, zone) formatter sets cached */
#define MEMO_SLOTS 16384 /* formatted dates and times remembered (1.25 MiB) */
#define MEMO_WAYS 4      /* a key may sit in any of 4 neighbouring slots */
#define MEMO_TEXT_MAX 56 /* longer texts are not remembered */
#define PAT_SLOTS 32     /* locales whose patterns are cached */

struct part {
	int field;  /* enum field, or F_LITERAL */
	size_t off; /* literal: offset in tmpl.lit */
	size_t len; /* literal: length */
};

struct tmpl {
	int line;                   /* where it was defined */
	char *lit;                  /* literal bytes of all parts */
	struct part parts[PARTS_MAX];
	size_t n_parts;
	unsigned uses;              /* bit per enum field */
};

struct locale_texts {
	char tag[TAG_MAX];           /* file name without .tmpl */
	struct tmpl *kinds[KINDS];   /* NULL: not in this file */
};

struct fmt_slot {
	char locale[TAG_MAX];
	char zone[ZONE_MAX];
	int used;                    /* key is set */
	int bad_zone;                /* ICU said it does not know the zone */
	uint32_t gen;                /* changes whenever the slot gets another key */
	UDateFormat *f[N_DATE];      /* opened on first use */
};

/* One formatted date or time: what fmt slot `slot` (while its generation
 * was gen) made of at_ms for field `which`. */
struct date_memo {
	uint32_t gen;                /* 0: empty */
	uint16_t slot;               /* index in renderer.fmt */
	uint8_t which;               /* date field - F_DATE */
	uint16_t len;                /* bytes of text */
	int64_t at_ms;               /* the appointment */
	char text[MEMO_TEXT_MAX];    /* UTF-8, typographic spaces replaced */
};

struct pat_slot {
	char locale[TAG_MAX];
	int used;
	UChar pat[N_DATE][PATTERN_MAX];
};

struct renderer {
	char dir[512];
	struct locale_texts loc[RENDER_LOCALES_MAX];
	size_t n_loc;
	size_t def;                  /* index of the default locale */
	struct fmt_slot fmt[FMT_SLOTS];
	struct pat_slot pat[PAT_SLOTS];
	uint32_t next_gen;           /* last generation given to a fmt slot */
	struct date_memo *memo;      /* MEMO_SLOTS, allocated on first use */
};

/* ---- diagnostics: the first error for load, every finding for lint ---- */

struct diag {
	FILE *out;      /* lint: print everything here */
	char *err;      /* load: the first error */
	size_t err_len;
	int errors;
	int warnings;
};

SMSQ_PRINTF(5, 6) static void say(struct diag *d, int is_error,
						      const char *file, int line,
						      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (is_error)
		d->errors++;
	else
		d->warnings++;
	if (d->out != NULL) {
		if (line > 0)
			fprintf(d->out, "%s:%d: %s: %s\n", file, line, is_error ? "error" : "warning",
				msg);
		else
			fprintf(d->out, "%s: %s: %s\n", file, is_error ? "error" : "warning", msg);
	}
	if (is_error && d->err != NULL && d->errors == 1) {
		if (line > 0)
			snprintf(d->err, d->err_len, "%s:%d: %s", file, line, msg);
		else
			snprintf(d->err, d->err_len, "%s: %s", file, msg);
	}
}

/* ---- parsing ---- */

static void add_literal(struct tmpl *t, size_t off, size_t len)
{
	if (len == 0)
		return;
	if (t->n_parts > 0 && t->parts[t->n_parts - 1].field == F_LITERAL &&
	    t->parts[t->n_parts - 1].off + t->parts[t->n_parts - 1].len == off) {
		t->parts[t->n_parts - 1].len += len;
		return;
	}
	t->parts[t->n_parts++] = (struct part){ F_LITERAL, off, len };
}

static void tmpl_free(struct tmpl **tp)
{
	if (*tp == NULL)
		return;
	free((*tp)->lit);
	free(*tp);
	*tp = NULL;
}

/* Compile a template value; NULL (with the problem said) when it is bad. */
static struct tmpl *compile(const char *val, struct diag *d, const char *file, int line)
{
	struct tmpl *t = xcalloc(1, sizeof(*t));
	size_t n = strlen(val), lit = 0;
	struct gsm_info gi;

	t->line = line;
	t->lit = xmalloc(n + 1);
	if (gsm_analyze(val, n, &gi) != 0) {
		say(d, 1, file, line, "not valid UTF-8");
		goto bad;
	}
	for (size_t i = 0; i < n; i++) {
		char c = val[i];

		if (t->n_parts + 1 >= PARTS_MAX) {
			say(d, 1, file, line, "more than %d parts (text runs and placeholders)",
			    PARTS_MAX - 1);
			goto bad;
		}
		if (c == '\\') {
			char e = i + 1 < n ? val[i + 1] : '\0';

			if (e != 'n' && e != '\\') {
				say(d, 1, file, line, "unknown escape '\\%c' (use \\n or \\\\)",
				    e ? e : ' ');
				goto bad;
			}
			t->lit[lit] = e == 'n' ? '\n' : '\\';
			add_literal(t, lit++, 1);
			i++;
		} else if (c == '{' && i + 1 < n && val[i + 1] == '{') {
			t->lit[lit] = '{';
			add_literal(t, lit++, 1);
			i++;
		} else if (c == '}' && i + 1 < n && val[i + 1] == '}') {
			t->lit[lit] = '}';
			add_literal(t, lit++, 1);
			i++;
		} else if (c == '}') {
			say(d, 1, file, line, "a lone '}' (write }} for a brace)");
			goto bad;
		} else if (c == '{') {
			const char *end = memchr(val + i + 1, '}', n - i - 1);
			int f;

			if (end == NULL) {
				say(d, 1, file, line, "'{' without its '}' (write {{ for a brace)");
				goto bad;
			}
			size_t nl = (size_t)(end - (val + i + 1));
			for (f = 0; f < F_COUNT; f++)
				if (strlen(field_names[f]) == nl &&
				    memcmp(field_names[f], val + i + 1, nl) == 0)
					break;
			if (f == F_COUNT) {
				say(d, 1, file, line,
				    "unknown placeholder {%.*s} (known: {patient_name} "
				    "{practitioner_name} {place} {booking_id} {date} {date_short} "
				    "{weekday} {time})",
				    (int)(nl > 40 ? 40 : nl), val + i + 1);
				goto bad;
			}
			t->parts[t->n_parts++] = (struct part){ f, 0, 0 };
			t->uses |= 1u << f;
			i += nl + 1;
		} else {
			t->lit[lit] = c;
			add_literal(t, lit++, 1);
		}
	}
	t->lit[lit] = '\0';
	return t;
bad:
	tmpl_free(&t);
	return NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
			 s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static void parse_file(struct locale_texts *lt, const char *path, struct diag *d)
{
	char *buf = NULL;
	size_t buf_cap = 0;
	ssize_t got;
	int line = 0, defined_at[KINDS] = { 0 };
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		say(d, 1, path, 0, "cannot open: %s", strerror(errno));
		return;
	}
	while ((got = getline(&buf, &buf_cap, fp)) != -1) {
		size_t n = (size_t)got;

		line++;
		if (n > 0 && buf[n - 1] == '\n')
			n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		if (n > RENDER_LINE_MAX) {
			say(d, 1, path, line, "longer than %d bytes", RENDER_LINE_MAX);
			continue;
		}
		if (memchr(buf, '\0', n) != NULL) {
			say(d, 1, path, line, "a NUL byte (is the file UTF-16? it must be UTF-8)");
			continue;
		}
		buf[n] = '\0';
		char *s = buf;
		/* A UTF-8 byte order mark (Windows editors add one) is not text. */
		if (line == 1 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		s = trim(s);
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			say(d, 1, path, line, "expected 'kind = text'");
			continue;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		int k;

		for (k = 0; k < KINDS; k++)
			if (strcmp(key, kind_names[k]) == 0)
				break;
		if (k == KINDS) {
			say(d, 1, path, line,
			    "unknown kind '%.40s' (confirmed, rescheduled, cancelled, reminder)", key);
			continue;
		}
		if (defined_at[k]) {
			say(d, 1, path, line, "%s given twice (first on line %d)", kind_names[k],
			    defined_at[k]);
			continue;
		}
		defined_at[k] = line;
		if (*val == '\0') {
			say(d, 1, path, line, "%s: the text is empty", kind_names[k]);
			continue;
		}
		lt->kinds[k] = compile(val, d, path, line);
	}
	if (ferror(fp))
		say(d, 1, path, line, "read error: %s", strerror(errno));
	free(buf);
	fclose(fp);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_texts(renderer *r)
{
	for (size_t i = 0; i < r->n_loc; i++)
		for (int k = 0; k < KINDS; k++)
			tmpl_free(&r->loc[i].kinds[k]);
	r->n_loc = 0;
}

/* Parse every file of dir into r; problems go to d.  -1: dir unreadable. */
static int parse_dir(renderer *r, const char *dir, const char *default_locale, struct diag *d)
{
	char *names[RENDER_LOCALES_MAX + 1];
	size_t n = 0;
	struct dirent *de;
	DIR *dp = opendir(dir);

	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	if (dp == NULL) {
		say(d, 1, dir, 0, "cannot open the templates directory: %s", strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l <= 5 || strcmp(de->d_name + l - 5, ".tmpl") != 0)
			continue;
		if (n == RENDER_LOCALES_MAX) {
			say(d, 1, dir, 0, "more than %d template files", RENDER_LOCALES_MAX);
			break;
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		size_t tl = strlen(names[i]) - 5;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!validate_locale_tag(names[i], tl) || tl >= TAG_MAX) {
			say(d, 1, path, 0,
			    "the file name must be a language tag: fr.tmpl, fr-CA.tmpl, es-419.tmpl");
		} else {
			struct locale_texts *lt = &r->loc[r->n_loc++];

			memcpy(lt->tag, names[i], tl);
			lt->tag[tl] = '\0';
			parse_file(lt, path, d);
		}
		free(names[i]);
	}
	r->def = r->n_loc;
	for (size_t i = 0; i < r->n_loc; i++)
		if (strcasecmp(r->loc[i].tag, default_locale) == 0)
			r->def = i;
	if (r->def == r->n_loc) {
		say(d, 1, dir, 0, "no %s.tmpl: the default locale (ingest.default_locale) needs one",
		    default_locale);
		return 0;
	}
	for (int k = 0; k < KINDS; k++)
		if (r->loc[r->def].kinds[k] == NULL)
			say(d, 1, dir, 0, "%s.tmpl has no valid '%s' text: the default locale needs all four",
			    r->loc[r->def].tag, kind_names[k]);
	return 0;
}

renderer *renderer_load(const char *dir, const char *default_locale, char *err, size_t err_len)
{
	renderer *r = xcalloc(1, sizeof(*r));
	struct diag d = { NULL, err, err_len, 0, 0 };
	UErrorCode st = U_ZERO_ERROR;

	if (parse_dir(r, dir, default_locale, &d) != 0 || d.errors > 0)
		goto fail;
	/* ICU builds its list of zones once per process and keeps a failure
	 * for good (its init-once): built here, not first on the rare path
	 * that reads it (zone_status()), where a want of memory would leave
	 * every zone unknown to ICU "cannot say now" until the process ends. */
	uenum_close(ucal_openTimeZoneIDEnumeration(UCAL_ZONE_TYPE_ANY, NULL, NULL, &st));
	if (U_FAILURE(st)) {
		snprintf(err, err_len, "ICU's list of time zones: %s", u_errorName(st));
		goto fail;
	}
	return r;
fail:
	renderer_free(&r);
	return NULL;
}

static void fmt_slot_clear(struct fmt_slot *s)
{
	for (int i = 0; i < N_DATE; i++) {
		if (s->f[i] != NULL)
			udat_close(s->f[i]);
		s->f[i] = NULL;
	}
	s->used = 0;
}

void renderer_free(renderer **rp)
{
	if (rp == NULL || *rp == NULL)
		return;
	free_texts(*rp);
	for (size_t i = 0; i < FMT_SLOTS; i++)
		fmt_slot_clear(&(*rp)->fmt[i]);
	free((*rp)->memo);
	free(*rp);
	*rp = NULL;
}

/* ---- choosing a text ---- */

static const struct locale_texts *find_tag(const renderer *r, const char *tag, size_t n)
{
	for (size_t i = 0; i < r->n_loc; i++)
		if (strncasecmp(r->loc[i].tag, tag, n) == 0 && r->loc[i].tag[n] == '\0')
			return &r->loc[i];
	return NULL;
}

/* The template for locale and kind (kind 1..4), and its source file. */
static const struct tmpl *choose(const renderer *r, const char *locale, int k,
				 const struct locale_texts **src)
{
	size_t n = strlen(locale), lang = strcspn(locale, "-");
	const struct locale_texts *lt = find_tag(r, locale, n);

	if (lt != NULL && lt->kinds[k] != NULL)
		goto found;
	lt = lang < n ? find_tag(r, locale, lang) : NULL;
	if (lt != NULL && lt->kinds[k] != NULL)
		goto found;
	lt = &r->loc[r->def];
found:
	*src = lt;
	return lt->kinds[k];
}

const char *render_source(const renderer *r, const char *locale, Smsq__Kind kind)
{
	const struct locale_texts *src;

	if (kind < 1 || kind > KINDS)
		return NULL;
	choose(r, locale, (int)kind - 1, &src);
	return src->tag;
}

/* ---- ICU ---- */

static uint32_t hash_str(uint32_t h, const char *s)
{
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* What an ICU failure says: a resource the process lacks now (transient)
 * or anything else. */
static enum render_status icu_failure(UErrorCode st)
{
	return st == U_MEMORY_ALLOCATION_ERROR || st == U_FILE_ACCESS_ERROR ? RENDER_TRANSIENT
									    : RENDER_ICU_ERROR;
}

/* "fr-BE" -> "fr_BE", ICU's locale id. */
static void icu_locale(const char *tag, char out[TAG_MAX])
{
	size_t i;

	for (i = 0; tag[i] != '\0' && i + 1 < TAG_MAX; i++)
		out[i] = tag[i] == '-' ? '_' : tag[i];
	out[i] = '\0';
}

static const UChar *patterns(renderer *r, const char *locale, int which,
			     enum render_status *rs, char *detail, size_t detail_len)
{
	struct pat_slot *p = &r->pat[hash_str(2166136261u, locale) % PAT_SLOTS];
	char loc[TAG_MAX];
	UErrorCode st = U_ZERO_ERROR;

	if (p->used && strcmp(p->locale, locale) == 0)
		return p->pat[which];
	icu_locale(locale, loc);
	UDateTimePatternGenerator *g = udatpg_open(loc, &st);
	for (int i = 0; i < N_DATE && U_SUCCESS(st); i++) {
		UChar skel[16];

		u_charsToUChars(skeletons[i], skel, (int32_t)strlen(skeletons[i]) + 1);
		udatpg_getBestPattern(g, skel, -1, p->pat[i], PATTERN_MAX, &st);
		if (st == U_STRING_NOT_TERMINATED_WARNING)
			st = U_BUFFER_OVERFLOW_ERROR;
	}
	if (g != NULL)
		udatpg_close(g);
	if (U_FAILURE(st)) {
		p->used = 0;
		*rs = icu_failure(st);
		snprintf(detail, detail_len, "ICU date patterns for %s: %s", locale, u_errorName(st));
		return NULL;
	}
	snprintf(p->locale, sizeof(p->locale), "%s", locale);
	p->used = 1;
	return p->pat[which];
}

/*
 * Does ICU know zone (uzone, zl UChars)?  RENDER_OK, RENDER_BAD_ZONE, or
 * RENDER_TRANSIENT / RENDER_ICU_ERROR with detail when it could not say.
 *
 * ucal_getCanonicalTimeZoneID() answers U_ILLEGAL_ARGUMENT_ERROR for a zone
 * it does not know, but also when its own lookup ran out of memory (ICU 72
 * folds the one into the other).  So "unknown" is checked against the list
 * of ICU's zones, whose enumeration reports its failures as they are: a
 * zone in it was looked up in vain for want of a resource.  The check runs
 * only on that rare path (the validator found the zone in the host's zone
 * directory), once per formatter slot.
 */
static enum render_status zone_status(const char *zone, const UChar *uzone, int32_t zl,
				      char *detail, size_t detail_len)
{
	UChar canon[ZONE_MAX];
	UBool is_system = 0;
	UErrorCode st = U_ZERO_ERROR;
	UEnumeration *all;
	int listed = 0;

	ucal_getCanonicalTimeZoneID(uzone, zl, canon, ZONE_MAX, &is_system, &st);
	if (U_SUCCESS(st) && is_system)
		return RENDER_OK;
	if (U_FAILURE(st) && st != U_ILLEGAL_ARGUMENT_ERROR)
		goto failed;
	st = U_ZERO_ERROR;
	all = ucal_openTimeZoneIDEnumeration(UCAL_ZONE_TYPE_ANY, NULL, NULL, &st);
	while (U_SUCCESS(st) && !listed) {
		const char *id = uenum_next(all, NULL, &st);

		if (id == NULL)
			break;
		listed = strcmp(id, zone) == 0;
	}
	uenum_close(all);
	if (U_FAILURE(st))
		goto failed;
	if (!listed)
		return RENDER_BAD_ZONE;
	snprintf(detail, detail_len, "ICU could not look up time_zone %s now (try again)", zone);
	return RENDER_TRANSIENT;
failed:
	snprintf(detail, detail_len, "ICU could not look up time_zone %s: %s", zone,
		 u_errorName(st));
	return icu_failure(st);
}

/* The formatter of field `which` for (locale, zone); *slot_out: its slot. */
static UDateFormat *formatter(renderer *r, const char *locale, const char *zone, int which,
			      enum render_status *rs, char *detail, size_t detail_len,
			      size_t *slot_out)
{
	size_t slot = hash_str(hash_str(2166136261u, locale), zone) % FMT_SLOTS;
	struct fmt_slot *s = &r->fmt[slot];
	UChar uzone[ZONE_MAX];
	int32_t zl = (int32_t)strlen(zone);
	UErrorCode st = U_ZERO_ERROR;

	if (zl >= ZONE_MAX) {
		*rs = RENDER_BAD_ZONE;
		snprintf(detail, detail_len, "time_zone is too long");
		return NULL;
	}
	u_charsToUChars(zone, uzone, zl + 1);
	if (!(s->used && strcmp(s->locale, locale) == 0 && strcmp(s->zone, zone) == 0)) {
		enum render_status zs;

		fmt_slot_clear(s);
		zs = zone_status(zone, uzone, zl, detail, detail_len);
		if (zs != RENDER_OK && zs != RENDER_BAD_ZONE) {
			*rs = zs; /* the slot stays empty: asked again next time */
			return NULL;
		}
		snprintf(s->locale, sizeof(s->locale), "%s", locale);
		snprintf(s->zone, sizeof(s->zone), "%s", zone);
		s->bad_zone = zs == RENDER_BAD_ZONE;
		s->used = 1;
		if (++r->next_gen == 0) /* 0 marks an empty memo */
			++r->next_gen;
		s->gen = r->next_gen;
	}
	if (s->bad_zone) {
		*rs = RENDER_BAD_ZONE;
		snprintf(detail, detail_len,
			 "time_zone %s is not in ICU's zone database (update libicu or its data)",
			 zone);
		return NULL;
	}
	if (s->f[which] == NULL) {
		const UChar *pat = patterns(r, locale, which, rs, detail, detail_len);
		char loc[TAG_MAX];

		if (pat == NULL)
			return NULL;
		icu_locale(locale, loc);
		s->f[which] = udat_open(UDAT_PATTERN, UDAT_PATTERN, loc, uzone, zl, pat, -1, &st);
		if (U_FAILURE(st)) {
			if (s->f[which] != NULL)
				udat_close(s->f[which]);
			s->f[which] = NULL;
			*rs = icu_failure(st);
			snprintf(detail, detail_len, "ICU date format for %s: %s", locale,
				 u_errorName(st));
			return NULL;
		}
	}
	*slot_out = slot;
	return s->f[which];
}

/* The memo entry holding (slot, which, at_ms), or NULL; *victim: where to
 * remember it otherwise (an empty way of its set, else one made stale by a
 * formatter slot given to another locale and zone, else one picked by the
 * key's hash). */
static struct date_memo *memo_find(renderer *r, size_t slot, int which, int64_t at_ms,
				   struct date_memo **victim)
{
	uint64_t h = (uint64_t)at_ms * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(slot * N_DATE + (size_t)which);
	struct date_memo *set;

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 32;
	set = &r->memo[(h % (MEMO_SLOTS / MEMO_WAYS)) * MEMO_WAYS];
	*victim = &set[(h >> 48) % MEMO_WAYS];
	for (size_t i = 0; i < MEMO_WAYS; i++) {
		struct date_memo *m = &set[i];

		if (m->gen == 0) {
			*victim = m;
			return NULL; /* ways fill in order: none after an empty one */
		}
		if (m->gen != r->fmt[m->slot].gen)
			*victim = m;
		else if (m->slot == slot && m->which == which && m->at_ms == at_ms)
			return m;
	}
	return NULL;
}

/*
 * Format the appointment time into out as UTF-8; returns bytes or -1.
 *
 * udat_format() is among the costliest steps of preparing an event, and
 * bookings share appointment slots (six weeks of quarter hours are 4,032
 * instants), so what it gave is remembered in a table keyed by formatter
 * slot, its generation (a slot reused for another locale and zone gets a
 * new one), field and time.  The table is 4-way set-associative: direct-
 * mapped, the 8,064 keys of one zone's six weeks (date and time) would
 * often collide and evict each other.
 */
static int format_date(renderer *r, const char *locale, const char *zone, int which,
		       int64_t at_ms, char *out, size_t cap, enum render_status *rs, char *detail,
		       size_t detail_len)
{
	UChar buf[FORMATTED_MAX];
	UErrorCode st = U_ZERO_ERROR;
	size_t slot = 0;
	UDateFormat *f = formatter(r, locale, zone, which, rs, detail, detail_len, &slot);
	struct date_memo *m, *victim;
	int32_t n, len;

	if (f == NULL)
		return -1;
	if (r->memo == NULL)
		r->memo = xcalloc(MEMO_SLOTS, sizeof(*r->memo));
	m = memo_find(r, slot, which, at_ms, &victim);
	if (m != NULL && m->len < cap) {
		memcpy(out, m->text, m->len);
		out[m->len] = '\0';
		return m->len;
	}
	n = udat_format(f, (UDate)at_ms, buf, FORMATTED_MAX, NULL, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING) {
		*rs = icu_failure(st);
		snprintf(detail, detail_len, "ICU could not format the date: %s", u_errorName(st));
		return -1;
	}
	/* ICU's typographic spaces would make the whole SMS UCS-2. */
	for (int32_t i = 0; i < n; i++)
		if (buf[i] == 0x00A0 || buf[i] == 0x202F || buf[i] == 0x2009)
			buf[i] = ' ';
	u_strToUTF8(out, (int32_t)cap, &len, buf, n, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING) {
		*rs = RENDER_TOO_LONG; /* the caller says how long the buffer was */
		return -1;
	}
	if ((size_t)len < sizeof(m->text)) {
		m = m != NULL ? m : victim;
		m->gen = r->fmt[slot].gen;
		m->slot = (uint16_t)slot;
		m->which = (uint8_t)which;
		m->at_ms = at_ms;
		m->len = (uint16_t)len;
		memcpy(m->text, out, (size_t)len);
	}
	return len;
}

/* ---- rendering ---- */

static const char *field_value(const Smsq__BookingEvent *ev, int f)
{
	switch (f) {
	case F_PATIENT: return ev->patient_name;
	case F_PRACTITIONER: return ev->practitioner_name;
	case F_PLACE: return ev->place;
	default: return ev->booking_id;
	}
}

static enum render_status render_tmpl(renderer *r, const struct tmpl *t, const char *fmt_locale,
				      const Smsq__BookingEvent *ev, char *out, size_t cap,
				      size_t *len, char *detail, size_t detail_len)
{
	enum render_status rs = RENDER_OK;
	size_t o = 0;

	if (cap == 0)
		return RENDER_TOO_LONG;
	for (size_t i = 0; i < t->n_parts; i++) {
		const struct part *p = &t->parts[i];
		const char *src;
		size_t n;

		if (p->field >= F_DATE) {
			int w = format_date(r, fmt_locale, ev->time_zone, p->field - F_DATE,
					    ev->appointment_at_ms, out + o, cap - o, &rs, detail,
					    detail_len);
			if (w < 0) {
				if (rs == RENDER_TOO_LONG)
					snprintf(detail, detail_len,
						 "the rendered text is over %zu bytes", cap - 1);
				goto fail;
			}
			o += (size_t)w;
			continue;
		}
		if (p->field == F_LITERAL) {
			src = t->lit + p->off;
			n = p->len;
		} else {
			src = field_value(ev, p->field);
			n = strlen(src);
		}
		if (n >= cap - o) {
			rs = RENDER_TOO_LONG;
			snprintf(detail, detail_len, "the rendered text is over %zu bytes", cap - 1);
			goto fail;
		}
		memcpy(out + o, src, n);
		o += n;
	}
	out[o] = '\0';
	*len = o;
	return RENDER_OK;
fail:
	out[0] = '\0';
	*len = 0;
	return rs;
}

/* The locale dates are written in: the event's own when the text is in its
 * language, else the text's. */
static const char *format_locale(const char *locale, const struct locale_texts *src)
{
	size_t lang = strcspn(locale, "-");

	if (strncasecmp(src->tag, locale, lang) == 0 &&
	    (src->tag[lang] == '\0' || src->tag[lang] == '-'))
		return locale;
	return src->tag;
}

enum render_status render_event(renderer *r, const Smsq__BookingEvent *ev, char *out,
				size_t cap, size_t *len, char *detail, size_t detail_len)
{
	const struct locale_texts *src;
	const struct tmpl *t;

	if (ev->kind < 1 || ev->kind > KINDS) {
		snprintf(detail, detail_len, "kind %d has no template", (int)ev->kind);
		return RENDER_ICU_ERROR;
	}
	t = choose(r, ev->locale, (int)ev->kind - 1, &src);
	return render_tmpl(r, t, format_locale(ev->locale, src), ev, out, cap, len, detail,
			   detail_len);
}

/* ---- lint ---- */

#define LINT_TEXT_MAX 4096

/* Warn once per character of t's literal text that is not GSM-7. */
static void lint_chars(const struct tmpl *t, const char *file, const char *kind,
		       struct diag *d)
{
	char seen[32][5];
	size_t n_seen = 0;

	for (size_t i = 0; i < t->n_parts; i++) {
		const struct part *p = &t->parts[i];
		const char *s = t->lit + p->off;

		if (p->field != F_LITERAL)
			continue;
		for (size_t j = 0; j < p->len;) {
			size_t start = j, cl;
			uint32_t cp;
			struct gsm_info gi;
			char ch[5] = { 0 }, smart[16];
			unsigned repl = 0;

			if (gsm_utf8_next(s, p->len, &j, &cp) != 0)
				break; /* compile() checked the UTF-8 */
			cl = j - start;
			memcpy(ch, s + start, cl);
			if (gsm_analyze(ch, cl, &gi) != 0 || gi.encoding == GSM_7BIT)
				continue;
			size_t k;
			for (k = 0; k < n_seen; k++)
				if (strcmp(seen[k], ch) == 0)
					break;
			if (k < n_seen)
				continue;
			if (n_seen < 32)
				memcpy(seen[n_seen++], ch, sizeof(ch));
			size_t sl = gsm_smart(ch, cl, smart, sizeof(smart), &repl);
			int fixable = sl != GSM_SMART_INVALID && repl > 0 &&
				      gsm_analyze(smart, sl, &gi) == 0 && gi.encoding == GSM_7BIT;
			if (fixable)
				say(d, 0, file, t->line,
				    "%s: '%s' (U+%04X) is not GSM-7: the text goes UCS-2 unless smart "
				    "encoding is on (it would send '%s')",
				    kind, ch, (unsigned)cp, smart);
			else
				say(d, 0, file, t->line,
				    "%s: '%s' (U+%04X) is not GSM-7 and has no GSM-7 form: every text "
				    "goes UCS-2",
				    kind, ch, (unsigned)cp);
		}
	}
}

static void fill(char *buf, size_t len, const char *first)
{
	size_t fl = strlen(first);

	memcpy(buf, first, fl);
	for (size_t i = fl; i < fl + len; i++)
		buf[i] = 'x';
	buf[fl + len] = '\0';
}

/* Encoding and segments of text, as ingest would count them. */
static void cost(const char *text, size_t len, int smart_on, struct gsm_info *gi)
{
	char smart[LINT_TEXT_MAX];
	struct gsm_info si;

	if (gsm_analyze(text, len, gi) != 0)
		return;
	if (smart_on &&
	    gsm_smart_fit(text, len, gi, smart, sizeof(smart), &si, NULL) != GSM_SMART_INVALID)
		*gi = si;
}

static void lint_one(renderer *r, const struct locale_texts *lt, int k, const char *file,
		     const struct render_lint_opts *o, struct diag *d)
{
	const struct tmpl *t = lt->kinds[k];
	char text[LINT_TEXT_MAX], detail[256];
	char patient[300], practitioner[300], place[300], booking[300], patient_u[300];
	size_t len;
	struct gsm_info ex = { 0 }, worst = { 0 }, worst_u = { 0 }, gi;
	/* 2027-03-30 12:30 UTC, a Tuesday in spring */
	Smsq__BookingEvent ev = SMSQ__BOOKING_EVENT__INIT;

	lint_chars(t, file, kind_names[k], d);
	ev.kind = (Smsq__Kind)(k + 1);
	ev.locale = (char *)lt->tag;
	ev.time_zone = (char *)"Europe/Paris";
	ev.patient_name = (char *)"Camille Martin";
	ev.practitioner_name = (char *)"Dr Laurent Petit";
	ev.place = (char *)"Centre de santé Voltaire, 12 rue Oberkampf";
	ev.booking_id = (char *)"BK-2027-004512";
	ev.appointment_at_ms = 1806409800000LL;
	if (render_tmpl(r, t, lt->tag, &ev, text, sizeof(text), &len, detail, sizeof(detail)) !=
	    RENDER_OK) {
		say(d, 1, file, t->line, "%s: cannot render: %s", kind_names[k], detail);
		return;
	}
	cost(text, len, o->smart_encoding, &ex);
	if (d->out != NULL)
		fprintf(d->out, "%s:%d: %s: example, %s, %zu segment%s: %s\n", file, t->line,
			kind_names[k], gsm_encoding_name(ex.encoding), ex.segments,
			ex.segments == 1 ? "" : "s", text);

	/* Worst case: long fields, and the longest date and time of a year. */
	fill(patient, o->patient_len < 256 ? o->patient_len : 255, "");
	fill(practitioner, o->practitioner_len < 256 ? o->practitioner_len : 255, "");
	fill(place, o->place_len < 256 ? o->place_len : 255, "");
	fill(booking, o->booking_id_len < 256 ? o->booking_id_len : 255, "");
	fill(patient_u, o->patient_len > 1 && o->patient_len < 256 ? o->patient_len - 1 : 1,
	     "\xd0\x96"); /* a Cyrillic letter: the name alone makes it UCS-2 */
	ev.practitioner_name = practitioner;
	ev.place = place;
	ev.booking_id = booking;
	for (int day = 0; day < 366; day++) {
		for (int h = 0; h < 2; h++) {
			ev.appointment_at_ms = 1798761600000LL + (int64_t)day * 86400000 +
					       (h ? 43200000 + 3540000 : 37800000);
			for (int u = 0; u < 2; u++) {
				ev.patient_name = u ? patient_u : patient;
				if (render_tmpl(r, t, lt->tag, &ev, text, sizeof(text), &len, detail,
						sizeof(detail)) != RENDER_OK) {
					say(d, 1, file, t->line, "%s: cannot render: %s",
					    kind_names[k], detail);
					return;
				}
				cost(text, len, o->smart_encoding, &gi);
				struct gsm_info *w = u ? &worst_u : &worst;
				if (gi.segments > w->segments ||
				    (gi.segments == w->segments && gi.units > w->units))
					*w = gi;
			}
		}
		if (!(t->uses & ((1u << F_DATE) | (1u << F_DATE_SHORT) | (1u << F_WEEKDAY) |
				 (1u << F_TIME))))
			break; /* no date in it: one pass is every pass */
	}
	if (d->out != NULL)
		fprintf(d->out,
			"%s:%d: %s: worst case (names %zu/%zu, place %zu characters), %s, %zu "
			"segment%s (%zu unit%s); %zu if a name needs UCS-2\n",
			file, t->line, kind_names[k], o->patient_len, o->practitioner_len,
			o->place_len, gsm_encoding_name(worst.encoding), worst.segments,
			worst.segments == 1 ? "" : "s", worst.units, worst.units == 1 ? "" : "s",
			worst_u.segments);
	if (worst.segments > o->max_segments)
		say(d, 1, file, t->line,
		    "%s: the worst case needs %zu segments, over ingest.max_segments (%zu): such "
		    "events would be rejected",
		    kind_names[k], worst.segments, o->max_segments);
}

int render_lint(const char *dir, const char *default_locale, const struct render_lint_opts *o,
		FILE *out)
{
	renderer *r = xcalloc(1, sizeof(*r));
	struct diag d = { out, NULL, 0, 0, 0 };
	size_t n_tmpl = 0;

	if (parse_dir(r, dir, default_locale, &d) != 0) {
		renderer_free(&r);
		return -1;
	}
	for (size_t i = 0; i < r->n_loc; i++) {
		char file[1024];

		snprintf(file, sizeof(file), "%s/%s.tmpl", dir, r->loc[i].tag);
		for (int k = 0; k < KINDS; k++) {
			if (r->loc[i].kinds[k] == NULL)
				continue;
			n_tmpl++;
			lint_one(r, &r->loc[i], k, file, o, &d);
		}
	}
	fprintf(out, "templates check: %zu file%s, %zu template%s, %d error%s, %d warning%s\n",
		r->n_loc, r->n_loc == 1 ? "" : "s", n_tmpl, n_tmpl == 1 ? "" : "s", d.errors,
		d.errors == 1 ? "" : "s", d.warnings, d.warnings == 1 ? "" : "s");
	renderer_free(&r);
	return d.errors;
}
