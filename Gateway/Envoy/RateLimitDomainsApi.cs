using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Apis;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Envoy;

/// <summary>One domain in <c>GET /v1/ratelimit/domains</c>.</summary>
/// <param name="Domain">The domain.</param>
/// <param name="Source"><c>api</c> (shared by every gateway) or <c>file</c> (this gateway's <c>RateLimit:ConfigPath</c>).</param>
/// <param name="Version">The API version (its ETag); null for a file's domain.</param>
/// <param name="MediaType">How an API domain was written (<c>application/yaml</c> or <c>application/json</c>).</param>
/// <param name="InForceHere">False for an API domain that this gateway's files also define (the files' rules serve here).</param>
public sealed record RateLimitDomainEntry(string Domain, string Source, long? Version, string? MediaType, bool InForceHere);

/// <summary>The answer of <c>GET /v1/ratelimit/domains</c>.</summary>
/// <param name="Revision">The revision of the API's domains (grows with every change).</param>
/// <param name="Domains">Every domain, by name; a name both sources define is listed twice.</param>
public sealed record RateLimitDomainList(long Revision, IReadOnlyList<RateLimitDomainEntry> Domains);

/// <summary>
/// Rate-limit domains shared by a fleet of gateways: <c>PUT /v1/ratelimit/domains/{domain}</c> with the domain's
/// envoyproxy/ratelimit configuration (<c>application/yaml</c>, or its JSON form as <c>application/json</c>), stored in
/// the cluster, versioned with ETags (RFC 9110 <c>If-Match</c> / <c>If-None-Match</c>), and in force on every gateway
/// within 1 s of the answer (<see cref="RateLimitDomainsWatcher"/>). A domain comes from one source: a PUT of a domain
/// this gateway's files define is refused (409); on a gateway whose files define a domain the API also has, the files
/// win there and <c>/readyz</c> says so. Admin only.
/// </summary>
public static class RateLimitDomainsApi
{
    private static readonly string[] YamlTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"];

