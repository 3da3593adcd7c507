import Foundation
import Testing

@testable import StreamAdaptCore

@Suite struct StreamModelTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// Everything a bad event could touch, as plain values.
    func snapshot(_ model: StreamModel) -> [Double] {
        var values: [Double] = []
        if let kalman = model.head as? KalmanHead {
            values += kalman.weights.array
            for i in 0..<kalman.dimension { for j in 0..<kalman.dimension { values.append(kalman.covarianceEntry(i, j)) } }
            values += [kalman.noise, kalman.covarianceTrace, Double(kalman.updateCount)]
        }
        if let scorer = model.scorer {
            values += scorer.means.array
            for i in 0..<model.dimension { for j in 0..<model.dimension { values.append(scorer.factorEntry(i, j)) } }
            for i in 0..<model.dimension { for j in 0..<model.dimension { values.append(scorer.covarianceEntry(i, j)) } }
            values += [Double(scorer.scoredEvents), scorer.threshold ?? -1]
        }
        values.append(Double(model.eventCount))
        return values
    }

    @Test func badInputsThrowTypedErrorsAndLeaveStateBitIdentical() throws {
        var random = TestRandom(seed: 41)
        let classes = try random.classes(3, 8)
        let model = StreamModel(classes: classes, head: KalmanHead(classes: classes))
        for t in 0..<50 { _ = try model.process(random.unitVector(8).map(Float.init), label: t % 3) }
        let before = snapshot(model)
        var nan = random.unitVector(8).map(Float.init)
        nan[5] = .nan
        var inf = random.unitVector(8).map(Float.init)
        inf[2] = -.infinity
        let cases: [([Float], Int?, EmbeddingError)] = [
            (Array(repeating: 0.1, count: 7), 0, .wrongDimension(expected: 8, actual: 7)),
            (nan, 1, .nonFinite(index: 5)),
            (inf, nil, .nonFinite(index: 2)),
            (Array(repeating: 0, count: 8), 2, .zeroVector),
            (random.unitVector(8).map(Float.init), 3, .labelOutOfRange(label: 3, classCount: 3)),
            (random.unitVector(8).map(Float.init), -1, .labelOutOfRange(label: -1, classCount: 3)),
        ]
        for (embedding, label, expected) in cases {
            #expect(throws: expected) { try model.process(embedding, label: label) }
        }
        let after = snapshot(model)
        #expect(before.count == after.count)
        #expect(zip(before, after).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    @Test func unknownClassNameIsATypedError() throws {
        let classes = try ClassEmbeddings(names: ["cat", "dog"], dimension: 2, values: [1, 0, 0, 1])
        #expect(classes.index(of: "dog") == 1)
        #expect(classes.index(of: "cow") == nil)
        #expect(EmbeddingError.unknownClassName("cow").code == .unknownClass)
        #expect(EmbeddingError.Code.allCases.map(\.rawValue) == ["wrong-dimension", "non-finite", "zero-vector", "label-out-of-range", "unknown-class", "retired-class"])
    }

    @Test func probabilitiesAreFlattenedByRelativeLogitVariance() throws {
        // p = softmax(a z / sqrt(1 + pi v / (8 vbar))), v the event's logit variance and vbar its running
        // mean (vbar = v on the first event, then vbar <- 0.999 vbar + 0.001 v): the first event has v = vbar and a = 1.
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 2, values: [1, 0, 0, 1])
        var config = KalmanConfiguration()
        config.priorVariance = 2
        config.outputScale = 1
        // Forgetting with room under the trace bound: P <- P / 0.5 before each update, so directions the
        // head has not learned become less certain than the running mean.
        config.forgetting = 0.5
        config.traceBound = 10
        let model = StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: config))
        let first = try model.process([1, 0], label: nil)
        let kappa = 1 / (1 + Double.pi / 8).squareRoot()
        #expect(abs(first.variance - 2) < 1e-12)  // x'P x with P = 2 I
        #expect(abs(first.probability - 1 / (1 + Foundation.exp(-kappa))) < 1e-12)
        #expect(first.index == 0)
        #expect(first.updated == false && first.correct == nil)
        var meanVariance = first.variance

        // A labelled event along e1: P is inflated to 4 I, then shrunk along e1 only; a is recalibrated.
        let learned = try model.process([1, 0], label: 0)
        #expect(abs(learned.variance - 2) < 1e-12)  // measured before the update
        #expect(learned.updated && learned.correct == true)
        meanVariance = 0.999 * meanVariance + 0.001 * learned.variance
        let scale = model.probabilityScale
        #expect(scale != 1, "a labelled event recalibrates the temperature")

        // A second unlabelled event along e2, less certain (x'P x = 4, twice the running mean of about 2):
        // it is flattened more than an event at the running mean.
        let second = try model.process([0, 1], label: nil)
        #expect(abs(second.variance - 4) < 1e-12)
        meanVariance = 0.999 * meanVariance + 0.001 * second.variance
        #expect(second.variance > 1.9 * meanVariance)
        #expect(model.probabilityScale == scale, "an unlabelled event leaves the temperature alone")
        #expect(second.index == 1)
        let z = model.head.logits([0, 1])
        #expect(z.count == 2 && z[1] > z[0])
        func top(_ kappa: Double) -> Double { 1 / (1 + Foundation.exp(-kappa * (z[1] - z[0]))) }
        let flattened = scale / (1 + Double.pi * second.variance / (8 * meanVariance)).squareRoot()
        #expect(abs(second.probability - top(flattened)) < 1e-12, "\(second.probability) vs \(top(flattened))")
        #expect(second.probability < top(scale / (1 + Double.pi / 8).squareRoot()) - 0.01)
        #expect(second.probability > 0.5)
    }

    @Test func temperatureIsLearnedFromLabels() throws {
        // A perfectly separable stream: the learned temperature must grow far above 1 and the
        // probability of the right class approach 1.
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: 2, values: [1, 0, 0, 1])
        let model = StreamModel(classes: classes, head: ZeroShotHead(classes: classes, temperature: 1))
        var last = 0.0
        for t in 0..<200 {
            let label = t % 2
            last = try model.process(label == 0 ? [1, 0.2] : [0.2, 1], label: label).probability
        }
        #expect(model.probabilityScale > 4)
        #expect(last > 0.98)
    }

    /// Two well separated clusters in 16 dimensions, labels alternating; from event 1500 on the
    /// stream moves to 8 other dimensions.
    func shiftedClusters() throws -> (ClassEmbeddings, [([Float], Int)]) {
        var random = TestRandom(seed: 43)
        let d = 16
        var centres = [Float](repeating: 0, count: 2 * d)
        centres[0] = 1
        centres[d + 1] = 1
        let classes = try ClassEmbeddings(names: ["a", "b"], dimension: d, values: centres)
        let events = (0..<2000).map { t in
            var x = random.unitVector(d).map { 0.05 * $0 }
            x[t % 2 + (t >= 1500 ? 8 : 0)] += 1
            return (x.map(Float.init), t % 2)
        }
        return (classes, events)
    }

    @Test func inputDriftIsRaisedOnAShiftAndNotBefore() throws {
        let (classes, events) = try shiftedClusters()
        var drift = DriftSettings()
        drift.mahalanobis.warmupEvents = 200
        drift.mahalanobis.referenceEvents = 300
        let model = StreamModel(classes: classes, head: ZeroShotHead(classes: classes), drift: drift)
        for (x, label) in events { _ = try model.process(x, label: label) }
        let input = model.alerts.filter { $0.kind == .inputDrift }
        #expect(input.count >= 1)
        #expect((1500..<1560).contains(input.first?.raisedAt ?? -1), "alerts: \(model.alerts)")
    }

    @Test func withoutInputScoringTheHeadLearnsAsOnItsOwnAndInputAlertsRemain() throws {
        // The same shifted stream, with drift.inputScoring off: no scorer, no distance, never drifting;
        // the input-drift alert (the mean-shift test reads the embeddings alone) is raised as with the
        // scorer, and with drift.inputAlerts off it is not; the Kalman head gets the neutral d2 = D, so its weights equal those of a
        // bare head fed the same events with no Mahalanobis context.
        let (classes, events) = try shiftedClusters()
        var drift = DriftSettings()
        drift.inputScoring = false
        let model = StreamModel(classes: classes, head: KalmanHead(classes: classes), drift: drift)
        let bare = KalmanHead(classes: classes)
        let x = Matrix(rows: classes.dimension, columns: 1)
        let logits = Matrix(rows: 2, columns: 1)
        #expect(model.scorer == nil)
        for (embedding, label) in events {
            let result = try model.process(embedding, label: label)
            #expect(result.mahalanobis2 == nil && !result.drifting)
            try embedding.withUnsafeBufferPointer { (buffer) throws(EmbeddingError) in
                try normalizeEmbedding(buffer, into: x.pointer, dimension: classes.dimension)
            }
            _ = bare.predict(x.pointer, logits: logits.pointer)
            bare.learn(label: label, context: LearnContext(mahalanobis2: nil))
        }
        let input = model.alerts.filter { $0.kind == .inputDrift }
        #expect(input.count == 1 && (1500..<1560).contains(input.first?.raisedAt ?? -1), "alerts: \(model.alerts)")
        drift.inputAlerts = false
        let silent = StreamModel(classes: classes, head: ZeroShotHead(classes: classes), drift: drift)
        for (embedding, label) in events { _ = try silent.process(embedding, label: label) }
        #expect(silent.alerts.allSatisfy { $0.kind == .accuracyDrop }, "alerts: \(silent.alerts)")
        let head = try #require(model.head as? KalmanHead)
        #expect(head.weights.array.map(\.bitPattern) == bare.weights.array.map(\.bitPattern))
        #expect(head.noise.bitPattern == bare.noise.bitPattern)
    }
}
