-- Rooms keep their protection when empty (issue 9): the accounts that get
-- op back when they join (the creator's, and those opped by an op), and the
-- ban list, both per stored room.  Names are folded with the server's
-- casemapping (irc_casefold), as channels.name_folded is.
CREATE TABLE channel_ops (
    channel_folded text NOT NULL REFERENCES channels (name_folded) ON DELETE CASCADE,
    account_folded text NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_folded, account_folded)
);

CREATE TABLE channel_bans (
    channel_folded text NOT NULL REFERENCES channels (name_folded) ON DELETE CASCADE,
    mask text NOT NULL,
    set_by text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_folded, mask)
);
