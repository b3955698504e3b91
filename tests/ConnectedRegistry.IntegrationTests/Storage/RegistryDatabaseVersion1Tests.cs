using System.Net;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// A <c>registry.db</c> as devices in the field hold it (schema version 1), written with that version's own SQL rather
/// than by this build, is read whole by this build: manifests by tag and by digest, an index, referrers, the tag list and
/// its pages, the catalog, blobs, last pull times, an open upload session, and a garbage collection (untagged manifests
/// included) that keeps everything referenced and removes only what nothing references. The acceptance test of any
/// change to the schema: a migration from version 1 has to keep this passing unchanged.
/// </summary>
public sealed class RegistryDatabaseVersion1Tests
{
    /// <summary>
    /// Version 1 of <c>registry.db</c>, frozen: <c>MetadataSql.Schema</c> and the <c>uploads_owner</c> index of its
    /// upgrade as they were when devices last wrote it. Deliberately a copy, not a reference: it must not follow the code.
    /// </summary>
    private const string Version1 = """
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
        CREATE INDEX IF NOT EXISTS uploads_owner ON uploads(owner) WHERE owner IS NOT NULL;
        INSERT INTO schema_info(version) VALUES (1);
        """;

    private const string App = "legacy/app";
    private const string Other = "legacy/other";
    private const long LongAgo = 1_600_000_000_000; // 2020: older than any grace period
    private const long PulledAt = 1_700_000_000_000;

    [Fact]
    public async Task A_version_1_database_written_with_its_own_sql_is_read_whole_and_collected_right()
    {
        var data = TempDirectory.Create("registry-v1");
        var image = TestContent.Image("v1-image");
        var index = TestContent.Index([(image, "amd64")]);
        var signature = TestContent.Artifact("v1-signature", "application/vnd.example.signature", image.Manifest);
        var other = TestContent.Image("v1-other");
        var stale = TestContent.Image("v1-stale"); // untagged, in no index, no subject: what collection removes
        var orphan = new TestBlob(TestContent.Bytes("v1-orphan", 300), TestContent.LayerType);
        const string Upload = "0123456789abcdef0123456789abcdef";
        try
        {
            WriteVersion1(data, image, index, signature, other, stale, orphan, Upload);
            // Collection of untagged manifests on (the signature has no tag and must stay by its subject), no grace.
            Directory.CreateDirectory(Path.Combine(data, "twin"));
            File.WriteAllText(Path.Combine(data, "twin", "desired.json"), """{ "schemaVersion": "1.0", "garbageCollection": { "deleteUntaggedManifests": true } }""");

            var registry = await RegistryInstance.StartAsync(data, ["--gc-grace", "00:00:00", "--pull-flush-interval", "01:00:00"]);
            try
            {
                var client = registry.Client;
                await AssertManifestAsync(client, App, "v1", image.Manifest);
                await AssertManifestAsync(client, App, "stable", image.Manifest);
                await AssertManifestAsync(client, App, image.Manifest.Digest.ToString(), image.Manifest);
                await AssertManifestAsync(client, App, "multi", index);
                await AssertManifestAsync(client, App, signature.Manifest.Digest.ToString(), signature.Manifest);
                await AssertManifestAsync(client, Other, "1.0", other.Manifest);

                var referrers = JObject.Parse(await client.GetStringAsync($"/v2/{App}/referrers/{image.Manifest.Digest}"));
                var referrer = Assert.Single((JArray)referrers["manifests"]!);
                Assert.Equal(signature.Manifest.Digest.ToString(), (string?)referrer["digest"]);
                Assert.Equal("application/vnd.example.signature", (string?)referrer["artifactType"]);

                Assert.Equal(["multi", "stable", "v1"], Strings(JObject.Parse(await client.GetStringAsync($"/v2/{App}/tags/list"))["tags"]));
                Assert.Equal(["stable"], Strings(JObject.Parse(await client.GetStringAsync($"/v2/{App}/tags/list?n=1&last=multi"))["tags"]));
                Assert.Equal([App, Other], Strings(JObject.Parse(await client.GetStringAsync("/v2/_catalog"))["repositories"]));
                Assert.Equal(image.Layers[0].Bytes, await client.GetByteArrayAsync($"/v2/{App}/blobs/{image.Layers[0].Digest}"));

                var store = registry.App.Services.GetRequiredService<RegistryStore>();
                Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(PulledAt), store.GetLastPulls(App)[image.Manifest.Digest]);

                using (var session = await client.GetAsync($"/v2/{App}/blobs/uploads/{Upload}"))
                {
                    Assert.Equal(HttpStatusCode.NoContent, session.StatusCode);
                    Assert.Equal("0-4", session.Headers.GetValues("Range").Single());
                }

                var collected = await registry.App.Services.GetRequiredService<IGarbageCollector>().CollectAsync(CancellationToken.None);
                Assert.Equal(1, collected.ManifestsDeleted); // the stale one: the others are tagged, listed by the index or have their subject
                Assert.Equal(1 + stale.Blobs.Count(), collected.BlobsDeleted); // and the orphan, linked but referenced by no manifest
                foreach (var blob in stale.Blobs.Append(orphan))
                {
                    Assert.False(File.Exists(new DataLayout(data).BlobPath(blob.Digest)), $"{blob.Digest} kept");
                }

                using (var gone = await client.GetAsync($"/v2/{App}/manifests/{stale.Manifest.Digest}"))
                {
                    Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
                }

                foreach (var blob in image.Blobs.Concat(signature.Blobs).Concat(other.Blobs))
                {
                    Assert.True(File.Exists(new DataLayout(data).BlobPath(blob.Digest)), $"{blob.Digest} collected");
                }

                await AssertManifestAsync(client, App, signature.Manifest.Digest.ToString(), signature.Manifest);
                await AssertManifestAsync(client, App, "multi", index);
            }
            finally
            {
                await registry.DisposeAsync();
            }

            StoreVerifier.Verify(data);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    private static async Task AssertManifestAsync(HttpClient client, string repository, string reference, TestBlob manifest)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/manifests/{reference}");
        request.Headers.Accept.ParseAdd(manifest.MediaType);
        using var response = await client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{repository}:{reference} answered {(int)response.StatusCode}");
        Assert.Equal(manifest.Digest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(manifest.Bytes, await response.Content.ReadAsByteArrayAsync());
    }

    private static string[] Strings(JToken? array) => [.. ((JArray)array!).Select(t => (string)t!)];

    /// <summary>The data root a version 1 module left: its rows written with version 1's SQL, the blob files in place.</summary>
    private static void WriteVersion1(string data, TestImage image, TestBlob index, TestImage signature, TestImage other, TestImage stale, TestBlob orphan, string upload)
    {
        var layout = new DataLayout(data);
        foreach (var blob in image.Blobs.Concat(signature.Blobs).Concat(other.Blobs).Concat(stale.Blobs).Append(orphan))
        {
            var path = layout.BlobPath(blob.Digest);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, blob.Bytes);
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddDays(-30));
        }

