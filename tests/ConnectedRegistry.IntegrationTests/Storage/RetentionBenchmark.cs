using System.Diagnostics;
using System.Globalization;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;
using Xunit.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>
/// The cost of a retention pass over 100,000 tags (issue goal: at most 2 s on the 2-core test machine): a real
/// <c>registry.db</c> seeded with <see cref="Repositories"/> repositories of <see cref="TagsPerRepository"/> tags, each
/// tag its own manifest (sharing its repository's two blobs), written with the store's own statements in large
/// transactions (a push per tag would take minutes). Times a dry run, a pass that keeps everything (the steady state:
/// rules that match every tag and remove none) and a pass that removes 90 % (<c>keepNewest: 10</c>), garbage collection
/// included. The goal is checked on the process's CPU time (the wall time is reported too, and for the removing pass
/// the bytes the process read and wrote through the file system). Marked <c>Category=Benchmark</c>, which <c>scripts/test.sh</c> leaves out; writes one JSON line to
/// <c>RETENTION_BENCH_OUT</c> when that is set.
/// </summary>
public sealed class RetentionBenchmark(ITestOutputHelper output)
{
    private const int Repositories = 1000;
    private const int TagsPerRepository = 100;

    [Fact]
    [Trait("Category", "Benchmark")]
    public async Task A_retention_pass_over_100000_tags()
    {
        var registry = await RegistryInstance.StartAsync(extraArgs: ["--gc-grace", "00:00:00"]);
        try
        {
            var seeded = Stopwatch.StartNew();
            await SeedAsync(registry.App.Services);
            seeded.Stop();
            var pass = registry.App.Services.GetRequiredService<RetentionPass>();
            var settings = registry.App.Services.GetRequiredService<RegistrySettingsStore>();

            Apply(settings, """[{ "repositories": ["bench/*"], "keepNewest": 10 }]""");
            var dry = await TimeAsync(() => pass.RunAsync(dryRun: true, CancellationToken.None));
            Phases("dry run", pass);
            Apply(settings, """[{ "repositories": ["bench/*"], "keepNewest": 1000, "keepPulledWithin": "P30D", "keepTags": "^never$" }]""");
            var steady = await TimeAsync(() => pass.RunAsync(dryRun: false, CancellationToken.None));
            Phases("keep all", pass);
            Apply(settings, """[{ "repositories": ["bench/*"], "keepNewest": 10 }]""");
            var removing = await TimeAsync(() => pass.RunAsync(dryRun: false, CancellationToken.None));
            Phases("remove 90 %", pass);

            var line = string.Create(CultureInfo.InvariantCulture,
                $$"""{"tags": {{Repositories * TagsPerRepository}}, "repositories": {{Repositories}}, "seedSeconds": {{seeded.Elapsed.TotalSeconds:0.0}}, "dryRunSeconds": {{dry.Seconds:0.000}}, "dryRunCpuSeconds": {{dry.CpuSeconds:0.000}}, "dryRunListed": {{dry.Result.Tags.Count}}, "steadyPassSeconds": {{steady.Seconds:0.000}}, "steadyPassCpuSeconds": {{steady.CpuSeconds:0.000}}, "removingPassSeconds": {{removing.Seconds:0.000}}, "removingPassCpuSeconds": {{removing.CpuSeconds:0.000}}, "removingPassReadMB": {{removing.ReadMB:0}}, "removingPassWrittenMB": {{removing.WrittenMB:0}}, "removed": {{removing.Result.Tags.Count}}, "loadAverage": "{{File.ReadAllText("/proc/loadavg").Trim()}}"}""");
            output.WriteLine(line);
            if (Environment.GetEnvironmentVariable("RETENTION_BENCH_OUT") is { Length: > 0 } file)
            {
                await File.AppendAllTextAsync(file, line + Environment.NewLine);
            }

            Assert.Equal(Repositories * (TagsPerRepository - 10), dry.Result.Tags.Count);
            Assert.Empty(steady.Result.Tags);
            Assert.Equal(Repositories * (TagsPerRepository - 10), removing.Result.Tags.Count);
            // CPU time, not wall time: on the shared 2-core machine (load 20 to 40 while this was written, run at nice 19)
            // the wall time is mostly waiting for a core. Both are reported.
            Assert.True(dry.CpuSeconds <= 2 && steady.CpuSeconds <= 2, line);
        }
        finally
        {
            registry.DeleteData();
            await registry.DisposeAsync();
        }
    }

