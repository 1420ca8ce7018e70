namespace Immutable.Build.Images;

/// <summary>
/// The IMB3xxx codes of image building and the IMB7005-IMB7007 ones of unpacking (only the local target unpacks,
/// and those numbers are the ones users have always seen), each with its cause and fix, one factory per code.
/// </summary>
internal static class ImageErrors
{
    [ErrorCode(
        "A digest is not sha256: followed by 64 lowercase hex characters.",
        "Correct the digest.")]
    public const string InvalidDigestCode = "IMB3001";

    [ErrorCode(
        "An image reference cannot be parsed.",
        "Use [registry/]repository[:tag][@sha256:digest] in lowercase, e.g. 127.0.0.1:5000/base/dotnet:10.0.")]
    public const string InvalidReferenceCode = "IMB3002";

    [ErrorCode(
        "A path inside the image is empty, absolute after normalisation, or contains '..'.",
        "Give a relative path such as app/HelloImmutable.dll.")]
    public const string InvalidPathCode = "IMB3003";

    [ErrorCode(
        "Two entries of a layer claim the same path, or a file is also used as a parent directory.",
        "Remove the duplicate source or rename one of them.")]
    public const string DuplicatePathCode = "IMB3004";

    [ErrorCode(
        "A layer source file does not exist or cannot be read.",
        "Publish again, or check the file's permissions.")]
    public const string SourceUnreadableCode = "IMB3005";

    [ErrorCode(
        "A layer source file changed size while its layer was written.",
        "Do not modify the publish output during the build; build again.")]
    public const string SourceChangedCode = "IMB3006";

    [ErrorCode(
        "The runtime identifier has no container platform (e.g. osx-arm64, browser-wasm).",
        "Publish for a linux-* (or win-*) runtime identifier.")]
    public const string UnsupportedRidCode = "IMB3007";

    [ErrorCode(
        "The base image has no manifest for the wanted platform, or its config names another platform.",
        "Pick a base image built for that platform, or change the runtime identifier.")]
    public const string NoPlatformCode = "IMB3008";

    [ErrorCode(
        "An OCI image layout is missing, incomplete, or does not name the requested image.",
        "Point at a directory with oci-layout and index.json, and give a ref name it contains.")]
    public const string BadLayoutCode = "IMB3009";

    [ErrorCode(
        "A manifest, index or config is not valid JSON of the expected kind, or is a format we do not read (Docker schema 1).",
        "Use an image with an OCI or Docker v2 schema 2 manifest.")]
    public const string BadDocumentCode = "IMB3010";

    [ErrorCode(
        "A blob's content does not match its descriptor's digest or size.",
        "Delete the cached or copied blob so it is fetched again; if it persists, the source is corrupt.")]
    public const string DigestMismatchCode = "IMB3011";

    [ErrorCode(
        "A base layer's media type has no equivalent in the requested manifest format (e.g. zstd in Docker v2).",
        "Use the OCI format, or a base with gzip layers.")]
    public const string UnconvertibleLayerCode = "IMB3012";

    [ErrorCode(
        "An image setting is invalid (environment name, port, label, tag or archive reference).",
        "Correct the value named in the message.")]
    public const string InvalidSettingCode = "IMB3013";

    [ErrorCode(
        "A blob is needed to write the image but no source can provide it.",
        "Give the writer a base image source that can read the blob.")]
    public const string BlobUnavailableCode = "IMB3014";

    [ErrorCode(
        "A timestamp lies outside what tar can record (before 1970 or after 10889).",
        "Use the commit time or another time after 1970.")]
    public const string TimestampOutOfRangeCode = "IMB3015";

    [ErrorCode(
        "An image's layers unpack to more bytes than the unpacker allows (16 GiB by default): a tar or gzip bomb, or a layer far larger than its compressed size suggests.",
        "Do not run this image; rebuild it from trusted sources, with a smaller base image if it really is that large.")]
    public const string TooLargeCode = "IMB3030";

    [ErrorCode(
        "A layer entry cannot be written where the image is unpacked: a name too long for the file system, a full disk, or a folder that is not writable.",
        "Free disk space or make the state directory writable; for a name the file system refuses, rebuild the image with shorter paths.")]
    public const string EntryUnwritableCode = "IMB3031";