    /// <summary>Maps <c>/v1/ratelimit/domains</c> and <c>/v1/ratelimit/domains/{domain}</c>.</summary>
    public static IEndpointRouteBuilder MapRateLimitDomainsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/ratelimit/domains").WithTags("Envoy rate limits").RequireAuthorization(CoordinatorPolicies.Admin);
        group.MapGet("/", List).WithName("ListRateLimitDomains").WithSummary("Every rate-limit domain: the API's (shared) and this gateway's files'.");
        group.MapGet("/{domain}", Get).WithName("GetRateLimitDomain").WithSummary("A domain's configuration as written, with its version as ETag (If-None-Match: 304).");
        group.MapPut("/{domain}", Put).WithName("PutRateLimitDomain")
            .WithSummary("Create or replace a domain (YAML or its JSON form); in force on every gateway within 1 s; If-Match / If-None-Match: * make it conditional (412).")
            .Accepts<object>("application/yaml", "application/json");
        group.MapDelete("/{domain}", Delete).WithName("DeleteRateLimitDomain").WithSummary("Delete a domain; If-Match makes it conditional.");
        return app;
    }

    internal static async Task<Ok<RateLimitDomainList>> List(IGrainFactory grains, EnvoyRateLimitRules rules)
    {
        var set = await Grain(grains).GetAllAsync();
        var files = rules.FileDomains;
        var entries = set.Domains.Select(d => new RateLimitDomainEntry(d.Domain, "api", d.Version, d.MediaType, !files.Contains(d.Domain)))
            .Concat(files.Select(d => new RateLimitDomainEntry(d, "file", null, null, true)))
            .OrderBy(e => e.Domain, StringComparer.Ordinal).ThenBy(e => e.Source, StringComparer.Ordinal)
            .ToList();
        return TypedResults.Ok(new RateLimitDomainList(set.Revision, entries));
    }

    internal static async Task<IResult> Get(string domain, HttpContext context, IGrainFactory grains)
    {
        if (!RateLimitDomainLimits.TryDomain(domain, out var error))
        {
            return ProblemResponses.Invalid(context, "domain", error);
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        var document = (await Grain(grains).GetAllAsync()).Domains.FirstOrDefault(d => d.Domain == domain);
        return EntityTags.ConditionalRead(context, precondition, document?.Version ?? 0, document?.Text, document?.MediaType ?? "", () => NotFound(context));
    }

    internal static async Task<IResult> Put(string domain, HttpContext context, IGrainFactory grains, EnvoyRateLimitRules rules)
    {
        if (!RateLimitDomainLimits.TryDomain(domain, out var error))
        {
            return ProblemResponses.Invalid(context, "domain", error);
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        var mediaType = MediaTypeOf(context.Request);
        if (mediaType is null)
        {
            var unsupported = ProblemResponses.Validation("body", "The body must be the domain's configuration as YAML (Content-Type: application/yaml) or its JSON form (application/json).");
            unsupported.Status = StatusCodes.Status415UnsupportedMediaType;
            return ProblemResponses.Result(context, unsupported);
        }

        if (context.Request.ContentLength > RateLimitDomainLimits.MaxDocumentBytes)
        {
            return TooLarge(context);
        }

        string text;
        try
        {
            text = await TenantsApi.ReadBoundedAsync(context.Request, RateLimitDomainLimits.MaxDocumentBytes);
        }
        catch (CoordinatorValidationException ex) when (ex.Field == "config")
        {
            return TooLarge(context);
        }

        // Checked here, with the same parser every gateway applies it with, so what is stored is known to parse.
        EnvoyRateLimitConfig parsed;
        try
        {
            parsed = EnvoyRateLimitConfig.Parse(text, "body");
        }
        catch (EnvoyConfigException ex)
        {
            return ProblemResponses.Invalid(context, "body", ex.Message);
        }

        if (parsed.Domains.Count != 1 || !parsed.Domains.Contains(domain))
        {
            return ProblemResponses.Invalid(context, "domain",
                $"the body must define exactly the domain named in the path ('{domain}'); it defines {(parsed.Domains.Count == 0 ? "none" : string.Join(", ", parsed.Domains.Select(d => $"'{d}'")))}.");
        }

        if (rules.FileDomains.Contains(domain))
        {
            return ProblemResponses.Result(context, ProblemResponses.Conflict("domain-defined-by-file",
                "This gateway's rate-limit files define the domain.",
                $"A domain comes from one source: remove '{domain}' from RateLimit:ConfigPath ({rules.Path}) to manage it through the API."));
        }

        var result = await Grain(grains).PutAsync(domain, text, mediaType, precondition);
        if (!result.Written)
        {
            return ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(result.Version));
        }

        await ApplyHereAsync(grains, rules);
        context.Response.Headers.ETag = EntityTags.Of(result.Version);
        return TypedResults.Content(text, mediaType, Encoding.UTF8);
    }

    internal static async Task<IResult> Delete(string domain, HttpContext context, IGrainFactory grains, EnvoyRateLimitRules rules)
    {
        if (!RateLimitDomainLimits.TryDomain(domain, out var error))
        {
            return ProblemResponses.Invalid(context, "domain", error);
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        var result = await Grain(grains).DeleteAsync(domain, precondition);
        if (result.Written)
        {
            await ApplyHereAsync(grains, rules);
        }

        return result switch
        {
            { Written: true } => TypedResults.NoContent(),
            { Version: 0 } => NotFound(context),
            _ => ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(result.Version)),
        };
    }

    /// <summary>
    /// The answering gateway applies the change before it answers; the others get it from their watch. The change is
    /// stored by then, so a failure here does not fail the answer: this gateway's own watch applies it.
    /// </summary>
    private static async Task ApplyHereAsync(IGrainFactory grains, EnvoyRateLimitRules rules)
    {
        try
        {
            rules.ApplyFleet(await Grain(grains).GetAllAsync());
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or CoordinatorUnavailableException)
        {
            // Stored; the watch will bring it.
        }
    }

    private static IRateLimitDomainsGrain Grain(IGrainFactory grains) => grains.GetGrain<IRateLimitDomainsGrain>(GrainKeys.RateLimitDomains);

    private static string? MediaTypeOf(HttpRequest request)
    {
        if (request.HasJsonContentType())
        {
            return "application/json";
        }

        var type = request.ContentType?.Split(';', 2)[0].Trim();
        return YamlTypes.Any(t => string.Equals(t, type, StringComparison.OrdinalIgnoreCase)) ? "application/yaml" : null;
    }

    private static ProblemHttpResult TooLarge(HttpContext context)
        => ProblemResponses.Invalid(context, "body", $"a domain's configuration must be at most {RateLimitDomainLimits.MaxDocumentBytes} bytes.");

    private static ProblemHttpResult NotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("ratelimit-domain-not-found", "No rate-limit domain of this name was written through the API."));
}
