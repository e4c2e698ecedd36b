/*
 * log: leveled, timestamped lines on stderr (see log.h).
 *
 * Each line is built in one buffer and written with one write(2), so lines
 * from the processes of a pool that share stderr do not interleave.
 *
 * A worker logs a line per message sent (tens of thousands a second), so
 * the prefix is cheap: the pid is cached by log_init() (getpid() is a
 * system call; a pthread_atfork() handler refreshes it in a child) and the
 * date and time to the second are formatted once per second per thread.
 * A burst of lines (a worker's outcomes) can be gathered and written in
 * blocks (log_batch_begin/_end): a system call per 4 KiB, not per line.
 *
 * Escaping (see log.h) happens on the formatted message, in the line
 * buffer.  One pass, 8 bytes at a time, looks for the first byte that is
 * not printable ASCII or is a backslash; a line without one (nearly every
 * line: ids, masked numbers, key=value pairs) is written as it is.  From
 * that byte on, the rest of the line is copied aside and escaped back in
 * place, decoding UTF-8 with common/utf8.h.  The line's prefix (time,
 * role, pid, level) is ours and is not escaped.
 *
 * A JSON line (log_set_format()) is built from the formatted message in
 * three parts: the fixed keys (the role is escaped like any string), the
 * key=value pairs found in the message, escaped into a buffer of their own
 * (at most LOG_PAIRS_BYTES), then msg, escaped into what is left of the
 * line once room is kept for the pairs and the closing
 * ',"truncated":true}'.  Only msg is ever cut, so the object always closes.
 * Escaping a unit (a byte, an escape, a whole character) checks that it
 * fits whole: a cut never splits one.
 */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"

#define LOG_LINE_MAX 2048   /* at most LOG_BATCH_MAX */
#define LOG_TEXT_MAX (LOG_LINE_MAX - 2) /* the longest line without its newline */
#define LOG_ROLE_MAX 32
#define LOG_PAIRS_MAX 32       /* key=value pairs a JSON line carries as fields */
#define LOG_PAIRS_BYTES 1024   /* bytes of a JSON line those fields may take */
#define LOG_KEY_MAX 32         /* a pair's key: a letter, then 31 more at most */
#define LOG_KV_PREFIX "kv_"    /* before a pair's key that is a fixed key */
/* The largest "id" of a JSON line, 2^53 - 1: every JSON reader holds it
 * exactly (JavaScript's and jq's numbers are doubles). */
#define LOG_ID_MAX 9007199254740991ULL

enum log_level log_current_level = LOG_LEVEL_INFO;
static char log_role[LOG_ROLE_MAX] = "smsq";
static enum log_format log_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const format_names[] = { "text", "json" };

/* The keys of every JSON line (log.h): a pair of the same name is renamed. */
static const char *const fixed_keys[] = { "ts", "level", "proc", "pid", "id", "msg",
					  "truncated" };

/* The pid, read by log_init() and refreshed in a forked child by a
 * pthread_atfork() handler; 0 before log_init(): getpid() on every line. */
static long log_pid;
static int log_atfork_done;

/* Per thread (the fake provider's server threads log): the second that
 * log_date holds as "YYYY-MM-DDTHH:MM:SS" (room for any int fields). */
static __thread time_t log_sec = (time_t)-1;
static __thread char log_date[80];

/* Gathered lines of this thread between log_batch_begin() and _end(). */
#define LOG_BATCH_MAX 4096   /* PIPE_BUF on Linux: a pipe write this size is atomic */
static __thread int log_batching;
static __thread size_t log_batch_len;
static __thread char log_batch[LOG_BATCH_MAX];

static void log_forked(void)
{
	log_pid = (long)getpid();
	log_batching = 0;
	log_batch_len = 0; /* the parent's lines are the parent's to write */
}

/* Write out the gathered lines (errno is the caller's to keep). */
static void batch_flush(void)
{
	if (log_batch_len > 0) {
		/* A failed log write has nowhere to be reported; ignore it. */
		ssize_t w = write(STDERR_FILENO, log_batch, log_batch_len);

		(void)w;
		log_batch_len = 0;
	}
}

