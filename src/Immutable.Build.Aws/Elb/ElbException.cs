using System.Net;

namespace Immutable.Build.Aws.Elb;

/// <summary>An error answer of the ELBv2 Query API: its code (e.g. TargetGroupNotFound, Throttling) and HTTP status.</summary>
public sealed class ElbException : Exception
{
    /// <summary>An error with no details (for serializers and tooling).</summary>
    public ElbException()
    {
    }

    /// <summary>An error with a message only.</summary>
    public ElbException(string message)
        : base(message)
    {
    }

    /// <summary>An error caused by another one.</summary>
    public ElbException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>An error answer to <paramref name="action"/>; <paramref name="message"/> is AWS's own text, never the request.</summary>
    public ElbException(string action, string? code, HttpStatusCode status, string message)
        : base($"{code ?? ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture)}: {message}")
    {
        Action = action;
        Code = code;
        Status = status;
    }

    /// <summary>The API action, e.g. CreateTargetGroup.</summary>
    public string? Action { get; }

    /// <summary>AWS's error code, or null when the answer had none.</summary>
    public string? Code { get; }

    /// <summary>The HTTP status of the answer.</summary>
    public HttpStatusCode Status { get; }
}
