namespace ConnectedRegistry.Core;

/// <summary>
/// A start-up mistake in the module's own settings or environment (a data folder it cannot use, a bad option value, a
/// missing certificate, a bad IoT Edge variable). The message is the whole answer an operator gets, on one line: it
/// names the option (and the path or value), what is wrong and the fix, and never holds a secret. The host prints it
/// and exits with code 2 instead of a stack trace, so each part throws this (or its own subclass) for what it cannot
/// start with.
/// </summary>
public class StartupException(string message, Exception? inner = null) : Exception(message, inner);
