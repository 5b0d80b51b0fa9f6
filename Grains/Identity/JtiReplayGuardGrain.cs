using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Identity;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>
/// One token's replay guard. The store's atomic set-if-absent is the truth (duplicate activations and
/// restarts cannot both see a first use); the activation only remembers the answer to refuse replays
/// from memory. Activations are collected soon after their last use, which bounds silo memory.
/// </summary>
[CollectionAgeLimit(Minutes = 2)]
internal sealed class JtiReplayGuardGrain(IJtiStore store, CoordinatorClock clock) : Grain, IJtiReplayGuardGrain
{
    private long _refusedUntilMs;

    public async Task<JtiCheckResult> CheckAsync(long refuseUntilMs)
    {
        var now = clock.NowMs;
        if (now < _refusedUntilMs)
        {
            return new JtiCheckResult(false, _refusedUntilMs);
        }

        var ttl = Math.Max(1, refuseUntilMs - now);
        var first = await store.TryMarkAsync(this.GetPrimaryKeyString(), ttl);
        _refusedUntilMs = Math.Max(refuseUntilMs, now + 1);
        return new JtiCheckResult(first, _refusedUntilMs);
    }
}
