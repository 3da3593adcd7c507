import Foundation
import StreamAdaptCore

/// Per-event time of the bare model, event by event against blocked, in the same run on the same
/// events: ``StreamModel/process(_:label:)`` one event at a time against ``EventBatch`` backlogs of
/// ``backlog`` events through ``StreamModel/process(_:)`` in blocks of up to `maximumBlock`; the same
/// for the Kalman head alone (a StreamModel with drift input scoring off), and the bare head's
/// predict + learn as before. Times include normalising the input (both paths do it).
struct ModelBench {
    /// Timed events per path and repetition.
    let events: Int
    /// The blocked model's maximumBlock (``StreamModel/defaultMaximumBlock`` by default).
    let maximumBlock: Int
    /// drift.mahalanobis.projection of the scored model (0: none).
    var projection = 0
    /// The Kalman head's configuration (`--kalman-precision` sets its precision).
    var kalman = KalmanConfiguration()
    /// Runs of every path, alternating; each time reported is the median over them.
    var repetitions = 3
    /// Events appended to a batch before the batch goes to the model.
    static let backlog = 512

    /// Microseconds per event of each path.
    struct Times {
        /// StreamModel (Kalman head, drift monitor on): process(_:label:) per event, and batches.
        var modelEvent = 0.0, modelBlocked = 0.0
        /// The bare KalmanHead: normalise, predict, learn.
        var kalmanBare = 0.0
        /// StreamModel with input scoring off: per event, and batches.
        var kalmanEvent = 0.0, kalmanBlocked = 0.0
    }

