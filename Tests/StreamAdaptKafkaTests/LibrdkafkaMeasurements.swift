import CRdkafka
import Foundation
import Testing

@testable import StreamAdaptKafka

/// Measurements of librdkafka 2.0.2's behaviour behind docs/kafka.md, printed, not asserted on timing.
/// Run: `STREAMADAPT_MEASURE=1 swift test --filter LibrdkafkaMeasurements`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["STREAMADAPT_MEASURE"] != nil))
struct LibrdkafkaMeasurements {
    /// How long after `set_down`/`set_up` the monitor reports the loss and the recovery, with and without
    /// statistics, on an idle topic (one message, then nothing).
    @Test func connectivitySignals() throws {
        for statistics in ["1000", "0"] {
            let broker = try EmbeddedBroker()
            try broker.createTopic("c", partitions: 1)
            let monitor = KafkaConnectivity()
            let extra = ["statistics.interval.ms": statistics]
            let producer = try KafkaProducer(configuration: testProperties(broker.bootstrapServers, extra), connectivity: monitor)
            let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers, extra), connectivity: monitor)
            try consumer.assign([("c", 0, nil)])
            try producer.send("c", partition: 0, key: "a", value: [1])
            let serve = {
                producer.poll()
                _ = try consumer.poll(timeoutMilliseconds: 100) { _ in }
            }
            try waitFor("up", serve: serve) { monitor.state == .up }
            let down = ContinuousClock.now
            broker.setDown()
            try waitFor("down", serve: serve) { monitor.state == .down }
            let lostAfter = ContinuousClock.now - down
            let up = ContinuousClock.now
            broker.setUp()
            var restoredAfter: Duration?
            for _ in 0..<300 where restoredAfter == nil {
                try serve()
                if monitor.state == .up { restoredAfter = ContinuousClock.now - up }
            }
            print("statistics.interval.ms=\(statistics): lost after \(lostAfter), restored after \(restoredAfter.map { "\($0)" } ?? "never (30 s of polling)"); events \(monitor.takeEvents().map { "\($0.kind) (\($0.client): \($0.reason))" })")
        }
    }

    /// What auto.offset.reset=error leaves behind: the event, the cached watermarks, and what seek does.
    @Test func offsetResetError() throws {
        let broker = try EmbeddedBroker()
        let marks = try KafkaOffsetGapTests().evictHead(broker, topic: "gap")
        print("after 60 x 100 KB: watermarks \(marks.low)..<\(marks.high)")
        let consumer = try KafkaConsumer(configuration: testProperties(broker.bootstrapServers))
        try consumer.assign([("gap", 0, 0)])
        let (_, events) = try consumer.collect(0, events: 1, attempts: 100)
        print("event: \(events)")
        let rkt = rd_kafka_topic_new(consumer.handle, "gap", nil)
        defer { rd_kafka_topic_destroy(rkt) }
        let err = rd_kafka_seek(rkt, 0, marks.low, 2000)
        print("rd_kafka_seek after the reset error: \(String(cString: rd_kafka_err2name(err)))")
        let (after, _) = try consumer.collect(1, attempts: 20)
        print("messages in 2 s after that seek: \(after.count)")
        try consumer.resume(topic: "gap", partition: 0, at: nil)
        let (resumed, _) = try consumer.collect(1, attempts: 100)
        print("after resume(at: nil): first offset \(resumed.first?.offset ?? -1)")
    }
}
