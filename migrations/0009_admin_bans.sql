-- Admin bans (parlorctl ban, kick --ban), kept across restarts: an address
-- (IPv6: its /64), a CIDR block (10.0.0.0/8) or account:NAME (casefolded),
-- as master/bans.c writes them.  Expired rows are ignored and deleted at
-- the next start.
CREATE TABLE admin_bans (
    mask text PRIMARY KEY,
    until timestamptz NOT NULL,
    reason text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);
