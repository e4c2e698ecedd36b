/*
 * fuzz/retry_after: libFuzzer harness for provider_parse_retry_after()
 * (provider/provider.c), which reads a provider's Retry-After header
 * value: delta-seconds or an HTTP-date (IMF-fixdate, and the obsolete RFC
 * 850 and asctime forms).
 *
 * The input is the header's value, as libcurl hands it over: a
 * NUL-terminated string (a NUL inside the input ends it).  The result must
 * be -1 (unparseable) or a wait in [0, PROVIDER_RETRY_AFTER_MAX_MS], at a
 * fixed "now" and at the edges of time (0 and the year 9999), so that an
 * overflow in the date arithmetic shows up under UBSan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider/provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Wed, 21 Oct 2015 07:28:00 GMT minus 30 s (tests/test_provider.c's now),
 * the epoch, and the last second of 9999. */
static const int64_t nows_ms[] = { 1445412450000LL, 0, 253402300799000LL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);

	if (value == NULL)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	for (size_t i = 0; i < sizeof(nows_ms) / sizeof(nows_ms[0]); i++) {
		int64_t ms = provider_parse_retry_after(value, nows_ms[i]);

		if (ms != -1 && (ms < 0 || ms > PROVIDER_RETRY_AFTER_MAX_MS))
			abort();
	}
	free(value);
	return 0;
}
