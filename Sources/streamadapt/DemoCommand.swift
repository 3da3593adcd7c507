import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import StreamAdaptCore
import StreamAdaptDaemon
import StreamAdaptKafka
import Synchronization

/// `streamadapt demo`: the whole product on the bundled sample, with no Kafka to install.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start the embedded broker, replay the bundled sample into it, run the daemon on it, summarise.",
        discussion: """
            The sample is clean Fashion-MNIST photos, then corrupted ones (a covariate shift at --shift). \
            Events go through real Kafka (the librdkafka mock cluster over TCP on loopback), as JSON or binary.
            """
    )

    @Option(help: "The pipeline file.")
    var pipeline = "pipelines/fashion-demo.yaml"

    @Option(help: "The sample data directory.")
    var sample = "samples/fmnist-drift"

    @Option(help: "Index of the first corrupted event in the sample (for the summary).")
    var shift = 600

    @Option(help: "Input format: json or binary.")
    var format = "json"

    @Option(help: "Fraction of events that carry their label.")
    var labelFraction = 1.0

    @Flag(help: "Keep the daemon and its live page up after the replay, until Ctrl-C.")
    var dashboard = false

    @Option(help: "The port of the live page (and /metrics); 0: any free port. When the port is taken, any free port is used instead.")
    var dashboardPort = 9464

    func run() async throws {
        guard format == "json" || format == "binary" else { throw ValidationError("--format must be json or binary") }
        bootstrapLogging(level: .warning)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let feed = DashboardFeed()
        let health = HealthState()  // the loop's: /healthz and /readyz answer for it
        let server = try await startServer(registry: registry, feed: feed, health: health)
        print("dashboard at http://127.0.0.1:\(server.port)/" + (dashboard ? "" : " (up while the demo runs; --dashboard keeps it up)"))
        fflush(nil)
        // The replay and the loop block in librdkafka and OpenBLAS: on a thread of their own, off the
        // cooperative pool.
        let command = self
        do {
            try await onThread { try command.replay(feed: feed, health: health, url: "http://127.0.0.1:\(server.port)/") }
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
    }

    /// The embedded broker, the replay and the daemon (blocking: on its own thread).
    private func replay(feed: DashboardFeed, health: HealthState, url: String) throws {
        BLAS.setThreads(1)
        let data = try EmbeddingDataset(directory: sample)

        // Teardown order: every client (the replay producer, the daemon's producer and consumer) is gone
        // before the broker stops, so no client is left to report the brokers down. librdkafka's own log
        // lines are not printed (the Kafka layer drops them unless given a handler).
        let broker = try EmbeddedBroker()
        try withExtendedLifetime(broker) {
            var config = try PipelineConfiguration.load(path: pipeline)
            config.bootstrapServers = broker.bootstrapServers
            config.checkpointDirectory = nil  // a demo starts fresh every time
            config.metricsPort = 0
            for topic in [config.inputTopic, config.predictionsTopic, config.alertsTopic, config.deadLetterTopic] {
                try broker.createTopic(topic, partitions: 1)
            }
            print("embedded broker at \(config.bootstrapServers)")
            fflush(nil)
            try runOnBroker(config, data, feed: feed, health: health, url: url)
        }
    }

    /// Replays the sample into the input topic on a second thread while the daemon consumes it, then
    /// prints the summary. Returns only after the replay thread has finished and the daemon's clients
    /// are gone.
    private func runOnBroker(
        _ config: PipelineConfiguration, _ data: EmbeddingDataset, feed: DashboardFeed, health: HealthState, url: String
    ) throws {
        // The replay runs a bounded distance ahead of the daemon (the mock broker keeps only about 5 MB
        // per partition).
        let consumed = SharedCounter()
        let replayed = SharedCounter()
        let replayError = ErrorBox()
        let stopReplay = SharedCounter()  // non-zero: the daemon is done, stop replaying
        let replayDone = DispatchSemaphore(value: 0)
        let rows = data.count
        let dimension = data.dimension
        let embeddings = data.embeddings
        let labels = data.labels
        let names = data.classNames
        let (format, labelFraction, topic, bootstrap) = (self.format, self.labelFraction, config.inputTopic, config.bootstrapServers)
        let replayer = Thread {
            defer { replayDone.signal() }
            do {
                let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: bootstrap, ["linger.ms": "2"]))
                let stop = StopCondition.stop(when: { stopReplay.value > 0 })
                var random = SplitMix64(seed: 1)
                for row in 0..<rows {
                    while row - consumed.value > 200 {
                        if stopReplay.value > 0 { return }
                        usleep(1000)
                    }
                    let keep = Double(random.next() >> 11) / Double(1 << 53) < labelFraction
                    let embedding = embeddings[(row * dimension)..<((row + 1) * dimension)]
                    let id = "fashion-\(row)"
                    let label = names[labels[row]]
                    if format == "json" {
                        var text = "{\"id\":\"\(id)\",\"embedding\":["
                        text += embedding.map { "\($0)" }.joined(separator: ",")
                        text += "]" + (keep ? ",\"label\":\"\(label)\"" : "") + "}"
                        try Array(text.utf8).withUnsafeBytes { try producer.sendWaiting(topic: topic, key: id, value: $0, until: stop) }
                    } else {
                        var headers: [(String, [UInt8])] = [("content-type", Array(EventDecoder.binaryContentType.utf8)), ("id", Array(id.utf8))]
                        if keep { headers.append(("label", Array(label.utf8))) }
                        try Array(embedding).withUnsafeBytes {
                            try producer.sendWaiting(topic: topic, key: id, value: $0, headers: headers, until: stop)
                        }
                    }
                    producer.poll()
                    replayed.add(1)
                }
                let remaining = try producer.flush(until: StopCondition(deadline: .now + .seconds(10), shouldStop: { stopReplay.value > 0 }))
                if remaining > 0 { throw KafkaError(.timedOut, "\(remaining) events still in flight after 10 s") }
                if producer.failedCount > 0 {
                    throw KafkaError("\(producer.failedCount) events not delivered: \(producer.lastDeliveryError ?? "?")")
                }
            } catch let error as KafkaError where error.code == .stopped {
                // The daemon stopped first (it failed): its error is the one to report.
            } catch {
                replayError.set("\(error)")
                replayed.add(rows)
            }
        }
        let start = Date()
        replayer.start()
        defer {
            stopReplay.add(1)
            replayDone.wait()
        }

        // The daemon, on the same stream.
        let loop = try AdaptationLoop(configuration: config, logger: Logger(label: "streamadapt"), health: health)
        loop.dashboard = feed
        var index = 0
        var correct = [0, 0]
        var total = [0, 0]
        loop.observer = { result in
            let segment = index < shift ? 0 : 1
            total[segment] += 1
            if result.index == labels[index] { correct[segment] += 1 }
            index += 1
            consumed.add(1)
            if index % 50 == 0 || index == rows {
                progress("replayed \(min(rows, replayed.value))/\(rows), adapted", index, rows)
            }
        }
        try loop.run(maximumEvents: rows) { replayError.value != nil }
        let elapsed = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data("\n".utf8))
        if let error = replayError.value { throw ValidationError("replaying the sample failed: \(error)") }

        print("")
        print("summary (\(loop.model.head.name) head, \(format) input)")
        print("  events: \(loop.handled) consumed, \(index) predicted and published")
        print(String(format: "  prequential accuracy: %.3f before the shift (events 0..%d), %.3f after it", Double(correct[0]) / Double(max(1, total[0])), shift - 1, Double(correct[1]) / Double(max(1, total[1]))))
        if loop.model.alerts.isEmpty { print("  alerts: none") }
        for alert in loop.model.alerts {
            let cleared = alert.clearedAt.map { "cleared at event \($0)" + (alert.clearReason.map { " (\($0.rawValue))" } ?? "") } ?? "still active"
            print("  alert \(alert.kind.rawValue): raised at event \(alert.raisedAt) (\(alert.raisedAt - shift >= 0 ? "\(alert.raisedAt - shift) events after the shift" : "before the shift")), \(cleared)")
        }
        print(String(format: "  throughput: %.0f events/s end to end through Kafka, replay included (%.2f s)", Double(loop.handled) / elapsed, elapsed))
        guard dashboard else { return }
        // The daemon goes on (idle: the sample is replayed) and the page stays up until Ctrl-C.
        print("")
        print("the daemon and its live page stay up at \(url) (predictions on \(config.predictionsTopic) at \(config.bootstrapServers)); Ctrl-C to stop")
        fflush(nil)
        loop.observer = nil  // the sample is done: later events (anyone may produce now) are not its rows
        signal(SIGINT, SIG_IGN)
        let interrupted = SharedCounter()
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            interrupted.add(1)
            health.requestStop()  // waits that watch the health state end too
            signal(SIGINT, SIG_DFL)  // a second Ctrl-C ends the process at once
        }
        source.resume()
        defer { source.cancel() }
        try loop.run { interrupted.value > 0 }
        print("stopped")
    }

    /// The live page's server (with /metrics): on --dashboard-port, or any free port when it is taken.
    private func startServer(registry: PrometheusCollectorRegistry, feed: DashboardFeed, health: HealthState) async throws -> MetricsServer {
        do {
            return try await MetricsServer(host: "127.0.0.1", port: dashboardPort, registry: registry, health: health, dashboard: feed)
        } catch let error as MetricsServerError where error.code == .addressInUse && dashboardPort != 0 {
            FileHandle.standardError.write(Data("port \(dashboardPort) is taken: the dashboard takes a free port\n".utf8))
            return try await MetricsServer(host: "127.0.0.1", port: 0, registry: registry, health: health, dashboard: feed)
        }
    }
}

/// Runs blocking work on a thread of its own (16 MiB stack, as the daemon's loop) and waits for it
/// without holding a thread of the cooperative pool.
func onThread(_ work: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let thread = Thread {
            do {
                try work()
                continuation.resume()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.stackSize = 16 << 20
        thread.start()
    }
}

private func progress(_ label: String, _ done: Int, _ total: Int) {
    let width = 30
    let filled = total == 0 ? width : done * width / total
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
}

/// A counter shared by a replay thread and the daemon loop.
final class SharedCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ n: Int) { count.add(n, ordering: .relaxed) }
}

/// The replay thread's error, if any.
final class ErrorBox: Sendable {
    private let message = Mutex<String?>(nil)
    var value: String? { message.withLock { $0 } }
    func set(_ text: String) { message.withLock { $0 = text } }
}
