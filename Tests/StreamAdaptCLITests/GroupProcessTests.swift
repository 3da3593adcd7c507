import Foundation
import Testing

/// The bundled sample projected to 64 dimensions by a fixed random matrix: the embedded broker keeps only
/// about 5 MB per partition, which a D = 1024 snapshot (8 MB of covariance) does not fit in.
enum ProjectedSample {
    static let dimension = 64

    /// The projection: D x 64, seeded Gaussian entries / 8.
    static func project(_ rows: [Float], d: Int) -> [Float] {
        var state: UInt64 = 0x5EED
        func uniform() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        let matrix = (0..<(d * dimension)).map { _ in Float(sqrt(-2 * log(max(uniform(), 1e-300))) * cos(2 * .pi * uniform()) / 8) }
        let n = rows.count / d
        var out = [Float](repeating: 0, count: n * dimension)
        for r in 0..<n {
            for i in 0..<d where rows[r * d + i] != 0 {
                let x = rows[r * d + i]
                for j in 0..<dimension { out[r * dimension + j] += x * matrix[i * dimension + j] }
            }
        }
        return out
    }

    /// A class folder (classes.txt, text.f32) with the projected class embeddings.
    static func classes() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-projected-classes")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let names = try Data(contentsOf: SampleEvents.directory.appendingPathComponent("classes.txt"))
        try names.write(to: folder.appendingPathComponent("classes.txt"))
        let text = try Data(contentsOf: SampleEvents.directory.appendingPathComponent("text.f32"))
        let values = text.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        let d = try SampleEvents.load().dimension
        var bytes = Data()
        for v in project(values, d: d) { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: folder.appendingPathComponent("text.f32"))
        return folder
    }

    /// Rows `range` as `id|json` lines (as ``SampleEvents/lines(_:byIndex:)``), projected.
    static func lines(_ range: Range<Int>) throws -> [String] {
        let (embeddings, labels, names, d) = try SampleEvents.load()
        let rows = project(Array(embeddings[(range.lowerBound * d)..<(range.upperBound * d)]), d: d)
        return range.enumerated().map { i, row in
            let values = rows[(i * dimension)..<((i + 1) * dimension)].map { "\($0)" }.joined(separator: ",")
            return "e\(row)|{\"id\":\"e\(row)\",\"embedding\":[\(values)],\"label\":\"\(names[labels[row]])\",\"ts\":\(1_700_000_000_000 + row)}"
        }
    }
}

/// Several `streamadapt run --group` daemons, each its own process, on one embedded broker with 4
/// input partitions: what only processes show (kill -9, SIGSTOP past the session timeout). Each ends
/// with every partition's state compared, byte for byte, with a reference daemon that read the same
/// input alone (`streamadapt state --export`).
@Suite(.enabled(if: Kcat.isAvailable, "needs kcat"), .serialized)
struct GroupProcessTests {
    /// A group pipeline (per-partition models, state on `state`), event by event (states compared byte
    /// for byte), a snapshot every 20 events, short sessions (the embedded broker waits
    /// `session.timeout.ms - 1 s` in each join round).
    /// - Parameter model: more lines of the `model` section (indented by two spaces).
    static func pipeline(suffix: String, group: String, state: String, model: String = "") throws -> (path: String, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(suffix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let yaml = """
            name: test-\(suffix)
            group: \(group)
            kafka:
              properties:
                session.timeout.ms: "6000"
                heartbeat.interval.ms: "500"
            topics:
              input: embeddings
              state: \(state)
              predictions: predictions-\(suffix)
              alerts: alerts-\(suffix)
              deadLetter: dead-\(suffix)
            model:
              classes: \(try ProjectedSample.classes().path)
              head: kalman
              maxBlock: 1
            \(model)
            drift:
              warmupEvents: 50
              referenceEvents: 100
            checkpoint:
              everyEvents: 20
              everySeconds: 1
            metrics:
              port: 0
            """
        let path = folder.appendingPathComponent("pipeline.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, folder)
    }

    /// `streamadapt state` of `topic`: one JSON object per partition; with `export`, the newest snapshot
    /// of each partition in that folder.
    static func state(_ broker: BrokerProcess, topic: String, export: URL? = nil) throws -> [[String: Any]] {
        let output = try CommandRunner.run(
            ["state", "--bootstrap", broker.bootstrap, "--topic", topic] + (export.map { ["--export", $0.path] } ?? []))
        #expect(output.status == 0, "stderr: \(output.stderr.suffix(2000))")
        return output.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    /// The partitions of the "partition assigned" lines of a daemon's log, with the `offset` each started at.
    static func assignments(_ log: String) -> [(partition: Int, offset: Int?, epoch: Int)] {
        log.split(separator: "\n").filter { $0.contains("partition assigned") }.compactMap { line in
            func value(_ key: String) -> String? {
                guard let range = line.range(of: " \(key)=") else { return nil }
                return String(line[range.upperBound...].prefix { $0 != " " })
            }
            guard let partition = value("partition")?.split(separator: "/").last.flatMap({ Int($0) }),
                let epoch = value("epoch").flatMap({ Int($0) })
            else { return nil }
            return (partition, value("offset").flatMap { Int($0) }, epoch)
        }
    }

    /// Waits until `daemon`'s log has `count` "partition assigned" lines (one per partition, written as each
    /// is restored).
    static func waitForAssignments(_ daemon: StreamAdaptProcess, _ count: Int, seconds: Double = 40) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if assignments(daemon.log).count >= count { return true }
            usleep(50_000)
        }
        return false
    }

    /// Predictions by event id: every value seen (duplicates included).
    static func predictions(_ broker: BrokerProcess, _ topic: String) throws -> [String: [String]] {
        var byID: [String: [String]] = [:]
        for p in try Kcat.consume(bootstrap: broker.bootstrap, topic: topic) { byID[p.key, default: []].append(p.value) }
        return byID
    }

    /// Waits until `topic` has a prediction for `count` distinct events (or `seconds` pass).
    @discardableResult
    static func waitForPredictions(_ broker: BrokerProcess, _ topic: String, distinct count: Int, seconds: Double) -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        var seen = 0
        repeat {
            seen = (try? predictions(broker, topic).count) ?? 0
            if seen >= count { break }
            usleep(200_000)
        } while Date() < deadline
        return seen
    }

