import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import StreamAdaptCore
import StreamAdaptKafka
import Testing

@testable import StreamAdaptDaemon

/// The endpoints and the service lifecycle in process: readiness, a metrics port that cannot be bound,
/// the order services stop in, and cancellation reaching the loop's thread.
@Suite(.serialized) struct LifecycleTests {
    let logger = Logger(label: "test")

    @Test func readinessAndHealthFollowTheHealthState() async throws {
        let health = HealthState()
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "test_counter", unitName: "total", helpText: "")).increment(by: Int64(3))
        let server = try await MetricsServer(host: "127.0.0.1", port: 0, registry: registry, health: health)
        defer { Task { await server.shutdown() } }
        let port = server.port
        #expect(port > 0)
        #expect(httpGet(port: port, "/readyz")?.status == 503)  // before the loop is ready
        #expect(httpGet(port: port, "/readyz")?.body == "not ready\n")
        #expect(httpGet(port: port, "/healthz")?.status == 200)
        health.setReady(true)
        #expect(httpGet(port: port, "/readyz")?.status == 200)
        #expect(httpGet(port: port, "/readyz")?.body == "ready\n")
        health.requestStop()
        #expect(httpGet(port: port, "/readyz")?.status == 503)  // stopping
        #expect(httpGet(port: port, "/healthz")?.status == 200)
        let metrics = try #require(httpGet(port: port, "/metrics?x=1"))
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("test_counter_total 3"))
        #expect(httpGet(port: port, "/nothing")?.status == 404)
    }

    @Test func readinessDuringARunAndItsFinalCheckpoint() async throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(20))
        let health = HealthState()
        let server = try await MetricsServer(host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), health: health)
        let port = server.port
        let loop = try fixture.loop(health: health)
        #expect(httpGet(port: port, "/readyz")?.status == 503)  // built, not consuming yet
        var during: [Int] = []
        var atFinalCheckpoint: [Int] = []
        // The stop comes once 5 messages are taken: those are processed and published, no further one
        // is taken.
        func stopAfterFive() -> Bool {
            if loop.taken == 5, during.isEmpty {
                during.append(httpGet(port: port, "/readyz")?.status ?? -1)
                health.requestStop()  // as SIGTERM does
                during.append(httpGet(port: port, "/readyz")?.status ?? -1)
            }
            return health.isStopping
        }
        loop.hooks.beforeCheckpoint = {
            atFinalCheckpoint.append(httpGet(port: port, "/readyz")?.status ?? -1)
            atFinalCheckpoint.append(httpGet(port: port, "/healthz")?.status ?? -1)
        }
        try loop.run(shouldStop: stopAfterFive)
        #expect(during == [200, 503])
        #expect(atFinalCheckpoint == [503, 200])
        #expect(loop.handled == 5)
        #expect(httpGet(port: port, "/readyz")?.status == 503)
        await server.shutdown()
        #expect(httpGet(port: port, "/healthz") == nil)  // nothing listens any more
    }

    @Test func aMetricsPortInUseFailsNamingHostAndPort() async throws {
        let health = HealthState()
        let first = try await MetricsServer(host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), health: health)
        let port = first.port
        await #expect {
            _ = try await MetricsServer(host: "127.0.0.1", port: port, registry: PrometheusCollectorRegistry(), health: health)
        } throws: { error in
            guard let error = error as? MetricsServerError else { return false }
            return error.code == .addressInUse && error.host == "127.0.0.1" && error.port == port
                && error.description == "metrics endpoint cannot listen on 127.0.0.1:\(port) (metrics.host, metrics.port): Address already in use"
        }
        // The first server still answers.
        #expect(httpGet(port: port, "/healthz")?.status == 200)
        await first.shutdown()
        // A host that is not an address of this machine (TEST-NET-1).
        await #expect {
            _ = try await MetricsServer(host: "192.0.2.1", port: 9464, registry: PrometheusCollectorRegistry(), health: health)
        } throws: { error in
            guard let error = error as? MetricsServerError else { return false }
            return error.code == .cannotListen && error.description.contains("cannot listen on 192.0.2.1:9464")
        }
    }

    /// A loop in a DaemonService whose hooks tell the test what happens on the loop's thread.
    struct Probe: Sendable {
        let handled: AsyncStream<Void>
        let handledContinuation: AsyncStream<Void>.Continuation
        /// What the endpoints answered at the loop's final checkpoint.
        let atFinalCheckpoint = Shared<[String]>([])
        let checkpoints = Shared<Int>(0)

        init() { (handled, handledContinuation) = AsyncStream<Void>.makeStream() }

        func service(_ fixture: LoopFixture, health: HealthState, metricsPort: Int?) -> DaemonService {
            let configuration = fixture.configuration
            let (continuation, atFinalCheckpoint, checkpoints) = (handledContinuation, atFinalCheckpoint, checkpoints)
            return DaemonService(health: health, logger: Logger(label: "test"), maximumEvents: nil, untilCaughtUp: false) {
                let loop = try AdaptationLoop(configuration: configuration, logger: Logger(label: "test"), health: health)
                loop.hooks.handled = { _, _ in continuation.yield() }
                loop.hooks.beforeCheckpoint = {
                    if let port = metricsPort {
                        let answers = ["/healthz", "/readyz", "/metrics"].map { "\($0) \(httpGet(port: port, $0)?.status ?? -1)" }
                        atFinalCheckpoint.update { $0 += answers }
                    }
                    checkpoints.update { $0 += 1 }
                }
                return loop
            }
        }

        /// Waits until the loop has handled `count` messages.
        func waitForHandled(_ count: Int) async {
            var seen = 0
            for await _ in handled {
                seen += 1
                if seen == count { return }
            }
        }
    }

    /// Runs `body`; if it has not finished `seconds` later, requests a stop on `health` so that a loop
    /// that missed its stop cannot hang the test, and reports that it had to.
    func withWatchdog(_ health: HealthState, seconds: Int = 60, _ body: () async throws -> Void) async throws {
        let fired = Shared(false)
        let watchdog = Task {
            try await Task.sleep(for: .seconds(seconds))
            fired.update { $0 = true }
            health.requestStop()
        }
        defer { watchdog.cancel() }
        try await body()
        #expect(!fired.get(), "the loop did not stop by itself: the watchdog stopped it")
    }

    @Test func endpointsOutliveTheLoopsFinalCheckpointOnGracefulShutdown() async throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(20))
        let health = HealthState()
        let server = try await MetricsServer(host: "127.0.0.1", port: 0, registry: PrometheusCollectorRegistry(), health: health)
        let port = server.port
        let probe = Probe()
        let services = DaemonService.services(
            daemon: probe.service(fixture, health: health, metricsPort: port),
            metrics: MetricsService(server: server, host: "127.0.0.1", logger: logger))
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        try await withWatchdog(health) {
            async let running: Void = group.run()
            await probe.waitForHandled(20)
            await group.triggerGracefulShutdown()  // what SIGTERM does
            try await running
        }
        // The daemon stopped first: at its final checkpoint, health and metrics still answered.
        #expect(probe.atFinalCheckpoint.get() == ["/healthz 200", "/readyz 503", "/metrics 200"])
        #expect(probe.checkpoints.get() == 1)
        #expect(try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration).offsets == [0: 20])
        // Then the metrics service stopped.
        #expect(httpGet(port: port, "/healthz") == nil)
    }

    struct Failure: Error {}

    /// A service that fails once the loop has handled a message (as a metrics service whose server dies).
    struct FailingService: Service {
        let probe: Probe
        func run() async throws {
            await probe.waitForHandled(1)
            throw Failure()
        }
    }

    @Test func aFailingServiceCancelsTheGroupAndTheLoopStops() async throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(20))
        let health = HealthState()
        let probe = Probe()
        let services = [ServiceGroupConfiguration.ServiceConfiguration(service: FailingService(probe: probe))]
            + DaemonService.services(daemon: probe.service(fixture, health: health, metricsPort: nil), metrics: nil)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        try await withWatchdog(health) {
            await #expect(throws: Failure.self) { try await group.run() }
        }
        // Cancellation reached the loop: it stopped and wrote its final checkpoint.
        #expect(health.isStopping)
        #expect(probe.checkpoints.get() == 1)
        let stored = try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration)
        #expect(stored.offsets[0] == Int64(stored.events))
        #expect(stored.events >= 1)
    }

    @Test func cancellingTheServiceTaskStopsTheLoop() async throws {
        let fixture = try LoopFixture()
        try fixture.produceJSON(SyntheticStream.events(5))
        let health = HealthState()
        let probe = Probe()
        let service = probe.service(fixture, health: health, metricsPort: nil)
        try await withWatchdog(health) {
            let task = Task { try await service.run() }
            await probe.waitForHandled(5)
            task.cancel()
            try await task.value
        }
        #expect(health.isStopping)
        #expect(try storedOffsets(try #require(fixture.storedCheckpointBytes()), configuration: fixture.configuration).offsets == [0: 5])
    }
}
