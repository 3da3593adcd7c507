import Foundation
import StreamAdaptCore
import StreamAdaptDaemon
import Testing

/// The shared model mode (`model.mode: shared`) across processes: two `streamadapt run --group` daemons
/// over the 4 partitions of the embedded broker, the exact configuration (Gaussian head, one-hot target,
/// fixed noise, no Mahalanobis regulation; no forgetting, or forgetting per second of event time without
/// a trace bound). After the run the fold of every partition's newest evidence (`streamadapt state
/// --fold`) must equal one model that learned every event in time order.
@Suite(.enabled(if: Kcat.isAvailable, "needs kcat"), .serialized)
struct SharedModelProcessTests {
    /// The `model` lines of the exact shared configuration with forgetting `lambda` per second.
    static func sharedModel(forgetting lambda: Double) -> String {
        """
          mode: shared
          kalman:
            target: onehot
            noiseMemory: 1
            mahalanobisScaling: 0
            forgetting: \(lambda)
            forgettingUnit: second
            traceBound: .inf
        """
    }

    /// One model over rows `rows` of the projected sample in order, each at its `ts` (as the daemon reads it).
    static func sequential(pipeline: String, rows: Range<Int>) throws -> (head: KalmanHead, inputs: [[Float]]) {
        let configuration = try PipelineConfiguration.load(path: pipeline)
        let classes = try ClassFile.load(directory: configuration.classesDirectory)
        let head = KalmanHead(classes: classes, configuration: configuration.heads.kalman)
        let model = StreamModel(classes: classes, head: head, drift: configuration.drift, maximumBlock: 1)
        let (embeddings, labels, _, d) = try SampleEvents.load()
        let projected = ProjectedSample.project(Array(embeddings[(rows.lowerBound * d)..<(rows.upperBound * d)]), d: d)
        let k = ProjectedSample.dimension
        var inputs: [[Float]] = []
        for (i, row) in rows.enumerated() {
            let x = Array(projected[(i * k)..<((i + 1) * k)])
            inputs.append(x)
            _ = try model.process(x, label: labels[row], time: Double(Int64(1_700_000_000_000 + row)) / 1000)
        }
        return (head, inputs)
    }

