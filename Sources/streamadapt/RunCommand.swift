import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import StreamAdaptCore
import StreamAdaptDaemon

/// `streamadapt run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume embeddings from Kafka, adapt per sample, publish predictions and drift alerts.",
        discussion: """
            Settings come from the pipeline file, then STREAMADAPT_BOOTSTRAP, STREAMADAPT_CHECKPOINT_DIR and \
            STREAMADAPT_METRICS_PORT, then these flags. SIGTERM or SIGINT stop it gracefully (finish the event \
            in hand, leave the rest of the fetched batch for the next start, flush, checkpoint, exit 0).
            """
    )

    @Option(help: "The pipeline file (YAML).")
    var pipeline: String

    @Option(help: "Kafka bootstrap servers (host:port[,host:port]).")
    var bootstrap: String?

    @Option(help: "Join this Kafka consumer group (several daemons share the input's partitions; docs/scale-out.md).")
    var group: String?

    @Option(help: "Checkpoint directory.")
    var checkpointDir: String?

    @Option(help: "Port of /metrics, /healthz, /readyz (0 disables).")
    var metricsPort: Int?

    @Flag(help: "Set a refused (corrupt or incompatible) checkpoint aside and start from scratch.")
    var fresh = false

    @Option(help: "Stop after this many input messages (for batch jobs and tests).")
    var maxEvents: Int?

    @Flag(help: "Stop once every input partition has been read to its end (a batch job).")
    var untilCaughtUp = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    /// Checks the flags and the pipeline (file, environment, flags) before anything starts, so that a
    /// mistake prints `run`'s usage with the setting named.
    func validate() throws {
        _ = try parseLogLevel(logLevel)
        _ = try configuration()
        if let maxEvents, maxEvents < 1 { throw ValidationError("--max-events must be at least 1") }
    }

    /// The pipeline file, then the environment, then the flags.
    func configuration() throws -> PipelineConfiguration {
        do {
            var config = try PipelineConfiguration.load(path: pipeline)
            try config.applyEnvironment(ProcessInfo.processInfo.environment)
            if let bootstrap { config.bootstrapServers = bootstrap }
            if let checkpointDir { config.checkpointDirectory = checkpointDir }
            if let group { config.joinGroup(group) }
            if let metricsPort { config.metricsPort = metricsPort }
            try config.validate()
            return config
        } catch {
            throw ValidationError("\(pipeline): \(error)")
        }
    }

    func run() async throws {
        BLAS.setThreads(1)
        bootstrapLogging(level: try parseLogLevel(logLevel))
        let logger = Logger(label: "streamadapt")
        let config = try configuration()
        // Start-up checks, before any service runs: each stops the start with a non-zero exit and a
        // message naming what is wrong (the loop checks the checkpoint folder again when it starts).
        if let directory = config.checkpointDirectory { try CheckpointStore(directory: directory).prepare() }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let health = HealthState()
        var metrics: MetricsService?
        var dashboard: DashboardFeed?
        if config.metricsPort > 0 {
            // Bound here, before any service starts: a port in use or a host that cannot be bound stops
            // the start (non-zero exit, the error names host:port). The live page is served there too.
            dashboard = DashboardFeed()
            let server = try await MetricsServer(
                host: config.metricsHost, port: config.metricsPort, registry: registry, health: health, dashboard: dashboard)
            metrics = MetricsService(server: server, host: config.metricsHost, logger: logger)
        }
        let daemon = DaemonService(
            configuration: config, logger: logger, health: health, fresh: fresh, maximumEvents: maxEvents,
            untilCaughtUp: untilCaughtUp, dashboard: dashboard)
        let services = DaemonService.services(daemon: daemon, metrics: metrics)
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

func parseLogLevel(_ text: String) throws -> Logger.Level {
    guard let level = Logger.Level(rawValue: text) else {
        throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map { $0.rawValue }.joined(separator: ", "))")
    }
    return level
}

/// Sends swift-log output to standard error at `level` (once per process).
func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
