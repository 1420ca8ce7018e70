using Immutable.Build.Images;
using static Immutable.Build.Core.Tests.Images.ImageTestSupport;

namespace Immutable.Build.Core.Tests.Images;

/// <summary>The docker-archive loaded into a real Docker engine, and the image run.</summary>
public sealed class DockerLoadTests(DockerEngineFixture engine) : IClassFixture<DockerEngineFixture>
{
    private async Task<ProcessResult> DockerAsync(params string[] args)
    {
        var result = await ProcessRunner.RunAsync(RequireTool("docker"), ["-H", engine.DockerHost, .. args], timeout: TimeSpan.FromMinutes(2), cancellationToken: Ct);
        return result.EnsureSuccess("docker " + string.Join(' ', args));
    }

    [Theory]
    [InlineData(ManifestFormat.Oci)]
    [InlineData(ManifestFormat.Docker)]
    public async Task Docker_load_accepts_the_archive_and_the_image_runs(ManifestFormat format)
    {
        engine.Require();
        var busybox = RequireTool("busybox");
        var root = NewDir("docker-load");
        File.Copy(busybox, Path.Combine(root, "busybox")); // keeps its 0755 mode
        WriteFile(root, "app/greeting.txt", $"hello from {format}");
        var builder = new LayerBuilder(Path.Combine(root, "cache"));
        var layers = new[]
        {
            await builder.BuildAsync(new LayerSpec("tools", [new LayerFile(Path.Combine(root, "busybox"), "bin/busybox")], CommitTime), Ct),
            await builder.BuildAsync(new LayerSpec("app", FilesUnder(Path.Combine(root, "app"), "app"), CommitTime), Ct),
        };
        var image = ImageAssembler.Assemble(await new ScratchBase("linux-x64").ResolveAsync(Ct), layers, new ImageSettings
        {
            Created = CommitTime,
            Format = format,
            Entrypoint = ["/bin/busybox", "cat"],
            Cmd = ["/app/greeting.txt"],
            WorkingDirectory = "/app",
        });
        var tag = $"immutable-build-test/docker-load:{format.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}";
        var archive = Path.Combine(root, "image.tar");
        await new DockerArchiveWriter().WriteAsync(image.Content, archive, [tag], Ct);

        try
        {
            var load = await DockerAsync("load", "-i", archive);
            Assert.Contains(tag, load.StandardOutput, StringComparison.Ordinal);
            var id = (await DockerAsync("image", "inspect", "--format", "{{.Id}}", tag)).StandardOutput.Trim();
            Assert.Equal(image.ConfigDigest.Value, id);
            var run = await DockerAsync("run", "--rm", "--network", "none", tag);
            Assert.Equal($"hello from {format}", run.StandardOutput.Trim());
        }
        finally
        {
            await ProcessRunner.RunAsync("docker", ["-H", engine.DockerHost, "image", "rm", "-f", tag], timeout: TimeSpan.FromMinutes(1), cancellationToken: CancellationToken.None);
        }
    }
}
