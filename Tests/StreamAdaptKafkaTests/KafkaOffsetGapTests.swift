import Testing

@testable import StreamAdaptKafka

/// Input lost to retention (the mock keeps ~5 MB per partition) and offsets past the end are events,
/// never skipped silently; the caller can continue from the oldest retained offset.
@Suite(.serialized) struct KafkaOffsetGapTests {
    /// Produces 60 messages of 100 KB to partition 0: the mock evicts the head.
    func evictHead(_ broker: EmbeddedBroker, topic: String) throws -> Watermarks {
        try broker.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        for i in 0..<60 {
            var value = [UInt8](repeating: UInt8(i), count: 100_000)
            value[0] = UInt8(i)
            try value.withUnsafeBytes {
                try producer.sendWaiting(topic: topic, partition: 0, key: "m\(i)", value: $0, until: .timeout(.seconds(30)))
            }
        }
        #expect(try producer.flush(until: .timeout(.seconds(30))) == 0)
        #expect(producer.failedCount == 0)
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        return try consumer.watermarks(topic: topic, partition: 0)
    }

    @Test func inputLostToRetentionIsAnEventAndResumesAtTheOldestOffset() throws {
        let broker = try EmbeddedBroker()
        let marks = try evictHead(broker, topic: "gap")
        #expect(marks.high == 60)
        #expect(marks.low > 0)  // the head is gone

        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        try consumer.assign([("gap", 0, 0)])
        let (before, events) = try consumer.collect(0, events: 1, attempts: 100)
        #expect(before.isEmpty)  // nothing after the gap is handed over silently
        let gap = try #require(events.first)
        guard case .offsetOutOfRange(let range) = gap else {
            Issue.record("expected offsetOutOfRange, got \(gap)")
            return
        }
        #expect(range.topic == "gap")
        #expect(range.partition == 0)
        #expect(range.offset == 0)
        #expect(range.low == marks.low)
        #expect(range.high == 60)
        #expect(range.reason == "fetch failed due to requested offset not available on the broker: Broker: Offset out of range (broker 1)")
        #expect(events.count == 1)
        // Reported once; the partition stays stopped (five more polls: nothing).
        let (stillNothing, noMore) = try consumer.collect(1, attempts: 5)
        #expect(stillNothing.isEmpty && noMore.isEmpty)

        try consumer.resume(topic: "gap", partition: 0, at: nil)
        let (after, more) = try consumer.collect(Int(marks.high - marks.low))
        #expect(more.isEmpty)
        #expect(after.map(\.offset) == Array(marks.low..<marks.high))
        #expect(after.first?.value.first == UInt8(marks.low))
    }

    @Test func storedOffsetPastTheEndIsAnEvent() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("short", partitions: 2)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        for i in 0..<3 { try producer.send("short", partition: 0, key: "\(i)", value: [UInt8(i)]) }
        for i in 0..<2 { try producer.send("short", partition: 1, key: "\(i)", value: [UInt8(i)]) }
        try producer.flush()
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        #expect(try consumer.watermarks(topic: "short", partition: 0) == Watermarks(low: 0, high: 3))
        // Partition 0 as if the topic had been re-created (a checkpoint's next offset 10 > high 3);
        // partition 1 normal.
        try consumer.assign([("short", 0, 10), ("short", 1, 0)])
        let (messages, events) = try consumer.collect(2, events: 1, attempts: 100)
        #expect(messages.map { [$0.partition, Int32($0.offset)] } == [[1, 0], [1, 1]])
        #expect(events.count == 1)
        guard case .offsetOutOfRange(let range)? = events.first else {
            Issue.record("expected offsetOutOfRange, got \(events)")
            return
        }
        #expect(range.topic == "short")
        #expect(range.partition == 0)
        #expect(range.offset == 10)
        #expect(range.low == 0)
        #expect(range.high == 3)
        // Accept: continue partition 0 at its start; partition 1 keeps its position.
        try producer.send("short", partition: 1, key: "2", value: [2])
        try producer.flush()
        try consumer.resume(topic: "short", partition: 0, at: 0)
        let (resumed, none) = try consumer.collect(4)
        #expect(none.isEmpty)
        #expect(resumed.filter { $0.partition == 0 }.map(\.offset) == [0, 1, 2])
        #expect(resumed.filter { $0.partition == 1 }.map(\.offset) == [2])
    }
}
