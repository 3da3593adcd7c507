import StreamAdaptCore

/// Encodes the daemon's output records (predictions and alert changes) as JSON into a reusable buffer,
/// and keeps every record within the output budget (see ``OutputBudget`` and docs/outputs.md).
///
/// The record formats are in docs/outputs.md and `docs/schemas/`; field order is fixed. A prediction
/// is keyed by its event id, an alert by its kind: both checks count the key.
struct OutputEncoder {
    private(set) var writer = JSONWriter()
    private var topScratch: [Int]
    /// What one record (key + value + headers) may take.
    let budget: OutputBudget
    /// The most bytes a prediction takes besides its id (twice: the key and the escaped `id` field):
    /// structure, numbers at their widest, the top classes and the label at the longest class name.
    let predictionBytesBesidesID: Int

    /// - Parameters:
    ///   - topClasses: how many classes `top` lists.
    ///   - classNames: the class list (for the worst-case size of a prediction).
    ///   - head: the head's name (written in every prediction).
    /// - Throws: ``ConfigurationError`` when not even a prediction with an empty id fits the budget.
    init(topClasses: Int, classNames: [String], head: String, budget: OutputBudget = OutputBudget()) throws(ConfigurationError) {
        topScratch = Array(repeating: 0, count: max(0, min(topClasses, classNames.count)))
        self.budget = budget
        let longestName = classNames.lazy.map(JSONWriter.encodedCount).max() ?? 2
        predictionBytesBesidesID = Self.predictionStructure + Self.predictionNumbers * JSONWriter.maximumNumberBytes
            + JSONWriter.encodedCount(head) + longestName
            + topScratch.count * (Self.topEntryStructure + longestName + JSONWriter.maximumNumberBytes)
        if predictionBytesBesidesID + 2 > budget.limit {
            throw ConfigurationError(
                field: "kafka.properties.message.max.bytes",
                reason: "a prediction can take \(predictionBytesBesidesID + 2) bytes (class names, head, top \(topScratch.count)), "
                    + "over the output budget of \(budget.limit) bytes (message.max.bytes \(budget.messageMaxBytes) "
                    + "less \(OutputBudget.framingMargin))")
        }
    }

    /// The last encoded record.
    var bytes: [UInt8] { writer.bytes }

    // MARK: - Predictions

    /// Where an input event came from.
    struct Source {
        var partition: Int32
        var offset: Int64
    }

    /// The bytes of a prediction's JSON outside its strings and numbers (the keys, quotes of the keys,
    /// punctuation, `true`/`false` at their widest), and of one entry of `top`.
    static let predictionStructure = #"{"id":,"ts":,"label":,"index":,"probability":,"top":[],"uncertainty":{"entropy":,"variance":},"mahalanobis":,"drifting":false,"updated":false,"model_version":,"head":,"offset":,"partition":}"#.utf8.count
    static let topEntryStructure = #"{"label":,"p":},"#.utf8.count
    /// Numbers of a prediction outside `top` (ts, index, probability, entropy, variance, mahalanobis,
    /// model_version, offset, partition).
    static let predictionNumbers = 9

    /// The most bytes (key + value) a prediction for `id` can take: an upper bound over every result,
    /// computed from the id alone (O(id length)) so it can be checked before the model sees the event.
    func maximumPredictionBytes(id: String) -> Int {
        id.utf8.count + JSONWriter.encodedCount(id) + predictionBytesBesidesID
    }

    /// Checks, before the model runs, that the prediction of an event with this id fits the budget
    /// whatever the model says (``maximumPredictionBytes(id:)``).
    /// - Throws: ``OutputError/Code/outputTooLarge``: the loop dead-letters the event, which never
    ///   reaches the model.
    func checkPrediction(id: String) throws(OutputError) {
        let bound = maximumPredictionBytes(id: id)
        guard bound <= budget.limit else {
            throw OutputError(
                .outputTooLarge,
                "the prediction for an id of \(id.utf8.count) bytes (\(JSONWriter.encodedCount(id) - 2) escaped) could take "
                    + "\(bound) bytes with its key, over the output budget of \(budget.limit) bytes")
        }
    }

