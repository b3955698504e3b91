using System.Text;
using ConnectedRegistry.Core;
using Newtonsoft.Json;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// One answer of the parent's change feed, as the child needs it: the cursor, the flags and each entry's repository
/// name as sent (not validated yet: <see cref="ChangeFeedFollower"/> checks the names and logs the bad ones escaped).
/// </summary>
public sealed record ChangeFeedPage(long? Last, bool Truncated, bool More, IReadOnlyList<string?> Repositories);

/// <summary>
/// Reads a change-feed answer as it arrives, never more than <c>limit</c> bytes of it: a <c>Content-Length</c> over
/// the limit is refused before a byte is read, and a body that runs past it is refused at the byte that does
/// (<see cref="ChangeFeedTooLargeException"/>). Only what the child uses is kept (the cursor, the flags, each entry's
/// repository); the rest of each entry is skipped as it is read. Before, the child buffered the whole answer and then
/// made one string of it: a parent's answer of 200 MB took the child to 1.39 GB.
/// </summary>
public static class ChangeFeedReader
{
    /// <summary>The page; null when the body is not a JSON object (an HTML page with 200, say).</summary>
    /// <exception cref="ChangeFeedTooLargeException">The answer is over <paramref name="limit"/> bytes.</exception>
    /// <exception cref="FormatException">The body is a JSON object, but not of the feed's shape.</exception>
    public static async Task<ChangeFeedPage?> ReadAsync(HttpContent content, long limit, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength is { } declared && declared > limit)
        {
            throw new ChangeFeedTooLargeException(limit, declared);
        }

        await using var body = new CappedStream(await content.ReadAsStreamAsync(cancellationToken), limit);
        using var text = new StreamReader(body, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 16 * 1024);
        using var json = new JsonTextReader(text) { CloseInput = false, DateParseHandling = DateParseHandling.None, MaxDepth = 16 };
        try
        {
            if (!await json.ReadAsync(cancellationToken) || json.TokenType != JsonToken.StartObject)
            {
                return null;
            }
        }
        catch (JsonReaderException)
        {
            return null; // not JSON at all
        }

        try
        {
            return await ReadPageAsync(json, cancellationToken);
        }
        catch (JsonReaderException ex)
        {
            throw new FormatException($"the parent's change feed answer is not valid JSON: {ex.Message}", ex);
        }
    }

    private static async Task<ChangeFeedPage> ReadPageAsync(JsonTextReader json, CancellationToken cancellationToken)
    {
        long? last = null;
        var truncated = false;
        var more = false;
        var repositories = new List<string?>();
        while (await json.ReadAsync(cancellationToken) && json.TokenType == JsonToken.PropertyName)
        {
            var name = (string)json.Value!;
            if (!await json.ReadAsync(cancellationToken))
            {
                break;
            }

            switch (name)
            {
                case "last":
                    last = json.TokenType switch
                    {
                        JsonToken.Integer => Convert.ToInt64(json.Value, System.Globalization.CultureInfo.InvariantCulture),
                        JsonToken.Null => null,
                        _ => throw new FormatException("the parent's change feed answered a 'last' that is not a number"),
                    };
                    break;
                case "truncated":
                    truncated = Flag(json, name);
                    break;
                case "more":
                    more = Flag(json, name);
                    break;
                case "changes":
                    await ReadChangesAsync(json, repositories, cancellationToken);
                    break;
                default:
                    await json.SkipAsync(cancellationToken);
                    break;
            }
        }

        Ended(json, JsonToken.EndObject);
        return new ChangeFeedPage(last, truncated, more, repositories);
    }

    private static bool Flag(JsonTextReader json, string name) => json.TokenType switch
    {
        JsonToken.Boolean => (bool)json.Value!,
        JsonToken.Null => false,
        _ => throw new FormatException($"the parent's change feed answered a '{name}' that is not true or false"),
    };

    private static async Task ReadChangesAsync(JsonTextReader json, List<string?> repositories, CancellationToken cancellationToken)
    {
        if (json.TokenType == JsonToken.Null)
        {
            return;
        }

        if (json.TokenType != JsonToken.StartArray)
        {
            throw new FormatException("the parent's change feed answered 'changes' that is not an array");
        }

        while (await json.ReadAsync(cancellationToken) && json.TokenType != JsonToken.EndArray)
        {
            if (json.TokenType != JsonToken.StartObject)
            {
                throw new FormatException("the parent's change feed answered an entry that is not an object");
            }

            string? repository = null;
            while (await json.ReadAsync(cancellationToken) && json.TokenType == JsonToken.PropertyName)
            {
                var name = (string)json.Value!;
                if (!await json.ReadAsync(cancellationToken))
                {
                    break;
                }

                if (name == "repository" && json.TokenType == JsonToken.String)
                {
                    repository = (string)json.Value!;
                }
                else
                {
                    await json.SkipAsync(cancellationToken);
                }
            }

            Ended(json, JsonToken.EndObject);
            repositories.Add(repository);
        }

        Ended(json, JsonToken.EndArray);
    }

    /// <summary>An answer cut short (the parent closed mid-way) is no page: its cursor would skip what was lost.</summary>
    private static void Ended(JsonTextReader json, JsonToken end)
    {
        if (json.TokenType != end)
        {
            throw new FormatException("the parent's change feed answer ends before it is complete");
        }
    }

    /// <summary>Reads at most <c>limit</c> bytes; the byte past it throws <see cref="ChangeFeedTooLargeException"/>.</summary>
    private sealed class CappedStream(Stream inner, long limit) : ReadOnlyStream
    {
        private long _read;

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken));

        private int Counted(int n)
        {
            _read += n;
            return _read > limit ? throw new ChangeFeedTooLargeException(limit, null) : n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>The parent's change-feed answer is over the child's limit (<c>Hierarchy:MaxFeedAnswerBytes</c>); it was not read further.</summary>
public sealed class ChangeFeedTooLargeException(long limit, long? declared)
    : Exception(declared is { } length
        ? $"the parent's change feed answer declares {length} bytes, over the limit of {limit}"
        : $"the parent's change feed answer runs over the limit of {limit} bytes")
{
    public long Limit { get; } = limit;
}
