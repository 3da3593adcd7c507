import Testing

@testable import StreamAdaptKafka

/// Producer and consumer against the embedded broker: round trip, order, watermarks, error codes.
@Suite(.serialized) struct KafkaRoundTripTests {
    @Test func roundTripKeepsKeysHeadersAndPartitionOrder() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("events", partitions: 2)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        for i in 0..<10 {
            try producer.send("events", partition: 0, key: "k\(i)", value: Array("v\(i)".utf8), headers: [("n", [UInt8(i)]), ("h", [1, 2])])
        }
        for i in 0..<5 { try producer.send("events", partition: 1, key: "p1-\(i)", value: [UInt8(i), 0, 255]) }
        #expect(try producer.flush(until: .timeout(.seconds(10))) == 0)
        #expect(producer.deliveredCount == 15)
        #expect(producer.failedCount == 0)

        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        try consumer.assign([("events", 0, nil), ("events", 1, 2)])
        let (messages, events) = try consumer.collect(13)
        #expect(events.isEmpty)
        let p0 = messages.filter { $0.partition == 0 }
        let p1 = messages.filter { $0.partition == 1 }
        #expect(p0.map(\.offset) == Array(0..<10))
        #expect(p0.map { String(decoding: $0.key, as: UTF8.self) } == (0..<10).map { "k\($0)" })
        #expect(p0.map { String(decoding: $0.value, as: UTF8.self) } == (0..<10).map { "v\($0)" })
        #expect(p0.map { $0.headers } == (0..<10).map { ["n": [UInt8($0)], "h": [1, 2]] })
        #expect(p1.map(\.offset) == [2, 3, 4])
        #expect(p1.map(\.value) == [[2, 0, 255], [3, 0, 255], [4, 0, 255]])
        #expect(p1.allSatisfy { $0.headers.isEmpty && $0.topic == "events" })
    }

    /// While a poll hands its messages over, `currentBatchCount` is the number it took (what the daemon
    /// reads to tell a trickle from a backlog); 0 between polls.
    @Test func aPollTellsItsSizeBeforeTheFirstMessage() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("events", partitions: 1)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        for i in 0..<40 { try producer.send("events", partition: 0, key: "k\(i)", value: [UInt8(i)]) }
        #expect(try producer.flush(until: .timeout(.seconds(10))) == 0)
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers), batchSize: 16)
        try consumer.assign([("events", 0, nil)])
        var received = 0
        var polls = 0
        while received < 40 && polls < 300 {
            polls += 1
            var seen: [Int] = []
            let (count, events) = try consumer.poll(timeoutMilliseconds: 100) { _ in seen.append(consumer.currentBatchCount) }
            #expect(events.isEmpty)
            #expect(seen.allSatisfy { $0 == count }, "poll of \(count): \(seen)")
            #expect(count <= 16)
            #expect(consumer.currentBatchCount == 0)
            received += count
        }
        #expect(received == 40)
    }

    @Test func watermarksAreAskedOfTheBroker() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("marks", partitions: 2)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        for i in 0..<7 { try producer.send("marks", partition: 0, key: "\(i)", value: [1]) }
        try producer.flush()
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        #expect(try consumer.partitions(of: "marks") == [0, 1])
        #expect(try consumer.watermarks(topic: "marks", partition: 0) == Watermarks(low: 0, high: 7))
        #expect(try consumer.watermarks(topic: "marks", partition: 1) == Watermarks(low: 0, high: 0))
        broker.setMetadataError(topic: "no-such-topic", code: 3)  // the mock would create it
        let unknown = try #require(throws: KafkaError.self) { try consumer.partitions(of: "no-such-topic") }
        #expect(unknown.code == .unknownTopic)
        #expect(unknown.message == "topic no-such-topic at \(broker.bootstrapServers): Broker: Unknown topic or partition")
    }

    @Test func messageLargerThanTheProducerLimitIsMessageTooLarge() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("big", partitions: 1)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers, ["message.max.bytes": "1000"]))
        try producer.send("big", partition: 0, key: "ok", value: Array(repeating: 7, count: 500))
        let error = try #require(throws: KafkaError.self) {
            try producer.send("big", partition: 0, key: "too-big", value: Array(repeating: 7, count: 2000))
        }
        #expect(error.code == .messageTooLarge)
        #expect(error.librdkafkaCode == 10)  // RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
        #expect(error.message.contains("produce to big (2000 bytes)"))
        #expect(try producer.flush(until: .timeout(.seconds(10))) == 0)
        #expect(producer.deliveredCount == 1)
    }

    @Test func librdkafkaCodesMapToStableCodes() {
        #expect(KafkaError.Code.allCases.map(\.rawValue) == [
            "message-too-large", "queue-full", "timed-out", "stopped", "transport", "all-brokers-down",
            "unknown-topic", "offset-out-of-range", "fatal", "configuration", "other",
        ])
        let table: [(Int32, KafkaError.Code)] = [
            (10, .messageTooLarge), (-184, .queueFull), (-192, .timedOut), (-185, .timedOut), (7, .timedOut),
            (-195, .transport), (-193, .transport), (-187, .allBrokersDown), (3, .unknownTopic), (-188, .unknownTopic),
            (1, .offsetOutOfRange), (-140, .offsetOutOfRange), (-150, .fatal), (-186, .configuration), (2, .other),
        ]
        for (number, code) in table {
            #expect(KafkaError.code(of: .init(number)) == code, "librdkafka error \(number)")
        }
    }

    @Test func badPropertyIsAConfigurationError() {
        let error = #expect(throws: KafkaError.self) {
            try KafkaProducer(configuration: KafkaConfiguration(["no.such.property": "1"]))
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.hasPrefix("Kafka property no.such.property=1: ") == true)
    }

    @Test func fatalErrorIsReportedAsFatal() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("f", partitions: 1)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        producer.raiseFatalErrorForTesting("test")
        producer.poll()
        let error = try #require(throws: KafkaError.self) { try producer.send("f", partition: 0, key: "k", value: [1]) }
        #expect(error.code == .fatal)
        #expect(error.librdkafkaCode == 45)  // RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, the cause
        #expect(producer.fatalError?.code == .fatal)
    }

    @Test func consumerFatalErrorEndsPolling() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("f", partitions: 1)
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        try consumer.assign([("f", 0, nil)])
        _ = try consumer.poll(timeoutMilliseconds: 10) { _ in }
        consumer.raiseFatalErrorForTesting("test")
        let error = try #require(throws: KafkaError.self) { try consumer.poll(timeoutMilliseconds: 10) { _ in } }
        #expect(error.code == .fatal)
        #expect(error.librdkafkaCode == 82)  // RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, the cause
        #expect(error.message.contains("consumer \(broker.bootstrapServers): fatal error FENCED_INSTANCE_ID"))
    }
}
