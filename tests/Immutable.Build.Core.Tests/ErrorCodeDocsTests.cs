using System.Text.RegularExpressions;

namespace Immutable.Build.Core.Tests;

/// <summary>Every IMB code the product can report is listed, with its fix, in docs/errors.md.</summary>
public sealed partial class ErrorCodeDocsTests
{
    [Fact]
    public void Every_error_code_in_the_source_is_documented()
    {
        var documented = DocRow().Matches(File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "docs", "errors.md"))).Select(m => m.Groups[1].Value).ToHashSet();
        var used = Directory.EnumerateFiles(Path.Combine(TestEnvironment.RepoRoot, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => Code().Matches(File.ReadAllText(f)).Select(m => m.Value))
            .ToHashSet();
        Assert.NotEmpty(used);
        Assert.Empty(used.Except(documented).Order());
    }

    [GeneratedRegex(@"^\| (IMB\d{4}) \| \S", RegexOptions.Multiline)]
    private static partial Regex DocRow();

    [GeneratedRegex(@"IMB\d{4}")]
    private static partial Regex Code();
}
