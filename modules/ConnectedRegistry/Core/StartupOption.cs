namespace ConnectedRegistry.Core;

/// <summary>
/// A start-up option as an operator gives it: <c>--<see cref="Name"/> VALUE</c> on the command line (the configuration
/// key <see cref="Name"/>) or the environment variable <see cref="Variable"/>. For a key of a tuning section the name is
/// <c>Section:Key</c> and the variable <c>Section__Key</c> (<see cref="InSection"/>). Its text,
/// <c>--name (VARIABLE)</c>, starts every message about its value (<see cref="StartupConfiguration"/>).
/// </summary>
public sealed record StartupOption(string Name, string Variable)
{
    /// <summary>The key <paramref name="key"/> of the configuration section <paramref name="section"/>.</summary>
    public static StartupOption InSection(string section, string key) => new($"{section}:{key}", $"{section}__{key}");

    public override string ToString() => $"--{Name} ({Variable})";
}
