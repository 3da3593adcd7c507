import Foundation
import Testing

@testable import StreamAdaptCore

@Suite struct MahalanobisScorerTests {
    func feed(_ scorer: MahalanobisScorer, _ random: inout TestRandom, events: Int) {
        for t in 0..<events {
            let x = random.unitVector(scorer.inputDimension)
            x.withUnsafeBufferPointer { _ = scorer.score($0.baseAddress!) }
            scorer.learn(label: t % scorer.classCount)
        }
    }

    /// min_c (x - mu_c)' (Sigma + eps I)^-1 (x - mu_c) by a direct linear solve.
    func directScore(_ scorer: MahalanobisScorer, _ x: [Double]) -> Double {
        let d = scorer.dimension
        var sigma = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { sigma[i * d + j] = scorer.covarianceEntry(i, j) } }
        let eps = scorer.ridge
        for i in 0..<d { sigma[i * d + i] += eps }
        var best = Double.infinity
        for c in 0..<scorer.classCount {
            let delta = (0..<d).map { x[$0] - scorer.means[c, $0] }
            let y = solve(sigma, delta, n: d, m: 1)
            best = min(best, zip(delta, y).map(*).reduce(0, +))
        }
        return best
    }

    /// The score equals a direct solve; with drift.projection k < D the scorer works on R x, and its
    /// score must be the Mahalanobis distance of R x under its own k x k covariance and means.
    @Test(arguments: [(0, 6), (3, 8)])
    func scoreEqualsDirectSolve(projection: Int, dimension: Int) throws {
        var random = TestRandom(seed: 21)
        var config = MahalanobisConfiguration()
        config.projection = projection
        config.refreshInterval = 1  // the factor always matches the current covariance
        config.calibrationRefreshInterval = 1
        config.priorVariance = 0.01
        let scorer = MahalanobisScorer(classes: try random.classes(3, dimension), configuration: config)
        let k = projection > 0 ? projection : dimension
        #expect(scorer.dimension == k && scorer.inputDimension == dimension)
        #expect(scorer.means.rows == 3 && scorer.means.columns == k)
        feed(scorer, &random, events: 80)
        let x = random.unitVector(dimension)
        let score = x.withUnsafeBufferPointer { scorer.score($0.baseAddress!) }
        let direct = directScore(scorer, scorer.projected(x))
        // The factor is Float32: agreement to its precision times the condition number.
        #expect(abs(score.distance2 - direct) <= 1e-4 * direct, "\(score.distance2) vs \(direct)")
    }

    @Test func projectionIsFixedAndKeepsNormsOnAverage() throws {
        // The projection comes from a fixed seed (checkpoints rely on it) and, with entries N(0, 1/k),
        // keeps squared norms on average: E |R x|^2 = |x|^2.
        var random = TestRandom(seed: 25)
        var config = MahalanobisConfiguration()
        config.projection = 64
        let classes = try random.classes(2, 512)
        let a = MahalanobisScorer(classes: classes, configuration: config)
        let b = MahalanobisScorer(classes: classes, configuration: config)
        var total = 0.0
        for _ in 0..<200 {
            let x = random.unitVector(512)
            let (pa, pb) = (a.projected(x), b.projected(x))
            #expect(pa.map(\.bitPattern) == pb.map(\.bitPattern))
            total += pa.map { $0 * $0 }.reduce(0, +)
        }
        #expect(abs(total / 200 - 1) < 0.05, "mean |R x|^2 = \(total / 200)")
        // A projection at least as large as D is no projection.
        config.projection = 512
        let full = MahalanobisScorer(classes: classes, configuration: config)
        #expect(full.dimension == 512 && full.inputDimension == 512)
        // Not a 512 x 512 projection: the input comes back unchanged, bit for bit.
        let x = random.unitVector(512)
        #expect(full.projected(x).map(\.bitPattern) == x.map(\.bitPattern))
    }

    @Test func incrementalMeanBookkeepingIsExactBetweenRefreshes() throws {
        // Between refreshes Lambda is fixed while the means move; the score must equal
        // min_c (x - mu_c)' Lambda (x - mu_c) with the current means.
        var random = TestRandom(seed: 22)
        var config = MahalanobisConfiguration()
        config.refreshInterval = 1000
        config.calibrationRefreshInterval = 1000
        config.meanRate = 0.1
        let scorer = MahalanobisScorer(classes: try random.classes(4, 5), configuration: config)
        feed(scorer, &random, events: 37)
        scorer.refreshPrecision()
        feed(scorer, &random, events: 23)
        let x = random.unitVector(5)
        let score = x.withUnsafeBufferPointer { scorer.score($0.baseAddress!) }
        var best = Double.infinity
        for c in 0..<4 {
            // |U'^-1 (x - mu_c)|^2 by forward substitution with the factor of the last refresh.
            let delta = (0..<5).map { x[$0] - scorer.means[c, $0] }
            var y = [Double](repeating: 0, count: 5)
            for i in 0..<5 {
                var v = delta[i]
                for k in 0..<i { v -= scorer.factorEntry(k, i) * y[k] }
                y[i] = v / scorer.factorEntry(i, i)
            }
            best = min(best, y.map { $0 * $0 }.reduce(0, +))
        }
        // The scorer solves in Float32 (the factor's precision); the bookkeeping itself adds nothing.
        #expect(abs(score.distance2 - best) <= 1e-5 * best, "\(score.distance2) vs \(best)")
    }

    @Test func thresholdIsTheReferenceQuantile() throws {
        var random = TestRandom(seed: 23)
        var config = MahalanobisConfiguration()
        config.warmupEvents = 10
        config.referenceEvents = 101
        config.quantile = 0.9
        config.refreshInterval = 1_000_000  // keep the factor fixed so scores are reproducible
        config.calibrationRefreshInterval = 1_000_000
        let scorer = MahalanobisScorer(classes: try random.classes(2, 4), configuration: config)
        var reference: [Double] = []
        for t in 0..<111 {
            #expect(scorer.threshold == nil)
            let x = random.unitVector(4)
            let s = x.withUnsafeBufferPointer { scorer.score($0.baseAddress!) }
            if t >= 10 { reference.append(s.distance2) }
            scorer.learn(label: t % 2)
        }
        reference.sort()
        #expect(scorer.threshold == reference[90])
        #expect(scorer.isDrifting(reference[100]))
        #expect(!scorer.isDrifting(reference[90]))
    }
}

