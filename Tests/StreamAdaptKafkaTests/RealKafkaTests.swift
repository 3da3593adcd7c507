import Foundation
import Testing

@testable import StreamAdaptKafka

/// What the mock broker cannot show, against a real Kafka: runs only when `KAFKA_BOOTSTRAP` is set
/// (e.g. `KAFKA_BOOTSTRAP=127.0.0.1:9092 swift test --filter RealKafkaTests`). The topic
/// (`KAFKA_TEST_TOPIC`, default `streamadapt-kafka-test`) must exist or be auto-created, with at
/// least one partition.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"] != nil))
struct RealKafkaTests {
    let bootstrap = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"] ?? ""
    let topic = ProcessInfo.processInfo.environment["KAFKA_TEST_TOPIC"] ?? "streamadapt-kafka-test"

    @Test func roundTripAndWatermarks() throws {
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: bootstrap))
        let partitions = try consumer.partitions(of: topic, retryingUntil: .timeout(.seconds(30))) { _ in }
        let partition = try #require(partitions.first)
        let before = try consumer.watermarks(topic: topic, partition: partition)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: bootstrap))
        let marker = "streamadapt-\(UInt64.random(in: 0...UInt64.max))"
        for i in 0..<5 {
            try producer.send(topic, partition: partition, key: "\(marker)-\(i)", value: Array("\(i)".utf8), headers: [("i", [UInt8(i)])])
        }
        #expect(try producer.flush(until: .timeout(.seconds(30))) == 0)
        #expect(producer.failedCount == 0)
        let after = try consumer.watermarks(topic: topic, partition: partition)
        #expect(after.high == before.high + 5)
        try consumer.assign([(topic, partition, before.high)])
        let (messages, events) = try consumer.collect(5, attempts: 300)
        #expect(events.isEmpty)
        #expect(messages.map(\.offset) == Array(before.high..<before.high + 5))
        #expect(messages.map { String(decoding: $0.key, as: UTF8.self) } == (0..<5).map { "\(marker)-\($0)" })
    }

    @Test func offsetPastTheEndIsAnEvent() throws {
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: bootstrap))
        let partition = try #require(try consumer.partitions(of: topic).first)
        let marks = try consumer.watermarks(topic: topic, partition: partition)
        try consumer.assign([(topic, partition, marks.high + 1000)])
        let (messages, events) = try consumer.collect(0, events: 1, attempts: 300)
        #expect(messages.isEmpty)
        guard events.count == 1, case .offsetOutOfRange(let range) = events[0] else {
            Issue.record("expected one offsetOutOfRange event, got \(events)")
            return
        }
        #expect(range.topic == topic)
        #expect(range.partition == partition)
        #expect(range.offset == marks.high + 1000)
    }

    /// Consumer groups on a real coordinator: two members of a new group share the topic's partitions
    /// (cooperative: the first gives up only what the second takes), and when the second leaves, the
    /// first owns every partition again within the session timeout (6 s). With a one-partition topic
    /// only the second half is meaningful.
    @Test func twoGroupMembersShareThePartitionsAndHandThemBack() throws {
        let group = "streamadapt-test-\(UInt64.random(in: 0...UInt64.max))"
        let properties = KafkaConsumer.groupProperties(group: group).merging(
            ["bootstrap.servers": bootstrap, "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]) { $1 }
        let count = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: bootstrap)).partitions(of: topic).count
        var eventsA: [Rebalance] = []
        let a = try KafkaConsumer(configuration: KafkaConfiguration(properties))
        try a.subscribe([topic]) { event in
            eventsA.append(event)
            return [:]
        }
        try waitFor("A owns every partition", attempts: 600, serve: { _ = try a.collect(1, attempts: 1) }) { a.ownedPartitions.count == count }
        let b = try KafkaConsumer(configuration: KafkaConfiguration(properties))
        try b.subscribe([topic]) { _ in [:] }
        if count > 1 {
            try waitFor("both own partitions", attempts: 600, serve: {
                _ = try a.collect(1, attempts: 1)
                _ = try b.collect(1, attempts: 1)
            }, until: { !a.ownedPartitions.isEmpty && !b.ownedPartitions.isEmpty && a.ownedPartitions.count + b.ownedPartitions.count == count })
            #expect(a.ownedPartitions.isDisjoint(with: b.ownedPartitions))
            #expect(!eventsA.contains { if case .lost = $0 { true } else { false } })
        }
        let leaving = ContinuousClock.now
        try b.close()
        try waitFor("A owns every partition again", attempts: 600, serve: { _ = try a.collect(1, attempts: 1) }) { a.ownedPartitions.count == count }
        #expect(ContinuousClock.now - leaving < .seconds(6))
        try a.close()
    }
}
