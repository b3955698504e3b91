using ConnectedRegistry.Oci;
using Microsoft.Data.Sqlite;
using Newtonsoft.Json;

namespace ConnectedRegistry.Storage;

/// <summary>
/// Every SQL statement of the metadata database (<c>registry.db</c>): its schema and its queries, and no other
/// class writes SQL for it. Each query runs on the connection (and transaction) its caller got from
/// <see cref="MetadataDatabase.WriteAsync{T}"/> or <see cref="MetadataDatabase.Read{T}"/>, so that the caller
/// decides what shares one transaction. Times are Unix milliseconds.
/// </summary>
internal static class MetadataSql
{
    /// <summary>The reference kinds of <c>manifest_refs</c>.</summary>
    public const int KindBlob = 0;
    public const int KindManifest = 1;

    /// <summary>
    /// A child manifest of an index that the sync filter left out: the index was stored without it on purpose (its
    /// <see cref="KindManifest"/> reference stays, so the child is kept once it arrives). Checks of the store treat
    /// such a child as expected to be absent.
    /// </summary>
    public const int KindLeftOutChild = 2;

    public const string Schema = """
        CREATE TABLE IF NOT EXISTS schema_info(version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS repositories(
            name TEXT PRIMARY KEY,
            created INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS manifests(
            repository TEXT NOT NULL REFERENCES repositories(name),
            digest TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            content BLOB NOT NULL,
            artifact_type TEXT,
            subject TEXT,
            annotations TEXT,
            created INTEGER NOT NULL,
            PRIMARY KEY(repository, digest));
        CREATE INDEX IF NOT EXISTS manifests_subject ON manifests(repository, subject) WHERE subject IS NOT NULL;
        CREATE TABLE IF NOT EXISTS manifest_refs(
            repository TEXT NOT NULL,
            digest TEXT NOT NULL,
            target TEXT NOT NULL,
            kind INTEGER NOT NULL,
            PRIMARY KEY(repository, digest, target, kind),
            FOREIGN KEY(repository, digest) REFERENCES manifests(repository, digest) ON DELETE CASCADE);
        CREATE INDEX IF NOT EXISTS manifest_refs_target ON manifest_refs(target, kind, repository);
        CREATE TABLE IF NOT EXISTS tags(
            repository TEXT NOT NULL,
            tag TEXT NOT NULL,
            digest TEXT NOT NULL,
            updated INTEGER NOT NULL,
            PRIMARY KEY(repository, tag),
            FOREIGN KEY(repository, digest) REFERENCES manifests(repository, digest) ON DELETE CASCADE);
        CREATE INDEX IF NOT EXISTS tags_digest ON tags(repository, digest);
        CREATE TABLE IF NOT EXISTS blob_links(
            repository TEXT NOT NULL REFERENCES repositories(name),
            digest TEXT NOT NULL,
            created INTEGER NOT NULL,
            PRIMARY KEY(repository, digest));
        CREATE INDEX IF NOT EXISTS blob_links_digest ON blob_links(digest);
        CREATE TABLE IF NOT EXISTS uploads(
            id TEXT PRIMARY KEY,
            repository TEXT NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            owner TEXT);
        CREATE TABLE IF NOT EXISTS manifest_pulls(
            repository TEXT NOT NULL,
            digest TEXT NOT NULL,
            last_pulled INTEGER NOT NULL,
            PRIMARY KEY(repository, digest),
            FOREIGN KEY(repository, digest) REFERENCES manifests(repository, digest) ON DELETE CASCADE);
        """;

    /// <summary>
    /// Brings a database written before a column existed up to <see cref="Schema"/>: <c>uploads.owner</c> (the client
    /// identity that opened the session). Added columns are nullable, so an older module still reads and writes the
    /// database; the schema version does not change. Added tables (<c>manifest_pulls</c>) need nothing here:
    /// <see cref="Schema"/> creates what is missing, and an older module never reads them (its deletions of manifests
    /// still take their rows, by the foreign key).
    /// </summary>
    public static void Upgrade(SqliteConnection c, SqliteTransaction t)
    {
        if (c.Scalar("SELECT 1 FROM pragma_table_info('uploads') WHERE name='owner'", t) is null)
        {
            c.Execute("ALTER TABLE uploads ADD COLUMN owner TEXT", t);
        }

        c.Execute("CREATE INDEX IF NOT EXISTS uploads_owner ON uploads(owner) WHERE owner IS NOT NULL", t);
    }

