using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Caching;

/// <summary>The two-stage search answers exactly what scoring every stored vector answers.</summary>
public sealed class VectorIndexTests
{
    [Theory]
    [InlineData(1, 3, 200)]
    [InlineData(2, 17, 500)]
    [InlineData(3, 384, 300)]
    [InlineData(4, 1536, 200)]
    [InlineData(5, 64, 5000)] // large enough for the parallel scan
    public void Search_EqualsScoringEveryVector(int seed, int dimension, int count)
    {
        var random = new Random(seed);
        var index = new VectorIndex(dimension);
        var originals = new List<float[]>();
        var centers = Enumerable.Range(0, 8).Select(_ => RandomVector(random, dimension)).ToArray();
        for (var i = 0; i < count; i++)
        {
            // Clustered like real embeddings: a topic center plus noise, so many scores sit near each other.
            var v = Noisy(random, centers[i % centers.Length], 0.3 + random.NextDouble());
            originals.Add(v);
            Assert.Equal(i, index.Add(v));
        }

        for (var q = 0; q < 30; q++)
        {
            var query = Noisy(random, centers[random.Next(centers.Length)], random.NextDouble());
            var minScore = (float)(random.NextDouble() * 1.6 - 0.8);
            var topK = 1 + random.Next(12);

            var found = index.Search(query, minScore, topK);

            var expected = Enumerable.Range(0, count)
                .Select(slot => new VectorMatch(slot, index.Similarity(slot, query)))
                .Where(m => m.Score >= minScore)
                .OrderByDescending(m => m.Score).ThenBy(m => m.Slot)
                .Take(topK)
                .ToList();
            Assert.Equal(expected.Select(m => m.Slot), found.Take(topK).Select(m => m.Slot));
            Assert.Equal(expected.Select(m => m.Score), found.Take(topK).Select(m => m.Score));
            foreach (var match in found)
            {
                // The stored copy is half precision: within 0.001 of the float64 cosine of the input.
                Assert.InRange(match.Score - Cosine(originals[match.Slot], query), -1e-3, 1e-3);
            }
        }
    }

    [Fact]
    public void Search_StaysExact_ThroughChurn_AndSkipsGroupsThatCannotMatch()
    {
        // Seeded: 24 well-separated topics, vectors removed and added in rounds (groups empty and are reused, young
        // groups lose members while their centers settle); every search equals scoring every live vector.
        const int dimension = 256;
        var random = new Random(11);
        var index = new VectorIndex(dimension);
        var topics = Enumerable.Range(0, 24).Select(_ => RandomVector(random, dimension)).ToArray();
        var live = new Dictionary<int, float[]>();
        for (var round = 0; round < 6; round++)
        {
            foreach (var slot in live.Keys.Where(_ => random.NextDouble() < 0.5).ToList())
            {
                index.Remove(slot);
                live.Remove(slot);
            }

            var inRound = 8 + random.Next(topics.Length - 8);
            for (var i = 0; i < 400; i++)
            {
                var v = Noisy(random, topics[(round * 7 + i) % inRound], 0.8);
                live.Add(index.Add(v), v);
            }

            var scannedAtHighThresholds = 0L;
            for (var q = 0; q < 40; q++)
            {
                var source = live.Values.ElementAt(random.Next(live.Count));
                var query = q % 4 == 0 ? RandomVector(random, dimension) : Noisy(random, source, 0.15);
                // Even queries: thresholds a semantic cache uses (0.85-0.95); odd ones anywhere from 0.3.
                var minScore = (float)(q % 2 == 0 ? 0.85 + (random.NextDouble() * 0.1) : 0.3 + (random.NextDouble() * 0.55));
                var scannedBefore = index.VectorsScanned;
                var found = index.Search(query, minScore, 5);
                scannedAtHighThresholds += q % 2 == 0 ? index.VectorsScanned - scannedBefore : 0;

                var expected = live.Keys
                    .Select(slot => new VectorMatch(slot, index.Similarity(slot, query)))
                    .Where(m => m.Score >= minScore)
                    .OrderByDescending(m => m.Score).ThenBy(m => m.Slot)
                    .Take(5)
                    .ToList();
                Assert.Equal(expected.Select(m => m.Slot), found.Take(5).Select(m => m.Slot));
            }

            // Each query's own topic is a small part of the index: at a high threshold the groups of the others are
            // skipped whole.
            var perSearch = scannedAtHighThresholds / 20.0;
            Assert.True(perSearch < live.Count / 2.0, $"round {round}: {perSearch} of {live.Count} vectors scanned per search");
        }

        Assert.InRange(index.ClusterCount, 2, 256);
    }

