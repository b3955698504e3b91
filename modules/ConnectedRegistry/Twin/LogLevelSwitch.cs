using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Applies the twin's <c>logLevel</c> to the running logger filter: a default rule added after the
/// configured ones (so category-specific levels from appsettings still win), refreshed through the
/// options change token that <see cref="ILoggerFactory"/> listens to. Null removes the override.
/// </summary>
public sealed class LogLevelSwitch : IConfigureOptions<LoggerFilterOptions>, IOptionsChangeTokenSource<LoggerFilterOptions>
{
    private LogLevel? _level;
    private CancellationTokenSource _changed = new();

    public string? Name => Options.DefaultName;

    public LogLevel? Level => _level;

    public void Set(LogLevel? level)
    {
        if (_level == level)
        {
            return;
        }

        _level = level;
        var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        previous.Cancel();
        previous.Dispose();
    }

    public void Configure(LoggerFilterOptions options)
    {
        if (_level is { } level)
        {
            options.Rules.Add(new LoggerFilterRule(providerName: null, categoryName: null, logLevel: level, filter: null));
        }
    }

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_changed.Token);
}
