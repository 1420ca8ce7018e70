namespace Immutable.Build.Images;

/// <summary>Reads an image by digest from an OCI image layout folder (what the release writes with oci:...).</summary>
internal sealed class OciLayoutSource : IImageSource
{
    private const long MaxDocumentBytes = 64L * 1024 * 1024;

    private readonly string _folder;

    private OciLayoutSource(string folder) => _folder = folder;

    public string Name => $"oci:{_folder}";

    /// <summary>The layout at <paramref name="path"/> (as named by <paramref name="source"/>); throws IMB7005 when there is none.</summary>
    public static OciLayoutSource Open(string source, string path)
    {
        // skopeo's oci:<folder>:<tag> form: the tag is ignored, images are found by digest.
        var folder = path;
        if (!Directory.Exists(folder) && folder.LastIndexOf(':') is var colon and > 0)
        {
            folder = folder[..colon];
        }

        folder = Path.GetFullPath(folder);
        return File.Exists(Path.Combine(folder, "oci-layout"))
            ? new OciLayoutSource(folder)
            : throw ImageErrors.ImageSource(source, $"{folder} is not an OCI image layout (no oci-layout file)");
    }

    public async Task<byte[]> ReadManifestAsync(Digest digest, CancellationToken cancellationToken)
    {
        var path = PathOf(digest);
        if (!File.Exists(path))
        {
            throw ImageErrors.ImageSource(Name, $"the layout has no manifest {digest} (was the release's image deleted or published elsewhere?)");
        }

        var bytes = await File.ReadAllBytesAsync(path, cancellationToken);
        var actual = Digest.Of(bytes);
        return actual == digest ? bytes : throw ImageErrors.DigestMismatch(path, digest.Value, actual.Value);
    }

    public async Task<byte[]> ReadBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Size > MaxDocumentBytes)
        {
            throw ImageErrors.BadDocument($"Blob {descriptor.Digest} in {Name}", $"it is {descriptor.Size} bytes, more than a config can be");
        }

        await using var stream = await OpenBlobAsync(descriptor, cancellationToken);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var path = PathOf(Digest.Parse(descriptor.Digest));
        if (!File.Exists(path))
        {
            throw ImageErrors.ImageSource(Name, $"blob {descriptor.Digest} is missing from the layout");
        }

        Stream file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Task.FromResult<Stream>(DigestVerifyingStream.ForDescriptor(file, descriptor));
    }

    public void Dispose()
    {
    }

    private string PathOf(Digest digest) => Path.Combine(_folder, "blobs", "sha256", digest.Hex);
}
