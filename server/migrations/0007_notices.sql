-- Every version of a site's texts, per language, as a consent record's
-- `text_hash` names them: `texts` holds the exact bytes whose SHA-256 is
-- `text_hash`. A store adds the versions of a config in the transaction
-- that writes it, and never changes or deletes one (a purge leaves them,
-- as does deleting the config): a record's hash is proof of what the
-- visitor was shown only while the texts it was taken of can be shown.
CREATE TABLE notices (
    site_id     TEXT NOT NULL,
    text_hash   TEXT NOT NULL,
    language    TEXT NOT NULL,
    texts       TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    PRIMARY KEY (site_id, text_hash, language)
) STRICT;
