using System.Reflection;
using System.Text.RegularExpressions;

namespace Immutable.Build.Core.Tests;

/// <summary>
/// The error catalog (the <see cref="ErrorCodeAttribute"/> constants of every Immutable.Build assembly), the
/// codes the source raises and docs/errors.md agree in both directions.
/// </summary>
public sealed partial class ErrorCodeDocsTests
{
    // Loaded by name: the tasks assembly's task types derive from MSBuild's, which this test host does not carry,
    // and the CLI's assembly is called "immutable".
    private static readonly string[] AssemblyNames = ["Immutable.Build.Core", "Immutable.Build.Docker", "Immutable.Build.Aws", "Immutable.Build.Tasks", "immutable"];

    private static readonly Lazy<IReadOnlyList<Declared>> Catalog = new(ReadCatalog);
    private static readonly Lazy<IReadOnlyList<Documented>> Docs = new(ReadDocs);
    private static readonly Lazy<IReadOnlyList<SourceFile>> Sources = new(ReadSources);

    [Fact]
    public void Every_declared_code_has_a_row_in_docs_errors_md_with_its_cause_and_fix()
    {
        var rows = Docs.Value.ToLookup(d => d.Code);
        var wrong = Catalog.Value
            .Where(c => !rows[c.Code].Any(d => d.Cause == c.Cause && d.Fix == c.Fix && d.Warning == c.Warning))
            .Select(c => $"{c.Type.Name}.{c.Field} wants, in the {c.Code[..4]}xxx section: {Row(c)}")
            .ToList();
        Assert.NotEmpty(Catalog.Value);
        Assert.True(wrong.Count == 0, "docs/errors.md is out of date:\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void Every_documented_code_is_declared()
    {
        var declared = Catalog.Value.Select(c => c.Code).ToHashSet();
        Assert.NotEmpty(Docs.Value);
        Assert.Empty(Docs.Value.Select(d => d.Code).Where(c => !declared.Contains(c)).Order());
    }

    [Fact]
    public void No_code_is_declared_or_documented_twice()
    {
        var twice = Catalog.Value.GroupBy(c => c.Code).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(c => $"{c.Type.Name}.{c.Field}"))}").ToList();
        Assert.True(twice.Count == 0, "declared twice:\n" + string.Join("\n", twice));
        Assert.Empty(Docs.Value.GroupBy(d => d.Code).Where(g => g.Count() > 1).Select(g => g.Key));
    }

    [Fact]
    public void Every_IMB_constant_is_in_the_catalog()
    {
        // A second constant for a code, or one without its cause and fix, would be a second catalog.
        var bare = LoadedTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(f => f.IsLiteral && f.GetRawConstantValue() is string s && CodeOnly().IsMatch(s) && f.GetCustomAttribute<ErrorCodeAttribute>() is null)
            .Select(f => $"{f.DeclaringType!.FullName}.{f.Name}");
        Assert.Empty(bare);
    }

    [Fact]
    public void Every_code_in_the_source_is_declared()
    {
        var declared = Catalog.Value.Select(c => c.Code).ToHashSet();
        var undeclared = Sources.Value
            .SelectMany(f => Code().Matches(f.Text).Select(m => $"{m.Value} ({f.RelativePath})"))
            .Where(u => !declared.Contains(u[..7]))
            .Distinct()
            .Order();
        Assert.Empty(undeclared);
    }

    [Fact]
    public void Every_declared_code_is_raised_somewhere_in_the_source()
    {
        var unused = Catalog.Value.Where(c => !IsUsed(c)).Select(c => $"{c.Code} ({c.Type.Name}.{c.Field})");
        Assert.Empty(unused);
    }

    [Fact]
    public void Every_documented_code_is_in_the_section_of_its_range()
    {
        Assert.Empty(Docs.Value.Where(d => d.Section != d.Code[3]).Select(d => d.Code));
    }

