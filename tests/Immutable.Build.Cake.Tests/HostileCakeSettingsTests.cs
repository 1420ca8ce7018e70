using System.Reflection;
using System.Security.Cryptography;
using Cake.Core;
using Cake.Core.Diagnostics;
using Immutable.Build.Cake;

namespace Immutable.Build.Cake.Tests;

/// <summary>
/// Hostile settings given to the Cake aliases in-process, one row each: a CakeException whose message starts with the
/// IMB code and says what to fix, no stack trace in it, and nothing written in the sandbox (its state directory stays absent).
/// </summary>
public sealed class HostileCakeSettingsTests
{
    /// <summary>What a row proves, the alias call (given the context and the sandbox), the code and a word of the fix.</summary>
    private sealed record Case(string Proves, Action<ICakeContext, string> Call, string Code, string Fix);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["status-unknown-target"] = new("ImmutableStatus with an unknown target names the known ones", (c, w) => c.ImmutableStatus(new ImmutableStatusSettings { App = "hello", Target = "kubernetes", StateDirectory = State(w) }), "IMB6", "local"),
        ["rollback-bad-identity-check"] = new("ImmutableRollback with CheckReleaseIdentity 'yes' is IMB6003", (c, w) => c.ImmutableRollback(new ImmutableRollbackSettings { App = "hello", CheckReleaseIdentity = "yes", StateDirectory = State(w) }), "IMB6003", "auto"),
        ["prune-negative-retain"] = new("ImmutablePrune with Retain -1 is refused", (c, w) => c.ImmutablePrune(new ImmutablePruneSettings { App = "hello", Target = "local", Retain = -1, StateDirectory = State(w) }), "IMB6", "Retain"),
        ["rollback-prometheus-file-url"] = new("a metric gate at a file:// URL is refused", (c, w) => c.ImmutableRollback(new ImmutableRollbackSettings { App = "hello", PrometheusUrl = "file:///etc/passwd", PrometheusQuery = "up", PrometheusCondition = "> 0", StateDirectory = State(w) }), "IMB6", "http"),
        ["status-local-port-out-of-range"] = new("a local proxy port of 70000 is refused", (c, w) => c.ImmutableStatus(new ImmutableStatusSettings { App = "hello", Target = "local", LocalPort = 70000, StateDirectory = State(w) }), "IMB6104", "port"),
        ["status-app-traversal"] = new("an app name that climbs ('../x') reads no state outside the state directory and writes none", (c, w) => c.ImmutableStatus(new ImmutableStatusSettings { App = "../../escape", Target = "kubernetes", StateDirectory = State(w) }), "IMB6", "local"),
    };

    public static TheoryData<string> Names => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void A_hostile_setting_is_a_CakeException_with_its_IMB_code(string name)
    {
        var row = Cases[name];
        var work = TestEnvironment.NewWorkDir("hostile-cake");
        var before = Snapshot(work);
        var context = Recording.Context(out var lines);

        var e = Assert.Throws<CakeException>(() => row.Call(context, work));

        Assert.StartsWith(row.Code, e.Message, StringComparison.Ordinal);
        Assert.Contains(row.Fix, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("   at ", StringComparison.Ordinal));
        Assert.Equal(before, Snapshot(work));
        Assert.False(Directory.Exists(State(work)), "no state is written for settings that cannot work");
    }

    private static string State(string work) => Path.Combine(work, "state");

    private static List<string> Snapshot(string root) =>
        new DirectoryInfo(Path.GetDirectoryName(root)!).EnumerateFileSystemInfos("escape*").Select(i => i.FullName)
            .Concat(new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                .Select(i => i is FileInfo f ? $"{f.FullName} {f.Length} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f.FullName)))}" : i.FullName + "/"))
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>A Cake context with only a log (what these aliases use); any other member is a failure of the test.</summary>
    public class Recording : DispatchProxy
    {
        private List<string> _lines = [];

        public static ICakeContext Context(out List<string> lines)
        {
            var log = Create<ICakeLog, Recording>();
            var context = Create<ICakeContext, Recording>();
            lines = [];
            ((Recording)(object)log)._lines = lines;
            ((Recording)(object)context)._log = log;
            return context;
        }

        private ICakeLog? _log;

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "get_Log" => _log,
            "get_Verbosity" => Verbosity.Diagnostic,
            "set_Verbosity" => null,
            "Write" => Add(args!),
            _ => throw new NotSupportedException($"the alias used ICakeContext.{targetMethod?.Name}"),
        };

        private object? Add(object?[] args)
        {
            _lines.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, (string)args[2]!, (object?[])args[3]!));
            return null;
        }
    }
}
