using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Testing;

/// <summary>
/// The tests' one <see cref="IModuleClient"/> double (both test projects): records the handler it is started with and
/// every reported patch (the first with the time it came), and can fail the next patches with queued exceptions (a hub
/// that refuses or never confirms one).
/// </summary>
public sealed class RecordingModuleClient : IModuleClient
{
    private readonly Lock _gate = new();
    private readonly List<JObject> _patches = [];
    private readonly List<IModuleClientHandler> _starts = [];
    private int _attempts;
    private DateTimeOffset? _firstPatchTime;

    public string Kind { get; init; } = "recording";

    public bool IsConnected => true;

    public bool SendsMessages => false;

    /// <summary>Thrown, one per attempt, by the next reported patches before any is recorded.</summary>
    public Queue<Exception> Failures { get; init; } = new();

    /// <summary>What starting does once the handler is recorded (edgeHub delivers the whole twin, for example).</summary>
    public Func<IModuleClientHandler, CancellationToken, Task>? OnStart { get; set; }

    /// <summary>Every reported patch tried, refused or not.</summary>
    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>The reported patches accepted, oldest first.</summary>
    public IReadOnlyList<JObject> Patches
    {
        get
        {
            lock (_gate)
            {
                return [.. _patches];
            }
        }
    }

    /// <summary>The reported document as the twin keeps it: the accepted patches merged in order.</summary>
    public JObject Reported
    {
        get
        {
            lock (_gate)
            {
                return _patches.Aggregate(new JObject(), (document, patch) => JsonMergePatch.Apply(document, (JObject)patch.DeepClone()));
            }
        }
    }

    /// <summary>When the first patch was accepted (the system clock), null before.</summary>
    public DateTimeOffset? FirstPatchTime
    {
        get
        {
            lock (_gate)
            {
                return _firstPatchTime;
            }
        }
    }

    /// <summary>The handlers the client was started with.</summary>
    public IReadOnlyList<IModuleClientHandler> Starts
    {
        get
        {
            lock (_gate)
            {
                return [.. _starts];
            }
        }
    }

    public Task StartAsync(IModuleClientHandler handler, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _starts.Add(handler);
        }

        return OnStart?.Invoke(handler, cancellationToken) ?? Task.CompletedTask;
    }

    public Task UpdateReportedAsync(JObject patch, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _attempts);
        lock (_gate)
        {
            if (Failures.TryDequeue(out var failure))
            {
                throw failure;
            }

            _patches.Add((JObject)patch.DeepClone());
            _firstPatchTime ??= DateTimeOffset.UtcNow;
        }

        return Task.CompletedTask;
    }

    public Task SendMessageAsync(ModuleMessage message, CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
