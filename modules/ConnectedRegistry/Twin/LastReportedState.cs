using ConnectedRegistry.Core;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>What the reporter last showed of the states a restart cannot know at once.</summary>
/// <param name="ConnectionState">Never <c>Syncing</c>: a pass does not outlive its run, so the state before it is kept.</param>
/// <param name="Since">When these values were first shown (the last change of any of them).</param>
public sealed record ReportedStateRecord(string ActivationState, string ConnectionState, DesiredStatus Desired, DateTimeOffset Since)
{
    /// <summary>The same values, whatever their time.</summary>
    public bool SameValues(ReportedStateRecord other) => this with { Since = other.Since } == other;
}

/// <summary>
/// The last reported <c>activationState</c>, <c>connectionState</c>, <c>lastDesiredVersion</c> and <c>lastDesiredStatus</c>,
/// kept in the data volume next to the last good desired document (temporary file, then rename) and written only when
/// one of them changes. The next start reports them, marked <c>fromPreviousRun</c>, until it knows its own: not the
/// <c>Inactive</c>, <c>Offline</c> and version 0 of a module that has not tried anything yet.
/// </summary>
public sealed class LastReportedState(string path)
{
    /// <summary>Where it is kept, relative to the data root.</summary>
    public const string RelativePath = "twin/last-reported-state.json";

    public string Path { get; } = path;

    public void Save(ReportedStateRecord state)
    {
        var document = new JObject
        {
            ["activationState"] = state.ActivationState,
            ["connectionState"] = state.ConnectionState,
            ["lastDesiredVersion"] = state.Desired.Version,
            ["lastDesiredStatus"] = new JObject { ["code"] = state.Desired.Code, ["description"] = state.Desired.Description },
            ["since"] = state.Since.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        };
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(Path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write(System.Text.Encoding.UTF8.GetBytes(TwinJson.Serialize(document)));
                file.Flush(flushToDisk: true); // on disk before the rename: a power cut never leaves an empty document in place
            }

            File.Move(temp, Path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>The kept state; null when there is none or it cannot be read (then the start shows its own defaults).</summary>
    public ReportedStateRecord? TryLoad()
    {
        try
        {
            if (!File.Exists(Path))
            {
                return null;
            }

            var saved = TwinJson.ParseObject(File.ReadAllText(Path));
            if (saved["activationState"] is not JValue { Type: JTokenType.String } activation
                || saved["connectionState"] is not JValue { Type: JTokenType.String } connection
                || saved["lastDesiredVersion"] is not JValue { Type: JTokenType.Integer } version
                || saved["lastDesiredStatus"] is not JObject { } status
                || status["code"] is not JValue { Type: JTokenType.Integer } code
                || status["description"] is not JValue { Type: JTokenType.String } description
                || saved["since"] is not JValue { Type: JTokenType.String } since
                || !DateTimeOffset.TryParse((string)since!, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out var sinceTime))
            {
                return null;
            }

            return new ReportedStateRecord((string)activation!, (string)connection!,
                new DesiredStatus(version.Value<long>(), code.Value<int>(), (string)description!), sinceTime);
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
