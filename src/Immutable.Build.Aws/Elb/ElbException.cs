using System.Net;

namespace Immutable.Build.Aws.Elb;

/// <summary>An error answer of the ELBv2 Query API: its code (e.g. TargetGroupNotFound, Throttling) and HTTP status.</summary>
public sealed class ElbException : Exception
{
    public ElbException()
    {
    }

    public ElbException(string message)
        : base(message)
    {
    }

    public ElbException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

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