    /// <summary>The schema version the database records, or null when it records none (a new file, or one from before <c>schema_info</c>).</summary>
    public static int? StoredSchemaVersion(SqliteConnection c) =>
        c.Scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_info'") is null
            ? null
            : c.Scalar("SELECT version FROM schema_info LIMIT 1") is { } version ? Convert.ToInt32(version, System.Globalization.CultureInfo.InvariantCulture) : null;

    public static string InsertSchemaVersion(int version) => $"INSERT INTO schema_info(version) VALUES ({version})";

    // ---- repositories ------------------------------------------------------------------------

    public static void EnsureRepository(SqliteConnection c, SqliteTransaction t, string repository, long now) =>
        c.Execute("INSERT OR IGNORE INTO repositories(name, created) VALUES ($r, $now)", t, ("$r", repository), ("$now", now));

    public static bool RepositoryExists(SqliteConnection c, string repository) =>
        c.Scalar("SELECT 1 FROM repositories WHERE name=$r", null, ("$r", repository)) is not null;

    public static IReadOnlyList<string> ListRepositories(SqliteConnection c, string? last, int? limit)
    {
        using var command = c.Command(
            "SELECT name FROM repositories r WHERE ($last IS NULL OR name > $last) AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository=r.name) ORDER BY name COLLATE BINARY LIMIT $n",
            null, ("$last", last), ("$n", (long?)limit ?? -1));
        using var reader = command.ExecuteReader();
        var list = new List<string>();
        while (reader.Read())
        {
            list.Add(reader.GetString(0));
        }

        return list;
    }

    public static long CountRepositories(SqliteConnection c) =>
        (long)(c.Scalar("SELECT COUNT(*) FROM repositories r WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository=r.name)") ?? 0L);

    // ---- blob links --------------------------------------------------------------------------

