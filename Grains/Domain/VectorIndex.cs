using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Orleans.Coordinator.Grains.Domain;

/// <summary>A vector of the index (its slot and the slot's generation: a reused slot gets a new one) and its cosine similarity to a query.</summary>
public readonly record struct VectorMatch(int Slot, float Score, int Generation = 0);

/// <summary>
/// Exact cosine-similarity search over embeddings of one dimension, in memory, with a scan that is exact and fast:
/// <list type="number">
/// <item>Each embedding is normalised and kept at half precision (IEEE 754 binary16, 2 bytes a dimension) plus an int8
/// code (1 byte a dimension, a scale per vector) and two numbers that bound the code's error (its norm and its
/// residual's norm, as fractions of the stored vector's norm).</item>
/// <item>Vectors are grouped as they arrive: each joins the group whose center is nearest when its cosine to it is
/// at least 0.5 and the group has fewer than 4,096 members, else starts a group (at most 256; past that it joins the
/// nearest with room, or the nearest). A young group's center is the mean
/// of its members until it has 32; each group knows the smallest cosine of a member to its center. A query whose angle
/// to a center is <c>a</c> cannot score above <c>cos(a - b)</c> with a member whose angle is at most <c>b</c> (the
/// triangle inequality on the sphere), so a group that cannot reach <c>minScore</c> is skipped whole. Embeddings that
/// form groups (topics) are mostly skipped; embeddings that do not form groups fall into a few large ones and are
/// scanned.</item>
/// <item>A query is normalised and quantised like the vectors. The int8 scan of the groups left (AVX2 when present)
/// gives every vector an approximate score and, by Cauchy-Schwarz on the two residuals, a proven bound on how far the
/// true score can be from it. Only vectors whose upper bound reaches both <c>minScore</c> and the k-th best lower bound
/// can be among the answers; those are scored again on the half-precision copy (System.Numerics.Tensors'
/// <c>TensorPrimitives</c>).</item>
/// </list>
/// The answer is the same as scoring every stored vector; the stored copy differs from the float32 input by at most
/// 2^-11 of each component, so a score differs from the float32 cosine by less than 0.001. Memory: 3 bytes a dimension
/// plus about 76 bytes a vector (4,608 + 76 bytes at dimension 1,536: 0.76x the float32 vector), plus 4 bytes a
/// dimension for each group's center and 8 more while it is young (fewer than 32 members): at most 256 groups, 1.5 MiB
/// at dimension 1,536 (4.5 MiB if all were young).
/// <para>Concurrency: one writer (<see cref="Add"/>, <see cref="Remove"/>) and any number of concurrent
/// <see cref="Search"/> calls. A vector is published last (its scale factor, written with release semantics), a group
/// is replaced whole when it changes, and a removed slot is only reused once no search is running, so a search sees
/// each vector whole, as it was when the search reached it.</para>
/// </summary>
public sealed class VectorIndex
{
    private const int ChunkSlots = 1024;
    private const float Slack = 1e-4f; // float rounding of the scores and bounds, far above its real size
    private const float TailSlack = 1.0001f; // float rounding of the tail norms' product
    private const double ClusterSlack = 1e-3; // float rounding of a cluster's two cosines and of a score, far above its real size
    private const double CosineSlack = 1e-4; // float32 rounding of a cosine at dimension 65,536 is below 1e-5
    private const int MaxClusters = 256;
    private const int FullCluster = 4_096; // a removal copies its cluster's list: bounded unless every cluster is full
    private const int SettlingMembers = 32; // a cluster's center is its members' mean until it has this many
    private const double JoinCosine = 0.5;

