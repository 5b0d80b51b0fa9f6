using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>Single writer over one tenant document; every write ETag-checked, persisted, then announced to the gateways.</summary>
internal sealed class TenantDocumentGrain(
    [PersistentState("document", CoordinatorStorage.Name)] IPersistentState<TenantDocumentState> state,
    IRouteStore announcements) : Grain, ITenantDocumentGrain
{
    public Task<TenantConfigDocument?> GetAsync()
        => Task.FromResult(state.State.Json is { } json ? new TenantConfigDocument(json, state.State.Version) : null);

    public async Task<TenantConfigWriteResult> PutAsync(string json, VersionPrecondition precondition)
    {
        ArgumentNullException.ThrowIfNull(precondition);
        try
        {
            TenantConfigGrain.ValidateDocument(json);
        }
        catch (CoordinatorValidationException ex)
        {
            throw new CoordinatorValidationException("document", ex.Message.Replace("configuration document", "document", StringComparison.Ordinal));
        }

        var result = await state.UpdateAsync(s =>
        {
            if (precondition.Evaluate(s.Json is null ? 0 : s.Version, safeMethod: false) != PreconditionOutcome.Proceed)
            {
                return (new TenantConfigWriteResult(false, s.Json is null ? 0 : s.Version), false);
            }

            s.Json = json;
            s.Version++;
            return (new TenantConfigWriteResult(true, s.Version), true);
        });

        if (result.Written)
        {
            await announcements.AnnounceChangeAsync(GrainKeys.DocumentChange(this.GetPrimaryKeyString()));
        }

        return result;
    }

    public async Task<TenantConfigWriteResult> DeleteAsync(VersionPrecondition precondition)
    {
        ArgumentNullException.ThrowIfNull(precondition);
        var result = await state.UpdateAsync(s =>
        {
            if (s.Json is null)
            {
                return (new TenantConfigWriteResult(false, 0), false);
            }

            if (precondition.Evaluate(s.Version, safeMethod: false) != PreconditionOutcome.Proceed)
            {
                return (new TenantConfigWriteResult(false, s.Version), false);
            }

            s.Json = null; // the version stays: a re-created document continues from it
            return (new TenantConfigWriteResult(true, s.Version), true);
        });

        if (result.Written)
        {
            await announcements.AnnounceChangeAsync(GrainKeys.DocumentChange(this.GetPrimaryKeyString()));
        }

        return result;
    }
}
