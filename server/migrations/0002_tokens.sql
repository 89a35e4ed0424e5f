-- API tokens. A token is `crumb_<id>_<secret>`: the id finds the row, the
-- secret is stored only as its SHA-256 and compared in constant time.
-- `site_id` NULL means every site.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'auditor')),
    site_id      TEXT,
    label        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;
