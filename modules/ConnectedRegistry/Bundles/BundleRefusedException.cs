namespace ConnectedRegistry.Bundles;

/// <summary>A bundle that cannot be imported (or a bundle file that cannot be read), with the reason a person can act on.</summary>
public sealed class BundleRefusedException(string reason, Exception? inner = null) : Exception(reason, inner);
