using System.Net.Sockets;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The module's services on a data root of a stopped registry, built but not started, with the settings of a desired
/// file or else the last good desired properties kept in the data root: what the commands that work offline
/// (<c>bundle state</c>, <c>bundle import</c>, <c>retention</c>) run on.
/// </summary>
public static class StoppedDataRoot
{
    /// <summary>Opens <paramref name="data"/> through <paramref name="openDataRoot"/> (the host's builder) and applies the settings.</summary>
    /// <exception cref="StoppedDataRootException">No such data root, no settings, or settings the twin would reject.</exception>
    public static WebApplication Open(Func<string[], WebApplication> openDataRoot, string data, string? desiredPath)
    {
        if (!Directory.Exists(data))
        {
            throw new StoppedDataRootException($"the data root {data} does not exist");
        }

        var settings = StoredDesiredSettings.Read(data, desiredPath, out var refusal) ?? throw new StoppedDataRootException(refusal);
        var app = openDataRoot(["--data", Path.GetFullPath(data), "--urls", "http://127.0.0.1:0"]);
        app.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);
        return app;
    }

    /// <summary>True when a registry answers on the data root's control socket (it runs: its own methods must do the work).</summary>
    public static bool IsServed(string data)
    {
        var path = LocalMethodChannel.SocketPath(data);
        if (!File.Exists(path))
        {
            return false;
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode == SocketError.AccessDenied; // another user's registry runs there
        }
    }
}

/// <summary>A data root a command cannot open (the message says why, on one line).</summary>
public sealed class StoppedDataRootException(string message) : StartupException(message);
