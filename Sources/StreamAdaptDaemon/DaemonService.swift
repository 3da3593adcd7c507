import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// `streamadapt run` as a service: the adaptation loop on its own thread (librdkafka's calls block),
/// stopped gracefully on SIGTERM/SIGINT through swift-service-lifecycle: the loop stops consuming,
/// finishes the event in hand, flushes the producer, writes a checkpoint and returns.
public struct DaemonService: Service {
    public let configuration: PipelineConfiguration
    public let logger: Logger
    public let health: HealthState
    public let fresh: Bool
    public let maximumEvents: Int?
    public let untilCaughtUp: Bool

    public init(
        configuration: PipelineConfiguration, logger: Logger, health: HealthState, fresh: Bool, maximumEvents: Int?,
        untilCaughtUp: Bool = false
    ) {
        self.untilCaughtUp = untilCaughtUp
        self.configuration = configuration
        self.logger = logger
        self.health = health
        self.fresh = fresh
        self.maximumEvents = maximumEvents
    }

    public func run() async throws {
        let (configuration, logger, health, fresh, maximumEvents, untilCaughtUp) =
            (self.configuration, self.logger, self.health, self.fresh, self.maximumEvents, self.untilCaughtUp)
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        let loop = try AdaptationLoop(configuration: configuration, logger: logger, health: health, fresh: fresh)
                        try loop.run(maximumEvents: maximumEvents, untilCaughtUp: untilCaughtUp) { health.isStopping }
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "streamadapt-loop"
                thread.stackSize = 16 << 20
                thread.start()
            }
        } onGracefulShutdown: {
            health.requestStop()
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` until graceful shutdown.
public struct MetricsService: Service {
    public let host: String
    public let port: Int
    public let registry: PrometheusCollectorRegistry
    public let health: HealthState
    public let logger: Logger

    public init(host: String, port: Int, registry: PrometheusCollectorRegistry, health: HealthState, logger: Logger) {
        self.host = host
        self.port = port
        self.registry = registry
        self.health = health
        self.logger = logger
    }

    public func run() async throws {
        let server = try await MetricsServer(host: host, port: port, registry: registry, health: health)
        logger.info("metrics endpoint", metadata: ["url": "http://\(host):\(server.port)/metrics"])
        try? await gracefulShutdown()
        await server.shutdown()
    }
}
