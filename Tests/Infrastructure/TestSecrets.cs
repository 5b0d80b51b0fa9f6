namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>Fixed test keys (32 bytes each, base64), never used outside tests.</summary>
public static class TestSecrets
{
    public static readonly string OldSessionKey = Convert.ToBase64String(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());

    public static readonly string NewSessionKey = Convert.ToBase64String(Enumerable.Range(100, 32).Select(i => (byte)i).ToArray());

    public static readonly string HmacSecret = Convert.ToBase64String(Enumerable.Range(7, 48).Select(i => (byte)(i * 3)).ToArray());
}
