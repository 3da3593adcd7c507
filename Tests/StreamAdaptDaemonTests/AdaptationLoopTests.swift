import Foundation
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// The adaptation loop in process against the embedded broker: input produced and outputs read back
/// with the Kafka clients, asserted field by field against the model run directly (no Kafka).
@Suite(.serialized) struct AdaptationLoopTests {
    init() { BLAS.setThreads(1) }

    /// The reference: the same events through a StreamModel built like the loop's, without Kafka.
    struct Reference {
        let model: StreamModel
        var results: [EventResult] = []
        var probabilities: [[Double]] = []
        var versions: [Int] = []

        init(_ configuration: PipelineConfiguration) throws {
            model = try AdaptationLoop.makeModel(configuration, try ClassFile.load(directory: configuration.classesDirectory))
        }

        mutating func process(_ e: SyntheticStream.Event, labelled: Bool = true) throws {
            let result = try e.embedding.withUnsafeBufferPointer { try model.process($0, label: labelled ? e.label : nil) }
            results.append(result)
            probabilities.append((0..<model.classCount).map { model.probabilities[$0] })
            versions.append(model.head.updateCount)
        }
    }

    @Test func predictionsCarryExactlyTheModelsOutput() throws {
        let fixture = try LoopFixture()
        fixture.configuration.maximumBlock = 1  // compared bit for bit with the reference, event by event
        let events = SyntheticStream.events(30)
        try fixture.produceJSON(events)
        let loop = try fixture.loop()
        try loop.run(untilCaughtUp: true) { false }

        var reference = try Reference(fixture.configuration)
        for e in events { try reference.process(e) }
        let predictions = try fixture.read("predictions")
        #expect(predictions.count == 30)
        let keys: Set<String> = [
            "id", "ts", "label", "index", "probability", "top", "uncertainty", "mahalanobis", "drifting", "updated",
            "model_version", "head", "offset", "partition",
        ]
        for (i, record) in predictions.enumerated() {
            let r = reference.results[i]
            #expect(Set(record.json.keys) == keys)
            let p = try Prediction(record)
            #expect(record.keyString == "e\(i)")
            #expect(p.id == "e\(i)")
            #expect(p.ts == 1_700_000_000_000 + Int64(i))
            #expect(p.label == SyntheticStream.names[r.index])
            #expect(p.index == r.index)
            #expect(p.probability == r.probability)
            let probabilities = reference.probabilities[i]
            let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
            #expect(p.top == order.prefix(3).map { Prediction.Top(label: SyntheticStream.names[$0], p: probabilities[$0]) })
            #expect(p.uncertainty == .init(entropy: r.entropy, variance: r.variance))
            #expect(p.mahalanobis == r.mahalanobis2)
            #expect(p.drifting == r.drifting)
            #expect(p.updated)
            #expect(p.model_version == reference.versions[i])
            #expect(p.model_version == i + 1)
            #expect(p.head == "kalman")
            #expect(p.offset == Int64(i))
            #expect(p.partition == 0)
        }
        #expect(loop.handled == 30)
        #expect(loop.nextOffsets == [TopicPartition(topic: "in", partition: 0): 30])
        #expect(try fixture.read("dead").isEmpty)
        // The loop's model is the reference model, bit for bit, and so is the checkpoint's.
        #expect(stateBytes(loop.model) == stateBytes(reference.model))
        let stored = try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration)
        #expect(stored.events == 30)
        #expect(stored.offsets == [0: 30])
        #expect(loop.checkpointsWritten == 1)
    }

    @Test func binaryInputGivesTheJSONPredictions() throws {
        let events = SyntheticStream.events(12)
        let json = try LoopFixture()
        try json.produceJSON(events)
        try json.loop().run(untilCaughtUp: true) { false }

        let binary = try LoopFixture()
        let type = Array(EventDecoder.binaryContentType.utf8)
        try binary.produce(events.map { e in
            (Array(e.id.utf8), [UInt8](SyntheticStream.littleEndianBytes(e.embedding)), 0,
             [("content-type", type), ("id", Array(e.id.utf8)), ("label", Array(SyntheticStream.names[e.label].utf8))])
        })
        // Without an id header the key is the id; without either, "partition-offset". Labels by index.
        let extra = SyntheticStream.events(2, seed: 7)
        try binary.produce([
            (Array("keyed".utf8), [UInt8](SyntheticStream.littleEndianBytes(extra[0].embedding)), 0,
             [("content-type", type), ("label", Array("\(extra[0].label)".utf8))]),
            (nil, [UInt8](SyntheticStream.littleEndianBytes(extra[1].embedding)), 0, [("content-type", type)]),
            // A binary value of the wrong length is a dead letter.
            (Array("short".utf8), [1, 2, 3, 4], 0, [("content-type", type)]),
        ])
        let loop = try binary.loop()
        try loop.run(untilCaughtUp: true) { false }

        let fromJSON = try json.read("predictions")
        let fromBinary = try binary.read("predictions")
        let inputs = try binary.read("in")
        #expect(fromJSON.count == 12)
        #expect(fromBinary.count == 14)
        // Identical records except `ts`: a binary event's time is its Kafka timestamp.
        func withoutTimestamp(_ text: String) -> String {
            text.replacingOccurrences(of: #""ts":[0-9]+,"#, with: "", options: .regularExpression)
        }
        for i in 0..<12 {
            #expect(try Prediction(fromBinary[i]).ts == inputs[i].timestamp)
            #expect(withoutTimestamp(fromBinary[i].text) == withoutTimestamp(fromJSON[i].text), "record \(i)")
            #expect(withoutTimestamp(fromBinary[i].text).count < fromBinary[i].text.count)
            #expect(fromBinary[i].key == fromJSON[i].key)
        }
        #expect(fromBinary[12].json["id"] as? String == "keyed")
        #expect(fromBinary[12].json["updated"] as? Bool == true)
        #expect(fromBinary[13].json["id"] as? String == "0-13")
        #expect(fromBinary[13].json["updated"] as? Bool == false)
        let dead = try binary.read("dead")
        #expect(dead.map { $0.header("streamadapt-reason") } == ["wrong-dimension"])
        #expect(dead.first?.header("streamadapt-source-offset") == "14")
        #expect(loop.nextOffsets == [TopicPartition(topic: "in", partition: 0): 15])
    }

    @Test func idsWithQuotesBackslashesControlsAndNonASCIIRoundTrip() throws {
        let ids = [
            "q\"uote", "back\\slash", "ctl\u{01}\u{08}\u{0C}\u{1F}\u{7F}\n\t\r", "é中😀", "\u{2028}\u{2029}", "a/b",
            "\"\\\"\\\\",
        ]
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(ids.count)
        // JSON input written by JSONSerialization (it escapes /, quotes, backslashes and controls).
        try fixture.produce(zip(ids, events).map { id, e in
            let object: [String: Any] = ["id": id, "embedding": e.embedding.map(Double.init), "label": e.label]
            return (Array(id.utf8), [UInt8](try! JSONSerialization.data(withJSONObject: object)), 0, [])
        })
        // The same ids as raw header bytes of binary events.
        try fixture.produce(zip(ids, events).map { id, e in
            (nil, [UInt8](SyntheticStream.littleEndianBytes(e.embedding)), 0,
             [("content-type", Array(EventDecoder.binaryContentType.utf8)), ("id", Array(id.utf8))])
        })
        try fixture.loop().run(untilCaughtUp: true) { false }
        let predictions = try fixture.read("predictions")
        #expect(predictions.count == 2 * ids.count)
        for (n, record) in predictions.enumerated() {
            let id = ids[n % ids.count]
            #expect(record.json["id"] as? String == id, "record \(n): \(record.text)")
            #expect(record.key == Array(id.utf8))
            // Every control character is escaped: none is left raw in the record.
            #expect(!record.value.contains { $0 < 0x20 }, "record \(n)")
        }
        #expect(try fixture.read("dead").isEmpty)
    }

    @Test func delayedLabelsAreLearnedFromTheCacheAcrossARestart() throws {
        let fixture = try LoopFixture(labels: true, labelCacheSize: 5)
        fixture.configuration.maximumBlock = 1  // model bytes compared with the reference, event by event
        let events = SyntheticStream.events(8)
        try fixture.produceJSON(events, labelled: false)
        let first = try fixture.loop()
        try first.run(untilCaughtUp: true) { false }
        // The cache keeps the last 5 unlabelled events.
        #expect(first.labelCache.count == 5)
        #expect(events.prefix(3).allSatisfy { first.labelCache.entry(id: $0.id) == nil })
        #expect(first.lateLabelsApplied == 0 && first.lateLabelsUnmatched == 0)

        // The cache is in the checkpoint: a restarted loop holds the same embeddings and predictions.
        let second = try fixture.loop()
        var reference = try Reference(fixture.configuration)
        for e in events { try reference.process(e, labelled: false) }
        for (i, e) in events.enumerated().dropFirst(3) {
            let entry = try #require(second.labelCache.entry(id: e.id))
            #expect(entry.embedding == e.embedding)
            #expect(entry.predicted == reference.results[i].index)
        }
        #expect(second.labelCache.count == 5)

        var labels = events.enumerated().map { i, e in
            (key: Optional(Array("l\(i)".utf8)), value: Array("{\"id\":\"\(e.id)\",\"label\":\"\(SyntheticStream.names[e.label])\"}".utf8),
             partition: Optional(Int32(0)), headers: [(String, [UInt8])]())
        }
        labels.append((Array("l-unknown".utf8), Array("{\"id\":\"never-seen\",\"label\":1}".utf8), 0, []))
        labels.append((Array("l-bad".utf8), Array("{\"id\":\"e5\",\"label\":\"parrot\"}".utf8), 0, []))
        try fixture.produce(topic: "labels", labels)
        try second.run(untilCaughtUp: true) { false }
        #expect(second.lateLabelsApplied == 5)
        #expect(second.lateLabelsUnmatched == 4)  // e0, e1, e2 (evicted) and never-seen
        #expect(second.labelCache.count == 0)
        #expect(second.nextOffsets == [TopicPartition(topic: "in", partition: 0): 8, TopicPartition(topic: "labels", partition: 0): 10])
        // The model learned exactly the 5 cached events' labels, against the original predictions.
        for (i, e) in events.enumerated().dropFirst(3) {
            try e.embedding.withUnsafeBufferPointer {
                _ = try reference.model.learnLate($0, label: e.label, predicted: reference.results[i].index)
            }
        }
        #expect(second.model.head.updateCount == 5)
        #expect(stateBytes(second.model) == stateBytes(reference.model))
        let dead = try fixture.read("dead")
        #expect(dead.count == 1)
        #expect(dead.first?.header("streamadapt-reason") == "unknown-class")
        #expect(dead.first?.header("streamadapt-source-topic") == "labels")
        #expect(dead.first?.header("streamadapt-source-offset") == "9")
        #expect(dead.first?.keyString == "l-bad")
        // Labels publish no prediction.
        #expect(try fixture.read("predictions").count == 8)
    }

    @Test func aStopIsCheckedBeforeEveryMessage() throws {
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(40)
        try fixture.produceJSON(events)
        let loop = try fixture.loop()
        // Requested once 10 messages are taken (the 10th is in the batch, not yet processed): the 10
        // are processed and published, no further one is taken.
        try loop.run { loop.taken >= 10 }
        #expect(loop.handled == 10)
        #expect(loop.nextOffsets == [TopicPartition(topic: "in", partition: 0): 10])
        #expect(try fixture.read("predictions").map(\.keyString) == events.prefix(10).map(\.id))
        let stored = try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration)
        #expect(stored.offsets == [0: 10] && stored.events == 10)

        // The rest of the batch was not consumed: a restart reads it, and nothing twice.
        let restarted = try fixture.loop()
        try restarted.run(untilCaughtUp: true) { false }
        #expect(restarted.handled == 30)
        #expect(try fixture.read("predictions").map(\.keyString) == events.map(\.id))
    }

    @Test func maximumEventsStopsExactlyAndTheNextRunContinues() throws {
        let fixture = try LoopFixture()
        let events = SyntheticStream.events(40)
        try fixture.produceJSON(events)
        let loop = try fixture.loop()
        try loop.run(maximumEvents: 7) { false }
        #expect(loop.handled == 7)
        #expect(loop.nextOffsets == [TopicPartition(topic: "in", partition: 0): 7])
        #expect(try fixture.read("predictions").count == 7)
        // The same loop again: it starts at offset 7 (the messages fetched but left are read again).
        try loop.run(maximumEvents: 20) { false }
        #expect(loop.handled == 20)
        try loop.run(untilCaughtUp: true) { false }
        #expect(loop.handled == 40)
        #expect(try fixture.read("predictions").map(\.keyString) == events.map(\.id))
        #expect(loop.model.eventCount == 40)
    }

    @Test func badInputIsDeadLetteredWithItsReasonAndPosition() throws {
        let fixture = try LoopFixture()
        fixture.configuration.maximumMessageBytes = 4000
        let events = SyntheticStream.events(10)
        let d = SyntheticStream.dimension
        func vector(_ v: String) -> String { Array(repeating: v, count: d).joined(separator: ",") }
        let malformed: [(String, String)] = [
            ("bad1", "this is not json"),
            ("bad2", "{\"id\":\"bad2\",\"embedding\":[1,2,3],\"label\":1}"),
            ("bad3", "{\"id\":\"bad3\",\"embedding\":[\(vector("1e999"))]}"),
            ("bad4", "{\"id\":\"bad4\",\"embedding\":[\(vector("0.5"))],\"label\":\"parrot\"}"),
            ("bad5", "{\"id\":\"bad5\",\"embedding\":[\(vector("0.5"))],\"label\":42}"),
            ("bad6", "{\"id\":\"bad6\",\"embedding\":[\(vector("0"))]}"),
            ("bad7", "{\"id\":\"bad7\",\"pad\":\"" + String(repeating: "x", count: 5000) + "\"}"),
        ]
        var records = events.prefix(5).map { e in (key: Optional(Array(e.id.utf8)), value: SyntheticStream.json(e), partition: Optional(Int32(0)), headers: [(String, [UInt8])]()) }
        records += malformed.map { (Array($0.0.utf8), Array($0.1.utf8), 0, [("trace", Array("t-\($0.0)".utf8))]) }
        records += events.suffix(5).map { e in (Array(e.id.utf8), SyntheticStream.json(e), 0, []) }
        // Larger than the daemon's producer may send (message.max.bytes, 1 MB by default).
        records.append((Array("huge".utf8), Array("{\"id\":\"huge\",\"pad\":\"\(String(repeating: "x", count: 1_200_000))\"}".utf8), 0, []))
        try fixture.produce(records, properties: ["message.max.bytes": "5000000"])
        let loop = try fixture.loop()
        try loop.run(untilCaughtUp: true) { false }

        #expect(try fixture.read("predictions").map(\.keyString) == events.map(\.id))
        let all = try fixture.read("dead")
        #expect(all.count == malformed.count + 1)
        // Forwarded with its key and headers, without its value, saying why.
        let huge = try #require(all.last)
        #expect(huge.keyString == "huge" && huge.value.isEmpty)
        #expect(huge.header("streamadapt-reason") == "oversized")
        #expect(huge.header("streamadapt-source-offset") == "17")
        #expect(huge.header("streamadapt-value-dropped")?.isEmpty == false)
        let dead = Array(all.prefix(malformed.count))
        #expect(dead.map { $0.header("streamadapt-reason") } == [
            "unparseable", "wrong-dimension", "non-finite", "unknown-class", "label-out-of-range", "zero-vector", "oversized",
        ])
        #expect(dead.map(\.keyString) == malformed.map(\.0))
        #expect(dead.map(\.text) == malformed.map(\.1))
        #expect(dead.map { $0.header("trace") } == malformed.map { "t-\($0.0)" })
        #expect(dead.allSatisfy { $0.header("streamadapt-source-topic") == "in" && $0.header("streamadapt-source-partition") == "0" })
        #expect(dead.map { $0.header("streamadapt-source-offset") } == (5..<12).map { "\($0)" })
        #expect(dead.allSatisfy { !($0.header("streamadapt-error") ?? "").isEmpty })
        // Dead letters never touch the model.
        #expect(loop.model.eventCount == 10)
        #expect(loop.handled == 18)
        #expect(loop.nextOffsets == [TopicPartition(topic: "in", partition: 0): 18])
    }

    @Test func withoutInputScoringPredictionsCarryNoDistance() throws {
        let fixture = try LoopFixture()
        fixture.configuration.drift.inputScoring = false
        try fixture.produceJSON(SyntheticStream.events(60, shiftAt: 30))
        try fixture.loop().run(untilCaughtUp: true) { false }
        let predictions = try fixture.read("predictions").map(\.json)
        #expect(predictions.count == 60)
        #expect(predictions.allSatisfy { $0["mahalanobis"] is NSNull && $0["drifting"] as? Bool == false })
        #expect(try fixture.read("alerts").filter { $0.json["kind"] as? String == "input-drift" }.isEmpty)
    }
}
