/*
 * num: checked number parsers (see num.h).  strtoll() and friends skip
 * leading spaces, take a '+', and say nothing of trailing bytes unless
 * asked: each is called here behind a check of the first byte and of where
 * it stopped, with errno for overflow.
 */
#include "common/num.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The first byte starts a number: a digit, or '-' then a digit when
 * negatives are allowed (neg). */
static int starts_number(const char *s, int neg)
{
	if (s == NULL)
		return 0;
	if (neg && s[0] == '-')
		s++;
	return s[0] >= '0' && s[0] <= '9';
}

int num_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!starts_number(s, min < 0))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int64_t)v;
	return 0;
}

int num_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!starts_number(s, 0))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int num_parse_long(const char *s, long min, long max, long *out)
{
	int64_t v;

	if (num_parse_i64(s, min, max, &v) != 0)
		return -1;
	*out = (long)v;
	return 0;
}

int num_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || !(starts_number(s, 1) || (s[0] == '.' && s[1] >= '0' && s[1] <= '9')))
		return -1;
	if (strpbrk(s, "xXpP") != NULL)
		return -1; /* strtod() reads hexadecimal floats: not ours */
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
