using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Caching;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Resilience;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>PUT /v1/tenants/{tenant}/caches/{namespace}</c>: every field optional (omitted: its default; see <see cref="ResponseCacheSettings"/>).</summary>
public sealed record CacheNamespaceBody(int? MaxEntries, long? MaxBytes, long? DefaultTtlMs, int? Dimension, int? MaxValueBytes, long? FillTimeoutMs);

/// <summary>A namespace's settings and live statistics (<see cref="ResponseCacheStats"/>).</summary>
public sealed record CacheNamespaceResponse(
    string Namespace, int MaxEntries, long MaxBytes, long DefaultTtlMs, int? Dimension, int MaxValueBytes, long FillTimeoutMs,
    long Entries, long Bytes, long Hits, long Misses, long Evictions, long Fills, int Waiters);

/// <summary>Body of <c>PUT .../caches/{namespace}/entries/{key}</c>.</summary>
/// <param name="Value">The value (text; at most the namespace's <c>maxValueBytes</c> as UTF-8).</param>
/// <param name="TtlMs">Time to live, ms (1 s to 30 days; default the namespace's).</param>
/// <param name="Tags">Up to 16 tags to invalidate it by.</param>
/// <param name="Embedding">float32 numbers, the namespace's dimension: a JSON array, or a base64 string of little-endian float32 values (<see cref="EmbeddingJsonConverter"/>).</param>
/// <param name="FillToken">The token a miss handed out, when this write completes that fill.</param>
public sealed record CacheEntryBody(string? Value, long? TtlMs, string[]? Tags, [property: JsonConverter(typeof(EmbeddingJsonConverter))] float[]? Embedding, string? FillToken);

/// <summary>The answer to a cache write.</summary>
/// <param name="Stored">False when the write was dropped (cluster unreachable: 202 and <c>X-Coordinator-Mode: degraded</c>).</param>
/// <param name="ExpiresAtMs">When the entry expires; 0 when not stored.</param>
/// <param name="FillCompleted">True when the write carried the pending fill's token.</param>
/// <param name="Evicted">Entries evicted to make room.</param>
public sealed record CacheWriteResponse(bool Stored, long ExpiresAtMs, bool FillCompleted, int Evicted);

/// <summary>Body of <c>POST .../caches/{namespace}/invalidate</c>: 1 to 16 tags.</summary>
public sealed record CacheInvalidateBody(string[]? Tags);

/// <summary>The answer to an invalidation.</summary>
public sealed record CacheInvalidateResponse(int Invalidated);

/// <summary>Body of <c>POST .../caches/{namespace}/similar</c>.</summary>
/// <param name="Embedding">The query: float32 numbers, the namespace's dimension, as a JSON array or a base64 string of little-endian float32 values (<see cref="EmbeddingJsonConverter"/>).</param>
/// <param name="MinScore">The lowest cosine similarity answered, -1 to 1.</param>
/// <param name="TopK">At most this many matches (default and bounds in <c>ResponseCacheLimits</c>).</param>
public sealed record CacheSimilarBody([property: JsonConverter(typeof(EmbeddingJsonConverter))] float[]? Embedding, float? MinScore, int? TopK);

