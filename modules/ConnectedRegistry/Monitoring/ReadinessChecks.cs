using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace ConnectedRegistry.Monitoring;

/// <summary>The names of the checks <c>/readyz</c> runs (registered in <see cref="MonitoringServiceExtensions"/>).</summary>
public static class ReadinessChecks
{
    public const string Tag = "ready";
    public const string DataRoot = "dataRoot";
    public const string Databases = "databases";
    public const string Settings = "settings";
    public const string ConnectionState = "connectionState";
    public const string Parent = "parent";
}

/// <summary>
/// The data root takes a write: a small file is created in <c>staging/</c>, synced to disk and removed. <c>/readyz</c>
/// needs no credentials, so one probe's answer serves every caller for <see cref="CacheFor"/> (a flood of calls costs
/// one file and one fsync a second, not one each); callers that arrive while it runs share it. A singleton.
/// </summary>
internal sealed class DataRootWritableCheck(DataLayout layout, TimeProvider time) : IHealthCheck
{
    /// <summary>How long one probe's answer stands.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private Task<HealthCheckResult>? _probe;
    private long _probedAt;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        Task<HealthCheckResult> probe;
        lock (_gate)
        {
            if (_probe is null || time.GetElapsedTime(_probedAt) >= CacheFor)
            {
                _probe = Task.Run(ProbeAsync, CancellationToken.None); // not one caller's: the others wait for it too
                _probedAt = time.GetTimestamp();
            }

            probe = _probe;
        }

        return probe.WaitAsync(cancellationToken);
    }

    private async Task<HealthCheckResult> ProbeAsync()
    {
        var probe = layout.NewStagingPath();
        try
        {
            await using (var file = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                file.WriteByte(1);
                file.Flush(flushToDisk: true);
            }

            File.Delete(probe);
            return HealthCheckResult.Healthy("the data root takes writes");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(probe);
            return HealthCheckResult.Unhealthy($"the data root cannot be written: {ex.Message}");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Every SQLite file of the data root opens and answers a query (<c>registry.db</c> must exist; the others once created).</summary>
internal sealed class DatabasesCheck(DataLayout layout) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        var open = new List<string>();
        foreach (var (file, required) in new[] { (DataLayout.DatabaseFile, true), (SyncDatabase.FileName, false), (HierarchyStore.FileName, false) })
        {
            var path = Path.Combine(layout.Root, file);
            if (!File.Exists(path))
            {
                if (required)
                {
                    problems.Add($"{file} is missing");
                }

                continue;
            }

            try
            {
                var connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
                using var connection = new SqliteConnection(connectionString);
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM sqlite_master";
                command.ExecuteScalar();
                open.Add(file);
            }
            catch (SqliteException ex)
            {
                problems.Add($"{file}: {ex.Message}");
            }
        }

        return Task.FromResult(problems.Count == 0
            ? HealthCheckResult.Healthy("open: " + string.Join(", ", open))
            : HealthCheckResult.Unhealthy(string.Join("; ", problems)));
    }
}

/// <summary>
/// A desired document has been applied (the twin, the standalone file, or the last good one kept from an
/// earlier run): until then every request but <c>/v2/</c> answers 503, and the check names why (no document yet,
/// or the reasons the first ones were rejected).
/// </summary>
internal sealed class SettingsAppliedCheck(IRegistrySettingsSource settings) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(settings.NotApplied is { } reason
            ? HealthCheckResult.Unhealthy("no settings applied, every request but /v2/ answers 503: " + reason)
            : HealthCheckResult.Healthy($"applied: registry '{settings.Current.Name ?? "(unnamed)"}', mode {settings.Current.Mode}"));
}

/// <summary>
/// The reported <c>connectionState</c> is not <c>Unhealthy</c> (disk error, activation refused). A parent that
/// refuses the sync token alone is not this container's fault and serving goes on: that is Degraded (200), named
/// by the <c>parent</c> check.
/// </summary>
internal sealed class ConnectionStateCheck(ModuleState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = state.Snapshot();
        if (snapshot.ConnectionState != ConnectionStates.Unhealthy)
        {
            return Task.FromResult(HealthCheckResult.Healthy("connectionState " + snapshot.ConnectionState));
        }

        var reasons = snapshot.StatusDetails.Where(d => d.Type == "Error").Select(d => d.Code).ToList();
        var why = reasons.Count > 0 ? string.Join(", ", reasons) : snapshot.Sync.LastError ?? "no detail";
        if (reasons.Count > 0 && reasons.All(r => r == SyncScheduler.CredentialsRefusedCode))
        {
            return Task.FromResult(HealthCheckResult.Degraded("connectionState Unhealthy: " + why + " (serving goes on)"));
        }

        return Task.FromResult(HealthCheckResult.Unhealthy("connectionState Unhealthy: " + why));
    }
}

/// <summary>
/// The link to the parent as sync last found it: Degraded when the parent refuses the sync token (the status detail
/// <see cref="SyncScheduler.CredentialsRefusedCode"/>), Healthy otherwise, with the connection state and last error.
/// Never Unhealthy: the registry serves what it holds whatever the parent says, so this check does not fail /readyz.
/// </summary>
internal sealed class ParentLinkCheck(ModuleState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = state.Snapshot();
        if (snapshot.StatusDetails.FirstOrDefault(d => d.Code == SyncScheduler.CredentialsRefusedCode) is { } refused)
        {
            return Task.FromResult(HealthCheckResult.Degraded(refused.Description));
        }

        var error = snapshot.Sync.LastError is { } e ? ", last error: " + e : string.Empty;
        return Task.FromResult(HealthCheckResult.Healthy("connectionState " + snapshot.ConnectionState + error));
    }
}
