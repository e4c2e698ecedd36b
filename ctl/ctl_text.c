/*
 * ctl_text: smsqctl preview and templates check (see ctl_text.h).
 *
 * Preview prints what events hold to an operator's terminal.  Ingest refuses
 * control characters in the fields that go into a text, but a ready text may
 * hold line breaks, and a rejection's detail may quote the input as it came
 * (an unknown JSON key, a bad kind, bytes that are not UTF-8).  So whatever
 * preview echoes from the input goes through escape(): the plain output gets
 * the text and the detail escaped, the JSON output the detail (jansson
 * escapes only U+0000-U+001F, the quote and the backslash, and refuses a
 * string that is not UTF-8); the JSON text is the exact value, and what an
 * event puts into it holds no other control (validate.h).
 */
#include "ctl/ctl_text.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "producer/event_json.h"
#include "text/gsm.h"
#include "text/prepare.h"
#include "text/validate.h"

#define PREVIEW_LINE_MAX (1 << 20)
#define PREVIEW_DETAIL_MAX 512 /* bytes of a rejection's detail */
#define PREVIEW_ESC_MAX 6      /* longest escape of one input byte: "\u001B" */

/*
 * Write s[0..n) into out as text that is safe on a terminal: LF, CR and TAB
 * as \n \r \t, a backslash as \\, any other character of
 * validate_control_char() as \uXXXX, a byte that is not UTF-8 as \xHH; the
 * rest as it is.  out holds cap >= PREVIEW_ESC_MAX * n + 1 bytes.  Returns
 * out, NUL-terminated.
 */
static const char *escape(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	while (i < n && o + PREVIEW_ESC_MAX < cap) {
		size_t at = i;
		uint32_t cp;

		if (gsm_utf8_next(s, n, &i, &cp) != 0) {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02X", (unsigned char)s[i++]);
			continue;
		}
		if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\\') {
			out[o++] = '\\';
			out[o++] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : '\\';
		} else if (validate_control_char(cp) != NULL) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04X", (unsigned)cp);
		} else {
			memcpy(out + o, s + at, i - at);
			o += i - at;
		}
	}
	out[o] = '\0';
	return out;
}

/* esc: PREVIEW_ESC_MAX * prepare_text_cap() + 1 bytes for escape(). */
static void print_ok(const struct store_new *m, const struct prepare_info *info, long line,
		     int json, char *esc, size_t esc_cap)
{
	const char *enc = gsm_encoding_name(m->encoding == STORE_ENC_GSM7 ? GSM_7BIT : GSM_UCS2);

	if (json) {
		json_t *o = json_pack("{s:i, s:s, s:s%, s:s, s:s?, s:s, s:i, s:i, s:i, s:i, s:s%}",
				      "line", (json_int_t)line, "status", "ok", "to", m->to,
				      m->to_len, "region", info->region, "template", info->source,
				      "encoding", enc, "segments", (json_int_t)m->segments,
				      "units", (json_int_t)info->units, "replaced",
				      (json_int_t)info->replaced, "segments_saved",
				      (json_int_t)m->segments_saved, "text", m->text, m->text_len);
		if (o != NULL)
			json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		printf("\n");
		return;
	}
	printf("event %ld: accepted\n", line);
	printf("  to        %.*s (%s)\n", (int)m->to_len, m->to, info->region);
	printf("  template  %s\n", info->source ? info->source : "- (the event's own text)");
	printf("  encoding  %s, %u segment%s, %zu %s", enc, (unsigned)m->segments,
	       m->segments == 1 ? "" : "s", info->units,
	       m->encoding == STORE_ENC_GSM7 ? "septets" : "UTF-16 units");
	if (info->replaced > 0)
		printf(" (smart encoding replaced %u character%s, saved %u segment%s)",
		       info->replaced, info->replaced == 1 ? "" : "s", (unsigned)m->segments_saved,
		       m->segments_saved == 1 ? "" : "s");
	printf("\n  text      %s\n", escape(m->text, m->text_len, esc, esc_cap));
}

/* esc: PREVIEW_ESC_MAX * PREVIEW_DETAIL_MAX + 1 bytes for escape(). */
static void print_rejected(long line, const char *reason, const char *raw_detail, int json,
			   char *esc, size_t esc_cap)
{
	const char *detail = escape(raw_detail, strlen(raw_detail), esc, esc_cap);

	if (json) {
		json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "line", (json_int_t)line, "status",
				      "rejected", "reason", reason, "detail", detail);
		if (o != NULL)
			json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		printf("\n");
		return;
	}
	printf("event %ld: rejected %s: %s\n", line, reason, detail);
}