    public static bool IsLinked(SqliteConnection c, SqliteTransaction? t, string repository, Digest digest) =>
        c.Scalar("SELECT 1 FROM blob_links WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) is not null;

    public static void UpsertLink(SqliteConnection c, SqliteTransaction t, string repository, Digest digest, long now) =>
        c.Execute(
            "INSERT INTO blob_links(repository, digest, created) VALUES ($r, $d, $now) ON CONFLICT(repository, digest) DO UPDATE SET created=excluded.created",
            t, ("$r", repository), ("$d", digest.ToString()), ("$now", now));

    public static bool DeleteLink(SqliteConnection c, SqliteTransaction t, string repository, Digest digest) =>
        c.Execute("DELETE FROM blob_links WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) > 0;

    // ---- manifests ---------------------------------------------------------------------------

    public static bool ManifestExists(SqliteConnection c, SqliteTransaction? t, string repository, Digest digest) =>
        c.Scalar("SELECT 1 FROM manifests WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) is not null;

    /// <summary>Inserts a manifest row; false when the repository already held it (nothing changes then).</summary>
    public static bool InsertManifest(SqliteConnection c, SqliteTransaction t, string repository, Digest digest, ParsedManifest parsed, byte[] bytes, long now) =>
        c.Execute(
            """
            INSERT INTO manifests(repository, digest, media_type, size, content, artifact_type, subject, annotations, created)
            VALUES ($r, $d, $m, $s, $c, $a, $sub, $ann, $now)
            ON CONFLICT(repository, digest) DO NOTHING
            """,
            t,
            ("$r", repository), ("$d", digest.ToString()), ("$m", parsed.MediaType), ("$s", bytes.LongLength), ("$c", bytes),
            ("$a", parsed.EffectiveArtifactType), ("$sub", parsed.Subject?.Digest.ToString()),
            ("$ann", parsed.Annotations is null ? null : JsonConvert.SerializeObject(parsed.Annotations)), ("$now", now)) > 0;

    public static void InsertReference(SqliteConnection c, SqliteTransaction t, string repository, Digest digest, Digest target, int kind) =>
        c.Execute("INSERT OR IGNORE INTO manifest_refs(repository, digest, target, kind) VALUES ($r, $d, $t, $k)", t,
            ("$r", repository), ("$d", digest.ToString()), ("$t", target.ToString()), ("$k", kind));

    /// <summary>Children of <paramref name="index"/> recorded as left out by the sync filter that the repository still lacks.</summary>
    public static IReadOnlyList<Digest> LeftOutChildren(SqliteConnection c, SqliteTransaction? t, string repository, Digest index)
    {
        using var command = c.Command(
            $"SELECT r.target FROM manifest_refs r WHERE r.repository=$r AND r.digest=$d AND r.kind={KindLeftOutChild} AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository=r.repository AND m.digest=r.target)",
            t, ("$r", repository), ("$d", index.ToString()));
        using var reader = command.ExecuteReader();
        var list = new List<Digest>();
        while (reader.Read())
        {
            list.Add(Digest.Parse(reader.GetString(0)));
        }

        return list;
    }

    public static StoredManifest? GetManifest(SqliteConnection c, string repository, Reference reference)
    {
        const string ByDigest = "SELECT digest, media_type, content FROM manifests WHERE repository=$r AND digest=$x";
        const string ByTag = "SELECT m.digest, m.media_type, m.content FROM tags t JOIN manifests m ON m.repository=t.repository AND m.digest=t.digest WHERE t.repository=$r AND t.tag=$x";
        using var command = c.Command(reference.IsDigest ? ByDigest : ByTag, null, ("$r", repository), ("$x", reference.ToString()));
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? new StoredManifest(repository, Digest.Parse(reader.GetString(0)), reader.GetString(1), (byte[])reader[2])
            : null;
    }

    public static bool DeleteManifest(SqliteConnection c, SqliteTransaction t, string repository, Digest digest) =>
        c.Execute("DELETE FROM manifests WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) > 0;

    public static IReadOnlyList<Descriptor> ListReferrers(SqliteConnection c, string repository, Digest subject, string? artifactType)
    {
        using var command = c.Command(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository=$r AND subject=$s AND ($a IS NULL OR artifact_type=$a) ORDER BY created, digest",
            null, ("$r", repository), ("$s", subject.ToString()), ("$a", artifactType));
        using var reader = command.ExecuteReader();
        var list = new List<Descriptor>();
        while (reader.Read())
        {
            var annotations = reader.IsDBNull(4) ? null : JsonConvert.DeserializeObject<Dictionary<string, string>>(reader.GetString(4));
            list.Add(new Descriptor(
                reader.GetString(1),
                Digest.Parse(reader.GetString(0)),
                reader.GetInt64(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                annotations));
        }

        return list;
    }

    // ---- pulls -------------------------------------------------------------------------------

    /// <summary>
    /// Writes last pull times (Unix milliseconds), keeping the later of the stored and the given one; a manifest deleted
    /// since its pull is skipped (its row would break the foreign key). The number of rows written.
    /// </summary>
    public static int RecordPulls(SqliteConnection c, SqliteTransaction t, IEnumerable<(string Repository, string Digest, long At)> pulls)
    {
        // One prepared statement for the whole batch.
        using var command = c.Command(
            """
            INSERT INTO manifest_pulls(repository, digest, last_pulled)
            SELECT $r, $d, $at WHERE EXISTS (SELECT 1 FROM manifests WHERE repository=$r AND digest=$d)
            ON CONFLICT(repository, digest) DO UPDATE SET last_pulled=MAX(last_pulled, excluded.last_pulled)
            """,
            t, ("$r", ""), ("$d", ""), ("$at", 0L));
        var written = 0;
        foreach (var (repository, digest, at) in pulls)
        {
            command.Parameters["$r"].Value = repository;
            command.Parameters["$d"].Value = digest;
            command.Parameters["$at"].Value = at;
            written += command.ExecuteNonQuery();
        }

        return written;
    }

    /// <summary>The last pull time (Unix milliseconds) of each manifest of the repository that was ever pulled.</summary>
    public static Dictionary<Digest, long> LastPulls(SqliteConnection c, string repository)
    {
        using var command = c.Command("SELECT digest, last_pulled FROM manifest_pulls WHERE repository=$r", null, ("$r", repository));
        using var reader = command.ExecuteReader();
        var map = new Dictionary<Digest, long>();
        while (reader.Read())
        {
            map[Digest.Parse(reader.GetString(0))] = reader.GetInt64(1);
        }

        return map;
    }

    // ---- tags --------------------------------------------------------------------------------

    public static void UpsertTag(SqliteConnection c, SqliteTransaction t, string repository, string tag, Digest digest, long now) =>
        c.Execute(
            "INSERT INTO tags(repository, tag, digest, updated) VALUES ($r, $t, $d, $now) ON CONFLICT(repository, tag) DO UPDATE SET digest=excluded.digest, updated=excluded.updated",
            t, ("$r", repository), ("$t", tag), ("$d", digest.ToString()), ("$now", now));

    public static bool DeleteTag(SqliteConnection c, SqliteTransaction t, string repository, string tag) =>
        c.Execute("DELETE FROM tags WHERE repository=$r AND tag=$t", t, ("$r", repository), ("$t", tag)) > 0;

    public static IReadOnlyList<TagEntry> ListTags(SqliteConnection c, string repository, string? last, int? limit)
    {
        using var command = c.Command(
            "SELECT tag, digest FROM tags WHERE repository=$r AND ($last IS NULL OR tag > $last) ORDER BY tag COLLATE BINARY LIMIT $n",
            null, ("$r", repository), ("$last", last), ("$n", (long?)limit ?? -1));
        using var reader = command.ExecuteReader();
        var list = new List<TagEntry>();
        while (reader.Read())
        {
            list.Add(new TagEntry(reader.GetString(0), Digest.Parse(reader.GetString(1))));
        }

        return list;
    }

    // ---- upload sessions ---------------------------------------------------------------------

    public static void InsertUpload(SqliteConnection c, SqliteTransaction t, string id, string repository, string? owner, long now) =>
        c.Execute("INSERT INTO uploads(id, repository, created, updated, owner) VALUES ($id, $r, $now, $now, $o)", t, ("$id", id), ("$r", repository), ("$now", now), ("$o", owner));

    /// <summary>Open sessions of the client identity <paramref name="owner"/>.</summary>
    public static long CountUploadsOf(SqliteConnection c, SqliteTransaction? t, string owner) =>
        Convert.ToInt64(c.Scalar("SELECT COUNT(*) FROM uploads WHERE owner=$o", t, ("$o", owner)), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The open sessions of the client identity that has the most.</summary>
    public static long MostUploadsOfOneOwner(SqliteConnection c) =>
        Convert.ToInt64(c.Scalar("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM uploads WHERE owner IS NOT NULL GROUP BY owner)") ?? 0L, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Open sessions in <paramref name="repository"/>, or in the whole registry when it is null.</summary>
    public static long CountUploads(SqliteConnection c, SqliteTransaction? t, string? repository) =>
        Convert.ToInt64(
            repository is null
                ? c.Scalar("SELECT COUNT(*) FROM uploads", t)
                : c.Scalar("SELECT COUNT(*) FROM uploads WHERE repository=$r", t, ("$r", repository)),
            System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The open sessions of the repository that has the most.</summary>
    public static long MostUploadsInOneRepository(SqliteConnection c) =>
        Convert.ToInt64(c.Scalar("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM uploads GROUP BY repository)") ?? 0L, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The session's repository and creation time, or null when there is no such session.</summary>
    public static (string Repository, long Created)? GetUpload(SqliteConnection c, string id)
    {
        using var command = c.Command("SELECT repository, created FROM uploads WHERE id=$id", null, ("$id", id));
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetString(0), reader.GetInt64(1)) : null;
    }

    public static void TouchUpload(SqliteConnection c, SqliteTransaction t, string id, long now) =>
        c.Execute("UPDATE uploads SET updated=$now WHERE id=$id", t, ("$now", now), ("$id", id));

    /// <summary>Every session with its last activity.</summary>
    public static Dictionary<string, long> ListUploads(SqliteConnection c)
    {
        using var command = c.Command("SELECT id, updated FROM uploads");
        using var reader = command.ExecuteReader();
        var map = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            map[reader.GetString(0)] = reader.GetInt64(1);
        }

        return map;
    }

    /// <param name="idleBefore">When set, the session is only deleted if its last activity is older than this.</param>
    public static bool DeleteUpload(SqliteConnection c, SqliteTransaction t, string id, long? idleBefore) =>
        c.Execute("DELETE FROM uploads WHERE id=$id AND ($idle IS NULL OR updated < $idle)", t, ("$id", id), ("$idle", idleBefore)) > 0;

    // ---- retention ---------------------------------------------------------------------------

    /// <summary>Every tag with its manifest and the time it was pushed or synced (Unix ms), for a retention pass.</summary>
    public static List<RetentionTag> RetentionTags(SqliteConnection c)
    {
        using var command = c.Command("SELECT repository, tag, digest, updated FROM tags");
        using var reader = command.ExecuteReader();
        var list = new List<RetentionTag>();
        while (reader.Read())
        {
            list.Add(new RetentionTag(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3)));
        }

        return list;
    }

    /// <summary>
    /// Every manifest's key and subject, for a retention pass: from the key's covering index and the subject's index, so
    /// the rows themselves (their bytes inline, over several pages for a large manifest) are not read. Sizes and creation
    /// times are asked for the manifests that need them (<see cref="ManifestSizes"/>, <see cref="CreatedOf"/>).
    /// </summary>
    public static List<RetentionManifest> RetentionManifests(SqliteConnection c)
    {
        var subjects = new Dictionary<(string, string), string>();
        using (var command = c.Command("SELECT repository, digest, subject FROM manifests WHERE subject IS NOT NULL"))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                subjects[(reader.GetString(0), reader.GetString(1))] = reader.GetString(2);
            }
        }

        using var keys = c.Command("SELECT repository, digest FROM manifests");
        using var rows = keys.ExecuteReader();
        var list = new List<RetentionManifest>();
        while (rows.Read())
        {
            var (repository, digest) = (rows.GetString(0), rows.GetString(1));
            list.Add(new RetentionManifest(repository, digest, subjects.Count == 0 ? null : subjects.GetValueOrDefault((repository, digest))));
        }

        return list;
    }

    /// <summary>When each of the given manifests was created (Unix ms), looked up by key (the list goes in as one JSON parameter); a manifest gone meanwhile is left out.</summary>
    public static Dictionary<(string Repository, string Digest), long> CreatedOf(SqliteConnection c, IEnumerable<(string Repository, string Digest)> manifests)
    {
        var list = manifests.ToList();
        var map = new Dictionary<(string, string), long>();
        foreach (var (position, created) in ManifestColumnByKey(c, list, "created"))
        {
            map[list[position]] = created;
        }

        return map;
    }

    /// <summary>The size of each listed manifest's bytes, by position in the list (0 for one gone meanwhile), looked up by key.</summary>
    public static long[] ManifestSizes(SqliteConnection c, IReadOnlyList<(string Repository, string Digest)> manifests)
    {
        var sizes = new long[manifests.Count];
        foreach (var (position, size) in ManifestColumnByKey(c, manifests, "size"))
        {
            sizes[position] = size;
        }

        return sizes;
    }

    /// <summary>
    /// An integer column of each listed manifest that is still there, with its position in the list: one statement, the
    /// list as one JSON parameter joined on the manifests' key.
    /// </summary>
    private static IEnumerable<(int Position, long Value)> ManifestColumnByKey(SqliteConnection c, IReadOnlyList<(string Repository, string Digest)> manifests, string column)
    {
        using var command = c.Command(
            $"SELECT j.key, m.{column} FROM json_each($list) j JOIN manifests m ON m.repository = j.value->>0 AND m.digest = j.value->>1",
            null, ("$list", JsonConvert.SerializeObject(manifests.Select(m => new[] { m.Repository, m.Digest }))));
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return ((int)reader.GetInt64(0), reader.GetInt64(1));
        }
    }

    /// <summary>Every index → child manifest reference (kind 1).</summary>
    public static List<(string Repository, string Index, string Child)> IndexChildren(SqliteConnection c)
    {
        using var command = c.Command($"SELECT repository, digest, target FROM manifest_refs WHERE kind={KindManifest}");
        using var reader = command.ExecuteReader();
        var list = new List<(string, string, string)>();
        while (reader.Read())
        {
            list.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }

        return list;
    }

    /// <summary>The last pull time (Unix ms) of every manifest ever pulled, in every repository.</summary>
    public static Dictionary<(string Repository, string Digest), long> AllLastPulls(SqliteConnection c)
    {
        using var command = c.Command("SELECT repository, digest, last_pulled FROM manifest_pulls");
        using var reader = command.ExecuteReader();
        var map = new Dictionary<(string, string), long>();
        while (reader.Read())
        {
            map[(reader.GetString(0), reader.GetString(1))] = reader.GetInt64(2);
        }

        return map;
    }

    /// <summary>
    /// For the given manifests: the bytes of the blobs (kind 0) each references (by position in the list), and the bytes
    /// of the blobs no other manifest of any repository references (what garbage collection frees once they are gone).
    /// Blob sizes come from <paramref name="blobSize"/> (the files), asked once per blob. Two queries: the list goes in as
    /// one JSON parameter joined on the references' primary key (no temporary table to fill row by row), and each blob's
    /// count of references, compared with those from the list, says whether anything else keeps it.
    /// </summary>
    public static (long[] PerManifest, long Unshared) BlobBytesOf(SqliteConnection c, IReadOnlyList<(string Repository, string Digest)> manifests, Func<string, long> blobSize)
    {
        var perManifest = new long[manifests.Count];
        var first = new HashSet<(string, string)>();
        var list = new List<object[]>(manifests.Count);
        for (var i = 0; i < manifests.Count; i++)
        {
            if (first.Add(manifests[i]))
            {
                list.Add([i, manifests[i].Repository, manifests[i].Digest]); // a manifest listed twice counts once, at its first place
            }
        }

        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var fromList = new Dictionary<string, long>(StringComparer.Ordinal);
        using (var refs = c.Command(
            $"SELECT j.value->>0, r.target FROM json_each($list) j CROSS JOIN manifest_refs r ON r.repository = j.value->>1 AND r.digest = j.value->>2 AND r.kind = {KindBlob}",
            null, ("$list", JsonConvert.SerializeObject(list))))
        using (var reader = refs.ExecuteReader())
        {
            while (reader.Read())
            {
                var target = reader.GetString(1);
                if (!sizes.TryGetValue(target, out var size))
                {
                    sizes[target] = size = blobSize(target);
                }

                perManifest[reader.GetInt64(0)] += size;
                fromList[target] = fromList.GetValueOrDefault(target) + 1;
            }
        }

        long unshared = 0;
        using (var counts = c.Command(
            $"SELECT j.value, (SELECT COUNT(*) FROM manifest_refs r WHERE r.target = j.value AND r.kind = {KindBlob}) FROM json_each($targets) j",
            null, ("$targets", JsonConvert.SerializeObject(fromList.Keys))))
        using (var reader = counts.ExecuteReader())
        {
            while (reader.Read())
            {
                var target = reader.GetString(0);
                if (reader.GetInt64(1) == fromList[target])
                {
                    unshared += sizes[target]; // every reference to it is from the list
                }
            }
        }

        return (perManifest, unshared);
    }

    /// <summary>
    /// Removes a batch of a retention pass's tags in one statement, each only while it still points at the same manifest
    /// with the same push time (a push meanwhile wins); the tags removed. The batch goes in as one JSON parameter and is
    /// joined on the primary key: one statement per batch instead of one per tag.
    /// </summary>
    public static HashSet<(string Repository, string Tag)> DeleteUnchangedTags(SqliteConnection c, SqliteTransaction t, IEnumerable<(string Repository, string Tag, string Digest, long Updated)> tags)
    {
        using var command = c.Command(
            """
            DELETE FROM tags WHERE rowid IN (
                SELECT t.rowid FROM json_each($list) j
                JOIN tags t ON t.repository = j.value->>0 AND t.tag = j.value->>1
                WHERE t.digest = j.value->>2 AND t.updated = j.value->>3)
            RETURNING repository, tag
            """,
            t, ("$list", JsonConvert.SerializeObject(tags.Select(x => new object[] { x.Repository, x.Tag, x.Digest, x.Updated }))));
        var removed = new HashSet<(string, string)>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            removed.Add((reader.GetString(0), reader.GetString(1)));
        }

        return removed;
    }

    /// <summary>
    /// Removes those of a batch's manifests that nothing keeps: no tag, no index of the repository lists it, its subject
    /// (if any) gone; their references and pull times go by the foreign keys. One statement per round, repeated while a
    /// round removed some and others are left (a child goes in the round after its index, a referrer after its subject);
    /// the manifests removed.
    /// </summary>
    public static HashSet<(string Repository, string Digest)> DeleteUnkeptManifests(SqliteConnection c, SqliteTransaction t, IReadOnlyCollection<(string Repository, string Digest)> manifests)
    {
        var removed = new HashSet<(string, string)>();
        var left = manifests.Distinct().ToList();
        while (left.Count > 0)
        {
            using var command = c.Command(
                $"""
                DELETE FROM manifests WHERE rowid IN (
                    SELECT m.rowid FROM json_each($list) j
                    JOIN manifests m ON m.repository = j.value->>0 AND m.digest = j.value->>1
                    WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)
                      AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository = m.repository AND r.target = m.digest AND r.kind = {KindManifest})
                      AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject)))
                RETURNING repository, digest
                """,
                t, ("$list", JsonConvert.SerializeObject(left.Select(x => new[] { x.Repository, x.Digest }))));
            var round = 0;
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    removed.Add((reader.GetString(0), reader.GetString(1)));
                    round++;
                }
            }

            if (round == 0)
            {
                break;
            }

            left.RemoveAll(removed.Contains);
        }

        return removed;
    }