void log_batch_begin(void)
{
	log_batching = 1;
}

void log_batch_end(void)
{
	int saved_errno = errno;

	log_batching = 0;
	batch_flush();
	errno = saved_errno;
}

void log_init(const char *role, enum log_level level)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
	log_current_level = level;
	if (!log_atfork_done)
		log_atfork_done = pthread_atfork(NULL, NULL, log_forked) == 0;
	/* Without the handler a cached pid could be a parent's: none then. */
	log_pid = log_atfork_done ? (long)getpid() : 0;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_set_format(enum log_format format)
{
	log_format = format;
}

int log_format_parse(const char *name, enum log_format *out)
{
	for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcmp(name, format_names[i]) == 0) {
			*out = (enum log_format)i;
			return 0;
		}
	}
	return -1;
}

/* Whether byte c goes to the log as it is: printable ASCII but '\\'. */
static inline int plain_byte(unsigned char c)
{
	return c >= 0x20 && c < 0x7F && c != '\\';
}

/*
 * Whether the 8 bytes of w are all plain (plain_byte()), with the bit
 * tricks of "Bit Twiddling Hacks" (haszero, hasless, hasmore), exact for
 * "is there one" (not for which): a byte below 0x20 borrows into its high
 * bit, one above 0x7E carries into it or has it, a backslash is a zero
 * once w is xor'ed with backslashes.
 */
static inline int word_plain(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = ones * 0x80;
	uint64_t bs = w ^ (ones * '\\');
	uint64_t below = (w - ones * 0x20) & ~w;
	uint64_t above = (w + ones) | w;
	uint64_t backslash = (bs - ones) & ~bs;

	return ((below | above | backslash) & highs) == 0;
}

/* Whether code point cp is written escaped although valid: a C1 control,
 * or U+2028 / U+2029 (line and paragraph separators). */
static int unsafe_code_point(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/*
 * Escape line[from..len) in place, in at most cap bytes from line[0]
 * (line[from] is the first byte that needs it: all before is kept).  A
 * unit (a byte, an escape, a whole character) that does not fit is left
 * out with all that follows it.  Returns the new length.
 */
static __attribute__((noinline)) size_t escape_tail(char *line, size_t from, size_t len,
						     size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rest[LOG_LINE_MAX];
	size_t n = len - from, i = 0, o = from;

	memcpy(rest, line + from, n);
	while (i < n) {
		unsigned char c = rest[i];
		size_t at = i;
		uint32_t cp;

		if (plain_byte(c)) {
			if (o + 1 > cap)
				break;
			line[o++] = (char)c;
			i++;
		} else if (c >= 0x80 && utf8_next(rest, n, &i, &cp) == 0 &&
			   !unsafe_code_point(cp)) {
			if (o + (i - at) > cap)
				break;
			memcpy(line + o, rest + at, i - at);
			o += i - at;
		} else if (c == '\\') {
			if (o + 2 > cap)
				break;
			line[o++] = '\\';
			line[o++] = '\\';
			i = at + 1;
		} else {
			/* One byte at a time: the bytes of an unsafe character, or
			 * each byte of an invalid sequence in turn. */
			if (o + 4 > cap)
				break;
			line[o++] = '\\';
			line[o++] = 'x';
			line[o++] = hex[c >> 4];
			line[o++] = hex[c & 0xF];
			i = at + 1;
		}
	}
	return o;
}

/* The text line of the message fmt, ap, at ms milliseconds past log_sec's
 * second, without its newline, in line (LOG_LINE_MAX bytes); its length. */
static size_t text_line(char *line, enum log_level level, long ms, long pid, const char *fmt,
			va_list ap)
{
	int n = snprintf(line, LOG_LINE_MAX, "%s.%03ldZ %s[%ld] %s: ", log_date, ms, log_role,
			 pid, level_names[level]);

	if (n < 0)
		n = 0;
	if ((size_t)n < LOG_LINE_MAX - 1) {
		int m = vsnprintf(line + n, LOG_LINE_MAX - (size_t)n, fmt, ap);
		int k = n;

		if (m > 0)
			n += m;
		if (n > LOG_TEXT_MAX)
			n = LOG_TEXT_MAX;
		for (uint64_t w; k + 8 <= n; k += 8) {
			memcpy(&w, line + k, sizeof(w));
			if (!word_plain(w))
				break;
		}
		while (k < n && plain_byte((unsigned char)line[k]))
			k++;
		if (k < n)
			n = (int)escape_tail(line, (size_t)k, (size_t)n, LOG_TEXT_MAX);
	}
	if (n > LOG_TEXT_MAX)
		n = LOG_TEXT_MAX;
	return (size_t)n;
}

/*
 * Escape str[0..n) as the inside of a JSON string (log.h) into out from
 * out[o], up to out[cap] excluded; a unit that does not fit is left out
 * with all that follows it.  Returns the new o; *used: the bytes of str
 * written.
 */
static size_t json_escape(char *out, size_t o, size_t cap, const char *str, size_t n,
			  size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t at = i;
		uint32_t cp;

		if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			cp = c; /* a control byte or DEL */
			i++;
		} else if (utf8_next(s, n, &i, &cp) == 0) {
			if (!unsafe_code_point(cp)) {
				if (o + (i - at) > cap) {
					i = at;
					break;
				}
				memcpy(out + o, s + at, i - at);
				o += i - at;
				continue;
			}
		} else {
			cp = 0xFFFD; /* one byte that is not UTF-8 */
			i++;
		}
		/* \uXXXX: every code point escaped here is below U+10000. */
		if (o + 6 > cap) {
			i = at;
			break;
		}
		out[o++] = '\\';
		out[o++] = 'u';
		out[o++] = hex[(cp >> 12) & 0xF];
		out[o++] = hex[(cp >> 8) & 0xF];
		out[o++] = hex[(cp >> 4) & 0xF];
		out[o++] = hex[cp & 0xF];
	}
	*used = i;
	return o;
}