int ctl_preview(const struct config *cfg, FILE *in, const char *name, int json, int64_t now_ms)
{
	char err[512];
	struct prepare_opts o;
	preparer *p = config_text_opts(cfg, &o, err, sizeof(err)) == 0
			      ? preparer_new(&o, err, sizeof(err))
			      : NULL;
	size_t cap = (size_t)cfg->ingest_max_event_bytes;
	uint8_t *packed = NULL;
	char *slot = NULL, *line = NULL, *esc = NULL;
	size_t line_cap = 0, esc_cap = 0;
	ssize_t n;
	long lineno = 0, events = 0, rejected = 0, unsure = 0;

	if (p == NULL) {
		fprintf(stderr, "smsqctl: %s\n", err);
		return 2;
	}
	packed = malloc(cap);
	slot = malloc(prepare_text_cap(p));
	esc_cap = PREVIEW_ESC_MAX * (prepare_text_cap(p) > PREVIEW_DETAIL_MAX ? prepare_text_cap(p)
									 : PREVIEW_DETAIL_MAX) + 1;
	esc = malloc(esc_cap);
	if (packed == NULL || slot == NULL || esc == NULL) {
		fprintf(stderr, "smsqctl: out of memory\n");
		rejected = -1;
		goto out;
	}
	if (now_ms == 0)
		now_ms = clock_wall_ms();
	while ((n = getline(&line, &line_cap, in)) != -1) {
		size_t len;
		char detail[PREVIEW_DETAIL_MAX];
		struct store_new m;
		struct prepare_info info;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)n)
			continue;
		events++;
		if ((size_t)n > PREVIEW_LINE_MAX ||
		    event_json_pack_line(line, (size_t)n, packed, cap, &len, detail,
					 sizeof(detail)) != 0) {
			if ((size_t)n > PREVIEW_LINE_MAX)
				snprintf(detail, sizeof(detail), "line over %d bytes", PREVIEW_LINE_MAX);
			print_rejected(lineno, "bad_json", detail, json, esc, esc_cap);
			rejected++;
			continue;
		}
		Smsq__Reason why = validate_wire(packed, len, detail, sizeof(detail));
		Smsq__BookingEvent *ev = NULL;

		if (why == SMSQ__REASON__REASON_NONE) {
			ev = smsq__booking_event__unpack(NULL, len, packed);
			if (ev == NULL) {
				why = SMSQ__REASON__REASON_UNDECODABLE;
				snprintf(detail, sizeof(detail), "not a BookingEvent");
			}
		}
		if (why == SMSQ__REASON__REASON_NONE)
			why = prepare_event(p, ev, now_ms, &m, slot, &info, detail, sizeof(detail));
		if (why == SMSQ__REASON__REASON_NONE) {
			print_ok(&m, &info, lineno, json, esc, esc_cap);
		} else if (why == SMSQ__REASON__REASON_TEMPORARY) {
			/* No verdict: the pool would answer RETRY_LATER. */
			fprintf(stderr, "smsqctl: preview: event %ld: cannot say now: %s\n", lineno,
				detail);
			unsure++;
		} else {
			print_rejected(lineno, validate_reason_name(why), detail, json, esc,
				       esc_cap);
			rejected++;
		}
		smsq__booking_event__free_unpacked(ev, NULL);
	}
	if (ferror(in)) {
		fprintf(stderr, "smsqctl: preview: reading %s failed\n", name);
		rejected = -1;
	} else if (events == 0) {
		fprintf(stderr, "smsqctl: preview: no event in %s (one JSON object per line)\n",
			name);
		rejected = -1;
	}
out:
	free(line);
	free(packed);
	free(slot);
	free(esc);
	preparer_destroy(&p);
	return rejected < 0 || unsure > 0 ? 2 : rejected > 0 ? 1 : 0;
}

int ctl_templates_check(const struct config *cfg, const struct render_lint_opts *o)
{
	int errors = render_lint(cfg->templates_dir, cfg->default_locale, o, stdout);

	if (errors < 0) {
		fprintf(stderr, "smsqctl: cannot read the templates directory %s\n",
			cfg->templates_dir);
		return 2;
	}
	return errors > 0 ? 1 : 0;
}
