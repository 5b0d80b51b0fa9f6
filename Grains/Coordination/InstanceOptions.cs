using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Grains.Coordination;

/// <summary>The <c>Instances</c> configuration section (silos): heartbeat timing.</summary>
public sealed class InstanceOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Instances";

    /// <summary>How often instances are told to beat.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Silence after which an instance is declared dead and its leases released.</summary>
    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a dead instance stays listed before it is forgotten.</summary>
    public TimeSpan ForgetAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often a live instance re-registers with its registry shard (self-healing after a silo loss).</summary>
    public TimeSpan RegistryRefresh { get; set; } = TimeSpan.FromSeconds(30);

    /// <inheritdoc/>
    public IEnumerable<string> Validate()
    {
        if (HeartbeatInterval < TimeSpan.FromMilliseconds(100) || HeartbeatInterval > TimeSpan.FromMinutes(5))
        {
            yield return "Instances:HeartbeatInterval must be between 00:00:00.100 and 00:05:00.";
        }

        if (DeadAfter <= HeartbeatInterval || DeadAfter > TimeSpan.FromHours(1))
        {
            yield return "Instances:DeadAfter must be longer than Instances:HeartbeatInterval and at most 01:00:00.";
        }

        if (ForgetAfter < TimeSpan.Zero || ForgetAfter > TimeSpan.FromDays(7))
        {
            yield return "Instances:ForgetAfter must be between 00:00:00 and 7.00:00:00.";
        }

        if (RegistryRefresh < TimeSpan.FromSeconds(1) || RegistryRefresh > TimeSpan.FromHours(1))
        {
            yield return "Instances:RegistryRefresh must be between 00:00:01 and 01:00:00.";
        }
    }
}
