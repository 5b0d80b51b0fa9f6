using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tenants;

namespace Orleans.Coordinator.Apis;

/// <summary>
/// Named, versioned JSON documents per tenant (agent policies and the like), with ETags and RFC 9110 preconditions;
/// served from each gateway's copy and refreshed everywhere when any writer changes one (pushed on the route channel).
/// </summary>
public static class DocumentsApi
{
    /// <summary>Maps <c>/v1/tenants/{tenant}/documents/{name}</c>.</summary>
    public static RouteGroupBuilder MapDocumentsApi(this IEndpointRouteBuilder app)
    {
        var documents = app.MapGroup("/v1/tenants/{tenant}/documents/{name}").WithTags("Documents");
        documents.MapGet("/", Get).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("GetTenantDocument").WithSummary("A document with its version as ETag (If-None-Match: 304).");
        documents.MapPut("/", Put).RequireAuthorization(CoordinatorPolicies.Admin).Accepts<object>("application/json")
            .WithName("PutTenantDocument").WithSummary("Create or replace a document; If-Match / If-None-Match: * make it conditional (412).");
        documents.MapDelete("/", Delete).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("DeleteTenantDocument").WithSummary("Delete a document; If-Match makes it conditional.");
        return documents;
    }

    internal static async Task<IResult> Get(string tenant, string name, HttpContext context, IGrainFactory grains, DocumentCopies copies)
    {
        if (!TryKey(tenant, name, context, out var key, out var invalid))
        {
            return invalid;
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        if (!copies.TryGet(key, out var document))
        {
            var generation = copies.Generation;
            document = await grains.Get<ITenantDocumentGrain>(key).GetAsync();
            copies.Store(key, document, generation);
        }

        return EntityTags.ConditionalRead(context, precondition, document?.Version ?? 0, document?.Json, "application/json", () => NotFound(context));
    }

    internal static async Task<IResult> Put(string tenant, string name, HttpContext context, IGrainFactory grains, DocumentCopies copies)
    {
        if (!TryKey(tenant, name, context, out var key, out var invalid))
        {
            return invalid;
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        if (context.Request.ContentLength > TenantConfigLimits.MaxConfigBytes)
        {
            return ProblemResponses.Invalid(context, "document", $"the document must be at most {TenantConfigLimits.MaxConfigBytes} bytes.");
        }

        if (context.Request.HasJsonContentType() is false)
        {
            var unsupported = ProblemResponses.Validation("body", "The body must be JSON (Content-Type: application/json).");
            unsupported.Status = StatusCodes.Status415UnsupportedMediaType;
            return ProblemResponses.Result(context, unsupported);
        }

        var json = await TenantsApi.ReadBoundedAsync(context.Request, TenantConfigLimits.MaxConfigBytes + 1);
        copies.Evict(key);
        TenantConfigWriteResult result;
        try
        {
            result = await grains.Get<ITenantDocumentGrain>(key).PutAsync(json, precondition);
        }
        finally
        {
            copies.Evict(key);
        }

        if (!result.Written)
        {
            return ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(result.Version));
        }

        context.Response.Headers.ETag = EntityTags.Of(result.Version);
        return TypedResults.Content(json, "application/json", Encoding.UTF8);
    }

    internal static async Task<IResult> Delete(string tenant, string name, HttpContext context, IGrainFactory grains, DocumentCopies copies)
    {
        if (!TryKey(tenant, name, context, out var key, out var invalid))
        {
            return invalid;
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        copies.Evict(key);
        TenantConfigWriteResult result;
        try
        {
            result = await grains.Get<ITenantDocumentGrain>(key).DeleteAsync(precondition);
        }
        finally
        {
            copies.Evict(key);
        }

        return result switch
        {
            { Written: true } => TypedResults.NoContent(),
            { Version: 0 } => NotFound(context),
            _ => ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(result.Version)),
        };
    }

    private static bool TryKey(string tenant, string name, HttpContext context, out string key, out ProblemHttpResult invalid)
    {
        (key, invalid) = (string.Empty, null!);
        if (!GrainKeys.TryTenant(tenant, out var tenantKey, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "tenant", error);
            return false;
        }

        if (!GrainKeys.TryDocumentName(name, out var nameKey, out error))
        {
            invalid = ProblemResponses.Invalid(context, "name", error);
            return false;
        }

        key = GrainKeys.TenantDocument(tenantKey, nameKey);
        return true;
    }

    private static ProblemHttpResult NotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("document-not-found", "The tenant has no document of this name."));
}
