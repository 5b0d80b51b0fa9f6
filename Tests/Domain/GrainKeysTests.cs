using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Tests.Domain;

public sealed class GrainKeysTests
{
    [Theory]
    [InlineData("alice", true)]
    [InlineData("alice@example.com", true)]
    [InlineData("svc_user-01.x+tag=1:2~!", true)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("has space", false)]
    [InlineData("slash/inside", false)]
    [InlineData("ünïcode", false)]
    [InlineData("new\nline", false)]
    public void TryUser_CharacterSet_IsEnforced(string? user, bool valid)
        => Assert.Equal(valid, GrainKeys.TryUser(user, out _, out _));

    [Fact]
    public void TryUser_OverLong_IsRejectedWithLength()
    {
        Assert.True(GrainKeys.TryUser(new string('a', GrainKeys.MaxUserLength), out _, out _));
        Assert.False(GrainKeys.TryUser(new string('a', GrainKeys.MaxUserLength + 1), out _, out var error));
        Assert.Contains("128", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("  Alice@Example.COM ", IdentifierNormalization.LowerCase, "alice@example.com")]
    [InlineData("Alice@Example.COM", IdentifierNormalization.None, "Alice@Example.COM")]
    [InlineData(" Bob ", IdentifierNormalization.None, "Bob")]
    public void TryIdentifier_Normalises_AsConfigured(string raw, IdentifierNormalization normalization, string expected)
    {
        Assert.True(GrainKeys.TryIdentifier(raw, normalization, out var key, out _));
        Assert.Equal(expected, key);
    }

    [Theory]
    [InlineData("   ")]
    [InlineData("a b")]
    public void TryIdentifier_BlankOrInnerSpace_IsRejected(string raw)
        => Assert.False(GrainKeys.TryIdentifier(raw, IdentifierNormalization.LowerCase, out _, out _));

    [Theory]
    [InlineData("stalwart", true)]
    [InlineData("10.0.0.5:993", true)]
    [InlineData("imaps://mail.example.com", true)]
    [InlineData("", false)]
    [InlineData("two words", false)]
    [InlineData("tab\there", false)]
    public void TryDestination_PrintableAsciiOnly(string destination, bool valid)
        => Assert.Equal(valid, GrainKeys.TryDestination(destination, out _, out _));

    [Fact]
    public void RedisKeys_StartWithPrefix()
    {
        Assert.Equal("coordinator:route:alice@example.com", GrainKeys.RedisRouteKey("coordinator:", "alice@example.com"));
        Assert.Equal("p:svc/members/c", GrainKeys.RedisMembershipKey("p:", "svc", "c"));
        Assert.Equal("p:svc/state/", GrainKeys.RedisGrainStatePrefix("p:", "svc"));
    }
}
