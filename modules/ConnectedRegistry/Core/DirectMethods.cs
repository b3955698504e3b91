using Microsoft.Extensions.DependencyInjection.Extensions;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Core;

// The direct methods' contract: every part that offers a method implements IDirectMethod and registers it with
// AddDirectMethod; the twin's dispatcher (Twin/DirectMethodDispatcher) serves them to edgeHub and to `call`.

/// <summary>A direct method's answer: an HTTP-like status and a JSON payload.</summary>
public sealed record DirectMethodResult(int Status, JToken Payload)
{
    public static DirectMethodResult Ok(object? payload = null) =>
        new(200, payload is null ? new JObject() : payload as JToken ?? JToken.FromObject(payload));

    /// <summary>The one error shape: <c>{"error":{"code":"…","message":"…"}}</c>.</summary>
    public static DirectMethodResult Error(int status, string code, string message) =>
        new(status, new JObject { ["error"] = new JObject { ["code"] = code, ["message"] = message } });
}

/// <summary>Thrown by a method handler for a request it cannot serve (for example 400 for a bad payload).</summary>
public sealed class DirectMethodException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;
}

/// <summary>A direct method: gets the parsed payload (null when the request had none).</summary>
public interface IDirectMethod
{
    Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken);
}

public sealed record DirectMethodRegistration(string Name, Func<IServiceProvider, JToken?, CancellationToken, Task<DirectMethodResult>> Invoke);

public static class DirectMethodServiceCollectionExtensions
{
    /// <summary>Registers a direct method; one line per method: <c>services.AddDirectMethod&lt;SyncNowMethod&gt;("syncNow")</c>.</summary>
    public static IServiceCollection AddDirectMethod<THandler>(this IServiceCollection services, string name)
        where THandler : class, IDirectMethod
    {
        services.TryAddSingleton<THandler>();
        return services.AddDirectMethod(name, (sp, payload, ct) => sp.GetRequiredService<THandler>().InvokeAsync(payload, ct));
    }

    public static IServiceCollection AddDirectMethod(this IServiceCollection services, string name, Func<IServiceProvider, JToken?, CancellationToken, Task<DirectMethodResult>> handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        services.AddSingleton(new DirectMethodRegistration(name, handler));
        return services;
    }
}
