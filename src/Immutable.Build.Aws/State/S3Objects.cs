using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Immutable.Build.State;

namespace Immutable.Build.Aws.State;

/// <summary>
/// <see cref="IConditionalObjects"/> in an S3 bucket below a prefix: the version of an object is its ETag, a create
/// is a PUT with <c>If-None-Match: *</c> and an update a PUT with <c>If-Match: &lt;etag&gt;</c>, which S3 refuses
/// with 412 when another writer got there first.
/// </summary>
internal sealed class S3Objects : IConditionalObjects
{
    private readonly IAmazonS3 _s3;
    private readonly string _bucket;
    private readonly string _prefix;

    /// <summary>Objects of <paramref name="bucket"/> below <paramref name="prefix"/> ("" for the bucket's root), through <paramref name="s3"/>, which it disposes.</summary>
    public S3Objects(IAmazonS3 s3, string bucket, string prefix)
    {
        ArgumentNullException.ThrowIfNull(s3);
        ArgumentException.ThrowIfNullOrEmpty(bucket);
        _s3 = s3;
        _bucket = bucket;
        _prefix = (prefix ?? "").Trim('/');
    }

    /// <summary>Keys per list page; null for S3's default (1000). Tests make it small to page through a few keys.</summary>
    internal int? PageSize { get; init; }

    /// <inheritdoc />
    public string Location => _prefix.Length == 0 ? $"s3://{_bucket}" : $"s3://{_bucket}/{_prefix}";

    /// <inheritdoc />
    public async Task<VersionedObject?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = FullKey(key) }, cancellationToken);
            using var content = new MemoryStream();
            await response.ResponseStream.CopyToAsync(content, cancellationToken);
            return new VersionedObject(content.ToArray(), response.ETag);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchKey")
        {
            // Only a missing key is "no object": a missing bucket (also 404) is a store that cannot be used.
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<string?> TryWriteAsync(string key, ReadOnlyMemory<byte> content, string? expectedVersion, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest
        {
            BucketName = _bucket,
            Key = FullKey(key),
            InputStream = new MemoryStream(content.ToArray(), writable: false),
            ContentType = key.EndsWith(".json", StringComparison.Ordinal) ? "application/json" : "application/x-ndjson",
        };
        if (expectedVersion is null)
        {
            request.IfNoneMatch = "*";
        }
        else
        {
            request.IfMatch = expectedVersion;
        }

        try
        {
            var response = await _s3.PutObjectAsync(request, cancellationToken);
            return response.ETag;
        }
        catch (AmazonS3Exception e) when (LostTheRace(e))
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = FullKey(prefix), MaxKeys = PageSize };
        do
        {
            var response = await _s3.ListObjectsV2Async(request, cancellationToken);
            keys.AddRange((response.S3Objects ?? []).Select(o => o.Key[(_prefix.Length == 0 ? 0 : _prefix.Length + 1)..]));
            request.ContinuationToken = response.IsTruncated == true ? response.NextContinuationToken : null;
        }
        while (request.ContinuationToken is not null);
        return keys;
    }

    /// <inheritdoc />
    public void Dispose() => _s3.Dispose();

    /// <summary>
    /// 412: the version no longer holds (or the object now exists). 409 ConditionalRequestConflict: S3 was applying
    /// another conditional write to the key at that moment; either way another writer won and the caller reads again.
    /// </summary>
    internal static bool LostTheRace(AmazonS3Exception e) =>
        e.StatusCode == HttpStatusCode.PreconditionFailed || e.ErrorCode is "PreconditionFailed" or "ConditionalRequestConflict";

    private string FullKey(string key) => _prefix.Length == 0 ? key : key.Length == 0 ? _prefix + "/" : $"{_prefix}/{key}";
}
