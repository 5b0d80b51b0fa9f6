using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Storage;

namespace Orleans.Coordinator.Grains.Leases;

/// <summary>
/// Single writer over one user's <see cref="ByteBudget"/> window. Charges are answered from memory; the
/// window is flushed to storage at most <see cref="LeaseOptions.FlushInterval"/> after it changed, and on
/// deactivation. A silo crash loses at most that interval of usage (documented in the README).
/// </summary>
internal sealed partial class UserByteBudgetGrain(
    [PersistentState("bytes", CoordinatorStorage.Name)] IPersistentState<UserByteBudgetState> state,
    CoordinatorClock clock,
    IOptions<LeaseOptions> options,
    ILogger<UserByteBudgetGrain> logger) : Grain, IUserByteBudgetGrain
{
    private IGrainTimer? _flushTimer;
    private long _unflushedBytes;

    private long Budget => state.State.ByteBudget ?? options.Value.DefaultByteBudget;

    private long WindowMs => state.State.BudgetWindowMs ?? (long)options.Value.DefaultBudgetWindow.TotalMilliseconds;

    private ByteBudgetWindow Window
    {
        get => new(state.State.WindowStartMs, state.State.Used);
        set => (state.State.WindowStartMs, state.State.Used) = (value.StartMs, value.Used);
    }

    public Task<ByteBudgetResult> ConsumeBytesAsync(long bytes)
    {
        LeaseLimits.ValidateBytes(bytes);
        var before = Window;
        var (after, decision) = ByteBudget.TryConsume(before, clock.NowMs, bytes, Budget, WindowMs);
        if (after != before)
        {
            _unflushedBytes = after.StartMs == before.StartMs ? _unflushedBytes + bytes : after.Used;
            Window = after;
            ScheduleFlush();
        }

        return Task.FromResult(new ByteBudgetResult(decision.Allowed, decision.Used, decision.Budget, decision.Remaining, decision.ResetAtMs));
    }

    public async Task SetBudgetAsync(long? byteBudget, long? budgetWindowMs)
    {
        LeaseLimits.ValidateLimits(new UserLimits(null, byteBudget, budgetWindowMs));
        state.State.ByteBudget = byteBudget;
        state.State.BudgetWindowMs = budgetWindowMs;
        await FlushAsync();
    }

    public Task<ByteBudgetSnapshot> GetSnapshotAsync()
    {
        var peek = ByteBudget.Peek(Window, clock.NowMs, Budget, WindowMs);
        return Task.FromResult(new ByteBudgetSnapshot(peek.Used, peek.Budget, WindowMs, peek.ResetAtMs));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_unflushedBytes > 0 || _flushTimer is not null)
        {
            try
            {
                await FlushAsync();
            }
            catch (Exception ex)
            {
                // Deactivation cannot be retried: the loss is bounded by the flush interval, as documented.
                LogFlushFailed(logger, this.GetPrimaryKeyString(), ex.Message);
            }
        }
    }

    private void ScheduleFlush()
    {
        // One-shot timer per dirty period: idle grains cost no timer ticks.
        _flushTimer ??= this.RegisterGrainTimer(FlushOnTimerAsync, new GrainTimerCreationOptions
        {
            DueTime = options.Value.FlushInterval,
            Period = Timeout.InfiniteTimeSpan,
            Interleave = false,
        });
    }

    private async Task FlushOnTimerAsync(CancellationToken cancellationToken)
    {
        _flushTimer?.Dispose();
        _flushTimer = null;
        try
        {
            await FlushAsync();
        }
        catch (Exception ex)
        {
            // Keep the usage in memory and try again at the next interval.
            LogFlushFailed(logger, this.GetPrimaryKeyString(), ex.Message);
            ScheduleFlush();
        }
    }

    private async Task FlushAsync()
    {
        try
        {
            await state.WriteStateAsync();
            _unflushedBytes = 0;
        }
        catch (InconsistentStateException)
        {
            // A duplicate activation flushed too. Take its state and add what only this one has seen in
            // the same window, so neither activation's charges are lost.
            var mine = Window;
            var (budget, window) = (state.State.ByteBudget, state.State.BudgetWindowMs);
            await state.ReadStateAsync();
            (state.State.ByteBudget, state.State.BudgetWindowMs) = (budget, window);
            if (state.State.WindowStartMs == mine.StartMs)
            {
                state.State.Used += _unflushedBytes;
            }
            else if (mine.StartMs > state.State.WindowStartMs)
            {
                Window = mine;
            }

            await state.WriteStateAsync();
            _unflushedBytes = 0;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Flushing byte usage of user grain {User} failed; retrying at the next interval: {Reason}")]
    private static partial void LogFlushFailed(ILogger logger, string user, string reason);
}
