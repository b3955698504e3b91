using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ConnectedRegistry.Oci;

// Times what storing a synced manifest costs the CPU: ManifestParser.Parse and the digest of its bytes, on a typical
// image manifest (config and 8 layers, annotations) and a typical index (4 platforms), in-process, one thread.
// Usage: dotnet ManifestParseBench.dll [iterations=100000] [rounds=5]; prints the best round per figure (the least
// disturbed by other work on the machine), in microseconds per manifest, and the bytes allocated per parse.
var iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;

static string Hex(int seed) => Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(seed)));

static string Descriptor(string mediaType, int seed, long size, string extra = "") =>
    $$"""{"mediaType":"{{mediaType}}","digest":"sha256:{{Hex(seed)}}","size":{{size}}{{extra}}}""";

var layers = string.Join(",", Enumerable.Range(1, 8).Select(i => Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", i, 1_000_000L * i)));
var image = Encoding.UTF8.GetBytes($$"""
    {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "config": {{Descriptor("application/vnd.oci.image.config.v1+json", 0, 7023)}},
      "layers": [{{layers}}],
      "annotations": {"org.opencontainers.image.created": "2026-12-01T10:00:00Z", "org.opencontainers.image.source": "https://example.invalid/app", "org.opencontainers.image.revision": "0123456789abcdef"}
    }
    """);
string[] platforms = ["amd64", "arm64", "arm", "ppc64le"];
var entries = string.Join(",", platforms.Select((arch, i) => Descriptor("application/vnd.oci.image.manifest.v1+json", 100 + i, 1500 + i,
    $$""","platform":{"os":"linux","architecture":"{{arch}}"{{(arch == "arm" ? ",\"variant\":\"v7\"" : "")}}}""")));
var index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{entries}}]}""");

Console.WriteLine($"image manifest {image.Length} bytes, index {index.Length} bytes; {iterations} per round, best of {rounds} rounds");
Measure("parse, image manifest", () => ManifestParser.Parse(image, MediaTypes.OciManifest));
Measure("parse, index", () => ManifestParser.Parse(index, MediaTypes.OciIndex));
Measure("sha256, image manifest", () => Digest.Compute(image));
Measure("sha256, index", () => Digest.Compute(index));

void Measure(string name, Func<object> work)
{
    for (var i = 0; i < Math.Min(iterations, 10_000); i++)
    {
        work(); // warm-up: tiered compilation settles
    }

    var best = double.MaxValue;
    long allocated = 0;
    for (var round = 0; round < rounds; round++)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < iterations; i++)
        {
            work();
        }

        var micros = Stopwatch.GetElapsedTime(started).TotalMicroseconds / iterations;
        allocated = (GC.GetAllocatedBytesForCurrentThread() - before) / iterations;
        best = Math.Min(best, micros);
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-24} {best,8:0.00} µs  {allocated,7} B allocated"));
}
