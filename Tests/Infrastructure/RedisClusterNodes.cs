using StackExchange.Redis;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A real Redis Cluster of three masters (no replicas) on loopback: three <c>redis-server</c> processes with
/// <c>cluster-enabled yes</c>, joined and given the 16384 hash slots by <c>redis-cli --cluster create</c> (Debian's
/// redis-tools, a dependency of redis-server). Dispose kills them.
/// </summary>
public sealed class RedisClusterNodes : IAsyncDisposable
{
    private RedisClusterNodes(IReadOnlyList<RedisServer> nodes) => Nodes = nodes;

    /// <summary>The three masters.</summary>
    public IReadOnlyList<RedisServer> Nodes { get; }

    /// <summary>A StackExchange.Redis configuration string naming every master (the client finds the cluster itself).</summary>
    public string ConnectionString => string.Join(',', Nodes.Select(n => n.ConnectionString));

    /// <summary>Starts three nodes, creates the cluster and waits (bounded) until every node reports <c>cluster_state:ok</c>.</summary>
    public static async Task<RedisClusterNodes> StartAsync()
    {
        var nodes = new List<RedisServer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                // The bus port must be given: by default it is the port + 10000, which passes 65535 for high free ports.
                nodes.Add(await RedisServer.StartAsync($"--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 --cluster-port {RedisServer.FreePort()}"));
            }

            var cluster = new RedisClusterNodes(nodes);
            await cluster.CreateAsync();
            return cluster;
        }
        catch
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>Opens a cluster connection for assertions.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync() => ConnectionMultiplexer.ConnectAsync($"{ConnectionString},allowAdmin=true");

    /// <summary>The master (its port) that holds <paramref name="key"/>'s hash slot, from <c>CLUSTER KEYSLOT</c> and <c>CLUSTER SLOTS</c>.</summary>
    public async Task<(int Slot, int Port)> LocateAsync(IConnectionMultiplexer connection, string key)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var server = connection.GetServer(Nodes[0].ConnectionString);
        var slot = (int)await server.ExecuteAsync("CLUSTER", "KEYSLOT", key);
        var ranges = (RedisResult[])(await server.ExecuteAsync("CLUSTER", "SLOTS"))!;
        foreach (var range in ranges.Select(r => (RedisResult[])r!))
        {
            if ((int)range[0] <= slot && slot <= (int)range[1])
            {
                return (slot, (int)((RedisResult[])range[2]!)[1]);
            }
        }

        throw new InvalidOperationException($"no master holds slot {slot}");
    }

    private async Task CreateAsync()
    {
        var result = await ExternalProgram.RunAsync("redis-cli", ["--cluster", "create", .. Nodes.Select(n => n.ConnectionString), "--cluster-replicas", "0", "--cluster-yes"], TimeSpan.FromSeconds(60));
        if (result.Code != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create failed ({result.Code}): {result.All}");
        }

        foreach (var node in Nodes)
        {
            await Wait.UntilAsync(async () =>
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync($"{node.ConnectionString},allowAdmin=true,connectTimeout=1000");
                var info = (await connection.GetServer(node.ConnectionString).ExecuteAsync("CLUSTER", "INFO")).ToString();
                return info.Contains("cluster_state:ok", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(30), $"Redis Cluster node {node.ConnectionString} to report cluster_state:ok");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
