using System.Formats.Tar;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Immutable.Build.Docker;

/// <summary>Files inside a host's containers, read and written through the Engine API's archive endpoint (no shell, no exec).</summary>
internal sealed class DockerFiles(DockerCalls calls)
{
    /// <summary>The file's bytes; null when the container or the file is not there.</summary>
    public async Task<byte[]?> ReadAsync(string container, string path, CancellationToken ct)
    {
        ContainerArchiveResponse response;
        try
        {
            response = await calls.Client.Containers.GetArchiveFromContainerAsync(container, new ContainerPathStatParameters { Path = path }, false, ct);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (Exception e) when (DockerCalls.IsHostFailure(e))
        {
            throw DockerErrors.Host(calls.Name, $"read {path}", e);
        }

        await using var stream = response.Stream ?? Stream.Null;
        await using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.DataStream is { } data)
            {
                using var copy = new MemoryStream();
                await data.CopyToAsync(copy, ct);
                return copy.ToArray();
            }
        }

        return null;
    }

    public async Task WriteAsync(string container, string directory, string name, byte[] content, CancellationToken ct)
    {
        using var tar = new MemoryStream();
        await using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            await writer.WriteEntryAsync(Entry(name, new MemoryStream(content), calls.Options.Time.GetUtcNow()), ct);
        }

        tar.Position = 0;
        await calls.Call($"write {directory}/{name}", () => calls.Client.Containers.ExtractArchiveToContainerAsync(container, new CopyToContainerParameters { Path = directory }, tar, ct));
    }

    /// <summary>A regular file readable by any user of the container (mode 0644).</summary>
    public static PaxTarEntry Entry(string name, Stream content, DateTimeOffset modified) =>
        new(TarEntryType.RegularFile, name) { DataStream = content, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, ModificationTime = modified };
}