    [ErrorCode(
        "An OCI layout's index.json is not valid JSON.",
        "Delete the layout folder; the next publish writes it again.")]
    public const string LayoutIndexInvalidCode = "IMB3090";

    [ErrorCode(
        "The image store in the state directory (<state>/images) is damaged: its index.json or a holds file cannot be read, or a stored blob no longer matches its digest and there is no copy to restore it from.",
        "Delete the file the message names (or the whole images folder); the next deploy of a release copies it in again, and a release whose OCI layout is gone must be published again.")]
    public const string StoreCorruptCode = "IMB3091";

    [ErrorCode(
        "The image store in the state directory stayed locked by another deploy or prune for the whole wait.",
        "Wait for the other deploy to finish, or stop it; a process that died releases the lock by itself.")]
    public const string StoreLockedCode = "IMB3092";

    [ErrorCode(
        "A release's image is not in the image store of the state directory any more: retention pruned it (the store keeps what ImmutableRetain keeps, plus the release a plain rollback returns to).",
        "Publish that release again and deploy it, or raise ImmutableRetain so that rollbacks can reach further back.")]
    public const string NotInStoreCode = "IMB3093";

    [ErrorCode(
        "The image source cannot be read: unknown form, missing OCI layout, or no manifest with the release's digest.",
        "Give oci:<layout folder> or registry/repository@sha256:..., and publish the release again when it is gone.")]
    public const string ImageSourceCode = "IMB7005";

    [ErrorCode(
        "An image layer holds an unsafe entry (absolute path, '..', a path through a symbolic link, a hard link outside the image).",
        "Do not run this image; rebuild it from trusted sources.")]
    public const string UnsafeLayerCode = "IMB7006";

    [ErrorCode(
        "An image layer's media type cannot be unpacked (zstd, encrypted or foreign layers).",
        "Publish the image with gzip or uncompressed tar layers (the default).")]
    public const string UnsupportedLayerCode = "IMB7007";

    public static ImmutableBuildException ImageSource(string source, string why, Exception? inner = null) =>
        new(ImageSourceCode, $"The image source '{source}' cannot be read: {why}. Give oci:<layout folder> or registry/repository@sha256:..., and publish the release again when it is gone.", inner);

    public static ImmutableBuildException StoreCorrupt(string store, string why) =>
        new(StoreCorruptCode, $"The image store {store} is damaged: {why}. Delete that file (or the folder {store}); the next deploy of a release copies it in again, and a release whose OCI layout is gone must be published again.");

    public static ImmutableBuildException StoreLocked(string store, string lockFile, TimeSpan waited) =>
        new(StoreLockedCode, $"The image store {store} stayed locked by another deploy or prune for {waited.TotalMinutes:0} minutes ({lockFile}). Wait for it to finish, or stop it; a process that died releases the lock by itself.");

    public static ImmutableBuildException NotInStore(string store, string digest) =>
        new(NotInStoreCode, $"The image {digest} is not in the image store {store}: retention pruned it (the store keeps what ImmutableRetain keeps, plus the release a plain rollback returns to). Publish that release again and deploy it, or raise ImmutableRetain so that rollbacks can reach further back.");

    public static ImmutableBuildException UnsafeLayer(string layer, string entry, string why) =>
        new(UnsafeLayerCode, $"Layer {layer} holds the unsafe entry '{entry}' ({why}). Do not run this image; rebuild it from trusted sources.");

    public static ImmutableBuildException TooLarge(string layer, long budget) =>
        new(TooLargeCode, $"Layer {layer} unpacks to more than the {budget} bytes left of the unpack limit (a tar or gzip bomb, or an image far larger than an app needs). Do not run this image; rebuild it from trusted sources, with a smaller base image if it really is that large.");

    public static ImmutableBuildException EntryUnwritable(string layer, string entry, Exception inner) =>
        new(EntryUnwritableCode, $"Layer {layer}'s entry '{(entry.Length > 120 ? entry[..120] + "..." : entry)}' cannot be written where the image is unpacked ({inner.GetType().Name}: {inner.Message}). Free disk space or make the state directory writable; for a name the file system refuses, rebuild the image with shorter paths.", inner);

