/*
 * listener: the socket producers connect to (the ROUTER that the only
 * ingesting worker binds, or the broker's), its idle connections bounded and
 * its troubles said in the log.
 *
 * Bounds.  listener_tune() makes ZeroMQ close a connection that has not
 * finished the ZeroMQ greeting and handshake within LISTENER_HANDSHAKE_MS
 * (ZMQ_HANDSHAKE_IVL; ZeroMQ's default is 30 s): a TCP connection that never
 * speaks, a port scanner, a health check, holds a descriptor that long and
 * no longer.  TCP keepalives (LISTENER_KEEPALIVE_*) find peers that vanished
 * without closing (a host powered off, a NAT that forgot the connection).
 * ZeroMQ has no option to bound how many connections a socket accepts, and
 * its API gives the application no way to close one connection: the bound is
 * the process's descriptor limit, which the pool raises to its hard limit at
 * start; a firewall's per-source connection limit is the tool for more.
 *
 * Watch.  At the descriptor limit, accept(2) fails (EMFILE): the kernel has
 * completed the connection, so a new producer connects and waits for an
 * answer that never comes, and ZeroMQ's I/O thread retries at once, again
 * and again (libzmq's tcp_listener has no back-off).  A listener_watch reads
 * the socket's monitor events (zmq_socket_monitor(): accept failures with
 * their errno, handshakes that failed or timed out) and logs them, at most
 * once every LISTENER_LOG_MS with a count:
 *
 *   ingest: cannot accept a connection: Too many open files (descriptor
 *   limit 1024; 2000 attempts failed since the last report)
 *
 * CAVEATS
 *
 * ZeroMQ's I/O thread blocks when the monitor's queue is full (2,000 events,
 * 1,000 on each side): call listener_watch_read() on every turn of the loop,
 * which must turn at least every ~100 ms.  Between two reads, at the
 * descriptor limit, the I/O thread fills the queue and waits: this paces its
 * failing retries (a few ms of work per read instead of a busy core) and
 * delays the traffic of connected producers by at most one turn.
 *
 * Destroy the watch before closing the socket, and terminate the socket's
 * context right after: an event that finds no reader waits in ZeroMQ's I/O
 * thread until zmq_ctx_term() releases it.  (Stopping the monitor with
 * zmq_socket_monitor(sock, NULL, 0) could deadlock: it takes a lock that the
 * I/O thread holds while it waits for room in a full queue.)
 */
#ifndef SMSQ_LISTENER_H
#define SMSQ_LISTENER_H

#include <stddef.h>

#include "common/attrs.h"

#define LISTENER_HANDSHAKE_MS 5000     /* ZeroMQ handshake must finish within */
#define LISTENER_KEEPALIVE_IDLE_S 60   /* TCP keepalive: first probe after this silence */
#define LISTENER_KEEPALIVE_INTVL_S 10  /* then one probe this often */
#define LISTENER_KEEPALIVE_CNT 3       /* unanswered probes that close the connection */
#define LISTENER_LOG_MS 5000           /* at most one line per kind this often */

/* Set the bounds above on sock, before zmq_bind() (ZeroMQ copies a
 * socket's options into each listener when it binds).  Returns 0, or -1
 * with errno set (zmq_strerror()). */
int listener_tune(void *sock) SMSQ_WARN_UNUSED;

typedef struct listener_watch listener_watch;

/*
 * Watch sock (of context ctx, not bound yet) for accept failures and failed
 * handshakes; who names it in the log ("ingest", "broker"; borrowed: a
 * string literal).  Returns the watch, or NULL with err set when the monitor
 * cannot be started.
 */
listener_watch *listener_watch_new(void *ctx, void *sock, const char *who, char *err,
				   size_t errlen) SMSQ_WARN_UNUSED;

/* Read the events waiting, a queue's worth at most (never blocks), and log
 * what is due.  NULL-safe. */
void listener_watch_read(listener_watch *w);

/* Close the watch (see CAVEATS for the order).  NULL-safe; sets *w to NULL. */
void listener_watch_destroy(listener_watch **w);

#endif
