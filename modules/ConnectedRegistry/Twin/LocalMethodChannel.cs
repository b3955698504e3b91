using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using ConnectedRegistry.Core;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The module's direct methods on the machine itself: a unix socket in the data root (<see cref="SocketName"/>, mode
/// 0600), served in both modes, so that a standalone site (no IoT Hub to invoke a method through) can call
/// <c>syncNow</c>, <c>getStatus</c>, <c>bundleState</c>, <c>importBundle</c> or <c>garbageCollect</c> with
/// <c>ConnectedRegistry call</c>. Only the data root's owner reaches it: the socket file is the owner's alone, and
/// a peer whose user is neither the registry's nor root is closed on unread (the peer's credentials, so the moment
/// between creating the socket and narrowing its mode opens nothing).
/// <para>One call per connection, one line each way: <c>{"method": NAME, "payload": TEXT}</c> (the raw payload, as IoT
/// Hub passes it), answered <c>{"status": N, "payload": JSON}</c> by the same dispatcher as the twin's calls.</para>
/// </summary>
public sealed partial class LocalMethodChannel(RegistryOptions options, DirectMethodDispatcher methods, ILogger<LocalMethodChannel> logger) : BackgroundService
{
    public const string SocketName = "control.sock";

    /// <summary>The longest request line read (a payload is a few hundred bytes; this bounds what a caller can make the module hold).</summary>
    public const int MaxRequestBytes = 1024 * 1024;

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The socket of the registry whose data root is <paramref name="dataRoot"/>.</summary>
    public static string SocketPath(string dataRoot) => Path.Combine(Path.GetFullPath(dataRoot), SocketName);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = SocketPath(options.DataRoot);
        Socket listener;
        try
        {
            if (await AnswersAsync(path))
            {
                Log.Taken(logger, path);
                return;
            }

            listener = Listen(path);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Log.NotServed(logger, path, ex.Message);
            return;
        }

        Log.Serving(logger, path);
        using (listener)
        {
            try
            {
                while (true)
                {
                    var peer = await listener.AcceptAsync(stoppingToken);
                    _ = ServeAsync(peer, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            finally
            {
                TryDelete(path);
            }
        }
    }

    /// <summary>True when a registry already serves <paramref name="path"/> (a second one on the same data root leaves it be).</summary>
    private static async Task<bool> AnswersAsync(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            File.Delete(path); // left by a registry that ended without removing it
            return false;
        }
    }

    private static Socket Listen(string path)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            listener.Listen(16);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    private async Task ServeAsync(Socket peer, CancellationToken stoppingToken)
    {
        using (peer)
        {
            try
            {
                if (PeerUser(peer) is { } uid && uid != 0 && uid != OwnUser())
                {
                    Log.Refused(logger, uid);
                    return;
                }

                await using var stream = new NetworkStream(peer, ownsSocket: false);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(RequestTimeout);
                var line = await ReadLineAsync(stream, timeout.Token);
                var answer = line is null ? DirectMethodResult.Error(400, "BadRequest", "The request is not one line of JSON of at most 1 MiB.") : await CallAsync(line, stoppingToken);
                var text = new JObject { ["status"] = answer.Status, ["payload"] = answer.Payload }.ToString(Formatting.None) + "\n";
                await stream.WriteAsync(Encoding.UTF8.GetBytes(text), stoppingToken);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                Log.Dropped(logger, ex.Message); // the caller went away, or the module is stopping
            }
        }
    }

    private Task<DirectMethodResult> CallAsync(string line, CancellationToken cancellationToken)
    {
        JObject request;
        try
        {
            request = JObject.Parse(line);
        }
        catch (JsonException)
        {
            return Task.FromResult(DirectMethodResult.Error(400, "BadRequest", "The request is not a JSON object."));
        }

        if (request["method"] is not JValue { Type: JTokenType.String } method || request["payload"] is { Type: not (JTokenType.String or JTokenType.Null) })
        {
            return Task.FromResult(DirectMethodResult.Error(400, "BadRequest", "The request needs \"method\" (a string) and may have \"payload\" (the payload's text)."));
        }

        return methods.DispatchAsync((string)method!, request.Value<string>("payload") ?? string.Empty, cancellationToken);
    }

    /// <summary>The request line without its newline; null when it is longer than <see cref="MaxRequestBytes"/> or not UTF-8.</summary>
    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        while (buffer.Length <= MaxRequestBytes)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken);
            var end = Array.IndexOf(chunk, (byte)'\n', 0, read);
            buffer.Write(chunk, 0, end >= 0 ? end : read);
            if (end >= 0 || read == 0)
            {
                try
                {
                    return buffer.Length <= MaxRequestBytes ? new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length) : null;
                }
                catch (DecoderFallbackException)
                {
                    return null;
                }
            }
        }

        return null;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // the next start removes it
        }
    }

    /// <summary>The user of the process at the other end (Linux <c>SO_PEERCRED</c>); null where it cannot be asked.</summary>
    private static uint? PeerUser(Socket peer)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        const int SolSocket = 1, SoPeerCred = 17;
        return peer.GetRawSocketOption(SolSocket, SoPeerCred, credentials) == 12 ? BitConverter.ToUInt32(credentials[4..8]) : null;
    }

    private static uint OwnUser() => OperatingSystem.IsWindows() ? 0 : GetEffectiveUser();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUser();

    private static partial class Log
    {
        [LoggerMessage(EventId = 360, Level = LogLevel.Information, Message = "Direct methods served locally on {Path} (ConnectedRegistry call METHOD)")]
        public static partial void Serving(ILogger logger, string path);

        [LoggerMessage(EventId = 361, Level = LogLevel.Warning, Message = "Direct methods are not served locally: {Path} cannot be a socket ({Reason})")]
        public static partial void NotServed(ILogger logger, string path, string reason);

        [LoggerMessage(EventId = 362, Level = LogLevel.Warning, Message = "Direct methods are not served locally: another registry answers on {Path} (two registries on one data root?)")]
        public static partial void Taken(ILogger logger, string path);

        [LoggerMessage(EventId = 363, Level = LogLevel.Warning, Message = "A local method call from user {Uid} was refused: only the data root's owner and root may call")]
        public static partial void Refused(ILogger logger, uint uid);

        [LoggerMessage(EventId = 364, Level = LogLevel.Debug, Message = "A local method call ended early: {Reason}")]
        public static partial void Dropped(ILogger logger, string reason);
    }
}
