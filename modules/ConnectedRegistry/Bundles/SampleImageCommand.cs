using System.CommandLine;
using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using ConnectedRegistry.Oci;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// <c>ConnectedRegistry sample-image --output DIR [--tag TAG]</c>: writes a tiny OCI image (one layer holding
/// <c>/hello.txt</c>, for this machine's architecture) into an OCI image layout, so that the quick start's first push
/// (<c>skopeo copy oci:DIR:TAG docker://…</c>) needs no registry outside the machine: the disconnected sites this
/// module is for cannot pull a sample from the internet. The bytes are the same on every run (fixed times), so the
/// same tag is the same digest everywhere. An existing layout gets the tag added (or replaced).
/// </summary>
public static class SampleImageCommand
{
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    private static readonly DateTimeOffset Epoch = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static Command Create(TextWriter output)
    {
        var directory = new Option<string>("--output") { Description = "The OCI image layout to write (made when missing; an existing one gets the tag added).", HelpName = "DIR", Required = true };
        var tag = new Option<string>("--tag") { Description = "The tag in the layout (its index.json's ref.name; default 1.0).", HelpName = "TAG", DefaultValueFactory = _ => "1.0" };
        var command = new Command("sample-image", "Write a tiny OCI image into an OCI layout, for a first push without any registry outside this machine (skopeo copy oci:DIR:TAG docker://...).")
        {
            directory, tag,
        };
        command.SetAction(result =>
        {
            var name = result.GetValue(tag)!;
            if (!Tag.IsValid(name))
            {
                return Core.CommandLineRunner.Refuse(result, result.InvocationConfiguration.Error, $"--tag '{name}' is not a tag (letters, digits, '_', '.', '-'; at most 128)");
            }

            var manifest = Write(Path.GetFullPath(result.GetValue(directory)!), name);
            output.WriteLine(new JObject { ["layout"] = Path.GetFullPath(result.GetValue(directory)!), ["tag"] = name, ["digest"] = manifest }.ToString(Formatting.Indented));
            return 0;
        });
        return command;
    }

    /// <summary>Writes the image into the layout at <paramref name="root"/> under <paramref name="tag"/>; returns the manifest's digest.</summary>
    public static string Write(string root, string tag)
    {
        var tar = Tar("hello.txt", "Hello from EdgeConnectedRegistry: this image was made on this machine.\n");
        var layer = Gzip(tar);
        var config = Json(new JObject
        {
            ["architecture"] = Architecture(),
            ["os"] = "linux",
            ["created"] = Epoch.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["config"] = new JObject(),
            ["rootfs"] = new JObject { ["type"] = "layers", ["diff_ids"] = new JArray(Digest(tar)) },
        });
        var manifest = Json(new JObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = Descriptor(MediaTypes.OciConfig, config),
            ["layers"] = new JArray(Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)),
        });

        foreach (var blob in new[] { layer, config, manifest })
        {
            var path = Path.Combine(root, "blobs", "sha256", Digest(blob)["sha256:".Length..]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, blob);
        }

        File.WriteAllText(Path.Combine(root, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        var indexPath = Path.Combine(root, "index.json");
        var index = File.Exists(indexPath) ? JObject.Parse(File.ReadAllText(indexPath)) : new JObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = new JArray() };
        var manifests = index["manifests"] as JArray ?? [];
        foreach (var same in manifests.Where(m => (string?)m["annotations"]?[RefNameAnnotation] == tag).ToList())
        {
            same.Remove();
        }

        var entry = Descriptor(MediaTypes.OciManifest, manifest);
        entry["annotations"] = new JObject { [RefNameAnnotation] = tag };
        manifests.Add(entry);
        index["manifests"] = manifests;
        File.WriteAllText(indexPath, index.ToString(Formatting.None));
        return Digest(manifest);
    }

    /// <summary>The OCI architecture of this machine (amd64, arm64, arm), so that docker on it takes the image as its own.</summary>
    private static string Architecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        _ => "amd64",
    };

    private static byte[] Tar(string name, string text)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Ustar, leaveOpen: true))
        {
            var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
            {
                DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                ModificationTime = Epoch,
            };
            writer.WriteEntry(entry);
        }

        return buffer.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return buffer.ToArray();
    }

    private static byte[] Json(JObject value) => Encoding.UTF8.GetBytes(value.ToString(Formatting.None));

    private static string Digest(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    private static JObject Descriptor(string mediaType, byte[] data) => new() { ["mediaType"] = mediaType, ["digest"] = Digest(data), ["size"] = data.Length };
}
