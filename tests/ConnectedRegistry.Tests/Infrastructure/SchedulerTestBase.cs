using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.Tests.Infrastructure;

/// <summary>
/// A <see cref="SyncScheduler"/> on a fake clock that starts at 00:10 UTC, with the live state it writes and the
/// settings it reads; stopped and disposed after each test. Shared by the scheduler's own tests and the hierarchy's.
/// </summary>
public abstract class SchedulerTestBase : IAsyncLifetime
{
    protected static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 10, 0, TimeSpan.Zero);

    protected readonly ObservedTimeProvider _time = new(Start);
    protected readonly ModuleState _state = new();
    protected readonly RegistrySettingsStore _settings = new();
    protected SyncScheduler _scheduler = null!;

    /// <summary>Applies <paramref name="settings"/> and starts a scheduler that runs <paramref name="work"/>.</summary>
    protected async Task StartSchedulerAsync(RegistrySettings settings, ISyncWork work, SyncSchedulerOptions? options = null)
    {
        _settings.Apply(settings);
        _scheduler = new SyncScheduler(_settings, _state, work, _time, NullLogger<SyncScheduler>.Instance, options);
        await _scheduler.StartAsync(default);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_scheduler is not null)
        {
            await _scheduler.StopAsync(default);
            _scheduler.Dispose();
        }
    }
}
