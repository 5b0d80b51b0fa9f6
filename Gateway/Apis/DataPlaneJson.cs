using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orleans.Coordinator.Apis;

/// <summary>
/// Source-generated JSON metadata for the data-plane requests and answers (rate-limit checks, mapping lookups, lease
/// acquires, similarity queries): first in the HTTP JSON options' resolver chain, so these skip reflection-built metadata; the options'
/// own settings (web defaults: camelCase, case-insensitive reading) still apply. Every other type falls through to
/// the reflection resolver.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(RateLimitCheckBody))]
[JsonSerializable(typeof(RateLimitCheckResponse))]
[JsonSerializable(typeof(RateLimitBatchBody))]
[JsonSerializable(typeof(RateLimitBatchResponse))]
[JsonSerializable(typeof(MappingResponse))]
[JsonSerializable(typeof(AcquireConnectionBody))]
[JsonSerializable(typeof(LeaseGrantedResponse))]
[JsonSerializable(typeof(CacheSimilarBody))]
internal sealed partial class DataPlaneJson : JsonSerializerContext;
