namespace Orleans.Coordinator.Grains.Interfaces.Agents;

/// <summary>
/// The task states of the A2A (agent-to-agent) protocol. <c>completed</c>, <c>canceled</c>, <c>failed</c> and
/// <c>rejected</c> are terminal: a task never leaves them.
/// </summary>
public enum AgentTaskState
{
    /// <summary><c>submitted</c>: received, not started.</summary>
    Submitted = 0,

    /// <summary><c>working</c>.</summary>
    Working = 1,

    /// <summary><c>input-required</c>: waits for the client.</summary>
    InputRequired = 2,

    /// <summary><c>auth-required</c>: waits for credentials.</summary>
    AuthRequired = 3,

    /// <summary><c>completed</c> (terminal).</summary>
    Completed = 4,

    /// <summary><c>canceled</c> (terminal).</summary>
    Canceled = 5,

    /// <summary><c>failed</c> (terminal).</summary>
    Failed = 6,

    /// <summary><c>rejected</c> (terminal).</summary>
    Rejected = 7,
}

/// <summary>One entry of a task's status history.</summary>
/// <param name="Version">The task's version after this change (1 for the creation).</param>
/// <param name="State">The state entered.</param>
/// <param name="Message">What the agent said with it, if anything.</param>
/// <param name="AtMs">When (Unix ms).</param>
[GenerateSerializer, Immutable, Alias("coordinator.AgentTaskStatus")]
public sealed record AgentTaskStatus(
    [property: Id(0)] long Version,
    [property: Id(1)] AgentTaskState State,
    [property: Id(2)] string? Message,
    [property: Id(3)] long AtMs);

/// <summary>An artifact a task produced.</summary>
/// <param name="ArtifactId">Its id (32 hex characters).</param>
/// <param name="Name">Its name, if any.</param>
/// <param name="MimeType">Its media type (default <c>text/plain</c>).</param>
/// <param name="Data">Its content as text (e.g. base64 for binary), at most 256 KiB.</param>
/// <param name="AtMs">When it was added (Unix ms).</param>
[GenerateSerializer, Immutable, Alias("coordinator.AgentTaskArtifact")]
public sealed record AgentTaskArtifact(
    [property: Id(0)] string ArtifactId,
    [property: Id(1)] string? Name,
    [property: Id(2)] string MimeType,
    [property: Id(3)] string Data,
    [property: Id(4)] long AtMs);

/// <summary>A task as stored.</summary>
/// <param name="TaskId">The client's id.</param>
/// <param name="Tenant">Its tenant.</param>
/// <param name="ContextId">The conversation (A2A context) it belongs to.</param>
/// <param name="MetadataJson">A JSON object, at most 16 KiB.</param>
/// <param name="Version">Grows by one with every change; the ETag.</param>
/// <param name="History">Every status, oldest first; the last is the current one.</param>
/// <param name="Artifacts">Artifacts, oldest first.</param>
[GenerateSerializer, Immutable, Alias("coordinator.AgentTask")]
public sealed record AgentTask(
    [property: Id(0)] string TaskId,
    [property: Id(1)] string Tenant,
    [property: Id(2)] string ContextId,
    [property: Id(3)] string MetadataJson,
    [property: Id(4)] long Version,
    [property: Id(5)] AgentTaskStatus[] History,
    [property: Id(6)] AgentTaskArtifact[] Artifacts);

/// <summary>How a change went.</summary>
public enum AgentTaskChange
{
    /// <summary>Done.</summary>
    Done = 0,

    /// <summary>The task does not exist.</summary>
    NotFound = 1,

    /// <summary><c>If-Match</c> named another version (412).</summary>
    VersionMismatch = 2,

    /// <summary>The task is in a terminal state (409 <c>invalid-transition</c>).</summary>
    InvalidTransition = 3,

    /// <summary>A task of this id exists in another context (409 <c>task-exists</c>).</summary>
    Exists = 4,

    /// <summary>The task holds as many artifacts or bytes as allowed (409 <c>artifact-limit</c>).</summary>
    ArtifactLimit = 5,
}

/// <summary>The answer to a change: how it went and the task as it stands (null when there is none).</summary>
[GenerateSerializer, Immutable, Alias("coordinator.AgentTaskResult")]
public sealed record AgentTaskResult([property: Id(0)] AgentTaskChange Change, [property: Id(1)] AgentTask? Task);

/// <summary>Bounds on tasks and the A2A state names.</summary>
public static class AgentTaskLimits
{
    /// <summary>Largest metadata: 16 KiB of JSON.</summary>
    public const int MaxMetadataBytes = 16 * 1024;

