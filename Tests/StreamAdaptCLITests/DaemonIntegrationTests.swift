import Foundation
import Testing

/// `streamadapt run` end to end: the embedded broker and the daemon as separate processes, events in
/// and out through kcat (an independent Kafka client) over TCP on loopback.
@Suite(.enabled(if: Kcat.isAvailable, "needs kcat"), .serialized)
struct DaemonIntegrationTests {
    func json(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// The value of header `name` in kcat's `%h` rendering (`name=value,name=value`), or nil.
    func header(_ headers: String, _ name: String) -> String? {
        headers.split(separator: ",").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    /// The source offset a dead letter carries (-1 when it has none).
    func sourceOffset(_ headers: String) -> Int {
        header(headers, "streamadapt-source-offset").flatMap { Int($0) } ?? -1
    }

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

    @Test func predictionsAlertsAndDeadLettersThroughKafka() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        let sample = try SampleEvents.lines(0..<1200)
        let malformed = [
            "bad1|this is not json",
            "bad2|{\"id\":\"bad2\",\"embedding\":[1,2,3],\"label\":1}",
            "bad3|{\"id\":\"bad3\",\"embedding\":[" + Array(repeating: "1e999", count: 1024).joined(separator: ",") + "]}",
            "bad4|{\"id\":\"bad4\",\"embedding\":[" + Array(repeating: "0.5", count: 1024).joined(separator: ",") + "],\"label\":\"parrot\"}",
            "bad5|{\"id\":\"bad5\",\"embedding\":[" + Array(repeating: "0.5", count: 1024).joined(separator: ",") + "],\"label\":42}",
            "bad6|{\"id\":\"bad6\",\"embedding\":[" + Array(repeating: "0", count: 1024).joined(separator: ",") + "]}",
        ]
        // Malformed events are interleaved in the clean segment.
        let events = Array(sample[0..<100]) + malformed + Array(sample[100...])
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "main")
        defer { try? FileManager.default.removeItem(at: folder) }

        // The daemon runs while the events are produced in chunks (the mock broker keeps only about
        // 5 MB per partition, less than the 14 MB of this stream in JSON).
        let daemon = try StreamAdaptProcess(
            ["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--max-events", "\(events.count)"])
        var produced = 0
        while produced < events.count {
            let chunk = Array(events[produced..<min(events.count, produced + 150)])
            try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: chunk)
            produced += chunk.count
            for _ in 0..<600 {
                let done = (try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-main").count)
                if done >= produced - 150 - malformed.count { break }
                usleep(200_000)
            }
        }
        let log = daemon.waitForExit()
        #expect(daemon.terminationStatus == 0, "stderr: \(log.suffix(2000))")

        let predictions = try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-main")
        #expect(predictions.count == 1200)
        let records = predictions.compactMap { json($0.value) }
        #expect(records.count == 1200)
        let ids = Set(records.compactMap { $0["id"] as? String })
        #expect(ids.count == 1200)
        #expect(predictions.allSatisfy { $0.key == (json($0.value)?["id"] as? String) })
        // Schema.
        let first = try #require(records.first { $0["id"] as? String == "e0" })
        for key in ["id", "ts", "label", "index", "probability", "top", "uncertainty", "mahalanobis", "drifting",
                    "updated", "model_version", "head"] {
            #expect(first[key] != nil, "missing \(key)")
        }
        #expect(first["ts"] as? Int == 1_700_000_000_000)
        #expect((first["top"] as? [[String: Any]])?.count == 3)
        #expect((first["uncertainty"] as? [String: Any])?["entropy"] is Double)
        #expect(first["head"] as? String == "kalman")
        #expect(first["updated"] as? Bool == true)
        // Accuracy before and after the shift, from the predictions and the known labels.
        let (_, labels, names, _) = try SampleEvents.load()
        var correct = [0, 0]
        for record in records {
            guard let id = record["id"] as? String, let row = Int(id.dropFirst()), let label = record["label"] as? String else { continue }
            if label == names[labels[row]] { correct[row < 600 ? 0 : 1] += 1 }
        }
        #expect(Double(correct[0]) / 600 > 0.75, "clean accuracy \(correct[0])/600")
        #expect(Double(correct[1]) / 600 > 0.5, "corrupted accuracy \(correct[1])/600")

        // Dead letters: forwarded unchanged with the reason and the source position.
        // (Output topics may have several partitions: order by the source offset.)
        let dead = try Kcat.consume(bootstrap: broker.bootstrap, topic: "dead-main").sorted {
            sourceOffset($0.headers) < sourceOffset($1.headers)
        }
        #expect(dead.count == malformed.count)
        let reasons = dead.map { header($0.headers, "streamadapt-reason") ?? "?" }
        #expect(reasons == ["unparseable", "wrong-dimension", "non-finite", "unknown-class", "label-out-of-range", "zero-vector"])
        #expect(dead.first?.value == "this is not json")
        #expect(dead.first?.key == "bad1")
        #expect(dead.allSatisfy { header($0.headers, "streamadapt-source-topic") == "embeddings" })
        // One partition: the malformed events sit at offsets 100...105, right after the first 100 events.
        #expect(dead.map { sourceOffset($0.headers) } == Array(100..<(100 + malformed.count)))

        // Drift alerts: raised after the shift, none before.
        let alerts = try Kcat.consume(bootstrap: broker.bootstrap, topic: "alerts-main").compactMap { json($0.value) }
        let input = alerts.filter { $0["kind"] as? String == "input-drift" && $0["state"] as? String == "raised" }
        #expect(!input.isEmpty)
        let raisedAt = input.compactMap { $0["raised_at_event"] as? Int }
        #expect(raisedAt.allSatisfy { $0 >= 600 }, "raised at \(raisedAt)")
        #expect(raisedAt.contains { $0 < 700 }, "raised at \(raisedAt)")
        let offsets = try #require((input.first?["offsets"] as? [[String: Any]])?.first)
        #expect((offsets["to"] as? Int ?? 0) > 600)
        for key in ["threshold", "severity", "model_version", "value"] { #expect(input.first?[key] != nil, "missing \(key)") }
    }

    @Test func killDashNineAndRestartGivesTheUninterruptedState() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try SampleEvents.lines(0..<350))

