-- No query reads messages by (conversation, seq): history pages by
-- (conversation, server_time, id).  Keeping the index cost about a tenth of
-- the insert throughput (bench/RESULTS.md), so it goes.
DROP INDEX IF EXISTS messages_conversation_seq;