    public static ImmutableBuildException UnsupportedLayer(string layer, string mediaType) =>
        new(UnsupportedLayerCode, $"Layer {layer} has media type '{mediaType}', which the local target cannot unpack. Publish the image with gzip or uncompressed tar layers (the default).");

    public static ImmutableBuildException InvalidPath(string path, string why) =>
        new(InvalidPathCode, $"'{path}' is not a valid path inside the image: {why}. Give a relative path such as app/HelloImmutable.dll.");

    public static ImmutableBuildException DuplicatePath(string path, string why) =>
        new(DuplicatePathCode, $"The layer has two entries for '{path}' ({why}). Remove the duplicate source or give one of them another path.");

    public static ImmutableBuildException SourceUnreadable(string source, Exception? inner = null) =>
        new(SourceUnreadableCode, $"The layer source '{source}' does not exist or cannot be read{(inner is null ? "" : ": " + inner.Message)}. Publish again, or check the file's permissions.", inner);

    public static ImmutableBuildException SourceChanged(string source, long expected, long actual) =>
        new(SourceChangedCode, $"'{source}' changed while its layer was written ({expected} bytes expected, {actual} read). Do not modify the publish output during the build; build again.");

    public static ImmutableBuildException UnsupportedRid(string rid) =>
        new(UnsupportedRidCode, $"The runtime identifier '{rid}' has no container platform. Publish for a linux-* runtime identifier such as linux-x64 or linux-arm64.");

    public static ImmutableBuildException NoPlatform(string image, Platform wanted, IEnumerable<string> available) =>
        new(NoPlatformCode, $"The base image {image} has no manifest for {Format(wanted)} (it has: {string.Join(", ", available.DefaultIfEmpty("none"))}). Pick a base image built for {Format(wanted)}, or change the runtime identifier.");

    public static ImmutableBuildException WrongPlatform(string image, Platform wanted, string actual) =>
        new(NoPlatformCode, $"The base image {image} is built for {actual}, not {Format(wanted)}. Pick a base image built for {Format(wanted)}, or change the runtime identifier.");

    public static ImmutableBuildException BadLayout(string layout, string why) =>
        new(BadLayoutCode, $"'{layout}' is not a usable OCI image layout: {why}. Point at a directory with oci-layout and index.json, and give a ref name it contains.");

    public static ImmutableBuildException BadDocument(string what, string why, Exception? inner = null) =>
        new(BadDocumentCode, $"{what} cannot be read: {why}. Use an image with an OCI or Docker v2 schema 2 manifest.", inner);

    public static ImmutableBuildException DigestMismatch(string what, string expected, string actual) =>
        new(DigestMismatchCode, $"{what} does not match its descriptor: expected {expected}, got {actual}. Delete the cached or copied blob so it is fetched again; if this persists, the source is corrupt.");

    public static ImmutableBuildException UnconvertibleLayer(string mediaType, string format) =>
        new(UnconvertibleLayerCode, $"A base layer of media type '{mediaType}' cannot be described in a {format} manifest. Use the OCI format, or a base image with gzip layers.");

    public static ImmutableBuildException InvalidSetting(string setting, string value, string expected) =>
        new(InvalidSettingCode, $"{setting} '{value}' is invalid: expected {expected}.");

    public static ImmutableBuildException BlobUnavailable(string digest) =>
        new(BlobUnavailableCode, $"The blob {digest} is needed to write the image, but nothing can provide it. Give the writer an image whose base layers can be opened (a base image source that reads them).");

    public static ImmutableBuildException TimestampOutOfRange(DateTimeOffset value) =>
        new(TimestampOutOfRangeCode, $"The timestamp {value:O} cannot be recorded in a tar archive. Use the commit time or another time after 1970-01-01.");

    private static string Format(Platform p) => p.Variant is null ? $"{p.Os}/{p.Architecture}" : $"{p.Os}/{p.Architecture}/{p.Variant}";
}
