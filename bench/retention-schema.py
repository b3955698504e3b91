#!/usr/bin/env python3
"""What the schema of registry.db costs a retention pass that removes 90 % of 100,000 tags, measured on SQLite alone.

RetentionBenchmark (tests/ConnectedRegistry.IntegrationTests/Storage) times the whole pass in the module; this probe
isolates SQLite's share of the pass's read, sizing and removal phases, and the bytes behind them, for the current
schema and a candidate one, so that a schema change is chosen by measurement before it is made (and migrated). For
each schema it builds the benchmark's database (REPOS repositories x TAGS tags, each tag its own manifest of about
450 bytes referencing its repository's two blobs), prints the bytes of every table and index (the DBSTAT virtual
table: the SQLite of Python's sqlite3 has it, the one bundled with Microsoft.Data.Sqlite does not), times the pass's
read queries and the sizing queries for the units it removes (every tag but the newest KEEP of each repository), then
removes them with the module's statements: batches of BATCH units, one transaction each (statement journals in
memory, as BulkWriteAsync), the tags in one statement joined on a JSON list, then the manifests nothing keeps any
more. It prints the process CPU time of each part (tags, manifests with their cascades, commits), the candidate's
query plans of the statements that read these tables, and what migrating the current database to the candidate takes
in one transaction, with the rows of each table before and after (MIGRATE=off leaves it out).

    bench/retention-schema.py                      # both schemas, REPOS=1000 TAGS=100 KEEP=10 BATCH=500
    SCHEMAS=candidate FK=off bench/retention-schema.py   # the candidate, references deleted in statements, not cascades

The current schema is read from modules/ConnectedRegistry/Storage/MetadataSql.cs (its Schema constant), so it is the
schema of this clone. The candidate: integer ids for repositories and manifests, referenced by tags, manifest_refs and
manifest_pulls instead of (repository, digest) text pairs; manifest_refs and blob_links WITHOUT ROWID; digests stay
text (sha256 and sha512 alike). SQLite version and the load average are printed with the figures: CPU time on a loaded
machine is higher than on a quiet one, so compare the schemas within one run.
"""
import hashlib
import json
import os
import re
import resource
import sqlite3
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOS = int(os.environ.get("REPOS", "1000"))
TAGS = int(os.environ.get("TAGS", "100"))
KEEP = int(os.environ.get("KEEP", "10"))
BATCH = int(os.environ.get("BATCH", "500"))
FK = os.environ.get("FK", "on")
SCHEMAS = os.environ.get("SCHEMAS", "current,candidate").split(",")

CANDIDATE = """
CREATE TABLE schema_info(version INTEGER NOT NULL);
CREATE TABLE repositories(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL);
CREATE TABLE manifests(
    id INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    created INTEGER NOT NULL,
    UNIQUE(repository_id, digest));
CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_refs(
    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    kind INTEGER NOT NULL,
    repository_id INTEGER NOT NULL,
    PRIMARY KEY(manifest_id, target, kind)) WITHOUT ROWID;
CREATE INDEX manifest_refs_target ON manifest_refs(target, kind, repository_id);
CREATE TABLE tags(
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    tag TEXT NOT NULL,
    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    updated INTEGER NOT NULL,
    PRIMARY KEY(repository_id, tag));
CREATE INDEX tags_manifest ON tags(manifest_id);
CREATE TABLE blob_links(
    repository_id INTEGER NOT NULL REFERENCES repositories(id),
    digest TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY(repository_id, digest)) WITHOUT ROWID;
CREATE INDEX blob_links_digest ON blob_links(digest);
CREATE TABLE uploads(id TEXT PRIMARY KEY, repository TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL, owner TEXT);
CREATE TABLE manifest_pulls(
    manifest_id INTEGER PRIMARY KEY REFERENCES manifests(id) ON DELETE CASCADE,
    last_pulled INTEGER NOT NULL);
"""

