#!/usr/bin/env python3
"""Write seed programs for fuzz_worker (see the comment at the top of
fuzz/fuzz_worker.c for the step encoding).

Usage: worker_seeds.py OUTDIR [NAME]   (NAME: write only that seed)"""
import os
import sys

CONNECT, HANGUP, LINE, RAW, REGISTER, SEND = range(6)
NICKS = ["alice", "bob", "ghost", "vic1", "nn1", "Alice", "carol", "민영"]
CHANS = ["#room0", "#room1", "#ROOM0", "#vault", "#game-1", "#a,#b"]
TARGETS = ["alice", "bob", "ghost", "#room0", "#room1", "NickServ", "HistServ", "GameServ",
           "*", "alice,bob", "#room0,ghost"]
MODES = ["+o", "-o", "+v", "+i", "-i", "+k", "-k", "+l", "-l", "+m", "+n", "+t", "-t",
         "+b", "-b", "b", "+ov", "+kl", "+bbb", "+imnt", ""]
CAPS = ["sasl", "echo-message", "labeled-response batch", "message-tags server-time",
        "draft/chathistory batch", "multi-prefix userhost-in-names", "cap-notify", "-sasl"]
SASL = ["PLAIN", "*", "+", "AGFsaWNlAHNlY3JldHB3", "YWxpY2UAYWxpY2UAc2VjcmV0cHc=", "EXTERNAL"]
TAGS = ["", "@label=L1 ", "@+typing=active ", "@label=x;+draft/reply=abc ", "@time=bogus "]
SERVICES = ["help", "register secretpw1", "identify secretpw1", "days #room0",
            "show #room0 2026-01-01", "invite bob", "accept 1", "decline 1", "status 1",
            "categories", "top", "quit 1"]
WHAT = {"NICK": 0, "USER": 1, "JOIN": 2, "PART": 3, "QUIT": 4, "PRIVMSG": 5, "NOTICE": 6,
        "MODE": 7, "KICK": 8, "INVITE": 9, "TOPIC": 10, "CAPLS": 11, "CAPREQ": 12,
        "CAPEND": 13, "AUTHENTICATE": 14, "CHATHISTORY": 15, "SERVICE": 16, "WHOIS": 17,
        "WHO": 18, "NAMES": 19, "LIST": 20, "AWAY": 21, "TAGMSG": 22, "PING": 23}


def text(t):
    b = t.encode()[:24]
    return bytes([len(b)]) + b


def line(k, what, *picks, txt="", tag=0):
    """picks: the pool indexes (or 0/1 flags) the template reads, in order."""
    return bytes([LINE, k, tag, WHAT[what]]) + text(txt) + bytes(picks)


def register(k, nick, cap=False):
    return bytes([REGISTER, k, 1 if cap else 0, NICKS.index(nick)])


def op(o, k=0):
    return bytes([o, k])


def raw(k, data):
    return bytes([RAW, k, len(data)]) + data


N, C, T = NICKS.index, CHANS.index, TARGETS.index

SEEDS = {
    "register_and_chat": register(0, "alice") + register(1, "bob") + op(SEND)
    + line(0, "JOIN", C("#room0"), 0) + line(1, "JOIN", C("#room0"), 0) + op(SEND)
    + line(0, "PRIVMSG", T("#room0"), txt="hello room") + line(1, "PRIVMSG", T("alice"), txt="hi")
    + op(SEND) + line(1, "PART", C("#room0"), txt="bye") + line(0, "QUIT", txt="done"),
    "ops_and_modes": register(0, "alice") + register(1, "bob") + op(SEND)
    + line(0, "JOIN", C("#room1"), 1) + op(SEND) + line(0, "MODE", C("#room1"), MODES.index("+kl"), N("bob"), txt="10")
    + line(1, "JOIN", C("#room1"), 1) + op(SEND) + line(0, "MODE", C("#room1"), MODES.index("+o"), N("bob"))
    + line(1, "TOPIC", C("#room1"), 1, txt="new topic") + line(1, "KICK", C("#room1"), N("alice"), txt="out")
    + line(0, "INVITE", N("alice"), C("#room1")) + op(SEND),
    "caps_labels_tags": line(0, "CAPLS") + line(0, "CAPREQ", 2) + line(0, "CAPREQ", 3)
    + register(0, "carol") + line(0, "CAPEND") + op(SEND)
    + line(0, "JOIN", C("#room0"), 0, tag=1) + line(0, "TAGMSG", T("#room0"), tag=2)
    + line(0, "PRIVMSG", T("#room0"), txt="labelled", tag=3) + op(SEND),
    "sasl": line(0, "CAPLS") + line(0, "CAPREQ", 0) + line(0, "AUTHENTICATE", 0)
    + op(SEND) + line(0, "AUTHENTICATE", 3) + op(SEND) + line(0, "CAPEND") + register(0, "alice"),
    "chathistory": line(0, "CAPREQ", 4) + register(0, "bob") + line(0, "CAPEND") + op(SEND)
    + line(0, "JOIN", C("#room0"), 0) + line(0, "CHATHISTORY", T("#room0"), 0)
    + line(0, "CHATHISTORY", T("alice"), 1) + line(0, "CHATHISTORY", 0, 5) + op(SEND),
    "services": register(0, "alice") + register(1, "bob") + op(SEND)
    + line(0, "SERVICE", 0, 0) + line(0, "SERVICE", 1, 3) + line(0, "SERVICE", 2, 5)
    + line(1, "SERVICE", 2, 6) + op(SEND) + line(0, "SERVICE", 2, 8) + op(SEND),
    "queries": register(0, "alice") + op(SEND) + line(0, "JOIN", C("#room0"), 0)
    + line(0, "WHOIS", N("alice")) + line(0, "WHO", C("#room0")) + line(0, "NAMES", C("#room0"))
    + line(0, "LIST") + line(0, "AWAY", txt="lunch") + line(0, "PING", txt="x") + op(SEND),
    "raw_bytes": op(CONNECT) + raw(2, b"NICK x\r\nUSER x 0 * :x\r\n") + op(SEND)
    + raw(2, b"PRIVMSG #room0 :\xff\xfe bad utf8\r\n") + raw(2, b"@" + b"a" * 60)
    + op(SEND) + raw(2, b"\r\n\n\x00JOIN #z\r\n") + op(SEND) + op(HANGUP, 2),
    "rename_in_channel": register(0, "alice") + op(SEND) + line(0, "JOIN", C("#room0"), 0)
    + op(SEND) + line(0, "NICK", N("carol")) + op(SEND) + line(0, "PRIVMSG", T("#room0"), txt="renamed"),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    if sys.argv[2:] and name not in sys.argv[2:]:
        continue
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
