using System.Runtime.InteropServices;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;
using Immutable.Build.Targets;
using Immutable.Build.Targets.Local;

namespace Immutable.Build.Core.Tests.Local;

/// <summary>
/// Issue 14: the state directory holds the control token, the ledger and the instances' logs, so it must be private
/// to the user (folders 0700, files without group or other bits) whatever the umask; .NET alone gives 0755/0644
/// under 022 and 0777/0666 under 000. The umask is the process's: these run in the local target's collection, one
/// at a time, and every host they start inherits it.
/// </summary>
[Collection(LocalTargetCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class StateFileModesTests(SampleReleaseFixture sample) : LocalTargetTestBase(sample)
{
    [Theory]
    [InlineData(0x12)] // 022
    [InlineData(0)] // 000
    public async Task A_rollout_leaves_its_state_private_to_the_user(int umask)
    {
        var state = Path.Combine(TestEnvironment.NewWorkDir("modes-memory"), "state");
        using (Umask.Set(umask))
        {
            var scope = new DeploymentScope("hello", "modes");
            var engine = new RolloutEngine(new InMemoryTarget(), new RolloutEngineOptions
            {
                StateDirectory = state,
                PollInterval = TimeSpan.FromMilliseconds(5),
                StartTimeout = TimeSpan.FromSeconds(2),
                Drain = TimeSpan.Zero,
                GetEnvironmentVariable = _ => null,
            });
            var release = new ReleaseRef("r1", "hello@" + Sample.Release.ImageDigest, Sample.Release.ImageDigest, "oci:/nowhere", null);
            Assert.Equal(RolloutOutcomes.Succeeded, (await engine.DeployAsync(scope, release, RolloutStrategy.BlueGreen(1), Ct)).Outcome);
            await engine.StatusAsync(scope, repair: true, Ct);
            RememberedTargets.Save(state, new RememberedTarget(scope.App, scope.Environment, "memory", new Dictionary<string, string>()));
        }

        AssertPrivate(state, ["rollouts", "targets"]);
    }

    [Fact(Timeout = 240_000)]
    public async Task A_local_deploy_leaves_its_state_private_to_the_user_under_umask_000()
    {
        var ct = TestContext.Current.CancellationToken;
        using (Umask.Set(0))
        {
            var engine = new RolloutEngine(Target, new RolloutEngineOptions
            {
                StateDirectory = StateDirectory,
                StartTimeout = TimeSpan.FromSeconds(60),
                Drain = TimeSpan.Zero,
                GetEnvironmentVariable = _ => null,
            });
            using var kept = await ReleaseStore.KeepAsync(StateDirectory, Scope, Sample.Release, ReleaseLog.None, TimeProvider.System, ct);
            var deployed = await engine.DeployAsync(Scope, kept.Release, RolloutStrategy.BlueGreen(1), ct);
            Assert.Equal(RolloutOutcomes.Succeeded, deployed.Outcome);
            RememberedTargets.Save(StateDirectory, new RememberedTarget(Scope.App, Scope.Environment, "local", new Dictionary<string, string>()));
            var proxy = await ProxyAsync();
            await WaitUntilAsync(async () => (await VersionAsync(proxy)).ReleaseId == Sample.Release.ReleaseId, TimeSpan.FromSeconds(60), "the proxy serving the release");
        }

        AssertPrivate(StateDirectory, ["rollouts", "targets", "images", "releases", "logs", LocalHostControl.HostFileName, LocalHostControl.HostStateName, LocalHostControl.HostLogName]);

        // Private, yet still runnable: an unpacked file keeps the owner's executable bit its layer gave it.
        var releases = Path.Combine(StateDirectory, "releases");
        Assert.Contains(Directory.EnumerateFiles(releases, "*", SearchOption.AllDirectories), f => (File.GetUnixFileMode(f) & UnixFileMode.UserExecute) != 0);
    }

    /// <summary>Every folder 0700 and every file without group or other bits, and the named entries all there.</summary>
    private static void AssertPrivate(string state, string[] expected)
    {
        foreach (var name in expected)
        {
            Assert.True(Path.Exists(Path.Combine(state, name)), $"{name} is missing from {state}: the walk would not cover it");
        }

        var faults = new List<string>();
        Check(new DirectoryInfo(state));
        Assert.True(faults.Count == 0, $"{faults.Count} entries of the state are not private:\n{string.Join('\n', faults.Take(40))}");

        void Check(DirectoryInfo dir)
        {
            if (dir.UnixFileMode != PrivateFiles.DirectoryMode)
            {
                faults.Add($"{Convert.ToString((int)dir.UnixFileMode, 8)} {dir.FullName}/");
            }

            foreach (var entry in dir.EnumerateFileSystemInfos())
            {
                if (entry.LinkTarget is not null)
                {
                    continue; // a link's own mode is always 0777 and grants nothing
                }

                if (entry is DirectoryInfo child)
                {
                    Check(child);
                }
                else if ((entry.UnixFileMode & PrivateFiles.GroupAndOther) != 0)
                {
                    faults.Add($"{Convert.ToString((int)entry.UnixFileMode, 8)} {entry.FullName}");
                }
            }
        }
    }

    /// <summary>The process's umask for a while: the test and every process it starts create files under it.</summary>
    private sealed class Umask : IDisposable
    {
        private readonly int _previous;

        private Umask(int mask) => _previous = SetMask(mask);

        public static Umask Set(int mask) => new(mask);

        public void Dispose() => SetMask(_previous);

        [DllImport("libc", EntryPoint = "umask")]
        private static extern int SetMask(int mask);
    }
}
