import Foundation
import Testing

@testable import StreamAdaptKafka

/// Consumer-group membership against the embedded broker (librdkafka's mock cluster): the cooperative
/// protocol moves only the partitions that change owner, assigned partitions start where the handler
/// says, and a member that closes hands its partitions back through the handler.
@Suite struct KafkaGroupTests {
    /// Two members of one group over 4 partitions, then the second leaves.
    @Test func aSecondMemberTakesHalfAndTheFirstKeepsTheRest() throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("in", partitions: 4)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        for p in 0..<4 {
            for i in 0..<10 { try producer.send("in", partition: Int32(p), key: "k", value: Array("\(p)-\(i)".utf8)) }
        }
        try producer.flush()

        // Short sessions: the mock waits session.timeout.ms - 1 s in each join round.
        let properties = KafkaConsumer.groupProperties(group: "g").merging(
            ["bootstrap.servers": broker.bootstrapServers, "session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
        ) { $1 }
        var eventsA: [Rebalance] = []
        let a = try KafkaConsumer(configuration: KafkaConfiguration(properties))
        try a.subscribe(["in"]) { event in
            eventsA.append(event)
            // Partition 1 starts at offset 7, the others at the oldest offset.
            if case .assigned(let ps) = event {
                return Dictionary(uniqueKeysWithValues: ps.map { ($0, $0.partition == 1 ? Int64(7) : nil) })
            }
            return [:]
        }
        var seenA: [Received] = []
        try waitFor("A owns 4 partitions and read 33 messages", serve: {
            seenA += try a.collect(1, attempts: 1).messages
        }, until: { a.ownedPartitions.count == 4 && seenA.count >= 33 })
        #expect(seenA.count == 33)
        #expect(seenA.filter { $0.partition == 1 }.map(\.offset) == [7, 8, 9])
        #expect(eventsA == [.assigned((0..<4).map { TopicPartition(topic: "in", partition: $0) })])

        var eventsB: [Rebalance] = []
        let b = try KafkaConsumer(configuration: KafkaConfiguration(properties))
        try b.subscribe(["in"]) { event in
            eventsB.append(event)
            return [:]
        }
        try waitFor("two partitions each", attempts: 600, serve: {
            _ = try a.collect(1, attempts: 1)
            _ = try b.collect(1, attempts: 1)
        }, until: { a.ownedPartitions.count == 2 && b.ownedPartitions.count == 2 })
        // Cooperative: A gave up exactly the two B took, in an orderly revoke (not lost), and was never
        // left without the other two.
        #expect(eventsA.count == 2)
        guard case .revoked(let given) = eventsA.last, case .assigned(let taken)? = eventsB.first else {
            Issue.record("events A \(eventsA), B \(eventsB)")
            return
        }
        #expect(Set(given) == Set(taken))
        #expect(a.ownedPartitions.isDisjoint(with: b.ownedPartitions))

        // B leaves (its owner wrote its state before: the handler is not called during the close) and A
        // gets the partitions back at once, not after B's session timeout.
        let leaving = ContinuousClock.now
        try b.close()
        #expect(eventsB.count == 1)
        #expect(b.ownedPartitions.isEmpty)
        try waitFor("A owns 4 partitions again", attempts: 600, serve: { _ = try a.collect(1, attempts: 1) }) {
            a.ownedPartitions.count == 4
        }
        // Within the session timeout (6 s): B left the group, the group did not wait for its session to end.
        #expect(ContinuousClock.now - leaving < .seconds(6))
        #expect(eventsA.count == 3)
        if case .assigned(let again) = eventsA.last { #expect(Set(again) == Set(taken)) } else { Issue.record("A: \(eventsA)") }
        try a.close()
    }

    /// With `runsOfPartitions`, each poll hands over one run per partition, each in offset order; without
    /// it librdkafka interleaves the partitions' fetched message sets (checked too, so that the test
    /// shows the option does something).
    @Test(arguments: [true, false])
    func aPollHandsOverOneRunPerPartition(runs: Bool) throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("in", partitions: 2)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        for round in 0..<20 {
            for p in Int32(0)..<2 {
                for i in 0..<25 { try producer.send("in", partition: p, key: "k", value: Array("\(round)-\(i)".utf8)) }
                try producer.flush()
            }
        }
        // Small fetches: several message sets of each partition reach the queue before the first poll.
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, ["fetch.max.bytes": "2000", "message.max.bytes": "2000", "max.partition.fetch.bytes": "1000"]),
            batchSize: 1000)
        consumer.runsOfPartitions = runs
        try consumer.assign([("in", 0, nil), ("in", 1, nil)])
        // Everything fetched before the first poll: the queue holds many message sets of each partition.
        try waitFor("1000 messages fetched", serve: { consumer.serveMainQueue(milliseconds: 100) }) { consumer.queuedCount >= 1000 }
        var polls: [[(Int32, Int64)]] = []
        var next: [Int32: Int64] = [0: 0, 1: 0]
        try waitFor("1000 messages", serve: {
            var batch: [(Int32, Int64)] = []
            try consumer.poll(timeoutMilliseconds: 100) { batch.append(($0.partition, $0.offset)) }
            if !batch.isEmpty { polls.append(batch) }
        }, until: { polls.map(\.count).reduce(0, +) == 1000 })
        var interleaved = 0
        for batch in polls {
            var runsSeen: [Int32] = []
            for (p, offset) in batch {
                #expect(offset == next[p], "partition \(p) out of order")
                next[p] = offset + 1
                if runsSeen.last != p { runsSeen.append(p) }
            }
            if runsSeen.count > Set(runsSeen).count { interleaved += 1 }
        }
        if runs {
            #expect(interleaved == 0)
        } else {
            #expect(interleaved > 0, "librdkafka handed over runs already: \(polls.map(\.count))")
        }
    }
}
