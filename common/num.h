/*
 * num: the checked parsers of numbers in text (command lines, config
 * values, headers).
 *
 * A number is the whole string: decimal digits, a leading '-' only where
 * min < 0; no spaces, no '+', nothing after, nothing out of [min, max].
 * Anything else (overflow included) returns -1 and leaves *out as it was.
 */
#ifndef SMSQ_NUM_H
#define SMSQ_NUM_H

#include <stdint.h>

#include "common/attrs.h"

int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) SMSQ_WARN_UNUSED;
int num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) SMSQ_WARN_UNUSED;
int num_parse_long(const char *s, long min, long max, long *out) SMSQ_WARN_UNUSED;

/* A decimal number (digits, an optional '.' and fraction, an optional
 * exponent; finite) in [min, max]. */
int num_parse_double(const char *s, double min, double max, double *out) SMSQ_WARN_UNUSED;

#endif
