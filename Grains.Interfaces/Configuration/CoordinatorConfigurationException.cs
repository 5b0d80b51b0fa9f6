namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// The process cannot start because of its configuration or of what the configuration points at (a Redis
/// that refuses the credentials). Hosts print its message as one line and exit with code 2.
/// </summary>
public sealed class CoordinatorConfigurationException(string message, Exception? inner = null) : InvalidOperationException(message, inner);
