using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Turns state changes into reported-properties patches: every change only raises a signal; one loop
/// sends at most one patch per <see cref="TwinOptions.ReportInterval"/>, holding the diff between what
/// the twin last confirmed and the current state (null for removed members). A burst of changes becomes
/// one patch; nothing is sent when nothing changed.
/// </summary>
public sealed partial class ReportedPropertiesReporter
{
    private readonly ModuleState _state;
    private readonly DesiredPropertiesPipeline _desired;
    private readonly TwinOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly Lock _gate = new();
    private JObject _lastReported = new();
    private DateTimeOffset _lastSent = DateTimeOffset.MinValue;
    private long _patchesSent;
    private int _waits;
    private LastReportedState? _file;
    private ReportedStateRecord? _saved;
    private volatile ReportedStateRecord? _previousDesired;
    private bool _saveFailed;

    public ReportedPropertiesReporter(ModuleState state, DesiredPropertiesPipeline desired, TwinOptions options, TimeProvider time, ILogger<ReportedPropertiesReporter> logger)
    {
        _state = state;
        _desired = desired;
        _options = options;
        _time = time;
        _logger = logger;
        _state.Changed += Signal;
        _desired.StatusChanged += _ =>
        {
            _previousDesired = null; // this run processed a document: its own status from now on
            Signal();
        };
    }

    public long PatchesSent => Interlocked.Read(ref _patchesSent);

    /// <summary>How many times the loop has started waiting for a signal (tests assert "nothing sent" once it waits again).</summary>
    internal int Waits => Volatile.Read(ref _waits);

    /// <summary>The reported document as the twin holds it after our last confirmed patch.</summary>
    public JObject LastReported
    {
        get
        {
            lock (_gate)
            {
                return (JObject)_lastReported.DeepClone();
            }
        }
    }

    /// <summary>The whole reported document for the current state.</summary>
    public JObject Current()
    {
        var previous = _previousDesired;
        return ReportedProperties.Build(_state.Snapshot(), previous?.Desired ?? _desired.Status, _options.MaxReportedBytes, previous?.Since);
    }

    /// <summary>
    /// At start, after the last good desired document was replayed: shows the desired status the previous run reported
    /// (<paramref name="previous"/>, from <paramref name="file"/>) until this run processes a document of its own, and from
    /// now on keeps <paramref name="file"/> up to date with what is shown (written when it changes).
    /// </summary>
    public void StartFromPreviousRun(LastReportedState file, ReportedStateRecord? previous)
    {
        lock (_gate)
        {
            _file = file;
            _saved = previous;
        }

        _previousDesired = previous;
        Signal();
    }

    /// <summary>
    /// Writes the shown activation and connection state and desired status to the file when one of them changed since
    /// the last write (a <c>Syncing</c> keeps the state before it). Called by the reporting loop and at stop.
    /// </summary>
    public void Persist()
    {
        LastReportedState? file;
        ReportedStateRecord? saved;
        lock (_gate)
        {
            file = _file;
            saved = _saved;
        }

        if (file is null)
        {
            return;
        }

        var snapshot = _state.Snapshot();
        var connection = snapshot.ConnectionState == ConnectionStates.Syncing ? saved?.ConnectionState : snapshot.ConnectionState;
        if (connection is null)
        {
            return;
        }

        var shown = new ReportedStateRecord(snapshot.ActivationState, connection, _previousDesired?.Desired ?? _desired.Status, _time.GetUtcNow());
        if (saved is not null && shown.SameValues(saved))
        {
            return;
        }

        try
        {
            file.Save(shown);
            _saveFailed = false;
            lock (_gate)
            {
                _saved = shown;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (!_saveFailed)
            {
                _saveFailed = true; // said once, tried again at the next change
                Log.StateNotSaved(_logger, ex.Message);
            }
        }
    }

    /// <summary>After a (re)connect: the twin's reported properties as they are, so the next patch is a diff against them.</summary>
    public void Rebase(JObject reported)
    {
        lock (_gate)
        {
            _lastReported = JsonMergePatch.WithoutMetadata(reported);
        }

        Signal();
    }

    public void Signal()
    {
        try
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // already signalled
        }
    }

    public async Task RunAsync(IModuleClient client, CancellationToken cancellationToken)
    {
        while (true)
        {
            // A stop always ends in OperationCanceledException, wherever in the loop it arrives.
            cancellationToken.ThrowIfCancellationRequested();
            Interlocked.Increment(ref _waits);
            await _signal.WaitAsync(cancellationToken);
            Persist();
            var wait = _lastSent + _options.ReportInterval - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, _time, cancellationToken);
            }

            // Changes that arrived while waiting are in the state already: this one patch carries them.
            if (_signal.CurrentCount > 0)
            {
                await _signal.WaitAsync(cancellationToken);
            }

            var current = Current();
            JObject patch;
            lock (_gate)
            {
                patch = JsonMergePatch.Diff(_lastReported, current);
            }

            if (patch.Count == 0)
            {
                continue;
            }

            await SendAsync(client, patch, cancellationToken);
        }
    }

    /// <summary>Sends one patch; a patch not confirmed stays pending (the next one carries it), one refused for good counts as sent.</summary>
    private async Task SendAsync(IModuleClient client, JObject patch, CancellationToken cancellationToken)
    {
        try
        {
            _lastSent = _time.GetUtcNow();
            await client.UpdateReportedAsync(patch, cancellationToken);
            lock (_gate)
            {
                _lastReported = JsonMergePatch.Apply(_lastReported, patch);
            }

            Interlocked.Increment(ref _patchesSent);
            Log.Reported(_logger, patch.Count, ReportedProperties.Size(patch));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (TwinRequestRejectedException ex)
        {
            // The twin refused this patch for good (for example too large): sending it again cannot help,
            // so count it as done and let the next change send what differs after it.
            Log.ReportRejected(_logger, ex.Status, ex.Message);
            lock (_gate)
            {
                _lastReported = JsonMergePatch.Apply(_lastReported, patch);
            }
        }
        catch (Exception ex)
        {
            // Not confirmed: the diff is still pending and goes out with the next one.
            Log.ReportFailed(_logger, ex.Message);
            Signal();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 320, Level = LogLevel.Debug, Message = "Reported {Members} changed members ({Bytes} bytes)")]
        public static partial void Reported(ILogger logger, int members, int bytes);

        [LoggerMessage(EventId = 321, Level = LogLevel.Warning, Message = "Reported properties not confirmed, retrying with the next patch: {Reason}")]
        public static partial void ReportFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 323, Level = LogLevel.Warning, Message = "The reported state was not kept for the next start: {Reason}")]
        public static partial void StateNotSaved(ILogger logger, string reason);

        [LoggerMessage(EventId = 322, Level = LogLevel.Error, Message = "Reported properties patch refused with {Status}: {Reason}")]
        public static partial void ReportRejected(ILogger logger, int status, string reason);
    }
}