/// <summary>
/// The AI gateway's shared response cache: per-tenant namespaces, exact entries with LRU, tags and single-flight
/// fills, and semantic lookups by embedding. When the cluster cannot answer, a lookup is a miss and a write is dropped
/// (202), both marked <c>X-Coordinator-Mode: degraded</c>: a cache never fails the request it serves.
/// </summary>
public static class CachesApi
{
    private const string Feature = "response_cache";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Maps <c>/v1/tenants/{tenant}/caches</c>.</summary>
    public static RouteGroupBuilder MapCachesApi(this IEndpointRouteBuilder app)
    {
        var caches = app.MapGroup("/v1/tenants/{tenant}/caches/{namespace}").WithTags("Response cache");

        caches.MapPut("/", PutNamespace).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("PutCacheNamespace").WithSummary("Create a cache namespace or replace its settings (omitted fields take their defaults).");
        caches.MapGet("/", GetNamespace).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("GetCacheNamespace").WithSummary("A namespace's settings and live statistics.");
        caches.MapDelete("/", DeleteNamespace).RequireAuthorization(CoordinatorPolicies.Admin)
            .WithName("DeleteCacheNamespace").WithSummary("Drop a namespace and every entry.");
        caches.MapGet("/entries/{key}", GetEntry).RequireAuthorization(CoordinatorPolicies.Client)
            .Produces(StatusCodes.Status200OK, contentType: "application/json")
            .WithName("GetCacheEntry").WithSummary("Look a key up; with fill=true one caller per miss is told to compute (fillToken), the others wait up to waitMs.");
        caches.MapPut("/entries/{key}", PutEntry).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("PutCacheEntry").WithSummary("Write an entry; with fillToken it completes that fill.");
        caches.MapDelete("/entries/{key}", DeleteEntry).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("DeleteCacheEntry").WithSummary("Drop an entry; with fillToken, give that fill up.");
        caches.MapPost("/invalidate", Invalidate).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("InvalidateCacheTags").WithSummary("Drop every entry carrying one of the tags.");
        caches.MapPost("/similar", Similar).RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("FindSimilarCacheEntries").WithSummary("The entries whose embedding is most similar to the query (cosine), best first.");
        return caches;
    }

    internal static async Task<Results<Ok<CacheNamespaceResponse>, ProblemHttpResult>> PutNamespace(
        string tenant, string @namespace, CacheNamespaceBody body, HttpContext context, IGrainFactory grains, ResponseCacheCopies copies)
    {
        if (!TryNamespace(tenant, @namespace, context, out var grainKey, out var name, out var invalid))
        {
            return invalid;
        }

        var defaults = ResponseCacheSettings.Default;
        var settings = new ResponseCacheSettings(
            body.MaxEntries ?? defaults.MaxEntries,
            body.MaxBytes ?? defaults.MaxBytes,
            body.DefaultTtlMs ?? defaults.DefaultTtlMs,
            body.Dimension,
            body.MaxValueBytes ?? defaults.MaxValueBytes,
            body.FillTimeoutMs ?? defaults.FillTimeoutMs);
        ResponseCacheLimits.Validate(settings); // 400 naming the field, through the exception handler
        var stats = await ChangeAsync(copies, grainKey, null, () => grains.Get<IResponseCacheGrain>(grainKey).ConfigureAsync(settings));
        return TypedResults.Ok(ToResponse(name, stats));
    }

