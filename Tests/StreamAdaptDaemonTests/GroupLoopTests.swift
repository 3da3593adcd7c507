import Foundation
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// Consumer-group mode in process (two loops, each on its own thread, against the embedded broker):
/// partitions move between members with their state, and each partition ends in the state one member
/// alone gives it. The process-level tests (kill -9, SIGSTOP) are in the CLI tests.
@Suite struct GroupLoopTests {
    /// A fixture with 4 input partitions, two state topics and a per-partition group pipeline. Short
    /// sessions: the embedded broker waits `session.timeout.ms - 1 s` in every join round.
    static func groupFixture() throws -> LoopFixture {
        let fixture = try LoopFixture(partitions: 4)
        for topic in ["state", "state-ref"] { try fixture.broker.createTopic(topic, partitions: 4) }
        fixture.configuration.checkpointDirectory = nil
        fixture.configuration.joinGroup("g")
        fixture.configuration.stateTopicSetting = "state"
        fixture.configuration.kafkaProperties = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
        fixture.configuration.maximumBlock = 1  // states compared byte for byte
        fixture.configuration.checkpointEveryEvents = 25
        return fixture
    }

    /// The newest complete snapshot of each partition of `topic`.
    static func newestSnapshots(_ fixture: LoopFixture, topic: String) throws -> [Int32: StateSnapshot] {
        let state = StateTopic(name: topic, properties: ["bootstrap.servers": fixture.broker.bootstrapServers])
        var newest: [Int32: StateSnapshot] = [:]
        for p in Int32(0)..<4 {
            newest[p] = try state.read(partition: p, until: .timeout(.seconds(30))).completeSnapshots.first
        }
        return newest
    }