/* len, less the bytes of a character that the end of s[0..len) cuts short
 * (as vsnprintf() cuts a message at the buffer's end). */
static size_t whole_chars(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t back = 1; back <= 3 && back <= len; back++) {
		if ((u[len - back] & 0xC0) != 0x80)
			return utf8_cut_short(u + len - back, back) ? len - back : len;
	}
	return len;
}

/* The length of the message id s[0..len) starts with: decimal digits
 * without a leading zero, at most LOG_ID_MAX, followed by ": "; else 0. */
static size_t message_id(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > LOG_ID_MAX)
			return 0;
		i++;
	}
	if (i == 0 || (s[0] == '0' && i > 1) || i + 2 > len || s[i] != ':' || s[i + 1] != ' ')
		return 0;
	return i;
}

static int key_first(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int key_byte(unsigned char c)
{
	return key_first(c) || (c >= '0' && c <= '9') || c == '_';
}

/* Append ,"key":"<val escaped>" to out[0..o), whole (it must fit in cap
 * bytes) or not at all.  Returns the new o. */
static size_t json_field(char *out, size_t o, size_t cap, const char *key, const char *val,
			 size_t vlen)
{
	size_t kl = strlen(key), start = o, used;

	if (o + kl + 7 > cap) /* ,"":"" and one byte more at least */
		return start;
	out[o++] = ',';
	out[o++] = '"';
	memcpy(out + o, key, kl);
	o += kl;
	memcpy(out + o, "\":\"", 3);
	o += 3;
	o = json_escape(out, o, cap - 1, val, vlen, &used);
	if (used < vlen)
		return start;
	out[o++] = '"';
	return o;
}

/*
 * The key=value pairs of msg[from..len), as the JSON fields of log.h, in
 * out (cap bytes, not NUL-terminated).  Returns the bytes written.
 */
static size_t json_pairs(const char *msg, size_t len, size_t from, char *out, size_t cap)
{
	char seen[LOG_PAIRS_MAX][sizeof(LOG_KV_PREFIX) + LOG_KEY_MAX];
	size_t n_seen = 0, o = 0, i = from;

	while (i < len && n_seen < LOG_PAIRS_MAX) {
		char key[sizeof(LOG_KV_PREFIX) + LOG_KEY_MAX];
		size_t k = i, v, vlen, next, kl;
		int dup = 0;

		if ((i > from && msg[i - 1] != ' ') || !key_first((unsigned char)msg[i])) {
			i++;
			continue;
		}
		while (k < len && k - i <= LOG_KEY_MAX && key_byte((unsigned char)msg[k]))
			k++;
		if (k >= len || msg[k] != '=' || k - i > LOG_KEY_MAX) {
			i = k;
			continue;
		}
		v = k + 1;
		if (v < len && msg[v] == '"') {
			size_t q = v + 1;

			while (q < len && !(msg[q] == '"' && (q + 1 == len || msg[q + 1] == ' ')))
				q++;
			if (q >= len) { /* no closing quote: not a pair */
				i = v + 1;
				continue;
			}
			v++;
			vlen = q - v;
			next = q + 1;
		} else {
			next = v;
			while (next < len && msg[next] != ' ')
				next++;
			vlen = next - v;
		}
		kl = 0;
		for (size_t f = 0; f < sizeof(fixed_keys) / sizeof(fixed_keys[0]); f++)
			if (strlen(fixed_keys[f]) == k - i &&
			    memcmp(fixed_keys[f], msg + i, k - i) == 0)
				kl = sizeof(LOG_KV_PREFIX) - 1;
		memcpy(key, LOG_KV_PREFIX, kl);
		memcpy(key + kl, msg + i, k - i);
		key[kl + (k - i)] = '\0';
		for (size_t s = 0; s < n_seen && !dup; s++)
			dup = strcmp(seen[s], key) == 0;
		if (!dup) {
			memcpy(seen[n_seen++], key, strlen(key) + 1);
			o = json_field(out, o, cap, key, msg + v, vlen);
		}
		i = next;
	}
	return o;
}

/* What a JSON line holds besides msg, at most: the fixed keys with their
 * punctuation (120), the date of log_date (80), the role escaped (6 bytes a
 * byte), the pairs and the end (19); msg has the rest, 512 bytes at least. */
_Static_assert(120 + 80 + 6 * LOG_ROLE_MAX + LOG_PAIRS_BYTES + 19 + 512 <= LOG_TEXT_MAX,
	       "a JSON line leaves msg room");

/* The JSON line of the message fmt, ap (log.h), as text_line(). */
static size_t json_line(char *line, enum log_level level, long ms, long pid, const char *fmt,
			va_list ap)
{
	static const char cut_end[] = ",\"truncated\":true}";
	char msg[LOG_LINE_MAX];
	char pairs[LOG_PAIRS_BYTES];
	size_t len, o, np, used, id, from = 0;
	int m, k, cut = 0;

	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0) {
		m = 0;
		msg[0] = '\0';
	}
	len = (size_t)m;
	if (len > sizeof(msg) - 1) {
		len = whole_chars(msg, sizeof(msg) - 1);
		cut = 1;
	}
	k = snprintf(line, LOG_TEXT_MAX, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"proc\":\"",
		     log_date, ms, level_names[level]);
	o = k > 0 ? (size_t)k : 0;
	o = json_escape(line, o, LOG_TEXT_MAX, log_role, strlen(log_role), &used);
	k = snprintf(line + o, LOG_TEXT_MAX - o, "\",\"pid\":%ld", pid);
	o += k > 0 ? (size_t)k : 0;
	id = message_id(msg, len);
	if (id > 0) {
		memcpy(line + o, ",\"id\":", 6);
		o += 6;
		memcpy(line + o, msg, id);
		o += id;
		from = id + 2;
	}
	np = json_pairs(msg, len, from, pairs, sizeof(pairs));
	memcpy(line + o, ",\"msg\":\"", 8);
	o += 8;
	/* Room for the closing quote, the pairs and the longest end. */
	o = json_escape(line, o, LOG_TEXT_MAX - 1 - np - (sizeof(cut_end) - 1), msg, len, &used);
	if (used < len)
		cut = 1;
	line[o++] = '"';
	memcpy(line + o, pairs, np);
	o += np;
	if (cut) {
		memcpy(line + o, cut_end, sizeof(cut_end) - 1);
		o += sizeof(cut_end) - 1;
	} else {
		line[o++] = '}';
	}
	return o;
}

