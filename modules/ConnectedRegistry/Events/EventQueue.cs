using System.Text;
using System.Threading.Channels;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Polly;
using Polly.Retry;

namespace ConnectedRegistry.Events;

/// <summary>
/// Sends events as messages on the module output <c>events</c> (IoT Edge) or as JSON lines to the <c>--events</c> file
/// (standalone). Publishing only enqueues: a bounded queue that drops its oldest event when full (counted, reported as
/// the status detail <see cref="DroppedCode"/>), so a client request never waits for edgeHub. One loop sends in order,
/// waiting while edgeHub is away and retrying a failed send (Polly). Client pushes and deletes arrive as an
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
    private readonly ResiliencePipeline _sendRetry;
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
        _sendRetry = BuildSendRetry();
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

    /// <summary>
    /// Sends one event, tried again until it goes (or the module stops): Polly, the first pause
    /// <see cref="EventOptions.RetryDelayMs"/> (at least 10 ms) doubling up to 30 s, on the app's clock.
    /// </summary>
    private async Task DeliverAsync(RegistryEvent registryEvent, CancellationToken stoppingToken)
    {
        var context = ResilienceContextPool.Shared.Get(stoppingToken);
        context.Properties.Set(EventType, registryEvent.Type);
        try
        {
            await _sendRetry.ExecuteAsync(
                async (ctx, state) =>
                {
                    var client = await state.Queue.StartedClientAsync(ctx.CancellationToken);
                    if (client.SendsMessages)
                    {
                        await client.SendMessageAsync(ToMessage(state.Event, state.Queue._settings.Current.Name), ctx.CancellationToken);
                        Interlocked.Increment(ref state.Queue._sent);
                    }
                },
                context,
                (Queue: this, Event: registryEvent));
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>The module client once it is started: a wait of the first pause at a time, not a retry (nothing failed).</summary>
    private async Task<IModuleMessageSender> StartedClientAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_client() is { } client)
            {
                return client;
            }

            await Task.Delay(FirstRetryDelay, _time, cancellationToken);
        }
    }

    private TimeSpan FirstRetryDelay => TimeSpan.FromMilliseconds(Math.Max(10, _options.RetryDelayMs));

    private static readonly TimeSpan LongestRetryDelay = TimeSpan.FromSeconds(30);

    private static readonly ResiliencePropertyKey<string> EventType = new("event-type");

    private ResiliencePipeline BuildSendRetry() => new ResiliencePipelineBuilder { TimeProvider = _time }
        .AddRetry(new RetryStrategyOptions
        {
            // Every failure but the module stopping; the send is only ever abandoned by the stop.
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && !(ex is OperationCanceledException && args.Context.CancellationToken.IsCancellationRequested)),
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = false,
            Delay = FirstRetryDelay < LongestRetryDelay ? FirstRetryDelay : LongestRetryDelay, // Polly takes at most a day
            MaxDelay = LongestRetryDelay,
            OnRetry = args =>
            {
                Log.SendFailed(_logger, args.Context.Properties.GetValue(EventType, "?"), args.RetryDelay, args.Outcome.Exception?.Message ?? "?");
                return ValueTask.CompletedTask;
            },
        })
        .Build();

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
