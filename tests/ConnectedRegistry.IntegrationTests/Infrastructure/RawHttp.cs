using System.Net.Sockets;
using System.Text;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>A response read off the wire: status, headers (last value wins) and the de-chunked body.</summary>
public sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    /// <summary>The OCI error code when the body is the <c>{"errors":[…]}</c> envelope, else null.</summary>
    public string? ErrorCode
    {
        get
        {
            try
            {
                var envelope = JObject.Parse(Encoding.UTF8.GetString(Body));
                return (string?)envelope["errors"]?[0]?["code"];
            }
            catch (Newtonsoft.Json.JsonException)
            {
                return null;
            }
        }
    }
}

/// <summary>
/// HTTP/1.1 over a bare socket, for requests HttpClient would refuse to send or would normalise first
/// (encoded dot segments, made-up methods, forged framing, bodies cut short).
/// </summary>
public static class RawHttp
{
    /// <summary>Sends <paramref name="head"/> (request line and headers, without the blank line) and <paramref name="body"/>, then reads the whole response.</summary>
    /// <param name="declaredBodyCut">When true the write side is closed right after the body, so a shorter body than declared is a truncated request.</param>
    public static async Task<RawResponse?> SendAsync(Uri server, string head, byte[]? body = null, bool declaredBodyCut = false)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        var request = Encoding.Latin1.GetBytes(head.TrimEnd('\r', '\n') + "\r\nHost: " + server.Authority + "\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(request);
        if (body is not null)
        {
            await stream.WriteAsync(body);
        }

        if (declaredBodyCut)
        {
            tcp.Client.Shutdown(SocketShutdown.Send);
        }

        using var buffer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await stream.CopyToAsync(buffer, timeout.Token);
        }
        catch (IOException)
        {
            // A reset after a complete answer still leaves the answer in the buffer.
        }

        return Parse(buffer.ToArray());
    }

    private static RawResponse? Parse(byte[] raw)
    {
        var text = Encoding.Latin1.GetString(raw);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return null; // the server closed without an answer
        }

        var lines = text[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var body = raw[(end + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Dechunk(body);
        }

        return new RawResponse(status, headers, body);
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        using var output = new MemoryStream();
        var position = 0;
        while (position < chunked.Length)
        {
            var lineEnd = IndexOf(chunked, position);
            if (lineEnd < 0)
            {
                break;
            }

            var sizeText = Encoding.Latin1.GetString(chunked, position, lineEnd - position).Split(';')[0];
            var size = Convert.ToInt32(sizeText, 16);
            if (size == 0)
            {
                break;
            }

            output.Write(chunked, lineEnd + 2, Math.Min(size, chunked.Length - lineEnd - 2));
            position = lineEnd + 2 + size + 2;
        }

        return output.ToArray();
    }

    private static int IndexOf(byte[] data, int start)
    {
        for (var i = start; i + 1 < data.Length; i++)
        {
            if (data[i] == '\r' && data[i + 1] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}
