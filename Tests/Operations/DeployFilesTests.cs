using System.Diagnostics;
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
        }

        var ports = ((YamlSequenceNode)services["gateway"]["ports"]).Select(p => p.ToString()).ToList();
        Assert.Contains($"127.0.0.1:5080:{new Uri(GatewayEndpoints.DefaultUrls).Port}", ports);
        Assert.Contains($"127.0.0.1:8081:{new CoordinatorGatewayOptions().GrpcPort}", ports);
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
            var start = new ProcessStartInfo("dotnet") { WorkingDirectory = RepoPaths.Root, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { "publish", $"{project}/Orleans.Coordinator.{project}.csproj", "-c", "Release", "-o", output, "--nologo" })
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start)!;
            var log = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);

            Assert.True(process.ExitCode == 0, $"dotnet publish {project} failed:\n{await log}\n{await errors}");
            Assert.True(File.Exists(Path.Combine(output, $"Orleans.Coordinator.{project}.dll")));
            Directory.Delete(output, recursive: true);
        }
    }

    [GeneratedRegex(@"^COPY (?!--from)(.+)$", RegexOptions.Multiline)]
    private static partial Regex CopyLine();

    [GeneratedRegex(@"^EXPOSE (.+)$", RegexOptions.Multiline)]
    private static partial Regex ExposeLine();
}
