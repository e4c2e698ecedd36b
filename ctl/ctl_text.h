/*
 * ctl_text: smsqctl's commands about texts, with the pool's configuration:
 *
 *   preview          each JSON event (one per line, smsq-publish's format) as
 *                    the pool would store and send it: number, template,
 *                    text, encoding, segments; or its rejection.  What it
 *                    echoes from the input (a text, a detail) is escaped:
 *                    control characters as \n \r \t \uXXXX, bytes that
 *                    are not UTF-8 as \xHH, a backslash as \\ (the JSON
 *                    text: jansson's escapes only)
 *   templates check  lint every template (render_lint())
 *
 * Both return an exit code: 0 all good, 1 a rejection / a template error,
 * 2 the configuration or the input cannot be used, or (preview) a check
 * could not be made now ("cannot say now", on stderr: the pool would have
 * answered RETRY_LATER).
 */
#ifndef SMSQ_CTL_TEXT_H
#define SMSQ_CTL_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "worker/config.h"
#include "text/render.h"
#include "common/attrs.h"

/* in: the events; name: for messages; json: one JSON object per event;
 * now_ms: the pool's clock for expiries and the time window (0: now). */
int ctl_preview(const struct config *cfg, FILE *in, const char *name, int json, int64_t now_ms)
	SMSQ_WARN_UNUSED;

int ctl_templates_check(const struct config *cfg, const struct render_lint_opts *o)
	SMSQ_WARN_UNUSED;

#endif
