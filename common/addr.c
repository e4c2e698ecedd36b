/*
 * addr: listen addresses in configuration (see addr.h).
 */
#include "common/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/num.h"

int addr_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
			 char *err, size_t errlen)
{
	char host[64];
	const char *colon, *port_s;
	long port;

	memset(addr, 0, sizeof(*addr));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
		port_s = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
		port_s = colon + 1;
	}
	if (num_parse_long(port_s, 0, 65535, &port) != 0)
		goto bad;
	if (text[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)addr;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		*len = sizeof(*a);
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "'%s' is not an address and port: 127.0.0.1:9477, [::1]:9477, 0.0.0.0:9477 "
		 "(port 0: any free port)", text);
	return -1;
}
