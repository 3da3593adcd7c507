import Foundation
import Testing

@testable import StreamAdaptCore

@Suite struct TipAdapterTests {
    let classes: ClassEmbeddings
    let t: [[Double]]
    init() throws {
        BLAS.setThreads(1)  // runs compared within a test must round alike
        classes = try ClassEmbeddings(names: ["a", "b"], dimension: 3, values: [3, 0, 4, 0, 1, 0])
        t = [[0.6, 0, 0.8], [0, 1, 0]]
    }

    @Test func logitsEqualHandComputation() {
        var config = TipAdapterConfiguration()
        config.affinityCorrection = .none
        config.alpha = 2
        config.beta = 5
        config.shotsPerClass = 2
        let head = TipAdapterHead(classes: classes, configuration: config)
        let k1 = [1.0, 0, 0]
        let k2 = [0.0, 0.6, 0.8]
        let k3 = [0.0, 0.0, 1.0]
        head.step(k1, label: 0)
        head.step(k2, label: 1)
        head.step(k3, label: 0)
        let x = [0.48, 0.6, 0.64]
        func affinity(_ k: [Double]) -> Double { Foundation.exp(-5 * (1 - dot(x, k))) }
        let expected = [
            100 * dot(x, t[0]) + 2 * (affinity(k1) + affinity(k3)),
            100 * dot(x, t[1]) + 2 * affinity(k2),
        ]
        let logits = head.logits(x)
        #expect(abs(logits[0] - expected[0]) < 1e-12)
        #expect(abs(logits[1] - expected[1]) < 1e-12)
    }

    @Test func projectionMapsKeysAndQueriesButNotTheZeroShotTerm() {
        // TA++/TX++: the cache sees normalise(M x); the zero-shot term sees x.
        var config = TipAdapterConfiguration()
        config.affinityCorrection = .none
        config.alpha = 1.5
        config.beta = 2
        let m: [Double] = [0, 1, 0, 2, 0, 0, 0, 0, 1]  // y = (x1, 2 x0, x2), then normalised
        let head = TipAdapterHead(classes: classes, configuration: config, projection: Matrix(rows: 3, columns: 3, values: m))
        #expect(head.name == "tip++")
        func project(_ x: [Double]) -> [Double] {
            let y = [x[1], 2 * x[0], x[2]]
            let n = y.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return y.map { $0 / n }
        }
        let key = [0.6, 0.8, 0.0]
        head.step(key, label: 1)
        let x = [0.0, 0.6, 0.8]
        let affinity = Foundation.exp(-2 * (1 - dot(project(x), project(key))))
        let logits = head.logits(x)
        #expect(abs(logits[0] - 100 * dot(x, t[0])) < 1e-12)
        #expect(abs(logits[1] - (100 * dot(x, t[1]) + 1.5 * affinity)) < 1e-12)
    }

    @Test func fifoEvictsTheOldestKeyOfTheClass() {
        var config = TipAdapterConfiguration()
        config.affinityCorrection = .none
        config.shotsPerClass = 1
        config.alpha = 1
        config.beta = 1
        let head = TipAdapterHead(classes: classes, configuration: config)
        head.step([1, 0, 0], label: 0)
        head.step([0, 0, 1], label: 0)  // replaces [1, 0, 0]
        let x = [0.0, 0.0, 1.0]
        let logits = head.logits(x)
        #expect(head.cachedKeys(of: 0) == 1)
        #expect(abs(logits[0] - (100 * 0.8 + 1)) < 1e-12)  // affinity exp(-1 (1 - 1)) = 1
    }

