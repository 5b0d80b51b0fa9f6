using System.Net;
using System.Text.Json;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Approvals;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Approvals;

public sealed class ApprovalRulesTests
{
    [Fact]
    public void Pending_UntilOneDecisionOrItsExpiry()
    {
        Assert.Equal(ApprovalState.Approved, ApprovalRules.Decide(ApprovalState.Pending, expiresAtMs: 1_000, nowMs: 999, approve: true));
        Assert.Equal(ApprovalState.Denied, ApprovalRules.Decide(ApprovalState.Pending, 1_000, 999, approve: false));
        Assert.Null(ApprovalRules.Decide(ApprovalState.Pending, 1_000, 1_000, approve: true)); // expired at its time
        Assert.Null(ApprovalRules.Decide(ApprovalState.Approved, 1_000, 10, approve: false));
        Assert.Equal(ApprovalState.Expired, ApprovalRules.At(ApprovalState.Pending, 1_000, 1_000));
        Assert.Equal(ApprovalState.Denied, ApprovalRules.At(ApprovalState.Denied, 1_000, 5_000));
    }

    [Fact]
    public void Queue_PagesOldestFirst_ByStatus_WithACursor_AndBoundsDecidedLines()
    {
        var queue = new ApprovalQueue();
        for (var i = 0; i < 7; i++)
        {
            queue.Upsert(new ApprovalLine($"id{i}", "agent", "act", 100 + i, 10_000, i % 3 == 0 ? ApprovalState.Approved : ApprovalState.Pending), decidedKept: 100);
        }

        var first = queue.Page(ApprovalState.Pending, null, 2, nowMs: 0);
        var second = queue.Page(ApprovalState.Pending, first.NextCursor, 2, 0);
        var expiredLater = queue.Page(ApprovalState.Expired, null, 10, nowMs: 10_000);

        Assert.Equal(["id1", "id2"], first.Items.Select(i => i.Id));
        Assert.Equal(["id4", "id5"], second.Items.Select(i => i.Id));
        Assert.Null(second.NextCursor); // nothing pending after id5
        Assert.Equal(4, expiredLater.Items.Count); // pending lines past their expiry list as expired

        queue.Upsert(new ApprovalLine("id7", "agent", "act", 200, 10_000, ApprovalState.Denied), decidedKept: 2);
        Assert.Equal(["id1", "id2", "id4", "id5", "id6", "id7"], queue.Lines.Select(l => l.Id)); // the oldest decided (id0, id3) went
    }
}

/// <summary>The approval grains on a TestCluster with the fixture's fake application clock.</summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class ApprovalGrainTests(InMemoryClusterFixture fixture)
{
    private async Task<(IApprovalGrain Grain, ApprovalRecord Record, string Tenant)> NewAsync(long expiresInMs = 60_000)
    {
        var tenant = TestKeys.User("tenant");
        var grain = fixture.Grains.GetGrain<IApprovalGrain>(GrainKeys.Approval(tenant, GrainKeys.NewOpaqueId()));
        var record = await grain.CreateAsync(tenant, new ApprovalRequest("billing-agent", "refund.issue", """{"amount":120}""", null, expiresInMs));
        return (grain, record, tenant);
    }

    [Fact]
    public async Task TwentyReviewersRace_ExactlyOneDecides()
    {
        var (grain, _, _) = await NewAsync();

        var decisions = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => grain.DecideAsync(i % 2 == 0, $"reviewer-{i}", null)));

        var winner = Assert.Single(decisions, d => d.Decided);
        Assert.All(decisions.Where(d => !d.Decided), d => Assert.Equal(winner.Record!.Status, d.Record!.Status));
        var stored = (await grain.GetAsync())!;
        Assert.Equal((winner.Record!.Status, winner.Record.Reviewer), (stored.Status, stored.Reviewer));
    }

    [Fact]
    public async Task LongPoll_AnswersWhenDecided()
    {
        var (grain, _, _) = await NewAsync();
        var poll = grain.GetAsync(waitMs: 30_000);

        var decision = await grain.DecideAsync(approve: true, "alice", "ok");
        var polled = await poll.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.True(decision.Decided);
        Assert.Equal((ApprovalStatus.Approved, "alice", "ok"), (polled!.Status, polled.Reviewer, polled.Comment));
    }

    [Fact]
    public async Task AtItsTime_ItExpires_AndLaterDecisionsAreRefused()
    {
        var (grain, record, tenant) = await NewAsync(expiresInMs: 5_000);
        InMemoryClusterFixture.Time.Advance(TimeSpan.FromMilliseconds(5_000));

        var late = await grain.DecideAsync(approve: true, "bob", null);
        var listed = await fixture.Grains.GetGrain<IApprovalQueueGrain>(tenant).ListAsync(ApprovalStatus.Expired, null, 10);

        Assert.False(late.Decided);
        Assert.Equal(ApprovalStatus.Expired, late.Record!.Status);
        Assert.Equal(record.ExpiresAtMs, late.Record.DecidedAtMs);
        Assert.Equal([record.ApprovalId], listed.Items.Select(i => i.ApprovalId));
    }

    [Fact]
    public async Task BadInput_NamesTheField()
    {
        var grain = fixture.Grains.GetGrain<IApprovalGrain>(GrainKeys.Approval("t", GrainKeys.NewOpaqueId()));

        var agent = await Assert.ThrowsAsync<CoordinatorValidationException>(() => grain.CreateAsync("t", new ApprovalRequest("", "a", "{}", null, 60_000)));
        var expires = await Assert.ThrowsAsync<CoordinatorValidationException>(() => grain.CreateAsync("t", new ApprovalRequest("a", "a", "{}", null, 10)));
        var reviewer = await Assert.ThrowsAsync<CoordinatorValidationException>(() => grain.DecideAsync(true, "", null));

        Assert.Equal(["agent", "expiresInMs", "reviewer"], new[] { agent.Field, expires.Field, reviewer.Field });
        Assert.Null(await grain.GetAsync());
    }
}

