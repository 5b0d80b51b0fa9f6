namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>Fresh keys per test so tests sharing a cluster never see each other's state.</summary>
public static class TestKeys
{
    public static string User(string hint = "user") => $"{hint}-{Guid.NewGuid():N}";

    public static string Identifier(string hint = "id") => $"{hint}-{Guid.NewGuid():N}@example.com";

    public static string Prefix(string hint = "t") => $"{hint}{Guid.NewGuid():N}"[..12] + ":";
}

/// <summary>
/// Timing-sensitive tests (real processes, kills, outages) run alone, after the parallel ones, so that
/// their measured bounds are not measuring the other tests' CPU use on a 2-core machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTimingCollection
{
    public const string Name = "serial timing";
}