    /// A prediction record (see docs/schemas/prediction.schema.json), keyed by `id`.
    /// - Throws: ``OutputError/Code/outputTooLarge`` when key + record exceed the budget (cannot happen
    ///   after ``checkPrediction(id:)`` passed: a last line of defence); ``bytes`` then holds the record
    ///   that must not be sent.
    mutating func prediction(
        id: String, timestamp: Int64?, result: EventResult, probabilities: UnsafePointer<Double>, classNames: [String],
        retired: [Bool] = [], modelVersion: Int, head: String, source: Source
    ) throws(OutputError) {
        writer.reset()
        writer.raw("{")
        writer.key("id"); writer.string(id)
        writer.raw(","); writer.key("ts")
        if let ts = timestamp { writer.number(ts) } else { writer.raw("null") }
        writer.raw(","); writer.key("label"); writer.string(classNames[result.index])
        writer.raw(","); writer.key("index"); writer.number(result.index)
        writer.raw(","); writer.key("probability"); writer.number(result.probability)
        writer.raw(","); writer.key("top"); writer.raw("[")
        writeTop(probabilities, classNames, retired)
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
        try check("prediction", key: id.utf8.count)
    }

    /// The `topClasses` most probable classes, best first; equal probabilities in class order (the
    /// lower index first). Retired classes (`docs/classes.md`) are never listed. Selection into a
    /// preallocated list: k is small.
    private mutating func writeTop(_ probabilities: UnsafePointer<Double>, _ classNames: [String], _ retired: [Bool]) {
        var retiredCount = 0
        for r in retired where r { retiredCount += 1 }
        let k = min(topScratch.count, classNames.count - retiredCount)
        for i in 0..<k {
            var best = -1
            for c in 0..<classNames.count where !topScratch[0..<i].contains(c) && !(c < retired.count && retired[c]) {
                if best < 0 || probabilities[c] > probabilities[best] { best = c }
            }
            topScratch[i] = best
            if i > 0 { writer.raw(",") }
            writer.raw("{"); writer.key("label"); writer.string(classNames[best])
            writer.raw(","); writer.key("p"); writer.number(probabilities[best]); writer.raw("}")
        }
    }

    // MARK: - Alerts

    /// The input offsets an alert covers: per partition, the first and last offset.
    struct OffsetRange {
        var partition: Int32
        var from: Int64
        var to: Int64
    }

    /// An alert record (see docs/schemas/alert.schema.json), keyed by its kind. Its size depends on the
    /// configuration only (topic name, number of input partitions), never on input content.
    /// - Throws: ``OutputError/Code/outputTooLarge`` when key + record exceed the budget (about 12,900
    ///   input partitions at the default budget); the loop logs it and does not publish the record.
    mutating func alert(
        _ alert: DriftAlert, state: StaticString, windowEvents: Int, modelVersion: Int, topic: String,
        offsets: [OffsetRange]
    ) throws(OutputError) {
        writer.reset()
        writer.raw("{"); writer.key("kind"); writer.string(alert.kind.rawValue)
        writer.raw(","); writer.key("sequence"); writer.number(alert.sequence)
        writer.raw(","); writer.key("state"); writer.raw("\""); writer.raw(state); writer.raw("\"")
        writer.raw(","); writer.key("raised_at_event"); writer.number(alert.raisedAt)
        writer.raw(","); writer.key("cleared_at_event")
        if let c = alert.clearedAt { writer.number(c) } else { writer.raw("null") }
        writer.raw(","); writer.key("value"); writer.number(alert.value)
        writer.raw(","); writer.key("threshold"); writer.number(alert.threshold)
        writer.raw(","); writer.key("severity"); writer.number(alert.severity)
        writer.raw(","); writer.key("cleared_value")
        if let v = alert.clearedValue { writer.number(v) } else { writer.raw("null") }
        writer.raw(","); writer.key("clear_reason")
        if let r = alert.clearReason { writer.string(r.rawValue) } else { writer.raw("null") }
        optionalNumber("error_rate_before", alert.errorRateBefore)
        optionalNumber("error_rate_at_raise", alert.errorRateAtRaise)
        optionalNumber("error_rate_at_clear", alert.errorRateAtClear)
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
        try check("\(alert.kind.rawValue) alert", key: alert.kind.rawValue.utf8.count)
    }

    /// Writes `,"key":value`, or `null` when there is no value.
    private mutating func optionalNumber(_ key: StaticString, _ value: Double?) {
        writer.raw(","); writer.key(key)
        if let value { writer.number(value) } else { writer.raw("null") }
    }

    /// Throws when the record just written and its key exceed the budget.
    private func check(_ what: @autoclosure () -> String, key: Int) throws(OutputError) {
        guard budget.fits(key: key, value: writer.bytes.count) else {
            throw OutputError(
                .outputTooLarge,
                "the \(what()) record takes \(writer.bytes.count) bytes and its key \(key), over the output budget of "
                    + "\(budget.limit) bytes")
        }
    }
}
