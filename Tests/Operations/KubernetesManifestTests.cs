using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Orleans.Coordinator.Tests.Operations;

/// <summary>deploy/kubernetes parses, and its probes, ports, labels and RBAC agree with the code.</summary>
public sealed class KubernetesManifestTests
{
    private static List<YamlMappingNode> Documents(string file)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(RepoPaths.Combine("deploy", "kubernetes", file))));
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static YamlMappingNode Kind(List<YamlMappingNode> docs, string kind) => docs.Single(d => d["kind"].ToString() == kind);

    private static Dictionary<string, string> Map(YamlNode node) => ((YamlMappingNode)node).Children.ToDictionary(c => c.Key.ToString(), c => c.Value.ToString());

    [Theory]
    [InlineData("silo.yaml", 5090)]
    [InlineData("gateway.yaml", 5080)]
    public void Deployment_ProbesAndPorts_MatchTheCode(string file, int httpPort)
    {
        var deployment = Kind(Documents(file), "Deployment");
        var template = (YamlMappingNode)deployment["spec"]["template"];
        var container = (YamlMappingNode)((YamlSequenceNode)template["spec"]["containers"])[0];
        var ports = ((YamlSequenceNode)container["ports"]).Select(p => Map(p)).ToDictionary(p => p["name"], p => int.Parse(p["containerPort"], System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(httpPort, ports["http"]);
        Assert.Equal("/readyz", container["readinessProbe"]["httpGet"]["path"].ToString());
        Assert.Equal("/healthz", container["livenessProbe"]["httpGet"]["path"].ToString());
        Assert.Equal("http", container["readinessProbe"]["httpGet"]["port"].ToString());
        var selector = Map(deployment["spec"]["selector"]["matchLabels"]);
        var labels = Map(template["metadata"]["labels"]);
        Assert.All(selector, s => Assert.Equal(s.Value, labels[s.Key]));
        Assert.Equal("coordinator-secrets", container["envFrom"][0]["secretRef"]["name"].ToString());

        if (file == "silo.yaml")
        {
            var cluster = new CoordinatorClusterOptions();
            Assert.Equal(cluster.SiloPort, ports["silo"]);
            Assert.Equal(cluster.GatewayPort, ports["gateway"]);
            Assert.Equal(labels["orleans/serviceId"], labels["orleans/clusterId"]);
        }
        else
        {
            Assert.Equal(new CoordinatorGatewayOptions().GrpcPort, ports["grpc"]);
        }
    }

    [Fact]
    public void Gateway_MountsTheRateLimitRulesConfigMap_AsItsConfigPath_AndTheRulesParse()
    {
        var docs = Documents("gateway.yaml");
        var template = (YamlMappingNode)Kind(docs, "Deployment")["spec"]["template"];
        var container = (YamlMappingNode)((YamlSequenceNode)template["spec"]["containers"])[0];
        var env = ((YamlSequenceNode)container["env"]).Select(Map).ToDictionary(e => e["name"], e => e["value"]);
        var mount = ((YamlSequenceNode)container["volumeMounts"]).Select(Map).Single(m => m["name"] == "ratelimit-rules");
        var volume = ((YamlSequenceNode)template["spec"]["volumes"]).Cast<YamlMappingNode>().Single(v => v["name"].ToString() == "ratelimit-rules");
        var configMap = Kind(docs, "ConfigMap");

        Assert.Equal(env["RateLimit__ConfigPath"], mount["mountPath"]);
        Assert.Equal(configMap["metadata"]["name"].ToString(), volume["configMap"]["name"].ToString());
        var files = ((YamlMappingNode)configMap["data"]).Children;
        Assert.NotEmpty(files);
        var rules = Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Merge(files.Select(f => Orleans.Coordinator.Envoy.EnvoyRateLimitConfig.Parse(f.Value.ToString(), f.Key.ToString())));
        Assert.Contains("edge", rules.Domains);
    }

    [Fact]
    public void Silo_HasTheRbacOrleansKubernetesHostingNeeds_AndADisruptionBudget()
    {
        var docs = Documents("silo.yaml");
        var rule = (YamlMappingNode)((YamlSequenceNode)Kind(docs, "Role")["rules"])[0];
        var verbs = ((YamlSequenceNode)rule["verbs"]).Select(v => v.ToString()).ToList();
        var binding = Kind(docs, "RoleBinding");
        var template = Kind(docs, "Deployment")["spec"]["template"];

        Assert.Equal("pods", ((YamlSequenceNode)rule["resources"])[0].ToString());
        Assert.Subset(verbs.ToHashSet(), new HashSet<string> { "get", "watch", "list", "delete" });
        Assert.Equal(Kind(docs, "ServiceAccount")["metadata"]["name"].ToString(), template["spec"]["serviceAccountName"].ToString());
        Assert.Equal(Kind(docs, "Role")["metadata"]["name"].ToString(), binding["roleRef"]["name"].ToString());
        var env = ((YamlSequenceNode)template["spec"]["containers"][0]["env"]).Select(e => e["name"].ToString()).ToList();
        Assert.Subset(env.ToHashSet(), new HashSet<string> { "POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID" });
        Assert.Equal(Map(Kind(docs, "Deployment")["spec"]["selector"]["matchLabels"]), Map(Kind(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]));
    }

    [Fact]
    public void GatewayService_SelectsTheGatewayPods_AndTargetsItsNamedPorts()
    {
        var docs = Documents("gateway.yaml");
        var service = Kind(docs, "Service");
        var podLabels = Map(Kind(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]);

        Assert.All(Map(service["spec"]["selector"]), s => Assert.Equal(s.Value, podLabels[s.Key]));
        var targets = ((YamlSequenceNode)service["spec"]["ports"]).Select(p => p["targetPort"].ToString()).ToList();
        Assert.Equal(["http", "grpc"], targets);
    }

    [Fact]
    public void SecretsExample_SetsEveryRequiredSetting()
    {
        var secret = Documents("secrets.example.yaml")[0];
        var keys = Map(secret["stringData"]).Keys.ToHashSet();

        Assert.Subset(keys, new HashSet<string>
        {
            "Redis__ConnectionString", "Auth__AdminTokens__0", "Auth__ClientTokens__0",
            "Security__SessionKeys__0__Id", "Security__SessionKeys__0__Key", "Security__ApiKeyHmacSecret",
        });
    }

    [Theory]
    [InlineData("silo.yaml")]
    [InlineData("gateway.yaml")]
    public void Deployment_MountsTheClusterTlsSecret_WhereItsTlsSettingsPoint(string file)
    {
        var template = (YamlMappingNode)Kind(Documents(file), "Deployment")["spec"]["template"];
        var container = (YamlMappingNode)((YamlSequenceNode)template["spec"]["containers"])[0];
        var env = ((YamlSequenceNode)container["env"]).Cast<YamlMappingNode>().Where(e => e.Children.ContainsKey("value"))
            .ToDictionary(e => e["name"].ToString(), e => e["value"].ToString());
        var mount = ((YamlSequenceNode)container["volumeMounts"]).Select(Map).Single(m => m["name"] == "cluster-tls");
        var volume = ((YamlSequenceNode)template["spec"]["volumes"]).Cast<YamlMappingNode>().Single(v => v["name"].ToString() == "cluster-tls");
        var secret = Documents("secrets.example.yaml").Single(d => d["metadata"]["name"].ToString() == volume["secret"]["secretName"].ToString());

        Assert.Equal("true", mount["readOnly"]);
        foreach (var (setting, key) in new[] { ("Tls__CertificatePath", "tls.crt"), ("Tls__KeyPath", "tls.key"), ("Tls__CaPath", "ca.crt") })
        {
            Assert.Equal($"{mount["mountPath"]}/{key}", env[setting]);
            Assert.True(((YamlMappingNode)secret["stringData"]).Children.ContainsKey(key), $"the example secret lacks {key}");
        }
    }
}
