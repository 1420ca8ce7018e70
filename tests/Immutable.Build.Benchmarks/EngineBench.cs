using System.Diagnostics;
using System.Globalization;
using System.Text;
using Immutable.Build.Rollout;
using Immutable.Build.Testing;
using Immutable.Build.Targets;

/// <summary>
/// The rollout engine alone against the in-memory target: a blue-green replacement of 10, 100 and 1,000 instances
/// (v1 already running, v2 rolled out), timed and with every byte allocated in the process counted. The fixed
/// part (journal and ledger lines, each flushed to disk) is the same at every size, so growth is read from the
/// marginal cost per instance between sizes: constant marginal figures mean linear growth.
/// </summary>
public static class EngineBench
{
    private static readonly int[] Sizes = [10, 100, 1000];

    /// <summary>Runs the measurement and returns a Markdown table.</summary>
    public static async Task<string> RunAsync()
    {
        var runs = int.TryParse(Environment.GetEnvironmentVariable("BENCH_RUNS"), out var r) && r > 0 ? r : 5;
        var root = Path.Combine(Path.GetTempPath(), "immutable-engine-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await MeasureAsync(root, 10); // warm-up: JIT, JSON metadata, file system caches
            var rows = new List<(int Size, double Ms, double Bytes)>();
            foreach (var size in Sizes)
            {
                var samples = new List<(double Ms, double Bytes)>();
                for (var i = 0; i < runs; i++)
                {
                    samples.Add(await MeasureAsync(root, size));
                }

                rows.Add((size, Median(samples.Select(s => s.Ms)), Median(samples.Select(s => s.Bytes))));
            }

            var c = CultureInfo.InvariantCulture;
            var md = new StringBuilder();
            md.AppendLine(c, $"Engine alone, in-memory target, blue-green replacing N running instances; median of {runs} runs.");
            md.AppendLine();
            md.AppendLine("| instances | wall ms | allocated KB | marginal ms / instance | marginal bytes / instance |");
            md.AppendLine("| ---: | ---: | ---: | ---: | ---: |");
            for (var i = 0; i < rows.Count; i++)
            {
                var (size, ms, bytes) = rows[i];
                var marginal = i == 0 ? ("-", "-") : (
                    ((ms - rows[i - 1].Ms) / (size - rows[i - 1].Size)).ToString("F4", c),
                    ((bytes - rows[i - 1].Bytes) / (size - rows[i - 1].Size)).ToString("F0", c));
                md.AppendLine(c, $"| {size} | {ms:F1} | {bytes / 1024:F0} | {marginal.Item1} | {marginal.Item2} |");
            }

            return md.ToString();
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static async Task<(double Ms, double Bytes)> MeasureAsync(string root, int size)
    {
        var target = new InMemoryTarget();
        var scope = new DeploymentScope("bench", "n" + size.ToString(CultureInfo.InvariantCulture));
        var engine = new RolloutEngine(target, new RolloutEngineOptions
        {
            StateDirectory = Path.Combine(root, Guid.NewGuid().ToString("N")),
            PollInterval = TimeSpan.FromMilliseconds(1),
            Drain = TimeSpan.Zero,
            GetEnvironmentVariable = _ => null,
        });
        var v1 = await engine.DeployAsync(scope, Release("v1"), RolloutStrategy.BlueGreen(size));
        v1.ThrowIfNotSucceeded();

        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var v2 = await engine.DeployAsync(scope, Release("v2"), RolloutStrategy.BlueGreen(size));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        v2.ThrowIfNotSucceeded();
        return (elapsed.TotalMilliseconds, bytes);
    }

    private static ReleaseRef Release(string id)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(id)));
        return new ReleaseRef(id, "bench@" + digest, digest, "oci:/bench@" + digest, null);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
