using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Polly around every request to the parent: retries on network errors (every half to one
/// <see cref="ParentClientOptions.RetryBaseDelay"/>), and with exponential backoff and jitter on 429 (honouring
/// <c>Retry-After</c>) and 5xx, for requests whose body can be sent again; and a circuit breaker
/// so that an unreachable parent fails fast (<see cref="BrokenCircuitException"/>) instead of costing a
/// connect timeout per request.
/// </summary>
public sealed partial class ParentResilienceHandler : DelegatingHandler
{
    private static readonly ResiliencePropertyKey<bool> Replayable = new("replayable");
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;

    public ParentResilienceHandler(ParentClientOptions options, TimeProvider time, ILogger logger, HttpMessageHandler inner)
        : base(inner)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
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
                        // A network error: probe again soon (a refused connection costs nothing), so a transfer under
                        // way resumes within a second of the link coming back instead of after a doubled wait.
                        return ValueTask.FromResult<TimeSpan?>(options.RetryBaseDelay * (0.5 + (Random.Shared.NextDouble() / 2)));
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
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
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
        });
        _pipeline = builder.Build();
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