    /// ``syntheticStream(d:c:pool:)`` with its classes written to a new temporary folder (classes.txt,
    /// text.f32) for a pipeline; the caller removes the folder.
    static func syntheticClassFolder(d: Int, c: Int) throws -> (folder: URL, inputs: [Float], labels: [Int]) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-bench-\(d)-\(c)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (classValues, inputs, labels) = syntheticStream(d: d, c: c)
        try Data(classValues.withUnsafeBytes { Array($0) }).write(to: folder.appendingPathComponent("text.f32"))
        try (0..<c).map { "class\($0)" }.joined(separator: "\n").write(
            to: folder.appendingPathComponent("classes.txt"), atomically: true, encoding: .utf8)
        return (folder, inputs, labels)
    }

    /// Events: noisy copies of random positive class embeddings, labelled round robin (the pool
    /// the Kafka benchmark replays).
    static func syntheticStream(d: Int, c: Int, pool: Int = 512) -> (classValues: [Float], inputs: [Float], labels: [Int]) {
        var random = SplitMix64(seed: UInt64(d * 1000 + c))
        let classValues = (0..<(c * d)).map { _ in Float(random.next() % 1000) / 1000 }
        var inputs = [Float](repeating: 0, count: pool * d)
        var labels = [Int](repeating: 0, count: pool)
        for r in 0..<pool {
            labels[r] = r % c
            for j in 0..<d { inputs[r * d + j] = classValues[labels[r] * d + j] + Float(random.next() % 1000) / 2000 }
        }
        return (classValues, inputs, labels)
    }

    /// `streamadapt bench --model`: the table for every D and C.
    func run(dimensions: [Int], classCounts: [Int]) throws {
        writeLine(Self.header)
        for d in dimensions {
            for c in classCounts {
                let (classValues, inputs, labels) = Self.syntheticStream(d: d, c: c)
                let classes = try ClassEmbeddings(names: (0..<c).map { "class\($0)" }, dimension: d, values: classValues)
                writeLine(Self.row(d: d, c: c, try measure(classes: classes, inputs: inputs, labels: labels)))
            }
        }
        writeLine(Self.note(maximumBlock: maximumBlock, events: events, repetitions: repetitions))
    }

    static let header =
        "D      C     model 1-ev us  model blk us  speedup  kalman bare us  kalman 1-ev us  kalman blk us  speedup"

    static func row(d: Int, c: Int, _ t: Times) -> String {
        pad("\(d)", 7) + pad("\(c)", 6) + pad(fmt(t.modelEvent, 1), 15) + pad(fmt(t.modelBlocked, 1), 14)
            + pad(fmt(t.modelEvent / t.modelBlocked, 2), 9) + pad(fmt(t.kalmanBare, 1), 16) + pad(fmt(t.kalmanEvent, 1), 16)
            + pad(fmt(t.kalmanBlocked, 1), 15) + fmt(t.kalmanEvent / t.kalmanBlocked, 2)
    }

    static func note(maximumBlock: Int, events: Int, repetitions: Int) -> String {
        "(us per event, median of \(repetitions) alternating runs of \(events) events; 1-ev: process(_:label:) per event; "
            + "blk: EventBatch backlogs of \(backlog), maximumBlock \(maximumBlock); kalman 1-ev/blk: StreamModel with "
            + "drift input scoring off; bare: KalmanHead predict + learn; speedup: 1-ev / blk)"
    }

    /// Times every path `repetitions` times, alternating, each on a fresh model after a warm-up of
    /// one backlog.
    func measure(classes: ClassEmbeddings, inputs: [Float], labels: [Int]) throws -> Times {
        var scored = DriftSettings()
        scored.mahalanobis.projection = projection
        var unscored = DriftSettings()
        unscored.inputScoring = false
        let batch = EventBatch(capacity: Self.backlog, dimension: classes.dimension, classCount: classes.count)
        var runs: [[Double]] = Array(repeating: [], count: 5)
        for _ in 0..<repetitions {
            runs[0].append(try perEvent(StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: kalman), drift: scored), inputs, labels))
            runs[1].append(try blocked(
                StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: kalman), drift: scored, maximumBlock: maximumBlock),
                batch, inputs, labels))
            runs[2].append(try bareHead(KalmanHead(classes: classes, configuration: kalman), inputs, labels))
            runs[3].append(try perEvent(StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: kalman), drift: unscored), inputs, labels))
            runs[4].append(try blocked(
                StreamModel(classes: classes, head: KalmanHead(classes: classes, configuration: kalman), drift: unscored, maximumBlock: maximumBlock),
                batch, inputs, labels))
        }
        let m = runs.map { Quantile.of($0, 0.5) ?? 0 }
        return Times(modelEvent: m[0], modelBlocked: m[1], kalmanBare: m[2], kalmanEvent: m[3], kalmanBlocked: m[4])
    }

    /// Runs `body(i)` for a warm-up of one backlog, then for `events` events; microseconds per event.
    private func perEventMicroseconds(_ body: (Int) throws -> Void) rethrows -> Double {
        for i in 0..<Self.backlog { try body(i) }
        let start = monotonicNanoseconds()
        for i in 0..<events { try body(Self.backlog + i) }
        return Double(monotonicNanoseconds() &- start) / 1000 / Double(events)
    }

    private func perEvent(_ model: StreamModel, _ inputs: [Float], _ labels: [Int]) throws -> Double {
        let d = model.dimension
        return try inputs.withUnsafeBufferPointer { all in
            try perEventMicroseconds { i in
                let r = i % labels.count
                _ = try model.process(UnsafeBufferPointer(rebasing: all[(r * d)..<((r + 1) * d)]), label: labels[r])
            }
        }
    }

    /// Appends events to `batch` and hands it to the model whenever it is full (and at the end).
    private func blocked(_ model: StreamModel, _ batch: EventBatch, _ inputs: [Float], _ labels: [Int]) throws -> Double {
        let d = model.dimension
        batch.removeAll()
        return try inputs.withUnsafeBufferPointer { all in
            try perEventMicroseconds { i in
                let r = i % labels.count
                try batch.append(UnsafeBufferPointer(rebasing: all[(r * d)..<((r + 1) * d)]), label: labels[r])
                if batch.isFull || i == Self.backlog + events - 1 {
                    model.process(batch)
                    batch.removeAll()
                }
            }
        }
    }

    private func bareHead(_ head: KalmanHead, _ inputs: [Float], _ labels: [Int]) throws -> Double {
        let d = head.dimension
        let x = Matrix(rows: d, columns: 1)
        let logits = Matrix(rows: head.classCount, columns: 1)
        return try inputs.withUnsafeBufferPointer { all in
            try perEventMicroseconds { i in
                let r = i % labels.count
                try normalizeEmbedding(UnsafeBufferPointer(rebasing: all[(r * d)..<((r + 1) * d)]), into: x.pointer, dimension: d)
                _ = head.predict(x.pointer, logits: logits.pointer)
                head.learn(label: labels[r], context: LearnContext(mahalanobis2: Double(d)))
            }
        }
    }
}
