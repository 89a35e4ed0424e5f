-- A counter bumped by every change to `sites`, from any process (the
-- server, the CLI). Servers cache parsed site configs and check this one
-- integer instead of re-reading and re-parsing a config per request.
CREATE TABLE sites_version (v INTEGER NOT NULL);
INSERT INTO sites_version (v) VALUES (0);
CREATE TRIGGER sites_version_insert AFTER INSERT ON sites
BEGIN UPDATE sites_version SET v = v + 1; END;
CREATE TRIGGER sites_version_update AFTER UPDATE ON sites
BEGIN UPDATE sites_version SET v = v + 1; END;
CREATE TRIGGER sites_version_delete AFTER DELETE ON sites
BEGIN UPDATE sites_version SET v = v + 1; END;