/// <summary>Approvals over real HTTP (embedded gateway, auth on).</summary>
[Collection(EmbeddedGatewayCollection.Name)]
public sealed class ApprovalsApiTests(EmbeddedGatewayFixture fixture)
{
    private HttpClient Client => fixture.Client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_List_Decide_Then409()
    {
        var tenant = TestKeys.User("tenant");
        var created = await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals",
            new { agent = "billing-agent", action = "refund.issue", payload = new { amount = 120, currency = "EUR" }, sessionId = "s-1", expiresInMs = 600_000 });
        var body = await created.JsonAsync();
        var id = body.GetProperty("approvalId").GetString()!;
        var second = await (await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals", new { agent = "a", action = "b", payload = 1, expiresInMs = 600_000 })).JsonAsync();

        var pending = await (await Client.GetAsync($"/v1/tenants/{tenant}/approvals?status=pending", Ct)).JsonAsync();
        var decided = await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals/{id}/decision", new { decision = "approve", reviewer = "alice", comment = "fine" });
        var again = await Client.PostJsonAsync($"/v1/tenants/{tenant}/approvals/{id}/decision", new { decision = "deny", reviewer = "bob" });
        var got = await (await Client.GetAsync($"/v1/tenants/{tenant}/approvals/{id}?waitMs=5000", Ct)).JsonAsync();
        var stillPending = await (await Client.GetAsync($"/v1/tenants/{tenant}/approvals?status=pending&limit=1", Ct)).JsonAsync();

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("pending", body.GetProperty("status").GetString());
        Assert.Equal($"/v1/tenants/{tenant}/approvals/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal([id, second.GetProperty("approvalId").GetString()], pending.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("approvalId").GetString()));
        Assert.Equal(HttpStatusCode.OK, decided.StatusCode);
        var conflict = await again.AssertProblemAsync(HttpStatusCode.Conflict, "already-decided");
        Assert.Equal("approved", conflict.GetProperty("approvalStatus").GetString());
        Assert.Equal(("approved", "alice", 120), (got.GetProperty("status").GetString(), got.GetProperty("reviewer").GetString(), got.GetProperty("payload").GetProperty("amount").GetInt32()));
        Assert.Equal(1, stillPending.GetProperty("items").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, stillPending.GetProperty("nextCursor").ValueKind);
    }

    [Fact]
    public async Task BadInput_400NamingTheField_And404()
    {
        var tenant = TestKeys.User("tenant");
        var path = $"/v1/tenants/{tenant}/approvals";

        await (await Client.PostJsonAsync(path, new { action = "b", payload = 1, expiresInMs = 60_000 })).AssertBadFieldAsync("agent");
        await (await Client.PostJsonAsync(path, new { agent = "a", action = "b", expiresInMs = 60_000 })).AssertBadFieldAsync("payload");
        await (await Client.PostJsonAsync(path, new { agent = "a", action = "b", payload = 1 })).AssertBadFieldAsync("expiresInMs");
        await (await Client.PostJsonAsync(path, new { agent = "a", action = "b", payload = new string('x', 70_000), expiresInMs = 60_000 })).AssertBadFieldAsync("payload");
        await (await Client.GetAsync($"{path}?status=maybe", Ct)).AssertBadFieldAsync("status");
        await (await Client.GetAsync($"{path}?cursor=nonsense", Ct)).AssertBadFieldAsync("cursor");
        await (await Client.GetAsync($"{path}?limit=0", Ct)).AssertBadFieldAsync("limit");
        await (await Client.GetAsync($"{path}/not-an-id", Ct)).AssertBadFieldAsync("approvalId");
        await (await Client.GetAsync($"{path}/{GrainKeys.NewOpaqueId()}?waitMs=70000", Ct)).AssertBadFieldAsync("waitMs");
        await (await Client.GetAsync($"{path}/{GrainKeys.NewOpaqueId()}", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, "approval-not-found");
        await (await Client.PostJsonAsync($"{path}/{GrainKeys.NewOpaqueId()}/decision", new { decision = "maybe", reviewer = "r" })).AssertBadFieldAsync("decision");
        await (await Client.PostJsonAsync($"{path}/{GrainKeys.NewOpaqueId()}/decision", new { decision = "deny", reviewer = "r" })).AssertProblemAsync(HttpStatusCode.NotFound, "approval-not-found");
    }
}