# The statements of the module's removal (MetadataSql.DeleteUnchangedTags, DeleteUnkeptManifests), per schema.
REMOVE = {
    "current": (
        """DELETE FROM tags WHERE rowid IN (SELECT t.rowid FROM json_each(?) j
           JOIN tags t ON t.repository = j.value->>0 AND t.tag = j.value->>1
           WHERE t.digest = j.value->>2 AND t.updated = j.value->>3)""",
        """DELETE FROM manifests WHERE rowid IN (SELECT m.rowid FROM json_each(?) j
           JOIN manifests m ON m.repository = j.value->>0 AND m.digest = j.value->>2
           WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)
             AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository = m.repository AND r.target = m.digest AND r.kind = 1)
             AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject)))""",
    ),
    "candidate": (
        """DELETE FROM tags WHERE rowid IN (SELECT t.rowid FROM json_each(?) j
           JOIN tags t ON t.repository_id = j.value->>0 AND t.tag = j.value->>1
           WHERE t.manifest_id = j.value->>2 AND t.updated = j.value->>3)""",
        """DELETE FROM manifests WHERE id IN (SELECT m.id FROM json_each(?) j
           JOIN manifests m ON m.id = j.value->>2
           WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
             AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.target = m.digest AND r.kind = 1 AND r.repository_id = m.repository_id)
             AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject)))
           RETURNING id""",
    ),
}

# The candidate's versions of the statements that read these tables (the manifest GET path, referrers, tag list paging,
# catalog, pulls, eviction, garbage collection): each plan must use an index, never scan a table per row.
PLANS = {
    "manifest by tag": "SELECT m.digest, m.media_type, m.content FROM repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id WHERE r.name = 'x' AND t.tag = 'y'",
    "manifest by digest": "SELECT m.digest, m.media_type, m.content FROM repositories r JOIN manifests m ON m.repository_id = r.id WHERE r.name = 'x' AND m.digest = 'y'",
    "referrers": "SELECT m.digest FROM repositories r JOIN manifests m ON m.repository_id = r.id WHERE r.name = 'x' AND m.subject = 'y' ORDER BY m.created, m.digest",
    "tag list page": "SELECT t.tag, m.digest FROM repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m ON m.id = t.manifest_id WHERE r.name = 'x' AND t.tag > 'a' ORDER BY t.tag LIMIT 100",
    "catalog page": "SELECT name FROM repositories r WHERE name > 'a' AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id) ORDER BY name LIMIT 100",
    "record a pull": "INSERT INTO manifest_pulls(manifest_id, last_pulled) SELECT m.id, 1 FROM repositories r JOIN manifests m ON m.repository_id = r.id WHERE r.name = 'x' AND m.digest = 'y' ON CONFLICT(manifest_id) DO UPDATE SET last_pulled = MAX(last_pulled, excluded.last_pulled)",
    "listed by an index": "SELECT 1 FROM repositories p JOIN manifest_refs r ON r.repository_id = p.id WHERE p.name = 'x' AND r.target = 'y' AND r.kind = 1 LIMIT 1",
    "gc: unreferenced manifests": """DELETE FROM manifests AS m WHERE m.created < 0
        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
        AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.target = m.digest AND r.kind = 1 AND r.repository_id = m.repository_id)
        AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject))""",
    "gc: unreferenced links": "DELETE FROM blob_links AS l WHERE l.created < 0 AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.target = l.digest AND r.kind = 0 AND r.repository_id = l.repository_id)",
    "gc: unused blobs": "SELECT j.value FROM json_each('[]') j WHERE NOT EXISTS (SELECT 1 FROM blob_links l WHERE l.digest = j.value) AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.target = j.value AND r.kind = 0)",
    "sizing: blobs of a list": "SELECT j.value->>0, r.target FROM json_each('[]') j CROSS JOIN manifest_refs r ON r.manifest_id = j.value->>1 AND r.kind = 0",
}


