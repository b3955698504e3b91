using System.Diagnostics;

namespace ConnectedRegistry.Testing;

/// <summary>
/// The one polling helper of the test projects (linked into each one's Infrastructure folder): waits for a
/// condition that real parts make true in their own time, and fails naming what it waited for.
/// Tests that drive time themselves use <c>FakeTimeProvider</c> instead of polling.
/// </summary>
public static class Poll
{
    /// <summary>How long a wait lasts unless the caller says otherwise: long enough for a loaded 2-core CI machine.</summary>
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Waits until <paramref name="condition"/> holds; throws naming <paramref name="what"/> after the timeout.</summary>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Waits until the asynchronous <paramref name="condition"/> holds; throws naming <paramref name="what"/> after the timeout.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var watch = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (watch.Elapsed > limit)
            {
                throw new Xunit.Sdk.XunitException($"Timed out after {limit.TotalSeconds:0.#} s waiting for: {what}");
            }

            await Task.Delay(Interval).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until <paramref name="find"/> returns a value, and returns it.</summary>
    public static async Task<T> ForAsync<T>(Func<T?> find, string what, TimeSpan? timeout = null)
        where T : class
    {
        T? found = null;
        await UntilAsync(() => (found = find()) is not null, what, timeout).ConfigureAwait(false);
        return found!;
    }
}
