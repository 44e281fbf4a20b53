/* The worker's decoders of frames from other workers (worker/peer.c's
 * dispatch and the payload decoders behind it in nick.c, channel.c,
 * label.c, reply.c, game.c): the input is what worker 1 writes on its mesh
 * link to worker 0, read by the real socket path (on_peer, ipc_frame_peek).
 *
 * Worker 0 of 2 has two clients when the input arrives: client 1 is "bob"
 * (a nick worker 0 owns), in #room1 (owned by worker 0) and asking to join
 * #room0 (owned by worker 1); client 2 asked for "alice" (owned by worker 1)
 * and waits for IPC_P_NICK_RESULT.  Each input gets a fresh link, so what
 * the previous one left of worker 1 is forgotten as when a worker dies. */
#include <string.h>

#include "fuzz/fuzz.h"
#include "fuzz/worker_harness.h"

#include <sys/socket.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    harness_init(2);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int mesh = harness_peer(1);
    FUZZ_CHECK(mesh >= 0);
    int bob = harness_connect(), alice = harness_connect();
    static const char bob_lines[] = "CAP REQ :labeled-response batch message-tags echo-message\r\n"
                                    "NICK bob\r\nUSER b 0 * :Bob\r\nCAP END\r\n"
                                    "JOIN #room1\r\nJOIN #room0\r\n";
    static const char alice_lines[] = "NICK alice\r\nUSER a 0 * :Alice\r\n";
    harness_send(bob, bob_lines, sizeof bob_lines - 1);
    harness_send(alice, alice_lines, sizeof alice_lines - 1);
    harness_run();
    /* The whole input in one write: the worker reads it in chunks of its
     * own choosing, so frames cut anywhere are covered too. */
    ssize_t n = send(mesh, data, size, MSG_NOSIGNAL);
    (void)n;
    harness_run();
    harness_reset(true);
    if (harness_leftovers())
        harness_forget_leftovers();
    return 0;
}
