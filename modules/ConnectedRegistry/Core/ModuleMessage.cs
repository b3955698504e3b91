namespace ConnectedRegistry.Core;

/// <summary>
/// A device-to-cloud message sent on a named module output (routed by edgeHub, e.g.
/// <c>FROM /messages/modules/ConnectedRegistry/outputs/events INTO $upstream</c>): a UTF-8 JSON body and the
/// application properties routes filter on.
/// </summary>
public sealed record ModuleMessage(string Output, string MessageId, byte[] Body, IReadOnlyList<KeyValuePair<string, string>> Properties)
{
    public const string ContentType = "application/json";
    public const string ContentEncoding = "utf-8";
}

/// <summary>
/// Where module messages go: edgeHub's module outputs (IoT Edge) or the <c>--events</c> file (standalone). The twin's
/// module client is one (<c>Twin/IModuleClient</c>); parts below the twin (the events queue) send through this seam.
/// </summary>
public interface IModuleMessageSender
{
    /// <summary>False when messages go nowhere (standalone without <c>--events FILE</c>): nothing is queued for them.</summary>
    bool SendsMessages { get; }

    /// <summary>
    /// Sends a message on a module output and returns once it was accepted (edgeHub's acknowledgement, or the line
    /// written). Waits while disconnected; throws when the send failed (the caller retries).
    /// </summary>
    Task SendMessageAsync(ModuleMessage message, CancellationToken cancellationToken);
}

/// <summary>The running module client as a message sender, registered by the twin; <see cref="Sender"/> is null before it started.</summary>
public interface IModuleMessageOutput
{
    IModuleMessageSender? Sender { get; }
}
