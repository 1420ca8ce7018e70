namespace Immutable.Build.Docker;

/// <summary>The labels the Docker target puts on every container it creates; reading them back is how it knows what runs.</summary>
public static class DockerLabels
{
    /// <summary>The app (also an image label of every release, so containers started by hand carry it).</summary>
    public const string App = ReleaseLabels.App;

    /// <summary>The environment.</summary>
    public const string Environment = "immutable.environment";

    /// <summary>App and environment as one key.</summary>
    public const string Scope = "immutable.scope";

    /// <summary><see cref="InstanceRole"/> or <see cref="ProxyRole"/>.</summary>
    public const string Role = "immutable.role";

    /// <summary>"true" on containers a rollout created.</summary>
    public const string Managed = "immutable.managed";

    /// <summary>The release id.</summary>
    public const string Release = "immutable.release";

    /// <summary>The image's manifest digest.</summary>
    public const string Digest = "immutable.digest";

    /// <summary>The rollout group.</summary>
    public const string Group = "immutable.group";

    /// <summary>The host port the container listens on.</summary>
    public const string Port = "immutable.port";

    /// <summary>The source commit.</summary>
    public const string Commit = "immutable.commit";

    /// <summary>Role of an app instance.</summary>
    public const string InstanceRole = "instance";

    /// <summary>Role of the app's proxy.</summary>
    public const string ProxyRole = "proxy";

    /// <summary>A name Docker accepts for containers and repositories: lower case, [a-z0-9_.-].</summary>
    public static string Safe(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var chars = value.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray();
        var safe = new string(chars).Trim('-', '.', '_');
        return safe.Length == 0 ? "app" : safe;
    }
}
