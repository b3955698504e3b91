using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Polly around every request to the parent, three strategies from the outside in: retries with exponential backoff and
/// jitter on 429 (honouring <c>Retry-After</c>) and 5xx, and on network errors, for requests whose body can be sent
/// again; a circuit breaker, so that an unreachable parent fails fast (<see cref="BrokenCircuitException"/>) instead of
/// costing a connect timeout per request; and inside it, after a network error, probes of the link every half to one
/// <see cref="ParentClientOptions.ProbeDelay"/> for one <see cref="ParentClientOptions.RetryBaseDelay"/>. The breaker
/// sees one outcome per such series: a dropped link is probed often (the first request after it is back starts within
/// a probe delay) without each probe counting as a failure, so the breaker counts a second of failed probing as it
/// counted one failed attempt before, and a parent that is really gone opens it as soon as before.
/// </summary>
public sealed partial class ParentResilienceHandler : DelegatingHandler
{
    private static readonly ResiliencePropertyKey<bool> Replayable = new("replayable");
    private static readonly ResiliencePropertyKey<long> AttemptStarted = new("attempt-started");
    private static readonly ResiliencePropertyKey<long> SeriesStarted = new("series-started");
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly TimeProvider _time;

    public ParentResilienceHandler(ParentClientOptions options, TimeProvider time, ILogger logger, HttpMessageHandler inner)
        : base(inner)
    {
        _time = time;
        var probeDelay = options.ProbeDelay < options.RetryBaseDelay ? options.ProbeDelay : options.RetryBaseDelay;
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(Retries(options, probeDelay, time, logger));
        }

