import Foundation
import Testing

@testable import StreamAdaptCore

@Suite struct KalmanHeadTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// A Gaussian Kalman head with fixed noise and no regulation: recursive least squares.
    func rlsConfiguration(forgetting: Double) -> KalmanConfiguration {
        var config = KalmanConfiguration()
        config.observation = .gaussian
        config.target = .oneHot
        config.forgetting = forgetting
        config.priorVariance = 0.5
        config.traceBound = 1e12
        config.initialNoise = 0.3
        config.noiseMemory = 1
        config.mahalanobisScaling = 0
        config.initialScale = 1
        config.targetScale = 2
        return config
    }

    /// Batch (exponentially weighted) ridge regression with prior mean W0:
    /// W' = (l^N P0^-1 + sum_i l^(N-i) x_i x_i' / R)^-1 (l^N P0^-1 W0' + sum_i l^(N-i) x_i y_i' / R).
    func batchRidge(
        w0: [Double], xs: [[Double]], labels: [Int], c: Int, d: Int, config: KalmanConfiguration
    ) -> [Double] {
        let n = xs.count
        let l = config.forgetting
        let priorWeight = Foundation.pow(l, Double(n)) / config.priorVariance
        var a = [Double](repeating: 0, count: d * d)
        var b = [Double](repeating: 0, count: d * c)  // D x C = W'
        for i in 0..<d { a[i * d + i] = priorWeight }
        for i in 0..<d { for k in 0..<c { b[i * c + k] = priorWeight * w0[k * d + i] } }
        for (t, x) in xs.enumerated() {
            let w = Foundation.pow(l, Double(n - 1 - t)) / config.initialNoise
            for i in 0..<d {
                for j in 0..<d { a[i * d + j] += w * x[i] * x[j] }
                b[i * c + labels[t]] += w * x[i] * config.targetScale
            }
        }
        let wt = solve(a, b, n: d, m: c)  // D x C
        var result = [Double](repeating: 0, count: c * d)
        for k in 0..<c { for i in 0..<d { result[k * d + i] = wt[i * c + k] } }
        return result
    }

    @Test(arguments: [1.0, 0.97])
    func gaussianHeadEqualsBatchRidge(forgetting: Double) throws {
        let c = 4
        let d = 12
        var random = TestRandom(seed: 42)
        let classes = try random.classes(c, d)
        let config = rlsConfiguration(forgetting: forgetting)
        let head = KalmanHead(classes: classes, configuration: config)
        let w0 = head.weights.array
        var xs: [[Double]] = []
        var labels: [Int] = []
        for t in 0..<200 {
            let x = random.unitVector(d)
            xs.append(x)
            labels.append(t % c)
            head.step(x, label: t % c)
        }
        let expected = batchRidge(w0: w0, xs: xs, labels: labels, c: c, d: d, config: config)
        let error = maxRelativeError(head.weights.array, expected)
        #expect(error < 1e-8, "relative error \(error)")
        #expect(head.updateCount == 200)
    }

    @Test func covarianceStaysPositiveDefiniteWithBoundedTrace() throws {
        let d = 16
        var random = TestRandom(seed: 7)
        let classes = try random.classes(5, d)
        var config = KalmanConfiguration()
        config.forgetting = 0.98
        config.traceBound = 2
        let head = KalmanHead(classes: classes, configuration: config)
        let bound = 2 * config.priorVariance * Double(d)
        for t in 0..<100_000 {
            // Inputs confined to a few directions most of the time: the wind-up case.
            var x = random.unitVector(d)
            if t % 10 != 0 { for i in 4..<d { x[i] = 0 } }
            let norm = x.reduce(0) { $0 + $1 * $1 }.squareRoot()
            head.step(x.map { $0 / norm }, label: t % 5, context: LearnContext(mahalanobis2: Double(d) * 3 * random.uniform().magnitude))
        }
        // Symmetry is structural (only the upper triangle is stored and updated), so it is not asserted.
        var p = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { p[i * d + j] = head.covarianceEntry(i, j) } }
        #expect(isPositiveDefinite(p, n: d))
        var trace = 0.0
        for i in 0..<d { trace += p[i * d + i] }
        #expect(trace <= bound * (1 + 1e-9), "trace \(trace) above bound \(bound)")
        #expect(abs(trace - head.covarianceTrace) <= 1e-9 * trace)
        #expect(head.weights.array.allSatisfy { $0.isFinite })
    }

    @Test func softmaxUpdateIsInformationFormNaturalGradient() throws {
        // One update: P_new^-1 = P^-1 + (h a^2 / R) x x' and W_new = W + e (P x)' / (R / a + h a q).
        let d = 6
        let c = 3
        var random = TestRandom(seed: 3)
        let classes = try random.classes(c, d)
        var config = KalmanConfiguration.softmaxDefaults
        config.forgetting = 1
        config.priorVariance = 0.7
        config.initialNoise = 0.4
        config.mahalanobisScaling = 0
        config.logitScale = 3
        let head = KalmanHead(classes: classes, configuration: config)
        let w0 = head.weights.array
        let x = random.unitVector(d)
        let label = 1
        let z = (0..<c).map { k in config.logitScale * (0..<d).reduce(0) { $0 + w0[k * d + $1] * x[$1] } }
        let m = z.max()!
        let ez = z.map { Foundation.exp($0 - m) }
        let p = ez.map { $0 / ez.reduce(0, +) }
        let h = max(config.minimumFisher, p[label] * (1 - p[label]))
        head.step(x, label: label)

        var pInverse = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { pInverse[i * d + j] = head.covarianceEntry(i, j) } }
        let identity = (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1.0 : 0.0 }
        pInverse = solve(pInverse, identity, n: d, m: d)
        var expected = [Double](repeating: 0, count: d * d)
        let a = config.logitScale
        for i in 0..<d {
            for j in 0..<d {
                expected[i * d + j] = (i == j ? 1 / config.priorVariance : 0) + h * a * a / config.initialNoise * x[i] * x[j]
            }
        }
        #expect(maxRelativeError(pInverse, expected) < 1e-9)

        let q = config.priorVariance
        let s = config.initialNoise / a + h * a * q
        var expectedW = w0
        for k in 0..<c {
            let e = (k == label ? 1 : 0) - p[k]
            for j in 0..<d { expectedW[k * d + j] += e * config.priorVariance * x[j] / s }
        }
        #expect(maxRelativeError(head.weights.array, expectedW) < 1e-12)
    }

    @Test(arguments: [KalmanConfiguration.Observation.gaussian, .softmax])
    func diagonalEqualsFullInOneDimension(observation: KalmanConfiguration.Observation) throws {
        // With D = 1 the full and diagonal covariances are the same scalar filter.
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 1, values: [1, -1])
        var config = KalmanConfiguration()
        config.observation = observation
        config.forgetting = 0.99
        let full = KalmanHead(classes: classes, configuration: config)
        config.covariance = .diagonal
        let diagonal = KalmanHead(classes: classes, configuration: config)
        var random = TestRandom(seed: 11)
        for t in 0..<300 {
            let x = [random.uniform() < 0 ? -1.0 : 1.0]
            let context = LearnContext(mahalanobis2: 2 * random.uniform().magnitude)
            full.step(x, label: t % 2, context: context)
            diagonal.step(x, label: t % 2, context: context)
        }
        #expect(maxRelativeError(diagonal.weights.array, full.weights.array) < 1e-9)
        #expect(abs(diagonal.covarianceEntry(0, 0) - full.covarianceEntry(0, 0)) <= 1e-9 * full.covarianceEntry(0, 0))
        #expect(abs(full.noise - diagonal.noise) <= 1e-9 * full.noise)
    }

    @Test func mahalanobisRegulationShrinksTheStep() throws {
        var random = TestRandom(seed: 5)
        let classes = try random.classes(3, 8)
        var config = KalmanConfiguration()
        config.initialNoise = 0.01  // R comparable to x'P x, so the inflation shows
        let near = KalmanHead(classes: classes, configuration: config)
        let far = KalmanHead(classes: classes, configuration: config)
        let w0 = near.weights.array
        let x = random.unitVector(8)
        near.step(x, label: 2, context: LearnContext(mahalanobis2: 8))
        far.step(x, label: 2, context: LearnContext(mahalanobis2: 800))
        let moveNear = l1Distance(near.weights.array, w0)
        let moveFar = l1Distance(far.weights.array, w0)
        #expect(moveFar < moveNear / 10, "far step \(moveFar) vs near step \(moveNear)")
        #expect(moveFar > 0)
    }
}
