import Foundation
import Logging
import Metrics
import StreamAdaptCore
import StreamAdaptKafka

/// Publishing: predictions, alert changes and dead letters, each within the output budget.
extension AdaptationLoop {
    func publishPrediction(_ event: DecodedEvent, _ result: EventResult, _ message: KafkaMessage) throws {
        do {
            try encoder.prediction(
                id: event.id, timestamp: event.timestamp ?? message.timestamp, result: result,
                probabilities: model.probabilities, classNames: classes.names, modelVersion: model.head.updateCount,
                head: model.head.name, source: .init(partition: message.partition, offset: message.offset))
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
    }

    /// Publishes the alerts raised or cleared since the last call.
    func publishAlerts() throws {
        for alert in model.alerts {
            if alert.sequence >= publishedRaised {
                try publishAlert(alert, state: "raised")
                metrics.alerts(alert.kind.rawValue).increment()
                publishedRaised = alert.sequence + 1
                publishedActive.insert(alert.sequence)
            }
            if alert.clearedAt != nil, publishedActive.contains(alert.sequence) {
                try publishAlert(alert, state: "cleared")
                publishedActive.remove(alert.sequence)
            }
        }
    }

    func publishAlert(_ alert: DriftAlert, state: StaticString) throws {
        do {
            try encoder.alert(
                alert, state: state, windowEvents: recentInputs.count, modelVersion: model.head.updateCount,
                topic: configuration.inputTopic, offsets: recentInputs.ranges())
        } catch {
            // Its size depends on the configuration only (topic, partitions): logged, not published.
            logger.error("drift alert \(state) not published", metadata: ["kind": "\(alert.kind.rawValue)", "error": "\(error)"])
            return
        }
        try encoder.bytes.withUnsafeBytes {
            try producer.sendWaiting(topic: configuration.alertsTopic, key: alert.kind.rawValue, value: $0, until: outputWait)
        }
        logger.notice(
            "drift alert \(state)", metadata: ["kind": "\(alert.kind.rawValue)", "event": "\(alert.raisedAt)",
                                              "value": "\(alert.value)", "threshold": "\(alert.threshold)"])
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