    /// A runs alone, B joins half way: A keeps two partitions throughout (cooperative), B starts each moved
    /// partition at A's snapshot; every event gets a prediction, and each partition ends byte for byte in
    /// the state of one member alone over the same input.
    @Test func aSecondMemberTakesOverPartitionsWithTheirState() throws {
        let fixture = try Self.groupFixture()
        let events = SyntheticStream.events(400, shiftAt: 300)
        try fixture.produceJSON(Array(events[..<200]), partitions: 4)

        let handledA = Shared<Set<[Int64]>>([])
        let handledB = Shared<Set<[Int64]>>([])
        let rebalancesA = Shared<[Rebalance]>([])
        let rebalancesB = Shared<[Rebalance]>([])
        let stopA = Shared(false)
        let stopB = Shared(false)
        let loopA = try fixture.loop()
        loopA.hooks.handled = { p, offset in handledA.update { $0.insert([Int64(p.partition), offset]) } }
        loopA.rebalanceObserver = { event in rebalancesA.update { $0.append(event) } }
        let runA = BackgroundRun(loopA) { stopA.get() }
        #expect(waitUntil(seconds: 60) { handledA.get().count == 200 }, "A handled \(handledA.get().count)")

        let loopB = try fixture.loop()
        loopB.hooks.handled = { p, offset in handledB.update { $0.insert([Int64(p.partition), offset]) } }
        loopB.rebalanceObserver = { event in rebalancesB.update { $0.append(event) } }
        let runB = BackgroundRun(loopB) { stopB.get() }
        #expect(waitUntil(seconds: 60) { rebalancesB.get().contains { if case .assigned = $0 { true } else { false } } })
        try fixture.produceJSON(Array(events[200...]), partitions: 4)
        // The second half: 50 events in each partition at offsets 50..<100, read by whoever owns it now.
        #expect(waitUntil(seconds: 60) { handledA.get().union(handledB.get()).count == 400 })
        // One after the other: B leaves (A may get its partitions back), then A.
        stopB.update { $0 = true }
        try #require(runB.wait()).get()
        stopA.update { $0 = true }
        try #require(runA.wait()).get()

        // A: all four, then an orderly revoke of exactly the two B took; B started them where A stopped.
        let a = rebalancesA.get()
        let b = rebalancesB.get()
        let all = Set((0..<4).map { TopicPartition(topic: "in", partition: Int32($0)) })
        guard a.count >= 2, case .assigned(let first) = a[0], case .revoked(let given) = a[1],
            case .assigned(let taken)? = b.first
        else {
            Issue.record("rebalances A \(a), B \(b)")
            return
        }
        #expect(Set(first) == all)
        #expect(Set(given) == Set(taken))
        #expect(taken.count == 2)
        for gp in taken {
            let secondHalf = (Int64(50)..<100).map { [Int64(gp.partition), $0] }
            #expect(handledB.get().isSuperset(of: secondHalf), "B read partition \(gp.partition) from A's snapshot on")
            #expect(handledB.get().filter { $0[0] == Int64(gp.partition) && $0[1] < 50 }.isEmpty, "B re-read \(gp.partition)")
        }
        for gp in all.subtracting(taken) {
            #expect(handledA.get().filter { $0[0] == Int64(gp.partition) }.count == 100, "A kept partition \(gp.partition)")
        }
        #expect(!a.contains { if case .lost = $0 { true } else { false } })

        // B restored the moved partitions from A's epoch 1: that snapshot stays (nothing tombstoned).
        let stateRecords = try fixture.read("state")
        #expect(!stateRecords.contains { $0.value.isEmpty }, "no tombstone before a third owner")
        // Every event has a prediction.
        let predicted = Set(try fixture.read("predictions").map(\.keyString))
        #expect(predicted == Set(events.map(\.id)))

        // The reference: one member alone over the same input, its own group and state topic.
        let reference = try fixture.loop {
            $0.group = "ref"
            $0.stateTopicSetting = "state-ref"
            $0.predictionsTopic = "predictions-ref"
        }
        try reference.run(untilCaughtUp: true) { false }
        let got = try Self.newestSnapshots(fixture, topic: "state")
        let expected = try Self.newestSnapshots(fixture, topic: "state-ref")
        for p in Int32(0)..<4 {
            let g = try #require(got[p], "no snapshot of partition \(p)")
            let e = try #require(expected[p])
            let same = g.bytes == e.bytes  // (not inside #expect, which would print every byte)
            #expect(same, "partition \(p): state differs from one member alone")
            #expect(try storedOffsets(g.bytes, configuration: fixture.configuration).offsets == [p: 100])
        }
    }

    /// Writes `snapshot`'s records to `topic` as an owner would.
    static func inject(_ snapshot: StateSnapshot, topic: String, _ fixture: LoopFixture) throws {
        try fixture.produce(topic: topic, snapshot.records().map { (Array($0.key.utf8), $0.value, snapshot.partition, []) })
    }

