-- Private history belongs to accounts, not to nicks (README, "PostgreSQL:
-- what is stored and how"): a private message is readable by the account
-- each side was logged in to when it was sent, or, for a side that was not
-- logged in, only by that side's connection.
--
-- For both sides a private message records the account (sender_account,
-- target_account; NULL when not logged in) and the connection
-- (sender_client, target_client: sessions.client_id; a connection is
-- (client_id, connected_at) as in sessions, and readers add
-- server_time >= their own connected_at, so a client id reused after a
-- worker's PID came back never reaches older messages).
--
-- sender_key / target_key are what history reads by: "<owner> <peer>", with
-- owner "a:<account>" when that side was logged in, else "c:<client id>",
-- and peer the other side's folded nick (CASEMAPPING=ascii) at the time, so
-- one index probe finds one owner's conversation with one nick, in order.
-- Computed by the worker (worker/history.c, history_private_key); NULL for
-- channel messages, which the partial indexes leave out.  COLLATE "C": byte
-- order, so "all keys of one owner" is a range scan (CHATHISTORY TARGETS).
ALTER TABLE messages
    ADD COLUMN sender_client  bigint,
    ADD COLUMN target_account text,
    ADD COLUMN target_client  bigint,
    ADD COLUMN sender_key     text COLLATE "C",
    ADD COLUMN target_key     text COLLATE "C";

-- Private messages stored before this migration have no connections: the
-- sender's side goes to the sender's account when it was logged in; the
-- recipient's side is unknown and stays unreadable (never given to
-- whoever holds the nick now).
UPDATE messages
   SET sender_key = 'a:' || sender_account || ' '
                    || translate(target, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
 WHERE is_private AND sender_account IS NOT NULL;

CREATE INDEX messages_sender_key ON messages (sender_key, server_time, id)
    WHERE sender_key IS NOT NULL;
CREATE INDEX messages_target_key ON messages (target_key, server_time, id)
    WHERE target_key IS NOT NULL;