    private readonly int _stride;
    private readonly Stack<int> _free = new();
    private readonly List<int> _freedDuringSearch = [];
    private sbyte[][] _codes = [];
    private Half[]?[] _vectors = [];
    private long[] _expiresAtMs = [];
    private int[] _generation = [];
    private int _searches;
    private float[] _factor = []; // 1 / (code scale * stored norm); 0 marks a free slot
    private float[] _alpha = [];  // ||code / scale|| / stored norm
    private float[] _beta = [];   // ||stored - code / scale|| / stored norm
    private float[] _inverseNorm = [];
    private float[] _tailQuarter = []; // ||code[quarter..]||: bounds what the unread part of the code can add
    private float[] _tailHalf = [];    // ||code[half..]||
    private readonly int _quarter;
    private readonly int _half;
    private int _used;
    private long _scanned;
    private Cluster[] _clusters = []; // published whole: a search reads the array once, each cluster once
    private int[] _clusterOf = [];    // writer only: the cluster a slot is listed in
    private float[] _cosineToCenter = []; // writer only: a slot's cosine to its cluster's center
    private readonly List<double[]?> _clusterSums = []; // writer only: sum of the first members, while a center settles

    /// <summary>Creates an empty index of vectors of <paramref name="dimension"/> numbers (1 to 65,536).</summary>
    public VectorIndex(int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(dimension, 65_536);
        Dimension = dimension;
        _stride = (dimension + 31) / 32 * 32;
        // Staged scan from 256 dimensions: after a quarter and a half of the code, a vector whose score cannot reach
        // minScore even if the rest agreed perfectly (Cauchy-Schwarz on the unread parts) is dropped.
        _quarter = dimension >= 256 ? _stride / 4 / 32 * 32 : 0;
        _half = dimension >= 256 ? _stride / 2 / 32 * 32 : 0;
    }

    /// <summary>The vectors' length.</summary>
    public int Dimension { get; }

    /// <summary>Vectors held.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes a vector costs here: the half-precision copy, the int8 code and its numbers (not the caller's entry).</summary>
    public long BytesPerVector => (2L * Dimension) + 24 + _stride + 24 + 16;

    /// <summary>Vectors the searches so far have scored in their first stage (those of skipped clusters are not).</summary>
    internal long VectorsScanned => Interlocked.Read(ref _scanned);

    /// <summary>Groups of nearby vectors the search can skip whole (at most 256, each costing 4 bytes a dimension for its center).</summary>
    public int ClusterCount => _clusters.Length;

    /// <summary>
    /// Adds a vector that <see cref="Search"/> finds until <paramref name="expiresAtMs"/> (Unix ms) and answers its slot.
    /// Throws <see cref="ArgumentException"/> when its length is not <see cref="Dimension"/>, a number is not finite, or
    /// it is all zeros.
    /// </summary>
    public int Add(ReadOnlySpan<float> embedding, long expiresAtMs = long.MaxValue)
    {
        var unit = Normalize(embedding);
        var stored = new Half[Dimension];
        var storedFloat = new float[Dimension];
        double storedNormSquared = 0;
        var maxAbs = 0f;
        for (var i = 0; i < Dimension; i++)
        {
            stored[i] = (Half)unit[i];
            storedFloat[i] = (float)stored[i];
            storedNormSquared += (double)storedFloat[i] * storedFloat[i];
            maxAbs = Math.Max(maxAbs, Math.Abs(storedFloat[i]));
        }

        var storedNorm = Math.Sqrt(storedNormSquared);
        if (maxAbs == 0 || storedNorm == 0)
        {
            throw new ArgumentException("The embedding is too small to keep at half precision.", nameof(embedding));
        }

        Interlocked.MemoryBarrier(); // the removals' publications before the check of running searches
        if (_freedDuringSearch.Count > 0 && Volatile.Read(ref _searches) == 0)
        {
            // No search can still be reading these: they may be reused now.
            foreach (var freed in _freedDuringSearch)
            {
                _vectors[freed] = null;
                _free.Push(freed);
            }

            _freedDuringSearch.Clear();
        }

        var slot = _free.Count > 0 ? _free.Pop() : _used;
        EnsureCapacity(slot + 1);
        var scale = 127.0 / maxAbs;
        var code = CodeOf(slot);
        double codeNormSquared = 0, residualSquared = 0;
        for (var i = 0; i < Dimension; i++)
        {
            var q = (sbyte)Math.Clamp(Math.Round(storedFloat[i] * scale), -127, 127);
            code[i] = q;
            var dequantised = q / scale;
            codeNormSquared += dequantised * dequantised;
            var residual = storedFloat[i] - dequantised;
            residualSquared += residual * residual;
        }

        code[Dimension..].Clear();
        _tailQuarter[slot] = TailNorm(code, _quarter);
        _tailHalf[slot] = TailNorm(code, _half);
        _vectors[slot] = stored;
        _alpha[slot] = (float)(Math.Sqrt(codeNormSquared) / storedNorm);
        _beta[slot] = (float)(Math.Sqrt(residualSquared) / storedNorm);
        _inverseNorm[slot] = (float)(1.0 / storedNorm);
        _expiresAtMs[slot] = expiresAtMs;
        _generation[slot]++;
        Join(slot, storedFloat, storedNorm);
        Volatile.Write(ref _factor[slot], (float)(1.0 / (scale * storedNorm))); // published last
        Volatile.Write(ref _used, Math.Max(_used, slot + 1));
        Count++;
        return slot;
    }