        builder.AddCircuitBreaker(Breaker(options, logger));
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(Probes(options, probeDelay));
        }

        _pipeline = builder.Build();
    }

    /// <summary>The outer retries: 429 and 5xx with exponential backoff (or the parent's <c>Retry-After</c>), and a network error after its series of probes.</summary>
    private static RetryStrategyOptions<HttpResponseMessage> Retries(ParentClientOptions options, TimeSpan probeDelay, TimeProvider time, ILogger logger) => new()
    {
        MaxRetryAttempts = options.MaxRetries,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        Delay = options.RetryBaseDelay,
        MaxDelay = options.MaxRetryDelay,
        ShouldHandle = args => ValueTask.FromResult(args.Context.Properties.GetValue(Replayable, false) && IsTransient(args.Outcome)),
        DelayGenerator = args =>
        {
            if (args.Outcome.Exception is not null)
            {
                // A network error: the series of probes inside the breaker has just waited its second; the
                // next series goes on at the probes' pace, so the link is never left unprobed for longer.
                return ValueTask.FromResult<TimeSpan?>(Jittered(probeDelay));
            }

            var retryAfter = args.Outcome.Result?.Headers.RetryAfter;
            TimeSpan? delay = retryAfter?.Delta ?? (retryAfter?.Date is { } date ? date - time.GetUtcNow() : null);
            return ValueTask.FromResult(delay is { } d && d > TimeSpan.Zero ? (TimeSpan?)(d < options.MaxRetryDelay ? d : options.MaxRetryDelay) : null);
        },
        OnRetry = args =>
        {
            Log.Retrying(logger, args.AttemptNumber + 1, args.RetryDelay.TotalSeconds,
                args.Outcome.Result is { } r ? ((int)r.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture) : args.Outcome.Exception?.GetType().Name ?? "?");
            return ValueTask.CompletedTask;
        },
    };

    /// <summary>The circuit breaker on "parent unreachable" outcomes (a series of probes is one).</summary>
    private static CircuitBreakerStrategyOptions<HttpResponseMessage> Breaker(ParentClientOptions options, ILogger logger) => new()
    {
        FailureRatio = 0.9,
        MinimumThroughput = Math.Max(2, options.BreakerMinimumThroughput),
        SamplingDuration = options.BreakerSamplingDuration,
        BreakDuration = options.BreakerDuration,
        ShouldHandle = args => ValueTask.FromResult(IsUnreachable(args.Outcome)),
        OnOpened = args =>
        {
            Log.CircuitOpened(logger, args.BreakDuration.TotalSeconds);
            return ValueTask.CompletedTask;
        },
        OnClosed = _ =>
        {
            Log.CircuitClosed(logger);
            return ValueTask.CompletedTask;
        },
    };

    /// <summary>
    /// The probes of a dropped link: a refused or reset connection costs nothing, so it is asked again every half to one
    /// probe delay (was every half to one second, which started the first request after the link came back 0.2 to
    /// 0.6 s late on average), for one RetryBaseDelay from the start of the failed attempt. An attempt that itself took
    /// that long (a connect timeout) is not probed again here: the outer retry decides.
    /// </summary>
    private RetryStrategyOptions<HttpResponseMessage> Probes(ParentClientOptions options, TimeSpan probeDelay) => new()
    {
        MaxRetryAttempts = int.MaxValue,
        ShouldHandle = args => ValueTask.FromResult(
            args.Context.Properties.GetValue(Replayable, false) &&
            args.Outcome.Exception is { } exception && ParentFailure.IsNetworkError(exception) &&
            WithinSeries(args.Context, args.AttemptNumber, options.RetryBaseDelay - probeDelay)),
        DelayGenerator = _ => ValueTask.FromResult<TimeSpan?>(Jittered(probeDelay)),
    };

    /// <summary>Between half and all of <paramref name="delay"/>, so clients of one parent do not probe in step.</summary>
    private static TimeSpan Jittered(TimeSpan delay) => delay * (0.5 + (Random.Shared.NextDouble() / 2));

    /// <summary>Whether a series of probes that started with the attempt numbered 0 is still under <paramref name="length"/> old.</summary>
    private bool WithinSeries(ResilienceContext context, int attempt, TimeSpan length)
    {
        if (attempt == 0)
        {
            context.Properties.Set(SeriesStarted, context.Properties.GetValue(AttemptStarted, _time.GetTimestamp()));
        }

        return _time.GetElapsedTime(context.Properties.GetValue(SeriesStarted, _time.GetTimestamp())) < length;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(Replayable, request.Content is null or ByteArrayContent);
        try
        {
            var outcome = await _pipeline.ExecuteOutcomeAsync(
                async (ctx, state) =>
                {
                    ctx.Properties.Set(AttemptStarted, state.Handler._time.GetTimestamp());
                    try
                    {
                        return Outcome.FromResult(await state.Handler.BaseSendAsync(state.Request, ctx.CancellationToken));
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !ctx.CancellationToken.IsCancellationRequested)
                    {
                        return Outcome.FromException<HttpResponseMessage>(ex);
                    }
                },
                context,
                (Handler: this, Request: request));
            outcome.ThrowIfException();
            return outcome.Result!;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Task<HttpResponseMessage> BaseSendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    /// <summary>Worth sending again: no answer (<see cref="ParentFailure.IsNetworkError"/>), 429 or a 5xx.</summary>
    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } exception && ParentFailure.IsNetworkError(exception) ||
        outcome.Result is { } r && (r.StatusCode == HttpStatusCode.TooManyRequests || (int)r.StatusCode >= 500);

    /// <summary>Failures that say the parent is down, not that it refused this one request (<see cref="ParentFailure"/>).</summary>
    private static bool IsUnreachable(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } exception && ParentFailure.IsNetworkError(exception) ||
        outcome.Result is { } r && ParentFailure.IsGatewayFailure(r.StatusCode);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4010, Level = LogLevel.Debug, Message = "Parent request retry {Attempt} in {DelaySeconds:0.0} s after {Failure}")]
        public static partial void Retrying(ILogger logger, int attempt, double delaySeconds, string failure);

        [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "Parent unreachable: requests fail fast for {Seconds} s")]
        public static partial void CircuitOpened(ILogger logger, double seconds);

        [LoggerMessage(EventId = 4012, Level = LogLevel.Information, Message = "Parent reachable again")]
        public static partial void CircuitClosed(ILogger logger);
    }
}
