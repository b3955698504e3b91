using System.Net;
using System.Security.Cryptography;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// Child side of activation. Every sync pass first claims this registry's identity at the parent with this instance's
/// identity (device, module and generation id from IoT Edge, plus a random instance id kept in <c>hierarchy.db</c>):
/// <list type="bullet">
/// <item>the parent accepts → <c>activationState: Active</c>, sync runs, the change feed is followed;</item>
/// <item>the parent is a plain OCI registry (no <c>/acr/connected-registry/v1/</c>: 404 or 405) → activated locally, said in a status detail
/// <c>ActivatedLocally</c> (Information), sync runs;</item>
/// <item>something that is no registry answered the activation (a proxy's HTML 403, a redirect) → activated locally as
/// well, so sync still runs, but said in a Warning status detail <c>ParentApiBlocked</c> naming the request and the
/// status it got, so that an operator sees what is in the way;</item>
/// <item><c>ALREADY_ACTIVATED</c>, or the parent refuses the mode → <c>Inactive</c>, a status detail, <c>connectionState: Unhealthy</c>
/// and no sync; the claim is tried again every pass, so once the identity is freed (<c>deactivate</c> on the other
/// instance, <c>deactivateChild</c> at the parent) this instance becomes Active by itself;</item>
/// <item>the <c>deactivate</c> method → <c>Inactive</c>, no sync, identity released at the parent. It stays so across restarts
/// until the <c>activate</c> method is called or the module is deployed again with a new generation id.</item>
/// </list>
/// The state is kept in <c>hierarchy.db</c> and reported at start-up, before the parent is reached.
/// </summary>
public sealed partial class LocalActivation : IParentActivation, IHostedService
{
    [StatusDetailCode]
    public const string DetailActivatedLocally = "ActivatedLocally";
    [StatusDetailCode]
    public const string DetailAlreadyActivated = "AlreadyActivated";
    [StatusDetailCode]
    public const string DetailActivationDenied = "ActivationDenied";
    [StatusDetailCode]
    public const string DetailDeactivated = "Deactivated";
    [StatusDetailCode]
    public const string DetailParentApiBlocked = "ParentApiBlocked";
    public const string ViaParent = "parent";
    public const string ViaLocal = "local";
    private static readonly string[] Details = [DetailActivatedLocally, DetailAlreadyActivated, DetailActivationDenied, DetailDeactivated, DetailParentApiBlocked];
    private readonly IEventPublisher? _events;
    private readonly HierarchyStore _store;
    private readonly ModuleState _state;
    private readonly IRegistrySettingsSource _settings;
    private readonly SyncOptions _syncOptions;
    private readonly HierarchyOptions _options;
    private readonly SyncEnvironment _environment;
    private readonly TimeProvider _time;
    private readonly ILogger<LocalActivation> _logger;
    private readonly Lock _gate = new();
    private LocalActivationRecord _record;

    public LocalActivation(HierarchyStore store, ModuleState state, IRegistrySettingsSource settings, SyncOptions syncOptions, HierarchyOptions options,
        SyncEnvironment environment, EdgeInstance edge, TimeProvider time, ILogger<LocalActivation> logger, IEventPublisher? events = null)
    {
        _events = events;
        _store = store;
        _state = state;
        _settings = settings;
        _syncOptions = syncOptions;
        _options = options;
        _environment = environment;
        _time = time;
        _logger = logger;
        _record = Load();
        Identity = new InstanceIdentity(edge.DeviceId ?? Environment.MachineName, edge.ModuleId ?? "standalone", edge.GenerationId, _record.InstanceId);
        if (_record.Reason == DetailDeactivated && Identity.GenerationId is not null && _record.GenerationId is not null && _record.GenerationId != Identity.GenerationId)
        {
            Log.Redeployed(_logger);
            Save(_record with { State = ActivationStates.Inactive, Reason = null, GenerationId = Identity.GenerationId });
        }
    }

    /// <summary>Raised when this instance became Active at a parent that offers the change feed, with the feed's cursor then.</summary>
    public event Action<long>? ActivatedAtParent;

    public InstanceIdentity Identity { get; }

    /// <summary>The sync client's options for the parent (its TLS trust included) as of the last pass.</summary>
    public ParentClientOptions ClientOptions
    {
        get => Volatile.Read(ref _clientOptions) ?? _syncOptions.Client;
        private set => Volatile.Write(ref _clientOptions, value);
    }

    private ParentClientOptions? _clientOptions;

    private readonly HierarchyClientCache _clients = new(); // one connection to the parent, reused by every pass

    public LocalActivationRecord Current
    {
        get
        {
            lock (_gate)
            {
                return _record;
            }
        }
    }

