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
            in hand, flush, checkpoint, exit 0).
            """
    )

    @Option(help: "The pipeline file (YAML).")
    var pipeline: String

    @Option(help: "Kafka bootstrap servers (host:port[,host:port]).")
    var bootstrap: String?

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

    func run() async throws {
        BLAS.setThreads(1)
        let level = try parseLogLevel(logLevel)
        bootstrapLogging(level: level)
        let logger = Logger(label: "streamadapt")
        var config: PipelineConfiguration
        do {
            config = try PipelineConfiguration.load(path: pipeline)
            try config.applyEnvironment(ProcessInfo.processInfo.environment)
            if let bootstrap { config.bootstrapServers = bootstrap }
            if let checkpointDir { config.checkpointDirectory = checkpointDir }
            if let metricsPort { config.metricsPort = metricsPort }
            try config.validate()
        } catch {
            throw ValidationError("\(pipeline): \(error)")
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let health = HealthState()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: DaemonService(configuration: config, logger: logger, health: health, fresh: fresh, maximumEvents: maxEvents, untilCaughtUp: untilCaughtUp),
                  successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
        if config.metricsPort > 0 {
            services.append(.init(service: MetricsService(
                host: config.metricsHost, port: config.metricsPort, registry: registry, health: health, logger: logger)))
        }
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
