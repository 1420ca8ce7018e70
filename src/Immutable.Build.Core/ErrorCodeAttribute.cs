namespace Immutable.Build;

/// <summary>
/// Makes a <c>const string</c> field holding an <c>IMB####</c> code that code's one entry in the error catalog:
/// the cause and the fix that docs/errors.md shows for it. Each assembly declares its own codes in its
/// <c>*Errors</c> classes; a test reads every marked field of the Immutable.Build assemblies and checks
/// docs/errors.md against them in both directions.
/// </summary>
/// <remarks>
/// The code stays a constant (rather than an object carrying the text) because callers compare codes in
/// <c>is</c> patterns, switch arms and test attributes, which only take constants.
/// </remarks>
/// <param name="cause">What went wrong, as a sentence the user recognises.</param>
/// <param name="fix">What to change so that it works.</param>
[AttributeUsage(AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class ErrorCodeAttribute(string cause, string fix) : Attribute
{
    /// <summary>What went wrong.</summary>
    public string Cause { get; } = cause;

    /// <summary>What to change.</summary>
    public string Fix { get; } = fix;

    /// <summary>True for a code that is reported as a warning, not an error.</summary>
    public bool Warning { get; set; }
}
