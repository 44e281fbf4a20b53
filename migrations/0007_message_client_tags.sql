-- Client-only message tags (IRCv3 message-tags: "+example=value", as the
-- sender wrote them, escaped, ';'-separated) kept with the message, so
-- CHATHISTORY replays them to message-tags clients (worker/history.c).
-- NULL when the message had none.
ALTER TABLE messages ADD COLUMN client_tags text;