    // ---- eviction ----------------------------------------------------------------------------

    /// <summary>True when an index of the repository lists the manifest as one of its entries.</summary>
    public static bool IsListedByIndex(SqliteConnection c, SqliteTransaction t, string repository, Digest digest) =>
        c.Scalar($"SELECT 1 FROM manifest_refs WHERE repository=$r AND target=$d AND kind={KindManifest} AND digest<>$d LIMIT 1", t,
            ("$r", repository), ("$d", digest.ToString())) is not null;

    /// <summary>The tags of the repository that point at the manifest.</summary>
    public static List<string> TagsOf(SqliteConnection c, SqliteTransaction t, string repository, Digest digest)
    {
        using var command = c.Command("SELECT tag FROM tags WHERE repository=$r AND digest=$d ORDER BY tag", t, ("$r", repository), ("$d", digest.ToString()));
        using var reader = command.ExecuteReader();
        var list = new List<string>();
        while (reader.Read())
        {
            list.Add(reader.GetString(0));
        }

        return list;
    }

    /// <summary>The blobs (config, layers) the manifest references.</summary>
    public static List<Digest> BlobsOf(SqliteConnection c, SqliteTransaction t, string repository, Digest digest)
    {
        using var command = c.Command($"SELECT target FROM manifest_refs WHERE repository=$r AND digest=$d AND kind={KindBlob}", t, ("$r", repository), ("$d", digest.ToString()));
        using var reader = command.ExecuteReader();
        var list = new List<Digest>();
        while (reader.Read())
        {
            list.Add(Digest.Parse(reader.GetString(0)));
        }

        return list;
    }

