using System.Text.Json;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>Single writer over a tenant's policies and configuration document; every write is persisted first.</summary>
internal sealed class TenantConfigGrain(
    [PersistentState("policies", CoordinatorStorage.Name)] IPersistentState<TenantPoliciesState> policies,
    [PersistentState("config", CoordinatorStorage.Name)] IPersistentState<TenantDocumentState> document,
    IRouteStore announcements)
    : Grain, ITenantConfigGrain
{
    public Task PutPolicyAsync(string name, RateLimitPolicy policy)
    {
        if (!GrainKeys.TryPolicy(name, out var valid, out var error))
        {
            throw new CoordinatorValidationException("policy", error);
        }

        RateLimitLimits.Validate(policy);
        return AnnouncedAsync(valid, policies.UpdateAsync(state =>
        {
            if (!state.Policies.ContainsKey(valid) && state.Policies.Count >= RateLimitLimits.MaxPoliciesPerTenant)
            {
                throw new CoordinatorValidationException("policy", $"a tenant has at most {RateLimitLimits.MaxPoliciesPerTenant} policies.");
            }

            var changed = !state.Policies.TryGetValue(valid, out var existing) || existing != policy;
            state.Policies[valid] = policy;
            return (changed, changed);
        }));
    }

    /// <summary>After a change is persisted, tells every gateway to drop its copy (<see cref="GrainKeys.TenantChange"/>).</summary>
    private async Task AnnouncedAsync(string? policy, Task<bool> write)
    {
        if (await write)
        {
            await announcements.AnnounceChangeAsync(GrainKeys.TenantChange(this.GetPrimaryKeyString(), policy));
        }
    }

    public Task<RateLimitPolicy?> GetPolicyAsync(string name)
        => Task.FromResult(policies.State.Policies.GetValueOrDefault(name));

    public Task<IReadOnlyDictionary<string, RateLimitPolicy>> GetPoliciesAsync()
        => Task.FromResult<IReadOnlyDictionary<string, RateLimitPolicy>>(new Dictionary<string, RateLimitPolicy>(policies.State.Policies, StringComparer.Ordinal));

    public async Task<bool> RemovePolicyAsync(string name)
    {
        var removed = await policies.UpdateAsync(state =>
        {
            var removed = state.Policies.Remove(name);
            return (removed, removed);
        });
        if (removed)
        {
            await announcements.AnnounceChangeAsync(GrainKeys.TenantChange(this.GetPrimaryKeyString(), name));
        }

        return removed;
    }

    public Task<TenantConfigDocument?> GetConfigAsync()
        => Task.FromResult(document.State.Json is null ? null : new TenantConfigDocument(document.State.Json, document.State.Version));

    public Task<TenantConfigWriteResult> PutConfigAsync(string json, long? expectedVersion)
        => PutConfigIfAsync(json, expectedVersion is { } expected
            ? new VersionPrecondition(expected == 0 ? null : new VersionMatch(false, [expected], []), expected == 0 ? new VersionMatch(true, [], []) : null)
            : VersionPrecondition.None);

    public async Task<TenantConfigWriteResult> PutConfigIfAsync(string json, VersionPrecondition precondition)
    {
        ArgumentNullException.ThrowIfNull(precondition);
        ValidateDocument(json);
        var result = await document.UpdateAsync(state =>
        {
            if (precondition.Evaluate(state.Version, safeMethod: false) != PreconditionOutcome.Proceed)
            {
                return (new TenantConfigWriteResult(false, state.Version), false);
            }

            state.Json = json;
            state.Version++;
            return (new TenantConfigWriteResult(true, state.Version), true);
        });
        if (result.Written)
        {
            await announcements.AnnounceChangeAsync(GrainKeys.TenantChange(this.GetPrimaryKeyString(), null));
        }

        return result;
    }

    internal static void ValidateDocument(string json)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(json ?? string.Empty) > TenantConfigLimits.MaxConfigBytes)
        {
            throw new CoordinatorValidationException("config", $"the configuration document must be at most {TenantConfigLimits.MaxConfigBytes} bytes.");
        }

        try
        {
            using var parsed = JsonDocument.Parse(json ?? string.Empty);
            if (parsed.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CoordinatorValidationException("config", "the configuration document must be a JSON object.");
            }
        }
        catch (JsonException)
        {
            throw new CoordinatorValidationException("config", "the configuration document is not valid JSON.");
        }
    }
}
