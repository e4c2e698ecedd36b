/*
 * prepare: validate, normalise, render, encode, count (see prepare.h).
 *
 * A text is judged as it would be sent: after rendering and smart
 * encoding.  So a text of zero-width spaces, which smart encoding empties,
 * is refused EMPTY_TEXT here rather than by a provider, and the limits are
 * counted on the characters and segments that leave.
 *
 * The providers' limits (prepare_opts: their APIs' max_text_units and
 * max_text_segments) are reduced once, in preparer_new(), to the smallest
 * of each kind, with the provider it comes from: failover may send any
 * message through any of them, so a text must fit them all.
 */
#include "text/prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "text/gsm.h"
#include "text/phone.h"
#include "text/render.h"
#include "text/validate.h"

#define PREPARE_RENDER_MAX 2048 /* longest rendered text, bytes */

/* The smallest limit of one kind among the configured providers. */
struct text_limit {
	size_t max;                        /* 0: no configured provider has one */
	char provider[64];                 /* the provider it comes from */
	const char *api;                   /* its type (static) */
};

struct preparer {
	validator *val;
	renderer *rend;
	size_t max_segments;
	int smart_encoding;
	size_t text_cap;        /* bytes of a text slot */
	struct text_limit units;    /* in UTF-16 code units (characters) */
	struct text_limit segments; /* in SMS parts */
};

/* Keep max (0: none) in *l if it is the first or a smaller limit. */
static void take_smaller(struct text_limit *l, size_t max, const char *provider,
			 const char *api)
{
	if (max == 0 || (l->max != 0 && l->max <= max))
		return;
	l->max = max;
	snprintf(l->provider, sizeof(l->provider), "%s", provider);
	l->api = api;
}

/* Is n (what: its unit) over limit l?  Then detail says so. */
static int over_limit(const struct text_limit *l, size_t n, const char *what, char *detail,
		      size_t detail_len)
{
	if (l->max == 0 || n <= l->max)
		return 0;
	snprintf(detail, detail_len, "text is %zu %s, over the %zu that provider %s (%s) accepts",
		 n, what, l->max, l->provider, l->api);
	return 1;
}

preparer *preparer_new(const struct prepare_opts *o, char *err, size_t err_len)
{
	preparer *p = xcalloc(1, sizeof(*p));
	struct phone_rules rules;
	char why[512];

	if (phone_rules_parse(&rules, o->allowed_countries, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "ingest.allowed_countries: %s", why);
		goto fail;
	}
	if (o->default_region[0] != '\0' && !phone_region_known(o->default_region)) {
		snprintf(err, err_len, "ingest.default_region: '%.8s' is not a country code (e.g. FR)",
			 o->default_region);
		goto fail;
	}
	struct validate_limits lim = {
		.max_text_bytes = o->max_text_bytes,
		.phones = &rules,
		.default_region = o->default_region,
	};
	p->rend = renderer_load(o->templates_dir, o->default_locale, why, sizeof(why));
	if (p->rend == NULL) {
		snprintf(err, err_len, "templates: %s", why);
		goto fail;
	}
	for (int i = 0; i < o->n_limits && i < PREPARE_LIMITS_MAX; i++) {
		const struct prepare_text_limit *l = &o->limits[i];

		take_smaller(&p->units, l->max_units, l->provider, l->api);
		take_smaller(&p->segments, l->max_segments, l->provider, l->api);
	}
	p->val = validator_new(&lim);
	p->max_segments = o->max_segments;
	p->smart_encoding = o->smart_encoding != 0;
	/* Ready texts are limited by max_text_bytes; rendered ones by this
	 * slot (2 KiB: 13 GSM-7 segments, over any sane segment limit). */
	p->text_cap = o->max_text_bytes > PREPARE_RENDER_MAX ? o->max_text_bytes + 1
							     : PREPARE_RENDER_MAX + 1;
	return p;
fail:
	preparer_destroy(&p);
	return NULL;
}

void preparer_destroy(preparer **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	validator_destroy(&(*pp)->val);
	renderer_free(&(*pp)->rend);
	free(*pp);
	*pp = NULL;
}

size_t prepare_text_cap(const preparer *p)
{
	return p->text_cap;
}

/* Smart encoding: if replacing typographic characters and accents by their
 * closest GSM-7 forms makes the whole text GSM-7, send that instead (the
 * bill, not the meaning, changes; gsm_smart_fit() decides).  slot has room
 * for the text; the text may already be in slot, hence the copy. */
