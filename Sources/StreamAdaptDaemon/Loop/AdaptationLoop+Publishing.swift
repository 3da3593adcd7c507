import Foundation
import Logging
import Metrics
import StreamAdaptCore
import StreamAdaptKafka

/// Publishing: predictions, alert changes and dead letters, each within the output budget.
extension AdaptationLoop {
    /// Publishes the prediction of a processed event: its result, its row of class probabilities and the
    /// model version right after it.
    func publishPrediction(
        _ event: PendingEvent, _ result: EventResult, probabilities: UnsafePointer<Double>, modelVersion: Int
    ) throws {
        let message = event.message
        do {
            try encoder.prediction(
                id: event.id, timestamp: event.timestamp, result: result, probabilities: probabilities,
                classNames: classes.names, retired: model.retired, modelVersion: modelVersion, head: model.head.name,
                source: .init(partition: message.partition, offset: message.offset))
        } catch {
            // Not reachable after checkPrediction (an upper bound over every result); if it were, the
            // model has processed the event, and the dead letter says so.
            try deadLetter(message, reason: error.code.rawValue, text: error.message + " (after the model processed the event)")
            return
        }
        try encoder.bytes.withUnsafeBytes {
            try producer.sendWaiting(topic: configuration.predictionsTopic, key: event.id, value: $0, until: outputWait)
        }
        metrics.predictionsOut.increment()
        predictionsPublished += 1
    }

    /// Publishes an alert an event (or a late label) raised or cleared, as the alert stood right after
    /// it, with the model version then and the recent inputs as of then (the caller publishes right
    /// after appending that event's position to ``recentInputs``).
    func publishAlert(_ change: AlertChange, modelVersion: Int) throws {
        let alert = change.alert
        let state: StaticString = change.raised ? "raised" : "cleared"
        if change.raised { metrics.alerts(alert.kind.rawValue).increment() }
        dashboardHistory?.record(change, partition: activeLane.map(Int.init))
        recordActiveAlerts()
        do {
            try encoder.alert(
                alert, state: state, windowEvents: recentInputs.count, modelVersion: modelVersion,
                topic: configuration.inputTopic, offsets: recentInputs.ranges())
        } catch {
            // Its size depends on the configuration only (topic, partitions): logged, not published.
            logger.error("drift alert \(state) not published", metadata: ["kind": "\(alert.kind.rawValue)", "error": "\(error)"])
            return
        }
        try encoder.bytes.withUnsafeBytes {
            try producer.sendWaiting(topic: configuration.alertsTopic, key: alert.kind.rawValue, value: $0, until: outputWait)
        }
        var metadata: Logger.Metadata = [
            "kind": "\(alert.kind.rawValue)", "sequence": "\(alert.sequence)", "raised-at": "\(alert.raisedAt)",
            "value": "\(alert.value)", "threshold": "\(alert.threshold)",
        ]
        if let clearedAt = alert.clearedAt { metadata["cleared-at"] = "\(clearedAt)" }
        if let clearedValue = alert.clearedValue { metadata["cleared-value"] = "\(clearedValue)" }
        if let reason = alert.clearReason { metadata["clear-reason"] = "\(reason.rawValue)" }
        if let before = alert.errorRateBefore { metadata["error-rate-before"] = "\(before)" }
        if let now = alert.errorRateAtClear ?? alert.errorRateAtRaise { metadata["error-rate"] = "\(now)" }
        logger.notice("drift alert \(state)", metadata: metadata)
    }

    /// The models' open alerts (raised, not cleared), per model: the active lane's or the single model,
    /// and in a group every owned partition's.
    var openAlerts: [(partition: Int?, alert: DriftAlert)] {
        let models: [(Int?, StreamModel)] = group != nil ? lanes.map { (Int($0.key), $0.value.model) } : [(nil, model)]
        return models.flatMap { p, m in m.alerts.filter { $0.clearedAt == nil }.map { (p, $0) } }
    }

    /// `streamadapt_alert_active{kind}`: the open alerts of each kind over the models (after an alert
    /// change, a restore, an assignment or a revocation).
    func recordActiveAlerts() {
        let open = openAlerts
        for kind in DriftAlert.Kind.allCases {
            metrics.alertActive(kind.rawValue).record(open.filter { $0.alert.kind == kind }.count)
        }
    }

    func deadLetter(_ message: KafkaMessage, _ error: InputError) throws {
        try deadLetter(message, reason: error.code.rawValue, text: error.message)
    }

    /// Forwards `message` to the dead-letter topic, cut to the output budget (see ``DeadLetter``).
    func deadLetter(_ message: KafkaMessage, reason: String, text: String) throws {
        let letter = DeadLetter(for: message, reason: reason, error: text, budget: encoder.budget)
        try letter.withKey {
            try producer.sendWaiting(
                topic: configuration.deadLetterTopic, key: $0,
                value: letter.keepsValue ? message.value : UnsafeRawBufferPointer(start: nil, count: 0),
                headers: letter.headers, until: outputWait)
        }
        if !letter.keepsValue {
            logger.debug("dead letter forwarded without its value", metadata: ["bytes": "\(message.value.count)", "offset": "\(message.offset)"])
        }
        metrics.deadLetters(reason).increment()
        logger.debug("dead letter", metadata: ["reason": "\(reason)", "offset": "\(message.offset)"])
    }
}
