using System.Text.Json.Serialization;

namespace Immutable.Build.State;

/// <summary>Source-generated JSON for what the stores write themselves: the lock object and its holder.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(LockHolder))]
[JsonSerializable(typeof(LockObject))]
internal sealed partial class StateJsonContext : JsonSerializerContext;

/// <summary>A shared lock as stored: free when <see cref="Holder"/> is null. Kept after release, so the next taker updates it by version instead of creating it.</summary>
internal sealed record LockObject(LockHolder? Holder, LockHolder? ReleasedBy = null);
