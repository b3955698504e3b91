using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>JSON reading for twin documents: strings stay strings (no date guessing), one place for the settings.</summary>
public static class TwinJson
{
    private static readonly JsonLoadSettings LoadSettings = new() { DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Replace };

    public static JToken Parse(string json)
    {
        using var reader = new JsonTextReader(new StringReader(json)) { DateParseHandling = DateParseHandling.None, FloatParseHandling = FloatParseHandling.Decimal };
        var token = JToken.ReadFrom(reader, LoadSettings);
        if (reader.Read())
        {
            throw new JsonReaderException("Additional text after the JSON value.");
        }

        return token;
    }

    public static JObject ParseObject(string json) =>
        Parse(json) as JObject ?? throw new JsonReaderException("Expected a JSON object.");

    public static string Serialize(JToken token, bool indented = false) => token.ToString(indented ? Formatting.Indented : Formatting.None);
}
