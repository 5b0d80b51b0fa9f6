using System.Text;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Leases;

namespace Orleans.Coordinator.Tests.Grains;

public sealed class StateSerializationTests
{
    [Fact]
    public void JsonGrainStateSerializer_RoundTrip_KeepsEveryFieldAndNoTypeNames()
    {
        // Arrange
        var serializer = new JsonGrainStateSerializer();
        var state = new UserLeaseState
        {
            MaxConnections = 4,
            Leases = [new LeaseEntry { LeaseId = "abc", InstanceId = "proxy-1", TtlMs = 60_000, AcquiredAtMs = 1, ExpiresAtMs = 60_001 }],
        };

        // Act
        var data = serializer.Serialize(state);
        var back = serializer.Deserialize<UserLeaseState>(data);

        // Assert
        var json = Encoding.UTF8.GetString(data.ToArray());
        Assert.DoesNotContain("$type", json, StringComparison.Ordinal);
        Assert.DoesNotContain(nameof(UserLeaseState), json, StringComparison.Ordinal);
        Assert.Equal(4, back.MaxConnections);
        var lease = Assert.Single(back.Leases!);
        Assert.Equal(("abc", "proxy-1", 60_000L, 1L, 60_001L), (lease.LeaseId, lease.InstanceId, lease.TtlMs, lease.AcquiredAtMs, lease.ExpiresAtMs));
    }

    [Fact]
    public void JsonGrainStateSerializer_ReadsStoredJson_WrittenByEarlierVersions()
    {
        // A stored document is plain camelCase JSON: renaming the CLR state type cannot break it.
        var stored = """{"byteBudget":null,"budgetWindowMs":5000,"windowStartMs":10,"used":7,"unknownFutureField":1}""";

        var state = new JsonGrainStateSerializer().Deserialize<UserByteBudgetState>(BinaryData.FromString(stored));

        Assert.Equal((null, 5000L, 10L, 7L), (state.ByteBudget, state.BudgetWindowMs, state.WindowStartMs, state.Used));
    }
}
