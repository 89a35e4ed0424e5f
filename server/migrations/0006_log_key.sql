-- The public half of the key this log's heads and purge checkpoints are
-- signed with, recorded by the first `crumb serve` (or replaced by
-- `crumb key --replace`). A node or command holding another key refuses to
-- sign, so one log never carries signatures of two keys by mistake. Only
-- the public key is here: checking a signature still takes the key an
-- auditor was given, not one read from the database it vouches for.
CREATE TABLE log_key (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    public_key   TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
) STRICT;
