/*
 * attrs: the compiler attributes of smsq's headers, in one place.
 *
 * SMSQ_WARN_UNUSED marks a result that must be checked (an error code, a
 * pointer that may be NULL): ignoring it is a compile error under -Werror.
 * SMSQ_PRINTF(f, a) checks a printf-like function's format (argument f)
 * against its arguments (from a).  The installed producer header
 * (producer/smsq_producer.h) stands alone and spells its own.
 */
#ifndef SMSQ_ATTRS_H
#define SMSQ_ATTRS_H

#define SMSQ_WARN_UNUSED __attribute__((warn_unused_result))
#define SMSQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SMSQ_NORETURN __attribute__((noreturn))

#endif
