namespace Immutable.Build.Releases;

/// <summary>What the build knows about one published file (the MSBuild item metadata, as plain strings).</summary>
public sealed record PublishItem(string RelativePath, string? NuGetPackageId, string? ReferenceSourceTarget, string? SourceProjectFile, string? RuntimePackAsset);

/// <summary>
/// Puts each published file in a layer by how often it changes: package assets and the runtime,
/// then project references, then the app. Jib's split, for .NET.
/// </summary>
public static class PublishFileClassifier
{
    /// <summary>Classifies items; later duplicates of a path are ignored.</summary>
    public static IReadOnlyList<PublishFile> Classify(IEnumerable<PublishItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<PublishFile>();
        foreach (var item in items)
        {
            var path = item.RelativePath.Replace('\\', '/');
            if (!seen.Add(path))
            {
                continue;
            }

            result.Add(new PublishFile(path, KindOf(item)));
        }

        return result;
    }

    private static LayerKind KindOf(PublishItem item)
    {
        if (!string.IsNullOrEmpty(item.NuGetPackageId) || !string.IsNullOrEmpty(item.RuntimePackAsset))
        {
            return LayerKind.Packages;
        }

        if (string.Equals(item.ReferenceSourceTarget, "ProjectReference", StringComparison.OrdinalIgnoreCase) || !string.IsNullOrEmpty(item.SourceProjectFile))
        {
            return LayerKind.ProjectReferences;
        }

        return LayerKind.App;
    }
}
