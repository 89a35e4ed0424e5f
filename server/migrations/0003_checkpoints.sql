-- Where a purge cut a site's chain: the last deleted record's position and
-- hash, signed by the server's key, so the remaining chain still links to
-- something verifiable.
CREATE TABLE checkpoints (
    site_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (site_id, seq)
) STRICT;