# Migration of a current database to the candidate, in one transaction with foreign keys off (SQLite's procedure for
# changing a table's keys: create, copy, drop, rename, then check the foreign keys before the commit).
MIGRATE = """
CREATE TABLE repositories_v2(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);
INSERT INTO repositories_v2(name, created) SELECT name, created FROM repositories ORDER BY name;
CREATE TABLE manifests_v2(id INTEGER PRIMARY KEY, repository_id INTEGER NOT NULL REFERENCES repositories(id), digest TEXT NOT NULL,
    media_type TEXT NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL, artifact_type TEXT, subject TEXT, annotations TEXT,
    created INTEGER NOT NULL, UNIQUE(repository_id, digest));
INSERT INTO manifests_v2(repository_id, digest, media_type, size, content, artifact_type, subject, annotations, created)
    SELECT r.id, m.digest, m.media_type, m.size, m.content, m.artifact_type, m.subject, m.annotations, m.created
    FROM manifests m JOIN repositories_v2 r ON r.name = m.repository ORDER BY r.id, m.created;
CREATE TABLE manifest_refs_v2(manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE, target TEXT NOT NULL,
    kind INTEGER NOT NULL, repository_id INTEGER NOT NULL, PRIMARY KEY(manifest_id, target, kind)) WITHOUT ROWID;
INSERT INTO manifest_refs_v2 SELECT m.id, f.target, f.kind, m.repository_id FROM manifest_refs f
    JOIN repositories_v2 r ON r.name = f.repository JOIN manifests_v2 m ON m.repository_id = r.id AND m.digest = f.digest;
CREATE TABLE tags_v2(repository_id INTEGER NOT NULL REFERENCES repositories(id), tag TEXT NOT NULL,
    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE, updated INTEGER NOT NULL, PRIMARY KEY(repository_id, tag));
INSERT INTO tags_v2 SELECT m.repository_id, t.tag, m.id, t.updated FROM tags t
    JOIN repositories_v2 r ON r.name = t.repository JOIN manifests_v2 m ON m.repository_id = r.id AND m.digest = t.digest;
CREATE TABLE blob_links_v2(repository_id INTEGER NOT NULL REFERENCES repositories(id), digest TEXT NOT NULL, created INTEGER NOT NULL,
    PRIMARY KEY(repository_id, digest)) WITHOUT ROWID;
INSERT INTO blob_links_v2 SELECT r.id, l.digest, l.created FROM blob_links l JOIN repositories_v2 r ON r.name = l.repository;
CREATE TABLE manifest_pulls_v2(manifest_id INTEGER PRIMARY KEY REFERENCES manifests(id) ON DELETE CASCADE, last_pulled INTEGER NOT NULL);
INSERT INTO manifest_pulls_v2 SELECT m.id, p.last_pulled FROM manifest_pulls p
    JOIN repositories_v2 r ON r.name = p.repository JOIN manifests_v2 m ON m.repository_id = r.id AND m.digest = p.digest;
DROP TABLE manifest_pulls; DROP TABLE tags; DROP TABLE manifest_refs; DROP TABLE blob_links; DROP TABLE manifests; DROP TABLE repositories;
ALTER TABLE repositories_v2 RENAME TO repositories; ALTER TABLE manifests_v2 RENAME TO manifests;
ALTER TABLE manifest_refs_v2 RENAME TO manifest_refs; ALTER TABLE tags_v2 RENAME TO tags;
ALTER TABLE blob_links_v2 RENAME TO blob_links; ALTER TABLE manifest_pulls_v2 RENAME TO manifest_pulls;
CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
CREATE INDEX manifest_refs_target ON manifest_refs(target, kind, repository_id);
CREATE INDEX tags_manifest ON tags(manifest_id);
CREATE INDEX blob_links_digest ON blob_links(digest);
UPDATE schema_info SET version = 2;
"""


