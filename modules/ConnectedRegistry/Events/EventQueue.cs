using System.Text;
using System.Threading.Channels;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Events;

/// <summary>
/// Sends events as messages on the module output <c>events</c> (IoT Edge) or as JSON lines to the <c>--events</c> file
/// (standalone). Publishing only enqueues: a bounded queue that drops its oldest event when full (counted, reported as
/// the status detail <see cref="DroppedCode"/>), so a client request never waits for edgeHub. One loop sends in order,
/// waiting while edgeHub is away and retrying a failed send. Client pushes and deletes arrive as an
/// <see cref="IRegistryEventSink"/> and go only when the twin's <c>notifications</c> select them.
/// </summary>
public sealed partial class EventQueue : BackgroundService, IEventPublisher, IRegistryEventSink
{
    [StatusDetailCode]
    public const string DroppedCode = "EventsDropped";

    private readonly Channel<RegistryEvent> _queue;
    private readonly IRegistrySettingsSource _settings;
    private readonly ModuleState _state;
    private readonly EventOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EventQueue> _logger;
    private readonly Func<IModuleMessageSender?> _client;
    private readonly Func<RegistryStore?> _store;
    private NotificationFilter _filter;
    private long _dropped;
    private long _sent;

    public EventQueue(IRegistrySettingsSource settings, ModuleState state, EventOptions options, TimeProvider time, ILogger<EventQueue> logger, Func<IModuleMessageSender?> client, Func<RegistryStore?>? store = null)
    {
        _settings = settings;
        _state = state;
        _options = options;
        _time = time;
        _logger = logger;
        _client = client;
        _store = store ?? (() => null);
        _filter = NotificationFilter.From(settings.Current.Notifications);
        _settings.Changed += s => Volatile.Write(ref _filter, NotificationFilter.From(s.Notifications));
        _queue = Channel.CreateBounded<RegistryEvent>(
            new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            OnDropped);
    }

    public int Capacity => _options.QueueCapacity;

    /// <summary>Events waiting to be sent (never more than <see cref="Capacity"/>).</summary>
    public int Queued => _queue.Reader.Count;

    /// <summary>Events dropped because the queue was full, since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events delivered, since start.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    public void Publish(RegistryEvent registryEvent)
    {
        if (_client() is { SendsMessages: false })
        {
            return; // standalone without an events file
        }

        _queue.Writer.TryWrite(registryEvent); // never waits: a full queue drops its oldest
    }

    public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag)
    {
        if (Volatile.Read(ref _filter).Matches(repository, tag, digest.ToString(), NotificationFilter.Push))
        {
            long? size = null;
            try
            {
                size = _store()?.GetManifest(repository, digest.ToString())?.Size;
            }
            catch (Exception ex) when (ex is IOException or Microsoft.Data.Sqlite.SqliteException)
            {
                // The event goes without its size.
            }

            Publish(new RegistryEvent(EventTypes.ArtifactPushed, _time.GetUtcNow()) { Repository = repository, Tag = tag, Digest = digest.ToString(), MediaType = mediaType, Size = size });
        }
    }

    public void ManifestDeleted(string repository, Digest digest)
    {
        if (Volatile.Read(ref _filter).Matches(repository, null, digest.ToString(), NotificationFilter.Delete))
        {
            Publish(new RegistryEvent(EventTypes.ArtifactDeleted, _time.GetUtcNow()) { Repository = repository, Digest = digest.ToString() });
        }
    }

    public void TagDeleted(string repository, string tag)
    {
        if (Volatile.Read(ref _filter).Matches(repository, tag, null, NotificationFilter.Delete))
        {
            Publish(new RegistryEvent(EventTypes.ArtifactDeleted, _time.GetUtcNow()) { Repository = repository, Tag = tag });
        }
    }

    /// <summary>The message for an event: the JSON body and the properties routes filter on (<c>type</c>, <c>repository</c>).</summary>
    public static ModuleMessage ToMessage(RegistryEvent registryEvent, string? registryName)
    {
        var properties = new List<KeyValuePair<string, string>> { new("type", registryEvent.Type) };
        if (registryEvent.Repository is { } repository)
        {
            properties.Add(new("repository", repository));
        }

        var body = Encoding.UTF8.GetBytes(TwinJson.Serialize(registryEvent.ToJson(registryName)));
        return new ModuleMessage(EventOptions.Output, registryEvent.Id, body, properties);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var next in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                await DeliverAsync(next, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(RegistryEvent registryEvent, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(Math.Max(10, _options.RetryDelayMs));
        while (true)
        {
            var client = _client();
            if (client is null)
            {
                await Task.Delay(delay, _time, stoppingToken); // the module client is not started yet
                continue;
            }

            if (!client.SendsMessages)
            {
                return;
            }

            try
            {
                await client.SendMessageAsync(ToMessage(registryEvent, _settings.Current.Name), stoppingToken);
                Interlocked.Increment(ref _sent);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                Log.SendFailed(_logger, registryEvent.Type, delay, ex.Message);
                await Task.Delay(delay, _time, stoppingToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 30_000));
            }
        }
    }

    private void OnDropped(RegistryEvent dropped)
    {
        var count = Interlocked.Increment(ref _dropped);
        if (count == 1 || count % 100 == 0)
        {
            Log.Dropped(_logger, count, _options.QueueCapacity);
        }

        _state.SetStatusDetail(new StatusDetail(DroppedCode, "Warning",
            $"{count} event(s) were dropped since start because edgeHub did not take them and the queue of {_options.QueueCapacity} was full", _time.GetUtcNow()));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1601, Level = LogLevel.Warning, Message = "Event {Type} not sent, retrying in {Delay}: {Reason}")]
        public static partial void SendFailed(ILogger logger, string type, TimeSpan delay, string reason);

        [LoggerMessage(EventId = 1602, Level = LogLevel.Warning, Message = "Event queue full ({Capacity}): {Count} oldest event(s) dropped so far")]
        public static partial void Dropped(ILogger logger, long count, int capacity);
    }
}
