import Foundation
import Testing

@testable import StreamAdaptCore

/// The warm-up of a class added at run time (`StreamModel+ClassWarmup.swift`, docs/classes.md): a
/// decision prior ((n + 1) / (m + 1))^2 on the added class's probability until it has learned m labels.
@Suite struct ClassWarmupTests {
    init() { BLAS.setThreads(1) }

    static func model(_ classes: ClassEmbeddings, warmup: Int) throws -> StreamModel {
        var drift = DriftSettings()
        drift.mahalanobis.warmupEvents = 100
        drift.mahalanobis.referenceEvents = 100
        let model = StreamModel(classes: classes, head: try HeadSettings().makeHead("kalman", classes: classes), drift: drift)
        model.classWarmup = warmup
        return model
    }

    static func bytes(_ save: (inout CheckpointWriter) -> Void) -> [UInt8] {
        var writer = CheckpointWriter()
        save(&writer)
        return writer.bytes
    }

    /// Closed form: against a twin without warm-up fed the same events, every probability is the twin's
    /// with the added class's weighted by ((n + 1) / (m + 1))^2 (n: its labels learned before the event)
    /// and renormalised, the prediction is that distribution's argmax; from the m-th label on both agree
    /// exactly. The head, the drift scorer and the calibration learn the same (the prior is a decision
    /// prior only), and the warm-up did change some predictions.
    @Test func probabilitiesAreTheTwinsWeightedByTheLabelPrior() throws {
        let stream = try BlockedProcessingTests.sample(labelled: 2)  // D = 1024, C = 10, every other event labelled
        let d = stream.dimension
        let base = try ClassChangeTests.prefix(stream.classes, 9)
        let m = 30
        let plain = try Self.model(base, warmup: 0)
        let warm = try Self.model(base, warmup: m)
        func event(_ i: Int) -> [Float] { Array(stream.embeddings[(i * d)..<((i + 1) * d)]) }
        func label(_ i: Int, _ model: StreamModel) -> Int? { stream.labels[i].flatMap { $0 < model.classCount ? $0 : nil } }
        for i in 0..<300 {
            #expect(try plain.process(event(i), label: label(i, plain)) == warm.process(event(i), label: label(i, warm)))
        }
        for model in [plain, warm] { try model.addClass(name: "class9", embedding: ClassChangeTests.row(stream.classes, 9)) }
        var learned = 0
        var changed = 0
        var checkedAfter = 0
        for i in 300..<1200 {
            let l = label(i, plain)
            let a = try plain.process(event(i), label: l)
            let b = try warm.process(event(i), label: l)
            if learned < m {
                let share = (Double(learned) + 1) / Double(m + 1)
                var expected = (0..<10).map { plain.probabilities[$0] * ($0 == 9 ? share * share : 1) }
                let sum = expected.reduce(0, +)
                expected = expected.map { $0 / sum }
                let got = (0..<10).map { warm.probabilities[$0] }
                #expect(maxRelativeError(got, expected) < 1e-12, "event \(i): \(got) against \(expected)")
                #expect(b.index == expected.indices.max { expected[$0] < expected[$1] })
                #expect(abs(b.probability - expected[b.index]) < 1e-12)
                if a.index != b.index { changed += 1 }
            } else {
                // (Alerts may differ: the accuracy detector judges the published predictions.)
                #expect(
                    a.index == b.index && a.probability == b.probability && a.entropy == b.entropy
                        && a.mahalanobis2 == b.mahalanobis2 && a.drifting == b.drifting, "event \(i), after the warm-up")
                checkedAfter += 1
            }
            if l == 9 { learned += 1 }
            #expect(warm.addedClassLabels == [learned])
        }
        #expect(changed > 0, "the warm-up changed no prediction")
        #expect(checkedAfter > 200)
        #expect(Self.bytes(plain.head.save) == Self.bytes(warm.head.save))
        #expect(Self.bytes { plain.scorer!.save(to: &$0) } == Self.bytes { warm.scorer!.save(to: &$0) })
        #expect(plain.probabilityScale == warm.probabilityScale)
    }

    /// Delayed labels count toward the warm-up too; base classes never do.
    @Test func delayedLabelsCount() throws {
        let stream = try BlockedProcessingTests.random(seed: 32, count: 50)
        let d = stream.dimension
        let base = try ClassChangeTests.prefix(stream.classes, 5)
        let model = try Self.model(base, warmup: 10)
        try model.addClass(name: "class5", embedding: ClassChangeTests.row(stream.classes, 5))
        let x = Array(stream.embeddings[0..<d])
        try x.withUnsafeBufferPointer { try model.learnLate($0, label: 5, predicted: 0) }
        try x.withUnsafeBufferPointer { try model.learnLate($0, label: 5, predicted: 5) }
        try x.withUnsafeBufferPointer { try model.learnLate($0, label: 2, predicted: 2) }
        _ = try model.process(x, label: 5)
        #expect(model.addedClassLabels == [3])
    }

    /// The label counts are checkpointed: a model restored in the middle of a warm-up predicts as the
    /// uninterrupted one. A checkpoint written before the warm-up existed (no counts section) reads as
    /// warm-ups completed.
    @Test func countsSurviveACheckpointAndOldCheckpointsReadAsWarmedUp() throws {
        let stream = try BlockedProcessingTests.random(seed: 33, count: 700)
        let d = stream.dimension
        let base = try ClassChangeTests.prefix(stream.classes, 5)
        func event(_ i: Int) -> [Float] { Array(stream.embeddings[(i * d)..<((i + 1) * d)]) }
        func label(_ i: Int, _ model: StreamModel) -> Int? { stream.labels[i].flatMap { $0 < model.classCount ? $0 : nil } }
        let a = try Self.model(base, warmup: 40)
        for i in 0..<200 { _ = try a.process(event(i), label: label(i, a)) }
        try a.addClass(name: "class5", embedding: ClassChangeTests.row(stream.classes, 5))
        for i in 200..<300 { _ = try a.process(event(i), label: label(i, a)) }
        let counts = a.addedClassLabels
        #expect(counts[0] > 0 && counts[0] < 40, "mid warm-up: \(counts)")
        let payload = a.checkpointPayload()

        let b = try Self.model(base, warmup: 40)
        try b.restore(payload: payload)
        #expect(b.addedClassLabels == counts)
        #expect(b.checkpointPayload() == payload)
        for i in 300..<700 {
            #expect(try a.process(event(i), label: label(i, a)) == b.process(event(i), label: label(i, b)))
        }

        // The layout before the warm-up: the same payload without the counts section.
        let section = Self.bytes { a.writeAddedClassLabels(to: &$0) }
        let old = try #require(Self.removing(Self.bytes { b.writeAddedClassLabels(to: &$0) }, from: b.checkpointPayload()))
        #expect(section.count > 0)
        let c = try Self.model(base, warmup: 40)
        try c.restore(payload: old)
        #expect(c.addedClassLabels == [Int.max])
        let unwarmed = try Self.model(base, warmup: 0)
        try unwarmed.restore(payload: old)
        for i in 0..<200 {
            #expect(try c.process(event(i), label: label(i, c)) == unwarmed.process(event(i), label: label(i, unwarmed)))
        }
        // A corrupt count is refused.
        var negative = Self.bytes { b.writeAddedClassLabels(to: &$0) }
        let corrupt = try #require(Self.removing(negative, from: b.checkpointPayload(), replacingWith: {
            negative.replaceSubrange((negative.count - 8)..., with: [UInt8](repeating: 0xFF, count: 8))
            return negative
        }()))
        #expect(throws: CheckpointError.self) { try Self.model(base, warmup: 40).restore(payload: corrupt) }
    }

    /// `payload` with the first occurrence of `part` replaced (nil when it does not occur).
    static func removing(_ part: [UInt8], from payload: [UInt8], replacingWith replacement: [UInt8] = []) -> [UInt8]? {
        guard !part.isEmpty, part.count <= payload.count else { return nil }
        for start in 0...(payload.count - part.count) where payload[start..<(start + part.count)].elementsEqual(part) {
            var result = payload
            result.replaceSubrange(start..<(start + part.count), with: replacement)
            return result
        }
        return nil
    }
}