def migrate(path):
    """Migrates the current database at path to the candidate; CPU and wall time, and the rows before and after."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before it
    c.execute("PRAGMA secure_delete=OFF")
    count = "SELECT (SELECT COUNT(*) FROM repositories), (SELECT COUNT(*) FROM manifests), (SELECT COUNT(*) FROM manifest_refs), (SELECT COUNT(*) FROM tags), (SELECT COUNT(*) FROM blob_links)"
    before = c.execute(count).fetchone()
    started, wall = cpu(), time.monotonic()
    c.execute("BEGIN")
    for statement in MIGRATE.split(";"):
        if statement.strip():
            c.execute(statement)
    assert not c.execute("PRAGMA foreign_key_check").fetchall()
    c.execute("COMMIT")
    spent = (cpu() - started, time.monotonic() - wall)
    after = c.execute(count).fetchone()
    c.close()
    return spent, before, after


def current_schema():
    with open(os.path.join(ROOT, "modules/ConnectedRegistry/Storage/MetadataSql.cs"), encoding="utf-8") as f:
        source = f.read()
    schema = re.search(r'public const string Schema = """(.*?)""";', source, re.S).group(1)
    return schema + "\nCREATE INDEX IF NOT EXISTS uploads_owner ON uploads(owner) WHERE owner IS NOT NULL;"


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def digest(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def connect(path):
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA secure_delete=OFF")  # off in the SQLite bundled with Microsoft.Data.Sqlite; on in some builds
    c.execute(f"PRAGMA foreign_keys={'ON' if FK == 'on' else 'OFF'}")
    return c


def seed(c, schema):
    c.executescript(current_schema() if schema == "current" else CANDIDATE)
    c.execute("BEGIN")
    at = 0
    for r in range(REPOS):
        repository = f"bench/r{r:04d}"
        blobs = (digest(repository + "/config"), digest(repository + "/layer"))
        if schema == "current":
            c.execute("INSERT INTO repositories(name, created) VALUES (?, 0)", (repository,))
            key = repository
        else:
            key = c.execute("INSERT INTO repositories(name, created) VALUES (?, 0)", (repository,)).lastrowid
        for blob in blobs:
            c.execute("INSERT INTO blob_links VALUES (?, ?, 0)", (key, blob))
        for t in range(TAGS):
            at += 1
            manifest = digest(f"{repository}:{t}")
            row = (key, manifest, "application/vnd.oci.image.manifest.v1+json", 450, os.urandom(225).hex().encode(),
                   "application/vnd.oci.image.config.v1+json", None, json.dumps({"n": str(t)}), at)
            cursor = c.execute("INSERT INTO manifests(" + ("repository" if schema == "current" else "repository_id")
                               + ", digest, media_type, size, content, artifact_type, subject, annotations, created) VALUES (?,?,?,?,?,?,?,?,?)", row)
            for blob in blobs:
                if schema == "current":
                    c.execute("INSERT INTO manifest_refs VALUES (?, ?, ?, 0)", (key, manifest, blob))
                else:
                    c.execute("INSERT INTO manifest_refs VALUES (?, ?, 0, ?)", (cursor.lastrowid, blob, key))
            c.execute("INSERT INTO tags VALUES (?, ?, ?, ?)", (key, f"1.{t}", manifest if schema == "current" else cursor.lastrowid, at))
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def sizes(c):
    try:
        rows = c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.OperationalError:
        return "no DBSTAT in this SQLite"
    return ", ".join(f"{name} {size / 1e6:.1f}" for name, size in rows if size > 100_000)


READ = {
    "current": ["SELECT repository, tag, digest, updated FROM tags",
                "SELECT repository, digest, size, created, subject FROM manifests",
                "SELECT repository, digest, target FROM manifest_refs WHERE kind = 1",
                "SELECT repository, digest, last_pulled FROM manifest_pulls"],
    "candidate": ["SELECT id, name FROM repositories",
                  "SELECT repository_id, tag, manifest_id, updated FROM tags",
                  "SELECT id, repository_id, digest, size, created, subject FROM manifests",
                  "SELECT manifest_id, target FROM manifest_refs WHERE kind = 1",
                  "SELECT manifest_id, last_pulled FROM manifest_pulls"],
}

SIZE = {
    "current": ("SELECT j.value->>0, r.target FROM json_each(?) j CROSS JOIN manifest_refs r ON r.repository = j.value->>1 AND r.digest = j.value->>2 AND r.kind = 0",
                "SELECT j.value, (SELECT COUNT(*) FROM manifest_refs r WHERE r.target = j.value AND r.kind = 0) FROM json_each(?) j"),
    "candidate": ("SELECT j.value->>0, r.target FROM json_each(?) j CROSS JOIN manifest_refs r ON r.manifest_id = j.value->>2 AND r.kind = 0",
                  "SELECT j.value, (SELECT COUNT(*) FROM manifest_refs r WHERE r.target = j.value AND r.kind = 0) FROM json_each(?) j"),
}


def read_and_size(c, schema, units):
    """The pass's read phase (its four queries: SQLite's share of it) and its sizing queries for the units removed."""
    started = cpu()
    for sql in READ[schema]:
        c.execute(sql).fetchall()
    read = cpu() - started
    started = cpu()
    refs, counts = SIZE[schema]
    targets = {row[1] for row in c.execute(refs, (json.dumps([[i, u[0], u[2]] for i, u in enumerate(units)]),))}
    c.execute(counts, (json.dumps(sorted(targets)),)).fetchall()
    return read, cpu() - started


def remove(c, schema):
    """Every tag but the newest KEEP of each repository, then the manifests nothing keeps: the pass's removal phase."""
    key = "repository" if schema == "current" else "repository_id"
    target = "digest" if schema == "current" else "manifest_id"
    rows = c.execute(f"SELECT {key}, tag, {target}, updated FROM tags").fetchall()
    by_repository = {}
    for row in rows:
        by_repository.setdefault(row[0], []).append(row)
    units = []
    for tags in by_repository.values():
        tags.sort(key=lambda x: -x[3])
        units += tags[KEEP:]
    read, size = read_and_size(c, schema, units)
    tags_sql, manifests_sql = REMOVE[schema]
    spent = {"tags": 0.0, "manifests": 0.0, "commits": 0.0}
    started, wall = cpu(), time.monotonic()
    for i in range(0, len(units), BATCH):
        batch = units[i:i + BATCH]
        c.execute("PRAGMA temp_store=MEMORY")
        c.execute("BEGIN")
        t0 = cpu()
        c.execute(tags_sql, (json.dumps(batch),))
        t1 = cpu()
        if schema == "candidate" and FK != "on":
            gone = json.dumps([r[0] for r in c.execute(manifests_sql.replace("DELETE FROM manifests WHERE id IN (", "SELECT id FROM manifests WHERE id IN (").replace("RETURNING id", ""), (json.dumps(batch),)).fetchall()])
            c.execute("DELETE FROM manifest_refs WHERE manifest_id IN (SELECT value FROM json_each(?))", (gone,))
            c.execute("DELETE FROM manifest_pulls WHERE manifest_id IN (SELECT value FROM json_each(?))", (gone,))
            c.execute("DELETE FROM manifests WHERE id IN (SELECT value FROM json_each(?))", (gone,))
        else:
            c.execute(manifests_sql, (json.dumps(batch),)).fetchall()
        t2 = cpu()
        c.execute("COMMIT")
        t3 = cpu()
        spent["tags"] += t1 - t0
        spent["manifests"] += t2 - t1
        spent["commits"] += t3 - t2
    left = c.execute("SELECT (SELECT COUNT(*) FROM tags), (SELECT COUNT(*) FROM manifests), (SELECT COUNT(*) FROM manifest_refs)").fetchone()
    assert left == (REPOS * KEEP, REPOS * KEEP, REPOS * KEEP * 2), left
    return cpu() - started, time.monotonic() - wall, spent, read, size


