using System.Security.Cryptography;
using System.Text;
using ConnectedRegistry.Core;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Standalone mode: the twin is two local files. The desired file is read at start and again whenever
/// it changes (the whole file is the desired document, as a full twin GET would be). An absent file is no
/// document, reported as a rejection (<see cref="AbsentReason"/>): never the built-in defaults, an open registry, so a
/// module started without one answers 503 until it is written, and one removed leaves the last settings running.
/// Reported patches are merged into the reported file, written atomically (temporary file,
/// then rename) so a reader never sees half a document. The version is the file's <c>$version</c> when it
/// has one, else a counter that moves on every change.
/// </summary>
public sealed partial class FileModuleClient : IModuleClient
{
    private readonly string _desiredPath;
    private readonly string _reportedPath;
    private readonly string? _eventsPath;
    private readonly TwinOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private JObject _reported = new();
    private string? _lastHash;
    private string? _brokenCandidate;
    private DateTimeOffset _brokenSince;
    private int _polls;
    private long _counter;
    private Task _poll = Task.CompletedTask;
    private IModuleClientHandler? _handler;

    public FileModuleClient(string desiredPath, string reportedPath, TwinOptions options, TimeProvider time, ILogger<FileModuleClient> logger, string? eventsPath = null)
    {
        _eventsPath = string.IsNullOrWhiteSpace(eventsPath) ? null : Path.GetFullPath(eventsPath);
        _desiredPath = desiredPath;
        _reportedPath = reportedPath;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>Why an absent desired file applies nothing.</summary>
    public const string AbsentReason = "the desired properties file does not exist (write one; {} is a registry without tokens, open to everyone)";

    public string Kind => "standalone";

    public bool IsConnected => true;

    /// <summary>Ticks of the file poll done so far (each read the desired file once; tests wait on it).</summary>
    public int Polls => Volatile.Read(ref _polls);

    public async Task StartAsync(IModuleClientHandler handler, CancellationToken cancellationToken)
    {
        _handler = handler;
        _reported = ReadReported();
        handler.OnConnectionChanged(true);
        await CheckDesiredAsync(force: true, cancellationToken);
        // The timer starts here, not in the loop's task: the first tick is due one interval after the start whenever that task runs.
        var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(50, _options.FilePollIntervalMs)), _time);
        _poll = Task.Run(() => PollAsync(timer, _stop.Token), CancellationToken.None);
    }

    public async Task UpdateReportedAsync(JObject patch, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            _reported = JsonMergePatch.Apply(_reported, patch);
            var directory = Path.GetDirectoryName(_reportedPath)!;
            Directory.CreateDirectory(directory);
            var temp = Path.Combine(directory, $".{Path.GetFileName(_reportedPath)}.{Guid.NewGuid():N}.tmp");
            try
            {
                await File.WriteAllTextAsync(temp, TwinJson.Serialize(_reported, indented: true) + "\n", cancellationToken);
                File.Move(temp, _reportedPath, overwrite: true);
            }
            catch
            {
                File.Delete(temp); // the reporter retries every few seconds: a failing volume must not fill up with these
                throw;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Messages go to the <c>--events</c> file when one is given.</summary>
    public bool SendsMessages => _eventsPath is not null;

    /// <summary>Appends the message body as one line to the <c>--events</c> file (JSON lines); nothing without one.</summary>
    public async Task SendMessageAsync(ModuleMessage message, CancellationToken cancellationToken)
    {
        if (_eventsPath is null)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(_eventsPath)!);
        var line = new byte[message.Body.Length + 1];
        message.Body.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        await using var file = new FileStream(_eventsPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.Asynchronous);
        await file.WriteAsync(line, cancellationToken); // one write: a reader never sees half a line from a completed call
    }

    private JObject ReadReported()
    {
        try
        {
            return File.Exists(_reportedPath) ? TwinJson.ParseObject(File.ReadAllText(_reportedPath)) : new JObject();
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return new JObject(); // rewritten whole with the next report
        }
    }

    private async Task PollAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        using var owned = timer;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await CheckDesiredAsync(force: false, cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.ReadFailed(_logger, ex.Message);
                }

                Interlocked.Increment(ref _polls);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task CheckDesiredAsync(bool force, CancellationToken cancellationToken)
    {
        string? text = null;
        try
        {
            if (File.Exists(_desiredPath))
            {
                text = await File.ReadAllTextAsync(_desiredPath, cancellationToken);
            }
        }
        catch (IOException)
        {
            return; // being written: the next tick reads it
        }

        var hash = text is null ? "absent" : Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        if (!force && hash == _lastHash)
        {
            return;
        }

        if (text is not null && !force && !IsJsonObject(text) && !BrokenLongEnough(hash))
        {
            return; // maybe caught half-written (an editor that truncates, then writes): judged once it stays so
        }

        _lastHash = hash;
        if (text is null)
        {
            if (!force)
            {
                _counter++; // the file was removed: a new version, which applies nothing
            }

            Log.DesiredAbsent(_logger, _desiredPath);
            await _handler!.OnDesiredUnreadableAsync(_counter, AbsentReason, cancellationToken);
            return;
        }

        _counter++;
        await HandDesiredAsync(text, cancellationToken);
    }

    /// <summary>
    /// True once the same unreadable text has stayed in the file for <see cref="BrokenSettle"/> (and at least one more
    /// tick): a writer that truncates the file and then writes it, stalled between the two on a busy device, is not
    /// reported as a rejected document; a file that really is broken is reported a second later.
    /// </summary>
    private bool BrokenLongEnough(string hash)
    {
        var now = _time.GetUtcNow();
        if (hash != _brokenCandidate)
        {
            _brokenCandidate = hash;
            _brokenSince = now;
            return false;
        }

        return now - _brokenSince >= BrokenSettle;
    }

    /// <summary>How long unreadable text must stay unchanged in the desired file before it is reported as a rejection.</summary>
    public static readonly TimeSpan BrokenSettle = TimeSpan.FromSeconds(1);

    /// <summary>Hands the file's new text to the handler: a JSON object (its <c>$version</c> the counter unless it has one), else why not.</summary>
    private async Task HandDesiredAsync(string text, CancellationToken cancellationToken)
    {
        JObject desired;
        try
        {
            desired = TwinJson.ParseObject(text);
        }
        catch (TwinJsonUnreadableException ex)
        {
            await _handler!.OnDesiredUnreadableAsync(_counter, ex.Message, cancellationToken);
            return;
        }
        catch (JsonException ex)
        {
            await _handler!.OnDesiredUnreadableAsync(_counter, $"the desired properties file is not a JSON object: {ex.Message}", cancellationToken);
            return;
        }

        if (JsonMergePatch.Version(desired) is null)
        {
            desired["$version"] = _counter;
        }

        Log.DesiredRead(_logger, JsonMergePatch.Version(desired)!.Value);
        await _handler!.OnTwinAsync(desired, _reported, cancellationToken);
    }

    private static bool IsJsonObject(string text)
    {
        try
        {
            TwinJson.ParseObject(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _poll;
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 340, Level = LogLevel.Information, Message = "Desired properties file read (version {Version})")]
        public static partial void DesiredRead(ILogger logger, long version);

        [LoggerMessage(EventId = 342, Level = LogLevel.Warning, Message = "The desired properties file {Path} does not exist: no settings are applied from it (write one; {{}} is a registry without tokens, open to everyone)")]
        public static partial void DesiredAbsent(ILogger logger, string path);

        [LoggerMessage(EventId = 341, Level = LogLevel.Warning, Message = "Desired properties file not read: {Reason}")]
        public static partial void ReadFailed(ILogger logger, string reason);
    }
}