        // Reference: one uninterrupted run.
        let (referencePipeline, referenceFolder) = try SampleEvents.pipeline(suffix: "ref", checkpointEvery: 40)
        defer { try? FileManager.default.removeItem(at: referenceFolder) }
        let reference = try CommandRunner.run(["run", "--pipeline", referencePipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(reference.status == 0, "stderr: \(reference.stderr.suffix(2000))")

        // Crashing run: kill -9 at a random point after the first checkpoint, then restart to the end.
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "crash", checkpointEvery: 40)
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = folder.appendingPathComponent("checkpoints/checkpoint.bin").path
        // (No --until-caught-up: it must still be running when it is killed, wherever it is in the input.)
        let crashing = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: checkpoint) { usleep(50_000) }
        usleep(UInt32.random(in: 0..<400_000))
        #expect(crashing.isRunning)
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
        #expect(a == b)
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
    }

    @Test func brokerOutageLosesNothing() throws {
        // The daemon has consumed part of the stream when the broker goes down, is still running through
        // the outage, and after it comes back consumes the rest: all 300 events are predicted, once each.
        let broker = try BrokerProcess(topics: ["embeddings"])
        let events = try SampleEvents.lines(0..<300)
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "outage")
        defer { try? FileManager.default.removeItem(at: folder) }
        let daemon = try StreamAdaptProcess(
            ["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--max-events", "300"])
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: Array(events[..<150]))
        let before = waitForMessages(broker.bootstrap, topic: "predictions-outage", atLeast: 1, seconds: 20)
        #expect(before >= 1, "no prediction before the outage")
        #expect(daemon.isRunning, "the daemon must be mid-stream when the broker goes down")
        broker.setDown()
        sleep(3)
        // The broker really is down (kcat gives up at once and reads nothing), and the daemon still runs.
        #expect(try Kcat.consume(bootstrap: broker.bootstrap, topic: "embeddings").isEmpty, "the broker is not down")
        #expect(daemon.isRunning, "the daemon must survive the outage")
        broker.setUp()
        // kcat cannot produce to a down broker (it exits at once, "all broker connections are down"):
        // the rest is produced once the broker serves the first 150 events again.
        #expect(waitForMessages(broker.bootstrap, topic: "embeddings", atLeast: 150, seconds: 20) == 150)
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: Array(events[150...]))
        let log = daemon.waitForExit()
        #expect(daemon.terminationStatus == 0, "stderr: \(log.suffix(2000))")
        let predictions = try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-outage")
        #expect(Set(predictions.map(\.key)).count == 300)
        #expect(Set(predictions.map(\.key)) == Set((0..<300).map { "e\($0)" }))
    }

    @Test func gracefulShutdownOnSigtermWritesACheckpoint() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try SampleEvents.lines(0..<200))
        let port = try freeLocalPort()
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "term", metricsPort: port)
        defer { try? FileManager.default.removeItem(at: folder) }
        let daemon = try StreamAdaptProcess(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap])
        // Wait until it has predicted everything, then SIGTERM.
        for _ in 0..<300 {
            if (try? Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-term").count) == 200 { break }
            usleep(100_000)
        }
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

    @Test func delayedLabelsAreLearnedAcrossARestart() throws {
        let broker = try BrokerProcess(topics: ["embeddings", "labels"])
        // Unlabelled events first; the labels arrive later, after a restart (the label cache is in the checkpoint).
        let unlabelled = try SampleEvents.lines(0..<200).map { $0.replacingOccurrences(of: #","label":"#, with: #","x":"#) }
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: unlabelled)
        let (pipeline, folder) = try SampleEvents.pipeline(
            suffix: "late", extra: "input:\n  labelCacheSize: 150")
        defer { try? FileManager.default.removeItem(at: folder) }
        var yaml = try String(contentsOfFile: pipeline, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "  input: embeddings\n", with: "  input: embeddings\n  labels: labels\n")
        try yaml.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let first = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(first.status == 0, "stderr: \(first.stderr.suffix(1500))")
        #expect(first.stderr.contains("late-labels-applied=0"))

        let (_, labels, names, _) = try SampleEvents.load()
        var records = (0..<200).map { "l\($0)|{\"id\":\"e\($0)\",\"label\":\"\(names[labels[$0]])\"}" }
        records.append("l-unknown|{\"id\":\"never-seen\",\"label\":1}")
        records.append("l-bad|{\"id\":\"e10\",\"label\":\"parrot\"}")
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "labels", lines: records)
        let second = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(second.status == 0, "stderr: \(second.stderr.suffix(1500))")
        // The cache kept the last 150 events: their labels are learned, the 50 older ones and the
        // unknown id are unmatched, the unknown class name is a dead letter.
        #expect(second.stderr.contains("late-labels-applied=150"), "\(second.stderr.suffix(600))")
        #expect(second.stderr.contains("late-labels-unmatched=51"), "\(second.stderr.suffix(600))")
        let dead = try Kcat.consume(bootstrap: broker.bootstrap, topic: "dead-late")
        #expect(dead.count == 1)
        #expect(dead.first.flatMap { header($0.headers, "streamadapt-reason") } == "unknown-class")
        #expect(dead.first.flatMap { header($0.headers, "streamadapt-source-topic") } == "labels")
        #expect(dead.first?.key == "l-bad")
        // The bad record is the 202nd of the labels topic (offset 201).
        #expect(dead.first.map { sourceOffset($0.headers) } == 201)
    }

    @Test func withoutInputScoringPredictionsCarryNoDistance() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: try SampleEvents.lines(0..<40))
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "noscore")
        defer { try? FileManager.default.removeItem(at: folder) }
        var yaml = try String(contentsOfFile: pipeline, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "drift:\n", with: "drift:\n  inputScoring: false\n")
        try yaml.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let run = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(1500))")
        let predictions = try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-noscore").compactMap { json($0.value) }
        #expect(predictions.count == 40)
        #expect(predictions.allSatisfy { $0["mahalanobis"] is NSNull && $0["drifting"] as? Bool == false })
        #expect(predictions.allSatisfy { $0["updated"] as? Bool == true && $0["probability"] is Double })
    }

    @Test func oversizedInputIsDeadLetteredWithoutStoppingTheDaemon() throws {
        let broker = try BrokerProcess(topics: ["embeddings"])
        let huge = "big|{\"id\":\"big\",\"pad\":\"" + String(repeating: "x", count: 1_200_000) + "\"}"
        try Kcat.produce(bootstrap: broker.bootstrap, topic: "embeddings", lines: [huge] + (try SampleEvents.lines(0..<5)))
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "big")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try CommandRunner.run(["run", "--pipeline", pipeline, "--bootstrap", broker.bootstrap, "--until-caught-up"])
        #expect(run.status == 0, "stderr: \(run.stderr.suffix(1500))")
        #expect(try Kcat.consume(bootstrap: broker.bootstrap, topic: "predictions-big").count == 5)
        let dead = try Kcat.consume(bootstrap: broker.bootstrap, topic: "dead-big")
        #expect(dead.count == 1)
        #expect(dead.first?.key == "big")
        #expect(dead.first.flatMap { header($0.headers, "streamadapt-reason") } == "oversized")
        #expect(dead.first.map { sourceOffset($0.headers) } == 0)
        // Too large for the producer to forward: the key and headers go, with the reason the value did not.
        #expect(dead.first.flatMap { header($0.headers, "streamadapt-value-dropped") }?.isEmpty == false)
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

    @Test func wrongPipelineSettingFailsAtStartNamingIt() throws {
        let (pipeline, folder) = try SampleEvents.pipeline(suffix: "bad", extra: "input:\n  maxMessageBytes: lots")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try CommandRunner.run(["run", "--pipeline", pipeline])
        #expect(run.status != 0)
        #expect(run.stderr.contains("input.maxMessageBytes"))
    }
}
