using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Immutable.Build.Testing;

/// <summary>
/// The big-layer case of issue 15: the sample plus one 1 GiB incompressible file in its publish output, published
/// to the test registry by the SDK's PublishContainer and by Immutable.Build in pairs (order alternating, each run
/// to a repository of its own, so every run builds and uploads the whole image). Reported: median wall time and
/// median peak memory of each, and the wall-time ratio against the target of 0.8.
/// </summary>
public static class BigAppBench
{
    private const long BigFileBytes = 1L << 30;
    private const double TargetRatio = 0.8;

    public static async Task<string> RunAsync(SampleWorkspace workspace, BaseImagesFixture bases, int pairs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pairs, 1);
        var root = TestEnvironment.NewWorkDir("bigapp");
        try
        {
            CopyTree(workspace.Root, root);
            var projectDir = Path.Combine(root, Path.GetFileName(workspace.ProjectDir));
            // Far too big for git, and generated again from its seed when missing: ignored, not committed.
            await File.AppendAllTextAsync(Path.Combine(root, ".gitignore"), "big.bin\n");
            await File.WriteAllTextAsync(Path.Combine(root, "Directory.Build.targets"), """
                <Project>
                  <ItemGroup Condition="Exists('$(MSBuildProjectDirectory)/big.bin')">
                    <Content Include="$(MSBuildProjectDirectory)/big.bin" CopyToPublishDirectory="PreserveNewest" />
                  </ItemGroup>
                </Project>
                """);
            await WriteIncompressibleAsync(Path.Combine(projectDir, "big.bin"), BigFileBytes);
            await GitAsync(root, "init", "-q", "-b", "main");
            await GitAsync(root, "add", "-A");
            await GitAsync(root, "commit", "-q", "-m", "big app");

            var registry = bases.Registry.Address;
            var env = new Dictionary<string, string?> { ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = registry };
            var repo = "bench/big-" + Guid.NewGuid().ToString("N")[..6];
            var layerState = Path.Combine(projectDir, "obj", "Release", "net10.0", "immutable");
            var fresh = 0;
            string[] Sdk() => ["-t:PublishContainer", "-p:ImmutableEnabled=false", $"-p:ContainerRegistry={registry}", $"-p:ContainerRepository={repo}-sdk-{++fresh}", $"-p:ContainerBaseImage={bases.Busybox}", "-p:ContainerImageTags=big"];
            string[] Ours() => [$"-p:ContainerRegistry={registry}", $"-p:ContainerRepository={repo}-imm-{++fresh}", $"-p:ContainerBaseImage={bases.Busybox}"];

            async Task<(double Seconds, double PeakMb)> Run(string name, string[] arguments)
            {
                if (name == "immutable" && Directory.Exists(layerState))
                {
                    // A fresh repository is not enough: the layer cache would hand back the 1 GiB layer unbuilt.
                    Directory.Delete(layerState, recursive: true);
                }

                var started = Stopwatch.GetTimestamp();
                var result = await ProcessRunner.RunAsync("/usr/bin/time", ["-f", "PEAK_KB=%M", "dotnet", "publish", projectDir, "-c", "Release", "-nologo", .. arguments], root, env, TimeSpan.FromMinutes(10));
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                result.EnsureSuccess($"big app, {name}");
                var peak = result.StandardError.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("PEAK_KB=", StringComparison.Ordinal));
                var peakMb = peak is null ? double.NaN : double.Parse(peak["PEAK_KB=".Length..], CultureInfo.InvariantCulture) / 1024;
                Console.WriteLine($"big app, {name,-10} {seconds,7:F2} s   peak {peakMb,6:F0} MB");
                return (seconds, peakMb);
            }

            // Warm-up pair: the first build compiles and copies the 1 GiB file into the publish folder.
            await Run("sdk", Sdk());
            await Run("immutable", Ours());
            var sdk = new List<(double Seconds, double PeakMb)>();
            var ours = new List<(double Seconds, double PeakMb)>();
            for (var i = 0; i < pairs; i++)
            {
                // Alternating who goes first spreads page-cache and neighbour noise over both.
                if (i % 2 == 0)
                {
                    sdk.Add(await Run("sdk", Sdk()));
                    ours.Add(await Run("immutable", Ours()));
                }
                else
                {
                    ours.Add(await Run("immutable", Ours()));
                    sdk.Add(await Run("sdk", Sdk()));
                }
            }

            static double Median(IEnumerable<double> values)
            {
                var sorted = values.Order().ToList();
                return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
            }

            var sdkWall = Median(sdk.Select(s => s.Seconds));
            var oursWall = Median(ours.Select(s => s.Seconds));
            var sdkPeak = Median(sdk.Select(s => s.PeakMb));
            var oursPeak = Median(ours.Select(s => s.PeakMb));
            var ratio = oursWall / sdkWall;
            var table = new StringBuilder();
            table.AppendLine(CultureInfo.InvariantCulture, $"1 GiB incompressible file in the app, {pairs} pairs after a warm-up pair, medians:");
            table.AppendLine();
            table.AppendLine("| publish | wall s | peak MB |");
            table.AppendLine("| --- | ---: | ---: |");
            table.AppendLine(CultureInfo.InvariantCulture, $"| sdk PublishContainer | {sdkWall:F2} | {sdkPeak:F0} |");
            table.AppendLine(CultureInfo.InvariantCulture, $"| immutable | {oursWall:F2} | {oursPeak:F0} |");
            table.AppendLine(CultureInfo.InvariantCulture, $"| immutable / sdk | {ratio:F2} (target <= {TargetRatio:F2}: {(ratio <= TargetRatio ? "met" : "not met")}) | {oursPeak / sdkPeak:F2} ({(oursPeak <= sdkPeak ? "at most the sdk's" : "above the sdk's")}) |");
            return table.ToString();
        }
        finally
        {
            // The file, its publish copy, the layer cache: several GiB of disk.
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>SplitMix64 output: the same bytes on every machine, and nothing deflate can shrink.</summary>
    private static async Task WriteIncompressibleAsync(string path, long length)
    {
        var buffer = new byte[1 << 20];
        var state = 0x1234_5678_9ABC_DEF0UL;
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
        for (long written = 0; written < length; written += buffer.Length)
        {
            foreach (ref var word in MemoryMarshal.Cast<byte, ulong>(buffer.AsSpan()))
            {
                var z = state += 0x9E37_79B9_7F4A_7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
                word = z ^ (z >> 31);
            }

            await file.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - written)));
        }
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }

        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            if (Path.GetFileName(dir) is not ("bin" or "obj" or ".git"))
            {
                CopyTree(dir, Path.Combine(to, Path.GetFileName(dir)));
            }
        }
    }

    private static async Task GitAsync(string root, params string[] arguments) =>
        (await ProcessRunner.RunAsync("git", ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false", .. arguments], root, timeout: TimeSpan.FromMinutes(1)))
            .EnsureSuccess("git " + string.Join(' ', arguments));
}
