using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Agents;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>PUT /v1/tenants/{tenant}/tasks/{taskId}</c>.</summary>
public sealed record AgentTaskBody(string? ContextId, JsonElement? Metadata);

/// <summary>Body of <c>POST .../tasks/{taskId}/status</c>: an A2A state name and an optional message.</summary>
public sealed record AgentTaskStatusBody(string? State, string? Message);

/// <summary>Body of <c>POST .../tasks/{taskId}/artifacts</c>.</summary>
public sealed record AgentTaskArtifactBody(string? Name, string? MimeType, string? Data);

/// <summary>One status as answered.</summary>
public sealed record AgentTaskStatusResponse(long Version, string State, string? Message, long AtMs);

/// <summary>A task as answered: its current status, history and artifacts.</summary>
public sealed record AgentTaskResponse(
    string TaskId, string ContextId, JsonElement Metadata, long Version, AgentTaskStatusResponse Status,
    IReadOnlyList<AgentTaskStatusResponse> History, IReadOnlyList<AgentTaskArtifact> Artifacts);

/// <summary>
/// A2A agent tasks: the task lifecycle (submitted, working, input-required, auth-required, and the terminal completed,
/// canceled, failed, rejected), status history, artifacts, ETags, a context's task list and a Server-Sent Events
/// stream of status changes. Fails hard (503) when the state cannot be read or written.
/// </summary>
public static class AgentTasksApi
{
    /// <summary>Maps <c>/v1/tenants/{tenant}/tasks</c>.</summary>
    public static RouteGroupBuilder MapAgentTasksApi(this IEndpointRouteBuilder app)
    {
        var tasks = app.MapGroup("/v1/tenants/{tenant}/tasks").WithTags("Agent tasks").RequireAuthorization(CoordinatorPolicies.Client);
        tasks.MapPut("/{taskId}", Create).WithName("CreateAgentTask").WithSummary("Create an A2A task in state submitted.");
        tasks.MapGet("/{taskId}", Get).WithName("GetAgentTask").WithSummary("The task with its status history and artifacts; ETag is its version.");
        tasks.MapGet("/", List).WithName("ListAgentTasks").WithSummary("The tasks of one context (contextId), oldest first.");
        tasks.MapPost("/{taskId}/status", SetStatus).WithName("SetAgentTaskStatus").WithSummary("Move the task to an A2A state (If-Match makes it conditional).");
        tasks.MapPost("/{taskId}/artifacts", AddArtifact).WithName("AddAgentTaskArtifact").WithSummary("Append an artifact (If-Match makes it conditional).");
        tasks.MapGet("/{taskId}/events", Events).WithName("AgentTaskEvents").WithSummary("Server-Sent Events: every status change as it happens (Last-Event-ID resumes).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return tasks;
    }

    internal static async Task<IResult> Create(string tenant, string taskId, AgentTaskBody body, HttpContext context, IGrainFactory grains)
    {
        if (!TryTask(tenant, taskId, context, out var tenantKey, out var id, out var invalid))
        {
            return invalid;
        }

        if (!GrainKeys.TryAgentId(body.ContextId, "contextId", out var contextId, out var error))
        {
            return ProblemResponses.Invalid(context, "contextId", error);
        }

        if (body.Metadata is { } m && m.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null or JsonValueKind.Undefined))
        {
            return ProblemResponses.Invalid(context, "metadata", "metadata must be a JSON object.");
        }

        var metadata = body.Metadata is { ValueKind: JsonValueKind.Object } o ? o.GetRawText() : "{}";
        var result = await grains.Get<IAgentTaskGrain>(GrainKeys.AgentTask(tenantKey, id)).CreateAsync(tenantKey, id, contextId, metadata);
        if (result.Change == AgentTaskChange.Exists)
        {
            return ProblemResponses.Result(context, ProblemResponses.Conflict("task-exists", "A task of this id exists in another context.", $"It belongs to context {result.Task!.ContextId}."));
        }

        context.Response.Headers.ETag = EntityTags.Of(result.Task!.Version);
        return result.Task.Version == 1 && result.Task.History.Length == 1
            ? TypedResults.Created($"/v1/tenants/{tenant}/tasks/{id}", ToResponse(result.Task))
            : TypedResults.Ok(ToResponse(result.Task));
    }

