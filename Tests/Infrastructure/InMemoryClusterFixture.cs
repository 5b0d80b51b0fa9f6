using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A TestCluster with the coordinator grains on in-memory storage and a fake application clock
/// (Orleans' own timers keep real time). Configured exactly as another team would: one
/// <see cref="CoordinatorSiloBuilderExtensions.AddCoordinator"/> call.
/// </summary>
public sealed class InMemoryClusterFixture : IAsyncLifetime
{
    /// <summary>The clock every silo of this fixture reads; tests move it.</summary>
    public static FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async ValueTask InitializeAsync()
    {
        var builder = new TestClusterBuilder(initialSilosCount: 1);
        builder.ConfigureHostConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Leases:DefaultMaxConnections"] = "3",
            ["Leases:DefaultByteBudget"] = "1000",
            ["Leases:DefaultBudgetWindow"] = "00:01:00",
            ["Mappings:DefaultDestination"] = "legacy",
        }));
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.Services.AddSingleton(new CoordinatorClock(Time));
            siloBuilder.AddCoordinator();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class InMemoryClusterCollection : ICollectionFixture<InMemoryClusterFixture>
{
    public const string Name = "in-memory cluster";
}
