/* Frame types and their payloads (the field order of each encoder).
 * See ipc/frame.h for the frame header and field encodings.
 *
 * Notation: u8/u32/u64/str as in frame.h; "client" is a u64 client id that is
 * unique on the whole server (worker pid << 32 | counter), "slot" a worker
 * index 0..N-1. */
#ifndef PARLOR_IPC_PROTO_H
#define PARLOR_IPC_PROTO_H

enum ipc_type {
    /* master -> worker, SOCK_SEQPACKET, one frame per datagram */
    IPC_M_CLIENT = 1,   /* fd attached. str remote_ip, u32 remote_port, u8 tls
                           (1: from a TLS listener, the worker does the handshake) */
    IPC_M_PEER,         /* fd attached: stream socket to worker `slot`. u32 slot */
    IPC_M_SHUTDOWN,     /* str reason: tell clients, close, exit 0 */
    IPC_M_QUERY,        /* u32 qid, u8 query (enum ipc_query), str arg1, str arg2 */
    IPC_M_CONFIG,       /* str: the new struct parlor_config, byte for byte (same
                           binary on both ends; sent on reload) */
    IPC_M_TLS,          /* str certificate chain PEM, str key PEM, str ticket key
                           (80 bytes), str previous ticket key (80 or 0): checked by the
                           master; sent on reload (worker/client_tls.c) */
    IPC_M_BANS,         /* the admin bans on accounts, whole: u32 n, each: str
                           folded account, u64 until (Unix time), str reason
                           (master/bans.c; worker/account_bans.c) */

    /* worker -> master */
    IPC_W_READY = 16,   /* u32 slot */
    IPC_W_CLOSED,       /* u32 count of clients closed since the last one,
                           then zero or more str: the remote address of each
                           closed client (a long list is spread over several
                           frames; the later ones have count 0) */
    IPC_W_ANSWER,       /* u32 qid, u8 last, u32 nrecords, each: u32 nfields,
                           then per field: str key, str value, u8 is_number.
                           Long answers come in several frames; the final
                           one has last = 1. */
    IPC_W_RELINK,       /* u32 other_slot: my mesh link to that worker broke
                           while it is alive; the master passes a new pair to
                           both (IPC_M_PEER), at most once a second per pair.
                           The other end's request for the same break (within
                           5 s) is absorbed, not answered with a second pair. */
    IPC_W_NOFD,         /* u32 count: client sockets that did not arrive (the
                           worker is out of descriptors; they are counted in
                           IPC_W_CLOSED too).  The master gives the worker no
                           new client for a second. */

