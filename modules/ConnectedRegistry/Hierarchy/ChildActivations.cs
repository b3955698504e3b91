using System.Collections.Concurrent;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// Parent side of activation: which instance holds each child registry's identity, recorded in <c>hierarchy.db</c>.
/// A child's identity is its registry name (the name it authenticates with). One instance at a time may hold it:
/// a second instance is refused (<c>ALREADY_ACTIVATED</c>) until the first deactivates or the operator calls
/// <c>deactivateChild</c> here. The same instance activating again (a restart) is fine; an instance is the same when
/// its persisted instance id matches, or when it runs under IoT Edge with the same device, module and generation id
/// (a container recreated without its data volume on the same deployment).
/// Every contact refreshes the child's last-seen time (written at most every <see cref="HierarchyOptions.LastSeenInterval"/>);
/// the children's states go to the reported properties through <see cref="ModuleState.SetChild"/>.
/// </summary>
public sealed partial class ChildActivations : IHostedService
{
    private readonly HierarchyStore _store;
    private readonly ModuleState _state;
    private readonly IRegistrySettingsSource _settings;
    private readonly HierarchyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ChildActivations> _logger;
    private readonly Lock _gate = new();
    private readonly IEventPublisher? _events;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastWritten = new(StringComparer.Ordinal);

    public ChildActivations(HierarchyStore store, ModuleState state, IRegistrySettingsSource settings, HierarchyOptions options, TimeProvider time, ILogger<ChildActivations> logger,
        IEventPublisher? events = null)
    {
        _events = events;
        _store = store;
        _state = state;
        _settings = settings;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _settings.Changed += Publish;
        Publish(_settings.Current);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _settings.Changed -= Publish;
        return Task.CompletedTask;
    }

    /// <summary>Claims <paramref name="child"/>'s identity for the instance in <paramref name="claim"/>.</summary>
    public ActivationResult Activate(string child, ActivationClaim claim)
    {
        var now = _time.GetUtcNow();
        ChildActivation record;
        lock (_gate)
        {
            var existing = Get(child);
            if (existing is { State: ActivationStates.Active } && !existing.IsSameInstance(claim))
            {
                Log.Refused(_logger, child, LogText.Escape(existing.DeviceId ?? "-"), LogText.Escape(claim.DeviceId ?? "-"));
                _events?.Publish(ChildEvent(EventTypes.ChildRefused, child, claim.DeviceId, now, "the child's identity is already active on another instance"));
                return new ActivationResult(false, existing);
            }

            if (existing is { State: ActivationStates.Active } && existing.InstanceId == claim.InstanceId && existing.DeviceId == claim.DeviceId &&
                existing.ModuleId == claim.ModuleId && existing.GenerationId == claim.GenerationId && existing.Mode == claim.Mode.ToString() &&
                _lastWritten.TryGetValue(child, out var written) && now - written < _options.LastSeenInterval)
            {
                return new ActivationResult(true, existing); // the holder claims again every pass: written at most once a minute
            }

            record = new ChildActivation(child, ActivationStates.Active, claim.InstanceId, claim.DeviceId, claim.ModuleId, claim.GenerationId,
                claim.Mode.ToString(), existing is { State: ActivationStates.Active } ? existing.Activated : now, now);
            using var connection = _store.Open();
            HierarchySql.SaveChild(connection, record);
            _lastWritten[child] = now;
        }

        if (record.Activated == now)
        {
            Log.Activated(_logger, child, LogText.Escape(claim.DeviceId ?? "-"), LogText.Escape(claim.ModuleId ?? "-"));
            _events?.Publish(ChildEvent(EventTypes.ChildActivated, child, claim.DeviceId, now, $"child registry activated ({claim.Mode})"));
        }

        Report(record);
        return new ActivationResult(true, record);
    }

    /// <summary>An activation event of a child registry (refusals of a ReadWrite child under a ReadOnly parent come from the endpoint).</summary>
    public static RegistryEvent ChildEvent(string type, string child, string? deviceId, DateTimeOffset time, string message) => new(type, time)
    {
        Message = message,
        Data = new Dictionary<string, object?> { ["child"] = child, ["deviceId"] = deviceId },
    };

