import Testing

@testable import StreamAdaptCore

/// The information-form fold of the Kalman head: evidence of disjoint event sets adds, and the fold of
/// the parts equals the head that learned every event one by one (the exact case: Gaussian observation,
/// one-hot target, fixed noise, no Mahalanobis regulation, forgetting 1).
@Suite struct KalmanEvidenceTests {
    static func exactConfiguration() -> KalmanConfiguration {
        var config = KalmanConfiguration()
        config.target = .oneHot
        config.forgetting = 1
        config.noiseMemory = 1
        config.mahalanobisScaling = 0
        return config
    }

    @Test func theFoldOfFourPartitionsEqualsTheSequentialHead() throws {
        BLAS.setThreads(1)
        let (d, c, n) = (24, 5, 400)
        var random = SplitMix64(seed: 11)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) - 0.5 }
        let classes = try ClassEmbeddings(names: (0..<c).map { "c\($0)" }, dimension: d, values: (0..<(c * d)).map { _ in Float(uniform()) })
        let config = Self.exactConfiguration()
        #expect(KalmanEvidence.isExact(for: config))
        #expect(!KalmanEvidence.isExact(for: KalmanConfiguration()))
        let sequential = KalmanHead(classes: classes, configuration: config)
        let parts = (0..<4).map { _ in KalmanEvidence(dimension: d, classCount: c) }
        let logits = UnsafeMutablePointer<Double>.allocate(capacity: c)
        defer { logits.deallocate() }
        var x = [Double](repeating: 0, count: d)
        for i in 0..<n {
            let label = Int(random.next() % UInt64(c))
            for j in 0..<d { x[j] = uniform() + (j % c == label ? 0.8 : 0) }
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for j in 0..<d { x[j] /= norm }
            _ = sequential.predict(x, logits: logits)
            sequential.learn(label: label, context: LearnContext())
            parts[i % 4].add(x, label: label, targetScale: config.targetScale, noise: config.initialNoise)
        }
        #expect(sequential.noise == config.initialNoise)  // fixed
        let folded = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold(parts, into: folded, classes: classes)
        var worstW = 0.0
        var worstP = 0.0
        for k in 0..<c {
            for j in 0..<d {
                let a = sequential.weights[k, j]
                worstW = max(worstW, abs(folded.weights[k, j] - a) / max(abs(a), 1e-12))
            }
        }
        var largestP = 0.0
        for i in 0..<d { for j in i..<d { largestP = max(largestP, abs(sequential.covarianceEntry(i, j))) } }
        for i in 0..<d {
            for j in i..<d { worstP = max(worstP, abs(folded.covarianceEntry(i, j) - sequential.covarianceEntry(i, j)) / largestP) }
        }
        #expect(worstW < 1e-8, "W relative difference \(worstW)")
        #expect(worstP < 1e-8, "P difference \(worstP) of its largest entry")
        // One evidence holding all events gives the same fold as its four parts.
        let whole = KalmanEvidence(dimension: d, classCount: c)
        for p in parts { whole.add(p) }
        #expect(whole.count == n)
        let once = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold([whole], into: once, classes: classes)
        for k in 0..<c { for j in 0..<d { #expect(abs(once.weights[k, j] - folded.weights[k, j]) <= 1e-12 * max(1, abs(folded.weights[k, j]))) } }
        // No evidence: the prior.
        let prior = KalmanHead(classes: classes, configuration: config)
        try KalmanEvidence.fold([], into: prior, classes: classes)
        let fresh = KalmanHead(classes: classes, configuration: config)
        for k in 0..<c { for j in 0..<d { #expect(abs(prior.weights[k, j] - fresh.weights[k, j]) < 1e-15) } }
        #expect(abs(prior.covarianceEntry(3, 3) - config.priorVariance) < 1e-15 && prior.covarianceEntry(2, 3) == 0)
    }

    @Test func aFoldRefusesOtherShapesAndCovariances() throws {
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 4, values: [1, 0, 0, 0, 0, 1, 0, 0])
        var diagonal = Self.exactConfiguration()
        diagonal.covariance = .diagonal
        #expect(throws: KalmanEvidenceError.self) {
            try KalmanEvidence.fold([], into: KalmanHead(classes: classes, configuration: diagonal), classes: classes)
        }
        #expect(throws: KalmanEvidenceError.self) {
            try KalmanEvidence.fold([KalmanEvidence(dimension: 5, classCount: 2)], into: KalmanHead(classes: classes, configuration: Self.exactConfiguration()), classes: classes)
        }
        let broken = KalmanEvidence(dimension: 4, classCount: 2)
        broken.information[0, 0] = -1e9
        #expect(throws: KalmanEvidenceError.notPositiveDefinite) {
            try KalmanEvidence.fold([broken], into: KalmanHead(classes: classes, configuration: Self.exactConfiguration()), classes: classes)
        }
    }
}
