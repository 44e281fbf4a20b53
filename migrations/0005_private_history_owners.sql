-- Two defects of issue 9 ("Hostile clients") that need the schema:
-- private history owners (below) and failed-login counters shared by all
-- workers (login_failures, at the end).
--
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

-- Failed logins, counted across every worker (worker/account.c).  key is
-- "a:<folded account name>" or "i:<client address>".  A row counts the
-- attempts of the current window that have not succeeded (an attempt is
-- counted when it starts and taken back when it succeeds, so parallel
-- connections cannot all slip in before the first failure is written);
-- once `failures` reaches the limit, the next attempt blocks the key until
-- blocked_until, for backoff * 2^strikes seconds (at most a day).  A key
-- quiet for a whole window starts again from zero strikes.
CREATE TABLE login_failures (
    key           text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    window_start  timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz,
    strikes       integer NOT NULL DEFAULT 0
);

-- One login attempt on keys (with their limits, same order), atomically:
-- wait_s = 0 lets it go ahead (and counts it on every key); otherwise it is
-- refused for wait_s seconds because of by_key, and new_block says this
-- attempt started that block.  Rows are locked in key order, so attempts
-- that share keys never deadlock.
CREATE FUNCTION login_attempt(p_keys text[], p_limits integer[], p_window integer,
                              p_backoff integer,
                              OUT wait_s integer, OUT by_key text, OUT new_block boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r   login_failures;
    win interval := make_interval(secs => p_window);
    w   integer;
BEGIN
    wait_s := 0;
    new_block := false;
    INSERT INTO login_failures (key) SELECT k FROM unnest(p_keys) AS k ORDER BY k
        ON CONFLICT (key) DO NOTHING;
    FOR r IN SELECT * FROM login_failures WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE LOOP
        IF r.blocked_until > now() THEN
            w := ceil(extract(epoch FROM r.blocked_until - now()))::integer;
        ELSIF r.window_start > now() - win
              AND r.failures >= p_limits[array_position(p_keys, r.key)] THEN
            UPDATE login_failures
               SET blocked_until = now() + make_interval(secs =>
                       least(p_backoff::double precision * 2 ^ least(r.strikes, 16), 86400)),
                   strikes = r.strikes + 1, failures = 0, window_start = now()
             WHERE key = r.key
            RETURNING ceil(extract(epoch FROM blocked_until - now()))::integer INTO w;
            new_block := true;
        ELSE
            CONTINUE;
        END IF;
        IF w > wait_s THEN
            wait_s := w;
            by_key := r.key;
        END IF;
    END LOOP;
    IF wait_s > 0 THEN
        RETURN;
    END IF;
    UPDATE login_failures
       SET strikes = CASE WHEN greatest(window_start, blocked_until) <= now() - win
                          THEN 0 ELSE strikes END,
           failures = CASE WHEN window_start <= now() - win THEN 1 ELSE failures + 1 END,
           window_start = CASE WHEN window_start <= now() - win THEN now() ELSE window_start END
     WHERE key = ANY (p_keys);
END
$$;
