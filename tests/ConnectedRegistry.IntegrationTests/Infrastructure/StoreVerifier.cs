using System.Security.Cryptography;
using ConnectedRegistry.Oci;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>Checks a data root from the outside (registry stopped or running): the invariants a crash or a race must never break.</summary>
public static class StoreVerifier
{
    /// <summary>
    /// Every blob's bytes hash to its name; every manifest's references exist, but for index entries the sync's
    /// platform filter left out (recorded with the index); the database is sound.
    /// </summary>
    public static void Verify(string dataRoot)
    {
        var blobs = Path.Combine(dataRoot, "blobs", "sha256");
        var stored = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.Exists(blobs) ? Directory.GetFiles(blobs, "*", SearchOption.AllDirectories) : [])
        {
            using var stream = File.OpenRead(file);
            var hex = Convert.ToHexStringLower(SHA256.HashData(stream));
            Assert.Equal(Path.GetFileName(file), hex);
            Assert.Equal(Path.GetFileName(Path.GetDirectoryName(file)), hex[..2]);
            stored.Add("sha256:" + hex);
        }

        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataRoot, "registry.db")};Pooling=False");
        connection.Open();
        using (var check = connection.CreateCommand())
        {
            check.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", check.ExecuteScalar());
            check.CommandText = "PRAGMA foreign_key_check";
            using var violations = check.ExecuteReader();
            Assert.False(violations.Read(), "foreign key violations in the database");
        }

        using var command = connection.CreateCommand();
        command.CommandText = "SELECT repository, digest, media_type, content FROM manifests";
        using var reader = command.ExecuteReader();
        var manifests = new List<(string Repository, string Digest, string MediaType, byte[] Content)>();
        while (reader.Read())
        {
            manifests.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), (byte[])reader[3]));
        }

        var leftOut = new HashSet<(string Repository, string Index, string Child)>();
        using (var refs = connection.CreateCommand())
        {
            refs.CommandText = "SELECT repository, digest, target FROM manifest_refs WHERE kind = 2";
            using var rows = refs.ExecuteReader();
            while (rows.Read())
            {
                leftOut.Add((rows.GetString(0), rows.GetString(1), rows.GetString(2)));
            }
        }

        var byRepository = manifests.Select(m => (m.Repository, m.Digest)).ToHashSet();
        foreach (var manifest in manifests)
        {
            Assert.Equal(manifest.Digest, Digest.Compute(manifest.Content).ToString());
            var parsed = ManifestParser.Parse(manifest.Content, manifest.MediaType);
            foreach (var blob in parsed.RequiredBlobs)
            {
                Assert.Contains(blob.Digest.ToString(), stored);
            }

            foreach (var child in parsed.Manifests.Where(c => !leftOut.Contains((manifest.Repository, manifest.Digest, c.Digest.ToString()))))
            {
                Assert.Contains((manifest.Repository, child.Digest.ToString()), byRepository);
            }
        }
    }
}
