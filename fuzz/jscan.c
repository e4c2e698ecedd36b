/*
 * fuzz/jscan: libFuzzer harness for common/jscan.c, the reader of every
 * provider's JSON answer and of the JSON delivery reports.
 *
 * The input is the bytes of an answer body.  jscan_parse() must either
 * refuse it with a reason or give a root inside the buffer; every value
 * reachable from an accepted root (array elements, the members under the
 * keys the adapters ask for) is then read as each type it could be: a
 * decoded string (into a buffer just large enough, and one too small), an
 * integer, a real.  A read must stay inside the value's own text, which
 * ASan checks, and a decoded string must fit the buffer it was given.
 *
 * Run: make fuzz FUZZ_TARGETS=jscan (README.md says how to run it longer).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jscan.h"

#define WALK_DEPTH_MAX 8        /* levels walked below the root */
#define WALK_ELEMS_MAX 64       /* elements of one array walked */
#define STR_CAP 512             /* the adapters' PROVIDER_JSON_STR_MAX */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keys the adapters and the receipt readers look up. */
static const char *const keys[] = {
	"messages", "results", "status", "id", "to", "ref", "error", "error_code", "code",
	"message", "messageId", "groupName", "name", "description", "text", "batch_id",
	"recipient", "at", "doneAt", "sentAt", "message-id", "err-code", "a", "",
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The bytes of v lie inside buf[0..len). */
static void check_inside(struct jscan_val v, const char *buf, size_t len)
{
	if (v.p == NULL)
		return;
	if (v.p < buf || v.len > len || (size_t)(v.p - buf) > len - v.len)
		abort();
}

static void read_scalar(struct jscan_val v)
{
	char out[STR_CAP];
	char tiny[4];
	int64_t i;
	double d;
	long n;

	n = jscan_str(v, out, sizeof(out));
	if (n >= (long)sizeof(out) || (n < 0 && out[0] != '\0'))
		abort();
	n = jscan_str(v, tiny, sizeof(tiny));
	if (n >= (long)sizeof(tiny) || (n < 0 && tiny[0] != '\0'))
		abort();
	if (jscan_int(v, &i) == 0 && jscan_type(v) != JSCAN_NUMBER)
		abort();
	if (jscan_real(v, &d) == 0 && jscan_type(v) != JSCAN_NUMBER)
		abort();
}

static void walk(struct jscan_val v, const char *buf, size_t len, int depth)
{
	struct jscan_val vals[N_KEYS];
	struct jscan_val it = { NULL, 0 };
	size_t found, i;
	int elems = 0;

	check_inside(v, buf, len);
	read_scalar(v);
	if (depth >= WALK_DEPTH_MAX)
		return;
	switch (jscan_type(v)) {
	case JSCAN_ARRAY:
		while (elems++ < WALK_ELEMS_MAX && jscan_next(v, &it) == 1)
			walk(it, buf, len, depth + 1);
		break;
	case JSCAN_OBJECT:
		found = jscan_members(v, keys, vals, N_KEYS);
		if (found > N_KEYS)
			abort();
		for (i = 0; i < N_KEYS; i++) {
			struct jscan_val one = jscan_get(v, keys[i]);

			/* One walk or one lookup: the same value. */
			if (one.p != vals[i].p || one.len != vals[i].len)
				abort();
			if (one.p != NULL)
				walk(one, buf, len, depth + 1);
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jscan_val root;
	char why[128];
	/* A copy of its own size, so that a read past the end is caught. */
	char *buf = malloc(size ? size : 1);

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	if (jscan_parse(buf, size, &root, why, sizeof(why)) == 0)
		walk(root, buf, size, 0);
	else if (root.p != NULL || why[0] == '\0')
		abort();
	free(buf);
	return 0;
}
