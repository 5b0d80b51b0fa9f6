namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// A check a coordinator process runs after its host is built and before it starts (the hosts' startup preflight),
/// e.g. that Redis answers and accepts the credentials. A failure throws
/// <see cref="CoordinatorConfigurationException"/> whose message is the one line the process prints before it exits
/// with code 2.
/// </summary>
public interface IStartupCheck
{
    /// <summary>Throws <see cref="CoordinatorConfigurationException"/> when the process cannot work as configured.</summary>
    Task CheckAsync(CancellationToken cancellationToken);
}
