-- Client certificate fingerprints tied to accounts (NickServ CERT ADD,
-- worker/certfp.c): a TLS client whose certificate's SHA-256 (lower-case
-- hex) is listed logs in with SASL EXTERNAL.  A fingerprint belongs to one
-- account at most.
CREATE TABLE account_certs (
    fingerprint    text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    account_folded text NOT NULL REFERENCES accounts (name_folded) ON DELETE CASCADE,
    added_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_certs_account ON account_certs (account_folded);
