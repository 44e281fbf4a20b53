-- Parlor's first schema: accounts, sessions, channels, messages.
-- Applied once, in a transaction, by parlord (or `parlord migrate`).

CREATE TABLE accounts (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,                  -- as registered (display form)
    name_folded   text NOT NULL UNIQUE,           -- CASEMAPPING=ascii folded, for lookups
    password_hash text NOT NULL,                  -- libsodium crypto_pwhash_str (argon2id)
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per connection.
CREATE TABLE sessions (
    id              bigserial PRIMARY KEY,
    client_id       bigint NOT NULL,              -- the server's connection id
    nick            text,                         -- current (last) nick
    nicks           text[] NOT NULL DEFAULT '{}', -- every nick used, in order
    account         text,                         -- once logged in
    remote_addr     text NOT NULL,
    remote_port     integer NOT NULL,
    worker          integer NOT NULL,
    connected_at    timestamptz NOT NULL,
    registered_at   timestamptz,
    disconnected_at timestamptz,
    quit_reason     text
);
CREATE UNIQUE INDEX sessions_client ON sessions (client_id, connected_at);

CREATE TABLE channels (
    name        text NOT NULL,
    name_folded text PRIMARY KEY,
    topic       text NOT NULL DEFAULT '',
    topic_by    text,
    topic_at    timestamptz,
    modes       text NOT NULL DEFAULT '',        -- e.g. "+ntk secret" as MODE would show it
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every PRIVMSG and NOTICE to a channel or a nick.
-- Channel messages: target = channel, seq = the channel's message number
-- (1, 2, 3, ... per channel, assigned by the channel's owner worker; it
-- continues from the stored maximum when the channel is loaded).
-- Private messages: target = the recipient nick, conversation = both folded
-- nicks in order joined by a space (a byte no nick contains), seq = the
-- sending worker's counter (ordering within a conversation is by server_time,
-- then id).
CREATE TABLE messages (
    id             bigserial PRIMARY KEY,
    target         text NOT NULL,
    conversation   text NOT NULL,                 -- folded channel name, or "a b" for private
    is_private     boolean NOT NULL,
    sender_nick    text NOT NULL,
    sender_account text,
    command        text NOT NULL CHECK (command IN ('PRIVMSG', 'NOTICE')),
    body           text NOT NULL,
    server_time    timestamptz NOT NULL,
    msgid          text NOT NULL UNIQUE,
    seq            bigint NOT NULL
);
CREATE INDEX messages_conversation_time ON messages (conversation, server_time, id);
-- Not unique: if a channel is created while PostgreSQL is down its numbering
-- restarts, and a spooled batch must never be refused for that.
CREATE INDEX messages_conversation_seq ON messages (conversation, seq);
