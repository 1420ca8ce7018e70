namespace Immutable.Build;

/// <summary>
/// A failure the user can act on. <see cref="Code"/> is the stable <c>IMB####</c> code listed in
/// docs/errors.md; the message says what went wrong and what to change. Adapters print it without a stack trace.
/// </summary>
public sealed class ImmutableBuildException : Exception
{
    /// <summary>Creates an error with its code and a message that names the fix.</summary>
    public ImmutableBuildException(string code, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Code = code;
    }

    /// <summary>The stable error code, <c>IMB</c> followed by four digits.</summary>
    public string Code { get; }

    /// <inheritdoc />
    public override string ToString() => $"{Code}: {Message}";
}
