namespace Immutable.Build.Aws.Tests;

/// <summary>Every test class on moto: its reset is global, so they share one server and run one at a time.</summary>
[CollectionDefinition("moto")]
public sealed class MotoCollection : ICollectionFixture<MotoFixture>;
