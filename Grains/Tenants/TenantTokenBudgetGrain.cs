using System.Security.Cryptography;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Grains.Tenants;

/// <summary>Single writer over a tenant's <see cref="TokenBudgetBook"/>; every acknowledged change is persisted first.</summary>
internal sealed class TenantTokenBudgetGrain(
    [PersistentState("tokens", CoordinatorStorage.Name)] IPersistentState<TenantTokenBudgetState> state,
    CoordinatorClock clock,
    Microsoft.Extensions.Logging.ILogger<TenantTokenBudgetGrain> logger) : Grain, ITenantTokenBudgetGrain
{
    private Events.EventOutboxRelay? _relay;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _relay = Events.EventOutboxRelay.Start(this, GrainFactory, logger, () => state.State.Outbox,
            published => state.UpdateAsync(s => (true, Events.EventOutboxRelay.RemoveRelayed(s.Outbox, published))));
        return Task.CompletedTask;
    }

    public Task<TokenBudgetSnapshot> SetBudgetAsync(long budget, TokenBudgetPeriod period)
    {
        if (budget < 0 || budget > TokenBudgetLimits.MaxTokens)
        {
            throw new CoordinatorValidationException("budget", $"budget must be between 0 and {TokenBudgetLimits.MaxTokens}.");
        }

        if (!Enum.IsDefined(period))
        {
            throw new CoordinatorValidationException("period", "period must be day or month.");
        }

        return state.UpdateAsync(s =>
        {
            var now = clock.NowMs;
            var book = Load(s);
            book.Configure(budget, period == TokenBudgetPeriod.Month ? TokenBudgetPeriodKind.Month : TokenBudgetPeriodKind.Day, now);
            book.Advance(now);
            Save(s, book);
            s.Configured = true;
            return (Snapshot(book, now), true);
        });
    }

    public Task<TokenReserveResult?> ReserveAsync(long tokens, long ttlMs)
    {
        TokenBudgetLimits.ValidateReserve(tokens, ttlMs);

        return state.UpdateAsync<TenantTokenBudgetState, TokenReserveResult?>(s =>
        {
            if (!s.Configured)
            {
                return (null, false);
            }

            var now = clock.NowMs;
            var book = Load(s);
            var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            var outcome = book.Reserve(now, id, tokens, now + ttlMs);
            Save(s, book);
            return (new TokenReserveResult(outcome.Granted, outcome.Granted ? id : null, outcome.Remaining, outcome.ResetAtMs), true);
        });
    }

    public async Task<TokenCommitResult?> CommitAsync(string reservationId, long actualTokens)
    {
        TokenBudgetLimits.ValidateCommit(actualTokens);
        var result = await state.UpdateAsync<TenantTokenBudgetState, TokenCommitResult?>(s =>
        {
            if (!s.Configured)
            {
                return (null, false);
            }

            var book = Load(s);
            var outcome = book.Commit(clock.NowMs, reservationId, actualTokens);
            Save(s, book);
            var announced = s.AnnouncedPeriodStartMs == book.PeriodStartMs ? s.AnnouncedPercent : 0;
            var crossed = TokenBudgetThresholds.Next(announced, book.Used, book.Budget);
            if (crossed is { } percent)
            {
                // Recorded with the usage in one write, and its announcement with it: each threshold once per period.
                (s.AnnouncedPeriodStartMs, s.AnnouncedPercent) = (book.PeriodStartMs, percent);
                s.Outbox.Add(new Events.OutboxEvent(this.GetPrimaryKeyString(), $"token_budget/{book.PeriodStartMs}/{percent}", "token_budget.threshold",
                    System.Text.Json.JsonSerializer.Serialize(new { percent, used = outcome.Used, budget = book.Budget, remaining = outcome.Remaining, periodStartMs = book.PeriodStartMs })));
            }

            return (new TokenCommitResult(outcome.Found, outcome.Returned, outcome.Used, outcome.Remaining), true);
        });

        await _relay!.FlushAsync();
        return result;
    }

    public Task<TokenBudgetSnapshot?> GetSnapshotAsync()
    {
        if (!state.State.Configured)
        {
            return Task.FromResult<TokenBudgetSnapshot?>(null);
        }

        var now = clock.NowMs;
        var book = Load(state.State);
        book.Advance(now);
        return Task.FromResult<TokenBudgetSnapshot?>(Snapshot(book, now));
    }

    private static TokenBudgetSnapshot Snapshot(TokenBudgetBook book, long now) => new(
        book.Budget,
        book.Period == TokenBudgetPeriodKind.Month ? TokenBudgetPeriod.Month : TokenBudgetPeriod.Day,
        book.Used,
        book.Reserved(now),
        book.ResetAtMs);

    private static TokenBudgetBook Load(TenantTokenBudgetState s) => new(
        s.Budget,
        s.Period == nameof(TokenBudgetPeriodKind.Month) ? TokenBudgetPeriodKind.Month : TokenBudgetPeriodKind.Day,
        s.PeriodStartMs,
        s.Used,
        s.Reservations.Select(r => new TokenReservation(r.Id, r.Tokens, r.ExpiresAtMs)));

    private static void Save(TenantTokenBudgetState s, TokenBudgetBook book)
    {
        s.Budget = book.Budget;
        s.Period = book.Period.ToString();
        s.PeriodStartMs = book.PeriodStartMs;
        s.Used = book.Used;
        s.Reservations = [.. book.Reservations.Select(r => new TokenReservationEntry { Id = r.Id, Tokens = r.Tokens, ExpiresAtMs = r.ExpiresAtMs })];
    }
}
