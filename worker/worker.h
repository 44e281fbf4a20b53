/* Entry point of a worker process, called by the master right after fork(). */
#ifndef PARLOR_WORKER_H
#define PARLOR_WORKER_H

#include "common/config.h"
#include "common/tls.h"

/* The TLS certificate, key and session ticket key: loaded by the master
 * before it forks the workers, which inherit them (worker/client_tls.c). */
extern struct tls_material tls_material;

/* Runs the worker's libuv loop until the master says shutdown or goes away.
 * `master_fd` is the worker's end of its SOCK_SEQPACKET channel to the master.
 * Returns the process exit status. */
int worker_main(const struct parlor_config *cfg, int slot, int nworkers, int master_fd);

#endif
