using System.Text.Json.Serialization;

namespace Immutable.Build.Rollout;

/// <summary>Source-generated JSON for the journal and the ledger: one compact object per line.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(JournalRecord))]
[JsonSerializable(typeof(LedgerEntry))]
internal sealed partial class RolloutJsonContext : JsonSerializerContext;
