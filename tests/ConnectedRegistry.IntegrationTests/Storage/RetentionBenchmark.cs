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
/// rules that match every tag and remove none), the first pass of a backlog of 90 % (<c>keepNewest: 10</c>) at the default
/// <c>maxRemovalsPerPass</c> and the passes that drain the rest, and, on a second registry seeded alike, the same 90 %
/// in one unbounded pass; garbage collection included. The goal is checked on the process's CPU time (the wall time is reported too, and for the removing pass
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
        const int Removed = Repositories * (TagsPerRepository - 10);
        const int Bound = RetentionSettings.DefaultMaxRemovalsPerPass;
        // The benchmark runs the passes of the backlog itself, back to back: the scheduler's own follow-ups are put off.
        static void NoFollowUps(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder) =>
            builder.Services.AddSingleton(new RetentionSchedulerOptions { BacklogDelay = TimeSpan.FromDays(1) });
        var registry = await RegistryInstance.StartAsync(null, ["--gc-grace", "00:00:00"], NoFollowUps);
        var single = await RegistryInstance.StartAsync(null, ["--gc-grace", "00:00:00"], NoFollowUps);
        try
        {
            var seeded = Stopwatch.StartNew();
            await SeedAsync(registry.App.Services);
            seeded.Stop();
            await SeedAsync(single.App.Services);
            var pass = registry.App.Services.GetRequiredService<RetentionPass>();
            var settings = registry.App.Services.GetRequiredService<RegistrySettingsStore>();

            Apply(settings, """[{ "repositories": ["bench/*"], "keepNewest": 10 }]""");
            var dry = await TimeAsync(() => pass.RunAsync(dryRun: true, CancellationToken.None));
            Phases("dry run", pass);
            // Again, as an operator's dry run meets a module that has run passes before (the first one above compiles the pass's code).
            var dryAgain = await TimeAsync(() => pass.RunAsync(dryRun: true, CancellationToken.None));
            Phases("dry run again", pass);
            Apply(settings, """[{ "repositories": ["bench/*"], "keepNewest": 1000, "keepPulledWithin": "P30D", "keepTags": "^never$" }]""");
            var steady = await TimeAsync(() => pass.RunAsync(dryRun: false, CancellationToken.None));
            Phases("keep all", pass);

            // The default bound: the first pass of the backlog, then the passes that drain the rest, back to back (the
            // scheduler puts 5 s between them), timed in total.
            Apply(settings, """[{ "repositories": ["bench/*"], "keepNewest": 10 }]""");
            var removing = await TimeAsync(() => pass.RunAsync(dryRun: false, CancellationToken.None));
            Phases("remove 10,000 of 90,000", pass);
            var drain = new List<(RetentionResult Result, double Seconds, double CpuSeconds, double ReadMB, double WrittenMB)> { removing };
            while (drain[^1].Result.Pending > 0 && drain.Count < 20)
            {
                drain.Add(await TimeAsync(() => pass.RunAsync(dryRun: false, CancellationToken.None)));
            }

            Phases("the last pass of the backlog", pass);

            // The same store and rule in one pass without the bound, in the same run (a second registry seeded alike).
            var unboundedSettings = single.App.Services.GetRequiredService<RegistrySettingsStore>();
            Apply(unboundedSettings, $$"""{ "rules": [{ "repositories": ["bench/*"], "keepNewest": 10 }], "maxRemovalsPerPass": {{RetentionSettings.MaxMaxRemovalsPerPass}} }""");
            var singlePass = single.App.Services.GetRequiredService<RetentionPass>();
            var unbounded = await TimeAsync(() => singlePass.RunAsync(dryRun: false, CancellationToken.None));
            Phases("remove 90,000 in one pass", singlePass);

            var line = string.Create(CultureInfo.InvariantCulture,
                $$"""{"tags": {{Repositories * TagsPerRepository}}, "repositories": {{Repositories}}, "seedSeconds": {{seeded.Elapsed.TotalSeconds:0.0}}, "dryRunSeconds": {{dry.Seconds:0.000}}, "dryRunCpuSeconds": {{dry.CpuSeconds:0.000}}, "dryRunAgainSeconds": {{dryAgain.Seconds:0.000}}, "dryRunAgainCpuSeconds": {{dryAgain.CpuSeconds:0.000}}, "dryRunListed": {{dry.Result.Tags.Count}}, "dryRunPasses": {{dry.Result.Passes}}, "steadyPassSeconds": {{steady.Seconds:0.000}}, "steadyPassCpuSeconds": {{steady.CpuSeconds:0.000}}, "removingPassSeconds": {{removing.Seconds:0.000}}, "removingPassCpuSeconds": {{removing.CpuSeconds:0.000}}, "removingPassReadMB": {{removing.ReadMB:0}}, "removingPassWrittenMB": {{removing.WrittenMB:0}}, "removed": {{removing.Result.Tags.Count}}, "pending": {{removing.Result.Pending}}, "drainPasses": {{drain.Count}}, "drainSeconds": {{drain.Sum(d => d.Seconds):0.000}}, "drainCpuSeconds": {{drain.Sum(d => d.CpuSeconds):0.000}}, "drainMaxPassCpuSeconds": {{drain.Max(d => d.CpuSeconds):0.000}}, "drainReadMB": {{drain.Sum(d => d.ReadMB):0}}, "drainWrittenMB": {{drain.Sum(d => d.WrittenMB):0}}, "drainRemoved": {{drain.Sum(d => d.Result.Tags.Count)}}, "unboundedPassSeconds": {{unbounded.Seconds:0.000}}, "unboundedPassCpuSeconds": {{unbounded.CpuSeconds:0.000}}, "unboundedReadMB": {{unbounded.ReadMB:0}}, "unboundedWrittenMB": {{unbounded.WrittenMB:0}}, "loadAverage": "{{File.ReadAllText("/proc/loadavg").Trim()}}"}""");
            output.WriteLine(line);
            output.WriteLine($"backlog passes (CPU s): {string.Join(", ", drain.Select(d => d.CpuSeconds.ToString("0.000", CultureInfo.InvariantCulture)))}");
            if (Environment.GetEnvironmentVariable("RETENTION_BENCH_OUT") is { Length: > 0 } file)
            {
                await File.AppendAllTextAsync(file, line + Environment.NewLine);
            }

            Assert.Equal(Removed, dry.Result.Tags.Count);
            Assert.Equal(Removed / Bound, dry.Result.Passes);
            Assert.Empty(steady.Result.Tags);
            Assert.Equal(Bound, removing.Result.Tags.Count);
            Assert.Equal(Removed - Bound, removing.Result.Pending);
            Assert.Equal(Removed / Bound, drain.Count);
            Assert.Equal(Removed, drain.Sum(d => d.Result.Tags.Count));
            Assert.Equal(0, drain[^1].Result.Pending);
            Assert.Equal(Removed, unbounded.Result.Tags.Count);
            // CPU time, not wall time: on the shared 2-core machine (load 20 to 40 while this was written, run at nice 19)
            // the wall time is mostly waiting for a core. Both are reported.
            Assert.True(dry.CpuSeconds <= 2 && steady.CpuSeconds <= 2 && removing.CpuSeconds <= 2, line);
        }
        finally
        {
            registry.DeleteData();
            await registry.DisposeAsync();
            single.DeleteData();
            await single.DisposeAsync();
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

    /// <summary>
    /// Each repository: a config and a layer blob (stored as pushes store them), then its tags, 1,000 manifests per
    /// transaction. The tags' push times go repository by repository (the oldest 10,000 are the first 111 repositories'
    /// removable tags), or with <c>RETENTION_BENCH_INTERLEAVED=1</c> release by release across all repositories (the
    /// oldest 10,000 are the 10 oldest of every repository: the first pass's removals spread over every repository's pages).
    /// </summary>
    private static async Task SeedAsync(IServiceProvider services)
    {
        var store = services.GetRequiredService<RegistryStore>();
        var db = services.GetRequiredService<MetadataDatabase>();
        var interleaved = Environment.GetEnvironmentVariable("RETENTION_BENCH_INTERLEAVED") == "1";
        var start = DateTimeOffset.UtcNow.AddDays(-30).ToUnixTimeMilliseconds();
        var time = start;
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
                rows.Add((repository, $"1.{t}", Digest.Compute(bytes), ManifestParser.Parse(bytes, MediaTypes.OciManifest), bytes, interleaved ? start + ((long)t * Repositories) + r : time++));
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