    /// <summary>
    /// Removes the repository's link to a blob when no manifest of the repository references it and the link is older
    /// than the cutoff (a blob just uploaded or fetched for a manifest not stored yet keeps its link, as in garbage collection).
    /// </summary>
    public static bool DeleteLinkIfUnreferenced(SqliteConnection c, SqliteTransaction t, string repository, Digest blob, long cutoff) =>
        c.Execute(
            $"""
            DELETE FROM blob_links
            WHERE repository=$r AND digest=$b AND created < $cutoff
              AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository=$r AND r.target=$b AND r.kind={KindBlob})
            """,
            t, ("$r", repository), ("$b", blob.ToString()), ("$cutoff", cutoff)) > 0;

    /// <summary>Every tag of one repository with its manifest and push/sync time, read inside an eviction's write (retention's keep rules rank them).</summary>
    public static List<RetentionTag> RepositoryTags(SqliteConnection c, SqliteTransaction t, string repository)
    {
        using var command = c.Command("SELECT tag, digest, updated FROM tags WHERE repository=$r", t, ("$r", repository));
        using var reader = command.ExecuteReader();
        var list = new List<RetentionTag>();
        while (reader.Read())
        {
            list.Add(new RetentionTag(repository, reader.GetString(0), reader.GetString(1), reader.GetInt64(2)));
        }

        return list;
    }

