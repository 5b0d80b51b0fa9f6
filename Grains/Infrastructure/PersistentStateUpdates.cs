using Orleans.Storage;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>Decide-then-write for grain state that must be exactly-once.</summary>
internal static class PersistentStateUpdates
{
    private const int MaxAttempts = 3;

    /// <summary>
    /// Runs <paramref name="decide"/> on the state and, when it changed something, writes it (ETag-checked)
    /// before returning. If another activation wrote first, reloads and decides again on what it wrote;
    /// if the write fails otherwise, reloads so the unacknowledged change is not kept, and rethrows.
    /// </summary>
    public static async Task<T> UpdateAsync<TState, T>(this IPersistentState<TState> state, Func<TState, (T Result, bool Changed)> decide)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (result, changed) = decide(state.State);
            if (!changed)
            {
                return result;
            }

            try
            {
                await state.WriteStateAsync();
                return result;
            }
            catch (InconsistentStateException) when (attempt < MaxAttempts)
            {
                await state.ReadStateAsync();
            }
            catch
            {
                await TryReloadAsync(state);
                throw;
            }
        }
    }

    private static async Task TryReloadAsync<TState>(IPersistentState<TState> state)
    {
        try
        {
            await state.ReadStateAsync();
        }
        catch (Exception)
        {
            // Storage is down: the caller gets the original error; the next call's write is ETag-checked anyway.
        }
    }
}
