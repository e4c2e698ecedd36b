/*
 * ctl_text: smsqctl's commands about texts, with the pool's configuration:
 *
 *   preview          each JSON event (one per line, smsq-publish's format) as
 *                    the pool would store and send it: number, template,
 *                    text, encoding, segments; or its rejection
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
#include "worker/render.h"

/* in: the events; name: for messages; json: one JSON object per event;
 * now_ms: the time to check expiries against (0: now). */
int ctl_preview(const struct config *cfg, FILE *in, const char *name, int json, int64_t now_ms);

int ctl_templates_check(const struct config *cfg, const struct render_lint_opts *o);

#endif
