using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Token budgets under the failure contract. While the cluster is down, reservations are charged in Redis against
/// what the grain last told this gateway was left in the current period; a tenant this gateway has not heard of
/// in this period cannot be enforced and gets the <c>TokenBudgetsWithoutRedis</c> answer (open by default).
/// Fallback reservations are charged in full until committed (they do not expire back).
/// </summary>
public sealed class ResilientTokens(IGrainFactory grains, ResilienceState state, IServiceProvider services, TimeProvider time)
{
    private readonly Remembered<TokenReserveResult> _remaining = new(state.Options.RememberedEntries);

    private FallbackStore Fallback => services.GetRequiredService<FallbackStore>();

    /// <summary>Reserves tokens; null result when the tenant has no budget.</summary>
    public async Task<(TokenReserveResult? Result, ServedMode Mode)> ReserveAsync(string tenant, long tokens, long ttlMs)
    {
        TokenBudgetLimits.ValidateReserve(tokens, ttlMs);
        var known = _remaining.TryGet(tenant, out var last) && last.ResetAtMs > time.GetUtcNow().ToUnixTimeMilliseconds() ? last : null;
        var answer = await state.DecideAsync<TokenReserveResult?>(
            state.Options.TokenBudgets,
            state.Options.TokenBudgetsWithoutRedis,
            () => grains.Get<ITenantTokenBudgetGrain>(tenant).ReserveAsync(tokens, ttlMs),
            known is null ? null : async () =>
            {
                var r = await Fallback.ReserveTokensAsync(tenant, known.Remaining, tokens, known.ResetAtMs);
                return new TokenReserveResult(r.Granted, r.ReservationId, Math.Max(0, r.Remaining), known.ResetAtMs);
            },
            () => new TokenReserveResult(true, GrainKeys.NewFallbackId(), 0, 0));
        if (answer.Mode == ServedMode.Normal && answer.Value is { } result)
        {
            _remaining.Set(tenant, result);
        }

        return answer;
    }

    /// <summary>Commits a reservation; null result when the tenant has no budget.</summary>
    public async Task<(TokenCommitResult? Result, ServedMode Mode)> CommitAsync(string tenant, string reservationId, long actual)
    {
        TokenBudgetLimits.ValidateCommit(actual);
        if (!state.IsFallbackId(reservationId))
        {
            return (await state.CallClusterAsync(() => grains.Get<ITenantTokenBudgetGrain>(tenant).CommitAsync(reservationId, actual)), ServedMode.Normal);
        }

        var budget = _remaining.TryGet(tenant, out var last) ? last.Remaining : 0;
        var r = await Fallback.CommitTokensAsync(tenant, reservationId, actual, budget);
        return (new TokenCommitResult(r.Found, r.Returned, r.Charged, Math.Max(0, r.Remaining)), ServedMode.Fallback);
    }
}
