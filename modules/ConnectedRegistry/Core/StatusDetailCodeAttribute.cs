namespace ConnectedRegistry.Core;

/// <summary>
/// Marks a constant that is the <c>code</c> of a status detail (<see cref="StatusDetail"/>) the module reports. Every
/// code is declared once as such a constant, next to the part that raises it, so the set an operator can see is
/// known from the code: the docs' tests compare the reported-properties tables to it.
/// </summary>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class StatusDetailCodeAttribute : Attribute;
