namespace Orleans.Coordinator.Benchmarks.Harness;

/// <summary>The in-run reference paths every gateway path is reported against (<see cref="BenchPath.RatioTo"/>).</summary>
public static class References
{
    /// <summary>The HTTP reference: the same gateway's <c>/healthz</c> (no decision).</summary>
    public const string HealthzPath = "gateway-http /healthz";

    /// <summary>The gRPC reference: <c>grpc.health.v1.Health/Check</c> on the same gateway's gRPC port.</summary>
    public const string GrpcHealthPath = "gateway-grpc health Check";

    /// <summary>The machine's HTTP ceiling: a bare minimal API counting in a dictionary, same request body.</summary>
    public const string BarePath = "bare-api check (HTTP ceiling)";

    /// <summary>The <c>/healthz</c> request, encoded once (with the same Authorization header as the decision paths).</summary>
    public static readonly byte[] HealthzRequest = RawHttp.Request("GET", "/healthz", BenchCluster.Token);
}
