using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Hosting;

/// <summary>The <c>Gateway</c> configuration section.</summary>
public sealed class CoordinatorGatewayOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Gateway";

    /// <summary>
    /// Port of the h2c gRPC endpoint (Envoy rate-limit service), on the same address as the HTTP API.
    /// 0 picks a free port; -1 turns the endpoint off.
    /// </summary>
    public int GrpcPort { get; set; } = 8081;

    /// <summary>
    /// How long a gateway serves tenant policies and configuration from its own cache: a change made
    /// through another gateway is seen within this time (through this one, at once).
    /// </summary>
    public TimeSpan TenantCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <inheritdoc/>
    public IEnumerable<string> Validate()
    {
        if (GrpcPort is < -1 or > 65535)
        {
            yield return "Gateway:GrpcPort must be between -1 (off) and 65535.";
        }

        if (TenantCacheTtl < TimeSpan.Zero || TenantCacheTtl > TimeSpan.FromMinutes(10))
        {
            yield return "Gateway:TenantCacheTtl must be between 00:00:00 and 00:10:00.";
        }
    }
}