    /// A newest snapshot that does not restore (well-formed chunks around a damaged checkpoint): the
    /// previous one is used. A partition whose only snapshots do not restore stops the member with
    /// `state-not-restorable`; it is never started from zero.
    @Test func aSnapshotThatDoesNotRestoreFallsBackAndNoneStopsTheMember() throws {
        let fixture = try Self.groupFixture()
        try fixture.broker.createTopic("state-bad", partitions: 4)
        try fixture.produceJSON(SyntheticStream.events(80), partitions: 4)
        let first = try fixture.loop()
        try first.run(untilCaughtUp: true) { false }
        let good = try #require(try Self.newestSnapshots(fixture, topic: "state")[0])
        var damaged = good.bytes
        damaged[damaged.count / 2] ^= 1  // the checkpoint's CRC no longer matches
        try Self.inject(StateSnapshot(partition: 0, epoch: good.epoch + 5, sequence: 0, bytes: damaged), topic: "state", fixture)

        let logs = LogCapture()
        let handled = Shared(0)
        let second = try fixture.loop(logger: logs.logger())
        second.hooks.handled = { _, _ in handled.update { $0 += 1 } }
        try second.run(untilCaughtUp: true) { false }
        #expect(handled.get() == 0)  // every partition restored where the first member stopped
        let refused = logs.lines(containing: "state snapshot refused")
        #expect(refused.count == 1)
        #expect(refused.first?.metadata["epoch"] == "\(good.epoch + 5)")
        let assigned = logs.lines(containing: "partition assigned").first { $0.metadata["partition"] == "in/0" }
        #expect(assigned?.metadata["restored-from"] == "epoch \(good.epoch) sequence \(good.sequence)")
        #expect(assigned?.metadata["epoch"] == "\(good.epoch + 6)")  // above every epoch seen, the damaged one too

        // Only a damaged snapshot in partition 3 of another state topic: the member stops.
        try Self.inject(StateSnapshot(partition: 3, epoch: 1, sequence: 0, bytes: damaged), topic: "state-bad", fixture)
        let third = try fixture.loop {
            $0.stateTopicSetting = "state-bad"
            $0.group = "other"
        }
        let handledThird = Shared<Set<Int32>>([])
        third.hooks.handled = { p, _ in handledThird.update { $0.insert(p.partition) } }
        #expect {
            try third.run(untilCaughtUp: true) { false }
        } throws: { error in
            let failure = error as? GroupStateError
            return failure?.code == "state-not-restorable" && failure?.partition.partition == 3
                && failure?.message.contains("refusing to start the partition from zero") == true
        }
        #expect(!handledThird.get().contains(3))

        // A record that is not a state record at all (one bit of the magic flipped) as the only one.
        var foreign = StateSnapshot(partition: 1, epoch: 1, sequence: 0, bytes: good.bytes).records()[0]
        foreign.value[0] ^= 0x01
        try fixture.broker.createTopic("state-foreign", partitions: 4)
        try fixture.produce(topic: "state-foreign", [(Array(foreign.key.utf8), foreign.value, 1, [])])
        let fourth = try fixture.loop {
            $0.stateTopicSetting = "state-foreign"
            $0.group = "another"
        }
        #expect {
            try fourth.run(untilCaughtUp: true) { false }
        } throws: { error in
            (error as? GroupStateError)?.partition.partition == 1 && (error as? GroupStateError)?.message.contains("1 malformed") == true
        }
    }

    /// Three owners one after the other: the third, once its first snapshot is delivered, tombstones the
    /// records of epoch 1 (older than the epoch-2 snapshot it restored, which stays), and only after it.
    @Test func aThirdOwnerTombstonesTheEpochsBeforeItsRestoreSource() throws {
        let fixture = try Self.groupFixture()
        let events = SyntheticStream.events(120)
        for generation in 0..<3 {
            try fixture.produceJSON(Array(events[(generation * 40)..<((generation + 1) * 40)]), partitions: 4)
            let loop = try fixture.loop()
            try loop.run(untilCaughtUp: true) { false }
        }
        let records = try fixture.read("state")
        for p in Int32(0)..<4 {
            let partition = records.filter { $0.partition == p }
            let tombstones = partition.filter { $0.value.isEmpty }
            let ofEpoch1 = partition.filter { !$0.value.isEmpty && $0.keyString.hasPrefix("\(p)#1#") }
            let ofEpoch2 = partition.filter { !$0.value.isEmpty && $0.keyString.hasPrefix("\(p)#2#") }
            let firstOfEpoch3 = try #require(partition.first { !$0.value.isEmpty && $0.keyString.hasPrefix("\(p)#3#") && !$0.keyString.hasSuffix("claim") })
            #expect(Set(tombstones.map(\.keyString)) == Set(ofEpoch1.map(\.keyString)), "partition \(p)")
            #expect(!ofEpoch2.isEmpty && Set(ofEpoch2.map(\.keyString)).isDisjoint(with: tombstones.map(\.keyString)))
            #expect(tombstones.allSatisfy { $0.offset > firstOfEpoch3.offset }, "tombstones before the new snapshot")
        }
    }
}
