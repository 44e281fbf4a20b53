/* One worker in the fuzzer's process: the global W (worker/worker_int.h)
 * set up as worker/worker.c's worker_main does, without a master, a
 * database or a signal handler, and clients that are socketpairs whose other
 * end the fuzz target writes to and reads from.  Used by fuzz_worker (the
 * stateful target) and fuzz_worker_frames (frames from another worker). */
#ifndef PARLOR_FUZZ_WORKER_HARNESS_H
#define PARLOR_FUZZ_WORKER_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#define HARNESS_CLIENTS 6

/* Once per process: W as slot 0 of `nworkers`, its loop, no database. */
void harness_init(int nworkers);
/* A new client connection; returns its index, or -1 when all are in use. */
int harness_connect(void);
bool harness_open(int i);
/* Bytes from client i (nothing if it is not open). */
void harness_send(int i, const void *data, size_t len);
/* Client i hangs up. */
void harness_hangup(int i);
/* Run the loop until it has nothing more to do (bounded), reading and
 * dropping everything the worker sent to clients and peers. */
void harness_run(void);
/* Give worker `slot` a fresh mesh link (the old one, if any, goes down as
 * when a worker dies); returns the fuzzer's end, or -1. */
int harness_peer(int slot);
/* Every client hangs up; runs the loop until they are all gone.  With
 * reuse_ids, the next clients get ids 1, 2, ... again (ids are never reused
 * in a real worker: state that outlives a client for a while, such as
 * worker/account.c's, would be taken over by the next one). */
void harness_reset(bool reuse_ids);
/* Whatever is left once every client is gone and no other worker has
 * anything here: should be nothing.  Returns a description or NULL. */
const char *harness_leftovers(void);
/* Drop those leftovers the way the worker forgets a dead worker's (nicks
 * and members of slot 0), so the next input starts from an empty worker. */
void harness_forget_leftovers(void);

#endif
