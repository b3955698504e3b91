namespace ConnectedRegistry.Hosting;

/// <summary>
/// Gives memory back once the registry has been idle: after <see cref="FirstAfter"/> without an HTTP request, and once
/// more after <see cref="SecondAfter"/> (the shared array pool lets go of buffers unused for about a minute, at a full
/// collection), a blocking, compacting, aggressive full collection, which also returns the freed segments to the
/// operating system. A burst of pulls otherwise leaves its high-water heap resident for as long as the process runs, on
/// a gateway whose memory every other module shares. Nothing runs while requests keep coming, and nothing again until
/// the next request: an idle registry costs no CPU. Sync passes do not count as activity (a collection during one costs
/// a pause of milliseconds on this heap).
/// </summary>
public sealed partial class IdleMemoryTrim : BackgroundService
{
    public static readonly TimeSpan FirstAfter = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan SecondAfter = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan Tick = TimeSpan.FromSeconds(5);

    private readonly TimeProvider _time;
    private readonly ILogger<IdleMemoryTrim> _logger;
    private readonly Action _collect;
    private long _lastRequestTicks;
    private int _trimsThisIdle;
    private int _trims;

    public IdleMemoryTrim(TimeProvider time, ILogger<IdleMemoryTrim> logger)
        : this(time, logger, Collect)
    {
    }

    internal IdleMemoryTrim(TimeProvider time, ILogger<IdleMemoryTrim> logger, Action collect)
    {
        _time = time;
        _logger = logger;
        _collect = collect;
        _lastRequestTicks = time.GetUtcNow().UtcTicks;
        _trimsThisIdle = 2; // nothing to give back before the first request
    }

    /// <summary>Collections run so far (tests).</summary>
    public int Trims => Volatile.Read(ref _trims);

    /// <summary>A request came: the idle time starts again, and the next idle spell trims again.</summary>
    public void Touch()
    {
        Volatile.Write(ref _lastRequestTicks, _time.GetUtcNow().UtcTicks);
        if (Volatile.Read(ref _trimsThisIdle) != 0)
        {
            Volatile.Write(ref _trimsThisIdle, 0);
        }
    }

    /// <summary>One look: trims when the idle time passed the next threshold of this idle spell. True when it trimmed.</summary>
    public bool TrimIfIdle()
    {
        var idle = _time.GetUtcNow() - new DateTimeOffset(Volatile.Read(ref _lastRequestTicks), TimeSpan.Zero);
        var done = Volatile.Read(ref _trimsThisIdle);
        var due = done switch
        {
            0 => idle >= FirstAfter,
            1 => idle >= SecondAfter,
            _ => false,
        };
        if (!due || Interlocked.CompareExchange(ref _trimsThisIdle, done + 1, done) != done)
        {
            return false;
        }

        var before = Environment.WorkingSet;
        _collect();
        Interlocked.Increment(ref _trims);
        Log.Trimmed(_logger, idle.TotalSeconds, before >> 20, Environment.WorkingSet >> 20);
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Tick, _time, stoppingToken);
                TrimIfIdle();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static void Collect() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    private static partial class Log
    {
        [LoggerMessage(EventId = 16, Level = LogLevel.Debug, Message = "Idle {Seconds:0} s: memory given back, resident {Before} MB before, {After} MB after")]
        public static partial void Trimmed(ILogger logger, double seconds, long before, long after);
    }
}

public static class IdleMemoryTrimExtensions
{
    public static IServiceCollection AddIdleMemoryTrim(this IServiceCollection services)
    {
        services.AddSingleton<IdleMemoryTrim>();
        services.AddHostedService(sp => sp.GetRequiredService<IdleMemoryTrim>());
        return services;
    }

    /// <summary>Every request restarts the idle time (<see cref="IdleMemoryTrim.Touch"/>).</summary>
    public static IApplicationBuilder UseIdleMemoryTrim(this IApplicationBuilder app)
    {
        var idle = app.ApplicationServices.GetRequiredService<IdleMemoryTrim>();
        return app.Use((context, next) =>
        {
            idle.Touch();
            return next(context);
        });
    }
}
