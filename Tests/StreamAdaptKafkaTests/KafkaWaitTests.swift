import Testing

@testable import StreamAdaptKafka

/// Every wait of the layer gives up on stop or at its deadline, with the right code.
@Suite(.serialized) struct KafkaWaitTests {
    @Test func fullQueueWaitGivesUpOnStopAndAtTheDeadline() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("q", partitions: 1)
        broker.setDown()
        let producer = try KafkaProducer(
            configuration: testProperties(broker.bootstrapServers, ["queue.buffering.max.messages": "5"]))
        for i in 0..<5 { try producer.send("q", partition: 0, key: "\(i)", value: [UInt8(i)]) }
        #expect(producer.inFlight == 5)
        let full = try #require(throws: KafkaError.self) { try producer.send("q", partition: 0, key: "5", value: [5]) }
        #expect(full.code == .queueFull)

        let stop = StopAfter(3)
        let stopped = try #require(throws: KafkaError.self) {
            try [UInt8(5)].withUnsafeBytes {
                try producer.sendWaiting(topic: "q", partition: 0, key: "5", value: $0, until: .stop(when: stop.check))
            }
        }
        #expect(stopped.code == .stopped)
        #expect(stop.calls == 3)
        #expect(stopped.message.contains("5 messages in flight to \(broker.bootstrapServers)"))

        let late = try #require(throws: KafkaError.self) {
            try [UInt8(5)].withUnsafeBytes {
                try producer.sendWaiting(topic: "q", partition: 0, key: "5", value: $0, until: .timeout(.milliseconds(300)))
            }
        }
        #expect(late.code == .timedOut)
        #expect(producer.inFlight == 5)
        #expect(producer.failedCount == 0)

        // Back up: the queue drains and the waiting send goes through.
        broker.setUp()
        try [UInt8(5)].withUnsafeBytes {
            try producer.sendWaiting(topic: "q", partition: 0, key: "5", value: $0, until: .timeout(.seconds(20)))
        }
        #expect(try producer.flush(until: .timeout(.seconds(20))) == 0)
        #expect(producer.deliveredCount == 6)
        #expect(producer.failedCount == 0)
    }

    @Test func flushReportsMessagesInFlightAtItsDeadlineAndStops() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("fl", partitions: 1)
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers))
        try producer.send("fl", partition: 0, key: "first", value: [0])
        #expect(try producer.flush(until: .timeout(.seconds(10))) == 0)
        broker.setDown()
        for i in 1...3 { try producer.send("fl", partition: 0, key: "\(i)", value: [UInt8(i)]) }
        #expect(try producer.flush(until: .timeout(.milliseconds(500))) == 3)
        let stopped = try #require(throws: KafkaError.self) { try producer.flush(until: .stop(when: { true })) }
        #expect(stopped.code == .stopped)
        #expect(stopped.message.contains("3 messages still in flight"))
        let timedOut = try #require(throws: KafkaError.self) { try producer.flush(timeoutMilliseconds: 200) }
        #expect(timedOut.code == .timedOut)
        // message.timeout.ms=0: nothing failed during the outage; everything is delivered after it.
        broker.setUp()
        #expect(try producer.flush(until: .timeout(.seconds(30))) == 0)
        #expect(try producer.flush(until: .stop(when: { true })) == 0)  // nothing in flight: no stop error
        #expect(producer.deliveredCount == 4)
        #expect(producer.failedCount == 0)
    }

    @Test func metadataWaitRetriesWithBackoffAndGivesUpOnStop() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("m", partitions: 3)
        broker.setDown()
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        var notices: [RetryNotice] = []
        let backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(150), multiplier: 2)
        let error = try #require(throws: KafkaError.self) {
            try consumer.partitions(
                of: "m", retryingUntil: .stop(when: { notices.count >= 4 }), backoff: backoff, onRetry: { notices.append($0) })
        }
        #expect(error.code == .stopped)
        #expect(error.message.contains("metadata of topic m from \(broker.bootstrapServers)"))
        #expect(notices.map(\.attempt) == [1, 2, 3, 4])
        #expect(notices.map(\.nextDelay) == [.milliseconds(50), .milliseconds(100), .milliseconds(150), .milliseconds(150)])
        #expect(notices.allSatisfy { $0.bootstrap == broker.bootstrapServers && $0.what == "metadata of topic m" })
        #expect(notices.allSatisfy { [.transport, .allBrokersDown, .timedOut].contains($0.error.code) })

        // At a deadline: the cause, naming the address.
        let late = try #require(throws: KafkaError.self) { try consumer.partitions(of: "m", until: .timeout(.milliseconds(600))) }
        #expect([.transport, .allBrokersDown, .timedOut].contains(late.code))
        #expect(late.message.contains(broker.bootstrapServers))
        #expect(late.message.contains("gave up after"))

        // The broker comes back: the next wait succeeds.
        broker.setUp()
        var retries = 0
        #expect(try consumer.partitions(of: "m", retryingUntil: .timeout(.seconds(20)), backoff: backoff) { _ in retries += 1 } == [0, 1, 2])
    }

    @Test func unreachableBootstrapIsNamedInTheError() throws {
        let consumer = try KafkaConsumer(configuration: testProperties("127.0.0.1:1"))
        let error = try #require(throws: KafkaError.self) { try consumer.partitions(of: "x", until: .timeout(.milliseconds(800))) }
        #expect([.transport, .allBrokersDown].contains(error.code))
        #expect(error.message.hasPrefix("metadata of topic x from 127.0.0.1:1: "))
        let stopped = try #require(throws: KafkaError.self) {
            try consumer.watermarks(topic: "x", partition: 0, until: .stop(when: { true }))
        }
        #expect(stopped.code == .stopped)
        #expect(stopped.message == "stopped waiting for watermarks of x [0] from 127.0.0.1:1 after 0 attempts in 0.0 s")
    }
}