    private void Phases(string pass, RetentionPass retention) =>
        output.WriteLine($"{pass}: {string.Join(", ", retention.LastPhases.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Phase} {p.Wall.TotalMilliseconds:0} ms ({p.Cpu.TotalMilliseconds:0} CPU)")))}");

    private static void Apply(RegistrySettingsStore settings, string rules)
    {
        var parsed = DesiredPropertiesParser.Parse(TwinJson.ParseObject($$"""{ "storage": { "retention": {{rules}} } }"""));
        settings.Apply(parsed.Settings!);
    }

    /// <summary>
    /// The wall time and the process's CPU time of <paramref name="run"/> (on a shared machine the CPU time is the steadier
    /// figure), and the megabytes the process read and wrote through the file system meanwhile (<c>rchar</c>, <c>wchar</c>
    /// of <c>/proc/self/io</c>: page cache included, whatever the load, so the steadiest figure of all; 0 where there is none).
    /// </summary>
    private static async Task<(T Result, double Seconds, double CpuSeconds, double ReadMB, double WrittenMB)> TimeAsync<T>(Func<Task<T>> run)
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var (read, written) = Io();
        var watch = Stopwatch.StartNew();
        var result = await run();
        process.Refresh();
        var (readAfter, writtenAfter) = Io();
        return (result, watch.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalSeconds, (readAfter - read) / 1e6, (writtenAfter - written) / 1e6);
    }

    private static (long Read, long Written) Io()
    {
        if (!File.Exists("/proc/self/io"))
        {
            return (0, 0);
        }

        var fields = File.ReadAllLines("/proc/self/io").Select(l => l.Split(':')).ToDictionary(f => f[0], f => long.Parse(f[1], CultureInfo.InvariantCulture));
        return (fields["rchar"], fields["wchar"]);
    }

    /// <summary>Each repository: a config and a layer blob (stored as pushes store them), then its tags, 1,000 manifests per transaction.</summary>
    private static async Task SeedAsync(IServiceProvider services)
    {
        var store = services.GetRequiredService<RegistryStore>();
        var db = services.GetRequiredService<MetadataDatabase>();
        var time = DateTimeOffset.UtcNow.AddDays(-30).ToUnixTimeMilliseconds();
        var rows = new List<(string Repository, string Tag, Digest Digest, ParsedManifest Parsed, byte[] Bytes, long At)>();
        for (var r = 0; r < Repositories; r++)
        {
            var repository = $"bench/r{r:D4}";
            var image = TestContent.Image($"retention-bench-{r}", layers: 1, layerSize: 512);
            foreach (var blob in image.Blobs)
            {
                await store.WriteBlobAsync(repository, blob.Digest, new MemoryStream(blob.Bytes));
            }

            for (var t = 0; t < TagsPerRepository; t++)
            {
                var bytes = TestContent.ManifestVariant(image, t.ToString(CultureInfo.InvariantCulture));
                rows.Add((repository, $"1.{t}", Digest.Compute(bytes), ManifestParser.Parse(bytes, MediaTypes.OciManifest), bytes, time++));
            }
        }

        foreach (var chunk in rows.Chunk(1000))
        {
            await db.WriteAsync((c, tx) =>
            {
                foreach (var (repository, tag, digest, parsed, bytes, at) in chunk)
                {
                    MetadataSql.EnsureRepository(c, tx, repository, at);
                    MetadataSql.InsertManifest(c, tx, repository, digest, parsed, bytes, at);
                    foreach (var blob in parsed.RequiredBlobs)
                    {
                        MetadataSql.InsertReference(c, tx, repository, digest, blob.Digest, MetadataSql.KindBlob);
                    }

                    MetadataSql.UpsertTag(c, tx, repository, tag, digest, at);
                }
            });
        }
    }
}
