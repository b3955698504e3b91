using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>JSON reading for twin documents: strings stay strings (no date guessing), one place for the settings.</summary>
public static class TwinJson
{
    private static readonly JsonLoadSettings LoadSettings = new() { DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Replace };

    /// <summary>
    /// Reads one JSON value. Fractions are read as decimals (exact); a number beyond the decimal range throws
    /// <see cref="TwinJsonNumberException"/> naming every member that holds one, so a rejection says where it is.
    /// </summary>
    public static JToken Parse(string json)
    {
        try
        {
            return Read(json, FloatParseHandling.Decimal);
        }
        catch (JsonReaderException first)
        {
            var (outOfRange, document) = OutOfRangeMembers(json);
            if (outOfRange.Count > 0)
            {
                throw new TwinJsonNumberException(outOfRange, document!, first);
            }

            throw;
        }
    }

    public static JObject ParseObject(string json) =>
        Parse(json) as JObject ?? throw new JsonReaderException("Expected a JSON object.");

    public static string Serialize(JToken token, bool indented = false) => token.ToString(indented ? Formatting.Indented : Formatting.None);

    private static JToken Read(string json, FloatParseHandling floats)
    {
        using var reader = new JsonTextReader(new StringReader(json)) { DateParseHandling = DateParseHandling.None, FloatParseHandling = floats };
        var token = JToken.ReadFrom(reader, LoadSettings);
        if (reader.Read())
        {
            throw new JsonReaderException("Additional text after the JSON value.");
        }

        return token;
    }

    /// <summary>
    /// The paths of the numbers a decimal cannot hold, and the document read again with doubles (to read the rest of
    /// it, <c>$version</c> say); none when the text is broken anyway.
    /// </summary>
    private static (List<string> Members, JToken? Document) OutOfRangeMembers(string json)
    {
        JToken asDoubles;
        try
        {
            asDoubles = Read(json, FloatParseHandling.Double);
        }
        catch (JsonReaderException)
        {
            return ([], null);
        }

        var all = asDoubles is JContainer container ? container.DescendantsAndSelf() : [asDoubles];
        var members = all
            .OfType<JValue>()
            .Where(v => v.Value is double d && (!double.IsFinite(d) || Math.Abs(d) > (double)decimal.MaxValue))
            .Select(v => v.Path.Length == 0 ? "the document" : v.Path)
            .ToList();
        return (members, asDoubles);
    }
}

/// <summary>A twin document holds numbers too large to read; <see cref="Members"/> names where (as JSON paths).</summary>
public sealed class TwinJsonNumberException(IReadOnlyList<string> members, JToken document, Exception inner)
    : JsonReaderException(string.Join("; ", members.Select(m => $"{m}: the number is out of range")), inner)
{
    public IReadOnlyList<string> Members { get; } = members;

    /// <summary>The document read with doubles for numbers (those members infinite or rounded): to read the rest of it, never to apply.</summary>
    public JToken Document { get; } = document;
}
