using System.Net;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// The <c>Orleans</c> configuration section: cluster identity, silo endpoints and the failure-detection
/// timings. The defaults detect a <c>kill -9</c>'d silo in about 2 to 3 seconds instead of Orleans' 10 to 30.
/// </summary>
public sealed class CoordinatorClusterOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Orleans";

    /// <summary>The cluster id: silos and gateways with the same id and service id form one cluster.</summary>
    public string ClusterId { get; set; } = "coordinator";

    /// <summary>The service id: with the key prefix, keeps two deployments on one Redis apart.</summary>
    public string ServiceId { get; set; } = "coordinator";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (gateways, internal services) connect to.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>The address silos listen on and advertise. Keep it on loopback or a private network: silo traffic is not encrypted.</summary>
    public string AdvertisedIPAddress { get; set; } = "127.0.0.1";

    /// <summary>How long a silo waits for a probe answer before counting it missed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Missed probes after which a silo suspects another.</summary>
    public int NumMissedProbesLimit { get; set; } = 2;

    /// <summary>How long a grain call may take before it fails with a timeout (clients and silos).</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How often clients refresh the list of live gateways from membership.</summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Grain locations a silo remembers (Orleans' directory cache, 1,000,000 by default). Entries stay after their
    /// grains are deactivated, about 400 bytes each, so this bounds what idle users leave behind on the heap.
    /// </summary>
    public int DirectoryCacheSize { get; set; } = 100_000;

    /// <summary>The parsed <see cref="AdvertisedIPAddress"/>.</summary>
    public IPAddress AdvertisedAddress => IPAddress.Parse(AdvertisedIPAddress);

    /// <inheritdoc/>
    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(ClusterId))
        {
            yield return "Orleans:ClusterId must not be empty.";
        }

        if (string.IsNullOrWhiteSpace(ServiceId) || ServiceId.AsSpan().IndexOfAny("/{}") >= 0)
        {
            yield return "Orleans:ServiceId must not be empty or contain '/', '{' or '}' (Redis Cluster hash-tag braces).";
        }

        if (SiloPort is < 0 or > 65535)
        {
            yield return "Orleans:SiloPort must be between 0 and 65535.";
        }

        if (GatewayPort is < 0 or > 65535)
        {
            yield return "Orleans:GatewayPort must be between 0 and 65535.";
        }

        if (DirectoryCacheSize < 1)
        {
            yield return "Orleans:DirectoryCacheSize must be at least 1.";
        }

        if (!IPAddress.TryParse(AdvertisedIPAddress, out _))
        {
            yield return "Orleans:AdvertisedIPAddress must be an IP address.";
        }

        if (ProbeTimeout < TimeSpan.FromMilliseconds(100) || ProbeTimeout > TimeSpan.FromMinutes(1))
        {
            yield return "Orleans:ProbeTimeout must be between 00:00:00.100 and 00:01:00.";
        }

        if (NumMissedProbesLimit is < 1 or > 10)
        {
            yield return "Orleans:NumMissedProbesLimit must be between 1 and 10.";
        }

        if (ResponseTimeout < TimeSpan.FromMilliseconds(100) || ResponseTimeout > TimeSpan.FromMinutes(5))
        {
            yield return "Orleans:ResponseTimeout must be between 00:00:00.100 and 00:05:00.";
        }

        if (GatewayListRefreshPeriod < TimeSpan.FromMilliseconds(100) || GatewayListRefreshPeriod > TimeSpan.FromMinutes(10))
        {
            yield return "Orleans:GatewayListRefreshPeriod must be between 00:00:00.100 and 00:10:00.";
        }
    }
}
