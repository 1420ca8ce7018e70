namespace Immutable.Build.Deployments;

/// <summary>ImmutableCheckReleaseIdentity: whether the release-identity gate runs, and whether the app must have its endpoint.</summary>
public enum ReleaseIdentityCheck
{
    /// <summary><c>auto</c> (default): checked when the app answers /version; skipped with warning IMB6020 when it answers 404.</summary>
    Auto,

    /// <summary><c>true</c>: every instance must report the release at /version.</summary>
    Required,

    /// <summary><c>false</c>: not checked.</summary>
    Off,
}
