using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Core;

/// <summary>
/// JSON reading for twin documents, method payloads and the workload API's answers: strings stay strings (no date
/// guessing), one place for the settings. In Core because the twin, the module identity and the events queue all read or
/// write with it.
/// </summary>
public static class TwinJson
{
    private static readonly JsonLoadSettings LoadSettings = new() { DuplicatePropertyNameHandling = DuplicatePropertyNameHandling.Replace };

    /// <summary>
    /// Reads one JSON value. Fractions are read as decimals (exact). A number beyond the decimal range, or a member
    /// named twice in one object, throws <see cref="TwinJsonUnreadableException"/> naming every member where that is,
    /// so a rejection says where: which of two <c>clientTokens</c> was meant is a guess (JSON readers keep the last,
    /// and a last <c>{}</c> would quietly drop every token), so the document is not applied at all.
    /// </summary>
    public static JToken Parse(string json)
    {
        JToken document;
        var problems = new List<TwinJsonProblem>();
        try
        {
            document = Read(json, FloatParseHandling.Decimal);
        }
        catch (JsonReaderException first)
        {
            var (outOfRange, doubles) = OutOfRangeMembers(json);
            if (outOfRange.Count == 0)
            {
                throw;
            }

            problems.AddRange(outOfRange.Select(m => new TwinJsonProblem(m, "the number is out of range")));
            problems.AddRange(DuplicateMembers(json).Select(m => new TwinJsonProblem(m, DuplicateReason)));
            throw new TwinJsonUnreadableException(problems, doubles!, first);
        }

        problems.AddRange(DuplicateMembers(json).Select(m => new TwinJsonProblem(m, DuplicateReason)));
        return problems.Count == 0 ? document : throw new TwinJsonUnreadableException(problems, document, null);
    }

    /// <summary>The reason given for a member named twice.</summary>
    public const string DuplicateReason = "the member is named more than once in its object";

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

    /// <summary>The paths of the members named a second (third, …) time in their object, in document order.</summary>
    private static List<string> DuplicateMembers(string json)
    {
        var duplicates = new List<string>();
        var open = new Stack<HashSet<string>>();
        using var reader = new JsonTextReader(new StringReader(json)) { DateParseHandling = DateParseHandling.None, FloatParseHandling = FloatParseHandling.Double };
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonToken.StartObject:
                    open.Push(new HashSet<string>(StringComparer.Ordinal));
                    break;
                case JsonToken.EndObject:
                    open.Pop();
                    break;
                case JsonToken.PropertyName when !open.Peek().Add((string)reader.Value!) && !duplicates.Contains(reader.Path, StringComparer.Ordinal):
                    duplicates.Add(reader.Path);
                    break;
            }
        }

        return duplicates;
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

/// <summary>One member a twin document cannot be applied with: its JSON path and why.</summary>
public sealed record TwinJsonProblem(string Path, string Reason)
{
    public override string ToString() => $"{Path}: {Reason}";
}

/// <summary>
/// A twin document that is JSON but cannot be applied: numbers too large to read, members named twice.
/// <see cref="Problems"/> names where (as JSON paths).
/// </summary>
public sealed class TwinJsonUnreadableException(IReadOnlyList<TwinJsonProblem> problems, JToken document, Exception? inner)
    : JsonReaderException(string.Join("; ", problems), problems.Count > 0 ? problems[0].Path : "", 0, 0, inner)
{
    public IReadOnlyList<TwinJsonProblem> Problems { get; } = problems;

    /// <summary>The paths of the problems.</summary>
    public IReadOnlyList<string> Members => [.. Problems.Select(p => p.Path)];

    /// <summary>
    /// The document as far as it could be read (numbers as doubles, those members infinite or rounded; the last of
    /// repeated members): to read the rest of it (<c>$version</c>), never to apply.
    /// </summary>
    public JToken Document { get; } = document;
}