static void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	long pid = log_pid != 0 ? log_pid : (long)getpid();
	size_t n;
	int saved_errno = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(log_date, sizeof(log_date), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		log_sec = ts.tv_sec;
	}
	if (log_format == LOG_FORMAT_JSON)
		n = json_line(line, level, ts.tv_nsec / 1000000L, pid, fmt, ap);
	else
		n = text_line(line, level, ts.tv_nsec / 1000000L, pid, fmt, ap);
	line[n++] = '\n';
	if (log_batching) { /* LOG_LINE_MAX <= LOG_BATCH_MAX: a line always fits */
		if (log_batch_len + n > sizeof(log_batch))
			batch_flush();
		memcpy(log_batch + log_batch_len, line, n);
		log_batch_len += n;
	} else {
		/* A failed log write has nowhere to be reported; ignore it. */
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
	}
	errno = saved_errno;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_current_level)
		return;
	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

void log_library_line(const char *library, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];

	if (log_current_level < LOG_LEVEL_DEBUG)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_write(LOG_LEVEL_DEBUG, "%s: %s", library, line);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	batch_flush();
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	batch_flush();
	abort();
}

char *log_mask_phone(const char *phone, char *out, size_t len)
{
	size_t n = strlen(phone);
	size_t keep_head = n > 6 ? 3 : 0;
	size_t keep_tail = n > 6 ? 2 : 0;
	size_t i;

	if (len == 0)
		return out;
	for (i = 0; i < n && i + 1 < len; i++)
		out[i] = (i < keep_head || i >= n - keep_tail) ? phone[i] : '*';
	out[i] = '\0';
	return out;
}

