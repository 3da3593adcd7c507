import Foundation
import Testing

@testable import StreamAdaptCore

@Suite struct MahalanobisScorerTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

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
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// A short jump of the error rate (0.2, then 0.7 for 120 events, then 0.2 again): raised in the
    /// jump, cleared as "recovered" once the last `window` outcomes are back within delta of the rate
    /// before; nothing is raised on the steady parts.
    @Test func pageHinkleyFiresOnAnErrorRateJumpAndClearsWhenItRecovers() {
        var detector = PageHinkleyDetector(delta: 0.05, threshold: 10, minimumEvents: 50, window: 100)
        var random = TestRandom(seed: 9)
        var raised: [Int] = []
        var cleared: [Int] = []
        for t in 0..<3000 {
            let rate = (1000..<1120).contains(t) ? 0.7 : 0.2
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
        #expect((1120..<1300).contains(cleared.first ?? -1), "cleared at \(cleared)")
        #expect(detector.lastClearReason == .recovered)
        #expect(abs(detector.rateBefore - 0.2) < 0.05, "rate before \(detector.rateBefore)")
    }

    /// A drop that stays: the error rate goes from 0.2 to 0.5 for good. The alert reports both rates and
    /// clears as "settled" once two consecutive windows agree within the tolerance, not before 2 windows
    /// after the raise; the test then restarts and raises nothing more on the new level.
    @Test func pageHinkleyClearsWhenTheErrorRateSettlesAtANewLevel() {
        let window = 100
        var detector = PageHinkleyDetector(delta: 0.05, threshold: 20, minimumEvents: 100, window: window, settleTolerance: 0.05)
        var random = TestRandom(seed: 11)
        var raised: [(Int, Double, Double)] = []
        var cleared: [(Int, Double)] = []
        var errors: [Bool] = []
        for t in 0..<4000 {
            let error = (random.uniform() + 1) / 2 < (t < 1000 ? 0.2 : 0.5)
            errors.append(error)
            switch detector.observe(error: error) {
            case .raised: raised.append((t, detector.rateBefore, detector.recentErrorRate))
            case .cleared: cleared.append((t, detector.recentErrorRate))
            case nil: break
            }
        }
        #expect(raised.count == 1 && cleared.count == 1, "raised \(raised), cleared \(cleared)")
        guard let raise = raised.first, let clear = cleared.first else { return }
        #expect((1000..<1150).contains(raise.0))
        #expect(abs(raise.1 - 0.2) < 0.07 && raise.1 < raise.2, "rate before \(raise.1), now \(raise.2)")
        // The rate now is the error rate of exactly the last `window` outcomes.
        let last = errors[(raise.0 - window + 1)...raise.0].filter { $0 }.count
        #expect(raise.2 == Double(last) / Double(window))
        #expect(clear.0 >= raise.0 + 2 * window, "cleared at \(clear.0)")
        #expect(detector.lastClearReason == .settled)
        let recent = errors[(clear.0 - window + 1)...clear.0].filter { $0 }.count
        let before = errors[(clear.0 - 2 * window + 1)...(clear.0 - window)].filter { $0 }.count
        #expect(clear.1 == Double(recent) / Double(window))
        #expect(abs(Double(recent - before)) / Double(window) <= 0.05)
        #expect(abs(clear.1 - 0.5) < 0.1)
    }
}

