using System.Collections.Concurrent;
using Immutable.Build.Images;
using Immutable.Build.Registry;

namespace Immutable.Build.Releases;

/// <summary>
/// Uploads a release's big new layers to the registry while they compress, instead of after: for a 1 GiB layer the
/// upload then costs nearly nothing on top of deflate. Only when the release's tags are all absent from the
/// repository at the start, so the tag guard will write them: a publish the guard refuses or adopts uploads nothing
/// early. (A racer that writes a tag in between makes the guard refuse later; the blobs it uploaded stay untagged, as
/// a lost race leaves them anyway.) Anything that goes wrong here only sends the layer the ordinary way.
/// </summary>
internal sealed class StreamedLayerUploads
{
    /// <summary>Below this a layer's upload is short next to its build, and the parallel push takes it anyway.</summary>
    public const long MinimumTarLength = 32L * 1024 * 1024;

    private static readonly TimeSpan DecisionWait = TimeSpan.FromSeconds(5);
    private readonly RegistryClient _client;
    private readonly string _repository;
    private readonly ReleaseLog _log;
    private readonly Task<bool> _allowed;
    private readonly ConcurrentDictionary<Digest, long> _committed = new();

    /// <summary>Starts reading <paramref name="tags"/> from the repository; layers ask <see cref="OpenAsync"/> later.</summary>
    public StreamedLayerUploads(RegistryClient client, string repository, IReadOnlyList<string> tags, ReleaseLog log, CancellationToken cancellationToken)
    {
        _client = client;
        _repository = repository;
        _log = log;
        _allowed = Task.Run(() => AllTagsAbsentAsync(tags, cancellationToken), CancellationToken.None);
    }

    /// <summary>The blobs the registry took while their layers compressed, with their sizes.</summary>
    public IReadOnlyDictionary<Digest, long> Committed => _committed;

    /// <summary>An upload for a layer of <paramref name="tarLength"/> bytes, or null when it goes the ordinary way.</summary>
    public async Task<ILayerSink?> OpenAsync(string layerName, long tarLength, CancellationToken cancellationToken)
    {
        if (tarLength < MinimumTarLength)
        {
            return null;
        }

        try
        {
            if (!await _allowed.WaitAsync(DecisionWait, cancellationToken))
            {
                return null;
            }

            var upload = await _client.StartStreamedUploadAsync(_repository, (digest, size) => _committed[digest] = size, cancellationToken);
            _log.Detail($"layer {layerName}: uploading to {_client.Registry}/{_repository} while it compresses");
            return upload;
        }
        catch (TimeoutException)
        {
            _log.Detail($"layer {layerName}: the registry did not answer within {DecisionWait.TotalSeconds:0} s, so the layer is pushed after it is built");
            return null;
        }
        catch (ImmutableBuildException e)
        {
            _log.Detail($"layer {layerName}: no upload while it compresses ({e.Message}); it is pushed after it is built");
            return null;
        }
    }

    private async Task<bool> AllTagsAbsentAsync(IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        try
        {
            RegistryNames.ValidateRepository(_repository);
            foreach (var tag in tags)
            {
                RegistryNames.ValidateTag(tag);
                if (await _client.HeadManifestAsync(_repository, tag, cancellationToken) is not null)
                {
                    _log.Detail($"{_client.Registry}/{_repository}:{tag} exists, so the tag guard decides before any layer is uploaded");
                    return false;
                }
            }

            return tags.Count > 0;
        }
        catch (Exception e) when (e is ImmutableBuildException or HttpRequestException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Only the choice of path hangs on this; the push reads the tags again and reports what is wrong.
            return false;
        }
    }
}