    internal static async Task<IResult> Get(string tenant, string taskId, HttpContext context, IGrainFactory grains)
    {
        if (!TryTask(tenant, taskId, context, out var tenantKey, out var id, out var invalid))
        {
            return invalid;
        }

        var task = await grains.Get<IAgentTaskGrain>(GrainKeys.AgentTask(tenantKey, id)).GetAsync();
        if (task is null)
        {
            return NotFound(context);
        }

        context.Response.Headers.ETag = EntityTags.Of(task.Version);
        return TypedResults.Ok(ToResponse(task));
    }

    internal static async Task<IResult> List(string tenant, string? contextId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(tenant, out var tenantKey, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (!GrainKeys.TryAgentId(contextId, "contextId", out var contextKey, out error))
        {
            return ProblemResponses.Invalid(context, "contextId", error);
        }

        var ids = await grains.Get<IAgentContextGrain>(GrainKeys.AgentContext(tenantKey, contextKey)).ListAsync();
        var tasks = await Task.WhenAll(ids.Select(id => grains.Get<IAgentTaskGrain>(GrainKeys.AgentTask(tenantKey, id)).GetAsync()));
        return TypedResults.Ok(new { tasks = tasks.Where(t => t is not null).Select(t => ToResponse(t!)).ToList() });
    }

    internal static async Task<IResult> SetStatus(string tenant, string taskId, AgentTaskStatusBody body, HttpContext context, IGrainFactory grains)
    {
        if (!TryTask(tenant, taskId, context, out var tenantKey, out var id, out var invalid))
        {
            return invalid;
        }

        if (!AgentTaskLimits.TryParse(body.State, out var state))
        {
            return ProblemResponses.Invalid(context, "state", "state must be submitted, working, input-required, auth-required, completed, canceled, failed or rejected.");
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        var result = await grains.Get<IAgentTaskGrain>(GrainKeys.AgentTask(tenantKey, id)).SetStatusAsync(state, body.Message, precondition.IfMatch);
        return Answer(context, result);
    }

    internal static async Task<IResult> AddArtifact(string tenant, string taskId, AgentTaskArtifactBody body, HttpContext context, IGrainFactory grains)
    {
        if (!TryTask(tenant, taskId, context, out var tenantKey, out var id, out var invalid))
        {
            return invalid;
        }

        if (body.Data is null)
        {
            return ProblemResponses.Invalid(context, "data", "data is required (text; base64 for binary content).");
        }

        if (!EntityTags.TryReadPreconditions(context.Request, out var precondition, out var badHeader))
        {
            return TenantsApi.BadTagHeader(context, badHeader!);
        }

        var result = await grains.Get<IAgentTaskGrain>(GrainKeys.AgentTask(tenantKey, id)).AddArtifactAsync(body.Name, body.MimeType, body.Data, precondition.IfMatch);
        return Answer(context, result);
    }

    /// <summary>
    /// <c>text/event-stream</c>: one <c>status</c> event per status change (id: the task's version after it; data: the
    /// status as JSON), starting after <c>Last-Event-ID</c> (or from the beginning), ending after a terminal state; a
    /// comment every 15 s keeps idle connections open.
    /// </summary>
    internal static async Task Events(string tenant, string taskId, HttpContext context, IGrainFactory grains)
    {
        if (!TryTask(tenant, taskId, context, out var tenantKey, out var id, out var invalid))
        {
            await invalid.ExecuteAsync(context);
            return;
        }

        long after = 0;
        if (context.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } lastId
            && (!long.TryParse(lastId, NumberStyles.None, CultureInfo.InvariantCulture, out after)))
        {
            await ProblemResponses.Invalid(context, "Last-Event-ID", "Last-Event-ID must be an event id this stream sent (a version).").ExecuteAsync(context);
            return;
        }

        var grain = grains.Get<IAgentTaskGrain>(GrainKeys.AgentTask(tenantKey, id));
        var first = await grain.WaitForStatusAsync(after, 0);
        if (first is null)
        {
            await NotFound(context).ExecuteAsync(context);
            return;
        }

        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var aborted = context.RequestAborted;
        var news = first;
        try
        {
            while (!aborted.IsCancellationRequested)
            {
                foreach (var status in news)
                {
                    var json = JsonSerializer.Serialize(ToStatus(status), JsonSerializerOptions.Web);
                    await context.Response.WriteAsync($"event: status\nid: {status.Version.ToString(CultureInfo.InvariantCulture)}\ndata: {json}\n\n", aborted);
                    after = status.Version;
                    if (AgentTaskLimits.IsTerminal(status.State))
                    {
                        return;
                    }
                }

                await context.Response.Body.FlushAsync(aborted);
                news = await grain.WaitForStatusAsync(after, 15_000) ?? [];
                if (news.Length == 0)
                {
                    if (await grain.GetAsync() is not { } task || AgentTaskLimits.IsTerminal(task.History[^1].State))
                    {
                        return; // finished (or gone) and nothing newer than what this client has: the stream ends
                    }

                    await context.Response.WriteAsync(": keep-alive\n\n", aborted);
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The headers are sent: no problem document can follow. End the stream; the client resubscribes with
            // Last-Event-ID and misses nothing.
        }
    }

    private static IResult Answer(HttpContext context, AgentTaskResult result)
    {
        switch (result.Change)
        {
            case AgentTaskChange.NotFound:
                return NotFound(context);
            case AgentTaskChange.VersionMismatch:
                return ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(result.Task!.Version));
            case AgentTaskChange.InvalidTransition:
                var problem = ProblemResponses.Conflict("invalid-transition", "The task is in a terminal state.",
                    $"It is {AgentTaskLimits.Name(result.Task!.History[^1].State)}; completed, canceled, failed and rejected are final.");
                problem.Extensions["taskState"] = AgentTaskLimits.Name(result.Task.History[^1].State);
                return ProblemResponses.Result(context, problem);
            case AgentTaskChange.ArtifactLimit:
                return ProblemResponses.Result(context, ProblemResponses.Conflict("artifact-limit", "The task holds as many artifacts as allowed.",
                    $"At most {AgentTaskLimits.MaxArtifacts} artifacts and {AgentTaskLimits.MaxArtifactTotalBytes} bytes per task."));
            default:
                context.Response.Headers.ETag = EntityTags.Of(result.Task!.Version);
                return TypedResults.Ok(ToResponse(result.Task));
        }
    }

    private static bool TryTask(string tenant, string taskId, HttpContext context, out string tenantKey, out string id, out ProblemHttpResult invalid)
    {
        (tenantKey, id, invalid) = (string.Empty, string.Empty, null!);
        if (!GrainKeys.TryTenant(tenant, out var t, out var error))
        {
            invalid = ProblemResponses.Invalid(context, "tenant", error);
            return false;
        }

        if (!GrainKeys.TryAgentId(taskId, "taskId", out var i, out error))
        {
            invalid = ProblemResponses.Invalid(context, "taskId", error);
            return false;
        }

        (tenantKey, id) = (t, i);
        return true;
    }

    private static ProblemHttpResult NotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("task-not-found", "The tenant has no task with this id."));

    private static AgentTaskStatusResponse ToStatus(AgentTaskStatus s) => new(s.Version, AgentTaskLimits.Name(s.State), s.Message, s.AtMs);

    private static AgentTaskResponse ToResponse(AgentTask t)
    {
        using var metadata = JsonDocument.Parse(t.MetadataJson);
        return new AgentTaskResponse(t.TaskId, t.ContextId, metadata.RootElement.Clone(), t.Version, ToStatus(t.History[^1]),
            [.. t.History.Select(ToStatus)], t.Artifacts);
    }
}
