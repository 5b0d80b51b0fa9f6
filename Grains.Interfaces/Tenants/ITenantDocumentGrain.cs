namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>
/// One named, versioned JSON document of a tenant (key: <see cref="GrainKeys.TenantDocument"/>), e.g. an agent policy.
/// Writes are conditional on RFC 9110 preconditions against the version, persisted before the answer, and announced
/// to every gateway (which drop their cached copies). The version keeps growing across a delete, so an old ETag never
/// matches a re-created document.
/// </summary>
[Alias("coordinator.ITenantDocumentGrain")]
public interface ITenantDocumentGrain : IGrainWithStringKey
{
    /// <summary>The document, or null when there is none.</summary>
    [Alias("Get")]
    Task<TenantConfigDocument?> GetAsync();

    /// <summary>
    /// Writes the document when <paramref name="precondition"/> holds (<c>Written</c> false, 412, otherwise). Throws
    /// <see cref="CoordinatorValidationException"/> (<c>document</c>) for a body that is not a JSON object of at most
    /// <see cref="TenantConfigLimits.MaxConfigBytes"/> bytes.
    /// </summary>
    [Alias("Put")]
    Task<TenantConfigWriteResult> PutAsync(string json, VersionPrecondition precondition);

    /// <summary>Deletes the document when <paramref name="precondition"/> holds; <c>Version</c> 0 when there was none.</summary>
    [Alias("Delete")]
    Task<TenantConfigWriteResult> DeleteAsync(VersionPrecondition precondition);
}
