// Image error codes (IMB3001 and IMB3002 are raised by Digest and ImageReference):
//
// IMB3003: a path inside the image is empty, absolute after normalisation, or contains '..'. Give a relative path such as app/HelloImmutable.dll.
// IMB3004: two entries of a layer claim the same path, or a file is also used as a parent directory. Remove the duplicate source or rename one of them.
// IMB3005: a layer source file does not exist or cannot be read. Publish again, or check the file's permissions.
// IMB3006: a layer source file changed size while its layer was written. Do not modify the publish output during the build; build again.
// IMB3007: the runtime identifier has no container platform (e.g. osx-arm64, browser-wasm). Publish for a linux-* (or win-*) runtime identifier.
// IMB3008: the base image has no manifest for the wanted platform, or its config names another platform. Pick a base image built for that platform, or change the runtime identifier.
// IMB3009: an OCI image layout is missing, incomplete, or does not name the requested image. Point at a directory with oci-layout and index.json, and give a ref name it contains.
// IMB3010: a manifest, index or config is not valid JSON of the expected kind, or is a format we do not read (Docker schema 1). Use an image with an OCI or Docker v2 schema 2 manifest.
// IMB3011: a blob's content does not match its descriptor's digest or size. Delete the cached or copied blob so it is fetched again; if it persists, the source is corrupt.
// IMB3012: a base layer's media type has no equivalent in the requested manifest format (e.g. zstd in Docker v2). Use the OCI format, or a base with gzip layers.
// IMB3013: an image setting is invalid (environment name, port, label, tag or archive reference). Correct the value named in the message.
// IMB3014: a blob is needed to write the image but no source can provide it. Give the writer a base image source that can read the blob.
// IMB3015: a timestamp lies outside what tar can record (before 1970 or after 10889). Use the commit time or another time after 1970.
//
// Unpacking an image (only the local target does) keeps the IMB7xxx numbers users have always seen for it:
//
// IMB7005: the image source cannot be read: unknown form, missing OCI layout, or no manifest with the release's digest. Give oci:<layout folder> or registry/repository@sha256:..., and publish the release again when it is gone.
// IMB7006: an image layer holds an unsafe entry (absolute path, '..', a path through a symbolic link, a hard link outside the image). Do not run this image; rebuild it from trusted sources.
// IMB7007: an image layer's media type cannot be unpacked (zstd, encrypted or foreign layers). Publish the image with gzip or uncompressed tar layers (the default).
namespace Immutable.Build.Images;

/// <summary>The IMB3xxx errors of image building and the IMB7005-IMB7007 ones of unpacking, one factory per code so messages stay consistent.</summary>
internal static class ImageErrors
{
    public static ImmutableBuildException InvalidPath(string path, string why) =>
        new("IMB3003", $"'{path}' is not a valid path inside the image: {why}. Give a relative path such as app/HelloImmutable.dll.");

    public static ImmutableBuildException DuplicatePath(string path, string why) =>
        new("IMB3004", $"The layer has two entries for '{path}' ({why}). Remove the duplicate source or give one of them another path.");

    public static ImmutableBuildException SourceUnreadable(string source, Exception? inner = null) =>
        new("IMB3005", $"The layer source '{source}' does not exist or cannot be read{(inner is null ? "" : ": " + inner.Message)}. Publish again, or check the file's permissions.", inner);

    public static ImmutableBuildException SourceChanged(string source, long expected, long actual) =>
        new("IMB3006", $"'{source}' changed while its layer was written ({expected} bytes expected, {actual} read). Do not modify the publish output during the build; build again.");

    public static ImmutableBuildException UnsupportedRid(string rid) =>
        new("IMB3007", $"The runtime identifier '{rid}' has no container platform. Publish for a linux-* runtime identifier such as linux-x64 or linux-arm64.");

    public static ImmutableBuildException NoPlatform(string image, Platform wanted, IEnumerable<string> available) =>
        new("IMB3008", $"The base image {image} has no manifest for {Format(wanted)} (it has: {string.Join(", ", available.DefaultIfEmpty("none"))}). Pick a base image built for {Format(wanted)}, or change the runtime identifier.");

    public static ImmutableBuildException WrongPlatform(string image, Platform wanted, string actual) =>
        new("IMB3008", $"The base image {image} is built for {actual}, not {Format(wanted)}. Pick a base image built for {Format(wanted)}, or change the runtime identifier.");

    public static ImmutableBuildException BadLayout(string layout, string why) =>
        new("IMB3009", $"'{layout}' is not a usable OCI image layout: {why}. Point at a directory with oci-layout and index.json, and give a ref name it contains.");

    public static ImmutableBuildException BadDocument(string what, string why, Exception? inner = null) =>
        new("IMB3010", $"{what} cannot be read: {why}. Use an image with an OCI or Docker v2 schema 2 manifest.", inner);

    public static ImmutableBuildException DigestMismatch(string what, string expected, string actual) =>
        new("IMB3011", $"{what} does not match its descriptor: expected {expected}, got {actual}. Delete the cached or copied blob so it is fetched again; if this persists, the source is corrupt.");

    public static ImmutableBuildException UnconvertibleLayer(string mediaType, string format) =>
        new("IMB3012", $"A base layer of media type '{mediaType}' cannot be described in a {format} manifest. Use the OCI format, or a base image with gzip layers.");

    public static ImmutableBuildException InvalidSetting(string setting, string value, string expected) =>
        new("IMB3013", $"{setting} '{value}' is invalid: expected {expected}.");

    public static ImmutableBuildException BlobUnavailable(string digest) =>
        new("IMB3014", $"The blob {digest} is needed to write the image, but nothing can provide it. Give the writer an image whose base layers can be opened (a base image source that reads them).");

    public static ImmutableBuildException TimestampOutOfRange(DateTimeOffset value) =>
        new("IMB3015", $"The timestamp {value:O} cannot be recorded in a tar archive. Use the commit time or another time after 1970-01-01.");

    public static ImmutableBuildException ImageSource(string source, string why, Exception? inner = null) =>
        new("IMB7005", $"The image source '{source}' cannot be read: {why}. Give oci:<layout folder> or registry/repository@sha256:..., and publish the release again when it is gone.", inner);

    public static ImmutableBuildException UnsafeLayer(string layer, string entry, string why) =>
        new("IMB7006", $"Layer {layer} holds the unsafe entry '{entry}' ({why}). Do not run this image; rebuild it from trusted sources.");

    public static ImmutableBuildException UnsupportedLayer(string layer, string mediaType) =>
        new("IMB7007", $"Layer {layer} has media type '{mediaType}', which the local target cannot unpack. Publish the image with gzip or uncompressed tar layers (the default).");

    private static string Format(Platform p) => p.Variant is null ? $"{p.Os}/{p.Architecture}" : $"{p.Os}/{p.Architecture}/{p.Variant}";
}
