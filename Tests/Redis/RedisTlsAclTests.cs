using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Redis;

/// <summary>
/// A silo and a gateway (real processes) against a redis-server that speaks only TLS (CA made here) to the
/// coordinator, with the ACL user of deploy/redis/users.acl; and a wrong password refused at startup.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class RedisTlsAclTests
{
    private const string Password = "tls-acl-test-password";
    private const string AdminToken = "tls-acl-admin-token-0123456789";

    // The default user needs a password too: otherwise a client whose AUTH fails could fall back to it.
    private const string DefaultPassword = "tls-acl-default-password";

    [Fact(Timeout = 240_000)]
    public async Task ClusterOverTlsWithTheAclUser_Works_AndAWrongPasswordFailsAtStartup()
    {
        // Arrange: CA and server certificate, redis.conf with TLS and the shipped ACL rule for "coordinator".
        var dir = Directory.CreateTempSubdirectory("coordinator-tls-").FullName;
        var (caPath, certPath, keyPath) = WriteCertificates(dir);
        var tlsPort = RedisServer.FreePort();
        var aclRule = File.ReadLines(RepoPaths.Combine("deploy", "redis", "users.acl")).Single(l => l.StartsWith("user coordinator ", StringComparison.Ordinal));
        var passwordHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Password)));
        var rule = System.Text.RegularExpressions.Regex.Replace(aclRule, "#[0-9a-f]{64}", "#" + passwordHash);
        var conf = Path.Combine(dir, "redis.conf");
        await File.WriteAllTextAsync(conf, $"""
            tls-port {tlsPort}
            tls-cert-file {certPath}
            tls-key-file {keyPath}
            tls-ca-cert-file {caPath}
            tls-auth-clients no
            user default on >{DefaultPassword} ~* +@all
            {rule}
            """, TestContext.Current.CancellationToken);
        await using var redis = await RedisServer.StartAsync(configFile: conf);
        var environment = new Dictionary<string, string>
        {
            ["Redis__ConnectionString"] = $"127.0.0.1:{tlsPort},ssl=true,sslHost=127.0.0.1,user=coordinator,password={Password}",
            ["Redis__CaCertificatePath"] = caPath,
            ["Auth__AdminTokens__0"] = AdminToken,
            ["Security__SessionKeys__0__Id"] = "k1",
            ["Security__SessionKeys__0__Key"] = TestSecrets.NewSessionKey,
            ["Security__ApiKeyHmacSecret"] = TestSecrets.HmacSecret,
            ["Orleans__SiloPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway__GrpcPort"] = "-1",
        };

        // Act + Assert: a silo and a gateway come up over TLS as the ACL user, and serve.
        await using var silo = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), environment);
        await silo.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        await using var gateway = CoordinatorProcess.Start("Gateway", RedisServer.FreePort(), environment);
        await gateway.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = gateway.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        Assert.Equal(HttpStatusCode.Created, (await http.PostJsonAsync("/v1/users/tls-user/connections", new { instanceId = "p" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.PutJsonAsync("/v1/mappings/alice@example.com", new { destination = "stalwart" })).StatusCode);
        await using var operatorConnection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{redis.Port},password={DefaultPassword},allowAdmin=true");
        var keys = new List<string>();
        await foreach (var key in operatorConnection.GetServer(operatorConnection.GetEndPoints()[0]).KeysAsync(pattern: "*"))
        {
            keys.Add(key.ToString());
        }

        Assert.NotEmpty(keys);
        Assert.All(keys, k => Assert.StartsWith("coordinator:", k, StringComparison.Ordinal));

        // A wrong password: the silo refuses to start, saying why in one line.
        var wrong = new Dictionary<string, string>(environment)
        {
            ["Redis__ConnectionString"] = $"127.0.0.1:{tlsPort},ssl=true,sslHost=127.0.0.1,user=coordinator,password=not-the-password",
            ["Orleans__SiloPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans__GatewayPort"] = RedisServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await using var refused = CoordinatorProcess.Start("Silo", RedisServer.FreePort(), wrong);
        int exit;
        try
        {
            exit = await refused.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the silo with a wrong password did not exit within 60 s:\n{refused.Output}");
            throw;
        }

        Assert.Equal(2, exit);
        Assert.Contains("refused the credentials", refused.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", refused.Output, StringComparison.Ordinal);
    }

    private static (string Ca, string Cert, string Key) WriteCertificates(string dir)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=coordinator-test-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        var paths = (Path.Combine(dir, "ca.crt"), Path.Combine(dir, "redis.crt"), Path.Combine(dir, "redis.key"));
        File.WriteAllText(paths.Item1, ca.ExportCertificatePem());
        File.WriteAllText(paths.Item2, server.ExportCertificatePem());
        File.WriteAllText(paths.Item3, serverKey.ExportPkcs8PrivateKeyPem());
        return paths;
    }
}
