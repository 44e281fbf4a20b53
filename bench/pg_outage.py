#!/usr/bin/env python3
"""Stop PostgreSQL for 30 seconds under load and count what was echoed.

Manual check for "nothing acknowledged is lost" (bench/RESULTS.md).  Needs a
parlord on 127.0.0.1:16667 started with --database pointing at a cluster in
/tmp/pgt/pg (scripts/pg.sh start /tmp/pgt/pg) and --flood-lines 0.  Four
clients send to #load30 for 45 s; PostgreSQL is stopped at 5 s and started at
35 s.  The msgids of every echo are written to /tmp/pg30.ids; compare them
with the messages table afterwards (see RESULTS.md for the query)."""
import socket,time,subprocess,re,threading
def conncap(nick):
    s = socket.create_connection(("127.0.0.1", 16667))
    s.sendall(f"CAP REQ :echo-message message-tags\r\nCAP END\r\nNICK {nick}\r\nUSER {nick} 0 * :R\r\nJOIN #load30\r\n".encode())
    return s
senders=[conncap(f"s{i}") for i in range(4)]
echoes=[set() for _ in senders]
stop=False
def reader(i,s):
    buf=b""
    s.settimeout(1)
    while not stop:
        try: d=s.recv(65536)
        except socket.timeout: continue
        if not d: break
        buf+=d
        *lines,buf=buf.split(b"\r\n")
        for l in lines:
            m=re.search(rb"msgid=([0-9a-z]+).* PRIVMSG #load30 :", l)
            if m and l.find(f":s{i}!".encode())>=0: echoes[i].add(m.group(1).decode())
ths=[threading.Thread(target=reader,args=(i,s)) for i,s in enumerate(senders)]
[t.start() for t in ths]
time.sleep(1)
PG=["/usr/lib/postgresql/15/bin/pg_ctl","-D","/tmp/pgt/pg/data"]
t0=time.time(); n=0; stopped=started=False
while time.time()-t0 < 45:
    el=time.time()-t0
    if el>5 and not stopped: subprocess.run(PG+["stop","-m","fast"],user="postgres",capture_output=True); stopped=True; print("pg stopped at",round(el,1))
    if el>35 and not started: subprocess.run(PG+["start","-l","/tmp/pgt/pg/postgresql.log","-w"],user="postgres",capture_output=True); started=True; print("pg started at",round(time.time()-t0,1))
    for i,s in enumerate(senders): s.sendall(f"PRIVMSG #load30 :load {n}\r\n".encode()); n+=1
    time.sleep(0.005)
time.sleep(5); stop=True; [t.join() for t in ths]
allids=set().union(*echoes)
print("sent",n,"echoed",len(allids))
open("/tmp/pg30.ids","w").write("\n".join(allids))
