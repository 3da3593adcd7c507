import Foundation
import Synchronization
import Testing

@testable import StreamAdaptKafka

/// Waits for `condition`, calling `serve` (which must call one of librdkafka's polls: that is the wait)
/// at most `attempts` times. No sleep: each round blocks inside librdkafka until something happens or
/// its poll timeout ends.
func waitFor(
    _ what: String, attempts: Int = 300, serve: () throws -> Void, until condition: () throws -> Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    for _ in 0..<attempts {
        if try condition() { return }
        try serve()
    }
    if try condition() { return }
    Issue.record("gave up waiting for \(what)", sourceLocation: sourceLocation)
    throw WaitError(what: what)
}

struct WaitError: Error { let what: String }

/// A consumed message, copied out of librdkafka's buffer.
struct Received: Equatable {
    var topic: String
    var partition: Int32
    var offset: Int64
    var key: [UInt8]
    var value: [UInt8]
    var headers: [String: [UInt8]]
}

extension KafkaConsumer {
    /// Polls (100 ms at a time) until `count` messages and `eventCount` events arrived, or `attempts` polls
    /// passed; returns the messages and the events seen.
    func collect(_ count: Int, events eventCount: Int = 0, attempts: Int = 200) throws -> (
        messages: [Received], events: [KafkaConsumerEvent]
    ) {
        var messages: [Received] = []
        var events: [KafkaConsumerEvent] = []
        for _ in 0..<attempts where messages.count < count || events.count < eventCount {
            let result = try poll(timeoutMilliseconds: 100) { m in
                messages.append(Received(
                    topic: m.topic, partition: m.partition, offset: m.offset, key: Array(m.key), value: Array(m.value),
                    headers: Dictionary(m.headers, uniquingKeysWith: { $1 })))
            }
            events += result.events
        }
        return (messages, events)
    }
}

extension KafkaProducer {
    func send(_ topic: String, partition: Int32?, key: String, value: [UInt8], headers: [(String, [UInt8])] = []) throws {
        try value.withUnsafeBytes { v in
            try Array(key.utf8).withUnsafeBytes { k in
                try send(topic: topic, partition: partition, key: k, value: v, headers: headers)
            }
        }
    }
}

/// Log records collected from librdkafka's threads.
final class LogCollector: Sendable {
    private let records = Mutex<[KafkaLogRecord]>([])
    var all: [KafkaLogRecord] { records.withLock { $0 } }
    var handler: KafkaLogHandler { { record in self.records.withLock { $0.append(record) } } }
}

/// Counts calls of a stop condition and says stop from the `after`-th call on.
final class StopAfter {
    private(set) var calls = 0
    let after: Int
    init(_ after: Int) { self.after = after }
    func check() -> Bool {
        calls += 1
        return calls >= after
    }
}

/// Client properties for tests: reconnect quickly after an outage.
func testProperties(_ bootstrap: String, _ extra: [String: String] = [:]) -> KafkaConfiguration {
    KafkaConfiguration(
        bootstrapServers: bootstrap,
        ["reconnect.backoff.ms": "50", "reconnect.backoff.max.ms": "200"].merging(extra) { $1 })
}

/// Runs blocking work (librdkafka calls) on a thread of its own, off the cooperative pool, and returns
/// its result to an async test.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
