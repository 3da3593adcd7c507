import StreamAdaptCore

/// Encodes the daemon's output records (predictions and alert changes) as JSON into a reusable buffer.
/// The schemas are in `docs/schemas/`; field order is fixed.
struct OutputEncoder {
    private(set) var writer = JSONWriter()
    private var topScratch: [Int]

    init(topClasses: Int) {
        topScratch = Array(repeating: 0, count: max(0, topClasses))
    }

    /// The last encoded record.
    var bytes: [UInt8] { writer.bytes }

    /// Where an input event came from.
    struct Source {
        var partition: Int32
        var offset: Int64
    }

    /// A prediction record (see docs/schemas/prediction.schema.json).
    mutating func prediction(
        id: String, timestamp: Int64?, result: EventResult, probabilities: Matrix, classNames: [String],
        modelVersion: Int, head: String, source: Source
    ) {
        writer.reset()
        writer.raw("{")
        writer.key("id"); writer.string(id)
        writer.raw(","); writer.key("ts")
        if let ts = timestamp { writer.number(ts) } else { writer.raw("null") }
        writer.raw(","); writer.key("label"); writer.string(classNames[result.index])
        writer.raw(","); writer.key("index"); writer.number(result.index)
        writer.raw(","); writer.key("probability"); writer.number(result.probability)
        writer.raw(","); writer.key("top"); writer.raw("[")
        writeTop(probabilities, classNames)
        writer.raw("],"); writer.key("uncertainty")
        writer.raw("{"); writer.key("entropy"); writer.number(result.entropy)
        writer.raw(","); writer.key("variance"); writer.number(result.variance); writer.raw("}")
        writer.raw(","); writer.key("mahalanobis")
        if let d2 = result.mahalanobis2 { writer.number(d2) } else { writer.raw("null") }
        writer.raw(","); writer.key("drifting"); writer.bool(result.drifting)
        writer.raw(","); writer.key("updated"); writer.bool(result.updated)
        writer.raw(","); writer.key("model_version"); writer.number(modelVersion)
        writer.raw(","); writer.key("head"); writer.string(head)
        writer.raw(","); writer.key("offset"); writer.number(source.offset)
        writer.raw(","); writer.key("partition"); writer.number(Int(source.partition))
        writer.raw("}")
    }

    /// The `topClasses` most probable classes, best first (selection into a preallocated list: k is small).
    private mutating func writeTop(_ probabilities: Matrix, _ classNames: [String]) {
        let k = min(topScratch.count, classNames.count)
        for i in 0..<k {
            var best = -1
            for c in 0..<classNames.count where !topScratch[0..<i].contains(c) {
                if best < 0 || probabilities[c] > probabilities[best] { best = c }
            }
            topScratch[i] = best
            if i > 0 { writer.raw(",") }
            writer.raw("{"); writer.key("label"); writer.string(classNames[best])
            writer.raw(","); writer.key("p"); writer.number(probabilities[best]); writer.raw("}")
        }
    }

    /// The input offsets an alert covers: per partition, the first and last offset.
    struct OffsetRange {
        var partition: Int32
        var from: Int64
        var to: Int64
    }

    /// An alert record (see docs/schemas/alert.schema.json).
    mutating func alert(
        _ alert: DriftAlert, state: StaticString, windowEvents: Int, modelVersion: Int, topic: String,
        offsets: [OffsetRange]
    ) {
        writer.reset()
        writer.raw("{"); writer.key("kind"); writer.string(alert.kind.rawValue)
        writer.raw(","); writer.key("state"); writer.raw("\""); writer.raw(state); writer.raw("\"")
        writer.raw(","); writer.key("raised_at_event"); writer.number(alert.raisedAt)
        writer.raw(","); writer.key("cleared_at_event")
        if let c = alert.clearedAt { writer.number(c) } else { writer.raw("null") }
        writer.raw(","); writer.key("value"); writer.number(alert.value)
        writer.raw(","); writer.key("threshold"); writer.number(alert.threshold)
        writer.raw(","); writer.key("severity"); writer.number(alert.severity)
        writer.raw(","); writer.key("cleared_value")
        if let v = alert.clearedValue { writer.number(v) } else { writer.raw("null") }
        writer.raw(","); writer.key("window_events"); writer.number(windowEvents)
        writer.raw(","); writer.key("model_version"); writer.number(modelVersion)
        writer.raw(","); writer.key("topic"); writer.string(topic)
        writer.raw(","); writer.key("offsets"); writer.raw("[")
        for (n, r) in offsets.enumerated() {
            if n > 0 { writer.raw(",") }
            writer.raw("{"); writer.key("partition"); writer.number(Int(r.partition))
            writer.raw(","); writer.key("from"); writer.number(r.from)
            writer.raw(","); writer.key("to"); writer.number(r.to); writer.raw("}")
        }
        writer.raw("]}")
    }
}
