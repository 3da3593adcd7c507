import Foundation
import StreamAdaptKafka

/// Produces `total` input messages on a thread of its own, at most `lead` messages ahead of what the
/// consumer side has counted in ``consumed`` (the embedded broker keeps only about 5 MB per partition:
/// a whole data set produced at once would lose its head).
final class Replayer {
    /// Messages the consumer side has handled; the replayer stays at most `lead` ahead of it.
    let consumed = SharedCounter()
    /// The first error of the replay thread, if any.
    let error = ErrorBox()
    private let finished = SharedCounter()
    private let thread: Thread

    /// - Parameter message: called for message i with a `send(value, headers)` function.
    init(
        bootstrap: String, topic: String, total: Int, lead: Int,
        message: @escaping @Sendable (Int, (_ value: [UInt8], _ headers: [(String, [UInt8])]) throws -> Void) throws -> Void
    ) {
        let (consumed, error, finished) = (self.consumed, self.error, self.finished)
        thread = Thread {
            defer { finished.add(1) }
            do {
                let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: bootstrap, ["linger.ms": "2"]))
                for i in 0..<total {
                    // The replayer waits for the consumer: a bounded lead, not synchronisation of a test.
                    while i - consumed.value > lead, error.value == nil { usleep(200) }
                    try message(i) { value, headers in
                        try value.withUnsafeBytes { try producer.sendWaiting(topic: topic, key: nil, value: $0, headers: headers) }
                    }
                    producer.poll()
                }
                try producer.flush()
                if producer.failedCount > 0 { throw KafkaError("\(producer.failedCount) events not delivered") }
            } catch let caught {
                error.set("\(caught)")
            }
        }
        thread.name = "replayer"
    }

    func start() { thread.start() }

    /// Waits for the replay thread to end; throws its error, if it had one.
    func finish() throws {
        while finished.value == 0 { usleep(1000) }
        if let message = error.value { throw KafkaError("replaying the events failed: \(message)") }
    }
}
