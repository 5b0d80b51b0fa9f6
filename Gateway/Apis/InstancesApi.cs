using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>PUT /v1/instances/{instanceId}/heartbeat</c>.</summary>
public sealed record HeartbeatBody(string? Role, string? Address, string? Version, Dictionary<string, string>? Metadata);

/// <summary>The heartbeat answer.</summary>
public sealed record HeartbeatResponse(long IntervalMs, long DeadAfterMs);

/// <summary>An instance.</summary>
public sealed record InstanceResponse(string InstanceId, string Role, string? Address, string? Version, IReadOnlyDictionary<string, string> Metadata, long LastSeenMs, bool Alive, long? DeadAtMs);

/// <summary>A list of instances.</summary>
public sealed record InstanceListResponse(IReadOnlyList<InstanceResponse> Instances);

/// <summary>A goodbye.</summary>
public sealed record GoodbyeResponse(int UsersReleased);

/// <summary>Instance heartbeats and discovery.</summary>
public static class InstancesApi
{
    /// <summary>Maps <c>/v1/instances</c>.</summary>
    public static RouteGroupBuilder MapInstancesApi(this IEndpointRouteBuilder app)
    {
        var instances = app.MapGroup("/v1/instances").WithTags("Instances").RequireAuthorization(CoordinatorPolicies.Client);
        instances.MapPut("/{instanceId}/heartbeat", Heartbeat).WithName("Heartbeat").WithSummary("Record a heartbeat; answers how often to beat and when silence means death.");
        instances.MapGet("/", List).WithName("ListInstances").WithSummary("The instances (optionally of one role), live and recently dead.");
        instances.MapGet("/{instanceId}", Get).WithName("GetInstance").WithSummary("One instance.");
        instances.MapDelete("/{instanceId}", Goodbye).WithName("InstanceGoodbye").WithSummary("The instance leaves: every lease it held is released now.");
        return instances;
    }

    internal static async Task<Results<Ok<HeartbeatResponse>, ProblemHttpResult>> Heartbeat(string instanceId, HeartbeatBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryInstanceId(instanceId, out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "instanceId", error);
        }

        if (!GrainKeys.TryPolicy(body.Role, out var role, out _))
        {
            return ProblemResponses.Invalid(context, "role", $"role is required: 1 to 64 characters of {GrainKeys.CharacterSetDescription}.");
        }

        if (body.Address is { Length: > 256 } || body.Version is { Length: > 64 })
        {
            return ProblemResponses.Invalid(context, body.Address is { Length: > 256 } ? "address" : "version", "address is at most 256 and version at most 64 characters.");
        }

        var metadata = body.Metadata ?? [];
        if (metadata.Count > 32 || metadata.Any(m => m.Key.Length is 0 or > 64 || m.Value.Length > 256))
        {
            return ProblemResponses.Invalid(context, "metadata", "metadata holds at most 32 entries, keys of 1 to 64 and values of at most 256 characters.");
        }

        var advice = await grains.Get<IInstanceGrain>(id).HeartbeatAsync(new InstanceHeartbeat(role, body.Address, body.Version, metadata));
        return TypedResults.Ok(new HeartbeatResponse(advice.IntervalMs, advice.DeadAfterMs));
    }

    internal static async Task<Results<Ok<InstanceListResponse>, ProblemHttpResult>> List(string? role, HttpContext context, IGrainFactory grains)
    {
        if (role is not null && !GrainKeys.TryPolicy(role, out _, out var error))
        {
            return ProblemResponses.Invalid(context, "role", error);
        }

        var shards = await Task.WhenAll(Enumerable.Range(0, InstanceKeys.RegistryShards)
            .Select(i => grains.Get<IInstanceRegistryGrain>(i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ListAsync(role)));
        var members = shards.SelectMany(s => s).ToList();
        var snapshots = await Task.WhenAll(members.Select(m => grains.Get<IInstanceGrain>(m.InstanceId).GetAsync()));
        var list = members.Zip(snapshots, (m, s) => s is null
                ? new InstanceResponse(m.InstanceId, m.Role, null, null, new Dictionary<string, string>(), 0, m.Alive, m.DeadAtMs)
                : ToResponse(s) with { Alive = m.Alive && s.Alive, DeadAtMs = m.DeadAtMs ?? s.DeadAtMs })
            .OrderBy(i => i.InstanceId, StringComparer.Ordinal)
            .ToList();
        return TypedResults.Ok(new InstanceListResponse(list));
    }

    internal static async Task<Results<Ok<InstanceResponse>, ProblemHttpResult>> Get(string instanceId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryInstanceId(instanceId, out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "instanceId", error);
        }

        var snapshot = await grains.Get<IInstanceGrain>(id).GetAsync();
        return snapshot is null
            ? ProblemResponses.Result(context, ProblemResponses.NotFound("instance-not-found", "No such instance.", "It never sent a heartbeat, left, or was forgotten."))
            : TypedResults.Ok(ToResponse(snapshot));
    }

    internal static async Task<Results<Ok<GoodbyeResponse>, ProblemHttpResult>> Goodbye(string instanceId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryInstanceId(instanceId, out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "instanceId", error);
        }

        return TypedResults.Ok(new GoodbyeResponse(await grains.Get<IInstanceGrain>(id).GoodbyeAsync()));
    }

    private static InstanceResponse ToResponse(InstanceSnapshot s) => new(s.InstanceId, s.Role, s.Address, s.Version, s.Metadata, s.LastSeenMs, s.Alive, s.DeadAtMs);
}
