namespace ConnectedRegistry.Core;

/// <summary>
/// The settings a stopped data root runs with, for the commands that open it without the host (<c>bundle state</c>,
/// <c>bundle import</c>): those of the desired document in <paramref name="desiredFile"/>, else those of the last good
/// desired document kept in <paramref name="dataRoot"/>. The twin's parser reads them (<c>Twin/StoredDesiredSettings</c>);
/// the composition root hands that reader to the command. Null, with the reason in <paramref name="refusal"/>, when
/// there are none.
/// </summary>
public delegate RegistrySettings? StoredSettingsReader(string dataRoot, string? desiredFile, out string refusal);
