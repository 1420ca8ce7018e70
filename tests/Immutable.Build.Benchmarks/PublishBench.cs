using System.Globalization;
using System.Text;
using Immutable.Build.Testing;

/// <summary>
/// `dotnet publish` of the sample with Immutable.Build against the publish it must beat, in paired runs: each pair
/// runs both (the order alternating, so a machine that slows down weighs on both alike), and the figure is the median
/// of the pairs' ratios, held against the target issue 15 sets. Wall time and the publishing process's peak memory
/// (/usr/bin/time) are measured; a warm-up pair is run first and dropped.
/// </summary>
public sealed class PublishBench(SampleWorkspace workspace, IReadOnlyDictionary<string, string?> environment, int pairs)
{
    private readonly List<Row> _rows = [];

    /// <summary>One compared scenario: the two medians, the median ratio and the target it is held to.</summary>
    public sealed record Row(string Scenario, string Baseline, double BaselineSeconds, double OursSeconds, double Ratio, double Target, double BaselinePeakMb, double OursPeakMb)
    {
        public bool Met => Ratio <= Target;
    }

    public IReadOnlyList<Row> Rows => _rows;

    /// <summary>One side of a pair: the publish arguments, and what to do before each run (untimed).</summary>
    public sealed record Side(string Name, Func<string[]> Arguments, Func<Task>? Prepare = null);

    /// <summary>Runs <paramref name="pairs"/> pairs (after one warm-up pair) of <paramref name="baseline"/> and <paramref name="ours"/>.</summary>
    public async Task<Row> CompareAsync(string scenario, Side baseline, Side ours, double target)
    {
        var ratios = new List<double>();
        var b = new List<(double Seconds, double PeakMb)>();
        var o = new List<(double Seconds, double PeakMb)>();
        for (var i = 0; i <= pairs; i++)
        {
            (double, double) first, second;
            var oursFirst = i % 2 == 1;
            first = await RunAsync(oursFirst ? ours : baseline);
            second = await RunAsync(oursFirst ? baseline : ours);
            if (i == 0)
            {
                continue; // warm-up
            }

            var (baseRun, ourRun) = oursFirst ? (second, first) : (first, second);
            b.Add(baseRun);
            o.Add(ourRun);
            ratios.Add(ourRun.Item1 / baseRun.Item1);
        }

        var row = new Row(scenario, baseline.Name, Median(b.Select(x => x.Seconds)), Median(o.Select(x => x.Seconds)), Median(ratios), target, Median(b.Select(x => x.PeakMb)), Median(o.Select(x => x.PeakMb)));
        _rows.Add(row);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{scenario,-34} {baseline.Name} {row.BaselineSeconds,6:F2} s  immutable {row.OursSeconds,6:F2} s  ratio {row.Ratio:F3} (target <= {target:F2}: {(row.Met ? "met" : "NOT met")})  peak {row.BaselinePeakMb:F0} / {row.OursPeakMb:F0} MB  (ratios {string.Join(' ', ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))})"));
        return row;
    }

    /// <summary>The rows as a Markdown table.</summary>
    public string Table()
    {
        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(c, $"Medians of {pairs} paired runs (order alternating, after a warm-up pair); ratio = median of the pairs' immutable / baseline wall time.");
        md.AppendLine();
        md.AppendLine("| scenario | baseline | baseline s | immutable s | ratio | target | met | peak MB baseline / immutable |");
        md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |");
        foreach (var r in _rows)
        {
            md.AppendLine(c, $"| {r.Scenario} | {r.Baseline} | {r.BaselineSeconds:F2} | {r.OursSeconds:F2} | {r.Ratio:F3} | <= {r.Target:F2} | {(r.Met ? "yes" : "**no**")} | {r.BaselinePeakMb:F0} / {r.OursPeakMb:F0} |");
        }

        return md.ToString();
    }

    private async Task<(double Seconds, double PeakMb)> RunAsync(Side side)
    {
        if (side.Prepare is not null)
        {
            await side.Prepare();
        }

        var arguments = side.Arguments();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var result = await ProcessRunner.RunAsync("/usr/bin/time", ["-f", "PEAK_KB=%M", "dotnet", "publish", workspace.ProjectDir, "-c", "Release", "-nologo", .. arguments], workspace.Root, environment, TimeSpan.FromMinutes(10));
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
        result.EnsureSuccess(side.Name);
        var peak = result.StandardError.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("PEAK_KB=", StringComparison.Ordinal));
        return (seconds, peak is null ? double.NaN : double.Parse(peak["PEAK_KB=".Length..], CultureInfo.InvariantCulture) / 1024);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