    [Fact]
    public void OneTopic_FillsGroupsUpToTheirBound_AndStaysExact()
    {
        // Seeded: 9,000 vectors around one center (as anisotropic embedding models produce) fill groups of at most
        // 4,096 (a removal copies one group's list, so it stays bounded), and searches stay exact through removals.
        const int dimension = 16;
        var random = new Random(21);
        var index = new VectorIndex(dimension);
        var center = RandomVector(random, dimension);
        var live = new Dictionary<int, float[]>();
        for (var i = 0; i < 9_000; i++)
        {
            var v = Noisy(random, center, 0.3);
            live.Add(index.Add(v), v);
        }

        foreach (var slot in live.Keys.Where(_ => random.NextDouble() < 0.3).ToList())
        {
            index.Remove(slot);
            live.Remove(slot);
        }

        for (var q = 0; q < 10; q++)
        {
            var query = Noisy(random, center, 0.5);
            var minScore = (float)(0.8 + (random.NextDouble() * 0.19));
            var expected = live.Keys
                .Select(slot => new VectorMatch(slot, index.Similarity(slot, query)))
                .Where(m => m.Score >= minScore)
                .OrderByDescending(m => m.Score).ThenBy(m => m.Slot)
                .Take(7)
                .ToList();
            Assert.Equal(expected.Select(m => m.Slot), index.Search(query, minScore, 7).Take(7).Select(m => m.Slot));
        }

        Assert.InRange(index.ClusterCount, 3, 256);
    }

    [Fact]
    public void Search_ThresholdIsInclusive_AndOrdersBestFirst()
    {
        var index = new VectorIndex(2);
        var east = index.Add([1, 0]);
        var northEast = index.Add([1, 1]);
        var north = index.Add([0, 1]);
        var west = index.Add([-1, 0]);

        var all = index.Search([1, 0], minScore: -1, topK: 10);
        var positive = index.Search([1, 0], minScore: 0.7f, topK: 10);
        var exact = index.Search([3, 0], minScore: 1f, topK: 10);

        Assert.Equal([east, northEast, north, west], all.Select(m => m.Slot));
        Assert.Equal(1f, all[0].Score, 1e-6f);
        Assert.Equal(MathF.Sqrt(0.5f), all[1].Score, 1e-3f);
        Assert.Equal(0f, all[2].Score, 1e-6f);
        Assert.Equal(-1f, all[3].Score, 1e-6f);
        Assert.Equal([east, northEast], positive.Select(m => m.Slot));
        Assert.Equal([east], exact.Select(m => m.Slot)); // cosine 1 reaches minScore 1: the bound is inclusive
    }

