using System.Security.Cryptography;
using System.Text;
using ConnectedRegistry.Bundles;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>
/// What a hostile probe brings to an import (issue 19): header entries and tar records far larger than a bundle
/// holds, a tar header that declares 2 GiB, a link loop on the method's path. Each is refused with its reason,
/// without reading past the bound, and the site keeps its tags; the <c>bundle</c> command runs as the module's
/// executable, so a crash would show as its exit code.
/// </summary>
public sealed class BundleHostileInputTests
{
    private const long Bomb = 64L * 1024 * 1024;

    [Fact]
    public async Task Tar_records_declaring_two_GiB_are_refused_by_bundle_import_with_their_reason_and_change_nothing()
    {
        await using var h = await BundleHarness.StartAsync();
        await using var site = await StoppedSite.SeedAsync(h);
        var before = site.Tags();

        foreach (var (type, name) in new[] { ('x', "PaxHeaders.0/oci-layout"), ('L', "././@LongLink") })
        {
            var bundle = RawTar.Write(Path.Combine(h.Work, $"two-gib-{type}.tar"), [new RawTar.Entry(name, type, 1L << 31, new byte[4096])]);
            var refused = await site.ImportAsync(bundle);
            Assert.True(refused.Code == 1, $"'{type}' record: exit {refused.Code}: {refused.Error}");
            Assert.Contains("bundle import: the bundle is torn or not a tar", refused.Error, StringComparison.Ordinal);
            Assert.Equal(before, site.Tags());
            StoreVerifier.Verify(site.Data);
        }
    }

    [Fact]
    public async Task Tar_header_records_over_the_bound_are_refused_before_they_are_read()
    {
        await using var h = await BundleHarness.StartAsync();
        await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(30_000));
        await h.ImportNowAsync(await h.ExportAsync("good.tar", repositories: "apps/*"));
        var before = h.Snapshot();

        foreach (var (type, name) in new[] { ('x', "PaxHeaders.0/oci-layout"), ('L', "././@LongLink") })
        {
            var bundle = RawTar.Write(Path.Combine(h.Work, $"big-{type}.tar"), [new RawTar.Entry(name, type, Bomb), RawTar.Entry.File("oci-layout", [])]);
            var (refused, read) = await ImportCountingAsync(h, bundle);
            Assert.Contains($"a tar header record (pax extended header or GNU long name) of {Bomb} bytes", refused.Message, StringComparison.Ordinal);
            Assert.True(read < 1024 * 1024, $"'{type}' record: {read} bytes read of a {Bomb}-byte record");
            Assert.Equal(before, h.Snapshot());
        }