char *log_mask_numbers(const char *text, char *out, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return out;
	for (size_t i = 0; text[i] != '\0' && o + 1 < len;) {
		size_t run = 0;

		while (text[i + run] >= '0' && text[i + run] <= '9')
			run++;
		if (run >= 6) {
			for (size_t k = 0; k < run && o + 1 < len; k++)
				out[o++] = (k < 3 || k + 2 >= run) ? text[i + k] : '*';
			i += run;
		} else if (run > 0) {
			for (size_t k = 0; k < run && o + 1 < len; k++)
				out[o++] = text[i + k];
			i += run;
		} else {
			out[o++] = text[i++];
		}
	}
	out[o] = '\0';
	return out;
}

char *log_value(char *out, size_t cap, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), keep = 0, i = 0;
	char suffix[40];
	int sl;

	if (cap == 0)
		return out;
	if (len < cap) {
		memcpy(out, s, len + 1);
		return out;
	}
	sl = snprintf(suffix, sizeof(suffix), "...(%zu bytes)", len);
	if (sl > 0 && (size_t)sl < cap - 1) {
		size_t room = cap - 1 - (size_t)sl;

		/* Whole characters only; a byte that starts none is one. */
		while (i < room) {
			uint32_t cp;

			if (utf8_next(u, len, &i, &cp) != 0)
				i++;
			if (i <= room)
				keep = i;
		}
	}
	memcpy(out, s, keep);
	snprintf(out + keep, cap - keep, "%s", suffix);
	return out;
}

int log_limit_take(struct log_limit *l, int64_t now_ms)
{
	if (!l->started || now_ms - l->start_ms >= l->window_ms) {
		l->started = 1;
		l->start_ms = now_ms;
		l->taken = 0;
	}
	if (l->taken < l->max) {
		l->taken++;
		return 1;
	}
	l->suppressed++;
	return 0;
}

unsigned long log_limit_ended(struct log_limit *l, int64_t now_ms)
{
	unsigned long n = l->suppressed;

	if (!l->started || now_ms - l->start_ms < l->window_ms)
		return 0;
	l->started = 0;
	l->suppressed = 0;
	return n;
}