@Suite struct DetectorTests {
    @Test func flaggedFractionRaisesAndClearsWithHysteresis() {
        var detector = FlaggedFractionDetector(window: 10, raiseLevel: 0.5, clearLevel: 0.2)
        var changes: [(Int, DetectorChange)] = []
        let flags = Array(repeating: false, count: 20) + Array(repeating: true, count: 10) + Array(repeating: false, count: 20)
        for (i, f) in flags.enumerated() {
            if let change = detector.observe(flagged: f) { changes.append((i, change)) }
        }
        #expect(changes.count == 2)
        #expect(changes[0].0 == 24 && changes[0].1 == .raised)  // 5 of the last 10 flagged
        #expect(changes[1].0 == 37 && changes[1].1 == .cleared)  // 2 of the last 10 flagged
    }

    @Test func pageHinkleyFiresOnAnErrorRateJumpOnly() {
        var detector = PageHinkleyDetector(delta: 0.05, threshold: 10, minimumEvents: 50, window: 50)
        var random = TestRandom(seed: 9)
        var raised: [Int] = []
        var cleared: [Int] = []
        for t in 0..<3000 {
            let rate = (1000..<1500).contains(t) ? 0.7 : 0.2
            let error = (random.uniform() + 1) / 2 < rate
            switch detector.observe(error: error) {
            case .raised: raised.append(t)
            case .cleared: cleared.append(t)
            case nil: break
            }
        }
        #expect(raised.count == 1)
        #expect((1000..<1100).contains(raised.first ?? -1), "raised at \(raised)")
        #expect(cleared.count == 1)
        #expect((1500..<1650).contains(cleared.first ?? -1), "cleared at \(cleared)")
    }
}
