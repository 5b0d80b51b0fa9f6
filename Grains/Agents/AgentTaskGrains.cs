using System.Text;
using Orleans.Concurrency;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Agents;

namespace Orleans.Coordinator.Grains.Agents;

/// <summary>An A2A task's persisted state.</summary>
[GenerateSerializer, Alias("coordinator.AgentTaskState")]
public sealed class AgentTaskGrainState
{
    /// <summary>The task; null before it is created.</summary>
    [Id(0)]
    public AgentTask? Task { get; set; }

    /// <summary>Announcements saved with the change they report, not yet in the tenant's feed.</summary>
    [Id(1)]
    public List<Events.OutboxEvent> Outbox { get; set; } = [];
}

/// <summary>An A2A context's persisted task ids.</summary>
[GenerateSerializer, Alias("coordinator.AgentContextState")]
public sealed class AgentContextGrainState
{
    /// <summary>Task ids, oldest first.</summary>
    [Id(0)]
    public List<string> TaskIds { get; set; } = [];
}

/// <summary>
/// Single writer over one A2A task (<see cref="AgentTaskRules"/>). Reentrant so that waiting readers (Server-Sent Events)
/// do not hold up the changes they wait for; each change is one synchronous decision followed by an ETag-checked write,
/// one at a time.
/// </summary>
[Reentrant]
internal sealed class AgentTaskGrain(
    [PersistentState("agentTask", CoordinatorStorage.Name)] IPersistentState<AgentTaskGrainState> state,
    CoordinatorClock clock,
    Microsoft.Extensions.Logging.ILogger<AgentTaskGrain> logger) : Grain, IAgentTaskGrain
{
    private Events.EventOutboxRelay? _relay;
    private Events.OutboxEvent[] _savedOutbox = []; // what the relay sends: only saved announcements

    private readonly SemaphoreSlim _writes = new(1, 1);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The task as last saved: reads use it (a change is made on the state before its write completes).</summary>
    private AgentTask? _saved;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _saved = state.State.Task;
        _savedOutbox = [.. state.State.Outbox];
        _relay = Events.EventOutboxRelay.Start(this, GrainFactory, logger, () => _savedOutbox, RemoveAnnouncedAsync);

        return Task.CompletedTask;
    }

    public async Task<AgentTaskResult> CreateAsync(string tenant, string taskId, string contextId, string metadataJson)
    {
        if (!GrainKeys.TryAgentId(contextId, "contextId", out _, out var error))
        {
            throw new CoordinatorValidationException("contextId", error);
        }

        if (metadataJson is null || Encoding.UTF8.GetByteCount(metadataJson) > AgentTaskLimits.MaxMetadataBytes)
        {
            throw new CoordinatorValidationException("metadata", $"metadata must be a JSON object of at most {AgentTaskLimits.MaxMetadataBytes} bytes.");
        }

        if (taskId is null || GrainKeys.AgentTask(tenant, taskId) != this.GetPrimaryKeyString())
        {
            throw new CoordinatorValidationException("taskId", "the task's key must be GrainKeys.AgentTask(tenant, taskId).");
        }

        var result = await ChangeAsync(s =>
        {
            if (s.Task is { } existing)
            {
                return existing.ContextId == contextId ? (new AgentTaskResult(AgentTaskChange.Done, existing), false) : (new AgentTaskResult(AgentTaskChange.Exists, existing), false);
            }

            s.Task = new AgentTask(taskId, tenant, contextId, metadataJson, 1, [new AgentTaskStatus(1, AgentTaskState.Submitted, null, clock.NowMs)], []);
            return (new AgentTaskResult(AgentTaskChange.Done, s.Task), true);
        });

        if (result.Change == AgentTaskChange.Done)
        {
            // Idempotent: a create retried after this call failed still lists the task in its context.
            await GrainFactory.GetGrain<IAgentContextGrain>(GrainKeys.AgentContext(tenant, contextId)).AddAsync(taskId);
        }

        return result;
    }

    public Task<AgentTask?> GetAsync() => Task.FromResult(_saved);

    public Task<AgentTaskResult> SetStatusAsync(AgentTaskState next, string? message, VersionMatch? ifMatch)
    {
        if (!Enum.IsDefined(next))
        {
            throw new CoordinatorValidationException("state", "state must be an A2A task state.");
        }

        if (message is { Length: > AgentTaskLimits.MaxMessageLength })
        {
            throw new CoordinatorValidationException("message", $"message must be at most {AgentTaskLimits.MaxMessageLength} characters.");
        }

        return ChangeAsync(s =>
        {
            if (s.Task is not { } task)
            {
                return (new AgentTaskResult(AgentTaskChange.NotFound, null), false);
            }

            if (ifMatch is not null && !ifMatch.MatchesStrongly(task.Version))
            {
                return (new AgentTaskResult(AgentTaskChange.VersionMismatch, task), false);
            }

            if (!AgentTaskRules.CanMove((int)task.History[^1].State, (int)next))
            {
                return (new AgentTaskResult(AgentTaskChange.InvalidTransition, task), false);
            }

            var version = task.Version + 1;
            var history = AgentTaskRules.KeepNewest([.. task.History, new AgentTaskStatus(version, next, message, clock.NowMs)], AgentTaskLimits.MaxHistory);
            s.Task = task with { Version = version, History = history };
            return (new AgentTaskResult(AgentTaskChange.Done, s.Task), true);
        });
    }

    public Task<AgentTaskResult> AddArtifactAsync(string? name, string? mimeType, string data, VersionMatch? ifMatch)
    {
        if (data is null || Encoding.UTF8.GetByteCount(data) > AgentTaskLimits.MaxArtifactBytes)
        {
            throw new CoordinatorValidationException("data", $"data is required and must be at most {AgentTaskLimits.MaxArtifactBytes} bytes.");
        }

        if (name is { Length: > 256 } || mimeType is { Length: > 128 })
        {
            throw new CoordinatorValidationException(name is { Length: > 256 } ? "name" : "mimeType", "name must be at most 256 characters and mimeType at most 128.");
        }

        return ChangeAsync(s =>
        {
            if (s.Task is not { } task)
            {
                return (new AgentTaskResult(AgentTaskChange.NotFound, null), false);
            }

            if (ifMatch is not null && !ifMatch.MatchesStrongly(task.Version))
            {
                return (new AgentTaskResult(AgentTaskChange.VersionMismatch, task), false);
            }

            var bytes = Encoding.UTF8.GetByteCount(data);
            var total = task.Artifacts.Sum(a => (long)Encoding.UTF8.GetByteCount(a.Data));
            if (!AgentTaskRules.ArtifactFits(task.Artifacts.Length, total, bytes, AgentTaskLimits.MaxArtifacts, AgentTaskLimits.MaxArtifactTotalBytes))
            {
                return (new AgentTaskResult(AgentTaskChange.ArtifactLimit, task), false);
            }

            var artifact = new AgentTaskArtifact(GrainKeys.NewOpaqueId(), name, mimeType ?? "text/plain", data, clock.NowMs);
            s.Task = task with { Version = task.Version + 1, Artifacts = [.. task.Artifacts, artifact] };
            return (new AgentTaskResult(AgentTaskChange.Done, s.Task), true);
        });
    }

    public async Task<AgentTaskStatus[]?> WaitForStatusAsync(long afterVersion, int waitMs)
    {
        if (waitMs is < 0 or > AgentTaskLimits.MaxWaitMs)
        {
            throw new CoordinatorValidationException("waitMs", $"waitMs must be between 0 and {AgentTaskLimits.MaxWaitMs}.");
        }

        var changed = _changed.Task;
        if (_saved is not { } task)
        {
            return null;
        }

        var news = task.History.Where(h => h.Version > afterVersion).ToArray();
        if (news.Length > 0 || waitMs == 0 || AgentTaskLimits.IsTerminal(task.History[^1].State))
        {
            return news;
        }

        try
        {
            await changed.WaitAsync(TimeSpan.FromMilliseconds(waitMs), clock.TimeProvider);
        }
        catch (TimeoutException)
        {
            return [];
        }

        return _saved?.History.Where(h => h.Version > afterVersion).ToArray() ?? [];
    }

    private static Events.OutboxEvent Announcement(AgentTask written)
    {
        var status = written.History[^1];
        return new(written.Tenant, $"task/{GrainKeys.EscapeKeyPart(written.TaskId)}/{written.Version}", "task.status_changed",
            System.Text.Json.JsonSerializer.Serialize(new
            {
                taskId = written.TaskId,
                contextId = written.ContextId,
                state = AgentTaskLimits.Name(status.State),
                message = status.Message,
                version = written.Version,
            }));
    }

    /// <summary>One ETag-checked decide-and-write at a time; waiters are woken after a write.</summary>
    private async Task<AgentTaskResult> ChangeAsync(Func<AgentTaskGrainState, (AgentTaskResult Result, bool Changed)> decide)
    {
        AgentTaskResult result;
        await _writes.WaitAsync();
        try
        {
            var wrote = false;
            try
            {
                result = await state.UpdateAsync<AgentTaskGrainState, AgentTaskResult>(s =>
                {
                    var (r, changed) = decide(s);
                    wrote = changed;
                    if (changed && r.Task is { } written && written.History[^1].Version == written.Version)
                    {
                        // A status change (or the creation): its announcement is saved with it, then relayed.
                        s.Outbox.Add(Announcement(written));
                    }

                    return (r, changed);
                });
            }
            catch
            {
                _relay?.ScheduleRetry(); // a write that failed may still have been applied: its announcement is relayed later
                throw;
            }
            finally
            {
                _saved = state.State.Task; // saved, or reloaded by the update when its write failed
                _savedOutbox = [.. state.State.Outbox];
            }

            if (wrote)
            {
                Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        }
        finally
        {
            _writes.Release();
        }

        await _relay!.FlushAsync();
        return result;
    }

    /// <summary>Drops relayed announcements from the state (one write, in turn with the changes).</summary>
    private async Task RemoveAnnouncedAsync(IReadOnlyCollection<string> published)
    {
        await _writes.WaitAsync();
        try
        {
            await state.UpdateAsync(s => (true, Events.EventOutboxRelay.RemoveRelayed(s.Outbox, published)));
        }
        finally
        {
            _saved = state.State.Task;
            _savedOutbox = [.. state.State.Outbox];
            _writes.Release();
        }
    }
}

/// <summary>Single writer over an A2A context's task ids; persisted before the answer.</summary>
internal sealed class AgentContextGrain(
    [PersistentState("agentContext", CoordinatorStorage.Name)] IPersistentState<AgentContextGrainState> state) : Grain, IAgentContextGrain
{
    public Task AddAsync(string taskId)
        => state.UpdateAsync(s =>
        {
            if (s.TaskIds.Contains(taskId, StringComparer.Ordinal))
            {
                return (true, false);
            }

            s.TaskIds = [.. AgentTaskRules.KeepNewest([.. s.TaskIds, taskId], AgentTaskLimits.MaxTasksPerContext)];
            return (true, true);
        });

    public Task<string[]> ListAsync() => Task.FromResult(state.State.TaskIds.ToArray());
}
