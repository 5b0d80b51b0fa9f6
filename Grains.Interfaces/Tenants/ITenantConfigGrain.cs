namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>A tenant's configuration document and its version.</summary>
/// <param name="Json">The document: a JSON object.</param>
/// <param name="Version">Starts at 1 and grows by one with every write.</param>
[GenerateSerializer, Immutable, Alias("coordinator.TenantConfigDocument")]
public sealed record TenantConfigDocument([property: Id(0)] string Json, [property: Id(1)] long Version);

/// <summary>The outcome of <see cref="ITenantConfigGrain.PutConfigAsync"/>.</summary>
/// <param name="Written">False when the expected version did not match.</param>
/// <param name="Version">The version now stored (0 when there is none).</param>
[GenerateSerializer, Immutable, Alias("coordinator.TenantConfigWriteResult")]
public sealed record TenantConfigWriteResult([property: Id(0)] bool Written, [property: Id(1)] long Version);

/// <summary>Bounds on tenant configuration.</summary>
public static class TenantConfigLimits
{
    /// <summary>Largest configuration document: 64 KiB of UTF-8 JSON.</summary>
    public const int MaxConfigBytes = 64 * 1024;
}

/// <summary>
/// A tenant's named rate-limit policies and its configuration document (key: the tenant id). Every
/// acknowledged write is persisted before the call returns.
/// </summary>
[Alias("coordinator.ITenantConfigGrain")]
public interface ITenantConfigGrain : IGrainWithStringKey
{
    /// <summary>Creates or replaces a policy.</summary>
    [Alias("PutPolicy")]
    Task PutPolicyAsync(string name, RateLimitPolicy policy);

    /// <summary>A policy, or null when the tenant has none of that name.</summary>
    [Alias("GetPolicy")]
    Task<RateLimitPolicy?> GetPolicyAsync(string name);

    /// <summary>Every policy of the tenant.</summary>
    [Alias("GetPolicies")]
    Task<IReadOnlyDictionary<string, RateLimitPolicy>> GetPoliciesAsync();

    /// <summary>Removes a policy; false when there was none.</summary>
    [Alias("RemovePolicy")]
    Task<bool> RemovePolicyAsync(string name);

    /// <summary>The configuration document, or null when none was written.</summary>
    [Alias("GetConfig")]
    Task<TenantConfigDocument?> GetConfigAsync();

    /// <summary>
    /// Writes the document when <paramref name="expectedVersion"/> is null or equals the stored version
    /// (0 meaning "no document yet").
    /// </summary>
    [Alias("PutConfig")]
    Task<TenantConfigWriteResult> PutConfigAsync(string json, long? expectedVersion);

    /// <summary>
    /// Writes the document when <paramref name="precondition"/> holds against the stored version (RFC 9110 section
    /// 13: <c>If-Match</c>, <c>If-None-Match</c>, lists, <c>*</c>, weak tags); <c>Written</c> false (412) otherwise.
    /// Throws <see cref="CoordinatorValidationException"/> (<c>config</c>) for a document that is not a JSON object of
    /// at most <see cref="TenantConfigLimits.MaxConfigBytes"/> bytes.
    /// </summary>
    [Alias("PutConfigIf")]
    Task<TenantConfigWriteResult> PutConfigIfAsync(string json, VersionPrecondition precondition);
}
