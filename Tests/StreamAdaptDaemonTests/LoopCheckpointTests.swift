import Foundation
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// Checkpoints of the loop in process: refused files and `fresh`, the folder checked at start,
/// time-based pacing on an injected clock, no offsets past undelivered outputs, and what a restart
/// from a checkpoint gives with one and with four input partitions.
@Suite(.serialized) struct LoopCheckpointTests {
    init() { BLAS.setThreads(1) }

    @Test func aCorruptCheckpointIsRefusedAndFreshSetsItAside() throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(10))
        try FileManager.default.createDirectory(atPath: fixture.configuration.checkpointDirectory!, withIntermediateDirectories: true)
        let garbage = Data("not a checkpoint at all".utf8)
        try garbage.write(to: URL(fileURLWithPath: fixture.checkpointPath))

        let error = try #require(throws: CheckpointFileError.self) { try fixture.loop() }
        #expect(error.code == .refused)
        #expect(error.path == fixture.checkpointPath)
        #expect(error.checkpointError?.code == .wrongMagic)
        #expect(error.description.contains(fixture.checkpointPath) && error.description.contains("--fresh"))
        #expect(FileManager.default.contents(atPath: fixture.checkpointPath) == garbage)  // left as it was

        let loop = try fixture.loop(fresh: true)
        #expect(loop.model.eventCount == 0 && loop.nextOffsets.isEmpty)
        let folder = try FileManager.default.contentsOfDirectory(atPath: fixture.configuration.checkpointDirectory!)
        let aside = try #require(folder.first { $0.hasPrefix("checkpoint.bin.refused-") })
        #expect(FileManager.default.contents(atPath: fixture.configuration.checkpointDirectory! + "/" + aside) == garbage)
        #expect(!FileManager.default.fileExists(atPath: fixture.checkpointPath))
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.model.eventCount == 10)
        #expect(try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration).offsets == [0: 10])
    }

    @Test func aCheckpointOfOtherClassesIsRefused() throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(10))
        try fixture.loop().run(untilCaughtUp: true) { false }
        let written = try #require(fixture.storedCheckpointBytes())

        let other = fixture.folder.file("other-classes")
        try SyntheticStream.writeClasses(to: other, tilt: 0.5)
        let error = try #require(throws: CheckpointFileError.self) { try fixture.loop { $0.classesDirectory = other } }
        #expect(error.code == .refused)
        #expect(error.checkpointError?.code == .configurationMismatch)
        #expect(error.checkpointError?.field?.hasPrefix("classes") == true, "\(error)")
        #expect(fixture.storedCheckpointBytes() == written)

        // With fresh, the other classes start from scratch at offset 0.
        let loop = try fixture.loop(fresh: true) { $0.classesDirectory = other }
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.handled == 10 && loop.model.eventCount == 10)
    }

    /// Version 1 of the daemon section (before the recent offsets) is still read: the model, offsets
    /// and label cache are restored, the alert window starts empty. Any other version is refused.
    @Test func aVersion1DaemonSectionIsReadAndOthersAreRefused() throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(12))
        let first = try fixture.loop()
        try first.run(maximumEvents: 5) { false }
        #expect(first.recentInputs.count == 5)
        func write(tag: String) throws {
            var writer = CheckpointWriter()
            first.model.save(to: &writer)
            writer.writeString(tag)
            writer.writeString("in")
            writer.writeInt(1)
            writer.writeString("in")
            writer.writeInt(0)
            writer.writeInt(5)
            first.labelCache.save(to: &writer)
            try CheckpointStore(directory: fixture.configuration.checkpointDirectory!).write(Checkpoint.seal(payload: writer.bytes))
        }
        try write(tag: "streamadapt-daemon/1")
        let restored = try fixture.loop()
        #expect(restored.model.eventCount == 5)
        #expect(stateBytes(restored.model) == stateBytes(first.model))
        #expect(restored.nextOffsets == [TopicPartition(topic: "in", partition: 0): 5])
        #expect(restored.recentInputs.count == 0)
        try restored.run(untilCaughtUp: true) { false }
        #expect(restored.handled == 7 && restored.recentInputs.count == 7)
        // Its final checkpoint is version 2, ring included.
        #expect(try fixture.loop().recentInputs.count == 7)

        try write(tag: "streamadapt-daemon/9")
        let error = try #require(throws: CheckpointFileError.self) { try fixture.loop() }
        #expect(error.checkpointError?.code == .unsupportedVersion)
        #expect(error.checkpointError?.field == "daemon")
    }

    @Test func theRecentOffsetsRingKeepsItsEventsThroughACheckpoint() throws {
        let ring = RecentInputs(capacity: 4)
        for (p, o) in [(0, 10), (1, 3), (0, 11), (2, 7), (1, 4), (0, 12)] { ring.append(partition: Int32(p), offset: Int64(o)) }
        #expect(ring.count == 4)
        #expect((0..<4).map { ring[$0].offset } == [11, 7, 4, 12])
        #expect(ring.ranges().map { [Int($0.partition), Int($0.from), Int($0.to)] } == [[0, 11, 12], [1, 4, 4], [2, 7, 7]])
        var writer = CheckpointWriter()
        ring.save(to: &writer)
        let copy = RecentInputs(capacity: 4)
        var reader = CheckpointReader(writer.bytes)
        try copy.restore(from: &reader)
        try reader.finish()
        #expect((0..<4).map { copy[$0].partition } == [0, 2, 1, 0])
        #expect((0..<4).map { copy[$0].offset } == [11, 7, 4, 12])
        // The bytes depend on the events held, not on where the ring starts.
        var again = CheckpointWriter()
        copy.save(to: &again)
        #expect(again.bytes == writer.bytes)
        // Another window size is refused, naming the setting.
        var other = CheckpointReader(writer.bytes)
        let error = try #require(throws: CheckpointError.self) { try RecentInputs(capacity: 5).restore(from: &other) }
        #expect(error.code == .configurationMismatch && error.field == "drift.inputWindow")
    }

    @Test func aCheckpointFolderThatCannotBeUsedStopsTheStartNamingIt() throws {
        let folder = try TemporaryFolder()
        let file = folder.file("a-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))

        let notAFolder = try #require(throws: CheckpointFileError.self) { try CheckpointStore(directory: file).prepare() }
        #expect(notAFolder.code == .notADirectory)
        #expect(notAFolder.path == file)
        #expect(notAFolder.description == "checkpoint not-a-directory: \(file) is a file, not a folder (checkpoint.directory must name a folder)")

        let underAFile = try #require(throws: CheckpointFileError.self) { try CheckpointStore(directory: file + "/sub").prepare() }
        #expect(underAFile.code == .cannotCreate)
        #expect(underAFile.description == "checkpoint cannot-create: \(file)/sub cannot be created: \(file) is a file")

        // A folder nobody can create files in (procfs refuses even root).
        let unwritable = try #require(throws: CheckpointFileError.self) { try CheckpointStore(directory: "/proc/self").prepare() }
        #expect(unwritable.code == .notWritable)
        #expect(unwritable.description.hasPrefix("checkpoint not-writable: /proc/self is not writable: "))

        // The loop checks before it connects: no broker is needed to find out.
        var configuration = PipelineConfiguration()
        try SyntheticStream.writeClasses(to: folder.file("classes"))
        configuration.classesDirectory = folder.file("classes")
        configuration.bootstrapServers = "127.0.0.1:1"
        configuration.checkpointDirectory = file
        let error = try #require(throws: CheckpointFileError.self) {
            try AdaptationLoop(configuration: configuration, logger: .init(label: "test"), health: HealthState())
        }
        #expect(error.code == .notADirectory)

        // A usable folder is created, and the probe file is gone.
        let fresh = folder.file("new/checkpoints")
        try CheckpointStore(directory: fresh).prepare()
        #expect(try FileManager.default.contentsOfDirectory(atPath: fresh).isEmpty)
    }

    @Test func checkpointsAreWrittenEveryEverySecondsOnTheLoopsClock() throws {
        let fixture = try LoopFixture()
        fixture.configuration.checkpointEverySeconds = 5
        try fixture.produceJSON(SyntheticStream.events(30))

        // A clock that stands still: only the final checkpoint.
        let frozen = try fixture.loop { $0.checkpointDirectory = fixture.folder.file("frozen") }
        frozen.clock = { 1_000 }
        try frozen.run(untilCaughtUp: true) { false }
        #expect(frozen.checkpointsWritten == 1)

        // Six seconds pass while the 10th event is handled: one checkpoint at the end of that poll
        // batch, then the final one.
        let loop = try fixture.loop()
        var now: UInt64 = 1_000
        loop.clock = { now }
        var predicted = 0
        loop.observer = { _ in
            predicted += 1
            if predicted == 10 { now += 6_000_000_000 }
        }
        var atCheckpoint: [(handled: Int, storedBefore: [UInt8]?)] = []
        loop.hooks.beforeCheckpoint = { [unowned loop] in atCheckpoint.append((loop.handled, fixture.storedCheckpointBytes())) }
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.checkpointsWritten == 2)
        #expect(atCheckpoint.count == 2)
        #expect(atCheckpoint[0].handled >= 10 && atCheckpoint[0].storedBefore == nil)
        // The timed checkpoint holds the offsets and model of the events handled by then.
        let timed = try storedOffsets(try #require(atCheckpoint[1].storedBefore), configuration: fixture.configuration)
        #expect(timed.events == atCheckpoint[0].handled)
        #expect(timed.offsets == [0: Int64(atCheckpoint[0].handled)])
    }

    @Test func aFailedDeliveryStopsTheLoopAndOffsetsStayBeforeIt() throws {
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(20)
        try fixture.produceJSON(Array(events.prefix(10)))
        try fixture.loop().run(untilCaughtUp: true) { false }
        let before = try #require(fixture.storedCheckpointBytes())
        #expect(try storedOffsets(before, configuration: fixture.configuration).offsets == [0: 10])

        try fixture.produceJSON(Array(events.suffix(10)))
        // Outputs not delivered within a second fail (the default waits 5 minutes).
        let loop = try fixture.loop { $0.kafkaProperties = ["message.timeout.ms": "1000"] }
        // The broker goes down while the first new event is in hand: its outputs cannot be delivered.
        loop.observer = { [broker = fixture.broker] _ in broker.setDown() }
        let error = try #require(throws: KafkaError.self) { try loop.run { false } }
        #expect(error.message.contains("could not be delivered"), "\(error)")
        #expect(loop.handled >= 1)
        // No checkpoint moved the offsets past the undelivered outputs, and none can now.
        #expect(fixture.storedCheckpointBytes() == before)
        let refused = try #require(throws: LoopFailure.self) { try loop.checkpoint() }
        #expect(refused.reason.contains("could not be delivered"))
        #expect(throws: LoopFailure.self) { try loop.run(untilCaughtUp: true) { false } }
        #expect(fixture.storedCheckpointBytes() == before)

        // Back up: a restart from the checkpoint publishes the 10 new events.
        fixture.broker.setUp()
        let restarted = try fixture.loop()
        try restarted.run(untilCaughtUp: true) { false }
        #expect(restarted.nextOffsets == [TopicPartition(topic: "in", partition: 0): 20])
        let ids = try fixture.read("predictions").map(\.keyString)
        #expect(ids.prefix(10).elementsEqual(events.prefix(10).map(\.id)))
        #expect(Set(ids) == Set(events.map(\.id)))
    }

    @Test func aStopWithOutputsInFlightWaitsAtMostTheStopTimeout() throws {
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(20)
        try fixture.produceJSON(Array(events.prefix(10)))
        try fixture.loop().run(untilCaughtUp: true) { false }
        let before = try #require(fixture.storedCheckpointBytes())
        try fixture.produceJSON(Array(events.suffix(10)))

        // The broker goes down with the first batch of new events in hand, and a stop is requested: the
        // final flush gives up after kafka.stopTimeoutSeconds (the outputs stay in flight: librdkafka
        // would retry them for message.timeout.ms, 5 minutes), and no checkpoint is written.
        let loop = try fixture.loop { $0.stopTimeoutSeconds = 1 }
        var stop = false
        loop.observer = { [broker = fixture.broker] _ in
            broker.setDown()
            stop = true
        }
        let error = try #require(throws: KafkaError.self) { try loop.run { stop } }
        #expect(error.code == .timedOut, "\(error)")
        #expect(error.message.contains("still undelivered") && error.message.contains("kafka.stopTimeoutSeconds"), "\(error)")
        #expect((1...10).contains(loop.handled))  // the poll batch taken when the stop came
        #expect(fixture.storedCheckpointBytes() == before)
        fixture.broker.setUp()
    }

    /// One partition: a restart from an earlier checkpoint (a crash after it) ends in the checkpoint
    /// an uninterrupted run writes, byte for byte, and every record published again (predictions and
    /// alerts, with their window and offsets) is byte-identical to the first time.
    @Test func onePartitionRestartIsByteIdenticalToAnUninterruptedRun() throws {
        let events = SyntheticStream.events(140, shiftAt: 70)
        let fixture = try LoopFixture()
        fixture.configuration.maximumBlock = 1  // byte-identical replays: the runs' poll batches differ
        try fixture.produceJSON(events)

        // Reference: one uninterrupted run, on its own output topics and folder.
        let referenceFolder = fixture.folder.file("reference")
        for topic in ["ref-predictions", "ref-alerts"] { try fixture.broker.createTopic(topic, partitions: 1) }
        let reference = try fixture.loop {
            $0.checkpointDirectory = referenceFolder
            $0.predictionsTopic = "ref-predictions"
            $0.alertsTopic = "ref-alerts"
        }
        try reference.run(untilCaughtUp: true) { false }
        let raised = try #require(reference.model.alerts.first { $0.kind == .inputDrift }).raisedAt
        #expect(raised > 70)
        #expect(reference.model.alerts.allSatisfy { $0.raisedAt >= raised })

        // Crashing run: a checkpoint a few events before the alert (inside its window), more events
        // handled and published, then the crash (the later checkpoint is lost).
        let cut = raised - 3
        let crashing = try fixture.loop()
        try crashing.run(maximumEvents: cut) { false }
        let lastCheckpoint = try #require(fixture.storedCheckpointBytes())
        try crashing.run(maximumEvents: 120) { false }
        try Data(lastCheckpoint).write(to: URL(fileURLWithPath: fixture.checkpointPath))
        let firstPredictions = try fixture.read("predictions")
        let firstAlerts = try fixture.read("alerts")
        #expect(firstPredictions.count == 120)
        #expect(!firstAlerts.isEmpty)

        let restarted = try fixture.loop()
        #expect(restarted.nextOffsets == [TopicPartition(topic: "in", partition: 0): Int64(cut)])
        try restarted.run(untilCaughtUp: true) { false }

        // State: byte-identical to the uninterrupted run's final checkpoint.
        let final = try #require(fixture.storedCheckpointBytes())
        let referenceBytes = try #require(FileManager.default.contents(atPath: referenceFolder + "/checkpoint.bin"))
        #expect(final == [UInt8](referenceBytes))

        // Outputs: every event at least once; events cut..<120 twice, with identical records.
        let predictions = try fixture.read("predictions")
        #expect(predictions.count == 140 + (120 - cut))
        let replayed = Array(predictions[120...])
        #expect(replayed.prefix(120 - cut).map(\.value) == firstPredictions[cut...].map(\.value))
        #expect(replayed.map(\.value) == (try fixture.read("ref-predictions"))[cut...].map(\.value))
        // Alerts: all raised after the cut, so all published again, byte for byte (window_events and
        // offsets included: the ring of recent offsets is in the checkpoint).
        let alerts = try fixture.read("alerts")
        let referenceAlerts = try fixture.read("ref-alerts")
        #expect(alerts.count == firstAlerts.count + referenceAlerts.count)
        #expect(alerts.prefix(firstAlerts.count).map(\.value) == referenceAlerts.prefix(firstAlerts.count).map(\.value))
        #expect(alerts.dropFirst(firstAlerts.count).map(\.value) == referenceAlerts.map(\.value))
        let first = try #require(referenceAlerts.first { $0.json["kind"] as? String == "input-drift" }?.json)
        #expect(first["raised_at_event"] as? Int == raised)
        #expect(first["window_events"] as? Int == 10)
        let offsets = try #require((first["offsets"] as? [[String: Any]])?.first)
        #expect(offsets["to"] as? Int == raised)
        #expect(offsets["from"] as? Int == raised - 9)
    }

    /// Four partitions. What exactly-once means there: the loop handles each partition in offset order,
    /// the partitions interleaved as librdkafka hands them over. After a crash and a restart from the last
    /// checkpoint, the model state is the state of one run over every event exactly once, in the
    /// interleaving made of the events before the checkpoint in the order the first run handled them,
    /// then the rest in the order the restarted run handled them: a valid interleaving (each partition
    /// in order), not necessarily the one an uninterrupted run would have taken. Outputs are
    /// at-least-once: every event has a prediction, and exactly the events handled after the last
    /// checkpoint and before the crash have two.
    @Test func fourPartitionsRestartEqualsTheStateOfAValidInterleaving() throws {
        let partitions: Int32 = 4
        let events = SyntheticStream.events(200)
        let fixture = try LoopFixture(partitions: partitions)
        fixture.configuration.maximumBlock = 1  // model bytes compared with an event-by-event replay of the history
        try fixture.produceJSON(events, partitions: partitions)
        // Event i went to partition i % 4 at offset i / 4.
        func event(_ p: TopicPartition, _ offset: Int64) -> SyntheticStream.Event { events[Int(offset) * Int(partitions) + Int(p.partition)] }

        var firstOrder: [(TopicPartition, Int64)] = []
        let crashing = try fixture.loop()
        crashing.hooks.handled = { firstOrder.append(($0, $1)) }
        try crashing.run(maximumEvents: 70) { false }
        let lastCheckpoint = try #require(fixture.storedCheckpointBytes())
        try crashing.run(maximumEvents: 130) { false }
        try Data(lastCheckpoint).write(to: URL(fileURLWithPath: fixture.checkpointPath))

        var secondOrder: [(TopicPartition, Int64)] = []
        let restarted = try fixture.loop()
        #expect(restarted.nextOffsets.values.reduce(0, +) == 70)
        restarted.hooks.handled = { secondOrder.append(($0, $1)) }
        try restarted.run(untilCaughtUp: true) { false }
        #expect(restarted.nextOffsets == Dictionary(uniqueKeysWithValues: (0..<partitions).map { (TopicPartition(topic: "in", partition: $0), 50) }))

        // The interleaving: every event exactly once, each partition in offset order.
        let history = Array(firstOrder.prefix(70)) + secondOrder
        #expect(history.count == 200)
        var next: [Int32: Int64] = [:]
        for (p, offset) in history {
            #expect(offset == next[p.partition, default: 0], "partition \(p.partition) out of order")
            next[p.partition] = offset + 1
        }
        #expect(next == [0: 50, 1: 50, 2: 50, 3: 50])
        // The restarted model is, bit for bit, a model that processed the events in that order.
        let model = try AdaptationLoop.makeModel(fixture.configuration, restarted.classes)
        for (p, offset) in history {
            let e = event(p, offset)
            _ = try e.embedding.withUnsafeBufferPointer { try model.process($0, label: e.label) }
        }
        #expect(stateBytes(restarted.model) == stateBytes(model))

        // Outputs at least once; duplicates exactly for what the first run handled after the checkpoint.
        var counts: [String: Int] = [:]
        for record in try fixture.read("predictions") { counts[record.keyString, default: 0] += 1 }
        #expect(counts.count == 200)
        let twice = Set(firstOrder[70..<130].map { event($0.0, $0.1).id })
        #expect(Set(counts.filter { $0.value == 2 }.keys) == twice)
        #expect(counts.values.allSatisfy { $0 == 1 || $0 == 2 })
    }
}
