/*
 * log: one line per event on stderr, with a level check before any argument
 * is formatted.  Two formats, chosen once at start-up (log_set_format()):
 * text lines for people, JSON lines for machines.
 *
 * Text line:
 *   2026-11-27T21:40:00.123Z smsq-worker[1234] info: <message>
 * Message events start with the message id, then key=value pairs
 * ("42: status=sent delay_ms=1200"); never a whole phone number or a text.
 *
 * Every text line is escaped as it is written, whatever the caller passes,
 * so that a value from outside (an idempotency key, a provider's text) can
 * neither start a line of its own nor send a terminal its control
 * sequences.  A byte below 0x20, 0x7F, a byte that is not part of valid
 * UTF-8 (strict, common/utf8.h), and each byte of a C1 control (U+0080 to
 * U+009F) or of U+2028 / U+2029 (which some readers take for line ends)
 * becomes "\xNN" (two lowercase hex digits); a backslash becomes "\\", so
 * that an escape can always be told from the text it stands for.  Other
 * valid UTF-8 goes as it is ("é", emoji).  A line is at most 2,047 bytes
 * with its newline, once escaped; what is past that is cut, never in the
 * middle of an escape or a character.
 *
 * JSON line (LOG_FORMAT_JSON): one object per line, its keys in this order:
 *   {"ts":"2026-11-27T21:40:00.123Z","level":"info","proc":"worker-1",
 *    "pid":1234,"id":42,"msg":"42: to=+33*******78 status=sent delay_ms=1200",
 *    "to":"+33*******78","status":"sent","delay_ms":"1200"}
 *   ts         string, UTC, milliseconds, as on a text line
 *   level      string: "error", "warn", "info" or "debug"
 *   proc       string: the role of log_init() ("smsq-worker", "broker",
 *              "worker-1")
 *   pid        number
 *   id         number, only when the message starts with a message id:
 *              decimal digits without a leading zero, then ": "; at most
 *              2^53 - 1, which every JSON reader holds exactly (a larger
 *              one is in msg only)
 *   msg        string: the whole message, the same text as on a text line
 *              before its escaping
 *   <key>      string: one per key=value pair of the message (below)
 *   truncated  true, only when msg was cut to fit the line
 * These keys are a contract: a key is never renamed nor its type changed.
 *
 * The pairs: after the id and its ": " (or from the start), a word that
 * starts the message or follows a space, is a letter then at most 31
 * letters, digits and '_', and is followed by '=', is a key; its value is
 * what follows up to the next space or the end, or, when it starts with a
 * double quote, what is between it and the next double quote that a space
 * or the end follows (quotes left out; with no such quote, no pair).
 * Values are strings, as written ("1200").  A key that is one of the fixed
 * keys above gets the prefix "kv_" ("started worker-1 pid=1234" gives
 * "kv_pid"); a key seen twice keeps its first value; at most 32 pairs, and
 * they take at most 1,024 bytes of the line: a pair past that is in msg
 * only.  The pairs are a convenience: msg holds the whole event.
 *
 * JSON strings are escaped as RFC 8259 wants, and more: a double quote and
 * a backslash get a backslash before them, a byte below 0x20 and 0x7F become
 * \u00XX, a C1 control and U+2028 / U+2029 \uXXXX (lowercase hex), so that
 * a line is one line to every reader; other valid UTF-8 goes as it is.  A
 * byte that is not part of valid UTF-8 becomes \ufffd (U+FFFD, the
 * replacement character), one per byte: a JSON string holds only valid
 * Unicode, so the byte's value is lost (the text format keeps it).  A JSON
 * line is at most 2,047 bytes with its newline: what does not fit is cut
 * from the end of msg, never in the middle of an escape or a character, and
 * the line gets "truncated":true; it is always a whole, valid JSON object.
 *
 * Process-wide state (the role name, the level and the format) is set once
 * at start-up by main(), before any thread starts.  After that, log_write()
 * only reads that state and makes one write(2) per line, so threads may
 * log (the fake provider's server threads do); log_init() and
 * log_set_format() themselves are not thread-safe.
 */
#ifndef SMSQ_LOG_H
#define SMSQ_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/attrs.h"

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* The current level; read by the macros below, set by log_init(). */
extern enum log_level log_current_level;

/* Set the role shown on each line (copied, truncated at 31 bytes) and the
 * level. */
void log_init(const char *role, enum log_level level);

/* Parse "error", "warn", "info", "debug". Returns 0 and sets *out, or -1. */
int log_level_parse(const char *name, enum log_level *out);

enum log_format {
	LOG_FORMAT_TEXT = 0, /* the text line (the default) */
	LOG_FORMAT_JSON = 1, /* one JSON object per line */
};

/* Set the format of the lines written from now on (LOG_FORMAT_TEXT until
 * called).  Like log_init(), once at start-up, before any thread starts;
 * log_init() leaves it as it is. */
void log_set_format(enum log_format format);

