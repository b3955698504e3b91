using System.Diagnostics;
using System.Text;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The real skopeo CLI as an OCI client. Plain HTTP registries need <c>--*-tls-verify=false</c>, which
/// the helpers add; the signature policy is bypassed with <c>--insecure-policy</c> (tests have no policy file).
/// </summary>
public static class Skopeo
{
    public static async Task<string> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("skopeo")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--insecure-policy");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("skopeo did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("skopeo " + string.Join(' ', args) + " timed out");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"skopeo {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }

    /// <summary>Copies between any two skopeo transports (oci:DIR:tag, docker://host/repo:tag), TLS verification off.</summary>
    public static Task<string> CopyAsync(string source, string destination, bool all = false, bool preserveDigests = true, IEnumerable<string>? extraArgs = null)
    {
        var args = new List<string> { "copy", "--src-tls-verify=false", "--dest-tls-verify=false" };
        args.AddRange(extraArgs ?? []);
        if (all)
        {
            args.Add("--all");
        }

        if (preserveDigests)
        {
            args.Add("--preserve-digests");
        }

        args.Add(source);
        args.Add(destination);
        return RunAsync([.. args]);
    }

    /// <summary>The exact manifest bytes the registry serves (<c>skopeo inspect --raw</c>).</summary>
    public static async Task<byte[]> InspectRawAsync(string reference) =>
        Encoding.UTF8.GetBytes(await RunAsync("inspect", "--tls-verify=false", "--raw", reference));
}

/// <summary>Writes an OCI image layout (oci-layout, index.json, blobs/) that skopeo can copy from.</summary>
public sealed class OciLayout
{
    private readonly List<object> _entries = [];

    public OciLayout(string directory)
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    }

    public string Directory { get; }

    public void AddBlob(TestBlob blob) =>
        File.WriteAllBytes(Path.Combine(Directory, "blobs", blob.Digest.Algorithm, blob.Digest.Hex), blob.Bytes);

    public void AddImage(TestImage image, string? tag = null)
    {
        foreach (var blob in image.Blobs)
        {
            AddBlob(blob);
        }

        AddBlob(image.Manifest);
        if (tag is not null)
        {
            Tag(image.Manifest, tag);
        }
    }

    public void Tag(TestBlob manifest, string tag)
    {
        _entries.Add(manifest.Descriptor(annotations: new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = tag }));
        Save();
    }

    /// <summary>The bytes of a blob as stored in the layout (for comparisons after a pull).</summary>
    public byte[]? ReadBlob(Digest digest)
    {
        var path = Path.Combine(Directory, "blobs", digest.Algorithm, digest.Hex);
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    private void Save() =>
        File.WriteAllBytes(Path.Combine(Directory, "index.json"), TestContent.Json(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciIndex,
            ["manifests"] = _entries,
        }));
}
