using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Coordinator.Client;
using Orleans.Coordinator.Tests.Infrastructure;
using Orleans.Runtime;

namespace Orleans.Coordinator.Tests.EndToEnd;

/// <summary>
/// Mutual TLS on the Orleans connections (Microsoft.Orleans.Connections.Security), with real Silo and Gateway processes and
/// a CA the test makes: two silos and a gateway that hold certificates of the cluster CA talk to each other (client to
/// silo, silo to silo); a client with a certificate of another CA, or with none, is refused, and so is a raw TLS
/// connection to a silo port that presents an untrusted certificate.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class ClusterTlsTests(ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 300_000)]
    public async Task MutualTls_ClusterTalksOverTls_AndRefusesPeersWithoutATrustedCertificate()
    {
        // Arrange: the cluster CA with a certificate for the processes and one for this test's client; a rogue CA.
        using var pki = TestPki.Create("cluster-ca");
        var node = pki.Issue("node");
        var client = pki.Issue("internal-service");
        using var rogueCa = TestPki.Create("rogue-ca");
        var rogue = rogueCa.Issue("rogue");
        var tls = new Dictionary<string, string> { ["Tls__CertificatePath"] = node.Certificate, ["Tls__KeyPath"] = node.Key, ["Tls__CaPath"] = pki.CaPath };
        await using var cluster = await ProcessCluster.StartAsync("tls", silos: 2, tls);

        // Act + Assert: the gateway (an Orleans client over TLS) is served by the grains.
        var user = TestKeys.User("tls");
        var lease = await cluster.Http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "i-1", ttlMs = 60_000 });
        Assert.Equal(HttpStatusCode.Created, lease.StatusCode);
        Assert.False(lease.Headers.Contains("X-Coordinator-Mode"), "the lease was not granted by the grains (fallback mode)");

        // A trusted client sees both silos, and the management grain reaches each silo (silo-to-silo calls).
        var trusted = await StartClientAsync(cluster, client.Certificate, client.Key, pki.CaPath);
        try
        {
            var management = trusted.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
            await Wait.UntilAsync(async () => (await management.GetHosts(onlyActive: true)).Count == 2, TimeSpan.FromSeconds(30), "both silos active as seen over TLS");
            var hosts = (await management.GetHosts(onlyActive: true, Ct)).Keys.ToArray();
            var statistics = await management.GetRuntimeStatistics(hosts, Ct);
            Assert.Equal(2, statistics.Length);
        }
        finally
        {
            await trusted.StopAsync(Ct);
            trusted.Dispose();
        }

        // A client with a certificate of another CA (which itself trusts both CAs, so only the silo can refuse it), and one
        // without TLS, are not served.
        var bothCas = Path.Combine(rogueCa.Directory, "both-cas.crt");
        await File.WriteAllTextAsync(bothCas, await File.ReadAllTextAsync(pki.CaPath, Ct) + "\n" + await File.ReadAllTextAsync(rogueCa.CaPath, Ct), Ct);
        await AssertClientRefusedAsync(cluster, rogue.Certificate, rogue.Key, bothCas, "a client with a rogue CA's certificate");
        await AssertClientRefusedAsync(cluster, null, null, null, "a client without TLS");

        // Every silo port and gateway port speaks TLS with the cluster's certificate, and drops an untrusted peer.
        using var nodeCertificate = X509CertificateLoader.LoadCertificateFromFile(node.Certificate);
        using var trustedCertificate = TestPki.Load(client);
        using var rogueCertificate = TestPki.Load(rogue);
        foreach (var silo in cluster.Silos)
        {
            foreach (var setting in new[] { "Orleans__SiloPort", "Orleans__GatewayPort" })
            {
                var port = int.Parse(silo.Settings[setting], System.Globalization.CultureInfo.InvariantCulture);
                var presented = await HandshakeAsync(port, trustedCertificate);
                Assert.Equal(nodeCertificate.Thumbprint, presented);
                await AssertDroppedAsync(port, rogueCertificate, $"{setting} {port} with a rogue certificate");
                await AssertDroppedAsync(port, null, $"{setting} {port} without a client certificate");
            }
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task SiloWithACertificateOfAnotherCa_RefusesToStart_WithOneLine()
    {
        using var pki = TestPki.Create("cluster-ca");
        using var rogueCa = TestPki.Create("rogue-ca");
        var rogue = rogueCa.Issue("rogue");
        await using var redis = await RedisServer.StartAsync();
        await using var silo = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), ProcessCluster.SiloSettings(new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = redis.ConnectionString,
            ["Tls__CertificatePath"] = rogue.Certificate,
            ["Tls__KeyPath"] = rogue.Key,
            ["Tls__CaPath"] = pki.CaPath,
        }));

        var exit = await silo.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(2, exit);
        var line = Assert.Single(silo.Output.Split(Environment.NewLine), l => l.StartsWith("Silo refused to start:", StringComparison.Ordinal));
        Assert.Contains("is not issued by the CA in Tls:CaPath", line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", silo.Output, StringComparison.Ordinal);
    }

    private static async Task<IHost> StartClientAsync(ProcessCluster cluster, string? certificate, string? key, string? ca, TimeSpan? startWithin = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = cluster.Redis.ConnectionString,
            ["Orleans:ServiceId"] = cluster.Common["Orleans__ServiceId"],
            ["Tls:CertificatePath"] = certificate,
            ["Tls:KeyPath"] = key,
            ["Tls:CaPath"] = ca,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.AddCoordinatorClient();
        var host = builder.Build();
        try
        {
            await host.StartAsync(Ct).WaitAsync(startWithin ?? TimeSpan.FromSeconds(60), Ct);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    private async Task AssertClientRefusedAsync(ProcessCluster cluster, string? certificate, string? key, string? ca, string who)
    {
        IHost? host = null;
        try
        {
            host = await StartClientAsync(cluster, certificate, key, ca, TimeSpan.FromSeconds(10));
            await host.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
            Assert.Fail($"{who} was served by the cluster");
        }
        catch (Exception ex) when (ex is not Xunit.Sdk.XunitException and not Orleans.Coordinator.Grains.Interfaces.Configuration.CoordinatorConfigurationException)
        {
            // Not served. The control is the trusted client above: the same code with a certificate of the cluster CA is
            // served, so the certificate is the difference; the raw connections below show the silo dropping them.
            output.WriteLine($"{who}: refused ({ex.GetType().Name}: {ex.Message.Split('\n')[0]})");
        }
        finally
        {
            host?.Dispose();
        }
    }

    /// <summary>A TLS handshake to <paramref name="port"/> presenting <paramref name="certificate"/>; returns the server certificate's thumbprint.</summary>
    private static async Task<string> HandshakeAsync(int port, X509Certificate2? certificate)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, Ct);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = certificate is null ? null : [certificate],
            RemoteCertificateValidationCallback = (_, _, _, _) => true, // this test judges the server by its thumbprint
        }, Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // The positive control of AssertDroppedAsync: a trusted peer's connection is served (the silo sends its Orleans
        // preamble, or waits for the peer's), where an untrusted one is ended without a byte.
        var read = tls.ReadAsync(new byte[1], Ct).AsTask();
        if (await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(2), Ct)) == read)
        {
            Assert.True(read.IsCompletedSuccessfully && read.Result > 0, $"port {port} ended a trusted TLS connection without a byte");
        }
        return tls.RemoteCertificate!.GetCertHashString();
    }

    /// <summary>The server ends the connection (during or right after the handshake) instead of serving it.</summary>
    private static async Task AssertDroppedAsync(int port, X509Certificate2? certificate, string what)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, Ct);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = certificate is null ? null : [certificate],
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

            // TLS 1.3 judges the client certificate after the client's side of the handshake: the refusal is the next read.
            var read = await tls.ReadAsync(new byte[1], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
            Assert.True(read == 0, $"{what}: the server sent data instead of dropping the connection");
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            // Refused during the handshake or by an alert: what is expected.
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{what}: the connection was neither served nor dropped within 10 s");
        }
    }
}
