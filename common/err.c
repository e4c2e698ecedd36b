/*
 * err: the one formatter of error buffers (see err.h).
 */
#include "common/err.h"

#include <stdio.h>

#include "common/utf8.h"

int err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
	int n;

	if (err == NULL || errlen == 0)
		return -1;
	n = vsnprintf(err, errlen, fmt, ap);
	if (n < 0)
		err[0] = '\0';
	else if ((size_t)n >= errlen)
		(void)utf8_repair(err); /* cut: never half a character */
	return -1;
}

int err_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)err_vset(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
