using Orleans.Concurrency;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Identity;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>The index behind "log out everywhere": which sessions a subject may still have.</summary>
internal sealed class SubjectSessionsGrain(
    [PersistentState("sessions", CoordinatorStorage.Name)] IPersistentState<SubjectSessionsState> state,
    CoordinatorClock clock) : Grain, ISubjectSessionsGrain
{
    public Task AddAsync(string sessionId, long forgetAfterMs)
        => state.UpdateAsync(s =>
        {
            Prune(s);
            s.Sessions[sessionId] = forgetAfterMs;
            return (true, true);
        });

    public Task RemoveAsync(string sessionId)
        => state.UpdateAsync(s =>
        {
            var removed = s.Sessions.Remove(sessionId);
            return (removed, removed | Prune(s));
        });

    public async Task<int> EndAllAsync()
    {
        var ids = state.State.Sessions.Keys.ToList();
        await Task.WhenAll(ids.Select(id => GrainFactory.GetGrain<ISessionGrain>(id).EndForSubjectAsync()));
        await state.UpdateAsync(s =>
        {
            foreach (var id in ids)
            {
                s.Sessions.Remove(id);
            }

            return (true, true);
        });
        return ids.Count;
    }

    /// <summary>Drops sessions that cannot be live any more.</summary>
    private bool Prune(SubjectSessionsState s)
    {
        var now = clock.NowMs;
        var gone = s.Sessions.Where(e => e.Value <= now).Select(e => e.Key).ToList();
        foreach (var id in gone)
        {
            s.Sessions.Remove(id);
        }

        return gone.Count > 0;
    }
}
