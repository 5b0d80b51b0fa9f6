using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Orleans.Coordinator.Tests.Operations;

/// <summary>
/// deploy/compose and the Dockerfiles, validated as far as a machine without a Docker engine allows:
/// the YAML parses and agrees with the code, every COPY source exists, and the publish steps run.
/// </summary>
[Collection(SerialTimingCollection.Name)] // the publish step must not rebuild binaries that process tests are running
public sealed partial class DeployFilesTests
{
    [Fact]
    public void Compose_DefinesRedisTwoSilosAndAGateway_ConsistentWithTheCode()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(File.ReadAllText(RepoPaths.Combine("deploy", "compose", "docker-compose.yml"))));
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        var services = (YamlMappingNode)root["services"];

        Assert.Equal(["gateway", "redis", "silo-1", "silo-2"], services.Children.Keys.Select(k => k.ToString()).Order());
        var redisCommand = string.Join(' ', ((YamlSequenceNode)services["redis"]["command"]).Select(n => n.ToString()));
        Assert.Contains("--appendonly yes", redisCommand, StringComparison.Ordinal);
        Assert.Contains("--maxmemory-policy noeviction", redisCommand, StringComparison.Ordinal);

        var env = (YamlMappingNode)root["x-coordinator-env"];
        foreach (var key in new[] { "Redis__ConnectionString", "Auth__AdminTokens__0", "Auth__ClientTokens__0", "Security__SessionKeys__0__Key", "Security__ApiKeyHmacSecret" })
        {
            Assert.True(env.Children.ContainsKey(key), $"compose environment lacks {key}");
        }

        foreach (var (name, project) in new[] { ("silo-1", "Silo"), ("silo-2", "Silo"), ("gateway", "Gateway") })
        {
            var dockerfile = services[name]["build"]["dockerfile"].ToString();
            Assert.Equal($"{project}/Dockerfile", dockerfile);
            Assert.True(File.Exists(RepoPaths.Combine(project, "Dockerfile")));

            // Mutual TLS: each coordinator process mounts the certificates deploy/tls/make-certs.sh writes, where Tls:* points.
            var volume = ((YamlSequenceNode)services[name]["volumes"]).Select(v => v.ToString()).Single(v => v.StartsWith("./tls:", StringComparison.Ordinal));
            var mountPath = volume.Split(':')[1];
            foreach (var (setting, file) in new[] { ("Tls__CertificatePath", "tls.crt"), ("Tls__KeyPath", "tls.key"), ("Tls__CaPath", "ca.crt") })
            {
                Assert.Equal($"{mountPath}/{file}", env[setting].ToString());
            }
        }

        var ports = ((YamlSequenceNode)services["gateway"]["ports"]).Select(p => p.ToString()).ToList();
        Assert.Contains($"127.0.0.1:5080:{new Uri(GatewayEndpoints.DefaultUrls).Port}", ports);
        Assert.Contains($"127.0.0.1:8081:{new CoordinatorGatewayOptions().GrpcPort}", ports);
    }

    [Fact(Timeout = 60_000)]
    public async Task MakeCerts_WritesACaAndACertificate_TheProcessesAccept()
    {
        var directory = Directory.CreateTempSubdirectory("coordinator-make-certs-").FullName;
        try
        {
            var result = await ExternalProgram.RunAsync("bash", [RepoPaths.Combine("deploy", "tls", "make-certs.sh"), directory], TimeSpan.FromSeconds(30));

            Assert.True(result.Code == 0, $"make-certs.sh failed (it needs Debian's openssl): {result.All}");
            var tls = new CoordinatorTlsOptions
            {
                CertificatePath = Path.Combine(directory, "tls.crt"),
                KeyPath = Path.Combine(directory, "tls.key"),
                CaPath = Path.Combine(directory, "ca.crt"),
            };
            Assert.Empty(tls.Validate());
            using var certificate = tls.LoadCertificate();
            Assert.True(CoordinatorTlsOptions.TrustedBy(tls.LoadCa())(certificate, null));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void TlsOptions_RefuseACertificateOfAnotherCa_AKeyThatIsMissing_AndHalfASetting()
    {
        using var pki = TestPki.Create("cluster-ca");
        using var rogueCa = TestPki.Create("rogue-ca");
        var rogue = rogueCa.Issue("rogue");
        var node = pki.Issue("node");

        var foreign = new CoordinatorTlsOptions { CertificatePath = rogue.Certificate, KeyPath = rogue.Key, CaPath = pki.CaPath }.Validate().Single();
        var noKey = new CoordinatorTlsOptions { CertificatePath = node.Certificate, CaPath = pki.CaPath }.Validate().Single();
        var noCa = new CoordinatorTlsOptions { CertificatePath = node.Certificate, KeyPath = node.Key }.Validate().Single();
        var half = new CoordinatorTlsOptions { CaPath = pki.CaPath }.Validate().Single();

        Assert.Contains("is not issued by the CA in Tls:CaPath", foreign, StringComparison.Ordinal);
        Assert.Contains("Tls:CertificatePath", noKey, StringComparison.Ordinal);
        Assert.Equal("Tls:CaPath is required for TLS.", noCa);
        Assert.Equal("Tls:CertificatePath is required when Tls:KeyPath or Tls:CaPath is set.", half);
        Assert.Empty(new CoordinatorTlsOptions { CertificatePath = node.Certificate, KeyPath = node.Key, CaPath = pki.CaPath }.Validate());
        Assert.Empty(new CoordinatorTlsOptions().Validate());
        using var rogueCertificate = TestPki.Load(rogue);
        Assert.False(CoordinatorTlsOptions.TrustedBy(new CoordinatorTlsOptions { CaPath = pki.CaPath }.LoadCa())(rogueCertificate, null));
    }

    [Fact]
    public void TlsOptions_AcceptACertificateOfAnIntermediate_WhenTheCaFileHoldsTheRootAndTheIntermediate()
    {
        using var root = TestPki.Create("cluster-root");
        var intermediate = root.CreateIntermediate("cluster-intermediate");
        var node = intermediate.Issue("node");
        var bundle = Path.Combine(root.Directory, "ca-bundle.crt");
        File.WriteAllText(bundle, File.ReadAllText(root.CaPath) + "\n" + File.ReadAllText(intermediate.CaPath));

        Assert.Empty(new CoordinatorTlsOptions { CertificatePath = node.Certificate, KeyPath = node.Key, CaPath = bundle }.Validate());
        var onlyIntermediate = new CoordinatorTlsOptions { CertificatePath = node.Certificate, KeyPath = node.Key, CaPath = intermediate.CaPath }.Validate().Single();
        Assert.Contains("holds no root (self-signed) certificate", onlyIntermediate, StringComparison.Ordinal);
        using var certificate = TestPki.Load(node);
        Assert.True(CoordinatorTlsOptions.TrustedBy(new CoordinatorTlsOptions { CaPath = bundle }.LoadCa())(certificate, null));
        Assert.False(CoordinatorTlsOptions.TrustedBy(new CoordinatorTlsOptions { CaPath = root.CaPath }.LoadCa())(certificate, null)); // the intermediate is not known

        // With the intermediate in Tls:CaPath, a certificate the root signed through another intermediate is refused.
        var otherTeam = root.CreateIntermediate("other-team");
        using var foreign = TestPki.Load(otherTeam.Issue("other-node"));
        using var rootCertificate = X509CertificateLoader.LoadCertificateFromFile(root.CaPath);
        using var otherTeamCertificate = X509CertificateLoader.LoadCertificateFromFile(otherTeam.CaPath);
        using var presented = new X509Chain(); // what the peer would present: its leaf and the other team's intermediate
        presented.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        presented.ChainPolicy.CustomTrustStore.Add(rootCertificate);
        presented.ChainPolicy.ExtraStore.Add(otherTeamCertificate);
        presented.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(presented.Build(foreign), "the other team's certificate chains to the shared root");
        Assert.True(CoordinatorTlsOptions.TrustedBy(new CoordinatorTlsOptions { CaPath = root.CaPath }.LoadCa())(foreign, presented)); // the root alone trusts it
        Assert.False(CoordinatorTlsOptions.TrustedBy(new CoordinatorTlsOptions { CaPath = bundle }.LoadCa())(foreign, presented)); // root + our intermediate: not
    }

    [Theory]
    [InlineData("Silo")]
    [InlineData("Gateway")]
    public void Dockerfile_CopiesWhatExists_PublishesTheProject_AndExposesTheDefaultPorts(string project)
    {
        var text = File.ReadAllText(RepoPaths.Combine(project, "Dockerfile"));

        foreach (Match copy in CopyLine().Matches(text))
        {
            foreach (var source in copy.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1])
            {
                Assert.True(File.Exists(RepoPaths.Combine(source.TrimEnd('/'))) || Directory.Exists(RepoPaths.Combine(source.TrimEnd('/'))), $"{project}/Dockerfile copies missing {source}");
            }
        }

        // The build stage has every project the published one references, directly or not.
        var referenced = new HashSet<string>();
        var pending = new Queue<string>([project]);
        while (pending.TryDequeue(out var directory))
        {
            var csproj = Directory.GetFiles(RepoPaths.Combine(directory), "*.csproj").Single();
            foreach (Match reference in ProjectReferenceLine().Matches(File.ReadAllText(csproj)))
            {
                var name = reference.Groups[1].Value.Replace('\\', '/').Split('/')[1];
                if (referenced.Add(name))
                {
                    pending.Enqueue(name);
                }
            }
        }

        foreach (var name in referenced)
        {
            Assert.Contains($"COPY {name}/ {name}/", text, StringComparison.Ordinal);
        }

        Assert.Contains($"dotnet publish {project}/Orleans.Coordinator.{project}.csproj", text, StringComparison.Ordinal);
        Assert.Contains($"ENTRYPOINT [\"dotnet\", \"Orleans.Coordinator.{project}.dll\"]", text, StringComparison.Ordinal);
        var exposed = ExposeLine().Match(text).Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var cluster = new CoordinatorClusterOptions();
        string[] expected = project == "Silo"
            ? ["5090", cluster.SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture), cluster.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture)]
            : ["5080", new CoordinatorGatewayOptions().GrpcPort.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        Assert.Equal(expected, exposed);
    }

    [Fact(Timeout = 300_000)]
    public async Task Dockerfile_PublishSteps_RunHere()
    {
        // The Dockerfiles' build stage is `dotnet publish` of the project: run it as they do (no engine here).
        foreach (var project in new[] { "Silo", "Gateway" })
        {
            var output = Directory.CreateTempSubdirectory("coordinator-publish-").FullName;
            var result = await ExternalProgram.RunAsync("dotnet", ["publish", $"{project}/Orleans.Coordinator.{project}.csproj", "-c", "Release", "-o", output, "--nologo"], TimeSpan.FromMinutes(4), RepoPaths.Root);

            Assert.True(result.Code == 0, $"dotnet publish {project} failed:\n{result.All}");
            Assert.True(File.Exists(Path.Combine(output, $"Orleans.Coordinator.{project}.dll")));
            Directory.Delete(output, recursive: true);
        }
    }

    [GeneratedRegex(@"^COPY (?!--from)(.+)$", RegexOptions.Multiline)]
    private static partial Regex CopyLine();

    [GeneratedRegex(@"^EXPOSE (.+)$", RegexOptions.Multiline)]
    private static partial Regex ExposeLine();

    [GeneratedRegex("""<ProjectReference Include="([^"]+)" """)]
    private static partial Regex ProjectReferenceLine();
}
