-- Sites: the whole config is one JSON document; the revision is a column
-- because lookups compare against it on every consent read.
CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    config      TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- Consent records are append-only events. `body` holds the canonical JSON
-- bytes that `hash` is the SHA-256 of; the other columns are copies of body
-- fields kept for indexing. Each site's records form a chain: `seq` counts
-- from 1 and each body names the previous record's hash.
CREATE TABLE records (
    id          INTEGER PRIMARY KEY,
    site_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    consent_id  TEXT NOT NULL,
    event       TEXT NOT NULL,
    event_time  TEXT NOT NULL,
    body        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (site_id, seq)
) STRICT;

CREATE INDEX records_by_consent ON records (consent_id, id);
CREATE INDEX records_by_site_time ON records (site_id, event_time);