    /// <summary>Active at a parent that is this module (so it offers the change feed).</summary>
    public bool ActiveAtParent => Current is { State: ActivationStates.Active, Via: ViaParent };

    public bool IsDeactivated => Current.Reason == DetailDeactivated;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _settings.Changed += OnSettingsChanged;
        OnSettingsChanged(_settings.Current);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _settings.Changed -= OnSettingsChanged;
        _clients.Dispose();
        return Task.CompletedTask;
    }

    public async Task EnsureActiveAsync(RegistrySettings settings, Uri parent, ParentCredentials? credentials, ParentClientOptions clientOptions, CancellationToken cancellationToken)
    {
        ClientOptions = clientOptions;
        if (IsDeactivated)
        {
            throw DeactivatedMeanwhile();
        }

        HierarchyResponse response;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.RequestTimeout);
            response = await _clients.Get(parent, credentials, clientOptions).ActivateAsync(Claim(settings), timeout.Token);
        }

        var endpoint = parent.GetLeftPart(UriPartial.Authority);
        if (response.Ok)
        {
            SaveActiveAtParent(response, endpoint);
        }
        else if (response.NotOffered || response.Unexpected)
        {
            SaveActiveLocally(response, endpoint);
        }
        else
        {
            throw Refusal(settings, response, endpoint);
        }
    }

    /// <summary>The parent activated this registry: active through it, and <see cref="ActivatedAtParent"/> the first time.</summary>
    private void SaveActiveAtParent(HierarchyResponse response, string endpoint)
    {
        var wasActive = ActiveAtParent && Current.Parent == endpoint;
        if (!Save(Current with { State = ActivationStates.Active, Via = ViaParent, Parent = endpoint, Reason = null, Message = null }, unlessDeactivated: true))
        {
            throw DeactivatedMeanwhile();
        }

        if (!wasActive)
        {
            Log.ActivatedAtParent(_logger, endpoint);
            ActivatedAtParent?.Invoke((long?)response.Body?["changes"] ?? 0);
        }
    }

    /// <summary>
    /// The parent offers no activation (a plain OCI registry), or something in the way answered for it: active locally,
    /// without the change feed, saying which.
    /// </summary>
    private void SaveActiveLocally(HierarchyResponse response, string endpoint)
    {
        var reason = response.NotOffered ? DetailActivatedLocally : DetailParentApiBlocked;
        if (Current is not { State: ActivationStates.Active, Via: ViaLocal } || Current.Parent != endpoint || Current.Reason != reason)
        {
            if (response.NotOffered)
            {
                Log.ActivatedLocally(_logger, endpoint);
            }
            else
            {
                Log.ActivatedLocallyBlocked(_logger, endpoint, response.DescribeUnexpected());
            }
        }

        var message = response.NotOffered
            ? "the parent registry does not offer connected-registry activation (a plain OCI registry); this registry activated itself locally"
            : $"activated locally, without the change feed: the parent's connected-registry API ({response.DescribeUnexpected()}) gave no registry's answer; something in the way (an IoT Edge API proxy must forward /acr and /v2 to the registry)?";
        if (!Save(Current with { State = ActivationStates.Active, Via = ViaLocal, Parent = endpoint, Reason = reason, Message = message }, unlessDeactivated: true))
        {
            throw DeactivatedMeanwhile();
        }
    }

    /// <summary>
    /// What to throw for an activation the parent did not grant: a refusal (the identity active elsewhere, or denied) is
    /// saved as inactive with its reason; a server error is the parent unreachable; anything else a parent error.
    /// </summary>
    private Exception Refusal(RegistrySettings settings, HierarchyResponse response, string endpoint)
    {
        var alreadyActive = response.Code == OciErrorCode.AlreadyActivated.Code;
        if (alreadyActive || (response.Status == HttpStatusCode.Forbidden && response.Code == OciErrorCode.Denied.Code))
        {
            var reason = alreadyActive ? DetailAlreadyActivated : DetailActivationDenied;
            var message = reason == DetailAlreadyActivated
                ? $"the parent refused activation: this registry's identity '{settings.Name}' is already active on another instance ({response.Message}). Deactivate the other instance (deactivate method) or, if its device is gone, call deactivateChild with {{\"name\": \"{settings.Name}\"}} on the parent; this instance retries on its schedule."
                : $"the parent refused activation: {response.Message}";
            if (Current.Reason != reason)
            {
                Log.Refused(_logger, endpoint, response.Describe());
            }

            return Save(Current with { State = ActivationStates.Inactive, Via = ViaParent, Parent = endpoint, Reason = reason, Message = message }, unlessDeactivated: true)
                ? new ActivationRefusedException(message, deactivated: false)
                : DeactivatedMeanwhile();
        }

        return (int)response.Status >= 500
            ? new HttpRequestException($"the parent answered {response.Describe()} to activation", null, response.Status)
            : new ParentRegistryException(response.Status, response.Code, $"activation at the parent failed: {response.Describe()}");
    }

    /// <summary>The <c>deactivate</c> method: stop syncing, and release the identity at the parent when there is one.</summary>
    public async Task<JObject> DeactivateAsync(CancellationToken cancellationToken)
    {
        var settings = _settings.Current;
        var before = Current;
        Save(before with
        {
            State = ActivationStates.Inactive,
            Reason = DetailDeactivated,
            GenerationId = Identity.GenerationId,
            Message = "deactivated by the deactivate method: this registry does not sync until the activate method is called or the module is deployed again",
        });
        Log.Deactivated(_logger);
        var result = new JObject { ["activationState"] = ActivationStates.Inactive, ["releasedAtParent"] = false };
        var endpoint = ParentCredentials.ResolveEndpoint(settings, _environment.Get);
        if (endpoint is null || before.Via == ViaLocal)
        {
            result["parent"] = endpoint is null ? "none" : "plain OCI registry (nothing to release)";
            return result;
        }

        try
        {
            var client = _clients.Get(endpoint, ParentCredentials.Resolve(settings, _environment.Get), ClientOptions);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            var response = await client.DeactivateAsync(Claim(settings), timeout.Token);
            if (response.Ok)
            {
                result["releasedAtParent"] = (bool?)response.Body?["released"] ?? false;
            }
            else if (response.NotOffered)
            {
                result["parent"] = "plain OCI registry (nothing to release)";
            }
            else
            {
                result["error"] = $"the parent answered {response.Describe()}; call deactivate again to retry the release";
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            result["error"] = "the parent could not be reached; call deactivate again to retry the release, or deactivateChild on the parent";
        }

        return result;
    }

    /// <summary>The <c>activate</c> method: lifts a deactivation; the next sync pass claims the identity again.</summary>
    public JObject Reactivate()
    {
        if (IsDeactivated)
        {
            Save(Current with { Reason = null, Message = null });
            Log.Reactivated(_logger);
        }

        return new JObject { ["activationState"] = Current.State, ["deactivated"] = false };
    }

    private JObject Claim(RegistrySettings settings) => new()
    {
        ["instanceId"] = Identity.InstanceId,
        ["deviceId"] = Identity.DeviceId,
        ["moduleId"] = Identity.ModuleId,
        ["generationId"] = Identity.GenerationId,
        ["mode"] = settings.Mode.ToString(),
    };

    /// <summary>
    /// A registry without a parent is the top of its tree: it holds its identity itself. Not stored, so that the state
    /// kept for a parent survives a start-up that runs briefly without settings.
    /// </summary>
    private void OnSettingsChanged(RegistrySettings settings)
    {
        if (_settings.NotApplied is not null && !IsDeactivated)
        {
            return; // no settings in force yet: where this registry sits in its tree is unknown, the previous run's state stays shown
        }

        if (ParentCredentials.ResolveEndpoint(settings, _environment.Get) is null && !IsDeactivated)
        {
            _state.SetActivationState(ActivationStates.Active);
            foreach (var code in Details)
            {
                _state.ClearStatusDetail(code);
            }
        }
        else
        {
            Publish(Current);
        }
    }

    private static ActivationRefusedException DeactivatedMeanwhile() =>
        new("this registry was deactivated (deactivate method); call the activate method to sync again", deactivated: true);

    /// <summary>
    /// Stores and publishes the record. With <paramref name="unlessDeactivated"/> it stores nothing (and answers false)
    /// when a <c>deactivate</c> landed in the meantime: a pass that claimed the identity before the method ran must not
    /// write Active (or another reason) over the deactivation.
    /// </summary>
    private bool Save(LocalActivationRecord record, bool unlessDeactivated = false)
    {
        lock (_gate)
        {
            if (unlessDeactivated && _record.Reason == DetailDeactivated)
            {
                return false;
            }

            if (record with { Updated = _record.Updated, Message = _record.Message } == _record)
            {
                // Nothing stored changed (every pass claims again): no write. A new message (what a proxy answered
                // this time, or the first one after a restart) is still shown.
                if (record.Message is not null && record.Message != _record.Message)
                {
                    _record = _record with { Message = record.Message };
                    Publish(_record);
                }

                return true;
            }

            var lost = _record.State == ActivationStates.Active && record.State != ActivationStates.Active;
            record = record with { Updated = _time.GetUtcNow() };
            using var connection = _store.Open();
            HierarchySql.SaveLocal(connection, record);
            _record = record;

            // Published under the lock, so that two saves racing cannot publish in the opposite order of their writes.
            Publish(record);
            if (lost)
            {
                _events?.Publish(new RegistryEvent(EventTypes.ActivationLost, record.Updated)
                {
                    Message = record.Message ?? (record.Reason is { } why ? DefaultMessage(why) : "this instance no longer holds the registry's identity"),
                    Data = new Dictionary<string, object?> { ["reason"] = record.Reason, ["parent"] = record.Parent },
                });
            }
        }

        return true;
    }

    private void Publish(LocalActivationRecord record)
    {
        _state.SetActivationState(record.State);
        foreach (var code in Details.Where(c => c != record.Reason))
        {
            _state.ClearStatusDetail(code);
        }

        if (record.Reason is { } reason)
        {
            var type = reason switch
            {
                DetailActivatedLocally => "Information",
                DetailDeactivated or DetailParentApiBlocked => "Warning",
                _ => "Error",
            };
            _state.SetStatusDetail(new StatusDetail(reason, type, record.Message ?? DefaultMessage(reason), record.Updated));
        }
    }

    private static string DefaultMessage(string reason) => reason switch
    {
        DetailActivatedLocally => "the parent registry does not offer connected-registry activation; this registry activated itself locally",
        DetailDeactivated => "deactivated by the deactivate method: this registry does not sync until the activate method is called",
        DetailParentApiBlocked => "activated locally, without the change feed: the parent's connected-registry API gave no registry's answer; something in the way (an IoT Edge API proxy must forward /acr and /v2 to the registry)?",
        DetailAlreadyActivated => "the parent refused activation: this registry's identity is already active on another instance; deactivate it there or call deactivateChild on the parent",
        _ => "the parent refused activation",
    };

    private LocalActivationRecord Load()
    {
        using var connection = _store.Open();
        if (HierarchySql.Local(connection) is { } saved)
        {
            return saved with { Message = saved.Reason is null ? null : DefaultMessage(saved.Reason) };
        }

        var record = new LocalActivationRecord(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), ActivationStates.Inactive, null, null, null, null, null, _time.GetUtcNow());
        HierarchySql.InsertLocal(connection, record);
        return record;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 5030, Level = LogLevel.Information, Message = "Activated at the parent {Parent}")]
        public static partial void ActivatedAtParent(ILogger logger, string parent);

        [LoggerMessage(EventId = 5031, Level = LogLevel.Information, Message = "The parent {Parent} is a plain OCI registry: activated locally")]
        public static partial void ActivatedLocally(ILogger logger, string parent);

        [LoggerMessage(EventId = 5036, Level = LogLevel.Warning, Message = "The parent {Parent} gave no registry's answer to activation ({Answer}): activated locally, without the change feed")]
        public static partial void ActivatedLocallyBlocked(ILogger logger, string parent, string answer);

        [LoggerMessage(EventId = 5032, Level = LogLevel.Error, Message = "The parent {Parent} refused activation ({Answer}); not syncing, retrying on the schedule")]
        public static partial void Refused(ILogger logger, string parent, string answer);

        [LoggerMessage(EventId = 5033, Level = LogLevel.Warning, Message = "Deactivated: sync stops until the activate method is called")]
        public static partial void Deactivated(ILogger logger);

        [LoggerMessage(EventId = 5034, Level = LogLevel.Information, Message = "Activate method called: the next sync pass claims the identity at the parent again")]
        public static partial void Reactivated(ILogger logger);

        [LoggerMessage(EventId = 5035, Level = LogLevel.Information, Message = "Deployed with a new generation id: the earlier deactivation no longer applies")]
        public static partial void Redeployed(ILogger logger);
    }
}

/// <summary>The IoT Edge identity of this module instance (all null outside IoT Edge).</summary>
public sealed record EdgeInstance(string? DeviceId, string? ModuleId, string? GenerationId)
{
    public static EdgeInstance From(ModuleEnvironment environment) => new(
        environment[ModuleIdentityFactory.DeviceId], environment[ModuleIdentityFactory.ModuleId], environment[ModuleIdentityFactory.GenerationId]);
}

/// <summary>Who this instance is: from IoT Edge (<c>IOTEDGE_DEVICEID</c>, <c>IOTEDGE_MODULEID</c>, <c>IOTEDGE_MODULEGENERATIONID</c>) or the machine name standalone, plus a persisted random id.</summary>
public sealed record InstanceIdentity(string DeviceId, string ModuleId, string? GenerationId, string InstanceId);

/// <param name="Via"><c>parent</c> (the parent is this module), <c>local</c> (a plain OCI parent), or null (no parent).</param>
/// <param name="Reason">The status detail code in force, or null.</param>
public sealed record LocalActivationRecord(string InstanceId, string State, string? Via, string? Parent, string? GenerationId, string? Reason, string? Message, DateTimeOffset Updated);
