using System.Text;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>The persisted rate-limit domains of a deployment.</summary>
[GenerateSerializer, Alias("coordinator.RateLimitDomainsState")]
public sealed class RateLimitDomainsState
{
    /// <summary>Grows by one with every change; every domain's version is the revision that wrote it.</summary>
    [Id(0)]
    public long Revision { get; set; }

    /// <summary>The domains by name.</summary>
    [Id(1)]
    public Dictionary<string, RateLimitDomainDocument> Domains { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Single writer over the fleet's rate-limit domains. Reads and watches interleave with writes and answer the last
/// saved snapshot; a write completes every waiting watch once it is persisted.
/// </summary>
/// <remarks>
/// Storage is read again every <see cref="RefreshPeriod"/>: while membership changes, a second activation may take a
/// write, and the watches waiting here would not hear of it; the refresh bounds that to 10 s.
/// </remarks>
internal sealed class RateLimitDomainsGrain(
    [PersistentState("ratelimit-domains", CoordinatorStorage.Name)] IPersistentState<RateLimitDomainsState> state,
    CoordinatorClock clock) : Grain, IRateLimitDomainsGrain
{
    private static readonly TimeSpan RefreshPeriod = TimeSpan.FromSeconds(10);

    private RateLimitDomainSet _saved = RateLimitDomainSet.Empty;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _saved = Snapshot(state.State);
        this.RegisterGrainTimer(RefreshAsync, new GrainTimerCreationOptions { DueTime = RefreshPeriod, Period = RefreshPeriod, Interleave = false });
        return Task.CompletedTask;
    }

    /// <summary>Reads storage again (between writes: the timer does not interleave) and publishes what another activation wrote.</summary>
    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await state.ReadStateAsync(cancellationToken);
        Publish();
    }

    public Task<RateLimitDomainSet> GetAllAsync() => Task.FromResult(_saved);

    public async Task<RateLimitDomainSet?> WatchAsync(long knownRevision, TimeSpan maxWait)
    {
        if (maxWait <= TimeSpan.Zero || maxWait > RateLimitDomainLimits.MaxWatch)
        {
            throw new CoordinatorValidationException("maxWait", $"the wait must be above zero and at most {RateLimitDomainLimits.MaxWatch.TotalSeconds} s.");
        }

        var changed = _changed.Task;
        if (_saved.Revision != knownRevision)
        {
            return _saved;
        }

        try
        {
            await changed.WaitAsync(maxWait);
        }
        catch (TimeoutException)
        {
            return _saved.Revision != knownRevision ? _saved : null;
        }

        return _saved;
    }

    public async Task<TenantConfigWriteResult> PutAsync(string domain, string text, string mediaType, VersionPrecondition precondition)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(precondition);
        if (!RateLimitDomainLimits.TryDomain(domain, out var error))
        {
            throw new CoordinatorValidationException("domain", error);
        }

        if (mediaType is not ("application/yaml" or "application/json"))
        {
            throw new CoordinatorValidationException("mediaType", "the media type must be application/yaml or application/json.");
        }

        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > RateLimitDomainLimits.MaxDocumentBytes)
        {
            throw new CoordinatorValidationException("body", $"a domain's configuration must be at most {RateLimitDomainLimits.MaxDocumentBytes} bytes.");
        }

        return await WriteAsync(s =>
        {
            var current = s.Domains.GetValueOrDefault(domain);
            if (precondition.Evaluate(current?.Version ?? 0, safeMethod: false) != PreconditionOutcome.Proceed)
            {
                return (new TenantConfigWriteResult(false, current?.Version ?? 0), false);
            }

            if (current is null && s.Domains.Count >= RateLimitDomainLimits.MaxDomains)
            {
                throw new CoordinatorValidationException("domain", $"at most {RateLimitDomainLimits.MaxDomains} domains may be written through the API.");
            }

            var total = s.Domains.Values.Where(d => d.Domain != domain).Sum(d => (long)Encoding.UTF8.GetByteCount(d.Text)) + bytes;
            if (total > RateLimitDomainLimits.MaxTotalBytes)
            {
                throw new CoordinatorValidationException("body", $"every domain's configuration together must be at most {RateLimitDomainLimits.MaxTotalBytes} bytes.");
            }

            s.Revision = NextRevision(s);
            s.Domains[domain] = new RateLimitDomainDocument(domain, text, mediaType, s.Revision);
            return (new TenantConfigWriteResult(true, s.Revision), true);
        });
    }

    public Task<TenantConfigWriteResult> DeleteAsync(string domain, VersionPrecondition precondition)
    {
        ArgumentNullException.ThrowIfNull(precondition);
        return WriteAsync(s =>
        {
            if (!s.Domains.TryGetValue(domain ?? "", out var current))
            {
                return (new TenantConfigWriteResult(false, 0), false);
            }

            if (precondition.Evaluate(current.Version, safeMethod: false) != PreconditionOutcome.Proceed)
            {
                return (new TenantConfigWriteResult(false, current.Version), false);
            }

            s.Revision = NextRevision(s);
            s.Domains.Remove(current.Domain);
            return (new TenantConfigWriteResult(true, current.Version), true);
        });
    }

    /// <summary>One ETag-checked write; once it is persisted the saved snapshot moves on and every waiting watch is answered.</summary>
    private async Task<TenantConfigWriteResult> WriteAsync(Func<RateLimitDomainsState, (TenantConfigWriteResult, bool)> decide)
    {
        var result = await state.UpdateAsync(decide); // a failed write is reloaded by UpdateAsync and never shown
        Publish();
        return result;
    }

    /// <summary>When the stored revision moved: the saved snapshot follows and every waiting watch is answered.</summary>
    private void Publish()
    {
        if (state.State.Revision != _saved.Revision)
        {
            _saved = Snapshot(state.State);
            var changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            changed.TrySetResult();
        }
    }

    /// <summary>
    /// The next revision: above the last, and at least now in Unix ms, so revisions (and the ETags built from them)
    /// keep growing even if the stored set was lost (Redis flushed): gateways never take a new set for an old one.
    /// </summary>
    private long NextRevision(RateLimitDomainsState s) => Math.Max(s.Revision + 1, clock.NowMs);

    private static RateLimitDomainSet Snapshot(RateLimitDomainsState s)
        => new(s.Revision, [.. s.Domains.Values.OrderBy(d => d.Domain, StringComparer.Ordinal)]);
}
