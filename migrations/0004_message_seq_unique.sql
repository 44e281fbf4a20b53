-- One number per message per channel, enforced by the database (issue 14).
--
-- Channel messages are numbered 1, 2, 3, ... by the channel's owner worker;
-- two stored messages of one channel must never share a number.  Private
-- messages are left out (hence the partial index): their seq is the sending
-- worker's own counter (worker/nick.c, store_pm), so both sides of one
-- conversation, or a respawned worker, reuse numbers, and their order is
-- (server_time, id).
--
-- The insert path keeps `ON CONFLICT (msgid) DO NOTHING`, so a replayed row
-- that is already stored (same msgid, same number) is still a no-op.  A row
-- whose number is taken by another message (a channel created while
-- PostgreSQL was down restarts its numbering) is renumbered after the
-- channel's stored maximum instead of being refused or dropped; see
-- store.c's renumbering statement.  Rows stored before this migration get the
-- same treatment here: every duplicate but the first (by id) moves after the
-- maximum, in id order.
--
-- Cost: bench/RESULTS.md ("Unique message numbers").  The index also serves
-- the max(seq) lookup made when a channel is loaded.
WITH dup AS (
    SELECT id, conversation,
           row_number() OVER (PARTITION BY conversation, seq ORDER BY id) AS k
      FROM messages
     WHERE NOT is_private
), moved AS (
    SELECT d.id,
           (SELECT max(m.seq) FROM messages m WHERE m.conversation = d.conversation AND NOT m.is_private)
           + row_number() OVER (PARTITION BY d.conversation ORDER BY d.id) AS new_seq
      FROM dup d
     WHERE d.k > 1
)
UPDATE messages SET seq = moved.new_seq FROM moved WHERE messages.id = moved.id;

CREATE UNIQUE INDEX messages_channel_seq ON messages (conversation, seq) WHERE NOT is_private;