    /// Runs the reference (group `ref`, state `ref-state`) over the input to its end and expects every
    /// partition's newest state on `state` to equal it byte for byte.
    static func expectReferenceState(_ broker: BrokerProcess, state: String, partitions: Int = 4) throws {
        let (reference, folder) = try pipeline(suffix: "ref", group: "ref", state: "ref-state")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try CommandRunner.run(["run", "--pipeline", reference, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(2000))")
        let expected = folder.appendingPathComponent("expected")
        let got = folder.appendingPathComponent("got")
        _ = try Self.state(broker, topic: "ref-state", export: expected)
        _ = try Self.state(broker, topic: state, export: got)
        for p in 0..<partitions {
            let e = try Data(contentsOf: expected.appendingPathComponent("partition-\(p).bin"))
            let g = try Data(contentsOf: got.appendingPathComponent("partition-\(p).bin"))
            #expect(e.count > 1000)
            #expect(e == g, "partition \(p): the group's state differs from one daemon's alone")
        }
    }

    /// Daemon A alone until it has predicted rows 0..<300 (one line each on `predictions`), then daemon B,
    /// until B owns two partitions.
    static func aloneThenJoined(_ broker: BrokerProcess, pipeline: String, predictions: String) throws -> (a: StreamAdaptProcess, b: StreamAdaptProcess) {
        let a = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        #expect(waitForAssignments(a, 4), "A: \(a.log.suffix(2000))")
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(0..<300))
        #expect(waitForPredictions(broker, predictions, distinct: 300, seconds: 60) == 300)
        let b = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        #expect(waitForAssignments(b, 2), "B: \(b.log.suffix(2000))")
        return (a, b)
    }

    /// Stops `daemons` one after the other (SIGTERM, each until it logs that it stopped), then expects every
    /// one to exit with status 0.
    static func stop(_ daemons: StreamAdaptProcess...) {
        for (i, daemon) in daemons.enumerated() {
            daemon.terminate()
            #expect(daemon.waitForLog(containing: "] stopped", seconds: 60), "daemon \(i): \(daemon.log.suffix(2000))")
        }
        #expect(daemons.allSatisfy { $0.waitForExit(seconds: 30) }, "a daemon did not exit")
        #expect(daemons.allSatisfy { $0.terminationStatus == 0 })
    }