        StoreVerifier.Verify(h.Site.DataRoot);
    }

    [Fact]
    public async Task A_link_loop_on_the_methods_path_is_refused_with_400_and_its_reason_and_changes_nothing()
    {
        await using var h = await BundleHarness.StartAsync();
        await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(30_000));
        await h.ImportNowAsync(await h.ExportAsync("good.tar", repositories: "apps/*"));
        var before = h.Snapshot();
        var folder = Directory.CreateDirectory(Path.Combine(h.Site.DataRoot, BundlePaths.Folder)).FullName;
        File.CreateSymbolicLink(Path.Combine(folder, "loop-a.tar"), "loop-b.tar");
        File.CreateSymbolicLink(Path.Combine(folder, "loop-b.tar"), "loop-a.tar");
        File.CreateSymbolicLink(Path.Combine(folder, "loop.json"), "loop.json");

        foreach (var path in new[] { "bundles/loop-a.tar", "bundles/loop-a.tar/inside.tar" })
        {
            var answer = await h.InvokeAsync("importBundle", new JObject { ["path"] = path });
            Assert.True(answer.Status == 400, $"{path}: {answer.Status} {answer.Payload}");
            Assert.Equal("BadPath", (string?)answer.Payload["error"]!["code"]);
            Assert.Contains("a link that does not resolve (a loop)", (string?)answer.Payload["error"]!["message"], StringComparison.Ordinal);
        }

        var state = await h.InvokeAsync("bundleState", new JObject { ["file"] = "loop.json" });
        Assert.True(state.Status == 400, $"{state.Status} {state.Payload}");
        Assert.Equal("BadPath", (string?)state.Payload["error"]!["code"]);
        Assert.Equal(before, h.Snapshot());
        StoreVerifier.Verify(h.Site.DataRoot);
    }

    [Fact]
    public async Task Oversized_or_unsigned_header_entries_are_refused_by_bundle_import_before_they_are_parsed()
    {
        await using var h = await BundleHarness.StartAsync();
        await using var site = await StoppedSite.SeedAsync(h);
        h.Layout.Tag(h.Layout.Image("amd64", h.Layout.Layer(20_000)), "web-v2");
        await h.Parent.PushAsync(h.Layout.Directory, "web-v2", "apps/web", "v2");
        var good = await h.ExportAsync("v2.tar", repositories: "apps/*");
        var before = site.Tags();

        var cases = new (string Name, Func<string, byte[], byte[]> Change, string Reason)[]
        {
            // A valid oci-layout padded to 64 MiB: the signature does not cover it, so before its bound it was parsed whole and imported.
            ("layout.tar", (name, bytes) => name == BundleFormat.LayoutFile ? Padded(bytes, Bomb) : bytes,
                $"bundle import: oci-layout is {Bomb} bytes; a bundle's oci-layout holds at most 4096"),
            ("signature.tar", (name, bytes) => name == BundleFormat.SignatureFile ? Padded(bytes, 1024 * 1024) : bytes,
                $"bundle import: bundle.sig is {1024 * 1024} bytes; a bundle's bundle.sig holds at most 4096"),
            // Not JSON at all: the signature is checked first, so the refusal names it, not the parser.
            ("unsigned.tar", (name, bytes) => name == BundleFormat.DescriptorFile ? Encoding.ASCII.GetBytes(new string('[', 1024 * 1024)) : bytes,
                "bundle import: the signature of bundle.json does not verify with any key of bundles.trustedKeys"),
        };

        foreach (var (name, change, reason) in cases)
        {
            var bundle = RawTar.Write(Path.Combine(h.Work, name), RawTar.Read(good).Select(e => RawTar.Entry.File(e.Name, change(e.Name, e.Data!))));
            var refused = await site.ImportAsync(bundle);
            Assert.True(refused.Code == 1, $"{name}: exit {refused.Code}: {refused.Output} {refused.Error}");
            Assert.Contains(reason, refused.Error, StringComparison.Ordinal);
            Assert.Equal(before, site.Tags());
            StoreVerifier.Verify(site.Data);
        }

        // The same bundle unchanged imports: the refusals were about the entries.
        Assert.Equal(0, (await site.ImportAsync(good)).Code);
        Assert.NotEqual(before, site.Tags());
    }

    [Fact]
    public async Task A_header_entry_over_its_bound_is_refused_by_importBundle_unread()
    {
        await using var h = await BundleHarness.StartAsync();
        await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(30_000));
        var good = await h.ExportAsync("good.tar", repositories: "apps/*");
        var bundle = RawTar.Write(Path.Combine(h.Work, "layout.tar"), RawTar.Read(good).Select(e => e.Name == BundleFormat.LayoutFile ? new RawTar.Entry(e.Name, '0', Bomb) : e));
        var before = h.Snapshot();

        var (refused, read) = await ImportCountingAsync(h, bundle);

        Assert.Contains($"oci-layout is {Bomb} bytes; a bundle's oci-layout holds at most 4096", refused.Message, StringComparison.Ordinal);
        Assert.True(read < 1024 * 1024, $"{read} bytes read of a {Bomb}-byte oci-layout");
        Assert.Equal(before, h.Snapshot());
        var viaMethod = await h.ImportAsync(bundle);
        Assert.Equal("Error", viaMethod.Type);
        Assert.Contains("oci-layout is", viaMethod.Description, StringComparison.Ordinal);
        StoreVerifier.Verify(h.Site.DataRoot);
    }

    [Fact]
    public async Task BundleState_writes_nothing_through_a_link_in_the_data_volume()
    {
        await using var h = await BundleHarness.StartAsync();
        await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(30_000));
        await h.ImportNowAsync(await h.ExportAsync("good.tar", repositories: "apps/*"));
        var folder = Directory.CreateDirectory(Path.Combine(h.Site.DataRoot, BundlePaths.Folder)).FullName;
        var outside = Path.Combine(h.Work, "outside.txt");
        await File.WriteAllTextAsync(outside, "untouched");
        var database = Path.Combine(h.Site.DataRoot, "registry.db");
        var databaseBefore = Hash(database);
        // The names the method used for its temporary file, planted as links: one out of the volume, one onto its database.
        File.CreateSymbolicLink(Path.Combine(folder, "state.json.tmp"), outside);
        File.CreateSymbolicLink(Path.Combine(folder, "db.json.tmp"), database);

        foreach (var file in new[] { "state.json", "db.json" })
        {
            var answer = await h.InvokeAsync("bundleState", new JObject { ["file"] = file });
            Assert.True(answer.Status == 200, $"{file}: {answer.Status} {answer.Payload}");
            var written = new FileInfo(Path.Combine(folder, file));
            Assert.Null(written.LinkTarget);
            Assert.Equal(BundleHarness.SiteName, (string?)JObject.Parse(await File.ReadAllTextAsync(written.FullName))["registry"]);
        }

        Assert.Equal("untouched", await File.ReadAllTextAsync(outside));
        Assert.Equal(databaseBefore, Hash(database));
        Assert.Equal(outside, new FileInfo(Path.Combine(folder, "state.json.tmp")).LinkTarget); // left as it was
        Assert.Empty(Directory.EnumerateFiles(folder, ".*"));

        // A link as the file itself, or as a folder on the way, is refused, even one that stays inside the volume.
        File.CreateSymbolicLink(Path.Combine(folder, "linked.json"), database);
        var linked = await h.InvokeAsync("bundleState", new JObject { ["file"] = "linked.json" });
        Assert.True(linked.Status == 400, $"{linked.Status} {linked.Payload}");
        Assert.Equal("BadPath", (string?)linked.Payload["error"]!["code"]);
        Assert.Contains("is a link", (string?)linked.Payload["error"]!["message"], StringComparison.Ordinal);
        Directory.Delete(folder, recursive: true);
        var elsewhere = Directory.CreateDirectory(Path.Combine(h.Site.DataRoot, "elsewhere")).FullName;
        Directory.CreateSymbolicLink(folder, elsewhere);
        var through = await h.InvokeAsync("bundleState", new JObject { ["file"] = "state.json" });
        Assert.True(through.Status == 400, $"{through.Status} {through.Payload}");
        Assert.Contains("is a link", (string?)through.Payload["error"]!["message"], StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
        Assert.Equal(databaseBefore, Hash(database));
        StoreVerifier.Verify(h.Site.DataRoot);
    }

    [Fact]
    public async Task The_bundle_command_writes_no_state_key_or_bundle_through_a_planted_link()
    {
        await using var h = await BundleHarness.StartAsync();
        await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(30_000));
        var outside = Path.Combine(h.Work, "outside.txt");
        await File.WriteAllTextAsync(outside, "untouched");
        var absent = Path.Combine(h.Work, "absent.txt");
        var data = TempDirectory.Create("stopped");
        try
        {
            var desired = Path.Combine(h.Work, "desired.json");
            await File.WriteAllTextAsync(desired, new JObject { ["name"] = BundleHarness.SiteName, ["sync"] = new JObject { ["repositories"] = new JArray("apps/*") } }.ToString());
            var output = Directory.CreateDirectory(Path.Combine(h.Work, "out")).FullName;

            // bundle state: its temporary file's old name is no longer used; a link as the output is refused.
            File.CreateSymbolicLink(Path.Combine(output, "state.json.tmp"), outside);
            var state = await h.BundleAsync("state", "--data", data, "--desired", desired, "--output", Path.Combine(output, "state.json"));
            Assert.True(state.Code == 0, state.Error);
            Assert.Null(new FileInfo(Path.Combine(output, "state.json")).LinkTarget);
            File.CreateSymbolicLink(Path.Combine(output, "linked.json"), outside);
            var linked = await h.BundleAsync("state", "--data", data, "--desired", desired, "--output", Path.Combine(output, "linked.json"));
            Assert.Equal(1, linked.Code);
            Assert.Contains("is a link", linked.Error, StringComparison.Ordinal);

            // bundle export: FILE.partial and its journal are opened only when they are files.
            foreach (var planted in new[] { "a.tar.partial", "b.tar.partial.journal", "c.tar" })
            {
                File.CreateSymbolicLink(Path.Combine(output, planted), outside);
                var bundle = Path.Combine(output, planted[..5]);
                var export = await h.BundleAsync("export", "--parent", h.Parent.Endpoint.ToString(), "--user", DockerRegistry.User, "--registry", BundleHarness.SiteName,
                    "--repository", "apps/*", "--key", h.KeyPath, "--output", bundle);
                Assert.True(export.Code == 1, $"{planted}: exit {export.Code}: {export.Error}");
                Assert.Contains("is a link", export.Error, StringComparison.Ordinal);
                Assert.False(File.Exists(bundle + ".partial") && new FileInfo(bundle + ".partial").LinkTarget is null);
            }

            // bundle keygen: a dangling link where the public key goes is not written through.
            var key = Path.Combine(output, "k.pem");
            File.CreateSymbolicLink(key + ".pub", absent);
            var keygen = await h.BundleAsync("keygen", "--key", key);
            Assert.Equal(1, keygen.Code);
            Assert.False(File.Exists(key));
            Assert.False(File.Exists(absent));
            Assert.Equal("untouched", await File.ReadAllTextAsync(outside));
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    private static string Hash(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    /// <summary>The method's import of <paramref name="bundle"/> through a stream that counts the bytes the importer takes from the file.</summary>
    private static async Task<(BundleRefusedException Refused, long Read)> ImportCountingAsync(BundleHarness h, string bundle)
    {
        CountingStream? counting = null;
        var importer = h.Site.App.Services.GetRequiredService<BundleImporter>();
        var refused = await Assert.ThrowsAsync<BundleRefusedException>(() =>
            importer.ImportAsync(bundle, path => counting = new CountingStream(File.OpenRead(path)), CancellationToken.None));
        return (refused, counting!.Taken);
    }

    /// <summary><paramref name="json"/> with spaces before it up to <paramref name="length"/> bytes: the same JSON, as large as wanted.</summary>
    private static byte[] Padded(byte[] json, long length)
    {
        var padded = new byte[length];
        padded.AsSpan(0, (int)(length - json.Length)).Fill((byte)' ');
        json.CopyTo(padded, length - json.Length);
        return padded;
    }

    /// <summary>A stopped site's data root with one imported tag, and its settings file, for <c>bundle import</c> run as the module's executable.</summary>
    private sealed class StoppedSite : IAsyncDisposable
    {
        private StoppedSite(string data, string desired)
        {
            Data = data;
            Desired = desired;
        }

        public string Data { get; }

        public string Desired { get; }

        public static async Task<StoppedSite> SeedAsync(BundleHarness h)
        {
            await h.Parent.PushImageAsync(h.Layout, "apps/web", h.Layout.Layer(30_000));
            var seed = await h.ExportAsync("seed.tar", repositories: "apps/*");
            var site = new StoppedSite(TempDirectory.Create("stopped"), Path.Combine(h.Work, "desired.json"));
            await File.WriteAllTextAsync(site.Desired, new JObject
            {
                ["name"] = BundleHarness.SiteName,
                ["mode"] = "ReadOnly",
                ["sync"] = new JObject { ["repositories"] = new JArray("apps/*") },
                ["bundles"] = new JObject { ["trustedKeys"] = new JArray(await File.ReadAllTextAsync(h.KeyPath + ".pub")) },
            }.ToString());
            var seeded = await site.ImportAsync(seed);
            Assert.True(seeded.Code == 0, seeded.Error);
            Assert.NotEmpty(site.Tags());
            return site;
        }

        public Task<(int Code, string Output, string Error)> ImportAsync(string bundle) =>
            ModuleProcess.RunAsync(["bundle", "import", "--data", Data, "--desired", Desired, bundle]);

        /// <summary>Every tag of the data root, read from its database.</summary>
        public string Tags()
        {
            using var connection = new SqliteConnection($"Data Source={Path.Combine(Data, "registry.db")};Mode=ReadOnly;Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT repository, tag, digest FROM tags ORDER BY repository, tag";
            using var reader = command.ExecuteReader();
            var tags = new StringBuilder();
            while (reader.Read())
            {
                tags.Append(reader.GetString(0)).Append(':').Append(reader.GetString(1)).Append('@').AppendLine(reader.GetString(2));
            }

            return tags.ToString();
        }

        public ValueTask DisposeAsync()
        {
            TempDirectory.Delete(Data);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A file as the importer reads it, counting every byte taken from it.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _read;

        public long Taken => Interlocked.Read(ref _read);

        public override bool CanRead => true;

        public override bool CanSeek => inner.CanSeek;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position { get => inner.Position; set => inner.Position = value; }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Counted(int n)
        {
            Interlocked.Add(ref _read, n);
            return n;
        }
    }
}
