import Foundation
import Testing

@testable import StreamAdaptCore

/// `StreamModel.process(_:)` in blocks against the per-event path: same predictions, same state up to
/// rounding, for block sizes 1, 2, 7, 64 and 512, on the bundled sample and on random data.
@Suite(.serialized) struct BlockedProcessingTests {
    init() { BLAS.setThreads(1) }  // runs compared within a test must round alike (docs/performance.md)

    /// A stream: class embeddings, raw embeddings (N x D) and labels (nil: unlabelled).
    struct Stream {
        var classes: ClassEmbeddings
        var embeddings: [Float]
        var labels: [Int?]
        var count: Int { labels.count }
        var dimension: Int { classes.dimension }
    }

    /// samples/fmnist-drift: 1200 events, D = 1024, C = 10, a covariate shift at event 600.
    static func sample(labelled every: Int = 1) throws -> Stream {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("samples/fmnist-drift")
        func floats(_ name: String) throws -> [Float] {
            let data = try Data(contentsOf: root.appendingPathComponent(name))
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        func lines(_ name: String) throws -> [String] {
            try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let names = try lines("classes.txt")
        let classes = try ClassEmbeddings(names: names, dimension: 1024, values: try floats("text.f32"))
        let labels = try lines("labels.txt").enumerated().map { $0.offset % every == 0 ? Int($0.element)! : nil }
        return Stream(classes: classes, embeddings: try floats("images.f32"), labels: labels)
    }

    /// Random clustered data: x = t_c + noise (D = 48, C = 6), 70 % labelled, the clusters move at event 1500.
    static func random(seed: UInt64, count: Int = 3000) throws -> Stream {
        var random = TestRandom(seed: seed)
        let c = 6
        let d = 48
        let classes = try random.classes(c, d)
        var embeddings: [Float] = []
        var labels: [Int?] = []
        for t in 0..<count {
            let label = Int(random.generator.next() % UInt64(c))
            let shift = t >= count / 2 ? 0.6 : 0
            for j in 0..<d {
                embeddings.append(Float(classes.normalized[label, j] + 0.35 * random.uniform() + shift * (j % 3 == 0 ? 0.2 : 0)))
            }
            labels.append(random.uniform() < 0.4 ? label : nil)
        }
        return Stream(classes: classes, embeddings: embeddings, labels: labels)
    }

    struct Run {
        var results: [EventResult] = []
        var probabilities: [[Double]] = []
        var model: StreamModel
    }

    static func model(_ stream: Stream, block: Int, head: KalmanConfiguration = .init(), scoring: Bool = true) -> StreamModel {
        var drift = DriftSettings()
        drift.inputScoring = scoring
        drift.mahalanobis.warmupEvents = 200
        drift.mahalanobis.referenceEvents = 200
        return StreamModel(
            classes: stream.classes, head: KalmanHead(classes: stream.classes, configuration: head), drift: drift,
            maximumBlock: block, minimumBlock: 2)  // every block of 2 or more events blocked
    }

    /// Per event through `process(_:label:)` (the reference), or through batches of `batchSize` events.
    static func run(_ stream: Stream, _ model: StreamModel, batchSize: Int?) throws -> Run {
        var run = Run(model: model)
        let d = stream.dimension
        try stream.embeddings.withUnsafeBufferPointer { all in
            guard let batchSize else {
                for i in 0..<stream.count {
                    run.results.append(try model.process(UnsafeBufferPointer(rebasing: all[(i * d)..<((i + 1) * d)]), label: stream.labels[i]))
                    run.probabilities.append(model.probabilities.array)
                }
                return
            }
            let batch = EventBatch(capacity: batchSize, dimension: d, classCount: stream.classes.count)
            var start = 0
            while start < stream.count {
                let end = min(stream.count, start + batchSize)
                for i in start..<end { try batch.append(UnsafeBufferPointer(rebasing: all[(i * d)..<((i + 1) * d)]), label: stream.labels[i]) }
                model.process(batch)
                for i in 0..<batch.count {
                    run.results.append(batch.results[i])
                    run.probabilities.append(Array(UnsafeBufferPointer(start: batch.probabilities.row(i), count: stream.classes.count)))
                }
                batch.removeAll()
                start = end
            }
        }
        return run
    }

    /// Largest |a - b| / max(|a|, |b|, floor) over two arrays.
    static func relative(_ a: [Double], _ b: [Double], floor: Double = 1e-300) -> Double {
        precondition(a.count == b.count)
        var worst = 0.0
        for (x, y) in zip(a, b) where x != y { worst = max(worst, abs(x - y) / max(abs(x), abs(y), floor)) }
        return worst
    }

    static func covariance(_ head: KalmanHead) -> [Double] {
        let d = head.dimension
        return (0..<(d * d)).map { head.covarianceEntry($0 / d, $0 % d) }
    }

    /// Predictions must be identical except where the reference's top two probabilities tie within
    /// 1e-9 relative; returns the number of such ties and of differing predictions.
    static func comparePredictions(_ reference: Run, _ blocked: Run) -> (ties: Int, differing: Int) {
        var ties = 0
        var differing = 0
        for (i, (a, b)) in zip(reference.results, blocked.results).enumerated() {
            let sorted = reference.probabilities[i].sorted(by: >)
            let tie = sorted.count > 1 && (sorted[0] - sorted[1]) <= 1e-9 * sorted[0]
            if tie { ties += 1 }
            if a.index != b.index {
                differing += 1
                #expect(tie, "event \(i): prediction \(b.index) against \(a.index) without a tie")
            }
        }
        return (ties, differing)
    }

    /// Without input scoring every part of the state is Float64 and must agree within 1e-9 relative.
    @Test(arguments: [1, 2, 7, 64, 512])
    func sampleWithoutScoringAgreesWithinRounding(block: Int) throws {
        let stream = try Self.sample()
        let reference = try Self.run(stream, Self.model(stream, block: 1, scoring: false), batchSize: nil)
        let blocked = try Self.run(stream, Self.model(stream, block: block, scoring: false), batchSize: 600)
        let (ties, differing) = Self.comparePredictions(reference, blocked)
        print("sample, no input scoring, block \(block): \(ties) ties, \(differing) differing predictions")
        let a = reference.model.head as! KalmanHead
        let b = blocked.model.head as! KalmanHead
        #expect(Self.relative(a.weights.array, b.weights.array, floor: 1e-3) < 1e-9)
        #expect(Self.relative(Self.covariance(a), Self.covariance(b), floor: 1e-6) < 1e-9)
        #expect(Self.relative([a.noise, a.covarianceTrace], [b.noise, b.covarianceTrace]) < 1e-9)
        #expect(a.updateCount == b.updateCount && a.updateCount == 1200)
        #expect(Self.relative([reference.model.probabilityScale], [blocked.model.probabilityScale]) < 1e-9)
        #expect(Self.relative(reference.probabilities.flatMap { $0 }, blocked.probabilities.flatMap { $0 }, floor: 1e-6) < 1e-9)
        #expect(reference.model.alerts == blocked.model.alerts)
        if block == 1 {
            // A block of one is the per-event path: bit for bit.
            #expect(reference.model.checkpointPayload() == blocked.model.checkpointPayload())
        }
    }

    /// With input scoring the drift scorer's Float32 solve sums in another order in a block (`strsm`
    /// instead of `strsv`): its scores agree to Float32 rounding, and through the Mahalanobis
    /// regulation the head's state follows to about the same level.
    @Test(arguments: [1, 2, 7, 64, 512])
    func sampleWithScoringAgrees(block: Int) throws {
        let stream = try Self.sample()
        let reference = try Self.run(stream, Self.model(stream, block: 1), batchSize: nil)
        let blocked = try Self.run(stream, Self.model(stream, block: block), batchSize: 600)
        let (ties, differing) = Self.comparePredictions(reference, blocked)
        let distances = Self.relative(
            reference.results.map { $0.mahalanobis2 ?? -1 }, blocked.results.map { $0.mahalanobis2 ?? -1 })
        let a = reference.model.head as! KalmanHead
        let b = blocked.model.head as! KalmanHead
        let weights = Self.relative(a.weights.array, b.weights.array, floor: 1e-3)
        print("sample, input scoring, block \(block): \(ties) ties, \(differing) differing predictions, distances \(distances), weights \(weights)")
        #expect(reference.results.map(\.drifting) == blocked.results.map(\.drifting))
        #expect(reference.model.alerts == blocked.model.alerts)
        #expect(distances < 1e-4)
        #expect(weights < 1e-6)
        let sa = reference.model.scorer!
        let sb = blocked.model.scorer!
        // The means and the covariance do not depend on the solve: Float64, within 1e-9.
        #expect(Self.relative(sa.means.array, sb.means.array, floor: 1e-6) < 1e-9)
        let d = stream.dimension
        let ca = (0..<(d * 8)).map { sa.covarianceEntry($0 / d, $0 % d) }
        let cb = (0..<(d * 8)).map { sb.covarianceEntry($0 / d, $0 % d) }
        #expect(Self.relative(ca, cb, floor: 1e-9) < 1e-9)
        if block == 1 { #expect(reference.model.checkpointPayload() == blocked.model.checkpointPayload()) }
    }

    @Test(arguments: [(2, 11), (7, 12), (64, 13), (512, 14)])
    func randomDataAgrees(block: Int, seed: UInt64) throws {
        let stream = try Self.random(seed: seed)
        for observation in KalmanConfiguration.Observation.allCases {
            let config = KalmanConfiguration.defaults(observation: observation, covariance: .full)
            let reference = try Self.run(stream, Self.model(stream, block: 1, head: config, scoring: false), batchSize: nil)
            let blocked = try Self.run(stream, Self.model(stream, block: block, head: config, scoring: false), batchSize: 1000)
            let (ties, differing) = Self.comparePredictions(reference, blocked)
            print("random \(observation), block \(block): \(ties) ties, \(differing) differing predictions")
            let a = reference.model.head as! KalmanHead
            let b = blocked.model.head as! KalmanHead
            #expect(Self.relative(a.weights.array, b.weights.array, floor: 1e-3) < 1e-9)
            #expect(Self.relative(Self.covariance(a), Self.covariance(b), floor: 1e-6) < 1e-9)
            #expect(Self.relative([a.noise], [b.noise]) < 1e-9)
            // And with the drift scorer on, the same predictions.
            let scoredReference = try Self.run(stream, Self.model(stream, block: 1, head: config), batchSize: nil)
            let scoredBlocked = try Self.run(stream, Self.model(stream, block: block, head: config), batchSize: 1000)
            _ = Self.comparePredictions(scoredReference, scoredBlocked)
            #expect(scoredReference.model.alerts == scoredBlocked.model.alerts)
        }
    }

    /// The drift scorer's random projection in blocks (one `sgemm` per block instead of an `sgemv` per
    /// event) and a head without a blocked update (kalman+tip: its parts go event by event, the scorer
    /// in blocks): the same predictions, flags and alerts.
    @Test func projectedScorerAndCombinedHeadInBlocks() throws {
        let stream = try Self.sample()
        var drift = DriftSettings()
        drift.mahalanobis.projection = 128
        drift.mahalanobis.warmupEvents = 200
        drift.mahalanobis.referenceEvents = 200
        func model(_ block: Int) -> StreamModel {
            let head = CombinedHead([
                KalmanHead(classes: stream.classes), TipAdapterHead(classes: stream.classes),
            ])
            return StreamModel(classes: stream.classes, head: head, drift: drift, maximumBlock: block, minimumBlock: 2)
        }
        let reference = try Self.run(stream, model(1), batchSize: nil)
        let blocked = try Self.run(stream, model(64), batchSize: 600)
        let (ties, differing) = Self.comparePredictions(reference, blocked)
        print("sample, projected scorer, kalman+tip, block 64: \(ties) ties, \(differing) differing predictions")
        #expect(reference.results.map(\.drifting) == blocked.results.map(\.drifting))
        #expect(reference.model.alerts == blocked.model.alerts)
        #expect(!reference.model.alerts.isEmpty)
        #expect(Self.relative(
            reference.results.map { $0.mahalanobis2 ?? -1 }, blocked.results.map { $0.mahalanobis2 ?? -1 }) < 1e-4)
    }

    /// Recursive least squares (`KalmanHeadTests.rlsConfiguration`, with `precision`) over 600 random
    /// events given in batches of `batchSize`, in blocks of up to `block`: the largest relative
    /// difference of W from (exponentially weighted) ridge regression in closed form, and the update count.
    static func rlsAgainstBatchRidge(
        forgetting: Double, precision: KalmanConfiguration.Precision = .float64, block: Int, batchSize: Int
    ) throws -> (error: Double, updates: Int) {
        let c = 4
        let d = 12
        var random = TestRandom(seed: 42)
        let classes = try random.classes(c, d)
        var config = KalmanHeadTests().rlsConfiguration(forgetting: forgetting)
        config.precision = precision
        let head = KalmanHead(classes: classes, configuration: config)
        var drift = DriftSettings()
        drift.inputScoring = false
        let model = StreamModel(classes: classes, head: head, drift: drift, maximumBlock: block, minimumBlock: 2)
        let w0 = head.weights.array
        var seen: [[Double]] = []
        var labels: [Int] = []
        let batch = EventBatch(capacity: batchSize, dimension: d, classCount: c)
        for t in 0..<600 {
            let x = random.unitVector(d).map(Float.init)
            // The model sees the Float32 input, normalised: the closed form gets the same.
            let f = x.map(Double.init)
            let norm = f.reduce(0) { $0 + $1 * $1 }.squareRoot()
            seen.append(f.map { $0 / norm })
            labels.append(t % c)
            try batch.append(x, label: t % c)
            if batch.isFull {
                model.process(batch)
                batch.removeAll()
            }
        }
        let expected = KalmanHeadTests().batchRidge(w0: w0, xs: seen, labels: labels, c: c, d: d, config: config)
        return (maxRelativeError(head.weights.array, expected), head.updateCount)
    }

    /// Recursive least squares through the blocked path still equals (exponentially weighted) ridge
    /// regression in closed form.
    @Test(arguments: [(7, 1.0), (64, 0.97), (512, 0.99)])
    func blockedRLSEqualsBatchRidge(block: Int, forgetting: Double) throws {
        let (error, updates) = try Self.rlsAgainstBatchRidge(forgetting: forgetting, block: block, batchSize: 300)
        #expect(error < 1e-8, "relative error \(error)")
        #expect(updates == 600)
    }

    /// A block never outlives `process(_:)`: a checkpoint taken between two batches (in the middle of
    /// what would be a block of the whole stream) restores exactly, and the restored model continues
    /// bit for bit like the original.
    @Test func checkpointBetweenBatchesRestoresExactly() throws {
        let stream = try Self.random(seed: 21, count: 1000)
        let original = Self.model(stream, block: 64)
        let d = stream.dimension
        let batch = EventBatch(capacity: 100, dimension: d, classCount: stream.classes.count)
        func feed(_ model: StreamModel, _ range: Range<Int>) throws -> [EventResult] {
            var results: [EventResult] = []
            try stream.embeddings.withUnsafeBufferPointer { all in
                for i in range {
                    try batch.append(UnsafeBufferPointer(rebasing: all[(i * d)..<((i + 1) * d)]), label: stream.labels[i])
                    if batch.isFull || i == range.upperBound - 1 {
                        model.process(batch)
                        results += batch.results[0..<batch.count]
                        batch.removeAll()
                    }
                }
            }
            return results
        }
        _ = try feed(original, 0..<437)
        let payload = original.checkpointPayload()
        let restored = Self.model(stream, block: 64)
        try restored.restore(payload: payload)
        #expect(restored.checkpointPayload() == payload)
        let a = try feed(original, 437..<1000)
        let b = try feed(restored, 437..<1000)
        #expect(a == b)
        #expect(original.checkpointPayload() == restored.checkpointPayload())
    }
}