    // Used = its constant is referenced (by its class from anywhere, or by name inside its own file), or its
    // code is written as a literal outside the declaration; comment lines do not count.
    private static bool IsUsed(Declared code)
    {
        var declaration = new Regex($@"const string {code.Field} = ""{code.Code}""");
        var qualified = new Regex($@"\b{code.Type.Name}\.{code.Field}\b");
        var bare = new Regex($@"\b{code.Field}\b");
        foreach (var file in Sources.Value)
        {
            var declaring = declaration.IsMatch(file.Text);
            foreach (var line in file.Lines.Where(l => !l.TrimStart().StartsWith("//", StringComparison.Ordinal) && !declaration.IsMatch(l)))
            {
                if (line.Contains(code.Code, StringComparison.Ordinal) || qualified.IsMatch(line) || (declaring && bare.IsMatch(line)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static string Row(Declared c) => $"| {c.Code} | {(c.Warning ? "(warning) " : "")}{c.Cause} | {c.Fix} |";

    private static IReadOnlyList<Declared> ReadCatalog() =>
        LoadedTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Select(f => (Field: f, Entry: f.GetCustomAttribute<ErrorCodeAttribute>()))
            .Where(x => x.Entry is not null)
            .Select(x =>
            {
                var code = x.Field.IsLiteral ? x.Field.GetRawConstantValue() as string : null;
                Assert.True(code is not null && CodeOnly().IsMatch(code), $"{x.Field.DeclaringType!.FullName}.{x.Field.Name} carries [ErrorCode] but is not a const string IMB####.");
                return new Declared(code!, x.Entry!.Cause, x.Entry.Fix, x.Entry.Warning, x.Field.DeclaringType!, x.Field.Name);
            })
            .ToList();

    private static IEnumerable<Type> LoadedTypes() =>
        AssemblyNames.Select(Assembly.Load).SelectMany(a =>
        {
            try
            {
                return a.GetTypes();
            }
            catch (ReflectionTypeLoadException e)
            {
                return e.Types.OfType<Type>().ToArray();
            }
        });

    private static IReadOnlyList<Documented> ReadDocs()
    {
        var rows = new List<Documented>();
        var section = ' ';
        foreach (var line in File.ReadLines(Path.Combine(TestEnvironment.RepoRoot, "docs", "errors.md")))
        {
            if (Section().Match(line) is { Success: true } s)
            {
                section = s.Groups[1].Value[0];
            }
            else if (DocRow().Match(line) is { Success: true } m)
            {
                var cause = m.Groups["cause"].Value;
                var warning = cause.StartsWith("(warning) ", StringComparison.Ordinal);
                rows.Add(new Documented(m.Groups["code"].Value, warning ? cause["(warning) ".Length..] : cause, m.Groups["fix"].Value, warning, section));
            }
            else
            {
                Assert.False(line.StartsWith("| IMB", StringComparison.Ordinal), $"docs/errors.md: a row is not '| code | cause | fix |': {line}");
            }
        }

        return rows;
    }

    private static IReadOnlyList<SourceFile> ReadSources()
    {
        var root = Path.Combine(TestEnvironment.RepoRoot, "src");
        var generated = new[] { $"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", $"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}" };
        return Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !generated.Any(g => f.Contains(g, StringComparison.Ordinal)))
            .Select(f => new SourceFile(Path.GetRelativePath(TestEnvironment.RepoRoot, f), File.ReadAllText(f)))
            .ToList();
    }

    private sealed record Declared(string Code, string Cause, string Fix, bool Warning, Type Type, string Field);

    private sealed record Documented(string Code, string Cause, string Fix, bool Warning, char Section);

    private sealed record SourceFile(string RelativePath, string Text)
    {
        public string[] Lines { get; } = Text.Split('\n');
    }

    [GeneratedRegex(@"^\| (?<code>IMB\d{4}) \| (?<cause>[^|]+) \| (?<fix>[^|]+) \|$")]
    private static partial Regex DocRow();

    [GeneratedRegex(@"^## IMB(\d)xxx\b")]
    private static partial Regex Section();

    [GeneratedRegex(@"IMB\d{4}")]
    private static partial Regex Code();

    [GeneratedRegex(@"^IMB\d{4}$")]
    private static partial Regex CodeOnly();
}
