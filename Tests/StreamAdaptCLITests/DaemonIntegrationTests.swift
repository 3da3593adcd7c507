import Foundation
import Testing

/// `streamadapt run` end to end, for what only a process shows: kill -9, SIGTERM, a broker outage, the
/// start-up checks and their exit status. The embedded broker and the daemon run as separate processes,
/// events in and out through kcat (an independent Kafka client) over TCP on loopback. Everything else
/// about the daemon is tested in process (StreamAdaptDaemonTests).
@Suite(.enabled(if: Kcat.isAvailable, "needs kcat"), .serialized)
struct DaemonIntegrationTests {
    /// Polls `topic` until it holds at least `count` messages or `seconds` pass; returns the last count.
    @discardableResult
    func waitForMessages(_ bootstrap: String, topic: String, atLeast count: Int, seconds: Double) -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        var seen = 0
        repeat {
            seen = (try? Kcat.consume(bootstrap: bootstrap, topic: topic).count) ?? 0
            if seen >= count { break }
            usleep(100_000)
        } while Date() < deadline
        return seen
    }

    @Test func killDashNineAndRestartGivesTheUninterruptedState() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        try crashAndRestartMatchesAnUninterruptedRun(broker)
    }

    /// The same with a class added over the control topic before the events: the class set comes back
    /// from the checkpoint, the control record is not applied again, and the states are byte-identical.
    @Test func killDashNineAfterAClassWasAddedGivesTheUninterruptedState() throws {
        let broker = try BrokerProcess(topics: ["embeddings", "classes"])
        let d = try SampleEvents.load().dimension
        let embedding = (0..<d).map { "\(sin(Double($0) + 0.5))" }.joined(separator: ",")
        try Kcat.produce(
            bootstrap: broker.bootstrap, topic: "classes",
            lines: ["novel|{\"op\":\"add-class\",\"name\":\"novel-class\",\"embedding\":[\(embedding)]}"])
        let (reference, crashed) = try crashAndRestartMatchesAnUninterruptedRun(broker, control: "classes") { pipeline in
            // Both runs apply the change before any event (the input is still empty), so both add the
            // class at the same point of the stream whatever order the consumer hands topics over in.
            let prepare = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
            #expect(prepare.status == 0, "stderr: \(prepare.stderr.suffix(2000))")
            #expect(prepare.stderr.contains("class change applied"))
        }
        #expect(reference.range(of: Data("novel-class".utf8)) != nil)
        #expect(!crashed.stderr.contains("class change applied"))
    }

    /// Runs `embeddings` (350 sample events, produced here after `prepare` ran for both pipelines) once
    /// uninterrupted and once killed with SIGKILL at a random point after the first checkpoint and
    /// restarted; expects byte-identical final checkpoints and identical predictions. Returns the
    /// reference checkpoint and the restarted run's output.
    @discardableResult
    func crashAndRestartMatchesAnUninterruptedRun(
        _ broker: BrokerProcess, control: String? = nil, prepare: (String) throws -> Void = { _ in }
    ) throws -> (checkpoint: Data, restarted: CommandRunner.Output) {
        // Reference: one uninterrupted run. Both runs process event by event (model.maxBlock 1): the
        // states are compared byte for byte, and the runs' poll batches differ.
        let (referencePipeline, referenceFolder) = try SampleEvents.pipeline(
            suffix: "ref", checkpointEvery: 40, maxBlock: 1, control: control)
        defer { try? FileManager.default.removeItem(at: referenceFolder) }
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "crash", checkpointEvery: 40, maxBlock: 1, control: control)
        defer { try? FileManager.default.removeItem(at: folder) }
        try prepare(referencePipeline)
        try prepare(pipeline)
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try SampleEvents.lines(0..<350))

        let reference = try CommandRunner.run(["run", "--pipeline", referencePipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(reference.status == 0, "stderr: \(reference.stderr.suffix(2000))")

        // Crashing run: kill -9 at a random point after the first checkpoint of this input, then
        // restart to the end.
        let checkpoint = folder.appendingPathComponent("checkpoints/checkpoint.bin").path
        let prepared = try? Data(contentsOf: URL(fileURLWithPath: checkpoint))
        // (No --until-caught-up: it must still be running when it is killed, wherever it is in the input.)
        let crashing = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        for _ in 0..<600 {
            if let now = try? Data(contentsOf: URL(fileURLWithPath: checkpoint)), now != prepared { break }
            usleep(50_000)
        }
        // A random point: once a random number of predictions (past the first checkpoint) is out.
        let target = Int.random(in: 40...350)
        let seen = waitForMessages(broker.bootstrap, topic: "predictions-crash", atLeast: target, seconds: 30)
        // (The kill point is in every message below, so that a failure can be replayed.)
        #expect(crashing.isRunning, "killed after \(seen) predictions (target \(target))")
        kill(crashing.processIdentifier, SIGKILL)
        crashing.waitForExit()
        #expect(crashing.terminationReason == .uncaughtSignal)
        #expect(crashing.terminationStatus == SIGKILL)
        let restarted = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(restarted.status == 0, "stderr: \(restarted.stderr.suffix(2000))")
        #expect(restarted.stderr.contains("restored checkpoint"))

        // Exactly-once state: the final checkpoints (model state and offsets) are byte-identical.
        let a = try Data(contentsOf: referenceFolder.appendingPathComponent("checkpoints/checkpoint.bin"))
        let b = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        #expect(a.count > 1000)
        #expect(a == b, "killed after \(seen) predictions (target \(target))")
        // Every input has a prediction; duplicates after the crash are identical.
        let predictions = try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-crash")
        var byID: [String: String] = [:]
        var mismatched = 0
        for p in predictions {
            if let previous = byID[p.key], previous != p.value { mismatched += 1 }
            byID[p.key] = p.value
        }
        #expect(byID.count == 350)
        #expect(mismatched == 0)
        let referencePredictions = try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-ref")
        #expect(Set(referencePredictions.map(\.value)) == Set(byID.values))
        return (a, restarted)
    }

    @Test func brokerOutageLosesNothing() throws {
        // The daemon has consumed part of the stream when the broker goes down, is still running through
        // the outage (readiness off), and after it comes back consumes the rest (readiness on): all 300
        // events are predicted, once each, and the outage is counted once. Then SIGTERM.
        let broker = try BrokerProcess(topics: ["embeddings"])
        let events = try SampleEvents.lines(0..<300)
        let port = try freeLocalPort()
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "outage", metricsPort: port)
        defer { try? FileManager.default.removeItem(at: folder) }
        /// /readyz's status, polled every 50 ms until it is `status` or `seconds` pass; the last one seen.
        func waitForReadiness(_ status: Int, seconds: Double) -> Int? {
            let deadline = Date().addingTimeInterval(seconds)
            var seen: Int?
            repeat {
                seen = httpGet("http://127.0.0.1:\(port)/readyz")?.0
                if seen == status { break }
                usleep(50_000)
            } while Date() < deadline
            return seen
        }
        let daemon = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: Array(events[..<150]))
        let before = waitForMessages(broker.bootstrap, topic: "predictions-outage", atLeast: 1, seconds: 20)
        #expect(before >= 1, "no prediction before the outage")
        #expect(daemon.isRunning, "the daemon must be mid-stream when the broker goes down")
        #expect(waitForReadiness(200, seconds: 10) == 200, "not ready before the outage")
        broker.setDown()
        // The daemon sees the outage (one line of its own), turns readiness off and keeps running.
        #expect(daemon.waitForLog(containing: "Kafka cluster unreachable", seconds: 30), "\(daemon.log.suffix(2000))")
        #expect(waitForReadiness(503, seconds: 10) == 503, "ready during the outage")
        // The broker really is down (kcat gives up at once and reads nothing), and the daemon still runs.
        #expect(try Kcat.consume(bootstrap: broker.bootstrap, topic: "embeddings").isEmpty, "the broker is not down")
        #expect(daemon.isRunning, "the daemon must survive the outage")
        #expect(httpGet("http://127.0.0.1:\(port)/readyz")?.0 == 503, "ready during the outage")
        #expect(httpGet("http://127.0.0.1:\(port)/healthz")?.0 == 200, "alive during the outage")
        broker.setUp()
        // kcat cannot produce to a down broker (it exits at once, "all broker connections are down"):
        // the rest is produced once the broker serves the first 150 events again.
        #expect(waitForMessages(broker.bootstrap, topic: "embeddings", atLeast: 150, seconds: 20) == 150)
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: Array(events[150...]))
        #expect(waitForMessages(broker.bootstrap, topic: "predictions-outage", atLeast: 300, seconds: 60) >= 300)
        #expect(waitForReadiness(200, seconds: 20) == 200, "not ready after the outage")
        let metrics = httpGet("http://127.0.0.1:\(port)/metrics")?.1 ?? ""
        #expect(metrics.contains("streamadapt_broker_outages_total 1\n"), "\(metrics.prefix(3000))")
        #expect(metrics.contains("streamadapt_broker_reachable 1"), "\(metrics.prefix(3000))")
        #expect(daemon.isRunning)
        daemon.terminate()
        let log = daemon.waitForExit()
        #expect(daemon.terminationStatus == 0, "stderr: \(log.suffix(2000))")
        // One line when the cluster was lost and one when it was back.
        #expect(log.components(separatedBy: "Kafka cluster unreachable").count - 1 == 1, "\(log.suffix(3000))")
        #expect(log.components(separatedBy: "Kafka cluster reachable again").count - 1 == 1, "\(log.suffix(3000))")
        // Every event exactly once: at-least-once allows duplicates only for events replayed after a
        // restart from a checkpoint, and this daemon never restarted.
        let predictions = try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-outage")
        var counts: [String: Int] = [:]
        for p in predictions { counts[p.key, default: 0] += 1 }
        #expect(counts.keys.sorted() == (0..<300).map { "e\($0)" }.sorted())
        #expect(counts.filter { $0.value != 1 }.isEmpty, "duplicates: \(counts.filter { $0.value != 1 })")
        #expect(predictions.count == 300)
    }

    @Test func gracefulShutdownOnSigtermWritesACheckpoint() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try SampleEvents.lines(0..<200))
        let port = try freeLocalPort()
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "term", metricsPort: port)
        defer { try? FileManager.default.removeItem(at: folder) }
        let daemon = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        // Wait until it has predicted everything, then SIGTERM.
        #expect(waitForMessages(broker.bootstrap, topic: "predictions-term", atLeast: 200, seconds: 30) == 200)
        // Metrics, health and readiness while it runs.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") {
            let metrics = httpGet("http://127.0.0.1:\(port)/metrics")
            #expect(metrics?.0 == 200)
            let body = metrics?.1 ?? ""
            #expect(body.contains("streamadapt_events_in_total 200"), "\(body.prefix(2000))")
            #expect(body.contains("streamadapt_predictions_out_total 200"))
            #expect(body.contains("streamadapt_updates_total 200"))
            #expect(body.contains("streamadapt_prequential_accuracy"))
            #expect(body.contains("streamadapt_event_latency_seconds_bucket"))
            #expect(body.contains("streamadapt_consumer_lag"))
            #expect(httpGet("http://127.0.0.1:\(port)/healthz")?.0 == 200)
            #expect(httpGet("http://127.0.0.1:\(port)/readyz")?.0 == 200)
            #expect(httpGet("http://127.0.0.1:\(port)/nothing")?.0 == 404)
        }
        #expect(daemon.isRunning)
        daemon.terminate()
        let log = daemon.waitForExit()
        #expect(daemon.terminationStatus == 0, "log: \(log.suffix(1500))")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoints/checkpoint.bin").path))
        #expect(log.contains("stopped"))
    }

    @Test func brokerOnAFixedPortServesAnyClient() throws {
        let port = try freeLocalPort()
        let broker = try BrokerProcess(topics: ["t"], port: port)
        #expect(broker.bootstrap == "127.0.0.1:\(port)")
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "t", lines: ["a|one", "b|two"])
        let messages = try Kcat.consume(bootstrap: broker.bootstrap, topic: "t")
        #expect(messages.map(\.key) == ["a", "b"])
        #expect(messages.map(\.value) == ["one", "two"])
    }

    @Test func wrongPipelineSettingFailsAtStartNamingItWithRunsUsage() throws {
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "bad", extra: "input:\n  maxMessageBytes: lots")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try CommandRunner.run(["run", "--pipeline", pipeline])
        #expect(run.status == 64, "stderr: \(run.stderr)")  // EX_USAGE
        #expect(run.stderr.contains("input.maxMessageBytes"))
        // run's usage, not the top-level one (which lists the subcommands).
        #expect(run.stderr.contains("Usage: streamadapt run --pipeline <pipeline>"), "stderr: \(run.stderr)")
        #expect(!run.stderr.contains("SUBCOMMANDS"))
        let level = try CommandRunner.run(["run", "--pipeline", pipeline, "--log-level", "loud"])
        #expect(level.status == 64)
        #expect(level.stderr.contains("Usage: streamadapt run"), "stderr: \(level.stderr)")
    }

    /// Start-up checks: a metrics port in use, and a checkpoint folder that is a file, stop the start at
    /// once (before any Kafka connection: no broker runs here) with a non-zero exit naming them.
    @Test func aMetricsPortInUseStopsTheStartNamingIt() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "port", metricsPort: port)
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", "127.0.0.1:1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("metrics endpoint cannot listen on 127.0.0.1:\(port)"), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("Address already in use"))
        #expect(!run.stderr.contains("consuming"))  // the loop never started
    }

    @Test func aCheckpointFolderThatIsAFileStopsTheStartNamingIt() throws {
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "file")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("checkpoints").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let run = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", "127.0.0.1:1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("checkpoint not-a-directory: \(file) is a file, not a folder"), "stderr: \(run.stderr)")
        #expect(!run.stderr.contains("NSCocoaErrorDomain"))
    }
}
