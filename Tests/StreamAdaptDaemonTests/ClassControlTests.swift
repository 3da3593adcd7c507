import Foundation
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// Classes at run time through the embedded broker (`docs/classes.md`): a class added over the control
/// topic is predicted, survives restarts from the checkpoint, and bad control records and labels of
/// retired classes go to the dead-letter topic.
@Suite(.serialized) struct ClassControlTests {
    init() { BLAS.setThreads(1) }

    static let delta: [Float] = (0..<SyntheticStream.dimension).map { $0 == 6 ? 1 : 0 }

    /// Events of the new class: e_6 plus noise (axis 6 is used by no class of the class file).
    static func deltaEvents(_ count: Int, from first: Int) -> [SyntheticStream.Event] {
        var rng = SplitMix(seed: 7)
        return (0..<count).map { i in
            var e = (0..<SyntheticStream.dimension).map { _ in Float(rng.uniform() - 0.5) * 0.5 }
            e[6] += 1
            return SyntheticStream.Event(id: "d\(first + i)", label: 3, embedding: e, timestamp: 1_700_000_100_000 + Int64(i))
        }
    }

    static func json(_ e: SyntheticStream.Event, label: String?) -> [UInt8] {
        let values = e.embedding.map { "\($0)" }.joined(separator: ",")
        return Array("{\"id\":\"\(e.id)\",\"embedding\":[\(values)]\(label.map { ",\"label\":\"\($0)\"" } ?? "")}".utf8)
    }

    /// A fixture with the control topic `control`.
    func controlFixture() throws -> LoopFixture {
        let fixture = try LoopFixture()
        try fixture.broker.createTopic("control", partitions: 1)
        fixture.configuration.controlTopic = "control"
        return fixture
    }

    /// The control record that adds `delta`.
    static let addDelta = "{\"op\": \"add-class\", \"name\": \"delta\", \"embedding\": [\(delta.map { "\($0)" }.joined(separator: ","))]}"

    func control(_ fixture: LoopFixture, _ records: [String]) throws {
        try fixture.produce(topic: "control", records.map { (nil, Array($0.utf8), nil, []) })
    }

    func produce(_ fixture: LoopFixture, _ events: [SyntheticStream.Event], label: (SyntheticStream.Event) -> String?) throws {
        try fixture.produce(events.map { (Array($0.id.utf8), Self.json($0, label: label($0)), nil, []) })
    }

    @Test func aClassAddedOverTheControlTopicIsPredictedAndSurvivesRestarts() throws {
        let fixture = try controlFixture()
        fixture.configuration.maximumClassCount = 4
        let embedding = Self.delta.map { "\($0)" }.joined(separator: ",")
        let epsilon = (0..<SyntheticStream.dimension).map { $0 == 7 ? "1" : "0" }.joined(separator: ",")
        try control(fixture, [
            "{\"op\": \"add-class\", \"name\": \"delta\", \"embedding\": [\(embedding)]}",
            "{\"op\": \"add-class\", \"name\": \"epsilon\", \"embedding\": [\(epsilon)]}",  // past model.maxClasses 4
            "{\"op\": \"add-class\", \"name\": \"short\", \"embedding\": [1, 2, 3]}",
            "{\"op\": \"retire-class\", \"name\": \"omega\"}",
            "{\"op\": \"rename\", \"name\": \"alpha\"}",
            "not json",
            "{\"op\": \"add-class\", \"name\": \"delta\", \"embedding\": [\(embedding)]}",  // a replay: no-op
        ])
        try fixture.produceJSON(SyntheticStream.events(30))
        _ = TestMetrics.registry
        let added = "streamadapt_class_changes_total{op=\"add-class\"}"
        let retired = "streamadapt_class_changes_total{op=\"retire-class\"}"
        let (addedBefore, retiredBefore) = (TestMetrics.value(added), TestMetrics.value(retired))

        let first = try fixture.loop()
        try first.run(untilCaughtUp: true) { false }
        #expect(first.model.classes.names == SyntheticStream.names + ["delta"])
        #expect(first.nextOffsets[TopicPartition(topic: "control", partition: 0)] == 7)
        let dead = try fixture.read("dead")
        #expect(
            dead.map { $0.header("streamadapt-reason") }
                == ["too-many-classes", "wrong-dimension", "unknown-class", "invalid-control", "invalid-control"])
        #expect(TestMetrics.value(added) == addedBefore + 1)  // the replayed record is not counted
        #expect(TestMetrics.value(retired) == retiredBefore)

        // Restart from the checkpoint: the class is there, the control records are not re-read.
        let second = try fixture.loop()
        #expect(second.model.classes.names == SyntheticStream.names + ["delta"])
        #expect(second.model.checkpointPayload() == first.model.checkpointPayload())
        try produce(fixture, Self.deltaEvents(40, from: 0)) { $0.id == "d0" || Int($0.id.dropFirst())! % 2 == 0 ? "delta" : nil }
        try second.run(untilCaughtUp: true) { false }
        #expect(try fixture.read("dead").count == 5)
        let predictions = try fixture.read("predictions").map(Prediction.init)
        #expect(predictions.count == 70)
        let deltaPredictions = predictions.filter { $0.id.hasPrefix("d") }
        let predictedDelta = deltaPredictions.filter { $0.label == "delta" }
        #expect(predictedDelta.allSatisfy { $0.index == 3 })
        #expect(predictedDelta.count >= 30, "\(predictedDelta.count) of 40 events of the new class predicted as it")
        #expect(predictions.prefix(30).allSatisfy { $0.index < 3 })

        // Another restart, then retire a class: never predicted again, its labels are dead-lettered.
        let third = try fixture.loop()
        #expect(third.model.classes.names == SyntheticStream.names + ["delta"])
        #expect(third.model.eventCount == 70)
        try control(fixture, ["{\"op\": \"retire-class\", \"name\": \"beta\"}"])
        try third.run(untilCaughtUp: true) { false }
        #expect(third.model.retired == [false, true, false, false])
        #expect(TestMetrics.value(retired) == retiredBefore + 1)
        let later = SyntheticStream.events(30, seed: 9).map { e in
            var e = e
            e.id = "late-\(e.id)"
            return e
        }
        try produce(fixture, later) { $0.label == 1 ? "beta" : nil }
        try third.run(untilCaughtUp: true) { false }
        let retiredLabels = later.filter { $0.label == 1 }.count
        #expect(retiredLabels > 0)
        let deadNow = try fixture.read("dead")
        #expect(deadNow.filter { $0.header("streamadapt-reason") == "retired-class" }.count == retiredLabels)
        let laterPredictions = try fixture.read("predictions").map(Prediction.init).filter { $0.id.hasPrefix("late-") }
        #expect(laterPredictions.count == 30 - retiredLabels)
        #expect(laterPredictions.allSatisfy { $0.label != "beta" && !$0.top.contains { $0.label == "beta" } })

        let fourth = try fixture.loop()
        #expect(fourth.model.retired == [false, true, false, false])
    }

    /// `model.classWarmup` reaches the model; the labels an added class learned through the daemon count
    /// toward its warm-up and come back from the checkpoint (the prior itself: `ClassWarmupTests`).
    @Test func theWarmupCountsLabelsAcrossARestart() throws {
        let fixture = try controlFixture()
        fixture.configuration.classWarmup = 50
        try control(fixture, [Self.addDelta])
        try fixture.produceJSON(SyntheticStream.events(20))
        let first = try fixture.loop()
        try first.run(untilCaughtUp: true) { false }
        #expect(first.model.classWarmup == 50)
        #expect(first.model.addedClassLabels == [0])
        try produce(fixture, Self.deltaEvents(24, from: 0)) { Int($0.id.dropFirst())! % 3 == 0 ? nil : "delta" }
        try first.run(untilCaughtUp: true) { false }
        #expect(first.model.addedClassLabels == [16])

        let second = try fixture.loop()
        #expect(second.model.addedClassLabels == [16])
        #expect(second.model.classWarmup == 50)
        #expect(second.model.checkpointPayload() == first.model.checkpointPayload())
    }

    /// The warm-up acts on what the daemon publishes: the same stream (a class added, then unlabelled
    /// events nearer to it than to alpha) through a daemon without a warm-up predicts the new class,
    /// through one whose warm-up weights it by 1e-12 never does.
    @Test func theWarmupHoldsTheNewClassBackInThePublishedPredictions() throws {
        var predictedDelta: [Int] = []
        for warmup in [0, 999_999] {
            let fixture = try LoopFixture()
            fixture.configuration.controlTopic = "in"
            fixture.configuration.classWarmup = warmup
            let header = [(PipelineConfiguration.controlHeader, [UInt8]())]
            var records: [(key: [UInt8]?, value: [UInt8], partition: Int32?, headers: [(String, [UInt8])])] = []
            records.append((nil, Array(Self.addDelta.utf8), nil, header))
            // Between delta (e_6) and alpha (e_0), nearer delta: the head prefers delta by about 14 logits
            // (a probability ratio of about 1e6), which a prior of 1e-12 overturns.
            var rng = SplitMix(seed: 5)
            let between = (0..<20).map { i in
                var e = (0..<SyntheticStream.dimension).map { _ in Float(rng.uniform() - 0.5) * 0.04 }
                e[6] += 0.55
                e[0] += 0.45
                return SyntheticStream.Event(id: "b\(i)", label: 0, embedding: e, timestamp: 1_700_000_200_000 + Int64(i))
            }
            records += between.map { (Array($0.id.utf8), Self.json($0, label: nil), nil, []) }
            try fixture.produce(records)
            let loop = try fixture.loop()
            try loop.run(untilCaughtUp: true) { false }
            let predictions = try fixture.read("predictions").map(Prediction.init)
            #expect(predictions.count == 20)
            predictedDelta.append(predictions.filter { $0.label == "delta" }.count)
            if warmup > 0 {
                #expect(predictions.allSatisfy { p in p.top.allSatisfy { $0.label != "delta" || $0.p < 0.01 } })
            }
        }
        #expect(predictedDelta[0] >= 15, "without a warm-up \(predictedDelta[0]) of 20 events of the new class predicted as it")
        #expect(predictedDelta[1] == 0, "with the warm-up \(predictedDelta[1]) of 20")
    }

    /// topics.control equal to topics.input: a record of the input topic marked with the header
    /// `streamadapt-control` is a control record, applied exactly between the events before it and
    /// after it in its partition (whatever the poll batches and blocks); unmarked records stay events.
    @Test func controlRecordsOnTheInputTopicApplyInOrderWithTheEvents() throws {
        let fixture = try LoopFixture()
        fixture.configuration.controlTopic = "in"
        let embedding = Self.delta.map { "\($0)" }.joined(separator: ",")
        let before = Self.deltaEvents(15, from: 0)
        let after = Self.deltaEvents(15, from: 15)
        let header = [(PipelineConfiguration.controlHeader, [UInt8]())]
        var records: [(key: [UInt8]?, value: [UInt8], partition: Int32?, headers: [(String, [UInt8])])] =
            before.map { (Array($0.id.utf8), Self.json($0, label: nil), nil, []) }
        records.append((nil, Array("{\"op\": \"add-class\", \"name\": \"delta\", \"embedding\": [\(embedding)]}".utf8), nil, header))
        records += after.map { (Array($0.id.utf8), Self.json($0, label: nil), nil, []) }
        records.append((nil, Array("{\"op\": \"rename\"}".utf8), nil, header))  // marked, invalid: a dead letter
        try fixture.produce(records)

        let loop = try fixture.loop()
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.model.classes.names == SyntheticStream.names + ["delta"])
        #expect(loop.model.eventCount == 30)
        #expect(loop.nextOffsets[TopicPartition(topic: "in", partition: 0)] == 32)
        let predictions = try fixture.read("predictions").map(Prediction.init)
        #expect(predictions.map(\.id) == (before + after).map(\.id))
        // Before the record the class does not exist; from the event after it on it is predicted.
        #expect(predictions.prefix(15).allSatisfy { p in p.index < 3 && !p.top.contains { $0.label == "delta" } })
        #expect(predictions.suffix(15).allSatisfy { $0.label == "delta" && $0.index == 3 })
        #expect(try fixture.read("dead").map { $0.header("streamadapt-reason") } == ["invalid-control"])
    }
}
