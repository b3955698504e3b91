using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using ConnectedRegistry.Core;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>ConnectedRegistry call METHOD [--payload JSON] [--data DIR]</c>: invokes a direct method of the registry running
/// on the data root, through its <see cref="LocalMethodChannel"/>, and prints the method's JSON answer. Exit 0 for a
/// 2xx answer, 1 for an error status (the answer, <c>{"error": {code, message}}</c>, still printed) or no registry to
/// ask, 2 for bad arguments. What IoT Hub's <c>invoke-module-method</c> is in IoT Edge mode, for a standalone site.
/// </summary>
public static class CallCommand
{
    /// <summary>The <c>call</c> command; <paramref name="environment"/> reads <c>REGISTRY_DATA</c> (the process's own when null).</summary>
    public static Command Create(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var method = new Argument<string>("METHOD") { Description = "The method: getStatus, syncNow, garbageCollect, retention, bundleState, importBundle, activate, deactivate, deactivateChild." };
        var payload = new Option<string>("--payload") { Description = "The method's payload, JSON (default: none), as for IoT Hub's invoke-module-method --mp.", HelpName = "JSON" };
        var data = new Option<string>("--data") { Description = "The data root of the running registry (environment REGISTRY_DATA; default ./data).", HelpName = "DIR" };
        var command = new Command("call", "Invoke a direct method of the registry running on this machine, over a socket in its data root that only its owner (and root) can reach; prints the method's JSON answer.")
        {
            method, payload, data,
        };
        command.SetAction((result, cancellationToken) =>
        {
            var root = result.GetValue(data) is { Length: > 0 } given ? given : environment("REGISTRY_DATA") is { Length: > 0 } variable ? variable : "data";
            return CallAsync(LocalMethodChannel.SocketPath(root), result.GetValue(method)!, result.GetValue(payload) ?? string.Empty,
                result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken);
        });
        return command;
    }

    private static async Task<int> CallAsync(string path, string method, string payload, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            await error.WriteLineAsync($"call: no registry runs on this data root: {path} does not exist (start the registry, or give its --data / REGISTRY_DATA).");
            return 1;
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AccessDenied)
        {
            await error.WriteLineAsync($"call: {path} is the registry's, and only its user (or root) may call its methods: run the command as that user.");
            return 1;
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            await error.WriteLineAsync($"call: no registry answers on {path} ({ex.Message}): is it running, with this data root (--data, REGISTRY_DATA)?");
            return 1;
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var request = new JObject { ["method"] = method, ["payload"] = payload }.ToString(Formatting.None) + "\n";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request), cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync(cancellationToken);
        JObject answer;
        try
        {
            answer = line is null ? throw new JsonReaderException("no answer") : JObject.Parse(line);
        }
        catch (JsonReaderException)
        {
            await error.WriteLineAsync($"call: the registry on {path} gave no answer to '{method}' (it stopped?)");
            return 1;
        }

        await output.WriteLineAsync((answer["payload"] ?? new JObject()).ToString(Formatting.Indented));
        var status = answer.Value<int?>("status") ?? 500;
        if (status is < 200 or > 299)
        {
            await error.WriteLineAsync($"call: {method} answered {status}");
            return 1;
        }

        return 0;
    }
}
