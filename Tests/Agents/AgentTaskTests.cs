using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Agents;

public sealed class AgentTaskRulesTests
{
    [Theory]
    [InlineData(0, 1, true)]
    [InlineData(1, 2, true)]
    [InlineData(2, 1, true)]
    [InlineData(3, 4, true)]
    [InlineData(1, 7, true)]
    [InlineData(4, 1, false)]
    [InlineData(5, 5, false)]
    [InlineData(6, 0, false)]
    [InlineData(7, 1, false)]
    [InlineData(1, 8, false)]
    public void OnlyNonTerminalStatesMove(int from, int to, bool allowed) => Assert.Equal(allowed, AgentTaskRules.CanMove(from, to));

    [Fact]
    public void ArtifactsAndHistory_AreBounded()
    {
        Assert.True(AgentTaskRules.ArtifactFits(31, 1000, 10, 32, 2000));
        Assert.False(AgentTaskRules.ArtifactFits(32, 0, 1, 32, 2000));
        Assert.False(AgentTaskRules.ArtifactFits(1, 1995, 10, 32, 2000));
        Assert.Equal([3, 4, 5], AgentTaskRules.KeepNewest([1, 2, 3, 4, 5], 3));
    }
}

/// <summary>A2A tasks over real HTTP (embedded gateway, auth on).</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class AgentTasksApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Client => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<HttpResponseMessage> PostStatusAsync(HttpClient http, string path, string state, string? ifMatch = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{path}/status") { Content = JsonContent(new { state, message = $"now {state}" }) };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return await http.SendAsync(request, Ct);
    }

    private static StringContent JsonContent(object body) => new(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task Lifecycle_History_ETags_Artifacts_AndTerminalStates()
    {
        var tenant = TestKeys.User("tenant");
        var path = $"/v1/tenants/{tenant}/tasks/task-1";

        var created = await Client.PutJsonAsync(path, new { contextId = "ctx-9", metadata = new { skill = "summarize" } });
        var working = await PostStatusAsync(Client, path, "working", ifMatch: "\"1\"");
        var stale = await PostStatusAsync(Client, path, "completed", ifMatch: "\"1\"");
        var artifact = await Client.PostJsonAsync($"{path}/artifacts", new { name = "summary.txt", data = "three lines" });
        var done = await PostStatusAsync(Client, path, "completed");
        var after = await PostStatusAsync(Client, path, "working");
        var got = await Client.GetAsync(path, Ct);
        var task = await got.JsonAsync();
        var other = await Client.PutJsonAsync($"/v1/tenants/{tenant}/tasks/task-2", new { contextId = "ctx-9" });
        var listed = await (await Client.GetAsync($"/v1/tenants/{tenant}/tasks?contextId=ctx-9", Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("\"1\"", created.Headers.ETag?.Tag);
        Assert.Equal(HttpStatusCode.OK, working.StatusCode);
        Assert.Equal("\"2\"", working.Headers.ETag?.Tag);
        await stale.AssertProblemAsync(HttpStatusCode.PreconditionFailed, "version-mismatch");
        Assert.Equal(HttpStatusCode.OK, artifact.StatusCode);
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        var conflict = await after.AssertProblemAsync(HttpStatusCode.Conflict, "invalid-transition");
        Assert.Equal("completed", conflict.GetProperty("taskState").GetString());
        Assert.Equal("\"4\"", got.Headers.ETag?.Tag);
        Assert.Equal(["submitted", "working", "completed"], task.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("state").GetString()));
        Assert.Equal("completed", task.GetProperty("status").GetProperty("state").GetString());
        Assert.Equal("summarize", task.GetProperty("metadata").GetProperty("skill").GetString());
        Assert.Equal("three lines", task.GetProperty("artifacts")[0].GetProperty("data").GetString());
        Assert.Equal(HttpStatusCode.Created, other.StatusCode);
        Assert.Equal(["task-1", "task-2"], listed.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("taskId").GetString()));
        await (await Client.PutJsonAsync(path, new { contextId = "another" })).AssertProblemAsync(HttpStatusCode.Conflict, "task-exists");
    }

    [Fact]
    public async Task EventStream_SeesEveryTransitionInOrder_AndEndsAtATerminalState()
    {
        var tenant = TestKeys.User("tenant");
        var path = $"/v1/tenants/{tenant}/tasks/streamed";
        Assert.Equal(HttpStatusCode.Created, (await Client.PutJsonAsync(path, new { contextId = "c" })).StatusCode);
        using var stream = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"{path}/events"), HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(Ct));

        // Transitions made while the client is connected, each after the previous event arrived or not: the stream must
        // carry all of them, in order.
        string[] states = ["working", "input-required", "working", "auth-required", "working", "completed"];
        var writer = Task.Run(async () =>
        {
            foreach (var state in states)
            {
                Assert.Equal(HttpStatusCode.OK, (await PostStatusAsync(Client, path, state)).StatusCode);
            }
        }, Ct);

        var events = new List<(long Id, string State)>();
        long id = 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((id, JsonDocument.Parse(line[6..]).RootElement.GetProperty("state").GetString()!));
            }
        }

        await writer;
        Assert.Equal(["submitted", .. states], events.Select(e => e.State));
        Assert.Equal(Enumerable.Range(1, 7).Select(i => (long)i), events.Select(e => e.Id));

        // Resuming after event 5 replays 6 and 7 only.
        using var resume = new HttpRequestMessage(HttpMethod.Get, $"{path}/events");
        resume.Headers.TryAddWithoutValidation("Last-Event-ID", "5");
        var replay = await (await Client.SendAsync(resume, Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Equal(2, replay.Split("event: status").Length - 1);
        Assert.Contains("id: 7", replay, StringComparison.Ordinal);

        // A client that already has the final event (EventSource reconnects after every close) gets an empty stream
        // that ends at once, not an endless one.
        using var after = new HttpRequestMessage(HttpMethod.Get, $"{path}/events");
        after.Headers.TryAddWithoutValidation("Last-Event-ID", "7");
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bounded.CancelAfter(TimeSpan.FromSeconds(10));
        var nothing = await (await Client.SendAsync(after, bounded.Token)).Content.ReadAsStringAsync(bounded.Token);
        Assert.DoesNotContain("event: status", nothing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TaskIdWithAnEscapedCharacter_IsItsOwnTask()
    {
        // '=' is a key character that the grain key escapes: the id must still name its task (it was refused as 400).
        var path = $"/v1/tenants/{TestKeys.User("tenant")}/tasks/run=42";

        var created = await Client.PutJsonAsync(path, new { contextId = "c=1" });
        var got = await (await Client.GetAsync(path, Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(("run=42", "c=1"), (got.GetProperty("taskId").GetString(), got.GetProperty("contextId").GetString()));
    }

    [Fact]
    public async Task BadInput_400NamingTheField_And404()
    {
        var tenant = TestKeys.User("tenant");
        var path = $"/v1/tenants/{tenant}/tasks";

        await (await Client.PutJsonAsync($"{path}/t1", new { })).AssertBadFieldAsync("contextId");
        await (await Client.PutJsonAsync($"{path}/t1", new { contextId = "c", metadata = 5 })).AssertBadFieldAsync("metadata");
        await (await Client.PutJsonAsync($"{path}/{new string('t', 129)}", new { contextId = "c" })).AssertBadFieldAsync("taskId");
        await (await Client.PostJsonAsync($"{path}/t1/status", new { state = "done" })).AssertBadFieldAsync("state");
        await (await Client.PostJsonAsync($"{path}/t1/artifacts", new { name = "x" })).AssertBadFieldAsync("data");
        await (await Client.GetAsync($"{path}?contextId=", Ct)).AssertBadFieldAsync("contextId");
        await (await Client.GetAsync($"{path}/none", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "task-not-found");
        await (await Client.PostJsonAsync($"{path}/none/status", new { state = "working" })).AssertProblemAsync(HttpStatusCode.NotFound, "task-not-found");
        await (await Client.GetAsync($"{path}/none/events", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "task-not-found");
        using var badIfMatch = new HttpRequestMessage(HttpMethod.Post, $"{path}/t1/status") { Content = JsonContent(new { state = "working" }) };
        badIfMatch.Headers.TryAddWithoutValidation("If-Match", "not-a-tag");
        await (await Client.SendAsync(badIfMatch, Ct)).AssertBadFieldAsync("If-Match");
    }
}
