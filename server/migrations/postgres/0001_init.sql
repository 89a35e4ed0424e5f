-- Crumb's schema on PostgreSQL: the tables of the SQLite migrations
-- 0001-0005 in one step, plus `chain_heads`. Text columns compare byte by
-- byte (COLLATE "C"), as SQLite's do, so ranges of event times and the
-- order of an export are the same on both engines.

CREATE TABLE sites (
    id          TEXT COLLATE "C" PRIMARY KEY,
    config      TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Append-only consent records; `body` holds the canonical JSON bytes that
-- `hash` is the SHA-256 of, the other columns are copies for indexing.
CREATE TABLE records (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    consent_id  TEXT COLLATE "C" NOT NULL,
    event       TEXT NOT NULL,
    event_time  TEXT COLLATE "C" NOT NULL,
    body        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (site_id, seq)
);

CREATE INDEX records_by_consent ON records (consent_id, seq);
CREATE INDEX records_by_site_time ON records (site_id, event_time);

-- Each site's chain head: the position and hash the next record follows.
-- Every node appending to a site takes this row's lock first (in site
-- order), so appends to one site are serialised across nodes: no fork, no
-- gap. Updated in the same transaction as the records.
CREATE TABLE chain_heads (
    site_id  TEXT COLLATE "C" PRIMARY KEY,
    seq      BIGINT NOT NULL,
    hash     TEXT NOT NULL
);

CREATE TABLE tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,
    secret_hash  TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'auditor')),
    site_id      TEXT COLLATE "C",
    label        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

CREATE TABLE checkpoints (
    site_id     TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (site_id, seq)
);

-- Bumped by every change to `sites`; nodes check it at least every 100 ms
-- and drop their cached configs when it moved.
CREATE TABLE sites_version (v BIGINT NOT NULL);
INSERT INTO sites_version (v) VALUES (0);
CREATE FUNCTION crumb_bump_sites_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sites_version SET v = v + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER sites_version_bump AFTER INSERT OR UPDATE OR DELETE ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION crumb_bump_sites_version();

CREATE TABLE idempotency (
    site_id       TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    request_hash  TEXT NOT NULL,
    record_id     BIGINT NOT NULL REFERENCES records (id),
    created_at    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (site_id, key)
);

CREATE INDEX idempotency_by_age ON idempotency (created_at);
