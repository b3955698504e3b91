using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Infrastructure;

/// <summary>
/// The unit tests' one <see cref="IModuleClient"/> double: records the handler it is started with and every reported
/// patch, and can fail the next patches with queued exceptions (a hub that refuses or never confirms one).
/// </summary>
public sealed class RecordingModuleClient : IModuleClient
{
    private readonly Lock _gate = new();
    private readonly List<JObject> _patches = [];
    private readonly List<IModuleClientHandler> _starts = [];
    private int _attempts;

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
        }

        return Task.CompletedTask;
    }

    public Task SendMessageAsync(ModuleMessage message, CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