extension DetectorTests {
    /// The split on hand-made windows that have wrapped around (oldest first across `older`, then
    /// `recent`): 45 outcomes without an error, then 35 errors.
    @Test func rateAfterSplitReadsBothWindowsInOrder() {
        var older = SlidingWindow(size: 40)
        var recent = SlidingWindow(size: 40)
        for i in 0..<(2 * 40 + 7) {
            if recent.isFull { older.append(recent.oldest) }
            recent.append(i >= 52)  // 7 outcomes pushed out first: the rings wrap
        }
        #expect(PageHinkleyDetector.rateAfterSplit(older, recent, last: 80) == 1)  // split at 45
        #expect(PageHinkleyDetector.rateAfterSplit(older, recent, last: 60) == 1)  // split at 25 of the last 60
        // 15 then 35: the split cannot sit at 15 (parts of at least 20); the best one is at 20.
        #expect(PageHinkleyDetector.rateAfterSplit(older, recent, last: 50) == 1)
        #expect(PageHinkleyDetector.rateAfterSplit(older, recent, last: 38) == 35.0 / 38)  // under 40: no split
        #expect(PageHinkleyDetector.rateAfterSplit(older, recent, last: 500) == 1)  // at most what is held
        for i in 0..<40 { #expect(older[i] == false && recent[i] == (i >= 5), "\(i)") }
    }

    /// The rate reported at the raise is that of the outcomes after the most likely change point: the
    /// two-segment Bernoulli maximum-likelihood split (recomputed here from the definition) of the
    /// outcomes since m_t's minimum, at most the last 2 `window`; not that of the last `window` outcomes
    /// (which mostly precede a jump: the test raises within tens of outcomes of it). Two streams: a
    /// clean jump, and a slow creep before the jump that puts m_t's minimum far before it.
    @Test(arguments: [false, true])
    func pageHinkleyReportsTheRateSinceTheChange(creep: Bool) {
        let delta = 0.01  // the daemon's defaults
        let window = 200
        var detector = PageHinkleyDetector(delta: delta, threshold: 30, minimumEvents: 100, window: window)
        var random = TestRandom(seed: 12)
        var errors: [Bool] = []
        var raisedAt: Int?
        for t in 0..<2000 where raisedAt == nil {
            let rate = t >= 1000 ? 0.7 : creep && t >= 400 ? 0.25 : 0.2
            let error = (random.uniform() + 1) / 2 < rate
            errors.append(error)
            if detector.observe(error: error) == .raised { raisedAt = t }
        }
        guard let raisedAt else {
            Issue.record("no raise")
            return
        }
        // m_t's minimum, as the detector defines it.
        var mean = 0.0
        var cumulative = 0.0
        var minimum = 0.0
        var atMinimum = 0
        for (i, error) in errors.enumerated() {
            let e = error ? 1.0 : 0.0
            mean += (e - mean) / Double(i + 1)
            cumulative += e - mean - delta
            if cumulative < minimum {
                minimum = cumulative
                atMinimum = i + 1
            }
        }
        // The maximum-likelihood split of the last n outcomes, among splits where the rate goes up.
        let n = min(errors.count - atMinimum, 2 * window)
        if creep { #expect(n == 2 * window) }  // the split reaches into the older window
        let last = Array(errors.suffix(n))
        func logLikelihood(_ x: Int, _ m: Int) -> Double {
            guard x > 0 && x < m else { return 0 }
            let p = Double(x) / Double(m)
            return Double(x) * log(p) + Double(m - x) * log(1 - p)
        }
        let total = last.filter { $0 }.count
        var best = (logLikelihood(total, n), Double(total) / Double(n), 0)
        for k in 1..<n {
            let before = last[..<k].filter { $0 }.count
            let after = total - before
            guard k >= 20 && n - k >= 20, Double(after) / Double(n - k) > Double(before) / Double(k) else { continue }
            let l = logLikelihood(before, k) + logLikelihood(after, n - k)
            if l > best.0 { best = (l, Double(after) / Double(n - k), k) }
        }
        #expect(detector.rateSinceChange == best.1)
        let split = errors.count - n + best.2
        #expect((960..<1040).contains(split), "split at \(split), m_t minimum at \(atMinimum), raised at \(raisedAt)")
        if creep { #expect(atMinimum < 900, "m_t's minimum at \(atMinimum): the creep puts it before the jump") }
        #expect(abs(detector.rateSinceChange - 0.7) < 0.15, "rate since the change \(detector.rateSinceChange)")
        #expect(detector.recentErrorRate < detector.rateSinceChange - 0.2, "last window \(detector.recentErrorRate)")
    }
}

@Suite struct MeanShiftDetectorTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// The class subspace: an orthonormal basis of the span of the class embeddings (C <= D/4).
    @Test func classSubspaceIsAnOrthonormalBasisOfTheClassSpan() throws {
        var random = TestRandom(seed: 3)
        let classes = try random.classes(5, 40)
        let q = MeanShiftDetector.classSubspace(classes.normalized)
        #expect(q.rows == 5 && q.columns == 40)
        for i in 0..<5 {
            for j in 0..<5 {
                let v = BLAS.dot(40, q.row(i), q.row(j))
                #expect(abs(v - (i == j ? 1 : 0)) < 1e-12)
            }
            // Each class embedding lies in the span: |t|^2 = |Q t|^2.
            let t = classes.normalized.row(i)
            var inside = 0.0
            for j in 0..<5 { inside += pow(BLAS.dot(40, q.row(j), t), 2) }
            #expect(abs(inside - 1) < 1e-12)
        }
        // More classes than D/4: the top D/4 principal directions only.
        let many = try random.classes(30, 40)
        #expect(MeanShiftDetector.classSubspace(many.normalized).rows == 10)
    }

    /// T against the definition with explicit weights: f and s as weighted sums of the inputs (running
    /// averages, then exponential), P as "drop the first coordinate" (the class embedding is e_1), and
    /// v, a, b, c from their definitions.
    @Test func statisticMatchesTheDefinition() throws {
        let d = 5
        let classes = try ClassEmbeddings(names: ["a"], dimension: d, values: [1, 0, 0, 0, 0])
        let (w, r) = (3, 7)
        let detector = MeanShiftDetector(classes: classes.normalized, window: w, reference: r, raiseLevel: 1e9, clearLevel: 2, warmup: 0)
        var random = TestRandom(seed: 5)
        var inputs: [[Double]] = []
        var variance = 0.0
        for n in 1...20 {
            let x = random.unitVector(d)
            inputs.append(x)
            // Weights of each input in the two means after n inputs.
            func weights(_ memory: Int) -> [Double] {
                var wts: [Double] = []
                for k in 1...n {
                    let rate = max(1 / Double(memory), 1 / Double(k))
                    wts = wts.map { $0 * (1 - rate) } + [rate]
                }
                return wts
            }
            let wf = weights(w)
            let ws = weights(r)
            if n > 1 {
                // The deviation from the fast mean before this input, outside the class span.
                let previous = Array(wf.dropLast()).map { $0 / (1 - wf.last!) }
                var deviation2 = 0.0
                for i in 1..<d {
                    let f = zip(previous, inputs.dropLast()).reduce(0) { $0 + $1.0 * $1.1[i] }
                    deviation2 += pow(x[i] - f, 2)
                }
                let a = previous.reduce(0) { $0 + $1 * $1 }
                let rate = max(1 / Double(r), 1 / Double(n - 1))
                variance += rate * (deviation2 / (1 + a) - variance)
            }
            var difference2 = 0.0
            for i in 1..<d {
                let f = zip(wf, inputs).reduce(0) { $0 + $1.0 * $1.1[i] }
                let s = zip(ws, inputs).reduce(0) { $0 + $1.0 * $1.1[i] }
                difference2 += pow(f - s, 2)
            }
            let factor = zip(wf, ws).reduce(0) { $0 + pow($1.0 - $1.1, 2) }
            let expected = n > 1 && factor > 1e-12 ? difference2 / (variance * factor) : 0
            _ = x.withUnsafeBufferPointer { detector.observe($0.baseAddress!) }
            #expect(abs(detector.statistic - expected) <= 1e-9 * max(1, expected), "event \(n): \(detector.statistic) vs \(expected)")
        }
    }

    /// Without drift the statistic's mean is 1 (that is what the normalisation is for) and it stays far
    /// below the default raise level; a shift of the mean outside the class span raises, in either
    /// direction, and the alert clears once the inputs have been stable for a window.
    @Test func stationaryNoiseAveragesOneAndShiftsRaiseBothWays() throws {
        let d = 64
        var random = TestRandom(seed: 8)
        let classes = try random.classes(4, d)
        let detector = MeanShiftDetector(classes: classes.normalized)
        let offset = random.unitVector(d)
        var statistics: [Double] = []
        var changes: [(Int, DetectorChange)] = []
        for t in 0..<6000 {
            // Noise of total variance 1 around the origin; from 2000 to 3999 the mean moves by 1 along `offset`.
            let shift = (2000..<4000).contains(t) ? 1.0 : 0
            let x = (0..<d).map { i in random.uniform() * 3.0.squareRoot() * 0.125 + shift * offset[i] }
            if let change = x.withUnsafeBufferPointer({ detector.observe($0.baseAddress!) }) { changes.append((t, change)) }
            if t >= 500 && t < 2000 { statistics.append(detector.statistic) }
        }
        let mean = statistics.reduce(0, +) / Double(statistics.count)
        #expect(abs(mean - 1) < 0.15, "mean T without drift \(mean)")
        #expect(statistics.max()! < 4, "largest T without drift \(statistics.max()!)")
        #expect(changes.count == 4, "\(changes) \(statistics.max()!) \(mean)")
        guard changes.count == 4 else { return }
        #expect(changes[0].1 == .raised && (2000..<2030).contains(changes[0].0), "\(changes)")
        #expect(changes[1].1 == .cleared && changes[1].0 >= changes[0].0 + 50 && changes[1].0 < 2400, "\(changes)")
        #expect(changes[2].1 == .raised && (4000..<4030).contains(changes[2].0), "\(changes)")
        #expect(changes[3].1 == .cleared, "\(changes)")
    }

    @Test func checkpointRestoresTheTestExactly() throws {
        let d = 16
        var random = TestRandom(seed: 2)
        let classes = try random.classes(3, d)
        let a = MeanShiftDetector(classes: classes.normalized, window: 10, reference: 40)
        let b = MeanShiftDetector(classes: classes.normalized, window: 10, reference: 40)
        // Another machine's eigendecomposition may return the subspace with other signs: the restored
        // model uses the basis its coordinates were kept in.
        BLAS.scal(b.basis.count, alpha: -1, b.basis.pointer)
        // The shift has a component inside the class subspace (along class 0), where signs matter.
        let stream = (0..<600).map { t in
            (0..<d).map { i in random.uniform() + (t >= 300 ? 0.8 + classes.normalized[0, i] : 0) }
        }
        for x in stream[..<310] { _ = x.withUnsafeBufferPointer { a.observe($0.baseAddress!) } }
        #expect(a.isActive)
        var writer = CheckpointWriter()
        a.save(to: &writer)
        var reader = CheckpointReader(writer.bytes)
        try b.restore(from: &reader)
        for x in stream[310...] {
            let ca = x.withUnsafeBufferPointer { a.observe($0.baseAddress!) }
            let cb = x.withUnsafeBufferPointer { b.observe($0.baseAddress!) }
            #expect(ca == cb && a.statistic == b.statistic && a.isActive == b.isActive)
        }
        // Other settings are refused, naming the field.
        let other = MeanShiftDetector(classes: classes.normalized, window: 11, reference: 40)
        var again = CheckpointReader(writer.bytes)
        #expect(throws: CheckpointError.self) { try other.restore(from: &again) }
    }
}