    internal static async Task<Results<Ok<CacheNamespaceResponse>, ProblemHttpResult>> GetNamespace(
        string tenant, string @namespace, HttpContext context, IGrainFactory grains)
    {
        if (!TryNamespace(tenant, @namespace, context, out var grainKey, out var name, out var invalid))
        {
            return invalid;
        }

        var stats = await grains.Get<IResponseCacheGrain>(grainKey).GetStatsAsync();
        return stats is null ? NamespaceNotFound(context) : TypedResults.Ok(ToResponse(name, stats));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteNamespace(
        string tenant, string @namespace, HttpContext context, IGrainFactory grains, ResponseCacheCopies copies)
    {
        if (!TryNamespace(tenant, @namespace, context, out var grainKey, out _, out var invalid))
        {
            return invalid;
        }

        return await ChangeAsync(copies, grainKey, null, () => grains.Get<IResponseCacheGrain>(grainKey).DeleteAsync()) ? TypedResults.NoContent() : NamespaceNotFound(context);
    }

    internal static async Task<IResult> GetEntry(
        string tenant, string @namespace, string key, string? fill, string? waitMs, HttpContext context, IGrainFactory grains, ResilienceState resilience,
        ResponseCacheCopies copies, TimeProvider time)
    {
        if (!TryEntry(tenant, @namespace, key, context, out var grainKey, out var entryKey, out var invalid))
        {
            return invalid;
        }

        if (!bool.TryParse(fill ?? "false", out var shouldFill))
        {
            return ProblemResponses.Invalid(context, "fill", "fill must be true or false.");
        }

        if (!ProblemResponses.TryQueryNumber(context, "waitMs", waitMs, 0, 0, ResponseCacheLimits.MaxWaitMs, out var wait, out var badWait))
        {
            return badWait;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (copies.TryGet(grainKey, entryKey, now, out var copy))
        {
            return new EntryResult(copy);
        }

        var generation = copies.Generation;
        var grain = grains.Get<IResponseCacheGrain>(grainKey);
        // A caller that waits for another's fill is not a slow call: it gets its wait on top of the slow-call bound.
        TimeSpan? timeout = shouldFill && wait > 0 ? TimeSpan.FromMilliseconds(wait) + resilience.Options.SlowCallTimeout : null;
        var (lookup, degraded) = await CallAsync(resilience, () => grain.GetAsync(entryKey, shouldFill, wait), timeout);
        if (degraded)
        {
            ResilienceState.Mark(context, Feature, ServedMode.Degraded);
            return Miss(context, null, fillPending: false, detail: "The coordinator cluster could not be reached: answered as a miss.");
        }

        if (lookup!.Status == ResponseCacheLookupStatus.Hit)
        {
            copies.Store(grainKey, entryKey, lookup.Entry!, generation, now);
        }

        return lookup.Status switch
        {
            ResponseCacheLookupStatus.Hit => new EntryResult(lookup.Entry!),
            ResponseCacheLookupStatus.NoNamespace => NamespaceNotFound(context),
            _ => Miss(context, lookup.FillToken, lookup.FillPending, detail: null),
        };
    }

    internal static async Task<IResult> PutEntry(
        string tenant, string @namespace, string key, CacheEntryBody body, HttpContext context, IGrainFactory grains, ResilienceState resilience,
        ResponseCacheCopies copies)
    {
        if (!TryEntry(tenant, @namespace, key, context, out var grainKey, out var entryKey, out var invalid))
        {
            return invalid;
        }

        if (body.Value is null)
        {
            return ProblemResponses.Invalid(context, "value", "value is required (a string).");
        }

        byte[] value;
        try
        {
            value = StrictUtf8.GetBytes(body.Value);
        }
        catch (EncoderFallbackException)
        {
            return ProblemResponses.Invalid(context, "value", "value must be valid Unicode text (no lone surrogates).");
        }

        var put = new ResponseCachePut(value, body.TtlMs, body.Tags, body.Embedding, body.FillToken);
        var grain = grains.Get<IResponseCacheGrain>(grainKey);
        var (result, degraded) = await ChangeAsync(copies, grainKey, entryKey, () => CallAsync(resilience, () => grain.PutAsync(entryKey, put)));
        if (degraded)
        {
            ResilienceState.Mark(context, Feature, ServedMode.Degraded);
            return TypedResults.Accepted((string?)null, new CacheWriteResponse(false, 0, false, 0));
        }

        return result!.Status switch
        {
            ResponseCacheWriteStatus.NoNamespace => NamespaceNotFound(context),
            ResponseCacheWriteStatus.SiloFull => ProblemResponses.Result(context, SiloFull()),
            _ => TypedResults.Ok(new CacheWriteResponse(true, result.ExpiresAtMs, result.FillCompleted, result.Evicted)),
        };
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteEntry(
        string tenant, string @namespace, string key, string? fillToken, HttpContext context, IGrainFactory grains, ResponseCacheCopies copies)
    {
        if (!TryEntry(tenant, @namespace, key, context, out var grainKey, out var entryKey, out var invalid))
        {
            return invalid;
        }

        return await ChangeAsync(copies, grainKey, entryKey, () => grains.Get<IResponseCacheGrain>(grainKey).RemoveAsync(entryKey, fillToken))
            ? TypedResults.NoContent()
            : ProblemResponses.Result(context, ProblemResponses.NotFound("cache-miss", "No such entry (or fill) in the namespace."));
    }

    internal static async Task<Results<Ok<CacheInvalidateResponse>, ProblemHttpResult>> Invalidate(
        string tenant, string @namespace, CacheInvalidateBody body, HttpContext context, IGrainFactory grains, ResponseCacheCopies copies)
    {
        if (!TryNamespace(tenant, @namespace, context, out var grainKey, out _, out var invalid))
        {
            return invalid;
        }

        ResponseCacheLimits.ValidateTags(body.Tags, "tags", allowEmpty: false);
        var count = await ChangeAsync(copies, grainKey, null, () => grains.Get<IResponseCacheGrain>(grainKey).InvalidateAsync(body.Tags!));
        return count < 0 ? NamespaceNotFound(context) : TypedResults.Ok(new CacheInvalidateResponse(count));
    }

    internal static async Task<IResult> Similar(
        string tenant, string @namespace, CacheSimilarBody body, HttpContext context, IGrainFactory grains, ResilienceState resilience)
    {
        if (!TryNamespace(tenant, @namespace, context, out var grainKey, out _, out var invalid))
        {
            return invalid;
        }

        if (body.Embedding is null)
        {
            return ProblemResponses.Invalid(context, "embedding", "embedding is required (an array of numbers).");
        }

        if (body.MinScore is null)
        {
            return ProblemResponses.Invalid(context, "minScore", "minScore is required (a number between -1 and 1).");
        }

        var query = new ResponseCacheSimilarQuery(body.Embedding, body.MinScore.Value, body.TopK ?? ResponseCacheLimits.DefaultTopK);
        var grain = grains.Get<IResponseCacheGrain>(grainKey);
        var (result, degraded) = await CallAsync(resilience, () => grain.SimilarAsync(query));
        if (degraded)
        {
            ResilienceState.Mark(context, Feature, ServedMode.Degraded);
            return new MatchesResult([]);
        }

        return result!.Matches is { } matches ? new MatchesResult(matches) : NamespaceNotFound(context);
    }

    /// <summary>
    /// A change through this gateway: its own copies of the entry (null: of the namespace) are dropped before and after
    /// the call, also when the call fails (the grain announces the change to the other gateways).
    /// </summary>
    private static async Task<T> ChangeAsync<T>(ResponseCacheCopies copies, string grainKey, string? key, Func<Task<T>> change)
    {
        copies.Evict(grainKey, key);
        try
        {
            return await change();
        }
        finally
        {
            copies.Evict(grainKey, key);
        }
    }

    /// <summary>Calls the cluster under its guard; (default, true) when it cannot be reached (embedded mode: directly).</summary>
    private static async Task<(T? Value, bool Degraded)> CallAsync<T>(ResilienceState resilience, Func<Task<T>> call, TimeSpan? timeout = null)
    {
        if (!resilience.Enabled)
        {
            return (await call(), false);
        }

        try
        {
            return (await (timeout is { } t ? resilience.Cluster.RunAsync(call, t) : resilience.Cluster.RunAsync(call)), false);
        }
        catch (DependencyDownException)
        {
            return (default, true);
        }
    }

    private static ProblemHttpResult Miss(HttpContext context, string? fillToken, bool fillPending, string? detail)
    {
        var problem = ProblemResponses.NotFound("cache-miss", "No live entry for this key.", detail);
        if (fillToken is not null)
        {
            problem.Extensions["fillToken"] = fillToken;
        }

        problem.Extensions["fillPending"] = fillPending;
        return ProblemResponses.Result(context, problem);
    }

    private static Microsoft.AspNetCore.Mvc.ProblemDetails SiloFull()
    {
        var problem = ProblemResponses.Validation("value", "The silo's cache memory (Cache:MaxBytesPerSilo) is spent by other namespaces: the entry was not stored.");
        problem.Status = StatusCodes.Status507InsufficientStorage;
        problem.Type = ProblemResponses.TypePrefix + "cache-memory-full";
        problem.Title = "The cache has no room for the entry.";
        return problem;
    }

    private static ProblemHttpResult NamespaceNotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound(
            "cache-namespace-not-found", "The tenant has no cache namespace of this name.", "Create it first: PUT /v1/tenants/{tenant}/caches/{namespace} (admin)."));

    private static bool TryNamespace(
        string tenant,
        string @namespace,
        HttpContext context,
        [NotNullWhen(true)] out string? grainKey,
        [NotNullWhen(true)] out string? name,
        [NotNullWhen(false)] out ProblemHttpResult? invalid)
    {
        grainKey = null;
        name = null;
        if (!GrainKeys.TryTenant(tenant, out var tenantKey, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "tenant", error);
            return false;
        }

        if (!GrainKeys.TryCacheNamespace(@namespace, out name, out error))
        {
            invalid = ProblemResponses.Invalid(context, "namespace", error);
            return false;
        }

        grainKey = GrainKeys.ResponseCacheNamespace(tenantKey, name);
        invalid = null;
        return true;
    }

    private static bool TryEntry(
        string tenant,
        string @namespace,
        string key,
        HttpContext context,
        [NotNullWhen(true)] out string? grainKey,
        [NotNullWhen(true)] out string? entryKey,
        [NotNullWhen(false)] out ProblemHttpResult? invalid)
    {
        entryKey = null;
        if (!TryNamespace(tenant, @namespace, context, out grainKey, out _, out invalid))
        {
            return false;
        }

        if (!GrainKeys.TryCacheKey(key, out entryKey, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "key", error);
            return false;
        }

        return true;
    }

    private static CacheNamespaceResponse ToResponse(string name, ResponseCacheStats stats)
    {
        var s = stats.Settings;
        return new CacheNamespaceResponse(
            name, s.MaxEntries, s.MaxBytes, s.DefaultTtlMs, s.Dimension, s.MaxValueBytes, s.FillTimeoutMs,
            stats.Entries, stats.Bytes, stats.Hits, stats.Misses, stats.Evictions, stats.Fills, stats.Waiters);
    }

    private static void WriteEntryFields(Utf8JsonWriter writer, ResponseCacheEntry entry)
    {
        writer.WriteString("value"u8, entry.Value);
        writer.WriteNumber("createdAtMs"u8, entry.CreatedAtMs);
        writer.WriteNumber("expiresAtMs"u8, entry.ExpiresAtMs);
        writer.WriteNumber("hits"u8, entry.Hits);
    }

    /// <summary>200 <c>{value, createdAtMs, expiresAtMs, hits}</c>, the value written from its UTF-8 bytes as they are stored.</summary>
    private sealed class EntryResult(ResponseCacheEntry entry) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            await using var writer = new Utf8JsonWriter(httpContext.Response.BodyWriter, WriterOptions);
            writer.WriteStartObject();
            WriteEntryFields(writer, entry);
            writer.WriteEndObject();
            await writer.FlushAsync(httpContext.RequestAborted);
        }
    }

    /// <summary>200 <c>{matches: [{key, score, value, createdAtMs, expiresAtMs, hits}]}</c>, best first.</summary>
    private sealed class MatchesResult(ResponseCacheMatch[] matches) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            await using var writer = new Utf8JsonWriter(httpContext.Response.BodyWriter, WriterOptions);
            writer.WriteStartObject();
            writer.WriteStartArray("matches"u8);
            foreach (var match in matches)
            {
                writer.WriteStartObject();
                writer.WriteString("key"u8, match.Key);
                writer.WriteNumber("score"u8, match.Score);
                WriteEntryFields(writer, match.Entry);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            await writer.FlushAsync(httpContext.RequestAborted);
        }
    }
}