    /// <summary>Removes the vector in <paramref name="slot"/> (its slot is reused by a later <see cref="Add"/>).</summary>
    public void Remove(int slot)
    {
        if (slot < 0 || slot >= _used || _factor[slot] == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(slot), "No vector in this slot.");
        }

        Volatile.Write(ref _factor[slot], 0);
        Leave(slot);
        _freedDuringSearch.Add(slot); // reused by a later Add once no search runs
        Count--;
    }

    /// <summary>The generation of <paramref name="slot"/>: it changes when the slot is reused for another vector.</summary>
    public int GenerationOf(int slot) => _generation[slot];

    /// <summary>
    /// The vectors with cosine similarity to <paramref name="query"/> at or above <paramref name="minScore"/>, best first
    /// (ties by slot), at most <paramref name="topK"/>, among those not expired at <paramref name="nowMs"/>. The answer
    /// holds every vector tied with the k-th score, so a caller may break ties its own way and then take k. Safe to call
    /// from several threads at once, beside the one writer. Throws <see cref="ArgumentException"/> for a query of the
    /// wrong length, not finite or all zeros.
    /// </summary>
    public List<VectorMatch> Search(ReadOnlySpan<float> query, float minScore, int topK, long nowMs = long.MinValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        Interlocked.Increment(ref _searches);
        try
        {
            return SearchCore(query, minScore, topK, nowMs);
        }
        finally
        {
            Interlocked.Decrement(ref _searches);
        }
    }

    private List<VectorMatch> SearchCore(ReadOnlySpan<float> query, float minScore, int topK, long nowMs)
    {
        var unit = Normalize(query);
        var maxAbs = 0f;
        foreach (var y in unit)
        {
            maxAbs = Math.Max(maxAbs, Math.Abs(y));
        }

        var scale = 127.0 / maxAbs;
        var code = new sbyte[_stride];
        double residualSquared = 0;
        for (var i = 0; i < Dimension; i++)
        {
            var p = (sbyte)Math.Clamp(Math.Round(unit[i] * scale), -127, 127);
            code[i] = p;
            var residual = unit[i] - (p / scale);
            residualSquared += residual * residual;
        }

        var scan = new ScanQuery(code, (float)(1.0 / scale), (float)Math.Sqrt(residualSquared), TailNorm(code, _quarter), TailNorm(code, _half), minScore, nowMs);

        // Stage 1: approximate score and error bound of every live vector; keep those that can reach minScore.
        var candidates = Scan(scan, unit);

        // Whatever the true top k are, each scores at least the k-th best lower bound.
        var threshold = minScore;
        if (candidates.Count > topK)
        {
            var lowers = new float[candidates.Count];
            for (var i = 0; i < lowers.Length; i++)
            {
                lowers[i] = candidates[i].Approximate - candidates[i].Bound;
            }

            Array.Sort(lowers);
            threshold = Math.Max(minScore, lowers[^topK]);
        }

        // Stage 2: exact scores of the candidates that can still make it.
        var matches = new List<VectorMatch>();
        var buffer = new float[Dimension];
        foreach (var c in candidates)
        {
            if (c.Approximate + c.Bound < threshold)
            {
                continue;
            }

            var score = Score(c.Slot, unit, buffer);
            if (score >= minScore)
            {
                matches.Add(new VectorMatch(c.Slot, score, c.Generation));
            }
        }

        matches.Sort(static (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Slot.CompareTo(b.Slot));
        var keep = topK;
        while (keep < matches.Count && matches[keep].Score == matches[topK - 1].Score)
        {
            keep++;
        }

        if (matches.Count > keep)
        {
            matches.RemoveRange(keep, matches.Count - keep);
        }

        return matches;
    }

    /// <summary>The cosine similarity of the stored vector in <paramref name="slot"/> and <paramref name="query"/>, computed on the stored copy.</summary>
    public float Similarity(int slot, ReadOnlySpan<float> query)
    {
        var unit = Normalize(query);
        return Score(slot, unit, new float[Dimension]);
    }

    private float Score(int slot, float[] unitQuery, float[] buffer)
    {
        TensorPrimitives.ConvertToSingle(_vectors[slot], buffer);
        return TensorPrimitives.Dot(buffer, unitQuery) * _inverseNorm[slot];
    }

    private readonly record struct Candidate(int Slot, float Approximate, float Bound, int Generation);

    private sealed record ScanQuery(sbyte[] Code, float InverseScale, float Residual, float TailQuarter, float TailHalf, float MinScore, long NowMs);

    private List<Candidate> Scan(ScanQuery query, float[] unitQuery)
    {
        // One thread per search: concurrent searches spread over the cores (a parallel loop inside each measured worse
        // at 8 searches in flight: blocked pool threads).
        var all = new List<Candidate>();
        var scanned = 0;
        foreach (var cluster in Volatile.Read(ref _clusters))
        {
            // The angle between the query and any member is at least the angle to the center less the member's
            // (triangle inequality on the sphere), so no member scores above cos(max(0, a - b)).
            // The float rounding of both cosines is allowed for before the angles are taken (near cosine 1 an error of
            // e in a cosine is an error of about sqrt(2e) in its angle).
            var toCenter = Math.Clamp(TensorPrimitives.Dot(unitQuery, cluster.Center) + CosineSlack, -1.0, 1.0);
            var a = Math.Acos(toCenter);
            var b = Math.Acos(Math.Clamp(cluster.MinCosine - CosineSlack, -1.0, 1.0));
            var upper = a <= b ? 1.0 : Math.Cos(a - b);
            if (upper + ClusterSlack < query.MinScore)
            {
                continue;
            }

            ScanSlots(cluster.Members.AsSpan(0, cluster.Count), query, all);
            scanned += cluster.Count;
        }

        Interlocked.Add(ref _scanned, scanned);
        return all;
    }

    private void ScanSlots(ReadOnlySpan<int> slots, ScanQuery query, List<Candidate> output)
    {
        var queryCode = query.Code.AsSpan();
        foreach (var slot in slots)
        {
            var factor = Volatile.Read(ref _factor[slot]); // acquire: the vector's other fields were written before it
            if (factor == 0 || _expiresAtMs[slot] <= query.NowMs)
            {
                continue;
            }

            var generation = _generation[slot];
            var toScore = factor * query.InverseScale;
            var bound = (_alpha[slot] * query.Residual) + _beta[slot] + Slack;
            var code = CodeOf(slot);
            int dot;
            if (_quarter > 0)
            {
                // Whatever the unread part adds is at most the product of the two parts' norms (Cauchy-Schwarz).
                dot = Dot(code[.._quarter], queryCode[.._quarter]);
                if (((dot + (_tailQuarter[slot] * query.TailQuarter * TailSlack)) * toScore) + bound < query.MinScore)
                {
                    continue;
                }

                dot += Dot(code[_quarter.._half], queryCode[_quarter.._half]);
                if (((dot + (_tailHalf[slot] * query.TailHalf * TailSlack)) * toScore) + bound < query.MinScore)
                {
                    continue;
                }

                dot += Dot(code[_half..], queryCode[_half..]);
            }
            else
            {
                dot = Dot(code, queryCode);
            }

            var approximate = dot * toScore;
            if (approximate + bound >= query.MinScore)
            {
                output.Add(new Candidate(slot, approximate, bound, generation));
            }
        }
    }

    /// <summary>
    /// A group of vectors near a center (a unit vector): every member's cosine to the center is at least
    /// <see cref="MinCosine"/>. Never changed once published: the writer publishes a new one (an append may write past
    /// <see cref="Count"/> of a shared array, which no published copy reads).
    /// </summary>
    private sealed class Cluster(float[] center, double minCosine, int[] members, int count)
    {
        public float[] Center { get; } = center;

        public double MinCosine { get; } = minCosine;

        public int[] Members { get; } = members;

        public int Count { get; } = count;
    }

    /// <summary>Lists a new vector in the cluster whose center is nearest, or starts a cluster with it.</summary>
    private void Join(int slot, float[] stored, double storedNorm)
    {
        var clusters = _clusters;
        var best = -1;
        var bestCosine = double.NegativeInfinity;
        var bestOpen = -1;
        var bestOpenCosine = double.NegativeInfinity;
        var empty = -1;
        for (var i = 0; i < clusters.Length; i++)
        {
            if (clusters[i].Count == 0)
            {
                empty = empty < 0 ? i : empty;
                continue;
            }

            var cosine = Cosine(stored, storedNorm, clusters[i].Center);
            if (cosine > bestCosine)
            {
                (best, bestCosine) = (i, cosine);
            }

            if (clusters[i].Count < FullCluster && cosine > bestOpenCosine)
            {
                (bestOpen, bestOpenCosine) = (i, cosine);
            }
        }

        var room = empty >= 0 || clusters.Length < MaxClusters;
        if (bestOpen >= 0 && (bestOpenCosine >= JoinCosine || !room))
        {
            best = bestOpen; // the nearest group with room
        }

        if (best < 0 || (room && (bestOpen < 0 || bestOpenCosine < JoinCosine)))
        {
            // A new group (in the place of one whose members have all gone, if any): its center is this vector.
            var index = empty >= 0 ? empty : clusters.Length;
            var sum = new double[Dimension];
            Accumulate(sum, stored, storedNorm, 1);
            if (index == _clusterSums.Count)
            {
                _clusterSums.Add(sum);
            }
            else
            {
                _clusterSums[index] = sum;
            }

            var center = CenterOf(sum);
            _clusterOf[slot] = index;
            _cosineToCenter[slot] = (float)Cosine(stored, storedNorm, center);
            Publish(index, new Cluster(center, _cosineToCenter[slot], [slot, 0, 0, 0], 1));
            return;
        }

        var cluster = clusters[best];
        var members = cluster.Members;
        if (members.Length == cluster.Count)
        {
            Array.Resize(ref members, members.Length * 2);
        }

        members[cluster.Count] = slot;
        _clusterOf[slot] = best;
        var count = cluster.Count + 1;
        if (_clusterSums[best] is { } settling)
        {
            // While a cluster is young its center moves to its members' mean, so it sits in the middle of its group.
            Accumulate(settling, stored, storedNorm, 1);
            var center = CenterOf(settling);
            var min = 1.0;
            foreach (var member in members.AsSpan(0, count))
            {
                var memberStored = member == slot ? stored : StoredOf(member, out _);
                var memberNorm = member == slot ? storedNorm : 1.0 / _inverseNorm[member];
                _cosineToCenter[member] = (float)Cosine(memberStored, memberNorm, center);
                min = Math.Min(min, _cosineToCenter[member]);
            }

            if (count >= SettlingMembers)
            {
                _clusterSums[best] = null; // settled: the center stays
            }

            Publish(best, new Cluster(center, min, members, count));
            return;
        }

        _cosineToCenter[slot] = (float)Cosine(stored, storedNorm, cluster.Center);
        Publish(best, new Cluster(cluster.Center, Math.Min(cluster.MinCosine, _cosineToCenter[slot]), members, count));
    }

    /// <summary>Takes a removed vector out of its cluster's list (a new array: a running search keeps the one it has).</summary>
    private void Leave(int slot)
    {
        var index = _clusterOf[slot];
        var cluster = _clusters[index];
        var members = new int[Math.Max(4, cluster.Count)];
        var count = 0;
        var min = 1.0;
        foreach (var member in cluster.Members.AsSpan(0, cluster.Count))
        {
            if (member != slot)
            {
                members[count++] = member;
                min = Math.Min(min, _cosineToCenter[member]);
            }
        }

        if (_clusterSums[index] is { } settling)
        {
            var stored = StoredOf(slot, out var norm);
            Accumulate(settling, stored, norm, -1); // the center moves at the next member
        }

        Publish(index, new Cluster(cluster.Center, min, members, count));
    }

    private void Publish(int index, Cluster cluster)
    {
        var clusters = _clusters;
        if (index == clusters.Length)
        {
            var grown = new Cluster[clusters.Length + 1];
            Array.Copy(clusters, grown, clusters.Length);
            grown[index] = cluster;
            Volatile.Write(ref _clusters, grown);
            return;
        }

        // A copy: a running search keeps reading the array it has, each cluster whole.
        var copy = (Cluster[])clusters.Clone();
        copy[index] = cluster;
        Volatile.Write(ref _clusters, copy);
    }

    private float[] StoredOf(int slot, out double norm)
    {
        var stored = new float[Dimension];
        TensorPrimitives.ConvertToSingle(_vectors[slot], stored);
        norm = 1.0 / _inverseNorm[slot];
        return stored;
    }

    private static double Cosine(float[] stored, double storedNorm, float[] center)
        => TensorPrimitives.Dot(stored, center) / storedNorm;

    private static void Accumulate(double[] sum, float[] stored, double storedNorm, int sign)
    {
        for (var i = 0; i < sum.Length; i++)
        {
            sum[i] += sign * stored[i] / storedNorm;
        }
    }

    private static float[] CenterOf(double[] sum)
    {
        double squared = 0;
        foreach (var x in sum)
        {
            squared += x * x;
        }

        var center = new float[sum.Length];
        if (squared == 0)
        {
            center[0] = 1;
            return center;
        }

        var inverse = 1.0 / Math.Sqrt(squared);
        for (var i = 0; i < sum.Length; i++)
        {
            center[i] = (float)(sum[i] * inverse);
        }

        return center;
    }

    private static float TailNorm(ReadOnlySpan<sbyte> code, int from)
    {
        long sum = 0;
        foreach (var q in code[from..])
        {
            sum += q * q;
        }

        return MathF.Sqrt(sum);
    }

    private Span<sbyte> CodeOf(int slot)
        => Volatile.Read(ref _codes)[slot / ChunkSlots].AsSpan((slot % ChunkSlots) * _stride, _stride);

    private void EnsureCapacity(int slots)
    {
        if (_codes.Length * ChunkSlots < slots)
        {
            // A new array of chunks (the chunks themselves stay): a running search keeps reading the one it has.
            var codes = new sbyte[(slots + ChunkSlots - 1) / ChunkSlots][];
            Array.Copy(_codes, codes, _codes.Length);
            for (var i = _codes.Length; i < codes.Length; i++)
            {
                codes[i] = new sbyte[ChunkSlots * _stride];
            }

            Volatile.Write(ref _codes, codes);
        }

        if (_factor.Length >= slots)
        {
            return;
        }

        var capacity = Math.Max(slots, Math.Max(64, _factor.Length * 2));
        Array.Resize(ref _vectors, capacity);
        Array.Resize(ref _factor, capacity);
        Array.Resize(ref _alpha, capacity);
        Array.Resize(ref _beta, capacity);
        Array.Resize(ref _inverseNorm, capacity);
        Array.Resize(ref _tailQuarter, capacity);
        Array.Resize(ref _tailHalf, capacity);
        Array.Resize(ref _expiresAtMs, capacity);
        Array.Resize(ref _generation, capacity);
        Array.Resize(ref _clusterOf, capacity);
        Array.Resize(ref _cosineToCenter, capacity);
    }

    private float[] Normalize(ReadOnlySpan<float> embedding)
    {
        if (embedding.Length != Dimension)
        {
            throw new ArgumentException($"The embedding must hold {Dimension} numbers.", nameof(embedding));
        }

        double sum = 0;
        foreach (var x in embedding)
        {
            if (!float.IsFinite(x))
            {
                throw new ArgumentException("The embedding must hold finite numbers.", nameof(embedding));
            }

            sum += (double)x * x;
        }

        if (sum == 0)
        {
            throw new ArgumentException("The embedding must not be all zeros.", nameof(embedding));
        }

        var inverse = 1.0 / Math.Sqrt(sum);
        var unit = new float[Dimension];
        for (var i = 0; i < Dimension; i++)
        {
            unit[i] = (float)(embedding[i] * inverse);
        }

        return unit;
    }

    /// <summary>The exact dot product of two int8 codes (padded to a multiple of 32; at most 65,536 x 127 x 127 in magnitude).</summary>
    private static int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        if (Avx2.IsSupported)
        {
            // |a| (unsigned) times b with a's sign (signed): pairs of 16-bit products (at most 2 x 127 x 127, no
            // saturation), then summed into 32-bit lanes.
            var ones = Vector256.Create((short)1);
            var sum0 = Vector256<int>.Zero;
            var sum1 = Vector256<int>.Zero;
            ref var ra = ref MemoryMarshal.GetReference(a);
            ref var rb = ref MemoryMarshal.GetReference(b);
            var i = 0;
            for (; i + 64 <= a.Length; i += 64)
            {
                var a0 = Vector256.LoadUnsafe(ref ra, (nuint)i);
                var b0 = Vector256.LoadUnsafe(ref rb, (nuint)i);
                var a1 = Vector256.LoadUnsafe(ref ra, (nuint)(i + 32));
                var b1 = Vector256.LoadUnsafe(ref rb, (nuint)(i + 32));
                sum0 = Avx2.Add(sum0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(a0), Avx2.Sign(b0, a0)), ones));
                sum1 = Avx2.Add(sum1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(a1), Avx2.Sign(b1, a1)), ones));
            }

            if (i < a.Length)
            {
                var a0 = Vector256.LoadUnsafe(ref ra, (nuint)i);
                var b0 = Vector256.LoadUnsafe(ref rb, (nuint)i);
                sum0 = Avx2.Add(sum0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(a0), Avx2.Sign(b0, a0)), ones));
            }

            return Vector256.Sum(Avx2.Add(sum0, sum1));
        }

        var total = 0;
        for (var i = 0; i < a.Length; i++)
        {
            total += a[i] * b[i];
        }

        return total;
    }
}