    @Test func tipXAddsTheRescaledSignatureAffinity() {
        var config = TipAdapterConfiguration()
        config.affinityCorrection = .none
        config.alpha = 1
        config.beta = 1
        config.tipXWeight = 3
        let head = TipAdapterHead(classes: classes, configuration: config)
        let keys: [([Double], Int)] = [([1, 0, 0], 0), ([0, 1, 0], 1), ([0, 0.6, 0.8], 1)]
        for (k, label) in keys { head.step(k, label: label) }
        let x = [0.8, 0.6, 0.0]
        func signature(_ f: [Double]) -> [Double] {
            let z = t.map { dot(f, $0) / 0.5 }
            let e = z.map { Foundation.exp($0) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let sx = signature(x)
        let kl = keys.map { k in -zip(sx, signature(k.0)).map { $0 * Foundation.log($0 / $1) }.reduce(0, +) }
        let aff = keys.map { dot(x, $0.0) }
        let (lo, hi) = (aff.min()!, aff.max()!)
        let (klLo, klHi) = (kl.min()!, kl.max()!)
        let scaled = kl.map { lo + ($0 - klLo) / (klHi - klLo) * (hi - lo) }
        var expected = t.map { 100 * dot(x, $0) }
        for (j, k) in keys.enumerated() {
            expected[k.1] += Foundation.exp(-(1 - aff[j])) + 3 * scaled[j]
        }
        let logits = head.logits(x)
        #expect(abs(logits[0] - expected[0]) < 1e-10)
        #expect(abs(logits[1] - expected[1]) < 1e-10)
    }
}

/// The standardized affinity correction (TipAdapterHead+Correction.swift), in closed form.
@Suite struct TipCorrectionTests {
    let classes: ClassEmbeddings
    // t0 = (0.6, 0, 0.8), t1 = (0, 1, 0); keys k1, k3 of class 0 and k2 of class 1; x as below.
    let keys: [([Double], Int)] = [([1, 0, 0], 0), ([0, 0.6, 0.8], 1), ([0, 0, 1], 0)]
    let x = [0.48, 0.6, 0.64]
    // By hand: z0 = 100 x T' = (80, 60), sd_c(z0) = 10; a = x F' = (0.48, 0.872, 0.64), max 0.872,
    // mean 0.664, deviations (-0.184, 0.208, -0.024), sd = sqrt(0.077696 / 3).
    let sd = (0.077696 / 3).squareRoot()
    init() throws {
        BLAS.setThreads(1)  // runs compared within a test must round alike
        classes = try ClassEmbeddings(names: ["a", "b"], dimension: 3, values: [3, 0, 4, 0, 1, 0])
    }

    func head(_ configure: (inout TipAdapterConfiguration) -> Void) -> TipAdapterHead {
        var config = TipAdapterConfiguration()
        config.shotsPerClass = 2
        configure(&config)
        let head = TipAdapterHead(classes: classes, configuration: config)
        for (k, label) in keys { head.step(k, label: label) }
        return head
    }

    @Test func standardizedLogitsEqualHandComputation() {
        let head = head {
            $0.spreadSharpness = 2
            $0.relativeAlpha = 1.5
            $0.selectsWeight = false
        }
        func kernel(_ a: Double) -> Double { Foundation.exp(2 * (a - 0.872) / sd) }
        let expected: [Double] = [80 + 15 * (kernel(0.48) + kernel(0.64)), 60 + 15 * 1]
        let logits = head.logits(x)
        #expect(abs(logits[0] - expected[0]) < 1e-10)
        #expect(abs(logits[1] - expected[1]) < 1e-10)
        // Not the papers' form: with alpha = 1.17, beta = 1 the cache would add about 1 to each class.
        #expect(logits[1] > logits[0] - 15)
    }

    @Test func standardizedTipXEqualsHandComputation() {
        let head = head {
            $0.spreadSharpness = 1
            $0.relativeAlpha = 1
            $0.tipXWeight = 0.5
            $0.selectsWeight = false
        }
        let t = [[0.6, 0, 0.8], [0.0, 1, 0]]
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map(*).reduce(0, +) }
        func signature(_ f: [Double]) -> [Double] {
            let e = t.map { Foundation.exp(dot(f, $0) / 0.5) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let a = [0.48, 0.872, 0.64]
        let kernel = a.map { Foundation.exp(($0 - 0.872) / sd) }
        let sx = signature(x)
        let kl = keys.map { k in -zip(sx, signature(k.0)).map { $0 * Foundation.log($0 / $1) }.reduce(0, +) }
        let (lo, hi) = (kernel.min()!, 1.0)
        let scaled = kl.map { lo + ($0 - kl.min()!) / (kl.max()! - kl.min()!) * (hi - lo) }
        var expected = [80.0, 60]
        for (j, k) in keys.enumerated() { expected[k.1] += 10 * kernel[j] + 0.5 * 10 * scaled[j] }
        let logits = head.logits(x)
        #expect(abs(logits[0] - expected[0]) < 1e-10)
        #expect(abs(logits[1] - expected[1]) < 1e-10)
    }

    @Test func equalAffinitiesWeighOneEach() {
        // sd(a) = 0: every key weighs exp(0) = 1.
        let head = TipAdapterHead(classes: classes, configuration: {
            var c = TipAdapterConfiguration()
            c.selectsWeight = false
            c.relativeAlpha = 0.5
            return c
        }())
        head.step([0, 0, 1], label: 1)
        let logits = head.logits(x)
        #expect(abs(logits[0] - 80) < 1e-12)
        #expect(abs(logits[1] - (60 + 0.5 * 10)) < 1e-12)
    }

    /// The weight level: 0 until a level wins significantly more often than it loses against the base.
    @Test func weightLevelFollowsTheSignTest() {
        let head = TipAdapterHead(classes: classes, configuration: {
            var c = TipAdapterConfiguration()
            c.shotsPerClass = 1
            c.relativeAlpha = 10
            c.selectionMemory = 1e12  // no discount to speak of: the counts are plain counts
            c.selectionConfidence = 2
            return c
        }())
        // The input y has z0 = 100 y T' = (64, 60), sd_c(z0) = 2; with one key per class present the
        // affinities have sd 0, so the cache term is r sd A = 20 on class 1. Level m flips the prediction
        // to class 1 (the label) iff 20 m > 4: levels 1/4, 1/2, 1 win each event, 1/16 and 1/8 do not.
        let y = [0.0, 0.6, 0.8]
        head.step([0, 0, 1], label: 1)  // predicted with an empty cache: no level differs
        var levels: [Double] = []
        var logits: [Double] = []
        for _ in 0..<6 {
            logits = head.logits(y)
            levels.append(head.selectedWeightLevel)
            head.learn(label: 1, context: LearnContext())
        }
        // n wins, no losses: selected once n > 2 sqrt(n), i.e. from n = 5; ties go to the smallest level.
        #expect(levels == [0, 0, 0, 0, 0, 0.25])
        #expect(abs(logits[0] - 64) < 1e-12)
        #expect(abs(logits[1] - (60 + 0.25 * 20)) < 1e-12)
        #expect(head.selectedWeightLevel == 0.25)
    }

    /// In a sum the cache is a residual of the logits before it: `zeroshot+tip` is `tip`.
    @Test func sumWithZeroShotEqualsTheStandaloneHead() throws {
        var random = TestRandom(seed: 9)
        let classes = try random.classes(4, 6)
        var settings = HeadSettings()
        settings.tip.shotsPerClass = 3
        let alone = try settings.makeHead("tip", classes: classes)
        let sum = try settings.makeHead("zeroshot+tip", classes: classes)
        for t in 0..<80 {
            let x = random.unitVector(6)
            #expect(maxRelativeError(alone.logits(x), sum.logits(x)) < 1e-12)
            alone.learn(label: t % 3, context: LearnContext())
            sum.learn(label: t % 3, context: LearnContext())
        }
    }
}

@Suite struct ClipoodTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    @Test func betaWeightsFollowTheBetaDensity() {
        // Beta(1/2, 1/2).pdf(x) = 1 / (pi sqrt(x (1 - x))); Beta(2, 2).pdf(x) = 6 x (1 - x).
        for step in [0, 1, 17, 250, 499] {
            let x = (Double(step) + 0.5) / 501
            let arcsine = 1 / (Double.pi * (x * (1 - x)).squareRoot())
            #expect(abs(ClipoodHead.betaWeight(step: step, horizon: 500, shape: 0.5) - arcsine) < 1e-9 * arcsine)
            let parabola = 6 * x * (1 - x)
            #expect(abs(ClipoodHead.betaWeight(step: step, horizon: 500, shape: 2) - parabola) < 1e-9)
        }
    }

    @Test func averageIsTheBetaWeightedMeanOfTheIterates() throws {
        var random = TestRandom(seed: 31)
        let classes = try random.classes(3, 4)
        var config = ClipoodConfiguration()
        config.horizon = 6
        config.learningRate = 0.01
        let head = ClipoodHead(classes: classes, configuration: config)
        var iterates: [[Double]] = [head.weights.array]
        var weights = [ClipoodHead.betaWeight(step: 0, horizon: 6, shape: 0.5)]
        for t in 1...5 {
            head.step(random.unitVector(4), label: t % 3)
            iterates.append(head.weights.array)
            weights.append(ClipoodHead.betaWeight(step: t, horizon: 6, shape: 0.5))
        }
        let total = weights.reduce(0, +)
        let expected = (0..<12).map { i in zip(weights, iterates).map { $0 * $1[i] }.reduce(0, +) / total }
        #expect(maxRelativeError(head.averageWeights.array, expected) < 1e-12)
        // The sixth update starts a new horizon from the current weights.
        head.step(random.unitVector(4), label: 0)
        #expect(head.averageWeights.array == head.weights.array)
    }

    @Test func marginMakesTheTrainingStepPushHarderThanPlainSoftmax() throws {
        var random = TestRandom(seed: 32)
        let classes = try random.classes(3, 4)
        var withMargin = ClipoodConfiguration()
        withMargin.margin = 0.3
        withMargin.temperature = 5
        var without = withMargin
        without.margin = 0
        let a = ClipoodHead(classes: classes, configuration: withMargin)
        let b = ClipoodHead(classes: classes, configuration: without)
        let x = random.unitVector(4)
        a.step(x, label: 1)
        b.step(x, label: 1)
        let w0 = ClipoodHead(classes: classes).weights.array
        let moveA = l1Distance(a.weights.array, w0)
        let moveB = l1Distance(b.weights.array, w0)
        #expect(moveA > moveB)
    }
}