        Directory.CreateDirectory(layout.UploadDirectory(upload));
        File.WriteAllBytes(layout.UploadDataPath(upload), Encoding.ASCII.GetBytes("hello"));

        using var connection = new SqliteConnection($"Data Source={layout.Database};Pooling=False;Foreign Keys=True");
        connection.Open();
        using var transaction = connection.BeginTransaction();
        void Run(string sql, params (string Name, object? Value)[] parameters)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }

            command.ExecuteNonQuery();
        }

        void Manifest(string repository, TestBlob manifest, params string[] tags)
        {
            var parsed = ManifestParser.Parse(manifest.Bytes, manifest.MediaType);
            Run("INSERT INTO manifests(repository, digest, media_type, size, content, artifact_type, subject, annotations, created) VALUES ($r, $d, $m, $s, $c, $a, $sub, $ann, $now)",
                ("$r", repository), ("$d", manifest.Digest.ToString()), ("$m", parsed.MediaType), ("$s", manifest.Size), ("$c", manifest.Bytes),
                ("$a", parsed.EffectiveArtifactType), ("$sub", parsed.Subject?.Digest.ToString()),
                ("$ann", parsed.Annotations is null ? null : JsonConvert.SerializeObject(parsed.Annotations)), ("$now", LongAgo));
            foreach (var (target, kind) in parsed.RequiredBlobs.Select(b => (b.Digest, 0)).Concat(parsed.Manifests.Select(m => (m.Digest, 1))))
            {
                Run("INSERT OR IGNORE INTO manifest_refs(repository, digest, target, kind) VALUES ($r, $d, $t, $k)",
                    ("$r", repository), ("$d", manifest.Digest.ToString()), ("$t", target.ToString()), ("$k", kind));
            }

            foreach (var blob in parsed.RequiredBlobs)
            {
                Run("INSERT OR IGNORE INTO blob_links(repository, digest, created) VALUES ($r, $d, $now)", ("$r", repository), ("$d", blob.Digest.ToString()), ("$now", LongAgo));
            }

            foreach (var tag in tags)
            {
                Run("INSERT INTO tags(repository, tag, digest, updated) VALUES ($r, $t, $d, $now)", ("$r", repository), ("$t", tag), ("$d", manifest.Digest.ToString()), ("$now", LongAgo));
            }
        }

        Run(Version1);
        foreach (var repository in new[] { App, Other })
        {
            Run("INSERT INTO repositories(name, created) VALUES ($r, $now)", ("$r", repository), ("$now", LongAgo));
        }

        Manifest(App, image.Manifest, "v1", "stable");
        Manifest(App, index, "multi");
        Manifest(App, signature.Manifest);
        Manifest(App, stale.Manifest);
        Manifest(Other, other.Manifest, "1.0");
        Run("INSERT INTO blob_links(repository, digest, created) VALUES ($r, $d, $now)", ("$r", App), ("$d", orphan.Digest.ToString()), ("$now", LongAgo));
        Run("INSERT INTO manifest_pulls(repository, digest, last_pulled) VALUES ($r, $d, $at)", ("$r", App), ("$d", image.Manifest.Digest.ToString()), ("$at", PulledAt));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(); // a session active now, not one the purge takes
        Run("INSERT INTO uploads(id, repository, created, updated, owner) VALUES ($id, $r, $now, $now, 'client-a')", ("$id", upload), ("$r", App), ("$now", now));
        transaction.Commit();
    }
}
