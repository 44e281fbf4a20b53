#!/usr/bin/env python3
"""Write seed frames (ipc/frame.h format) for the IPC fuzz targets.

Usage: ipc_seeds.py OUTDIR [mesh]
Without "mesh": a few frames of each shape for fuzz_ipc_frame.  With
"mesh": one file per worker<->worker frame type (ipc/proto.h), as
fuzz_worker_frames reads them."""
import os
import struct
import sys


def u8(v): return struct.pack('<B', v)
def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v)
def s(t):
    b = t.encode() if isinstance(t, str) else t
    return u32(len(b)) + b + b'\0'


def frame(ftype, payload):
    return struct.pack('<IBBH', 8 + len(payload), 1, ftype, 0) + payload


CLIENT = (0 << 32) | 1        # W.pid is 0 in the fuzz harness; client 1
OTHER = (1 << 32) | 7         # a client on worker 1

mesh = {
    'hello': frame(32, u32(1) + u32(4242)),
    'nick_claim': frame(33, s('bob') + s('') + u64(OTHER) + u32(1) + u8(0)),
    'nick_result': frame(34, u64(CLIENT) + u8(1) + s('alice')),
    'nick_release': frame(35, s('bob') + u64(OTHER)),
    'to_nick_msg': frame(36, u8(1) + s('alice') + u64(OTHER) + u32(1) + s('bob') + s('')
                         + s('bob!b@host') + s('PRIVMSG') + s('hello') + s('msgid1') + s('')
                         + u64(0)),
    'raw': frame(37, u64(CLIENT) + s(':x NOTICE alice :hi\r\n')),
    'chan_req_join': frame(38, u8(1) + s('#room') + u64(OTHER) + u32(1) + s('bob') + s('b')
                           + s('host') + s('') + s('')),
    'ask_who': frame(41, u64(3) + u8(2) + u64(OTHER) + u32(1) + s('bob') + u32(0) + s('*')
                     + s('%tnf,7')),
    'answer': frame(42, u64(1) + u8(1) + s(':srv 322 alice #room 2 :topic\r\n')),
    'counts': frame(51, u32(3) + u32(1) + u32(0) + u32(1) + u32(2)),
    'whowas': frame(52, s('bob') + s('~b') + s('host') + s('Bob') + s('') + u64(1700000000000)),
    'echo': frame(43, u64(CLIENT) + u64(1700000000000) + s('msgid') + s('') + s('alice!a@h')
                  + s('PRIVMSG') + s('#room') + s('hi')),
    'fence': frame(44, u8(1) + u8(0) + s('#room') + u64(OTHER) + u32(1) + u32(5)),
    'fence_ack': frame(45, u64(CLIENT) + u32(5)),
    'game_lookup': frame(46, u8(1) + u64(9) + u32(1) + u8(0) + s('alice')),
    'game_notice': frame(46, u8(6) + u64(CLIENT) + s('your turn')),
    # worker/userstate.c: AWAY of a member of #room1, to members and watchers
    'user_away': frame(51, u8(1) + u8(3) + u64(OTHER) + s('alice') + s('a') + s('host')
                       + s('acct') + s('gone') + u8(1) + u32(1) + u64(CLIENT)),
    # worker/monitor.c: ADD (to the owner of "bob") and STATUS (to a watcher)
    'monitor_add': frame(52, u8(1) + s('bob') + u64(OTHER) + u32(1) + u8(0)),
    'monitor_status': frame(52, u8(4) + u64(CLIENT) + u8(1) + s('alice') + u8(1)),
}

plain = {
    'shapes': frame(16, u8(0x1b) + u32(3) + u8(1) + u64(2) + s('key') + s('value')),
    'answer': frame(18, u8(0xff) + s('clients') + s('3') + s('x') + s('y')),
    'two_frames': frame(17, u8(0) + u8(1) + u8(2)) + frame(3, u8(0xaa) + s('bye')),
    'short_header': frame(1, b'')[:6],
    'cut_payload': frame(33, u8(0xff) + s('nickname'))[:-3],
    'bad_version': b'\x10\0\0\0\x02\x01\0\0' + b'\0' * 8,
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in (mesh if sys.argv[2:] == ['mesh'] else plain).items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