    /// <summary>The manifest's last pull time written (Unix ms), or null when it was never pulled.</summary>
    public static long? LastPull(SqliteConnection c, SqliteTransaction t, string repository, Digest digest) =>
        c.Scalar("SELECT last_pulled FROM manifest_pulls WHERE repository=$r AND digest=$d", t, ("$r", repository), ("$d", digest.ToString())) is long at ? at : null;

    // ---- garbage collection ------------------------------------------------------------------

    /// <summary>One round of deleting untagged, unreferenced manifests (whose subject is gone) created before the cutoff.</summary>
    public static int DeleteUnreferencedManifests(SqliteConnection c, SqliteTransaction t, long cutoff) =>
        c.Execute(
            """
            DELETE FROM manifests AS m
            WHERE m.created < $cutoff
              AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = m.repository AND t.digest = m.digest)
              AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository = m.repository AND r.target = m.digest AND r.kind = 1)
              AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository = m.repository AND s.digest = m.subject))
            """,
            t,
            ("$cutoff", cutoff));

    /// <summary>Deletes repository↔blob links no manifest of that repository references, created before the cutoff.</summary>
    public static int DeleteUnreferencedLinks(SqliteConnection c, SqliteTransaction t, long cutoff) =>
        c.Execute(
            """
            DELETE FROM blob_links AS l
            WHERE l.created < $cutoff
              AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repository = l.repository AND r.target = l.digest AND r.kind = 0)
            """,
            t,
            ("$cutoff", cutoff));

    /// <summary>Of <paramref name="digests"/>, the blobs no repository links and no manifest references (one query for the lot).</summary>
    public static HashSet<Digest> UnusedBlobs(SqliteConnection c, SqliteTransaction t, IEnumerable<Digest> digests)
    {
        using var command = c.Command(
            $"""
            SELECT j.value FROM json_each($list) j
            WHERE NOT EXISTS (SELECT 1 FROM blob_links l WHERE l.digest = j.value)
              AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.target = j.value AND r.kind = {KindBlob})
            """,
            t, ("$list", JsonConvert.SerializeObject(digests.Select(d => d.ToString()))));
        using var reader = command.ExecuteReader();
        var unused = new HashSet<Digest>();
        while (reader.Read())
        {
            unused.Add(Digest.Parse(reader.GetString(0)));
        }

        return unused;
    }
}