    /// Produces rows 300..<600 ten at a time (one kcat each) and kills `victim` (SIGKILL) after a random
    /// chunk: between two of its snapshots or at one. Returns the chunk and when.
    static func produceKilling(_ victim: StreamAdaptProcess, _ broker: BrokerProcess) throws -> (afterChunk: Int, at: Date) {
        let second = try ProjectedSample.lines(300..<600)
        let killAfter = Int.random(in: 3..<27)
        var killed = Date()
        for chunk in 0..<30 {
            try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: Array(second[(chunk * 10)..<((chunk + 1) * 10)]))
            if chunk == killAfter {
                kill(victim.processIdentifier, SIGKILL)
                killed = Date()
            }
        }
        victim.waitForExit()
        #expect(victim.terminationReason == .uncaughtSignal, "killed after chunk \(killAfter)")
        return (killAfter, killed)
    }

    /// A alone, B joins half way: A gives up exactly two partitions in an orderly revoke and keeps the
    /// other two without a pause (cooperative); B starts each at A's snapshot; no event is predicted
    /// twice, every event is predicted, and every partition ends in the reference state.
    @Test func aSecondDaemonJoiningHalfWayTakesPartitionsWithTheirState() throws {
        let broker = try BrokerProcess(topics: ["embeddings", "h-state", "ref-state"], partitions: 4)
        let (pipeline, folder) = try Self.pipeline(suffix: "h", group: "h", state: "h-state")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (a, b) = try Self.aloneThenJoined(broker, pipeline: pipeline, predictions: "predictions-h")
        let ofB = Set(Self.assignments(b.log).map(\.partition))
        #expect(ofB.count == 2)
        // B restored each from A's snapshot of epoch 1 and claimed epoch 2.
        for line in b.log.split(separator: "\n") where line.contains("partition assigned") {
            #expect(line.contains("restored-from=epoch 1 sequence") && line.contains("epoch=2 "), "\(line)")
        }
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(300..<600))
        #expect(Self.waitForPredictions(broker, "predictions-h", distinct: 600, seconds: 60) == 600)
        // Before any stop: A revoked exactly B's two partitions and nothing else.
        let revoked = a.log.split(separator: "\n").filter { $0.contains("partition revoked") }
        #expect(revoked.count == 2)
        for line in revoked {
            #expect(ofB.contains { line.contains("partition=embeddings/\($0) ") }, "\(line)")
        }
        Self.stop(b, a)

        let predictions = try Self.predictions(broker, "predictions-h")
        #expect(predictions.count == 600)
        #expect(predictions.values.allSatisfy { $0.count == 1 }, "an orderly handoff predicts no event twice")
        try Self.expectReferenceState(broker, state: "h-state")
    }

    /// A broker with 4-partition topics, a group pipeline `suffix`, daemon A, then daemon B once A owns
    /// partitions; returns when B owns its two (and the partitions B owns, with the epochs it claimed).
    /// - Parameter model: more lines of the pipeline's `model` section (``pipeline(suffix:group:state:model:)``).
    static func twoMembers(_ suffix: String, model: String = "") throws -> (
        broker: BrokerProcess, pipeline: String, folder: URL, a: StreamAdaptProcess, b: StreamAdaptProcess, ofB: Set<Int>, epochsOfB: [Int: Int]
    ) {
        let broker = try BrokerProcess(topics: ["embeddings", "\(suffix)-state", "ref-state"], partitions: 4)
        let (pipeline, folder) = try pipeline(suffix: suffix, group: suffix, state: "\(suffix)-state", model: model)
        let a = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        #expect(a.waitForLog(containing: "partition assigned", seconds: 30))
        let b = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        #expect(waitForAssignments(b, 2), "B: \(b.log.suffix(2000))")
        let ofB = Set(assignments(b.log).map(\.partition))
        #expect(ofB.count == 2)
        let epochsOfB = Dictionary(assignments(b.log).map { ($0.partition, $0.epoch) }) { $1 }
        return (broker, pipeline, folder, a, b, ofB, epochsOfB)
    }

    /// B is killed (SIGKILL) while events flow: A owns all four partitions within 20 s, each moved one
    /// restored from B's last snapshot; every event is predicted, the duplicates are only events after
    /// that snapshot and identical to the first predictions; every partition ends in the reference state.
    @Test func killDashNineOfOneMemberMovesItsPartitionsFromItsLastSnapshot() throws {
        let (broker, _, folder, a, b, ofB, _) = try Self.twoMembers("g")
        defer { try? FileManager.default.removeItem(at: folder) }

        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(0..<300))
        #expect(Self.waitForPredictions(broker, "predictions-g", distinct: 300, seconds: 60) == 300)
        // Mid-stream: the next events come 10 at a time, and B dies after a random number of them,
        // between two of its snapshots (every 20 events) or at one.
        let (_, killed) = try Self.produceKilling(b, broker)
        let before = Self.assignments(a.log).count
        var takenOver: [(partition: Int, offset: Int?, epoch: Int)] = []
        while Date().timeIntervalSince(killed) < 20 {
            takenOver = Array(Self.assignments(a.log).dropFirst(before))
            if Set(takenOver.map(\.partition)) == ofB { break }
            usleep(100_000)
        }
        #expect(Set(takenOver.map(\.partition)) == ofB, "A took over \(takenOver) within 20 s; log: \(a.log.suffix(3000))")
        print("measured: A owned B's partitions \(Date().timeIntervalSince(killed)) s after kill -9")
        #expect(Self.waitForPredictions(broker, "predictions-g", distinct: 600, seconds: 60) == 600)
        Self.stop(a)

        // Duplicates: only events of B's partitions at or after the offset A restored, all identical.
        let restoredAt = Dictionary(takenOver.map { ($0.partition, $0.offset ?? 0) }) { $1 }
        var duplicates = 0
        for (id, values) in try Self.predictions(broker, "predictions-g") where values.count > 1 {
            duplicates += values.count - 1
            #expect(Set(values).count == 1, "\(id): different predictions")
            let record = try #require((try? JSONSerialization.jsonObject(with: Data(values[0].utf8))) as? [String: Any])
            let partition = try #require(record["partition"] as? Int)
            let offset = try #require(record["offset"] as? Int)
            #expect(ofB.contains(partition) && offset >= restoredAt[partition] ?? .max, "\(id) duplicated at \(partition)/\(offset)")
        }
        print("measured: \(duplicates) duplicate predictions after kill -9")
        try Self.expectReferenceState(broker, state: "g-state")
        let reference = try Self.predictions(broker, "predictions-ref")
        #expect(Set(reference.values.map { $0[0] }) == Set(try Self.predictions(broker, "predictions-g").values.map { $0[0] }))
    }

    /// B is stopped (SIGSTOP) past its session timeout: A takes its partitions at a higher epoch. B
    /// continues (SIGCONT): it learns it lost them and writes nothing that wins; a new daemon C restores
    /// the newest epoch of each partition and ends in the reference state.
    @Test func aStalledMemberCannotOverwriteItsSuccessorsState() throws {
        let (broker, pipeline, folder, a, b, ofB, epochsOfB) = try Self.twoMembers("z")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(0..<300))
        #expect(Self.waitForPredictions(broker, "predictions-z", distinct: 300, seconds: 60) == 300)

        kill(b.processIdentifier, SIGSTOP)
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try ProjectedSample.lines(300..<450))
        let before = Self.assignments(a.log).count
        var takenOver: [(partition: Int, offset: Int?, epoch: Int)] = []
        for _ in 0..<300 where Set(takenOver.map(\.partition)) != ofB {
            takenOver = Array(Self.assignments(a.log).dropFirst(before))
            usleep(100_000)
        }
        #expect(Set(takenOver.map(\.partition)) == ofB, "A: \(a.log.suffix(3000))")
        for t in takenOver { #expect(t.epoch > epochsOfB[t.partition] ?? .max, "A's epoch for \(t.partition)") }
        #expect(Self.waitForPredictions(broker, "predictions-z", distinct: 450, seconds: 60) == 450)

        kill(b.processIdentifier, SIGCONT)
        #expect(b.waitForLog(containing: "partition lost", seconds: 30), "B: \(b.log.suffix(3000))")
        Self.stop(b, a)
        // The winning snapshot of every partition B had is of A's epoch or later, never B's old one.
        let entries = try Self.state(broker, topic: "z-state")
        #expect(entries.count == 4)
        for entry in entries {
            let partition = try #require(entry["partition"] as? Int)
            let snapshots = try #require(entry["snapshots"] as? [[String: Any]])
            let newest = try #require(snapshots.first?["epoch"] as? Int)
            if ofB.contains(partition) { #expect(newest > epochsOfB[partition] ?? .max, "partition \(partition): epoch \(newest) won") }
        }
        // C alone, to the end: the reference state.
        let c = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(c.status == 0, "stderr: \(c.stderr.suffix(2000))")
        try Self.expectReferenceState(broker, state: "z-state")
    }
}
