import Synchronization
import Testing

@testable import StreamAdaptKafka

/// Broker loss and recovery as events, from librdkafka's callbacks, against the mock broker's
/// `set_down`/`set_up`.
@Suite(.serialized) struct KafkaConnectivityTests {
    @Test func lossAndRecoveryAreOneEventEach() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("c", partitions: 1)
        let seen = Mutex<[KafkaConnectivity.Event.Kind]>([])
        let monitor = KafkaConnectivity { event in seen.withLock { $0.append(event.kind) } }
        let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers), connectivity: monitor)
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers), connectivity: monitor)
        try consumer.assign([("c", 0, nil)])
        try producer.send("c", partition: 0, key: "a", value: [1])
        let serve = {
            producer.poll()
            _ = try consumer.poll(timeoutMilliseconds: 100) { _ in }
        }
        try waitFor("the first connection", serve: serve) { monitor.state == .up }
        #expect(monitor.takeEvents().isEmpty)  // coming up the first time is not a recovery

        broker.setDown()
        try waitFor("the loss", serve: serve) { monitor.state == .down }
        let lost = monitor.takeEvents()
        #expect(lost.map(\.kind) == [.lost])
        #expect(lost.first?.bootstrap == broker.bootstrapServers)
        #expect(lost.first?.reason.contains("brokers are down") == true)
        #expect(monitor.losses == 1)

        broker.setUp()
        try waitFor("the recovery", serve: serve) { monitor.state == .up }
        #expect(monitor.takeEvents().map(\.kind) == [.restored])
        // More serving brings no more transitions.
        for _ in 0..<5 { try serve() }
        #expect(monitor.takeEvents().isEmpty)
        #expect(seen.withLock { $0 } == [.lost, .restored])
        #expect(monitor.losses == 1)
    }

    @Test func startWithoutBrokerIsALoss() throws {
        let monitor = KafkaConnectivity()
        let consumer = try KafkaConsumer(configuration: testProperties("127.0.0.1:1"), connectivity: monitor)
        _ = try? consumer.partitions(of: "x", until: .timeout(.milliseconds(600)))
        try waitFor("the loss", serve: { _ = try consumer.poll(timeoutMilliseconds: 100) { _ in } }) { monitor.state == .down }
        let events = monitor.takeEvents()
        #expect(events.map(\.kind) == [.lost])
        #expect(events.first?.client == "consumer")
        #expect(events.first?.bootstrap == "127.0.0.1:1")
    }

    @Test func librdkafkaLogsAndErrorsGoToTheHandler() throws {
        let logs = LogCollector()
        let consumer = try KafkaConsumer(configuration: testProperties("127.0.0.1:1"), log: logs.handler)
        _ = try? consumer.partitions(of: "x", until: .timeout(.milliseconds(600)))
        try waitFor("an error record", serve: { _ = try consumer.poll(timeoutMilliseconds: 100) { _ in } }) {
            logs.all.contains { $0.facility == "ERROR" }
        }
        let error = try #require(logs.all.first { $0.facility == "ERROR" })
        #expect(error.level == 3)
        #expect(error.message.hasPrefix("consumer 127.0.0.1:1: "))
        #expect(error.client.hasPrefix("rdkafka#consumer-"))
    }
}