static unsigned smart_encode(struct store_new *m, char *slot, struct gsm_info *gi)
{
	char tmp[STORE_TEXT_MAX + 1];
	struct gsm_info g2;
	unsigned replaced = 0;
	size_t n = gsm_smart_fit(m->text, m->text_len, gi, tmp, sizeof(tmp), &g2, &replaced);

	if (n == GSM_SMART_INVALID)
		return 0;
	memcpy(slot, tmp, n + 1);
	m->text = slot;
	m->text_len = n;
	m->segments_saved = (uint16_t)(gi->segments - g2.segments);
	*gi = g2;
	return replaced;
}

void prepare_warm(preparer *p, const char *locale)
{
	Smsq__BookingEvent ev = SMSQ__BOOKING_EVENT__INIT;
	char e164[PHONE_E164_MAX], region[3], detail[256];
	char *slot = xmalloc(p->text_cap);
	size_t len;

	/* What they answer is thrown away: only their first-use costs count. */
	enum phone_status ps = phone_normalize(NULL, "+33612345678", NULL, e164, region, detail,
					       sizeof(detail));
	ev.kind = SMSQ__KIND__KIND_CONFIRMED;
	ev.locale = (char *)locale;
	ev.time_zone = (char *)"UTC";
	enum render_status rs = render_event(p->rend, &ev, slot, p->text_cap, &len, detail,
					     sizeof(detail));
	(void)ps;
	(void)rs;
	free(slot);
}

Smsq__Reason prepare_event(preparer *p, const Smsq__BookingEvent *ev, int64_t now_ms,
			   struct store_new *out, char *slot, struct prepare_info *info,
			   char *detail, size_t detail_len)
{
	struct prepare_info dummy;
	struct gsm_info gi;
	Smsq__Reason why = validate_event(p->val, ev, now_ms, out, detail, detail_len);

	if (info == NULL)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	if (why != SMSQ__REASON__REASON_NONE)
		return why;
	if (ev->text[0] != '\0') {
		out->text = ev->text;
		out->text_len = strlen(ev->text);
	} else {
		size_t len;
		enum render_status rs = render_event(p->rend, ev, slot, p->text_cap, &len, detail,
						     detail_len);

		if (rs == RENDER_TOO_LONG)
			return SMSQ__REASON__REASON_TEXT_TOO_LONG;
		if (rs == RENDER_TRANSIENT)
			return SMSQ__REASON__REASON_TEMPORARY; /* no verdict: try again */
		if (rs != RENDER_OK)
			return SMSQ__REASON__REASON_RENDER_FAILED;
		out->text = slot;
		out->text_len = len;
		if (info != &dummy) /* preview only: not a second lookup per event */
			info->source = render_source(p->rend, ev->locale, ev->kind);
	}
	if (gsm_analyze(out->text, out->text_len, &gi) != 0) {
		/* validate_event() checked the fields' UTF-8: a bug if we get here. */
		log_panic("prepare: text of %s is not UTF-8 after validation",
			  ev->idempotency_key);
	}
	out->segments_saved = 0;
	if (p->smart_encoding && gi.encoding == GSM_UCS2)
		info->replaced = smart_encode(out, slot, &gi);
	if (validate_text_blank(out->text, out->text_len)) {
		snprintf(detail, detail_len,
			 "%s has nothing visible to send: it is empty, or only whitespace and "
			 "invisible characters (such as U+200B), once normalised",
			 ev->text[0] != '\0' ? "text" : "the rendered text");
		return SMSQ__REASON__REASON_EMPTY_TEXT;
	}
	if (gi.segments > p->max_segments) {
		snprintf(detail, detail_len,
			 "text needs %zu SMS segments (%s), over the limit of %zu", gi.segments,
			 gsm_encoding_name(gi.encoding), p->max_segments);
		return SMSQ__REASON__REASON_TEXT_TOO_LONG;
	}
	if (over_limit(&p->units, gi.utf16, "characters (UTF-16 units)", detail, detail_len) ||
	    over_limit(&p->segments, gi.segments, "SMS segments", detail, detail_len))
		return SMSQ__REASON__REASON_TEXT_TOO_LONG;
	out->encoding = gi.encoding == GSM_7BIT ? STORE_ENC_GSM7 : STORE_ENC_UCS2;
	out->segments = (uint16_t)gi.segments;
	info->units = gi.units;
	if (info != &dummy) { /* preview: the number's country (not on the ingest path) */
		char e164[PHONE_E164_MAX], d2[128];

		if (phone_normalize(NULL, out->to, NULL, e164, info->region, d2, sizeof(d2)) !=
		    PHONE_OK)
			info->region[0] = '\0';
	}
	return SMSQ__REASON__REASON_NONE;
}
