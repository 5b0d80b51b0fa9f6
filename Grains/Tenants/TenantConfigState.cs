using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>A tenant's persisted policies.</summary>
[GenerateSerializer, Alias("coordinator.TenantPoliciesState")]
public sealed class TenantPoliciesState
{
    /// <summary>Policies by name.</summary>
    [Id(0)]
    public Dictionary<string, RateLimitPolicy> Policies { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A tenant's persisted configuration document.</summary>
[GenerateSerializer, Alias("coordinator.TenantDocumentState")]
public sealed class TenantDocumentState
{
    /// <summary>The JSON document; null before the first write.</summary>
    [Id(0)]
    public string? Json { get; set; }

    /// <summary>The document's version (0 before the first write).</summary>
    [Id(1)]
    public long Version { get; set; }
}