    /// `streamadapt state --fold` of `state`, read back into a head of the pipeline's configuration.
    static func folded(_ broker: BrokerProcess, state: String, pipeline: String, folder: URL) throws -> (head: KalmanHead, events: Int) {
        let file = folder.appendingPathComponent("shared-model.bin")
        let output = try CommandRunner.run(
            ["state", "--bootstrap", broker.bootstrap, "--topic", state, "--pipeline", pipeline, "--fold", file.path])
        #expect(output.status == 0, "stderr: \(output.stderr.suffix(2000))")
        let line = try #require(output.stdout.split(separator: "\n").last { $0.contains("\"fold\"") })
        let fold = try #require(((try JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["fold"] as? [String: Any])
        let configuration = try PipelineConfiguration.load(path: pipeline)
        let head = KalmanHead(classes: try ClassFile.load(directory: configuration.classesDirectory), configuration: configuration.heads.kalman)
        var reader = try CheckpointReader(sealed: [UInt8](try Data(contentsOf: file)))
        try head.prepareRestore(from: &reader).apply()
        return (head, try #require(fold["events"] as? Int))
    }

    /// W and P of the fold against the sequential model (relative to the largest entry of each), and the
    /// argmax of every input under both.
    static func expectEqual(_ folded: KalmanHead, _ reference: KalmanHead, inputs: [[Float]]) {
        let c = reference.classCount
        let (worstW, worstP) = folded.largestDifferences(from: reference)
        print("measured: shared fold against the sequential model: W \(worstW), P \(worstP) (relative to the largest entry)")
        #expect(worstW < 1e-8, "W differs by \(worstW) of its largest entry")
        #expect(worstP < 1e-8, "P differs by \(worstP) of its largest entry")
        var agree = 0
        var a = [Double](repeating: 0, count: c)
        var b = [Double](repeating: 0, count: c)
        for input in inputs {
            let norm = input.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            let x = input.map { Double($0) / norm }
            _ = folded.predict(x, logits: &a)
            _ = reference.predict(x, logits: &b)
            if a.indices.max(by: { a[$0] < a[$1] }) == b.indices.max(by: { b[$0] < b[$1] }) { agree += 1 }
        }
        #expect(agree == inputs.count, "argmax agrees on \(agree) of \(inputs.count)")
    }

    /// A alone, B joins; 600 events over the 4 partitions, folds at every snapshot round on the way; both
    /// stop; the fold of the state topic equals the sequential model (no forgetting, and forgetting per
    /// second of event time).
    @Test(arguments: [1.0, 0.3])
    func twoDaemonsLearnOneModelEqualToTheSequentialOne(forgetting: Double) throws {
        let suffix = forgetting == 1 ? "s1" : "s3"
        let broker = try BrokerProcess(topics: ["embeddings", "\(suffix)-state"], partitions: 4)
        let (pipeline, folder) = try GroupProcessTests.pipeline(
            suffix: suffix, group: suffix, state: "\(suffix)-state", model: Self.sharedModel(forgetting: forgetting))
        defer { try? FileManager.default.removeItem(at: folder) }
        let (a, b) = try GroupProcessTests.aloneThenJoined(broker, pipeline: pipeline, predictions: "predictions-\(suffix)")
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(300..<600))
        #expect(GroupProcessTests.waitForPredictions(broker, "predictions-\(suffix)", distinct: 600, seconds: 60) == 600)
        GroupProcessTests.stop(b, a)

        let (head, events) = try Self.folded(broker, state: "\(suffix)-state", pipeline: pipeline, folder: folder)
        #expect(events == 600)
        let (reference, inputs) = try Self.sequential(pipeline: pipeline, rows: 0..<600)
        Self.expectEqual(head, reference, inputs: inputs)
    }

    /// B is killed (SIGKILL) mid-stream; A takes its partitions from their last snapshots (evidence and
    /// offset together) and learns the events after again: the fold still equals the sequential model,
    /// no evidence counted twice or lost.
    @Test func aKillDashNineCountsNoEvidenceTwice() throws {
        let suffix = "sk"
        let (broker, pipeline, folder, a, b, ofB, _) = try GroupProcessTests.twoMembers(suffix, model: Self.sharedModel(forgetting: 0.3))
        defer { try? FileManager.default.removeItem(at: folder) }
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(0..<300))
        #expect(GroupProcessTests.waitForPredictions(broker, "predictions-\(suffix)", distinct: 300, seconds: 60) == 300)
        let (killAfter, _) = try GroupProcessTests.produceKilling(b, broker)
        let before = GroupProcessTests.assignments(a.log).count
        let deadline = Date().addingTimeInterval(40)
        while Set(GroupProcessTests.assignments(a.log).dropFirst(before).map(\.partition)) != ofB && Date() < deadline { usleep(100_000) }
        #expect(Set(GroupProcessTests.assignments(a.log).dropFirst(before).map(\.partition)) == ofB, "A: \(a.log.suffix(3000))")
        #expect(GroupProcessTests.waitForPredictions(broker, "predictions-\(suffix)", distinct: 600, seconds: 60) == 600)
        GroupProcessTests.stop(a)
        let duplicates = try GroupProcessTests.predictions(broker, "predictions-\(suffix)").values.reduce(0) { $0 + $1.count - 1 }
        print("measured: \(duplicates) events learned twice by the group after kill -9 (after chunk \(killAfter))")

        let (head, events) = try Self.folded(broker, state: "\(suffix)-state", pipeline: pipeline, folder: folder)
        #expect(events == 600, "evidence of \(events) events folded")
        let (reference, inputs) = try Self.sequential(pipeline: pipeline, rows: 0..<600)
        Self.expectEqual(head, reference, inputs: inputs)
    }
}