/* Parse "text", "json". Returns 0 and sets *out, or -1. */
int log_format_parse(const char *name, enum log_format *out);

/* Write one line (use the macros, which skip formatting when disabled). */
void log_write(enum log_level level, const char *fmt, ...)
	SMSQ_PRINTF(2, 3);

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) do { if (log_current_level >= LOG_LEVEL_WARN) \
	log_write(LOG_LEVEL_WARN, __VA_ARGS__); } while (0)
#define log_info(...) do { if (log_current_level >= LOG_LEVEL_INFO) \
	log_write(LOG_LEVEL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_current_level >= LOG_LEVEL_DEBUG) \
	log_write(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

/*
 * Until log_batch_end(), this thread's lines are gathered and written in
 * blocks of whole lines of at most 4,096 bytes (PIPE_BUF: still one atomic
 * write on a pipe, so the processes sharing stderr never split a line), for
 * a burst of lines such as a worker's outcomes, one per message sent.  What
 * is gathered is lost if the process is killed before the end; log_fatal()
 * and log_panic() write it first.
 */
void log_batch_begin(void);
void log_batch_end(void);

/* Unusable environment: log at error level and exit(1) (Postfix msg_fatal). */
/* A library's own message (fmt and ap, as its logging callback passes
 * them) as a debug line "<library>: <message>", cut at its first newline:
 * for a library that logs through a callback (libmicrohttpd's
 * MHD_OPTION_EXTERNAL_LOGGER). */
void log_library_line(const char *library, const char *fmt, va_list ap) SMSQ_PRINTF(2, 0);

void log_fatal(const char *fmt, ...)
	SMSQ_PRINTF(1, 2) SMSQ_NORETURN;

/* Broken invariant (a bug): log and abort() (Postfix msg_panic). */
void log_panic(const char *fmt, ...)
	SMSQ_PRINTF(1, 2) SMSQ_NORETURN;

/* Mask a phone number for logs: keeps the country code's first digits and the
 * last two digits ("+3361234567" -> "+33*******67"). Writes at most len bytes,
 * always NUL-terminated; returns out. */
char *log_mask_phone(const char *phone, char *out, size_t len);

/* Copy text to out (len bytes, NUL-terminated) with every run of 6 or more
 * digits masked like a phone number: providers echo numbers back in error
 * texts ("The 'To' number +33612345678 is not valid").  Returns out. */
char *log_mask_numbers(const char *text, char *out, size_t len);

/* A buffer for log_value() that keeps a value to a few dozen bytes. */
#define LOG_VALUE_MAX 64

/*
 * Cut a value from outside (an idempotency key, a field) for a log line:
 * s as it is when it fits in out (cap bytes with the NUL), else as many of
 * its first bytes as leave room for "...(N bytes)", N being strlen(s), cut
 * between two characters, never inside one.  Always NUL-terminated when
 * cap > 0 (with a cap too small for the suffix, the suffix is cut).  Only
 * cuts: log_write() escapes the line.  Returns out.
 */
char *log_value(char *out, size_t cap, const char *s);

/*
 * A limit on a kind of line that outside traffic can repeat at will (a
 * producer's rejected events): at most max lines a window of window_ms; the
 * ones over it are not written but counted, for one line that says how
 * many were suppressed.  The caller keeps the struct (one per process, or
 * per thread: no locking) and passes a monotonic time (clock_mono_ms()).
 *
 *   struct log_limit lim = LOG_LIMIT_INIT(20, 1000);  (in the caller's state)
 *   unsigned long skipped = log_limit_ended(&lim, now);
 *   if (skipped > 0)
 *           log_info("%lu lines suppressed", skipped);
 *   if (log_limit_take(&lim, now))
 *           log_info(...);
 */
struct log_limit {
	int64_t window_ms;        /* a window's length */
	unsigned max;             /* lines a window lets through */
	int started;              /* a window is open (start_ms is set) */
	int64_t start_ms;         /* when it opened */
	unsigned taken;           /* lines it let through */
	unsigned long suppressed; /* lines it held back, not reported yet */
};

#define LOG_LIMIT_INIT(max_lines, window) \
	{ .window_ms = (window), .max = (max_lines), .started = 0, .start_ms = 0, .taken = 0, \
	  .suppressed = 0 }

/* Whether a line may be written at now_ms: 1 (it counts against the open
 * window, or opens one when none is open), or 0 (over the limit: counted as
 * suppressed, to be reported by log_limit_ended(); a count it did not
 * collect before a new window opened is kept for the next report). */
int log_limit_take(struct log_limit *l, int64_t now_ms);

/* When the open window has ended by now_ms: closes it and returns the lines
 * it suppressed (they are then forgotten), for the caller to report when
 * not 0.  While it is open, or when none is: returns 0 and changes nothing.
 * Call it before each log_limit_take() and from time to time (a quiet
 * producer sends nothing that would), so that each report covers one
 * window. */
unsigned long log_limit_ended(struct log_limit *l, int64_t now_ms);

#endif
