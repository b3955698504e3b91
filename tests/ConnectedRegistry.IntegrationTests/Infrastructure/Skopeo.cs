using System.Text;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The real skopeo CLI as an OCI client. Plain HTTP registries need <c>--*-tls-verify=false</c>, which
/// the helpers add; the signature policy is bypassed with <c>--insecure-policy</c> (tests have no policy file).
/// </summary>
public static class Skopeo
{
    public static Task<string> RunAsync(params string[] args) => Tools.RunAsync("skopeo", ["--insecure-policy", .. args]);

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
