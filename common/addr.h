/*
 * addr: a listen address as configuration gives it, "IPv4:port" or
 * "[IPv6]:port": numeric only (no name to resolve at start-up), port 0 to
 * 65535 (0: any free port).
 */
#ifndef SMSQ_ADDR_H
#define SMSQ_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/attrs.h"

/* Parse text into *addr (*len bytes of it).  Returns 0, or -1 with a
 * message in err that shows the accepted forms. */
int addr_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
		      char *err, size_t errlen) SMSQ_WARN_UNUSED;

#endif
