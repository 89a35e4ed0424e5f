-- Idempotency keys of consent writes (`Idempotency-Key`): a retried POST
-- with the same key gets the first record's receipt instead of making a
-- second record. `request_hash` tells a retry from another request that
-- reuses the key. Operational data, not part of the log: rows older than a
-- day are deleted as new keys arrive.
CREATE TABLE idempotency (
    site_id       TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    record_id     INTEGER NOT NULL REFERENCES records (id),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (site_id, key)
) STRICT;

CREATE INDEX idempotency_by_age ON idempotency (created_at);
