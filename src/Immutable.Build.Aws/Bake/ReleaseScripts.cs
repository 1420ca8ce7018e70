using System.Reflection;
using System.Text;

namespace Immutable.Build.Aws.Bake;

/// <summary>What the scripts put on an instance: the image by digest and the release identity.</summary>
internal sealed record ReleaseScriptInput(string Image, string Digest, int AppPort, string ReleaseId, string Commit, string App, string Environment, string Group);

/// <summary>
/// The shell that installs a release on an instance (Scripts/install-release.sh), with the release's values as
/// single-quoted assignments above it: the values come from release.json and the settings, and no quoting trick in
/// them may run as code. No value is a secret: instances pull with their role, never with the publisher's password.
/// </summary>
internal static class ReleaseScripts
{
    /// <summary>EC2 refuses user data over 16 KB (before base64).</summary>
    public const int MaxUserDataBytes = 16 * 1024;

    /// <summary>The install script for <paramref name="mode"/> (bake on a builder, boot at first start).</summary>
    public static string InstallScript(ReleaseScriptInput input, string mode)
    {
        ArgumentNullException.ThrowIfNull(input);
        return "#!/bin/bash\n" + Prelude(input, mode) + Body();
    }

    /// <summary>Quick mode's user data: the install at first boot of the base AMI.</summary>
    public static string UserData(ReleaseScriptInput input) => Checked(InstallScript(input, "boot"));

    /// <summary>
    /// User data of an instance from a baked AMI: the unit is already enabled and starts at boot, so this only hands
    /// it the instance's group when the launch knows it (else the unit reads the group from the instance's tags).
    /// </summary>
    public static string BakedUserData(ReleaseScriptInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var text = new StringBuilder("#!/bin/bash\nset -eu\n");
        text.Append("echo ").Append(Quote($"immutable: {input.App} release {input.ReleaseId} ({input.Digest}) baked into this AMI starts from immutable-app.service")).Append('\n');
        if (!string.IsNullOrEmpty(input.Group))
        {
            // release.env and instance.env are line-based: a line break would add a variable of its own.
            if (input.Group.AsSpan().IndexOfAny('\n', '\r') >= 0)
            {
                throw new ImmutableBuildException(AwsErrors.SettingCode, "The instance group holds a line break; groups are single words such as blue or green.");
            }

            text.Append("mkdir -p /etc/immutable\n")
                .Append("printf 'IMMUTABLE_GROUP=%s\\n' ").Append(Quote(input.Group)).Append(" > /etc/immutable/instance.env\n")
                .Append("systemctl restart immutable-app.service\n");
        }

        return Checked(text.ToString());
    }

    /// <summary>Variable assignments for the script, each value single-quoted.</summary>
    public static string Prelude(ReleaseScriptInput input, string mode)
    {
        ArgumentNullException.ThrowIfNull(input);
        var values = new (string Name, string Value)[]
        {
            ("IMAGE", input.Image), ("DIGEST", input.Digest), ("APP_PORT", input.AppPort.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("RELEASE_ID", input.ReleaseId), ("COMMIT", input.Commit), ("APP", input.App), ("ENVIRONMENT", input.Environment), ("GROUP", input.Group), ("MODE", mode),
        };
        var text = new StringBuilder();
        foreach (var (name, value) in values)
        {
            text.Append(name).Append('=').Append(Quote(value)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>A shell word that is exactly <paramref name="value"/>: single quotes, each ' as '\''.</summary>
    public static string Quote(string value) => "'" + (value ?? "").Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string Body()
    {
        using var stream = typeof(ReleaseScripts).Assembly.GetManifestResourceStream("Immutable.Build.Aws.Scripts.install-release.sh")
            ?? throw new InvalidOperationException("the install script is not embedded in Immutable.Build.Aws");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    private static string Checked(string userData) => Encoding.UTF8.GetByteCount(userData) <= MaxUserDataBytes
        ? userData
        : throw new ImmutableBuildException(AwsErrors.SettingCode, $"The instance user data is {Encoding.UTF8.GetByteCount(userData)} bytes; EC2 takes at most {MaxUserDataBytes}. Shorten the app, environment or release names.");
}
