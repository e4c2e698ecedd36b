/*
 * err: the error buffers of smsq's functions.
 *
 * A function that can fail for a reason a human must read takes a buffer
 * (char *err, size_t errlen) and fills it when it fails.  err_set() is the
 * one formatter of such buffers: err may be NULL or errlen 0 (nothing is
 * written), a message too long is cut on a UTF-8 character boundary (the
 * buffer goes to logs and JSON), and it returns -1, so that a failing
 * function can end with `return err_set(err, errlen, "...", ...);`.
 */
#ifndef SMSQ_ERR_H
#define SMSQ_ERR_H

#include <stdarg.h>
#include <stddef.h>

#include "common/attrs.h"

#ifdef __cplusplus
extern "C" {
#endif

int err_set(char *err, size_t errlen, const char *fmt, ...) SMSQ_PRINTF(3, 4);
int err_vset(char *err, size_t errlen, const char *fmt, va_list ap) SMSQ_PRINTF(3, 0);

#ifdef __cplusplus
}
#endif

#endif
