import Testing

@testable import StreamAdaptCore

/// The one quantile rule (linear interpolation between the closest ranks, Hyndman-Fan type 7) against
/// values computed by hand and by R's `quantile(x, q)` / NumPy's `np.quantile(x, q)` defaults.
@Suite struct QuantileTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    @Test(arguments: [
        // (values, q, expected)
        ([1.0, 2, 3, 4], 0.0, 1.0),
        ([1.0, 2, 3, 4], 1.0, 4.0),
        ([1.0, 2, 3, 4], 0.5, 2.5),  // even n: the mean of the middle two
        ([1.0, 2, 3, 4], 0.25, 1.75),  // h = 0.75
        ([1.0, 2, 3, 4], 0.75, 3.25),  // h = 2.25
        ([1.0, 2, 3, 4, 5], 0.5, 3.0),  // odd n: the middle value
        ([15.0, 20, 35, 40, 50], 0.4, 29.0),  // h = 1.6: 20 + 0.6 (35 - 20)
        ([15.0, 20, 35, 40, 50], 0.05, 16.0),  // h = 0.2: 15 + 0.2 (20 - 15)
        ([7.0], 0.99, 7.0),
        ([-3.0, 5], 0.5, 1.0),
    ])
    func knownValues(values: [Double], q: Double, expected: Double) throws {
        #expect(try #require(Quantile.ofSorted(values, q)) == expected)
        #expect(try #require(Quantile.of(values.reversed(), q)) == expected)
    }

    @Test func p99OfOneToTen() throws {
        // h = 0.99 * 9 = 8.91: 9 + 0.91 (10 - 9); R and NumPy print 9.91.
        let q = try #require(Quantile.of((1...10).map(Double.init), 0.99))
        #expect(abs(q - 9.91) < 1e-12)
    }

    @Test func integersUnsortedAndMedian() throws {
        #expect(Quantile.of([UInt64(4000), 1000, 3000, 2000], 0.5) == 2500)
        #expect(Quantile.median([UInt64(30), 10, 20]) == 20)
        #expect(Quantile.median([2.0, 8.0]) == 5)
        #expect(Quantile.of([Double](), 0.5) == nil)
        #expect(Quantile.of([UInt64](), 0.5) == nil)
    }

    @Test func monotoneAndWithinTheRange() throws {
        var random = TestRandom(seed: 5)
        let values = (0..<37).map { _ in random.uniform() * 10 }
        var previous = -Double.infinity
        for k in 0...100 {
            let q = try #require(Quantile.of(values, Double(k) / 100))
            #expect(q >= previous)
            #expect(q >= values.min()! && q <= values.max()!)
            previous = q
        }
        #expect(Quantile.of(values, 0) == values.min())
        #expect(Quantile.of(values, 1) == values.max())
    }

    @Test func prequentialUpdateTimesUseTheSameRule() throws {
        var stats = PrequentialStatistics(segments: 1)
        #expect(stats.updateMicroseconds(quantile: 0.5) == nil)
        for ns: UInt64 in [4000, 1000, 3000, 2000] {
            stats.record(segment: 0, isCorrect: true, confidence: 0.9, updateNanoseconds: ns)
        }
        stats.record(segment: 0, isCorrect: false, confidence: 0.9, updateNanoseconds: nil)
        #expect(stats.updateMicroseconds(quantile: 0.5) == 2.5)
        #expect(stats.updateMicroseconds(quantile: 0.25) == 1.75)
        #expect(stats.updateMicroseconds(quantile: 1) == 4)
        #expect(stats.updateNanoseconds.count == 4)
    }
}
