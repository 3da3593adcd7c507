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
                let entropy = -expected.reduce(0) { $1 > 0 ? $0 + $1 * Foundation.log($1) : $0 }
                #expect(abs(b.entropy - entropy) < 1e-12)
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
    /// uninterrupted one. With the warm-up off no counts are written (the layout of earlier builds); such
    /// a checkpoint reads as warm-ups completed. A negative count is refused.
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

        // With the warm-up off the model writes no counts section: the layout of earlier builds, which
        // reads back as every warm-up completed.
        let off = try Self.model(base, warmup: 0)
        try off.restore(payload: payload)
        let old = off.checkpointPayload()
        let restored = try Self.model(base, warmup: 40)
        try restored.restore(payload: payload)
        let original = Self.bytes { restored.writeAddedClassLabels(to: &$0) }
        let sameLayout = old == Self.removing(original, from: payload)  // (not in #expect: it would print both payloads)
        #expect(sameLayout, "the payload with the warm-up off is not the payload without its counts section")
        let c = try Self.model(base, warmup: 40)
        try c.restore(payload: old)
        #expect(c.addedClassLabels == [StreamModel.completedWarmup])
        let unwarmed = try Self.model(base, warmup: 0)
        try unwarmed.restore(payload: old)
        for i in 0..<200 {
            #expect(try c.process(event(i), label: label(i, c)) == unwarmed.process(event(i), label: label(i, unwarmed)))
        }
        #expect(c.addedClassLabels == [StreamModel.completedWarmup])

        // A negative count is refused, naming the field.
        var section = original
        section.replaceSubrange((section.count - 8)..., with: [UInt8](repeating: 0xFF, count: 8))
        let corrupt = try #require(Self.removing(original, from: payload, replacingWith: section))
        do {
            try Self.model(base, warmup: 40).restore(payload: corrupt)
            Issue.record("a negative label count was accepted")
        } catch let error as CheckpointError {
            #expect(error.code == .corrupt && error.field == "classes.addedLabels", "\(error)")
        }
    }

    /// Blocks give the predictions of the per-event path with a warm-up on (the sample, the last class
    /// added before the first event; probabilities within rounding).
    @Test func blocksAgreeWithEventsDuringAWarmup() throws {
        let stream = try BlockedProcessingTests.sample(labelled: 3)
        let base = try ClassChangeTests.prefix(stream.classes, 9)
        func make(_ block: Int) throws -> StreamModel {
            let model = StreamModel(
                classes: base, head: try HeadSettings().makeHead("kalman", classes: base), maximumBlock: block, minimumBlock: 2)
            model.classWarmup = 20
            try model.addClass(name: stream.classes.names[9], embedding: ClassChangeTests.row(stream.classes, 9))
            return model
        }
        let events = try BlockedProcessingTests.run(stream, make(1), batchSize: nil)
        let blocks = try BlockedProcessingTests.run(stream, make(64), batchSize: 300)
        let (ties, differing) = BlockedProcessingTests.comparePredictions(events, blocks)
        #expect(differing <= ties)
        for (a, b) in zip(events.probabilities, blocks.probabilities) {
            #expect(BlockedProcessingTests.relative(a, b, floor: 1e-12) < 1e-6)
        }
        #expect(events.model.addedClassLabels == blocks.model.addedClassLabels)
        let learned = try #require(events.model.addedClassLabels.first)
        #expect(learned > 20, "the warm-up ended within the stream: \(learned) labels")
        #expect(events.results.contains { $0.index == 9 })
    }

    /// A class that gets no labels stays weighted at 1 / (m + 1)^2; a retired added class costs nothing
    /// (the outputs are bit for bit those without a warm-up); m = 1 ends at the first label.
    @Test func withoutLabelsTheWeightStaysAndRetiredClassesAreLeftAlone() throws {
        let stream = try BlockedProcessingTests.random(seed: 34, count: 600)
        let d = stream.dimension
        let base = try ClassChangeTests.prefix(stream.classes, 5)
        func event(_ i: Int) -> [Float] { Array(stream.embeddings[(i * d)..<((i + 1) * d)]) }
        // Labels of the base classes only: class 5 never learns one.
        func label(_ i: Int) -> Int? { stream.labels[i].flatMap { $0 < 5 ? $0 : nil } }
        for (m, retire) in [(7, false), (7, true), (1, false)] {
            let plain = try Self.model(base, warmup: 0)
            let warm = try Self.model(base, warmup: m)
            for model in [plain, warm] {
                try model.addClass(name: "class5", embedding: ClassChangeTests.row(stream.classes, 5))
                if retire { try model.retireClass(name: "class5") }
            }
            let weight = 1 / Double((m + 1) * (m + 1))
            for i in 0..<600 {
                let a = try plain.process(event(i), label: label(i))
                let b = try warm.process(event(i), label: label(i))
                if retire {
                    #expect(a == b && plain.probabilities.array == warm.probabilities.array, "event \(i)")
                    continue
                }
                var expected = (0..<6).map { plain.probabilities[$0] * ($0 == 5 ? weight : 1) }
                let sum = expected.reduce(0, +)
                expected = expected.map { $0 / sum }
                let entropy = -expected.reduce(0) { $1 > 0 ? $0 + $1 * Foundation.log($1) : $0 }
                #expect(maxRelativeError((0..<6).map { warm.probabilities[$0] }, expected) < 1e-12, "m \(m), event \(i)")
                #expect(abs(b.entropy - entropy) < 1e-12)
            }
            #expect(warm.addedClassLabels == [0])
        }
        // m = 1: the first label of the class ends the warm-up.
        let one = try Self.model(base, warmup: 1)
        let plain = try Self.model(base, warmup: 0)
        for model in [one, plain] { try model.addClass(name: "class5", embedding: ClassChangeTests.row(stream.classes, 5)) }
        let first = try #require((0..<600).first { stream.labels[$0] == 5 })
        for i in 0...first { _ = try one.process(event(i), label: stream.labels[i]); _ = try plain.process(event(i), label: stream.labels[i]) }
        #expect(one.addedClassLabels == [1])
        for i in (first + 1)..<600 {
            let a = try plain.process(event(i), label: stream.labels[i])
            let b = try one.process(event(i), label: stream.labels[i])
            #expect(a.index == b.index && a.probability == b.probability && a.entropy == b.entropy, "event \(i)")
        }
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