def main():
    print(f"SQLite {sqlite3.sqlite_version}, {REPOS} x {TAGS} tags, keep {KEEP}, batches of {BATCH}, foreign keys {FK}")
    with tempfile.TemporaryDirectory() as folder:
        for schema in SCHEMAS:
            path = os.path.join(folder, schema + ".db")
            c = connect(path)
            seed(c, schema)
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            if schema == "current" and os.environ.get("MIGRATE", "on") == "on":
                c.execute("INSERT INTO schema_info(version) VALUES (1)")
                copy = os.path.join(folder, "migrated.db")
                c.execute(f"VACUUM INTO '{copy}'")
                (spent, wall), before, after = migrate(copy)
                print(f"current -> candidate: migrated in {spent:.2f} s CPU, {wall:.2f} s wall; rows {before} -> {after}")
                os.remove(copy)
            print(f"{schema}: {pages} pages ({pages * 4096 / 1e6:.0f} MB): {sizes(c)}")
            if schema == "candidate":
                for name, sql in PLANS.items():
                    plan = "; ".join(row[3] for row in c.execute("EXPLAIN QUERY PLAN " + sql))
                    print(f"  plan, {name}: {plan}")
            total, wall, spent, read, size = remove(c, schema)
            parts = ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
            with open("/proc/loadavg", encoding="ascii") as f:
                load = " ".join(f.read().split()[:3])
            print(f"{schema}: read {read:.2f} s CPU, sizing {size:.2f} s CPU, removal {total:.2f} s CPU ({parts}), {wall:.2f} s wall, load {load}")
            c.close()


if __name__ == "__main__":
    sys.exit(main())