    /// <summary>Longest status message.</summary>
    public const int MaxMessageLength = 8 * 1024;

    /// <summary>Most status changes kept per task.</summary>
    public const int MaxHistory = 1_000;

    /// <summary>Most artifacts per task.</summary>
    public const int MaxArtifacts = 32;

    /// <summary>Largest artifact: 256 KiB of text.</summary>
    public const int MaxArtifactBytes = 256 * 1024;

    /// <summary>Most artifact bytes per task: 1 MiB.</summary>
    public const int MaxArtifactTotalBytes = 1024 * 1024;

    /// <summary>Most tasks listed per context (the newest).</summary>
    public const int MaxTasksPerContext = 1_000;

    /// <summary>Longest wait for a change.</summary>
    public const int MaxWaitMs = 30_000;

    /// <summary>The A2A name of a state (<c>input-required</c>, ...).</summary>
    public static string Name(AgentTaskState state) => state switch
    {
        AgentTaskState.Submitted => "submitted",
        AgentTaskState.Working => "working",
        AgentTaskState.InputRequired => "input-required",
        AgentTaskState.AuthRequired => "auth-required",
        AgentTaskState.Completed => "completed",
        AgentTaskState.Canceled => "canceled",
        AgentTaskState.Failed => "failed",
        _ => "rejected",
    };

    /// <summary>The state of an A2A name; false for anything else.</summary>
    public static bool TryParse(string? name, out AgentTaskState state)
    {
        foreach (var candidate in Enum.GetValues<AgentTaskState>())
        {
            if (string.Equals(Name(candidate), name, StringComparison.Ordinal))
            {
                state = candidate;
                return true;
            }
        }

        state = default;
        return false;
    }

    /// <summary>True for <c>completed</c>, <c>canceled</c>, <c>failed</c> and <c>rejected</c>.</summary>
    public static bool IsTerminal(AgentTaskState state) => state >= AgentTaskState.Completed;
}

/// <summary>
/// One A2A task (key: <see cref="GrainKeys.AgentTask"/>): its state machine, status history and artifacts. Every change
/// is persisted (ETag-checked) before the answer; <c>If-Match</c> versions make updates conditional.
/// </summary>
[Alias("coordinator.IAgentTaskGrain")]
public interface IAgentTaskGrain : IGrainWithStringKey
{
    /// <summary>Creates the task in <c>submitted</c>; the same again (same context) answers it unchanged; another context is <see cref="AgentTaskChange.Exists"/>.</summary>
    [Alias("Create")]
    Task<AgentTaskResult> CreateAsync(string tenant, string taskId, string contextId, string metadataJson);

    /// <summary>The task, or null.</summary>
    [Alias("Get")]
    Task<AgentTask?> GetAsync();

    /// <summary>Moves the task to <paramref name="state"/> (from any non-terminal state) when <paramref name="ifMatch"/> (RFC 9110 <c>If-Match</c>, strong comparison) is null or matches the current version.</summary>
    [Alias("SetStatus")]
    Task<AgentTaskResult> SetStatusAsync(AgentTaskState state, string? message, VersionMatch? ifMatch);

    /// <summary>Appends an artifact when <paramref name="ifMatch"/> is null or matches the current version (bounded count and size).</summary>
    [Alias("AddArtifact")]
    Task<AgentTaskResult> AddArtifactAsync(string? name, string? mimeType, string data, VersionMatch? ifMatch);

    /// <summary>
    /// The status changes after <paramref name="afterVersion"/>, waiting up to <paramref name="waitMs"/> (0 to 30,000)
    /// for one when there is none yet; empty when nothing changed in time; null when the task does not exist.
    /// </summary>
    [Alias("WaitForStatus")]
    [ResponseTimeout("00:00:35")]
    Task<AgentTaskStatus[]?> WaitForStatusAsync(long afterVersion, int waitMs);
}

/// <summary>The tasks of one A2A context (key: <see cref="GrainKeys.AgentContext"/>), newest last; kept by the task grains.</summary>
[Alias("coordinator.IAgentContextGrain")]
public interface IAgentContextGrain : IGrainWithStringKey
{
    /// <summary>Adds a task id (persisted before the answer; the oldest go beyond 1,000).</summary>
    [Alias("Add")]
    Task AddAsync(string taskId);

    /// <summary>The task ids, oldest first.</summary>
    [Alias("List")]
    Task<string[]> ListAsync();
}
