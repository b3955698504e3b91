using System.Reflection;
using Microsoft.Extensions.Logging;
using ConnectedRegistry.Hosting;

namespace ConnectedRegistry.Tests.Hosting;

public sealed class LogEventIdTests
{
    /// <summary>
    /// Operators filter and alert on event ids: two log messages of the module must never share one (two branches
    /// once both took 4090 and 4091).
    /// </summary>
    [Fact]
    public void Every_log_message_of_the_module_has_its_own_event_id()
    {
        var messages = typeof(RegistryHost).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (Id: x.Attribute!.EventId, Name: $"{x.Method.DeclaringType!.FullName}.{x.Method.Name}"))
            .ToList();

        Assert.True(messages.Count > 100, $"found only {messages.Count} log messages: the scan is not reading the module");
        var shared = messages.GroupBy(m => m.Id).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Name))}").ToList();
        Assert.True(shared.Count == 0, "event ids used more than once:\n" + string.Join("\n", shared));
    }
}
