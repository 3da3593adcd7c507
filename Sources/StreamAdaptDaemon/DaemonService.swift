import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// `streamadapt run` as a service: the adaptation loop on its own thread (librdkafka's calls block).
/// Graceful shutdown (SIGTERM/SIGINT through swift-service-lifecycle) and task cancellation (the group
/// cancels its services when one fails) both request a stop: the loop finishes the message in hand,
/// leaves the rest of its poll batch unconsumed, flushes the producer, writes a checkpoint and returns.
public struct DaemonService: Service {
    public let health: HealthState
    public let logger: Logger
    /// Builds the loop on the loop's thread (it connects to Kafka and restores the checkpoint).
    let makeLoop: @Sendable () throws -> AdaptationLoop
    let maximumEvents: Int?
    let untilCaughtUp: Bool

    /// - Parameter dashboard: where the loop publishes the live page's document (`/api/state`).
    public init(
        configuration: PipelineConfiguration, logger: Logger, health: HealthState, fresh: Bool, maximumEvents: Int?,
        untilCaughtUp: Bool = false, dashboard: DashboardFeed? = nil
    ) {
        self.init(health: health, logger: logger, maximumEvents: maximumEvents, untilCaughtUp: untilCaughtUp) {
            let loop = try AdaptationLoop(configuration: configuration, logger: logger, health: health, fresh: fresh)
            loop.dashboard = dashboard
            return loop
        }
    }

    /// A service around a loop built by `makeLoop` (tests set hooks on it there).
    init(
        health: HealthState, logger: Logger, maximumEvents: Int?, untilCaughtUp: Bool,
        makeLoop: @escaping @Sendable () throws -> AdaptationLoop
    ) {
        self.health = health
        self.logger = logger
        self.maximumEvents = maximumEvents
        self.untilCaughtUp = untilCaughtUp
        self.makeLoop = makeLoop
    }

    public func run() async throws {
        let (makeLoop, health, maximumEvents, untilCaughtUp) = (self.makeLoop, self.health, self.maximumEvents, self.untilCaughtUp)
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        let loop = try makeLoop()
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
        } onCancelOrGracefulShutdown: {
            health.requestStop()
        }
    }
}

extension DaemonService {
    /// The services of `streamadapt run` in start order: the metrics endpoint (when there is one) first,
    /// the daemon last. A group shuts its services down in reverse order, waiting for each, so /metrics,
    /// /healthz and /readyz answer until the loop's final flush and checkpoint are done. The daemon
    /// returning (`--max-events`, `--until-caught-up`) or failing shuts the group down gracefully (the
    /// error is rethrown by the group).
    public static func services(daemon: DaemonService, metrics: MetricsService?) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        (metrics.map { [.init(service: $0)] } ?? []) + [
            .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        ]
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` from a server bound before the group starts (so a port in
/// use stops the start), until graceful shutdown or cancellation. Put it before ``DaemonService`` in the
/// group: services shut down in reverse order, so the endpoints outlive the loop's final checkpoint.
public struct MetricsService: Service {
    public let server: MetricsServer
    public let host: String
    public let logger: Logger

    public init(server: MetricsServer, host: String, logger: Logger) {
        self.server = server
        self.host = host
        self.logger = logger
    }

    public func run() async throws {
        logger.info(
            "metrics endpoint and live page",
            metadata: ["url": "http://\(host):\(server.port)/metrics", "dashboard": "http://\(host):\(server.port)/"])
        try? await gracefulShutdown()
        await server.shutdown()
    }
}
