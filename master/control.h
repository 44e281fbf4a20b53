/* The master's control socket (parlorctl talks to it).
 *
 * Protocol: a Unix stream socket, mode 0600; a peer whose uid (SO_PEERCRED)
 * is neither root nor parlord's own uid is refused and logged.  The client
 * sends one command per line; each answer is zero or more lines followed by
 * one empty line.  An answer whose first line starts with "error: " is an
 * error (in JSON: an object with an "error" key).  A command prefixed with
 * "json " is answered with exactly one line of JSON.  The connection stays
 * open after errors; commands on one connection are answered in order.
 *
 * Commands: status; show workers; show clients [WORKER]; show channels;
 * show client NICK; stats (Prometheus text format); kick NICK [REASON];
 * wall TEXT; reload; drain WORKER; undrain WORKER;
 * shutdown [graceful SECONDS]; help.
 *
 * Figures that live in the workers are gathered over the master-worker
 * channels (IPC_M_QUERY / IPC_W_ANSWER); a worker that does not answer within
 * a second is reported as not answering. */
#ifndef PARLOR_MASTER_CONTROL_H
#define PARLOR_MASTER_CONTROL_H
#endif
