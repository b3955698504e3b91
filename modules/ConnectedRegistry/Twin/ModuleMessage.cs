namespace ConnectedRegistry.Twin;

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
