using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;

// The benchmarks' HTTP reference: the same request body as the gateway's rate-limit check, decided by a counter in a
// ConcurrentDictionary. Nothing else runs in the request: it is what this machine's HTTP stack costs.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, BareJson.Default));
var app = builder.Build();
var counters = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
app.MapGet("/healthz", () => TypedResults.Ok(new BareStatus("ok")));
app.MapPost("/v1/ratelimit/check", (BareCheck check) =>
{
    var count = counters.AddOrUpdate(check.Key ?? string.Empty, 1, (_, c) => c + 1);
    return TypedResults.Ok(new BareDecision(count <= 1_000_000_000, 1_000_000_000 - count));
});
app.Run();

internal sealed record BareCheck(string? Tenant, string? Policy, string? Key);

internal sealed record BareDecision(bool Allowed, long Remaining);

internal sealed record BareStatus(string Status);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(BareCheck))]
[JsonSerializable(typeof(BareDecision))]
[JsonSerializable(typeof(BareStatus))]
internal sealed partial class BareJson : JsonSerializerContext;
