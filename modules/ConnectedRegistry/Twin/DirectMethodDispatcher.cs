using ConnectedRegistry.Core;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Routes direct method calls by name to their registrations. Unknown name → 404; a payload that is
/// not JSON → 400; a handler's <see cref="DirectMethodException"/> → its status; any other failure →
/// 500 with the exception's message (handlers must keep secrets out of messages).
/// </summary>
public sealed partial class DirectMethodDispatcher
{
    private readonly IServiceProvider _services;
    private readonly Dictionary<string, DirectMethodRegistration> _methods;
    private readonly ILogger _logger;

    public DirectMethodDispatcher(IServiceProvider services, IEnumerable<DirectMethodRegistration> registrations, ILogger<DirectMethodDispatcher> logger)
    {
        _services = services;
        _logger = logger;
        _methods = new Dictionary<string, DirectMethodRegistration>(StringComparer.Ordinal);
        foreach (var registration in registrations)
        {
            _methods[registration.Name] = registration; // the last registration of a name wins
        }
    }

    public IReadOnlyCollection<string> Names => _methods.Keys;

    public async Task<DirectMethodResult> DispatchAsync(string name, string payload, CancellationToken cancellationToken)
    {
        if (!_methods.TryGetValue(name, out var method))
        {
            Log.Unknown(_logger, name);
            return DirectMethodResult.Error(404, "MethodNotFound", $"Unknown method '{name}'. Known methods: {string.Join(", ", _methods.Keys.Order(StringComparer.Ordinal))}.");
        }

        JToken? parsed = null;
        if (!string.IsNullOrWhiteSpace(payload))
        {
            try
            {
                parsed = TwinJson.Parse(payload);
            }
            catch (JsonException)
            {
                return DirectMethodResult.Error(400, "BadPayload", $"The payload of '{name}' is not JSON.");
            }

            if (parsed.Type == JTokenType.Null)
            {
                parsed = null;
            }
        }

        try
        {
            var result = await method.Invoke(_services, parsed, cancellationToken);
            Log.Invoked(_logger, name, result.Status);
            return result;
        }
        catch (DirectMethodException ex)
        {
            Log.Invoked(_logger, name, ex.Status);
            return DirectMethodResult.Error(ex.Status, ex.Code, ex.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Log.Failed(_logger, name, ex);
            return DirectMethodResult.Error(500, "MethodFailed", $"'{name}' failed: {ex.Message}");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 330, Level = LogLevel.Information, Message = "Direct method {Name} answered {Status}")]
        public static partial void Invoked(ILogger logger, string name, int status);

        [LoggerMessage(EventId = 331, Level = LogLevel.Warning, Message = "Unknown direct method {Name} called")]
        public static partial void Unknown(ILogger logger, string name);

        [LoggerMessage(EventId = 332, Level = LogLevel.Error, Message = "Direct method {Name} failed")]
        public static partial void Failed(ILogger logger, string name, Exception exception);
    }
}
