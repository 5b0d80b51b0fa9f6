using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Approvals;
using Orleans.Concurrency;

namespace Orleans.Coordinator.Grains.Approvals;

/// <summary>An approval's persisted state.</summary>
[GenerateSerializer, Alias("coordinator.ApprovalGrainState")]
public sealed class ApprovalGrainState
{
    /// <summary>The approval; null before it is created.</summary>
    [Id(0)]
    public ApprovalRecord? Record { get; set; }

    /// <summary>Announcements saved with the change they report, not yet in the tenant's feed.</summary>
    [Id(1)]
    public List<Events.OutboxEvent> Outbox { get; set; } = [];
}

/// <summary>A tenant's persisted approval queue.</summary>
[GenerateSerializer, Alias("coordinator.ApprovalQueueState")]
public sealed class ApprovalQueueState
{
    /// <summary>The lines, oldest first.</summary>
    [Id(0)]
    public List<ApprovalSummary> Lines { get; set; } = [];
}

/// <summary>
/// Single writer over one approval (<see cref="ApprovalRules"/>). Reentrant so that long polls do not hold up the
/// decision they wait for; each change is one synchronous decision followed by an ETag-checked write (a second
/// activation's write loses and re-decides on what won). The expiry is a durable reminder.
/// </summary>
[Reentrant]
internal sealed class ApprovalGrain(
    [PersistentState("approval", CoordinatorStorage.Name)] IPersistentState<ApprovalGrainState> state,
    CoordinatorClock clock,
    Microsoft.Extensions.Logging.ILogger<ApprovalGrain> logger) : Grain, IApprovalGrain, IRemindable
{
    private Events.EventOutboxRelay? _relay;
    private Events.OutboxEvent[] _savedOutbox = []; // what the relay sends: only saved announcements

    private const string ExpiryReminder = "expire";
    private readonly SemaphoreSlim _writes = new(1, 1);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The approval as last saved. Reads use it, never <c>state.State</c>: a change is made on the state before its write
    /// completes, and this grain is reentrant, so a read during the write could otherwise answer what may yet be lost.
    /// </summary>
    private ApprovalRecord? _saved;


    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _saved = state.State.Record;
        _savedOutbox = [.. state.State.Outbox];
        _relay = Events.EventOutboxRelay.Start(this, GrainFactory, logger, () => _savedOutbox,
            published => WriteAsync(s => (s.Record, Events.EventOutboxRelay.RemoveRelayed(s.Outbox, published))));
        return Task.CompletedTask;
    }

    public async Task<ApprovalRecord> CreateAsync(string tenant, ApprovalRequest request)
    {
        ApprovalLimits.Validate(request);
        var id = this.GetPrimaryKeyString().Split('/')[^1];
        if (!GrainKeys.TryOpaqueId(id, "approvalId", out _, out var error) || GrainKeys.Approval(tenant, id) != this.GetPrimaryKeyString())
        {
            throw new CoordinatorValidationException("approvalId", "the approval's key must be GrainKeys.Approval(tenant, a new opaque id): " + (error ?? "the tenant does not match."));
        }

        if (_saved is null)
        {
            // The reminder first: an approval is never stored without its expiry (a reminder without an approval removes
            // itself when it fires).
            await this.RegisterOrUpdateReminder(ExpiryReminder, TimeSpan.FromMilliseconds(request.ExpiresInMs), CoordinatorSiloBuilderExtensions.ReminderPeriod);
        }

        var record = (await WriteAsync(s =>
        {
            if (s.Record is not null)
            {
                return (s.Record, false);
            }

            var now = clock.NowMs;
            s.Record = new ApprovalRecord(id, tenant, request.Agent, request.Action, request.PayloadJson,
                request.SessionId, now, now + request.ExpiresInMs, ApprovalStatus.Pending, null, null, 0);
            s.Outbox.Add(Announcement("approval.requested", s.Record));
            return (s.Record, true);
        }))!;

        await QueueAsync(record);
        await _relay!.FlushAsync();
        return record;
    }

    public async Task<ApprovalRecord?> GetAsync(int waitMs = 0)
    {
        ApprovalLimits.ValidateWait(waitMs);
        var record = await ExpireIfDueAsync();
        if (record is not { Status: ApprovalStatus.Pending } || waitMs == 0)
        {
            return record;
        }

        var wait = Math.Min(waitMs, Math.Max(0, record.ExpiresAtMs - clock.NowMs));
        try
        {
            await _changed.Task.WaitAsync(TimeSpan.FromMilliseconds(wait), clock.TimeProvider);
        }
        catch (TimeoutException)
        {
            // Answered below as it stands.
        }

        return await ExpireIfDueAsync();
    }

    public async Task<ApprovalDecision> DecideAsync(bool approve, string reviewer, string? comment)
    {
        ApprovalLimits.ValidateDecision(reviewer, comment);
        var decided = false;
        var record = await WriteAsync(s =>
        {
            decided = false;
            if (s.Record is not { } current)
            {
                return (null, false);
            }

            var now = clock.NowMs;
            var next = ApprovalRules.Decide(ToState(current.Status), current.ExpiresAtMs, now, approve);
            if (next is not { } status)
            {
                // Already final: an expiry not yet written is written now.
                var at = ApprovalRules.At(ToState(current.Status), current.ExpiresAtMs, now);
                if (at == ToState(current.Status))
                {
                    return (current, false);
                }

                s.Record = current with { Status = ApprovalStatus.Expired, DecidedAtMs = current.ExpiresAtMs };
                s.Outbox.Add(Announcement("approval.expired", s.Record));
                return (s.Record, true);
            }

            decided = true;
            s.Record = current with { Status = FromState(status), Reviewer = reviewer, Comment = comment, DecidedAtMs = now };
            s.Outbox.Add(Announcement("approval.decided", s.Record));
            return (s.Record, true);
        });

        if (record is not null)
        {
            await _relay!.FlushAsync();
            await SettledAsync(record);
        }

        return new ApprovalDecision(decided, record);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        var record = await ExpireIfDueAsync();
        await _relay!.FlushAsync();
        if (record is not { Status: ApprovalStatus.Pending } && !_relay.HasPending)
        {
            if (await this.GetReminder(ExpiryReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
    }

    /// <summary>The approval, with a due expiry written first (and announced to the queue and waiters).</summary>
    private async Task<ApprovalRecord?> ExpireIfDueAsync()
    {
        if (_saved is not { } current || current.Status != ApprovalStatus.Pending || clock.NowMs < current.ExpiresAtMs)
        {
            return _saved;
        }

        var record = await WriteAsync(s =>
        {
            if (s.Record is not { Status: ApprovalStatus.Pending } pending || clock.NowMs < pending.ExpiresAtMs)
            {
                return (s.Record, false);
            }

            s.Record = pending with { Status = ApprovalStatus.Expired, DecidedAtMs = pending.ExpiresAtMs };
            s.Outbox.Add(Announcement("approval.expired", s.Record));
            return (s.Record, true);
        });

        if (record is not null)
        {
            await _relay!.FlushAsync();
            await SettledAsync(record);
        }

        return record;
    }

    /// <summary>After a final state: the queue is told, the long polls answered, the reminder dropped.</summary>
    private async Task SettledAsync(ApprovalRecord record)
    {
        if (record.Status == ApprovalStatus.Pending)
        {
            return;
        }

        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        await QueueAsync(record);
        // The reminder stays while an announcement waits: it relays it after a silo loss.
        if (!_relay!.HasPending && await this.GetReminder(ExpiryReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <summary>The announcement of a change, saved with it (each status is announced once: the key names it).</summary>
    private static Events.OutboxEvent Announcement(string type, ApprovalRecord record)
        => new(record.Tenant, $"approval/{GrainKeys.EscapeKeyPart(record.ApprovalId)}/{type}", type, System.Text.Json.JsonSerializer.Serialize(new
        {
            approvalId = record.ApprovalId,
            agent = record.Agent,
            action = record.Action,
            sessionId = record.SessionId,
            status = record.Status.ToString().ToLowerInvariant(),
            reviewer = record.Reviewer,
            expiresAtMs = record.ExpiresAtMs,
        }));

    private Task QueueAsync(ApprovalRecord record)
        => GrainFactory.GetGrain<IApprovalQueueGrain>(record.Tenant).UpsertAsync(
            new ApprovalSummary(record.ApprovalId, record.Agent, record.Action, record.CreatedAtMs, record.ExpiresAtMs, record.Status));

    /// <summary>One ETag-checked decide-and-write at a time (the grain is reentrant for its long polls).</summary>
    private async Task<ApprovalRecord?> WriteAsync(Func<ApprovalGrainState, (ApprovalRecord? Result, bool Changed)> decide)
    {
        await _writes.WaitAsync();
        try
        {
            var result = await state.UpdateAsync(decide);
            _saved = state.State.Record;
            _savedOutbox = [.. state.State.Outbox];
            return result;
        }
        catch
        {
            _saved = state.State.Record; // reloaded by the update when its write failed
            _savedOutbox = [.. state.State.Outbox];
            _relay?.ScheduleRetry(); // a write that failed may still have been applied: its announcement is relayed later
            throw;
        }
        finally
        {
            _writes.Release();
        }
    }

    private static ApprovalState ToState(ApprovalStatus status) => (ApprovalState)(int)status;

    private static ApprovalStatus FromState(ApprovalState state) => (ApprovalStatus)(int)state;
}

/// <summary>Single writer over a tenant's <see cref="ApprovalQueue"/>; every change persisted before the answer.</summary>
internal sealed class ApprovalQueueGrain(
    [PersistentState("approvalQueue", CoordinatorStorage.Name)] IPersistentState<ApprovalQueueState> state,
    CoordinatorClock clock) : Grain, IApprovalQueueGrain
{
    public Task UpsertAsync(ApprovalSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return state.UpdateAsync(s =>
        {
            var queue = Load(s);
            if (!queue.Upsert(ToLine(summary), ApprovalLimits.DecidedKept))
            {
                return (true, false);
            }

            s.Lines = [.. queue.Lines.Select(ToSummary)];
            return (true, true);
        });
    }

    public Task<ApprovalPage> ListAsync(ApprovalStatus? status, string? cursor, int limit)
    {
        if (limit is < 1 or > ApprovalLimits.MaxPageSize)
        {
            throw new CoordinatorValidationException("limit", $"limit must be between 1 and {ApprovalLimits.MaxPageSize}.");
        }

        if (cursor is not null && !ApprovalQueue.IsCursor(cursor))
        {
            throw new CoordinatorValidationException("cursor", "cursor is not one this list gave out.");
        }

        var (items, next) = Load(state.State).Page(status is { } s ? (ApprovalState)(int)s : null, cursor, limit, clock.NowMs);
        return Task.FromResult(new ApprovalPage([.. items.Select(ToSummary)], next));
    }

    private static ApprovalQueue Load(ApprovalQueueState s) => new(s.Lines.Select(ToLine));

    private static ApprovalLine ToLine(ApprovalSummary s) => new(s.ApprovalId, s.Agent, s.Action, s.CreatedAtMs, s.ExpiresAtMs, (ApprovalState)(int)s.Status);

    private static ApprovalSummary ToSummary(ApprovalLine l) => new(l.Id, l.Agent, l.Action, l.CreatedAtMs, l.ExpiresAtMs, (ApprovalStatus)(int)l.State);
}
