import Foundation
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// The bundled sample (samples/fmnist-drift: 1200 events, a covariate shift at event 600) through the
/// loop in process: accuracy before and after the shift, and the drift alert after it, none before.
@Suite struct SampleStreamTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples/fmnist-drift").path

    @Test func theSampleStreamIsPredictedAndItsShiftRaisesAnAlert() throws {
        BLAS.setThreads(1)
        let embeddings = ClassFile.readFloats(try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/images.f32")))
        let labels = try String(contentsOfFile: Self.directory + "/labels.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        let names = try String(contentsOfFile: Self.directory + "/classes.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        let d = embeddings.count / labels.count
        #expect(labels.count == 1200 && d == 1024)

        let fixture = try LoopFixture(classes: Self.directory)
        fixture.configuration.drift = DriftSettings()
        fixture.configuration.drift.mahalanobis.warmupEvents = 150
        fixture.configuration.drift.mahalanobis.referenceEvents = 300
        fixture.configuration.checkpointDirectory = nil  // the D x D state is large; nothing to restore here
        let loop = try fixture.loop()
        // Binary events in chunks, each read to its end before the next is sent: the embedded broker
        // keeps only about 5 MB per partition (the stream is 4.9 MB of values).
        let type = Array(EventDecoder.binaryContentType.utf8)
        for start in stride(from: 0, to: 1200, by: 200) {
            try fixture.produce((start..<(start + 200)).map { row in
                (Array("e\(row)".utf8), [UInt8](SyntheticStream.littleEndianBytes(Array(embeddings[(row * d)..<((row + 1) * d)]))), 0,
                 [("content-type", type), ("id", Array("e\(row)".utf8)), ("label", Array(names[labels[row]].utf8))])
            })
            try loop.run(untilCaughtUp: true) { false }
        }
        #expect(loop.handled == 1200 && loop.model.eventCount == 1200)

        let predictions = try fixture.read("predictions").map { try Prediction($0) }
        #expect(predictions.map(\.id) == (0..<1200).map { "e\($0)" })
        #expect(predictions.allSatisfy { $0.updated && $0.head == "kalman" && $0.top.count == 3 })
        var correct = [0, 0]
        for (row, p) in predictions.enumerated() where p.label == names[labels[row]] { correct[row < 600 ? 0 : 1] += 1 }
        #expect(Double(correct[0]) / 600 > 0.75, "clean accuracy \(correct[0])/600")
        #expect(Double(correct[1]) / 600 > 0.5, "shifted accuracy \(correct[1])/600")

        let alerts = try fixture.read("alerts").map(\.json)
        let raised = alerts.filter { $0["kind"] as? String == "input-drift" && $0["state"] as? String == "raised" }
        let raisedAt = raised.compactMap { $0["raised_at_event"] as? Int }
        #expect(!raisedAt.isEmpty)
        #expect(raisedAt.allSatisfy { $0 >= 600 }, "raised at \(raisedAt)")
        #expect(raisedAt.contains { $0 < 700 }, "raised at \(raisedAt)")
        let first = try #require(raised.first)
        #expect(first["window_events"] as? Int == 50)
        let offsets = try #require((first["offsets"] as? [[String: Any]])?.first)
        #expect(offsets["to"] as? Int == raisedAt[0])
        #expect(offsets["from"] as? Int == raisedAt[0] - 49)
        #expect(try fixture.read("dead").isEmpty)
    }

    /// The sample through the loop with the default `model.maxBlock` (blocks of whole poll batches) and
    /// with 1 (event by event), reading the same input: the same classes in the same order, the
    /// probabilities equal to rounding, the alerts at the same events, and the blocked run's checkpoint
    /// restores.
    @Test func blocksOfAPollBatchGiveTheEventByEventOutputs() throws {
        let embeddings = ClassFile.readFloats(try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/images.f32")))
        let labels = try String(contentsOfFile: Self.directory + "/labels.txt", encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
        let names = try String(contentsOfFile: Self.directory + "/classes.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        let d = embeddings.count / labels.count

        let fixture = try LoopFixture(classes: Self.directory)
        fixture.configuration.drift = DriftSettings()
        fixture.configuration.drift.mahalanobis.warmupEvents = 150
        fixture.configuration.drift.mahalanobis.referenceEvents = 300
        #expect(fixture.configuration.maximumBlock == StreamModel.defaultMaximumBlock)
        let blocked = try fixture.loop()
        for topic in ["single-predictions", "single-alerts"] { try fixture.broker.createTopic(topic, partitions: 1) }
        let single = try fixture.loop {
            $0.maximumBlock = 1
            $0.checkpointDirectory = nil
            $0.predictionsTopic = "single-predictions"
            $0.alertsTopic = "single-alerts"
        }
        let type = Array(EventDecoder.binaryContentType.utf8)
        for start in stride(from: 0, to: 1200, by: 200) {  // in chunks: the embedded broker keeps about 5 MB
            try fixture.produce((start..<(start + 200)).map { row in
                (Array("e\(row)".utf8), [UInt8](SyntheticStream.littleEndianBytes(Array(embeddings[(row * d)..<((row + 1) * d)]))), 0,
                 [("content-type", type), ("id", Array("e\(row)".utf8)), ("label", Array(names[labels[row]].utf8))])
            })
            try blocked.run(untilCaughtUp: true) { false }
            try single.run(untilCaughtUp: true) { false }
        }
        #expect(blocked.handled == 1200 && single.handled == 1200)

        let a = try fixture.read("predictions").map { try Prediction($0) }
        let b = try fixture.read("single-predictions").map { try Prediction($0) }
        #expect(a.map(\.id) == (0..<1200).map { "e\($0)" })
        #expect(a.map(\.id) == b.map(\.id))
        #expect(a.map(\.index) == b.map(\.index))
        #expect(a.map(\.model_version) == b.map(\.model_version))
        var largest = 0.0
        for (p, q) in zip(a, b) {
            largest = max(largest, abs(p.probability - q.probability))
            #expect(p.top.map(\.label) == q.top.map(\.label), "\(p.id)")
            for (x, y) in zip(p.top, q.top) { largest = max(largest, abs(x.p - y.p)) }
        }
        // Measured 1.7e-8, as the core gives with the same blocks and no Kafka: the blocked drift scorer
        // solves in Float32 in another order (scores agree to ~1e-8 relative here), and a score enters
        // the Kalman update through R_eff. 1e-9 is out of reach; 1e-7 leaves room for other batchings.
        #expect(largest <= 1e-7, "largest probability difference \(largest)")

        // Alerts: the same records at the same events (window and offsets included), values to rounding.
        let alerts = try fixture.read("alerts").map(\.json)
        let singleAlerts = try fixture.read("single-alerts").map(\.json)
        #expect(!alerts.isEmpty)
        #expect(alerts.count == singleAlerts.count)
        let exact = ["kind", "state", "raised_at_event", "cleared_at_event", "window_events", "model_version", "topic", "offsets"]
        func exactPart(_ record: [String: Any]) throws -> String {
            let part = record.filter { exact.contains($0.key) }
            return String(decoding: try JSONSerialization.data(withJSONObject: part, options: .sortedKeys), as: UTF8.self)
        }
        for (x, y) in zip(alerts, singleAlerts) {
            #expect(try exactPart(x) == exactPart(y) && exactPart(x).contains("\"offsets\":[{"))
            let (v, w) = (x["value"] as? Double ?? .nan, y["value"] as? Double ?? .nan)
            #expect(abs(v - w) <= 1e-6 * max(1, abs(w)), "value \(v) against \(w)")
        }

        // The blocked run's checkpoint restores: a new loop holds its model, bit for bit.
        let restored = try fixture.loop()
        #expect(restored.model.eventCount == 1200)
        #expect(stateBytes(restored.model) == stateBytes(blocked.model))
        #expect(restored.nextOffsets == [TopicPartition(topic: "in", partition: 0): 1200])
    }
}
