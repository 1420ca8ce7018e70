using Immutable.Build.Images;

namespace Immutable.Build.Registry;

/// <summary>What a manifest HEAD says: the digest, media type and size of what a tag or digest points at.</summary>
public sealed record ManifestInfo(Digest Digest, string MediaType, long Size);

/// <summary>A manifest exactly as the registry stores it: its bytes, media type and digest (of those bytes).</summary>
public sealed record RegistryManifest(byte[] Content, string MediaType, Digest Digest);

/// <summary>How a blob reached the repository.</summary>
/// <param name="Digest">The blob.</param>
/// <param name="Mounted">True when the registry linked it from the source repository; nothing was uploaded.</param>
/// <param name="BytesUploaded">Bytes sent (0 when mounted).</param>
/// <param name="Chunks">PATCH requests of a chunked upload; 0 for a single PUT.</param>
public sealed record BlobUploadResult(Digest Digest, bool Mounted, long BytesUploaded, int Chunks);