    /* worker <-> worker, SOCK_STREAM mesh; frames of one loop iteration are
     * written together */
    IPC_P_HELLO = 32,   /* u32 slot, u32 pid, u64 base (the sender's last request
                           number to this worker before its first unacknowledged
                           one: worker/outbox.c): first frame on a new link */
    IPC_P_NICK_CLAIM,   /* to the nick's owner. str nick, str old_nick ("" at
                           registration), u64 client, u32 slot, u8 force
                           (force: re-announce after the owner restarted) */
    IPC_P_NICK_RESULT,  /* owner -> claimer. u64 client, u8 ok, str nick */
    IPC_P_NICK_RELEASE, /* to the nick's owner. str nick, u64 client */
    IPC_P_TO_NICK,      /* to the nick's owner, which forwards it to the
                           holder's worker. u8 kind, str nick, u64 from_client,
                           u32 from_slot, then kind-specific strs (see
                           worker/route.c) */
    IPC_P_RAW,          /* u64 client, str bytes: lines for a local client */
    IPC_P_CHAN_REQ,     /* to the channel's owner: u8 op, str channel, u64
                           client, u32 slot, str nick, str user, str host,
                           str arg1, str arg2 (see worker/channel.c) */
    IPC_P_CHAN_EVENT,   /* owner -> every worker with members: one sequenced
                           channel event (see worker/channel.c) */
    IPC_P_CHAN_STATE,   /* owner -> a worker that gets its first member:
                           the whole channel (see worker/channel.c) */
    IPC_P_ASK,          /* a question about this worker's clients or rooms
                           (worker/ask.c): u64 ask id, u8 kind, u64 client,
                           u32 slot, str nick, u32 caps, str a1, str a2 */
    IPC_P_ANSWER,       /* u64 ask id, u8 last, str lines; a worker's answer
                           may take several frames, the last has last=1 */
    IPC_P_ECHO,         /* u64 client, u64 time_ms, str msgid, str ctags, str source,
                           str command, str target, str text: the durable echo
                           of the client's own message */
    IPC_P_FENCE,        /* u8 kind (1 channel, 2 nick, 3 store), u8 stage,
                           u8 durable, str target, u64 client, u32 origin slot,
                           u32 fence id: answered once the path is done
                           (worker/order.c) */
    IPC_P_FENCE_ACK,    /* u64 client, u32 fence id */
    IPC_P_GAME,         /* GameServ (worker/game.c): u8 kind, then by kind:
                           1 LOOKUP (to a nick's owner, then its holder): u64
                             token, u32 reply_slot, u8 stage, str nick;
                           2 FOUND (holder or owner -> asker): u64 token, u8
                             ok, str asked, str nick, u64 client, u32 slot,
                             str account;
                           3 CREATE (to the owner of #game-<id>): u64 id, str
                             category, str lang, u32 rounds, u32 n, then n
                             players (the inviter first): str nick, u64
                             client, u32 slot, str account;
                           4 CMD (to the owner of #game-<id>): u8 verb, u64
                             id, str nick, u64 client, u32 slot, str account;
                           5 JOIN (to a player's worker): u64 client, str room;
                           6 NOTICE (to a client's worker): u64 client, str text */
    IPC_P_JOIN_DONE,    /* owner -> joiner's worker: u64 client, str channel: the
                           JOIN got no membership (refused, or already in) */
    IPC_P_REQ,          /* u64 seq, u64 origin, u64 mseq, str target, str frame:
                           a request to the owner of target (a room or nick),
                           numbered by the sender per receiver (seq, for acks)
                           and among all its requests (origin, for repeats),
                           kept until acknowledged (worker/outbox.c);
                           mseq: a message's number from the owner that died, 0
                           if none */
    IPC_P_ACK,          /* u64 seq: every request up to seq is handled and what
                           it stored is durable */
    IPC_P_SYNCED,       /* after a new link's re-announcement: the receiver may
                           handle requests once every worker has said it */
    IPC_P_COUNTS,       /* u32 users, u32 invisible, u32 opers, u32 unknown,
                           u32 channels: the sender's part of LUSERS
                           (worker/lusers.c), sent when it changes */
    IPC_P_WHOWAS,       /* to the nick's owner: str nick, str user, str host,
                           str realname, str account, u64 time_ms: a nick was
                           given up (worker/whowas.c) */
    IPC_P_WALLOPS,      /* str line, u8 everyone: a WALLOPS line for every local
                           +w client, or (everyone) an operator's PRIVMSG/NOTICE
                           $* for every local client (worker/oper.c) */
    IPC_P_USER,         /* a user's state changed (worker/userstate.c): u8 what,
                           u8 flags (1 members: update the rooms' members and
                           tell those sharing a room; 2 watchers: at the nick's
                           owner, pass it on to MONITOR watchers), u64 client,
                           str nick, str user, str host, str account, str value
                           (away text or realname), u8 bot, u32 n, n x u64
                           watcher client ids on the receiving worker */
    IPC_P_MONITOR,      /* MONITOR (worker/monitor.c): u8 kind, then by kind:
                           1 ADD (to the nick's owner): str nick, u64 client,
                             u32 slot, u8 quiet (no STATUS answer);
                           2 DEL (to the nick's owner): str nick, u64 client;
                           3 QUERY (to the nick's owner): str nick, u64 client,
                             u32 slot;
                           4 STATUS (owner -> watcher's worker): u64 client,
                             u8 online, str nick, u8 answer (1: to ADD or
                             QUERY, always shown; 0: shown if it changed) */
    IPC_P_NICK_LOST,    /* nick owner -> a holder's worker (cluster: a partition
                           healed and two connections hold one nick): u64
                           client, str nick: the other holder keeps it; rename
                           this one (worker/nick.c) */
    IPC_P_FWD,          /* cluster only (worker/handover.c): a request whose
                           owner moved, inside an IPC_P_REQ of the worker that
                           passes it on: u32 origin slot, u64 origin seq, u64
                           mseq, u8 hops, u8 in_order (0: passed on by a former
                           owner, may overtake; 1: kept for a dead node's worker
                           and sent to the new owner), str target, str frame */
};

/* What the master asks workers for (control socket commands). */
enum ipc_query {
    Q_SUMMARY = 1,      /* one record: the worker's counters; with cluster and
                           arg1 = "nodes", then the Q_NODES records */
    Q_CLIENTS,          /* a record per client */
    Q_CHANNELS,         /* a record per channel the worker owns */
    Q_CLIENT,           /* arg1 = nick: one record if the nick is here */
    Q_KICK,             /* arg1 = nick, arg2 = reason: one record if kicked */
    Q_WALL,             /* arg1 = text: one record with the count told */
    Q_NOTICE_ALL,       /* arg1 = text: like wall, for shutdown warnings */
    Q_KILL,             /* arg1 = nick, arg2 = reason: like kick, with the
                           reason "Killed by admin (reason)" as IRC KILL words it */
    Q_NODES,            /* a record per node of the network this worker knows (cluster.c) */
};

#endif