    /// <summary>The child releases its identity; only the instance holding it can. False when it did not hold it.</summary>
    public bool Deactivate(string child, ActivationClaim claim)
    {
        lock (_gate)
        {
            var existing = Get(child);
            if (existing is not { State: ActivationStates.Active } || !existing.IsSameInstance(claim))
            {
                return false;
            }

            SetInactive(child);
        }

        Log.Deactivated(_logger, child, "the child itself");
        Report(Get(child)!);
        return true;
    }

    /// <summary>The operator frees a child's identity (the <c>deactivateChild</c> method). False when it was not Active.</summary>
    public bool DeactivateChild(string child)
    {
        lock (_gate)
        {
            if (Get(child) is not { State: ActivationStates.Active })
            {
                return false;
            }

            SetInactive(child);
        }

        Log.Deactivated(_logger, child, "deactivateChild");
        Report(Get(child)!);
        return true;
    }

    /// <summary>Records a contact from <paramref name="child"/> (any authenticated call), at most every few seconds.</summary>
    public void Touch(string child)
    {
        var now = _time.GetUtcNow();
        if (_lastWritten.TryGetValue(child, out var last) && now - last < _options.LastSeenInterval)
        {
            return;
        }

        _lastWritten[child] = now;
        using (var connection = _store.Open())
        {
            HierarchySql.SetChildLastSeen(connection, child, now);
        }

        if (Get(child) is { } record)
        {
            Report(record);
        }
    }

    public ChildActivation? Get(string child)
    {
        using var connection = _store.Open();
        return HierarchySql.Child(connection, child);
    }

    private void SetInactive(string child)
    {
        using var connection = _store.Open();
        HierarchySql.SetChildState(connection, child, ActivationStates.Inactive);
    }

    private void Report(ChildActivation record)
    {
        if (_settings.Current.Children.ContainsKey(record.Name))
        {
            _state.SetChild(record.Name, new ChildStatus(record.State, record.LastSeen));
        }
    }

    /// <summary>Reports every child the settings name (Inactive and never seen until it activates); forgets the rest.</summary>
    private void Publish(RegistrySettings settings)
    {
        foreach (var name in _state.Snapshot().Children.Keys.Where(n => !settings.Children.ContainsKey(n)))
        {
            _state.RemoveChild(name);
        }

        foreach (var name in settings.Children.Keys)
        {
            var record = Get(name);
            _state.SetChild(name, new ChildStatus(record?.State ?? ActivationStates.Inactive, record?.LastSeen));
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "Child registry {Child} activated on device {Device}, module {Module}")]
        public static partial void Activated(ILogger logger, string child, string device, string module);

        [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "Child registry {Child} is already active on device {Holder}; refused the instance on device {Claimant}")]
        public static partial void Refused(ILogger logger, string child, string holder, string claimant);

        [LoggerMessage(EventId = 5012, Level = LogLevel.Information, Message = "Child registry {Child} deactivated by {By}")]
        public static partial void Deactivated(ILogger logger, string child, string by);
    }
}

/// <summary>What an instance says about itself when it activates.</summary>
public sealed record ActivationClaim(string InstanceId, string? DeviceId, string? ModuleId, string? GenerationId, RegistryMode Mode);

public sealed record ChildActivation(
    string Name, string State, string InstanceId, string? DeviceId, string? ModuleId, string? GenerationId, string? Mode, DateTimeOffset Activated, DateTimeOffset LastSeen)
{
    public bool IsSameInstance(ActivationClaim claim) =>
        string.Equals(InstanceId, claim.InstanceId, StringComparison.Ordinal) ||
        (GenerationId is not null && DeviceId is not null && ModuleId is not null &&
         string.Equals(GenerationId, claim.GenerationId, StringComparison.Ordinal) &&
         string.Equals(DeviceId, claim.DeviceId, StringComparison.Ordinal) &&
         string.Equals(ModuleId, claim.ModuleId, StringComparison.Ordinal));
}

public sealed record ActivationResult(bool Activated, ChildActivation Holder);
