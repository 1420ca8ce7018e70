using System.Text.Json;
using Immutable.Build.Releases;
using Immutable.Build.Targets;

namespace Immutable.Build.Deployments;

/// <summary>
/// release.auto.tfvars.json beside release.json: the release as Terraform variables (image by digest, AMI per region,
/// launch template id and version), so infrastructure code pins exactly the release and Terraform's plan shows the
/// change. Terraform loads *.auto.tfvars.json from its working directory by itself.
/// </summary>
public static class TerraformHandOff
{
    /// <summary>The file's name.</summary>
    public const string FileName = "release.auto.tfvars.json";

    /// <summary>Writes the file beside <paramref name="manifestPath"/>; returns its path.</summary>
    public static string Write(string manifestPath, ReleaseManifest manifest, MachineImageRelease images)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(images);
        var path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, FileName);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("immutable_app", manifest.App);
            json.WriteString("immutable_release_id", manifest.ReleaseId);
            json.WriteString("immutable_commit", manifest.Source.Commit);
            json.WriteString("immutable_image", manifest.Image.Reference);
            json.WriteString("immutable_image_digest", manifest.Image.Digest);
            json.WriteStartObject("immutable_amis");
            foreach (var (region, ami) in images.ImagesByRegion.OrderBy(i => i.Key, StringComparer.Ordinal))
            {
                json.WriteString(region, ami);
            }

            json.WriteEndObject();
            json.WriteString("immutable_launch_template_id", images.LaunchTemplateId);
            json.WriteString("immutable_launch_template_name", images.LaunchTemplateName);
            json.WriteString("immutable_launch_template_version", images.LaunchTemplateVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteEndObject();
        }

        AtomicFile.WriteAllText(path, System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n");
        return path;
    }
}
