using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Amazon.EC2.Model;
using Immutable.Build.Deployments;
using Immutable.Build.Rollout;

namespace Immutable.Build.Aws.Tests;

/// <summary>
/// AMI bakes against moto: builder, SSM Run Command (moto answers success without running the script, which
/// ReleaseScriptTests runs for real), CreateImage, tags, copies, the Terraform hand-off, and the builder always
/// terminated. Faults on one request kind are injected under the target's own HTTP handler.
/// </summary>
[Collection("moto")]
public sealed class Ec2BakeTests(MotoFixture moto)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Baking_twice_makes_one_AMI_copied_and_tagged_leaves_no_builder_and_hands_the_release_to_Terraform()
    {
        await moto.ResetAsync();
        using var s = await BakerAsync("baketwice");
        s.Settings[AwsSettings.CopyToRegions] = "eu-west-1";
        var manifest = s.WriteManifest(1);

        var first = await Deployer.BakeAsync(s.Options(), manifest, s.Log, Ct);
        var second = await Deployer.BakeAsync(s.Options(), manifest, s.Log, Ct);

        Assert.Equal(first.ImagesByRegion, second.ImagesByRegion);
        Assert.Contains(s.Lines, l => l.Contains("adopted, not baked again", StringComparison.Ordinal));
        var images = (await s.Ec2.DescribeImagesAsync(new DescribeImagesRequest { Owners = ["self"], Filters = [new Filter("tag:immutable.app", [s.App])] }, Ct)).Images;
        var image = Assert.Single(images);
        Assert.Equal(first.ImagesByRegion[MotoFixture.Region], image.ImageId);
        Assert.Equal(s.Release(1).ImageDigest, image.Tags.Single(t => t.Key == "immutable.image-digest").Value);
        Assert.Equal(s.Release(1).ReleaseId, image.Tags.Single(t => t.Key == "immutable.release").Value);
        Assert.Equal(s.Release(1).Commit, image.Tags.Single(t => t.Key == "immutable.commit").Value);
        var snapshots = image.BlockDeviceMappings.Select(b => b.Ebs.SnapshotId).ToList();
        Assert.NotEmpty(snapshots);
        var tagged = (await s.Ec2.DescribeSnapshotsAsync(new DescribeSnapshotsRequest { SnapshotIds = snapshots }, Ct)).Snapshots;
        Assert.All(tagged, snap => Assert.Equal(s.Release(1).ImageDigest, snap.Tags.Single(t => t.Key == "immutable.image-digest").Value));
        Assert.StartsWith("ami-", first.ImagesByRegion["eu-west-1"], StringComparison.Ordinal);
        Assert.Empty(await s.InstancesAsync());

        // release.json and the Terraform variables name the AMI and the launch template version.
        using var release = JsonDocument.Parse(await File.ReadAllTextAsync(manifest, Ct));
        Assert.Equal(image.ImageId, release.RootElement.GetProperty("amis").GetProperty(MotoFixture.Region).GetString());
        using var tfvars = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(manifest)!, TerraformHandOff.FileName), Ct));
        Assert.Equal(image.ImageId, tfvars.RootElement.GetProperty("immutable_amis").GetProperty(MotoFixture.Region).GetString());
        Assert.Equal(first.ImagesByRegion["eu-west-1"], tfvars.RootElement.GetProperty("immutable_amis").GetProperty("eu-west-1").GetString());
        Assert.Equal(first.LaunchTemplateId, tfvars.RootElement.GetProperty("immutable_launch_template_id").GetString());
        Assert.Equal("1", tfvars.RootElement.GetProperty("immutable_launch_template_version").GetString());
        Assert.Equal(s.Release(1).ImageReference, tfvars.RootElement.GetProperty("immutable_image").GetString());
        var version = (await s.Ec2.DescribeLaunchTemplateVersionsAsync(new DescribeLaunchTemplateVersionsRequest { LaunchTemplateId = first.LaunchTemplateId }, Ct)).LaunchTemplateVersions.Single();
        Assert.Equal(image.ImageId, version.LaunchTemplateData.ImageId);
        s.AssertNoSecret();
    }

    [Fact]
    public async Task A_failed_or_cancelled_bake_leaves_no_builder_running()
    {
        await moto.ResetAsync();
        using var s = await BakerAsync("bakefail");

        // A base AMI that does not exist: refused before any builder launches.
        s.Settings[AwsSettings.BaseAmi] = "ami-0000000000000bad";
        var bad = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.BakeAsync(s.Options(), s.WriteManifest(1), s.Log, Ct));
        Assert.Equal("IMB8001", bad.Code);
        Assert.Empty(await s.InstancesAsync());
        s.Settings.Remove(AwsSettings.BaseAmi);

        // CreateImage refused after the builder ran.
        s.Fault = action => action == "CreateImage"
            ? new HttpResponseMessage(HttpStatusCode.BadRequest) { Content = new StringContent("<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>injected by the test</Message></Error></Errors><RequestID>1</RequestID></Response>") }
            : null;
        var refused = await Assert.ThrowsAsync<ImmutableBuildException>(() => Deployer.BakeAsync(s.Options(), s.WriteManifest(1), s.Log, Ct));
        Assert.Equal("IMB8002", refused.Code);
        Assert.Contains("CreateImage", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await s.InstancesAsync());
        Assert.Single(await s.InstancesAsync("terminated", "shutting-down"));

        // Cancelled while the install script runs.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        s.Fault = action =>
        {
            if (action == "GetCommandInvocation")
            {
                cancel.Cancel();
            }

            return null;
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Deployer.BakeAsync(s.Options(), s.WriteManifest(1), s.Log, cancel.Token));
        Assert.Empty(await s.InstancesAsync());
        Assert.Empty((await s.Ec2.DescribeImagesAsync(new DescribeImagesRequest { Owners = ["self"], Filters = [new Filter("tag:immutable.app", [s.App])] }, Ct)).Images ?? []);
        s.AssertNoSecret(bad.Message, refused.Message);
    }

    [Fact]
    public async Task A_bake_killed_with_SIGKILL_leaves_a_builder_that_the_next_command_terminates()
    {
        await moto.ResetAsync();
        using var s = await BakerAsync("bakekill");
        var manifest = s.WriteManifest(1);
        var cli = Path.Combine(TestEnvironment.RepoRoot, "src", "Immutable.Build.Cli", "bin", "Release", "net8.0", "immutable.dll");
        Assert.True(File.Exists(cli), $"the CLI is not built at {cli}");

        // The CLI bakes through a loopback relay to moto that holds the install command, so the kill lands mid-bake.
        await using var relay = new HoldingRelay(moto.Url, "SendCommand");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli, "bake-ami", manifest, "--target", "ec2", "--state-dir", s.StateDirectory, "--aws-region", MotoFixture.Region, "--aws-service-url", relay.Url.ToString(), "--aws-elb-service-url", relay.Url.ToString(), "--aws-builder-instance-profile", "builder" })
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in moto.Credentials)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var held = await Task.WhenAny(relay.Held, Task.Delay(TimeSpan.FromSeconds(60), Ct));
        Assert.True(held == relay.Held, "the bake never reached the install command");
        process.Kill();
        await process.WaitForExitAsync(Ct);
        var left = await s.InstancesAsync();
        Assert.True(left.Count == 1, $"{left.Count} builder(s) left after the kill; the CLI said: {await output}");
        Assert.Equal("builder", Ec2Scenario.Tag(left[0], "immutable.role"));

        // The next command (here a rollout) finds the builder by its tags and terminates it.
        Assert.True((await s.DeployAsync(1)).Succeeded);
        Assert.Contains(s.Lines, l => l.Contains("left by a bake that did not finish", StringComparison.Ordinal));
        Assert.DoesNotContain(await s.InstancesAsync(), i => Ec2Scenario.Tag(i, "immutable.role") == "builder");
        Assert.Contains(left[0].InstanceId, (await s.InstancesAsync("terminated", "shutting-down")).Select(i => i.InstanceId));
    }

    [Fact]
    public async Task Retention_after_four_baked_releases_keeps_the_current_and_two_previous_AMIs_with_their_snapshots()
    {
        await moto.ResetAsync();
        using var s = await BakerAsync("retain");
        var amis = new List<string>();
        for (var n = 1; n <= 4; n++)
        {
            amis.Add((await Deployer.BakeAsync(s.Options(), s.WriteManifest(n), s.Log, Ct)).ImagesByRegion[MotoFixture.Region]);
            var result = await s.DeployAsync(n, retain: 2);
            Assert.True(result.Succeeded, result.Reason);
            Assert.All(await s.InstancesAsync(), i => Assert.Equal(amis[^1], i.ImageId));
        }

        var images = (await s.Ec2.DescribeImagesAsync(new DescribeImagesRequest { Owners = ["self"], Filters = [new Filter("tag:immutable.app", [s.App])] }, Ct)).Images;
        Assert.Equal(amis.Skip(1).Order(), images.Select(i => i.ImageId).Order());
        var snapshots = (await s.Ec2.DescribeSnapshotsAsync(new DescribeSnapshotsRequest { OwnerIds = ["self"], Filters = [new Filter("tag:immutable.app", [s.App])] }, Ct)).Snapshots;
        Assert.Equal(images.SelectMany(i => i.BlockDeviceMappings).Select(b => b.Ebs.SnapshotId).Order(), snapshots.Select(x => x.SnapshotId).Order());

        // A rollback by digest relaunches the previous release from its own AMI.
        var back = await Deployer.RollbackAsync(s.Options(), null, s.Log, Ct);
        Assert.True(back.Succeeded, back.Reason);
        Assert.All(await s.InstancesAsync(), i =>
        {
            Assert.Equal(amis[2], i.ImageId);
            Assert.Equal(s.Release(3).ReleaseId, Ec2Scenario.Tag(i, "immutable.release"));
        });
    }

    private async Task<Ec2Scenario> BakerAsync(string app)
    {
        var s = new Ec2Scenario(moto, app);
        await s.CreateInstanceProfileAsync("builder");
        s.Settings[AwsSettings.BuilderInstanceProfile] = "builder";
        return s;
    }
}
