using ConnectedRegistry.Core;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The last desired document that applied, kept in the data volume (temporary file, then rename) so that
/// a module restarted while edgeHub is unreachable serves with its last good settings, not the defaults.
/// It holds what the twin holds: password hashes, never passwords.
/// </summary>
public sealed class LastGoodDesired(string path)
{
    /// <summary>Where it is kept, relative to the data root.</summary>
    public const string RelativePath = "twin/last-good-desired.json";

    public string Path { get; } = path;

    public void Save(JObject desired, long version)
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(Path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write(System.Text.Encoding.UTF8.GetBytes(TwinJson.Serialize(new JObject { ["version"] = version, ["desired"] = desired })));
                file.Flush(flushToDisk: true); // on disk before the rename: a power cut never leaves an empty document in place
            }

            File.Move(temp, Path, overwrite: true);
        }
        catch
        {
            File.Delete(temp); // a failed save (full volume) leaves no temporary file behind, however often it is tried
            throw;
        }
    }

    public bool TryLoad(out JObject desired, out long version)
    {
        desired = new JObject();
        version = 0;
        try
        {
            if (!File.Exists(Path))
            {
                return false;
            }

            var saved = TwinJson.ParseObject(File.ReadAllText(Path));
            if (saved["desired"] is not JObject document || saved["version"] is not JValue { Type: JTokenType.Integer } v)
            {
                return false;
            }

            desired = document;
            version = v.Value<long>();
            return true;
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