    [Fact]
    public void Remove_FreesTheSlot_AndSearchNoLongerFindsIt()
    {
        var index = new VectorIndex(3);
        var a = index.Add([1, 0, 0]);
        var b = index.Add([0, 1, 0]);

        index.Remove(a);
        var afterRemove = index.Search([1, 0, 0], 0.5f, 5);
        var reused = index.Add([0, 0, 1]);

        Assert.Empty(afterRemove);
        Assert.Equal(a, reused);
        Assert.Equal(2, index.Count);
        Assert.Equal([b], index.Search([0, 1, 0], 0.9f, 5).Select(m => m.Slot));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Remove(99));
    }

    [Fact]
    public void Search_SkipsExpiredVectors()
    {
        var index = new VectorIndex(2);
        index.Add([1, 0], expiresAtMs: 1_000);
        var b = index.Add([1, 0.01f], expiresAtMs: 5_000);

        var found = index.Search([1, 0], 0.5f, 1, nowMs: 1_000);

        Assert.Equal([b], found.Select(m => m.Slot));
    }

    [Fact]
    public async Task ConcurrentSearches_BesideOneWriter_SeeWholeVectors()
    {
        // Seeded, bounded in time: one writer replaces vectors while four searchers query. Every vector is a unit
        // axis with a tag in the last dimension, so a match found whole scores exactly what its own query scores.
        const int dimension = 300;
        var index = new VectorIndex(dimension);
        var random = new Random(7);
        var live = new List<int>();
        for (var i = 0; i < 2_000; i++)
        {
            live.Add(index.Add(Axis(i % (dimension - 1), dimension)));
        }

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var searches = 0L;
        var searchers = Enumerable.Range(0, 4).Select(s => Task.Run(() =>
        {
            var mine = new Random(100 + s);
            while (!stop.IsCancellationRequested)
            {
                var axis = mine.Next(dimension - 1);
                foreach (var match in index.Search(Axis(axis, dimension), 0.99f, 3))
                {
                    Assert.Equal(1f, match.Score, 1e-3f);
                }

                Interlocked.Increment(ref searches);
            }
        }, TestContext.Current.CancellationToken)).ToList();
        var writes = 0;
        while (!stop.IsCancellationRequested)
        {
            var victim = random.Next(live.Count);
            index.Remove(live[victim]);
            live[victim] = index.Add(Axis(random.Next(dimension - 1), dimension));
            writes++;
        }

        await Task.WhenAll(searchers);
        Assert.True(searches > 10 && writes > 100, $"{searches} searches beside {writes} writes");
        Assert.Equal(2_000, index.Count);
    }

    private static float[] Axis(int axis, int dimension)
    {
        var v = new float[dimension];
        v[axis] = 1;
        return v;
    }

    [Fact]
    public void BadVectors_AreRefused()
    {
        var index = new VectorIndex(3);

        Assert.Throws<ArgumentException>(() => index.Add([1, 2]));
        Assert.Throws<ArgumentException>(() => index.Add([1, float.NaN, 0]));
        Assert.Throws<ArgumentException>(() => index.Add([float.PositiveInfinity, 0, 0]));
        Assert.Throws<ArgumentException>(() => index.Add([0, 0, 0]));
        Assert.Throws<ArgumentException>(() => index.Search([0, 0, 0], 0, 1));
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void HugeAndTinyComponents_StillScoreCorrectly()
    {
        var index = new VectorIndex(3);
        var big = index.Add([3e38f, 3e38f, 0]);
        var small = index.Add([1e-30f, 0, 1e-30f]);

        var found = index.Search([1, 1, 0], -1, 5);

        Assert.Equal([big, small], found.Select(m => m.Slot));
        Assert.Equal(1f, found[0].Score, 1e-3f);
        Assert.Equal(0.5f, found[1].Score, 1e-3f);
    }

    [Fact]
    public void BytesPerVector_IsUnderOnePointTwoTimesTheFloat32Vector()
    {
        var index = new VectorIndex(1536);

        Assert.True(index.BytesPerVector <= 1.2 * 1536 * 4, $"{index.BytesPerVector} bytes per vector");
    }

    internal static float[] RandomVector(Random random, int dimension)
        => Enumerable.Range(0, dimension).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    private static float[] Noisy(Random random, float[] center, double noise)
        => center.Select(c => (float)(c + ((random.NextDouble() * 2 - 1) * noise))).ToArray();

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
